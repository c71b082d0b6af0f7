/* Conformance cases: typing (spec section 9.1, capability `typing`).
 *
 * A server relays an accepted TYPING to the READY sessions of the other
 * members that negotiated `typing`, with `ttl` set to the `typing-ttl`
 * of WELCOME, and to none of the sender's own sessions (TYPE-2, EXT-6).
 * Typing is not stored and an accepted TYPING gets no answer. What a
 * typing state does when its ttl passes is the receiver's business
 * (TYPE-1): the server sends nothing at expiry, so there is no expiry
 * case for servers here; the relayed ttl is what they owe.
 *
 * Every case makes its own conversation of accounts 0, 1 and 2, so
 * relays of other cases never reach its sessions with its `conv`. */
#include <string.h>

#include "watch.h"

static const int members_12[] = {1, 2};

/* A session of account `user` with the given capabilities (NULL: all). */
static pc_conn *typing_session(pc_ctx *t, int user, const char *caps)
{
  pc_session_opts o = {0};
  o.caps = caps;
  return pc_session(t, user, &o);
}

/* Fails unless `f` is the relay of `user`'s TYPING in `conv` with `state`
 * and the ttl of the receiving session's WELCOME. */
static void check_relay(pc_ctx *t, const pc_conn *to, const pc_frame *f,
                        const char *conv, int user, const char *state)
{
  uint64_t ttl = pc_hdr_u64(t, f, "ttl");
  uint64_t want = pc_hdr_u64(t, pc_welcome(to), "typing-ttl");
  const char *u = pc_hdr(f, "user");
  const char *s = pc_hdr(f, "state");

  PC_CHECK(t, pc_hdr_is(f, "conv", conv), "wrong conv");
  PC_CHECK(t, u != NULL && strcmp(u, pc_user(t, user)) == 0,
           "%s: the relayed TYPING names user %s, not the sender %s",
           pc_conn_label(to), u ? u : "(none)", pc_user(t, user));
  PC_CHECK(t, s != NULL && strcmp(s, state) == 0,
           "%s: the relayed TYPING has state %s, not %s", pc_conn_label(to),
           s ? s : "(none)", state);
  PC_CHECK(t, ttl == want,
           "%s: the relayed TYPING has ttl %llu, but its WELCOME stated "
           "typing-ttl %llu (TYPE-2)", pc_conn_label(to),
           (unsigned long long)ttl, (unsigned long long)want);
}

/* spec: TYPE-2 */
static void relayed_to_members(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, 0, members_12, 2);
  pc_conn *a = typing_session(t, 0, NULL);
  pc_conn *b1 = typing_session(t, 1, NULL);
  pc_conn *b2 = typing_session(t, 1, NULL);
  pc_conn *c = typing_session(t, 2, NULL);
  pc_conn *to[] = {b1, b2, c};
  const int user_of[] = {1, 1, 2};

  pcw_need_cap(t, a, "typing");
  pc_send(a, "TYPING", NULL, "conv", conv, "state", "on", NULL);
  for (size_t i = 0; i < PC_COUNT(to); i++) {
    pc_frame *f = pc_expect(to[i], "TYPING", "conv", conv, PC_WAIT);
    pc_note(t, "%s (account %d) got the relay", pc_conn_label(to[i]),
            user_of[i]);
    check_relay(t, to[i], f, conv, 0, "on");
  }
}

/* spec: TYPE-2 */
static void not_to_sender(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, 0, members_12, 2);
  const char *req = pc_uniq(t, "ty");
  pc_conn *a1 = typing_session(t, 0, NULL);
  pc_conn *a2 = typing_session(t, 0, NULL);
  pc_conn *b = typing_session(t, 1, NULL);
  size_t n;
  pc_frame **got;

  pcw_need_cap(t, a1, "typing");
  pc_send(a1, "TYPING", NULL, "conv", conv, "state", "on", "req", req,
          NULL);
  pc_expect(b, "TYPING", "conv", conv, PC_WAIT);
  got = pcw_collect(t, a1, &n);
  PC_CHECK(t, pcw_find(got, n, "TYPING", "conv", conv) == NULL,
           "the sending session got its own TYPING back (TYPE-2)");
  PC_CHECK(t, pcw_find(got, n, NULL, "req", req) == NULL,
           "an accepted TYPING was answered (section 9.1: no answer)");
  pcw_none(t, a2, "TYPING", "conv", conv,
           "another session of the sender got the sender's TYPING "
           "(TYPE-2)");
}

/* spec: TYPE-2 */
static void state_off_relayed(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, 0, members_12, 2);
  pc_conn *a = typing_session(t, 0, NULL);
  pc_conn *b = typing_session(t, 1, NULL);
  pc_frame *f;

  pcw_need_cap(t, a, "typing");
  pc_send(a, "TYPING", NULL, "conv", conv, "state", "on", NULL);
  f = pc_expect(b, "TYPING", "conv", conv, PC_WAIT);
  check_relay(t, b, f, conv, 0, "on");
  pc_send(a, "TYPING", NULL, "conv", conv, "state", "off", NULL);
  f = pc_expect(b, "TYPING", "conv", conv, PC_WAIT);
  check_relay(t, b, f, conv, 0, "off");
}

/* spec: EXT-6 TYPE-2 */
static void not_without_cap(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, 0, members_12, 2);
  pc_conn *a = typing_session(t, 0, NULL);
  pc_conn *with = typing_session(t, 1, NULL);
  pc_conn *without = typing_session(t, 1, "receipts,presence");

  pcw_need_cap(t, a, "typing");
  PC_CHECK(t, !pcw_has_cap(without, "typing"),
           "WELCOME lists typing for a session whose HELLO did not offer "
           "it (EXT-2, section 4.3)");
  pc_send(a, "TYPING", NULL, "conv", conv, "state", "on", NULL);
  pc_expect(with, "TYPING", "conv", conv, PC_WAIT);
  pcw_none(t, without, "TYPING", NULL, NULL,
           "a session that did not negotiate typing got a relayed TYPING "
           "(EXT-6)");
}

/* spec: TYPE-2 */
static void sender_without_cap(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, 0, members_12, 2);
  pc_conn *a = typing_session(t, 0, "");
  pc_conn *b = typing_session(t, 1, NULL);
  pc_frame *f;

  pcw_need_cap(t, b, "typing");
  pc_note(t, "the sender negotiated no capability; section 4.3: what a "
             "client sends is handled all the same");
  pc_send(a, "TYPING", NULL, "conv", conv, "state", "on", NULL);
  f = pc_expect(b, "TYPING", "conv", conv, PC_WAIT);
  check_relay(t, b, f, conv, 0, "on");
}

/* spec: SEC-3 EXT-5 TYPE-2 */
static void user_from_session(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, 0, members_12, 2);
  pc_conn *a = typing_session(t, 0, NULL);
  pc_conn *b = typing_session(t, 1, NULL);
  pc_frame *f;

  pcw_need_cap(t, a, "typing");
  pc_note(t, "account 0 sends TYPING with a user header naming account 2");
  pc_send(a, "TYPING", NULL, "conv", conv, "state", "on", "user",
          pc_user(t, 2), "ttl", "1", NULL);
  f = pc_expect(b, "TYPING", "conv", conv, PC_WAIT);
  check_relay(t, b, f, conv, 0, "on");
}

/* Sends TYPING with `conv` and `state` (each left out when NULL) and
 * `req`, and expects ERROR `reason`, not fatal, carrying `req`. */
static void refused(pc_conn *c, const char *reason, const char *req,
                    const char *conv, const char *state)
{
  if (conv != NULL && state != NULL)
    pc_send(c, "TYPING", NULL, "conv", conv, "state", state, "req", req,
            NULL);
  else if (conv != NULL)
    pc_send(c, "TYPING", NULL, "conv", conv, "req", req, NULL);
  else
    pc_send(c, "TYPING", NULL, "state", state, "req", req, NULL);
  pc_expect_error(c, reason, 0, req, PC_WAIT);
}

/* spec: FRAME-11 ERR-2 REQ-1 TYPE-2 */
static void bad_values(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, 0, members_12, 2);
  const char *nowhere = pc_uniq(t, "c");
  pc_conn *a = typing_session(t, 0, NULL);
  pc_conn *b = typing_session(t, 1, NULL);
  const char *states[] = {"maybe", "ON", "", "on ", "yes"};
  char long_id[66];

  pcw_need_cap(t, a, "typing");
  for (size_t i = 0; i < PC_COUNT(states); i++)
    refused(a, "bad-value", pc_uniq(t, "tv"), conv, states[i]);
  pc_note(t, "section 10: the form of each value is checked before "
             "membership, so a bad state in an unknown conversation is "
             "bad-value too");
  refused(a, "bad-value", pc_uniq(t, "tv"), nowhere, "sideways");
  refused(a, "missing-header", pc_uniq(t, "tm"), conv, NULL);
  refused(a, "missing-header", pc_uniq(t, "tm"), NULL, "on");
  refused(a, "bad-value", pc_uniq(t, "tv"), "no such id!", "on");
  memset(long_id, 'c', 65);
  long_id[65] = '\0';
  refused(a, "bad-value", pc_uniq(t, "tv"), long_id, "on");
  pcw_none(t, b, "TYPING", "conv", conv,
           "a refused TYPING was relayed (FRAME-11: it is not acted on)");
}

static const pc_case cases[] = {
  {"typing.relayed-to-members",
   "An accepted TYPING reaches every READY session of the other members "
   "that negotiated typing, naming the sender, with ttl equal to the "
   "receiving session's typing-ttl.",
   "TYPE-2", PC_MUST, "typing", relayed_to_members},
  {"typing.not-to-sender",
   "An accepted TYPING is not relayed to the sending session or the "
   "sender's other sessions, and gets no answer.",
   "TYPE-2", PC_MUST, "typing", not_to_sender},
  {"typing.state-off-relayed",
   "TYPING with state off is relayed like state on, with state off.",
   "TYPE-2", PC_MUST, "typing", state_off_relayed},
  {"typing.not-without-cap",
   "A member session that did not negotiate typing gets no relayed "
   "TYPING while one of the same user that did gets it.",
   "EXT-6 TYPE-2", PC_MUST, "typing", not_without_cap},
  {"typing.sender-without-cap",
   "A TYPING from a session that negotiated no capabilities is relayed "
   "to members that negotiated typing.",
   "TYPE-2", PC_MUST, "typing", sender_without_cap},
  {"typing.user-from-session",
   "The relayed TYPING names the user of the sending session, not a user "
   "header the client put in its TYPING.",
   "SEC-3 EXT-5 TYPE-2", PC_MUST, "typing", user_from_session},
  {"typing.bad-values",
   "TYPING with a bad or missing state or conv gets bad-value or "
   "missing-header with its req, not fatal, and is not relayed.",
   "FRAME-11 ERR-2 REQ-1 TYPE-2", PC_MUST, "typing", bad_values},
};

const pc_suite pc_suite_typing = {"typing", false, cases, PC_COUNT(cases)};
