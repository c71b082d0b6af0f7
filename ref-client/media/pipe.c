/* The call media pipeline (pipe.h): send side, receive side, playout and
 * the quality report, all driven by the caller's clock.
 *
 * Send: frame k of the input (padded with silence after its end, or
 * looped) is due at start + k * 20 ms, where start is the first tick. It
 * goes out as one Opus packet in RTP with ts = first_ts + 960 k and the
 * next sequence number (first_seq, then + 1 mod 2^16 per packet). A tick
 * more than a second late skips the frames it missed: their timestamps
 * and input pass but no packet and no sequence number, so the receiver
 * sees a pause, not a loss (RFC 3550 5.1).
 *
 * RTCP (RFC 3550 6.4): a compound packet of SR (once we have sent RTP;
 * RR before) with one report block for the remote source once we have
 * heard it, then SDES CNAME; with the first RTP packet and every 500 ms.
 * At hangup media_pipe_bye adds a BYE (6.6) to such a compound. The NTP
 * timestamp of our SRs is the caller's clock (now_us) in NTP format, not
 * wall-clock time: the peer only echoes it back as LSR, so the round
 * trip A - LSR - DLSR needs no clock shared between the two.
 *
 * Receive: RTP of the first SSRC heard (and of the expected payload
 * type) feeds the RFC 3550 statistics (A.1 extended sequence numbers,
 * A.8 jitter) and the jitter buffer (jitter.h); other SSRCs are ignored.
 * RTCP SRs give LSR for our reports; report blocks about us give RTT.
 *
 * Playout: every due frame of the jitter buffer is decoded, rebuilt from
 * the next packet's FEC, or concealed, and appended to the output, which
 * therefore starts with the first frame played and keeps the playout's
 * pace (a gap is concealment, a stall is silence). A frame concealed
 * while nothing later was held is only counted as lost once a later
 * packet arrives; if the stream stalls instead, or the remote said BYE,
 * it was the end of the stream, not loss. */
#include "pipe.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "jitter.h"
#include "parley/rtp.h"
#include "quality.h"

#define PIPE_RTCP_EVERY_US 500000
#define PIPE_MAX_BEHIND_US 1000000
#define PIPE_PKT_MAX (PARLEY_RTP_HEADER_MIN + AUDIO_PACKET_MAX)

struct media_pipe {
  media_pipe_opts o;
  audio_enc *enc;
  audio_dec *dec;
  jitter_buffer *jb;

  /* send side */
  bool started;
  uint64_t start_us, next_send_us, next_rtcp_us;
  uint64_t frame;              /* next frame index to send (its ts) */
  uint64_t seq_count;          /* packets made so far (their seq) */
  uint64_t samples_sent;       /* input samples consumed */
  uint64_t packets_sent, octets_sent, rtcp_sent;
  bool muted;                  /* send silence in place of the input */
  uint64_t packets_muted;

  /* receive side */
  bool have_remote;
  uint32_t remote_ssrc;
  parley_rtp_source src;
  uint64_t packets_received, rtcp_received;
  bool have_sr;
  uint32_t last_sr_mid;
  uint64_t last_sr_us;
  double rtt_ms;
  bool remote_bye;

  /* playout */
  int16_t *out;
  size_t out_len, out_cap;
  bool have_first_audio, have_offer;
  uint64_t first_audio_us, offer_us;
  uint64_t recovered_fec, concealed, pending_lost;
  quality_runs runs;
  uint64_t wait_sum_us, wait_n;    /* of frames decoded from packets */
};

static void pipe_defaults(media_pipe_opts *o)
{
  if (o->bitrate == 0)
    o->bitrate = 32000;
  if (o->pt == 0)
    o->pt = 111;
  if (o->jitter_min_ms == 0)
    o->jitter_min_ms = 40;
  if (o->jitter_max_ms == 0)
    o->jitter_max_ms = 300;
}

media_pipe *media_pipe_new(const media_pipe_opts *o, char *err, size_t cap)
{
  media_pipe *p = calloc(1, sizeof *p);
  if (!p) {
    snprintf(err, cap, "out of memory");
    return NULL;
  }
  p->o = *o;
  pipe_defaults(&p->o);
  if (p->o.pt > 127 || (p->o.input_samples > 0 && !p->o.input) ||
      p->o.jitter_min_ms > p->o.jitter_max_ms) {
    snprintf(err, cap, "media pipe: bad options (payload type, input or "
             "jitter bounds)");
    goto fail;
  }
  p->enc = audio_enc_new(p->o.bitrate, p->o.fec, p->o.loss_hint_pct, err,
                         cap);
  if (!p->enc)
    goto fail;
  p->dec = audio_dec_new(err, cap);
  if (!p->dec)
    goto fail;
  p->jb = malloc(sizeof *p->jb);
  if (!p->jb) {
    snprintf(err, cap, "out of memory");
    goto fail;
  }
  jb_init(p->jb, p->o.jitter_min_ms, p->o.jitter_max_ms);
  p->rtt_ms = -1;
  return p;

fail:
  media_pipe_free(p);
  return NULL;
}

void media_pipe_free(media_pipe *p)
{
  if (!p)
    return;
  audio_enc_free(p->enc);
  audio_dec_free(p->dec);
  free(p->jb);
  free(p->out);
  free(p);
}

/* The input of frame `frame_pcm`: 960 samples, silence past the end. */
static void input_frame(const media_pipe *p, int16_t *pcm)
{
  const media_pipe_opts *o = &p->o;
  for (size_t i = 0; i < MEDIA_FRAME_SAMPLES; i++) {
    uint64_t at = p->samples_sent + i;
    if (o->input_samples == 0 || p->muted)
      pcm[i] = 0;
    else if (o->loop_input)
      pcm[i] = o->input[at % o->input_samples];
    else
      pcm[i] = at < o->input_samples ? o->input[at] : 0;
  }
}

static void send_frame(media_pipe *p, media_send_fn send, void *ud)
{
  int16_t pcm[MEDIA_FRAME_SAMPLES];
  uint8_t payload[AUDIO_PACKET_MAX];
  uint8_t pkt[PIPE_PKT_MAX];
  input_frame(p, pcm);
  int n = audio_enc_frame(p->enc, pcm, payload, sizeof payload);

  parley_rtp_header h = {0};
  h.marker = p->frame == 0;
  h.pt = p->o.pt;
  h.seq = (uint16_t)(p->o.first_seq + p->seq_count++);
  h.ts = p->o.first_ts + (uint32_t)(p->frame * MEDIA_FRAME_SAMPLES);
  h.ssrc = p->o.ssrc;
  size_t len = n > 0 ? parley_rtp_write(&h, payload, (size_t)n, pkt,
                                        sizeof pkt) : 0;
  if (len > 0) {
    send(ud, pkt, len);
    p->packets_sent++;
    p->packets_muted += p->muted;
    p->octets_sent += (uint64_t)n;
  }
  p->frame++;
  p->samples_sent += MEDIA_FRAME_SAMPLES;
}

/* Our report block about the remote source (RFC 3550 6.4.1). */
static void report_block(media_pipe *p, uint64_t now_us,
                         parley_rtcp_block *b)
{
  b->ssrc = p->remote_ssrc;
  b->fraction_lost = parley_rtp_source_fraction(&p->src);
  b->cumulative_lost = parley_rtp_source_lost(&p->src);
  b->ext_highest_seq = parley_rtp_source_ext_max(&p->src);
  b->jitter = parley_rtp_jitter(&p->src);
  if (p->have_sr) {
    b->lsr = p->last_sr_mid;
    b->dlsr = (uint32_t)((now_us - p->last_sr_us) * 65536 / 1000000);
  }
}

/* Fills r with our SR or RR, its report block and the SDES CNAME. */
static void build_rtcp(media_pipe *p, uint64_t now_us, parley_rtcp *r)
{
  memset(r, 0, sizeof *r);
  r->ssrc = p->o.ssrc;
  r->has_sr = p->packets_sent > 0;
  r->has_rr = !r->has_sr;
  if (r->has_sr) {
    uint64_t since = now_us > p->start_us ? now_us - p->start_us : 0;
    r->ntp = parley_ntp_from_us(now_us);
    r->rtp_ts = p->o.first_ts + (uint32_t)(since * MEDIA_RATE / 1000000);
    r->packet_count = (uint32_t)p->packets_sent;
    r->octet_count = (uint32_t)p->octets_sent;
  }
  if (p->have_remote)
    report_block(p, now_us, &r->blocks[r->block_count++]);
  r->has_cname = true;
  r->cname_ssrc = p->o.ssrc;
  snprintf(r->cname, sizeof r->cname, "parley-%08x", (unsigned)p->o.ssrc);
}

static void send_rtcp(media_pipe *p, const parley_rtcp *r,
                      media_send_fn send, void *ud)
{
  uint8_t pkt[512];
  size_t len = parley_rtcp_write(r, pkt, sizeof pkt);
  assert(len > 0);
  send(ud, pkt, len);
  p->rtcp_sent++;
}

void media_pipe_bye(media_pipe *p, uint64_t now_us, const char *reason,
                    media_send_fn send, void *ud)
{
  parley_rtcp r;
  build_rtcp(p, now_us, &r);
  r.has_bye = true;
  r.bye_count = 1;
  r.bye_ssrc[0] = p->o.ssrc;
  snprintf(r.bye_reason, sizeof r.bye_reason, "%s", reason ? reason : "");
  send_rtcp(p, &r, send, ud);
}

bool media_pipe_remote_bye(const media_pipe *p)
{
  return p->remote_bye;
}

static void append_output(media_pipe *p, const int16_t *pcm)
{
  if (p->out_cap - p->out_len < MEDIA_FRAME_SAMPLES) {
    size_t cap = p->out_cap ? p->out_cap * 2 : MEDIA_RATE * 4;
    int16_t *bigger = realloc(p->out, cap * sizeof *bigger);
    if (!bigger)
      return;   /* out of memory: the output stops growing */
    p->out = bigger;
    p->out_cap = cap;
  }
  memcpy(p->out + p->out_len, pcm, sizeof(int16_t) * MEDIA_FRAME_SAMPLES);
  p->out_len += MEDIA_FRAME_SAMPLES;
}

/* Decodes what the jitter buffer says for one frame and counts it. */
static void play_frame(media_pipe *p, const jb_out *f, int16_t *pcm)
{
  switch (f->action) {
  case JB_DECODE:
    if (audio_dec_frame(p->dec, f->pkt, f->len, pcm) == 0) {
      quality_runs_add(&p->runs, false);
    } else {
      p->concealed++;   /* a payload Opus refused: concealed */
      quality_runs_add(&p->runs, true);
    }
    break;
  case JB_FEC:
    if (audio_dec_fec(p->dec, f->pkt, f->len, pcm) == 1) {
      p->recovered_fec++;
      quality_runs_add(&p->runs, false);
    } else {
      p->concealed++;
      quality_runs_add(&p->runs, true);
    }
    break;
  case JB_PLC:
    audio_dec_plc(p->dec, pcm);
    if (f->pause) {
      break;
    } else if (f->underrun) {
      if (!p->remote_bye)
        p->pending_lost++;
    } else {
      p->concealed++;
      quality_runs_add(&p->runs, true);
    }
    break;
  case JB_STRETCH:
    audio_dec_plc(p->dec, pcm);
    break;
  case JB_SILENCE:
    memset(pcm, 0, sizeof(int16_t) * MEDIA_FRAME_SAMPLES);
    p->pending_lost = 0;
    break;
  }
}

static void playout(media_pipe *p, uint64_t now_us)
{
  jb_out f;
  int16_t pcm[MEDIA_FRAME_SAMPLES];
  while (jb_pull(p->jb, now_us, &f)) {
    play_frame(p, &f, pcm);
    if (!p->have_first_audio) {
      p->have_first_audio = true;
      p->first_audio_us = now_us;
    }
    append_output(p, pcm);
    if (f.action == JB_DECODE) {
      p->wait_sum_us += f.wait_us;
      p->wait_n++;
    }
  }
}

void media_pipe_tick(media_pipe *p, uint64_t now_us, media_send_fn send,
                     void *ud)
{
  if (!p->started) {
    p->started = true;
    p->start_us = p->next_send_us = p->next_rtcp_us = now_us;
  }
  if (now_us > p->next_send_us + PIPE_MAX_BEHIND_US) {
    /* Far behind: skip to now instead of a burst of stale frames. */
    uint64_t missed = (now_us - p->next_send_us) / MEDIA_FRAME_US;
    p->frame += missed;
    p->samples_sent += missed * MEDIA_FRAME_SAMPLES;
    p->next_send_us += missed * MEDIA_FRAME_US;
  }
  while (now_us >= p->next_send_us) {
    send_frame(p, send, ud);
    p->next_send_us += MEDIA_FRAME_US;
  }
  if (now_us >= p->next_rtcp_us) {
    parley_rtcp r;
    build_rtcp(p, now_us, &r);
    send_rtcp(p, &r, send, ud);
    p->next_rtcp_us = now_us + PIPE_RTCP_EVERY_US;
  }
  playout(p, now_us);
}

static void on_rtp(media_pipe *p, const uint8_t *pkt, size_t len,
                   uint64_t now_us)
{
  parley_rtp_header h;
  if (parley_rtp_parse(pkt, len, &h) != PARLEY_RTP_OK || h.pt != p->o.pt)
    return;
  if (!p->have_remote) {
    p->have_remote = true;
    p->remote_ssrc = h.ssrc;
    parley_rtp_source_init(&p->src, h.seq, 0);
  } else if (h.ssrc != p->remote_ssrc) {
    return;
  }
  if (!parley_rtp_source_update(&p->src, h.seq))
    return;
  p->packets_received++;
  uint32_t arrival = (uint32_t)(now_us * MEDIA_RATE / 1000000);
  parley_rtp_jitter_update(&p->src, arrival, h.ts);

  uint32_t seq = parley_rtp_source_extend(&p->src, h.seq);
  jb_result r = jb_insert(p->jb, h.ts, seq, pkt + h.payload_off,
                          h.payload_len, now_us);
  if (r == JB_STORED || r == JB_LATE) {
    /* Frames concealed in an underrun were lost (or late) after all. */
    p->concealed += p->pending_lost;
    for (uint64_t i = 0; i < p->pending_lost; i++)
      quality_runs_add(&p->runs, true);
    p->pending_lost = 0;
  } else if (r == JB_PAUSE_END || r == JB_RESYNC) {
    p->pending_lost = 0;   /* the sender paused: nothing was lost */
  }
}

static void on_rtcp(media_pipe *p, const uint8_t *pkt, size_t len,
                    uint64_t now_us)
{
  parley_rtcp r;
  if (parley_rtcp_parse(pkt, len, &r) != PARLEY_RTP_OK)
    return;
  if (p->have_remote && r.ssrc != p->remote_ssrc)
    return;
  p->rtcp_received++;
  if (r.has_bye) {
    /* The end of the stream: what is concealed from now on is not
     * loss. */
    p->remote_bye = true;
    p->pending_lost = 0;
  }
  if (r.has_sr) {
    p->have_sr = true;
    p->last_sr_mid = parley_ntp_mid32(r.ntp);
    p->last_sr_us = now_us;
  }
  uint32_t arrival = parley_ntp_mid32(parley_ntp_from_us(now_us));
  for (size_t i = 0; i < r.block_count; i++) {
    const parley_rtcp_block *b = &r.blocks[i];
    if (b->ssrc != p->o.ssrc)
      continue;
    int64_t rtt = parley_rtcp_rtt_q16(arrival, b->lsr, b->dlsr);
    if (rtt >= 0)
      p->rtt_ms = (double)rtt * 1000.0 / 65536.0;
  }
}

void media_pipe_on_packet(media_pipe *p, const uint8_t *pkt, size_t len,
                          uint64_t now_us)
{
  switch (parley_rtp_demux(pkt, len)) {
  case PARLEY_PKT_RTP: on_rtp(p, pkt, len, now_us); break;
  case PARLEY_PKT_RTCP: on_rtcp(p, pkt, len, now_us); break;
  case PARLEY_PKT_OTHER: break;
  }
}

uint64_t media_pipe_next_us(const media_pipe *p)
{
  if (!p->started)
    return 0;
  uint64_t next = p->next_send_us < p->next_rtcp_us ? p->next_send_us
                                                     : p->next_rtcp_us;
  uint64_t play = jb_next_us(p->jb);
  return play < next ? play : next;
}

bool media_pipe_input_done(const media_pipe *p)
{
  return !p->o.loop_input && p->samples_sent >= p->o.input_samples;
}

bool media_pipe_first_audio(const media_pipe *p, uint64_t *at_us)
{
  if (p->have_first_audio && at_us)
    *at_us = p->first_audio_us;
  return p->have_first_audio;
}

const int16_t *media_pipe_output(const media_pipe *p, size_t *samples)
{
  *samples = p->out_len;
  return p->out;
}

void media_pipe_mark_offer(media_pipe *p, uint64_t at_us)
{
  p->have_offer = true;
  p->offer_us = at_us;
}

void media_pipe_report(const media_pipe *p, media_quality *q)
{
  memset(q, 0, sizeof *q);
  q->packets_sent = p->packets_sent;
  q->packets_received = p->packets_received;
  q->packets_recovered_fec = p->recovered_fec;
  q->packets_concealed = p->concealed;
  q->packets_late = p->jb->late;
  q->packets_duplicate = p->jb->duplicate;
  q->packets_muted = p->packets_muted;
  q->rtcp_sent = p->rtcp_sent;
  q->rtcp_received = p->rtcp_received;
  if (p->have_remote) {
    /* RFC 3550 counts duplicates as received; we take them out. */
    int64_t expected = parley_rtp_source_expected(&p->src);
    int64_t unique = (int64_t)p->packets_received -
                     (int64_t)p->jb->duplicate;
    int64_t lost = expected - unique;
    q->packets_lost = lost > 0 ? (uint64_t)lost : 0;
    q->loss_pct = expected > 0 ? 100.0 * (double)q->packets_lost /
                                 (double)expected : 0;
    q->jitter_ms = parley_rtp_jitter(&p->src) * 1000.0 / MEDIA_RATE;
  }
  q->rtt_ms = p->rtt_ms;
  q->setup_ms = -1;
  if (p->have_offer && p->have_first_audio &&
      p->first_audio_us >= p->offer_us)
    q->setup_ms = (double)(p->first_audio_us - p->offer_us) / 1000.0;
  q->jitter_buffer_ms = p->wait_n ? (double)p->wait_sum_us / 1000.0 /
                                     (double)p->wait_n : 0;
  double delay = quality_one_way_delay_ms(q->rtt_ms, q->jitter_buffer_ms);
  /* With no audio received there is nothing to rate: an R-factor from
   * zero loss would claim a perfect call that never happened. */
  if (q->packets_received == 0) {
    q->r_factor = -1;
    q->mos = -1;
    return;
  }
  q->r_factor = quality_r_factor(delay, quality_runs_loss_pct(&p->runs),
                                 quality_runs_burst_r(&p->runs));
  q->mos = quality_mos(q->r_factor);
}

void media_pipe_set_muted(media_pipe *p, bool muted)
{
  p->muted = muted;
}
