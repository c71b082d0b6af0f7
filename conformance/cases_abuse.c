/* Conformance cases: abuse (spec sections 2.5, 14.4 and 17).
 *
 * What a server promises against a peer that misbehaves: a rate bucket
 * per session, answered with rate-limited for the excess and usable
 * again once it fills (RATE-1); malformed messages answered one by one
 * and counted, the 16th closing the session (WS-4); messages far past
 * the frame limit refused without being read (WS-7); WebSocket messages
 * holding several frames or part of one refused whole (WS-2); bounded
 * memory for a session that does not read (SEC-15); idle connections
 * closed (LIFE-3, HB-4). Through all of it, the other sessions of the
 * server keep being served, which is what most cases here measure.
 *
 * These cases run beside others on the same server. Their floods stay
 * within one session's bucket (the limit is per session), the idle
 * connections number a few dozen at most, and every session a case makes
 * uses no capability, so relayed typing and presence of other cases do
 * not reach it; live events of other cases' conversations still may, and
 * are skipped by conversation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca_util.h"
#include "watch.h"

/* Idle connections of abuse.idle-connections. */
#define IDLE_OPEN 12
#define IDLE_NEGOTIATED 4
/* LIFE-3: the time a server gives a session to reach READY. */
#define READY_WITHIN_MS 10000u

/* A READY session of account `user` without capabilities. */
static pc_conn *quiet(pc_ctx *t, int user)
{
  pc_session_opts o = {0};
  o.caps = "";
  return pc_session(t, user, &o);
}

/* Sends a message to `conv` on `c` and returns its ACK. */
static pc_frame *post(pc_ctx *t, pc_conn *c, const char *conv,
                      const char *body)
{
  const char *req = pc_uniq(t, "s");
  pc_frame *f;

  pc_send(c, "SEND", body, "conv", conv, "temp-id", pc_uniq(t, "t"), "req",
          req, NULL);
  f = pc_expect_req(c, req, PC_WAIT);
  PC_CHECK(t, strcmp(f->verb, "ACK") == 0, "%s: SEND got %s %s",
           pc_conn_label(c), f->verb,
           pc_hdr_show(f, "reason"));
  return f;
}

/* Sends a message from `from` and checks that `to` gets it: the server
 * is serving both sessions. */
static void still_served(pc_ctx *t, pc_conn *from, pc_conn *to,
                         const char *conv, const char *what)
{
  const pc_frame *ack = post(t, from, conv, what);

  pc_expect(to, "MSG", "msg-id", pc_hdr_need(t, ack, "msg-id"), PC_WAIT);
}

/* The number value of the WELCOME header `name` of session c. */
static uint64_t welcome_u64(pc_ctx *t, const pc_conn *c, const char *name)
{
  return pc_hdr_u64(t, pc_welcome(c), name);
}

/* ---- the rate bucket ------------------------------------------------ */

/* How the answers to a flood came out. */
typedef struct flood {
  size_t sent;              /* PINGs sent, req "f<i>" */
  size_t extra;             /* binary messages sent after them */
  size_t pong, limited;     /* PINGs answered each way */
  size_t extra_limited;     /* binary messages answered rate-limited */
  size_t extra_refused;     /* binary messages answered binary-message */
  bool closed;              /* too-many-errors ended the session */
  uint64_t first_ms, last_ms;
} flood;

/* Index of the flood PING named by req "f<i>", or fl->sent. */
static size_t flood_index(const flood *fl, const char *req)
{
  char *end;
  unsigned long i;

  if (req == NULL || req[0] != 'f')
    return fl->sent;
  i = strtoul(req + 1, &end, 10);
  return *end == '\0' && i < fl->sent ? (size_t)i : fl->sent;
}

/* Takes one answer of a flood; returns false once the session ended. */
static bool flood_answer(pc_ctx *t, flood *fl, pc_frame *f, bool *seen)
{
  const char *req = pc_hdr(f, "req"), *reason = pc_hdr(f, "reason");
  size_t i = flood_index(fl, req);

  if (strcmp(f->verb, "ERROR") == 0 && reason != NULL &&
      strcmp(reason, "too-many-errors") == 0) {
    PC_CHECK(t, pc_hdr_is(f, "fatal", "yes"),
             "too-many-errors without fatal: yes");
    fl->closed = true;
    return false;
  }
  if (i < fl->sent) {
    PC_CHECK(t, !seen[i], "the PING with req %s was answered twice", req);
    seen[i] = true;
    if (strcmp(f->verb, "PONG") == 0) {
      fl->pong++;
      return true;
    }
    PC_CHECK(t, strcmp(f->verb, "ERROR") == 0 && reason != NULL &&
                    strcmp(reason, "rate-limited") == 0,
             "a flood PING got %s %s", f->verb, reason ? reason : "");
    PC_CHECK(t, pc_hdr_is(f, "code", "429") &&
                    pc_hdr_is(f, "fatal", "no"),
             "rate-limited must be code 429, fatal: no (RATE-1)");
    fl->limited++;
    return true;
  }
  PC_CHECK(t, strcmp(f->verb, "ERROR") == 0,
           "an answer without the req of its PING: %s", f->verb);
  PC_CHECK(t, req == NULL, "an ERROR with req %s, which no frame had", req);
  if (reason != NULL && strcmp(reason, "rate-limited") == 0)
    fl->extra_limited++;
  else if (reason != NULL && strcmp(reason, "binary-message") == 0)
    fl->extra_refused++;
  else
    pc_fail(t, "a binary message got %s", reason ? reason : "(no reason)");
  PC_CHECK(t, pc_hdr_is(f, "fatal", "no"),
           "ERROR %s with fatal: yes", reason);
  return true;
}

/* Sends fl->sent PINGs with req "f<i>" and then fl->extra binary
 * messages, without waiting, and reads every answer. Frames without req
 * that are not ERROR (events of other cases) are skipped. A rate-limited
 * PING must carry its req (RATE-1). */
static void flood_run(pc_ctx *t, pc_conn *c, flood *fl)
{
  bool *seen = pc_alloc(t, fl->sent + 1);
  size_t answers = 0, want = fl->sent + fl->extra;
  pc_frame *f;

  fl->first_ms = pc_now_ms();
  for (size_t i = 0; i < fl->sent; i++)
    pc_send(c, "PING", NULL, "req", pc_printf(t, "f%zu", i), NULL);
  for (size_t i = 0; i < fl->extra; i++)
    pc_send_binary(c, "PING\r\n\r\n", 8);
  while (answers < want) {
    f = pc_recv(c, PC_WAIT);
    PC_CHECK(t, f != NULL, "%zu of %zu flood messages were answered, then "
             "%s", answers, want, pc_closed(c) ? "the connection closed"
                                                : "nothing came");
    if (pc_hdr(f, "req") == NULL && strcmp(f->verb, "ERROR") != 0)
      continue;
    answers++;
    if (!flood_answer(t, fl, f, seen))
      break;
  }
  fl->last_ms = pc_now_ms();
  PC_CHECK(t, fl->closed || fl->pong + fl->limited == fl->sent,
           "%zu of %zu PINGs got an answer with their req: a rate-limited "
           "ERROR must carry the req of a well-formed frame (RATE-1)",
           fl->pong + fl->limited, fl->sent);
  pc_note(t, "%zu PINGs: %zu PONG, %zu rate-limited; %zu binary: %zu "
          "rate-limited, %zu binary-message; %llu ms", fl->sent, fl->pong,
          fl->limited, fl->extra, fl->extra_limited, fl->extra_refused,
          (unsigned long long)(fl->last_ms - fl->first_ms));
}

/* Fails when more flood messages were acted on than a bucket of the
 * stated size, filling at the stated rate, could have let through while
 * the flood lasted (measured on the client, which only lengthens it). */
static void flood_bound(pc_ctx *t, const pc_conn *c, const flood *fl)
{
  uint64_t burst = welcome_u64(t, c, "rate-burst");
  uint64_t rate = welcome_u64(t, c, "rate");
  uint64_t ms = fl->last_ms - fl->first_ms;
  uint64_t most = burst + (rate * ms + 999) / 1000 + 1;
  size_t acted = fl->pong + fl->extra_refused;

  PC_CHECK(t, acted <= most,
           "%zu of %zu messages were acted on in %llu ms; a bucket of %llu "
           "filling at %llu/s lets at most %llu through (RATE-1, RATE-3)",
           acted, fl->sent + fl->extra, (unsigned long long)ms,
           (unsigned long long)burst, (unsigned long long)rate,
           (unsigned long long)most);
}

/* Sleeps until a bucket emptied now holds `tokens` again at `rate`. */
static void wait_refill(pc_ctx *t, const pc_conn *c, unsigned tokens)
{
  uint64_t rate = welcome_u64(t, c, "rate");

  PC_CHECK(t, rate > 0, "WELCOME states rate: 0: a bucket that never "
           "fills lets a session send nothing (RATE-3)");
  pc_sleep_ms((unsigned)((1000ull * tokens + rate - 1) / rate) + 1);
}

/* The number of PINGs that surely empty a session's bucket. */
static size_t flood_size(pc_ctx *t, const pc_conn *c)
{
  uint64_t burst = welcome_u64(t, c, "rate-burst");

  PC_CHECK(t, burst <= 100000, "rate-burst %llu: too large to flood",
           (unsigned long long)burst);
  return (size_t)burst + (size_t)burst / 2 + 64;
}

/* spec: RATE-1 RATE-3 */
static void rate_flood(pc_ctx *t)
{
  pc_conn *c = quiet(t, 0);
  flood fl = {0};
  const char *req = pc_uniq(t, "p");

  fl.sent = flood_size(t, c);
  flood_run(t, c, &fl);
  flood_bound(t, c, &fl);
  if (fl.closed) {
    pc_note(t, "the server closed the session for sending into an empty "
               "bucket, which section 17.2 allows");
    pc_expect_close(c, PC_WAIT);
    return;
  }
  pc_note(t, "the session must serve again once its bucket refills");
  wait_refill(t, c, 2);
  pc_send(c, "PING", NULL, "req", req, NULL);
  pc_expect(c, "PONG", "req", req, PC_WAIT);
}

/* Reads the answers to the PINGs with reqs "<prefix><i>", i below n, on
 * c (other frames, events of other cases, are skipped); returns how many
 * were rate-limited. Fails on any other answer. */
static size_t count_limited(pc_ctx *t, pc_conn *c, const char *prefix,
                            size_t n)
{
  size_t answered = 0, limited = 0, len = strlen(prefix);
  const char *req;
  pc_frame *f;

  while (answered < n) {
    f = pc_recv(c, PC_WAIT);
    PC_CHECK(t, f, "%s: %zu of %zu PINGs were answered, then %s",
             pc_conn_label(c), answered, n,
             pc_closed(c) ? "the connection closed" : "nothing came");
    req = pc_hdr(f, "req");
    if (req == NULL || strncmp(req, prefix, len) != 0)
      continue;
    answered++;
    if (strcmp(f->verb, "PONG") == 0)
      continue;
    PC_CHECK(t, strcmp(f->verb, "ERROR") == 0 &&
                    pc_hdr_is(f, "reason", "rate-limited"),
             "a PING got %s %s", f->verb, pc_hdr_show(f, "reason"));
    limited++;
  }
  return limited;
}

/* spec: RATE-1 */
static void rate_per_session(pc_ctx *t)
{
  int u = ca_acct(t, 4);
  pc_conn *a = quiet(t, u), *b = quiet(t, u);
  uint64_t burst = welcome_u64(t, a, "rate-burst");
  /* Three quarters of the bucket on each session: within what each
   * session's own bucket holds after HELLO and AUTH took two tokens,
   * half a bucket more than one bucket of the user would hold. */
  size_t each = burst >= 8 ? (size_t)(3 * burst / 4)
                           : (burst > 2 ? (size_t)burst - 2 : 0);
  const char *pa = pc_uniq(t, "a"), *pb = pc_uniq(t, "b");
  size_t la, lb;

  PC_CHECK(t, burst <= 100000, "rate-burst %llu: too large to flood",
           (unsigned long long)burst);
  pc_note(t, "%zu PINGs at once on each of two sessions of one user, "
          "whose buckets hold %llu each", each, (unsigned long long)burst);
  for (size_t i = 0; i < each; i++)
    pc_send(a, "PING", NULL, "req", pc_printf(t, "%s%zu", pa, i), NULL);
  for (size_t i = 0; i < each; i++)
    pc_send(b, "PING", NULL, "req", pc_printf(t, "%s%zu", pb, i), NULL);
  la = count_limited(t, a, pa, each);
  lb = count_limited(t, b, pb, each);
  PC_CHECK(t, la + lb == 0, "%zu and %zu of %zu PINGs on two sessions of "
           "one user were refused with rate-limited, though each session's "
           "own bucket of %llu held them: the bucket is not per session "
           "(RATE-1)", la, lb, each, (unsigned long long)burst);
}

/* Sends `n` binary messages paced under the bucket; each must get
 * binary-message, not fatal. */
static void paced_binaries(pc_ctx *t, pc_conn *c, pcw_pace *p, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    pcw_pace_take(p);
    pc_send_binary(c, "PING\r\n\r\n", 8);
    pc_expect_error(c, "binary-message", 0, NULL, PC_WAIT);
  }
}

/* spec: RATE-1 WS-4 */
static void limited_not_malformed(pc_ctx *t)
{
  pc_conn *c = quiet(t, 0);
  flood fl = {0};
  pcw_pace p;
  const char *req = pc_uniq(t, "p");

  fl.sent = flood_size(t, c);
  /* Fewer than 16: a server that counted them as malformed would not
   * close yet, and is caught when the paced ones make 15 (a close
   * during the flood is allowed, section 17.2). */
  fl.extra = 10;
  flood_run(t, c, &fl);
  flood_bound(t, c, &fl);
  if (fl.closed) {
    pc_note(t, "the server closed the session for sending into an empty "
               "bucket (section 17.2 allows it); nothing left to check");
    return;
  }
  if (fl.extra_refused >= 16) {
    pc_note(t, "%zu binary messages found a token: nothing left to check "
               "here", fl.extra_refused);
    return;
  }
  pc_note(t, "%zu malformed so far; %zu more, paced, make 15: the "
          "rate-limited ones must not have counted (section 17.2)",
          fl.extra_refused, 15 - fl.extra_refused);
  wait_refill(t, c, (unsigned)(15 - fl.extra_refused + 2));
  pcw_pace_init(t, &p, 0);
  p.tokens = 0;
  paced_binaries(t, c, &p, 15 - fl.extra_refused);
  pcw_pace_take(&p);
  pc_send(c, "PING", NULL, "req", req, NULL);
  pc_expect(c, "PONG", "req", req, PC_WAIT);
}

/* ---- malformed messages --------------------------------------------- */

/* The 15 malformed messages of the WS-4 cases, one of each kind of fault
 * the server can meet in a message (none with invalid UTF-8, which a
 * WebSocket layer may refuse itself, WS-8). */
static const char **malformed_texts(pc_ctx *t, size_t *n)
{
  const pc_config *cfg = pc_config_of(t);
  static const char *fixed[] = {
    "",
    "PING\r\nnonce: x\r\n",
    "ping\r\n\r\n",
    "PING\r\nNonce: x\r\n\r\n",
    "PING\r\nnonce:x\r\n\r\n",
    "PING\r\n\r\nextra",
    "PING\r\ncontent-length: 0\r\n\r\nX",
    "PING\r\ncontent-length: 01\r\n\r\n",
    "PING\r\nnonce: a\r\nnonce: b\r\n\r\n",
    "PING\nnonce: x\n\n",
    "PING\r\ncontent-length: 5\r\n\r\nab",
    "PING\r\ncontent-length: 99999999999999999999\r\n\r\n",
  };
  const char **out = pc_alloc(t, 14 * sizeof *out);
  char *line = pc_alloc(t, cfg->max_header_line + 16);
  char *many = pc_alloc(t, 16 * (cfg->max_headers + 2) + 16);

  for (size_t i = 0; i < PC_COUNT(fixed); i++)
    out[i] = fixed[i];
  strcpy(line, "PING\r\nnonce: ");
  memset(line + 13, 'a', cfg->max_header_line);
  strcpy(line + 13 + cfg->max_header_line, "\r\n\r\n");
  out[12] = line;
  strcpy(many, "PING\r\n");
  for (uint64_t i = 0; i <= cfg->max_headers; i++)
    sprintf(many + strlen(many), "x-h%llu: v\r\n", (unsigned long long)i);
  strcat(many, "\r\n");
  out[13] = many;
  *n = 14;
  return out;
}

/* Waits for the ERROR of malformed message k (1-based) on c: a code
 * from 400 to 412 (section 2.5), not fatal. */
static void malformed_error(pc_ctx *t, pc_conn *c, size_t k)
{
  pc_frame *f = pc_expect(c, "ERROR", NULL, NULL, PC_WAIT);
  const char *code = pc_hdr(f, "code"), *fatal = pc_hdr(f, "fatal");
  const char *reason = pc_hdr(f, "reason");

  PC_CHECK(t, code != NULL && strlen(code) == 3 &&
                  strcmp(code, "400") >= 0 && strcmp(code, "412") <= 0,
           "malformed message %zu got ERROR %s %s, not a code from 400 to "
           "412", k, code ? code : "-", reason ? reason : "-");
  PC_CHECK(t, fatal != NULL && strcmp(fatal, "no") == 0,
           "malformed message %zu got a fatal ERROR %s: only the 16th "
           "ends the session (WS-4)", k, reason ? reason : "-");
}

/* Sends malformed message k (0-based; the last is binary) and waits for
 * its ERROR. */
static void one_malformed(pc_ctx *t, pc_conn *c, const char **texts,
                          size_t k)
{
  if (k == 14)
    pc_send_binary(c, "PING\r\n\r\n", 8);
  else
    pc_send_text(c, texts[k], strlen(texts[k]));
  malformed_error(t, c, k + 1);
}

/* Sends the 15 malformed messages, each answered, with a PING answered
 * between them (the count runs for the whole session). */
static void fifteen(pc_ctx *t, pc_conn *c, pcw_pace *p)
{
  size_t n;
  const char **texts = malformed_texts(t, &n);

  for (size_t k = 0; k < 15; k++) {
    const char *nonce = pc_printf(t, "k%zu", k);
    pcw_pace_take(p);
    one_malformed(t, c, texts, k);
    pcw_pace_take(p);
    pc_send(c, "PING", NULL, "nonce", nonce, NULL);
    pc_expect(c, "PONG", "nonce", nonce, PC_WAIT);
  }
}

/* spec: WS-2 WS-3 WS-4 */
static void fifteen_errors(pc_ctx *t)
{
  const int self[] = {0};
  const char *conv = pc_conv_group(t, 0, self, 1);
  pc_conn *c = quiet(t, 0);
  pcw_pace p;

  pcw_pace_init(t, &p, 2);
  fifteen(t, c, &p);
  pc_note(t, "15 malformed messages, each answered: the session must "
             "still act on frames");
  pcw_pace_take(&p);
  post(t, c, conv, "after fifteen");
}

/* spec: WS-4 */
static void sixteenth_error(pc_ctx *t)
{
  pc_conn *c = quiet(t, 0);
  pcw_pace p;
  pc_frame *f;

  pcw_pace_init(t, &p, 2);
  fifteen(t, c, &p);
  pc_note(t, "the 16th malformed message");
  pcw_pace_take(&p);
  pc_send_binary(c, "PING\r\n\r\n", 8);
  pc_note(t, "section 2.5: its own error may come first");
  f = pc_expect(c, "ERROR", "reason", "too-many-errors", PC_WAIT);
  PC_CHECK(t, pc_hdr_is(f, "code", "413") &&
                  pc_hdr_is(f, "fatal", "yes"),
           "too-many-errors must be code 413 with fatal: yes (section 13)");
  pc_expect_close(c, PC_WAIT);
}

/* ---- messages holding several frames or part of one ----------------- */

/* `count` PING frames with nonces "<prefix><i>", each with
 * content-length: 0 when `with_length`, in one string. */
static char *pings(pc_ctx *t, const char *prefix, size_t count,
                   bool with_length)
{
  char *s = "";

  for (size_t i = 0; i < count; i++)
    s = pc_printf(t, "%sPING\r\nnonce: %s%zu\r\n%s\r\n", s, prefix, i,
                  with_length ? "content-length: 0\r\n" : "");
  return s;
}

/* A SEND frame of `conv` with temp-id `tid`, req `req` and body "hello". */
static char *send_text(pc_ctx *t, const char *conv, const char *tid,
                       const char *req)
{
  return pc_printf(t, "SEND\r\nconv: %s\r\ntemp-id: %s\r\nreq: %s\r\n"
                   "content-length: 5\r\n\r\nhello", conv, tid, req);
}

/* Fails when a frame with header name: prefix... is among `got`. */
static void none_prefixed(pc_ctx *t, pc_frame **got, size_t n,
                          const char *name, const char *prefix,
                          const char *why)
{
  for (size_t i = 0; i < n; i++) {
    const char *v = pc_hdr(got[i], name);
    if (v != NULL && strncmp(v, prefix, strlen(prefix)) == 0)
      pc_fail(t, "%s %s: %s came: %s", got[i]->verb, name, v, why);
  }
}

/* spec: WS-2 FRAME-7 */
static void several_frames(pc_ctx *t)
{
  const int self[] = {0};
  const char *conv = pc_conv_group(t, 0, self, 1);
  pc_conn *c = quiet(t, 0);
  const char *tid = pc_uniq(t, "t"), *r1 = pc_uniq(t, "s");
  const char *pa = pc_uniq(t, "a"), *pb = pc_uniq(t, "b");
  const char *first = send_text(t, conv, tid, r1);
  const pc_frame *ack;
  size_t n;
  pc_frame **got;
  char *two;

  pc_send_textf(c, "%s", pings(t, pa, 40, true));
  pc_expect_error(c, "extra-data", 0, NULL, PC_WAIT);
  pc_send_textf(c, "%s", pings(t, pb, 40, false));
  pc_expect_error(c, "length-required", 0, NULL, PC_WAIT);
  two = pc_printf(t, "%s%s", first,
                  send_text(t, conv, pc_uniq(t, "t"), pc_uniq(t, "s")));
  pc_send_text(c, two, strlen(two));
  pc_expect_error(c, "extra-data", 0, NULL, PC_WAIT);
  got = pcw_collect(t, c, &n);
  none_prefixed(t, got, n, "nonce", pa, "a frame of a refused message "
                "was acted on (WS-2)");
  none_prefixed(t, got, n, "nonce", pb, "a frame of a refused message "
                "was acted on (WS-2)");
  PC_CHECK(t, pcw_find(got, n, "ACK", NULL, NULL) == NULL,
           "a SEND of a refused message was acknowledged (WS-2)");
  pc_note(t, "the first SEND again, alone: nothing was stored, so it is "
             "the conversation's first message");
  pc_send_text(c, first, strlen(first));
  ack = pc_expect(c, "ACK", "req", r1, PC_WAIT);
  PC_CHECK(t, pc_hdr_is(ack, "seq", "1"),
           "the SEND got seq %s: a SEND of the refused message was stored",
           pc_hdr_show(ack, "seq"));
}

/* spec: WS-2 FRAME-7 */
static void half_frames(pc_ctx *t)
{
  const int self[] = {0};
  const char *conv = pc_conv_group(t, 0, self, 1);
  pc_conn *c = quiet(t, 0);
  const char *req = pc_uniq(t, "s");
  const char *whole = send_text(t, conv, pc_uniq(t, "t"), req);
  size_t cut = (size_t)(strstr(whole, "temp-id") - whole) + 3;
  size_t n;
  pc_frame **got;
  const pc_frame *ack;
  pcw_pace p;

  pcw_pace_init(t, &p, 2);
  pc_note(t, "a SEND sent as two messages, cut inside its temp-id line, "
             "seven times: the server must not join them");
  for (int i = 0; i < 7; i++) {
    pcw_pace_take(&p);
    pc_send_text(c, whole, cut);
    pc_expect_error(c, "truncated-frame", 0, NULL, PC_WAIT);
    pcw_pace_take(&p);
    pc_send_text(c, whole + cut, strlen(whole) - cut);
    malformed_error(t, c, (size_t)(2 * i + 2));
  }
  got = pcw_collect(t, c, &n);
  PC_CHECK(t, pcw_find(got, n, NULL, "req", req) == NULL,
           "a SEND sent in halves was answered: the halves were joined");
  pc_send_text(c, whole, strlen(whole));
  ack = pc_expect(c, "ACK", "req", req, PC_WAIT);
  PC_CHECK(t, pc_hdr_is(ack, "seq", "1"),
           "the whole SEND got seq %s: a joined half was stored",
           pc_hdr_show(ack, "seq"));
}

/* A masked WebSocket text frame (RFC 6455 5.2) holding `len` octets,
 * final when `fin`. Returns its length. */
static size_t ws_frame(pc_ctx *t, const char *payload, size_t len, bool fin,
                       uint8_t **out)
{
  static const uint8_t mask[4] = {0x5a, 0x13, 0xc7, 0x2e};
  uint8_t *f = pc_alloc(t, len + 14);
  size_t h = 2;

  f[0] = (uint8_t)((fin ? 0x80 : 0x00) | 0x01);
  if (len < 126) {
    f[1] = (uint8_t)(0x80 | len);
  } else {
    f[1] = 0x80 | 126;
    f[2] = (uint8_t)(len >> 8);
    f[3] = (uint8_t)len;
    h = 4;
  }
  memcpy(f + h, mask, 4);
  for (size_t i = 0; i < len; i++)
    f[h + 4 + i] = (uint8_t)payload[i] ^ mask[i % 4];
  *out = f;
  return h + 4 + len;
}

/* spec: WS-1 HB-3 SEND-1 */
static void split_writes(pc_ctx *t)
{
  const int self[] = {0};
  const char *conv = pc_conv_group(t, 0, self, 1);
  pc_conn *c = quiet(t, 0);
  const char *nonce = pc_uniq(t, "n"), *req = pc_uniq(t, "s");
  const char *ping = pc_printf(t, "PING\r\nnonce: %s\r\n\r\n", nonce);
  const char *send = send_text(t, conv, pc_uniq(t, "t"), req);
  uint8_t *raw;
  size_t len = ws_frame(t, ping, strlen(ping), true, &raw);

  pc_note(t, "a PING in one WebSocket frame written one octet at a time");
  for (size_t i = 0; i < len; i++)
    pc_send_raw(c, raw + i, 1);
  pc_expect(c, "PONG", "nonce", nonce, PC_WAIT);
  pc_note(t, "half a WebSocket frame; the server must wait for the rest");
  nonce = pc_uniq(t, "n");
  ping = pc_printf(t, "PING\r\nnonce: %s\r\n\r\n", nonce);
  len = ws_frame(t, ping, strlen(ping), true, &raw);
  pc_send_raw(c, raw, len / 2);
  pc_expect_none(c, "PONG", 100);
  pc_expect_none(c, "ERROR", 1);
  pc_send_raw(c, raw + len / 2, len - len / 2);
  pc_expect(c, "PONG", "nonce", nonce, PC_WAIT);
  pc_note(t, "a SEND as one text message in one-octet fragments");
  pc_send_fragmented(c, send, strlen(send), strlen(send));
  pc_expect(c, "ACK", "req", req, PC_WAIT);
}

/* ---- oversized messages ---------------------------------------------- */

/* A text message of `size` octets whose first fault, if it were read,
 * would be a header line past its limit. */
static char *huge_text(pc_ctx *t, size_t size)
{
  char *s = pc_alloc(t, size + 1);

  memset(s, 'a', size);
  memcpy(s, "PING\r\nnonce: ", 13);
  return s;
}

/* spec: WS-7 FRAME-2 */
static void huge_message(pc_ctx *t)
{
  size_t size = 1024 * 1024;
  pc_conn *c = quiet(t, 0), *again;
  char *text = huge_text(t, size);
  const char *n1 = pc_uniq(t, "n"), *n2 = pc_uniq(t, "n");
  const char *n3 = pc_uniq(t, "n");

  PC_CHECK(t, size > 4 * pc_config_of(t)->max_frame,
           "max-frame %llu: the case cannot go far past it",
           (unsigned long long)pc_config_of(t)->max_frame);
  pc_note(t, "a text message of 1 MiB in one WebSocket frame");
  pc_send_text(c, text, size);
  pc_expect_error(c, "frame-too-large", 0, NULL, PC_WAIT);
  pc_send(c, "PING", NULL, "nonce", n1, NULL);
  pc_expect(c, "PONG", "nonce", n1, PC_WAIT);
  pc_note(t, "the same in 256 fragments of 4 KiB");
  pc_send_fragmented(c, text, size, 256);
  pc_expect_error(c, "frame-too-large", 0, NULL, PC_WAIT);
  pc_send(c, "PING", NULL, "nonce", n2, NULL);
  pc_expect(c, "PONG", "nonce", n2, PC_WAIT);
  pc_note(t, "and a new session is served");
  again = quiet(t, 1);
  pc_send(again, "PING", NULL, "nonce", n3, NULL);
  pc_expect(again, "PONG", "nonce", n3, PC_WAIT);
}

/* ---- slow readers and vanished peers -------------------------------- */

/* What a slow reader must get once it reads again: the live MSG frames
 * of the conversation in seq order (1 up), and for each HISTORY request
 * (after 0, so its page does not depend on when it is read) its `count`
 * MSG frames in ascending seq from 1, then its PAGE. */
typedef struct slow_want {
  const char *conv;
  const char **reqs;        /* HISTORY reqs */
  size_t nreq;
  uint64_t count;           /* messages per page */
  uint64_t live;            /* live MSG frames to come */
  uint64_t next_live;       /* seq of the next live MSG */
  uint64_t *next_seq;       /* per req: seq of its next MSG */
  bool *paged;              /* per req: its PAGE came */
  size_t pages;
} slow_want;

/* Takes one frame the slow reader got; fails when it breaks the order. */
static void slow_take(pc_ctx *t, slow_want *w, const pc_frame *f)
{
  const char *req = pc_hdr(f, "req"), *conv = pc_hdr(f, "conv");
  size_t i;

  if (conv == NULL || strcmp(conv, w->conv) != 0)
    return;
  if (req == NULL) {
    if (strcmp(f->verb, "MSG") != 0)
      return;
    PC_CHECK(t, pc_hdr_u64(t, f, "seq") == w->next_live,
             "live MSG seq %s came where seq %llu was due (DELIV-2)",
             pc_hdr_show(f, "seq"), (unsigned long long)w->next_live);
    w->next_live++;
    return;
  }
  for (i = 0; i < w->nreq && strcmp(w->reqs[i], req) != 0; i++)
    ;
  PC_CHECK(t, i < w->nreq, "a frame with req %s, which was not sent", req);
  PC_CHECK(t, !w->paged[i], "%s with req %s after its PAGE", f->verb, req);
  if (strcmp(f->verb, "PAGE") == 0) {
    PC_CHECK(t, w->next_seq[i] == w->count + 1 &&
                    pc_hdr_u64(t, f, "count") == w->count,
             "HISTORY %s: PAGE with count %s after %llu MSG frames, "
             "expected %llu", req, pc_hdr_show(f, "count"),
             (unsigned long long)(w->next_seq[i] - 1),
             (unsigned long long)w->count);
    w->paged[i] = true;
    w->pages++;
    return;
  }
  PC_CHECK(t, strcmp(f->verb, "MSG") == 0 &&
                  pc_hdr_u64(t, f, "seq") == w->next_seq[i],
           "HISTORY %s: %s seq %s where MSG seq %llu was due", req, f->verb,
           pc_hdr_show(f, "seq"),
           (unsigned long long)w->next_seq[i]);
  w->next_seq[i]++;
}

/* Reads the slow reader to the end of what it is owed, or to its close.
 * Returns true when it got everything. */
static bool slow_drain(pc_ctx *t, pc_conn *c, slow_want *w)
{
  pc_frame *f;

  while (w->pages < w->nreq || w->next_live <= w->live) {
    f = pc_recv(c, PC_WAIT);
    if (f == NULL) {
      PC_CHECK(t, pc_closed(c), "the slow reader resumed reading and got "
               "nothing more within the wait, with %zu of %zu pages and "
               "%llu of %llu live messages still owed", w->nreq - w->pages,
               w->nreq, (unsigned long long)(w->live - w->next_live + 1),
               (unsigned long long)w->live);
      return false;
    }
    slow_take(t, w, f);
  }
  return true;
}

/* Fills *w for `conv`: few messages and many pages, since the live
 * copies of the messages also reach other cases' sessions of the two
 * accounts and the pages only the slow session. */
static void slow_want_init(pc_ctx *t, slow_want *w, const char *conv,
                           size_t probes)
{
  memset(w, 0, sizeof *w);
  w->conv = conv;
  w->count = 4;
  w->nreq = 32;
  w->live = w->count + probes;
  w->next_live = 1;
  w->reqs = pc_alloc(t, w->nreq * sizeof *w->reqs);
  w->next_seq = pc_alloc(t, w->nreq * sizeof *w->next_seq);
  w->paged = pc_alloc(t, w->nreq);
}

/* spec: SEC-15 DELIV-1 DELIV-2 */
static void slow_reader(pc_ctx *t)
{
  const int member[] = {1};
  const char *conv = pc_conv_group(t, 0, member, 1);
  pc_conn *a = quiet(t, 0), *slow = quiet(t, 1), *fast = quiet(t, 1);
  size_t body_len = (size_t)pc_config_of(t)->max_body;
  char *body = pc_alloc(t, body_len + 1);
  slow_want w;
  pcw_pace pa, ps;
  const size_t probes = 3;

  memset(body, 'z', body_len);
  pcw_pace_init(t, &pa, 2);
  pcw_pace_init(t, &ps, 2);
  pc_pause_reading(slow, true);
  slow_want_init(t, &w, conv, probes);
  pc_note(t, "%llu messages of %zu octets, each delivered to a session "
             "that does not read", (unsigned long long)w.count, body_len);
  for (uint64_t i = 0; i < w.count; i++) {
    pcw_pace_take(&pa);
    still_served(t, a, fast, conv, body);
  }
  pc_note(t, "the slow session asks for the whole history %zu times "
             "(about %zu MiB owed to it), still not reading",
          w.nreq, (size_t)(w.nreq * w.count * body_len >> 20));
  for (size_t i = 0; i < w.nreq; i++) {
    w.reqs[i] = pc_uniq(t, "h");
    w.next_seq[i] = 1;
    pcw_pace_take(&ps);
    pc_send(slow, "HISTORY", NULL, "conv", conv, "after", "0", "limit",
            pc_printf(t, "%llu", (unsigned long long)w.count), "req",
            w.reqs[i], NULL);
  }
  pc_note(t, "meanwhile the other sessions must be served");
  for (size_t i = 0; i < probes; i++) {
    pcw_pace_take(&pa);
    still_served(t, a, fast, conv, "probe");
  }
  pc_pause_reading(slow, false);
  if (!slow_drain(t, slow, &w))
    pc_note(t, "the server dropped the slow reader (code %d), which "
               "SEC-15 allows", pc_expect_close(slow, PC_WAIT));
}

/* spec: DELIV-1 */
static void vanished_peer(pc_ctx *t)
{
  const int member[] = {1};
  const char *conv = pc_conv_group(t, 0, member, 1);
  pc_conn *a = quiet(t, 0), *gone = quiet(t, 1), *b = quiet(t, 1);

  still_served(t, a, b, conv, "before");
  pc_note(t, "one of the member's sessions vanishes with a message unread");
  pc_drop(gone);
  still_served(t, a, b, conv, "after 1");
  still_served(t, a, b, conv, "after 2");
}

/* spec: HB-4 DELIV-1 */
static void silent_peer(pc_ctx *t)
{
  const int member[] = {1};
  const char *conv = pc_conv_group(t, 0, member, 1);
  pc_session_opts o = {0};
  pc_conn *a = quiet(t, 0), *b = quiet(t, 1), *silent;
  uint64_t hb, since, due, now;

  o.caps = "";
  o.heartbeat_ms = pc_config_of(t)->heartbeat_min_ms;
  if (o.heartbeat_ms == 0)
    o.heartbeat_ms = 1;
  silent = pc_session(t, 1, &o);
  since = pc_now_ms();
  hb = welcome_u64(t, silent, "heartbeat");
  pc_note(t, "a session with a %llu ms heartbeat goes silent and stops "
          "reading", (unsigned long long)hb);
  pc_pause_reading(silent, true);
  still_served(t, a, b, conv, "while one is silent");
  still_served(t, a, b, conv, "still silent");
  pc_pause_reading(silent, false);
  due = since + 2 * hb + pc_wait_ms(t);
  now = pc_now_ms();
  pc_expect_error(silent, "timeout", 1, NULL,
                  (unsigned)(due > now ? due - now : 1));
  pc_expect_close(silent, PC_WAIT);
  still_served(t, a, b, conv, "after the silent one was closed");
}

/* spec: LIFE-3 DELIV-1 */
static void idle_connections(pc_ctx *t)
{
  const int member[] = {1};
  const char *conv = pc_conv_group(t, 0, member, 1);
  pc_conn *idle[IDLE_OPEN + IDLE_NEGOTIATED], *a, *b;
  uint64_t opened = pc_now_ms();

  for (size_t i = 0; i < PC_COUNT(idle); i++) {
    idle[i] = pc_ws_open(t, pc_printf(t, "idle-%zu", i), NULL);
    if (i >= IDLE_OPEN) {
      pc_send(idle[i], "HELLO", NULL, "versions", "1", "heartbeat",
              "999999999", NULL);
      pc_expect(idle[i], "WELCOME", NULL, NULL, PC_WAIT);
    }
  }
  pc_note(t, "%d connections idle (%d without HELLO, %d after WELCOME); "
             "a working pair of sessions beside them",
          IDLE_OPEN + IDLE_NEGOTIATED, IDLE_OPEN, IDLE_NEGOTIATED);
  a = quiet(t, 0);
  b = quiet(t, 1);
  still_served(t, a, b, conv, "among idle connections");
  still_served(t, b, a, conv, "and back");
  for (size_t i = 0; i < PC_COUNT(idle); i++) {
    uint64_t now = pc_now_ms(), due = opened + READY_WITHIN_MS;
    unsigned left = (unsigned)(due > now ? due - now : 0) + pc_wait_ms(t);
    pc_expect_error(idle[i], "timeout", 1, NULL, left);
    pc_expect_close(idle[i], PC_WAIT);
  }
  still_served(t, a, b, conv, "after the idle ones were closed");
}

/* ---- HTTP ----------------------------------------------------------- */

/* One HTTP request of a flood round; fails unless its answer is the
 * expected status or 429 rate-limited (section 17.2). */
static void http_one(pc_ctx *t, int k)
{
  static const char bad_json[] = "{\"kind\": ";
  pc_http *r;
  int want;

  switch (k % 4) {
  case 0:
    r = pc_http_request(t, "GET", "/v1/config", NULL, NULL, NULL, 0);
    want = 200;
    break;
  case 1:
    r = pc_http_request(t, "GET", "/v1/conversations", pc_token(t, 2), NULL,
                        NULL, 0);
    want = 200;
    break;
  case 2:
    r = pc_http_request(t, "GET", "/v1/no-such-path", NULL, NULL, NULL, 0);
    want = 404;
    break;
  default:
    r = pc_http_request(t, "POST", "/v1/conversations", pc_token(t, 2),
                        "application/json", bad_json, sizeof bad_json - 1);
    want = 400;
    break;
  }
  if (r->status == 429)
    pc_http_expect(t, r, 429, "rate-limited");
  else
    pc_http_expect(t, r, want, NULL);
}

/* spec: DELIV-1 HTTP-2 */
static void http_flood(pc_ctx *t)
{
  const int member[] = {1};
  const char *conv = pc_conv_group(t, 0, member, 1);
  pc_conn *a = quiet(t, 0), *b = quiet(t, 1);

  pc_note(t, "10 rounds of 16 HTTP requests, a message between rounds");
  for (int round = 0; round < 10; round++) {
    for (int k = 0; k < 16; k++)
      http_one(t, k);
    still_served(t, a, b, conv, pc_printf(t, "round %d", round));
  }
}

static const pc_case cases[] = {
  {"abuse.idle-connections",
   "Many connections that never reach READY do not hold up a working "
   "session, and each is closed with timeout within 10 seconds.",
   "LIFE-3 DELIV-1", PC_MUST, NULL, idle_connections},
  {"abuse.rate-flood",
   "A flood past the session's bucket gets rate-limited, with the req of "
   "each refused frame and not fatal, for what the stated bucket and rate "
   "do not cover, and the session serves again once it refills.",
   "RATE-1 RATE-3", PC_MUST, NULL, rate_flood},
  {"abuse.rate-per-session",
   "Each session has a bucket of its own: two sessions of one user can "
   "each send three quarters of rate-burst at once without a refusal.",
   "RATE-1", PC_MUST, NULL, rate_per_session},
  {"abuse.rate-limited-not-malformed",
   "Binary messages refused as rate-limited do not count toward the 16 "
   "malformed messages that end a session.",
   "RATE-1 WS-4", PC_MUST, NULL, limited_not_malformed},
  {"abuse.fifteen-errors",
   "Fifteen malformed or binary messages are each answered with their "
   "error, not fatal, and the session goes on acting on frames.",
   "WS-2 WS-3 WS-4", PC_MUST, NULL, fifteen_errors},
  {"abuse.sixteenth-error",
   "The sixteenth malformed message of a session, valid frames between "
   "them notwithstanding, ends it with too-many-errors.",
   "WS-4", PC_SHOULD, NULL, sixteenth_error},
  {"abuse.several-frames",
   "A WebSocket message holding many frames is refused whole with "
   "extra-data or length-required, and none of its frames is acted on.",
   "WS-2 FRAME-7", PC_MUST, NULL, several_frames},
  {"abuse.half-frames",
   "A frame sent in two messages, again and again, gets an error for each "
   "half and is never joined or stored.",
   "WS-2 FRAME-7", PC_MUST, NULL, half_frames},
  {"abuse.split-writes",
   "A message whose WebSocket frame arrives one octet per write, or split "
   "in two with a pause, or in one-octet fragments, is handled whole.",
   "WS-1 HB-3 SEND-1", PC_MUST, NULL, split_writes},
  {"abuse.huge-message",
   "A 1 MiB text message, in one frame or many fragments, gets "
   "frame-too-large, not fatal, and the server goes on serving.",
   "WS-7 FRAME-2", PC_MUST, NULL, huge_message},
  {"abuse.slow-reader",
   "A session that stops reading while megabytes are owed to it does not "
   "hold up other sessions, and later gets all of it in order or is "
   "dropped.",
   "SEC-15 DELIV-1 DELIV-2", PC_MUST, NULL, slow_reader},
  {"abuse.vanished-peer",
   "A session whose TCP connection disappears without a close does not "
   "keep delivery to the member's other sessions from working.",
   "DELIV-1", PC_MUST, NULL, vanished_peer},
  {"abuse.silent-peer",
   "A session that goes silent and stops reading does not hold up "
   "delivery to others, and is closed with timeout after two heartbeat "
   "intervals.",
   "HB-4 DELIV-1", PC_MUST, NULL, silent_peer},
  {"abuse.http-flood",
   "A flood of HTTP requests is answered, or refused with 429, while "
   "WebSocket sessions beside it keep being served.",
   "DELIV-1 HTTP-2", PC_MUST, NULL, http_flood},
};

const pc_suite pc_suite_abuse = {"abuse", false, cases, PC_COUNT(cases)};
