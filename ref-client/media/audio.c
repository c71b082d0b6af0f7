/* The Opus wrapper of the call media path.
 *
 * Encoder: 20 ms frames at 48 kHz mono, OPUS_APPLICATION_VOIP, with
 * in-band FEC and the packet loss hint set as asked. Decoder: a received
 * packet decodes normally; a lost one is rebuilt from the LBRR copy that
 * the next packet may carry (opus_decode with decode_fec = 1) or, when
 * nothing can rebuild it, concealed (opus_decode with a NULL packet).
 *
 * FEC is counted as a recovery only when the next packet really holds
 * LBRR data. The library in Debian 12 (Opus 1.3.1) has no
 * opus_packet_has_lbrr (it came with 1.5), so audio_packet_has_lbrr reads
 * the flag itself: in SILK and hybrid packets the SILK layer starts with
 * one VAD flag per 20 ms SILK frame and then the LBRR flag, each coded
 * with probability 1/2, which the range coder lays out as the first bits
 * of the first frame's first octet (RFC 6716 4.2.3). */
#include "audio.h"

#include <opus.h>
#include <stdio.h>
#include <stdlib.h>

#include "pipe.h"

struct audio_enc {
  OpusEncoder *opus;
};

struct audio_dec {
  OpusDecoder *opus;
};

audio_enc *audio_enc_new(uint32_t bitrate, bool fec, uint32_t loss_pct,
                         char *err, size_t cap)
{
  if (bitrate < 6000 || bitrate > 510000 || loss_pct > 100) {
    snprintf(err, cap, "Opus: bitrate %u or loss hint %u%% out of range",
             (unsigned)bitrate, (unsigned)loss_pct);
    return NULL;
  }
  int rc;
  OpusEncoder *opus = opus_encoder_create(MEDIA_RATE, 1,
                                          OPUS_APPLICATION_VOIP, &rc);
  if (!opus) {
    snprintf(err, cap, "Opus encoder: %s", opus_strerror(rc));
    return NULL;
  }
  if (opus_encoder_ctl(opus, OPUS_SET_BITRATE((opus_int32)bitrate)) != 0 ||
      opus_encoder_ctl(opus, OPUS_SET_INBAND_FEC(fec ? 1 : 0)) != 0 ||
      opus_encoder_ctl(opus,
                       OPUS_SET_PACKET_LOSS_PERC((int)loss_pct)) != 0) {
    snprintf(err, cap, "Opus encoder: a setting was refused");
    opus_encoder_destroy(opus);
    return NULL;
  }
  audio_enc *e = malloc(sizeof *e);
  if (!e) {
    snprintf(err, cap, "out of memory");
    opus_encoder_destroy(opus);
    return NULL;
  }
  e->opus = opus;
  return e;
}

void audio_enc_free(audio_enc *e)
{
  if (!e)
    return;
  opus_encoder_destroy(e->opus);
  free(e);
}

int audio_enc_frame(audio_enc *e, const int16_t *pcm, uint8_t *out,
                    size_t cap)
{
  opus_int32 max = cap > AUDIO_PACKET_MAX ? AUDIO_PACKET_MAX
                                          : (opus_int32)cap;
  int n = opus_encode(e->opus, pcm, MEDIA_FRAME_SAMPLES, out, max);
  return n > 0 ? n : -1;
}

audio_dec *audio_dec_new(char *err, size_t cap)
{
  int rc;
  OpusDecoder *opus = opus_decoder_create(MEDIA_RATE, 1, &rc);
  if (!opus) {
    snprintf(err, cap, "Opus decoder: %s", opus_strerror(rc));
    return NULL;
  }
  audio_dec *d = malloc(sizeof *d);
  if (!d) {
    snprintf(err, cap, "out of memory");
    opus_decoder_destroy(opus);
    return NULL;
  }
  d->opus = opus;
  return d;
}

void audio_dec_free(audio_dec *d)
{
  if (!d)
    return;
  opus_decoder_destroy(d->opus);
  free(d);
}

int audio_dec_plc(audio_dec *d, int16_t *out)
{
  int n = opus_decode(d->opus, NULL, 0, out, MEDIA_FRAME_SAMPLES, 0);
  return n == MEDIA_FRAME_SAMPLES ? 0 : -1;
}

int audio_dec_frame(audio_dec *d, const uint8_t *pkt, size_t len,
                    int16_t *out)
{
  if (len == 0 || len > AUDIO_PACKET_MAX) {
    audio_dec_plc(d, out);
    return -1;
  }
  int n = opus_decode(d->opus, pkt, (opus_int32)len, out,
                      MEDIA_FRAME_SAMPLES, 0);
  if (n != MEDIA_FRAME_SAMPLES) {
    audio_dec_plc(d, out);
    return -1;
  }
  return 0;
}

int audio_dec_fec(audio_dec *d, const uint8_t *next, size_t len,
                  int16_t *out)
{
  if (!audio_packet_has_lbrr(next, len))
    return audio_dec_plc(d, out);
  int n = opus_decode(d->opus, next, (opus_int32)len, out,
                      MEDIA_FRAME_SAMPLES, 1);
  if (n != MEDIA_FRAME_SAMPLES)
    return audio_dec_plc(d, out) == 0 ? 0 : -1;
  return 1;
}

bool audio_packet_has_lbrr(const uint8_t *pkt, size_t len)
{
  if (!pkt || len < 2 || len > AUDIO_PACKET_MAX)
    return false;
  unsigned config = pkt[0] >> 3;
  if (config >= 16)
    return false;   /* CELT-only: no SILK layer, no LBRR */

  const unsigned char *frames[48];
  opus_int16 sizes[48];
  int count = opus_packet_parse(pkt, (opus_int32)len, NULL, frames, sizes,
                                NULL);
  if (count <= 0 || sizes[0] < 1)
    return false;

  /* SILK frames per Opus frame: 10 and 20 ms hold one, 40 ms two, 60 ms
   * three; the flags come VAD first (one per SILK frame), then LBRR. */
  int samples = opus_packet_get_samples_per_frame(pkt, MEDIA_RATE);
  int silk_frames = samples > 960 ? samples / 960 : 1;
  bool stereo = opus_packet_get_nb_channels(pkt) == 2;
  uint8_t first = frames[0][0];
  bool lbrr = (first >> (7 - silk_frames)) & 1;
  if (stereo)   /* the side channel's VAD and LBRR flags follow */
    lbrr = lbrr || ((first >> (6 - 2 * silk_frames)) & 1);
  return lbrr;
}
