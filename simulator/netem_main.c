/* parley-netem: an impairment relay between real peers.
 *
 *   parley-netem [--udp LISTEN=TARGET]... [--tcp LISTEN=TARGET]...
 *                [--control HOST:PORT|unix:PATH] [--seed N]
 *                [--dir up|down|both] [fault flags...]
 *                [--log-level L] [--log-json] [--allow-nonlocal]
 *   parley-netem --help | -h | --version
 *
 * Start-up: parse every flag (fault flags go through the same table as
 * the control interface's `set`), open the relays and the control
 * interface, print one line per listening address and then `ready` on
 * standard output, and run the event loop until SIGINT or SIGTERM, then
 * close everything and exit 0. Bad flags: a message naming the flag,
 * exit 2. A relay that cannot listen: exit 1.
 *
 * Addresses must be loopback unless --allow-nonlocal is given; the
 * control interface, which takes no password, is loopback only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "netem.h"

#define NETEM_VERSION "0.1.0"
#define EXIT_USAGE 2

typedef struct relay_spec {
  bool tcp;
  const char *flag_value;
  netem_addr listen, target;
} relay_spec;

typedef struct options {
  relay_spec relays[2 * NETEM_RELAYS_MAX];
  int n_relays;
  const char *control;
  bool seed_given;
  bool allow_nonlocal;
  bool log_json;
  parley_log_level log_level;
  int dir;
} options;

static const char usage_head[] =
  "usage: parley-netem [--udp LISTEN=TARGET]... [--tcp LISTEN=TARGET]...\n"
  "                    [--control HOST:PORT|unix:PATH] [--seed N]\n"
  "                    [--dir up|down|both] [fault flags...]\n"
  "       parley-netem --help | -h | --version\n"
  "\n"
  "Relays datagrams (--udp) and connections (--tcp) from LISTEN to\n"
  "TARGET (both HOST:PORT; port 0 picks a free one) and back, with the\n"
  "faults below. Up is toward TARGET, down back; fault flags apply to\n"
  "both unless a --dir before them says otherwise.\n"
  "\n"
  "Options:\n"
  "  --udp LISTEN=TARGET            a UDP relay (may be repeated)\n"
  "  --tcp LISTEN=TARGET            a TCP relay (may be repeated)\n"
  "  --control HOST:PORT|unix:PATH  the control interface (loopback)\n"
  "  --seed N                       the seed of every random decision\n"
  "                                 (default: a random one, printed)\n"
  "  --dir up|down|both             direction of the fault flags after\n"
  "                                 it (default both)\n"
  "  --log-level L                  debug, info (default), warn, error\n"
  "  --log-json                     log lines as JSON\n"
  "  --allow-nonlocal               allow addresses off loopback\n"
  "\n"
  "Faults (durations need a unit: 50ms, 1.5s; probabilities a %):\n";

static const char usage_tail[] =
  "\n"
  "On start it prints `parley-netem seed N`, one line per listening\n"
  "address (`parley-netem udp LISTEN -> TARGET`, `... tcp ...`,\n"
  "`... control ADDRESS`) and `parley-netem ready`. The control\n"
  "interface takes `set [up|down] KEY VALUE` with the keys above, and\n"
  "show, reset, blackhole on|off, stall, partition, rst, stats, seed,\n"
  "help, quit (see NETEM.md).\n";

static void print_help(void)
{
  netem_buf b = {0};

  netem_faults_help(&b);
  fputs(usage_head, stdout);
  if (b.data != NULL)
    fputs(b.data, stdout);
  fputs(usage_tail, stdout);
  netem_buf_free(&b);
}

static int usage_error(const char *flag, const char *why)
{
  fprintf(stderr, "parley-netem: %s: %s\n", flag, why);
  fprintf(stderr, "try parley-netem --help\n");
  return EXIT_USAGE;
}

/* LISTEN=TARGET of --udp or --tcp. Returns 0 or an exit status. */
static int parse_relay(options *o, const char *flag, const char *value)
{
  relay_spec *r = &o->relays[o->n_relays];
  char buf[256], err[192];
  char *eq;

  if (o->n_relays == 2 * NETEM_RELAYS_MAX)
    return usage_error(flag, "too many relays");
  if (strlen(value) >= sizeof buf || (eq = strchr(value, '=')) == NULL)
    return usage_error(flag, "expected LISTEN=TARGET, e.g. "
                             "127.0.0.1:9000=127.0.0.1:9001");
  strcpy(buf, value);
  buf[eq - value] = '\0';
  if (netem_addr_parse(buf, &r->listen, err, sizeof err) != 0 ||
      netem_addr_parse(buf + (eq - value) + 1, &r->target, err,
                       sizeof err) != 0)
    return usage_error(flag, err);
  r->tcp = strcmp(flag, "--tcp") == 0;
  r->flag_value = value;
  o->n_relays++;
  return 0;
}

/* One flag that takes a value. Returns 0 or an exit status. */
static int parse_valued(options *o, netem_ctx *ctx, const char *flag,
                        const char *value)
{
  const char *name = flag + 2;
  char err[256];

  if (strcmp(flag, "--udp") == 0 || strcmp(flag, "--tcp") == 0)
    return parse_relay(o, flag, value);
  if (strcmp(flag, "--control") == 0) {
    o->control = value;
  } else if (strcmp(flag, "--seed") == 0) {
    if (netem_parse_u64(value, &ctx->seed) != 0)
      return usage_error(flag, "expected a number (decimal or 0x hex)");
    o->seed_given = true;
  } else if (strcmp(flag, "--dir") == 0) {
    if (strcmp(value, "up") == 0)
      o->dir = NETEM_UP;
    else if (strcmp(value, "down") == 0)
      o->dir = NETEM_DOWN;
    else if (strcmp(value, "both") == 0)
      o->dir = NETEM_BOTH;
    else
      return usage_error(flag, "expected up, down or both");
  } else if (strcmp(flag, "--log-level") == 0) {
    if (!plog_level_parse(value, &o->log_level))
      return usage_error(flag, "expected debug, info, warn or error");
  } else if (netem_faults_known(name)) {
    if (netem_faults_set(&ctx->faults, o->dir, name, value, ctx->start_ns,
                         err, sizeof err) != 0)
      return usage_error(flag, err);
  } else {
    return usage_error(flag, "unknown flag");
  }
  return 0;
}

/* Parses argv into o and ctx. Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, options *o, netem_ctx *ctx)
{
  for (int i = 1; i < argc; i++) {
    char flag[64];
    const char *arg = argv[i], *value, *eq = strchr(arg, '=');
    int rc;

    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      print_help();
      return 0;
    }
    if (strcmp(arg, "--version") == 0) {
      printf("parley-netem %s\n", NETEM_VERSION);
      return 0;
    }
    if (strcmp(arg, "--allow-nonlocal") == 0 ||
        strcmp(arg, "--log-json") == 0) {
      *(arg[2] == 'a' ? &o->allow_nonlocal : &o->log_json) = true;
      continue;
    }
    if (strncmp(arg, "--", 2) != 0 || strlen(arg) >= sizeof flag)
      return usage_error(arg, "not a flag");
    snprintf(flag, sizeof flag, "%.*s",
             eq ? (int)(eq - arg) : (int)strlen(arg), arg);
    value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (value == NULL)
      return usage_error(flag, "needs a value");
    rc = parse_valued(o, ctx, flag, value);
    if (rc != 0)
      return rc;
  }
  if (o->n_relays == 0)
    return usage_error("--udp/--tcp", "give at least one relay");
  return -1;
}

/* Refuses addresses off loopback unless allowed. Returns 0 or 2. */
static int check_local(const options *o)
{
  for (int i = 0; i < o->n_relays && !o->allow_nonlocal; i++) {
    const relay_spec *r = &o->relays[i];

    if (!netem_addr_is_loopback(&r->listen) ||
        !netem_addr_is_loopback(&r->target))
      return usage_error(r->tcp ? "--tcp" : "--udp",
                         "an address off loopback needs "
                         "--allow-nonlocal");
  }
  return 0;
}

/* Opens every relay and prints its line. Returns 0 or -1 (message
 * printed). */
static int open_relays(const options *o, netem_ctx *ctx, netem_buf *lines)
{
  char err[256];

  for (int i = 0; i < o->n_relays; i++) {
    const relay_spec *r = &o->relays[i];

    if (r->tcp) {
      netem_tcp *t = netem_tcp_open(ctx, ctx->n_tcp, &r->listen, &r->target,
                                    err, sizeof err);

      if (t == NULL)
        goto fail;
      ctx->tcp[ctx->n_tcp++] = t;
      netem_buf_printf(lines, "parley-netem ");
      netem_tcp_describe(t, lines);
    } else {
      netem_udp *u = netem_udp_open(ctx, ctx->n_udp, &r->listen, &r->target,
                                    err, sizeof err);

      if (u == NULL)
        goto fail;
      ctx->udp[ctx->n_udp++] = u;
      netem_buf_printf(lines, "parley-netem ");
      netem_udp_describe(u, lines);
    }
    netem_buf_printf(lines, "\n");
    continue;
  fail:
    fprintf(stderr, "parley-netem: %s %s: %s\n", r->tcp ? "--tcp" : "--udp",
            r->flag_value, err);
    return -1;
  }
  return 0;
}

static void close_all(netem_ctx *ctx, netem_ctl *ctl)
{
  netem_ctl_close(ctl);
  for (int i = 0; i < ctx->n_udp; i++)
    netem_udp_close(ctx->udp[i]);
  for (int i = 0; i < ctx->n_tcp; i++)
    netem_tcp_close(ctx->tcp[i]);
  ctx->n_udp = ctx->n_tcp = 0;
}

/* Opens everything, prints the addresses, runs the loop. Returns the
 * exit status. */
static int run(const options *o, netem_ctx *ctx)
{
  netem_buf lines = {0};
  netem_ctl *ctl = NULL;
  char err[256];
  int rc = 1;

  if (netem_loop_init() != 0) {
    fprintf(stderr, "parley-netem: event loop: %s\n", strerror(errno));
    return 1;
  }
  netem_buf_printf(&lines, "parley-netem seed %llu\n",
                   (unsigned long long)ctx->seed);
  if (open_relays(o, ctx, &lines) != 0)
    goto out_close;
  if (o->control != NULL) {
    ctl = netem_ctl_open(ctx, o->control, err, sizeof err);
    if (ctl == NULL) {
      fprintf(stderr, "parley-netem: --control: %s\n", err);
      rc = EXIT_USAGE;
      goto out_close;
    }
    netem_buf_printf(&lines, "parley-netem ");
    netem_ctl_describe(ctl, &lines);
    netem_buf_printf(&lines, "\n");
  }
  netem_buf_printf(&lines, "parley-netem ready\n");
  fputs(lines.data, stdout);
  fflush(stdout);
  plog_info(0, "running with seed %llu", (unsigned long long)ctx->seed);
  rc = netem_loop_run() == 0 ? 0 : 1;
  plog_info(0, "stopping");
out_close:
  close_all(ctx, ctl);
  netem_loop_free();
  netem_buf_free(&lines);
  return rc;
}

int main(int argc, char **argv)
{
  static options o;
  static netem_ctx ctx;
  int rc;

  o.dir = NETEM_BOTH;
  o.log_level = PARLEY_LOG_INFO;
  ctx.start_ns = netem_now_ns();
  netem_faults_init(&ctx.faults);
  rc = parse_args(argc, argv, &o, &ctx);
  if (rc >= 0)
    return rc;
  rc = check_local(&o);
  if (rc != 0)
    return rc;
  if (!o.seed_given &&
      getrandom(&ctx.seed, sizeof ctx.seed, 0) != sizeof ctx.seed)
    ctx.seed = (uint64_t)ctx.start_ns;
  plog_setup(o.log_level, o.log_json);
  return run(&o, &ctx);
}
