/* Call quality: the E-model of ITU-T G.107 in the simplified form of
 * spec section 19.8.
 *
 *   R      = 93.2 - Id - Ie,eff            (clamped to 0..100)
 *   Id     = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)
 *            d: one-way mouth-to-ear delay in ms = RTT / 2 + jitter
 *            buffer delay + 20 ms packetisation; H the unit step
 *   Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl)
 *            Ppl: effective loss in percent, counted after FEC (a frame
 *            rebuilt from the next packet's LBRR data is not lost; a
 *            concealed one is); BurstR from the loss runs observed
 *   MOS    = 1 + 0.035 R + 7e-6 R (R - 60)(100 - R), 1 for R <= 6.5
 *            (where the cubic dips under 1), 4.5 for R >= 100
 *
 * Values for Opus, and they are estimates: ITU-T G.113 Appendix I lists
 * Ie and Bpl for narrowband codecs (G.711 with PLC: Ie 0, Bpl 25.1;
 * G.729A: Ie 11, Bpl 19), not for Opus. We take Ie = 0, since Opus at
 * the 32 kbit/s used here is wideband or better and so at least as good
 * as G.711 on the narrowband scale of this formula, and Bpl = 20, between
 * G.729A and G.711 with PLC: Opus conceals single losses well, but our
 * loss counting already credits FEC, so what reaches Ppl is the loss the
 * decoder had to invent audio for. A listening test would replace both
 * numbers; until then scores are comparable between runs, not with
 * published MOS values of other codecs. */
#include "quality.h"

double quality_delay_impairment(double d_ms)
{
  if (d_ms < 0)
    d_ms = 0;
  double id = 0.024 * d_ms;
  if (d_ms > 177.3)
    id += 0.11 * (d_ms - 177.3);
  return id;
}

double quality_loss_impairment(double ppl_pct, double burst_r)
{
  if (ppl_pct <= 0)
    return QUALITY_OPUS_IE;
  if (ppl_pct > 100)
    ppl_pct = 100;
  if (burst_r < 1)
    burst_r = 1;
  return QUALITY_OPUS_IE + (95 - QUALITY_OPUS_IE) * ppl_pct /
         (ppl_pct / burst_r + QUALITY_OPUS_BPL);
}

double quality_r_factor(double delay_ms, double ppl_pct, double burst_r)
{
  double r = 93.2 - quality_delay_impairment(delay_ms) -
             quality_loss_impairment(ppl_pct, burst_r);
  if (r < 0)
    r = 0;
  if (r > 100)
    r = 100;
  return r;
}

double quality_mos(double r)
{
  if (r <= 0)
    return 1.0;
  if (r >= 100)
    return 4.5;
  double mos = 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r);
  /* The cubic dips just under 1 for R below about 6.5: clamp, which
   * keeps MOS non-decreasing in R. */
  return mos < 1.0 ? 1.0 : mos;
}

double quality_one_way_delay_ms(double rtt_ms, double jitter_buffer_ms)
{
  double half_rtt = rtt_ms > 0 ? rtt_ms / 2 : 0;
  return half_rtt + jitter_buffer_ms + QUALITY_PACKETISATION_MS;
}

void quality_runs_add(quality_runs *q, bool lost)
{
  q->frames++;
  if (lost) {
    q->lost++;
    if (!q->in_run)
      q->runs++;
  }
  q->in_run = lost;
}

double quality_runs_loss_pct(const quality_runs *q)
{
  return q->frames ? 100.0 * (double)q->lost / (double)q->frames : 0;
}

double quality_runs_burst_r(const quality_runs *q)
{
  if (q->runs == 0 || q->lost >= q->frames)
    return 1.0;
  double p = (double)q->lost / (double)q->frames;
  double mean_run = (double)q->lost / (double)q->runs;
  double burst_r = mean_run * (1 - p);
  return burst_r < 1 ? 1.0 : burst_r;
}
