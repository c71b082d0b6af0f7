/* `call PEER` and `answer`: an audio call between two reference clients
 * (spec section 19).
 *
 * Three machines meet here, all on the main thread: the client core
 * (signaling, app_core_run's loop), the call machine (parley/call.h) and
 * the media engine (media/media.h), whose own thread queues events and
 * wakes the loop with net_wake. The core's EV_READY, EV_DISCONNECTED and
 * EV_CALL go to the call machine; the call machine's actions are carried
 * out at once (frames through parley_client_call_send, commands to the
 * engine); engine events and the command's deadlines are looked at in
 * the loop's service hook, once per turn.
 *
 * The caller finds or creates the direct conversation with PEER (as
 * `create --with`), places the call once READY, and hangs up 1 s after
 * the engine says the input was sent (or --duration-ms after the call
 * connected). The callee accepts the first RING (from --from only, when
 * given) and ends when the call ends. Both then stop the engine, print
 * the quality report, write it as JSON (--report) and write what they
 * heard (--output). Exit 0 for a call that connected and ended by a
 * hang-up; 1 with "call failed: WHY" otherwise. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "media/media.h"
#include "media/wav.h"
#include "parley/call.h"

#define TAIL_MS 1000

typedef struct call_run {
  const cli *cli;
  app *a;
  bool caller;
  char conv[PARLEY_ID_MAX + 1];
  char peer[PARLEY_USER_MAX + 1]; /* the caller: PEER; the callee: who rang */
  parley_call *m;
  media *md;
  int16_t *input;
  size_t input_samples;
  bool placed;
  uint64_t timer_at;   /* the call machine's TIMER; 0: none */
  uint64_t hangup_at;  /* when this side hangs up; 0: not yet known */
  uint64_t mute_at;    /* --mute-after-ms: when to mute; 0: not (now) */
  uint64_t connected_at;
  /* the end */
  bool ended;
  bool ok;             /* connected, and ended by a hang-up */
  char reason[64];
  char why[700];
  bool stopped;        /* media stopped, report taken */
  media_quality q;
  media_transport_report tr;
  int16_t *heard;
  size_t heard_samples;
} call_run;

/* ---- options ---------------------------------------------------------- */

static int usage_error(const char *fmt, const char *a)
{
  fprintf(stderr, "parley-client: ");
  fprintf(stderr, fmt, a);
  fprintf(stderr, "\n(see parley-client --help)\n");
  return EXIT_USAGE;
}

/* HOST:PORT with a port 1..65535. */
static bool host_port(const char *s)
{
  const char *colon = strrchr(s, ':');
  char *end;
  unsigned long port;

  if (colon == NULL || colon == s)
    return false;
  port = strtoul(colon + 1, &end, 10);
  return colon[1] != '\0' && *end == '\0' && port >= 1 && port <= 65535;
}

int cli_check_call(const cli *c)
{
  bool call = strcmp(c->command, "call") == 0;

  if (call && c->peer == NULL)
    return usage_error("'call' needs the user to call: call PEER%s", "");
  if (call && c->input == NULL && c->duration_ms == 0)
    return usage_error("'call' needs --input FILE.wav (hangs up after"
                       " playing it) or --duration-ms N%s", "");
  if (c->stun != NULL && !host_port(c->stun))
    return usage_error("option '--stun' wants HOST:PORT, not '%s'",
                       c->stun);
  if (c->turn != NULL && !host_port(c->turn))
    return usage_error("option '--turn' wants HOST:PORT, not '%s'",
                       c->turn);
  if (c->turn != NULL && (c->turn_user == NULL || c->turn_password == NULL))
    return usage_error("option '--turn' needs --turn-user and"
                       " --turn-password%s", "");
  if (c->turn == NULL && (c->turn_user != NULL || c->turn_password != NULL))
    return usage_error("options '--turn-user' and '--turn-password' go"
                       " with --turn%s", "");
  if (c->relay_only && c->turn == NULL)
    return usage_error("option '--relay-only' needs --turn HOST:PORT%s", "");
  if (c->loss_hint > 100)
    return usage_error("option '--loss-hint' wants a percentage 0 to 100%s",
                       "");
  return EXIT_OK;
}

/* ---- the media engine ------------------------------------------------- */

static void wake_loop(void *ud)
{
  net_wake(ud);
}

static void desc_to_media(const parley_call_desc *in, media_desc *out)
{
  memset(out, 0, sizeof *out);
  snprintf(out->ufrag, sizeof out->ufrag, "%s", in->ufrag);
  snprintf(out->pwd, sizeof out->pwd, "%s", in->pwd);
  snprintf(out->fp_alg, sizeof out->fp_alg, "%s", in->fp_alg);
  snprintf(out->fingerprint, sizeof out->fingerprint, "%s",
           in->fingerprint);
  out->setup = in->setup;
}

static void media_start(call_run *r, bool controlling, uint64_t now)
{
  const cli *c = r->cli;
  media_opts o;
  char err[300];

  memset(&o, 0, sizeof o);
  o.controlling = controlling;
  o.stun = c->stun;
  o.turn = c->turn;
  o.turn_user = c->turn_user;
  o.turn_pass = c->turn_password;
  o.relay_only = c->relay_only;
  o.fec = !c->no_fec;
  o.loss_hint_pct = c->loss_hint;
  o.input = r->input;
  o.input_samples = r->input_samples;
  o.fingerprint_override = c->advertise_fingerprint;
  r->md = media_new(&o, wake_loop, r->a->net, err, sizeof err);
  if (r->md == NULL)
    parley_call_on_media_failed(r->m, err, now);
  else
    plog_info(0, "media engine started (%s)",
              controlling ? "ICE controlling" : "ICE controlled");
}

static void media_local(call_run *r, uint64_t now)
{
  parley_call_desc d;
  media_desc md;

  if (r->md == NULL)
    return;
  media_local_desc(r->md, &md);
  memset(&d, 0, sizeof d);
  snprintf(d.ufrag, sizeof d.ufrag, "%s", md.ufrag);
  snprintf(d.pwd, sizeof d.pwd, "%s", md.pwd);
  snprintf(d.fp_alg, sizeof d.fp_alg, "%s", md.fp_alg);
  snprintf(d.fingerprint, sizeof d.fingerprint, "%s", md.fingerprint);
  d.setup = md.setup;
  parley_call_on_local_desc(r->m, &d, now);
}

/* Stops the engine once and keeps its report and what was heard. */
static void media_finish(call_run *r)
{
  if (r->stopped)
    return;
  r->stopped = true;
  memset(&r->q, 0, sizeof r->q);
  r->q.rtt_ms = r->q.setup_ms = -1;
  memset(&r->tr, 0, sizeof r->tr);
  r->tr.ice_ms = r->tr.connected_ms = -1;
  if (r->md == NULL)
    return;
  media_stop(r->md, &r->q, &r->heard, &r->heard_samples);
  media_transport(r->md, &r->tr);
}

/* ---- the call machine ------------------------------------------------- */

static void on_call_action(call_run *r, const parley_call_action *act,
                           uint64_t now);

/* Carries out the call machine's actions until none is left. */
static void run_call(call_run *r)
{
  parley_call_action act;
  uint64_t now = net_now_ms();

  while (parley_call_next_action(r->m, &act))
    on_call_action(r, &act, now);
}

/* Sends a call frame through the core. */
static void send_call_frame(call_run *r, const parley_call_action *act,
                            uint64_t now)
{
  char req[PARLEY_ID_MAX + 1];
  parley_err err;

  err = parley_client_call_send(r->a->core, act->verb, act->headers,
                                act->header_count, act->content_type,
                                act->body, act->body_len, now, req);
  if (err != PARLEY_OK)
    parley_call_on_send_failed(r->m, err, now);
  else
    plog_debug(0, "sent %s (%s)", act->verb, req);
}

static void on_remote(call_run *r, const parley_call_action *act,
                      uint64_t now)
{
  media_desc d;
  char err[300];

  if (r->md == NULL)
    return;
  desc_to_media(&act->remote, &d);
  if (media_set_remote(r->md, &d, err, sizeof err) != 0)
    parley_call_on_media_failed(r->m, err, now);
}

static void on_ended(call_run *r, const parley_call_action *act)
{
  r->ended = true;
  r->ok = act->was_connected && !act->failed;
  snprintf(r->reason, sizeof r->reason, "%s", act->reason);
  if (act->failed || act->text == NULL || act->text[0] == '\0')
    snprintf(r->why, sizeof r->why, "%s",
             act->text && act->text[0] ? act->text : act->reason);
  else if (!act->was_connected)
    snprintf(r->why, sizeof r->why, "%s%s", act->reason,
             strcmp(act->reason, "declined") == 0 ? " by the peer" : "");
  else
    snprintf(r->why, sizeof r->why, "%s", act->reason);
  if (!act->was_connected && !act->failed &&
      strcmp(act->reason, "no-answer") != 0)
    snprintf(r->why, sizeof r->why, "the call ended before it connected"
             " (%s)", act->reason);
  media_finish(r);
}

/* The user-facing events of the call machine. */
static void on_call_event(call_run *r, const parley_call_action *act,
                          uint64_t now)
{
  switch (act->kind) {
  case PARLEY_CALL_EV_STATE:
    plog_info(0, "call %s: %s", act->call[0] ? act->call : "-",
              parley_call_state_name(act->state));
    break;
  case PARLEY_CALL_EV_RINGING:
    if (act->state == PARLEY_CALL_RINGING_IN) {
      snprintf(r->conv, sizeof r->conv, "%s", act->conv);
      snprintf(r->peer, sizeof r->peer, "%s", act->peer);
      plog_info(0, "call %s from %s rings; answering", act->call,
                act->peer);
      /* --answer-timeout-ms bounds the wait for a call, not the call:
       * from here the call machine's own deadlines end it. */
      r->a->run_deadline_ms = 0;
      parley_call_accept(r->m, now);
    } else {
      plog_info(0, "call %s rings at %s", act->call, r->cli->peer);
    }
    break;
  case PARLEY_CALL_EV_CONNECTED:
    r->connected_at = now;
    plog_info(0, "call %s connected with %s", act->call, act->peer);
    if (r->cli->duration_ms != 0)
      r->hangup_at = now + r->cli->duration_ms;
    if (r->cli->mute_after_ms != 0)
      r->mute_at = now + r->cli->mute_after_ms;
    break;
  case PARLEY_CALL_EV_PEER_MEDIA:
    printf("%s %s\n", act->peer, act->audio ? "unmuted" : "muted");
    fflush(stdout);
    plog_info(0, "%s: audio %s", act->peer, act->audio ? "on" : "off");
    break;
  case PARLEY_CALL_EV_PEER_LEFT:
    plog_info(0, "%s left the call (%s)", act->peer, act->reason);
    break;
  case PARLEY_CALL_EV_WARNING:
    plog_warn(0, "call: %s", act->text);
    break;
  case PARLEY_CALL_EV_ENDED:
    on_ended(r, act);
    break;
  default:
    break;
  }
}

static void on_call_action(call_run *r, const parley_call_action *act,
                           uint64_t now)
{
  char err[300];

  switch (act->kind) {
  case PARLEY_CALL_SEND:
    send_call_frame(r, act, now);
    break;
  case PARLEY_CALL_TIMER:
    r->timer_at = act->at_ms;
    break;
  case PARLEY_CALL_MEDIA_START:
    media_start(r, act->controlling, now);
    break;
  case PARLEY_CALL_MEDIA_LOCAL_DESC:
    media_local(r, now);
    break;
  case PARLEY_CALL_MEDIA_REMOTE:
    on_remote(r, act, now);
    break;
  case PARLEY_CALL_MEDIA_CANDIDATE:
    if (r->md != NULL &&
        media_add_remote_candidate(r->md, act->text, err, sizeof err) != 0)
      plog_warn(0, "a remote candidate was not taken: %s", err);
    break;
  case PARLEY_CALL_MEDIA_CANDIDATES_DONE:
    if (r->md != NULL)
      media_remote_candidates_done(r->md);
    break;
  case PARLEY_CALL_MEDIA_ICE_RESTART:
    if (r->md != NULL && media_ice_restart(r->md) != 0)
      plog_warn(0, "the media engine could not restart ICE");
    break;
  case PARLEY_CALL_MEDIA_STOP:
    media_finish(r);
    break;
  default:
    on_call_event(r, act, now);
    break;
  }
}

/* ---- hooks of the core loop ------------------------------------------- */

static void hook_event(void *ud, app *a, const parley_client_action *act)
{
  call_run *r = ud;
  uint64_t now = net_now_ms();

  (void)a;
  if (act->kind == PARLEY_CLIENT_EV_READY) {
    parley_call_on_ready(r->m, act->reconnected, now);
    if (!r->placed && r->caller) {
      r->placed = true;
      if (!parley_client_has_cap(r->a->core, "calls"))
        plog_warn(0, "the server did not list the capability calls");
      parley_call_place(r->m, r->conv, now);
    } else if (!r->placed && !r->caller) {
      r->placed = true;
      plog_info(0, "waiting for a call%s%s", r->cli->from ? " from " : "",
                r->cli->from ? r->cli->from : "");
    }
  } else if (act->kind == PARLEY_CLIENT_EV_DISCONNECTED) {
    parley_call_on_disconnected(r->m, now);
  } else if (act->kind == PARLEY_CLIENT_EV_CALL) {
    parley_call_on_frame(r->m, act->call, now);
  } else {
    return;
  }
  run_call(r);
}

/* Feeds the engine's queued events to the call machine. */
static void media_events(call_run *r, uint64_t now)
{
  media_event ev;

  while (r->md != NULL && !r->stopped && media_next_event(r->md, &ev)) {
    if (ev.kind == MEDIA_EV_CANDIDATE) {
      parley_call_on_local_candidate(r->m, ev.text, now);
    } else if (ev.kind == MEDIA_EV_GATHERING_DONE) {
      parley_call_on_gathering_done(r->m, now);
    } else if (ev.kind == MEDIA_EV_CONNECTED) {
      parley_call_on_media_connected(r->m, now);
    } else if (ev.kind == MEDIA_EV_FIRST_AUDIO) {
      plog_info(0, "first audio from the peer played");
    } else if (ev.kind == MEDIA_EV_INPUT_DONE) {
      plog_info(0, "the input was sent");
      if (r->caller && r->cli->duration_ms == 0)
        r->hangup_at = now + TAIL_MS;
    } else if (ev.kind == MEDIA_EV_FAILED) {
      parley_call_on_media_failed(r->m, ev.text, now);
    }
    run_call(r);
  }
}

/* Arms the wake timer for the earliest of this command's deadlines. */
static void arm_wake(call_run *r, uint64_t now)
{
  uint64_t at = r->timer_at;

  if (r->hangup_at != 0 && (at == 0 || r->hangup_at < at))
    at = r->hangup_at;
  if (r->mute_at != 0 && (at == 0 || r->mute_at < at))
    at = r->mute_at;
  if (at != 0)
    net_timer(r->a->net, NET_TIMER_WAKE, at > now ? at - now : 0);
}

/* --mute-after-ms: the engine sends silence from now on (its report counts
 * those packets as muted) and the peers hear MEDIA-STATE audio: off
 * (CALLCLI-5, CALLCLI-6). */
static void mute(call_run *r, uint64_t now)
{
  r->mute_at = 0;
  if (r->md != NULL)
    media_set_muted(r->md, true);
  if (parley_call_media_state(r->m, false, false, false, now) != PARLEY_OK)
    plog_warn(0, "could not send MEDIA-STATE (not in the call)");
  else
    plog_info(0, "muted");
}

/* Once per turn of the loop: engine events, deadlines, a stop signal. */
static void hook_service(void *ud, app *a)
{
  call_run *r = ud;
  uint64_t now = net_now_ms();

  media_events(r, now);
  if (r->timer_at != 0 && now >= r->timer_at) {
    r->timer_at = 0;
    parley_call_on_time(r->m, now);
  }
  if (r->mute_at != 0 && now >= r->mute_at)
    mute(r, now);
  if (r->hangup_at != 0 && now >= r->hangup_at) {
    r->hangup_at = 0;
    plog_info(0, "hanging up");
    parley_call_hangup(r->m, now);
  }
  if (a->stop_flag != NULL && *a->stop_flag &&
      parley_call_get_state(r->m) != PARLEY_CALL_ENDED)
    parley_call_hangup(r->m, now);
  run_call(r);
  app_core_actions(a);
  arm_wake(r, now);
}

static bool hook_done(void *ud, app *a)
{
  (void)a;
  return ((call_run *)ud)->ended;
}

/* ---- the report ------------------------------------------------------- */

static void print_report(const call_run *r, FILE *out)
{
  const media_quality *q = &r->q;

  fprintf(out, "call %s %s %s: %s (%s)\n",
          parley_call_id(r->m)[0] ? parley_call_id(r->m) : "-",
          r->caller ? "to" : "from", r->peer[0] ? r->peer : "-",
          r->ok ? "completed" : "failed", r->reason);
  fprintf(out, "  packets sent %" PRIu64 ", received %" PRIu64 ", lost %"
          PRIu64 " (%.2f %%), recovered by FEC %" PRIu64 ", concealed %"
          PRIu64 ", late %" PRIu64 ", duplicate %" PRIu64 ", muted %" PRIu64
          "\n",
          q->packets_sent, q->packets_received, q->packets_lost, q->loss_pct,
          q->packets_recovered_fec, q->packets_concealed, q->packets_late,
          q->packets_duplicate, q->packets_muted);
  fprintf(out, "  jitter %.1f ms, jitter buffer %.1f ms, round trip ",
          q->jitter_ms, q->jitter_buffer_ms);
  if (q->rtt_ms < 0)
    fprintf(out, "unknown");
  else
    fprintf(out, "%.1f ms", q->rtt_ms);
  fprintf(out, ", set-up ");
  if (q->setup_ms < 0)
    fprintf(out, "unknown\n");
  else
    fprintf(out, "%.0f ms\n", q->setup_ms);
  fprintf(out, "  RTCP sent %" PRIu64 ", received %" PRIu64 "; ",
          q->rtcp_sent, q->rtcp_received);
  if (q->mos < 0)
    fprintf(out, "no MOS estimate (no audio received)\n");
  else
    fprintf(out, "R-factor %.1f, MOS %.2f\n", q->r_factor, q->mos);
  if (r->tr.local_type[0] != '\0')
    fprintf(out, "  path %s %s -> %s %s\n", r->tr.local_type,
            r->tr.local_addr, r->tr.remote_type, r->tr.remote_addr);
}

static json_t *quality_json(const media_quality *q)
{
  return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
                   " s:f, s:f, s:f, s:f, s:f, s:f, s:f}",
                   "packets_sent", (json_int_t)q->packets_sent,
                   "packets_received", (json_int_t)q->packets_received,
                   "packets_lost", (json_int_t)q->packets_lost,
                   "packets_recovered_fec",
                   (json_int_t)q->packets_recovered_fec,
                   "packets_concealed", (json_int_t)q->packets_concealed,
                   "packets_late", (json_int_t)q->packets_late,
                   "packets_duplicate", (json_int_t)q->packets_duplicate,
                   "packets_muted", (json_int_t)q->packets_muted,
                   "rtcp_sent", (json_int_t)q->rtcp_sent,
                   "rtcp_received", (json_int_t)q->rtcp_received,
                   "loss_pct", q->loss_pct, "jitter_ms", q->jitter_ms,
                   "rtt_ms", q->rtt_ms, "setup_ms", q->setup_ms,
                   "jitter_buffer_ms", q->jitter_buffer_ms,
                   "r_factor", q->r_factor, "mos", q->mos);
}

/* The report as JSON: measures that are unknown (-1) are null. */
static json_t *quality_json_nulls(const media_quality *q)
{
  json_t *o = quality_json(q);
  static const char *const maybe[] = {"rtt_ms", "setup_ms", "r_factor",
                                      "mos"};

  for (size_t i = 0; o != NULL && i < sizeof maybe / sizeof *maybe; i++) {
    json_t *v = json_object_get(o, maybe[i]);
    if (v != NULL && json_real_value(v) < 0)
      json_object_set_new(o, maybe[i], json_null());
  }
  return o;
}

static json_t *transport_json(const media_transport_report *t)
{
  return json_pack("{s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:s, s:s}",
                   "ice_ms", t->ice_ms, "connected_ms", t->connected_ms,
                   "srtp_auth_fail", (json_int_t)t->srtp_auth_fail,
                   "srtp_replay", (json_int_t)t->srtp_replay,
                   "srtp_other_fail", (json_int_t)t->srtp_other_fail,
                   "dropped_early", (json_int_t)t->dropped_early,
                   "dropped_other", (json_int_t)t->dropped_other,
                   "local_type", t->local_type, "remote_type",
                   t->remote_type, "local_addr", t->local_addr,
                   "remote_addr", t->remote_addr);
}

/* Writes the JSON report. Returns false after printing why. */
static bool write_report(const call_run *r, const char *path)
{
  json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:o, s:o}",
                        "call", parley_call_id(r->m),
                        "role", r->caller ? "caller" : "callee",
                        "conv", r->conv, "peer", r->peer,
                        "completed", r->ok, "reason", r->reason,
                        "message", r->why, "quality", quality_json_nulls(&r->q),
                        "transport", transport_json(&r->tr));
  int rc = j ? json_dump_file(j, path, JSON_INDENT(2) | JSON_SORT_KEYS)
             : -1;

  json_decref(j);
  if (rc != 0)
    fprintf(stderr, "parley-client: --report %s: could not write it\n",
            path);
  return rc == 0;
}

/* ---- the command ------------------------------------------------------ */

/* The direct conversation with PEER: found or created (POST
 * /v1/conversations finds an existing one). Returns an exit code. */
static int direct_conv(app *a, const char *peer, char *out, size_t cap)
{
  json_t *req = json_pack("{s:s, s:[s]}", "kind", "direct", "members",
                          peer);
  json_t *reply = NULL;
  const char *id;
  int rc, status = 0;

  rc = req ? app_api(a, "POST", "/v1/conversations", req, &status, &reply)
           : EXIT_FAIL;
  json_decref(req);
  if (rc != EXIT_OK)
    return rc;
  id = json_string_value(json_object_get(reply, "id"));
  if ((status == 200 || status == 201) && id != NULL &&
      strlen(id) < cap) {
    snprintf(out, cap, "%s", id);
  } else {
    app_api_error("call", status, reply);
    rc = EXIT_FAIL;
  }
  json_decref(reply);
  return rc;
}

static int read_input(call_run *r)
{
  char err[300];

  if (r->cli->input == NULL)
    return EXIT_OK;
  if (wav_read(r->cli->input, &r->input, &r->input_samples, err,
               sizeof err) != 0) {
    fprintf(stderr, "parley-client: --input %s\n", err);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

static parley_call *new_machine(const cli *c, app *a)
{
  parley_call_config cfg;
  uint64_t seed = net_now_ms() ^ ((uint64_t)(uintptr_t)a << 16);

  memset(&cfg, 0, sizeof cfg);
  cfg.user = c->app.user;
  cfg.device = a->device;
  cfg.ring_from = c->from;
  if (strcmp(c->command, "call") == 0)
    cfg.answer_timeout_ms = (uint32_t)(c->answer_timeout_ms > UINT32_MAX
                                           ? UINT32_MAX
                                           : c->answer_timeout_ms);
  cfg.fec = !c->no_fec;
  cfg.seed = seed;
  return parley_call_new(&cfg);
}

/* Prints and writes what the call left: the report, the heard audio.
 * Returns the exit code. */
static int finish(call_run *r, int rc)
{
  char err[300];

  media_finish(r);
  if (r->cli->output != NULL &&
      wav_write(r->cli->output, r->heard, r->heard_samples, err,
                sizeof err) != 0) {
    fprintf(stderr, "parley-client: --output %s\n", err);
    rc = EXIT_FAIL;
  }
  if (r->ended || r->md != NULL)
    print_report(r, stdout);
  if (r->cli->report != NULL && !write_report(r, r->cli->report))
    rc = EXIT_FAIL;
  if (rc == EXIT_OK && r->ended && !r->ok) {
    fprintf(stderr, "parley-client: call failed: %s\n", r->why);
    rc = EXIT_FAIL;
  }
  return rc;
}

/* The run after the options were checked: open, (caller: find the
 * conversation), run the loop, report. */
static int run(const cli *c, volatile int *stop, bool caller)
{
  app a;
  call_run r;
  app_hooks hooks = {&r, NULL, hook_event, hook_done};
  app_opts o = c->app;
  int rc;

  memset(&r, 0, sizeof r);
  r.cli = c;
  r.a = &a;
  r.caller = caller;
  if (caller)
    snprintf(r.peer, sizeof r.peer, "%s", c->peer);
  o.calls = true;
  if ((rc = read_input(&r)) != EXIT_OK)
    return rc;
  if ((rc = app_open(&a, &o, stop)) != EXIT_OK)
    goto done;
  if (caller && (rc = direct_conv(&a, c->peer, r.conv, sizeof r.conv)) !=
                    EXIT_OK)
    goto done;
  if ((rc = app_core_open(&a)) != EXIT_OK)
    goto done;
  if ((r.m = new_machine(c, &a)) == NULL) {
    fprintf(stderr, "parley-client: bad --user or --device\n");
    rc = EXIT_USAGE;
    goto done;
  }
  if (!caller && c->answer_timeout_ms != 0)
    a.run_deadline_ms = net_now_ms() + c->answer_timeout_ms;
  a.service = hook_service;
  rc = app_core_run(&a, &hooks);
  if (rc == EXIT_OK && !r.ended) {
    fprintf(stderr, "parley-client: %s\n",
            a.timed_out && parley_call_get_state(r.m) == PARLEY_CALL_IDLE
                ? "call failed: no call came within --answer-timeout-ms"
                : "call failed: stopped before the call ended");
    rc = EXIT_FAIL;
  }
  rc = finish(&r, rc);

done:
  media_free(r.md);
  parley_call_free(r.m);
  free(r.heard);
  free(r.input);
  app_close(&a);
  return rc;
}

int cmd_call(const cli *c, volatile int *stop)
{
  return run(c, stop, true);
}

int cmd_answer(const cli *c, volatile int *stop)
{
  return run(c, stop, false);
}
