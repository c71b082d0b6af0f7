/* The clock and the seeded random numbers of parley-netem.
 *
 * The generator is xoshiro256** (Blackman and Vigna), seeded through
 * splitmix64 from the run's seed and a stream number, so every relay
 * direction and every connection draws from its own sequence and the
 * same seed repeats the same decisions. Every distribution below takes a
 * fixed number of draws, so one decision never shifts the next.
 *
 * Delay distributions, with `jitter` as their spread around `delay`:
 *   uniform       delay - jitter .. delay + jitter (as Linux netem)
 *   normal        standard deviation jitter
 *   pareto        Pareto with shape 3, centred and scaled to standard
 *                 deviation jitter: a long tail of late packets
 *   paretonormal  a quarter of the variance normal, three quarters
 *                 Pareto, standard deviation jitter */
#include <assert.h>
#include <math.h>
#include <time.h>

#include "netem.h"

#define PARETO_SHAPE 3.0
#define PARETO_MEAN 1.5           /* shape / (shape - 1), scale 1 */
#define PARETO_SD 0.8660254037844386 /* sqrt(3/4) */

int64_t netem_now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * NETEM_NS_PER_S + ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void netem_rng_seed(netem_rng *r, uint64_t seed, uint64_t stream)
{
  uint64_t a = seed, b = stream ^ 0xD1B54A32D192ED03ull;
  uint64_t x = splitmix64(&a) ^ splitmix64(&b);

  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

uint64_t netem_rng_next(netem_rng *r)
{
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;

  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double netem_rng_unit(netem_rng *r)
{
  return (double)(netem_rng_next(r) >> 11) * 0x1.0p-53;
}

bool netem_rng_chance(netem_rng *r, double p)
{
  if (p <= 0)
    return false;
  return netem_rng_unit(r) < p;
}

uint64_t netem_rng_range(netem_rng *r, uint64_t lo, uint64_t hi)
{
  assert(lo <= hi);
  if (hi - lo == UINT64_MAX)
    return netem_rng_next(r);
  return lo + (uint64_t)(netem_rng_unit(r) * (double)(hi - lo + 1));
}

/* A standard normal value (Box-Muller; always two draws). */
static double draw_normal(netem_rng *r)
{
  double u1 = 1.0 - netem_rng_unit(r); /* (0, 1]: log stays finite */
  double u2 = netem_rng_unit(r);

  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* A Pareto value centred on 0 with standard deviation 1 (one draw). */
static double draw_pareto(netem_rng *r)
{
  double u = 1.0 - netem_rng_unit(r);
  double x = pow(u, -1.0 / PARETO_SHAPE);

  return (x - PARETO_MEAN) / PARETO_SD;
}

/* A value of the distribution with spread 1 around 0. */
static double draw_spread(netem_dist dist, netem_rng *r)
{
  switch (dist) {
  case NETEM_DIST_NORMAL:
    return draw_normal(r);
  case NETEM_DIST_PARETO:
    return draw_pareto(r);
  case NETEM_DIST_PARETONORMAL: {
    double n = draw_normal(r);

    return 0.5 * n + 0.8660254037844386 * draw_pareto(r);
  }
  case NETEM_DIST_UNIFORM:
  default:
    return 2.0 * netem_rng_unit(r) - 1.0;
  }
}

int64_t netem_draw_delay(const netem_dir_faults *d, netem_rng *r)
{
  double ns;

  if (d->jitter_ns <= 0)
    return d->delay_ns;
  ns = (double)d->delay_ns + (double)d->jitter_ns * draw_spread(d->dist, r);
  if (ns <= 0)
    return 0;
  if (ns >= 1e17) /* about three years: far enough */
    return (int64_t)1e17;
  return (int64_t)ns;
}
