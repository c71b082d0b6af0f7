/* Conformance cases: auth. AUTH and tokens on the WebSocket (spec
 * section 4, AUTH-1 to AUTH-4, and the AUTH rows of the table of 4.2):
 * READY for a valid token, auth-failed and token-expired, the expiry of a
 * READY session's token, a fresh AUTH that keeps the session, and the
 * `device` header. Tokens that expire soon come from the token request's
 * `ttl_ms` (HTTP-12); every wait for an expiry is derived from the
 * lifetime asked for, never from the server's clock. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "ca_util.h"

/* A copy of `token` with one character in its middle changed: a token
 * nobody issued (the server's own format is opaque to the case). */
static const char *forged(pc_ctx *t, const char *token)
{
  char *s = pc_strdup(t, token);
  size_t n = strlen(s), i = n / 2;

  while (i + 1 < n && !(isalnum((unsigned char)s[i - 1]) &&
                        isalnum((unsigned char)s[i]) &&
                        isalnum((unsigned char)s[i + 1])))
    i++;
  PC_CHECK(t, i > 0 && i + 1 < n, "the token %.40s... is too short to "
           "change", token);
  s[i] = s[i] == 'A' ? 'B' : 'A';
  return s;
}

/* Sends AUTH with token and device (NULL: left out) on c; returns req. */
static const char *auth(pc_ctx *t, pc_conn *c, const char *token,
                        const char *device)
{
  const char *req = ca_req(t);

  if (token && device)
    pc_send(c, "AUTH", NULL, "token", token, "device", device, "req", req,
            NULL);
  else if (token)
    pc_send(c, "AUTH", NULL, "token", token, "req", req, NULL);
  else
    pc_send(c, "AUTH", NULL, "device", device, "req", req, NULL);
  return req;
}

/* Waits until `ms` have passed since `since` (local clock). */
static void wait_until(uint64_t since, uint64_t ms)
{
  uint64_t now = pc_now_ms();

  if (now < since + ms)
    pc_sleep_ms((unsigned)(since + ms - now));
}

/* A token of account u living at most 1000 ms, and already expired when
 * this returns: its lifetime ran from before the answer came. */
static const char *expired_token(pc_ctx *t, int u)
{
  const char *tok = pc_token_fresh(t, u, 1000);
  uint64_t got = pc_now_ms();

  pc_note(t, "waiting 1000 ms for a token of 1000 ms to expire");
  wait_until(got, 1000 + 50);
  return tok;
}

static void valid_token(pc_ctx *t)
{
  int u = ca_acct(t, 0);
  uint64_t expires;
  const char *tok = ca_token_req(t, u, 0, &expires);
  const char *device = pc_uniq(t, "d");
  const pc_frame *r;

  ca_ready(t, u, tok, device, 0, &r);
  PC_CHECK(t, pc_hdr_is(r, "user", pc_user(t, u)),
           "READY names user %s, the token's is %s",
           pc_hdr_show(r, "user"), pc_user(t, u));
  PC_CHECK(t, pc_hdr_is(r, "device", device),
           "READY names device %s, the AUTH's was %s",
           pc_hdr_show(r, "device"), device);
  PC_CHECK(t, pc_hdr_u64(t, r, "expires") == expires,
           "READY says expires %s, the token answer said %llu",
           pc_hdr_show(r, "expires"), (unsigned long long)expires);
}

/* HELLO, AUTH and PING in one go: WELCOME, READY and PONG in order. */
static void pipelined(pc_ctx *t)
{
  int u = ca_acct(t, 1);
  pc_conn *c = pc_ws_open(t, pc_user(t, u), NULL);
  const char *want[] = {"WELCOME", "READY", "PONG"};
  size_t got = 0;

  pc_send(c, "HELLO", NULL, "versions", "1", "caps", "", "heartbeat",
          "30000", "req", "h", NULL);
  pc_send(c, "AUTH", NULL, "token", pc_token(t, u), "device",
          pc_uniq(t, "d"), "req", "a", NULL);
  pc_send(c, "PING", NULL, "nonce", "p", "req", "p", NULL);
  while (got < PC_COUNT(want)) {
    const pc_frame *f = pc_recv(c, PC_WAIT);

    PC_CHECK(t, f, "after %s, no %s came", got ? want[got - 1] : "nothing",
             want[got]);
    if (strcmp(f->verb, "MSG") == 0 || strcmp(f->verb, "RECEIPT") == 0)
      continue; /* live events of the user's conversations */
    PC_CHECK(t, strcmp(f->verb, want[got]) == 0, "answer %zu to HELLO, AUTH"
             " and PING sent at once was %s, not %s", got + 1, f->verb,
             want[got]);
    got++;
  }
}

static void bad_token(pc_ctx *t)
{
  const char *good = pc_token(t, ca_acct(t, 2));
  const char *toks[] = {
    forged(t, good), "garbage", "pt1.x.y", "", "pt1.a b",
    pc_printf(t, "pt2%s", strncmp(good, "pt1", 3) == 0 ? good + 3 : good),
    pc_printf(t, "%s%s", good, ca_fill(t, 'A', 513)),
  };

  for (size_t i = 0; i < PC_COUNT(toks); i++) {
    pc_conn *c = ca_negotiated(t, pc_printf(t, "neg-%zu", i), 0, NULL);
    const char *req;

    pc_note(t, "AUTH with token %.60s%s", toks[i],
            strlen(toks[i]) > 60 ? "..." : "");
    req = auth(t, c, toks[i], pc_uniq(t, "d"));
    pc_send(c, "PING", NULL, "nonce", "after", NULL);
    ca_fatal(t, c, "auth-failed", req);
  }
}

static void bad_token_in_ready(pc_ctx *t)
{
  int u = ca_acct(t, 3);
  const char *device = pc_uniq(t, "d");
  pc_conn *c = ca_ready(t, u, NULL, device, 0, NULL);
  const char *req = auth(t, c, forged(t, pc_token(t, u)), device);

  pc_send(c, "PING", NULL, "nonce", "after", NULL);
  ca_fatal(t, c, "auth-failed", req);
}

static void expired(pc_ctx *t)
{
  int u = ca_acct(t, 4);
  const char *device = pc_uniq(t, "d");
  pc_conn *ready = ca_ready(t, u, NULL, device, 0, NULL);
  const char *tok = expired_token(t, u);
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *req = auth(t, c, tok, pc_uniq(t, "d"));

  pc_send(c, "PING", NULL, "nonce", "after", NULL);
  ca_fatal(t, c, "token-expired", req);
  pc_note(t, "an expired token in a fresh AUTH of a READY session");
  req = auth(t, ready, tok, device);
  pc_send(ready, "PING", NULL, "nonce", "after", NULL);
  ca_fatal(t, ready, "token-expired", req);
}

static void close_code_1008(pc_ctx *t)
{
  int u = ca_acct(t, 5);
  pc_conn *c = ca_negotiated(t, "neg-1", 0, NULL);
  const char *req = auth(t, c, forged(t, pc_token(t, u)), pc_uniq(t, "d"));
  int code = ca_fatal(t, c, "auth-failed", req);
  const char *tok;

  PC_CHECK(t, code == 1008, "the server closed with %d after auth-failed, "
           "not 1008", code);
  tok = expired_token(t, u);
  c = ca_negotiated(t, "neg-2", 0, NULL);
  req = auth(t, c, tok, pc_uniq(t, "d"));
  code = ca_fatal(t, c, "token-expired", req);
  PC_CHECK(t, code == 1008, "the server closed with %d after "
           "token-expired, not 1008", code);
}

static void expires_in_ready(pc_ctx *t)
{
  int u = ca_acct(t, 6);
  const char *tok = pc_token_fresh(t, u, 1000);
  pc_conn *c = ca_ready(t, u, tok, NULL, 0, NULL);
  const pc_frame *f;

  ca_still_ready(t, c);
  pc_note(t, "waiting for the token of 1000 ms to expire");
  f = pc_expect_error(c, "token-expired", 1, NULL, 1000 + pc_wait_ms(t));
  PC_CHECK(t, !pc_hdr(f, "req"), "the token-expired of an expiry carries "
           "req %s, which no request of the client had", pc_hdr_show(f, "req"));
  pc_expect_close(c, PC_WAIT);
}

static void fresh_auth_keeps_session(pc_ctx *t)
{
  int u = ca_acct(t, 7);
  const char *device = pc_uniq(t, "d");
  const char *second = pc_token(t, u); /* the run's: lives longer */
  const char *first = pc_token_fresh(t, u, 2000);
  uint64_t got = pc_now_ms();
  const pc_frame *r;
  pc_conn *c = ca_ready(t, u, first, device, 0, &r);
  uint64_t e1 = pc_hdr_u64(t, r, "expires"), e2, wait;
  const char *req = auth(t, c, second, device);

  r = pc_expect_req(c, req, PC_WAIT);
  PC_CHECK(t, strcmp(r->verb, "READY") == 0, "a fresh AUTH for the same "
           "user and device was answered with %s, not READY", r->verb);
  e2 = pc_hdr_u64(t, r, "expires");
  PC_CHECK(t, e2 > e1, "the fresh AUTH's READY says expires %llu, not the "
           "new token's (the first one expired at %llu)",
           (unsigned long long)e2, (unsigned long long)e1);
  PC_CHECK(t, pc_hdr_is(r, "device", device) &&
              pc_hdr_is(r, "user", pc_user(t, u)),
           "the fresh READY names another user or "
           "device");
  wait = got + 2000 + 200 > pc_now_ms() ? got + 2000 + 200 - pc_now_ms() : 1;
  pc_note(t, "waiting %llu ms, past the first token's expiry",
          (unsigned long long)wait);
  pc_expect_none(c, "ERROR", (unsigned)wait);
  ca_still_ready(t, c);
  ca_pong(t, c);
}

static void fresh_auth_other(pc_ctx *t)
{
  int u = ca_acct(t, 8), v = ca_acct(t, 9);
  const char *device = pc_uniq(t, "d");
  pc_conn *c = ca_ready(t, u, NULL, device, 0, NULL);
  const char *req;

  pc_note(t, "a fresh AUTH for the same user, another device");
  req = auth(t, c, pc_token(t, u), pc_uniq(t, "d"));
  pc_send(c, "PING", NULL, "nonce", "after", NULL);
  ca_fatal(t, c, "bad-state", req);
  if (v == u)
    v = ca_acct(t, 10);
  PC_CHECK(t, v != u, "the case needs 2 accounts");
  c = ca_ready(t, u, NULL, device, 0, NULL);
  pc_note(t, "a fresh AUTH for another user, the same device");
  req = auth(t, c, pc_token(t, v), device);
  pc_send(c, "PING", NULL, "nonce", "after", NULL);
  ca_fatal(t, c, "bad-state", req);
}

/* AUTH missing a header or with a bad device, in NEGOTIATED and READY:
 * not fatal, and the state stays. */
static void bad_auth_headers(pc_ctx *t)
{
  int u = ca_acct(t, 11);
  const char *tok = pc_token(t, u);
  struct { const char *token, *device, *reason, *names; } s[] = {
    {NULL, "d1", "missing-header", "token"},
    {tok, NULL, "missing-header", "device"},
    {tok, "", "bad-value", "device"},
    {tok, "a.b", "bad-value", "device"},
    {tok, "a b", "bad-value", "device"},
    {tok, "d\xC3\xA9", "bad-value", "device"},
    {tok, ca_fill(t, 'd', 65), "bad-value", "device"},
  };
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const pc_frame *f;
  const char *req;

  for (int ready = 0; ready < 2; ready++) {
    for (size_t i = 0; i < PC_COUNT(s); i++) {
      pc_note(t, "AUTH with token %s and device %s", s[i].token ? "valid"
              : "(none)", s[i].device ? s[i].device : "(none)");
      req = auth(t, c, s[i].token, s[i].device);
      f = pc_expect_req(c, req, PC_WAIT);
      ca_is_error(t, f, s[i].reason, 0, req);
      ca_body_names(t, f, s[i].names);
    }
    if (ready) {
      ca_still_ready(t, c);
      break;
    }
    req = auth(t, c, tok, pc_uniq(t, "d"));
    f = pc_expect_req(c, req, PC_WAIT);
    PC_CHECK(t, strcmp(f->verb, "READY") == 0, "a valid AUTH after refused"
             " ones was answered with %s, not READY", f->verb);
  }
}

static void device_syntax(pc_ctx *t)
{
  int u = ca_acct(t, 12);
  const char *devices[] = {ca_fill(t, 'D', 64), "a_B-9", "0", "-", "_"};

  for (size_t i = 0; i < PC_COUNT(devices); i++) {
    const pc_frame *r;

    ca_ready(t, u, NULL, devices[i], 0, &r);
    PC_CHECK(t, pc_hdr_is(r, "device", devices[i]),
             "READY names device %s, the AUTH's was %s",
             pc_hdr_show(r, "device"),
             devices[i]);
  }
}

static void requests_before_ready(pc_ctx *t)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *r[6];

  for (size_t i = 0; i < PC_COUNT(r); i++)
    r[i] = ca_req(t);
  pc_send(c, "SEND", "hello", "conv", "c1", "temp-id", "t1", "req", r[0],
          NULL);
  pc_send(c, "RECEIPT", NULL, "conv", "c1", "kind", "read", "seq", "1",
          "req", r[1], NULL);
  pc_send(c, "SYNC", NULL, "since", "0", "req", r[2], NULL);
  pc_send(c, "HISTORY", NULL, "conv", "c1", "req", r[3], NULL);
  pc_send(c, "TYPING", NULL, "conv", "c1", "state", "on", "req", r[4],
          NULL);
  pc_send(c, "PRESENCE", NULL, "status", "online", "req", r[5], NULL);
  for (size_t i = 0; i < PC_COUNT(r); i++) {
    const pc_frame *f = pc_recv(c, PC_WAIT);

    PC_CHECK(t, f, "request %zu of 6 before READY got no answer", i + 1);
    ca_is_error(t, f, "auth-required", 0, r[i]);
  }
  ca_pong_next(t, c);
}

static const pc_case cases[] = {
  {"auth.valid-token",
   "A valid token gets READY naming the token's user, the AUTH's device "
   "and the token's expiry.", "AUTH-1 REQ-1", PC_MUST, NULL, valid_token},
  {"auth.pipelined",
   "HELLO, AUTH and PING sent at once are answered in order: WELCOME, "
   "READY, PONG.", "LIFE-5 AUTH-1", PC_MUST, NULL, pipelined},
  {"auth.bad-token",
   "A forged, malformed, empty, oversized or foreign-prefix token gets "
   "auth-failed, fatal.", "AUTH-1 SEC-7 ERR-4", PC_MUST, NULL, bad_token},
  {"auth.bad-token-in-ready",
   "A fresh AUTH with a forged token in READY gets auth-failed, fatal.",
   "AUTH-1 SEC-7 ERR-4", PC_MUST, NULL, bad_token_in_ready},
  {"auth.expired-token",
   "An expired token gets token-expired, fatal, in NEGOTIATED and in a "
   "fresh AUTH in READY.", "AUTH-1 SEC-7 ERR-4 HTTP-12", PC_MUST, NULL,
   expired},
  {"auth.close-code-1008",
   "The server closes with WebSocket status 1008 after auth-failed and "
   "token-expired.", "LIFE-7", PC_SHOULD, NULL, close_code_1008},
  {"auth.expires-in-ready",
   "When a READY session's token expires the server sends token-expired, "
   "fatal, and closes.", "AUTH-3 HTTP-12", PC_MUST, NULL, expires_in_ready},
  {"auth.fresh-auth-keeps-session",
   "A fresh AUTH for the same user and device before expiry gets READY "
   "with the new expires, and the session outlives the old token.",
   "AUTH-3 AUTH-4", PC_MUST, NULL, fresh_auth_keeps_session},
  {"auth.fresh-auth-other",
   "A fresh AUTH for another device or another user gets bad-state, "
   "fatal.", "AUTH-4 ERR-4", PC_MUST, NULL, fresh_auth_other},
  {"auth.bad-auth-headers",
   "An AUTH missing token or device, or with a bad device, gets "
   "missing-header or bad-value naming it, and the state stays.",
   "FRAME-11 ERR-2", PC_MUST, NULL, bad_auth_headers},
  {"auth.device-syntax",
   "Any device id of 1 to 64 characters from [A-Za-z0-9_-] is taken and "
   "named in READY.", "AUTH-1", PC_MUST, NULL, device_syntax},
  {"auth.requests-before-ready",
   "SEND, RECEIPT, SYNC, HISTORY, TYPING and PRESENCE before READY get "
   "auth-required, not fatal.", "AUTH-2 ERR-2", PC_MUST, NULL,
   requests_before_ready},
};

const pc_suite pc_suite_auth = {"auth", false, cases, PC_COUNT(cases)};
