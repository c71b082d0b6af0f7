/* Helpers shared by the frame, hello, auth, hb, error and http suites:
 * sessions stopped at a given state of spec section 4.2, the checks that
 * a session is still alive or was ended by a fatal error, and malformed
 * messages sent one after another without reaching the server's limit on
 * malformed messages (WS-4). Everything goes through pc.h. */
#ifndef PARLEY_CONFORM_CA_UTIL_H
#define PARLEY_CONFORM_CA_UTIL_H

#include "pc.h"

/* The most malformed messages a helper sends on one connection before it
 * opens a new one: well below the 16 of WS-4. */
#define CA_BAD_PER_CONN 12

/* A connection in NEGOTIATED: opens it, sends HELLO (versions 1, no caps,
 * heartbeat `hb_ms`, 0 for 60000) and waits for WELCOME, which it returns
 * in *welcome when welcome is not NULL. No live event ever reaches a
 * NEGOTIATED session, so the frames that come on it are answers only. */
pc_conn *ca_negotiated(pc_ctx *t, const char *label, uint64_t hb_ms,
                       const pc_frame **welcome);

/* A READY session of account `user` with `token` (NULL: the run's token)
 * and `device` (NULL: a unique one): HELLO and AUTH sent one after the
 * other, then WELCOME and READY awaited. No caps, so no relayed TYPING or
 * PRESENCE. The READY frame goes to *ready when ready is not NULL. */
pc_conn *ca_ready(pc_ctx *t, int user, const char *token,
                  const char *device, uint64_t hb_ms,
                  const pc_frame **ready);

/* Sends PING with a fresh nonce and req and fails unless the very next
 * frame received is its PONG (for NEGOTIATED sessions, where nothing
 * else comes unasked): the frames sent before were not answered with
 * anything but what the case already read. */
void ca_pong_next(pc_ctx *t, pc_conn *c);
/* The same for READY sessions: waits for the PONG, setting aside live
 * events that come meanwhile. */
void ca_pong(pc_ctx *t, pc_conn *c);
/* The session is still READY: SYNC without `since` gets SYNCED. */
void ca_still_ready(pc_ctx *t, pc_conn *c);

/* Waits for a fatal ERROR with `reason` (carrying `req` when not NULL),
 * then for the close, and fails when a PONG came at any time (a PING sent
 * after the failing frame was acted on: ERR-4). Returns the WebSocket
 * close code (see pc_expect_close). */
int ca_fatal(pc_ctx *t, pc_conn *c, const char *reason, const char *req);

/* Waits for the non-fatal ERROR `reason` of a malformed message. Such an
 * ERROR need not carry a `req`, but one it carries must be `req`, the one
 * the message held before its fault (NULL: none). */
const pc_frame *ca_frame_error(pc_ctx *t, pc_conn *c, const char *reason,
                               const char *req);

/* Fails unless f (a frame already received) is an ERROR with `reason`,
 * the registry's code for it, `fatal` (1: yes, 0: no, -1: either) and,
 * when req is not NULL, that req. */
void ca_is_error(pc_ctx *t, const pc_frame *f, const char *reason,
                 int fatal, const char *req);

/* One malformed message of a table: its octets, the error the spec gives
 * it, and the `req` it holds before its fault (NULL: none). */
typedef struct ca_sample {
  const char *what;
  const char *octets;
  size_t len;
  const char *reason;
  const char *req;
} ca_sample;

/* A sample from a string literal (its exact length, NUL octets kept). */
#define CA_S(what, lit, reason, req) {what, lit, sizeof(lit) - 1, reason, req}

/* Sends each sample in its own text message on NEGOTIATED connections
 * (a new one every CA_BAD_PER_CONN messages), expecting its error and
 * then, as the very next frame, the PONG of a PING: the session goes on
 * and acted on nothing of the message. */
void ca_each_bad(pc_ctx *t, const char *label, const ca_sample *s,
                 size_t n);

/* POST of `body` (taken: decref'd here) as application/json to `path`
 * with `token` (NULL: none). */
pc_http *ca_post_json(pc_ctx *t, const char *path, const char *token,
                      json_t *body);
/* POST /v1/auth/token for account `user` with the password of the run,
 * and `ttl_ms` when not 0. Fails the case unless the answer is 200 with
 * a string token and an integer expires_ms, which go to *expires_ms. */
const char *ca_token_req(pc_ctx *t, int user, uint64_t ttl_ms,
                         uint64_t *expires_ms);

/* n octets of `ch`, NUL-terminated. */
char *ca_fill(pc_ctx *t, char ch, size_t n);
/* A fresh request id. */
const char *ca_req(pc_ctx *t);
/* The account `k` of the run modulo the number of accounts but the last:
 * spreads the token requests of the cases over the accounts (SEC-13
 * limits them per user name) and leaves the last account, the subject of
 * the presence cases, to them. */
int ca_acct(pc_ctx *t, int k);
/* Whether the comma-separated list holds `item`. */
bool ca_list_has(const char *list, const char *item);
/* The registry's code for `reason`, or 0 when it has none. */
int ca_code(const char *reason);
/* Fails unless the frame is an ERROR whose body holds `name` (FRAME-11:
 * the body names the header). */
void ca_body_names(pc_ctx *t, const pc_frame *f, const char *name);

#endif
