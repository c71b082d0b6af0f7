/* The simulator's one source of randomness: xoshiro256** (Blackman and
 * Vigna), its state filled by splitmix64 from the 64-bit seed. Every
 * random choice of a run (the world, the workload, the faults, the
 * seeds of the cores) is drawn from it in event order, so a seed names
 * a run. Floating point stays inside a draw and is turned into integers
 * at once; no draw reads the clock or the environment. */
#include <math.h>

#include "sim.h"

static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

void sim_rng_seed(sim_rng *r, uint64_t seed)
{
  uint64_t x = seed;

  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&x);
}

uint64_t sim_rng_next(sim_rng *r)
{
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;

  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

/* Uniform in [lo, hi] without modulo bias (rejection on the top slice). */
uint64_t sim_rng_range(sim_rng *r, uint64_t lo, uint64_t hi)
{
  uint64_t span, limit, x;

  if (hi <= lo)
    return lo;
  span = hi - lo + 1;
  if (span == 0)
    return sim_rng_next(r); /* the full 64-bit range */
  limit = UINT64_MAX - UINT64_MAX % span;
  do
    x = sim_rng_next(r);
  while (x >= limit);
  return lo + x % span;
}

double sim_rng_unit(sim_rng *r)
{
  return (double)(sim_rng_next(r) >> 11) * 0x1.0p-53;
}

bool sim_rng_chance(sim_rng *r, double p)
{
  return sim_rng_unit(r) < p;
}

uint64_t sim_rng_exp(sim_rng *r, uint64_t mean)
{
  double u = 1.0 - sim_rng_unit(r); /* in (0, 1] */
  double x = -log(u) * (double)mean;

  if (x < 1.0)
    return 1;
  if (x > 1e12)
    return (uint64_t)1e12;
  return (uint64_t)x;
}

double sim_rng_normal(sim_rng *r)
{
  double sum = 0.0;

  for (int i = 0; i < 12; i++)
    sum += sim_rng_unit(r);
  return sum - 6.0;
}

double sim_rng_pareto(sim_rng *r, double alpha)
{
  double u = 1.0 - sim_rng_unit(r); /* in (0, 1] */

  return pow(u, -1.0 / alpha);
}
