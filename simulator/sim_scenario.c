/* Scenario runs: a world and a list of steps read from a file instead of
 * drawn from the seed (parley-sim --scenario FILE).
 *
 * The world of a scenario is fixed: two users with one device each
 * (device 0 is u0-d0, device 1 is u1-d0), one direct conversation of the
 * two, a one-way delay of 1 ms, no drawn faults. The steps say what
 * happens and when, in simulated milliseconds from the moment the
 * conversation exists, one a line:
 *
 *     # a comment
 *     at 0 send 1                 device 1's user sends a message
 *     at 5 crash before-commit    the server dies right before its next
 *                                 commit (or after-commit, or now)
 *     at 20 reset 0               device 0's connection is reset
 *     at 30 quit 1                device 1's app quits and starts again
 *
 * Everything between the steps is the real cores doing what they do
 * (reconnecting, SYNC from the stored position, resending the outbox);
 * after the last step the run heals and settles as every run does, and
 * the same invariants are checked all along. The seed still feeds the
 * cores and the commit times, so a scenario replays per seed.
 * spec/model/trail2scenario.py writes scenarios from spin trails of the
 * model of the delivery rules (spec section 11.1). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define SCN_DEVICES 2
#define SCN_LINE_MAX 256

static const char *const step_names[] = {
    [SIM_STEP_SEND] = "send", [SIM_STEP_RESET] = "reset",
    [SIM_STEP_QUIT] = "quit", [SIM_STEP_CRASH] = "crash"};

static const char *const crash_names[] = {"now", "before-commit",
                                          "after-commit"};

/* Reads one step, "at MS WHAT ARG", from a line; returns false when the
 * line is not one. */
static bool parse_step(char *line, sim_step *st)
{
  char *save = NULL, *w[5], *end;
  size_t n = 0;

  for (char *t = strtok_r(line, " \t\r\n", &save); t && n < 5;
       t = strtok_r(NULL, " \t\r\n", &save))
    w[n++] = t;
  if (n != 4 || strcmp(w[0], "at") != 0)
    return false;
  st->at_ms = strtoull(w[1], &end, 10);
  if (end == w[1] || *end != '\0')
    return false;
  for (uint32_t k = SIM_STEP_SEND; k <= SIM_STEP_CRASH; k++) {
    if (strcmp(w[2], step_names[k]) != 0)
      continue;
    st->what = k;
    if (k == SIM_STEP_CRASH) {
      for (uint32_t i = 0; i < 3; i++)
        if (strcmp(w[3], crash_names[i]) == 0) {
          st->arg = i;
          return true;
        }
      return false;
    }
    st->arg = (uint32_t)strtoul(w[3], &end, 10);
    return end != w[3] && *end == '\0' && st->arg < SCN_DEVICES;
  }
  return false;
}

int sim_scenario_load(const char *path, sim_scenario *scn)
{
  char line[SCN_LINE_MAX];
  size_t cap = 0, no = 0;
  FILE *f = fopen(path, "r");

  memset(scn, 0, sizeof *scn);
  if (f == NULL) {
    fprintf(stderr, "parley-sim: cannot read scenario %s\n", path);
    return -1;
  }
  while (fgets(line, sizeof line, f)) {
    char *p = line;
    no++;
    while (isspace((unsigned char)*p))
      p++;
    if (*p == '\0' || *p == '#')
      continue;
    char copy[SCN_LINE_MAX];
    snprintf(copy, sizeof copy, "%s", p);
    sim_grow((void **)&scn->steps, &cap, scn->n + 1, sizeof *scn->steps);
    if (!parse_step(copy, &scn->steps[scn->n]) ||
        (scn->n && scn->steps[scn->n].at_ms <
                       scn->steps[scn->n - 1].at_ms)) {
      fprintf(stderr, "parley-sim: %s:%zu: not a step in time order: %s",
              path, no, line);
      fclose(f);
      sim_scenario_free(scn);
      return -1;
    }
    scn->n++;
  }
  fclose(f);
  return 0;
}

void sim_scenario_free(sim_scenario *scn)
{
  free(scn->steps);
  memset(scn, 0, sizeof *scn);
}

/* The fixed world: two users, one device each, one direct conversation. */
void sim_scenario_world(sim *s)
{
  s->user_count = SCN_DEVICES;
  s->dev_count = SCN_DEVICES;
  s->devs = calloc(SCN_DEVICES, sizeof *s->devs);
  if (s->devs == NULL)
    abort();
  for (uint32_t u = 0; u < SCN_DEVICES; u++) {
    sim_device *d = &s->devs[u];
    snprintf(s->users[u].name, sizeof s->users[u].name, "u%u", (unsigned)u);
    s->users[u].first_dev = u;
    s->users[u].dev_count = 1;
    d->user = d->idx = u;
    snprintf(d->name, sizeof d->name, "u%u-d0", (unsigned)u);
    d->removed_intent = SIM_NONE;
    d->owd_ms = 1;
    d->heartbeat_ms = 5000;
    d->handshake_ms = 5000;
    d->backoff_cap_ms = 1000;
  }
  s->convs[0].members[0] = 0;
  s->convs[0].members[1] = 1;
  s->convs[0].member_count = 2;
  s->conv_count = 1;
}

/* The conversation exists: the devices start, the steps are queued. */
void sim_scenario_begin(sim *s)
{
  const sim_scenario *scn = s->opts->scenario;

  for (uint32_t i = 0; i < s->dev_count; i++)
    sim_at(s, s->now, EV_CLI_START, i, 0, 0);
  for (size_t k = 0; k < scn->n; k++)
    sim_at(s, s->now + 10 + scn->steps[k].at_ms, EV_STEP, (uint32_t)k, 0,
           0);
}

/* Takes step ev->a. */
void sim_scenario_step(sim *s, const sim_event *ev)
{
  const sim_step *st = &s->opts->scenario->steps[ev->a];
  sim_device *d = &s->devs[st->arg % SCN_DEVICES];
  sim_conn *c;

  sim_note_add(s, "step", st->what == SIM_STEP_CRASH ? SIM_NONE : st->arg,
               0, step_names[st->what], strlen(step_names[st->what]));
  switch (st->what) {
  case SIM_STEP_SEND:
    sim_cli_send(s, st->arg);
    break;
  case SIM_STEP_RESET:
    c = sim_net_find(s, d->last_conn);
    if (c != NULL && !c->dead) {
      s->n.resets++;
      sim_net_reset(s, c, true, true);
    }
    break;
  case SIM_STEP_QUIT:
    sim_cli_quit(s, st->arg);
    break;
  case SIM_STEP_CRASH:
    sim_srv_crash_when(s, (int)st->arg, false);
    break;
  }
}
