/* parley-sim: the deterministic simulator's command line.
 *
 *   parley-sim [--seed S | --seeds A..B] [--time DURATION]
 *              [--faults swarm|all|none|KIND,...] [--trace] [--last N]
 *              [--db-dir DIR] [--keep-going] [--list-faults]
 *   parley-sim-faults ... --fault NAME|list
 *
 * One seed runs one simulation and prints its trace hash; a range
 * sweeps with a progress line and stops at the first failure (unless
 * --keep-going). Exit 0 when every run held every invariant, 1 when one
 * failed, 2 for bad flags, 3 when a run could not start. The wall clock
 * is read here only, around runs, for the throughput figures; nothing
 * inside a run reads it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "flags.h"
#include "log.h"
#include "sim.h"

#define DEFAULT_TIME_MS 60000
#define DEFAULT_LAST 40

#ifdef PARLEY_FAULTS
#define PROG "parley-sim-faults"
#else
#define PROG "parley-sim"
#endif

typedef struct cli {
  sim_opts o;
  uint64_t first, last;
  bool sweep, keep_going;
  const char *time_arg, *faults_arg, *planted_arg, *db_dir, *scenario_arg;
  sim_scenario scenario;
  char replay[256];
  char db_prefix[512];
} cli;

static const char usage_text[] =
    "usage: parley-sim [flags]\n"
    "  --seed S            run seed S (decimal or 0x hex; default 1)\n"
    "  --seeds A..B        run seeds A to B, with a progress line\n"
    "  --time DURATION     the workload phase in simulated time: 90s,\n"
    "                      1500ms, 2m (default 60s); healing follows\n"
    "  --faults WHICH      swarm (default: each seed draws which kinds are\n"
    "                      on), all, none, or a list such as loss,reset\n"
    "  --list-faults       name the fault kinds\n"
#ifdef PARLEY_FAULTS
    "  --fault NAME        plant server fault NAME (--fault list names\n"
    "                      them)\n"
#endif
    "  --trace             print every event\n"
    "  --last N            events shown when an invariant fails (40)\n"
    "  --db-dir DIR        where each run's database goes (default\n"
    "                      /dev/shm, else $TMPDIR, else /tmp)\n"
    "  --keep-going        a sweep goes on past a failure\n"
    "  --scenario FILE     a fixed world (two devices, one conversation)\n"
    "                      and the steps FILE lists, no drawn faults\n"
    "  -h, --help          show this text\n";

static int bad_flag(const char *flag, const char *why)
{
  return parley_flag_bad(PROG, flag, why);
}

static bool parse_u64(const char *s, uint64_t *out)
{
  char *end;

  bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');

  if (*s == '\0' || *s == '-' || *s == '+' || (hex && s[2] == '\0'))
    return false;
  errno = 0;
  *out = strtoull(s, &end, hex ? 16 : 10);
  return errno == 0 && *end == '\0';
}

/* "A..B" into first and last (inclusive). */
static bool parse_seeds(const char *v, cli *c)
{
  const char *dots = strstr(v, "..");
  char a[32];

  if (!dots || (size_t)(dots - v) >= sizeof a)
    return false;
  memcpy(a, v, (size_t)(dots - v));
  a[dots - v] = '\0';
  return parse_u64(a, &c->first) && parse_u64(dots + 2, &c->last) &&
         c->first <= c->last;
}

/* "90s", "1500ms", "2m" or a bare number of seconds. */
static bool parse_time(const char *v, uint64_t *ms)
{
  char *end;
  double x;

  errno = 0;
  x = strtod(v, &end);
  if (errno || end == v || x <= 0)
    return false;
  if (strcmp(end, "ms") == 0)
    *ms = (uint64_t)x;
  else if (strcmp(end, "s") == 0 || *end == '\0')
    *ms = (uint64_t)(x * 1000);
  else if (strcmp(end, "m") == 0)
    *ms = (uint64_t)(x * 60000);
  else
    return false;
  return *ms >= 1000;
}

static bool parse_faults(const char *v, sim_opts *o)
{
  char list[256], *save = NULL;

  o->mode = SIM_MODE_MASK;
  o->mask = 0;
  if (strcmp(v, "swarm") == 0) {
    o->mode = SIM_MODE_SWARM;
    return true;
  }
  if (strcmp(v, "all") == 0) {
    o->mask = (1u << SIM_F_COUNT) - 1;
    return true;
  }
  if (strcmp(v, "none") == 0)
    return true;
  snprintf(list, sizeof list, "%s", v);
  for (char *t = strtok_r(list, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    int k = sim_fault_by_name(t);
    if (k < 0)
      return false;
    o->mask |= 1u << k;
  }
  return true;
}

#ifdef PARLEY_FAULTS
static int apply_planted(cli *c, const char *v)
{
  if (strcmp(v, "list") == 0) {
    for (int f = PARLEY_FAULT_NONE + 1; f < PARLEY_FAULT_COUNT; f++)
      printf("%-32s %s\n", parley_fault_name((parley_fault)f),
             parley_fault_what((parley_fault)f));
    return 0;
  }
  c->o.planted = (int)parley_fault_by_name(v);
  if (c->o.planted == PARLEY_FAULT_NONE)
    return bad_flag("--fault", "no such fault (--fault list names them)");
  c->planted_arg = v;
  return -1;
}
#endif

static void list_faults(void)
{
  for (int k = 0; k < SIM_F_COUNT; k++)
    printf("%-14s %s\n", sim_fault_name(k), sim_fault_what(k));
}

/* Applies one flag to the cli at ctx (a parley_flag_fn). Returns -1 to
 * go on, or an exit code. */
static int apply_flag(void *ctx, int opt, const char *flag, const char *v)
{
  cli *c = ctx;
  uint64_t n;

  switch (opt) {
  case 's':
    if (!parse_u64(v, &c->first))
      return bad_flag(flag, "expected a number");
    c->last = c->first;
    c->sweep = false;
    return -1;
  case 'S':
    c->sweep = true;
    return parse_seeds(v, c) ? -1 : bad_flag(flag, "expected A..B, A <= B");
  case 't':
    c->time_arg = v;
    return parse_time(v, &c->o.time_ms) ? -1
           : bad_flag(flag, "expected a duration of 1s or more: 90s, 2m");
  case 'f':
    c->faults_arg = v;
    return parse_faults(v, &c->o) ? -1
           : bad_flag(flag, "expected swarm, all, none or fault kinds "
                            "(--list-faults)");
  case 'T':
    c->o.trace = true;
    return -1;
  case 'n':
    if (!parse_u64(v, &n) || n == 0 || n > 100000)
      return bad_flag(flag, "expected a number from 1 to 100000");
    c->o.last_n = (size_t)n;
    return -1;
  case 'd':
    c->db_dir = v;
    return -1;
  case 'k':
    c->keep_going = true;
    return -1;
  case 'L':
    list_faults();
    return 0;
  case 'c':
    if (sim_scenario_load(v, &c->scenario) != 0)
      return 2;
    c->scenario_arg = v;
    c->o.scenario = &c->scenario;
    if (!c->faults_arg) { /* no drawn faults */
      c->o.mode = SIM_MODE_MASK;
      c->o.mask = 0;
    }
    return -1;
#ifdef PARLEY_FAULTS
  case 'F':
    return apply_planted(c, v);
#endif
  default:
    return bad_flag(flag, "unknown flag");
  }
}

static int parse_args(int argc, char **argv, cli *c)
{
  static const struct option longs[] = {
      {"seed", required_argument, NULL, 's'},
      {"seeds", required_argument, NULL, 'S'},
      {"time", required_argument, NULL, 't'},
      {"faults", required_argument, NULL, 'f'},
      {"trace", no_argument, NULL, 'T'},
      {"last", required_argument, NULL, 'n'},
      {"db-dir", required_argument, NULL, 'd'},
      {"keep-going", no_argument, NULL, 'k'},
      {"list-faults", no_argument, NULL, 'L'},
      {"scenario", required_argument, NULL, 'c'},
#ifdef PARLEY_FAULTS
      {"fault", required_argument, NULL, 'F'},
#endif
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int rc = parley_flags_read(argc, argv, longs, PROG, usage_text,
                             apply_flag, c);

  if (rc >= 0)
    return rc;
  if (optind < argc)
    return bad_flag(argv[optind], "unexpected argument");
  return -1;
}

/* ---- running ------------------------------------------------------------ */

static double wall_s(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void faults_text(uint32_t on, char *out, size_t cap)
{
  size_t n = 0;

  out[0] = '\0';
  for (int k = 0; k < SIM_F_COUNT && n + 1 < cap; k++)
    if (on & (1u << k))
      n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "," : "",
                            sim_fault_name(k));
  if (n == 0)
    snprintf(out, cap, "none");
}

static const char *const count_names[] = {
#define SIM_COUNT_NAME_(f, what) what,
    SIM_COUNT_LIST(SIM_COUNT_NAME_)
#undef SIM_COUNT_NAME_
};

/* The counts as an array, in the order of SIM_COUNT_LIST. */
static void counts_values(const sim_counts *n, uint64_t *out)
{
  size_t i = 0;

#define SIM_COUNT_VALUE_(f, what) out[i++] = n->f;
  SIM_COUNT_LIST(SIM_COUNT_VALUE_)
#undef SIM_COUNT_VALUE_
  (void)i;
}

#define COUNT_N (sizeof count_names / sizeof count_names[0])

static void counts_print(const sim_counts *n)
{
  uint64_t v[COUNT_N];

  counts_values(n, v);
  printf("  exercised:");
  for (size_t i = 0; i < COUNT_N; i++)
    printf("%s %llu %s", i ? "," : "", (unsigned long long)v[i],
           count_names[i]);
  printf("\n");
}

static void counts_add(sim_counts *sum, const sim_counts *n)
{
#define SIM_COUNT_ADD_(f, what) sum->f += n->f;
  SIM_COUNT_LIST(SIM_COUNT_ADD_)
#undef SIM_COUNT_ADD_
}

static int run_one(const cli *c)
{
  sim_result r;
  char faults[200];
  double t0 = wall_s(), wall;

  if (sim_run(&c->o, c->first, &r) != 0)
    return 3;
  wall = wall_s() - t0;
  faults_text(r.faults, faults, sizeof faults);
  printf("seed %llu: %s hash %016llx\n", (unsigned long long)c->first,
         r.ok ? "ok" : "FAILED", (unsigned long long)r.hash);
  printf("  faults %s\n  %llu messages, %llu shown, %llu events, "
         "%.1f s simulated, %.3f s wall: %.0f simulated messages per "
         "wall second\n", faults, (unsigned long long)r.msgs,
         (unsigned long long)r.deliveries, (unsigned long long)r.events,
         (double)r.sim_ms / 1000.0, wall,
         wall > 0 ? (double)r.msgs / wall : 0.0);
  counts_print(&r.n);
  return r.ok ? 0 : 1;
}

static void progress(const cli *c, uint64_t seed, uint64_t done,
                     uint64_t msgs, double t0, bool tty)
{
  uint64_t total = c->last - c->first + 1;
  double wall = wall_s() - t0;

  if (!tty && done != total && done % (total / 10 ? total / 10 : 1) != 0)
    return;
  printf("%s[%llu/%llu] seed %llu ok, %llu messages, %.1f s wall, %.0f "
         "messages per wall second%s", tty ? "\r" : "",
         (unsigned long long)done, (unsigned long long)total,
         (unsigned long long)seed, (unsigned long long)msgs, wall,
         wall > 0 ? (double)msgs / wall : 0.0, tty ? "" : "\n");
  fflush(stdout);
}

static int run_sweep(const cli *c)
{
  bool tty = isatty(STDOUT_FILENO);
  uint64_t msgs = 0, failed = 0, done = 0, hash = 0xcbf29ce484222325ull;
  double t0 = wall_s();
  sim_result r;
  sim_counts sum;

  memset(&sum, 0, sizeof sum);
  for (uint64_t seed = c->first; seed <= c->last; seed++) {
    if (sim_run(&c->o, seed, &r) != 0)
      return 3;
    msgs += r.msgs;
    counts_add(&sum, &r.n);
    done++;
    hash = (hash ^ r.hash) * 0x100000001b3ull;
    if (!r.ok) {
      failed++;
      printf("%sseed %llu FAILED: %s (hash %016llx)\n", tty ? "\n" : "",
             (unsigned long long)seed, r.invariant,
             (unsigned long long)r.hash);
      if (!c->keep_going)
        break;
    } else {
      progress(c, seed, done, msgs, t0, tty);
    }
    if (seed == UINT64_MAX)
      break;
  }
  double wall = wall_s() - t0;
  printf("%ssweep %llu..%llu: %llu runs, %llu failed; %llu messages in "
         "%.1f s wall: %.0f simulated messages per wall second; sweep "
         "hash %016llx\n", tty ? "\n" : "", (unsigned long long)c->first,
         (unsigned long long)c->last, (unsigned long long)done,
         (unsigned long long)failed, (unsigned long long)msgs, wall,
         wall > 0 ? (double)msgs / wall : 0.0, (unsigned long long)hash);
  counts_print(&sum);
  return failed ? 1 : 0;
}

/* The default directory for run databases: memory-backed when there is
 * one (commits are not what is measured), else the temporary one. */
static const char *default_db_dir(void)
{
  const char *t = getenv("TMPDIR");

  if (access("/dev/shm", W_OK) == 0)
    return "/dev/shm";
  return t && t[0] ? t : "/tmp";
}

int main(int argc, char **argv)
{
  cli c;
  int rc;

  memset(&c, 0, sizeof c);
  c.first = c.last = 1;
  c.o.time_ms = DEFAULT_TIME_MS;
  c.o.last_n = DEFAULT_LAST;
  if ((rc = parse_args(argc, argv, &c)) >= 0)
    return rc;
  snprintf(c.replay, sizeof c.replay, "%s%s%s%s%s%s%s%s%s", PROG,
           c.scenario_arg ? " --scenario " : "",
           c.scenario_arg ? c.scenario_arg : "",
           c.planted_arg ? " --fault " : "",
           c.planted_arg ? c.planted_arg : "",
           c.faults_arg ? " --faults " : "", c.faults_arg ? c.faults_arg : "",
           c.time_arg ? " --time " : "", c.time_arg ? c.time_arg : "");
  snprintf(c.db_prefix, sizeof c.db_prefix, "%s/parley-sim-%ld",
           c.db_dir ? c.db_dir : default_db_dir(), (long)getpid());
  c.o.db_prefix = c.db_prefix;
  c.o.replay = c.replay;
  plog_setup(PARLEY_LOG_ERROR, false);
  if (sodium_init() < 0) {
    fprintf(stderr, "parley-sim: libsodium failed to start\n");
    return 3;
  }
  rc = c.sweep ? run_sweep(&c) : run_one(&c);
  sim_scenario_free(&c.scenario);
  return rc;
}
