/*
 * opus_roundtrip: a WAV file through Opus and back, with packets lost.
 *
 * The thresholds of the call media test (how alike the sent and the
 * heard speech must be) are chosen from what the codec alone does to
 * the fixtures. This program measures that without a network: it
 * encodes a 16-bit mono 48 kHz WAV file in 20 ms frames (VoIP
 * application, the given bitrate, in-band FEC on or off), drops each
 * packet with the given probability (a seeded xorshift generator, so a
 * run repeats), and decodes as a receiver would: a lost packet is
 * rebuilt from the FEC data of the next one when that arrived and FEC is
 * on, and concealed (PLC) otherwise. The output WAV has the input's
 * length. Counts go to standard output as one JSON line.
 *
 * usage: opus_roundtrip [--bitrate BPS] [--loss PCT] [--no-fec]
 *                       [--seed N] IN.wav OUT.wav
 * Exit status 0, or 2 for a usage error or a file it cannot use.
 */

#include <opus.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATE 48000
#define FRAME (RATE / 50)
#define MAX_PACKET 1500

typedef struct opts {
  int bitrate;
  double loss_pct;
  int fec;
  uint64_t seed;
  const char *in, *out;
} opts;

static int16_t *read_pcm(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  uint8_t head[44];
  if (!f || fread(head, 1, 44, f) != 44 || memcmp(head, "RIFF", 4) ||
      memcmp(head + 8, "WAVE", 4) || memcmp(head + 36, "data", 4) ||
      head[22] != 1 || head[34] != 16 ||
      (head[24] | head[25] << 8 | head[26] << 16) != RATE) {
    fprintf(stderr, "opus_roundtrip: %s: want a plain 44-octet-header "
            "WAV, 16-bit mono 48000 Hz\n", path);
    exit(2);
  }
  size_t bytes = (size_t)head[40] | (size_t)head[41] << 8 |
                 (size_t)head[42] << 16 | (size_t)head[43] << 24;
  int16_t *pcm = calloc(bytes / 2 + FRAME, 2);
  *n = fread(pcm, 2, bytes / 2, f); /* little-endian host assumed */
  fclose(f);
  return pcm;
}

static void put32(uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void write_pcm(const char *path, const int16_t *pcm, size_t n)
{
  uint8_t h[44] = "RIFF....WAVEfmt \x10\0\0\0\x01\0\x01\0"
                  "....\0\0\0\0\x02\0\x10\0data";
  put32(h + 4, (uint32_t)(36 + 2 * n));
  put32(h + 24, RATE);
  put32(h + 28, RATE * 2);
  put32(h + 40, (uint32_t)(2 * n));
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(h, 1, 44, f) != 44 || fwrite(pcm, 2, n, f) != n) {
    fprintf(stderr, "opus_roundtrip: cannot write %s\n", path);
    exit(2);
  }
  fclose(f);
}

static double draw(uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return (double)(*s >> 11) / 9007199254740992.0;
}

static opts parse(int argc, char **argv)
{
  opts o = { 32000, 0, 1, 1, NULL, NULL };
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--bitrate") && i + 1 < argc)
      o.bitrate = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--loss") && i + 1 < argc)
      o.loss_pct = atof(argv[++i]);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
      o.seed = strtoull(argv[++i], NULL, 0) * 0x9e3779b97f4a7c15u | 1;
    else if (!strcmp(argv[i], "--no-fec"))
      o.fec = 0;
    else if (argv[i][0] != '-' && !o.in)
      o.in = argv[i];
    else if (argv[i][0] != '-' && !o.out)
      o.out = argv[i];
    else
      o.in = o.out = NULL, i = argc;
  }
  if (!o.out || o.bitrate < 6000 || o.loss_pct < 0 || o.loss_pct > 100) {
    fprintf(stderr, "usage: opus_roundtrip [--bitrate BPS] [--loss PCT] "
            "[--no-fec] [--seed N] IN.wav OUT.wav\n");
    exit(2);
  }
  return o;
}

/* Encodes every frame of pcm; packets[i] / lens[i] hold frame i. */
static void encode_all(const opts *o, const int16_t *pcm, size_t frames,
                       uint8_t (*packets)[MAX_PACKET], int *lens)
{
  int err;
  OpusEncoder *enc = opus_encoder_create(RATE, 1, OPUS_APPLICATION_VOIP,
                                         &err);
  opus_encoder_ctl(enc, OPUS_SET_BITRATE(o->bitrate));
  opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(o->fec));
  opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC((int)o->loss_pct));
  for (size_t i = 0; i < frames; i++)
    lens[i] = opus_encode(enc, pcm + i * FRAME, FRAME, packets[i],
                          MAX_PACKET);
  opus_encoder_destroy(enc);
}

/* One 20 ms frame into at: a packet, its FEC data (fec), or PLC
 * (packet NULL). Dies on a decoder error, which a packet this program
 * made never causes. */
static void decode_or_die(OpusDecoder *dec, const uint8_t *packet,
                          int len, int16_t *at, int fec)
{
  int got = opus_decode(dec, packet, len, at, FRAME, fec);
  if (got != FRAME) {
    fprintf(stderr, "opus_roundtrip: decoder: %s\n",
            got < 0 ? opus_strerror(got) : "short frame");
    exit(2);
  }
}

int main(int argc, char **argv)
{
  opts o = parse(argc, argv);
  size_t n;
  int16_t *pcm = read_pcm(o.in, &n);
  size_t frames = (n + FRAME - 1) / FRAME;
  uint8_t (*packets)[MAX_PACKET] = malloc(frames * MAX_PACKET);
  int *lens = malloc(frames * sizeof(int));
  char *lost = calloc(frames + 1, 1);
  int16_t *out = calloc(frames * FRAME, 2);
  encode_all(&o, pcm, frames, packets, lens);
  for (size_t i = 0; i < frames; i++)
    lost[i] = draw(&o.seed) * 100 < o.loss_pct;

  int err;
  OpusDecoder *dec = opus_decoder_create(RATE, 1, &err);
  size_t n_lost = 0, n_fec = 0;
  for (size_t i = 0; i < frames; i++) {
    int16_t *at = out + i * FRAME;
    if (!lost[i]) {
      decode_or_die(dec, packets[i], lens[i], at, 0);
      continue;
    }
    n_lost++;
    int use_fec = o.fec && i + 1 < frames && !lost[i + 1];
    if (use_fec)
      n_fec++;
    decode_or_die(dec, use_fec ? packets[i + 1] : NULL,
                  use_fec ? lens[i + 1] : 0, at, use_fec);
  }
  opus_decoder_destroy(dec);
  write_pcm(o.out, out, n);
  printf("{\"frames\": %zu, \"lost\": %zu, \"recovered_fec\": %zu, "
         "\"concealed\": %zu}\n", frames, n_lost, n_fec, n_lost - n_fec);
  free(pcm); free(packets); free(lens); free(lost); free(out);
  return 0;
}
