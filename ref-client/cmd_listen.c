/* `listen`: shows each delivered message once, in seq order per
 * conversation, as `CONV SEQ FROM: TEXT` (spec section 6).
 *
 * The core hands each message over once and the loop stores it before
 * this file sees it. Showing is a second step with its own record: the
 * line is written to the output, then the store records, in one
 * transaction, "shown through SEQ" for the conversation and the output's
 * new length. On start the output file is cut back to the recorded
 * length, which removes a line written by a run killed before recording
 * it, and every stored message past the recorded seq is shown again. A
 * kill at any instant therefore neither repeats nor loses a line in the
 * file. Standard output cannot be cut back, so there a kill between the
 * write and the record can repeat one line.
 *
 * A reader of the output that goes away (EPIPE: `listen | head -2`) ends
 * the command quietly with status 1; the line that did not get through
 * is not recorded, so the next run shows it. `--conv ID` is looked up
 * first, so a wrong id fails at once as it does for `send`. Once it had
 * a session, listen reconnects for as long as it runs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"

typedef struct listen_state {
  const cli *cli;
  int fd;
  char target[PATH_MAX + 1]; /* "-" or the file's absolute path */
  uint64_t out_len;
  uint64_t shown;            /* lines shown by this run */
} listen_state;

static bool write_all(int fd, const char *p, size_t n)
{
  ssize_t w;

  while (n > 0) {
    w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

/* Writes one line and records it. Returns false after printing why. */
static bool show(listen_state *ls, app *a, const parley_msg *m)
{
  char *text = app_escape(m->body, m->body_len);
  char *line;
  size_t need, n;
  bool ok;

  if (text == NULL)
    return false;
  need = strlen(m->conv) + strlen(m->from) + strlen(text) + 32;
  if ((line = malloc(need)) == NULL) {
    free(text);
    return false;
  }
  n = (size_t)snprintf(line, need, "%s %llu %s: %s\n", m->conv,
                       (unsigned long long)m->seq, m->from, text);
  ok = write_all(ls->fd, line, n);
  free(line);
  free(text);
  if (!ok) {
    if (errno == EPIPE)
      plog_debug(0, "the reader of the output went away; stopping");
    else
      fprintf(stderr, "parley-client: writing the output: %s\n",
              strerror(errno));
    return false;
  }
  ls->out_len += n;
  if (!store_shown(a->store, ls->target, m->conv, m->seq, ls->out_len)) {
    fprintf(stderr, "parley-client: local store: %s\n",
            store_error(a->store));
    return false;
  }
  ls->shown++;
  return true;
}

static bool wanted(const listen_state *ls, const parley_msg *m)
{
  return ls->cli->conv == NULL || strcmp(ls->cli->conv, m->conv) == 0;
}

static bool count_reached(const listen_state *ls)
{
  return ls->cli->count != 0 && ls->shown >= ls->cli->count;
}

static bool listen_msg(void *ud, app *a, const parley_msg *m)
{
  listen_state *ls = ud;

  if (!wanted(ls, m) || count_reached(ls))
    return true; /* stored; shown by a later run when it wants it */
  return show(ls, a, m);
}

static bool listen_done(void *ud, app *a)
{
  (void)a;
  return count_reached(ud);
}

/* Opens the output file and cuts it back to the recorded length. */
static int open_output(listen_state *ls, app *a)
{
  const char *path = ls->cli->output;
  struct stat sb;

  ls->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (ls->fd < 0 || realpath(path, ls->target) == NULL ||
      fstat(ls->fd, &sb) != 0) {
    fprintf(stderr, "parley-client: --output %s: %s\n", path,
            strerror(errno));
    return EXIT_USAGE;
  }
  if (!store_output_len(a->store, ls->target, &ls->out_len))
    return EXIT_FAIL;
  if ((uint64_t)sb.st_size < ls->out_len) {
    plog_warn(0, "--output %s is shorter than this store recorded; lines"
              " removed from it are not shown again", path);
    ls->out_len = (uint64_t)sb.st_size;
  }
  if (ftruncate(ls->fd, (off_t)ls->out_len) != 0 ||
      lseek(ls->fd, (off_t)ls->out_len, SEEK_SET) < 0) {
    fprintf(stderr, "parley-client: --output %s: %s\n", path,
            strerror(errno));
    return EXIT_FAIL;
  }
  return EXIT_OK;
}

/* Shows what was stored but not recorded as shown on this output. */
static int show_unshown(listen_state *ls, app *a)
{
  store_line *lines;
  size_t count, i;
  int rc = EXIT_OK;

  if (!store_unshown(a->store, ls->target, ls->cli->conv, &lines, &count))
    return EXIT_FAIL;
  for (i = 0; i < count && !count_reached(ls); i++) {
    if (!show(ls, a, &lines[i].msg)) {
      rc = EXIT_FAIL;
      break;
    }
  }
  store_lines_free(lines, count);
  return rc;
}

int cmd_listen(const cli *c, volatile int *stop)
{
  app a;
  listen_state ls;
  app_hooks hooks = {&ls, listen_msg, NULL, listen_done};
  int rc;

  memset(&ls, 0, sizeof ls);
  ls.cli = c;
  ls.fd = STDOUT_FILENO;
  strcpy(ls.target, "-");
  if ((rc = app_open(&a, &c->app, stop)) != EXIT_OK)
    goto done_app;
  if (c->output != NULL && (rc = open_output(&ls, &a)) != EXIT_OK)
    goto done_output;
  if ((rc = app_core_open(&a)) != EXIT_OK ||
      (c->conv != NULL && (rc = app_check_conv(&a, c->conv)) != EXIT_OK) ||
      (rc = show_unshown(&ls, &a)) != EXIT_OK)
    goto done_output;
  if (count_reached(&ls))
    goto done_output;
  if (c->timeout_ms != 0)
    a.run_deadline_ms = net_now_ms() + c->timeout_ms;
  a.reconnect_forever = true;
  rc = app_core_run(&a, &hooks);
  if (rc == EXIT_OK && a.timed_out && c->count != 0) {
    fprintf(stderr, "parley-client: --timeout-ms passed after %llu of %llu"
                    " messages\n", (unsigned long long)ls.shown,
            (unsigned long long)c->count);
    rc = EXIT_FAIL;
  }

done_output:
  if (ls.fd >= 0 && ls.fd != STDOUT_FILENO)
    close(ls.fd);
done_app:
  app_close(&a);
  return rc;
}
