/* parley-conform case context: the HTTP API (spec section 12).
 *
 * Every request goes on a new connection with Connection: close, so an
 * answer is whatever the server writes until it has sent the whole answer
 * (or closes). Request and answer are logged whole under the label
 * "http-N"; a failure to connect or to read is an answer with status 0
 * and `error` set, never a failure of the case by itself. */
#include "ctx.h"
#include "tool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A pc_http with the fields of the answer, for pc_http_field. */
typedef struct http_res {
  pc_http pub;
  pw_http_msg msg;
} http_res;

char *pc_http_build(const pc_run *r, const char *method, const char *path,
                    const char *token, const char *content_type,
                    const char *body, size_t body_len, size_t *len) {
  char *fields, *req;
  size_t n = 64 + (token ? strlen(token) : 0) +
             (content_type ? strlen(content_type) : 0);

  fields = malloc(n);
  if (!fields)
    return NULL;
  snprintf(fields, n, "%s%s%s%s%s%s", token ? "Authorization: Bearer " : "",
           token ? token : "", token ? "\r\n" : "",
           content_type ? "Content-Type: " : "",
           content_type ? content_type : "", content_type ? "\r\n" : "");
  req = pw_http_build_request(method, path, r->host, r->port, fields, body,
                              body_len, len);
  free(fields);
  return req;
}

void pc_log_answer(pc_ctx *t, const char *label, const pw_http_msg *a) {
  pc_log(t, PC_RECEIVED, label, "http", a->raw ? a->raw : a->head,
         a->raw ? a->raw_len : a->head_len);
}

/* The error of an answer that did not come whole within `wait` ms, of
 * which `got` octets came. */
static void timeout_text(const pc_run *r, unsigned wait, size_t got,
                         char *err, size_t errlen) {
  const char *which = wait == r->timeout_ms ? " (--timeout)" : "";

  if (got == 0)
    snprintf(err, errlen, "no HTTP answer within %u ms%s", wait, which);
  else
    snprintf(err, errlen, "no whole HTTP answer within %u ms%s: %zu "
             "octets of it came", wait, which, got);
}

pw_status pc_http_do(pc_run *r, pc_ctx *t, const char *request,
                     size_t len, bool no_body, pw_http_msg *ans,
                     char *err, size_t errlen) {
  unsigned wait = t ? pc_budget(t, PC_WAIT)
                    : r->timeout_ms ? r->timeout_ms : 10000;
  char label[32], what[300];
  pw_status st;
  pw_conn *w;

  if (!request) {
    snprintf(err, errlen, "out of memory");
    return PW_ERROR;
  }
  if (t) {
    snprintf(label, sizeof label, "http-%u", ++t->http_n);
    snprintf(what, sizeof what, "connect to %s:%u%s", r->host,
             (unsigned)r->port, r->tls ? " (TLS)" : "");
    pc_log(t, PC_EVENT, label, "connect", what, strlen(what));
  }
  w = pw_connect(r->host, r->port, r->tls, r->tls_insecure, wait, err,
                 errlen);
  if (!w) {
    if (t)
      pc_log(t, PC_EVENT, label, "error", err, strlen(err));
    return PW_ERROR;
  }
  if (t)
    pc_log(t, PC_SENT, label, "http", request, len);
  st = pw_write(w, request, len, wait);
  if (st != PW_OK)
    snprintf(err, errlen, "cannot send the request (%s)",
             st == PW_TIMEOUT ? "timed out" : "the connection ended");
  else
    st = pw_http_read_answer(w, no_body, wait, ans, err, errlen);
  if (st == PW_TIMEOUT)
    timeout_text(r, wait, pw_buffered(w), err, errlen);
  if (t && st == PW_OK)
    pc_log_answer(t, label, ans);
  else if (t)
    pc_log(t, PC_EVENT, label, "error", err, strlen(err));
  pw_free(w);
  return st;
}

static void msg_free(void *m) { pw_http_msg_free(m); }
static void json_free(void *j) { json_decref(j); }

/* Runs a request for a case and wraps the answer. */
static pc_http *http_run(pc_ctx *t, const char *request, size_t len,
                         bool no_body) {
  http_res *res = pc_alloc(t, sizeof *res);
  char err[512];
  pw_status st;

  if (!t->r->host)
    pc_fail(t, "no target to send HTTP requests to (client mode)");
  st = pc_http_do(t->r, t, request, len, no_body, &res->msg, err,
                  sizeof err);
  if (st != PW_OK) {
    pw_http_msg_free(&res->msg);
    res->pub.error = pc_strdup(t, err);
    res->pub.head = "";
    res->pub.body = "";
    return &res->pub;
  }
  pc_defer(t, msg_free, &res->msg);
  res->pub.status = res->msg.status;
  res->pub.head = res->msg.head;
  res->pub.body = res->msg.body;
  res->pub.body_len = res->msg.body_len;
  res->pub.json = json_loadb(res->msg.body, res->msg.body_len,
                             JSON_DECODE_ANY, NULL);
  if (res->pub.json)
    pc_defer(t, json_free, res->pub.json);
  if (len > 23 && memcmp(request, "POST /v1/conversations ", 23) == 0 &&
      json_is_string(json_object_get(res->pub.json, "id")))
    pc_conv_note(t, json_string_value(json_object_get(res->pub.json,
                                                      "id")));
  return &res->pub;
}

pc_http *pc_http_request(pc_ctx *t, const char *method, const char *path,
                         const char *token, const char *content_type,
                         const char *body, size_t body_len) {
  size_t len;
  char *req = pc_http_build(t->r, method, path, token, content_type, body,
                            body_len, &len);
  pc_http *res;

  if (!req)
    pc_fail(t, "out of memory");
  pc_defer(t, free, req);
  res = http_run(t, req, len, strcmp(method, "HEAD") == 0);
  return res;
}

pc_http *pc_http_raw(pc_ctx *t, const char *request, size_t len) {
  return http_run(t, request, len, len >= 5 && !memcmp(request, "HEAD ", 5));
}

const char *pc_http_field(pc_ctx *t, const pc_http *r, const char *name) {
  const http_res *res = (const http_res *)r;

  (void)t;
  return pw_http_field(&res->msg, name);
}

/* Checks the error body of spec HTTP-2 for `status` and `reason`. */
static void expect_error_body(pc_ctx *t, const pc_http *r, int status,
                              const char *reason) {
  json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
  json_t *code = json_object_get(e, "code");
  json_t *why = json_object_get(e, "reason");
  json_t *msg = json_object_get(e, "message");
  parley_err known;
  long long want;

  PC_CHECK(t, json_is_object(e) && json_is_integer(code) &&
                  json_is_string(why) && json_is_string(msg),
           "HTTP %d answer without the error body of HTTP-2 "
           "({\"error\": {\"code\": integer, \"reason\": string, "
           "\"message\": string}}): %.300s", status, r->body);
  if (reason && strcmp(json_string_value(why), reason) != 0)
    pc_fail(t, "HTTP %d answer with reason \"%s\", expected \"%s\"",
            status, json_string_value(why), reason);
  known = parley_err_from_reason(json_string_value(why));
  /* Frame errors (400 to 413) never occur over HTTP: a reason they share
   * with an HTTP-only error (length-required) takes the HTTP status. */
  want = known >= 420 ? (long long)known : status;
  if (json_integer_value(code) != want)
    pc_fail(t, "HTTP %d answer with reason \"%s\" and code %lld, expected "
            "code %lld (%s)", status, json_string_value(why),
            (long long)json_integer_value(code), want,
            known >= 420 ? "the registry's, spec 13"
                          : "the HTTP status, spec HTTP-2");
}

void pc_http_expect(pc_ctx *t, const pc_http *r, int status,
                    const char *reason) {
  if (r->error)
    pc_fail(t, "expected HTTP %d; %s", status, r->error);
  if (r->status != status)
    pc_fail(t, "expected HTTP %d%s%s, got %d: %.300s", status,
            reason ? " " : "", reason ? reason : "", r->status, r->body);
  if (status >= 400)
    expect_error_body(t, r, status, reason);
}

/* How long a Retry-After field asks to wait, in ms (0: none or not
 * delta-seconds). */
static unsigned retry_after_ms(const pw_http_msg *m) {
  const char *v = pw_http_field(m, "Retry-After");
  char *end;
  unsigned long s;

  if (!v || *v < '0' || *v > '9')
    return 0;
  s = strtoul(v, &end, 10);
  return *end || s > 60 ? 0 : (unsigned)s * 1000u;
}

/* Writes the visible form of the first octets of body (escaped, so that
 * nothing the target sent acts on a terminal) to out. */
void pc_body_shown(char *out, size_t n, const char *body, size_t len)
{
  pc_buf b = {0};

  pc_escape_visible(&b, body ? body : "", len > 200 ? 200 : len, false);
  snprintf(out, n, "%s%s", pc_buf_str(&b), len > 200 ? "..." : "");
  pc_buf_free(&b);
}

/* Whether tok is a token as spec 2.9 defines it (token-chars: 1 to 512
 * octets from 0x21 to 0x7E), so that it can go in a header field. */
static bool token_valid(const char *tok, size_t len)
{
  size_t i;

  if (len < 1 || len > 512)
    return false;
  for (i = 0; i < len; i++)
    if (tok[i] < 0x21 || tok[i] > 0x7e)
      return false;
  return true;
}

/* One POST /v1/auth/token. Returns 0 with *token and *expires_ms, 1 when
 * the answer was 429 (*hint_ms from its Retry-After, `answer` a short
 * account of it), or -1 with err. */
static int token_try(pc_run *r, pc_ctx *t, size_t i, uint64_t ttl_ms,
                     char **token, uint64_t *expires_ms, unsigned *hint_ms,
                     char *answer, size_t answer_len, char *err,
                     size_t errlen) {
  const pc_account *a = &r->accounts[i];
  json_t *req = json_pack("{s:s, s:s}", "user", a->user, "password",
                          a->password);
  json_t *ans = NULL, *tok, *exp;
  pw_http_msg msg = {0};
  char *body, *text = NULL, why[512], shown[300];
  size_t len;
  pw_status st;
  int rc = -1;

  if (ttl_ms)
    json_object_set_new(req, "ttl_ms", json_integer((json_int_t)ttl_ms));
  body = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  if (body)
    text = pc_http_build(r, "POST", "/v1/auth/token", NULL,
                         "application/json", body, strlen(body), &len);
  free(body);
  st = pc_http_do(r, t, text, text ? len : 0, false, &msg, why,
                  sizeof why);
  if (st != PW_OK) {
    snprintf(err, errlen, "POST /v1/auth/token for %s: %s%s", a->user, why,
             st == PW_TIMEOUT ? "; the server hashes the password before "
             "it answers, which may take longer: raise --timeout" : "");
    goto free_msg;
  }
  ans = json_loadb(msg.body, msg.body_len, 0, NULL);
  tok = json_object_get(ans, "token");
  exp = json_object_get(ans, "expires_ms");
  pc_body_shown(shown, sizeof shown, msg.body, msg.body_len);
  if (msg.status == 429) {
    *hint_ms = retry_after_ms(&msg);
    snprintf(answer, answer_len, "HTTP 429: %.120s", shown);
    rc = 1;
  } else if (msg.status != 200 || !json_is_string(tok) ||
             !json_is_integer(exp)) {
    snprintf(err, errlen, "POST /v1/auth/token for %s answered HTTP %d "
             "without a token and expires_ms: %s", a->user, msg.status,
             shown);
  } else if (!token_valid(json_string_value(tok), json_string_length(tok))) {
    pc_body_shown(shown, sizeof shown, json_string_value(tok),
               json_string_length(tok));
    snprintf(err, errlen, "POST /v1/auth/token for %s answered a token "
             "that is not a valid token (spec 2.9: 1 to 512 octets from "
             "0x21 to 0x7E; it must fit an Authorization field and a "
             "token header): %zu octets, \"%s\"", a->user,
             json_string_length(tok), shown);
  } else {
    *token = strdup(json_string_value(tok));
    *expires_ms = (uint64_t)json_integer_value(exp);
    rc = *token ? 0 : -1;
  }
  json_decref(ans);
free_msg:
  pw_http_msg_free(&msg);
  free(text);
  return rc;
}

/* POST /v1/auth/token; see ctx.h. A 429 is tried again for up to
 * PC_SIGNIN_RETRY_MS (the token is set-up, never what a case checks). */
int pc_fetch_token(pc_run *r, pc_ctx *t, size_t i, uint64_t ttl_ms,
                   char **token, uint64_t *expires_ms, char *err,
                   size_t errlen) {
  uint64_t since = pw_mono_ms();
  unsigned tries = 0, hint = 0;
  char answer[200], what[160];
  int rc;

  snprintf(what, sizeof what, "POST /v1/auth/token for %s",
           r->accounts[i].user);
  while ((rc = token_try(r, t, i, ttl_ms, token, expires_ms, &hint, answer,
                         sizeof answer, err, errlen)) == 1)
    if (!pc_signin_pause(r, t, since, &tries, hint, what)) {
      pc_signin_text(r, t, what, "token requests (per user and per "
                     "address)", answer, err, errlen);
      return -1;
    }
  return rc;
}
