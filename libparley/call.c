/* The client call machine (parley/call.h; spec section 19).
 *
 * One machine follows one call of this device, as caller or callee:
 *
 *   IDLE --place--> CALLING --OK call--> RINGING_OUT --JOINED--+
 *   IDLE --RING--> RINGING_IN --accept--> JOINING --PARTICIPANTS--+
 *                                                                 v
 *             CONNECTED <--media connected-- NEGOTIATING <--------+
 *   any --CALL-END / hang up / decline / RING-STOP / timeout /
 *         refusal / media failure / bad remote SDP--> ENDED
 *
 * Who offers (section 19): the joiner offers to the participants it
 * finds in PARTICIPANTS, so the callee offers and the caller answers.
 * Negotiation is a small sub-machine (ca_neg): an OFFER or ANSWER needs
 * this side's description, which the media engine gives on request
 * (MEDIA_LOCAL_DESC), so the answerer asks for it only after the remote
 * description is set, as the engine's offerer/answerer rule wants.
 * Candidates of this side wait until its OFFER or ANSWER went out, then
 * trickle as CANDIDATE frames, END-OF-CANDIDATES after gathering; remote
 * candidates that come before the remote SDP wait for it; one remote
 * description takes at most CA_REMOTE_CANDIDATES_MAX of them.
 *
 * Reconnect: the client core reports READY with `reconnected`. A
 * participant sends JOIN rejoin: yes; on PARTICIPANTS it restarts ICE
 * (MEDIA_ICE_RESTART, a fresh description) and offers with ice-restart:
 * yes. The peer of a rejoiner sees an OFFER with ice-restart and answers
 * with fresh credentials of its own (RFC 8839 4.4.1.1.1). Media that was
 * up stays CONNECTED through a restart.
 *
 * Invariants: frames go out only while the core is READY (`online`);
 * ENDED is final and emits MEDIA_STOP once if media started; at most one
 * TIMER is armed, for the earlier of the answer and connect deadlines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_internal.h"
#include "client_internal.h" /* cl_grow */

#define SDP_TYPE "application/sdp"
/* Remote candidates one remote description may bring, its own and the
 * trickled ones: twice the 64 a=candidate lines a body may hold. */
#define CA_REMOTE_CANDIDATES_MAX 128

static const char *const state_names[] = {
  "idle", "calling", "ringing-out", "ringing-in", "joining", "negotiating",
  "connected", "ended"
};

const char *parley_call_state_name(parley_call_state state)
{
  if ((size_t)state >= sizeof state_names / sizeof *state_names)
    return "?";
  return state_names[state];
}

/* ---- actions ---------------------------------------------------------- */

/* Frees drained actions; every public entry point calls it first. */
static void enter(parley_call *call)
{
  size_t i;

  for (i = 0; i < call->item_head; i++)
    free(call->items[i].owned);
  if (call->item_head == 0)
    return; /* nothing drained; items may still be NULL */
  memmove(call->items, call->items + call->item_head,
          (call->item_count - call->item_head) * sizeof *call->items);
  call->item_count -= call->item_head;
  call->item_head = 0;
}

/* Queues a zeroed action of `kind`; NULL (and the oom flag) when memory
 * runs out. Fills the call's names into it. */
static ca_item *push(parley_call *call, parley_call_action_kind kind)
{
  ca_item *it;

  if (!cl_grow((void **)&call->items, &call->item_cap, call->item_count + 1,
               sizeof *call->items)) {
    call->oom = true;
    return NULL;
  }
  it = &call->items[call->item_count++];
  memset(it, 0, sizeof *it);
  it->a.kind = kind;
  memcpy(it->a.call, call->call_id, sizeof it->a.call);
  memcpy(it->a.conv, call->conv, sizeof it->a.conv);
  memcpy(it->a.peer, call->peer, sizeof it->a.peer);
  memcpy(it->a.peer_device, call->peer_device, sizeof it->a.peer_device);
  it->a.state = call->state;
  return it;
}

/* Queues an action carrying a copy of `text`. */
static ca_item *push_text(parley_call *call, parley_call_action_kind kind,
                          const char *text)
{
  ca_item *it = push(call, kind);

  if (it == NULL)
    return NULL;
  it->owned = strdup(text ? text : "");
  if (it->owned == NULL)
    call->oom = true;
  it->a.text = it->owned ? it->owned : "";
  return it;
}

/* Queues a SEND of `verb` with header pairs kv[0..2n) and a body (NULL:
 * none), all copied into one buffer the action owns. Frames go out only
 * while online; returns false (nothing queued) otherwise. */
static bool send_frame(parley_call *call, const char *verb,
                       const char *const *kv, size_t n, const char *body,
                       size_t body_len)
{
  size_t i, need = body_len + 1;
  ca_item *it;
  char *p;

  if (!call->online)
    return false;
  for (i = 0; i < 2 * n; i++)
    need += strlen(kv[i]) + 1;
  if ((it = push(call, PARLEY_CALL_SEND)) == NULL)
    return false;
  if ((p = it->owned = malloc(need)) == NULL) {
    call->oom = true;
    it->a.kind = PARLEY_CALL_EV_WARNING;
    it->a.text = "out of memory";
    return false;
  }
  it->a.verb = verb;
  for (i = 0; i < n && i < PARLEY_CALL_HEADERS_MAX; i++) {
    size_t ln = strlen(kv[2 * i]) + 1, lv = strlen(kv[2 * i + 1]) + 1;
    it->a.headers[i].name = memcpy(p, kv[2 * i], ln);
    it->a.headers[i].value = memcpy(p + ln, kv[2 * i + 1], lv);
    p += ln + lv;
  }
  it->a.header_count = i;
  if (body != NULL) {
    memcpy(p, body, body_len);
    p[body_len] = '\0';
    it->a.body = p;
    it->a.body_len = body_len;
    it->a.content_type = SDP_TYPE;
  }
  return true;
}

/* Sends a frame addressed to the peer: call, to, to-device, then the
 * extra pairs. */
static void send_to_peer(parley_call *call, const char *verb,
                         const char *k1, const char *v1, const char *k2,
                         const char *v2, const char *body, size_t body_len)
{
  const char *kv[] = {"call", call->call_id, "to", call->peer, "to-device",
                      call->peer_device, k1, v1, k2, v2};
  size_t n = 3 + (k1 != NULL) + (k2 != NULL);

  if (k1 == NULL && k2 != NULL) {
    kv[6] = k2;
    kv[7] = v2;
  }
  send_frame(call, verb, kv, n, body, body_len);
}

static void set_state(parley_call *call, parley_call_state s)
{
  if (call->state == s)
    return;
  call->state = s;
  push(call, PARLEY_CALL_EV_STATE);
}

/* The earliest deadline, or 0. */
static uint64_t next_deadline(const parley_call *call)
{
  uint64_t t = call->answer_deadline;

  if (call->state == PARLEY_CALL_ENDED)
    return 0;
  if (call->connect_deadline != 0 && (t == 0 || call->connect_deadline < t))
    t = call->connect_deadline;
  return t;
}

static void end_call(parley_call *call, const char *reason, bool failed,
                     parley_err err, const char *text);

/* Every public entry point ends here: arms the timer and turns running
 * out of memory into the end of the call. */
static void leave(parley_call *call)
{
  uint64_t t;
  ca_item *it;

  if (call->oom && call->state != PARLEY_CALL_ENDED) {
    call->oom = false;
    end_call(call, "failed", true, PARLEY_E_INTERNAL, "out of memory");
  }
  t = next_deadline(call);
  if (t == call->armed_at)
    return;
  if ((it = push(call, PARLEY_CALL_TIMER)) != NULL) {
    it->a.at_ms = t;
    call->armed_at = t;
  }
}

/* ---- life and death --------------------------------------------------- */

static bool valid_name(const char *s, size_t max)
{
  size_t n = strlen(s);

  return n > 0 && n <= max && strpbrk(s, " \r\n\t:") == NULL;
}

parley_call *parley_call_new(const parley_call_config *cfg)
{
  parley_call *call;

  if (cfg->user == NULL || cfg->device == NULL ||
      !valid_name(cfg->user, PARLEY_USER_MAX) ||
      !valid_name(cfg->device, PARLEY_ID_MAX) ||
      (cfg->ring_from != NULL && strlen(cfg->ring_from) > PARLEY_USER_MAX))
    return NULL;
  if ((call = calloc(1, sizeof *call)) == NULL)
    return NULL;
  snprintf(call->user, sizeof call->user, "%s", cfg->user);
  snprintf(call->device, sizeof call->device, "%s", cfg->device);
  if (cfg->ring_from != NULL)
    snprintf(call->ring_from, sizeof call->ring_from, "%s", cfg->ring_from);
  call->answer_timeout_ms = cfg->answer_timeout_ms ? cfg->answer_timeout_ms
                                                   : 30000;
  call->connect_timeout_ms = cfg->connect_timeout_ms
                                 ? cfg->connect_timeout_ms : 20000;
  call->fec = cfg->fec;
  /* o= sess-id: a number that fits 63 bits, so any parser takes it. */
  call->sess_id = (cfg->seed ^ 0x5DEECE66Dull) & 0x3FFFFFFFFFFFFFFFull;
  if (call->sess_id == 0)
    call->sess_id = 1;
  return call;
}

void parley_call_free(parley_call *call)
{
  size_t i;

  if (call == NULL)
    return;
  for (i = 0; i < call->item_count; i++)
    free(call->items[i].owned);
  free(call->items);
  free(call->cands);
  free(call->rcands);
  free(call);
}

/* The call is over: stop media, tell the user. `failed`: ended by an
 * error rather than by a person or the call completing. */
static void end_call(parley_call *call, const char *reason, bool failed,
                     parley_err err, const char *text)
{
  ca_item *it;

  if (call->state == PARLEY_CALL_ENDED)
    return;
  if (call->media_started)
    push(call, PARLEY_CALL_MEDIA_STOP);
  call->media_started = false;
  call->media_up = false;
  call->answer_deadline = call->connect_deadline = 0;
  set_state(call, PARLEY_CALL_ENDED);
  it = push_text(call, PARLEY_CALL_EV_ENDED, text ? text : reason);
  if (it == NULL)
    return;
  snprintf(it->a.reason, sizeof it->a.reason, "%s", reason);
  it->a.failed = failed;
  it->a.was_connected = call->was_connected;
  it->a.err = err;
}

/* Ends the call for an error on this side: tells the server (HANGUP
 * reason failed) when this device is in the call. */
static void fail(parley_call *call, parley_err err, const char *text)
{
  const char *kv[] = {"call", call->call_id, "reason", "failed"};

  if (call->state == PARLEY_CALL_ENDED)
    return;
  if (call->participant && call->call_id[0] != '\0')
    send_frame(call, "HANGUP", kv, 2, NULL, 0);
  end_call(call, "failed", true, err, text);
}

static void warn(parley_call *call, const char *text)
{
  push_text(call, PARLEY_CALL_EV_WARNING, text);
}

/* ---- negotiation ------------------------------------------------------ */

static void start_media(parley_call *call);

/* Asks the engine for its description, once per need; the engine starts
 * when it is first needed (so its set-up time runs from the offer, as
 * section 19.8 counts it). */
static void want_desc(parley_call *call)
{
  start_media(call);
  if (!call->desc_asked && push(call, PARLEY_CALL_MEDIA_LOCAL_DESC) != NULL)
    call->desc_asked = true;
}

/* Trickles the local candidates not yet sent, then END-OF-CANDIDATES
 * once gathering is done; only after this side's OFFER or ANSWER. */
static void flush_candidates(parley_call *call)
{
  const char *mid = ca_audio_mid(call);

  if (!call->sdp_sent || !call->online || !call->have_peer)
    return;
  while (call->cand_sent < call->cand_count) {
    send_to_peer(call, "CANDIDATE", "candidate",
                 call->cands[call->cand_sent], mid[0] ? "mid" : NULL, mid,
                 NULL, 0);
    call->cand_sent++;
  }
  if (call->gathering_done && !call->eoc_sent) {
    send_to_peer(call, "END-OF-CANDIDATES", NULL, NULL, NULL, NULL, NULL,
                 0);
    call->eoc_sent = true;
  }
}

static void sdp_went_out(parley_call *call)
{
  call->sdp_sent = true;
  call->cand_sent = 0;
  call->eoc_sent = false;
  flush_candidates(call);
}

/* Sends this side's OFFER or ANSWER when everything it needs is in. */
static void try_sdp(parley_call *call)
{
  bool offer = call->neg == CA_NEG_WANT_OFFER;
  char *body;
  size_t len = 0;

  if ((!offer && call->neg != CA_NEG_WANT_ANSWER) || !call->online ||
      !call->have_peer || call->rejoining)
    return;
  if (!call->local_ready) {
    want_desc(call);
    return;
  }
  /* CALLCLI-4: actpass in every OFFER, active in every ANSWER (passive
   * only to an offer that itself said active, RFC 5763 5). A restart
   * keeps the DTLS association the first exchange set up. */
  call->my_setup = offer ? PARLEY_SETUP_ACTPASS
                         : call->offer_setup == PARLEY_SETUP_ACTIVE
                               ? PARLEY_SETUP_PASSIVE : PARLEY_SETUP_ACTIVE;
  if ((body = ca_sdp_write(call, offer, &len)) == NULL) {
    fail(call, PARLEY_E_INTERNAL, "could not write the local SDP");
    return;
  }
  if (offer)
    send_to_peer(call, "OFFER", call->restart_offer ? "ice-restart" : NULL,
                 "yes", NULL, NULL, body, len);
  else
    send_to_peer(call, "ANSWER", NULL, NULL, NULL, NULL, body, len);
  free(body);
  call->neg = offer ? CA_NEG_OFFER_SENT : CA_NEG_DONE;
  call->restart_offer = false;
  sdp_went_out(call);
}

/* Restarts ICE: the engine makes new credentials and reports its
 * candidates again. */
static void restart_ice(parley_call *call)
{
  push(call, PARLEY_CALL_MEDIA_ICE_RESTART);
  call->local_ready = false;
  call->desc_asked = false;
  call->cand_count = call->cand_sent = 0;
  call->gathering_done = false;
  call->eoc_sent = false;
  call->sdp_sent = false;
}

/* MEDIA-1: the participant that sends a pair's first OFFER, the joiner,
 * is the ICE controlling agent; the caller never offers first. */
static void start_media(parley_call *call)
{
  ca_item *it;

  if (call->media_started || call->state == PARLEY_CALL_ENDED)
    return;
  if ((it = push(call, PARLEY_CALL_MEDIA_START)) != NULL)
    it->a.controlling = call->role == PARLEY_CALL_CALLEE;
  call->media_started = true;
}

/* Adds a remote candidate now, or keeps it until the remote SDP is set.
 * Past CA_REMOTE_CANDIDATES_MAX for one remote description the rest are
 * dropped (once with a warning): a peer trickling without end must not
 * grow this side's memory or its ICE checks without bound. */
static void remote_candidate(parley_call *call, const char *text)
{
  if (call->rcand_total >= CA_REMOTE_CANDIDATES_MAX) {
    if (!call->rcand_warned)
      warn(call, "too many remote candidates; the rest are ignored");
    call->rcand_warned = true;
    return;
  }
  call->rcand_total++;
  if (call->remote_set) {
    push_text(call, PARLEY_CALL_MEDIA_CANDIDATE, text);
    return;
  }
  if (!cl_grow((void **)&call->rcands, &call->rcand_cap,
               call->rcand_count + 1, sizeof *call->rcands)) {
    call->oom = true;
    return;
  }
  snprintf(call->rcands[call->rcand_count++], sizeof(ca_cand), "%s", text);
}

/* Sets the remote description and hands over the candidates of the SDP
 * and those that waited for it. */
static void apply_remote(parley_call *call, const parley_sdp *s, size_t a,
                         const parley_call_desc *remote)
{
  const parley_sdp_media *m = &s->media[a];
  ca_cand text;
  ca_item *it;
  size_t i;

  if ((it = push(call, PARLEY_CALL_MEDIA_REMOTE)) != NULL)
    it->a.remote = *remote;
  call->remote_set = true;
  snprintf(call->remote_ufrag, sizeof call->remote_ufrag, "%s",
           remote->ufrag);
  for (i = 0; i < m->candidate_count; i++)
    if (m->candidate_first + i < s->candidate_count &&
        parley_candidate_write(&s->candidates[m->candidate_first + i], text,
                               sizeof text) > 0)
      push_text(call, PARLEY_CALL_MEDIA_CANDIDATE, text);
  for (i = 0; i < call->rcand_count; i++)
    push_text(call, PARLEY_CALL_MEDIA_CANDIDATE, call->rcands[i]);
  call->rcand_total = m->candidate_count + call->rcand_count;
  call->rcand_warned = false;
  call->rcand_count = 0;
  if (m->end_of_candidates || call->reoc_pending)
    push(call, PARLEY_CALL_MEDIA_CANDIDATES_DONE);
  call->reoc_pending = false;
}

/* Reads a remote SDP body; a bad one ends the call. Returns the parsed
 * SDP (the caller frees) or NULL. */
static parley_sdp *read_remote(parley_call *call, const parley_call_frame *f,
                               bool offer, parley_call_desc *remote,
                               size_t *a)
{
  char why[300], text[400];
  parley_sdp *s;

  s = ca_sdp_read(call, f->body, f->body_len, offer, remote, a, why,
                  sizeof why);
  if (s == NULL) {
    snprintf(text, sizeof text, "malformed remote SDP in %s from %s: %s",
             f->verb, f->from[0] ? f->from : "the peer", why);
    fail(call, PARLEY_E_BAD_SDP, text);
  }
  return s;
}

/* The peer answered on its own: the caller hears the callee joined. */
static void negotiating(parley_call *call, uint64_t now_ms)
{
  call->answer_deadline = 0;
  if (call->connect_deadline == 0 && !call->media_up)
    call->connect_deadline = now_ms + call->connect_timeout_ms;
  if (call->state != PARLEY_CALL_CONNECTED)
    set_state(call, PARLEY_CALL_NEGOTIATING);
}

static void on_offer(parley_call *call, const parley_call_frame *f,
                     uint64_t now_ms)
{
  parley_call_desc remote;
  parley_sdp *s;
  size_t a;
  bool restart;

  if (call->neg == CA_NEG_OFFER_SENT && call->role == PARLEY_CALL_CALLER) {
    /* Glare (both rejoined and offered): the caller's offer stands, the
     * callee answers it and drops its own. */
    warn(call, "an OFFER crossed this side's own; the caller's stands");
    return;
  }
  if ((s = read_remote(call, f, true, &remote, &a)) == NULL)
    return;
  call->restart_offer = false;
  restart = call->remote_set &&
            (f->ice_restart || strcmp(remote.ufrag, call->remote_ufrag) != 0);
  if (call->remote_setup == PARLEY_SETUP_NONE)
    call->remote_setup = remote.setup;
  call->offer_setup = remote.setup;
  if (restart)
    restart_ice(call);
  start_media(call);
  call->remote_set = false;
  apply_remote(call, s, a, &remote);
  free(s);
  call->neg = CA_NEG_WANT_ANSWER;
  call->sdp_sent = false;
  negotiating(call, now_ms);
  try_sdp(call);
}

static void on_answer_sdp(parley_call *call, const parley_call_frame *f)
{
  parley_call_desc remote;
  parley_sdp *s;
  size_t a;

  if (call->neg != CA_NEG_OFFER_SENT) {
    warn(call, "an ANSWER that answers no OFFER of this side; ignored");
    return;
  }
  if ((s = read_remote(call, f, false, &remote, &a)) == NULL)
    return;
  if (call->remote_setup == PARLEY_SETUP_NONE &&
      remote.setup == PARLEY_SETUP_ACTPASS) {
    free(s);
    fail(call, PARLEY_E_BAD_SDP, "malformed remote SDP in ANSWER: setup "
         "actpass in an answer (RFC 5763: active or passive)");
    return;
  }
  if (call->remote_setup == PARLEY_SETUP_NONE)
    call->remote_setup = remote.setup;
  call->remote_set = false;
  apply_remote(call, s, a, &remote);
  free(s);
  call->neg = CA_NEG_DONE;
}

/* ---- frames from the server ------------------------------------------- */

static bool is_self(const parley_call *call, const char *user,
                    const char *device)
{
  return strcmp(user, call->user) == 0 && strcmp(device, call->device) == 0;
}

static void adopt_peer(parley_call *call, const char *user,
                       const char *device)
{
  snprintf(call->peer, sizeof call->peer, "%s", user);
  snprintf(call->peer_device, sizeof call->peer_device, "%s", device);
  call->have_peer = true;
}

/* True when the relayed frame comes from the peer (or there is none yet,
 * and it becomes the peer). */
static bool from_peer(parley_call *call, const parley_call_frame *f)
{
  if (!call->have_peer && f->from[0] != '\0' && f->device[0] != '\0')
    adopt_peer(call, f->from, f->device);
  return call->have_peer && strcmp(f->from, call->peer) == 0 &&
         strcmp(f->device, call->peer_device) == 0;
}

/* A RING while this device is in a call: refused as `busy` (section
 * 19.2), which ends a direct call that rings and only stops the ringing
 * here in a group. */
static void refuse_busy(parley_call *call, const parley_call_frame *f)
{
  const char *kv[] = {"call", f->call, "reason", "busy"};

  if (strcmp(f->call, call->call_id) != 0)
    send_frame(call, "HANGUP", kv, 2, NULL, 0);
}

static void on_ring(parley_call *call, const parley_call_frame *f,
                    uint64_t now_ms)
{
  ca_item *it;

  /* A RING that does not name its call, conversation, caller and
   * device (absent or too long: left empty) gives nobody to offer to. */
  if (!valid_name(f->call, PARLEY_ID_MAX) ||
      !valid_name(f->conv, PARLEY_ID_MAX) ||
      !valid_name(f->from, PARLEY_USER_MAX) ||
      !valid_name(f->device, PARLEY_ID_MAX)) {
    warn(call, "a RING without call, conv, from or device ignored");
    return;
  }
  if (strcmp(f->from, call->user) == 0 ||
      (call->ring_from[0] != '\0' && strcmp(f->from, call->ring_from) != 0))
    return;
  if (call->state != PARLEY_CALL_IDLE) {
    if (call->state != PARLEY_CALL_ENDED)
      refuse_busy(call, f);
    return;
  }
  /* CALLCLI-6: the ringing stops by itself after the ring timeout. */
  call->answer_deadline = now_ms + call->answer_timeout_ms;
  call->role = PARLEY_CALL_CALLEE;
  snprintf(call->call_id, sizeof call->call_id, "%s", f->call);
  snprintf(call->conv, sizeof call->conv, "%s", f->conv);
  adopt_peer(call, f->from, f->device);
  set_state(call, PARLEY_CALL_RINGING_IN);
  if ((it = push(call, PARLEY_CALL_EV_RINGING)) != NULL)
    it->a.state = call->state;
}

/* Reads one "USER DEVICE" line of PARTICIPANTS (without its line end)
 * into user and device. Returns false, leaving them unusable, when the
 * line is not of that form: a name too long or with a blank in it is
 * refused, never cut. */
static bool participant_line(const char *p, size_t n, char *user,
                             char *device)
{
  const char *sp = memchr(p, ' ', n);
  size_t un = sp ? (size_t)(sp - p) : 0, dn = sp ? n - un - 1 : 0;

  if (sp == NULL || un > PARLEY_USER_MAX || dn > PARLEY_ID_MAX)
    return false;
  memcpy(user, p, un);
  user[un] = '\0';
  memcpy(device, sp + 1, dn);
  device[dn] = '\0';
  return strlen(user) == un && strlen(device) == dn &&
         valid_name(user, PARLEY_USER_MAX) &&
         valid_name(device, PARLEY_ID_MAX);
}

/* The reference client has one media engine, so it takes part in calls
 * of two participants only (spec 1.5). A second other participant in
 * PARTICIPANTS or JOINED ends the call here, leaving it (LEAVE, so the
 * others' call goes on), rather than leave that participant without an
 * offer (CALLCLI-1). */
static void group_unsupported(parley_call *call)
{
  const char *kv[] = {"call", call->call_id};

  if (call->state == PARLEY_CALL_ENDED)
    return;
  if (call->participant && call->call_id[0] != '\0')
    send_frame(call, "LEAVE", kv, 1, NULL, 0);
  end_call(call, "failed", true, PARLEY_E_BAD_CALL_STATE,
           PARLEY_CALL_GROUP_UNSUPPORTED);
}

/* True for (user, device) other than the peer, when there is one. */
static bool not_peer(const parley_call *call, const char *user,
                     const char *device)
{
  return call->have_peer && (strcmp(user, call->peer) != 0 ||
                             strcmp(device, call->peer_device) != 0);
}

/* PARTICIPANTS: the joiner offers to the first other participant; a
 * second other participant ends the call (group_unsupported). */
static void on_participants(parley_call *call, const parley_call_frame *f,
                            uint64_t now_ms)
{
  char user[PARLEY_USER_MAX + 1], device[PARLEY_ID_MAX + 1];
  const char *p = f->body, *end = f->body + f->body_len;
  bool found = false, had_peer = call->have_peer, peer_in = false;
  size_t others = 0;

  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    size_t len = n > 0 && p[n - 1] == '\r' ? n - 1 : n;
    if (participant_line(p, len, user, device) &&
        !is_self(call, user, device)) {
      if (had_peer && strcmp(user, call->peer) == 0 &&
          strcmp(device, call->peer_device) == 0)
        peer_in = true;
      if (!found && !had_peer)
        adopt_peer(call, user, device);
      found = true;
      others++;
    }
    p += n + 1;
  }
  if (others > 1) {
    group_unsupported(call);
    return;
  }
  if (call->rejoining) {
    call->rejoining = false;
    if (call->neg != CA_NEG_NONE && (peer_in || (!had_peer && found))) {
      restart_ice(call);
      call->restart_offer = true;
      call->neg = CA_NEG_WANT_OFFER;
      try_sdp(call);
      return;
    }
  }
  if (call->state == PARLEY_CALL_JOINING && call->have_peer &&
      call->neg == CA_NEG_NONE) {
    call->neg = CA_NEG_WANT_OFFER;
    negotiating(call, now_ms);
    try_sdp(call);
  }
}

static void on_joined(parley_call *call, const parley_call_frame *f,
                      uint64_t now_ms)
{
  if (is_self(call, f->user, f->device) ||
      !valid_name(f->user, PARLEY_USER_MAX) ||
      !valid_name(f->device, PARLEY_ID_MAX))
    return;
  if (not_peer(call, f->user, f->device)) {
    group_unsupported(call);
    return;
  }
  if (!call->have_peer)
    adopt_peer(call, f->user, f->device);
  if (call->state == PARLEY_CALL_RINGING_OUT &&
      strcmp(f->user, call->peer) == 0)
    negotiating(call, now_ms);
}

static void on_remote_candidate(parley_call *call, const parley_call_frame *f)
{
  parley_candidate c;
  parley_sdp_error e;
  char text[PARLEY_CANDIDATE_MAX + 80];

  memset(&e, 0, sizeof e);
  if (parley_candidate_parse(f->candidate, strlen(f->candidate), &c, &e) !=
      PARLEY_OK) {
    snprintf(text, sizeof text, "a bad candidate from the peer ignored:"
             " %s: %.*s", e.rule, 200, f->candidate);
    warn(call, text);
    return;
  }
  remote_candidate(call, f->candidate);
}

static void on_media_state(parley_call *call, const parley_call_frame *f)
{
  ca_item *it = push(call, PARLEY_CALL_EV_PEER_MEDIA);

  if (it == NULL)
    return;
  snprintf(it->a.peer, sizeof it->a.peer, "%s", f->from);
  snprintf(it->a.peer_device, sizeof it->a.peer_device, "%s", f->device);
  it->a.audio = strcmp(f->audio, "off") != 0;
  it->a.video = strcmp(f->video, "on") == 0;
  it->a.screen = strcmp(f->screen, "on") == 0;
}

static void on_left(parley_call *call, const parley_call_frame *f)
{
  ca_item *it;

  if (!call->have_peer || strcmp(f->user, call->peer) != 0 ||
      strcmp(f->device, call->peer_device) != 0)
    return;
  if ((it = push(call, PARLEY_CALL_EV_PEER_LEFT)) != NULL)
    snprintf(it->a.reason, sizeof it->a.reason, "%s", f->reason);
}

/* Says who refused what, for people: "the server refused OFFER: 445
 * bad-sdp: line 3 ...". */
static void refusal_text(const parley_call_frame *f, char *out, size_t cap)
{
  const char *reason = parley_err_reason(f->err);

  snprintf(out, cap, "the server refused %s: %d %s%s%.*s", f->request,
           (int)f->err, reason ? reason : f->reason,
           f->body_len ? ": " : "", (int)(f->body_len > 200 ? 200
                                                         : f->body_len),
           f->body ? f->body : "");
}

/* OK to CALL: the call has its id and rings. */
static void call_placed(parley_call *call, const parley_call_frame *f)
{
  const char *kv[] = {"call", f->call, "reason", "cancelled"};
  ca_item *it;

  if (call->state == PARLEY_CALL_ENDED && call->cancel_on_ok) {
    call->cancel_on_ok = false;
    send_frame(call, "HANGUP", kv, 2, NULL, 0);
    return;
  }
  if (call->state != PARLEY_CALL_CALLING)
    return;
  if (f->call[0] == '\0') {
    fail(call, PARLEY_E_MISSING_HEADER, "the server's OK to CALL names no"
         " call");
    return;
  }
  snprintf(call->call_id, sizeof call->call_id, "%s", f->call);
  call->participant = true;
  set_state(call, PARLEY_CALL_RINGING_OUT);
  if ((it = push(call, PARLEY_CALL_EV_RINGING)) != NULL)
    it->a.state = call->state;
}

/* OK or ERROR answering one of this machine's requests. */
static void on_request_answer(parley_call *call, const parley_call_frame *f)
{
  bool ok = strcmp(f->verb, "OK") == 0;
  char text[400];

  if (strcmp(f->request, "CALL") == 0) {
    if (ok)
      call_placed(call, f);
    else if (call->state == PARLEY_CALL_CALLING) {
      refusal_text(f, text, sizeof text);
      end_call(call, "failed", true, f->err, text);
    }
    return;
  }
  if (call->call_id[0] == '\0' ||
      strcmp(f->request_call, call->call_id) != 0 ||
      call->state == PARLEY_CALL_ENDED)
    return;
  if (ok) {
    if (strcmp(f->request, "JOIN") == 0)
      call->participant = true;
    return;
  }
  refusal_text(f, text, sizeof text);
  if (strcmp(f->request, "JOIN") == 0 && call->rejoining)
    end_call(call, "disconnected", true, f->err, text);
  else if (strcmp(f->request, "JOIN") == 0 ||
           strcmp(f->request, "OFFER") == 0 ||
           strcmp(f->request, "ANSWER") == 0)
    fail(call, f->err, text);
  else if (strcmp(f->request, "HANGUP") != 0 &&
           strcmp(f->request, "LEAVE") != 0)
    warn(call, text);
}

/* CALL-END: a hang-up or the call completing is a normal end; any
 * other reason (failed, disconnected, ...) is a failure. */
static void on_call_end(parley_call *call, const parley_call_frame *f)
{
  const char *reason = f->reason[0] ? f->reason : "completed";
  bool normal = strcmp(reason, "hangup") == 0 ||
                strcmp(reason, "completed") == 0;
  static const char *const why[][2] = {
    {"failed", "the other side could not set up the media"},
    {"disconnected", "a participant's connection was lost"},
    {"declined", "the call was declined"},
    {"no-answer", "nobody answered"},
    {"cancelled", "the caller cancelled the call"},
    {"busy", "the other side is busy in another call"},
  };
  const char *what = "the call ended";
  char text[160];
  size_t i;

  for (i = 0; i < sizeof why / sizeof why[0]; i++)
    if (strcmp(reason, why[i][0]) == 0)
      what = why[i][1];
  snprintf(text, sizeof text, "%s (CALL-END reason %s)", what, reason);
  end_call(call, reason, !normal && call->state != PARLEY_CALL_RINGING_IN,
           PARLEY_OK, text);
}

/* A frame about this call (its id matches). */
static void on_call_frame(parley_call *call, const parley_call_frame *f,
                          uint64_t now_ms)
{
  const char *v = f->verb;

  if (strcmp(v, "CALL-END") == 0) {
    on_call_end(call, f);
  } else if (strcmp(v, "RING-STOP") == 0) {
    if (call->state == PARLEY_CALL_RINGING_IN)
      end_call(call, f->reason[0] ? f->reason : "answered-elsewhere", false,
               PARLEY_OK, NULL);
  } else if (call->state == PARLEY_CALL_ENDED ||
             call->state == PARLEY_CALL_RINGING_IN) {
    return;
  } else if (strcmp(v, "PARTICIPANTS") == 0) {
    on_participants(call, f, now_ms);
  } else if (strcmp(v, "JOINED") == 0) {
    on_joined(call, f, now_ms);
  } else if (strcmp(v, "LEFT") == 0) {
    on_left(call, f);
  } else if (!from_peer(call, f)) {
    return; /* 1:1 media: other participants are not heard */
  } else if (strcmp(v, "OFFER") == 0) {
    on_offer(call, f, now_ms);
  } else if (strcmp(v, "ANSWER") == 0) {
    on_answer_sdp(call, f);
  } else if (strcmp(v, "CANDIDATE") == 0) {
    on_remote_candidate(call, f);
  } else if (strcmp(v, "END-OF-CANDIDATES") == 0) {
    if (call->remote_set)
      push(call, PARLEY_CALL_MEDIA_CANDIDATES_DONE);
    else
      call->reoc_pending = true;
  } else if (strcmp(v, "MEDIA-STATE") == 0) {
    on_media_state(call, f);
  }
}

void parley_call_on_frame(parley_call *call, const parley_call_frame *f,
                          uint64_t now_ms)
{
  enter(call);
  if (strcmp(f->verb, "OK") == 0 || strcmp(f->verb, "ERROR") == 0)
    on_request_answer(call, f);
  else if (strcmp(f->verb, "RING") == 0)
    on_ring(call, f, now_ms);
  else if (call->call_id[0] != '\0' && strcmp(f->call, call->call_id) == 0)
    on_call_frame(call, f, now_ms);
  leave(call);
}

/* ---- intents ---------------------------------------------------------- */

parley_err parley_call_place(parley_call *call, const char *conv,
                             uint64_t now_ms)
{
  const char *kv[] = {"conv", conv, "media", "audio"};

  if (conv == NULL || !valid_name(conv, PARLEY_ID_MAX))
    return PARLEY_E_BAD_VALUE;
  if (call->state != PARLEY_CALL_IDLE || !call->online)
    return PARLEY_E_BAD_STATE;
  enter(call);
  call->role = PARLEY_CALL_CALLER;
  snprintf(call->conv, sizeof call->conv, "%s", conv);
  send_frame(call, "CALL", kv, 2, NULL, 0);
  call->answer_deadline = now_ms + call->answer_timeout_ms;
  set_state(call, PARLEY_CALL_CALLING);
  leave(call);
  return PARLEY_OK;
}

parley_err parley_call_accept(parley_call *call, uint64_t now_ms)
{
  const char *kv[] = {"call", call->call_id};

  if (call->state != PARLEY_CALL_RINGING_IN || !call->online)
    return PARLEY_E_BAD_STATE;
  enter(call);
  send_frame(call, "JOIN", kv, 1, NULL, 0);
  call->answer_deadline = 0;
  call->connect_deadline = now_ms + call->connect_timeout_ms;
  set_state(call, PARLEY_CALL_JOINING);
  leave(call);
  return PARLEY_OK;
}

parley_err parley_call_decline(parley_call *call, uint64_t now_ms)
{
  const char *kv[] = {"call", call->call_id, "reason", "declined"};

  (void)now_ms;
  if (call->state != PARLEY_CALL_RINGING_IN)
    return PARLEY_E_BAD_STATE;
  enter(call);
  send_frame(call, "HANGUP", kv, 2, NULL, 0);
  end_call(call, "declined", false, PARLEY_OK, "declined");
  leave(call);
  return PARLEY_OK;
}

parley_err parley_call_hangup(parley_call *call, uint64_t now_ms)
{
  const char *kv[] = {"call", call->call_id, "reason", "hangup"};
  parley_call_state s = call->state;

  if (s == PARLEY_CALL_RINGING_IN)
    return parley_call_decline(call, now_ms);
  if (s == PARLEY_CALL_IDLE || s == PARLEY_CALL_ENDED)
    return PARLEY_E_BAD_STATE;
  enter(call);
  if (s == PARLEY_CALL_CALLING)
    call->cancel_on_ok = true;
  else
    send_frame(call, "HANGUP", kv, 2, NULL, 0);
  end_call(call, s == PARLEY_CALL_CALLING || s == PARLEY_CALL_RINGING_OUT
                     ? "cancelled" : "hangup",
           false, PARLEY_OK, NULL);
  leave(call);
  return PARLEY_OK;
}

parley_err parley_call_media_state(parley_call *call, bool audio,
                                   bool video, bool screen, uint64_t now_ms)
{
  const char *kv[] = {"call", call->call_id, "audio", audio ? "on" : "off",
                      "video", video ? "on" : "off", "screen",
                      screen ? "on" : "off"};

  (void)now_ms;
  if (!call->participant || call->state == PARLEY_CALL_ENDED ||
      !call->online)
    return PARLEY_E_BAD_STATE;
  enter(call);
  send_frame(call, "MEDIA-STATE", kv, 4, NULL, 0);
  leave(call);
  return PARLEY_OK;
}

/* ---- session events --------------------------------------------------- */

void parley_call_on_ready(parley_call *call, bool reconnected,
                          uint64_t now_ms)
{
  const char *kv[] = {"call", call->call_id, "rejoin", "yes"};
  parley_call_state s = call->state;

  (void)now_ms;
  enter(call);
  call->online = true;
  if (reconnected && s == PARLEY_CALL_CALLING) {
    fail(call, PARLEY_E_TIMEOUT, "the connection to the server was lost"
         " while placing the call");
  } else if (reconnected && (s == PARLEY_CALL_RINGING_OUT ||
                             s == PARLEY_CALL_JOINING ||
                             s == PARLEY_CALL_NEGOTIATING ||
                             s == PARLEY_CALL_CONNECTED)) {
    call->rejoining = true;
    send_frame(call, "JOIN", kv, 2, NULL, 0);
  }
  leave(call);
}

void parley_call_on_disconnected(parley_call *call, uint64_t now_ms)
{
  (void)now_ms;
  enter(call);
  call->online = false;
  leave(call);
}

void parley_call_on_send_failed(parley_call *call, parley_err err,
                                uint64_t now_ms)
{
  char text[120];

  (void)now_ms;
  enter(call);
  snprintf(text, sizeof text, "a call frame could not be sent: %s",
           parley_err_reason(err) ? parley_err_reason(err) : "error");
  warn(call, text);
  leave(call);
}

/* ---- media events ----------------------------------------------------- */

void parley_call_on_local_desc(parley_call *call,
                               const parley_call_desc *local,
                               uint64_t now_ms)
{
  (void)now_ms;
  enter(call);
  call->local = *local;
  call->local_ready = true;
  call->desc_asked = false;
  try_sdp(call);
  leave(call);
}

void parley_call_on_local_candidate(parley_call *call, const char *text,
                                    uint64_t now_ms)
{
  size_t i;

  (void)now_ms;
  enter(call);
  for (i = 0; i < call->cand_count; i++)
    if (strcmp(call->cands[i], text) == 0)
      break;
  if (i == call->cand_count && strlen(text) <= PARLEY_CANDIDATE_MAX &&
      call->state != PARLEY_CALL_ENDED) {
    if (cl_grow((void **)&call->cands, &call->cand_cap,
                call->cand_count + 1, sizeof *call->cands))
      snprintf(call->cands[call->cand_count++], sizeof(ca_cand), "%s", text);
    else
      call->oom = true;
    flush_candidates(call);
  }
  leave(call);
}

void parley_call_on_gathering_done(parley_call *call, uint64_t now_ms)
{
  (void)now_ms;
  enter(call);
  call->gathering_done = true;
  if (call->state != PARLEY_CALL_ENDED)
    flush_candidates(call);
  leave(call);
}

void parley_call_on_media_connected(parley_call *call, uint64_t now_ms)
{
  parley_call_state s = call->state;

  (void)now_ms;
  enter(call);
  if (s != PARLEY_CALL_ENDED && s != PARLEY_CALL_IDLE) {
    call->media_up = call->was_connected = true;
    call->connect_deadline = 0;
    if (s != PARLEY_CALL_CONNECTED) {
      set_state(call, PARLEY_CALL_CONNECTED);
      push(call, PARLEY_CALL_EV_CONNECTED);
    }
  }
  leave(call);
}

void parley_call_on_media_failed(parley_call *call, const char *why,
                                 uint64_t now_ms)
{
  (void)now_ms;
  enter(call);
  call->media_up = false;
  fail(call, PARLEY_OK, why && why[0] ? why : "the media path failed");
  leave(call);
}

void parley_call_on_time(parley_call *call, uint64_t now_ms)
{
  const char *kv[] = {"call", call->call_id, "reason", "no-answer"};
  char text[120];

  enter(call);
  call->armed_at = 0;
  if (call->answer_deadline != 0 && now_ms >= call->answer_deadline &&
      (call->state == PARLEY_CALL_CALLING ||
       call->state == PARLEY_CALL_RINGING_OUT)) {
    if (call->state == PARLEY_CALL_CALLING)
      call->cancel_on_ok = true;
    else
      send_frame(call, "HANGUP", kv, 2, NULL, 0);
    snprintf(text, sizeof text, "no answer within %u ms",
             (unsigned)call->answer_timeout_ms);
    end_call(call, "no-answer", true, PARLEY_E_TIMEOUT, text);
  } else if (call->answer_deadline != 0 && now_ms >= call->answer_deadline &&
             call->state == PARLEY_CALL_RINGING_IN) {
    snprintf(text, sizeof text, "the call stopped ringing after %u ms",
             (unsigned)call->answer_timeout_ms);
    end_call(call, "no-answer", false, PARLEY_OK, text);
  } else if (call->connect_deadline != 0 &&
             now_ms >= call->connect_deadline) {
    snprintf(text, sizeof text, "media did not connect within %u ms",
             (unsigned)call->connect_timeout_ms);
    fail(call, PARLEY_E_TIMEOUT, text);
  }
  leave(call);
}

/* ---- draining and queries --------------------------------------------- */

bool parley_call_next_action(parley_call *call, parley_call_action *out)
{
  if (call->item_head >= call->item_count)
    return false;
  *out = call->items[call->item_head++].a;
  return true;
}

parley_call_state parley_call_get_state(const parley_call *call)
{
  return call->state;
}

parley_call_role parley_call_get_role(const parley_call *call)
{
  return call->role;
}

const char *parley_call_id(const parley_call *call)
{
  return call->call_id;
}
