/* Token buckets per key for the HTTP API (see limiter.h).
 *
 * The table is open addressing over `slots` entries with a probe window
 * of PROBE entries. Tokens are counted in thousandths so that a bucket
 * refills smoothly: per_min tokens a minute is per_min / 60 thousandths
 * a millisecond. Invariant: 0 <= milli <= per_min * 1000 for every
 * entry in use, and milli is what the bucket held at at_ms. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "limiter.h"

#define PROBE 8

typedef struct slot {
  bool used;
  char key[LIMITER_KEY_MAX + 1];
  uint64_t milli; /* thousandths of a token in the bucket */
  uint64_t at_ms; /* the time milli is the bucket's level for */
} slot;

struct limiter {
  uint32_t per_min;
  size_t count;
  slot *slots;
};

limiter *limiter_new(uint32_t per_min, size_t slots)
{
  limiter *l = calloc(1, sizeof *l);

  if (l == NULL)
    return NULL;
  l->per_min = per_min;
  l->count = slots < PROBE ? PROBE : slots;
  l->slots = calloc(l->count, sizeof *l->slots);
  if (l->slots == NULL) {
    free(l);
    return NULL;
  }
  return l;
}

void limiter_free(limiter *l)
{
  if (l == NULL)
    return;
  free(l->slots);
  free(l);
}

/* FNV-1a: spreads keys over the table. */
static size_t key_hash(const char *key)
{
  uint64_t h = 1469598103934665603ull;

  for (; *key != '\0'; key++)
    h = (h ^ (unsigned char)*key) * 1099511628211ull;
  return (size_t)h;
}

/* The thousandths of a token in e's bucket at now_ms. */
static uint64_t level(const limiter *l, const slot *e, uint64_t now_ms)
{
  uint64_t cap = (uint64_t)l->per_min * 1000;
  uint64_t dt = now_ms > e->at_ms ? now_ms - e->at_ms : 0;
  uint64_t add = dt > 60000 ? cap : dt * l->per_min / 60;

  return cap - e->milli < add ? cap : e->milli + add;
}

/* Credits e's bucket with what it earned up to now_ms. at_ms moves on
 * only by the time that was credited, so frequent calls lose nothing to
 * rounding. */
static void settle(const limiter *l, slot *e, uint64_t now_ms)
{
  uint64_t cap = (uint64_t)l->per_min * 1000;
  uint64_t dt = now_ms > e->at_ms ? now_ms - e->at_ms : 0;
  uint64_t add = dt > 60000 ? cap : dt * l->per_min / 60;

  if (cap - e->milli <= add) {
    e->milli = cap;
    e->at_ms = now_ms > e->at_ms ? now_ms : e->at_ms;
  } else {
    e->milli += add;
    e->at_ms += add * 60 / l->per_min;
  }
}

/* The entry of `key`, made with a full bucket when it is not in the
 * table. Never NULL: in a crowded window an entry whose bucket is full
 * again gives way, else the one settled longest ago. */
static slot *find(limiter *l, const char *key, uint64_t now_ms)
{
  uint64_t cap = (uint64_t)l->per_min * 1000;
  size_t start = key_hash(key) % l->count, i;
  slot *empty = NULL, *full = NULL, *oldest = NULL, *pick;

  for (i = 0; i < PROBE; i++) {
    slot *e = &l->slots[(start + i) % l->count];
    if (!e->used) {
      empty = empty ? empty : e;
      continue;
    }
    if (strcmp(e->key, key) == 0)
      return e;
    if (full == NULL && level(l, e, now_ms) == cap)
      full = e;
    if (oldest == NULL || e->at_ms < oldest->at_ms)
      oldest = e;
  }
  pick = empty ? empty : full ? full : oldest;
  memset(pick, 0, sizeof *pick);
  pick->used = true;
  memcpy(pick->key, key, strlen(key) + 1);
  pick->milli = cap;
  pick->at_ms = now_ms;
  return pick;
}

uint64_t limiter_take(limiter *l, const char *key, uint64_t now_ms)
{
  char cut[LIMITER_KEY_MAX + 1];
  slot *e;

  if (l == NULL || l->per_min == 0)
    return 0;
  strncpy(cut, key, LIMITER_KEY_MAX);
  cut[LIMITER_KEY_MAX] = '\0';
  e = find(l, cut, now_ms);
  settle(l, e, now_ms);
  if (e->milli >= 1000) {
    e->milli -= 1000;
    return 0;
  }
  /* ceil((1000 - milli) / (per_min / 60)) milliseconds */
  return ((1000 - e->milli) * 60 + l->per_min - 1) / l->per_min;
}
