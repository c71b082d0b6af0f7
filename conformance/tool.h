/* parley-conform: what the command-line tool's own files share (main.c,
 * runner.c, selfserve.c and the report_*.c writers). The case context
 * (ctx.c, wire.c) does not see this; the tool sees it through runner.h. */
#ifndef PARLEY_CONFORM_TOOL_H
#define PARLEY_CONFORM_TOOL_H

#include <stdio.h>

#include "runner.h"

/* Exit codes (README, "Exit codes"). */
enum {
  PC_EXIT_PASS = 0,
  PC_EXIT_FAIL = 1,
  PC_EXIT_USAGE = 2,
  PC_EXIT_SETUP = 3,
  PC_EXIT_INTERRUPTED = 130
};

/* The command line, as parsed. Strings point into argv. */
typedef struct pc_opts {
  const char *target;          /* ws:// or wss:// URL; NULL: self-start */
  const char *accounts_file;
  const char **globs;          /* --case, in order */
  size_t glob_count;
  bool list;
  unsigned timeout_ms;
  unsigned jobs;
  bool strict;
  bool fail_fast;
  const char *expect_fail_file;
  const char *junit_path;
  const char *json_path;       /* "-": standard output */
  const char *html_dir;
  bool insecure;
  bool client;
  const char *exec_cmd;
  const char *server_bin;
  const char **server_args;
  size_t server_arg_count;
  int verbosity;               /* -1 quiet, 0 normal, 1 verbose */
} pc_opts;

/* One selected case and, after the run, its result. */
typedef struct pc_item {
  const pc_suite *suite;
  const pc_case *c;
  unsigned xfail_line;         /* its line in --expect-fail; 0: unlisted */
  const char *xfail_reason;    /* the reason written there, or NULL */
  bool ran;                    /* false: not started (--fail-fast, ^C) */
  pc_result res;
} pc_item;

typedef struct pc_selfserve pc_selfserve;

/* A whole run, as the report writers see it. */
typedef struct pc_outcome {
  const pc_opts *opts;
  const char *target;          /* the URL the cases ran against */
  bool self_started;           /* the target is the reference server
                                  this run started */
  const char *mode;            /* "server" or "client" */
  pc_item *items;
  size_t count;
  uint64_t started_ms;         /* wall clock */
  uint64_t wall_us;            /* how long the cases took */
  bool interrupted;
  bool stopped_early;          /* --fail-fast stopped it */
  pc_selfserve *server;        /* the self-started target, or NULL: the
                                  run stops starting cases if it dies */
} pc_outcome;

/* Counts of an outcome by verdict, after --expect-fail. */
typedef struct pc_tally {
  size_t verdict[PC_SKIP + 1]; /* cases that ran, by pc_verdict */
  size_t ran, not_run;
  size_t expected_fail, stale;
  size_t failing;              /* cases that fail the run */
  size_t must_failing, should_failing;
} pc_tally;

/* ---- a growing string ---------------------------------------------- */

typedef struct pc_buf {
  char *p;                     /* NUL-terminated once anything is added */
  size_t len, cap;
} pc_buf;

void pc_buf_add(pc_buf *b, const void *data, size_t len);
void pc_buf_adds(pc_buf *b, const char *s);
void pc_buf_addf(pc_buf *b, const char *fmt, ...) PC_PRINTF(2, 3);
/* The string so far ("" when empty); b keeps owning it. */
const char *pc_buf_str(const pc_buf *b);
void pc_buf_free(pc_buf *b);

/* Appends `data` so that every octet is visible and the result is valid
 * UTF-8 with no control character but the line feeds it adds itself:
 * "\\" for a backslash, \r \n \t, \xNN for other control octets and for
 * octets that are not part of valid UTF-8, \u{XXXX} for C1 controls,
 * invisible format characters and noncharacters. `multiline`: a real
 * line break follows each \n, so a frame reads as lines. */
void pc_escape_visible(pc_buf *b, const void *data, size_t len,
                       bool multiline);
/* Appends data with each octet that is not part of valid UTF-8 replaced
 * by U+FFFD. */
void pc_utf8_lossy(pc_buf *b, const void *data, size_t len);
/* Appends s (valid UTF-8) with & < > " ' as XML/HTML references. */
void pc_escape_markup(pc_buf *b, const char *s, size_t len);
/* True when data[0..len) is valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF). */
bool pc_utf8_valid(const void *data, size_t len);

/* ---- the spec's requirements (spec_reqs.c, generated; reqs.c) ----- */

/* One `[ID-N: ...]` bracket of the spec: what the reports quote. */
typedef struct pc_req {
  const char *id;              /* "SEND-3" */
  const char *section;         /* "5.1" */
  const char *level;           /* "MUST", "SHOULD" or "MAY" */
  const char *text;            /* the bracket's sentence */
} pc_req;

extern const pc_req pc_reqs[];
extern const size_t pc_req_count;

/* The requirement `id` (of len octets), or NULL when the spec has none. */
const pc_req *pc_req_find(const char *id, size_t len);
/* Calls fn for each requirement id of a case's `reqs` list ("SEND-1
 * SEND-3"), with the spec's entry (NULL when the spec has none). */
void pc_reqs_each(const char *reqs,
                  void (*fn)(void *ud, const char *id, size_t len,
                             const pc_req *r), void *ud);

/* ---- names --------------------------------------------------------- */

const char *pc_level_name(pc_level l);       /* "MUST", ... */
const char *pc_verdict_name(pc_verdict v);   /* "pass", "non-strict" ... */
const char *pc_dir_name(pc_dir d);           /* "sent", ... */
/* Whether item i fails the run (a MUST failure, or with --strict a
 * SHOULD one, that --expect-fail does not excuse). */
bool pc_item_fails_run(const pc_item *it, bool strict);
void pc_tally_of(const pc_outcome *o, pc_tally *t);
/* "2024-05-01T12:00:00.123Z" for a wall-clock time in milliseconds. */
void pc_iso_time(uint64_t ms, char *out, size_t size);

/* ---- runner.c ------------------------------------------------------ */

/* Selects the cases of the mode (`all_modes`: of both) that match the
 * --case patterns (all when there are none). Returns a calloc'd array and
 * sets *count, or NULL after printing which pattern matched nothing. */
pc_item *pc_select(const pc_opts *o, bool all_modes, size_t *count);
/* Reads --expect-fail and marks the listed items. The file's entries live
 * until pc_expect_fail_free. Returns 0, or -1 after printing the error. */
int pc_expect_fail_load(const char *path, pc_item *items, size_t count);
void pc_expect_fail_free(void);
/* Reads --accounts into r->accounts. Returns 0 or -1 after printing. */
int pc_accounts_load(const char *path, pc_run *r);
/* Fills r->url, host, port and tls from a ws:// or wss:// URL. Returns 0
 * or -1 after printing. */
int pc_target_parse(const char *url, pc_run *r);
/* Runs o->items on o->opts->jobs threads with a progress line and one
 * line per non-passing case on `term`. */
void pc_run_items(pc_run *r, pc_outcome *o, FILE *term);
/* Asks the run to start no further case (a signal handler may call it). */
void pc_stop_request(void);
bool pc_stop_requested(void);

/* ---- selfserve.c: the reference server as the target ---------------- */

/* The accounts a self-started run makes. The presence cases take the
 * last one as their subject, and no other case opens a session of it;
 * the other suites spread over the rest. */
#define PC_SELFSERVE_ACCOUNTS 8

/* Starts parley-server on 127.0.0.1 with a temporary database and
 * `accounts` accounts, and fills r (url, host, port, accounts). Returns
 * the handle, or NULL after writing why (with the server's stderr) to
 * stderr. `argv0` finds the binary when `bin` is NULL. */
pc_selfserve *pc_selfserve_start(const char *argv0, const char *bin,
                                 const char **args, size_t nargs,
                                 size_t accounts, pc_run *r);
/* True while the server runs. */
bool pc_selfserve_alive(pc_selfserve *s);
/* The file that holds the server's stderr (read by --fuzz for
 * sanitizer reports). */
const char *pc_selfserve_errlog(const pc_selfserve *s);
/* How the server ended, as text into out ("exit status 1", "signal 11
 * (Segmentation fault)"), or "running". Returns out. */
const char *pc_selfserve_exit_text(pc_selfserve *s, char *out, size_t size);
/* For an exit at once (a second ^C): kills the server that
 * pc_selfserve_start started or is starting, and removes its temporary
 * directory (the database and the accounts' passwords). Frees nothing;
 * the process exits next. */
void pc_selfserve_abandon(void);
/* Stops the server (SIGTERM, then SIGKILL after a grace period), prints
 * its stderr when it died early or exited with a failure, removes the
 * temporary directory and frees s. Returns 0 when it ran and stopped
 * cleanly, -1 otherwise. */
int pc_selfserve_stop(pc_selfserve *s);

/* ---- reports ------------------------------------------------------- */

/* The terminal summary: tables by verdict and suite, stale entries, the
 * result line and the wall time. */
void pc_report_summary(const pc_outcome *o, FILE *f);
/* One line for a non-passing item, and its wire log when `wire`. */
void pc_report_item_line(const pc_item *it, bool strict, bool wire,
                         FILE *f);
/* Appends the head line of a wire log entry: time since the case
 * started, direction, connection, kind and length. */
void pc_log_head(pc_buf *b, const pc_log_entry *e);
/* The wire log of a result, one entry after another, for a terminal. */
void pc_report_wire_text(const pc_result *res, FILE *f);
/* --list: a table, or the JSON catalogue when json_path is set. */
int pc_report_list(const pc_item *items, size_t count,
                   const char *json_path);
/* Each writer returns 0, or -1 after printing what went wrong. */
int pc_report_junit(const pc_outcome *o, FILE *f);
int pc_report_json(const pc_outcome *o, FILE *f);
int pc_report_html(const pc_outcome *o, const char *dir);
/* Removes this process's temporary files in dir (a page being written
 * when the run was cut off); never a page or anything else. */
void pc_report_html_clear(const char *dir);

#endif
