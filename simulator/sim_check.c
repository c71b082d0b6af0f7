/* The invariants, checked all along and at the end of a run.
 *
 * The oracle is independent of the code under test: every message the
 * workload sends has a body naming it ("m<index> <device> ..."), and the
 * checker reads the database through its own read-only SQLite
 * connection. Invariant names, as a failure prints them:
 *
 * - ack-durable: an ACK reaches a device only for a message that is
 *   committed (design decision 4: acknowledge after the commit);
 * - ack-lost: after a server restart, every message a device saw
 *   acknowledged or shown is still in the database;
 * - order: each device shows each conversation's messages as seq 1, 2,
 *   3, ... (in order, no gap, nothing twice);
 * - no-duplicate: one message per send: a message keeps one seq and one
 *   msg-id wherever it is seen, and the database holds it once (a
 *   retried SEND never makes a second message);
 * - integrity: what is shown is what was sent, by whom it was sent, to
 *   the conversation it was sent to; membership: nobody sees a
 *   conversation they are not in;
 * - receipts: a receipt state or a delivered/read status never goes
 *   backwards, never passes the conversation's last seq, and the stored
 *   receipt events of one user only rise;
 * - lost: at the end, every message sent is stored (outboxes are empty);
 * - gapless: at the end, each conversation's seqs in the database are
 *   1..N;
 * - converge: at the end, after the healing phase, every member device
 *   shows exactly the database's history of each conversation, and
 *   holds the database's receipt values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

enum {
  Q_MSG,          /* one message by (conv, seq) */
  Q_LAST,         /* a conversation's last seq */
  Q_CONV,         /* a conversation's messages in seq order */
  Q_ALL,          /* every message */
  Q_RCPT_EVENTS,  /* every receipt event in pos order */
  Q_RECEIPTS,     /* the kept receipt values */
  Q_COUNT
};

static const char *const q_sql[Q_COUNT] = {
    "SELECT msg_id, body FROM events WHERE type = 1 AND conv = ?1 "
    "AND seq = ?2",
    "SELECT COALESCE(MAX(seq), 0) FROM events WHERE type = 1 AND "
    "conv = ?1",
    "SELECT seq, msg_id, body FROM events WHERE type = 1 AND conv = ?1 "
    "ORDER BY seq",
    "SELECT conv, seq, msg_id, body, from_user, device FROM events "
    "WHERE type = 1 ORDER BY pos",
    "SELECT conv, from_user, receipt_kind, seq FROM events WHERE type = 2 "
    "ORDER BY pos",
    "SELECT conv, user, kind, seq FROM receipts",
};

int sim_check_open(sim *s)
{
  sim_server *v = &s->srv;

  if (sqlite3_open_v2(v->db_path, &v->check, SQLITE_OPEN_READONLY, NULL) !=
      SQLITE_OK) {
    fprintf(stderr, "parley-sim: checker: %s\n", sqlite3_errmsg(v->check));
    return -1;
  }
  for (int i = 0; i < Q_COUNT; i++) {
    if (sqlite3_prepare_v2(v->check, q_sql[i], -1, &v->q[i], NULL) !=
        SQLITE_OK) {
      fprintf(stderr, "parley-sim: checker: %s\n",
              sqlite3_errmsg(v->check));
      return -1;
    }
  }
  return 0;
}

void sim_check_close(sim *s)
{
  for (int i = 0; i < Q_COUNT; i++)
    sqlite3_finalize(s->srv.q[i]);
  sqlite3_close(s->srv.check);
  s->srv.check = NULL;
}

/* Steps a query; a failure of the checker's own SQL ends the run. */
static bool q_row(sim *s, sqlite3_stmt *q)
{
  int rc = sqlite3_step(q);

  if (rc == SQLITE_ROW)
    return true;
  if (rc != SQLITE_DONE)
    sim_fail(s, "checker", "a query failed: %s",
             sqlite3_errmsg(s->srv.check));
  return false;
}

static const char *col(sqlite3_stmt *q, int i)
{
  const unsigned char *t = sqlite3_column_text(q, i);
  return t ? (const char *)t : "";
}

uint32_t sim_body_intent(const sim *s, const char *body, size_t len)
{
  uint64_t v = 0;
  size_t i = 1;

  if (len < 3 || body[0] != 'm')
    return SIM_NONE;
  for (; i < len && body[i] >= '0' && body[i] <= '9' && i < 12; i++)
    v = v * 10 + (uint64_t)(body[i] - '0');
  if (i == 1 || i >= len || body[i] != ' ' || v >= s->intent_count)
    return SIM_NONE;
  return (uint32_t)v;
}

/* Read again only after a commit: the file changes at commits only. */
uint64_t sim_check_db_last_seq(sim *s, uint32_t conv)
{
  sqlite3_stmt *q = s->srv.q[Q_LAST];
  uint64_t *last = &s->srv.last_seq[conv];

  if (s->srv.last_seq_commit[conv] == s->srv.commits + 1)
    return *last;
  *last = 0;
  sqlite3_bind_text(q, 1, s->convs[conv].id, -1, SQLITE_STATIC);
  if (q_row(s, q))
    *last = (uint64_t)sqlite3_column_int64(q, 0);
  sqlite3_reset(q);
  s->srv.last_seq_commit[conv] = s->srv.commits + 1;
  return *last;
}

/* True when the database holds intent i as (conv, seq) with msg_id. */
static bool db_has(sim *s, uint32_t i, uint64_t seq, const char *msg_id)
{
  sqlite3_stmt *q = s->srv.q[Q_MSG];
  bool found = false;

  sqlite3_bind_text(q, 1, s->convs[s->intents[i].conv].id, -1,
                    SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, (sqlite3_int64)seq);
  if (q_row(s, q))
    found = strcmp(col(q, 0), msg_id) == 0 &&
            sim_body_intent(s, (const char *)sqlite3_column_blob(q, 1),
                            (size_t)sqlite3_column_bytes(q, 1)) == i;
  sqlite3_reset(q);
  return found;
}

/* Records where intent i was seen; it must always be the same place. */
static void observe(sim *s, uint32_t i, uint64_t seq, const char *msg_id,
                    const char *where)
{
  sim_intent *in = &s->intents[i];

  if (!in->known) {
    in->known = true;
    in->seq = seq;
    snprintf(in->msg_id, sizeof in->msg_id, "%s", msg_id);
    return;
  }
  if (in->seq != seq || strcmp(in->msg_id, msg_id) != 0)
    sim_fail(s, "no-duplicate", "message m%u is seq %llu (%s) and, %s, "
             "seq %llu (%s): one send made two messages", (unsigned)i,
             (unsigned long long)in->seq, in->msg_id, where,
             (unsigned long long)seq, msg_id);
}

/* ---- all along --------------------------------------------------------- */

/* Checks that m's sender, device and conversation are those of intent
 * i. */
static void check_origin(sim *s, const sim_device *d, uint32_t i,
                         uint32_t k, const parley_msg *m)
{
  const sim_device *from = &s->devs[s->intents[i].dev];

  if (s->intents[i].conv != k ||
      strcmp(m->from, s->users[from->user].name) != 0 ||
      strcmp(m->device, from->name) != 0)
    sim_fail(s, "integrity", "%s shows m%u in %s from %s/%s; it was sent "
             "to %s from %s/%s", d->name, (unsigned)i, m->conv, m->from,
             m->device, s->convs[s->intents[i].conv].id,
             s->users[from->user].name, from->name);
}

void sim_check_msg(sim *s, sim_device *d, const parley_msg *m)
{
  uint32_t k = sim_conv_index(s, m->conv);
  uint32_t i = sim_body_intent(s, m->body, m->body_len);
  char text[256];

  snprintf(text, sizeof text, "%s seq %llu m%d", m->conv,
           (unsigned long long)m->seq, i == SIM_NONE ? -1 : (int)i);
  sim_note_add(s, "show", d->idx, 0, text, strlen(text));
  if (k == SIM_NONE || !sim_member(s, k, d->user)) {
    sim_fail(s, "membership", "%s was shown a message of %s, which its "
             "user is not in", d->name, m->conv);
    return;
  }
  if (m->seq != d->convs[k].stored_seq + 1)
    sim_fail(s, "order", "%s shows %s seq %llu right after seq %llu",
             d->name, m->conv, (unsigned long long)m->seq,
             (unsigned long long)d->convs[k].stored_seq);
  if (i == SIM_NONE) {
    sim_fail(s, "integrity", "%s shows %s seq %llu, a body nobody sent",
             d->name, m->conv, (unsigned long long)m->seq);
    return;
  }
  check_origin(s, d, i, k, m);
  snprintf(text, sizeof text, "as shown on %s", d->name);
  observe(s, i, m->seq, m->msg_id, text);
}

void sim_check_ack(sim *s, sim_device *d, uint32_t i,
                   const parley_client_action *a)
{
  char text[256];

  if (i == SIM_NONE || s->intents[i].dev != d->idx) {
    sim_fail(s, "integrity", "%s got an ACK for temp-id %s, which is not "
             "one of its sends", d->name, a->outbox.temp_id);
    return;
  }
  snprintf(text, sizeof text, "m%u %s seq %llu %s", (unsigned)i,
           a->msg.conv, (unsigned long long)a->msg.seq, a->msg.msg_id);
  sim_note_add(s, "ack", d->idx, 0, text, strlen(text));
  s->intents[i].acked = true;
  if (sim_conv_index(s, a->msg.conv) != s->intents[i].conv)
    sim_fail(s, "integrity", "the ACK of m%u names %s", (unsigned)i,
             a->msg.conv);
  observe(s, i, a->msg.seq, a->msg.msg_id, "in its ACK");
  if (!s->failed && !db_has(s, i, a->msg.seq, a->msg.msg_id))
    sim_fail(s, "ack-durable", "%s got the ACK of m%u (%s seq %llu) while "
             "the database does not hold it", d->name, (unsigned)i,
             a->msg.conv, (unsigned long long)a->msg.seq);
}

/* The index of user `name`, or SIM_NONE. */
static uint32_t user_index(const sim *s, const char *name)
{
  for (uint32_t u = 0; u < s->user_count; u++)
    if (strcmp(s->users[u].name, name) == 0)
      return u;
  return SIM_NONE;
}

void sim_check_receipt(sim *s, sim_device *d, const parley_receipt *r)
{
  uint32_t k = sim_conv_index(s, r->conv), u = user_index(s, r->user);
  char text[256];

  snprintf(text, sizeof text, "%s %s %s %llu", r->conv, r->user,
           r->kind == PARLEY_RECEIPT_READ ? "read" : "delivered",
           (unsigned long long)r->seq);
  sim_note_add(s, "receipt", d->idx, 0, text, strlen(text));
  if (k == SIM_NONE || u == SIM_NONE || !sim_member(s, k, u) ||
      (r->kind != PARLEY_RECEIPT_DELIVERED && r->kind != PARLEY_RECEIPT_READ)) {
    sim_fail(s, "integrity", "%s stores a receipt of no member: %s", d->name,
             text);
    return;
  }
  if (r->seq < d->convs[k].rcpt[u][r->kind - 1])
    sim_fail(s, "receipts", "%s: receipt %s went back from %llu", d->name,
             text, (unsigned long long)d->convs[k].rcpt[u][r->kind - 1]);
  else if (r->seq > sim_check_db_last_seq(s, k))
    sim_fail(s, "receipts", "%s: receipt %s is past the last message",
             d->name, text);
}

void sim_check_status(sim *s, sim_device *d, const parley_client_action *a)
{
  uint32_t k = sim_conv_index(s, a->conv);
  int which = a->status == PARLEY_STATUS_READ ? 1 : 0;

  if (k == SIM_NONE)
    return;
  if (a->seq < d->convs[k].status[which])
    sim_fail(s, "receipts", "%s: the %s status of %s went back from %llu "
             "to %llu", d->name, which ? "read" : "delivered", a->conv,
             (unsigned long long)d->convs[k].status[which],
             (unsigned long long)a->seq);
  else
    d->convs[k].status[which] = a->seq;
}

void sim_check_acked_durable(sim *s)
{
  for (uint32_t i = 0; i < s->intent_count && !s->failed; i++) {
    const sim_intent *in = &s->intents[i];
    if (in->known && !db_has(s, i, in->seq, in->msg_id))
      sim_fail(s, "ack-lost", "m%u was %s as %s seq %llu and is not in the "
               "database after the restart", (unsigned)i,
               in->acked ? "acknowledged" : "shown",
               s->convs[in->conv].id, (unsigned long long)in->seq);
  }
}

/* ---- the end --------------------------------------------------------- */

/* Every stored message is one send, stored once, as it was seen; every
 * send is stored. */
static void final_messages(sim *s)
{
  sqlite3_stmt *q = s->srv.q[Q_ALL];
  uint8_t *count = calloc(s->intent_count + 1, 1);

  while (count && !s->failed && q_row(s, q)) {
    uint32_t i = sim_body_intent(s, (const char *)sqlite3_column_blob(q, 3),
                                 (size_t)sqlite3_column_bytes(q, 3));
    uint64_t seq = (uint64_t)sqlite3_column_int64(q, 1);
    if (i == SIM_NONE) {
      sim_fail(s, "integrity", "the database holds %s seq %llu, which "
               "nobody sent", col(q, 0), (unsigned long long)seq);
    } else if (count[i]++ > 0) {
      sim_fail(s, "no-duplicate", "the database holds m%u twice (again as "
               "%s seq %llu)", (unsigned)i, col(q, 0),
               (unsigned long long)seq);
    } else {
      observe(s, i, seq, col(q, 2), "in the database");
    }
  }
  sqlite3_reset(q);
  for (uint32_t i = 0; count && !s->failed && i < s->intent_count; i++)
    if (count[i] == 0)
      sim_fail(s, "lost", "m%u (from %s to %s) was sent and is not stored",
               (unsigned)i, s->devs[s->intents[i].dev].name,
               s->convs[s->intents[i].conv].id);
  free(count);
}

/* Each member device shows exactly the conversation's stored history. */
static void final_history(sim *s, uint32_t k)
{
  sqlite3_stmt *q = s->srv.q[Q_CONV];
  size_t n = 0;

  sqlite3_bind_text(q, 1, s->convs[k].id, -1, SQLITE_STATIC);
  for (; !s->failed && q_row(s, q); n++) {
    uint64_t seq = (uint64_t)sqlite3_column_int64(q, 0);
    if (seq != n + 1)
      sim_fail(s, "gapless", "%s holds seq %llu where %zu belongs",
               s->convs[k].id, (unsigned long long)seq, n + 1);
    for (size_t i = 0; i < s->dev_count && !s->failed; i++) {
      const sim_device *d = &s->devs[i];
      if (!d->convs[k].known)
        continue;
      if (n >= d->convs[k].shown_count ||
          d->convs[k].shown[n].seq != seq ||
          strcmp(d->convs[k].shown[n].msg_id, col(q, 1)) != 0)
        sim_fail(s, "converge", "%s does not show %s seq %llu (%s) as "
                 "the database holds it", d->name, s->convs[k].id,
                 (unsigned long long)seq, col(q, 1));
    }
  }
  sqlite3_reset(q);
  for (size_t i = 0; i < s->dev_count && !s->failed; i++)
    if (s->devs[i].convs[k].known && s->devs[i].convs[k].shown_count != n)
      sim_fail(s, "converge", "%s shows %zu messages of %s; the database "
               "holds %zu", s->devs[i].name, s->devs[i].convs[k].shown_count,
               s->convs[k].id, n);
}

/* Stored receipt events only rise per (conv, user, kind). */
static void final_receipt_events(sim *s)
{
  sqlite3_stmt *q = s->srv.q[Q_RCPT_EVENTS];
  uint64_t last[SIM_CONVS_MAX][SIM_USERS_MAX][2];

  memset(last, 0, sizeof last);
  while (!s->failed && q_row(s, q)) {
    uint32_t k = sim_conv_index(s, col(q, 0)), u = user_index(s, col(q, 1));
    int kind = sqlite3_column_int(q, 2);
    uint64_t seq = (uint64_t)sqlite3_column_int64(q, 3);
    if (k == SIM_NONE || u == SIM_NONE || kind < 1 || kind > 2)
      sim_fail(s, "integrity", "a stored receipt of nobody: %s %s",
               col(q, 0), col(q, 1));
    else if (seq <= last[k][u][kind - 1])
      sim_fail(s, "receipts", "the database holds a receipt %s %s %d that "
               "goes from %llu to %llu", col(q, 0), col(q, 1), kind,
               (unsigned long long)last[k][u][kind - 1],
               (unsigned long long)seq);
    else
      last[k][u][kind - 1] = seq;
  }
  sqlite3_reset(q);
}

/* Each member device holds the kept receipt values. */
static void final_receipts(sim *s)
{
  sqlite3_stmt *q = s->srv.q[Q_RECEIPTS];

  while (!s->failed && q_row(s, q)) {
    uint32_t k = sim_conv_index(s, col(q, 0)), u = user_index(s, col(q, 1));
    int kind = sqlite3_column_int(q, 2);
    uint64_t seq = (uint64_t)sqlite3_column_int64(q, 3);
    for (size_t i = 0; k != SIM_NONE && u != SIM_NONE && kind >= 1 &&
                       kind <= 2 && i < s->dev_count && !s->failed; i++) {
      const sim_device *d = &s->devs[i];
      if (d->convs[k].known && d->convs[k].rcpt[u][kind - 1] != seq)
        sim_fail(s, "converge", "%s holds receipt %s %s %d at %llu; the "
                 "database at %llu", d->name, col(q, 0), col(q, 1), kind,
                 (unsigned long long)d->convs[k].rcpt[u][kind - 1],
                 (unsigned long long)seq);
    }
  }
  sqlite3_reset(q);
}

void sim_check_final(sim *s)
{
  final_messages(s);
  for (uint32_t k = 0; k < s->conv_count && !s->failed; k++)
    final_history(s, k);
  if (!s->failed)
    final_receipt_events(s);
  if (!s->failed)
    final_receipts(s);
  if (!s->failed)
    sim_note_add(s, "final", SIM_NONE, 0, "every invariant holds", 21);
}
