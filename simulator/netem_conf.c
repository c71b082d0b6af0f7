/* The fault settings of parley-netem: one table of keys serves the
 * command-line flags (`--delay 50ms`), the control interface (`set delay
 * 50ms`), `show` and `--help`, so the three cannot drift apart.
 *
 * Values are written as Linux tc and netem users write them: durations
 * with a unit (50ms, 1.5s, 200us), probabilities as percentages (5%),
 * rates in tc's units (kbit = 1000 bit/s, kbps = 1000 bytes/s) and sizes
 * in bytes with k or m for 1024 and 1024 * 1024. A bare number is taken
 * only where it cannot be misread: 0 anywhere, and sizes in bytes.
 *
 * Keys are per direction (up: from the peer that connected to the relay
 * toward the target; down: back) unless the table says otherwise;
 * schedules (partition, stall) and reset-after apply to both. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "netem.h"

#define DEFAULT_REORDER_HOLD_NS (20 * NETEM_NS_PER_MS)
#define DEFAULT_QUEUE_LIMIT_BYTES (256 * 1024)
#define MIN_BURST_BYTES 1514.0
#define BURST_TIME_S 0.02
#define HELP_COLUMN 33
#define HELP_WIDTH 78

typedef enum value_kind {
  V_DURATION,
  V_PERCENT,
  V_RATE,
  V_SIZE,
  V_DIST,
  V_SWITCH,
  V_LOSS,
  V_GEMODEL,
  V_WINDOWS,
  V_EVERY
} value_kind;

typedef struct fault_key {
  const char *name;
  const char *alias; /* the toxiproxy or tc word for it, or NULL */
  value_kind kind;
  bool per_dir;
  size_t off; /* in netem_dir_faults when per_dir, else in netem_faults */
  const char *arg;
  const char *help;
} fault_key;

#define D_(field) true, offsetof(netem_dir_faults, field)
#define G_(field) false, offsetof(netem_faults, field)

static const fault_key keys[] = {
  {"delay", "latency", V_DURATION, D_(delay_ns), "DURATION",
   "fixed delay of every datagram and every chunk read"},
  {"jitter", NULL, V_DURATION, D_(jitter_ns), "DURATION",
   "random spread of the delay (see --distribution)"},
  {"distribution", NULL, V_DIST, D_(dist), "NAME",
   "uniform (delay +/- jitter), normal (sd jitter), pareto,\n"
   "paretonormal (sd jitter, long tail of late ones)"},
  {"loss", NULL, V_LOSS, D_(loss), "PERCENT",
   "UDP: drop each datagram with this probability"},
  {"loss-gemodel", NULL, V_GEMODEL, D_(ge_p), "P[,R[,1-H[,1-K]]]",
   "UDP: Gilbert-Elliott bursty loss, as netem's gemodel: P good to\n"
   "bad, R bad to good (default 100%-P), loss 1-H in bad (100%),\n"
   "1-K in good (0%)"},
  {"reorder", NULL, V_PERCENT, D_(reorder), "PERCENT",
   "UDP: hold this share of datagrams back by --reorder-hold"},
  {"reorder-hold", NULL, V_DURATION, D_(reorder_hold_ns), "DURATION",
   "UDP: extra delay of a reordered datagram (20ms)"},
  {"duplicate", NULL, V_PERCENT, D_(duplicate), "PERCENT",
   "UDP: send this share of datagrams twice"},
  {"corrupt", NULL, V_PERCENT, D_(corrupt), "PERCENT",
   "UDP: flip one random bit in this share of datagrams"},
  {"rate", "bandwidth", V_RATE, D_(rate_bytes_s), "RATE",
   "bandwidth limit, a token bucket: 256kbit, 2mbit, 100kbps;\n"
   "UDP: one bucket per relay direction; TCP: one per connection\n"
   "direction"},
  {"burst", NULL, V_SIZE, D_(burst_bytes), "SIZE",
   "token bucket size (default: 20ms at the rate, >= 1514)"},
  {"queue-limit", "limit", V_SIZE, D_(queue_limit_bytes), "SIZE",
   "UDP: bytes waiting for the rate; more are dropped (256k)"},
  {"slice", NULL, V_SIZE, D_(slice_bytes), "SIZE",
   "TCP: write in pieces of this average size"},
  {"slice-variation", NULL, V_SIZE, D_(slice_variation_bytes), "SIZE",
   "TCP: pieces vary by up to this many bytes"},
  {"slice-gap", NULL, V_DURATION, D_(slice_gap_ns), "DURATION",
   "TCP: pause between two pieces"},
  {"blackhole", NULL, V_SWITCH, D_(blackhole), "on|off",
   "forward nothing: UDP drops what arrives; TCP reads and discards\n"
   "while the connections stay open (a connection that lost bytes\n"
   "stays silent for good)"},
  {"partition", NULL, V_WINDOWS, G_(partition), "START:LEN[,...]",
   "windows (from now) in which nothing crosses: UDP drops,\n"
   "TCP holds everything as a stall does"},
  {"partition-every", NULL, V_EVERY, G_(partition), "PERIOD:LEN",
   "a partition of LEN once every PERIOD"},
  {"stall", NULL, V_WINDOWS, G_(stall), "START:LEN[,...]",
   "TCP: windows (from now) in which nothing is forwarded; the\n"
   "data waits, and reading stops once 1 MiB waits"},
  {"stall-every", NULL, V_EVERY, G_(stall), "PERIOD:LEN",
   "TCP: a stall of LEN once every PERIOD"},
  {"reset-after", NULL, V_DURATION, G_(reset_after_ns), "DURATION",
   "TCP: reset (RST) each connection this long after it opened"},
};

#define N_KEYS (sizeof keys / sizeof keys[0])

static const char *const dist_names[] = {"uniform", "normal", "pareto",
                                         "paretonormal"};

void netem_faults_init(netem_faults *f)
{
  memset(f, 0, sizeof *f);
  for (int d = 0; d < 2; d++) {
    f->dir[d].dist = NETEM_DIST_UNIFORM;
    f->dir[d].reorder_hold_ns = DEFAULT_REORDER_HOLD_NS;
    f->dir[d].queue_limit_bytes = DEFAULT_QUEUE_LIMIT_BYTES;
  }
}

static const fault_key *find_key(const char *name)
{
  for (size_t i = 0; i < N_KEYS; i++) {
    if (strcmp(keys[i].name, name) == 0 ||
        (keys[i].alias != NULL && strcmp(keys[i].alias, name) == 0))
      return &keys[i];
  }
  return NULL;
}

bool netem_faults_known(const char *key)
{
  return find_key(key) != NULL;
}

/* ---- value parsers ---------------------------------------------------- */

/* A finite non-negative number at the start of text; *rest points after
 * it. Returns 0 or -1. */
static int parse_number(const char *text, double *out, const char **rest)
{
  char *end;

  if (!isdigit((unsigned char)text[0]) && text[0] != '.')
    return -1;
  errno = 0;
  *out = strtod(text, &end);
  if (errno != 0 || end == text || !isfinite(*out) || *out < 0)
    return -1;
  *rest = end;
  return 0;
}

typedef struct unit {
  const char *name;
  double scale;
} unit;

/* number * the scale of its unit (case-insensitive), or -1 when the unit
 * is unknown. A bare number takes `bare` as its scale; bare < 0: a
 * bare number other than 0 is refused. */
static int parse_scaled(const char *text, const unit *units, double bare,
                        double *out)
{
  const char *rest;
  double v;

  if (parse_number(text, &v, &rest) != 0)
    return -1;
  if (*rest == '\0') {
    if (bare < 0 && v != 0)
      return -1;
    *out = v * (bare < 0 ? 0 : bare);
    return 0;
  }
  for (const unit *u = units; u->name != NULL; u++) {
    if (strcasecmp(rest, u->name) == 0) {
      *out = v * u->scale;
      return 0;
    }
  }
  return -1;
}

static const unit time_units[] = {
  {"ns", 1}, {"us", 1e3}, {"usec", 1e3}, {"ms", 1e6}, {"msec", 1e6},
  {"s", 1e9}, {"sec", 1e9}, {"secs", 1e9}, {"min", 60e9}, {NULL, 0}};

int netem_parse_duration(const char *text, int64_t *out_ns)
{
  double ns;

  if (parse_scaled(text, time_units, -1, &ns) != 0 || ns > 1e17)
    return -1;
  *out_ns = (int64_t)llround(ns);
  return 0;
}

int netem_parse_u64(const char *text, uint64_t *out)
{
  char *end;
  unsigned long long v;

  if (!isdigit((unsigned char)text[0]))
    return -1;
  errno = 0;
  v = strtoull(text, &end, 0);
  if (errno != 0 || *end != '\0')
    return -1;
  *out = v;
  return 0;
}

static int parse_percent(const char *text, double *out)
{
  static const unit pct[] = {{"%", 0.01}, {NULL, 0}};
  double p;

  if (parse_scaled(text, pct, -1, &p) != 0 || p > 1.0)
    return -1;
  *out = p;
  return 0;
}

/* A rate in bytes per second. */
static int parse_rate(const char *text, double *out)
{
  static const unit rates[] = {
    {"bit", 1.0 / 8}, {"kbit", 1e3 / 8}, {"mbit", 1e6 / 8},
    {"gbit", 1e9 / 8}, {"bps", 1}, {"kbps", 1e3}, {"mbps", 1e6},
    {"gbps", 1e9}, {NULL, 0}};

  return parse_scaled(text, rates, -1, out);
}

static int parse_size(const char *text, uint64_t *out)
{
  static const unit sizes[] = {
    {"b", 1}, {"k", 1024}, {"kb", 1024}, {"m", 1048576},
    {"mb", 1048576}, {NULL, 0}};
  double v;

  if (parse_scaled(text, sizes, 1, &v) != 0 || v > 1e15 ||
      v != floor(v))
    return -1;
  *out = (uint64_t)v;
  return 0;
}

/* START:LEN, both durations, LEN > 0. */
static int parse_window(const char *text, int64_t *start, int64_t *len)
{
  char buf[64];
  char *colon;

  if (strlen(text) >= sizeof buf)
    return -1;
  strcpy(buf, text);
  colon = strchr(buf, ':');
  if (colon == NULL)
    return -1;
  *colon = '\0';
  if (netem_parse_duration(buf, start) != 0 ||
      netem_parse_duration(colon + 1, len) != 0 || *len <= 0)
    return -1;
  return 0;
}

static bool is_off(const char *text)
{
  return strcmp(text, "off") == 0 || strcmp(text, "none") == 0;
}

static int set_windows(netem_schedule *s, const char *text, int64_t now,
                       char *err, size_t err_len)
{
  netem_schedule tmp = *s;
  char buf[1024];
  char *save = NULL;

  tmp.n = 0;
  tmp.list_base_ns = now;
  if (!is_off(text)) {
    if (strlen(text) >= sizeof buf)
      goto bad;
    strcpy(buf, text);
    for (char *w = strtok_r(buf, ",", &save); w != NULL;
         w = strtok_r(NULL, ",", &save)) {
      if (tmp.n == NETEM_WINDOWS_MAX) {
        snprintf(err, err_len, "at most %d windows", NETEM_WINDOWS_MAX);
        return -1;
      }
      if (parse_window(w, &tmp.start_ns[tmp.n], &tmp.len_ns[tmp.n]) != 0)
        goto bad;
      tmp.n++;
    }
    if (tmp.n == 0)
      goto bad;
  }
  *s = tmp;
  return 0;

bad:
  snprintf(err, err_len, "not START:LENGTH[,START:LENGTH...] (e.g. "
           "2s:500ms,10s:1s) or off");
  return -1;
}

static int set_every(netem_schedule *s, const char *text, int64_t now,
                     char *err, size_t err_len)
{
  int64_t period, len;

  if (is_off(text)) {
    s->every_ns = 0;
    return 0;
  }
  if (parse_window(text, &period, &len) != 0 || len >= period) {
    snprintf(err, err_len, "not PERIOD:LENGTH with LENGTH shorter than "
             "PERIOD (e.g. 10s:1s) or off");
    return -1;
  }
  s->every_base_ns = now;
  s->every_ns = period;
  s->every_len_ns = len;
  return 0;
}

/* P[,R[,1-H[,1-K]]] as netem's gemodel, with its defaults. */
static int set_gemodel(netem_dir_faults *d, const char *text, char *err,
                       size_t err_len)
{
  double v[4] = {0, -1, 1.0, 0.0};
  char buf[128];
  char *save = NULL;
  int n = 0;

  if (is_off(text)) {
    if (d->loss_model == NETEM_LOSS_GEMODEL)
      d->loss_model = NETEM_LOSS_NONE;
    return 0;
  }
  if (strlen(text) >= sizeof buf)
    goto bad;
  strcpy(buf, text);
  for (char *p = strtok_r(buf, ",", &save); p != NULL;
       p = strtok_r(NULL, ",", &save)) {
    if (n == 4 || parse_percent(p, &v[n]) != 0)
      goto bad;
    n++;
  }
  if (n == 0)
    goto bad;
  d->ge_p = v[0];
  d->ge_r = v[1] >= 0 ? v[1] : 1.0 - v[0];
  d->ge_1h = v[2];
  d->ge_1k = v[3];
  d->loss_model = NETEM_LOSS_GEMODEL;
  return 0;

bad:
  snprintf(err, err_len, "not P[,R[,1-H[,1-K]]] in percent (e.g. "
           "1%%,25%%,100%%,0%%) or off");
  return -1;
}

/* ---- setting ---------------------------------------------------------- */

/* Parses a per-direction value of key k into d. Returns 0 or -1. */
static int set_dir_value(const fault_key *k, netem_dir_faults *d,
                         const char *value, char *err, size_t err_len)
{
  void *field = (char *)d + k->off;
  const char *want = NULL;

  switch (k->kind) {
  case V_DURATION:
    if (netem_parse_duration(value, (int64_t *)field) != 0)
      want = "a duration with a unit (e.g. 50ms, 1.5s, 200us)";
    break;
  case V_PERCENT:
    if (parse_percent(value, (double *)field) != 0)
      want = "a percentage from 0% to 100% (e.g. 5%, 0.5%)";
    break;
  case V_LOSS:
    if (parse_percent(value, &d->loss) != 0)
      want = "a percentage from 0% to 100% (e.g. 5%, 0.5%)";
    else
      d->loss_model = d->loss > 0 ? NETEM_LOSS_RANDOM : NETEM_LOSS_NONE;
    break;
  case V_RATE:
    if (parse_rate(value, (double *)field) != 0)
      want = "a rate with a unit (e.g. 256kbit, 2mbit, 100kbps) or 0";
    break;
  case V_SIZE:
    if (parse_size(value, (uint64_t *)field) != 0)
      want = "a size in bytes, or with k or m (e.g. 1500, 64k)";
    break;
  case V_SWITCH:
    if (strcmp(value, "on") == 0 || strcmp(value, "off") == 0)
      *(bool *)field = strcmp(value, "on") == 0;
    else
      want = "on or off";
    break;
  case V_DIST:
    want = "uniform, normal, pareto or paretonormal";
    for (int i = 0; i < 4; i++) {
      if (strcmp(value, dist_names[i]) == 0) {
        *(netem_dist *)field = (netem_dist)i;
        want = NULL;
      }
    }
    break;
  case V_GEMODEL:
    return set_gemodel(d, value, err, err_len);
  default:
    want = "a value";
  }
  if (want != NULL) {
    snprintf(err, err_len, "\"%s\" is not %s", value, want);
    return -1;
  }
  return 0;
}

static int set_global_value(const fault_key *k, netem_faults *f,
                            const char *value, int64_t now, char *err,
                            size_t err_len)
{
  void *field = (char *)f + k->off;

  switch (k->kind) {
  case V_WINDOWS:
    return set_windows(field, value, now, err, err_len);
  case V_EVERY:
    return set_every(field, value, now, err, err_len);
  case V_DURATION:
    if (netem_parse_duration(value, field) == 0)
      return 0;
    snprintf(err, err_len, "\"%s\" is not a duration with a unit (e.g. "
             "50ms, 1.5s)", value);
    return -1;
  default:
    snprintf(err, err_len, "not settable");
    return -1;
  }
}

int netem_faults_set(netem_faults *f, int dir, const char *key,
                     const char *value, int64_t now_ns, char *err,
                     size_t err_len)
{
  const fault_key *k = find_key(key);
  netem_dir_faults tmp;

  if (k == NULL) {
    snprintf(err, err_len, "unknown fault \"%s\"", key);
    return -1;
  }
  if (!k->per_dir) {
    if (dir != NETEM_BOTH) {
      snprintf(err, err_len, "%s applies to both directions", k->name);
      return -1;
    }
    return set_global_value(k, f, value, now_ns, err, err_len);
  }
  for (int d = 0; d < 2; d++) {
    if (dir != NETEM_BOTH && dir != d)
      continue;
    tmp = f->dir[d];
    if (set_dir_value(k, &tmp, value, err, err_len) != 0)
      return -1;
    f->dir[d] = tmp;
  }
  return 0;
}

double netem_burst_bytes(const netem_dir_faults *d)
{
  double b = d->rate_bytes_s * BURST_TIME_S;

  if (d->burst_bytes > 0)
    return (double)d->burst_bytes;
  return b > MIN_BURST_BYTES ? b : MIN_BURST_BYTES;
}

/* ---- schedules -------------------------------------------------------- */

/* The latest end of the windows open at t, or t when none is. */
static int64_t window_end_at(const netem_schedule *s, int64_t t)
{
  int64_t end = t, rel = t - s->list_base_ns;

  if (s->manual_until_ns > t)
    end = s->manual_until_ns;
  for (int i = 0; i < s->n; i++) {
    int64_t a = s->start_ns[i], b = a + s->len_ns[i];

    if (rel >= a && rel < b && s->list_base_ns + b > end)
      end = s->list_base_ns + b;
  }
  rel = t - s->every_base_ns;
  if (s->every_ns > 0 && rel >= s->every_ns &&
      rel % s->every_ns < s->every_len_ns) {
    int64_t b = t - rel % s->every_ns + s->every_len_ns;

    if (b > end)
      end = b;
  }
  return end;
}

bool netem_schedule_active(const netem_schedule *s, int64_t now_ns)
{
  return window_end_at(s, now_ns) > now_ns;
}

int64_t netem_schedule_end(const netem_schedule *s, int64_t now_ns)
{
  int64_t t = now_ns;

  /* Windows may touch or overlap: follow them to the first gap. */
  for (int guard = 0; guard < 4 * NETEM_WINDOWS_MAX; guard++) {
    int64_t end = window_end_at(s, t);

    if (end <= t || end == NETEM_NEVER)
      return end <= t ? t : end;
    t = end;
  }
  return t;
}

/* ---- show and help ---------------------------------------------------- */

static void format_duration(char *out, size_t cap, int64_t ns)
{
  if (ns % NETEM_NS_PER_MS == 0)
    snprintf(out, cap, "%lldms", (long long)(ns / NETEM_NS_PER_MS));
  else
    snprintf(out, cap, "%gms", (double)ns / 1e6);
}

static void format_windows(char *out, size_t cap, const netem_schedule *s)
{
  size_t len = 0;
  char a[32], b[32];

  if (s->n == 0) {
    snprintf(out, cap, "off");
    return;
  }
  out[0] = '\0';
  for (int i = 0; i < s->n && len < cap; i++) {
    format_duration(a, sizeof a, s->start_ns[i]);
    format_duration(b, sizeof b, s->len_ns[i]);
    len += (size_t)snprintf(out + len, cap - len, "%s%s:%s",
                            i ? "," : "", a, b);
  }
}

/* The value of key k in f (direction d for per-direction keys). */
static void format_value(char *out, size_t cap, const fault_key *k,
                         const netem_faults *f, int d)
{
  const void *field = k->per_dir ? (const char *)&f->dir[d] + k->off
                                 : (const char *)f + k->off;
  const netem_dir_faults *df = &f->dir[d];
  const netem_schedule *s = field;
  char a[32], b[32];

  switch (k->kind) {
  case V_DURATION:
    format_duration(out, cap, *(const int64_t *)field);
    break;
  case V_PERCENT:
    snprintf(out, cap, "%g%%", *(const double *)field * 100);
    break;
  case V_LOSS:
    snprintf(out, cap, "%g%%",
             df->loss_model == NETEM_LOSS_RANDOM ? df->loss * 100 : 0.0);
    break;
  case V_GEMODEL:
    if (df->loss_model != NETEM_LOSS_GEMODEL)
      snprintf(out, cap, "off");
    else
      snprintf(out, cap, "%g%%,%g%%,%g%%,%g%%", df->ge_p * 100,
               df->ge_r * 100, df->ge_1h * 100, df->ge_1k * 100);
    break;
  case V_RATE:
    if (*(const double *)field > 0)
      snprintf(out, cap, "%gkbit", *(const double *)field * 8 / 1000);
    else
      snprintf(out, cap, "0");
    break;
  case V_SIZE:
    snprintf(out, cap, "%llu", (unsigned long long)*(const uint64_t *)field);
    break;
  case V_DIST:
    snprintf(out, cap, "%s", dist_names[*(const netem_dist *)field]);
    break;
  case V_SWITCH:
    snprintf(out, cap, "%s", *(const bool *)field ? "on" : "off");
    break;
  case V_WINDOWS:
    format_windows(out, cap, s);
    break;
  case V_EVERY:
    format_duration(a, sizeof a, s->every_ns);
    format_duration(b, sizeof b, s->every_len_ns);
    snprintf(out, cap, "%s", s->every_ns ? a : "off");
    if (s->every_ns)
      snprintf(out + strlen(out), cap - strlen(out), ":%s", b);
    break;
  }
}

void netem_faults_show(const netem_faults *f, netem_buf *out)
{
  char up[256], down[256];

  for (size_t i = 0; i < N_KEYS; i++) {
    format_value(up, sizeof up, &keys[i], f, NETEM_UP);
    if (!keys[i].per_dir) {
      netem_buf_printf(out, "%s %s\n", keys[i].name, up);
      continue;
    }
    format_value(down, sizeof down, &keys[i], f, NETEM_DOWN);
    if (strcmp(up, down) == 0) {
      netem_buf_printf(out, "%s %s\n", keys[i].name, up);
    } else {
      netem_buf_printf(out, "up %s %s\n", keys[i].name, up);
      netem_buf_printf(out, "down %s %s\n", keys[i].name, down);
    }
  }
}

/* Appends `text` word-wrapped to fit after a HELP_COLUMN indent. */
static void help_wrap(netem_buf *out, const char *text)
{
  int col = HELP_COLUMN;

  while (*text != '\0') {
    int n = (int)strcspn(text, " \n");

    if (col > HELP_COLUMN && col + 1 + n > HELP_WIDTH) {
      netem_buf_printf(out, "\n%*s", HELP_COLUMN, "");
      col = HELP_COLUMN;
    } else if (col > HELP_COLUMN) {
      netem_buf_printf(out, " ");
      col++;
    }
    netem_buf_printf(out, "%.*s", n, text);
    col += n;
    text += n;
    text += strspn(text, " \n");
  }
  netem_buf_printf(out, "\n");
}

void netem_faults_help(netem_buf *out)
{
  for (size_t i = 0; i < N_KEYS; i++) {
    char head[64];

    snprintf(head, sizeof head, "--%s %s", keys[i].name, keys[i].arg);
    netem_buf_printf(out, "  %-*s", HELP_COLUMN - 2, head);
    if (strlen(head) > HELP_COLUMN - 3)
      netem_buf_printf(out, "\n%*s", HELP_COLUMN, "");
    help_wrap(out, keys[i].help);
    if (keys[i].alias != NULL)
      netem_buf_printf(out, "%*s(also --%s)\n", HELP_COLUMN, "",
                       keys[i].alias);
  }
}
