/* parley-conform client mode: how the scripted server answers each frame
 * from the client (spec sections 4 to 10), unless the case's hook took
 * the frame first or the script makes it silent.
 *
 * The server is strict where the spec binds the client, and notes each
 * breach with ps_fault (the first frame not HELLO, LIFE-1; a frame of a
 * READY session before READY; a SEND body past max-body, SEND-10; an
 * AUTH with a token it refused, CLI-5; a SYNC from a position it never
 * issued, DELIV-7/8; a temp-id reused for another message, SEND-8). It
 * answers such a frame as a server would (an ERROR) and goes on; the
 * cases decide which breaches fail them. */
#include "scripted_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Builds a frame from NULL-ended name/value pairs into b. */
static bool build(parley_buf *b, const char *verb, const char *body,
                  size_t body_len, va_list ap)
{
  const char *name, *value;
  bool ok = parley_frame_begin(b, verb) == PARLEY_OK;

  while (ok && (name = va_arg(ap, const char *)) != NULL) {
    value = va_arg(ap, const char *);
    ok = parley_frame_header_str(b, name, value) == PARLEY_OK;
  }
  return ok && parley_frame_end(b, body ? body : "", body ? body_len : 0,
                                false) == PARLEY_OK;
}

void ps_sendf(ps_session *s, const char *verb, const char *body,
              size_t body_len, ...)
{
  parley_buf b = {0};
  va_list ap;
  bool ok;
  char *text;
  size_t len;

  va_start(ap, body_len);
  ok = build(&b, verb, body, body_len, ap);
  va_end(ap);
  if (!ok) {
    parley_buf_free(&b);
    pc_fail(s->srv->t, "case error: a %s frame did not serialize", verb);
  }
  len = b.len;
  text = memcpy(pc_alloc(s->srv->t, len + 1), b.data, len);
  parley_buf_free(&b);
  ps_send_text(s, text, len);
}

static const char *u64s(ps_server *srv, uint64_t v)
{
  return pc_printf(srv->t, "%llu", (unsigned long long)v);
}

/* The WebSocket status of LIFE-7 after a fatal error. */
static int close_status(const char *reason)
{
  if (strcmp(reason, "going-away") == 0)
    return 1001;
  if (strcmp(reason, "internal") == 0)
    return 1011;
  if (strcmp(reason, "auth-failed") == 0 ||
      strcmp(reason, "token-expired") == 0 || strcmp(reason, "timeout") == 0)
    return 1008;
  return 1002;
}

void ps_error(ps_session *s, int code, const char *reason, bool fatal,
              const char *req)
{
  const char *codes;

  if (code == 0)
    code = (int)parley_err_from_reason(reason);
  codes = u64s(s->srv, (uint64_t)code);
  ps_sendf(s, "ERROR", NULL, 0, "code", codes, "reason", reason, "fatal",
           fatal ? "yes" : "no", req ? "req" : NULL, req, (char *)NULL);
  if (fatal && !s->srv->script.fatal_keeps_open) {
    ps_close(s, close_status(reason));
    s->server_closed = true;
    s->closed_ms = pw_mono_ms();
  }
}

void ps_bye(ps_session *s)
{
  s->bye_sent = true;
  ps_sendf(s, "BYE", NULL, 0, (char *)NULL);
}

/* ---- the handshake ------------------------------------------------- */

/* True when the comma-separated list holds `item`. */
static bool list_has(const char *list, const char *item)
{
  size_t n = strlen(item);
  const char *p = list;

  while (p != NULL && *p != '\0') {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && memcmp(p, item, n) == 0)
      return true;
    p = end ? end + 1 : NULL;
  }
  return false;
}

/* The capabilities both sides have: this server has all three. */
static const char *shared_caps(ps_server *srv, const char *caps)
{
  static const char *const all[] = {"receipts", "typing", "presence"};
  char *out = pc_strdup(srv->t, "");
  size_t i;

  for (i = 0; caps != NULL && i < PC_COUNT(all); i++)
    if (list_has(caps, all[i]))
      out = pc_printf(srv->t, "%s%s%s", out, out[0] ? "," : "", all[i]);
  return out;
}

/* The interval chosen from the client's proposal (section 4.1): any
 * number, clamped to the server's bounds. */
static uint64_t choose_heartbeat(ps_server *srv, const char *proposal)
{
  uint64_t v = 0;
  size_t i, n = strlen(proposal);

  for (i = 0; i < n && v <= srv->o.heartbeat_max_ms; i++)
    v = v * 10 + (uint64_t)(proposal[i] - '0');
  if (v < srv->o.heartbeat_min_ms)
    v = srv->o.heartbeat_min_ms;
  if (v > srv->o.heartbeat_max_ms)
    v = srv->o.heartbeat_max_ms;
  return v;
}

static void on_hello(ps_session *s, const pc_frame *f)
{
  ps_server *srv = s->srv;
  const char *versions = pc_hdr(f, "versions"), *hb = pc_hdr(f, "heartbeat");
  const char *req = pc_hdr(f, "req"), *caps = pc_hdr(f, "caps");

  if (s->hello) {
    ps_fault(srv, "%s: HELLO a second time", s->label);
    ps_error(s, 0, "bad-state", true, NULL);
    return;
  }
  if (versions == NULL || hb == NULL) {
    ps_fault(srv, "%s: HELLO without %s", s->label,
             versions ? "heartbeat" : "versions");
    ps_error(s, 0, "missing-header", false, req);
    return;
  }
  s->hello = true;
  if (!list_has(versions, "1")) {
    ps_fault(srv, "%s: HELLO lists versions %s, not 1", s->label, versions);
    ps_error(s, 0, "unsupported-version", true, req);
    return;
  }
  if (srv->script.hello_error != NULL) {
    ps_error(s, 0, srv->script.hello_error, true, req);
    return;
  }
  s->heartbeat_ms = choose_heartbeat(srv, hb);
  s->welcomed = true;
  s->caps = caps;
  ps_sendf(s, "WELCOME", NULL, 0, "version",
           srv->script.welcome_version ? srv->script.welcome_version : "1",
           "caps", shared_caps(srv, caps),
           "heartbeat", u64s(srv, s->heartbeat_ms),
           "max-frame", u64s(srv, srv->o.max_frame),
           "max-headers", u64s(srv, PS_MAX_HEADERS),
           "max-header-line", u64s(srv, PS_MAX_HEADER_LINE),
           "max-body", u64s(srv, srv->o.max_body),
           "dedup-window", u64s(srv, PS_DEDUP_WINDOW_MS),
           "typing-ttl", u64s(srv, PS_TYPING_TTL_MS),
           "rate", u64s(srv, srv->o.rate),
           "rate-burst", u64s(srv, srv->o.rate_burst),
           req ? "req" : NULL, req, (char *)NULL);
}

/* What the token record says, read under the lock. */
typedef struct token_view {
  bool found, refused;
  uint64_t expires_ms;
} token_view;

static token_view view_token(ps_server *srv, const char *text, bool refuse)
{
  token_view v = {0};
  ps_token *tk;

  pthread_mutex_lock(&srv->lock);
  tk = ps_token_find(srv, text);
  if (tk != NULL) {
    v.found = true;
    v.refused = tk->refused;
    v.expires_ms = tk->expires_ms;
    if (refuse)
      tk->refused = true;
  }
  pthread_mutex_unlock(&srv->lock);
  return v;
}

/* Refuses an AUTH: the token is marked refused (CLI-5). */
static void refuse_auth(ps_session *s, const char *token, const char *reason,
                        const char *req)
{
  view_token(s->srv, token, true);
  ps_error(s, 0, reason, true, req);
}

static void accept_auth(ps_session *s, const pc_frame *f, token_view v)
{
  ps_server *srv = s->srv;
  const char *req = pc_hdr(f, "req"), *device = pc_hdr(f, "device");

  if (s->ready) {
    if (strcmp(device, s->device) != 0) {
      ps_fault(srv, "%s: a fresh AUTH for device %s, not %s", s->label,
               device, s->device);
      ps_error(s, 0, "bad-state", true, req);
      return;
    }
    if (s->refreshes++ == 0) {
      s->refresh_wall_ms = pc_now_ms();
      s->refresh_token = pc_hdr(f, "token");
    }
  } else {
    s->device = device;
    s->ready = true;
  }
  ps_sendf(s, "READY", NULL, 0, "user", PS_USER, "device", device,
           "expires", u64s(srv, v.expires_ms), req ? "req" : NULL, req,
           (char *)NULL);
}

static void on_auth(ps_session *s, const pc_frame *f)
{
  ps_server *srv = s->srv;
  const char *token = pc_hdr(f, "token"), *req = pc_hdr(f, "req");
  token_view v;

  if (token == NULL || pc_hdr(f, "device") == NULL) {
    ps_fault(srv, "%s: AUTH without %s", s->label,
             token ? "device" : "token");
    ps_error(s, 0, "missing-header", false, req);
    return;
  }
  if (!s->ready)
    s->token = token; /* the token of the session, accepted or not */
  v = view_token(srv, token, false);
  if (!v.found) {
    ps_fault(srv, "%s: AUTH with a token this server never issued",
             s->label);
    ps_error(s, 0, "auth-failed", true, req);
  } else if (v.refused) {
    ps_fault(srv, "%s: AUTH again with a token this server refused before "
             "(CLI-5)", s->label);
    ps_error(s, 0, "auth-failed", true, req);
  } else if (srv->script.auth_refusals > 0) {
    srv->script.auth_refusals--;
    refuse_auth(s, token, srv->script.auth_error ? srv->script.auth_error
                                                 : "auth-failed", req);
  } else if (v.expires_ms <= pc_now_ms()) {
    refuse_auth(s, token, "token-expired", req);
  } else {
    accept_auth(s, f, v);
  }
}

/* ---- resume and history -------------------------------------------- */

/* The index of the first event after `since`, or SIZE_MAX when the
 * server never issued that position. */
static size_t after_pos(ps_server *srv, const char *since)
{
  size_t i;

  if (strcmp(since, "0") == 0 || strcmp(since, srv->origin_pos) == 0 ||
      srv->script.sync_from_start)
    return 0;
  for (i = 0; i < srv->ev_n; i++)
    if (strcmp(srv->events[i]->pos, since) == 0)
      return i + 1;
  return SIZE_MAX;
}

void ps_answer_sync(ps_session *s, size_t end)
{
  ps_server *srv = s->srv;
  size_t start = s->sync_has_since ? after_pos(srv, s->since) : srv->ev_n;
  size_t i, last;

  s->sync_held = false;
  if (start == SIZE_MAX) {
    ps_fault(srv, "%s: SYNC since %s, a position this server never "
             "issued", s->label, s->since);
    ps_error(s, 0, "bad-value", false, s->sync_req);
    return;
  }
  if (end > srv->ev_n)
    end = srv->ev_n;
  for (i = start; i < end; i++)
    if (srv->events[i]->conv != NULL) /* else another user's event */
      ps_deliver(s, srv->events[i]);
  last = end > start ? end : start;
  ps_sendf(s, "SYNCED", NULL, 0, "pos",
           last > 0 ? srv->events[last - 1]->pos : srv->origin_pos,
           s->sync_req ? "req" : NULL, s->sync_req, (char *)NULL);
  s->synced = true;
}

static void on_sync(ps_session *s, const pc_frame *f)
{
  if (s->sync_held) {
    ps_fault(s->srv, "%s: SYNC before the SYNCED of the one before",
             s->label);
    ps_error(s, 0, "bad-state", true, NULL);
    return;
  }
  s->syncs++;
  s->since = pc_hdr(f, "since");
  s->sync_has_since = s->since != NULL;
  s->sync_req = pc_hdr(f, "req");
  s->sync_held = true;
  if (!s->srv->script.hold_sync)
    ps_answer_sync(s, SIZE_MAX);
}

/* Reads a cursor "f.N" or "b.N"; false when malformed. */
static bool read_cursor(const char *c, bool *forward, uint64_t *n)
{
  char *end;

  if ((c[0] != 'f' && c[0] != 'b') || c[1] != '.' || c[2] < '0' ||
      c[2] > '9')
    return false;
  *forward = c[0] == 'f';
  *n = strtoull(c + 2, &end, 10);
  return *end == '\0';
}

/* Sends one page of cv: seq lo..hi ascending, then PAGE. */
static void send_page(ps_session *s, ps_conv_rec *cv, uint64_t lo,
                      uint64_t hi, bool more, const char *cursor,
                      const char *req)
{
  ps_server *srv = s->srv;
  uint64_t seq;
  size_t len;
  char *text;

  for (seq = lo; seq <= hi && seq >= 1; seq++) {
    text = ps_msg_frame(srv, cv->msgs[seq - 1], false, req, &len);
    ps_send_text(s, text, len);
  }
  ps_sendf(s, "PAGE", NULL, 0, "conv", cv->id, "count",
           u64s(srv, hi >= lo ? hi - lo + 1 : 0), "more", more ? "yes" : "no",
           more ? "cursor" : NULL, cursor, "req", req, (char *)NULL);
}

/* HISTORY (section 8.2): walking forward from `after` or an "f." cursor,
 * back from a "b." cursor or the newest message. */
static void on_history(ps_session *s, const pc_frame *f)
{
  const char *conv = pc_hdr(f, "conv"), *req = pc_hdr(f, "req");
  const char *after = pc_hdr(f, "after"), *cursor = pc_hdr(f, "cursor");
  const char *lim = pc_hdr(f, "limit");
  ps_conv_rec *cv = conv ? ps_conv_find(s->srv, conv) : NULL;
  uint64_t limit = lim ? strtoull(lim, NULL, 10) : 50, n, lo, hi;
  bool forward = after != NULL;

  if (cv == NULL || (after && cursor) || limit < 1 || limit > 100) {
    ps_error(s, 0, cv ? "bad-value" : "not-found", false, req);
    return;
  }
  n = after ? strtoull(after, NULL, 10) : cv->count + 1;
  if (cursor && !read_cursor(cursor, &forward, &n)) {
    ps_error(s, 0, "bad-cursor", false, req);
    return;
  }
  if (forward) {
    lo = n + 1;
    hi = n + limit < cv->count ? n + limit : cv->count;
    send_page(s, cv, lo, hi, hi < cv->count,
              pc_printf(s->srv->t, "f.%llu", (unsigned long long)hi), req);
  } else {
    hi = n == 0 ? 0 : n > cv->count + 1 ? cv->count : n - 1;
    lo = hi > limit ? hi - limit + 1 : 1;
    send_page(s, cv, lo, hi, lo > 1,
              pc_printf(s->srv->t, "b.%llu", (unsigned long long)lo), req);
  }
}

/* ---- sending ------------------------------------------------------- */

static void send_ack(ps_session *s, const ps_msg *m, const char *req)
{
  ps_server *srv = s->srv;

  ps_sendf(s, "ACK", NULL, 0, "conv", m->conv, "temp-id", m->temp_id,
           "msg-id", m->msg_id, "seq", u64s(srv, m->seq), "ts",
           u64s(srv, m->ts), req ? "req" : NULL, req, (char *)NULL);
}

/* The message this device stored with temp_id, or NULL. */
static ps_msg *find_temp_id(ps_server *srv, const char *device,
                            const char *temp_id)
{
  size_t i;

  for (i = 0; i < srv->ev_n; i++)
    if (srv->events[i]->conv != NULL &&
        strcmp(srv->events[i]->from, PS_USER) == 0 &&
        strcmp(srv->events[i]->device, device) == 0 &&
        strcmp(srv->events[i]->temp_id, temp_id) == 0)
      return srv->events[i];
  return NULL;
}

ps_msg *ps_take_send(ps_session *s, const pc_frame *f, bool ack,
                     bool deliver)
{
  ps_server *srv = s->srv;
  const char *conv = pc_hdr(f, "conv"), *temp_id = pc_hdr(f, "temp-id");
  const char *req = pc_hdr(f, "req");
  ps_conv_rec *cv = conv ? ps_conv_find(srv, conv) : NULL;
  ps_msg *m;
  size_t i;

  if (conv == NULL || temp_id == NULL) {
    ps_fault(srv, "%s: SEND without %s", s->label,
             conv ? "temp-id" : "conv");
    ps_error(s, 0, "missing-header", false, req);
    return NULL;
  }
  if (f->body_len > srv->o.max_body) {
    ps_fault(srv, "%s: a SEND body of %zu octets, past the max-body %llu "
             "WELCOME stated (SEND-10)", s->label, f->body_len,
             (unsigned long long)srv->o.max_body);
    ps_error(s, 0, "frame-too-large", false, req);
    return NULL;
  }
  if (cv == NULL) {
    ps_error(s, 0, "not-found", false, req);
    return NULL;
  }
  if ((m = find_temp_id(srv, s->device, temp_id)) != NULL) {
    if (strcmp(m->conv, conv) != 0 || m->body_len != f->body_len ||
        memcmp(m->body, f->body, f->body_len) != 0) {
      ps_fault(srv, "%s: temp-id %s again for another message (SEND-8)",
               s->label, temp_id);
      ps_error(s, 0, "temp-id-conflict", false, req);
      return NULL;
    }
    if (ack)
      send_ack(s, m, req);
    return m;
  }
  m = ps_store_sent(srv, cv, s->device, temp_id, f->body, f->body_len);
  if (ack)
    send_ack(s, m, req);
  for (i = 0; deliver && i < srv->sess_n; i++)
    if (srv->sess[i]->ready && !srv->sess[i]->closed &&
        !srv->sess[i]->server_closed)
      ps_deliver(srv->sess[i], m);
  return m;
}

static void on_receipt(ps_session *s, const pc_frame *f)
{
  const char *conv = pc_hdr(f, "conv"), *req = pc_hdr(f, "req");
  const char *seq = pc_hdr(f, "seq");
  ps_conv_rec *cv = conv ? ps_conv_find(s->srv, conv) : NULL;

  if (cv == NULL) {
    ps_error(s, 0, "not-found", false, req);
  } else if (seq == NULL || strtoull(seq, NULL, 10) > cv->count) {
    ps_fault(s->srv, "%s: RECEIPT with seq %s past the last message %zu",
             s->label, seq ? seq : "(none)", cv->count);
    ps_error(s, 0, "bad-value", false, req);
  } else if (req != NULL) {
    ps_sendf(s, "OK", NULL, 0, "req", req, (char *)NULL);
  }
}

/* ---- dispatch ------------------------------------------------------ */

static void on_ping(ps_session *s, const pc_frame *f)
{
  const char *nonce = pc_hdr(f, "nonce"), *req = pc_hdr(f, "req");

  if (nonce != NULL)
    ps_sendf(s, "PONG", NULL, 0, "nonce", nonce, req ? "req" : NULL, req,
             (char *)NULL);
  else
    ps_sendf(s, "PONG", NULL, 0, req ? "req" : NULL, req, (char *)NULL);
}

static void on_bye(ps_session *s, const pc_frame *f)
{
  const char *req = pc_hdr(f, "req");

  s->bye_rx = true;
  if (!s->bye_sent)
    ps_sendf(s, "BYE", NULL, 0, req ? "req" : NULL, req, (char *)NULL);
  ps_close(s, 1000);
}

static bool server_only(const char *verb)
{
  static const char *const verbs[] = {"WELCOME", "READY", "PONG", "ACK",
                                      "OK", "MSG", "SYNCED", "PAGE"};
  size_t i;

  for (i = 0; i < PC_COUNT(verbs); i++)
    if (strcmp(verb, verbs[i]) == 0)
      return true;
  return false;
}

/* The frames of a READY session. Returns false for a verb it does not
 * know. */
static bool on_ready_frame(ps_session *s, pc_frame *f)
{
  const char *v = f->verb;

  if (strcmp(v, "SYNC") == 0)
    on_sync(s, f);
  else if (strcmp(v, "SEND") == 0)
    ps_take_send(s, f, true, true);
  else if (strcmp(v, "HISTORY") == 0)
    on_history(s, f);
  else if (strcmp(v, "RECEIPT") == 0)
    on_receipt(s, f);
  else if (strcmp(v, "TYPING") != 0 && strcmp(v, "PRESENCE") != 0)
    return false;
  return true;
}

static bool session_verb(const char *v)
{
  return strcmp(v, "SYNC") == 0 || strcmp(v, "SEND") == 0 ||
         strcmp(v, "HISTORY") == 0 || strcmp(v, "RECEIPT") == 0 ||
         strcmp(v, "TYPING") == 0 || strcmp(v, "PRESENCE") == 0;
}

void ps_handle(ps_session *s, pc_frame *f)
{
  ps_server *srv = s->srv;
  const char *v = f->verb, *req = pc_hdr(f, "req");

  if (srv->script.on_frame && srv->script.on_frame(s, f, srv->script.ud))
    return;
  if (srv->script.silent || s->server_closed)
    return;
  if (!s->hello && strcmp(v, "HELLO") != 0) {
    ps_fault(srv, "%s: the first frame was %s, not HELLO (LIFE-1)",
             s->label, v);
    ps_error(s, 0, "bad-state", true, NULL);
  } else if (strcmp(v, "HELLO") == 0) {
    on_hello(s, f);
  } else if (strcmp(v, "AUTH") == 0) {
    on_auth(s, f);
  } else if (strcmp(v, "PING") == 0) {
    on_ping(s, f);
  } else if (strcmp(v, "BYE") == 0) {
    on_bye(s, f);
  } else if (strcmp(v, "ERROR") == 0 || server_only(v)) {
    ps_fault(srv, "%s: the client sent %s, a verb only servers send",
             s->label, v);
  } else if (!s->ready && session_verb(v)) {
    ps_fault(srv, "%s: %s before READY", s->label, v);
    ps_error(s, 0, "auth-required", false, req);
  } else if (!s->ready || !on_ready_frame(s, f)) {
    ps_error(s, 0, s->ready ? "unknown-verb" : "auth-required", false, req);
  }
}
