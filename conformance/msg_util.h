/* Helpers for the messaging cases (send, order, fanout, receipt, resume,
 * history): sessions paced to the rate their WELCOME states, SEND and its
 * ACK, the frames of one conversation, SYNC answers and HISTORY pages.
 *
 * Every case shares the run's accounts with cases running beside it, so a
 * session also gets events of conversations it did not make. The
 * collectors here keep only the frames of the conversations a case names
 * and skip the rest; the waits that use pc_expect set them aside.
 *
 * Everything allocated here belongs to the case's context. Helpers fail
 * the case (pc_fail) when the server does not answer as the spec says, so
 * their callers read as scripts. */
#ifndef PARLEY_CONFORM_MSG_UTIL_H
#define PARLEY_CONFORM_MSG_UTIL_H

#include "pc.h"

/* A READY session and a model of its rate bucket (spec 17.2). The model
 * holds half the stated bucket and fills at 90 % of the stated rate, so a
 * case never meets `rate-limited` however it pipelines. */
typedef struct mu_sess {
  pc_ctx *t;
  pc_conn *c;
  int user;
  double tokens;
  double cap;
  double per_ms;
  uint64_t last_ms;
} mu_sess;

/* The values of an ACK (spec 5, SEND-1). */
typedef struct mu_ack {
  const pc_frame *f;
  const char *conv;
  const char *temp_id;
  const char *msg_id;
  uint64_t seq;
  uint64_t ts;
} mu_ack;

/* A growing list of received frames. */
typedef struct mu_list {
  pc_frame **v;
  size_t n;
  size_t cap;
} mu_list;

/* A HISTORY answer (spec 8.2): its MSG frames and its PAGE. */
typedef struct mu_page {
  mu_list msgs;
  const pc_frame *page;
  bool more;
  const char *cursor;      /* NULL when the PAGE has none */
} mu_page;

/* ---- sessions ---- */

/* A READY session of account `user` with caps "receipts" (so no relayed
 * typing or presence of other cases reaches it). `device` NULL: a unique
 * one. `sync`: also SYNC without `since` and wait for SYNCED. */
mu_sess *mu_open(pc_ctx *t, int user, const char *device, bool sync);
/* The same with the capability list given. */
mu_sess *mu_open_caps(pc_ctx *t, int user, const char *device,
                      const char *caps, bool sync);
/* Takes one token from the session's bucket model, waiting for it to
 * fill when it is empty. Call before each frame sent on s->c. */
void mu_pace(mu_sess *s);
/* A request id unique in the run. */
const char *mu_req(mu_sess *s);
/* Paces, then sends `text` as one WebSocket message. */
void mu_text(mu_sess *s, const char *text);
/* Skips the case unless the session's WELCOME lists capability `cap`
 * (an optional one, spec 4.3). */
void mu_need_cap(mu_sess *s, const char *cap);
/* The user name of account i. */
const char *mu_user(mu_sess *s);

/* ---- conversations ---- */

/* A new group made by account `owner` with accounts members[0..n-1]. */
const char *mu_group(pc_ctx *t, int owner, const int *members, size_t n);

/* ---- SEND and ACK ---- */

/* Sends SEND with `conv`, `temp-id`, a fresh `req`, `content-type` when
 * ctype is not NULL, and `body` of `len` octets (NULL: no body). Returns
 * the req. */
const char *mu_send(mu_sess *s, const char *conv, const char *temp_id,
                    const char *ctype, const char *body, size_t len);
/* Waits for the answer to SEND `req`, which must be an ACK with every
 * header SEND-1 names, in its form, and `req`. Fills *out. */
void mu_ack_of(mu_sess *s, const char *req, mu_ack *out);
/* Sends `body` as a new message with a fresh temp-id and waits for its
 * ACK, which must name `conv` and that temp-id. */
mu_ack mu_post(mu_sess *s, const char *conv, const char *body);
/* Sends n new messages pipelined (paced to the rate), bodies
 * "<prefix> <i>", and returns their ACKs in sending order. */
mu_ack *mu_fill(mu_sess *s, const char *conv, size_t n, const char *prefix);
/* Fails unless ACKs a and b are the same ACK (SEND-3: conv, temp-id,
 * msg-id, seq and ts). */
void mu_same_ack(pc_ctx *t, const mu_ack *a, const mu_ack *b,
                 const char *what);

/* ---- receiving ---- */

/* Fails unless MSG m is the message that ACK a acknowledged (conv,
 * msg-id, seq, ts, temp-id), sent by user `from` from `device`, with
 * content-type `ctype` and the `len` octets of `body`. */
void mu_msg_is(pc_ctx *t, const pc_frame *m, const mu_ack *a,
               const char *from, const char *device, const char *ctype,
               const char *body, size_t len, const char *what);

/* The next live MSG of `conv` (pc_expect; other frames are set aside). */
pc_frame *mu_msg(mu_sess *s, const char *conv);
/* Reads frames until one with `verb` whose `name` is `value` (name NULL:
 * any such verb), keeping in *out, in order, the frames that carry
 * `conv: conv` or `conv: conv2` (conv2 may be NULL) and the stop frame
 * last. Frames of other conversations and unasked TYPING/PRESENCE are
 * skipped; an ERROR that is not the stop frame fails the case. Fails on
 * timeout or close, naming `what`. */
void mu_until(mu_sess *s, const char *conv, const char *conv2,
              const char *verb, const char *name, const char *value,
              mu_list *out, const char *what);
/* Sends SYNC (`since` NULL: none) and reads its answer up to SYNCED:
 * the MSG and RECEIPT events of conv/conv2 go to *events in order, each
 * checked to carry `pos` and no `req` (spec 8.1). Returns the SYNCED,
 * checked to carry the req and a `pos`. */
const pc_frame *mu_sync(mu_sess *s, const char *since, const char *conv,
                        const char *conv2, mu_list *events);
/* Fails unless `l` holds exactly the MSG frames with seqs first, first+1,
 * ... first+count-1, in that order (RECEIPT frames are skipped). */
void mu_check_seqs(pc_ctx *t, const mu_list *l, uint64_t first,
                   uint64_t count, const char *what);
/* How many MSG frames of `l` carry `seq`. */
size_t mu_count_seq(pc_ctx *t, const mu_list *l, uint64_t seq);
void mu_push(pc_ctx *t, mu_list *l, pc_frame *f);

/* ---- HISTORY ---- */

/* Sends HISTORY for conv with the headers that are not NULL; returns the
 * req. */
const char *mu_history_send(mu_sess *s, const char *conv, const char *limit,
                            const char *cursor, const char *after);
/* Sends HISTORY and reads its page, checking HIST-1's form: every MSG
 * carries the req, the conv and no pos; the PAGE carries conv, a count
 * equal to the MSG frames, more, and a cursor exactly when more is yes. */
mu_page *mu_history(mu_sess *s, const char *conv, const char *limit,
                    const char *cursor, const char *after);

/* ---- errors and values ---- */

/* Waits for ERROR `reason`, not fatal, carrying `req`; when `header` is not
 * NULL its body must name that header (FRAME-11). */
void mu_expect_err(mu_sess *s, const char *reason, const char *req,
                   const char *header);
/* Whether s is an `id` of spec 2.9 (1 to 64 of [A-Za-z0-9_-]). */
bool mu_is_id(const char *s);
/* The header `name` of f, failing the case when it is missing. */
const char *mu_hdr(pc_ctx *t, const pc_frame *f, const char *name);
/* The seq of a frame. */
uint64_t mu_seq(pc_ctx *t, const pc_frame *f);
/* A body of n octets of printable ASCII, made from `seed`. */
char *mu_body(pc_ctx *t, size_t n, const char *seed);

#endif
