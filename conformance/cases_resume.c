/* Conformance cases: resume (spec sections 6.1 and 8.1): SYNC returns
 * exactly the events after the position it names, in position order,
 * then SYNCED; positions taken from SYNCED on resume without loss or
 * repeat; events that become durable during a SYNC answer arrive once.
 *
 * The run's accounts are shared with other cases, so a SYNC answer holds
 * events of their conversations too; the cases look only at the events
 * of the conversations they made. Positions are opaque: the cases keep
 * them and send them back, and never compare or compute with them. */
#include <stdint.h>
#include <string.h>

#include "msg_util.h"

/* Fails unless MSG m is the message of ACK k. */
static void msg_of(pc_ctx *t, const pc_frame *m, const mu_ack *k,
                   const char *who)
{
  if (strcmp(m->verb, "MSG") != 0 ||
      strcmp(mu_hdr(t, m, "msg-id"), k->msg_id) != 0 || mu_seq(t, m) != k->seq)
    pc_fail(t, "%s: expected MSG seq %llu msg-id %s, got %s seq %s msg-id "
            "%s", who, (unsigned long long)k->seq, k->msg_id, m->verb,
            pc_hdr_show(m, "seq"), pc_hdr_show(m, "msg-id"));
}

/* spec: SYNC-1 DELIV-2 */
static void since_held_pos(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *a = mu_open(t, 0, NULL, true);
  const char *pos = pc_pos(a->c);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_ack *k = mu_fill(b, conv, 3, "missed");
  mu_list ev = {0};

  mu_sess *a2 = mu_open(t, 0, pc_device(a->c), false);
  const pc_frame *synced = mu_sync(a2, pos, conv, NULL, &ev);
  if (ev.n != 3)
    pc_fail(t, "the SYNC answer holds %zu events of the conversation, "
            "expected its 3 messages", ev.n);
  for (size_t i = 0; i < 3; i++) {
    mu_msg_is(t, ev.v[i], &k[i], mu_user(b), pc_device(b->c), "text/plain",
              pc_printf(t, "missed %zu", i + 1), strlen("missed 1"),
              "a message in the SYNC answer");
  }
  pc_note(t, "SYNCED pos %s", pc_hdr_show(synced, "pos"));
}

/* Reads a's live MSG frames of conv up to msg-id `last` and returns the
 * pos of the one with seq `seq`. */
static const char *live_pos(mu_sess *a, const char *conv, const char *last,
                            uint64_t seq)
{
  mu_list l = {0};
  mu_until(a, conv, NULL, "MSG", "msg-id", last, &l, "a live MSG");
  for (size_t i = 0; i < l.n; i++)
    if (strcmp(l.v[i]->verb, "MSG") == 0 && mu_seq(a->t, l.v[i]) == seq)
      return mu_hdr(a->t, l.v[i], "pos");
  pc_fail(a->t, "no live MSG seq %llu came", (unsigned long long)seq);
}

/* spec: SYNC-1 DELIV-3 DELIV-8 */
static void since_live_pos(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *a = mu_open(t, 0, NULL, true);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_ack *k = mu_fill(b, conv, 3, "live");
  const char *pos2 = live_pos(a, conv, k[2].msg_id, 2);
  mu_list ev = {0};

  mu_sess *a2 = mu_open(t, 0, NULL, false);
  mu_sync(a2, pos2, conv, NULL, &ev);
  if (ev.n != 1)
    pc_fail(t, "SYNC since the pos of live MSG seq 2 holds %zu events of "
            "the conversation, expected only seq 3 (the event at since is "
            "not sent again)", ev.n);
  msg_of(t, ev.v[0], &k[2], "SYNC since the pos of seq 2");
}

/* One event, as the cases compare them: verb, conv, seq, and user/kind
 * for a RECEIPT. */
static bool same_event(const pc_frame *x, const pc_frame *y)
{
  static const char *const names[] = {"conv", "seq", "msg-id", "user",
                                      "kind"};
  if (strcmp(x->verb, y->verb) != 0)
    return false;
  for (size_t i = 0; i < PC_COUNT(names); i++) {
    const char *a = pc_hdr(x, names[i]), *b = pc_hdr(y, names[i]);
    if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0))
      return false;
  }
  return true;
}

/* A one-line description of an event. */
static const char *event_text(pc_ctx *t, const pc_frame *f)
{
  return pc_printf(t, "%s seq %s%s%s", f->verb, pc_hdr_show(f, "seq"),
                   pc_hdr(f, "kind") ? " " : "",
                   pc_hdr(f, "kind") ? pc_hdr(f, "kind") : "");
}

/* SYNCs on s since `pos` and fails unless the answer's events of x and y
 * are live->v[from..], in that order. */
static void resumes_after(mu_sess *s, const char *x, const char *y,
                          const char *pos, const mu_list *live, size_t from,
                          const char *what)
{
  pc_ctx *t = s->t;
  mu_list ev = {0};
  size_t want = live->n - from;

  mu_sync(s, pos, x, y, &ev);
  for (size_t j = 0; j < want && j < ev.n; j++)
    if (!same_event(ev.v[j], live->v[from + j]))
      pc_fail(t, "SYNC since the pos of %s: answer event %zu is %s, the "
              "live event in its place was %s", what, j + 1,
              event_text(t, ev.v[j]), event_text(t, live->v[from + j]));
  if (ev.n != want)
    pc_fail(t, "SYNC since the pos of %s holds %zu events of the two "
            "conversations, expected the %zu received live after it", what,
            ev.n, want);
}

/* spec: SYNC-1 DELIV-3 DELIV-8 */
static void every_live_pos(pc_ctx *t)
{
  const int bm[] = {1}, cm[] = {2};
  const char *x = mu_group(t, 0, bm, 1);
  const char *y = mu_group(t, 0, cm, 1);
  mu_sess *a = mu_open(t, 0, NULL, true);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *c = mu_open(t, 2, NULL, false);
  mu_ack last;
  mu_list live = {0};
  const char *caps = pc_hdr(pc_welcome(b->c), "caps");
  bool receipts = caps != NULL && strstr(caps, "receipts") != NULL;

  for (int i = 0; i < 4; i++) {
    mu_post(b, x, "x");
    mu_post(c, y, "y");
  }
  if (receipts) {
    const char *req = mu_req(b);
    mu_pace(b);
    pc_send(b->c, "RECEIPT", NULL, "conv", x, "kind", "read", "seq", "3",
            "req", req, NULL);
    if (strcmp(pc_expect_req(b->c, req, PC_WAIT)->verb, "OK") != 0)
      pc_fail(t, "RECEIPT read 3 was not answered OK");
  }
  last = mu_post(c, y, "last");
  mu_until(a, x, y, "MSG", "msg-id", last.msg_id, &live, "the last MSG");
  mu_sess *a2 = mu_open(t, 0, NULL, false);
  resumes_after(a2, x, y, pc_pos(a->c), &live, 0, "the session's SYNCED");
  for (size_t i = 0; i + 1 < live.n; i++)
    resumes_after(a2, x, y, mu_hdr(t, live.v[i], "pos"), &live, i + 1,
                  pc_printf(t, "live event %zu (%s)", i + 1,
                            event_text(t, live.v[i])));
}

/* spec: SYNC-1 DELIV-8 */
static void without_since(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_fill(b, conv, 2, "old");
  mu_sess *a = mu_open(t, 0, NULL, false);
  mu_list ev = {0}, ev2 = {0};

  const pc_frame *synced = mu_sync(a, NULL, conv, NULL, &ev);
  if (ev.n != 0)
    pc_fail(t, "SYNC without since sent %s of a message stored before; "
            "it sends no past events (spec 8.1)", event_text(t, ev.v[0]));
  const char *pos = mu_hdr(t, synced, "pos");
  mu_ack k = mu_post(b, conv, "new");
  mu_sess *a2 = mu_open(t, 0, NULL, false);
  mu_sync(a2, pos, conv, NULL, &ev2);
  if (ev2.n != 1)
    pc_fail(t, "SYNC since the pos of a SYNCED without since holds %zu "
            "events of the conversation, expected the one message sent "
            "after it", ev2.n);
  msg_of(t, ev2.v[0], &k, "SYNC since the SYNCED pos");
}

/* spec: SYNC-1 DELIV-8 SYNC-4 */
static void synced_pos_is_end(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *a = mu_open(t, 0, NULL, true);
  const char *pos = pc_pos(a->c);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_list ev = {0}, ev2 = {0}, ev3 = {0};

  mu_fill(b, conv, 3, "before");
  mu_sess *a2 = mu_open(t, 0, NULL, false);
  const pc_frame *synced = mu_sync(a2, pos, conv, NULL, &ev);
  mu_check_seqs(t, &ev, 1, 3, "the first SYNC answer");
  const char *end = mu_hdr(t, synced, "pos");
  mu_sync(a2, end, conv, NULL, &ev2);
  if (ev2.n != 0)
    pc_fail(t, "a second SYNC since the first one's SYNCED pos sent %s "
            "again", event_text(t, ev2.v[0]));
  mu_ack k = mu_post(b, conv, "after");
  mu_sess *a3 = mu_open(t, 0, NULL, false);
  mu_sync(a3, end, conv, NULL, &ev3);
  if (ev3.n != 1)
    pc_fail(t, "SYNC since a SYNCED pos holds %zu events of the "
            "conversation, expected the one message sent after it", ev3.n);
  msg_of(t, ev3.v[0], &k, "SYNC since the SYNCED pos");
}

/* Rounds of resume.synced-pos-durable, and the SENDs the other member
 * pipelines right before each SYNC, so that some are being stored when
 * the SYNC comes. */
#define SYNCED_ROUNDS 50
#define SYNCED_LOAD 2

/* The seqs of the MSG frames of l from index `from` on, as text; at
 * most `most` of them, then "...". */
static const char *seqs_from(pc_ctx *t, const mu_list *l, size_t from,
                             size_t most)
{
  char *out = "";
  size_t n = 0;

  for (size_t i = from; i < l->n; i++) {
    if (strcmp(l->v[i]->verb, "MSG") != 0)
      continue;
    if (n++ == most)
      return pc_printf(t, "%s ...", out);
    out = pc_printf(t, "%s%s%s", out, *out ? " " : "",
                    pc_hdr_show(l->v[i], "seq"));
  }
  return out;
}

/* Fails unless the MSG frames of `got` are, in order, those of `seen`
 * after index `after` (compared by seq). */
static void same_msgs(pc_ctx *t, const mu_list *got, const mu_list *seen,
                      size_t after, size_t round)
{
  if (strcmp(seqs_from(t, got, 0, SIZE_MAX),
             seqs_from(t, seen, after + 1, SIZE_MAX)) != 0)
    pc_fail(t, "SYNC since the pos of SYNCED %zu, taken while SENDs were "
            "being stored, brings seqs [%s]; the session that got that "
            "SYNCED received [%s] after it: the position was not the end "
            "of what it had been sent, or not durable (SYNC-1, SYNC-3, "
            "DELIV-3)", round + 1, seqs_from(t, got, 0, 20),
            seqs_from(t, seen, after + 1, 20));
}

/* spec: SYNC-1 SYNC-3 DELIV-3 */
static void synced_pos_durable(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *a = mu_open(t, 0, NULL, false);
  mu_sess *b = mu_open(t, 1, NULL, false);
  const char *pos[SYNCED_ROUNDS], *load[SYNCED_ROUNDS * SYNCED_LOAD];
  size_t at[SYNCED_ROUNDS], nload = 0;
  mu_list seen = {0};
  mu_ack k;

  pc_note(t, "%d rounds: %d SENDs pipelined on one session, then at once "
          "a SYNC without since on another member's session", SYNCED_ROUNDS,
          SYNCED_LOAD);
  for (size_t i = 0; i < SYNCED_ROUNDS; i++) {
    const char *req = mu_req(b);
    for (size_t j = 0; j < SYNCED_LOAD; j++)
      load[nload++] = mu_send(a, conv, pc_uniq(t, "t"), NULL, "load", 4);
    mu_pace(b);
    pc_send(b->c, "SYNC", NULL, "req", req, NULL);
    mu_until(b, conv, NULL, "SYNCED", "req", req, &seen,
             pc_printf(t, "SYNCED req %s", req));
    at[i] = seen.n - 1;
    pos[i] = mu_hdr(t, seen.v[at[i]], "pos");
  }
  for (size_t j = 0; j < nload; j++)
    mu_ack_of(a, load[j], &k);
  mu_until(b, conv, NULL, "MSG", "msg-id", k.msg_id, &seen,
           "the last MSG on the syncing session");
  mu_check_seqs(t, &seen, 1, nload, "the live MSG frames of the syncing "
                "session");
  mu_sess *b2 = mu_open(t, 1, NULL, false);
  for (size_t i = 0; i < SYNCED_ROUNDS; i++) {
    mu_list ev = {0};
    mu_sync(b2, pos[i], conv, NULL, &ev);
    same_msgs(t, &ev, &seen, at[i], i);
  }
}

/* spec: SYNC-5 FRAME-11 */
static void unknown_pos(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  static const char *const bad[] = {"p.1", "", "p 1"};
  const char *req;
  char long_pos[66];
  mu_list ev = {0};

  req = mu_req(a);
  mu_pace(a);
  pc_send(a->c, "SYNC", NULL, "since", pc_uniq(t, "p"), "req", req, NULL);
  mu_expect_err(a, "bad-value", req, NULL);
  for (size_t i = 0; i < PC_COUNT(bad); i++) {
    req = mu_req(a);
    mu_pace(a);
    pc_send(a->c, "SYNC", NULL, "since", bad[i], "req", req, NULL);
    mu_expect_err(a, "bad-value", req, "since");
  }
  memset(long_pos, '7', 65);
  long_pos[65] = '\0';
  req = mu_req(a);
  mu_pace(a);
  pc_send(a->c, "SYNC", NULL, "since", long_pos, "req", req, NULL);
  mu_expect_err(a, "bad-value", req, "since");
  mu_sync(a, NULL, "none", NULL, &ev);
}

#define SYNC4_BACKLOG 30

/* What a session that sent two SYNC frames back to back has seen. */
typedef struct two_syncs {
  const char *conv, *r1, *r2;
  bool synced1;
  size_t msgs;
} two_syncs;

/* Judges one frame on the session of sync_during_sync. Returns true when
 * the case has its answer: the second SYNC refused with bad-state (then
 * the session must close), or answered after the first SYNCED. */
static bool judge(pc_ctx *t, const pc_frame *f, two_syncs *st)
{
  const char *req = pc_hdr(f, "req"), *c = pc_hdr(f, "conv");

  if (strcmp(f->verb, "ERROR") == 0) {
    if (st->synced1)
      pc_fail(t, "the second SYNC, handled after the first one's SYNCED "
              "was sent, got ERROR %s", pc_hdr_show(f, "reason"));
    if (req == NULL || strcmp(req, st->r2) != 0)
      pc_fail(t, "ERROR %s with req %s; the second SYNC had req %s "
              "(ERR-2)", pc_hdr_show(f, "reason"), pc_show(req), st->r2);
    if (strcmp(mu_hdr(t, f, "reason"), "bad-state") != 0 ||
        strcmp(mu_hdr(t, f, "fatal"), "yes") != 0 ||
        pc_hdr_u64(t, f, "code") != 421)
      pc_fail(t, "a SYNC during a SYNC answer got ERROR %s %s fatal %s, "
              "expected 421 bad-state fatal (SYNC-4)",
              pc_hdr_show(f, "code"), pc_hdr_show(f, "reason"),
              pc_hdr_show(f, "fatal"));
    return true;
  }
  if (strcmp(f->verb, "SYNCED") == 0 && req != NULL) {
    if (strcmp(req, st->r1) == 0)
      st->synced1 = true;
    else if (strcmp(req, st->r2) == 0 && !st->synced1)
      pc_fail(t, "the second SYNC got SYNCED before the first one did: "
              "it was answered during the first answer (SYNC-4)");
    else if (strcmp(req, st->r2) == 0)
      return true;
  }
  if (!st->synced1 && strcmp(f->verb, "MSG") == 0 && c != NULL &&
      strcmp(c, st->conv) == 0 && ++st->msgs > SYNC4_BACKLOG)
    pc_fail(t, "more than %d MSG frames of %d messages before the first "
            "SYNCED: two SYNC answers ran at once (SYNC-4)", SYNC4_BACKLOG,
            SYNC4_BACKLOG);
  return false;
}

/* spec: SYNC-4 */
static void sync_during_sync(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *a = mu_open(t, 0, NULL, true);
  const char *pos = pc_pos(a->c);
  mu_sess *b = mu_open(t, 1, NULL, false);
  two_syncs st = {conv, NULL, NULL, false, 0};
  pc_frame *f;

  mu_fill(b, conv, SYNC4_BACKLOG, "backlog");
  mu_sess *a2 = mu_open(t, 0, NULL, false);
  st.r1 = mu_req(a2);
  st.r2 = mu_req(a2);
  mu_pace(a2);
  mu_pace(a2);
  pc_send(a2->c, "SYNC", NULL, "since", pos, "req", st.r1, NULL);
  pc_send(a2->c, "SYNC", NULL, "since", pos, "req", st.r2, NULL);
  do {
    f = pc_recv(a2->c, pc_wait_ms(t));
    if (f == NULL)
      pc_fail(t, "%s before an answer to the second SYNC",
              pc_closed(a2->c) ? "the connection closed" : "nothing came");
  } while (!judge(t, f, &st));
  if (strcmp(f->verb, "ERROR") == 0)
    pc_expect_close(a2->c, PC_WAIT);
  else
    pc_note(t, "the first SYNC was answered before the second arrived; "
            "SYNC-4 was not exercised this time");
}

#define SYNC3_BEFORE 150
#define SYNC3_DURING 20

/* Reads s's frames of conv until its SYNCED `req` and `want` MSG frames
 * of conv came, keeping them in *l and the ACK frames that came meanwhile
 * in *acks. Returns the index of SYNCED in *l. */
static size_t read_answer(mu_sess *s, const char *conv, const char *req,
                          size_t want, mu_list *l, mu_list *acks)
{
  pc_ctx *t = s->t;
  size_t msgs = 0, synced_at = 0;
  bool synced = false;
  uint64_t deadline = pc_now_ms() + pc_wait_ms(t);

  while (!synced || msgs < want) {
    uint64_t now = pc_now_ms();
    pc_frame *f = now < deadline ? pc_recv(s->c, (unsigned)(deadline - now))
                                 : NULL;
    if (f == NULL)
      pc_fail(t, "%zu of %zu MSG frames and %s SYNCED came", msgs, want,
              synced ? "the" : "no");
    const char *c = pc_hdr(f, "conv"), *r = pc_hdr(f, "req");
    if (strcmp(f->verb, "SYNCED") == 0 && r != NULL && !strcmp(r, req)) {
      synced = true;
      synced_at = l->n;
      mu_push(t, l, f);
    } else if (strcmp(f->verb, "ERROR") == 0) {
      pc_fail(t, "ERROR %s during the SYNC answer", pc_hdr_show(f, "reason"));
    } else if (strcmp(f->verb, "ACK") == 0) {
      mu_push(t, acks, f);
    } else if (strcmp(f->verb, "MSG") == 0 && c != NULL &&
               strcmp(c, conv) == 0) {
      mu_push(t, l, f);
      msgs++;
    }
  }
  return synced_at;
}

/* Whether a frame of l carries `req: req`. */
static bool has_req(const mu_list *l, const char *req)
{
  for (size_t i = 0; i < l->n; i++) {
    const char *r = pc_hdr(l->v[i], "req");
    if (r != NULL && strcmp(r, req) == 0)
      return true;
  }
  return false;
}

/* spec: SYNC-3 SYNC-1 DELIV-1 DELIV-2 DELIV-3 */
static void events_during_sync(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *a = mu_open(t, 0, NULL, true);
  const char *pos = pc_pos(a->c);
  mu_sess *b = mu_open(t, 1, NULL, false);
  const char *reqs[SYNC3_DURING];
  const size_t total = SYNC3_BEFORE + SYNC3_DURING;
  mu_list l = {0}, tail = {0}, acks = {0};
  mu_ack k;

  mu_fill(b, conv, SYNC3_BEFORE, "before");
  mu_sess *a2 = mu_open(t, 0, NULL, false);
  const char *req = mu_req(a2);
  mu_pace(a2);
  pc_send(a2->c, "SYNC", NULL, "since", pos, "req", req, NULL);
  for (size_t i = 0; i < SYNC3_DURING; i++)
    reqs[i] = mu_send(a2, conv, pc_uniq(t, "t"), NULL, "during", 6);
  size_t at = read_answer(a2, conv, req, total, &l, &acks);
  pc_note(t, "SYNCED came after %zu of the %zu messages", at, total);
  if (acks.n < SYNC3_DURING)
    for (size_t i = 0; i < SYNC3_DURING; i++)
      if (!has_req(&acks, reqs[i]))
        mu_ack_of(a2, reqs[i], &k);
  mu_ack closing = mu_post(b, conv, "closing");
  mu_until(a2, conv, NULL, "MSG", "msg-id", closing.msg_id, &tail,
           "the closing MSG");
  for (size_t i = 0; i < tail.n; i++)
    mu_push(t, &l, tail.v[i]);
  mu_check_seqs(t, &l, 1, total + 1, "the SYNC answer and the events sent "
                "during it and after it");
  for (size_t i = at + 1; i < l.n; i++)
    if (strcmp(l.v[i]->verb, "MSG") == 0 && mu_seq(t, l.v[i]) <= SYNC3_BEFORE)
      pc_fail(t, "MSG seq %s, durable before the SYNC came, arrived after "
              "SYNCED (SYNC-1)", pc_hdr_show(l.v[i], "seq"));
  mu_list after = {0};
  mu_sess *a3 = mu_open(t, 0, NULL, false);
  mu_sync(a3, mu_hdr(t, l.v[at], "pos"), conv, NULL, &after);
  mu_check_seqs(t, &after, mu_seq(t, l.v[at - 1]) + 1, l.n - at - 1,
                "SYNC since the pos of that SYNCED, which names the last "
                "event sent before it (SYNC-3)");
}

/* spec: SYNC-1 DELIV-1 DELIV-3 DELIV-8 */
static void after_disconnect(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *a = mu_open(t, 0, NULL, true);
  const char *dev = pc_device(a->c);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_ack *seen = mu_fill(b, conv, 2, "seen");
  const char *held = live_pos(a, conv, seen[1].msg_id, 2);
  mu_list ev = {0}, live = {0};

  pc_drop(a->c);
  mu_ack *missed = mu_fill(b, conv, 2, "missed");
  mu_sess *a2 = mu_open(t, 0, dev, false);
  mu_sync(a2, held, conv, NULL, &ev);
  if (ev.n != 2)
    pc_fail(t, "the SYNC answer after a reconnect holds %zu events of the "
            "conversation, expected the 2 messages sent while away",
            ev.n);
  msg_of(t, ev.v[0], &missed[0], "the first message missed");
  msg_of(t, ev.v[1], &missed[1], "the second message missed");
  mu_ack after = mu_post(b, conv, "after");
  mu_ack closing = mu_post(b, conv, "closing");
  mu_until(a2, conv, NULL, "MSG", "msg-id", closing.msg_id, &live,
           "the closing MSG");
  mu_check_seqs(t, &live, after.seq, 2, "live MSG frames after SYNCED");
}

static const pc_case cases[] = {
  {"resume.since-held-pos",
   "SYNC since a position from SYNCED returns the messages stored after "
   "it, in order, each with pos and no req, then SYNCED.",
   "SYNC-1 DELIV-2", PC_MUST, NULL, since_held_pos},
  {"resume.since-live-pos",
   "SYNC since the pos of a live event returns only the events after it, "
   "not the event itself.", "SYNC-1 DELIV-3 DELIV-8", PC_MUST, NULL,
   since_live_pos},
  {"resume.every-live-pos",
   "For every position a session received live, SYNC since it returns "
   "exactly the events the session received after it, messages and "
   "receipts of two conversations.", "SYNC-1 DELIV-3 DELIV-8", PC_MUST,
   NULL, every_live_pos},
  {"resume.without-since",
   "SYNC without since sends no past events, only SYNCED with the current "
   "position, from which a later SYNC resumes.", "SYNC-1 DELIV-8", PC_MUST,
   NULL, without_since},
  {"resume.synced-pos-is-end",
   "The pos of SYNCED names the end of the answer: a SYNC since it "
   "repeats nothing and brings what came after.",
   "SYNC-1 DELIV-8 SYNC-4", PC_MUST, NULL, synced_pos_is_end},
  {"resume.synced-pos-durable",
   "Fifty times over, while another member's SENDs are being stored, a "
   "SYNC since the pos of a SYNCED brings exactly the messages the "
   "session got after that SYNCED.", "SYNC-1 SYNC-3 DELIV-3", PC_MUST,
   NULL, synced_pos_durable},
  {"resume.unknown-pos",
   "SYNC since a position the server never issued, or one that is not an "
   "id, gets bad-value and the session goes on.", "SYNC-5 FRAME-11",
   PC_MUST, NULL, unknown_pos},
  {"resume.sync-during-sync",
   "A SYNC that arrives before the previous SYNC's SYNCED gets bad-state, "
   "fatal, and the session closes.", "SYNC-4", PC_MUST, NULL,
   sync_during_sync},
  {"resume.events-during-sync",
   "Messages the syncing session sends right after its SYNC, durable "
   "while the answer runs, reach it exactly once, in order, after the "
   "answer's events.", "SYNC-3 SYNC-1 DELIV-1 DELIV-2 DELIV-3", PC_MUST,
   NULL, events_during_sync},
  {"resume.after-disconnect",
   "A device that drops and reconnects gets, with SYNC since the last "
   "position it held, exactly the messages sent while it was away, then "
   "live ones once.", "SYNC-1 DELIV-1 DELIV-3 DELIV-8", PC_MUST, NULL,
   after_disconnect},
};

const pc_suite pc_suite_resume = {"resume", false, cases, PC_COUNT(cases)};
