/* Internal state of the media engine, shared by engine.c (thread, events,
 * DTLS-SRTP, pipeline) and ice.c (the libnice agent). Not part of the
 * API: media.h is. Fields marked [lock] are shared with the owner's thread
 * and read or written under `lock`; all others belong to the media thread
 * once it runs. */
#ifndef PARLEY_MEDIA_ENGINE_H
#define PARLEY_MEDIA_ENGINE_H

#include <stdarg.h>

#include <glib.h>
#include <nice/agent.h>

#include "dtls.h"
#include "media.h"
#include "pipe.h"
#include "srtp.h"

#define MEDIA_EARLY_MAX 16 /* DTLS datagrams kept before DTLS starts */

typedef struct early_datagram {
  size_t len;
  uint8_t buf[1500];
} early_datagram;

struct media {
  /* Set in media_new, then read-only. */
  media_opts opts;      /* strings point at the copies below */
  char *stun, *turn, *turn_user, *turn_pass, *fp_override;
  void (*wake)(void *);
  void *wake_ud;
  GMainContext *ctx;
  GMainLoop *loop;
  GThread *thread;
  mdtls_cert *cert;
  int64_t t_new_us;     /* g_get_monotonic_time at media_new */

  GMutex lock;
  GQueue events;              /* [lock] media_event * */
  char ufrag[257], pwd[257];  /* [lock] local ICE credentials */
  bool remote_known;          /* [lock] media_set_remote was called */
  parley_sdp_setup remote_setup; /* [lock] as first given */
  char remote_fp[200];        /* [lock] as first given */
  bool stopped;               /* [lock] media_stop ran */
  int64_t t_offer_us;         /* [lock] setup_ms counts from here; 0 unset */
  bool offer_marked;          /* [lock] set by media_mark_offer */
  bool muted;                 /* [lock] set by media_set_muted */

  /* Media thread. */
  NiceAgent *agent;
  guint stream_id;
  bool remote_set;            /* credentials given to the agent */
  GSList *pending_cands;      /* NiceCandidate * before remote_set */
  bool ice_up;
  bool dtls_client;
  mdtls *dtls;
  early_datagram *early;      /* MEDIA_EARLY_MAX of them */
  size_t early_count;
  GSource *dtls_timer;
  GSource *deadline;
  GSource *tick;
  msrtp *srtp;
  media_pipe *pipe;
  bool connected, failed, first_audio, input_done;
  bool closing;               /* the loop ended; tearing down */
  int64_t t_remote_us, t_ice_us, t_conn_us;
  media_transport_report tr;  /* [lock] timings, pair, counters */
  uint32_t remote_cand_count;
  uint32_t local_cand_count;  /* reported as events */

  /* Filled by media_stop after the thread ended. */
  media_quality report;
  int16_t *heard;
  size_t heard_samples;
};

/* A request from the owner's thread, run on the media thread. */
typedef enum engine_cmd_kind {
  CMD_SET_REMOTE = 1,
  CMD_CANDIDATE,
  CMD_CANDIDATES_DONE,
  CMD_ICE_RESTART
} engine_cmd_kind;

typedef struct engine_cmd {
  media *m;
  engine_cmd_kind kind;
  media_desc desc;            /* CMD_SET_REMOTE */
  NiceCandidate *cand;        /* CMD_CANDIDATE; freed with the command */
  char ufrag[257], pwd[257];  /* CMD_ICE_RESTART: the new credentials */
} engine_cmd;

/* engine.c, media thread */
gboolean engine_run_cmd(gpointer cmd);   /* a GSourceFunc */
void engine_cmd_free(gpointer cmd);      /* any thread */
void engine_teardown(media *m);          /* after the loop ended */
void engine_event(media *m, media_event_kind kind, const char *fmt, ...)
  G_GNUC_PRINTF(3, 4);
void engine_fail(media *m, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void engine_ice_up(media *m);
void engine_ice_failed(media *m);
void engine_on_datagram(media *m, const uint8_t *buf, size_t len);

/* ice.c */
int ice_agent_new(media *m, char *err, size_t cap);  /* owner thread */
void ice_gather(media *m);                           /* media thread */
void ice_report_local_candidates(media *m);          /* media thread */
/* Parses "candidate:..." into a new NiceCandidate for m's stream, or
 * returns NULL with a message. */
NiceCandidate *ice_candidate_parse(media *m, const char *text, char *err,
                                   size_t cap);
void ice_send(media *m, const uint8_t *buf, size_t len);
void ice_agent_free(media *m);                       /* media thread */
void ice_random_credentials(char ufrag[257], char pwd[257]);
/* "ICE state: ..." for failure messages. */
const char *ice_state_name(media *m);

#endif
