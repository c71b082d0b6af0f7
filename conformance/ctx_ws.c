/* parley-conform case context: WebSocket connections, frames and
 * sessions (spec sections 2.5, 4 and 10).
 *
 * Design: a pc_conn wraps a pw_conn and a queue of frames set aside.
 * Reading is on demand: nothing is read from a connection unless the case
 * waits on it, so the kernel buffers what arrives meanwhile. Each text
 * message read must hold exactly one well-formed frame, which libparley's
 * parser checks; anything else (a malformed frame, a binary message, a
 * WebSocket protocol error) fails the case with what the parser or the
 * WebSocket reader said. A close frame is answered with a close carrying
 * the same code, and the connection then counts as closed.
 *
 * pc_recv returns set-aside frames first; the pc_expect family takes the
 * first matching frame, from the queue or from the wire, and sets aside
 * every other frame in arrival order. Every message and control frame,
 * sent or received, goes into the wire log as its exact octets. */
#include "ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a wait looks for: a verb (NULL: any) and a header (NULL: any);
 * `what` (NULL: made from the rest) says it in a failure message. */
typedef struct match {
  const char *verb;
  const char *name;
  const char *value;
  const char *what;
} match;

/* ---- connections --------------------------------------------------- */

/* The length of `label` without a trailing "-<digits>" (all of it when
 * it has none, or nothing before it). */
static size_t label_base(const char *label) {
  size_t len = strlen(label), k = len;

  while (k > 0 && label[k - 1] >= '0' && label[k - 1] <= '9')
    k--;
  return k < len && k > 1 && label[k - 1] == '-' ? k - 1 : len;
}

/* Whether `label` is the user name of one of the run's accounts (which
 * may end in "-<digits>" itself). */
static bool is_user(const pc_ctx *t, const char *label) {
  size_t i;

  for (i = 0; i < t->r->account_count; i++)
    if (strcmp(t->r->accounts[i].user, label) == 0)
      return true;
  return false;
}

/* The label of a new connection the case opens: the word of `label` (a
 * number it ends in dropped, unless it is a user name), '-', and one
 * more than the case's connections of that word so far, leaving out
 * those a sign-in retry gave up ("alice" -> "alice-2", "neg-0" ->
 * "neg-1"). */
static const char *conn_label(pc_ctx *t, const char *label) {
  size_t base = is_user(t, label) ? strlen(label) : label_base(label);
  size_t n = 1;
  const pc_conn *x;

  if (base == 0) {
    label = "conn";
    base = 4;
  }
  for (x = t->conns; x; x = x->next)
    if (!x->retired && label_base(x->label) == base &&
        strncmp(x->label, label, base) == 0 && x->label[base] == '-')
      n++;
  return pc_printf(t, "%.*s-%zu", (int)base, label, n);
}

static pc_conn *conn_new(pc_ctx *t, const char *label, pw_conn *w) {
  pc_conn *c = pc_alloc(t, sizeof *c);

  c->t = t;
  c->label = pc_strdup(t, label ? label : "conn");
  c->w = w;
  c->next = t->conns;
  t->conns = c;
  return c;
}

/* "the server" for a connection the runner opened, "the client" for one
 * it accepted. */
static const char *peer(const pc_conn *c) {
  return c->w && pw_ws_role(c->w) == PW_ROLE_SERVER ? "the client"
                                                    : "the server";
}

pc_conn *pc_conn_adopt(pc_ctx *t, const char *label, struct pw_conn *w) {
  pc_conn *c = conn_new(t, label, w);

  pc_log(t, PC_EVENT, c->label, "connect", "accepted", 8);
  return c;
}

/* Logs the handshake and decides what its outcome means for the case.
 * `limited` non-NULL: an upgrade refused with 429 (the target's limit on
 * sessions, spec 17.2) sets it and returns NULL instead of failing. */
static pc_conn *open_outcome(pc_conn *c, pw_status st, pw_ws_handshake *h,
                             pc_ws_opts *opts, const char *path,
                             const char *err, bool *limited) {
  pc_ctx *t = c->t;
  bool refusal = opts && opts->expect_refusal;

  if (h->request)
    pc_log(t, PC_SENT, c->label, "http", h->request, h->request_len);
  if (h->answer.head)
    pc_log_answer(t, c->label, &h->answer);
  if (st == PW_OK && !refusal)
    return c;
  if (st == PW_OK)
    pc_fail(t, "%s accepted the WebSocket upgrade to %s; it should have "
            "refused it", peer(c), path);
  if (st == PW_REFUSED && (refusal || (limited &&
                                       h->answer.status == 429))) {
    if (refusal)
      opts->refusal_status = h->answer.status;
    else
      *limited = true;
    pw_drop(c->w);
    c->closed = true;
    c->close_code = -1;
    return NULL;
  }
  if (st == PW_REFUSED)
    pc_fail(t, "the WebSocket upgrade to %s was refused with HTTP %d: "
            "%.300s", path, h->answer.status, h->answer.body);
  pc_fail(t, "the WebSocket upgrade to %s failed: %s", path, err);
}

static void handshake_free(void *h) { pw_ws_handshake_free(h); }

/* pc_ws_open; `limited`: see open_outcome. */
static pc_conn *ws_open(pc_ctx *t, const char *label, pc_ws_opts *opts,
                        bool *limited) {
  const pc_run *r = t->r;
  pw_ws_client_opts o = {0};
  pw_ws_handshake *h;
  char err[512], *what;
  unsigned wait = pc_budget(t, PC_WAIT);
  uint64_t opened = pw_mono_ms();
  pw_status st;
  pc_conn *c;
  pw_conn *w;

  if (!r->host)
    pc_fail(t, "no target to connect to (client mode)");
  label = conn_label(t, label);
  o.host = r->host;
  o.port = r->port;
  o.path = opts && opts->path ? opts->path : r->config.ws_path;
  o.subprotocol = opts && opts->subprotocol ? opts->subprotocol
                                            : r->config.subprotocol;
  what = pc_printf(t, "connect to %s:%u%s, upgrade %s", r->host,
                   (unsigned)r->port, r->tls ? " (TLS)" : "", o.path);
  pc_log(t, PC_EVENT, label, "connect", what, strlen(what));
  w = pw_connect(r->host, r->port, r->tls, r->tls_insecure, wait, err,
                 sizeof err);
  if (!w)
    pc_fail(t, "cannot connect to %s: %s", r->url ? r->url : r->host, err);
  c = conn_new(t, label, w);
  c->opened_ms = opened;
  h = pc_alloc(t, sizeof *h);
  pc_defer(t, handshake_free, h);
  st = pw_ws_client_handshake(w, &o, wait, h, err, sizeof err);
  return open_outcome(c, st, h, opts, o.path, err, limited);
}

pc_conn *pc_ws_open(pc_ctx *t, const char *label, pc_ws_opts *opts) {
  return ws_open(t, label, opts, NULL);
}

bool pc_closed(const pc_conn *c) { return c->closed; }
const char *pc_conn_label(const pc_conn *c) { return c->label; }
const pc_frame *pc_welcome(const pc_conn *c) { return c->welcome; }
const pc_frame *pc_ready(const pc_conn *c) { return c->ready; }
const char *pc_device(const pc_conn *c) { return c->device; }
const char *pc_pos(const pc_conn *c) { return c->pos; }

void pc_conns_close_all(pc_ctx *t) {
  static const char code[] = "1000";
  pc_conn *c;

  for (c = t->conns; c; c = c->next) {
    if (!c->w)
      continue;
    if (!c->closed && !c->sent_close && pw_ws_role(c->w) != PW_ROLE_NONE &&
        pw_fd(c->w) >= 0) {
      pc_log(t, PC_SENT, c->label, "close", code, sizeof code - 1);
      pw_ws_write_close(c->w, 1000, NULL, 200);
    }
    pw_free(c->w);
    c->w = NULL;
  }
}

/* ---- frames -------------------------------------------------------- */

const char *pc_hdr(const pc_frame *f, const char *name) {
  size_t i;

  for (i = 0; i < f->header_count; i++)
    if (strcmp(f->names[i], name) == 0)
      return f->values[i];
  return NULL;
}

uint64_t pc_hdr_u64(pc_ctx *t, const pc_frame *f, const char *name) {
  const char *v = pc_hdr(f, name);
  uint64_t n;

  if (!v)
    pc_fail(t, "%s without the header \"%s\"", f->verb, name);
  if (!parley_parse_u64(v, strlen(v), &n))
    pc_fail(t, "%s with \"%s: %s\", which is not a number (spec 2.9)",
            f->verb, name, v);
  return n;
}

/* An arena copy of a parsed frame. */
static pc_frame *frame_copy(pc_ctx *t, const parley_frame *pf) {
  pc_frame *f = pc_alloc(t, sizeof *f);
  size_t i;

  f->verb = pc_memdup(t, pf->verb.ptr, pf->verb.len);
  f->header_count = pf->header_count;
  for (i = 0; i < pf->header_count && i < PC_COUNT(f->names); i++) {
    f->names[i] = pc_memdup(t, pf->headers[i].name.ptr,
                            pf->headers[i].name.len);
    f->values[i] = pc_memdup(t, pf->headers[i].value.ptr,
                             pf->headers[i].value.len);
  }
  f->has_length = pf->has_length;
  f->body = pc_memdup(t, pf->body.ptr, pf->body.len);
  f->body_len = pf->body.len;
  return f;
}

/* "ERROR (code: 421, reason: bad-state, fatal: yes)": a frame in a line,
 * for failure messages. */
static const char *frame_brief(pc_ctx *t, const pc_frame *f) {
  char buf[400];
  size_t i, n;

  n = (size_t)snprintf(buf, sizeof buf, "%s", f->verb);
  for (i = 0; i < f->header_count && i < 5 && n < sizeof buf; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s: %.60s",
                          i ? ", " : " (", f->names[i], f->values[i]);
  if (f->header_count > 5 && n < sizeof buf)
    n += (size_t)snprintf(buf + n, sizeof buf - n, ", ...");
  if (f->header_count && n < sizeof buf)
    snprintf(buf + n, sizeof buf - n, ")");
  return pc_strdup(t, buf);
}

/* ---- receiving ----------------------------------------------------- */

static void queue_push(pc_conn *c, pc_frame *f) {
  pc_frame **q;

  if (c->queue_len >= PC_QUEUE_MAX)
    pc_fail(c->t, "%s: more than %u frames came that the case did not "
            "wait for", c->label, PC_QUEUE_MAX);
  if (c->queue_head + c->queue_len == c->queue_cap) {
    if (c->queue_head > 0) {
      memmove(c->queue, c->queue + c->queue_head,
              c->queue_len * sizeof *q);
      c->queue_head = 0;
    } else {
      size_t cap = c->queue_cap ? c->queue_cap * 2 : 16;
      q = pc_alloc(c->t, cap * sizeof *q);
      if (c->queue_len)
        memcpy(q, c->queue, c->queue_len * sizeof *q);
      c->queue = q;
      c->queue_cap = cap;
    }
  }
  c->queue[c->queue_head + c->queue_len++] = f;
}

/* Removes and returns the i-th frame set aside. */
static pc_frame *queue_take(pc_conn *c, size_t i) {
  pc_frame *f = c->queue[c->queue_head + i];

  memmove(c->queue + c->queue_head + i, c->queue + c->queue_head + i + 1,
          (c->queue_len - i - 1) * sizeof *c->queue);
  c->queue_len--;
  return f;
}

/* A close frame came: log it, answer it with the same code, and mark the
 * connection closed. */
static void got_close(pc_conn *c, const pw_ws_msg *m) {
  char *text = pc_printf(c->t, "%d%s%.*s", m->close_code, m->len ? " " : "",
                         (int)m->len, (const char *)m->data);

  pc_log(c->t, PC_RECEIVED, c->label, "close", text, strlen(text));
  if (!c->sent_close && pw_fd(c->w) >= 0) {
    int code = m->close_code == 1005 ? 0 : m->close_code;
    text = code ? pc_printf(c->t, "%d", code) : "";
    pc_log(c->t, PC_SENT, c->label, "close", text, strlen(text));
    pw_ws_write_close(c->w, code, NULL, 200);
    c->sent_close = true;
  }
  c->closed = true;
  c->close_code = m->close_code;
}

/* The stream ended or failed: log why and mark the connection closed. */
static void got_end(pc_conn *c, pw_status st, const char *err) {
  pc_log(c->t, PC_EVENT, c->label, st == PW_CLOSED ? "closed" : "error",
         err, strlen(err));
  c->closed = true;
  c->close_code = -1;
}

/* A text message came: it must hold exactly one frame. */
static pc_frame *got_text(pc_conn *c, const pw_ws_msg *m) {
  pc_ctx *t = c->t;
  parley_parse_error perr = {0};
  parley_frame pf;
  parley_err e;
  pc_frame *f;
  const char *pos;

  pc_log(t, PC_RECEIVED, c->label, "text", m->data, m->len);
  e = parley_parse_message(&t->parser, (const char *)m->data, m->len, &pf,
                           &perr);
  if (e != PARLEY_OK)
    pc_fail(t, "%s: %s sent a text message that is not one well-formed "
            "frame: %s (%d) at offset %zu, rule %s (spec 2.5, 2.8)",
            c->label, peer(c), parley_err_reason(e) ? parley_err_reason(e)
            : "error", (int)e, perr.offset, perr.rule ? perr.rule : "-");
  f = frame_copy(t, &pf);
  pos = pc_hdr(f, "pos");
  if (strcmp(f->verb, "SYNCED") == 0 && pos)
    c->pos = pos;
  return f;
}

/* The most pings and pongs one wait for a frame takes. */
#define PC_CONTROLS_MAX 1000u

/* Reads until a frame comes, the deadline (monotonic ms) passes or the
 * connection ends. Returns the frame or NULL (c->closed tells which).
 * Control frames are logged and handled on the way. */
static pc_frame *read_frame(pc_conn *c, uint64_t deadline) {
  char err[512] = "";
  pw_ws_msg m;
  pw_status st;
  uint64_t now;
  unsigned controls = 0;

  while (!c->closed && !c->paused) {
    now = pw_mono_ms();
    /* pings and pongs may come without end: the deadline still holds */
    if (controls > 0 && now >= deadline)
      return NULL;
    if (controls > PC_CONTROLS_MAX)
      pc_fail(c->t, "%s: %s sent more than %u pings and pongs and no "
              "message in one wait", c->label, peer(c), PC_CONTROLS_MAX);
    st = pw_ws_read(c->w, now < deadline ? (unsigned)(deadline - now) : 0,
                    &m, err, sizeof err);
    if (st == PW_TIMEOUT)
      return NULL;
    if (st == PW_PROTOCOL || st == PW_TOO_BIG) {
      got_end(c, PW_ERROR, err);
      pc_fail(c->t, "%s: WebSocket protocol error from %s: %s", c->label,
              peer(c), err);
    }
    if (st != PW_OK) {
      got_end(c, st, err[0] ? err : "the connection ended");
      return NULL;
    }
    free(c->t->scratch); /* the previous message, now copied */
    c->t->scratch = m.data;
    switch (m.opcode) {
    case PW_OP_TEXT:
      return got_text(c, &m);
    case PW_OP_BINARY:
      pc_log(c->t, PC_RECEIVED, c->label, "binary", m.data, m.len);
      pc_fail(c->t, "%s: %s sent a binary WebSocket message (spec WS-6: "
              "frames go only in text messages)", c->label, peer(c));
    case PW_OP_CLOSE:
      got_close(c, &m);
      return NULL;
    case PW_OP_PING:
      controls++;
      pc_log(c->t, PC_RECEIVED, c->label, "ping", m.data, m.len);
      pc_log(c->t, PC_SENT, c->label, "pong", m.data, m.len);
      break;
    default:
      controls++;
      pc_log(c->t, PC_RECEIVED, c->label, "pong", m.data, m.len);
      break;
    }
  }
  return NULL;
}

pc_frame *pc_recv(pc_conn *c, unsigned timeout_ms) {
  uint64_t deadline = pw_mono_ms() + pc_budget(c->t, timeout_ms);

  if (c->queue_len)
    return queue_take(c, 0);
  return read_frame(c, deadline);
}

static bool matches(const pc_frame *f, const match *m) {
  const char *v;

  if (m->verb && strcmp(f->verb, m->verb) != 0)
    return false;
  if (!m->name)
    return true;
  v = pc_hdr(f, m->name);
  return v && strcmp(v, m->value) == 0;
}

static const char *match_text(pc_ctx *t, const match *m) {
  if (m->what)
    return m->what;
  return pc_printf(t, "%s%s%s%s%s%s", m->verb ? m->verb : "a frame",
                   m->name ? " with \"" : "", m->name ? m->name : "",
                   m->name ? ": " : "", m->name ? m->value : "",
                   m->name ? "\"" : "");
}

/* What came on c since the queue held `from` frames, for a failure
 * message. Frames of conversations the case did not create (other
 * cases' traffic on the same accounts) are only counted. */
static const char *came_text(pc_conn *c, size_t from) {
  pc_ctx *t = c->t;
  const char *s = "", *conv;
  const pc_frame *f;
  size_t i, shown = 0, more = 0, other = 0;

  for (i = from; i < c->queue_len; i++) {
    f = c->queue[c->queue_head + i];
    conv = pc_hdr(f, "conv");
    if (conv && !pc_conv_owned(t, conv))
      other++;
    else if (shown++ < 4)
      s = pc_printf(t, "%s%s%s", s, shown > 1 ? "; " : "",
                    frame_brief(t, f));
    else
      more++;
  }
  if (more)
    s = pc_printf(t, "%s; and %zu more", s, more);
  if (shown == 0)
    s = "nothing";
  if (other)
    s = pc_printf(t, "%s (and %zu frame%s of conversations this case did "
                  "not create: other cases' traffic)", s, other,
                  other == 1 ? "" : "s");
  if (c->closed)
    s = pc_printf(t, "%s, then the connection closed (%s%d)", s,
                  c->close_code < 0 ? "without a close frame, " : "code ",
                  c->close_code);
  return s;
}

/* Waits for the first frame matching m; see pc_expect. */
static pc_frame *wait_for(pc_conn *c, const match *m, unsigned timeout_ms) {
  unsigned wait = pc_budget(c->t, timeout_ms);
  uint64_t deadline = pw_mono_ms() + wait;
  size_t i, from = c->queue_len;
  pc_frame *f;

  for (i = 0; i < c->queue_len; i++)
    if (matches(c->queue[c->queue_head + i], m))
      return queue_take(c, i);
  if (c->paused)
    pc_fail(c->t, "%s: waiting for %s while reading is paused", c->label,
            match_text(c->t, m));
  while ((f = read_frame(c, deadline)) != NULL) {
    if (matches(f, m))
      return f;
    queue_push(c, f);
  }
  pc_fail(c->t, "%s: waited %s for %s; came: %s", c->label,
          c->closed ? "in vain" : pc_printf(c->t, "%u ms", wait),
          match_text(c->t, m), came_text(c, from));
}

pc_frame *pc_expect(pc_conn *c, const char *verb, const char *name,
                    const char *value, unsigned timeout_ms) {
  match m = {verb, name, value, NULL};

  if (name && !value)
    m.name = NULL;
  return wait_for(c, &m, timeout_ms);
}

pc_frame *pc_expect_req(pc_conn *c, const char *req, unsigned timeout_ms) {
  match m = {NULL, "req", req, NULL};

  m.what = pc_printf(c->t, "the answer to \"req: %s\"", req);

  return wait_for(c, &m, timeout_ms);
}

/* Checks an ERROR frame against ERR-2 and the registry entry for
 * `reason`. */
static void check_error(pc_conn *c, const pc_frame *f, const char *reason,
                        int fatal, const char *req) {
  pc_ctx *t = c->t;
  parley_err want = parley_err_from_reason(reason);
  const char *code = pc_hdr(f, "code"), *why = pc_hdr(f, "reason");
  const char *fat = pc_hdr(f, "fatal"), *r = pc_hdr(f, "req");
  char want_code[16];

  if (want == PARLEY_OK)
    pc_fail(t, "the case expects reason \"%s\", which is not in the "
            "registry (spec 13)", reason);
  snprintf(want_code, sizeof want_code, "%d", (int)want);
  if (strcmp(f->verb, "ERROR") != 0)
    pc_fail(t, "%s: expected ERROR %s %s, got %s", c->label, want_code,
            reason, frame_brief(t, f));
  if (!why || strcmp(why, reason) != 0 || !code ||
      strcmp(code, want_code) != 0)
    pc_fail(t, "%s: expected ERROR %s %s, got %s", c->label, want_code,
            reason, frame_brief(t, f));
  if (!fat || (strcmp(fat, "yes") != 0 && strcmp(fat, "no") != 0))
    pc_fail(t, "%s: ERROR %s without \"fatal: yes\" or \"fatal: no\" "
            "(spec ERR-2)", c->label, reason);
  if (fatal >= 0 && strcmp(fat, fatal ? "yes" : "no") != 0)
    pc_fail(t, "%s: ERROR %s with \"fatal: %s\", expected \"fatal: %s\" "
            "(spec 13)", c->label, reason, fat, fatal ? "yes" : "no");
  if (req && (!r || strcmp(r, req) != 0))
    pc_fail(t, "%s: ERROR %s %s \"req: %s\" (spec REQ-1)", c->label,
            reason, r ? pc_printf(t, "with \"req: %s\", expected", r)
                      : "without", req);
}

pc_frame *pc_expect_error(pc_conn *c, const char *reason, int fatal,
                          const char *req, unsigned timeout_ms) {
  match m = {"ERROR", NULL, NULL, NULL};
  pc_frame *f;

  m.what = pc_printf(c->t, "ERROR %d %s%s%s%s", (int)parley_err_from_reason(
                     reason), reason, fatal < 0 ? "" : fatal ? ", fatal"
                     : ", not fatal", req ? ", answering \"req: " : "",
                     req ? pc_printf(c->t, "%s\"", req) : "");
  if (req) {
    m.verb = NULL;
    m.name = "req";
    m.value = req;
  }
  f = wait_for(c, &m, timeout_ms);
  check_error(c, f, reason, fatal, req);
  return f;
}

int pc_expect_close(pc_conn *c, unsigned timeout_ms) {
  unsigned wait = pc_budget(c->t, timeout_ms);
  uint64_t deadline = pw_mono_ms() + wait;
  size_t from = c->queue_len;
  pc_frame *f;

  if (c->paused)
    pc_fail(c->t, "%s: waiting for the close while reading is paused",
            c->label);
  while (!c->closed) {
    f = read_frame(c, deadline);
    if (f)
      queue_push(c, f);
    else if (!c->closed)
      pc_fail(c->t, "%s: the connection did not close within %u ms; "
              "came: %s", c->label, wait, came_text(c, from));
  }
  return c->close_code;
}

void pc_expect_none(pc_conn *c, const char *verb, unsigned ms) {
  uint64_t deadline = pw_mono_ms() + pc_budget(c->t, ms);
  match m = {verb, NULL, NULL, NULL};
  pc_frame *f;
  size_t i;

  for (i = 0; i < c->queue_len; i++)
    if (matches(c->queue[c->queue_head + i], &m))
      pc_fail(c->t, "%s: %s came, and none should have",
              c->label, frame_brief(c->t, c->queue[c->queue_head + i]));
  if (c->paused)
    return;
  while ((f = read_frame(c, deadline)) != NULL) {
    if (matches(f, &m))
      pc_fail(c->t, "%s: %s came, and none should have", c->label,
              frame_brief(c->t, f));
    queue_push(c, f);
  }
}

/* ---- sending ------------------------------------------------------- */

/* False (and a note) when nothing may be sent on c any more. */
static bool may_send(pc_conn *c) {
  if (c->sent_close || !c->w || pw_fd(c->w) < 0) {
    static const char why[] = "not sent: the connection is closed on "
                              "this side";
    pc_log(c->t, PC_EVENT, c->label, "note", why, sizeof why - 1);
    return false;
  }
  return true;
}

/* Logs a failed write; the case goes on (a later wait will tell). */
static void wrote(pc_conn *c, pw_status st) {
  const char *why;

  if (st == PW_OK)
    return;
  why = st == PW_TIMEOUT ? "the write timed out (the peer does not read)"
                         : "the write failed: the connection ended";
  pc_log(c->t, PC_EVENT, c->label, "error", why, strlen(why));
}

void pc_send_text(pc_conn *c, const void *data, size_t len) {
  if (!may_send(c))
    return;
  pc_log(c->t, PC_SENT, c->label, "text", data, len);
  wrote(c, pw_ws_write_message(c->w, PW_OP_TEXT, data, len, 1,
                               pc_budget(c->t, PC_WAIT)));
}

void pc_send_binary(pc_conn *c, const void *data, size_t len) {
  if (!may_send(c))
    return;
  pc_log(c->t, PC_SENT, c->label, "binary", data, len);
  wrote(c, pw_ws_write_message(c->w, PW_OP_BINARY, data, len, 1,
                               pc_budget(c->t, PC_WAIT)));
}

void pc_send_fragmented(pc_conn *c, const void *data, size_t len,
                        size_t pieces) {
  char *note;

  if (!may_send(c))
    return;
  note = pc_printf(c->t, "the next text message goes in %zu fragments",
                   pieces > len ? (len ? len : 1) : pieces ? pieces : 1);
  pc_log(c->t, PC_EVENT, c->label, "note", note, strlen(note));
  pc_log(c->t, PC_SENT, c->label, "text", data, len);
  wrote(c, pw_ws_write_message(c->w, PW_OP_TEXT, data, len, pieces,
                               pc_budget(c->t, PC_WAIT)));
}

void pc_send_raw(pc_conn *c, const void *data, size_t len) {
  if (!may_send(c))
    return;
  pc_log(c->t, PC_SENT, c->label, "raw", data, len);
  wrote(c, pw_write(c->w, data, len, pc_budget(c->t, PC_WAIT)));
}

void pc_send_textf(pc_conn *c, const char *fmt, ...) {
  va_list ap;
  char *s;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    pc_fail(c->t, "pc_send_textf: bad format");
  s = pc_alloc(c->t, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  pc_send_text(c, s, (size_t)n);
}

/* Serializes a frame from name/value pairs into b. Returns PARLEY_OK or
 * the serializer's refusal, with *what naming the part refused. */
static parley_err build_frame(parley_buf *b, const char *verb,
                              const char *body, size_t body_len,
                              va_list ap, const char **what) {
  const char *name, *value;
  parley_err e;

  *what = verb;
  e = parley_frame_begin(b, verb);
  while (e == PARLEY_OK && (name = va_arg(ap, const char *)) != NULL) {
    value = va_arg(ap, const char *);
    *what = name;
    e = parley_frame_header_str(b, name, value ? value : "");
  }
  if (e == PARLEY_OK) {
    *what = "body";
    e = parley_frame_end(b, body ? body : "", body ? body_len : 0,
                         body != NULL);
  }
  return e;
}

/* Sends the frame built from the pairs in ap; see pc_send. */
static void send_pairs(pc_conn *c, const char *verb, const char *body,
                       size_t body_len, va_list ap) {
  parley_buf b = {0};
  const char *what;
  parley_err e = build_frame(&b, verb, body, body_len, ap, &what);
  size_t len = b.len;
  char *text;

  if (e != PARLEY_OK) {
    parley_buf_free(&b);
    pc_fail(c->t, "case error: the serializer refused %s of %s (%s); "
            "send malformed frames with pc_send_text", what, verb,
            parley_err_reason(e) ? parley_err_reason(e) : "error");
  }
  text = pc_memdup(c->t, b.data, b.len);
  parley_buf_free(&b);
  pc_send_text(c, text, len);
}

void pc_send(pc_conn *c, const char *verb, const char *body, ...) {
  va_list ap;

  va_start(ap, body);
  send_pairs(c, verb, body, body ? strlen(body) : 0, ap);
  va_end(ap);
}

void pc_send_n(pc_conn *c, const char *verb, const char *body,
               size_t body_len, ...) {
  va_list ap;

  va_start(ap, body_len);
  send_pairs(c, verb, body, body_len, ap);
  va_end(ap);
}

void pc_close(pc_conn *c, int code) {
  char *text;

  if (!may_send(c))
    return;
  text = code ? pc_printf(c->t, "%d", code) : "";
  pc_log(c->t, PC_SENT, c->label, "close", text, strlen(text));
  wrote(c, pw_ws_write_close(c->w, code, NULL, pc_budget(c->t, PC_WAIT)));
  c->sent_close = true;
}

void pc_drop(pc_conn *c) {
  static const char what[] = "TCP connection dropped without a close";

  if (!c->w || pw_fd(c->w) < 0)
    return;
  pc_log(c->t, PC_EVENT, c->label, "drop", what, sizeof what - 1);
  pw_drop(c->w);
  if (!c->closed) {
    c->closed = true;
    c->close_code = -1;
  }
}

void pc_pause_reading(pc_conn *c, bool paused) {
  const char *what = paused ? "reading paused" : "reading resumed";

  pc_log(c->t, PC_EVENT, c->label, "note", what, strlen(what));
  c->paused = paused;
}

/* ---- sessions ------------------------------------------------------ */

/* A req for the session's own requests, unique on the connection. */
static const char *next_req(pc_conn *c) {
  return pc_printf(c->t, "pc-%u", ++c->req_n);
}

/* Fails unless f, the answer to `step`, has the verb `verb`. */
static pc_frame *answer_is(pc_conn *c, pc_frame *f, const char *verb,
                           const char *step) {
  if (strcmp(f->verb, verb) != 0)
    pc_fail(c->t, "%s: %s answered with %s%s%.200s, expected %s", c->label,
            step, frame_brief(c->t, f), f->body_len ? ": " : "", f->body,
            verb);
  return f;
}

/* Waits for the answer to `req` and fails unless its verb is `verb`. */
static pc_frame *answer(pc_conn *c, const char *req, const char *verb,
                        const char *step) {
  return answer_is(c, pc_expect_req(c, req, PC_WAIT), verb, step);
}

bool pc_auth_retry(pc_conn *c, const pc_frame *f) {
  const char *why = pc_hdr(f, "reason");
  char *what, *text;

  if (strcmp(f->verb, "ERROR") != 0 || !why ||
      strcmp(why, "rate-limited") != 0)
    return false;
  what = pc_printf(c->t, "%s: AUTH", c->label);
  text = pc_printf(c->t, "ERROR rate-limited%s%.*s", f->body_len ? ": " : "",
                   (int)(f->body_len < 120 ? f->body_len : 120), f->body);
  /* LIFE-3 leaves a connection 10 s to reach READY: the window counts
   * from its upgrade. */
  if (!pc_signin_pause(c->t->r, c->t, c->opened_ms, &c->signin_tries, 0,
                       what))
    pc_signin_limited(c->t, what, "sessions per user", text);
  return true;
}

/* True when the comma-separated `list` holds `cap`. */
static bool caps_has(const char *list, const char *cap) {
  size_t n = strlen(cap);
  const char *p = list;

  while (p && *p) {
    if (strncmp(p, cap, n) == 0 && (p[n] == ',' || p[n] == '\0'))
      return true;
    p = strchr(p, ',');
    if (p)
      p++;
  }
  return false;
}

/* HELLO and WELCOME; skips the case when it needs a capability that was
 * asked for and not granted. */
static void hello(pc_conn *c, const pc_session_opts *o) {
  const char *caps = o && o->caps ? o->caps : "receipts,typing,presence";
  uint64_t hb = o && o->heartbeat_ms ? o->heartbeat_ms : 60000;
  const char *req = next_req(c), *got, *need = c->t->c->cap;
  pc_frame *w;

  pc_send(c, "HELLO", NULL, "versions", "1", "caps", caps, "heartbeat",
          pc_printf(c->t, "%llu", (unsigned long long)hb), "req", req,
          NULL);
  w = answer(c, req, "WELCOME", "HELLO");
  got = pc_hdr(w, "version");
  if (!got || strcmp(got, "1") != 0)
    pc_fail(c->t, "%s: WELCOME with version %s, expected 1", c->label,
            got ? got : "missing");
  c->welcome = w;
  got = pc_hdr(w, "caps");
  if (need && caps_has(caps, need) && !caps_has(got ? got : "", need))
    pc_skip(c->t, need);
}

/* AUTH and READY; an AUTH refused for rate is sent again
 * (pc_auth_retry). */
static void auth(pc_conn *c, int user, const pc_session_opts *o) {
  const char *req, *name = pc_user(c->t, user), *v;
  pc_frame *r;

  c->device = o && o->device ? pc_strdup(c->t, o->device)
                             : pc_uniq(c->t, "dev");
  do {
    req = next_req(c);
    pc_send(c, "AUTH", NULL, "token", pc_token(c->t, user), "device",
            c->device, "req", req, NULL);
    r = pc_expect_req(c, req, PC_WAIT);
  } while (pc_auth_retry(c, r));
  answer_is(c, r, "READY", "AUTH");
  v = pc_hdr(r, "user");
  if (!v || strcmp(v, name) != 0)
    pc_fail(c->t, "%s: READY with user %s, expected %s (spec AUTH-1)",
            c->label, v ? v : "missing", name);
  v = pc_hdr(r, "device");
  if (!v || strcmp(v, c->device) != 0)
    pc_fail(c->t, "%s: READY with device %s, expected %s (spec AUTH-1)",
            c->label, v ? v : "missing", c->device);
  c->ready = r;
}

/* Opens the connection of a session of account `name`; an upgrade
 * refused with 429 (the target's limit on sessions per address) is tried
 * again under the same label. */
static pc_conn *session_open(pc_ctx *t, const char *name) {
  uint64_t since = pw_mono_ms();
  unsigned tries = 0;
  bool limited = false;
  pc_conn *c;
  char *what;

  while (!(c = ws_open(t, name, NULL, &limited))) {
    t->conns->retired = true; /* the refused one, made last */
    what = pc_printf(t, "%s: the WebSocket upgrade", t->conns->label);
    if (!pc_signin_pause(t->r, t, since, &tries, 0, what))
      pc_signin_limited(t, what, "sessions per client address",
                        "HTTP 429");
  }
  return c;
}

pc_conn *pc_session(pc_ctx *t, int user, const pc_session_opts *opts) {
  const char *req;
  pc_conn *c;

  c = session_open(t, pc_user(t, user));
  hello(c, opts);
  auth(c, user, opts);
  if (opts && opts->sync) {
    req = next_req(c);
    pc_send(c, "SYNC", NULL, "req", req, NULL);
    answer(c, req, "SYNCED", "SYNC");
    if (!c->pos)
      pc_fail(t, "%s: SYNCED without pos", c->label);
  }
  return c;
}
