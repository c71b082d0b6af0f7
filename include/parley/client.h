/* The sans-I/O client core of spec/parley-1.md.
 *
 * The host feeds it what the local store holds at start-up (the outbox,
 * the sync pos, per conversation the highest seq stored and the receipt
 * states), then user intents (send text, mark read, typing), connection
 * events (connected, a WebSocket message arrived, disconnected) and the
 * time. It drains actions: open a connection, send frame bytes, close,
 * wake me at T, write to the local store, and events for the application.
 * The core never touches a socket, a file, SQLite or the clock: the time
 * comes in every call, and randomness (temp-ids, backoff jitter) from the
 * seed in the config.
 *
 * What the core promises (spec sections 4 to 8):
 * - on connect it sends HELLO and AUTH pipelined; after READY it sends
 *   SYNC since the stored pos, then every outbox entry with its original
 *   temp-id (SEND-5); an entry leaves the outbox only on ACK, or when the
 *   server refuses it for good (PARLEY_CLIENT_EV_SEND_FAILED);
 * - each message is handed to the host once (PARLEY_CLIENT_MSG), in seq
 *   order per conversation: repeats are dropped by (conv, seq) (DELIV-4),
 *   and a message past a gap is held until HISTORY fills the gap
 *   (DELIV-5);
 * - PARLEY_CLIENT_POS comes only from the session's first SYNCED on
 *   (DELIV-8) and only after every event up to that pos was handed to
 *   the host, so resuming from a stored pos loses nothing;
 * - heartbeat: a PING when nothing was sent for one interval (HB-2) or
 *   nothing arrived for one (HB-6); a session silent for two intervals
 *   is dropped (HB-5);
 * - reconnect after a random delay in [0, min(cap, base * 2^attempt)]
 *   ("full jitter", CLI-2); the attempt counter resets on READY;
 * - when WELCOME states `rate` and `rate-burst`, the outbox is paced to
 *   stay under them with a margin (RATE-4); a rate-limited holds frames
 *   for one backoff-drawn wait, however many refusals arrive in it
 *   (RATE-2);
 * - EV_TOKEN_EXPIRING ahead of the token's expiry (CLI-4); a token the
 *   server refuses stops reconnecting until the host sets a new one;
 * - call signaling (spec section 19), when the host runs a call layer
 *   and sets `calls` in the config: the core offers the capability
 *   `calls`, sends call frames the host asks for while READY (each with
 *   a req the core allocates) and hands over, as EV_CALL, the call frames
 *   the server sends and the OK or ERROR answering each call request.
 *   The call state itself lives in parley/call.h; the core keeps none.
 *
 * The host applies store actions in the order it drains them, and
 * should commit the writes of one drained batch together (DELIV-6). */
#ifndef PARLEY_CLIENT_H
#define PARLEY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/error.h"
#include "parley/frame.h"  /* PARLEY_VERB_MAX */
#include "parley/server.h" /* parley_msg, parley_receipt, id limits */
#include "parley/token.h"  /* PARLEY_TOKEN_MAX */

/* A pos is opaque to the client: a string of at most this many octets. */
#define PARLEY_POS_MAX 64

typedef enum parley_client_status {
  PARLEY_STATUS_SENT = 1,      /* acknowledged by the server */
  PARLEY_STATUS_DELIVERED = 2, /* every other member holds it */
  PARLEY_STATUS_READ = 3       /* every other member has read it */
} parley_client_status;

/* One message waiting for its ACK. `body` is borrowed for the call or the
 * action that carries it. */
typedef struct parley_outbox_entry {
  char temp_id[PARLEY_ID_MAX + 1];
  char conv[PARLEY_ID_MAX + 1];
  char content_type[PARLEY_CTYPE_MAX + 1];
  const char *body;
  size_t body_len;
  uint64_t created_ms;
} parley_outbox_entry;

typedef enum parley_client_action_kind {
  /* Connection. */
  PARLEY_CLIENT_CONNECT = 1, /* open a WebSocket, named `conn` from now on */
  PARLEY_CLIENT_SEND,        /* send `data` as one text message on `conn` */
  PARLEY_CLIENT_CLOSE,       /* flush what was sent on `conn`, then close
                                with WebSocket status `ws_code` */
  PARLEY_CLIENT_TIMER,       /* call on_time at or after `at_ms`; replaces
                                any earlier TIMER */
  /* Local store writes, in order. */
  PARLEY_CLIENT_OUTBOX_ADD,    /* keep `outbox` (body included) */
  PARLEY_CLIENT_OUTBOX_REMOVE, /* drop the entry `outbox.temp_id` */
  PARLEY_CLIENT_MSG,           /* store `msg` and show it */
  PARLEY_CLIENT_POS,           /* store `pos` as the sync position */
  PARLEY_CLIENT_RECEIPT_STATE, /* store `receipt` (conv, user, kind, seq) */
  /* Application events. */
  PARLEY_CLIENT_EV_READY,        /* session READY as `user` */
  PARLEY_CLIENT_EV_SYNCED,       /* every past event was handed over */
  PARLEY_CLIENT_EV_DISCONNECTED, /* `err` says why; next try in delay_ms */
  PARLEY_CLIENT_EV_STATUS,       /* see below */
  PARLEY_CLIENT_EV_SEND_FAILED,  /* `outbox` refused for good with `err` */
  PARLEY_CLIENT_EV_TYPING,       /* `user` typing in `conv`: `on` */
  PARLEY_CLIENT_EV_PRESENCE,     /* `user` is `presence` for ttl_ms */
  PARLEY_CLIENT_EV_ERROR,        /* an ERROR frame or a bad frame */
  PARLEY_CLIENT_EV_NEED_TOKEN,   /* `err` refused the token (or none was
                                    set): call parley_client_set_token */
  PARLEY_CLIENT_EV_TOKEN_EXPIRING, /* the token expires soon: refresh it */
  PARLEY_CLIENT_EV_CALL          /* a call frame or a call request's
                                    answer: `call` */
} parley_client_action_kind;

/* One header of a call frame the host asks the core to send. */
typedef struct parley_call_header {
  const char *name;
  const char *value;
} parley_call_header;

/* The most headers parley_client_call_send takes. */
#define PARLEY_CALL_HEADERS_MAX 8
/* The longest candidate-attribute a CANDIDATE frame carries. */
#define PARLEY_CANDIDATE_MAX 1000

/* A call frame from the server (spec section 19), read into fields.
 * `verb` is the frame's verb: RING, PARTICIPANTS, JOINED, LEFT, OFFER,
 * ANSWER, CANDIDATE, END-OF-CANDIDATES, MEDIA-STATE, RING-STOP or
 * CALL-END; or OK or ERROR answering a call request, and then `req`,
 * `request` and `request_call` name that request. A header absent (or
 * too long for its field) leaves its field empty; `call` is always set
 * except in an ERROR. Strings are NUL-terminated; `body` (SDP, the list
 * of PARTICIPANTS, an ERROR's text) is too, and holds body_len octets. */
typedef struct parley_call_frame {
  char verb[PARLEY_VERB_MAX + 1];
  char req[PARLEY_ID_MAX + 1];           /* OK, ERROR */
  char request[PARLEY_VERB_MAX + 1];     /* OK, ERROR: CALL, JOIN, ... */
  char request_call[PARLEY_ID_MAX + 1];  /* OK, ERROR: its `call`, or "" */
  parley_err err;                        /* ERROR: its code */
  char call[PARLEY_ID_MAX + 1];
  char conv[PARLEY_ID_MAX + 1];          /* RING, PARTICIPANTS, CALL-END */
  char from[PARLEY_USER_MAX + 1];        /* RING and relayed frames */
  char device[PARLEY_ID_MAX + 1];        /* the sender's, or JOINED's and
                                            LEFT's participant's */
  char user[PARLEY_USER_MAX + 1];        /* JOINED, LEFT */
  char media[16];                        /* RING: audio or video */
  char state[16];                        /* PARTICIPANTS */
  char reason[64];                       /* LEFT, RING-STOP, CALL-END,
                                            ERROR */
  char candidate[PARLEY_CANDIDATE_MAX + 1]; /* CANDIDATE */
  char mid[33];                          /* CANDIDATE */
  char audio[4], video[4], screen[4];    /* MEDIA-STATE: on, off or "" */
  bool rejoin;                           /* JOINED */
  bool ice_restart;                      /* OFFER */
  uint64_t count;                        /* PARTICIPANTS */
  uint64_t ts;                           /* RING */
  char content_type[PARLEY_CTYPE_MAX + 1];
  const char *body;
  size_t body_len;
} parley_call_frame;

/* One action. Pointers and strings in it stay valid until the next call
 * into the core; the host copies what it keeps.
 *
 * PARLEY_CLIENT_EV_STATUS: with status SENT it names one message
 * (`outbox.temp_id`, `outbox.conv`, `msg.msg_id`, `msg.seq`); with
 * DELIVERED or READ it is cumulative: every message of the user in
 * `conv` with seq <= `seq` has reached that status. A status never goes
 * backwards. */
typedef struct parley_client_action {
  parley_client_action_kind kind;
  uint64_t conn;          /* CONNECT, SEND, CLOSE */
  uint16_t ws_code;       /* CLOSE: 1000, or 1002 when the server broke
                             the protocol (FRAME-9, VER-3) */
  const char *data;       /* SEND: frame octets; EV_ERROR: text */
  size_t len;
  uint64_t at_ms;         /* TIMER */
  uint32_t delay_ms;      /* EV_DISCONNECTED */
  parley_outbox_entry outbox; /* OUTBOX_*, EV_SEND_FAILED, EV_STATUS */
  parley_msg msg;         /* MSG; msg_id and seq for EV_STATUS sent */
  parley_receipt receipt; /* RECEIPT_STATE */
  char pos[PARLEY_POS_MAX + 1];      /* POS */
  char conv[PARLEY_ID_MAX + 1];      /* EV_STATUS, EV_TYPING */
  char user[PARLEY_USER_MAX + 1];    /* EV_READY, EV_TYPING, EV_PRESENCE */
  char presence[16];                 /* EV_PRESENCE: online/away/offline */
  uint64_t seq;                      /* EV_STATUS */
  uint64_t ttl_ms;                   /* EV_TYPING, EV_PRESENCE */
  parley_client_status status;       /* EV_STATUS */
  bool on;                           /* EV_TYPING */
  parley_err err;  /* EV_DISCONNECTED, EV_SEND_FAILED, EV_ERROR, ... */
  bool fatal;      /* EV_ERROR: the server closes the session */
  bool reconnected; /* EV_READY: an earlier session of this core was
                       READY too (a call layer rejoins its call) */
  const parley_call_frame *call; /* EV_CALL */
} parley_client_action;

typedef struct parley_client_config {
  const char *user;   /* copied; the account name */
  const char *device; /* copied; [A-Za-z0-9_-]{1,64} */
  const char *caps;   /* HELLO caps; NULL: "receipts,typing,presence" */
  bool calls;         /* the host runs a call layer: `calls` is added to
                         the caps, and call frames reach it (EV_CALL) */
  uint32_t heartbeat_ms;         /* proposed interval; 0: 15000 */
  uint32_t handshake_timeout_ms; /* connect to READY; 0: 10000 */
  uint32_t backoff_base_ms;      /* 0: 250 */
  uint32_t backoff_cap_ms;       /* 0: 10000 */
  uint32_t receipt_delay_ms;     /* delivered receipts coalesce; 0: 100 */
  uint32_t send_window;          /* SENDs awaiting ACK at once; 0: 64 */
  uint32_t history_limit;        /* HISTORY page size, 1..100; 0: 100 */
  uint32_t held_max;             /* messages held past gaps; 0: 1024 */
  uint32_t token_margin_ms;      /* EV_TOKEN_EXPIRING lead; 0: 60000 */
  uint64_t seed; /* seeds temp-ids and jitter; must differ per start */
} parley_client_config;

typedef struct parley_client parley_client;

/* Returns a core, or NULL for a bad user or device name or when memory
 * runs out. */
parley_client *parley_client_new(const parley_client_config *cfg);
void parley_client_free(parley_client *c);

/* Loading at start-up, before parley_client_start. Each returns PARLEY_OK,
 * PARLEY_E_BAD_VALUE for a malformed argument, or PARLEY_E_INTERNAL when
 * memory runs out. */
parley_err parley_client_load_pos(parley_client *c, const char *pos);
/* The highest seq of `conv` stored (and so shown) so far. */
parley_err parley_client_load_conv(parley_client *c, const char *conv,
                                   uint64_t stored_seq);
/* The members of `conv`; needed to derive delivered and read status.
 * May also be called later, at any time. */
parley_err parley_client_set_members(parley_client *c, const char *conv,
                                     const char *const *members,
                                     size_t member_count);
parley_err parley_client_load_receipt(parley_client *c,
                                      const parley_receipt *r);
/* An outbox entry; entries are re-sent in the order they were loaded. */
parley_err parley_client_load_outbox(parley_client *c,
                                     const parley_outbox_entry *e);

/* The bearer token for AUTH, and when it expires (0: unknown). Before
 * start, or after PARLEY_CLIENT_EV_NEED_TOKEN (the core then reconnects),
 * or during a READY session (the core sends a fresh AUTH). */
parley_err parley_client_set_token(parley_client *c, const char *token,
                                   uint64_t expires_ms, uint64_t now_ms);

/* Starts connecting (at once). */
void parley_client_start(parley_client *c, uint64_t now_ms);
/* Says BYE and closes; no reconnect after it. */
void parley_client_stop(parley_client *c, uint64_t now_ms);

/* Connection events for the connection named by a CONNECT action. Events
 * for an older connection are ignored. */
void parley_client_on_connected(parley_client *c, uint64_t conn,
                                uint64_t now_ms);
void parley_client_on_message(parley_client *c, uint64_t conn,
                              const char *data, size_t len, uint64_t now_ms);
void parley_client_on_disconnected(parley_client *c, uint64_t conn,
                                   uint64_t now_ms);
void parley_client_on_time(parley_client *c, uint64_t now_ms);

/* Intents. parley_client_send puts the message in the outbox (an
 * OUTBOX_ADD action) and sends it when READY; temp_id_out (may be NULL)
 * gets its temp-id. Returns PARLEY_OK, PARLEY_E_BAD_VALUE for a bad conv
 * or content type, PARLEY_E_BAD_UTF8 for a body that is not UTF-8, or
 * PARLEY_E_FRAME_TOO_LARGE. */
parley_err parley_client_send(parley_client *c, const char *conv,
                              const char *content_type, const char *body,
                              size_t body_len, uint64_t now_ms,
                              char temp_id_out[PARLEY_ID_MAX + 1]);
/* The user has read `conv` up to `seq` (capped at what was shown). */
parley_err parley_client_mark_read(parley_client *c, const char *conv,
                                   uint64_t seq, uint64_t now_ms);
/* The user is typing in `conv` (call with on for every keystroke, or as
 * often as the host likes) or stopped. The core sends `on` when typing
 * starts and again each half typing-ttl while it goes on, `off` once when
 * it stops, and `off` by itself when the user sends a message in `conv`
 * (TYPE-3). Dropped when not READY. */
parley_err parley_client_typing(parley_client *c, const char *conv, bool on,
                                uint64_t now_ms);
/* "online" or "away"; ttl_ms 0 leaves it out. Dropped when not READY. */
parley_err parley_client_presence(parley_client *c, const char *status,
                                  uint64_t ttl_ms, uint64_t now_ms);

/* Sends a call frame (spec section 19) with `verb` (CALL, JOIN, OFFER,
 * ANSWER, CANDIDATE, END-OF-CANDIDATES, MEDIA-STATE, LEAVE or HANGUP),
 * the headers given (none named req, content-type or content-length) and
 * an optional body of `content_type` (NULL: no body). The core adds a
 * fresh req and writes it to req_out (may be NULL); the OK or ERROR
 * answering it comes as EV_CALL naming that req. A rate-limited request
 * is sent again after the wait (RATE-2) and so answered later. Returns
 * PARLEY_OK, PARLEY_E_BAD_STATE when the session is not READY (nothing
 * is kept for later), PARLEY_E_BAD_VALUE for another verb, too many
 * headers or a reserved name, the serializer's error for a header or
 * body that breaks the grammar, PARLEY_E_FRAME_TOO_LARGE, or
 * PARLEY_E_INTERNAL when memory runs out. */
parley_err parley_client_call_send(parley_client *c, const char *verb,
                                   const parley_call_header *headers,
                                   size_t header_count,
                                   const char *content_type,
                                   const char *body, size_t body_len,
                                   uint64_t now_ms,
                                   char req_out[PARLEY_ID_MAX + 1]);

/* Takes the next queued action; returns false when there is none. */
bool parley_client_next_action(parley_client *c,
                               parley_client_action *out);

/* Queries. */
size_t parley_client_outbox_count(const parley_client *c);
/* The highest seq handed over for `conv` (0 when none). */
uint64_t parley_client_stored_seq(const parley_client *c, const char *conv);
bool parley_client_is_ready(const parley_client *c);
/* True when the session's WELCOME listed capability `cap`. */
bool parley_client_has_cap(const parley_client *c, const char *cap);
/* The largest SEND body the session takes: WELCOME's max-body, or
 * PARLEY_BODY_MAX before WELCOME or when it stated none (SEND-10). An
 * entry past it is refused with EV_SEND_FAILED frame-too-large. */
size_t parley_client_max_body(const parley_client *c);

/* The reconnect delay for `attempt` (0, 1, ...) from a generator seeded
 * with `*rng_state`, which it advances: the full-jitter rule the core
 * uses, exposed so a test can check its bounds. */
uint32_t parley_client_backoff_ms(uint64_t *rng_state, uint32_t attempt,
                                  uint32_t base_ms, uint32_t cap_ms);

#endif
