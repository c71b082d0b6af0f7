/* parley-conform: helpers for cases that watch what a server relays.
 *
 * The barrier (pcw_collect) rests on LIFE-5 and HB-3: the server handles
 * a session's frames in order and answers a PING with a PONG, so frames
 * it queued for the session before handling the PING come before the
 * PONG. A case first sees the relay it expects arrive at another session
 * (proof that the server has acted), then puts a barrier on the session
 * that must not get it. */
#include "watch.h"

#include <pthread.h>
#include <string.h>

#include "runner.h"

bool pcw_has_cap(const pc_conn *c, const char *cap)
{
  const char *caps = pc_hdr(pc_welcome(c), "caps");
  size_t n = strlen(cap);

  while (caps != NULL && *caps != '\0') {
    const char *end = strchr(caps, ',');
    size_t len = end ? (size_t)(end - caps) : strlen(caps);
    if (len == n && memcmp(caps, cap, n) == 0)
      return true;
    caps = end ? end + 1 : NULL;
  }
  return false;
}

void pcw_need_cap(pc_ctx *t, const pc_conn *c, const char *cap)
{
  if (!pcw_has_cap(c, cap))
    pc_skip(t, cap);
}

/* Collects frames up to the PONG of a fresh nonce; see watch.h. */
pc_frame **pcw_collect(pc_ctx *t, pc_conn *c, size_t *n)
{
  const char *nonce = pc_uniq(t, "b");
  size_t cap = 16, len = 0;
  pc_frame **out = pc_alloc(t, cap * sizeof *out);
  pc_frame *f;

  pc_send(c, "PING", NULL, "nonce", nonce, NULL);
  pc_expect(c, "PONG", "nonce", nonce, PC_WAIT);
  /* pc_expect set aside what came before the PONG; take it back. A frame
   * that came after the PONG within the millisecond is taken too, which
   * only makes the search wider. */
  while ((f = pc_recv(c, 1)) != NULL) {
    if (len == cap) {
      pc_frame **more = pc_alloc(t, 2 * cap * sizeof *more);
      memcpy(more, out, len * sizeof *out);
      out = more;
      cap *= 2;
    }
    out[len++] = f;
  }
  *n = len;
  return out;
}

pc_frame *pcw_find(pc_frame **frames, size_t n, const char *verb,
                   const char *name, const char *value)
{
  for (size_t i = 0; i < n; i++) {
    const pc_frame *f = frames[i];
    if (verb != NULL && strcmp(f->verb, verb) != 0)
      continue;
    if (name != NULL) {
      const char *v = pc_hdr(f, name);
      if (v == NULL || strcmp(v, value) != 0)
        continue;
    }
    return frames[i];
  }
  return NULL;
}

void pcw_none(pc_ctx *t, pc_conn *c, const char *verb, const char *name,
              const char *value, const char *why)
{
  size_t n;
  pc_frame **got = pcw_collect(t, c, &n);

  if (pcw_find(got, n, verb, name, value) != NULL)
    pc_fail(t, "%s got a %s%s%s%s%s: %s", pc_conn_label(c),
            verb ? verb : "frame", name ? " with " : "", name ? name : "",
            name ? ": " : "", name ? value : "", why);
}

/* Index of the next header of f at or after *i that is not `req`, or
 * f->header_count when none is left. */
static size_t next_not_req(const pc_frame *f, size_t i)
{
  while (i < f->header_count && strcmp(f->names[i], "req") == 0)
    i++;
  return i;
}

void pcw_same_but_req(pc_ctx *t, const pc_frame *a, const pc_frame *b,
                      const char *what)
{
  size_t i = next_not_req(a, 0), j = next_not_req(b, 0);

  PC_CHECK(t, strcmp(a->verb, b->verb) == 0, "%s: %s against %s", what,
           a->verb, b->verb);
  while (i < a->header_count && j < b->header_count) {
    PC_CHECK(t, strcmp(a->names[i], b->names[j]) == 0 &&
                    strcmp(a->values[i], b->values[j]) == 0,
             "%s: header \"%s: %s\" against \"%s: %s\"", what, a->names[i],
             a->values[i], b->names[j], b->values[j]);
    i = next_not_req(a, i + 1);
    j = next_not_req(b, j + 1);
  }
  PC_CHECK(t, i == a->header_count && j == b->header_count,
           "%s: one answer has a header the other lacks (%s)", what,
           i < a->header_count ? a->names[i] : b->names[j]);
  PC_CHECK(t, a->has_length == b->has_length &&
                  a->body_len == b->body_len &&
                  memcmp(a->body, b->body, a->body_len) == 0,
           "%s: the bodies differ (\"%.*s\" against \"%.*s\")", what,
           (int)a->body_len, a->body, (int)b->body_len, b->body);
}

void pcw_pace_init(pc_ctx *t, pcw_pace *p, unsigned used)
{
  const pc_config *cfg = pc_config_of(t);

  PC_CHECK(t, cfg->rate_per_s > 0, "GET /v1/config states rate_per_s 0: "
           "a bucket that never fills lets a session send nothing "
           "(RATE-3)");
  /* A margin, as RATE-4 advises: the server's clock starts the bucket
   * when the transport opened, a little before ours. */
  p->rate_per_ms = (double)cfg->rate_per_s * 0.9 / 1000.0;
  p->burst = (double)cfg->rate_burst * 7.0 / 8.0;
  p->tokens = p->burst - (double)used;
  p->at_ms = pc_now_ms();
}

void pcw_pace_take(pcw_pace *p)
{
  for (;;) {
    uint64_t now = pc_now_ms();
    p->tokens += (double)(now - p->at_ms) * p->rate_per_ms;
    if (p->tokens > p->burst)
      p->tokens = p->burst;
    p->at_ms = now;
    if (p->tokens >= 1.0)
      break;
    pc_sleep_ms((unsigned)((1.0 - p->tokens) / p->rate_per_ms) + 1);
  }
  p->tokens -= 1.0;
}

#define PCW_KEYS 4

static pthread_mutex_t pcw_locks[PCW_KEYS] = {
  PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
  PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
};

static void pcw_unlock(void *arg)
{
  pthread_mutex_unlock(arg);
}

void pcw_exclusive(pc_ctx *t, int key)
{
  pthread_mutex_t *m = &pcw_locks[(unsigned)key % PCW_KEYS];

  pthread_mutex_lock(m);
  pc_defer(t, pcw_unlock, m);
}

uint64_t pcw_hdr_opt_u64(pc_ctx *t, const pc_frame *f, const char *name,
                         bool *present)
{
  *present = pc_hdr(f, name) != NULL;
  return *present ? pc_hdr_u64(t, f, name) : 0;
}
