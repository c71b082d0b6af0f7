/* ref-client/media/quality.c: the simplified E-model (spec 19.8) at
 * points computed by hand, MOS monotone in R, BurstR from loss runs. */
#include <criterion/criterion.h>
#include <math.h>

#include "quality.h"

#define NEAR(a, b) cr_assert(fabs((double)(a) - (double)(b)) < 1e-9, \
                             "%.12f != %.12f", (double)(a), (double)(b))

Test(quality, delay_impairment)
{
  NEAR(quality_delay_impairment(0), 0.0);
  NEAR(quality_delay_impairment(100), 2.4);
  /* Past 177.3 ms the second term adds 0.11 per ms. */
  NEAR(quality_delay_impairment(177.3), 0.024 * 177.3);
  NEAR(quality_delay_impairment(277.3), 0.024 * 277.3 + 11.0);
  NEAR(quality_delay_impairment(-5), 0.0);
}

Test(quality, loss_impairment)
{
  NEAR(quality_loss_impairment(0, 1), QUALITY_OPUS_IE);
  /* Ie 0, Bpl 20: 95 * 5 / (5 + 20) = 19. */
  NEAR(quality_loss_impairment(5, 1), 19.0);
  /* Burstier loss hurts more: 95 * 5 / (2.5 + 20) = 21.111... */
  NEAR(quality_loss_impairment(5, 2), 95.0 * 5 / 22.5);
  /* BurstR below 1 is taken as 1. */
  NEAR(quality_loss_impairment(5, 0.5), 19.0);
}

Test(quality, r_and_mos_at_known_points)
{
  /* d = 100 ms, no loss: R = 93.2 - 2.4 = 90.8;
   * MOS = 1 + 3.178 + 7e-6 * 90.8 * 30.8 * 9.2 = 4.35810... */
  double r = quality_r_factor(100, 0, 1);
  NEAR(r, 90.8);
  NEAR(quality_mos(r), 1 + 0.035 * 90.8 + 7e-6 * 90.8 * 30.8 * 9.2);
  cr_assert(quality_mos(r) > 4.358 && quality_mos(r) < 4.359);

  /* d = 60 ms, 5 % random loss: R = 93.2 - 1.44 - 19 = 72.76. */
  NEAR(quality_r_factor(60, 5, 1), 72.76);
  /* R = 50: MOS = 1 + 1.75 + 7e-6 * 50 * -10 * 50 = 2.575. */
  NEAR(quality_mos(50), 2.575);
  NEAR(quality_mos(100), 4.5);
  NEAR(quality_mos(0), 1.0);
  NEAR(quality_mos(-3), 1.0);
  NEAR(quality_mos(120), 4.5);
  /* A delay that drives R under 0 is clamped. */
  NEAR(quality_r_factor(2000, 50, 3), 0.0);
}

Test(quality, mos_monotone)
{
  double prev = quality_mos(-1);
  for (int i = 0; i <= 1100; i++) {
    double m = quality_mos(i / 10.0);
    cr_assert_geq(m, prev, "MOS(%g) = %g < %g", i / 10.0, m, prev);
    cr_assert(m >= 1.0 && m <= 4.5);
    prev = m;
  }
  /* And R falls as delay or loss grow. */
  cr_assert_gt(quality_r_factor(50, 1, 1), quality_r_factor(250, 1, 1));
  cr_assert_gt(quality_r_factor(50, 1, 1), quality_r_factor(50, 3, 1));
}

Test(quality, one_way_delay)
{
  NEAR(quality_one_way_delay_ms(100, 40), 50.0 + 40 + 20);
  NEAR(quality_one_way_delay_ms(-1, 40), 60.0);
}

Test(quality, burst_ratio_from_runs)
{
  quality_runs q = {0};
  cr_assert_eq(quality_runs_burst_r(&q), 1.0);
  cr_assert_eq(quality_runs_loss_pct(&q), 0.0);

  /* Runs of 3 lost every 30 frames: p = 0.1, mean run 3, random loss of
   * that rate would give runs of 1 / 0.9: BurstR = 3 * 0.9 = 2.7. */
  for (int i = 0; i < 300; i++)
    quality_runs_add(&q, i % 30 < 3);
  NEAR(quality_runs_loss_pct(&q), 10.0);
  NEAR(quality_runs_burst_r(&q), 2.7);

  /* Isolated losses: shorter runs than random gives, clamped to 1. */
  quality_runs s = {0};
  for (int i = 0; i < 100; i++)
    quality_runs_add(&s, i % 2 == 0);
  NEAR(quality_runs_burst_r(&s), 1.0);
}
