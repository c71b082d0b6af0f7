/* `driver`: the test-driver interface of spec section 18.
 *
 * A test runner writes JSON commands on standard input, one a line, and
 * reads JSON events on standard output, one a line (DRV-1). A reader
 * thread takes the lines off standard input and queues them, and wakes
 * the network loop (net_wake, which is lws_cancel_service) so that the
 * loop's service hook acts on them at once (DRV-6). Everything else runs
 * on the main thread: the commands, the client core and every event
 * written, so events come out in the order things happen.
 *
 * The client runs as `listen` and `send` run it (DRV-8): the same core,
 * loop, store, token handling, pacing and reconnects; the driver feeds
 * it the user's intents and reports what the loop's hooks see. The local
 * store is a new one in a temporary directory (DRV-7), removed at the
 * end. `connect` may set the backoff base and cap (DRV-8).
 *
 * States (DRV-13): idle --connect--> connecting --READY--> ready; a lost
 * session or a failed attempt goes back to connecting; `disconnect`,
 * `quit`, or the client giving up by itself (the token endpoint refusing
 * the password, CLI-3) go to idle. The reader thread raises the stop
 * flag when it reads `disconnect` or `quit`, so that a wait inside an
 * HTTP retry ends at once; the command itself is still handled in its
 * turn. After `disconnect` the store and the app stay open, and the next
 * `connect` starts a new core from the store, as a restarted client. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "log.h"

#define DRIVER_VERSION 1
#define LINE_MAX_OCTETS (1024 * 1024)

typedef struct drv_line {
  struct drv_line *next;
  char *text;          /* NULL: the end of the input */
  size_t len;
} drv_line;

typedef enum drv_halt { HALT_NONE, HALT_DISCONNECT, HALT_QUIT } drv_halt;

typedef struct driver {
  volatile int *stop;
  pthread_mutex_t lock;  /* guards head, tail and wake */
  pthread_cond_t more;
  drv_line *head, *tail;
  net *wake;             /* the loop to wake while it runs, else NULL */
  app a;
  bool opened;           /* `a` is open (after the first connect) */
  drv_halt halt;         /* a stop the service hook took */
  bool quit;
  char dir[64];          /* the temporary directory of the store */
  char db[128];
  char url[512];
  char user[PARLEY_USER_MAX + 1];
  char password[1024];
  char device[PARLEY_ID_MAX + 1];
  uint32_t backoff_base_ms, backoff_cap_ms;
  char state[16];
  char reason[128];
} driver;

/* ---- events ------------------------------------------------------- */

/* Writes one event line and flushes it (DRV-1, DRV-2). Takes `ev`. */
static void emit(json_t *ev)
{
  char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;

  if (text != NULL) {
    fputs(text, stdout);
    fputc('\n', stdout);
    fflush(stdout);
  }
  free(text);
  json_decref(ev);
}

/* Writes `state` when it differs from the last one, or when it is
 * `connecting` again with a reason (a failed attempt, DRV-13). */
static void set_state(driver *d, const char *state, const char *reason)
{
  json_t *ev;

  if (strcmp(d->state, state) == 0 &&
      (reason == NULL || strcmp(state, "connecting") != 0))
    return;
  snprintf(d->state, sizeof d->state, "%s", state);
  ev = json_pack("{s:s, s:s}", "event", "state", "state", state);
  if (ev != NULL && reason != NULL)
    json_object_set_new(ev, "reason", json_string(reason));
  emit(ev);
}

static void emit_bad_command(const char *text)
{
  emit(json_pack("{s:s, s:s}", "event", "bad-command", "text", text));
}

/* `send-failed` for a message the client refused or gave up. */
static void emit_send_failed(const char *conv, const char *temp_id,
                             const char *ref, const char *reason)
{
  json_t *ev = json_pack("{s:s, s:s, s:s}", "event", "send-failed",
                         "conv", conv, "reason", reason);

  if (ev != NULL && temp_id != NULL)
    json_object_set_new(ev, "temp_id", json_string(temp_id));
  if (ev != NULL && ref != NULL)
    json_object_set_new(ev, "ref", json_string(ref));
  emit(ev);
}

static const char *reason_of(parley_err err)
{
  const char *r = parley_err_reason(err);

  return r != NULL ? r : "error";
}

/* The loop's hook for a message the core handed over and the store
 * kept: the user sees it now (DRV-11). */
static bool on_msg(void *ud, app *a, const parley_msg *m)
{
  json_t *ev = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s%}", "event",
                         "message", "conv", m->conv, "seq",
                         (json_int_t)m->seq, "msg_id", m->msg_id, "from",
                         m->from, "body", m->body, m->body_len);

  (void)ud;
  (void)a;
  emit(ev);
  return true;
}

/* An ERROR from the server, or a frame of the server's the core
 * rejected (DRV-14). */
static void emit_error(const parley_client_action *act)
{
  json_t *ev = json_pack("{s:s, s:s, s:i, s:b}", "event", "error",
                         "reason", reason_of(act->err), "code",
                         (int)act->err, "fatal", act->fatal);

  if (ev != NULL && act->data != NULL)
    json_object_set_new(ev, "text", json_stringn(act->data, act->len));
  emit(ev);
}

/* The loop's hook for the core's application events. */
static void on_event(void *ud, app *a, const parley_client_action *act)
{
  driver *d = ud;

  switch (act->kind) {
  case PARLEY_CLIENT_EV_READY:
    set_state(d, "ready", NULL);
    break;
  case PARLEY_CLIENT_EV_DISCONNECTED:
    set_state(d, "connecting", act->err != PARLEY_OK ? reason_of(act->err)
                               : a->net_err[0] != '\0' ? a->net_err
                                                       : "closed");
    break;
  case PARLEY_CLIENT_EV_STATUS:
    if (act->status == PARLEY_STATUS_SENT)
      emit(json_pack("{s:s, s:s, s:s, s:s, s:I}", "event", "sent", "conv",
                     act->outbox.conv, "temp_id", act->outbox.temp_id,
                     "msg_id", act->msg.msg_id, "seq",
                     (json_int_t)act->msg.seq));
    break;
  case PARLEY_CLIENT_EV_SEND_FAILED:
    emit_send_failed(act->outbox.conv, act->outbox.temp_id, NULL,
                     reason_of(act->err));
    break;
  case PARLEY_CLIENT_EV_ERROR:
    emit_error(act);
    break;
  case PARLEY_CLIENT_EV_TYPING: /* shown, or lapsed (DRV-15, TYPE-1) */
    emit(json_pack("{s:s, s:s, s:s, s:b}", "event", "typing", "conv",
                   act->conv, "user", act->user, "typing", act->on));
    break;
  case PARLEY_CLIENT_EV_PRESENCE: /* DRV-15, PRES-2 */
    emit(json_pack("{s:s, s:s, s:s}", "event", "presence", "user",
                   act->user, "status", act->presence));
    break;
  default:
    break;
  }
}

/* ---- the reader thread -------------------------------------------- */

/* True when the line is a `disconnect` or `quit` command. */
static bool is_stop_line(const char *text, size_t len)
{
  json_t *js = json_loadb(text, len, 0, NULL);
  const char *cmd = json_string_value(json_object_get(js, "cmd"));
  bool stop = cmd != NULL && (strcmp(cmd, "disconnect") == 0 ||
                              strcmp(cmd, "quit") == 0);

  json_decref(js);
  return stop;
}

/* Queues a line (text NULL: the end of the input) and wakes whoever
 * waits for one: the main thread, or the network loop. */
static void push_line(driver *d, char *text, size_t len)
{
  drv_line *l = calloc(1, sizeof *l);
  bool stop = text == NULL || is_stop_line(text, len);

  pthread_mutex_lock(&d->lock);
  if (l != NULL) {
    l->text = text;
    l->len = len;
    if (d->tail != NULL)
      d->tail->next = l;
    else
      d->head = l;
    d->tail = l;
  } else {
    free(text);
  }
  if (stop)
    *d->stop = 1; /* ends a wait inside an HTTP retry */
  if (d->wake != NULL)
    net_wake(d->wake);
  pthread_cond_signal(&d->more);
  pthread_mutex_unlock(&d->lock);
}

/* Splits what standard input holds into lines; a line longer than
 * LINE_MAX_OCTETS is passed on cut, and gets bad-command. */
static void *reader_main(void *arg)
{
  driver *d = arg;
  char buf[4096], *line = NULL, *p;
  size_t len = 0;
  ssize_t n, i;

  while ((n = read(STDIN_FILENO, buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      break;
    for (i = 0; i < n; i++) {
      if (buf[i] != '\n' && len < LINE_MAX_OCTETS) {
        if ((p = realloc(line, len + 2)) == NULL)
          continue;
        line = p;
        line[len++] = buf[i];
      } else if (buf[i] == '\n') {
        if (line != NULL)
          line[len] = '\0';
        push_line(d, line ? line : strdup(""), len);
        line = NULL;
        len = 0;
      }
    }
  }
  free(line); /* a last line without its line feed is not a line */
  push_line(d, NULL, 0);
  return NULL;
}

/* Takes the next line, waiting up to wait_ms for one (0: not at all).
 * Returns NULL when none came. */
static drv_line *take_line(driver *d, unsigned wait_ms)
{
  drv_line *l;
  struct timespec until;

  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += wait_ms / 1000;
  until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&d->lock);
  while (d->head == NULL && wait_ms > 0 &&
         pthread_cond_timedwait(&d->more, &d->lock, &until) == 0)
    ;
  l = d->head;
  if (l != NULL) {
    d->head = l->next;
    if (d->head == NULL)
      d->tail = NULL;
  }
  pthread_mutex_unlock(&d->lock);
  return l;
}

static void set_wake(driver *d, net *n)
{
  pthread_mutex_lock(&d->lock);
  d->wake = n;
  pthread_mutex_unlock(&d->lock);
}

/* ---- the local store ---------------------------------------------- */

/* Removes the temporary directory and every file in it. */
static void remove_dir(driver *d)
{
  DIR *dir;
  struct dirent *e;
  char path[sizeof d->dir + 300];

  if (d->dir[0] == '\0' || (dir = opendir(d->dir)) == NULL)
    return;
  while ((e = readdir(dir)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof path, "%s/%s", d->dir, e->d_name);
    unlink(path);
  }
  closedir(dir);
  rmdir(d->dir);
  d->dir[0] = '\0';
}

/* Opens the app on a new store in a temporary directory (DRV-7).
 * Returns an exit code after printing why on failure. */
static int open_app(driver *d, const cli *c)
{
  const char *tmp = getenv("TMPDIR");
  app_opts o = c->app;
  int rc;

  o.backoff_base_ms = d->backoff_base_ms;
  o.backoff_cap_ms = d->backoff_cap_ms;
  snprintf(d->dir, sizeof d->dir, "%s/parley-driver-XXXXXX",
           tmp != NULL && tmp[0] == '/' && strlen(tmp) < 32 ? tmp : "/tmp");
  if (mkdtemp(d->dir) == NULL) {
    fprintf(stderr, "parley-client: temporary store: %s\n", strerror(errno));
    d->dir[0] = '\0';
    return EXIT_FAIL;
  }
  snprintf(d->db, sizeof d->db, "%s/store.db", d->dir);
  net_url_parse(d->url, &o.url);
  o.server = d->url;
  o.user = d->user;
  o.password = d->password;
  o.password_file = NULL;
  o.device = d->device;
  o.db = d->db;
  o.connect_timeout_ms = 0; /* reconnect for as long as it runs */
  rc = app_open(&d->a, &o, d->stop);
  d->opened = true;
  if (rc == EXIT_OK)
    rc = app_core_open(&d->a);
  if (rc != EXIT_OK) {
    app_close(&d->a);
    d->opened = false;
    remove_dir(d);
  }
  return rc;
}

/* A new core from the store, for a connect after a disconnect. */
static int reopen_core(driver *d)
{
  parley_client *old = d->a.core;

  d->a.core = NULL;
  app_queue_clear();
  parley_client_free(old);
  d->a.finished = false;
  d->a.need_token = d->a.refresh_token = d->a.host_due = false;
  d->a.opts.backoff_base_ms = d->backoff_base_ms;
  d->a.opts.backoff_cap_ms = d->backoff_cap_ms;
  return app_core_open(&d->a);
}

/* ---- commands ----------------------------------------------------- */

static const char *str_member(json_t *js, const char *name)
{
  return json_string_value(json_object_get(js, name));
}

/* Reads an optional integer member into *out (0 < v <= UINT32_MAX).
 * Returns false when it is there but not such an integer. */
static bool u32_member(json_t *js, const char *name, uint32_t *out)
{
  json_t *v = json_object_get(js, name);

  if (v == NULL)
    return true;
  if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
      json_integer_value(v) > (json_int_t)UINT32_MAX)
    return false;
  *out = (uint32_t)json_integer_value(v);
  return true;
}

/* Copies the members of `connect` into d; the backoff settings not
 * given are the command line's, else the defaults (250 ms, 10 s).
 * Returns a complaint for bad-command, or NULL. */
static const char *take_connect(driver *d, const cli *c, json_t *js)
{
  const char *url = str_member(js, "url"), *user = str_member(js, "user");
  const char *password = str_member(js, "password");
  const char *device = str_member(js, "device");
  net_url u;

  if (url == NULL || user == NULL || password == NULL || device == NULL)
    return "connect needs url, user, password and device (strings)";
  if (!net_url_parse(url, &u) || strlen(url) >= sizeof d->url)
    return "connect: url is not http://HOST:PORT or https://HOST:PORT";
  if (!u.tls && !cli_url_is_loopback(&u))
    return "connect: plain http to a host that is not loopback (SEC-17)";
  if (strlen(user) >= sizeof d->user || strlen(device) >= sizeof d->device ||
      strlen(password) >= sizeof d->password)
    return "connect: user, device or password too long";
  if (d->opened && (strcmp(url, d->url) != 0 || strcmp(user, d->user) != 0 ||
                    strcmp(device, d->device) != 0))
    return "connect: another url, user or device than the first connect";
  d->backoff_base_ms = c->app.backoff_base_ms ? c->app.backoff_base_ms : 250;
  d->backoff_cap_ms = c->app.backoff_cap_ms ? c->app.backoff_cap_ms : 10000;
  if (!u32_member(js, "backoff_base_ms", &d->backoff_base_ms) ||
      !u32_member(js, "backoff_cap_ms", &d->backoff_cap_ms))
    return "connect: backoff_base_ms and backoff_cap_ms are integers > 0";
  snprintf(d->url, sizeof d->url, "%s", url);
  snprintf(d->user, sizeof d->user, "%s", user);
  snprintf(d->password, sizeof d->password, "%s", password);
  snprintf(d->device, sizeof d->device, "%s", device);
  return NULL;
}

static void service(void *ud, app *a);

/* `connect`: opens the app (or a new core after a disconnect) and runs
 * it until a stop, or until it gives up by itself. */
static void do_connect(driver *d, const cli *c, json_t *js)
{
  app_hooks hooks = {d, on_msg, on_event, NULL};
  const char *complaint = take_connect(d, c, js);

  if (complaint != NULL) {
    emit_bad_command(complaint);
    return;
  }
  set_state(d, "connecting", NULL);
  if ((d->opened ? reopen_core(d) : open_app(d, c)) != EXIT_OK) {
    set_state(d, "idle", "the client could not start");
    return;
  }
  d->a.reconnect_forever = true;
  d->a.service = service;
  d->halt = HALT_NONE;
  set_wake(d, d->a.net);
  app_core_run(&d->a, &hooks); /* the outcome shows in halt and stop */
  set_wake(d, NULL);
  if (d->halt != HALT_NONE) {
    set_state(d, "idle", NULL);
    d->quit = d->halt == HALT_QUIT;
    *d->stop = 0;
  } else if (!*d->stop) {
    /* It gave up by itself: no token (CLI-3), or a broken store. */
    set_state(d, "idle", d->a.token[0] == '\0' ? "auth-failed" : "failed");
  }
}

/* `send`: the user sends `body` in `conv` (DRV-10). */
static void do_send(driver *d, json_t *js)
{
  const char *conv = str_member(js, "conv"), *ref = str_member(js, "ref");
  json_t *body = json_object_get(js, "body");
  char temp_id[PARLEY_ID_MAX + 1];
  parley_err err;
  json_t *ev;

  if (conv == NULL || !json_is_string(body) ||
      (json_object_get(js, "ref") != NULL && ref == NULL)) {
    emit_bad_command("send needs conv and body (strings); ref is a string");
    return;
  }
  if (!d->opened) {
    emit_send_failed(conv, NULL, ref, "not-connected");
    return;
  }
  err = parley_client_send(d->a.core, conv, "text/plain",
                           json_string_value(body), json_string_length(body),
                           net_now_ms(), temp_id);
  if (err != PARLEY_OK) {
    emit_send_failed(conv, NULL, ref, reason_of(err));
    return;
  }
  ev = json_pack("{s:s, s:s, s:s}", "event", "queued", "conv", conv,
                 "temp_id", temp_id);
  if (ev != NULL && ref != NULL)
    json_object_set_new(ev, "ref", json_string(ref));
  emit(ev);
  app_core_actions(&d->a);
}

/* `read`: the user has seen `conv` up to `seq`. */
static void do_read(driver *d, json_t *js)
{
  const char *conv = str_member(js, "conv");
  json_t *seq = json_object_get(js, "seq");

  if (conv == NULL || !json_is_integer(seq) || json_integer_value(seq) < 0) {
    emit_bad_command("read needs conv (string) and seq (integer)");
    return;
  }
  if (!d->opened)
    return;
  parley_client_mark_read(d->a.core, conv,
                          (uint64_t)json_integer_value(seq), net_now_ms());
  app_core_actions(&d->a);
}

/* Acts on one line. `running`: inside the core loop, where `connect` is
 * nothing new and a stop ends the loop. */
static void handle(driver *d, const cli *c, const drv_line *l, bool running)
{
  json_t *js = json_loadb(l->text, l->len, JSON_ALLOW_NUL, NULL);
  const char *cmd = str_member(js, "cmd");

  if (!json_is_object(js) || cmd == NULL) {
    emit_bad_command("not a JSON object with a string member cmd");
  } else if (strcmp(cmd, "connect") == 0) {
    if (!running)
      do_connect(d, c, js);
  } else if (strcmp(cmd, "send") == 0) {
    do_send(d, js);
  } else if (strcmp(cmd, "read") == 0) {
    do_read(d, js);
  } else if (strcmp(cmd, "disconnect") == 0 || strcmp(cmd, "quit") == 0) {
    bool quit = strcmp(cmd, "quit") == 0;
    if (running) {
      d->halt = quit ? HALT_QUIT : HALT_DISCONNECT;
      d->a.finished = true;
    } else {
      *d->stop = 0;
      d->quit = quit;
      if (d->opened || quit)
        set_state(d, "idle", NULL);
    }
  } else {
    emit(json_pack("{s:s, s:s}", "event", "unsupported", "cmd", cmd));
  }
  json_decref(js);
}

/* The loop's service hook: acts on the lines that came, up to a stop. */
static void service(void *ud, app *a)
{
  driver *d = ud;
  drv_line *l;

  while (!a->finished && (l = take_line(d, 0)) != NULL) {
    if (l->text == NULL) {
      d->halt = HALT_QUIT; /* the end of the input (DRV-9) */
      a->finished = true;
    } else {
      handle(d, NULL, l, true);
    }
    free(l->text);
    free(l);
  }
}

/* The driver lives for the whole process: the reader thread may still
 * wait on standard input when the main thread returns. */
static driver the_driver;

int cmd_driver(const cli *c, volatile int *stop)
{
  driver *d = &the_driver;
  pthread_t reader;
  drv_line *l;

  d->stop = stop;
  snprintf(d->state, sizeof d->state, "idle");
  pthread_mutex_init(&d->lock, NULL);
  pthread_cond_init(&d->more, NULL);
  emit(json_pack("{s:s, s:i}", "event", "driver", "version",
                 DRIVER_VERSION));
  if (pthread_create(&reader, NULL, reader_main, d) != 0) {
    fprintf(stderr, "parley-client: cannot start the input thread\n");
    return EXIT_FAIL;
  }
  pthread_detach(reader);
  while (!d->quit) {
    if ((l = take_line(d, 200)) == NULL) {
      d->quit = *stop != 0; /* a signal */
      continue;
    }
    if (l->text == NULL)
      d->quit = true;
    else
      handle(d, c, l, false);
    free(l->text);
    free(l);
  }
  set_state(d, "idle", NULL);
  if (d->opened)
    app_close(&d->a);
  remove_dir(d);
  while ((l = take_line(d, 0)) != NULL) {
    free(l->text);
    free(l);
  }
  return EXIT_OK;
}
