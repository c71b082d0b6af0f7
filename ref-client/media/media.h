/* The call media engine of the reference client (spec section 19).
 *
 * One `media` is one call leg to one participant: an ICE agent (libnice,
 * one stream, one component since RTP and RTCP are multiplexed), DTLS 1.2
 * over that component to agree on SRTP keys, libsrtp2 for the packets and
 * the audio pipeline (pipe.h) that makes and plays them. It all runs on a
 * thread of its own with its own GLib main loop; every function below is
 * called from the owner's thread (the CLI's main thread), never from the
 * media thread, and none of them blocks for long.
 *
 * Offer/answer and DTLS roles: the side that calls media_local_desc before
 * media_set_remote is the offerer and advertises setup "actpass"; the side
 * that learns the remote description first is the answerer and advertises
 * "active", which makes it the DTLS client (RFC 5763). ICE roles come from
 * media_opts.controlling alone (libnice resolves a conflict by itself).
 *
 * Events (candidates to trickle, connected, first audio, failure) are
 * queued by the media thread; each time one is queued it calls the wake
 * callback (on the media thread), and the owner then drains the queue with
 * media_next_event on its own thread. */
#ifndef PARLEY_MEDIA_H
#define PARLEY_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/sdp.h"
#include "pipe.h"

typedef struct media media;

typedef struct media_opts {
  bool controlling;             /* ICE controlling: the side that sends
                                   the first OFFER (the callee) */
  const char *stun;             /* "HOST:PORT" or NULL */
  const char *turn;             /* "HOST:PORT" or NULL (TURN over UDP) */
  const char *turn_user, *turn_pass;
  bool relay_only;              /* offer and use relayed candidates only */
  bool all_interfaces;          /* host candidates on every interface too;
                                   default: 127.0.0.1 only */
  bool fec; uint32_t loss_hint_pct; uint32_t bitrate; /* 0: default */
  const int16_t *input; size_t input_samples; /* 48 kHz mono; borrowed
                                                 until media_stop */
  bool loop_input;              /* play the input again and again */
  uint8_t pt;                   /* RTP payload type of opus; 0: 111 */
  uint32_t jitter_min_ms, jitter_max_ms; /* 0: the pipeline's defaults */
  const char *fingerprint_override; /* test aid: advertised instead of
                                       the certificate's own */
  uint32_t ice_timeout_ms;      /* connect deadline, 0: 10000 */
} media_opts;

/* What goes into this side's SDP (and what the peer's SDP said). */
typedef struct media_desc {
  char ufrag[257], pwd[257];
  char fp_alg[16];              /* "sha-256" */
  char fingerprint[200];        /* "AB:CD:..." upper-case hex pairs */
  parley_sdp_setup setup;
} media_desc;

typedef enum media_event_kind {
  MEDIA_EV_CANDIDATE = 1,  /* text: "candidate:..." (RFC 8839 value) */
  MEDIA_EV_GATHERING_DONE, /* all local candidates were reported */
  MEDIA_EV_CONNECTED,      /* ICE, DTLS and SRTP are up; media flows */
  MEDIA_EV_FIRST_AUDIO,    /* the first received frame was played */
  MEDIA_EV_INPUT_DONE,     /* the whole input was sent (not with loop) */
  MEDIA_EV_FAILED          /* text: why; the engine sends nothing more */
} media_event_kind;

typedef struct media_event {
  media_event_kind kind;
  char text[600];
} media_event;

/* What the transport saw, beside the pipeline's media_quality. */
typedef struct media_transport_report {
  double ice_ms;        /* media_set_remote -> ICE ready; -1 never */
  double connected_ms;  /* media_set_remote -> SRTP up; -1 never */
  uint32_t ice_connects;     /* times ICE came up: 2 after a restart */
  uint64_t srtp_in;          /* SRTP/SRTCP packets that passed */
  uint64_t srtp_auth_fail;   /* packets whose auth tag did not verify */
  uint64_t srtp_replay;      /* packets seen before (or too old) */
  uint64_t srtp_other_fail;  /* any other unprotect failure */
  uint64_t dropped_early;    /* RTP/RTCP received before SRTP was up */
  uint64_t dropped_other;    /* neither DTLS nor RTP/RTCP by its first
                                octet (RFC 7983), or too large */
  char local_type[8];   /* selected pair: "host", "srflx", "relay"... */
  char remote_type[8];
  char local_addr[64];  /* "IP:PORT" of the selected pair */
  char remote_addr[64];
} media_transport_report;

/* Starts the media thread, creates this call's certificate and begins
 * gathering candidates (reported as MEDIA_EV_CANDIDATE events). `o` and
 * its strings are copied except o->input, which is borrowed until
 * media_stop. `wake(wake_ud)` is called from the media thread each time
 * an event is queued. Returns NULL with a message in err on failure. */
media *media_new(const media_opts *o, void (*wake)(void *), void *wake_ud,
                 char *err, size_t cap);

/* This side's ICE credentials, fingerprint and setup role. */
void media_local_desc(media *m, media_desc *out);

/* The peer's description (from its OFFER or ANSWER). A second call with
 * new ICE credentials after an ICE restart updates them; the fingerprint
 * and setup must not change. Starts the connect deadline. Returns 0, or
 * -1 with a message in err (bad fingerprint or setup). */
int media_set_remote(media *m, const media_desc *remote, char *err,
                     size_t cap);

/* One trickled remote candidate ("candidate:..."; an "a=" prefix is
 * allowed). Returns 0, or -1 with a message in err when it does not
 * parse or is not a UDP candidate of component 1. */
int media_add_remote_candidate(media *m, const char *cand, char *err,
                               size_t cap);

/* The peer sent END-OF-CANDIDATES. */
void media_remote_candidates_done(media *m);

/* ICE restart: new local ufrag/pwd (read them with media_local_desc); the
 * local candidates are reported again as events. DTLS and SRTP stay.
 * Returns 0 or -1. */
int media_ice_restart(media *m);

/* Takes the oldest queued event. Returns false when there is none. */
bool media_next_event(media *m, media_event *out);

/* The OFFER was sent (offerer) or received (answerer) just now: the
 * report's setup_ms counts from this moment to the first audio played.
 * Without it, it counts from the first media_local_desc or
 * media_set_remote, whichever came first. Only the first call counts. */
void media_mark_offer(media *m);

/* Mutes or unmutes the audio sent (media_pipe_set_muted): from the next
 * frame on, silence goes out in place of the input. Any time. */
void media_set_muted(media *m, bool muted);

/* Stops the media thread (idempotent). Fills *report (when not NULL)
 * with the pipeline's report, all zero with rtt_ms and setup_ms -1 when
 * media never flowed (see media_mark_offer for setup_ms). *heard (when
 * not NULL) gets a malloc'd copy of the audio played (48 kHz mono), which
 * the caller frees; NULL when none. */
void media_stop(media *m, media_quality *report, int16_t **heard,
                size_t *samples);

/* The transport's counters so far (any time, also after media_stop). */
void media_transport(media *m, media_transport_report *out);

/* Stops (if needed) and frees everything. NULL is allowed. */
void media_free(media *m);

#endif
