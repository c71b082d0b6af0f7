/* Conformance cases: fanout (spec section 6, DELIV-1): every READY
 * session of every member gets each message once, the sending session
 * and the sender's other devices included; an offline member gets it
 * with its next SYNC; a non-member gets nothing of it.
 *
 * Each case ends its messages with a closing one and reads every session
 * up to the closing MSG: a second copy of an earlier message cannot come
 * after it without breaking sequence order (DELIV-2), so "exactly once"
 * is checked without waiting on a timer. */
#include <string.h>

#include "msg_util.h"

/* Who sent a message, for checking the MSG frames of it. */
typedef struct sent {
  mu_ack ack;
  const char *from;
  const char *device;
  const char *body;
} sent;

/* Sends `body` on s, waits for its ACK and records it in *out. */
static void post(mu_sess *s, const char *conv, const char *body, sent *out)
{
  out->ack = mu_post(s, conv, body);
  out->from = mu_user(s);
  out->device = pc_device(s->c);
  out->body = body;
}

/* Reads w's MSG frames of conv up to the msg-id of msgs[n-1] and fails
 * unless they are msgs[0..n-1] (seq 1..n), once each, in order, each
 * with the sender's user, device and temp-id. */
static void got_all(mu_sess *w, const char *conv, const sent *msgs, size_t n,
                    const char *who)
{
  pc_ctx *t = w->t;
  mu_list l = {0};

  mu_until(w, conv, NULL, "MSG", "msg-id", msgs[n - 1].ack.msg_id, &l,
           pc_printf(t, "MSG seq %zu on %s", n, who));
  mu_check_seqs(t, &l, 1, n, who);
  for (size_t i = 0; i < l.n; i++) {
    const sent *m = &msgs[mu_seq(t, l.v[i]) - 1];
    mu_msg_is(t, l.v[i], &m->ack, m->from, m->device, "text/plain", m->body,
              strlen(m->body), who);
  }
}

/* spec: DELIV-1 SEC-3 */
static void every_session(pc_ctx *t)
{
  const int members[] = {1, 2};
  const char *conv = mu_group(t, 0, members, 2);
  mu_sess *s[6];
  sent msgs[4];
  static const char *const who[] = {
    "the sender's session", "the sender's other device",
    "the second member's first device", "the second member's second device",
    "the third member's first device",
    "the third member's second device (caps empty, no SYNC)"};

  for (int i = 0; i < 5; i++)
    s[i] = mu_open(t, i / 2, NULL, false);
  s[5] = mu_open_caps(t, 2, NULL, "", false);
  post(s[0], conv, "from the first member", &msgs[0]);
  post(s[3], conv, "from the second member", &msgs[1]);
  post(s[5], conv, "from the third member", &msgs[2]);
  post(s[1], conv, "closing", &msgs[3]);
  for (size_t i = 0; i < 6; i++)
    got_all(s[i], conv, msgs, 4, who[i]);
}

/* spec: DELIV-1 */
static void single_member(pc_ctx *t)
{
  const int members[] = {0};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *a1 = mu_open(t, 0, NULL, false);
  mu_sess *a2 = mu_open(t, 0, NULL, false);
  sent msgs[2];

  post(a1, conv, "to myself", &msgs[0]);
  post(a1, conv, "closing", &msgs[1]);
  got_all(a1, conv, msgs, 2, "the sending session");
  got_all(a2, conv, msgs, 2, "the sender's other device");
}

#define FOUR 4

/* spec: DELIV-1 DELIV-2 SEC-3 */
static void four_members_two_devices(pc_ctx *t)
{
  const int members[] = {1, 2, 3};
  const char *conv = mu_group(t, 0, members, 3);
  mu_sess *s[2 * FOUR];
  sent *msgs = pc_alloc(t, (2 * FOUR + 1) * sizeof *msgs);
  const char *reqs[2 * FOUR];
  mu_ack k;

  for (int i = 0; i < 2 * FOUR; i++)
    s[i] = mu_open(t, i / 2, NULL, false);
  for (int i = 0; i < 2 * FOUR; i++) {
    const char *body = pc_printf(t, "device %d", i);
    reqs[i] = mu_send(s[i], conv, pc_uniq(t, "t"), NULL, body,
                      strlen(body));
  }
  for (int i = 0; i < 2 * FOUR; i++) {
    mu_ack_of(s[i], reqs[i], &k);
    if (k.seq == 0 || k.seq > 2 * FOUR || msgs[k.seq - 1].from != NULL)
      pc_fail(t, "%d messages sent at once; one of them got seq %llu",
              2 * FOUR, (unsigned long long)k.seq);
    msgs[k.seq - 1].ack = k;
    msgs[k.seq - 1].from = mu_user(s[i]);
    msgs[k.seq - 1].device = pc_device(s[i]->c);
    msgs[k.seq - 1].body = pc_printf(t, "device %d", i);
  }
  post(s[2 * FOUR - 1], conv, "closing", &msgs[2 * FOUR]);
  for (int i = 0; i < 2 * FOUR; i++)
    got_all(s[i], conv, msgs, 2 * FOUR + 1,
            pc_printf(t, "member %d, device %d", i / 2 + 1, i % 2 + 1));
}

/* spec: DELIV-1 SYNC-1 */
static void offline_member_syncs(pc_ctx *t)
{
  const int members[] = {1, 2};
  const char *conv = mu_group(t, 0, members, 2);
  mu_sess *c = mu_open(t, 2, NULL, true);
  const char *dev = pc_device(c->c);
  const char *pos = pc_pos(c->c);
  mu_sess *a = mu_open(t, 0, NULL, false);
  sent msgs[3];
  mu_list ev = {0};

  pc_close(c->c, 1000);
  post(a, conv, "while you were out 1", &msgs[0]);
  post(a, conv, "while you were out 2", &msgs[1]);
  post(a, conv, "while you were out 3", &msgs[2]);
  mu_sess *c2 = mu_open(t, 2, dev, false);
  mu_sync(c2, pos, conv, NULL, &ev);
  mu_check_seqs(t, &ev, 1, 3, "the SYNC answer of the member who was away");
  for (size_t i = 0; i < 3; i++)
    mu_msg_is(t, ev.v[i], &msgs[i].ack, msgs[i].from, msgs[i].device,
              "text/plain", msgs[i].body, strlen(msgs[i].body),
              "a message in the SYNC answer");
}

/* spec: DELIV-1 SYNC-1 SEC-19 */
static void non_member_nothing(pc_ctx *t)
{
  const int ab[] = {1}, ad[] = {2};
  const char *x = mu_group(t, 0, ab, 1);
  const char *y = mu_group(t, 0, ad, 1);
  mu_sess *d = mu_open(t, 2, NULL, true);
  const char *pos = pc_pos(d->c);
  mu_sess *a = mu_open(t, 0, NULL, false);
  sent m, marker;
  mu_list live = {0}, ev = {0};

  post(a, x, "members only", &m);
  post(a, y, "marker", &marker);
  mu_until(d, x, y, "MSG", "msg-id", marker.ack.msg_id, &live,
           "the MSG of the conversation the user is in");
  if (live.n != 1)
    pc_fail(t, "a non-member got %s %s of a conversation it is not in",
            live.v[0]->verb, pc_hdr_show(live.v[0], "seq"));
  mu_sync(d, pos, x, y, &ev);
  for (size_t i = 0; i < ev.n; i++)
    if (strcmp(mu_hdr(t, ev.v[i], "conv"), x) == 0)
      pc_fail(t, "the SYNC answer of a non-member holds %s seq %s of a "
              "conversation it is not in", ev.v[i]->verb,
              pc_hdr_show(ev.v[i], "seq"));
  if (ev.n != 1)
    pc_fail(t, "the SYNC answer holds %zu events of the conversation the "
            "user is in, expected its one message", ev.n);
}

/* spec: SEC-3 EXT-5 */
static void from_session_not_headers(pc_ctx *t)
{
  const int members[] = {1};
  const char *conv = mu_group(t, 0, members, 1);
  mu_sess *b = mu_open(t, 1, NULL, false);
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *req = mu_req(a);
  const char *temp_id = pc_uniq(t, "t");
  mu_ack k;

  mu_pace(a);
  pc_send_n(a->c, "SEND", "spoof", 5, "conv", conv, "temp-id", temp_id,
            "from", pc_user(t, 1), "device", "not-this-one", "user",
            pc_user(t, 1), "seq", "99", "ts", "5", "pos", "7", "req", req,
            NULL);
  mu_ack_of(a, req, &k);
  if (k.seq != 1)
    pc_fail(t, "the first message got seq %llu (a seq header on SEND "
            "means nothing, EXT-5)", (unsigned long long)k.seq);
  k.temp_id = temp_id;
  mu_msg_is(t, mu_msg(b, conv), &k, mu_user(a), pc_device(a->c),
            "text/plain", "spoof", 5, "a SEND carrying from and device");
}

static const pc_case cases[] = {
  {"fanout.every-session",
   "Each message reaches every READY session of every member once: the "
   "sending session, the sender's other device, and sessions that sent "
   "no SYNC or named no capabilities.", "DELIV-1 SEC-3", PC_MUST, NULL,
   every_session},
  {"fanout.single-member",
   "In a group whose only member is the sender, the sending session and "
   "the sender's other device get the message.", "DELIV-1", PC_MUST, NULL,
   single_member},
  {"fanout.four-members-two-devices",
   "Messages sent at once from eight sessions of four members reach all "
   "eight sessions once each, in seq order.", "DELIV-1 DELIV-2 SEC-3",
   PC_MUST, NULL, four_members_two_devices},
  {"fanout.offline-member-syncs",
   "A member who was offline gets the messages sent meanwhile in the "
   "answer to its next SYNC.", "DELIV-1 SYNC-1", PC_MUST, NULL,
   offline_member_syncs},
  {"fanout.non-member-nothing",
   "A user who is not a member gets no MSG of the conversation, live or "
   "in a SYNC answer.", "DELIV-1 SYNC-1 SEC-19", PC_MUST, NULL,
   non_member_nothing},
  {"fanout.from-session-not-headers",
   "from, device and seq of a delivered message come from the session and "
   "the server, never from headers the SEND carried.", "SEC-3 EXT-5",
   PC_MUST, NULL, from_session_not_headers},
};

const pc_suite pc_suite_fanout = {"fanout", false, cases, PC_COUNT(cases)};
