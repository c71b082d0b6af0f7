/* The sans-I/O server core (spec/parley-1.md).
 *
 * Design. Every session walks OPEN -> NEGOTIATED (HELLO) -> READY (AUTH)
 * and is freed when it closes (spec section 4); a frame not allowed in the
 * session's state gets the error the spec names for that state. The core
 * owns the per-conversation sequence counters, the server-wide position
 * counter, receipts, the temp-id memory and presence; the store is reached
 * only through STORE actions whose completion the host reports.
 *
 * Invariants:
 * - seq and pos are assigned when a SEND (or a raising RECEIPT) is
 *   accepted, one more than the last assigned, and never reused while the
 *   core runs; appends lost in a crash are never acknowledged, so a
 *   restarted core may give their numbers again (spec section 11).
 * - Writes complete in issue order (server.h), so the durable events are
 *   a prefix of the assigned ones: durable_pos and durable_seq are the pos
 *   and seq of the last completed write.
 * - ACK, OK and fanout happen only on a successful completion, except
 *   under the test-only fault switches.
 * - A session that syncs receives live events only after SYNCED; until
 *   then they are held back in pos order (server_sync.c).
 *
 * Choices the spec leaves open, made here:
 * - A fatal error closes with WebSocket code 1002 for protocol errors
 *   (bad-state, unsupported-version, too-many-errors), 1008 for
 *   auth-failed, token-expired and timeout, 1011 for internal, 1001 for
 *   going-away; BYE closes with 1000.
 * - A verb only servers send (ACK, MSG, ...) from a READY client gets
 *   bad-state; ERROR from a client is logged and not answered; before
 *   READY every other verb, unknown ones included, gets auth-required.
 * - A second SYNC while one runs gets bad-state.
 * - RECEIPT events reach every READY session of every member (RCPT-3),
 *   whatever the `receipts` capability; TYPING and PRESENCE only reach
 *   sessions that negotiated `typing` or `presence`.
 * - PRESENCE without ttl holds until the user's last READY session
 *   closes; the relay then carries no ttl.
 * - Every message, malformed ones included, takes a token from the
 *   session's bucket; an empty bucket drops the frame with rate-limited.
 * - A user holds at most max_sessions_per_user READY sessions (SEC-14);
 *   an AUTH past that gets rate-limited and the session stays
 *   NEGOTIATED, so the client may try again later.
 *
 * Files: server.c (life cycle, dispatch, HELLO, AUTH, PING, BYE, timers),
 * server_msg.c (SEND, RECEIPT, store results, fanout), server_sync.c
 * (SYNC, HISTORY, cursors), server_api.c (conversations, TYPING,
 * PRESENCE), server_call.c (call signaling, section 19), server_util.c
 * (containers, actions, timer heap). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "parley/token.h"
#include "server_internal.h"

#define WS_NORMAL 1000
#define WS_GOING_AWAY 1001
#define WS_PROTOCOL_ERROR 1002
#define WS_POLICY 1008
#define WS_INTERNAL 1011

/* ---- configuration ---- */

static size_t limit_or(size_t v, size_t def)
{
  return (v == 0 || v > def) ? def : v;
}

/* Fills the zero fields of the configuration with the defaults of
 * server.h and brings the rest within the spec's bounds. */
static void config_normalize(parley_server_config *c)
{
  c->limits.frame_size_max =
      limit_or(c->limits.frame_size_max, PARLEY_FRAME_SIZE_MAX);
  c->limits.header_count_max =
      limit_or(c->limits.header_count_max, PARLEY_HEADER_COUNT_MAX);
  c->limits.header_line_max =
      limit_or(c->limits.header_line_max, PARLEY_HEADER_LINE_MAX);
  if (c->heartbeat_min_ms == 0)
    c->heartbeat_min_ms = SRV_HEARTBEAT_MIN_MS;
  if (c->heartbeat_min_ms < SRV_HEARTBEAT_MIN_MS)
    c->heartbeat_min_ms = SRV_HEARTBEAT_MIN_MS;
  if (c->heartbeat_min_ms > SRV_HEARTBEAT_MIN_CAP_MS)
    c->heartbeat_min_ms = SRV_HEARTBEAT_MIN_CAP_MS;
  if (c->heartbeat_max_ms == 0)
    c->heartbeat_max_ms = SRV_HEARTBEAT_MAX_MS;
  if (c->heartbeat_max_ms < c->heartbeat_min_ms)
    c->heartbeat_max_ms = c->heartbeat_min_ms;
  if (c->handshake_timeout_ms == 0)
    c->handshake_timeout_ms = SRV_HANDSHAKE_MS;
  if (c->dedup_window_ms == 0)
    c->dedup_window_ms = SRV_DEDUP_WINDOW_MS;
  if (c->typing_ttl_ms == 0)
    c->typing_ttl_ms = SRV_TYPING_TTL_MS;
  if (c->max_errors == 0)
    c->max_errors = SRV_MAX_ERRORS;
  if (c->rate_per_s == 0)
    c->rate_per_s = SRV_RATE_PER_S;
  if (c->rate_burst == 0)
    c->rate_burst = SRV_RATE_BURST;
  if (c->sync_hold_max == 0)
    c->sync_hold_max = SRV_SYNC_HOLD_MAX;
  if (c->max_sessions_per_user == 0)
    c->max_sessions_per_user = SRV_SESSIONS_PER_USER;
  if (c->ring_timeout_ms == 0)
    c->ring_timeout_ms = SRV_RING_TIMEOUT_MS;
  if (c->call_grace_ms == 0)
    c->call_grace_ms = SRV_CALL_GRACE_MS;
  if (c->max_calls == 0)
    c->max_calls = SRV_MAX_CALLS;
}

parley_server *parley_server_new(const parley_server_config *cfg)
{
  if (cfg == NULL || sodium_init() < 0)
    return NULL;
  parley_server *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->cfg = *cfg;
  config_normalize(&s->cfg);
  s->rng = cfg->seed;
  uint64_t k1 = srv_rand(s), k2 = srv_rand(s);
  memcpy(s->hash_key, &k1, 8);
  memcpy(s->hash_key + 8, &k2, 8);
  pmap_init(&s->sessions, s->hash_key);
  pmap_init(&s->convs, s->hash_key);
  pmap_init(&s->users, s->hash_key);
  pmap_init(&s->dedups, s->hash_key);
  pmap_init(&s->directs, s->hash_key);
  pmap_init(&s->calls, s->hash_key);
  pmap_init(&s->call_serials, s->hash_key);
  s->next_store_id = 1;
  s->next_serial = 1;
  return s;
}

static void session_free(session *ss)
{
  parley_parser_free(&ss->parser);
  held_clear(ss);
  free(ss->held);
  pvec_free(&ss->calls);
  free(ss);
}

static void pending_list_free(pending *p)
{
  while (p != NULL) {
    pending *next = p->next;
    pending_free(p);
    p = next;
  }
}

void parley_server_free(parley_server *s)
{
  if (s == NULL)
    return;
  call_free_all(s); /* before the sessions and conversations it names */
  for (size_t i = 0; i < s->sessions.cap; i++)
    if (pmap_live(&s->sessions, i))
      session_free(s->sessions.slots[i].value);
  for (size_t i = 0; i < s->convs.cap; i++)
    if (pmap_live(&s->convs, i))
      conv_free(s->convs.slots[i].value);
  for (size_t i = 0; i < s->users.cap; i++) {
    if (!pmap_live(&s->users, i))
      continue;
    user *u = s->users.slots[i].value;
    pvec_free(&u->sessions);
    pvec_free(&u->convs);
    free(u);
  }
  pending_list_free(s->writes);
  pending_list_free(s->reads);
  dedup_free_all(s);
  pmap_free(&s->sessions);
  pmap_free(&s->convs);
  pmap_free(&s->users);
  pmap_free(&s->dedups);
  pmap_free(&s->directs);
  free(s->timers);
  act_free_all(s);
  free(s);
}

/* ---- the model ---- */

session *session_find(const parley_server *s, parley_conn_id conn)
{
  return pmap_get(&s->sessions, &conn, sizeof conn);
}

session *session_find_serial(const parley_server *s, parley_conn_id conn,
                             uint64_t serial)
{
  session *ss = session_find(s, conn);
  return (ss != NULL && ss->serial == serial) ? ss : NULL;
}

/* Returns the user named `name`, created on first use (users live as
 * long as the core), or NULL when memory runs out. */
user *user_get(parley_server *s, const char *name)
{
  size_t len = strlen(name);
  user *u = pmap_get(&s->users, name, len);
  if (u != NULL)
    return u;
  u = calloc(1, sizeof *u);
  if (u == NULL)
    return NULL;
  srv_copy(u->name, sizeof u->name, name, len);
  if (!pmap_put(&s->users, name, len, u)) {
    free(u);
    return NULL;
  }
  return u;
}

member *conv_member(const conv *c, const user *u)
{
  for (size_t i = 0; i < c->member_count; i++)
    if (c->members[i].u == u)
      return &c->members[i];
  return NULL;
}

/* The durable conversation `id` when `u` is a member, else NULL: a
 * conversation that does not exist and one the user is not in look the
 * same to the caller (SEND-6). */
conv *conv_for_member(const parley_server *s, const char *id, size_t len,
                      const user *u, member **m_out)
{
  conv *c = pmap_get(&s->convs, id, len);
  if (c == NULL || !c->durable || u == NULL)
    return NULL;
  member *m = conv_member(c, u);
  if (m == NULL)
    return NULL;
  if (m_out != NULL)
    *m_out = m;
  return c;
}

/* ---- loading ---- */

parley_err parley_server_load_conv(parley_server *s,
                                   const parley_conv_info *info)
{
  if (info == NULL || pmap_get(&s->convs, info->id, strlen(info->id)))
    return PARLEY_E_BAD_VALUE;
  conv *c = conv_new(s, info, true);
  if (c == NULL)
    return PARLEY_E_BAD_VALUE;
  conv_made_durable(s, c);
  return PARLEY_OK;
}

parley_err parley_server_load_receipt(parley_server *s,
                                      const parley_receipt *r)
{
  user *u = pmap_get(&s->users, r->user, strlen(r->user));
  member *m = NULL;
  if (conv_for_member(s, r->conv, strlen(r->conv), u, &m) == NULL)
    return PARLEY_E_NOT_FOUND;
  if (r->kind != PARLEY_RECEIPT_DELIVERED && r->kind != PARLEY_RECEIPT_READ)
    return PARLEY_E_BAD_VALUE;
  if (m->delivered < r->seq)
    m->delivered = m->want_delivered = r->seq;
  if (r->kind == PARLEY_RECEIPT_READ && m->read < r->seq)
    m->read = m->want_read = r->seq;
  return PARLEY_OK;
}

void parley_server_load_pos(parley_server *s, uint64_t last_pos)
{
  if (last_pos > s->last_pos)
    s->last_pos = s->durable_pos = last_pos;
}

/* ---- errors and closing ---- */

/* The WebSocket close code for a fatal error. */
static uint16_t ws_code_for(parley_err err)
{
  switch (err) {
  case PARLEY_E_GOING_AWAY:
    return WS_GOING_AWAY;
  case PARLEY_E_INTERNAL:
    return WS_INTERNAL;
  case PARLEY_E_AUTH_FAILED:
  case PARLEY_E_TOKEN_EXPIRED:
  case PARLEY_E_TIMEOUT:
    return WS_POLICY;
  default:
    return WS_PROTOCOL_ERROR;
  }
}

/* Builds the ERROR frame of spec section 3. */
static blob *error_frame(parley_err err, const reqid *req, const char *body)
{
  fbuild fb;
  fb_begin(&fb, "ERROR");
  fb_u64(&fb, "code", (uint64_t)err);
  fb_hdr(&fb, "reason", parley_err_reason(err));
  fb_req(&fb, req);
  fb_hdr(&fb, "fatal", parley_err_fatal(err) ? "yes" : "no");
  return fb_finish(&fb, body, body ? strlen(body) : 0, false);
}

void send_error(parley_server *s, session *ss, parley_err err,
                const reqid *req, const char *fmt, ...)
{
  char body[160];
  body[0] = '\0';
  if (PARLEY_FAULT(&s->cfg, ERROR_WITHOUT_REQ))
    req = NULL; /* the answer loses the request's req */
  if (PARLEY_FAULT(&s->cfg, MISSING_HEADER_AS_BAD_VALUE) &&
      err == PARLEY_E_MISSING_HEADER)
    err = PARLEY_E_BAD_VALUE; /* every header problem is bad-value */
  if (fmt != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
  }
  blob *b = error_frame(err, req, fmt ? body : NULL);
  act_send(s, ss->conn, b);
  blob_unref(b);
  if (parley_err_fatal(err)) {
    act_log(s, ss->conn, PARLEY_LOG_INFO, "closing: %s",
            parley_err_reason(err));
    session_close(s, ss, err, ws_code_for(err));
  }
}

/* Answers not-found for conversation `conv_id`: the same frame whether
 * it does not exist or the user is not a member (SEND-6, SEC-1). */
void send_not_found(parley_server *s, session *ss, const char *conv_id,
                    const reqid *req)
{
  if (PARLEY_FAULT(&s->cfg, NONMEMBER_LEAK) &&
      pmap_get(&s->convs, conv_id, strlen(conv_id)) != NULL) {
    send_error(s, ss, PARLEY_E_NOT_FOUND, req,
               "you are not a member of %s", conv_id);
    return;
  }
  send_error(s, ss, PARLEY_E_NOT_FOUND, req, NULL);
}

/* Forgets a session: leaves its user's READY set (which may relay
 * offline presence) and frees it. */
static void session_forget(parley_server *s, session *ss)
{
  pmap_del(&s->sessions, &ss->conn, sizeof ss->conn);
  if (ss->state == SESS_READY && ss->user != NULL) {
    call_session_gone(s, ss);
    pvec_remove(&ss->user->sessions, ss);
    if (ss->user->sessions.len == 0)
      presence_last_session_gone(s, ss->user);
  }
  session_free(ss);
}

void session_close(parley_server *s, session *ss, parley_err err,
                   uint16_t ws_code)
{
  (void)err;
  act_close(s, ss->conn, ws_code);
  session_forget(s, ss);
}

/* ---- header access ---- */

bool hdr_id(parley_server *s, session *ss, const parley_frame *f,
            const reqid *req, const char *name, char *out)
{
  const parley_str *v = parley_frame_get(f, name);
  if (v == NULL) {
    send_error(s, ss, PARLEY_E_MISSING_HEADER, req, "missing header: %s",
               name);
    return false;
  }
  if (!srv_id_valid(v->ptr, v->len)) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: %s",
               name);
    return false;
  }
  srv_copy(out, PARLEY_ID_MAX + 1, v->ptr, v->len);
  return true;
}

bool hdr_u64(parley_server *s, session *ss, const parley_frame *f,
             const reqid *req, const char *name, bool required,
             uint64_t *out, bool *present)
{
  const parley_str *v = parley_frame_get(f, name);
  if (present != NULL)
    *present = v != NULL;
  if (v == NULL && required) {
    send_error(s, ss, PARLEY_E_MISSING_HEADER, req, "missing header: %s",
               name);
    return false;
  }
  if (v != NULL && !parley_parse_u64(v->ptr, v->len, out)) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: %s",
               name);
    return false;
  }
  return true;
}

/* ---- event entry and exit ---- */

/* Starts an event: frees handed-out actions, advances the clock. Returns
 * false when the core has stopped. */
bool server_enter(parley_server *s, uint64_t now_ms)
{
  act_gc(s);
  if (now_ms > s->now)
    s->now = now_ms;
  return !s->failed;
}

/* Ends an event: arms the host's timer when the earliest deadline
 * changed. */
void server_leave(parley_server *s)
{
  timer_entry top;
  if (s->failed || !timer_top(s, &top)) {
    s->timer_armed = 0;
    return;
  }
  if (top.at != s->timer_armed) {
    act_entry *e = act_push(s, PARLEY_ACT_TIMER, 0);
    if (e != NULL)
      e->act.at_ms = top.at;
    s->timer_armed = top.at;
  }
}

void parley_server_on_open(parley_server *s, parley_conn_id conn,
                           uint64_t now_ms)
{
  if (!server_enter(s, now_ms))
    return;
  session *old = session_find(s, conn);
  if (old != NULL) {
    act_log(s, conn, PARLEY_LOG_WARN, "connection id reused; old dropped");
    session_forget(s, old);
  }
  if (s->draining) {
    blob *b = error_frame(PARLEY_E_GOING_AWAY, NULL, NULL);
    act_send(s, conn, b);
    blob_unref(b);
    act_close(s, conn, WS_GOING_AWAY);
    server_leave(s);
    return;
  }
  session *ss = calloc(1, sizeof *ss);
  if (ss == NULL || !pmap_put(&s->sessions, &conn, sizeof conn, ss)) {
    free(ss);
    act_close(s, conn, WS_INTERNAL);
    server_leave(s);
    return;
  }
  ss->conn = conn;
  ss->serial = s->next_serial++;
  parley_parser_init(&ss->parser, &s->cfg.limits);
  ss->handshake_at = s->now + s->cfg.handshake_timeout_ms;
  ss->bucket_milli = (uint64_t)s->cfg.rate_burst * 1000;
  ss->bucket_ms = s->now;
  session_sched(s, ss);
  act_log(s, conn, PARLEY_LOG_DEBUG, "session opened");
  server_leave(s);
}

void parley_server_on_close(parley_server *s, parley_conn_id conn,
                            uint64_t now_ms)
{
  server_enter(s, now_ms);
  session *ss = session_find(s, conn);
  if (ss != NULL) {
    act_log(s, conn, PARLEY_LOG_DEBUG, "session closed by peer");
    session_forget(s, ss);
  }
  server_leave(s);
}

/* Takes one frame's worth from the session's token bucket; false when
 * the bucket is empty (spec 429). */
static bool rate_take(parley_server *s, session *ss)
{
  uint64_t cap = (uint64_t)s->cfg.rate_burst * 1000;
  uint64_t dt = s->now - ss->bucket_ms;
  ss->bucket_ms = s->now;
  uint64_t add = dt * s->cfg.rate_per_s;
  if (dt != 0 && add / dt != s->cfg.rate_per_s)
    add = cap; /* overflow: a very long pause refills the bucket */
  ss->bucket_milli = (cap - ss->bucket_milli < add) ? cap
                                                    : ss->bucket_milli + add;
  if (ss->bucket_milli < 1000)
    return false;
  ss->bucket_milli -= 1000;
  return true;
}

/* Answers a malformed or binary message with `err`, or, when it is the
 * max_errors-th of the session, with too-many-errors alone, which closes
 * (WS-4). */
static void malformed(parley_server *s, session *ss, parley_err err,
                      const parley_parse_error *perr)
{
  if (++ss->errors >= s->cfg.max_errors)
    send_error(s, ss, PARLEY_E_TOO_MANY_ERRORS, NULL, NULL);
  else if (perr == NULL)
    send_error(s, ss, err, NULL, NULL);
  else
    send_error(s, ss, err, NULL, "%s at octet %zu",
               perr->rule ? perr->rule : "frame", perr->offset);
}

/* Copies the frame's `req` into *req (empty when absent). Returns false
 * when it is present but malformed. */
static bool take_req(const parley_frame *f, reqid *req)
{
  const parley_str *v = parley_frame_get(f, "req");
  req->len = 0;
  req->s[0] = '\0';
  if (v == NULL)
    return true;
  if (!srv_id_valid(v->ptr, v->len))
    return false;
  srv_copy(req->s, sizeof req->s, v->ptr, v->len);
  req->len = v->len;
  return true;
}

static void dispatch(parley_server *s, session *ss, const parley_frame *f,
                     const reqid *req, bool req_ok);

/* Parses one message and hands the frame on. Every message takes a token
 * from the bucket (429 when empty, the frame dropped); then binary
 * (WS-3) and malformed messages (WS-2) are answered, non-fatal but
 * counted (WS-4). */
static void handle_message(parley_server *s, session *ss, const char *data,
                           size_t len, bool binary)
{
  parley_frame f;
  parley_parse_error perr = {PARLEY_OK, 0, NULL};
  parley_err err = PARLEY_E_BINARY_MESSAGE;
  reqid req = {"", 0};
  bool req_ok = false;

  if (!binary)
    err = parley_parse_message(&ss->parser, data, len, &f, &perr);
  if (err == PARLEY_OK)
    req_ok = take_req(&f, &req);
  if (!rate_take(s, ss) && !PARLEY_FAULT(&s->cfg, RATE_LIMIT_OFF)) {
    send_error(s, ss, PARLEY_E_RATE_LIMITED, &req, NULL);
    return;
  }
  if (err != PARLEY_OK) {
    malformed(s, ss, err, binary ? NULL : &perr);
    return;
  }
  if (PARLEY_FAULT(&s->cfg, UNKNOWN_HEADER_REJECTED) &&
      !fault_headers_all_defined(&f)) {
    malformed(s, ss, PARLEY_E_BAD_HEADER_NAME, NULL); /* EXT-1 ignored */
    return;
  }
  dispatch(s, ss, &f, req_ok ? &req : NULL, req_ok);
}

void parley_server_on_message(parley_server *s, parley_conn_id conn,
                              const char *data, size_t len, bool binary,
                              uint64_t now_ms)
{
  if (!server_enter(s, now_ms))
    return;
  session *ss = session_find(s, conn);
  if (ss != NULL) {
    if (ss->state != SESS_OPEN)
      ss->heartbeat_at = s->now + 2 * (uint64_t)ss->heartbeat_ms;
    uint64_t serial = ss->serial;
    handle_message(s, ss, data, len, binary);
    ss = session_find_serial(s, conn, serial);
    if (ss != NULL)
      session_sched(s, ss);
  }
  server_leave(s);
}

/* ---- HELLO (spec section 4) ---- */

/* Checks `versions` against version-list = number *("," number) (spec
 * 2.9). Returns false when it breaks that form; sets *has_1 when it
 * names major version 1. Unknown versions are ignored (VER-2). */
static bool versions_parse(parley_str v, bool *has_1)
{
  size_t i = 0;
  *has_1 = false;
  for (;;) {
    size_t start = i;
    while (i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9')
      i++;
    if (i == start || (i - start > 1 && v.ptr[start] == '0'))
      return false;
    if (i - start == 1 && v.ptr[start] == '1')
      *has_1 = true;
    if (i == v.len)
      return true;
    if (v.ptr[i++] != ',')
      return false;
  }
}

/* Reads `heartbeat`, a number of any size (spec 4.1, 17.1): a value past
 * 2^64 - 1 saturates, to be lowered to the maximum like any other large
 * proposal. Returns false when it breaks the number form. */
static bool heartbeat_parse(parley_str v, uint64_t *hb)
{
  if (parley_parse_u64(v.ptr, v.len, hb))
    return true;
  if (v.len < 2 || v.ptr[0] < '1' || v.ptr[0] > '9')
    return false;
  for (size_t i = 1; i < v.len; i++)
    if (v.ptr[i] < '0' || v.ptr[i] > '9')
      return false;
  *hb = UINT64_MAX;
  return true;
}

/* Reads `caps` (cap-list of spec 2.9: cap-name *("," cap-name), maybe
 * empty) into *caps, keeping the capabilities this server knows and
 * ignoring the others (EXT-2). Returns false when the form is broken. */
static bool caps_parse(const parley_str *v, unsigned *caps)
{
  static const struct {
    const char *name;
    unsigned bit;
  } known[] = {{"receipts", CAP_RECEIPTS},
               {"typing", CAP_TYPING},
               {"presence", CAP_PRESENCE},
               {"calls", CAP_CALLS}};
  size_t i = 0;

  *caps = 0;
  if (v == NULL || v->len == 0)
    return true;
  for (;;) {
    size_t start = i;
    if (i == v->len || v->ptr[i] < 'a' || v->ptr[i] > 'z')
      return false;
    while (i < v->len && ((v->ptr[i] >= 'a' && v->ptr[i] <= 'z') ||
                          (v->ptr[i] >= '0' && v->ptr[i] <= '9') ||
                          v->ptr[i] == '-'))
      i++;
    parley_str tok = {v->ptr + start, i - start};
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
      if (parley_str_eq(tok, known[k].name))
        *caps |= known[k].bit;
    if (i == v->len)
      return true;
    if (v->ptr[i++] != ',')
      return false;
  }
}

/* Writes the capabilities in `caps` as a cap-list, in a fixed order. */
static void caps_format(unsigned caps, char *out, size_t cap)
{
  static const struct {
    unsigned bit;
    const char *name;
  } order[] = {{CAP_RECEIPTS, "receipts"},
               {CAP_TYPING, "typing"},
               {CAP_PRESENCE, "presence"},
               {CAP_CALLS, "calls"}};
  size_t len = 0;

  out[0] = '\0';
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    if (!(caps & order[i].bit))
      continue;
    int n = snprintf(out + len, cap - len, "%s%s", len ? "," : "",
                     order[i].name);
    if (n < 0 || (size_t)n >= cap - len)
      return;
    len += (size_t)n;
  }
}

/* The frame size limit less room for a MSG's headers; never above
 * PARLEY_BODY_MAX. */
size_t server_body_max(const parley_server *s)
{
  size_t frame_max = s->cfg.limits.frame_size_max;
  size_t room = PARLEY_FRAME_SIZE_MAX - PARLEY_BODY_MAX;
  return frame_max > room ? frame_max - room : 0;
}

static void send_welcome(parley_server *s, session *ss, const reqid *req)
{
  char caps[64];
  fbuild fb;

  caps_format(ss->caps, caps, sizeof caps);
  fb_begin(&fb, "WELCOME");
  fb_u64(&fb, "version", 1);
  fb_hdr(&fb, "caps", caps);
  fb_u64(&fb, "heartbeat", ss->heartbeat_ms);
  fb_u64(&fb, "max-frame", s->cfg.limits.frame_size_max);
  fb_u64(&fb, "max-headers", s->cfg.limits.header_count_max);
  fb_u64(&fb, "max-header-line", s->cfg.limits.header_line_max);
  fb_u64(&fb, "max-body", server_body_max(s));
  fb_u64(&fb, "dedup-window", s->cfg.dedup_window_ms);
  fb_u64(&fb, "typing-ttl", s->cfg.typing_ttl_ms);
  fb_u64(&fb, "rate", s->cfg.rate_per_s);        /* RATE-3 */
  if (!PARLEY_FAULT(&s->cfg, WELCOME_WITHOUT_RATE_BURST))
    fb_u64(&fb, "rate-burst", s->cfg.rate_burst);
  fb_req(&fb, req);
  blob *b = fb_finish(&fb, NULL, 0, false);
  act_send(s, ss->conn, b);
  blob_unref(b);
}

/* HELLO: version choice (LIFE-2, VER-1, VER-2), capabilities (EXT-2),
 * heartbeat clamp (section 4.1). A HELLO refused for a missing header or
 * a bad value leaves the session in OPEN. */
static void on_hello(parley_server *s, session *ss, const parley_frame *f,
                     const reqid *req)
{
  const parley_str *versions = parley_frame_get(f, "versions");
  const parley_str *heartbeat = parley_frame_get(f, "heartbeat");
  unsigned caps = 0;
  uint64_t hb = 0;
  bool has_1 = false;

  if (versions == NULL) {
    send_error(s, ss, PARLEY_E_MISSING_HEADER, req,
               "missing header: versions");
    return;
  }
  if (!versions_parse(*versions, &has_1)) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req,
               "bad value in header: versions");
    return;
  }
  if (heartbeat == NULL) {
    send_error(s, ss, PARLEY_E_MISSING_HEADER, req,
               "missing header: heartbeat");
    return;
  }
  if (!heartbeat_parse(*heartbeat, &hb)) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req,
               "bad value in header: heartbeat");
    return;
  }
  if (!caps_parse(parley_frame_get(f, "caps"), &caps)) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: caps");
    return;
  }
  if (!has_1) {
    send_error(s, ss, PARLEY_E_UNSUPPORTED_VERSION, req, "this server: 1");
    return;
  }
  if (hb < s->cfg.heartbeat_min_ms)
    hb = s->cfg.heartbeat_min_ms;
  if (hb > s->cfg.heartbeat_max_ms)
    hb = s->cfg.heartbeat_max_ms;
  ss->heartbeat_ms = (uint32_t)hb;
  ss->caps = caps;
  ss->state = SESS_NEGOTIATED;
  ss->heartbeat_at = s->now + 2 * hb;
  send_welcome(s, ss, req);
}

/* ---- AUTH ---- */

static void send_ready(parley_server *s, session *ss, uint64_t expires,
                       const reqid *req)
{
  fbuild fb;
  fb_begin(&fb, "READY");
  fb_hdr(&fb, "user", ss->user->name);
  fb_hdr(&fb, "device", ss->device);
  fb_u64(&fb, "expires", expires);
  fb_req(&fb, req);
  blob *b = fb_finish(&fb, NULL, 0, false);
  act_send(s, ss->conn, b);
  blob_unref(b);
}

/* Makes a NEGOTIATED session READY for `name` on `device`. Returns false
 * (after closing) when memory runs out. */
static bool become_ready(parley_server *s, session *ss, const char *name,
                         const char *device)
{
  user *u = user_get(s, name);
  if (u == NULL || !pvec_push(&u->sessions, ss)) {
    send_error(s, ss, PARLEY_E_INTERNAL, NULL, NULL);
    return false;
  }
  ss->user = u;
  srv_copy(ss->device, sizeof ss->device, device, strlen(device));
  ss->state = SESS_READY;
  ss->handshake_at = 0;
  act_log(s, ss->conn, PARLEY_LOG_INFO, "ready: user %s device %s", name,
          device);
  return true;
}

/* True when user `name` holds as many READY sessions as a user may
 * (SEC-14). */
static bool user_sessions_full(const parley_server *s, const char *name)
{
  const user *u = pmap_get(&s->users, name, strlen(name));
  return u != NULL && u->sessions.len >= s->cfg.max_sessions_per_user;
}

/* AUTH (AUTH-1) and its refresh in READY (AUTH-3). */
static void on_auth(parley_server *s, session *ss, const parley_frame *f,
                    const reqid *req)
{
  char device[PARLEY_ID_MAX + 1];
  char name[PARLEY_USER_MAX + 1];
  uint64_t expires = 0;
  bool fresh = false;

  const parley_str *token = parley_frame_get(f, "token");
  if (token == NULL) {
    send_error(s, ss, PARLEY_E_MISSING_HEADER, req, "missing header: token");
    return;
  }
  if (!hdr_id(s, ss, f, req, "device", device))
    return;
  uint64_t now = s->now;
  if (PARLEY_FAULT(&s->cfg, EXPIRED_TOKEN_ACCEPTED))
    now = 0; /* only the signature is checked */
  parley_err err = parley_token_verify(s->cfg.token_public_key, token->ptr,
                                       token->len, now, name, &expires);
  if (PARLEY_FAULT(&s->cfg, TOKEN_SIGNATURE_UNCHECKED) &&
      err == PARLEY_E_AUTH_FAILED)
    err = fault_token_payload_trusted(token->ptr, token->len, s->now,
                                      name, &expires);
  if (err != PARLEY_OK) {
    act_log(s, ss->conn, PARLEY_LOG_INFO, "auth refused: %s",
            parley_err_reason(err));
    send_error(s, ss, err, req, NULL);
    return;
  }
  if (ss->state == SESS_READY) {
    if (strcmp(name, ss->user->name) != 0 || strcmp(device, ss->device)) {
      send_error(s, ss, PARLEY_E_BAD_STATE, req,
                 "a fresh AUTH must name the same user and device");
      return;
    }
  } else if (user_sessions_full(s, name)) {
    act_log(s, ss->conn, PARLEY_LOG_INFO, "auth refused: user %s holds "
            "%u sessions", name, (unsigned)s->cfg.max_sessions_per_user);
    send_error(s, ss, PARLEY_E_RATE_LIMITED, req,
               "too many sessions for this user");
    return;
  } else if (!become_ready(s, ss, name, device)) {
    return;
  } else {
    fresh = true;
  }
  ss->token_at = expires;
  send_ready(s, ss, expires, req);
  if (fresh)
    call_session_ready(s, ss); /* RING for the calls ringing now */
}

/* ---- PING, BYE ---- */

static void on_ping(parley_server *s, session *ss, const parley_frame *f,
                    const reqid *req)
{
  const parley_str *nonce = parley_frame_get(f, "nonce");
  fbuild fb;

  if (nonce != NULL && (nonce->len < 1 || nonce->len > PARLEY_ID_MAX)) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: nonce");
    return;
  }
  fb_begin(&fb, "PONG");
  if (nonce != NULL && !PARLEY_FAULT(&s->cfg, PONG_WITHOUT_NONCE))
    fb_hdr_n(&fb, "nonce", nonce->ptr, nonce->len);
  fb_req(&fb, req);
  blob *b = fb_finish(&fb, NULL, 0, false);
  act_send(s, ss->conn, b);
  blob_unref(b);
}

static void on_bye(parley_server *s, session *ss, const parley_frame *f,
                   const reqid *req)
{
  fbuild fb;
  fb_begin(&fb, "BYE");
  fb_req(&fb, req);
  blob *b = fb_finish(&fb, NULL, 0, false);
  act_send(s, ss->conn, b);
  blob_unref(b);
  act_log(s, ss->conn, PARLEY_LOG_DEBUG, "session ended with BYE");
  session_close(s, ss, PARLEY_OK, WS_NORMAL);
}

/* ---- dispatch ---- */

typedef void (*verb_fn)(parley_server *s, session *ss, const parley_frame *f,
                        const reqid *req);

/* The verbs a client may send, and the lowest state that takes them. */
static const struct {
  const char *verb;
  sess_state min;
  verb_fn fn;
} client_verbs[] = {
    {"HELLO", SESS_OPEN, on_hello},       {"AUTH", SESS_NEGOTIATED, on_auth},
    {"PING", SESS_NEGOTIATED, on_ping},   {"BYE", SESS_NEGOTIATED, on_bye},
    {"SEND", SESS_READY, on_send},        {"RECEIPT", SESS_READY, on_receipt},
    {"SYNC", SESS_READY, on_sync},        {"HISTORY", SESS_READY, on_history},
    {"TYPING", SESS_READY, on_typing},    {"PRESENCE", SESS_READY, on_presence},
    {"CALL", SESS_READY, on_call},        {"JOIN", SESS_READY, on_join},
    {"OFFER", SESS_READY, on_offer},      {"ANSWER", SESS_READY, on_answer},
    {"CANDIDATE", SESS_READY, on_candidate},
    {"END-OF-CANDIDATES", SESS_READY, on_end_of_candidates},
    {"MEDIA-STATE", SESS_READY, on_media_state},
    {"LEAVE", SESS_READY, on_leave},      {"HANGUP", SESS_READY, on_hangup},
};

/* Verbs only a server sends: a client sending one breaks the state
 * machine (bad-state), except ERROR, which is logged and not answered. */
static const char *const server_verbs[] = {
    "WELCOME", "READY", "PONG", "ACK", "OK", "MSG", "SYNCED", "PAGE",
    "RING", "RING-STOP", "PARTICIPANTS", "JOINED", "LEFT", "CALL-END",
};

static bool is_server_verb(parley_str verb)
{
  for (size_t i = 0; i < sizeof server_verbs / sizeof server_verbs[0]; i++)
    if (parley_str_eq(verb, server_verbs[i]))
      return true;
  return false;
}

/* Runs the handler for the frame's verb, or answers with the error the
 * session's state calls for (LIFE-1, AUTH-2, EXT-3). State and verb are
 * checked before any header value: a malformed `req` (req_ok false, req
 * NULL) gets bad-value only on a frame the state takes (REQ-3). */
static void dispatch(parley_server *s, session *ss, const parley_frame *f,
                     const reqid *req, bool req_ok)
{
  if (parley_str_eq(f->verb, "ERROR") && ss->state != SESS_OPEN) {
    act_log(s, ss->conn, PARLEY_LOG_WARN, "peer reported an error");
    return;
  }
  if (ss->state == SESS_OPEN && !parley_str_eq(f->verb, "HELLO")) {
    send_error(s, ss, PARLEY_E_BAD_STATE, req, "the first frame is HELLO");
    return;
  }
  if (ss->state != SESS_OPEN && parley_str_eq(f->verb, "HELLO")) {
    if (PARLEY_FAULT(&s->cfg, SECOND_HELLO_WELCOMED))
      send_welcome(s, ss, req); /* answered again, the state kept */
    else
      send_error(s, ss, PARLEY_E_BAD_STATE, req, "HELLO was already sent");
    return;
  }
  for (size_t i = 0; i < sizeof client_verbs / sizeof client_verbs[0]; i++) {
    if (!parley_str_eq(f->verb, client_verbs[i].verb))
      continue;
    if (ss->state < client_verbs[i].min)
      send_error(s, ss, PARLEY_E_AUTH_REQUIRED, req, NULL);
    else if (!req_ok)
      send_error(s, ss, PARLEY_E_BAD_VALUE, NULL, "bad value in header: req");
    else
      client_verbs[i].fn(s, ss, f, req);
    return;
  }
  if (ss->state != SESS_READY)
    send_error(s, ss, PARLEY_E_AUTH_REQUIRED, req, NULL);
  else if (is_server_verb(f->verb))
    send_error(s, ss, PARLEY_E_BAD_STATE, req, "a verb only servers send");
  else if (PARLEY_FAULT(&s->cfg, UNKNOWN_VERB_AS_BAD_START_LINE))
    send_error(s, ss, PARLEY_E_BAD_START_LINE, req, NULL);
  else
    send_error(s, ss, PARLEY_E_UNKNOWN_VERB, req, NULL);
}

/* ---- time ---- */

/* Fires the session's deadlines that are due (LIFE-3, HB-4, AUTH-3).
 * Returns false when the session was closed. */
static bool session_deadlines(parley_server *s, session *ss)
{
  if (ss->handshake_at != 0 && s->now >= ss->handshake_at) {
    send_error(s, ss, PARLEY_E_TIMEOUT, NULL, "no READY in time");
    return false;
  }
  if (ss->heartbeat_at != 0 && s->now >= ss->heartbeat_at) {
    if (PARLEY_FAULT(&s->cfg, HEARTBEAT_NOT_ENFORCED)) {
      ss->heartbeat_at = 0; /* the deadline passes unnoticed */
    } else {
      send_error(s, ss, PARLEY_E_TIMEOUT, NULL,
                 "no frame for two intervals");
      return false;
    }
  }
  if (ss->token_at != 0 && s->now >= ss->token_at) {
    if (PARLEY_FAULT(&s->cfg, TOKEN_EXPIRY_NOT_ENFORCED)) {
      ss->token_at = 0; /* the session outlives its token */
    } else {
      send_error(s, ss, PARLEY_E_TOKEN_EXPIRED, NULL, NULL);
      return false;
    }
  }
  return true;
}

static void timer_fire(parley_server *s, const timer_entry *e)
{
  if (e->kind == TIMER_CALL) {
    call_timer_fire(s, e->conn);
    return;
  }
  if (e->kind == TIMER_PRESENCE) {
    e->u->presence_sched = 0;
    if (e->u->presence_at != 0 && s->now >= e->u->presence_at &&
        PARLEY_FAULT(&s->cfg, PRESENCE_NEVER_EXPIRES))
      e->u->presence_at = 0; /* the lapse is dropped, offline never sent */
    if (e->u->presence_at != 0 && s->now >= e->u->presence_at)
      presence_expire(s, e->u);
    presence_sched(s, e->u);
    return;
  }
  session *ss = session_find(s, e->conn);
  if (ss == NULL)
    return;
  ss->sched_at = 0;
  if (session_deadlines(s, ss))
    session_sched(s, ss);
}

void parley_server_on_time(parley_server *s, uint64_t now_ms)
{
  timer_entry e;

  if (!server_enter(s, now_ms))
    return;
  while (timer_top(s, &e) && e.at <= s->now) {
    timer_pop(s);
    timer_fire(s, &e);
  }
  server_leave(s);
}

/* ---- drain and stop ---- */

/* Sends the fatal `err` to every session, which closes them all. */
static void close_all(parley_server *s, parley_err err)
{
  pvec all = {NULL, 0, 0};
  for (size_t i = 0; i < s->sessions.cap; i++)
    if (pmap_live(&s->sessions, i) &&
        !pvec_push(&all, s->sessions.slots[i].value))
      break;
  for (size_t i = 0; i < all.len; i++)
    send_error(s, all.items[i], err, NULL, NULL);
  pvec_free(&all);
}

void parley_server_drain(parley_server *s, uint64_t now_ms)
{
  if (!server_enter(s, now_ms))
    return;
  s->draining = true;
  act_log(s, 0, PARLEY_LOG_INFO, "draining %zu sessions", s->sessions.live);
  close_all(s, PARLEY_E_GOING_AWAY);
  server_leave(s);
}

void server_stop(parley_server *s, const char *why)
{
  close_all(s, PARLEY_E_INTERNAL);
  act_fatal(s, why);
}
