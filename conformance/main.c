/* parley-conform: checks a Parley/1 server (or, with --client, a client)
 * against the spec, case by case.
 *
 * The run, in order: parse the command line (exit 2 on any mistake, with
 * the flag named); select the cases; read --expect-fail; open the report
 * files (so a bad path fails before anything runs); find the target --
 * the URL given with its --accounts, or a reference server this run
 * starts -- and set the run up against it (exit 3 when it cannot be
 * reached; in client mode, when the --exec command does not start and
 * write its first line); run the cases on --jobs threads; write the reports; stop the
 * self-started server; exit 0 when every MUST case passed, 1 otherwise.
 * README.md is the user's manual and says the same at length. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver.h"
#include "fuzz.h"
#include "outfile.h"
#include "tool.h"

#ifndef PARLEY_VERSION
#define PARLEY_VERSION "0"
#endif

static const char usage_text[] =
  "usage: parley-conform [options] [ws://HOST:PORT | wss://HOST:PORT]\n"
  "       parley-conform --client --exec CMD [options]\n"
  "       parley-conform --list [--json FILE|-] [--case ID|GLOB]...\n"
  "       parley-conform --fuzz [ws://HOST:PORT --accounts FILE] [--seed N]\n"
  "                      [--time SECONDS | --iterations N] [--out DIR]\n"
  "       parley-conform --fuzz-replay FILE [ws://HOST:PORT --accounts "
  "FILE]\n"
  "\n"
  "Runs the Parley/1 conformance cases against a server at the URL (with\n"
  "--accounts), or with no URL against a reference server it starts on\n"
  "127.0.0.1; with --client, against the client that CMD starts.\n"
  "\n"
  "target:\n"
  "  --accounts FILE      test accounts of the target, JSON:\n"
  "                       {\"accounts\": [{\"user\": U, \"password\": P},"
  " ...]},\n"
  "                       at least 4\n"
  "  --insecure           wss://: do not verify the server's certificate\n"
  "  --server-bin PATH    the parley-server to start when no URL is given\n"
  "                       (default: found beside parley-conform)\n"
  "  --server-arg ARG     one more argument for that server (repeatable)\n"
  "  --client             check a client instead of a server\n"
  "  --exec CMD           with --client: the command that starts the\n"
  "                       client under test (run by /bin/sh)\n"
  "cases:\n"
  "  --list               list the cases (id, level, mode, reqs, title)\n"
  "  --case ID|GLOB       run only matching cases (repeatable; shell\n"
  "                       patterns such as 'send.*')\n"
  "  --expect-fail FILE   known failures, one case id a line, '#'\n"
  "                       comments, a reason after the id\n"
  "  --timeout MS         how long an expected answer may take (default\n"
  "                       3000)\n"
  "  --jobs N             cases run at once (default 8)\n"
  "  --strict             a SHOULD case that fails fails the run too\n"
  "  -x, --fail-fast      start no case after the first that fails the run\n"
  "output:\n"
  "  --junit FILE|-       JUnit XML report ('-': standard output)\n"
  "  --json FILE|-        JSON report (with --list: the case catalogue)\n"
  "  --html DIR           HTML report: DIR/index.html and a page for each\n"
  "                       case that did not pass, with its wire log\n"
  "  -q, --quiet          only cases that fail the run, and the result\n"
  "  -v, --verbose        also the wire log of each case that did not pass\n"
  "fuzzing (--fuzz --help says more):\n"
  "  --fuzz               send mutated frames to the server and report\n"
  "                       crashes, hangs and replies that break the spec;\n"
  "                       each finding saved in --out as a replayable file\n"
  "  --fuzz-replay FILE   send a saved finding again\n"
  "  -h, --help           this text\n"
  "  --version            the version\n"
  "\n"
  "exit status: 0 every MUST case passed; 1 a MUST case failed (--strict:\n"
  "or a SHOULD case); 2 bad usage; 3 the target could not be reached or\n"
  "set up; 130 interrupted.\n";

/* ---- the command line ---------------------------------------------- */

/* Prints a usage error naming the flag. Returns the exit code. */
static int bad_usage(const char *flag, const char *what)
{
  fprintf(stderr, "parley-conform: %s: %s (see --help)\n", flag, what);
  return PC_EXIT_USAGE;
}

/* Reads a number from lo to hi. */
static bool parse_uint(const char *v, unsigned lo, unsigned hi,
                       unsigned *out)
{
  char *end;
  unsigned long n;

  if (!v || *v < '0' || *v > '9')
    return false;
  errno = 0;
  n = strtoul(v, &end, 10);
  if (errno || *end || n < lo || n > hi)
    return false;
  *out = (unsigned)n;
  return true;
}

/* Appends v to a growing argv-like list. */
static void push(const char ***list, size_t *n, const char *v)
{
  *list = realloc(*list, (*n + 1) * sizeof **list);
  if (!*list)
    abort();
  (*list)[(*n)++] = v;
}

enum {
  OPT_ACCOUNTS = 256, OPT_CASE, OPT_LIST, OPT_TIMEOUT, OPT_JOBS,
  OPT_STRICT, OPT_EXPECT_FAIL, OPT_JUNIT, OPT_JSON, OPT_HTML, OPT_INSECURE,
  OPT_CLIENT, OPT_EXEC, OPT_SERVER_BIN, OPT_SERVER_ARG, OPT_VERSION
};

static const struct option long_opts[] = {
  {"accounts", required_argument, NULL, OPT_ACCOUNTS},
  {"case", required_argument, NULL, OPT_CASE},
  {"list", no_argument, NULL, OPT_LIST},
  {"timeout", required_argument, NULL, OPT_TIMEOUT},
  {"jobs", required_argument, NULL, OPT_JOBS},
  {"strict", no_argument, NULL, OPT_STRICT},
  {"fail-fast", no_argument, NULL, 'x'},
  {"expect-fail", required_argument, NULL, OPT_EXPECT_FAIL},
  {"junit", required_argument, NULL, OPT_JUNIT},
  {"json", required_argument, NULL, OPT_JSON},
  {"html", required_argument, NULL, OPT_HTML},
  {"insecure", no_argument, NULL, OPT_INSECURE},
  {"client", no_argument, NULL, OPT_CLIENT},
  {"exec", required_argument, NULL, OPT_EXEC},
  {"server-bin", required_argument, NULL, OPT_SERVER_BIN},
  {"server-arg", required_argument, NULL, OPT_SERVER_ARG},
  {"quiet", no_argument, NULL, 'q'},
  {"verbose", no_argument, NULL, 'v'},
  {"help", no_argument, NULL, 'h'},
  {"version", no_argument, NULL, OPT_VERSION},
  {NULL, 0, NULL, 0}};

/* Applies a flag that takes a value. Returns -1, or an exit code. */
static int apply_value(pc_opts *o, int opt, const char *flag,
                       const char *v)
{
  switch (opt) {
  case OPT_ACCOUNTS: o->accounts_file = v; break;
  case OPT_CASE: push(&o->globs, &o->glob_count, v); break;
  case OPT_TIMEOUT:
    if (!parse_uint(v, 1, 3600000, &o->timeout_ms))
      return bad_usage(flag, "expected milliseconds from 1 to 3600000");
    break;
  case OPT_JOBS:
    if (!parse_uint(v, 1, 256, &o->jobs))
      return bad_usage(flag, "expected a number from 1 to 256");
    break;
  case OPT_EXPECT_FAIL: o->expect_fail_file = v; break;
  case OPT_JUNIT: o->junit_path = v; break;
  case OPT_JSON: o->json_path = v; break;
  case OPT_HTML: o->html_dir = v; break;
  case OPT_EXEC: o->exec_cmd = v; break;
  case OPT_SERVER_BIN: o->server_bin = v; break;
  case OPT_SERVER_ARG:
    push(&o->server_args, &o->server_arg_count, v);
    break;
  default: return bad_usage(flag, "unknown flag");
  }
  if (!*v && opt != OPT_SERVER_ARG)
    return bad_usage(flag, "needs a value that is not empty");
  return -1;
}

/* Applies one flag. Returns -1 to go on, or an exit code. */
static int apply_flag(pc_opts *o, int opt, const char *flag, const char *v)
{
  switch (opt) {
  case 'h': fputs(usage_text, stdout); return PC_EXIT_PASS;
  case OPT_VERSION:
    printf("parley-conform %s (spec version %s)\n", PARLEY_VERSION,
           PC_SPEC_VERSION);
    return PC_EXIT_PASS;
  case OPT_LIST: o->list = true; return -1;
  case OPT_STRICT: o->strict = true; return -1;
  case 'x': o->fail_fast = true; return -1;
  case OPT_INSECURE: o->insecure = true; return -1;
  case OPT_CLIENT: o->client = true; return -1;
  case 'q': o->verbosity = -1; return -1;
  case 'v': o->verbosity = 1; return -1;
  case ':': return bad_usage(flag, "needs a value");
  case '?': return bad_usage(flag, "unknown flag");
  default: return apply_value(o, opt, flag, v);
  }
}

/* Whether a report path is "-", standard output. */
static bool is_stdout(const char *path)
{
  return path && strcmp(path, "-") == 0;
}

/* Flags that contradict each other or the target. Returns -1 or 2. */
static int check_combination(const pc_opts *o)
{
  if (o->client && !o->exec_cmd && !o->list)
    return bad_usage("--client", "needs --exec CMD");
  if (o->exec_cmd && !o->client)
    return bad_usage("--exec", "goes with --client");
  if (o->client && o->target) {
    fprintf(stderr, "parley-conform: --client takes no URL: in client mode "
            "parley-conform plays the server itself (drop %s; see "
            "--help)\n", o->target);
    return PC_EXIT_USAGE;
  }
  if (o->target && !o->accounts_file && !o->list)
    return bad_usage(o->target, "a target URL needs --accounts FILE");
  if (o->accounts_file && !o->target && !o->list)
    return bad_usage("--accounts", "goes with a target URL (without one "
                     "the runner makes its own accounts)");
  if ((o->server_bin || o->server_arg_count) && (o->target || o->client))
    return bad_usage(o->server_bin ? "--server-bin" : "--server-arg",
                     "only for the reference server started when no URL "
                     "is given");
  if (o->list && (o->junit_path || o->html_dir))
    return bad_usage(o->junit_path ? "--junit" : "--html",
                     "does not go with --list (use --list --json)");
  if (is_stdout(o->junit_path) && is_stdout(o->json_path))
    return bad_usage("--junit -", "standard output takes one report, and "
                     "--json - has it");
  return -1;
}

/* Reads argv into o. Returns -1 to go on, or an exit code. */
static int parse_args(int argc, char **argv, pc_opts *o)
{
  int opt, idx, rc;
  char flag[64];

  opterr = 0;
  while ((idx = -1,
          opt = getopt_long(argc, argv, ":hqvx", long_opts, &idx)) != -1) {
    if (idx >= 0)
      snprintf(flag, sizeof flag, "--%s", long_opts[idx].name);
    else if (opt == '?' && optopt && optopt < 256)
      snprintf(flag, sizeof flag, "-%c", optopt);
    else
      snprintf(flag, sizeof flag, "%s", argv[optind - 1]);
    if ((rc = apply_flag(o, opt, flag, optarg)) >= 0)
      return rc;
  }
  if (optind < argc)
    o->target = argv[optind++];
  if (optind < argc)
    return bad_usage(argv[optind], "one target only");
  return check_combination(o);
}

/* ---- the run ------------------------------------------------------- */

/* Everything main owns while it runs. */
typedef struct app {
  pc_opts o;
  pc_item *items;
  size_t count;
  pc_outfile junit, json;      /* prepared before the run */
  bool json_stdout;            /* --json - */
  bool junit_stdout;           /* --junit - */
  FILE *term;                  /* stderr when a report is stdout */
  pc_run run;
  pc_selfserve *server;
  bool set_up;                 /* pc_run_setup was called (or, in client
                                  mode, the run's lock made) */
} app;

/* The partial results an exit at once must not leave behind: the
 * report destinations, until they are written whole. `lock` is held
 * while the reports are written, and from the exit at once on, so that
 * neither cuts into the other. */
static struct {
  const char *junit, *json, *html;  /* our temporary files (NULL: none)
                                       and the HTML directory */
  bool written;
  pthread_mutex_t lock;
} g_partial = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The second ^C (or SIGTERM): removes the reports not yet written whole
 * and the self-started server's temporary directory, stops that server,
 * and exits. */
static _Noreturn void end_at_once(void)
{
  static const char msg[] = "\nparley-conform: interrupted again: ended "
                            "at once, partial reports removed\n";

  pthread_mutex_lock(&g_partial.lock); /* never unlocked: we exit */
  if (!g_partial.written) {
    if (g_partial.junit)
      unlink(g_partial.junit);
    if (g_partial.json)
      unlink(g_partial.json);
    if (g_partial.html)
      pc_report_html_clear(g_partial.html);
  }
  pc_selfserve_abandon();
  if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
  }
  _exit(PC_EXIT_INTERRUPTED);
}

/* The thread that takes SIGINT and SIGTERM, which every other thread
 * blocks: the first asks the run to start no more cases and ends every
 * wait of the running ones (the reports are written); the second ends at
 * once. */
static void *signal_thread(void *arg)
{
  sigset_t *set = arg;
  int sig, seen = 0;
  static const char msg[] = "\nparley-conform: stopping: the running "
                            "cases end now and the reports are written "
                            "(interrupt again to end at once)\n";

  for (;;) {
    if (sigwait(set, &sig) != 0)
      continue;
    if (seen++ > 0)
      end_at_once();
    pc_stop_request();
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
    }
  }
  return NULL;
}

/* Blocks SIGINT and SIGTERM in this thread and every thread made after
 * it, and starts the thread that takes them; SIGPIPE is ignored, since
 * peers may close at any time. Children unblock them before exec. */
static void set_signals(void)
{
  static sigset_t set;
  pthread_t th;

  signal(SIGPIPE, SIG_IGN);
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  if (pthread_create(&th, NULL, signal_thread, &set) == 0)
    pthread_detach(th);
}

/* Checks a report destination and makes its temporary file (nothing
 * the user named is opened or truncated yet). Returns 0 or the usage
 * exit code. */
static int open_report(const char *flag, const char *path, pc_outfile *o)
{
  char err[256];

  if (!path)
    return 0;
  if (pc_outfile_prepare(o, path, err, sizeof err) != 0) {
    fprintf(stderr, "parley-conform: %s %s: cannot write: %s\n", flag, path,
            err);
    return PC_EXIT_USAGE;
  }
  return 0;
}

/* Opens every report destination. Returns 0 or an exit code. */
static int open_reports(app *a)
{
  int rc;
  struct stat st;

  a->json_stdout = is_stdout(a->o.json_path);
  a->junit_stdout = is_stdout(a->o.junit_path);
  if ((!a->junit_stdout &&
       (rc = open_report("--junit", a->o.junit_path, &a->junit))) ||
      (!a->json_stdout &&
       (rc = open_report("--json", a->o.json_path, &a->json))))
    return rc;
  g_partial.junit = a->junit.tmp;
  g_partial.json = a->json.tmp;
  g_partial.html = a->o.html_dir;
  if (!a->o.html_dir)
    return 0;
  if (mkdir(a->o.html_dir, 0777) != 0 &&
      (errno != EEXIST || stat(a->o.html_dir, &st) != 0 ||
       !S_ISDIR(st.st_mode))) {
    fprintf(stderr, "parley-conform: --html %s: cannot make the "
                    "directory: %s\n", a->o.html_dir,
            strerror(errno == EEXIST ? ENOTDIR : errno));
    return PC_EXIT_USAGE;
  }
  return 0;
}

/* Fills the run's random tag: letters that make this run's ids unique. */
static void make_run_tag(pc_run *r)
{
  static const char set[] = "abcdefghijklmnopqrstuvwxyz";
  unsigned char raw[8];
  size_t i;

  while (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
    ;
  for (i = 0; i < sizeof raw; i++)
    r->run_tag[i] = set[raw[i] % 26];
  r->run_tag[sizeof raw] = '\0';
}

/* Client mode: starts the --exec command once and waits for its first
 * line (as long as a case gives the client to reach its first session),
 * so that a command that cannot start is one message and exit 3, not a
 * failure of every case. Returns 0 or an exit code. */
static int client_check(app *a)
{
  char err[1024];

  if (pd_probe(a->o.exec_cmd, 3 * a->o.timeout_ms + 2000, err,
               sizeof err) == 0)
    return 0;
  fprintf(stderr, "parley-conform: --exec %s: cannot set the run up: %s\n",
          a->o.exec_cmd, err);
  return PC_EXIT_SETUP;
}

/* Appends s to b with every octet outside printable ASCII as \xNN (a
 * backslash stays: the wire layer's messages already quote octets so). */
static void controls_escaped(pc_buf *b, const char *s)
{
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s;
  char x[4] = {'\\', 'x', 0, 0};

  pc_buf_add(b, "", 0);
  for (; *p; p++) {
    if (*p >= 0x20 && *p < 0x7f) {
      pc_buf_add(b, p, 1);
      continue;
    }
    x[2] = hex[*p >> 4];
    x[3] = hex[*p & 15];
    pc_buf_add(b, x, sizeof x);
  }
}

/* Finds the target and sets the run up. Returns 0 or an exit code. */
static int set_up(app *a, const char *argv0)
{
  pc_run *r = &a->run;
  char err[1024] = "";
  pc_buf shown = {0};

  r->timeout_ms = a->o.timeout_ms;
  r->jobs = a->o.jobs;
  r->tls_insecure = a->o.insecure;
  make_run_tag(r);
  if (a->o.client) {
    r->exec_cmd = strdup(a->o.exec_cmd);
    pthread_mutex_init(&r->lock, NULL);
    a->set_up = true;
    return client_check(a);
  }
  if (a->o.target) {
    if (pc_target_parse(a->o.target, r) != 0 ||
        pc_accounts_load(a->o.accounts_file, r) != 0)
      return PC_EXIT_USAGE;
  } else if (!(a->server = pc_selfserve_start(argv0, a->o.server_bin,
                                              a->o.server_args,
                                              a->o.server_arg_count,
                                              PC_SELFSERVE_ACCOUNTS, r))) {
    return PC_EXIT_SETUP;
  }
  a->set_up = true;
  if (pc_run_setup(r, err, sizeof err) != 0) {
    if (pc_stop_requested())
      return PC_EXIT_INTERRUPTED;
    /* err may quote the target: escaped, so nothing acts on a terminal */
    controls_escaped(&shown, err);
    fprintf(stderr, "parley-conform: %s: cannot set the run up: %s\n",
            r->url, pc_buf_str(&shown));
    pc_buf_free(&shown);
    return PC_EXIT_SETUP;
  }
  return 0;
}

/* Writes one report through its outfile with fn. Returns 0 or an exit
 * code after printing. */
static int write_one(const char *flag, pc_outfile *o, const pc_outcome *out,
                     int (*fn)(const pc_outcome *, FILE *))
{
  char err[256] = "cannot write";
  FILE *f;

  if (!o->dest)
    return 0;
  if (!(f = pc_outfile_open(o, err, sizeof err)) || fn(out, f) != 0 ||
      pc_outfile_commit(o, err, sizeof err) != 0) {
    fprintf(stderr, "parley-conform: %s %s: cannot write: %s\n", flag,
            o->dest, err);
    pc_outfile_discard(o);
    return PC_EXIT_USAGE;
  }
  pc_outfile_free(o);
  return 0;
}

/* Writes the report files. Returns 0 or an exit code. */
static int write_reports(app *a, const pc_outcome *out)
{
  int rc = 0;

  if (write_one("--junit", &a->junit, out, pc_report_junit) != 0)
    rc = PC_EXIT_USAGE;
  if (a->junit_stdout &&
      (pc_report_junit(out, stdout) != 0 || fflush(stdout) != 0)) {
    fprintf(stderr, "parley-conform: --junit -: cannot write\n");
    rc = PC_EXIT_USAGE;
  }
  if (write_one("--json", &a->json, out, pc_report_json) != 0)
    rc = PC_EXIT_USAGE;
  if (a->json_stdout &&
      (pc_report_json(out, stdout) != 0 || fflush(stdout) != 0)) {
    fprintf(stderr, "parley-conform: --json -: cannot write\n");
    rc = PC_EXIT_USAGE;
  }
  if (a->o.html_dir && pc_report_html(out, a->o.html_dir) != 0)
    rc = PC_EXIT_USAGE;
  return rc;
}

/* Runs the selected cases and reports them. Returns the exit code. */
static int run_and_report(app *a)
{
  pc_outcome out = {.opts = &a->o, .items = a->items, .count = a->count};
  pc_tally t;
  int rc;

  out.target = a->o.client ? a->o.exec_cmd : a->run.url;
  out.self_started = a->server != NULL;
  out.server = a->server;
  out.mode = a->o.client ? "client" : "server";
  out.started_ms = pc_now_ms();
  if (a->o.verbosity >= 0)
    fprintf(a->term, "parley-conform %s: %zu %s case%s against %s%s, "
            "%u job%s, timeout %u ms\n", PARLEY_VERSION, a->count, out.mode,
            a->count == 1 ? "" : "s", out.target,
            out.self_started ? " (reference server started for this run)"
                             : "", a->o.jobs, a->o.jobs == 1 ? "" : "s",
            a->o.timeout_ms);
  fflush(a->term);
  pc_run_items(&a->run, &out, a->term);
  pc_report_summary(&out, a->term);
  pthread_mutex_lock(&g_partial.lock);
  rc = write_reports(a, &out);
  g_partial.written = true;
  pthread_mutex_unlock(&g_partial.lock);
  pc_tally_of(&out, &t);
  if (rc == 0 && out.interrupted)
    rc = PC_EXIT_INTERRUPTED;
  if (rc == 0 && t.failing)
    rc = PC_EXIT_FAIL;
  return rc;
}

/* Frees what the runner put in the run: pc_run_free releases only what
 * pc_run_setup added (tokens, the config's strings, the lock). */
static void run_release(pc_run *r)
{
  size_t i;

  for (i = 0; i < r->account_count; i++) {
    free(r->accounts[i].user);
    free(r->accounts[i].password);
    free(r->accounts[i].token);
  }
  free(r->accounts);
  free(r->url);
  free(r->host);
  free(r->exec_cmd);
  memset(r, 0, sizeof *r);
}

/* Releases what main holds. */
static void tear_down(app *a, int *rc)
{
  size_t i;

  for (i = 0; i < a->count; i++)
    if (a->items[i].ran)
      pc_result_free(&a->items[i].res);
  if (a->set_up)
    pc_run_free(&a->run);
  run_release(&a->run);
  if (a->server && pc_selfserve_stop(a->server) != 0 && *rc != 2)
    *rc = PC_EXIT_SETUP;
  /* never written: remove our temporary files, nothing else */
  pc_outfile_discard(&a->junit);
  pc_outfile_discard(&a->json);
  pc_expect_fail_free();
  free(a->items);
  free(a->o.globs);
  free(a->o.server_args);
}

int main(int argc, char **argv)
{
  app a = {.o = {.timeout_ms = 3000, .jobs = 8}};
  int rc;

  if (fz_wanted(argc, argv))
    return fz_main(argc, argv);
  rc = parse_args(argc, argv, &a.o);
  if (rc >= 0)
    goto out_opts;
  a.term = is_stdout(a.o.json_path) || is_stdout(a.o.junit_path) ? stderr
                                                                 : stdout;
  rc = PC_EXIT_USAGE;
  if (!(a.items = pc_select(&a.o, a.o.list && !a.o.client, &a.count)))
    goto out;
  if (a.o.list) {
    rc = pc_report_list(a.items, a.count, a.o.json_path) ? PC_EXIT_USAGE
                                                         : PC_EXIT_PASS;
    goto out;
  }
  if ((a.o.expect_fail_file &&
       pc_expect_fail_load(a.o.expect_fail_file, a.items, a.count) != 0) ||
      (rc = open_reports(&a)) != 0)
    goto out;
  set_signals();
  if ((rc = set_up(&a, argv[0])) != 0)
    goto out;
  rc = run_and_report(&a);
out:
  tear_down(&a, &rc);
  return rc;
out_opts:
  free(a.o.globs);
  free(a.o.server_args);
  return rc;
}
