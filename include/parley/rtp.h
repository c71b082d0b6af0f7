/* RTP and RTCP (RFC 3550) as the call media path uses them: the fixed
 * RTP header with CSRCs, a header extension (skipped) and padding; RTCP
 * compound packets with SR, RR, SDES CNAME and BYE; RFC 5761
 * demultiplexing of RTP and RTCP on one port; the receiver's extended
 * sequence number (RFC 3550 A.1), interarrival jitter (A.8) and round
 * trip time from LSR/DLSR (6.4.1).
 *
 * Parsers contract: they read at most len octets of their input, keep no
 * pointer into it beyond what the result documents, and check every
 * field against the packet length before using it. Nothing here reads a
 * clock: times come in as arguments. */
#ifndef PARLEY_RTP_H
#define PARLEY_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PARLEY_RTP_VERSION 2
#define PARLEY_RTP_HEADER_MIN 12
#define PARLEY_RTP_CSRC_MAX 15
#define PARLEY_RTCP_BLOCK_MAX 31
#define PARLEY_RTCP_CNAME_MAX 255

/* RTCP packet types (RFC 3550 12.1). */
enum {
  PARLEY_RTCP_SR = 200,
  PARLEY_RTCP_RR = 201,
  PARLEY_RTCP_SDES = 202,
  PARLEY_RTCP_BYE = 203,
  PARLEY_RTCP_APP = 204
};

typedef enum parley_rtp_status {
  PARLEY_RTP_OK = 0,
  PARLEY_RTP_TRUNCATED,    /* a field or length runs past the packet */
  PARLEY_RTP_BAD_VERSION,  /* version is not 2 */
  PARLEY_RTP_BAD_PADDING,  /* padding count 0 or past the payload */
  PARLEY_RTP_BAD_LENGTH,   /* RTCP lengths do not add up to the packet */
  PARLEY_RTP_BAD_TYPE,     /* RTCP compound not starting with SR or RR */
  PARLEY_RTP_BAD_SDES      /* an SDES item runs past its chunk */
} parley_rtp_status;

/* A short English description of a status. */
const char *parley_rtp_status_text(parley_rtp_status s);

typedef struct parley_rtp_header {
  bool marker;
  uint8_t pt;                 /* 0-127 */
  uint16_t seq;
  uint32_t ts;
  uint32_t ssrc;
  uint8_t csrc_count;         /* 0-15 */
  uint32_t csrc[PARLEY_RTP_CSRC_MAX];
  bool extension;             /* parse: present (skipped); write: ignored */
  uint16_t ext_profile;
  size_t ext_len;             /* octets of extension data */
  size_t padding_len;         /* parse: octets of padding; write: added */
  size_t payload_off;         /* parse: where the payload starts */
  size_t payload_len;         /* parse: payload octets without padding */
} parley_rtp_header;

/* Parses the RTP packet pkt[0, len) into *h. On PARLEY_RTP_OK the payload
 * is pkt[h->payload_off, h->payload_off + h->payload_len). */
parley_rtp_status parley_rtp_parse(const uint8_t *pkt, size_t len,
                                   parley_rtp_header *h);

/* Writes the header h (no extension; padding_len octets of padding when
 * non-zero, at most 255) and the payload into out. Returns the octets
 * written, or 0 when cap is too small or a field is out of range. */
size_t parley_rtp_write(const parley_rtp_header *h, const uint8_t *payload,
                        size_t payload_len, uint8_t *out, size_t cap);

/* RFC 5761 section 4: what one packet on a muxed port is. */
typedef enum parley_rtp_kind {
  PARLEY_PKT_OTHER = 0,       /* not RTP/RTCP (STUN, DTLS, too short) */
  PARLEY_PKT_RTP,
  PARLEY_PKT_RTCP
} parley_rtp_kind;
parley_rtp_kind parley_rtp_demux(const uint8_t *pkt, size_t len);

typedef struct parley_rtcp_block {    /* a report block, RFC 3550 6.4.1 */
  uint32_t ssrc;
  uint8_t fraction_lost;              /* fixed point, 1/256 */
  int32_t cumulative_lost;            /* 24-bit signed */
  uint32_t ext_highest_seq;
  uint32_t jitter;                    /* timestamp units */
  uint32_t lsr;                       /* middle 32 bits of NTP */
  uint32_t dlsr;                      /* 1/65536 s */
} parley_rtcp_block;

typedef struct parley_rtcp {
  bool has_sr, has_rr;                /* at most one of them on write */
  uint32_t ssrc;                      /* sender of the SR or RR */
  uint64_t ntp;                       /* SR: NTP timestamp, 32.32 */
  uint32_t rtp_ts, packet_count, octet_count; /* SR sender info */
  size_t block_count;
  parley_rtcp_block blocks[PARLEY_RTCP_BLOCK_MAX];
  bool has_cname;
  uint32_t cname_ssrc;
  char cname[PARLEY_RTCP_CNAME_MAX + 1];   /* NUL-terminated */
  bool has_bye;
  size_t bye_count;
  uint32_t bye_ssrc[PARLEY_RTCP_BLOCK_MAX];
  char bye_reason[256];                    /* NUL-terminated, may be "" */
} parley_rtcp;

/* Parses an RTCP compound packet (RFC 3550 6.1, A.2 validity: the first
 * packet is SR or RR, padding only in the last, lengths add up to len).
 * Report blocks of several SR/RR packets are gathered, past 31 dropped;
 * the first CNAME is kept; other packet types and SDES items are
 * skipped. */
parley_rtp_status parley_rtcp_parse(const uint8_t *pkt, size_t len,
                                    parley_rtcp *r);

/* Writes r as a compound packet: SR or RR (with its blocks), then SDES
 * CNAME when has_cname, then BYE when has_bye. Returns the octets written,
 * or 0 when cap is too small or r is not writable (neither SR nor RR). */
size_t parley_rtcp_write(const parley_rtcp *r, uint8_t *out, size_t cap);

/* The receiver's state for one source (RFC 3550 A.1 and A.8). */
typedef struct parley_rtp_source {
  uint16_t max_seq;           /* highest sequence number seen */
  uint32_t cycles;            /* shifted count of wraps (<< 16) */
  uint32_t base_seq;
  uint32_t bad_seq;           /* last 'bad' sequence number + 1 */
  uint32_t probation;         /* packets still needed to be valid */
  uint32_t min_sequential;    /* the probation asked for at init */
  uint32_t received;
  uint32_t expected_prior, received_prior;
  bool have_transit;
  uint32_t transit;           /* last relative transit, timestamp units */
  uint32_t jitter_q4;         /* jitter * 16, timestamp units */
} parley_rtp_source;

/* Starts a source at its first packet's seq; probation is how many
 * sequential packets must follow before it counts (RFC 3550 uses 2). */
void parley_rtp_source_init(parley_rtp_source *s, uint16_t seq,
                            uint32_t probation);

/* Feeds one packet's seq. Returns true when the packet is valid and
 * counted, false while on probation or after a jump (RFC 3550 A.1: two
 * sequential packets after a jump restart the source). */
bool parley_rtp_source_update(parley_rtp_source *s, uint16_t seq);

/* The extended highest sequence number received. */
uint32_t parley_rtp_source_ext_max(const parley_rtp_source *s);

/* The extended sequence number of seq taken as the closest to the
 * highest one seen (a late packet from before a wrap gets the old
 * cycle). */
uint32_t parley_rtp_source_extend(const parley_rtp_source *s, uint16_t seq);

/* Packets expected so far and lost so far (may be negative with
 * duplicates), clamped to the 24-bit signed range of a report block. */
uint32_t parley_rtp_source_expected(const parley_rtp_source *s);
int32_t parley_rtp_source_lost(const parley_rtp_source *s);

/* The fraction lost since the previous call (8-bit fixed point) and the
 * start of a new interval. */
uint8_t parley_rtp_source_fraction(parley_rtp_source *s);

/* The jitter estimator (RFC 3550 A.8): arrival is the arrival time in
 * timestamp units, ts the packet's RTP timestamp. */
void parley_rtp_jitter_update(parley_rtp_source *s, uint32_t arrival,
                              uint32_t ts);

/* The current jitter in timestamp units (as in a report block). */
uint32_t parley_rtp_jitter(const parley_rtp_source *s);

/* The NTP 32.32 format of a microsecond time and its middle 32 bits. */
uint64_t parley_ntp_from_us(uint64_t us);
uint32_t parley_ntp_mid32(uint64_t ntp);

/* The round trip time in 1/65536 s from a report block received at the
 * middle-32 NTP time arrival (RFC 3550 6.4.1: arrival - LSR - DLSR).
 * Returns -1 when LSR is 0 (no SR yet) or the result is negative. */
int64_t parley_rtcp_rtt_q16(uint32_t arrival, uint32_t lsr, uint32_t dlsr);

#endif
