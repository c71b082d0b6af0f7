/* Helpers shared by the frame, hello, auth, hb, error and http suites
 * (see ca_util.h). They speak only through pc.h, so they run against any
 * server; what they check is what spec sections 2.8, 3 and 4.2 promise
 * about the state a session is left in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca_util.h"
#include "parley/error.h"

/* "ERROR 421 bad-state" or the verb: for failure messages. */
static const char *describe(pc_ctx *t, const pc_frame *f)
{
  if (!f)
    return "nothing";
  if (strcmp(f->verb, "ERROR") == 0)
    return pc_printf(t, "ERROR %s %s", pc_hdr_show(f, "code"),
                     pc_hdr_show(f, "reason"));
  return f->verb;
}

pc_conn *ca_negotiated(pc_ctx *t, const char *label, uint64_t hb_ms,
                       const pc_frame **welcome)
{
  pc_conn *c = pc_ws_open(t, label, NULL);
  const char *req = ca_req(t);
  const pc_frame *f;

  pc_send(c, "HELLO", NULL, "versions", "1", "caps", "", "heartbeat",
          pc_printf(t, "%llu", (unsigned long long)(hb_ms ? hb_ms : 60000)),
          "req", req, NULL);
  f = pc_expect_req(c, req, PC_WAIT);
  PC_CHECK(t, strcmp(f->verb, "WELCOME") == 0,
           "HELLO (versions 1) was answered with %s, not WELCOME",
           describe(t, f));
  if (welcome)
    *welcome = f;
  return c;
}

pc_conn *ca_ready(pc_ctx *t, int user, const char *token,
                  const char *device, uint64_t hb_ms,
                  const pc_frame **ready)
{
  pc_conn *c = pc_ws_open(t, pc_user(t, user), NULL);
  const char *hreq = ca_req(t), *areq = ca_req(t);
  const pc_frame *f;

  if (!device)
    device = pc_uniq(t, "d");
  pc_send(c, "HELLO", NULL, "versions", "1", "caps", "", "heartbeat",
          pc_printf(t, "%llu", (unsigned long long)(hb_ms ? hb_ms : 60000)),
          "req", hreq, NULL);
  pc_send(c, "AUTH", NULL, "token", token ? token : pc_token(t, user),
          "device", device, "req", areq, NULL);
  f = pc_expect_req(c, hreq, PC_WAIT);
  PC_CHECK(t, strcmp(f->verb, "WELCOME") == 0,
           "HELLO was answered with %s, not WELCOME", describe(t, f));
  while (pc_auth_retry(c, f = pc_expect_req(c, areq, PC_WAIT))) {
    areq = ca_req(t);
    pc_send(c, "AUTH", NULL, "token", token ? token : pc_token(t, user),
            "device", device, "req", areq, NULL);
  }
  PC_CHECK(t, strcmp(f->verb, "READY") == 0,
           "AUTH with a valid token was answered with %s, not READY",
           describe(t, f));
  if (ready)
    *ready = f;
  return c;
}

/* Sends a PING with a fresh nonce and req; returns the nonce. */
static const char *send_ping(pc_ctx *t, pc_conn *c, const char **req)
{
  const char *nonce = pc_uniq(t, "n");

  *req = ca_req(t);
  pc_send(c, "PING", NULL, "nonce", nonce, "req", *req, NULL);
  return nonce;
}

/* Fails unless f is the PONG of the PING with nonce and req. */
static void check_pong(pc_ctx *t, const pc_frame *f, const char *nonce,
                       const char *req)
{
  const char *n = pc_hdr(f, "nonce"), *r = pc_hdr(f, "req");

  PC_CHECK(t, strcmp(f->verb, "PONG") == 0,
           "a PING was answered with %s, not PONG", describe(t, f));
  PC_CHECK(t, n && strcmp(n, nonce) == 0,
           "PONG carries nonce %s, the PING's was %s", n ? n : "(none)",
           nonce);
  PC_CHECK(t, r && strcmp(r, req) == 0,
           "PONG carries req %s, the PING's was %s", r ? r : "(none)", req);
}

void ca_pong_next(pc_ctx *t, pc_conn *c)
{
  const char *req, *nonce = send_ping(t, c, &req);
  const pc_frame *f = pc_recv(c, PC_WAIT);

  PC_CHECK(t, f, "no PONG came for a PING (the connection %s)",
           pc_closed(c) ? "closed" : "stayed silent");
  check_pong(t, f, nonce, req);
}

void ca_pong(pc_ctx *t, pc_conn *c)
{
  const char *req, *nonce = send_ping(t, c, &req);

  check_pong(t, pc_expect_req(c, req, PC_WAIT), nonce, req);
}

void ca_still_ready(pc_ctx *t, pc_conn *c)
{
  const char *req = ca_req(t);
  const pc_frame *f;

  pc_send(c, "SYNC", NULL, "req", req, NULL);
  f = pc_expect_req(c, req, PC_WAIT);
  PC_CHECK(t, strcmp(f->verb, "SYNCED") == 0,
           "SYNC in READY was answered with %s, not SYNCED", describe(t, f));
}

int ca_fatal(pc_ctx *t, pc_conn *c, const char *reason, const char *req)
{
  const pc_frame *f;
  int code;

  pc_expect_error(c, reason, 1, req, PC_WAIT);
  code = pc_expect_close(c, PC_WAIT);
  while ((f = pc_recv(c, 1)) != NULL)
    PC_CHECK(t, strcmp(f->verb, "PONG") != 0,
             "a PING sent after the frame that got the fatal %s was "
             "answered (ERR-4)", reason);
  return code;
}

const pc_frame *ca_frame_error(pc_ctx *t, pc_conn *c, const char *reason,
                               const char *req)
{
  const pc_frame *f = pc_expect_error(c, reason, 0, NULL, PC_WAIT);
  const char *r = pc_hdr(f, "req");

  PC_CHECK(t, !r || (req && strcmp(r, req) == 0),
           "the ERROR %s carries req %s, which the frame did not carry%s%s",
           reason, r, req ? "; its req was " : "", req ? req : "");
  return f;
}

void ca_is_error(pc_ctx *t, const pc_frame *f, const char *reason,
                 int fatal, const char *req)
{
  const char *code = pc_hdr(f, "code"), *fat = pc_hdr(f, "fatal");
  const char *r = pc_hdr(f, "req");

  PC_CHECK(t, strcmp(f->verb, "ERROR") == 0 && pc_hdr(f, "reason") &&
              pc_hdr_is(f, "reason", reason),
           "expected ERROR %s, got %s", reason, describe(t, f));
  PC_CHECK(t, code && atoi(code) == ca_code(reason) && strlen(code) == 3,
           "ERROR %s carries code %s, not the registry's %d", reason,
           code ? code : "(none)", ca_code(reason));
  PC_CHECK(t, fat && (strcmp(fat, "yes") == 0 || strcmp(fat, "no") == 0),
           "ERROR %s carries no fatal: yes or no (ERR-2)", reason);
  PC_CHECK(t, fatal < 0 || (strcmp(fat, "yes") == 0) == (fatal == 1),
           "ERROR %s carries fatal: %s; the registry says %s", reason, fat,
           fatal == 1 ? "yes" : "no");
  PC_CHECK(t, !req || (r && strcmp(r, req) == 0),
           "ERROR %s carries req %s, not the frame's %s", reason,
           r ? r : "(none)", req);
}

void ca_each_bad(pc_ctx *t, const char *label, const ca_sample *s, size_t n)
{
  pc_conn *c = NULL;
  unsigned sent = 0;

  for (size_t i = 0; i < n; i++) {
    if (!c || sent == CA_BAD_PER_CONN) {
      if (c)
        pc_close(c, 1000);
      c = ca_negotiated(t, pc_printf(t, "%s-%zu", label, i), 0, NULL);
      sent = 0;
    }
    pc_note(t, "%s: expecting %s", s[i].what, s[i].reason);
    pc_send_text(c, s[i].octets, s[i].len);
    sent++;
    ca_frame_error(t, c, s[i].reason, s[i].req);
    ca_pong_next(t, c);
  }
}

pc_http *ca_post_json(pc_ctx *t, const char *path, const char *token,
                      json_t *body)
{
  char *text = json_dumps(body, JSON_COMPACT);
  char *copy;

  json_decref(body);
  PC_CHECK(t, text, "out of memory");
  copy = pc_strdup(t, text);
  free(text);
  return pc_http_request(t, "POST", path, token, "application/json", copy,
                         strlen(copy));
}

const char *ca_token_req(pc_ctx *t, int user, uint64_t ttl_ms,
                         uint64_t *expires_ms)
{
  json_t *body = json_pack("{s:s, s:s}", "user", pc_user(t, user),
                           "password", pc_password(t, user));
  pc_http *r;
  json_t *tok, *exp;

  if (ttl_ms)
    json_object_set_new(body, "ttl_ms", json_integer((json_int_t)ttl_ms));
  r = ca_post_json(t, "/v1/auth/token", NULL, body);
  pc_http_expect(t, r, 200, NULL);
  tok = r->json ? json_object_get(r->json, "token") : NULL;
  exp = r->json ? json_object_get(r->json, "expires_ms") : NULL;
  PC_CHECK(t, json_is_string(tok) && json_is_integer(exp) &&
              json_integer_value(exp) > 0,
           "the token answer lacks a string token or an integer expires_ms:"
           " %.300s", r->body);
  if (expires_ms)
    *expires_ms = (uint64_t)json_integer_value(exp);
  return pc_strdup(t, json_string_value(tok));
}

char *ca_fill(pc_ctx *t, char ch, size_t n)
{
  char *s = pc_alloc(t, n + 1);

  memset(s, ch, n);
  return s;
}

const char *ca_req(pc_ctx *t)
{
  return pc_uniq(t, "r");
}

int ca_acct(pc_ctx *t, int k)
{
  size_t n = pc_account_count(t);

  return n > 1 ? (int)((size_t)k % (n - 1)) : 0;
}

bool ca_list_has(const char *list, const char *item)
{
  size_t len = strlen(item);

  if (!list)
    return false;
  for (const char *p = list; *p;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);

    if (n == len && strncmp(p, item, len) == 0)
      return true;
    if (!end)
      break;
    p = end + 1;
  }
  return false;
}

int ca_code(const char *reason)
{
  return (int)parley_err_from_reason(reason);
}

void ca_body_names(pc_ctx *t, const pc_frame *f, const char *name)
{
  PC_CHECK(t, f->body_len > 0 && strstr(f->body, name),
           "the ERROR %s does not name the header %s in its body "
           "(FRAME-11)", describe(t, f), name);
}
