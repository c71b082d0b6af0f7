/* The scripted server's internals, shared by scripted.c (the model, the
 * sessions, the wait loop), scripted_frames.c (how each frame from the
 * client is answered) and scripted_http.c (the accepting thread and the
 * HTTP API). Nothing else includes this.
 *
 * Locking: `lock` guards what the accepting thread shares with the case's
 * thread: the switches it reads (down, tokens_left, no_subprotocol), the
 * records it writes (accepts, tokens, targets, pending upgrades) and the
 * model it reads for GET requests (convs and their messages). The case's
 * thread never calls anything that may fail the case (pc_fail, pc_alloc)
 * while it holds the lock. */
#ifndef PARLEY_CONFORM_SCRIPTED_INTERNAL_H
#define PARLEY_CONFORM_SCRIPTED_INTERNAL_H

#include <pthread.h>

#include "parley/frame.h"
#include "runner.h"
#include "scripted.h"
#include "wire.h"

#define PS_USER "alice"
#define PS_OTHER "bob"
#define PS_WS_PATH "/v1/ws"
#define PS_SUBPROTOCOL "parley.1"
#define PS_DEDUP_WINDOW_MS 86400000u
#define PS_TYPING_TTL_MS 6000u
#define PS_MAX_HEADERS 32u
#define PS_MAX_HEADER_LINE 1024u

/* An upgrade the thread accepted, waiting for the case's thread. */
typedef struct ps_pending {
  pw_conn *w;
  bool no_subprotocol;
  uint64_t mono_ms;
} ps_pending;

typedef struct ps_conv_rec {
  const char *id;
  ps_msg **msgs;              /* malloc'd; msgs[i]->seq == i + 1 */
  size_t count, cap;
} ps_conv_rec;

struct ps_server {
  pc_ctx *t;
  pd *d;
  ps_opts o;
  ps_script script;
  char password[64];
  char device[64];
  char url[64];
  char tag[16];               /* ps_opts.name, or "": in labels */
  pthread_mutex_t lock;
  pthread_t thread;
  bool thread_on;
  bool stop;                  /* under lock: the thread ends */
  pw_listener *l;
  int notify[2];              /* a byte on [1] when an upgrade waits */
  /* Under lock. */
  bool down;
  size_t tokens_left;         /* token requests still answered */
  bool no_subprotocol;        /* the next upgrade selects none */
  ps_pending *pend;
  size_t pend_n, pend_cap;
  ps_accept *acc;
  size_t acc_n, acc_cap;
  ps_token *tok;
  size_t tok_n, tok_cap;
  size_t token_requests;
  char **targets;
  size_t tgt_n, tgt_cap;
  unsigned http_n;
  ps_conv_rec *convs;
  size_t conv_n, conv_cap;
  /* The case's thread only. */
  ps_msg **events;            /* malloc'd: the user's event stream */
  size_t ev_n, ev_cap;
  char pos_prefix[4];
  uint64_t pos_n;
  const char *origin_pos;     /* the position of the empty stream */
  ps_session **sess;
  size_t sess_n, sess_cap;
  ps_rx *rx;
  size_t rx_n, rx_cap;
  bool *readable;             /* ps_run's poll results, per session */
  size_t readable_cap;
  char *faults;               /* malloc'd, "; "-joined */
  unsigned req_n;
};

/* Grows a malloc'd array to hold `need` items; false when out of memory. */
bool ps_grow(void **arr, size_t *cap, size_t need, size_t elem);
/* Notes a protocol fault of the client (for ps_faults and messages). */
void ps_fault(ps_server *srv, const char *fmt, ...) PC_PRINTF(2, 3);
/* Finds a conversation (case's thread, or under lock). */
ps_conv_rec *ps_conv_find(ps_server *srv, const char *id);
/* The token record with `text`, or NULL (under lock). */
ps_token *ps_token_find(ps_server *srv, const char *text);
/* A new position, after (and sorting before) every earlier one. */
const char *ps_new_pos(ps_server *srv);
/* Stores a message the client sent, from this user and `device`. */
ps_msg *ps_store_sent(ps_server *srv, ps_conv_rec *cv, const char *device,
                      const char *temp_id, const char *body, size_t len);

/* scripted_frames.c: answers one frame from the client. */
void ps_handle(ps_session *s, pc_frame *f);

/* scripted_http.c: the accepting thread. */
void ps_http_start(ps_server *srv);
void ps_http_stop(ps_server *srv);

#endif
