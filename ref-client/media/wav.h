/* WAV files for the call media path: RIFF PCM, 16-bit, mono, 48000 Hz
 * only. Anything else is refused with a message that names the file and
 * what is wrong with it ("speech.wav: 22050 Hz, need 48000"). */
#ifndef PARLEY_MEDIA_WAV_H
#define PARLEY_MEDIA_WAV_H

#include <stddef.h>
#include <stdint.h>

/* Reads path into *pcm (malloc'd, the caller frees) and *samples.
 * Returns 0, or -1 with a message in err. */
int wav_read(const char *path, int16_t **pcm, size_t *samples, char *err,
             size_t cap);

/* Decodes a WAV image held in memory; name is used in messages. */
int wav_parse(const char *name, const uint8_t *data, size_t len,
              int16_t **pcm, size_t *samples, char *err, size_t cap);

/* Writes pcm as a 48 kHz mono 16-bit WAV file. Returns 0, or -1 with a
 * message in err. */
int wav_write(const char *path, const int16_t *pcm, size_t samples,
              char *err, size_t cap);

#endif
