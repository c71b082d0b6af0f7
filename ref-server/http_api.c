/* The HTTP API of the reference server (spec section 12), on the same
 * lws context and port as the WebSocket endpoint; this protocol is first
 * in the list, so it also sees upgrades that offer no known subprotocol.
 *
 * One request goes through: route and method (404 no-such-path, 405), the
 * bearer token when the route needs one (401), the body rules for a POST
 * (411 without Content-Length, 413 past 64 KiB, 415 when not JSON), then
 * the body, then the handler. Handlers that need the store or the core
 * register the request under an id and return; the answer comes later
 * through http_api_on_done (store jobs: passwords, member checks) or
 * http_api_on_reply (the core's PARLEY_ACT_API_REPLY). A request whose
 * client went away meanwhile is simply no longer registered, and its
 * answer is dropped. Answers are JSON; errors have the shape of
 * spec 12.1 (HTTP-2). An answer given before the body was read closes
 * the connection, since the unread body cannot be told from a next
 * request.
 *
 * Call records (spec section 19) are read from the store by jobs on the
 * writer's queue, behind every call event already queued, so an answer
 * shows every event whose frames went out before the request came. A
 * call is found only by a member of its conversation (404 not-found
 * otherwise, the same as an unknown call); recording is not supported
 * (501 not-supported, after 401 and 404). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include "host.h"
#include "http_check.h"
#include "log.h"
#include "parley/token.h"

#define HTTP_CHUNK 16384
#define HTTP_HEADERS_MAX 1024
#define HTTP_HISTORY_DEFAULT 50
#define HTTP_HISTORY_MAX 100
#define HTTP_CALLS_DEFAULT 50
#define HTTP_CALLS_MAX 100
#define HTTP_PAGE_MAX_BYTES (1u << 20) /* JSON of one history page */
#define HTTP_MSG_FIELDS_BYTES 512      /* a message's JSON but its body */
#define HTTP_ANSWERS_MAX_BYTES (64u << 20) /* answers unsent, in total */
#define HTTP_WRITE_TIMEOUT_S 10 /* a reader that takes no chunk: dropped */

struct http_req {
  http_req *next; /* bucket chain while registered */
  uint64_t id;
  struct lws *wsi;
  bool registered;
  http_route route;
  http_method method;
  char conv[PARLEY_ID_MAX + 1];
  char call[PARLEY_ID_MAX + 1];   /* the call routes; empty: none such */
  char user[PARLEY_USER_MAX + 1]; /* the caller, once authenticated */

  char *body;
  size_t body_len, body_expected;
  bool reading;

  http_create_ask ask; /* create: kept while members are checked */
  char *cursor; /* history: the cursor argument, NULL when none */
  uint64_t ttl_ms; /* token: the lifetime asked for (HTTP-12); 0: none */
  unsigned history_asks; /* history: pages asked of the core */

  bool answering;
  bool close_after;
  bool headers_done;
  unsigned status;
  unsigned retry_after_s; /* a 429's Retry-After; 0: none */
  char *resp;
  size_t resp_len, resp_off;
};

/* ---- requests: life cycle and registry -------------------------------- */

static void req_register(host *h, http_req *r)
{
  http_req **b = &h->reqs[r->id % HOST_BUCKETS];

  r->next = *b;
  *b = r;
  r->registered = true;
}

static void req_unregister(host *h, http_req *r)
{
  if (!r->registered)
    return;
  for (http_req **p = &h->reqs[r->id % HOST_BUCKETS]; *p; p = &(*p)->next) {
    if (*p == r) {
      *p = r->next;
      break;
    }
  }
  r->registered = false;
}

static http_req *req_find(host *h, uint64_t id)
{
  for (http_req *r = h->reqs[id % HOST_BUCKETS]; r; r = r->next)
    if (r->id == id)
      return r;
  return NULL;
}

static void req_free(host *h, http_req *r)
{
  if (!r)
    return;
  /* A token request still waiting: its password check is not run. */
  if (r->registered && r->route == ROUTE_TOKEN &&
      store_cancel_password(h->st, r->id))
    plog_debug(0, "http: token request dropped: the client went away");
  req_unregister(h, r);
  if (r->body) {
    sodium_memzero(r->body, r->body_len);
    free(r->body);
  }
  free(r->ask.members);
  free(r->cursor);
  h->http_answer_bytes -= r->resp_len;
  free(r->resp);
  free(r);
  h->http_busy--;
}

/* ---- answers ---------------------------------------------------------- */

static json_t *error_body(int code, const char *reason, const char *message);

/* The text of the 429 given when answers waiting for readers fill
 * HTTP_ANSWERS_MAX_BYTES; malloc'ed, NULL when memory runs out. */
static char *json_dumps_busy(void)
{
  json_t *b = error_body(PARLEY_E_RATE_LIMITED, "rate-limited",
                         "the server holds too many unread answers; "
                         "retry in 1 s");
  char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;

  json_decref(b);
  return text;
}

/* Queues an answer with `body` (stolen; NULL for none). The request stops
 * waiting for anything else and is written when the socket is ready. */
static void answer(host *h, http_req *r, unsigned status, json_t *body)
{
  req_unregister(h, r);
  r->reading = false;
  r->answering = true;
  r->status = status;
  h->http_answer_bytes -= r->resp_len;
  free(r->resp);
  r->resp = body ? json_dumps(body, JSON_COMPACT) : NULL;
  r->resp_len = r->resp ? strlen(r->resp) : 0;
  r->resp_off = 0;
  json_decref(body);
  if (r->resp_len > HTTP_CHUNK &&
      h->http_answer_bytes + r->resp_len > HTTP_ANSWERS_MAX_BYTES) {
    /* Too much is waiting for readers already: a short 429 instead. */
    free(r->resp);
    r->status = 429;
    r->retry_after_s = 1;
    r->close_after = true;
    r->resp = json_dumps_busy();
    r->resp_len = r->resp ? strlen(r->resp) : 0;
    plog_info(0, "http: an answer refused: %zu octets wait for readers",
              h->http_answer_bytes);
  }
  h->http_answer_bytes += r->resp_len;
  if (body && !r->resp)
    r->close_after = true; /* out of memory: an empty answer, then close */
  /* A client that takes no part of its answer for a while is dropped. */
  lws_set_timeout(r->wsi, PENDING_TIMEOUT_HTTP_CONTENT,
                  HTTP_WRITE_TIMEOUT_S);
  lws_callback_on_writable(r->wsi);
}

/* The JSON error object of HTTP-2. */
static json_t *error_body(int code, const char *reason, const char *message)
{
  return json_pack("{s:{s:i,s:s,s:s}}", "error", "code", code, "reason",
                   reason, "message", message);
}

static void answer_error(host *h, http_req *r, unsigned status, int code,
                         const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void answer_error(host *h, http_req *r, unsigned status, int code,
                         const char *reason, const char *fmt, ...)
{
  char msg[256];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  plog_debug(0, "http %u %s: %s", status, reason, msg);
  answer(h, r, status, error_body(code, reason, msg));
}

/* An error from the registry (section 13) with its HTTP status. */
static void answer_parley_error(host *h, http_req *r, parley_err err,
                                const char *message)
{
  unsigned status = 400;
  const char *reason = parley_err_reason(err);

  if (err == PARLEY_E_NOT_FOUND)
    status = 404;
  else if (err == PARLEY_E_AUTH_FAILED || err == PARLEY_E_TOKEN_EXPIRED)
    status = 401;
  else if (err == PARLEY_E_RATE_LIMITED)
    status = 429;
  else if (err == PARLEY_E_GOING_AWAY)
    status = 503;
  else if (err == PARLEY_E_INTERNAL || !reason)
    status = 500;
  answer(h, r, status,
         error_body(reason ? (int)err : 500, reason ? reason : "internal",
                    message ? message : parley_err_message(err)));
}

/* Writes headers for an answer into buf (after LWS_PRE) and sends them;
 * `allow` (a 405's Allow) and `retry_after_s` (a 429's Retry-After) are
 * left out when NULL or 0. Returns 0 or -1. */
static int write_headers(struct lws *wsi, unsigned status, size_t len,
                         bool close_after, const char *allow,
                         unsigned retry_after_s)
{
  unsigned char buf[LWS_PRE + HTTP_HEADERS_MAX];
  unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf;
  char retry[16];

  if (lws_add_http_common_headers(wsi, status, "application/json", len, &p,
                                  end))
    return -1;
  if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                   (const unsigned char *)"no-store", 8,
                                   &p, end))
    return -1;
  /* HTTP-6: every 401 names the scheme. */
  if (status == 401 &&
      lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE,
                                   (const unsigned char *)"Bearer", 6, &p,
                                   end))
    return -1;
  if (allow && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ALLOW,
                                            (const unsigned char *)allow,
                                            (int)strlen(allow), &p, end))
    return -1;
  snprintf(retry, sizeof retry, "%u", retry_after_s);
  if (retry_after_s &&
      lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_RETRY_AFTER,
                                   (const unsigned char *)retry,
                                   (int)strlen(retry), &p, end))
    return -1;
  if (close_after &&
      lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                   (const unsigned char *)"close", 5, &p,
                                   end))
    return -1;
  return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

/* Writes the next part of an answer: headers first, then the body in
 * chunks. Returns 0 to go on, 1 when the answer is complete, -1 on a
 * write error. */
static int write_answer(http_req *r)
{
  unsigned char buf[LWS_PRE + HTTP_CHUNK];
  size_t n = r->resp_len - r->resp_off;
  enum lws_write_protocol kind = LWS_WRITE_HTTP_FINAL;

  if (!r->headers_done) {
    const char *allow = r->status == 405 ? http_allowed_method(r->route) : NULL;
    if (write_headers(r->wsi, r->status, r->resp_len, r->close_after,
                      allow, r->retry_after_s) != 0)
      return -1;
    r->headers_done = true;
    if (r->resp_len == 0)
      return 1;
    lws_callback_on_writable(r->wsi);
    return 0;
  }
  if (n > HTTP_CHUNK) {
    n = HTTP_CHUNK;
    kind = LWS_WRITE_HTTP;
  }
  memcpy(buf + LWS_PRE, r->resp + r->resp_off, n);
  if (lws_write(r->wsi, buf + LWS_PRE, n, kind) != (int)n)
    return -1;
  r->resp_off += n;
  lws_set_timeout(r->wsi, PENDING_TIMEOUT_HTTP_CONTENT,
                  HTTP_WRITE_TIMEOUT_S);
  if (r->resp_off < r->resp_len) {
    lws_callback_on_writable(r->wsi);
    return 0;
  }
  return 1;
}

/* Writes a short answer at once, outside the writable callback (for
 * rejecting an upgrade). Returns 0 or -1. */
static int write_now(struct lws *wsi, unsigned status, json_t *body)
{
  unsigned char buf[LWS_PRE + 1024];
  char *text = json_dumps(body, JSON_COMPACT);
  size_t len = text ? strlen(text) : 0;
  int rc = -1;

  json_decref(body);
  if (!text || len > sizeof buf - LWS_PRE)
    goto done;
  if (write_headers(wsi, status, len, true, NULL, 0) != 0)
    goto done;
  memcpy(buf + LWS_PRE, text, len);
  if (lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) == (int)len)
    rc = 0;

done:
  free(text);
  return rc;
}

/* ---- JSON shapes of spec 12.2 ----------------------------------------- */

static json_t *conv_json(const parley_conv_info *c)
{
  json_t *members = json_array();

  for (size_t i = 0; members && i < c->member_count; i++)
    json_array_append_new(members, json_string(c->members[i]));
  return json_pack("{s:s,s:s,s:s,s:o,s:I,s:I}", "id", c->id, "kind",
                   c->kind == PARLEY_CONV_DIRECT ? "direct" : "group",
                   "title", c->title, "members", members, "last_seq",
                   (json_int_t)c->last_seq, "created_ms",
                   (json_int_t)c->created_ms);
}

static json_t *msg_json(const parley_msg *m)
{
  json_t *body = json_stringn(m->body ? m->body : "", m->body_len);

  if (!body) {
    plog_warn(0, "http: message %s has a body that is not UTF-8",
              m->msg_id);
    body = json_string("");
  }
  return json_pack("{s:s,s:I,s:s,s:s,s:s,s:I,s:s,s:o}", "msg_id", m->msg_id,
                   "seq", (json_int_t)m->seq, "from", m->from, "device",
                   m->device, "temp_id", m->temp_id, "ts_ms",
                   (json_int_t)m->ts_ms, "content_type", m->content_type,
                   "body", body);
}

static json_t *page_json(const parley_api_reply *a)
{
  json_t *msgs = json_array(), *page;

  for (size_t i = 0; msgs && i < a->event_count; i++)
    if (a->events[i].type == PARLEY_EVENT_MSG)
      json_array_append_new(msgs, msg_json(&a->events[i].msg));
  page = json_pack("{s:o,s:b}", "messages", msgs, "more", a->more);
  if (page && a->more && a->cursor)
    json_object_set_new(page, "cursor", json_string(a->cursor));
  return page;
}

/* An upper bound of the octets body[0, len) takes escaped in JSON: a
 * control character is at most six (\u001f), a quote or backslash two. */
static size_t json_text_bound(const char *body, size_t len)
{
  size_t n = 0;

  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)body[i];
    n += c < 0x20 ? 6 : c == '"' || c == '\\' ? 2 : 1;
  }
  return n;
}

/* How many of the newest messages of a page fit in HTTP_PAGE_MAX_BYTES
 * of JSON: all of them, or fewer but at least one (a body's JSON is far
 * below the bound). */
static size_t page_fit(const parley_api_reply *a)
{
  size_t total = 64, n = 0;

  for (size_t i = a->event_count; i-- > 0; n++) {
    const parley_msg *m = &a->events[i].msg;
    if (a->events[i].type != PARLEY_EVENT_MSG)
      continue;
    total += HTTP_MSG_FIELDS_BYTES + json_text_bound(m->body, m->body_len);
    if (total > HTTP_PAGE_MAX_BYTES && n > 0)
      break;
  }
  return n;
}

static json_t *config_json(const host *h)
{
  const parley_server_config *c = &h->cfg;
  size_t frame = c->limits.frame_size_max ? c->limits.frame_size_max
                                          : PARLEY_FRAME_SIZE_MAX;
  size_t headers = c->limits.header_count_max ? c->limits.header_count_max
                                              : PARLEY_HEADER_COUNT_MAX;
  size_t line = c->limits.header_line_max ? c->limits.header_line_max
                                          : PARLEY_HEADER_LINE_MAX;

  return json_pack("{s:[i],s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
                   "s:I,s:I,s:I,s:I}",
                   "versions", 1, "subprotocol", HOST_SUBPROTOCOL, "ws_path",
                   HOST_WS_PATH, "max_frame", (json_int_t)frame,
                   "max_headers", (json_int_t)headers, "max_header_line",
                   (json_int_t)line, "max_body",
                   (json_int_t)(frame > 1024 ? frame - 1024 : 0),
                   "heartbeat_min_ms", (json_int_t)c->heartbeat_min_ms,
                   "heartbeat_max_ms", (json_int_t)c->heartbeat_max_ms,
                   "dedup_window_ms", (json_int_t)c->dedup_window_ms,
                   "typing_ttl_ms", (json_int_t)c->typing_ttl_ms,
                   "token_ttl_ms", (json_int_t)h->token_ttl_ms,
                   "rate_per_s", (json_int_t)c->rate_per_s, /* RATE-3 */
                   "rate_burst", (json_int_t)c->rate_burst,
                   "ring_timeout_ms", (json_int_t)c->ring_timeout_ms,
                   "call_grace_ms", (json_int_t)c->call_grace_ms);
}

/* ---- the caller's token ---------------------------------------------- */

/* Checks `Authorization: Bearer TOKEN` (HTTP-3). Returns true with
 * r->user set, or answers 401 and returns false. */
static bool authenticate(host *h, http_req *r)
{
  /* As much as lws keeps of the headers: a token of any length is read
   * whole, so a long malformed one is auth-failed like a short one. */
  char buf[HOST_HEADER_DATA_MAX + 1];
  int n = lws_hdr_total_length(r->wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
  uint64_t expires_ms;
  const char *token;
  parley_err err;

  /* An answer now leaves a POST body unread: close after it. */
  r->close_after = r->method == METHOD_POST;
  if (n <= 0) {
    answer_error(h, r, 401, 401, "unauthorized",
                 "the Authorization header is missing");
    return false;
  }
  if (lws_hdr_copy(r->wsi, buf, sizeof buf, WSI_TOKEN_HTTP_AUTHORIZATION) <
          0 ||
      strncasecmp(buf, "Bearer ", 7) != 0) {
    answer_error(h, r, 401, 401, "unauthorized",
                 "the Authorization header must be \"Bearer TOKEN\"");
    return false;
  }
  for (token = buf + 7; *token == ' '; token++)
    ;
  uint64_t now = host_now_ms();
  if (PARLEY_FAULT(&h->cfg, HTTP_TOKEN_EXPIRY_UNCHECKED))
    now = 0; /* only the signature is checked */
  err = parley_token_verify(h->cfg.token_public_key, token, strlen(token),
                            now, r->user, &expires_ms);
  sodium_memzero(buf, sizeof buf);
  if (err == PARLEY_OK) {
    r->close_after = false;
    return true;
  }
  r->user[0] = '\0';
  if (err == PARLEY_E_TOKEN_EXPIRED)
    answer_error(h, r, 401, PARLEY_E_TOKEN_EXPIRED, "token-expired",
                 "the bearer token has expired");
  else
    answer_error(h, r, 401, PARLEY_E_AUTH_FAILED, "auth-failed",
                 "the bearer token is not valid");
  return false;
}

/* ---- handlers --------------------------------------------------------- */

/* Answers the refusal of a connection-free check (http_check.h). */
static void answer_problem(host *h, http_req *r, const http_problem *p)
{
  answer_error(h, r, p->status, p->code, p->reason, "%s", p->message);
}

/* Reads a JSON object body. Returns it, or NULL after answering 400. */
static json_t *body_object(host *h, http_req *r)
{
  http_problem p;
  json_t *root = http_body_object(r->body, r->body_len, &p);

  if (!root)
    answer_problem(h, r, &p);
  return root;
}

/* SEC-13: takes a token from the bucket of the caller's address and,
 * when `name` is not empty, from the one of that user name. Returns true,
 * or answers 429 with Retry-After and returns false. It runs before the
 * password is hashed, so a refused request costs no Argon2id. */
static bool token_rate_ok(host *h, http_req *r, const char *name)
{
  char key[LIMITER_KEY_MAX + 1], peer[64] = "";
  uint64_t now = host_now_ms(), wait;

  lws_get_peer_simple(r->wsi, peer, sizeof peer);
  snprintf(key, sizeof key, "a:%s", peer);
  wait = limiter_take(h->token_by_address, key, now);
  if (wait == 0 && name[0] != '\0') {
    snprintf(key, sizeof key, "u:%s", name);
    wait = limiter_take(h->token_by_user, key, now);
  }
  if (wait == 0)
    return true;
  r->retry_after_s = (unsigned)((wait + 999) / 1000);
  plog_info(0, "http: token request refused by the rate limit user=%s",
            name[0] ? name : "-");
  answer_error(h, r, 429, PARLEY_E_RATE_LIMITED, "rate-limited",
               "too many token requests; retry in %u s", r->retry_after_s);
  return false;
}

/* Queues the password check of a token request, or answers: 429 when
 * too many checks wait already (they are bounded, spec 14.4). */
static void submit_password(host *h, http_req *r, const char *password)
{
  int rc;

  req_register(h, r);
  rc = store_submit_password(h->st, r->id, r->user, password);
  if (rc == 1) {
    r->retry_after_s = 1;
    plog_info(0, "http: token request refused: %d password checks are "
              "waiting", STORE_PW_QUEUE_MAX);
    answer_error(h, r, 429, PARLEY_E_RATE_LIMITED, "rate-limited",
                 "too many token requests are waiting; retry in 1 s");
  } else if (rc != 0) {
    answer_error(h, r, 500, 500, "internal", "the store is not running");
  }
}

/* POST /v1/auth/token: the password goes to the password thread. */
static void handle_token(host *h, http_req *r)
{
  json_t *root = body_object(h, r);
  json_t *pw;
  http_problem p;

  if (!root)
    return;
  pw = json_object_get(root, "password");
  if (!http_token_ask(root, r->user, &r->ttl_ms, &p))
    answer_problem(h, r, &p);
  else if (token_rate_ok(h, r, r->user))
    submit_password(h, r, json_string_value(pw));
  if (json_is_string(pw)) /* wipe the password in the parsed copy */
    sodium_memzero((char *)json_string_value(pw), json_string_length(pw));
  json_decref(root);
}

/* A password check finished: issue the token, or refuse. */
static void token_checked(host *h, http_req *r, const store_done *d)
{
  char token[PARLEY_TOKEN_MAX];
  uint64_t now = host_now_ms(), ttl = h->token_ttl_ms;
  uint64_t expires;

  if (r->ttl_ms && r->ttl_ms < ttl) /* HTTP-12: never longer than asked */
    ttl = r->ttl_ms;
  expires = now + ttl;

  if (d->dropped) {
    r->close_after = true;
    answer_error(h, r, 503, PARLEY_E_GOING_AWAY, "going-away",
                 "the server is shutting down");
    return;
  }
  if (d->failed) {
    answer_error(h, r, 500, 500, "internal", "the store failed");
    return;
  }
  if (!d->ok) {
    plog_info(0, "http: token refused for user=%s",
              r->user[0] ? r->user : "(not a user name)");
    answer_error(h, r, 401, PARLEY_E_AUTH_FAILED, "auth-failed",
                 "wrong user or password");
    return;
  }
  if (parley_token_issue(h->token_sk, r->user, now, expires, token,
                         sizeof token) != PARLEY_OK) {
    answer_error(h, r, 500, 500, "internal", "cannot issue a token");
    return;
  }
  plog_info(0, "http: token issued for user=%s", r->user);
  answer(h, r, 200,
         json_pack("{s:s,s:s,s:I}", "token", token, "user", r->user,
                   "expires_ms", (json_int_t)expires));
  sodium_memzero(token, sizeof token);
}

/* POST /v1/conversations: check the members exist, then ask the core. */
static void handle_create(host *h, http_req *r)
{
  json_t *root = body_object(h, r);
  const char **names;
  http_problem p;

  if (!root)
    return;
  r->ask.members = calloc(PARLEY_MEMBERS_MAX, sizeof *r->ask.members);
  if (!r->ask.members) {
    json_decref(root);
    answer_error(h, r, 500, 500, "internal", "out of memory");
    return;
  }
  if (!http_create_ask_read(root, r->user, &r->ask, &p)) {
    json_decref(root);
    answer_problem(h, r, &p);
    return;
  }
  json_decref(root);
  names = calloc(r->ask.member_count, sizeof *names);
  if (!names) {
    answer_error(h, r, 500, 500, "internal", "out of memory");
    return;
  }
  for (size_t i = 0; i < r->ask.member_count; i++)
    names[i] = r->ask.members[i];
  req_register(h, r);
  if (store_submit_users_exist(h->st, r->id, names, r->ask.member_count) !=
      0)
    answer_error(h, r, 500, 500, "internal", "the store is not running");
  free(names);
}

/* The members check finished: refuse, or hand the creation to the core. */
static void members_checked(host *h, http_req *r, const store_done *d)
{
  const char *names[PARLEY_MEMBERS_MAX];

  if (d->failed) {
    answer_error(h, r, 500, 500, "internal", "the store failed");
    return;
  }
  if (!d->ok) {
    answer_error(h, r, 400, PARLEY_E_BAD_VALUE, "bad-value",
                 "members: unknown user \"%s\"", d->missing);
    return;
  }
  for (size_t i = 0; i < r->ask.member_count; i++)
    names[i] = r->ask.members[i];
  parley_server_api_create_conv(h->core, r->id, r->user, r->ask.kind,
                                r->ask.title, names, r->ask.member_count,
                                host_now_ms());
  host_pump(h);
}

/* GET /v1/conversations/{id}: answered from the core's memory. */
static void handle_conv(host *h, http_req *r)
{
  parley_conv_info *info = malloc(sizeof *info);

  if (!info) {
    answer_error(h, r, 500, 500, "internal", "out of memory");
    return;
  }
  if (parley_server_conv_info(h->core, r->user, r->conv, info) == PARLEY_OK)
    answer(h, r, 200, conv_json(info));
  else
    answer_parley_error(h, r, PARLEY_E_NOT_FOUND,
                        "no such conversation for this user");
  free(info);
}

typedef struct conv_list {
  json_t *array;
  bool failed;
} conv_list;

static void list_one(void *ud, const parley_conv_info *info)
{
  conv_list *l = ud;
  json_t *obj = l->failed ? NULL : conv_json(info);

  if (obj == NULL || json_array_append_new(l->array, obj) != 0)
    l->failed = true;
}

/* GET /v1/conversations: the caller's conversations, as an array of
 * conversation objects, answered from the core's memory. */
static void handle_list(host *h, http_req *r)
{
  conv_list l = {json_array(), false};

  if (l.array == NULL ||
      parley_server_list_convs(h->core, r->user, list_one, &l) !=
          PARLEY_OK ||
      l.failed) {
    json_decref(l.array);
    answer_error(h, r, 500, 500, "internal", "out of memory");
    return;
  }
  answer(h, r, 200, l.array);
}

/* The value of URL argument `name` (like "limit=") in buf, or NULL.
 * buf holds HOST_HEADER_DATA_MAX + 1 octets, as much as lws keeps of a
 * request's headers, so no argument is too long to be looked at. */
static const char *url_arg(struct lws *wsi, const char *name, char *buf)
{
  return lws_get_urlarg_by_name(wsi, name, buf, HOST_HEADER_DATA_MAX + 1);
}

/* GET /v1/conversations/{id}/messages?cursor=&limit=: asks the core.
 * An empty or absent argument takes its default. The cursor goes to the
 * core unchecked, since membership is checked before the cursor
 * (HTTP-9); the request keeps a copy for as long as it lives. */
static void handle_messages(host *h, http_req *r)
{
  char *buf = malloc(HOST_HEADER_DATA_MAX + 1);
  const char *arg;
  size_t limit = HTTP_HISTORY_DEFAULT;
  http_problem p;

  if (!buf) {
    answer_error(h, r, 500, 500, "internal", "out of memory");
    return;
  }
  arg = url_arg(r->wsi, "limit=", buf);
  if (!http_limit_arg(arg, HTTP_HISTORY_MAX, &limit, &p)) {
    answer_problem(h, r, &p);
    goto done;
  }
  arg = url_arg(r->wsi, "cursor=", buf);
  if (arg && *arg && !(r->cursor = strdup(arg))) {
    answer_error(h, r, 500, 500, "internal", "out of memory");
    goto done;
  }
  req_register(h, r);
  parley_server_api_history(h->core, r->id, r->user, r->conv, r->cursor,
                            limit, host_now_ms());
  host_pump(h);

done:
  free(buf);
}

/* Answers a history page, or asks the core again for the newest
 * messages that fit in HTTP_PAGE_MAX_BYTES: a page past it is never
 * built. The core then gives the cursor before the last one that fits,
 * so nothing is skipped. Each ask is for fewer messages than the last. */
static void answer_page(host *h, http_req *r, const parley_api_reply *a)
{
  size_t fit = page_fit(a);

  if (fit >= a->event_count || r->history_asks >= HTTP_HISTORY_MAX) {
    answer(h, r, 200, page_json(a));
    return;
  }
  r->history_asks++;
  plog_debug(0, "http: a history page of %zu messages is past %u octets: "
             "asking for %zu", a->event_count, HTTP_PAGE_MAX_BYTES, fit);
  /* Called while host_pump drains the core: the pump takes the read
   * this queues. */
  parley_server_api_history(h->core, r->id, r->user, r->conv, r->cursor,
                            fit, host_now_ms());
}

void http_api_on_reply(host *h, const parley_api_reply *a)
{
  http_req *r = req_find(h, a->api_id);

  if (!r)
    return; /* the client went away */
  if (a->err == PARLEY_E_BAD_VALUE && r->route == ROUTE_CONVS)
    answer_parley_error(h, r, a->err, "kind, title or members: not a "
                        "conversation this server can create");
  else if (a->err != PARLEY_OK)
    answer_parley_error(h, r, a->err, NULL);
  else if (r->route == ROUTE_CONVS && a->conv)
    answer(h, r, a->created ? 201 : 200, conv_json(a->conv));
  else if (r->route == ROUTE_MESSAGES)
    answer_page(h, r, a);
  else
    answer_error(h, r, 500, 500, "internal", "unexpected answer");
}

/* ---- calls ------------------------------------------------------------ */

/* A number, or JSON null for a time not set. */
static json_t *time_or_null(bool set, uint64_t ms)
{
  return set ? json_integer((json_int_t)ms) : json_null();
}

static json_t *text_or_null(const char *s)
{
  return s[0] ? json_string(s) : json_null();
}

/* The call object of spec section 19; with its events when asked. */
static json_t *call_json(const store_call *c, bool with_events)
{
  const char *state = c->ended ? "ended" : c->answered ? "active"
                                                       : "ringing";
  json_t *obj = json_pack(
      "{s:s,s:s,s:s,s:s,s:s,s:I,s:o,s:o,s:o}", "id", c->id, "conv", c->conv,
      "caller", c->caller, "media", c->media, "state", state, "started_ms",
      (json_int_t)c->started_ms, "answered_ms",
      time_or_null(c->answered, c->answered_ms), "ended_ms",
      time_or_null(c->ended, c->ended_ms), "end_reason",
      c->ended ? text_or_null(c->end_reason) : json_null());
  json_t *events = with_events ? json_array() : NULL;

  for (size_t i = 0; events && i < c->event_count; i++) {
    const store_call_event *e = &c->events[i];
    json_array_append_new(
        events, json_pack("{s:I,s:s,s:s,s:s,s:o}", "ts_ms",
                          (json_int_t)e->ts_ms, "user", e->user, "device",
                          e->device, "event", e->event, "reason",
                          text_or_null(e->reason)));
  }
  if (obj && events)
    json_object_set_new(obj, "events", events);
  return obj;
}

/* GET /v1/call/{id} and POST /v1/call/{id}/recording/start: the call
 * is looked up in the store, membership included. */
static void handle_call(host *h, http_req *r)
{
  req_register(h, r);
  if (store_submit_call_get(h->st, r->id, r->user, r->call) != 0)
    answer_error(h, r, 500, 500, "internal", "the store is not running");
}

/* GET /v1/conversations/{id}/calls?limit=: membership from the core's
 * memory, then the list from the store. */
static void handle_conv_calls(host *h, http_req *r)
{
  char *buf = malloc(HOST_HEADER_DATA_MAX + 1);
  parley_conv_info *info = malloc(sizeof *info);
  size_t limit = HTTP_CALLS_DEFAULT;
  const char *arg;
  http_problem p;

  if (!buf || !info) {
    answer_error(h, r, 500, 500, "internal", "out of memory");
    goto done;
  }
  arg = url_arg(r->wsi, "limit=", buf);
  if (!http_limit_arg(arg, HTTP_CALLS_MAX, &limit, &p)) {
    answer_problem(h, r, &p);
    goto done;
  }
  if (parley_server_conv_info(h->core, r->user, r->conv, info) !=
      PARLEY_OK) {
    answer_parley_error(h, r, PARLEY_E_NOT_FOUND,
                        "no such conversation for this user");
    goto done;
  }
  req_register(h, r);
  if (store_submit_call_list(h->st, r->id, r->conv, limit) != 0)
    answer_error(h, r, 500, 500, "internal", "the store is not running");

done:
  free(buf);
  free(info);
}

/* A call read finished: answer with the record, the list, 404 or 501. */
static void call_read_done(host *h, http_req *r, const store_done *d)
{
  if (d->failed) {
    answer_error(h, r, 500, 500, "internal", "the store failed");
    return;
  }
  if (r->route == ROUTE_CONV_CALLS) {
    json_t *list = json_array();
    for (size_t i = 0; list && i < d->call_count; i++)
      json_array_append_new(list, call_json(&d->calls[i], false));
    answer(h, r, 200, json_pack("{s:o}", "calls", list));
    return;
  }
  if (d->call_count == 0) {
    answer_parley_error(h, r, PARLEY_E_NOT_FOUND,
                        "no such call for this user");
    return;
  }
  if (r->route == ROUTE_RECORDING)
    answer_error(h, r, 501, 501, "not-supported",
                 "recording is not supported by this server");
  else
    answer(h, r, 200, call_json(&d->calls[0], true));
}

void http_api_on_done(host *h, const store_done *d)
{
  http_req *r = req_find(h, d->tag);

  if (!r)
    return; /* the client went away */
  if (d->kind == STORE_JOB_PASSWORD)
    token_checked(h, r, d);
  else if (d->kind == STORE_JOB_USERS_EXIST)
    members_checked(h, r, d);
  else if (d->kind == STORE_JOB_CALL_GET || d->kind == STORE_JOB_CALL_LIST)
    call_read_done(h, r, d);
}

/* ---- routing ---------------------------------------------------------- */

static http_method method_of(struct lws *wsi)
{
  if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0)
    return METHOD_GET;
  if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
    return METHOD_POST;
  return METHOD_OTHER;
}

/* Runs the handler of a request whose body (if any) is complete. */
static void dispatch(host *h, http_req *r)
{
  switch (r->route) {
  case ROUTE_TOKEN:
    handle_token(h, r);
    break;
  case ROUTE_CONFIG:
    answer(h, r, 200, config_json(h));
    break;
  case ROUTE_CONVS:
    if (r->method == METHOD_GET)
      handle_list(h, r);
    else
      handle_create(h, r);
    break;
  case ROUTE_CONV:
    handle_conv(h, r);
    break;
  case ROUTE_MESSAGES:
    handle_messages(h, r);
    break;
  case ROUTE_CALL:
  case ROUTE_RECORDING:
    handle_call(h, r);
    break;
  case ROUTE_CONV_CALLS:
    handle_conv_calls(h, r);
    break;
  default:
    answer_error(h, r, 404, 404, "no-such-path", "no such path");
  }
}

/* True when the request's Content-Type is application/json. */
static bool content_is_json(struct lws *wsi)
{
  char ct[128];

  if (lws_hdr_copy(wsi, ct, sizeof ct, WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
    return false;
  return http_content_type_is_json(ct);
}

/* Checks the body rules of a POST (HTTP-1) and gets ready to read it.
 * Returns true when the body is to be read; otherwise it answered. */
static bool begin_body(host *h, http_req *r)
{
  char cl[32];
  int n = lws_hdr_copy(r->wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH);
  size_t len = 0;
  int rc;

  r->close_after = true; /* until the body is read */
  if (lws_hdr_total_length(r->wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) >=
      (int)sizeof cl) {
    answer_error(h, r, 413, 413, "too-large", "the body is past %d octets",
                 HOST_BODY_MAX);
    return false;
  }
  if (n <= 0 ||
      lws_hdr_total_length(r->wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
    answer_error(h, r, 411, 411, "length-required",
                 "a request body needs a Content-Length header");
    return false;
  }
  if ((rc = http_content_length(cl, &len)) != 0) {
    if (rc < 0)
      answer_error(h, r, 400, 400, "bad-request",
                   "Content-Length is not a number");
    else
      answer_error(h, r, 413, 413, "too-large",
                   "the body is past %d octets", HOST_BODY_MAX);
    return false;
  }
  /* recording/start may come with no body at all */
  if (!(r->route == ROUTE_RECORDING && len == 0) &&
      !content_is_json(r->wsi)) {
    answer_error(h, r, 415, 415, "unsupported-media-type",
                 "Content-Type must be application/json");
    return false;
  }
  r->body = malloc(len + 1);
  if (!r->body) {
    answer_error(h, r, 500, 500, "internal", "out of memory");
    return false;
  }
  r->body_expected = len;
  r->reading = true;
  r->close_after = false;
  return true;
}

/* LWS_CALLBACK_HTTP: a request's headers arrived. Returns 0, or -1 to
 * drop the connection. */
static int on_request(host *h, struct lws *wsi, http_pss *pss,
                      const char *path)
{
  http_req *r = calloc(1, sizeof *r);

  if (!r)
    return -1;
  h->http_busy++;
  r->wsi = wsi;
  r->id = ++h->next_api_id;
  pss->req = r;
  r->route = http_route_of(path ? path : "", r->conv, r->call);
  r->method = method_of(wsi);
  /* The route's name, never the path: a path may hold a token (SEC-5). */
  plog_debug(0, "http: %s %s",
             r->method == METHOD_GET    ? "GET"
             : r->method == METHOD_POST ? "POST"
                                        : "other",
             http_route_name(r->route));

  if (h->draining || h->fatal) {
    r->close_after = true;
    answer_error(h, r, 503, PARLEY_E_GOING_AWAY, "going-away",
                 "the server is shutting down");
  } else if (r->route == ROUTE_NONE) {
    r->close_after = r->method != METHOD_GET; /* a body may follow */
    answer_error(h, r, 404, 404, "no-such-path", "no such path");
  } else if (!http_method_allowed(r->route, r->method)) {
    r->close_after = r->method != METHOD_GET;
    answer_error(h, r, 405, 405, "method-not-allowed",
                 "this path takes %s only", http_allowed_method(r->route));
  } else if (r->route == ROUTE_WS) {
    answer_error(h, r, 400, 400, "bad-request",
                 "%s is a WebSocket endpoint: upgrade with the "
                 "subprotocol %s", HOST_WS_PATH, HOST_SUBPROTOCOL);
  } else if (r->route != ROUTE_TOKEN && r->route != ROUTE_CONFIG &&
             !authenticate(h, r)) {
    /* answered 401 */
  } else if (r->method == METHOD_POST) {
    if (begin_body(h, r) && r->body_expected == 0) {
      /* Nothing to read; lws may still report an empty piece and the
       * completion, which must not reach a request already handled. */
      r->reading = false;
      r->body[0] = '\0';
      dispatch(h, r);
    }
  } else {
    dispatch(h, r);
  }
  return 0;
}

/* LWS_CALLBACK_HTTP_BODY: a piece of the body. */
static void on_body(host *h, http_req *r, const char *in, size_t len)
{
  if (!r->reading)
    return;
  if (r->body_len + len > r->body_expected) {
    r->close_after = true;
    answer_error(h, r, 413, 413, "too-large",
                 "the body is longer than its Content-Length");
    return;
  }
  if (len > 0)
    memcpy(r->body + r->body_len, in, len);
  r->body_len += len;
}

/* LWS_CALLBACK_HTTP_BODY_COMPLETION. */
static void on_body_done(host *h, http_req *r)
{
  if (!r->reading)
    return;
  r->reading = false;
  r->body[r->body_len] = '\0';
  dispatch(h, r);
}

/* LWS_CALLBACK_HTTP_WRITEABLE: writes the answer; when it is complete,
 * ends the transaction. Returns what the callback returns. */
static int on_writable(host *h, http_pss *pss)
{
  http_req *r = pss->req;
  int rc;

  if (!r || !r->answering)
    return 0;
  rc = write_answer(r);
  if (rc == 0)
    return 0;
  bool close_after = r->close_after || rc < 0;
  struct lws *wsi = r->wsi;
  pss->req = NULL;
  req_free(h, r);
  if (close_after)
    return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* True when the comma-separated list offers `want`. */
static bool list_has(const char *list, const char *want)
{
  size_t wlen = strlen(want);

  while (*list) {
    list += strspn(list, " \t,");
    size_t n = strcspn(list, ",");
    size_t t = n;
    while (t > 0 && (list[t - 1] == ' ' || list[t - 1] == '\t'))
      t--;
    if (t == wlen && strncmp(list, want, wlen) == 0)
      return true;
    list += n;
  }
  return false;
}

/* SEC-14: true when the caller's address may open one more session. */
static bool sessions_left(const host *h, struct lws *wsi)
{
  char peer[64] = "";

  if (h->max_sessions_per_address == 0)
    return true;
  lws_get_peer_simple(wsi, peer, sizeof peer);
  if (ws_sessions_from(h, peer) < h->max_sessions_per_address)
    return true;
  plog_info(0, "http: WebSocket upgrade from %s refused: %u sessions open",
            peer, (unsigned)h->max_sessions_per_address);
  return false;
}

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: lets a WebSocket upgrade through
 * only on /v1/ws with the parley.1 subprotocol (WS-5), and only while
 * the caller's address holds fewer sessions than it may (SEC-14).
 * Returns 0 to go on, 1 after answering an error, -1 to hang up. */
static int confirm_upgrade(host *h, struct lws *wsi, const char *to)
{
  char path[256], protos[512];

  if (!to || strcmp(to, "websocket") != 0)
    return -1;
  if (lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) <= 0 ||
      strcmp(path, HOST_WS_PATH) != 0)
    return write_now(wsi, 404, error_body(404, "no-such-path",
                                          "WebSocket is served on "
                                          HOST_WS_PATH)) ? -1 : 1;
  if (h->draining || h->fatal)
    return write_now(wsi, 503, error_body(PARLEY_E_GOING_AWAY, "going-away",
                                          "the server is shutting "
                                          "down")) ? -1 : 1;
  if (lws_hdr_copy(wsi, protos, sizeof protos, WSI_TOKEN_PROTOCOL) <= 0 ||
      !list_has(protos, HOST_SUBPROTOCOL)) {
    plog_info(0, "http: WebSocket upgrade without the subprotocol %s "
              "refused", HOST_SUBPROTOCOL);
    return write_now(wsi, 400, error_body(400, "bad-request",
                                          "the WebSocket subprotocol "
                                          HOST_SUBPROTOCOL
                                          " is required")) ? -1 : 1;
  }
  if (!sessions_left(h, wsi))
    return write_now(wsi, 429, error_body(PARLEY_E_RATE_LIMITED,
                                          "rate-limited",
                                          "too many sessions from this "
                                          "address")) ? -1 : 1;
  return 0;
}

int http_callback(struct lws *wsi, enum lws_callback_reasons reason,
                  void *user, void *in, size_t len)
{
  host *h = wsi ? lws_context_user(lws_get_context(wsi)) : NULL;
  http_pss *pss = user;

  if (!h)
    return 0;
  switch (reason) {
  case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
    host_on_wakeup(h);
    return 0;
  case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
    return h->draining || h->fatal ? -1 : 0; /* refuse while draining */
  case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
    return confirm_upgrade(h, wsi, in);
  case LWS_CALLBACK_HTTP:
    if (!pss || pss->req)
      return -1;
    return on_request(h, wsi, pss, in);
  case LWS_CALLBACK_HTTP_BODY:
    if (pss && pss->req)
      on_body(h, pss->req, in, len);
    return 0;
  case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    if (pss && pss->req)
      on_body_done(h, pss->req);
    return 0;
  case LWS_CALLBACK_HTTP_WRITEABLE:
    return pss ? on_writable(h, pss) : 0;
  case LWS_CALLBACK_CLOSED_HTTP:
    if (pss && pss->req) {
      req_free(h, pss->req);
      pss->req = NULL;
    }
    return 0;
  default:
    return 0;
  }
}
