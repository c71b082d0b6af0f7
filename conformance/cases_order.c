/* Conformance cases: order (spec sections 5 and 6): sequence numbers
 * start at 1 and grow by one per message of a conversation, and every
 * session sees a conversation's messages in that order.
 *
 * The pipelined cases send as fast as the session's stated rate allows
 * (msg_util paces them), from two members at once, so that a server that
 * hands out a sequence number twice, skips one, or fans out in another
 * order than it numbered shows it. */
#include <string.h>

#include "msg_util.h"

#define PIPELINED_PER_SENDER 40

/* spec: SEND-2 */
static void starts_at_one(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *a = mu_open(t, 0, NULL, false);

  for (uint64_t i = 1; i <= 5; i++) {
    mu_ack k = mu_post(a, conv, pc_printf(t, "number %llu",
                                         (unsigned long long)i));
    if (k.seq != i)
      pc_fail(t, "message %llu of a new conversation, each sent after the "
              "ACK of the one before, got seq %llu",
              (unsigned long long)i, (unsigned long long)k.seq);
  }
  mu_page *p = mu_history(a, conv, NULL, NULL, NULL);
  mu_check_seqs(t, &p->msgs, 1, 5, "HISTORY");
}

/* Fails unless the ACKs of one sender (in sending order) have growing
 * seqs, and marks their seqs in seen[1..total]. */
static void take_acks(pc_ctx *t, const mu_ack *k, size_t n, const char **ids,
                      size_t total, const char *who)
{
  for (size_t i = 0; i < n; i++) {
    if (k[i].seq == 0 || k[i].seq > total)
      pc_fail(t, "%s's ACK %zu has seq %llu; %zu messages were sent, so "
              "seqs are 1 to %zu (SEND-2)", who, i + 1,
              (unsigned long long)k[i].seq, total, total);
    if (ids[k[i].seq] != NULL)
      pc_fail(t, "seq %llu acknowledged twice, for msg-ids %s and %s "
              "(SEND-2)", (unsigned long long)k[i].seq, ids[k[i].seq],
              k[i].msg_id);
    ids[k[i].seq] = k[i].msg_id;
    if (i > 0 && k[i].seq < k[i - 1].seq)
      pc_fail(t, "%s's SEND %zu got seq %llu, below the seq %llu of its "
              "SEND before: frames of a session are handled in order "
              "(LIFE-5)", who, i + 1, (unsigned long long)k[i].seq,
              (unsigned long long)k[i - 1].seq);
  }
}

/* Fails unless `l` holds MSG seqs 1..total in order whose msg-ids are
 * ids[seq]. */
static void same_order(pc_ctx *t, const mu_list *l, const char **ids,
                       size_t total, const char *who)
{
  mu_check_seqs(t, l, 1, total, who);
  for (size_t i = 0; i < l->n; i++) {
    const pc_frame *m = l->v[i];
    if (strcmp(m->verb, "MSG") != 0)
      continue;
    uint64_t seq = mu_seq(t, m);
    if (strcmp(mu_hdr(t, m, "msg-id"), ids[seq]) != 0)
      pc_fail(t, "%s: MSG seq %llu has msg-id %s, the ACK of seq %llu "
              "named %s", who, (unsigned long long)seq,
              pc_hdr_show(m, "msg-id"), (unsigned long long)seq, ids[seq]);
  }
}

/* spec: SEND-2 DELIV-1 DELIV-2 LIFE-5 HIST-1 */
static void pipelined_two_senders(pc_ctx *t)
{
  const int members[] = {1, 2};
  const char *conv = mu_group(t, 0, members, 2);
  mu_sess *watch[4];
  const size_t n = PIPELINED_PER_SENDER, total = 2 * n;
  const char **ids = pc_alloc(t, (total + 1) * sizeof *ids);
  const char **ra = pc_alloc(t, n * sizeof *ra);
  const char **rb = pc_alloc(t, n * sizeof *rb);
  mu_ack *ka = pc_alloc(t, n * sizeof *ka);
  mu_ack *kb = pc_alloc(t, n * sizeof *kb);

  watch[0] = mu_open(t, 0, NULL, false);
  watch[1] = mu_open(t, 0, NULL, false);
  watch[2] = mu_open(t, 1, NULL, false);
  watch[3] = mu_open(t, 2, NULL, false);
  mu_sess *a = watch[0], *b = watch[2];
  for (size_t i = 0; i < n; i++) {
    const char *ba = pc_printf(t, "a %zu", i), *bb = pc_printf(t, "b %zu", i);
    ra[i] = mu_send(a, conv, pc_uniq(t, "t"), NULL, ba, strlen(ba));
    rb[i] = mu_send(b, conv, pc_uniq(t, "t"), NULL, bb, strlen(bb));
  }
  for (size_t i = 0; i < n; i++) {
    mu_ack_of(a, ra[i], &ka[i]);
    mu_ack_of(b, rb[i], &kb[i]);
  }
  take_acks(t, ka, n, ids, total, mu_user(a));
  take_acks(t, kb, n, ids, total, mu_user(b));

  static const char *const who[] = {
    "the first sender's session", "the first sender's other device",
    "the second sender's session", "the third member's session"};
  for (size_t w = 0; w < 4; w++) {
    mu_list l = {0};
    mu_until(watch[w], conv, NULL, "MSG", "msg-id", ids[total], &l,
             pc_printf(t, "MSG seq %zu on %s", total, who[w]));
    same_order(t, &l, ids, total, who[w]);
  }
  mu_page *p = mu_history(watch[3], conv, "100", NULL, NULL);
  same_order(t, &p->msgs, ids, total, "HISTORY");
}

/* Reads s's MSG frames of conv x and y until both last msg-ids came and
 * checks each conversation's seqs are 1..n in order. */
static void both_in_order(mu_sess *s, const char *x, const char *y,
                          const mu_ack *lx, const mu_ack *ly, size_t n,
                          const char *who)
{
  pc_ctx *t = s->t;
  mu_list l = {0}, lxs = {0}, lys = {0};
  bool got_y = false;

  mu_until(s, x, y, "MSG", "msg-id", lx->msg_id, &l, "the last MSG of x");
  for (size_t i = 0; i < l.n; i++)
    got_y = got_y || strcmp(mu_hdr(t, l.v[i], "msg-id"), ly->msg_id) == 0;
  if (!got_y)
    mu_until(s, x, y, "MSG", "msg-id", ly->msg_id, &l, "the last MSG of y");
  for (size_t i = 0; i < l.n; i++)
    mu_push(t, strcmp(mu_hdr(t, l.v[i], "conv"), x) == 0 ? &lxs : &lys,
            l.v[i]);
  mu_check_seqs(t, &lxs, 1, n, pc_printf(t, "%s, first conversation", who));
  mu_check_seqs(t, &lys, 1, n, pc_printf(t, "%s, second conversation",
                                         who));
}

/* spec: SEND-2 DELIV-2 */
static void per_conversation(pc_ctx *t)
{
  const int members[] = {1};
  const char *x = mu_group(t, 0, members, 1);
  const char *y = mu_group(t, 0, members, 1);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const size_t n = 10;
  const char *rx[10], *ry[10];
  mu_ack kx[10], ky[10];

  for (size_t i = 0; i < n; i++) {
    rx[i] = mu_send(a, x, pc_uniq(t, "t"), NULL, "x", 1);
    ry[i] = mu_send(a, y, pc_uniq(t, "t"), NULL, "y", 1);
  }
  for (size_t i = 0; i < n; i++) {
    mu_ack_of(a, rx[i], &kx[i]);
    mu_ack_of(a, ry[i], &ky[i]);
    if (kx[i].seq != i + 1 || ky[i].seq != i + 1)
      pc_fail(t, "message %zu sent to each of two conversations, "
              "alternating, got seqs %llu and %llu; each conversation "
              "counts its own from 1 (SEND-2)", i + 1,
              (unsigned long long)kx[i].seq, (unsigned long long)ky[i].seq);
  }
  both_in_order(b, x, y, &kx[n - 1], &ky[n - 1], n, "the other member");
  both_in_order(a, x, y, &kx[n - 1], &ky[n - 1], n, "the sender");
}

/* spec: SEND-2 FRAME-7 */
static void refused_take_no_seq(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a = mu_open(t, 0, NULL, false);
  mu_ack first = mu_post(a, conv, "one");
  uint64_t max = pc_hdr_u64(t, pc_welcome(a->c), "max-body");
  const char *req;

  mu_expect_err(a, "temp-id-conflict",
                mu_send(a, conv, first.temp_id, NULL, "not one", 7), NULL);
  mu_expect_err(a, "frame-too-large",
                mu_send(a, conv, pc_uniq(t, "t"), NULL,
                        mu_body(t, (size_t)max + 1, "x"), (size_t)max + 1),
                NULL);
  mu_expect_err(a, "bad-value",
                mu_send(a, conv, pc_uniq(t, "t"), "no-slash", "z", 1),
                "content-type");
  req = mu_req(a);
  mu_pace(a);
  pc_send_n(a->c, "SEND", "w", 1, "conv", conv, "req", req, NULL);
  mu_expect_err(a, "missing-header", req, "temp-id");
  mu_ack second = mu_post(a, conv, "two");
  if (second.seq != 2)
    pc_fail(t, "after four refused SENDs the next message got seq %llu, "
            "expected 2: a refused SEND took a sequence number",
            (unsigned long long)second.seq);
  mu_list l = {0};
  mu_until(b, conv, NULL, "MSG", "msg-id", second.msg_id, &l,
           "the MSG of the second message");
  mu_check_seqs(t, &l, 1, 2, "the other member's session");
}

static const pc_case cases[] = {
  {"order.starts-at-one",
   "The messages of a new conversation get seqs 1, 2, 3, ... in the order "
   "they are sent.", "SEND-2", PC_MUST, NULL, starts_at_one},
  {"order.pipelined-two-senders",
   "Two members pipelining SENDs at once get each seq exactly once, and "
   "every member's sessions see the messages in seq order with the same "
   "msg-ids.", "SEND-2 DELIV-1 DELIV-2 LIFE-5 HIST-1", PC_MUST, NULL,
   pipelined_two_senders},
  {"order.per-conversation",
   "Sequence numbers are counted per conversation: messages sent to two "
   "conversations in turn each get 1, 2, 3, ...", "SEND-2 DELIV-2", PC_MUST,
   NULL, per_conversation},
  {"order.refused-take-no-seq",
   "SENDs refused with temp-id-conflict, frame-too-large, bad-value or "
   "missing-header leave no gap in the sequence.", "SEND-2 FRAME-7",
   PC_MUST, NULL, refused_take_no_seq},
};

const pc_suite pc_suite_order = {"order", false, cases, PC_COUNT(cases)};
