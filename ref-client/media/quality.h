/* Call quality from the E-model (ITU-T G.107, simplified as spec section
 * 19.8 states it): the R factor from one-way delay and effective packet
 * loss, and the MOS that R maps to. */
#ifndef PARLEY_MEDIA_QUALITY_H
#define PARLEY_MEDIA_QUALITY_H

#include <stdbool.h>
#include <stdint.h>

/* The equipment impairment and packet-loss robustness used for Opus. */
#define QUALITY_OPUS_IE 0.0
#define QUALITY_OPUS_BPL 20.0
/* Packetisation delay of one 20 ms frame, counted in the mouth-to-ear
 * delay. */
#define QUALITY_PACKETISATION_MS 20.0

/* Id: the delay impairment for a one-way delay of d_ms. */
double quality_delay_impairment(double d_ms);

/* Ie,eff for a loss of ppl_pct percent with burst ratio burst_r (>= 1
 * makes losses burstier than random; values below 1 are taken as 1). */
double quality_loss_impairment(double ppl_pct, double burst_r);

/* R = 93.2 - Id - Ie,eff, clamped to 0-100. */
double quality_r_factor(double delay_ms, double ppl_pct, double burst_r);

/* MOS (1-4.5) for an R factor. */
double quality_mos(double r);

/* One-way delay: half the round trip (0 when unknown, rtt_ms < 0) plus
 * the jitter buffer's delay plus packetisation. */
double quality_one_way_delay_ms(double rtt_ms, double jitter_buffer_ms);

/* Loss runs of the frames played: feed every frame in playout order,
 * lost (not rebuilt) or not; BurstR is then the mean run length observed
 * over the mean run length random loss of the same rate would give
 * (G.107 Annex: BurstR = mean run / (1 / (1 - p))). */
typedef struct quality_runs {
  uint64_t frames, lost, runs;
  bool in_run;
} quality_runs;

void quality_runs_add(quality_runs *q, bool lost);

/* Effective loss in percent over the frames fed (0 when none). */
double quality_runs_loss_pct(const quality_runs *q);

/* BurstR (1 when no loss was seen). */
double quality_runs_burst_r(const quality_runs *q);

#endif
