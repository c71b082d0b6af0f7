/* parley-conform with no target: the reference server as the target.
 *
 * Steps, each undone in reverse by pc_selfserve_stop or on failure: a
 * temporary directory (mkdtemp) holds the database, one password file per
 * account and the server's stderr; `parley-server adduser` makes the
 * accounts with random passwords; the server starts on 127.0.0.1 port 0
 * and its first stdout line, "parley-server listening on HOST:PORT",
 * gives the port. Its limits on sessions and token requests are raised
 * far above what --jobs can reach, so they never decide a verdict, and
 * its call timers are cut to seconds (SELF_RING_TIMEOUT_MS,
 * SELF_CALL_GRACE_MS) so that the call cases that wait them out are
 * quick; the run's cases learn the values through pc_run.
 *
 * The server runs in its own process group (a ^C at the terminal reaches
 * the runner, which stops it in order) and, on Linux, gets SIGTERM if
 * the runner dies. Its stdout stays open and unread after the first line;
 * it writes nothing more there. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "tool.h"

/* How long the server may take to print its address, and to stop. Both
 * are generous: a sanitizer build starts and stops slowly. */
#define START_MS 30000
#define STOP_MS 20000

/* The call timers the server is given (spec section 19 has 30 s and
 * 20 s). The ring timeout stays well above what a case takes from CALL
 * to JOIN on a loaded machine. */
#define SELF_RING_TIMEOUT_MS "5000"
#define SELF_CALL_GRACE_MS "3000"

struct pc_selfserve {
  pid_t pid;
  int out_fd;                  /* read end of the server's stdout */
  bool reaped;                 /* waitpid has returned its status */
  int status;
  char dir[PATH_MAX];
  char errlog[PATH_MAX + 16];  /* the server's stderr */
};

/* The server this process started or is starting, for
 * pc_selfserve_abandon; NULL when none. */
static pc_selfserve *volatile g_live;

/* One name per account of PC_SELFSERVE_ACCOUNTS. */
static const char *const account_names[] = {
  "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
};
_Static_assert(PC_COUNT(account_names) >= PC_SELFSERVE_ACCOUNTS,
               "a name for each account of a self-started run");

/* ---- finding the binary -------------------------------------------- */

/* Looks for parley-server beside the runner: in the build tree
 * (<dir>/../ref-server/) and where both are installed (<dir>/). Copies
 * the first executable one into out. Returns 0, or -1 with the places
 * looked at in `looked`. */
static int find_server(const char *argv0, char *out, size_t size,
                       pc_buf *looked)
{
  char self[PATH_MAX], *slash;
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  const char *const rel[] = {"/../ref-server/parley-server",
                             "/parley-server"};
  size_t i;
  pc_buf path = {0};

  if (n > 0)
    self[n] = '\0';
  else
    snprintf(self, sizeof self, "%s", argv0);
  if (!(slash = strrchr(self, '/')))
    snprintf(self, sizeof self, ".");
  else
    *slash = '\0';
  for (i = 0; i < PC_COUNT(rel); i++) {
    path.len = 0;
    pc_buf_addf(&path, "%s%s", self, rel[i]);
    if (path.len < size && access(path.p, X_OK) == 0) {
      memcpy(out, path.p, path.len + 1);
      pc_buf_free(&path);
      return 0;
    }
    pc_buf_addf(looked, "%s%s", i ? ", " : "", path.p);
  }
  pc_buf_free(&path);
  return -1;
}

/* ---- child processes ----------------------------------------------- */

/* In a child: stdin from /dev/null, stdout to out_fd (-1: to the error
 * log), stderr appended to the error log; then exec. Never returns. */
static void child_exec(const char *errlog, int out_fd, char **argv)
{
  int null = open("/dev/null", O_RDONLY);
  int err = open(errlog, O_WRONLY | O_CREAT | O_APPEND, 0600);
  sigset_t none;

  if (null < 0 || err < 0)
    _exit(126);
  dup2(null, STDIN_FILENO);
  dup2(out_fd >= 0 ? out_fd : err, STDOUT_FILENO);
  dup2(err, STDERR_FILENO);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL); /* the runner blocks them */
  execv(argv[0], argv);
  dprintf(STDERR_FILENO, "cannot run %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

/* Runs argv to its end. Returns its exit status (-1: not started). */
static int run_wait(const char *errlog, char **argv)
{
  pid_t pid = fork();
  int status;

  if (pid < 0)
    return -1;
  if (pid == 0)
    child_exec(errlog, -1, argv);
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Writes `size - 1` random letters and digits and a NUL to out. */
static void random_text(char *out, size_t size)
{
  static const char set[] = "abcdefghijklmnopqrstuvwxyz"
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  unsigned char raw[64];
  size_t i, n = size - 1 < sizeof raw ? size - 1 : sizeof raw;

  while (getrandom(raw, n, 0) != (ssize_t)n)
    ;
  for (i = 0; i < n; i++)
    out[i] = set[raw[i] % (sizeof set - 1)];
  out[n] = '\0';
}

/* Makes account i: a random password in a file, then adduser. Returns 0
 * or -1 (the error log says why). */
static int add_account(pc_selfserve *s, const char *bin, size_t i,
                       pc_account *a)
{
  char pw[33], pwfile[PATH_MAX + 32], db[PATH_MAX + 16];
  char *argv[] = {(char *)bin, "adduser", (char *)account_names[i],
                  "--password-file", pwfile, "--db", db, NULL};
  FILE *f;
  int fd;

  random_text(pw, sizeof pw);
  snprintf(pwfile, sizeof pwfile, "%s/password-%zu", s->dir, i);
  snprintf(db, sizeof db, "%s/parley.db", s->dir);
  if ((fd = open(pwfile, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0 ||
      !(f = fdopen(fd, "w")))
    return -1;
  fprintf(f, "%s\n", pw);
  if (fclose(f) != 0 || run_wait(s->errlog, argv) != 0)
    return -1;
  a->user = strdup(account_names[i]);
  a->password = strdup(pw);
  return 0;
}

/* ---- the server ---------------------------------------------------- */

/* Starts the server with its stdout on a pipe. Returns 0 or -1. */
static int spawn(pc_selfserve *s, const char *bin, const char **args,
                 size_t nargs)
{
  static const char *const fixed[] = {
    "--listen", "127.0.0.1:0", "--log-level", "warn",
    "--heartbeat-min-ms", "200", "--token-rate-address", "100000",
    "--token-rate-user", "100000", "--max-sessions-address", "100000",
    "--max-sessions-user", "100000", "--ring-timeout-ms",
    SELF_RING_TIMEOUT_MS, "--call-grace-ms", SELF_CALL_GRACE_MS, "--db"};
  char db[PATH_MAX + 16], **argv = calloc(nargs + 24, sizeof *argv);
  size_t n = 0, i;
  int fds[2];

  snprintf(db, sizeof db, "%s/parley.db", s->dir);
  argv[n++] = (char *)bin;
  for (i = 0; i < PC_COUNT(fixed); i++)
    argv[n++] = (char *)fixed[i];
  argv[n++] = db;
  for (i = 0; i < nargs; i++)
    argv[n++] = (char *)args[i];
  if (pipe(fds) != 0 || (s->pid = fork()) < 0) {
    free(argv);
    return -1;
  }
  if (s->pid == 0) {
    close(fds[0]);
    setpgid(0, 0);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    child_exec(s->errlog, fds[1], argv);
  }
  close(fds[1]);
  s->out_fd = fds[0];
  free(argv);
  return 0;
}

/* The value of the last `flag VALUE` in args, else `def`, as a number:
 * what the server will use, since a later flag overrides. */
static uint64_t timer_arg(const char **args, size_t nargs, const char *flag,
                          const char *def)
{
  const char *v = def;

  for (size_t i = 0; i + 1 < nargs; i++)
    if (strcmp(args[i], flag) == 0)
      v = args[i + 1];
  return strtoull(v, NULL, 10);
}

/* Reads the server's first stdout line within START_MS into line.
 * Returns 0, or -1 when it closed stdout or took too long. */
static int read_first_line(pc_selfserve *s, char *line, size_t size)
{
  struct pollfd pfd = {.fd = s->out_fd, .events = POLLIN};
  size_t len = 0;
  ssize_t n;
  int waited = 0;

  while (len + 1 < size && waited < START_MS) {
    if (poll(&pfd, 1, 100) <= 0) {
      waited += 100;
      continue;
    }
    if ((n = read(s->out_fd, line + len, 1)) <= 0)
      return -1;
    if (line[len] == '\n') {
      line[len] = '\0';
      return 0;
    }
    len++;
  }
  return -1;
}

/* Copies the port from "parley-server listening on 127.0.0.1:PORT". */
static int parse_listening(const char *line, uint16_t *port)
{
  static const char prefix[] = "parley-server listening on ";
  const char *colon;
  unsigned long p;

  if (strncmp(line, prefix, sizeof prefix - 1) != 0 ||
      !(colon = strrchr(line, ':')))
    return -1;
  p = strtoul(colon + 1, NULL, 10);
  if (p == 0 || p > 65535)
    return -1;
  *port = (uint16_t)p;
  return 0;
}

/* Prints the end of the server's stderr after `why`. */
static void print_errlog(const pc_selfserve *s, const char *why)
{
  FILE *f = fopen(s->errlog, "r");
  char buf[8192];
  size_t n = 0;
  long size;

  fprintf(stderr, "parley-conform: %s\n", why);
  if (!f)
    return;
  fseek(f, 0, SEEK_END);
  size = ftell(f);
  if (size > (long)sizeof buf - 1)
    fseek(f, size - (long)sizeof buf + 1, SEEK_SET);
  else
    rewind(f);
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  if (n)
    fprintf(stderr, "--- its stderr%s ---\n%s%s--- end ---\n",
            size > (long)n ? " (the end)" : "", buf,
            buf[n - 1] == '\n' ? "" : "\n");
}

/* Removes the temporary directory and what it holds (it has no
 * subdirectories). */
static void remove_dir(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  char path[PATH_MAX + 256];

  if (!d)
    return;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      unlink(path);
    }
  closedir(d);
  rmdir(dir);
}

/* Makes the directory and the accounts. Returns 0, or -1 after
 * printing. */
static int prepare(pc_selfserve *s, const char *bin, size_t accounts,
                   pc_run *r)
{
  const char *tmp = getenv("TMPDIR");
  size_t i;

  snprintf(s->dir, sizeof s->dir, "%s/parley-conform-XXXXXX",
           tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(s->dir)) {
    fprintf(stderr, "parley-conform: cannot make a temporary directory "
                    "%s: %s\n", s->dir, strerror(errno));
    s->dir[0] = '\0';
    return -1;
  }
  snprintf(s->errlog, sizeof s->errlog, "%s/server.log", s->dir);
  r->accounts = calloc(accounts, sizeof *r->accounts);
  for (i = 0; i < accounts && i < PC_COUNT(account_names); i++) {
    if (add_account(s, bin, i, &r->accounts[i]) != 0) {
      print_errlog(s, "the reference server could not add the test "
                      "accounts");
      return -1;
    }
    r->account_count++;
  }
  return 0;
}

/* Starts the server and reads its port into r. Returns 0, or -1 after
 * printing. */
static int launch(pc_selfserve *s, const char *bin, const char **args,
                  size_t nargs, pc_run *r)
{
  char line[256], msg[PATH_MAX + 64];
  pc_buf url = {0};

  if (spawn(s, bin, args, nargs) != 0) {
    fprintf(stderr, "parley-conform: cannot start %s: %s\n", bin,
            strerror(errno));
    return -1;
  }
  if (read_first_line(s, line, sizeof line) != 0 ||
      parse_listening(line, &r->port) != 0) {
    snprintf(msg, sizeof msg, "the reference server (%s) did not start "
             "listening", bin);
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &s->status, 0);
    s->reaped = true;
    print_errlog(s, msg);
    return -1;
  }
  r->host = strdup("127.0.0.1");
  r->ring_timeout_ms = timer_arg(args, nargs, "--ring-timeout-ms",
                                 SELF_RING_TIMEOUT_MS);
  r->call_grace_ms = timer_arg(args, nargs, "--call-grace-ms",
                               SELF_CALL_GRACE_MS);
  pc_buf_addf(&url, "ws://127.0.0.1:%u", (unsigned)r->port);
  r->url = url.p;
  r->tls = false;
  return 0;
}

pc_selfserve *pc_selfserve_start(const char *argv0, const char *bin,
                                 const char **args, size_t nargs,
                                 size_t accounts, pc_run *r)
{
  pc_selfserve *s = calloc(1, sizeof *s);
  char found[PATH_MAX];
  pc_buf looked = {0};

  s->pid = -1;
  s->out_fd = -1;
  g_live = s;
  if (!bin && find_server(argv0, found, sizeof found, &looked) != 0) {
    fprintf(stderr, "parley-conform: no target given and no parley-server "
                    "found (looked at %s); name one with --server-bin or "
                    "give a ws:// URL\n", pc_buf_str(&looked));
    goto fail_free;
  }
  pc_buf_free(&looked);
  if (bin && access(bin, X_OK) != 0) {
    fprintf(stderr, "parley-conform: --server-bin %s: %s\n", bin,
            strerror(errno));
    goto fail_free;
  }
  if (!bin)
    bin = found;
  if (prepare(s, bin, accounts, r) != 0 ||
      launch(s, bin, args, nargs, r) != 0)
    goto fail_remove;
  return s;

fail_remove:
  if (s->dir[0])
    remove_dir(s->dir);
fail_free:
  g_live = NULL;
  pc_buf_free(&looked);
  free(s);
  return NULL;
}

/* Collects the exit status if the server has ended. */
static void reap(pc_selfserve *s)
{
  if (!s->reaped && waitpid(s->pid, &s->status, WNOHANG) == s->pid)
    s->reaped = true;
}

bool pc_selfserve_alive(pc_selfserve *s)
{
  reap(s);
  return !s->reaped;
}

const char *pc_selfserve_errlog(const pc_selfserve *s)
{
  return s->errlog;
}

const char *pc_selfserve_exit_text(pc_selfserve *s, char *out, size_t size)
{
  reap(s);
  if (!s->reaped)
    snprintf(out, size, "running");
  else if (WIFSIGNALED(s->status))
    snprintf(out, size, "signal %d (%s)", WTERMSIG(s->status),
             strsignal(WTERMSIG(s->status)));
  else
    snprintf(out, size, "exit status %d", WEXITSTATUS(s->status));
  return out;
}

/* Sends SIGTERM and waits up to STOP_MS, then SIGKILL. */
static void terminate(pc_selfserve *s)
{
  int waited = 0;
  struct timespec tick = {0, 20 * 1000000L};

  kill(s->pid, SIGTERM);
  for (reap(s); !s->reaped && waited < STOP_MS; reap(s)) {
    nanosleep(&tick, NULL);
    waited += 20;
  }
  if (!s->reaped) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &s->status, 0);
    s->reaped = true;
  }
}

int pc_selfserve_stop(pc_selfserve *s)
{
  int rc = 0;
  bool died = !pc_selfserve_alive(s);

  if (!died)
    terminate(s);
  if (died) {
    print_errlog(s, "the reference server died during the run");
    rc = -1;
  } else if (!WIFEXITED(s->status) || WEXITSTATUS(s->status) != 0) {
    print_errlog(s, "the reference server did not stop cleanly");
    rc = -1;
  }
  close(s->out_fd);
  remove_dir(s->dir);
  g_live = NULL;
  free(s);
  return rc;
}

void pc_selfserve_abandon(void)
{
  pc_selfserve *s = g_live;

  if (!s)
    return;
  if (s->pid > 0 && !s->reaped) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
  }
  if (s->dir[0])
    remove_dir(s->dir);
}
