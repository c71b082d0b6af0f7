/* The host that runs the sans-I/O server core (include/parley/server.h)
 * on libwebsockets and the SQLite store: what main.c, host.c, ws.c and
 * http_api.c share. Everything here is touched only on the lws service
 * thread, except `stop_requested`. */
#ifndef PARLEY_SERVER_HOST_H
#define PARLEY_SERVER_HOST_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "http_check.h"
#include "limiter.h"
#include "parley/server.h"
#include "store.h"

#define HOST_BUCKETS 256
#define HOST_QUEUE_MAX_BYTES (8u << 20) /* per WebSocket session */
#define HOST_BODY_MAX HTTP_BODY_MAX     /* HTTP request bodies */
#define HOST_DRAIN_MAX_MS 10000
#define HOST_HEADER_DATA_MAX 4096          /* lws max_http_header_data */
#define HOST_WS_PATH HTTP_WS_PATH
#define HOST_SUBPROTOCOL "parley.1"

typedef struct ws_conn ws_conn;
typedef struct http_req http_req;

/* Per-connection data lws allocates for each protocol. */
typedef struct http_pss {
  http_req *req; /* the request being served, if any */
} http_pss;

typedef struct ws_pss {
  ws_conn *c;
} ws_pss;

typedef struct host {
  struct lws_context *lws;
  parley_server *core;
  store *st;
  parley_server_config cfg;
  uint8_t token_sk[64];
  uint64_t token_ttl_ms;
  size_t queue_max_bytes;
  limiter *token_by_address; /* POST /v1/auth/token per client address */
  limiter *token_by_user;    /* ... and per user name (SEC-13) */
  uint32_t max_sessions_per_address; /* SEC-14; 0: no limit */

  uint64_t next_conn_id;
  uint64_t next_api_id;
  ws_conn *conns[HOST_BUCKETS];
  http_req *reqs[HOST_BUCKETS];
  size_t ws_count;   /* WebSocket sessions open */
  size_t http_busy;  /* HTTP requests being read, served or answered */
  size_t http_answer_bytes; /* octets of HTTP answers held */

  /* Times the core asked to be woken at: a min-heap. */
  uint64_t *timers;
  size_t timer_count, timer_cap;
  bool timer_overflow;
  lws_sorted_usec_list_t sul;
  lws_sorted_usec_list_t drain_sul;

  store_batch batch; /* store requests of the current pump */
  atomic_int stop_requested;
  bool draining;
  bool fatal;
  bool destroying; /* the context is being destroyed: no core calls */
  uint64_t drain_deadline_ms;
} host;

/* Unix-epoch milliseconds (CLOCK_REALTIME): the only clock the core sees. */
uint64_t host_now_ms(void);

/* Drains the core's actions and carries them out, then queues the store
 * requests they asked for as one batch. Call after every core event. */
void host_pump(host *h);

/* Takes the store's finished jobs and hands them to the core or to the
 * HTTP API; handles a pending stop request. Runs on the service thread
 * (LWS_CALLBACK_EVENT_WAIT_CANCELLED). */
void host_on_wakeup(host *h);

/* True once a drain has nothing left to wait for. */
bool host_drained(host *h);

/* Frees the host's own allocations (not the core, store or context) and
 * marks the host as going away, so the closes lws reports while its
 * context is destroyed no longer reach the core. Call it right before
 * lws_context_destroy. */
void host_free(host *h);

/* ws.c: the WebSocket protocol callback, and the actions aimed at
 * sessions. */
int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
                void *user, void *in, size_t len);
void ws_send(host *h, parley_conn_id conn, const char *data, size_t len);
void ws_close(host *h, parley_conn_id conn, uint16_t ws_code);
/* The WebSocket sessions open from client address `peer`. */
size_t ws_sessions_from(const host *h, const char *peer);

/* http_api.c: the HTTP protocol callback (first in the protocol list) and
 * the answers that come back asynchronously. */
int http_callback(struct lws *wsi, enum lws_callback_reasons reason,
                  void *user, void *in, size_t len);
void http_api_on_reply(host *h, const parley_api_reply *r);
void http_api_on_done(host *h, const store_done *d);

#endif
