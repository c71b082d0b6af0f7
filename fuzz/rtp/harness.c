/* Fuzz harness: RTP packets (RFC 3550 5.1, libparley/rtp.c) and the
 * receiver's sequence and jitter state (RFC 3550 A.1, A.8).
 *
 * The input is one packet as it comes off a muxed port. Oracles: the
 * demultiplexer calls RTP what the parser accepts as RTP or refuses for
 * a reason past the version; an accepted packet's payload and padding lie
 * inside it; written back (the writer drops the extension), it parses to
 * the same header and payload. The payload's octet pairs then drive a
 * source's sequence state and jitter estimate as the sequence numbers of
 * later packets (no numeric oracle there: RFC 3550 A.1 lets a source
 * re-synchronise, which restarts its counters; the sanitizers watch the
 * arithmetic). Any disagreement aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "parley/rtp.h"

static void check_rewrite(const uint8_t *pkt, const parley_rtp_header *h)
{
  static uint8_t out[70000];
  parley_rtp_header w = *h, again;

  if (w.padding_len > 255)
    return;
  size_t n = parley_rtp_write(&w, pkt + h->payload_off, h->payload_len, out,
                              sizeof out);
  check(n > 0);
  check(parley_rtp_parse(out, n, &again) == PARLEY_RTP_OK);
  check(again.marker == h->marker && again.pt == h->pt &&
        again.seq == h->seq && again.ts == h->ts && again.ssrc == h->ssrc);
  check(again.csrc_count == h->csrc_count &&
        memcmp(again.csrc, h->csrc, h->csrc_count * sizeof h->csrc[0]) == 0);
  check(!again.extension && again.padding_len == h->padding_len);
  check(again.payload_len == h->payload_len &&
        memcmp(out + again.payload_off, pkt + h->payload_off,
               h->payload_len) == 0);
}

/* Later packets' sequence numbers, two octets each, through a source. */
static void drive_source(const parley_rtp_header *h, const uint8_t *p,
                         size_t n)
{
  parley_rtp_source s;
  uint32_t arrival = 0, ts = h->ts;

  parley_rtp_source_init(&s, h->seq, p[0] % 4);
  for (size_t i = 0; i + 1 < n; i += 2) {
    uint16_t seq = (uint16_t)(p[i] << 8 | p[i + 1]);
    bool valid = parley_rtp_source_update(&s, seq);
    arrival += 160 + p[i] % 32;
    ts += 160;
    if (valid)
      parley_rtp_jitter_update(&s, arrival, ts);
    (void)parley_rtp_source_ext_max(&s);
    (void)parley_rtp_source_extend(&s, seq);
    (void)parley_rtp_source_expected(&s);
    (void)parley_rtp_source_lost(&s);
    (void)parley_rtp_source_fraction(&s);
    (void)parley_rtp_jitter(&s);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  parley_rtp_header h;
  parley_rtp_kind kind = parley_rtp_demux(data, size);
  parley_rtp_status st;

  memset(&h, 0, sizeof h);
  st = parley_rtp_parse(data, size, &h);
  check(parley_rtp_status_text(st) != NULL);
  if (st != PARLEY_RTP_OK) {
    check(st != PARLEY_RTP_BAD_TYPE && st != PARLEY_RTP_BAD_SDES);
    return 0;
  }
  check(kind != PARLEY_PKT_OTHER);
  check(h.payload_off <= size && h.payload_len <= size - h.payload_off);
  check(h.payload_off + h.payload_len + h.padding_len == size);
  check(h.csrc_count <= PARLEY_RTP_CSRC_MAX && h.pt <= 127);
  if (kind == PARLEY_PKT_RTP)
    check_rewrite(data, &h);
  if (h.payload_len > 0)
    drive_source(&h, data + h.payload_off, h.payload_len);
  return 0;
}
