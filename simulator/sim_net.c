/* The virtual network between the devices and the server.
 *
 * What it models. The transport is WebSocket over TCP: per connection, a
 * reliable, ordered stream each way. So nothing is ever reordered,
 * duplicated or lost inside one connection while it lives; the faults
 * are the ones such a stream really shows:
 * - delay with jitter: each frame's transit is the connection's one-way
 *   delay plus a draw (uniform, normal or pareto, chosen per seed), and
 *   it never arrives before the frame sent ahead of it (head-of-line
 *   blocking, as in TCP);
 * - loss: packets lost at random or in bursts (a Gilbert-Elliott chain
 *   per direction) cost retransmission timeouts (200 ms, doubling), so
 *   they show as stalls; a frame lost past 6 retransmissions resets the
 *   connection, as a TCP user timeout would;
 * - resets: every frame in flight is lost, and each end hears of it
 *   after the one-way delay, or not at all (the RST lost, a middlebox
 *   that forgot the connection): it then finds out from its heartbeat;
 * - partitions: a cut-off device's frames, connects and RSTs stall until
 *   the partition heals; a frame stalled past 20 s resets the connection
 *   (its sender gives up);
 * - slow consumers: a device that reads each frame late; what arrived
 *   and waits for its reader is what the server's host would hold in
 *   its send queue, and past the queue's cap the server drops the
 *   session (sim_server.c);
 * - reordering across connections: with `reorder`, a device changes
 *   network now and then: it gives up its connection at once (the app
 *   sees it drop and reconnects), what it had sent on the old path
 *   straggles in seconds later, after the new connection's frames, and
 *   what the server sends to the old address vanishes; every new
 *   connection takes a path of its own (its delay is drawn anew), and
 *   the frames in flight on a connection the client closes straggle in
 *   late too;
 * - a connection between a closed end and an open one: data arriving at
 *   a closed socket is answered with an RST, unless its host is down.
 *
 * Each pipe (one direction of one connection) is a FIFO of frames with
 * non-decreasing arrival times; only its head has a delivery event
 * (EV_PIPE with the pipe's token), so a stall of the head holds back
 * everything behind it. A connect is SYN, SYN-ACK and the upgrade
 * request (three one-way delays) before the server core hears of it;
 * its answer travels as the OPEN frame ahead of the server's first
 * frames. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define RTO_MS 200           /* the first retransmission timeout */
#define RETRIES_MAX 6        /* past it, the connection resets */
#define STALL_GIVEUP_MS 20000
#define SYN_RETRY_MS 1000
#define STRAGGLE_MIN_MS 200
#define STRAGGLE_MAX_MS 3000

static bool partitioned(const sim *s, uint32_t dev)
{
  return s->now < s->devs[dev].partition_until;
}

sim_conn *sim_net_find(const sim *s, uint64_t id)
{
  return (id >= 1 && id <= s->conn_count) ? s->conns[id - 1] : NULL;
}

sim_conn *sim_net_find_cli(const sim *s, uint32_t dev, uint64_t cli_conn)
{
  const sim_device *d = &s->devs[dev];
  sim_conn *c = sim_net_find(s, d->last_conn);

  if (c != NULL && c->cli_conn == cli_conn && c->cli_inc == d->inc)
    return c;
  for (size_t i = s->conn_count; i-- > 0;) {
    c = s->conns[i];
    if (c->dev == dev && c->cli_inc == d->inc && c->cli_conn == cli_conn)
      return c;
  }
  return NULL;
}

/* ---- delays and loss ------------------------------------------------ */

/* One frame's transit time on c, before loss. */
static uint64_t draw_delay(sim *s, const sim_conn *c)
{
  double d = (double)c->owd_ms, j = (double)c->jitter_ms;

  if (!SIM_FAULT_ON(s, DELAY) || c->jitter_ms == 0)
    return c->owd_ms ? c->owd_ms : 1;
  switch (s->p.dist) {
  case SIM_DIST_UNIFORM:
    d += (2.0 * sim_rng_unit(&s->rng) - 1.0) * j;
    break;
  case SIM_DIST_NORMAL:
    d += sim_rng_normal(&s->rng) * j / 2.0;
    break;
  case SIM_DIST_PARETO:
    d += (sim_rng_pareto(&s->rng, s->p.pareto_alpha) - 1.0) * j;
    if (d > (double)c->owd_ms + 50.0 * j)
      d = (double)c->owd_ms + 50.0 * j;
    break;
  }
  return d < 1.0 ? 1 : (uint64_t)d;
}

/* The retransmission time one frame costs on pipe p; sets *doomed when
 * it is lost past the retry bound. */
static uint64_t loss_penalty(sim *s, sim_pipe *p, bool *doomed)
{
  uint64_t pen = 0, rto = RTO_MS;

  for (int tries = 0;; tries++) {
    if (p->ge_bad && sim_rng_chance(&s->rng, s->p.ge_r))
      p->ge_bad = false;
    else if (!p->ge_bad && sim_rng_chance(&s->rng, s->p.ge_p))
      p->ge_bad = true;
    double loss = p->ge_bad ? s->p.loss_bad : s->p.loss_good;
    if (!sim_rng_chance(&s->rng, loss))
      return pen;
    if (tries == RETRIES_MAX) {
      *doomed = true;
      return pen;
    }
    pen += rto;
    rto *= 2;
  }
}

/* ---- pipes ---------------------------------------------------------- */

/* Arms the delivery event of the pipe's head (replacing any other). */
static void schedule_head(sim *s, sim_conn *c, int dir)
{
  sim_pipe *p = &c->pipe[dir];

  if (p->head == NULL)
    return;
  sim_at(s, p->head->at_ms, EV_PIPE, (uint32_t)dir, c->id, ++p->token);
}

static void pipe_push(sim *s, sim_conn *c, int dir, sim_frame_kind kind,
                      const char *data, size_t len)
{
  sim_pipe *p = &c->pipe[dir];
  sim_frame *f = calloc(1, sizeof *f + len);
  uint64_t transit;

  if (f == NULL)
    abort();
  f->kind = (uint8_t)kind;
  f->len = len;
  if (len)
    memcpy(f->data, data, len);
  f->sent_ms = s->now;
  transit = draw_delay(s, c);
  if (SIM_FAULT_ON(s, LOSS) && s->faults_live)
    transit += loss_penalty(s, p, &f->doomed);
  f->at_ms = s->now + transit;
  if (f->at_ms < p->last_at)
    f->at_ms = p->last_at;
  p->last_at = f->at_ms;
  if (p->tail)
    p->tail->next = f;
  else
    p->head = f;
  p->tail = f;
  p->bytes += len;
  if (p->head == f)
    schedule_head(s, c, dir);
}

static sim_frame *pipe_pop(sim_pipe *p)
{
  sim_frame *f = p->head;

  p->head = f->next;
  if (p->head == NULL)
    p->tail = NULL;
  p->bytes -= f->len;
  f->next = NULL;
  return f;
}

/* Drops the frames of p after the first `keep`. */
static void pipe_cut(sim_pipe *p, size_t keep)
{
  sim_frame **pp = &p->head, *f;

  for (size_t i = 0; *pp != NULL && i < keep; i++)
    pp = &(*pp)->next;
  p->tail = NULL;
  for (sim_frame *t = p->head; t != NULL && t != *pp; t = t->next)
    p->tail = t;
  while ((f = *pp) != NULL) {
    *pp = f->next;
    p->bytes -= f->len;
    free(f);
  }
  p->token++; /* the head's event, if it was cut, is void */
}

static size_t pipe_len(const sim_pipe *p)
{
  size_t n = 0;

  for (const sim_frame *f = p->head; f != NULL; f = f->next)
    n++;
  return n;
}

size_t sim_net_backlog(const sim *s, const sim_conn *c)
{
  size_t n = 0;

  if (s->now >= s->devs[c->dev].slow_until)
    return 0; /* a device that reads leaves nothing waiting */
  for (const sim_frame *f = c->pipe[SIM_DOWN].head; f; f = f->next)
    if (f->at_ms <= s->now)
      n += f->len;
  return n;
}

/* ---- connections ---------------------------------------------------- */

sim_conn *sim_net_connect(sim *s, uint32_t dev, uint64_t cli_conn)
{
  sim_device *d = &s->devs[dev];
  sim_conn *c = calloc(1, sizeof *c);

  if (c == NULL)
    abort();
  sim_grow((void **)&s->conns, &s->conn_cap, s->conn_count + 1,
           sizeof *s->conns);
  s->conns[s->conn_count++] = c;
  c->id = s->conn_count;
  c->dev = dev;
  c->cli_inc = d->inc;
  c->cli_conn = cli_conn;
  c->cli_open = true;
  c->owd_ms = d->owd_ms;
  c->jitter_ms = d->jitter_ms;
  if (SIM_FAULT_ON(s, REORDER) && s->faults_live) {
    /* another path: a quarter to four times the usual delay */
    c->owd_ms = d->owd_ms * sim_rng_range(&s->rng, 25, 400) / 100 + 1;
    c->jitter_ms = d->jitter_ms * sim_rng_range(&s->rng, 25, 400) / 100;
  }
  d->last_conn = c->id;
  sim_note_add(s, "connect", dev, c->id, NULL, 0);
  sim_at(s, s->now + 3 * c->owd_ms, EV_CONN_ACCEPT, 0, c->id,
         ++c->accept_token);
  return c;
}

void sim_net_send(sim *s, sim_conn *c, int dir, const char *data,
                  size_t len)
{
  bool open = dir == SIM_UP ? c->cli_open : c->srv_open;

  if (c->dead || !open || !c->accepted)
    return; /* into the void: the connection is gone */
  pipe_push(s, c, dir, SIM_FR_DATA, data, len);
}

/* Delays what is still in flight toward the server on c: the old path
 * is slow, so its frames arrive after the new connection's. */
static void straggle(sim *s, sim_conn *c)
{
  uint64_t extra = sim_rng_range(&s->rng, STRAGGLE_MIN_MS, STRAGGLE_MAX_MS);
  sim_pipe *p = &c->pipe[SIM_UP];

  for (sim_frame *f = p->head; f != NULL; f = f->next)
    f->at_ms += extra;
  p->last_at += extra;
  schedule_head(s, c, SIM_UP);
  sim_note_add(s, "straggle", c->dev, c->id, NULL, 0);
  s->n.straggles++;
}

void sim_net_close(sim *s, sim_conn *c, int dir)
{
  bool in_flight = c->pipe[SIM_UP].head != NULL;

  if (dir == SIM_UP)
    c->cli_open = false;
  else
    c->srv_open = false;
  if (c->dead || !c->accepted)
    return; /* a connect not yet accepted is simply abandoned */
  pipe_push(s, c, dir, SIM_FR_FIN, NULL, 0);
  if (dir == SIM_UP && in_flight && SIM_FAULT_ON(s, REORDER) &&
      s->faults_live && sim_rng_chance(&s->rng, 0.5))
    straggle(s, c);
}

/* True when c could carry frames both ways now. */
static bool conn_live(const sim *s, const sim_conn *c)
{
  const sim_device *d = &s->devs[c->dev];

  return c->accepted && !c->dead && c->cli_open && c->srv_open &&
         d->core != NULL && c->cli_inc == d->inc &&
         s->now >= d->partition_until;
}

void sim_net_path_change(sim *s)
{
  sim_conn *pick = NULL;
  size_t n = 0;

  /* Reservoir choice among live connections, those with frames in
   * flight to the server first. */
  for (int busy = 1; busy >= 0 && pick == NULL; busy--) {
    for (size_t i = 0; i < s->conn_count; i++) {
      sim_conn *c = s->conns[i];
      if (!conn_live(s, c) || (busy && c->pipe[SIM_UP].head == NULL))
        continue;
      if (sim_rng_range(&s->rng, 0, n++) == 0)
        pick = c;
    }
  }
  if (pick == NULL)
    return;
  sim_note_add(s, "path-change", pick->dev, pick->id, NULL, 0);
  pick->cli_gone = true;
  if (pick->pipe[SIM_UP].head != NULL)
    straggle(s, pick);
  pipe_push(s, pick, SIM_UP, SIM_FR_FIN, NULL, 0);
  sim_cli_on_close(s, pick);
}

void sim_net_reset(sim *s, sim_conn *c, bool tell_srv, bool tell_cli)
{
  if (c->dead)
    return;
  c->dead = true;
  s->n.resets++;
  pipe_cut(&c->pipe[SIM_UP], 0);
  pipe_cut(&c->pipe[SIM_DOWN], 0);
  sim_note_add(s, "reset", c->dev, c->id, tell_srv ? (tell_cli ? "both" :
               "server hears") : (tell_cli ? "client hears" : "silent"),
               tell_srv ? (tell_cli ? 4 : 12) : (tell_cli ? 12 : 6));
  if (tell_srv && c->srv_open)
    sim_at(s, s->now + c->owd_ms, EV_LOST_SRV, 0, c->id, 0);
  if (tell_cli && c->cli_open)
    sim_at(s, s->now + c->owd_ms, EV_LOST_CLI, 0, c->id, 0);
}

void sim_net_reset_random(sim *s)
{
  uint64_t *pick = NULL;
  size_t n = 0, cap = 0;

  for (size_t i = 0; i < s->conn_count; i++) {
    sim_conn *c = s->conns[i];
    if (c->dead || !c->accepted || !(c->cli_open || c->srv_open))
      continue;
    sim_grow((void **)&pick, &cap, n + 1, sizeof *pick);
    pick[n++] = c->id;
  }
  if (n > 0) {
    sim_conn *c = sim_net_find(s, pick[sim_rng_range(&s->rng, 0, n - 1)]);
    bool tell_srv = sim_rng_chance(&s->rng, 0.8);
    sim_net_reset(s, c, tell_srv, sim_rng_chance(&s->rng, 0.8));
  }
  free(pick);
}

/* ---- crashes and heals -------------------------------------------- */

void sim_net_server_crashed(sim *s, bool host)
{
  for (size_t i = 0; i < s->conn_count; i++) {
    sim_conn *c = s->conns[i];
    if (!c->srv_open || c->srv_inc != s->srv.inc)
      continue;
    c->srv_open = false;
    if (c->dead)
      continue;
    if (host) {
      pipe_cut(&c->pipe[SIM_DOWN], 0); /* nothing more leaves it */
      continue;
    }
    /* The kernel closes the dead process's sockets: what already left
     * arrives, then the close. */
    size_t n = pipe_len(&c->pipe[SIM_DOWN]);
    pipe_cut(&c->pipe[SIM_DOWN], sim_rng_range(&s->rng, 0, n));
    schedule_head(s, c, SIM_DOWN);
    pipe_push(s, c, SIM_DOWN, SIM_FR_FIN, NULL, 0);
  }
}

void sim_net_device_crashed(sim *s, uint32_t dev, bool host)
{
  for (size_t i = 0; i < s->conn_count; i++) {
    sim_conn *c = s->conns[i];
    if (c->dev != dev || !c->cli_open || c->cli_inc != s->devs[dev].inc)
      continue;
    c->cli_open = false;
    if (c->dead || !c->accepted)
      continue;
    if (host)
      pipe_cut(&c->pipe[SIM_UP], 0);
    else
      pipe_push(s, c, SIM_UP, SIM_FR_FIN, NULL, 0);
  }
}

void sim_net_device_healed(sim *s, uint32_t dev)
{
  for (size_t i = 0; i < s->conn_count; i++) {
    sim_conn *c = s->conns[i];
    if (c->dev != dev)
      continue;
    for (int dir = 0; dir < 2; dir++) {
      sim_frame *f = c->pipe[dir].head;
      if (f != NULL && f->at_ms > s->now + c->owd_ms) {
        f->at_ms = s->now + c->owd_ms;
        schedule_head(s, c, dir);
      }
    }
    if (!c->accepted && c->cli_open && !c->dead)
      sim_at(s, s->now + 3 * c->owd_ms, EV_CONN_ACCEPT, 0, c->id,
             ++c->accept_token);
  }
}

bool sim_net_idle(const sim *s)
{
  for (size_t i = 0; i < s->conn_count; i++)
    if (s->conns[i]->pipe[SIM_UP].head || s->conns[i]->pipe[SIM_DOWN].head)
      return false;
  return true;
}

void sim_net_free(sim *s)
{
  for (size_t i = 0; i < s->conn_count; i++) {
    pipe_cut(&s->conns[i]->pipe[SIM_UP], 0);
    pipe_cut(&s->conns[i]->pipe[SIM_DOWN], 0);
    free(s->conns[i]);
  }
  free(s->conns);
  s->conns = NULL;
  s->conn_count = s->conn_cap = 0;
}

/* ---- events ---------------------------------------------------------- */

/* The connect reaches the server (after SYN, SYN-ACK, upgrade). */
static void on_accept(sim *s, sim_conn *c, uint64_t token)
{
  if (token != c->accept_token || c->dead || !c->cli_open || c->accepted)
    return; /* void, or the client gave up: no more SYNs */
  if (partitioned(s, c->dev)) {
    sim_at(s, s->devs[c->dev].partition_until + 3 * c->owd_ms,
           EV_CONN_ACCEPT, 0, c->id, ++c->accept_token);
    return;
  }
  if (s->srv.state == SIM_SRV_DOWN_HOST) {
    sim_at(s, s->now + SYN_RETRY_MS, EV_CONN_ACCEPT, 0, c->id,
           ++c->accept_token);
    return;
  }
  if (s->srv.state == SIM_SRV_DOWN_PROCESS) {
    sim_note_add(s, "refused", c->dev, c->id, NULL, 0);
    c->dead = true;
    sim_at(s, s->now + c->owd_ms, EV_LOST_CLI, 0, c->id, 0);
    return;
  }
  c->accepted = c->srv_open = true;
  c->srv_inc = s->srv.inc;
  s->devs[c->dev].last_accepted = c->id;
  pipe_push(s, c, SIM_DOWN, SIM_FR_OPEN, NULL, 0);
  sim_srv_on_open(s, c);
}

/* The closed or vanished end `dir` points to got a frame: it answers
 * with an RST, unless its host is down. */
static void closed_end(sim *s, sim_conn *c, int dir, const sim_frame *f)
{
  bool host_down = dir == SIM_UP ? s->srv.state == SIM_SRV_DOWN_HOST
                                 : s->devs[c->dev].host_down || c->cli_gone;

  if (f->kind == SIM_FR_FIN)
    return;
  sim_note_add(s, dir == SIM_UP ? "lost>srv" : "lost>cli", c->dev, c->id,
               f->data, f->len);
  if (!host_down)
    sim_net_reset(s, c, dir == SIM_DOWN, dir == SIM_UP);
}

/* Counts what a frame reaching the server exercises: a SEND of a
 * message the server had before, a frame of a superseded connection. */
static void count_up(sim *s, const sim_conn *c, const sim_frame *f)
{
  size_t at = 0;

  if (c->id < s->devs[c->dev].last_accepted)
    s->n.stale++;
  if (f->len < 6 || memcmp(f->data, "SEND\r\n", 6) != 0)
    return;
  while (at + 4 <= f->len && memcmp(f->data + at, "\r\n\r\n", 4) != 0)
    at++;
  if (at + 4 <= f->len) {
    uint32_t i = sim_body_intent(s, f->data + at + 4, f->len - at - 4);
    if (i != SIM_NONE && s->intents[i].srv_sends++ > 0)
      s->n.resent++;
  }
}

static void deliver(sim *s, sim_conn *c, int dir, const sim_frame *f)
{
  const sim_device *d = &s->devs[c->dev];
  bool here = dir == SIM_UP ? c->srv_open && c->srv_inc == s->srv.inc &&
                                  s->srv.state == SIM_SRV_UP
                            : c->cli_open && d->core != NULL &&
                                  c->cli_inc == d->inc;

  if (!here) {
    closed_end(s, c, dir, f);
    return;
  }
  if (f->kind == SIM_FR_FIN) {
    sim_note_add(s, dir == SIM_UP ? "fin>srv" : "fin>cli", c->dev, c->id,
                 NULL, 0);
    if (dir == SIM_UP)
      sim_srv_on_close(s, c);
    else
      sim_cli_on_close(s, c);
  } else if (f->kind == SIM_FR_OPEN) {
    sim_cli_on_open(s, c);
  } else if (dir == SIM_UP) {
    sim_note_add(s, ">srv", c->dev, c->id, f->data, f->len);
    count_up(s, c, f);
    sim_srv_on_frame(s, c, f->data, f->len);
  } else {
    sim_note_add(s, ">cli", c->dev, c->id, f->data, f->len);
    sim_cli_on_frame(s, c, f->data, f->len);
  }
}

/* The head of a pipe is due: stall it (partition, slow reader), reset
 * the connection (retries ran out), or deliver it. */
static void on_pipe(sim *s, sim_conn *c, int dir, uint64_t token)
{
  sim_pipe *p = &c->pipe[dir];
  sim_frame *f = p->head;
  const sim_device *d = &s->devs[c->dev];

  if (f == NULL || token != p->token)
    return;
  if (partitioned(s, c->dev)) {
    if (d->partition_until - f->sent_ms > STALL_GIVEUP_MS) {
      sim_net_reset(s, c, dir == SIM_DOWN, dir == SIM_UP);
      return;
    }
    f->at_ms = d->partition_until + draw_delay(s, c);
    schedule_head(s, c, dir);
    return;
  }
  if (f->doomed) {
    sim_net_reset(s, c, true, true);
    return;
  }
  if (dir == SIM_DOWN && f->kind == SIM_FR_DATA && !f->read_delayed &&
      s->now < d->slow_until) {
    f->read_delayed = true;
    f->at_ms = s->now + d->read_delay_ms;
    schedule_head(s, c, dir);
    return;
  }
  f = pipe_pop(p);
  if (p->head != NULL) {
    if (p->head->at_ms < s->now)
      p->head->at_ms = s->now;
    schedule_head(s, c, dir);
  }
  deliver(s, c, dir, f);
  free(f);
}

/* An RST (or a local drop) reaches one end. */
static void on_lost(sim *s, sim_conn *c, bool server_end)
{
  const sim_device *d = &s->devs[c->dev];

  if (partitioned(s, c->dev))
    return; /* the RST is lost on the way */
  if (server_end) {
    if (c->srv_open && c->srv_inc == s->srv.inc &&
        s->srv.state == SIM_SRV_UP) {
      sim_note_add(s, "rst>srv", c->dev, c->id, NULL, 0);
      sim_srv_on_close(s, c);
    }
  } else if (c->cli_open && d->core != NULL && c->cli_inc == d->inc) {
    sim_note_add(s, "rst>cli", c->dev, c->id, NULL, 0);
    sim_cli_on_close(s, c);
  }
}

void sim_net_event(sim *s, const sim_event *ev)
{
  sim_conn *c = sim_net_find(s, ev->b);

  if (c == NULL)
    return;
  switch (ev->kind) {
  case EV_CONN_ACCEPT:
    on_accept(s, c, ev->c);
    break;
  case EV_PIPE:
    on_pipe(s, c, (int)ev->a, ev->c);
    break;
  case EV_LOST_SRV:
    on_lost(s, c, true);
    break;
  case EV_LOST_CLI:
    on_lost(s, c, false);
    break;
  default:
    break;
  }
}
