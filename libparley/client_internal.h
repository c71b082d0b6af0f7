/* Internal state of the client core, shared by client*.c. Not installed. */
#ifndef PARLEY_CLIENT_INTERNAL_H
#define PARLEY_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/client.h"
#include "parley/frame.h"

#define CL_NO_CONV ((size_t)-1)
/* The largest SEND body when WELCOME states none (SEND-10). */
#define CL_BODY_MAX (PARLEY_FRAME_SIZE_MAX - 1024)
/* WebSocket close statuses the core asks for (RFC 6455, 7.4.1). */
#define CL_WS_NORMAL 1000
#define CL_WS_PROTOCOL_ERROR 1002

typedef enum cl_state {
  CL_IDLE = 0,       /* not started */
  CL_BACKOFF,        /* waiting for backoff_at before CONNECT */
  CL_CONNECTING,     /* CONNECT issued, transport not open yet */
  CL_HANDSHAKE,      /* HELLO and AUTH sent, waiting for READY */
  CL_READY,          /* READY; SYNC sent */
  CL_NEED_TOKEN,     /* token refused or missing; waiting for set_token */
  CL_STOPPING,       /* BYE sent; waiting for the server's BYE */
  CL_STOPPED         /* stopped by the host; nothing more */
} cl_state;

/* One user's receipt values in one conversation. */
typedef struct cl_rcpt {
  char user[PARLEY_USER_MAX + 1];
  uint64_t delivered;
  uint64_t read;
} cl_rcpt;

/* A message held past a gap; body owned. */
typedef struct cl_held {
  parley_msg msg;
  char *body;
} cl_held;

typedef struct cl_conv {
  char id[PARLEY_ID_MAX + 1];
  uint64_t stored_seq;    /* highest seq handed over; only grows */
  uint64_t max_seen;      /* highest seq seen in this session */
  uint64_t history_req;   /* req number of the HISTORY in flight, or 0 */
  uint64_t history_after; /* stored_seq when that HISTORY was sent */
  cl_held *held;          /* ascending seq, all > stored_seq + 1 */
  size_t held_count;
  size_t held_cap;
  bool members_known;
  char (*members)[PARLEY_USER_MAX + 1];
  size_t member_count;
  cl_rcpt *rcpts;
  size_t rcpt_count;
  uint64_t delivered_sent;   /* delivered receipt sent in this session */
  uint64_t read_sent;        /* read receipt sent in this session */
  uint64_t read_wanted;      /* what the user has read */
  uint64_t status_delivered; /* my messages delivered up to this seq */
  uint64_t status_read;      /* my messages read up to this seq */
  bool typing_on;            /* TYPING on sent in this session, no off */
  uint64_t typing_sent_ms;   /* when the last TYPING went out */
} cl_conv;

/* An outbox entry; body owned. */
typedef struct cl_out {
  parley_outbox_entry e;
  char *body;
  uint64_t req;    /* req number of the SEND in flight, or 0 */
  bool in_flight;
} cl_out;

/* A stream event (it carried a pos) not yet behind the stored pos. It is
 * done once its message was handed over: conv == CL_NO_CONV (a receipt or
 * SYNCED) or the conversation's stored_seq >= seq. */
typedef struct cl_pending {
  char pos[PARLEY_POS_MAX + 1];
  size_t conv;
  uint64_t seq;
} cl_pending;

/* A relayed state that lapses: typing (conv set) or presence (conv is
 * CL_NO_CONV). */
typedef struct cl_typing {
  size_t conv;
  char user[PARLEY_USER_MAX + 1];
  uint64_t expires_ms;
} cl_typing;

/* A call request sent (or waiting for the end of a hold) and not yet
 * answered; its frame is kept so a rate-limited one can go again. */
typedef struct cl_callreq {
  uint64_t n;                         /* the number in its req "c-N" */
  char verb[PARLEY_VERB_MAX + 1];
  char call[PARLEY_ID_MAX + 1];
  char *frame;                        /* owned octets */
  size_t len;
  bool sent;                          /* false: goes when the hold ends */
} cl_callreq;

/* A queued action and the buffers it owns. */
typedef struct cl_item {
  parley_client_action a;
  char *owned;
} cl_item;

struct parley_client {
  parley_client_config cfg;
  char user[PARLEY_USER_MAX + 1];
  char device[PARLEY_ID_MAX + 1];
  char caps[256];
  char welcome_caps[256]; /* WELCOME's caps of this session */
  bool had_ready;         /* a session of this core was READY */
  char token[PARLEY_TOKEN_MAX + 1];
  uint64_t token_expires_ms;
  uint64_t token_refresh_at; /* when EV_TOKEN_EXPIRING is due; 0 none */
  bool token_warned;
  uint64_t rng;

  cl_state state;
  uint64_t conn;          /* id of the current connection */
  uint32_t attempt;       /* failed attempts since the last READY */
  uint64_t backoff_at;
  uint64_t handshake_deadline;
  uint64_t last_sent_ms;
  uint64_t last_recv_ms;
  uint64_t ping_for_recv_ms; /* last_recv_ms when a silence PING went out */
  uint64_t stop_deadline;
  uint32_t heartbeat_ms;  /* negotiated; 0 before WELCOME */
  uint32_t typing_ttl_ms;
  uint64_t dedup_window_ms;
  size_t max_frame;
  size_t max_body;        /* WELCOME's max-body (SEND-10) */
  bool synced;
  bool cap_receipts;      /* WELCOME listed `receipts` */
  uint64_t sync_req;
  uint64_t receipt_at;    /* 0: no receipt flush due */
  uint64_t hold_until;    /* 0, or SEND and RECEIPT wait until then */
  /* RATE-4: the core's copy of the session's rate bucket, in thousandths
   * of a frame. Every frame sent takes 1000; the outbox sends only while
   * at least 1000 are held. pace_rate 0: WELCOME stated no rate. */
  uint32_t pace_rate;       /* thousandths per ms (frames per second) */
  int64_t pace_cap;         /* the bucket size */
  int64_t pace_held;        /* what it holds; below 0 after a burst */
  uint64_t pace_ms;         /* when it was last filled */
  uint64_t pace_at;         /* 0, or the outbox waits for a frame until */
  uint32_t hold_attempt;  /* holds since the last ACK, for its backoff */
  bool sync_retry;        /* a rate-limited SYNC goes again after hold */
  bool auth_retry;        /* a rate-limited AUTH goes again after hold */
  uint64_t req_seq;
  uint64_t armed_at;      /* the last TIMER emitted; 0 none */

  char pos[PARLEY_POS_MAX + 1]; /* stored pos; "" for none */

  cl_conv **convs;
  size_t conv_count;
  size_t conv_cap;

  cl_out *outbox;
  size_t outbox_count;
  size_t outbox_cap;
  size_t in_flight;

  cl_pending *pending;
  size_t pending_head;
  size_t pending_count; /* including consumed ones before head */
  size_t pending_cap;
  size_t held_total;

  cl_typing *typing;      /* typing and presence states that lapse */
  size_t typing_count;
  size_t typing_cap;

  cl_callreq *callreqs;   /* call requests awaiting their answer */
  size_t callreq_count;
  size_t callreq_cap;

  cl_item *items;
  size_t item_head;     /* items before it were drained */
  size_t item_count;
  size_t item_cap;
  bool oom;             /* memory ran out; the session is dropped */
};

/* client.c: actions, frames, connection life cycle. */
cl_item *cl_push(parley_client *c, parley_client_action_kind kind);
void cl_send_frame(parley_client *c, parley_buf *b);
/* Ends b (headers written when `ok`) with `req` and no body, queues it,
 * and marks the session out of memory when any step failed. Frees b. */
void cl_send_request(parley_client *c, parley_buf *b, bool ok,
                     const char *req);
uint64_t cl_next_req(parley_client *c, char *out, size_t cap, char tag);
void cl_drop_session(parley_client *c, parley_err why, uint64_t now_ms);
void cl_fail_session(parley_client *c, parley_err why, uint16_t ws_code,
                     uint64_t now_ms);
void cl_need_token(parley_client *c, parley_err why, uint64_t now_ms);
void cl_send_sync(parley_client *c);
void cl_hold_frames(parley_client *c, uint64_t now_ms);
void cl_stopping_bye(parley_client *c);
void cl_event_error(parley_client *c, parley_err err, bool fatal,
                    const char *text, size_t len);
bool cl_grow(void **arr, size_t *cap, size_t need, size_t elem);
/* What every public call does first (frees drained actions) and last
 * (notes sends, handles running out of memory, arms the timer). */
void cl_enter(parley_client *c);
void cl_leave(parley_client *c, uint64_t now_ms);

/* client_conv.c: conversations, receipts and status. */
cl_conv *cl_conv_find(const parley_client *c, const char *id, size_t *idx);
cl_conv *cl_conv_get(parley_client *c, const char *id, size_t *idx);
void cl_conv_free(cl_conv *cv);
void cl_conv_reset_session(parley_client *c, cl_conv *cv);
bool cl_receipt_apply(parley_client *c, cl_conv *cv, const char *user,
                      parley_receipt_kind kind, uint64_t seq, bool emit);
void cl_status_update(parley_client *c, cl_conv *cv, bool emit);
void cl_flush_receipts(parley_client *c, uint64_t now_ms);

/* client_recv.c: frames from the server. */
void cl_on_frame(parley_client *c, const parley_frame *f, uint64_t now_ms);

/* client_delivery.c: MSG, held messages, pending pos, HISTORY. */
void cl_on_msg(parley_client *c, const parley_frame *f, uint64_t now_ms);
void cl_on_page(parley_client *c, const parley_frame *f, uint64_t now_ms);
void cl_pending_push(parley_client *c, const char *pos, size_t conv,
                     uint64_t seq);
void cl_pending_advance(parley_client *c);
void cl_pending_synced(parley_client *c, const char *pos);
void cl_delivery_reset(parley_client *c);
void cl_history_resume(parley_client *c);

/* client_outbox.c: the rate bucket (RATE-4). */
void cl_pace_start(parley_client *c, uint64_t rate, uint64_t burst,
                   uint64_t now_ms);
bool cl_pace_ready(parley_client *c, uint64_t now_ms);
void cl_pace_empty(parley_client *c, uint64_t now_ms);

/* client_outbox.c: the outbox and SEND. */
void cl_outbox_send_due(parley_client *c, uint64_t now_ms);
void cl_on_ack(parley_client *c, const parley_frame *f, uint64_t now_ms);
bool cl_outbox_on_error(parley_client *c, uint64_t req, parley_err err,
                        uint64_t now_ms);
void cl_outbox_reset_session(parley_client *c);
void cl_outbox_free(parley_client *c);

/* client_call.c: call signaling (spec section 19). */
bool cl_call_on_frame(parley_client *c, const parley_frame *f);
void cl_call_on_ok(parley_client *c, const parley_frame *f);
bool cl_call_on_error(parley_client *c, uint64_t req, parley_err err,
                      const parley_frame *f);
void cl_call_resend(parley_client *c);
void cl_call_reset_session(parley_client *c);

/* Header helpers (client_recv.c). */
bool cl_hdr_copy(const parley_frame *f, const char *name, char *dst,
                 size_t cap);
bool cl_hdr_u64(const parley_frame *f, const char *name, uint64_t *out);
bool cl_valid_id(const char *s);

#endif
