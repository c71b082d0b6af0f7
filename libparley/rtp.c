/* RTP and RTCP packets and receiver statistics (RFC 3550).
 *
 * Design: every parser walks its input with an explicit offset and asks
 * `have(len, off, n)` before reading n octets, so no read passes len
 * whatever the length fields claim. Multi-octet fields are network order
 * and are assembled octet by octet (no unaligned loads). Writers check
 * the capacity first and write nothing partial that they report as done.
 *
 * Receiver statistics follow the algorithms of RFC 3550 appendix A.1
 * (sequence validity, 16-bit wrap into an extended sequence number) and
 * A.8 (interarrival jitter), restated here in the project's own code;
 * round trip time follows section 6.4.1. */
#include "parley/rtp.h"

#include <assert.h>
#include <string.h>

enum {
  SEQ_MOD = 1 << 16,
  MAX_DROPOUT = 3000,
  MAX_MISORDER = 100,
  RTCP_HEADER = 4,
  BLOCK_SIZE = 24,
  SR_INFO = 20
};

static bool have(size_t len, size_t off, size_t n)
{
  return off <= len && n <= len - off;
}

static uint16_t get16(const uint8_t *p)
{
  return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

const char *parley_rtp_status_text(parley_rtp_status s)
{
  switch (s) {
  case PARLEY_RTP_OK: return "ok";
  case PARLEY_RTP_TRUNCATED: return "a field runs past the packet";
  case PARLEY_RTP_BAD_VERSION: return "version is not 2";
  case PARLEY_RTP_BAD_PADDING: return "bad padding count";
  case PARLEY_RTP_BAD_LENGTH: return "RTCP lengths do not match the packet";
  case PARLEY_RTP_BAD_TYPE: return "RTCP compound does not start with SR/RR";
  case PARLEY_RTP_BAD_SDES: return "an SDES item runs past its chunk";
  }
  return "unknown status";
}

/* Reads the CSRC list and the extension header that follow the fixed
 * header; *off advances past them. */
static parley_rtp_status rtp_parse_tail(const uint8_t *pkt, size_t len,
                                        size_t *off, parley_rtp_header *h)
{
  if (!have(len, *off, (size_t)h->csrc_count * 4))
    return PARLEY_RTP_TRUNCATED;
  for (unsigned i = 0; i < h->csrc_count; i++, *off += 4)
    h->csrc[i] = get32(pkt + *off);

  if (!h->extension)
    return PARLEY_RTP_OK;
  if (!have(len, *off, 4))
    return PARLEY_RTP_TRUNCATED;
  h->ext_profile = get16(pkt + *off);
  h->ext_len = (size_t)get16(pkt + *off + 2) * 4;
  *off += 4;
  if (!have(len, *off, h->ext_len))
    return PARLEY_RTP_TRUNCATED;
  *off += h->ext_len;
  return PARLEY_RTP_OK;
}

parley_rtp_status parley_rtp_parse(const uint8_t *pkt, size_t len,
                                   parley_rtp_header *h)
{
  memset(h, 0, sizeof *h);
  if (!have(len, 0, PARLEY_RTP_HEADER_MIN))
    return PARLEY_RTP_TRUNCATED;
  if ((pkt[0] >> 6) != PARLEY_RTP_VERSION)
    return PARLEY_RTP_BAD_VERSION;

  bool padding = (pkt[0] & 0x20) != 0;
  h->extension = (pkt[0] & 0x10) != 0;
  h->csrc_count = pkt[0] & 0x0f;
  h->marker = (pkt[1] & 0x80) != 0;
  h->pt = pkt[1] & 0x7f;
  h->seq = get16(pkt + 2);
  h->ts = get32(pkt + 4);
  h->ssrc = get32(pkt + 8);

  size_t off = PARLEY_RTP_HEADER_MIN;
  parley_rtp_status st = rtp_parse_tail(pkt, len, &off, h);
  if (st != PARLEY_RTP_OK)
    return st;

  size_t body = len - off;
  if (padding) {
    /* The last octet counts the padding, itself included (5.1). */
    size_t pad = body > 0 ? pkt[len - 1] : 0;
    if (pad == 0 || pad > body)
      return PARLEY_RTP_BAD_PADDING;
    h->padding_len = pad;
    body -= pad;
  }
  h->payload_off = off;
  h->payload_len = body;
  assert(h->payload_off + h->payload_len + h->padding_len == len);
  return PARLEY_RTP_OK;
}

size_t parley_rtp_write(const parley_rtp_header *h, const uint8_t *payload,
                        size_t payload_len, uint8_t *out, size_t cap)
{
  if (h->pt > 127 || h->csrc_count > PARLEY_RTP_CSRC_MAX ||
      h->padding_len > 255)
    return 0;
  size_t head = PARLEY_RTP_HEADER_MIN + (size_t)h->csrc_count * 4;
  if (payload_len > cap || head > cap - payload_len ||
      h->padding_len > cap - payload_len - head)
    return 0;

  out[0] = (uint8_t)(PARLEY_RTP_VERSION << 6 |
                     (h->padding_len ? 0x20 : 0) | h->csrc_count);
  out[1] = (uint8_t)((h->marker ? 0x80 : 0) | h->pt);
  put16(out + 2, h->seq);
  put32(out + 4, h->ts);
  put32(out + 8, h->ssrc);
  for (unsigned i = 0; i < h->csrc_count; i++)
    put32(out + PARLEY_RTP_HEADER_MIN + 4 * i, h->csrc[i]);
  if (payload_len > 0)
    memcpy(out + head, payload, payload_len);

  size_t n = head + payload_len;
  if (h->padding_len > 0) {
    memset(out + n, 0, h->padding_len - 1);
    out[n + h->padding_len - 1] = (uint8_t)h->padding_len;
    n += h->padding_len;
  }
  return n;
}

parley_rtp_kind parley_rtp_demux(const uint8_t *pkt, size_t len)
{
  /* RFC 7983: RTP and RTCP start with 128-191; RFC 5761 section 4: a
   * second octet of 192-223 is an RTCP packet type. */
  if (len < 2 || pkt[0] < 128 || pkt[0] > 191)
    return PARLEY_PKT_OTHER;
  if (pkt[1] >= 192 && pkt[1] <= 223)
    return len >= 4 ? PARLEY_PKT_RTCP : PARLEY_PKT_OTHER;
  return len >= PARLEY_RTP_HEADER_MIN ? PARLEY_PKT_RTP : PARLEY_PKT_OTHER;
}

/* ---- RTCP parsing ---- */

static void parse_block(const uint8_t *p, parley_rtcp_block *b)
{
  b->ssrc = get32(p);
  b->fraction_lost = p[4];
  uint32_t lost = ((uint32_t)p[5] << 16) | ((uint32_t)p[6] << 8) | p[7];
  /* Sign-extend the 24-bit count. */
  b->cumulative_lost = (lost & 0x800000) ? (int32_t)lost - 0x1000000
                                         : (int32_t)lost;
  b->ext_highest_seq = get32(p + 8);
  b->jitter = get32(p + 12);
  b->lsr = get32(p + 16);
  b->dlsr = get32(p + 20);
}

/* SR or RR: body[0, n) after the common header, count report blocks. */
static parley_rtp_status parse_report(const uint8_t *body, size_t n,
                                      unsigned count, bool sr,
                                      parley_rtcp *r)
{
  size_t need = 4 + (sr ? SR_INFO : 0) + (size_t)count * BLOCK_SIZE;
  if (n < need)
    return PARLEY_RTP_BAD_LENGTH;
  if (!r->has_sr && !r->has_rr) {
    r->ssrc = get32(body);
    if (sr) {
      r->ntp = ((uint64_t)get32(body + 4) << 32) | get32(body + 8);
      r->rtp_ts = get32(body + 12);
      r->packet_count = get32(body + 16);
      r->octet_count = get32(body + 20);
    }
    r->has_sr = sr;
    r->has_rr = !sr;
  }
  const uint8_t *p = body + 4 + (sr ? SR_INFO : 0);
  for (unsigned i = 0; i < count; i++, p += BLOCK_SIZE) {
    if (r->block_count < PARLEY_RTCP_BLOCK_MAX)
      parse_block(p, &r->blocks[r->block_count++]);
  }
  return PARLEY_RTP_OK;
}

/* One SDES chunk at body[*off, n): SSRC then items up to a zero octet,
 * then padding to the next 32-bit boundary. */
static parley_rtp_status parse_sdes_chunk(const uint8_t *body, size_t n,
                                          size_t *off, parley_rtcp *r)
{
  if (!have(n, *off, 4))
    return PARLEY_RTP_BAD_SDES;
  uint32_t ssrc = get32(body + *off);
  size_t i = *off + 4;
  for (;;) {
    if (!have(n, i, 1))
      return PARLEY_RTP_BAD_SDES;
    uint8_t type = body[i];
    if (type == 0)
      break;
    if (!have(n, i, 2) || !have(n, i + 2, body[i + 1]))
      return PARLEY_RTP_BAD_SDES;
    size_t item_len = body[i + 1];
    if (type == 1 && !r->has_cname) {
      r->has_cname = true;
      r->cname_ssrc = ssrc;
      memcpy(r->cname, body + i + 2, item_len);
      r->cname[item_len] = '\0';
    }
    i += 2 + item_len;
  }
  *off = (i + 4) & ~(size_t)3;   /* the zero octet plus padding */
  if (*off > n)
    return PARLEY_RTP_BAD_SDES;
  return PARLEY_RTP_OK;
}

static parley_rtp_status parse_sdes(const uint8_t *body, size_t n,
                                    unsigned count, parley_rtcp *r)
{
  size_t off = 0;
  for (unsigned c = 0; c < count; c++) {
    parley_rtp_status st = parse_sdes_chunk(body, n, &off, r);
    if (st != PARLEY_RTP_OK)
      return st;
  }
  return PARLEY_RTP_OK;
}

static parley_rtp_status parse_bye(const uint8_t *body, size_t n,
                                   unsigned count, parley_rtcp *r)
{
  if ((size_t)count * 4 > n)
    return PARLEY_RTP_BAD_LENGTH;
  r->has_bye = true;
  for (unsigned i = 0; i < count; i++) {
    if (r->bye_count < PARLEY_RTCP_BLOCK_MAX)
      r->bye_ssrc[r->bye_count++] = get32(body + 4 * i);
  }
  size_t off = (size_t)count * 4;
  if (off < n) {
    size_t rlen = body[off];
    if (!have(n, off + 1, rlen))
      return PARLEY_RTP_BAD_LENGTH;
    memcpy(r->bye_reason, body + off + 1, rlen);
    r->bye_reason[rlen] = '\0';
  }
  return PARLEY_RTP_OK;
}

/* Checks one packet's common header at pkt[off]; *plen is its length in
 * octets and *body_len the octets after the header without padding. */
static parley_rtp_status rtcp_header(const uint8_t *pkt, size_t len,
                                     size_t off, size_t *plen,
                                     size_t *body_len)
{
  if (!have(len, off, RTCP_HEADER))
    return PARLEY_RTP_TRUNCATED;
  if ((pkt[off] >> 6) != PARLEY_RTP_VERSION)
    return PARLEY_RTP_BAD_VERSION;
  *plen = ((size_t)get16(pkt + off + 2) + 1) * 4;
  if (!have(len, off, *plen))
    return PARLEY_RTP_BAD_LENGTH;
  *body_len = *plen - RTCP_HEADER;
  if (pkt[off] & 0x20) {
    /* Padding only in the last packet of a compound (A.2). */
    size_t pad = pkt[off + *plen - 1];
    if (off + *plen != len || pad == 0 || pad > *body_len)
      return PARLEY_RTP_BAD_PADDING;
    *body_len -= pad;
  }
  return PARLEY_RTP_OK;
}

parley_rtp_status parley_rtcp_parse(const uint8_t *pkt, size_t len,
                                    parley_rtcp *r)
{
  memset(r, 0, sizeof *r);
  if (len < RTCP_HEADER)
    return PARLEY_RTP_TRUNCATED;
  if (pkt[1] != PARLEY_RTCP_SR && pkt[1] != PARLEY_RTCP_RR)
    return PARLEY_RTP_BAD_TYPE;

  size_t off = 0;
  while (off < len) {
    size_t plen, n;
    parley_rtp_status st = rtcp_header(pkt, len, off, &plen, &n);
    if (st != PARLEY_RTP_OK)
      return st;
    unsigned count = pkt[off] & 0x1f;
    const uint8_t *body = pkt + off + RTCP_HEADER;
    switch (pkt[off + 1]) {
    case PARLEY_RTCP_SR: st = parse_report(body, n, count, true, r); break;
    case PARLEY_RTCP_RR: st = parse_report(body, n, count, false, r); break;
    case PARLEY_RTCP_SDES: st = parse_sdes(body, n, count, r); break;
    case PARLEY_RTCP_BYE: st = parse_bye(body, n, count, r); break;
    default: break;   /* APP, feedback, XR: skipped */
    }
    if (st != PARLEY_RTP_OK)
      return st;
    off += plen;
  }
  assert(off == len);
  return PARLEY_RTP_OK;
}

/* ---- RTCP writing ---- */

static void put_header(uint8_t *p, unsigned count, uint8_t type,
                       size_t plen)
{
  assert(plen % 4 == 0 && plen >= 4 && count < 32);
  p[0] = (uint8_t)(PARLEY_RTP_VERSION << 6 | count);
  p[1] = type;
  put16(p + 2, (uint16_t)(plen / 4 - 1));
}

static void put_block(uint8_t *p, const parley_rtcp_block *b)
{
  put32(p, b->ssrc);
  p[4] = b->fraction_lost;
  uint32_t lost = (uint32_t)b->cumulative_lost & 0xffffff;
  p[5] = (uint8_t)(lost >> 16);
  p[6] = (uint8_t)(lost >> 8);
  p[7] = (uint8_t)lost;
  put32(p + 8, b->ext_highest_seq);
  put32(p + 12, b->jitter);
  put32(p + 16, b->lsr);
  put32(p + 20, b->dlsr);
}

static size_t write_report(const parley_rtcp *r, uint8_t *out, size_t cap)
{
  size_t plen = RTCP_HEADER + 4 + (r->has_sr ? SR_INFO : 0) +
                r->block_count * BLOCK_SIZE;
  if (plen > cap)
    return 0;
  put_header(out, (unsigned)r->block_count,
             r->has_sr ? PARLEY_RTCP_SR : PARLEY_RTCP_RR, plen);
  put32(out + 4, r->ssrc);
  uint8_t *p = out + 8;
  if (r->has_sr) {
    put32(p, (uint32_t)(r->ntp >> 32));
    put32(p + 4, (uint32_t)r->ntp);
    put32(p + 8, r->rtp_ts);
    put32(p + 12, r->packet_count);
    put32(p + 16, r->octet_count);
    p += SR_INFO;
  }
  for (size_t i = 0; i < r->block_count; i++, p += BLOCK_SIZE)
    put_block(p, &r->blocks[i]);
  return plen;
}

static size_t write_sdes(const parley_rtcp *r, uint8_t *out, size_t cap)
{
  size_t clen = strnlen(r->cname, PARLEY_RTCP_CNAME_MAX);
  /* SSRC, CNAME item, the end octet, padding to 32 bits. */
  size_t chunk = (4 + 2 + clen + 1 + 3) & ~(size_t)3;
  size_t plen = RTCP_HEADER + chunk;
  if (plen > cap)
    return 0;
  memset(out, 0, plen);
  put_header(out, 1, PARLEY_RTCP_SDES, plen);
  put32(out + 4, r->cname_ssrc);
  out[8] = 1;
  out[9] = (uint8_t)clen;
  memcpy(out + 10, r->cname, clen);
  return plen;
}

static size_t write_bye(const parley_rtcp *r, uint8_t *out, size_t cap)
{
  size_t rlen = strnlen(r->bye_reason, 255);
  size_t ids = r->bye_count * 4;
  size_t plen = RTCP_HEADER + ids + (rlen ? (1 + rlen + 3) & ~(size_t)3 : 0);
  if (r->bye_count > PARLEY_RTCP_BLOCK_MAX || plen > cap)
    return 0;
  memset(out, 0, plen);
  put_header(out, (unsigned)r->bye_count, PARLEY_RTCP_BYE, plen);
  for (size_t i = 0; i < r->bye_count; i++)
    put32(out + RTCP_HEADER + 4 * i, r->bye_ssrc[i]);
  if (rlen) {
    out[RTCP_HEADER + ids] = (uint8_t)rlen;
    memcpy(out + RTCP_HEADER + ids + 1, r->bye_reason, rlen);
  }
  return plen;
}

size_t parley_rtcp_write(const parley_rtcp *r, uint8_t *out, size_t cap)
{
  if (r->has_sr == r->has_rr || r->block_count > PARLEY_RTCP_BLOCK_MAX)
    return 0;
  size_t n = write_report(r, out, cap);
  if (n == 0)
    return 0;
  if (r->has_cname) {
    size_t m = write_sdes(r, out + n, cap - n);
    if (m == 0)
      return 0;
    n += m;
  }
  if (r->has_bye) {
    size_t m = write_bye(r, out + n, cap - n);
    if (m == 0)
      return 0;
    n += m;
  }
  return n;
}

/* ---- receiver statistics ---- */

static void source_restart(parley_rtp_source *s, uint16_t seq)
{
  s->base_seq = seq;
  s->max_seq = seq;
  s->bad_seq = SEQ_MOD + 1;   /* so seq == bad_seq is false */
  s->cycles = 0;
  s->received = 0;
  s->received_prior = 0;
  s->expected_prior = 0;
}

void parley_rtp_source_init(parley_rtp_source *s, uint16_t seq,
                            uint32_t probation)
{
  memset(s, 0, sizeof *s);
  source_restart(s, seq);
  s->min_sequential = probation;
  s->probation = probation;
  /* The caller feeds this first packet through update() as well: on
   * probation it must look like the successor of max_seq. */
  if (probation > 0)
    s->max_seq = (uint16_t)(seq - 1);
}

/* A.1's probation: sequential packets until the source is valid. */
static bool source_probation(parley_rtp_source *s, uint16_t seq)
{
  if (seq == (uint16_t)(s->max_seq + 1)) {
    s->probation--;
    s->max_seq = seq;
    if (s->probation == 0) {
      source_restart(s, seq);
      s->received++;
      return true;
    }
  } else {
    s->probation = s->min_sequential > 1 ? s->min_sequential - 1 : 1;
    s->max_seq = seq;
  }
  return false;
}

bool parley_rtp_source_update(parley_rtp_source *s, uint16_t seq)
{
  uint16_t udelta = (uint16_t)(seq - s->max_seq);

  if (s->probation)
    return source_probation(s, seq);

  if (udelta < MAX_DROPOUT) {
    /* In order, possibly with a gap; a smaller seq means a wrap. */
    if (seq < s->max_seq)
      s->cycles += SEQ_MOD;
    s->max_seq = seq;
  } else if (udelta <= SEQ_MOD - MAX_MISORDER) {
    /* A large jump: restart only if the next packet follows it. */
    if (seq == s->bad_seq) {
      source_restart(s, seq);
    } else {
      s->bad_seq = (uint32_t)((seq + 1) & (SEQ_MOD - 1));
      return false;
    }
  }
  /* else: a duplicate or a packet from before max_seq; counted. */
  s->received++;
  return true;
}

uint32_t parley_rtp_source_ext_max(const parley_rtp_source *s)
{
  return s->cycles + s->max_seq;
}

uint32_t parley_rtp_source_extend(const parley_rtp_source *s, uint16_t seq)
{
  uint32_t ext_max = parley_rtp_source_ext_max(s);
  int16_t diff = (int16_t)(uint16_t)(seq - s->max_seq);
  return ext_max + (uint32_t)(int32_t)diff;
}

uint32_t parley_rtp_source_expected(const parley_rtp_source *s)
{
  return parley_rtp_source_ext_max(s) - s->base_seq + 1;
}

int32_t parley_rtp_source_lost(const parley_rtp_source *s)
{
  int64_t lost = (int64_t)parley_rtp_source_expected(s) - s->received;
  if (lost > 0x7fffff)
    lost = 0x7fffff;
  if (lost < -0x800000)
    lost = -0x800000;
  return (int32_t)lost;
}

uint8_t parley_rtp_source_fraction(parley_rtp_source *s)
{
  uint32_t expected = parley_rtp_source_expected(s);
  uint32_t expected_interval = expected - s->expected_prior;
  uint32_t received_interval = s->received - s->received_prior;
  s->expected_prior = expected;
  s->received_prior = s->received;

  if (expected_interval == 0 || received_interval >= expected_interval)
    return 0;
  uint64_t lost = expected_interval - received_interval;
  return (uint8_t)((lost << 8) / expected_interval);
}

void parley_rtp_jitter_update(parley_rtp_source *s, uint32_t arrival,
                              uint32_t ts)
{
  uint32_t transit = arrival - ts;
  if (!s->have_transit) {
    s->have_transit = true;
    s->transit = transit;
    return;
  }
  int32_t d = (int32_t)(transit - s->transit);
  s->transit = transit;
  uint32_t ad = d < 0 ? (uint32_t)0 - (uint32_t)d : (uint32_t)d;
  /* J += (|D| - J) / 16, kept scaled by 16 with rounding (A.8). */
  s->jitter_q4 += ad - ((s->jitter_q4 + 8) >> 4);
}

uint32_t parley_rtp_jitter(const parley_rtp_source *s)
{
  return s->jitter_q4 >> 4;
}

uint64_t parley_ntp_from_us(uint64_t us)
{
  uint64_t sec = us / 1000000;
  uint64_t frac = ((us % 1000000) << 32) / 1000000;
  return (sec << 32) | frac;
}

uint32_t parley_ntp_mid32(uint64_t ntp)
{
  return (uint32_t)(ntp >> 16);
}

int64_t parley_rtcp_rtt_q16(uint32_t arrival, uint32_t lsr, uint32_t dlsr)
{
  if (lsr == 0)
    return -1;
  /* The middle 32 bits wrap every 18 hours: take the difference modulo
   * 2^32 and read it as signed. */
  int32_t rtt = (int32_t)(arrival - lsr - dlsr);
  return rtt < 0 ? -1 : rtt;
}
