/* ref-client/media/wav.c: WAV files of the call media path. Round trip
 * through a file; images built here with each way to be wrong, and the
 * message that names it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wav.h"

/* A canonical 44-octet header plus data, fields as given. */
static size_t image(uint8_t *out, unsigned format, unsigned channels,
                    unsigned rate, unsigned bits, const int16_t *pcm,
                    size_t n)
{
  uint32_t data_len = (uint32_t)(n * 2);
  const uint32_t v32[] = {36 + data_len, 16, rate, rate * channels * 2,
                          data_len};
  memcpy(out, "RIFF....WAVEfmt ....", 20);
  memcpy(out + 36, "data", 4);
  for (int i = 0; i < 4; i++) {
    out[4 + i] = (uint8_t)(v32[0] >> (8 * i));
    out[16 + i] = (uint8_t)(v32[1] >> (8 * i));
    out[24 + i] = (uint8_t)(v32[2] >> (8 * i));
    out[28 + i] = (uint8_t)(v32[3] >> (8 * i));
    out[40 + i] = (uint8_t)(v32[4] >> (8 * i));
  }
  const unsigned v16[] = {format, channels, channels * 2, bits};
  const size_t at16[] = {20, 22, 32, 34};
  for (int i = 0; i < 4; i++) {
    out[at16[i]] = (uint8_t)v16[i];
    out[at16[i] + 1] = (uint8_t)(v16[i] >> 8);
  }
  for (size_t i = 0; i < n; i++) {
    out[44 + 2 * i] = (uint8_t)pcm[i];
    out[45 + 2 * i] = (uint8_t)((uint16_t)pcm[i] >> 8);
  }
  return 44 + n * 2;
}

static const int16_t pcm4[4] = {0, -1, 32767, -32768};

static void expect_error(const uint8_t *img, size_t len, const char *msg)
{
  int16_t *pcm = NULL;
  size_t n = 0;
  char err[200] = "";
  cr_assert_eq(wav_parse("speech.wav", img, len, &pcm, &n, err, sizeof err),
               -1);
  cr_assert_null(pcm);
  cr_assert_str_eq(err, msg);
}

Test(wav, parse_good)
{
  uint8_t img[64];
  size_t len = image(img, 1, 1, 48000, 16, pcm4, 4);
  int16_t *pcm;
  size_t n;
  char err[200];
  cr_assert_eq(wav_parse("x.wav", img, len, &pcm, &n, err, sizeof err), 0,
               "%s", err);
  cr_assert_eq(n, 4);
  cr_assert_eq(memcmp(pcm, pcm4, sizeof pcm4), 0);
  free(pcm);
}

Test(wav, refused_with_a_reason)
{
  uint8_t img[64];
  expect_error(img, image(img, 1, 1, 22050, 16, pcm4, 4),
               "speech.wav: 22050 Hz, need 48000");
  expect_error(img, image(img, 1, 2, 48000, 16, pcm4, 4),
               "speech.wav: 2 channels, need 1 (mono)");
  expect_error(img, image(img, 1, 1, 48000, 8, pcm4, 4),
               "speech.wav: 8 bits per sample, need 16");
  expect_error(img, image(img, 3, 1, 48000, 16, pcm4, 4),
               "speech.wav: format 3 is not PCM (1)");
  expect_error((const uint8_t *)"RIFX....WAVE", 12,
               "speech.wav: not a RIFF WAVE file");

  size_t len = image(img, 1, 1, 48000, 16, pcm4, 4);
  expect_error(img, len - 1, "speech.wav: chunk 'data' says 8 octets, "
               "7 left");
  expect_error(img, 36, "speech.wav: no data chunk");
  memcpy(img + 12, "junk", 4);
  expect_error(img, len, "speech.wav: data chunk before the fmt chunk");
}

Test(wav, other_chunks_skipped_and_streamed_size)
{
  /* RIFF header, a LIST chunk of 3 octets (+1 pad), then fmt and data. */
  uint8_t img[128], base[64];
  size_t blen = image(base, 1, 1, 48000, 16, pcm4, 4);
  memcpy(img, base, 12);
  memcpy(img + 12, "LIST\x03\0\0\0abc\0", 12);
  memcpy(img + 24, base + 12, blen - 12);
  int16_t *pcm;
  size_t n;
  char err[200];
  cr_assert_eq(wav_parse("x", img, blen + 12, &pcm, &n, err, sizeof err), 0,
               "%s", err);
  cr_assert_eq(n, 4);
  free(pcm);

  /* A data size of 0xFFFFFFFF (a tool writing to a pipe) runs to the
   * end of the file. */
  memset(base + 40, 0xff, 4);
  cr_assert_eq(wav_parse("x", base, blen, &pcm, &n, err, sizeof err), 0);
  cr_assert_eq(n, 4);
  free(pcm);
}

Test(wav, truncated_at_every_length)
{
  uint8_t img[64];
  size_t len = image(img, 1, 1, 48000, 16, pcm4, 4);
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *copy = malloc(cut ? cut : 1);
    memcpy(copy, img, cut);
    int16_t *pcm = NULL;
    size_t n;
    char err[200];
    cr_assert_eq(wav_parse("x", copy, cut, &pcm, &n, err, sizeof err), -1,
                 "cut %zu", cut);
    free(copy);
  }
}

Test(wav, write_then_read)
{
  char path[] = "test_wav_XXXXXX";   /* in the working directory */
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  enum { N = 48000 + 7 };
  int16_t *pcm = malloc(N * sizeof *pcm);
  for (size_t i = 0; i < N; i++)
    pcm[i] = (int16_t)(i * 37 - 20000);
  char err[200];
  cr_assert_eq(wav_write(path, pcm, N, err, sizeof err), 0, "%s", err);
  int16_t *back;
  size_t n;
  cr_assert_eq(wav_read(path, &back, &n, err, sizeof err), 0, "%s", err);
  cr_assert_eq(n, N);
  cr_assert_eq(memcmp(back, pcm, N * sizeof *pcm), 0);
  free(back);
  free(pcm);
  unlink(path);

  cr_assert_eq(wav_read("/nonexistent/heard.wav", &back, &n, err,
                        sizeof err), -1);
  cr_assert_str_eq(err, "/nonexistent/heard.wav: No such file or directory");
}
