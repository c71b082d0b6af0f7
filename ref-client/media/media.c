/* The call media engine's API and its thread: see media.h.
 *
 * The owner's thread never touches the ICE agent, DTLS or SRTP state once
 * the media thread runs. It checks what it is given, then posts a command
 * (an idle source on the media context, so it runs on the media thread in
 * the order posted) and returns. What both threads need (local and remote
 * credentials, the DTLS role, the event queue, the stopped flag) sits
 * behind one mutex. Local ICE credentials are made here, on the owner's
 * thread, so media_local_desc answers at once, even right after an ICE
 * restart.
 *
 * Lifetime: media_new starts the thread; media_stop quits its loop from
 * inside the media context, joins it (the thread frees the agent, DTLS
 * and SRTP before it ends), then reads the pipeline's report and output;
 * media_free frees the rest. Commands still queued when the loop quits
 * are freed with the context, unrun. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine.h"

#define ICE_TIMEOUT_DEFAULT_MS 10000
#define EVENTS_MAX 4096 /* beyond this the owner is not listening */

static void *thread_main(void *ud) {
  media *m = ud;
  g_main_context_push_thread_default(m->ctx);
  ice_gather(m);
  g_main_loop_run(m->loop);
  engine_teardown(m);
  g_main_context_pop_thread_default(m->ctx);
  return NULL;
}

/* Runs cmd on the media thread, after the commands posted before it. */
static void post(media *m, engine_cmd *cmd) {
  cmd->m = m;
  GSource *s = g_idle_source_new();
  g_source_set_priority(s, G_PRIORITY_DEFAULT);
  g_source_set_callback(s, engine_run_cmd, cmd, engine_cmd_free);
  g_source_attach(s, m->ctx);
  g_source_unref(s);
}

static engine_cmd *cmd_new(engine_cmd_kind kind) {
  engine_cmd *c = g_new0(engine_cmd, 1);
  c->kind = kind;
  return c;
}

void engine_event(media *m, media_event_kind kind, const char *fmt, ...) {
  media_event *e = g_new0(media_event, 1);
  e->kind = kind;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->text, sizeof e->text, fmt, ap);
  va_end(ap);

  g_mutex_lock(&m->lock);
  if (g_queue_get_length(&m->events) < EVENTS_MAX)
    g_queue_push_tail(&m->events, e);
  else
    g_free(e);
  g_mutex_unlock(&m->lock);
  if (m->wake)
    m->wake(m->wake_ud);
}

static char *dup_or_null(const char *s) {
  return s ? g_strdup(s) : NULL;
}

/* Copies the options (strings too, except the borrowed input). */
static void copy_opts(media *m, const media_opts *o) {
  m->opts = *o;
  m->stun = dup_or_null(o->stun);
  m->turn = dup_or_null(o->turn);
  m->turn_user = dup_or_null(o->turn_user);
  m->turn_pass = dup_or_null(o->turn_pass);
  m->fp_override = dup_or_null(o->fingerprint_override);
  m->opts.stun = m->stun;
  m->opts.turn = m->turn;
  m->opts.turn_user = m->turn_user;
  m->opts.turn_pass = m->turn_pass;
  m->opts.fingerprint_override = m->fp_override;
  if (m->opts.ice_timeout_ms == 0)
    m->opts.ice_timeout_ms = ICE_TIMEOUT_DEFAULT_MS;
}

/* The parts of media_new that can fail. Returns 0 or -1 with err set. */
static int setup(media *m, char *err, size_t cap) {
  if (msrtp_global_init(err, cap) != 0)
    return -1;
  m->cert = mdtls_cert_new(err, cap);
  if (!m->cert)
    return -1;
  ice_random_credentials(m->ufrag, m->pwd);
  m->ctx = g_main_context_new();
  m->loop = g_main_loop_new(m->ctx, FALSE);
  if (ice_agent_new(m, err, cap) != 0)
    return -1;

  GError *gerr = NULL;
  m->thread = g_thread_try_new("parley-media", thread_main, m, &gerr);
  if (!m->thread) {
    snprintf(err, cap, "cannot start the media thread: %s", gerr->message);
    g_error_free(gerr);
    return -1;
  }
  return 0;
}

media *media_new(const media_opts *o, void (*wake)(void *), void *wake_ud,
                 char *err, size_t cap) {
  if (o->fingerprint_override
      && !mdtls_fingerprint_valid(o->fingerprint_override)) {
    snprintf(err, cap, "the fingerprint to advertise must be 32 hex pairs "
             "joined by ':'");
    return NULL;
  }
  media *m = g_new0(media, 1);
  g_mutex_init(&m->lock);
  g_queue_init(&m->events);
  m->wake = wake;
  m->wake_ud = wake_ud;
  m->t_new_us = g_get_monotonic_time();
  m->tr.ice_ms = -1;
  m->tr.connected_ms = -1;
  copy_opts(m, o);
  if (setup(m, err, cap) != 0) {
    media_free(m);
    return NULL;
  }
  return m;
}

/* The offer/answer exchange starts (lock held): setup_ms counts from the
 * first description written or read, unless media_mark_offer said. */
static void exchange_starts(media *m) {
  if (!m->t_offer_us)
    m->t_offer_us = g_get_monotonic_time();
}

void media_mark_offer(media *m) {
  g_mutex_lock(&m->lock);
  if (!m->offer_marked) {
    m->offer_marked = true;
    m->t_offer_us = g_get_monotonic_time();
  }
  g_mutex_unlock(&m->lock);
}

void media_set_muted(media *m, bool muted) {
  g_mutex_lock(&m->lock);
  m->muted = muted;
  g_mutex_unlock(&m->lock);
}

void media_local_desc(media *m, media_desc *out) {
  memset(out, 0, sizeof *out);
  g_mutex_lock(&m->lock);
  exchange_starts(m);
  g_strlcpy(out->ufrag, m->ufrag, sizeof out->ufrag);
  g_strlcpy(out->pwd, m->pwd, sizeof out->pwd);
  if (!m->remote_known)
    out->setup = PARLEY_SETUP_ACTPASS;
  else if (m->remote_setup == PARLEY_SETUP_ACTIVE)
    out->setup = PARLEY_SETUP_PASSIVE;
  else
    out->setup = PARLEY_SETUP_ACTIVE;
  g_mutex_unlock(&m->lock);
  g_strlcpy(out->fp_alg, "sha-256", sizeof out->fp_alg);
  g_strlcpy(out->fingerprint, m->fp_override ? m->fp_override
            : mdtls_cert_fingerprint(m->cert), sizeof out->fingerprint);
}

/* Checks a remote description. Returns 0 or -1 with err set. */
static int check_remote(const media_desc *r, char *err, size_t cap) {
  size_t ul = strnlen(r->ufrag, sizeof r->ufrag);
  size_t pl = strnlen(r->pwd, sizeof r->pwd);
  if (ul < 4 || ul > 256 || pl < 22 || pl > 256) {
    snprintf(err, cap, "ICE credentials out of range (ufrag 4-256, pwd "
             "22-256 characters)");
    return -1;
  }
  if (strcasecmp(r->fp_alg, "sha-256") != 0) {
    snprintf(err, cap, "fingerprint hash \"%s\" is not supported (only "
             "sha-256)", r->fp_alg);
    return -1;
  }
  if (!mdtls_fingerprint_valid(r->fingerprint)) {
    snprintf(err, cap, "fingerprint is not 32 hex pairs joined by ':'");
    return -1;
  }
  if (r->setup == PARLEY_SETUP_NONE) {
    snprintf(err, cap, "no DTLS setup role (a=setup) in the description");
    return -1;
  }
  return 0;
}

int media_set_remote(media *m, const media_desc *remote, char *err,
                     size_t cap) {
  if (check_remote(remote, err, cap) != 0)
    return -1;
  int rc = 0;
  g_mutex_lock(&m->lock);
  if (m->stopped) {
    snprintf(err, cap, "the media engine has stopped");
    rc = -1;
  } else if (!m->remote_known) {
    exchange_starts(m);
    m->remote_known = true;
    m->remote_setup = remote->setup;
    g_strlcpy(m->remote_fp, remote->fingerprint, sizeof m->remote_fp);
  } else if (!mdtls_fingerprint_equal(m->remote_fp, remote->fingerprint)) {
    snprintf(err, cap, "the peer's fingerprint changed mid-call; a new "
             "DTLS session on one call leg is not supported");
    rc = -1;
  }
  g_mutex_unlock(&m->lock);
  if (rc != 0)
    return rc;
  engine_cmd *c = cmd_new(CMD_SET_REMOTE);
  c->desc = *remote;
  post(m, c);
  return 0;
}

int media_add_remote_candidate(media *m, const char *cand, char *err,
                               size_t cap) {
  NiceCandidate *nc = ice_candidate_parse(m, cand, err, cap);
  if (!nc)
    return -1;
  engine_cmd *c = cmd_new(CMD_CANDIDATE);
  c->cand = nc;
  post(m, c);
  return 0;
}

void media_remote_candidates_done(media *m) {
  post(m, cmd_new(CMD_CANDIDATES_DONE));
}

int media_ice_restart(media *m) {
  engine_cmd *c = cmd_new(CMD_ICE_RESTART);
  ice_random_credentials(c->ufrag, c->pwd);
  g_mutex_lock(&m->lock);
  bool stopped = m->stopped;
  if (!stopped) {
    g_strlcpy(m->ufrag, c->ufrag, sizeof m->ufrag);
    g_strlcpy(m->pwd, c->pwd, sizeof m->pwd);
  }
  g_mutex_unlock(&m->lock);
  if (stopped) {
    engine_cmd_free(c);
    return -1;
  }
  post(m, c);
  return 0;
}

bool media_next_event(media *m, media_event *out) {
  g_mutex_lock(&m->lock);
  media_event *e = g_queue_pop_head(&m->events);
  g_mutex_unlock(&m->lock);
  if (!e)
    return false;
  *out = *e;
  g_free(e);
  return true;
}

/* Fills m->report and m->heard from the pipeline (thread ended). */
static void collect(media *m) {
  memset(&m->report, 0, sizeof m->report);
  m->report.rtt_ms = -1;
  m->report.setup_ms = -1;
  if (!m->pipe)
    return;
  media_pipe_report(m->pipe, &m->report);
  size_t n = 0;
  const int16_t *pcm = media_pipe_output(m->pipe, &n);
  if (pcm && n) {
    m->heard = g_malloc(n * sizeof *pcm);
    memcpy(m->heard, pcm, n * sizeof *pcm);
    m->heard_samples = n;
  }
  media_pipe_free(m->pipe);
  m->pipe = NULL;
}

static gboolean quit_loop(gpointer ud) {
  media *m = ud;
  g_main_loop_quit(m->loop);
  return G_SOURCE_REMOVE;
}

void media_stop(media *m, media_quality *report, int16_t **heard,
                size_t *samples) {
  g_mutex_lock(&m->lock);
  bool first = !m->stopped;
  m->stopped = true;
  g_mutex_unlock(&m->lock);
  if (first && m->thread) {
    GSource *s = g_idle_source_new();
    g_source_set_priority(s, G_PRIORITY_HIGH);
    g_source_set_callback(s, quit_loop, m, NULL);
    g_source_attach(s, m->ctx);
    g_source_unref(s);
    g_thread_join(m->thread);
    m->thread = NULL;
  }
  if (first)
    collect(m);
  if (report)
    *report = m->report;
  size_t n = 0;
  if (heard) {
    *heard = NULL;
    if (m->heard)
      *heard = malloc(m->heard_samples * sizeof **heard);
    if (*heard) {
      memcpy(*heard, m->heard, m->heard_samples * sizeof **heard);
      n = m->heard_samples;
    }
  }
  if (samples)
    *samples = n;
}

void media_transport(media *m, media_transport_report *out) {
  g_mutex_lock(&m->lock);
  *out = m->tr;
  g_mutex_unlock(&m->lock);
}

void media_free(media *m) {
  if (!m)
    return;
  media_stop(m, NULL, NULL, NULL);
  if (m->agent) /* the thread never ran */
    ice_agent_free(m);
  media_event *e;
  while ((e = g_queue_pop_head(&m->events)))
    g_free(e);
  if (m->loop)
    g_main_loop_unref(m->loop);
  if (m->ctx)
    g_main_context_unref(m->ctx);
  mdtls_cert_free(m->cert);
  g_free(m->heard);
  g_free(m->stun);
  g_free(m->turn);
  g_free(m->turn_user);
  g_free(m->turn_pass);
  g_free(m->fp_override);
  g_mutex_clear(&m->lock);
  g_free(m);
}
