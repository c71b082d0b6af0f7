/* Helpers for the messaging cases; see msg_util.h.
 *
 * Pacing: each session keeps a model of the server's rate bucket (spec
 * 17.2) that holds half the stated `rate-burst` and fills at 90 % of the
 * stated `rate`, so that the frames a case pipelines never find the
 * server's bucket empty (RATE-4 asks the same margin of clients). The
 * model starts with the handshake's frames already taken.
 *
 * Waiting: answers are found by their `req` (pc_expect_req, which sets
 * other frames aside); events are found by their `conv`, since the run's
 * accounts are shared with other cases and their conversations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <parley/error.h>

#include "msg_util.h"

#define MU_HANDSHAKE_FRAMES 3.0
#define MU_DAY_MS 86400000ull

/* ---- sessions ---- */

/* The number in header `name` of the WELCOME, or `fallback` when the
 * header is absent. */
static uint64_t welcome_u64(mu_sess *s, const char *name, uint64_t fallback)
{
  const pc_frame *w = pc_welcome(s->c);
  if (w == NULL || pc_hdr(w, name) == NULL)
    return fallback;
  return pc_hdr_u64(s->t, w, name);
}

mu_sess *mu_open_caps(pc_ctx *t, int user, const char *device,
                      const char *caps, bool sync)
{
  pc_session_opts o = {device, caps, 0, sync};
  mu_sess *s = pc_alloc(t, sizeof *s);
  const pc_config *cfg = pc_config_of(t);

  s->t = t;
  s->user = user;
  s->c = pc_session(t, user, &o);
  uint64_t rate = welcome_u64(s, "rate", cfg->rate_per_s);
  uint64_t burst = welcome_u64(s, "rate-burst", cfg->rate_burst);
  s->cap = burst / 2 >= 1 ? (double)(burst / 2) : 1.0;
  s->per_ms = rate > 0 ? (double)rate * 0.9 / 1000.0 : 0.001;
  s->tokens = s->cap - MU_HANDSHAKE_FRAMES;
  if (s->tokens < 0)
    s->tokens = 0;
  s->last_ms = pc_now_ms();
  return s;
}

mu_sess *mu_open(pc_ctx *t, int user, const char *device, bool sync)
{
  return mu_open_caps(t, user, device, "receipts", sync);
}

void mu_pace(mu_sess *s)
{
  uint64_t now = pc_now_ms();
  s->tokens += (double)(now - s->last_ms) * s->per_ms;
  if (s->tokens > s->cap)
    s->tokens = s->cap;
  s->last_ms = now;
  if (s->tokens < 1.0) {
    unsigned wait = (unsigned)((1.0 - s->tokens) / s->per_ms) + 1;
    pc_sleep_ms(wait);
    s->last_ms = pc_now_ms();
    s->tokens = 1.0;
  }
  s->tokens -= 1.0;
}

const char *mu_req(mu_sess *s)
{
  return pc_uniq(s->t, "r");
}

void mu_text(mu_sess *s, const char *text)
{
  mu_pace(s);
  pc_send_text(s->c, text, strlen(text));
}

/* Whether the comma-separated list `list` holds `name`. */
static bool list_has(const char *list, const char *name)
{
  size_t n = strlen(name);
  for (const char *p = list; p != NULL && *p != '\0';) {
    const char *end = strchr(p, ',');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    if (len == n && memcmp(p, name, n) == 0)
      return true;
    p = end != NULL ? end + 1 : NULL;
  }
  return false;
}

void mu_need_cap(mu_sess *s, const char *cap)
{
  const pc_frame *w = pc_welcome(s->c);
  if (w == NULL || !list_has(pc_hdr(w, "caps"), cap))
    pc_skip(s->t, cap);
}

const char *mu_user(mu_sess *s)
{
  return pc_user(s->t, s->user);
}

const char *mu_group(pc_ctx *t, int owner, const int *members, size_t n)
{
  return pc_conv_group(t, owner, members, n);
}

/* ---- values ---- */

bool mu_is_id(const char *s)
{
  size_t n = 0;
  if (s == NULL)
    return false;
  for (; s[n] != '\0'; n++) {
    char ch = s[n];
    bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    if (!ok)
      return false;
  }
  return n >= 1 && n <= 64;
}

const char *mu_hdr(pc_ctx *t, const pc_frame *f, const char *name)
{
  const char *v = pc_hdr(f, name);
  if (v == NULL)
    pc_fail(t, "%s without the header %s", f->verb, name);
  return v;
}

uint64_t mu_seq(pc_ctx *t, const pc_frame *f)
{
  return pc_hdr_u64(t, f, "seq");
}

char *mu_body(pc_ctx *t, size_t n, const char *seed)
{
  char *b = pc_alloc(t, n + 1);
  unsigned h = 0;
  for (const char *p = seed; *p != '\0'; p++)
    h = h * 31u + (unsigned char)*p;
  for (size_t i = 0; i < n; i++)
    b[i] = (char)('a' + (h + i) % 26);
  return b;
}

/* ---- SEND and ACK ---- */

const char *mu_send(mu_sess *s, const char *conv, const char *temp_id,
                    const char *ctype, const char *body, size_t len)
{
  const char *req = mu_req(s);
  const char *ct_name = ctype != NULL ? "content-type" : NULL;

  mu_pace(s);
  if (body == NULL)
    pc_send(s->c, "SEND", NULL, "conv", conv, "temp-id", temp_id, "req",
            req, ct_name, ctype, NULL);
  else
    pc_send_n(s->c, "SEND", body, len, "conv", conv, "temp-id", temp_id,
              "req", req, ct_name, ctype, NULL);
  return req;
}

/* Fails unless `ts` reads as milliseconds since the epoch: within a day
 * of the runner's clock, which tells milliseconds from seconds or
 * microseconds whatever the skew between two hosts. */
static void check_ts(pc_ctx *t, uint64_t ts, const char *what)
{
  uint64_t now = pc_now_ms();
  if (ts + MU_DAY_MS < now || ts > now + MU_DAY_MS)
    pc_fail(t, "%s: ts %llu is not milliseconds since the Unix epoch "
            "(the runner's clock reads %llu)", what,
            (unsigned long long)ts, (unsigned long long)now);
}

/* Fails with a description of an answer that is not the expected verb. */
static PC_NORETURN void wrong_answer(pc_ctx *t, const pc_frame *f,
                                     const char *want, const char *what)
{
  const char *reason = pc_hdr(f, "reason");
  pc_fail(t, "%s: expected %s, got %s%s%s%s%.*s", what, want, f->verb,
          reason != NULL ? " " : "", reason != NULL ? reason : "",
          f->body_len > 0 ? ": " : "", (int)(f->body_len > 200 ? 200 :
                                             f->body_len),
          f->body != NULL ? f->body : "");
}

void mu_ack_of(mu_sess *s, const char *req, mu_ack *out)
{
  pc_ctx *t = s->t;
  pc_frame *f = pc_expect_req(s->c, req, PC_WAIT);

  if (strcmp(f->verb, "ACK") != 0)
    wrong_answer(t, f, "ACK", pc_printf(t, "SEND req %s", req));
  out->f = f;
  out->conv = mu_hdr(t, f, "conv");
  out->temp_id = mu_hdr(t, f, "temp-id");
  out->msg_id = mu_hdr(t, f, "msg-id");
  if (!mu_is_id(out->msg_id))
    pc_fail(t, "ACK msg-id '%s' is not an id (spec 2.9)", out->msg_id);
  out->seq = pc_hdr_u64(t, f, "seq");
  if (out->seq == 0)
    pc_fail(t, "ACK seq 0: sequence numbers start at 1 (SEND-2)");
  out->ts = pc_hdr_u64(t, f, "ts");
  check_ts(t, out->ts, "ACK");
}

mu_ack mu_post(mu_sess *s, const char *conv, const char *body)
{
  mu_ack a;
  const char *temp_id = pc_uniq(s->t, "t");
  const char *req = mu_send(s, conv, temp_id, NULL, body, strlen(body));

  mu_ack_of(s, req, &a);
  if (strcmp(a.conv, conv) != 0 || strcmp(a.temp_id, temp_id) != 0)
    pc_fail(s->t, "ACK names conv %s temp-id %s, the SEND had %s and %s",
            a.conv, a.temp_id, conv, temp_id);
  return a;
}

mu_ack *mu_fill(mu_sess *s, const char *conv, size_t n, const char *prefix)
{
  pc_ctx *t = s->t;
  mu_ack *acks = pc_alloc(t, (n ? n : 1) * sizeof *acks);
  const char **reqs = pc_alloc(t, (n ? n : 1) * sizeof *reqs);
  const char **temps = pc_alloc(t, (n ? n : 1) * sizeof *temps);

  for (size_t i = 0; i < n; i++) {
    const char *body = pc_printf(t, "%s %zu", prefix, i + 1);
    temps[i] = pc_uniq(t, "t");
    reqs[i] = mu_send(s, conv, temps[i], NULL, body, strlen(body));
  }
  for (size_t i = 0; i < n; i++) {
    mu_ack_of(s, reqs[i], &acks[i]);
    if (strcmp(acks[i].temp_id, temps[i]) != 0 ||
        strcmp(acks[i].conv, conv) != 0)
      pc_fail(t, "ACK for req %s names temp-id %s, the SEND had %s",
              reqs[i], acks[i].temp_id, temps[i]);
  }
  return acks;
}

void mu_same_ack(pc_ctx *t, const mu_ack *a, const mu_ack *b,
                 const char *what)
{
  if (strcmp(a->conv, b->conv) != 0 || strcmp(a->temp_id, b->temp_id) != 0 ||
      strcmp(a->msg_id, b->msg_id) != 0 || a->seq != b->seq ||
      a->ts != b->ts)
    pc_fail(t, "%s: ACK (conv %s, temp-id %s, msg-id %s, seq %llu, ts %llu) "
            "differs from the first ACK (conv %s, temp-id %s, msg-id %s, "
            "seq %llu, ts %llu)", what, b->conv, b->temp_id, b->msg_id,
            (unsigned long long)b->seq, (unsigned long long)b->ts, a->conv,
            a->temp_id, a->msg_id, (unsigned long long)a->seq,
            (unsigned long long)a->ts);
}

/* ---- receiving ---- */

void mu_push(pc_ctx *t, mu_list *l, pc_frame *f)
{
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    pc_frame **v = pc_alloc(t, cap * sizeof *v);
    if (l->n > 0)
      memcpy(v, l->v, l->n * sizeof *v);
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = f;
}

/* Fails unless header `name` of m has the value `want`. */
static void want_hdr(pc_ctx *t, const pc_frame *m, const char *name,
                     const char *want, const char *what)
{
  const char *v = mu_hdr(t, m, name);
  if (strcmp(v, want) != 0)
    pc_fail(t, "%s: MSG %s is '%s', expected '%s'", what, name, v, want);
}

void mu_msg_is(pc_ctx *t, const pc_frame *m, const mu_ack *a,
               const char *from, const char *device, const char *ctype,
               const char *body, size_t len, const char *what)
{
  want_hdr(t, m, "conv", a->conv, what);
  want_hdr(t, m, "msg-id", a->msg_id, what);
  want_hdr(t, m, "temp-id", a->temp_id, what);
  want_hdr(t, m, "from", from, what);
  want_hdr(t, m, "device", device, what);
  want_hdr(t, m, "content-type", ctype, what);
  if (mu_seq(t, m) != a->seq || pc_hdr_u64(t, m, "ts") != a->ts)
    pc_fail(t, "%s: MSG seq %s ts %s, the ACK had seq %llu ts %llu", what,
            pc_hdr_show(m, "seq"), pc_hdr_show(m, "ts"),
            (unsigned long long)a->seq, (unsigned long long)a->ts);
  if (m->body_len != len || (len > 0 && memcmp(m->body, body, len) != 0))
    pc_fail(t, "%s: MSG body of %zu octets differs from the %zu octets "
            "sent", what, m->body_len, len);
}

pc_frame *mu_msg(mu_sess *s, const char *conv)
{
  return pc_expect(s->c, "MSG", "conv", conv, PC_WAIT);
}

/* Whether f is in conv or conv2 (conv2 may be NULL). */
static bool in_conv(const pc_frame *f, const char *conv, const char *conv2)
{
  const char *c = pc_hdr(f, "conv");
  return c != NULL && (strcmp(c, conv) == 0 ||
                       (conv2 != NULL && strcmp(c, conv2) == 0));
}

/* Whether f is the frame a wait stops at: its verb, its header `name`
 * equal to `value`, and, when it names a conversation, one of the two. */
static bool is_stop(const pc_frame *f, const char *verb, const char *name,
                    const char *value, const char *conv, const char *conv2)
{
  if (strcmp(f->verb, verb) != 0)
    return false;
  if (pc_hdr(f, "conv") != NULL && !in_conv(f, conv, conv2))
    return false;
  if (name == NULL)
    return true;
  const char *v = pc_hdr(f, name);
  return v != NULL && strcmp(v, value) == 0;
}

void mu_until(mu_sess *s, const char *conv, const char *conv2,
              const char *verb, const char *name, const char *value,
              mu_list *out, const char *what)
{
  pc_ctx *t = s->t;
  uint64_t deadline = pc_now_ms() + pc_wait_ms(t);

  for (;;) {
    uint64_t now = pc_now_ms();
    if (now >= deadline)
      pc_fail(t, "no %s within %u ms", what, pc_wait_ms(t));
    pc_frame *f = pc_recv(s->c, (unsigned)(deadline - now));
    if (f == NULL)
      pc_fail(t, "%s while waiting for %s",
              pc_closed(s->c) ? "the connection closed" : "nothing came",
              what);
    if (is_stop(f, verb, name, value, conv, conv2)) {
      mu_push(t, out, f);
      return;
    }
    if (strcmp(f->verb, "ERROR") == 0)
      wrong_answer(t, f, what, "while waiting");
    if (in_conv(f, conv, conv2))
      mu_push(t, out, f);
  }
}

const pc_frame *mu_sync(mu_sess *s, const char *since, const char *conv,
                        const char *conv2, mu_list *events)
{
  pc_ctx *t = s->t;
  const char *req = mu_req(s);
  mu_list all = {0};

  mu_pace(s);
  if (since != NULL)
    pc_send(s->c, "SYNC", NULL, "since", since, "req", req, NULL);
  else
    pc_send(s->c, "SYNC", NULL, "req", req, NULL);
  mu_until(s, conv, conv2, "SYNCED", "req", req, &all,
           pc_printf(t, "SYNCED req %s", req));
  for (size_t i = 0; i + 1 < all.n; i++) {
    pc_frame *f = all.v[i];
    bool ev = strcmp(f->verb, "MSG") == 0 || strcmp(f->verb, "RECEIPT") == 0;
    if (!ev)
      pc_fail(t, "a %s of conversation %s in the answer to SYNC", f->verb,
              pc_hdr_show(f, "conv"));
    if (!mu_is_id(pc_hdr(f, "pos")))
      pc_fail(t, "%s (seq %s) in a SYNC answer without a pos that is an "
              "id (SYNC-1)", f->verb, pc_hdr_show(f, "seq"));
    if (pc_hdr(f, "req") != NULL)
      pc_fail(t, "%s (seq %s) in a SYNC answer carries req %s; events "
              "carry none (spec 8.1)", f->verb, pc_hdr_show(f, "seq"),
              pc_hdr_show(f, "req"));
    mu_push(t, events, f);
  }
  const pc_frame *synced = all.v[all.n - 1];
  if (!mu_is_id(pc_hdr(synced, "pos")))
    pc_fail(t, "SYNCED without a pos that is an id (SYNC-1)");
  return synced;
}

/* The seqs of the MSG frames of l, for a failure message. */
static const char *seq_list(pc_ctx *t, const mu_list *l)
{
  char *out = pc_strdup(t, "");
  size_t shown = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (strcmp(l->v[i]->verb, "MSG") != 0)
      continue;
    if (shown++ == 40)
      return pc_printf(t, "%s ...", out);
    const char *seq = pc_hdr(l->v[i], "seq");
    out = pc_printf(t, "%s%s%s", out, shown > 1 ? " " : "",
                    seq != NULL ? seq : "?");
  }
  return out;
}

void mu_check_seqs(pc_ctx *t, const mu_list *l, uint64_t first,
                   uint64_t count, const char *what)
{
  uint64_t want = first;
  for (size_t i = 0; i < l->n; i++) {
    if (strcmp(l->v[i]->verb, "MSG") != 0)
      continue;
    if (want == first + count || mu_seq(t, l->v[i]) != want)
      pc_fail(t, "%s: MSG seqs [%s], expected %llu to %llu once each in "
              "order", what, seq_list(t, l), (unsigned long long)first,
              (unsigned long long)(first + count - 1));
    want++;
  }
  if (want != first + count)
    pc_fail(t, "%s: MSG seqs [%s], expected %llu to %llu once each in "
            "order", what, seq_list(t, l), (unsigned long long)first,
            (unsigned long long)(first + count - 1));
}

size_t mu_count_seq(pc_ctx *t, const mu_list *l, uint64_t seq)
{
  size_t n = 0;
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i]->verb, "MSG") == 0 && mu_seq(t, l->v[i]) == seq)
      n++;
  return n;
}

/* ---- HISTORY ---- */

const char *mu_history_send(mu_sess *s, const char *conv, const char *limit,
                            const char *cursor, const char *after)
{
  const char *names[4] = {NULL};
  const char *values[4] = {NULL};
  const char *opt_n[3] = {"limit", "cursor", "after"};
  const char *opt_v[3] = {limit, cursor, after};
  const char *req = mu_req(s);
  size_t k = 0;

  for (size_t i = 0; i < 3; i++)
    if (opt_v[i] != NULL) {
      names[k] = opt_n[i];
      values[k++] = opt_v[i];
    }
  mu_pace(s);
  pc_send(s->c, "HISTORY", NULL, "conv", conv, "req", req, names[0],
          values[0], names[1], values[1], names[2], values[2], NULL);
  return req;
}

/* Fails unless the PAGE `f` closes a page of `n` MSG frames of `conv` as
 * HIST-1 says; fills the page's more and cursor. */
static void check_page(pc_ctx *t, const pc_frame *f, const char *conv,
                       size_t n, mu_page *p)
{
  const char *more = mu_hdr(t, f, "more");
  if (strcmp(mu_hdr(t, f, "conv"), conv) != 0)
    pc_fail(t, "PAGE names conv %s, the HISTORY asked for %s",
            pc_hdr_show(f, "conv"), conv);
  if (pc_hdr_u64(t, f, "count") != n)
    pc_fail(t, "PAGE count %s, but %zu MSG frames came (HIST-1)",
            pc_hdr_show(f, "count"), n);
  if (strcmp(more, "yes") != 0 && strcmp(more, "no") != 0)
    pc_fail(t, "PAGE more '%s' is neither yes nor no", more);
  p->page = f;
  p->more = strcmp(more, "yes") == 0;
  p->cursor = pc_hdr(f, "cursor");
  if (p->more && p->cursor == NULL)
    pc_fail(t, "PAGE more: yes without a cursor (HIST-1)");
  if (!p->more && p->cursor != NULL)
    pc_fail(t, "PAGE more: no with cursor %s; a cursor comes only with "
            "more: yes (spec 8.2)", p->cursor);
}

mu_page *mu_history(mu_sess *s, const char *conv, const char *limit,
                    const char *cursor, const char *after)
{
  pc_ctx *t = s->t;
  mu_page *p = pc_alloc(t, sizeof *p);
  const char *req = mu_history_send(s, conv, limit, cursor, after);

  for (;;) {
    pc_frame *f = pc_expect_req(s->c, req, PC_WAIT);
    if (strcmp(f->verb, "PAGE") == 0) {
      check_page(t, f, conv, p->msgs.n, p);
      return p;
    }
    if (strcmp(f->verb, "MSG") != 0)
      wrong_answer(t, f, "MSG or PAGE", pc_printf(t, "HISTORY req %s", req));
    if (strcmp(mu_hdr(t, f, "conv"), conv) != 0)
      pc_fail(t, "HISTORY of %s answered with a MSG of %s", conv,
              pc_hdr_show(f, "conv"));
    if (pc_hdr(f, "pos") != NULL)
      pc_fail(t, "MSG seq %s of a HISTORY answer carries pos %s "
              "(HIST-1: no pos)", pc_hdr_show(f, "seq"), pc_hdr_show(f, "pos"));
    mu_push(t, &p->msgs, f);
  }
}

/* ---- errors ---- */

void mu_expect_err(mu_sess *s, const char *reason, const char *req,
                   const char *header)
{
  pc_ctx *t = s->t;
  pc_frame *f = pc_expect_req(s->c, req, PC_WAIT);
  const char *what = pc_printf(t, "the request with req %s", req);

  if (strcmp(f->verb, "ERROR") != 0 ||
      strcmp(mu_hdr(t, f, "reason"), reason) != 0)
    wrong_answer(t, f, pc_printf(t, "ERROR %s", reason), what);
  parley_err e = parley_err_from_reason(reason);
  if (pc_hdr_u64(t, f, "code") != (uint64_t)e)
    pc_fail(t, "ERROR %s with code %s; the registry says %d (ERR-1)",
            reason, pc_hdr_show(f, "code"), (int)e);
  const char *fatal = mu_hdr(t, f, "fatal");
  if (strcmp(fatal, parley_err_fatal(e) ? "yes" : "no") != 0)
    pc_fail(t, "ERROR %s with fatal: %s; the registry says %s", reason,
            fatal, parley_err_fatal(e) ? "yes" : "no");
  if (header != NULL &&
      (f->body == NULL || strstr(f->body, header) == NULL))
    pc_fail(t, "ERROR %s body '%.*s' does not name the header %s "
            "(FRAME-11)", reason, (int)f->body_len,
            f->body != NULL ? f->body : "", header);
}
