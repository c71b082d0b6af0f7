/* Unit tests for the reference server's request limiter
 * (ref-server/limiter.h): token buckets per key, time given by the
 * test. */
#include <stdio.h>

#include <criterion/criterion.h>

#include "limiter.h"

/* spec: SEC-13 */
Test(limiter, a_key_gets_its_burst_then_one_per_interval)
{
  limiter *l = limiter_new(3, 64); /* 3 a minute: one each 20 s */
  uint64_t t = 1000000, wait;

  cr_assert_not_null(l);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(limiter_take(l, "127.0.0.1", t), 0, "request %d", i);
  wait = limiter_take(l, "127.0.0.1", t);
  cr_assert_eq(wait, 20000, "the 4th waits for the next token");
  cr_assert_neq(limiter_take(l, "127.0.0.1", t + 19999), 0);
  cr_assert_eq(limiter_take(l, "127.0.0.1", t + 20000), 0);
  cr_assert_neq(limiter_take(l, "127.0.0.1", t + 20000), 0);
  /* A refused request takes nothing: the wait does not grow. */
  cr_assert_eq(limiter_take(l, "127.0.0.1", t + 30000), 10000);
  /* After a quiet minute the whole burst is back, never more. */
  t += 20000 + 3600000;
  for (int i = 0; i < 3; i++)
    cr_assert_eq(limiter_take(l, "127.0.0.1", t), 0);
  cr_assert_neq(limiter_take(l, "127.0.0.1", t), 0);
  limiter_free(l);
}

/* spec: SEC-13 */
Test(limiter, keys_are_independent_and_zero_means_no_limit)
{
  limiter *l = limiter_new(1, 64), *off = limiter_new(0, 8);
  uint64_t t = 5000;

  cr_assert_eq(limiter_take(l, "u:alice", t), 0);
  cr_assert_neq(limiter_take(l, "u:alice", t), 0);
  cr_assert_eq(limiter_take(l, "u:bob", t), 0, "bob has his own bucket");
  cr_assert_eq(limiter_take(l, "a:10.0.0.1", t), 0);
  for (int i = 0; i < 1000; i++)
    cr_assert_eq(limiter_take(off, "u:alice", t), 0);
  limiter_free(l);
  limiter_free(off);
}

/* spec: SEC-13 */
Test(limiter, a_crowded_table_stays_bounded_and_keeps_busy_keys)
{
  limiter *l = limiter_new(2, 16);
  char key[32];
  uint64_t t = 1000;

  cr_assert_eq(limiter_take(l, "busy", t), 0);
  cr_assert_eq(limiter_take(l, "busy", t), 0);
  /* Thousands of keys that each take one token: the table has 16
   * entries, and an emptied bucket is not the first to give way. */
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "k%d", i);
    cr_assert_eq(limiter_take(l, key, t), 0, "a new key starts full");
  }
  cr_assert_eq(limiter_take(l, "a-key-much-longer-than-the-limit-of-"
                               "seventy-one-octets-is-cut-to-it-and-"
                               "still-counted", t), 0);
  limiter_free(l);
}
