/* The adaptive jitter buffer.
 *
 * Frames are numbered by their RTP timestamp: idx = (ts - ts0) / 960,
 * ts0 the first packet's timestamp, so playout follows the timestamps
 * and not the arrival order, and sequence numbers (which wrap at 65536)
 * play no part here. A ring of JB_RING slots holds each frame at
 * idx % JB_RING, tagged with its idx: "held" until played, "done" after,
 * so a copy arriving later is told apart as a duplicate from a packet
 * that missed its turn (late).
 *
 * Playout clock: frame play_idx is due at next_play_us; each pull plays
 * one frame and moves both on by 20 ms. For a packet, transit = arrival
 * - idx * 20 ms; the fastest recent transit (the minimum over two
 * windows of 50 packets) waits longest, and that wait is the buffer's
 * depth: depth = (next_play_us - play_idx * 20 ms) - min transit.
 *
 * Start: playout is first set for target after the first packet's
 * arrival. That packet is often later than the ones after it (it waited
 * behind the end of call set-up, or for a thread to wake), and a start
 * measured from it would leave the buffer deeper than the target by that
 * lateness, which the shrink rule below then took out by skipping a
 * frame a second into the call. So until the first frame is played, the
 * start follows the fastest packet: it moves earlier to target after the
 * minimum transit whenever a packet shows a smaller one. Nothing has been
 * heard yet, so moving the start costs no audio.
 *
 * Adaptation: target = clamp(K * jitter + 20 ms, min, max), jitter the
 * RFC 3550 A.8 estimator on arrival times, K = 3 (delays spread
 * uniformly over a span S give a mean |D| of S / 3, so 3 * jitter is the
 * span and the added frame the margin), smoothed with a time constant
 * of about 32 frames. When the depth falls 10 ms under the target one
 * concealment frame is inserted (grow, at most every 200 ms); when it is
 * a frame or more over the target one frame is skipped (shrink, at most
 * every second, and only when the next frame is held, so a skip never
 * lands in a gap). Growing fast and shrinking slowly trades a little
 * delay for fewer late packets. The hysteresis (-10 ms, +20 ms) is wider
 * than one step, so a grow never calls for a shrink or back.
 *
 * A frame skipped or inserted moves the audio by 20 ms: the price of
 * adapting without time-stretching the signal.
 *
 * Loss or pause: a frame that is not held when its turn comes is rebuilt
 * from the FEC data of the next frame when that one is held, else
 * concealed. Sequence numbers tell a sender's pause (no packet was made
 * for those frames: the next packet held follows the last one played in
 * sequence) from loss; a pause is concealed but is no loss and is not
 * "rebuilt" from FEC data that belongs to another frame. */
#include "jitter.h"

#include <math.h>
#include <string.h>

#include "pipe.h"

enum { SLOT_EMPTY = 0, SLOT_HELD, SLOT_DONE };

#define JB_K 3.0
#define JB_WINDOW 50
#define JB_GROW_EVERY_US 200000
#define JB_SHRINK_EVERY_US 1000000
#define JB_SMOOTH 32.0

void jb_init(jitter_buffer *jb, uint32_t min_ms, uint32_t max_ms)
{
  memset(jb, 0, offsetof(jitter_buffer, slots));
  for (size_t i = 0; i < JB_RING; i++) {
    jb->slots[i].state = SLOT_EMPTY;
    jb->slots[i].idx = 0;
  }
  jb->min_us = (uint64_t)min_ms * 1000;
  jb->max_us = (uint64_t)(max_ms > min_ms ? max_ms : min_ms) * 1000;
  jb->target_us = (double)jb->min_us;
}

static jb_slot *slot_of(jitter_buffer *jb, uint32_t idx)
{
  return &jb->slots[idx % JB_RING];
}

/* Frame indexes are taken as signed: a packet from before the first one
 * has a negative index (idx wraps after 2^31 frames, 497 days). */
static int64_t transit_of(uint32_t idx, uint64_t now_us)
{
  return (int64_t)now_us - (int64_t)(int32_t)idx * MEDIA_FRAME_US;
}

/* The desired target for the jitter seen now. */
static double desired_us(const jitter_buffer *jb)
{
  double d = JB_K * jb->jitter_us + MEDIA_FRAME_US;
  if (d < (double)jb->min_us)
    d = (double)jb->min_us;
  if (d > (double)jb->max_us)
    d = (double)jb->max_us;
  return d;
}

/* Updates the jitter estimate and the transit windows. */
static void observe(jitter_buffer *jb, uint32_t idx, uint64_t now_us)
{
  int64_t transit = transit_of(idx, now_us);
  if (jb->have_transit) {
    double d = fabs((double)(transit - jb->last_transit_us));
    jb->jitter_us += (d - jb->jitter_us) / 16.0;
  }
  jb->have_transit = true;
  jb->last_transit_us = transit;

  if (jb->win_count == 0 || transit < jb->win_min[0])
    jb->win_min[0] = transit;
  if (++jb->win_count >= JB_WINDOW) {
    jb->win_min[1] = jb->win_min[0];
    jb->win_count = 0;
  }
  jb->last_arrival_us = now_us;
}

/* Starts (or restarts) playout at the frame of ts arriving at now_us. */
static void start_at(jitter_buffer *jb, uint32_t ts, uint64_t now_us)
{
  uint64_t next = now_us + (uint64_t)jb->target_us;
  if (jb->started && jb->next_play_us > next)
    next = jb->next_play_us;
  for (size_t i = 0; i < JB_RING; i++)
    jb->slots[i].state = SLOT_EMPTY;
  jb->started = true;
  jb->ts0 = ts;
  jb->play_idx = 0;
  jb->high_idx = 0;
  jb->have_seq = jb->have_seq_prev = false;
  jb->next_play_us = next;
  jb->have_transit = false;
  jb->win_count = 0;
  jb->win_min[0] = jb->win_min[1] = transit_of(0, now_us);
  jb->last_grow_us = jb->last_shrink_us = now_us;
}

/* Keeps a payload; returns true when it ends a pause of the sender: its
 * sequence number follows the highest one but its frame does not. */
static bool store(jitter_buffer *jb, uint32_t idx, uint32_t seq,
                  const uint8_t *payload, size_t len, uint64_t now_us)
{
  jb_slot *s = slot_of(jb, idx);
  s->state = SLOT_HELD;
  s->idx = idx;
  s->seq = seq;
  s->arrival_us = now_us;
  s->len = len;
  memcpy(s->data, payload, len);
  if ((int32_t)(idx - jb->high_idx) > 0)
    jb->high_idx = idx;

  bool pause = jb->have_seq && seq == jb->high_seq + 1 &&
               (int32_t)(idx - jb->high_seq_idx) > 1;
  if (!jb->have_seq || (int32_t)(seq - jb->high_seq) > 0) {
    jb->have_seq = true;
    jb->high_seq = seq;
    jb->high_seq_idx = idx;
  }
  return pause;
}

/* Before the first frame is played: playout starts target after the
 * fastest transit seen so far (see the design note). */
static void settle_start(jitter_buffer *jb)
{
  if (jb->playing)
    return;
  int64_t min = jb->win_min[0] < jb->win_min[1] ? jb->win_min[0]
                                                : jb->win_min[1];
  int64_t due = min + (int64_t)(int32_t)jb->play_idx * MEDIA_FRAME_US +
                (int64_t)jb->target_us;
  if (due < (int64_t)jb->next_play_us)
    jb->next_play_us = (uint64_t)due;
}

jb_result jb_insert(jitter_buffer *jb, uint32_t ts, uint32_t seq,
                    const uint8_t *payload, size_t len, uint64_t now_us)
{
  if (len == 0 || len > AUDIO_PACKET_MAX)
    return JB_BAD;
  if (!jb->started)
    start_at(jb, ts, now_us);
  /* Relative to the playout position, so that neither a packet from
   * before the first one nor the 2^32 wrap of timestamps confuses it. */
  uint32_t play_ts = jb->ts0 + jb->play_idx * MEDIA_FRAME_SAMPLES;
  int32_t diff = (int32_t)(ts - play_ts);
  if (diff % MEDIA_FRAME_SAMPLES != 0)
    return JB_BAD;

  int32_t ahead = diff / MEDIA_FRAME_SAMPLES;
  uint32_t idx = jb->play_idx + (uint32_t)ahead;
  jb_slot *s = slot_of(jb, idx);
  if (s->idx == idx && s->state != SLOT_EMPTY) {
    jb->duplicate++;
    return JB_DUPLICATE;
  }
  if (ahead < 0) {
    observe(jb, idx, now_us);
    if (s->idx == idx)
      s->state = SLOT_DONE;   /* a second copy is a duplicate */
    jb->late++;
    return JB_LATE;
  }
  if (ahead >= JB_AHEAD_MAX) {
    jb->resyncs++;
    start_at(jb, ts, now_us);
    observe(jb, 0, now_us);
    store(jb, 0, seq, payload, len, now_us);
    return JB_RESYNC;
  }
  observe(jb, idx, now_us);
  settle_start(jb);
  return store(jb, idx, seq, payload, len, now_us) ? JB_PAUSE_END
                                                   : JB_STORED;
}

double jb_delay_ms(const jitter_buffer *jb)
{
  if (!jb->started)
    return 0;
  int64_t offset = (int64_t)jb->next_play_us -
                   (int64_t)(int32_t)jb->play_idx * MEDIA_FRAME_US;
  int64_t min = jb->win_min[0] < jb->win_min[1] ? jb->win_min[0]
                                                : jb->win_min[1];
  return (double)(offset - min) / 1000.0;
}

double jb_target_ms(const jitter_buffer *jb)
{
  return jb->target_us / 1000.0;
}

double jb_jitter_ms(const jitter_buffer *jb)
{
  return jb->jitter_us / 1000.0;
}

uint64_t jb_next_us(const jitter_buffer *jb)
{
  return jb->started ? jb->next_play_us : UINT64_MAX;
}

/* Moves playout past frame play_idx, remembering what was there. */
static void advance(jitter_buffer *jb)
{
  jb_slot *s = slot_of(jb, jb->play_idx);
  if (s->idx == jb->play_idx && s->state == SLOT_HELD) {
    s->state = SLOT_DONE;
    jb->have_seq_prev = true;
    jb->seq_prev = s->seq;
  } else if (s->idx != jb->play_idx) {
    s->idx = jb->play_idx;
    s->state = SLOT_EMPTY;
  }
  jb->play_idx++;
}

static bool held(jitter_buffer *jb, uint32_t idx)
{
  jb_slot *s = slot_of(jb, idx);
  return s->idx == idx && s->state == SLOT_HELD;
}

/* Grows or shrinks the depth by a frame when it is off the target;
 * returns true when a concealment frame is to be inserted now. */
static bool adapt(jitter_buffer *jb, uint64_t now_us)
{
  jb->target_us += (desired_us(jb) - jb->target_us) / JB_SMOOTH;
  double depth_us = jb_delay_ms(jb) * 1000.0;

  if (depth_us < jb->target_us - MEDIA_FRAME_US / 2 &&
      now_us >= jb->last_grow_us + JB_GROW_EVERY_US) {
    jb->last_grow_us = now_us;
    jb->stretched++;
    return true;
  }
  if (depth_us >= jb->target_us + MEDIA_FRAME_US &&
      now_us >= jb->last_shrink_us + JB_SHRINK_EVERY_US &&
      held(jb, jb->play_idx + 1)) {
    jb->last_shrink_us = now_us;
    jb->skipped++;
    advance(jb);
  }
  return false;
}

/* The first frame held after play_idx, or NULL. */
static const jb_slot *next_held(jitter_buffer *jb)
{
  for (uint32_t i = 1; i < JB_AHEAD_MAX; i++) {
    uint32_t idx = jb->play_idx + i;
    if ((int32_t)(idx - jb->high_idx) > 0)
      break;
    if (held(jb, idx))
      return slot_of(jb, idx);
  }
  return NULL;
}

/* Frame play_idx is not held: rebuild it from the next frame's FEC data,
 * or conceal it; no loss at all when the next packet held follows the
 * last one played in sequence (the sender paused). */
static void missing(jitter_buffer *jb, jb_out *out)
{
  const jb_slot *next = next_held(jb);
  out->action = JB_PLC;
  if (!next) {
    out->underrun = true;
  } else if (jb->have_seq_prev && next->seq == jb->seq_prev + 1) {
    out->pause = true;
  } else if (next->idx == jb->play_idx + 1) {
    out->action = JB_FEC;
    out->pkt = next->data;
    out->len = next->len;
  }
}

bool jb_pull(jitter_buffer *jb, uint64_t now_us, jb_out *out)
{
  if (!jb->started || now_us < jb->next_play_us)
    return false;
  jb->playing = true;
  memset(out, 0, sizeof *out);
  out->ts = jb->ts0 + jb->play_idx * MEDIA_FRAME_SAMPLES;

  if (now_us >= jb->last_arrival_us + JB_STALL_US) {
    out->action = JB_SILENCE;
  } else if (adapt(jb, now_us)) {
    out->action = JB_STRETCH;
    jb->next_play_us += MEDIA_FRAME_US;
    return true;   /* playout stays on the same frame */
  } else if (held(jb, jb->play_idx)) {
    jb_slot *s = slot_of(jb, jb->play_idx);
    out->action = JB_DECODE;
    out->pkt = s->data;
    out->len = s->len;
    out->wait_us = now_us > s->arrival_us ? now_us - s->arrival_us : 0;
  } else {
    missing(jb, out);
  }
  out->ts = jb->ts0 + jb->play_idx * MEDIA_FRAME_SAMPLES;
  advance(jb);
  jb->next_play_us += MEDIA_FRAME_US;
  return true;
}
