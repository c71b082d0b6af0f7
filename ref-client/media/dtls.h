/* DTLS 1.2 of one call leg (RFC 5763/5764): the certificate of the call,
 * its SHA-256 fingerprint and the handshake that agrees on SRTP keys.
 *
 * OpenSSL reads from a memory BIO the engine fills with each datagram
 * that came in, and writes through a BIO whose every write is handed to
 * the `send` callback as one datagram, so the DTLS layer never touches a
 * socket or a clock of its own: the caller asks for the retransmission
 * timeout and calls back when it expires. */
#ifndef PARLEY_MEDIA_DTLS_H
#define PARLEY_MEDIA_DTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "srtp.h"

/* "AB:CD:..." for 32 octets, plus the NUL. */
#define MDTLS_FP_LEN (32 * 3)

typedef struct mdtls_cert mdtls_cert;
typedef struct mdtls mdtls;

typedef void (*mdtls_send_fn)(void *ud, const uint8_t *buf, size_t len);

typedef enum mdtls_state {
  MDTLS_HANDSHAKING = 0, /* waiting for the peer */
  MDTLS_DONE,            /* the handshake just completed */
  MDTLS_OPEN,            /* completed earlier; nothing new */
  MDTLS_CLOSED,          /* the peer sent close_notify */
  MDTLS_ERROR            /* fatal; the message says why */
} mdtls_state;

/* A self-signed EC P-256 certificate valid for one day, and its key.
 * Returns NULL with a message on failure. */
mdtls_cert *mdtls_cert_new(char *err, size_t cap);
void mdtls_cert_free(mdtls_cert *c);
/* SHA-256 fingerprint as upper-case hex pairs joined by ':'. */
const char *mdtls_cert_fingerprint(const mdtls_cert *c);

/* True when `fp` is 32 hex pairs (either case) joined by ':'. */
bool mdtls_fingerprint_valid(const char *fp);
/* Compares two fingerprints ignoring the case of the hex digits. */
bool mdtls_fingerprint_equal(const char *a, const char *b);

/* A DTLS endpoint using `cert` (borrowed; it must outlive the endpoint)
 * as client or server, offering only SRTP_AES128_CM_SHA1_80. The peer's
 * self-signed certificate is accepted here; the caller compares its
 * fingerprint once the handshake is done. */
mdtls *mdtls_new(const mdtls_cert *cert, bool is_client, mdtls_send_fn send,
                 void *ud, char *err, size_t cap);
void mdtls_free(mdtls *d);

/* Starts the handshake (a client sends its ClientHello). */
mdtls_state mdtls_start(mdtls *d, char *err, size_t cap);
/* Feeds one received DTLS datagram. */
mdtls_state mdtls_on_datagram(mdtls *d, const uint8_t *buf, size_t len,
                              char *err, size_t cap);
/* The retransmission timer: returns true and sets *ms (time left) when
 * one runs. */
bool mdtls_timeout_ms(mdtls *d, uint32_t *ms);
/* Called when that time has passed: retransmits if due. */
mdtls_state mdtls_on_timeout(mdtls *d, char *err, size_t cap);
/* How many times a timeout sent a flight again. */
unsigned mdtls_retransmits(const mdtls *d);
/* The retransmission schedule: the timeout after one of prev_ms (0: the
 * first), 100 ms doubling up to 1600 ms. */
uint32_t mdtls_rtx_next_ms(uint32_t prev_ms);

/* After MDTLS_DONE: the peer certificate's SHA-256 fingerprint. Returns 0
 * or -1 (no certificate). */
int mdtls_peer_fingerprint(mdtls *d, char out[MDTLS_FP_LEN]);
/* After MDTLS_DONE: checks the negotiated SRTP profile and exports the
 * keying material (RFC 5764 4.2). Returns 0 or -1 with a message. */
int mdtls_export_srtp(mdtls *d, uint8_t out[MSRTP_MATERIAL_LEN], char *err,
                      size_t cap);
/* Sends close_notify (once); the endpoint reads nothing more. */
void mdtls_close(mdtls *d);

#endif
