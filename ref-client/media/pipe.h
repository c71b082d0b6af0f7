/* The call media pipeline of the reference client: Opus frames in RTP
 * every 20 ms from an input PCM buffer, RTCP sender and receiver reports,
 * an adaptive jitter buffer, decoding with in-band FEC and loss
 * concealment into an output PCM buffer, and the quality report (spec
 * section 19, "Calls").
 *
 * The pipeline is pure: it opens no socket, reads no clock and starts no
 * thread. The transport engine feeds it plaintext packets and the time
 * (now_us, any monotonic microsecond clock) and carries what it sends.
 * One thread at a time may use a pipe. */
#ifndef PARLEY_MEDIA_PIPE_H
#define PARLEY_MEDIA_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Samples per second and per 20 ms frame (48 kHz mono). */
#define MEDIA_RATE 48000
#define MEDIA_FRAME_SAMPLES 960
#define MEDIA_FRAME_US 20000

/* The quality report of spec section 19.8, as this pipe receives. Lost:
 * expected (extended highest sequence number) minus received without
 * duplicates. Recovered: lost frames decoded from the next packet's FEC
 * data. Concealed: frames played from loss concealment because of loss
 * or lateness (not the jitter buffer's own inserted frames, nor a
 * sender's pause or the end of the stream). */
typedef struct media_quality {
  uint64_t packets_sent, packets_received, packets_lost,
           packets_recovered_fec, packets_concealed, packets_late,
           packets_duplicate, rtcp_sent, rtcp_received;
  uint64_t packets_muted;  /* of packets_sent, sent as silence (muted) */
  double loss_pct;         /* packets_lost / expected, percent */
  double jitter_ms;        /* RFC 3550 interarrival jitter, ms */
  double rtt_ms;           /* from RTCP LSR/DLSR; -1 unknown */
  double setup_ms;         /* offer sent -> first audio played; -1 unknown */
  double jitter_buffer_ms; /* mean wait in the jitter buffer of the
                              frames played from packets (spec 19.8) */
  double r_factor, mos;    /* E-model (quality.h); -1: no audio came */
} media_quality;

typedef struct media_pipe_opts {
  const int16_t *input;    /* 48 kHz mono; borrowed, outlives the pipe */
  size_t input_samples;
  bool loop_input;         /* start over at the end instead of silence */
  bool fec;                /* Opus in-band FEC */
  uint32_t bitrate;        /* bit/s; 0: 32000 */
  uint32_t loss_hint_pct;  /* OPUS_SET_PACKET_LOSS_PERC, 0-100 */
  uint32_t ssrc;
  uint16_t first_seq;
  uint32_t first_ts;
  uint8_t pt;              /* RTP payload type; 0: 111 */
  uint32_t jitter_min_ms;  /* 0: 40 */
  uint32_t jitter_max_ms;  /* 0: 300 */
} media_pipe_opts;

typedef struct media_pipe media_pipe;

/* Sends one plaintext RTP or RTCP packet (the engine protects it). */
typedef void (*media_send_fn)(void *ud, const uint8_t *pkt, size_t len);

/* A new pipe, or NULL with a message in err (bad options, Opus failed). */
media_pipe *media_pipe_new(const media_pipe_opts *o, char *err, size_t cap);
void media_pipe_free(media_pipe *p);

/* Runs everything due at now_us: the 20 ms frames due (RTP through send),
 * RTCP (SR or RR, SDES CNAME) every 500 ms and with the first packet,
 * and the playout of due frames into the output (decode, FEC or PLC).
 * The first call starts the send clock. */
void media_pipe_tick(media_pipe *p, uint64_t now_us, media_send_fn send,
                     void *ud);

/* A received plaintext RTP or RTCP packet (RFC 5761 demultiplexing by
 * payload type 192-223). Anything malformed or foreign is ignored. */
void media_pipe_on_packet(media_pipe *p, const uint8_t *pkt, size_t len,
                          uint64_t now_us);

/* When media_pipe_tick next has work, in us (0 before the first tick). */
uint64_t media_pipe_next_us(const media_pipe *p);

/* Whether every input sample has been sent (never with loop_input). */
bool media_pipe_input_done(const media_pipe *p);

/* Whether a frame has been played; *at_us is when (may be NULL). */
bool media_pipe_first_audio(const media_pipe *p, uint64_t *at_us);

/* The audio played so far (48 kHz mono); it starts with the first frame
 * played, concealed frames included. Valid until the next tick or free. */
const int16_t *media_pipe_output(const media_pipe *p, size_t *samples);

/* Sends the RTCP BYE of our source (RFC 3550 6.6) in a compound with
 * our SR or RR, with reason (may be NULL): call it once, at hangup. */
void media_pipe_bye(media_pipe *p, uint64_t now_us, const char *reason,
                    media_send_fn send, void *ud);

/* Whether the remote source has said BYE. */
bool media_pipe_remote_bye(const media_pipe *p);

/* Records when the offer was sent, for setup_ms. */
void media_pipe_mark_offer(media_pipe *p, uint64_t at_us);

/* Muted: the frames sent from now carry silence in place of the input
 * (which goes on passing, so unmuting resumes where the input is then);
 * packets still go out, and the report counts them as packets_muted. */
void media_pipe_set_muted(media_pipe *p, bool muted);

/* The report as of now (may be called at any time). */
void media_pipe_report(const media_pipe *p, media_quality *out);

#endif
