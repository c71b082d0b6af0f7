/* The sans-I/O server core of spec/parley-1.md.
 *
 * The host feeds it events (a session opened, a WebSocket message arrived,
 * a session closed, the time is now T, a store request finished, an HTTP
 * API request) and drains actions (send these frame bytes on that session,
 * close that session, run this store request, wake me at T, answer that
 * API request, log this line). The core never touches a socket, a file,
 * SQLite or the wall clock: the time comes in every call, and randomness
 * from the seed in the config.
 *
 * Invariants the core keeps: per conversation, sequence numbers are handed
 * out 1, 2, 3, ... and a message is acknowledged and delivered only after
 * the store said its append is durable; positions (pos) grow by one per
 * stored event across the whole server. Store requests must be completed
 * in the order they were issued (the reference store is one FIFO thread),
 * which is what keeps the durable events a prefix.
 *
 * Calls (spec section 19) live in memory only while they are not ended;
 * their record goes to the store as CALL_EVENT writes in the same order,
 * which the core does not wait for before it relays call frames. */
#ifndef PARLEY_SERVER_H
#define PARLEY_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/error.h"
#include "parley/frame.h"
#ifdef PARLEY_FAULTS
#include "parley/faults.h"
#endif

#define PARLEY_ID_MAX 64     /* conv ids, temp-ids, device ids, req ids */
#define PARLEY_USER_MAX 32   /* user names: [a-z0-9_.-]{1,32} */
#define PARLEY_CTYPE_MAX 127 /* content-type */
#define PARLEY_TITLE_MAX 200 /* conversation title, UTF-8 octets */
#define PARLEY_MEMBERS_MAX 256

typedef uint64_t parley_conn_id;

typedef enum parley_receipt_kind {
  PARLEY_RECEIPT_DELIVERED = 1,
  PARLEY_RECEIPT_READ = 2
} parley_receipt_kind;

typedef enum parley_conv_kind {
  PARLEY_CONV_DIRECT = 1, /* exactly two members, one per pair of users */
  PARLEY_CONV_GROUP = 2
} parley_conv_kind;

/* A stored message. `body` is borrowed: valid for the call or action that
 * carries it. */
typedef struct parley_msg {
  uint64_t pos;
  char conv[PARLEY_ID_MAX + 1];
  uint64_t seq;
  char msg_id[PARLEY_ID_MAX + 1];
  char from[PARLEY_USER_MAX + 1];
  char device[PARLEY_ID_MAX + 1];
  char temp_id[PARLEY_ID_MAX + 1];
  uint64_t ts_ms;
  char content_type[PARLEY_CTYPE_MAX + 1];
  const char *body;
  size_t body_len;
} parley_msg;

/* A stored receipt: `user` has `kind` up to `seq` in `conv`. */
typedef struct parley_receipt {
  uint64_t pos;
  char conv[PARLEY_ID_MAX + 1];
  char user[PARLEY_USER_MAX + 1];
  parley_receipt_kind kind;
  uint64_t seq;
  uint64_t ts_ms;
} parley_receipt;

typedef enum parley_event_type {
  PARLEY_EVENT_MSG = 1,
  PARLEY_EVENT_RECEIPT = 2
} parley_event_type;

typedef struct parley_event {
  parley_event_type type;
  parley_msg msg;         /* when type == PARLEY_EVENT_MSG */
  parley_receipt receipt; /* when type == PARLEY_EVENT_RECEIPT */
} parley_event;

typedef struct parley_conv_info {
  char id[PARLEY_ID_MAX + 1];
  parley_conv_kind kind;
  char title[PARLEY_TITLE_MAX + 1];
  uint64_t last_seq;
  uint64_t created_ms;
  size_t member_count;
  char members[PARLEY_MEMBERS_MAX][PARLEY_USER_MAX + 1];
} parley_conv_info;

typedef enum parley_store_op {
  PARLEY_STORE_APPEND_MSG = 1,     /* durable append of one message */
  PARLEY_STORE_APPEND_RECEIPT = 2, /* durable append of one receipt */
  PARLEY_STORE_CREATE_CONV = 3,    /* durable insert of a conversation */
  PARLEY_STORE_READ_EVENTS = 4,    /* a user's events after a pos */
  PARLEY_STORE_READ_HISTORY = 5,   /* one conversation's messages */
  PARLEY_STORE_CALL_EVENT = 6      /* one event of a call's record */
} parley_store_op;

#define PARLEY_MEDIA_MAX 7    /* "audio", "video" */
#define PARLEY_REASON_MAX 64  /* reasons of LEAVE, HANGUP, CALL-END */

/* What happened to a call (spec section 19), as the call record keeps
 * it. JOINED, LEFT and REJOINED are the rows of the call's event list and
 * are numbered 1, 2, 3, ... in `seq`; CREATED and ENDED change the call
 * itself and carry the seq of the last row before them. */
typedef enum parley_call_event_kind {
  PARLEY_CALL_REC_CREATED = 1,  /* CALL: conv, media; user/device: caller */
  PARLEY_CALL_REC_JOINED = 2,   /* a participant joined (the caller too) */
  PARLEY_CALL_REC_LEFT = 3,     /* a participant left; reason */
  PARLEY_CALL_REC_REJOINED = 4, /* a participant came back within the grace */
  PARLEY_CALL_REC_ENDED = 5     /* the call ended; reason */
} parley_call_event_kind;

/* One event of a call's record, for PARLEY_STORE_CALL_EVENT. */
typedef struct parley_call_event {
  char call[PARLEY_ID_MAX + 1];
  uint64_t seq;
  parley_call_event_kind kind;
  uint64_t ts_ms;
  char conv[PARLEY_ID_MAX + 1];
  char media[PARLEY_MEDIA_MAX + 1];   /* CREATED */
  char user[PARLEY_USER_MAX + 1];     /* empty for ENDED */
  char device[PARLEY_ID_MAX + 1];
  char reason[PARLEY_REASON_MAX + 1]; /* LEFT, ENDED; else empty */
  bool answered; /* JOINED: this join made the call active */
} parley_call_event;

typedef struct parley_store_req {
  uint64_t id; /* echoed in the result */
  parley_store_op op;
  parley_msg msg;          /* APPEND_MSG; body borrowed until done */
  parley_receipt receipt;  /* APPEND_RECEIPT */
  const parley_conv_info *conv; /* CREATE_CONV; borrowed until done */
  parley_call_event call_event; /* CALL_EVENT */
  struct {
    char user[PARLEY_USER_MAX + 1];
    uint64_t after_pos; /* exclusive */
    uint64_t upto_pos;  /* inclusive */
    size_t limit;
  } read_events;
  struct {
    char conv[PARLEY_ID_MAX + 1];
    uint64_t before_seq; /* exclusive; 0: from the newest, walking back */
    uint64_t after_seq;  /* exclusive; used when before_seq == 0 and
                            forward is set */
    bool forward;
    size_t limit;
  } read_history;
} parley_store_req;

/* What the host reports when a store request finished. For reads,
 * `events` holds up to `limit` events in ascending pos (READ_EVENTS) or
 * ascending seq (READ_HISTORY) order, and `more` says whether the range
 * holds further ones. The core copies what it keeps. */
typedef struct parley_store_result {
  uint64_t id;
  bool ok; /* false: the store failed; the core stops (fatal) */
  const parley_event *events;
  size_t event_count;
  bool more;
} parley_store_result;

typedef enum parley_action_kind {
  PARLEY_ACT_SEND = 1,      /* send `data` as one WebSocket text message */
  PARLEY_ACT_CLOSE = 2,     /* close `conn` with `ws_code` after sends */
  PARLEY_ACT_STORE = 3,     /* run `store`; report with on_store_done */
  PARLEY_ACT_TIMER = 4,     /* call on_time at or after `at_ms` */
  PARLEY_ACT_API_REPLY = 5, /* answer HTTP API request `api_id` */
  PARLEY_ACT_LOG = 6,       /* log `data` at `log_level` for `conn` */
  PARLEY_ACT_FATAL = 7      /* the core cannot go on (store failed) */
} parley_action_kind;

typedef enum parley_log_level {
  PARLEY_LOG_DEBUG = 0,
  PARLEY_LOG_INFO = 1,
  PARLEY_LOG_WARN = 2,
  PARLEY_LOG_ERROR = 3
} parley_log_level;

/* The answer to an HTTP API request (see parley_server_api_*). */
typedef struct parley_api_reply {
  uint64_t api_id;
  parley_err err;                /* PARLEY_OK or the error */
  const parley_conv_info *conv;  /* create_conv */
  bool created;                  /* create_conv: new, not an existing one */
  const parley_event *events;    /* history: messages, ascending seq */
  size_t event_count;
  bool more;
  const char *cursor;            /* history: next cursor when more */
} parley_api_reply;

/* One action. Pointers in it stay valid until the next call into the
 * core; the host copies what it keeps. */
typedef struct parley_action {
  parley_action_kind kind;
  parley_conn_id conn;
  const char *data; /* SEND: frame octets; LOG: the line, NUL-terminated */
  size_t len;
  uint16_t ws_code;         /* CLOSE */
  uint64_t at_ms;           /* TIMER */
  parley_log_level log_level;
  const parley_store_req *store;  /* STORE */
  const parley_api_reply *api;    /* API_REPLY */
} parley_action;

typedef struct parley_server_config {
  parley_limits limits;
  uint32_t heartbeat_min_ms;     /* 0: 200 */
  uint32_t heartbeat_max_ms;     /* 0: 120000 */
  uint32_t handshake_timeout_ms; /* 0: 10000 */
  uint64_t dedup_window_ms;      /* 0: 24 hours */
  uint32_t typing_ttl_ms;        /* 0: 6000 */
  uint32_t max_errors;           /* malformed messages before close; 0: 16 */
  uint32_t rate_per_s;           /* frames per second per session; 0: 200 */
  uint32_t rate_burst;           /* bucket size; 0: 400 */
  uint8_t token_public_key[32];  /* Ed25519, verifies AUTH tokens */
  uint8_t cursor_key[32];        /* keys the MAC in history cursors */
  uint64_t seed;                 /* seeds ids and anything random */
  /* Live events held back for one session while it runs SYNC; past it
   * the held events are dropped and read again from the store, so memory
   * stays bounded and nothing is lost. 0: 1024. */
  uint32_t sync_hold_max;
  /* READY sessions one user may hold at once; an AUTH that would pass
   * it gets rate-limited and the session stays unauthenticated (SEC-14).
   * 0: 64. */
  uint32_t max_sessions_per_user;
  /* Calls (spec section 19). A call nobody answers ends with no-answer
   * after ring_timeout_ms (0: 30000); a participant whose session closed
   * is away and leaves with `disconnected` after call_grace_ms without a
   * rejoin (0: 20000). At most max_calls calls are live at once on the
   * server (0: 4096); a CALL past it gets rate-limited. */
  uint32_t ring_timeout_ms;
  uint32_t call_grace_ms;
  uint32_t max_calls;
#ifdef PARLEY_FAULTS
  /* Test builds only: the one planted protocol fault (parley/faults.h);
   * PARLEY_FAULT_NONE, the zero value, plants none. */
  parley_fault fault;
#endif
} parley_server_config;

/* True when the configuration `cfg` plants fault NAME (parley/faults.h,
 * without the PARLEY_FAULT_ prefix). Outside the test builds it is
 * constant false, and a branch it guards compiles to nothing. */
#ifdef PARLEY_FAULTS
#define PARLEY_FAULT(cfg, NAME) ((cfg)->fault == PARLEY_FAULT_##NAME)
#else
#define PARLEY_FAULT(cfg, NAME) false
#endif

typedef struct parley_server parley_server;

/* Returns a core, or NULL when memory runs out. */
parley_server *parley_server_new(const parley_server_config *cfg);
void parley_server_free(parley_server *s);

/* Loading at start-up, before any event: what the store holds. */
parley_err parley_server_load_conv(parley_server *s,
                                   const parley_conv_info *conv);
parley_err parley_server_load_receipt(parley_server *s,
                                      const parley_receipt *r);
/* A stored message whose temp-id is still inside the dedup window. */
parley_err parley_server_load_sent(parley_server *s, const parley_msg *m);
void parley_server_load_pos(parley_server *s, uint64_t last_pos);

/* Events. Each may queue actions; drain them with next_action. */
void parley_server_on_open(parley_server *s, parley_conn_id conn,
                           uint64_t now_ms);
void parley_server_on_message(parley_server *s, parley_conn_id conn,
                              const char *data, size_t len, bool binary,
                              uint64_t now_ms);
void parley_server_on_close(parley_server *s, parley_conn_id conn,
                            uint64_t now_ms);
void parley_server_on_time(parley_server *s, uint64_t now_ms);
void parley_server_on_store_done(parley_server *s,
                                 const parley_store_result *res,
                                 uint64_t now_ms);
/* Stop taking frames: every session gets going-away and a close with
 * WebSocket code 1001; pending store requests still complete. */
void parley_server_drain(parley_server *s, uint64_t now_ms);

/* HTTP API requests. `user` is the authenticated caller (the host checks
 * the bearer token with parley_token_verify and that members exist). The
 * answer comes as a PARLEY_ACT_API_REPLY with the same api_id. */
void parley_server_api_create_conv(parley_server *s, uint64_t api_id,
                                   const char *user, parley_conv_kind kind,
                                   const char *title,
                                   const char *const *members,
                                   size_t member_count, uint64_t now_ms);
void parley_server_api_history(parley_server *s, uint64_t api_id,
                               const char *user, const char *conv,
                               const char *cursor, size_t limit,
                               uint64_t now_ms);
/* Synchronous: fills *out when `user` is a member, else not-found. */
parley_err parley_server_conv_info(const parley_server *s, const char *user,
                                   const char *conv, parley_conv_info *out);
/* Synchronous: calls fn once for each durable conversation `user` is a
 * member of (none for a user the core does not know), in no promised
 * order; `info` is valid during the call only. Returns PARLEY_OK, or
 * PARLEY_E_INTERNAL (before any call) when memory runs out. */
parley_err parley_server_list_convs(const parley_server *s, const char *user,
                                    void (*fn)(void *ud,
                                               const parley_conv_info *info),
                                    void *ud);

/* Takes the next queued action; returns false when there is none. */
bool parley_server_next_action(parley_server *s, parley_action *out);

#endif
