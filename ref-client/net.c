/* libwebsockets glue of the reference client.
 *
 * Each WebSocket attempt gets a `wsconn` the net layer owns; libwebsockets
 * holds it as the connection's user data. Its disconnect is reported
 * exactly once (whichever of connection-error, closed or destroy comes
 * first), and the struct is freed only after libwebsockets destroyed the
 * connection, so no callback ever sees freed memory. HTTP requests work
 * the same way with an `httpreq` that outlives a timed-out wait until its
 * connection is destroyed. Timers are lws "sul" entries, which also wake
 * lws_service (it otherwise sleeps up to about 30 s when idle). */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libwebsockets.h>

#include "log.h"
#include "net.h"

#define RX_MAX (1024 * 1024)
#define WS_PATH "/v1/ws"
#define SUBPROTOCOL "parley.1"

typedef struct outmsg {
  struct outmsg *next;
  size_t len;
  unsigned char buf[]; /* LWS_PRE octets, then the message */
} outmsg;

#define MAGIC_WS 0x57534f4bu   /* tags a wsconn */
#define MAGIC_HTTP 0x48545450u /* tags an httpreq */

typedef struct wsconn {
  uint32_t magic;
  net *net;
  uint64_t id;
  struct lws *wsi;
  outmsg *head, *tail;
  bool closing;
  uint16_t close_code; /* the status of the close asked for */
  bool reported; /* NET_EV_DISCONNECTED was sent */
  bool dead;     /* libwebsockets destroyed the connection */
  char *rx;
  size_t rx_len, rx_cap;
  struct wsconn *next;
} wsconn;

typedef struct httpreq {
  uint32_t magic;
  const char *body;
  size_t body_len;
  char auth[600];
  int status;
  char *resp;
  size_t resp_len, resp_cap;
  bool done, failed;
  char error[128]; /* why it failed, when libwebsockets said */
  bool dead;     /* the connection was destroyed */
  bool orphan;   /* the waiter gave up; free on destroy */
  struct lws *wsi;
} httpreq;

struct net {
  struct lws_context *ctx;
  net_url url;
  char hostport[300];
  char ws_path[300];
  net_event_fn fn;
  void *ud;
  wsconn *conns;
  lws_sorted_usec_list_t sul_core;
  lws_sorted_usec_list_t sul_host;
  lws_sorted_usec_list_t sul_wait;
  lws_sorted_usec_list_t sul_wake; /* NET_TIMER_WAKE */
};

uint64_t net_now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool net_url_parse(const char *text, net_url *out)
{
  const char *p, *host_end, *colon;
  size_t host_len, i;
  char *end;
  long port;

  memset(out, 0, sizeof *out);
  if (strncasecmp(text, "http://", 7) == 0) {
    p = text + 7;
  } else if (strncasecmp(text, "https://", 8) == 0) {
    p = text + 8;
    out->tls = true;
  } else {
    return false;
  }
  host_end = p + strcspn(p, "/");
  colon = memchr(p, ':', (size_t)(host_end - p));
  host_len = (size_t)((colon ? colon : host_end) - p);
  if (host_len == 0 || host_len >= sizeof out->host ||
      strlen(host_end) >= sizeof out->base)
    return false;
  for (i = 0; i < host_len; i++)
    out->host[i] = (char)tolower((unsigned char)p[i]);
  out->port = out->tls ? 443 : 80;
  if (colon != NULL) {
    port = strtol(colon + 1, &end, 10);
    if (end != host_end || port <= 0 || port > 65535)
      return false;
    out->port = (int)port;
  }
  snprintf(out->base, sizeof out->base, "%s", host_end);
  while (strlen(out->base) > 0 && out->base[strlen(out->base) - 1] == '/')
    out->base[strlen(out->base) - 1] = '\0';
  return true;
}

void net_url_format(const net_url *url, char *out, size_t cap)
{
  char port[16] = "";

  if (url->port != (url->tls ? 443 : 80))
    snprintf(port, sizeof port, ":%d", url->port);
  snprintf(out, cap, "%s://%s%s%s", url->tls ? "https" : "http", url->host,
           port, url->base);
}

/* Reports the end of w once; `why` (may be NULL) says what failed. */
static void ws_report_gone(wsconn *w, const char *why)
{
  if (w->reported)
    return;
  w->reported = true;
  w->net->fn(w->net->ud, NET_EV_DISCONNECTED, w->id, why ? why : "",
             why ? strlen(why) : 0);
}

/* Appends a received fragment; hands over the message when complete.
 * Returns -1 to drop a connection whose message grows past RX_MAX. */
static int ws_receive(wsconn *w, struct lws *wsi, const void *in,
                      size_t len)
{
  char *p;

  if (w->rx_len + len > RX_MAX)
    return -1;
  if (w->rx_len + len + 1 > w->rx_cap) {
    size_t cap = (w->rx_len + len + 1) * 2;
    if ((p = realloc(w->rx, cap)) == NULL)
      return -1;
    w->rx = p;
    w->rx_cap = cap;
  }
  memcpy(w->rx + w->rx_len, in, len);
  w->rx_len += len;
  if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
    return 0;
  if (!lws_frame_is_binary(wsi) && !w->reported)
    w->net->fn(w->net->ud, NET_EV_MESSAGE, w->id, w->rx, w->rx_len);
  w->rx_len = 0;
  return 0;
}

/* Writes one queued message, or closes once the queue is empty and a
 * close was asked for. Returns -1 to close. */
static int ws_writeable(wsconn *w, struct lws *wsi)
{
  outmsg *m = w->head;

  if (m == NULL) {
    if (!w->closing)
      return 0;
    lws_close_reason(wsi, (enum lws_close_status)w->close_code, NULL, 0);
    return -1;
  }
  w->head = m->next;
  if (w->head == NULL)
    w->tail = NULL;
  if (lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) <
      (int)m->len) {
    free(m);
    return -1;
  }
  free(m);
  if (w->head != NULL || w->closing)
    lws_callback_on_writable(wsi);
  return 0;
}

/* True when the upgrade answer selected `parley.1`. */
static bool subprotocol_selected(struct lws *wsi)
{
  char got[64];

  if (lws_hdr_copy(wsi, got, sizeof got, WSI_TOKEN_PROTOCOL) <= 0)
    return false;
  return strcmp(got, SUBPROTOCOL) == 0;
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons reason,
                 wsconn *w, void *in, size_t len)
{
  switch (reason) {
  case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
    if (subprotocol_selected(wsi))
      return 0;
    /* CLI-1: not a Parley endpoint; close without sending a frame. */
    plog_warn(0, "the server did not select the subprotocol %s",
                 SUBPROTOCOL);
    return -1;
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    if (!w->reported)
      w->net->fn(w->net->ud, NET_EV_CONNECTED, w->id, NULL, 0);
    if (w->head != NULL || w->closing)
      lws_callback_on_writable(wsi);
    return 0;
  case LWS_CALLBACK_CLIENT_RECEIVE:
    return ws_receive(w, wsi, in, len);
  case LWS_CALLBACK_CLIENT_WRITEABLE:
    return ws_writeable(w, wsi);
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    plog_debug(0, "connection %llu failed: %s", (unsigned long long)w->id,
               in ? (const char *)in : "(no reason)");
    ws_report_gone(w, in ? (const char *)in : NULL);
    return 0;
  case LWS_CALLBACK_CLIENT_CLOSED:
    plog_debug(0, "connection %llu closed", (unsigned long long)w->id);
    ws_report_gone(w, NULL);
    return 0;
  case LWS_CALLBACK_WSI_DESTROY:
    plog_debug(0, "connection %llu released", (unsigned long long)w->id);
    ws_report_gone(w, NULL);
    w->dead = true;
    w->wsi = NULL;
    return 0;
  default:
    return 0;
  }
}

static void http_append(httpreq *r, const void *in, size_t len)
{
  char *p;

  if (r->resp_len + len + 1 > r->resp_cap) {
    size_t cap = (r->resp_len + len + 1) * 2;
    if ((p = realloc(r->resp, cap)) == NULL) {
      r->failed = true;
      return;
    }
    r->resp = p;
    r->resp_cap = cap;
  }
  memcpy(r->resp + r->resp_len, in, len);
  r->resp_len += len;
  r->resp[r->resp_len] = '\0';
}

/* Adds Authorization, and Content-Type and Content-Length for a body. */
static int http_headers(httpreq *r, struct lws *wsi, unsigned char **p,
                        unsigned char *end)
{
  static const char json[] = "application/json";

  if (r->auth[0] != '\0' &&
      lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                   (const unsigned char *)r->auth,
                                   (int)strlen(r->auth), p, end))
    return -1;
  if (r->body == NULL)
    return 0;
  if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                   (const unsigned char *)json,
                                   (int)strlen(json), p, end) ||
      lws_add_http_header_content_length(wsi, r->body_len, p, end))
    return -1;
  lws_client_http_body_pending(wsi, 1);
  lws_callback_on_writable(wsi);
  return 0;
}

static int http_write_body(httpreq *r, struct lws *wsi)
{
  unsigned char *buf = malloc(LWS_PRE + r->body_len + 1);
  int wrote;

  if (buf == NULL)
    return -1;
  memcpy(buf + LWS_PRE, r->body, r->body_len);
  lws_client_http_body_pending(wsi, 0);
  wrote = lws_write(wsi, buf + LWS_PRE, r->body_len, LWS_WRITE_HTTP_FINAL);
  free(buf);
  return wrote < (int)r->body_len ? -1 : 0;
}

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason,
                   httpreq *r, void *in, size_t len)
{
  char buf[LWS_PRE + 4096];
  char *px = buf + LWS_PRE;
  int lenx = (int)(sizeof buf - LWS_PRE);

  switch (reason) {
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
    unsigned char **p = in;
    return http_headers(r, wsi, p, *p + len);
  }
  case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
    return r->body ? http_write_body(r, wsi) : 0;
  case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
    r->status = (int)lws_http_client_http_response(wsi);
    return 0;
  case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
    http_append(r, in, len);
    return 0;
  case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
    return lws_http_client_read(wsi, &px, &lenx) < 0 ? -1 : 0;
  case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
    r->done = true;
    return 0;
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    if (in != NULL)
      snprintf(r->error, sizeof r->error, "%.*s", (int)len,
               (const char *)in);
    r->failed = r->done = true;
    return 0;
  case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
    if (!r->done)
      r->failed = r->status == 0;
    r->done = true;
    return 0;
  case LWS_CALLBACK_WSI_DESTROY:
    plog_debug(0, "http request released");
    if (!r->done)
      r->failed = r->status == 0;
    r->done = r->dead = true;
    r->wsi = NULL;
    if (r->orphan) {
      r->magic = 0;
      free(r->resp);
      free(r);
    }
    return 0;
  default:
    return 0;
  }
}

/* Both protocols share one callback: libwebsockets may deliver a
 * connection's last callbacks through another protocol than the one it
 * was opened with, so the user data's tag decides, not the protocol. */
static int any_cb(struct lws *wsi, enum lws_callback_reasons reason,
                  void *user, void *in, size_t len)
{
  if (user == NULL)
    return 0;
  if (*(const uint32_t *)user == MAGIC_WS)
    return ws_cb(wsi, reason, user, in, len);
  if (*(const uint32_t *)user == MAGIC_HTTP)
    return http_cb(wsi, reason, user, in, len);
  return 0;
}

static const struct lws_protocols protocols[] = {
  {"parley-http", any_cb, 0, 0, 0, NULL, 0},
  {SUBPROTOCOL, any_cb, 0, 65536 + 1024, 0, NULL, 0},
  {NULL, NULL, 0, 0, 0, NULL, 0}
};

static void lws_log_to_clog(int level, const char *line)
{
  char copy[512];
  size_t n = strlen(line);

  if (n >= sizeof copy)
    n = sizeof copy - 1;
  memcpy(copy, line, n);
  while (n > 0 && (copy[n - 1] == '\n' || copy[n - 1] == '\r'))
    n--;
  copy[n] = '\0';
  plog(level == LLL_ERR ? PARLEY_LOG_WARN : PARLEY_LOG_DEBUG, 0, "lws: %s",
       copy);
}

net *net_new(const net_url *url, net_event_fn fn, void *ud, bool verbose)
{
  struct lws_context_creation_info info;
  net *n = calloc(1, sizeof *n);

  if (n == NULL)
    return NULL;
  lws_set_log_level(verbose ? (LLL_ERR | LLL_WARN) : 0, lws_log_to_clog);
  n->url = *url;
  n->fn = fn;
  n->ud = ud;
  snprintf(n->hostport, sizeof n->hostport, "%s:%d", url->host, url->port);
  snprintf(n->ws_path, sizeof n->ws_path, "%s%s", url->base, WS_PATH);
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.gid = -1;
  info.uid = -1;
  if (url->tls)
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  n->ctx = lws_create_context(&info);
  if (n->ctx == NULL) {
    free(n);
    return NULL;
  }
  return n;
}

static void free_conn(wsconn *w)
{
  w->magic = 0;
  while (w->head != NULL) {
    outmsg *m = w->head;
    w->head = m->next;
    free(m);
  }
  free(w->rx);
  free(w);
}

void net_free(net *n)
{
  if (n == NULL)
    return;
  lws_context_destroy(n->ctx); /* destroys every connection first */
  while (n->conns != NULL) {
    wsconn *w = n->conns;
    n->conns = w->next;
    free_conn(w);
  }
  free(n);
}

/* Frees the connections libwebsockets has destroyed. */
static void reap(net *n)
{
  wsconn **pp = &n->conns;

  while (*pp != NULL) {
    wsconn *w = *pp;
    if (w->dead) {
      *pp = w->next;
      free_conn(w);
    } else {
      pp = &w->next;
    }
  }
}

void net_service(net *n)
{
  lws_service(n->ctx, 0);
  reap(n);
}

void net_wake(net *n)
{
  lws_cancel_service(n->ctx);
}

static wsconn *find_conn(net *n, uint64_t id)
{
  wsconn *w;

  for (w = n->conns; w != NULL; w = w->next)
    if (w->id == id && !w->reported)
      return w;
  return NULL;
}

void net_ws_connect(net *n, uint64_t id)
{
  struct lws_client_connect_info ci;
  wsconn *w = calloc(1, sizeof *w);

  if (w == NULL) {
    n->fn(n->ud, NET_EV_DISCONNECTED, id, NULL, 0);
    return;
  }
  w->magic = MAGIC_WS;
  w->net = n;
  w->id = id;
  w->next = n->conns;
  n->conns = w;
  memset(&ci, 0, sizeof ci);
  ci.context = n->ctx;
  ci.address = n->url.host;
  ci.port = n->url.port;
  ci.ssl_connection = n->url.tls ? LCCSCF_USE_SSL : 0;
  ci.path = n->ws_path;
  ci.host = n->hostport;
  ci.origin = n->hostport;
  ci.protocol = SUBPROTOCOL;
  ci.local_protocol_name = SUBPROTOCOL;
  ci.userdata = w;
  ci.pwsi = &w->wsi;
  if (lws_client_connect_via_info(&ci) == NULL) {
    /* It may have reported already; either way the attempt is over. */
    w->wsi = NULL;
    w->dead = true;
    ws_report_gone(w, "the connection could not start");
  }
}

void net_ws_send(net *n, uint64_t id, const char *data, size_t len)
{
  wsconn *w = find_conn(n, id);
  outmsg *m;

  if (w == NULL || w->closing || w->wsi == NULL)
    return;
  m = malloc(sizeof *m + LWS_PRE + len);
  if (m == NULL)
    return;
  m->next = NULL;
  m->len = len;
  memcpy(m->buf + LWS_PRE, data, len);
  if (w->tail != NULL)
    w->tail->next = m;
  else
    w->head = m;
  w->tail = m;
  lws_callback_on_writable(w->wsi);
}

void net_ws_close(net *n, uint64_t id, uint16_t code)
{
  wsconn *w = find_conn(n, id);

  if (w == NULL || w->wsi == NULL)
    return;
  w->closing = true;
  w->close_code = code ? code : LWS_CLOSE_STATUS_NORMAL;
  lws_callback_on_writable(w->wsi);
  /* A connection not yet open (or a peer not reading) is killed after a
   * short grace. */
  lws_set_timeout(w->wsi, PENDING_TIMEOUT_CLOSE_SEND, 2);
}

bool net_ws_busy(const net *n)
{
  const wsconn *w;

  for (w = n->conns; w != NULL; w = w->next)
    if (!w->dead)
      return true;
  return false;
}

static void sul_core_cb(lws_sorted_usec_list_t *sul)
{
  net *n = lws_container_of(sul, net, sul_core);

  n->fn(n->ud, NET_EV_TIMER, NET_TIMER_CORE, NULL, 0);
}

static void sul_host_cb(lws_sorted_usec_list_t *sul)
{
  net *n = lws_container_of(sul, net, sul_host);

  n->fn(n->ud, NET_EV_TIMER, NET_TIMER_HOST, NULL, 0);
}

static void sul_wait_cb(lws_sorted_usec_list_t *sul)
{
  (void)sul; /* only wakes lws_service */
}

void net_timer(net *n, int slot, uint64_t delay_ms)
{
  lws_usec_t us = (lws_usec_t)delay_ms * LWS_US_PER_MS;

  if (slot == NET_TIMER_CORE)
    lws_sul_schedule(n->ctx, 0, &n->sul_core, sul_core_cb, us);
  else if (slot == NET_TIMER_WAKE)
    lws_sul_schedule(n->ctx, 0, &n->sul_wake, sul_wait_cb, us);
  else
    lws_sul_schedule(n->ctx, 0, &n->sul_host, sul_host_cb, us);
}

void net_sleep(net *n, uint64_t delay_ms)
{
  uint64_t until = net_now_ms() + delay_ms, t;

  while ((t = net_now_ms()) < until) {
    lws_sul_schedule(n->ctx, 0, &n->sul_wait, sul_wait_cb,
                     (lws_usec_t)(until - t) * LWS_US_PER_MS);
    net_service(n);
  }
  lws_sul_cancel(&n->sul_wait);
}

/* Starts the HTTP request r; returns false when it could not start. */
static bool http_start(net *n, httpreq *r, const char *method,
                       const char *path)
{
  struct lws_client_connect_info ci;
  char full[1024];

  snprintf(full, sizeof full, "%s%s", n->url.base, path);
  memset(&ci, 0, sizeof ci);
  ci.context = n->ctx;
  ci.address = n->url.host;
  ci.port = n->url.port;
  ci.ssl_connection = n->url.tls ? LCCSCF_USE_SSL : 0;
  ci.path = full;
  ci.host = n->hostport;
  ci.origin = n->hostport;
  ci.method = method;
  ci.protocol = "parley-http";
  ci.local_protocol_name = "parley-http";
  ci.userdata = r;
  ci.pwsi = &r->wsi;
  if (lws_client_connect_via_info(&ci) != NULL)
    return true;
  r->wsi = NULL;
  r->dead = true; /* no connection is left to call back */
  return false;
}

/* Says in out->error why the request r failed. */
static void http_failure(const httpreq *r, uint32_t timeout_ms,
                         net_reply *out)
{
  if (!r->done)
    snprintf(out->error, sizeof out->error, "no answer within %u ms",
             (unsigned)timeout_ms);
  else if (r->error[0] != '\0')
    snprintf(out->error, sizeof out->error, "%s", r->error);
  else if (r->status == 0)
    snprintf(out->error, sizeof out->error, "connection failed");
  else
    snprintf(out->error, sizeof out->error, "out of memory");
}

int net_http(net *n, const char *method, const char *path,
             const char *bearer, const char *body, uint32_t timeout_ms,
             net_reply *out)
{
  httpreq *r = calloc(1, sizeof *r);
  uint64_t deadline = net_now_ms() + timeout_ms;
  int rc = -1;

  memset(out, 0, sizeof *out);
  if (r == NULL)
    return -1;
  r->magic = MAGIC_HTTP;
  r->body = body;
  r->body_len = body ? strlen(body) : 0;
  if (bearer != NULL)
    snprintf(r->auth, sizeof r->auth, "Bearer %s", bearer);
  if (!http_start(n, r, method, path))
    r->done = r->failed = true;
  while (!r->done && net_now_ms() < deadline) {
    lws_sul_schedule(n->ctx, 0, &n->sul_wait, sul_wait_cb,
                     (lws_usec_t)(deadline - net_now_ms()) * LWS_US_PER_MS);
    net_service(n);
  }
  lws_sul_cancel(&n->sul_wait);
  if (r->done && !r->failed && r->status != 0) {
    out->status = r->status;
    out->body = r->resp ? r->resp : calloc(1, 1);
    out->len = r->resp_len;
    r->resp = NULL;
    rc = out->body ? 0 : -1;
  }
  if (rc != 0)
    http_failure(r, timeout_ms, out);
  r->body = NULL; /* the caller's body is not used after returning */
  if (r->dead) {
    r->magic = 0;
    free(r->resp);
    free(r);
  } else {
    r->orphan = true; /* freed when libwebsockets destroys it */
    if (r->wsi != NULL)
      lws_set_timeout(r->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
  }
  return rc;
}

void net_reply_free(net_reply *r)
{
  free(r->body);
  r->body = NULL;
  r->len = 0;
}
