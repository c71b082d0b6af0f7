/* Fuzz harness: RTCP compound packets (RFC 3550 6.1 and A.2, the SR, RR,
 * SDES and BYE packets libparley/rtp.c reads and writes).
 *
 * The input is one compound packet. Oracles: the counts the parser fills
 * stay within their arrays and strings stay terminated; an accepted
 * packet with one SR or RR is written back, and the written packet parses
 * to the same reports, CNAME and BYE. The report-block helpers (RTT) run
 * on every block. Any disagreement aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "parley/rtp.h"

static bool blocks_equal(const parley_rtcp_block *a,
                         const parley_rtcp_block *b)
{
  return a->ssrc == b->ssrc && a->fraction_lost == b->fraction_lost &&
         a->cumulative_lost == b->cumulative_lost &&
         a->ext_highest_seq == b->ext_highest_seq &&
         a->jitter == b->jitter && a->lsr == b->lsr && a->dlsr == b->dlsr;
}

static void check_rewrite(const parley_rtcp *r)
{
  static uint8_t out[8192];
  static parley_rtcp again;

  size_t n = parley_rtcp_write(r, out, sizeof out);
  check(n > 0 && n % 4 == 0);
  memset(&again, 0, sizeof again);
  check(parley_rtcp_parse(out, n, &again) == PARLEY_RTP_OK);
  check(again.has_sr == r->has_sr && again.has_rr == r->has_rr &&
        again.ssrc == r->ssrc && again.block_count == r->block_count);
  if (r->has_sr)
    check(again.ntp == r->ntp && again.rtp_ts == r->rtp_ts &&
          again.packet_count == r->packet_count &&
          again.octet_count == r->octet_count);
  for (size_t i = 0; i < r->block_count; i++)
    check(blocks_equal(&again.blocks[i], &r->blocks[i]));
  check(again.has_cname == r->has_cname);
  if (r->has_cname)
    check(again.cname_ssrc == r->cname_ssrc &&
          strcmp(again.cname, r->cname) == 0);
  check(again.has_bye == r->has_bye);
  if (r->has_bye)
    check(again.bye_count == r->bye_count &&
          memcmp(again.bye_ssrc, r->bye_ssrc,
                 r->bye_count * sizeof r->bye_ssrc[0]) == 0 &&
          strcmp(again.bye_reason, r->bye_reason) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static parley_rtcp r;
  parley_rtp_status st;

  memset(&r, 0, sizeof r);
  st = parley_rtcp_parse(data, size, &r);
  check(parley_rtp_status_text(st) != NULL);
  if (st != PARLEY_RTP_OK)
    return 0;
  check(r.has_sr || r.has_rr);
  check(r.block_count <= PARLEY_RTCP_BLOCK_MAX);
  check(r.bye_count <= PARLEY_RTCP_BLOCK_MAX);
  check(memchr(r.cname, '\0', sizeof r.cname) != NULL);
  check(memchr(r.bye_reason, '\0', sizeof r.bye_reason) != NULL);
  check(parley_rtp_demux(data, size) == PARLEY_PKT_RTCP);
  for (size_t i = 0; i < r.block_count; i++)
    (void)parley_rtcp_rtt_q16(r.blocks[i].lsr + r.blocks[i].dlsr + 1,
                              r.blocks[i].lsr, r.blocks[i].dlsr);
  if (r.has_sr != r.has_rr)
    check_rewrite(&r);
  return 0;
}
