/* WebSocket sessions of the reference server (spec section 2.5): the
 * `parley.1` protocol on /v1/ws.
 *
 * Receiving: lws hands a message over in pieces (fragments, and pieces
 * of large frames). They are put together up to the frame size limit
 * plus one octet; whatever comes past that is dropped, and the message
 * still goes to the core, cut at limit + 1 octets. The core answers a
 * message past the limit with frame-too-large (406: parley_parse_message
 * checks the length first), so the answer is the one the whole message
 * would get, the core stays the one that speaks errors, and the host
 * never buffers more than limit + 1 octets per session (FRAME-2).
 *
 * Sending: every frame the core sends is copied into a per-session FIFO
 * and written on LWS_CALLBACK_SERVER_WRITEABLE, one frame per callback.
 * A close the core asks for is queued behind the frames before it. The
 * queue is capped (HOST_QUEUE_MAX_BYTES): a peer that does not read is
 * dropped instead of growing the server's memory. */
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "log.h"

typedef struct out_frame {
  struct out_frame *next;
  size_t len;
  bool close;
  uint16_t ws_code;
  unsigned char buf[]; /* LWS_PRE octets of room, then the frame */
} out_frame;

struct ws_conn {
  ws_conn *next; /* bucket chain */
  uint64_t id;
  struct lws *wsi;
  out_frame *head, *tail;
  size_t queued_bytes;
  bool close_queued;
  bool killed;
  char *rx;
  size_t rx_len, rx_cap;
  bool rx_active, rx_binary, rx_cut;
  char user[PARLEY_USER_MAX + 1];
  char peer[64];
  uint64_t frames_in, frames_out;
};

/* ---- the connection table --------------------------------------------- */

static ws_conn *conn_find(host *h, uint64_t id)
{
  for (ws_conn *c = h->conns[id % HOST_BUCKETS]; c; c = c->next)
    if (c->id == id)
      return c;
  return NULL;
}

size_t ws_sessions_from(const host *h, const char *peer)
{
  size_t n = 0;

  for (size_t b = 0; b < HOST_BUCKETS; b++)
    for (const ws_conn *c = h->conns[b]; c; c = c->next)
      n += strcmp(c->peer, peer) == 0;
  return n;
}

static void conn_insert(host *h, ws_conn *c)
{
  ws_conn **b = &h->conns[c->id % HOST_BUCKETS];

  c->next = *b;
  *b = c;
  h->ws_count++;
}

static void conn_remove(host *h, ws_conn *c)
{
  for (ws_conn **p = &h->conns[c->id % HOST_BUCKETS]; *p; p = &(*p)->next) {
    if (*p == c) {
      *p = c->next;
      h->ws_count--;
      return;
    }
  }
}

static void queue_free(ws_conn *c)
{
  while (c->head) {
    out_frame *next = c->head->next;
    free(c->head);
    c->head = next;
  }
  c->tail = NULL;
  c->queued_bytes = 0;
}

static void conn_free(ws_conn *c)
{
  queue_free(c);
  free(c->rx);
  free(c);
}

/* ---- sending ---------------------------------------------------------- */

static void queue_push(ws_conn *c, out_frame *f)
{
  if (c->tail)
    c->tail->next = f;
  else
    c->head = f;
  c->tail = f;
  c->queued_bytes += f->len;
}

/* Notes the user of a session from the READY frame the core sends, for
 * the session's log lines. */
static void note_ready(ws_conn *c, const char *data, size_t len)
{
  static const char key[] = "\r\nuser: ";
  const char *end = data + len, *p;
  size_t n = 0;

  if (len < 7 || memcmp(data, "READY\r\n", 7) != 0)
    return;
  for (p = data + 5; p + sizeof key - 1 <= end; p++)
    if (memcmp(p, key, sizeof key - 1) == 0)
      break;
  if (p + sizeof key - 1 > end)
    return;
  p += sizeof key - 1;
  while (p + n < end && p[n] != '\r' && n < PARLEY_USER_MAX)
    n++;
  memcpy(c->user, p, n);
  c->user[n] = '\0';
}

/* Drops a session whose peer does not read what is queued for it. */
static void conn_kill(ws_conn *c, const char *why)
{
  plog_warn(c->id, "session dropped user=%s: %s (%zu octets queued)",
            c->user[0] ? c->user : "-", why, c->queued_bytes);
  queue_free(c);
  c->killed = true;
  c->close_queued = true;
  /* SEC-15: status 1008, sent if the socket still takes it. */
  lws_close_reason(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, NULL, 0);
  lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void ws_send(host *h, parley_conn_id conn, const char *data, size_t len)
{
  ws_conn *c = conn_find(h, conn);
  out_frame *f;

  if (!c || c->close_queued || len == 0)
    return;
  if (c->queued_bytes + len > h->queue_max_bytes) {
    conn_kill(c, "send queue past its cap");
    return;
  }
  f = malloc(sizeof *f + LWS_PRE + len);
  if (!f) {
    conn_kill(c, "out of memory");
    return;
  }
  memset(f, 0, sizeof *f);
  f->len = len;
  memcpy(f->buf + LWS_PRE, data, len);
  queue_push(c, f);
  note_ready(c, data, len);
  lws_callback_on_writable(c->wsi);
}

void ws_close(host *h, parley_conn_id conn, uint16_t ws_code)
{
  ws_conn *c = conn_find(h, conn);
  out_frame *f;

  if (!c || c->close_queued)
    return;
  f = calloc(1, sizeof *f);
  if (!f) {
    conn_kill(c, "out of memory");
    return;
  }
  f->close = true;
  f->ws_code = ws_code ? ws_code : LWS_CLOSE_STATUS_NORMAL;
  queue_push(c, f);
  c->close_queued = true;
  lws_callback_on_writable(c->wsi);
}

/* Writes the next queued frame. Returns -1 to close the session (a close
 * was queued, or the write failed), else 0. */
static int conn_writable(ws_conn *c)
{
  out_frame *f = c->head;

  if (!f || c->killed)
    return c->killed ? -1 : 0;
  if (f->close) {
    plog_debug(c->id, "closing with %u", (unsigned)f->ws_code);
    lws_close_reason(c->wsi, (enum lws_close_status)f->ws_code, NULL, 0);
    return -1;
  }
  int n = lws_write(c->wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
  if (n < 0 || (size_t)n < f->len) {
    plog_warn(c->id, "write failed; closing");
    return -1;
  }
  c->head = f->next;
  if (!c->head)
    c->tail = NULL;
  c->queued_bytes -= f->len;
  c->frames_out++;
  free(f);
  if (c->head)
    lws_callback_on_writable(c->wsi);
  return 0;
}

/* ---- receiving -------------------------------------------------------- */

static size_t frame_limit(const host *h)
{
  size_t max = h->cfg.limits.frame_size_max;
  return max ? max : PARLEY_FRAME_SIZE_MAX;
}

/* Adds one piece of a message, keeping at most limit + 1 octets. Returns
 * 0, or -1 when memory runs out. */
static int rx_append(ws_conn *c, size_t cap, const char *in, size_t len)
{
  size_t keep = c->rx_len < cap ? cap - c->rx_len : 0;

  if (len > keep) {
    len = keep;
    c->rx_cut = true;
  }
  if (c->rx_len + len > c->rx_cap) {
    size_t want = c->rx_cap ? c->rx_cap : 1024;
    while (want < c->rx_len + len)
      want *= 2;
    if (want > cap)
      want = cap;
    char *p = realloc(c->rx, want);
    if (!p)
      return -1;
    c->rx = p;
    c->rx_cap = want;
  }
  if (len)
    memcpy(c->rx + c->rx_len, in, len);
  c->rx_len += len;
  return 0;
}

/* A piece of a WebSocket message arrived; hands whole messages to the
 * core. Returns 0, or -1 to close the session. */
static int conn_receive(host *h, ws_conn *c, const char *in, size_t len)
{
  struct lws *wsi = c->wsi;

  if (!c->rx_active) {
    c->rx_active = true;
    c->rx_binary = lws_frame_is_binary(wsi) != 0;
    c->rx_len = 0;
    c->rx_cut = false;
  }
  if (rx_append(c, frame_limit(h) + 1, in, len) != 0) {
    plog_error(c->id, "out of memory reading a message");
    return -1;
  }
  if ((!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi)) &&
      !PARLEY_FAULT(&h->cfg, WS_FRAGMENTS_AS_MESSAGES))
    return 0; /* the fault hands each piece over as a message */

  c->rx_active = false;
  c->frames_in++;
  if (c->rx_cut)
    plog_debug(c->id, "message past the frame size limit, cut at %zu",
               c->rx_len);
  parley_server_on_message(h->core, c->id, c->rx_len ? c->rx : "",
                           c->rx_len, c->rx_binary, host_now_ms());
  host_pump(h);
  if (c->rx_cap > 16384) {
    free(c->rx);
    c->rx = NULL;
    c->rx_cap = 0;
  }
  c->rx_len = 0;
  return 0;
}

/* ---- the protocol callback -------------------------------------------- */

static int conn_open(host *h, struct lws *wsi, ws_pss *pss)
{
  ws_conn *c;

  if (h->draining || h->fatal)
    return -1;
  c = calloc(1, sizeof *c);
  if (!c)
    return -1;
  c->id = ++h->next_conn_id;
  c->wsi = wsi;
  lws_get_peer_simple(wsi, c->peer, sizeof c->peer);
  pss->c = c;
  conn_insert(h, c);
  plog_info(c->id, "session open peer=%s", c->peer);
  parley_server_on_open(h->core, c->id, host_now_ms());
  host_pump(h);
  return 0;
}

static void conn_closed(host *h, ws_pss *pss)
{
  ws_conn *c = pss->c;

  if (!c)
    return;
  pss->c = NULL;
  conn_remove(h, c);
  plog_info(c->id, "session closed user=%s frames_in=%llu frames_out=%llu",
            c->user[0] ? c->user : "-", (unsigned long long)c->frames_in,
            (unsigned long long)c->frames_out);
  if (!h->destroying) {
    parley_server_on_close(h->core, c->id, host_now_ms());
    host_pump(h);
  }
  conn_free(c);
}

int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
                void *user, void *in, size_t len)
{
  host *h = lws_context_user(lws_get_context(wsi));
  ws_pss *pss = user;

  switch (reason) {
  case LWS_CALLBACK_ESTABLISHED:
    return conn_open(h, wsi, pss);
  case LWS_CALLBACK_RECEIVE:
    if (!pss || !pss->c)
      return -1;
    return conn_receive(h, pss->c, in, len);
  case LWS_CALLBACK_SERVER_WRITEABLE:
    if (!pss || !pss->c)
      return -1;
    return conn_writable(pss->c);
  case LWS_CALLBACK_CLOSED:
    if (pss)
      conn_closed(h, pss);
    return 0;
  default:
    return 0;
  }
}
