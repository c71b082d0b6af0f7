/* Frames from the server, by verb (spec section 10).
 *
 * The client reads only the headers it knows and ignores the rest (EXT-1);
 * a verb it does not know is ignored as a whole (EXT-4). A frame missing a
 * header the client needs is dropped with an EV_ERROR, never acted on in
 * part. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

/* Copies header `name` into dst (cap octets with the NUL). Returns false
 * when it is absent, too long or holds a NUL. */
bool cl_hdr_copy(const parley_frame *f, const char *name, char *dst,
                 size_t cap)
{
  const parley_str *v = parley_frame_get(f, name);

  if (v == NULL || v->len >= cap || memchr(v->ptr, '\0', v->len) != NULL)
    return false;
  if (v->len > 0)
    memcpy(dst, v->ptr, v->len);
  dst[v->len] = '\0';
  return true;
}

/* Reads header `name` as a decimal number. Returns false when it is
 * absent, empty, not all digits or past 2^64 - 1. */
bool cl_hdr_u64(const parley_frame *f, const char *name, uint64_t *out)
{
  const parley_str *v = parley_frame_get(f, name);
  uint64_t n = 0;
  size_t i;

  if (v == NULL || v->len == 0 || v->len > 20)
    return false;
  for (i = 0; i < v->len; i++) {
    unsigned d = (unsigned char)v->ptr[i] - '0';
    if (d > 9 || n > (UINT64_MAX - d) / 10)
      return false;
    n = n * 10 + d;
  }
  *out = n;
  return true;
}

static bool hdr_is(const parley_frame *f, const char *name, const char *lit)
{
  const parley_str *v = parley_frame_get(f, name);

  return v != NULL && parley_str_eq(*v, lit);
}

/* True when the comma-separated list holds `item`. */
static bool list_has(const char *list, const char *item)
{
  size_t n = strlen(item);
  const char *p = list;

  while (*p != '\0') {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    while (len > 0 && *p == ' ') {
      p++;
      len--;
    }
    if (len == n && memcmp(p, item, n) == 0)
      return true;
    if (end == NULL)
      break;
    p = end + 1;
  }
  return false;
}

/* WELCOME: the version the server chose, its heartbeat, limits and rate
 * (RATE-4). A version the client did not list in HELLO (it lists only 1)
 * ends the session (VER-3). */
static void on_welcome(parley_client *c, const parley_frame *f,
                       uint64_t now_ms)
{
  static const char unlisted[] = "WELCOME names a version not offered";
  uint64_t v, burst;
  char caps[256] = "";

  if (!hdr_is(f, "version", "1")) {
    cl_event_error(c, PARLEY_E_UNSUPPORTED_VERSION, true, unlisted,
                   sizeof unlisted - 1);
    cl_fail_session(c, PARLEY_E_UNSUPPORTED_VERSION, CL_WS_PROTOCOL_ERROR,
                    now_ms);
    return;
  }
  if (cl_hdr_u64(f, "heartbeat", &v) && v >= 1 && v <= 3600000)
    c->heartbeat_ms = (uint32_t)v;
  else
    c->heartbeat_ms = c->cfg.heartbeat_ms;
  if (cl_hdr_u64(f, "max-frame", &v) && v >= 1024 &&
      v <= PARLEY_FRAME_SIZE_MAX)
    c->max_frame = (size_t)v;
  if (cl_hdr_u64(f, "max-body", &v) && v <= CL_BODY_MAX)
    c->max_body = (size_t)v;
  if (cl_hdr_u64(f, "typing-ttl", &v) && v <= 3600000)
    c->typing_ttl_ms = (uint32_t)v;
  if (cl_hdr_u64(f, "dedup-window", &v) && v >= 1)
    c->dedup_window_ms = v;
  if (cl_hdr_u64(f, "rate", &v) && v >= 1 && v <= 1000000 &&
      cl_hdr_u64(f, "rate-burst", &burst) && burst >= 1 &&
      burst <= 1000000 && c->pace_rate == 0)
    cl_pace_start(c, v, burst, now_ms);
  cl_hdr_copy(f, "caps", caps, sizeof caps);
  c->cap_receipts = list_has(caps, "receipts");
  memcpy(c->welcome_caps, caps, sizeof caps);
}

void cl_send_sync(parley_client *c)
{
  parley_buf b = {0};
  char req[24];
  bool ok;

  c->sync_req = cl_next_req(c, req, sizeof req, 'y');
  ok = parley_frame_begin(&b, "SYNC") == PARLEY_OK &&
       parley_frame_header_str(&b, "since", c->pos[0] ? c->pos : "0") ==
           PARLEY_OK;
  cl_send_request(c, &b, ok, req);
}

/* READY: the session may now SYNC and send the outbox. A READY that
 * answers a token refresh changes nothing else. */
static void on_ready(parley_client *c, const parley_frame *f,
                     uint64_t now_ms)
{
  cl_item *it;

  if (c->state == CL_READY)
    return;
  if (c->heartbeat_ms == 0)
    c->heartbeat_ms = c->cfg.heartbeat_ms; /* READY before WELCOME */
  c->state = CL_READY;
  c->attempt = 0;
  it = cl_push(c, PARLEY_CLIENT_EV_READY);
  if (it != NULL && !cl_hdr_copy(f, "user", it->a.user, sizeof it->a.user))
    snprintf(it->a.user, sizeof it->a.user, "%s", c->user);
  if (it != NULL)
    it->a.reconnected = c->had_ready;
  c->had_ready = true;
  cl_send_sync(c);
  cl_outbox_send_due(c, now_ms);
}

static void on_synced(parley_client *c, const parley_frame *f,
                      uint64_t now_ms)
{
  char pos[PARLEY_POS_MAX + 1];

  if (cl_hdr_copy(f, "pos", pos, sizeof pos) && pos[0] != '\0')
    cl_pending_synced(c, pos);
  c->synced = true;
  cl_push(c, PARLEY_CLIENT_EV_SYNCED);
  cl_flush_receipts(c, now_ms);
}

static void on_receipt(parley_client *c, const parley_frame *f)
{
  char conv[PARLEY_ID_MAX + 1], user[PARLEY_USER_MAX + 1];
  char pos[PARLEY_POS_MAX + 1];
  uint64_t seq;
  parley_receipt_kind kind;
  cl_conv *cv;

  if (!cl_hdr_copy(f, "conv", conv, sizeof conv) ||
      !cl_hdr_copy(f, "user", user, sizeof user) ||
      !cl_hdr_u64(f, "seq", &seq)) {
    cl_event_error(c, PARLEY_E_MISSING_HEADER, false, "RECEIPT", 7);
    return;
  }
  if (hdr_is(f, "kind", "delivered"))
    kind = PARLEY_RECEIPT_DELIVERED;
  else if (hdr_is(f, "kind", "read"))
    kind = PARLEY_RECEIPT_READ;
  else
    return; /* a kind this client does not know */
  cv = cl_conv_get(c, conv, NULL);
  if (cv == NULL)
    return;
  if (cl_receipt_apply(c, cv, user, kind, seq, true))
    cl_status_update(c, cv, true);
  if (c->synced && cl_hdr_copy(f, "pos", pos, sizeof pos) &&
      pos[0] != '\0') {
    cl_pending_push(c, pos, CL_NO_CONV, 0); /* DELIV-8 */
    cl_pending_advance(c);
  }
}

/* Keeps (on) or forgets (off) the lapsing state of `user` in `conv`
 * (CL_NO_CONV for presence), lapsing at expires_ms. */
static void lapse_set(parley_client *c, size_t conv, const char *user,
                      bool on, uint64_t expires_ms)
{
  size_t i;

  for (i = 0; i < c->typing_count; i++)
    if (c->typing[i].conv == conv && strcmp(c->typing[i].user, user) == 0)
      break;
  if (!on) {
    if (i < c->typing_count)
      c->typing[i] = c->typing[--c->typing_count];
    return;
  }
  if (i == c->typing_count) {
    if (!cl_grow((void **)&c->typing, &c->typing_cap, i + 1,
                 sizeof *c->typing))
      return; /* it will not lapse by itself: a newer frame ends it */
    c->typing_count++;
    c->typing[i].conv = conv;
    snprintf(c->typing[i].user, sizeof c->typing[i].user, "%s", user);
  }
  c->typing[i].expires_ms = expires_ms;
}

static void on_typing(parley_client *c, const parley_frame *f,
                      uint64_t now_ms)
{
  char conv[PARLEY_ID_MAX + 1], user[PARLEY_USER_MAX + 1];
  uint64_t ttl = c->typing_ttl_ms ? c->typing_ttl_ms : 6000;
  bool on = hdr_is(f, "state", "on");
  size_t idx;
  cl_item *it;

  if (!cl_hdr_copy(f, "conv", conv, sizeof conv) ||
      !cl_hdr_copy(f, "user", user, sizeof user) ||
      cl_conv_get(c, conv, &idx) == NULL)
    return;
  cl_hdr_u64(f, "ttl", &ttl);
  lapse_set(c, idx, user, on, now_ms + (ttl ? ttl : 1));
  if ((it = cl_push(c, PARLEY_CLIENT_EV_TYPING)) != NULL) {
    memcpy(it->a.conv, conv, sizeof conv);
    memcpy(it->a.user, user, sizeof user);
    it->a.on = on;
    it->a.ttl_ms = ttl;
  }
}

/* A relayed status; one with a ttl turns offline when it lapses. */
static void on_presence(parley_client *c, const parley_frame *f,
                        uint64_t now_ms)
{
  char user[PARLEY_USER_MAX + 1], status[16];
  uint64_t ttl = 0;
  bool lapses;
  cl_item *it;

  if (!cl_hdr_copy(f, "user", user, sizeof user) ||
      !cl_hdr_copy(f, "status", status, sizeof status))
    return;
  lapses = cl_hdr_u64(f, "ttl", &ttl) && strcmp(status, "offline") != 0;
  lapse_set(c, CL_NO_CONV, user, lapses, now_ms + (ttl ? ttl : 1));
  if ((it = cl_push(c, PARLEY_CLIENT_EV_PRESENCE)) != NULL) {
    memcpy(it->a.user, user, sizeof user);
    memcpy(it->a.presence, status, sizeof status);
    it->a.ttl_ms = ttl;
  }
}

/* An ERROR that answers a SYNC (n == sync_req) or an AUTH: a pos this
 * server never issued starts over from 0; a rate-limited one is sent
 * again when the hold ends (RATE-2); any other failure (a code this
 * client does not know included, ERR-3) leaves the session without a
 * way forward, so it is dropped and the next one tries again. */
static void on_session_request_error(parley_client *c, char tag,
                                     parley_err err, uint64_t now_ms)
{
  bool limited = err == PARLEY_E_RATE_LIMITED;

  if (tag == 'y' && err == PARLEY_E_BAD_VALUE) {
    c->pos[0] = '\0';
    cl_send_sync(c);
  } else if (limited && c->state == CL_READY) {
    if (tag == 'y')
      c->sync_retry = true;
    else
      c->auth_retry = true;
  } else if (tag == 'y' || c->state != CL_READY) {
    cl_drop_session(c, err, now_ms);
  }
}

/* Routes an ERROR to the request that caused it (by its req tag), tells
 * the application, and ends the session when the error is fatal. The
 * body is shown, never read (ERR-5); a code this client does not know
 * fails the request its req names like any other (ERR-3). */
static void on_error(parley_client *c, const parley_frame *f,
                     uint64_t now_ms)
{
  char reason[64] = "", req[PARLEY_ID_MAX + 1] = "";
  uint64_t code = 0, n = 0;
  parley_err err;
  bool fatal = hdr_is(f, "fatal", "yes");
  size_t i;

  cl_hdr_copy(f, "reason", reason, sizeof reason);
  err = parley_err_from_reason(reason);
  if (err == PARLEY_OK && cl_hdr_u64(f, "code", &code) && code <= 999)
    err = (parley_err)code;
  if (cl_hdr_copy(f, "req", req, sizeof req) && req[0] != '\0' &&
      req[1] == '-')
    n = strtoull(req + 2, NULL, 10);
  if (req[0] == 'c' && n != 0 && !fatal && err != PARLEY_E_AUTH_FAILED &&
      err != PARLEY_E_TOKEN_EXPIRED && cl_call_on_error(c, n, err, f)) {
    /* The call layer reports it; rate-limited holds as for any frame. */
    if (err == PARLEY_E_RATE_LIMITED) {
      cl_hold_frames(c, now_ms);
      cl_pace_empty(c, now_ms);
    }
    return;
  }
  if (f->body.len > 0)
    cl_event_error(c, err, fatal, f->body.ptr, f->body.len);
  else
    cl_event_error(c, err, fatal, reason, strlen(reason));

  if (err == PARLEY_E_AUTH_FAILED || err == PARLEY_E_TOKEN_EXPIRED) {
    cl_need_token(c, err, now_ms);
    return;
  }
  if (fatal) {
    cl_drop_session(c, err, now_ms);
    return;
  }
  if (err == PARLEY_E_RATE_LIMITED) {
    cl_hold_frames(c, now_ms);
    cl_pace_empty(c, now_ms);
  }
  if (req[0] == 'r' && n != 0) {
    /* A receipt refused for its content (not-found, bad-value) would be
     * refused again: only a rate-limited one is sent again (RATE-2). */
    if (err != PARLEY_E_RATE_LIMITED)
      return;
    for (i = 0; i < c->conv_count; i++)
      c->convs[i]->delivered_sent = c->convs[i]->read_sent = 0;
    if (c->receipt_at == 0)
      c->receipt_at = now_ms + c->cfg.receipt_delay_ms;
  } else if (req[0] == 's' && n != 0) {
    cl_outbox_on_error(c, n, err, now_ms);
  } else if (req[0] == 'h' && n != 0) {
    for (i = 0; i < c->conv_count; i++)
      if (c->convs[i]->history_req == n)
        c->convs[i]->history_req = 0;
  } else if ((req[0] == 'y' && n == c->sync_req) || req[0] == 'a') {
    on_session_request_error(c, req[0], err, now_ms);
  }
}

/* Replies to the server's BYE and reconnects later; or, when the client
 * said BYE first, just closes (LIFE-6). */
static void on_bye(parley_client *c, uint64_t now_ms)
{
  parley_buf b = {0};

  if (c->state == CL_STOPPING) {
    cl_stopping_bye(c);
    return;
  }
  if (parley_frame_begin(&b, "BYE") == PARLEY_OK &&
      parley_frame_end(&b, NULL, 0, false) == PARLEY_OK)
    cl_send_frame(c, &b);
  parley_buf_free(&b);
  cl_drop_session(c, PARLEY_OK, now_ms);
}

/* Dispatches one frame. Before READY only the handshake answers, ERROR
 * and PONG mean anything; other verbs are ignored. */
void cl_on_frame(parley_client *c, const parley_frame *f, uint64_t now_ms)
{
  parley_str v = f->verb;
  bool ready = c->state == CL_READY;

  if (c->state == CL_STOPPING) {
    if (parley_str_eq(v, "BYE"))
      on_bye(c, now_ms);
    return; /* nothing else matters once BYE was said */
  }
  if (parley_str_eq(v, "WELCOME"))
    on_welcome(c, f, now_ms);
  else if (parley_str_eq(v, "READY"))
    on_ready(c, f, now_ms);
  else if (parley_str_eq(v, "ERROR"))
    on_error(c, f, now_ms);
  else if (parley_str_eq(v, "BYE"))
    on_bye(c, now_ms);
  else if (!ready)
    return;
  else if (parley_str_eq(v, "MSG"))
    cl_on_msg(c, f, now_ms);
  else if (parley_str_eq(v, "ACK"))
    cl_on_ack(c, f, now_ms);
  else if (parley_str_eq(v, "RECEIPT"))
    on_receipt(c, f);
  else if (parley_str_eq(v, "SYNCED"))
    on_synced(c, f, now_ms);
  else if (parley_str_eq(v, "PAGE"))
    cl_on_page(c, f, now_ms);
  else if (parley_str_eq(v, "TYPING"))
    on_typing(c, f, now_ms);
  else if (parley_str_eq(v, "PRESENCE"))
    on_presence(c, f, now_ms);
  else if (parley_str_eq(v, "OK"))
    cl_call_on_ok(c, f);
  else
    cl_call_on_frame(c, f);
  /* PONG, other OKs and verbs this client does not know: nothing to do
   * (EXT-4). */
}
