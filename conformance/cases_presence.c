/* Conformance cases: presence (spec section 9.2, capability `presence`).
 *
 * A user has one status, set by the latest accepted PRESENCE from any of
 * the user's sessions. The server relays it, with the time left as `ttl`
 * when it has one, to the READY sessions that negotiated `presence` of
 * the other users who share a conversation with the user, once per
 * session (PRES-3), and relays `offline` when the ttl lapses or the
 * user's last READY session closes (PRES-1).
 *
 * Presence belongs to the user, not to a conversation, so these cases
 * cannot keep apart by making their own conversations as the others do.
 * Each runs alone among the presence cases of this process
 * (pcw_exclusive) with one subject, the run's last account, of which no
 * case of another suite opens a session; it first sets the subject's
 * status without a ttl, so that no timer left by an earlier case can
 * fire during it. The observers' sessions are opened after that and
 * match relays by `user`, so the presence of other users (other cases)
 * does not disturb them. Ttls are chosen short (PRES_TTL_MS) so that
 * expiry waits stay short. */
#include <stdio.h>
#include <string.h>

#include "watch.h"

#define PRES_TTL_MS 300u
#define PRES_TTL_MAX 86400000ull /* section 9.2: 1 to 86,400,000 ms */

/* The accounts of a presence case: the subject, whose status changes,
 * and two observers who share a conversation with it. */
typedef struct pres {
  int subject, obs1, obs2;
  const char *user;         /* the subject's user name */
  const char *conv;
} pres;

/* A session of account `user` with capabilities `caps` (NULL: all). */
static pc_conn *pres_session(pc_ctx *t, int user, const char *caps)
{
  pc_session_opts o = {0};
  o.caps = caps;
  return pc_session(t, user, &o);
}

/* Takes the presence lock, picks the accounts and makes a conversation
 * of all three. Returns a READY session of the subject whose status is
 * now online without a ttl (so no earlier timer is pending). */
static pc_conn *pres_begin(pc_ctx *t, pres *p, const char *subject_caps)
{
  int members[2];
  pc_conn *s;
  size_t n;

  pcw_exclusive(t, 0);
  p->subject = (int)pc_account_count(t) - 1;
  p->obs1 = 0;
  p->obs2 = 1;
  p->user = pc_user(t, p->subject);
  members[0] = p->obs1;
  members[1] = p->obs2;
  p->conv = pc_conv_group(t, p->subject, members, 2);
  s = pres_session(t, p->subject, subject_caps);
  pc_note(t, "subject %s: reset to online without ttl", p->user);
  pc_send(s, "PRESENCE", NULL, "status", "online", NULL);
  pcw_collect(t, s, &n);
  return s;
}

/* Waits for the next PRESENCE about p->user on `c` and checks its status;
 * returns it. */
static pc_frame *next_status(pc_ctx *t, const pres *p, pc_conn *c,
                             const char *status, unsigned timeout_ms)
{
  pc_frame *f = pc_expect(c, "PRESENCE", "user", p->user, timeout_ms);
  const char *st = pc_hdr(f, "status");

  PC_CHECK(t, st != NULL && strcmp(st, status) == 0,
           "%s: the next PRESENCE of %s has status %s, expected %s",
           pc_conn_label(c), p->user, st ? st : "(none)", status);
  return f;
}

/* Checks that a relayed status carries a ttl from 1 to `max`. */
static uint64_t check_ttl(pc_ctx *t, const pc_frame *f, uint64_t max)
{
  bool has;
  uint64_t ttl = pcw_hdr_opt_u64(t, f, "ttl", &has);

  PC_CHECK(t, has, "the relayed status has no ttl, but the PRESENCE that "
                   "set it had one (PRES-3: the time left)");
  PC_CHECK(t, ttl >= 1 && ttl <= max,
           "the relayed ttl %llu is not the time left of a ttl of %llu ms",
           (unsigned long long)ttl, (unsigned long long)max);
  return ttl;
}

static void check_no_ttl(pc_ctx *t, const pc_frame *f, const char *why)
{
  PC_CHECK(t, pc_hdr(f, "ttl") == NULL, "the relayed PRESENCE carries "
           "ttl %s, %s", pc_hdr_show(f, "ttl"), why);
}

/* spec: PRES-3 */
static void relayed_to_sharers(pc_ctx *t)
{
  pres p;
  pc_conn *s1 = pres_begin(t, &p, NULL);
  pc_conn *s2 = pres_session(t, p.subject, NULL);
  pc_conn *o1 = pres_session(t, p.obs1, NULL);
  pc_conn *o2 = pres_session(t, p.obs1, NULL);
  pc_conn *q = pres_session(t, p.obs2, NULL);
  pc_conn *to[] = {o1, o2, q};
  const char *req = pc_uniq(t, "pr");
  size_t n;
  pc_frame **got;

  pcw_need_cap(t, o1, "presence");
  pc_send(s1, "PRESENCE", NULL, "status", "away", "ttl", "60000", "req", req,
          NULL);
  for (size_t i = 0; i < PC_COUNT(to); i++)
    check_ttl(t, next_status(t, &p, to[i], "away", PC_WAIT), 60000);
  got = pcw_collect(t, s1, &n);
  PC_CHECK(t, pcw_find(got, n, NULL, "req", req) == NULL,
           "an accepted PRESENCE was answered (section 9.2: no answer)");
  PC_CHECK(t, pcw_find(got, n, "PRESENCE", "user", p.user) == NULL,
           "the sending session was told its own user's status (PRES-3)");
  pcw_none(t, s2, "PRESENCE", "user", p.user,
           "another session of the user was told the user's own status "
           "(PRES-3)");
}

/* spec: PRES-3 */
static void once_per_session(pc_ctx *t)
{
  pres p;
  pc_conn *s = pres_begin(t, &p, NULL);
  int other[] = {p.obs1};
  pc_conn *o;

  pc_note(t, "a second conversation shared by the subject and observer: "
             "%s", pc_conv_group(t, p.subject, other, 1));
  o = pres_session(t, p.obs1, NULL);
  pcw_need_cap(t, o, "presence");
  pc_send(s, "PRESENCE", NULL, "status", "away", NULL);
  check_no_ttl(t, next_status(t, &p, o, "away", PC_WAIT),
               "but the PRESENCE that set the status had none (9.2)");
  pc_note(t, "a second status: the observer must see it next, with no "
             "repeat of the first in between");
  pc_send(s, "PRESENCE", NULL, "status", "online", NULL);
  next_status(t, &p, o, "online", PC_WAIT);
}

/* spec: PRES-1 PRES-3 */
static void ttl_lapses(pc_ctx *t)
{
  pres p;
  pc_conn *s = pres_begin(t, &p, NULL);
  pc_conn *o = pres_session(t, p.obs1, NULL);
  char ttl[24];
  uint64_t sent;
  pc_frame *f;

  pcw_need_cap(t, o, "presence");
  snprintf(ttl, sizeof ttl, "%u", PRES_TTL_MS);
  sent = pc_now_ms();
  pc_send(s, "PRESENCE", NULL, "status", "away", "ttl", ttl, NULL);
  check_ttl(t, next_status(t, &p, o, "away", PC_WAIT), PRES_TTL_MS);
  f = next_status(t, &p, o, "offline", PRES_TTL_MS + pc_wait_ms(t));
  check_no_ttl(t, f, "but an offline status has none (section 10)");
  PC_CHECK(t, pc_now_ms() >= sent + PRES_TTL_MS,
           "offline came %llu ms after a PRESENCE with ttl %u was sent, "
           "before the ttl could lapse",
           (unsigned long long)(pc_now_ms() - sent), PRES_TTL_MS);
}

/* spec: PRES-1 PRES-3 */
static void renewal_extends(pc_ctx *t)
{
  pres p;
  pc_conn *s = pres_begin(t, &p, NULL);
  pc_conn *o = pres_session(t, p.obs1, NULL);
  const unsigned longer = 4 * PRES_TTL_MS;
  char ttl1[24], ttl2[24];
  uint64_t renewed;

  pcw_need_cap(t, o, "presence");
  snprintf(ttl1, sizeof ttl1, "%u", PRES_TTL_MS);
  snprintf(ttl2, sizeof ttl2, "%u", longer);
  pc_send(s, "PRESENCE", NULL, "status", "online", "ttl", ttl1, NULL);
  check_ttl(t, next_status(t, &p, o, "online", PC_WAIT), PRES_TTL_MS);
  renewed = pc_now_ms();
  pc_send(s, "PRESENCE", NULL, "status", "online", "ttl", ttl2, NULL);
  pc_note(t, "a renewal with the same status is relayed too (9.2)");
  check_ttl(t, next_status(t, &p, o, "online", PC_WAIT), longer);
  next_status(t, &p, o, "offline", longer + pc_wait_ms(t));
  PC_CHECK(t, pc_now_ms() >= renewed + longer,
           "offline came %llu ms after the renewal with ttl %u: the first "
           "ttl's timer still ran",
           (unsigned long long)(pc_now_ms() - renewed), longer);
}

/* spec: PRES-1 */
static void last_session_offline(pc_ctx *t)
{
  pres p;
  pc_conn *s1 = pres_begin(t, &p, NULL);
  pc_conn *o = pres_session(t, p.obs1, NULL);
  pc_conn *s2 = pres_session(t, p.subject, NULL);
  pc_frame *f;

  pcw_need_cap(t, o, "presence");
  pc_send(s1, "PRESENCE", NULL, "status", "online", NULL);
  check_no_ttl(t, next_status(t, &p, o, "online", PC_WAIT),
               "but the PRESENCE had none (9.2)");
  pc_note(t, "one of the subject's two sessions ends with BYE");
  pc_send(s1, "BYE", NULL, NULL);
  pc_expect_close(s1, PC_WAIT);
  pc_note(t, "the other sets away: the observer must see away next, "
             "not offline, since a session remains");
  pc_send(s2, "PRESENCE", NULL, "status", "away", NULL);
  next_status(t, &p, o, "away", PC_WAIT);
  pc_note(t, "the subject's last session drops without a close");
  pc_drop(s2);
  f = next_status(t, &p, o, "offline", PC_WAIT);
  check_no_ttl(t, f, "but an offline status has none (section 10)");
}

/* Whether account k is in a conversation with user `user`, by its list
 * of conversations (HTTP-14: every conversation it is a member of). */
static bool shares_with(pc_ctx *t, int k, const char *user)
{
  pc_http *r = pc_http_request(t, "GET", "/v1/conversations",
                               pc_token(t, k), NULL, NULL, 0);
  json_t *conv, *members, *name;
  size_t i, j;

  pc_http_expect(t, r, 200, NULL);
  PC_CHECK(t, json_is_array(r->json), "GET /v1/conversations is not an "
           "array: %.300s", r->body);
  json_array_foreach(r->json, i, conv) {
    members = json_object_get(conv, "members");
    json_array_foreach(members, j, name)
      if (json_is_string(name) && strcmp(json_string_value(name), user) == 0)
        return true;
  }
  return false;
}

/* An account that is in no conversation with the subject, or -1. The
 * observers (0 and 1) are in one by pres_begin. */
static int stranger_of(pc_ctx *t, const pres *p)
{
  for (int k = p->subject - 1; k > p->obs2; k--)
    if (!shares_with(t, k, p->user))
      return k;
  return -1;
}

/* spec: PRES-4 PRES-3 */
static void only_to_sharers(pc_ctx *t)
{
  pres p;
  pc_conn *s = pres_begin(t, &p, NULL);
  int k = stranger_of(t, &p);
  pc_conn *o = pres_session(t, p.obs1, NULL), *x;
  size_t n;
  pc_frame **got;

  pcw_need_cap(t, o, "presence");
  if (k < 0) {
    pc_note(t, "every account of the run is in a conversation with the "
               "subject %s: PRES-4 cannot be seen on this target (spec "
               "1.5); only the relay to a sharer is checked", p.user);
    pc_send(s, "PRESENCE", NULL, "status", "away", NULL);
    next_status(t, &p, o, "away", PC_WAIT);
    return;
  }
  pc_note(t, "%s is in no conversation with the subject %s",
          pc_user(t, k), p.user);
  x = pres_session(t, k, NULL);
  pc_send(s, "PRESENCE", NULL, "status", "away", NULL);
  next_status(t, &p, o, "away", PC_WAIT);
  got = pcw_collect(t, x, &n);
  if (pcw_find(got, n, "PRESENCE", "user", p.user) == NULL)
    return;
  PC_CHECK(t, shares_with(t, k, p.user), "%s, in no conversation with "
           "%s, was told %s's status (PRES-4)", pc_user(t, k), p.user,
           p.user);
  pc_note(t, "another case put %s in a conversation with the subject "
          "meanwhile; nothing to judge", pc_user(t, k));
}

/* spec: FRAME-11 ERR-2 PRES-3 */
static void ttl_range(pc_ctx *t)
{
  pres p;
  pc_conn *s = pres_begin(t, &p, NULL);
  pc_conn *o = pres_session(t, p.obs1, NULL);
  const char *bad[] = {"0", "86400001", "99999999999999999999999"};
  char max[24];
  pc_frame *f;

  pcw_need_cap(t, o, "presence");
  for (size_t i = 0; i < PC_COUNT(bad); i++) {
    const char *req = pc_uniq(t, "pt");
    pc_send(s, "PRESENCE", NULL, "status", "away", "ttl", bad[i], "req",
            req, NULL);
    pc_expect_error(s, "bad-value", 0, req, PC_WAIT);
  }
  snprintf(max, sizeof max, "%llu", PRES_TTL_MAX);
  pc_send(s, "PRESENCE", NULL, "status", "away", "ttl", max, NULL);
  f = next_status(t, &p, o, "away", PC_WAIT);
  check_ttl(t, f, PRES_TTL_MAX);
  pc_send(s, "PRESENCE", NULL, "status", "online", "ttl", "1", NULL);
  next_status(t, &p, o, "online", PC_WAIT);
  next_status(t, &p, o, "offline", 1 + pc_wait_ms(t));
}

/* spec: FRAME-11 ERR-2 REQ-1 */
static void bad_values(pc_ctx *t)
{
  pres p;
  pc_conn *s = pres_begin(t, &p, NULL);
  pc_conn *o = pres_session(t, p.obs1, NULL);
  const char *statuses[] = {"offline", "busy", "Online", ""};
  const char *ttls[] = {"01", "-5", "", "1.5", "6e4"};

  pcw_need_cap(t, o, "presence");
  for (size_t i = 0; i < PC_COUNT(statuses); i++) {
    const char *req = pc_uniq(t, "ps");
    pc_send(s, "PRESENCE", NULL, "status", statuses[i], "req", req, NULL);
    pc_expect_error(s, "bad-value", 0, req, PC_WAIT);
  }
  for (size_t i = 0; i < PC_COUNT(ttls); i++) {
    const char *req = pc_uniq(t, "pt");
    pc_send(s, "PRESENCE", NULL, "status", "away", "ttl", ttls[i], "req",
            req, NULL);
    pc_expect_error(s, "bad-value", 0, req, PC_WAIT);
  }
  {
    const char *req = pc_uniq(t, "pm");
    pc_send(s, "PRESENCE", NULL, "ttl", "60000", "req", req, NULL);
    pc_expect_error(s, "missing-header", 0, req, PC_WAIT);
  }
  pc_note(t, "none of those changed the status: the first relay the "
             "observer sees is the next valid PRESENCE");
  pc_send(s, "PRESENCE", NULL, "status", "away", NULL);
  next_status(t, &p, o, "away", PC_WAIT);
}

/* spec: EXT-6 PRES-3 */
static void not_without_cap(pc_ctx *t)
{
  pres p;
  pc_conn *s = pres_begin(t, &p, NULL);
  pc_conn *with = pres_session(t, p.obs1, NULL);
  pc_conn *without = pres_session(t, p.obs1, "receipts,typing");
  char ttl[24];

  pcw_need_cap(t, with, "presence");
  PC_CHECK(t, !pcw_has_cap(without, "presence"),
           "WELCOME lists presence for a session whose HELLO did not offer "
           "it (EXT-2, section 4.3)");
  snprintf(ttl, sizeof ttl, "%u", PRES_TTL_MS);
  pc_send(s, "PRESENCE", NULL, "status", "away", "ttl", ttl, NULL);
  next_status(t, &p, with, "away", PC_WAIT);
  next_status(t, &p, with, "offline", PRES_TTL_MS + pc_wait_ms(t));
  pcw_none(t, without, "PRESENCE", NULL, NULL,
           "a session that did not negotiate presence got a relayed "
           "PRESENCE (EXT-6)");
}

/* spec: PRES-3 */
static void sender_without_cap(pc_ctx *t)
{
  pres p;
  pc_conn *s = pres_begin(t, &p, "");
  pc_conn *o = pres_session(t, p.obs1, NULL);

  pcw_need_cap(t, o, "presence");
  pc_note(t, "the subject's session negotiated no capability; section "
             "4.3: what a client sends is handled all the same");
  pc_send(s, "PRESENCE", NULL, "status", "away", NULL);
  next_status(t, &p, o, "away", PC_WAIT);
}

/* spec: SEC-3 EXT-5 PRES-3 */
static void user_from_session(pc_ctx *t)
{
  pres p;
  pc_conn *s = pres_begin(t, &p, NULL);
  pc_conn *o = pres_session(t, p.obs2, NULL);

  pcw_need_cap(t, o, "presence");
  pc_note(t, "the subject sends PRESENCE with a user header naming "
             "account %d", p.obs1);
  pc_send(s, "PRESENCE", NULL, "status", "away", "user", pc_user(t, p.obs1),
          NULL);
  next_status(t, &p, o, "away", PC_WAIT);
}

static const pc_case cases[] = {
  {"presence.relayed-to-sharers",
   "An accepted PRESENCE reaches every READY session with presence of "
   "the other users who share a conversation, with the time left as "
   "ttl, and neither the user's own sessions nor an answer.",
   "PRES-3", PC_MUST, "presence", relayed_to_sharers},
  {"presence.only-to-sharers",
   "A status is relayed to the users who share a conversation with the "
   "user and to no session of a user who shares none (when the run has "
   "such an account).",
   "PRES-4 PRES-3", PC_MUST, "presence", only_to_sharers},
  {"presence.once-per-session",
   "A session that shares two conversations with the user gets each "
   "status change once.",
   "PRES-3", PC_MUST, "presence", once_per_session},
  {"presence.ttl-lapses",
   "When the ttl of a status lapses without a renewal, the server relays "
   "offline, not before the ttl has passed.",
   "PRES-1 PRES-3", PC_MUST, "presence", ttl_lapses},
  {"presence.renewal-extends",
   "A renewal with a longer ttl is relayed and replaces the first ttl, "
   "so offline comes only when the renewed ttl lapses.",
   "PRES-1 PRES-3", PC_MUST, "presence", renewal_extends},
  {"presence.last-session-offline",
   "The server relays offline when the user's last READY session closes, "
   "and not while another one remains.",
   "PRES-1", PC_MUST, "presence", last_session_offline},
  {"presence.ttl-range",
   "A ttl of 0 or past 86,400,000 ms gets bad-value; 1 and 86,400,000 are "
   "taken.",
   "FRAME-11 ERR-2 PRES-3", PC_MUST, "presence", ttl_range},
  {"presence.bad-values",
   "PRESENCE with a status other than online or away, a malformed ttl or "
   "no status is refused with its req and changes nothing.",
   "FRAME-11 ERR-2 REQ-1", PC_MUST, "presence", bad_values},
  {"presence.not-without-cap",
   "A session that did not negotiate presence gets no relayed PRESENCE, "
   "neither a status nor its lapse.",
   "EXT-6 PRES-3", PC_MUST, "presence", not_without_cap},
  {"presence.sender-without-cap",
   "A PRESENCE from a session that negotiated no capabilities is relayed.",
   "PRES-3", PC_MUST, "presence", sender_without_cap},
  {"presence.user-from-session",
   "The relayed PRESENCE names the user of the sending session, not a user "
   "header the client put in its PRESENCE.",
   "SEC-3 EXT-5 PRES-3", PC_MUST, "presence", user_from_session},
};

const pc_suite pc_suite_presence = {"presence", false, cases,
                                    PC_COUNT(cases)};
