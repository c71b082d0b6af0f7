/* The UDP relay of parley-netem.
 *
 * The relay listens on one address. Each peer that sends to it (a
 * source address) gets a flow: a socket connected to the target, so the
 * target's answers come back on that socket and go out of the listening
 * socket to the peer. Up is peer to target, down is target to peer.
 *
 * A datagram goes through these steps, in this order:
 *
 *   arrival   dropped in a partition window or under blackhole;
 *             loss (random, or Gilbert-Elliott with its state);
 *             duplicate (the copy goes through every later step too);
 *             per copy: corrupt (one bit flipped), and the draw of its
 *             delay: delay and jitter from the distribution, and
 *             reorder, which holds a share back by reorder-hold more
 *   rate      a token bucket per direction; datagrams wait in a FIFO
 *             of at most queue-limit bytes, more are dropped
 *   delay     the datagram waits the delay it drew. Jitter alone
 *             reorders too, as on Linux netem
 *   delivery  when due, unless a partition window is open then
 *
 * Every draw is made on arrival, from the direction's generator, so the
 * decisions for the n-th datagram depend only on the seed and the
 * datagrams before it, never on timing.
 *
 * Invariants: heap is a min-heap on (due_ns, order), order counts
 * arrivals, so equal times keep arrival order; inflight_bytes is the sum
 * of the lengths of the datagrams in the heap and in both FIFOs. A
 * datagram of a flow evicted meanwhile (generation changed) is dropped. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "netem.h"

#define FLOWS_MAX 64
#define DATAGRAM_MAX 65536
#define INFLIGHT_MAX_BYTES (64u * 1024 * 1024)
#define READS_PER_TURN 256

typedef struct packet {
  int64_t due_ns;
  int64_t delay_ns; /* drawn on arrival, applied after the rate step */
  uint64_t order;
  int dir;
  int flow;
  uint32_t flow_gen;
  size_t len;
  uint8_t data[];
} packet;

typedef struct udp_flow {
  netem_udp *relay;
  netem_io io; /* connected to the target; fd -1: the slot is free */
  netem_addr peer;
  uint32_t gen;
  int64_t last_ns;
} udp_flow;

#define DRAW_BIN_US 100  /* histogram of drawn delays: 100 us bins */
#define DRAW_BINS 4096   /* up to 409.6 ms; longer ones count in the last */

/* The delays a direction drew (jitter included, reorder-hold not), as a
 * record of the relay's own decisions, independent of when the machine
 * got round to sending: their histogram, extremes, and the RFC 3550
 * (6.4.1) interarrival jitter of the draws in arrival order. */
typedef struct draw_stats {
  uint64_t n;
  int64_t min_us, max_us, last_us;
  uint64_t step_sum_us; /* sum of |draw - previous draw| */
  double jitter_us;     /* J of RFC 3550 over the draws */
  double jitter_sum_us; /* sum of J after each draw but the first */
  uint32_t hist[DRAW_BINS];
} draw_stats;

typedef struct udp_stats {
  uint64_t in, bytes_in, out, bytes_out;
  uint64_t loss, partition, blackhole, queue, overflow, send_fail;
  uint64_t duplicate, corrupt, reorder;
  draw_stats draws;
} udp_stats;

typedef struct udp_dir {
  netem_udp *relay;
  int d;
  netem_rng rng;
  bool ge_bad;
  packet **fifo; /* waiting for tokens, a ring */
  size_t fifo_head, fifo_n, fifo_cap;
  uint64_t fifo_bytes;
  double tokens;
  int64_t tokens_ns;
  netem_timer rate_timer;
  udp_stats st;
} udp_dir;

struct netem_udp {
  netem_ctx *ctx;
  int index;
  netem_addr listen, target;
  netem_io io;
  udp_flow flows[FLOWS_MAX];
  udp_dir dir[2];
  packet **heap;
  size_t heap_n, heap_cap;
  uint64_t order;
  uint64_t inflight_bytes;
  netem_timer timer;
};

static void schedule(netem_udp *u, int d, packet *p, int64_t now);

/* ---- the record of drawn delays ---------------------------------------- */

/* Adds one drawn delay (ns) to st. */
static void note_draw(draw_stats *st, int64_t delay_ns)
{
  int64_t us = delay_ns / 1000;
  int64_t bin = us / DRAW_BIN_US;

  if (st->n == 0 || us < st->min_us)
    st->min_us = us;
  if (st->n == 0 || us > st->max_us)
    st->max_us = us;
  if (st->n > 0) {
    int64_t step = us > st->last_us ? us - st->last_us : st->last_us - us;

    st->step_sum_us += (uint64_t)step;
    st->jitter_us += ((double)step - st->jitter_us) / 16.0;
    st->jitter_sum_us += st->jitter_us;
  }
  st->last_us = us;
  st->hist[bin < 0 ? 0 : bin >= DRAW_BINS ? DRAW_BINS - 1 : bin]++;
  st->n++;
}

/* The q-quantile (0 < q < 1) of the drawn delays in us, the middle of
 * the histogram bin holding it; 0 when nothing was drawn. */
static int64_t draw_quantile_us(const draw_stats *st, double q)
{
  uint64_t want = (uint64_t)(q * (double)st->n) + 1, seen = 0;

  for (int b = 0; b < DRAW_BINS && st->n > 0; b++) {
    seen += st->hist[b];
    if (seen >= want)
      return (int64_t)b * DRAW_BIN_US + DRAW_BIN_US / 2;
  }
  return 0;
}

/* Prints the record of drawn delays of direction n of relay i. */
static void print_draws(netem_buf *out, int i, const char *n,
                        const draw_stats *st)
{
  uint64_t k = st->n > 1 ? st->n - 1 : 1;

  netem_buf_printf(out,
                   "udp%d.%s.delay-drawn %llu\nudp%d.%s.delay-min-us %lld\n"
                   "udp%d.%s.delay-max-us %lld\n",
                   i, n, (unsigned long long)st->n, i, n,
                   (long long)st->min_us, i, n, (long long)st->max_us);
  netem_buf_printf(out,
                   "udp%d.%s.delay-p25-us %lld\nudp%d.%s.delay-p50-us %lld\n"
                   "udp%d.%s.delay-p75-us %lld\n",
                   i, n, (long long)draw_quantile_us(st, 0.25), i, n,
                   (long long)draw_quantile_us(st, 0.5), i, n,
                   (long long)draw_quantile_us(st, 0.75));
  netem_buf_printf(out,
                   "udp%d.%s.delay-step-mean-us %llu\n"
                   "udp%d.%s.delay-jitter-us %lld\n"
                   "udp%d.%s.delay-jitter-mean-us %lld\n",
                   i, n, (unsigned long long)(st->step_sum_us / k), i, n,
                   (long long)st->jitter_us, i, n,
                   (long long)(st->jitter_sum_us / (double)k));
}

/* ---- the delay heap ---------------------------------------------------- */

static bool earlier(const packet *a, const packet *b)
{
  return a->due_ns < b->due_ns ||
         (a->due_ns == b->due_ns && a->order < b->order);
}

/* Adds p to the heap. Returns 0, or -1 (p not added) without memory. */
static int heap_push(netem_udp *u, packet *p)
{
  size_t i;

  if (u->heap_n == u->heap_cap) {
    size_t cap = u->heap_cap ? 2 * u->heap_cap : 256;
    packet **h = realloc(u->heap, cap * sizeof *h);

    if (h == NULL)
      return -1;
    u->heap = h;
    u->heap_cap = cap;
  }
  i = u->heap_n++;
  while (i > 0 && earlier(p, u->heap[(i - 1) / 2])) {
    u->heap[i] = u->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  u->heap[i] = p;
  return 0;
}

static packet *heap_pop(netem_udp *u)
{
  packet *top = u->heap[0], *last = u->heap[--u->heap_n];
  size_t i = 0;

  for (;;) {
    size_t c = 2 * i + 1;

    if (c >= u->heap_n)
      break;
    if (c + 1 < u->heap_n && earlier(u->heap[c + 1], u->heap[c]))
      c++;
    if (!earlier(u->heap[c], last))
      break;
    u->heap[i] = u->heap[c];
    i = c;
  }
  if (u->heap_n > 0)
    u->heap[i] = last;
  return top;
}

static void drop(netem_udp *u, packet *p)
{
  assert(u->inflight_bytes >= p->len);
  u->inflight_bytes -= p->len;
  free(p);
}

/* ---- delivery ----------------------------------------------------------- */

static void deliver(netem_udp *u, packet *p, int64_t now)
{
  udp_dir *s = &u->dir[p->dir];
  udp_flow *f = &u->flows[p->flow];
  ssize_t n;

  if (netem_schedule_active(&u->ctx->faults.partition, now)) {
    s->st.partition++;
  } else if (f->io.fd < 0 || f->gen != p->flow_gen) {
    s->st.send_fail++;
  } else {
    if (p->dir == NETEM_UP)
      n = send(f->io.fd, p->data, p->len, 0);
    else
      n = sendto(u->io.fd, p->data, p->len, 0,
                 (const struct sockaddr *)&f->peer.sa, f->peer.len);
    if (n == (ssize_t)p->len) {
      s->st.out++;
      s->st.bytes_out += p->len;
    } else {
      s->st.send_fail++;
    }
  }
  drop(u, p);
}

static void on_delay_timer(netem_timer *t, int64_t now)
{
  netem_udp *u = NETEM_CONTAINER(t, netem_udp, timer);

  while (u->heap_n > 0 && u->heap[0]->due_ns <= now)
    deliver(u, heap_pop(u), now);
  if (u->heap_n > 0)
    netem_timer_arm(&u->timer, u->heap[0]->due_ns);
}

/* The delay step: queues p for delivery after the delay it drew. */
static void schedule(netem_udp *u, int d, packet *p, int64_t now)
{
  udp_dir *s = &u->dir[d];

  p->due_ns = now + p->delay_ns;
  if (heap_push(u, p) != 0) {
    s->st.overflow++;
    drop(u, p);
    return;
  }
  netem_timer_arm(&u->timer, u->heap[0]->due_ns);
}

/* ---- the rate step ------------------------------------------------------ */

static void rate_refill(udp_dir *s, const netem_dir_faults *f, double cap,
                        int64_t now)
{
  double t = s->tokens + (double)(now - s->tokens_ns) / 1e9 *
                             f->rate_bytes_s;

  s->tokens = t < cap ? t : cap;
  s->tokens_ns = now;
}

/* Moves the datagrams whose tokens are there on to the delay step, and
 * arms the rate timer for the next one. */
static void rate_drain(netem_udp *u, int d, int64_t now)
{
  const netem_dir_faults *f = &u->ctx->faults.dir[d];
  udp_dir *s = &u->dir[d];

  while (s->fifo_n > 0) {
    packet *p = s->fifo[s->fifo_head];
    double cap = netem_burst_bytes(f);

    if (f->rate_bytes_s > 0) {
      if ((double)p->len > cap)
        cap = (double)p->len;
      rate_refill(s, f, cap, now);
      if (s->tokens < (double)p->len) {
        double wait_s = ((double)p->len - s->tokens) / f->rate_bytes_s;

        netem_timer_arm(&s->rate_timer, now + (int64_t)(wait_s * 1e9) + 1);
        return;
      }
      s->tokens -= (double)p->len;
    }
    s->fifo_head = (s->fifo_head + 1) % s->fifo_cap;
    s->fifo_n--;
    s->fifo_bytes -= p->len;
    schedule(u, d, p, now);
  }
  netem_timer_cancel(&s->rate_timer);
}

static void on_rate_timer(netem_timer *t, int64_t now)
{
  udp_dir *s = NETEM_CONTAINER(t, udp_dir, rate_timer);

  rate_drain(s->relay, s->d, now);
}

/* Adds p to the rate FIFO. Returns 0, or -1 when it does not fit (the
 * queue limit, or no memory). */
static int fifo_push(udp_dir *s, const netem_dir_faults *f, packet *p)
{
  if (s->fifo_bytes + p->len > f->queue_limit_bytes)
    return -1;
  if (s->fifo_n == s->fifo_cap) {
    size_t cap = s->fifo_cap ? 2 * s->fifo_cap : 64;
    packet **q = malloc(cap * sizeof *q);

    if (q == NULL)
      return -1;
    for (size_t i = 0; i < s->fifo_n; i++)
      q[i] = s->fifo[(s->fifo_head + i) % s->fifo_cap];
    free(s->fifo);
    s->fifo = q;
    s->fifo_cap = cap;
    s->fifo_head = 0;
  }
  s->fifo[(s->fifo_head + s->fifo_n) % s->fifo_cap] = p;
  s->fifo_n++;
  s->fifo_bytes += p->len;
  return 0;
}

static void rate_or_schedule(netem_udp *u, int d, packet *p, int64_t now)
{
  const netem_dir_faults *f = &u->ctx->faults.dir[d];
  udp_dir *s = &u->dir[d];

  if (f->rate_bytes_s <= 0 && s->fifo_n == 0) {
    schedule(u, d, p, now);
    return;
  }
  if (s->fifo_n == 0 && s->tokens_ns == 0) {
    s->tokens = netem_burst_bytes(f);
    s->tokens_ns = now;
  }
  if (fifo_push(s, f, p) != 0) {
    s->st.queue++;
    drop(u, p);
    return;
  }
  rate_drain(u, d, now);
}

/* ---- arrival ------------------------------------------------------------ */

/* The loss decision of one datagram. Gilbert-Elliott: the state moves
 * first (good to bad with P, bad to good with R), then the datagram is
 * lost with the new state's loss (1-H in bad, 1-K in good). */
static bool lose(udp_dir *s, const netem_dir_faults *f)
{
  switch (f->loss_model) {
  case NETEM_LOSS_RANDOM:
    return netem_rng_chance(&s->rng, f->loss);
  case NETEM_LOSS_GEMODEL:
    if (!s->ge_bad)
      s->ge_bad = netem_rng_chance(&s->rng, f->ge_p);
    else
      s->ge_bad = !netem_rng_chance(&s->rng, f->ge_r);
    return netem_rng_chance(&s->rng, s->ge_bad ? f->ge_1h : f->ge_1k);
  case NETEM_LOSS_NONE:
  default:
    return false;
  }
}

/* A copy of the datagram, counted in flight; NULL when over the limit or
 * out of memory. */
static packet *packet_new(netem_udp *u, int d, int flow, const uint8_t *data,
                          size_t len)
{
  packet *p;

  if (u->inflight_bytes + len > INFLIGHT_MAX_BYTES)
    return NULL;
  p = malloc(sizeof *p + len);
  if (p == NULL)
    return NULL;
  p->order = u->order++;
  p->dir = d;
  p->flow = flow;
  p->flow_gen = u->flows[flow].gen;
  p->len = len;
  memcpy(p->data, data, len);
  u->inflight_bytes += len;
  return p;
}

static void arrive(netem_udp *u, int d, int flow, const uint8_t *data,
                   size_t len, int64_t now)
{
  const netem_faults *all = &u->ctx->faults;
  const netem_dir_faults *f = &all->dir[d];
  udp_dir *s = &u->dir[d];
  int copies;

  s->st.in++;
  s->st.bytes_in += len;
  if (netem_schedule_active(&all->partition, now)) {
    s->st.partition++;
    return;
  }
  if (f->blackhole) {
    s->st.blackhole++;
    return;
  }
  if (lose(s, f)) {
    s->st.loss++;
    return;
  }
  copies = netem_rng_chance(&s->rng, f->duplicate) ? 2 : 1;
  s->st.duplicate += (uint64_t)(copies - 1);
  for (int c = 0; c < copies; c++) {
    packet *p = packet_new(u, d, flow, data, len);

    if (p == NULL) {
      s->st.overflow++;
      continue;
    }
    if (len > 0 && netem_rng_chance(&s->rng, f->corrupt)) {
      uint64_t bit = netem_rng_range(&s->rng, 0, len * 8 - 1);

      p->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      s->st.corrupt++;
    }
    p->delay_ns = netem_draw_delay(f, &s->rng);
    note_draw(&s->st.draws, p->delay_ns);
    if (netem_rng_chance(&s->rng, f->reorder)) {
      p->delay_ns += f->reorder_hold_ns;
      s->st.reorder++;
    }
    rate_or_schedule(u, d, p, now);
  }
}

/* ---- flows -------------------------------------------------------------- */

static void flow_close(udp_flow *f)
{
  netem_io_close(&f->io);
  f->gen++;
}

static void on_flow_readable(netem_io *io, uint32_t events)
{
  udp_flow *f = NETEM_CONTAINER(io, udp_flow, io);
  netem_udp *u = f->relay;
  uint8_t buf[DATAGRAM_MAX];

  for (int i = 0; i < READS_PER_TURN; i++) {
    ssize_t n = recv(io->fd, buf, sizeof buf, 0);

    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      continue; /* an ICMP error from the target: not for a datagram */
    }
    f->last_ns = netem_now_ns();
    arrive(u, NETEM_DOWN, (int)(f - u->flows), buf, (size_t)n, f->last_ns);
  }
}

/* Opens a flow for a new peer in a free slot, or in the one used least
 * recently. Returns its index, or -1. */
static int flow_open(netem_udp *u, const netem_addr *peer, int64_t now)
{
  int slot = 0;
  udp_flow *f;

  for (int i = 0; i < FLOWS_MAX; i++) {
    if (u->flows[i].io.fd < 0) {
      slot = i;
      break;
    }
    if (u->flows[i].last_ns < u->flows[slot].last_ns)
      slot = i;
  }
  f = &u->flows[slot];
  if (f->io.fd >= 0) {
    plog_info(0, "udp%d: flow %d idle longest, closed for a new peer",
              u->index, slot);
    flow_close(f);
  }
  f->io.fd = socket(u->target.sa.ss_family,
                    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (f->io.fd < 0)
    return -1;
  netem_socket_big_buffers(f->io.fd);
  if (connect(f->io.fd, (const struct sockaddr *)&u->target.sa,
              u->target.len) != 0 ||
      netem_io_watch(&f->io, EPOLLIN) != 0) {
    flow_close(f);
    return -1;
  }
  f->peer = *peer;
  f->last_ns = now;
  return slot;
}

static int flow_of(netem_udp *u, const netem_addr *peer, int64_t now)
{
  for (int i = 0; i < FLOWS_MAX; i++) {
    if (u->flows[i].io.fd >= 0 && netem_addr_equal(&u->flows[i].peer, peer)) {
      u->flows[i].last_ns = now;
      return i;
    }
  }
  return flow_open(u, peer, now);
}

static void on_listen_readable(netem_io *io, uint32_t events)
{
  netem_udp *u = NETEM_CONTAINER(io, netem_udp, io);
  uint8_t buf[DATAGRAM_MAX];

  for (int i = 0; i < READS_PER_TURN; i++) {
    netem_addr peer;
    ssize_t n;
    int64_t now;
    int flow;

    memset(&peer, 0, sizeof peer);
    peer.len = sizeof peer.sa;
    n = recvfrom(io->fd, buf, sizeof buf, 0, (struct sockaddr *)&peer.sa,
                 &peer.len);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      continue;
    }
    now = netem_now_ns();
    flow = flow_of(u, &peer, now);
    if (flow < 0) {
      u->dir[NETEM_UP].st.in++;
      u->dir[NETEM_UP].st.send_fail++;
      continue;
    }
    arrive(u, NETEM_UP, flow, buf, (size_t)n, now);
  }
}

/* ---- the relay ---------------------------------------------------------- */

netem_udp *netem_udp_open(netem_ctx *ctx, int index, const netem_addr *listen,
                          const netem_addr *target, char *err,
                          size_t err_len)
{
  netem_udp *u = calloc(1, sizeof *u);
  char where[64];

  if (u == NULL) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  u->ctx = ctx;
  u->index = index;
  u->target = *target;
  u->timer.on_fire = on_delay_timer;
  for (int i = 0; i < FLOWS_MAX; i++) {
    u->flows[i].relay = u;
    u->flows[i].io.fd = -1;
    u->flows[i].io.on_event = on_flow_readable;
  }
  for (int d = 0; d < 2; d++) {
    u->dir[d].relay = u;
    u->dir[d].d = d;
    u->dir[d].rate_timer.on_fire = on_rate_timer;
    netem_rng_seed(&u->dir[d].rng, ctx->seed, 0x100u * (index + 1u) + d);
  }
  u->io.on_event = on_listen_readable;
  u->io.fd = netem_socket_bind(listen, SOCK_DGRAM, false);
  if (u->io.fd < 0 || netem_addr_local(u->io.fd, &u->listen) != 0 ||
      netem_io_watch(&u->io, EPOLLIN) != 0) {
    netem_addr_format(listen, where, sizeof where);
    snprintf(err, err_len, "cannot listen on %s: %s", where,
             strerror(errno));
    netem_udp_close(u);
    return NULL;
  }
  netem_socket_big_buffers(u->io.fd);
  return u;
}

void netem_udp_close(netem_udp *u)
{
  if (u == NULL)
    return;
  netem_timer_cancel(&u->timer);
  while (u->heap_n > 0)
    drop(u, heap_pop(u));
  free(u->heap);
  for (int d = 0; d < 2; d++) {
    udp_dir *s = &u->dir[d];

    netem_timer_cancel(&s->rate_timer);
    for (size_t i = 0; i < s->fifo_n; i++)
      drop(u, s->fifo[(s->fifo_head + i) % s->fifo_cap]);
    free(s->fifo);
  }
  for (int i = 0; i < FLOWS_MAX; i++)
    netem_io_close(&u->flows[i].io);
  if (u->io.fd >= 0)
    netem_io_close(&u->io);
  free(u);
}

void netem_udp_describe(const netem_udp *u, netem_buf *out)
{
  char a[64], b[64];

  netem_addr_format(&u->listen, a, sizeof a);
  netem_addr_format(&u->target, b, sizeof b);
  netem_buf_printf(out, "udp %s -> %s", a, b);
}

void netem_udp_kick(netem_udp *u)
{
  int64_t now = netem_now_ns();

  for (int d = 0; d < 2; d++)
    rate_drain(u, d, now);
}

void netem_udp_stats(const netem_udp *u, netem_buf *out)
{
  static const char *const dname[2] = {"up", "down"};
  int flows = 0;

  for (int i = 0; i < FLOWS_MAX; i++)
    flows += u->flows[i].io.fd >= 0;
  netem_buf_printf(out, "udp%d.flows %d\nudp%d.in-flight %zu\n", u->index,
                   flows, u->index,
                   u->heap_n + u->dir[0].fifo_n + u->dir[1].fifo_n);
  for (int d = 0; d < 2; d++) {
    const udp_stats *s = &u->dir[d].st;
    const char *n = dname[d];
    int i = u->index;

    netem_buf_printf(out,
                     "udp%d.%s.in %llu\nudp%d.%s.bytes-in %llu\n"
                     "udp%d.%s.out %llu\nudp%d.%s.bytes-out %llu\n",
                     i, n, (unsigned long long)s->in, i, n,
                     (unsigned long long)s->bytes_in, i, n,
                     (unsigned long long)s->out, i, n,
                     (unsigned long long)s->bytes_out);
    netem_buf_printf(out,
                     "udp%d.%s.loss %llu\nudp%d.%s.partition %llu\n"
                     "udp%d.%s.blackhole %llu\nudp%d.%s.queue-drop %llu\n"
                     "udp%d.%s.overflow %llu\nudp%d.%s.send-fail %llu\n",
                     i, n, (unsigned long long)s->loss, i, n,
                     (unsigned long long)s->partition, i, n,
                     (unsigned long long)s->blackhole, i, n,
                     (unsigned long long)s->queue, i, n,
                     (unsigned long long)s->overflow, i, n,
                     (unsigned long long)s->send_fail);
    netem_buf_printf(out,
                     "udp%d.%s.duplicate %llu\nudp%d.%s.corrupt %llu\n"
                     "udp%d.%s.reorder %llu\n",
                     i, n, (unsigned long long)s->duplicate, i, n,
                     (unsigned long long)s->corrupt, i, n,
                     (unsigned long long)s->reorder);
    print_draws(out, i, n, &s->draws);
  }
}
