/* Conformance cases: http. The HTTP API of spec section 12 (HTTP-1 to
 * HTTP-12, the endpoints of 12.2 and their details in 12.3) and the
 * refusal of a WebSocket upgrade without the subprotocol (WS-5). Every
 * error answer is checked for the body of HTTP-2 with the code the spec
 * gives (the registry's, or the HTTP status for HTTP-only errors) and for
 * Content-Type: application/json. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ca_util.h"

/* ---- checks of answers --------------------------------------------------- */

/* Fails unless the answer has Content-Type application/json. */
static void expect_json_type(pc_ctx *t, const pc_http *r)
{
  const char *ct = pc_http_field(t, r, "Content-Type");

  PC_CHECK(t, ct && strncasecmp(ct, "application/json", 16) == 0 &&
              (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' '),
           "HTTP %d answer with Content-Type %s, not application/json",
           r->status, ct ? ct : "(none)");
}

/* Fails unless r answered `status` with the error body of HTTP-2 holding
 * `reason` (NULL: any) and `code`. */
static void http_err(pc_ctx *t, const pc_http *r, int status,
                     const char *reason, int code)
{
  json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
  json_t *c = json_object_get(e, "code"), *why = json_object_get(e, "reason");
  json_t *m = json_object_get(e, "message");

  PC_CHECK(t, !r->error, "expected HTTP %d; %s", status, r->error);
  PC_CHECK(t, r->status == status, "expected HTTP %d%s%s, got %d: %.300s",
           status, reason ? " " : "", reason ? reason : "", r->status,
           r->body);
  expect_json_type(t, r);
  PC_CHECK(t, json_is_object(e) && json_is_integer(c) && json_is_string(why)
              && json_is_string(m) && json_string_length(m) > 0,
           "HTTP %d without the error body {\"error\": {\"code\": integer, "
           "\"reason\": string, \"message\": string}} (HTTP-2): %.300s",
           status, r->body);
  PC_CHECK(t, !reason || strcmp(json_string_value(why), reason) == 0,
           "HTTP %d with reason %s, expected %s", status,
           json_string_value(why), reason);
  PC_CHECK(t, json_integer_value(c) == code, "HTTP %d %s with code %lld, "
           "expected %d", status, json_string_value(why),
           (long long)json_integer_value(c), code);
}

/* A 400 for a body field: bad-request (code 400) or bad-value (427). */
static void http_400(pc_ctx *t, const pc_http *r, const char *what)
{
  json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
  const char *why = json_string_value(json_object_get(e, "reason"));

  pc_note(t, "%s", what);
  if (why && strcmp(why, "bad-value") == 0)
    http_err(t, r, 400, "bad-value", 427);
  else
    http_err(t, r, 400, "bad-request", 400);
}

/* Fails unless the answer carries WWW-Authenticate naming Bearer. */
static void bearer_challenge(pc_ctx *t, const pc_http *r)
{
  const char *w = pc_http_field(t, r, "WWW-Authenticate");

  PC_CHECK(t, w && strncasecmp(w, "Bearer", 6) == 0 &&
              (w[6] == '\0' || w[6] == ' ' || w[6] == ','),
           "a 401 answer without WWW-Authenticate: Bearer (got %s)",
           w ? w : "none");
}

static void expect_401(pc_ctx *t, const pc_http *r, const char *reason,
                       int code)
{
  http_err(t, r, 401, reason, code);
  bearer_challenge(t, r);
}

static pc_http *get(pc_ctx *t, const char *path, const char *token)
{
  return pc_http_request(t, "GET", path, token, NULL, NULL, 0);
}

static void expect_200(pc_ctx *t, const pc_http *r, const char *what)
{
  PC_CHECK(t, !r->error, "%s: expected HTTP 200; %s", what, r->error);
  PC_CHECK(t, r->status == 200, "%s: expected HTTP 200, got %d: %.300s",
           what, r->status, r->body);
  expect_json_type(t, r);
}

/* A request written out: method, path, extra fields, body. */
static pc_http *raw(pc_ctx *t, const char *method, const char *path,
                    const char *fields, const char *body)
{
  const char *req = pc_printf(t, "%s %s HTTP/1.1\r\nHost: %s\r\n"
                              "Connection: close\r\n%s\r\n%s", method, path,
                              pc_target_host(t), fields, body);

  return pc_http_raw(t, req, strlen(req));
}

static void json_release(void *j) { json_decref(j); }

/* j, released when the case ends however it ends: for JSON a case builds
 * before checks that may fail it. Pass json_incref(j) to what takes it. */
static json_t *held(pc_ctx *t, json_t *j)
{
  pc_defer(t, json_release, j);
  return j;
}

/* The JSON body of a token request for account u, with `extra` members
 * merged in (taken; NULL: none). */
static json_t *token_body(pc_ctx *t, int u, json_t *extra)
{
  json_t *b;

  if (extra)
    held(t, extra); /* pc_user may fail the case */
  b = json_pack("{s:s, s:s}", "user", pc_user(t, u), "password",
                pc_password(t, u));
  if (extra)
    json_object_update(b, extra);
  return b;
}

/* An upper bound of the server's clock now: its Date field when it sent
 * one (whole seconds, so plus a second), else the local clock with a
 * second of slack for skew. */
static uint64_t server_now_bound(pc_ctx *t, const pc_http *r)
{
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  const char *d = pc_http_field(t, r, "Date"), *m;
  struct tm tm = {0};
  char mon[4] = "";

  /* IMF-fixdate, RFC 9110 section 5.6.7: "Sun, 06 Nov 1994 08:49:37 GMT" */
  if (d && sscanf(d, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT", &tm.tm_mday, mon,
                  &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6 &&
      strlen(mon) == 3 && (m = strstr(months, mon)) != NULL) {
    tm.tm_mon = (int)(m - months) / 3;
    tm.tm_year -= 1900;
    return (uint64_t)timegm(&tm) * 1000 + 1000;
  }
  return pc_now_ms() + 1000;
}

/* ---- GET /v1/config ------------------------------------------------------ */

static void config(pc_ctx *t)
{
  pc_http *r = get(t, "/v1/config", NULL);
  const char *ints[] = {"max_frame", "max_headers", "max_header_line",
                        "max_body", "heartbeat_min_ms", "heartbeat_max_ms",
                        "dedup_window_ms", "typing_ttl_ms", "token_ttl_ms",
                        "rate_per_s", "rate_burst"};
  json_t *v, *x;
  size_t i;
  bool one = false;

  expect_200(t, r, "GET /v1/config");
  PC_CHECK(t, json_is_object(r->json), "GET /v1/config is not an object");
  v = json_object_get(r->json, "versions");
  PC_CHECK(t, json_is_array(v), "versions is not an array");
  json_array_foreach(v, i, x) {
    PC_CHECK(t, json_is_integer(x), "versions holds a non-integer");
    one = one || json_integer_value(x) == 1;
  }
  PC_CHECK(t, one, "versions does not list 1");
  v = json_object_get(r->json, "subprotocol");
  PC_CHECK(t, json_is_string(v) && strcmp(json_string_value(v), "parley.1")
           == 0, "subprotocol is not \"parley.1\"");
  v = json_object_get(r->json, "ws_path");
  PC_CHECK(t, json_is_string(v) && strcmp(json_string_value(v), "/v1/ws")
           == 0, "ws_path is not \"/v1/ws\"");
  for (i = 0; i < PC_COUNT(ints); i++) {
    v = json_object_get(r->json, ints[i]);
    PC_CHECK(t, json_is_integer(v) && json_integer_value(v) >= 0,
             "%s is not a non-negative integer", ints[i]);
  }
#define CFG(name) json_integer_value(json_object_get(r->json, name))
  PC_CHECK(t, CFG("max_frame") <= 65536 && CFG("max_headers") <= 32 &&
              CFG("max_header_line") <= 1024,
           "a frame limit is larger than the table's (LIM-1)");
  PC_CHECK(t, CFG("heartbeat_min_ms") <= 15000 &&
              CFG("heartbeat_min_ms") >= 200, "heartbeat_min_ms is outside "
           "200 to 15,000 (HB-1)");
  PC_CHECK(t, CFG("rate_per_s") >= 1 && CFG("rate_burst") >= 1,
           "rate_per_s and rate_burst must be from 1 up (RATE-3)");
#undef CFG
}

/* ---- POST /v1/auth/token ------------------------------------------------- */

static void token(pc_ctx *t)
{
  int u = ca_acct(t, 0);
  pc_http *r = ca_post_json(t, "/v1/auth/token", NULL, token_body(t, u,
                            NULL));
  json_t *tok, *user, *exp;
  const char *s;

  expect_200(t, r, "a token request with the right password");
  tok = json_object_get(r->json, "token");
  user = json_object_get(r->json, "user");
  exp = json_object_get(r->json, "expires_ms");
  PC_CHECK(t, json_is_string(tok) && json_is_string(user) &&
              json_is_integer(exp), "the token answer lacks a string token "
           "or user or an integer expires_ms: %.300s", r->body);
  s = json_string_value(tok);
  PC_CHECK(t, strlen(s) >= 1 && strlen(s) <= 512, "the token has %zu "
           "octets, not 1 to 512", strlen(s));
  for (const char *p = s; *p; p++)
    PC_CHECK(t, *p >= 0x21 && *p <= 0x7E, "the token holds octet 0x%02x, "
             "outside token-chars", (unsigned char)*p);
  PC_CHECK(t, strcmp(json_string_value(user), pc_user(t, u)) == 0,
           "the token answer names user %s, not %s", json_string_value(user),
           pc_user(t, u));
  PC_CHECK(t, (uint64_t)json_integer_value(exp) <= server_now_bound(t, r) +
              pc_config_of(t)->token_ttl_ms, "the token lives longer than "
           "token_ttl_ms (HTTP-12)");
  ca_ready(t, u, s, NULL, 0, NULL);
}

static void token_lifetime_24h(pc_ctx *t)
{
  PC_CHECK(t, pc_config_of(t)->token_ttl_ms <= 86400000, "token_ttl_ms "
           "%llu is longer than 24 hours",
           (unsigned long long)pc_config_of(t)->token_ttl_ms);
}

static void token_ttl(pc_ctx *t)
{
  int u = ca_acct(t, 1);
  const char *bad[] = {"999", "0", "-1", "1000.5", "\"5000\"", "true",
                       "null", "[5000]", "{}"};
  const uint64_t asks[] = {5000, 1000000000000ull};

  for (size_t i = 0; i < PC_COUNT(asks); i++) {
    pc_http *r = ca_post_json(t, "/v1/auth/token", NULL, token_body(t, u,
                              json_pack("{s:I}", "ttl_ms",
                                        (json_int_t)asks[i])));
    uint64_t life = asks[i] < pc_config_of(t)->token_ttl_ms
                        ? asks[i] : pc_config_of(t)->token_ttl_ms;
    json_t *exp;

    expect_200(t, r, pc_printf(t, "ttl_ms %llu", (unsigned long long)
                               asks[i]));
    exp = json_object_get(r->json, "expires_ms");
    PC_CHECK(t, json_is_integer(exp), "the token answer has no integer "
             "expires_ms");
    PC_CHECK(t, (uint64_t)json_integer_value(exp) <= server_now_bound(t, r)
                + life, "asked for ttl_ms %llu, got a token expiring at "
             "%lld, past %llu ms from now", (unsigned long long)asks[i],
             (long long)json_integer_value(exp), (unsigned long long)life);
  }
  for (size_t i = 0; i < PC_COUNT(bad); i++) {
    json_t *b = token_body(t, u, NULL);
    char *text = json_dumps(b, JSON_COMPACT);
    const char *body;
    pc_http *r;

    json_decref(b);
    PC_CHECK(t, text, "out of memory");
    body = pc_printf(t, "%.*s,\"ttl_ms\":%s}", (int)strlen(text) - 1, text,
                     bad[i]);
    free(text);
    r = pc_http_request(t, "POST", "/v1/auth/token", NULL,
                        "application/json", body, strlen(body));
    pc_note(t, "ttl_ms %s", bad[i]);
    http_err(t, r, 400, "bad-request", 400);
  }
}

/* The head of an answer without its Date line. */
static const char *head_sans_date(pc_ctx *t, const pc_http *r)
{
  char *copy = pc_strdup(t, r->head ? r->head : ""), *out = pc_alloc(t,
                         strlen(copy) + 1), *save = NULL;

  for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n",
       &save))
    if (strncasecmp(l, "date:", 5) != 0)
      strcat(strcat(out, l), "\n");
  return out;
}

static void token_refusals_identical(pc_ctx *t)
{
  int u = ca_acct(t, 2);
  const char *nobody = pc_printf(t, "nx%llx", (unsigned long long)
                                 pc_now_ms());
  json_t *bodies[] = {
    json_pack("{s:s, s:s}", "user", pc_user(t, u), "password",
              pc_printf(t, "wrong-%s", pc_uniq(t, "p"))),
    json_pack("{s:s, s:s}", "user", nobody, "password", "wrong"),
    json_pack("{s:s, s:s}", "user", "Not A User Name", "password", "wrong"),
  };
  pc_http *r[PC_COUNT(bodies)];

  for (size_t i = 0; i < PC_COUNT(bodies); i++)
    held(t, bodies[i]);
  for (size_t i = 0; i < PC_COUNT(bodies); i++) {
    r[i] = ca_post_json(t, "/v1/auth/token", NULL, json_incref(bodies[i]));
    expect_401(t, r[i], "auth-failed", 424);
  }
  for (size_t i = 1; i < PC_COUNT(bodies); i++) {
    PC_CHECK(t, strcmp(head_sans_date(t, r[i]), head_sans_date(t, r[0]))
             == 0, "the refusal of %s differs in its fields from that of a "
             "wrong password", i == 1 ? "an unknown user" : "a bad name");
    PC_CHECK(t, r[i]->body_len == r[0]->body_len &&
             memcmp(r[i]->body, r[0]->body, r[0]->body_len) == 0,
             "the refusal of %s differs in its body from that of a wrong "
             "password", i == 1 ? "an unknown user" : "a bad name");
  }
}

static void token_bad_body(pc_ctx *t)
{
  const char *u = pc_user(t, ca_acct(t, 3));
  const char *bodies[] = {
    "not json", "[1, 2]", "\"text\"", "{}",
    pc_printf(t, "{\"user\": \"%s\"}", u), "{\"password\": \"x\"}",
    "{\"user\": 5, \"password\": \"x\"}",
    pc_printf(t, "{\"user\": \"%s\", \"password\": 7}", u),
    pc_printf(t, "{\"user\": [\"%s\"], \"password\": \"x\"}", u),
  };

  for (size_t i = 0; i < PC_COUNT(bodies); i++) {
    pc_http *r = pc_http_request(t, "POST", "/v1/auth/token", NULL,
                                 "application/json", bodies[i],
                                 strlen(bodies[i]));

    if (i < 3) { /* not a JSON object: bad-request */
      pc_note(t, "body %s", bodies[i]);
      http_err(t, r, 400, "bad-request", 400);
    } else {
      http_400(t, r, pc_printf(t, "body %s", bodies[i]));
    }
  }
}

static void unknown_members_ignored(pc_ctx *t)
{
  int u = ca_acct(t, 4);
  json_t *extra = json_pack("{s:i, s:{s:[i,{s:n}]}, s:s}", "zzz", 1,
                            "nested", "a", 1, "b", "ttl", "x");
  pc_http *r = ca_post_json(t, "/v1/auth/token", NULL, token_body(t, u,
                            extra));

  expect_200(t, r, "a token request with unknown members");
  r = ca_post_json(t, "/v1/conversations", pc_token(t, u),
                   json_pack("{s:s, s:[s], s:s, s:{s:b}}", "kind", "group",
                             "members", pc_user(t, u), "color", "red",
                             "future", "x", 1));
  PC_CHECK(t, r->status == 201, "a conversation request with unknown "
           "members got %d: %.300s", r->status, r->body);
}

static void content_type(pc_ctx *t)
{
  int u = ca_acct(t, 5);
  json_t *b = token_body(t, u, NULL);
  char *text = json_dumps(b, JSON_COMPACT);
  const char *body = pc_strdup(t, text ? text : "{}");
  const char *types[] = {NULL, "text/plain", "application/x-www-form-"
                         "urlencoded", "application/jsonx"};
  pc_http *r;

  free(text);
  json_decref(b);
  for (size_t i = 0; i < PC_COUNT(types); i++) {
    pc_note(t, "POST /v1/auth/token with Content-Type %s",
            types[i] ? types[i] : "(none)");
    r = pc_http_request(t, "POST", "/v1/auth/token", NULL, types[i], body,
                        strlen(body));
    http_err(t, r, 415, "unsupported-media-type", 415);
  }
  r = pc_http_request(t, "POST", "/v1/conversations", pc_token(t, u),
                      "text/plain", "{}", 2);
  http_err(t, r, 415, "unsupported-media-type", 415);
  body = pc_printf(t, "{\"kind\": \"group\", \"members\": [\"%s\"]}",
                   pc_user(t, u));
  r = pc_http_request(t, "POST", "/v1/conversations", pc_token(t, u),
                      "application/json; charset=utf-8", body, strlen(body));
  PC_CHECK(t, r->status == 201, "a conversation request with Content-Type "
           "application/json; charset=utf-8 got %d: %.300s", r->status,
           r->body);
}

static void length_required(pc_ctx *t)
{
  const char *chunked = "Content-Type: application/json\r\n"
                        "Transfer-Encoding: chunked\r\n";
  pc_http *r = raw(t, "POST", "/v1/auth/token", chunked,
                   "2\r\n{}\r\n0\r\n\r\n");

  http_err(t, r, 411, "length-required", 411);
  r = raw(t, "POST", "/v1/conversations", pc_printf(t, "%sAuthorization: "
          "Bearer %s\r\n", chunked, pc_token(t, ca_acct(t, 6))),
          "2\r\n{}\r\n0\r\n\r\n");
  http_err(t, r, 411, "length-required", 411);
}

/* A group request of exactly n octets: padded with an unknown member. */
static const char *padded(pc_ctx *t, int u, size_t n)
{
  json_t *b = json_pack("{s:s, s:[s], s:s}", "kind", "group", "members",
                        pc_user(t, u), "pad", "");
  char *text = json_dumps(b, JSON_COMPACT);
  size_t len = text ? strlen(text) : 0;

  json_decref(b);
  pc_defer(t, free, text);
  PC_CHECK(t, text && len < n, "out of memory");
  /* text ends with ...,"pad":""}: put the padding between the quotes */
  return pc_printf(t, "%.*s%s\"}", (int)len - 2, text,
                   ca_fill(t, 'x', n - len));
}

static void too_large(pc_ctx *t)
{
  int u = ca_acct(t, 7);
  const char *at = padded(t, u, 65536), *past = padded(t, u, 65537);
  pc_http *r;

  PC_CHECK(t, strlen(at) == 65536 && strlen(past) == 65537,
           "internal: padding");
  r = pc_http_request(t, "POST", "/v1/conversations", pc_token(t, u),
                      "application/json", at, 65536);
  PC_CHECK(t, r->status == 201, "a group request of exactly 65,536 octets "
           "got %d: %.300s", r->status, r->body);
  r = pc_http_request(t, "POST", "/v1/conversations", pc_token(t, u),
                      "application/json", past, 65537);
  http_err(t, r, 413, "too-large", 413);
  r = pc_http_request(t, "POST", "/v1/auth/token", NULL, "application/json",
                      past, 65537);
  http_err(t, r, 413, "too-large", 413);
}

/* ---- tokens on the other endpoints --------------------------------------- */

static void unauthorized(pc_ctx *t)
{
  const char *good = pc_token(t, ca_acct(t, 8));
  const char *paths[] = {"/v1/conversations", "/v1/conversations/c1",
                         "/v1/conversations/c1/messages"};
  char *forged = pc_strdup(t, good);
  size_t mid = strlen(forged) / 2;
  const char *bad[] = {"garbage", "pt1.x.y", forged,
                       pc_printf(t, "pt2%s", good + 3)};

  forged[mid] = forged[mid] == 'A' ? 'B' : 'A';
  for (size_t i = 0; i < PC_COUNT(paths); i++) {
    pc_note(t, "GET %s without Authorization", paths[i]);
    expect_401(t, get(t, paths[i], NULL), "unauthorized", 401);
  }
  pc_note(t, "Authorization: Basic");
  expect_401(t, raw(t, "GET", paths[0], "Authorization: Basic YTpi\r\n", ""),
             "unauthorized", 401);
  pc_note(t, "POST /v1/conversations without Authorization");
  expect_401(t, pc_http_request(t, "POST", paths[0], NULL,
             "application/json", "{}", 2), "unauthorized", 401);
  for (size_t i = 0; i < PC_COUNT(bad); i++) {
    pc_note(t, "Bearer %.40s", bad[i]);
    expect_401(t, get(t, paths[0], bad[i]), "auth-failed", 424);
  }
}

static void expired_token(pc_ctx *t)
{
  const char *tok = pc_token_fresh(t, ca_acct(t, 9), 1000);
  uint64_t got = pc_now_ms();

  pc_note(t, "waiting for a token of 1000 ms to expire");
  if (pc_now_ms() < got + 1050)
    pc_sleep_ms((unsigned)(got + 1050 - pc_now_ms()));
  expect_401(t, get(t, "/v1/conversations", tok), "token-expired", 425);
}

/* ---- paths and methods --------------------------------------------------- */

/* Fails unless r is a 405 whose Allow lists each of `want` (comma
 * separated) and not `method`. */
static void expect_405(pc_ctx *t, const pc_http *r, const char *method,
                       const char *want)
{
  const char *allow = pc_http_field(t, r, "Allow");
  char *copy, *save = NULL, *list;

  http_err(t, r, 405, "method-not-allowed", 405);
  PC_CHECK(t, allow, "405 without an Allow field (HTTP-7)");
  list = pc_strdup(t, allow);
  for (char *p = list; *p; p++)
    if (*p == ' ')
      *p = ',';
  PC_CHECK(t, !ca_list_has(list, method), "Allow: %s lists the refused "
           "method %s", allow, method);
  copy = pc_strdup(t, want);
  for (char *m = strtok_r(copy, ",", &save); m; m = strtok_r(NULL, ",",
       &save))
    PC_CHECK(t, ca_list_has(list, m), "Allow: %s does not list %s", allow,
             m);
}

static void method_not_allowed(pc_ctx *t)
{
  int u = ca_acct(t, 10);
  const char *tok = pc_token(t, u);
  const char *conv = pc_conv_group(t, u, &u, 1);
  struct { const char *method, *path, *allow; } s[] = {
    {"DELETE", "/v1/config", "GET"},
    {"POST", "/v1/config", "GET"},
    {"GET", "/v1/auth/token", "POST"},
    {"PUT", "/v1/conversations", "GET,POST"},
    {"DELETE", pc_printf(t, "/v1/conversations/%s", conv), "GET"},
    {"POST", pc_printf(t, "/v1/conversations/%s", conv), "GET"},
    {"PATCH", pc_printf(t, "/v1/conversations/%s/messages", conv), "GET"},
  };

  for (size_t i = 0; i < PC_COUNT(s); i++) {
    bool body = strcmp(s[i].method, "GET") && strcmp(s[i].method, "DELETE");
    pc_http *r = pc_http_request(t, s[i].method, s[i].path, tok,
                                 body ? "application/json" : NULL,
                                 body ? "{}" : NULL, body ? 2 : 0);

    pc_note(t, "%s %s", s[i].method, s[i].path);
    expect_405(t, r, s[i].method, s[i].allow);
  }
}

static void no_such_path(pc_ctx *t)
{
  const char *tok = pc_token(t, ca_acct(t, 11));
  const char *paths[] = {"/v1/nothing", "/v2/config", "/",
                         "/v1/conversations/c1/messages/x", "/v1/configs"};

  for (size_t i = 0; i < PC_COUNT(paths); i++) {
    pc_note(t, "GET %s", paths[i]);
    http_err(t, get(t, paths[i], tok), 404, "no-such-path", 404);
  }
}

/* ---- conversations ------------------------------------------------------- */

/* Fails unless `o` is a conversation object of `kind` whose members are
 * exactly the accounts in `who` (n of them). */
static void conv_object(pc_ctx *t, json_t *o, const char *kind,
                        const int *who, size_t n)
{
  json_t *id = json_object_get(o, "id"), *m = json_object_get(o, "members");
  json_t *x;
  size_t i;

  PC_CHECK(t, json_is_string(id) && json_string_length(id) >= 1 &&
              json_string_length(id) <= 64, "conversation without a string "
           "id of 1 to 64 characters");
  for (const char *p = json_string_value(id); *p; p++)
    PC_CHECK(t, isalnum((unsigned char)*p) || *p == '_' || *p == '-',
             "conversation id %s is not an id", json_string_value(id));
  x = json_object_get(o, "kind");
  PC_CHECK(t, json_is_string(x) && strcmp(json_string_value(x), kind) == 0,
           "conversation kind is not \"%s\"", kind);
  PC_CHECK(t, json_is_string(json_object_get(o, "title")), "no string "
           "title");
  PC_CHECK(t, json_is_integer(json_object_get(o, "last_seq")) &&
              json_is_integer(json_object_get(o, "created_ms")),
           "last_seq or created_ms is not an integer");
  PC_CHECK(t, json_is_array(m) && json_array_size(m) == n, "members has "
           "%zu names, expected %zu", json_array_size(m), n);
  for (size_t k = 0; k < n; k++) {
    size_t seen = 0;

    json_array_foreach(m, i, x)
      if (json_is_string(x) && strcmp(json_string_value(x),
                                      pc_user(t, who[k])) == 0)
        seen++;
    PC_CHECK(t, seen == 1, "members lists %s %zu times", pc_user(t, who[k]),
             seen);
  }
}

static void create_group(pc_ctx *t)
{
  int a = ca_acct(t, 12), b = ca_acct(t, 13), who[2] = {a, b};
  const char *tok = pc_token(t, a), *title = pc_uniq(t, "title");
  json_t *req = held(t, json_pack("{s:s, s:[s,s,s], s:s}", "kind", "group",
                                  "members", pc_user(t, b), pc_user(t, b),
                                  pc_user(t, a), "title", title));
  pc_http *r = ca_post_json(t, "/v1/conversations", tok, json_incref(req));
  const char *id;
  size_t i, seen = 0;
  json_t *x;

  PC_CHECK(t, b != a, "the case needs 2 accounts");
  PC_CHECK(t, r->status == 201, "a new group got %d, not 201: %.300s",
           r->status, r->body);
  expect_json_type(t, r);
  conv_object(t, r->json, "group", who, 2);
  PC_CHECK(t, json_is_string(json_object_get(r->json, "title")) &&
              strcmp(json_string_value(json_object_get(r->json, "title")),
                     title) == 0, "the title was not kept");
  PC_CHECK(t, json_integer_value(json_object_get(r->json, "last_seq")) == 0,
           "a new conversation has last_seq other than 0");
  id = pc_strdup(t, json_string_value(json_object_get(r->json, "id")));
  r = get(t, pc_printf(t, "/v1/conversations/%s", id), tok);
  expect_200(t, r, "GET of the new conversation");
  conv_object(t, r->json, "group", who, 2);
  r = get(t, "/v1/conversations", pc_token(t, b));
  expect_200(t, r, "GET /v1/conversations");
  PC_CHECK(t, json_is_array(r->json), "the list is not an array");
  json_array_foreach(r->json, i, x)
    if (strcmp(json_string_value(json_object_get(x, "id")) ?
               json_string_value(json_object_get(x, "id")) : "", id) == 0)
      seen++;
  PC_CHECK(t, seen == 1, "the member's list holds the new group %zu times",
           seen);
  r = ca_post_json(t, "/v1/conversations", tok, json_incref(req));
  PC_CHECK(t, r->status == 201 && r->json && strcmp(json_string_value(
           json_object_get(r->json, "id")) ? json_string_value(
           json_object_get(r->json, "id")) : id, id) != 0,
           "a second identical group request did not create a new group");
}

static void direct_once(pc_ctx *t)
{
  int a = ca_acct(t, 14), b = ca_acct(t, 15), who[2] = {a, b};
  pc_http *r;
  const char *id = NULL;

  PC_CHECK(t, b != a, "the case needs 2 accounts");
  for (int i = 0; i < 3; i++) {
    int me = i == 1 ? b : a, other = i == 1 ? a : b;

    r = ca_post_json(t, "/v1/conversations", pc_token(t, me),
                     json_pack("{s:s, s:[s], s:s}", "kind", "direct",
                               "members", pc_user(t, other), "title",
                               pc_uniq(t, "title")));
    PC_CHECK(t, r->status == 201 || r->status == 200, "a direct "
             "conversation request got %d: %.300s", r->status, r->body);
    PC_CHECK(t, i == 0 || r->status == 200, "asking again for the direct "
             "conversation of a pair got %d, not 200", r->status);
    conv_object(t, r->json, "direct", who, 2);
    if (!id)
      id = pc_strdup(t, json_string_value(json_object_get(r->json, "id")));
    PC_CHECK(t, strcmp(json_string_value(json_object_get(r->json, "id")),
             id) == 0, "a second direct conversation for one pair was made");
  }
}

static void create_bad(pc_ctx *t)
{
  int a = ca_acct(t, 16), b = ca_acct(t, 17), c = ca_acct(t, 18);
  const char *tok = pc_token(t, a), *ub = pc_user(t, b);
  json_t *reqs[] = {
    json_pack("{s:s, s:[s]}", "kind", "channel", "members", ub),
    json_pack("{s:s, s:[]}", "kind", "group", "members"),
    json_pack("{s:s, s:s}", "kind", "group", "members", ub),
    json_pack("{s:s, s:[i]}", "kind", "group", "members", 5),
    json_pack("{s:s, s:[s,s]}", "kind", "direct", "members", ub,
              pc_user(t, c)),
    json_pack("{s:s, s:[s]}", "kind", "group", "members",
              pc_printf(t, "nx%llx", (unsigned long long)pc_now_ms())),
    json_pack("{s:s, s:[s], s:s}", "kind", "group", "members", ub, "title",
              ca_fill(t, 't', 201)),
    json_pack("{s:s, s:[s], s:i}", "kind", "group", "members", ub, "title",
              5),
    json_pack("{s:[s]}", "members", ub),
    json_pack("{s:s}", "kind", "group"),
  };
  pc_http *r;
  char title[201] = "";

  for (size_t i = 0; i < PC_COUNT(reqs); i++)
    held(t, reqs[i]);
  PC_CHECK(t, b != a && c != a && c != b, "the case needs 3 accounts");
  for (size_t i = 0; i < PC_COUNT(reqs); i++) {
    char *text = json_dumps(reqs[i], JSON_COMPACT);
    const char *what = pc_strdup(t, text ? text : "?");

    free(text);
    r = ca_post_json(t, "/v1/conversations", tok, json_incref(reqs[i]));
    http_400(t, r, pc_printf(t, "POST /v1/conversations %.100s", what));
  }
  r = pc_http_request(t, "POST", "/v1/conversations", tok,
                      "application/json", "[]", 2);
  http_err(t, r, 400, "bad-request", 400);
  for (int i = 0; i < 100; i++)
    strcat(title, "\xC3\xA9"); /* 200 octets, 100 characters */
  r = ca_post_json(t, "/v1/conversations", tok, json_pack("{s:s, s:[s], "
                   "s:s}", "kind", "group", "members", ub, "title", title));
  PC_CHECK(t, r->status == 201, "a title of exactly 200 octets got %d: "
           "%.300s", r->status, r->body);
}

static void get_conversation(pc_ctx *t)
{
  int a = ca_acct(t, 19);
  const char *tok = pc_token(t, a);
  pc_http *r = get(t, pc_printf(t, "/v1/conversations/%s",
                                pc_uniq(t, "cnx")), tok);

  http_err(t, r, 404, "not-found", 440);
  r = get(t, pc_printf(t, "/v1/conversations/%s/messages",
                       pc_uniq(t, "cnx")), tok);
  http_err(t, r, 404, "not-found", 440);
}

/* The id of the conversation object of a 201 answer. */
static const char *created_id(pc_ctx *t, const pc_http *r)
{
  json_t *id = r->json ? json_object_get(r->json, "id") : NULL;

  PC_CHECK(t, r->status == 201 && json_is_string(id), "a new group got %d, "
           "not 201 with an id: %.300s", r->status, r->body);
  return pc_strdup(t, json_string_value(id));
}

/* How many entries of the conversation list `list` have id `id`. */
static size_t times_listed(pc_ctx *t, json_t *list, const char *id)
{
  size_t i, seen = 0;
  json_t *x;

  PC_CHECK(t, json_is_array(list), "GET /v1/conversations is not an array");
  json_array_foreach(list, i, x) {
    const char *xid = json_string_value(json_object_get(x, "id"));

    seen += xid && strcmp(xid, id) == 0;
  }
  return seen;
}

/* Right after the 201 of each of a few groups, the other member reads the
 * conversation, finds it in its list and sends to it: a 201 that came
 * before the commit shows as a 404, a missing entry or a not-found. */
static void create_durable(pc_ctx *t)
{
  int a = ca_acct(t, 24), b = ca_acct(t, 25), who[2] = {a, b};
  const char *ta = pc_token(t, a), *tb = pc_token(t, b);
  pc_conn *c = ca_ready(t, b, NULL, NULL, 0, NULL);

  PC_CHECK(t, b != a, "the case needs 2 accounts");
  for (int i = 0; i < 3; i++) {
    const char *id = created_id(t, ca_post_json(t, "/v1/conversations", ta,
                                json_pack("{s:s, s:[s]}", "kind", "group",
                                          "members", pc_user(t, b))));
    const char *req = ca_req(t);
    pc_http *r = get(t, pc_printf(t, "/v1/conversations/%s", id), tb);
    const pc_frame *f;

    expect_200(t, r, "the other member's GET right after the 201");
    conv_object(t, r->json, "group", who, 2);
    r = get(t, "/v1/conversations", tb);
    expect_200(t, r, "the other member's list right after the 201");
    PC_CHECK(t, times_listed(t, r->json, id) == 1, "the other member's list"
             " right after the 201 holds the new group %zu times",
             times_listed(t, r->json, id));
    pc_send(c, "SEND", "right after", "conv", id, "temp-id",
            pc_uniq(t, "t"), "req", req, NULL);
    f = pc_expect_req(c, req, PC_WAIT);
    PC_CHECK(t, strcmp(f->verb, "ACK") == 0, "the other member's SEND right"
             " after the 201 got %s %s, not ACK", f->verb,
             pc_hdr_show(f, "reason"));
  }
}

/* ---- messages ------------------------------------------------------------ */

/* A message object of the messages endpoint: fields and types. */
static void message_object(pc_ctx *t, json_t *m)
{
  const char *strs[] = {"msg_id", "from", "device", "temp_id",
                        "content_type", "body"};

  for (size_t i = 0; i < PC_COUNT(strs); i++)
    PC_CHECK(t, json_is_string(json_object_get(m, strs[i])), "a message "
             "without a string %s", strs[i]);
  PC_CHECK(t, json_is_integer(json_object_get(m, "seq")) &&
              json_is_integer(json_object_get(m, "ts_ms")),
           "a message without integer seq and ts_ms");
}

/* One page: its messages' seqs go to seq[] (at most 8); returns the
 * cursor, or NULL when more is false. */
static const char *page(pc_ctx *t, const pc_http *r, uint64_t *seq,
                        size_t *n)
{
  json_t *ms = json_object_get(r->json, "messages");
  json_t *more = json_object_get(r->json, "more");
  json_t *cur = json_object_get(r->json, "cursor"), *m;
  size_t i;

  expect_200(t, r, "a page of messages");
  PC_CHECK(t, json_is_array(ms) && json_is_boolean(more), "a page without "
           "a messages array and a boolean more: %.300s", r->body);
  *n = 0;
  json_array_foreach(ms, i, m) {
    message_object(t, m);
    PC_CHECK(t, *n < 8, "a page of more messages than its limit");
    seq[(*n)++] = (uint64_t)json_integer_value(json_object_get(m, "seq"));
  }
  PC_CHECK(t, json_is_true(more) == json_is_string(cur), "cursor must be "
           "present exactly when more is true: %.300s", r->body);
  return json_is_true(more) ? pc_strdup(t, json_string_value(cur)) : NULL;
}

static void messages(pc_ctx *t)
{
  int a = ca_acct(t, 20);
  const char *tok = pc_token(t, a), *conv = pc_conv_group(t, a, &a, 1);
  const char *base = pc_printf(t, "/v1/conversations/%s/messages", conv);
  pc_conn *c = ca_ready(t, a, NULL, NULL, 0, NULL);
  const char *limits[] = {"0", "101", "abc", "-1", "1.5"};
  const char *cursor;
  uint64_t seq[8];
  size_t n;

  for (int i = 0; i < 3; i++) {
    const char *req = ca_req(t);

    pc_send(c, "SEND", pc_printf(t, "m%d", i), "conv", conv, "temp-id",
            pc_uniq(t, "t"), "req", req, NULL);
    PC_CHECK(t, strcmp(pc_expect_req(c, req, PC_WAIT)->verb, "ACK") == 0,
             "SEND was not acknowledged");
  }
  cursor = page(t, get(t, pc_printf(t, "%s?limit=2", base), tok), seq, &n);
  PC_CHECK(t, n == 2 && seq[0] == 2 && seq[1] == 3 && cursor, "limit=2 of "
           "3 messages gave %zu messages (first seq %llu) and more %s", n,
           n ? (unsigned long long)seq[0] : 0ull, cursor ? "true" : "false");
  cursor = page(t, get(t, pc_printf(t, "%s?limit=2&cursor=%s", base,
                       cursor), tok), seq, &n);
  PC_CHECK(t, n == 1 && seq[0] == 1 && !cursor, "the page after the cursor "
           "gave %zu messages (first seq %llu) and more %s", n,
           n ? (unsigned long long)seq[0] : 0ull, cursor ? "true" : "false");
  cursor = page(t, get(t, base, tok), seq, &n);
  PC_CHECK(t, n == 3 && seq[0] == 1 && seq[2] == 3 && !cursor, "the default"
           " page of 3 messages holds %zu in ascending seq, more %s", n,
           cursor ? "true" : "false");
  cursor = page(t, get(t, pc_printf(t, "%s?limit=3", base), tok), seq, &n);
  PC_CHECK(t, n == 3 && !cursor, "a full page that reaches the first "
           "message says more: true");
  page(t, get(t, pc_printf(t, "%s?limit=100&cursor=", base), tok), seq, &n);
  for (size_t i = 0; i < PC_COUNT(limits); i++) {
    pc_note(t, "limit=%s", limits[i]);
    http_err(t, get(t, pc_printf(t, "%s?limit=%s", base, limits[i]), tok),
             400, "bad-value", 427);
  }
  http_err(t, get(t, pc_printf(t, "%s?cursor=zz-never-issued", base), tok),
           400, "bad-cursor", 442);
  http_err(t, get(t, pc_printf(t, "%s?cursor=%%21%%21", base), tok), 400,
           "bad-cursor", 442);
}

static void messages_membership_first(pc_ctx *t)
{
  int a = ca_acct(t, 21), b = ca_acct(t, 22);
  const char *conv = pc_conv_group(t, a, &a, 1);
  pc_http *r;

  PC_CHECK(t, a != b, "the case needs 2 accounts");
  r = get(t, pc_printf(t, "/v1/conversations/%s/messages?cursor=zz-never",
                       conv), pc_token(t, b));
  http_err(t, r, 404, "not-found", 440);
  r = get(t, pc_printf(t, "/v1/conversations/%s/messages?cursor=zz-never",
                       pc_uniq(t, "cnx")), pc_token(t, b));
  http_err(t, r, 404, "not-found", 440);
}

/* ---- the WebSocket upgrade ----------------------------------------------- */

static void ws_subprotocol(pc_ctx *t)
{
  const char *offers[] = {"", "chat", "parley.2"};
  const char *path = pc_config_of(t)->ws_path;
  pc_http *r;

  for (size_t i = 0; i < PC_COUNT(offers); i++) {
    pc_ws_opts o = {.subprotocol = offers[i], .expect_refusal = true};

    pc_note(t, "upgrade offering \"%s\"", offers[i]);
    PC_CHECK(t, !pc_ws_open(t, "refused", &o), "the upgrade succeeded");
    PC_CHECK(t, o.refusal_status == 400, "the upgrade offering \"%s\" was "
             "refused with %d, not 400", offers[i], o.refusal_status);
  }
  r = raw(t, "GET", path, "Upgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n",
          "");
  http_err(t, r, 400, "bad-request", 400);
  PC_CHECK(t, strstr(r->body, "parley.1"), "the refusal's body does not "
           "name the subprotocol parley.1");
  r = get(t, path, NULL);
  http_err(t, r, 400, "bad-request", 400);
  PC_CHECK(t, strstr(r->body, "parley.1"), "the answer to a plain GET of "
           "%s does not name the subprotocol parley.1", path);
}

/* HTTP-11 leaves it to the server: a number past a double's range or
 * nesting past 64 levels, in an unknown member, is ignored or gets 400
 * bad-request; anything else is not what the spec allows. */
static void json_past_limits(pc_ctx *t)
{
  int u = ca_acct(t, 23);
  json_t *b = json_pack("{s:s, s:[s]}", "kind", "group", "members",
                        pc_user(t, u));
  char *text = json_dumps(b, JSON_COMPACT);
  size_t len = text ? strlen(text) : 0;
  const char *deep = pc_printf(t, "%s1%s", ca_fill(t, '[', 100),
                               ca_fill(t, ']', 100));
  const char *odd[] = {"1e400", "-1e400", "99999999999999999999999", deep};

  json_decref(b);
  pc_defer(t, free, text);
  PC_CHECK(t, text, "out of memory");
  for (size_t i = 0; i < PC_COUNT(odd); i++) {
    const char *body = pc_printf(t, "%.*s,\"x\":%s}", (int)len - 1, text,
                                 odd[i]);
    pc_http *r = pc_http_request(t, "POST", "/v1/conversations",
                                 pc_token(t, u), "application/json", body,
                                 strlen(body));

    pc_note(t, "an unknown member holding %.40s", odd[i]);
    if (r->status == 201)
      continue;
    http_err(t, r, 400, "bad-request", 400);
  }
}

static const pc_case cases[] = {
  {"http.config",
   "GET /v1/config answers every field with its JSON type, within the "
   "limits of the spec.", "LIM-1 HB-1 RATE-3", PC_MUST, NULL, config},
  {"http.token",
   "A token request with the right password gets 200 with the token, the "
   "user and expires_ms, and the token opens a session.",
   "HTTP-12 AUTH-1", PC_MUST, NULL, token},
  {"http.token-lifetime-24h",
   "Tokens live no longer than 24 hours.", "SEC-9", PC_SHOULD, NULL,
   token_lifetime_24h},
  {"http.token-ttl",
   "A token never lives longer than ttl_ms or token_ttl_ms; a ttl_ms that "
   "is not an integer from 1,000 up gets 400 bad-request.", "HTTP-12",
   PC_MUST, NULL, token_ttl},
  {"http.token-refusals-identical",
   "A wrong password, an unknown user and a name that is no user name get "
   "the same 401 auth-failed, fields and body.", "HTTP-10 HTTP-6 HTTP-2",
   PC_MUST, NULL, token_refusals_identical},
  {"http.token-bad-body",
   "A token request that is not a JSON object, lacks a field or has one "
   "of the wrong type gets 400.", "HTTP-5 HTTP-2", PC_MUST, NULL,
   token_bad_body},
  {"http.unknown-members-ignored",
   "Unknown members of a token or conversation request are ignored.",
   "HTTP-5", PC_MUST, NULL, unknown_members_ignored},
  {"http.content-type",
   "A POST without Content-Type application/json gets 415 "
   "unsupported-media-type; parameters are allowed.", "HTTP-4 HTTP-2",
   PC_MUST, NULL, content_type},
  {"http.length-required",
   "A POST whose body has no Content-Length (chunked) gets 411 "
   "length-required.", "HTTP-1 HTTP-2", PC_MUST, NULL, length_required},
  {"http.too-large",
   "A body of 65,536 octets is taken; one octet more gets 413 too-large.",
   "HTTP-2", PC_MUST, NULL, too_large},
  {"http.unauthorized",
   "Requests without a bearer token get 401 unauthorized, with a bad one "
   "401 auth-failed, each with WWW-Authenticate: Bearer.",
   "HTTP-3 HTTP-6 HTTP-2 SEC-7", PC_MUST, NULL, unauthorized},
  {"http.expired-token",
   "An expired bearer token gets 401 token-expired with WWW-Authenticate: "
   "Bearer.", "HTTP-3 HTTP-6 HTTP-12", PC_MUST, NULL, expired_token},
  {"http.method-not-allowed",
   "A known path asked with a method it does not serve gets 405 with an "
   "Allow field listing the methods it serves.", "HTTP-7 HTTP-2", PC_MUST,
   NULL, method_not_allowed},
  {"http.no-such-path",
   "An unknown path gets 404 no-such-path.", "HTTP-2", PC_MUST, NULL,
   no_such_path},
  {"http.create-group",
   "A group request gets 201 and a new conversation object each time, a "
   "name listed twice counting once; GET and the list show it.",
   "HTTP-5 HTTP-14", PC_MUST, NULL, create_group},
  {"http.direct-once",
   "There is one direct conversation per pair: asking again, from either "
   "side, gets 200 and the same one.", "HTTP-8", PC_MUST, NULL,
   direct_once},
  {"http.create-bad",
   "A bad kind, members list or title gets 400; a title of exactly 200 "
   "octets is taken.", "HTTP-5 HTTP-2", PC_MUST, NULL, create_bad},
  {"http.create-durable",
   "Right after the 201 for a new group, another member reads it, finds it "
   "in its list and gets an ACK for a SEND to it; the caller is a member.",
   "DUR-3 HTTP-13 HTTP-14", PC_MUST, NULL, create_durable},
  {"http.get-conversation-not-found",
   "A conversation that does not exist gets 404 not-found, on its own "
   "path and its messages.", "HTTP-2 SEC-1", PC_MUST, NULL,
   get_conversation},
  {"http.messages",
   "The messages endpoint pages back in ascending seq with an exclusive "
   "cursor; a bad limit gets 400 bad-value and a bad cursor 400 "
   "bad-cursor.", "HIST-2 HIST-5 HTTP-2", PC_MUST, NULL, messages},
  {"http.messages-membership-first",
   "A non-member asking for messages with a bad cursor gets 404 not-found, "
   "not bad-cursor.", "HTTP-9 SEC-2", PC_MUST, NULL,
   messages_membership_first},
  {"http.ws-subprotocol",
   "A WebSocket upgrade without parley.1 offered, or a plain GET of the "
   "WebSocket path, gets 400 naming the subprotocol.", "WS-5 HTTP-2",
   PC_MUST, NULL, ws_subprotocol},
  {"http.json-past-limits",
   "Numbers past a double's range or deep nesting in an unknown member are "
   "ignored or get 400 bad-request.", "HTTP-11", PC_MAY, NULL,
   json_past_limits},
};

const pc_suite pc_suite_http = {"http", false, cases, PC_COUNT(cases)};
