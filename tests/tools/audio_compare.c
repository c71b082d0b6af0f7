/*
 * audio_compare: how much of one recording is heard in another.
 *
 * The call tests play a known WAV file into one end of a call and record
 * what the other end plays out. This program answers two questions about
 * such a pair: by how much is the heard signal late (lag), and how alike
 * are the two once aligned (correlation).
 *
 * Steps:
 *   1. Read both files: RIFF/WAVE, 16-bit PCM, mono, 48000 Hz (format 1
 *      or WAVE_FORMAT_EXTENSIBLE with the PCM sub-format); anything else
 *      is refused with exit status 2 and a message naming the file.
 *   2. Band-limit to telephone band (windowed-sinc low-pass at 3.4 kHz,
 *      255 taps, Blackman window) and keep every sixth sample: 8 kHz.
 *      The mean is removed. In envelope mode the 8 kHz signal is then
 *      rectified, smoothed (one-pole, 20 ms) and kept at 400 Hz, so that
 *      phase changes a codec makes no longer count, only the shape of
 *      the loudness over time.
 *   3. For every lag L in [-window, +window] the sent signal s (length n)
 *      is laid over the heard signal h from sample L on (samples outside
 *      h count as 0), and
 *
 *          c(L) = sum_i s[i] h[i + L] / sqrt(E_s * E_h(L))
 *
 *      where E_s is the energy of all of s and E_h(L) that of the heard
 *      samples under it. Since E_s is all of s, a lag where only a small
 *      piece of s overlaps h cannot score high by chance. The sums come
 *      from one FFT cross-correlation (radix 2) and a running energy sum.
 *   4. With --segment-ms, each segment of the sent speech is also
 *      matched on its own near that lag (see match_segments), for a
 *      receiver whose jitter buffer changed its delay during the call.
 *   5. Print {"lag_ms", "correlation", "sent_s", "heard_s", "mode",
 *      "window_ms", "heard_rms"} (and the segment figures) as one JSON
 *      line. A positive lag means the heard signal is late. heard_rms
 *      is the RMS of the heard file (full scale 1.0), so a silent
 *      recording is seen as such.
 *
 * Exit status: 0 with the result, 2 for a usage error or a bad file.
 */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATE_IN 48000
#define RATE_BAND 8000
#define DECIMATE (RATE_IN / RATE_BAND)
#define TAPS 255
#define CUTOFF_HZ 3400.0
#define ENV_DECIMATE 20 /* 8000 / 20 = 400 Hz */
#define ENV_SMOOTH_MS 20.0

typedef struct signal {
  double *x;
  size_t n;
} signal;

typedef struct wav {
  int16_t *pcm;
  size_t samples;
} wav;

/* Prints "audio_compare: " and the message, exits 2. */
_Noreturn static void die(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "audio_compare: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static uint32_t le32(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
  return (uint16_t)(p[0] | p[1] << 8);
}

/* Reads a whole file into memory; dies with exit 2 if it cannot. The
 * caller frees *out. */
static size_t slurp(const char *path, uint8_t **out)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    die("cannot open %s: %s", path, strerror(errno));
  size_t cap = 1 << 16, len = 0;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (!buf)
      die("%s: out of memory", path);
    len += fread(buf + len, 1, cap - len, f);
    if (len < cap)
      break;
    cap *= 2;
    buf = realloc(buf, cap);
  }
  int bad = ferror(f);
  fclose(f);
  if (bad)
    die("cannot read %s: read error", path);
  *out = buf;
  return len;
}

/* Checks a fmt chunk: PCM (or extensible PCM), 1 channel, 48000 Hz,
 * 16 bits. Dies naming what differs. */
static void check_fmt(const char *path, const uint8_t *c, uint32_t len)
{
  static const uint8_t pcm_guid_tail[14] = {
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00,
    0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71 };
  if (len < 16)
    die("%s: fmt chunk too short", path);
  uint16_t format = le16(c);
  if (format == 0xfffe && len >= 40 && le16(c + 24) == 1 &&
      memcmp(c + 26, pcm_guid_tail, 14) == 0)
    format = 1;
  if (format != 1)
    die("%s: format tag %u is not PCM; want 16-bit PCM mono 48000 Hz",
        path, (unsigned)format);
  if (le16(c + 2) != 1)
    die("%s: %s; want 16-bit PCM mono 48000 Hz", path,
        "more than one channel");
  if (le32(c + 4) != RATE_IN)
    die("%s: %s; want 16-bit PCM mono 48000 Hz", path,
        "sample rate is not 48000 Hz");
  if (le16(c + 14) != 16)
    die("%s: %s; want 16-bit PCM mono 48000 Hz", path,
        "samples are not 16 bits");
}

/* Reads a 16-bit mono 48 kHz WAV file; dies (exit 2) on anything else.
 * A data chunk whose size runs past the end of the file (a recording
 * that was not closed) is cut to what is there. */
static wav read_wav(const char *path)
{
  uint8_t *buf;
  size_t len = slurp(path, &buf);
  if (len < 12 || memcmp(buf, "RIFF", 4) || memcmp(buf + 8, "WAVE", 4))
    die("%s: not a RIFF/WAVE file", path);
  size_t off = 12;
  int have_fmt = 0;
  while (off + 8 <= len) {
    uint32_t clen = le32(buf + off + 4);
    const uint8_t *body = buf + off + 8;
    size_t left = len - off - 8;
    if (!memcmp(buf + off, "fmt ", 4)) {
      check_fmt(path, body, clen > left ? (uint32_t)left : clen);
      have_fmt = 1;
    } else if (!memcmp(buf + off, "data", 4)) {
      if (!have_fmt)
        die("%s: data chunk before the fmt chunk", path);
      size_t n = (clen > left ? left : clen) / 2;
      wav w = { malloc(n * 2 + 2), n };
      for (size_t i = 0; i < n; i++)
        w.pcm[i] = (int16_t)le16(body + 2 * i);
      free(buf);
      return w;
    }
    if (clen > left)
      break;
    off += 8 + (size_t)clen + (clen & 1);
  }
  die("%s: no data chunk", path);
}

/* The low-pass filter: windowed sinc at CUTOFF_HZ, unity gain at DC. */
static void lowpass_taps(double *h)
{
  double fc = CUTOFF_HZ / RATE_IN, sum = 0;
  int mid = TAPS / 2;
  for (int i = 0; i < TAPS; i++) {
    int k = i - mid;
    double sinc = k == 0 ? 2 * fc : sin(2 * M_PI * fc * k) / (M_PI * k);
    double w = 0.42 - 0.5 * cos(2 * M_PI * i / (TAPS - 1)) +
               0.08 * cos(4 * M_PI * i / (TAPS - 1));
    h[i] = sinc * w;
    sum += h[i];
  }
  for (int i = 0; i < TAPS; i++)
    h[i] /= sum;
}

/* 48 kHz PCM to the 8 kHz telephone band, mean removed. Owns the
 * returned samples. */
static signal to_band(const wav *w)
{
  double h[TAPS];
  lowpass_taps(h);
  signal s = { calloc(w->samples / DECIMATE + 1, sizeof(double)),
               w->samples / DECIMATE };
  int mid = TAPS / 2;
  double mean = 0;
  for (size_t j = 0; j < s.n; j++) {
    long centre = (long)(j * DECIMATE);
    double acc = 0;
    for (int i = 0; i < TAPS; i++) {
      long at = centre + i - mid;
      if (at >= 0 && at < (long)w->samples)
        acc += h[i] * w->pcm[at];
    }
    s.x[j] = acc / 32768.0;
    mean += s.x[j];
  }
  if (s.n)
    mean /= (double)s.n;
  for (size_t j = 0; j < s.n; j++)
    s.x[j] -= mean;
  return s;
}

/* The loudness envelope of a band signal at 400 Hz, mean removed;
 * replaces s in place. */
static void to_envelope(signal *s)
{
  double a = exp(-1.0 / (ENV_SMOOTH_MS * RATE_BAND / 1000.0));
  double y = 0, mean = 0;
  size_t m = 0;
  for (size_t i = 0; i < s->n; i++) {
    y = a * y + (1 - a) * fabs(s->x[i]);
    if (i % ENV_DECIMATE == 0) {
      s->x[m++] = y;
      mean += y;
    }
  }
  if (m)
    mean /= (double)m;
  for (size_t i = 0; i < m; i++)
    s->x[i] -= mean;
  s->n = m;
}

/* In-place iterative radix-2 FFT of n (a power of two) complex values,
 * re/im split; inverse when inv (unscaled). */
static void fft(double *re, double *im, size_t n, int inv)
{
  for (size_t i = 1, j = 0; i < n; i++) {
    size_t bit = n >> 1;
    for (; j & bit; bit >>= 1)
      j ^= bit;
    j ^= bit;
    if (i < j) {
      double t = re[i]; re[i] = re[j]; re[j] = t;
      t = im[i]; im[i] = im[j]; im[j] = t;
    }
  }
  for (size_t len = 2; len <= n; len <<= 1) {
    double ang = 2 * M_PI / (double)len * (inv ? 1 : -1);
    for (size_t i = 0; i < n; i += len) {
      for (size_t k = 0; k < len / 2; k++) {
        double wr = cos(ang * (double)k), wi = sin(ang * (double)k);
        size_t a = i + k, b = i + k + len / 2;
        double xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
        re[b] = re[a] - xr; im[b] = im[a] - xi;
        re[a] += xr; im[a] += xi;
      }
    }
  }
}

/* r[L + w] = sum_i s[i] h[i + L] for L in [-w, w] (2w + 1 values, owned
 * by the caller), by FFT. */
static double *cross_correlate(const signal *s, const signal *h, size_t w)
{
  size_t n = 1;
  while (n < s->n + h->n + 2 * w + 1)
    n <<= 1;
  double *ar = calloc(n, sizeof(double)), *ai = calloc(n, sizeof(double));
  double *br = calloc(n, sizeof(double)), *bi = calloc(n, sizeof(double));
  double *r = malloc((2 * w + 1) * sizeof(double));
  if (!ar || !ai || !br || !bi || !r)
    die("out of memory");
  memcpy(ar, s->x, s->n * sizeof(double));
  memcpy(br, h->x, h->n * sizeof(double));
  fft(ar, ai, n, 0);
  fft(br, bi, n, 0);
  for (size_t k = 0; k < n; k++) { /* conj(S) * H */
    double re = ar[k] * br[k] + ai[k] * bi[k];
    double im = ar[k] * bi[k] - ai[k] * br[k];
    ar[k] = re;
    ai[k] = im;
  }
  fft(ar, ai, n, 1);
  for (size_t j = 0; j < 2 * w + 1; j++) {
    long lag = (long)j - (long)w;
    size_t at = lag >= 0 ? (size_t)lag : n - (size_t)(-lag);
    r[j] = ar[at] / (double)n;
  }
  free(ar); free(ai); free(br); free(bi);
  return r;
}

/* Energy of h[from .. from + len) with samples outside h counting 0;
 * prefix[k] = sum of h[0 .. k) squared. */
static double window_energy(const double *prefix, size_t hn, long from,
                            size_t len)
{
  long a = from < 0 ? 0 : from, b = from + (long)len;
  if (b > (long)hn)
    b = (long)hn;
  return b > a ? prefix[b] - prefix[a] : 0;
}

/* prefix[k] = energy of h[0 .. k), k in 0 .. h->n; owned by the caller. */
static double *prefix_energy(const signal *h)
{
  double *prefix = malloc((h->n + 1) * sizeof(double));
  if (!prefix)
    die("out of memory");
  prefix[0] = 0;
  for (size_t i = 0; i < h->n; i++)
    prefix[i + 1] = prefix[i] + h->x[i] * h->x[i];
  return prefix;
}

typedef struct match {
  long lag;        /* in samples of the compared signals */
  double correlation;
} match;

/* The lag in [-w, w] with the highest normalised correlation (step 3 of
 * the design note). Correlation 0 when either signal has no energy. */
static match best_lag(const signal *s, const signal *h, size_t w)
{
  double es = 0;
  for (size_t i = 0; i < s->n; i++)
    es += s->x[i] * s->x[i];
  double *prefix = prefix_energy(h);
  double *r = cross_correlate(s, h, w);
  match best = { 0, 0 };
  for (size_t j = 0; j < 2 * w + 1; j++) {
    long lag = (long)j - (long)w;
    double eh = window_energy(prefix, h->n, lag, s->n);
    if (es <= 1e-12 || eh <= 1e-12)
      continue;
    double c = r[j] / sqrt(es * eh);
    if (c > best.correlation)
      best = (match){ lag, c };
  }
  free(r);
  free(prefix);
  return best;
}

/* Segment mode: a jitter buffer that changes its delay during a call
 * shifts the later speech against the earlier, and one lag no longer
 * fits the whole. The sent signal is cut into segments; each segment
 * that holds speech (energy at least a tenth of the mean segment's)
 * gets its own best lag within +-search of the whole file's lag, and
 * the result is the mean of their correlations weighted by their
 * energy, with the range of lags they chose. */
typedef struct segments {
  double correlation;
  size_t used;
  long lag_min, lag_max;
} segments;

/* The best correlation of s[from .. from + len) over lags lag0 +- search;
 * *lag gets the lag. */
static double segment_best(const signal *s, const signal *h,
                           const double *prefix, size_t from, size_t len,
                           long lag0, long search, long *lag)
{
  double es = 0, best = 0;
  for (size_t i = from; i < from + len; i++)
    es += s->x[i] * s->x[i];
  *lag = lag0;
  for (long l = lag0 - search; l <= lag0 + search; l++) {
    double eh = window_energy(prefix, h->n, (long)from + l, len);
    if (eh <= 1e-12)
      continue;
    double acc = 0;
    for (size_t i = from; i < from + len; i++) {
      long at = (long)i + l;
      if (at >= 0 && at < (long)h->n)
        acc += s->x[i] * h->x[at];
    }
    double c = acc / sqrt(es * eh);
    if (c > best) {
      best = c;
      *lag = l;
    }
  }
  return best;
}

static double energy(const signal *s, size_t from, size_t len)
{
  double e = 0;
  for (size_t i = from; i < from + len && i < s->n; i++)
    e += s->x[i] * s->x[i];
  return e;
}

/* Segments of seg samples around the whole file's lag lag0 (above). */
static segments match_segments(const signal *s, const signal *h,
                               long lag0, size_t seg, long search)
{
  segments out = { 0, 0, lag0, lag0 };
  size_t count = seg ? s->n / seg : 0;
  if (!count)
    return out;
  double *prefix = prefix_energy(h);
  double mean = energy(s, 0, count * seg) / (double)count, weight = 0;
  for (size_t k = 0; k < count; k++) {
    double e = energy(s, k * seg, seg);
    if (e < mean / 10 || e <= 1e-12)
      continue;
    long lag;
    double c = segment_best(s, h, prefix, k * seg, seg, lag0, search, &lag);
    out.correlation += e * c;
    weight += e;
    out.lag_min = out.used && out.lag_min < lag ? out.lag_min : lag;
    out.lag_max = out.used && out.lag_max > lag ? out.lag_max : lag;
    out.used++;
  }
  if (weight > 0)
    out.correlation /= weight;
  free(prefix);
  return out;
}

static double rms_of(const wav *w)
{
  double acc = 0;
  for (size_t i = 0; i < w->samples; i++)
    acc += (double)w->pcm[i] * w->pcm[i];
  return w->samples ? sqrt(acc / (double)w->samples) / 32768.0 : 0;
}

static void usage(void)
{
  fprintf(stderr,
          "usage: audio_compare [--window-ms N] [--mode wave|envelope]\n"
          "                     [--segment-ms N [--segment-search-ms N]] "
          "SENT.wav HEARD.wav\n"
          "  Both files 16-bit PCM mono 48000 Hz. Prints one JSON line:\n"
          "  {\"lag_ms\", \"correlation\", \"sent_s\", \"heard_s\", "
          "\"mode\", \"window_ms\", \"heard_rms\"}.\n"
          "  --window-ms  lags searched, +- this (default 2000)\n"
          "  --mode       wave (default): the band-limited waveform;\n"
          "               envelope: its loudness envelope only\n"
          "  --segment-ms  also match segments of N ms each on its own,\n"
          "               within +- --segment-search-ms (default 100) of\n"
          "               the whole file's lag: adds \"segment_correlation"
          "\",\n"
          "               \"segments\", \"lag_min_ms\", \"lag_max_ms\"\n");
  exit(2);
}

typedef struct args {
  long window_ms, segment_ms, search_ms;
  int envelope;
  const char *sent, *heard;
} args;

/* A flag's value in ms, min .. 60000; dies (exit 2) otherwise. */
static long ms_value(const char *flag, const char *v, long min)
{
  char *end;
  long ms = strtol(v, &end, 10);
  if (*end || end == v || ms < min || ms > 60000)
    die("%s: %s is not a number of ms in %ld..60000", flag, v, min);
  return ms;
}

static args parse_args(int argc, char **argv)
{
  args a = { 2000, 0, 100, 0, NULL, NULL };
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--window-ms") && v) {
      a.window_ms = ms_value(argv[i], v, 0);
      i++;
    } else if (!strcmp(argv[i], "--segment-ms") && v) {
      a.segment_ms = ms_value(argv[i], v, 0);
      i++;
    } else if (!strcmp(argv[i], "--segment-search-ms") && v) {
      a.search_ms = ms_value(argv[i], v, 0);
      i++;
    } else if (!strcmp(argv[i], "--mode") && v) {
      if (strcmp(v, "wave") && strcmp(v, "envelope"))
        die("--mode: %s is neither wave nor envelope", v);
      a.envelope = !strcmp(v, "envelope");
      i++;
    } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage();
    } else if (argv[i][0] == '-' && argv[i][1]) {
      die("unknown flag or missing value: %s", argv[i]);
    } else if (!a.sent) {
      a.sent = argv[i];
    } else if (!a.heard) {
      a.heard = argv[i];
    } else {
      usage();
    }
  }
  if (!a.heard)
    usage();
  return a;
}

int main(int argc, char **argv)
{
  args a = parse_args(argc, argv);
  wav ws = read_wav(a.sent), wh = read_wav(a.heard);
  signal s = to_band(&ws), h = to_band(&wh);
  double rate = RATE_BAND;
  if (a.envelope) {
    to_envelope(&s);
    to_envelope(&h);
    rate = (double)RATE_BAND / ENV_DECIMATE;
  }

  size_t w = (size_t)((double)a.window_ms * rate / 1000.0);
  match m = best_lag(&s, &h, w);
  printf("{\"lag_ms\": %.3f, \"correlation\": %.4f, \"sent_s\": %.3f, "
         "\"heard_s\": %.3f, \"mode\": \"%s\", \"window_ms\": %ld, "
         "\"heard_rms\": %.5f",
         (double)m.lag * 1000.0 / rate, m.correlation,
         (double)ws.samples / RATE_IN, (double)wh.samples / RATE_IN,
         a.envelope ? "envelope" : "wave", a.window_ms, rms_of(&wh));
  if (a.segment_ms > 0) {
    size_t seg = (size_t)((double)a.segment_ms * rate / 1000.0);
    long search = (long)((double)a.search_ms * rate / 1000.0);
    segments g = match_segments(&s, &h, m.lag, seg, search);
    printf(", \"segment_ms\": %ld, \"segment_correlation\": %.4f, "
           "\"segments\": %zu, \"lag_min_ms\": %.3f, \"lag_max_ms\": %.3f",
           a.segment_ms, g.correlation, g.used,
           (double)g.lag_min * 1000.0 / rate,
           (double)g.lag_max * 1000.0 / rate);
  }
  printf("}\n");

  free(s.x); free(h.x); free(ws.pcm); free(wh.pcm);
  return 0;
}
