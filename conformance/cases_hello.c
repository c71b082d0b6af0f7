/* Conformance cases: hello. The session's life cycle as the server runs
 * it (spec section 4, 4.2 row by row where a client can observe the row,
 * and 16.1): HELLO and WELCOME, version and capability negotiation, the
 * heartbeat proposal, what each state does with each kind of frame,
 * unknown headers and verbs, BYE, the close codes and the 10 s bound on
 * reaching READY. */
#include <stdio.h>
#include <string.h>

#include "ca_util.h"

/* Sends HELLO on a new connection with the given values (NULL: header
 * left out) and returns the answer to it. */
static const pc_frame *hello_on(pc_ctx *t, pc_conn *c, const char *versions,
                                const char *caps, const char *heartbeat,
                                const char **req_out)
{
  const char *req = ca_req(t);
  const char *v[6] = {NULL};
  size_t n = 0;

  if (versions) {
    v[n++] = "versions";
    v[n++] = versions;
  }
  if (heartbeat) {
    v[n++] = "heartbeat";
    v[n++] = heartbeat;
  }
  if (caps) {
    v[n++] = "caps";
    v[n++] = caps;
  }
  pc_send(c, "HELLO", NULL, "req", req, v[0], v[1], v[2], v[3], v[4], v[5],
          NULL);
  if (req_out)
    *req_out = req;
  return pc_expect_req(c, req, PC_WAIT);
}

/* Fails unless f is a WELCOME. */
static void is_welcome(pc_ctx *t, const pc_frame *f, const char *what)
{
  PC_CHECK(t, strcmp(f->verb, "WELCOME") == 0, "%s was answered with %s %s,"
           " not WELCOME", what, f->verb,
           pc_hdr_show(f, "reason"));
}

/* The versions GET /v1/config lists. */
static json_t *config_versions(pc_ctx *t)
{
  pc_http *r = pc_http_request(t, "GET", "/v1/config", NULL, NULL, NULL, 0);
  json_t *v;

  pc_http_expect(t, r, 200, NULL);
  v = r->json ? json_object_get(r->json, "versions") : NULL;
  PC_CHECK(t, json_is_array(v), "GET /v1/config has no versions array");
  return v;
}

static bool speaks(json_t *versions, json_int_t v)
{
  size_t i;
  json_t *x;

  json_array_foreach(versions, i, x)
    if (json_is_integer(x) && json_integer_value(x) == v)
      return true;
  return false;
}

/* ---- WELCOME ------------------------------------------------------------- */

static void welcome_headers(pc_ctx *t)
{
  const pc_config *cfg = pc_config_of(t);
  pc_conn *c = pc_ws_open(t, "neg", NULL);
  const char *req;
  const pc_frame *w = hello_on(t, c, "1", "receipts,typing,presence",
                               "30000", &req);
  uint64_t hb, frame, body;

  is_welcome(t, w, "HELLO");
  PC_CHECK(t, pc_hdr_u64(t, w, "version") == 1, "WELCOME names version "
           "%s, the client offered only 1", pc_hdr_show(w, "version"));
  PC_CHECK(t, pc_hdr(w, "caps"), "WELCOME carries no caps");
  hb = pc_hdr_u64(t, w, "heartbeat");
  frame = pc_hdr_u64(t, w, "max-frame");
  body = pc_hdr_u64(t, w, "max-body");
  PC_CHECK(t, frame == cfg->max_frame && pc_hdr_u64(t, w, "max-headers") ==
              cfg->max_headers && pc_hdr_u64(t, w, "max-header-line") ==
              cfg->max_header_line && body == cfg->max_body,
           "WELCOME's limits differ from GET /v1/config's");
  PC_CHECK(t, frame <= 65536 && cfg->max_headers <= 32 &&
              cfg->max_header_line <= 1024,
           "a stated frame limit is larger than the table's (LIM-1)");
  PC_CHECK(t, body + 1024 <= frame, "max-body %llu leaves no room for the "
           "headers of a MSG within max-frame %llu (SEND-10)",
           (unsigned long long)body, (unsigned long long)frame);
  PC_CHECK(t, pc_hdr_u64(t, w, "rate") == cfg->rate_per_s &&
              pc_hdr_u64(t, w, "rate-burst") == cfg->rate_burst,
           "WELCOME's rate and rate-burst differ from rate_per_s and "
           "rate_burst of GET /v1/config (RATE-3)");
  PC_CHECK(t, cfg->rate_per_s >= 1 && cfg->rate_burst >= 1,
           "rate and rate-burst must be numbers from 1 up");
  PC_CHECK(t, pc_hdr_u64(t, w, "dedup-window") == cfg->dedup_window_ms &&
              pc_hdr_u64(t, w, "typing-ttl") == cfg->typing_ttl_ms,
           "WELCOME's dedup-window or typing-ttl differ from GET "
           "/v1/config");
  PC_CHECK(t, cfg->dedup_window_ms >= 86400000, "dedup-window %llu is less "
           "than 24 hours", (unsigned long long)cfg->dedup_window_ms);
  PC_CHECK(t, hb >= cfg->heartbeat_min_ms && hb <= cfg->heartbeat_max_ms,
           "WELCOME's heartbeat %llu is outside the server's bounds",
           (unsigned long long)hb);
  PC_CHECK(t, (30000 < cfg->heartbeat_min_ms && hb == cfg->heartbeat_min_ms)
              || (30000 > cfg->heartbeat_max_ms &&
                  hb == cfg->heartbeat_max_ms) || hb == 30000,
           "a proposal of 30000 ms became %llu, not 30000 clamped to the "
           "bounds", (unsigned long long)hb);
  PC_CHECK(t, pc_hdr_is(w, "req", req),
           "WELCOME does not carry the HELLO's req");
}

static void version_highest(pc_ctx *t)
{
  json_t *mine = config_versions(t);
  const json_int_t offered[] = {4242, 1, 9999};
  json_int_t want = 0;
  pc_conn *c = pc_ws_open(t, "neg", NULL);
  const pc_frame *w;

  for (size_t i = 0; i < PC_COUNT(offered); i++)
    if (speaks(mine, offered[i]) && offered[i] > want)
      want = offered[i];
  PC_CHECK(t, want, "GET /v1/config does not list version 1");
  w = hello_on(t, c, "4242,1,9999", "", "30000", NULL);
  is_welcome(t, w, "HELLO with versions 4242,1,9999");
  PC_CHECK(t, pc_hdr_u64(t, w, "version") == (uint64_t)want,
           "WELCOME names version %s; the highest both list is %lld",
           pc_hdr_show(w, "version"), (long long)want);
}

static void unsupported_version(pc_ctx *t)
{
  json_t *mine = config_versions(t);
  json_int_t a = 7001, b;
  pc_conn *c = pc_ws_open(t, "neg", NULL);
  const char *req = ca_req(t);

  while (speaks(mine, a))
    a += 2;
  b = a + 1;
  while (speaks(mine, b))
    b += 2;
  pc_send(c, "HELLO", NULL, "versions", pc_printf(t, "%lld,%lld",
          (long long)a, (long long)b), "heartbeat", "30000", "req", req,
          NULL);
  pc_send(c, "PING", NULL, "nonce", "after", NULL);
  ca_fatal(t, c, "unsupported-version", req);
}

static void unknown_capability(pc_ctx *t)
{
  pc_conn *c = pc_ws_open(t, "neg-1", NULL);
  const pc_frame *w = hello_on(t, c, "1", "x-fancy,receipts,zzz-new,typing",
                               "30000", NULL);
  const char *caps;
  char *copy, *save = NULL;

  is_welcome(t, w, "HELLO with unknown capabilities");
  caps = pc_hdr(w, "caps");
  PC_CHECK(t, caps, "WELCOME carries no caps");
  copy = pc_strdup(t, caps);
  for (char *cap = strtok_r(copy, ",", &save); cap;
       cap = strtok_r(NULL, ",", &save))
    PC_CHECK(t, strcmp(cap, "receipts") == 0 || strcmp(cap, "typing") == 0,
             "WELCOME lists capability %s, which is unknown or was not "
             "offered", cap);
  c = pc_ws_open(t, "neg-2", NULL);
  w = hello_on(t, c, "1", "zzz-new", "30000", NULL);
  is_welcome(t, w, "HELLO with only an unknown capability");
  PC_CHECK(t, pc_hdr(w, "caps") && pc_hdr(w, "caps")[0] == '\0',
           "WELCOME lists caps \"%s\" when the client offered none the "
           "server knows", pc_hdr_show(w, "caps"));
}

static void caps_optional(pc_ctx *t)
{
  pc_conn *c = pc_ws_open(t, "neg", NULL);
  const pc_frame *w = hello_on(t, c, "1", NULL, "30000", NULL);

  is_welcome(t, w, "HELLO without caps");
  PC_CHECK(t, !pc_hdr(w, "caps") || pc_hdr(w, "caps")[0] == '\0',
           "WELCOME lists caps \"%s\" for a HELLO that offered none",
           pc_hdr_show(w, "caps"));
}

/* The interval the server must choose for a proposal: `p` (0 standing
 * for anything past max) clamped to the bounds. */
static void heartbeat_clamped(pc_ctx *t)
{
  const pc_config *cfg = pc_config_of(t);
  uint64_t lo = cfg->heartbeat_min_ms, hi = cfg->heartbeat_max_ms;
  struct { const char *p; uint64_t want; } s[] = {
    {"0", lo}, {"1", lo}, {pc_printf(t, "%llu", (unsigned long long)lo),
    lo}, {pc_printf(t, "%llu", (unsigned long long)(lo + hi) / 2),
    (lo + hi) / 2}, {pc_printf(t, "%llu", (unsigned long long)hi), hi},
    {pc_printf(t, "%llu", (unsigned long long)hi + 1), hi},
    {"18446744073709551615", hi}, {"18446744073709551616", hi},
    {"1000000000000000000000000000000000000000", hi},
  };

  for (size_t i = 0; i < PC_COUNT(s); i++) {
    pc_conn *c = pc_ws_open(t, pc_printf(t, "neg-%zu", i), NULL);
    const pc_frame *w = hello_on(t, c, "1", "", s[i].p, NULL);

    is_welcome(t, w, pc_printf(t, "HELLO with heartbeat %s", s[i].p));
    PC_CHECK(t, pc_hdr_u64(t, w, "heartbeat") == s[i].want,
             "heartbeat %s became %s, not %llu (the proposal within the "
             "bounds %llu to %llu)", s[i].p, pc_hdr_show(w, "heartbeat"),
             (unsigned long long)s[i].want, (unsigned long long)lo,
             (unsigned long long)hi);
    pc_close(c, 1000);
  }
}

static void bad_hello_stays_open(pc_ctx *t)
{
  struct { const char *v, *caps, *hb, *reason, *names; } s[] = {
    {NULL, "", "30000", "missing-header", "versions"},
    {"1", "", NULL, "missing-header", "heartbeat"},
    {"1", "", "01", "bad-value", "heartbeat"},
    {"1", "", "-5", "bad-value", "heartbeat"},
    {"1", "", "", "bad-value", "heartbeat"},
    {"1", "", "1e3", "bad-value", "heartbeat"},
    {"", "", "30000", "bad-value", "versions"},
    {"1,", "", "30000", "bad-value", "versions"},
    {"01", "", "30000", "bad-value", "versions"},
    {"1 2", "", "30000", "bad-value", "versions"},
    {"1", "Receipts", "30000", "bad-value", "caps"},
    {"1", "receipts,,typing", "30000", "bad-value", "caps"},
    {"1", ",receipts", "30000", "bad-value", "caps"},
  };
  pc_conn *c = pc_ws_open(t, "open", NULL);
  const pc_frame *f;
  const char *req;

  for (size_t i = 0; i < PC_COUNT(s); i++) {
    pc_note(t, "HELLO with versions %s, caps %s, heartbeat %s",
            s[i].v ? s[i].v : "(none)", s[i].caps, s[i].hb ? s[i].hb
            : "(none)");
    f = hello_on(t, c, s[i].v, s[i].caps, s[i].hb, &req);
    ca_is_error(t, f, s[i].reason, 0, req);
    ca_body_names(t, f, s[i].names);
  }
  f = hello_on(t, c, "1", "", "30000", NULL);
  is_welcome(t, f, "a correct HELLO after refused ones (the session stays "
             "in OPEN)");
}

static void hello_after_welcome(pc_ctx *t)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *req = ca_req(t);

  pc_send(c, "HELLO", NULL, "versions", "1", "heartbeat", "30000", "req",
          req, NULL);
  pc_send(c, "PING", NULL, "nonce", "after", NULL);
  ca_fatal(t, c, "bad-state", req);
  pc_note(t, "a HELLO without versions after WELCOME");
  c = ca_negotiated(t, "neg-2", 0, NULL);
  req = ca_req(t);
  pc_send(c, "HELLO", NULL, "heartbeat", "30000", "req", req, NULL);
  ca_fatal(t, c, "bad-state", req);
  pc_note(t, "a HELLO sharing no version after WELCOME");
  c = ca_negotiated(t, "neg-3", 0, NULL);
  req = ca_req(t);
  pc_send(c, "HELLO", NULL, "versions", "4000000", "heartbeat", "30000",
          "req", req, NULL);
  ca_fatal(t, c, "bad-state", req);
  c = ca_ready(t, ca_acct(t, 2), NULL, NULL, 0, NULL);
  req = ca_req(t);
  pc_note(t, "HELLO in READY");
  pc_send(c, "HELLO", NULL, "versions", "1", "heartbeat", "30000", "req",
          req, NULL);
  pc_send(c, "PING", NULL, "nonce", "after", NULL);
  ca_fatal(t, c, "bad-state", req);
}

/* ---- OPEN: the first frame ----------------------------------------------- */

static void first_frame_not_hello(pc_ctx *t)
{
  int u = ca_acct(t, 3);
  struct { const char *verb, *n1, *v1, *n2, *v2; } s[] = {
    {"PING", "nonce", "n1", NULL, NULL},
    {"AUTH", "token", pc_token(t, u), "device", pc_uniq(t, "d")},
    {"BYE", NULL, NULL, NULL, NULL},
    {"ERROR", "code", "400", "reason", "bad-start-line"},
    {"SEND", "conv", "c1", "temp-id", "t1"},
    {"SYNC", NULL, NULL, NULL, NULL},
    {"XFROB", NULL, NULL, NULL, NULL},
    {"WELCOME", "version", "1", NULL, NULL},
    {"PONG", NULL, NULL, NULL, NULL},
  };

  for (size_t i = 0; i < PC_COUNT(s); i++) {
    pc_conn *c = pc_ws_open(t, pc_printf(t, "open-%zu", i), NULL);
    const char *req = ca_req(t);

    pc_note(t, "%s as the first frame", s[i].verb);
    pc_send(c, s[i].verb, NULL, "req", req, s[i].n1, s[i].v1, s[i].n2,
            s[i].v2, NULL);
    ca_fatal(t, c, "bad-state", req);
  }
}

static void malformed_in_open(pc_ctx *t)
{
  pc_conn *c = pc_ws_open(t, "open", NULL);
  const pc_frame *w;

  pc_send_text(c, "send\r\n\r\n", 8);
  ca_frame_error(t, c, "bad-start-line", NULL);
  pc_send_binary(c, "HELLO\r\n\r\n", 9);
  ca_frame_error(t, c, "binary-message", NULL);
  pc_send_text(c, "HELLO\r\nversions: 1\r\n", 20);
  ca_frame_error(t, c, "truncated-frame", NULL);
  w = hello_on(t, c, "1", "", "30000", NULL);
  is_welcome(t, w, "HELLO after malformed messages in OPEN");
}

/* ---- unknown headers and verbs ------------------------------------------- */

static void unknown_headers_ignored(pc_ctx *t)
{
  int u = ca_acct(t, 4);
  pc_conn *c = pc_ws_open(t, pc_user(t, u), NULL);
  const char *hreq = ca_req(t), *areq = ca_req(t), *preq = ca_req(t);
  const char *device = pc_uniq(t, "d");
  const pc_frame *f;

  pc_send(c, "HELLO", NULL, "x-custom", "1", "versions", "1",
          "future-header", "yes", "heartbeat", "30000", "device", "d1",
          "seq", "7", "req", hreq, NULL);
  pc_send(c, "AUTH", NULL, "token", pc_token(t, u), "zzz", "a b",
          "device", device, "since", "5", "conv", "c1", "req", areq, NULL);
  f = pc_expect_req(c, hreq, PC_WAIT);
  is_welcome(t, f, "HELLO with unknown headers and headers of other verbs");
  f = pc_expect_req(c, areq, PC_WAIT);
  PC_CHECK(t, strcmp(f->verb, "READY") == 0, "AUTH with unknown headers "
           "was answered with %s, not READY", f->verb);
  pc_send(c, "PING", NULL, "nonce", "n1", "x-trace", "abc", "seq", "3",
          "kind", "read", "req", preq, NULL);
  f = pc_expect_req(c, preq, PC_WAIT);
  PC_CHECK(t, strcmp(f->verb, "PONG") == 0 && pc_hdr(f, "nonce") &&
              pc_hdr_is(f, "nonce", "n1"),
           "PING with unknown headers was answered with %s, not its PONG",
           f->verb);
}

static void negotiated_unknown_verb(pc_ctx *t)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *verbs[] = {"XFROB", "FROB-2", "SUBSCRIBE"};

  for (size_t i = 0; i < PC_COUNT(verbs); i++) {
    const char *req = ca_req(t);

    pc_send(c, verbs[i], NULL, "req", req, NULL);
    pc_expect_error(c, "auth-required", 0, req, PC_WAIT);
    ca_pong_next(t, c);
  }
}

static void negotiated_server_verbs(pc_ctx *t)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *verbs[] = {"WELCOME", "READY", "PONG", "ACK", "OK", "MSG",
                         "SYNCED", "PAGE"};

  for (size_t i = 0; i < PC_COUNT(verbs); i++) {
    const char *req = ca_req(t);

    pc_note(t, "%s from the client before READY", verbs[i]);
    pc_send(c, verbs[i], NULL, "req", req, NULL);
    pc_expect_error(c, "auth-required", 0, req, PC_WAIT);
  }
  pc_note(t, "ERROR from the client before READY: ignored");
  pc_send(c, "ERROR", NULL, "code", "500", "reason", "internal", "fatal",
          "yes", NULL);
  ca_pong_next(t, c);
}

static void ready_unknown_verb(pc_ctx *t)
{
  pc_conn *c = ca_ready(t, ca_acct(t, 5), NULL, NULL, 0, NULL);
  const char *req = ca_req(t);

  pc_send(c, "XFROB", NULL, "req", req, NULL);
  pc_expect_error(c, "unknown-verb", 0, req, PC_WAIT);
  req = ca_req(t);
  pc_send(c, "FROB-2", "a body", "x-a", "1", "req", req, NULL);
  pc_expect_error(c, "unknown-verb", 0, req, PC_WAIT);
  ca_still_ready(t, c);
}

static void ready_server_verbs(pc_ctx *t)
{
  const char *verbs[] = {"WELCOME", "READY", "PONG", "ACK", "OK", "MSG",
                         "SYNCED", "PAGE"};

  for (size_t i = 0; i < PC_COUNT(verbs); i++) {
    pc_conn *c = ca_ready(t, ca_acct(t, 6 + (int)i), NULL, NULL, 0, NULL);
    const char *req = ca_req(t);

    pc_note(t, "%s from the client in READY", verbs[i]);
    pc_send(c, verbs[i], NULL, "req", req, NULL);
    pc_send(c, "PING", NULL, "nonce", "after", NULL);
    ca_fatal(t, c, "bad-state", req);
  }
}

static void ready_error_ignored(pc_ctx *t)
{
  pc_conn *c = ca_ready(t, ca_acct(t, 7), NULL, NULL, 0, NULL);
  const char *req = ca_req(t);
  const pc_frame *f;

  pc_send(c, "ERROR", NULL, "code", "500", "reason", "internal", "fatal",
          "yes", "req", req, NULL);
  ca_pong(t, c);
  ca_still_ready(t, c);
  while ((f = pc_recv(c, 1)) != NULL)
    PC_CHECK(t, strcmp(f->verb, "ERROR") != 0, "an ERROR from the client "
             "was answered with ERROR %s", pc_hdr_show(f, "reason"));
}

/* Fails unless f carries no req (REQ-3: a req that breaks its form is
 * never copied). */
static void no_req(pc_ctx *t, const pc_frame *f)
{
  PC_CHECK(t, !pc_hdr(f, "req"), "ERROR %s copies the malformed req %s",
           pc_hdr_show(f, "reason"), pc_hdr_show(f, "req"));
}

static void bad_req(pc_ctx *t)
{
  const char *bad[] = {"r!x", ca_fill(t, 'r', 65), ""};
  pc_conn *c = pc_ws_open(t, "open", NULL);
  const pc_frame *f;

  pc_send(c, "PING", NULL, "req", bad[0], NULL);
  f = pc_expect_error(c, "bad-state", 1, NULL, PC_WAIT);
  no_req(t, f);
  pc_expect_close(c, PC_WAIT);
  c = ca_negotiated(t, "neg", 0, NULL);
  pc_send(c, "SEND", "x", "conv", "c1", "temp-id", "t1", "req", bad[0],
          NULL);
  f = pc_recv(c, PC_WAIT);
  PC_CHECK(t, f, "SEND before READY got no answer");
  ca_is_error(t, f, "auth-required", 0, NULL);
  no_req(t, f);
  ca_pong_next(t, c);
  c = ca_ready(t, ca_acct(t, 9), NULL, NULL, 0, NULL);
  for (size_t i = 0; i < PC_COUNT(bad); i++) {
    pc_note(t, "PING in READY with req \"%.70s\"", bad[i]);
    pc_send(c, "PING", NULL, "nonce", "n", "req", bad[i], NULL);
    f = pc_expect_error(c, "bad-value", 0, NULL, PC_WAIT);
    no_req(t, f);
    ca_body_names(t, f, "req");
  }
  ca_still_ready(t, c);
}

/* ---- BYE and close codes ------------------------------------------------- */

/* Sends BYE and returns the close code after the server's BYE. */
static int bye(pc_ctx *t, pc_conn *c)
{
  const char *req = ca_req(t);
  const pc_frame *f;

  pc_send(c, "BYE", NULL, "req", req, NULL);
  f = pc_expect_req(c, req, PC_WAIT);
  PC_CHECK(t, strcmp(f->verb, "BYE") == 0, "BYE was answered with %s, not "
           "BYE", f->verb);
  return pc_expect_close(c, PC_WAIT);
}

static void bye_answered(pc_ctx *t)
{
  pc_note(t, "BYE in NEGOTIATED");
  bye(t, ca_negotiated(t, "neg", 0, NULL));
  pc_note(t, "BYE in READY");
  bye(t, ca_ready(t, ca_acct(t, 8), NULL, NULL, 0, NULL));
}

static void close_code_bye(pc_ctx *t)
{
  int code = bye(t, ca_negotiated(t, "neg", 0, NULL));

  PC_CHECK(t, code == 1000, "the server closed with %d after BYE, not 1000",
           code);
}

static void close_code_fatal(pc_ctx *t)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *req = ca_req(t);
  int code;

  pc_send(c, "HELLO", NULL, "versions", "1", "heartbeat", "30000", "req",
          req, NULL);
  code = ca_fatal(t, c, "bad-state", req);
  PC_CHECK(t, code == 1002, "the server closed with %d after bad-state, not "
           "1002", code);
  c = pc_ws_open(t, "open", NULL);
  req = ca_req(t);
  pc_send(c, "HELLO", NULL, "versions", "4000000", "heartbeat", "30000",
          "req", req, NULL);
  code = ca_fatal(t, c, "unsupported-version", req);
  PC_CHECK(t, code == 1002, "the server closed with %d after "
           "unsupported-version, not 1002", code);
}

/* ---- LIFE-3 -------------------------------------------------------------- */

/* LIFE-3: the time a server gives a session to reach READY, counted from
 * the opening of the transport; and how long the case stays silent in
 * OPEN before its HELLO, so that a server counting from HELLO instead
 * would close the session at 15 s. */
#define READY_WITHIN_MS 10000u
#define QUIET_IN_OPEN_MS 5000u

/* Stays silent in OPEN for QUIET_IN_OPEN_MS. Returns true when the
 * session is still open; false when the server ended it with ERROR
 * timeout meanwhile (which counts from the opening too). */
static bool quiet_in_open(pc_ctx *t, pc_conn *c)
{
  const pc_frame *f;

  pc_note(t, "nothing sent for %u ms after the transport opened",
          QUIET_IN_OPEN_MS);
  f = pc_recv(c, QUIET_IN_OPEN_MS);
  if (!f) {
    PC_CHECK(t, !pc_closed(c), "the session closed in OPEN without ERROR "
             "timeout");
    return true;
  }
  ca_is_error(t, f, "timeout", 1, NULL);
  pc_note(t, "the server ended the silent session in OPEN with timeout");
  pc_expect_close(c, PC_WAIT);
  return false;
}

/* A session that stays silent in OPEN for 5 s, then sends HELLO and
 * keeps sending PING (so the heartbeat never ends it) must still end 10 s
 * after the transport opened, not 10 s after its HELLO. */
static void ready_within_10s(pc_ctx *t)
{
  uint64_t start = pc_now_ms();
  pc_conn *c = pc_ws_open(t, "open", NULL);
  uint64_t deadline = start + READY_WITHIN_MS + pc_wait_ms(t), hb;
  const char *req = ca_req(t);
  const pc_frame *w, *f;
  unsigned step;

  if (!quiet_in_open(t, c))
    return;
  pc_send(c, "HELLO", NULL, "versions", "1", "caps", "", "heartbeat",
          pc_printf(t, "%llu", (unsigned long long)
                    pc_config_of(t)->heartbeat_max_ms), "req", req, NULL);
  w = pc_expect_req(c, req, PC_WAIT);
  PC_CHECK(t, strcmp(w->verb, "WELCOME") == 0, "HELLO after %u ms of "
           "silence was answered with %s %s, not WELCOME", QUIET_IN_OPEN_MS,
           w->verb, pc_hdr_show(w, "reason"));
  hb = pc_hdr_u64(t, w, "heartbeat");
  step = (unsigned)(hb / 2 < 1000 ? (hb / 2 ? hb / 2 : 1) : 1000);
  pc_note(t, "NEGOTIATED and PINGing: the 10 s run from the opening, not "
             "from HELLO");
  for (;;) {
    PC_CHECK(t, pc_now_ms() < deadline, "the session was not closed 10 s "
             "after the transport opened without reaching READY (it may "
             "count from HELLO, sent %u ms after the opening)",
             QUIET_IN_OPEN_MS);
    pc_send(c, "PING", NULL, "nonce", "keep", NULL);
    f = pc_recv(c, PC_WAIT);
    if (f && strcmp(f->verb, "PONG") == 0)
      f = pc_recv(c, step);
    if (f && strcmp(f->verb, "PONG") == 0)
      continue;
    if (!f && !pc_closed(c))
      continue;
    PC_CHECK(t, f, "the connection closed without ERROR timeout");
    break;
  }
  pc_note(t, "the session ended %llu ms after it opened",
          (unsigned long long)(pc_now_ms() - start));
  ca_is_error(t, f, "timeout", 1, NULL);
  pc_expect_close(c, PC_WAIT);
}

/* ---- req ------------------------------------------------------------------ */

/* A req of 64 characters, the most section 2.9 allows, using each of the
 * 64 characters an id may hold once, rotated by k. */
static const char *req_of_64(pc_ctx *t, size_t k)
{
  static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                              "qrstuvwxyz0123456789_-";
  char *r = pc_alloc(t, 65);

  for (size_t i = 0; i < 64; i++)
    r[i] = chars[(i + k) % 64];
  return r;
}

/* Fails unless f is `verb` carrying exactly `req`. */
static void carries_req(pc_ctx *t, const pc_frame *f, const char *verb,
                        const char *req, const char *what)
{
  PC_CHECK(t, strcmp(f->verb, verb) == 0, "%s with a req of 64 characters "
           "was answered with %s %s, not %s", what, f->verb,
           pc_hdr_show(f, "reason"), verb);
  PC_CHECK(t, pc_hdr_is(f, "req", req), "the %s answering %s carries req "
           "%s, not the 64 characters %s (REQ-1)", verb, what,
           pc_hdr_show(f, "req"), req);
}

/* spec: REQ-1 */
static void req_at_limit(pc_ctx *t)
{
  pc_conn *c = pc_ws_open(t, "open", NULL);
  const char *r[4];
  const pc_frame *f;

  for (size_t i = 0; i < PC_COUNT(r); i++)
    r[i] = req_of_64(t, 16 * i);
  pc_send(c, "HELLO", NULL, "versions", "1", "caps", "", "heartbeat",
          "60000", "req", r[0], NULL);
  f = pc_recv(c, PC_WAIT);
  PC_CHECK(t, f, "HELLO in OPEN got no answer");
  carries_req(t, f, "WELCOME", r[0], "HELLO in OPEN");
  pc_send(c, "AUTH", NULL, "token", pc_token(t, ca_acct(t, 9)), "device",
          pc_uniq(t, "d"), "req", r[1], NULL);
  f = pc_recv(c, PC_WAIT);
  PC_CHECK(t, f, "AUTH in NEGOTIATED got no answer");
  carries_req(t, f, "READY", r[1], "AUTH");
  pc_send(c, "PING", NULL, "req", r[2], NULL);
  carries_req(t, pc_expect(c, "PONG", NULL, NULL, PC_WAIT), "PONG", r[2],
              "PING in READY");
  pc_send(c, "XREQ", NULL, "req", r[3], NULL);
  f = pc_expect(c, "ERROR", NULL, NULL, PC_WAIT);
  ca_is_error(t, f, "unknown-verb", 0, r[3]);
}

static const pc_case cases[] = {
  {"hello.welcome-headers",
   "WELCOME answers HELLO with every header of section 4, its values those "
   "of GET /v1/config and within the limits.",
   "LIFE-2 RATE-3 LIM-1 REQ-1", PC_MUST, NULL, welcome_headers},
  {"hello.version-highest",
   "The server ignores versions it does not know and chooses the highest "
   "one both list.", "VER-1 VER-2 LIFE-2", PC_MUST, NULL, version_highest},
  {"hello.unsupported-version",
   "A HELLO sharing no version gets unsupported-version, fatal, and nothing "
   "after it is answered.", "LIFE-2 VER-2 ERR-4", PC_MUST, NULL,
   unsupported_version},
  {"hello.unknown-capability",
   "Unknown capabilities are ignored and never listed in WELCOME, nor are "
   "ones the client did not offer.", "EXT-2", PC_MUST, NULL,
   unknown_capability},
  {"hello.caps-optional",
   "A HELLO without caps gets WELCOME listing no capability.", "LIFE-2",
   PC_MUST, NULL, caps_optional},
  {"hello.heartbeat-clamped",
   "Any heartbeat proposal, 0 and past 2^64-1 included, is clamped to the "
   "server's bounds, never refused.", "LIFE-2 FRAME-11 HB-1", PC_MUST, NULL,
   heartbeat_clamped},
  {"hello.bad-hello-stays-open",
   "A HELLO missing a header or with a bad value gets missing-header or "
   "bad-value naming it, and a corrected HELLO then gets WELCOME.",
   "LIFE-2 FRAME-11 ERR-2", PC_MUST, NULL, bad_hello_stays_open},
  {"hello.hello-after-welcome",
   "A HELLO after WELCOME, in NEGOTIATED or READY, well-formed or not, "
   "gets bad-state, fatal.",
   "LIFE-4 ERR-4", PC_MUST, NULL, hello_after_welcome},
  {"hello.first-frame-not-hello",
   "Any first frame other than HELLO, of any verb, gets bad-state, fatal.",
   "LIFE-1 ERR-2 ERR-4", PC_MUST, NULL, first_frame_not_hello},
  {"hello.malformed-in-open",
   "A malformed or binary message before HELLO gets its error and leaves "
   "the session in OPEN.", "LIFE-1 WS-2 WS-3", PC_MUST, NULL,
   malformed_in_open},
  {"hello.unknown-headers-ignored",
   "Unknown headers and headers of other verbs are ignored in HELLO, AUTH "
   "and PING.", "EXT-1 EXT-5", PC_MUST, NULL, unknown_headers_ignored},
  {"hello.negotiated-unknown-verb",
   "Before READY an unknown verb gets auth-required, not fatal.",
   "AUTH-2 ERR-2", PC_MUST, NULL, negotiated_unknown_verb},
  {"hello.negotiated-server-verbs",
   "Before READY a verb only servers send gets auth-required, and an ERROR "
   "from the client is ignored.", "AUTH-2 LIFE-8", PC_MUST, NULL,
   negotiated_server_verbs},
  {"hello.ready-unknown-verb",
   "In READY an unknown verb gets unknown-verb, not fatal, and the session "
   "stays READY.", "EXT-3 ERR-2", PC_MUST, NULL, ready_unknown_verb},
  {"hello.ready-server-verbs",
   "In READY a verb only servers send gets bad-state, fatal.",
   "LIFE-8 ERR-4", PC_MUST, NULL, ready_server_verbs},
  {"hello.ready-error-ignored",
   "In READY an ERROR from the client, fatal or not, is ignored.",
   "LIFE-8", PC_MUST, NULL, ready_error_ignored},
  {"hello.bad-req",
   "A req that breaks its form is never copied: the state's error comes "
   "first, and in READY it gets bad-value naming req.", "REQ-3 ERR-2",
   PC_MUST, NULL, bad_req},
  {"hello.bye",
   "BYE in NEGOTIATED and in READY is answered with BYE carrying its req, "
   "then the server closes.", "LIFE-6 REQ-1", PC_MUST, NULL, bye_answered},
  {"hello.close-code-bye",
   "The server closes with WebSocket status 1000 after BYE.", "LIFE-7",
   PC_SHOULD, NULL, close_code_bye},
  {"hello.close-code-fatal",
   "The server closes with WebSocket status 1002 after bad-state and "
   "unsupported-version.", "LIFE-7", PC_SHOULD, NULL, close_code_fatal},
  {"hello.ready-within-10s",
   "A session that has not reached READY 10 s after the transport opened "
   "is closed with timeout, even while it sends PING, and even when its "
   "HELLO came 5 s after the opening.", "LIFE-3", PC_MUST, NULL,
   ready_within_10s},
  {"hello.req-at-limit",
   "A req of 64 characters (every character an id may hold) is copied "
   "octet for octet into WELCOME, READY, PONG and ERROR.", "REQ-1",
   PC_MUST, NULL, req_at_limit},
};

const pc_suite pc_suite_hello = {"hello", false, cases, PC_COUNT(cases)};
