/* Call signaling (spec section 19): CALL, JOIN, OFFER, ANSWER, CANDIDATE,
 * END-OF-CANDIDATES, MEDIA-STATE, LEAVE and HANGUP.
 *
 * Design. A call lives in one conversation and in memory only while it
 * is not ended: RINGING (only the caller is in) -> ACTIVE (a second
 * participant joined) -> ENDED, when it is freed, so a frame naming an
 * ended call finds no call (no-such-call). A participant is one (user,
 * device) bound to the session that joined; when that session closes
 * the participant is *away* until it rejoins (JOIN with rejoin: yes) or
 * the grace passes, when it leaves with `disconnected`. Offers are
 * tracked per direction in a bit matrix (offers[i] bit j: an OFFER from
 * participant i to participant j waits for its ANSWER). The core relays
 * SDP and candidates only after parley_sdp_parse / parley_candidate_parse
 * accepted them, so nothing malformed reaches a peer. The call record
 * goes to the store as CALL_EVENT writes in order; relays never wait for
 * them.
 *
 * Invariants: a conversation has at most one live call
 * (conv->live_call); a user has at most one device in a call; a call has
 * at most SRV_CALL_PARTS_MAX participants and the server at most
 * max_calls live calls; a session's `calls` lists exactly the calls it is
 * the bound session of.
 *
 * Checks run in the order of spec section 10: headers and their values
 * (426, 427), then membership and participation (443, the same frame for
 * an unknown call, a non-member and a member who is not in the call),
 * then the call's rules (444), then the SDP body (445, 447) or candidate
 * (446). A refused frame relays nothing.
 *
 * Choices made here where the design leaves room:
 * - A frame addressed to oneself (`to`/`to-device` the sender) or to an
 *   (user, device) that is not in the call gets no-such-call.
 * - A relay to an away participant is answered OK and dropped; it records
 *   no pending offer. Going away and rejoining clear the participant's
 *   pending offers both ways (the rejoiner offers again).
 * - Glare (OFFERs both ways at once) is allowed; each ANSWER clears its
 *   own direction.
 * - RING, RING-STOP and the CALL-END of a ringing session reach only
 *   sessions that negotiated `calls`; frames to participants reach the
 *   bound session whatever its capabilities (it joined, so it speaks
 *   calls).
 * - The call rings (RING to sessions that become READY) only while it is
 *   RINGING, and never again for a user who joined or declined. CALL-END
 *   goes to the present participants and to every session that got RING
 *   and no RING-STOP (the one that declined included), in any state, so
 *   no device rings on.
 * - PARTICIPANTS lists the other participants (away ones too), one
 *   "USER DEVICE" line each ending in CRLF, in join order; count is their
 *   number; no body when there are none; it carries the JOIN's req.
 * - JOIN with rejoin: yes from a (user, device) in the call moves it to
 *   the new session, whether the old one closed or not; from one that is
 *   not in the call (the grace passed) it is a plain join. JOIN without
 *   it from a (user, device) in the call is bad-call-state.
 * - Relays and MEDIA-STATE must come from the bound session; LEAVE and
 *   HANGUP may also come from another session of an away participant's
 *   (user, device), and speak for it.
 * - HANGUP from a member who is not in the call: while RINGING in a
 *   direct conversation it declines (CALL-END, reason given or
 *   `declined`); otherwise it stops the ringing for that user (RING-STOP
 *   declined-elsewhere to the user's other ringing sessions) and answers
 *   OK; a user in the call on another device gets no-such-call.
 * - LEAVE without reason leaves with `left`. When a call ends, every
 *   participant still in is recorded as left with the end reason.
 * - A CALL past max_calls gets rate-limited (429, retry later); a JOIN
 *   past SRV_CALL_PARTS_MAX participants gets bad-call-state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parley/sdp.h"
#include "server_internal.h"

typedef enum call_state {
  CALL_RINGING = 1,
  CALL_ACTIVE = 2
} call_state;

typedef struct call_part {
  user *u;
  char device[PARLEY_ID_MAX + 1];
  session *ss;      /* the bound session; NULL while away */
  uint64_t away_at; /* the grace deadline while away, else 0 */
} call_part;

/* A session RING went to. */
typedef struct ring_entry {
  parley_conn_id conn;
  uint64_t serial;
  user *u;
  bool stopped; /* RING-STOP went to it */
} ring_entry;

struct call {
  char id[PARLEY_ID_MAX + 1];
  uint64_t serial;
  conv *c;
  call_state state;
  char media[PARLEY_MEDIA_MAX + 1];
  user *caller;
  char caller_device[PARLEY_ID_MAX + 1];
  uint64_t started_ms;
  uint64_t ring_at;  /* no-answer deadline while RINGING */
  uint64_t sched_at; /* the timer entry the call relies on */
  uint64_t event_seq;
  call_part parts[SRV_CALL_PARTS_MAX];
  size_t part_count;
  uint16_t offers[SRV_CALL_PARTS_MAX];
  ring_entry *rings;
  size_t ring_len;
  size_t ring_cap;
  pvec stopped_users; /* members whose ringing stopped */
};

_Static_assert(SRV_CALL_PARTS_MAX <= 16, "offers is a 16-bit matrix");

/* ---- frames ---- */

static blob *ok_call_frame(const reqid *req, const char *call_id)
{
  fbuild fb;
  fb_begin(&fb, "OK");
  if (call_id != NULL)
    fb_hdr(&fb, "call", call_id);
  fb_req(&fb, req);
  return fb_finish(&fb, NULL, 0, false);
}

static void send_ok(parley_server *s, session *ss, const reqid *req)
{
  blob *b = ok_call_frame(req, NULL);
  act_send(s, ss->conn, b);
  blob_unref(b);
}

/* The one answer for an unknown call, a non-member and a member who is
 * not in the call or names someone who is not (SEC-1 style). */
static void send_no_call(parley_server *s, session *ss, const reqid *req)
{
  send_error(s, ss, PARLEY_E_NO_SUCH_CALL, req, NULL);
}

/* Sends `b` to every present participant but `skip` (-1: none). */
static void to_parts(parley_server *s, call *c, blob *b, int skip)
{
  for (size_t i = 0; b != NULL && i < c->part_count; i++)
    if ((int)i != skip && c->parts[i].ss != NULL)
      act_send(s, c->parts[i].ss->conn, b);
}

/* ---- the call record ---- */

/* Issues one CALL_EVENT write; the core does not wait for it. */
static void record(parley_server *s, call *c, parley_call_event_kind kind,
                   const user *u, const char *device, const char *reason,
                   bool answered)
{
  pending *p = pending_new(s, PEND_CALL, PARLEY_STORE_CALL_EVENT);
  if (p == NULL) {
    server_stop(s, "out of memory for a call record");
    return;
  }
  parley_call_event *e = &p->req.call_event;
  memcpy(e->call, c->id, sizeof e->call);
  /* Only what becomes a row of call_events is numbered. */
  bool row = kind == PARLEY_CALL_REC_JOINED || kind == PARLEY_CALL_REC_LEFT ||
             kind == PARLEY_CALL_REC_REJOINED;
  e->seq = row ? ++c->event_seq : c->event_seq;
  e->kind = kind;
  e->ts_ms = s->now;
  memcpy(e->conv, c->c->id, sizeof e->conv);
  memcpy(e->media, c->media, sizeof e->media);
  if (u != NULL)
    memcpy(e->user, u->name, sizeof e->user);
  if (device != NULL)
    srv_copy(e->device, sizeof e->device, device, strlen(device));
  if (reason != NULL)
    srv_copy(e->reason, sizeof e->reason, reason, strlen(reason));
  e->answered = answered;
  pending_issue(s, p);
}

/* ---- the model ---- */

/* The live call `id` when `u` is a member of its conversation, else
 * NULL (unknown and not a member look the same). */
static call *call_for_member(const parley_server *s, const char *id,
                             const user *u)
{
  call *c = pmap_get(&s->calls, id, strlen(id));
  if (c == NULL || (conv_member(c->c, u) == NULL &&
                    !PARLEY_FAULT(&s->cfg, CALL_MEMBERSHIP_UNCHECKED)))
    return NULL;
  return c;
}

static int part_of_session(const call *c, const session *ss)
{
  for (size_t i = 0; i < c->part_count; i++)
    if (c->parts[i].ss == ss)
      return (int)i;
  return -1;
}

static int part_find(const call *c, const char *name, const char *device)
{
  for (size_t i = 0; i < c->part_count; i++)
    if (strcmp(c->parts[i].u->name, name) == 0 &&
        strcmp(c->parts[i].device, device) == 0)
      return (int)i;
  return -1;
}

/* The participant a LEAVE or HANGUP from ss speaks for: the one bound
 * to ss, or the away one of ss's user and device (a client that lost its
 * connection may end its part without rejoining first). */
static int part_of_sender(const call *c, const session *ss)
{
  int k = part_of_session(c, ss);
  if (k < 0)
    k = part_find(c, ss->user->name, ss->device);
  return k >= 0 && (c->parts[k].ss == ss || c->parts[k].ss == NULL) ? k
                                                                      : -1;
}

static int part_of_user(const call *c, const user *u)
{
  for (size_t i = 0; i < c->part_count; i++)
    if (c->parts[i].u == u)
      return (int)i;
  return -1;
}

/* Clears participant k's pending offers, both ways. */
static void offers_clear(call *c, size_t k)
{
  c->offers[k] = 0;
  for (size_t i = 0; i < c->part_count; i++)
    c->offers[i] &= (uint16_t)~(1u << k);
}

/* Binds participant k to session ss (NULL: away). */
static void part_bind(call *c, size_t k, session *ss)
{
  call_part *p = &c->parts[k];
  if (p->ss != NULL)
    pvec_remove(&p->ss->calls, c);
  p->ss = ss;
  p->away_at = 0;
  if (ss != NULL)
    pvec_push(&ss->calls, c);
}

/* Takes participant k out, closing the gap in parts and offers. */
static void part_remove(call *c, size_t k)
{
  part_bind(c, k, NULL);
  for (size_t i = 0; i < c->part_count; i++) {
    uint16_t row = c->offers[i];
    uint16_t low = (uint16_t)(row & ((1u << k) - 1));
    c->offers[i] = (uint16_t)(low | ((row >> (k + 1)) << k));
  }
  for (size_t i = k; i + 1 < c->part_count; i++) {
    c->parts[i] = c->parts[i + 1];
    c->offers[i] = c->offers[i + 1];
  }
  c->part_count--;
  c->offers[c->part_count] = 0;
  memset(&c->parts[c->part_count], 0, sizeof c->parts[0]);
}

static bool user_stopped(const call *c, const user *u)
{
  for (size_t i = 0; i < c->stopped_users.len; i++)
    if (c->stopped_users.items[i] == u)
      return true;
  return false;
}

/* True when the call rings for `u`: it is RINGING, u is a member other
 * than the caller, has no device in it and neither answered nor
 * declined. */
static bool rings_for(const call *c, const user *u)
{
  return c->state == CALL_RINGING && u != c->caller &&
         part_of_user(c, u) < 0 && !user_stopped(c, u) &&
         conv_member(c->c, u) != NULL;
}

/* Records that RING went to ss. Entries of sessions that have closed
 * are dropped first when the array is full, so reconnects while a call
 * rings do not grow it without bound. */
static bool ring_add(const parley_server *s, call *c, const session *ss)
{
  if (c->ring_len == c->ring_cap) {
    size_t k = 0;
    for (size_t i = 0; i < c->ring_len; i++)
      if (session_find_serial(s, c->rings[i].conn, c->rings[i].serial))
        c->rings[k++] = c->rings[i];
    c->ring_len = k;
  }
  if (c->ring_len == c->ring_cap) {
    size_t cap = c->ring_cap ? c->ring_cap * 2 : 8;
    ring_entry *r = realloc(c->rings, cap * sizeof *r);
    if (r == NULL)
      return false;
    c->rings = r;
    c->ring_cap = cap;
  }
  c->rings[c->ring_len++] = (ring_entry){ss->conn, ss->serial, ss->user,
                                         false};
  return true;
}

/* The earliest deadline of the call: ring timeout, graces. */
static void call_sched(parley_server *s, call *c)
{
  uint64_t d = c->state == CALL_RINGING ? c->ring_at : 0;
  for (size_t i = 0; i < c->part_count; i++) {
    uint64_t a = c->parts[i].away_at;
    if (a != 0 && (d == 0 || a < d))
      d = a;
  }
  if (d == 0 || (c->sched_at != 0 && c->sched_at <= d))
    return;
  c->sched_at = d;
  timer_push(s, (timer_entry){d, TIMER_CALL, c->serial, NULL});
}

bool call_timer_valid(const parley_server *s, const timer_entry *e)
{
  const call *c = pmap_get(&s->call_serials, &e->conn, sizeof e->conn);
  return c != NULL && c->sched_at == e->at;
}

static void call_free(parley_server *s, call *c)
{
  for (size_t i = 0; i < c->part_count; i++)
    if (c->parts[i].ss != NULL)
      pvec_remove(&c->parts[i].ss->calls, c);
  if (c->c->live_call == c)
    c->c->live_call = NULL;
  pmap_del(&s->calls, c->id, strlen(c->id));
  pmap_del(&s->call_serials, &c->serial, sizeof c->serial);
  free(c->rings);
  pvec_free(&c->stopped_users);
  free(c);
}

void call_free_all(parley_server *s)
{
  pvec all = {NULL, 0, 0};
  for (size_t i = 0; i < s->calls.cap; i++)
    if (pmap_live(&s->calls, i))
      pvec_push(&all, s->calls.slots[i].value);
  for (size_t i = 0; i < all.len; i++)
    call_free(s, all.items[i]);
  pvec_free(&all);
  pmap_free(&s->calls);
  pmap_free(&s->call_serials);
  free(s->sdp_scratch);
  s->sdp_scratch = NULL;
}

/* ---- ending ---- */

static blob *call_end_frame(const call *c, const char *reason)
{
  fbuild fb;
  fb_begin(&fb, "CALL-END");
  fb_hdr(&fb, "call", c->id);
  fb_hdr(&fb, "conv", c->c->id);
  fb_hdr(&fb, "reason", reason);
  return fb_finish(&fb, NULL, 0, false);
}

/* True when RING went to ss and no RING-STOP did. */
static bool ring_unstopped(const call *c, const session *ss)
{
  for (size_t i = 0; i < c->ring_len; i++)
    if (c->rings[i].conn == ss->conn && c->rings[i].serial == ss->serial &&
        !c->rings[i].stopped)
      return true;
  return false;
}

/* Ends the call: records every participant still in as left and the
 * end, sends CALL-END to the present participants, to every RING
 * session that got no RING-STOP and to `sender` (the session whose
 * LEAVE or HANGUP ended it, or NULL), each once, and frees the call. */
static void call_end(parley_server *s, call *c, const char *reason,
                     const session *sender)
{
  for (size_t i = 0; i < c->part_count; i++)
    record(s, c, PARLEY_CALL_REC_LEFT, c->parts[i].u, c->parts[i].device,
           reason, false);
  record(s, c, PARLEY_CALL_REC_ENDED, NULL, NULL, reason, false);
  blob *b = call_end_frame(c, reason);
  if (sender != NULL && part_of_session(c, sender) < 0 &&
      !ring_unstopped(c, sender))
    act_send(s, sender->conn, b);
  to_parts(s, c, b, -1);
  for (size_t i = 0; b != NULL && i < c->ring_len; i++) {
    ring_entry *r = &c->rings[i];
    session *to = session_find_serial(s, r->conn, r->serial);
    if (!r->stopped && to != NULL && part_of_session(c, to) < 0)
      act_send(s, to->conn, b);
  }
  blob_unref(b);
  act_log(s, 0, PARLEY_LOG_INFO, "call %s ended: %s", c->id, reason);
  call_free(s, c);
}

/* Participant k is out (LEAVE from `sender`, or the grace passed with
 * sender NULL): LEFT to the others, then the end when the call no longer
 * holds. `end_reason` is the CALL-END reason if it ends. Returns true
 * when the call ended. */
static bool part_leaves(parley_server *s, call *c, size_t k,
                        const char *reason, const char *end_reason,
                        const session *sender)
{
  call_part p = c->parts[k];
  record(s, c, PARLEY_CALL_REC_LEFT, p.u, p.device, reason, false);
  part_remove(c, k);
  fbuild fb;
  fb_begin(&fb, "LEFT");
  fb_hdr(&fb, "call", c->id);
  fb_hdr(&fb, "user", p.u->name);
  fb_hdr(&fb, "device", p.device);
  fb_hdr(&fb, "reason", reason);
  blob *b = fb_finish(&fb, NULL, 0, false);
  to_parts(s, c, b, -1);
  blob_unref(b);
  bool ends = c->state == CALL_RINGING ? c->part_count == 0
                                       : c->part_count < 2;
  if (ends)
    call_end(s, c, end_reason, sender);
  return ends;
}

/* Sends RING-STOP with `reason` to u's RING sessions other than
 * `except`, and marks u's ringing stopped: no new RING for u. `except`
 * got no RING-STOP, so it gets the CALL-END (CALL-12). */
static void ring_stop_user(parley_server *s, call *c, user *u,
                           const session *except, const char *reason)
{
  fbuild fb;
  fb_begin(&fb, "RING-STOP");
  fb_hdr(&fb, "call", c->id);
  fb_hdr(&fb, "reason", reason);
  blob *b = fb_finish(&fb, NULL, 0, false);
  for (size_t i = 0; i < c->ring_len; i++) {
    ring_entry *r = &c->rings[i];
    session *to = session_find_serial(s, r->conn, r->serial);
    if (r->u != u || r->stopped || to == NULL || to == except)
      continue;
    r->stopped = true;
    if (b != NULL)
      act_send(s, to->conn, b);
  }
  blob_unref(b);
  if (!user_stopped(c, u))
    pvec_push(&c->stopped_users, u);
}

/* ---- timers and sessions ---- */

void call_timer_fire(parley_server *s, uint64_t serial)
{
  call *c = pmap_get(&s->call_serials, &serial, sizeof serial);
  if (c == NULL)
    return;
  c->sched_at = 0;
  if (c->state == CALL_RINGING && s->now >= c->ring_at) {
    call_end(s, c, "no-answer", NULL);
    return;
  }
  for (size_t i = 0; i < c->part_count; i++) {
    if (c->parts[i].away_at == 0 || s->now < c->parts[i].away_at)
      continue;
    if (part_leaves(s, c, i, "disconnected", "disconnected", NULL))
      return;
    i--; /* the next participant moved into slot i */
  }
  call_sched(s, c);
}

/* RING for call c to session ss. */
static void ring_send(parley_server *s, call *c, session *ss)
{
  fbuild fb;
  fb_begin(&fb, "RING");
  fb_hdr(&fb, "call", c->id);
  fb_hdr(&fb, "conv", c->c->id);
  fb_hdr(&fb, "from", c->caller->name);
  fb_hdr(&fb, "device", c->caller_device);
  fb_hdr(&fb, "media", c->media);
  fb_u64(&fb, "ts", c->started_ms);
  blob *b = fb_finish(&fb, NULL, 0, false);
  if (b != NULL && ring_add(s, c, ss))
    act_send(s, ss->conn, b);
  blob_unref(b);
}

void call_session_ready(parley_server *s, session *ss)
{
  if (!(ss->caps & CAP_CALLS))
    return;
  for (size_t i = 0; i < ss->user->convs.len; i++) {
    conv *cv = ss->user->convs.items[i];
    if (cv->live_call != NULL && rings_for(cv->live_call, ss->user))
      ring_send(s, cv->live_call, ss);
  }
}

void call_session_gone(parley_server *s, session *ss)
{
  while (ss->calls.len > 0) {
    call *c = ss->calls.items[ss->calls.len - 1];
    int k = part_of_session(c, ss);
    pvec_remove(&ss->calls, c);
    if (k < 0)
      continue;
    c->parts[k].ss = NULL;
    c->parts[k].away_at = s->now + s->cfg.call_grace_ms;
    offers_clear(c, (size_t)k);
    act_log(s, ss->conn, PARLEY_LOG_INFO, "call %s: %s/%s is away", c->id,
            c->parts[k].u->name, c->parts[k].device);
    call_sched(s, c);
  }
  pvec_free(&ss->calls);
}

/* ---- header values ---- */

/* An optional yes/no header: *out false when absent. Returns false after
 * answering bad-value. */
static bool hdr_yes_no(parley_server *s, session *ss, const parley_frame *f,
                       const reqid *req, const char *name, bool *out)
{
  const parley_str *v = parley_frame_get(f, name);
  *out = false;
  if (v == NULL || parley_str_eq(*v, "no"))
    return true;
  if (parley_str_eq(*v, "yes")) {
    *out = true;
    return true;
  }
  send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: %s",
             name);
  return false;
}

/* An optional reason (id syntax) into out, `def` when absent. */
static bool hdr_reason(parley_server *s, session *ss, const parley_frame *f,
                       const reqid *req, const char *def, char *out)
{
  const parley_str *v = parley_frame_get(f, "reason");
  if (v == NULL) {
    srv_copy(out, PARLEY_REASON_MAX + 1, def, strlen(def));
    return true;
  }
  if (!srv_id_valid(v->ptr, v->len)) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: reason");
    return false;
  }
  srv_copy(out, PARLEY_REASON_MAX + 1, v->ptr, v->len);
  return true;
}

/* The addressee: `to` (a user name) and `to-device` (an id). */
typedef struct call_to {
  char name[PARLEY_USER_MAX + 1];
  char device[PARLEY_ID_MAX + 1];
} call_to;

static bool hdr_to(parley_server *s, session *ss, const parley_frame *f,
                   const reqid *req, call_to *to)
{
  const parley_str *v = parley_frame_get(f, "to");
  if (v == NULL) {
    send_error(s, ss, PARLEY_E_MISSING_HEADER, req, "missing header: to");
    return false;
  }
  if (!srv_user_valid(v->ptr, v->len)) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: to");
    return false;
  }
  srv_copy(to->name, sizeof to->name, v->ptr, v->len);
  return hdr_id(s, ss, f, req, "to-device", to->device);
}

/* The headers every relayed frame starts with, and the call, sender and
 * addressee they name. */
typedef struct relay_ctx {
  char id[PARLEY_ID_MAX + 1];
  call_to to;
  call *c;
  int from; /* the sender's participant index */
  int dest; /* the addressee's */
} relay_ctx;

/* Reads call, to and to-device. Returns false after answering. */
static bool relay_headers(parley_server *s, session *ss,
                          const parley_frame *f, const reqid *req,
                          relay_ctx *rc)
{
  return hdr_id(s, ss, f, req, "call", rc->id) && hdr_to(s, ss, f, req,
                                                          &rc->to);
}

/* Finds the call, the sender (a participant by its session) and the
 * addressee (another participant). Returns false after answering
 * no-such-call. */
static bool relay_resolve(parley_server *s, session *ss, const reqid *req,
                          relay_ctx *rc)
{
  rc->c = call_for_member(s, rc->id, ss->user);
  rc->from = rc->c ? part_of_session(rc->c, ss) : -1;
  rc->dest = rc->from >= 0 ? part_find(rc->c, rc->to.name, rc->to.device)
                           : -1;
  for (size_t i = 0; rc->dest < 0 && rc->from >= 0 && i < rc->c->part_count &&
                     PARLEY_FAULT(&s->cfg, TO_DEVICE_UNCHECKED); i++)
    if (strcmp(rc->c->parts[i].u->name, rc->to.name) == 0)
      rc->dest = (int)i;
  if (rc->dest < 0 || rc->dest == rc->from) {
    send_no_call(s, ss, req);
    return false;
  }
  return true;
}

/* Starts a relayed frame: verb, call, from and device. */
static void relay_begin(fbuild *fb, const char *verb, const relay_ctx *rc,
                        const session *ss)
{
  fb_begin(fb, verb);
  fb_hdr(fb, "call", rc->id);
  fb_hdr(fb, "from", ss->user->name);
  fb_hdr(fb, "device", ss->device);
}

/* Sends a finished relay to the addressee when present (an away one's
 * is dropped), and OK to the sender. */
static void relay_send(parley_server *s, session *ss, const reqid *req,
                       const relay_ctx *rc, blob *b)
{
  session *to = rc->c->parts[rc->dest].ss;
  if (b == NULL) {
    send_error(s, ss, PARLEY_E_INTERNAL, req, NULL);
    return;
  }
  send_ok(s, ss, req);
  if (to != NULL)
    act_send(s, to->conn, b);
  blob_unref(b);
}

/* ---- SDP and candidates ---- */

/* True when a content-type is application/sdp: type and subtype without
 * regard to case, parameters (after OWS ";") ignored. */
static bool ctype_is_sdp(const char *p, size_t len)
{
  if (len < 15 || strncasecmp(p, "application/sdp", 15) != 0)
    return false;
  size_t i = 15;
  while (i < len && (p[i] == ' ' || p[i] == '\t'))
    i++;
  return i == len ? len == 15 : p[i] == ';';
}

/* Checks an OFFER's or ANSWER's body: content-type application/sdp
 * (445), at most PARLEY_SDP_MAX octets (447, before parsing), then the
 * grammar and profile (445, the body naming line and rule). Returns
 * false after answering. */
static bool sdp_check(parley_server *s, session *ss, const parley_frame *f,
                      const reqid *req)
{
  const parley_str *ct = parley_frame_get(f, "content-type");
  parley_sdp_error err;

  if (f->body.len == 0) {
    send_error(s, ss, PARLEY_E_BAD_SDP, req, "an SDP body is required");
    return false;
  }
  if (ct == NULL || !ctype_is_sdp(ct->ptr, ct->len)) {
    send_error(s, ss, PARLEY_E_BAD_SDP, req,
               "content-type must be application/sdp");
    return false;
  }
  if (f->body.len > PARLEY_SDP_MAX) {
    send_error(s, ss, PARLEY_E_SDP_TOO_LARGE, req,
               "the SDP body is %zu octets, past %d", f->body.len,
               PARLEY_SDP_MAX);
    return false;
  }
  if (s->sdp_scratch == NULL &&
      (s->sdp_scratch = malloc(sizeof(parley_sdp))) == NULL) {
    send_error(s, ss, PARLEY_E_INTERNAL, req, NULL);
    return false;
  }
  memset(&err, 0, sizeof err);
  parley_err rc = parley_sdp_parse(f->body.ptr, f->body.len, s->sdp_scratch,
                                   &err);
  if (rc == PARLEY_OK || PARLEY_FAULT(&s->cfg, RELAY_MALFORMED_SDP))
    return true;
  if (rc != PARLEY_E_SDP_TOO_LARGE)
    rc = PARLEY_E_BAD_SDP;
  send_error(s, ss, rc, req, "line %u column %u: %s: %s",
             (unsigned)err.line, (unsigned)err.column,
             err.rule[0] ? err.rule : "sdp", err.message);
  return false;
}

/* True for an RFC 8866 identification-tag (a token), 1 to 32 octets. */
static bool mid_valid(const char *p, size_t len)
{
  if (len < 1 || len > 32)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = p[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') ||
          (c != '\0' && strchr("!#$%&'*+-.^_`{|}~", c))))
      return false;
  }
  return true;
}

/* ---- CALL ---- */

/* Picks a fresh call id "k" + 20 base32 characters (100 bits) from the
 * seeded generator. */
static void call_pick_id(parley_server *s, char *out)
{
  static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
  do {
    uint64_t a = srv_rand(s), b = srv_rand(s);
    out[0] = 'k';
    for (int i = 0; i < 12; i++)
      out[1 + i] = b32[(a >> (5 * i)) & 31];
    for (int i = 0; i < 8; i++)
      out[13 + i] = b32[(b >> (5 * i)) & 31];
    out[21] = '\0';
  } while (pmap_get(&s->calls, out, strlen(out)) != NULL);
}

/* Makes the call record of a new call by ss in cv; NULL when memory runs
 * out. */
static call *call_new(parley_server *s, session *ss, conv *cv,
                      const char *media)
{
  call *c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  call_pick_id(s, c->id);
  c->serial = ++s->next_call_serial;
  if (!pmap_put(&s->calls, c->id, strlen(c->id), c)) {
    free(c);
    return NULL;
  }
  if (!pmap_put(&s->call_serials, &c->serial, sizeof c->serial, c)) {
    pmap_del(&s->calls, c->id, strlen(c->id));
    free(c);
    return NULL;
  }
  c->c = cv;
  c->state = CALL_RINGING;
  srv_copy(c->media, sizeof c->media, media, strlen(media));
  c->caller = ss->user;
  memcpy(c->caller_device, ss->device, sizeof c->caller_device);
  c->started_ms = s->now;
  c->ring_at = s->now + s->cfg.ring_timeout_ms;
  c->parts[0].u = ss->user;
  memcpy(c->parts[0].device, ss->device, sizeof c->parts[0].device);
  c->part_count = 1;
  part_bind(c, 0, ss);
  cv->live_call = c;
  return c;
}

/* RING to every READY `calls` session of every other member. */
static void ring_members(parley_server *s, call *c)
{
  for (size_t i = 0; i < c->c->member_count; i++) {
    user *u = c->c->members[i].u;
    if (!rings_for(c, u))
      continue;
    for (size_t k = 0; k < u->sessions.len; k++) {
      session *to = u->sessions.items[k];
      if ((to->caps & CAP_CALLS) ||
          PARLEY_FAULT(&s->cfg, RING_IGNORES_CAPABILITY))
        ring_send(s, c, to);
    }
  }
}

/* CALL-24: the frames of spec 19.2 whose body is "none" carry none. A
 * frame with a body (content-length above 0) is answered bad-value naming
 * content-length and not acted on. Returns true when there is no body. */
static bool no_body(parley_server *s, session *ss, const parley_frame *f,
                    const reqid *req)
{
  if (f->body.len == 0)
    return true;
  send_error(s, ss, PARLEY_E_BAD_VALUE, req,
             "bad value in header: content-length (this verb takes no "
             "body)");
  return false;
}

void on_call(parley_server *s, session *ss, const parley_frame *f,
             const reqid *req)
{
  char conv_id[PARLEY_ID_MAX + 1];
  const char *media = "audio";

  if (!no_body(s, ss, f, req) || !hdr_id(s, ss, f, req, "conv", conv_id))
    return;
  const parley_str *m = parley_frame_get(f, "media");
  if (m != NULL && parley_str_eq(*m, "video"))
    media = "video";
  else if (m != NULL && !parley_str_eq(*m, "audio")) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: media");
    return;
  }
  conv *cv = conv_for_member(s, conv_id, strlen(conv_id), ss->user, NULL);
  if (cv == NULL) {
    send_not_found(s, ss, conv_id, req);
    return;
  }
  if (cv->live_call != NULL) {
    send_error(s, ss, PARLEY_E_BAD_CALL_STATE, req,
               "call %s is live in this conversation", cv->live_call->id);
    return;
  }
  if (s->calls.live >= s->cfg.max_calls) {
    send_error(s, ss, PARLEY_E_RATE_LIMITED, req,
               "too many live calls on this server; retry later");
    return;
  }
  call *c = call_new(s, ss, cv, media);
  if (c == NULL) {
    send_error(s, ss, PARLEY_E_INTERNAL, req, NULL);
    return;
  }
  act_log(s, ss->conn, PARLEY_LOG_INFO, "call %s in %s by %s/%s", c->id,
          cv->id, ss->user->name, ss->device);
  record(s, c, PARLEY_CALL_REC_CREATED, ss->user, ss->device, NULL, false);
  record(s, c, PARLEY_CALL_REC_JOINED, ss->user, ss->device, NULL, false);
  blob *ok = ok_call_frame(req, c->id);
  act_send(s, ss->conn, ok);
  blob_unref(ok);
  ring_members(s, c);
  call_sched(s, c);
}

/* ---- JOIN ---- */

/* PARTICIPANTS for the participant k: the others, one line each, with
 * the req of the JOIN. */
static void send_participants(parley_server *s, call *c, size_t k,
                              const reqid *req)
{
  char body[SRV_CALL_PARTS_MAX * (PARLEY_USER_MAX + PARLEY_ID_MAX + 3)];
  size_t len = 0;
  fbuild fb;

  for (size_t i = 0; i < c->part_count; i++)
    if (i != k)
      len += (size_t)snprintf(body + len, sizeof body - len, "%s %s\r\n",
                              c->parts[i].u->name, c->parts[i].device);
  fb_begin(&fb, "PARTICIPANTS");
  fb_hdr(&fb, "call", c->id);
  fb_hdr(&fb, "conv", c->c->id);
  fb_hdr(&fb, "state", c->state == CALL_RINGING ? "ringing" : "active");
  fb_u64(&fb, "count", c->part_count - 1);
  fb_req(&fb, req);
  if (len > 0)
    fb_hdr(&fb, "content-type", "text/plain");
  blob *b = fb_finish(&fb, body, len, false);
  act_send(s, c->parts[k].ss->conn, b);
  blob_unref(b);
}

/* JOINED for participant k to the others. */
static void send_joined(parley_server *s, call *c, size_t k, bool rejoin)
{
  fbuild fb;
  fb_begin(&fb, "JOINED");
  fb_hdr(&fb, "call", c->id);
  fb_hdr(&fb, "user", c->parts[k].u->name);
  fb_hdr(&fb, "device", c->parts[k].device);
  if (rejoin)
    fb_hdr(&fb, "rejoin", "yes"); /* no header for a first join */
  blob *b = fb_finish(&fb, NULL, 0, false);
  to_parts(s, c, b, (int)k);
  blob_unref(b);
}

/* A rejoin: participant k moves to session ss. */
static void join_again(parley_server *s, session *ss, call *c, size_t k,
                       const reqid *req)
{
  part_bind(c, k, ss);
  offers_clear(c, k);
  record(s, c, PARLEY_CALL_REC_REJOINED, ss->user, ss->device, NULL, false);
  send_ok(s, ss, req);
  send_participants(s, c, k, req);
  send_joined(s, c, k, true);
  call_sched(s, c);
}

/* Checks a first JOIN against the call's rules. Returns false after
 * answering bad-call-state. */
static bool join_allowed(parley_server *s, session *ss, call *c,
                         const reqid *req)
{
  if (part_of_user(c, ss->user) >= 0) {
    send_error(s, ss, PARLEY_E_BAD_CALL_STATE, req,
               "you are in this call on another device");
    return false;
  }
  if (c->part_count >= SRV_CALL_PARTS_MAX) {
    send_error(s, ss, PARLEY_E_BAD_CALL_STATE, req,
               "the call is full (%d participants)", SRV_CALL_PARTS_MAX);
    return false;
  }
  return true;
}

void on_join(parley_server *s, session *ss, const parley_frame *f,
             const reqid *req)
{
  char id[PARLEY_ID_MAX + 1];
  bool rejoin = false;

  if (!no_body(s, ss, f, req) || !hdr_id(s, ss, f, req, "call", id) ||
      !hdr_yes_no(s, ss, f, req, "rejoin", &rejoin))
    return;
  call *c = call_for_member(s, id, ss->user);
  if (c == NULL) {
    send_no_call(s, ss, req);
    return;
  }
  int k = part_find(c, ss->user->name, ss->device);
  if (k >= 0 && rejoin && c->parts[k].ss != ss) {
    join_again(s, ss, c, (size_t)k, req);
    return;
  }
  if (k >= 0) {
    send_error(s, ss, PARLEY_E_BAD_CALL_STATE, req,
               "you are in this call already");
    return;
  }
  if (!join_allowed(s, ss, c, req))
    return;
  k = (int)c->part_count++;
  c->parts[k].u = ss->user;
  memcpy(c->parts[k].device, ss->device, sizeof c->parts[k].device);
  part_bind(c, (size_t)k, ss);
  bool answers = c->state == CALL_RINGING;
  if (answers)
    c->state = CALL_ACTIVE;
  record(s, c, PARLEY_CALL_REC_JOINED, ss->user, ss->device, NULL, answers);
  send_ok(s, ss, req);
  send_participants(s, c, (size_t)k, req);
  send_joined(s, c, (size_t)k, false);
  ring_stop_user(s, c, ss->user, ss, "answered-elsewhere");
}

/* ---- OFFER, ANSWER ---- */

void on_offer(parley_server *s, session *ss, const parley_frame *f,
              const reqid *req)
{
  relay_ctx rc;
  bool restart = false;
  fbuild fb;

  if (!relay_headers(s, ss, f, req, &rc) ||
      !hdr_yes_no(s, ss, f, req, "ice-restart", &restart) ||
      !relay_resolve(s, ss, req, &rc))
    return;
  uint16_t bit = (uint16_t)(1u << rc.dest);
  if ((rc.c->offers[rc.from] & bit) && !restart) {
    send_error(s, ss, PARLEY_E_BAD_CALL_STATE, req,
               "an OFFER to %s/%s waits for its ANSWER; ice-restart: yes "
               "replaces it", rc.to.name, rc.to.device);
    return;
  }
  if (!sdp_check(s, ss, f, req))
    return;
  if (rc.c->parts[rc.dest].ss != NULL)
    rc.c->offers[rc.from] |= bit;
  relay_begin(&fb, "OFFER", &rc, ss);
  if (restart)
    fb_hdr(&fb, "ice-restart", "yes");
  fb_hdr(&fb, "content-type", "application/sdp");
  relay_send(s, ss, req, &rc, fb_finish(&fb, f->body.ptr, f->body.len,
                                        false));
}

void on_answer(parley_server *s, session *ss, const parley_frame *f,
               const reqid *req)
{
  relay_ctx rc;
  fbuild fb;

  if (!relay_headers(s, ss, f, req, &rc) || !relay_resolve(s, ss, req, &rc))
    return;
  uint16_t bit = (uint16_t)(1u << rc.from);
  if (!(rc.c->offers[rc.dest] & bit) &&
      !PARLEY_FAULT(&s->cfg, ANSWER_WITHOUT_OFFER_ALLOWED)) {
    send_error(s, ss, PARLEY_E_BAD_CALL_STATE, req,
               "no OFFER from %s/%s waits for an ANSWER", rc.to.name,
               rc.to.device);
    return;
  }
  if (!sdp_check(s, ss, f, req))
    return;
  rc.c->offers[rc.dest] &= (uint16_t)~bit;
  relay_begin(&fb, "ANSWER", &rc, ss);
  fb_hdr(&fb, "content-type", "application/sdp");
  relay_send(s, ss, req, &rc, fb_finish(&fb, f->body.ptr, f->body.len,
                                        false));
}

/* ---- CANDIDATE, END-OF-CANDIDATES ---- */

void on_candidate(parley_server *s, session *ss, const parley_frame *f,
                  const reqid *req)
{
  relay_ctx rc;
  parley_candidate cand;
  parley_sdp_error err;
  fbuild fb;

  if (!no_body(s, ss, f, req) || !relay_headers(s, ss, f, req, &rc))
    return;
  const parley_str *v = parley_frame_get(f, "candidate");
  const parley_str *mid = parley_frame_get(f, "mid");
  if (v == NULL) {
    send_error(s, ss, PARLEY_E_MISSING_HEADER, req,
               "missing header: candidate");
    return;
  }
  if (mid != NULL && !mid_valid(mid->ptr, mid->len)) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: mid");
    return;
  }
  if (!relay_resolve(s, ss, req, &rc))
    return;
  memset(&err, 0, sizeof err);
  if (parley_candidate_parse(v->ptr, v->len, &cand, &err) != PARLEY_OK &&
      !PARLEY_FAULT(&s->cfg, RELAY_MALFORMED_CANDIDATE)) {
    send_error(s, ss, PARLEY_E_BAD_CANDIDATE, req, "column %u: %s: %s",
               (unsigned)err.column, err.rule[0] ? err.rule : "candidate",
               err.message);
    return;
  }
  relay_begin(&fb, "CANDIDATE", &rc, ss);
  fb_hdr_n(&fb, "candidate", v->ptr, v->len);
  if (mid != NULL)
    fb_hdr_n(&fb, "mid", mid->ptr, mid->len);
  relay_send(s, ss, req, &rc, fb_finish(&fb, NULL, 0, false));
}

void on_end_of_candidates(parley_server *s, session *ss,
                          const parley_frame *f, const reqid *req)
{
  relay_ctx rc;
  fbuild fb;

  if (!no_body(s, ss, f, req) || !relay_headers(s, ss, f, req, &rc) ||
      !relay_resolve(s, ss, req, &rc))
    return;
  relay_begin(&fb, "END-OF-CANDIDATES", &rc, ss);
  relay_send(s, ss, req, &rc, fb_finish(&fb, NULL, 0, false));
}

/* ---- MEDIA-STATE ---- */

void on_media_state(parley_server *s, session *ss, const parley_frame *f,
                    const reqid *req)
{
  static const char *const names[] = {"audio", "video", "screen"};
  const parley_str *v[3];
  char id[PARLEY_ID_MAX + 1];
  bool any = false;
  fbuild fb;

  if (!no_body(s, ss, f, req) || !hdr_id(s, ss, f, req, "call", id))
    return;
  for (int i = 0; i < 3; i++) {
    v[i] = parley_frame_get(f, names[i]);
    any = any || v[i] != NULL;
    if (v[i] != NULL && !parley_str_eq(*v[i], "on") &&
        !parley_str_eq(*v[i], "off")) {
      send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: %s",
                 names[i]);
      return;
    }
  }
  if (!any) {
    send_error(s, ss, PARLEY_E_MISSING_HEADER, req,
               "missing header: audio, video or screen");
    return;
  }
  call *c = call_for_member(s, id, ss->user);
  int k = c ? part_of_session(c, ss) : -1;
  if (k < 0) {
    send_no_call(s, ss, req);
    return;
  }
  fb_begin(&fb, "MEDIA-STATE");
  fb_hdr(&fb, "call", c->id);
  fb_hdr(&fb, "from", ss->user->name);
  fb_hdr(&fb, "device", ss->device);
  for (int i = 0; i < 3; i++)
    if (v[i] != NULL)
      fb_hdr_n(&fb, names[i], v[i]->ptr, v[i]->len);
  blob *b = fb_finish(&fb, NULL, 0, false);
  send_ok(s, ss, req);
  to_parts(s, c, b, k);
  blob_unref(b);
}

/* ---- LEAVE, HANGUP ---- */

void on_leave(parley_server *s, session *ss, const parley_frame *f,
              const reqid *req)
{
  char id[PARLEY_ID_MAX + 1];
  char reason[PARLEY_REASON_MAX + 1];

  if (!no_body(s, ss, f, req) || !hdr_id(s, ss, f, req, "call", id) ||
      !hdr_reason(s, ss, f, req, "left", reason))
    return;
  call *c = call_for_member(s, id, ss->user);
  int k = c ? part_of_sender(c, ss) : -1;
  if (k < 0) {
    send_no_call(s, ss, req);
    return;
  }
  send_ok(s, ss, req);
  bool ringing = c->state == CALL_RINGING;
  part_leaves(s, c, (size_t)k, reason, ringing ? "cancelled" : "completed",
              ss);
}

/* HANGUP from a member who is not in the call (see the design note). */
static void hangup_by_member(parley_server *s, session *ss, call *c,
                             const char *reason, bool has_reason,
                             const reqid *req)
{
  if (part_of_user(c, ss->user) >= 0) {
    send_no_call(s, ss, req);
    return;
  }
  send_ok(s, ss, req);
  if (c->state == CALL_RINGING && c->c->kind == PARLEY_CONV_DIRECT) {
    call_end(s, c, has_reason ? reason : "declined", ss);
    return;
  }
  ring_stop_user(s, c, ss->user, ss, "declined-elsewhere");
}

void on_hangup(parley_server *s, session *ss, const parley_frame *f,
               const reqid *req)
{
  char id[PARLEY_ID_MAX + 1];
  char reason[PARLEY_REASON_MAX + 1];

  if (!no_body(s, ss, f, req) || !hdr_id(s, ss, f, req, "call", id) ||
      !hdr_reason(s, ss, f, req, "hangup", reason))
    return;
  bool has_reason = parley_frame_get(f, "reason") != NULL;
  call *c = call_for_member(s, id, ss->user);
  if (c == NULL) {
    send_no_call(s, ss, req);
    return;
  }
  int k = part_of_sender(c, ss);
  if (k < 0) {
    hangup_by_member(s, ss, c, reason, has_reason, req);
    return;
  }
  send_ok(s, ss, req);
  if (c->state == CALL_ACTIVE && PARLEY_FAULT(&s->cfg, NO_CALL_END_ON_HANGUP))
    part_leaves(s, c, (size_t)k, reason, "completed", ss);
  else
    call_end(s, c, c->state == CALL_RINGING ? "cancelled" : reason, ss);
}
