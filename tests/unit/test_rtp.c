/* parley/rtp.h: RTP and RTCP packets, RFC 5761 demultiplexing, extended
 * sequence numbers across the 16-bit wrap (RFC 3550 A.1), the jitter
 * estimator (A.8) against a hand-computed example, RTT from LSR/DLSR.
 * Parsers see every input through the guard page (guard_page.h), cut at
 * every length, so a read past len crashes. */
#include <criterion/criterion.h>
#include <string.h>

#include "guard_page.h"
#include "parley/rtp.h"

TestSuite(rtp, .init = parley_guard_setup, .fini = parley_guard_teardown);

static parley_rtp_status parse_guarded(const uint8_t *pkt, size_t len,
                                       parley_rtp_header *h)
{
  const uint8_t *g = (const uint8_t *)parley_guard_place(pkt, len);
  parley_rtp_status st = parley_rtp_parse(g, len, h);
  parley_guard_scribble(len);
  return st;
}

static parley_rtp_status rtcp_guarded(const uint8_t *pkt, size_t len,
                                      parley_rtcp *r)
{
  const uint8_t *g = (const uint8_t *)parley_guard_place(pkt, len);
  parley_rtp_status st = parley_rtcp_parse(g, len, r);
  parley_guard_scribble(len);
  return st;
}

Test(rtp, write_then_parse)
{
  parley_rtp_header h = {0};
  h.marker = true;
  h.pt = 111;
  h.seq = 65535;
  h.ts = 0xfffffc40u;
  h.ssrc = 0xdeadbeef;
  h.csrc_count = 2;
  h.csrc[0] = 1;
  h.csrc[1] = 0x01020304;
  h.padding_len = 3;
  const uint8_t payload[5] = {9, 8, 7, 6, 5};
  uint8_t pkt[64];
  size_t n = parley_rtp_write(&h, payload, sizeof payload, pkt, sizeof pkt);
  cr_assert_eq(n, 12 + 8 + 5 + 3);
  cr_assert_eq(pkt[0], 0x80 | 0x20 | 2);
  cr_assert_eq(pkt[1], 0x80 | 111);
  cr_assert_eq(pkt[n - 1], 3);

  parley_rtp_header got;
  cr_assert_eq(parse_guarded(pkt, n, &got), PARLEY_RTP_OK);
  cr_assert(got.marker);
  cr_assert_eq(got.pt, 111);
  cr_assert_eq(got.seq, 65535);
  cr_assert_eq(got.ts, 0xfffffc40u);
  cr_assert_eq(got.ssrc, 0xdeadbeef);
  cr_assert_eq(got.csrc_count, 2);
  cr_assert_eq(got.csrc[1], 0x01020304);
  cr_assert_eq(got.payload_off, 20);
  cr_assert_eq(got.payload_len, 5);
  cr_assert_eq(got.padding_len, 3);
  cr_assert_eq(memcmp(pkt + got.payload_off, payload, 5), 0);

  /* Too small a buffer writes nothing. */
  cr_assert_eq(parley_rtp_write(&h, payload, 5, pkt, n - 1), 0);
  h.pt = 128;
  cr_assert_eq(parley_rtp_write(&h, payload, 5, pkt, sizeof pkt), 0);
}

/* A packet with 1 CSRC, a 2-word extension, 4 payload octets and 2
 * padding octets: 12 + 4 + 4 + 8 + 4 + 2 = 34. */
static const uint8_t full[] = {
  0xb1, 0x6f, 0x12, 0x34, 0, 0, 0x03, 0xc0, 0xca, 0xfe, 0xba, 0xbe,
  0, 0, 0, 7,
  0xbe, 0xde, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8,
  0xaa, 0xbb, 0xcc, 0xdd,
  0, 2};

Test(rtp, extension_skipped)
{
  parley_rtp_header h;
  cr_assert_eq(parse_guarded(full, sizeof full, &h), PARLEY_RTP_OK);
  cr_assert(h.extension);
  cr_assert_eq(h.ext_profile, 0xbede);
  cr_assert_eq(h.ext_len, 8);
  cr_assert_eq(h.csrc[0], 7);
  cr_assert_eq(h.payload_off, 28);
  cr_assert_eq(h.payload_len, 4);
  cr_assert_eq(h.padding_len, 2);
}

Test(rtp, truncated_at_every_offset)
{
  parley_rtp_header h;
  for (size_t len = 0; len < sizeof full; len++) {
    parley_rtp_status st = parse_guarded(full, len, &h);
    if (len < 28)
      cr_assert_eq(st, PARLEY_RTP_TRUNCATED, "len %zu", len);
    else if (st == PARLEY_RTP_OK)   /* a cut payload may look padded */
      cr_assert_leq(h.payload_off + h.payload_len + h.padding_len, len);
  }
}

Test(rtp, bad_version_and_padding)
{
  uint8_t pkt[sizeof full];
  parley_rtp_header h;
  memcpy(pkt, full, sizeof pkt);
  pkt[0] = (uint8_t)((pkt[0] & 0x3f) | 0x40);
  cr_assert_eq(parse_guarded(pkt, sizeof pkt, &h), PARLEY_RTP_BAD_VERSION);

  memcpy(pkt, full, sizeof pkt);
  pkt[sizeof pkt - 1] = 0;            /* padding count 0 */
  cr_assert_eq(parse_guarded(pkt, sizeof pkt, &h), PARLEY_RTP_BAD_PADDING);
  pkt[sizeof pkt - 1] = 7;            /* past the payload */
  cr_assert_eq(parse_guarded(pkt, sizeof pkt, &h), PARLEY_RTP_BAD_PADDING);
  pkt[sizeof pkt - 1] = 6;            /* the whole payload is padding */
  cr_assert_eq(parse_guarded(pkt, sizeof pkt, &h), PARLEY_RTP_OK);
  cr_assert_eq(h.payload_len, 0);
  /* Padding bit on a packet with nothing after the header. */
  cr_assert_eq(parse_guarded(pkt, 28, &h), PARLEY_RTP_BAD_PADDING);
}

Test(rtp, demux)
{
  uint8_t p[12] = {0x80, 111};
  cr_assert_eq(parley_rtp_demux(p, 12), PARLEY_PKT_RTP);
  p[1] = 0x80 | 111;                  /* marker bit set */
  cr_assert_eq(parley_rtp_demux(p, 12), PARLEY_PKT_RTP);
  p[1] = 200;
  cr_assert_eq(parley_rtp_demux(p, 12), PARLEY_PKT_RTCP);
  p[1] = 223;
  cr_assert_eq(parley_rtp_demux(p, 4), PARLEY_PKT_RTCP);
  p[1] = 224;
  cr_assert_eq(parley_rtp_demux(p, 12), PARLEY_PKT_RTP);
  p[0] = 0x00;                        /* STUN */
  cr_assert_eq(parley_rtp_demux(p, 12), PARLEY_PKT_OTHER);
  p[0] = 22;                          /* DTLS */
  cr_assert_eq(parley_rtp_demux(p, 12), PARLEY_PKT_OTHER);
  p[0] = 0x80;
  p[1] = 111;
  cr_assert_eq(parley_rtp_demux(p, 11), PARLEY_PKT_OTHER);
  cr_assert_eq(parley_rtp_demux(p, 1), PARLEY_PKT_OTHER);
}

static size_t sample_compound(uint8_t *out, size_t cap)
{
  parley_rtcp r;
  memset(&r, 0, sizeof r);
  r.has_sr = true;
  r.ssrc = 0x11223344;
  r.ntp = 0x0123456789abcdefull;
  r.rtp_ts = 48000;
  r.packet_count = 50;
  r.octet_count = 3000;
  r.block_count = 2;
  r.blocks[0] = (parley_rtcp_block){0x55667788, 25, -3, 65536 + 10, 96,
                                    0x45678, 0x8000};
  r.blocks[1] = (parley_rtcp_block){9, 255, 0x7fffff, 1, 0, 0, 0};
  r.has_cname = true;
  r.cname_ssrc = 0x11223344;
  strcpy(r.cname, "parley-11223344");
  r.has_bye = true;
  r.bye_count = 1;
  r.bye_ssrc[0] = 0x11223344;
  strcpy(r.bye_reason, "hangup");
  return parley_rtcp_write(&r, out, cap);
}

Test(rtp, rtcp_compound_round_trip)
{
  uint8_t pkt[256];
  size_t n = sample_compound(pkt, sizeof pkt);
  /* SR 28 + 2 blocks 48, SDES 4 + 4 + 2 + 15 + 1 = 26 -> 28, BYE 8 + 8 */
  cr_assert_eq(n, 76 + 28 + 16);
  cr_assert_eq(n % 4, 0);

  parley_rtcp r;
  cr_assert_eq(rtcp_guarded(pkt, n, &r), PARLEY_RTP_OK);
  cr_assert(r.has_sr && !r.has_rr);
  cr_assert_eq(r.ssrc, 0x11223344);
  cr_assert_eq(r.ntp, 0x0123456789abcdefull);
  cr_assert_eq(r.packet_count, 50);
  cr_assert_eq(r.block_count, 2);
  cr_assert_eq(r.blocks[0].cumulative_lost, -3);
  cr_assert_eq(r.blocks[0].fraction_lost, 25);
  cr_assert_eq(r.blocks[0].ext_highest_seq, 65546);
  cr_assert_eq(r.blocks[0].lsr, 0x45678);
  cr_assert_eq(r.blocks[1].cumulative_lost, 0x7fffff);
  cr_assert(r.has_cname);
  cr_assert_str_eq(r.cname, "parley-11223344");
  cr_assert(r.has_bye);
  cr_assert_eq(r.bye_ssrc[0], 0x11223344);
  cr_assert_str_eq(r.bye_reason, "hangup");

  cr_assert_eq(sample_compound(pkt, n - 1), 0);
}

Test(rtp, rtcp_truncated_at_every_offset)
{
  uint8_t pkt[256];
  size_t n = sample_compound(pkt, sizeof pkt);
  parley_rtcp r;
  for (size_t len = 0; len < n; len++) {
    parley_rtp_status st = rtcp_guarded(pkt, len, &r);
    /* Only a cut between two packets leaves a valid compound. */
    bool boundary = len == 76 || len == 76 + 28;
    cr_assert_eq(st == PARLEY_RTP_OK, boundary, "len %zu: %s", len,
                 parley_rtp_status_text(st));
  }
}

Test(rtp, rtcp_rules)
{
  uint8_t pkt[256];
  size_t n = sample_compound(pkt, sizeof pkt);
  parley_rtcp r;

  /* A compound must start with SR or RR. */
  cr_assert_eq(rtcp_guarded(pkt + 76, n - 76, &r), PARLEY_RTP_BAD_TYPE);
  /* Padding in a packet that is not the last. */
  uint8_t bad[256];
  memcpy(bad, pkt, n);
  bad[0] |= 0x20;
  cr_assert_eq(rtcp_guarded(bad, n, &r), PARLEY_RTP_BAD_PADDING);
  /* A length word that runs past the packet. */
  memcpy(bad, pkt, n);
  bad[76 + 3] = 50;
  cr_assert_eq(rtcp_guarded(bad, n, &r), PARLEY_RTP_BAD_LENGTH);
  /* An SR whose count claims more blocks than its length holds. */
  memcpy(bad, pkt, n);
  bad[0] = (uint8_t)(0x80 | 3);
  cr_assert_eq(rtcp_guarded(bad, n, &r), PARLEY_RTP_BAD_LENGTH);
  /* An SDES item that runs past its chunk. */
  memcpy(bad, pkt, n);
  bad[76 + 9] = 40;
  cr_assert_eq(rtcp_guarded(bad, n, &r), PARLEY_RTP_BAD_SDES);
  /* Version 1. */
  memcpy(bad, pkt, n);
  bad[76] = (uint8_t)((bad[76] & 0x3f) | 0x40);
  cr_assert_eq(rtcp_guarded(bad, n, &r), PARLEY_RTP_BAD_VERSION);
}

Test(rtp, rtcp_rr_and_app_skipped)
{
  parley_rtcp w;
  memset(&w, 0, sizeof w);
  w.has_rr = true;
  w.ssrc = 5;
  w.block_count = 1;
  w.blocks[0].ssrc = 6;
  w.blocks[0].jitter = 77;
  uint8_t pkt[128];
  size_t n = parley_rtcp_write(&w, pkt, sizeof pkt);
  cr_assert_eq(n, 8 + 24);
  /* Append an APP packet (type 204, 3 words) with 4 octets of padding:
   * the last packet may pad. */
  const uint8_t app[] = {0xa0, 204, 0, 3, 0, 0, 0, 5, 'n', 'a', 'm', 'e',
                         0, 0, 0, 4};
  memcpy(pkt + n, app, sizeof app);
  parley_rtcp r;
  cr_assert_eq(rtcp_guarded(pkt, n + sizeof app, &r), PARLEY_RTP_OK);
  cr_assert(r.has_rr && !r.has_sr);
  cr_assert_eq(r.blocks[0].jitter, 77);
  cr_assert_not(r.has_cname);

  memset(&w, 0, sizeof w);
  cr_assert_eq(parley_rtcp_write(&w, pkt, sizeof pkt), 0);
}

Test(rtp, seq_rollover)
{
  parley_rtp_source s;
  parley_rtp_source_init(&s, 65530, 0);
  for (uint32_t i = 0; i < 6; i++)
    cr_assert(parley_rtp_source_update(&s, (uint16_t)(65530 + i)));
  cr_assert_eq(parley_rtp_source_ext_max(&s), 65535);
  cr_assert(parley_rtp_source_update(&s, 0));            /* 65535 -> 0 */
  cr_assert_eq(parley_rtp_source_ext_max(&s), 65536);
  cr_assert(parley_rtp_source_update(&s, 2));            /* 1 lost */
  cr_assert_eq(parley_rtp_source_ext_max(&s), 65538);
  cr_assert_eq(parley_rtp_source_expected(&s), 9);
  cr_assert_eq(parley_rtp_source_lost(&s), 1);

  /* The late one from before the wrap keeps the old cycle. */
  cr_assert_eq(parley_rtp_source_extend(&s, 65534), 65534);
  cr_assert_eq(parley_rtp_source_extend(&s, 1), 65537);
  cr_assert(parley_rtp_source_update(&s, 1));
  cr_assert_eq(parley_rtp_source_ext_max(&s), 65538);
  cr_assert_eq(parley_rtp_source_lost(&s), 0);

  /* A second wrap. */
  for (uint32_t i = 3; i <= 65535; i++)
    parley_rtp_source_update(&s, (uint16_t)i);
  cr_assert(parley_rtp_source_update(&s, 0));
  cr_assert_eq(parley_rtp_source_ext_max(&s), 2u * 65536);
  cr_assert_eq(parley_rtp_source_lost(&s), 0);
}

Test(rtp, seq_jump_and_probation)
{
  parley_rtp_source s;
  parley_rtp_source_init(&s, 100, 2);
  cr_assert_not(parley_rtp_source_update(&s, 100));     /* on probation */
  cr_assert(parley_rtp_source_update(&s, 101));
  cr_assert_eq(parley_rtp_source_expected(&s), 1);
  cr_assert(parley_rtp_source_update(&s, 102));
  /* A jump of 5000 is refused once, accepted when the next follows. */
  cr_assert_not(parley_rtp_source_update(&s, 5102));
  cr_assert_eq(parley_rtp_source_ext_max(&s), 102);
  cr_assert(parley_rtp_source_update(&s, 5103));
  cr_assert_eq(parley_rtp_source_ext_max(&s), 5103);
  cr_assert_eq(parley_rtp_source_expected(&s), 1);
  /* Duplicates count as received: lost goes negative. */
  cr_assert(parley_rtp_source_update(&s, 5103));
  cr_assert_eq(parley_rtp_source_lost(&s), -1);
}

Test(rtp, fraction_lost)
{
  parley_rtp_source s;
  parley_rtp_source_init(&s, 0, 0);
  for (uint16_t i = 0; i < 100; i++) {
    if (i % 10 != 5)
      parley_rtp_source_update(&s, i);
  }
  /* 10 of 100 lost: 10 * 256 / 100 = 25.6, truncated. */
  cr_assert_eq(parley_rtp_source_fraction(&s), 25);
  cr_assert_eq(parley_rtp_source_fraction(&s), 0);   /* empty interval */
  for (uint16_t i = 100; i < 110; i++)
    parley_rtp_source_update(&s, i);
  cr_assert_eq(parley_rtp_source_fraction(&s), 0);
}

Test(rtp, jitter_hand_computed)
{
  /* Timestamps 0, 960, 1920, 2880; arrivals (same units) 1000, 2008,
   * 2920, 3976. Transits 1000, 1048, 1000, 1096, so |D| = 48, 48, 96.
   * With J scaled by 16 and A.8's rounding, J16 += |D| - (J16 + 8) / 16:
   *   48 - 0 = 48;  48 + 48 - 3 = 93;  93 + 96 - 6 = 183.
   * J = 183 / 16 = 11 (the real-valued J is 11.449). */
  parley_rtp_source s;
  parley_rtp_source_init(&s, 0, 0);
  const uint32_t arrival[] = {1000, 2008, 2920, 3976};
  const uint32_t expect[] = {0, 48, 93, 183};
  for (uint32_t i = 0; i < 4; i++) {
    parley_rtp_jitter_update(&s, arrival[i], 960 * i);
    cr_assert_eq(s.jitter_q4, expect[i], "packet %u", i);
  }
  cr_assert_eq(parley_rtp_jitter(&s), 11);

  /* Arrival and timestamp wrapping at 2^32 change nothing. */
  parley_rtp_source w;
  parley_rtp_source_init(&w, 0, 0);
  for (uint32_t i = 0; i < 4; i++)
    parley_rtp_jitter_update(&w, arrival[i] - 2000, 960 * i - 1500);
  cr_assert_eq(w.jitter_q4, 183);
}

Test(rtp, ntp_and_rtt)
{
  cr_assert_eq(parley_ntp_from_us(1500000), (1ull << 32) | 0x80000000u);
  cr_assert_eq(parley_ntp_mid32(parley_ntp_from_us(1500000)), 0x18000);
  /* LSR 1 s, DLSR 0.5 s, arrival 2 s: RTT 0.5 s = 32768 / 65536. */
  cr_assert_eq(parley_rtcp_rtt_q16(0x20000, 0x10000, 0x8000), 0x8000);
  cr_assert_eq(parley_rtcp_rtt_q16(0x20000, 0, 0), -1);
  cr_assert_eq(parley_rtcp_rtt_q16(0x10000, 0x10000, 0x8000), -1);
  /* Across the wrap of the middle 32 bits. */
  cr_assert_eq(parley_rtcp_rtt_q16(0x100, 0xffffff00u, 0x100), 0x100);
}

static uint32_t lcg(uint32_t *s)
{
  *s = *s * 1664525u + 1013904223u;
  return *s >> 8;
}

/* Random packets shaped enough like RTP and RTCP to get past the first
 * checks: parsing never reads past len (the guard page) and whatever
 * parses has consistent offsets. */
Test(rtp, random_input)
{
  uint32_t seed = 1;
  uint8_t pkt[96];
  unsigned rtp_ok = 0, rtcp_ok = 0;
  for (int round = 0; round < 20000; round++) {
    size_t len = lcg(&seed) % sizeof pkt;
    for (size_t i = 0; i < sizeof pkt; i++)
      pkt[i] = (uint8_t)lcg(&seed);
    if (len > 0)
      pkt[0] = (uint8_t)(0x80 | (pkt[0] & 0x3f));
    if (len > 1 && round % 2)
      pkt[1] = (uint8_t)(200 + pkt[1] % 5);
    if (round % 4 == 1) {
      /* One RTCP packet whose length word matches, few blocks. */
      uint8_t words = (uint8_t)(lcg(&seed) % 23);
      len = ((size_t)words + 1) * 4;
      pkt[0] = (uint8_t)(0x80 | (lcg(&seed) % 2));
      pkt[2] = 0;
      pkt[3] = words;
    }

    parley_rtp_header h;
    if (parse_guarded(pkt, len, &h) == PARLEY_RTP_OK) {
      cr_assert_eq(h.payload_off + h.payload_len + h.padding_len, len);
      rtp_ok++;
    }
    parley_rtcp r;
    if (rtcp_guarded(pkt, len, &r) == PARLEY_RTP_OK) {
      cr_assert_leq(r.block_count, PARLEY_RTCP_BLOCK_MAX);
      cr_assert_lt(strlen(r.cname), sizeof r.cname);
      cr_assert_eq(len % 4, 0);
      rtcp_ok++;
    }
  }
  /* Both parsers were reached past their first checks. */
  cr_assert_gt(rtp_ok, 100, "%u", rtp_ok);
  cr_assert_gt(rtcp_ok, 10, "%u", rtcp_ok);
}
