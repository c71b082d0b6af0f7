/* Sending, receipts and store completions (spec sections 5, 6, 7, 11).
 *
 * SEND assigns seq and pos at once, remembers the temp-id (SEND-3) and
 * asks the store for the append; the ACK waits on the pending write and
 * the MSG frame, built at SEND time, is fanned out when the write is
 * durable. A repeat of a temp-id whose append is still in flight waits
 * on the same write, so it never makes a second message. RECEIPT works
 * the same way with the kept maxima of RCPT-1. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server_internal.h"

/* ---- frames ---- */

/* The MSG frame of spec section 6 for a stored message: with `pos` for
 * the event stream, or with `req` and no pos for a HISTORY page. */
blob *msg_frame(const parley_msg *m, bool with_pos, const reqid *req)
{
  fbuild fb;
  fb_begin(&fb, "MSG");
  fb_hdr(&fb, "conv", m->conv);
  fb_hdr(&fb, "msg-id", m->msg_id);
  fb_u64(&fb, "seq", m->seq);
  fb_hdr(&fb, "from", m->from);
  fb_hdr(&fb, "device", m->device);
  fb_hdr(&fb, "temp-id", m->temp_id);
  fb_u64(&fb, "ts", m->ts_ms);
  if (with_pos)
    fb_u64(&fb, "pos", m->pos);
  fb_req(&fb, req);
  fb_hdr(&fb, "content-type",
         m->content_type[0] ? m->content_type : "text/plain");
  return fb_finish(&fb, m->body, m->body_len, false);
}

/* The RECEIPT frame of RCPT-3. */
blob *receipt_frame(const parley_receipt *r)
{
  fbuild fb;
  fb_begin(&fb, "RECEIPT");
  fb_hdr(&fb, "conv", r->conv);
  fb_hdr(&fb, "user", r->user);
  fb_hdr(&fb, "kind", r->kind == PARLEY_RECEIPT_READ ? "read" : "delivered");
  fb_u64(&fb, "seq", r->seq);
  fb_u64(&fb, "pos", r->pos);
  return fb_finish(&fb, NULL, 0, false);
}

/* The ACK of SEND-1 for message `m`. */
static blob *ack_frame(const char *conv_id, const char *temp_id,
                       const char *msg_id, uint64_t seq, uint64_t ts_ms,
                       const reqid *req)
{
  fbuild fb;
  fb_begin(&fb, "ACK");
  fb_hdr(&fb, "conv", conv_id);
  fb_hdr(&fb, "temp-id", temp_id);
  fb_hdr(&fb, "msg-id", msg_id);
  fb_u64(&fb, "seq", seq);
  fb_u64(&fb, "ts", ts_ms);
  fb_req(&fb, req);
  return fb_finish(&fb, NULL, 0, false);
}

static blob *ok_frame(const reqid *req)
{
  fbuild fb;
  fb_begin(&fb, "OK");
  fb_req(&fb, req);
  return fb_finish(&fb, NULL, 0, false);
}

/* ---- pending store requests ---- */

/* A new pending request with a fresh id; NULL when memory runs out. */
pending *pending_new(parley_server *s, pending_kind kind,
                     parley_store_op op)
{
  pending *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  p->id = s->next_store_id++;
  p->kind = kind;
  p->req.id = p->id;
  p->req.op = op;
  p->waiters_tail = &p->waiters;
  return p;
}

void pending_free(pending *p)
{
  waiter *w = p->waiters;
  while (w != NULL) {
    waiter *next = w->next;
    blob_unref(w->frame);
    free(w);
    w = next;
  }
  blob_unref(p->event_frame);
  free(p->body);
  free(p->info);
  free(p);
}

/* Queues the request and its STORE action. Writes go to the ordered
 * write list, reads to the read list. */
void pending_issue(parley_server *s, pending *p)
{
  bool write = p->kind == PEND_MSG || p->kind == PEND_RECEIPT ||
               p->kind == PEND_CONV || p->kind == PEND_CALL;
  if (write) {
    if (s->writes_tail != NULL)
      s->writes_tail->next = p;
    else
      s->writes = p;
    s->writes_tail = p;
  } else {
    p->next = s->reads;
    s->reads = p;
  }
  act_store(s, &p->req);
}

/* Adds "send `frame` on conn when durable"; takes a reference. */
bool waiter_add(pending *p, parley_conn_id conn, uint64_t serial,
                blob *frame)
{
  waiter *w = calloc(1, sizeof *w);
  if (w == NULL || frame == NULL) {
    free(w);
    return false;
  }
  w->conn = conn;
  w->serial = serial;
  w->frame = blob_ref(frame);
  *p->waiters_tail = w;
  p->waiters_tail = &w->next;
  return true;
}

/* Sends or answers everything that waited on `p`. */
static void waiters_run(parley_server *s, pending *p);

/* ---- delivery ---- */

/* Makes room for one more held event; false when memory runs out. */
static bool held_grow(session *ss)
{
  if (ss->held_len < ss->held_cap)
    return true;
  size_t cap = ss->held_cap ? ss->held_cap * 2 : 16;
  held_event *h = realloc(ss->held, cap * sizeof *h);
  if (h == NULL)
    return false;
  ss->held = h;
  ss->held_cap = cap;
  return true;
}

void deliver_event(parley_server *s, session *ss, uint64_t pos,
                   blob *frame)
{
  if (frame == NULL)
    return;
  if (!ss->syncing) {
    act_send(s, ss->conn, frame);
    return;
  }
  if (ss->sync_overflow)
    return; /* the next sync round reads it from the store */
  if (ss->held_len >= s->cfg.sync_hold_max || !held_grow(ss)) {
    held_clear(ss);
    ss->sync_overflow = true;
    act_log(s, ss->conn, PARLEY_LOG_INFO,
            "sync: live events past the hold limit, reading them again");
    return;
  }
  ss->held[ss->held_len++] = (held_event){pos, blob_ref(frame)};
}

/* Delivers a positioned event to every READY session of every member of
 * the conversation (DELIV-1, RCPT-3). `sent` is the message the event
 * is, or NULL for a receipt. */
static void fanout(parley_server *s, const conv *c, uint64_t pos,
                   blob *frame, const parley_msg *sent)
{
  for (size_t i = 0; i < c->member_count; i++) {
    user *u = c->members[i].u;
    if (PARLEY_FAULT(&s->cfg, FANOUT_SKIPS_LAST_MEMBER) &&
        c->member_count > 2 && i + 1 == c->member_count)
      continue; /* the loop stops one member short */
    for (size_t k = 0; k < u->sessions.len; k++) {
      session *to = u->sessions.items[k];
      if (PARLEY_FAULT(&s->cfg, FANOUT_SKIPS_SENDER_DEVICES) &&
          sent != NULL && strcmp(u->name, sent->from) == 0 &&
          strcmp(to->device, sent->device) != 0)
        continue; /* the sender's other devices are left out */
      deliver_event(s, to, pos, frame);
    }
  }
}

/* ---- the temp-id memory ---- */

static void dedup_unlink_free(parley_server *s, dedup *d)
{
  pmap_del(&s->dedups, d->key, d->key_len);
  free(d->key);
  free(d);
  (void)s;
}

/* Forgets temp-ids older than the dedup window, oldest first; an entry
 * whose append is in flight stays. */
static void dedup_expire(parley_server *s)
{
  while (s->dedup_head != NULL) {
    dedup *d = s->dedup_head;
    if (d->in_flight != NULL ||
        d->created_ms + s->cfg.dedup_window_ms > s->now)
      break;
    s->dedup_head = d->next;
    if (s->dedup_head == NULL)
      s->dedup_tail = NULL;
    dedup_unlink_free(s, d);
  }
}

void dedup_free_all(parley_server *s)
{
  while (s->dedup_head != NULL) {
    dedup *d = s->dedup_head;
    s->dedup_head = d->next;
    dedup_unlink_free(s, d);
  }
  s->dedup_tail = NULL;
}

/* Builds the key user NUL device NUL temp-id into out; returns length. */
static size_t dedup_key(char *out, const char *u, const char *device,
                        const char *temp_id)
{
  size_t a = strlen(u), b = strlen(device), c = strlen(temp_id);
  memcpy(out, u, a + 1);
  memcpy(out + a + 1, device, b + 1);
  memcpy(out + a + b + 2, temp_id, c);
  return a + b + 2 + c;
}

#define DEDUP_KEY_MAX (PARLEY_USER_MAX + 2 * PARLEY_ID_MAX + 2)

/* Records a temp-id; returns the entry, or NULL when memory runs out. */
static dedup *dedup_add(parley_server *s, const char *key, size_t key_len,
                        conv *c, const parley_msg *m, uint64_t created_ms)
{
  dedup *d = calloc(1, sizeof *d);
  char *k = malloc(key_len);
  if (d == NULL || k == NULL || !pmap_put(&s->dedups, key, key_len, d)) {
    free(d);
    free(k);
    return NULL;
  }
  memcpy(k, key, key_len);
  d->key = k;
  d->key_len = key_len;
  d->c = c;
  crypto_generichash(d->body_hash, sizeof d->body_hash,
                     (const unsigned char *)m->body, m->body_len,
                     s->hash_key, sizeof s->hash_key);
  memcpy(d->temp_id, m->temp_id, sizeof d->temp_id);
  memcpy(d->msg_id, m->msg_id, sizeof d->msg_id);
  d->seq = m->seq;
  d->ts_ms = m->ts_ms;
  d->created_ms = created_ms;
  if (s->dedup_tail != NULL)
    s->dedup_tail->next = d;
  else
    s->dedup_head = d;
  s->dedup_tail = d;
  return d;
}

parley_err parley_server_load_sent(parley_server *s, const parley_msg *m)
{
  char key[DEDUP_KEY_MAX];
  user *u = pmap_get(&s->users, m->from, strlen(m->from));
  conv *c = conv_for_member(s, m->conv, strlen(m->conv), u, NULL);

  if (c == NULL)
    return PARLEY_E_NOT_FOUND;
  if (!srv_id_valid(m->device, strlen(m->device)) ||
      !srv_id_valid(m->temp_id, strlen(m->temp_id)))
    return PARLEY_E_BAD_VALUE;
  size_t key_len = dedup_key(key, m->from, m->device, m->temp_id);
  if (pmap_get(&s->dedups, key, key_len) != NULL)
    return PARLEY_OK;
  if (dedup_add(s, key, key_len, c, m, m->ts_ms) == NULL)
    return PARLEY_E_INTERNAL;
  return PARLEY_OK;
}

/* Answers a SEND that repeats a remembered temp-id: a conflict (SEND-4),
 * or the first ACK now or when the first append is durable (SEND-3). */
static void send_repeat(parley_server *s, session *ss, dedup *d,
                        const conv *c, const parley_frame *f,
                        const reqid *req)
{
  unsigned char hash[16];

  crypto_generichash(hash, sizeof hash, (const unsigned char *)f->body.ptr,
                     f->body.len, s->hash_key, sizeof s->hash_key);
  bool same_body = sodium_memcmp(hash, d->body_hash, sizeof hash) == 0;
  if (PARLEY_FAULT(&s->cfg, DEDUP_IGNORES_BODY))
    same_body = true; /* only the conversation is compared */
  if (d->c != c || !same_body) {
    send_error(s, ss, PARLEY_E_TEMP_ID_CONFLICT, req, NULL);
    return;
  }
  blob *ack = ack_frame(d->c->id, d->temp_id, d->msg_id, d->seq, d->ts_ms,
                        req);
  if (d->in_flight != NULL && !PARLEY_FAULT(&s->cfg, ACK_BEFORE_COMMIT))
    waiter_add(d->in_flight, ss->conn, ss->serial, ack);
  else
    act_send(s, ss->conn, ack);
  blob_unref(ack);
}

/* ---- SEND ---- */

/* True for an octet RFC 9110 allows in a token. */
static bool tchar(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* Advances *i past a run of tchar in s[*i..len). Returns false when the
 * run is empty. */
static bool skip_token(const char *s, size_t len, size_t *i)
{
  size_t from = *i;
  while (*i < len && tchar(s[*i]))
    (*i)++;
  return *i > from;
}

/* Advances *i past OWS (spaces and tabs). */
static void skip_ows(const char *s, size_t len, size_t *i)
{
  while (*i < len && (s[*i] == ' ' || s[*i] == '\t'))
    (*i)++;
}

/* Advances *i past an RFC 9110 quoted-string at s[*i], ASCII only
 * (no obs-text). Returns false when there is none. */
static bool skip_quoted(const char *s, size_t len, size_t *i)
{
  if (*i >= len || s[*i] != '"')
    return false;
  for ((*i)++; *i < len; (*i)++) {
    unsigned char c = (unsigned char)s[*i];
    if (c == '"') {
      (*i)++;
      return true;
    }
    if (c == '\\' && ++(*i) >= len)
      return false;
    c = (unsigned char)s[*i];
    if ((c < 0x20 && c != '\t') || c >= 0x7f)
      return false;
  }
  return false;
}

/* True when s[0..len) is a media type as RFC 9110, section 8.3.1 writes
 * it, ASCII only and at most 127 octets (section 2.9):
 *   type "/" subtype *( OWS ";" OWS parameter )
 *   parameter = token "=" ( token / quoted-string )
 * Empty parameters and whitespace after the last one are refused. */
static bool ctype_valid(const char *s, size_t len)
{
  size_t i = 0;
  if (len > PARLEY_CTYPE_MAX || !skip_token(s, len, &i) || i == len ||
      s[i++] != '/' || !skip_token(s, len, &i))
    return false;
  while (i < len) {
    skip_ows(s, len, &i);
    if (i == len || s[i++] != ';')
      return false;
    skip_ows(s, len, &i);
    if (!skip_token(s, len, &i) || i == len || s[i++] != '=')
      return false;
    if (!skip_token(s, len, &i) && !skip_quoted(s, len, &i))
      return false;
  }
  return true;
}

/* Reads the headers of SEND into *m (conv, temp-id, content-type and the
 * body). Returns false after answering an error. */
static bool send_headers(parley_server *s, session *ss,
                         const parley_frame *f, const reqid *req,
                         parley_msg *m)
{
  if (!hdr_id(s, ss, f, req, "conv", m->conv) ||
      !hdr_id(s, ss, f, req, "temp-id", m->temp_id))
    return false;
  const parley_str *ct = parley_frame_get(f, "content-type");
  if (ct != NULL && !ctype_valid(ct->ptr, ct->len)) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req,
               "bad value in header: content-type");
    return false;
  }
  if (ct != NULL)
    srv_copy(m->content_type, sizeof m->content_type, ct->ptr, ct->len);
  else
    srv_copy(m->content_type, sizeof m->content_type, "text/plain", 10);
  memcpy(m->from, ss->user->name, sizeof m->from);
  memcpy(m->device, ss->device, sizeof m->device);
  m->body = f->body.ptr;
  m->body_len = f->body.len;
  return true;
}

/* Fills seq, pos, msg-id and ts for the next message of `c` and builds
 * its MSG frame. Returns NULL (assigning nothing) when the frame would
 * pass the frame size limit, with a history `req` in place of `pos`. */
static blob *send_assign(parley_server *s, conv *c, parley_msg *m)
{
  m->seq = c->last_seq + 1;
  m->pos = s->last_pos + 1;
  m->ts_ms = s->now;
  snprintf(m->msg_id, sizeof m->msg_id, "m%016llx",
           (unsigned long long)m->pos);
  blob *frame = NULL;
  if (PARLEY_FAULT(&s->cfg, SEQ_REUSE)) {
    parley_msg wire = *m; /* the store still gets m->seq */
    wire.seq = c->durable_seq + 1;
    frame = msg_frame(&wire, true, NULL);
  } else {
    frame = msg_frame(m, true, NULL);
  }
  if (frame != NULL &&
      frame->len + PARLEY_ID_MAX + 8 > PARLEY_FRAME_SIZE_MAX) {
    blob_unref(frame);
    return NULL;
  }
  return frame;
}

/* Issues the append of message `m` (seq and pos already filled in by
 * send_assign), remembers its temp-id and arranges the ACK. */
static void send_append(parley_server *s, session *ss, conv *c,
                        const parley_msg *m, blob *frame, const char *key,
                        size_t key_len, const reqid *req)
{
  pending *p = pending_new(s, PEND_MSG, PARLEY_STORE_APPEND_MSG);
  char *body = malloc(m->body_len ? m->body_len : 1);
  if (p == NULL || body == NULL) {
    free(body);
    free(p);
    send_error(s, ss, PARLEY_E_INTERNAL, req, NULL);
    return;
  }
  if (m->body_len)
    memcpy(body, m->body, m->body_len);
  p->req.msg = *m;
  p->req.msg.body = body;
  p->body = body;
  p->c = c;
  p->event_frame = blob_ref(frame);
  c->last_seq = m->seq;
  s->last_pos = m->pos;
  if (pmap_get(&s->dedups, key, key_len) == NULL) {
    p->d = dedup_add(s, key, key_len, c, m, s->now);
    if (p->d != NULL)
      p->d->in_flight = p;
  } else if (PARLEY_FAULT(&s->cfg, DEDUP_OFF)) {
    /* A second message under a known temp-id. The store's unique index
     * would refuse it (a store failure stops the core), so the stored
     * copy takes a temp-id of its own, as a store without that index
     * would keep both; ACK and the live MSG carry the client's. */
    snprintf(p->req.msg.temp_id, sizeof p->req.msg.temp_id, "%.40s-dup%llu",
             m->temp_id, (unsigned long long)m->pos);
  }
  uint64_t ack_seq = m->seq;
  if (PARLEY_FAULT(&s->cfg, SEQ_REUSE))
    ack_seq = c->durable_seq + 1; /* as on the MSG frame */
  blob *ack = ack_frame(c->id, m->temp_id, m->msg_id, ack_seq, m->ts_ms, req);
  if (PARLEY_FAULT(&s->cfg, ACK_BEFORE_COMMIT))
    act_send(s, ss->conn, ack);
  else
    waiter_add(p, ss->conn, ss->serial, ack);
  blob_unref(ack);
  pending_issue(s, p);
}

/* SEND (spec section 5): validates, de-duplicates, assigns seq and pos,
 * and issues the durable append. */
void on_send(parley_server *s, session *ss, const parley_frame *f,
             const reqid *req)
{
  parley_msg m;
  char key[DEDUP_KEY_MAX];

  memset(&m, 0, sizeof m);
  if (!send_headers(s, ss, f, req, &m))
    return;
  conv *c = conv_for_member(s, m.conv, strlen(m.conv), ss->user, NULL);
  if (c == NULL) {
    send_not_found(s, ss, m.conv, req);
    return;
  }
  dedup_expire(s);
  const char *key_user = m.from, *key_device = m.device;
  if (PARLEY_FAULT(&s->cfg, DEDUP_KEY_NO_DEVICE))
    key_device = ""; /* every device of the user shares the key */
  if (PARLEY_FAULT(&s->cfg, DEDUP_KEY_TEMP_ID_ONLY))
    key_user = key_device = ""; /* every user shares it */
  size_t key_len = dedup_key(key, key_user, key_device, m.temp_id);
  dedup *d = pmap_get(&s->dedups, key, key_len);
  if (d != NULL && !PARLEY_FAULT(&s->cfg, DEDUP_OFF)) {
    if (PARLEY_FAULT(&s->cfg, SEQ_GAP))
      c->last_seq++; /* taken for the repeat, never given back */
    send_repeat(s, ss, d, c, f, req);
    return;
  }
  if (m.body_len > server_body_max(s) &&
      !PARLEY_FAULT(&s->cfg, MAX_BODY_UNCHECKED)) {
    send_error(s, ss, PARLEY_E_FRAME_TOO_LARGE, req,
               "the body is past max-body");
    return;
  }
  blob *frame = send_assign(s, c, &m);
  if (frame == NULL) {
    send_error(s, ss, PARLEY_E_FRAME_TOO_LARGE, req,
               "the message would not fit in a MSG frame");
    return;
  }
  send_append(s, ss, c, &m, frame, key, key_len, req);
  blob_unref(frame);
}

/* ---- RECEIPT (spec section 7) ---- */

/* Reads kind: delivered or read. Returns false after answering. */
static bool receipt_kind(parley_server *s, session *ss,
                         const parley_frame *f, const reqid *req,
                         parley_receipt_kind *kind)
{
  const parley_str *v = parley_frame_get(f, "kind");
  if (v == NULL) {
    send_error(s, ss, PARLEY_E_MISSING_HEADER, req, "missing header: kind");
    return false;
  }
  if (parley_str_eq(*v, "delivered"))
    *kind = PARLEY_RECEIPT_DELIVERED;
  else if (parley_str_eq(*v, "read"))
    *kind = PARLEY_RECEIPT_READ;
  else {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: kind");
    return false;
  }
  return true;
}

/* Issues the durable append of a receipt that raises a kept value, with
 * the OK waiting on it (RCPT-3). */
static void receipt_append(parley_server *s, session *ss, conv *c,
                           member *m, parley_receipt_kind kind,
                           uint64_t seq, const reqid *req)
{
  pending *p = pending_new(s, PEND_RECEIPT, PARLEY_STORE_APPEND_RECEIPT);
  if (p == NULL) {
    send_error(s, ss, PARLEY_E_INTERNAL, req, NULL);
    return;
  }
  parley_receipt *r = &p->req.receipt;
  r->pos = ++s->last_pos;
  memcpy(r->conv, c->id, sizeof r->conv);
  memcpy(r->user, ss->user->name, sizeof r->user);
  r->kind = kind;
  r->seq = seq;
  r->ts_ms = s->now;
  if (m->want_delivered < seq)
    m->want_delivered = seq;
  if (kind == PARLEY_RECEIPT_READ)
    m->want_read = seq;
  p->c = c;
  p->m = m;
  p->event_frame = receipt_frame(r);
  blob *ok = ok_frame(req);
  waiter_add(p, ss->conn, ss->serial, ok);
  blob_unref(ok);
  pending_issue(s, p);
}

void on_receipt(parley_server *s, session *ss, const parley_frame *f,
                const reqid *req)
{
  char conv_id[PARLEY_ID_MAX + 1];
  parley_receipt_kind kind;
  uint64_t seq = 0;
  member *m = NULL;

  if (!hdr_id(s, ss, f, req, "conv", conv_id) ||
      !receipt_kind(s, ss, f, req, &kind) ||
      !hdr_u64(s, ss, f, req, "seq", true, &seq, NULL))
    return;
  if (seq == 0) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: seq");
    return;
  }
  if (PARLEY_FAULT(&s->cfg, RECEIPT_SEQ_BEFORE_MEMBERSHIP)) {
    /* seq is checked against any conversation of that id, member or not */
    const conv *any = pmap_get(&s->convs, conv_id, strlen(conv_id));
    if (any != NULL && seq > any->durable_seq) {
      send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: seq");
      return;
    }
  }
  conv *c = conv_for_member(s, conv_id, strlen(conv_id), ss->user, &m);
  if (c == NULL) {
    send_not_found(s, ss, conv_id, req);
    return;
  }
  if (seq > c->durable_seq && !PARLEY_FAULT(&s->cfg, RECEIPT_PAST_END)) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: seq");
    return;
  }
  bool read = kind == PARLEY_RECEIPT_READ;
  uint64_t kept = read ? m->read : m->delivered;
  uint64_t want = read ? m->want_read : m->want_delivered;
  if (seq > want || PARLEY_FAULT(&s->cfg, RECEIPT_BACKWARDS)) {
    receipt_append(s, ss, c, m, kind, seq, req);
    return;
  }
  blob *ok = ok_frame(req);
  /* At or below a value in flight: OK once that write is durable. */
  if (seq > kept && s->writes_tail != NULL)
    waiter_add(s->writes_tail, ss->conn, ss->serial, ok);
  else
    act_send(s, ss->conn, ok);
  blob_unref(ok);
}

/* ---- store completions ---- */

static void waiters_run(parley_server *s, pending *p)
{
  for (waiter *w = p->waiters; w != NULL; w = w->next) {
    if (w->is_api) {
      api_reply_conv(s, w->api_id, p->c, w->created);
      continue;
    }
    session *ss = session_find_serial(s, w->conn, w->serial);
    if (ss != NULL)
      act_send(s, ss->conn, w->frame);
  }
}

/* A write at the head of the write list is durable: update the durable
 * counters, answer and fan out. */
static void write_durable(parley_server *s, pending *p)
{
  if (p->kind == PEND_CALL)
    return; /* a call record: its frames went out already */
  if (p->kind == PEND_CONV) {
    conv_made_durable(s, p->c);
    p->c->create = NULL;
    waiters_run(s, p);
    return;
  }
  uint64_t pos = p->kind == PEND_MSG ? p->req.msg.pos : p->req.receipt.pos;
  /* Writes are made durable in issue order: positions only grow, and a
   * conversation's messages become durable as 1, 2, 3, ... */
  assert(pos > s->durable_pos);
  s->durable_pos = pos;
  if (p->kind == PEND_MSG) {
    if (!PARLEY_FAULT(&s->cfg, SEQ_GAP)) /* a planted gap breaks it */
      assert(p->req.msg.seq == p->c->durable_seq + 1);
    p->c->durable_seq = p->req.msg.seq;
    if (p->d != NULL && p->d->in_flight == p)
      p->d->in_flight = NULL;
  } else {
    const parley_receipt *r = &p->req.receipt;
    if (p->m->delivered < r->seq)
      p->m->delivered = r->seq;
    if (r->kind == PARLEY_RECEIPT_READ && p->m->read < r->seq)
      p->m->read = r->seq;
  }
  waiters_run(s, p);
  fanout(s, p->c, pos, p->event_frame,
         p->kind == PEND_MSG ? &p->req.msg : NULL);
}

/* Takes the read with id `id` off the read list, or returns NULL. */
static pending *read_take(parley_server *s, uint64_t id)
{
  for (pending **pp = &s->reads; *pp != NULL; pp = &(*pp)->next) {
    if ((*pp)->id == id) {
      pending *p = *pp;
      *pp = p->next;
      return p;
    }
  }
  return NULL;
}

void store_done(parley_server *s, const parley_store_result *res)
{
  pending *p = read_take(s, res->id);
  if (p != NULL) {
    if (!res->ok)
      server_stop(s, "a store read failed");
    else if (p->kind == PEND_SYNC)
      sync_read_done(s, p, res);
    else
      history_read_done(s, p, res);
    pending_free(p);
    return;
  }
  for (p = s->writes; p != NULL && p->id != res->id; p = p->next)
    ;
  if (p == NULL || p->done) {
    act_log(s, 0, PARLEY_LOG_WARN, "store result for unknown request %llu",
            (unsigned long long)res->id);
    return;
  }
  if (!res->ok) {
    server_stop(s, "a store write failed");
    return;
  }
  p->done = true;
  while (s->writes != NULL && s->writes->done) {
    p = s->writes;
    s->writes = p->next;
    if (s->writes == NULL)
      s->writes_tail = NULL;
    write_durable(s, p);
    pending_free(p);
  }
}

void parley_server_on_store_done(parley_server *s,
                                 const parley_store_result *res,
                                 uint64_t now_ms)
{
  if (server_enter(s, now_ms) && res != NULL)
    store_done(s, res);
  server_leave(s);
}
