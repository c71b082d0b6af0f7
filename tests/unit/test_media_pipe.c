/* ref-client/media/pipe.c: two pipes back to back over a simulated
 * channel, on an injected clock (1 ms steps). The channel, written here,
 * drops RTP packets by a pattern or at random (seeded, decided per packet
 * index so that runs with FEC on and off lose the same packets), delays
 * with jitter (which reorders), and duplicates. RTCP is never dropped, so
 * the loss figures are about audio alone.
 *
 * The signal is a 200 Hz harmonic tone under a syllable-like envelope,
 * generated here; what comes out of the far pipe is aligned with it by
 * cross-correlation (a coarse search at a quarter of the rate, then a
 * fine one) and compared. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "parley/rtp.h"
#include "pipe.h"

#define MS 1000ull
#define SIGNAL_SAMPLES (4 * MEDIA_RATE)
#define FLIGHT_MAX 2048

typedef struct flight {
  uint64_t at_us;
  size_t len;
  uint8_t data[1500];
} flight;

typedef struct channel {
  flight *q;
  size_t n;
  uint64_t now_us;
  uint64_t delay_us, jitter_us;
  uint32_t loss_per_mille, dup_per_mille;
  uint32_t seed;
  const uint16_t *drop_seq;    /* RTP sequence numbers to drop */
  size_t drop_count;
  uint64_t rtp_index, rtp_dropped;
} channel;

/* A hash of (seed, n): the same packet index gets the same fate. */
static uint32_t fate(uint32_t seed, uint64_t n)
{
  uint64_t x = (n + 1) * 0x9e3779b97f4a7c15ull ^ seed;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 29;
  return (uint32_t)(x % 1000);
}

static bool drop_rtp(channel *c, const uint8_t *pkt, size_t len)
{
  parley_rtp_header h;
  cr_assert_eq(parley_rtp_parse(pkt, len, &h), PARLEY_RTP_OK);
  uint64_t n = c->rtp_index++;
  for (size_t i = 0; i < c->drop_count; i++) {
    if (c->drop_seq[i] == h.seq)
      return true;
  }
  return fate(c->seed, n) < c->loss_per_mille;
}

static void enqueue(channel *c, const uint8_t *pkt, size_t len,
                    uint64_t extra_us)
{
  cr_assert_lt(c->n, FLIGHT_MAX);
  cr_assert_leq(len, sizeof c->q[0].data);
  flight *f = &c->q[c->n++];
  f->at_us = c->now_us + c->delay_us + extra_us;
  f->len = len;
  memcpy(f->data, pkt, len);
}

static void chan_send(void *ud, const uint8_t *pkt, size_t len)
{
  channel *c = ud;
  bool rtp = parley_rtp_demux(pkt, len) == PARLEY_PKT_RTP;
  if (rtp && drop_rtp(c, pkt, len)) {
    c->rtp_dropped++;
    return;
  }
  uint32_t r = fate(c->seed ^ 0x5bd1e995u, c->rtp_index * 3 + len);
  uint64_t jitter = c->jitter_us ? (r * 7919u) % c->jitter_us : 0;
  enqueue(c, pkt, len, jitter);
  if (rtp && fate(c->seed ^ 0x1234567u, c->rtp_index) < c->dup_per_mille)
    enqueue(c, pkt, len, jitter + 3 * MS);
}

/* Hands every packet due at now to the pipe, in due order. */
static void deliver(channel *c, media_pipe *to, uint64_t now)
{
  for (;;) {
    size_t best = c->n;
    for (size_t i = 0; i < c->n; i++) {
      if (c->q[i].at_us <= now &&
          (best == c->n || c->q[i].at_us < c->q[best].at_us))
        best = i;
    }
    if (best == c->n)
      return;
    media_pipe_on_packet(to, c->q[best].data, c->q[best].len, now);
    c->q[best] = c->q[--c->n];
  }
}

typedef struct call {
  media_pipe *a, *b;       /* a sends the signal, b silence */
  channel ab, ba;
  uint64_t now;
} call;

static int16_t *signal_pcm;

/* A harmonic tone (4 partials) whose fundamental glides between 160 and
 * 240 Hz like intonation, under a 3 Hz envelope, with a quiet gap each
 * second: enough like voiced speech for Opus's SILK layer, and (not
 * being periodic) with one clear alignment. */
static void make_signal(void)
{
  signal_pcm = malloc(SIGNAL_SAMPLES * sizeof *signal_pcm);
  cr_assert_not_null(signal_pcm);
  double phase = 0;
  for (size_t i = 0; i < SIGNAL_SAMPLES; i++) {
    double t = (double)i / MEDIA_RATE;
    double f0 = 200 + 40 * sin(2 * M_PI * 0.7 * t);
    phase += 2 * M_PI * f0 / MEDIA_RATE;
    double env = 0.65 - 0.35 * cos(2 * M_PI * 3 * t);
    if (fmod(t, 1.0) > 0.85)
      env *= 0.05;
    double v = sin(phase) + 0.5 * sin(2 * phase) +
               0.25 * sin(3 * phase + 0.5) + 0.12 * sin(5 * phase + 1.0);
    signal_pcm[i] = (int16_t)(6000 * env * v);
  }
}

static void suite_init(void)
{
  make_signal();
}

static void suite_fini(void)
{
  free(signal_pcm);
}

TestSuite(media_pipe, .init = suite_init, .fini = suite_fini,
          .timeout = 120);

static media_pipe_opts opts_for(bool sender, bool fec)
{
  media_pipe_opts o = {0};
  if (sender) {
    o.input = signal_pcm;
    o.input_samples = SIGNAL_SAMPLES;
  }
  o.fec = fec;
  o.bitrate = 32000;
  o.loss_hint_pct = 10;
  o.ssrc = sender ? 0x0a0a0a0a : 0x0b0b0b0b;
  o.first_seq = sender ? 1000 : 2000;
  o.first_ts = sender ? 123456 : 654321;
  return o;
}

static void call_start(call *c, const media_pipe_opts *oa,
                       const media_pipe_opts *ob)
{
  char err[200];
  memset(c, 0, sizeof *c);
  c->ab.q = calloc(FLIGHT_MAX, sizeof(flight));
  c->ba.q = calloc(FLIGHT_MAX, sizeof(flight));
  cr_assert(c->ab.q && c->ba.q);
  c->ab.delay_us = c->ba.delay_us = 20 * MS;
  c->ab.seed = 7;
  c->ba.seed = 8;
  c->a = media_pipe_new(oa, err, sizeof err);
  cr_assert_not_null(c->a, "%s", err);
  c->b = media_pipe_new(ob, err, sizeof err);
  cr_assert_not_null(c->b, "%s", err);
  c->now = 1000 * MS;
  media_pipe_mark_offer(c->b, c->now - 150 * MS);
}

static void call_run(call *c, uint64_t dur_us)
{
  uint64_t end = c->now + dur_us;
  for (; c->now < end; c->now += MS) {
    c->ab.now_us = c->ba.now_us = c->now;
    media_pipe_tick(c->a, c->now, chan_send, &c->ab);
    media_pipe_tick(c->b, c->now, chan_send, &c->ba);
    deliver(&c->ab, c->b, c->now);
    deliver(&c->ba, c->a, c->now);
  }
}

static void call_end(call *c)
{
  media_pipe_free(c->a);
  media_pipe_free(c->b);
  free(c->ab.q);
  free(c->ba.q);
}

/* Normalised correlation of x[from, to) with y shifted by lag (y[i +
 * lag] against x[i]), every step-th sample. */
static double corr_at(const int16_t *x, size_t nx, const int16_t *y,
                      size_t ny, long lag, size_t from, size_t step)
{
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = from; i < nx; i += step) {
    long j = (long)i + lag;
    if (j < 0 || (size_t)j >= ny)
      continue;
    sxy += (double)x[i] * y[j];
    sxx += (double)x[i] * x[i];
    syy += (double)y[j] * y[j];
  }
  return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : 0;
}

/* The best correlation of the heard audio with the signal over lags of
 * 0-50 ms (the output starts with the first frame, so only the codec's
 * delay and the jitter buffer's adjustments shift it); *lag_out gets the
 * lag. A search on every 4th sample, then the best lag on all. */
static double best_correlation(const int16_t *y, size_t ny, long *lag_out)
{
  long best = 0;
  double best_c = -2;
  for (long lag = 0; lag < 2400; lag++) {
    double c = corr_at(signal_pcm, SIGNAL_SAMPLES, y, ny, lag, 4800, 4);
    if (c > best_c) {
      best_c = c;
      best = lag;
    }
  }
  *lag_out = best;
  return corr_at(signal_pcm, SIGNAL_SAMPLES, y, ny, best, 4800, 1);
}

Test(media_pipe, clean_channel)
{
  call c;
  media_pipe_opts oa = opts_for(true, true), ob = opts_for(false, true);
  call_start(&c, &oa, &ob);
  call_run(&c, 4500 * MS);
  cr_assert(media_pipe_input_done(c.a));
  cr_assert_not(media_pipe_input_done(c.b) && false);

  size_t ny;
  const int16_t *y = media_pipe_output(c.b, &ny);
  long lag;
  double corr = best_correlation(y, ny, &lag);
  fprintf(stderr, "clean: correlation %.4f at lag %ld samples\n", corr,
          lag);
  cr_assert_gt(corr, 0.9, "correlation %f", corr);

  media_quality qa, qb;
  media_pipe_report(c.a, &qa);
  media_pipe_report(c.b, &qb);
  cr_assert_eq(qb.packets_lost, 0);
  cr_assert_eq(qb.packets_concealed, 0);
  cr_assert_eq(qb.packets_recovered_fec, 0);
  cr_assert_eq(qb.packets_late, 0);
  cr_assert_eq(qb.loss_pct, 0);
  cr_assert_eq(qa.packets_sent, 225);
  /* Everything but what is still in flight (20 ms) has arrived. */
  cr_assert_geq(qb.packets_received, 224);
  cr_assert_gt(qb.rtcp_received, 5);
  cr_assert_gt(qa.rtcp_sent, 5);
  /* 20 ms each way: RTCP measures 40 ms (to within a tick). */
  cr_assert(qa.rtt_ms > 39 && qa.rtt_ms < 42, "rtt %f", qa.rtt_ms);
  cr_assert(qb.rtt_ms > 39 && qb.rtt_ms < 42, "rtt %f", qb.rtt_ms);
  uint64_t first;
  cr_assert(media_pipe_first_audio(c.b, &first));
  /* Offer 150 ms before the start, 20 ms on the wire, 40 ms buffered. */
  cr_assert(qb.setup_ms >= 210 && qb.setup_ms <= 212, "%f", qb.setup_ms);
  cr_assert_eq(qa.setup_ms, -1);
  /* Each packet waited the jitter buffer's minimum, 40 ms. */
  cr_assert(qb.jitter_buffer_ms > 39.9 && qb.jitter_buffer_ms < 40.1,
            "%f", qb.jitter_buffer_ms);
  cr_assert(qb.mos > 4.3, "mos %f r %f", qb.mos, qb.r_factor);

  /* A hangs up: its BYE reaches B, and B's playout running dry after
   * it is no loss. */
  cr_assert_not(media_pipe_remote_bye(c.b));
  c.ab.now_us = c.now;
  media_pipe_bye(c.a, c.now, "hangup", chan_send, &c.ab);
  media_pipe_free(c.a);
  c.a = NULL;
  uint64_t end = c.now + 500 * MS;
  for (; c.now < end; c.now += MS) {
    media_pipe_tick(c.b, c.now, chan_send, &c.ba);
    deliver(&c.ab, c.b, c.now);
  }
  cr_assert(media_pipe_remote_bye(c.b));
  media_pipe_report(c.b, &qb);
  cr_assert_eq(qb.packets_concealed, 0);
  call_end(&c);
}

/* One call at 5 % random loss; returns b's report. */
static void lossy_call(bool fec, media_quality *q, double *corr)
{
  call c;
  media_pipe_opts oa = opts_for(true, fec), ob = opts_for(false, fec);
  call_start(&c, &oa, &ob);
  c.ab.loss_per_mille = 50;
  call_run(&c, 4500 * MS);
  media_pipe_report(c.b, q);
  size_t ny;
  const int16_t *y = media_pipe_output(c.b, &ny);
  long lag;
  *corr = best_correlation(y, ny, &lag);
  fprintf(stderr, "5%% loss, FEC %s: dropped %llu, lost %llu, FEC %llu, "
          "concealed %llu, correlation %.4f, R %.1f, MOS %.2f\n",
          fec ? "on" : "off", (unsigned long long)c.ab.rtp_dropped,
          (unsigned long long)q->packets_lost,
          (unsigned long long)q->packets_recovered_fec,
          (unsigned long long)q->packets_concealed, *corr, q->r_factor,
          q->mos);
  call_end(&c);
}

Test(media_pipe, fec_at_five_percent_loss)
{
  media_quality on, off;
  double corr_on, corr_off;
  lossy_call(true, &on, &corr_on);
  lossy_call(false, &off, &corr_off);

  cr_assert_eq(on.packets_lost, off.packets_lost);   /* the same drops */
  cr_assert_gt(on.packets_lost, 3);
  cr_assert(on.loss_pct > 2 && on.loss_pct < 9, "loss %f", on.loss_pct);
  cr_assert_gt(on.packets_recovered_fec, 0);
  cr_assert_eq(off.packets_recovered_fec, 0);
  cr_assert_gt(on.packets_recovered_fec, off.packets_recovered_fec);
  cr_assert_gt(off.packets_concealed, 0);
  cr_assert_eq(on.packets_recovered_fec + on.packets_concealed,
               on.packets_lost);
  cr_assert_eq(off.packets_concealed, off.packets_lost);
  cr_assert_gt(on.r_factor, off.r_factor);
  /* Correlation is no judge here: with FEC off the encoder spends every
   * bit on the primary frames, so intact frames sound better. */
  cr_assert_gt(corr_on, 0.8);
  cr_assert_gt(corr_off, 0.8);
}

Test(media_pipe, sequence_rollover)
{
  call c;
  media_pipe_opts oa = opts_for(true, true), ob = opts_for(false, true);
  oa.first_seq = 65500;
  call_start(&c, &oa, &ob);
  /* Packets 35 and 36 carry sequence numbers 65535 and 0. */
  const uint16_t drop[] = {65535, 0};
  c.ab.drop_seq = drop;
  c.ab.drop_count = 2;
  call_run(&c, 4500 * MS);

  media_quality q;
  media_pipe_report(c.b, &q);
  fprintf(stderr, "rollover: lost %llu, FEC %llu, concealed %llu\n",
          (unsigned long long)q.packets_lost,
          (unsigned long long)q.packets_recovered_fec,
          (unsigned long long)q.packets_concealed);
  cr_assert_eq(c.ab.rtp_dropped, 2);
  cr_assert_eq(q.packets_lost, 2);
  /* 65535: its successor is lost too -> concealed; 0: rebuilt from 1
   * if packet 1 carries LBRR data, which this early in the call (the
   * encoder's voice activity detector still settling) it does not. */
  cr_assert_geq(q.packets_concealed, 1);
  cr_assert_eq(q.packets_concealed + q.packets_recovered_fec, 2);
  cr_assert_eq(q.packets_late + q.packets_duplicate, 0);
  cr_assert_geq(q.packets_received, 225 - 2 - 1);
  size_t ny;
  const int16_t *y = media_pipe_output(c.b, &ny);
  long lag;
  double corr = best_correlation(y, ny, &lag);
  cr_assert_gt(corr, 0.85, "correlation %f", corr);
  call_end(&c);
}

Test(media_pipe, burst_of_three)
{
  call c;
  media_pipe_opts oa = opts_for(true, true), ob = opts_for(false, true);
  call_start(&c, &oa, &ob);
  /* Frames 108-110, loud ones (near an envelope peak). */
  const uint16_t drop[] = {1108, 1109, 1110};
  c.ab.drop_seq = drop;
  c.ab.drop_count = 3;
  call_run(&c, 4500 * MS);

  media_quality q;
  media_pipe_report(c.b, &q);
  cr_assert_eq(q.packets_lost, 3);
  cr_assert_eq(q.packets_concealed, 2);
  cr_assert_eq(q.packets_recovered_fec, 1);
  call_end(&c);
}

Test(media_pipe, jitter_reorder_duplicates)
{
  call c;
  media_pipe_opts oa = opts_for(true, true), ob = opts_for(false, true);
  call_start(&c, &oa, &ob);
  c.ab.jitter_us = 50 * MS;
  c.ab.dup_per_mille = 50;
  call_run(&c, 4500 * MS);

  media_quality q;
  media_pipe_report(c.b, &q);
  fprintf(stderr, "jitter 0-50 ms, 5%% duplicates: jitter %.1f ms, buffer "
          "%.1f ms, late %llu, duplicates %llu, concealed %llu\n",
          q.jitter_ms, q.jitter_buffer_ms,
          (unsigned long long)q.packets_late,
          (unsigned long long)q.packets_duplicate,
          (unsigned long long)q.packets_concealed);
  cr_assert_gt(q.packets_duplicate, 0);
  cr_assert_eq(q.packets_lost, 0);
  cr_assert_gt(q.jitter_ms, 5);
  cr_assert_gt(q.jitter_buffer_ms, 40);
  cr_assert_lt(q.packets_late, 20);
  call_end(&c);
}

/* Garbage and cut or bit-flipped copies of real packets: the pipe
 * ignores what does not parse and keeps playing what does. */
Test(media_pipe, hostile_packets)
{
  call c;
  media_pipe_opts oa = opts_for(true, true), ob = opts_for(false, true);
  call_start(&c, &oa, &ob);
  call_run(&c, 500 * MS);
  uint32_t seed = 99;
  uint8_t pkt[1500];
  for (int round = 0; round < 3000; round++) {
    size_t len = 0;
    if (c.ab.n > 0) {
      flight *f = &c.ab.q[round % c.ab.n];
      len = f->len;
      memcpy(pkt, f->data, len);
    }
    seed = seed * 1664525u + 1013904223u;
    if (len > 0 && round % 3 == 0)
      len = (seed >> 8) % len;                       /* cut */
    else if (len > 0)
      pkt[(seed >> 8) % len] ^= (uint8_t)(1u << (seed % 8));   /* flip */
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, pkt, len);   /* exactly len octets for ASan to watch */
    media_pipe_on_packet(c.b, copy, len, c.now);
    free(copy);
    if (round % 100 == 0)
      call_run(&c, 20 * MS);
  }
  call_run(&c, 500 * MS);
  media_quality q;
  media_pipe_report(c.b, &q);
  cr_assert_gt(q.packets_received, 0);
  size_t ny;
  media_pipe_output(c.b, &ny);
  cr_assert_gt(ny, 0);
  call_end(&c);
}

/* The sender's thread stalls for 2 s: it skips the frames it missed
 * instead of sending them in a burst (timestamps jump, sequence numbers
 * do not), and the receiver goes silent, then plays again. */
Test(media_pipe, sender_stall)
{
  call c;
  media_pipe_opts oa = opts_for(true, true), ob = opts_for(false, true);
  oa.loop_input = true;
  call_start(&c, &oa, &ob);
  call_run(&c, 1000 * MS);
  media_quality before;
  media_pipe_report(c.a, &before);
  cr_assert_eq(before.packets_sent, 50);
  cr_assert_not(media_pipe_input_done(c.a));

  uint64_t end = c.now + 2000 * MS;
  for (; c.now < end; c.now += MS) {
    c.ba.now_us = c.now;
    media_pipe_tick(c.b, c.now, chan_send, &c.ba);
    deliver(&c.ab, c.b, c.now);
  }
  size_t heard_before;
  media_pipe_output(c.b, &heard_before);
  call_run(&c, 1000 * MS);

  media_quality qa, qb;
  media_pipe_report(c.a, &qa);
  media_pipe_report(c.b, &qb);
  /* One frame on waking, then one per 20 ms again. */
  cr_assert_eq(qa.packets_sent, 50 + 1 + 49);
  cr_assert_eq(qb.packets_lost, 0);
  cr_assert_eq(qb.packets_late, 0);
  fprintf(stderr, "stall: concealed %llu, FEC %llu, received %llu\n",
          (unsigned long long)qb.packets_concealed,
          (unsigned long long)qb.packets_recovered_fec,
          (unsigned long long)qb.packets_received);
  /* Nothing was lost: the frames concealed while waiting are not
   * counted once the stream has stalled. */
  cr_assert_eq(qb.packets_concealed, 0);
  size_t heard;
  media_pipe_output(c.b, &heard);
  /* The output kept its pace through the stall (silence) and after. */
  cr_assert_gt(heard, heard_before + 40 * MEDIA_FRAME_SAMPLES);
  cr_assert_geq(heard, 3800 * MEDIA_RATE / 1000);
  call_end(&c);
}

/* --- every frame played once ------------------------------------------ */

#define ONCE_FRAMES 100   /* 2 s of the signal */

/* What a sent: the RTP payloads in order, recorded by once_send. */
typedef struct sent_log {
  channel *ch;
  size_t count;
  size_t len[ONCE_FRAMES];
  uint8_t data[ONCE_FRAMES][AUDIO_PACKET_MAX];
} sent_log;

static sent_log *once_log;

static void once_send(void *ud, const uint8_t *pkt, size_t len)
{
  parley_rtp_header h;
  if (parley_rtp_demux(pkt, len) == PARLEY_PKT_RTP &&
      parley_rtp_parse(pkt, len, &h) == PARLEY_RTP_OK) {
    cr_assert_lt(once_log->count, ONCE_FRAMES);
    cr_assert_leq(h.payload_len, AUDIO_PACKET_MAX);
    once_log->len[once_log->count] = h.payload_len;
    memcpy(once_log->data[once_log->count++], pkt + h.payload_off,
           h.payload_len);
  }
  chan_send(ud, pkt, len);
}

/* A lossless channel of constant delay (20 ms) from a, which sends
 * ONCE_FRAMES frames; the packets a sends in its first `hold_us` reach
 * b only then, as when b's side finishes setting up a little after a's
 * (the first packet late, the rest on time). Runs until b has played
 * as many frames as a sent, then checks that b played exactly the
 * frames a sent, each once and in order: its output is sample for
 * sample what a decoder fed every packet in order makes. */
static void every_frame_once(uint64_t hold_us)
{
  call c;
  media_pipe_opts oa = opts_for(true, true), ob = opts_for(false, true);
  oa.input_samples = ONCE_FRAMES * MEDIA_FRAME_SAMPLES;
  call_start(&c, &oa, &ob);
  once_log = calloc(1, sizeof *once_log);
  cr_assert_not_null(once_log);
  uint64_t start = c.now, until = c.now + 4000 * MS;
  size_t ny = 0;
  for (; c.now < until && ny < oa.input_samples; c.now += MS) {
    c.ab.now_us = c.ba.now_us = c.now;
    if (!media_pipe_input_done(c.a))   /* then a goes quiet */
      media_pipe_tick(c.a, c.now, once_send, &c.ab);
    media_pipe_tick(c.b, c.now, chan_send, &c.ba);
    if (c.now >= start + hold_us)
      deliver(&c.ab, c.b, c.now);
    deliver(&c.ba, c.a, c.now);
    media_pipe_output(c.b, &ny);
  }

  media_quality qa, qb;
  media_pipe_report(c.a, &qa);
  media_pipe_report(c.b, &qb);
  cr_assert_eq(qa.packets_sent, ONCE_FRAMES);
  cr_assert_eq(once_log->count, ONCE_FRAMES);
  cr_assert_eq(qb.packets_received, ONCE_FRAMES);
  cr_assert_eq(qb.packets_concealed + qb.packets_late + qb.packets_lost, 0);
  const int16_t *y = media_pipe_output(c.b, &ny);
  cr_assert_eq(ny, oa.input_samples, "played %zu samples of %zu", ny,
               (size_t)oa.input_samples);

  char err[200];
  audio_dec *ref = audio_dec_new(err, sizeof err);
  cr_assert_not_null(ref, "%s", err);
  int16_t pcm[MEDIA_FRAME_SAMPLES];
  for (size_t k = 0; k < ONCE_FRAMES; k++) {
    cr_assert_eq(audio_dec_frame(ref, once_log->data[k], once_log->len[k],
                                 pcm), 0);
    cr_assert_eq(memcmp(pcm, y + k * MEDIA_FRAME_SAMPLES, sizeof pcm), 0,
                 "held %llu ms: played frame %zu is not sent frame %zu",
                 (unsigned long long)(hold_us / MS), k, k);
  }
  audio_dec_free(ref);
  free(once_log);
  call_end(&c);
}

Test(media_pipe, lossless_channel_plays_every_frame_once)
{
  every_frame_once(0);
}

Test(media_pipe, first_packet_late_plays_every_frame_once)
{
  every_frame_once(45 * MS);   /* frame 0 arrives 25 ms late, with 1 */
}
