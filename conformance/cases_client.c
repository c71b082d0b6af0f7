/* Conformance cases: client mode (`parley-conform --client --exec CMD`).
 *
 * Each case starts the client under test through the test-driver
 * interface (spec section 18, driver.h) against a scripted server of its
 * own (scripted.h), makes the server misbehave in one way, and judges
 * what the client did on the wire and what it showed its user. The cases
 * check the client's duties of sections 2.5, 4, 5, 6, 7, 8, 16 and 17.
 *
 * Timing is judged only with loose bounds taken from the spec: a
 * heartbeat frame within two intervals, waits within the backoff ceiling
 * plus a second, the sum of many random waits above a floor that a
 * correct client misses with a probability below one in a million.
 * Where a case must show that something did not happen, it waits for a
 * later event the client reports in order (a message delivered after the
 * repeat), or for a window the spec's own timers bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "pc.h"
#include "scripted.h"
#include "wire.h"

/* ---- helpers ------------------------------------------------------- */

/* Time for the client to start and reach its first session. */
static unsigned first_ms(pc_ctx *t)
{
  return 3 * pc_wait_ms(t) + 2000;
}

/* The n-th session (1-based), synced. */
static ps_session *live(ps_server *srv, size_t n)
{
  return ps_await_synced(srv, n, n == 1 ? first_ms(ps_ctx(srv))
                                        : ps_reconnect_ms(srv));
}

/* The user sends `body` in `conv` (a `send` command). */
static void user_sends(ps_server *srv, const char *conv, const char *body)
{
  pd_cmd(ps_driver(srv), "{s:s, s:s, s:s, s:s}", "cmd", "send", "conv",
         conv, "body", body, "ref", body);
}

static bool have_queued(ps_server *srv, void *ud)
{
  return pd_find(ps_driver(srv), 0, "queued", "ref", ud, NULL) != NULL;
}

/* The temp-id the client says it gave the message sent with ref `ref`
 * (the `queued` event, DRV-10). */
static const char *queued_temp_id(ps_server *srv, const char *ref)
{
  pc_ctx *t = ps_ctx(srv);
  const char *id;

  ps_run(srv, PC_WAIT, have_queued, (void *)ref,
         pc_printf(t, "the `queued` event of the send \"%s\" (spec DRV-10)",
                   ref));
  id = pd_str(pd_find(ps_driver(srv), 0, "queued", "ref", ref, NULL),
              "temp_id");
  if (id == NULL)
    pc_fail(t, "the `queued` event of \"%s\" has no string temp_id (spec "
            "DRV-10)", ref);
  return id;
}

/* Frames from the client with `verb` (on s, or on any session). */
static size_t count_rx(ps_server *srv, const ps_session *s, const char *verb)
{
  size_t i, n = 0;
  const ps_rx *r;

  for (i = 0; (r = ps_rx_at(srv, i)) != NULL; i++)
    if ((s == NULL || r->s == s) && strcmp(r->f->verb, verb) == 0)
      n++;
  return n;
}

/* The i-th SEND (0-based, over every session) whose body is `body`. */
static const ps_rx *nth_send(ps_server *srv, const char *body, size_t nth)
{
  size_t i;
  const ps_rx *r;

  for (i = 0; (r = ps_rx_at(srv, i)) != NULL; i++)
    if (strcmp(r->f->verb, "SEND") == 0 && strcmp(r->f->body, body) == 0 &&
        nth-- == 0)
      return r;
  return NULL;
}

/* The seqs of `conv` up to `upto`, in the order the client showed them,
 * as text. */
static const char *shown_order(pc_ctx *t, pd *d, const char *conv,
                               size_t *count, uint64_t upto)
{
  char *out = pc_strdup(t, "");
  const pd_event *e;
  size_t i, n = 0;

  for (i = 0; (e = pd_get(d, i)) != NULL; i++) {
    const char *c = pd_str(e, "conv");
    if (strcmp(e->event, "message") != 0 || c == NULL || strcmp(c, conv) ||
        pd_u64(e, "seq") > upto)
      continue;
    out = pc_printf(t, "%s%s%llu", out, n++ ? " " : "",
                    (unsigned long long)pd_u64(e, "seq"));
  }
  *count = n;
  return out;
}

/* Fails unless the client showed seq 1..n of conv (and any later ones,
 * which are barriers) once each, in order. */
static void expect_order(pc_ctx *t, ps_server *srv, const char *conv,
                         size_t n, const char *req)
{
  char *want = pc_strdup(t, "");
  size_t i, got_n;
  const char *got = shown_order(t, ps_driver(srv), conv, &got_n, n);

  for (i = 1; i <= n; i++)
    want = pc_printf(t, "%s%s%zu", want, i > 1 ? " " : "", i);
  if (strcmp(got, want) != 0)
    pc_fail(t, "the client showed the messages of %s as seq %s; each once "
            "and in seq order is %s (spec %s)", conv, got, want, req);
}

/* A last message delivered on s and awaited: the client reports what it
 * shows in order, so every repeat of an earlier message shows before
 * it. */
static void barrier(ps_server *srv, ps_session *s, const char *conv)
{
  ps_msg *m = ps_post(srv, conv, "bob", "the-last-one");
  size_t i;

  for (i = ps_session_count(srv); i > 0; i--) { /* the newest live one */
    s = ps_session_at(srv, i - 1);
    if (s->synced && !s->closed && !s->server_closed)
      break;
  }
  ps_deliver(s, m);
  ps_await_shown(srv, m->body, ps_reconnect_ms(srv));
}

/* Fails unless each seq 1..n of conv was shown exactly once. */
static void expect_once(pc_ctx *t, ps_server *srv, const char *conv,
                        size_t n)
{
  size_t i, k;

  for (i = 1; i <= n; i++)
    if ((k = pd_shown(ps_driver(srv), conv, i)) != 1)
      pc_fail(t, "the client showed the message %s seq %zu %zu times, not "
              "once (spec DELIV-4)", conv, i, k);
}

/* ---- the driver interface ------------------------------------------ */

static bool have_event(ps_server *srv, void *ud)
{
  const char *const *want = ud;

  return pd_find(ps_driver(srv), 0, want[0], want[1], want[2], NULL);
}

/* Waits for an event named `event` with `name` = `value` (name NULL:
 * any); `why` goes into the failure. */
static void await_event(ps_server *srv, const char *event, const char *name,
                        const char *value, const char *why)
{
  const char *want[3] = {event, name, value};

  ps_run(srv, PC_WAIT, have_event, want,
         pc_printf(ps_ctx(srv), "the event `%s`%s%s%s%s (%s)", event,
                   name ? " with " : "", name ? name : "",
                   name ? " = " : "", name ? value : "", why));
}

/* DRV-7: the first run begins empty: a token is asked for before the
 * first upgrade, and the first SYNC names no position. */
static void expect_fresh_state(pc_ctx *t, ps_server *srv, ps_session *s)
{
  size_t n, i;
  ps_accept *acc = ps_accepts(srv, &n);

  for (i = 0; i < n && acc[i].kind != PS_UPGRADE; i++)
    ;
  if (ps_token_requests(srv) == 0 || i == 0)
    pc_fail(t, "the client opened its first WebSocket without asking for "
            "a token first; it starts with none (spec DRV-7)");
  if (s->sync_has_since && strcmp(s->since, "0") != 0)
    pc_fail(t, "the first SYNC of a new client names since %s; a client "
            "starts with no position (spec DRV-7)", s->since);
}

/* spec: DRV-1 DRV-2 DRV-3 DRV-4 DRV-5 DRV-7 DRV-9 DRV-10 DRV-12 DRV-13 DRV-17 */
static void driver_interface(pc_ctx *t)
{
  ps_opts o = {.no_connect = true};
  ps_server *srv = ps_start(t, &o);
  pd *d = ps_driver(srv);
  const char *conv = ps_conv(srv), *temp_id, *state;
  const ps_rx *send;
  size_t i;

  await_event(srv, "driver", NULL, NULL, "the first line, spec DRV-3");
  pd_cmd(d, "{s:s, s:s}", "cmd", "x-no-such-command", "x-extra", "1");
  await_event(srv, "unsupported", "cmd", "x-no-such-command",
              "spec DRV-5");
  pd_cmd(d, "{s:s, s:i}", "cmd", "send", "conv", 7);
  await_event(srv, "bad-command", NULL, NULL,
              "a send whose conv is a number, spec DRV-5");
  pd_cmd(d, "{s:s, s:s, s:s, s:s, s:s, s:s}", "cmd", "connect", "url",
         ps_url(srv), "user", ps_user(srv), "password", ps_password(srv),
         "device", ps_device(srv), "x-future", "a member it does not know");
  await_event(srv, "state", "state", "connecting", "spec DRV-13");
  expect_fresh_state(t, srv, live(srv, 1));
  await_event(srv, "state", "state", "ready", "spec DRV-13");
  user_sends(srv, conv, "driver-one");
  temp_id = queued_temp_id(srv, "driver-one");
  ps_await_shown(srv, "driver-one", PC_WAIT);
  await_event(srv, "sent", "temp_id", temp_id, "the ACK, spec DRV-12");
  send = nth_send(srv, "driver-one", 0);
  if (send == NULL || !pc_hdr_is(send->f, "temp-id", temp_id))
    pc_fail(t, "the SEND of \"driver-one\" carries temp-id %s, not the %s "
            "of its `queued` event (spec DRV-10)",
            send ? pc_hdr_show(send->f, "temp-id") : "(no SEND)", temp_id);
  ps_quit(srv);
  for (i = pd_count(d); i > 0; i--)
    if (strcmp(pd_get(d, i - 1)->event, "state") == 0)
      break;
  state = i > 0 ? pd_str(pd_get(d, i - 1), "state") : NULL;
  if (state == NULL || strcmp(state, "idle") != 0)
    pc_fail(t, "the client's last state after `quit` is %s, not idle (spec "
            "DRV-13)", state ? state : "(none)");
}

/* ---- the handshake ------------------------------------------------- */

static bool have_frame(ps_server *srv, void *ud)
{
  size_t n = *(size_t *)ud;

  return ps_session_count(srv) >= n && ps_session_at(srv, n - 1)->frames;
}

/* Waits for the first frame on the n-th session; fails unless it is
 * HELLO. */
static void expect_hello_first(pc_ctx *t, ps_server *srv, size_t n)
{
  ps_session *s;
  const ps_rx *r;
  size_t i;

  ps_run(srv, n == 1 ? first_ms(t) : ps_reconnect_ms(srv), have_frame, &n,
         pc_printf(t, "a frame on the client's connection #%zu", n));
  s = ps_session_at(srv, n - 1);
  for (i = 0; (r = ps_rx_at(srv, i)) != NULL && r->s != s; i++)
    ;
  if (strcmp(r->f->verb, "HELLO") != 0)
    pc_fail(t, "the first frame on %s was %s, not HELLO (spec LIFE-1)",
            s->label, r->f->verb);
}

/* spec: LIFE-1 WS-6 */
static void first_frame_is_hello(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);

  expect_hello_first(t, srv, 1);
  ps_drop(live(srv, 1));
  expect_hello_first(t, srv, 2);
  live(srv, 2);
}

/* spec: SEC-4 */
static void credentials_never_in_urls(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  const char **targets;
  ps_token tk;
  size_t n, i, k;

  ps_drop(live(srv, 1));
  live(srv, 2);
  targets = ps_targets(srv, &n);
  for (i = 0; i < n; i++) {
    if (strstr(targets[i], ps_password(srv)) != NULL)
      pc_fail(t, "the request target %s holds the password (spec SEC-4)",
              targets[i]);
    for (k = 0; ps_token_at(srv, k, &tk); k++)
      if (strstr(targets[i], tk.text) != NULL)
        pc_fail(t, "the request target %s holds a token (spec SEC-4)",
                targets[i]);
  }
  pc_note(t, "%zu request targets checked", n);
}

static bool have_client_close(ps_server *srv, void *ud)
{
  (void)srv;
  return ((ps_session *)ud)->closed;
}

/* Fails unless the client closes s (or ends its TCP) within the run's
 * timeout after `what`. */
static void await_client_close(ps_session *s, const char *what)
{
  ps_run(s->srv, PC_WAIT, have_client_close, s,
         pc_printf(ps_ctx(s->srv), "the client to end %s after %s",
                   s->label, what));
}

/* spec: CLI-1 */
static void closes_without_subprotocol(pc_ctx *t)
{
  ps_opts o = {.no_connect = true};
  ps_server *srv = ps_start(t, &o);
  ps_session *s;

  ps_set_no_subprotocol(srv);
  ps_connect(srv);
  s = ps_await_session(srv, 1, first_ms(t));
  ps_await_closed(s, PC_WAIT);
  if (s->frames > 0)
    pc_fail(t, "the client sent %zu frame(s) on %s, whose upgrade did not "
            "select parley.1; it must close without sending one (spec "
            "CLI-1)", s->frames, s->label);
}

/* spec: VER-3 */
static void closes_on_unlisted_version(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  ps_session *s;

  ps_script_of(srv)->welcome_version = "7";
  s = ps_await_session(srv, 1, first_ms(t));
  await_client_close(s, "a WELCOME naming version 7, which its HELLO did "
                     "not list (spec VER-3)");
  if (count_rx(srv, s, "SYNC") > 0 || count_rx(srv, s, "SEND") > 0)
    pc_fail(t, "the client went on with %s after a WELCOME naming version "
            "7, which its HELLO did not list (spec VER-3)", s->label);
}

/* ---- delivery ------------------------------------------------------ */

/* spec: DELIV-4 DRV-11 */
static void shows_each_message_once(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  const char *conv = ps_conv(srv);
  ps_session *s = live(srv, 1);
  ps_msg *m;

  m = ps_post(srv, conv, "bob", "once-1");
  ps_deliver(s, m);
  ps_deliver(s, m);
  ps_deliver(s, ps_post(srv, conv, "bob", "once-2"));
  ps_await_shown(srv, "once-2", PC_WAIT);
  pc_note(t, "the next SYNC answer starts from the beginning again");
  ps_script_of(srv)->sync_from_start = true;
  ps_drop(s);
  s = live(srv, 2);
  ps_deliver(s, ps_post(srv, conv, "bob", "once-3"));
  ps_await_shown(srv, "once-3", PC_WAIT);
  barrier(srv, s, conv);
  expect_once(t, srv, conv, 3);
}

/* spec: DELIV-5 */
static void fills_gap_before_showing(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  const char *conv = ps_conv(srv);
  ps_session *s = live(srv, 1);
  ps_msg *m1 = ps_post(srv, conv, "bob", "gap-1");
  ps_msg *m3;

  ps_post(srv, conv, "bob", "gap-2");
  m3 = ps_post(srv, conv, "bob", "gap-3");
  pc_note(t, "seq 2 is stored but not delivered: a gap");
  ps_deliver(s, m1);
  ps_deliver(s, m3);
  ps_await_shown(srv, "gap-3", 2 * pc_wait_ms(t));
  ps_await_shown(srv, "gap-2", PC_WAIT);
  barrier(srv, s, conv);
  pc_note(t, "HISTORY frames: %zu, SYNC frames: %zu",
          count_rx(srv, NULL, "HISTORY"), count_rx(srv, NULL, "SYNC"));
  expect_order(t, srv, conv, 3, "DELIV-5");
}

/* spec: DELIV-5 */
static void orders_out_of_order_delivery(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  const char *conv = ps_conv(srv);
  ps_session *s = live(srv, 1);
  ps_msg *m1 = ps_post(srv, conv, "bob", "order-1");
  ps_msg *m2 = ps_post(srv, conv, "bob", "order-2");

  pc_note(t, "seq 2 is delivered before seq 1");
  ps_deliver(s, m2);
  ps_deliver(s, m1);
  ps_deliver(s, ps_post(srv, conv, "bob", "order-3"));
  ps_await_shown(srv, "order-3", 2 * pc_wait_ms(t));
  barrier(srv, s, conv);
  expect_order(t, srv, conv, 3, "DELIV-5");
}

/* Waits for the n-th session to have sent a SYNC that the server holds
 * (script.hold_sync). */
static bool have_held_sync(ps_server *srv, void *ud)
{
  size_t n = *(size_t *)ud;

  return ps_session_count(srv) >= n &&
         ps_session_at(srv, n - 1)->sync_held;
}

static ps_session *held_sync(ps_server *srv, size_t n)
{
  ps_run(srv, n == 1 ? first_ms(ps_ctx(srv)) : ps_reconnect_ms(srv),
         have_held_sync, &n,
         pc_printf(ps_ctx(srv), "session #%zu to reach READY and send "
                   "SYNC", n));
  return ps_session_at(srv, n - 1);
}

/* Fails unless s's SYNC named `want` (NULL: "0" or no since). */
static void expect_since(pc_ctx *t, const ps_session *s, const char *want,
                         const char *why)
{
  const char *got = s->sync_has_since ? s->since : "(none)";
  bool ok = want ? s->sync_has_since && strcmp(s->since, want) == 0
                 : !s->sync_has_since || strcmp(s->since, "0") == 0;

  if (!ok)
    pc_fail(t, "the SYNC of %s names since %s; it should name %s: %s "
            "(spec DELIV-8, DELIV-7)", s->label, got,
            want ? want : "0 or nothing", why);
}

/* spec: DELIV-8 DELIV-7 */
static void resumes_from_synced_position(pc_ctx *t)
{
  ps_opts o = {.no_connect = true};
  ps_server *srv = ps_start(t, &o);
  const char *conv = ps_conv(srv), *other = ps_conv(srv), *synced;
  ps_session *s;
  ps_msg *a, *live_one, *c, *d;

  a = ps_post(srv, conv, "bob", "resume-a");
  ps_post(srv, conv, "bob", "resume-b");
  ps_script_of(srv)->hold_sync = true;
  ps_connect(srv);
  s = held_sync(srv, 1);
  live_one = ps_post(srv, other, "bob", "resume-live");
  pc_note(t, "a live event before SYNCED (the first message of another "
          "conversation, so nothing waits behind a gap), then the first "
          "MSG of the SYNC answer cut in half and the connection dropped");
  ps_deliver(s, live_one);
  ps_cut(s, a);
  s = held_sync(srv, 2);
  expect_since(t, s, NULL, "no SYNCED came on the first session, so the "
               "client holds no position yet");
  ps_answer_sync(s, SIZE_MAX);
  c = ps_post(srv, conv, "bob", "resume-c");
  ps_deliver(s, c);
  d = ps_post(srv, conv, "bob", "resume-d");
  ps_await_shown(srv, "resume-c", PC_WAIT);
  pc_note(t, "after SYNCED one live event, then the next cut in half");
  ps_cut(s, d);
  s = held_sync(srv, 3);
  expect_since(t, s, c->pos, "the pos of the last whole event after "
               "SYNCED (the cut frame's pos never arrived)");
  synced = ps_hidden_event(srv);
  ps_answer_sync(s, SIZE_MAX);
  ps_await_shown(srv, "resume-d", PC_WAIT);
  pc_note(t, "the SYNCED names a position past the last event sent");
  ps_drop(s);
  s = held_sync(srv, 4);
  expect_since(t, s, synced, "the pos of the SYNCED, which came after "
               "every event of its answer");
}

/* ---- sending ------------------------------------------------------- */

/* The first session stores "resend-a" without an ACK and drops
 * "resend-b" unstored; later sessions answer as usual. */
static bool resend_hook(ps_session *s, pc_frame *f, void *ud)
{
  (void)ud;
  if (s->index != 0 || strcmp(f->verb, "SEND") != 0)
    return false;
  if (strcmp(f->body, "resend-a") == 0)
    ps_take_send(s, f, false, false);
  return true;
}

static bool have_two_sends(ps_server *srv, void *ud)
{
  (void)ud;
  return count_rx(srv, ps_session_at(srv, 0), "SEND") >= 2;
}

/* Fails unless every SEND of `body` carries temp_id. */
static void expect_temp_id(pc_ctx *t, ps_server *srv, const char *body,
                           const char *temp_id)
{
  const ps_rx *r;
  size_t i;

  for (i = 0; (r = nth_send(srv, body, i)) != NULL; i++)
    if (!pc_hdr_is(r->f, "temp-id", temp_id))
      pc_fail(t, "\"%s\" was sent on %s with temp-id %s, and first with "
              "%s; a retry keeps the temp-id (spec SEND-5)", body,
              r->s->label, pc_hdr_show(r->f, "temp-id"), temp_id);
  if (i < 2)
    pc_fail(t, "\"%s\" was sent %zu time(s); after the reconnect it must "
            "be sent again (spec SEND-5)", body, i);
}

/* The temp-id of the first SEND of `body`; fails when there is none or
 * it has none (SEND-5 needs it). */
static const char *first_temp_id(pc_ctx *t, ps_server *srv,
                                 const char *body)
{
  const ps_rx *r = nth_send(srv, body, 0);

  if (r == NULL)
    pc_fail(t, "the client never sent \"%s\"", body);
  return pc_hdr_need(t, r->f, "temp-id");
}

/* spec: SEND-5 DRV-6 */
static void resends_unacked_with_same_temp_id(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  const char *conv = ps_conv(srv), *ta, *tb;

  ps_script_of(srv)->on_frame = resend_hook;
  live(srv, 1);
  user_sends(srv, conv, "resend-a");
  user_sends(srv, conv, "resend-b");
  ps_run(srv, PC_WAIT, have_two_sends, NULL, "both SENDs on ws-1");
  ta = first_temp_id(t, srv, "resend-a");
  tb = first_temp_id(t, srv, "resend-b");
  pc_note(t, "resend-a stored without an ACK, resend-b lost; the "
          "connection drops and the server is down a while");
  ps_set_down(srv, true);
  ps_drop(ps_session_at(srv, 0));
  user_sends(srv, conv, "resend-c");
  queued_temp_id(srv, "resend-c");
  ps_set_down(srv, false);
  live(srv, 2);
  ps_await_shown(srv, "resend-a", PC_WAIT);
  ps_await_shown(srv, "resend-b", PC_WAIT);
  ps_await_shown(srv, "resend-c", PC_WAIT);
  expect_temp_id(t, srv, "resend-a", ta);
  expect_temp_id(t, srv, "resend-b", tb);
  await_event(srv, "sent", "temp_id", ta, "resend-a acknowledged");
  await_event(srv, "sent", "temp_id", tb, "resend-b acknowledged");
}

static bool have_sends(ps_server *srv, void *ud)
{
  return count_rx(srv, NULL, "SEND") >= *(size_t *)ud;
}

/* spec: SEND-8 */
static void temp_ids_unique(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  const char *conv = ps_conv(srv), *ids[3];
  pd *d = ps_driver(srv);
  size_t i, three = 3;

  live(srv, 1);
  for (i = 0; i < 3; i++)
    pd_cmd(d, "{s:s, s:s, s:s, s:s}", "cmd", "send", "conv", conv, "body",
           i < 2 ? "the same words" : "other words", "ref",
           pc_printf(t, "u%zu", i));
  ps_run(srv, PC_WAIT, have_sends, &three, "three SENDs");
  for (i = 0; i < 3; i++) {
    const ps_rx *r = nth_send(srv, i < 2 ? "the same words" : "other words",
                              i < 2 ? i : 0);
    if (r == NULL)
      pc_fail(t, "the client sent %s SEND(s) for three messages",
              i == 0 ? "no" : "too few");
    ids[i] = pc_hdr_need(t, r->f, "temp-id");
  }
  if (strcmp(ids[0], ids[1]) == 0 || strcmp(ids[0], ids[2]) == 0 ||
      strcmp(ids[1], ids[2]) == 0)
    pc_fail(t, "three messages went out with temp-ids %s, %s and %s; a "
            "device never uses one temp-id for two messages (spec SEND-8)",
            ids[0], ids[1], ids[2]);
}

/* The octets of a well-formed frame as it came. */
static size_t frame_octets(const pc_frame *f)
{
  size_t n = strlen(f->verb) + 4 + f->body_len, i;

  for (i = 0; i < f->header_count; i++)
    n += strlen(f->names[i]) + strlen(f->values[i]) + 4;
  return n;
}

/* spec: SEND-10 FRAME-3 DRV-12 */
static void respects_max_body(pc_ctx *t)
{
  enum { MAX_FRAME = 4096, BIG = 5000, OVER = 100 };
  ps_opts o = {.max_body = 64, .max_frame = MAX_FRAME};
  ps_server *srv = ps_start(t, &o);
  const char *conv = ps_conv(srv);
  char big[BIG + 1];
  const char *bodies[2];
  const ps_rx *r;
  size_t i;

  memset(big, 'x', BIG);
  big[BIG] = '\0';
  bodies[0] = pc_strdup(t, big + BIG - OVER);
  bodies[1] = big;
  live(srv, 1);
  pc_note(t, "WELCOME states max-body 64 and max-frame %d; the user sends "
          "%d octets, %d, then 10", MAX_FRAME, OVER, BIG);
  user_sends(srv, conv, bodies[0]);
  user_sends(srv, conv, bodies[1]);
  user_sends(srv, conv, "small-body");
  ps_await_shown(srv, "small-body", PC_WAIT);
  for (i = 0; i < 2; i++)
    if (pd_find(ps_driver(srv), 0, "send-failed", "ref", bodies[i], NULL) ==
        NULL)
      await_event(srv, "send-failed", "temp_id",
                  queued_temp_id(srv, bodies[i]),
                  "a message past max-body given up, spec DRV-12");
  if (ps_faults(srv) && strstr(ps_faults(srv), "SEND-10"))
    pc_fail(t, "%s", ps_faults(srv));
  for (i = 0; (r = ps_rx_at(srv, i)) != NULL; i++)
    if (frame_octets(r->f) > MAX_FRAME)
      pc_fail(t, "the client sent a %s of %zu octets; WELCOME stated "
              "max-frame %d (spec FRAME-3)", r->f->verb, frame_octets(r->f),
              MAX_FRAME);
}

/* The first SEND gets rate-limited; the rest are answered as usual. */
static bool rate_limit_hook(ps_session *s, pc_frame *f, void *ud)
{
  bool *done = ud;

  if (*done || strcmp(f->verb, "SEND") != 0)
    return false;
  *done = true;
  ps_error(s, 0, "rate-limited", false, pc_hdr(f, "req"));
  return true;
}

/* spec: RATE-2 */
static void rate_limited_resends(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  const char *conv = ps_conv(srv);
  bool *done = pc_alloc(t, sizeof *done);
  const ps_rx *first, *again;

  ps_script_of(srv)->on_frame = rate_limit_hook;
  ps_script_of(srv)->ud = done;
  live(srv, 1);
  user_sends(srv, conv, "limited");
  ps_await_shown(srv, "limited", PC_WAIT + ps_reconnect_ms(srv));
  first = nth_send(srv, "limited", 0);
  again = nth_send(srv, "limited", 1);
  if (again == NULL)
    pc_fail(t, "the message refused with rate-limited was shown but never "
            "sent again");
  if (strcmp(pc_hdr_need(t, first->f, "temp-id"),
             pc_hdr_need(t, again->f, "temp-id")) != 0)
    pc_fail(t, "the SEND refused with rate-limited went again with "
            "temp-id %s, not %s (spec RATE-2, section 17.2)",
            pc_hdr_show(again->f, "temp-id"), pc_hdr_show(first->f, "temp-id"));
  pc_note(t, "sent again %llu ms after the first try",
          (unsigned long long)(again->mono_ms - first->mono_ms));
}

static bool have_shown_count(ps_server *srv, void *ud)
{
  pd *d = ps_driver(srv);
  size_t i, n = 0;

  for (i = 0; i < pd_count(d); i++)
    if (strcmp(pd_get(d, i)->event, "message") == 0)
      n++;
  return n >= *(size_t *)ud;
}

/* spec: RATE-4 */
static void paces_to_stated_rate(pc_ctx *t)
{
  enum { MESSAGES = 30, RATE = 20, BURST = 5, SLACK_MS = 500 };
  ps_opts o = {.rate = RATE, .rate_burst = BURST};
  ps_server *srv = ps_start(t, &o);
  const char *conv = ps_conv(srv);
  ps_session *s = live(srv, 1);
  size_t i, want = MESSAGES;
  double tokens, cap = BURST + RATE * SLACK_MS / 1000.0;
  uint64_t prev;
  const ps_rx *r;

  for (i = 0; i < MESSAGES; i++)
    user_sends(srv, conv, pc_printf(t, "paced-%zu", i));
  ps_run(srv, MESSAGES * 1000 / RATE * 2 + pc_wait_ms(t), have_shown_count,
         &want, "every paced message shown");
  tokens = cap;
  prev = s->opened_ms;
  for (i = 0; (r = ps_rx_at(srv, i)) != NULL; i++) {
    if (r->s != s)
      continue;
    tokens += (double)(r->mono_ms - prev) * RATE / 1000.0;
    if (tokens > cap)
      tokens = cap;
    prev = r->mono_ms;
    if ((tokens -= 1) < 0)
      pc_fail(t, "the %s at %.0f ms found the bucket empty: with rate %d "
              "and rate-burst %d (and %d more for %d ms of timing slack) "
              "the client sent faster than WELCOME allows (spec RATE-4)",
              r->f->verb, (double)(r->mono_ms - s->opened_ms), RATE, BURST,
              (int)(cap - BURST), SLACK_MS);
  }
}
/* ---- waiting and heartbeat --------------------------------------- */

enum { BACKOFF_BASE = 75, BACKOFF_CAP = 600, BACKOFF_TRIES = 12 };

/* The ceiling of the wait before attempt i (1-based) after a READY
 * session ended: min(cap, base * 2^(i-1)) (section 4.4). */
static uint64_t backoff_ceiling(size_t i)
{
  uint64_t c = BACKOFF_BASE;

  while (--i > 0 && c < BACKOFF_CAP)
    c *= 2;
  return c < BACKOFF_CAP ? c : BACKOFF_CAP;
}

typedef struct resets {
  uint64_t since;     /* count only connections after this (monotonic) */
  size_t want;
} resets;

static size_t count_resets(ps_server *srv, uint64_t since, uint64_t *at,
                           size_t cap)
{
  size_t n, i, k = 0;
  ps_accept *acc = ps_accepts(srv, &n);

  for (i = 0; i < n; i++)
    if (acc[i].kind == PS_RESET && acc[i].mono_ms >= since) {
      if (at != NULL && k < cap)
        at[k] = acc[i].mono_ms;
      k++;
    }
  return k;
}

static bool have_resets(ps_server *srv, void *ud)
{
  resets *r = ud;

  return count_resets(srv, r->since, NULL, 0) >= r->want;
}

/* Judges the waits: each within its ceiling and a second; their sum
 * above 600 ms, which twelve full-jitter waits with these ceilings miss
 * with a probability below 2e-7; and, among the nine whose ceiling is
 * the cap, a spread of at least cap/8, which such waits miss with a
 * probability below 5e-7. */
static void judge_waits(pc_ctx *t, const uint64_t *gap, size_t n)
{
  uint64_t sum = 0, lo = UINT64_MAX, hi = 0;
  char *list = pc_strdup(t, "");
  size_t i;

  for (i = 0; i < n; i++)
    list = pc_printf(t, "%s%s%llu", list, i ? " " : "",
                     (unsigned long long)gap[i]);
  pc_note(t, "waits before the attempts (ms): %s", list);
  for (i = 0; i < n; i++) {
    if (gap[i] > backoff_ceiling(i + 1) + 1000)
      pc_fail(t, "attempt %zu came %llu ms after the one before; with base "
              "%d and cap %d the wait is at most %llu ms (spec CLI-2); "
              "waits: %s", i + 1, (unsigned long long)gap[i], BACKOFF_BASE,
              BACKOFF_CAP, (unsigned long long)backoff_ceiling(i + 1), list);
    sum += gap[i];
    if (backoff_ceiling(i + 1) == BACKOFF_CAP) {
      lo = gap[i] < lo ? gap[i] : lo;
      hi = gap[i] > hi ? gap[i] : hi;
    }
  }
  if (sum < 600)
    pc_fail(t, "%zu attempts came within %llu ms in all: the client does "
            "not wait a random time from 0 to min(cap, base * 2^n) before "
            "each (spec CLI-2); waits: %s", n, (unsigned long long)sum,
            list);
  if (hi - lo < BACKOFF_CAP / 8)
    pc_fail(t, "the waits whose ceiling is the cap all lie within %llu ms "
            "of each other: they are not drawn at random (full jitter, "
            "spec CLI-2); waits: %s", (unsigned long long)(hi - lo), list);
}

/* spec: CLI-2 */
static void backoff_full_jitter(pc_ctx *t)
{
  ps_opts o = {.backoff_base_ms = BACKOFF_BASE,
               .backoff_cap_ms = BACKOFF_CAP};
  ps_server *srv = ps_start(t, &o);
  resets r = {0, BACKOFF_TRIES};
  uint64_t at[BACKOFF_TRIES], gap[BACKOFF_TRIES], budget = 0;
  size_t i;

  for (i = 1; i <= BACKOFF_TRIES; i++)
    budget += backoff_ceiling(i) + 1000;
  live(srv, 1);
  ps_set_down(srv, true);
  r.since = pw_mono_ms();
  ps_drop(ps_session_at(srv, 0));
  ps_run(srv, (unsigned)budget, have_resets, &r,
         pc_printf(t, "%d connection attempts while the server is down",
                   BACKOFF_TRIES));
  count_resets(srv, r.since, at, BACKOFF_TRIES);
  ps_set_down(srv, false);
  live(srv, 2);
  for (i = 0; i < BACKOFF_TRIES; i++)
    gap[i] = at[i] - (i ? at[i - 1] : r.since);
  judge_waits(t, gap, BACKOFF_TRIES);
}

/* spec: HB-2 */
static void heartbeat_frame_per_interval(pc_ctx *t)
{
  enum { HB = 500, SPAN = 6 * HB };
  ps_opts o = {.heartbeat_min_ms = HB, .heartbeat_max_ms = HB};
  ps_server *srv = ps_start(t, &o);
  ps_session *s = live(srv, 1);
  uint64_t start = pw_mono_ms(), prev = start, worst = 0;
  const ps_rx *r;
  size_t i, n = 0;

  pc_note(t, "WELCOME states heartbeat %d; the server sends nothing "
          "unasked for %d ms", HB, SPAN);
  ps_serve_for(srv, SPAN);
  for (i = 0; (r = ps_rx_at(srv, i)) != NULL; i++) {
    if (r->s != s || r->mono_ms < start)
      continue;
    worst = r->mono_ms - prev > worst ? r->mono_ms - prev : worst;
    prev = r->mono_ms;
    n++;
  }
  worst = pw_mono_ms() - prev > worst ? pw_mono_ms() - prev : worst;
  pc_note(t, "%zu frames; the longest silence %llu ms", n,
          (unsigned long long)worst);
  if (worst >= 2 * HB)
    pc_fail(t, "the client sent nothing for %llu ms; it must send a frame "
            "at least once per interval of %d ms (spec HB-2; this case "
            "allows up to two)", (unsigned long long)worst, HB);
  if (s->closed)
    pc_fail(t, "the client closed %s, a live session", s->label);
}

/* The first PING on s at or after `since`, or NULL. */
static const ps_rx *ping_after(ps_server *srv, const ps_session *s,
                               uint64_t since)
{
  const ps_rx *r;
  size_t i;

  for (i = 0; (r = ps_rx_at(srv, i)) != NULL; i++)
    if (r->s == s && r->mono_ms >= since && strcmp(r->f->verb, "PING") == 0)
      return r;
  return NULL;
}

/* spec: HB-6 HB-5 */
static void heartbeat_silent_server(pc_ctx *t)
{
  enum { HB = 500, SLACK = 1000 };
  ps_opts o = {.heartbeat_min_ms = HB, .heartbeat_max_ms = HB};
  ps_server *srv = ps_start(t, &o);
  const char *conv = ps_conv(srv);
  ps_session *s = live(srv, 1);
  uint64_t quiet;
  const ps_rx *ping;
  int k;

  ps_script_of(srv)->silent = true;
  quiet = s->last_tx_ms;
  pc_note(t, "the server falls silent (no PONG, no ACK) while the user "
          "keeps sending");
  for (k = 0; k < 6 && !s->closed; k++) {
    user_sends(srv, conv, pc_printf(t, "into-silence-%d", k));
    ps_serve_for(srv, HB / 4);
  }
  ps_await_closed(s, 2 * HB + SLACK);
  ping = ping_after(srv, s, quiet);
  if (ping == NULL || ping->mono_ms > quiet + HB + SLACK)
    pc_fail(t, "no PING within %d ms (one interval and a second) of the "
            "server's last frame, though the client kept sending other "
            "frames (spec HB-6)", HB + SLACK);
  if (s->closed_ms > quiet + 2 * HB + SLACK)
    pc_fail(t, "the client closed the silent session %llu ms after the "
            "server's last frame; two intervals are %d ms (spec HB-5)",
            (unsigned long long)(s->closed_ms - quiet), 2 * HB);
  ps_script_of(srv)->silent = false;
  live(srv, 2);
}

/* ---- errors -------------------------------------------------------- */

/* A fatal ERROR `reason` in READY; the client must end the session
 * (when the server leaves it open) and, with `reconnects`, connect
 * again. */
static void fatal_error(pc_ctx *t, const char *reason, bool server_closes,
                        bool reconnects)
{
  ps_server *srv = ps_start(t, NULL);
  ps_session *s = live(srv, 1);

  ps_script_of(srv)->fatal_keeps_open = !server_closes;
  ps_error(s, 0, reason, true, NULL);
  if (!server_closes)
    await_client_close(s, pc_printf(t, "ERROR %s with fatal: yes (spec "
                                    "CLI-6)", reason));
  ps_script_of(srv)->fatal_keeps_open = false;
  if (reconnects)
    live(srv, 2);
}

/* spec: CLI-6 */
static void fatal_going_away(pc_ctx *t)
{
  fatal_error(t, "going-away", true, true);
}

/* spec: CLI-6 */
static void fatal_timeout(pc_ctx *t) { fatal_error(t, "timeout", false, true); }

/* spec: CLI-6 */
static void fatal_internal(pc_ctx *t)
{
  fatal_error(t, "internal", false, true);
}

/* spec: CLI-6 */
static void fatal_too_many_errors(pc_ctx *t)
{
  fatal_error(t, "too-many-errors", false, true);
}

/* spec: CLI-6 */
static void fatal_bad_state(pc_ctx *t)
{
  fatal_error(t, "bad-state", false, false);
}

/* spec: CLI-6 */
static void fatal_unsupported_version(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  ps_session *s;

  ps_script_of(srv)->hello_error = "unsupported-version";
  ps_script_of(srv)->fatal_keeps_open = true;
  s = ps_await_session(srv, 1, first_ms(t));
  await_client_close(s, "HELLO was answered with unsupported-version, "
                     "fatal: yes (spec CLI-6)");
}

/* spec: ERR-3 */
static void unknown_fatal_error(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  ps_session *s = live(srv, 1);

  ps_script_of(srv)->fatal_keeps_open = true;
  pc_note(t, "ERROR 999 (a private code the client cannot know), fatal: "
          "yes, unasked; the server keeps the connection open");
  ps_error(s, 999, "private-failure", true, NULL);
  await_client_close(s, "an ERROR with a code it does not know and fatal: "
                     "yes (spec ERR-3)");
}

/* After AUTH was refused with `reason`: no AUTH again with that token;
 * a new one first. */
static void refused_token(pc_ctx *t, const char *reason)
{
  ps_server *srv = ps_start(t, NULL);
  ps_session *s;
  size_t i;

  ps_script_of(srv)->auth_refusals = 1;
  ps_script_of(srv)->auth_error = reason;
  s = ps_await_session(srv, 1, first_ms(t));
  ps_await_synced(srv, 2, ps_reconnect_ms(srv) + pc_wait_ms(t));
  for (i = 1; i < ps_session_count(srv); i++)
    if (ps_session_at(srv, i)->token != NULL &&
        strcmp(ps_session_at(srv, i)->token, s->token ? s->token : "") == 0)
      pc_fail(t, "%s sent AUTH with the token refused on %s (spec CLI-5)",
              ps_session_at(srv, i)->label, s->label);
  if (ps_token_requests(srv) < 2)
    pc_fail(t, "the client connected again without a new token after %s "
            "(spec CLI-5)", reason);
}

/* spec: CLI-5 */
static void auth_failed_new_token(pc_ctx *t)
{
  refused_token(t, "auth-failed");
}

/* spec: CLI-5 */
static void token_expired_new_token(pc_ctx *t)
{
  refused_token(t, "token-expired");
}

/* spec: CLI-3 */
static void stops_when_sign_in_refused(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  size_t n, i, upgrades = 0, before;
  uint64_t window = ps_reconnect_ms(srv) - pc_wait_ms(t) + 1000;
  ps_accept *acc;

  ps_limit_tokens(srv, 1);
  ps_script_of(srv)->auth_refusals = 1;
  ps_script_of(srv)->auth_error = "auth-failed";
  ps_await_session(srv, 1, first_ms(t));
  pc_note(t, "AUTH refused with auth-failed, and every later token "
          "request with 401");
  ps_serve_for(srv, (unsigned)window);
  before = ps_token_requests(srv);
  acc = ps_accepts(srv, &n);
  for (i = 0; i < n; i++)
    upgrades += acc[i].kind == PS_UPGRADE;
  if (upgrades > 1)
    pc_fail(t, "the client opened %zu more WebSocket connection(s) after "
            "auth-failed, though the token endpoint refused its password "
            "(spec CLI-3)", upgrades - 1);
  if (before > 2)
    pc_fail(t, "the client asked for a token %zu times after the refusal "
            "(spec CLI-3: no new try without new input from the user)",
            before - 1);
}

/* The first session that got a fresh AUTH, or NULL. */
static ps_session *refreshed(ps_server *srv)
{
  size_t i;

  for (i = 0; i < ps_session_count(srv); i++)
    if (ps_session_at(srv, i)->refreshes > 0)
      return ps_session_at(srv, i);
  return NULL;
}

/* The expiry (wall clock) of the token `text` as issued, or 0. */
static uint64_t token_expiry(ps_server *srv, const char *text)
{
  ps_token tk;
  size_t i;

  for (i = 0; ps_token_at(srv, i, &tk); i++)
    if (text != NULL && strcmp(tk.text, text) == 0)
      return tk.expires_ms;
  return 0;
}

/* A session got a fresh AUTH, or one stayed READY past its token's
 * expiry without one (*late then names it). */
static bool have_refresh(ps_server *srv, void *ud)
{
  ps_session **late = ud, *s;
  uint64_t expiry;
  size_t i;

  if (refreshed(srv) != NULL)
    return true;
  for (i = 0; i < ps_session_count(srv); i++) {
    s = ps_session_at(srv, i);
    expiry = s->ready && !s->closed ? token_expiry(srv, s->token) : 0;
    if (expiry != 0 && pc_now_ms() > expiry + 500) {
      *late = s;
      return true;
    }
  }
  return false;
}

/* spec: CLI-4 */
static void refreshes_token_before_expiry(pc_ctx *t)
{
  enum { TTL = 6000 };
  ps_opts o = {.token_ttl_ms = TTL};
  ps_server *srv = ps_start(t, &o);
  ps_session *s, *late = NULL;
  uint64_t expiry;

  pc_note(t, "tokens live %d ms", TTL);
  ps_run(srv, first_ms(t) + 2 * TTL, have_refresh, &late,
         "a fresh AUTH on a READY session before its token expires (spec "
         "CLI-4)");
  if (late != NULL)
    pc_fail(t, "%s stayed READY past its token's expiry without a fresh "
            "AUTH (spec CLI-4)", late->label);
  s = refreshed(srv);
  expiry = token_expiry(srv, s->token);
  if (s->refresh_wall_ms >= expiry)
    pc_fail(t, "the fresh AUTH on %s came %llu ms after its token expired "
            "(spec CLI-4)", s->label,
            (unsigned long long)(s->refresh_wall_ms - expiry));
  if (strcmp(s->refresh_token, s->token) == 0)
    pc_fail(t, "the fresh AUTH carries the old token (spec CLI-4: a new "
            "token)");
}

/* spec: WS-9 */
static void reconnects_after_1007(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  ps_session *s = live(srv, 1);

  pc_note(t, "the server fails the connection with WebSocket status 1007");
  ps_close(s, 1007);
  ps_drop(s);
  live(srv, 2);
}

/* ---- frames the client must not act on ----------------------------- */

/* A MSG for conv and seq with one fault (variant 0, 1, 2), body
 * "evil-N", a position this server never issued. */
static const char *malformed_msg(pc_ctx *t, const char *conv, int variant,
                                 size_t *len)
{
  const char *head = pc_printf(t, "MSG\r\nconv: %s\r\nmsg-id: mevil%d\r\n"
                               "seq: %d\r\nfrom: bob\r\ndevice: x\r\n"
                               "temp-id: tevil%d\r\nts: 1\r\npos: "
                               "evilpos%d\r\ncontent-type: text/plain\r\n",
                               conv, variant, variant + 1, variant,
                               variant);
  const char *text;

  if (variant == 0)   /* a header twice (duplicate-header) */
    text = pc_printf(t, "%sseq: %d\r\ncontent-length: 6\r\n\r\nevil-0",
                     head, variant + 1);
  else if (variant == 1)   /* octets that are not UTF-8 (bad-utf8) */
    text = pc_printf(t, "%scontent-length: 8\r\n\r\nevil-1\xC0\xAF", head);
  else   /* octets after the body (extra-data) */
    text = pc_printf(t, "%scontent-length: 4\r\n\r\nevil-2", head);
  *len = strlen(text);
  return text;
}

/* spec: FRAME-8 */
static void discards_malformed_frames(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  const char *conv = ps_conv(srv), *text;
  ps_session *s;
  ps_msg *m;
  size_t len, n;
  int v;

  live(srv, 1);
  for (v = 0; v < 3; v++) {
    n = ps_session_count(srv);
    s = ps_session_at(srv, n - 1);
    if (!s->closed && !s->server_closed) {
      text = malformed_msg(t, conv, v, &len);
      ps_send_text(s, text, len);
    }
    m = ps_post(srv, conv, "bob", pc_printf(t, "good-%d", v));
    if (!s->closed && !s->server_closed)
      ps_deliver(s, m);
    ps_await_shown(srv, m->body, ps_reconnect_ms(srv));
  }
  for (v = 0; v < 3; v++)
    if (pd_shown_body(ps_driver(srv), pc_printf(t, "evil-%d", v)) > 0)
      pc_fail(t, "the client showed evil-%d, the body of a malformed MSG "
              "(spec FRAME-8)", v);
  if (ps_faults(srv) && strstr(ps_faults(srv), "evilpos"))
    pc_fail(t, "the client resumed from the position of a malformed MSG "
            "(spec FRAME-8): %s", ps_faults(srv));
}

/* spec: FRAME-9 */
static void closes_after_malformed_frame(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  const char *conv = ps_conv(srv), *text;
  ps_session *s = live(srv, 1);
  size_t len;

  text = malformed_msg(t, conv, 0, &len);
  ps_send_text(s, text, len);
  ps_await_closed(s, PC_WAIT);
  if (s->close_code != 1002)
    pc_fail(t, "the client closed %s with %s %d after a malformed frame, "
            "not WebSocket status 1002 (spec FRAME-9)", s->label,
            s->close_code < 0 ? "no close frame," : "status",
            s->close_code);
  live(srv, 2);
}

/* MSG m with extra header lines right after its start line. */
static void deliver_with(ps_session *s, const ps_msg *m, const char *extra)
{
  size_t len;
  char *text = ps_msg_frame(s->srv, m, true, NULL, &len);
  char *out = pc_printf(ps_ctx(s->srv), "MSG\r\n%s%s", extra, text + 5);

  ps_send_text(s, out, strlen(out));
}

/* spec: EXT-4 EXT-1 EXT-5 */
static void ignores_unknown_verbs_and_headers(pc_ctx *t)
{
  static const char unknown[] = "FROBNICATE\r\nx-level: 3\r\n\r\n";
  ps_server *srv = ps_start(t, NULL);
  const char *conv = ps_conv(srv);
  ps_session *s = live(srv, 1);
  ps_msg *m1 = ps_post(srv, conv, "bob", "ext-one\r\nline two");

  ps_send_text(s, unknown, sizeof unknown - 1);
  deliver_with(s, m1, "x-note: hi\r\npriority: high\r\nnonce: n-1\r\n"
               "since: 0\r\n");
  ps_deliver(s, ps_post(srv, conv, "bob", "ext-two"));
  ps_await_shown(srv, "ext-two", PC_WAIT);
  if (s->closed || ps_session_count(srv) > 1)
    pc_fail(t, "the client left %s after a frame with an unknown verb or "
            "unknown headers (spec EXT-4, EXT-1)", s->label);
  if (pd_shown_body(ps_driver(srv), "ext-one\r\nline two") != 1)
    pc_fail(t, "the MSG with unknown headers (and nonce and since, which "
            "MSG does not define) was not shown once with its body (spec "
            "EXT-1, EXT-5)");
}

static bool have_bye_answer(ps_server *srv, void *ud)
{
  ps_session *s = ud;

  (void)srv;
  return s->bye_rx && s->closed;
}

/* spec: LIFE-6 */
static void answers_server_bye(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  ps_session *s = live(srv, 1);

  ps_bye(s);
  ps_run(srv, PC_WAIT, have_bye_answer, s,
         "the client to answer the server's BYE with BYE and close (spec "
         "LIFE-6)");
}

/* spec: RCPT-4 */
static void read_receipts_only_for_shown(pc_ctx *t)
{
  ps_server *srv = ps_start(t, NULL);
  const char *conv = ps_conv(srv);
  ps_session *s = live(srv, 1);
  const ps_rx *r;
  size_t i, reads = 0;

  ps_deliver(s, ps_post(srv, conv, "bob", "receipt-1"));
  ps_deliver(s, ps_post(srv, conv, "bob", "receipt-2"));
  ps_await_shown(srv, "receipt-2", PC_WAIT);
  pc_note(t, "the user reads up to seq 5, of which only 1 and 2 exist "
          "and were shown; then up to 2");
  pd_cmd(ps_driver(srv), "{s:s, s:s, s:i}", "cmd", "read", "conv", conv,
         "seq", 5);
  pd_cmd(ps_driver(srv), "{s:s, s:s, s:i}", "cmd", "read", "conv", conv,
         "seq", 2);
  ps_serve_for(srv, pc_wait_ms(t) / 2);
  for (i = 0; (r = ps_rx_at(srv, i)) != NULL; i++) {
    const char *kind = pc_hdr(r->f, "kind"), *seq = pc_hdr(r->f, "seq");
    if (strcmp(r->f->verb, "RECEIPT") != 0 || kind == NULL || seq == NULL)
      continue;
    reads += strcmp(kind, "read") == 0;
    if (strtoull(seq, NULL, 10) > 2)
      pc_fail(t, "the client sent RECEIPT %s with seq %s; only seq 1 and 2 "
              "reached it and were shown (spec RCPT-4)", kind, seq);
  }
  if (reads == 0)
    pc_note(t, "the client sent no read receipt (a user may choose not "
            "to)");
}

/* spec: DRV-8 */
static void driver_backoff_settings(pc_ctx *t)
{
  enum { BASE = 50, CAP = 100, TRIES = 8, SLACK = 2000 };
  ps_opts o = {.backoff_base_ms = BASE, .backoff_cap_ms = CAP};
  ps_server *srv = ps_start(t, &o);
  resets r = {0, TRIES};
  uint64_t at[TRIES], gap;
  size_t i;

  live(srv, 1);
  pc_note(t, "connect gave backoff_base_ms %d and backoff_cap_ms %d; the "
          "server goes down", BASE, CAP);
  ps_set_down(srv, true);
  r.since = pw_mono_ms();
  ps_drop(ps_session_at(srv, 0));
  ps_run(srv, TRIES * (CAP + SLACK), have_resets, &r,
         pc_printf(t, "%d connection attempts, each within %d ms of the "
                   "one before (the cap and two seconds, spec DRV-8)", TRIES,
                   CAP + SLACK));
  count_resets(srv, r.since, at, TRIES);
  for (i = 0; i < TRIES; i++) {
    gap = at[i] - (i ? at[i - 1] : r.since);
    if (gap > CAP + SLACK)
      pc_fail(t, "attempt %zu came %llu ms after the one before; with "
              "backoff_cap_ms %d it waits at most %d ms (spec DRV-8)",
              i + 1, (unsigned long long)gap, CAP, CAP);
  }
  ps_set_down(srv, false);
  live(srv, 2);
}

/* spec: ERR-5 */
static void error_body_not_acted_on(pc_ctx *t)
{
  static const char body[] = "fatal: yes\r\nreason: going-away\r\nthe "
                             "session ends: close it and connect again";
  ps_server *srv = ps_start(t, NULL);
  const char *conv = ps_conv(srv);
  ps_session *s = live(srv, 1);

  pc_note(t, "a non-fatal ERROR whose body reads like a fatal one");
  ps_sendf(s, "ERROR", body, sizeof body - 1, "code", "440", "reason",
           "not-found", "fatal", "no", (char *)NULL);
  ps_deliver(s, ps_post(srv, conv, "bob", "after-the-error"));
  ps_await_shown(srv, "after-the-error", PC_WAIT);
  if (s->closed || ps_session_count(srv) > 1)
    pc_fail(t, "the client ended %s after a non-fatal ERROR whose body "
            "spoke of an end (spec ERR-5: the body is not acted on)",
            s->label);
}

/* The `message` event of conv and seq, or NULL. */
static const pd_event *message_of(pd *d, const char *conv, uint64_t seq)
{
  const pd_event *e;
  size_t i;

  for (i = 0; (e = pd_get(d, i)) != NULL; i++)
    if (strcmp(e->event, "message") == 0 && pd_str(e, "conv") &&
        strcmp(pd_str(e, "conv"), conv) == 0 && pd_u64(e, "seq") == seq)
      return e;
  return NULL;
}

static bool have_message(ps_server *srv, void *ud)
{
  const char *const *want = ud;

  return message_of(ps_driver(srv), want[0], (uint64_t)atoi(want[1]));
}

/* Fails unless the message conv/seq was shown with exactly body[0..len). */
static void expect_body(pc_ctx *t, ps_server *srv, const char *conv,
                        int seq, const char *body, size_t len)
{
  const char *want[2] = {conv, pc_printf(t, "%d", seq)};
  json_t *b;

  ps_run(srv, PC_WAIT, have_message, (void *)want,
         pc_printf(t, "the message %s seq %d shown", conv, seq));
  b = json_object_get(message_of(ps_driver(srv), conv, (uint64_t)seq)->js,
                      "body");
  if (!json_is_string(b) || json_string_length(b) != len ||
      memcmp(json_string_value(b), body, len) != 0)
    pc_fail(t, "the message %s seq %d was shown with a body of %zu "
            "octets, not the %zu it has, U+0000 included (spec SEC-18)",
            conv, seq, json_is_string(b) ? json_string_length(b) : 0, len);
}

/* spec: SEC-18 */
static void bodies_by_length(pc_ctx *t)
{
  static const char body[] = "before\0after";
  static const char mine[] = "one\0two";
  ps_server *srv = ps_start(t, NULL);
  const char *conv = ps_conv(srv);
  ps_session *s = live(srv, 1);
  const ps_rx *r;
  size_t i;

  ps_deliver(s, ps_post_n(srv, conv, "bob", body, sizeof body - 1));
  expect_body(t, srv, conv, 1, body, sizeof body - 1);
  pd_cmd(ps_driver(srv), "{s:s, s:s, s:s%}", "cmd", "send", "conv", conv,
         "body", mine, sizeof mine - 1);
  expect_body(t, srv, conv, 2, mine, sizeof mine - 1);
  for (i = 0; (r = ps_rx_at(srv, i)) != NULL; i++)
    if (strcmp(r->f->verb, "SEND") == 0 &&
        (r->f->body_len != sizeof mine - 1 ||
         memcmp(r->f->body, mine, sizeof mine - 1) != 0))
      pc_fail(t, "the client sent a body of %zu octets for a message of "
              "%zu holding U+0000 (spec SEC-18)", r->f->body_len,
              sizeof mine - 1);
}

/* The first `typing` or `presence` event for bob at or after `from`
 * whose value (typing true/false, or status) is `value`; *at gets its
 * index. */
static const pd_event *shown_state(pd *d, const char *event,
                                   const char *value, size_t *at)
{
  const pd_event *e;
  size_t i;
  json_t *v;

  for (i = 0; (e = pd_get(d, i)) != NULL; i++) {
    if (strcmp(e->event, event) != 0 || pd_str(e, "user") == NULL ||
        strcmp(pd_str(e, "user"), "bob") != 0)
      continue;
    v = json_object_get(e->js, strcmp(event, "typing") == 0 ? "typing"
                                                            : "status");
    if ((json_is_boolean(v) &&
         strcmp(value, json_is_true(v) ? "true" : "false") == 0) ||
        (json_is_string(v) && strcmp(json_string_value(v), value) == 0)) {
      if (at)
        *at = i;
      return e;
    }
  }
  return NULL;
}

static bool have_state(ps_server *srv, void *ud)
{
  const char *const *want = ud;

  return shown_state(ps_driver(srv), want[0], want[1], NULL) != NULL;
}

/* A relayed TYPING or PRESENCE of bob with a ttl must show, and stop
 * showing within the ttl and a second (TYPE-1, PRES-2, DRV-15). */
static void lapses(pc_ctx *t, const char *cap)
{
  enum { TTL = 800, SLACK = 1000 };
  ps_server *srv = ps_start(t, NULL);
  const char *conv = ps_conv(srv), *ev = strcmp(cap, "typing") == 0
                                             ? "typing" : "presence";
  const char *on[2] = {ev, *ev == 't' ? "true" : "online"};
  const char *off[2] = {ev, *ev == 't' ? "false" : "offline"};
  const char *req = *ev == 't' ? "TYPE-1" : "PRES-2";
  ps_session *s = live(srv, 1);
  uint64_t sent;

  if (s->caps == NULL || strstr(s->caps, cap) == NULL)
    pc_skip(t, cap);
  sent = pw_mono_ms();
  if (*ev == 't')
    ps_sendf(s, "TYPING", NULL, 0, "conv", conv, "user", "bob", "state",
             "on", "ttl", "800", (char *)NULL);
  else
    ps_sendf(s, "PRESENCE", NULL, 0, "user", "bob", "status", "online",
             "ttl", "800", (char *)NULL);
  ps_run(srv, PC_WAIT, have_state, on,
         pc_printf(t, "the `%s` event showing bob %s (spec DRV-15)", ev,
                   on[1]));
  ps_run(srv, TTL + SLACK - (unsigned)(pw_mono_ms() - sent), have_state, off,
         pc_printf(t, "the `%s` event showing bob %s within %d ms, the ttl "
                   "of %d ms and a second, without a renewal (spec %s, "
                   "DRV-15)", ev, off[1], TTL + SLACK, TTL, req));
}

/* spec: TYPE-1 DRV-15 */
static void typing_lapses(pc_ctx *t) { lapses(t, "typing"); }

/* spec: PRES-2 DRV-15 */
static void presence_lapses(pc_ctx *t) { lapses(t, "presence"); }

/* The body of the first SEND of srv's client other than `body`, or NULL. */
static const char *other_send(ps_server *srv, const char *body)
{
  size_t i;
  const ps_rx *r;

  for (i = 0; (r = ps_rx_at(srv, i)) != NULL; i++)
    if (strcmp(r->f->verb, "SEND") == 0 && strcmp(r->f->body, body) != 0)
      return r->f->body;
  return NULL;
}

/* spec: DRV-16 DRV-7 DRV-17 */
static void processes_apart(pc_ctx *t)
{
  ps_opts ob = {.name = "b"};
  ps_server *a = ps_start(t, NULL), *b;
  const char *ca = ps_conv(a), *cb, *other;

  live(a, 1);
  user_sends(a, ca, "apart-a");
  ps_await_shown(a, "apart-a", PC_WAIT);
  pc_note(t, "client A holds a token, a position and a message; its "
          "server goes down and its next message waits in its outbox");
  ps_set_down(a, true);
  ps_drop(ps_session_at(a, 0));
  user_sends(a, ca, "apart-pending");
  queued_temp_id(a, "apart-pending");
  pc_note(t, "client B starts beside A, in the same working directory "
          "with the same environment");
  b = ps_start(t, &ob);
  cb = ps_conv(b);
  expect_fresh_state(t, b, live(b, 1));
  user_sends(b, cb, "apart-b");
  ps_await_shown(b, "apart-b", PC_WAIT);
  if ((other = other_send(b, "apart-b")) != NULL)
    pc_fail(t, "client B sent \"%s\", which its user never sent: it took "
            "the outbox of another process (spec DRV-16)", other);
  if (pd_shown_body(ps_driver(b), "apart-a") > 0)
    pc_fail(t, "client B showed a message of another process's store "
            "(spec DRV-16)");
  ps_set_down(a, false);
  live(a, 2);
  ps_await_shown(a, "apart-pending", ps_reconnect_ms(a));
  if (pd_shown_body(ps_driver(a), "apart-b") > 0)
    pc_fail(t, "client A showed a message of client B's (spec DRV-16)");
}

/* ---- the suite ----------------------------------------------------- */

static const pc_case cases[] = {
  {"client.driver-interface",
   "The client speaks the test-driver interface: JSON lines, its first "
   "line, unknown members and commands, bad ones, a fresh start, queued "
   "and sent, its states, quit.",
   "DRV-1 DRV-2 DRV-3 DRV-4 DRV-5 DRV-7 DRV-9 DRV-10 DRV-12 DRV-13 "
   "DRV-17", PC_MUST, NULL, driver_interface},
  {"client.processes-apart",
   "Two clients started side by side, in the same working directory with "
   "the same environment, keep their state apart: the second starts "
   "empty, and neither sends nor shows the other's messages.",
   "DRV-16 DRV-7 DRV-17", PC_MUST, NULL, processes_apart},
  {"client.driver-backoff-settings",
   "The client waits with the backoff base and cap `connect` gives.",
   "DRV-8", PC_MUST, NULL, driver_backoff_settings},
  {"client.first-frame-is-hello",
   "The first frame on every connection is HELLO, and frames come in "
   "text messages.", "LIFE-1 WS-6", PC_MUST, NULL, first_frame_is_hello},
  {"client.credentials-never-in-urls",
   "No request target holds the password or a token.",
   "SEC-4", PC_MUST, NULL, credentials_never_in_urls},
  {"client.closes-without-subprotocol",
   "An upgrade that does not select parley.1 is closed without a frame.",
   "CLI-1", PC_MUST, NULL, closes_without_subprotocol},
  {"client.closes-on-unlisted-version",
   "A WELCOME naming a version the client did not list ends the session.",
   "VER-3", PC_MUST, NULL, closes_on_unlisted_version},
  {"client.shows-each-message-once",
   "A message delivered twice live, and again by a SYNC answer, is shown "
   "once.", "DELIV-4 DRV-11", PC_MUST, NULL, shows_each_message_once},
  {"client.fills-gap-before-showing",
   "A gap in the sequence numbers is filled before later messages show.",
   "DELIV-5", PC_SHOULD, NULL, fills_gap_before_showing},
  {"client.orders-out-of-order-delivery",
   "Messages delivered out of order are shown in seq order.",
   "DELIV-5", PC_SHOULD, NULL, orders_out_of_order_delivery},
  {"client.resumes-from-synced-position",
   "SYNC names the pos of SYNCED or of the last whole event after it, "
   "never one taken before SYNCED or from a frame cut in half.",
   "DELIV-8 DELIV-7", PC_MUST, NULL, resumes_from_synced_position},
  {"client.resends-unacked-with-same-temp-id",
   "Messages without an ACK go again after a reconnect with their "
   "temp-ids; a message sent while offline goes once connected.",
   "SEND-5 DRV-6", PC_MUST, NULL, resends_unacked_with_same_temp_id},
  {"client.temp-ids-unique",
   "Two messages, even with the same text, never share a temp-id.",
   "SEND-8", PC_MUST, NULL, temp_ids_unique},
  {"client.respects-max-body",
   "A message past WELCOME's max-body is never sent, and given up.",
   "SEND-10 FRAME-3 DRV-12", PC_MUST, NULL, respects_max_body},
  {"client.rate-limited-resends",
   "A SEND refused with rate-limited goes again with its temp-id.",
   "RATE-2", PC_SHOULD, NULL, rate_limited_resends},
  {"client.paces-to-stated-rate",
   "Frames stay within the rate and rate-burst WELCOME states.",
   "RATE-4", PC_SHOULD, NULL, paces_to_stated_rate},
  {"client.backoff-full-jitter",
   "While the server is down, attempts wait a random time up to "
   "min(cap, base * 2^n).", "CLI-2", PC_SHOULD, NULL, backoff_full_jitter},
  {"client.heartbeat-frame-per-interval",
   "The client sends a frame every heartbeat interval.",
   "HB-2", PC_MUST, NULL, heartbeat_frame_per_interval},
  {"client.heartbeat-silent-server",
   "A server silent for an interval gets a PING, for two is left.",
   "HB-6 HB-5", PC_SHOULD, NULL, heartbeat_silent_server},
  {"client.fatal-going-away-reconnects",
   "After going-away the client connects again.",
   "CLI-6", PC_SHOULD, NULL, fatal_going_away},
  {"client.fatal-timeout-reconnects",
   "After a fatal timeout the client ends the session and connects again.",
   "CLI-6", PC_SHOULD, NULL, fatal_timeout},
  {"client.fatal-internal-reconnects",
   "After a fatal internal the client ends the session and connects "
   "again.", "CLI-6", PC_SHOULD, NULL, fatal_internal},
  {"client.fatal-too-many-errors-reconnects",
   "After too-many-errors the client ends the session and connects again.",
   "CLI-6", PC_SHOULD, NULL, fatal_too_many_errors},
  {"client.fatal-bad-state-ends-session",
   "After a fatal bad-state the client ends the session.",
   "CLI-6", PC_SHOULD, NULL, fatal_bad_state},
  {"client.fatal-unsupported-version-ends-session",
   "After unsupported-version the client ends the session.",
   "CLI-6", PC_SHOULD, NULL, fatal_unsupported_version},
  {"client.unknown-fatal-error-ends-session",
   "An ERROR with a code the client cannot know and fatal: yes ends the "
   "session.", "ERR-3", PC_MUST, NULL, unknown_fatal_error},
  {"client.auth-failed-new-token",
   "After auth-failed the refused token is never sent again.",
   "CLI-5", PC_MUST, NULL, auth_failed_new_token},
  {"client.token-expired-new-token",
   "After token-expired the client gets a new token before it connects.",
   "CLI-5", PC_MUST, NULL, token_expired_new_token},
  {"client.stops-when-sign-in-refused",
   "After auth-failed with the password refused too, the client stops.",
   "CLI-3", PC_SHOULD, NULL, stops_when_sign_in_refused},
  {"client.refreshes-token-before-expiry",
   "A READY session gets a fresh AUTH with a new token before expiry.",
   "CLI-4", PC_SHOULD, NULL, refreshes_token_before_expiry},
  {"client.reconnects-after-1007",
   "A connection failed with status 1007 is a lost connection.",
   "WS-9", PC_MUST, NULL, reconnects_after_1007},
  {"client.discards-malformed-frames",
   "Malformed MSG frames are not acted on: not shown, their seq and pos "
   "not taken.", "FRAME-8", PC_MUST, NULL, discards_malformed_frames},
  {"client.closes-after-malformed-frame",
   "After a malformed frame the client closes with 1002 and reconnects.",
   "FRAME-9", PC_SHOULD, NULL, closes_after_malformed_frame},
  {"client.ignores-unknown-verbs-and-headers",
   "Unknown verbs and headers (and headers of other verbs) are ignored.",
   "EXT-4 EXT-1 EXT-5", PC_MUST, NULL, ignores_unknown_verbs_and_headers},
  {"client.answers-server-bye",
   "The server's BYE is answered with BYE and a close.",
   "LIFE-6", PC_MUST, NULL, answers_server_bye},
  {"client.error-body-not-acted-on",
   "A non-fatal ERROR whose body speaks of an end changes nothing.",
   "ERR-5", PC_MUST, NULL, error_body_not_acted_on},
  {"client.bodies-by-length",
   "Bodies holding U+0000 are shown and sent whole.",
   "SEC-18", PC_MUST, NULL, bodies_by_length},
  {"client.typing-lapses",
   "Relayed typing shows, and stops showing once its ttl has passed.",
   "TYPE-1 DRV-15", PC_MUST, "typing", typing_lapses},
  {"client.presence-lapses",
   "A relayed status with a ttl turns offline once the ttl has passed.",
   "PRES-2 DRV-15", PC_MUST, "presence", presence_lapses},
  {"client.read-receipts-only-for-shown",
   "Read receipts never pass what was shown.",
   "RCPT-4", PC_SHOULD, NULL, read_receipts_only_for_shown},
};

const pc_suite pc_suite_client = {"client", true, cases, PC_COUNT(cases)};
