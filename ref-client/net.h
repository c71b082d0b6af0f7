/* The reference client's network layer on libwebsockets: one WebSocket
 * connection at a time for the protocol (subprotocol `parley.1` on
 * /v1/ws), blocking HTTP requests for the HTTP API, and timers. Events
 * (connected, a message, disconnected, a timer fired) go to one handler;
 * everything runs on the caller's thread inside net_service and
 * net_http. */
#ifndef PARLEY_CLIENT_NET_H
#define PARLEY_CLIENT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum net_event_kind {
  NET_EV_CONNECTED = 1,    /* the WebSocket `id` is open */
  NET_EV_MESSAGE = 2,      /* a text message arrived on `id` */
  NET_EV_DISCONNECTED = 3, /* `id` closed or failed; reported once */
  NET_EV_TIMER = 4         /* timer slot `id` fired */
} net_event_kind;

#define NET_TIMER_CORE 0
#define NET_TIMER_HOST 1
/* Only makes net_service return (no event): for a command's own
 * deadlines, checked by its service hook. */
#define NET_TIMER_WAKE 2

/* data is valid only during the call. */
typedef void (*net_event_fn)(void *ud, net_event_kind kind, uint64_t id,
                             const char *data, size_t len);

typedef struct net_url {
  char host[256];
  int port;
  bool tls;
  char base[256]; /* path prefix without a trailing slash; may be "" */
} net_url;

typedef struct net_reply {
  int status;  /* the HTTP status */
  char *body;  /* NUL-terminated, owned; free with net_reply_free */
  size_t len;
  char error[128]; /* when net_http failed: why, for people */
} net_reply;

typedef struct net net;

/* Parses http://HOST[:PORT][/BASE] or https://... (the scheme in any
 * case; the host is kept in lower case). Returns false when the text is
 * not such a URL. */
bool net_url_parse(const char *text, net_url *out);
/* Writes the URL in one spelling: lower-case scheme and host, the port
 * only when it is not the scheme's default, no trailing slash. Two
 * spellings of one server give the same text. */
void net_url_format(const net_url *url, char *out, size_t cap);

/* Returns a network layer, or NULL when libwebsockets cannot start.
 * `verbose` lets libwebsockets log its own warnings. */
net *net_new(const net_url *url, net_event_fn fn, void *ud, bool verbose);
void net_free(net *n);

/* Waits for network activity or a timer and dispatches the events. */
void net_service(net *n);
/* Makes a blocked net_service return; safe in a signal handler. */
void net_wake(net *n);

/* Opens WebSocket `id`. Failure is reported as NET_EV_DISCONNECTED, whose
 * data then says why when libwebsockets did (else it is empty). */
void net_ws_connect(net *n, uint64_t id);
/* Queues one text message on `id`; dropped when `id` is gone. */
void net_ws_send(net *n, uint64_t id, const char *data, size_t len);
/* Closes `id` with WebSocket status `code` (0: 1000) after what was
 * queued on it. */
void net_ws_close(net *n, uint64_t id, uint16_t code);
/* True while any WebSocket is still open or opening. */
bool net_ws_busy(const net *n);

/* Arms timer `slot` to fire after delay_ms (replacing its earlier
 * setting). */
void net_timer(net *n, int slot, uint64_t delay_ms);

/* Services the network for delay_ms (WebSocket events keep flowing). */
void net_sleep(net *n, uint64_t delay_ms);

/* One HTTP request to the API: `path` below the base, optional bearer
 * token and JSON body. Returns 0 with *out filled (whatever the status),
 * or -1 with out->error saying why when the server could not be reached
 * or did not answer within timeout_ms. WebSocket events keep flowing
 * while it waits. */
int net_http(net *n, const char *method, const char *path,
             const char *bearer, const char *body, uint32_t timeout_ms,
             net_reply *out);
void net_reply_free(net_reply *r);

/* Milliseconds since the Unix epoch. */
uint64_t net_now_ms(void);

#endif
