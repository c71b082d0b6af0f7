/* ref-client/media/jitter.c: the adaptive jitter buffer on an injected
 * clock. Packets are 20 ms frames identified by RTP timestamp; the tests
 * feed arrivals and pull the playout every millisecond. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitter.h"
#include "pipe.h"

#define MS 1000ull

static jitter_buffer *jb;

static void setup(void)
{
  jb = malloc(sizeof *jb);
  cr_assert_not_null(jb);
  jb_init(jb, 40, 300);
}

static void teardown(void)
{
  free(jb);
}

TestSuite(jitter, .init = setup, .fini = teardown);

/* The payload of frame k: its index, so playout can be checked. */
static void put(uint32_t ts0, uint32_t k, uint64_t at_us, jb_result want)
{
  uint8_t payload[4];
  memcpy(payload, &k, 4);
  jb_result r = jb_insert(jb, ts0 + k * MEDIA_FRAME_SAMPLES, k, payload, 4,
                          at_us);
  cr_assert_eq(r, want, "frame %u at %llu: %d", k,
               (unsigned long long)at_us, r);
}

typedef struct played {
  unsigned decode, fec, plc, stretch, silence, pause, underrun;
  uint64_t wait_max_us;
  uint32_t last_frame;   /* payload index of the last decoded frame */
  bool in_order;
} played;

/* Pulls everything due up to until_us, a millisecond at a time. */
static void pull_until(uint64_t from_us, uint64_t until_us, played *p)
{
  jb_out f;
  for (uint64_t t = from_us; t <= until_us; t += MS) {
    while (jb_pull(jb, t, &f)) {
      uint32_t k = 0;
      switch (f.action) {
      case JB_DECODE:
        memcpy(&k, f.pkt, 4);
        if (p->decode > 0 && k <= p->last_frame)
          p->in_order = false;
        p->last_frame = k;
        p->decode++;
        if (f.wait_us > p->wait_max_us)
          p->wait_max_us = f.wait_us;
        break;
      case JB_FEC: p->fec++; break;
      case JB_PLC:
        p->plc++;
        p->pause += f.pause;
        p->underrun += f.underrun;
        break;
      case JB_STRETCH: p->stretch++; break;
      case JB_SILENCE: p->silence++; break;
      }
    }
  }
}

Test(jitter, steady_stream_plays_in_order)
{
  played p = {.in_order = true};
  for (uint32_t k = 0; k < 100; k++) {
    put(1000, k, 50 * MS + k * 20 * MS, JB_STORED);
    pull_until(50 * MS + k * 20 * MS, 50 * MS + k * 20 * MS + 19 * MS, &p);
  }
  cr_assert_eq(p.decode, 100 - 2);   /* the last 40 ms are still held */
  cr_assert(p.in_order);
  cr_assert_eq(p.plc + p.fec + p.stretch, 0);
  cr_assert_eq(p.wait_max_us, 40 * MS);
  cr_assert_eq(jb->late, 0);
  cr_assert_lt(jb_jitter_ms(jb), 0.001);
  cr_assert(jb_target_ms(jb) >= 40 && jb_target_ms(jb) < 41);
  /* Frame 0 was due 40 ms (the minimum) after it arrived, frame 98 is
   * next. */
  cr_assert_eq(jb_next_us(jb), 50 * MS + 40 * MS + 98 * 20 * MS);
}

Test(jitter, reorder_duplicate_late)
{
  played p = {.in_order = true};
  uint64_t t0 = 10 * MS;
  /* 0, 2, 1 (swapped, 10 ms apart), then 1 again, then 3. Frame 2
   * comes on frame 0's schedule (t0 + 40 ms): one earlier would show
   * frame 0 to have been late and move the start of playout. */
  put(0, 0, t0, JB_STORED);
  /* One from before the first is late, not off the grid. */
  put(0, (uint32_t)-1, t0 + 1 * MS, JB_LATE);
  put(0, 2, t0 + 40 * MS, JB_STORED);
  put(0, 1, t0 + 50 * MS, JB_STORED);
  put(0, 1, t0 + 51 * MS, JB_DUPLICATE);
  put(0, 3, t0 + 60 * MS, JB_STORED);
  pull_until(t0, t0 + 100 * MS, &p);
  cr_assert_eq(p.decode, 4);
  cr_assert(p.in_order);
  cr_assert_eq(jb->duplicate, 1);
  /* Frame 0 was played at t0 + 40 ms: a copy of it now is a duplicate,
   * frame 4 never came and 5 arriving after frame 4's turn is fine, and
   * frame 4 arriving after its turn is late. */
  put(0, 0, t0 + 101 * MS, JB_DUPLICATE);
  put(0, 5, t0 + 110 * MS, JB_STORED);
  pull_until(t0 + 101 * MS, t0 + 130 * MS, &p);
  cr_assert_eq(p.fec, 1);            /* 4 missing, 5 held */
  put(0, 4, t0 + 131 * MS, JB_LATE);
  put(0, 4, t0 + 132 * MS, JB_DUPLICATE);
  cr_assert_eq(jb->late, 2);
  cr_assert_eq(jb->duplicate, 3);
}

Test(jitter, burst_of_three_then_fec)
{
  played p = {.in_order = true};
  for (uint32_t k = 0; k < 30; k++) {
    uint64_t at = k * 20 * MS;
    if (k < 10 || k > 12)
      put(7, k, at, JB_STORED);
    pull_until(at, at + 19 * MS, &p);
  }
  /* Frames 10, 11: nothing after them held yet -> PLC; frame 12: 13 is
   * held -> FEC from it. */
  cr_assert_eq(p.plc, 2);
  cr_assert_eq(p.fec, 1);
  cr_assert_eq(p.decode, 30 - 3 - 2);
}

/* Simple deterministic generator for the jitter runs. */
static uint32_t lcg(uint32_t *s)
{
  *s = *s * 1664525u + 1013904223u;
  return *s >> 8;
}

Test(jitter, adapts_to_jitter_and_back)
{
  played p = {.in_order = true};
  uint32_t seed = 42;
  /* 10 s with delays uniform in 0-80 ms, arrivals sorted by time. */
  enum { N = 500 };
  static uint64_t at[N];
  for (uint32_t k = 0; k < N; k++)
    at[k] = 100 * MS + k * 20 * MS + (lcg(&seed) % 80) * MS;
  uint64_t late_before = 0, t = 100 * MS;
  for (uint64_t now = t; now < 100 * MS + N * 20 * MS + 400 * MS;
       now += MS) {
    for (uint32_t k = 0; k < N; k++) {
      if (at[k] == now)
        jb_insert(jb, k * MEDIA_FRAME_SAMPLES, k, (uint8_t *)&k, 4, now);
    }
    pull_until(now, now, &p);
    if (now == 100 * MS + 5000 * MS)
      late_before = jb->late;
  }
  fprintf(stderr, "jitter 0-80 ms: estimate %.1f ms, target %.1f ms, "
          "depth %.1f ms, late %llu in the first 5 s, %llu after, "
          "%llu stretched\n", jb_jitter_ms(jb), jb_target_ms(jb),
          jb_delay_ms(jb), (unsigned long long)late_before,
          (unsigned long long)(jb->late - late_before),
          (unsigned long long)jb->stretched);
  /* K * jitter + 20 ms: jitter of uniform 0-80 is about 27 ms. */
  cr_assert_gt(jb_target_ms(jb), 80, "target %f", jb_target_ms(jb));
  /* The depth follows the target (a frame of hysteresis, and the 1 ms
   * steps of the pulls). */
  cr_assert_lt(jb_delay_ms(jb), jb_target_ms(jb) + 21, "depth %f",
               jb_delay_ms(jb));
  cr_assert_gt(jb_delay_ms(jb), jb_target_ms(jb) - 11, "depth %f",
               jb_delay_ms(jb));
  cr_assert_gt(p.stretch, 0);
  /* Once adapted, (almost) nothing is late any more. */
  cr_assert_lt(jb->late - late_before, N / 2 / 50,
               "late %llu then %llu", (unsigned long long)late_before,
               (unsigned long long)jb->late);
  cr_assert_gt(late_before, 0);

  /* Then 20 s of a steady stream: the target falls back, slowly. */
  uint64_t base = 100 * MS + N * 20 * MS + 400 * MS;
  unsigned skipped_before = (unsigned)jb->skipped;
  for (uint32_t k = 0; k < 1000; k++) {
    uint32_t idx = N + 20 + k;
    uint64_t now = base + k * 20 * MS;
    jb_insert(jb, idx * MEDIA_FRAME_SAMPLES, idx, (uint8_t *)&idx, 4, now);
    pull_until(now, now + 19 * MS, &p);
    if (k == 10)
      cr_assert_gt(jb_target_ms(jb), 60);   /* not at once */
  }
  fprintf(stderr, "then steady: target %.1f ms, depth %.1f ms, %llu "
          "skipped\n", jb_target_ms(jb), jb_delay_ms(jb),
          (unsigned long long)jb->skipped);
  cr_assert_lt(jb_target_ms(jb), 45, "target %f", jb_target_ms(jb));
  cr_assert_gt(jb->skipped, skipped_before);
  cr_assert_lt(jb_delay_ms(jb), 70, "delay %f", jb_delay_ms(jb));
}

/* The sender stops for 200 ms without skipping a sequence number: the
 * frames before the packet that ends the pause are no loss, and not
 * rebuilt from that packet's FEC data either. */
Test(jitter, sender_pause)
{
  played p = {.in_order = true};
  uint8_t x = 1;
  for (uint32_t k = 0; k < 10; k++) {
    cr_assert_eq(jb_insert(jb, k * MEDIA_FRAME_SAMPLES, k, &x, 1,
                           k * 20 * MS), JB_STORED);
    pull_until(k * 20 * MS, k * 20 * MS + 19 * MS, &p);
  }
  pull_until(200 * MS, 399 * MS, &p);
  /* Frame 20 (10 frames later) with sequence number 10. */
  cr_assert_eq(jb_insert(jb, 20 * MEDIA_FRAME_SAMPLES, 10, &x, 1,
                         20 * 20 * MS), JB_PAUSE_END);
  pull_until(20 * 20 * MS, 20 * 20 * MS, &p);
  cr_assert_eq(p.fec, 0);
  cr_assert_eq(p.decode, 10);
  /* 10-17 played before frame 20 came (underrun), 18 after; 19 next. */
  cr_assert_eq(p.underrun, 8);
  cr_assert_eq(p.pause, 1);
  pull_until(20 * 20 * MS + MS, 30 * 20 * MS, &p);
  cr_assert_eq(p.pause, 2);
  cr_assert_eq(p.decode, 11);

  /* The same with sequence number 12: two packets were lost. */
  cr_assert_eq(jb_insert(jb, 40 * MEDIA_FRAME_SAMPLES, 13, &x, 1,
                         40 * 20 * MS), JB_STORED);
  cr_assert_eq(jb_insert(jb, 39 * MEDIA_FRAME_SAMPLES, 12, &x, 1,
                         40 * 20 * MS), JB_STORED);
  pull_until(30 * 20 * MS + MS, 45 * 20 * MS, &p);
  cr_assert_eq(p.pause, 2);
  cr_assert_eq(p.fec, 1);            /* frame 38 from 39's FEC */
}

Test(jitter, stall_is_silence)
{
  played p = {.in_order = true};
  put(0, 0, 0, JB_STORED);
  pull_until(0, 2000 * MS, &p);
  cr_assert_eq(p.decode, 1);
  cr_assert_gt(p.silence, 40);
  cr_assert_lt(p.plc, 51);           /* concealment for the first second */
}

Test(jitter, timestamp_wrap_and_resync)
{
  played p = {.in_order = true};
  uint32_t ts0 = 0xffffffffu - 5 * MEDIA_FRAME_SAMPLES + 1;
  for (uint32_t k = 0; k < 20; k++) {
    put(ts0, k, k * 20 * MS, JB_STORED);
    pull_until(k * 20 * MS, k * 20 * MS + 19 * MS, &p);
  }
  cr_assert_eq(p.decode, 18);
  cr_assert(p.in_order);
  /* A jump of 10 s in timestamps restarts playout at that packet. */
  put(ts0, 20 + 500, 20 * 20 * MS, JB_RESYNC);
  put(ts0, 20 + 501, 21 * 20 * MS, JB_STORED);
  cr_assert_eq(jb->resyncs, 1);
  /* Off the 20 ms grid. */
  uint8_t x = 0;
  cr_assert_eq(jb_insert(jb, 12345, 0, &x, 1, 22 * 20 * MS), JB_BAD);
  cr_assert_eq(jb_insert(jb, ts0, 0, &x, 0, 22 * 20 * MS), JB_BAD);
}

/* A constant delay, but the first packet comes 25 ms late, together with
 * the second (as one that waited behind the end of call set-up does).
 * Playout starts 40 ms after the fastest packet, not after that first
 * one, so the buffer is never a frame too deep: over 3 s every frame is
 * played once, in order, and none is skipped or inserted. */
Test(jitter, late_first_packet_skips_nothing)
{
  played p = {.in_order = true};
  uint64_t t0 = 100 * MS;   /* frame k is sent at t0 + 20k ms */
  put(5000, 0, t0 + 45 * MS, JB_STORED);
  put(5000, 1, t0 + 45 * MS, JB_STORED);
  for (uint32_t k = 2; k < 150; k++) {
    uint64_t at = t0 + k * 20 * MS + 20 * MS;
    pull_until(at - 19 * MS, at, &p);   /* then the packet due now */
    put(5000, k, at, JB_STORED);
  }
  pull_until(t0 + 150 * 20 * MS, t0 + 150 * 20 * MS + 20 * MS, &p);
  cr_assert_eq(jb->skipped, 0);
  cr_assert_eq(jb->stretched, 0);
  cr_assert_eq(p.plc + p.fec + p.stretch + p.silence, 0);
  cr_assert(p.in_order);
  /* Frames 0-148 played (149 is due 40 ms after it arrived). */
  cr_assert_eq(p.decode, 149, "decoded %u", p.decode);
  cr_assert_eq(p.last_frame, 148);
  /* Frames 0 and 1 waited 15 and 35 ms, every other one 40. */
  cr_assert_eq(p.wait_max_us, 40 * MS);
  cr_assert_eq(jb_next_us(jb), t0 + 20 * MS + 40 * MS + 149 * 20 * MS);
}
