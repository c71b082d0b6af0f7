/* Conformance cases: calls (spec section 19, capability `calls`).
 *
 * A call lives in one conversation. The caller is in it from CALL on;
 * the server rings the other members' sessions that negotiated `calls`,
 * and whoever JOINs becomes a participant, one (user, device) each.
 * Participants signal each other through the server, which relays OFFER,
 * ANSWER, CANDIDATE and END-OF-CANDIDATES to the one participant a frame
 * addresses (`to`, `to-device`), with the sender (`from`, `device`) put
 * in and the address taken out, and MEDIA-STATE to every other
 * participant. What a server checks before it relays (the SDP profile,
 * the candidate grammar, who may address whom, the call's state) is what
 * most cases here are about: a malformed description or candidate never
 * reaches a peer, and no refusal ends the session.
 *
 * Timers: a call rings for the ring timeout and a participant whose
 * connection dropped is waited for during the call grace. The cases take
 * both from pc_config (GET /v1/config when the target states them, the
 * values the runner gave the reference server it started, or the spec's
 * defaults), so the two cases that wait them out take seconds against
 * the self-started server and 30 and 40 s against the spec's timers.
 *
 * Accounts 0, 1 and 2; every case makes its own group conversation, so
 * the RINGs of calls of other cases that reach the same accounts carry
 * another conv and another call id, and every wait filters by them. The
 * one exception is the decline of a direct call: a direct conversation
 * is one per pair and shared by every run, so that case runs alone
 * (pcw_exclusive) and waits out a call an earlier run left in it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca_util.h"
#include "watch.h"

#define ALICE 0
#define BOB 1
#define CAROL 2

/* pcw_exclusive key of the cases that call in the direct conversation
 * of accounts 0 and 1, which every run shares. */
#define DIRECT_KEY 2

static const int member_1[] = {BOB};
static const int members_12[] = {BOB, CAROL};

/* ---- sessions and calls --------------------------------------------- */

/* A READY session of `user` that negotiated calls only (no relayed
 * typing or presence of other cases), on `device` (NULL: a new one). */
static pc_conn *call_session(pc_ctx *t, int user, const char *device)
{
  pc_session_opts o = {0};

  o.caps = "calls";
  o.device = device;
  return pc_session(t, user, &o);
}

/* Whether s is an `id` of spec 2.9 (1 to 64 of [A-Za-z0-9_-]). */
static bool is_id(const char *s)
{
  size_t n = s ? strlen(s) : 0;

  if (n == 0 || n > 64)
    return false;
  return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789_-") == n;
}

/* Waits for the answer to `req` on c and fails unless it is OK. */
static pc_frame *expect_ok(pc_ctx *t, pc_conn *c, const char *req,
                           const char *what)
{
  pc_frame *f = pc_expect_req(c, req, PC_WAIT);

  PC_CHECK(t, strcmp(f->verb, "OK") == 0, "%s: %s was answered with %s %s "
           "%s", pc_conn_label(c), what, f->verb, pc_hdr_show(f, "code"),
           pc_hdr_show(f, "reason"));
  return f;
}

/* Sends CALL for conv from c and returns the call id of its OK. */
static const char *call_start(pc_ctx *t, pc_conn *c, const char *conv)
{
  const char *req = pc_uniq(t, "cl");
  const char *call;
  pc_frame *ok;

  pc_send(c, "CALL", NULL, "conv", conv, "media", "audio", "req", req,
          NULL);
  ok = expect_ok(t, c, req, "CALL");
  call = pc_hdr_need(t, ok, "call");
  PC_CHECK(t, is_id(call), "the OK to CALL names call \"%s\", which is not "
           "an id (spec 2.9)", call);
  pc_note(t, "call %s in conversation %s", call, conv);
  return call;
}

/* The number of lines of a PARTICIPANTS body, each "USER DEVICE" and
 * CRLF (section 19.2, `participants`); fails the case on a malformed
 * body. */
static size_t participant_lines(pc_ctx *t, const pc_frame *p)
{
  const char *b = p->body ? p->body : "", *end = b + p->body_len;
  size_t n = 0;

  while (b < end) {
    const char *nl = memchr(b, '\n', (size_t)(end - b));
    const char *sp = memchr(b, ' ', (size_t)(end - b));
    PC_CHECK(t, nl != NULL && sp != NULL && sp > b && sp + 1 < nl - 1 &&
                    nl[-1] == '\r',
             "PARTICIPANTS body is not lines of \"USER DEVICE\" and CRLF: "
             "%.300s", p->body ? p->body : "");
    b = nl + 1;
    n++;
  }
  return n;
}

/* Sends JOIN for `call` from c (with rejoin: yes when `rejoin`), expects
 * OK and then PARTICIPANTS for the call, both carrying the JOIN's req
 * (CALL-4), with a count equal to its lines. Returns the PARTICIPANTS. */
static pc_frame *call_join(pc_ctx *t, pc_conn *c, const char *call,
                           bool rejoin)
{
  const char *req = pc_uniq(t, "jn");
  pc_frame *p;

  if (rejoin)
    pc_send(c, "JOIN", NULL, "call", call, "rejoin", "yes", "req", req,
            NULL);
  else
    pc_send(c, "JOIN", NULL, "call", call, "req", req, NULL);
  expect_ok(t, c, req, "JOIN");
  p = pc_expect(c, "PARTICIPANTS", "call", call, PC_WAIT);
  PC_CHECK(t, pc_hdr_is(p, "req", req), "%s: PARTICIPANTS has req %s, not "
           "the JOIN's %s", pc_conn_label(c), pc_hdr_show(p, "req"), req);
  PC_CHECK(t, pc_hdr_u64(t, p, "count") == participant_lines(t, p),
           "%s: PARTICIPANTS says count %s but lists %zu", pc_conn_label(c),
           pc_hdr_show(p, "count"), participant_lines(t, p));
  return p;
}

/* Whether PARTICIPANTS p lists `user` on the device of session `c`. */
static bool lists(pc_ctx *t, const pc_frame *p, const char *user,
                  const pc_conn *c)
{
  const char *b = p->body ? p->body : "";
  const char *line = pc_printf(t, "%s %s\r\n", user, pc_device(c));

  return strncmp(b, line, strlen(line)) == 0 ||
         strstr(b, pc_printf(t, "\n%s", line)) != NULL;
}

/* Waits on c for the RING of `call` in `conv`. */
static pc_frame *expect_ring(pc_ctx *t, pc_conn *c, const char *conv,
                             const char *call)
{
  pc_frame *f = pc_expect(c, "RING", "call", call, PC_WAIT);

  PC_CHECK(t, pc_hdr_is(f, "conv", conv), "%s: the RING of call %s names "
           "conv %s, not %s", pc_conn_label(c), call,
           pc_hdr_show(f, "conv"), conv);
  return f;
}

/* Waits on c for the CALL-END of `call` and checks its conv and reason. */
static void expect_end(pc_ctx *t, pc_conn *c, const char *conv,
                       const char *call, const char *reason, unsigned ms)
{
  pc_frame *f = pc_expect(c, "CALL-END", "call", call, ms);

  PC_CHECK(t, pc_hdr_is(f, "conv", conv), "%s: CALL-END names conv %s, "
           "not %s", pc_conn_label(c), pc_hdr_show(f, "conv"), conv);
  PC_CHECK(t, pc_hdr_is(f, "reason", reason), "%s: CALL-END with reason "
           "%s, expected %s", pc_conn_label(c), pc_hdr_show(f, "reason"),
           reason);
}

/* Skips the case unless `caller`'s session negotiated calls, starts an
 * audio call in conv from it and expects the RING on `callee`; returns
 * the call's id. */
static const char *call_ringing(pc_ctx *t, pc_conn *caller, pc_conn *callee,
                                const char *conv)
{
  const char *call;

  pcw_need_cap(t, caller, "calls");
  call = call_start(t, caller, conv);
  expect_ring(t, callee, conv, call);
  return call;
}

/* A call of n participants, p[i] a session of account i, in a new group
 * of accounts 0 .. members-1: p[0] calls, then each other one gets the
 * RING, joins, and every earlier participant sees its JOINED. */
typedef struct call_set {
  const char *conv;
  const char *call;
  pc_conn *p[3];
  size_t n;
} call_set;

static void call_set_up(pc_ctx *t, call_set *s, size_t n, size_t members)
{
  memset(s, 0, sizeof *s);
  s->n = n;
  s->conv = pc_conv_group(t, ALICE, members_12, members - 1);
  for (size_t i = 0; i < n; i++)
    s->p[i] = call_session(t, (int)i, NULL);
  pcw_need_cap(t, s->p[0], "calls");
  s->call = call_start(t, s->p[0], s->conv);
  for (size_t i = 1; i < n; i++) {
    expect_ring(t, s->p[i], s->conv, s->call);
    call_join(t, s->p[i], s->call, false);
    for (size_t k = 0; k < i; k++) {
      pc_frame *j = pc_expect(s->p[k], "JOINED", "call", s->call, PC_WAIT);
      PC_CHECK(t, pc_hdr_is(j, "user", pc_user(t, (int)i)) &&
                      pc_hdr_is(j, "device", pc_device(s->p[i])),
               "%s: JOINED names %s %s, not the joiner %s %s",
               pc_conn_label(s->p[k]), pc_hdr_show(j, "user"),
               pc_hdr_show(j, "device"), pc_user(t, (int)i),
               pc_device(s->p[i]));
    }
  }
}

/* ---- SDP and candidates --------------------------------------------- */

#define FP_SHA256                                                          \
  "0B:5D:9E:22:41:C7:08:F3:6A:1E:94:B2:7C:D0:55:38:"                       \
  "E1:AF:62:09:3B:CC:74:10:8D:F5:2E:97:46:B8:03:6F"

/* An SDP offer of the profile of section 19 (one audio section, Opus,
 * ICE, DTLS-SRTP, rtcp-mux), with ice credentials made from `tag` (a
 * letter) so that an ICE restart's description differs. `drop` names a
 * line prefix to leave out and `swap` a line to put in its place (both
 * NULL: the whole offer). */
static char *sdp_offer(pc_ctx *t, char tag, const char *drop,
                       const char *swap)
{
  const char *lines[] = {
    "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
    "a=group:BUNDLE 0", "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "c=IN IP4 0.0.0.0", "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=ice-ufrag:Fx7X", "a=ice-pwd:aR9s7YbQpT2wK4eZ1cV8nX",
    "a=fingerprint:sha-256 " FP_SHA256, "a=setup:actpass", "a=mid:0",
    "a=rtcp-mux", "a=sendrecv"};
  char *out = pc_strdup(t, "");

  for (size_t i = 0; i < PC_COUNT(lines); i++) {
    const char *l = lines[i];
    if (drop && strncmp(l, drop, strlen(drop)) == 0) {
      if (!swap)
        continue;
      l = swap;
    }
    out = pc_printf(t, "%s%s\r\n", out, l);
  }
  char *u = strstr(out, "Fx7X"), *w = strstr(out, "aR9s7Y");
  if (u)
    u[3] = tag;
  if (w)
    w[5] = tag;
  return out;
}

/* An offer of exactly `size` octets: the profile's offer with attribute
 * lines a receiver ignores (att-field "x-pad") added at its end. */
static char *sdp_of_size(pc_ctx *t, size_t size)
{
  char *base = sdp_offer(t, 'P', NULL, NULL);
  size_t have = strlen(base), line = 0;
  char *out = pc_alloc(t, size + 1);

  PC_CHECK(t, size >= have + 11, "internal: SDP size %zu too small", size);
  memcpy(out, base, have);
  while (have < size) {
    size_t room = size - have, len = room >= 200 ? 100 : room;
    /* "a=x-pad:" + filler + CRLF; the last line takes what is left */
    memcpy(out + have, "a=x-pad:", 8);
    memset(out + have + 8, 'a' + (int)(line++ % 26), len - 10);
    memcpy(out + have + len - 2, "\r\n", 2);
    have += len;
  }
  out[size] = '\0';
  return out;
}

#define CANDIDATE_OK "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host"

/* ---- relays --------------------------------------------------------- */

/* Fails unless f, received by `to`, is the relay of a frame that account
 * `user` sent from session `from` in `call` with `req`: the call, from
 * and device of the sender, no to, to-device or req (section 19.2), and
 * the body octet for octet. */
static void check_relay(pc_ctx *t, const pc_conn *to, const pc_frame *f,
                        const char *call, int user, const pc_conn *from,
                        const char *req, const char *body, size_t len)
{
  const char *who = pc_conn_label(to);

  PC_CHECK(t, pc_hdr_is(f, "call", call), "%s: relayed %s names call %s",
           who, f->verb, pc_hdr_show(f, "call"));
  PC_CHECK(t, pc_hdr_is(f, "from", pc_user(t, user)), "%s: relayed %s has "
           "from %s, not the sender %s", who, f->verb,
           pc_hdr_show(f, "from"), pc_user(t, user));
  PC_CHECK(t, pc_hdr_is(f, "device", pc_device(from)), "%s: relayed %s has "
           "device %s, not the sender's %s", who, f->verb,
           pc_hdr_show(f, "device"), pc_device(from));
  PC_CHECK(t, !pc_hdr(f, "to") && !pc_hdr(f, "to-device"), "%s: relayed "
           "%s still carries to/to-device", who, f->verb);
  PC_CHECK(t, !pc_hdr(f, "req"), "%s: relayed %s carries req %s (the "
           "sender's was %s)", who, f->verb, pc_hdr_show(f, "req"),
           pc_show(req));
  PC_CHECK(t, f->body_len == len && memcmp(f->body, body, len) == 0,
           "%s: relayed %s body differs from what was sent (%zu octets "
           "sent, %zu came)", who, f->verb, len, f->body_len);
}

/* Sends an SDP frame (OFFER or ANSWER) from c to participant `to` of
 * account `user`, with content-type `ctype` (NULL: none) and `extra`
 * header `ename: evalue` (ename NULL: none). Returns the req. */
static const char *send_sdp(pc_ctx *t, pc_conn *c, const char *verb,
                            const char *call, int user, const pc_conn *to,
                            const char *ctype, const char *sdp, size_t len,
                            const char *ename, const char *evalue)
{
  const char *req = pc_uniq(t, "sd");
  const char *u = pc_user(t, user), *d = pc_device(to);

  if (ctype && ename)
    pc_send_n(c, verb, sdp, len, "call", call, "to", u, "to-device", d,
              "content-type", ctype, ename, evalue, "req", req, NULL);
  else if (ctype)
    pc_send_n(c, verb, sdp, len, "call", call, "to", u, "to-device", d,
              "content-type", ctype, "req", req, NULL);
  else
    pc_send_n(c, verb, sdp, len, "call", call, "to", u, "to-device", d,
              "req", req, NULL);
  return req;
}

/* Sends CANDIDATE with `cand` from c to participant `to` of `user`. */
static const char *send_cand(pc_ctx *t, pc_conn *c, const char *call,
                             int user, const pc_conn *to, const char *cand)
{
  const char *req = pc_uniq(t, "cd");

  pc_send(c, "CANDIDATE", NULL, "call", call, "to", pc_user(t, user),
          "to-device", pc_device(to), "candidate", cand, "mid", "0", "req",
          req, NULL);
  return req;
}

/* OFFER from p[from] to p[to] of set s, answered OK and relayed to p[to]
 * only (a third participant gets nothing). Returns the offer sent. */
static char *offer_between(pc_ctx *t, call_set *s, int from, int to,
                           char tag)
{
  char *sdp = sdp_offer(t, tag, NULL, NULL);
  const char *req = send_sdp(t, s->p[from], "OFFER", s->call, to, s->p[to],
                             "application/sdp", sdp, strlen(sdp), NULL,
                             NULL);
  pc_frame *f;

  expect_ok(t, s->p[from], req, "OFFER");
  f = pc_expect(s->p[to], "OFFER", "call", s->call, PC_WAIT);
  check_relay(t, s->p[to], f, s->call, from, s->p[from], req, sdp,
              strlen(sdp));
  return sdp;
}

/* The session goes on after a refusal: PING gets its PONG. */
static void still_works(pc_ctx *t, pc_conn *c)
{
  ca_pong(t, c);
}

/* ---- the call and its ringing --------------------------------------- */

/* spec: CALL-2 CALL-3 */
static void call_answered_ok(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, ALICE, member_1, 1);
  const char *conv2 = pc_conv_group(t, ALICE, member_1, 1);
  pc_conn *a = call_session(t, ALICE, NULL);
  pc_conn *b = call_session(t, BOB, NULL);
  const char *call, *video, *req = pc_uniq(t, "cv");
  pc_frame *ring;

  call = call_ringing(t, a, b, conv);
  call_join(t, b, call, false);
  pc_note(t, "a second call, with media video, in another conversation");
  pc_send(a, "CALL", NULL, "conv", conv2, "media", "video", "req", req,
          NULL);
  video = pc_hdr_need(t, expect_ok(t, a, req, "CALL with media video"),
                      "call");
  PC_CHECK(t, is_id(video) && strcmp(video, call) != 0, "the second "
           "call's id %s is not a new id (the first was %s)", video, call);
  ring = expect_ring(t, b, conv2, video);
  PC_CHECK(t, pc_hdr_is(ring, "media", "video"), "the RING of a video "
           "call says media %s", pc_hdr_show(ring, "media"));
}

/* Fails unless RING f of `call` names the caller and its device, the
 * media and a ts. */
static void check_ring(pc_ctx *t, const pc_conn *to, const pc_frame *f,
                       const pc_conn *caller)
{
  PC_CHECK(t, pc_hdr_is(f, "from", pc_user(t, ALICE)) &&
                  pc_hdr_is(f, "device", pc_device(caller)),
           "%s: RING names %s %s, not the caller %s %s", pc_conn_label(to),
           pc_hdr_show(f, "from"), pc_hdr_show(f, "device"),
           pc_user(t, ALICE), pc_device(caller));
  PC_CHECK(t, pc_hdr_is(f, "media", "audio"), "%s: RING with media %s, "
           "the CALL asked for audio", pc_conn_label(to),
           pc_hdr_show(f, "media"));
  pc_hdr_u64(t, f, "ts");
}

/* spec: CALL-1 CALL-3 */
static void ring_reaches_members(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, ALICE, member_1, 1);
  pc_conn *a = call_session(t, ALICE, NULL);
  pc_conn *b1 = call_session(t, BOB, NULL);
  pc_conn *b2 = call_session(t, BOB, NULL);
  pc_session_opts plain = {0};
  pc_conn *bx, *out = call_session(t, CAROL, NULL);
  const char *call;

  plain.caps = "receipts";
  bx = pc_session(t, BOB, &plain);
  pcw_need_cap(t, a, "calls");
  PC_CHECK(t, !pcw_has_cap(bx, "calls"), "WELCOME lists calls for a "
           "session whose HELLO did not offer it (section 4.3)");
  call = call_start(t, a, conv);
  check_ring(t, b1, expect_ring(t, b1, conv, call), a);
  check_ring(t, b2, expect_ring(t, b2, conv, call), a);
  pcw_none(t, bx, "RING", "call", call, "a session that did not "
           "negotiate calls got the RING");
  pcw_none(t, out, "RING", "call", call, "a session of a user who is no "
           "member of the conversation got the RING");
  pcw_none(t, a, "RING", "call", call, "the caller's own session got the "
           "RING of its call");
}

/* spec: CALL-3 */
static void ring_late_session(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, ALICE, member_1, 1);
  pc_conn *a = call_session(t, ALICE, NULL);
  pc_conn *b1 = call_session(t, BOB, NULL);
  pc_conn *b2;
  const char *call;

  call = call_ringing(t, a, b1, conv);
  pc_note(t, "bob signs in on another device while the call rings");
  b2 = call_session(t, BOB, NULL);
  check_ring(t, b2, expect_ring(t, b2, conv, call), a);
}

/* spec: CALL-10 */
static void ring_stop_elsewhere(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, ALICE, member_1, 1);
  pc_conn *a = call_session(t, ALICE, NULL);
  pc_conn *b1 = call_session(t, BOB, NULL);
  pc_conn *b2 = call_session(t, BOB, NULL);
  const char *call;
  pc_frame *f;

  call = call_ringing(t, a, b1, conv);
  expect_ring(t, b2, conv, call);
  call_join(t, b1, call, false);
  f = pc_expect(b2, "RING-STOP", "call", call, PC_WAIT);
  PC_CHECK(t, pc_hdr_is(f, "reason", "answered-elsewhere"), "RING-STOP "
           "to bob's other device has reason %s, expected "
           "answered-elsewhere", pc_hdr_show(f, "reason"));
  pcw_none(t, b1, "RING-STOP", "call", call, "the device that answered "
           "got RING-STOP");
}

/* spec: CALL-4 */
static void join_participants(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, ALICE, member_1, 1);
  pc_conn *a = call_session(t, ALICE, NULL);
  pc_conn *b = call_session(t, BOB, NULL);
  const char *call;
  pc_frame *p, *j;

  call = call_ringing(t, a, b, conv);
  p = call_join(t, b, call, false);
  PC_CHECK(t, pc_hdr_is(p, "conv", conv) && pc_hdr_is(p, "state", "active"),
           "PARTICIPANTS names conv %s state %s, expected %s active",
           pc_hdr_show(p, "conv"), pc_hdr_show(p, "state"), conv);
  PC_CHECK(t, lists(t, p, pc_user(t, ALICE), a) &&
                  !lists(t, p, pc_user(t, BOB), b) &&
                  pc_hdr_is(p, "count", "1"),
           "PARTICIPANTS does not list the caller alone, the participant "
           "the joiner offers to (section 19.2): %.300s",
           p->body ? p->body : "");
  j = pc_expect(a, "JOINED", "call", call, PC_WAIT);
  PC_CHECK(t, pc_hdr_is(j, "user", pc_user(t, BOB)) &&
                  pc_hdr_is(j, "device", pc_device(b)) &&
                  (!pc_hdr(j, "rejoin") || pc_hdr_is(j, "rejoin", "no")),
           "the caller's JOINED names %s %s rejoin %s, expected %s %s and "
           "rejoin no or none", pc_hdr_show(j, "user"),
           pc_hdr_show(j, "device"), pc_hdr_show(j, "rejoin"),
           pc_user(t, BOB), pc_device(b));
  pcw_none(t, b, "JOINED", "call", call, "the joiner got JOINED about "
           "itself");
}

/* ---- relays --------------------------------------------------------- */

/* spec: CALL-5 */
static void offer_answer_relayed(pc_ctx *t)
{
  call_set s;
  char *answer;
  const char *req;
  pc_frame *f;

  call_set_up(t, &s, 3, 3);
  pc_note(t, "carol, the last to join, offers to alice; bob is in the "
             "call and must get nothing");
  offer_between(t, &s, CAROL, ALICE, 'C');
  answer = sdp_offer(t, 'A', "a=setup:", "a=setup:active");
  req = send_sdp(t, s.p[ALICE], "ANSWER", s.call, CAROL, s.p[CAROL],
                 "application/sdp", answer, strlen(answer), NULL, NULL);
  expect_ok(t, s.p[ALICE], req, "ANSWER to a pending OFFER");
  f = pc_expect(s.p[CAROL], "ANSWER", "call", s.call, PC_WAIT);
  check_relay(t, s.p[CAROL], f, s.call, ALICE, s.p[ALICE], req, answer,
              strlen(answer));
  pcw_none(t, s.p[BOB], "OFFER", "call", s.call, "an OFFER addressed to "
           "another participant reached bob");
  pcw_none(t, s.p[BOB], "ANSWER", "call", s.call, "an ANSWER addressed to "
           "another participant reached bob");
  pcw_none(t, s.p[ALICE], "ANSWER", "call", s.call, "the sender got its "
           "own ANSWER back");
}

/* spec: CALL-5 */
static void candidates_relayed(pc_ctx *t)
{
  call_set s;
  const char *req;
  pc_frame *f;

  call_set_up(t, &s, 3, 3);
  req = send_cand(t, s.p[BOB], s.call, ALICE, s.p[ALICE], CANDIDATE_OK);
  expect_ok(t, s.p[BOB], req, "CANDIDATE");
  f = pc_expect(s.p[ALICE], "CANDIDATE", "call", s.call, PC_WAIT);
  check_relay(t, s.p[ALICE], f, s.call, BOB, s.p[BOB], req, "", 0);
  PC_CHECK(t, pc_hdr_is(f, "candidate", CANDIDATE_OK) &&
                  pc_hdr_is(f, "mid", "0"),
           "the relayed CANDIDATE has candidate \"%s\" and mid %s, not "
           "the ones sent (mid 0)", pc_hdr_show(f, "candidate"),
           pc_hdr_show(f, "mid"));
  req = pc_uniq(t, "eo");
  pc_send(s.p[BOB], "END-OF-CANDIDATES", NULL, "call", s.call, "to",
          pc_user(t, ALICE), "to-device", pc_device(s.p[ALICE]), "req", req,
          NULL);
  expect_ok(t, s.p[BOB], req, "END-OF-CANDIDATES");
  f = pc_expect(s.p[ALICE], "END-OF-CANDIDATES", "call", s.call, PC_WAIT);
  check_relay(t, s.p[ALICE], f, s.call, BOB, s.p[BOB], req, "", 0);
  pcw_none(t, s.p[CAROL], "CANDIDATE", "call", s.call, "a CANDIDATE "
           "addressed to alice reached carol");
  pcw_none(t, s.p[CAROL], "END-OF-CANDIDATES", "call", s.call,
           "END-OF-CANDIDATES addressed to alice reached carol");
}

/* spec: CALL-5 SEC-3 */
static void relay_names_sender(pc_ctx *t)
{
  call_set s;
  const char *req = pc_uniq(t, "sf");
  pc_frame *f;

  call_set_up(t, &s, 2, 2);
  pc_note(t, "bob's CANDIDATE carries from and device naming carol");
  pc_send(s.p[BOB], "CANDIDATE", NULL, "call", s.call, "to",
          pc_user(t, ALICE), "to-device", pc_device(s.p[ALICE]),
          "candidate", CANDIDATE_OK, "from", pc_user(t, CAROL), "device",
          "forged-device", "req", req, NULL);
  expect_ok(t, s.p[BOB], req, "CANDIDATE with from and device");
  f = pc_expect(s.p[ALICE], "CANDIDATE", "call", s.call, PC_WAIT);
  check_relay(t, s.p[ALICE], f, s.call, BOB, s.p[BOB], req, "", 0);
}

/* spec: CALL-5 */
static void media_state_to_all(pc_ctx *t)
{
  call_set s;
  const char *req = pc_uniq(t, "ms");

  call_set_up(t, &s, 3, 3);
  pc_send(s.p[BOB], "MEDIA-STATE", NULL, "call", s.call, "audio", "off",
          "video", "on", "req", req, NULL);
  expect_ok(t, s.p[BOB], req, "MEDIA-STATE");
  for (int i = ALICE; i <= CAROL; i += 2) {
    pc_frame *f = pc_expect(s.p[i], "MEDIA-STATE", "call", s.call, PC_WAIT);
    check_relay(t, s.p[i], f, s.call, BOB, s.p[BOB], req, "", 0);
    PC_CHECK(t, pc_hdr_is(f, "audio", "off") && pc_hdr_is(f, "video", "on"),
             "%s: MEDIA-STATE relayed with audio %s video %s, sent off and "
             "on", pc_conn_label(s.p[i]), pc_hdr_show(f, "audio"),
             pc_hdr_show(f, "video"));
  }
  pcw_none(t, s.p[BOB], "MEDIA-STATE", "call", s.call, "the sender got "
           "its own MEDIA-STATE back");
}

/* spec: CALL-6 */
static void relay_in_order(pc_ctx *t)
{
  char cand[96];
  call_set s;
  char *sdp;
  const char *req;

  call_set_up(t, &s, 2, 2);
  sdp = sdp_offer(t, 'O', NULL, NULL);
  pc_note(t, "bob sends an OFFER and eight CANDIDATEs without waiting");
  req = send_sdp(t, s.p[BOB], "OFFER", s.call, ALICE, s.p[ALICE],
                 "application/sdp", sdp, strlen(sdp), NULL, NULL);
  for (int i = 0; i < 8; i++) {
    snprintf(cand, sizeof cand, "candidate:%d 1 udp 2130706431 127.0.0.1 "
             "%d typ host", i + 1, 40000 + i);
    send_cand(t, s.p[BOB], s.call, ALICE, s.p[ALICE], cand);
  }
  expect_ok(t, s.p[BOB], req, "OFFER");
  pc_expect(s.p[ALICE], "OFFER", "call", s.call, PC_WAIT);
  for (int i = 0; i < 8; i++) {
    pc_frame *f = pc_expect(s.p[ALICE], "CANDIDATE", "call", s.call,
                            PC_WAIT);
    snprintf(cand, sizeof cand, "candidate:%d 1 udp 2130706431 127.0.0.1 "
             "%d typ host", i + 1, 40000 + i);
    PC_CHECK(t, pc_hdr_is(f, "candidate", cand), "relayed CANDIDATE %d is "
             "\"%s\", expected \"%s\" (sent in that order)", i + 1,
             pc_hdr_show(f, "candidate"), cand);
  }
}

/* spec: CALL-7 */
static void server_verbs_refused(pc_ctx *t)
{
  const char *verbs[] = {"RING", "PARTICIPANTS", "JOINED", "LEFT",
                         "RING-STOP", "CALL-END"};
  pc_conn *c = call_session(t, ALICE, NULL);

  pcw_need_cap(t, c, "calls");
  for (size_t i = 0; i < PC_COUNT(verbs); i++) {
    const char *req = pc_uniq(t, "sv");
    if (i > 0)
      c = call_session(t, ALICE, NULL);
    pc_note(t, "a client sends %s, which only servers send", verbs[i]);
    pc_send(c, verbs[i], NULL, "call", pc_uniq(t, "k"), "req", req, NULL);
    ca_fatal(t, c, "bad-state", req);
  }
}

/* ---- ends ----------------------------------------------------------- */

/* spec: CALL-8 CALL-12 CALL-15 */
static void hangup_ends_for_all(pc_ctx *t)
{
  call_set s;
  const char *req = pc_uniq(t, "hu");

  call_set_up(t, &s, 3, 3);
  pc_send(s.p[BOB], "HANGUP", NULL, "call", s.call, "reason", "hangup",
          "req", req, NULL);
  expect_ok(t, s.p[BOB], req, "HANGUP");
  for (size_t i = 0; i < s.n; i++)
    expect_end(t, s.p[i], s.conv, s.call, "hangup", PC_WAIT);
  pc_note(t, "after CALL-END nothing more about the call (CALL-12)");
  for (size_t i = 0; i < s.n; i++)
    pcw_none(t, s.p[i], NULL, "call", s.call, "a frame about the call "
             "came after its CALL-END");
  pc_note(t, "the call has ENDED: a JOIN now gets no-such-call");
  req = pc_uniq(t, "ja");
  pc_send(s.p[CAROL], "JOIN", NULL, "call", s.call, "req", req, NULL);
  pc_expect_error(s.p[CAROL], "no-such-call", 0, req, PC_WAIT);
  still_works(t, s.p[CAROL]);
}

/* spec: CALL-9 */
static void leave_two_party(pc_ctx *t)
{
  call_set s;
  const char *req = pc_uniq(t, "lv");
  pc_frame *f;

  call_set_up(t, &s, 2, 2);
  pc_send(s.p[BOB], "LEAVE", NULL, "call", s.call, "reason", "hangup",
          "req", req, NULL);
  expect_ok(t, s.p[BOB], req, "LEAVE");
  f = pc_expect(s.p[ALICE], "LEFT", "call", s.call, PC_WAIT);
  PC_CHECK(t, pc_hdr_is(f, "user", pc_user(t, BOB)) &&
                  pc_hdr_is(f, "device", pc_device(s.p[BOB])) &&
                  pc_hdr_is(f, "reason", "hangup"),
           "LEFT names %s %s reason %s, expected bob's device and the "
           "LEAVE's reason hangup", pc_hdr_show(f, "user"),
           pc_hdr_show(f, "device"), pc_hdr_show(f, "reason"));
  pc_note(t, "one participant is left: the call ends completed");
  expect_end(t, s.p[ALICE], s.conv, s.call, "completed", PC_WAIT);
}

/* spec: CALL-10 */
static void decline_in_group(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, ALICE, members_12, 2);
  pc_conn *a = call_session(t, ALICE, NULL);
  pc_conn *b = call_session(t, BOB, NULL);
  pc_conn *c1 = call_session(t, CAROL, NULL);
  pc_conn *c2 = call_session(t, CAROL, NULL);
  const char *call, *req = pc_uniq(t, "dg");
  pc_frame *f;

  call = call_ringing(t, a, b, conv);
  expect_ring(t, c1, conv, call);
  expect_ring(t, c2, conv, call);
  pc_note(t, "carol declines on one device; in a group the call rings on");
  pc_send(c1, "HANGUP", NULL, "call", call, "reason", "declined", "req",
          req, NULL);
  expect_ok(t, c1, req, "HANGUP of a ringing group call by a callee");
  f = pc_expect(c2, "RING-STOP", "call", call, PC_WAIT);
  PC_CHECK(t, pc_hdr_is(f, "reason", "declined-elsewhere"), "RING-STOP "
           "to carol's other device has reason %s, expected "
           "declined-elsewhere", pc_hdr_show(f, "reason"));
  pcw_none(t, a, "CALL-END", "call", call, "one member's decline ended a "
           "group call");
  call_join(t, b, call, false);
  pc_expect(a, "JOINED", "call", call, PC_WAIT);
}

/* A direct conversation of accounts 0 and 1 (the same one every run). */
static const char *direct_conv(pc_ctx *t)
{
  json_t *body = json_pack("{s:s, s:[s]}", "kind", "direct", "members",
                           pc_user(t, BOB));
  pc_http *r = ca_post_json(t, "/v1/conversations", pc_token(t, ALICE),
                            body);
  json_t *id = r->json ? json_object_get(r->json, "id") : NULL;

  PC_CHECK(t, (r->status == 200 || r->status == 201) && json_is_string(id),
           "POST /v1/conversations (direct) answered %d: %.300s", r->status,
           r->body ? r->body : "");
  return pc_strdup(t, json_string_value(id));
}

/* CALL in a conversation where an earlier run may have left a call
 * (a direct one): while the answer is bad-call-state, waits a second
 * and tries again, up to the ring timeout and the grace. */
static const char *call_start_patient(pc_ctx *t, pc_conn *c,
                                      const char *conv)
{
  const pc_config *cfg = pc_config_of(t);
  uint64_t end = pc_now_ms() + cfg->ring_timeout_ms + cfg->call_grace_ms +
                 pc_wait_ms(t);

  for (;;) {
    const char *req = pc_uniq(t, "cp");
    pc_frame *f;
    pc_send(c, "CALL", NULL, "conv", conv, "req", req, NULL);
    f = pc_expect_req(c, req, PC_WAIT);
    const char *id = pc_hdr(f, "call");
    if (strcmp(f->verb, "OK") == 0 && id != NULL && is_id(id))
      return id;
    PC_CHECK(t, pc_hdr_is(f, "reason", "bad-call-state") &&
                    pc_now_ms() < end,
             "CALL in the direct conversation was answered %s %s",
             f->verb, pc_hdr_show(f, "reason"));
    pc_note(t, "a call of an earlier run is still live; waiting");
    pc_sleep_ms(1000);
  }
}

/* spec: CALL-8 CALL-12 */
static void decline_while_ringing(pc_ctx *t)
{
  pc_conn *a, *b1, *b2;
  const char *conv, *call, *req = pc_uniq(t, "dc");

  pcw_exclusive(t, DIRECT_KEY);
  conv = direct_conv(t);
  a = call_session(t, ALICE, NULL);
  b1 = call_session(t, BOB, NULL);
  b2 = call_session(t, BOB, NULL);
  pcw_need_cap(t, a, "calls");
  call = call_start_patient(t, a, conv);
  expect_ring(t, b1, conv, call);
  expect_ring(t, b2, conv, call);
  pc_note(t, "bob declines on one device");
  pc_send(b1, "HANGUP", NULL, "call", call, "req", req, NULL);
  expect_ok(t, b1, req, "HANGUP of a ringing call by its callee");
  expect_end(t, a, conv, call, "declined", PC_WAIT);
  expect_end(t, b1, conv, call, "declined", PC_WAIT);
  expect_end(t, b2, conv, call, "declined", PC_WAIT);
}

/* spec: CALL-8 CALL-12 */
static void caller_cancels(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, ALICE, members_12, 2);
  pc_conn *a = call_session(t, ALICE, NULL);
  pc_conn *b = call_session(t, BOB, NULL);
  pc_conn *c = call_session(t, CAROL, NULL);
  const char *call, *req = pc_uniq(t, "cc");

  pcw_need_cap(t, a, "calls");
  for (int leave = 0; leave < 2; leave++) {
    const char *verb = leave ? "LEAVE" : "HANGUP";
    call = call_start(t, a, conv);
    expect_ring(t, b, conv, call);
    expect_ring(t, c, conv, call);
    pc_note(t, "the caller sends %s while the call rings", verb);
    pc_send(a, verb, NULL, "call", call, "req", req, NULL);
    expect_ok(t, a, req, pc_printf(t, "the caller's %s while ringing",
                                   verb));
    expect_end(t, a, conv, call, "cancelled", PC_WAIT);
    expect_end(t, b, conv, call, "cancelled", PC_WAIT);
    expect_end(t, c, conv, call, "cancelled", PC_WAIT);
    req = pc_uniq(t, "cc");
  }
}

/* spec: CALL-11 CALL-12 */
static void ring_times_out(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, ALICE, member_1, 1);
  pc_conn *a = call_session(t, ALICE, NULL);
  pc_conn *b = call_session(t, BOB, NULL);
  uint64_t ring = pc_config_of(t)->ring_timeout_ms;
  unsigned wait = (unsigned)ring + pc_wait_ms(t);
  const char *call;

  call = call_ringing(t, a, b, conv);
  pc_note(t, "nobody answers: waiting out the ring timeout of %llu ms",
          (unsigned long long)ring);
  expect_end(t, a, conv, call, "no-answer", wait);
  expect_end(t, b, conv, call, "no-answer", PC_WAIT);
}

/* Fails, saying `why`, when among the frames c got up to a barrier one
 * is about `call` and from `user` (frames of other conversations from
 * the same user, which cases beside this one make, do not count). */
static void none_from(pc_ctx *t, pc_conn *c, const char *call, int user,
                      const char *why)
{
  size_t n;
  pc_frame **got = pcw_collect(t, c, &n);

  for (size_t i = 0; i < n; i++)
    if (pc_hdr_is(got[i], "call", call) &&
        pc_hdr_is(got[i], "from", pc_user(t, user)))
      pc_fail(t, "%s got %s from %s: %s", pc_conn_label(c), got[i]->verb,
              pc_user(t, user), why);
}

/* ---- refusals ------------------------------------------------------- */

/* spec: CALL-15 CALL-19 */
static void candidate_not_in_call(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, ALICE, members_12, 2);
  pc_conn *a = call_session(t, ALICE, NULL);
  pc_conn *b = call_session(t, BOB, NULL);
  pc_conn *c = call_session(t, CAROL, NULL);
  const char *call, *req;

  call = call_ringing(t, a, b, conv);
  call_join(t, b, call, false);
  expect_ring(t, c, conv, call);
  pc_note(t, "carol, a member who did not join, sends a CANDIDATE and an "
             "OFFER to alice");
  req = send_cand(t, c, call, ALICE, a, CANDIDATE_OK);
  pc_expect_error(c, "no-such-call", 0, req, PC_WAIT);
  {
    char *sdp = sdp_offer(t, 'N', NULL, NULL);
    req = send_sdp(t, c, "OFFER", call, ALICE, a, "application/sdp", sdp,
                   strlen(sdp), NULL, NULL);
    pc_expect_error(c, "no-such-call", 0, req, PC_WAIT);
  }
  still_works(t, c);
  pcw_none(t, a, "CANDIDATE", "call", call, "a CANDIDATE from a member "
           "outside the call was relayed");
  pcw_none(t, a, "OFFER", "call", call, "an OFFER from a member outside "
           "the call was relayed");
  none_from(t, b, call, CAROL, "a frame of a member outside the call "
            "reached a participant");
}

/* spec: CALL-15 CALL-19 */
static void to_not_participant(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, ALICE, members_12, 2);
  pc_conn *a = call_session(t, ALICE, NULL);
  pc_conn *b = call_session(t, BOB, NULL);
  pc_conn *c = call_session(t, CAROL, NULL);
  char *sdp = sdp_offer(t, 'T', NULL, NULL);
  const char *call, *req;

  call = call_ringing(t, a, b, conv);
  call_join(t, b, call, false);
  expect_ring(t, c, conv, call);
  pc_note(t, "bob addresses carol, a member who did not join");
  req = send_sdp(t, b, "OFFER", call, CAROL, c, "application/sdp", sdp,
                 strlen(sdp), NULL, NULL);
  pc_expect_error(b, "no-such-call", 0, req, PC_WAIT);
  req = send_cand(t, b, call, CAROL, c, CANDIDATE_OK);
  pc_expect_error(b, "no-such-call", 0, req, PC_WAIT);
  pc_note(t, "bob addresses alice on a device that is not in the call");
  req = pc_uniq(t, "nd");
  pc_send(b, "CANDIDATE", NULL, "call", call, "to", pc_user(t, ALICE),
          "to-device", pc_uniq(t, "dev"), "candidate", CANDIDATE_OK, "req",
          req, NULL);
  pc_expect_error(b, "no-such-call", 0, req, PC_WAIT);
  still_works(t, b);
  pcw_none(t, c, "OFFER", "call", call, "an OFFER addressed to a member "
           "outside the call reached it");
  pcw_none(t, c, "CANDIDATE", "call", call, "a CANDIDATE addressed to a "
           "member outside the call reached it");
  pcw_none(t, a, "CANDIDATE", "call", call, "a CANDIDATE addressed to a "
           "device outside the call reached the user's device in it");
}

/* Sends frame `verb` about `call` with req from c (an OFFER carries an
 * SDP body) and returns the answer. */
static pc_frame *ask_about(pc_ctx *t, pc_conn *c, const char *verb,
                           const char *call, const pc_conn *to)
{
  const char *req = pc_uniq(t, "nm");
  const char *u = pc_user(t, ALICE), *d = pc_device(to);

  if (strcmp(verb, "OFFER") == 0) {
    char *sdp = sdp_offer(t, 'M', NULL, NULL);
    pc_send(c, verb, sdp, "call", call, "to", u, "to-device", d,
            "content-type", "application/sdp", "req", req, NULL);
  } else if (strcmp(verb, "CANDIDATE") == 0) {
    pc_send(c, verb, NULL, "call", call, "to", u, "to-device", d,
            "candidate", CANDIDATE_OK, "req", req, NULL);
  } else if (strcmp(verb, "MEDIA-STATE") == 0) {
    pc_send(c, verb, NULL, "call", call, "audio", "on", "req", req, NULL);
  } else {
    pc_send(c, verb, NULL, "call", call, "req", req, NULL);
  }
  return pc_expect_req(c, req, PC_WAIT);
}

/* spec: CALL-1 CALL-15 SEC-20 */
static void non_member_unknown(pc_ctx *t)
{
  const char *verbs[] = {"JOIN", "OFFER", "CANDIDATE", "MEDIA-STATE",
                         "LEAVE", "HANGUP"};
  const char *conv = pc_conv_group(t, ALICE, member_1, 1);
  pc_conn *a = call_session(t, ALICE, NULL);
  pc_conn *b = call_session(t, BOB, NULL);
  pc_conn *x = call_session(t, CAROL, NULL);
  const char *call, *nowhere = pc_uniq(t, "k");

  call = call_ringing(t, a, b, conv);
  call_join(t, b, call, false);
  for (size_t i = 0; i < PC_COUNT(verbs); i++) {
    pc_note(t, "carol, no member, sends %s for the call and for none",
            verbs[i]);
    pc_frame *real = ask_about(t, x, verbs[i], call, a);
    pc_frame *none = ask_about(t, x, verbs[i], nowhere, a);
    ca_is_error(t, real, "no-such-call", 0, NULL);
    pcw_same_but_req(t, real, none, pc_printf(t, "%s from a non-member "
                     "for a call of others and for no call", verbs[i]));
  }
  still_works(t, x);
  none_from(t, a, call, CAROL, "a non-member's frame reached the caller");
  none_from(t, b, call, CAROL, "a non-member's frame reached a "
            "participant");
  pcw_none(t, a, "CALL-END", "call", call, "a non-member's HANGUP ended "
           "the call");
}

/* spec: CALL-16 CALL-19 */
static void answer_without_offer(pc_ctx *t)
{
  call_set s;
  char *sdp = sdp_offer(t, 'W', "a=setup:", "a=setup:active");
  const char *req;

  call_set_up(t, &s, 2, 2);
  pc_note(t, "alice answers bob, who sent no OFFER");
  req = send_sdp(t, s.p[ALICE], "ANSWER", s.call, BOB, s.p[BOB],
                 "application/sdp", sdp, strlen(sdp), NULL, NULL);
  pc_expect_error(s.p[ALICE], "bad-call-state", 0, req, PC_WAIT);
  still_works(t, s.p[ALICE]);
  pcw_none(t, s.p[BOB], "ANSWER", "call", s.call, "an ANSWER without an "
           "OFFER was relayed");
  pc_note(t, "after bob's OFFER, the ANSWER is accepted; a second one "
             "is not");
  offer_between(t, &s, BOB, ALICE, 'B');
  req = send_sdp(t, s.p[ALICE], "ANSWER", s.call, BOB, s.p[BOB],
                 "application/sdp", sdp, strlen(sdp), NULL, NULL);
  expect_ok(t, s.p[ALICE], req, "ANSWER to a pending OFFER");
  pc_expect(s.p[BOB], "ANSWER", "call", s.call, PC_WAIT);
  req = send_sdp(t, s.p[ALICE], "ANSWER", s.call, BOB, s.p[BOB],
                 "application/sdp", sdp, strlen(sdp), NULL, NULL);
  pc_expect_error(s.p[ALICE], "bad-call-state", 0, req, PC_WAIT);
  still_works(t, s.p[ALICE]);
}

/* spec: CALL-18 CALL-19 */
static void bad_candidate(pc_ctx *t)
{
  const char *bad[] = {
    "1 1 udp 2130706431 127.0.0.1 40000 typ host",
    "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ",
    "candidate:1 1 udp 2130706431 127.0.0.1 40000 host",
    "candidate:1 1 udp 2130706431 127.0.0.1 99999 typ host",
    "candidate:1 1 udp two 127.0.0.1 40000 typ host",
    "candidate:1 0 udp 2130706431 127.0.0.1 40000 typ host",
    "candidate:1 1 udp 0 127.0.0.1 40000 typ host",
    "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ srflx raddr",
    "candidate: 1 udp 2130706431 127.0.0.1 40000 typ host",
    "candidate:123456789012345678901234567890123 1 udp 2130706431 "
    "127.0.0.1 40000 typ host",
    "not a candidate at all"};
  call_set s;

  call_set_up(t, &s, 2, 2);
  for (size_t i = 0; i < PC_COUNT(bad); i++) {
    const char *req = send_cand(t, s.p[BOB], s.call, ALICE, s.p[ALICE],
                                bad[i]);
    pc_note(t, "malformed candidate: %s", bad[i]);
    pc_expect_error(s.p[BOB], "bad-candidate", 0, req, PC_WAIT);
  }
  still_works(t, s.p[BOB]);
  pcw_none(t, s.p[ALICE], "CANDIDATE", "call", s.call, "a malformed "
           "candidate reached the peer");
}

/* spec: SDP-1 CALL-17 CALL-19 */
static void bad_sdp(pc_ctx *t)
{
  struct { const char *what, *drop, *swap; } bad[] = {
    {"no a=ice-pwd", "a=ice-pwd:", NULL},
    {"a fingerprint of 31 octets", "a=fingerprint:",
     "a=fingerprint:sha-256 0B:5D:9E:22:41:C7:08:F3:6A:1E:94:B2:7C:D0:55:"
     "38:E1:AF:62:09:3B:CC:74:10:8D:F5:2E:97:46:B8:03"},
    {"a fingerprint that is not hex", "a=fingerprint:",
     "a=fingerprint:sha-256 ZZ:5D:9E:22:41:C7:08:F3:6A:1E:94:B2:7C:D0:55:"
     "38:E1:AF:62:09:3B:CC:74:10:8D:F5:2E:97:46:B8:03:6F"},
    {"no m=audio (video only)", "m=audio", "m=video 9 UDP/TLS/RTP/SAVPF 96"},
    {"no v= line", "v=0", NULL},
    {"no opus rtpmap", "a=rtpmap:", NULL}};
  const char *garbage = "this is not a session description\r\n";
  call_set s;

  call_set_up(t, &s, 2, 2);
  for (size_t i = 0; i < PC_COUNT(bad); i++) {
    char *sdp = sdp_offer(t, 'G', bad[i].drop, bad[i].swap);
    const char *req = send_sdp(t, s.p[BOB], "OFFER", s.call, ALICE,
                               s.p[ALICE], "application/sdp", sdp,
                               strlen(sdp), NULL, NULL);
    pc_note(t, "malformed SDP: %s", bad[i].what);
    pc_expect_error(s.p[BOB], "bad-sdp", 0, req, PC_WAIT);
  }
  pc_note(t, "malformed SDP: text that is no SDP");
  pc_expect_error(s.p[BOB], "bad-sdp", 0,
                  send_sdp(t, s.p[BOB], "OFFER", s.call, ALICE, s.p[ALICE],
                           "application/sdp", garbage, strlen(garbage),
                           NULL, NULL), PC_WAIT);
  still_works(t, s.p[BOB]);
  pcw_none(t, s.p[ALICE], "OFFER", "call", s.call, "a malformed SDP "
           "offer reached the peer");
}

/* spec: CALL-17 CALL-19 */
static void sdp_content_type(pc_ctx *t)
{
  char *sdp = sdp_offer(t, 'K', NULL, NULL);
  call_set s;
  const char *req;

  call_set_up(t, &s, 2, 2);
  pc_note(t, "a valid offer as text/plain");
  req = send_sdp(t, s.p[BOB], "OFFER", s.call, ALICE, s.p[ALICE],
                 "text/plain", sdp, strlen(sdp), NULL, NULL);
  pc_expect_error(s.p[BOB], "bad-sdp", 0, req, PC_WAIT);
  pc_note(t, "a valid offer without content-type");
  req = send_sdp(t, s.p[BOB], "OFFER", s.call, ALICE, s.p[ALICE], NULL,
                 sdp, strlen(sdp), NULL, NULL);
  pc_expect_error(s.p[BOB], "bad-sdp", 0, req, PC_WAIT);
  pc_note(t, "an OFFER without a body");
  req = pc_uniq(t, "nb");
  pc_send(s.p[BOB], "OFFER", NULL, "call", s.call, "to", pc_user(t, ALICE),
          "to-device", pc_device(s.p[ALICE]), "content-type",
          "application/sdp", "req", req, NULL);
  pc_expect_error(s.p[BOB], "bad-sdp", 0, req, PC_WAIT);
  still_works(t, s.p[BOB]);
  pcw_none(t, s.p[ALICE], "OFFER", "call", s.call, "a refused OFFER "
           "reached the peer");
}

/* Sends `sdp` as bob's OFFER to alice with content-type `ctype` and
 * expects it relayed as sent. */
static void offer_taken(pc_ctx *t, call_set *s, const char *ctype,
                        const char *sdp, const char *what)
{
  const char *req;
  pc_frame *f;

  pc_note(t, "an offer the profile takes: %s", what);
  req = send_sdp(t, s->p[BOB], "OFFER", s->call, ALICE, s->p[ALICE], ctype,
                 sdp, strlen(sdp), "ice-restart", "yes");
  expect_ok(t, s->p[BOB], req, what);
  f = pc_expect(s->p[ALICE], "OFFER", "call", s->call, PC_WAIT);
  check_relay(t, s->p[ALICE], f, s->call, BOB, s->p[BOB], req, sdp,
              strlen(sdp));
}

/* The offer with each CRLF turned into a lone LF. */
static char *lf_only(pc_ctx *t, const char *crlf)
{
  char *out = pc_strdup(t, crlf), *w = out;

  for (const char *r = crlf; *r; r++)
    if (!(r[0] == '\r' && r[1] == '\n'))
      *w++ = *r;
  *w = '\0';
  return out;
}

/* spec: SDP-1 CALL-5 CALL-17 */
static void sdp_accepted(pc_ctx *t)
{
  call_set s;
  char *lower = sdp_offer(t, 'L', "a=fingerprint:", "a=fingerprint:sha-256 "
                          "0b:5d:9e:22:41:c7:08:f3:6a:1e:94:b2:7c:d0:55:38:"
                          "e1:af:62:09:3b:cc:74:10:8d:f5:2e:97:46:b8:03:6f");
  char *extra = sdp_offer(t, 'E', "a=sendrecv", "a=x-unknown:anything at "
                          "all\r\na=ice-options:trickle\r\na=sendrecv");

  call_set_up(t, &s, 2, 2);
  offer_taken(t, &s, "application/sdp", sdp_offer(t, 'F', NULL, NULL),
              "the reference offer");
  offer_taken(t, &s, "application/sdp", lf_only(t, sdp_offer(t, 'H', NULL,
              NULL)), "lines ending in a lone LF");
  offer_taken(t, &s, "application/sdp", lower,
              "a fingerprint in lower-case hex");
  offer_taken(t, &s, "application/sdp", extra,
              "an unknown attribute and ice-options");
  offer_taken(t, &s, "Application/SDP; charset=utf-8",
              sdp_offer(t, 'U', NULL, NULL),
              "content-type in other case, with a parameter");
}

/* spec: CALL-20 */
static void bad_sdp_names_line(pc_ctx *t)
{
  call_set s;
  char *sdp = sdp_offer(t, 'V', "a=ice-pwd:", "a=ice-pwd:tooshort");
  const char *req, *body;
  pc_frame *e;

  call_set_up(t, &s, 2, 2);
  pc_note(t, "line 11 holds an ice-pwd of 8 ice-char");
  req = send_sdp(t, s.p[BOB], "OFFER", s.call, ALICE, s.p[ALICE],
                 "application/sdp", sdp, strlen(sdp), NULL, NULL);
  e = pc_expect_error(s.p[BOB], "bad-sdp", 0, req, PC_WAIT);
  body = e->body ? e->body : "";
  PC_CHECK(t, strstr(body, "11") != NULL && strstr(body, "ice-pwd") != NULL,
           "the bad-sdp ERROR body does not name line 11 and the rule "
           "(ice-pwd-att): \"%.300s\"", body);
  req = send_cand(t, s.p[BOB], s.call, ALICE, s.p[ALICE],
                  "candidate:1 1 udp 2130706431 127.0.0.1 40000 host");
  e = pc_expect_error(s.p[BOB], "bad-candidate", 0, req, PC_WAIT);
  PC_CHECK(t, e->body_len > 0, "the bad-candidate ERROR has no body "
           "naming what was wrong");
}

/* spec: CALL-17 CALL-19 */
static void sdp_too_large(pc_ctx *t)
{
  const pc_config *cfg = pc_config_of(t);
  char *big = sdp_of_size(t, 16385), *fits = sdp_of_size(t, 16384);
  call_set s;
  const char *req;
  pc_frame *f;

  PC_CHECK(t, cfg->max_frame >= 16384 + 1024, "max_frame %llu leaves no "
           "room for an SDP of 16384 octets",
           (unsigned long long)cfg->max_frame);
  call_set_up(t, &s, 2, 2);
  req = send_sdp(t, s.p[BOB], "OFFER", s.call, ALICE, s.p[ALICE],
                 "application/sdp", big, 16385, NULL, NULL);
  pc_expect_error(s.p[BOB], "sdp-too-large", 0, req, PC_WAIT);
  still_works(t, s.p[BOB]);
  pcw_none(t, s.p[ALICE], "OFFER", "call", s.call, "an SDP over 16384 "
           "octets reached the peer");
  pc_note(t, "the same offer one octet shorter is at the limit and "
             "relayed");
  req = send_sdp(t, s.p[BOB], "OFFER", s.call, ALICE, s.p[ALICE],
                 "application/sdp", fits, 16384, NULL, NULL);
  expect_ok(t, s.p[BOB], req, "an OFFER of 16384 octets");
  f = pc_expect(s.p[ALICE], "OFFER", "call", s.call, PC_WAIT);
  check_relay(t, s.p[ALICE], f, s.call, BOB, s.p[BOB], req, fits, 16384);
}

/* spec: CALL-16 */
static void second_device_join(pc_ctx *t)
{
  call_set s;
  pc_conn *b2;
  const char *req = pc_uniq(t, "sj");

  call_set_up(t, &s, 2, 2);
  b2 = call_session(t, BOB, NULL);
  pc_note(t, "bob, in the call on one device, joins on another");
  pc_send(b2, "JOIN", NULL, "call", s.call, "req", req, NULL);
  pc_expect_error(b2, "bad-call-state", 0, req, PC_WAIT);
  still_works(t, b2);
  pc_note(t, "and again on the device that is in");
  req = pc_uniq(t, "sj");
  pc_send(s.p[BOB], "JOIN", NULL, "call", s.call, "req", req, NULL);
  pc_expect_error(s.p[BOB], "bad-call-state", 0, req, PC_WAIT);
  still_works(t, s.p[BOB]);
  pcw_none(t, s.p[ALICE], "JOINED", "call", s.call, "a refused JOIN was "
           "announced");
}

/* spec: CALL-2 CALL-16 */
static void second_call_in_conv(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, ALICE, members_12, 2);
  pc_conn *a = call_session(t, ALICE, NULL);
  pc_conn *b = call_session(t, BOB, NULL);
  pc_conn *c = call_session(t, CAROL, NULL);
  const char *call, *req = pc_uniq(t, "sc");

  call = call_ringing(t, a, b, conv);
  pc_note(t, "while it rings, bob calls in the same conversation");
  pc_send(b, "CALL", NULL, "conv", conv, "req", req, NULL);
  pc_expect_error(b, "bad-call-state", 0, req, PC_WAIT);
  still_works(t, b);
  call_join(t, b, call, false);
  pc_note(t, "while it is active, carol calls in it");
  req = pc_uniq(t, "sc");
  pc_send(c, "CALL", NULL, "conv", conv, "req", req, NULL);
  pc_expect_error(c, "bad-call-state", 0, req, PC_WAIT);
  still_works(t, c);
  pcw_none(t, a, "RING", "conv", conv, "a refused CALL rang");
}

/* spec: CALL-16 */
static void offer_while_pending(pc_ctx *t)
{
  call_set s;
  char *sdp = sdp_offer(t, 'Q', NULL, NULL);
  const char *req;
  pc_frame *f;

  call_set_up(t, &s, 2, 2);
  offer_between(t, &s, BOB, ALICE, 'B');
  pc_note(t, "bob offers again while his first OFFER waits for its ANSWER");
  req = send_sdp(t, s.p[BOB], "OFFER", s.call, ALICE, s.p[ALICE],
                 "application/sdp", sdp, strlen(sdp), NULL, NULL);
  pc_expect_error(s.p[BOB], "bad-call-state", 0, req, PC_WAIT);
  still_works(t, s.p[BOB]);
  pcw_none(t, s.p[ALICE], "OFFER", "call", s.call, "a second OFFER while "
           "one was pending was relayed");
  pc_note(t, "with ice-restart: yes it replaces the pending one");
  req = send_sdp(t, s.p[BOB], "OFFER", s.call, ALICE, s.p[ALICE],
                 "application/sdp", sdp, strlen(sdp), "ice-restart", "yes");
  expect_ok(t, s.p[BOB], req, "OFFER with ice-restart while one pends");
  f = pc_expect(s.p[ALICE], "OFFER", "call", s.call, PC_WAIT);
  check_relay(t, s.p[ALICE], f, s.call, BOB, s.p[BOB], req, sdp,
              strlen(sdp));
}

/* Sends `verb` with `body` (an SDP, or NULL) or candidate `cand` about
 * `call` from c to (user, device) and expects ERROR `reason`. */
static void refused_as(pc_ctx *t, pc_conn *c, const char *verb,
                       const char *call, int user, const pc_conn *to,
                       const char *body, size_t len, const char *cand,
                       const char *reason)
{
  const char *req;

  if (cand)
    req = send_cand(t, c, call, user, to, cand);
  else
    req = send_sdp(t, c, verb, call, user, to, "application/sdp", body,
                   len, NULL, NULL);
  pc_expect_error(c, reason, 0, req, PC_WAIT);
}

/* spec: CALL-14 CALL-15 CALL-16 */
static void check_order(pc_ctx *t)
{
  const char *junk = "no sdp\r\n", *bad = "candidate:x";
  const char *req = pc_uniq(t, "mh");
  char *big = sdp_of_size(t, 16385);
  pc_conn *x = call_session(t, CAROL, NULL);
  call_set s;

  call_set_up(t, &s, 2, 2);
  pc_note(t, "membership (step 4) before the body (step 7)");
  refused_as(t, x, "OFFER", s.call, ALICE, s.p[ALICE], junk, strlen(junk),
             NULL, "no-such-call");
  refused_as(t, x, "OFFER", s.call, ALICE, s.p[ALICE], big, 16385, NULL,
             "no-such-call");
  refused_as(t, x, "CANDIDATE", s.call, ALICE, s.p[ALICE], NULL, 0, bad,
             "no-such-call");
  pc_note(t, "the addressee (step 5) before the body (step 7)");
  refused_as(t, s.p[BOB], "OFFER", s.call, CAROL, x, junk, strlen(junk),
             NULL, "no-such-call");
  refused_as(t, s.p[BOB], "CANDIDATE", s.call, BOB, s.p[BOB], NULL, 0, bad,
             "no-such-call");
  pc_note(t, "the call's rules (step 6) before the body (step 7)");
  refused_as(t, s.p[ALICE], "ANSWER", s.call, BOB, s.p[BOB], junk,
             strlen(junk), NULL, "bad-call-state");
  pc_note(t, "the headers (step 3) before the call (step 4)");
  pc_send(x, "OFFER", junk, "call", pc_uniq(t, "k"), "to-device", "d",
          "content-type", "application/sdp", "req", req, NULL);
  ca_body_names(t, pc_expect_error(x, "missing-header", 0, req, PC_WAIT),
                "to");
  still_works(t, x);
  still_works(t, s.p[BOB]);
}

/* ---- reconnects ----------------------------------------------------- */

/* spec: CALL-4 CALL-13 */
static void rejoin_within_grace(pc_ctx *t)
{
  call_set s;
  const char *dev, *req;
  char *sdp;
  pc_frame *j, *f;
  size_t n;
  pc_frame **got;

  call_set_up(t, &s, 2, 2);
  offer_between(t, &s, BOB, ALICE, 'B');
  sdp = sdp_offer(t, 'R', "a=setup:", "a=setup:active");
  req = send_sdp(t, s.p[ALICE], "ANSWER", s.call, BOB, s.p[BOB],
                 "application/sdp", sdp, strlen(sdp), NULL, NULL);
  expect_ok(t, s.p[ALICE], req, "ANSWER");
  pc_expect(s.p[BOB], "ANSWER", "call", s.call, PC_WAIT);
  dev = pc_device(s.p[ALICE]);
  pc_note(t, "alice's connection drops; she comes back on device %s", dev);
  pc_drop(s.p[ALICE]);
  s.p[ALICE] = call_session(t, ALICE, dev);
  PC_CHECK(t, lists(t, call_join(t, s.p[ALICE], s.call, true),
                    pc_user(t, BOB), s.p[BOB]),
           "the PARTICIPANTS of the rejoin does not list bob");
  j = pc_expect(s.p[BOB], "JOINED", "call", s.call, PC_WAIT);
  PC_CHECK(t, pc_hdr_is(j, "user", pc_user(t, ALICE)) &&
                  pc_hdr_is(j, "device", dev) &&
                  pc_hdr_is(j, "rejoin", "yes"),
           "bob's JOINED for the rejoin names %s %s rejoin %s, expected "
           "%s %s rejoin yes", pc_hdr_show(j, "user"),
           pc_hdr_show(j, "device"), pc_hdr_show(j, "rejoin"),
           pc_user(t, ALICE), dev);
  got = pcw_collect(t, s.p[BOB], &n);
  PC_CHECK(t, !pcw_find(got, n, "LEFT", "call", s.call) &&
                  !pcw_find(got, n, "CALL-END", "call", s.call),
           "bob was told alice left although she came back within the "
           "grace");
  pc_note(t, "alice restarts ICE: an OFFER with ice-restart and new "
             "credentials");
  sdp = sdp_offer(t, 'S', NULL, NULL);
  req = send_sdp(t, s.p[ALICE], "OFFER", s.call, BOB, s.p[BOB],
                 "application/sdp", sdp, strlen(sdp), "ice-restart", "yes");
  expect_ok(t, s.p[ALICE], req, "OFFER with ice-restart after a rejoin");
  f = pc_expect(s.p[BOB], "OFFER", "call", s.call, PC_WAIT);
  check_relay(t, s.p[BOB], f, s.call, ALICE, s.p[ALICE], req, sdp,
              strlen(sdp));
  PC_CHECK(t, pc_hdr_is(f, "ice-restart", "yes"), "the relayed OFFER has "
           "ice-restart %s, sent yes", pc_hdr_show(f, "ice-restart"));
}

/* spec: CALL-13 */
static void grace_expires(pc_ctx *t)
{
  uint64_t grace = pc_config_of(t)->call_grace_ms;
  unsigned wait = (unsigned)grace + pc_wait_ms(t);
  call_set s;
  pc_frame *f;

  call_set_up(t, &s, 3, 3);
  pc_note(t, "carol's connection drops and she does not come back: "
             "waiting out the call grace of %llu ms",
          (unsigned long long)grace);
  pc_drop(s.p[CAROL]);
  for (int i = ALICE; i <= BOB; i++) {
    f = pc_expect(s.p[i], "LEFT", "call", s.call, i == ALICE ? wait
                                                              : PC_WAIT);
    PC_CHECK(t, pc_hdr_is(f, "user", pc_user(t, CAROL)) &&
                    pc_hdr_is(f, "reason", "disconnected"),
             "%s: LEFT names %s with reason %s, expected %s, disconnected",
             pc_conn_label(s.p[i]), pc_hdr_show(f, "user"),
             pc_hdr_show(f, "reason"), pc_user(t, CAROL));
  }
  pc_note(t, "two are left, so the call goes on; then bob drops too");
  pc_drop(s.p[BOB]);
  expect_end(t, s.p[ALICE], s.conv, s.call, "disconnected", wait);
}

/* ---- HTTP ----------------------------------------------------------- */

/* GET /v1/call/{call} as account `user`. */
static pc_http *get_call(pc_ctx *t, int user, const char *call)
{
  return pc_http_request(t, "GET", pc_printf(t, "/v1/call/%s", call),
                         pc_token(t, user), NULL, NULL, 0);
}

/* The call record once it shows the call ended: the store may write the
 * end a little after CALL-END went out, so it asks again for up to the
 * run's --timeout. */
static json_t *ended_record(pc_ctx *t, const char *call)
{
  uint64_t end = pc_now_ms() + pc_wait_ms(t);

  for (;;) {
    pc_http *r = get_call(t, ALICE, call);
    json_t *state;
    PC_CHECK(t, r->status == 200 && json_is_object(r->json), "GET "
             "/v1/call/%s by its caller answered %d: %.300s", call,
             r->status, r->body ? r->body : "");
    state = json_object_get(r->json, "state");
    if (json_is_string(state) &&
        strcmp(json_string_value(state), "ended") == 0)
      return r->json;
    PC_CHECK(t, pc_now_ms() < end, "GET /v1/call/%s still shows state "
             "%s after the CALL-END", call, json_string_value(state));
    pc_sleep_ms(100);
  }
}

/* Whether the events array holds an event `kind` of `user`. */
static bool has_event(json_t *events, const char *user, const char *kind)
{
  size_t i;
  json_t *e;

  json_array_foreach(events, i, e) {
    json_t *u = json_object_get(e, "user"), *k = json_object_get(e, "event");
    if (json_is_string(u) && json_is_string(k) &&
        strcmp(json_string_value(u), user) == 0 &&
        strcmp(json_string_value(k), kind) == 0)
      return true;
  }
  return false;
}

/* GET /v1/conversations/{conv}/calls lists `call` first, without its
 * events. */
static void check_list(pc_ctx *t, const char *conv, const char *call)
{
  pc_http *r = pc_http_request(t, "GET", pc_printf(t, "/v1/conversations/"
                               "%s/calls", conv), pc_token(t, BOB), NULL,
                               NULL, 0);
  json_t *calls = r->json ? json_object_get(r->json, "calls") : NULL;
  json_t *first = json_array_get(calls, 0);
  json_t *id = json_object_get(first, "id");

  PC_CHECK(t, r->status == 200 && json_is_array(calls), "GET "
           "/v1/conversations/%s/calls answered %d: %.300s", conv,
           r->status, r->body ? r->body : "");
  PC_CHECK(t, json_is_string(id) && strcmp(json_string_value(id), call) ==
           0 && !json_object_get(first, "events"), "the conversation's "
           "calls do not start with the call, without events: %.300s",
           r->body);
}

/* spec: CALL-21 */
static void http_call_record(pc_ctx *t)
{
  call_set s;
  const char *req = pc_uniq(t, "hr");
  json_t *rec, *events;

  call_set_up(t, &s, 2, 2);
  pc_send(s.p[ALICE], "HANGUP", NULL, "call", s.call, "reason", "hangup",
          "req", req, NULL);
  expect_ok(t, s.p[ALICE], req, "HANGUP");
  expect_end(t, s.p[BOB], s.conv, s.call, "hangup", PC_WAIT);
  rec = ended_record(t, s.call);
  PC_CHECK(t, json_is_string(json_object_get(rec, "id")) &&
                  strcmp(json_string_value(json_object_get(rec, "id")),
                         s.call) == 0 &&
                  json_is_string(json_object_get(rec, "conv")) &&
                  strcmp(json_string_value(json_object_get(rec, "conv")),
                         s.conv) == 0,
           "the call record does not name the call and its conv");
  PC_CHECK(t, json_is_string(json_object_get(rec, "end_reason")) &&
                  strcmp(json_string_value(json_object_get(rec,
                         "end_reason")), "hangup") == 0,
           "the call record's end_reason is not hangup");
  PC_CHECK(t, json_is_integer(json_object_get(rec, "started_ms")) &&
                  json_is_integer(json_object_get(rec, "answered_ms")) &&
                  json_is_integer(json_object_get(rec, "ended_ms")),
           "the record of an answered, ended call lacks started_ms, "
           "answered_ms or ended_ms as integers");
  events = json_object_get(rec, "events");
  PC_CHECK(t, json_is_array(events) &&
                  has_event(events, pc_user(t, ALICE), "joined") &&
                  has_event(events, pc_user(t, BOB), "joined") &&
                  has_event(events, pc_user(t, ALICE), "left"),
           "the call record's events do not show both participants "
           "joining and the caller, still in at the end, leaving");
  check_list(t, s.conv, s.call);
}

/* Fails unless a and b are the same 404 not-found, body for body. */
static void same_404(pc_ctx *t, const pc_http *a, const pc_http *b,
                     const char *what)
{
  pc_http_expect(t, a, 404, "not-found");
  pc_http_expect(t, b, 404, "not-found");
  PC_CHECK(t, a->body_len == b->body_len &&
                  memcmp(a->body, b->body, a->body_len) == 0,
           "%s answer different bodies: %.200s against %.200s", what,
           a->body, b->body);
}

/* spec: CALL-22 */
static void http_call_not_member(pc_ctx *t)
{
  call_set s;
  const char *tok;

  call_set_up(t, &s, 2, 2);
  same_404(t, get_call(t, CAROL, s.call),
           get_call(t, CAROL, pc_uniq(t, "k")),
           "GET /v1/call of another conversation's call and of no call");
  tok = pc_token(t, CAROL);
  same_404(t, pc_http_request(t, "GET", pc_printf(t, "/v1/conversations/%s"
                              "/calls", s.conv), tok, NULL, NULL, 0),
           pc_http_request(t, "GET", pc_printf(t, "/v1/conversations/%s",
                           s.conv), tok, NULL, NULL, 0),
           "GET /v1/conversations/{id}/calls and /v1/conversations/{id} of "
           "a conversation of others");
}

/* POST /v1/call/{call}/recording/start with `token` (NULL: none). */
static pc_http *recording_start(pc_ctx *t, const char *call,
                                const char *token)
{
  return pc_http_request(t, "POST", pc_printf(t, "/v1/call/%s/recording/"
                         "start", call), token, NULL, "", 0);
}

/* spec: CALL-23 */
static void http_recording_501(pc_ctx *t)
{
  call_set s;
  pc_http *r;

  call_set_up(t, &s, 2, 2);
  r = recording_start(t, s.call, NULL);
  PC_CHECK(t, r->status == 401, "recording/start without a token answered "
           "%d, not 401", r->status);
  same_404(t, recording_start(t, s.call, pc_token(t, CAROL)),
           recording_start(t, pc_uniq(t, "k"), pc_token(t, CAROL)),
           "recording/start of another conversation's call and of no "
           "call");
  pc_http_expect(t, recording_start(t, s.call, pc_token(t, ALICE)), 501,
                 "not-supported");
}

/* spec: CALL-24 */
static void body_on_bodyless(pc_ctx *t)
{
  static const char *const verbs[] = {
    "CANDIDATE", "END-OF-CANDIDATES", "MEDIA-STATE", "JOIN", "LEAVE",
    "HANGUP"};
  call_set s;

  call_set_up(t, &s, 2, 2);
  for (size_t i = 0; i < PC_COUNT(verbs); i++) {
    const char *req = pc_uniq(t, "nb");
    pc_frame *e;

    pc_note(t, "%s with a body of 5 octets", verbs[i]);
    if (i == 0)
      pc_send(s.p[BOB], verbs[i], "hello", "call", s.call, "to",
              pc_user(t, ALICE), "to-device", pc_device(s.p[ALICE]),
              "candidate", "candidate:1 1 udp 2130706431 127.0.0.1 40000 "
              "typ host", "req", req, NULL);
    else if (i == 1)
      pc_send(s.p[BOB], verbs[i], "hello", "call", s.call, "to",
              pc_user(t, ALICE), "to-device", pc_device(s.p[ALICE]), "req",
              req, NULL);
    else if (i == 2)
      pc_send(s.p[BOB], verbs[i], "hello", "call", s.call, "audio", "off",
              "req", req, NULL);
    else
      pc_send(s.p[BOB], verbs[i], "hello", "call", s.call, "req", req,
              NULL);
    e = pc_expect_error(s.p[BOB], "bad-value", 0, req, PC_WAIT);
    PC_CHECK(t, e->body != NULL && strstr(e->body, "content-length"),
             "the bad-value ERROR for a body on %s does not name "
             "content-length: \"%.200s\"", verbs[i],
             e->body ? e->body : "");
  }
  pc_note(t, "CALL with a body of 5 octets");
  const char *req = pc_uniq(t, "nb");
  pc_send(s.p[BOB], "CALL", "hello", "conv", pc_uniq(t, "cv"),
          "req", req, NULL);
  pc_expect_error(s.p[BOB], "bad-value", 0, req, PC_WAIT);
  still_works(t, s.p[BOB]);
  pcw_none(t, s.p[ALICE], "CANDIDATE", "call", s.call, "a CANDIDATE with "
           "a body reached the peer");
  pcw_none(t, s.p[ALICE], "MEDIA-STATE", "call", s.call, "a MEDIA-STATE "
           "with a body reached the peer");
  pcw_none(t, s.p[ALICE], "LEFT", "call", s.call, "a LEAVE with a body "
           "took its sender out of the call");
  pcw_none(t, s.p[ALICE], "CALL-END", "call", s.call, "a HANGUP with a "
           "body ended the call");
}

/* ---- the suite ------------------------------------------------------ */

static const pc_case cases[] = {
  {"call.call-answered-ok",
   "CALL in a conversation is answered OK with a new call id, and the RING "
   "says the media asked for.",
   "CALL-2 CALL-3", PC_MUST, "calls", call_answered_ok},
  {"call.ring-reaches-members",
   "RING reaches every calls session of the other members, naming the "
   "call, conv, caller, device and media, and no session without the "
   "capability, of a non-member, or of the caller.",
   "CALL-1 CALL-3", PC_MUST, "calls", ring_reaches_members},
  {"call.ring-late-session",
   "A calls session of a member that becomes READY while the call rings "
   "gets the RING.",
   "CALL-3", PC_MUST, "calls", ring_late_session},
  {"call.ring-stop-elsewhere",
   "When a member joins on one device, the member's other rung sessions "
   "get RING-STOP answered-elsewhere.",
   "CALL-10", PC_MUST, "calls", ring_stop_elsewhere},
  {"call.join-participants",
   "JOIN is answered OK and PARTICIPANTS with its req, listing the other "
   "participants; the caller gets JOINED naming the joiner, without "
   "rejoin: yes.",
   "CALL-4", PC_MUST, "calls", join_participants},
  {"call.offer-answer-relayed",
   "OFFER and ANSWER reach the addressed participant only, with from and "
   "device added, to, to-device and req removed and the body unchanged.",
   "CALL-5", PC_MUST, "calls", offer_answer_relayed},
  {"call.candidates-relayed",
   "CANDIDATE and END-OF-CANDIDATES reach the addressed participant only, "
   "with the sender named and the candidate unchanged.",
   "CALL-5", PC_MUST, "calls", candidates_relayed},
  {"call.relay-names-sender",
   "A relayed frame names the sending session's user and device, not from "
   "or device headers the client put in.",
   "CALL-5 SEC-3", PC_MUST, "calls", relay_names_sender},
  {"call.media-state-to-all",
   "MEDIA-STATE reaches every other participant with its values, not the "
   "sender.",
   "CALL-5", PC_MUST, "calls", media_state_to_all},
  {"call.relay-in-order",
   "An OFFER and the CANDIDATEs sent after it without waiting reach the "
   "peer in the order sent.",
   "CALL-6", PC_MUST, "calls", relay_in_order},
  {"call.server-verbs-refused",
   "RING, PARTICIPANTS, JOINED, LEFT, RING-STOP or CALL-END from a client "
   "gets the fatal bad-state.",
   "CALL-7", PC_MUST, "calls", server_verbs_refused},
  {"call.hangup-ends-for-all",
   "HANGUP from a participant ends the call: CALL-END with its reason "
   "reaches every participant, nothing about the call follows, and a JOIN "
   "gets no-such-call.",
   "CALL-8 CALL-12 CALL-15", PC_MUST, "calls", hangup_ends_for_all},
  {"call.leave-two-party",
   "LEAVE from one of two participants: the other gets LEFT naming it with "
   "the LEAVE's reason, then CALL-END completed.",
   "CALL-9", PC_MUST, "calls", leave_two_party},
  {"call.decline-in-group",
   "In a group, a callee's HANGUP while ringing is answered OK, stops the "
   "ringing on the callee's other devices and does not end the call.",
   "CALL-10", PC_MUST, "calls", decline_in_group},
  {"call.decline-while-ringing",
   "In a direct conversation, the callee's HANGUP while ringing ends the "
   "call with CALL-END declined to the caller and every rung session.",
   "CALL-8 CALL-12", PC_MUST, "calls", decline_while_ringing},
  {"call.caller-cancels",
   "The caller's HANGUP or LEAVE while ringing ends the call with CALL-END "
   "cancelled to the caller and every rung session.",
   "CALL-8 CALL-12", PC_MUST, "calls", caller_cancels},
  {"call.ring-times-out",
   "A call nobody joins within the ring timeout ends with CALL-END "
   "no-answer to the caller and the rung sessions.",
   "CALL-11 CALL-12", PC_MUST, "calls", ring_times_out},
  {"call.candidate-not-in-call",
   "CANDIDATE or OFFER from a member who is not in the call gets "
   "no-such-call, not fatal, and reaches nobody.",
   "CALL-15 CALL-19", PC_MUST, "calls", candidate_not_in_call},
  {"call.to-not-participant",
   "A frame addressed to a user or device that is not in the call gets "
   "no-such-call and reaches nobody.",
   "CALL-15 CALL-19", PC_MUST, "calls", to_not_participant},
  {"call.non-member-unknown",
   "Call frames from a non-member of the conversation get the very answer "
   "an unknown call id gets, apart from req, and reach nobody.",
   "CALL-1 CALL-15 SEC-20", PC_MUST, "calls", non_member_unknown},
  {"call.answer-without-offer",
   "ANSWER without a pending OFFER from the addressed participant gets "
   "bad-call-state and is not relayed.",
   "CALL-16 CALL-19", PC_MUST, "calls", answer_without_offer},
  {"call.offer-while-pending",
   "A second OFFER to the same participant while the first waits for its "
   "ANSWER gets bad-call-state, unless it carries ice-restart: yes.",
   "CALL-16", PC_MUST, "calls", offer_while_pending},
  {"call.check-order",
   "A call frame that fails several checks gets the error of the first in "
   "the order of section 19.5 (headers, membership, addressee, call rules, "
   "body).",
   "CALL-14 CALL-15 CALL-16", PC_MUST, "calls", check_order},
  {"call.bad-candidate",
   "A candidate that breaks the candidate grammar or its limits gets "
   "bad-candidate, not fatal, and is not relayed.",
   "CALL-18 CALL-19", PC_MUST, "calls", bad_candidate},
  {"call.body-on-bodyless",
   "A CALL, JOIN, CANDIDATE, END-OF-CANDIDATES, MEDIA-STATE, LEAVE or "
   "HANGUP that carries a body gets bad-value naming content-length and "
   "is not acted on.",
   "CALL-24", PC_MUST, "calls", body_on_bodyless},
  {"call.bad-sdp",
   "An SDP body outside the grammar or the profile (no ice-pwd, a bad "
   "fingerprint, no audio, no opus, garbage) gets bad-sdp and is not "
   "relayed.",
   "SDP-1 CALL-17 CALL-19", PC_MUST, "calls", bad_sdp},
  {"call.sdp-content-type",
   "An OFFER whose content-type is not application/sdp, or that has none "
   "or no body, gets bad-sdp and is not relayed.",
   "CALL-17 CALL-19", PC_MUST, "calls", sdp_content_type},
  {"call.sdp-accepted",
   "Offers the profile allows (lone LF line ends, lower-case fingerprint, "
   "unknown attributes, content-type in other case with a parameter) are "
   "relayed.",
   "SDP-1 CALL-5 CALL-17", PC_MUST, "calls", sdp_accepted},
  {"call.bad-sdp-names-line",
   "The bad-sdp ERROR names the line and the rule broken; the "
   "bad-candidate ERROR has a body.",
   "CALL-20", PC_SHOULD, "calls", bad_sdp_names_line},
  {"call.sdp-too-large",
   "An SDP body of 16385 octets gets sdp-too-large and is not relayed; one "
   "of 16384 octets is relayed.",
   "CALL-17 CALL-19", PC_MUST, "calls", sdp_too_large},
  {"call.second-device-join",
   "JOIN from a second device of a user in the call, or again from the "
   "device in it, gets bad-call-state.",
   "CALL-16", PC_MUST, "calls", second_device_join},
  {"call.second-call-in-conv",
   "CALL in a conversation whose call is ringing or active gets "
   "bad-call-state and rings nobody.",
   "CALL-2 CALL-16", PC_MUST, "calls", second_call_in_conv},
  {"call.rejoin-within-grace",
   "A participant whose connection dropped rejoins within the grace: the "
   "peer gets JOINED rejoin yes and no LEFT, and an ice-restart OFFER is "
   "relayed.",
   "CALL-4 CALL-13", PC_MUST, "calls", rejoin_within_grace},
  {"call.grace-expires",
   "A participant who does not come back within the grace is LEFT with "
   "reason disconnected; when too few are left the call ends disconnected.",
   "CALL-13", PC_MUST, "calls", grace_expires},
  {"call.http-call-record",
   "GET /v1/call/{id} shows an ended call with its conv, end reason, times "
   "and participant events, and the conversation's call list starts with "
   "it.",
   "CALL-21", PC_SHOULD, "calls", http_call_record},
  {"call.http-not-member",
   "GET /v1/call/{id} by a non-member answers the 404 not-found of an "
   "unknown call; the calls of others' conversation answer as the "
   "conversation does.",
   "CALL-22", PC_MUST, "calls", http_call_not_member},
  {"call.http-recording-not-supported",
   "POST /v1/call/{id}/recording/start answers 401 without a token, 404 "
   "for others' calls, else 501 not-supported with the JSON error body.",
   "CALL-23", PC_MUST, "calls", http_recording_501},
};

const pc_suite pc_suite_call = {"call", false, cases, PC_COUNT(cases)};
