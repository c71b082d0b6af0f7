/* Plumbing of the server core: containers, frame building, validation,
 * the action queue and the timer heap. No protocol decisions live here.
 *
 * Action memory: every queued action owns what its pointers point to.
 * parley_server_next_action hands actions out without freeing them; the
 * next event call frees the ones already handed out (act_gc), so a
 * pointer in an action stays valid until the next call into the core. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server_internal.h"

#define PMAP_TOMB ((char *)&pmap_tomb_)
static char pmap_tomb_;

/* ---- pvec ---- */

bool pvec_push(pvec *v, void *item)
{
  if (v->len == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 4;
    void **items = realloc(v->items, cap * sizeof *items);
    if (items == NULL)
      return false;
    v->items = items;
    v->cap = cap;
  }
  v->items[v->len++] = item;
  return true;
}

void pvec_remove(pvec *v, const void *item)
{
  for (size_t i = 0; i < v->len; i++) {
    if (v->items[i] == item) {
      v->items[i] = v->items[--v->len];
      return;
    }
  }
}

void pvec_free(pvec *v)
{
  free(v->items);
  memset(v, 0, sizeof *v);
}

/* ---- pmap: open addressing, linear probing, tombstones ---- */

void pmap_init(pmap *m, const unsigned char *hash_key)
{
  memset(m, 0, sizeof *m);
  m->hash_key = hash_key;
}

static uint64_t pmap_hash(const pmap *m, const void *key, size_t len)
{
  unsigned char out[crypto_shorthash_BYTES];
  uint64_t h = 0;

  crypto_shorthash(out, key, len, m->hash_key);
  memcpy(&h, out, sizeof h);
  return h;
}

bool pmap_live(const pmap *m, size_t i)
{
  return m->slots[i].key != NULL && m->slots[i].key != PMAP_TOMB;
}

/* Returns the slot holding the key, or NULL. */
static pmap_slot *pmap_find(const pmap *m, const void *key, size_t len,
                            uint64_t h)
{
  if (m->cap == 0)
    return NULL;
  for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    pmap_slot *sl = &m->slots[i];
    if (sl->key == NULL)
      return NULL;
    if (sl->key != PMAP_TOMB && sl->hash == h && sl->key_len == len &&
        memcmp(sl->key, key, len) == 0)
      return sl;
  }
}

void *pmap_get(const pmap *m, const void *key, size_t key_len)
{
  pmap_slot *sl = pmap_find(m, key, key_len, pmap_hash(m, key, key_len));
  return sl ? sl->value : NULL;
}

/* Rehashes into a table of `cap` slots; returns false without memory. */
static bool pmap_grow(pmap *m, size_t cap)
{
  pmap_slot *slots = calloc(cap, sizeof *slots);
  if (slots == NULL)
    return false;
  for (size_t i = 0; i < m->cap; i++) {
    if (!pmap_live(m, i))
      continue;
    size_t j = m->slots[i].hash & (cap - 1);
    while (slots[j].key != NULL)
      j = (j + 1) & (cap - 1);
    slots[j] = m->slots[i];
  }
  free(m->slots);
  m->slots = slots;
  m->cap = cap;
  m->used = m->live;
  return true;
}

bool pmap_put(pmap *m, const void *key, size_t key_len, void *value)
{
  uint64_t h = pmap_hash(m, key, key_len);
  pmap_slot *sl = pmap_find(m, key, key_len, h);
  if (sl != NULL) {
    sl->value = value;
    return true;
  }
  if ((m->used + 1) * 4 > m->cap * 3) {
    size_t cap = m->cap ? m->cap : 16;
    while ((m->live + 1) * 2 > cap)
      cap *= 2;
    if (!pmap_grow(m, cap))
      return false;
  }
  char *k = malloc(key_len ? key_len : 1);
  if (k == NULL)
    return false;
  memcpy(k, key, key_len);
  size_t i = h & (m->cap - 1);
  while (pmap_live(m, i))
    i = (i + 1) & (m->cap - 1);
  if (m->slots[i].key == NULL)
    m->used++;
  m->slots[i] = (pmap_slot){k, key_len, h, value};
  m->live++;
  return true;
}

void *pmap_del(pmap *m, const void *key, size_t key_len)
{
  pmap_slot *sl = pmap_find(m, key, key_len, pmap_hash(m, key, key_len));
  if (sl == NULL)
    return NULL;
  void *value = sl->value;
  free(sl->key);
  sl->key = PMAP_TOMB;
  sl->value = NULL;
  m->live--;
  return value;
}

void pmap_free(pmap *m)
{
  for (size_t i = 0; i < m->cap; i++)
    if (pmap_live(m, i))
      free(m->slots[i].key);
  free(m->slots);
  m->slots = NULL;
  m->cap = m->live = m->used = 0;
}

/* ---- blob ---- */

blob *blob_new(const char *data, size_t len)
{
  blob *b = malloc(sizeof *b + len + 1);
  if (b == NULL)
    return NULL;
  b->refs = 1;
  b->len = len;
  if (len)
    memcpy(b->data, data, len);
  b->data[len] = '\0';
  return b;
}

blob *blob_ref(blob *b)
{
  if (b != NULL)
    b->refs++;
  return b;
}

void blob_unref(blob *b)
{
  if (b != NULL && --b->refs == 0)
    free(b);
}

/* ---- frame building ---- */

void fb_begin(fbuild *fb, const char *verb)
{
  memset(fb, 0, sizeof *fb);
  fb->err = parley_frame_begin(&fb->b, verb);
}

void fb_hdr_n(fbuild *fb, const char *name, const char *value, size_t len)
{
  if (fb->err == PARLEY_OK)
    fb->err = parley_frame_header(&fb->b, name, value, len);
}

void fb_hdr(fbuild *fb, const char *name, const char *value)
{
  fb_hdr_n(fb, name, value, strlen(value));
}

void fb_u64(fbuild *fb, const char *name, uint64_t value)
{
  if (fb->err == PARLEY_OK)
    fb->err = parley_frame_header_u64(&fb->b, name, value);
}

void fb_req(fbuild *fb, const reqid *req)
{
  if (req != NULL && req->len > 0)
    fb_hdr_n(fb, "req", req->s, req->len);
}

blob *fb_finish(fbuild *fb, const char *body, size_t body_len, bool force)
{
  blob *out = NULL;

  if (fb->err == PARLEY_OK)
    fb->err = parley_frame_end(&fb->b, body, body_len, force);
  if (fb->err == PARLEY_OK)
    out = blob_new(fb->b.data, fb->b.len);
  parley_buf_free(&fb->b);
  return out;
}

/* ---- validation and ids ---- */

bool srv_id_valid(const char *s, size_t len)
{
  if (len < 1 || len > PARLEY_ID_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  }
  return true;
}

bool srv_user_valid(const char *s, size_t len)
{
  if (len < 1 || len > PARLEY_USER_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == '-'))
      return false;
  }
  return true;
}

/* splitmix64: a small seeded generator; ids need uniqueness, which the
 * callers check, not secrecy. */
uint64_t srv_rand(parley_server *s)
{
  uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void srv_copy(char *dst, size_t cap, const char *src, size_t len)
{
  if (len >= cap)
    len = cap - 1;
  memcpy(dst, src, len);
  dst[len] = '\0';
}

/* ---- actions ---- */

/* Appends a zeroed action of `kind`; returns NULL when memory runs out
 * (the action is then lost, which only a host out of memory sees). */
act_entry *act_push(parley_server *s, parley_action_kind kind,
                    parley_conn_id conn)
{
  if (s->act_len == s->act_cap) {
    size_t cap = s->act_cap ? s->act_cap * 2 : 32;
    act_entry *acts = realloc(s->acts, cap * sizeof *acts);
    if (acts == NULL)
      return NULL;
    s->acts = acts;
    s->act_cap = cap;
  }
  act_entry *e = &s->acts[s->act_len++];
  memset(e, 0, sizeof *e);
  e->act.kind = kind;
  e->act.conn = conn;
  return e;
}

void act_send(parley_server *s, parley_conn_id conn, blob *frame)
{
  if (frame == NULL)
    return;
  act_entry *e = act_push(s, PARLEY_ACT_SEND, conn);
  if (e == NULL)
    return;
  e->data = blob_ref(frame);
  e->act.data = frame->data;
  e->act.len = frame->len;
}

void act_close(parley_server *s, parley_conn_id conn, uint16_t ws_code)
{
  act_entry *e = act_push(s, PARLEY_ACT_CLOSE, conn);
  if (e != NULL)
    e->act.ws_code = ws_code;
}

void act_log(parley_server *s, parley_conn_id conn, parley_log_level lvl,
             const char *fmt, ...)
{
  char line[256];
  va_list ap;

  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  blob *b = blob_new(line, strlen(line));
  act_entry *e = b ? act_push(s, PARLEY_ACT_LOG, conn) : NULL;
  if (e == NULL) {
    blob_unref(b);
    return;
  }
  e->data = b;
  e->act.data = b->data;
  e->act.len = b->len;
  e->act.log_level = lvl;
}

void act_store(parley_server *s, const parley_store_req *req)
{
  act_entry *e = act_push(s, PARLEY_ACT_STORE, 0);
  if (e != NULL)
    e->act.store = req;
}

void act_api(parley_server *s, api_box *box)
{
  act_entry *e = act_push(s, PARLEY_ACT_API_REPLY, 0);
  if (e == NULL) {
    api_box_free(box);
    return;
  }
  e->owned = box;
  e->act.api = &box->reply;
}

/* Queues an API reply that carries only an error; on no memory, none. */
void act_api_error(parley_server *s, uint64_t api_id, parley_err err)
{
  api_box *box = calloc(1, sizeof *box);
  if (box == NULL)
    return;
  box->reply.api_id = api_id;
  box->reply.err = err;
  act_api(s, box);
}

void act_fatal(parley_server *s, const char *why)
{
  act_log(s, 0, PARLEY_LOG_ERROR, "core stopped: %s", why);
  act_entry *e = act_push(s, PARLEY_ACT_FATAL, 0);
  if (e != NULL) {
    e->act.data = why; /* a string literal: valid for ever */
    e->act.len = strlen(why);
  }
  s->failed = true;
}

void api_box_free(api_box *box)
{
  if (box == NULL)
    return;
  free(box->conv);
  free(box->events);
  free(box->bodies);
  free(box);
}

static void act_entry_free(act_entry *e)
{
  blob_unref(e->data);
  api_box_free(e->owned);
}

void act_gc(parley_server *s)
{
  if (s->act_head == 0)
    return;
  for (size_t i = 0; i < s->act_head; i++)
    act_entry_free(&s->acts[i]);
  memmove(s->acts, s->acts + s->act_head,
          (s->act_len - s->act_head) * sizeof *s->acts);
  s->act_len -= s->act_head;
  s->act_head = 0;
}

void act_free_all(parley_server *s)
{
  for (size_t i = 0; i < s->act_len; i++)
    act_entry_free(&s->acts[i]);
  free(s->acts);
  s->acts = NULL;
  s->act_len = s->act_cap = s->act_head = 0;
}

bool parley_server_next_action(parley_server *s, parley_action *out)
{
  if (s->act_head >= s->act_len)
    return false;
  *out = s->acts[s->act_head++].act;
  return true;
}

/* ---- timers: a min-heap with lazy deletion ----
 *
 * A session (or a user's presence) records in sched_at the entry it
 * relies on; entries whose `at` differs from it are stale and skipped.
 * When a deadline moves later nothing is pushed: the old entry fires,
 * finds nothing due and pushes the new deadline. */

static void timer_swap(timer_entry *a, timer_entry *b)
{
  timer_entry t = *a;
  *a = *b;
  *b = t;
}

void timer_push(parley_server *s, timer_entry e)
{
  if (s->timer_len == s->timer_cap) {
    size_t cap = s->timer_cap ? s->timer_cap * 2 : 32;
    timer_entry *t = realloc(s->timers, cap * sizeof *t);
    if (t == NULL)
      return;
    s->timers = t;
    s->timer_cap = cap;
  }
  size_t i = s->timer_len++;
  s->timers[i] = e;
  while (i > 0 && s->timers[(i - 1) / 2].at > s->timers[i].at) {
    timer_swap(&s->timers[(i - 1) / 2], &s->timers[i]);
    i = (i - 1) / 2;
  }
}

void timer_pop(parley_server *s)
{
  if (s->timer_len == 0)
    return;
  s->timers[0] = s->timers[--s->timer_len];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < s->timer_len && s->timers[l].at < s->timers[m].at)
      m = l;
    if (r < s->timer_len && s->timers[r].at < s->timers[m].at)
      m = r;
    if (m == i)
      break;
    timer_swap(&s->timers[i], &s->timers[m]);
    i = m;
  }
}

static bool timer_valid(const parley_server *s, const timer_entry *e)
{
  if (e->kind == TIMER_CALL)
    return call_timer_valid(s, e);
  if (e->kind == TIMER_PRESENCE)
    return e->u->presence_sched == e->at;
  session *ss = session_find(s, e->conn);
  return ss != NULL && ss->sched_at == e->at;
}

bool timer_top(parley_server *s, timer_entry *out)
{
  while (s->timer_len > 0) {
    if (timer_valid(s, &s->timers[0])) {
      *out = s->timers[0];
      return true;
    }
    timer_pop(s);
  }
  return false;
}

static uint64_t min_armed(uint64_t a, uint64_t b)
{
  if (a == 0)
    return b;
  if (b == 0)
    return a;
  return a < b ? a : b;
}

void session_sched(parley_server *s, session *ss)
{
  uint64_t d = min_armed(min_armed(ss->handshake_at, ss->heartbeat_at),
                         ss->token_at);
  if (d == 0 || (ss->sched_at != 0 && ss->sched_at <= d))
    return;
  ss->sched_at = d;
  timer_push(s, (timer_entry){d, TIMER_SESSION, ss->conn, NULL});
}

void presence_sched(parley_server *s, user *u)
{
  uint64_t d = u->presence_at;
  if (d == 0 || (u->presence_sched != 0 && u->presence_sched <= d))
    return;
  u->presence_sched = d;
  timer_push(s, (timer_entry){d, TIMER_PRESENCE, 0, u});
}
