/* Resume and history (spec section 8).
 *
 * SYNC runs in rounds. A round reads the user's events in (cursor, upto]
 * from the store, page by page, where upto is the durable pos when the
 * round starts. Live events that become durable meanwhile have a larger
 * pos; they are held back on the session, in pos order. When the round
 * reaches upto, the held events are sent, then SYNCED with the pos of
 * the last event sent (the durable pos when none was), and the session
 * is live: every event is sent once and in pos order (SYNC-1, SYNC-3,
 * DELIV-3). When more events arrive during a round than
 * the hold limit allows, the held ones are dropped and the next round
 * reads them from the store instead, so a session's memory stays bounded.
 *
 * HISTORY cursors are opaque: a direction, a sequence number and a keyed
 * BLAKE2b tag over both and the conversation id, in base64url. A cursor
 * from another conversation or another server key fails the tag check
 * (bad-cursor). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server_internal.h"

#define CURSOR_TAG_LEN 16
#define CURSOR_RAW_LEN (1 + 8 + CURSOR_TAG_LEN)
#define CURSOR_BACK 0
#define CURSOR_FORWARD 1

static const int b64_variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

/* ---- cursors ---- */

static void cursor_tag(const parley_server *s, const char *conv_id,
                       const unsigned char *raw, unsigned char *tag)
{
  crypto_generichash_state st;
  crypto_generichash_init(&st, s->cfg.cursor_key, sizeof s->cfg.cursor_key,
                          CURSOR_TAG_LEN);
  crypto_generichash_update(&st, (const unsigned char *)"parley-cursor-1",
                            15);
  crypto_generichash_update(&st, raw, 9);
  crypto_generichash_update(&st, (const unsigned char *)conv_id,
                            strlen(conv_id) + 1);
  crypto_generichash_final(&st, tag, CURSOR_TAG_LEN);
}

/* Writes the cursor for (direction, seq) in `conv_id` into out (at least
 * 64 bytes). */
static void cursor_make(const parley_server *s, const char *conv_id,
                        int dir, uint64_t seq, char *out)
{
  unsigned char raw[CURSOR_RAW_LEN];
  raw[0] = (unsigned char)dir;
  for (int i = 0; i < 8; i++)
    raw[1 + i] = (unsigned char)(seq >> (56 - 8 * i));
  cursor_tag(s, conv_id, raw, raw + 9);
  sodium_bin2base64(out, 64, raw, sizeof raw, b64_variant);
}

/* Checks a cursor for `conv_id`; fills *dir and *seq. Returns false for
 * anything this server did not issue for that conversation. */
static bool cursor_read(const parley_server *s, const char *conv_id,
                        const char *text, size_t len, int *dir,
                        uint64_t *seq)
{
  unsigned char raw[CURSOR_RAW_LEN + 1];
  unsigned char tag[CURSOR_TAG_LEN];
  size_t raw_len = 0;
  const char *end = NULL;

  if (len == 0 || len > 64 ||
      sodium_base642bin(raw, sizeof raw, text, len, NULL, &raw_len, &end,
                        b64_variant) != 0 ||
      end != text + len || raw_len != CURSOR_RAW_LEN)
    return false;
  cursor_tag(s, conv_id, raw, tag);
  if (sodium_memcmp(tag, raw + 9, CURSOR_TAG_LEN) != 0)
    return false;
  *dir = raw[0];
  *seq = 0;
  for (int i = 0; i < 8; i++)
    *seq = (*seq << 8) | raw[1 + i];
  if (*dir != CURSOR_BACK && *dir != CURSOR_FORWARD)
    return false;
  if (PARLEY_FAULT(&s->cfg, HISTORY_MORE_WHEN_FULL) && *seq == 1)
    return true; /* the cursor past the first message: an empty page */
  return !(*dir == CURSOR_BACK && *seq < 2);
}

/* ---- SYNC ---- */

void held_clear(session *ss)
{
  for (size_t i = 0; i < ss->held_len; i++)
    blob_unref(ss->held[i].frame);
  ss->held_len = 0;
}

static void send_synced(parley_server *s, session *ss, uint64_t pos,
                        const reqid *req)
{
  fbuild fb;
  fb_begin(&fb, "SYNCED");
  fb_u64(&fb, "pos", pos);
  fb_req(&fb, req);
  blob *b = fb_finish(&fb, NULL, 0, false);
  act_send(s, ss->conn, b);
  blob_unref(b);
}

/* Asks for the next page of the current round. */
static void sync_read(parley_server *s, session *ss)
{
  pending *p = pending_new(s, PEND_SYNC, PARLEY_STORE_READ_EVENTS);
  if (p == NULL) {
    send_error(s, ss, PARLEY_E_INTERNAL, &ss->sync_req, NULL);
    return;
  }
  memcpy(p->req.read_events.user, ss->user->name,
         sizeof p->req.read_events.user);
  p->req.read_events.after_pos = ss->sync_cursor;
  p->req.read_events.upto_pos = ss->sync_upto;
  p->req.read_events.limit = SRV_SYNC_PAGE;
  p->conn = ss->conn;
  p->serial = ss->serial;
  pending_issue(s, p);
}

/* The round reached its upto: start another round after an overflow,
 * else send the held events and SYNCED, and go live. */
static void sync_round_end(parley_server *s, session *ss)
{
  if (ss->sync_overflow) {
    ss->sync_overflow = false;
    ss->sync_upto = s->durable_pos;
    if (ss->sync_cursor < ss->sync_upto) {
      sync_read(s, ss);
      return;
    }
  }
  for (size_t i = 0; i < ss->held_len; i++) {
    act_send(s, ss->conn, ss->held[i].frame);
    ss->sync_sent = true;
    ss->sync_last = ss->held[i].pos;
  }
  held_clear(ss);
  ss->syncing = false;
  send_synced(s, ss, ss->sync_sent ? ss->sync_last : s->durable_pos,
              &ss->sync_req);
}

/* SYNC (SYNC-1, SYNC-2). */
void on_sync(parley_server *s, session *ss, const parley_frame *f,
             const reqid *req)
{
  uint64_t since = 0;
  bool present = false;

  if (ss->syncing) {
    send_error(s, ss, PARLEY_E_BAD_STATE, req, "a SYNC is running");
    return;
  }
  if (!hdr_u64(s, ss, f, req, "since", false, &since, &present))
    return;
  if (present && since > s->durable_pos) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: since");
    return;
  }
  if (!present) {
    send_synced(s, ss, s->durable_pos, req);
    return;
  }
  ss->syncing = true;
  ss->sync_overflow = false;
  ss->sync_sent = false;
  ss->sync_cursor = since;
  if (PARLEY_FAULT(&s->cfg, SYNC_SINCE_INCLUSIVE) && since > 0)
    ss->sync_cursor = since - 1; /* reads from since, not after it */
  ss->sync_upto = s->durable_pos;
  ss->sync_req = *req;
  if (ss->sync_cursor == ss->sync_upto)
    sync_round_end(s, ss);
  else
    sync_read(s, ss);
}

/* Sends one stored event of a sync page. */
static void sync_send_event(parley_server *s, session *ss,
                            const parley_event *e)
{
  blob *b = NULL;
  if (e->type == PARLEY_EVENT_MSG)
    b = msg_frame(&e->msg, true, NULL);
  else if (e->type == PARLEY_EVENT_RECEIPT)
    b = receipt_frame(&e->receipt);
  act_send(s, ss->conn, b);
  blob_unref(b);
}

void sync_read_done(parley_server *s, pending *p,
                    const parley_store_result *res)
{
  session *ss = session_find_serial(s, p->conn, p->serial);
  if (ss == NULL || !ss->syncing)
    return;
  for (size_t i = 0; i < res->event_count; i++) {
    const parley_event *e = &res->events[i];
    uint64_t pos = e->type == PARLEY_EVENT_MSG ? e->msg.pos : e->receipt.pos;
    if (pos <= ss->sync_cursor || pos > ss->sync_upto)
      continue; /* outside the asked range: the store misbehaved */
    sync_send_event(s, ss, e);
    ss->sync_cursor = pos;
    ss->sync_sent = true;
    ss->sync_last = pos;
  }
  if (res->more && res->event_count > 0 && ss->sync_cursor < ss->sync_upto) {
    sync_read(s, ss);
    return;
  }
  ss->sync_cursor = ss->sync_upto;
  sync_round_end(s, ss);
}

/* ---- HISTORY ---- */

/* Reads the optional limit (1..100, default 50). Returns false after
 * answering bad-value. */
static bool history_limit(parley_server *s, session *ss,
                          const parley_frame *f, const reqid *req,
                          size_t *limit)
{
  uint64_t v = SRV_HISTORY_LIMIT;
  bool present = false;
  if (!hdr_u64(s, ss, f, req, "limit", false, &v, &present))
    return false;
  if (v < 1 || v > SRV_HISTORY_LIMIT_MAX) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: limit");
    return false;
  }
  *limit = (size_t)v;
  return true;
}

/* Fills the read of a history page from a cursor (or its absence) and
 * `after`. Returns false when the cursor is not valid for the
 * conversation. */
static bool history_range(const parley_server *s, pending *p,
                          const char *cursor, size_t cursor_len,
                          bool has_after, uint64_t after)
{
  int dir = CURSOR_BACK;
  uint64_t seq = 0;

  if (cursor != NULL &&
      !cursor_read(s, p->c->id, cursor, cursor_len, &dir, &seq))
    return false;
  if (has_after) {
    dir = CURSOR_FORWARD;
    seq = after;
  }
  memcpy(p->req.read_history.conv, p->c->id, sizeof p->c->id);
  p->forward = dir == CURSOR_FORWARD;
  p->req.read_history.forward = p->forward;
  p->req.read_history.before_seq = p->forward ? 0 : seq;
  p->req.read_history.after_seq = p->forward ? seq : 0;
  return true;
}

/* HISTORY (HIST-1, HIST-2). */
void on_history(parley_server *s, session *ss, const parley_frame *f,
                const reqid *req)
{
  char conv_id[PARLEY_ID_MAX + 1];
  size_t limit = 0;
  uint64_t after = 0;
  bool has_after = false;

  if (!hdr_id(s, ss, f, req, "conv", conv_id) ||
      !history_limit(s, ss, f, req, &limit) ||
      !hdr_u64(s, ss, f, req, "after", false, &after, &has_after))
    return;
  const parley_str *cursor = parley_frame_get(f, "cursor");
  if (cursor != NULL && has_after) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req,
               "bad value in header: after (cursor given too)");
    return;
  }
  conv *c = conv_for_member(s, conv_id, strlen(conv_id), ss->user, NULL);
  if (c == NULL) {
    send_not_found(s, ss, conv_id, req);
    return;
  }
  pending *p = pending_new(s, PEND_HISTORY, PARLEY_STORE_READ_HISTORY);
  if (p == NULL) {
    send_error(s, ss, PARLEY_E_INTERNAL, req, NULL);
    return;
  }
  p->c = c;
  if (!history_range(s, p, cursor ? cursor->ptr : NULL,
                     cursor ? cursor->len : 0, has_after, after)) {
    pending_free(p);
    send_error(s, ss, PARLEY_E_BAD_CURSOR, req, NULL);
    return;
  }
  p->req.read_history.limit = limit;
  p->conn = ss->conn;
  p->serial = ss->serial;
  p->req_id = *req;
  pending_issue(s, p);
}

/* How many of res->events make the page: at most the limit asked. */
static size_t history_count(const pending *p, const parley_store_result *res)
{
  size_t n = res->event_count;
  if (n > p->req.read_history.limit)
    n = p->req.read_history.limit;
  return n;
}

/* The cursor for the page after this one, or "" when there is none. */
static void history_next_cursor(const parley_server *s, const pending *p,
                                const parley_event *ev, size_t n, bool more,
                                char *out)
{
  uint64_t oldest = n ? ev[0].msg.seq : 0, newest = n ? ev[n - 1].msg.seq : 0;
  out[0] = '\0';
  if (PARLEY_FAULT(&s->cfg, HISTORY_MORE_WHEN_FULL))
    more = n == p->req.read_history.limit; /* a full page "has more" */
  if (PARLEY_FAULT(&s->cfg, HISTORY_CURSOR_INCLUSIVE)) {
    oldest++; /* the cursor takes in the message it should exclude */
    newest--;
  }
  if (!more || n == 0)
    return;
  if (p->forward)
    cursor_make(s, p->c->id, CURSOR_FORWARD, newest, out);
  else if (oldest >= 2 || PARLEY_FAULT(&s->cfg, HISTORY_MORE_WHEN_FULL))
    cursor_make(s, p->c->id, CURSOR_BACK, oldest, out);
}

static void history_ws_done(parley_server *s, pending *p,
                            const parley_store_result *res)
{
  char cursor[64];
  fbuild fb;
  session *ss = session_find_serial(s, p->conn, p->serial);
  if (ss == NULL)
    return;
  size_t n = history_count(p, res);
  for (size_t i = 0; i < n; i++) {
    blob *b = msg_frame(&res->events[i].msg, false, &p->req_id);
    act_send(s, ss->conn, b);
    blob_unref(b);
  }
  history_next_cursor(s, p, res->events, n, res->more, cursor);
  fb_begin(&fb, "PAGE");
  fb_hdr(&fb, "conv", p->c->id);
  fb_u64(&fb, "count", n);
  fb_hdr(&fb, "more", cursor[0] ? "yes" : "no");
  if (cursor[0])
    fb_hdr(&fb, "cursor", cursor);
  fb_req(&fb, &p->req_id);
  blob *b = fb_finish(&fb, NULL, 0, false);
  act_send(s, ss->conn, b);
  blob_unref(b);
}

/* Copies the page's messages into the reply box; false without memory. */
static bool history_copy(api_box *box, const parley_event *ev, size_t n)
{
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    total += ev[i].msg.body_len;
  box->events = calloc(n ? n : 1, sizeof *box->events);
  box->bodies = malloc(total ? total : 1);
  if (box->events == NULL || box->bodies == NULL)
    return false;
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    box->events[i] = ev[i];
    if (ev[i].msg.body_len)
      memcpy(box->bodies + off, ev[i].msg.body, ev[i].msg.body_len);
    box->events[i].msg.body = box->bodies + off;
    off += ev[i].msg.body_len;
  }
  return true;
}

static void history_api_done(parley_server *s, pending *p,
                             const parley_store_result *res)
{
  api_box *box = calloc(1, sizeof *box);
  size_t n = history_count(p, res);
  if (box == NULL)
    return;
  box->reply.api_id = p->api_id;
  if (!history_copy(box, res->events, n)) {
    free(box->events);
    free(box->bodies);
    box->events = NULL;
    box->bodies = NULL;
    box->reply.err = PARLEY_E_INTERNAL;
    act_api(s, box);
    return;
  }
  history_next_cursor(s, p, res->events, n, res->more, box->cursor);
  box->reply.events = box->events;
  box->reply.event_count = n;
  box->reply.more = box->cursor[0] != '\0';
  box->reply.cursor = box->reply.more ? box->cursor : NULL;
  act_api(s, box);
}

void history_read_done(parley_server *s, pending *p,
                       const parley_store_result *res)
{
  if (p->kind == PEND_API_HISTORY)
    history_api_done(s, p, res);
  else
    history_ws_done(s, p, res);
}

void parley_server_api_history(parley_server *s, uint64_t api_id,
                               const char *user_name, const char *conv_id,
                               const char *cursor, size_t limit,
                               uint64_t now_ms)
{
  if (!server_enter(s, now_ms))
    return;
  const user *u =
      user_name ? pmap_get(&s->users, user_name, strlen(user_name)) : NULL;
  conv *c = conv_id ? conv_for_member(s, conv_id, strlen(conv_id), u, NULL)
                    : NULL;
  pending *p = NULL;
  if (limit == 0)
    limit = SRV_HISTORY_LIMIT;
  if (limit > SRV_HISTORY_LIMIT_MAX) {
    act_api_error(s, api_id, PARLEY_E_BAD_VALUE);
  } else if (c == NULL) {
    act_api_error(s, api_id, PARLEY_E_NOT_FOUND);
  } else if ((p = pending_new(s, PEND_API_HISTORY,
                              PARLEY_STORE_READ_HISTORY)) == NULL) {
    act_api_error(s, api_id, PARLEY_E_INTERNAL);
  } else {
    p->c = c;
    p->api_id = api_id;
    p->req.read_history.limit = limit;
    bool has_cursor = cursor != NULL && cursor[0] != '\0';
    if (history_range(s, p, has_cursor ? cursor : NULL,
                      has_cursor ? strlen(cursor) : 0, false, 0)) {
      pending_issue(s, p);
    } else {
      pending_free(p);
      act_api_error(s, api_id, PARLEY_E_BAD_CURSOR);
    }
  }
  server_leave(s);
}
