/* Conformance cases: receipt (spec section 7).
 *
 * `receipts` is an optional capability (spec 4.3), so each case first
 * checks that the target lists it in WELCOME and is skipped otherwise. A
 * target that lists it handles RECEIPT as section 7 says and relays the
 * raised values to every READY session of every member, sessions that
 * did not name the capability included.
 *
 * A receipt that changes nothing is relayed to no one; the cases check
 * that by raising a value afterwards and reading every RECEIPT of the
 * conversation up to the relay of that raise: the relay of a value that
 * should not have changed would come before it (DELIV-3 orders events
 * by position), so nothing waits on a timer. */
#include <string.h>

#include "msg_util.h"

/* Sends RECEIPT kind/seq for conv on s and returns the req. */
static const char *receipt(mu_sess *s, const char *conv, const char *kind,
                           const char *seq)
{
  const char *req = mu_req(s);
  mu_pace(s);
  pc_send(s->c, "RECEIPT", NULL, "conv", conv, "kind", kind, "seq", seq,
          "req", req, NULL);
  return req;
}

/* Sends a RECEIPT and fails unless it is answered OK. */
static void receipt_ok(mu_sess *s, const char *conv, const char *kind,
                       uint64_t seq)
{
  const char *v = pc_printf(s->t, "%llu", (unsigned long long)seq);
  const char *req = receipt(s, conv, kind, v);
  pc_frame *f = pc_expect_req(s->c, req, PC_WAIT);
  if (strcmp(f->verb, "OK") != 0)
    pc_fail(s->t, "RECEIPT %s %s answered %s %s, expected OK (RCPT-1)",
            kind, v, f->verb, pc_hdr_show(f, "reason"));
}

/* Fails unless f is the relay of user's kind/seq in conv (RCPT-3). */
static void is_relay(pc_ctx *t, const pc_frame *f, const char *conv,
                     const char *user, const char *kind, uint64_t seq,
                     const char *who)
{
  if (strcmp(f->verb, "RECEIPT") != 0 ||
      strcmp(mu_hdr(t, f, "conv"), conv) != 0 ||
      strcmp(mu_hdr(t, f, "user"), user) != 0 ||
      strcmp(mu_hdr(t, f, "kind"), kind) != 0 || mu_seq(t, f) != seq)
    pc_fail(t, "%s: expected RECEIPT of %s %s %llu, got %s user %s kind "
            "%s seq %s", who, user, kind, (unsigned long long)seq,
            f->verb, pc_hdr_show(f, "user"), pc_hdr_show(f, "kind"),
            pc_hdr_show(f, "seq"));
  if (!mu_is_id(pc_hdr(f, "pos")) || pc_hdr(f, "req") != NULL)
    pc_fail(t, "%s: a relayed RECEIPT carries pos and no req (RCPT-3); "
            "got pos %s req %s", who, pc_hdr_show(f, "pos"),
            pc_hdr_show(f, "req"));
}

/* An expected relay. */
typedef struct relay {
  const char *user;
  const char *kind;
  uint64_t seq;
} relay;

/* Reads w's frames of conv up to the first RECEIPT with the seq of
 * want[n-1] (which no earlier entry may share) and fails unless its
 * RECEIPT frames are exactly want[0..n-1], in order. */
static void relays_are(mu_sess *w, const char *conv, const relay *want,
                       size_t n, const char *who)
{
  pc_ctx *t = w->t;
  mu_list l = {0};
  size_t k = 0;
  const char *last = pc_printf(t, "%llu", (unsigned long long)want[n - 1].seq);

  mu_until(w, conv, NULL, "RECEIPT", "seq", last, &l,
           pc_printf(t, "the RECEIPT with seq %s on %s", last, who));
  for (size_t i = 0; i < l.n; i++) {
    if (strcmp(l.v[i]->verb, "RECEIPT") != 0)
      continue;
    if (k == n)
      pc_fail(t, "%s: more RECEIPT frames than the %zu raises", who, n);
    is_relay(t, l.v[i], conv, want[k].user, want[k].kind, want[k].seq, who);
    k++;
  }
  if (k != n)
    pc_fail(t, "%s: %zu RECEIPT frames, expected %zu", who, k, n);
}

/* Opens a session of `user` and skips the case unless the target offers
 * receipts. */
static mu_sess *open_rcpt(pc_ctx *t, int user)
{
  mu_sess *s = mu_open(t, user, NULL, false);
  mu_need_cap(s, "receipts");
  return s;
}

/* spec: RCPT-1 RCPT-3 REQ-1 */
static void relayed_to_all(pc_ctx *t)
{
  const int members[] = {1, 2};
  const char *conv = mu_group(t, 0, members, 2);
  mu_sess *s[5];
  static const char *const who[] = {
    "the first member's session", "the first member's other device",
    "the receipt's sending session", "the receipt sender's other device",
    "the third member's session"};

  s[0] = open_rcpt(t, 0);
  s[1] = mu_open(t, 0, NULL, false);
  s[2] = mu_open(t, 1, NULL, false);
  s[3] = mu_open(t, 1, NULL, false);
  s[4] = mu_open(t, 2, NULL, false);
  mu_fill(s[0], conv, 3, "receipt me");
  receipt_ok(s[2], conv, "delivered", 2);
  receipt_ok(s[2], conv, "read", 1);
  const relay want[] = {{pc_user(t, 1), "delivered", 2},
                        {pc_user(t, 1), "read", 1}};
  for (size_t i = 0; i < 5; i++)
    relays_are(s[i], conv, want, 2, who[i]);
}

/* spec: RCPT-1 */
static void never_lowered(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *a = open_rcpt(t, 0);
  mu_sess *b = mu_open(t, 1, NULL, false);
  const char *bu = pc_user(t, 1);

  mu_fill(a, conv, 4, "cumulative");
  receipt_ok(b, conv, "delivered", 3);
  receipt_ok(b, conv, "delivered", 2);
  receipt_ok(b, conv, "delivered", 3);
  receipt_ok(b, conv, "delivered", 1);
  receipt_ok(b, conv, "read", 2);
  receipt_ok(b, conv, "read", 1);
  receipt_ok(b, conv, "read", 2);
  receipt_ok(b, conv, "delivered", 4);
  const relay want[] = {{bu, "delivered", 3}, {bu, "read", 2},
                        {bu, "delivered", 4}};
  relays_are(a, conv, want, 3, "the other member's session");
  relays_are(b, conv, want, 3, "the receipt's sending session");
}

/* spec: RCPT-2 RCPT-1 */
static void beyond_last_seq(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  const char *empty = mu_group(t, 0, members, 1);
  mu_sess *a = open_rcpt(t, 0);
  mu_sess *b = mu_open(t, 1, NULL, false);

  mu_fill(a, conv, 2, "only two");
  mu_expect_err(b, "bad-value", receipt(b, conv, "delivered", "3"), NULL);
  mu_expect_err(b, "bad-value", receipt(b, conv, "read", "3"), NULL);
  mu_expect_err(b, "bad-value", receipt(b, conv, "read", "1000000"), NULL);
  mu_expect_err(b, "bad-value", receipt(b, empty, "delivered", "1"), NULL);
  receipt_ok(b, conv, "delivered", 2);
  receipt_ok(b, conv, "read", 1);
  const relay want[] = {{pc_user(t, 1), "delivered", 2},
                        {pc_user(t, 1), "read", 1}};
  relays_are(a, conv, want, 2, "the other member's session");
}

/* Sends a RECEIPT built from the text `headers` (lines ending CRLF) and
 * expects `reason`, naming `header` when it is not NULL. */
static void refused(mu_sess *s, const char *headers, const char *reason,
                    const char *header)
{
  const char *req = mu_req(s);
  mu_text(s, pc_printf(s->t, "RECEIPT\r\n%sreq: %s\r\n\r\n", headers, req));
  mu_expect_err(s, reason, req, header);
}

/* spec: FRAME-11 FRAME-7 */
static void bad_values(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *a = open_rcpt(t, 0);
  mu_sess *b = mu_open(t, 1, NULL, false);
  const char *c = pc_printf(t, "conv: %s\r\n", conv);

  mu_fill(a, conv, 1, "one");
  static const char *const kinds[] = {"seen", "", "Read", "read,delivered"};
  for (size_t i = 0; i < PC_COUNT(kinds); i++)
    refused(b, pc_printf(t, "%skind: %s\r\nseq: 1\r\n", c, kinds[i]),
            "bad-value", "kind");
  static const char *const seqs[] = {"0", "01", "x", "-1", "", "1.0"};
  for (size_t i = 0; i < PC_COUNT(seqs); i++)
    refused(b, pc_printf(t, "%skind: read\r\nseq: %s\r\n", c, seqs[i]),
            "bad-value", "seq");
  refused(b, "conv: c.1\r\nkind: read\r\nseq: 1\r\n", "bad-value", "conv");
  refused(b, "kind: read\r\nseq: 1\r\n", "missing-header", "conv");
  refused(b, pc_printf(t, "%sseq: 1\r\n", c), "missing-header", "kind");
  refused(b, pc_printf(t, "%skind: read\r\n", c), "missing-header", "seq");
  receipt_ok(b, conv, "delivered", 1);
  const relay want[] = {{pc_user(t, 1), "delivered", 1}};
  relays_are(a, conv, want, 1, "the other member's session");
}

/* spec: RCPT-2 SEC-2 */
static void not_found(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *a = open_rcpt(t, 0);
  mu_sess *c = mu_open(t, 2, NULL, false);
  const char *missing = pc_uniq(t, "c");

  mu_fill(a, conv, 1, "members only");
  mu_expect_err(c, "not-found", receipt(c, missing, "read", "1"), NULL);
  mu_expect_err(c, "not-found", receipt(c, missing, "delivered", "999999"),
                NULL);
  mu_expect_err(c, "not-found", receipt(c, conv, "read", "1"), NULL);
  mu_expect_err(c, "not-found", receipt(c, conv, "delivered", "999999"),
                NULL);
}

/* spec: RCPT-1 RCPT-3 */
static void per_user_and_conversation(pc_ctx *t)
{
  const int members[] = {1, 2};
  const char *x = mu_group(t, 0, members, 2);
  const char *y = mu_group(t, 0, members, 2);
  mu_sess *a = open_rcpt(t, 0);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *c = mu_open(t, 2, NULL, false);
  const char *bu = pc_user(t, 1), *cu = pc_user(t, 2);

  mu_fill(a, x, 3, "x");
  mu_fill(a, y, 3, "y");
  receipt_ok(b, x, "read", 2);
  receipt_ok(c, x, "read", 1);
  receipt_ok(b, y, "read", 1);
  receipt_ok(c, x, "read", 3);
  receipt_ok(b, y, "read", 3);
  const relay want[] = {{bu, "read", 2}, {cu, "read", 1}, {bu, "read", 1},
                        {cu, "read", 3}, {bu, "read", 3}};
  const char *in_x[] = {x, x, y, x, y};
  mu_list l = {0}, r = {0};

  mu_until(a, x, y, "RECEIPT", "conv", y, &l, "a RECEIPT of y");
  while (pc_hdr(l.v[l.n - 1], "seq") == NULL ||
         !pc_hdr_is(l.v[l.n - 1], "seq", "3"))
    mu_until(a, x, y, "RECEIPT", "conv", y, &l, "the RECEIPT of y seq 3");
  for (size_t i = 0; i < l.n; i++)
    if (strcmp(l.v[i]->verb, "RECEIPT") == 0)
      mu_push(t, &r, l.v[i]);
  if (r.n != 5)
    pc_fail(t, "%zu RECEIPT frames for five raises in two conversations",
            r.n);
  for (size_t i = 0; i < 5; i++)
    is_relay(t, r.v[i], in_x[i], want[i].user, want[i].kind, want[i].seq,
             "receipts of two members in two conversations");
}

/* spec: RCPT-3 SYNC-1 */
static void in_sync_answer(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *a = mu_open(t, 0, NULL, true);
  mu_sess *b = mu_open(t, 1, NULL, true);
  const char *pos_a = pc_pos(a->c), *pos_b = pc_pos(b->c);
  const char *bu = pc_user(t, 1);
  mu_list ev_a = {0}, ev_b = {0};

  mu_need_cap(a, "receipts");
  mu_ack *k = mu_fill(a, conv, 2, "synced");
  receipt_ok(b, conv, "delivered", 1);
  receipt_ok(b, conv, "read", 2);
  receipt_ok(b, conv, "read", 1);
  mu_sess *a2 = mu_open(t, 0, pc_device(a->c), false);
  mu_sync(a2, pos_a, conv, NULL, &ev_a);
  mu_sess *b2 = mu_open(t, 1, pc_device(b->c), false);
  mu_sync(b2, pos_b, conv, NULL, &ev_b);
  const mu_list *ev[2] = {&ev_a, &ev_b};
  for (size_t i = 0; i < 2; i++) {
    const char *who = i == 0 ? "the sender's SYNC answer"
                             : "the receipt sender's own SYNC answer";
    if (ev[i]->n != 4)
      pc_fail(t, "%s holds %zu events of the conversation, expected two "
              "MSG and two RECEIPT", who, ev[i]->n);
    for (size_t j = 0; j < 2; j++)
      if (strcmp(ev[i]->v[j]->verb, "MSG") != 0 ||
          strcmp(mu_hdr(t, ev[i]->v[j], "msg-id"), k[j].msg_id) != 0)
        pc_fail(t, "%s: event %zu is %s seq %s, expected MSG seq %zu", who,
                j + 1, ev[i]->v[j]->verb, pc_hdr_show(ev[i]->v[j], "seq"),
                j + 1);
    is_relay(t, ev[i]->v[2], conv, bu, "delivered", 1, who);
    is_relay(t, ev[i]->v[3], conv, bu, "read", 2, who);
  }
}

/* Rounds of receipt.ok-means-stored, and the SENDs the other member
 * pipelines in each, so that commits are under way when the OK and the
 * SYNC come. */
#define STORED_ROUNDS 50
#define STORED_LOAD 2

/* Fails unless the RECEIPT frames of `user` in l are read first .. last,
 * once each, in order. */
static void reads_are(pc_ctx *t, const mu_list *l, const char *user,
                      uint64_t first, uint64_t last, const char *what)
{
  uint64_t want = first;

  for (size_t i = 0; i < l->n; i++) {
    const pc_frame *f = l->v[i];
    if (strcmp(f->verb, "RECEIPT") != 0 || !pc_hdr_is(f, "user", user))
      continue;
    if (!pc_hdr_is(f, "kind", "read") || want > last || mu_seq(t, f) != want)
      pc_fail(t, "%s brings RECEIPT %s %s where read %llu was due%s "
              "(RCPT-3, DUR-1, SYNC-1)", what, pc_hdr_show(f, "kind"),
              pc_hdr_show(f, "seq"), (unsigned long long)want,
              want > last ? " (none was)" : "");
    want++;
  }
  if (want != last + 1)
    pc_fail(t, "%s brings read receipts up to %llu, not up to %llu "
            "(SYNC-1)", what, (unsigned long long)(want - 1),
            (unsigned long long)last);
}

/* spec: RCPT-3 DUR-1 SYNC-1 */
static void ok_means_stored(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *a = open_rcpt(t, 0);
  mu_sess *b = mu_open(t, 1, NULL, false);
  const char *pos[STORED_ROUNDS], *load[STORED_ROUNDS * STORED_LOAD];
  mu_list ignored = {0};
  size_t nload = 0;
  mu_ack k;

  mu_fill(a, conv, STORED_ROUNDS, "read me");
  pc_note(t, "%d rounds: %d SENDs pipelined, then a read receipt, its OK "
          "and at once a SYNC without since", STORED_ROUNDS, STORED_LOAD);
  for (uint64_t i = 0; i < STORED_ROUNDS; i++) {
    for (size_t j = 0; j < STORED_LOAD; j++)
      load[nload++] = mu_send(a, conv, pc_uniq(t, "t"), NULL, "load", 4);
    receipt_ok(b, conv, "read", i + 1);
    pos[i] = mu_hdr(t, mu_sync(b, NULL, conv, NULL, &ignored), "pos");
  }
  for (size_t j = 0; j < nload; j++)
    mu_ack_of(a, load[j], &k);
  mu_sess *b2 = mu_open(t, 1, NULL, false);
  for (uint64_t i = 0; i < STORED_ROUNDS; i++) {
    mu_list ev = {0};
    mu_sync(b2, pos[i], conv, NULL, &ev);
    reads_are(t, &ev, mu_user(b), i + 2, STORED_ROUNDS,
              pc_printf(t, "SYNC since the position a SYNC named right "
                        "after the OK of read %llu", (unsigned long long)
                        (i + 1)));
  }
}

/* spec: RCPT-3 */
static void session_without_cap(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *a = open_rcpt(t, 0);
  mu_sess *bare = mu_open_caps(t, 0, NULL, "", false);
  mu_sess *b = mu_open(t, 1, NULL, false);

  mu_fill(a, conv, 1, "one");
  receipt_ok(b, conv, "read", 1);
  const relay want[] = {{pc_user(t, 1), "read", 1}};
  relays_are(bare, conv, want, 1, "a session that named no capability");
}

static const pc_case cases[] = {
  {"receipt.relayed-to-all",
   "A RECEIPT that raises a value is answered OK and relayed with conv, "
   "user, kind, seq and pos to every session of every member, the "
   "sender's own sessions included.", "RCPT-1 RCPT-3 REQ-1", PC_MUST,
   "receipts", relayed_to_all},
  {"receipt.never-lowered",
   "A receipt at or below the kept value is answered OK, changes nothing "
   "and is relayed to no one: receipts are cumulative.", "RCPT-1",
   PC_MUST, "receipts", never_lowered},
  {"receipt.beyond-last-seq",
   "A receipt past the conversation's last seq gets bad-value and keeps "
   "nothing.", "RCPT-2 RCPT-1", PC_MUST, "receipts", beyond_last_seq},
  {"receipt.bad-values",
   "A RECEIPT with a kind, seq or conv outside its definition gets "
   "bad-value, one without a required header missing-header, each naming "
   "the header and changing nothing.", "FRAME-11 FRAME-7", PC_MUST,
   "receipts", bad_values},
  {"receipt.not-found",
   "A receipt for a conversation that does not exist, or that the user "
   "is not in, gets not-found, whatever its seq.", "RCPT-2 SEC-2",
   PC_MUST, "receipts", not_found},
  {"receipt.per-user-and-conversation",
   "Receipt values are kept per conversation and per user: one member's "
   "value does not cover another's, nor another conversation's.",
   "RCPT-1 RCPT-3", PC_MUST, "receipts", per_user_and_conversation},
  {"receipt.in-sync-answer",
   "Raised receipts are events: a SYNC answer holds them in position "
   "order after the messages, for the members and for the receipt's own "
   "user.", "RCPT-3 SYNC-1", PC_MUST, "receipts", in_sync_answer},
  {"receipt.ok-means-stored",
   "A receipt is durable when its OK comes: a SYNC without since sent "
   "right after names a position past it, fifty times over while another "
   "member's SENDs are being stored.", "RCPT-3 DUR-1 SYNC-1", PC_MUST,
   "receipts", ok_means_stored},
  {"receipt.session-without-cap",
   "A session that did not name receipts still gets the relayed RECEIPT "
   "frames.", "RCPT-3", PC_MUST, "receipts", session_without_cap},
};

const pc_suite pc_suite_receipt = {"receipt", false, cases,
                                   PC_COUNT(cases)};
