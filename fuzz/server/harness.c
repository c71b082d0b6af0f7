/* Fuzz harness: the sans-I/O server core (parley/server.h), fed a
 * sequence of events from four fake connections (fuzz/common/records.h)
 * with a fake store that completes requests in issue order, at once or,
 * after a HOLD record, one per COMPLETE record.
 *
 * Invariants checked after every step, besides the sanitizers' findings:
 * - every frame the core sends is one well-formed frame (libparley's
 *   parser in message mode);
 * - appends of a conversation are asked for with seq 1, 2, 3, ...
 *   (gapless, increasing);
 * - an ACK or a MSG never names a seq the store has not made durable;
 * - an API reply's history is in ascending seq order;
 * - the store never fails, so the core never stops (no FATAL).
 * At the end every connection closes, every request completes and the
 * core is freed, so a leak shows up under LeakSanitizer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../common/check.h"
#include "../common/records.h"
#include "parley/server.h"
#include "parley/token.h"

#define CONNS 4
#define USERS 3
#define START_MS 1764864000000ull

static const char *const users[USERS] = {"alice", "bob", "carol"};
static uint8_t token_pk[32];
static char tokens[USERS][PARLEY_TOKEN_MAX];

typedef struct pending {
  parley_store_req req;
  char *body;             /* APPEND_MSG: owned copy */
  parley_conv_info *conv; /* CREATE_CONV: owned copy */
} pending;

typedef struct conv_state {
  parley_conv_info info;
  uint64_t asked_seq;   /* highest seq an append asked for */
  uint64_t durable_seq; /* highest seq made durable */
} conv_state;

typedef struct fake {
  parley_server *s;
  uint64_t now;
  bool open[CONNS];
  bool hold;
  pending *queue;
  size_t queue_len, queue_head, queue_cap;
  parley_event *log; /* durable events, ascending pos; bodies owned */
  size_t log_len, log_cap;
  conv_state *convs; /* grows with every conversation created */
  size_t conv_count, conv_cap;
  parley_parser parser;
} fake;

static void *grow(void *p, size_t *cap, size_t len, size_t size)
{
  if (len < *cap)
    return p;
  *cap = *cap ? *cap * 2 : 16;
  p = realloc(p, *cap * size);
  check(p != NULL);
  return p;
}

static conv_state *conv_find(fake *f, const char *id, size_t n)
{
  for (size_t i = 0; i < f->conv_count; i++)
    if (strlen(f->convs[i].info.id) == n &&
        memcmp(f->convs[i].info.id, id, n) == 0)
      return &f->convs[i];
  return NULL;
}

static bool is_member(const conv_state *c, const char *user)
{
  for (size_t i = 0; c && i < c->info.member_count; i++)
    if (strcmp(c->info.members[i], user) == 0)
      return true;
  return false;
}

static uint64_t event_pos(const parley_event *e)
{
  return e->type == PARLEY_EVENT_MSG ? e->msg.pos : e->receipt.pos;
}

/* ---- the fake store ---------------------------------------------------- */

static void read_events(fake *f, const parley_store_req *r,
                        parley_store_result *res, parley_event *out)
{
  for (size_t i = 0; i < f->log_len; i++) {
    const parley_event *e = &f->log[i];
    const char *conv = e->type == PARLEY_EVENT_MSG ? e->msg.conv
                                                   : e->receipt.conv;
    uint64_t pos = event_pos(e);
    if (pos <= r->read_events.after_pos || pos > r->read_events.upto_pos ||
        !is_member(conv_find(f, conv, strlen(conv)), r->read_events.user))
      continue;
    if (res->event_count == r->read_events.limit) {
      res->more = true;
      return;
    }
    out[res->event_count++] = *e;
  }
}

static bool history_wants(const parley_store_req *r, const parley_event *e)
{
  if (e->type != PARLEY_EVENT_MSG ||
      strcmp(e->msg.conv, r->read_history.conv) != 0)
    return false;
  if (r->read_history.before_seq != 0)
    return e->msg.seq < r->read_history.before_seq;
  return !r->read_history.forward || e->msg.seq > r->read_history.after_seq;
}

static void read_history(fake *f, const parley_store_req *r,
                         parley_store_result *res, parley_event *out)
{
  size_t total = 0, lim = r->read_history.limit;
  bool backward = r->read_history.before_seq != 0 ||
                  !r->read_history.forward;

  for (size_t i = 0; i < f->log_len; i++)
    if (history_wants(r, &f->log[i]))
      out[total++] = f->log[i];
  if (total <= lim) {
    res->event_count = total;
    return;
  }
  res->more = true;
  res->event_count = lim;
  if (backward) /* the newest `lim`, still in ascending order */
    memmove(out, out + (total - lim), lim * sizeof *out);
}

static void log_append(fake *f, const parley_event *e, char *body)
{
  f->log = grow(f->log, &f->log_cap, f->log_len, sizeof *f->log);
  f->log[f->log_len] = *e;
  if (e->type == PARLEY_EVENT_MSG)
    f->log[f->log_len].msg.body = body;
  f->log_len++;
}

/* Completes the oldest waiting request. */
static void complete_one(fake *f)
{
  pending *p = &f->queue[f->queue_head++];
  parley_store_result res = {p->req.id, true, NULL, 0, false};
  parley_event *page = NULL, e;

  memset(&e, 0, sizeof e);
  switch (p->req.op) {
  case PARLEY_STORE_APPEND_MSG: {
    conv_state *c = conv_find(f, p->req.msg.conv, strlen(p->req.msg.conv));
    check(c != NULL && p->req.msg.seq == c->durable_seq + 1);
    c->durable_seq = p->req.msg.seq;
    e.type = PARLEY_EVENT_MSG;
    e.msg = p->req.msg;
    log_append(f, &e, p->body);
    p->body = NULL;
    break;
  }
  case PARLEY_STORE_APPEND_RECEIPT:
    e.type = PARLEY_EVENT_RECEIPT;
    e.receipt = p->req.receipt;
    log_append(f, &e, NULL);
    break;
  case PARLEY_STORE_CREATE_CONV:
    f->convs = grow(f->convs, &f->conv_cap, f->conv_count, sizeof *f->convs);
    memset(&f->convs[f->conv_count], 0, sizeof f->convs[0]);
    f->convs[f->conv_count++].info = *p->conv;
    break;
  case PARLEY_STORE_READ_EVENTS:
  case PARLEY_STORE_READ_HISTORY:
    page = calloc(f->log_len + 1, sizeof *page);
    check(page != NULL);
    if (p->req.op == PARLEY_STORE_READ_EVENTS)
      read_events(f, &p->req, &res, page);
    else
      read_history(f, &p->req, &res, page);
    res.events = page;
    break;
  default:
    break;
  }
  free(p->conv);
  free(p->body);
  p->conv = NULL;
  p->body = NULL;
  parley_server_on_store_done(f->s, &res, f->now);
  free(page);
}

/* Keeps a store request the core issued; checks an append's seq. */
static void keep_request(fake *f, const parley_store_req *req)
{
  f->queue = grow(f->queue, &f->queue_cap, f->queue_len, sizeof *f->queue);
  pending *p = &f->queue[f->queue_len++];

  memset(p, 0, sizeof *p);
  p->req = *req;
  p->req.conv = NULL;
  if (req->op == PARLEY_STORE_APPEND_MSG) {
    conv_state *c = conv_find(f, req->msg.conv, strlen(req->msg.conv));
    check(c != NULL && req->msg.seq == c->asked_seq + 1);
    c->asked_seq = req->msg.seq;
    p->body = malloc(req->msg.body_len + 1);
    check(p->body != NULL);
    memcpy(p->body, req->msg.body, req->msg.body_len);
    p->req.msg.body = p->body;
  } else if (req->op == PARLEY_STORE_CREATE_CONV) {
    p->conv = malloc(sizeof *p->conv);
    check(p->conv != NULL);
    *p->conv = *req->conv;
    check(conv_find(f, p->conv->id, strlen(p->conv->id)) == NULL);
  }
}

/* ---- what the core sends ----------------------------------------------- */

/* A sent frame: one well-formed frame; an ACK or MSG names durable seqs. */
static void check_sent(fake *f, const parley_action *a)
{
  parley_frame fr;
  parley_parse_error err;

  check(a->conn < CONNS && f->open[a->conn]);
  check(parley_parse_message(&f->parser, a->data, a->len, &fr, &err) ==
        PARLEY_OK);
  if (!parley_str_eq(fr.verb, "ACK") && !parley_str_eq(fr.verb, "MSG"))
    return;
  const parley_str *conv = parley_frame_get(&fr, "conv");
  const parley_str *seq = parley_frame_get(&fr, "seq");
  uint64_t n;
  check(conv && seq && parley_parse_u64(seq->ptr, seq->len, &n));
  conv_state *c = conv_find(f, conv->ptr, conv->len);
  check(c != NULL && n >= 1 && n <= c->durable_seq);
}

static void check_api(const parley_api_reply *r)
{
  for (size_t i = 1; i < r->event_count; i++)
    check(r->events[i - 1].msg.seq < r->events[i].msg.seq);
}

static void take_action(fake *f, const parley_action *a)
{
  switch (a->kind) {
  case PARLEY_ACT_SEND:
    check_sent(f, a);
    break;
  case PARLEY_ACT_CLOSE:
    check(a->conn < CONNS);
    break;
  case PARLEY_ACT_STORE:
    keep_request(f, a->store);
    break;
  case PARLEY_ACT_API_REPLY:
    check_api(a->api);
    break;
  case PARLEY_ACT_LOG:
    check(a->data && strlen(a->data) == a->len);
    break;
  case PARLEY_ACT_FATAL:
    check(false); /* the fake store never fails */
    break;
  default:
    break;
  }
}

/* Drains the core's actions and, unless held, completes the store
 * requests, until the core has nothing more to say. */
static void pump(fake *f)
{
  parley_action a;

  for (;;) {
    while (parley_server_next_action(f->s, &a))
      take_action(f, &a);
    if (f->hold || f->queue_head == f->queue_len)
      return;
    complete_one(f);
  }
}

/* ---- setting up and running -------------------------------------------- */

static void keys_once(void)
{
  static bool done;
  uint8_t seed[32], sk[64];

  if (done)
    return;
  check(sodium_init() >= 0);
  memset(seed, 9, sizeof seed);
  crypto_sign_seed_keypair(token_pk, sk, seed);
  for (int i = 0; i < USERS; i++)
    check(parley_token_issue(sk, users[i], START_MS - 1000,
                             START_MS + 86400000ull * 365, tokens[i],
                             sizeof tokens[i]) == PARLEY_OK);
  sodium_memzero(sk, sizeof sk);
  done = true;
}

/* The conversations the store holds at start: the examples' direct one
 * (alice and bob) and a group of all three users. */
static void load_convs(fake *f)
{
  static const char *const ids[] = {"c7f3a", "g1"};

  for (size_t i = 0; i < 2; i++) {
    f->convs = grow(f->convs, &f->conv_cap, f->conv_count, sizeof *f->convs);
    conv_state *c = &f->convs[f->conv_count++];
    memset(c, 0, sizeof *c);
    snprintf(c->info.id, sizeof c->info.id, "%s", ids[i]);
    c->info.kind = i == 0 ? PARLEY_CONV_DIRECT : PARLEY_CONV_GROUP;
    c->info.member_count = i == 0 ? 2 : 3;
    for (size_t m = 0; m < c->info.member_count; m++)
      snprintf(c->info.members[m], sizeof c->info.members[m], "%s",
               users[m]);
    c->info.created_ms = START_MS - 5000;
    check(parley_server_load_conv(f->s, &c->info) == PARLEY_OK);
  }
}

static bool fake_init(fake *f)
{
  parley_server_config cfg;

  memset(f, 0, sizeof *f);
  memset(&cfg, 0, sizeof cfg);
  memcpy(cfg.token_public_key, token_pk, sizeof token_pk);
  memset(cfg.cursor_key, 0x5a, sizeof cfg.cursor_key);
  cfg.seed = 7;
  cfg.ring_timeout_ms = 3000;
  cfg.call_grace_ms = 2000;
  cfg.typing_ttl_ms = 1000;
  f->now = START_MS;
  f->s = parley_server_new(&cfg);
  if (!f->s)
    return false;
  load_convs(f);
  parley_server_load_pos(f->s, 0);
  return true;
}

static void deliver(fake *f, int conn, const char *data, size_t len)
{
  if (!f->open[conn])
    return;
  parley_server_on_message(f->s, (parley_conn_id)conn, data, len, false,
                           f->now);
  pump(f);
}

static void set_open(fake *f, int conn, bool open)
{
  if (f->open[conn] == open)
    return;
  if (open)
    parley_server_on_open(f->s, (parley_conn_id)conn, f->now);
  else
    parley_server_on_close(f->s, (parley_conn_id)conn, f->now);
  f->open[conn] = open;
  pump(f);
}

static void login(fake *f, int conn, int user)
{
  char hello[160], auth[PARLEY_TOKEN_MAX + 80];
  int n;

  set_open(f, conn, true);
  n = snprintf(hello, sizeof hello, "HELLO\r\nversions: 1\r\ncaps: receipts,"
               "typing,presence,calls\r\nheartbeat: 30000\r\nreq: h%d\r\n\r\n",
               conn);
  deliver(f, conn, hello, (size_t)n);
  n = snprintf(auth, sizeof auth, "AUTH\r\ntoken: %s\r\ndevice: d%d\r\n"
               "req: a%d\r\n\r\n", tokens[user], conn, conn);
  deliver(f, conn, auth, (size_t)n);
}

/* API: history of a conversation with the input's cursor, or a group. */
static void api(fake *f, rec_reader *r)
{
  static const char *const members[] = {"bob", "carol"};
  int kind = rec_byte(r), limit = rec_byte(r), len = rec_byte(r);
  char cursor[256];

  if (kind < 0 || limit < 0 || len < 0)
    return;
  if (kind % 2 == 1) {
    parley_server_api_create_conv(f->s, 1, "alice", PARLEY_CONV_GROUP, "t",
                                  members, 2, f->now);
    pump(f);
    return;
  }
  size_t n = (size_t)len < r->left ? (size_t)len : r->left;
  memcpy(cursor, r->p, n);
  cursor[n] = '\0';
  r->p += n;
  r->left -= n;
  parley_server_api_history(f->s, 2, users[kind / 2 % USERS],
                            kind & 4 ? "g1" : "c7f3a",
                            n ? cursor : NULL, (size_t)limit % 120, f->now);
  pump(f);
}

/* Runs one record; returns false at the end of the input. */
static bool step(fake *f, rec_reader *r)
{
  int op = rec_byte(r), arg;
  size_t n;
  const uint8_t *blob;

  if (op < 0)
    return false;
  int conn = op >> 3 & 3;
  switch (op & 7) {
  case S_OPEN:
  case S_CLOSE:
    set_open(f, conn, (op & 7) == S_OPEN);
    break;
  case S_MESSAGE:
    blob = rec_blob(r, &n);
    deliver(f, conn, (const char *)blob, n);
    break;
  case S_TIME:
    arg = rec_byte(r);
    f->now += (uint64_t)(arg < 0 ? 1 : arg) * 50;
    parley_server_on_time(f->s, f->now);
    pump(f);
    break;
  case S_HOLD:
    f->hold = !f->hold;
    pump(f);
    break;
  case S_COMPLETE:
    if (f->queue_head < f->queue_len)
      complete_one(f);
    pump(f);
    break;
  case S_LOGIN:
    login(f, conn, (op >> 5) % USERS);
    break;
  default:
    api(f, r);
  }
  return true;
}

static void fake_finish(fake *f)
{
  for (int c = 0; c < CONNS; c++)
    set_open(f, c, false);
  f->hold = false;
  pump(f);
  f->now += 60000;
  parley_server_on_time(f->s, f->now);
  pump(f);
  parley_server_free(f->s);
  for (size_t i = 0; i < f->log_len; i++)
    if (f->log[i].type == PARLEY_EVENT_MSG)
      free((char *)f->log[i].msg.body);
  free(f->log);
  free(f->queue);
  free(f->convs);
  parley_parser_free(&f->parser);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static fake f;
  rec_reader r = {data, size};

  keys_once();
  if (!fake_init(&f))
    return 0;
  while (step(&f, &r))
    ;
  fake_finish(&f);
  return 0;
}
