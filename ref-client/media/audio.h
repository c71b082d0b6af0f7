/* Opus for the call media path: 20 ms frames, 48 kHz, mono,
 * OPUS_APPLICATION_VOIP, optional in-band FEC (RFC 6716 section 2.1.7,
 * the SILK layer's LBRR frames). */
#ifndef PARLEY_MEDIA_AUDIO_H
#define PARLEY_MEDIA_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest Opus packet the encoder is asked for. */
#define AUDIO_PACKET_MAX 1275

typedef struct audio_enc audio_enc;
typedef struct audio_dec audio_dec;

/* An encoder at bitrate bit/s (6000-510000) with in-band FEC on or off
 * and the expected loss (0-100 %) as OPUS_SET_PACKET_LOSS_PERC. Returns
 * NULL with a message in err. */
audio_enc *audio_enc_new(uint32_t bitrate, bool fec, uint32_t loss_pct,
                         char *err, size_t cap);
void audio_enc_free(audio_enc *e);

/* Encodes one frame of 960 samples into out; returns the packet length
 * (1 or more), or -1. */
int audio_enc_frame(audio_enc *e, const int16_t *pcm, uint8_t *out,
                    size_t cap);

audio_dec *audio_dec_new(char *err, size_t cap);
void audio_dec_free(audio_dec *d);

/* Decodes one received packet into 960 samples. Returns 0, or -1 when
 * the packet is corrupt (out then holds concealment). */
int audio_dec_frame(audio_dec *d, const uint8_t *pkt, size_t len,
                    int16_t *out);

/* Rebuilds the lost frame before `next` from next's FEC data when it has
 * some (returns 1), else conceals it (returns 0). -1 on decoder error. */
int audio_dec_fec(audio_dec *d, const uint8_t *next, size_t len,
                  int16_t *out);

/* Conceals a lost frame with nothing to rebuild it from (PLC). */
int audio_dec_plc(audio_dec *d, int16_t *out);

/* Whether an Opus packet carries LBRR (FEC) data for the frame before
 * it: RFC 6716 4.2.3, the LBRR flag after the VAD flags, the first
 * range-coded symbols of the SILK layer. False for CELT-only packets
 * and for packets that do not parse. */
bool audio_packet_has_lbrr(const uint8_t *pkt, size_t len);

#endif
