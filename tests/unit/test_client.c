/* Unit tests for the sans-I/O client core (include/parley/client.h):
 * server frames are written by hand, the clock is a variable. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "parley/client.h"
#include "parley/frame.h"

#define REC_MAX 8192

/* A drained action with private copies of what it pointed to. */
typedef struct rec {
  parley_client_action a;
  char *data; /* SEND frame or EV_ERROR text, NUL-terminated */
  char *body; /* MSG body or OUTBOX_ADD body, NUL-terminated */
  parley_call_frame *cf; /* EV_CALL: a copy, body in `body` */
} rec;

static rec recs[REC_MAX];
static size_t nrec;   /* recorded so far */
static size_t seen;   /* first record not yet looked at by a test */
static uint64_t now = 1000000;
static parley_client *cl;
static uint64_t conn;

static char *dup_n(const char *p, size_t n)
{
  char *s = malloc(n + 1);

  cr_assert_not_null(s);
  if (n > 0)
    memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

/* Moves every queued action into recs. */
static void drain(void)
{
  parley_client_action a;

  while (parley_client_next_action(cl, &a)) {
    rec *r = &recs[nrec++];
    cr_assert_lt(nrec, REC_MAX);
    r->a = a;
    r->data = r->body = NULL;
    r->cf = NULL;
    if (a.kind == PARLEY_CLIENT_EV_CALL) {
      r->cf = malloc(sizeof *r->cf);
      cr_assert_not_null(r->cf);
      *r->cf = *a.call;
      r->body = dup_n(a.call->body, a.call->body_len);
      r->cf->body = r->body;
      r->a.call = r->cf;
    }
    if (a.kind == PARLEY_CLIENT_SEND || a.kind == PARLEY_CLIENT_EV_ERROR)
      r->data = dup_n(a.data ? a.data : "", a.data ? a.len : 0);
    if (a.kind == PARLEY_CLIENT_MSG)
      r->body = dup_n(a.msg.body, a.msg.body_len);
    if (a.kind == PARLEY_CLIENT_OUTBOX_ADD)
      r->body = dup_n(a.outbox.body, a.outbox.body_len);
    if (a.kind == PARLEY_CLIENT_CONNECT)
      conn = a.conn;
  }
}

static void forget(void)
{
  size_t i;

  for (i = 0; i < nrec; i++) {
    free(recs[i].data);
    free(recs[i].body);
    free(recs[i].cf);
  }
  nrec = seen = 0;
}

static parley_client *make(const char *user, uint64_t seed)
{
  parley_client_config cfg;

  memset(&cfg, 0, sizeof cfg);
  cfg.user = user;
  cfg.device = "dev1";
  cfg.heartbeat_ms = 1000;
  cfg.backoff_base_ms = 100;
  cfg.backoff_cap_ms = 5000;
  cfg.seed = seed;
  return parley_client_new(&cfg);
}

static void setup(void)
{
  now = 1000000;
  conn = 0;
  cl = make("alice", 42);
  cr_assert_not_null(cl);
  cr_assert_eq(parley_client_set_token(cl, "tok-alice", 0, now), PARLEY_OK);
  drain();
}

static void teardown(void)
{
  forget();
  parley_client_free(cl);
  cl = NULL;
}

TestSuite(client, .init = setup, .fini = teardown);

/* Feeds one hand-made server frame: `verb`, then "name: value" headers
 * up to NULL; content-length is added when body is not NULL. */
static void feed(const char *verb, const char *body, ...)
{
  char buf[8192];
  size_t n = 0;
  va_list ap;
  const char *h;

  n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\r\n", verb);
  va_start(ap, body);
  while ((h = va_arg(ap, const char *)) != NULL)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\r\n", h);
  va_end(ap);
  if (body != NULL)
    n += (size_t)snprintf(buf + n, sizeof buf - n,
                          "content-length: %zu\r\n\r\n%s", strlen(body),
                          body);
  else
    n += (size_t)snprintf(buf + n, sizeof buf - n, "\r\n");
  cr_assert_lt(n, sizeof buf);
  parley_client_on_message(cl, conn, buf, n, now);
  drain();
}

/* A MSG of conv c1 from bob with seq `seq` and body "m<seq>"; pos NULL
 * leaves pos out and req NULL leaves req out. */
static void feed_msg(const char *conv, uint64_t seq, const char *pos,
                     const char *req)
{
  char h_conv[80], h_seq[40], h_pos[80], h_req[80], body[40];

  snprintf(h_conv, sizeof h_conv, "conv: %s", conv);
  snprintf(h_seq, sizeof h_seq, "seq: %llu", (unsigned long long)seq);
  snprintf(h_pos, sizeof h_pos, "pos: %s", pos ? pos : "");
  snprintf(h_req, sizeof h_req, "req: %s", req ? req : "");
  snprintf(body, sizeof body, "m%llu", (unsigned long long)seq);
  if (pos != NULL && req != NULL)
    feed("MSG", body, h_conv, h_seq, "from: bob", "msg-id: m1", h_pos,
         h_req, NULL);
  else if (pos != NULL)
    feed("MSG", body, h_conv, h_seq, "from: bob", "msg-id: m1", h_pos, NULL);
  else if (req != NULL)
    feed("MSG", body, h_conv, h_seq, "from: bob", "msg-id: m1", h_req, NULL);
  else
    feed("MSG", body, h_conv, h_seq, "from: bob", "msg-id: m1", NULL);
}

/* The next recorded action of `kind` after the ones already looked at,
 * or NULL. Marks everything up to it as looked at. */
static rec *next_of(parley_client_action_kind kind)
{
  for (; seen < nrec; seen++)
    if (recs[seen].a.kind == kind)
      return &recs[seen++];
  return NULL;
}

static size_t count_of(parley_client_action_kind kind, size_t from)
{
  size_t i, n = 0;

  for (i = from; i < nrec; i++)
    n += recs[i].a.kind == kind;
  return n;
}

/* Parses a recorded SEND into f (valid until the parser p is freed). */
static void parse_sent(const rec *r, parley_parser *p, parley_frame *f)
{
  parley_parse_error err;

  cr_assert_not_null(r);
  cr_assert_eq(r->a.kind, PARLEY_CLIENT_SEND);
  parley_parser_init(p, NULL);
  cr_assert_eq(parley_parse_message(p, r->data, r->a.len, f, &err),
               PARLEY_OK, "client sent a malformed frame: %s", r->data);
}

/* The next SEND's verb must be `verb` (PINGs in between are skipped
 * unless a PING is expected); returns a copy of header `name` (or NULL
 * when name is NULL or the header is absent). */
static char *expect_sent(const char *verb, const char *name)
{
  parley_parser p;
  parley_frame f;
  rec *r;
  const parley_str *v;
  char *out = NULL;

  for (;;) {
    r = next_of(PARLEY_CLIENT_SEND);
    cr_assert_not_null(r, "expected %s to be sent", verb);
    if (strcmp(verb, "PING") == 0 || strncmp(r->data, "PING\r\n", 6) != 0)
      break;
  }
  parse_sent(r, &p, &f);
  cr_assert(parley_str_eq(f.verb, verb), "expected %s, got %.*s", verb,
            (int)f.verb.len, f.verb.ptr);
  if (name != NULL && (v = parley_frame_get(&f, name)) != NULL)
    out = dup_n(v->ptr, v->len);
  parley_parser_free(&p);
  return out;
}

static void expect_header(const char *verb, const char *name,
                          const char *want)
{
  char *got = expect_sent(verb, name);

  cr_assert_not_null(got, "%s has no %s", verb, name);
  cr_assert_str_eq(got, want);
  free(got);
}

/* Starts, connects and completes the handshake; leaves `seen` after the
 * SYNC the core sends on READY. */
static void bring_up(void)
{
  parley_client_start(cl, now);
  drain();
  cr_assert_not_null(next_of(PARLEY_CLIENT_CONNECT));
  parley_client_on_connected(cl, conn, now);
  drain();
  free(expect_sent("HELLO", NULL));
  free(expect_sent("AUTH", NULL));
  feed("WELCOME", NULL, "version: 1", "caps: receipts,typing",
       "heartbeat: 1000", "max-frame: 65536", NULL);
  feed("READY", NULL, "user: alice", "device: dev1", NULL);
  free(expect_sent("SYNC", NULL));
}

/* Advances the clock to the last armed TIMER and fires it. */
static void fire_timer(void)
{
  size_t i;
  uint64_t at = 0;

  for (i = 0; i < nrec; i++)
    if (recs[i].a.kind == PARLEY_CLIENT_TIMER)
      at = recs[i].a.at_ms;
  cr_assert_neq(at, 0, "no timer armed");
  if (at > now)
    now = at;
  parley_client_on_time(cl, now);
  drain();
}

/* Drops the connection and fires timers until the core connects again. */
static void reconnect(void)
{
  size_t i;

  parley_client_on_disconnected(cl, conn, now);
  drain();
  for (i = 0; i < 4 && count_of(PARLEY_CLIENT_CONNECT, seen) == 0; i++)
    fire_timer();
  cr_assert_not_null(next_of(PARLEY_CLIENT_CONNECT));
  parley_client_on_connected(cl, conn, now);
  drain();
  free(expect_sent("HELLO", NULL));
  free(expect_sent("AUTH", NULL));
  feed("WELCOME", NULL, "version: 1", "caps: receipts", "heartbeat: 1000",
       NULL);
  feed("READY", NULL, "user: alice", "device: dev1", NULL);
  free(expect_sent("SYNC", NULL));
}

/* spec: LIFE-1 AUTH-1 SYNC-1 */
Test(client, handshake_pipelines_hello_auth_then_syncs_from_zero)
{
  parley_client_start(cl, now);
  drain();
  cr_assert_not_null(next_of(PARLEY_CLIENT_CONNECT));
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, 0), 0);
  parley_client_on_connected(cl, conn, now);
  drain();
  expect_header("HELLO", "versions", "1");
  seen--; /* look at the same HELLO again */
  expect_header("HELLO", "heartbeat", "1000");
  expect_header("AUTH", "token", "tok-alice");
  seen--;
  expect_header("AUTH", "device", "dev1");
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, seen), 0,
               "nothing but HELLO and AUTH before READY");
  feed("WELCOME", NULL, "version: 1", "heartbeat: 1000", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, seen), 0);
  feed("READY", NULL, "user: alice", "device: dev1", NULL);
  expect_header("SYNC", "since", "0");
  cr_assert_eq(count_of(PARLEY_CLIENT_EV_READY, 0), 1);
  cr_assert(parley_client_is_ready(cl));
}

/* spec: SYNC-1 SYNC-2 */
Test(client, sync_resumes_from_the_stored_pos)
{
  cr_assert_eq(parley_client_load_pos(cl, "p-17"), PARLEY_OK);
  parley_client_start(cl, now);
  drain();
  parley_client_on_connected(cl, conn, now);
  drain();
  feed("READY", NULL, "user: alice", NULL);
  free(expect_sent("HELLO", NULL));
  free(expect_sent("AUTH", NULL));
  expect_header("SYNC", "since", "p-17");
}

/* spec: SEND-5 SEND-3 */
Test(client, outbox_resends_the_same_temp_id_until_ack)
{
  char temp_id[PARLEY_ID_MAX + 1];
  char ack[120];
  char *t1, *t2;
  rec *r;

  cr_assert_eq(parley_client_send(cl, "c1", NULL, "hello", 5, now, temp_id),
               PARLEY_OK);
  drain();
  r = next_of(PARLEY_CLIENT_OUTBOX_ADD);
  cr_assert_not_null(r);
  cr_assert_str_eq(r->a.outbox.temp_id, temp_id);
  cr_assert_str_eq(r->body, "hello");
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, 0), 0, "not connected yet");

  bring_up();
  t1 = expect_sent("SEND", "temp-id");
  cr_assert_str_eq(t1, temp_id);
  reconnect();
  t2 = expect_sent("SEND", "temp-id");
  cr_assert_str_eq(t2, temp_id, "a retry keeps the temp-id");
  reconnect();
  free(expect_sent("SEND", NULL));
  cr_assert_eq(parley_client_outbox_count(cl), 1);

  snprintf(ack, sizeof ack, "temp-id: %s", temp_id);
  feed("ACK", NULL, "conv: c1", ack, "msg-id: m9", "seq: 4", "ts: 5", NULL);
  r = next_of(PARLEY_CLIENT_OUTBOX_REMOVE);
  cr_assert_not_null(r, "ACK removes the entry");
  cr_assert_str_eq(r->a.outbox.temp_id, temp_id);
  r = next_of(PARLEY_CLIENT_EV_STATUS);
  cr_assert_not_null(r);
  cr_assert_eq(r->a.status, PARLEY_STATUS_SENT);
  cr_assert_eq(r->a.seq, 4);
  cr_assert_str_eq(r->a.msg.msg_id, "m9");
  cr_assert_eq(parley_client_outbox_count(cl), 0);

  feed("ACK", NULL, "conv: c1", ack, "msg-id: m9", "seq: 4", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_OUTBOX_REMOVE, seen), 0,
               "a repeated ACK changes nothing");
  reconnect();
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, seen), 0,
               "an acknowledged message is not sent again");
  free(t1);
  free(t2);
}

/* spec: SEND-5 */
Test(client, loaded_outbox_is_sent_in_order_with_its_temp_ids)
{
  parley_outbox_entry e;
  char *t;

  memset(&e, 0, sizeof e);
  strcpy(e.conv, "c1");
  strcpy(e.temp_id, "t-first");
  e.body = "one";
  e.body_len = 3;
  cr_assert_eq(parley_client_load_outbox(cl, &e), PARLEY_OK);
  strcpy(e.temp_id, "t-second");
  e.body = "two";
  cr_assert_eq(parley_client_load_outbox(cl, &e), PARLEY_OK);
  bring_up();
  t = expect_sent("SEND", "temp-id");
  cr_assert_str_eq(t, "t-first");
  free(t);
  t = expect_sent("SEND", "temp-id");
  cr_assert_str_eq(t, "t-second");
  free(t);
}

/* spec: SEND-5 */
Test(client, temp_ids_differ_and_follow_the_seed)
{
  char a[PARLEY_ID_MAX + 1], b[PARLEY_ID_MAX + 1], c2[PARLEY_ID_MAX + 1];
  parley_client *other = make("alice", 42);

  cr_assert_eq(parley_client_send(cl, "c1", NULL, "x", 1, now, a),
               PARLEY_OK);
  cr_assert_eq(parley_client_send(cl, "c1", NULL, "x", 1, now, b),
               PARLEY_OK);
  cr_assert_str_neq(a, b);
  cr_assert_eq(parley_client_send(other, "c1", NULL, "x", 1, now, c2),
               PARLEY_OK);
  cr_assert_str_eq(a, c2, "same seed, same temp-ids");
  parley_client_free(other);
}

/* spec: DELIV-4 */
Test(client, duplicates_are_shown_once)
{
  rec *r;

  bring_up();
  feed_msg("c1", 1, "1", NULL);
  feed_msg("c1", 2, "2", NULL);
  feed_msg("c1", 2, "2", NULL);
  feed_msg("c1", 1, "1", NULL);
  feed_msg("c1", 3, "3", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_MSG, 0), 3);
  r = next_of(PARLEY_CLIENT_MSG);
  cr_assert_eq(r->a.msg.seq, 1);
  cr_assert_str_eq(r->body, "m1");
  cr_assert_str_eq(r->a.msg.from, "bob");
  cr_assert_eq(next_of(PARLEY_CLIENT_MSG)->a.msg.seq, 2);
  cr_assert_eq(next_of(PARLEY_CLIENT_MSG)->a.msg.seq, 3);
  cr_assert_eq(parley_client_stored_seq(cl, "c1"), 3);
}

/* spec: DELIV-4 SYNC-2 */
Test(client, stored_seq_from_the_store_suppresses_replays)
{
  parley_client_load_conv(cl, "c1", 5);
  bring_up();
  feed_msg("c1", 4, "4", NULL);
  feed_msg("c1", 5, "5", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_MSG, 0), 0);
  feed_msg("c1", 6, "6", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_MSG, 0), 1);
}

/* spec: DELIV-4 DELIV-5 DELIV-3 */
Test(client, out_of_order_is_held_and_shown_in_seq_order)
{
  size_t i, start;
  uint64_t want = 1;

  bring_up();
  start = nrec;
  feed_msg("c1", 1, "1", NULL);
  feed_msg("c1", 3, "3", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_MSG, start), 1, "3 waits for 2");
  expect_header("HISTORY", "after", "1");
  feed_msg("c1", 2, "2", NULL);
  for (i = start; i < nrec; i++) {
    if (recs[i].a.kind != PARLEY_CLIENT_MSG)
      continue;
    cr_assert_eq(recs[i].a.msg.seq, want);
    want++;
  }
  cr_assert_eq(want, 4);
}

/* spec: DELIV-5 HIST-1 DELIV-3 */
Test(client, gap_is_filled_by_history_before_later_messages)
{
  char *req, page_req[80];
  size_t i, start, msgs = 0, pos_at = 0, last_msg = 0;

  parley_client_load_conv(cl, "c1", 5);
  parley_client_load_pos(cl, "50");
  bring_up();
  feed("SYNCED", NULL, "pos: 57", NULL);
  expect_header("RECEIPT", "seq", "5"); /* what the store held */
  start = nrec;
  feed_msg("c1", 8, "58", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_MSG, start), 0);
  cr_assert_eq(count_of(PARLEY_CLIENT_POS, start), 0,
               "pos stays behind a message not yet shown");
  req = expect_sent("HISTORY", "req");
  seen--;
  expect_header("HISTORY", "after", "5");
  seen--;
  expect_header("HISTORY", "conv", "c1");
  feed_msg("c1", 9, "59", NULL); /* live, still behind the gap */
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, seen), 0,
               "one HISTORY at a time");
  feed_msg("c1", 6, NULL, req);
  feed_msg("c1", 7, NULL, req);
  feed_msg("c1", 8, NULL, req);
  snprintf(page_req, sizeof page_req, "req: %s", req);
  feed("PAGE", NULL, "conv: c1", "count: 3", "more: no", page_req, NULL);
  for (i = start; i < nrec; i++) {
    if (recs[i].a.kind == PARLEY_CLIENT_MSG) {
      cr_assert_eq(recs[i].a.msg.seq, 6 + msgs);
      msgs++;
      last_msg = i;
    }
    if (recs[i].a.kind == PARLEY_CLIENT_POS)
      pos_at = i;
  }
  cr_assert_eq(msgs, 4, "6, 7, 8 and the held 9, each once");
  cr_assert_gt(pos_at, last_msg, "pos moves after the messages");
  cr_assert_str_eq(recs[pos_at].a.pos, "59");
  free(req);
}

/* spec: DELIV-5 HIST-1 */
Test(client, history_pages_until_the_gap_is_closed)
{
  char *req;
  char page_req[80];

  bring_up();
  feed_msg("c1", 250, "250", NULL);
  req = expect_sent("HISTORY", "req");
  snprintf(page_req, sizeof page_req, "req: %s", req);
  for (uint64_t s = 1; s <= 100; s++)
    feed_msg("c1", s, NULL, req);
  feed("PAGE", NULL, "conv: c1", "count: 100", "more: yes", "cursor: x",
       page_req, NULL);
  free(req);
  req = expect_sent("HISTORY", "after");
  cr_assert_str_eq(req, "100");
  free(req);
  cr_assert_eq(parley_client_stored_seq(cl, "c1"), 100);
}

/* spec: DELIV-8 SYNC-1 DELIV-3 */
Test(client, positions_are_taken_from_synced_on)
{
  rec *r;

  bring_up();
  feed_msg("c1", 1, "7", NULL); /* live, before the SYNC answer ends */
  cr_assert_eq(count_of(PARLEY_CLIENT_MSG, 0), 1, "shown at once");
  cr_assert_eq(count_of(PARLEY_CLIENT_POS, 0), 0,
               "a pos before SYNCED is not taken");
  feed("RECEIPT", NULL, "conv: c1", "user: bob", "kind: read", "seq: 1",
       "pos: 8", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_POS, 0), 0);
  feed("SYNCED", NULL, "pos: 9", NULL);
  r = next_of(PARLEY_CLIENT_POS);
  cr_assert_not_null(r);
  cr_assert_str_eq(r->a.pos, "9");
  cr_assert_not_null(next_of(PARLEY_CLIENT_EV_SYNCED));
  feed_msg("c1", 2, "10", NULL);
  r = next_of(PARLEY_CLIENT_POS);
  cr_assert_not_null(r, "after SYNCED each event's pos is taken");
  cr_assert_str_eq(r->a.pos, "10");
}

/* spec: DELIV-8 DELIV-6 DELIV-5 */
Test(client, synced_waits_for_a_message_held_before_it)
{
  char *req, line[80];
  rec *r;

  parley_client_load_conv(cl, "c1", 2);
  bring_up();
  feed_msg("c1", 5, "70", NULL); /* live, past a gap, before SYNCED */
  req = expect_sent("HISTORY", "req");
  feed("SYNCED", NULL, "pos: 71", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_POS, 0), 0,
               "the held message keeps the pos back");
  feed_msg("c1", 3, NULL, req);
  feed_msg("c1", 4, NULL, req);
  feed_msg("c1", 5, NULL, req);
  snprintf(line, sizeof line, "req: %s", req);
  feed("PAGE", NULL, "conv: c1", "count: 3", "more: no", line, NULL);
  r = next_of(PARLEY_CLIENT_POS);
  cr_assert_not_null(r);
  cr_assert_str_eq(r->a.pos, "71");
  cr_assert_eq(count_of(PARLEY_CLIENT_MSG, 0), 3);
  free(req);
}

/* spec: RCPT-1 */
Test(client, delivered_receipts_are_cumulative_and_coalesced)
{
  size_t start;

  bring_up();
  feed("SYNCED", NULL, "pos: 0", NULL);
  start = nrec;
  feed_msg("c1", 1, "1", NULL);
  feed_msg("c1", 2, "2", NULL);
  feed_msg("c1", 3, "3", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, start), 0, "coalesced");
  fire_timer();
  expect_header("RECEIPT", "seq", "3");
  seen--;
  expect_header("RECEIPT", "kind", "delivered");
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, seen), 0, "one receipt");
  parley_client_mark_read(cl, "c1", 2, now);
  drain();
  expect_header("RECEIPT", "kind", "read");
}

/* spec: RCPT-1 RCPT-3 */
Test(client, status_of_own_messages_follows_receipts_never_backwards)
{
  const char *members[] = {"alice", "bob", "carol"};
  rec *r;

  cr_assert_eq(parley_client_set_members(cl, "g1", members, 3), PARLEY_OK);
  bring_up();
  feed("RECEIPT", NULL, "conv: g1", "user: bob", "kind: delivered",
       "seq: 5", "pos: 1", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_EV_STATUS, 0), 0,
               "carol does not hold it yet");
  r = next_of(PARLEY_CLIENT_RECEIPT_STATE);
  cr_assert_not_null(r);
  cr_assert_str_eq(r->a.receipt.user, "bob");
  cr_assert_eq(r->a.receipt.seq, 5);
  feed("RECEIPT", NULL, "conv: g1", "user: carol", "kind: read",
       "seq: 3", "pos: 2", NULL);
  r = next_of(PARLEY_CLIENT_EV_STATUS);
  cr_assert_not_null(r);
  cr_assert_eq(r->a.status, PARLEY_STATUS_DELIVERED);
  cr_assert_eq(r->a.seq, 3, "read implies delivered; min over members");
  feed("RECEIPT", NULL, "conv: g1", "user: bob", "kind: delivered",
       "seq: 2", "pos: 3", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_EV_STATUS, seen), 0,
               "a lower receipt changes nothing");
  cr_assert_eq(count_of(PARLEY_CLIENT_RECEIPT_STATE, seen), 0);
  feed("RECEIPT", NULL, "conv: g1", "user: bob", "kind: read", "seq: 4",
       "pos: 4", NULL);
  r = next_of(PARLEY_CLIENT_EV_STATUS);
  cr_assert_not_null(r);
  cr_assert_eq(r->a.status, PARLEY_STATUS_READ);
  cr_assert_eq(r->a.seq, 3);
}

/* spec: RCPT-1 */
Test(client, loaded_receipts_set_the_status_without_events)
{
  const char *members[] = {"alice", "bob"};
  parley_receipt rc;

  memset(&rc, 0, sizeof rc);
  strcpy(rc.conv, "d1");
  strcpy(rc.user, "bob");
  rc.kind = PARLEY_RECEIPT_DELIVERED;
  rc.seq = 10;
  cr_assert_eq(parley_client_load_receipt(cl, &rc), PARLEY_OK);
  cr_assert_eq(parley_client_set_members(cl, "d1", members, 2), PARLEY_OK);
  bring_up();
  feed("RECEIPT", NULL, "conv: d1", "user: bob", "kind: delivered",
       "seq: 8", "pos: 1", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_EV_STATUS, 0), 0);
}

/* spec: HB-2 HB-5 */
Test(client, heartbeat_pings_when_idle_and_drops_a_silent_session)
{
  rec *r;
  uint64_t t0;

  bring_up();
  t0 = now;
  now = t0 + 999;
  parley_client_on_time(cl, now);
  drain();
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, seen), 0);
  now = t0 + 1000;
  parley_client_on_time(cl, now);
  drain();
  free(expect_sent("PING", NULL));
  feed("PONG", NULL, NULL); /* a frame at t0 + 1000 */
  now = t0 + 2999;
  parley_client_on_time(cl, now);
  drain();
  cr_assert_eq(count_of(PARLEY_CLIENT_CLOSE, 0), 0,
               "less than two intervals of silence");
  now = t0 + 3000;
  parley_client_on_time(cl, now);
  drain();
  r = next_of(PARLEY_CLIENT_CLOSE);
  cr_assert_not_null(r, "two intervals of silence drop the session");
  r = next_of(PARLEY_CLIENT_EV_DISCONNECTED);
  cr_assert_not_null(r);
  cr_assert_eq(r->a.err, PARLEY_E_TIMEOUT);
  cr_assert_not(parley_client_is_ready(cl));
}

/* spec: HB-2 */
Test(client, timer_is_armed_for_the_next_ping)
{
  size_t i;
  uint64_t at = 0;

  bring_up();
  for (i = 0; i < nrec; i++)
    if (recs[i].a.kind == PARLEY_CLIENT_TIMER)
      at = recs[i].a.at_ms;
  cr_assert_eq(at, now + 1000);
}

/* spec: LIFE-3 */
Test(client, handshake_timeout_reconnects)
{
  rec *r;

  parley_client_start(cl, now);
  drain();
  parley_client_on_connected(cl, conn, now);
  drain();
  now += 10000;
  parley_client_on_time(cl, now);
  drain();
  cr_assert_not_null(next_of(PARLEY_CLIENT_CLOSE));
  r = next_of(PARLEY_CLIENT_EV_DISCONNECTED);
  cr_assert_not_null(r);
  cr_assert_eq(r->a.err, PARLEY_E_TIMEOUT);
}

/* spec: HB-5 */
Test(client, backoff_stays_in_bounds_and_varies)
{
  uint64_t rng = 7;
  uint32_t a, d, lo = UINT32_MAX, hi = 0;
  int i;

  for (a = 0; a < 40; a++) {
    uint64_t ceiling = 100ull << (a < 20 ? a : 20);
    if (ceiling > 5000)
      ceiling = 5000;
    for (i = 0; i < 200; i++) {
      d = parley_client_backoff_ms(&rng, a, 100, 5000);
      cr_assert_leq(d, ceiling, "attempt %u gave %u", a, d);
      if (a == 30) {
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
      }
    }
  }
  cr_assert_lt(lo, 1250, "full jitter reaches low delays");
  cr_assert_gt(hi, 3750, "full jitter reaches high delays");
}

/* spec: HB-5 */
Test(client, backoff_comes_from_the_seed)
{
  uint64_t s1 = 99, s2 = 99, s3 = 100;
  int i, same = 0;

  for (i = 0; i < 20; i++) {
    uint32_t x = parley_client_backoff_ms(&s1, 8, 100, 30000);
    uint32_t y = parley_client_backoff_ms(&s2, 8, 100, 30000);
    uint32_t z = parley_client_backoff_ms(&s3, 8, 100, 30000);
    cr_assert_eq(x, y);
    same += x == z;
  }
  cr_assert_lt(same, 5, "another seed gives other delays");
}

/* spec: HB-5 */
Test(client, reconnect_delays_grow_and_reset_after_ready)
{
  uint64_t ceiling = 100;
  int i;
  rec *r;

  parley_client_start(cl, now);
  drain();
  for (i = 0; i < 8; i++) {
    parley_client_on_disconnected(cl, conn, now);
    drain();
    r = next_of(PARLEY_CLIENT_EV_DISCONNECTED);
    cr_assert_not_null(r);
    cr_assert_leq(r->a.delay_ms, ceiling);
    ceiling = ceiling * 2 > 5000 ? 5000 : ceiling * 2;
    fire_timer();
    cr_assert_not_null(next_of(PARLEY_CLIENT_CONNECT), "retries forever");
  }
  parley_client_on_connected(cl, conn, now);
  drain();
  feed("READY", NULL, "user: alice", NULL);
  parley_client_on_disconnected(cl, conn, now);
  drain();
  r = next_of(PARLEY_CLIENT_EV_DISCONNECTED);
  cr_assert_not_null(r);
  cr_assert_leq(r->a.delay_ms, 100, "attempts reset after READY");
}

/* spec: EXT-4 EXT-1 */
Test(client, unknown_verbs_and_headers_are_ignored)
{
  size_t start;

  bring_up();
  start = nrec;
  feed("FROBNICATE", "x", "conv: c1", "seq: 1", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, start), 0);
  cr_assert_eq(count_of(PARLEY_CLIENT_MSG, start), 0);
  cr_assert_eq(count_of(PARLEY_CLIENT_EV_ERROR, start), 0);
  cr_assert_eq(count_of(PARLEY_CLIENT_CLOSE, start), 0);
  feed("MSG", "hi", "conv: c1", "seq: 1", "x-color: blue",
       "future-thing: 7", "from: bob", "pos: 1", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_MSG, start), 1);
  cr_assert(parley_client_is_ready(cl));
}

/* spec: AUTH-1 AUTH-3 */
Test(client, auth_failure_waits_for_a_new_token)
{
  rec *r;
  size_t i;

  parley_client_start(cl, now);
  drain();
  parley_client_on_connected(cl, conn, now);
  drain();
  feed("ERROR", NULL, "code: 424", "reason: auth-failed", "fatal: yes",
       NULL);
  r = next_of(PARLEY_CLIENT_EV_NEED_TOKEN);
  cr_assert_not_null(r);
  cr_assert_eq(r->a.err, PARLEY_E_AUTH_FAILED);
  parley_client_on_disconnected(cl, conn, now);
  drain();
  for (i = 0; i < 3; i++) {
    now += 60000;
    parley_client_on_time(cl, now);
    drain();
  }
  cr_assert_eq(count_of(PARLEY_CLIENT_CONNECT, seen), 0,
               "no reconnect without a token");
  parley_client_set_token(cl, "tok-new", 0, now);
  drain();
  fire_timer();
  cr_assert_not_null(next_of(PARLEY_CLIENT_CONNECT));
  parley_client_on_connected(cl, conn, now);
  drain();
  free(expect_sent("HELLO", NULL));
  expect_header("AUTH", "token", "tok-new");
}

/* spec: ERR-1 */
Test(client, other_fatal_errors_reconnect)
{
  rec *r;

  bring_up();
  feed("ERROR", NULL, "code: 503", "reason: going-away", "fatal: yes",
       NULL);
  cr_assert_not_null(next_of(PARLEY_CLIENT_EV_ERROR));
  cr_assert_not_null(next_of(PARLEY_CLIENT_CLOSE));
  r = next_of(PARLEY_CLIENT_EV_DISCONNECTED);
  cr_assert_not_null(r);
  cr_assert_eq(r->a.err, PARLEY_E_GOING_AWAY);
  fire_timer();
  cr_assert_not_null(next_of(PARLEY_CLIENT_CONNECT));
}

/* spec: SEND-4 SEND-6 */
Test(client, a_refused_send_leaves_the_outbox_with_an_event)
{
  char *req, line[80];
  rec *r;

  parley_client_send(cl, "nope", NULL, "x", 1, now, NULL);
  drain();
  bring_up();
  req = expect_sent("SEND", "req");
  snprintf(line, sizeof line, "req: %s", req);
  feed("ERROR", NULL, "code: 440", "reason: not-found", line, "fatal: no",
       NULL);
  cr_assert_not_null(next_of(PARLEY_CLIENT_OUTBOX_REMOVE));
  r = next_of(PARLEY_CLIENT_EV_SEND_FAILED);
  cr_assert_not_null(r);
  cr_assert_eq(r->a.err, PARLEY_E_NOT_FOUND);
  cr_assert_eq(parley_client_outbox_count(cl), 0);
  free(req);
}

/* spec: SEND-5 */
Test(client, rate_limited_send_is_retried_later_with_the_same_temp_id)
{
  char *req, *t1, *t2, line[80];

  parley_client_send(cl, "c1", NULL, "x", 1, now, NULL);
  drain();
  bring_up();
  req = expect_sent("SEND", "req");
  seen--;
  t1 = expect_sent("SEND", "temp-id");
  snprintf(line, sizeof line, "req: %s", req);
  feed("ERROR", NULL, "code: 429", "reason: rate-limited", line, NULL);
  cr_assert_eq(parley_client_outbox_count(cl), 1);
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, seen), 0);
  fire_timer();
  t2 = expect_sent("SEND", "temp-id");
  cr_assert_str_eq(t1, t2);
  free(req);
  free(t1);
  free(t2);
}

/* spec: TYPE-1 */
Test(client, typing_turns_off_after_its_ttl)
{
  rec *r;

  bring_up();
  feed("TYPING", NULL, "conv: c1", "user: bob", "state: on", "ttl: 500",
       NULL);
  r = next_of(PARLEY_CLIENT_EV_TYPING);
  cr_assert_not_null(r);
  cr_assert(r->a.on);
  now += 500;
  parley_client_on_time(cl, now);
  drain();
  r = next_of(PARLEY_CLIENT_EV_TYPING);
  cr_assert_not_null(r);
  cr_assert_not(r->a.on);
  cr_assert_str_eq(r->a.user, "bob");
}

/* spec: FRAME-5 */
Test(client, send_rejects_bad_input)
{
  cr_assert_eq(parley_client_send(cl, "c 1", NULL, "x", 1, now, NULL),
               PARLEY_E_BAD_VALUE);
  cr_assert_eq(parley_client_send(cl, "c1", NULL, "\xff", 1, now, NULL),
               PARLEY_E_BAD_UTF8);
  drain();
  cr_assert_eq(count_of(PARLEY_CLIENT_OUTBOX_ADD, 0), 0);
}

/* spec: DELIV-4 */
Test(client, events_on_an_old_connection_are_ignored)
{
  uint64_t old;

  bring_up();
  old = conn;
  feed("ERROR", NULL, "code: 500", "reason: internal", "fatal: yes", NULL);
  parley_client_on_message(cl, old, "MSG\r\nconv: c1\r\nseq: 1\r\n\r\n", 25,
                           now);
  drain();
  cr_assert_eq(count_of(PARLEY_CLIENT_MSG, 0), 0);
}

/* spec: HB-6 */
Test(client, pings_when_the_server_is_silent_for_an_interval)
{
  uint64_t t0;

  bring_up();
  t0 = now;
  now = t0 + 600;
  parley_client_typing(cl, "c1", true, now); /* something sent: no PING */
  drain();
  free(expect_sent("TYPING", NULL));
  now = t0 + 1000;
  parley_client_on_time(cl, now);
  drain();
  free(expect_sent("PING", NULL));
  now = t0 + 1500;
  parley_client_on_time(cl, now);
  drain();
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, seen), 0,
               "one PING per silent interval");
}

/* spec: PRES-2 */
Test(client, relayed_presence_lapses_to_offline)
{
  rec *r;

  bring_up();
  feed("PRESENCE", NULL, "user: bob", "status: online", "ttl: 300", NULL);
  r = next_of(PARLEY_CLIENT_EV_PRESENCE);
  cr_assert_not_null(r);
  cr_assert_str_eq(r->a.presence, "online");
  now += 299;
  parley_client_on_time(cl, now);
  drain();
  cr_assert_eq(count_of(PARLEY_CLIENT_EV_PRESENCE, seen), 0);
  now += 1;
  parley_client_on_time(cl, now);
  drain();
  r = next_of(PARLEY_CLIENT_EV_PRESENCE);
  cr_assert_not_null(r);
  cr_assert_str_eq(r->a.presence, "offline");
  cr_assert_str_eq(r->a.user, "bob");
}

/* spec: LIFE-6 */
Test(client, stop_says_bye_and_closes_after_the_answer)
{
  bring_up();
  parley_client_stop(cl, now);
  drain();
  free(expect_sent("BYE", NULL));
  cr_assert_eq(count_of(PARLEY_CLIENT_CLOSE, 0), 0, "waits for BYE");
  feed_msg("c1", 1, "1", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_MSG, 0), 0);
  feed("BYE", NULL, NULL);
  cr_assert_not_null(next_of(PARLEY_CLIENT_CLOSE));
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, seen), 0,
               "no BYE in answer to the answer");
  parley_client_on_disconnected(cl, conn, now);
  drain();
  now += 100000;
  parley_client_on_time(cl, now);
  drain();
  cr_assert_eq(count_of(PARLEY_CLIENT_CONNECT, 0), 1, "no reconnect");
}

/* spec: LIFE-6 */
Test(client, answers_a_server_bye)
{
  bring_up();
  feed("BYE", NULL, NULL);
  free(expect_sent("BYE", NULL));
  cr_assert_not_null(next_of(PARLEY_CLIENT_CLOSE));
}

/* spec: SEND-9 */
Test(client, outbox_entry_past_the_dedup_window_is_not_resent)
{
  parley_outbox_entry e;
  rec *r;

  memset(&e, 0, sizeof e);
  strcpy(e.conv, "c1");
  strcpy(e.temp_id, "t-old");
  e.body = "old";
  e.body_len = 3;
  now = 200000000;
  e.created_ms = now - 86400000;
  cr_assert_eq(parley_client_load_outbox(cl, &e), PARLEY_OK);
  bring_up();
  for (size_t i = seen; i < nrec; i++)
    cr_assert_neq(recs[i].a.kind, PARLEY_CLIENT_SEND, "sent: %s",
                  recs[i].data);
  r = next_of(PARLEY_CLIENT_EV_SEND_FAILED);
  cr_assert_not_null(r);
  cr_assert_str_eq(r->a.outbox.temp_id, "t-old");
  cr_assert_eq(parley_client_outbox_count(cl), 0);
}

/* spec: CLI-4 AUTH-4 */
Test(client, token_is_refreshed_before_it_expires)
{
  rec *r;
  uint64_t t0;

  t0 = now;
  parley_client_set_token(cl, "tok-short", t0 + 10000, t0);
  drain();
  bring_up();
  now = t0 + 4999;
  feed("PONG", NULL, NULL); /* keeps the session alive */
  parley_client_on_time(cl, now);
  drain();
  cr_assert_eq(count_of(PARLEY_CLIENT_EV_TOKEN_EXPIRING, 0), 0);
  now = t0 + 5000;
  parley_client_on_time(cl, now);
  drain();
  cr_assert_not_null(next_of(PARLEY_CLIENT_EV_TOKEN_EXPIRING),
                     "half the remaining life when under the margin");
  parley_client_set_token(cl, "tok-fresh", t0 + 3600000, now);
  drain();
  expect_header("AUTH", "token", "tok-fresh");
  feed("READY", NULL, "user: alice", "device: dev1", NULL);
  cr_assert(parley_client_is_ready(cl));
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, seen), 0,
               "a refresh READY starts no new SYNC");
  r = next_of(PARLEY_CLIENT_EV_TOKEN_EXPIRING);
  cr_assert_null(r);
}

/* spec: SEND-10 FRAME-3 */
Test(client, bodies_past_max_body_are_never_sent)
{
  static char big[70000];
  rec *r;

  memset(big, 'x', sizeof big);
  cr_assert_eq(parley_client_send(cl, "c1", NULL, big, 64513, now, NULL),
               PARLEY_E_FRAME_TOO_LARGE);
  cr_assert_eq(parley_client_send(cl, "c1", NULL, big, 2000, now, NULL),
               PARLEY_OK);
  drain();
  parley_client_start(cl, now);
  drain();
  parley_client_on_connected(cl, conn, now);
  drain();
  feed("WELCOME", NULL, "version: 1", "heartbeat: 1000", "max-body: 1000",
       NULL);
  feed("READY", NULL, "user: alice", NULL);
  r = next_of(PARLEY_CLIENT_EV_SEND_FAILED);
  cr_assert_not_null(r, "a body past the stated max-body is refused");
  cr_assert_eq(r->a.err, PARLEY_E_FRAME_TOO_LARGE);
  for (size_t i = 0; i < nrec; i++)
    cr_assert(recs[i].a.kind != PARLEY_CLIENT_SEND ||
              strncmp(recs[i].data, "SEND", 4) != 0);
}

/* Feeds raw octets as one message on the current connection. */
static void feed_raw(const char *data, size_t len)
{
  parley_client_on_message(cl, conn, data, len, now);
  drain();
}

/* The value of header `name` in a recorded SEND frame, or NULL. */
static char *sent_header(const rec *r, const char *name)
{
  parley_parser p;
  parley_frame f;
  const parley_str *v;
  char *out = NULL;

  parse_sent(r, &p, &f);
  if ((v = parley_frame_get(&f, name)) != NULL)
    out = dup_n(v->ptr, v->len);
  parley_parser_free(&p);
  return out;
}

/* spec: VER-3 */
Test(client, welcome_naming_a_version_not_offered_closes)
{
  static const char *const bad[] = {"version: 2", "version: 01", NULL};
  rec *r;
  size_t i, start;

  parley_client_send(cl, "c1", NULL, "x", 1, now, NULL);
  drain();
  parley_client_start(cl, now);
  drain();
  for (i = 0; i < 3; i++) {
    cr_assert_not_null(next_of(PARLEY_CLIENT_CONNECT));
    parley_client_on_connected(cl, conn, now);
    drain();
    expect_header("HELLO", "versions", "1");
    free(expect_sent("AUTH", NULL));
    start = nrec;
    if (bad[i] != NULL)
      feed("WELCOME", NULL, bad[i], "heartbeat: 1000", NULL);
    else
      feed("WELCOME", NULL, "heartbeat: 1000", NULL); /* no version */
    r = next_of(PARLEY_CLIENT_CLOSE);
    cr_assert_not_null(r, "WELCOME %s must close", bad[i]);
    cr_assert_eq(r->a.conn, conn);
    cr_assert_eq(r->a.ws_code, 1002);
    r = next_of(PARLEY_CLIENT_EV_DISCONNECTED);
    cr_assert_not_null(r);
    cr_assert_eq(r->a.err, PARLEY_E_UNSUPPORTED_VERSION);
    feed("READY", NULL, "user: alice", "device: dev1", NULL);
    cr_assert_not(parley_client_is_ready(cl));
    cr_assert_eq(count_of(PARLEY_CLIENT_SEND, start), 0,
                 "nothing more is said on that session");
    fire_timer();
  }
  parley_client_on_connected(cl, conn, now);
  drain();
  free(expect_sent("HELLO", NULL));
  free(expect_sent("AUTH", NULL));
  feed("WELCOME", NULL, "version: 1", "heartbeat: 1000", NULL);
  feed("READY", NULL, "user: alice", "device: dev1", NULL);
  cr_assert(parley_client_is_ready(cl));
  free(expect_sent("SYNC", NULL));
  free(expect_sent("SEND", NULL));
}

/* spec: FRAME-8 FRAME-9 */
Test(client, malformed_server_frames_are_not_acted_on)
{
  static const char *const bad[] = {
    /* duplicate header */
    "MSG\r\nconv: c1\r\nconv: c2\r\nseq: 1\r\nfrom: bob\r\npos: 7\r\n"
    "content-length: 2\r\n\r\nhi",
    /* an overlong UTF-8 form in the body */
    "MSG\r\nconv: c1\r\nseq: 1\r\nfrom: bob\r\npos: 7\r\n"
    "content-length: 3\r\n\r\na\xc0\xaf",
    /* the message ends inside the body */
    "MSG\r\nconv: c1\r\nseq: 1\r\nfrom: bob\r\npos: 7\r\n"
    "content-length: 9\r\n\r\nhi",
    /* octets after a frame without content-length */
    "SYNCED\r\npos: 7\r\n\r\nxx",
    /* a header name with an upper-case letter */
    "ERROR\r\ncode: 424\r\nreason: auth-failed\r\nFatal: yes\r\n\r\n",
    /* a lower-case verb */
    "ack\r\nconv: c1\r\ntemp-id: TID\r\nmsg-id: m1\r\nseq: 1\r\n\r\n",
  };
  char buf[512], *tid;
  size_t i, start;
  rec *r;

  parley_client_send(cl, "c1", NULL, "x", 1, now, NULL);
  drain();
  bring_up();
  tid = expect_sent("SEND", "temp-id");
  feed("SYNCED", NULL, "pos: 5", NULL);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *t = strstr(bad[i], "TID");
    size_t n;
    if (t != NULL)
      n = (size_t)snprintf(buf, sizeof buf, "%.*s%s%s", (int)(t - bad[i]),
                           bad[i], tid, t + 3);
    else
      n = (size_t)snprintf(buf, sizeof buf, "%s", bad[i]);
    start = nrec;
    feed_raw(buf, n);
    cr_assert_eq(count_of(PARLEY_CLIENT_MSG, start), 0, "frame %zu", i);
    cr_assert_eq(count_of(PARLEY_CLIENT_POS, start), 0, "frame %zu", i);
    cr_assert_eq(count_of(PARLEY_CLIENT_EV_NEED_TOKEN, start), 0);
    cr_assert_eq(count_of(PARLEY_CLIENT_OUTBOX_REMOVE, start), 0);
    cr_assert_eq(count_of(PARLEY_CLIENT_EV_STATUS, start), 0);
    cr_assert_eq(count_of(PARLEY_CLIENT_SEND, start), 0);
    cr_assert_eq(count_of(PARLEY_CLIENT_EV_ERROR, start), 1);
    /* FRAME-9: the session is closed with 1002 and tried again. */
    seen = start;
    r = next_of(PARLEY_CLIENT_CLOSE);
    cr_assert_not_null(r, "frame %zu: no close", i);
    cr_assert_eq(r->a.ws_code, 1002);
    cr_assert_not_null(next_of(PARLEY_CLIENT_EV_DISCONNECTED));
    cr_assert_not(parley_client_is_ready(cl));
    reconnect();
    expect_header("SEND", "temp-id", tid);
  }
  cr_assert_eq(parley_client_outbox_count(cl), 1);
  cr_assert_eq(count_of(PARLEY_CLIENT_MSG, 0), 0);
  free(tid);
}

/* spec: FRAME-9 */
Test(client, malformed_frame_while_stopping_just_closes)
{
  bring_up();
  parley_client_stop(cl, now);
  drain();
  free(expect_sent("BYE", NULL));
  feed_raw("BYE\r\n\r\nextra", 12);
  cr_assert_not_null(next_of(PARLEY_CLIENT_CLOSE));
  now += 100000;
  parley_client_on_time(cl, now);
  drain();
  cr_assert_eq(count_of(PARLEY_CLIENT_CONNECT, 0), 1, "no reconnect");
}

/* spec: ERR-3 */
Test(client, unknown_error_codes_fail_the_request_they_name)
{
  char *req, line[80];
  rec *r;

  parley_client_send(cl, "c1", NULL, "one", 3, now, NULL);
  drain();
  bring_up();
  req = expect_sent("SEND", "req");
  snprintf(line, sizeof line, "req: %s", req);
  free(req);
  /* A code and reason this client does not know, not fatal. */
  feed("ERROR", NULL, "code: 477", "reason: brand-new-refusal", line,
       "fatal: no", NULL);
  r = next_of(PARLEY_CLIENT_EV_SEND_FAILED);
  cr_assert_not_null(r, "the SEND it names failed");
  cr_assert_eq((int)r->a.err, 477);
  cr_assert_eq(parley_client_outbox_count(cl), 0);
  cr_assert(parley_client_is_ready(cl), "not fatal: the session goes on");
  cr_assert_eq(count_of(PARLEY_CLIENT_CLOSE, 0), 0);

  /* The same without fatal at all: read as fatal: no. */
  parley_client_send(cl, "c1", NULL, "two", 3, now, NULL);
  drain();
  req = expect_sent("SEND", "req");
  snprintf(line, sizeof line, "req: %s", req);
  free(req);
  feed("ERROR", NULL, "code: 950", "reason: private-thing", line, NULL);
  cr_assert_not_null(next_of(PARLEY_CLIENT_EV_SEND_FAILED));
  cr_assert(parley_client_is_ready(cl));

  /* An unknown code that says fatal: yes ends the session. */
  parley_client_send(cl, "c1", NULL, "three", 5, now, NULL);
  drain();
  free(expect_sent("SEND", NULL));
  feed("ERROR", NULL, "code: 599", "reason: meltdown", "fatal: yes", NULL);
  r = next_of(PARLEY_CLIENT_CLOSE);
  cr_assert_not_null(r, "fatal: yes ends the session");
  r = next_of(PARLEY_CLIENT_EV_DISCONNECTED);
  cr_assert_not_null(r);
  cr_assert_eq((int)r->a.err, 599);
  cr_assert_not(parley_client_is_ready(cl));
  cr_assert_eq(parley_client_outbox_count(cl), 1, "kept for the next try");
  reconnect();
  free(expect_sent("SEND", NULL));
}

/* spec: ERR-3 */
Test(client, an_unknown_error_failing_the_sync_starts_a_new_session)
{
  char *req, line[80];

  parley_client_start(cl, now);
  drain();
  parley_client_on_connected(cl, conn, now);
  drain();
  free(expect_sent("HELLO", NULL));
  free(expect_sent("AUTH", NULL));
  feed("WELCOME", NULL, "version: 1", "heartbeat: 1000", NULL);
  feed("READY", NULL, "user: alice", "device: dev1", NULL);
  req = expect_sent("SYNC", "req");
  snprintf(line, sizeof line, "req: %s", req);
  free(req);
  feed("ERROR", NULL, "code: 488", "reason: sync-refused", line, NULL);
  cr_assert_not_null(next_of(PARLEY_CLIENT_CLOSE));
  cr_assert_not(parley_client_is_ready(cl));
  reconnect(); /* expects the SYNC of the next session */
}

/* The kinds of the actions a READY client takes for a not-found ERROR
 * answering a SEND, an ERROR without req and a rate-limited one, each
 * carrying `body`; EV_ERROR texts are checked to be the bodies. */
static size_t error_trace(const char *body, parley_client_action_kind *out,
                          size_t cap)
{
  char *req, line[80];
  size_t start, i, n = 0;

  parley_client_free(cl);
  forget();
  now = 1000000;
  cl = make("alice", 42);
  parley_client_set_token(cl, "tok-alice", 0, now);
  parley_client_send(cl, "c1", NULL, "x", 1, now, NULL);
  parley_client_send(cl, "c2", NULL, "y", 1, now, NULL);
  drain();
  bring_up();
  req = expect_sent("SEND", "req");
  snprintf(line, sizeof line, "req: %s", req);
  free(req);
  start = nrec;
  feed("ERROR", body, "code: 440", "reason: not-found", line, "fatal: no",
       NULL);
  feed("ERROR", body, "code: 427", "reason: bad-value", "fatal: no", NULL);
  feed("ERROR", body, "code: 429", "reason: rate-limited", NULL);
  fire_timer();
  for (i = start; i < nrec && n < cap; i++) {
    if (recs[i].a.kind == PARLEY_CLIENT_EV_ERROR)
      cr_assert_str_eq(recs[i].data, body, "the body is what is shown");
    out[n++] = recs[i].a.kind;
  }
  return n;
}

/* spec: ERR-5 */
Test(client, error_bodies_are_shown_never_acted_on)
{
  static const char *const bodies[] = {
    "fatal: yes\r\ncode: 424\r\nreason: auth-failed",
    "token-expired", "going-away: reconnect now", "BYE",
  };
  parley_client_action_kind want[64], got[64];
  size_t n_want, n_got, i;

  n_want = error_trace("no such conversation", want, 64);
  cr_assert_gt(n_want, 3);
  for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    n_got = error_trace(bodies[i], got, 64);
    cr_assert_eq(n_got, n_want, "body %zu changed what the client did", i);
    cr_assert_eq(memcmp(got, want, n_want * sizeof want[0]), 0,
                 "body %zu changed what the client did", i);
    cr_assert(parley_client_is_ready(cl));
    cr_assert_eq(count_of(PARLEY_CLIENT_EV_NEED_TOKEN, 0), 0);
  }
}

/* spec: DELIV-7 DELIV-8 */
Test(client, positions_are_kept_as_received_never_compared)
{
  static const char *const order[] = {"zz9", "a", "Z-1", "0007", "b", "_"};
  rec *r;
  size_t i;

  bring_up();
  feed_msg("c1", 1, "999", NULL); /* before SYNCED: not taken (DELIV-8) */
  feed("SYNCED", NULL, "pos: zz9", NULL);
  feed_msg("c1", 2, "a", NULL);
  feed_msg("c1", 3, "Z-1", NULL);
  feed("RECEIPT", NULL, "conv: c1", "user: bob", "kind: read", "seq: 3",
       "pos: 0007", NULL);
  feed_msg("c1", 4, "b", NULL);
  feed_msg("c2", 1, "_", NULL);
  for (i = 0; i < sizeof order / sizeof order[0]; i++) {
    r = next_of(PARLEY_CLIENT_POS);
    cr_assert_not_null(r, "no POS for %s", order[i]);
    cr_assert_str_eq(r->a.pos, order[i]);
  }
  cr_assert_null(next_of(PARLEY_CLIENT_POS));
  reconnect();
  r = NULL;
  for (i = 0; i < nrec; i++)
    if (recs[i].a.kind == PARLEY_CLIENT_SEND &&
        strncmp(recs[i].data, "SYNC\r\n", 6) == 0)
      r = &recs[i];
  {
    char *since = sent_header(r, "since");
    cr_assert_str_eq(since, "_", "resumes from the last pos received");
    free(since);
  }
}

/* spec: REQ-2 */
Test(client, every_request_gets_a_req_of_its_own)
{
  char *reqs[256];
  size_t nreq = 0, i, j;
  int k;

  for (k = 0; k < 5; k++)
    parley_client_send(cl, "c1", NULL, "m", 1, now, NULL);
  drain();
  bring_up();
  feed_msg("c2", 3, "9", NULL); /* a gap: HISTORY */
  feed_msg("c1", 1, "10", NULL);
  parley_client_mark_read(cl, "c1", 1, now);
  parley_client_set_token(cl, "tok-2", now + 3600000, now);
  drain();
  feed("BYE", NULL, NULL); /* the server ends the session: resend all */
  for (k = 0; k < 4 && count_of(PARLEY_CLIENT_CONNECT, seen) == 0; k++)
    fire_timer();
  parley_client_on_connected(cl, conn, now);
  drain();
  feed("WELCOME", NULL, "version: 1", "heartbeat: 1000", NULL);
  feed("READY", NULL, "user: alice", "device: dev1", NULL);
  for (i = 0; i < nrec; i++) {
    if (recs[i].a.kind != PARLEY_CLIENT_SEND)
      continue;
    char *req = sent_header(&recs[i], "req");
    if (req == NULL)
      continue;
    cr_assert_lt(nreq, 256);
    for (j = 0; j < nreq; j++)
      cr_assert_str_neq(reqs[j], req, "req %s used twice", req);
    reqs[nreq++] = req;
  }
  cr_assert_geq(nreq, 15, "SENDs twice, HISTORY, RECEIPT, AUTHs, SYNCs");
  for (j = 0; j < nreq; j++)
    free(reqs[j]);
}

/* spec: CLI-2 HB-5 */
Test(client, each_new_attempt_waits_a_full_jitter_delay)
{
  uint64_t rng = 42; /* the seed of setup(): nothing else drew from it */
  uint64_t ceiling = 100;
  uint32_t want;
  size_t start;
  int i;
  rec *r;

  bring_up();
  for (i = 0; i < 9; i++) {
    want = parley_client_backoff_ms(&rng, (uint32_t)i, 100, 5000);
    cr_assert_leq(want, ceiling, "attempt %d", i);
    parley_client_on_disconnected(cl, conn, now);
    drain();
    r = next_of(PARLEY_CLIENT_EV_DISCONNECTED);
    cr_assert_not_null(r);
    cr_assert_eq(r->a.delay_ms, want, "attempt %d", i);
    start = nrec;
    if (want > 0) {
      parley_client_on_time(cl, now + want - 1);
      drain();
      cr_assert_eq(count_of(PARLEY_CLIENT_CONNECT, start), 0,
                   "attempt %d came before its wait", i);
    }
    now += want;
    parley_client_on_time(cl, now);
    drain();
    cr_assert_eq(count_of(PARLEY_CLIENT_CONNECT, start), 1);
    seen = nrec;
    ceiling = ceiling * 2 > 5000 ? 5000 : ceiling * 2;
  }
}

/* spec: RCPT-4 */
Test(client, receipts_cover_only_what_was_stored_and_shown)
{
  size_t i, last_msg = 0;
  rec *r;

  bring_up();
  feed("SYNCED", NULL, "pos: 1", NULL);
  feed_msg("c1", 1, "2", NULL);
  feed_msg("c1", 2, "3", NULL);
  feed_msg("c1", 5, "6", NULL); /* held behind a gap: not shown */
  parley_client_mark_read(cl, "c1", 5, now);
  drain();
  for (i = 0; i < nrec; i++) {
    if (recs[i].a.kind == PARLEY_CLIENT_MSG)
      last_msg = i;
    if (recs[i].a.kind != PARLEY_CLIENT_SEND ||
        strncmp(recs[i].data, "RECEIPT\r\n", 9) != 0)
      continue;
    char *seq = sent_header(&recs[i], "seq");
    cr_assert_str_eq(seq, "2", "a receipt past what was shown");
    cr_assert_gt(i, last_msg, "a receipt before its message was stored");
    free(seq);
  }
  /* The gap is filled: delivered follows the store, read the user. */
  feed_msg("c1", 3, NULL, "h-99");
  feed_msg("c1", 4, NULL, "h-99");
  r = NULL;
  for (i = 0; i < 3 && r == NULL; i++) {
    fire_timer();
    for (size_t k = seen; k < nrec; k++)
      if (recs[k].a.kind == PARLEY_CLIENT_SEND &&
          strncmp(recs[k].data, "RECEIPT\r\n", 9) == 0)
        r = &recs[k];
  }
  cr_assert_not_null(r, "a delivered receipt once 3 to 5 are stored");
  {
    char *kind = sent_header(r, "kind"), *seq = sent_header(r, "seq");
    cr_assert_str_eq(kind, "delivered");
    cr_assert_str_eq(seq, "5");
    free(kind);
    free(seq);
  }
}

/* The RECEIPT frames sent from record `from` on. */
static size_t receipts_sent(size_t from, rec **last)
{
  size_t n = 0;

  for (size_t k = from; k < nrec; k++)
    if (recs[k].a.kind == PARLEY_CLIENT_SEND &&
        strncmp(recs[k].data, "RECEIPT\r\n", 9) == 0) {
      n++;
      if (last)
        *last = &recs[k];
    }
  return n;
}

/* spec: RATE-2 ERR-3 */
Test(client, a_refused_receipt_is_not_sent_again)
{
  rec *r = NULL;
  char *req, line[80];
  size_t start;

  bring_up();
  feed("SYNCED", NULL, "pos: 1", NULL);
  feed_msg("c1", 1, "2", NULL);
  drain();
  for (int i = 0; i < 3 && receipts_sent(0, &r) == 0; i++)
    fire_timer();
  cr_assert_not_null(r, "a delivered receipt for seq 1");
  req = sent_header(r, "req");
  snprintf(line, sizeof line, "req: %s", req);
  free(req);
  start = nrec;
  feed("ERROR", NULL, "code: 440", "reason: not-found", line, NULL);
  for (int i = 0; i < 20; i++) {
    now += 1000;
    parley_client_on_time(cl, now);
    drain();
  }
  cr_assert_eq(receipts_sent(start, NULL), 0,
               "a receipt the server refused is not sent again");
}

/* spec: TYPE-3 */
Test(client, typing_on_repeats_each_half_ttl_and_ends_with_off)
{
  uint64_t t0;
  size_t start;

  bring_up();
  feed("WELCOME", NULL, "version: 1", "heartbeat: 1000", "typing-ttl: 4000",
       NULL);
  t0 = now;
  parley_client_typing(cl, "c1", true, now);
  drain();
  expect_header("TYPING", "state", "on");
  start = nrec;
  for (now = t0 + 100; now < t0 + 2000; now += 100) {
    parley_client_typing(cl, "c1", true, now);
    drain();
  }
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, start), 0,
               "no repeat before half the ttl");
  now = t0 + 2000;
  parley_client_typing(cl, "c1", true, now);
  drain();
  expect_header("TYPING", "state", "on");
  parley_client_typing(cl, "c1", false, now);
  drain();
  expect_header("TYPING", "state", "off");
  start = nrec;
  parley_client_typing(cl, "c1", false, now);
  drain();
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, start), 0, "off once");
  parley_client_typing(cl, "c1", true, now + 1);
  parley_client_typing(cl, "c2", true, now + 1);
  drain();
  expect_header("TYPING", "state", "on");
  expect_header("TYPING", "conv", "c2");
  parley_client_send(cl, "c1", NULL, "done", 4, now + 2, NULL);
  drain();
  expect_header("TYPING", "state", "off");
  seen--;
  expect_header("TYPING", "conv", "c1");
  free(expect_sent("SEND", NULL));
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, seen), 0,
               "c2 still typing: no off for it");
}

/* spec: RATE-2 */
Test(client, rate_limited_holds_frames_then_sends_the_refused_again)
{
  char *req, *t1, *t2, line[80];
  size_t start;
  rec *timer = NULL;

  parley_client_send(cl, "c1", NULL, "first", 5, now, NULL);
  drain();
  bring_up();
  req = expect_sent("SEND", "req");
  seen--;
  t1 = expect_sent("SEND", "temp-id");
  snprintf(line, sizeof line, "req: %s", req);
  free(req);
  start = nrec;
  feed("ERROR", NULL, "code: 429", "reason: rate-limited", line, NULL);
  parley_client_send(cl, "c1", NULL, "second", 6, now, NULL);
  drain();
  feed_msg("c2", 4, "8", NULL); /* a gap, whose HISTORY waits too */
  parley_client_mark_read(cl, "c1", 0, now);
  parley_client_on_time(cl, now);
  drain();
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, start), 0,
               "further requests are held");
  for (size_t i = start; i < nrec; i++)
    if (recs[i].a.kind == PARLEY_CLIENT_TIMER)
      timer = &recs[i];
  cr_assert_not_null(timer);
  cr_assert_leq(timer->a.at_ms, now + 101, "a wait drawn as for backoff");
  fire_timer();
  t2 = expect_sent("SEND", "temp-id");
  cr_assert_str_eq(t1, t2, "the refused SEND goes first, the same");
  expect_header("SEND", "conv", "c1");
  free(t1);
  free(t2);
  expect_header("HISTORY", "conv", "c2");
}

/* spec: RATE-2 */
Test(client, rate_limited_sync_and_auth_are_sent_again)
{
  char *req, *since, line[80];

  cr_assert_eq(parley_client_load_pos(cl, "p7"), PARLEY_OK);
  bring_up();
  seen--;
  req = expect_sent("SYNC", "req");
  snprintf(line, sizeof line, "req: %s", req);
  free(req);
  feed("ERROR", NULL, "code: 429", "reason: rate-limited", line, NULL);
  cr_assert(parley_client_is_ready(cl));
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, seen), 0);
  fire_timer();
  since = expect_sent("SYNC", "since");
  cr_assert_str_eq(since, "p7");
  free(since);

  /* A token refresh refused with rate-limited goes again after a wait. */
  feed("SYNCED", NULL, "pos: p8", NULL);
  parley_client_set_token(cl, "tok-next", now + 3600000, now);
  drain();
  req = expect_sent("AUTH", "req");
  snprintf(line, sizeof line, "req: %s", req);
  free(req);
  feed("ERROR", NULL, "code: 429", "reason: rate-limited", line, NULL);
  cr_assert(parley_client_is_ready(cl));
  fire_timer();
  expect_header("AUTH", "token", "tok-next");
}

/* spec: RATE-2 */
Test(client, rate_limited_auth_in_the_handshake_tries_again_later)
{
  rec *r;

  parley_client_start(cl, now);
  drain();
  parley_client_on_connected(cl, conn, now);
  drain();
  free(expect_sent("HELLO", NULL));
  free(expect_sent("AUTH", NULL));
  feed("WELCOME", NULL, "version: 1", "heartbeat: 1000", NULL);
  feed("ERROR", NULL, "code: 429", "reason: rate-limited", "req: a-1",
       NULL);
  cr_assert_not_null(next_of(PARLEY_CLIENT_CLOSE));
  r = next_of(PARLEY_CLIENT_EV_DISCONNECTED);
  cr_assert_not_null(r);
  cr_assert_leq(r->a.delay_ms, 100);
  fire_timer();
  cr_assert_not_null(next_of(PARLEY_CLIENT_CONNECT));
  parley_client_on_connected(cl, conn, now);
  drain();
  free(expect_sent("HELLO", NULL));
  expect_header("AUTH", "token", "tok-alice");
}

/* spec: EXT-5 EXT-1 */
Test(client, headers_defined_for_other_verbs_are_ignored)
{
  size_t start;
  rec *r;

  parley_client_send(cl, "c1", NULL, "x", 1, now, NULL);
  drain();
  bring_up();
  free(expect_sent("SEND", NULL));
  feed("SYNCED", NULL, "pos: 3", "seq: 99", "temp-id: bogus",
       "status: away", NULL);
  r = next_of(PARLEY_CLIENT_POS);
  cr_assert_not_null(r);
  cr_assert_str_eq(r->a.pos, "3");
  start = nrec;
  feed("PONG", NULL, "seq: 7", "user: bob", "conv: c1", "pos: 44", NULL);
  feed("OK", NULL, "kind: read", "seq: 9", "pos: 45", NULL);
  cr_assert_eq(nrec, start, "PONG and OK carry nothing to act on");
  parley_client_on_time(cl, now); /* nothing due */
  drain();
  cr_assert_eq(count_of(PARLEY_CLIENT_POS, start), 0);
  seen = start;
  feed("MSG", "hi", "conv: c1", "seq: 1", "from: bob", "pos: 4",
       "fatal: yes", "token: pt1.x", "versions: 9", "since: 0", NULL);
  r = next_of(PARLEY_CLIENT_MSG);
  cr_assert_not_null(r, "MSG handled although it carries odd headers");
  cr_assert_str_eq(r->body, "hi");
  r = next_of(PARLEY_CLIENT_POS);
  cr_assert_not_null(r);
  cr_assert_str_eq(r->a.pos, "4");
  cr_assert(parley_client_is_ready(cl));
  cr_assert_eq(count_of(PARLEY_CLIENT_CLOSE, 0), 0);
}

/* spec: SEC-18 */
Test(client, bodies_with_nul_are_handled_by_length)
{
  static const char msg[] =
      "MSG\r\nconv: c1\r\nseq: 1\r\nfrom: bob\r\npos: 2\r\n"
      "content-length: 5\r\n\r\na\0b\0c";
  rec *r;
  char *cl_hdr;

  bring_up();
  feed_raw(msg, sizeof msg - 1);
  r = next_of(PARLEY_CLIENT_MSG);
  cr_assert_not_null(r);
  cr_assert_eq(r->a.msg.body_len, 5);
  cr_assert_eq(memcmp(r->body, "a\0b\0c", 5), 0);
  cr_assert_eq(parley_client_send(cl, "c1", NULL, "x\0y", 3, now, NULL),
               PARLEY_OK);
  drain();
  r = next_of(PARLEY_CLIENT_OUTBOX_ADD);
  cr_assert_not_null(r);
  cr_assert_eq(r->a.outbox.body_len, 3);
  cr_assert_eq(memcmp(r->body, "x\0y", 3), 0);
  r = next_of(PARLEY_CLIENT_SEND);
  cr_assert_not_null(r);
  cl_hdr = sent_header(r, "content-length");
  cr_assert_str_eq(cl_hdr, "3");
  free(cl_hdr);
  cr_assert_eq(memcmp(r->data + r->a.len - 3, "x\0y", 3), 0);
}

/* Starts and connects, and answers the handshake with a WELCOME holding
 * the given header lines (NULL ends them early) and READY. */
static void bring_up_welcome(const char *h1, const char *h2)
{
  parley_client_start(cl, now);
  drain();
  cr_assert_not_null(next_of(PARLEY_CLIENT_CONNECT));
  parley_client_on_connected(cl, conn, now);
  drain();
  feed("WELCOME", NULL, "version: 1", "heartbeat: 60000", h1, h2, NULL);
  feed("READY", NULL, "user: alice", "device: dev1", NULL);
}

/* spec: RATE-4 */
Test(client, the_outbox_is_paced_to_the_rate_welcome_states)
{
  /* The server's bucket as RATE-1 keeps it: 10 frames a second, 8 at
   * most, full when the transport opened. It must never run dry. */
  int64_t bucket = 8000;
  uint64_t filled = now, start = now, seq = 0;
  size_t done = 0, sends = 0, steps;
  char *temp_id, h_temp[96], h_seq[40];

  for (int i = 0; i < 60; i++)
    parley_client_send(cl, "c1", NULL, "paced", 5, now, NULL);
  drain();
  bring_up_welcome("rate: 10", "rate-burst: 8");
  for (steps = 0; steps < 1000 && sends < 60; steps++) {
    for (; done < nrec; done++) {
      if (recs[done].a.kind != PARLEY_CLIENT_SEND)
        continue;
      bucket += (int64_t)(now - filled) * 10;
      filled = now;
      if (bucket > 8000)
        bucket = 8000;
      bucket -= 1000;
      cr_assert_geq(bucket, 0, "frame %zu at +%llu ms finds the bucket"
                    " empty", done, (unsigned long long)(now - start));
      if (strncmp(recs[done].data, "SEND\r\n", 6) != 0)
        continue;
      sends++;
      temp_id = sent_header(&recs[done], "temp-id");
      snprintf(h_temp, sizeof h_temp, "temp-id: %s", temp_id);
      snprintf(h_seq, sizeof h_seq, "seq: %llu", (unsigned long long)++seq);
      free(temp_id);
      feed("ACK", NULL, "conv: c1", h_temp, "msg-id: m1", h_seq, "ts: 1",
           NULL);
    }
    if (sends < 60)
      fire_timer();
  }
  cr_assert_eq(sends, 60, "the outbox stalled after %zu", sends);
  cr_assert_lt(now - start, 10000, "paced far below the rate");
}

/* spec: RATE-4 */
Test(client, without_a_stated_rate_the_outbox_is_not_paced)
{
  for (int i = 0; i < 20; i++)
    parley_client_send(cl, "c1", NULL, "free", 4, now, NULL);
  drain();
  bring_up_welcome("max-frame: 65536", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, 0), 3 + 20,
               "HELLO, AUTH, SYNC and every SEND at once");
}

/* spec: RATE-2 */
Test(client, a_burst_of_rate_limited_refusals_is_one_short_hold)
{
  char *req[10], line[80];
  size_t start;
  int i;

  for (i = 0; i < 10; i++)
    parley_client_send(cl, "c1", NULL, "burst", 5, now, NULL);
  drain();
  bring_up();
  for (i = 0; i < 10; i++)
    req[i] = expect_sent("SEND", "req");
  start = nrec;
  for (i = 0; i < 10; i++) {
    snprintf(line, sizeof line, "req: %s", req[i]);
    free(req[i]);
    feed("ERROR", NULL, "code: 429", "reason: rate-limited", line, NULL);
    now += 1;
  }
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, start), 0, "held");
  cr_assert_eq(count_of(PARLEY_CLIENT_TIMER, start), 1,
               "later refusals neither move nor grow the hold");
  for (i = (int)start; recs[i].a.kind != PARLEY_CLIENT_TIMER; i++)
    ;
  cr_assert_leq(recs[i].a.at_ms, now - 10 + 101, "one wait of attempt 0");
  fire_timer();
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, start), 10, "all sent again");
}

/* spec: SEND-10 */
Test(client, max_body_is_what_welcome_states)
{
  cr_assert_eq(parley_client_max_body(cl), PARLEY_BODY_MAX);
  bring_up_welcome("max-body: 1000", NULL);
  cr_assert_eq(parley_client_max_body(cl), 1000);
  parley_client_on_disconnected(cl, conn, now);
  drain();
  cr_assert_eq(parley_client_max_body(cl), PARLEY_BODY_MAX,
               "a new session learns it again");
}

/* Call signaling (spec section 19): a core whose host runs a call
 * layer. */
static void remake_with_calls(void)
{
  parley_client_config cfg;

  forget();
  parley_client_free(cl);
  memset(&cfg, 0, sizeof cfg);
  cfg.user = "alice";
  cfg.device = "dev1";
  cfg.heartbeat_ms = 1000;
  cfg.backoff_base_ms = 100;
  cfg.backoff_cap_ms = 5000;
  cfg.seed = 42;
  cfg.calls = true;
  cl = parley_client_new(&cfg);
  cr_assert_not_null(cl);
  cr_assert_eq(parley_client_set_token(cl, "tok-alice", 0, now), PARLEY_OK);
  drain();
}

/* spec: EXT-2 */
Test(client, calls_capability_is_offered_only_when_asked)
{
  bring_up();
  cr_assert(!parley_client_has_cap(cl, "calls"));
  seen = 0;
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, 0) > 0, true);
  free(expect_sent("HELLO", NULL));
  seen--;
  expect_header("HELLO", "caps", "receipts,typing,presence");

  remake_with_calls();
  parley_client_start(cl, now);
  drain();
  parley_client_on_connected(cl, conn, now);
  drain();
  expect_header("HELLO", "caps", "receipts,typing,presence,calls");
  feed("WELCOME", NULL, "version: 1", "caps: receipts, calls", NULL);
  cr_assert(parley_client_has_cap(cl, "calls"));
  cr_assert(!parley_client_has_cap(cl, "typing"));
}

/* The last EV_CALL recorded, or NULL. */
static const parley_call_frame *last_call_event(void)
{
  size_t i;

  for (i = nrec; i > 0; i--)
    if (recs[i - 1].a.kind == PARLEY_CLIENT_EV_CALL)
      return recs[i - 1].cf;
  return NULL;
}

Test(client, call_request_is_sent_only_when_ready_and_answered_by_req)
{
  parley_call_header h[] = {{"conv", "c1"}, {"media", "audio"}};
  char req[PARLEY_ID_MAX + 1], line[80];
  const parley_call_frame *cf;

  remake_with_calls();
  cr_assert_eq(parley_client_call_send(cl, "CALL", h, 2, NULL, NULL, 0, now,
                                       req), PARLEY_E_BAD_STATE);
  cr_assert_eq(parley_client_call_send(cl, "SEND", h, 2, NULL, NULL, 0, now,
                                       req), PARLEY_E_BAD_VALUE);
  bring_up();
  cr_assert_eq(parley_client_call_send(cl, "CALL", h, 2, NULL, NULL, 0, now,
                                       req), PARLEY_OK);
  drain();
  cr_assert_eq(req[0], 'c');
  expect_header("CALL", "req", req);
  seen--;
  expect_header("CALL", "conv", "c1");
  snprintf(line, sizeof line, "req: %s", req);
  feed("OK", NULL, "call: kABC", line, NULL);
  cf = last_call_event();
  cr_assert_not_null(cf, "OK to a call request reaches the call layer");
  cr_assert_str_eq(cf->verb, "OK");
  cr_assert_str_eq(cf->request, "CALL");
  cr_assert_str_eq(cf->req, req);
  cr_assert_str_eq(cf->call, "kABC");
  /* A second OK for the same req is not a call answer any more. */
  nrec = seen = 0;
  feed("OK", NULL, "call: kABC", line, NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_EV_CALL, 0), 0);
}

Test(client, call_request_error_goes_to_the_call_layer_with_its_body)
{
  parley_call_header h[] = {{"call", "k1"}, {"to", "bob"},
                            {"to-device", "b1"}};
  const char *sdp = "v=0\r\n";
  char req[PARLEY_ID_MAX + 1], line[80];
  const parley_call_frame *cf;
  parley_parser p;
  parley_frame f;
  rec *r;

  remake_with_calls();
  bring_up();
  cr_assert_eq(parley_client_call_send(cl, "OFFER", h, 3, "application/sdp",
                                       sdp, strlen(sdp), now, req),
               PARLEY_OK);
  drain();
  r = next_of(PARLEY_CLIENT_SEND);
  parse_sent(r, &p, &f);
  cr_assert(parley_str_eq(*parley_frame_get(&f, "content-type"),
                          "application/sdp"));
  cr_assert_eq(f.body.len, strlen(sdp));
  parley_parser_free(&p);
  snprintf(line, sizeof line, "req: %s", req);
  nrec = seen = 0;
  feed("ERROR", "line 2: o= missing", "code: 445", "reason: bad-sdp", line,
       NULL);
  cf = last_call_event();
  cr_assert_not_null(cf);
  cr_assert_str_eq(cf->verb, "ERROR");
  cr_assert_str_eq(cf->request, "OFFER");
  cr_assert_str_eq(cf->request_call, "k1");
  cr_assert_str_eq(cf->call, "k1");
  cr_assert_eq(cf->err, PARLEY_E_BAD_SDP);
  cr_assert_str_eq(cf->body, "line 2: o= missing");
  cr_assert_eq(count_of(PARLEY_CLIENT_EV_ERROR, 0), 0,
               "the call layer reports it, not the session");
  cr_assert(parley_client_is_ready(cl));
}

Test(client, relayed_call_frames_become_call_events)
{
  const parley_call_frame *cf;

  bring_up();
  feed("RING", NULL, "call: k1", "conv: c1", "from: bob", "device: b1",
       "media: audio", "ts: 5", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_EV_CALL, 0), 0,
               "no call layer: call frames are ignored");

  remake_with_calls();
  bring_up();
  feed("RING", NULL, "call: k1", "conv: c1", "from: bob", "device: b1",
       "media: audio", "ts: 5", NULL);
  cf = last_call_event();
  cr_assert_not_null(cf);
  cr_assert_str_eq(cf->verb, "RING");
  cr_assert_str_eq(cf->call, "k1");
  cr_assert_str_eq(cf->from, "bob");
  cr_assert_str_eq(cf->device, "b1");
  cr_assert_eq(cf->ts, 5);
  feed("OFFER", "v=0\r\n", "call: k1", "from: bob", "device: b1",
       "ice-restart: yes", "content-type: application/sdp", NULL);
  cf = last_call_event();
  cr_assert_str_eq(cf->verb, "OFFER");
  cr_assert(cf->ice_restart);
  cr_assert_str_eq(cf->body, "v=0\r\n");
  cr_assert_str_eq(cf->content_type, "application/sdp");
  feed("CANDIDATE", NULL, "call: k1", "from: bob", "device: b1",
       "candidate: candidate:1 1 udp 1 127.0.0.1 9 typ host", "mid: 0",
       NULL);
  cr_assert_str_eq(last_call_event()->candidate,
                   "candidate:1 1 udp 1 127.0.0.1 9 typ host");
  nrec = seen = 0;
  feed("CALL-END", NULL, "conv: c1", "reason: completed", NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_EV_CALL, 0), 0, "no call: dropped");
  cr_assert_eq(count_of(PARLEY_CLIENT_EV_ERROR, 0), 1);
}

/* spec: RATE-2 */
Test(client, rate_limited_call_request_goes_again_with_the_same_req)
{
  parley_call_header h[] = {{"call", "k1"}, {"rejoin", "yes"}};
  char req[PARLEY_ID_MAX + 1], line[80];
  size_t start;

  remake_with_calls();
  bring_up();
  cr_assert_eq(parley_client_call_send(cl, "JOIN", h, 2, NULL, NULL, 0, now,
                                       req), PARLEY_OK);
  drain();
  free(expect_sent("JOIN", NULL));
  snprintf(line, sizeof line, "req: %s", req);
  start = nrec;
  feed("ERROR", NULL, "code: 429", "reason: rate-limited", line, NULL);
  cr_assert_eq(count_of(PARLEY_CLIENT_EV_CALL, start), 0);
  cr_assert_eq(count_of(PARLEY_CLIENT_SEND, start), 0, "held");
  fire_timer();
  expect_header("JOIN", "req", req);
}

Test(client, ready_after_a_reconnect_says_so)
{
  size_t start;
  rec *r;

  bring_up();
  seen = 0;
  r = next_of(PARLEY_CLIENT_EV_READY);
  cr_assert_not_null(r);
  cr_assert(!r->a.reconnected);
  start = nrec;
  reconnect();
  seen = start;
  r = next_of(PARLEY_CLIENT_EV_READY);
  cr_assert_not_null(r);
  cr_assert(r->a.reconnected);
}
