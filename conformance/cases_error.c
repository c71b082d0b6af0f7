/* Conformance cases: error. One small case per code of the registry
 * (spec section 13) that a client can provoke, named after its reason:
 * the ERROR carries the registry's code, the reason and `fatal` as the
 * registry marks it (ERR-1, ERR-2), the `req` of a well-formed request,
 * and the session is left as the registry says: a non-fatal error leaves
 * it in its state, a fatal one ends it and nothing sent after is acted on
 * (ERR-4). `internal` (500) and `going-away` (503) cannot be provoked by
 * a client and have no case. Other suites meet these codes in passing;
 * these cases check each one directly. */
#include <stdio.h>
#include <string.h>

#include "ca_util.h"

/* ---- frame errors (400 to 412): on a NEGOTIATED session ------------------ */

/* Sends one malformed message; its ERROR must come next, carrying no req
 * or `req`, and the session goes on. */
static void frame_error(pc_ctx *t, const char *msg, size_t len,
                        const char *reason, const char *req)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const pc_frame *f;

  pc_send_text(c, msg, len);
  f = pc_recv(c, PC_WAIT);
  PC_CHECK(t, f, "a malformed message got no answer (the connection %s)",
           pc_closed(c) ? "closed" : "stayed silent");
  ca_is_error(t, f, reason, 0, NULL);
  PC_CHECK(t, !pc_hdr(f, "req") || pc_hdr_is(f, "req", req),
           "the ERROR carries req %s, which the message did not hold",
           pc_hdr_show(f, "req"));
  ca_pong_next(t, c);
}

#define FRAME_CASE(fn, lit, reason, req)                                      \
  static void fn(pc_ctx *t)                                                   \
  {                                                                           \
    frame_error(t, lit, sizeof(lit) - 1, reason, req);                        \
  }

FRAME_CASE(bad_start_line, "send\r\nreq: e1\r\n\r\n", "bad-start-line", "e1")
FRAME_CASE(bad_header_name, "PING\r\nreq: e1\r\nNonce: a\r\n\r\n",
           "bad-header-name", "e1")
FRAME_CASE(bad_header_value, "PING\r\nreq: e1\r\nnonce: a\tb\r\n\r\n",
           "bad-header-value", "e1")
FRAME_CASE(bad_utf8, "PING\r\nreq: e1\r\ncontent-length: 6\r\n\r\n"
           "a\xC0\xAF" "b/c", "bad-utf8", "e1")
FRAME_CASE(length_required, "PING\r\nreq: e1\r\n\r\nhello",
           "length-required", "e1")
FRAME_CASE(bad_length, "PING\r\nreq: e1\r\ncontent-length: 05\r\n\r\nhello",
           "bad-length", "e1")
FRAME_CASE(truncated_frame, "PING\r\nreq: e1\r\ncontent-length: 10\r\n\r\n"
           "hello", "truncated-frame", "e1")
FRAME_CASE(extra_data, "PING\r\nreq: e1\r\ncontent-length: 2\r\n\r\nhello",
           "extra-data", "e1")
FRAME_CASE(duplicate_header, "PING\r\nreq: e1\r\nnonce: a\r\nnonce: b\r\n"
           "\r\n", "duplicate-header", "e1")

static void frame_too_large(pc_ctx *t)
{
  const char *msg = pc_printf(t, "PING\r\nreq: e1\r\ncontent-length: %llu"
                              "\r\n\r\n", (unsigned long long)
                              pc_config_of(t)->max_frame + 1);

  frame_error(t, msg, strlen(msg), "frame-too-large", "e1");
}

static void header_too_long(pc_ctx *t)
{
  size_t max = pc_config_of(t)->max_header_line;
  const char *msg = pc_printf(t, "PING\r\nreq: e1\r\nx-pad: %s\r\n\r\n",
                              ca_fill(t, 'a', max + 1 - 7));

  frame_error(t, msg, strlen(msg), "header-too-long", "e1");
}

static void too_many_headers(pc_ctx *t)
{
  size_t max = pc_config_of(t)->max_headers;
  char *msg = pc_alloc(t, 32 + 16 * (max + 1)), *p = msg;

  p += sprintf(p, "PING\r\nreq: e1\r\n");
  for (size_t i = 1; i <= max; i++)
    p += sprintf(p, "x-h%zu: v\r\n", i);
  strcpy(p, "\r\n");
  frame_error(t, msg, strlen(msg), "too-many-headers", "e1");
}

static void binary_message(pc_ctx *t)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const pc_frame *f;

  pc_send_binary(c, "PING\r\n\r\n", 8);
  f = pc_recv(c, PC_WAIT);
  PC_CHECK(t, f, "a binary message got no answer");
  ca_is_error(t, f, "binary-message", 0, NULL);
  ca_pong_next(t, c);
}

/* 15 malformed messages leave the session alive; the 16th ends it. */
static void too_many_errors(pc_ctx *t)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const pc_frame *f;

  for (int i = 0; i < 15; i++) {
    pc_send_text(c, "ping\r\n\r\n", 8);
    f = pc_recv(c, PC_WAIT);
    PC_CHECK(t, f, "malformed message %d got no answer", i + 1);
    ca_is_error(t, f, "bad-start-line", 0, NULL);
  }
  ca_pong_next(t, c);
  pc_send_text(c, "ping\r\n\r\n", 8);
  f = pc_recv(c, PC_WAIT);
  if (f && pc_hdr(f, "reason") &&
      pc_hdr_is(f, "reason", "bad-start-line"))
    f = pc_recv(c, PC_WAIT); /* the 16th's own error may come first */
  PC_CHECK(t, f, "the 16th malformed message did not end the session with "
           "too-many-errors");
  ca_is_error(t, f, "too-many-errors", 1, NULL);
  pc_expect_close(c, PC_WAIT);
}

/* ---- errors of meaning --------------------------------------------------- */

/* Sends verb with req and the header pairs of a READY session's request;
 * expects the non-fatal `reason` with req, then that the session is still
 * READY. Returns the ERROR. */
static const pc_frame *ready_error(pc_ctx *t, int k, const char *reason,
                                   const char *verb, const char *body,
                                   const char *n1, const char *v1,
                                   const char *n2, const char *v2)
{
  pc_conn *c = ca_ready(t, ca_acct(t, k), NULL, NULL, 0, NULL);
  const char *req = ca_req(t);
  const pc_frame *f;

  pc_send(c, verb, body, "req", req, n1, v1, n2, v2, NULL);
  f = pc_expect_req(c, req, PC_WAIT);
  ca_is_error(t, f, reason, 0, req);
  ca_still_ready(t, c);
  return f;
}

static void unknown_verb(pc_ctx *t)
{
  ready_error(t, 0, "unknown-verb", "XFROB", NULL, NULL, NULL, NULL, NULL);
}

static void missing_header(pc_ctx *t)
{
  const pc_frame *f = ready_error(t, 1, "missing-header", "SEND", "hi",
                                  "conv", "c1", NULL, NULL);

  ca_body_names(t, f, "temp-id");
}

static void bad_value(pc_ctx *t)
{
  const pc_frame *f = ready_error(t, 2, "bad-value", "SEND", "hi", "conv",
                                  "c1", "temp-id", ca_fill(t, 't', 65));

  ca_body_names(t, f, "temp-id");
}

static void not_found(pc_ctx *t)
{
  ready_error(t, 3, "not-found", "SEND", "hi", "conv",
              pc_uniq(t, "nx"), "temp-id", pc_uniq(t, "t"));
}

/* Sends SEND and returns its answer. */
static const pc_frame *send_msg(pc_ctx *t, pc_conn *c, const char *conv,
                                const char *temp_id, const char *body)
{
  const char *req = ca_req(t);

  pc_send(c, "SEND", body, "conv", conv, "temp-id", temp_id, "req", req,
          NULL);
  return pc_expect_req(c, req, PC_WAIT);
}

static void temp_id_conflict(pc_ctx *t)
{
  int u = ca_acct(t, 4);
  const char *conv = pc_conv_group(t, u, &u, 1);
  pc_conn *c = ca_ready(t, u, NULL, NULL, 0, NULL);
  const char *tid = pc_uniq(t, "t");
  const pc_frame *f = send_msg(t, c, conv, tid, "first");

  PC_CHECK(t, strcmp(f->verb, "ACK") == 0, "SEND was answered with %s, not "
           "ACK", f->verb);
  f = send_msg(t, c, conv, tid, "second");
  ca_is_error(t, f, "temp-id-conflict", 0, NULL); /* found by its req */
  ca_still_ready(t, c);
}

static void bad_cursor(pc_ctx *t)
{
  int u = ca_acct(t, 5);
  const char *conv = pc_conv_group(t, u, &u, 1);

  ready_error(t, 5, "bad-cursor", "HISTORY", NULL, "conv", conv, "cursor",
              "zz-never-issued");
}

static void auth_required(pc_ctx *t)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *req = ca_req(t);
  const pc_frame *f;

  pc_send(c, "SYNC", NULL, "req", req, NULL);
  f = pc_recv(c, PC_WAIT);
  PC_CHECK(t, f, "SYNC before READY got no answer");
  ca_is_error(t, f, "auth-required", 0, req);
  ca_pong_next(t, c);
}

static void rate_limited(pc_ctx *t)
{
  const pc_config *cfg = pc_config_of(t);
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  size_t n = (size_t)(cfg->rate_burst + cfg->rate_per_s), pongs = 0;
  size_t limited = 0;

  PC_CHECK(t, cfg->rate_per_s > 0 && cfg->rate_burst > 0, "GET /v1/config "
           "states rate_per_s %llu, rate_burst %llu: a bucket that never "
           "fills lets a session send nothing (RATE-3)",
           (unsigned long long)cfg->rate_per_s,
           (unsigned long long)cfg->rate_burst);
  PC_CHECK(t, n <= 200000, "GET /v1/config states rate_burst %llu and "
           "rate_per_s %llu: too large to empty the bucket",
           (unsigned long long)cfg->rate_burst,
           (unsigned long long)cfg->rate_per_s);
  pc_note(t, "%zu PINGs at once, against a bucket of %llu filling at "
          "%llu/s", n, (unsigned long long)cfg->rate_burst,
          (unsigned long long)cfg->rate_per_s);
  for (size_t i = 0; i < n; i++)
    pc_send(c, "PING", NULL, "req", pc_printf(t, "k%zu", i), NULL);
  for (size_t i = 0; i < n; i++) {
    const pc_frame *f = pc_recv(c, PC_WAIT);
    const char *req = pc_printf(t, "k%zu", i);

    PC_CHECK(t, f, "PING %zu of %zu got no answer", i + 1, n);
    if (strcmp(f->verb, "PONG") == 0) {
      pongs++;
      continue;
    }
    ca_is_error(t, f, "rate-limited", 0, req);
    limited++;
  }
  pc_note(t, "%zu PONG, %zu rate-limited", pongs, limited);
  PC_CHECK(t, limited > 0, "no PING was refused with rate-limited");
  PC_CHECK(t, pongs + 1 >= cfg->rate_burst, "only %zu PINGs were answered; "
           "a bucket of %llu holds that many and more",
           pongs, (unsigned long long)cfg->rate_burst);
  pc_sleep_ms((unsigned)(2000 / cfg->rate_per_s) + 10);
  ca_pong_next(t, c);
}

/* ---- a req that breaks its form (REQ-3) ---------------------------------- */

/* Three req values outside `id` (section 2.9): a character outside
 * [A-Za-z0-9_-], 65 characters, empty. */
static const char *bad_req_value(pc_ctx *t, size_t i)
{
  const char *bad[] = {"r!x", ca_fill(t, 'r', 65), ""};

  return bad[i % PC_COUNT(bad)];
}

/* Fails unless f, an ERROR, carries no req. */
static void no_req(pc_ctx *t, const pc_frame *f, const char *what)
{
  PC_CHECK(t, !pc_hdr(f, "req"), "%s: the ERROR %s copies the malformed "
           "req \"%.70s\"", what, pc_hdr_show(f, "reason"),
           pc_hdr_show(f, "req"));
}

/* A frame to send with a malformed req: verb, body (NULL: none) and up
 * to three header pairs, ended by a NULL name. */
typedef struct bad_req_frame {
  const char *verb, *body;
  const char *h[6];
} bad_req_frame;

/* Sends `fr` with the malformed req number i and fails unless the ERROR
 * that answers it is `reason` (fatal only for bad-state) without req;
 * a bad-value names req in its body (FRAME-11). */
static void bad_req_error(pc_ctx *t, pc_conn *c, const char *reason,
                          size_t i, bad_req_frame fr)
{
  const char *verb = fr.verb;
  const char *what = pc_printf(t, "%s with req \"%.70s\"", verb,
                               bad_req_value(t, i));
  const pc_frame *f;

  pc_note(t, "%s: expecting %s without req", what, reason);
  pc_send(c, verb, fr.body, "req", bad_req_value(t, i), fr.h[0], fr.h[1],
          fr.h[2], fr.h[3], fr.h[4], fr.h[5], NULL);
  f = pc_expect(c, "ERROR", NULL, NULL, PC_WAIT);
  ca_is_error(t, f, reason, strcmp(reason, "bad-state") == 0, NULL);
  no_req(t, f, what);
  if (strcmp(reason, "bad-value") == 0)
    ca_body_names(t, f, "req");
}

/* NEGOTIATED takes AUTH: a valid token with a bad req gets bad-value and
 * the session stays NEGOTIATED (nothing of the AUTH was acted on). */
static void bad_req_negotiated(pc_ctx *t, int u)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *req = ca_req(t);
  const pc_frame *f;

  bad_req_error(t, c, "bad-value", 0, (bad_req_frame){"AUTH", NULL,
                {"token", pc_token(t, u), "device", pc_uniq(t, "d")}});
  ca_pong_next(t, c);
  pc_send(c, "SYNC", NULL, "req", req, NULL);
  f = pc_recv(c, PC_WAIT);
  PC_CHECK(t, f, "SYNC after the refused AUTH got no answer");
  ca_is_error(t, f, "auth-required", 0, req);
  req = ca_req(t);
  pc_send(c, "AUTH", NULL, "token", pc_token(t, u), "device",
          pc_uniq(t, "d"), "req", req, NULL);
  f = pc_expect_req(c, req, PC_WAIT);
  PC_CHECK(t, strcmp(f->verb, "READY") == 0, "AUTH with a valid token and "
           "req after the refused one got %s, not READY", f->verb);
}

/* READY takes SEND, RECEIPT and HISTORY: each gets bad-value without req
 * and does nothing; the SEND stores no message. */
static void bad_req_ready_requests(pc_ctx *t, int u)
{
  const char *conv = pc_conv_group(t, u, &u, 1);
  pc_conn *c = ca_ready(t, u, NULL, NULL, 0, NULL);
  const pc_frame *f;

  for (size_t i = 0; i < 2; i++)
    bad_req_error(t, c, "bad-value", i, (bad_req_frame){"SEND",
                  "not stored", {"conv", conv, "temp-id", pc_uniq(t, "t")}});
  ca_pong(t, c);
  f = send_msg(t, c, conv, pc_uniq(t, "t"), "stored");
  PC_CHECK(t, strcmp(f->verb, "ACK") == 0, "a SEND with a good req got %s, "
           "not ACK", f->verb);
  PC_CHECK(t, pc_hdr_u64(t, f, "seq") == 1, "the first message stored in "
           "the new conversation has seq %s, not 1: a SEND with a malformed "
           "req was stored", pc_hdr_show(f, "seq"));
  bad_req_error(t, c, "bad-value", 2, (bad_req_frame){"RECEIPT", NULL,
                {"conv", conv, "kind", "read", "seq", "1"}});
  bad_req_error(t, c, "bad-value", 0, (bad_req_frame){"HISTORY", NULL,
                {"conv", conv}});
  ca_still_ready(t, c);
}

/* READY does not take an unknown verb (unknown-verb, stays) nor a verb
 * only servers send (bad-state, fatal): the state's error, without req. */
static void bad_req_ready_refused(pc_ctx *t, int u)
{
  pc_conn *c = ca_ready(t, u, NULL, NULL, 0, NULL);

  bad_req_error(t, c, "unknown-verb", 1, (bad_req_frame){"XFROB", NULL,
                {NULL}});
  ca_still_ready(t, c);
  bad_req_error(t, c, "bad-state", 2, (bad_req_frame){"ACK", NULL,
                {"conv", "c1", "seq", "1"}});
  pc_expect_close(c, PC_WAIT);
}

static void bad_req(pc_ctx *t)
{
  int u = ca_acct(t, 6);

  bad_req_negotiated(t, u);
  bad_req_ready_requests(t, u);
  bad_req_ready_refused(t, u);
}

/* ---- fatal errors -------------------------------------------------------- */

static void bad_state(pc_ctx *t)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *req = ca_req(t);

  pc_send(c, "HELLO", NULL, "versions", "1", "heartbeat", "30000", "req",
          req, NULL);
  pc_send(c, "PING", NULL, "nonce", "after", NULL);
  ca_fatal(t, c, "bad-state", req);
}

static void unsupported_version(pc_ctx *t)
{
  pc_conn *c = pc_ws_open(t, "open", NULL);
  const char *req = ca_req(t);

  pc_send(c, "HELLO", NULL, "versions", "4000000", "heartbeat", "30000",
          "req", req, NULL);
  pc_send(c, "PING", NULL, "nonce", "after", NULL);
  ca_fatal(t, c, "unsupported-version", req);
}

static void auth_failed(pc_ctx *t)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *req = ca_req(t);

  pc_send(c, "AUTH", NULL, "token", "pt1.not.a-token", "device",
          pc_uniq(t, "d"), "req", req, NULL);
  pc_send(c, "PING", NULL, "nonce", "after", NULL);
  ca_fatal(t, c, "auth-failed", req);
}

static void token_expired(pc_ctx *t)
{
  const char *tok = pc_token_fresh(t, ca_acct(t, 6), 1000);
  uint64_t got = pc_now_ms();
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *req = ca_req(t);

  pc_note(t, "waiting for a token of 1000 ms to expire");
  if (pc_now_ms() < got + 1050)
    pc_sleep_ms((unsigned)(got + 1050 - pc_now_ms()));
  pc_send(c, "AUTH", NULL, "token", tok, "device", pc_uniq(t, "d"), "req",
          req, NULL);
  pc_send(c, "PING", NULL, "nonce", "after", NULL);
  ca_fatal(t, c, "token-expired", req);
}

static void timeout(pc_ctx *t)
{
  const pc_frame *w, *f;
  pc_conn *c = ca_negotiated(t, "neg", pc_config_of(t)->heartbeat_min_ms,
                             &w);
  uint64_t hb = pc_hdr_u64(t, w, "heartbeat");

  f = pc_recv(c, (unsigned)(2 * hb) + pc_wait_ms(t));
  PC_CHECK(t, f, "a session silent for two intervals of %llu ms got no "
           "timeout", (unsigned long long)hb);
  ca_is_error(t, f, "timeout", 1, NULL);
  pc_expect_close(c, PC_WAIT);
}

#define CASE(reason, fn, reqs, level, title)                                  \
  {"error." reason, title, reqs, level, NULL, fn}

static const pc_case cases[] = {
  CASE("bad-start-line", bad_start_line, "ERR-1 ERR-2 FRAME-1", PC_MUST,
       "A lower-case verb gets 400 bad-start-line, not fatal."),
  CASE("bad-header-name", bad_header_name, "ERR-1 ERR-2 FRAME-1", PC_MUST,
       "An upper-case header name gets 401 bad-header-name, not fatal."),
  CASE("bad-header-value", bad_header_value, "ERR-1 ERR-2 FRAME-1",
       PC_MUST,
       "A tab in a header value gets 402 bad-header-value, not fatal."),
  CASE("bad-utf8", bad_utf8, "WS-8", PC_SHOULD,
       "An overlong UTF-8 form in a body gets 403 bad-utf8, not fatal."),
  CASE("length-required", length_required, "ERR-1 ERR-2 WS-2", PC_MUST,
       "A body without content-length gets 404 length-required, not "
       "fatal."),
  CASE("bad-length", bad_length, "ERR-1 ERR-2 FRAME-4", PC_MUST,
       "content-length 05 gets 405 bad-length, not fatal."),
  CASE("frame-too-large", frame_too_large, "ERR-1 ERR-2 FRAME-4", PC_MUST,
       "A content-length past max-frame gets 406 frame-too-large, not "
       "fatal."),
  CASE("header-too-long", header_too_long, "ERR-1 ERR-2 FRAME-2", PC_MUST,
       "A header line past max-header-line gets 407 header-too-long, not "
       "fatal."),
  CASE("too-many-headers", too_many_headers, "ERR-1 ERR-2 FRAME-2",
       PC_MUST, "A header line past max-headers gets 408 too-many-headers, "
       "not fatal."),
  CASE("truncated-frame", truncated_frame, "ERR-1 ERR-2 WS-2", PC_MUST,
       "A message ending inside the body gets 409 truncated-frame, not "
       "fatal."),
  CASE("extra-data", extra_data, "ERR-1 ERR-2 WS-2", PC_MUST,
       "Octets after the body get 410 extra-data, not fatal."),
  CASE("duplicate-header", duplicate_header, "ERR-1 ERR-2 FRAME-6",
       PC_MUST, "A header given twice gets 411 duplicate-header, not "
       "fatal."),
  CASE("binary-message", binary_message, "ERR-1 ERR-2 WS-3", PC_MUST,
       "A binary message gets 412 binary-message, not fatal."),
  CASE("too-many-errors", too_many_errors, "WS-4", PC_SHOULD,
       "The 16th malformed message of a session gets 413 too-many-errors, "
       "fatal; the 15th does not."),
  CASE("unknown-verb", unknown_verb, "ERR-1 ERR-2 EXT-3", PC_MUST,
       "An unknown verb in READY gets 420 unknown-verb, not fatal."),
  CASE("bad-state", bad_state, "ERR-1 ERR-2 ERR-4 LIFE-4", PC_MUST,
       "A second HELLO gets 421 bad-state, fatal."),
  CASE("unsupported-version", unsupported_version,
       "ERR-1 ERR-2 ERR-4 LIFE-2", PC_MUST,
       "A HELLO sharing no version gets 422 unsupported-version, fatal."),
  CASE("auth-required", auth_required, "ERR-1 ERR-2 AUTH-2", PC_MUST,
       "SYNC before READY gets 423 auth-required, not fatal."),
  CASE("auth-failed", auth_failed, "ERR-1 ERR-2 ERR-4 AUTH-1", PC_MUST,
       "A bad token gets 424 auth-failed, fatal."),
  CASE("token-expired", token_expired, "ERR-1 ERR-2 ERR-4 AUTH-1 HTTP-12",
       PC_MUST,
       "An expired token gets 425 token-expired, fatal."),
  CASE("missing-header", missing_header, "ERR-1 ERR-2 FRAME-11", PC_MUST,
       "A SEND without temp-id gets 426 missing-header naming it, not "
       "fatal."),
  CASE("bad-value", bad_value, "ERR-1 ERR-2 FRAME-11", PC_MUST,
       "A temp-id of 65 characters gets 427 bad-value naming it, not "
       "fatal."),
  CASE("timeout", timeout, "ERR-1 ERR-2 HB-4", PC_MUST,
       "A session silent for two intervals gets 428 timeout, fatal."),
  CASE("rate-limited", rate_limited, "ERR-1 ERR-2 RATE-1 RATE-3", PC_MUST,
       "Messages past the stated bucket get 429 rate-limited with their "
       "req, not fatal."),
  CASE("not-found", not_found, "ERR-1 ERR-2 SEND-6", PC_MUST,
       "A SEND to a conversation that does not exist gets 440 not-found, "
       "not fatal."),
  CASE("temp-id-conflict", temp_id_conflict, "ERR-1 ERR-2 SEND-4", PC_MUST,
       "A temp-id reused with another body gets 441 temp-id-conflict, not "
       "fatal."),
  CASE("bad-req", bad_req, "REQ-3 FRAME-11 ERR-2", PC_MUST,
       "A req that breaks its form is never copied: AUTH, SEND, RECEIPT "
       "and HISTORY get bad-value without req and do nothing, an unknown "
       "or server-only verb its state's error without req."),
  CASE("bad-cursor", bad_cursor, "ERR-1 ERR-2 HIST-5", PC_MUST,
       "A HISTORY cursor the server never issued gets 442 bad-cursor, not "
       "fatal."),
};

const pc_suite pc_suite_error = {"error", false, cases, PC_COUNT(cases)};
