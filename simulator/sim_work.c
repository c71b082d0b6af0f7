/* The world, the workload and the fault schedule of one run.
 *
 * Drawn from the seed: which fault kinds are on (swarm testing: each
 * kind with even odds, unless --faults names them), the fault rates and
 * shapes, 2 to 8 users with 1 to 3 devices each, up to three direct
 * conversations and up to three groups of drawn sizes, each device's
 * network (one-way delay and jitter) and core settings (heartbeat,
 * handshake timeout, backoff cap), and the server's keys.
 *
 * Phases: set-up (the conversations are created through the core's
 * HTTP API, no faults yet); the workload (--time long: each device
 * sends (now and then a burst), reads and now and then quits and
 * restarts its app, each a Poisson process; the enabled faults strike
 * as Poisson processes too);
 * healing (faults off, partitions healed, crashed parts restarted, no
 * new sends), checked every 250 ms until everything settled, when the
 * final checks run; a run that does not settle within HEAL_MAX_MS
 * fails the `converge` invariant. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "sim.h"

#define TOKEN_LIFE_MS (30ull * 24 * 3600 * 1000)
#define START_SPREAD_MS 2000
#define QUIET_EVERY_MS 250
#define HEAL_MAX_MS 120000

static const char *const fault_names[SIM_F_COUNT] = {
#define SIM_FAULT_NAME_(id, name, what) name,
    SIM_FAULT_LIST(SIM_FAULT_NAME_)
#undef SIM_FAULT_NAME_
};

static const char *const fault_whats[SIM_F_COUNT] = {
#define SIM_FAULT_WHAT_(id, name, what) what,
    SIM_FAULT_LIST(SIM_FAULT_WHAT_)
#undef SIM_FAULT_WHAT_
};

const char *sim_fault_name(int kind)
{
  return kind >= 0 && kind < SIM_F_COUNT ? fault_names[kind] : NULL;
}

const char *sim_fault_what(int kind)
{
  return kind >= 0 && kind < SIM_F_COUNT ? fault_whats[kind] : NULL;
}

int sim_fault_by_name(const char *name)
{
  for (int i = 0; i < SIM_F_COUNT; i++)
    if (strcmp(fault_names[i], name) == 0)
      return i;
  return -1;
}

bool sim_member(const sim *s, uint32_t conv, uint32_t user)
{
  for (size_t i = 0; i < s->convs[conv].member_count; i++)
    if (s->convs[conv].members[i] == user)
      return true;
  return false;
}

/* ---- drawing the world ------------------------------------------------ */

static double unit(sim *s)
{
  return sim_rng_unit(&s->rng);
}

static uint64_t range(sim *s, uint64_t lo, uint64_t hi)
{
  return sim_rng_range(&s->rng, lo, hi);
}

static void draw_params(sim *s)
{
  sim_params *p = &s->p;

  for (int k = 0; k < SIM_F_COUNT; k++)
    if (sim_rng_chance(&s->rng, 0.5))
      p->on |= 1u << k;
  if (s->opts->mode == SIM_MODE_MASK)
    p->on = s->opts->mask;
  p->dist = (sim_dist)range(s, 0, 2);
  p->pareto_alpha = 1.5 + 1.5 * unit(s);
  p->ge_p = 0.002 + 0.03 * unit(s);
  p->ge_r = 0.1 + 0.4 * unit(s);
  p->loss_good = 0.02 * unit(s);
  p->loss_bad = 0.2 + 0.4 * unit(s);
  p->reset_every_ms = range(s, 2000, 15000);
  p->partition_every_ms = range(s, 5000, 30000);
  p->partition_max_ms = range(s, 2000, 30000);
  p->path_every_ms = range(s, 3000, 20000);
  p->slow_every_ms = range(s, 5000, 30000);
  p->ccrash_every_ms = range(s, 5000, 30000);
  p->scrash_every_ms = range(s, 8000, 40000);
  p->quit_every_ms = range(s, 20000, 120000);
  p->dup_p = 0.02 + 0.15 * unit(s);
  p->commit_ms = range(s, 1, 4);
  p->stall_p = 0.01 + 0.1 * unit(s);
  p->stall_max_ms = range(s, 50, 1000);
  p->send_every_ms = range(s, 500, 5000);
  p->read_every_ms = range(s, 1000, 10000);
  p->burst_p = 0.05 * unit(s);
  /* Mostly the reference server's rate; now and then a tight one, so
   * clients pace their outbox and retry what was refused. */
  p->rate_per_s = sim_rng_chance(&s->rng, 0.7)
                      ? 200 : (uint32_t)range(s, 20, 60);
  p->rate_burst = 2 * p->rate_per_s;
}

static void draw_device(sim *s, sim_device *d, uint32_t user, uint32_t n)
{
  d->user = user;
  snprintf(d->name, sizeof d->name, "%s-d%u", s->users[user].name,
           (unsigned)n);
  d->removed_intent = SIM_NONE;
  d->owd_ms = range(s, 1, 120);
  d->jitter_ms = range(s, 0, d->owd_ms);
  if (!SIM_FAULT_ON(s, DELAY)) {
    d->owd_ms = 1;
    d->jitter_ms = 0;
  }
  d->heartbeat_ms = (uint32_t)range(s, 2000, 8000);
  d->handshake_ms = (uint32_t)range(s, 3000, 10000);
  d->backoff_cap_ms = (uint32_t)range(s, 1000, 10000);
}

static void draw_people(sim *s)
{
  uint32_t per[SIM_USERS_MAX];

  s->user_count = range(s, 2, SIM_USERS_MAX);
  for (uint32_t u = 0; u < s->user_count; u++) {
    snprintf(s->users[u].name, sizeof s->users[u].name, "u%u", (unsigned)u);
    per[u] = (uint32_t)range(s, 1, SIM_DEVICES_PER_USER_MAX);
    s->users[u].first_dev = (uint32_t)s->dev_count;
    s->users[u].dev_count = per[u];
    s->dev_count += per[u];
  }
  s->devs = calloc(s->dev_count, sizeof *s->devs);
  if (s->devs == NULL)
    abort();
  for (uint32_t u = 0; u < s->user_count; u++) {
    for (uint32_t n = 0; n < per[u]; n++) {
      sim_device *d = &s->devs[s->users[u].first_dev + n];
      d->idx = s->users[u].first_dev + n;
      draw_device(s, d, u, n);
    }
  }
}

/* True when a direct conversation of users a and b was drawn already. */
static bool direct_exists(const sim *s, uint32_t a, uint32_t b)
{
  for (size_t k = 0; k < s->conv_count; k++)
    if (!s->convs[k].group && sim_member(s, (uint32_t)k, a) &&
        sim_member(s, (uint32_t)k, b))
      return true;
  return false;
}

static void draw_direct(sim *s)
{
  uint32_t a = (uint32_t)range(s, 0, s->user_count - 1);
  uint32_t b = (uint32_t)range(s, 0, s->user_count - 2);
  sim_conv *cv = &s->convs[s->conv_count];

  if (b >= a)
    b++;
  if (direct_exists(s, a, b))
    return;
  cv->members[0] = a;
  cv->members[1] = b;
  cv->member_count = 2;
  s->conv_count++;
}

static void draw_group(sim *s)
{
  uint32_t order[SIM_USERS_MAX];
  sim_conv *cv = &s->convs[s->conv_count++];
  size_t size = range(s, 3, s->user_count);

  for (uint32_t u = 0; u < s->user_count; u++)
    order[u] = u;
  for (uint32_t u = (uint32_t)s->user_count - 1; u > 0; u--) {
    uint32_t j = (uint32_t)range(s, 0, u), t = order[u];
    order[u] = order[j];
    order[j] = t;
  }
  cv->group = true;
  for (size_t i = 0; i < size; i++)
    cv->members[i] = order[i];
  cv->member_count = size;
}

static void draw_convs(sim *s)
{
  uint64_t directs = range(s, 0, 3);
  uint64_t groups = s->user_count >= 3 ? range(s, 0, 3) : 0;

  if (directs + groups == 0)
    directs = 1;
  for (uint64_t i = 0; i < directs; i++)
    draw_direct(s);
  for (uint64_t i = 0; i < groups; i++)
    draw_group(s);
}

/* The server's keys and each user's token, from the seed. */
static void draw_keys(sim *s)
{
  unsigned char seed[32];
  parley_server_config *cfg = &s->srv.cfg;

  for (int i = 0; i < 32; i++)
    seed[i] = (unsigned char)sim_rng_next(&s->rng);
  crypto_sign_seed_keypair(cfg->token_public_key, s->srv.token_sk, seed);
  for (int i = 0; i < 32; i++)
    cfg->cursor_key[i] = (unsigned char)sim_rng_next(&s->rng);
  for (uint32_t u = 0; u < s->user_count; u++)
    if (parley_token_issue(s->srv.token_sk, s->users[u].name, s->now,
                           s->now + TOKEN_LIFE_MS, s->users[u].token,
                           sizeof s->users[u].token) != PARLEY_OK)
      abort();
  sodium_memzero(seed, sizeof seed);
}

void sim_world_draw(sim *s)
{
  draw_params(s);
  if (s->opts->scenario) {
    sim_scenario_world(s);
  } else {
    draw_people(s);
    draw_convs(s);
  }
  draw_keys(s);
  sim_at(s, s->now, EV_SETUP, 0, 0, 0);
}

/* ---- phases ------------------------------------------------------------ */

static void next(sim *s, uint64_t mean, uint32_t kind, uint32_t a)
{
  sim_at(s, s->now + sim_rng_exp(&s->rng, mean), kind, a, 0, 0);
}

/* The conversations exist: the devices start, the workload and the
 * faults begin. */
static void begin_workload(sim *s)
{
  s->faults_live = true;
  s->heal_at = s->now + s->opts->time_ms;
  sim_at(s, s->heal_at, EV_HEAL, 0, 0, 0);
  if (s->opts->scenario) {
    sim_scenario_begin(s);
    return;
  }
  for (uint32_t i = 0; i < s->dev_count; i++) {
    sim_at(s, s->now + range(s, 0, START_SPREAD_MS), EV_CLI_START, i, 0, 0);
    next(s, s->p.send_every_ms, EV_SEND, i);
    next(s, s->p.read_every_ms, EV_READ, i);
    next(s, s->p.quit_every_ms, EV_CLI_STOP, i);
  }
  if (SIM_FAULT_ON(s, RESET))
    next(s, s->p.reset_every_ms, EV_RESET, 0);
  if (SIM_FAULT_ON(s, PARTITION))
    next(s, s->p.partition_every_ms, EV_PARTITION, 0);
  if (SIM_FAULT_ON(s, SLOW))
    next(s, s->p.slow_every_ms, EV_SLOW, 0);
  if (SIM_FAULT_ON(s, REORDER))
    next(s, s->p.path_every_ms, EV_PATH, 0);
  if (SIM_FAULT_ON(s, CLIENT_CRASH))
    next(s, s->p.ccrash_every_ms, EV_CLI_CRASH, 0);
  if (SIM_FAULT_ON(s, SERVER_CRASH))
    next(s, s->p.scrash_every_ms, EV_SRV_CRASH, 0);
}

void sim_work_conv_created(sim *s, uint64_t api_id,
                           const parley_conv_info *info)
{
  uint32_t k = (uint32_t)(api_id - 1);

  if (info == NULL || k >= s->conv_count) {
    sim_fail(s, "setup", "the server did not create conversation %u",
             (unsigned)k);
    return;
  }
  snprintf(s->convs[k].id, sizeof s->convs[k].id, "%s", info->id);
  s->convs[k].created = true;
  for (size_t i = 0; i < s->dev_count; i++)
    if (sim_member(s, k, s->devs[i].user))
      s->devs[i].convs[k].known = true; /* as the client's store keeps */
  sim_note_add(s, "conv", SIM_NONE, 0, info->id, strlen(info->id));
  if (--s->srv.api_waiting == 0)
    begin_workload(s);
}

/* The workload ends: faults off, everything down comes back. */
static void heal(sim *s)
{
  sim_note_add(s, "heal", SIM_NONE, 0, "faults off", 10);
  s->faults_live = false;
  sim_srv_heal(s);
  for (uint32_t i = 0; i < s->dev_count; i++) {
    sim_device *d = &s->devs[i];
    d->slow_until = 0;
    if (d->partition_until > s->now) {
      d->partition_until = s->now;
      sim_net_device_healed(s, i);
    }
    if (d->core == NULL)
      sim_cli_start(s, i);
  }
  s->quiet_deadline = s->now + HEAL_MAX_MS;
  sim_at(s, s->now + QUIET_EVERY_MS, EV_QUIET, 0, 0, 0);
}

/* Healing: when nothing is in flight and every device shows what the
 * database holds, the final checks run. */
static void quiet_check(sim *s)
{
  char why[160] = "the server or the network is still busy";
  bool settled = sim_srv_idle(s) && sim_net_idle(s);

  for (uint32_t i = 0; settled && i < s->dev_count; i++)
    settled = sim_cli_settled(s, i, why, sizeof why);
  if (settled) {
    sim_check_final(s);
    s->done = true;
  } else if (s->now >= s->quiet_deadline) {
    sim_fail(s, "converge", "not settled %u s after the faults stopped: "
             "%s", HEAL_MAX_MS / 1000, why);
  } else {
    sim_at(s, s->now + QUIET_EVERY_MS, EV_QUIET, 0, 0, 0);
  }
}

/* ---- faults ----------------------------------------------------------- */

static uint32_t any_device(sim *s)
{
  return (uint32_t)range(s, 0, s->dev_count - 1);
}

static void partition(sim *s)
{
  uint32_t i = any_device(s);
  sim_device *d = &s->devs[i];
  uint64_t len = range(s, 500, s->p.partition_max_ms);
  char text[32];

  next(s, s->p.partition_every_ms, EV_PARTITION, 0);
  if (d->partition_until > s->now)
    return;
  d->partition_until = s->now + len;
  snprintf(text, sizeof text, "%llu ms", (unsigned long long)len);
  sim_note_add(s, "partition", i, 0, text, strlen(text));
  s->n.partitions++;
  sim_at(s, d->partition_until, EV_HEAL_DEV, i, ++d->partition_token, 0);
}

static void slow(sim *s)
{
  uint32_t i = any_device(s);
  sim_device *d = &s->devs[i];
  char text[48];

  next(s, s->p.slow_every_ms, EV_SLOW, 0);
  d->slow_until = s->now + range(s, 2000, 20000);
  d->read_delay_ms = range(s, 20, 400);
  snprintf(text, sizeof text, "%llu ms a frame for %llu ms",
           (unsigned long long)d->read_delay_ms,
           (unsigned long long)(d->slow_until - s->now));
  sim_note_add(s, "slow", i, 0, text, strlen(text));
  s->n.slow++;
}

/* A fault strikes (only while the workload runs). */
static void fault_event(sim *s, const sim_event *ev)
{
  switch (ev->kind) {
  case EV_RESET:
    next(s, s->p.reset_every_ms, EV_RESET, 0);
    sim_net_reset_random(s);
    break;
  case EV_PARTITION:
    partition(s);
    break;
  case EV_SLOW:
    slow(s);
    break;
  case EV_PATH:
    next(s, s->p.path_every_ms, EV_PATH, 0);
    sim_net_path_change(s);
    break;
  case EV_CLI_CRASH:
    next(s, s->p.ccrash_every_ms, EV_CLI_CRASH, 0);
    sim_cli_crash(s, any_device(s), sim_rng_chance(&s->rng, 0.3));
    break;
  case EV_SRV_CRASH:
    next(s, s->p.scrash_every_ms, EV_SRV_CRASH, 0);
    sim_srv_crash(s, sim_rng_chance(&s->rng, 0.5));
    break;
  default:
    break;
  }
}

void sim_work_event(sim *s, const sim_event *ev)
{
  bool working = s->faults_live;

  switch (ev->kind) {
  case EV_SETUP:
    for (uint32_t k = 0; k < s->conv_count; k++)
      sim_srv_create_conv(s, k);
    break;
  case EV_SEND:
    if (working) {
      uint64_t n = sim_rng_chance(&s->rng, s->p.burst_p) ? range(s, 5, 30)
                                                         : 1;
      next(s, s->p.send_every_ms, EV_SEND, ev->a);
      for (uint64_t i = 0; i < n && !s->failed; i++)
        sim_cli_send(s, ev->a);
    }
    break;
  case EV_READ:
    if (working) {
      next(s, s->p.read_every_ms, EV_READ, ev->a);
      sim_cli_read(s, ev->a);
    }
    break;
  case EV_CLI_STOP:
    if (working) {
      next(s, s->p.quit_every_ms, EV_CLI_STOP, ev->a);
      sim_cli_quit(s, ev->a);
    }
    break;
  case EV_HEAL_DEV:
    if (ev->b == s->devs[ev->a].partition_token && working)
      sim_note_add(s, "healed", ev->a, 0, NULL, 0);
    break;
  case EV_HEAL:
    heal(s);
    break;
  case EV_QUIET:
    quiet_check(s);
    break;
  case EV_STEP:
    if (working)
      sim_scenario_step(s, ev);
    break;
  default:
    if (working)
      fault_event(s, ev);
  }
}
