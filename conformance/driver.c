/* parley-conform client mode: the driver handle (see driver.h).
 *
 * The child is spawned with posix_spawn (the runner has threads, so no
 * fork), in a process group of its own so that the cleanup can end the
 * shell and whatever it started by the group's id. Every pipe end is
 * close-on-exec, so a client started by another case at the same moment
 * never inherits this one's ends (and its standard input still sees the
 * end of input when this handle closes it). The signals the runner
 * ignores or catches are reset to their defaults in the child.
 *
 * Reading never blocks: the descriptors are non-blocking and the owner
 * polls them. Partial lines wait in a buffer for their line feed. */
#define _GNU_SOURCE /* pipe2 */
#include "driver.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner.h"
#include "wire.h"

extern char **environ;

#define PD_LINE_MAX (4u * 1024 * 1024)
/* How much of the end of the client's standard error a message quotes. */
#define PD_TAIL 400u

struct pd {
  pc_ctx *t;
  const char *label;   /* in the wire log: "driver" */
  pid_t pid;           /* also the process group's id; 0 once reaped */
  int in_fd;           /* the client's standard input; -1 once closed */
  int out_fd, err_fd;  /* its standard output and error; -1 at their end */
  char *out_buf;       /* a partial line of standard output */
  size_t out_len, out_cap;
  pd_event *events;
  size_t count, cap;
  bool eof;
  bool ended;          /* reaped: `status` is the waitpid status */
  int status;
  char err_tail[PD_TAIL]; /* the end of its standard error */
  size_t err_tail_len;
};

/* ---- the process --------------------------------------------------- */

/* Makes the three pipes; the child's ends are [0] of in, [1] of the
 * others. Returns false (and closes what it opened) on failure. */
static bool make_pipes(int in[2], int out[2], int err[2])
{
  if (pipe2(in, O_CLOEXEC) != 0)
    return false;
  if (pipe2(out, O_CLOEXEC) != 0)
    goto close_in;
  if (pipe2(err, O_CLOEXEC) != 0)
    goto close_out;
  return true;

close_out:
  close(out[0]);
  close(out[1]);
close_in:
  close(in[0]);
  close(in[1]);
  return false;
}

/* Spawns /bin/sh -c cmd with the pipes as its standard streams. Returns
 * the pid, or -1 with errno. */
static pid_t spawn(const char *cmd, const int in[2], const int out[2],
                   const int err[2])
{
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, dflt;
  char *argv[] = {"sh", "-c", (char *)cmd, NULL};
  pid_t pid = -1;
  int rc;

  sigemptyset(&none);
  sigemptyset(&dflt);
  sigaddset(&dflt, SIGPIPE);
  sigaddset(&dflt, SIGINT);
  sigaddset(&dflt, SIGTERM);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                      POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &dflt);
  rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    errno = rc;
    return -1;
  }
  return pid;
}

static void close_fd(int *fd)
{
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

bool pd_reap(pd *d, unsigned timeout_ms, int *status)
{
  uint64_t until = pw_mono_ms() + timeout_ms;
  pid_t got;

  if (d->ended) {
    *status = d->status;
    return true;
  }
  if (d->pid <= 0)
    return false;
  for (;;) {
    got = waitpid(d->pid, status, WNOHANG);
    if (got == d->pid || (got < 0 && errno != EINTR)) {
      d->pid = 0;
      d->ended = got > 0;
      d->status = *status;
      return got > 0;
    }
    if (pw_mono_ms() >= until)
      return false;
    pc_sleep_ms(5);
  }
}

/* ---- how a client ended -------------------------------------------- */

/* Keeps the last PD_TAIL - 1 octets of what came on standard error. */
static void tail_add(char *tail, size_t *len, const char *buf, size_t n)
{
  size_t keep = PD_TAIL - 1;

  if (n >= keep) {
    memcpy(tail, buf + n - keep, keep);
    *len = keep;
    return;
  }
  if (*len + n > keep) {
    memmove(tail, tail + (*len + n - keep), keep - n);
    *len = keep - n;
  }
  memcpy(tail + *len, buf, n);
  *len += n;
}

/* "; the end of its standard error: \"...\"" for a message, from the
 * last whole lines of the tail (nothing when it is empty). */
static void tail_text(const char *tail, size_t len, char *out, size_t size)
{
  const char *p = tail, *nl;

  while (len > 0 && strchr(" \t\r\n", tail[len - 1]))
    len--;
  nl = len == PD_TAIL - 1 ? memchr(p, '\n', len) : NULL;
  if (nl) {
    len -= (size_t)(nl + 1 - p);
    p = nl + 1;
  }
  if (len == 0)
    snprintf(out, size, "; it wrote nothing on its standard error");
  else
    snprintf(out, size, "; the end of its standard error: \"%.*s\"",
             (int)len, p);
}

/* "exited with status 127 (the shell found no such command)" or
 * "was killed by signal 9" for a waitpid status. */
static void status_text(int status, char *out, size_t size)
{
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;

  if (code < 0)
    snprintf(out, size, "was killed by signal %d",
             WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  else
    snprintf(out, size, "exited with status %d%s", code,
             code == 127 ? " (the shell found no such command)"
             : code == 126 ? " (the shell could not run the command)"
                           : "");
}

void pd_fail_ended(pd *d, const char *what)
{
  char how[128], tail[PD_TAIL + 64];
  int status;

  if (pd_reap(d, 1000, &status))
    status_text(status, how, sizeof how);
  else
    snprintf(how, sizeof how, "closed its standard output and still "
             "runs");
  pd_read(d); /* the rest of its standard error */
  tail_text(d->err_tail, d->err_tail_len, tail, sizeof tail);
  pc_fail(d->t, "the client %s while the case waited for %s%s", how, what,
          tail);
}

/* The cleanup: the end of input, a moment to exit, then the group is
 * killed by its id and the shell reaped. */
static void pd_cleanup(void *arg)
{
  pd *d = arg;
  int status;
  size_t i;

  close_fd(&d->in_fd);
  if (d->pid > 0 && !pd_reap(d, 100, &status)) {
    kill(-d->pid, SIGKILL);
    waitpid(d->pid, &status, 0);
    d->pid = 0;
  }
  close_fd(&d->out_fd);
  close_fd(&d->err_fd);
  for (i = 0; i < d->count; i++)
    json_decref(d->events[i].js);
  free(d->events);
  free(d->out_buf);
  free(d);
}

pd *pd_start(pc_ctx *t, const char *label)
{
  const char *cmd = pc_run_of(t)->exec_cmd;
  int in[2], out[2], err[2];
  pd *d;

  if (cmd == NULL)
    pc_fail(t, "client mode without --exec");
  if ((d = calloc(1, sizeof *d)) == NULL)
    pc_fail(t, "out of memory");
  d->t = t;
  d->in_fd = d->out_fd = d->err_fd = -1;
  pc_defer(t, pd_cleanup, d);
  d->label = pc_strdup(t, label ? label : "driver");
  if (!make_pipes(in, out, err))
    pc_fail(t, "cannot make pipes for the client: %s", strerror(errno));
  d->pid = spawn(cmd, in, out, err);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  d->in_fd = in[1];
  d->out_fd = out[0];
  d->err_fd = err[0];
  if (d->pid < 0) {
    d->pid = 0;
    pc_fail(t, "cannot start /bin/sh -c '%s': %s", cmd, strerror(errno));
  }
  fcntl(d->in_fd, F_SETFL, O_NONBLOCK);
  fcntl(d->out_fd, F_SETFL, O_NONBLOCK);
  fcntl(d->err_fd, F_SETFL, O_NONBLOCK);
  pc_log(t, PC_EVENT, d->label, "connect", cmd, strlen(cmd));
  return d;
}

/* ---- the check before a run ---------------------------------------- */

/* What the probe sees of the client. */
typedef struct probe {
  pid_t pid;
  int in_fd, out_fd, err_fd;
  bool line, out_end;
  char tail[PD_TAIL];
  size_t tail_len;
} probe;

/* Reads what is there on the probe's pipes; waits up to ms for it. */
static void probe_read(probe *p, int ms)
{
  struct pollfd fds[2] = {{.fd = p->out_fd, .events = POLLIN},
                          {.fd = p->err_fd, .events = POLLIN}};
  char buf[4096];
  ssize_t n;

  if (poll(fds, 2, ms) <= 0)
    return;
  if (fds[1].revents && p->err_fd >= 0) {
    if ((n = read(p->err_fd, buf, sizeof buf)) > 0)
      tail_add(p->tail, &p->tail_len, buf, (size_t)n);
    else
      close_fd(&p->err_fd);
  }
  if (fds[0].revents && p->out_fd >= 0) {
    if ((n = read(p->out_fd, buf, sizeof buf)) > 0)
      p->line = p->line || memchr(buf, '\n', (size_t)n) != NULL;
    else {
      close_fd(&p->out_fd);
      p->out_end = true;
    }
  }
}

/* Ends the probed process: the end of its input, a moment, then the
 * group is killed. Returns true with *status when it exited by itself
 * within wait_ms. */
static bool probe_end(probe *p, unsigned wait_ms, int *status)
{
  uint64_t until = pw_mono_ms() + wait_ms;
  bool exited = false;

  close_fd(&p->in_fd);
  while (!(exited = waitpid(p->pid, status, WNOHANG) == p->pid) &&
         pw_mono_ms() < until)
    probe_read(p, 10);
  if (!exited) {
    kill(-p->pid, SIGKILL);
    waitpid(p->pid, status, 0);
  }
  while (p->err_fd >= 0)   /* the rest of its standard error */
    probe_read(p, 100);
  close_fd(&p->out_fd);
  return exited;
}

int pd_probe(const char *cmd, unsigned wait_ms, char *err, size_t errlen)
{
  probe p = {.in_fd = -1, .out_fd = -1, .err_fd = -1};
  int in[2], out[2], errp[2], status;
  uint64_t until = pw_mono_ms() + wait_ms;
  char how[128], tail[PD_TAIL + 64];
  bool out_end;

  if (!make_pipes(in, out, errp)) {
    snprintf(err, errlen, "cannot make pipes: %s", strerror(errno));
    return -1;
  }
  p.pid = spawn(cmd, in, out, errp);
  close(in[0]);
  close(out[1]);
  close(errp[1]);
  p.in_fd = in[1];
  p.out_fd = out[0];
  p.err_fd = errp[0];
  if (p.pid < 0) {
    snprintf(err, errlen, "cannot start /bin/sh: %s", strerror(errno));
    close_fd(&p.in_fd);
    close_fd(&p.out_fd);
    close_fd(&p.err_fd);
    return -1;
  }
  while (!p.line && !p.out_end && pw_mono_ms() < until)
    probe_read(&p, 50);
  if (p.line) {
    probe_end(&p, 500, &status);
    return 0;
  }
  out_end = p.out_end;
  if (probe_end(&p, out_end ? 2000 : 0, &status))
    status_text(status, how, sizeof how);
  else
    snprintf(how, sizeof how, "closed its standard output");
  tail_text(p.tail, p.tail_len, tail, sizeof tail);
  if (out_end)
    snprintf(err, errlen, "the client %s before its first line (the "
             "`driver` event, spec DRV-3)%s", how, tail);
  else
    snprintf(err, errlen, "the client wrote no line within %u ms (its "
             "first line, the `driver` event, comes at once: spec DRV-3)%s",
             wait_ms, tail);
  return -1;
}

/* ---- commands ------------------------------------------------------ */

/* Writes all of buf to the client's standard input, waiting for room
 * up to the run's timeout. */
static void write_all(pd *d, const char *buf, size_t len)
{
  uint64_t until = pw_mono_ms() + pc_wait_ms(d->t);
  struct pollfd p;
  ssize_t n;

  while (len > 0) {
    if (d->in_fd < 0)
      pc_fail(d->t, "the client's standard input is closed");
    n = write(d->in_fd, buf, len);
    if (n > 0) {
      buf += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EPIPE)
      pd_fail_ended(d, "it to read a command (its standard input is "
                    "closed)");
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      pc_fail(d->t, "writing a command to the client: %s", strerror(errno));
    if (pw_mono_ms() >= until)
      pc_fail(d->t, "the client did not read a command within %u ms",
              pc_wait_ms(d->t));
    p.fd = d->in_fd;
    p.events = POLLOUT;
    poll(&p, 1, 20);
  }
}

void pd_cmd(pd *d, const char *fmt, ...)
{
  json_error_t jerr;
  json_t *js;
  char *text;
  va_list ap;

  va_start(ap, fmt);
  js = json_vpack_ex(&jerr, 0, fmt, ap);
  va_end(ap);
  if (js == NULL)
    pc_fail(d->t, "case error: a driver command did not pack: %s",
            jerr.text);
  text = json_dumps(js, JSON_COMPACT);
  json_decref(js);
  if (text == NULL)
    pc_fail(d->t, "out of memory");
  pc_log(d->t, PC_SENT, d->label, "command", text, strlen(text));
  pc_defer(d->t, free, text);
  write_all(d, text, strlen(text));
  write_all(d, "\n", 1);
}

/* ---- events -------------------------------------------------------- */

size_t pd_fds(const pd *d, struct pollfd *out)
{
  size_t n = 0;

  if (d->out_fd >= 0) {
    out[n].fd = d->out_fd;
    out[n++].events = POLLIN;
  }
  if (d->err_fd >= 0) {
    out[n].fd = d->err_fd;
    out[n++].events = POLLIN;
  }
  return n;
}

/* Checks one line (DRV-1, DRV-3) and keeps it as an event. */
static void take_line(pd *d, const char *line, size_t len)
{
  json_error_t jerr;
  json_t *js, *ev;
  pd_event *e;

  pc_log(d->t, PC_RECEIVED, d->label, "event", line, len);
  js = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
  ev = js ? json_object_get(js, "event") : NULL;
  if (!json_is_object(js) || !json_is_string(ev)) {
    json_decref(js);
    pc_fail(d->t, "the client wrote a line that is not a JSON object with "
            "a string \"event\" (spec DRV-1): %.200s%s", line,
            js ? "" : jerr.text);
  }
  if (d->count == 0 &&
      (strcmp(json_string_value(ev), "driver") != 0 ||
       json_integer_value(json_object_get(js, "version")) != 1)) {
    json_decref(js);
    pc_fail(d->t, "the client's first line is not {\"event\": \"driver\", "
            "\"version\": 1} (spec DRV-3): %.200s", line);
  }
  if (d->count == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 64;
    pd_event *p = realloc(d->events, cap * sizeof *p);
    if (p == NULL) {
      json_decref(js);
      pc_fail(d->t, "out of memory");
    }
    d->events = p;
    d->cap = cap;
  }
  e = &d->events[d->count++];
  e->js = js;
  e->event = json_string_value(ev);
  e->mono_ms = pw_mono_ms();
}

/* Appends what came on standard output and takes every whole line. */
static void take_output(pd *d, const char *buf, size_t n)
{
  char *nl, *p;
  size_t start = 0;

  if (d->out_len + n > d->out_cap) {
    size_t cap = (d->out_len + n) * 2;
    if ((p = realloc(d->out_buf, cap)) == NULL)
      pc_fail(d->t, "out of memory");
    d->out_buf = p;
    d->out_cap = cap;
  }
  memcpy(d->out_buf + d->out_len, buf, n);
  d->out_len += n;
  while ((nl = memchr(d->out_buf + start, '\n', d->out_len - start))) {
    take_line(d, d->out_buf + start, (size_t)(nl - (d->out_buf + start)));
    start = (size_t)(nl - d->out_buf) + 1;
  }
  memmove(d->out_buf, d->out_buf + start, d->out_len - start);
  d->out_len -= start;
  if (d->out_len > PD_LINE_MAX)
    pc_fail(d->t, "the client wrote more than %u octets without a line "
            "feed (spec DRV-1)", PD_LINE_MAX);
}

/* Reads one descriptor until it would block. Returns false at its end. */
static bool drain(pd *d, int fd, bool is_out)
{
  char buf[8192];
  ssize_t n;

  for (;;) {
    n = read(fd, buf, sizeof buf);
    if (n > 0) {
      if (is_out) {
        take_output(d, buf, (size_t)n);
      } else {
        pc_log(d->t, PC_EVENT, d->label, "stderr", buf, (size_t)n);
        tail_add(d->err_tail, &d->err_tail_len, buf, (size_t)n);
      }
      continue;
    }
    if (n == 0)
      return false;
    return errno == EAGAIN || errno == EINTR;
  }
}

void pd_read(pd *d)
{
  static const char ended[] = "the client closed its standard output";

  if (d->err_fd >= 0 && !drain(d, d->err_fd, false))
    close_fd(&d->err_fd);
  if (d->out_fd >= 0 && !drain(d, d->out_fd, true)) {
    close_fd(&d->out_fd);
    d->eof = true;
    pc_log(d->t, PC_EVENT, d->label, "closed", ended, sizeof ended - 1);
    if (d->out_len > 0)
      pc_note(d->t, "the client's last %zu octets had no line feed and "
              "are not a line", d->out_len);
  }
}

bool pd_eof(const pd *d) { return d->eof; }
size_t pd_count(const pd *d) { return d->count; }

const pd_event *pd_get(const pd *d, size_t i)
{
  return i < d->count ? &d->events[i] : NULL;
}

const char *pd_str(const pd_event *e, const char *name)
{
  return json_string_value(json_object_get(e->js, name));
}

uint64_t pd_u64(const pd_event *e, const char *name)
{
  json_t *v = json_object_get(e->js, name);

  return json_is_integer(v) && json_integer_value(v) >= 0
             ? (uint64_t)json_integer_value(v) : 0;
}

const pd_event *pd_find(const pd *d, size_t from, const char *event,
                        const char *name, const char *value, size_t *at)
{
  size_t i;
  const char *v;

  for (i = from; i < d->count; i++) {
    if (strcmp(d->events[i].event, event) != 0)
      continue;
    v = name ? pd_str(&d->events[i], name) : NULL;
    if (name && (v == NULL || strcmp(v, value) != 0))
      continue;
    if (at)
      *at = i;
    return &d->events[i];
  }
  return NULL;
}

size_t pd_shown(const pd *d, const char *conv, uint64_t seq)
{
  size_t i, n = 0;
  const char *c;

  for (i = 0; i < d->count; i++) {
    if (strcmp(d->events[i].event, "message") != 0)
      continue;
    c = pd_str(&d->events[i], "conv");
    if (c && strcmp(c, conv) == 0 && pd_u64(&d->events[i], "seq") == seq)
      n++;
  }
  return n;
}

size_t pd_shown_body(const pd *d, const char *body)
{
  size_t i, n = 0;
  const char *b;

  for (i = 0; i < d->count; i++) {
    if (strcmp(d->events[i].event, "message") != 0)
      continue;
    b = pd_str(&d->events[i], "body");
    if (b && strcmp(b, body) == 0)
      n++;
  }
  return n;
}
