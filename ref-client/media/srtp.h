/* SRTP of one call leg (RFC 3711 with the DTLS-SRTP keys of RFC 5764).
 *
 * Two libsrtp2 sessions: one protects what this side sends (any outbound
 * SSRC), one checks what it receives (any inbound SSRC). Packets that fail
 * the check (bad tag, replay) are counted and never handed on. Pure: no
 * clock, no socket, no GLib, so the tests drive it with fixed keys. */
#ifndef PARLEY_MEDIA_SRTP_H
#define PARLEY_MEDIA_SRTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SRTP_AES128_CM_SHA1_80: 16-octet master key, 14-octet master salt. */
#define MSRTP_KEY_LEN 16
#define MSRTP_SALT_LEN 14
#define MSRTP_MATERIAL_LEN (2 * (MSRTP_KEY_LEN + MSRTP_SALT_LEN))
/* Room protect needs after a packet (the auth tag, at most). */
#define MSRTP_TRAILER_MAX 16

typedef struct msrtp msrtp;

typedef struct msrtp_counts {
  uint64_t protected_rtp, protected_rtcp;
  uint64_t unprotected_rtp, unprotected_rtcp;
  uint64_t auth_fail, replay, other_fail;
} msrtp_counts;

typedef enum msrtp_result {
  MSRTP_OK = 0,
  MSRTP_AUTH_FAIL,   /* tag did not verify: tampered or wrong keys */
  MSRTP_REPLAY,      /* seen before, or older than the replay window */
  MSRTP_FAIL         /* anything else (too short, bad header...) */
} msrtp_result;

/* Calls srtp_init once per process (safe from any thread). Returns 0 or
 * -1 with a message. */
int msrtp_global_init(char *err, size_t cap);

/* Creates both sessions from the exporter output `material` (client key,
 * server key, client salt, server salt; RFC 5764 section 4.2). The DTLS
 * client sends with the client key and receives with the server key; the
 * server the other way round. Returns NULL with a message on failure. */
msrtp *msrtp_new(const uint8_t material[MSRTP_MATERIAL_LEN], bool is_client,
                 char *err, size_t cap);
void msrtp_free(msrtp *s);

/* Protects the RTP or RTCP packet in buf[0..*len) in place; buf must have
 * MSRTP_TRAILER_MAX octets of room after it. RTCP is told from RTP by its
 * packet type (RFC 5761 section 4: 192..223). *len grows. */
msrtp_result msrtp_protect(msrtp *s, uint8_t *buf, size_t *len);

/* Checks and decrypts an SRTP or SRTCP packet in place; *len shrinks.
 * Failures are counted by kind. */
msrtp_result msrtp_unprotect(msrtp *s, uint8_t *buf, size_t *len);

/* True for an RTCP packet of a muxed stream (second octet 192..223). */
bool msrtp_is_rtcp(const uint8_t *buf, size_t len);

void msrtp_get_counts(const msrtp *s, msrtp_counts *out);

#endif
