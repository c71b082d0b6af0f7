/* parley-conform client mode: a scripted Parley/1 server on 127.0.0.1,
 * for the client under test (the driver, driver.h) to connect to.
 *
 * ps_start listens on a port the kernel picks, starts the client through
 * the driver and sends it `connect`. A thread of the server accepts every
 * TCP connection: it answers the HTTP API itself (POST /v1/auth/token,
 * GET /v1/config, GET /v1/conversations[/ID[/messages]]) and, for a
 * WebSocket upgrade of /v1/ws, accepts it and hands the connection to
 * the case's thread, which adopts it (pc_conn_adopt) as a `ps_session`.
 * The thread writes only to the wire log and to records under the
 * server's lock; it never fails the case.
 *
 * Everything else runs in the case's thread, inside ps_run: it reads the
 * frames of every open session and of the driver as they come, and
 * answers each frame as a well-behaved server would (section 4 to 10):
 * HELLO, AUTH with a token it issued, SYNC from a position it issued,
 * SEND with dedup by temp-id, HISTORY with cursors, RECEIPT, PING, BYE.
 * A case misbehaves on purpose through the `ps_script` switches and its
 * own frame hook, and by sending frames itself (twice, out of order, cut
 * in the middle). What the client did is kept for the case to judge:
 * every frame with the time it came, every TCP connection, every token.
 *
 * The model: the client's user ("alice") and one other ("bob"),
 * conversations, their messages, and the user's event stream with a
 * position after each event. Positions are opaque letters that sort
 * backwards (each new one is smaller than the last), so a client that
 * orders or compares them gets them wrong (DELIV-7). */
#ifndef PARLEY_CONFORM_SCRIPTED_H
#define PARLEY_CONFORM_SCRIPTED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "pc.h"

struct pw_conn;

typedef struct ps_server ps_server;
typedef struct ps_session ps_session;

/* What the server states (WELCOME and GET /v1/config) and what the
 * client is told with `connect`. Zero fields take the defaults. */
typedef struct ps_opts {
  uint64_t heartbeat_min_ms;  /* 200 */
  uint64_t heartbeat_max_ms;  /* 15000 */
  uint64_t rate, rate_burst;  /* 200, 400 */
  uint64_t max_body;          /* 64512 */
  uint64_t max_frame;         /* 65536 */
  uint64_t token_ttl_ms;      /* 3600000 */
  uint32_t backoff_base_ms;   /* connect's backoff_base_ms: 100 */
  uint32_t backoff_cap_ms;    /* connect's backoff_cap_ms: 400 */
  bool no_connect;            /* do not send `connect` from ps_start */
  const char *name;           /* for a second client in one case ("b"):
                                 its labels in the wire log are
                                 driver-b, http-b1, ws-b1, tcp-b1;
                                 NULL: driver, http-1, ws-1, tcp-1 */
} ps_opts;

/* A stored message. Strings belong to the case. */
typedef struct ps_msg {
  const char *conv, *msg_id, *from, *device, *temp_id, *pos;
  uint64_t seq, ts;
  const char *body;
  size_t body_len;
  size_t event;               /* its index in the event stream */
} ps_msg;

/* A session: one WebSocket connection from the client. The server fills
 * every field; cases read them. */
struct ps_session {
  ps_server *srv;
  size_t index;               /* 0, 1, ... in the order of the upgrades */
  pc_conn *c;
  struct pw_conn *w;
  const char *label;          /* "ws-1", ... */
  uint64_t opened_ms;         /* monotonic: the upgrade was answered */
  bool no_subprotocol;        /* 101 without parley.1 (CLI-1) */
  size_t frames;              /* frames received on it */
  bool hello, welcomed, ready, synced;
  bool bye_sent, bye_rx;      /* BYE from this server / from the client */
  size_t refreshes;           /* fresh AUTHs accepted in READY */
  uint64_t refresh_wall_ms;   /* wall clock: the first of them */
  const char *refresh_token;  /* its token */
  bool closed;                /* the client closed it or the TCP ended */
  bool server_closed;         /* this server closed or dropped it */
  uint64_t closed_ms;         /* monotonic, when closed became true */
  int close_code;             /* the client's close status; -1: no close
                                 frame, the TCP ended */
  uint64_t heartbeat_ms;      /* the interval WELCOME stated */
  const char *caps;           /* of HELLO, or NULL */
  const char *device;         /* of the first AUTH */
  const char *token;          /* of the first AUTH */
  uint64_t last_rx_ms;        /* monotonic: the last frame from the client */
  uint64_t last_tx_ms;        /* monotonic: the last frame to the client */
  /* SYNC */
  size_t syncs;               /* SYNC frames received */
  bool sync_has_since;
  const char *since;          /* of the last SYNC */
  const char *sync_req;
  bool sync_held;             /* a SYNC waits for ps_answer_sync */
};

/* One frame from the client, as received. */
typedef struct ps_rx {
  ps_session *s;
  pc_frame *f;
  uint64_t mono_ms;
} ps_rx;

/* A TCP connection the server accepted. */
typedef enum ps_conn_kind {
  PS_RESET,                   /* reset at once: the server was down */
  PS_HTTP,                    /* an HTTP API request */
  PS_UPGRADE                  /* a WebSocket upgrade */
} ps_conn_kind;

typedef struct ps_accept {
  uint64_t mono_ms;
  ps_conn_kind kind;
} ps_accept;

/* A token the server issued. */
typedef struct ps_token {
  char *text;
  uint64_t issued_ms;         /* monotonic */
  uint64_t expires_ms;        /* wall clock, as issued */
  bool refused;               /* an AUTH with it was refused */
} ps_token;

/* The frame hook: sees each frame before the server answers it; returns
 * true when it handled the frame itself. */
typedef bool (*ps_frame_fn)(ps_session *s, pc_frame *f, void *ud);

/* The switches a case sets to make the server misbehave. */
typedef struct ps_script {
  const char *welcome_version; /* NULL: "1" */
  const char *hello_error;     /* answer HELLO with this fatal ERROR */
  int auth_refusals;           /* refuse this many AUTHs ... */
  const char *auth_error;      /* ... with this reason (fatal) */
  bool hold_sync;              /* keep SYNCs for ps_answer_sync */
  bool sync_from_start;        /* answer SYNC as if since were 0 */
  bool silent;                 /* answer nothing (no PONG, no ACK) */
  bool fatal_keeps_open;       /* after a fatal ERROR leave it open */
  ps_frame_fn on_frame;
  void *ud;
} ps_script;

/* A predicate for ps_run. */
typedef bool (*ps_until_fn)(ps_server *srv, void *ud);

/* Starts the server and the client, and sends `connect` (unless
 * o->no_connect). `o` may be NULL. */
ps_server *ps_start(pc_ctx *t, const ps_opts *o);
pc_ctx *ps_ctx(const ps_server *srv);
pd *ps_driver(const ps_server *srv);
ps_script *ps_script_of(ps_server *srv);
const char *ps_user(const ps_server *srv);
const char *ps_device(const ps_server *srv);
const char *ps_password(const ps_server *srv);
const char *ps_url(const ps_server *srv);
/* Sends `connect` with the server's url, user, password and device. */
void ps_connect(ps_server *srv);

/* Serves and reads the driver until until(srv, ud) holds; fails the case
 * after timeout_ms (PC_WAIT: the run's) saying it waited for `what`. */
void ps_run(ps_server *srv, unsigned timeout_ms, ps_until_fn until,
            void *ud, const char *what);
/* Serves for `ms` whatever happens. */
void ps_serve_for(ps_server *srv, unsigned ms);

/* Waits for the n-th session (1-based) to exist / to be synced (READY
 * and its SYNC answered); returns it. */
ps_session *ps_await_session(ps_server *srv, size_t n, unsigned timeout_ms);
ps_session *ps_await_synced(ps_server *srv, size_t n, unsigned timeout_ms);
/* Waits until the client shows a message with `body`. */
void ps_await_shown(ps_server *srv, const char *body, unsigned timeout_ms);
/* Waits until the client closed s (or its TCP ended). */
void ps_await_closed(ps_session *s, unsigned timeout_ms);
/* Sends `quit` and serves until the client ends its output and exits;
 * fails unless it exits with status 0 within 5 s (DRV-9). */
void ps_quit(ps_server *srv);
/* The time budget for the client to connect again after a session
 * ended: its backoff cap and the run's timeout. */
unsigned ps_reconnect_ms(const ps_server *srv);

/* The model. */
const char *ps_conv(ps_server *srv);          /* a new conversation */
ps_msg *ps_post(ps_server *srv, const char *conv, const char *from,
                const char *body);            /* stores, delivers nothing */
ps_msg *ps_post_n(ps_server *srv, const char *conv, const char *from,
                  const char *body, size_t len);
/* The MSG frame of m, with `pos` (with_pos) or with `req`. */
char *ps_msg_frame(ps_server *srv, const ps_msg *m, bool with_pos,
                   const char *req, size_t *len);
size_t ps_event_count(const ps_server *srv);
/* An event of a conversation the user is not in: it takes a position
 * and is never sent (the gaps of section 6.1). Returns its position. */
const char *ps_hidden_event(ps_server *srv);
const char *ps_pos_at(const ps_server *srv, size_t event);

/* Sending to the client. */
void ps_deliver(ps_session *s, const ps_msg *m);   /* a live MSG */
void ps_send_text(ps_session *s, const char *text, size_t len);
/* Sends a frame built from name/value pairs ending with NULL (a NULL
 * name ends the list early, for an optional last pair). */
void ps_sendf(ps_session *s, const char *verb, const char *body,
              size_t body_len, ...);
/* ERROR with `reason` and `code` (0: the registry's for the reason);
 * a fatal one closes the connection with the status of LIFE-7 unless
 * the script says fatal_keeps_open. */
void ps_error(ps_session *s, int code, const char *reason, bool fatal,
              const char *req);
/* Sends BYE (the server ends the session, LIFE-6). */
void ps_bye(ps_session *s);
/* Half of m's MSG in one WebSocket frame, then the TCP dropped. */
void ps_cut(ps_session *s, const ps_msg *m);
void ps_drop(ps_session *s);
void ps_close(ps_session *s, int code);
/* Answers the held SYNC with the events after its `since` up to (not
 * including) event `end` (SIZE_MAX: all) and SYNCED naming the last of
 * them. */
void ps_answer_sync(ps_session *s, size_t end);
/* The default handling of a SEND: stores it (or finds its temp-id),
 * answers ACK when `ack`, delivers it live when it is new and `deliver`.
 * Returns the message, or NULL when it was refused. */
ps_msg *ps_take_send(ps_session *s, const pc_frame *f, bool ack,
                     bool deliver);

/* What was seen. */
size_t ps_session_count(const ps_server *srv);
ps_session *ps_session_at(const ps_server *srv, size_t i);
size_t ps_rx_count(const ps_server *srv);
const ps_rx *ps_rx_at(const ps_server *srv, size_t i);
/* Copies of the TCP connections accepted and the tokens issued so far
 * (the arrays belong to the case). */
ps_accept *ps_accepts(ps_server *srv, size_t *n);
size_t ps_token_requests(ps_server *srv);
size_t ps_token_count(ps_server *srv);
bool ps_token_at(ps_server *srv, size_t i, ps_token *out);
/* Every request target the client sent (HTTP and upgrades), copied. */
const char **ps_targets(ps_server *srv, size_t *n);
/* Token requests past the first `n` (from the start of the run) are
 * refused with 401 auth-failed, as for a wrong password. */
void ps_limit_tokens(ps_server *srv, size_t n);
/* Down: every TCP connection is reset at once (a restarting server). */
void ps_set_down(ps_server *srv, bool down);
/* The next upgrade is answered 101 without selecting parley.1 (CLI-1). */
void ps_set_no_subprotocol(ps_server *srv);
/* Protocol faults of the client the server met (one line each), joined
 * with "; ", or NULL. */
const char *ps_faults(ps_server *srv);

#endif
