/* parley-conform: the interface a conformance case is written against.
 *
 * A case is a C function that talks to the implementation under test
 * through this interface and nothing else: it opens WebSocket connections,
 * sends frames (well formed or not), waits for the answers the spec
 * promises, and makes HTTP requests to the spec's API. Every octet sent
 * and received is recorded in the case's wire log with a timestamp.
 *
 * Failing is non-local: pc_fail() (and every pc_expect_* helper that does
 * not see what it waits for) ends the case at once, so a case reads as a
 * straight script. Everything a case allocates through this interface
 * (frames, strings, connections, HTTP answers) belongs to its context and
 * is released when the case ends; cases never free anything.
 *
 * Waits take a timeout in milliseconds; PC_WAIT means the run's --timeout
 * (how long any expected answer may take). No wait is unbounded. */
#ifndef PARLEY_CONFORM_PC_H
#define PARLEY_CONFORM_PC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PC_NORETURN _Noreturn
#define PC_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* The spec version every case of this suite belongs to. */
#define PC_SPEC_VERSION "1"

/* Pass as a timeout: the run's --timeout. */
#define PC_WAIT 0u

typedef enum pc_level { PC_MUST, PC_SHOULD, PC_MAY } pc_level;

/* Verdicts. A failed SHOULD case is PC_NON_STRICT, a failed MAY case
 * PC_INFO; PC_SKIP only when the case needs an optional capability the
 * target did not offer (spec section 4.3). */
typedef enum pc_verdict {
  PC_PASS,
  PC_FAIL,
  PC_NON_STRICT,
  PC_INFO,
  PC_SKIP
} pc_verdict;

typedef struct pc_ctx pc_ctx;

typedef struct pc_case {
  const char *id;      /* "send.retry-same-temp-id": area, dot, name */
  const char *title;   /* one sentence: what an implementation must do */
  const char *reqs;    /* requirement ids, space-separated: "SEND-1 SEND-3" */
  pc_level level;      /* the strongest keyword among reqs that it checks */
  const char *cap;     /* optional capability it needs ("typing"), or NULL */
  void (*run)(pc_ctx *t);
} pc_case;

/* A group of cases, one per source file (cases_<name>.c). */
typedef struct pc_suite {
  const char *name;
  bool client_mode;    /* runs against a client (--client), not a server */
  const pc_case *cases;
  size_t count;
} pc_suite;

#define PC_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- ending a case ------------------------------------------------- */

/* The implementation did not do what the spec says: ends the case. */
PC_NORETURN void pc_fail(pc_ctx *t, const char *fmt, ...) PC_PRINTF(2, 3);
/* The case needs capability `cap` and the target did not offer it. Only
 * for optional capabilities; the runner turns a skip of anything else into
 * a failure. */
PC_NORETURN void pc_skip(pc_ctx *t, const char *cap);
/* A line in the case's wire log (what the case is about to do, a value it
 * observed). */
void pc_note(pc_ctx *t, const char *fmt, ...) PC_PRINTF(2, 3);

#define PC_CHECK(t, cond, ...)                                                \
  do {                                                                        \
    if (!(cond))                                                              \
      pc_fail((t), __VA_ARGS__);                                              \
  } while (0)

/* ---- memory and small helpers -------------------------------------- */

void *pc_alloc(pc_ctx *t, size_t size);     /* zeroed */
char *pc_strdup(pc_ctx *t, const char *s);
char *pc_printf(pc_ctx *t, const char *fmt, ...) PC_PRINTF(2, 3);
/* An id unique in this run and across runs: prefix, '-', random letters
 * and a counter; fits `id` of spec section 2.9 when prefix is short. */
const char *pc_uniq(pc_ctx *t, const char *prefix);
uint64_t pc_now_ms(void);                   /* wall clock, for timestamps */
void pc_sleep_ms(unsigned ms);
/* The run's --timeout in milliseconds. */
unsigned pc_wait_ms(const pc_ctx *t);

/* ---- the target ---------------------------------------------------- */

/* GET /v1/config of the target, read once per run (spec section 12.2).
 * Every field is present: the runner fails setup otherwise. */
typedef struct pc_config {
  uint64_t max_frame, max_headers, max_header_line, max_body;
  uint64_t heartbeat_min_ms, heartbeat_max_ms;
  uint64_t dedup_window_ms, typing_ttl_ms, token_ttl_ms;
  uint64_t rate_per_s, rate_burst;
  const char *subprotocol;                  /* "parley.1" */
  const char *ws_path;                      /* "/v1/ws" */
  /* The call timers of section 19. Not required in GET /v1/config: the
   * target's when it states them, else those the runner gave the
   * reference server it started, else the spec's (PC_RING_TIMEOUT_MS,
   * PC_CALL_GRACE_MS). */
  uint64_t ring_timeout_ms, call_grace_ms;
} pc_config;

/* The spec's ring timeout and call grace (section 19). */
#define PC_RING_TIMEOUT_MS 30000u
#define PC_CALL_GRACE_MS 20000u

const pc_config *pc_config_of(const pc_ctx *t);

/* Test accounts (--accounts, or made by the runner for the reference
 * server). Index 0.. ; a case that asks for more accounts than the run has
 * fails with a message naming how many it needs. */
size_t pc_account_count(const pc_ctx *t);
const char *pc_user(pc_ctx *t, int i);
const char *pc_password(pc_ctx *t, int i);
/* A token for account i, shared by the run and fetched again when it is
 * within a minute of expiry. */
const char *pc_token(pc_ctx *t, int i);
/* A new token for account i asking for lifetime `ttl_ms` (0: the server's
 * default), never cached. Fails the case when the request fails. */
const char *pc_token_fresh(pc_ctx *t, int i, uint64_t ttl_ms);
/* A new group conversation made by account `owner` with the accounts in
 * `members` (owner need not be listed; n 0 makes a group of the owner
 * alone). Returns its id; fails the case when the API refuses. */
const char *pc_conv_group(pc_ctx *t, int owner, const int *members,
                          size_t n);

/* ---- HTTP ---------------------------------------------------------- */

typedef struct pc_http {
  int status;               /* 0 when no answer came (see `error`) */
  const char *error;        /* transport error, NULL when an answer came */
  const char *head;         /* status line and fields, as received */
  const char *body;         /* NUL-terminated copy; body_len is exact */
  size_t body_len;
  json_t *json;             /* the body parsed as JSON, or NULL */
} pc_http;

/* One request on a new connection. `token` NULL: no Authorization field;
 * `content_type` NULL: none; `body` NULL: no body and no Content-Length.
 * Never fails the case by itself. */
pc_http *pc_http_request(pc_ctx *t, const char *method, const char *path,
                         const char *token, const char *content_type,
                         const char *body, size_t body_len);
/* The octets of a whole request written as given (for malformed ones). */
pc_http *pc_http_raw(pc_ctx *t, const char *request, size_t len);
/* The value of a header field of the answer (case-insensitive name), or
 * NULL. */
const char *pc_http_field(pc_ctx *t, const pc_http *r, const char *name);
/* Fails the case unless the answer has `status` and, for an error answer,
 * the JSON error body of spec HTTP-2 with `reason` (NULL: any). */
void pc_http_expect(pc_ctx *t, const pc_http *r, int status,
                    const char *reason);

/* ---- WebSocket connections ----------------------------------------- */

typedef struct pc_conn pc_conn;

typedef struct pc_ws_opts {
  const char *path;         /* NULL: the config's ws_path */
  const char *subprotocol;  /* NULL: the config's; "" sends none */
  bool expect_refusal;      /* the upgrade should be refused: then
                               pc_ws_open returns NULL and sets
                               refusal_status */
  int refusal_status;       /* out: HTTP status of a refused upgrade */
} pc_ws_opts;

/* Opens a WebSocket connection to the target. `label` names it in the
 * wire log as a word and a number: the word is `label` without a number
 * it ends in, and the number counts the case's connections of that word
 * ("alice" or "alice-1" -> "alice-1", then "alice-2"). Give the user name
 * for a connection that signs in as an account (pc_user), a word for
 * what it is otherwise ("neg" for one left in NEGOTIATED, "open" for one
 * before HELLO). Fails the case when the upgrade fails (and, with
 * expect_refusal, when it succeeds). */
pc_conn *pc_ws_open(pc_ctx *t, const char *label, pc_ws_opts *opts);

/* A frame as received: verb, headers in order, body. Strings are
 * NUL-terminated copies; body_len is exact (the body may hold NUL). */
typedef struct pc_frame {
  const char *verb;
  size_t header_count;
  const char *names[32];
  const char *values[32];
  bool has_length;
  const char *body;
  size_t body_len;
} pc_frame;

/* The value of header `name`, or NULL. */
const char *pc_hdr(const pc_frame *f, const char *name);
/* The value of header `name` as a number (spec 2.9 `number`); fails the
 * case when it is missing or not a number. */
uint64_t pc_hdr_u64(pc_ctx *t, const pc_frame *f, const char *name);

/* Sends one frame as one WebSocket text message, built by the serializer:
 * verb, then name/value pairs ending with NULL; `body` NULL means no body
 * and no content-length, otherwise content-length is added. */
void pc_send(pc_conn *c, const char *verb, const char *body, ...);
/* The same with an explicit body length (a body may hold any octet). */
void pc_send_n(pc_conn *c, const char *verb, const char *body,
               size_t body_len, ...);
/* Octets as one WebSocket text message, exactly as given (malformed
 * frames, several frames, half a frame). */
void pc_send_text(pc_conn *c, const void *data, size_t len);
/* printf into one text message; write line ends as "\r\n" yourself. */
void pc_send_textf(pc_conn *c, const char *fmt, ...) PC_PRINTF(2, 3);
void pc_send_binary(pc_conn *c, const void *data, size_t len);
/* One text message split into `pieces` WebSocket fragments. */
void pc_send_fragmented(pc_conn *c, const void *data, size_t len,
                        size_t pieces);
/* Raw octets on the connection after the upgrade (a half WebSocket
 * header, garbage). */
void pc_send_raw(pc_conn *c, const void *data, size_t len);
/* Sends a WebSocket close with `code` (0: none) and stops sending. */
void pc_close(pc_conn *c, int code);
/* Drops the TCP connection without a WebSocket close (an abrupt end). */
void pc_drop(pc_conn *c);
/* paused: stops reading from the socket (a slow reader) until called
 * again with false; the kernel buffers fill and the peer's writes back
 * up. While paused nothing is read: pc_recv and pc_expect_none look only
 * at frames set aside earlier and return at once, pc_expect returns a
 * matching frame set aside earlier or fails the case, and
 * pc_expect_close fails the case. */
void pc_pause_reading(pc_conn *c, bool paused);

/* The next frame received, in order, or NULL when none came within
 * `timeout_ms` or the connection closed (pc_closed tells which). Fails
 * the case when the peer sends something that is not one well-formed
 * frame in one text message. Frames set aside by pc_expect come first.
 * On a connection whose reading is paused (pc_pause_reading) it returns
 * a frame set aside earlier, or NULL at once without reading or waiting;
 * pc_closed is false then. */
pc_frame *pc_recv(pc_conn *c, unsigned timeout_ms);
/* Waits for a frame with `verb` whose header `name` equals `value` (name
 * NULL: any frame with the verb). Frames of other kinds that arrive
 * meanwhile are set aside, in order, for later pc_recv / pc_expect calls
 * (live MSG, RECEIPT, TYPING, PRESENCE may come at any time). Fails the
 * case on timeout or close, saying what it waited for and what came. */
pc_frame *pc_expect(pc_conn *c, const char *verb, const char *name,
                    const char *value, unsigned timeout_ms);
/* Waits for the answer to request `req`: the first frame carrying
 * `req: <req>` (ACK, OK, PAGE, SYNCED, ERROR, ...). */
pc_frame *pc_expect_req(pc_conn *c, const char *req, unsigned timeout_ms);
/* Waits for an ERROR with `reason` and checks that its `code` is the
 * registry's code for that reason and `fatal` is as given (-1: either).
 * `req` non-NULL: the ERROR must carry it. Returns the frame. */
pc_frame *pc_expect_error(pc_conn *c, const char *reason, int fatal,
                          const char *req, unsigned timeout_ms);
/* Waits for the connection to close (frames before the close are set
 * aside). Returns the WebSocket close code, 1005 when the close frame had
 * none, or -1 when TCP ended without a close frame. Fails on timeout. */
int pc_expect_close(pc_conn *c, unsigned timeout_ms);
/* Fails the case if a frame with `verb` (NULL: any frame) arrives within
 * `ms`; frames of other verbs are set aside. */
void pc_expect_none(pc_conn *c, const char *verb, unsigned ms);
bool pc_closed(const pc_conn *c);
const char *pc_conn_label(const pc_conn *c);

/* ---- sessions ------------------------------------------------------ */

typedef struct pc_session_opts {
  const char *device;       /* NULL: a unique one */
  const char *caps;         /* NULL: "receipts,typing,presence" */
  uint64_t heartbeat_ms;    /* 0: 60000 */
  bool sync;                /* true: send SYNC without `since` after READY
                               and wait for its SYNCED (pc_pos) */
} pc_session_opts;

/* A session of account `user` in READY: opens a connection, HELLO,
 * WELCOME, AUTH, READY and, with opts->sync, a SYNC without `since`
 * (spec 8.1: no past events, only SYNCED with the current position).
 * Live events reach the session from READY on either way (DELIV-1).
 * Fails the case at any wrong answer. `opts` may be NULL. */
pc_conn *pc_session(pc_ctx *t, int user, const pc_session_opts *opts);
/* The WELCOME and READY frames the session got. */
const pc_frame *pc_welcome(const pc_conn *c);
const pc_frame *pc_ready(const pc_conn *c);
const char *pc_device(const pc_conn *c);
/* The position of the session's last SYNCED, or NULL before one. */
const char *pc_pos(const pc_conn *c);

/* ---- additions ----------------------------------------------------- */

/* Runs fn(arg) when the case ends, however it ends (a pass, pc_fail,
 * pc_skip); the last registered runs first. For what a case holds that
 * the context does not own, such as jansson objects or malloc'd text,
 * which a failing check would otherwise leak. */
void pc_defer(pc_ctx *t, void (*fn)(void *arg), void *arg);

/* The target's host and port as a Host field value ("127.0.0.1:8080",
 * "[::1]:8080"), for HTTP requests a case writes out itself
 * (pc_http_raw); "" when the run has no target (client mode). The string
 * belongs to the context. */
const char *pc_target_host(const pc_ctx *t);

/* For a session a case signs in itself (its own HELLO and AUTH) only to
 * set something up: when `answer`, the answer to an AUTH on c, is ERROR
 * rate-limited (the target's limit on sessions, spec 17.2 and SEC-14),
 * waits a short backoff and returns true, and the case sends the AUTH
 * again on c; returns false for any other answer. Once the refusals go
 * on for as long as a connection has to reach READY (LIFE-3), fails the
 * case saying that the target's limits are below what --jobs needs.
 * pc_session does this itself. Not for a case that checks the refusal. */
bool pc_auth_retry(pc_conn *c, const pc_frame *answer);

/* ---- headers that may be missing ----------------------------------- */

/* A server under test may leave out any header, so a case never hands a
 * pc_hdr value to strcmp, strlen or printf without knowing it is there.
 * These helpers are implemented in pc_more.c. */

/* Whether f carries header `name` with exactly `value` (octet for
 * octet); false when the header is missing. */
bool pc_hdr_is(const pc_frame *f, const char *name, const char *value);
/* The value of header `name`; fails the case, naming the verb and the
 * header, when it is missing. For a header the spec requires there. */
const char *pc_hdr_need(pc_ctx *t, const pc_frame *f, const char *name);
/* The value of header `name` for a message: "(none)" when it is missing.
 * Never NULL. */
const char *pc_hdr_show(const pc_frame *f, const char *name);
/* `s`, or "(none)" when s is NULL: for printing a value that may be
 * missing. */
const char *pc_show(const char *s);

#endif
