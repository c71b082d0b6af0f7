/* Conformance cases: hb. The heartbeat (spec section 4.1, HB-1 to HB-8)
 * with the shortest interval the server takes: each case proposes
 * heartbeat_min_ms of GET /v1/config and reads the interval chosen from
 * WELCOME; every wait is a number of those intervals plus the run's
 * --timeout for the answer, never a fixed time. The two cases that time
 * the close itself (HB-8: not before two intervals, before a third)
 * propose an interval of at least --timeout instead, so that the third
 * interval covers the way of the ERROR back. */
#include <stdio.h>
#include <string.h>

#include "ca_util.h"

/* How many intervals the keep-alive cases span: two windows of HB-4. */
#define HB_SPAN 4

/* The interval WELCOME chose. */
static uint64_t interval_of(pc_ctx *t, const pc_frame *w)
{
  uint64_t hb = pc_hdr_u64(t, w, "heartbeat");

  PC_CHECK(t, hb > 0, "WELCOME chose a heartbeat of 0 ms");
  return hb;
}

/* A READY session with the shortest interval; returns it in *hb. */
static pc_conn *short_ready(pc_ctx *t, int k, uint64_t *hb)
{
  pc_session_opts o = {.caps = "",
                       .heartbeat_ms = pc_config_of(t)->heartbeat_min_ms};
  pc_conn *c = pc_session(t, ca_acct(t, k), &o);

  *hb = interval_of(t, pc_welcome(c));
  return c;
}

static void bounds(pc_ctx *t)
{
  const pc_config *cfg = pc_config_of(t);
  const char *proposals[] = {"1", "199"};

  PC_CHECK(t, cfg->heartbeat_min_ms <= 15000, "heartbeat_min_ms %llu is "
           "above 15,000 ms", (unsigned long long)cfg->heartbeat_min_ms);
  PC_CHECK(t, cfg->heartbeat_min_ms >= 200, "heartbeat_min_ms %llu is "
           "below 200 ms", (unsigned long long)cfg->heartbeat_min_ms);
  PC_CHECK(t, cfg->heartbeat_max_ms >= cfg->heartbeat_min_ms,
           "heartbeat_max_ms is below heartbeat_min_ms");
  for (size_t i = 0; i < PC_COUNT(proposals); i++) {
    pc_conn *c = pc_ws_open(t, pc_printf(t, "neg-%zu", i), NULL);
    const char *req = ca_req(t);
    const pc_frame *w;
    uint64_t hb;

    pc_send(c, "HELLO", NULL, "versions", "1", "heartbeat", proposals[i],
            "req", req, NULL);
    w = pc_expect_req(c, req, PC_WAIT);
    PC_CHECK(t, strcmp(w->verb, "WELCOME") == 0, "HELLO with heartbeat %s "
             "was answered with %s", proposals[i], w->verb);
    hb = interval_of(t, w);
    PC_CHECK(t, hb >= 200 && hb == cfg->heartbeat_min_ms, "heartbeat %s "
             "became %llu, not the minimum %llu", proposals[i],
             (unsigned long long)hb,
             (unsigned long long)cfg->heartbeat_min_ms);
  }
}

/* PING with `nonce` (NULL: none) on c; fails unless its PONG copies it
 * octet for octet (and carries no nonce when the PING had none). */
static void ping_echo(pc_ctx *t, pc_conn *c, const char *nonce)
{
  const char *req = ca_req(t), *got;
  const pc_frame *f;

  if (nonce)
    pc_send(c, "PING", NULL, "nonce", nonce, "req", req, NULL);
  else
    pc_send(c, "PING", NULL, "req", req, NULL);
  f = pc_expect_req(c, req, PC_WAIT);
  PC_CHECK(t, strcmp(f->verb, "PONG") == 0, "PING was answered with %s, "
           "not PONG", f->verb);
  got = pc_hdr(f, "nonce");
  if (!nonce)
    PC_CHECK(t, !got, "PONG carries nonce \"%s\" for a PING without one",
             got);
  else
    PC_CHECK(t, got && strcmp(got, nonce) == 0, "PONG carries nonce \"%s\","
             " the PING's was \"%s\"", got ? got : "(none)", nonce);
}

static void ping_pong(pc_ctx *t)
{
  char wide[65] = "";
  const char *nonces[] = {"n1", NULL, wide, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`",
                          ca_fill(t, 'z', 64), "x"};
  pc_conn *conns[2];

  for (size_t i = 0; i < 32; i++)
    strcat(wide, "\xC3\xA9");
  conns[0] = ca_negotiated(t, "neg", 0, NULL);
  conns[1] = ca_ready(t, ca_acct(t, 0), NULL, NULL, 0, NULL);
  for (size_t k = 0; k < PC_COUNT(conns); k++)
    for (size_t i = 0; i < PC_COUNT(nonces); i++)
      ping_echo(t, conns[k], nonces[i]);
}

static void nonce_bad(pc_ctx *t)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  char wide[70] = "a";
  const char *nonces[] = {ca_fill(t, 'z', 65), "", wide};

  for (size_t i = 0; i < 32; i++)
    strcat(wide, "\xC3\xA9"); /* 65 octets, 33 characters */
  for (size_t i = 0; i < PC_COUNT(nonces); i++) {
    const char *req = ca_req(t);
    const pc_frame *f;

    pc_note(t, "PING with a nonce of %zu octets", strlen(nonces[i]));
    pc_send(c, "PING", NULL, "nonce", nonces[i], "req", req, NULL);
    f = pc_expect_req(c, req, PC_WAIT);
    ca_is_error(t, f, "bad-value", 0, req);
    ca_body_names(t, f, "nonce");
  }
  ca_pong_next(t, c);
}

/* Waits for the timeout of a silent session and returns the close
 * code. */
static int silent_until_timeout(pc_ctx *t, pc_conn *c, uint64_t hb)
{
  uint64_t start = pc_now_ms();
  const pc_frame *f;
  int code;

  pc_note(t, "silent for up to two intervals of %llu ms",
          (unsigned long long)hb);
  f = pc_expect_error(c, "timeout", 1, NULL, (unsigned)(2 * hb) +
                      pc_wait_ms(t));
  pc_note(t, "timeout after %llu ms of silence",
          (unsigned long long)(pc_now_ms() - start));
  PC_CHECK(t, !pc_hdr(f, "req"), "the timeout carries req %s, which no "
           "request of the client had", pc_hdr_show(f, "req"));
  code = pc_expect_close(c, PC_WAIT);
  return code;
}

static void silence_ready(pc_ctx *t)
{
  uint64_t hb;
  pc_conn *c = short_ready(t, 1, &hb);

  silent_until_timeout(t, c, hb);
}

static void silence_negotiated(pc_ctx *t)
{
  const pc_frame *w;
  pc_conn *c = ca_negotiated(t, "neg", pc_config_of(t)->heartbeat_min_ms,
                             &w);

  silent_until_timeout(t, c, interval_of(t, w));
}

static void timeout_close_code(pc_ctx *t)
{
  const pc_frame *w;
  pc_conn *c = ca_negotiated(t, "neg", pc_config_of(t)->heartbeat_min_ms,
                             &w);
  int code = silent_until_timeout(t, c, interval_of(t, w));

  PC_CHECK(t, code == 1008, "the server closed with %d after timeout, not "
           "1008", code);
}

/* The interval of the timing cases: at least the run's --timeout, so
 * that the third interval HB-8 gives a server also covers the way of its
 * ERROR back, and within the server's bounds. */
static uint64_t timing_interval(pc_ctx *t)
{
  const pc_config *cfg = pc_config_of(t);
  uint64_t hb = pc_wait_ms(t);

  if (hb < cfg->heartbeat_min_ms)
    hb = cfg->heartbeat_min_ms;
  if (hb > cfg->heartbeat_max_ms)
    hb = cfg->heartbeat_max_ms;
  return hb;
}

/* A READY session of account k with the interval of timing_interval,
 * in *hb. READY, since LIFE-3 would end a NEGOTIATED one at 10 s, before
 * two intervals of a --timeout of 5 s or more. */
static pc_conn *timing_session(pc_ctx *t, int k, uint64_t *hb)
{
  pc_session_opts o = {.caps = "", .heartbeat_ms = timing_interval(t)};
  pc_conn *c = pc_session(t, ca_acct(t, k), &o);

  *hb = interval_of(t, pc_welcome(c));
  return c;
}

/* Stays silent on d, which just had its PONG, for one and a half
 * intervals of hb, and fails unless it is still open and answers a PING
 * then (HB-8: not closed before two intervals). Live events of other
 * cases may reach d meanwhile; they are set aside. */
static void lives_short_of_two(pc_ctx *t, pc_conn *d, uint64_t hb)
{
  unsigned quiet = (unsigned)(hb + hb / 2);

  pc_expect_none(d, "ERROR", quiet);
  PC_CHECK(t, !pc_closed(d), "the session was closed after %u ms of "
           "silence, short of two intervals of %llu ms (HB-8)", quiet,
           (unsigned long long)hb);
  ca_pong(t, d);
}

/* Two READY sessions silent side by side: d for one and a half
 * intervals, then a PING, which must be answered; c until its timeout,
 * which must come after two intervals and before a third has passed. */
/* spec: HB-4 HB-8 HB-3 */
static void silence_timely(pc_ctx *t)
{
  uint64_t hb, hb_d, last, gone;
  pc_conn *c = timing_session(t, 4, &hb);
  pc_conn *d = timing_session(t, 5, &hb_d);
  uint64_t wait = pc_wait_ms(t);
  /* A twentieth of an interval for the server's clock; the rest of the
   * third interval (at least --timeout) for the ERROR's way back. */
  uint64_t early = 2 * hb - hb / 20, late = 2 * hb + (hb > wait ? hb : wait);
  const pc_frame *f;

  last = pc_now_ms();
  ca_pong(t, c);
  ca_pong(t, d);
  pc_note(t, "both silent after a PING; one PINGs again after one and a "
          "half intervals of %llu ms, the other waits for its timeout, "
          "due from %llu ms to %llu ms after its PING",
          (unsigned long long)hb, (unsigned long long)early,
          (unsigned long long)late);
  lives_short_of_two(t, d, hb_d);
  f = pc_expect_error(c, "timeout", 1, NULL,
                      (unsigned)(last + late - pc_now_ms()));
  gone = pc_now_ms() - last;
  pc_note(t, "timeout %llu ms after the PING", (unsigned long long)gone);
  PC_CHECK(t, gone >= early, "the session was closed for silence %llu ms "
           "after its last message, before two intervals of %llu ms "
           "(HB-8)", (unsigned long long)gone, (unsigned long long)hb);
  PC_CHECK(t, gone < late, "the timeout came %llu ms after the last "
           "message, past the third interval of %llu ms (HB-8)",
           (unsigned long long)gone, (unsigned long long)hb);
  PC_CHECK(t, !pc_hdr(f, "req"), "the timeout carries req %s, which no "
           "request of the client had", pc_hdr_show(f, "req"));
  pc_expect_close(c, PC_WAIT);
}

static void ping_keeps_alive(pc_ctx *t)
{
  uint64_t hb;
  pc_conn *c = short_ready(t, 2, &hb);

  pc_note(t, "a PING every half interval for %d intervals of %llu ms",
          HB_SPAN, (unsigned long long)hb);
  for (int i = 0; i < 2 * HB_SPAN; i++) {
    pc_expect_none(c, "ERROR", (unsigned)(hb / 2));
    ca_pong(t, c);
  }
  ca_still_ready(t, c);
}

/* Only malformed and binary messages for HB_SPAN intervals: each is a
 * sign of life (HB-7), so no timeout comes. 2 * HB_SPAN of them stay
 * below the 16 of WS-4. */
static void any_message_is_life(pc_ctx *t)
{
  uint64_t hb;
  pc_conn *c = short_ready(t, 3, &hb);

  pc_note(t, "a malformed or binary message every half interval for %d "
          "intervals of %llu ms", HB_SPAN, (unsigned long long)hb);
  for (int i = 0; i < 2 * HB_SPAN; i++) {
    pc_expect_none(c, "ERROR", (unsigned)(hb / 2));
    if (i % 2) {
      pc_send_binary(c, "PING\r\n\r\n", 8);
      ca_frame_error(t, c, "binary-message", NULL);
    } else {
      pc_send_text(c, "ping\r\n\r\n", 8);
      ca_frame_error(t, c, "bad-start-line", NULL);
    }
  }
  ca_pong(t, c);
  ca_still_ready(t, c);
}

static const pc_case cases[] = {
  {"hb.bounds",
   "The server's minimum interval is from 200 to 15,000 ms, and a smaller "
   "proposal gets that minimum.", "HB-1", PC_MUST, NULL, bounds},
  {"hb.ping-pong",
   "PING is answered with PONG copying its nonce octet for octet (none "
   "when it had none), before and after READY.", "HB-3 REQ-1", PC_MUST,
   NULL, ping_pong},
  {"hb.nonce-bad",
   "A nonce empty or longer than 64 octets gets bad-value naming it, not "
   "fatal.", "FRAME-11 ERR-2", PC_MUST, NULL, nonce_bad},
  {"hb.silence-ready",
   "A READY session silent for two intervals is closed with timeout, "
   "fatal.", "HB-4", PC_MUST, NULL, silence_ready},
  {"hb.silence-negotiated",
   "A NEGOTIATED session silent for two intervals is closed with timeout, "
   "fatal.", "HB-4", PC_MUST, NULL, silence_negotiated},
  {"hb.silence-timely",
   "With intervals of at least --timeout, a silent session is closed with "
   "timeout after two intervals and before a third has passed, and one "
   "silent for one and a half intervals still answers PING.",
   "HB-4 HB-8 HB-3", PC_MUST, NULL, silence_timely},
  {"hb.timeout-close-code",
   "The server closes with WebSocket status 1008 after timeout.", "LIFE-7",
   PC_SHOULD, NULL, timeout_close_code},
  {"hb.ping-keeps-alive",
   "A session sending PING every half interval lives on past several "
   "intervals.", "HB-2 HB-4 HB-3", PC_MUST, NULL, ping_keeps_alive},
  {"hb.any-message-is-life",
   "Malformed and binary messages alone keep a session alive past several "
   "intervals.", "HB-7", PC_MUST, NULL, any_message_is_life},
};

const pc_suite pc_suite_hb = {"hb", false, cases, PC_COUNT(cases)};
