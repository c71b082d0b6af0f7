/* parley-conform client mode: the scripted server's model, its sessions
 * and the wait loop (see scripted.h).
 *
 * ps_run is the one place the case's thread waits. Each turn it adopts
 * the upgrades the accepting thread handed over, reads every frame that
 * is ready on every open session and answers it (scripted_frames.c),
 * reads the driver's lines, and then asks the case's predicate; when
 * nothing is ready it polls the sessions' sockets, the driver's pipes
 * and the thread's notify pipe together, waking at least every 50 ms so
 * that predicates about time are asked often enough. A session's frames
 * are read only through pc_recv, never pc_expect, so none are ever set
 * aside and the socket's readiness tells whether one may be waiting.
 * When the client ends its output while ps_run waits for anything but
 * that, the wait fails at once with the client's exit status and the end
 * of its standard error (pd_fail_ended). */
#define _GNU_SOURCE /* pipe2 */
#include "scripted_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#define PS_POLL_MS 50
#define PS_POLL_MAX 64
#define PS_QUIT_MS 5000u

bool ps_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
  size_t n = *cap ? *cap : 16;
  void *p;

  if (need <= *cap)
    return true;
  while (n < need)
    n *= 2;
  if ((p = realloc(*arr, n * elem)) == NULL)
    return false;
  *arr = p;
  *cap = n;
  return true;
}

void ps_fault(ps_server *srv, const char *fmt, ...)
{
  char line[512];
  size_t old = srv->faults ? strlen(srv->faults) : 0;
  va_list ap;
  char *p;

  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  pc_note(srv->t, "client fault: %s", line);
  if (old > 4000)
    return;
  if ((p = realloc(srv->faults, old + strlen(line) + 3)) == NULL)
    return;
  srv->faults = p;
  sprintf(p + old, "%s%s", old ? "; " : "", line);
}

const char *ps_faults(ps_server *srv) { return srv->faults; }

/* ---- the model ----------------------------------------------------- */

ps_conv_rec *ps_conv_find(ps_server *srv, const char *id)
{
  size_t i;

  for (i = 0; i < srv->conv_n; i++)
    if (strcmp(srv->convs[i].id, id) == 0)
      return &srv->convs[i];
  return NULL;
}

/* Positions count down: 7 letters of 26^7 - 1 - n after a fixed prefix,
 * so each new one sorts before every earlier one. */
const char *ps_new_pos(ps_server *srv)
{
  uint64_t v = 8031810176ull - 1 - srv->pos_n++;
  char text[16];
  int i;

  memcpy(text, srv->pos_prefix, 3);
  for (i = 9; i >= 3; i--) {
    text[i] = (char)('a' + v % 26);
    v /= 26;
  }
  text[10] = '\0';
  return pc_strdup(srv->t, text);
}

const char *ps_conv(ps_server *srv)
{
  const char *id = pc_uniq(srv->t, "c");
  bool ok;

  pthread_mutex_lock(&srv->lock);
  ok = ps_grow((void **)&srv->convs, &srv->conv_cap, srv->conv_n + 1,
               sizeof *srv->convs);
  if (ok) {
    memset(&srv->convs[srv->conv_n], 0, sizeof *srv->convs);
    srv->convs[srv->conv_n++].id = id;
  }
  pthread_mutex_unlock(&srv->lock);
  if (!ok)
    pc_fail(srv->t, "out of memory");
  return id;
}

/* Appends m to its conversation and to the event stream. */
static void store(ps_server *srv, ps_conv_rec *cv, ps_msg *m)
{
  bool ok;

  pthread_mutex_lock(&srv->lock);
  ok = ps_grow((void **)&cv->msgs, &cv->cap, cv->count + 1,
               sizeof *cv->msgs) &&
       ps_grow((void **)&srv->events, &srv->ev_cap, srv->ev_n + 1,
               sizeof *srv->events);
  if (ok) {
    m->seq = cv->count + 1;
    cv->msgs[cv->count++] = m;
    m->event = srv->ev_n;
    srv->events[srv->ev_n++] = m;
  }
  pthread_mutex_unlock(&srv->lock);
  if (!ok)
    pc_fail(srv->t, "out of memory");
}

/* A new message; every string is copied into the case's arena. */
static ps_msg *new_msg(ps_server *srv, ps_conv_rec *cv, const char *from,
                       const char *device, const char *temp_id,
                       const char *body, size_t body_len)
{
  ps_msg *m = pc_alloc(srv->t, sizeof *m);

  m->conv = cv->id;
  m->msg_id = pc_uniq(srv->t, "m");
  m->from = pc_strdup(srv->t, from);
  m->device = pc_strdup(srv->t, device);
  m->temp_id = temp_id ? pc_strdup(srv->t, temp_id)
                       : pc_uniq(srv->t, "tmp");
  m->pos = ps_new_pos(srv);
  m->ts = pc_now_ms();
  m->body = memcpy(pc_alloc(srv->t, body_len + 1), body, body_len);
  m->body_len = body_len;
  store(srv, cv, m);
  return m;
}

ps_msg *ps_post_n(ps_server *srv, const char *conv, const char *from,
                  const char *body, size_t len)
{
  ps_conv_rec *cv = ps_conv_find(srv, conv);

  if (cv == NULL)
    pc_fail(srv->t, "case error: no conversation %s", conv);
  return new_msg(srv, cv, from, pc_printf(srv->t, "%s-phone", from), NULL,
                 body, len);
}

ps_msg *ps_post(ps_server *srv, const char *conv, const char *from,
                const char *body)
{
  return ps_post_n(srv, conv, from, body, strlen(body));
}

ps_msg *ps_store_sent(ps_server *srv, ps_conv_rec *cv, const char *device,
                      const char *temp_id, const char *body, size_t len)
{
  return new_msg(srv, cv, PS_USER, device, temp_id, body, len);
}

size_t ps_event_count(const ps_server *srv) { return srv->ev_n; }

const char *ps_hidden_event(ps_server *srv)
{
  ps_msg *m = pc_alloc(srv->t, sizeof *m);
  bool ok;

  m->pos = ps_new_pos(srv);
  pthread_mutex_lock(&srv->lock);
  ok = ps_grow((void **)&srv->events, &srv->ev_cap, srv->ev_n + 1,
               sizeof *srv->events);
  if (ok) {
    m->event = srv->ev_n;
    srv->events[srv->ev_n++] = m;
  }
  pthread_mutex_unlock(&srv->lock);
  if (!ok)
    pc_fail(srv->t, "out of memory");
  return m->pos;
}

const char *ps_pos_at(const ps_server *srv, size_t event)
{
  return event < srv->ev_n ? srv->events[event]->pos : srv->origin_pos;
}

char *ps_msg_frame(ps_server *srv, const ps_msg *m, bool with_pos,
                   const char *req, size_t *len)
{
  parley_buf b = {0};
  char seq[24], ts[24];
  bool ok;
  char *out;

  snprintf(seq, sizeof seq, "%llu", (unsigned long long)m->seq);
  snprintf(ts, sizeof ts, "%llu", (unsigned long long)m->ts);
  ok = parley_frame_begin(&b, "MSG") == PARLEY_OK &&
       parley_frame_header_str(&b, "conv", m->conv) == PARLEY_OK &&
       parley_frame_header_str(&b, "msg-id", m->msg_id) == PARLEY_OK &&
       parley_frame_header_str(&b, "seq", seq) == PARLEY_OK &&
       parley_frame_header_str(&b, "from", m->from) == PARLEY_OK &&
       parley_frame_header_str(&b, "device", m->device) == PARLEY_OK &&
       parley_frame_header_str(&b, "temp-id", m->temp_id) == PARLEY_OK &&
       parley_frame_header_str(&b, "ts", ts) == PARLEY_OK &&
       parley_frame_header_str(&b, with_pos ? "pos" : "req",
                               with_pos ? m->pos : req) == PARLEY_OK &&
       parley_frame_header_str(&b, "content-type", "text/plain") ==
           PARLEY_OK &&
       parley_frame_end(&b, m->body, m->body_len, false) == PARLEY_OK;
  if (!ok) {
    parley_buf_free(&b);
    pc_fail(srv->t, "case error: a MSG frame did not serialize");
  }
  out = memcpy(pc_alloc(srv->t, b.len + 1), b.data, b.len);
  *len = b.len;
  parley_buf_free(&b);
  return out;
}

/* ---- sending ------------------------------------------------------- */

void ps_send_text(ps_session *s, const char *text, size_t len)
{
  pc_send_text(s->c, text, len);
  s->last_tx_ms = pw_mono_ms();
}

void ps_deliver(ps_session *s, const ps_msg *m)
{
  size_t len;
  char *text = ps_msg_frame(s->srv, m, true, NULL, &len);

  ps_send_text(s, text, len);
}

void ps_cut(ps_session *s, const ps_msg *m)
{
  uint8_t head[14];
  size_t len, hl;
  char *text = ps_msg_frame(s->srv, m, true, NULL, &len);

  hl = pw_ws_encode_header(head, true, PW_OP_TEXT, NULL, len);
  pc_send_raw(s->c, head, hl);
  pc_send_raw(s->c, text, len / 2);
  ps_drop(s);
}

/* Marks s as ended (by either side). */
static void ended(ps_session *s, bool by_server)
{
  if (s->closed || s->server_closed)
    return;
  if (by_server)
    s->server_closed = true;
  else
    s->closed = true;
  s->closed_ms = pw_mono_ms();
}

void ps_drop(ps_session *s)
{
  pc_drop(s->c);
  ended(s, true);
}

void ps_close(ps_session *s, int code)
{
  pc_close(s->c, code);
  s->last_tx_ms = pw_mono_ms();
}

/* ---- sessions ------------------------------------------------------ */

/* Adopts the upgrades the thread accepted. */
static void adopt_pending(ps_server *srv)
{
  ps_pending p;
  ps_session *s;
  char byte;

  while (read(srv->notify[0], &byte, 1) == 1)
    ;
  for (;;) {
    pthread_mutex_lock(&srv->lock);
    if (srv->pend_n == 0) {
      pthread_mutex_unlock(&srv->lock);
      return;
    }
    p = srv->pend[0];
    memmove(srv->pend, srv->pend + 1, --srv->pend_n * sizeof *srv->pend);
    pthread_mutex_unlock(&srv->lock);
    s = pc_alloc(srv->t, sizeof *s);
    s->srv = srv;
    s->w = p.w;
    s->index = srv->sess_n;
    s->label = pc_printf(srv->t, "ws-%s%zu", srv->tag, srv->sess_n + 1);
    s->c = pc_conn_adopt(srv->t, s->label, p.w);
    s->opened_ms = p.mono_ms;
    s->no_subprotocol = p.no_subprotocol;
    if (!ps_grow((void **)&srv->sess, &srv->sess_cap, srv->sess_n + 1,
                 sizeof *srv->sess))
      pc_fail(srv->t, "out of memory");
    srv->sess[srv->sess_n++] = s;
  }
}

/* Keeps a frame in the record of everything received. */
static void record(ps_session *s, pc_frame *f)
{
  ps_server *srv = s->srv;

  if (!ps_grow((void **)&srv->rx, &srv->rx_cap, srv->rx_n + 1,
               sizeof *srv->rx))
    pc_fail(srv->t, "out of memory");
  srv->rx[srv->rx_n].s = s;
  srv->rx[srv->rx_n].f = f;
  srv->rx[srv->rx_n++].mono_ms = pw_mono_ms();
  s->frames++;
  s->last_rx_ms = pw_mono_ms();
}

/* Reads and answers what is ready on s. Returns true when it read
 * anything. */
static bool serve_session(ps_session *s, bool readable)
{
  bool any = false;
  pc_frame *f;

  while (!s->closed && !s->server_closed &&
         (readable || pw_buffered(s->w) > 0)) {
    f = pc_recv(s->c, 1);
    if (f == NULL) {
      if (pc_closed(s->c)) {
        s->close_code = pc_expect_close(s->c, PC_WAIT); /* at once */
        ended(s, false);
      }
      break;
    }
    any = true;
    record(s, f);
    ps_handle(s, f);
    readable = false;
  }
  return any;
}

/* Serves every session; readable (NULL: none) covers the first n. */
static bool serve_all(ps_server *srv, const bool *readable, size_t n)
{
  bool any = false;
  size_t i;

  for (i = 0; i < srv->sess_n; i++)
    any |= serve_session(srv->sess[i], readable && i < n && readable[i]);
  return any;
}

/* One poll over the notify pipe, every open session and the driver;
 * readable[i] tells which sessions have something. */
static void wait_ready(ps_server *srv, unsigned ms, bool *readable)
{
  struct pollfd p[PS_POLL_MAX];
  size_t idx[PS_POLL_MAX], n = 0, i, first_drv;

  p[n].fd = srv->notify[0];
  p[n++].events = POLLIN;
  for (i = 0; i < srv->sess_n; i++) {
    ps_session *s = srv->sess[i];
    readable[i] = false;
    if (s->closed || s->server_closed || pw_fd(s->w) < 0 ||
        n >= PS_POLL_MAX - 3)
      continue;
    idx[n] = i;
    p[n].fd = pw_fd(s->w);
    p[n++].events = POLLIN;
  }
  first_drv = n;
  n += pd_fds(srv->d, p + n);
  if (poll(p, (nfds_t)n, (int)ms) <= 0)
    return;
  for (i = 1; i < first_drv; i++)
    if (p[i].revents != 0)
      readable[idx[i]] = true;
}

void ps_run(ps_server *srv, unsigned timeout_ms, ps_until_fn until,
            void *ud, const char *what)
{
  unsigned wait = timeout_ms == PC_WAIT ? pc_wait_ms(srv->t) : timeout_ms;
  uint64_t deadline = pw_mono_ms() + wait, now;
  size_t n;

  for (;;) {
    adopt_pending(srv);
    n = srv->sess_n;
    if (!ps_grow((void **)&srv->readable, &srv->readable_cap, n + 1,
                 sizeof *srv->readable))
      pc_fail(srv->t, "out of memory");
    serve_all(srv, NULL, 0);
    pd_read(srv->d);
    if (until != NULL && until(srv, ud))
      return;
    if (until != NULL && pd_eof(srv->d))
      pd_fail_ended(srv->d, what);
    now = pw_mono_ms();
    if (now >= deadline) {
      if (until == NULL)
        return;
      pc_fail(srv->t, "waited %u ms for %s%s%s", wait, what,
              srv->faults ? "; the client's faults meanwhile: " : "",
              srv->faults ? srv->faults : "");
    }
    wait_ready(srv, deadline - now < PS_POLL_MS ? (unsigned)(deadline - now)
                                                : PS_POLL_MS, srv->readable);
    serve_all(srv, srv->readable, n);
  }
}

void ps_serve_for(ps_server *srv, unsigned ms)
{
  if (ms > 0)
    ps_run(srv, ms, NULL, NULL, NULL);
}

/* ---- waits --------------------------------------------------------- */

static bool have_session(ps_server *srv, void *ud)
{
  return srv->sess_n >= *(size_t *)ud;
}

static bool have_synced(ps_server *srv, void *ud)
{
  size_t n = *(size_t *)ud;

  return srv->sess_n >= n && srv->sess[n - 1]->synced;
}

ps_session *ps_await_session(ps_server *srv, size_t n, unsigned timeout_ms)
{
  char *what = pc_printf(srv->t, "the client's WebSocket connection #%zu",
                         n);

  ps_run(srv, timeout_ms, have_session, &n, what);
  return srv->sess[n - 1];
}

ps_session *ps_await_synced(ps_server *srv, size_t n, unsigned timeout_ms)
{
  char *what = pc_printf(srv->t, "session #%zu to reach READY and send "
                         "SYNC (answered with SYNCED)", n);

  ps_run(srv, timeout_ms, have_synced, &n, what);
  return srv->sess[n - 1];
}

static bool have_shown(ps_server *srv, void *ud)
{
  return pd_shown_body(srv->d, ud) > 0;
}

void ps_await_shown(ps_server *srv, const char *body, unsigned timeout_ms)
{
  char *what = pc_printf(srv->t, "the client to show the message \"%s\" "
                         "(a `message` event, spec DRV-11)", body);

  ps_run(srv, timeout_ms, have_shown, (void *)body, what);
}

static bool have_closed(ps_server *srv, void *ud)
{
  ps_session *s = ud;

  (void)srv;
  return s->closed;
}

void ps_await_closed(ps_session *s, unsigned timeout_ms)
{
  char *what = pc_printf(s->srv->t, "the client to close %s", s->label);

  ps_run(s->srv, timeout_ms, have_closed, s, what);
}

static bool have_eof(ps_server *srv, void *ud)
{
  (void)ud;
  return pd_eof(srv->d);
}

void ps_quit(ps_server *srv)
{
  uint64_t start = pw_mono_ms();
  int status = 0;

  pd_cmd(srv->d, "{s:s}", "cmd", "quit");
  ps_run(srv, PS_QUIT_MS, have_eof, NULL,
         "the client to end its output after `quit` (spec DRV-9)");
  if (!pd_reap(srv->d, PS_QUIT_MS - (unsigned)(pw_mono_ms() - start),
               &status))
    pc_fail(srv->t, "the client did not exit within %u ms of `quit` (spec "
            "DRV-9)", PS_QUIT_MS);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    pc_fail(srv->t, "the client ended after `quit` with %s %d, not status "
            "0 (spec DRV-9)", WIFEXITED(status) ? "status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

unsigned ps_reconnect_ms(const ps_server *srv)
{
  return srv->o.backoff_cap_ms + pc_wait_ms(srv->t) + 1000;
}

/* ---- start and end ------------------------------------------------- */

static void ps_cleanup(void *arg)
{
  ps_server *srv = arg;
  size_t i;

  ps_http_stop(srv);
  for (i = 0; i < srv->pend_n; i++)
    pw_free(srv->pend[i].w);
  pw_listener_free(srv->l);
  for (i = 0; i < srv->tok_n; i++)
    free(srv->tok[i].text);
  for (i = 0; i < srv->tgt_n; i++)
    free(srv->targets[i]);
  for (i = 0; i < srv->conv_n; i++)
    free(srv->convs[i].msgs);
  free(srv->pend);
  free(srv->acc);
  free(srv->tok);
  free(srv->targets);
  free(srv->convs);
  free(srv->events);
  free(srv->sess);
  free(srv->rx);
  free(srv->readable);
  free(srv->faults);
  if (srv->notify[0] >= 0)
    close(srv->notify[0]);
  if (srv->notify[1] >= 0)
    close(srv->notify[1]);
  pthread_mutex_destroy(&srv->lock);
  free(srv);
}

/* The options with their defaults filled in. */
static ps_opts defaults(const ps_opts *o)
{
  ps_opts v = o ? *o : (ps_opts){0};

#define DEFAULT_(f, x) if (v.f == 0) v.f = (x)
  DEFAULT_(heartbeat_min_ms, 200);
  DEFAULT_(heartbeat_max_ms, 15000);
  DEFAULT_(rate, 200);
  DEFAULT_(rate_burst, 400);
  DEFAULT_(max_body, 64512);
  DEFAULT_(max_frame, 65536);
  DEFAULT_(token_ttl_ms, 3600000);
  DEFAULT_(backoff_base_ms, 100);
  DEFAULT_(backoff_cap_ms, 400);
#undef DEFAULT_
  return v;
}

ps_server *ps_start(pc_ctx *t, const ps_opts *o)
{
  ps_server *srv = calloc(1, sizeof *srv);
  unsigned char rnd[2] = {0, 0};
  char err[256];

  if (srv == NULL)
    pc_fail(t, "out of memory");
  srv->t = t;
  srv->o = defaults(o);
  snprintf(srv->tag, sizeof srv->tag, "%s", o && o->name ? o->name : "");
  srv->notify[0] = srv->notify[1] = -1;
  srv->tokens_left = SIZE_MAX;
  pthread_mutex_init(&srv->lock, NULL);
  pc_defer(t, ps_cleanup, srv);
  if (pipe2(srv->notify, O_CLOEXEC | O_NONBLOCK) != 0)
    pc_fail(t, "pipe: %s", strerror(errno));
  if ((srv->l = pw_listen(err, sizeof err)) == NULL)
    pc_fail(t, "the scripted server cannot listen: %s", err);
  snprintf(srv->url, sizeof srv->url, "http://127.0.0.1:%u",
           (unsigned)pw_listener_port(srv->l));
  snprintf(srv->password, sizeof srv->password, "%s",
           pc_uniq(t, "pw"));
  snprintf(srv->device, sizeof srv->device, "%s", pc_uniq(t, "dev"));
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
    rnd[0] = rnd[1] = 0;
  srv->pos_prefix[0] = 'q';
  srv->pos_prefix[1] = (char)('a' + rnd[0] % 26);
  srv->pos_prefix[2] = (char)('a' + rnd[1] % 26);
  srv->origin_pos = ps_new_pos(srv);
  pc_note(t, "scripted server at %s; the client signs in as %s, device "
          "%s", srv->url, PS_USER, srv->device);
  ps_http_start(srv);
  srv->d = pd_start(t, srv->tag[0] ? pc_printf(t, "driver-%s", srv->tag)
                                    : "driver");
  if (!srv->o.no_connect)
    ps_connect(srv);
  return srv;
}

void ps_connect(ps_server *srv)
{
  pd_cmd(srv->d, "{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "cmd", "connect",
         "url", srv->url, "user", PS_USER, "password", srv->password,
         "device", srv->device, "backoff_base_ms",
         (json_int_t)srv->o.backoff_base_ms, "backoff_cap_ms",
         (json_int_t)srv->o.backoff_cap_ms);
}

pc_ctx *ps_ctx(const ps_server *srv) { return srv->t; }
pd *ps_driver(const ps_server *srv) { return srv->d; }
ps_script *ps_script_of(ps_server *srv) { return &srv->script; }
const char *ps_user(const ps_server *srv) { (void)srv; return PS_USER; }
const char *ps_device(const ps_server *srv) { return srv->device; }
const char *ps_password(const ps_server *srv) { return srv->password; }
const char *ps_url(const ps_server *srv) { return srv->url; }
size_t ps_session_count(const ps_server *srv) { return srv->sess_n; }

ps_session *ps_session_at(const ps_server *srv, size_t i)
{
  return i < srv->sess_n ? srv->sess[i] : NULL;
}

size_t ps_rx_count(const ps_server *srv) { return srv->rx_n; }

const ps_rx *ps_rx_at(const ps_server *srv, size_t i)
{
  return i < srv->rx_n ? &srv->rx[i] : NULL;
}

/* ---- records of the accepting thread ------------------------------- */

ps_accept *ps_accepts(ps_server *srv, size_t *n)
{
  size_t want, i;
  ps_accept *out;

  pthread_mutex_lock(&srv->lock);
  want = srv->acc_n;
  pthread_mutex_unlock(&srv->lock);
  out = pc_alloc(srv->t, (want + 1) * sizeof *out);
  pthread_mutex_lock(&srv->lock);
  for (i = 0; i < want; i++)
    out[i] = srv->acc[i];
  pthread_mutex_unlock(&srv->lock);
  *n = want;
  return out;
}

size_t ps_token_requests(ps_server *srv)
{
  size_t n;

  pthread_mutex_lock(&srv->lock);
  n = srv->token_requests;
  pthread_mutex_unlock(&srv->lock);
  return n;
}

size_t ps_token_count(ps_server *srv)
{
  size_t n;

  pthread_mutex_lock(&srv->lock);
  n = srv->tok_n;
  pthread_mutex_unlock(&srv->lock);
  return n;
}

bool ps_token_at(ps_server *srv, size_t i, ps_token *out)
{
  bool ok;

  pthread_mutex_lock(&srv->lock);
  ok = i < srv->tok_n;
  if (ok)
    *out = srv->tok[i];
  pthread_mutex_unlock(&srv->lock);
  return ok;
}

ps_token *ps_token_find(ps_server *srv, const char *text)
{
  size_t i;

  for (i = 0; i < srv->tok_n; i++)
    if (strcmp(srv->tok[i].text, text) == 0)
      return &srv->tok[i];
  return NULL;
}

const char **ps_targets(ps_server *srv, size_t *n)
{
  size_t want, i;
  const char **out;

  pthread_mutex_lock(&srv->lock);
  want = srv->tgt_n;
  pthread_mutex_unlock(&srv->lock);
  out = pc_alloc(srv->t, (want + 1) * sizeof *out);
  pthread_mutex_lock(&srv->lock);
  for (i = 0; i < want; i++)
    out[i] = srv->targets[i];
  pthread_mutex_unlock(&srv->lock);
  *n = want;
  return out;
}

void ps_limit_tokens(ps_server *srv, size_t n)
{
  pthread_mutex_lock(&srv->lock);
  srv->tokens_left = n > srv->tok_n ? n - srv->tok_n : 0;
  pthread_mutex_unlock(&srv->lock);
}

void ps_set_down(ps_server *srv, bool down)
{
  pthread_mutex_lock(&srv->lock);
  srv->down = down;
  pthread_mutex_unlock(&srv->lock);
  pc_note(srv->t, down ? "the server goes down: every connection is reset"
                       : "the server is back up");
}

void ps_set_no_subprotocol(ps_server *srv)
{
  pthread_mutex_lock(&srv->lock);
  srv->no_subprotocol = true;
  pthread_mutex_unlock(&srv->lock);
}
