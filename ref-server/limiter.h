/* Token buckets keyed by a short string (a client address, a user name):
 * the HTTP API's request limits (spec 17.2, SEC-13).
 *
 * A limit of N gives each key a bucket of N tokens that refills at N per
 * minute and starts full. Keys live in a fixed table; a key that is not
 * in it has a full bucket, so an entry may be dropped once it has filled
 * up again, and when the table is crowded the entry used longest ago
 * gives way. Memory stays bounded whatever the number of keys. */
#ifndef PARLEY_SERVER_LIMITER_H
#define PARLEY_SERVER_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#define LIMITER_KEY_MAX 71 /* octets of a key; longer ones are cut */

typedef struct limiter limiter;

/* Returns a limiter of `per_min` requests per minute per key (0: no
 * limit) with room for `slots` keys, or NULL when memory runs out. */
limiter *limiter_new(uint32_t per_min, size_t slots);
void limiter_free(limiter *l);

/* Takes one token from key's bucket at now_ms. Returns 0 when it was
 * taken, else the milliseconds until one is there (nothing was taken). */
uint64_t limiter_take(limiter *l, const char *key, uint64_t now_ms);

#endif
