/* Unit tests for parley-netem's pieces without sockets (simulator/):
 * the value parsers behind the flags and `set`, schedules, the seeded
 * generator and the delay distributions, the control commands, and the
 * timer heap of the event loop. Statistical checks allow 4 standard
 * errors and use fixed seeds, so they give the same answer every run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "netem.h"

#define MS NETEM_NS_PER_MS
#define S NETEM_NS_PER_S

static netem_faults f;
static char err[256];

static void setup(void)
{
  netem_faults_init(&f);
}

static int set(int dir, const char *key, const char *value)
{
  err[0] = '\0';
  return netem_faults_set(&f, dir, key, value, 1000 * S, err, sizeof err);
}

TestSuite(netem_conf, .init = setup);

Test(netem_conf, durations_need_a_unit)
{
  int64_t ns;

  cr_assert_eq(netem_parse_duration("50ms", &ns), 0);
  cr_assert_eq(ns, 50 * MS);
  cr_assert_eq(netem_parse_duration("1.5s", &ns), 0);
  cr_assert_eq(ns, 1500 * MS);
  cr_assert_eq(netem_parse_duration("200us", &ns), 0);
  cr_assert_eq(ns, 200000);
  cr_assert_eq(netem_parse_duration("0", &ns), 0);
  cr_assert_eq(ns, 0);
  const char *bad[] = {"50", "-5ms", "5x", "", "ms", "1e30s", "nanms"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    cr_assert_eq(netem_parse_duration(bad[i], &ns), -1, "%s", bad[i]);
}

Test(netem_conf, percentages_and_loss_model)
{
  cr_assert_eq(set(NETEM_BOTH, "loss", "5%"), 0);
  cr_assert_float_eq(f.dir[NETEM_UP].loss, 0.05, 1e-12);
  cr_assert_eq(f.dir[NETEM_DOWN].loss_model, NETEM_LOSS_RANDOM);
  cr_assert_eq(set(NETEM_BOTH, "loss", "0%"), 0);
  cr_assert_eq(f.dir[NETEM_UP].loss_model, NETEM_LOSS_NONE);
  cr_assert_eq(set(NETEM_BOTH, "loss", "5"), -1);
  cr_assert(strstr(err, "percentage") != NULL, "%s", err);
  cr_assert_eq(set(NETEM_BOTH, "duplicate", "101%"), -1);
  cr_assert_eq(set(NETEM_BOTH, "corrupt", "0.5%"), 0);
  cr_assert_float_eq(f.dir[NETEM_UP].corrupt, 0.005, 1e-12);
}

Test(netem_conf, gemodel_takes_netem_defaults)
{
  const netem_dir_faults *d = &f.dir[NETEM_UP];

  cr_assert_eq(set(NETEM_BOTH, "loss-gemodel", "1%"), 0);
  cr_assert_eq(d->loss_model, NETEM_LOSS_GEMODEL);
  cr_assert_float_eq(d->ge_p, 0.01, 1e-12);
  cr_assert_float_eq(d->ge_r, 0.99, 1e-12);
  cr_assert_float_eq(d->ge_1h, 1.0, 1e-12);
  cr_assert_float_eq(d->ge_1k, 0.0, 1e-12);
  cr_assert_eq(set(NETEM_BOTH, "loss-gemodel", "1%,25%,90%,2%"), 0);
  cr_assert_float_eq(d->ge_r, 0.25, 1e-12);
  cr_assert_float_eq(d->ge_1h, 0.90, 1e-12);
  cr_assert_float_eq(d->ge_1k, 0.02, 1e-12);
  cr_assert_eq(set(NETEM_BOTH, "loss-gemodel", "1%,2%,3%,4%,5%"), -1);
  cr_assert_eq(d->ge_p, 0.01, "a refused value changed the setting");
  cr_assert_eq(set(NETEM_BOTH, "loss-gemodel", "off"), 0);
  cr_assert_eq(d->loss_model, NETEM_LOSS_NONE);
}

Test(netem_conf, rates_and_sizes_in_tc_units)
{
  cr_assert_eq(set(NETEM_BOTH, "rate", "256kbit"), 0);
  cr_assert_float_eq(f.dir[NETEM_UP].rate_bytes_s, 32000.0, 1e-9);
  cr_assert_eq(set(NETEM_BOTH, "bandwidth", "100kbps"), 0);
  cr_assert_float_eq(f.dir[NETEM_UP].rate_bytes_s, 100000.0, 1e-9);
  cr_assert_eq(set(NETEM_BOTH, "rate", "2Mbit"), 0);
  cr_assert_float_eq(f.dir[NETEM_UP].rate_bytes_s, 250000.0, 1e-9);
  cr_assert_eq(set(NETEM_BOTH, "rate", "100"), -1);
  cr_assert_eq(set(NETEM_BOTH, "burst", "64k"), 0);
  cr_assert_eq(f.dir[NETEM_UP].burst_bytes, 65536);
  cr_assert_eq(set(NETEM_BOTH, "slice", "1500"), 0);
  cr_assert_eq(f.dir[NETEM_DOWN].slice_bytes, 1500);
  cr_assert_eq(set(NETEM_BOTH, "slice", "1.3"), -1);
  cr_assert_eq(set(NETEM_BOTH, "distribution", "pareto"), 0);
  cr_assert_eq(f.dir[NETEM_UP].dist, NETEM_DIST_PARETO);
  cr_assert_eq(set(NETEM_BOTH, "distribution", "cauchy"), -1);
}

Test(netem_conf, burst_defaults_to_20ms_of_rate)
{
  cr_assert_eq(set(NETEM_BOTH, "rate", "8mbit"), 0);
  cr_assert_float_eq(netem_burst_bytes(&f.dir[0]), 20000.0, 1e-9);
  cr_assert_eq(set(NETEM_BOTH, "rate", "8kbit"), 0);
  cr_assert_float_eq(netem_burst_bytes(&f.dir[0]), 1514.0, 1e-9);
}

Test(netem_conf, directions)
{
  cr_assert_eq(set(NETEM_UP, "delay", "10ms"), 0);
  cr_assert_eq(f.dir[NETEM_UP].delay_ns, 10 * MS);
  cr_assert_eq(f.dir[NETEM_DOWN].delay_ns, 0);
  cr_assert_eq(set(NETEM_DOWN, "partition", "1s:1s"), -1);
  cr_assert(strstr(err, "both directions") != NULL, "%s", err);
  cr_assert_eq(set(NETEM_BOTH, "no-such-fault", "1"), -1);
  cr_assert(!netem_faults_known("no-such-fault"));
  cr_assert(netem_faults_known("latency"));
}

Test(netem_conf, windows_count_from_when_they_were_set)
{
  const netem_schedule *s = &f.partition;
  int64_t base = 1000 * S;

  cr_assert_eq(set(NETEM_BOTH, "partition", "2s:500ms,10s:1s"), 0);
  cr_assert(!netem_schedule_active(s, base + 1 * S));
  cr_assert(netem_schedule_active(s, base + 2200 * MS));
  cr_assert_eq(netem_schedule_end(s, base + 2200 * MS), base + 2500 * MS);
  cr_assert(!netem_schedule_active(s, base + 2500 * MS));
  cr_assert(netem_schedule_active(s, base + 10 * S));
  cr_assert(!netem_schedule_active(s, base + 11 * S));
  cr_assert_eq(set(NETEM_BOTH, "partition", "2s"), -1);
  cr_assert_eq(set(NETEM_BOTH, "partition", "2s:0ms"), -1);
  cr_assert_eq(s->n, 2, "a refused value changed the setting");
  cr_assert_eq(set(NETEM_BOTH, "partition", "off"), 0);
  cr_assert(!netem_schedule_active(s, base + 2200 * MS));
}

Test(netem_conf, touching_windows_end_together)
{
  int64_t base = 1000 * S;

  cr_assert_eq(set(NETEM_BOTH, "stall", "1s:1s,2s:1s,2500ms:2s"), 0);
  cr_assert_eq(netem_schedule_end(&f.stall, base + 1500 * MS),
               base + 4500 * MS);
  cr_assert_eq(netem_schedule_end(&f.stall, base + 500 * MS),
               base + 500 * MS);
}

Test(netem_conf, periodic_windows_and_the_switch)
{
  netem_schedule *s = &f.stall;
  int64_t base = 1000 * S;

  cr_assert_eq(set(NETEM_BOTH, "stall-every", "10s:1s"), 0);
  cr_assert(!netem_schedule_active(s, base + 500 * MS));
  cr_assert(netem_schedule_active(s, base + 10500 * MS));
  cr_assert_eq(netem_schedule_end(s, base + 20200 * MS), base + 21 * S);
  cr_assert(!netem_schedule_active(s, base + 11500 * MS));
  cr_assert_eq(set(NETEM_BOTH, "stall-every", "1s:1s"), -1);
  s->manual_until_ns = NETEM_NEVER;
  cr_assert(netem_schedule_active(s, base));
  cr_assert_eq(netem_schedule_end(s, base), NETEM_NEVER);
}

/* ---- the generator and the distributions ---------------------------- */

Test(netem_rng, same_seed_same_draws_other_stream_other_draws)
{
  netem_rng a, b, c;
  int same_c = 0;

  netem_rng_seed(&a, 42, 7);
  netem_rng_seed(&b, 42, 7);
  netem_rng_seed(&c, 42, 8);
  for (int i = 0; i < 1000; i++) {
    uint64_t x = netem_rng_next(&a);

    cr_assert_eq(x, netem_rng_next(&b));
    same_c += x == netem_rng_next(&c);
  }
  cr_assert_eq(same_c, 0);
  netem_rng_seed(&c, 43, 7);
  netem_rng_seed(&a, 42, 7);
  cr_assert_neq(netem_rng_next(&a), netem_rng_next(&c));
}

Test(netem_rng, chance_and_range)
{
  netem_rng r;
  int n = 1000000, hits = 0;
  double se = sqrt(0.1 * 0.9 / n);

  netem_rng_seed(&r, 1, 1);
  for (int i = 0; i < n; i++)
    hits += netem_rng_chance(&r, 0.1);
  cr_assert(fabs((double)hits / n - 0.1) <= 4 * se, "%d", hits);
  for (int i = 0; i < 10000; i++) {
    uint64_t v = netem_rng_range(&r, 3, 9);

    cr_assert(v >= 3 && v <= 9);
  }
  cr_assert(!netem_rng_chance(&r, 0.0));
  cr_assert(netem_rng_chance(&r, 1.0));
}

/* Mean and standard deviation (in ms) of n delays drawn from d. */
static void moments(netem_dir_faults *d, int n, double *mean, double *sd,
                    double *min)
{
  netem_rng r;
  double sum = 0, sum2 = 0;

  netem_rng_seed(&r, 5, 5);
  *min = 1e30;
  for (int i = 0; i < n; i++) {
    double ms = (double)netem_draw_delay(d, &r) / 1e6;

    sum += ms;
    sum2 += ms * ms;
    if (ms < *min)
      *min = ms;
  }
  *mean = sum / n;
  *sd = sqrt(sum2 / n - *mean * *mean);
}

Test(netem_rng, delay_distributions_have_the_stated_spread)
{
  netem_dir_faults d = {.delay_ns = 50 * MS, .jitter_ns = 10 * MS};
  int n = 200000;
  double mean, sd, min;

  d.dist = NETEM_DIST_UNIFORM;
  moments(&d, n, &mean, &sd, &min);
  cr_assert(fabs(mean - 50) < 4 * 5.78 / sqrt(n), "%f", mean);
  cr_assert(fabs(sd - 10 / sqrt(3)) < 0.05, "%f", sd);
  cr_assert(min >= 40.0, "%f", min);
  d.dist = NETEM_DIST_NORMAL;
  moments(&d, n, &mean, &sd, &min);
  cr_assert(fabs(mean - 50) < 4 * 10 / sqrt(n), "%f", mean);
  cr_assert(fabs(sd - 10) < 0.1, "%f", sd);
  /* Pareto's tail makes its sample spread converge slowly. */
  d.dist = NETEM_DIST_PARETO;
  moments(&d, n, &mean, &sd, &min);
  cr_assert(fabs(mean - 50) < 0.5, "%f", mean);
  cr_assert(fabs(sd - 10) < 1.5, "%f", sd);
  cr_assert(min >= 50 - 10 * 0.5 / 0.866 - 1e-6, "%f", min);
  d.dist = NETEM_DIST_PARETONORMAL;
  moments(&d, n, &mean, &sd, &min);
  cr_assert(fabs(mean - 50) < 0.5, "%f", mean);
  cr_assert(fabs(sd - 10) < 1.5, "%f", sd);
}

Test(netem_rng, delays_are_never_negative)
{
  netem_dir_faults d = {.delay_ns = 1 * MS, .jitter_ns = 100 * MS,
                        .dist = NETEM_DIST_NORMAL};
  netem_rng r;

  netem_rng_seed(&r, 9, 9);
  for (int i = 0; i < 10000; i++)
    cr_assert_geq(netem_draw_delay(&d, &r), 0);
  d.jitter_ns = 0;
  cr_assert_eq(netem_draw_delay(&d, &r), 1 * MS);
}

/* ---- the control commands ------------------------------------------- */

static netem_ctx ctx;

/* The reply to one command, NUL-terminated; the caller frees it. */
static char *exec(const char *line)
{
  netem_buf out = {0};

  netem_ctl_exec(&ctx, line, &out);
  cr_assert_not_null(out.data);
  return out.data;
}

static void ctl_setup(void)
{
  memset(&ctx, 0, sizeof ctx);
  ctx.seed = 77;
  netem_faults_init(&ctx.faults);
}

TestSuite(netem_ctl, .init = ctl_setup);

/* The reply ends with `ok` and holds `want`. */
static void expect_ok(const char *line, const char *want)
{
  char *reply = exec(line);
  size_t n = strlen(reply);

  cr_assert(n >= 3 && strcmp(reply + n - 3, "ok\n") == 0, "%s: %s", line,
            reply);
  if (want != NULL)
    cr_assert(strstr(reply, want) != NULL, "%s: %s", line, reply);
  free(reply);
}

static void expect_error(const char *line, const char *want)
{
  char *reply = exec(line);

  cr_assert(strncmp(reply, "error: ", 7) == 0, "%s: %s", line, reply);
  cr_assert(strstr(reply, want) != NULL, "%s: %s", line, reply);
  free(reply);
}

Test(netem_ctl, set_show_reset)
{
  expect_ok("set delay 80ms", NULL);
  expect_ok("show", "delay 80ms\njitter");
  expect_ok("set up loss 5%", NULL);
  expect_ok("show", "up loss 5%\ndown loss 0%\n");
  expect_ok("set down loss-gemodel 1%,20%", NULL);
  expect_ok("show", "down loss-gemodel 1%,20%,100%,0%\n");
  expect_ok("blackhole on", NULL);
  cr_assert(ctx.faults.dir[NETEM_UP].blackhole);
  cr_assert(ctx.faults.dir[NETEM_DOWN].blackhole);
  expect_ok("reset", NULL);
  expect_ok("show", "delay 0ms\njitter");
  cr_assert(!ctx.faults.dir[NETEM_UP].blackhole);
}

Test(netem_ctl, switches_and_other_commands)
{
  expect_ok("stall 2s", NULL);
  cr_assert(netem_schedule_active(&ctx.faults.stall, netem_now_ns()));
  expect_ok("stall off", NULL);
  cr_assert(!netem_schedule_active(&ctx.faults.stall, netem_now_ns()));
  expect_ok("partition on", NULL);
  cr_assert_eq(ctx.faults.partition.manual_until_ns, NETEM_NEVER);
  expect_ok("seed", "seed 77\n");
  expect_ok("stats", NULL);
  expect_ok("rst", "reset 0\n");
  expect_ok("help", "rst");
}

Test(netem_ctl, errors_name_what_is_wrong)
{
  expect_error("set delay", "usage: set");
  expect_error("set delay 80", "delay: \"80\" is not a duration");
  expect_error("set up stall 1s:1s", "both directions");
  expect_error("set nope 1", "unknown fault");
  expect_error("stall maybe", "not a duration");
  expect_error("blackhole", "usage: blackhole");
  expect_error("frobnicate", "unknown command");
  expect_error("", "empty");
}

/* ---- the timer heap -------------------------------------------------- */

#define TIMERS 200

static netem_timer timers[TIMERS];
static int64_t fired_due[TIMERS];
static int fired;
static int live;

static void on_fire(netem_timer *t, int64_t now)
{
  cr_assert_geq(now, t->due_ns, "a timer fired early");
  fired_due[fired++] = t->due_ns;
  if (fired == live)
    netem_loop_stop();
}

Test(netem_loop, timers_fire_in_order_and_never_early)
{
  netem_rng r;
  int64_t now = netem_now_ns();

  cr_assert_eq(netem_loop_init(), 0);
  netem_rng_seed(&r, 3, 3);
  for (int i = 0; i < TIMERS; i++) {
    timers[i].on_fire = on_fire;
    netem_timer_arm(&timers[i],
                    now + (int64_t)netem_rng_range(&r, 0, 30) * MS);
  }
  live = TIMERS;
  for (int i = 0; i < TIMERS; i += 3) { /* cancel some, move others */
    netem_timer_cancel(&timers[i]);
    live--;
    if (i + 1 < TIMERS)
      netem_timer_arm(&timers[i + 1], now + 5 * MS);
  }
  cr_assert_eq(netem_loop_run(), 0);
  cr_assert_eq(fired, live);
  for (int i = 1; i < fired; i++)
    cr_assert_leq(fired_due[i - 1], fired_due[i]);
  netem_loop_free();
}
