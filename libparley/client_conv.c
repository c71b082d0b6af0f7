/* Conversations in the client core: what was handed over, receipts and
 * the status of the user's own messages (spec section 7).
 *
 * Receipts are cumulative and never go down (RCPT-1): the core keeps, per
 * conversation and user, the highest delivered and read seq it has seen.
 * The status of the user's messages follows from the other members'
 * values: delivered up to the lowest delivered (read counts as delivered),
 * read up to the lowest read. The two status marks only grow, so a status
 * never goes backwards. The user's own receipts (from any of its devices)
 * tell the core what the server already holds, so it sends a receipt only
 * when it would raise a value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

cl_conv *cl_conv_find(const parley_client *c, const char *id, size_t *idx)
{
  size_t i;

  for (i = 0; i < c->conv_count; i++) {
    if (strcmp(c->convs[i]->id, id) == 0) {
      if (idx != NULL)
        *idx = i;
      return c->convs[i];
    }
  }
  return NULL;
}

/* Finds the conversation or adds it. Returns NULL when memory runs out
 * (and sets the oom flag). */
cl_conv *cl_conv_get(parley_client *c, const char *id, size_t *idx)
{
  cl_conv *cv = cl_conv_find(c, id, idx);

  if (cv != NULL)
    return cv;
  if (!cl_grow((void **)&c->convs, &c->conv_cap, c->conv_count + 1,
               sizeof *c->convs) ||
      (cv = calloc(1, sizeof *cv)) == NULL) {
    c->oom = true;
    return NULL;
  }
  snprintf(cv->id, sizeof cv->id, "%s", id);
  if (idx != NULL)
    *idx = c->conv_count;
  c->convs[c->conv_count++] = cv;
  return cv;
}

static void free_held(parley_client *c, cl_conv *cv)
{
  size_t i;

  for (i = 0; i < cv->held_count; i++)
    free(cv->held[i].body);
  if (c != NULL)
    c->held_total -= cv->held_count;
  cv->held_count = 0;
}

void cl_conv_free(cl_conv *cv)
{
  free_held(NULL, cv);
  free(cv->held);
  free(cv->members);
  free(cv->rcpts);
  free(cv);
}

void cl_conv_reset_session(parley_client *c, cl_conv *cv)
{
  free_held(c, cv);
  cv->max_seen = 0;
  cv->history_req = 0;
  cv->history_after = 0;
  cv->delivered_sent = 0;
  cv->read_sent = 0;
  cv->typing_on = false;
  cv->typing_sent_ms = 0;
}

static cl_rcpt *rcpt_find(const cl_conv *cv, const char *user)
{
  size_t i;

  for (i = 0; i < cv->rcpt_count; i++)
    if (strcmp(cv->rcpts[i].user, user) == 0)
      return &cv->rcpts[i];
  return NULL;
}

/* Raises user's `kind` value in cv to seq. Returns true when it rose;
 * with `emit`, queues a RECEIPT_STATE write for it. */
bool cl_receipt_apply(parley_client *c, cl_conv *cv, const char *user,
                      parley_receipt_kind kind, uint64_t seq, bool emit)
{
  cl_rcpt *r = rcpt_find(cv, user);
  uint64_t *slot;
  cl_item *it;
  void *p;

  if (r == NULL) {
    p = realloc(cv->rcpts, (cv->rcpt_count + 1) * sizeof *cv->rcpts);
    if (p == NULL) {
      c->oom = true;
      return false;
    }
    cv->rcpts = p;
    r = &cv->rcpts[cv->rcpt_count++];
    memset(r, 0, sizeof *r);
    snprintf(r->user, sizeof r->user, "%s", user);
  }
  slot = kind == PARLEY_RECEIPT_READ ? &r->read : &r->delivered;
  if (seq <= *slot)
    return false;
  *slot = seq;
  if (emit && (it = cl_push(c, PARLEY_CLIENT_RECEIPT_STATE)) != NULL) {
    snprintf(it->a.receipt.conv, sizeof it->a.receipt.conv, "%s", cv->id);
    snprintf(it->a.receipt.user, sizeof it->a.receipt.user, "%s", user);
    it->a.receipt.kind = kind;
    it->a.receipt.seq = seq;
  }
  return true;
}

static void emit_status(parley_client *c, const cl_conv *cv,
                        parley_client_status status, uint64_t seq)
{
  cl_item *it = cl_push(c, PARLEY_CLIENT_EV_STATUS);

  if (it == NULL)
    return;
  snprintf(it->a.conv, sizeof it->a.conv, "%s", cv->id);
  snprintf(it->a.outbox.conv, sizeof it->a.outbox.conv, "%s", cv->id);
  it->a.status = status;
  it->a.seq = seq;
  it->a.msg.seq = seq;
}

/* Recomputes the status marks of the user's messages in cv from the other
 * members' receipts; with `emit`, reports each mark that rose. Does
 * nothing until the members are known or when the user is alone. */
void cl_status_update(parley_client *c, cl_conv *cv, bool emit)
{
  uint64_t delivered = UINT64_MAX, read = UINT64_MAX;
  size_t i, others = 0;

  if (!cv->members_known)
    return;
  for (i = 0; i < cv->member_count; i++) {
    const cl_rcpt *r;
    if (strcmp(cv->members[i], c->user) == 0)
      continue;
    others++;
    r = rcpt_find(cv, cv->members[i]);
    uint64_t d = r ? (r->read > r->delivered ? r->read : r->delivered) : 0;
    uint64_t rd = r ? r->read : 0;
    if (d < delivered)
      delivered = d;
    if (rd < read)
      read = rd;
  }
  if (others == 0)
    return;
  if (delivered > cv->status_delivered) {
    cv->status_delivered = delivered;
    if (emit)
      emit_status(c, cv, PARLEY_STATUS_DELIVERED, delivered);
  }
  if (read > cv->status_read) {
    cv->status_read = read;
    if (emit)
      emit_status(c, cv, PARLEY_STATUS_READ, read);
  }
}

/* Queues one RECEIPT frame. */
static void send_receipt(parley_client *c, const cl_conv *cv,
                         const char *kind, uint64_t seq)
{
  parley_buf b = {0};
  char req[24];
  bool ok;

  cl_next_req(c, req, sizeof req, 'r');
  ok = parley_frame_begin(&b, "RECEIPT") == PARLEY_OK &&
       parley_frame_header_str(&b, "conv", cv->id) == PARLEY_OK &&
       parley_frame_header_str(&b, "kind", kind) == PARLEY_OK &&
       parley_frame_header_u64(&b, "seq", seq) == PARLEY_OK;
  cl_send_request(c, &b, ok, req);
}

/* Sends the cumulative receipts that would raise what the server holds:
 * delivered up to the highest seq handed over, read up to what the user
 * read. Only in a READY session that negotiated `receipts`. */
void cl_flush_receipts(parley_client *c, uint64_t now_ms)
{
  size_t i;

  (void)now_ms;
  if (c->state != CL_READY || !c->cap_receipts)
    return;
  if (c->hold_until != 0) {
    c->receipt_at = c->hold_until;
    return;
  }
  c->receipt_at = 0;
  for (i = 0; i < c->conv_count; i++) {
    cl_conv *cv = c->convs[i];
    const cl_rcpt *mine = rcpt_find(cv, c->user);
    uint64_t held_d = mine ? mine->delivered : 0;
    uint64_t held_r = mine ? mine->read : 0;
    if (held_r > held_d)
      held_d = held_r;
    if (cv->delivered_sent > held_d)
      held_d = cv->delivered_sent;
    if (cv->read_sent > held_r)
      held_r = cv->read_sent;
    if (cv->stored_seq > held_d) {
      send_receipt(c, cv, "delivered", cv->stored_seq);
      cv->delivered_sent = cv->stored_seq;
    }
    if (cv->read_wanted > held_r) {
      send_receipt(c, cv, "read", cv->read_wanted);
      cv->read_sent = cv->read_wanted;
    }
  }
}
