/* Unit tests for call signaling in the sans-I/O server core (spec section
 * 19, server_call.c). Sessions are fake connections fed frames; a fake
 * store completes every request at once and keeps the call record events
 * it was asked to write; the clock is the test's. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "parley/sdp.h"
#include "parley/server.h"
#include "parley/token.h"
#include "server_fixture.h"

#define MAX_OUT 4096
#define MAX_RECS 512

typedef struct harness {
  parley_server *s;
  uint64_t now;
  out_frame out[MAX_OUT];
  size_t out_len;
  parley_call_event recs[MAX_RECS];
  size_t rec_len;
  bool fail_call_events;
  int fatal;
  size_t closes;
} harness;

static uint8_t tok_pk[32];
static uint8_t tok_sk[64];

/* A description of the spec's SDP profile: one audio section, Opus. */
static const char sdp_ok[] =
    "v=0\r\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=ice-options:trickle\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:F7gI\r\n"
    "a=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\n"
    "a=fingerprint:sha-256 D1:2C:BE:AD:C4:F6:64:5C:25:16:11:9C:AF:E7:0F:"
    "73:79:36:4E:9C:1E:15:54:39:0C:06:8B:A0:86:DC:4A:66\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=sendrecv\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n";

static const char cand_ok[] =
    "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host";

static void pump(harness *h);

/* ---- the fake store and the action pump ---- */

static void store_done_now(harness *h, const parley_store_req *req)
{
  parley_store_result res = {req->id, true, NULL, 0, false};
  if (req->op == PARLEY_STORE_CALL_EVENT) {
    cr_assert_lt(h->rec_len, MAX_RECS);
    h->recs[h->rec_len++] = req->call_event;
    if (h->fail_call_events)
      res.ok = false;
  }
  parley_server_on_store_done(h->s, &res, h->now);
}

static void pump(harness *h)
{
  parley_action a;
  parley_store_req reqs[64];
  size_t nreq = 0;

  while (parley_server_next_action(h->s, &a)) {
    switch (a.kind) {
    case PARLEY_ACT_SEND:
      fx_keep_sent(h->out, &h->out_len, MAX_OUT, &a);
      break;
    case PARLEY_ACT_STORE:
      cr_assert_lt(nreq, 64);
      reqs[nreq++] = *a.store; /* copied: valid until the next call */
      break;
    case PARLEY_ACT_FATAL:
      h->fatal++;
      break;
    case PARLEY_ACT_CLOSE:
      h->closes++;
      break;
    default:
      break;
    }
  }
  for (size_t i = 0; i < nreq; i++) {
    store_done_now(h, &reqs[i]);
    pump(h);
  }
}

static void keys_init(void)
{
  fx_keys(7, tok_pk, tok_sk);
}

TestSuite(call, .init = keys_init);

static harness *harness_cfg(uint32_t max_calls)
{
  harness *h = calloc(1, sizeof *h);
  parley_server_config cfg;
  memset(&cfg, 0, sizeof cfg);
  memcpy(cfg.token_public_key, tok_pk, 32);
  memset(cfg.cursor_key, 0x33, 32);
  cfg.seed = 7;
  cfg.ring_timeout_ms = 30000;
  cfg.call_grace_ms = 20000;
  cfg.max_calls = max_calls;
  cfg.rate_burst = 100000;
  h->now = 5000000;
  h->s = parley_server_new(&cfg);
  cr_assert_not_null(h->s);
  return h;
}

static harness *harness_new(void)
{
  return harness_cfg(0);
}

static void harness_free(harness *h)
{
  parley_server_free(h->s);
  fx_free_out(h->out, h->out_len);
  free(h);
}

static void add_conv(harness *h, const char *id, parley_conv_kind kind,
                     const char *const *members, size_t n)
{
  static parley_conv_info c;
  memset(&c, 0, sizeof c);
  snprintf(c.id, sizeof c.id, "%s", id);
  c.kind = kind;
  c.member_count = n;
  for (size_t i = 0; i < n; i++)
    snprintf(c.members[i], sizeof c.members[i], "%s", members[i]);
  cr_assert_eq(parley_server_load_conv(h->s, &c), PARLEY_OK);
}

/* Feeds a frame written with \n line ends (CRLF on the wire); a body
 * goes after the blank line with its content-length. */
static void feed_frame(harness *h, parley_conn_id conn, const char *head,
                       const char *body, size_t body_len)
{
  static char wire[140000];
  size_t k = 0;
  for (size_t i = 0; head[i]; i++) {
    if (head[i] == '\n')
      wire[k++] = '\r';
    wire[k++] = head[i];
  }
  if (body != NULL)
    k += (size_t)snprintf(wire + k, sizeof wire - k,
                          "content-length: %zu\r\n", body_len);
  wire[k++] = '\r';
  wire[k++] = '\n';
  if (body != NULL) {
    memcpy(wire + k, body, body_len);
    k += body_len;
  }
  parley_server_on_message(h->s, conn, wire, k, false, h->now);
  pump(h);
}

static void feedf(harness *h, parley_conn_id conn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A frame without body from a format; \n ends header lines. */
static void feedf(harness *h, parley_conn_id conn, const char *fmt, ...)
{
  char head[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  feed_frame(h, conn, head, NULL, 0);
}

static void time_to(harness *h, uint64_t t)
{
  h->now = t;
  parley_server_on_time(h->s, t);
  pump(h);
}

/* ---- what the core sent ---- */

static tframe *expect(harness *h, parley_conn_id conn, const char *verb)
{
  return fx_expect(h->out, h->out_len, conn, verb);
}

static tframe *expect_error(harness *h, parley_conn_id conn, int code)
{
  return fx_expect_error(h->out, h->out_len, conn, code);
}

static void expect_nothing(harness *h, parley_conn_id conn)
{
  fx_expect_nothing(h->out, h->out_len, conn);
}

/* ---- sessions ---- */

static void ready(harness *h, parley_conn_id conn, const char *user,
                  const char *device, const char *caps)
{
  char tok[PARLEY_TOKEN_MAX + 1];
  parley_server_on_open(h->s, conn, h->now);
  pump(h);
  feedf(h, conn, "HELLO\nversions: 1\ncaps: %s\nheartbeat: 120000\n",
        caps);
  expect(h, conn, "WELCOME");
  cr_assert_eq(parley_token_issue(tok_sk, user, 0, h->now + 100000000, tok,
                                  sizeof tok),
               PARLEY_OK);
  feedf(h, conn, "AUTH\ntoken: %s\ndevice: %s\n", tok, device);
  expect(h, conn, "READY");
}

static void gone(harness *h, parley_conn_id conn)
{
  parley_server_on_close(h->s, conn, h->now);
  pump(h);
}

static const char *const ab[] = {"alice", "bob"};
static const char *const abc[] = {"alice", "bob", "carol"};

/* CALL from conn in conv; returns the call id (static storage). */
static const char *call_in(harness *h, parley_conn_id conn, const char *conv)
{
  static char id[80];
  feedf(h, conn, "CALL\nconv: %s\nreq: r1\n", conv);
  tframe *tf = expect(h, conn, "OK");
  hexpect(tf, "req", "r1");
  snprintf(id, sizeof id, "%s", hget(tf, "call"));
  cr_assert_eq(strlen(id), 21, "call id %s", id);
  cr_assert_eq(id[0], 'k');
  return id;
}

static void send_sdp(harness *h, parley_conn_id conn, const char *verb,
                     const char *call, const char *to, const char *device,
                     const char *extra, const char *ctype,
                     const char *body, size_t len)
{
  char head[1024];
  snprintf(head, sizeof head,
           "%s\ncall: %s\nto: %s\nto-device: %s\n%scontent-type: %s\n",
           verb, call, to, device, extra ? extra : "", ctype);
  feed_frame(h, conn, head, body, len);
}

static void offer(harness *h, parley_conn_id conn, const char *call,
                  const char *to, const char *device)
{
  send_sdp(h, conn, "OFFER", call, to, device, NULL, "application/sdp",
           sdp_ok, strlen(sdp_ok));
}

/* alice (conn 1, a1) and bob (conn 2, b1) in a direct conversation "d",
 * both with calls; alice calls, bob joins. Returns the call id. */
static const char *active_pair(harness *h)
{
  add_conv(h, "d", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "a1", "calls");
  ready(h, 2, "bob", "b1", "calls");
  const char *id = call_in(h, 1, "d");
  expect(h, 2, "RING");
  feedf(h, 2, "JOIN\ncall: %s\n", id);
  expect(h, 2, "OK");
  expect(h, 2, "PARTICIPANTS");
  expect(h, 1, "JOINED");
  return id;
}

static size_t recs_of(const harness *h, parley_call_event_kind kind)
{
  size_t n = 0;
  for (size_t i = 0; i < h->rec_len; i++)
    n += h->recs[i].kind == kind;
  return n;
}

/* ---- tests ---- */

/* spec: CALL-1 */
Test(call, welcome_lists_calls_only_when_offered)
{
  harness *h = harness_new();
  parley_server_on_open(h->s, 1, h->now);
  pump(h);
  feedf(h, 1, "HELLO\nversions: 1\ncaps: typing,calls,x-other\n"
              "heartbeat: 30000\n");
  hexpect(expect(h, 1, "WELCOME"), "caps", "typing,calls");
  parley_server_on_open(h->s, 2, h->now);
  pump(h);
  feedf(h, 2, "HELLO\nversions: 1\ncaps: receipts\nheartbeat: 30000\n");
  hexpect(expect(h, 2, "WELCOME"), "caps", "receipts");
  harness_free(h);
}

/* spec: CALL-3 CALL-4 CALL-5 CALL-6 CALL-8 CALL-12 CALL-21 */
Test(call, one_to_one_flow)
{
  harness *h = harness_new();
  add_conv(h, "d", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "a1", "calls");
  ready(h, 2, "bob", "b1", "calls,typing");
  ready(h, 3, "bob", "b2", "typing"); /* no calls: never rung */
  const char *id = call_in(h, 1, "d");
  char call[64];
  snprintf(call, sizeof call, "%s", id);

  tframe *tf = expect(h, 2, "RING");
  hexpect(tf, "call", call);
  hexpect(tf, "conv", "d");
  hexpect(tf, "from", "alice");
  hexpect(tf, "device", "a1");
  hexpect(tf, "media", "audio");
  cr_assert_not_null(hget(tf, "ts"));
  expect_nothing(h, 3);
  expect_nothing(h, 1);

  feedf(h, 2, "JOIN\ncall: %s\nreq: j\n", call);
  hexpect(expect(h, 2, "OK"), "req", "j");
  tf = expect(h, 2, "PARTICIPANTS");
  hexpect(tf, "req", "j");
  hexpect(tf, "state", "active");
  hexpect(tf, "count", "1");
  hexpect(tf, "content-type", "text/plain");
  cr_assert_str_eq(tf->body, "alice a1\r\n");
  tf = expect(h, 1, "JOINED");
  hexpect(tf, "user", "bob");
  hexpect(tf, "device", "b1");
  cr_assert_null(hget(tf, "rejoin"));

  /* the joiner offers; the offer reaches alice as sent, from bob/b1 */
  send_sdp(h, 2, "OFFER", call, "alice", "a1", "req: o1\n",
           "application/sdp", sdp_ok, strlen(sdp_ok));
  hexpect(expect(h, 2, "OK"), "req", "o1");
  tf = expect(h, 1, "OFFER");
  hexpect(tf, "call", call);
  hexpect(tf, "from", "bob");
  hexpect(tf, "device", "b1");
  hexpect(tf, "content-type", "application/sdp");
  cr_assert_null(hget(tf, "to"));
  cr_assert_null(hget(tf, "to-device"));
  cr_assert_null(hget(tf, "req"));
  cr_assert_str_eq(tf->body, sdp_ok);

  send_sdp(h, 1, "ANSWER", call, "bob", "b1", NULL, "application/sdp",
           sdp_ok, strlen(sdp_ok));
  expect(h, 1, "OK");
  tf = expect(h, 2, "ANSWER");
  hexpect(tf, "from", "alice");
  cr_assert_str_eq(tf->body, sdp_ok);

  feedf(h, 1, "CANDIDATE\ncall: %s\nto: bob\nto-device: b1\ncandidate: %s\n"
              "mid: 0\n", call, cand_ok);
  expect(h, 1, "OK");
  tf = expect(h, 2, "CANDIDATE");
  hexpect(tf, "candidate", cand_ok);
  hexpect(tf, "mid", "0");
  hexpect(tf, "from", "alice");
  feedf(h, 1, "END-OF-CANDIDATES\ncall: %s\nto: bob\nto-device: b1\n", call);
  expect(h, 1, "OK");
  hexpect(expect(h, 2, "END-OF-CANDIDATES"), "device", "a1");
  feedf(h, 2, "MEDIA-STATE\ncall: %s\naudio: off\nvideo: on\n", call);
  expect(h, 2, "OK");
  tf = expect(h, 1, "MEDIA-STATE");
  hexpect(tf, "audio", "off");
  hexpect(tf, "video", "on");
  hexpect(tf, "from", "bob");

  feedf(h, 1, "HANGUP\ncall: %s\n", call);
  expect(h, 1, "OK");
  tf = expect(h, 1, "CALL-END");
  hexpect(tf, "reason", "hangup");
  hexpect(tf, "conv", "d");
  hexpect(expect(h, 2, "CALL-END"), "reason", "hangup");
  expect_nothing(h, 1);
  expect_nothing(h, 2);
  expect_nothing(h, 3);

  /* the record, in order */
  cr_assert_eq(h->rec_len, 6);
  cr_assert_eq(h->recs[0].kind, PARLEY_CALL_REC_CREATED);
  cr_assert_str_eq(h->recs[0].conv, "d");
  cr_assert_str_eq(h->recs[0].media, "audio");
  cr_assert_eq(h->recs[1].kind, PARLEY_CALL_REC_JOINED);
  cr_assert_eq(h->recs[1].seq, 1);
  cr_assert_eq(h->recs[2].kind, PARLEY_CALL_REC_JOINED);
  cr_assert(h->recs[2].answered);
  cr_assert_str_eq(h->recs[2].user, "bob");
  cr_assert_eq(h->recs[3].kind, PARLEY_CALL_REC_LEFT);
  cr_assert_eq(h->recs[4].kind, PARLEY_CALL_REC_LEFT);
  cr_assert_str_eq(h->recs[4].reason, "hangup");
  cr_assert_eq(h->recs[4].seq, 4);
  cr_assert_eq(h->recs[5].kind, PARLEY_CALL_REC_ENDED);
  cr_assert_str_eq(h->recs[5].reason, "hangup");

  /* an ended call is no call */
  feedf(h, 2, "MEDIA-STATE\ncall: %s\naudio: on\n", call);
  expect_error(h, 2, 443);
  cr_assert_eq(h->fatal, 0);
  harness_free(h);
}

/* spec: CALL-4 CALL-5 CALL-9 CALL-12 */
Test(call, group_call_with_three)
{
  harness *h = harness_new();
  add_conv(h, "g", PARLEY_CONV_GROUP, abc, 3);
  ready(h, 1, "alice", "a1", "calls");
  ready(h, 2, "bob", "b1", "calls");
  ready(h, 3, "carol", "c1", "calls");
  feedf(h, 1, "CALL\nconv: g\nmedia: video\n");
  char call[64];
  snprintf(call, sizeof call, "%s", hget(expect(h, 1, "OK"), "call"));
  hexpect(expect(h, 2, "RING"), "media", "video");
  expect(h, 3, "RING");

  feedf(h, 2, "JOIN\ncall: %s\n", call);
  expect(h, 2, "OK");
  cr_assert_str_eq(expect(h, 2, "PARTICIPANTS")->body, "alice a1\r\n");
  expect(h, 1, "JOINED");
  expect_nothing(h, 3); /* carol still rings; nothing else */

  feedf(h, 3, "JOIN\ncall: %s\n", call);
  expect(h, 3, "OK");
  tframe *tf = expect(h, 3, "PARTICIPANTS");
  hexpect(tf, "count", "2");
  hexpect(tf, "state", "active");
  cr_assert_str_eq(tf->body, "alice a1\r\nbob b1\r\n");
  hexpect(expect(h, 1, "JOINED"), "user", "carol");
  hexpect(expect(h, 2, "JOINED"), "user", "carol");

  /* carol offers to both; each offer reaches only its addressee */
  offer(h, 3, call, "alice", "a1");
  expect(h, 3, "OK");
  hexpect(expect(h, 1, "OFFER"), "from", "carol");
  expect_nothing(h, 2);
  offer(h, 3, call, "bob", "b1");
  expect(h, 3, "OK");
  hexpect(expect(h, 2, "OFFER"), "from", "carol");
  expect_nothing(h, 1);

  feedf(h, 3, "MEDIA-STATE\ncall: %s\nscreen: on\n", call);
  expect(h, 3, "OK");
  hexpect(expect(h, 1, "MEDIA-STATE"), "screen", "on");
  hexpect(expect(h, 2, "MEDIA-STATE"), "screen", "on");
  expect_nothing(h, 3);

  /* bob leaves: two remain, the call goes on */
  feedf(h, 2, "LEAVE\ncall: %s\n", call);
  expect(h, 2, "OK");
  tf = expect(h, 1, "LEFT");
  hexpect(tf, "user", "bob");
  hexpect(tf, "reason", "left");
  expect(h, 3, "LEFT");
  expect_nothing(h, 2);
  /* carol leaves: below two, the call completes */
  feedf(h, 3, "LEAVE\ncall: %s\nreason: busy\n", call);
  expect(h, 3, "OK");
  /* (carol, whose LEAVE ends the call, gets CALL-END below) */
  hexpect(expect(h, 1, "LEFT"), "reason", "busy");
  hexpect(expect(h, 1, "CALL-END"), "reason", "completed");
  /* bob and carol got RING and no RING-STOP: the end reaches them too */
  hexpect(expect(h, 2, "CALL-END"), "reason", "completed");
  hexpect(expect(h, 3, "CALL-END"), "reason", "completed");
  expect_nothing(h, 2);
  expect_nothing(h, 3);
  cr_assert_eq(recs_of(h, PARLEY_CALL_REC_ENDED), 1);
  cr_assert_str_eq(h->recs[h->rec_len - 1].reason, "completed");
  harness_free(h);
}

/* Non-member, unknown call and member-not-in-the-call answers are the
 * same octets. */
/* spec: CALL-1 CALL-15 */
Test(call, no_such_call_is_identical_for_all_three)
{
  harness *h = harness_new();
  static const char *const acd[] = {"alice", "carol", "dave"};
  add_conv(h, "g", PARLEY_CONV_GROUP, acd, 3);
  static const char *const ad[] = {"alice", "dave"};
  add_conv(h, "other", PARLEY_CONV_DIRECT, ad, 2);
  ready(h, 1, "alice", "a1", "calls");
  ready(h, 2, "bob", "b1", "calls");   /* not a member */
  ready(h, 3, "carol", "c1", "calls"); /* a member, not in the call */
  char call[64];
  snprintf(call, sizeof call, "%s", call_in(h, 1, "g"));
  expect(h, 3, "RING");

  char a[512], b[512], c[512];
  feedf(h, 2, "CANDIDATE\ncall: %s\nto: alice\nto-device: a1\n"
              "candidate: %s\nreq: q\n", call, cand_ok);
  snprintf(a, sizeof a, "%.500s", expect_error(h, 2, 443)->raw);
  feedf(h, 2, "CANDIDATE\ncall: kzzzzzzzzzzzzzzzzzzzz\nto: alice\n"
              "to-device: a1\ncandidate: %s\nreq: q\n", cand_ok);
  snprintf(b, sizeof b, "%.500s", expect_error(h, 2, 443)->raw);
  feedf(h, 3, "CANDIDATE\ncall: %s\nto: alice\nto-device: a1\n"
              "candidate: %s\nreq: q\n", call, cand_ok);
  snprintf(c, sizeof c, "%.500s", expect_error(h, 3, 443)->raw);
  cr_assert_str_eq(a, b);
  cr_assert_str_eq(a, c);

  /* every verb naming a call: the non-member gets 443 */
  const char *frames[] = {
      "JOIN\ncall: %s\n", "LEAVE\ncall: %s\n", "HANGUP\ncall: %s\n",
      "MEDIA-STATE\ncall: %s\naudio: on\n",
      "END-OF-CANDIDATES\ncall: %s\nto: alice\nto-device: a1\n"};
  for (size_t i = 0; i < 5; i++) {
    char head[256];
    snprintf(head, sizeof head, frames[i], call);
    feed_frame(h, 2, head, NULL, 0);
    expect_error(h, 2, 443);
  }
  offer(h, 2, call, "alice", "a1");
  expect_error(h, 2, 443);
  /* a member not in it: OFFER, ANSWER, LEAVE, MEDIA-STATE */
  offer(h, 3, call, "alice", "a1");
  expect_error(h, 3, 443);
  feedf(h, 3, "LEAVE\ncall: %s\n", call);
  expect_error(h, 3, 443);
  feedf(h, 3, "MEDIA-STATE\ncall: %s\nvideo: off\n", call);
  expect_error(h, 3, 443);
  /* nothing reached alice */
  expect_nothing(h, 1);
  /* CALL in a conversation one is not in: not-found, as for SEND */
  feedf(h, 2, "CALL\nconv: other\n");
  expect_error(h, 2, 440);
  harness_free(h);
}

/* spec: CALL-2 CALL-14 CALL-16 CALL-17 CALL-18 CALL-19 CALL-20 */
Test(call, refused_frames_relay_nothing)
{
  harness *h = harness_new();
  char call[64];
  snprintf(call, sizeof call, "%s", active_pair(h));

  /* ANSWER without an OFFER */
  send_sdp(h, 2, "ANSWER", call, "alice", "a1", NULL, "application/sdp",
           sdp_ok, strlen(sdp_ok));
  expect_error(h, 2, 444);
  /* malformed candidate */
  feedf(h, 2, "CANDIDATE\ncall: %s\nto: alice\nto-device: a1\n"
              "candidate: candidate:1 1 udp notanumber 1.2.3.4 5 typ host\n",
        call);
  tframe *tf = expect_error(h, 2, 446);
  cr_assert_gt(tf->body_len, 0, "the body names the rule");
  feedf(h, 2, "CANDIDATE\ncall: %s\nto: alice\nto-device: a1\n", call);
  expect_error(h, 2, 426);
  feedf(h, 2, "CANDIDATE\ncall: %s\nto: alice\nto-device: a1\n"
              "candidate: %s\nmid: a b\n", call, cand_ok);
  expect_error(h, 2, 427);
  /* malformed SDP: the body names the line */
  static const char bad_sdp[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
                                "s=-\r\nt=0 0\r\nm=audio x RTP\r\n";
  send_sdp(h, 2, "OFFER", call, "alice", "a1", NULL, "application/sdp",
           bad_sdp, strlen(bad_sdp));
  tf = expect_error(h, 2, 445);
  cr_assert_not_null(strstr(tf->body, "line "), "body: %s", tf->body);
  /* wrong content-type, no body */
  send_sdp(h, 2, "OFFER", call, "alice", "a1", NULL, "text/plain", sdp_ok,
           strlen(sdp_ok));
  expect_error(h, 2, 445);
  send_sdp(h, 2, "OFFER", call, "alice", "a1", NULL, "application/sdpx",
           sdp_ok, strlen(sdp_ok));
  expect_error(h, 2, 445);
  feedf(h, 2, "OFFER\ncall: %s\nto: alice\nto-device: a1\n", call);
  expect_error(h, 2, 445);
  /* oversized: 447 whatever the content */
  size_t big = PARLEY_SDP_MAX + 1;
  char *huge = malloc(big);
  memset(huge, 'a', big);
  send_sdp(h, 2, "OFFER", call, "alice", "a1", NULL, "application/sdp",
           huge, big);
  expect_error(h, 2, 447);
  free(huge);
  /* addressed to someone not in the call, or to oneself */
  offer(h, 2, call, "carol", "c1");
  expect_error(h, 2, 443);
  offer(h, 2, call, "alice", "a2");
  expect_error(h, 2, 443);
  offer(h, 2, call, "bob", "b1");
  expect_error(h, 2, 443);
  /* header values */
  feedf(h, 2, "OFFER\ncall: %s\nto: Alice!\nto-device: a1\n", call);
  expect_error(h, 2, 427);
  feedf(h, 2, "OFFER\ncall: %s\nto-device: a1\n", call);
  expect_error(h, 2, 426);
  feedf(h, 2, "MEDIA-STATE\ncall: %s\n", call);
  expect_error(h, 2, 426);
  feedf(h, 2, "MEDIA-STATE\ncall: %s\naudio: maybe\n", call);
  expect_error(h, 2, 427);
  feedf(h, 2, "JOIN\ncall: %s\nrejoin: perhaps\n", call);
  expect_error(h, 2, 427);
  feedf(h, 2, "HANGUP\ncall: bad id!\n");
  expect_error(h, 2, 427);
  /* nothing of it reached alice */
  expect_nothing(h, 1);
  /* OFFER twice the same way: only with ice-restart; content-type
   * compared without case, parameters ignored, sent on without them */
  send_sdp(h, 2, "OFFER", call, "alice", "a1", NULL,
           "Application/SDP; charset=utf-8", sdp_ok, strlen(sdp_ok));
  expect(h, 2, "OK");
  hexpect(expect(h, 1, "OFFER"), "content-type", "application/sdp");
  offer(h, 2, call, "alice", "a1");
  expect_error(h, 2, 444);
  expect_nothing(h, 1);
  send_sdp(h, 2, "OFFER", call, "alice", "a1", "ice-restart: yes\n",
           "application/sdp", sdp_ok, strlen(sdp_ok));
  expect(h, 2, "OK");
  hexpect(expect(h, 1, "OFFER"), "ice-restart", "yes");
  /* JOIN when in; CALL while a call is live */
  feedf(h, 2, "JOIN\ncall: %s\n", call);
  expect_error(h, 2, 444);
  feedf(h, 2, "CALL\nconv: d\n");
  tf = expect_error(h, 2, 444);
  cr_assert_not_null(strstr(tf->body, call), "body names the call");
  feedf(h, 2, "CALL\nconv: d\nmedia: hologram\n");
  expect_error(h, 2, 427);
  expect_nothing(h, 1);
  cr_assert_eq(h->fatal, 0);
  cr_assert_eq(h->closes, 0);
  harness_free(h);
}

/* spec: CALL-16 */
Test(call, second_device_of_a_joined_user_is_refused)
{
  harness *h = harness_new();
  char call[64];
  snprintf(call, sizeof call, "%s", active_pair(h));
  ready(h, 4, "bob", "b2", "calls");
  feedf(h, 4, "JOIN\ncall: %s\n", call);
  expect_error(h, 4, 444);
  ready(h, 5, "alice", "a2", "calls");
  feedf(h, 5, "JOIN\ncall: %s\nrejoin: yes\n", call);
  expect_error(h, 5, 444);
  expect_nothing(h, 1);
  expect_nothing(h, 2);
  harness_free(h);
}

/* spec: CALL-11 CALL-12 */
Test(call, ring_timeout_ends_with_no_answer)
{
  harness *h = harness_new();
  add_conv(h, "d", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "a1", "calls");
  ready(h, 2, "bob", "b1", "calls");
  uint64_t t0 = h->now;
  char call[64];
  snprintf(call, sizeof call, "%s", call_in(h, 1, "d"));
  expect(h, 2, "RING");
  time_to(h, t0 + 29999);
  expect_nothing(h, 1);
  expect_nothing(h, 2);
  time_to(h, t0 + 30000);
  hexpect(expect(h, 1, "CALL-END"), "reason", "no-answer");
  hexpect(expect(h, 2, "CALL-END"), "reason", "no-answer");
  feedf(h, 2, "JOIN\ncall: %s\n", call);
  expect_error(h, 2, 443);
  /* a new call may start in the conversation */
  call_in(h, 1, "d");
  harness_free(h);
}

/* spec: CALL-5 CALL-13 */
Test(call, rejoin_within_grace_with_ice_restart)
{
  harness *h = harness_new();
  char call[64];
  snprintf(call, sizeof call, "%s", active_pair(h));
  offer(h, 2, call, "alice", "a1");
  expect(h, 2, "OK");
  expect(h, 1, "OFFER");

  gone(h, 2); /* bob's connection drops: away */
  expect_nothing(h, 1);
  /* a relay to the away participant is taken and dropped */
  feedf(h, 1, "CANDIDATE\ncall: %s\nto: bob\nto-device: b1\ncandidate: %s\n",
        call, cand_ok);
  expect(h, 1, "OK");
  time_to(h, h->now + 19000);
  expect_nothing(h, 1);

  ready(h, 7, "bob", "b1", "calls");
  feedf(h, 7, "JOIN\ncall: %s\nrejoin: yes\n", call);
  expect(h, 7, "OK");
  tframe *tf = expect(h, 7, "PARTICIPANTS");
  cr_assert_str_eq(tf->body, "alice a1\r\n");
  tf = expect(h, 1, "JOINED");
  hexpect(tf, "user", "bob");
  hexpect(tf, "rejoin", "yes");
  /* the rejoiner offers again with an ICE restart; no stale pending */
  send_sdp(h, 7, "OFFER", call, "alice", "a1", "ice-restart: yes\n",
           "application/sdp", sdp_ok, strlen(sdp_ok));
  expect(h, 7, "OK");
  tf = expect(h, 1, "OFFER");
  hexpect(tf, "ice-restart", "yes");
  hexpect(tf, "device", "b1");
  send_sdp(h, 1, "ANSWER", call, "bob", "b1", NULL, "application/sdp",
           sdp_ok, strlen(sdp_ok));
  expect(h, 1, "OK");
  expect(h, 7, "ANSWER");
  /* the grace that was running does nothing any more */
  time_to(h, h->now + 60000);
  expect_nothing(h, 1);
  expect_nothing(h, 7);
  cr_assert_eq(recs_of(h, PARLEY_CALL_REC_REJOINED), 1);
  cr_assert_eq(recs_of(h, PARLEY_CALL_REC_ENDED), 0);
  harness_free(h);
}

/* spec: CALL-13 */
Test(call, grace_expiry_leaves_disconnected_and_ends)
{
  harness *h = harness_new();
  char call[64];
  snprintf(call, sizeof call, "%s", active_pair(h));
  uint64_t t0 = h->now;
  gone(h, 2);
  time_to(h, t0 + 19999);
  expect_nothing(h, 1);
  time_to(h, t0 + 20000);
  tframe *tf = expect(h, 1, "LEFT");
  hexpect(tf, "user", "bob");
  hexpect(tf, "reason", "disconnected");
  hexpect(expect(h, 1, "CALL-END"), "reason", "disconnected");
  /* too late to rejoin */
  ready(h, 7, "bob", "b1", "calls");
  feedf(h, 7, "JOIN\ncall: %s\nrejoin: yes\n", call);
  expect_error(h, 7, 443);
  harness_free(h);
}

/* spec: CALL-1 CALL-3 CALL-8 */
Test(call, ring_reaches_a_session_ready_while_ringing)
{
  harness *h = harness_new();
  add_conv(h, "d", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "a1", "calls");
  char call[64];
  snprintf(call, sizeof call, "%s", call_in(h, 1, "d"));
  ready(h, 2, "bob", "b1", "calls"); /* RING after READY */
  tframe *tf = expect(h, 2, "RING");
  hexpect(tf, "call", call);
  ready(h, 3, "bob", "b9", "typing"); /* no calls: no RING */
  expect_nothing(h, 3);
  ready(h, 4, "alice", "a2", "calls"); /* the caller's: no RING */
  expect_nothing(h, 4);
  /* and it goes on ringing there until the end */
  feedf(h, 1, "HANGUP\ncall: %s\n", call);
  expect(h, 1, "OK");
  hexpect(expect(h, 1, "CALL-END"), "reason", "cancelled");
  hexpect(expect(h, 2, "CALL-END"), "reason", "cancelled");
  expect_nothing(h, 3);
  expect_nothing(h, 4);
  harness_free(h);
}

/* spec: CALL-8 CALL-10 CALL-12 */
Test(call, ring_stop_when_answered_elsewhere_and_declines)
{
  harness *h = harness_new();
  add_conv(h, "g", PARLEY_CONV_GROUP, abc, 3);
  add_conv(h, "d", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "a1", "calls");
  ready(h, 2, "bob", "b1", "calls");
  ready(h, 3, "bob", "b2", "calls");
  ready(h, 4, "carol", "c1", "calls");
  ready(h, 5, "carol", "c2", "calls");
  char call[64];
  snprintf(call, sizeof call, "%s", call_in(h, 1, "g"));
  for (parley_conn_id c = 2; c <= 5; c++)
    expect(h, c, "RING");
  /* bob answers on b1: b2 stops ringing */
  feedf(h, 2, "JOIN\ncall: %s\n", call);
  expect(h, 2, "OK");
  expect(h, 2, "PARTICIPANTS");
  expect(h, 1, "JOINED");
  tframe *tf = expect(h, 3, "RING-STOP");
  hexpect(tf, "reason", "answered-elsewhere");
  hexpect(tf, "call", call);
  expect_nothing(h, 2);
  /* carol declines on c2 in a group: c1 stops, the call goes on */
  feedf(h, 5, "HANGUP\ncall: %s\n", call);
  expect(h, 5, "OK");
  hexpect(expect(h, 4, "RING-STOP"), "reason", "declined-elsewhere");
  expect_nothing(h, 5);
  expect_nothing(h, 1);
  /* the end reaches the participants and the RING sessions that got no
   * RING-STOP: c2, which declined */
  feedf(h, 1, "HANGUP\ncall: %s\nreason: done\n", call);
  expect(h, 1, "OK");
  hexpect(expect(h, 1, "CALL-END"), "reason", "done");
  hexpect(expect(h, 2, "CALL-END"), "reason", "done");
  hexpect(expect(h, 5, "CALL-END"), "reason", "done");
  for (parley_conn_id c = 3; c <= 5; c++)
    expect_nothing(h, c);

  /* a direct call declined by the callee ends for all */
  snprintf(call, sizeof call, "%s", call_in(h, 1, "d"));
  expect(h, 2, "RING");
  expect(h, 3, "RING");
  feedf(h, 3, "HANGUP\ncall: %s\n", call);
  expect(h, 3, "OK");
  hexpect(expect(h, 1, "CALL-END"), "reason", "declined");
  hexpect(expect(h, 2, "CALL-END"), "reason", "declined");
  hexpect(expect(h, 3, "CALL-END"), "reason", "declined");
  harness_free(h);
}

/* spec: CALL-8 */
Test(call, caller_leave_while_ringing_cancels)
{
  harness *h = harness_new();
  add_conv(h, "d", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "a1", "calls");
  ready(h, 2, "bob", "b1", "calls");
  char call[64];
  snprintf(call, sizeof call, "%s", call_in(h, 1, "d"));
  expect(h, 2, "RING");
  feedf(h, 1, "LEAVE\ncall: %s\n", call);
  expect(h, 1, "OK");
  /* the sender of the LEAVE that ends the call gets the end too */
  hexpect(expect(h, 1, "CALL-END"), "reason", "cancelled");
  expect_nothing(h, 1);
  hexpect(expect(h, 2, "CALL-END"), "reason", "cancelled");
  cr_assert_str_eq(h->recs[h->rec_len - 1].reason, "cancelled");
  harness_free(h);
}

/* spec: CALL-1 */
Test(call, caps_without_calls_still_handled)
{
  harness *h = harness_new();
  add_conv(h, "d", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "a1", "");
  ready(h, 2, "bob", "b1", "");
  char call[64];
  snprintf(call, sizeof call, "%s", call_in(h, 1, "d"));
  expect_nothing(h, 2); /* no RING without the capability */
  feedf(h, 2, "JOIN\ncall: %s\n", call);
  expect(h, 2, "OK");
  expect(h, 2, "PARTICIPANTS");
  expect(h, 1, "JOINED"); /* participants get their frames */
  harness_free(h);
}

Test(call, live_calls_are_capped)
{
  harness *h = harness_cfg(1);
  add_conv(h, "d", PARLEY_CONV_DIRECT, ab, 2);
  add_conv(h, "g", PARLEY_CONV_GROUP, abc, 3);
  ready(h, 1, "alice", "a1", "calls");
  call_in(h, 1, "d");
  feedf(h, 1, "CALL\nconv: g\n");
  tframe *tf = expect_error(h, 1, 429);
  cr_assert_gt(tf->body_len, 0);
  harness_free(h);
}

Test(call, participants_are_capped)
{
  harness *h = harness_new();
  static char names[17][16];
  const char *members[17];
  for (int i = 0; i < 17; i++) {
    snprintf(names[i], sizeof names[i], "u%d", i);
    members[i] = names[i];
  }
  add_conv(h, "big", PARLEY_CONV_GROUP, members, 17);
  for (int i = 0; i < 17; i++)
    ready(h, (parley_conn_id)(10 + i), names[i], "d", "");
  char call[64];
  snprintf(call, sizeof call, "%s", call_in(h, 10, "big"));
  for (int i = 1; i < 16; i++) {
    feedf(h, (parley_conn_id)(10 + i), "JOIN\ncall: %s\n", call);
    expect(h, (parley_conn_id)(10 + i), "OK");
  }
  feedf(h, 26, "JOIN\ncall: %s\n", call);
  expect_error(h, 26, 444);
  harness_free(h);
}

Test(call, a_failed_call_record_write_is_fatal)
{
  harness *h = harness_new();
  add_conv(h, "d", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "a1", "calls");
  h->fail_call_events = true;
  feedf(h, 1, "CALL\nconv: d\n");
  cr_assert_eq(h->fatal, 1);
  expect(h, 1, "OK"); /* relays do not wait for the record */
  hexpect(expect(h, 1, "ERROR"), "code", "500");
  harness_free(h);
}

/* spec: CALL-7 */
Test(call, server_only_verbs_from_a_client_are_bad_state)
{
  harness *h = harness_new();
  ready(h, 1, "alice", "a1", "calls");
  feedf(h, 1, "RING\ncall: kabc\n");
  tframe *tf = expect(h, 1, "ERROR");
  hexpect(tf, "code", "421");
  harness_free(h);
}

Test(call, hangup_from_a_new_session_of_an_away_participant)
{
  harness *h = harness_new();
  char call[64];
  snprintf(call, sizeof call, "%s", active_pair(h));
  gone(h, 2);
  ready(h, 8, "bob", "b1", "calls"); /* back, without rejoining */
  feedf(h, 8, "MEDIA-STATE\ncall: %s\naudio: on\n", call);
  expect_error(h, 8, 443); /* relays need the bound session */
  feedf(h, 8, "HANGUP\ncall: %s\n", call);
  expect(h, 8, "OK");
  hexpect(expect(h, 1, "CALL-END"), "reason", "hangup");
  hexpect(expect(h, 8, "CALL-END"), "reason", "hangup"); /* the sender */
  expect_nothing(h, 8);
  harness_free(h);
}

Test(call, reconnects_while_ringing_keep_the_ring_list_bounded)
{
  harness *h = harness_new();
  add_conv(h, "d", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "a1", "calls");
  char call[64];
  snprintf(call, sizeof call, "%s", call_in(h, 1, "d"));
  for (parley_conn_id c = 100; c < 400; c++) {
    ready(h, c, "bob", "b1", "calls");
    expect(h, c, "RING");
    if (c < 399)
      gone(h, c);
  }
  feedf(h, 1, "HANGUP\ncall: %s\n", call);
  expect(h, 1, "OK");
  expect(h, 1, "CALL-END");
  expect(h, 399, "CALL-END");
  for (parley_conn_id c = 100; c < 399; c++)
    expect_nothing(h, c);
  harness_free(h);
}

/* CALL-24: a call frame whose body is "none" in spec 19.2 but that
 * carries one gets bad-value naming content-length, and nothing is
 * relayed or changed; content-length: 0 is no body. */
Test(call, bodies_on_bodyless_verbs_refused)
{
  harness *h = harness_new();
  char call[64], head[512];
  snprintf(call, sizeof call, "%s", active_pair(h));
  const char *heads[] = {
    "CANDIDATE\ncall: %s\nto: alice\nto-device: a1\ncandidate: %s\n",
    "END-OF-CANDIDATES\ncall: %s\nto: alice\nto-device: a1\n%s",
    "MEDIA-STATE\ncall: %s\naudio: off\n%s",
    "JOIN\ncall: %s\nrejoin: yes\n%s",
    "LEAVE\ncall: %s\n%s",
    "HANGUP\ncall: %s\n%s",
    "CALL\nconv: d\n%s%s",
  };

  for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
    if (i == 6)
      snprintf(head, sizeof head, heads[i], "", "");
    else
      snprintf(head, sizeof head, heads[i], call, i == 0 ? cand_ok : "");
    feed_frame(h, 2, head, "x", 1);
    tframe *tf = expect_error(h, 2, 427);
    cr_assert_not_null(strstr(tf->body, "content-length"), "%s: %s", head,
                       tf->body);
    expect_nothing(h, 1);
    expect_nothing(h, 2);
  }
  /* the call is still live: an empty body is no body */
  feed_frame(h, 2, "MEDIA-STATE\ncall: d\naudio: off\n", "", 0);
  expect_error(h, 2, 443);
  snprintf(head, sizeof head, "MEDIA-STATE\ncall: %s\naudio: off\n", call);
  feed_frame(h, 2, head, "", 0);
  expect(h, 2, "OK");
  expect(h, 1, "MEDIA-STATE");
  harness_free(h);
}

/* A candidate ending in an empty extension value ("... typ host a ") is
 * in the grammar (extension-att-value = *VCHAR, spec 19.6, as RFC 8839)
 * and header values may end in SP (section 2.2): it is relayed octet for
 * octet, the trailing space kept (CALL-5). */
Test(call, candidate_with_empty_extension_value_relayed_as_sent)
{
  harness *h = harness_new();
  char call[64];
  static const char cand[] =
    "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host a ";
  snprintf(call, sizeof call, "%s", active_pair(h));

  feedf(h, 2, "CANDIDATE\ncall: %s\nto: alice\nto-device: a1\n"
              "candidate: %s\n", call, cand);
  expect(h, 2, "OK");
  hexpect(expect(h, 1, "CANDIDATE"), "candidate", cand);
  harness_free(h);
}
