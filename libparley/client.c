/* The client core: connection life cycle, actions and timers.
 *
 * State machine (spec section 4):
 *
 *   IDLE --start--> CONNECTING --on_connected--> HANDSHAKE --READY--> READY
 *                      ^   |                        |                  |
 *                      |   +------ timeout, drop ---+---- drop --------+
 *                      |                            v
 *                      +------ backoff timer ---- BACKOFF
 *
 *   auth-failed / token-expired, or no token  --> NEED_TOKEN
 *   set_token in NEED_TOKEN                   --> BACKOFF
 *   stop in HANDSHAKE or READY                --> STOPPING (BYE sent)
 *   the server's BYE, a close, or a deadline  --> STOPPED
 *   stop, from anywhere else                  --> STOPPED
 *
 * On entering HANDSHAKE the core sends HELLO and AUTH pipelined (the spec
 * lets AUTH follow HELLO without waiting for WELCOME). On READY it sends
 * SYNC since the stored pos, then the outbox. A session is dropped when
 * READY does not come within the handshake timeout, when nothing arrived
 * for two heartbeat intervals (HB-5), or on a fatal ERROR. Every drop
 * picks a reconnect delay uniformly in [0, min(cap, base * 2^attempt)].
 * A frame that breaks the grammar is not acted on, and the session is
 * closed with WebSocket status 1002 (FRAME-8, FRAME-9); so is one whose
 * WELCOME names a version other than 1 (VER-3). After a rate-limited,
 * requests wait a backoff-drawn time, then the refused ones go again
 * (RATE-2); refusals that arrive during that wait answer frames sent
 * before it and neither lengthen nor grow it. When WELCOME states the
 * rate, the outbox is paced to stay under it (RATE-4, client_outbox.c).
 *
 * Invariants: actions come out in the order they were queued, and a queued
 * action's pointers stay valid until the next call into the core; only one
 * connection id is live, events for older ids are ignored; the core holds
 * at most one TIMER armed, for the earliest of its deadlines.
 *
 * Delivery, the outbox and conversations live in client_delivery.c,
 * client_outbox.c and client_conv.c; frames are read in client_recv.c. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

#define DEFAULT_CAPS "receipts,typing,presence"

/* splitmix64: a small, well-mixed generator; the state is the seed. */
static uint64_t rng_next(uint64_t *state)
{
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint32_t parley_client_backoff_ms(uint64_t *rng_state, uint32_t attempt,
                                  uint32_t base_ms, uint32_t cap_ms)
{
  uint64_t ceiling = base_ms;
  uint32_t i;

  for (i = 0; i < attempt && ceiling < cap_ms; i++)
    ceiling *= 2;
  if (ceiling > cap_ms)
    ceiling = cap_ms;
  return (uint32_t)(rng_next(rng_state) % (ceiling + 1));
}

/* Grows *arr (of `elem`-sized items, capacity *cap) to hold `need` items.
 * Returns false when memory runs out; *arr is then unchanged. */
bool cl_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
  size_t n = *cap ? *cap : 8;
  void *p;

  if (need <= *cap)
    return true;
  while (n < need)
    n *= 2;
  p = realloc(*arr, n * elem);
  if (p == NULL)
    return false;
  *arr = p;
  *cap = n;
  return true;
}

bool cl_valid_id(const char *s)
{
  size_t n = 0;

  for (; s[n] != '\0'; n++) {
    char ch = s[n];
    bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    if (!ok || n >= PARLEY_ID_MAX)
      return false;
  }
  return n > 0;
}

static bool valid_user(const char *s)
{
  size_t n = 0;

  for (; s[n] != '\0'; n++) {
    char ch = s[n];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-';
    if (!ok || n >= PARLEY_USER_MAX)
      return false;
  }
  return n > 0;
}

/* Frees the buffers of drained actions and moves the rest to the front.
 * Called on entry to every call except next_action. */
static void release_drained(parley_client *c)
{
  size_t i;

  if (c->item_head == 0)
    return;
  for (i = 0; i < c->item_head; i++)
    free(c->items[i].owned);
  memmove(c->items, c->items + c->item_head,
          (c->item_count - c->item_head) * sizeof *c->items);
  c->item_count -= c->item_head;
  c->item_head = 0;
}

/* Queues a zeroed action of `kind` and returns it, or NULL (and sets the
 * oom flag) when memory runs out. */
cl_item *cl_push(parley_client *c, parley_client_action_kind kind)
{
  cl_item *it;

  if (!cl_grow((void **)&c->items, &c->item_cap, c->item_count + 1,
               sizeof *c->items)) {
    c->oom = true;
    return NULL;
  }
  it = &c->items[c->item_count++];
  memset(it, 0, sizeof *it);
  it->a.kind = kind;
  return it;
}

/* Queues b's octets as one message on the current connection and takes
 * ownership of b's memory (b is left empty). */
void cl_send_frame(parley_client *c, parley_buf *b)
{
  cl_item *it = cl_push(c, PARLEY_CLIENT_SEND);

  if (it == NULL) {
    parley_buf_free(b);
    return;
  }
  c->pace_held -= 1000; /* RATE-4: every frame takes one */
  it->owned = b->data;
  it->a.conn = c->conn;
  it->a.data = b->data;
  it->a.len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
}

void cl_send_request(parley_client *c, parley_buf *b, bool ok,
                     const char *req)
{
  if (ok && parley_frame_header_str(b, "req", req) == PARLEY_OK &&
      parley_frame_end(b, NULL, 0, false) == PARLEY_OK)
    cl_send_frame(c, b);
  else
    c->oom = true;
  parley_buf_free(b);
}

/* Writes a fresh request id "<tag>-<n>" to out and returns n (never 0). */
uint64_t cl_next_req(parley_client *c, char *out, size_t cap, char tag)
{
  uint64_t n = ++c->req_seq;

  snprintf(out, cap, "%c-%llu", tag, (unsigned long long)n);
  return n;
}

void cl_event_error(parley_client *c, parley_err err, bool fatal,
                    const char *text, size_t len)
{
  cl_item *it = cl_push(c, PARLEY_CLIENT_EV_ERROR);
  char *copy;

  if (it == NULL)
    return;
  it->a.err = err;
  it->a.fatal = fatal;
  copy = malloc(len + 1);
  if (copy != NULL && text != NULL) {
    memcpy(copy, text, len);
    copy[len] = '\0';
    it->owned = copy;
    it->a.data = copy;
    it->a.len = len;
  } else {
    free(copy);
  }
}

parley_client *parley_client_new(const parley_client_config *cfg)
{
  parley_client *c;
  const char *caps = cfg->caps ? cfg->caps : DEFAULT_CAPS;

  if (cfg->user == NULL || !valid_user(cfg->user) || cfg->device == NULL ||
      !cl_valid_id(cfg->device) ||
      strlen(caps) + sizeof ",calls" > sizeof c->caps)
    return NULL;
  c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->cfg = *cfg;
  c->cfg.user = c->cfg.device = c->cfg.caps = NULL;
  snprintf(c->user, sizeof c->user, "%s", cfg->user);
  snprintf(c->device, sizeof c->device, "%s", cfg->device);
  snprintf(c->caps, sizeof c->caps, "%s%s%s", caps,
           cfg->calls && caps[0] != '\0' ? "," : "",
           cfg->calls ? "calls" : "");
#define DEFAULT_(field, value) if (c->cfg.field == 0) c->cfg.field = value
  DEFAULT_(heartbeat_ms, 15000);
  DEFAULT_(handshake_timeout_ms, 10000);
  DEFAULT_(backoff_base_ms, 250);
  DEFAULT_(backoff_cap_ms, 10000);
  DEFAULT_(receipt_delay_ms, 100);
  DEFAULT_(send_window, 64);
  DEFAULT_(history_limit, 100);
  DEFAULT_(held_max, 1024);
  DEFAULT_(token_margin_ms, 60000);
#undef DEFAULT_
  if (c->cfg.history_limit > 100)
    c->cfg.history_limit = 100;
  c->rng = cfg->seed;
  c->max_frame = PARLEY_FRAME_SIZE_MAX;
  c->max_body = CL_BODY_MAX;
  return c;
}

void parley_client_free(parley_client *c)
{
  size_t i;

  if (c == NULL)
    return;
  for (i = 0; i < c->conv_count; i++)
    cl_conv_free(c->convs[i]);
  free(c->convs);
  cl_outbox_free(c);
  cl_call_reset_session(c);
  free(c->callreqs);
  free(c->pending);
  free(c->typing);
  for (i = 0; i < c->item_count; i++)
    free(c->items[i].owned);
  free(c->items);
  free(c);
}

parley_err parley_client_load_pos(parley_client *c, const char *pos)
{
  size_t n = strlen(pos);

  if (n > PARLEY_POS_MAX || !cl_valid_id(pos))
    return PARLEY_E_BAD_VALUE; /* a pos has the form of an id */
  memcpy(c->pos, pos, n + 1);
  return PARLEY_OK;
}

parley_err parley_client_load_conv(parley_client *c, const char *conv,
                                   uint64_t stored_seq)
{
  cl_conv *cv;

  if (!cl_valid_id(conv))
    return PARLEY_E_BAD_VALUE;
  cv = cl_conv_get(c, conv, NULL);
  if (cv == NULL)
    return PARLEY_E_INTERNAL;
  if (stored_seq > cv->stored_seq)
    cv->stored_seq = stored_seq;
  return PARLEY_OK;
}

parley_err parley_client_load_receipt(parley_client *c,
                                      const parley_receipt *r)
{
  cl_conv *cv;

  if (!cl_valid_id(r->conv) || !valid_user(r->user) ||
      (r->kind != PARLEY_RECEIPT_DELIVERED && r->kind != PARLEY_RECEIPT_READ))
    return PARLEY_E_BAD_VALUE;
  cv = cl_conv_get(c, r->conv, NULL);
  if (cv == NULL)
    return PARLEY_E_INTERNAL;
  if (!cl_receipt_apply(c, cv, r->user, r->kind, r->seq, false))
    return c->oom ? PARLEY_E_INTERNAL : PARLEY_OK;
  cl_status_update(c, cv, false);
  return PARLEY_OK;
}

parley_err parley_client_set_members(parley_client *c, const char *conv,
                                     const char *const *members,
                                     size_t member_count)
{
  cl_conv *cv;
  size_t i;
  void *m;

  if (!cl_valid_id(conv))
    return PARLEY_E_BAD_VALUE;
  for (i = 0; i < member_count; i++)
    if (!valid_user(members[i]))
      return PARLEY_E_BAD_VALUE;
  release_drained(c);
  cv = cl_conv_get(c, conv, NULL);
  m = calloc(member_count ? member_count : 1, sizeof *cv->members);
  if (cv == NULL || m == NULL) {
    free(m);
    return PARLEY_E_INTERNAL;
  }
  free(cv->members);
  cv->members = m;
  for (i = 0; i < member_count; i++)
    snprintf(cv->members[i], sizeof cv->members[i], "%s", members[i]);
  cv->member_count = member_count;
  cv->members_known = true;
  cl_status_update(c, cv, c->state != CL_IDLE);
  return PARLEY_OK;
}

/* Sends AUTH with the token held; sets the oom flag when it cannot. */
static void send_auth(parley_client *c)
{
  parley_buf b = {0};
  char req[24];
  bool ok;

  cl_next_req(c, req, sizeof req, 'a');
  ok = parley_frame_begin(&b, "AUTH") == PARLEY_OK &&
       parley_frame_header_str(&b, "token", c->token) == PARLEY_OK &&
       parley_frame_header_str(&b, "device", c->device) == PARLEY_OK;
  cl_send_request(c, &b, ok, req);
}

/* Sends HELLO and AUTH (pipelined) on the fresh connection. */
static void send_handshake(parley_client *c)
{
  parley_buf b = {0};

  if (parley_frame_begin(&b, "HELLO") == PARLEY_OK &&
      parley_frame_header_str(&b, "versions", "1") == PARLEY_OK &&
      parley_frame_header_str(&b, "caps", c->caps) == PARLEY_OK &&
      parley_frame_header_u64(&b, "heartbeat", c->cfg.heartbeat_ms) ==
          PARLEY_OK &&
      parley_frame_end(&b, NULL, 0, false) == PARLEY_OK) {
    cl_send_frame(c, &b);
    send_auth(c);
  } else {
    c->oom = true;
  }
  parley_buf_free(&b);
}

/* Issues a CONNECT for a new connection id. */
static void connect_now(parley_client *c, uint64_t now_ms)
{
  cl_item *it;

  c->conn++;
  c->state = CL_CONNECTING;
  c->handshake_deadline = now_ms + c->cfg.handshake_timeout_ms;
  c->pace_held = 0; /* counts the frames sent before WELCOME */
  it = cl_push(c, PARLEY_CLIENT_CONNECT);
  if (it != NULL)
    it->a.conn = c->conn;
}

/* Waits a full-jitter delay, then connects (from on_time). */
static void schedule_reconnect(parley_client *c, parley_err why,
                               uint64_t now_ms)
{
  uint32_t delay = parley_client_backoff_ms(&c->rng, c->attempt,
                                            c->cfg.backoff_base_ms,
                                            c->cfg.backoff_cap_ms);
  cl_item *it;

  if (c->attempt < 31)
    c->attempt++;
  c->state = CL_BACKOFF;
  c->backoff_at = now_ms + delay;
  it = cl_push(c, PARLEY_CLIENT_EV_DISCONNECTED);
  if (it != NULL) {
    it->a.err = why;
    it->a.delay_ms = delay;
  }
}

/* Forgets everything tied to the session: held messages, pending events,
 * requests in flight. What matters survives in the store and the pos. */
static void reset_session(parley_client *c)
{
  size_t i;

  cl_delivery_reset(c);
  cl_outbox_reset_session(c);
  cl_call_reset_session(c);
  c->welcome_caps[0] = '\0';
  for (i = 0; i < c->conv_count; i++)
    cl_conv_reset_session(c, c->convs[i]);
  c->heartbeat_ms = 0;
  c->synced = false;
  c->cap_receipts = false;
  c->sync_req = 0;
  c->receipt_at = 0;
  c->hold_until = 0;
  c->hold_attempt = 0;
  c->sync_retry = false;
  c->auth_retry = false;
  c->max_frame = PARLEY_FRAME_SIZE_MAX;
  c->max_body = CL_BODY_MAX;
  c->pace_rate = 0;
  c->pace_held = 0;
  c->pace_at = 0;
}

/* Queues a CLOSE of the current connection with WebSocket status
 * `ws_code`. */
static void push_close(parley_client *c, uint16_t ws_code)
{
  cl_item *it = cl_push(c, PARLEY_CLIENT_CLOSE);

  if (it != NULL) {
    it->a.conn = c->conn;
    it->a.ws_code = ws_code;
  }
}

/* Ends the current session: CLOSE it with `ws_code` (when it is open or
 * opening) and schedule a reconnect, unless the core waits for a token
 * or stopped. */
void cl_fail_session(parley_client *c, parley_err why, uint16_t ws_code,
                     uint64_t now_ms)
{
  bool live = c->state == CL_CONNECTING || c->state == CL_HANDSHAKE ||
              c->state == CL_READY;

  if (live)
    push_close(c, ws_code);
  c->conn++; /* anything still arriving on the old one is ignored */
  reset_session(c);
  if (live)
    schedule_reconnect(c, why, now_ms);
}

void cl_drop_session(parley_client *c, parley_err why, uint64_t now_ms)
{
  cl_fail_session(c, why, CL_WS_NORMAL, now_ms);
}

/* ERROR rate-limited (or another refusal worth a retry): SEND and
 * RECEIPT frames wait for a delay drawn as for a reconnect (section 4.4),
 * growing with each hold until an ACK comes. A refusal during a hold
 * answers a frame sent before it, so it changes nothing: a burst of
 * refusals is one hold. */
void cl_hold_frames(parley_client *c, uint64_t now_ms)
{
  uint32_t delay;

  if (c->hold_until != 0)
    return;
  delay = parley_client_backoff_ms(&c->rng, c->hold_attempt,
                                   c->cfg.backoff_base_ms,
                                   c->cfg.backoff_cap_ms);
  if (c->hold_attempt < 31)
    c->hold_attempt++;
  c->hold_until = now_ms + delay + 1;
}

/* Asks the host for a token and waits. */
void cl_need_token(parley_client *c, parley_err why, uint64_t now_ms)
{
  cl_item *it;

  if (c->state == CL_CONNECTING || c->state == CL_HANDSHAKE ||
      c->state == CL_READY) {
    push_close(c, CL_WS_NORMAL);
    c->conn++;
  }
  reset_session(c);
  c->state = CL_NEED_TOKEN;
  c->token[0] = '\0';
  c->token_refresh_at = 0;
  it = cl_push(c, PARLEY_CLIENT_EV_NEED_TOKEN);
  if (it != NULL)
    it->a.err = why;
}

/* The earliest deadline the core waits for, or 0 when none. */
static uint64_t next_deadline(const parley_client *c)
{
  uint64_t t = 0;
  size_t i;

#define CONSIDER_(when) do { uint64_t w_ = (when); \
    if (w_ != 0 && (t == 0 || w_ < t)) t = w_; } while (0)
  if (c->state == CL_BACKOFF)
    CONSIDER_(c->backoff_at);
  if (c->state == CL_CONNECTING || c->state == CL_HANDSHAKE)
    CONSIDER_(c->handshake_deadline);
  if (c->state == CL_READY && c->heartbeat_ms != 0) {
    CONSIDER_(c->last_sent_ms + c->heartbeat_ms);
    CONSIDER_(c->last_recv_ms + 2ull * c->heartbeat_ms);
    if (c->ping_for_recv_ms != c->last_recv_ms)
      CONSIDER_(c->last_recv_ms + c->heartbeat_ms);
  }
  if (c->state == CL_READY) {
    CONSIDER_(c->receipt_at);
    CONSIDER_(c->hold_until);
    CONSIDER_(c->pace_at);
  }
  if (c->state == CL_STOPPING)
    CONSIDER_(c->stop_deadline);
  for (i = 0; i < c->typing_count; i++)
    CONSIDER_(c->typing[i].expires_ms);
  if (!c->token_warned)
    CONSIDER_(c->token_refresh_at);
#undef CONSIDER_
  return t;
}

/* Ends every public call: notes the time frames were sent, drops the
 * session if memory ran out, and arms the timer for the next deadline. */
static void finish_call(parley_client *c, uint64_t now_ms)
{
  size_t i;
  uint64_t t;
  cl_item *it;

  for (i = c->item_head; i < c->item_count; i++)
    if (c->items[i].a.kind == PARLEY_CLIENT_SEND)
      c->last_sent_ms = now_ms;
  if (c->oom) {
    c->oom = false;
    cl_drop_session(c, PARLEY_E_INTERNAL, now_ms);
  }
  t = next_deadline(c);
  if (t == 0 || t == c->armed_at)
    return;
  it = cl_push(c, PARLEY_CLIENT_TIMER);
  if (it != NULL) {
    it->a.at_ms = t;
    c->armed_at = t;
  }
}

parley_err parley_client_set_token(parley_client *c, const char *token,
                                   uint64_t expires_ms, uint64_t now_ms)
{
  size_t n = strlen(token);

  if (n == 0 || n > PARLEY_TOKEN_MAX)
    return PARLEY_E_BAD_VALUE;
  release_drained(c);
  memcpy(c->token, token, n + 1);
  c->token_expires_ms = expires_ms;
  c->token_warned = false;
  c->token_refresh_at = 0;
  if (expires_ms > now_ms) {
    /* CLI-4: refresh ahead of expiry by the margin, or by half the
     * token's remaining life when that is shorter. */
    uint64_t lead = (expires_ms - now_ms) / 2;
    if (lead > c->cfg.token_margin_ms)
      lead = c->cfg.token_margin_ms;
    c->token_refresh_at = expires_ms - lead;
  }
  if (c->state == CL_NEED_TOKEN) {
    schedule_reconnect(c, PARLEY_E_AUTH_FAILED, now_ms);
  } else if (c->state == CL_READY) {
    c->auth_retry = c->hold_until != 0; /* held: it goes after the hold */
    if (!c->auth_retry)
      send_auth(c);
  }
  finish_call(c, now_ms);
  return PARLEY_OK;
}

void parley_client_start(parley_client *c, uint64_t now_ms)
{
  release_drained(c);
  if (c->state != CL_IDLE)
    return;
  if (c->token[0] == '\0')
    cl_need_token(c, PARLEY_E_AUTH_FAILED, now_ms);
  else
    connect_now(c, now_ms);
  finish_call(c, now_ms);
}

/* Closes the current connection for good. */
static void stopped(parley_client *c)
{
  if (c->state == CL_CONNECTING || c->state == CL_HANDSHAKE ||
      c->state == CL_READY || c->state == CL_STOPPING)
    push_close(c, CL_WS_NORMAL);
  c->conn++;
  reset_session(c);
  c->state = CL_STOPPED;
}

void parley_client_stop(parley_client *c, uint64_t now_ms)
{
  parley_buf b = {0};

  release_drained(c);
  c->typing_count = 0;
  c->token_expires_ms = 0;
  c->token_refresh_at = 0;
  if (c->state == CL_HANDSHAKE || c->state == CL_READY) {
    /* LIFE-6: say BYE, close once the server answered it (or soon). */
    if (parley_frame_begin(&b, "BYE") == PARLEY_OK &&
        parley_frame_end(&b, NULL, 0, false) == PARLEY_OK)
      cl_send_frame(c, &b);
    parley_buf_free(&b);
    c->state = CL_STOPPING;
    c->stop_deadline = now_ms + c->cfg.handshake_timeout_ms / 4 + 1;
  } else if (c->state != CL_STOPPING) {
    stopped(c);
  }
  finish_call(c, now_ms);
}

void cl_stopping_bye(parley_client *c)
{
  stopped(c);
}

void parley_client_on_connected(parley_client *c, uint64_t conn,
                                uint64_t now_ms)
{
  release_drained(c);
  if (conn != c->conn || c->state != CL_CONNECTING)
    return;
  c->state = CL_HANDSHAKE;
  c->last_recv_ms = now_ms;
  send_handshake(c);
  finish_call(c, now_ms);
}

void parley_client_on_message(parley_client *c, uint64_t conn,
                              const char *data, size_t len, uint64_t now_ms)
{
  parley_parser p;
  parley_frame f;
  parley_parse_error perr;
  parley_err err;

  release_drained(c);
  if (conn != c->conn || (c->state != CL_HANDSHAKE &&
                          c->state != CL_READY && c->state != CL_STOPPING))
    return;
  c->last_recv_ms = now_ms;
  parley_parser_init(&p, NULL);
  err = parley_parse_message(&p, data, len, &f, &perr);
  if (err == PARLEY_OK) {
    cl_on_frame(c, &f, now_ms);
  } else {
    /* FRAME-8: act on none of it; FRAME-9: a server that sends
     * malformed frames cannot be relied on, so close and reconnect. */
    cl_event_error(c, err, false, perr.rule, perr.rule ? strlen(perr.rule)
                                                       : 0);
    if (c->state == CL_STOPPING)
      stopped(c);
    else
      cl_fail_session(c, err, CL_WS_PROTOCOL_ERROR, now_ms);
  }
  parley_parser_free(&p);
  finish_call(c, now_ms);
}

void parley_client_on_disconnected(parley_client *c, uint64_t conn,
                                   uint64_t now_ms)
{
  release_drained(c);
  if (conn != c->conn)
    return;
  if (c->state == CL_CONNECTING || c->state == CL_HANDSHAKE ||
      c->state == CL_READY) {
    c->conn++; /* the transport is gone: no CLOSE needed */
    reset_session(c);
    schedule_reconnect(c, PARLEY_OK, now_ms);
  } else if (c->state == CL_STOPPING) {
    c->conn++;
    reset_session(c);
    c->state = CL_STOPPED;
  }
  finish_call(c, now_ms);
}

/* Typing past its ttl turns off (TYPE-1), a relayed presence past its
 * ttl turns offline (PRES-2). */
static void expire_states(parley_client *c, uint64_t now_ms)
{
  size_t i = 0;
  cl_item *it;

  while (i < c->typing_count) {
    cl_typing *t = &c->typing[i];
    if (t->expires_ms > now_ms) {
      i++;
      continue;
    }
    if (t->conv == CL_NO_CONV) {
      it = cl_push(c, PARLEY_CLIENT_EV_PRESENCE);
      if (it != NULL)
        strcpy(it->a.presence, "offline");
    } else {
      it = cl_push(c, PARLEY_CLIENT_EV_TYPING);
      if (it != NULL)
        snprintf(it->a.conv, sizeof it->a.conv, "%s",
                 c->convs[t->conv]->id);
    }
    if (it != NULL)
      snprintf(it->a.user, sizeof it->a.user, "%s", t->user);
    c->typing[i] = c->typing[--c->typing_count];
  }
}

/* Heartbeat: a PING when nothing was sent for one interval (HB-2) or
 * nothing arrived for one (HB-6), a drop when nothing arrived for two
 * (HB-5). Returns false when the session was dropped. */
static bool heartbeat(parley_client *c, uint64_t now_ms)
{
  parley_buf b = {0};
  bool silent;

  if (c->state != CL_READY || c->heartbeat_ms == 0)
    return true;
  if (now_ms >= c->last_recv_ms + 2ull * c->heartbeat_ms) {
    cl_drop_session(c, PARLEY_E_TIMEOUT, now_ms);
    return false;
  }
  silent = now_ms >= c->last_recv_ms + c->heartbeat_ms &&
           c->ping_for_recv_ms != c->last_recv_ms;
  if (silent || now_ms >= c->last_sent_ms + c->heartbeat_ms) {
    c->ping_for_recv_ms = c->last_recv_ms;
    if (parley_frame_begin(&b, "PING") == PARLEY_OK &&
        parley_frame_end(&b, NULL, 0, false) == PARLEY_OK)
      cl_send_frame(c, &b);
    parley_buf_free(&b);
    c->last_sent_ms = now_ms;
  }
  return true;
}

/* The wait after a rate-limited is over (RATE-2): the refused requests
 * and those held since go out again, in the order a session first sends
 * them (AUTH, SYNC, the outbox, HISTORY, receipts). */
static void end_hold(parley_client *c, uint64_t now_ms)
{
  c->hold_until = 0;
  if (c->auth_retry) {
    c->auth_retry = false;
    send_auth(c);
  }
  if (c->sync_retry) {
    c->sync_retry = false;
    cl_send_sync(c);
  }
  cl_outbox_send_due(c, now_ms);
  cl_call_resend(c);
  cl_history_resume(c);
  cl_flush_receipts(c, now_ms);
}

void parley_client_on_time(parley_client *c, uint64_t now_ms)
{
  release_drained(c);
  c->armed_at = 0; /* whatever was armed has fired or will be replaced */
  if (c->state == CL_BACKOFF && now_ms >= c->backoff_at)
    connect_now(c, now_ms);
  else if ((c->state == CL_CONNECTING || c->state == CL_HANDSHAKE) &&
           now_ms >= c->handshake_deadline)
    cl_drop_session(c, PARLEY_E_TIMEOUT, now_ms);
  else if (c->state == CL_STOPPING && now_ms >= c->stop_deadline)
    stopped(c);
  else if (heartbeat(c, now_ms) && c->state == CL_READY) {
    if (c->hold_until != 0 && now_ms >= c->hold_until)
      end_hold(c, now_ms);
    if (c->pace_at != 0 && now_ms >= c->pace_at)
      cl_outbox_send_due(c, now_ms); /* RATE-4: a frame's worth is back */
    if (c->receipt_at != 0 && now_ms >= c->receipt_at)
      cl_flush_receipts(c, now_ms);
  }
  expire_states(c, now_ms);
  if (c->token_refresh_at != 0 && !c->token_warned &&
      now_ms >= c->token_refresh_at) {
    c->token_warned = true;
    cl_push(c, PARLEY_CLIENT_EV_TOKEN_EXPIRING);
  }
  finish_call(c, now_ms);
}

parley_err parley_client_mark_read(parley_client *c, const char *conv,
                                   uint64_t seq, uint64_t now_ms)
{
  cl_conv *cv;

  if (!cl_valid_id(conv))
    return PARLEY_E_BAD_VALUE;
  release_drained(c);
  cv = cl_conv_get(c, conv, NULL);
  if (cv == NULL)
    return PARLEY_E_INTERNAL;
  if (seq > cv->stored_seq)
    seq = cv->stored_seq;
  if (seq > cv->read_wanted)
    cv->read_wanted = seq;
  if (c->state == CL_READY)
    cl_flush_receipts(c, now_ms);
  finish_call(c, now_ms);
  return PARLEY_OK;
}

/* Sends TYPING `on` or `off` for cv and notes what was sent. Returns
 * PARLEY_OK or PARLEY_E_INTERNAL when memory runs out. */
static parley_err send_typing(parley_client *c, cl_conv *cv, bool on,
                              uint64_t now_ms)
{
  parley_buf b = {0};
  parley_err err = PARLEY_OK;

  if (parley_frame_begin(&b, "TYPING") != PARLEY_OK ||
      parley_frame_header_str(&b, "conv", cv->id) != PARLEY_OK ||
      parley_frame_header_str(&b, "state", on ? "on" : "off") != PARLEY_OK ||
      parley_frame_end(&b, NULL, 0, false) != PARLEY_OK)
    err = PARLEY_E_INTERNAL;
  else
    cl_send_frame(c, &b);
  parley_buf_free(&b);
  cv->typing_on = on && err == PARLEY_OK;
  cv->typing_sent_ms = now_ms;
  return err;
}

/* TYPE-3: `on` goes out when typing starts and again once half the
 * typing-ttl has passed since the last `on`, however often the user
 * types; `off` goes out once, when typing stops. */
parley_err parley_client_typing(parley_client *c, const char *conv, bool on,
                                uint64_t now_ms)
{
  uint64_t ttl = c->typing_ttl_ms ? c->typing_ttl_ms : 6000;
  parley_err err = PARLEY_OK;
  cl_conv *cv;

  if (!cl_valid_id(conv))
    return PARLEY_E_BAD_VALUE;
  release_drained(c);
  cv = c->state == CL_READY ? cl_conv_get(c, conv, NULL) : NULL;
  if (cv != NULL && on &&
      (!cv->typing_on || now_ms >= cv->typing_sent_ms + ttl / 2))
    err = send_typing(c, cv, true, now_ms);
  else if (cv != NULL && !on && cv->typing_on)
    err = send_typing(c, cv, false, now_ms);
  finish_call(c, now_ms);
  return err;
}

parley_err parley_client_presence(parley_client *c, const char *status,
                                  uint64_t ttl_ms, uint64_t now_ms)
{
  parley_buf b = {0};
  parley_err err = PARLEY_OK;

  if (strcmp(status, "online") != 0 && strcmp(status, "away") != 0)
    return PARLEY_E_BAD_VALUE;
  release_drained(c);
  if (c->state == CL_READY) {
    if (parley_frame_begin(&b, "PRESENCE") != PARLEY_OK ||
        parley_frame_header_str(&b, "status", status) != PARLEY_OK ||
        (ttl_ms != 0 &&
         parley_frame_header_u64(&b, "ttl", ttl_ms) != PARLEY_OK) ||
        parley_frame_end(&b, NULL, 0, false) != PARLEY_OK)
      err = PARLEY_E_INTERNAL;
    else
      cl_send_frame(c, &b);
    parley_buf_free(&b);
  }
  finish_call(c, now_ms);
  return err;
}

/* The user sent a message in conv: a typing state shown to the others
 * ends with it (TYPE-3). */
static void typing_ends_with_send(parley_client *c, const char *conv,
                                  uint64_t now_ms)
{
  cl_conv *cv = cl_conv_find(c, conv, NULL);

  if (cv != NULL && cv->typing_on && c->state == CL_READY)
    send_typing(c, cv, false, now_ms);
}

/* Writes a fresh temp-id: "t" and 32 hex digits from the seeded
 * generator, so ids from one device do not repeat. */
static void new_temp_id(parley_client *c, char out[PARLEY_ID_MAX + 1])
{
  uint64_t hi = rng_next(&c->rng);
  uint64_t lo = rng_next(&c->rng);

  snprintf(out, PARLEY_ID_MAX + 1, "t%016llx%016llx",
           (unsigned long long)hi, (unsigned long long)lo);
}

parley_err parley_client_send(parley_client *c, const char *conv,
                              const char *content_type, const char *body,
                              size_t body_len, uint64_t now_ms,
                              char temp_id_out[PARLEY_ID_MAX + 1])
{
  parley_outbox_entry e;
  parley_err err;
  const char *ct = content_type ? content_type : "text/plain";

  memset(&e, 0, sizeof e);
  if (body == NULL)
    body = "";
  if (!cl_valid_id(conv) || strlen(ct) == 0 || strlen(ct) > PARLEY_CTYPE_MAX)
    return PARLEY_E_BAD_VALUE;
  if (!parley_utf8_valid(body, body_len, NULL))
    return PARLEY_E_BAD_UTF8;
  if (body_len > CL_BODY_MAX)
    return PARLEY_E_FRAME_TOO_LARGE; /* SEND-10 */
  release_drained(c);
  new_temp_id(c, e.temp_id);
  snprintf(e.conv, sizeof e.conv, "%s", conv);
  snprintf(e.content_type, sizeof e.content_type, "%s", ct);
  e.body = body;
  e.body_len = body_len;
  e.created_ms = now_ms;
  err = parley_client_load_outbox(c, &e);
  if (err == PARLEY_OK) {
    cl_item *it = cl_push(c, PARLEY_CLIENT_OUTBOX_ADD);
    if (it != NULL) {
      it->owned = malloc(body_len ? body_len : 1);
      if (it->owned == NULL) {
        c->oom = true;
      } else {
        if (body_len > 0)
          memcpy(it->owned, body, body_len);
        it->a.outbox = e;
        it->a.outbox.body = it->owned;
      }
    }
    if (temp_id_out != NULL)
      memcpy(temp_id_out, e.temp_id, sizeof e.temp_id);
    typing_ends_with_send(c, conv, now_ms);
    if (c->state == CL_READY)
      cl_outbox_send_due(c, now_ms);
  }
  finish_call(c, now_ms);
  return err;
}

void cl_enter(parley_client *c)
{
  release_drained(c);
}

void cl_leave(parley_client *c, uint64_t now_ms)
{
  finish_call(c, now_ms);
}

bool parley_client_next_action(parley_client *c, parley_client_action *out)
{
  if (c->item_head > 0) {
    /* The previous action's buffers are no longer needed. */
    free(c->items[c->item_head - 1].owned);
    c->items[c->item_head - 1].owned = NULL;
  }
  if (c->item_head >= c->item_count)
    return false;
  *out = c->items[c->item_head++].a;
  return true;
}

size_t parley_client_outbox_count(const parley_client *c)
{
  return c->outbox_count;
}

uint64_t parley_client_stored_seq(const parley_client *c, const char *conv)
{
  cl_conv *cv = cl_conv_find(c, conv, NULL);

  return cv ? cv->stored_seq : 0;
}

size_t parley_client_max_body(const parley_client *c)
{
  return c->max_body;
}

bool parley_client_is_ready(const parley_client *c)
{
  return c->state == CL_READY;
}
