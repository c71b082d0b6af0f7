/* Internal declarations shared by the files of the server core
 * (server.c, server_util.c, server_msg.c, server_sync.c, server_api.c,
 * server_call.c).
 * Nothing here is part of the public API. */
#ifndef PARLEY_SERVER_INTERNAL_H
#define PARLEY_SERVER_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/frame.h"
#include "parley/server.h"

/* Defaults for zero fields of parley_server_config. */
#define SRV_HEARTBEAT_MIN_MS 200u
#define SRV_HEARTBEAT_MAX_MS 120000u
#define SRV_HEARTBEAT_MIN_CAP_MS 15000u /* HB-1 */
#define SRV_HANDSHAKE_MS 10000u
#define SRV_DEDUP_WINDOW_MS (24ull * 3600 * 1000)
#define SRV_TYPING_TTL_MS 6000u
#define SRV_MAX_ERRORS 16u
#define SRV_RATE_PER_S 200u
#define SRV_RATE_BURST 400u
#define SRV_SYNC_HOLD_MAX 1024u
#define SRV_SESSIONS_PER_USER 64u /* SEC-14 */
#define SRV_SYNC_PAGE 128u
#define SRV_HISTORY_LIMIT 50u
#define SRV_HISTORY_LIMIT_MAX 100u
#define SRV_PRESENCE_TTL_MAX (24ull * 3600 * 1000)
#define SRV_RING_TIMEOUT_MS 30000u
#define SRV_CALL_GRACE_MS 20000u
#define SRV_MAX_CALLS 4096u
#define SRV_CALL_PARTS_MAX 16 /* participants of one call */

/* Capabilities (spec section 4), as bits. */
enum {
  CAP_RECEIPTS = 1u << 0,
  CAP_TYPING = 1u << 1,
  CAP_PRESENCE = 1u << 2,
  CAP_CALLS = 1u << 3
};

/* ---- small containers (server_util.c) ---- */

/* A growable array of pointers; a zeroed struct is empty. */
typedef struct pvec {
  void **items;
  size_t len;
  size_t cap;
} pvec;

bool pvec_push(pvec *v, void *item);
/* Removes the first occurrence of `item` (order is not kept). */
void pvec_remove(pvec *v, const void *item);
void pvec_free(pvec *v);

/* A hash map from byte strings (copied) to pointers (not owned). Keys are
 * hashed with SipHash under a key from the seed, so a peer cannot pick
 * colliding temp-ids. */
typedef struct pmap_slot {
  char *key; /* NULL: empty; PMAP_TOMB: deleted */
  size_t key_len;
  uint64_t hash;
  void *value;
} pmap_slot;

typedef struct pmap {
  pmap_slot *slots;
  size_t cap;  /* a power of two, or 0 */
  size_t live; /* keys present */
  size_t used; /* keys present plus tombstones */
  const unsigned char *hash_key; /* 16 octets, owned by the server */
} pmap;

void pmap_init(pmap *m, const unsigned char *hash_key);
void *pmap_get(const pmap *m, const void *key, size_t key_len);
/* Inserts or replaces; returns false when memory runs out. */
bool pmap_put(pmap *m, const void *key, size_t key_len, void *value);
/* Removes the key; returns its value or NULL. */
void *pmap_del(pmap *m, const void *key, size_t key_len);
/* Frees the map's own memory, not the values. */
void pmap_free(pmap *m);
/* Iteration: slot i is live when pmap_live(m, i). */
bool pmap_live(const pmap *m, size_t i);

/* Reference-counted immutable octets: a frame sent to many sessions is
 * built once. */
typedef struct blob {
  size_t refs;
  size_t len;
  char data[];
} blob;

blob *blob_new(const char *data, size_t len);
blob *blob_ref(blob *b);
void blob_unref(blob *b);

/* ---- the model ---- */

typedef enum sess_state {
  SESS_OPEN = 0,
  SESS_NEGOTIATED = 1,
  SESS_READY = 2
} sess_state;

typedef struct user user;
typedef struct conv conv;
typedef struct pending pending;
typedef struct call call;

/* A live event held back while its session syncs. */
typedef struct held_event {
  uint64_t pos;
  blob *frame;
} held_event;

/* A request id copied out of a frame (empty when absent). */
typedef struct reqid {
  char s[PARLEY_ID_MAX + 1];
  size_t len;
} reqid;

typedef struct session {
  parley_conn_id conn;
  uint64_t serial; /* unique per session, never reused */
  sess_state state;
  parley_parser parser;
  unsigned caps;
  uint32_t heartbeat_ms;
  uint64_t handshake_at; /* deadlines, 0 when not armed */
  uint64_t heartbeat_at;
  uint64_t token_at;
  uint64_t sched_at; /* the timer entry this session relies on */
  uint32_t errors;
  uint64_t bucket_milli; /* token bucket, in thousandths of a frame */
  uint64_t bucket_ms;
  user *user;
  char device[PARLEY_ID_MAX + 1];
  /* Resume (spec 8.1). */
  bool syncing;
  bool sync_overflow;
  bool sync_sent;      /* the answer has sent an event */
  uint64_t sync_last;  /* the pos of the last event it sent */
  uint64_t sync_cursor;
  uint64_t sync_upto;
  reqid sync_req;
  held_event *held;
  size_t held_len;
  size_t held_cap;
  pvec calls; /* calls this session is the bound participant of */
} session;

typedef enum presence_status {
  PRES_OFFLINE = 0,
  PRES_ONLINE = 1,
  PRES_AWAY = 2
} presence_status;

struct user {
  char name[PARLEY_USER_MAX + 1];
  pvec sessions; /* READY sessions */
  pvec convs;    /* durable conversations the user is a member of */
  presence_status presence;
  uint64_t presence_at; /* ttl lapse, 0 when none */
  uint64_t presence_sched;
  uint64_t mark; /* fanout de-duplication generation */
};

/* A member of a conversation and its receipts (RCPT-1). `delivered` and
 * `read` are durable; the want_ values include receipts in flight. */
typedef struct member {
  user *u;
  uint64_t delivered;
  uint64_t read;
  uint64_t want_delivered;
  uint64_t want_read;
} member;

struct conv {
  char id[PARLEY_ID_MAX + 1];
  parley_conv_kind kind;
  char title[PARLEY_TITLE_MAX + 1];
  uint64_t created_ms;
  uint64_t last_seq;    /* assigned, appends in flight included */
  uint64_t durable_seq; /* the last durable message */
  member *members;
  size_t member_count;
  bool durable;
  pending *create; /* the CREATE_CONV in flight, until durable */
  call *live_call; /* the conversation's call that has not ended */
};

/* The temp-id memory of SEND-3, keyed by user, device and temp-id. */
typedef struct dedup {
  char *key;
  size_t key_len;
  conv *c;
  unsigned char body_hash[16];
  char temp_id[PARLEY_ID_MAX + 1];
  char msg_id[PARLEY_ID_MAX + 1];
  uint64_t seq;
  uint64_t ts_ms;
  uint64_t created_ms;
  pending *in_flight; /* the append, until durable */
  struct dedup *next; /* insertion order, for expiry */
} dedup;

/* Something to do when a store write is durable: send a frame on a
 * session (when it still exists) or answer an API request. */
typedef struct waiter {
  parley_conn_id conn;
  uint64_t serial;
  blob *frame;
  uint64_t api_id;
  bool is_api;
  bool created;
  struct waiter *next;
} waiter;

typedef enum pending_kind {
  PEND_MSG = 1,
  PEND_RECEIPT,
  PEND_CONV,
  PEND_SYNC,
  PEND_HISTORY,
  PEND_API_HISTORY,
  PEND_CALL /* a call record event: nothing waits on it */
} pending_kind;

/* A store request in flight. Writes complete in issue order; reads are
 * answered as they complete. */
struct pending {
  uint64_t id;
  pending_kind kind;
  parley_store_req req;
  bool done;
  char *body;               /* PEND_MSG: owned copy of the body */
  parley_conv_info *info;   /* PEND_CONV: owned */
  conv *c;
  member *m;                /* PEND_RECEIPT */
  dedup *d;                 /* PEND_MSG */
  blob *event_frame;        /* the live MSG or RECEIPT frame */
  waiter *waiters;
  waiter **waiters_tail;
  parley_conn_id conn;      /* reads: who asked */
  uint64_t serial;
  reqid req_id;
  uint64_t api_id;
  bool forward;             /* history direction */
  pending *next;
};

/* One queued action with the memory it owns. */
typedef struct act_entry {
  parley_action act;
  blob *data;
  void *owned; /* an api_box for API_REPLY */
} act_entry;

/* The memory behind one API reply. */
typedef struct api_box {
  parley_api_reply reply;
  parley_conv_info *conv;
  parley_event *events;
  char *bodies;
  char cursor[64];
} api_box;

typedef enum timer_kind {
  TIMER_SESSION = 1,
  TIMER_PRESENCE = 2,
  TIMER_CALL = 3
} timer_kind;

typedef struct timer_entry {
  uint64_t at;
  timer_kind kind;
  parley_conn_id conn; /* TIMER_SESSION; TIMER_CALL: the call's serial */
  user *u;             /* TIMER_PRESENCE */
} timer_entry;

struct parley_server {
  parley_server_config cfg; /* defaults filled in */
  unsigned char hash_key[16];
  uint64_t rng;
  uint64_t now;
  pmap sessions; /* conn id -> session */
  pmap convs;    /* conv id -> conv */
  pmap users;    /* name -> user */
  pmap dedups;   /* user, device, temp-id -> dedup */
  pmap directs;  /* sorted pair of users -> conv */
  pmap calls;    /* call id -> live call */
  pmap call_serials; /* call serial -> live call (timers) */
  uint64_t next_call_serial;
  void *sdp_scratch; /* a parley_sdp, made on first use */
  dedup *dedup_head;
  dedup *dedup_tail;
  uint64_t last_pos;    /* assigned, appends in flight included */
  uint64_t durable_pos; /* the last durable event */
  uint64_t next_store_id;
  uint64_t next_serial;
  uint64_t mark;
  pending *writes; /* in issue order */
  pending *writes_tail;
  pending *reads;
  timer_entry *timers; /* a binary min-heap on `at` */
  size_t timer_len;
  size_t timer_cap;
  uint64_t timer_armed;
  act_entry *acts;
  size_t act_len;
  size_t act_cap;
  size_t act_head; /* the next action to hand out */
  bool failed;
  bool draining;
};

/* ---- frames (server_util.c) ---- */

/* A frame under construction; the first serializer error sticks. */
typedef struct fbuild {
  parley_buf b;
  parley_err err;
} fbuild;

void fb_begin(fbuild *fb, const char *verb);
void fb_hdr(fbuild *fb, const char *name, const char *value);
void fb_hdr_n(fbuild *fb, const char *name, const char *value, size_t len);
void fb_u64(fbuild *fb, const char *name, uint64_t value);
void fb_req(fbuild *fb, const reqid *req);
/* Ends the frame and returns it as a blob (NULL on error; the buffer is
 * freed either way). */
blob *fb_finish(fbuild *fb, const char *body, size_t body_len, bool force);

/* ---- validation and ids (server_util.c) ---- */

bool srv_id_valid(const char *s, size_t len);   /* [A-Za-z0-9_-]{1,64} */
bool srv_user_valid(const char *s, size_t len); /* [a-z0-9_.-]{1,32} */
/* Decimal without leading zeros, at most UINT64_MAX. */
uint64_t srv_rand(parley_server *s);
void srv_copy(char *dst, size_t cap, const char *src, size_t len);

/* ---- actions (server_util.c) ---- */

act_entry *act_push(parley_server *s, parley_action_kind kind,
                    parley_conn_id conn);
void act_send(parley_server *s, parley_conn_id conn, blob *frame);
void act_close(parley_server *s, parley_conn_id conn, uint16_t ws_code);
void act_log(parley_server *s, parley_conn_id conn, parley_log_level lvl,
             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void act_store(parley_server *s, const parley_store_req *req);
void act_api(parley_server *s, api_box *box);
/* Queues an API reply that carries only `err`. */
void act_api_error(parley_server *s, uint64_t api_id, parley_err err);
/* Stops the core; `why` must be a string literal. */
void act_fatal(parley_server *s, const char *why);
/* Frees actions already handed out; called when an event starts. */
void act_gc(parley_server *s);
void act_free_all(parley_server *s);
void api_box_free(api_box *box);

/* ---- timers (server_util.c) ---- */

void timer_push(parley_server *s, timer_entry e);
bool timer_top(parley_server *s, timer_entry *out); /* skips stale */
void timer_pop(parley_server *s);
void session_sched(parley_server *s, session *ss);
void presence_sched(parley_server *s, user *u);

/* ---- sessions and the model (server.c) ---- */

/* Starts an event call: frees handed-out actions and advances the clock;
 * false when the core has stopped. */
bool server_enter(parley_server *s, uint64_t now_ms);
/* Ends an event call: arms the host's timer when the earliest deadline
 * changed. */
void server_leave(parley_server *s);
/* The store failed: every session gets internal (fatal) and the core
 * stops with a FATAL action. `why` must be a string literal. */
void server_stop(parley_server *s, const char *why);

session *session_find(const parley_server *s, parley_conn_id conn);
/* The largest SEND body this server takes (WELCOME max-body, SEND-7). */
size_t server_body_max(const parley_server *s);
session *session_find_serial(const parley_server *s, parley_conn_id conn,
                             uint64_t serial);
/* Sends ERROR; a fatal one also closes and frees the session. The body,
 * when fmt is not NULL, explains (it names the header for 426 and 427). */
void send_error(parley_server *s, session *ss, parley_err err,
                const reqid *req, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void session_close(parley_server *s, session *ss, parley_err err,
                   uint16_t ws_code);
/* Sends not-found for conversation `conv_id`, the same frame whether it
 * does not exist or the user is not a member (SEND-6, SEC-1). */
void send_not_found(parley_server *s, session *ss, const char *conv_id,
                    const reqid *req);
user *user_get(parley_server *s, const char *name);
conv *conv_for_member(const parley_server *s, const char *id, size_t len,
                      const user *u, member **m_out);
member *conv_member(const conv *c, const user *u);

/* Header access: these send the error themselves and return false. */
bool hdr_id(parley_server *s, session *ss, const parley_frame *f,
            const reqid *req, const char *name, char *out);
bool hdr_u64(parley_server *s, session *ss, const parley_frame *f,
             const reqid *req, const char *name, bool required,
             uint64_t *out, bool *present);

/* ---- messages, receipts, store results (server_msg.c) ---- */

void on_send(parley_server *s, session *ss, const parley_frame *f,
             const reqid *req);
void on_receipt(parley_server *s, session *ss, const parley_frame *f,
                const reqid *req);
pending *pending_new(parley_server *s, pending_kind kind,
                     parley_store_op op);
void pending_issue(parley_server *s, pending *p);
void pending_free(pending *p);
bool waiter_add(pending *p, parley_conn_id conn, uint64_t serial,
                blob *frame);
void store_done(parley_server *s, const parley_store_result *res);
void dedup_free_all(parley_server *s);
/* Delivers a positioned event to a session, or holds it during sync. */
void deliver_event(parley_server *s, session *ss, uint64_t pos,
                   blob *frame);
blob *msg_frame(const parley_msg *m, bool with_pos, const reqid *req);
blob *receipt_frame(const parley_receipt *r);

/* ---- resume and history (server_sync.c) ---- */

void on_sync(parley_server *s, session *ss, const parley_frame *f,
             const reqid *req);
void on_history(parley_server *s, session *ss, const parley_frame *f,
                const reqid *req);
void sync_read_done(parley_server *s, pending *p,
                    const parley_store_result *res);
void history_read_done(parley_server *s, pending *p,
                       const parley_store_result *res);
void held_clear(session *ss);

/* ---- planted faults (server_faults.c, test builds only) ---- */

/* Defined only where PARLEY_FAULTS is; a normal build's branches that
 * call them are constant false and compile to nothing. */
bool fault_headers_all_defined(const parley_frame *f);
parley_err fault_token_payload_trusted(const char *token, size_t len,
                                       uint64_t now, char *user_out,
                                       uint64_t *expires);

/* ---- conversations, typing, presence (server_api.c) ---- */

conv *conv_new(parley_server *s, const parley_conv_info *info,
               bool durable);
void conv_free(conv *c);
void conv_made_durable(parley_server *s, conv *c);
void conv_fill_info(const conv *c, parley_conv_info *out);
void on_typing(parley_server *s, session *ss, const parley_frame *f,
               const reqid *req);
void on_presence(parley_server *s, session *ss, const parley_frame *f,
                 const reqid *req);
void presence_relay(parley_server *s, user *u);
/* Queues the API reply for a created (or existing) conversation. */
void api_reply_conv(parley_server *s, uint64_t api_id, const conv *c,
                    bool created);
void presence_expire(parley_server *s, user *u);
void presence_last_session_gone(parley_server *s, user *u);

/* ---- calls (server_call.c) ---- */

void on_call(parley_server *s, session *ss, const parley_frame *f,
             const reqid *req);
void on_join(parley_server *s, session *ss, const parley_frame *f,
             const reqid *req);
void on_offer(parley_server *s, session *ss, const parley_frame *f,
              const reqid *req);
void on_answer(parley_server *s, session *ss, const parley_frame *f,
               const reqid *req);
void on_candidate(parley_server *s, session *ss, const parley_frame *f,
                  const reqid *req);
void on_end_of_candidates(parley_server *s, session *ss,
                          const parley_frame *f, const reqid *req);
void on_media_state(parley_server *s, session *ss, const parley_frame *f,
                    const reqid *req);
void on_leave(parley_server *s, session *ss, const parley_frame *f,
              const reqid *req);
void on_hangup(parley_server *s, session *ss, const parley_frame *f,
               const reqid *req);
/* A session became READY: RING for the calls that ring for its user. */
void call_session_ready(parley_server *s, session *ss);
/* A READY session is going away: its participations become away. */
void call_session_gone(parley_server *s, session *ss);
/* A TIMER_CALL entry is due. */
void call_timer_fire(parley_server *s, uint64_t serial);
/* Whether a TIMER_CALL entry is the one its call relies on. */
bool call_timer_valid(const parley_server *s, const timer_entry *e);
void call_free_all(parley_server *s);

#endif
