/* parley-conform runner: which cases run, on how many threads, and what
 * their results mean for the run.
 *
 * The selected cases form one array in report order; worker threads take
 * the next index under a lock, run the case with pc_run_case (which never
 * exits and bounds every wait), and record the result in place, so the
 * reports list cases in catalogue order whatever order they finished in.
 * After each result the worker applies --expect-fail (a listed case that
 * did not pass is an expected failure; one that passed is stale), prints
 * its line, and with --fail-fast stops further starts once a result fails
 * the run. Cases already running always finish. */
#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"
#include "wire.h"

/* ---- selection ----------------------------------------------------- */

/* Whether id matches one of the patterns (all ids when there are none);
 * counts a hit for each pattern that matches. */
static bool globs_match(const pc_opts *o, const char *id, size_t *hits)
{
  size_t g;
  bool any = o->glob_count == 0;

  for (g = 0; g < o->glob_count; g++)
    if (fnmatch(o->globs[g], id, 0) == 0) {
      hits[g]++;
      any = true;
    }
  return any;
}

pc_item *pc_select(const pc_opts *o, bool all_modes, size_t *count)
{
  size_t total = 0, n = 0, s, c, g;
  size_t *hits = calloc(o->glob_count + 1, sizeof *hits);
  pc_item *items;
  const pc_suite *su;

  for (s = 0; pc_suites[s]; s++)
    total += pc_suites[s]->count;
  items = calloc(total + 1, sizeof *items);
  for (s = 0; pc_suites[s]; s++) {
    su = pc_suites[s];
    if (!all_modes && su->client_mode != o->client)
      continue;
    for (c = 0; c < su->count; c++)
      if (globs_match(o, su->cases[c].id, hits)) {
        items[n].suite = su;
        items[n++].c = &su->cases[c];
      }
  }
  for (g = 0; g < o->glob_count; g++)
    if (hits[g] == 0) {
      fprintf(stderr, "parley-conform: --case %s: matches no %scase (see "
                      "--list)\n", o->globs[g],
              all_modes ? "" : o->client ? "client " : "server ");
      free(items);
      items = NULL;
      n = 0;
      break;
    }
  free(hits);
  *count = n;
  return items;
}

/* ---- --expect-fail ------------------------------------------------- */

static char *xfail_text;       /* the file's contents, cut into strings */

/* Whether id names a case of any mode. */
static bool case_exists(const char *id)
{
  size_t s, c;

  for (s = 0; pc_suites[s]; s++)
    for (c = 0; c < pc_suites[s]->count; c++)
      if (strcmp(pc_suites[s]->cases[c].id, id) == 0)
        return true;
  return false;
}

/* Reads a whole file into a NUL-terminated string. NULL with errno. */
static char *slurp(const char *path)
{
  FILE *f = fopen(path, "r");
  pc_buf b = {0};
  char chunk[4096];
  size_t n;

  if (!f)
    return NULL;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    pc_buf_add(&b, chunk, n);
  fclose(f);
  pc_buf_add(&b, "", 0);
  return b.p;
}

/* Marks the items whose id is `id` as listed on line `line`. Returns
 * false when an earlier line listed it already. */
static bool xfail_mark(pc_item *items, size_t count, const char *id,
                       unsigned line, const char *reason, unsigned *prev)
{
  size_t i;

  for (i = 0; i < count; i++) {
    if (strcmp(items[i].c->id, id) != 0)
      continue;
    if (items[i].xfail_line) {
      *prev = items[i].xfail_line;
      return false;
    }
    items[i].xfail_line = line;
    items[i].xfail_reason = *reason ? reason : NULL;
  }
  return true;
}

/* Parses one line in place: the id, then an optional reason after
 * blanks; a '#' at the start of the line or after a blank starts a
 * comment (so "(#123)" in a reason stays). Sets *id to NULL for a line
 * with no id. */
static void xfail_split(char *line, char **id, char **reason)
{
  char *p, *end;

  for (p = strchr(line, '#'); p; p = strchr(p + 1, '#'))
    if (p == line || p[-1] == ' ' || p[-1] == '\t') {
      *p = '\0';
      break;
    }
  line += strspn(line, " \t\r");
  end = line + strlen(line);
  while (end > line && strchr(" \t\r", end[-1]))
    *--end = '\0';
  *id = *line ? line : NULL;
  p = line + strcspn(line, " \t");
  if (*p)
    *p++ = '\0';
  *reason = p + strspn(p, " \t");
}

int pc_expect_fail_load(const char *path, pc_item *items, size_t count)
{
  char *line, *next, *id, *reason;
  unsigned n = 0, prev = 0;

  if (!(xfail_text = slurp(path))) {
    fprintf(stderr, "parley-conform: --expect-fail %s: cannot read: %s\n",
            path, strerror(errno));
    return -1;
  }
  for (line = xfail_text; line; line = next) {
    n++;
    if ((next = strchr(line, '\n')))
      *next++ = '\0';
    xfail_split(line, &id, &reason);
    if (!id)
      continue;
    if (!case_exists(id)) {
      fprintf(stderr, "parley-conform: --expect-fail %s: line %u: no "
                      "case has the id '%s' (see --list)\n", path, n, id);
      return -1;
    }
    if (!xfail_mark(items, count, id, n, reason, &prev)) {
      fprintf(stderr, "parley-conform: --expect-fail %s: line %u: '%s' "
                      "is listed on line %u already\n", path, n, id, prev);
      return -1;
    }
  }
  return 0;
}

void pc_expect_fail_free(void)
{
  free(xfail_text);
  xfail_text = NULL;
}

/* ---- --accounts ---------------------------------------------------- */

/* Checks one account object and copies it into *a. Returns an error
 * message, or NULL. */
static const char *account_take(json_t *obj, pc_account *a)
{
  json_t *user = json_object_get(obj, "user");
  json_t *pass = json_object_get(obj, "password");

  if (!json_is_object(obj))
    return "is not an object";
  if (!json_is_string(user) || json_string_length(user) == 0)
    return "needs \"user\", a non-empty string";
  if (!json_is_string(pass))
    return "needs \"password\", a string";
  a->user = strdup(json_string_value(user));
  a->password = strdup(json_string_value(pass));
  return NULL;
}

/* The error, if any, of the list as a whole: too short, or a user twice. */
static const char *accounts_check(const pc_run *r, char *msg, size_t len)
{
  size_t i, j;

  if (r->account_count < 4) {
    snprintf(msg, len, "has %zu account%s; the suite needs at least 4",
             r->account_count, r->account_count == 1 ? "" : "s");
    return msg;
  }
  for (i = 0; i < r->account_count; i++)
    for (j = 0; j < i; j++)
      if (strcmp(r->accounts[i].user, r->accounts[j].user) == 0) {
        snprintf(msg, len, "names the user \"%s\" twice (accounts[%zu] and "
                 "accounts[%zu])", r->accounts[i].user, j, i);
        return msg;
      }
  return NULL;
}

int pc_accounts_load(const char *path, pc_run *r)
{
  json_error_t jerr;
  json_t *doc = json_load_file(path, 0, &jerr), *list;
  const char *why = NULL;
  char msg[256];
  size_t i;

  if (!doc && jerr.line < 1) {
    fprintf(stderr, "parley-conform: --accounts %s: %s\n", path, jerr.text);
    return -1;
  }
  if (!doc) {
    fprintf(stderr, "parley-conform: --accounts %s: line %d column %d: "
                    "%s\n", path, jerr.line, jerr.column, jerr.text);
    return -1;
  }
  list = json_object_get(doc, "accounts");
  if (!json_is_array(list))
    why = "expected {\"accounts\": [{\"user\": ..., \"password\": ...}, "
          "...]}";
  r->accounts = calloc(json_array_size(list) + 1, sizeof *r->accounts);
  for (i = 0; !why && i < json_array_size(list); i++) {
    if ((why = account_take(json_array_get(list, i), &r->accounts[i]))) {
      snprintf(msg, sizeof msg, "accounts[%zu] %s", i, why);
      why = msg;
    }
    r->account_count += !why;
  }
  if (!why)
    why = accounts_check(r, msg, sizeof msg);
  json_decref(doc);
  if (why)
    fprintf(stderr, "parley-conform: --accounts %s: %s\n", path, why);
  return why ? -1 : 0;
}

/* ---- the target URL ------------------------------------------------ */

/* Reads "HOST:PORT" or "[V6]:PORT" (the port may be left out) into r.
 * Returns false when it is malformed. */
static bool parse_authority(const char *p, bool tls, pc_run *r)
{
  const char *host = p, *end;
  char *stop;
  unsigned long port = tls ? 443 : 80;

  if (*p == '[') {
    host = p + 1;
    if (!(end = strchr(host, ']')))
      return false;
    p = end + 1;
  } else {
    end = p + strcspn(p, ":/");
    p = end;
  }
  if (end == host)
    return false;
  if (*p == ':') {
    errno = 0;
    port = strtoul(p + 1, &stop, 10);
    if (stop == p + 1 || errno || port == 0 || port > 65535)
      return false;
    p = stop;
  }
  if (*p && strcmp(p, "/") != 0)
    return false;
  r->host = strndup(host, (size_t)(end - host));
  r->port = (uint16_t)port;
  return true;
}

int pc_target_parse(const char *url, pc_run *r)
{
  bool tls = strncmp(url, "wss://", 6) == 0;
  pc_buf b = {0};

  if (!tls && strncmp(url, "ws://", 5) != 0) {
    fprintf(stderr, "parley-conform: %s: the target is a ws:// or wss:// "
                    "URL\n", url);
    return -1;
  }
  if (!parse_authority(url + (tls ? 6 : 5), tls, r)) {
    fprintf(stderr, "parley-conform: %s: expected ws://HOST:PORT or "
                    "wss://HOST:PORT (no path: the server's config names "
                    "the WebSocket path)\n", url);
    return -1;
  }
  r->tls = tls;
  pc_buf_addf(&b, "%s://%s%s%s:%u", tls ? "wss" : "ws",
              strchr(r->host, ':') ? "[" : "", r->host,
              strchr(r->host, ':') ? "]" : "", (unsigned)r->port);
  r->url = b.p;
  return 0;
}

/* ---- running ------------------------------------------------------- */

static volatile sig_atomic_t stop_flag;

void pc_stop_request(void)
{
  stop_flag = 1;
  pw_cancel_all(); /* running cases stop waiting */
}

bool pc_stop_requested(void)
{
  return stop_flag != 0;
}

typedef struct pool {
  pc_run *r;
  pc_outcome *o;
  FILE *term;
  bool tty;                    /* draw a progress line */
  pthread_mutex_t lock;        /* guards everything below and `term` */
  size_t next, done, failing;
  bool halt;                   /* --fail-fast: start nothing more */
  uint64_t t0_us;              /* when the first case started */
} pool;

static uint64_t mono_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void progress_draw(pool *p)
{
  if (!p->tty)
    return;
  fprintf(p->term, "\r\033[K[%zu/%zu] %zu failing, %.1f s", p->done,
          p->o->count, p->failing, (double)(mono_us() - p->t0_us) / 1e6);
  fflush(p->term);
}

static void progress_clear(pool *p)
{
  if (p->tty)
    fputs("\r\033[K", p->term);
}

/* Applies --expect-fail to a finished item. */
static void apply_expect_fail(pc_item *it)
{
  if (!it->xfail_line || it->res.verdict == PC_SKIP)
    return;
  if (it->res.verdict == PC_PASS)
    it->res.stale = true;
  else
    it->res.expected_fail = true;
}

/* Records a finished item (under the pool's lock): counts, --fail-fast,
 * and its line on the terminal. */
static void finish_item(pool *p, pc_item *it)
{
  const pc_opts *o = p->o->opts;
  bool fails, show;

  it->ran = true;
  apply_expect_fail(it);
  fails = pc_item_fails_run(it, o->strict);
  p->done++;
  p->failing += fails;
  if (fails && o->fail_fast && !p->halt) {
    p->halt = true;
    p->o->stopped_early = true;
  }
  show = o->verbosity < 0 ? fails : it->res.verdict != PC_PASS;
  progress_clear(p);
  if (show)
    pc_report_item_line(it, o->strict,
                        o->verbosity > 0 && it->res.verdict != PC_SKIP,
                        p->term);
  if (it->res.stale && o->verbosity >= 0)
    fprintf(p->term, "%-10s %s passes now: delete line %u of %s\n",
            "STALE", it->c->id, it->xfail_line, o->expect_fail_file);
  progress_draw(p);
}

static void *worker(void *arg)
{
  pool *p = arg;
  pc_item *it;

  pthread_mutex_lock(&p->lock);
  while (!p->halt && !pc_stop_requested() && p->next < p->o->count) {
    if (p->o->server && !pc_selfserve_alive(p->o->server)) {
      p->halt = true;
      break;
    }
    it = &p->o->items[p->next++];
    pthread_mutex_unlock(&p->lock);
    pc_run_case(p->r, it->suite, it->c, &it->res);
    if (pc_stop_requested() && it->res.verdict != PC_PASS) {
      /* cut off by the interrupt: no verdict; reported as not run */
      pc_result_free(&it->res);
      memset(&it->res, 0, sizeof it->res);
      pthread_mutex_lock(&p->lock);
      continue;
    }
    if (!it->res.c)
      it->res.c = it->c;
    if (!it->res.suite)
      it->res.suite = it->suite;
    pthread_mutex_lock(&p->lock);
    finish_item(p, it);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

void pc_run_items(pc_run *r, pc_outcome *o, FILE *term)
{
  pool p = {.r = r, .o = o, .term = term, .t0_us = mono_us()};
  size_t n = o->opts->jobs, i, started = 0;
  pthread_t *threads;

  p.tty = o->opts->verbosity >= 0 && isatty(fileno(term));
  pthread_mutex_init(&p.lock, NULL);
  if (n > o->count)
    n = o->count ? o->count : 1;
  threads = calloc(n, sizeof *threads);
  progress_draw(&p);
  for (i = 0; i < n; i++)
    started += pthread_create(&threads[started], NULL, worker, &p) == 0;
  if (started == 0)
    worker(&p);
  for (i = 0; i < started; i++)
    pthread_join(threads[i], NULL);
  progress_clear(&p);
  fflush(term);
  o->wall_us = mono_us() - p.t0_us;
  o->interrupted = pc_stop_requested();
  free(threads);
  pthread_mutex_destroy(&p.lock);
}
