/* Conformance cases: send (spec section 5) and idempotent retry (5.1).
 *
 * Each case makes its own group conversation, so the first message it
 * sends has seq 1 (SEND-2); a case shows that a refused or repeated SEND
 * stored nothing by sending a marker message afterwards and checking the
 * marker's seq. That a repeat was not delivered a second time is checked
 * on a watching session up to the marker's MSG: a second copy of an
 * earlier message cannot come after the marker without breaking the
 * sequence order DELIV-2 promises, so nothing is waited for on a timer.
 *
 * Accounts: 0 sends, 1 is the other member (and watches), 2 is a third
 * account for the cases that need one. */
#include <string.h>

#include "msg_util.h"

static const int other_member[] = {1};

/* A new conversation of accounts 0 and 1. */
static const char *conv_ab(pc_ctx *t)
{
  return mu_group(t, 0, other_member, 1);
}

/* Reads w's MSG frames of conv up to the one with msg-id `marker` and
 * fails unless they are seqs 1 .. marker_seq, once each, in order. */
static void saw_each_once(mu_sess *w, const char *conv, const mu_ack *marker,
                          const char *who)
{
  mu_list l = {0};
  mu_until(w, conv, NULL, "MSG", "msg-id", marker->msg_id, &l,
           pc_printf(w->t, "the MSG of the marker message on %s", who));
  mu_check_seqs(w->t, &l, 1, marker->seq,
                pc_printf(w->t, "live MSG frames on %s", who));
}

/* Fails unless the newest page of conv's history holds `n` messages and
 * exactly one with `temp_id`, whose body is `body`. */
static void history_holds_once(mu_sess *s, const char *conv, size_t n,
                               const char *temp_id, const char *body)
{
  mu_page *p = mu_history(s, conv, "100", NULL, NULL);
  size_t found = 0;

  if (p->msgs.n != n)
    pc_fail(s->t, "HISTORY holds %zu messages, expected %zu", p->msgs.n, n);
  for (size_t i = 0; i < p->msgs.n; i++) {
    const pc_frame *m = p->msgs.v[i];
    if (strcmp(mu_hdr(s->t, m, "temp-id"), temp_id) != 0)
      continue;
    found++;
    if (m->body_len != strlen(body) || memcmp(m->body, body, m->body_len))
      pc_fail(s->t, "the stored message of temp-id %s has the body '%.*s', "
              "expected '%s'", temp_id, (int)m->body_len, m->body, body);
  }
  if (found != 1)
    pc_fail(s->t, "HISTORY holds %zu messages with temp-id %s, expected 1",
            found, temp_id);
}

/* ---- SEND and ACK ---- */

/* spec: SEND-1 SEND-2 REQ-1 */
static void ack_fields(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *temp_id = pc_uniq(t, "t");
  mu_ack k;

  mu_ack_of(a, mu_send(a, conv, temp_id, "text/plain", "hello", 5), &k);
  if (strcmp(k.conv, conv) != 0 || strcmp(k.temp_id, temp_id) != 0)
    pc_fail(t, "ACK names conv %s temp-id %s, the SEND had %s and %s",
            k.conv, k.temp_id, conv, temp_id);
  if (k.seq != 1)
    pc_fail(t, "the first message of a new conversation got seq %llu, "
            "expected 1 (SEND-2)", (unsigned long long)k.seq);
}

#define STORED_BATCH 10

/* Checks, right after the ACK k came, what another member b sees: a
 * RECEIPT up to k's seq is accepted (when receipts are offered), the
 * conversation's last_seq covers it, HISTORY holds it. Returns the pos
 * of a SYNC without since sent then, which must lie after k. */
static const char *stored_now(mu_sess *b, const char *conv, const mu_ack *k,
                              bool receipts)
{
  pc_ctx *t = b->t;
  const char *seq = pc_printf(t, "%llu", (unsigned long long)k->seq);
  const char *late = "the ACK came before the message was durable";
  mu_list ignored = {0};

  if (receipts) {
    const char *req = mu_req(b);
    mu_pace(b);
    pc_send(b->c, "RECEIPT", NULL, "conv", conv, "kind", "delivered", "seq",
            seq, "req", req, NULL);
    if (strcmp(pc_expect_req(b->c, req, PC_WAIT)->verb, "OK") != 0)
      pc_fail(t, "RECEIPT delivered %s sent right after its ACK was not "
              "answered OK: %s (SEND-1, DUR-1)", seq, late);
  }
  const char *pos = pc_hdr(mu_sync(b, NULL, conv, NULL, &ignored), "pos");
  pc_http *r = pc_http_request(t, "GET", pc_printf(t,
                               "/v1/conversations/%s", conv),
                               pc_token(t, b->user), NULL, NULL, 0);
  pc_http_expect(t, r, 200, NULL);
  json_t *last = json_object_get(r->json, "last_seq");
  if (!json_is_integer(last) || json_integer_value(last) < 0 ||
      (uint64_t)json_integer_value(last) < k->seq)
    pc_fail(t, "GET /v1/conversations/{id} right after the ACK of seq %s "
            "gives a last_seq (the newest durable message) below it: %s "
            "(SEND-1, DUR-1)", seq, late);
  mu_page *p = mu_history(b, conv, "1", NULL,
                          pc_printf(t, "%llu", (unsigned long long)(k->seq -
                                                                     1)));
  if (p->msgs.n != 1 ||
      strcmp(mu_hdr(t, p->msgs.v[0], "msg-id"), k->msg_id) != 0)
    pc_fail(t, "HISTORY read right after the ACK of seq %s does not hold "
            "that message: %s (SEND-1, DUR-1)", seq, late);
  return pos;
}

/* spec: SEND-1 DUR-1 SYNC-1 */
static void ack_means_stored(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *reqs[STORED_BATCH], *pos[STORED_BATCH];
  const char *caps = pc_hdr(pc_welcome(b->c), "caps");
  bool receipts = caps != NULL && strstr(caps, "receipts") != NULL;
  mu_ack k[STORED_BATCH];

  for (size_t i = 0; i < STORED_BATCH; i++)
    reqs[i] = mu_send(a, conv, pc_uniq(t, "t"), NULL, "durable", 7);
  for (size_t i = 0; i < STORED_BATCH; i++) {
    mu_ack_of(a, reqs[i], &k[i]);
    pos[i] = stored_now(b, conv, &k[i], receipts);
  }
  mu_sess *b2 = mu_open(t, 1, NULL, false);
  for (size_t i = 0; i < STORED_BATCH; i++) {
    mu_list ev = {0};
    mu_sync(b2, pos[i], conv, NULL, &ev);
    for (size_t j = 0; j < ev.n; j++)
      if (strcmp(ev.v[j]->verb, "MSG") == 0 && mu_seq(t, ev.v[j]) <= k[i].seq)
        pc_fail(t, "SYNC since the position a SYNC without since named "
                "right after the ACK of seq %llu brings MSG seq %s again: "
                "the ACK came before the message was durable (SEND-1, "
                "DUR-1)", (unsigned long long)k[i].seq,
                pc_hdr_show(ev.v[j], "seq"));
  }
}

#define UNIQUE_PER_CONV 4

/* spec: SEND-11 SEND-1 */
static void msg_id_unique(pc_ctx *t)
{
  const int ab[] = {1};
  /* Three conversations of account 0 (one with account 1), one of
   * account 1 alone, so that ids counted per conversation, per session
   * or per user all meet. */
  const char *conv[4] = {mu_group(t, 0, NULL, 0), mu_group(t, 0, NULL, 0),
                         mu_group(t, 0, ab, 1), mu_group(t, 1, NULL, 0)};
  mu_sess *s[2] = {mu_open(t, 0, NULL, false), mu_open(t, 1, NULL, false)};
  const char *reqs[4][UNIQUE_PER_CONV];
  mu_ack k[4 * UNIQUE_PER_CONV];
  size_t n = 0;

  for (size_t i = 0; i < UNIQUE_PER_CONV; i++)
    for (size_t c = 0; c < 4; c++)
      reqs[c][i] = mu_send(s[c == 3], conv[c], pc_uniq(t, "t"), NULL,
                           "which one", 9);
  for (size_t c = 0; c < 4; c++)
    for (size_t i = 0; i < UNIQUE_PER_CONV; i++)
      mu_ack_of(s[c == 3], reqs[c][i], &k[n++]);
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      if (strcmp(k[i].msg_id, k[j].msg_id) == 0)
        pc_fail(t, "two messages got msg-id %s: seq %llu of %s and seq "
                "%llu of %s; a message-id names one message on the server "
                "(SEND-11)", k[i].msg_id, (unsigned long long)k[i].seq,
                k[i].conv, (unsigned long long)k[j].seq, k[j].conv);
}

/* spec: SEND-1 DELIV-1 SEC-3 */
static void msg_matches_ack(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a = mu_open(t, 0, NULL, false);
  mu_ack k = mu_post(a, conv, "match me");
  const char *from = mu_user(a);
  const char *dev = pc_device(a->c);

  pc_frame *mine = mu_msg(a, conv);
  mu_msg_is(t, mine, &k, from, dev, "text/plain", "match me", 8,
            "the sender's session");
  pc_frame *theirs = mu_msg(b, conv);
  mu_msg_is(t, theirs, &k, from, dev, "text/plain", "match me", 8,
            "the other member's session");
  if (!mu_is_id(pc_hdr(theirs, "pos")) || pc_hdr(theirs, "req") != NULL)
    pc_fail(t, "a live MSG carries pos and no req (spec 6); got pos %s "
            "req %s", pc_hdr_show(theirs, "pos"), pc_hdr_show(theirs, "req"));
}

/* spec: DELIV-1 HIST-1 */
static void content_type_default(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a = mu_open(t, 0, NULL, false);
  mu_ack k = mu_post(a, conv, "plain");

  mu_msg_is(t, mu_msg(b, conv), &k, mu_user(a), pc_device(a->c),
            "text/plain", "plain", 5, "a SEND without content-type");
  mu_page *p = mu_history(b, conv, NULL, NULL, NULL);
  if (p->msgs.n != 1)
    pc_fail(t, "HISTORY holds %zu messages, expected 1", p->msgs.n);
  mu_msg_is(t, p->msgs.v[0], &k, mu_user(a), pc_device(a->c), "text/plain",
            "plain", 5, "HISTORY of a SEND without content-type");
}

/* spec: DELIV-1 HIST-1 */
static void content_type_kept(pc_ctx *t)
{
  static const char *const types[] = {
    "text/markdown; charset=utf-8",
    "application/json;charset=\"utf-8\"",
    "application/vnd.example+json",
  };
  const char *conv = conv_ab(t);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a = mu_open(t, 0, NULL, false);
  mu_ack k[3];

  for (size_t i = 0; i < 3; i++) {
    const char *tid = pc_uniq(t, "t");
    mu_ack_of(a, mu_send(a, conv, tid, types[i], "{}", 2), &k[i]);
  }
  for (size_t i = 0; i < 3; i++)
    mu_msg_is(t, mu_msg(b, conv), &k[i], mu_user(a), pc_device(a->c),
              types[i], "{}", 2, "content-type as sent");
  mu_page *p = mu_history(b, conv, NULL, NULL, NULL);
  if (p->msgs.n != 3)
    pc_fail(t, "HISTORY holds %zu messages, expected 3", p->msgs.n);
  for (size_t i = 0; i < 3; i++)
    mu_msg_is(t, p->msgs.v[i], &k[i], mu_user(a), pc_device(a->c),
              types[i], "{}", 2, "content-type in HISTORY");
}

/* Sends a SEND with `name: value` replacing one header and expects
 * `reason` naming `name`. */
static void refused_value(mu_sess *a, const char *conv, const char *name,
                          const char *value, const char *reason)
{
  const char *req = mu_req(a);
  bool is_conv = strcmp(name, "conv") == 0;
  bool is_temp = strcmp(name, "temp-id") == 0;
  const char *ct = is_conv || is_temp ? "text/plain" : value;

  mu_pace(a);
  pc_send_n(a->c, "SEND", "x", 1, "conv", is_conv ? value : conv,
            "temp-id", is_temp ? value : pc_uniq(a->t, "t"),
            "content-type", ct, "req", req, NULL);
  pc_note(a->t, "%s '%s' must get %s", name, value, reason);
  mu_expect_err(a, reason, req, name);
}

/* Fails unless the next message of conv gets seq 1: nothing refused
 * before it was stored. */
static void nothing_stored(mu_sess *a, const char *conv)
{
  mu_ack k = mu_post(a, conv, "after the refusals");
  if (k.seq != 1)
    pc_fail(a->t, "the first accepted message got seq %llu: a refused "
            "SEND was stored (FRAME-7)", (unsigned long long)k.seq);
}

/* spec: FRAME-11 FRAME-7 */
static void bad_content_type(pc_ctx *t)
{
  static const char *const bad[] = {
    "text", "text/", "/plain", "text/plain;", "text/plain;;a=b",
    "text/plain ", "text/plain; charset=", "text plain", "text/pl@in",
  };
  const char *conv = conv_ab(t);
  mu_sess *a = mu_open(t, 0, NULL, false);
  char long_ct[129];

  for (size_t i = 0; i < PC_COUNT(bad); i++)
    refused_value(a, conv, "content-type", bad[i], "bad-value");
  memcpy(long_ct, "text/", 5);
  memset(long_ct + 5, 'x', 123);
  long_ct[128] = '\0';
  refused_value(a, conv, "content-type", long_ct, "bad-value");
  nothing_stored(a, conv);

  long_ct[127] = '\0';
  mu_ack k;
  mu_ack_of(a, mu_send(a, conv, pc_uniq(t, "t"), long_ct, "x", 1), &k);
  mu_msg_is(t, pc_expect(a->c, "MSG", "msg-id", k.msg_id, PC_WAIT), &k,
            mu_user(a), pc_device(a->c), long_ct, "x", 1,
            "a content-type of 127 octets");
}

/* spec: FRAME-11 FRAME-7 */
static void missing_header(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *req = mu_req(a);

  mu_pace(a);
  pc_send_n(a->c, "SEND", "x", 1, "temp-id", pc_uniq(t, "t"), "req", req,
            NULL);
  mu_expect_err(a, "missing-header", req, "conv");
  req = mu_req(a);
  mu_pace(a);
  pc_send_n(a->c, "SEND", "x", 1, "conv", conv, "req", req, NULL);
  mu_expect_err(a, "missing-header", req, "temp-id");
  nothing_stored(a, conv);
}

/* spec: FRAME-11 FRAME-7 SEND-1 */
static void bad_temp_id(pc_ctx *t)
{
  static const char *const bad[] = {
    "", "t.1", "t 1", "t/1", "t:1", "t+1", "t\xc3\xa4",
  };
  const char *conv = conv_ab(t);
  mu_sess *a = mu_open(t, 0, NULL, false);
  char id[66];

  for (size_t i = 0; i < PC_COUNT(bad); i++)
    refused_value(a, conv, "temp-id", bad[i], "bad-value");
  memset(id, 'T', 65);
  memcpy(id, pc_uniq(t, "t"), 10);
  id[65] = '\0';
  refused_value(a, conv, "temp-id", id, "bad-value");

  id[64] = '\0';
  mu_ack k;
  mu_ack_of(a, mu_send(a, conv, id, NULL, "x", 1), &k);
  if (strcmp(k.temp_id, id) != 0)
    pc_fail(t, "ACK temp-id %s, the SEND had the 64-character %s",
            k.temp_id, id);
  if (k.seq != 1)
    pc_fail(t, "the first accepted message got seq %llu: a refused SEND "
            "was stored (FRAME-7)", (unsigned long long)k.seq);
}

/* spec: FRAME-11 SEND-6 */
static void bad_conv(pc_ctx *t)
{
  static const char *const bad[] = {"", "c.1", "c 1", "c/1", "c\xc3\xa4"};
  mu_sess *a = mu_open(t, 0, NULL, false);
  char id[66];

  for (size_t i = 0; i < PC_COUNT(bad); i++)
    refused_value(a, "unused", "conv", bad[i], "bad-value");
  memset(id, 'c', 65);
  id[65] = '\0';
  refused_value(a, "unused", "conv", id, "bad-value");
}

/* spec: SEND-6 */
static void not_found(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *missing = pc_uniq(t, "c");
  const char *req = mu_send(a, missing, pc_uniq(t, "t"), NULL, "x", 1);

  mu_expect_err(a, "not-found", req, NULL);
  nothing_stored(a, conv);
}

/* The session's max-body from its WELCOME (SEND-10). */
static uint64_t max_body(mu_sess *a)
{
  uint64_t n = pc_hdr_u64(a->t, pc_welcome(a->c), "max-body");
  if (n == 0 || n > pc_config_of(a->t)->max_frame)
    pc_fail(a->t, "WELCOME max-body %llu is not a body a frame can carry",
            (unsigned long long)n);
  return n;
}

/* spec: SEND-10 DELIV-1 */
static void max_body_accepted(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a = mu_open(t, 0, NULL, false);
  size_t n = (size_t)max_body(a);
  char *body = mu_body(t, n, "max");
  mu_ack k;

  mu_ack_of(a, mu_send(a, conv, pc_uniq(t, "t"), NULL, body, n), &k);
  mu_msg_is(t, mu_msg(b, conv), &k, mu_user(a), pc_device(a->c),
            "text/plain", body, n, "a body of max-body octets");
}

/* spec: SEND-10 */
static void max_body_exceeded(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *a = mu_open(t, 0, NULL, false);
  size_t n = (size_t)max_body(a) + 1;
  char *body = mu_body(t, n, "over");
  const char *temp_id = pc_uniq(t, "t");

  mu_expect_err(a, "frame-too-large",
                mu_send(a, conv, temp_id, NULL, body, n), NULL);
  mu_ack k;
  mu_ack_of(a, mu_send(a, conv, temp_id, NULL, "short", 5), &k);
  if (k.seq != 1)
    pc_fail(t, "the first accepted message got seq %llu: the refused "
            "SEND was stored (SEND-10)", (unsigned long long)k.seq);
}

/* spec: FRAME-5 EXT-1 DELIV-1 HIST-1 */
static void utf8_body(pc_ctx *t)
{
  static const char body[] =
    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, Bob!\r\n"
    "\xd0\xa1\xd1\x82\xd0\xbe\xd0\xbb\xd0\xb8\xd0\xba \xd0\xbd\xd0\xb0 "
    "\xd0\xb4\xd0\xb2\xd0\xbe\xd0\xb8\xd1\x85 \xe2\x80\x94 \xd1\x83 "
    "\xd0\xbe\xd0\xba\xd0\xbd\xd0\xb0.\r\n"
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x82\x82\xe5\xa4\xa7\xe4\xb8"
    "\x88\xe5\xa4\xab\xe3\x81\xa7\xe3\x81\x99 \xf0\x9f\x8d\x9c";
  const size_t len = sizeof body - 1;
  const char *conv = conv_ab(t);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *req = mu_req(a);
  const char *temp_id = pc_uniq(t, "t");
  mu_ack k;

  if (len != 99)
    pc_fail(t, "internal: the body of example send-utf8 has 99 octets");
  mu_pace(a);
  pc_send_n(a->c, "SEND", body, len, "conv", conv, "temp-id", temp_id,
            "x-subject", "\xd0\x9e\xd0\xb1\xd0\xb5\xd0\xb4 \xe2\x98\x95",
            "req", req, NULL);
  mu_ack_of(a, req, &k);
  mu_msg_is(t, mu_msg(b, conv), &k, mu_user(a), pc_device(a->c),
            "text/plain", body, len, "a UTF-8 body of three lines");
  mu_page *p = mu_history(b, conv, NULL, NULL, NULL);
  if (p->msgs.n != 1)
    pc_fail(t, "HISTORY holds %zu messages, expected 1", p->msgs.n);
  mu_msg_is(t, p->msgs.v[0], &k, mu_user(a), pc_device(a->c), "text/plain",
            body, len, "the UTF-8 body in HISTORY");
}

/* spec: SEC-18 DELIV-1 HIST-1 */
static void body_with_nul(pc_ctx *t)
{
  static const char body[] = "a\0b\0\0c";
  const char *conv = conv_ab(t);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a = mu_open(t, 0, NULL, false);
  mu_ack k;

  mu_ack_of(a, mu_send(a, conv, pc_uniq(t, "t"), NULL, body, 6), &k);
  mu_msg_is(t, mu_msg(b, conv), &k, mu_user(a), pc_device(a->c),
            "text/plain", body, 6, "a body holding U+0000");
  mu_page *p = mu_history(b, conv, NULL, NULL, NULL);
  if (p->msgs.n != 1)
    pc_fail(t, "HISTORY holds %zu messages, expected 1", p->msgs.n);
  mu_msg_is(t, p->msgs.v[0], &k, mu_user(a), pc_device(a->c), "text/plain",
            body, 6, "the body holding U+0000 in HISTORY");
}

/* spec: SEND-1 DELIV-1 */
static void empty_body(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *req = mu_req(a);
  mu_ack k[2];

  mu_ack_of(a, mu_send(a, conv, pc_uniq(t, "t"), NULL, NULL, 0), &k[0]);
  mu_pace(a);
  pc_send_textf(a->c, "SEND\r\nconv: %s\r\ntemp-id: %s\r\nreq: %s\r\n"
                "content-length: 0\r\n\r\n", conv, pc_uniq(t, "t"), req);
  mu_ack_of(a, req, &k[1]);
  for (size_t i = 0; i < 2; i++)
    mu_msg_is(t, mu_msg(b, conv), &k[i], mu_user(a), pc_device(a->c),
              "text/plain", "", 0, "an empty body");
}

/* ---- idempotent retry (5.1) ---- */

/* spec: SEND-3 */
static void retry_same_session(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *temp_id = pc_uniq(t, "t");
  mu_ack first, again;

  mu_ack_of(a, mu_send(a, conv, temp_id, NULL, "once", 4), &first);
  mu_ack_of(a, mu_send(a, conv, temp_id, NULL, "once", 4), &again);
  mu_same_ack(t, &first, &again, "the repeated SEND");
  mu_ack marker = mu_post(a, conv, "marker");
  if (marker.seq != first.seq + 1)
    pc_fail(t, "the message after the repeat got seq %llu, expected %llu: "
            "the repeat was stored", (unsigned long long)marker.seq,
            (unsigned long long)(first.seq + 1));
  saw_each_once(b, conv, &marker, "the other member's session");
  saw_each_once(a, conv, &marker, "the sender's session");
  history_holds_once(b, conv, 2, temp_id, "once");
}

/* spec: SEND-3 SEND-7 */
static void retry_pipelined(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *temp_id = pc_uniq(t, "t");
  const char *r1 = mu_send(a, conv, temp_id, NULL, "twice", 5);
  const char *r2 = mu_send(a, conv, temp_id, NULL, "twice", 5);
  mu_ack first, again;

  mu_ack_of(a, r1, &first);
  mu_ack_of(a, r2, &again);
  mu_same_ack(t, &first, &again, "the SEND repeated before its ACK");
  mu_ack marker = mu_post(a, conv, "marker");
  if (marker.seq != 2)
    pc_fail(t, "the message after the repeat got seq %llu, expected 2: "
            "the repeat was stored", (unsigned long long)marker.seq);
  saw_each_once(b, conv, &marker, "the other member's session");
  history_holds_once(b, conv, 2, temp_id, "twice");
}

/* spec: SEND-3 */
static void retry_after_reconnect(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *dev = pc_device(a->c);
  const char *temp_id = pc_uniq(t, "t");
  mu_ack first, again;

  mu_ack_of(a, mu_send(a, conv, temp_id, NULL, "kept", 4), &first);
  pc_close(a->c, 1000);
  mu_sess *a2 = mu_open(t, 0, dev, false);
  mu_ack_of(a2, mu_send(a2, conv, temp_id, NULL, "kept", 4), &again);
  mu_same_ack(t, &first, &again, "the SEND repeated on a new session");
  mu_ack marker = mu_post(a2, conv, "marker");
  saw_each_once(b, conv, &marker, "the other member's session");
  if (marker.seq != 2)
    pc_fail(t, "the message after the repeat got seq %llu, expected 2",
            (unsigned long long)marker.seq);
  history_holds_once(b, conv, 2, temp_id, "kept");
}

/* spec: SEND-3 SEND-7 */
static void retry_after_drop(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *dev = pc_device(a->c);
  const char *temp_id = pc_uniq(t, "t");
  mu_ack first, again;

  mu_send(a, conv, temp_id, NULL, "lost ack", 8);
  pc_drop(a->c);
  mu_sess *a2 = mu_open(t, 0, dev, false);
  mu_ack_of(a2, mu_send(a2, conv, temp_id, NULL, "lost ack", 8), &first);
  if (first.seq != 1)
    pc_fail(t, "the only message of the conversation got seq %llu",
            (unsigned long long)first.seq);
  mu_ack_of(a2, mu_send(a2, conv, temp_id, NULL, "lost ack", 8), &again);
  mu_same_ack(t, &first, &again, "the second repeat");
  mu_ack marker = mu_post(a2, conv, "marker");
  saw_each_once(b, conv, &marker, "the other member's session");
  history_holds_once(b, conv, 2, temp_id, "lost ack");
}

#define CONCURRENT_PAIRS 10

/* spec: SEND-3 SEND-7 */
static void retry_concurrent_sessions(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a1 = mu_open(t, 0, NULL, false);
  mu_sess *a2 = mu_open(t, 0, pc_device(a1->c), false);
  const char *r1[CONCURRENT_PAIRS], *r2[CONCURRENT_PAIRS];
  mu_ack k1, k2;

  for (size_t i = 0; i < CONCURRENT_PAIRS; i++) {
    const char *temp_id = pc_uniq(t, "t");
    const char *body = pc_printf(t, "pair %zu", i);
    r1[i] = mu_send(a1, conv, temp_id, NULL, body, strlen(body));
    r2[i] = mu_send(a2, conv, temp_id, NULL, body, strlen(body));
  }
  for (size_t i = 0; i < CONCURRENT_PAIRS; i++) {
    mu_ack_of(a1, r1[i], &k1);
    mu_ack_of(a2, r2[i], &k2);
    mu_same_ack(t, &k1, &k2, "the same SEND from two sessions of a device");
  }
  mu_ack marker = mu_post(a1, conv, "marker");
  if (marker.seq != CONCURRENT_PAIRS + 1)
    pc_fail(t, "%d pairs of one SEND and then a marker: the marker got "
            "seq %llu, expected %d", CONCURRENT_PAIRS,
            (unsigned long long)marker.seq, CONCURRENT_PAIRS + 1);
  saw_each_once(b, conv, &marker, "the other member's session");
}

/* spec: SEND-4 */
static void retry_conflict_body(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *temp_id = pc_uniq(t, "t");
  mu_ack first;

  mu_ack_of(a, mu_send(a, conv, temp_id, NULL, "first", 5), &first);
  mu_expect_err(a, "temp-id-conflict",
                mu_send(a, conv, temp_id, NULL, "other", 5), NULL);
  mu_expect_err(a, "temp-id-conflict",
                mu_send(a, conv, temp_id, NULL, "first ", 6), NULL);
  mu_ack marker = mu_post(a, conv, "marker");
  if (marker.seq != 2)
    pc_fail(t, "the message after the conflicts got seq %llu, expected 2",
            (unsigned long long)marker.seq);
  history_holds_once(a, conv, 2, temp_id, "first");
}

/* spec: SEND-4 */
static void retry_conflict_conv(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  const char *conv2 = conv_ab(t);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *temp_id = pc_uniq(t, "t");
  mu_ack first;

  mu_ack_of(a, mu_send(a, conv, temp_id, NULL, "here", 4), &first);
  mu_expect_err(a, "temp-id-conflict",
                mu_send(a, conv2, temp_id, NULL, "here", 4), NULL);
  mu_ack k = mu_post(a, conv2, "first of conv2");
  if (k.seq != 1)
    pc_fail(t, "the first message of the second conversation got seq "
            "%llu: the conflicting SEND was stored there",
            (unsigned long long)k.seq);
}

/* spec: SEND-3 SEND-4 */
static void retry_content_type_not_compared(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *temp_id = pc_uniq(t, "t");
  mu_ack first, again;

  mu_ack_of(a, mu_send(a, conv, temp_id, "text/plain", "same", 4), &first);
  mu_ack_of(a, mu_send(a, conv, temp_id, "text/markdown", "same", 4),
            &again);
  mu_same_ack(t, &first, &again, "a repeat with another content-type");
  mu_page *p = mu_history(a, conv, NULL, NULL, NULL);
  if (p->msgs.n != 1)
    pc_fail(t, "HISTORY holds %zu messages, expected 1", p->msgs.n);
  mu_msg_is(t, p->msgs.v[0], &first, mu_user(a), pc_device(a->c),
            "text/plain", "same", 4, "the message keeps its first type");
}

/* spec: SEND-3 */
static void retry_other_device(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a1 = mu_open(t, 0, NULL, false);
  mu_sess *a2 = mu_open(t, 0, NULL, false);
  const char *temp_id = pc_uniq(t, "t");
  mu_ack k1, k2;

  mu_ack_of(a1, mu_send(a1, conv, temp_id, NULL, "same", 4), &k1);
  mu_ack_of(a2, mu_send(a2, conv, temp_id, NULL, "same", 4), &k2);
  if (strcmp(k1.msg_id, k2.msg_id) == 0 || k2.seq != k1.seq + 1)
    pc_fail(t, "two devices of one user sent temp-id %s: msg-ids %s and "
            "%s, seqs %llu and %llu; a temp-id is scoped to its device, so "
            "these are two messages", temp_id, k1.msg_id, k2.msg_id,
            (unsigned long long)k1.seq, (unsigned long long)k2.seq);
  mu_msg_is(t, mu_msg(b, conv), &k1, mu_user(a1), pc_device(a1->c),
            "text/plain", "same", 4, "the first device's message");
  mu_msg_is(t, mu_msg(b, conv), &k2, mu_user(a2), pc_device(a2->c),
            "text/plain", "same", 4, "the second device's message");
}

/* spec: SEND-3 */
static void retry_other_user(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *a = mu_open(t, 0, NULL, false);
  mu_sess *b = mu_open(t, 1, NULL, false);
  const char *temp_id = pc_uniq(t, "t");
  mu_ack ka, kb, kc;

  mu_ack_of(a, mu_send(a, conv, temp_id, NULL, "same", 4), &ka);
  mu_ack_of(b, mu_send(b, conv, temp_id, NULL, "same", 4), &kb);
  if (strcmp(ka.msg_id, kb.msg_id) == 0 || kb.seq != ka.seq + 1)
    pc_fail(t, "two users sent temp-id %s: msg-ids %s and %s, seqs %llu "
            "and %llu; these are two messages", temp_id, ka.msg_id,
            kb.msg_id, (unsigned long long)ka.seq,
            (unsigned long long)kb.seq);
  mu_sess *c = mu_open(t, 2, NULL, false);
  const int members[] = {2};
  const char *conv2 = mu_group(t, 0, members, 1);
  mu_ack_of(c, mu_send(c, conv2, temp_id, NULL, "another body", 12), &kc);
  if (kc.seq != 1)
    pc_fail(t, "a third user's first message with temp-id %s got seq %llu",
            temp_id, (unsigned long long)kc.seq);
}

/* spec: SEND-4 SEND-6 SEND-10 */
static void retry_after_refusal(pc_ctx *t)
{
  const char *conv = conv_ab(t);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *temp_id = pc_uniq(t, "t");
  size_t n = (size_t)max_body(a) + 1;
  mu_ack k;

  mu_expect_err(a, "not-found",
                mu_send(a, pc_uniq(t, "c"), temp_id, NULL, "x", 1), NULL);
  mu_expect_err(a, "frame-too-large",
                mu_send(a, conv, temp_id, NULL, mu_body(t, n, "big"), n),
                NULL);
  mu_expect_err(a, "bad-value",
                mu_send(a, conv, temp_id, "text", "y", 1), "content-type");
  mu_ack_of(a, mu_send(a, conv, temp_id, NULL, "stored", 6), &k);
  if (k.seq != 1)
    pc_fail(t, "the first stored message got seq %llu",
            (unsigned long long)k.seq);
}

static const pc_case cases[] = {
  {"send.ack-fields",
   "An accepted SEND is answered with ACK carrying its conv and temp-id, "
   "a msg-id, seq 1 in a new conversation, a ts in milliseconds and its "
   "req.", "SEND-1 SEND-2 REQ-1", PC_MUST, NULL, ack_fields},
  {"send.ack-means-stored",
   "As soon as its ACK has come, a message is in the history another "
   "member reads and within the conversation's last_seq: the ACK follows "
   "the commit.", "SEND-1 DUR-1 SYNC-1", PC_MUST, NULL,
   ack_means_stored},
  {"send.msg-id-unique",
   "Messages of different conversations, senders and sessions, sent at "
   "once, never share a msg-id.", "SEND-11 SEND-1", PC_MUST, NULL,
   msg_id_unique},
  {"send.msg-matches-ack",
   "The MSG of a sent message, on the sender's and the other member's "
   "sessions, carries the ACK's msg-id, seq and ts, the sending user, "
   "device and temp-id, pos and the body as sent.",
   "SEND-1 DELIV-1 SEC-3", PC_MUST, NULL, msg_matches_ack},
  {"send.content-type-default",
   "A SEND without content-type is delivered and kept as text/plain.",
   "DELIV-1 HIST-1", PC_MUST, NULL, content_type_default},
  {"send.content-type-kept",
   "A SEND's content-type is delivered and kept exactly as it came.",
   "DELIV-1 HIST-1", PC_MUST, NULL, content_type_kept},
  {"send.bad-content-type",
   "A content-type outside RFC 9110's media-type or past 127 octets gets "
   "bad-value naming the header and stores nothing; 127 octets pass.",
   "FRAME-11 FRAME-7", PC_MUST, NULL, bad_content_type},
  {"send.missing-header",
   "A SEND without conv or temp-id gets missing-header naming it and "
   "stores nothing.", "FRAME-11 FRAME-7", PC_MUST, NULL, missing_header},
  {"send.bad-temp-id",
   "A temp-id that is not 1 to 64 of [A-Za-z0-9_-] gets bad-value naming "
   "it and stores nothing; 64 characters pass.",
   "FRAME-11 FRAME-7 SEND-1", PC_MUST, NULL, bad_temp_id},
  {"send.bad-conv",
   "A conv that is not an id gets bad-value naming it, not not-found.",
   "FRAME-11 SEND-6", PC_MUST, NULL, bad_conv},
  {"send.not-found",
   "A SEND to a conversation that does not exist gets not-found and "
   "stores nothing.", "SEND-6", PC_MUST, NULL, not_found},
  {"send.max-body-accepted",
   "A body of exactly WELCOME's max-body octets is accepted and "
   "delivered whole.", "SEND-10 DELIV-1", PC_MUST, NULL,
   max_body_accepted},
  {"send.max-body-exceeded",
   "A body one octet past max-body gets frame-too-large and stores "
   "nothing, not even a temp-id key.", "SEND-10", PC_MUST, NULL,
   max_body_exceeded},
  {"send.utf8-body",
   "A body of multi-line UTF-8 text (example send-utf8) is delivered and "
   "kept octet for octet.", "FRAME-5 EXT-1 DELIV-1 HIST-1", PC_MUST, NULL,
   utf8_body},
  {"send.body-with-nul",
   "A body holding U+0000 is delivered and kept by its length.",
   "SEC-18 DELIV-1 HIST-1", PC_MUST, NULL, body_with_nul},
  {"send.empty-body",
   "A SEND without a body, or with content-length 0, is accepted and "
   "delivered with an empty body.", "SEND-1 DELIV-1", PC_MUST, NULL,
   empty_body},
  {"send.retry-same-session",
   "A SEND repeated on the same session gets the same ACK, and no second "
   "message is stored or delivered.", "SEND-3", PC_MUST, NULL,
   retry_same_session},
  {"send.retry-pipelined",
   "A SEND repeated before its ACK came gets the same ACK once the first "
   "is durable, and no second message.", "SEND-3 SEND-7", PC_MUST, NULL,
   retry_pipelined},
  {"send.retry-after-reconnect",
   "A SEND repeated by the same device on a new session gets the same "
   "ACK.", "SEND-3", PC_MUST, NULL, retry_after_reconnect},
  {"send.retry-after-drop",
   "A SEND whose connection dropped before its ACK, repeated by the same "
   "device on a new session, makes exactly one message.",
   "SEND-3 SEND-7", PC_MUST, NULL, retry_after_drop},
  {"send.retry-concurrent-sessions",
   "Two sessions of one device sending the same SEND at once get the same "
   "ACK and make one message.", "SEND-3 SEND-7", PC_MUST, NULL,
   retry_concurrent_sessions},
  {"send.retry-conflict-body",
   "A temp-id repeated with another body gets temp-id-conflict and the "
   "stored message is unchanged.", "SEND-4", PC_MUST, NULL,
   retry_conflict_body},
  {"send.retry-conflict-conv",
   "A temp-id repeated in another conversation gets temp-id-conflict and "
   "stores nothing there.", "SEND-4", PC_MUST, NULL, retry_conflict_conv},
  {"send.retry-content-type-not-compared",
   "A repeat that differs only in content-type gets the same ACK, and the "
   "message keeps its first content-type.", "SEND-3 SEND-4", PC_MUST, NULL,
   retry_content_type_not_compared},
  {"send.retry-other-device",
   "The same temp-id from another device of the same user makes a second "
   "message: dedup is scoped to the device.", "SEND-3", PC_MUST, NULL,
   retry_other_device},
  {"send.retry-other-user",
   "The same temp-id from another user makes a message of its own.",
   "SEND-3", PC_MUST, NULL, retry_other_user},
  {"send.retry-after-refusal",
   "A temp-id whose SENDs were refused (not-found, frame-too-large, "
   "bad-value) is free for a first message.", "SEND-4 SEND-6 SEND-10",
   PC_MUST, NULL, retry_after_refusal},
};

const pc_suite pc_suite_send = {"send", false, cases, PC_COUNT(cases)};
