/* The simulated server host: the real server core and the reference
 * server's SQLite store, run the way ref-server/host.c runs them.
 *
 * Actions: SEND and CLOSE go to the session's connection (sim_net.c);
 * the STORE requests of one pump form one batch, queued for the writer
 * in order; TIMER becomes an event; API replies go to the workload; LOG
 * lines go into the trace; FATAL fails the run (a correct core never
 * loses its store). The host's send queue per session is capped
 * (QUEUE_CAP_BYTES, the 8 MiB of host.h scaled down to this workload):
 * when what waits for a slow reader passes it, the session is dropped,
 * as ws.c does with a peer that does not read.
 *
 * The store: the writer takes every queued batch at once and commits
 * them; a commit takes a drawn time (group commit and fsync; with the
 * `disk` fault, now and then a stall), and only at its end are the
 * SQL statements run, through store_batch_run, so what is in the file
 * is exactly what was committed. The results reach the core one wake-up
 * later (EV_SRV_NOTIFY), in submission order.
 *
 * A crash frees the core, drops every request not yet committed and
 * every result not yet told, and closes the database; the restart opens
 * it again and loads a new core from it with core_load, exactly as
 * parley-server does at start-up. A crash can strike now, right before
 * the next commit, or right after it (committed, never acknowledged). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core_load.h"
#include "sim.h"

#define QUEUE_CAP_BYTES 16384
#define DEDUP_WINDOW_MS (24ull * 3600 * 1000)
#define WAKE_MS 1 /* from the writer's commit to the core hearing of it */

enum { CRASH_NOW = 0, CRASH_BEFORE_COMMIT = 1, CRASH_AFTER_COMMIT = 2 };

static void pump(sim *s);

/* ---- start, crash, restart ----------------------------------------- */

/* The core's configuration, spelled out as parley-server's make_config
 * does (the keys and the rate were drawn with the world). */
static void config_fill(sim *s)
{
  parley_server_config *cfg = &s->srv.cfg;

  cfg->limits.frame_size_max = PARLEY_FRAME_SIZE_MAX;
  cfg->limits.header_count_max = PARLEY_HEADER_COUNT_MAX;
  cfg->limits.header_line_max = PARLEY_HEADER_LINE_MAX;
  cfg->heartbeat_min_ms = 200;
  cfg->heartbeat_max_ms = 120000;
  cfg->handshake_timeout_ms = 10000;
  cfg->dedup_window_ms = DEDUP_WINDOW_MS;
  cfg->typing_ttl_ms = 6000;
  cfg->max_errors = 16;
  cfg->rate_per_s = s->p.rate_per_s;
  cfg->rate_burst = s->p.rate_burst;
#ifdef PARLEY_FAULTS
  cfg->fault = (parley_fault)s->opts->planted;
#endif
}

/* Picks the database path for this run and removes what a crashed
 * earlier run may have left there. */
static void db_path_pick(sim *s)
{
  static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
  char path[600];

  snprintf(s->srv.db_path, sizeof s->srv.db_path, "%s-%llu.db",
           s->opts->db_prefix, (unsigned long long)s->seed);
  for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
    snprintf(path, sizeof path, "%s%s", s->srv.db_path, suffix[i]);
    unlink(path);
  }
}

int sim_srv_start(sim *s)
{
  sim_server *v = &s->srv;
  char err[256];

  if (v->inc == 0) {
    config_fill(s);
    db_path_pick(s);
  }
  if (!(v->st = store_open(v->db_path, err, sizeof err))) {
    fprintf(stderr, "parley-sim: store: %s\n", err);
    return -1;
  }
  store_set_dedup_window(v->st, v->cfg.dedup_window_ms);
  v->cfg.seed = sim_rng_next(&s->rng);
  if (!(v->core = parley_server_new(&v->cfg))) {
    fprintf(stderr, "parley-sim: out of memory\n");
    return -1;
  }
  v->inc++;
  v->state = SIM_SRV_UP;
  sim_note_add(s, "srv-start", SIM_NONE, 0, NULL, 0);
  if (core_load(v->st, v->core, s->now - v->cfg.dedup_window_ms) != 0)
    sim_fail(s, "restart", "the core refused what the database holds");
  return 0;
}

static void batches_discard(sim_batches *q)
{
  for (size_t i = 0; i < q->n; i++)
    store_batch_discard(&q->b[i]);
  q->n = 0;
}

static void done_list_free(sim_server *v)
{
  while (v->done_head) {
    store_done *next = v->done_head->next;
    store_done_free(v->done_head);
    v->done_head = next;
  }
  v->done_tail = NULL;
}

/* The server dies now: nothing uncommitted survives, nothing untold is
 * told. */
static void crash_now(sim *s, bool host)
{
  sim_server *v = &s->srv;
  uint64_t down = host ? sim_rng_range(&s->rng, 1000, 8000)
                       : sim_rng_range(&s->rng, 100, 3000);

  s->n.srv_crashes++;
  v->crash_at_commit = 0;
  sim_note_add(s, "srv-crash", SIM_NONE, 0, host ? "host" : "process",
               host ? 4 : 7);
  sim_net_server_crashed(s, host);
  parley_server_free(v->core);
  v->core = NULL;
  store_batch_discard(&v->cur);
  batches_discard(&v->queue);
  batches_discard(&v->run);
  v->running = false;
  done_list_free(v);
  v->kill_count = 0;
  store_close(v->st);
  v->st = NULL;
  v->state = host ? SIM_SRV_DOWN_HOST : SIM_SRV_DOWN_PROCESS;
  sim_at(s, s->now + down, EV_SRV_RESTART, 0, v->inc, 0);
}

void sim_srv_crash(sim *s, bool host)
{
  sim_server *v = &s->srv;
  uint64_t when = sim_rng_range(&s->rng, 0, 2);

  if (v->state != SIM_SRV_UP)
    return;
  if (!v->running && v->queue.n == 0 && when == CRASH_BEFORE_COMMIT)
    when = CRASH_NOW;
  sim_srv_crash_when(s, (int)when, host);
}

/* A crash now (0), or armed for right before (1) or right after (2) the
 * next commit, whenever that comes. */
void sim_srv_crash_when(sim *s, int when, bool host)
{
  sim_server *v = &s->srv;

  if (v->state != SIM_SRV_UP)
    return;
  if (when == CRASH_NOW) {
    crash_now(s, host);
    return;
  }
  v->crash_at_commit = when;
  v->crash_host = host;
}

/* Restarts a server that is down (EV_SRV_RESTART, or the heal). */
static void restart(sim *s)
{
  if (s->srv.state == SIM_SRV_UP)
    return;
  if (sim_srv_start(s) != 0) {
    sim_fail(s, "restart", "the store did not open again");
    return;
  }
  sim_check_acked_durable(s);
}

/* ---- the writer ----------------------------------------------------- */

static uint64_t commit_delay(sim *s)
{
  uint64_t d = s->p.commit_ms;

  if (SIM_FAULT_ON(s, DISK) && s->faults_live &&
      sim_rng_chance(&s->rng, s->p.stall_p)) {
    d += sim_rng_range(&s->rng, 20, s->p.stall_max_ms);
    s->n.stalls++;
    sim_note_add(s, "disk-stall", SIM_NONE, 0, NULL, 0);
  }
  return d;
}

/* Starts a run of the writer with everything queued, unless one runs. */
static void writer_kick(sim *s)
{
  sim_server *v = &s->srv;
  sim_batches t;

  if (v->running || v->queue.n == 0)
    return;
  t = v->run;
  v->run = v->queue;
  v->queue = t;
  v->queue.n = 0;
  v->running = true;
  sim_at(s, s->now + commit_delay(s), EV_SRV_COMMIT, 0, v->inc, 0);
}

/* The writer's run ends: its batches are committed now. */
static void on_commit(sim *s)
{
  sim_server *v = &s->srv;
  size_t n = 0;
  char text[32];

  if (v->crash_at_commit == CRASH_BEFORE_COMMIT) {
    crash_now(s, v->crash_host);
    return;
  }
  for (size_t i = 0; i < v->run.n; i++) {
    n += v->run.b[i].count;
    store_done *d = store_batch_run(v->st, &v->run.b[i]);
    if (d == NULL)
      continue;
    if (v->done_tail)
      v->done_tail->next = d;
    else
      v->done_head = d;
    for (v->done_tail = d; v->done_tail->next;)
      v->done_tail = v->done_tail->next;
  }
  v->run.n = 0;
  v->running = false;
  v->commits++;
  s->n.commits++;
  snprintf(text, sizeof text, "%zu requests", n);
  sim_note_add(s, "commit", SIM_NONE, 0, text, strlen(text));
  if (v->crash_at_commit == CRASH_AFTER_COMMIT) {
    crash_now(s, v->crash_host);
    return;
  }
  sim_at(s, s->now + WAKE_MS, EV_SRV_NOTIFY, 0, v->inc, 0);
  writer_kick(s);
}

/* Tells the core what the writer finished, oldest first. */
static void on_notify(sim *s)
{
  sim_server *v = &s->srv;

  while (v->done_head && v->core && !s->failed) {
    store_done *d = v->done_head;
    v->done_head = d->next;
    if (v->done_head == NULL)
      v->done_tail = NULL;
    parley_server_on_store_done(v->core, &d->result, s->now);
    store_done_free(d);
    pump(s);
  }
}

/* ---- actions ---------------------------------------------------------- */

static bool is_ack(const char *data, size_t len)
{
  return len >= 5 && memcmp(data, "ACK\r\n", 5) == 0;
}

static void act_send(sim *s, const parley_action *a)
{
  sim_conn *c = sim_net_find(s, a->conn);
  sim_server *v = &s->srv;

  if (c == NULL || !c->srv_open || c->srv_inc != v->inc)
    return; /* the host has no such session any more */
  if (SIM_FAULT_ON(s, DUP) && s->faults_live && is_ack(a->data, a->len) &&
      sim_rng_chance(&s->rng, s->p.dup_p)) {
    sim_note_add(s, "ack-lost", c->dev, c->id, a->data, a->len);
    s->n.acks_lost++;
    sim_net_reset(s, c, true, true);
    return;
  }
  if (sim_net_backlog(s, c) + a->len > QUEUE_CAP_BYTES) {
    sim_note_add(s, "srv-drops", c->dev, c->id, "send queue past its cap",
                 23);
    c->srv_open = false;
    s->n.drops++;
    sim_net_reset(s, c, false, true);
    sim_grow((void **)&v->kills, &v->kill_cap, v->kill_count + 1,
             sizeof *v->kills);
    v->kills[v->kill_count++] = c->id;
    return;
  }
  sim_net_send(s, c, SIM_DOWN, a->data, a->len);
}

static void act_close(sim *s, const parley_action *a)
{
  sim_conn *c = sim_net_find(s, a->conn);

  if (c != NULL && c->srv_open && c->srv_inc == s->srv.inc)
    sim_net_close(s, c, SIM_DOWN);
}

static void dispatch(sim *s, const parley_action *a)
{
  switch (a->kind) {
  case PARLEY_ACT_SEND:
    act_send(s, a);
    break;
  case PARLEY_ACT_CLOSE:
    act_close(s, a);
    break;
  case PARLEY_ACT_STORE:
    if (store_batch_add(&s->srv.cur, a->store) != 0)
      abort();
    break;
  case PARLEY_ACT_TIMER:
    sim_at(s, a->at_ms, EV_SRV_TIMER, 0, s->srv.inc, 0);
    break;
  case PARLEY_ACT_API_REPLY:
    sim_work_conv_created(s, a->api->api_id,
                          a->api->err == PARLEY_OK ? a->api->conv : NULL);
    break;
  case PARLEY_ACT_LOG:
    sim_note_add(s, "srv-log", SIM_NONE, a->conn, a->data,
                 a->data ? strlen(a->data) : 0);
    break;
  case PARLEY_ACT_FATAL:
    sim_fail(s, "server-fatal", "the core stopped: %s",
             a->data ? a->data : "the store failed");
    break;
  }
}

/* Carries out the core's actions, queues the pump's store requests as
 * one batch, and drops the sessions the host gave up on. */
static void pump(sim *s)
{
  sim_server *v = &s->srv;
  parley_action a;

  for (;;) {
    while (v->core && parley_server_next_action(v->core, &a))
      dispatch(s, &a);
    if (v->cur.count) {
      sim_grow((void **)&v->queue.b, &v->queue.cap, v->queue.n + 1,
               sizeof *v->queue.b);
      v->queue.b[v->queue.n++] = v->cur;
      memset(&v->cur, 0, sizeof v->cur);
      writer_kick(s);
    }
    if (v->kill_count == 0 || v->core == NULL)
      return;
    parley_server_on_close(v->core, v->kills[--v->kill_count], s->now);
  }
}

/* ---- events from the network and the workload ----------------------- */

void sim_srv_on_open(sim *s, sim_conn *c)
{
  sim_note_add(s, "accept", c->dev, c->id, NULL, 0);
  parley_server_on_open(s->srv.core, c->id, s->now);
  pump(s);
}

void sim_srv_on_frame(sim *s, sim_conn *c, const char *data, size_t len)
{
  parley_server_on_message(s->srv.core, c->id, data, len, false, s->now);
  pump(s);
}

void sim_srv_on_close(sim *s, sim_conn *c)
{
  c->srv_open = false;
  parley_server_on_close(s->srv.core, c->id, s->now);
  pump(s);
}

void sim_srv_create_conv(sim *s, uint32_t conv)
{
  const sim_conv *cv = &s->convs[conv];
  const char *members[SIM_USERS_MAX];
  char title[16];

  for (size_t i = 0; i < cv->member_count; i++)
    members[i] = s->users[cv->members[i]].name;
  snprintf(title, sizeof title, "conv %u", (unsigned)conv);
  s->srv.api_waiting++;
  parley_server_api_create_conv(s->srv.core, (uint64_t)conv + 1,
                                members[0], cv->group ? PARLEY_CONV_GROUP
                                                      : PARLEY_CONV_DIRECT,
                                title, members, cv->member_count, s->now);
  pump(s);
}

void sim_srv_event(sim *s, const sim_event *ev)
{
  sim_server *v = &s->srv;

  if (ev->kind == EV_SRV_RESTART) {
    if (ev->b == v->inc)
      restart(s);
    return;
  }
  if (ev->b != v->inc || v->state != SIM_SRV_UP)
    return; /* meant for a server that crashed since */
  if (ev->kind == EV_SRV_TIMER) {
    parley_server_on_time(v->core, s->now);
    pump(s);
  } else if (ev->kind == EV_SRV_COMMIT) {
    on_commit(s);
  } else if (ev->kind == EV_SRV_NOTIFY) {
    on_notify(s);
  }
}

void sim_srv_heal(sim *s)
{
  s->srv.crash_at_commit = 0;
  restart(s);
}

bool sim_srv_idle(const sim *s)
{
  const sim_server *v = &s->srv;

  return v->state == SIM_SRV_UP && !v->running && v->queue.n == 0 &&
         v->done_head == NULL && v->cur.count == 0;
}

void sim_srv_free(sim *s)
{
  sim_server *v = &s->srv;
  static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
  char path[600];

  parley_server_free(v->core);
  store_batch_discard(&v->cur);
  batches_discard(&v->queue);
  batches_discard(&v->run);
  done_list_free(v);
  store_close(v->st);
  free(v->queue.b);
  free(v->run.b);
  free(v->kills);
  if (v->db_path[0] == '\0')
    return;
  for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
    snprintf(path, sizeof path, "%s%s", v->db_path, suffix[i]);
    unlink(path);
  }
}
