/* Unit tests for the sans-I/O server core. A fake in-memory store keeps
 * the requests the core issues and completes them, in issue order, when a
 * test says so (or at once in "auto" mode); the clock is the test's. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "parley/server.h"
#include "parley/token.h"
#include "server_fixture.h"

#define MAX_OUT 4096
#define MAX_EVENTS 4096
#define MAX_REQS 1024
#define MAX_CONVS 32

/* ---- captured output ---- */

typedef struct stored_req {
  parley_store_req req;
  char *body;
  parley_conv_info conv;
} stored_req;

typedef struct api_copy {
  uint64_t api_id;
  parley_err err;
  bool has_conv;
  parley_conv_info conv;
  bool created;
  size_t event_count;
  uint64_t seqs[128];
  bool more;
  char cursor[128];
} api_copy;

typedef struct harness {
  parley_server *s;
  parley_server_config cfg;
  uint64_t now;
  bool auto_store;
  out_frame out[MAX_OUT];
  size_t out_len;
  struct {
    parley_conn_id conn;
    uint16_t code;
  } closes[256];
  size_t close_len;
  stored_req reqs[MAX_REQS];
  size_t req_len;  /* issued */
  size_t req_done; /* completed, oldest first */
  uint64_t timer_at;
  api_copy api[64];
  size_t api_len;
  int fatal;
  size_t store_count[8]; /* STORE actions per op */
  /* the fake store */
  parley_event log[MAX_EVENTS];
  char *log_bodies[MAX_EVENTS];
  size_t log_len;
  parley_conv_info convs[MAX_CONVS];
  size_t conv_len;
  bool fail_next;
} harness;

static uint8_t tok_pk[32];
static uint8_t tok_sk[64];

static void pump(harness *h);

/* ---- the fake store ---- */

static const parley_conv_info *store_conv(harness *h, const char *id)
{
  for (size_t i = 0; i < h->conv_len; i++)
    if (strcmp(h->convs[i].id, id) == 0)
      return &h->convs[i];
  return NULL;
}

static bool store_member(harness *h, const char *conv, const char *user)
{
  const parley_conv_info *c = store_conv(h, conv);
  for (size_t i = 0; c && i < c->member_count; i++)
    if (strcmp(c->members[i], user) == 0)
      return true;
  return false;
}

static void log_append(harness *h, const parley_event *e, const char *body,
                       size_t len)
{
  cr_assert_lt(h->log_len, MAX_EVENTS);
  h->log[h->log_len] = *e;
  if (e->type == PARLEY_EVENT_MSG) {
    char *copy = malloc(len + 1);
    memcpy(copy, body, len);
    h->log_bodies[h->log_len] = copy;
    h->log[h->log_len].msg.body = copy;
  }
  h->log_len++;
}

static uint64_t event_pos(const parley_event *e)
{
  return e->type == PARLEY_EVENT_MSG ? e->msg.pos : e->receipt.pos;
}

static const char *event_conv(const parley_event *e)
{
  return e->type == PARLEY_EVENT_MSG ? e->msg.conv : e->receipt.conv;
}

/* READ_EVENTS over the log. */
static void read_events(harness *h, const parley_store_req *r,
                        parley_event *out, size_t *n, bool *more)
{
  *n = 0;
  *more = false;
  for (size_t i = 0; i < h->log_len; i++) {
    const parley_event *e = &h->log[i];
    uint64_t pos = event_pos(e);
    if (pos <= r->read_events.after_pos || pos > r->read_events.upto_pos ||
        !store_member(h, event_conv(e), r->read_events.user))
      continue;
    if (*n == r->read_events.limit) {
      *more = true;
      return;
    }
    out[(*n)++] = *e;
  }
}

/* READ_HISTORY over the log. */
static void read_history(harness *h, const parley_store_req *r,
                         parley_event *out, size_t *n, bool *more)
{
  parley_event all[MAX_EVENTS];
  size_t total = 0;
  for (size_t i = 0; i < h->log_len; i++) {
    const parley_event *e = &h->log[i];
    if (e->type != PARLEY_EVENT_MSG ||
        strcmp(e->msg.conv, r->read_history.conv) != 0)
      continue;
    uint64_t seq = e->msg.seq;
    if (r->read_history.forward && seq <= r->read_history.after_seq)
      continue;
    if (!r->read_history.forward && r->read_history.before_seq != 0 &&
        seq >= r->read_history.before_seq)
      continue;
    all[total++] = *e;
  }
  size_t lim = r->read_history.limit;
  size_t start = 0;
  if (r->read_history.forward) {
    *n = total < lim ? total : lim;
    *more = total > lim;
  } else {
    start = total > lim ? total - lim : 0;
    *n = total - start;
    *more = start > 0;
  }
  memcpy(out, all + start, *n * sizeof *out);
}

/* Completes up to `count` requests, oldest first. */
static void store_complete(harness *h, size_t count)
{
  static parley_event page[MAX_EVENTS];
  while (count-- > 0 && h->req_done < h->req_len) {
    stored_req *sr = &h->reqs[h->req_done++];
    parley_store_result res = {sr->req.id, true, NULL, 0, false};
    parley_event e;
    memset(&e, 0, sizeof e);
    if (h->fail_next) {
      res.ok = false;
      h->fail_next = false;
    } else if (sr->req.op == PARLEY_STORE_APPEND_MSG) {
      e.type = PARLEY_EVENT_MSG;
      e.msg = sr->req.msg;
      log_append(h, &e, sr->body, sr->req.msg.body_len);
    } else if (sr->req.op == PARLEY_STORE_APPEND_RECEIPT) {
      e.type = PARLEY_EVENT_RECEIPT;
      e.receipt = sr->req.receipt;
      log_append(h, &e, NULL, 0);
    } else if (sr->req.op == PARLEY_STORE_CREATE_CONV) {
      h->convs[h->conv_len++] = sr->conv;
    } else if (sr->req.op == PARLEY_STORE_READ_EVENTS) {
      read_events(h, &sr->req, page, &res.event_count, &res.more);
      res.events = page;
    } else {
      read_history(h, &sr->req, page, &res.event_count, &res.more);
      res.events = page;
    }
    parley_server_on_store_done(h->s, &res, h->now);
    pump(h);
  }
}

static size_t store_pending(const harness *h)
{
  return h->req_len - h->req_done;
}

/* ---- driving the core ---- */

static void keep_store(harness *h, const parley_store_req *req)
{
  cr_assert_lt(h->req_len, MAX_REQS);
  stored_req *sr = &h->reqs[h->req_len++];
  memset(sr, 0, sizeof *sr);
  sr->req = *req;
  if (req->op == PARLEY_STORE_APPEND_MSG) {
    sr->body = malloc(req->msg.body_len + 1);
    memcpy(sr->body, req->msg.body, req->msg.body_len);
    sr->req.msg.body = sr->body;
  }
  if (req->op == PARLEY_STORE_CREATE_CONV)
    sr->conv = *req->conv;
  sr->req.conv = NULL;
  h->store_count[req->op]++;
}

static void keep_api(harness *h, const parley_api_reply *r)
{
  api_copy *a = &h->api[h->api_len++];
  memset(a, 0, sizeof *a);
  a->api_id = r->api_id;
  a->err = r->err;
  a->has_conv = r->conv != NULL;
  if (r->conv)
    a->conv = *r->conv;
  a->created = r->created;
  a->event_count = r->event_count;
  for (size_t i = 0; i < r->event_count && i < 128; i++)
    a->seqs[i] = r->events[i].msg.seq;
  a->more = r->more;
  if (r->cursor)
    snprintf(a->cursor, sizeof a->cursor, "%s", r->cursor);
}

/* Drains every action; checks that no log line carries a token. */
static void pump(harness *h)
{
  parley_action a;
  bool more_store = false;
  while (parley_server_next_action(h->s, &a)) {
    switch (a.kind) {
    case PARLEY_ACT_SEND:
      fx_keep_sent(h->out, &h->out_len, MAX_OUT, &a);
      break;
    case PARLEY_ACT_CLOSE:
      h->closes[h->close_len].conn = a.conn;
      h->closes[h->close_len++].code = a.ws_code;
      break;
    case PARLEY_ACT_STORE:
      keep_store(h, a.store);
      more_store = true;
      break;
    case PARLEY_ACT_TIMER:
      h->timer_at = a.at_ms;
      break;
    case PARLEY_ACT_API_REPLY:
      keep_api(h, a.api);
      break;
    case PARLEY_ACT_LOG:
      cr_assert_null(strstr(a.data, "pt1."), "token in log: %s", a.data);
      cr_assert_eq(strlen(a.data), a.len);
      break;
    case PARLEY_ACT_FATAL:
      cr_assert_not_null(a.data);
      h->fatal++;
      break;
    }
  }
  if (h->auto_store && more_store)
    store_complete(h, SIZE_MAX);
}

static harness *harness_new_cfg(const parley_server_config *cfg)
{
  harness *h = calloc(1, sizeof *h);
  h->cfg = *cfg;
  h->now = 1000000;
  h->auto_store = true;
  h->s = parley_server_new(&h->cfg);
  cr_assert_not_null(h->s);
  return h;
}

static parley_server_config default_cfg(void)
{
  parley_server_config cfg;
  memset(&cfg, 0, sizeof cfg);
  memcpy(cfg.token_public_key, tok_pk, 32);
  memset(cfg.cursor_key, 0x5a, 32);
  cfg.seed = 42;
  return cfg;
}

static harness *harness_new(void)
{
  parley_server_config cfg = default_cfg();
  return harness_new_cfg(&cfg);
}

static void harness_free(harness *h)
{
  parley_server_free(h->s);
  fx_free_out(h->out, h->out_len);
  for (size_t i = 0; i < h->req_len; i++)
    free(h->reqs[i].body);
  for (size_t i = 0; i < h->log_len; i++)
    free(h->log_bodies[i]);
  free(h);
}

static void keys_init(void)
{
  fx_keys(3, tok_pk, tok_sk);
}

TestSuite(server, .init = keys_init);

/* Adds a conversation to the core and the fake store. */
static void add_conv(harness *h, const char *id, parley_conv_kind kind,
                     const char *const *members, size_t n)
{
  parley_conv_info *c = &h->convs[h->conv_len++];
  memset(c, 0, sizeof *c);
  snprintf(c->id, sizeof c->id, "%s", id);
  c->kind = kind;
  c->member_count = n;
  for (size_t i = 0; i < n; i++)
    snprintf(c->members[i], sizeof c->members[i], "%s", members[i]);
  cr_assert_eq(parley_server_load_conv(h->s, c), PARLEY_OK);
}

static void feed(harness *h, parley_conn_id conn, const char *text)
{
  parley_server_on_message(h->s, conn, text, strlen(text), false, h->now);
  pump(h);
}

static void feedf(harness *h, parley_conn_id conn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Feeds a frame written with \n line ends (turned into CRLF). */
static void feedf(harness *h, parley_conn_id conn, const char *fmt, ...)
{
  static char raw[70000], crlf[140000];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(raw, sizeof raw, fmt, ap);
  va_end(ap);
  size_t k = 0;
  for (size_t i = 0; raw[i]; i++) {
    if (raw[i] == '\n')
      crlf[k++] = '\r';
    crlf[k++] = raw[i];
  }
  crlf[k] = '\0';
  feed(h, conn, crlf);
}

/* Sends SEND with a body; the frame text is built here. */
static void send_msg(harness *h, parley_conn_id conn, const char *conv,
                     const char *temp_id, const char *body, const char *req)
{
  char req_line[100] = "";
  if (req)
    snprintf(req_line, sizeof req_line, "req: %s\n", req);
  feedf(h, conn, "SEND\nconv: %s\ntemp-id: %s\n%scontent-length: %zu\n\n%s",
        conv, temp_id, req_line, strlen(body), body);
}

static void time_to(harness *h, uint64_t t)
{
  h->now = t;
  parley_server_on_time(h->s, t);
  pump(h);
}

/* ---- reading what the core sent ---- */

/* The oldest frame sent on conn not yet looked at, or NULL. */
static out_frame *next_out(harness *h, parley_conn_id conn)
{
  return fx_next_out(h->out, h->out_len, conn);
}

/* Takes the next frame on conn, checks its verb, returns it parsed (in a
 * scratch buffer valid until the next call). */
static tframe *expect(harness *h, parley_conn_id conn, const char *verb)
{
  return fx_expect(h->out, h->out_len, conn, verb);
}

/* Expects ERROR with `code`, checks `fatal`, returns the frame. */
static tframe *expect_error(harness *h, parley_conn_id conn, int code)
{
  return fx_expect_error(h->out, h->out_len, conn, code);
}

static bool closed(const harness *h, parley_conn_id conn, uint16_t *code)
{
  for (size_t i = 0; i < h->close_len; i++) {
    if (h->closes[i].conn == conn) {
      if (code)
        *code = h->closes[i].code;
      return true;
    }
  }
  return false;
}

static void expect_nothing(harness *h, parley_conn_id conn)
{
  fx_expect_nothing(h->out, h->out_len, conn);
}

static void token_for(const char *user, uint64_t expires, char *out)
{
  cr_assert_eq(parley_token_issue(tok_sk, user, 0, expires, out,
                                  PARLEY_TOKEN_MAX + 1),
               PARLEY_OK);
}

static void hello(harness *h, parley_conn_id conn, const char *caps)
{
  parley_server_on_open(h->s, conn, h->now);
  pump(h);
  feedf(h, conn, "HELLO\nversions: 1\ncaps: %s\nheartbeat: 30000\n\n",
        caps);
  expect(h, conn, "WELCOME");
}

static void auth(harness *h, parley_conn_id conn, const char *user,
                 const char *device, uint64_t expires)
{
  char tok[PARLEY_TOKEN_MAX + 1];
  token_for(user, expires, tok);
  feedf(h, conn, "AUTH\ntoken: %s\ndevice: %s\n\n", tok, device);
}

/* Opens a session for user/device with the given caps and a token that
 * expires at `expires`, and checks it is READY. */
static void ready_until(harness *h, parley_conn_id conn, const char *user,
                        const char *device, const char *caps,
                        uint64_t expires)
{
  hello(h, conn, caps);
  auth(h, conn, user, device, expires);
  expect(h, conn, "READY");
}

/* Opens a session for user/device with the given caps, READY. */
static void ready(harness *h, parley_conn_id conn, const char *user,
                  const char *device, const char *caps)
{
  ready_until(h, conn, user, device, caps, h->now + 100000000);
}

static const char *const ab[] = {"alice", "bob"};
static const char *const abc[] = {"alice", "bob", "carol"};
static const char *const bc[] = {"bob", "carol"};

/* ---- life cycle ---- */

/* spec: LIFE-2 VER-1 VER-2 EXT-2 HB-1 REQ-1 AUTH-1 SEC-5 RATE-3 */
Test(server, hello_welcome_auth_ready)
{
  harness *h = harness_new();
  parley_server_on_open(h->s, 1, h->now);
  pump(h);
  feed(h, 1, "HELLO\r\nversions: 2,1\r\ncaps: presence,x-magic,receipts\r\n"
             "heartbeat: 5\r\nreq: r1\r\n\r\n");
  tframe *tf = expect(h, 1, "WELCOME");
  cr_assert_str_eq(hget(tf, "version"), "1");
  cr_assert_str_eq(hget(tf, "caps"), "receipts,presence");
  cr_assert_eq(hnum(tf, "heartbeat"), 200); /* raised to the minimum */
  cr_assert_eq(hnum(tf, "max-frame"), 65536);
  cr_assert_eq(hnum(tf, "max-headers"), 32);
  cr_assert_eq(hnum(tf, "max-header-line"), 1024);
  cr_assert_eq(hnum(tf, "max-body"), 64512);
  cr_assert_eq(hnum(tf, "dedup-window"), 86400000);
  cr_assert_eq(hnum(tf, "typing-ttl"), 6000);
  cr_assert_eq(hnum(tf, "rate"), 200);
  cr_assert_eq(hnum(tf, "rate-burst"), 400);
  cr_assert_str_eq(hget(tf, "req"), "r1");

  char tok[PARLEY_TOKEN_MAX + 1];
  token_for("alice", h->now + 60000, tok);
  feedf(h, 1, "AUTH\ntoken: %s\ndevice: phone\nreq: r2\n\n", tok);
  tf = expect(h, 1, "READY");
  cr_assert_str_eq(hget(tf, "user"), "alice");
  cr_assert_str_eq(hget(tf, "device"), "phone");
  cr_assert_eq(hnum(tf, "expires"), h->now + 60000);
  cr_assert_str_eq(hget(tf, "req"), "r2");
  cr_assert(!closed(h, 1, NULL));
  harness_free(h);
}

/* spec: HB-1 EXT-2 */
Test(server, heartbeat_clamped_high_and_empty_caps)
{
  harness *h = harness_new();
  parley_server_on_open(h->s, 1, h->now);
  feed(h, 1, "HELLO\r\nversions: 1\r\ncaps: \r\nheartbeat: 99999999999"
             "\r\n\r\n");
  tframe *tf = expect(h, 1, "WELCOME");
  cr_assert_eq(hnum(tf, "heartbeat"), 120000);
  cr_assert_str_eq(hget(tf, "caps"), "");
  harness_free(h);
}

/* spec: HB-1 FRAME-11 */
Test(server, heartbeat_of_any_size_is_clamped_never_refused)
{
  static const char *const huge[] = {
    "18446744073709551615", "18446744073709551616",
    "99999999999999999999", "1000000000000000000000000000000000000000",
  };
  harness *h = harness_new();
  for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
    parley_server_on_open(h->s, i + 1, h->now);
    feedf(h, i + 1, "HELLO\nversions: 1\nheartbeat: %s\n\n", huge[i]);
    tframe *tf = expect(h, i + 1, "WELCOME");
    cr_assert_eq(hnum(tf, "heartbeat"), 120000, "case %zu", i);
  }
  parley_server_on_open(h->s, 9, h->now);
  feedf(h, 9, "HELLO\nversions: 1\nheartbeat: 0\n\n");
  cr_assert_eq(hnum(expect(h, 9, "WELCOME"), "heartbeat"), 200);
  parley_server_on_open(h->s, 10, h->now);
  feedf(h, 10, "HELLO\nversions: 1\nheartbeat: 09999999999999999999\n\n");
  expect_error(h, 10, 427);
  harness_free(h);
}

/* spec: LIFE-1 LIFE-7 ERR-2 ERR-4 */
Test(server, first_frame_must_be_hello)
{
  harness *h = harness_new();
  uint16_t code = 0;
  parley_server_on_open(h->s, 1, h->now);
  feed(h, 1, "PING\r\nreq: a\r\n\r\n");
  tframe *tf = expect_error(h, 1, 421);
  cr_assert_str_eq(hget(tf, "req"), "a");
  cr_assert(closed(h, 1, &code));
  cr_assert_eq(code, 1002);
  feed(h, 1, "HELLO\r\nversions: 1\r\nheartbeat: 1000\r\n\r\n");
  expect_nothing(h, 1); /* the session is gone */
  harness_free(h);
}

/* spec: LIFE-2 VER-2 */
Test(server, unsupported_version_is_fatal)
{
  harness *h = harness_new();
  parley_server_on_open(h->s, 1, h->now);
  feed(h, 1, "HELLO\r\nversions: 2,3\r\nheartbeat: 1000\r\n\r\n");
  expect_error(h, 1, 422);
  cr_assert(closed(h, 1, NULL));
  harness_free(h);
}

/* spec: LIFE-2 FRAME-11 */
Test(server, hello_missing_and_bad_headers_name_the_header)
{
  harness *h = harness_new();
  parley_server_on_open(h->s, 1, h->now);
  feed(h, 1, "HELLO\r\nheartbeat: 1000\r\n\r\n");
  tframe *tf = expect_error(h, 1, 426);
  cr_assert_not_null(strstr(tf->body, "versions"));
  feed(h, 1, "HELLO\r\nversions: 1\r\n\r\n");
  tf = expect_error(h, 1, 426);
  cr_assert_not_null(strstr(tf->body, "heartbeat"));
  feed(h, 1, "HELLO\r\nversions: 1,x\r\nheartbeat: 1000\r\n\r\n");
  tf = expect_error(h, 1, 427);
  cr_assert_not_null(strstr(tf->body, "versions"));
  feed(h, 1, "HELLO\r\nversions: 1\r\nheartbeat: -4\r\n\r\n");
  tf = expect_error(h, 1, 427);
  cr_assert_not_null(strstr(tf->body, "heartbeat"));
  cr_assert(!closed(h, 1, NULL));
  feed(h, 1, "HELLO\r\nversions: 1\r\nheartbeat: 1000\r\n\r\n");
  expect(h, 1, "WELCOME");
  harness_free(h);
}

/* spec: FRAME-11 VER-2 EXT-2 LIFE-2 */
Test(server, hello_values_have_their_form)
{
  static const char *const bad[] = {
    "versions: 01\r\nheartbeat: 1000",
    "versions: 1, 2\r\nheartbeat: 1000",
    "versions: 1,\r\nheartbeat: 1000",
    "versions: \r\nheartbeat: 1000",
    "versions: 1\r\nheartbeat: 010",
    "versions: 1\r\nheartbeat: 00",
    "versions: 1\r\ncaps: Typing\r\nheartbeat: 1000",
    "versions: 1\r\ncaps: typing,\r\nheartbeat: 1000",
    "versions: 1\r\ncaps: typing, presence\r\nheartbeat: 1000",
  };
  static const char *const named[] = {
    "versions", "versions", "versions", "versions", "heartbeat",
    "heartbeat", "caps", "caps", "caps",
  };
  harness *h = harness_new();
  parley_server_on_open(h->s, 1, h->now);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[200];
    snprintf(text, sizeof text, "HELLO\r\n%s\r\n\r\n", bad[i]);
    feed(h, 1, text);
    tframe *tf = expect_error(h, 1, 427);
    cr_assert_not_null(strstr(tf->body, named[i]), "case %zu: %s", i,
                       tf->body);
  }
  cr_assert(!closed(h, 1, NULL)); /* still OPEN */
  feed(h, 1, "HELLO\r\nversions: 7,10,1\r\ncaps: x-new,typing\r\n"
             "heartbeat: 1000\r\n\r\n");
  tframe *tf = expect(h, 1, "WELCOME");
  cr_assert_str_eq(hget(tf, "version"), "1");
  cr_assert_str_eq(hget(tf, "caps"), "typing");
  harness_free(h);
}

/* spec: AUTH-2 HB-3 LIFE-4 */
Test(server, before_ready_only_hello_auth_ping_bye)
{
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  hello(h, 1, "");
  send_msg(h, 1, "c1", "t1", "hi", "r9");
  tframe *tf = expect_error(h, 1, 423);
  cr_assert_str_eq(hget(tf, "req"), "r9");
  feed(h, 1, "FROB\r\n\r\n");
  expect_error(h, 1, 423);
  feed(h, 1, "PING\r\nnonce: n-1\r\n\r\n");
  tf = expect(h, 1, "PONG");
  cr_assert_str_eq(hget(tf, "nonce"), "n-1");
  feed(h, 1, "HELLO\r\nversions: 1\r\nheartbeat: 1000\r\n\r\n");
  expect_error(h, 1, 421);
  cr_assert(closed(h, 1, NULL));
  cr_assert_eq(h->store_count[PARLEY_STORE_APPEND_MSG], 0);
  harness_free(h);
}

/* spec: AUTH-1 FRAME-11 LIFE-7 SEC-7 */
Test(server, bad_token_and_bad_device)
{
  harness *h = harness_new();
  uint16_t code = 0;
  hello(h, 1, "");
  feed(h, 1, "AUTH\r\ntoken: pt1.abc.def\r\n\r\n");
  tframe *tf = expect_error(h, 1, 426);
  cr_assert_not_null(strstr(tf->body, "device"));
  feed(h, 1, "AUTH\r\ntoken: pt1.abc.def\r\ndevice: a b\r\n\r\n");
  tf = expect_error(h, 1, 427);
  cr_assert_not_null(strstr(tf->body, "device"));
  feed(h, 1, "AUTH\r\ntoken: pt1.abc.def\r\ndevice: phone\r\n\r\n");
  expect_error(h, 1, 424);
  cr_assert(closed(h, 1, &code));
  cr_assert_eq(code, 1008);

  hello(h, 2, "");
  auth(h, 2, "alice", "phone", h->now); /* expires now */
  expect_error(h, 2, 425);
  cr_assert(closed(h, 2, NULL));
  harness_free(h);
}

/* spec: AUTH-3 */
Test(server, token_expiry_closes_ready_session)
{
  harness *h = harness_new();
  ready_until(h, 1, "alice", "phone", "", h->now + 5000);
  uint64_t exp = h->now + 5000;
  /* keep the heartbeat alive, and check the timer is armed */
  for (uint64_t t = h->now + 1000; t < exp; t += 1000) {
    time_to(h, t);
    feed(h, 1, "PING\r\n\r\n");
    expect(h, 1, "PONG");
  }
  cr_assert_eq(h->timer_at, exp);
  time_to(h, exp - 1);
  cr_assert(!closed(h, 1, NULL));
  time_to(h, exp);
  expect_error(h, 1, 425);
  cr_assert(closed(h, 1, NULL));
  harness_free(h);
}

/* spec: AUTH-3 AUTH-4 */
Test(server, token_refresh_extends_and_must_match)
{
  harness *h = harness_new();
  ready_until(h, 1, "alice", "phone", "", h->now + 5000);
  uint64_t exp = h->now + 5000;
  time_to(h, h->now + 4000);
  auth(h, 1, "alice", "phone", exp + 20000);
  tframe *tf = expect(h, 1, "READY");
  cr_assert_eq(hnum(tf, "expires"), exp + 20000);
  time_to(h, exp + 100);
  feed(h, 1, "PING\r\n\r\n");
  expect(h, 1, "PONG");
  cr_assert(!closed(h, 1, NULL));
  /* a fresh AUTH for another device is bad-state */
  auth(h, 1, "alice", "laptop", exp + 30000);
  expect_error(h, 1, 421);
  cr_assert(closed(h, 1, NULL));
  /* and for another user */
  ready_until(h, 2, "alice", "phone", "", h->now + 50000);
  auth(h, 2, "bob", "phone", h->now + 50000);
  expect_error(h, 2, 421);
  harness_free(h);
}

/* spec: LIFE-3 */
Test(server, handshake_timeout)
{
  harness *h = harness_new();
  uint64_t t0 = h->now;
  parley_server_on_open(h->s, 1, h->now);
  pump(h);
  cr_assert_eq(h->timer_at, t0 + 10000);
  feed(h, 1, "HELLO\r\nversions: 1\r\nheartbeat: 60000\r\n\r\n");
  expect(h, 1, "WELCOME");
  time_to(h, t0 + 9999);
  expect_nothing(h, 1);
  time_to(h, t0 + 10000);
  tframe *tf = expect_error(h, 1, 428);
  cr_assert_null(hget(tf, "req"));
  cr_assert(closed(h, 1, NULL));
  /* a READY session is not subject to it */
  ready(h, 2, "alice", "phone", "");
  time_to(h, h->now + 20000);
  expect_nothing(h, 2);
  cr_assert(!closed(h, 2, NULL));
  harness_free(h);
}

/* spec: HB-4 HB-7 */
Test(server, heartbeat_silence_closes)
{
  harness *h = harness_new();
  parley_server_on_open(h->s, 1, h->now);
  feed(h, 1, "HELLO\r\nversions: 1\r\nheartbeat: 1000\r\n\r\n");
  expect(h, 1, "WELCOME");
  auth(h, 1, "alice", "phone", h->now + 10000000);
  expect(h, 1, "READY");
  uint64_t t = h->now;
  for (int i = 0; i < 5; i++) {
    t += 1900;
    time_to(h, t);
    feed(h, 1, "PING\r\n\r\n");
    expect(h, 1, "PONG");
  }
  /* the host's timer may wake early; the core re-arms it */
  cr_assert_leq(h->timer_at, t + 2000);
  time_to(h, t + 1999);
  cr_assert_eq(h->timer_at, t + 2000);
  expect_nothing(h, 1);
  time_to(h, t + 2000);
  expect_error(h, 1, 428);
  cr_assert(closed(h, 1, NULL));
  harness_free(h);
}

/* spec: HB-3 REQ-1 LIFE-6 LIFE-7 */
Test(server, ping_pong_and_bye)
{
  harness *h = harness_new();
  uint16_t code = 0;
  ready(h, 1, "alice", "phone", "");
  feed(h, 1, "PING\r\nnonce: abc DEF\r\nreq: p1\r\n\r\n");
  tframe *tf = expect(h, 1, "PONG");
  cr_assert_str_eq(hget(tf, "nonce"), "abc DEF");
  cr_assert_str_eq(hget(tf, "req"), "p1");
  feed(h, 1, "PING\r\n\r\n");
  tf = expect(h, 1, "PONG");
  cr_assert_null(hget(tf, "nonce"));
  feed(h, 1, "BYE\r\nreq: b\r\n\r\n");
  tf = expect(h, 1, "BYE");
  cr_assert_str_eq(hget(tf, "req"), "b");
  cr_assert(closed(h, 1, &code));
  cr_assert_eq(code, 1000);
  harness_free(h);
}

/* spec: WS-2 WS-3 FRAME-1 FRAME-7 */
Test(server, binary_and_malformed_are_not_fatal)
{
  harness *h = harness_new();
  ready(h, 1, "alice", "phone", "");
  parley_server_on_message(h->s, 1, "\x01\x02", 2, true, h->now);
  pump(h);
  expect_error(h, 1, 412);
  feed(h, 1, "send\r\n\r\n");
  expect_error(h, 1, 400);
  feed(h, 1, "PING\r\nNonce: x\r\n\r\n");
  expect_error(h, 1, 401);
  feed(h, 1, "PING\r\n");
  expect_error(h, 1, 409);
  feed(h, 1, "PING\r\n\r\nPING\r\n\r\n");
  expect_error(h, 1, 404);
  feed(h, 1, "PING\r\ncontent-length: 0\r\n\r\nPING\r\n\r\n");
  expect_error(h, 1, 410);
  feed(h, 1, "PING\r\nreq: a\r\nreq: b\r\n\r\n");
  expect_error(h, 1, 411);
  feed(h, 1, "PING\r\n\r\n");
  expect(h, 1, "PONG");
  cr_assert(!closed(h, 1, NULL));
  harness_free(h);
}

/* spec: WS-4 */
Test(server, too_many_errors_closes)
{
  harness *h = harness_new();
  ready(h, 1, "alice", "phone", "");
  for (int i = 0; i < 15; i++) {
    feed(h, 1, "bad\r\n\r\n");
    expect_error(h, 1, 400);
  }
  cr_assert(!closed(h, 1, NULL));
  feed(h, 1, "bad\r\n\r\n");
  expect_error(h, 1, 413); /* the 16th gets too-many-errors alone */
  expect_nothing(h, 1);
  cr_assert(closed(h, 1, NULL));
  harness_free(h);
}

/* spec: EXT-3 EXT-1 REQ-1 REQ-3 LIFE-8 */
Test(server, unknown_verb_and_unknown_header)
{
  harness *h = harness_new();
  ready(h, 1, "alice", "phone", "");
  feed(h, 1, "FROB\r\nreq: q1\r\n\r\n");
  tframe *tf = expect_error(h, 1, 420);
  cr_assert_str_eq(hget(tf, "req"), "q1");
  feed(h, 1, "PING\r\nx-whatever: 1\r\n\r\n");
  expect(h, 1, "PONG");
  feed(h, 1, "PING\r\nreq: not valid!\r\n\r\n");
  tf = expect_error(h, 1, 427);
  cr_assert_not_null(strstr(tf->body, "req"));
  cr_assert(!closed(h, 1, NULL));
  feed(h, 1, "ACK\r\n\r\n");
  expect_error(h, 1, 421);
  cr_assert(closed(h, 1, NULL));
  harness_free(h);
}

/* spec: REQ-3 LIFE-1 LIFE-4 LIFE-8 */
Test(server, state_is_checked_before_a_bad_req)
{
  harness *h = harness_new();
  uint16_t code = 0;
  parley_server_on_open(h->s, 1, h->now);
  pump(h);
  feed(h, 1, "SEND\r\nreq: bad!\r\n\r\n"); /* OPEN: LIFE-1 */
  tframe *tf = expect_error(h, 1, 421);
  cr_assert_null(hget(tf, "req"));
  cr_assert(closed(h, 1, &code));

  ready(h, 2, "alice", "phone", ""); /* READY: LIFE-4 */
  feed(h, 2, "HELLO\r\nversions: 1\r\nheartbeat: 1000\r\nreq: bad!"
             "\r\n\r\n");
  tf = expect_error(h, 2, 421);
  cr_assert_null(hget(tf, "req"));
  cr_assert(closed(h, 2, NULL));

  ready(h, 3, "alice", "phone", ""); /* READY: LIFE-8 */
  feed(h, 3, "ERROR\r\nreq: bad!\r\n\r\n");
  expect_nothing(h, 3);
  feed(h, 3, "MSG\r\nreq: bad!\r\n\r\n");
  expect_error(h, 3, 421);
  cr_assert(closed(h, 3, NULL));

  parley_server_on_open(h->s, 4, h->now); /* OPEN, a HELLO: bad-value */
  pump(h);
  feed(h, 4, "HELLO\r\nversions: 1\r\nheartbeat: 1000\r\nreq: bad!"
             "\r\n\r\n");
  tf = expect_error(h, 4, 427);
  cr_assert_null(hget(tf, "req"));
  cr_assert_not_null(strstr(tf->body, "req"));
  cr_assert(!closed(h, 4, NULL));
  harness_free(h);
}

/* spec: RATE-1 REQ-1 */
Test(server, rate_limit_drops_frames)
{
  parley_server_config cfg = default_cfg();
  cfg.rate_per_s = 10;
  cfg.rate_burst = 5;
  harness *h = harness_new_cfg(&cfg);
  ready(h, 1, "alice", "phone", ""); /* HELLO and AUTH took two */
  for (int i = 0; i < 3; i++) {
    feed(h, 1, "PING\r\n\r\n");
    expect(h, 1, "PONG");
  }
  feed(h, 1, "PING\r\nreq: late\r\n\r\n");
  tframe *tf = expect_error(h, 1, 429);
  cr_assert_str_eq(hget(tf, "req"), "late");
  expect_nothing(h, 1);
  cr_assert(!closed(h, 1, NULL));
  h->now += 100; /* one more frame's worth */
  feed(h, 1, "PING\r\n\r\n");
  expect(h, 1, "PONG");
  feed(h, 1, "PING\r\n\r\n");
  expect_error(h, 1, 429);
  harness_free(h);
}

/* spec: RATE-3 */
Test(server, welcome_states_the_rate_limit)
{
  parley_server_config cfg = default_cfg();
  cfg.rate_per_s = 10;
  cfg.rate_burst = 5;
  harness *h = harness_new_cfg(&cfg);
  parley_server_on_open(h->s, 1, h->now);
  feed(h, 1, "HELLO\r\nversions: 1\r\nheartbeat: 1000\r\n\r\n");
  tframe *tf = expect(h, 1, "WELCOME");
  cr_assert_eq(hnum(tf, "rate"), 10);
  cr_assert_eq(hnum(tf, "rate-burst"), 5);
  harness_free(h);
}

/* spec: LIFE-7 */
Test(server, drain_sends_going_away)
{
  harness *h = harness_new();
  uint16_t code = 0;
  ready(h, 1, "alice", "phone", "");
  hello(h, 2, "");
  parley_server_on_open(h->s, 3, h->now);
  pump(h);
  parley_server_drain(h->s, h->now);
  pump(h);
  for (parley_conn_id c = 1; c <= 3; c++) {
    expect_error(h, c, 503);
    cr_assert(closed(h, c, &code));
    cr_assert_eq(code, 1001);
  }
  parley_server_on_open(h->s, 4, h->now);
  pump(h);
  expect_error(h, 4, 503);
  cr_assert(closed(h, 4, NULL));
  harness_free(h);
}

/* ---- sending ---- */

/* A core with the direct conversation c1 of alice and bob, each READY on
 * a device "phone" (alice on conn 1, bob on conn 2). With auto_store
 * false, store requests wait until the test completes them. */
static harness *alice_and_bob(bool auto_store)
{
  harness *h = harness_new();
  h->auto_store = auto_store;
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  ready(h, 2, "bob", "phone", "");
  return h;
}


/* spec: SEND-1 DUR-1 DELIV-1 SEC-3 */
Test(server, ack_only_after_durable)
{
  harness *h = alice_and_bob(false);
  send_msg(h, 1, "c1", "t1", "hello", "r1");
  cr_assert_eq(store_pending(h), 1);
  const parley_store_req *r = &h->reqs[0].req;
  cr_assert_eq(r->op, PARLEY_STORE_APPEND_MSG);
  cr_assert_eq(r->msg.seq, 1);
  cr_assert_eq(r->msg.pos, 1);
  cr_assert_str_eq(r->msg.from, "alice");
  cr_assert_str_eq(r->msg.device, "phone");
  cr_assert_str_eq(r->msg.temp_id, "t1");
  cr_assert_str_eq(r->msg.content_type, "text/plain");
  cr_assert_eq(r->msg.body_len, 5);
  expect_nothing(h, 1);
  expect_nothing(h, 2);
  h->now += 7;
  store_complete(h, 1);
  tframe *tf = expect(h, 1, "ACK");
  cr_assert_str_eq(hget(tf, "conv"), "c1");
  cr_assert_str_eq(hget(tf, "temp-id"), "t1");
  cr_assert_str_eq(hget(tf, "msg-id"), r->msg.msg_id);
  cr_assert_eq(hnum(tf, "seq"), 1);
  cr_assert_eq(hnum(tf, "ts"), r->msg.ts_ms);
  cr_assert_str_eq(hget(tf, "req"), "r1");
  for (parley_conn_id c = 1; c <= 2; c++) {
    tf = expect(h, c, "MSG");
    cr_assert_str_eq(hget(tf, "conv"), "c1");
    cr_assert_eq(hnum(tf, "seq"), 1);
    cr_assert_eq(hnum(tf, "pos"), 1);
    cr_assert_str_eq(hget(tf, "from"), "alice");
    cr_assert_str_eq(hget(tf, "device"), "phone");
    cr_assert_str_eq(hget(tf, "temp-id"), "t1");
    cr_assert_str_eq(hget(tf, "content-type"), "text/plain");
    cr_assert_null(hget(tf, "req"));
    cr_assert_str_eq(tf->body, "hello");
  }
  harness_free(h);
}

/* spec: SEND-10 FRAME-3 */
Test(server, send_body_limit_is_max_body)
{
  static char body[PARLEY_BODY_MAX + 2];
  harness *h = alice_and_bob(true);
  memset(body, 'x', PARLEY_BODY_MAX + 1);
  send_msg(h, 1, "c1", "t-over", body, "r1");
  tframe *tf = expect_error(h, 1, 406);
  cr_assert_str_eq(hget(tf, "req"), "r1");
  expect_nothing(h, 2);
  body[PARLEY_BODY_MAX] = '\0';
  send_msg(h, 1, "c1", "t-at", body, "r2");
  tf = expect(h, 1, "ACK");
  cr_assert_eq(hnum(tf, "seq"), 1, "the refused SEND took no seq");
  for (parley_conn_id c = 1; c <= 2; c++) {
    out_frame *o = next_out(h, c);
    cr_assert_not_null(o);
    cr_assert_leq(o->len, PARLEY_FRAME_SIZE_MAX);
    tf = expect(h, c, "MSG");
    cr_assert_eq(strlen(tf->body), PARLEY_BODY_MAX);
  }
  harness_free(h);
}

/* spec: SEND-1 DUR-1 LIFE-7 */
Test(server, store_failure_is_fatal_and_nothing_acked)
{
  harness *h = harness_new();
  h->auto_store = false;
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  send_msg(h, 1, "c1", "t1", "hello", NULL);
  h->fail_next = true;
  store_complete(h, 1);
  cr_assert_eq(h->fatal, 1);
  uint16_t code = 0;
  expect_error(h, 1, 500); /* internal, fatal; no ACK */
  cr_assert(closed(h, 1, &code));
  cr_assert_eq(code, 1011);
  expect_nothing(h, 1);
  feed(h, 1, "PING\r\n\r\n");
  expect_nothing(h, 1); /* the core has stopped */
  harness_free(h);
}

/* spec: SEND-1 */
Test(server, fault_ack_before_commit_plants_the_bug)
{
  parley_server_config cfg = default_cfg();
  cfg.fault = PARLEY_FAULT_ACK_BEFORE_COMMIT;
  harness *h = harness_new_cfg(&cfg);
  h->auto_store = false;
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  send_msg(h, 1, "c1", "t1", "hello", NULL);
  expect(h, 1, "ACK"); /* the planted bug: before durable */
  store_complete(h, 1);
  expect(h, 1, "MSG");
  expect_nothing(h, 1);
  harness_free(h);
}

/* spec: SEND-3 */
Test(server, repeat_after_ack_gets_same_ack)
{
  harness *h = alice_and_bob(true);
  send_msg(h, 1, "c1", "t1", "hello", "a");
  tframe first = *expect(h, 1, "ACK");
  expect(h, 1, "MSG");
  expect(h, 2, "MSG");
  h->now += 5000;
  send_msg(h, 1, "c1", "t1", "hello", "b");
  tframe *tf = expect(h, 1, "ACK");
  const char *same[] = {"conv", "temp-id", "msg-id", "seq", "ts"};
  for (size_t i = 0; i < 5; i++)
    cr_assert_str_eq(hget(tf, same[i]), hget(&first, same[i]));
  cr_assert_str_eq(hget(tf, "req"), "b");
  expect_nothing(h, 1);
  expect_nothing(h, 2);
  cr_assert_eq(h->store_count[PARLEY_STORE_APPEND_MSG], 1);
  harness_free(h);
}

/* spec: SEND-3 SEND-7 */
Test(server, repeat_while_in_flight_makes_no_second_message)
{
  harness *h = harness_new();
  h->auto_store = false;
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  send_msg(h, 1, "c1", "t1", "hello", "a");
  send_msg(h, 1, "c1", "t1", "hello", "b");
  cr_assert_eq(store_pending(h), 1);
  expect_nothing(h, 1);
  store_complete(h, 1);
  tframe a = *expect(h, 1, "ACK");
  cr_assert_str_eq(hget(&a, "req"), "a");
  tframe *b = expect(h, 1, "ACK");
  cr_assert_str_eq(hget(b, "req"), "b");
  cr_assert_str_eq(hget(b, "msg-id"), hget(&a, "msg-id"));
  cr_assert_str_eq(hget(b, "seq"), "1");
  expect(h, 1, "MSG");
  expect_nothing(h, 1);
  cr_assert_eq(h->store_count[PARLEY_STORE_APPEND_MSG], 1);
  harness_free(h);
}

/* spec: SEND-3 SEND-7 */
Test(server, repeat_from_another_session_of_the_device)
{
  harness *h = harness_new();
  h->auto_store = false;
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  send_msg(h, 1, "c1", "t1", "hello", NULL);
  parley_server_on_close(h->s, 1, h->now); /* lost before the ACK */
  pump(h);
  ready(h, 2, "alice", "phone", "");
  send_msg(h, 2, "c1", "t1", "hello", "again");
  store_complete(h, 1);
  tframe *tf = expect(h, 2, "ACK");
  cr_assert_str_eq(hget(tf, "req"), "again");
  cr_assert_eq(hnum(tf, "seq"), 1);
  expect(h, 2, "MSG");
  expect_nothing(h, 1);
  /* another device of the same user has its own temp-id scope */
  ready(h, 3, "alice", "laptop", "");
  send_msg(h, 3, "c1", "t1", "hello", NULL);
  cr_assert_eq(store_pending(h), 1);
  store_complete(h, 1);
  tf = expect(h, 3, "ACK");
  cr_assert_eq(hnum(tf, "seq"), 2);
  harness_free(h);
}

/* spec: SEND-3 SYNC-2 */
Test(server, repeat_across_restart)
{
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  send_msg(h, 1, "c1", "t1", "hello", NULL);
  tframe first = *expect(h, 1, "ACK");

  /* a new core loaded from what the store holds */
  parley_server_free(h->s);
  h->s = parley_server_new(&h->cfg);
  parley_conv_info c1 = h->convs[0];
  c1.last_seq = 1;
  cr_assert_eq(parley_server_load_conv(h->s, &c1), PARLEY_OK);
  cr_assert_eq(parley_server_load_sent(h->s, &h->log[0].msg), PARLEY_OK);
  parley_server_load_pos(h->s, 1);
  size_t appends = h->store_count[PARLEY_STORE_APPEND_MSG];

  ready(h, 5, "alice", "phone", "");
  send_msg(h, 5, "c1", "t1", "hello", NULL);
  tframe *tf = expect(h, 5, "ACK");
  cr_assert_str_eq(hget(tf, "msg-id"), hget(&first, "msg-id"));
  cr_assert_str_eq(hget(tf, "ts"), hget(&first, "ts"));
  cr_assert_eq(h->store_count[PARLEY_STORE_APPEND_MSG], appends);
  send_msg(h, 5, "c1", "t2", "next", NULL);
  tf = expect(h, 5, "ACK");
  cr_assert_eq(hnum(tf, "seq"), 2);
  cr_assert_str_neq(hget(tf, "msg-id"), hget(&first, "msg-id"));
  tf = expect(h, 5, "MSG");
  cr_assert_eq(hnum(tf, "pos"), 2);
  harness_free(h);
}

/* spec: SEND-3 */
Test(server, dedup_window_expires)
{
  parley_server_config cfg = default_cfg();
  cfg.dedup_window_ms = 60000;
  harness *h = harness_new_cfg(&cfg);
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  send_msg(h, 1, "c1", "t1", "hello", NULL);
  expect(h, 1, "ACK");
  expect(h, 1, "MSG");
  h->now += 59999;
  send_msg(h, 1, "c1", "t1", "hello", NULL);
  tframe *tf = expect(h, 1, "ACK");
  cr_assert_eq(hnum(tf, "seq"), 1);
  h->now += 1;
  send_msg(h, 1, "c1", "t1", "hello", NULL);
  tf = expect(h, 1, "ACK");
  cr_assert_eq(hnum(tf, "seq"), 2);
  harness_free(h);
}

/* spec: SEND-4 */
Test(server, temp_id_conflict)
{
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  add_conv(h, "c2", PARLEY_CONV_GROUP, abc, 3);
  ready(h, 1, "alice", "phone", "");
  send_msg(h, 1, "c1", "t1", "hello", NULL);
  expect(h, 1, "ACK");
  expect(h, 1, "MSG");
  send_msg(h, 1, "c1", "t1", "hellO", "x");
  tframe *tf = expect_error(h, 1, 441);
  cr_assert_str_eq(hget(tf, "req"), "x");
  send_msg(h, 1, "c2", "t1", "hello", NULL);
  expect_error(h, 1, 441);
  cr_assert_eq(h->store_count[PARLEY_STORE_APPEND_MSG], 1);
  cr_assert(!closed(h, 1, NULL));
  harness_free(h);
}

/* spec: SEND-3 */
Test(server, fault_skip_dedup_plants_the_bug)
{
  parley_server_config cfg = default_cfg();
  cfg.fault = PARLEY_FAULT_DEDUP_OFF;
  harness *h = harness_new_cfg(&cfg);
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  send_msg(h, 1, "c1", "t1", "hello", NULL);
  send_msg(h, 1, "c1", "t1", "hello", NULL);
  cr_assert_eq(h->store_count[PARLEY_STORE_APPEND_MSG], 2);
  harness_free(h);
}

/* spec: SEND-2 DELIV-2 DELIV-3 DUR-2 */
Test(server, seq_gapless_under_interleaved_sends)
{
  harness *h = harness_new();
  h->auto_store = false;
  add_conv(h, "c1", PARLEY_CONV_GROUP, abc, 3);
  add_conv(h, "c2", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  ready(h, 2, "bob", "phone", "");
  ready(h, 3, "carol", "phone", "");
  char temp[32];
  int n = 0;
  for (int round = 0; round < 20; round++) {
    for (parley_conn_id c = 1; c <= 3; c++) {
      snprintf(temp, sizeof temp, "t%d", n++);
      send_msg(h, c, (round % 3 == 2 && c < 3) ? "c2" : "c1", temp, "x",
               NULL);
    }
    store_complete(h, (size_t)(round % 4)); /* leave some in flight */
  }
  store_complete(h, SIZE_MAX);
  /* every session saw c1 as 1..N and positions ascending */
  for (parley_conn_id c = 1; c <= 3; c++) {
    uint64_t want_seq[3] = {1, 1, 1}, last_pos = 0;
    out_frame *o;
    while ((o = next_out(h, c)) != NULL) {
      o->taken = true;
      tframe_parse(o->data, o->len, &tf_scratch);
      if (strcmp(tf_scratch.verb, "MSG") != 0)
        continue;
      int ci = hget(&tf_scratch, "conv")[1] - '0';
      cr_assert_eq(hnum(&tf_scratch, "seq"), want_seq[ci]++);
      uint64_t pos = hnum(&tf_scratch, "pos");
      cr_assert_gt(pos, last_pos);
      last_pos = pos;
    }
    cr_assert_eq(want_seq[1] - 1 + want_seq[2] - 1, c == 3 ? 48 : 60);
  }
  harness_free(h);
}

/* spec: DELIV-1 */
Test(server, fanout_reaches_every_device)
{
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  ready(h, 2, "alice", "laptop", "");
  ready(h, 3, "bob", "phone", "");
  ready(h, 4, "bob", "tablet", "");
  ready(h, 5, "carol", "phone", "");
  hello(h, 6, ""); /* not READY */
  send_msg(h, 1, "c1", "t1", "hi", NULL);
  expect(h, 1, "ACK");
  for (parley_conn_id c = 1; c <= 4; c++) {
    tframe *tf = expect(h, c, "MSG");
    cr_assert_str_eq(tf->body, "hi");
    expect_nothing(h, c);
  }
  expect_nothing(h, 5);
  expect_nothing(h, 6);
  harness_free(h);
}

/* spec: SEND-6 SEC-1 */
Test(server, not_found_identical_for_non_member_and_missing)
{
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, bc, 2);
  ready(h, 1, "alice", "phone", "");
  send_msg(h, 1, "c1", "t1", "x", "r");
  out_frame *a = next_out(h, 1);
  cr_assert_not_null(a);
  a->taken = true;
  send_msg(h, 1, "c9", "t1", "x", "r");
  out_frame *b = next_out(h, 1);
  cr_assert_not_null(b);
  b->taken = true;
  cr_assert_eq(a->len, b->len);
  cr_assert_eq(memcmp(a->data, b->data, a->len), 0);
  tframe_parse(a->data, a->len, &tf_scratch);
  cr_assert_eq(hnum(&tf_scratch, "code"), 440);
  cr_assert_eq(h->store_count[PARLEY_STORE_APPEND_MSG], 0);
  harness_free(h);
}

/* spec: FRAME-11 SEND-1 */
Test(server, content_type_and_empty_body)
{
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  feedf(h, 1, "SEND\nconv: c1\ntemp-id: t1\ncontent-type: text\n\n");
  tframe *tf = expect_error(h, 1, 427);
  cr_assert_not_null(strstr(tf->body, "content-type"));
  feedf(h, 1, "SEND\nconv: c1\ntemp-id: t1\ncontent-type: a/b c\n\n");
  expect_error(h, 1, 427);
  feedf(h, 1, "SEND\nconv: c1\ntemp-id: t1\n"
              "content-type: text/markdown; charset=utf-8\n\n");
  expect(h, 1, "ACK");
  tf = expect(h, 1, "MSG");
  cr_assert_str_eq(hget(tf, "content-type"),
                   "text/markdown; charset=utf-8");
  cr_assert_null(hget(tf, "content-length")); /* empty body */
  cr_assert_eq(tf->body_len, 0);
  harness_free(h);
}

/* spec: FRAME-11 */
Test(server, content_type_is_an_rfc9110_media_type)
{
  static const char *const bad[] = {
    "text/plain;~==;;; \xc3\xa9", "text/plain ", "text/plain;",
    "text/plain; ", "text/plain;;a=b", "text/plain; a", "text/plain; a=",
    "text/plain; a=b c", "text/plain; a=\"x", "text/plain; a=\"\xc3\xa9\"",
    "text/plain; a=\"\\\"", "/plain", "text/", "text", "text/pl ain",
    "text/plain; =b", "t\xc3\xa9xt/plain", "text/plain; a=b;",
  };
  static const char *const good[] = {
    "a/b", "text/plain;a=b", "text/plain ; a=b", "text/plain  ;  a=b",
    "text/plain; a=\"\"", "text/plain; a=\"x y;\\\" z\"",
    "application/vnd.x+json; q=1; charset=utf-8",
  };
  char big[200];
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    feedf(h, 1, "SEND\nconv: c1\ntemp-id: b%zu\ncontent-type: %s\n\n", i,
          bad[i]);
    tframe *tf = expect_error(h, 1, 427);
    cr_assert_not_null(strstr(tf->body, "content-type"), "case %zu", i);
  }
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    feedf(h, 1, "SEND\nconv: c1\ntemp-id: g%zu\ncontent-type: %s\n\n", i,
          good[i]);
    expect(h, 1, "ACK");
    tframe *tf = expect(h, 1, "MSG");
    cr_assert_str_eq(hget(tf, "content-type"), good[i]);
  }
  memset(big, 'x', sizeof big);
  memcpy(big, "text/", 5);
  big[127] = '\0'; /* 127 octets: taken */
  feedf(h, 1, "SEND\nconv: c1\ntemp-id: l1\ncontent-type: %s\n\n", big);
  expect(h, 1, "ACK");
  expect(h, 1, "MSG");
  big[127] = 'x';
  big[128] = '\0'; /* 128 octets: refused */
  feedf(h, 1, "SEND\nconv: c1\ntemp-id: l2\ncontent-type: %s\n\n", big);
  expect_error(h, 1, 427);
  harness_free(h);
}

/* spec: FRAME-11 REQ-1 */
Test(server, send_missing_and_bad_headers)
{
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  feedf(h, 1, "SEND\nconv: c1\nreq: q\ncontent-length: 1\n\nx");
  tframe *tf = expect_error(h, 1, 426);
  cr_assert_not_null(strstr(tf->body, "temp-id"));
  cr_assert_str_eq(hget(tf, "req"), "q");
  feedf(h, 1, "SEND\ntemp-id: t\ncontent-length: 1\n\nx");
  tf = expect_error(h, 1, 426);
  cr_assert_not_null(strstr(tf->body, "conv"));
  feedf(h, 1, "SEND\nconv: c1\ntemp-id: t.1\ncontent-length: 1\n\nx");
  tf = expect_error(h, 1, 427);
  cr_assert_not_null(strstr(tf->body, "temp-id"));
  cr_assert(!closed(h, 1, NULL));
  harness_free(h);
}

/* ---- receipts ---- */

/* Sends n messages from conn to conv and drains what they produce. */
static void send_n(harness *h, parley_conn_id conn, const char *conv, int n)
{
  static int counter;
  char temp[32];
  for (int i = 0; i < n; i++) {
    snprintf(temp, sizeof temp, "n%d", counter++);
    send_msg(h, conn, conv, temp, "m", NULL);
  }
}

static void drop_output(harness *h)
{
  for (size_t i = 0; i < h->out_len; i++)
    h->out[i].taken = true;
}

/* spec: RCPT-1 RCPT-2 RCPT-3 DUR-1 SEC-2 */
Test(server, receipts_kept_monotone)
{
  harness *h = alice_and_bob(false);
  send_n(h, 1, "c1", 5);
  store_complete(h, SIZE_MAX);
  drop_output(h);

  feed(h, 2, "RECEIPT\r\nconv: c1\r\nkind: delivered\r\nseq: 3\r\n"
             "req: k1\r\n\r\n");
  cr_assert_eq(store_pending(h), 1);
  cr_assert_eq(h->reqs[h->req_done].req.op, PARLEY_STORE_APPEND_RECEIPT);
  cr_assert_eq(h->reqs[h->req_done].req.receipt.pos, 6);
  expect_nothing(h, 2);
  /* lower, still in flight: answered when the higher one is durable */
  feed(h, 2, "RECEIPT\r\nconv: c1\r\nkind: delivered\r\nseq: 2\r\n"
             "req: k2\r\n\r\n");
  cr_assert_eq(store_pending(h), 1);
  expect_nothing(h, 2);
  store_complete(h, 1);
  tframe *tf = expect(h, 2, "OK");
  cr_assert_str_eq(hget(tf, "req"), "k1");
  tf = expect(h, 2, "OK");
  cr_assert_str_eq(hget(tf, "req"), "k2");
  for (parley_conn_id c = 1; c <= 2; c++) {
    tf = expect(h, c, "RECEIPT");
    cr_assert_str_eq(hget(tf, "conv"), "c1");
    cr_assert_str_eq(hget(tf, "user"), "bob");
    cr_assert_str_eq(hget(tf, "kind"), "delivered");
    cr_assert_eq(hnum(tf, "seq"), 3);
    cr_assert_eq(hnum(tf, "pos"), 6);
    expect_nothing(h, c);
  }
  /* at or below what is kept: OK, nothing stored */
  feed(h, 2, "RECEIPT\r\nconv: c1\r\nkind: delivered\r\nseq: 1\r\n\r\n");
  expect(h, 2, "OK");
  cr_assert_eq(store_pending(h), 0);
  /* read raises delivered too */
  feed(h, 2, "RECEIPT\r\nconv: c1\r\nkind: read\r\nseq: 4\r\n\r\n");
  store_complete(h, 1);
  expect(h, 2, "OK");
  tf = expect(h, 1, "RECEIPT");
  cr_assert_str_eq(hget(tf, "kind"), "read");
  expect(h, 2, "RECEIPT");
  feed(h, 2, "RECEIPT\r\nconv: c1\r\nkind: delivered\r\nseq: 4\r\n\r\n");
  cr_assert_eq(store_pending(h), 0);
  expect(h, 2, "OK");
  feed(h, 2, "RECEIPT\r\nconv: c1\r\nkind: read\r\nseq: 0\r\n\r\n");
  expect_error(h, 2, 427); /* seq is a number from 1 up */
  /* above the last seq */
  feed(h, 2, "RECEIPT\r\nconv: c1\r\nkind: read\r\nseq: 6\r\n\r\n");
  tf = expect_error(h, 2, 427);
  cr_assert_not_null(strstr(tf->body, "seq"));
  feed(h, 2, "RECEIPT\r\nconv: c1\r\nkind: seen\r\nseq: 1\r\n\r\n");
  tf = expect_error(h, 2, 427);
  cr_assert_not_null(strstr(tf->body, "kind"));
  feed(h, 2, "RECEIPT\r\nconv: c7\r\nkind: read\r\nseq: 1\r\n\r\n");
  expect_error(h, 2, 440);
  cr_assert_eq(store_pending(h), 0);
  harness_free(h);
}

/* spec: RCPT-1 SYNC-2 */
Test(server, receipts_loaded_at_start_are_kept)
{
  harness *h = harness_new();
  parley_conv_info c = {0};
  snprintf(c.id, sizeof c.id, "c1");
  c.kind = PARLEY_CONV_DIRECT;
  c.member_count = 2;
  c.last_seq = 9;
  snprintf(c.members[0], 33, "alice");
  snprintf(c.members[1], 33, "bob");
  cr_assert_eq(parley_server_load_conv(h->s, &c), PARLEY_OK);
  h->convs[h->conv_len++] = c;
  parley_receipt r = {5, "c1", "bob", PARLEY_RECEIPT_READ, 7, 0};
  cr_assert_eq(parley_server_load_receipt(h->s, &r), PARLEY_OK);
  parley_server_load_pos(h->s, 20);
  ready(h, 2, "bob", "phone", "");
  feed(h, 2, "RECEIPT\r\nconv: c1\r\nkind: delivered\r\nseq: 7\r\n\r\n");
  expect(h, 2, "OK");
  cr_assert_eq(h->store_count[PARLEY_STORE_APPEND_RECEIPT], 0);
  feed(h, 2, "RECEIPT\r\nconv: c1\r\nkind: read\r\nseq: 8\r\n\r\n");
  expect(h, 2, "OK");
  tframe *tf = expect(h, 2, "RECEIPT");
  cr_assert_eq(hnum(tf, "pos"), 21);
  harness_free(h);
}

/* ---- resume ---- */

/* Takes every frame on conn and checks they are MSG frames with pos
 * first..last in order, then SYNCED with `synced`. */
static void expect_stream(harness *h, parley_conn_id conn, uint64_t first,
                          uint64_t last, uint64_t synced)
{
  for (uint64_t pos = first; pos <= last; pos++) {
    out_frame *o = next_out(h, conn);
    cr_assert_not_null(o, "missing pos %llu", (unsigned long long)pos);
    o->taken = true;
    tframe_parse(o->data, o->len, &tf_scratch);
    cr_assert(strcmp(tf_scratch.verb, "MSG") == 0 ||
                  strcmp(tf_scratch.verb, "RECEIPT") == 0,
              "got %s", tf_scratch.verb);
    cr_assert_eq(hnum(&tf_scratch, "pos"), pos);
  }
  if (synced != 0) {
    tframe *tf = expect(h, conn, "SYNCED");
    cr_assert_eq(hnum(tf, "pos"), synced);
  }
}

/* spec: SYNC-1 SYNC-2 SYNC-5 DELIV-3 */
Test(server, sync_replays_events_after_since)
{
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  add_conv(h, "c3", PARLEY_CONV_DIRECT, (const char *const[]){"alice",
                                                             "carol"}, 2);
  ready(h, 1, "alice", "phone", "");
  send_n(h, 1, "c1", 2);
  send_n(h, 1, "c3", 1); /* pos 3: not bob's */
  send_n(h, 1, "c1", 1);
  ready(h, 2, "bob", "phone", "");
  feed(h, 2, "RECEIPT\r\nconv: c1\r\nkind: read\r\nseq: 3\r\n\r\n");
  drop_output(h);

  ready(h, 3, "bob", "laptop", "");
  feed(h, 3, "SYNC\r\nsince: 0\r\nreq: s1\r\n\r\n");
  expect_stream(h, 3, 1, 2, 0);
  expect_stream(h, 3, 4, 5, 0);
  tframe *tf = expect(h, 3, "SYNCED");
  cr_assert_eq(hnum(tf, "pos"), 5);
  cr_assert_str_eq(hget(tf, "req"), "s1");
  feed(h, 3, "SYNC\r\nsince: 4\r\n\r\n");
  tf = expect(h, 3, "RECEIPT");
  cr_assert_str_eq(hget(tf, "user"), "bob");
  cr_assert_eq(hnum(tf, "pos"), 5);
  expect(h, 3, "SYNCED");
  feed(h, 3, "SYNC\r\n\r\n");
  tf = expect(h, 3, "SYNCED");
  cr_assert_eq(hnum(tf, "pos"), 5);
  feed(h, 3, "SYNC\r\nsince: 6\r\n\r\n");
  tf = expect_error(h, 3, 427);
  cr_assert_not_null(strstr(tf->body, "since"));
  feed(h, 3, "SYNC\r\nsince: 05\r\n\r\n");
  expect_error(h, 3, 427);
  feed(h, 3, "SYNC\r\nsince: 5\r\n\r\n");
  tf = expect(h, 3, "SYNCED");
  cr_assert_eq(hnum(tf, "pos"), 5);
  expect_nothing(h, 3);
  harness_free(h);
}

/* spec: SYNC-1 SYNC-3 DELIV-3 */
Test(server, sync_holds_back_events_durable_during_a_read)
{
  harness *h = alice_and_bob(false);
  send_n(h, 1, "c1", 3);
  store_complete(h, SIZE_MAX);
  drop_output(h);

  send_n(h, 1, "c1", 1); /* pos 4, in flight */
  feed(h, 2, "SYNC\r\nsince: 0\r\n\r\n"); /* reads (0, 3] */
  cr_assert_eq(h->reqs[h->req_len - 1].req.read_events.upto_pos, 3);
  send_n(h, 1, "c1", 1); /* pos 5, issued after the read */
  store_complete(h, 1); /* pos 4 durable while the read runs */
  expect_nothing(h, 2);
  store_complete(h, 1); /* the read */
  expect_stream(h, 2, 1, 4, 4);
  expect_nothing(h, 2);
  store_complete(h, 1); /* pos 5: live now */
  expect_stream(h, 2, 5, 5, 0);
  expect_nothing(h, 2);
  feed(h, 2, "SYNC\r\nsince: 5\r\n\r\n");
  expect_stream(h, 2, 6, 5, 5);
  harness_free(h);
}

/* spec: SYNC-1 SYNC-3 DELIV-3 */
Test(server, sync_many_pages_and_hold_overflow)
{
  parley_server_config cfg = default_cfg();
  cfg.sync_hold_max = 2;
  cfg.rate_burst = 10000;
  harness *h = harness_new_cfg(&cfg);
  h->auto_store = false;
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  ready(h, 2, "bob", "phone", "");
  send_n(h, 1, "c1", 300);
  store_complete(h, SIZE_MAX);
  drop_output(h);

  feed(h, 2, "SYNC\r\nsince: 0\r\nreq: big\r\n\r\n");
  send_n(h, 1, "c1", 5); /* 301..305 */
  store_complete(h, 1);  /* first page; the second read is issued */
  send_n(h, 1, "c1", 3); /* 306..308, after the second read */
  store_complete(h, SIZE_MAX);
  expect_stream(h, 2, 1, 308, 308);
  expect_nothing(h, 2);
  send_n(h, 1, "c1", 1);
  store_complete(h, SIZE_MAX);
  expect_stream(h, 2, 309, 309, 0);
  harness_free(h);
}

/* spec: SYNC-3 DELIV-8 */
Test(server, synced_names_the_last_position_sent)
{
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  add_conv(h, "c3", PARLEY_CONV_DIRECT,
           (const char *const[]){"alice", "carol"}, 2);
  ready(h, 1, "alice", "phone", "");
  send_n(h, 1, "c1", 2);
  send_n(h, 1, "c3", 2); /* pos 3 and 4 are not bob's */
  drop_output(h);
  ready(h, 2, "bob", "phone", "");
  feed(h, 2, "SYNC\r\nsince: 0\r\n\r\n");
  expect_stream(h, 2, 1, 2, 2);
  feed(h, 2, "SYNC\r\nsince: 2\r\n\r\n");
  expect_stream(h, 2, 3, 2, 4); /* nothing sent: the durable pos */
  harness_free(h);
}

/* spec: SYNC-4 */
Test(server, second_sync_while_syncing_is_bad_state)
{
  harness *h = harness_new();
  h->auto_store = false;
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  send_n(h, 1, "c1", 1);
  store_complete(h, SIZE_MAX);
  drop_output(h);
  feed(h, 1, "SYNC\r\nsince: 0\r\n\r\n");
  feed(h, 1, "SYNC\r\nsince: 99\r\n\r\n"); /* the state comes first */
  expect_error(h, 1, 421);
  cr_assert(closed(h, 1, NULL));
  store_complete(h, SIZE_MAX); /* the read of a closed session */
  expect_nothing(h, 1);
  harness_free(h);
}

/* ---- history ---- */

/* Reads one HISTORY page on conn: checks the MSG frames carry `req` and
 * no pos, records their seqs in seen[], returns PAGE's cursor (or ""). */
static void history_page(harness *h, parley_conn_id conn, const char *extra,
                         int *seen, size_t want_count, bool want_more,
                         char *cursor_out)
{
  feedf(h, conn, "HISTORY\nconv: c1\nlimit: 3\nreq: hq\n%s\n", extra);
  for (size_t i = 0; i < want_count; i++) {
    tframe *tf = expect(h, conn, "MSG");
    cr_assert_str_eq(hget(tf, "req"), "hq");
    cr_assert_null(hget(tf, "pos"));
    seen[hnum(tf, "seq")]++;
  }
  tframe *tf = expect(h, conn, "PAGE");
  cr_assert_str_eq(hget(tf, "conv"), "c1");
  cr_assert_eq(hnum(tf, "count"), want_count);
  cr_assert_str_eq(hget(tf, "more"), want_more ? "yes" : "no");
  cr_assert_str_eq(hget(tf, "req"), "hq");
  const char *cur = hget(tf, "cursor");
  cr_assert_eq(cur != NULL, want_more);
  snprintf(cursor_out, 128, "%s", cur ? cur : "");
}

/* spec: HIST-1 HIST-2 */
Test(server, history_pages_back_and_forward)
{
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  send_n(h, 1, "c1", 7);
  drop_output(h);
  int seen[8] = {0};
  char cur[128], extra[200];

  history_page(h, 1, "", seen, 3, true, cur);
  cr_assert(seen[5] && seen[6] && seen[7]);
  snprintf(extra, sizeof extra, "cursor: %s\n", cur);
  history_page(h, 1, extra, seen, 3, true, cur);
  snprintf(extra, sizeof extra, "cursor: %s\n", cur);
  history_page(h, 1, extra, seen, 1, false, cur);
  for (int i = 1; i <= 7; i++)
    cr_assert_eq(seen[i], 1, "seq %d seen %d times", i, seen[i]);

  memset(seen, 0, sizeof seen);
  history_page(h, 1, "after: 0\n", seen, 3, true, cur);
  cr_assert(seen[1] && seen[2] && seen[3]);
  snprintf(extra, sizeof extra, "cursor: %s\n", cur);
  history_page(h, 1, extra, seen, 3, true, cur);
  snprintf(extra, sizeof extra, "cursor: %s\n", cur);
  history_page(h, 1, extra, seen, 1, false, cur);
  for (int i = 1; i <= 7; i++)
    cr_assert_eq(seen[i], 1, "seq %d seen %d times", i, seen[i]);
  history_page(h, 1, "after: 7\n", seen, 0, false, cur);
  harness_free(h);
}

/* spec: HIST-2 HIST-3 HIST-5 SEC-2 */
Test(server, history_bad_cursor_and_values)
{
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  add_conv(h, "c2", PARLEY_CONV_DIRECT,
           (const char *const[]){"alice", "carol"}, 2);
  add_conv(h, "c3", PARLEY_CONV_DIRECT, bc, 2);
  ready(h, 1, "alice", "phone", "");
  send_n(h, 1, "c1", 5);
  send_n(h, 1, "c2", 5);
  drop_output(h);
  int seen[8] = {0};
  char cur[128];
  history_page(h, 1, "", seen, 3, true, cur);

  char bad[128];
  for (size_t i = 0; i < strlen(cur); i++) {
    snprintf(bad, sizeof bad, "%s", cur);
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    feedf(h, 1, "HISTORY\nconv: c1\ncursor: %s\nreq: z\n\n", bad);
    tframe *tf = expect_error(h, 1, 442);
    cr_assert_str_eq(hget(tf, "req"), "z");
  }
  feedf(h, 1, "HISTORY\nconv: c2\ncursor: %s\n\n", cur); /* foreign */
  expect_error(h, 1, 442);
  feedf(h, 1, "HISTORY\nconv: c1\ncursor: garbage!\n\n");
  expect_error(h, 1, 442);
  feedf(h, 1, "HISTORY\nconv: c1\ncursor: %s\nafter: 1\n\n", cur);
  expect_error(h, 1, 427);
  feedf(h, 1, "HISTORY\nconv: c1\nlimit: 0\n\n");
  tframe *tf = expect_error(h, 1, 427);
  cr_assert_not_null(strstr(tf->body, "limit"));
  feedf(h, 1, "HISTORY\nconv: c1\nlimit: 101\n\n");
  expect_error(h, 1, 427);
  feedf(h, 1, "HISTORY\nconv: c3\n\n");
  expect_error(h, 1, 440);
  feedf(h, 1, "HISTORY\nconv: c1\nlimit: 100\n\n");
  for (int i = 0; i < 5; i++)
    expect(h, 1, "MSG");
  tf = expect(h, 1, "PAGE");
  cr_assert_str_eq(hget(tf, "more"), "no");
  cr_assert(!closed(h, 1, NULL));
  harness_free(h);
}

/* spec: HIST-2 HTTP-9 */
Test(server, api_history_pages)
{
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  add_conv(h, "c2", PARLEY_CONV_DIRECT,
           (const char *const[]){"alice", "carol"}, 2);
  ready(h, 1, "alice", "phone", "");
  send_n(h, 1, "c1", 5);
  send_n(h, 1, "c2", 2);
  int seen[8] = {0};
  char cursor[128] = "";
  for (int page = 0; page < 3; page++) {
    parley_server_api_history(h->s, 100 + (uint64_t)page, "bob", "c1",
                              cursor, 2, h->now);
    pump(h);
    api_copy *a = &h->api[h->api_len - 1];
    cr_assert_eq(a->api_id, 100 + (uint64_t)page);
    cr_assert_eq(a->err, PARLEY_OK);
    for (size_t i = 0; i < a->event_count; i++)
      seen[a->seqs[i]]++;
    cr_assert_eq(a->more, page < 2);
    snprintf(cursor, sizeof cursor, "%s", a->cursor);
  }
  for (int i = 1; i <= 5; i++)
    cr_assert_eq(seen[i], 1);
  parley_server_api_history(h->s, 7, "bob", "c1", NULL, 0, h->now);
  pump(h);
  cr_assert_eq(h->api[h->api_len - 1].event_count, 5);
  parley_server_api_history(h->s, 8, "alice", "c1", NULL, 2, h->now);
  pump(h);
  snprintf(cursor, sizeof cursor, "%s", h->api[h->api_len - 1].cursor);
  parley_server_api_history(h->s, 9, "alice", "c2", cursor, 2, h->now);
  pump(h);
  cr_assert_eq(h->api[h->api_len - 1].err, PARLEY_E_BAD_CURSOR);
  parley_server_api_history(h->s, 10, "bob", "c2", NULL, 2, h->now);
  pump(h);
  cr_assert_eq(h->api[h->api_len - 1].err, PARLEY_E_NOT_FOUND);
  parley_server_api_history(h->s, 11, "bob", "c1", NULL, 101, h->now);
  pump(h);
  cr_assert_eq(h->api[h->api_len - 1].err, PARLEY_E_BAD_VALUE);
  harness_free(h);
}

/* ---- typing and presence ---- */

/* spec: TYPE-2 EXT-6 */
Test(server, typing_relayed_to_capable_sessions_only)
{
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_GROUP, abc, 3);
  ready(h, 1, "alice", "phone", "typing");
  ready(h, 2, "bob", "phone", "typing,presence");
  ready(h, 3, "bob", "laptop", "receipts");
  ready(h, 4, "carol", "phone", "typing");
  ready(h, 5, "alice", "laptop", "typing");
  feed(h, 1, "TYPING\r\nconv: c1\r\nstate: on\r\n\r\n");
  for (parley_conn_id c = 2; c <= 4; c += 2) {
    tframe *tf = expect(h, c, "TYPING");
    cr_assert_str_eq(hget(tf, "conv"), "c1");
    cr_assert_str_eq(hget(tf, "user"), "alice");
    cr_assert_str_eq(hget(tf, "state"), "on");
    cr_assert_eq(hnum(tf, "ttl"), 6000);
  }
  expect_nothing(h, 1);
  expect_nothing(h, 3);
  expect_nothing(h, 5);
  cr_assert_eq(h->req_len, 0); /* not stored */
  feed(h, 1, "TYPING\r\nconv: c1\r\nstate: maybe\r\n\r\n");
  expect_error(h, 1, 427);
  feed(h, 1, "TYPING\r\nconv: c9\r\nstate: on\r\n\r\n");
  expect_error(h, 1, 440);
  feed(h, 1, "TYPING\r\nconv: c1\r\n\r\n");
  expect_error(h, 1, 426);
  harness_free(h);
}

/* spec: PRES-1 PRES-3 EXT-6 */
Test(server, presence_relay_ttl_and_last_session)
{
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  add_conv(h, "c2", PARLEY_CONV_DIRECT, bc, 2);
  add_conv(h, "c3", PARLEY_CONV_GROUP, abc, 3);
  ready(h, 1, "alice", "phone", "presence");
  ready(h, 2, "bob", "phone", "presence");
  ready(h, 3, "carol", "phone", "presence");
  ready(h, 4, "dave", "phone", "presence");
  ready(h, 5, "carol", "laptop", "");
  feed(h, 2, "PRESENCE\r\nstatus: online\r\nttl: 5000\r\n\r\n");
  for (parley_conn_id c = 1; c <= 3; c += 2) {
    tframe *tf = expect(h, c, "PRESENCE");
    cr_assert_str_eq(hget(tf, "user"), "bob");
    cr_assert_str_eq(hget(tf, "status"), "online");
    cr_assert_eq(hnum(tf, "ttl"), 5000);
    expect_nothing(h, c); /* once, though two conversations are shared */
  }
  expect_nothing(h, 2);
  expect_nothing(h, 4);
  expect_nothing(h, 5);
  uint64_t lapse = h->now + 5000;
  cr_assert_eq(h->timer_at, lapse);
  time_to(h, lapse - 1);
  expect_nothing(h, 1);
  time_to(h, lapse);
  tframe *tf = expect(h, 1, "PRESENCE");
  cr_assert_str_eq(hget(tf, "status"), "offline");
  expect(h, 3, "PRESENCE");

  feed(h, 2, "PRESENCE\r\nstatus: away\r\n\r\n");
  tf = expect(h, 1, "PRESENCE");
  cr_assert_str_eq(hget(tf, "status"), "away");
  cr_assert_null(hget(tf, "ttl"));
  expect(h, 3, "PRESENCE");
  parley_server_on_close(h->s, 2, h->now);
  pump(h);
  tf = expect(h, 1, "PRESENCE");
  cr_assert_str_eq(hget(tf, "status"), "offline");
  feed(h, 1, "PRESENCE\r\nstatus: busy\r\n\r\n");
  expect_error(h, 1, 427);
  feed(h, 1, "PRESENCE\r\nstatus: online\r\nttl: 0\r\n\r\n");
  expect_error(h, 1, 427);
  harness_free(h);
}

/* ---- conversations over the API ---- */

/* spec: HTTP-8 DUR-3 SEND-6 */
Test(server, create_conv_direct_unique_and_group)
{
  harness *h = harness_new();
  h->auto_store = false;
  const char *bob[] = {"bob"};
  parley_server_api_create_conv(h->s, 1, "alice", PARLEY_CONV_DIRECT, "",
                                bob, 1, h->now);
  pump(h);
  parley_server_api_create_conv(h->s, 2, "bob", PARLEY_CONV_DIRECT, "",
                                (const char *const[]){"alice"}, 1, h->now);
  pump(h);
  cr_assert_eq(h->api_len, 0); /* nothing before durable */
  cr_assert_eq(store_pending(h), 1);
  cr_assert_eq(h->reqs[0].req.op, PARLEY_STORE_CREATE_CONV);
  store_complete(h, 1);
  cr_assert_eq(h->api_len, 2);
  cr_assert_eq(h->api[0].api_id, 1);
  cr_assert(h->api[0].created);
  cr_assert_eq(h->api[1].api_id, 2);
  cr_assert(!h->api[1].created);
  const char *id = h->api[0].conv.id;
  cr_assert_str_eq(h->api[1].conv.id, id);
  cr_assert_eq(strlen(id), 17);
  cr_assert_eq(id[0], 'c');
  cr_assert_eq(h->api[0].conv.member_count, 2);
  cr_assert_eq(h->api[0].conv.kind, PARLEY_CONV_DIRECT);
  parley_server_api_create_conv(h->s, 3, "bob", PARLEY_CONV_DIRECT, "",
                                (const char *const[]){"alice"}, 1, h->now);
  pump(h);
  cr_assert_eq(h->api_len, 3);
  cr_assert(!h->api[2].created);
  cr_assert_str_eq(h->api[2].conv.id, id);

  parley_server_api_create_conv(h->s, 4, "alice", PARLEY_CONV_GROUP, "Team",
                                (const char *const[]){"bob", "carol", "bob"},
                                3, h->now);
  pump(h);
  store_complete(h, 1);
  api_copy *g = &h->api[3];
  cr_assert(g->created);
  cr_assert_str_neq(g->conv.id, id);
  cr_assert_eq(g->conv.member_count, 3);
  cr_assert_str_eq(g->conv.title, "Team");

  parley_conv_info info;
  cr_assert_eq(parley_server_conv_info(h->s, "carol", g->conv.id, &info),
               PARLEY_OK);
  cr_assert_eq(info.member_count, 3);
  cr_assert_eq(info.last_seq, 0);
  cr_assert_eq(parley_server_conv_info(h->s, "dave", g->conv.id, &info),
               PARLEY_E_NOT_FOUND);
  cr_assert_eq(parley_server_conv_info(h->s, "carol", "cnone", &info),
               PARLEY_E_NOT_FOUND);

  h->auto_store = true;
  ready(h, 1, "carol", "phone", "");
  send_msg(h, 1, g->conv.id, "t1", "hi", NULL);
  expect(h, 1, "ACK");
  cr_assert_eq(parley_server_conv_info(h->s, "bob", g->conv.id, &info),
               PARLEY_OK);
  cr_assert_eq(info.last_seq, 1);
  harness_free(h);
}

/* What parley_server_list_convs handed over. */
typedef struct listed {
  size_t n;
  char ids[8][PARLEY_ID_MAX + 1];
  size_t members[8];
} listed;

static void collect_conv(void *ud, const parley_conv_info *info)
{
  listed *l = ud;
  cr_assert_lt(l->n, 8);
  snprintf(l->ids[l->n], sizeof l->ids[l->n], "%s", info->id);
  l->members[l->n++] = info->member_count;
}

/* The position of `id` in l, or -1. */
static int listed_at(const listed *l, const char *id)
{
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->ids[i], id) == 0)
      return (int)i;
  return -1;
}

Test(server, list_convs_gives_the_callers_durable_conversations)
{
  harness *h = harness_new();
  listed l = {0};
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  add_conv(h, "c2", PARLEY_CONV_GROUP, abc, 3);
  add_conv(h, "c3", PARLEY_CONV_DIRECT, bc, 2);
  h->auto_store = false;
  parley_server_api_create_conv(h->s, 1, "alice", PARLEY_CONV_GROUP, "New",
                                (const char *const[]){"carol"}, 1, h->now);
  pump(h); /* not durable yet */

  cr_assert_eq(parley_server_list_convs(h->s, "alice", collect_conv, &l),
               PARLEY_OK);
  cr_assert_eq(l.n, 2);
  cr_assert_geq(listed_at(&l, "c1"), 0);
  cr_assert_geq(listed_at(&l, "c2"), 0);
  cr_assert_eq(l.members[listed_at(&l, "c2")], 3);

  memset(&l, 0, sizeof l);
  parley_server_list_convs(h->s, "carol", collect_conv, &l);
  cr_assert_eq(l.n, 2);
  cr_assert_geq(listed_at(&l, "c2"), 0);
  cr_assert_geq(listed_at(&l, "c3"), 0);

  memset(&l, 0, sizeof l);
  cr_assert_eq(parley_server_list_convs(h->s, "nobody", collect_conv, &l),
               PARLEY_OK);
  cr_assert_eq(l.n, 0);

  store_complete(h, 1);
  memset(&l, 0, sizeof l);
  parley_server_list_convs(h->s, "alice", collect_conv, &l);
  cr_assert_eq(l.n, 3, "the new group once it is durable");
  harness_free(h);
}

/* spec: HTTP-8 */
Test(server, create_conv_bad_requests)
{
  harness *h = harness_new();
  parley_server_api_create_conv(h->s, 1, "alice", PARLEY_CONV_DIRECT, "",
                                (const char *const[]){"alice"}, 1, h->now);
  parley_server_api_create_conv(h->s, 2, "alice", PARLEY_CONV_GROUP, "",
                                (const char *const[]){"Bob"}, 1, h->now);
  parley_server_api_create_conv(h->s, 3, "alice", PARLEY_CONV_DIRECT, "",
                                (const char *const[]){"bob", "carol"}, 2,
                                h->now);
  parley_server_api_create_conv(h->s, 4, "alice", PARLEY_CONV_GROUP,
                                "\xff", (const char *const[]){"bob"}, 1,
                                h->now);
  parley_server_api_create_conv(h->s, 5, "alice", PARLEY_CONV_GROUP, "",
                                NULL, 0, h->now);
  static char names[256][8];
  const char *many[256];
  for (int i = 0; i < 256; i++) {
    snprintf(names[i], sizeof names[i], "u%d", i);
    many[i] = names[i];
  }
  parley_server_api_create_conv(h->s, 6, "alice", PARLEY_CONV_GROUP, "",
                                many, 256, h->now);
  pump(h);
  cr_assert_eq(h->api_len, 6);
  for (size_t i = 0; i < 6; i++)
    cr_assert_eq(h->api[i].err, PARLEY_E_BAD_VALUE, "request %zu", i);
  cr_assert_eq(h->req_len, 0);
  /* 255 names and the caller make the largest group */
  parley_server_api_create_conv(h->s, 7, "alice", PARLEY_CONV_GROUP, "",
                                many, 255, h->now);
  pump(h);
  cr_assert_eq(h->api[6].err, PARLEY_OK);
  cr_assert_eq(h->api[6].conv.member_count, 256);
  harness_free(h);
}

/* ---- robustness ---- */

/* Checks that every frame the core sent parses, then forgets them. */
static void out_check_and_clear(harness *h)
{
  for (size_t i = 0; i < h->out_len; i++) {
    tframe_parse(h->out[i].data, h->out[i].len, &tf_scratch);
    free(h->out[i].data);
  }
  h->out_len = 0;
}

/* spec: WS-2 WS-4 FRAME-7 */
Test(server, mutated_frames_never_break_the_core)
{
  static const char *const templates[] = {
    "HELLO\r\nversions: 1\r\ncaps: typing,presence\r\nheartbeat: 300\r\n"
    "\r\n",
    "SEND\r\nconv: c1\r\ntemp-id: t1\r\ncontent-length: 2\r\n\r\nhi",
    "RECEIPT\r\nconv: c1\r\nkind: read\r\nseq: 1\r\n\r\n",
    "SYNC\r\nsince: 0\r\n\r\n",
    "HISTORY\r\nconv: c1\r\nlimit: 2\r\nafter: 0\r\n\r\n",
    "TYPING\r\nconv: c1\r\nstate: on\r\n\r\n",
    "PRESENCE\r\nstatus: online\r\nttl: 100\r\n\r\n",
    "PING\r\nnonce: 1\r\nreq: r\r\n\r\n",
    "BYE\r\n\r\n",
  };
  parley_server_config cfg = default_cfg();
  cfg.rate_burst = 100000;
  harness *h = harness_new_cfg(&cfg);
  add_conv(h, "c1", PARLEY_CONV_GROUP, abc, 3);
  uint32_t rnd = 12345;
  char buf[512];
  const char *users[] = {"alice", "bob", "carol"};
  for (int i = 0; i < 3000; i++) {
    parley_conn_id c = (parley_conn_id)(i % 5) + 1 + 100 * (uint64_t)(i / 50);
    if (i % 50 < 5) {
      ready(h, c, users[i % 3], "dev", "typing,presence,receipts");
      continue;
    }
    rnd = rnd * 1103515245u + 12345u;
    const char *tpl = templates[(rnd >> 8) % 9];
    size_t len = strlen(tpl);
    memcpy(buf, tpl, len);
    for (int k = 0; k < (int)((rnd >> 20) % 4); k++) {
      rnd = rnd * 1103515245u + 12345u;
      buf[(rnd >> 8) % len] = (char)(rnd >> 16);
    }
    if ((rnd >> 4) % 7 == 0)
      len = (rnd >> 12) % len;
    parley_server_on_message(h->s, c, buf, len, false, h->now);
    pump(h);
    h->now += (rnd >> 24) % 50;
    time_to(h, h->now);
    if (h->out_len > MAX_OUT / 2)
      out_check_and_clear(h);
  }
  out_check_and_clear(h);
  cr_assert_eq(h->fatal, 0);
  harness_free(h);
}

/* Feeds `len` octets as one text message (they may hold NUL). */
static void feed_n(harness *h, parley_conn_id conn, const char *data,
                   size_t len)
{
  parley_server_on_message(h->s, conn, data, len, false, h->now);
  pump(h);
}

/* spec: EXT-5 EXT-1 SEC-3 */
Test(server, headers_defined_for_other_verbs_are_ignored)
{
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  parley_server_on_open(h->s, 1, h->now);
  pump(h);
  feedf(h, 1, "HELLO\nversions: 1\nheartbeat: 30000\nseq: x\nconv: !?\n"
              "token: junk\nfatal: maybe\nstate: sideways\n\n");
  expect(h, 1, "WELCOME");
  char tok[PARLEY_TOKEN_MAX + 1];
  token_for("alice", h->now + 100000000, tok);
  feedf(h, 1, "AUTH\ntoken: %s\ndevice: phone\nseq: -1\nversions: x\n"
              "limit: 1000\n\n", tok);
  expect(h, 1, "READY");
  feedf(h, 1, "PING\nnonce: n1\nseq: seven\nconv: ???\nkind: odd\n"
              "since: ~\nttl: -5\n\n");
  cr_assert_str_eq(hget(expect(h, 1, "PONG"), "nonce"), "n1");
  feedf(h, 1, "SEND\nconv: c1\ntemp-id: t1\nseq: 99\nfrom: mallory\n"
              "device: other\nts: 5\npos: 12\nmsg-id: evil\nuser: mallory\n"
              "since: x\nreq: s1\ncontent-length: 2\n\nhi");
  tframe *tf = expect(h, 1, "ACK");
  cr_assert_eq(hnum(tf, "seq"), 1, "seq is the server's");
  cr_assert_str_neq(hget(tf, "msg-id"), "evil");
  cr_assert_neq(hnum(tf, "ts"), 5);
  tf = expect(h, 1, "MSG");
  cr_assert_str_eq(hget(tf, "from"), "alice");
  cr_assert_str_eq(hget(tf, "device"), "phone");
  cr_assert_str_eq(tf->body, "hi");
  feedf(h, 1, "RECEIPT\nconv: c1\nkind: read\nseq: 1\ntemp-id: !!\n"
              "state: maybe\nstatus: gone\nreq: r1\n\n");
  expect(h, 1, "OK");
  expect(h, 1, "RECEIPT");
  feedf(h, 1, "HISTORY\nconv: c1\nsince: bogus\nseq: x\nstatus: y\n"
              "req: h1\n\n");
  expect(h, 1, "MSG");
  tf = expect(h, 1, "PAGE");
  cr_assert_eq(hnum(tf, "count"), 1);
  feedf(h, 1, "SYNC\nsince: 0\nlimit: 0\nconv: nope\nafter: z\nreq: y1\n\n");
  expect(h, 1, "MSG");
  expect(h, 1, "RECEIPT");
  expect(h, 1, "SYNCED");
  feedf(h, 1, "BYE\nseq: 1\nconv: x\n\n");
  expect(h, 1, "BYE");
  cr_assert_eq(h->store_count[PARLEY_STORE_APPEND_MSG], 1);
  harness_free(h);
}

/* spec: LIFE-5 */
Test(server, pipelined_frames_are_handled_in_order)
{
  harness *h = harness_new();
  h->auto_store = false;
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  char tok[PARLEY_TOKEN_MAX + 1], burst[4096];
  token_for("alice", h->now + 100000000, tok);
  parley_server_on_open(h->s, 1, h->now);
  pump(h);
  /* One burst, no waiting for any answer. */
  snprintf(burst, sizeof burst,
           "HELLO\nversions: 1\nheartbeat: 30000\nreq: h\n\n|"
           "AUTH\ntoken: %s\ndevice: phone\nreq: a\n\n|"
           "PING\nnonce: p1\n\n|"
           "SEND\nconv: c1\ntemp-id: t1\nreq: s1\ncontent-length: 1\n\n1|"
           "PING\nnonce: p2\n\n|"
           "SEND\nconv: c1\ntemp-id: t2\nreq: s2\ncontent-length: 1\n\n2|"
           "SEND\nconv: c1\ntemp-id: t3\nreq: s3\ncontent-length: 1\n\n3|"
           "HISTORY\nconv: c1\nreq: q\n\n|"
           "PING\nnonce: p3\n\n", tok);
  for (char *part = strtok(burst, "|"); part; part = strtok(NULL, "|"))
    feedf(h, 1, "%s", part);
  cr_assert_str_eq(hget(expect(h, 1, "WELCOME"), "req"), "h");
  cr_assert_str_eq(hget(expect(h, 1, "READY"), "req"), "a");
  cr_assert_str_eq(hget(expect(h, 1, "PONG"), "nonce"), "p1");
  cr_assert_str_eq(hget(expect(h, 1, "PONG"), "nonce"), "p2");
  cr_assert_str_eq(hget(expect(h, 1, "PONG"), "nonce"), "p3");
  expect_nothing(h, 1);
  /* The store requests were issued in frame order: appends of t1, t2,
   * t3 (seq 1, 2, 3), then the history read. */
  cr_assert_eq(store_pending(h), 4);
  for (size_t i = 0; i < 3; i++) {
    cr_assert_eq(h->reqs[h->req_done + i].req.op, PARLEY_STORE_APPEND_MSG);
    cr_assert_eq(h->reqs[h->req_done + i].req.msg.seq, i + 1);
  }
  cr_assert_eq(h->reqs[h->req_done + 3].req.op, PARLEY_STORE_READ_HISTORY);
  store_complete(h, SIZE_MAX);
  const char *want[][2] = {{"ACK", "s1"}, {"ACK", "s2"}, {"ACK", "s3"},
                           {"PAGE", "q"}};
  size_t k = 0;
  uint64_t seq = 0;
  for (out_frame *o = next_out(h, 1); o; o = next_out(h, 1)) {
    o->taken = true;
    tframe_parse(o->data, o->len, &tf_scratch);
    if (strcmp(tf_scratch.verb, "MSG") == 0)
      continue; /* live copies and the history page */
    cr_assert_lt(k, 4, "unexpected %s", tf_scratch.verb);
    cr_assert_str_eq(tf_scratch.verb, want[k][0]);
    cr_assert_str_eq(hget(&tf_scratch, "req"), want[k][1]);
    if (k < 3) {
      cr_assert_eq(hnum(&tf_scratch, "seq"), ++seq);
      cr_assert_eq(hget(&tf_scratch, "temp-id")[1] - '0', (int)seq);
    } else {
      cr_assert_eq(hnum(&tf_scratch, "count"), 3, "HISTORY after SENDs");
    }
    k++;
  }
  cr_assert_eq(k, 4);
  harness_free(h);
}

/* Writes a PING whose body makes the frame `body` + its head long into
 * buf; returns the frame's length. */
static size_t ping_of(char *buf, size_t cap, size_t body)
{
  size_t head = (size_t)snprintf(buf, cap, "PING\r\ncontent-length: "
                                 "%zu\r\n\r\n", body);
  cr_assert_lt(head + body, cap);
  memset(buf + head, 'b', body);
  return head + body;
}

/* spec: LIM-1 FRAME-2 */
Test(server, stated_limits_never_pass_the_table)
{
  static const struct {
    size_t frame, headers, line;
    uint64_t want_frame, want_headers, want_line;
  } cases[] = {
    {1u << 20, 100, 8192, 65536, 32, 1024},
    {65537, 33, 1025, 65536, 32, 1024},
    {8192, 16, 512, 8192, 16, 512},
    {0, 0, 0, 65536, 32, 1024},
  };
  static char big[70000];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    parley_server_config cfg = default_cfg();
    cfg.limits.frame_size_max = cases[i].frame;
    cfg.limits.header_count_max = cases[i].headers;
    cfg.limits.header_line_max = cases[i].line;
    harness *h = harness_new_cfg(&cfg);
    parley_server_on_open(h->s, 1, h->now);
    pump(h);
    feedf(h, 1, "HELLO\nversions: 1\nheartbeat: 30000\n\n");
    tframe *tf = expect(h, 1, "WELCOME");
    cr_assert_eq(hnum(tf, "max-frame"), cases[i].want_frame, "case %zu", i);
    cr_assert_eq(hnum(tf, "max-headers"), cases[i].want_headers);
    cr_assert_eq(hnum(tf, "max-header-line"), cases[i].want_line);
    cr_assert_eq(hnum(tf, "max-body"), cases[i].want_frame - 1024);
    /* The stated frame limit is the one enforced: a frame at it is
     * taken, one octet past it is refused. */
    for (size_t extra = 0; extra < 2; extra++) {
      size_t n = (size_t)cases[i].want_frame + extra, k = n, len = 0;
      while (k > 0 && (len = ping_of(big, sizeof big, k)) != n)
        k -= len > n ? len - n : 1;
      cr_assert_eq(len, n);
      feed_n(h, 1, big, n);
      if (extra == 0)
        expect(h, 1, "PONG");
      else
        expect_error(h, 1, 406);
    }
    harness_free(h);
  }
}

/* spec: SEC-18 */
Test(server, bodies_with_nul_are_kept_by_length)
{
  static const char send[] =
      "SEND\r\nconv: c1\r\ntemp-id: t1\r\nreq: s1\r\n"
      "content-length: 7\r\n\r\na\0b\0\0c\0";
  harness *h = harness_new();
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  ready(h, 1, "alice", "phone", "");
  ready(h, 2, "bob", "laptop", "");
  feed_n(h, 1, send, sizeof send - 1);
  cr_assert_eq(h->store_count[PARLEY_STORE_APPEND_MSG], 1);
  cr_assert_eq(h->reqs[0].req.msg.body_len, 7);
  cr_assert_eq(memcmp(h->reqs[0].body, "a\0b\0\0c\0", 7), 0);
  expect(h, 1, "ACK");
  tframe *tf = expect(h, 2, "MSG");
  cr_assert_eq(tf->body_len, 7);
  cr_assert_eq(memcmp(tf->body, "a\0b\0\0c\0", 7), 0);
  feedf(h, 2, "HISTORY\nconv: c1\nreq: q\n\n");
  tf = expect(h, 2, "MSG");
  cr_assert_eq(tf->body_len, 7);
  cr_assert_eq(memcmp(tf->body, "a\0b\0\0c\0", 7), 0);
  /* A repeat with the same octets is the same message (SEND-3), one
   * that differs after a NUL is another body (SEND-4). */
  feed_n(h, 1, send, sizeof send - 1);
  expect(h, 1, "MSG");
  tf = expect(h, 1, "ACK");
  cr_assert_eq(hnum(tf, "seq"), 1);
  char other[sizeof send];
  memcpy(other, send, sizeof send);
  other[sizeof send - 2] = 'z';
  feed_n(h, 1, other, sizeof send - 1);
  expect_error(h, 1, 441);
  harness_free(h);
}

/* Everything a harness saw, flattened for comparing two runs. */
static void trace_of(harness *h, char *out, size_t cap)
{
  size_t n = 0;
  for (size_t i = 0; i < h->out_len && n < cap; i++)
    n += (size_t)snprintf(out + n, cap - n, "%llu:%s|",
                          (unsigned long long)h->out[i].conn,
                          h->out[i].data);
  for (size_t op = 0; op < 8 && n < cap; op++)
    n += (size_t)snprintf(out + n, cap - n, "store%zu=%zu|", op,
                          h->store_count[op]);
  for (size_t i = 0; i < h->api_len && n < cap; i++)
    n += (size_t)snprintf(out + n, cap - n, "api%d|", (int)h->api[i].err);
  n += (size_t)snprintf(out + n, cap - n, "closes=%zu timer=%llu",
                        h->close_len, (unsigned long long)h->timer_at);
}

/* Runs every request about conversation `conv` for alice, who is not in
 * c1 (bob and carol are), and writes what the core did. */
static void probe_conv(const char *conv, char *out, size_t cap)
{
  harness *h = harness_new();
  parley_conv_info info;
  add_conv(h, "c1", PARLEY_CONV_DIRECT, bc, 2);
  ready(h, 1, "alice", "phone", "typing");
  send_msg(h, 1, conv, "t1", "x", "r1");
  feedf(h, 1, "RECEIPT\nconv: %s\nkind: read\nseq: 1\nreq: r2\n\n", conv);
  feedf(h, 1, "HISTORY\nconv: %s\nlimit: 5\nreq: r3\n\n", conv);
  feedf(h, 1, "HISTORY\nconv: %s\ncursor: hc1.x.y\nreq: r4\n\n", conv);
  feedf(h, 1, "TYPING\nconv: %s\nstate: on\nreq: r5\n\n", conv);
  parley_server_api_history(h->s, 7, "alice", conv, NULL, 10, h->now);
  pump(h);
  parley_server_api_history(h->s, 8, "alice", conv, "hc1.x.y", 10, h->now);
  pump(h);
  cr_assert_eq(parley_server_conv_info(h->s, "alice", conv, &info),
               PARLEY_E_NOT_FOUND);
  trace_of(h, out, cap);
  harness_free(h);
}

/* spec: SEC-12 SEC-1 SEC-2 */
Test(server, non_member_and_missing_conversation_take_the_same_path)
{
  static char missing[65536], foreign[65536];
  probe_conv("c9", missing, sizeof missing);
  probe_conv("c1", foreign, sizeof foreign);
  cr_assert_str_eq(missing, foreign);
  cr_assert_not_null(strstr(missing, "store4=0|store5=0|"),
                     "no store read for either: %s", missing);
}

/* spec: SEC-14 */
Test(server, sessions_per_user_are_capped)
{
  parley_server_config cfg = default_cfg();
  cfg.max_sessions_per_user = 2;
  harness *h = harness_new_cfg(&cfg);
  ready(h, 1, "alice", "phone", "");
  ready(h, 2, "alice", "laptop", "");
  ready(h, 3, "bob", "phone", ""); /* another user is not counted */
  hello(h, 4, "");
  auth(h, 4, "alice", "tablet", h->now + 100000000);
  expect_error(h, 4, 429);
  cr_assert_not(closed(h, 4, NULL), "not fatal: the session stays");
  feedf(h, 4, "SYNC\nreq: y\n\n");
  expect_error(h, 4, 423); /* still not READY */
  /* A refresh on a READY session is not a new session. */
  auth(h, 1, "alice", "phone", h->now + 200000000);
  expect(h, 1, "READY");
  parley_server_on_close(h->s, 2, h->now);
  pump(h);
  auth(h, 4, "alice", "tablet", h->now + 100000000);
  expect(h, 4, "READY");
  harness_free(h);
}

/* ---- planted faults (parley/faults.h) ----
 *
 * Each test switches one fault on and checks that the core then makes the
 * mistake the fault names, so the mutation test's faults are real; the
 * right behaviour is checked by the tests above. ack-before-commit and
 * dedup-off are checked with the sending tests. */

/* A core planting `fault`, with the direct conversation c1 of alice and
 * bob loaded. */
static harness *faulty(parley_fault fault, bool auto_store)
{
  parley_server_config cfg = default_cfg();
  cfg.fault = fault;
  harness *h = harness_new_cfg(&cfg);
  h->auto_store = auto_store;
  add_conv(h, "c1", PARLEY_CONV_DIRECT, ab, 2);
  return h;
}

/* spec: EXT-1 */
Test(server, fault_unknown_header_rejected)
{
  harness *h = faulty(PARLEY_FAULT_UNKNOWN_HEADER_REJECTED, true);
  ready(h, 1, "alice", "phone", "");
  feed(h, 1, "PING\r\nx-trace: 7\r\nreq: p\r\n\r\n");
  expect_error(h, 1, 401);
  expect_nothing(h, 1);
  harness_free(h);
}

/* spec: EXT-3 */
Test(server, fault_unknown_verb_as_bad_start_line)
{
  harness *h = faulty(PARLEY_FAULT_UNKNOWN_VERB_AS_BAD_START_LINE, true);
  ready(h, 1, "alice", "phone", "");
  feed(h, 1, "FROB\r\nreq: f\r\n\r\n");
  expect_error(h, 1, 400);
  harness_free(h);
}

/* spec: FRAME-11 */
Test(server, fault_missing_header_as_bad_value)
{
  harness *h = faulty(PARLEY_FAULT_MISSING_HEADER_AS_BAD_VALUE, true);
  ready(h, 1, "alice", "phone", "");
  feed(h, 1, "SEND\r\ntemp-id: t1\r\n\r\n");
  expect_error(h, 1, 427);
  harness_free(h);
}

/* spec: REQ-1 ERR-2 */
Test(server, fault_error_without_req)
{
  harness *h = faulty(PARLEY_FAULT_ERROR_WITHOUT_REQ, true);
  ready(h, 1, "alice", "phone", "");
  feed(h, 1, "SEND\r\nconv: c9\r\ntemp-id: t1\r\nreq: r1\r\n\r\n");
  cr_assert_null(hget(expect_error(h, 1, 440), "req"));
  harness_free(h);
}

/* spec: LIFE-4 */
Test(server, fault_second_hello_welcomed)
{
  harness *h = faulty(PARLEY_FAULT_SECOND_HELLO_WELCOMED, true);
  ready(h, 1, "alice", "phone", "");
  feed(h, 1, "HELLO\r\nversions: 1\r\nheartbeat: 1000\r\nreq: h2\r\n\r\n");
  cr_assert_str_eq(hget(expect(h, 1, "WELCOME"), "req"), "h2");
  cr_assert_not(closed(h, 1, NULL));
  send_msg(h, 1, "c1", "t1", "still ready", NULL);
  expect(h, 1, "ACK");
  harness_free(h);
}

/* spec: RATE-3 */
Test(server, fault_welcome_without_rate_burst)
{
  harness *h = faulty(PARLEY_FAULT_WELCOME_WITHOUT_RATE_BURST, true);
  parley_server_on_open(h->s, 1, h->now);
  feed(h, 1, "HELLO\r\nversions: 1\r\nheartbeat: 1000\r\n\r\n");
  tframe *tf = expect(h, 1, "WELCOME");
  cr_assert_eq(hnum(tf, "rate"), 200);
  cr_assert_null(hget(tf, "rate-burst"));
  harness_free(h);
}

/* spec: AUTH-1 SEC-7 */
Test(server, fault_expired_token_accepted)
{
  harness *h = faulty(PARLEY_FAULT_EXPIRED_TOKEN_ACCEPTED, true);
  hello(h, 1, "");
  auth(h, 1, "alice", "phone", h->now - 1);
  expect(h, 1, "READY"); /* then the session timer notices */
  time_to(h, h->now);
  expect_error(h, 1, 425);
  harness_free(h);
}

/* spec: AUTH-1 SEC-7 */
Test(server, fault_token_signature_unchecked)
{
  char tok[PARLEY_TOKEN_MAX + 1];
  harness *h = faulty(PARLEY_FAULT_TOKEN_SIGNATURE_UNCHECKED, true);
  hello(h, 1, "");
  token_for("alice", h->now + 60000, tok);
  size_t at = strlen(tok) - 20; /* inside the signature */
  tok[at] = tok[at] == 'A' ? 'B' : 'A';
  feedf(h, 1, "AUTH\ntoken: %s\ndevice: phone\n\n", tok);
  cr_assert_str_eq(hget(expect(h, 1, "READY"), "user"), "alice");
  harness_free(h);
}

/* spec: AUTH-3 */
Test(server, fault_token_expiry_not_enforced)
{
  harness *h = faulty(PARLEY_FAULT_TOKEN_EXPIRY_NOT_ENFORCED, true);
  ready_until(h, 1, "alice", "phone", "", h->now + 1000);
  feed(h, 1, "PING\r\n\r\n"); /* keeps the heartbeat happy */
  expect(h, 1, "PONG");
  time_to(h, h->now + 5000);
  expect_nothing(h, 1);
  cr_assert_not(closed(h, 1, NULL));
  harness_free(h);
}

/* spec: HB-3 */
Test(server, fault_pong_without_nonce)
{
  harness *h = faulty(PARLEY_FAULT_PONG_WITHOUT_NONCE, true);
  ready(h, 1, "alice", "phone", "");
  feed(h, 1, "PING\r\nnonce: n-42\r\n\r\n");
  cr_assert_null(hget(expect(h, 1, "PONG"), "nonce"));
  harness_free(h);
}

/* spec: HB-4 */
Test(server, fault_heartbeat_not_enforced)
{
  harness *h = faulty(PARLEY_FAULT_HEARTBEAT_NOT_ENFORCED, true);
  ready(h, 1, "alice", "phone", ""); /* heartbeat 30000 */
  time_to(h, h->now + 60000);
  time_to(h, h->now + 600000);
  expect_nothing(h, 1);
  cr_assert_not(closed(h, 1, NULL));
  harness_free(h);
}

/* spec: SEND-3 */
Test(server, fault_dedup_key_no_device)
{
  harness *h = faulty(PARLEY_FAULT_DEDUP_KEY_NO_DEVICE, true);
  ready(h, 1, "alice", "phone", "");
  ready(h, 3, "alice", "laptop", "");
  send_msg(h, 1, "c1", "t1", "hello", NULL);
  drop_output(h);
  send_msg(h, 3, "c1", "t1", "hello", NULL);
  cr_assert_eq(hnum(expect(h, 3, "ACK"), "seq"), 1); /* the phone's */
  cr_assert_eq(h->store_count[PARLEY_STORE_APPEND_MSG], 1);
  harness_free(h);
}

/* spec: SEND-3 */
Test(server, fault_dedup_key_temp_id_only)
{
  harness *h = faulty(PARLEY_FAULT_DEDUP_KEY_TEMP_ID_ONLY, true);
  ready(h, 1, "alice", "phone", "");
  ready(h, 2, "bob", "phone", "");
  send_msg(h, 1, "c1", "t1", "hello", NULL);
  drop_output(h);
  send_msg(h, 2, "c1", "t1", "hello", NULL);
  cr_assert_eq(hnum(expect(h, 2, "ACK"), "seq"), 1); /* alice's */
  cr_assert_eq(h->store_count[PARLEY_STORE_APPEND_MSG], 1);
  harness_free(h);
}

/* spec: SEND-4 */
Test(server, fault_dedup_ignores_body)
{
  harness *h = faulty(PARLEY_FAULT_DEDUP_IGNORES_BODY, true);
  ready(h, 1, "alice", "phone", "");
  send_msg(h, 1, "c1", "t1", "hello", NULL);
  drop_output(h);
  send_msg(h, 1, "c1", "t1", "something else", NULL);
  cr_assert_eq(hnum(expect(h, 1, "ACK"), "seq"), 1);
  harness_free(h);
}

/* spec: SEND-10 */
Test(server, fault_max_body_unchecked)
{
  static char body[64514];
  harness *h = faulty(PARLEY_FAULT_MAX_BODY_UNCHECKED, true);
  ready(h, 1, "alice", "phone", "");
  memset(body, 'a', 64513); /* max-body is 64512 */
  send_msg(h, 1, "c1", "t1", body, NULL);
  expect(h, 1, "ACK");
  cr_assert_eq(h->store_count[PARLEY_STORE_APPEND_MSG], 1);
  harness_free(h);
}

/* spec: SEND-2 */
Test(server, fault_seq_reuse)
{
  harness *h = faulty(PARLEY_FAULT_SEQ_REUSE, false);
  ready(h, 1, "alice", "phone", "");
  send_msg(h, 1, "c1", "t1", "one", NULL);
  send_msg(h, 1, "c1", "t2", "two", NULL); /* before the first commits */
  store_complete(h, SIZE_MAX);
  cr_assert_eq(hnum(expect(h, 1, "ACK"), "seq"), 1);
  cr_assert_eq(hnum(expect(h, 1, "MSG"), "seq"), 1);
  cr_assert_eq(hnum(expect(h, 1, "ACK"), "seq"), 1); /* reused */
  cr_assert_eq(hnum(expect(h, 1, "MSG"), "seq"), 1);
  cr_assert_eq(h->reqs[1].req.msg.seq, 2); /* the store's is right */
  harness_free(h);
}

/* spec: SEND-2 */
Test(server, fault_seq_gap)
{
  harness *h = faulty(PARLEY_FAULT_SEQ_GAP, true);
  ready(h, 1, "alice", "phone", "");
  send_msg(h, 1, "c1", "t1", "one", NULL);
  cr_assert_eq(hnum(expect(h, 1, "ACK"), "seq"), 1);
  send_msg(h, 1, "c1", "t1", "one", NULL); /* a retry */
  drop_output(h);
  send_msg(h, 1, "c1", "t2", "two", NULL);
  cr_assert_eq(hnum(expect(h, 1, "ACK"), "seq"), 3);
  harness_free(h);
}

/* spec: DELIV-1 */
Test(server, fault_fanout_skips_sender_devices)
{
  harness *h = faulty(PARLEY_FAULT_FANOUT_SKIPS_SENDER_DEVICES, true);
  ready(h, 1, "alice", "phone", "");
  ready(h, 2, "bob", "phone", "");
  ready(h, 3, "alice", "laptop", "");
  send_msg(h, 1, "c1", "t1", "hello", NULL);
  expect(h, 1, "ACK");
  expect(h, 1, "MSG");
  expect(h, 2, "MSG");
  expect_nothing(h, 3);
  harness_free(h);
}

/* spec: DELIV-1 RCPT-3 */
Test(server, fault_fanout_skips_last_member)
{
  harness *h = faulty(PARLEY_FAULT_FANOUT_SKIPS_LAST_MEMBER, true);
  add_conv(h, "c2", PARLEY_CONV_GROUP, abc, 3);
  ready(h, 1, "alice", "phone", "");
  ready(h, 2, "bob", "phone", "");
  ready(h, 3, "carol", "phone", "");
  send_msg(h, 1, "c2", "t1", "hello", NULL);
  expect(h, 2, "MSG");
  expect_nothing(h, 3);
  send_msg(h, 1, "c1", "t2", "direct", NULL); /* two members: delivered */
  expect(h, 2, "MSG");
  harness_free(h);
}

/* spec: RCPT-1 */
Test(server, fault_receipt_backwards)
{
  harness *h = faulty(PARLEY_FAULT_RECEIPT_BACKWARDS, true);
  ready(h, 1, "alice", "phone", "");
  ready(h, 2, "bob", "phone", "");
  send_n(h, 1, "c1", 3);
  feed(h, 2, "RECEIPT\r\nconv: c1\r\nkind: read\r\nseq: 3\r\n\r\n");
  drop_output(h);
  feed(h, 2, "RECEIPT\r\nconv: c1\r\nkind: read\r\nseq: 2\r\nreq: b\r\n\r\n");
  expect(h, 2, "OK");
  tframe *tf = expect(h, 1, "RECEIPT"); /* relayed though it lowers */
  cr_assert_eq(hnum(tf, "seq"), 2);
  harness_free(h);
}

/* spec: RCPT-2 */
Test(server, fault_receipt_past_end)
{
  harness *h = faulty(PARLEY_FAULT_RECEIPT_PAST_END, true);
  ready(h, 2, "bob", "phone", "");
  feed(h, 2, "RECEIPT\r\nconv: c1\r\nkind: delivered\r\nseq: 5\r\n\r\n");
  expect(h, 2, "OK");
  harness_free(h);
}

/* spec: SEC-2 */
Test(server, fault_receipt_seq_before_membership)
{
  harness *h = faulty(PARLEY_FAULT_RECEIPT_SEQ_BEFORE_MEMBERSHIP, true);
  add_conv(h, "c2", PARLEY_CONV_DIRECT, bc, 2);
  ready(h, 1, "alice", "phone", "");
  feed(h, 1, "RECEIPT\r\nconv: c2\r\nkind: read\r\nseq: 9\r\n\r\n");
  expect_error(h, 1, 427); /* tells alice that c2 exists */
  feed(h, 1, "RECEIPT\r\nconv: c9\r\nkind: read\r\nseq: 9\r\n\r\n");
  expect_error(h, 1, 440);
  harness_free(h);
}

/* spec: SEC-1 SEND-6 */
Test(server, fault_nonmember_leak)
{
  harness *h = faulty(PARLEY_FAULT_NONMEMBER_LEAK, true);
  add_conv(h, "c2", PARLEY_CONV_DIRECT, bc, 2);
  ready(h, 1, "alice", "phone", "");
  send_msg(h, 1, "c2", "t1", "x", NULL);
  cr_assert_not_null(strstr(expect_error(h, 1, 440)->body, "not a member"));
  send_msg(h, 1, "c9", "t2", "x", NULL);
  cr_assert_eq(expect_error(h, 1, 440)->body_len, 0);
  harness_free(h);
}

/* spec: SYNC-1 */
Test(server, fault_sync_since_inclusive)
{
  harness *h = faulty(PARLEY_FAULT_SYNC_SINCE_INCLUSIVE, true);
  ready(h, 1, "alice", "phone", "");
  send_n(h, 1, "c1", 2); /* pos 1 and 2 */
  drop_output(h);
  feed(h, 1, "SYNC\r\nsince: 1\r\n\r\n");
  expect_stream(h, 1, 1, 2, 2); /* pos 1 again */
  harness_free(h);
}

/* spec: HIST-2 */
Test(server, fault_history_cursor_inclusive)
{
  int seen[16] = {0};
  char cursor[128], extra[200];
  harness *h = faulty(PARLEY_FAULT_HISTORY_CURSOR_INCLUSIVE, true);
  ready(h, 1, "alice", "phone", "");
  send_n(h, 1, "c1", 7);
  drop_output(h);
  history_page(h, 1, "", seen, 3, true, cursor); /* 5, 6, 7 */
  snprintf(extra, sizeof extra, "cursor: %s\n", cursor);
  history_page(h, 1, extra, seen, 3, true, cursor); /* 3, 4, 5 */
  cr_assert_eq(seen[5], 2);
  cr_assert_eq(seen[6], 1);
  harness_free(h);
}

/* spec: HIST-1 */
Test(server, fault_history_more_when_full)
{
  int seen[16] = {0};
  char cursor[128], extra[200];
  harness *h = faulty(PARLEY_FAULT_HISTORY_MORE_WHEN_FULL, true);
  ready(h, 1, "alice", "phone", "");
  send_n(h, 1, "c1", 6);
  drop_output(h);
  history_page(h, 1, "", seen, 3, true, cursor); /* 4, 5, 6 */
  snprintf(extra, sizeof extra, "cursor: %s\n", cursor);
  history_page(h, 1, extra, seen, 3, true, cursor); /* 1, 2, 3: "more" */
  snprintf(extra, sizeof extra, "cursor: %s\n", cursor);
  history_page(h, 1, extra, seen, 0, false, cursor); /* an empty page */
  harness_free(h);
}

/* spec: EXT-6 TYPE-2 */
Test(server, fault_typing_ignores_capability)
{
  harness *h = faulty(PARLEY_FAULT_TYPING_IGNORES_CAPABILITY, true);
  ready(h, 1, "alice", "phone", "typing");
  ready(h, 2, "bob", "phone", "receipts");
  feed(h, 1, "TYPING\r\nconv: c1\r\nstate: on\r\n\r\n");
  expect(h, 2, "TYPING");
  harness_free(h);
}

/* spec: TYPE-2 */
Test(server, fault_typing_echoed_to_sender)
{
  harness *h = faulty(PARLEY_FAULT_TYPING_ECHOED_TO_SENDER, true);
  ready(h, 1, "alice", "phone", "typing");
  ready(h, 3, "alice", "laptop", "typing");
  feed(h, 1, "TYPING\r\nconv: c1\r\nstate: on\r\n\r\n");
  cr_assert_str_eq(hget(expect(h, 3, "TYPING"), "user"), "alice");
  harness_free(h);
}

/* spec: PRES-1 */
Test(server, fault_presence_never_expires)
{
  harness *h = faulty(PARLEY_FAULT_PRESENCE_NEVER_EXPIRES, true);
  ready(h, 1, "alice", "phone", "presence");
  ready(h, 2, "bob", "phone", "presence");
  feed(h, 2, "PRESENCE\r\nstatus: online\r\nttl: 5000\r\n\r\n");
  expect(h, 1, "PRESENCE");
  time_to(h, h->now + 5000);
  time_to(h, h->now + 20000); /* within the heartbeat of 30 s */
  expect_nothing(h, 1); /* no offline */
  harness_free(h);
}

/* spec: RATE-1 */
Test(server, fault_rate_limit_off)
{
  harness *h = faulty(PARLEY_FAULT_RATE_LIMIT_OFF, true);
  ready(h, 1, "alice", "phone", "");
  for (int i = 0; i < 500; i++) /* past the bucket of 400 at once */
    feed(h, 1, "PING\r\n\r\n");
  for (int i = 0; i < 500; i++)
    expect(h, 1, "PONG");
  harness_free(h);
}

