/* The control interface of parley-netem: a text protocol, one command a
 * line, on a loopback TCP port or a UNIX socket. Every command gets
 * zero or more lines of data and then one line `ok` or `error: WHY`, so
 * a client reads up to that line.
 *
 *   set [up|down] KEY VALUE  a fault, as the flag --KEY VALUE would
 *   show                     every setting, `[up|down] KEY VALUE`
 *   reset                    every fault off (flags included)
 *   blackhole on|off         set blackhole on|off, both directions
 *   stall DURATION|on|off    TCP: stall from now (on: until off)
 *   partition DURATION|on|off
 *   rst                      reset every open TCP connection (RST)
 *   stats                    counters, `NAME VALUE`
 *   seed                     the seed of this run
 *   help, quit
 *
 * Changes take effect at once for what arrives next; what the relay
 * holds keeps the delay it drew, but a stall, partition or rate change
 * is applied to held data too. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "netem.h"

#define CLIENTS_MAX 16
#define LINE_MAX_LEN 1024
#define WORDS_MAX 8

typedef struct ctl_client {
  netem_ctl *ctl;
  netem_io io;
  char in[LINE_MAX_LEN + 1];
  size_t in_len;
  netem_buf out;
  size_t out_off;
  bool quitting;
} ctl_client;

struct netem_ctl {
  netem_ctx *ctx;
  netem_io io;
  char where[128];
  char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  ctl_client *clients[CLIENTS_MAX];
};

static const char help_text[] =
  "set [up|down] KEY VALUE   a fault, as the flag --KEY VALUE\n"
  "show                      the settings\n"
  "reset                     every fault off\n"
  "blackhole on|off          forward nothing (both directions)\n"
  "stall DURATION|on|off     TCP: forward nothing for a while\n"
  "partition DURATION|on|off nothing crosses for a while\n"
  "rst                       reset every open TCP connection\n"
  "stats                     counters\n"
  "seed                      the seed of this run\n"
  "quit                      close this control connection\n";

/* ---- commands ----------------------------------------------------------- */

void netem_kick_all(netem_ctx *ctx)
{
  for (int i = 0; i < ctx->n_udp; i++)
    netem_udp_kick(ctx->udp[i]);
  for (int i = 0; i < ctx->n_tcp; i++)
    netem_tcp_kick(ctx->tcp[i]);
}

/* A switch of a schedule: DURATION from now, on (until off), or off. */
static int switch_schedule(netem_schedule *s, const char *arg,
                           netem_buf *out)
{
  int64_t ns;

  if (arg == NULL) {
    netem_buf_printf(out, "error: DURATION, on or off expected\n");
    return -1;
  }
  if (strcmp(arg, "on") == 0) {
    s->manual_until_ns = NETEM_NEVER;
  } else if (strcmp(arg, "off") == 0) {
    s->manual_until_ns = 0;
  } else if (netem_parse_duration(arg, &ns) == 0) {
    s->manual_until_ns = netem_now_ns() + ns;
  } else {
    netem_buf_printf(out, "error: \"%s\" is not a duration with a unit, on"
                     " or off\n", arg);
    return -1;
  }
  return 0;
}

/* set [up|down] KEY VALUE */
static void cmd_set(netem_ctx *ctx, char **w, int n, netem_buf *out)
{
  int dir = NETEM_BOTH, k = 1;
  char err[256];

  if (n >= 2 && strcmp(w[1], "up") == 0) {
    dir = NETEM_UP;
    k++;
  } else if (n >= 2 && strcmp(w[1], "down") == 0) {
    dir = NETEM_DOWN;
    k++;
  }
  if (n != k + 2) {
    netem_buf_printf(out, "error: usage: set [up|down] KEY VALUE\n");
    return;
  }
  if (!netem_faults_known(w[k])) {
    netem_buf_printf(out, "error: unknown fault \"%s\" (try help)\n", w[k]);
    return;
  }
  if (netem_faults_set(&ctx->faults, dir, w[k], w[k + 1], netem_now_ns(),
                       err, sizeof err) != 0) {
    netem_buf_printf(out, "error: %s: %s\n", w[k], err);
    return;
  }
  plog_info(0, "control: set %s%s%s %s", dir == NETEM_BOTH ? "" : w[1],
            dir == NETEM_BOTH ? "" : " ", w[k], w[k + 1]);
  netem_kick_all(ctx);
  netem_buf_printf(out, "ok\n");
}

static void cmd_stats(netem_ctx *ctx, netem_buf *out)
{
  for (int i = 0; i < ctx->n_udp; i++)
    netem_udp_stats(ctx->udp[i], out);
  for (int i = 0; i < ctx->n_tcp; i++)
    netem_tcp_stats(ctx->tcp[i], out);
  netem_buf_printf(out, "ok\n");
}

static void cmd_rst(netem_ctx *ctx, netem_buf *out)
{
  int n = 0;

  for (int i = 0; i < ctx->n_tcp; i++)
    n += netem_tcp_reset_all(ctx->tcp[i]);
  plog_info(0, "control: rst: %d connections reset", n);
  netem_buf_printf(out, "reset %d\nok\n", n);
}

/* Runs a command of its own word (not set). Returns false when the word
 * is not a command. */
static bool run_word(netem_ctx *ctx, char **w, int n, netem_buf *out)
{
  const char *cmd = w[0], *arg = n > 1 ? w[1] : NULL;
  netem_schedule *s = NULL;

  if (strcmp(cmd, "stall") == 0)
    s = &ctx->faults.stall;
  else if (strcmp(cmd, "partition") == 0)
    s = &ctx->faults.partition;
  if (s != NULL) {
    if (n > 2 || switch_schedule(s, arg, out) != 0) {
      if (n > 2)
        netem_buf_printf(out, "error: usage: %s DURATION|on|off\n", cmd);
      return true;
    }
    plog_info(0, "control: %s %s", cmd, arg);
    netem_kick_all(ctx);
    netem_buf_printf(out, "ok\n");
  } else if (strcmp(cmd, "blackhole") == 0) {
    char set[] = "set", key[] = "blackhole";
    char *words[] = {set, key, w[n - 1]};

    if (n != 2)
      netem_buf_printf(out, "error: usage: blackhole on|off\n");
    else
      cmd_set(ctx, words, 3, out);
  } else if (strcmp(cmd, "stats") == 0 && n == 1) {
    cmd_stats(ctx, out);
  } else if (strcmp(cmd, "rst") == 0 && n == 1) {
    cmd_rst(ctx, out);
  } else {
    return false;
  }
  return true;
}

void netem_ctl_exec(netem_ctx *ctx, const char *line, netem_buf *out)
{
  char buf[LINE_MAX_LEN + 1], *w[WORDS_MAX + 1], *save = NULL;
  int n = 0;

  snprintf(buf, sizeof buf, "%s", line);
  for (char *p = strtok_r(buf, " \t\r", &save); p && n <= WORDS_MAX;
       p = strtok_r(NULL, " \t\r", &save))
    w[n++] = p;
  if (n == 0 || n > WORDS_MAX) {
    netem_buf_printf(out, "error: %s\n", n ? "too many words" : "empty");
  } else if (strcmp(w[0], "set") == 0) {
    cmd_set(ctx, w, n, out);
  } else if (strcmp(w[0], "show") == 0 && n == 1) {
    netem_faults_show(&ctx->faults, out);
    netem_buf_printf(out, "ok\n");
  } else if (strcmp(w[0], "reset") == 0 && n == 1) {
    netem_faults_init(&ctx->faults);
    plog_info(0, "control: reset: every fault off");
    netem_kick_all(ctx);
    netem_buf_printf(out, "ok\n");
  } else if (strcmp(w[0], "seed") == 0 && n == 1) {
    netem_buf_printf(out, "seed %llu\nok\n", (unsigned long long)ctx->seed);
  } else if (strcmp(w[0], "help") == 0) {
    netem_buf_printf(out, "%sok\n", help_text);
  } else if (strcmp(w[0], "quit") == 0 && n == 1) {
    netem_buf_printf(out, "ok\n");
  } else if (!run_word(ctx, w, n, out)) {
    netem_buf_printf(out, "error: unknown command \"%s\" (try help)\n",
                     w[0]);
  }
}

/* ---- connections -------------------------------------------------------- */

static void client_close(ctl_client *k)
{
  netem_ctl *c = k->ctl;

  for (int i = 0; i < CLIENTS_MAX; i++) {
    if (c->clients[i] == k)
      c->clients[i] = NULL;
  }
  netem_io_close(&k->io);
  netem_buf_free(&k->out);
  netem_loop_defer(free, k);
}

/* Writes what waits; closes the client after `quit` once written, or on
 * an error. */
static void client_flush(ctl_client *k)
{
  while (k->out_off < k->out.len) {
    ssize_t n = send(k->io.fd, k->out.data + k->out_off,
                     k->out.len - k->out_off, MSG_NOSIGNAL);

    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      client_close(k);
      return;
    }
    k->out_off += (size_t)n;
  }
  if (k->out_off == k->out.len) {
    k->out.len = k->out_off = 0;
    if (k->quitting) {
      client_close(k);
      return;
    }
  }
  if (netem_io_watch(&k->io, k->out_off < k->out.len ? EPOLLOUT : EPOLLIN)
      != 0)
    client_close(k);
}

/* Runs every whole line in the input buffer. */
static void client_lines(ctl_client *k)
{
  char *nl;

  while (!k->quitting && (nl = memchr(k->in, '\n', k->in_len)) != NULL) {
    size_t len = (size_t)(nl - k->in);

    *nl = '\0';
    netem_ctl_exec(k->ctl->ctx, k->in, &k->out);
    if (strncmp(k->in, "quit", 4) == 0 && strspn(k->in + 4, " \r") ==
        strlen(k->in + 4))
      k->quitting = true;
    memmove(k->in, nl + 1, k->in_len - len - 1);
    k->in_len -= len + 1;
  }
  if (k->in_len == LINE_MAX_LEN) {
    netem_buf_printf(&k->out, "error: line too long\n");
    k->quitting = true;
  }
}

static void on_client(netem_io *io, uint32_t ev)
{
  ctl_client *k = NETEM_CONTAINER(io, ctl_client, io);

  if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && k->out_off == k->out.len) {
    ssize_t n = recv(io->fd, k->in + k->in_len, LINE_MAX_LEN - k->in_len, 0);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      client_close(k);
      return;
    }
    if (n > 0) {
      k->in_len += (size_t)n;
      client_lines(k);
    }
  }
  client_flush(k);
}

static void on_accept(netem_io *io, uint32_t ev)
{
  netem_ctl *c = NETEM_CONTAINER(io, netem_ctl, io);
  int fd, slot = -1;
  ctl_client *k;

  while ((fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
         0) {
    for (int i = 0; i < CLIENTS_MAX && slot < 0; i++)
      slot = c->clients[i] == NULL ? i : -1;
    k = slot >= 0 ? calloc(1, sizeof *k) : NULL;
    if (k == NULL) {
      close(fd);
      continue;
    }
    k->ctl = c;
    k->io.fd = fd;
    k->io.on_event = on_client;
    if (netem_io_watch(&k->io, EPOLLIN) != 0) {
      close(fd);
      free(k);
      continue;
    }
    c->clients[slot] = k;
    slot = -1;
  }
}

/* ---- the listening socket ----------------------------------------------- */

static int open_unix(netem_ctl *c, const char *path, char *err,
                     size_t err_len)
{
  struct sockaddr_un sun;
  mode_t old_mask;
  int rc, saved;

  memset(&sun, 0, sizeof sun);
  sun.sun_family = AF_UNIX;
  if (strlen(path) == 0 || strlen(path) >= sizeof sun.sun_path) {
    snprintf(err, err_len, "the socket path is empty or too long");
    return -1;
  }
  strcpy(sun.sun_path, path);
  c->io.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->io.fd < 0) {
    snprintf(err, err_len, "socket: %s", strerror(errno));
    return -1;
  }
  old_mask = umask(0077); /* the socket is made private, with no window */
  rc = bind(c->io.fd, (struct sockaddr *)&sun, sizeof sun);
  saved = errno;
  umask(old_mask);
  if (rc != 0) {
    snprintf(err, err_len, "cannot bind %s: %s", path, strerror(saved));
    return -1;
  }
  strcpy(c->unix_path, path);
  snprintf(c->where, sizeof c->where, "unix:%s", path);
  return 0;
}

static int open_tcp(netem_ctl *c, const char *where, char *err,
                    size_t err_len)
{
  netem_addr a;

  if (netem_addr_parse(where, &a, err, err_len) != 0)
    return -1;
  if (!netem_addr_is_loopback(&a)) {
    snprintf(err, err_len, "the control interface takes no password, so "
             "it listens on loopback only, not %s", where);
    return -1;
  }
  c->io.fd = netem_socket_bind(&a, SOCK_STREAM, false);
  if (c->io.fd < 0 || netem_addr_local(c->io.fd, &a) != 0) {
    snprintf(err, err_len, "cannot listen on %s: %s", where,
             strerror(errno));
    return -1;
  }
  netem_addr_format(&a, c->where, sizeof c->where);
  return 0;
}

netem_ctl *netem_ctl_open(netem_ctx *ctx, const char *where, char *err,
                          size_t err_len)
{
  netem_ctl *c = calloc(1, sizeof *c);
  int rc;

  if (c == NULL) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  c->ctx = ctx;
  c->io.fd = -1;
  c->io.on_event = on_accept;
  if (strncmp(where, "unix:", 5) == 0)
    rc = open_unix(c, where + 5, err, err_len);
  else
    rc = open_tcp(c, where, err, err_len);
  if (rc == 0 && (listen(c->io.fd, 16) != 0 ||
                  netem_io_watch(&c->io, EPOLLIN) != 0)) {
    snprintf(err, err_len, "cannot listen: %s", strerror(errno));
    rc = -1;
  }
  if (rc != 0) {
    netem_ctl_close(c);
    return NULL;
  }
  return c;
}

void netem_ctl_close(netem_ctl *c)
{
  if (c == NULL)
    return;
  for (int i = 0; i < CLIENTS_MAX; i++) {
    if (c->clients[i] != NULL)
      client_close(c->clients[i]);
  }
  if (c->io.fd >= 0)
    netem_io_close(&c->io);
  if (c->unix_path[0] != '\0')
    unlink(c->unix_path);
  free(c);
}

void netem_ctl_describe(const netem_ctl *c, netem_buf *out)
{
  netem_buf_printf(out, "control %s", c->where);
}
