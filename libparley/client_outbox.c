/* The outbox of the client core (spec section 5).
 *
 * An entry is kept, with the temp-id it got when the user sent it, until
 * the server's ACK names that temp-id (SEND-5); the server answers a
 * repeated temp-id with the first ACK (SEND-3), so re-sending after any
 * disconnect is safe. Entries go out in outbox order, at most send_window
 * of them awaiting an ACK at once. A refusal that retrying cannot cure
 * (temp-id-conflict, not-found, a bad value, a frame too large) removes
 * the entry and tells the application; rate-limited pauses sending for a
 * while. Nothing else removes an entry.
 *
 * Pacing (RATE-4): when WELCOME states `rate` and `rate-burst`, the core
 * keeps its own copy of the session's bucket, with a margin (95 % of the
 * rate, seven eighths of the bucket) for frames that travel unevenly. It
 * starts at WELCOME, less the frames sent since the transport opened;
 * every frame sent takes one frame's worth, and the outbox sends while
 * the bucket holds one, else it waits (pace_at) until it does. Other
 * frames are few and are not held back; they only take their share. The
 * bucket is filled lazily, when the outbox looks at
 * it, so it may believe in at most a frame or two more than a bucket
 * filled continuously would hold, which the margin covers. A
 * rate-limited empties it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

parley_err parley_client_load_outbox(parley_client *c,
                                     const parley_outbox_entry *e)
{
  cl_out *o;
  char *body;
  size_t i;

  if (!cl_valid_id(e->temp_id) || !cl_valid_id(e->conv) ||
      (e->body_len > 0 && e->body == NULL))
    return PARLEY_E_BAD_VALUE;
  for (i = 0; i < c->outbox_count; i++)
    if (strcmp(c->outbox[i].e.temp_id, e->temp_id) == 0)
      return PARLEY_OK; /* loaded twice: one entry */
  body = malloc(e->body_len ? e->body_len : 1);
  if (body == NULL ||
      !cl_grow((void **)&c->outbox, &c->outbox_cap, c->outbox_count + 1,
               sizeof *c->outbox)) {
    free(body);
    return PARLEY_E_INTERNAL;
  }
  if (e->body_len > 0)
    memcpy(body, e->body, e->body_len);
  o = &c->outbox[c->outbox_count++];
  memset(o, 0, sizeof *o);
  o->e = *e;
  if (o->e.content_type[0] == '\0')
    strcpy(o->e.content_type, "text/plain");
  o->e.body = body;
  o->body = body;
  return PARLEY_OK;
}

/* Fills the bucket for the time since it was last filled. */
static void pace_fill(parley_client *c, uint64_t now_ms)
{
  uint64_t dt = now_ms > c->pace_ms ? now_ms - c->pace_ms : 0;

  c->pace_ms = now_ms;
  if (dt > (uint64_t)c->pace_cap) /* a long pause fills it whole */
    dt = (uint64_t)c->pace_cap;
  c->pace_held += (int64_t)(dt * c->pace_rate);
  if (c->pace_held > c->pace_cap)
    c->pace_held = c->pace_cap;
}

/* WELCOME stated `rate` frames per second in buckets of `burst`: start
 * pacing, with the margin, counting the frames the session sent already
 * (pace_held holds minus their count). */
void cl_pace_start(parley_client *c, uint64_t rate, uint64_t burst,
                   uint64_t now_ms)
{
  uint64_t r = rate - rate / 20, b = burst - burst / 8;

  c->pace_rate = (uint32_t)(r ? r : 1);
  c->pace_cap = (int64_t)(b ? b : 1) * 1000;
  c->pace_held += c->pace_cap;
  c->pace_ms = now_ms;
}

/* True when the bucket holds a frame for the next SEND; else sets
 * pace_at to when it will. Always true when not pacing. */
bool cl_pace_ready(parley_client *c, uint64_t now_ms)
{
  int64_t missing;

  if (c->pace_rate == 0)
    return true;
  pace_fill(c, now_ms);
  if (c->pace_held >= 1000)
    return true;
  missing = 1000 - c->pace_held;
  c->pace_at = now_ms + (uint64_t)((missing + c->pace_rate - 1) /
                                   c->pace_rate);
  return false;
}

/* The server said rate-limited: its bucket is empty, so is this one. */
void cl_pace_empty(parley_client *c, uint64_t now_ms)
{
  if (c->pace_rate != 0 && c->pace_held > 0)
    c->pace_held = 0;
  c->pace_ms = now_ms;
}

void cl_outbox_free(parley_client *c)
{
  size_t i;

  for (i = 0; i < c->outbox_count; i++)
    free(c->outbox[i].body);
  free(c->outbox);
  c->outbox = NULL;
  c->outbox_count = c->outbox_cap = 0;
}

void cl_outbox_reset_session(parley_client *c)
{
  size_t i;

  for (i = 0; i < c->outbox_count; i++) {
    c->outbox[i].in_flight = false;
    c->outbox[i].req = 0;
  }
  c->in_flight = 0;
}

/* Removes entry i: an OUTBOX_REMOVE write, then `ev` (EV_STATUS for an
 * ACK, EV_SEND_FAILED for a refusal) carrying the entry. Returns the
 * event so the caller can fill in the rest. */
static cl_item *remove_entry(parley_client *c, size_t i,
                             parley_client_action_kind ev)
{
  cl_out *o = &c->outbox[i];
  cl_item *rm = cl_push(c, PARLEY_CLIENT_OUTBOX_REMOVE);
  cl_item *it;

  if (rm != NULL) {
    rm->a.outbox = o->e;
    rm->a.outbox.body = NULL;
    rm->a.outbox.body_len = 0;
  }
  it = cl_push(c, ev);
  if (it != NULL) {
    it->a.outbox = o->e;
    it->a.outbox.body = NULL;
    it->a.outbox.body_len = 0;
    memcpy(it->a.conv, o->e.conv, sizeof it->a.conv);
  }
  if (o->in_flight)
    c->in_flight--;
  free(o->body);
  memmove(o, o + 1, (c->outbox_count - i - 1) * sizeof *o);
  c->outbox_count--;
  return it;
}

/* Builds the SEND frame of o into b. Returns PARLEY_OK or the error that
 * makes the entry unsendable. */
static parley_err build_send(parley_client *c, const cl_out *o,
                             const char *req, parley_buf *b)
{
  parley_err err;

  err = parley_frame_begin(b, "SEND");
  if (err == PARLEY_OK)
    err = parley_frame_header_str(b, "conv", o->e.conv);
  if (err == PARLEY_OK)
    err = parley_frame_header_str(b, "temp-id", o->e.temp_id);
  if (err == PARLEY_OK)
    err = parley_frame_header_str(b, "req", req);
  if (err == PARLEY_OK)
    err = parley_frame_header_str(b, "content-type", o->e.content_type);
  if (err == PARLEY_OK && o->e.body_len > c->max_body)
    err = PARLEY_E_FRAME_TOO_LARGE; /* SEND-10 */
  if (err == PARLEY_OK)
    err = parley_frame_end(b, o->body, o->e.body_len, false);
  if (err == PARLEY_OK && b->len > c->max_frame)
    err = PARLEY_E_FRAME_TOO_LARGE; /* FRAME-3 */
  return err;
}

/* SEND-9: past the dedup window the server may have forgotten the
 * temp-id, so a repeat could make a second message. The outbox keeps
 * when the user sent a message, not when it first went out, so this
 * errs on the side of reporting a failure. */
static bool too_old(const parley_client *c, const cl_out *o, uint64_t now_ms)
{
  uint64_t window = c->dedup_window_ms ? c->dedup_window_ms : 86400000u;

  return o->e.created_ms != 0 && now_ms >= o->e.created_ms &&
         now_ms - o->e.created_ms >= window;
}

/* Sends outbox entries not in flight, in order, while the window has
 * room and the rate bucket holds a frame (RATE-4). Does nothing outside
 * READY or while frames are held. */
void cl_outbox_send_due(parley_client *c, uint64_t now_ms)
{
  size_t i = 0;
  char req[24];

  c->pace_at = 0;
  if (c->state != CL_READY || c->hold_until != 0)
    return;
  while (i < c->outbox_count && c->in_flight < c->cfg.send_window) {
    cl_out *o = &c->outbox[i];
    parley_buf b = {0};
    uint64_t n;
    parley_err err = PARLEY_E_TIMEOUT;
    if (o->in_flight) {
      i++;
      continue;
    }
    if (!too_old(c, o, now_ms) && !cl_pace_ready(c, now_ms))
      break; /* RATE-4: on_time goes on at pace_at */
    n = cl_next_req(c, req, sizeof req, 's');
    if (!too_old(c, o, now_ms))
      err = build_send(c, o, req, &b);
    if (err == PARLEY_OK) {
      cl_send_frame(c, &b);
      o->in_flight = true;
      o->req = n;
      c->in_flight++;
      i++;
    } else {
      cl_item *it = remove_entry(c, i, PARLEY_CLIENT_EV_SEND_FAILED);
      if (it != NULL)
        it->a.err = err;
    }
    parley_buf_free(&b);
  }
}

/* ACK: the entry with that temp-id is done. An ACK for a temp-id no
 * longer in the outbox (a repeat) changes nothing. */
void cl_on_ack(parley_client *c, const parley_frame *f, uint64_t now_ms)
{
  char temp_id[PARLEY_ID_MAX + 1];
  size_t i;
  cl_item *it;

  if (!cl_hdr_copy(f, "temp-id", temp_id, sizeof temp_id))
    return;
  for (i = 0; i < c->outbox_count; i++)
    if (strcmp(c->outbox[i].e.temp_id, temp_id) == 0)
      break;
  if (i == c->outbox_count)
    return;
  c->hold_attempt = 0;
  it = remove_entry(c, i, PARLEY_CLIENT_EV_STATUS);
  if (it != NULL) {
    it->a.status = PARLEY_STATUS_SENT;
    cl_hdr_copy(f, "msg-id", it->a.msg.msg_id, sizeof it->a.msg.msg_id);
    cl_hdr_u64(f, "seq", &it->a.msg.seq);
    cl_hdr_u64(f, "ts", &it->a.msg.ts_ms);
    it->a.seq = it->a.msg.seq;
    memcpy(it->a.msg.conv, it->a.conv, sizeof it->a.msg.conv);
    memcpy(it->a.msg.temp_id, temp_id, sizeof temp_id);
  }
  cl_outbox_send_due(c, now_ms);
}

static bool retryable(parley_err err)
{
  return err == PARLEY_E_RATE_LIMITED || err == PARLEY_E_AUTH_REQUIRED ||
         err == PARLEY_E_INTERNAL || err == PARLEY_E_TIMEOUT ||
         err == PARLEY_E_GOING_AWAY;
}

/* An ERROR answering the SEND with req number `req`. Returns false when
 * no entry in flight has that req. */
bool cl_outbox_on_error(parley_client *c, uint64_t req, parley_err err,
                        uint64_t now_ms)
{
  size_t i;
  cl_item *it;

  for (i = 0; i < c->outbox_count; i++)
    if (c->outbox[i].in_flight && c->outbox[i].req == req)
      break;
  if (i == c->outbox_count)
    return false;
  if (retryable(err)) {
    c->outbox[i].in_flight = false;
    c->outbox[i].req = 0;
    c->in_flight--;
    if (c->hold_until == 0)
      cl_hold_frames(c, now_ms);
    return true;
  }
  it = remove_entry(c, i, PARLEY_CLIENT_EV_SEND_FAILED);
  if (it != NULL)
    it->a.err = err;
  cl_outbox_send_due(c, now_ms);
  return true;
}
