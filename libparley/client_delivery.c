/* Delivery in the client core: each message handed over once, in seq
 * order per conversation, and the stored pos kept behind what was handed
 * over (spec sections 6 and 8).
 *
 * Per conversation, stored_seq is the highest seq handed to the host; it
 * only grows, by exactly one per message. A MSG at or below it is a repeat
 * and is dropped (DELIV-4). A MSG past stored_seq + 1 is held, and HISTORY
 * with `after: stored_seq` fills the gap (DELIV-5); held messages are
 * handed over as soon as they become next in line. The held set is
 * bounded: a message that does not fit is simply not kept, and the
 * history page brings it again.
 *
 * Every stream event carries a pos. The core queues the events it has not
 * finished (a message still behind a gap) and everything after them; the
 * stored pos moves to the pos of the last event of the finished prefix,
 * after the MSG actions of that prefix. A restart that resumes from the
 * stored pos therefore sees again every message not yet handed over and
 * drops the others as repeats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

#define PENDING_MAX 200000

void cl_pending_push(parley_client *c, const char *pos, size_t conv,
                     uint64_t seq)
{
  cl_pending *p;

  if (c->pending_count - c->pending_head >= PENDING_MAX ||
      !cl_grow((void **)&c->pending, &c->pending_cap, c->pending_count + 1,
               sizeof *c->pending)) {
    c->oom = true; /* the session restarts from the stored pos */
    return;
  }
  p = &c->pending[c->pending_count++];
  snprintf(p->pos, sizeof p->pos, "%s", pos);
  p->conv = conv;
  p->seq = seq;
}

static bool pending_done(const parley_client *c, const cl_pending *p)
{
  return p->conv == CL_NO_CONV || c->convs[p->conv]->stored_seq >= p->seq;
}

/* Pops the finished prefix of the pending events and, when it moved the
 * position, queues a POS write for the last of them. */
void cl_pending_advance(parley_client *c)
{
  char last[PARLEY_POS_MAX + 1] = "";
  cl_item *it;

  while (c->pending_head < c->pending_count &&
         pending_done(c, &c->pending[c->pending_head])) {
    memcpy(last, c->pending[c->pending_head].pos, sizeof last);
    c->pending_head++;
  }
  if (c->pending_head == c->pending_count) {
    c->pending_head = c->pending_count = 0;
  } else if (c->pending_head > 1024 &&
             c->pending_head > c->pending_count / 2) {
    memmove(c->pending, c->pending + c->pending_head,
            (c->pending_count - c->pending_head) * sizeof *c->pending);
    c->pending_count -= c->pending_head;
    c->pending_head = 0;
  }
  if (last[0] == '\0')
    return; /* DELIV-7: positions are never compared, only kept */
  memcpy(c->pos, last, sizeof last);
  if ((it = cl_push(c, PARLEY_CLIENT_POS)) != NULL)
    memcpy(it->a.pos, last, sizeof last);
}

/* SYNCED: the position held from now on (DELIV-8). Messages seen before
 * it that still wait behind a gap keep the position back until they are
 * handed over. */
void cl_pending_synced(parley_client *c, const char *pos)
{
  size_t i;

  for (i = 0; i < c->conv_count; i++)
    if (c->convs[i]->max_seen > c->convs[i]->stored_seq)
      cl_pending_push(c, pos, i, c->convs[i]->max_seen);
  cl_pending_push(c, pos, CL_NO_CONV, 0);
  cl_pending_advance(c);
}

void cl_delivery_reset(parley_client *c)
{
  c->pending_head = c->pending_count = 0;
}

/* Hands one message over (a MSG action that owns `body`, which may be
 * NULL only when len is 0) and schedules a delivered receipt. */
static void hand_over(parley_client *c, cl_conv *cv, const parley_msg *m,
                      char *body, uint64_t now_ms)
{
  cl_item *it = cl_push(c, PARLEY_CLIENT_MSG);

  if (it == NULL) {
    free(body);
    return;
  }
  it->a.msg = *m;
  it->a.msg.body = body ? body : "";
  it->owned = body;
  cv->stored_seq = m->seq;
  if (c->receipt_at == 0)
    c->receipt_at = now_ms + c->cfg.receipt_delay_ms;
}

/* Hands over the held messages that are now next in line and frees the
 * ones that turned into repeats. */
static void drain_held(parley_client *c, cl_conv *cv, uint64_t now_ms)
{
  size_t n = 0;

  while (n < cv->held_count && cv->held[n].msg.seq <= cv->stored_seq + 1) {
    cl_held *h = &cv->held[n++];
    if (h->msg.seq == cv->stored_seq + 1)
      hand_over(c, cv, &h->msg, h->body, now_ms);
    else
      free(h->body);
  }
  if (n == 0)
    return;
  memmove(cv->held, cv->held + n, (cv->held_count - n) * sizeof *cv->held);
  cv->held_count -= n;
  c->held_total -= n;
}

/* Keeps a message past a gap, in seq order, unless it is held already or
 * the held set is full. Takes ownership of body. */
static void hold(parley_client *c, cl_conv *cv, const parley_msg *m,
                 char *body)
{
  size_t i = cv->held_count;

  while (i > 0 && cv->held[i - 1].msg.seq >= m->seq)
    i--;
  if ((i < cv->held_count && cv->held[i].msg.seq == m->seq) ||
      c->held_total >= c->cfg.held_max ||
      !cl_grow((void **)&cv->held, &cv->held_cap, cv->held_count + 1,
               sizeof *cv->held)) {
    free(body);
    return;
  }
  memmove(cv->held + i + 1, cv->held + i,
          (cv->held_count - i) * sizeof *cv->held);
  cv->held[i].msg = *m;
  cv->held[i].msg.body = NULL;
  cv->held[i].body = body;
  cv->held_count++;
  c->held_total++;
}

/* Asks for the messages after stored_seq, unless a HISTORY for this
 * conversation is in flight already or requests are held after a
 * rate-limited (cl_history_resume asks once the hold is over). */
static void request_history(parley_client *c, cl_conv *cv)
{
  parley_buf b = {0};
  char req[24];
  uint64_t n;

  if (cv->history_req != 0 || c->hold_until != 0)
    return;
  n = cl_next_req(c, req, sizeof req, 'h');
  if (parley_frame_begin(&b, "HISTORY") == PARLEY_OK &&
      parley_frame_header_str(&b, "conv", cv->id) == PARLEY_OK &&
      parley_frame_header_u64(&b, "after", cv->stored_seq) == PARLEY_OK &&
      parley_frame_header_u64(&b, "limit", c->cfg.history_limit) ==
          PARLEY_OK &&
      parley_frame_header_str(&b, "req", req) == PARLEY_OK &&
      parley_frame_end(&b, NULL, 0, false) == PARLEY_OK) {
    cl_send_frame(c, &b);
    cv->history_req = n;
    cv->history_after = cv->stored_seq;
  } else {
    c->oom = true;
  }
  parley_buf_free(&b);
}

/* Asks again for every gap that has no HISTORY in flight: after a hold
 * (RATE-2), the requests that were refused or held go out now. */
void cl_history_resume(parley_client *c)
{
  size_t i;

  for (i = 0; i < c->conv_count; i++)
    if (c->convs[i]->max_seen > c->convs[i]->stored_seq)
      request_history(c, c->convs[i]);
}

/* Fills *m from a MSG frame (body not included). Returns false when conv
 * or seq is missing or malformed. */
static bool read_msg(const parley_frame *f, parley_msg *m)
{
  memset(m, 0, sizeof *m);
  if (!cl_hdr_copy(f, "conv", m->conv, sizeof m->conv) ||
      !cl_valid_id(m->conv) || !cl_hdr_u64(f, "seq", &m->seq) || m->seq == 0)
    return false;
  cl_hdr_copy(f, "msg-id", m->msg_id, sizeof m->msg_id);
  cl_hdr_copy(f, "from", m->from, sizeof m->from);
  cl_hdr_copy(f, "device", m->device, sizeof m->device);
  cl_hdr_copy(f, "temp-id", m->temp_id, sizeof m->temp_id);
  cl_hdr_u64(f, "ts", &m->ts_ms);
  cl_hdr_u64(f, "pos", &m->pos); /* 0 when the pos is not a number */
  if (!cl_hdr_copy(f, "content-type", m->content_type,
                   sizeof m->content_type))
    strcpy(m->content_type, "text/plain");
  return true;
}

void cl_on_msg(parley_client *c, const parley_frame *f, uint64_t now_ms)
{
  parley_msg m;
  char pos[PARLEY_POS_MAX + 1];
  char *body = NULL;
  cl_conv *cv;
  size_t idx;

  if (!read_msg(f, &m)) {
    cl_event_error(c, PARLEY_E_MISSING_HEADER, false, "MSG", 3);
    return;
  }
  if ((cv = cl_conv_get(c, m.conv, &idx)) == NULL)
    return;
  if (c->synced && cl_hdr_copy(f, "pos", pos, sizeof pos) &&
      pos[0] != '\0')
    cl_pending_push(c, pos, idx, m.seq); /* DELIV-8 */
  if (m.seq > cv->max_seen)
    cv->max_seen = m.seq;
  if (m.seq > cv->stored_seq) {
    if (f->body.len > 0 && (body = malloc(f->body.len)) == NULL) {
      c->oom = true;
      return;
    }
    if (f->body.len > 0)
      memcpy(body, f->body.ptr, f->body.len);
    m.body_len = f->body.len;
    if (m.seq == cv->stored_seq + 1) {
      hand_over(c, cv, &m, body, now_ms);
      drain_held(c, cv, now_ms);
    } else {
      hold(c, cv, &m, body);
      request_history(c, cv);
    }
  }
  cl_pending_advance(c);
}

/* PAGE closes a HISTORY. While a gap remains and the last page made
 * progress (or says more), the core asks for the next page. */
void cl_on_page(parley_client *c, const parley_frame *f, uint64_t now_ms)
{
  char req[PARLEY_ID_MAX + 1];
  uint64_t n;
  size_t i;
  bool more = false;
  const parley_str *v = parley_frame_get(f, "more");

  (void)now_ms;
  if (!cl_hdr_copy(f, "req", req, sizeof req) || req[0] != 'h' ||
      req[1] != '-')
    return;
  n = strtoull(req + 2, NULL, 10);
  more = v != NULL && parley_str_eq(*v, "yes");
  for (i = 0; i < c->conv_count; i++) {
    cl_conv *cv = c->convs[i];
    if (cv->history_req != n || n == 0)
      continue;
    cv->history_req = 0;
    if (cv->max_seen > cv->stored_seq &&
        (more || cv->stored_seq > cv->history_after))
      request_history(c, cv);
  }
}
