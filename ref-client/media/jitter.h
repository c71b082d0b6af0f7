/* The adaptive jitter buffer of the call media path: holds received Opus
 * payloads by RTP timestamp and says, every 20 ms of playout, what to
 * play: a packet, the next packet's FEC data, concealment or silence. */
#ifndef PARLEY_MEDIA_JITTER_H
#define PARLEY_MEDIA_JITTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio.h"

/* Frames the ring remembers (held ahead of playout and played behind
 * it, for duplicate detection): 2.56 s. */
#define JB_RING 128
/* A packet this many frames or more ahead of playout restarts it. */
#define JB_AHEAD_MAX 64
/* No packet for this long: the stream is stalled, playout is silence. */
#define JB_STALL_US 1000000

typedef enum jb_result {
  JB_STORED = 0,
  JB_LATE,        /* its playout time has passed: dropped */
  JB_DUPLICATE,   /* held or played already: dropped */
  JB_BAD,         /* too long, or a timestamp off the 20 ms grid */
  JB_RESYNC,      /* far from playout: playout restarted at it */
  JB_PAUSE_END    /* stored; the sender paused before it (its sequence
                     number follows the last one, its timestamp jumps) */
} jb_result;

typedef enum jb_action {
  JB_DECODE = 1,  /* pkt is the frame */
  JB_FEC,         /* the frame is missing; pkt is the next one */
  JB_PLC,         /* the frame is missing and nothing rebuilds it */
  JB_STRETCH,     /* an inserted frame (concealment) to grow the delay */
  JB_SILENCE      /* stalled: nothing arrives */
} jb_action;

typedef struct jb_out {
  jb_action action;
  const uint8_t *pkt;   /* JB_DECODE, JB_FEC; valid until the next call */
  size_t len;
  uint32_t ts;          /* RTP timestamp of the frame played */
  uint64_t wait_us;     /* JB_DECODE: from the packet's arrival to now */
  bool underrun;        /* JB_PLC: no later packet is held either */
  bool pause;           /* JB_PLC: never sent (the sender paused) */
} jb_out;

typedef struct jb_slot {
  uint8_t state;        /* empty, held, done */
  uint32_t idx;         /* frame index the slot belongs to */
  uint32_t seq;         /* extended RTP sequence number */
  uint64_t arrival_us;
  size_t len;
  uint8_t data[AUDIO_PACKET_MAX];
} jb_slot;

typedef struct jitter_buffer {
  uint64_t min_us, max_us;
  bool started;
  uint32_t ts0;              /* RTP timestamp of frame index 0 */
  bool playing;              /* a frame has been played */
  uint32_t play_idx;         /* the next frame to play */
  uint32_t high_idx;         /* the highest frame index held */
  bool have_seq;
  uint32_t high_seq;         /* the highest sequence number stored */
  uint32_t high_seq_idx;     /* and its frame index */
  bool have_seq_prev;
  uint32_t seq_prev;         /* sequence number of the last frame played */
  uint64_t next_play_us;
  uint64_t last_arrival_us;
  uint64_t last_grow_us, last_shrink_us;
  double jitter_us;          /* RFC 3550 A.8 style, on arrival times */
  bool have_transit;
  int64_t last_transit_us;
  int64_t win_min[2];        /* min transit, this and the last window */
  unsigned win_count;
  double target_us;          /* smoothed target delay */
  uint64_t late, duplicate, stretched, skipped, resyncs;
  jb_slot slots[JB_RING];
} jitter_buffer;

/* Sets up jb (zeroed or not) with the delay bounds in ms. */
void jb_init(jitter_buffer *jb, uint32_t min_ms, uint32_t max_ms);

/* Offers a received payload with RTP timestamp ts and extended sequence
 * number seq at now_us. */
jb_result jb_insert(jitter_buffer *jb, uint32_t ts, uint32_t seq,
                    const uint8_t *payload, size_t len, uint64_t now_us);

/* When a frame is due at or before now_us, says what to play in *out,
 * advances playout by one frame and returns true; else false. */
bool jb_pull(jitter_buffer *jb, uint64_t now_us, jb_out *out);

/* When the next frame is due (UINT64_MAX before the first packet). */
uint64_t jb_next_us(const jitter_buffer *jb);

/* The target delay now and the delay the fastest recent packet waits
 * (the buffer's actual depth), both in ms. */
double jb_target_ms(const jitter_buffer *jb);
double jb_delay_ms(const jitter_buffer *jb);

/* The jitter of arrivals the buffer estimates, ms. */
double jb_jitter_ms(const jitter_buffer *jb);

#endif
