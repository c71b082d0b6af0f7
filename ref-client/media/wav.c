/* WAV files (RIFF, WAVE_FORMAT_PCM) for the call media path.
 *
 * The reader walks the RIFF chunks with bounds checks, takes the first
 * "fmt " and "data" chunks, skips any other (LIST, fact, ...) and checks
 * that the audio is 16-bit PCM, mono, 48000 Hz; everything else is an
 * error that names the file and the offending value. Samples are
 * little-endian on disk and decoded octet by octet. A data chunk whose
 * size is 0 or 0xFFFFFFFF (written by a streaming tool that could not
 * seek back) runs to the end of the file. */
#include "wav.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipe.h"

/* Files larger than this are refused (about 3 hours of audio). */
#define WAV_SIZE_MAX ((size_t)1 << 30)

typedef struct wav_fmt {
  bool seen;
  unsigned format, channels, rate, bits;
} wav_fmt;

static uint32_t le32(const uint8_t *p)
{
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

static uint16_t le16(const uint8_t *p)
{
  return (uint16_t)(p[0] | (p[1] << 8));
}

/* Checks a "fmt " chunk body; 0 or -1 with a message. */
static int check_fmt(const char *name, const uint8_t *b, size_t n,
                     wav_fmt *f, char *err, size_t cap)
{
  if (n < 16) {
    snprintf(err, cap, "%s: fmt chunk of %zu octets, need 16", name, n);
    return -1;
  }
  f->seen = true;
  f->format = le16(b);
  f->channels = le16(b + 2);
  f->rate = le32(b + 4);
  f->bits = le16(b + 14);
  /* WAVE_FORMAT_EXTENSIBLE names the real format in its sub-format. */
  if (f->format == 0xfffe && n >= 26)
    f->format = le16(b + 24);

  if (f->format != 1)
    snprintf(err, cap, "%s: format %u is not PCM (1)", name, f->format);
  else if (f->channels != 1)
    snprintf(err, cap, "%s: %u channels, need 1 (mono)", name, f->channels);
  else if (f->rate != MEDIA_RATE)
    snprintf(err, cap, "%s: %u Hz, need %d", name, f->rate, MEDIA_RATE);
  else if (f->bits != 16)
    snprintf(err, cap, "%s: %u bits per sample, need 16", name, f->bits);
  else
    return 0;
  return -1;
}

static int take_data(const char *name, const uint8_t *b, size_t n,
                     int16_t **pcm, size_t *samples, char *err, size_t cap)
{
  size_t count = n / 2;
  int16_t *out = malloc(count ? count * sizeof *out : 1);
  if (!out) {
    snprintf(err, cap, "%s: out of memory", name);
    return -1;
  }
  for (size_t i = 0; i < count; i++)
    out[i] = (int16_t)le16(b + 2 * i);
  *pcm = out;
  *samples = count;
  return 0;
}

int wav_parse(const char *name, const uint8_t *data, size_t len,
              int16_t **pcm, size_t *samples, char *err, size_t cap)
{
  if (len < 12 || memcmp(data, "RIFF", 4) != 0 ||
      memcmp(data + 8, "WAVE", 4) != 0) {
    snprintf(err, cap, "%s: not a RIFF WAVE file", name);
    return -1;
  }
  wav_fmt fmt = {0};
  size_t off = 12;
  while (len - off >= 8) {
    uint32_t size = le32(data + off + 4);
    const uint8_t *body = data + off + 8;
    size_t avail = len - off - 8;
    bool is_data = memcmp(data + off, "data", 4) == 0;
    if (is_data && (size == 0 || size == 0xffffffffu))
      size = (uint32_t)(avail < 0xfffffffeu ? avail : 0xfffffffeu);
    if (size > avail) {
      snprintf(err, cap, "%s: chunk '%.4s' says %u octets, %zu left",
               name, (const char *)(data + off), (unsigned)size, avail);
      return -1;
    }
    if (memcmp(data + off, "fmt ", 4) == 0 && !fmt.seen) {
      if (check_fmt(name, body, size, &fmt, err, cap) != 0)
        return -1;
    } else if (is_data) {
      if (!fmt.seen) {
        snprintf(err, cap, "%s: data chunk before the fmt chunk", name);
        return -1;
      }
      return take_data(name, body, size, pcm, samples, err, cap);
    }
    off += 8 + (size_t)size + (size & 1);   /* chunks pad to even */
    if (off > len)
      break;
  }
  snprintf(err, cap, "%s: no %s chunk", name, fmt.seen ? "data" : "fmt");
  return -1;
}

/* Reads a whole file into memory; 0 or -1 with a message. */
static int slurp(const char *path, uint8_t **data, size_t *len, char *err,
                 size_t cap)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, cap, "%s: %s", path, strerror(errno));
    return -1;
  }
  size_t have = 0, room = 65536;
  uint8_t *buf = malloc(room);
  while (buf) {
    have += fread(buf + have, 1, room - have, f);
    if (have < room || room >= WAV_SIZE_MAX)
      break;
    uint8_t *bigger = realloc(buf, room * 2);
    if (!bigger) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = bigger;
    room *= 2;
  }
  bool bad = !buf || ferror(f) || (have == room && !feof(f));
  fclose(f);
  if (bad) {
    snprintf(err, cap, "%s: %s", path,
             buf ? "unreadable or larger than 1 GiB" : "out of memory");
    free(buf);
    return -1;
  }
  *data = buf;
  *len = have;
  return 0;
}

int wav_read(const char *path, int16_t **pcm, size_t *samples, char *err,
             size_t cap)
{
  uint8_t *data;
  size_t len;
  if (slurp(path, &data, &len, err, cap) != 0)
    return -1;
  const char *name = strrchr(path, '/');
  name = name ? name + 1 : path;
  int rc = wav_parse(name, data, len, pcm, samples, err, cap);
  free(data);
  return rc;
}

static void put_le32(uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

int wav_write(const char *path, const int16_t *pcm, size_t samples,
              char *err, size_t cap)
{
  if (samples > (0xffffffffu - 36) / 2) {
    snprintf(err, cap, "%s: too many samples for a WAV file", path);
    return -1;
  }
  uint32_t data_len = (uint32_t)(samples * 2);
  uint8_t h[44];
  memcpy(h, "RIFF", 4);
  put_le32(h + 4, 36 + data_len);
  memcpy(h + 8, "WAVEfmt ", 8);
  put_le32(h + 16, 16);
  put_le16(h + 20, 1);                  /* PCM */
  put_le16(h + 22, 1);                  /* mono */
  put_le32(h + 24, MEDIA_RATE);
  put_le32(h + 28, MEDIA_RATE * 2);     /* octets per second */
  put_le16(h + 32, 2);                  /* block align */
  put_le16(h + 34, 16);
  memcpy(h + 36, "data", 4);
  put_le32(h + 40, data_len);

  FILE *f = fopen(path, "wb");
  if (!f) {
    snprintf(err, cap, "%s: %s", path, strerror(errno));
    return -1;
  }
  bool ok = fwrite(h, 1, sizeof h, f) == sizeof h;
  uint8_t buf[4096];
  for (size_t i = 0; ok && i < samples;) {
    size_t n = 0;
    for (; n + 2 <= sizeof buf && i < samples; n += 2, i++)
      put_le16(buf + n, (uint16_t)pcm[i]);
    ok = fwrite(buf, 1, n, f) == n;
  }
  if (fclose(f) != 0)
    ok = false;
  if (!ok)
    snprintf(err, cap, "%s: write failed: %s", path, strerror(errno));
  return ok ? 0 : -1;
}
