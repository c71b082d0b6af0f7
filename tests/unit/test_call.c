/* Unit tests for the client call machine (include/parley/call.h).
 *
 * Two machines, a caller (alice on device a1) and a callee (bob on b1),
 * are wired back to back through a small fake server written here: it
 * answers CALL with a call id and RINGs the callee, answers JOIN with
 * PARTICIPANTS and JOINED, relays OFFER, ANSWER, CANDIDATE and the rest
 * with `from` and `device`, and turns HANGUP into CALL-END. The media
 * engine is faked too: each side's description is made up here, and
 * "connected" or "failed" is fed by the test. The clock is a variable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "parley/call.h"

#define LOG_MAX 1024
#define VIDEO_FP "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:" \
                 "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF"
#define QUEUE_MAX 256

/* One side: its machine, what it did and what it was told. */
typedef struct side {
  parley_call *m;
  const char *user, *device;
  int generation;              /* ICE credentials generation */
  bool media_started, controlling;
  bool remote_set;
  parley_call_desc remote;
  int ice_restarts;
  int candidates_added;        /* MEDIA_CANDIDATE */
  char last_candidate[PARLEY_CANDIDATE_MAX + 1];
  bool candidates_done;
  bool media_stopped;
  parley_call_action log[LOG_MAX]; /* events, pointers cleared */
  size_t nlog;
  bool ended;
  char ended_reason[64];
  char ended_text[400];
  bool ended_failed, ended_connected;
  parley_err ended_err;
  char sent[LOG_MAX][32];      /* verbs sent, in order */
  char *sent_body[LOG_MAX];    /* their bodies (or NULL) */
  char sent_hdrs[LOG_MAX][512]; /* "name=value;" ... */
  size_t nsent;
  uint64_t timer_at;
} side;

/* A frame on its way from the fake server to a side. */
typedef struct delivery {
  side *to;
  parley_call_frame f;
  char *body;
} delivery;

static side A, B;
static delivery queue[QUEUE_MAX];
static size_t qhead, qcount;
static uint64_t now;
static int call_seq;
static char call_id[PARLEY_ID_MAX + 1];
/* Fault switches of the fake server. */
static parley_err refuse_call;      /* ERROR to CALL with this code */
static bool mangle_offer;           /* the OFFER reaches A broken */
static bool video_offer;            /* the OFFER reaches A with video */
static bool group_of_three;         /* PARTICIPANTS lists carol too */
static bool online_a = true, online_b = true;

static side *other(side *s)
{
  return s == &A ? &B : &A;
}

static void enqueue(side *to, const parley_call_frame *f, const char *body,
                    size_t len)
{
  delivery *d;

  cr_assert_lt(qcount, QUEUE_MAX);
  d = &queue[(qhead + qcount++) % QUEUE_MAX];
  d->to = to;
  d->f = *f;
  d->body = malloc(len + 1);
  cr_assert_not_null(d->body);
  if (len > 0)
    memcpy(d->body, body, len);
  d->body[len] = '\0';
  d->f.body = d->body;
  d->f.body_len = len;
}

static const char *hdr(const parley_call_action *a, const char *name)
{
  size_t i;

  for (i = 0; i < a->header_count; i++)
    if (strcmp(a->headers[i].name, name) == 0)
      return a->headers[i].value;
  return NULL;
}

static void set(char *dst, size_t cap, const char *src)
{
  snprintf(dst, cap, "%s", src ? src : "");
}
#define SET_(field, src) set(field, sizeof field, src)

/* An answer (OK or ERROR) to the request `a` of side s. */
static void answer(side *s, const parley_call_action *a, parley_err err)
{
  parley_call_frame f;

  memset(&f, 0, sizeof f);
  SET_(f.verb, err == PARLEY_OK ? "OK" : "ERROR");
  SET_(f.request, a->verb);
  SET_(f.request_call, hdr(a, "call"));
  SET_(f.call, hdr(a, "call") ? hdr(a, "call") : call_id);
  f.err = err;
  if (err != PARLEY_OK)
    SET_(f.reason, parley_err_reason(err));
  enqueue(s, &f, err ? "the conversation has a call already" : "",
          err ? 35 : 0);
}

/* The server's events about the call, to one side. */
static void event(side *to, const char *verb, const char *user,
                  const char *device, const char *reason, const char *body)
{
  parley_call_frame f;

  memset(&f, 0, sizeof f);
  SET_(f.verb, verb);
  SET_(f.call, call_id);
  SET_(f.conv, "c1");
  SET_(f.user, user);
  SET_(f.from, user);
  SET_(f.device, device);
  SET_(f.reason, reason);
  SET_(f.media, "audio");
  enqueue(to, &f, body ? body : "", body ? strlen(body) : 0);
}

/* Relays a frame of s to the other side as the server would. */
static void relay(side *s, const parley_call_action *a)
{
  parley_call_frame f;
  const char *body = a->body ? a->body : "";
  size_t len = a->body ? a->body_len : 0;
  char broken[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                  "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-pwd:short\r\n";
  static char video[8192];

  memset(&f, 0, sizeof f);
  SET_(f.verb, a->verb);
  SET_(f.call, hdr(a, "call"));
  SET_(f.from, s->user);
  SET_(f.device, s->device);
  SET_(f.candidate, hdr(a, "candidate"));
  SET_(f.mid, hdr(a, "mid"));
  SET_(f.audio, hdr(a, "audio"));
  SET_(f.video, hdr(a, "video"));
  SET_(f.screen, hdr(a, "screen"));
  f.ice_restart = hdr(a, "ice-restart") != NULL &&
                  strcmp(hdr(a, "ice-restart"), "yes") == 0;
  if (a->content_type != NULL)
    SET_(f.content_type, a->content_type);
  if (mangle_offer && strcmp(a->verb, "OFFER") == 0) {
    body = broken;
    len = strlen(broken);
  }
  if (video_offer && strcmp(a->verb, "OFFER") == 0) {
    snprintf(video, sizeof video, "%.*sm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
             "a=rtpmap:96 VP8/90000\r\na=mid:1\r\na=rtcp-mux\r\n"
             "a=ice-ufrag:vid1\r\na=ice-pwd:videopasswordlongenough\r\n"
             "a=fingerprint:sha-256 %s\r\na=setup:actpass\r\n",
             (int)len, body, VIDEO_FP);
    body = video;
    len = strlen(video);
  }
  enqueue(other(s), &f, body, len);
}

/* The fake server handles one request of side s. */
static void serve(side *s, const parley_call_action *a)
{
  const char *v = a->verb;
  char list[80];

  if (strcmp(v, "CALL") == 0) {
    if (refuse_call != PARLEY_OK) {
      answer(s, a, refuse_call);
      return;
    }
    snprintf(call_id, sizeof call_id, "k%d", ++call_seq);
    answer(s, a, PARLEY_OK);
    event(other(s), "RING", s->user, s->device, NULL, NULL);
  } else if (strcmp(v, "JOIN") == 0) {
    answer(s, a, PARLEY_OK);
    snprintf(list, sizeof list, "%s %s\n%s %s\n%s", other(s)->user,
             other(s)->device, s->user, s->device,
             group_of_three ? "carol c1\n" : "");
    event(s, "PARTICIPANTS", NULL, NULL, NULL, list);
    event(other(s), "JOINED", s->user, s->device, NULL, NULL);
  } else if (strcmp(v, "HANGUP") == 0) {
    answer(s, a, PARLEY_OK);
    event(&A, "CALL-END", NULL, NULL, hdr(a, "reason"), NULL);
    event(&B, "CALL-END", NULL, NULL, hdr(a, "reason"), NULL);
  } else {
    answer(s, a, PARLEY_OK);
    relay(s, a);
  }
}

/* The fake media engine's description of side s. */
static void fake_desc(side *s, parley_call_desc *d)
{
  memset(d, 0, sizeof d[0]);
  snprintf(d->ufrag, sizeof d->ufrag, "%sgen%d", s->user, s->generation);
  snprintf(d->pwd, sizeof d->pwd, "pwdof%sislongenoughforice%d", s->user,
           s->generation);
  snprintf(d->fp_alg, sizeof d->fp_alg, "sha-256");
  snprintf(d->fingerprint, sizeof d->fingerprint,
           "%s:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
           "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE",
           s == &A ? "AA" : "BB");
}

static void record_sent(side *s, const parley_call_action *a)
{
  size_t i, n = 0;

  cr_assert_lt(s->nsent, LOG_MAX);
  SET_(s->sent[s->nsent], a->verb);
  s->sent_body[s->nsent] = a->body ? strdup(a->body) : NULL;
  for (i = 0; i < a->header_count; i++)
    n += (size_t)snprintf(s->sent_hdrs[s->nsent] + n,
                          sizeof s->sent_hdrs[0] - n, "%s=%s;",
                          a->headers[i].name, a->headers[i].value);
  s->nsent++;
}

static void record_event(side *s, const parley_call_action *a)
{
  cr_assert_lt(s->nlog, LOG_MAX);
  s->log[s->nlog] = *a;
  s->log[s->nlog].text = NULL;
  s->log[s->nlog].verb = NULL;
  s->log[s->nlog].body = NULL;
  s->nlog++;
  if (a->kind == PARLEY_CALL_EV_ENDED) {
    s->ended = true;
    SET_(s->ended_reason, a->reason);
    SET_(s->ended_text, a->text);
    s->ended_failed = a->failed;
    s->ended_connected = a->was_connected;
    s->ended_err = a->err;
  }
}

/* Carries out what side s's machine asked for. Returns true when it did
 * anything. */
static bool drain(side *s)
{
  parley_call_action a;
  parley_call_desc d;
  bool any = false, give_desc = false;

  while (parley_call_next_action(s->m, &a)) {
    any = true;
    switch (a.kind) {
    case PARLEY_CALL_SEND:
      record_sent(s, &a);
      if ((s == &A && online_a) || (s == &B && online_b))
        serve(s, &a);
      break;
    case PARLEY_CALL_TIMER:
      s->timer_at = a.at_ms;
      break;
    case PARLEY_CALL_MEDIA_START:
      s->media_started = true;
      s->controlling = a.controlling;
      break;
    case PARLEY_CALL_MEDIA_LOCAL_DESC:
      give_desc = true;
      break;
    case PARLEY_CALL_MEDIA_REMOTE:
      s->remote_set = true;
      s->remote = a.remote;
      break;
    case PARLEY_CALL_MEDIA_CANDIDATE:
      s->candidates_added++;
      SET_(s->last_candidate, a.text);
      break;
    case PARLEY_CALL_MEDIA_CANDIDATES_DONE:
      s->candidates_done = true;
      break;
    case PARLEY_CALL_MEDIA_ICE_RESTART:
      s->ice_restarts++;
      s->generation++;
      break;
    case PARLEY_CALL_MEDIA_STOP:
      s->media_stopped = true;
      break;
    default:
      record_event(s, &a);
      break;
    }
  }
  if (give_desc) {
    cr_assert(s->media_started, "a description asked before media start");
    fake_desc(s, &d);
    parley_call_on_local_desc(s->m, &d, now);
  }
  return any;
}

/* Runs both sides and the server until nothing moves. */
static void pump(void)
{
  bool moved = true;

  while (moved) {
    moved = drain(&A) | drain(&B);
    while (qcount > 0) {
      delivery *d = &queue[qhead];
      qhead = (qhead + 1) % QUEUE_MAX;
      qcount--;
      parley_call_on_frame(d->to->m, &d->f, now);
      free(d->body);
      moved = true;
      drain(d->to);
    }
  }
}

static void make(side *s, const char *user, const char *device,
                 const char *ring_from)
{
  parley_call_config cfg;

  memset(s, 0, sizeof *s);
  memset(&cfg, 0, sizeof cfg);
  s->user = user;
  s->device = device;
  cfg.user = user;
  cfg.device = device;
  cfg.ring_from = ring_from;
  cfg.answer_timeout_ms = 5000;
  cfg.connect_timeout_ms = 8000;
  cfg.fec = true;
  cfg.seed = (uint64_t)device[0] * 7919;
  s->m = parley_call_new(&cfg);
  cr_assert_not_null(s->m);
  parley_call_on_ready(s->m, false, now);
}

static void setup(void)
{
  now = 1000000;
  call_seq = 0;
  call_id[0] = '\0';
  qhead = qcount = 0;
  refuse_call = PARLEY_OK;
  mangle_offer = false;
  video_offer = false;
  group_of_three = false;
  online_a = online_b = true;
  make(&A, "alice", "a1", NULL);
  make(&B, "bob", "b1", "alice");
  pump();
}

static void free_side(side *s)
{
  size_t i;

  for (i = 0; i < s->nsent; i++)
    free(s->sent_body[i]);
  parley_call_free(s->m);
}

/* Forgets the frames on their way. */
static void drop_queue(void)
{
  while (qcount > 0) {
    free(queue[qhead].body);
    qhead = (qhead + 1) % QUEUE_MAX;
    qcount--;
  }
}

static void teardown(void)
{
  drop_queue();
  free_side(&A);
  free_side(&B);
}

TestSuite(call, .init = setup, .fini = teardown);

static bool got_event(const side *s, parley_call_action_kind kind)
{
  size_t i;

  for (i = 0; i < s->nlog; i++)
    if (s->log[i].kind == kind)
      return true;
  return false;
}

/* The index of the last frame `verb` side s sent, or -1. */
static int last_sent(const side *s, const char *verb)
{
  int i;

  for (i = (int)s->nsent - 1; i >= 0; i--)
    if (strcmp(s->sent[i], verb) == 0)
      return i;
  return -1;
}

static int count_sent(const side *s, const char *verb)
{
  size_t i;
  int n = 0;

  for (i = 0; i < s->nsent; i++)
    n += strcmp(s->sent[i], verb) == 0;
  return n;
}

/* Feeds each side a host candidate and the end of gathering. */
static void gather(void)
{
  parley_call_on_local_candidate(A.m, "candidate:1 1 udp 2130706431 "
                                 "127.0.0.1 40001 typ host", now);
  parley_call_on_gathering_done(A.m, now);
  parley_call_on_local_candidate(B.m, "candidate:2 1 udp 2130706431 "
                                 "127.0.0.1 40002 typ host", now);
  parley_call_on_gathering_done(B.m, now);
  pump();
}

/* Places the call from A, accepts it on B and connects the fake media. */
static void connect_call(void)
{
  cr_assert_eq(parley_call_place(A.m, "c1", now), PARLEY_OK);
  pump();
  cr_assert_eq(parley_call_get_state(A.m), PARLEY_CALL_RINGING_OUT);
  cr_assert_eq(parley_call_get_state(B.m), PARLEY_CALL_RINGING_IN);
  cr_assert(got_event(&B, PARLEY_CALL_EV_RINGING));
  cr_assert_eq(parley_call_accept(B.m, now), PARLEY_OK);
  pump();
  gather();
  cr_assert_eq(parley_call_get_state(A.m), PARLEY_CALL_NEGOTIATING);
  cr_assert_eq(parley_call_get_state(B.m), PARLEY_CALL_NEGOTIATING);
  cr_assert(A.remote_set && B.remote_set, "both remote descriptions set");
  parley_call_on_media_connected(A.m, now);
  parley_call_on_media_connected(B.m, now);
  pump();
}

Test(call, caller_and_callee_reach_connected)
{
  parley_call_desc da, db;
  const char *offer;
  int i;

  connect_call();
  cr_assert_eq(parley_call_get_state(A.m), PARLEY_CALL_CONNECTED);
  cr_assert_eq(parley_call_get_state(B.m), PARLEY_CALL_CONNECTED);
  cr_assert(got_event(&A, PARLEY_CALL_EV_CONNECTED));
  cr_assert(got_event(&B, PARLEY_CALL_EV_CONNECTED));
  cr_assert_str_eq(parley_call_id(A.m), "k1");
  cr_assert_str_eq(parley_call_id(B.m), "k1");
  /* The joiner (callee) offers, the caller answers. */
  cr_assert_eq(count_sent(&B, "OFFER"), 1);
  cr_assert_eq(count_sent(&A, "ANSWER"), 1);
  cr_assert_eq(count_sent(&A, "OFFER"), 0);
  i = last_sent(&B, "OFFER");
  cr_assert(strstr(B.sent_hdrs[i], "to=alice;to-device=a1;") != NULL,
            "%s", B.sent_hdrs[i]);
  offer = B.sent_body[i];
  cr_assert_not_null(offer);
  cr_assert(strstr(offer, "m=audio 9 UDP/TLS/RTP/SAVPF 111") != NULL, "%s",
            offer);
  cr_assert(strstr(offer, "a=rtpmap:111 opus/48000/2") != NULL, "%s", offer);
  cr_assert(strstr(offer, "a=fmtp:111 minptime=10;useinbandfec=1") != NULL,
            "%s", offer);
  cr_assert(strstr(offer, "a=setup:actpass") != NULL, "%s", offer);
  cr_assert(strstr(offer, "a=mid:0") != NULL, "%s", offer);
  cr_assert(strstr(offer, "a=rtcp-mux") != NULL, "%s", offer);
  cr_assert(strstr(offer, "a=ice-options:trickle") != NULL, "%s", offer);
  cr_assert(strstr(A.sent_body[last_sent(&A, "ANSWER")], "a=setup:active")
            != NULL);
  /* Each side got the other's credentials and fingerprint. */
  fake_desc(&A, &da);
  fake_desc(&B, &db);
  cr_assert_str_eq(A.remote.ufrag, db.ufrag);
  cr_assert_str_eq(B.remote.ufrag, da.ufrag);
  cr_assert_str_eq(A.remote.fingerprint, db.fingerprint);
  cr_assert_eq(B.remote.setup, PARLEY_SETUP_ACTIVE);
  cr_assert_eq(A.remote.setup, PARLEY_SETUP_ACTPASS);
  /* Candidates trickled after the SDP, then END-OF-CANDIDATES. */
  cr_assert_gt(last_sent(&A, "CANDIDATE"), last_sent(&A, "ANSWER"));
  cr_assert_gt(last_sent(&A, "END-OF-CANDIDATES"), last_sent(&A, "CANDIDATE"));
  cr_assert_str_eq(B.last_candidate, "candidate:1 1 udp 2130706431 "
                   "127.0.0.1 40001 typ host");
  cr_assert(A.candidates_done && B.candidates_done);
  cr_assert(B.controlling && !A.controlling,
            "MEDIA-1: the first offerer (the callee) controls ICE");
}

Test(call, hangup_after_connect_completes_both)
{
  connect_call();
  cr_assert_eq(parley_call_hangup(A.m, now), PARLEY_OK);
  pump();
  cr_assert(A.ended && B.ended);
  cr_assert_str_eq(A.ended_reason, "hangup");
  cr_assert(!A.ended_failed && A.ended_connected);
  cr_assert(!B.ended_failed && B.ended_connected);
  cr_assert(A.media_stopped && B.media_stopped);
}

Test(call, decline_ends_the_call_for_the_caller)
{
  cr_assert_eq(parley_call_place(A.m, "c1", now), PARLEY_OK);
  pump();
  cr_assert_eq(parley_call_decline(B.m, now), PARLEY_OK);
  pump();
  cr_assert(strstr(B.sent_hdrs[last_sent(&B, "HANGUP")], "reason=declined")
            != NULL);
  cr_assert(A.ended);
  cr_assert_str_eq(A.ended_reason, "declined");
  cr_assert(!A.ended_connected);
  cr_assert(!A.media_started, "media starts with the offer");
  cr_assert_eq(count_sent(&B, "JOIN"), 0);
}

Test(call, no_answer_times_out)
{
  cr_assert_eq(parley_call_place(A.m, "c1", now), PARLEY_OK);
  pump();
  cr_assert_eq(A.timer_at, now + 5000);
  now += 4999;
  parley_call_on_time(A.m, now);
  pump();
  cr_assert(!A.ended, "not before the timeout");
  now += 1;
  parley_call_on_time(A.m, now);
  pump();
  cr_assert(A.ended);
  cr_assert_str_eq(A.ended_reason, "no-answer");
  cr_assert(A.ended_failed);
  cr_assert(strstr(A.ended_text, "no answer within 5000 ms") != NULL);
  cr_assert_geq(last_sent(&A, "HANGUP"), 0);
  cr_assert(B.ended, "the callee stops ringing on CALL-END");
}

Test(call, remote_error_fails_the_call)
{
  refuse_call = PARLEY_E_BAD_CALL_STATE;
  cr_assert_eq(parley_call_place(A.m, "c1", now), PARLEY_OK);
  pump();
  cr_assert(A.ended);
  cr_assert(A.ended_failed);
  cr_assert_eq(A.ended_err, PARLEY_E_BAD_CALL_STATE);
  cr_assert(strstr(A.ended_text, "bad-call-state") != NULL, "%s",
            A.ended_text);
  cr_assert(!A.media_started);
  cr_assert_eq(parley_call_get_state(B.m), PARLEY_CALL_IDLE);
}

Test(call, malformed_remote_sdp_ends_with_a_clear_error)
{
  mangle_offer = true;
  cr_assert_eq(parley_call_place(A.m, "c1", now), PARLEY_OK);
  pump();
  cr_assert_eq(parley_call_accept(B.m, now), PARLEY_OK);
  pump();
  cr_assert(A.ended);
  cr_assert(A.ended_failed);
  cr_assert_eq(A.ended_err, PARLEY_E_BAD_SDP);
  cr_assert(strstr(A.ended_text, "malformed remote SDP in OFFER from bob")
            != NULL, "%s", A.ended_text);
  cr_assert(!A.remote_set, "nothing of a bad SDP reaches the media engine");
  cr_assert(strstr(A.sent_hdrs[last_sent(&A, "HANGUP")], "reason=failed")
            != NULL);
  cr_assert(B.ended, "the callee hears the call ended");
}

Test(call, rejoin_after_reconnect_restarts_ice)
{
  int join, offer;
  char want[80];

  connect_call();
  online_a = false;
  parley_call_on_disconnected(A.m, now);
  now += 3000;
  online_a = true;
  parley_call_on_ready(A.m, true, now);
  pump();
  join = last_sent(&A, "JOIN");
  cr_assert_geq(join, 0);
  cr_assert(strstr(A.sent_hdrs[join], "rejoin=yes") != NULL);
  offer = last_sent(&A, "OFFER");
  cr_assert_gt(offer, join, "the rejoiner offers after JOIN");
  cr_assert(strstr(A.sent_hdrs[offer], "ice-restart=yes") != NULL, "%s",
            A.sent_hdrs[offer]);
  cr_assert_eq(A.ice_restarts, 1);
  snprintf(want, sizeof want, "a=ice-ufrag:alicegen1");
  cr_assert(strstr(A.sent_body[offer], want) != NULL, "%s",
            A.sent_body[offer]);
  /* The peer restarts too and answers with fresh credentials. */
  cr_assert_eq(B.ice_restarts, 1);
  cr_assert_str_eq(B.remote.ufrag, "alicegen1");
  cr_assert_str_eq(A.remote.ufrag, "bobgen1");
  cr_assert_eq(count_sent(&B, "ANSWER"), 1);
  cr_assert_eq(parley_call_get_state(A.m), PARLEY_CALL_CONNECTED);
  cr_assert_eq(parley_call_get_state(B.m), PARLEY_CALL_CONNECTED);
  /* CALLCLI-4: actpass in every offer, active in every answer. */
  cr_assert(strstr(A.sent_body[offer], "a=setup:actpass") != NULL);
  cr_assert(strstr(B.sent_body[last_sent(&B, "ANSWER")], "a=setup:active")
            != NULL);
}

Test(call, media_failure_names_the_reason)
{
  cr_assert_eq(parley_call_place(A.m, "c1", now), PARLEY_OK);
  pump();
  cr_assert_eq(parley_call_accept(B.m, now), PARLEY_OK);
  pump();
  parley_call_on_media_failed(B.m, "DTLS fingerprint mismatch: got 12:34",
                              now);
  pump();
  cr_assert(B.ended && B.ended_failed);
  cr_assert_str_eq(B.ended_text, "DTLS fingerprint mismatch: got 12:34");
  cr_assert(A.ended, "the caller hears CALL-END");
  cr_assert(!A.ended_connected);
}

Test(call, connect_timeout_fails)
{
  cr_assert_eq(parley_call_place(A.m, "c1", now), PARLEY_OK);
  pump();
  cr_assert_eq(parley_call_accept(B.m, now), PARLEY_OK);
  pump();
  cr_assert_eq(B.timer_at, now + 8000);
  now += 8000;
  parley_call_on_time(B.m, now);
  pump();
  cr_assert(B.ended && B.ended_failed);
  cr_assert(strstr(B.ended_text, "did not connect within 8000 ms") != NULL);
}

Test(call, ring_from_another_user_is_ignored)
{
  parley_call_frame f;

  memset(&f, 0, sizeof f);
  SET_(f.verb, "RING");
  SET_(f.call, "k77");
  SET_(f.conv, "c2");
  SET_(f.from, "mallory");
  SET_(f.device, "m1");
  parley_call_on_frame(B.m, &f, now);
  pump();
  cr_assert_eq(parley_call_get_state(B.m), PARLEY_CALL_IDLE);
  cr_assert(!got_event(&B, PARLEY_CALL_EV_RINGING));
  SET_(f.from, "alice");
  parley_call_on_frame(B.m, &f, now);
  pump();
  cr_assert_eq(parley_call_get_state(B.m), PARLEY_CALL_RINGING_IN);
  cr_assert_str_eq(parley_call_id(B.m), "k77");
}

Test(call, both_rejoin_at_once_and_the_callers_offer_stands)
{
  connect_call();
  parley_call_on_disconnected(A.m, now);
  parley_call_on_disconnected(B.m, now);
  parley_call_on_ready(A.m, true, now);
  parley_call_on_ready(B.m, true, now);
  pump();
  cr_assert_eq(count_sent(&A, "OFFER"), 1);
  cr_assert_eq(count_sent(&B, "OFFER"), 2, "B's first one and its re-offer");
  cr_assert_eq(count_sent(&B, "ANSWER"), 1, "B answers A's offer");
  cr_assert_eq(count_sent(&A, "ANSWER"), 1, "A answered only the first");
  cr_assert_str_eq(B.remote.ufrag, "alicegen1");
  cr_assert_str_eq(A.remote.ufrag, "bobgen2", "B's credentials of its"
                   " answer, after its second restart");
  cr_assert_eq(parley_call_get_state(A.m), PARLEY_CALL_CONNECTED);
  cr_assert_eq(parley_call_get_state(B.m), PARLEY_CALL_CONNECTED);
}

Test(call, candidates_carry_the_mid_of_the_offer)
{
  int i;

  connect_call();
  i = last_sent(&A, "CANDIDATE");
  cr_assert_geq(i, 0);
  cr_assert(strstr(A.sent_hdrs[i], "mid=0;") != NULL, "%s", A.sent_hdrs[i]);
  cr_assert(strstr(A.sent_hdrs[i], "candidate=candidate:1 1 udp") != NULL);
  i = last_sent(&B, "CANDIDATE");
  cr_assert(strstr(B.sent_hdrs[i], "to=alice;to-device=a1;") != NULL);
}

Test(call, a_ring_while_in_a_call_is_refused_busy)
{
  parley_call_frame f;
  int i;

  connect_call();
  memset(&f, 0, sizeof f);
  SET_(f.verb, "RING");
  SET_(f.call, "k99");
  SET_(f.conv, "c2");
  SET_(f.from, "alice");
  SET_(f.device, "a2");
  parley_call_on_frame(B.m, &f, now);
  drain(&B);
  i = last_sent(&B, "HANGUP");
  cr_assert_geq(i, 0);
  cr_assert_str_eq(B.sent_hdrs[i], "call=k99;reason=busy;");
  cr_assert_eq(parley_call_get_state(B.m), PARLEY_CALL_CONNECTED);
  cr_assert_str_eq(parley_call_id(B.m), "k1");
  drop_queue(); /* the fake server knows one call only */
}

/* spec: CALLCLI-6 */
Test(call, ringing_stops_by_itself_after_the_ring_timeout)
{
  cr_assert_eq(parley_call_place(A.m, "c1", now), PARLEY_OK);
  pump();
  cr_assert_eq(B.timer_at, now + 5000);
  now += 5000;
  parley_call_on_time(B.m, now);
  drain(&B);
  cr_assert(B.ended);
  cr_assert_str_eq(B.ended_reason, "no-answer");
  cr_assert_eq(count_sent(&B, "HANGUP"), 0, "nothing to tell the server");
}

/* The reference client answers a video section with port 0 (spec 19.6).
 * The OFFER is rewritten on its way with a video section added. */
Test(call, a_video_section_is_refused_in_the_answer)
{
  parley_sdp *s = calloc(1, sizeof *s);
  parley_sdp_error e;
  const char *ans;
  int i;

  cr_assert_not_null(s);
  video_offer = true;
  cr_assert_eq(parley_call_place(A.m, "c1", now), PARLEY_OK);
  pump();
  cr_assert_eq(parley_call_accept(B.m, now), PARLEY_OK);
  pump();
  cr_assert(!A.ended, "%s", A.ended_text);
  gather();
  i = last_sent(&A, "ANSWER");
  cr_assert_geq(i, 0);
  ans = A.sent_body[i];
  cr_assert_eq(parley_sdp_parse(ans, strlen(ans), s, &e), PARLEY_OK,
               "line %u: %s: %s\n%s", e.line, e.rule, e.message, ans);
  cr_assert_eq(s->media_count, 2);
  cr_assert_str_eq(s->media[1].kind, "video");
  cr_assert_eq(s->media[1].port, 0);
  cr_assert_neq(s->media[0].port, 0);
  cr_assert(B.remote_set && !B.ended, "the offerer takes the answer");
  free(s);
}

/* A hostile or broken server: a RING that leaves out its conversation or
 * the caller's device, or a JOINED naming no device, names nobody to
 * offer to; the machine takes neither. */
Test(call, a_ring_or_joined_naming_nobody_is_ignored)
{
  parley_call_frame f;

  memset(&f, 0, sizeof f);
  SET_(f.verb, "RING");
  SET_(f.call, "k77");
  SET_(f.conv, "c1");
  SET_(f.from, "alice");
  parley_call_on_frame(B.m, &f, now); /* no device */
  SET_(f.device, "a1");
  SET_(f.conv, "");
  parley_call_on_frame(B.m, &f, now); /* no conv */
  pump();
  cr_assert_eq(parley_call_get_state(B.m), PARLEY_CALL_IDLE);
  cr_assert(!got_event(&B, PARLEY_CALL_EV_RINGING));
  cr_assert(got_event(&B, PARLEY_CALL_EV_WARNING));
  cr_assert_eq(parley_call_accept(B.m, now), PARLEY_E_BAD_STATE);

  cr_assert_eq(parley_call_place(A.m, "c1", now), PARLEY_OK);
  pump();
  drop_queue();
  cr_assert_eq(parley_call_get_state(A.m), PARLEY_CALL_RINGING_OUT);
  memset(&f, 0, sizeof f);
  SET_(f.verb, "JOINED");
  SET_(f.call, parley_call_id(A.m));
  SET_(f.user, "bob");
  parley_call_on_frame(A.m, &f, now);
  drain(&A);
  cr_assert_eq(parley_call_get_state(A.m), PARLEY_CALL_RINGING_OUT);
}

/* A peer that trickles candidates without end: the engine is given a
 * bounded number of them, and the user is warned once. */
Test(call, a_candidate_flood_is_cut_off)
{
  parley_call_frame f;
  char text[PARLEY_CANDIDATE_MAX + 1];
  int i, before;

  connect_call();
  before = B.candidates_added;
  memset(&f, 0, sizeof f);
  SET_(f.verb, "CANDIDATE");
  SET_(f.call, parley_call_id(B.m));
  SET_(f.from, "alice");
  SET_(f.device, "a1");
  for (i = 0; i < 1000; i++) {
    snprintf(text, sizeof text, "candidate:%d 1 udp 1 127.0.0.1 %d typ "
             "host", i, 1024 + i);
    SET_(f.candidate, text);
    parley_call_on_frame(B.m, &f, now);
    drain(&B);
  }
  cr_assert_gt(B.candidates_added, before);
  cr_assert_leq(B.candidates_added, 128, "%d candidates taken",
                B.candidates_added);
  cr_assert(got_event(&B, PARLEY_CALL_EV_WARNING));
  cr_assert_eq(parley_call_get_state(B.m), PARLEY_CALL_CONNECTED);
}

/* The machine does 1:1 media: a third participant who joins ends the call
 * on this side with a clear error, leaving it (LEAVE, not HANGUP), rather
 * than leave that participant without an offer (CALLCLI-1). */
/* spec: CALLCLI-1 */
Test(call, a_third_participant_joining_fails_the_call)
{
  connect_call();
  event(&A, "JOINED", "carol", "c1", NULL, NULL);
  pump();
  cr_assert(A.ended && A.ended_failed);
  cr_assert_str_eq(A.ended_text, PARLEY_CALL_GROUP_UNSUPPORTED);
  cr_assert_geq(last_sent(&A, "LEAVE"), 0);
  cr_assert_eq(count_sent(&A, "HANGUP"), 0);
}

/* PARTICIPANTS listing two others: the joiner offers to neither and
 * leaves with the same error. */
Test(call, participants_of_a_group_call_fail_the_join)
{
  cr_assert_eq(parley_call_place(A.m, "c1", now), PARLEY_OK);
  pump();
  group_of_three = true;
  cr_assert_eq(parley_call_accept(B.m, now), PARLEY_OK);
  pump();
  group_of_three = false;
  cr_assert(B.ended && B.ended_failed);
  cr_assert_str_eq(B.ended_text, PARLEY_CALL_GROUP_UNSUPPORTED);
  cr_assert_eq(count_sent(&B, "OFFER"), 0);
  cr_assert_geq(last_sent(&B, "LEAVE"), 0);
}

/* Muting (parley-client --mute-after-ms): MEDIA-STATE audio: off goes to
 * the call, the peer is told (PEER_MEDIA, audio off), and the call goes
 * on; unmuting says audio: on. Before joining there is nothing to say. */
/* spec: CALLCLI-6 */
Test(call, media_state_reaches_the_peer_as_mute)
{
  const parley_call_action *ev = NULL;
  int i;

  cr_assert_eq(parley_call_media_state(A.m, false, false, false, now),
               PARLEY_E_BAD_STATE);
  connect_call();
  cr_assert_eq(parley_call_media_state(A.m, false, false, false, now),
               PARLEY_OK);
  pump();
  i = last_sent(&A, "MEDIA-STATE");
  cr_assert_geq(i, 0);
  cr_assert_not_null(strstr(A.sent_hdrs[i], "audio=off;"), "%s",
                     A.sent_hdrs[i]);
  for (size_t k = 0; k < B.nlog; k++)
    if (B.log[k].kind == PARLEY_CALL_EV_PEER_MEDIA)
      ev = &B.log[k];
  cr_assert_not_null(ev, "the peer was not told");
  cr_assert_str_eq(ev->peer, "alice");
  cr_assert_not(ev->audio);
  cr_assert_eq(parley_call_get_state(B.m), PARLEY_CALL_CONNECTED);
  cr_assert_eq(parley_call_media_state(A.m, true, false, false, now),
               PARLEY_OK);
  pump();
  cr_assert_not_null(strstr(A.sent_hdrs[last_sent(&A, "MEDIA-STATE")],
                            "audio=on;"));
  cr_assert(B.log[B.nlog - 1].kind == PARLEY_CALL_EV_PEER_MEDIA &&
            B.log[B.nlog - 1].audio);
}
