/* parley-conform case context: what a case runs in.
 *
 * Design: pc_run_case makes a pc_ctx, calls the case under setjmp and
 * lands back there when the case passes (it returns), fails (pc_fail
 * longjmps) or skips (pc_skip longjmps). Then the deferred cleanups run
 * (last first, each under its own setjmp so a failing one does not stop
 * the others), every connection is closed and the arena is freed; the
 * wire log and the verdict move into the result.
 *
 * Invariants: a context belongs to the thread that runs its case (only
 * the log and the deferred list take a lock, for helper threads that log);
 * every pointer a case gets from this interface lives in the arena until
 * the case ends; nothing a peer sends can make memory grow without bound
 * (arena, log and set-aside queues are capped, see ctx.h).
 *
 * The run: pc_run_setup reads GET /v1/config (spec section 12.2) and
 * fetches one token per account; tokens are cached in the run under
 * r->lock and fetched again near their expiry. Verdicts follow the
 * case's level: a failed MUST case fails, a failed SHOULD case is
 * non-strict, a failed MAY case informational; only the optional
 * capabilities of spec section 4.3 may be skipped. */
#include "ctx.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <sodium.h>

struct pc_block {
  pc_block *next;
  max_align_t data[];
};

/* The spec's optional capabilities (section 4.3). */
static const char *const optional_caps[] = {"receipts", "typing",
                                            "presence", "calls"};

static atomic_uint_fast64_t g_uniq_counter;
static pthread_once_t g_tag_once = PTHREAD_ONCE_INIT;
static char g_tag[16];

/* ---- time ---------------------------------------------------------- */

uint64_t pc_mono_us(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t pc_now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void pc_sleep_ms(unsigned ms) {
  uint64_t end = pw_mono_ms() + ms, now;
  unsigned slice;
  struct timespec ts;

  /* in slices, so that an interrupted run ends the sleep promptly (a
   * few ms still pass, so that loops around it do not spin) */
  while ((now = pw_mono_ms()) < end) {
    slice = end - now > 100 ? 100 : (unsigned)(end - now);
    if (pw_cancelled() && slice > 5)
      slice = 5;
    end = pw_cancelled() ? now + slice : end;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)slice * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
  }
}

unsigned pc_wait_ms(const pc_ctx *t) {
  return t->r && t->r->timeout_ms ? t->r->timeout_ms : 5000u;
}

unsigned pc_budget(pc_ctx *t, unsigned timeout_ms) {
  uint64_t now = pw_mono_ms();

  if (timeout_ms == PC_WAIT)
    timeout_ms = pc_wait_ms(t);
  if (pw_cancelled() && !t->ending)
    pc_fail(t, "interrupted: the run was stopped (SIGINT or SIGTERM)");
  if (now >= t->hard_deadline_ms)
    pc_fail(t, "the case ran past its hard limit of %u s",
            PC_CASE_MAX_MS / 1000);
  if (timeout_ms > t->hard_deadline_ms - now)
    timeout_ms = (unsigned)(t->hard_deadline_ms - now);
  return timeout_ms;
}

/* ---- the wire log -------------------------------------------------- */

/* Fills *e with one entry stamped now; data, conn and kind share one
 * allocation (e->data, owned by the entry). Returns false when memory
 * runs out. */
static bool log_entry_make(pc_ctx *t, pc_log_entry *e, pc_dir dir,
                           const char *conn, const char *kind,
                           const void *data, size_t len) {
  size_t cl = strlen(conn), kl = strlen(kind);
  char *blk = malloc(len + cl + kl + 3);

  if (!blk)
    return false;
  if (len)
    memcpy(blk, data, len);
  blk[len] = '\0';
  memcpy(blk + len + 1, conn, cl + 1);
  memcpy(blk + len + cl + 2, kind, kl + 1);
  e->t_us = pc_mono_us() - t->start_mono_us;
  e->wall_ms = pc_now_ms();
  e->dir = dir;
  e->data = blk;
  e->len = len;
  e->conn = blk + len + 1;
  e->kind = blk + len + cl + 2;
  return true;
}

/* Appends e to the first part of the log (which takes it over). */
static bool log_push_head(pc_ctx *t, const pc_log_entry *e) {
  pc_log_entry *grown;
  size_t cap;

  if (t->log_count == t->log_cap) {
    cap = t->log_cap ? t->log_cap * 2 : 64;
    grown = realloc(t->log, cap * sizeof *grown);
    if (!grown)
      return false;
    t->log = grown;
    t->log_cap = cap;
  }
  t->log[t->log_count++] = *e;
  t->log_bytes += e->len;
  return true;
}

/* Appends e to the ring of the last part, dropping its oldest entries
 * (counted in left_out) to stay within half the caps. */
static bool log_push_tail(pc_ctx *t, const pc_log_entry *e) {
  const size_t cap = PC_LOG_ENTRIES_MAX / 2;
  pc_log_entry *old;

  if (!t->tail && !(t->tail = malloc(cap * sizeof *t->tail)))
    return false;
  while (t->tail_count > 0 &&
         (t->tail_count == cap ||
          t->tail_bytes + e->len > PC_LOG_BYTES_MAX / 2)) {
    old = &t->tail[t->tail_start];
    t->left_out++;
    t->left_out_bytes += old->len;
    t->tail_bytes -= old->len;
    free(old->data);
    t->tail_start = (t->tail_start + 1) % cap;
    t->tail_count--;
  }
  t->tail[(t->tail_start + t->tail_count++) % cap] = *e;
  t->tail_bytes += e->len;
  return true;
}

void pc_log(pc_ctx *t, pc_dir dir, const char *conn, const char *kind,
            const void *data, size_t len) {
  char note[128];
  pc_log_entry e;

  if (!conn)
    conn = "";
  if (len > PC_LOG_BYTES_MAX / 4) {
    snprintf(note, sizeof note, "(%zu octets, too many to keep)", len);
    data = note;
    len = strlen(note);
  }
  pthread_mutex_lock(&t->lock);
  if (log_entry_make(t, &e, dir, conn, kind, data, len)) {
    if (!t->log_in_tail && (t->log_count >= PC_LOG_ENTRIES_MAX / 2 ||
                            t->log_bytes + len > PC_LOG_BYTES_MAX / 2))
      t->log_in_tail = true;
    if (!(t->log_in_tail ? log_push_tail(t, &e) : log_push_head(t, &e)))
      free(e.data);
  }
  pthread_mutex_unlock(&t->lock);
}

/* Joins the two parts of the log into t->log: the first part, an entry
 * saying what was left out (if anything), the last part. */
static void log_join(pc_ctx *t) {
  const size_t cap = PC_LOG_ENTRIES_MAX / 2;
  size_t need = t->log_count + t->tail_count + 1, i;
  pc_log_entry e, *grown;
  char note[200];

  if (t->tail_count > 0 && need > t->log_cap) {
    if (!(grown = realloc(t->log, need * sizeof *grown)))
      goto free_tail;
    t->log = grown;
    t->log_cap = need;
  }
  if (t->left_out > 0) {
    snprintf(note, sizeof note, "%zu entries (%zu octets) left out here: "
             "the wire log keeps its first and its last %zu KiB",
             t->left_out, t->left_out_bytes, PC_LOG_BYTES_MAX / 2048);
    if (log_entry_make(t, &e, PC_EVENT, "", "note", note, strlen(note))) {
      if (t->tail_count > 0)
        e.t_us = t->tail[t->tail_start].t_us;
      t->log[t->log_count++] = e;
    }
  }
  for (i = 0; i < t->tail_count && t->log_count < t->log_cap; i++)
    t->log[t->log_count++] = t->tail[(t->tail_start + i) % cap];
  t->tail_count = 0;
free_tail:
  for (i = 0; i < t->tail_count; i++)
    free(t->tail[(t->tail_start + i) % cap].data);
  free(t->tail);
  t->tail = NULL;
  t->tail_count = 0;
}

void pc_note(pc_ctx *t, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  pc_log(t, PC_EVENT, "", "note", buf,
         (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* ---- ending a case ------------------------------------------------- */

void pc_fail(pc_ctx *t, const char *fmt, ...) {
  char buf[4096];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (!t->failed) {
    t->failed = true;
    t->message = strdup(buf);
  }
  pc_log(t, PC_EVENT, "", "fail", buf, strlen(buf));
  longjmp(t->jb, 1);
}

void pc_skip(pc_ctx *t, const char *cap) {
  if (!t->failed && !t->skip_cap)
    t->skip_cap = pc_strdup(t, cap ? cap : "");
  pc_note(t, "skip: the target did not offer capability %s",
          cap ? cap : "(none)");
  longjmp(t->jb, 2);
}

static bool cap_optional(const char *cap) {
  size_t i;

  for (i = 0; i < PC_COUNT(optional_caps); i++)
    if (strcmp(cap, optional_caps[i]) == 0)
      return true;
  return false;
}

/* ---- memory -------------------------------------------------------- */

/* Arena blocks: small allocations share blocks of this size. */
#define BLOCK_SIZE ((size_t)64 * 1024)

void *pc_alloc(pc_ctx *t, size_t size) {
  size_t need = (size + sizeof(max_align_t) - 1) /
                sizeof(max_align_t) * sizeof(max_align_t);
  size_t bsize = need > BLOCK_SIZE / 4 ? need : BLOCK_SIZE;
  pc_block *b;
  void *p;

  if (size > PC_ARENA_MAX || t->arena_bytes + need > PC_ARENA_MAX)
    pc_fail(t, "the case holds more than its cap of %zu MiB (frames and "
            "answers read from the target, kept until the case ends); "
            "the target sent more than any case needs",
            PC_ARENA_MAX >> 20);
  if (t->blocks && t->block_size - t->block_used >= need) {
    p = (char *)t->blocks->data + t->block_used;
    t->block_used += need;
    memset(p, 0, need);
    t->arena_bytes += need;
    return p;
  }
  b = calloc(1, sizeof *b + bsize);
  if (!b)
    pc_fail(t, "out of memory");
  t->arena_bytes += need;
  if (bsize > BLOCK_SIZE && t->blocks) { /* a big one: keep the current */
    b->next = t->blocks->next;
    t->blocks->next = b;
    return b->data;
  }
  b->next = t->blocks;
  t->blocks = b;
  t->block_size = bsize;
  t->block_used = need;
  return b->data;
}

char *pc_memdup(pc_ctx *t, const void *p, size_t n) {
  char *s = pc_alloc(t, n + 1);

  if (n)
    memcpy(s, p, n);
  return s;
}

char *pc_strdup(pc_ctx *t, const char *s) {
  return pc_memdup(t, s, strlen(s));
}

char *pc_printf(pc_ctx *t, const char *fmt, ...) {
  va_list ap;
  char *s;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    pc_fail(t, "pc_printf: bad format");
  s = pc_alloc(t, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

static void tag_init(void) {
  static const char letters[] = "abcdefghijklmnopqrstuvwxyz";
  size_t i;

  if (sodium_init() < 0)
    abort();
  for (i = 0; i < 8; i++)
    g_tag[i] = letters[randombytes_uniform(26)];
  g_tag[8] = '\0';
}

const char *pc_uniq(pc_ctx *t, const char *prefix) {
  const char *tag = t->r && t->r->run_tag[0] ? t->r->run_tag : NULL;
  char suffix[48], out[65];
  uint64_t n = atomic_fetch_add(&g_uniq_counter, 1) + 1;
  size_t sl, pl, i;

  if (!tag) {
    pthread_once(&g_tag_once, tag_init);
    tag = g_tag;
  }
  snprintf(suffix, sizeof suffix, "-%.16s%llu", tag, (unsigned long long)n);
  for (i = 1; suffix[i]; i++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "0123456789_-", suffix[i]))
      suffix[i] = '_';
  sl = strlen(suffix);
  pl = strlen(prefix ? prefix : "");
  if (pl > 64 - sl)
    pl = 64 - sl;
  for (i = 0; i < pl; i++) {
    char ch = prefix[i];
    out[i] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
             (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ? ch : '_';
  }
  memcpy(out + pl, suffix, sl + 1);
  return pc_strdup(t, pl ? out : out + 1);
}

void pc_defer(pc_ctx *t, void (*fn)(void *arg), void *arg) {
  pc_deferred *d;

  pthread_mutex_lock(&t->lock);
  if (t->defer_count == t->defer_cap) {
    size_t cap = t->defer_cap ? t->defer_cap * 2 : 8;
    d = realloc(t->defers, cap * sizeof *d);
    if (!d) {
      pthread_mutex_unlock(&t->lock);
      fn(arg);
      pc_fail(t, "out of memory");
    }
    t->defers = d;
    t->defer_cap = cap;
  }
  t->defers[t->defer_count].fn = fn;
  t->defers[t->defer_count].arg = arg;
  t->defer_count++;
  pthread_mutex_unlock(&t->lock);
}

pc_run *pc_run_of(pc_ctx *t) { return t->r; }

/* ---- the target ---------------------------------------------------- */

const pc_config *pc_config_of(const pc_ctx *t) { return &t->r->config; }

size_t pc_account_count(const pc_ctx *t) { return t->r->account_count; }

/* Fails the case unless account i exists. */
static pc_account *account(pc_ctx *t, int i) {
  if (i < 0 || (size_t)i >= t->r->account_count)
    pc_fail(t, "the case needs at least %d test accounts; the run has %zu "
            "(give more with --accounts)", i + 1, t->r->account_count);
  return &t->r->accounts[i];
}

const char *pc_user(pc_ctx *t, int i) { return account(t, i)->user; }

const char *pc_password(pc_ctx *t, int i) {
  return account(t, i)->password;
}

/* How long before its expiry a cached token is fetched again: a minute,
 * or half the server's token lifetime when that is short. */
static uint64_t token_margin_ms(const pc_run *r) {
  uint64_t half = r->config.token_ttl_ms / 2;

  return half && half < 60000 ? half : 60000;
}

const char *pc_token(pc_ctx *t, int i) {
  pc_account *a = account(t, i);
  uint64_t now = pc_now_ms(), expires = 0;
  char err[512], *tok = NULL;
  const char *out = NULL;

  pthread_mutex_lock(&t->r->lock);
  if (a->token && now + token_margin_ms(t->r) < a->token_expires_ms)
    out = pc_strdup(t, a->token);
  pthread_mutex_unlock(&t->r->lock);
  if (out)
    return out;
  if (pc_fetch_token(t->r, t, (size_t)i, 0, &tok, &expires, err,
                     sizeof err) < 0)
    pc_fail(t, "%s", err);
  out = pc_strdup(t, tok);
  pthread_mutex_lock(&t->r->lock);
  if (expires > a->token_expires_ms) {
    free(a->token);
    a->token = tok;
    a->token_expires_ms = expires;
    tok = NULL;
  }
  pthread_mutex_unlock(&t->r->lock);
  free(tok);
  return out;
}

const char *pc_token_fresh(pc_ctx *t, int i, uint64_t ttl_ms) {
  uint64_t expires;
  char err[512], *tok;
  const char *out;

  account(t, i);
  if (pc_fetch_token(t->r, t, (size_t)i, ttl_ms, &tok, &expires, err,
                     sizeof err) < 0)
    pc_fail(t, "%s", err);
  out = pc_strdup(t, tok);
  free(tok);
  return out;
}

void pc_conv_note(pc_ctx *t, const char *id) {
  const char **grown;

  if (pc_conv_owned(t, id))
    return;
  if (t->conv_n == t->conv_cap) {
    t->conv_cap = t->conv_cap ? t->conv_cap * 2 : 8;
    grown = pc_alloc(t, t->conv_cap * sizeof *grown);
    if (t->conv_n)
      memcpy(grown, t->convs, t->conv_n * sizeof *grown);
    t->convs = grown;
  }
  t->convs[t->conv_n++] = pc_strdup(t, id);
}

bool pc_conv_owned(const pc_ctx *t, const char *id) {
  size_t i;

  for (i = 0; i < t->conv_n; i++)
    if (strcmp(t->convs[i], id) == 0)
      return true;
  return false;
}

static void json_release(void *j) { json_decref(j); }

const char *pc_conv_group(pc_ctx *t, int owner, const int *members,
                          size_t n) {
  const char *token = pc_token(t, owner);
  json_t *req = json_object(), *list = json_array(), *id;
  pc_http *res;
  char *body;
  size_t i;

  json_object_set_new(req, "members", list);
  pc_defer(t, json_release, req); /* pc_user may fail the case */
  for (i = 0; i < n; i++)
    json_array_append_new(list, json_string(pc_user(t, members[i])));
  if (n == 0) /* spec 12.3: an empty members list is refused */
    json_array_append_new(list, json_string(pc_user(t, owner)));
  json_object_set_new(req, "kind", json_string("group"));
  json_object_set_new(req, "title", json_string(pc_uniq(t, "pc-conv")));
  body = json_dumps(req, JSON_COMPACT);
  if (!body)
    pc_fail(t, "out of memory");
  pc_defer(t, free, body);
  res = pc_http_request(t, "POST", "/v1/conversations", token,
                        "application/json", body, strlen(body));
  if (res->error)
    pc_fail(t, "POST /v1/conversations (a group): %s", res->error);
  if (res->status != 201 && res->status != 200)
    pc_fail(t, "POST /v1/conversations (a group) answered HTTP %d: %.300s",
            res->status, res->body ? res->body : "");
  id = res->json ? json_object_get(res->json, "id") : NULL;
  if (!json_is_string(id))
    pc_fail(t, "POST /v1/conversations answered %d without a string "
            "\"id\": %.300s", res->status, res->body);
  return pc_strdup(t, json_string_value(id));
}

/* ---- sign-in refused for rate -------------------------------------- */

/* The wait before the next try: 100 ms doubling to 1 s, plus a random
 * part of up to half of it so that cases refused together do not come
 * back together; the target's Retry-After when that is longer. */
static unsigned signin_wait_ms(unsigned tries, unsigned hint_ms) {
  unsigned base = tries >= 4 ? 1000u : 100u << tries;
  unsigned short rnd = 0;

  if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
    rnd = 0;
  base += rnd % (base / 2 + 1);
  return hint_ms > base ? hint_ms : base;
}

bool pc_signin_pause(pc_run *r, pc_ctx *t, uint64_t since_ms,
                     unsigned *tries, unsigned hint_ms, const char *what) {
  uint64_t now = pw_mono_ms(), end = since_ms + PC_SIGNIN_RETRY_MS;
  unsigned wait = signin_wait_ms(*tries, hint_ms);

  (void)r;
  if (t && t->hard_deadline_ms < end)
    end = t->hard_deadline_ms;
  if (now + wait > end)
    return false;
  (*tries)++;
  if (t)
    pc_note(t, "%s was refused for rate (spec 17.2): a step of the "
            "case's set-up, so it is tried again in %u ms (try %u)",
            what, wait, *tries + 1);
  pc_sleep_ms(wait);
  return true;
}

void pc_signin_text(const pc_run *r, const pc_ctx *t, const char *what,
                    const char *limit, const char *answer, char *out,
                    size_t size) {
  char needs[40];

  snprintf(needs, sizeof needs, r->jobs > 1 ? "--jobs %u" : "this case "
           "alone", r->jobs);
  snprintf(out, size, "%s was refused for rate (%s) through %u s of "
           "retries: the target's limit on %s is below what %s needs; "
           "raise it for the test accounts%s (conformance/README.md, "
           "\"Limits the target needs\"). This is set-up, no verdict on "
           "%s", what, answer, PC_SIGNIN_RETRY_MS / 1000, limit, needs,
           r->jobs > 1 ? " or lower --jobs" : "",
           t ? t->c->reqs : "any requirement");
}

void pc_signin_limited(pc_ctx *t, const char *what, const char *limit,
                       const char *answer) {
  char msg[1024];

  pc_signin_text(t->r, t, what, limit, answer, msg, sizeof msg);
  pc_fail(t, "%s", msg);
}

/* ---- the run ------------------------------------------------------- */

/* Reads integer field `name` of the config into *out, or says why not. */
static int config_u64(json_t *cfg, const char *name, uint64_t *out,
                      char *err, size_t errlen) {
  json_t *v = json_object_get(cfg, name);

  if (!v) {
    snprintf(err, errlen, "GET /v1/config: the field \"%s\" is missing "
             "(spec 12.2)", name);
    return -1;
  }
  if (!json_is_integer(v) || json_integer_value(v) < 0) {
    snprintf(err, errlen, "GET /v1/config: the field \"%s\" is not a "
             "non-negative integer (spec 12.2)", name);
    return -1;
  }
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

/* The call timers (section 19): GET /v1/config states them when the
 * target does; otherwise the values the runner gave the reference
 * server it started (r->call_timers), otherwise the spec's defaults. */
static int config_call_timers(pc_run *r, json_t *cfg, char *err,
                              size_t errlen) {
  pc_config *c = &r->config;

  c->ring_timeout_ms = r->ring_timeout_ms ? r->ring_timeout_ms
                                          : PC_RING_TIMEOUT_MS;
  c->call_grace_ms = r->call_grace_ms ? r->call_grace_ms
                                      : PC_CALL_GRACE_MS;
  if (json_object_get(cfg, "ring_timeout_ms") &&
      config_u64(cfg, "ring_timeout_ms", &c->ring_timeout_ms, err,
                 errlen) < 0)
    return -1;
  if (json_object_get(cfg, "call_grace_ms") &&
      config_u64(cfg, "call_grace_ms", &c->call_grace_ms, err, errlen) < 0)
    return -1;
  return 0;
}

/* Reads string field `name` into *out (malloc'd). */
static int config_str(json_t *cfg, const char *name, const char **out,
                      char *err, size_t errlen) {
  json_t *v = json_object_get(cfg, name);

  if (!json_is_string(v) || !json_string_value(v)[0]) {
    snprintf(err, errlen, "GET /v1/config: the field \"%s\" is %s "
             "(a string is required, spec 12.2)", name,
             v ? "not a non-empty string" : "missing");
    return -1;
  }
  *out = strdup(json_string_value(v));
  return *out ? 0 : -1;
}

/* Checks that "versions" lists 1. */
static int config_versions(json_t *cfg, char *err, size_t errlen) {
  json_t *v = json_object_get(cfg, "versions"), *x;
  size_t i;

  if (!json_is_array(v)) {
    snprintf(err, errlen, "GET /v1/config: the field \"versions\" is %s "
             "(an array of integers is required, spec 12.2)",
             v ? "not an array" : "missing");
    return -1;
  }
  json_array_foreach(v, i, x) {
    if (json_is_integer(x) && json_integer_value(x) == 1)
      return 0;
  }
  snprintf(err, errlen, "GET /v1/config: \"versions\" does not list 1: "
           "the target does not speak Parley/1");
  return -1;
}

/* Fills r->config from the parsed config object. */
static int config_fill(pc_run *r, json_t *cfg, char *err, size_t errlen) {
  pc_config *c = &r->config;
  struct {
    const char *name;
    uint64_t *field;
  } ints[] = {
      {"max_frame", &c->max_frame},
      {"max_headers", &c->max_headers},
      {"max_header_line", &c->max_header_line},
      {"max_body", &c->max_body},
      {"heartbeat_min_ms", &c->heartbeat_min_ms},
      {"heartbeat_max_ms", &c->heartbeat_max_ms},
      {"dedup_window_ms", &c->dedup_window_ms},
      {"typing_ttl_ms", &c->typing_ttl_ms},
      {"token_ttl_ms", &c->token_ttl_ms},
      {"rate_per_s", &c->rate_per_s},
      {"rate_burst", &c->rate_burst},
  };
  size_t i;

  if (!json_is_object(cfg)) {
    snprintf(err, errlen, "GET /v1/config: the body is not a JSON object");
    return -1;
  }
  if (config_versions(cfg, err, errlen) < 0)
    return -1;
  for (i = 0; i < PC_COUNT(ints); i++)
    if (config_u64(cfg, ints[i].name, ints[i].field, err, errlen) < 0)
      return -1;
  if (config_str(cfg, "subprotocol", &c->subprotocol, err, errlen) < 0 ||
      config_str(cfg, "ws_path", &c->ws_path, err, errlen) < 0)
    return -1;
  return config_call_timers(r, cfg, err, errlen);
}

/* GET /v1/config into r->config. */
static int read_config(pc_run *r, char *err, size_t errlen) {
  pw_http_msg ans = {0};
  char why[512];
  json_error_t jerr;
  json_t *cfg;
  size_t len;
  char *req = pc_http_build(r, "GET", "/v1/config", NULL, NULL, NULL, 0,
                            &len);
  int rc = -1;

  if (pc_http_do(r, NULL, req, len, false, &ans, why, sizeof why) !=
      PW_OK) {
    snprintf(err, errlen, "GET /v1/config of %s: %s", r->url, why);
    goto free_ans; /* what was read before the failure */
  }
  if (ans.status != 200) {
    pc_body_shown(why, sizeof why, ans.body, ans.body_len);
    snprintf(err, errlen, "GET /v1/config of %s answered HTTP %d: %s",
             r->url, ans.status, why);
    goto free_ans;
  }
  cfg = json_loadb(ans.body, ans.body_len, 0, &jerr);
  if (!cfg) {
    snprintf(err, errlen, "GET /v1/config of %s: the body is not JSON "
             "(%s)", r->url, jerr.text);
    goto free_ans;
  }
  rc = config_fill(r, cfg, err, errlen);
  json_decref(cfg);
free_ans:
  pw_http_msg_free(&ans);
  free(req);
  return rc;
}

int pc_run_setup(pc_run *r, char *err, size_t errlen) {
  size_t i;

  pthread_mutex_init(&r->lock, NULL);
  if (!r->run_tag[0]) {
    pthread_once(&g_tag_once, tag_init);
    memcpy(r->run_tag, g_tag, sizeof r->run_tag);
  }
  if (!r->host) {
    snprintf(err, errlen, "no target to set up");
    return -1;
  }
  if (read_config(r, err, errlen) < 0)
    return -1;
  for (i = 0; i < r->account_count; i++) {
    pc_account *a = &r->accounts[i];
    free(a->token);
    a->token = NULL;
    if (pc_fetch_token(r, NULL, i, 0, &a->token, &a->token_expires_ms, err,
                       errlen) < 0)
      return -1;
  }
  return 0;
}

void pc_run_free(pc_run *r) {
  size_t i;

  for (i = 0; i < r->account_count; i++) {
    free(r->accounts[i].token);
    r->accounts[i].token = NULL;
  }
  free((char *)r->config.subprotocol);
  free((char *)r->config.ws_path);
  r->config.subprotocol = NULL;
  r->config.ws_path = NULL;
  pthread_mutex_destroy(&r->lock);
}

/* ---- running a case ------------------------------------------------ */

/* Runs the deferred cleanups, last first; a failure in one is recorded
 * and the rest still run. */
static void run_defers(pc_ctx *t) {
  volatile size_t i;

  for (;;) {
    pthread_mutex_lock(&t->lock);
    i = t->defer_count;
    if (i > 0)
      t->defer_count--;
    pthread_mutex_unlock(&t->lock);
    if (i == 0)
      return;
    if (setjmp(t->jb) == 0)
      t->defers[i - 1].fn(t->defers[i - 1].arg);
  }
}

/* The verdict of a failure at the case's level. */
static pc_verdict failed_verdict(pc_level level) {
  return level == PC_MUST ? PC_FAIL
                          : level == PC_SHOULD ? PC_NON_STRICT : PC_INFO;
}

/* Turns the context's outcome into out's verdict and message. */
static void set_verdict(pc_ctx *t, pc_result *out) {
  char buf[512];

  if (t->failed) {
    out->verdict = failed_verdict(t->c->level);
    out->message = t->message;
    t->message = NULL;
  } else if (t->skip_cap && cap_optional(t->skip_cap)) {
    out->verdict = PC_SKIP;
    snprintf(buf, sizeof buf, "the target did not offer the optional "
             "capability \"%s\"", t->skip_cap);
    out->message = strdup(buf);
  } else if (t->skip_cap) {
    out->verdict = failed_verdict(t->c->level);
    snprintf(buf, sizeof buf, "the target did not offer \"%s\", which is "
             "not an optional capability (spec 4.3: only receipts, typing, "
             "presence and calls are)", t->skip_cap);
    out->message = strdup(buf);
  } else {
    out->verdict = PC_PASS;
  }
}

/* Frees what the context holds once the result has taken the log. */
static void ctx_free(pc_ctx *t) {
  pc_block *b, *next;

  for (b = t->blocks; b; b = next) {
    next = b->next;
    free(b);
  }
  parley_parser_free(&t->parser);
  free(t->scratch);
  free(t->defers);
  free(t->message);
  pthread_mutex_destroy(&t->lock);
  free(t);
}

/* Fills t->target_host from the run's host and port: IPv6 literals in
 * brackets, "" without a target. */
static void set_target_host(pc_ctx *t) {
  const pc_run *r = t->r;

  if (!r->host) {
    t->target_host[0] = '\0';
    return;
  }
  snprintf(t->target_host, sizeof t->target_host,
           strchr(r->host, ':') ? "[%s]:%u" : "%s:%u", r->host,
           (unsigned)r->port);
}

const char *pc_target_host(const pc_ctx *t) { return t->target_host; }

void pc_run_case(pc_run *r, const pc_suite *s, const pc_case *c,
                 pc_result *out) {
  pc_ctx *t = calloc(1, sizeof *t);

  out->c = c;
  out->suite = s;
  out->started_ms = pc_now_ms();
  if (!t) {
    out->verdict = PC_FAIL;
    out->message = strdup("out of memory");
    return;
  }
  t->r = r;
  t->suite = s;
  t->c = c;
  set_target_host(t);
  t->start_mono_us = pc_mono_us();
  t->hard_deadline_ms = pw_mono_ms() + PC_CASE_MAX_MS;
  pthread_mutex_init(&t->lock, NULL);
  parley_parser_init(&t->parser, NULL);
  if (setjmp(t->jb) == 0)
    c->run(t);
  t->hard_deadline_ms = pw_mono_ms() + 10000; /* for cleanups */
  t->ending = true;
  run_defers(t);
  if (setjmp(t->jb) == 0)
    pc_conns_close_all(t);
  set_verdict(t, out);
  out->duration_us = pc_mono_us() - t->start_mono_us;
  log_join(t);
  out->log = t->log;
  out->log_count = t->log_count;
  t->log = NULL;
  t->log_count = 0;
  ctx_free(t);
  if (out->verdict == PC_PASS) /* no report shows it */
    pc_result_free_log(out);
}

void pc_result_free_log(pc_result *res) {
  size_t i;

  for (i = 0; i < res->log_count; i++)
    free(res->log[i].data);
  free(res->log);
  res->log = NULL;
  res->log_count = 0;
}

void pc_result_free(pc_result *res) {
  if (!res)
    return;
  pc_result_free_log(res);
  free(res->message);
  res->message = NULL;
}
