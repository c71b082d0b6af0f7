/* parley-conform client mode: the scripted server's accepting thread and
 * its HTTP API (spec section 12).
 *
 * One thread accepts the client's TCP connections one at a time. While
 * the server is down it resets each at once (SO_LINGER 0) and notes the
 * time, which is how a case sees the client's connection attempts and
 * the waits between them. Otherwise it reads one HTTP request: an
 * upgrade of /v1/ws is accepted (selecting parley.1, or on request none)
 * and queued for the case's thread; anything else is answered here and
 * the connection closed. Every request and answer goes into the case's
 * wire log (pc_log is thread-safe); the thread touches shared state only
 * under the server's lock and never fails the case.
 *
 * Tokens are opaque strings ("tk-" and random letters); the thread keeps
 * each one it issued, with its expiry, for the AUTH checks. */
#include "scripted_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#define PS_HTTP_READ_MS 5000u
#define PS_HTTP_WRITE_MS 2000u

/* Logs a request as received: its head and body in one entry. */
static void log_request(ps_server *srv, const char *label,
                        const pw_http_msg *m)
{
  char *all = malloc(m->head_len + m->body_len + 1);

  if (all == NULL)
    return;
  memcpy(all, m->head, m->head_len);
  if (m->body_len)
    memcpy(all + m->head_len, m->body, m->body_len);
  pc_log(srv->t, PC_RECEIVED, label, "http", all, m->head_len + m->body_len);
  free(all);
}

/* Answers with a JSON body (taken) and logs what went out. */
static void respond(ps_server *srv, pw_conn *c, const char *label,
                    int status, const char *fields, json_t *body)
{
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  char *sent = NULL, extra[256];
  size_t sent_len = 0;

  snprintf(extra, sizeof extra, "Content-Type: application/json\r\n%s",
           fields ? fields : "");
  pw_http_respond(c, status, extra, text ? text : "{}",
                  text ? strlen(text) : 2, PS_HTTP_WRITE_MS, &sent,
                  &sent_len);
  if (sent != NULL)
    pc_log(srv->t, PC_SENT, label, "http", sent, sent_len);
  free(sent);
  free(text);
  json_decref(body);
}

static json_t *error_body(int code, const char *reason, const char *message)
{
  return json_pack("{s:{s:i, s:s, s:s}}", "error", "code", code, "reason",
                   reason, "message", message);
}

static void respond_401(ps_server *srv, pw_conn *c, const char *label,
                        int code, const char *reason)
{
  respond(srv, c, label, 401, "WWW-Authenticate: Bearer\r\n",
          error_body(code, reason, "sign in first"));
}

/* ---- tokens -------------------------------------------------------- */

/* Records and returns a new token (under lock), or NULL. */
static ps_token *issue(ps_server *srv, uint64_t ttl_ms)
{
  unsigned char rnd[16];
  char text[48];
  size_t i;
  ps_token *tk;

  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
    memset(rnd, 7, sizeof rnd);
  memcpy(text, "tk-", 3);
  for (i = 0; i < sizeof rnd; i++)
    text[3 + i] = (char)('a' + rnd[i] % 26);
  snprintf(text + 3 + sizeof rnd, sizeof text - 3 - sizeof rnd, "-%zu",
           srv->tok_n + 1);
  if (!ps_grow((void **)&srv->tok, &srv->tok_cap, srv->tok_n + 1,
               sizeof *srv->tok))
    return NULL;
  tk = &srv->tok[srv->tok_n];
  if ((tk->text = strdup(text)) == NULL)
    return NULL;
  tk->issued_ms = pw_mono_ms();
  tk->expires_ms = pc_now_ms() + ttl_ms;
  tk->refused = false;
  srv->tok_n++;
  return tk;
}

/* POST /v1/auth/token (section 12.2). */
static void token_request(ps_server *srv, pw_conn *c, const char *label,
                          const pw_http_msg *req)
{
  json_t *js = json_loadb(req->body ? req->body : "", req->body_len, 0,
                          NULL);
  const char *user = json_string_value(json_object_get(js, "user"));
  const char *pw = json_string_value(json_object_get(js, "password"));
  json_t *ttl = json_object_get(js, "ttl_ms"), *answer = NULL;
  uint64_t life = srv->o.token_ttl_ms;
  ps_token *tk = NULL;
  bool allowed;

  if (json_is_integer(ttl) && json_integer_value(ttl) >= 1000 &&
      (uint64_t)json_integer_value(ttl) < life)
    life = (uint64_t)json_integer_value(ttl);
  pthread_mutex_lock(&srv->lock);
  srv->token_requests++;
  allowed = srv->tokens_left > 0 && user && pw &&
            strcmp(user, PS_USER) == 0 && strcmp(pw, srv->password) == 0;
  if (allowed && (tk = issue(srv, life)) != NULL) {
    srv->tokens_left--;
    answer = json_pack("{s:s, s:s, s:I}", "token", tk->text, "user",
                       PS_USER, "expires_ms", (json_int_t)tk->expires_ms);
  }
  pthread_mutex_unlock(&srv->lock);
  json_decref(js);
  if (answer != NULL)
    respond(srv, c, label, 200, NULL, answer);
  else
    respond_401(srv, c, label, 424, "auth-failed");
}

/* True when the request carries a Bearer token this server issued that
 * has not expired. */
static bool bearer_ok(ps_server *srv, const pw_http_msg *req)
{
  const char *auth = pw_http_field(req, "Authorization");
  ps_token *tk;
  bool ok;

  if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0)
    return false;
  pthread_mutex_lock(&srv->lock);
  tk = ps_token_find(srv, auth + 7);
  ok = tk != NULL && tk->expires_ms > pc_now_ms();
  pthread_mutex_unlock(&srv->lock);
  return ok;
}

/* ---- the API ------------------------------------------------------- */

static json_t *config_json(const ps_server *srv)
{
  return json_pack("{s:[i], s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                   "s:I, s:I, s:I, s:I}", "versions", 1, "subprotocol",
                   PS_SUBPROTOCOL, "ws_path", PS_WS_PATH, "max_frame",
                   (json_int_t)srv->o.max_frame, "max_headers",
                   (json_int_t)PS_MAX_HEADERS, "max_header_line",
                   (json_int_t)PS_MAX_HEADER_LINE, "max_body",
                   (json_int_t)srv->o.max_body, "heartbeat_min_ms",
                   (json_int_t)srv->o.heartbeat_min_ms, "heartbeat_max_ms",
                   (json_int_t)srv->o.heartbeat_max_ms, "dedup_window_ms",
                   (json_int_t)PS_DEDUP_WINDOW_MS, "typing_ttl_ms",
                   (json_int_t)PS_TYPING_TTL_MS, "token_ttl_ms",
                   (json_int_t)srv->o.token_ttl_ms, "rate_per_s",
                   (json_int_t)srv->o.rate, "rate_burst",
                   (json_int_t)srv->o.rate_burst);
}

/* A conversation object (under lock). */
static json_t *conv_json(const ps_conv_rec *cv)
{
  return json_pack("{s:s, s:s, s:s, s:[s, s], s:I, s:I}", "id", cv->id,
                   "kind", "direct", "title", "", "members", PS_USER,
                   PS_OTHER, "last_seq", (json_int_t)cv->count,
                   "created_ms", (json_int_t)0);
}

/* One page of GET .../messages (under lock): walking back from the
 * newest message or from `cursor` (a seq, exclusive). */
static json_t *page_json(const ps_conv_rec *cv, const char *query)
{
  const char *lp = query ? strstr(query, "limit=") : NULL;
  const char *cp = query ? strstr(query, "cursor=") : NULL;
  uint64_t limit = lp ? strtoull(lp + 6, NULL, 10) : 50;
  uint64_t before = cp && cp[7] >= '0' && cp[7] <= '9'
                        ? strtoull(cp + 7, NULL, 10) : cv->count + 1;
  uint64_t hi, lo, seq;
  json_t *msgs = json_array(), *page;

  if (limit < 1 || limit > 100)
    limit = 50;
  hi = before == 0 ? 0 : before > cv->count + 1 ? cv->count : before - 1;
  lo = hi > limit ? hi - limit + 1 : 1;
  for (seq = lo; seq <= hi; seq++) {
    const ps_msg *m = cv->msgs[seq - 1];
    json_array_append_new(msgs, json_pack(
        "{s:s, s:I, s:s, s:s, s:s, s:I, s:s, s:s%}", "msg_id", m->msg_id,
        "seq", (json_int_t)m->seq, "from", m->from, "device", m->device,
        "temp_id", m->temp_id, "ts_ms", (json_int_t)m->ts, "content_type",
        "text/plain", "body", m->body, m->body_len));
  }
  page = json_pack("{s:o, s:b}", "messages", msgs, "more", lo > 1);
  if (lo > 1)
    json_object_set_new(page, "cursor", json_sprintf("%llu",
                                                     (unsigned long long)lo));
  return page;
}

/* GET /v1/conversations[/ID[/messages]]. */
static json_t *conversations(ps_server *srv, const char *path,
                             const char *query, int *status)
{
  const char *id = path + strlen("/v1/conversations");
  char name[128];
  const char *slash;
  ps_conv_rec *cv;
  json_t *out = NULL;
  size_t i;

  pthread_mutex_lock(&srv->lock);
  if (*id == '\0') {
    out = json_array();
    for (i = 0; i < srv->conv_n; i++)
      json_array_append_new(out, conv_json(&srv->convs[i]));
  } else {
    slash = strchr(++id, '/');
    snprintf(name, sizeof name, "%.*s",
             (int)(slash ? (size_t)(slash - id) : strlen(id)), id);
    cv = ps_conv_find(srv, name);
    if (cv != NULL && slash == NULL)
      out = conv_json(cv);
    else if (cv != NULL && strcmp(slash, "/messages") == 0)
      out = page_json(cv, query);
  }
  pthread_mutex_unlock(&srv->lock);
  *status = out ? 200 : 404;
  return out ? out : error_body(440, "not-found", "no such conversation");
}

/* Answers one plain HTTP request. */
static void route(ps_server *srv, pw_conn *c, const char *label,
                  const pw_http_msg *req)
{
  char path[512];
  const char *q = strchr(req->target, '?');
  bool get = strcmp(req->method, "GET") == 0;
  int status;
  json_t *body;

  snprintf(path, sizeof path, "%.*s",
           (int)(q ? (size_t)(q - req->target) : strlen(req->target)),
           req->target);
  if (strcmp(path, "/v1/auth/token") == 0 &&
      strcmp(req->method, "POST") == 0) {
    token_request(srv, c, label, req);
  } else if (strcmp(path, "/v1/config") == 0 && get) {
    respond(srv, c, label, 200, NULL, config_json(srv));
  } else if (strncmp(path, "/v1/conversations", 17) == 0 && get &&
             (path[17] == '\0' || path[17] == '/')) {
    if (!bearer_ok(srv, req)) {
      respond_401(srv, c, label, 401, "unauthorized");
      return;
    }
    body = conversations(srv, path, q ? q + 1 : NULL, &status);
    respond(srv, c, label, status, NULL, body);
  } else {
    respond(srv, c, label, 404, NULL,
            error_body(404, "no-such-path", "this server has no such path"));
  }
}

/* ---- upgrades ------------------------------------------------------ */

/* Accepts an upgrade of /v1/ws and queues it for the case's thread. */
static void upgrade(ps_server *srv, pw_conn *c, const char *label,
                    const pw_http_msg *req)
{
  bool offered = pw_http_has_token(req, "Sec-WebSocket-Protocol",
                                   PS_SUBPROTOCOL), none, queued = false;
  char *sent = NULL;
  size_t sent_len = 0;
  pw_status st;

  pthread_mutex_lock(&srv->lock);
  none = srv->no_subprotocol;
  srv->no_subprotocol = false;
  pthread_mutex_unlock(&srv->lock);
  if (!offered && !none) {
    respond(srv, c, label, 400, NULL,
            error_body(400, "bad-request", "offer the subprotocol parley.1"));
    pw_free(c);
    return;
  }
  st = pw_ws_accept(c, req, none ? NULL : PS_SUBPROTOCOL, PS_HTTP_WRITE_MS,
                    &sent, &sent_len);
  if (sent != NULL)
    pc_log(srv->t, PC_SENT, label, "http", sent, sent_len);
  free(sent);
  pthread_mutex_lock(&srv->lock);
  if (st == PW_OK && ps_grow((void **)&srv->pend, &srv->pend_cap,
                             srv->pend_n + 1, sizeof *srv->pend)) {
    srv->pend[srv->pend_n].w = c;
    srv->pend[srv->pend_n].no_subprotocol = none;
    srv->pend[srv->pend_n++].mono_ms = pw_mono_ms();
    queued = true;
  }
  pthread_mutex_unlock(&srv->lock);
  if (!queued) {
    pw_free(c);
    return;
  }
  if (write(srv->notify[1], "u", 1) < 0) {
    /* the pipe is full: the case's thread has wake-ups waiting anyway */
  }
}

/* ---- the thread ---------------------------------------------------- */

/* Notes an accepted connection; returns whether the server is down. */
static bool note_accept(ps_server *srv, ps_conn_kind kind, unsigned *n)
{
  bool down;

  pthread_mutex_lock(&srv->lock);
  down = srv->down;
  *n = ++srv->http_n;
  if (ps_grow((void **)&srv->acc, &srv->acc_cap, srv->acc_n + 1,
              sizeof *srv->acc)) {
    srv->acc[srv->acc_n].mono_ms = pw_mono_ms();
    srv->acc[srv->acc_n++].kind = down ? PS_RESET : kind;
  }
  pthread_mutex_unlock(&srv->lock);
  return down;
}

/* Resets the connection: SO_LINGER 0 makes close send RST. */
static void reset(ps_server *srv, pw_conn *c, const char *label)
{
  static const char what[] = "reset at once: the server is down";
  struct linger lg = {1, 0};

  setsockopt(pw_fd(c), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  pc_log(srv->t, PC_EVENT, label, "drop", what, sizeof what - 1);
  pw_free(c);
}

static void set_kind(ps_server *srv, ps_conn_kind kind)
{
  pthread_mutex_lock(&srv->lock);
  if (srv->acc_n > 0)
    srv->acc[srv->acc_n - 1].kind = kind;
  pthread_mutex_unlock(&srv->lock);
}

static void serve_conn(ps_server *srv, pw_conn *c)
{
  pw_http_msg req = {0};
  char label[32], err[256] = "";
  unsigned n;
  char *target;
  pw_status st;

  if (note_accept(srv, PS_HTTP, &n)) {
    snprintf(label, sizeof label, "tcp-%s%u", srv->tag, n);
    reset(srv, c, label);
    return;
  }
  snprintf(label, sizeof label, "http-%s%u", srv->tag, n);
  st = pw_http_read_request(c, PS_HTTP_READ_MS, &req, err, sizeof err);
  if (st != PW_OK) {
    pc_log(srv->t, PC_EVENT, label, "error", err, strlen(err));
    pw_http_msg_free(&req);
    pw_free(c);
    return;
  }
  log_request(srv, label, &req);
  target = strdup(req.target);
  pthread_mutex_lock(&srv->lock);
  if (target && ps_grow((void **)&srv->targets, &srv->tgt_cap,
                        srv->tgt_n + 1, sizeof *srv->targets))
    srv->targets[srv->tgt_n++] = target;
  else
    free(target);
  pthread_mutex_unlock(&srv->lock);
  if (pw_ws_is_upgrade(&req) &&
      strncmp(req.target, PS_WS_PATH, strlen(PS_WS_PATH)) == 0 &&
      (req.target[strlen(PS_WS_PATH)] == '\0' ||
       req.target[strlen(PS_WS_PATH)] == '?')) {
    set_kind(srv, PS_UPGRADE);
    upgrade(srv, c, label, &req);
  } else {
    route(srv, c, label, &req);
    pw_free(c);
  }
  pw_http_msg_free(&req);
}

static void *accept_main(void *arg)
{
  ps_server *srv = arg;
  pw_conn *c;
  pw_status st;
  bool stop;

  for (;;) {
    pthread_mutex_lock(&srv->lock);
    stop = srv->stop;
    pthread_mutex_unlock(&srv->lock);
    if (stop)
      return NULL;
    st = pw_accept(srv->l, 100, &c, NULL, 0);
    if (st == PW_OK)
      serve_conn(srv, c);
    else if (st == PW_ERROR)
      pc_sleep_ms(10); /* out of descriptors, say: do not spin */
  }
}

void ps_http_start(ps_server *srv)
{
  if (pthread_create(&srv->thread, NULL, accept_main, srv) != 0)
    pc_fail(srv->t, "cannot start the scripted server's thread");
  srv->thread_on = true;
}

void ps_http_stop(ps_server *srv)
{
  if (!srv->thread_on)
    return;
  pthread_mutex_lock(&srv->lock);
  srv->stop = true;
  pthread_mutex_unlock(&srv->lock);
  pthread_join(srv->thread, NULL);
  srv->thread_on = false;
}
