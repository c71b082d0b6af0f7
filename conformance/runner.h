/* parley-conform internals: what the runner (main.c, runner.c, report.c)
 * and the case context (ctx.c, wire.c) share. Cases never include this;
 * they see pc.h only. */
#ifndef PARLEY_CONFORM_RUNNER_H
#define PARLEY_CONFORM_RUNNER_H

#include <pthread.h>

#include "pc.h"

/* One line of a wire log. */
typedef enum pc_dir {
  PC_SENT = '>',       /* octets the runner sent */
  PC_RECEIVED = '<',   /* octets the runner received */
  PC_EVENT = '*'       /* a connection event or a note */
} pc_dir;

typedef struct pc_log_entry {
  uint64_t t_us;       /* microseconds since the case started */
  uint64_t wall_ms;    /* wall clock, milliseconds since the epoch */
  pc_dir dir;
  const char *conn;    /* connection label, or "" for notes */
  const char *kind;    /* "text", "binary", "close", "http", "raw",
                          "note", "connect", ... */
  char *data;          /* owned copy, NUL-terminated; len is exact */
  size_t len;
} pc_log_entry;

typedef struct pc_account {
  char *user;
  char *password;
  char *token;         /* cached; guarded by pc_run.lock */
  uint64_t token_expires_ms;
} pc_account;

/* Everything a run shares between its cases (read-only while cases run,
 * except the token cache under `lock`). */
typedef struct pc_run {
  char *url;           /* ws://host:port or wss://host:port */
  char *host;
  uint16_t port;
  bool tls;
  bool tls_insecure;   /* --insecure: do not check the certificate */
  pc_config config;
  pc_account *accounts;
  size_t account_count;
  unsigned timeout_ms; /* --timeout */
  unsigned jobs;       /* --jobs: named when the target's limits refuse
                          a sign-in (ctx.c, pc_signin_limited) */
  char run_tag[16];    /* random letters that make ids of this run unique */
  uint64_t ring_timeout_ms; /* the call timers given to a self-started */
  uint64_t call_grace_ms;   /* server (0: none given) */
  pthread_mutex_t lock;
  /* Client mode. */
  char *exec_cmd;      /* --exec */
} pc_run;

typedef struct pc_result {
  const pc_case *c;
  const pc_suite *suite;
  pc_verdict verdict;  /* after level mapping, before --expect-fail */
  char *message;       /* why it did not pass; NULL on pass */
  uint64_t started_ms; /* wall clock */
  uint64_t duration_us;
  pc_log_entry *log;
  size_t log_count;
  bool expected_fail;  /* listed in --expect-fail and did not pass */
  bool stale;          /* listed in --expect-fail and passed */
} pc_result;

/* Sets up a run against r->url: reads GET /v1/config, checks every
 * field, fetches a token for each account. Returns 0, or -1 with a
 * message in err (the target could not be reached or set up: exit 3). */
int pc_run_setup(pc_run *r, char *err, size_t errlen);
void pc_run_free(pc_run *r);

/* Runs one case to its end in the calling thread and fills *out (which
 * the caller zeroed). Never exits the process. */
void pc_run_case(pc_run *r, const pc_suite *s, const pc_case *c,
                 pc_result *out);
void pc_result_free(pc_result *res);
/* Frees only the wire log of a result (a passing case's, which no report
 * shows). */
void pc_result_free_log(pc_result *res);

/* ---- for framework extensions (client mode) ----------------------- */

struct pw_conn;

/* Appends an entry to the case's wire log. */
void pc_log(pc_ctx *t, pc_dir dir, const char *conn, const char *kind,
            const void *data, size_t len);
pc_run *pc_run_of(pc_ctx *t);
/* Wraps a server-side WebSocket connection whose upgrade is done (see
 * wire.h) so that pc_send, pc_recv, pc_expect and the rest work on it;
 * frames it sends are unmasked, as a server's are. The context owns it. */
pc_conn *pc_conn_adopt(pc_ctx *t, const char *label, struct pw_conn *w);

/* Every suite, in report order; ends with a NULL. */
extern const pc_suite *const pc_suites[];

#endif
