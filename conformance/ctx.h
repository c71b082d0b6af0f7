/* parley-conform case context internals shared by ctx.c, ctx_http.c and
 * ctx_ws.c. Nothing outside those three files includes this. */
#ifndef PARLEY_CONFORM_CTX_H
#define PARLEY_CONFORM_CTX_H

#include <setjmp.h>

#include "parley/frame.h"
#include "runner.h"
#include "wire.h"

/* A hard cap on one case, whatever its waits say. */
#define PC_CASE_MAX_MS 120000u
/* What one case may hold: arena bytes, log bytes, log entries and frames
 * set aside on one connection. Past the arena or the queue the case
 * fails; the wire log keeps its first half (by octets and entries) and
 * its last half, with one entry in between that says how much was left
 * out, and an entry larger than a quarter of it keeps only its size. */
#define PC_ARENA_MAX ((size_t)64 * 1024 * 1024)
#define PC_LOG_BYTES_MAX ((size_t)2 * 1024 * 1024)
#define PC_LOG_ENTRIES_MAX 20000u
#define PC_QUEUE_MAX 100000u

typedef struct pc_block pc_block;

typedef struct pc_deferred {
  void (*fn)(void *arg);
  void *arg;
} pc_deferred;

struct pc_conn {
  pc_ctx *t;
  pc_conn *next;            /* the context's list of connections */
  char *label;
  pw_conn *w;
  bool closed;              /* no more frames will come */
  int close_code;           /* set when closed: code, 1005, or -1 */
  bool sent_close;
  bool paused;
  pc_frame **queue;         /* frames set aside, oldest at queue_head */
  size_t queue_head, queue_len, queue_cap;
  pc_frame *welcome, *ready;
  const char *device;
  const char *pos;
  unsigned req_n;
  uint64_t opened_ms;       /* monotonic: the upgrade was sent */
  bool retired;             /* refused for rate and tried again: its
                               label counts no more (conn_label) */
  unsigned signin_tries;    /* AUTHs refused for rate (pc_auth_retry) */
};

struct pc_ctx {
  pc_run *r;
  const pc_suite *suite;
  const pc_case *c;
  jmp_buf jb;
  char *message;            /* the first failure, malloc'd */
  bool failed;
  bool ending;              /* the case body returned: cleanups run */
  const char *skip_cap;     /* pc_skip's capability */
  uint64_t start_mono_us;
  uint64_t hard_deadline_ms; /* monotonic */
  pthread_mutex_t lock;     /* guards the log and the deferred list */
  pc_block *blocks;         /* the arena; the first block is the current */
  size_t block_used, block_size;
  size_t arena_bytes;
  void *scratch;            /* the last WebSocket message read */
  pc_conn *conns;
  pc_deferred *defers;
  size_t defer_count, defer_cap;
  pc_log_entry *log;        /* the first part of the wire log */
  size_t log_count, log_cap, log_bytes;
  bool log_in_tail;         /* the first part is full */
  pc_log_entry *tail;       /* the last part: a ring of PC_LOG_ENTRIES_MAX
                               / 2 entries */
  size_t tail_start, tail_count, tail_bytes;
  size_t left_out, left_out_bytes; /* dropped between the two parts */
  parley_parser parser;
  unsigned http_n;
  char target_host[300];    /* pc_target_host: host:port, or "" */
  const char **convs;       /* the conversations the case created */
  size_t conv_n, conv_cap;
};

/* Writes the visible form of the first 200 octets of body (escaped:
 * nothing a target sent may act on a terminal) to out[0..n). */
void pc_body_shown(char *out, size_t n, const char *body, size_t len);

/* Microseconds on the monotonic clock. */
uint64_t pc_mono_us(void);
/* The timeout a case asked for (PC_WAIT: the run's), cut to what the hard
 * cap leaves; fails the case when the cap has passed. */
unsigned pc_budget(pc_ctx *t, unsigned timeout_ms);
/* A NUL-terminated arena copy of n octets. */
char *pc_memdup(pc_ctx *t, const void *p, size_t n);

/* HTTP without a case (run setup) or with one (t non-NULL: logged).
 * Sends a request on a new connection and reads the answer into *ans.
 * Returns PW_OK or a failure with err filled. */
pw_status pc_http_do(pc_run *r, pc_ctx *t, const char *request,
                     size_t len, bool no_body, pw_http_msg *ans,
                     char *err, size_t errlen);
/* Builds a request with the optional Authorization and Content-Type. */
char *pc_http_build(const pc_run *r, const char *method, const char *path,
                    const char *token, const char *content_type,
                    const char *body, size_t body_len, size_t *len);
/* POST /v1/auth/token for account i (ttl_ms 0: none asked). Fills
 * *token (malloc'd) and *expires_ms, or returns -1 with err. */
int pc_fetch_token(pc_run *r, pc_ctx *t, size_t i, uint64_t ttl_ms,
                   char **token, uint64_t *expires_ms, char *err,
                   size_t errlen);

/* Logs an HTTP answer as received: its head and body. */
void pc_log_answer(pc_ctx *t, const char *label, const pw_http_msg *a);

/* A sign-in step of a case's set-up (a token request, the upgrade or the
 * AUTH of a session) that the target refused for rate, as spec 17.2 and
 * SEC-13/SEC-14 let it, is tried again for up to this long before the
 * case fails; a connection has 10 s to reach READY (LIFE-3). */
#define PC_SIGNIN_RETRY_MS 8000u

/* Sleeps before the next try of a sign-in step refused for rate, when
 * the window that opened at since_ms (monotonic) leaves room for it:
 * 100 ms doubling to 1 s with a random part on top, or `hint_ms` (a
 * Retry-After) when longer. With a case (t non-NULL) it notes the wait
 * in the wire log and stays within the case's hard limit. Counts *tries.
 * Returns false, without sleeping, when the window is spent. */
bool pc_signin_pause(pc_run *r, pc_ctx *t, uint64_t since_ms,
                     unsigned *tries, unsigned hint_ms, const char *what);
/* Writes why a sign-in step failed for good into out: `what` ("AUTH of
 * alice") was refused with `answer` through the retries, the target's
 * limit on `limit` ("sessions per user") is below what --jobs needs, and
 * this is set-up, no verdict on the case's requirements. */
void pc_signin_text(const pc_run *r, const pc_ctx *t, const char *what,
                    const char *limit, const char *answer, char *out,
                    size_t size);
/* pc_signin_text as the case's failure. */
PC_NORETURN void pc_signin_limited(pc_ctx *t, const char *what,
                                   const char *limit, const char *answer);

/* Records conversation `id` as one the case created (pc_conv_group and
 * every POST /v1/conversations it made), so that failure messages can
 * tell its frames from other cases' traffic on the same accounts. */
void pc_conv_note(pc_ctx *t, const char *id);
/* Whether the case created conversation `id`. */
bool pc_conv_owned(const pc_ctx *t, const char *id);

/* Closes every connection of the context (end of a case). */
void pc_conns_close_all(pc_ctx *t);

#endif
