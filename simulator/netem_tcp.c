/* The TCP relay of parley-netem.
 *
 * Each accepted connection (side 0, the peer) gets a connection to the
 * target (side 1) and two lanes: up reads side 0 and writes side 1, down
 * the reverse. A byte stream cannot lose or reorder bytes, so the faults
 * are those a stream shows:
 *
 *   delay, jitter  each read becomes a chunk due at now + a drawn delay,
 *                  never before the chunk read before it: bytes keep
 *                  their order, late bytes hold up later ones
 *   rate           a token bucket per lane; writes never pass it
 *   slice          writes are cut into pieces of about slice bytes with
 *                  slice-gap between them (TCP_NODELAY is set, so a
 *                  piece leaves as its own segment)
 *   stall,         nothing is written while a window is open; reading
 *   partition      goes on until LANE_BUFFER_MAX bytes wait, then the
 *                  sender feels the back-pressure
 *   blackhole      the lane reads and discards: the sender's writes
 *                  succeed and nothing arrives, and the connection stays
 *                  open. A lane that discarded a byte is dead for good
 *                  (a stream with a hole cannot go on); it passes on no
 *                  FIN either
 *   resets         `rst` and reset-after close both sides with SO_LINGER
 *                  0, so both peers get an RST
 *
 * A FIN is passed on once everything read before it was written; a
 * connection closes when both lanes are finished (their source said FIN
 * and all was written, or they are dead). A read or write error on one
 * side resets the other. A connection closed during a loop turn is freed
 * after the turn. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "netem.h"

#define CONNS_MAX 512
#define READ_CHUNK 16384
#define READS_PER_EVENT 4
#define LANE_BUFFER_MAX (1024 * 1024)

typedef struct chunk {
  struct chunk *next;
  int64_t due_ns;
  size_t len, off;
  uint8_t data[];
} chunk;

typedef struct conn conn;

typedef struct lane {
  conn *conn;
  int d; /* reads side d, writes side 1 - d */
  chunk *head, *tail;
  size_t queued;
  int64_t last_due_ns;
  int64_t next_piece_ns;
  uint64_t piece_left;
  double tokens;
  int64_t tokens_ns;
  netem_rng rng;       /* delays, drawn per read */
  netem_rng slice_rng; /* slice sizes, drawn per piece written */
  netem_timer timer;
  bool src_eof, dst_shut, dead, want_write;
} lane;

struct conn {
  conn *prev, *next;
  netem_tcp *relay;
  uint64_t id;
  netem_io side[2];
  lane lane[2];
  bool connecting, closed;
  netem_timer reset_timer;
};

typedef struct tcp_stats {
  uint64_t accepted, refused, connect_failed, resets, aborted, closed;
  uint64_t bytes_in[2], bytes_out[2], bytes_dropped[2];
} tcp_stats;

struct netem_tcp {
  netem_ctx *ctx;
  int index;
  netem_addr listen, target;
  netem_io io;
  conn *conns;
  int n_conns;
  uint64_t next_id;
  tcp_stats st;
};

static void lane_pump(lane *l, int64_t now);

static const char *const lane_name[2] = {"up", "down"};

/* ---- closing ------------------------------------------------------------ */

static void free_chunks(lane *l)
{
  chunk *ch;

  while ((ch = l->head) != NULL) {
    l->head = ch->next;
    free(ch);
  }
  l->tail = NULL;
  l->queued = 0;
}

/* Takes c out of the relay and frees it after the loop turn. With
 * `rst` both sides are closed with SO_LINGER 0 (an RST). */
static void conn_close(conn *c, bool rst)
{
  netem_tcp *t = c->relay;
  struct linger lg = {1, 0};

  if (c->closed)
    return;
  c->closed = true;
  for (int s = 0; s < 2; s++) {
    if (rst && c->side[s].fd >= 0)
      setsockopt(c->side[s].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    netem_io_close(&c->side[s]);
    netem_timer_cancel(&c->lane[s].timer);
    free_chunks(&c->lane[s]);
  }
  netem_timer_cancel(&c->reset_timer);
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    t->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  t->n_conns--;
  netem_loop_defer(free, c);
}

/* A reset the relay passes on: a peer's error, or a failed connect. */
static void conn_abort(conn *c, const char *why)
{
  plog_info(c->id, "tcp%d: %s; resetting both sides", c->relay->index,
            why);
  c->relay->st.aborted++;
  conn_close(c, true);
}

static bool lane_finished(const lane *l)
{
  return l->src_eof && (l->dead || (l->head == NULL && l->dst_shut));
}

/* Registers what each side waits for now, and closes c when both lanes
 * are finished. */
static void conn_settle(conn *c)
{
  if (c->closed)
    return;
  if (lane_finished(&c->lane[0]) && lane_finished(&c->lane[1])) {
    plog_debug(c->id, "tcp%d: both directions finished, closed",
               c->relay->index);
    c->relay->st.closed++;
    conn_close(c, false);
    return;
  }
  for (int s = 0; s < 2; s++) {
    const lane *in = &c->lane[s], *out = &c->lane[1 - s];
    uint32_t ev = 0;

    if (c->side[s].fd < 0)
      continue;
    if (!in->src_eof && (in->dead || in->queued < LANE_BUFFER_MAX))
      ev |= EPOLLIN;
    if (out->want_write)
      ev |= EPOLLOUT;
    if (s == 1 && c->connecting)
      ev = EPOLLOUT;
    if (netem_io_watch(&c->side[s], ev) != 0) {
      conn_abort(c, "epoll failed");
      return;
    }
  }
}

/* ---- writing ------------------------------------------------------------ */

/* The time until which stalls and partitions hold every lane (now when
 * none does; NETEM_NEVER while one is switched on without an end). */
static int64_t held_until(const netem_faults *all, int64_t now)
{
  int64_t t = now;

  for (int i = 0; i < 4 * NETEM_WINDOWS_MAX && t != NETEM_NEVER; i++) {
    int64_t u = t;

    if (netem_schedule_active(&all->stall, u))
      u = netem_schedule_end(&all->stall, u);
    if (u != NETEM_NEVER && netem_schedule_active(&all->partition, u))
      u = netem_schedule_end(&all->partition, u);
    if (u == t)
      break;
    t = u;
  }
  return t;
}

/* Makes the lane dead: what waits is discarded, and so is all it reads
 * from now on; a FIN it reads is not passed on. */
static void lane_kill(lane *l)
{
  netem_tcp *t = l->conn->relay;

  if (!l->dead)
    plog_info(l->conn->id, "tcp%d: %s lane goes silent (blackhole)",
              t->index, lane_name[l->d]);
  l->dead = true;
  t->st.bytes_dropped[l->d] += l->queued;
  free_chunks(l);
  netem_timer_cancel(&l->timer);
  l->want_write = false;
}

/* How many bytes of the head chunk may be written now: 0 when the lane
 * must wait, with its timer armed for the moment it may go on. */
static size_t lane_allowance(lane *l, const netem_dir_faults *f,
                             int64_t now)
{
  const chunk *ch = l->head;
  size_t want = ch->len - ch->off;

  if (ch->due_ns > now || l->next_piece_ns > now) {
    netem_timer_arm(&l->timer, ch->due_ns > l->next_piece_ns
                                   ? ch->due_ns : l->next_piece_ns);
    return 0;
  }
  if (f->slice_bytes > 0) {
    if (l->piece_left == 0) {
      uint64_t s = f->slice_bytes, v = f->slice_variation_bytes;

      l->piece_left = netem_rng_range(&l->slice_rng, s > v ? s - v : 1,
                                      s + v);
    }
    if (want > l->piece_left)
      want = (size_t)l->piece_left;
  }
  if (f->rate_bytes_s > 0) {
    double cap = netem_burst_bytes(f), need;

    if (l->tokens_ns == 0)
      l->tokens = cap;
    else
      l->tokens += (double)(now - l->tokens_ns) / 1e9 * f->rate_bytes_s;
    if (l->tokens > cap)
      l->tokens = cap;
    l->tokens_ns = now;
    need = (double)want < cap ? (double)want : cap;
    if (l->tokens < need) {
      netem_timer_arm(&l->timer, now + 1 + (int64_t)((need - l->tokens) /
                                                     f->rate_bytes_s * 1e9));
      return 0;
    }
    if ((double)want > l->tokens)
      want = (size_t)l->tokens;
  }
  return want;
}

/* Writes one piece of the head chunk. Returns false when the lane must
 * stop for now (the socket is full, or c was reset). */
static bool lane_write(lane *l, const netem_dir_faults *f, size_t want,
                       int64_t now)
{
  conn *c = l->conn;
  chunk *ch = l->head;
  ssize_t w = send(c->side[1 - l->d].fd, ch->data + ch->off, want,
                   MSG_NOSIGNAL);

  if (w < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      l->want_write = true;
    } else {
      char why[96];

      snprintf(why, sizeof why, "writing %s: %s", lane_name[l->d],
               strerror(errno));
      conn_abort(c, why);
    }
    return false;
  }
  l->want_write = false;
  ch->off += (size_t)w;
  l->queued -= (size_t)w;
  c->relay->st.bytes_out[l->d] += (uint64_t)w;
  if (f->rate_bytes_s > 0)
    l->tokens -= (double)w;
  if (f->slice_bytes > 0) {
    l->piece_left -= (uint64_t)w < l->piece_left ? (uint64_t)w
                                                 : l->piece_left;
    if (l->piece_left == 0)
      l->next_piece_ns = now + f->slice_gap_ns;
  }
  if (ch->off == ch->len) {
    l->head = ch->next;
    if (l->head == NULL)
      l->tail = NULL;
    free(ch);
  }
  return true;
}

/* Writes what the faults allow now, arms the lane's timer for the rest,
 * passes a FIN on when everything before it was written. */
static void lane_pump(lane *l, int64_t now)
{
  conn *c = l->conn;
  const netem_faults *all = &c->relay->ctx->faults;
  const netem_dir_faults *f = &all->dir[l->d];
  int64_t hold;
  bool work;

  if (c->closed || (l->d == NETEM_UP && c->connecting))
    return;
  work = l->head != NULL || (l->src_eof && !l->dst_shut);
  if (f->blackhole && work)
    lane_kill(l);
  if (l->dead)
    goto settle;
  hold = work ? held_until(all, now) : now;
  if (hold > now) {
    if (hold != NETEM_NEVER)
      netem_timer_arm(&l->timer, hold);
    goto settle;
  }
  while (l->head != NULL) {
    size_t want = lane_allowance(l, f, now);

    if (want == 0 || !lane_write(l, f, want, now))
      break;
  }
  if (c->closed)
    return;
  if (l->head == NULL && l->src_eof && !l->dst_shut) {
    shutdown(c->side[1 - l->d].fd, SHUT_WR);
    l->dst_shut = true;
  }
settle:
  conn_settle(c);
}

static void on_lane_timer(netem_timer *t, int64_t now)
{
  lane_pump(NETEM_CONTAINER(t, lane, timer), now);
}

/* ---- reading ------------------------------------------------------------ */

/* Queues n bytes read by the lane as one chunk (or discards them). */
static void lane_got(lane *l, const uint8_t *buf, size_t n, int64_t now)
{
  const netem_dir_faults *f = &l->conn->relay->ctx->faults.dir[l->d];
  tcp_stats *st = &l->conn->relay->st;
  chunk *ch;

  st->bytes_in[l->d] += n;
  if (f->blackhole && !l->dead)
    lane_kill(l);
  if (l->dead) {
    st->bytes_dropped[l->d] += n;
    return;
  }
  ch = malloc(sizeof *ch + n);
  if (ch == NULL) {
    conn_abort(l->conn, "out of memory");
    return;
  }
  ch->next = NULL;
  ch->len = n;
  ch->off = 0;
  memcpy(ch->data, buf, n);
  ch->due_ns = now + netem_draw_delay(f, &l->rng);
  if (ch->due_ns < l->last_due_ns)
    ch->due_ns = l->last_due_ns;
  l->last_due_ns = ch->due_ns;
  if (l->tail != NULL)
    l->tail->next = ch;
  else
    l->head = ch;
  l->tail = ch;
  l->queued += n;
}

static void lane_read(lane *l)
{
  conn *c = l->conn;
  uint8_t buf[READ_CHUNK];

  for (int i = 0; i < READS_PER_EVENT && !c->closed; i++) {
    ssize_t n;

    if (!l->dead && l->queued >= LANE_BUFFER_MAX)
      break;
    n = recv(c->side[l->d].fd, buf, sizeof buf, 0);
    if (n > 0) {
      lane_got(l, buf, (size_t)n, netem_now_ns());
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (n < 0 && !l->dead) {
      char why[96];

      snprintf(why, sizeof why, "reading %s: %s", lane_name[l->d],
               strerror(errno));
      conn_abort(c, why);
      return;
    }
    l->src_eof = true;
    plog_debug(c->id, "tcp%d: %s lane: end of stream", c->relay->index,
               lane_name[l->d]);
    break;
  }
  if (!c->closed)
    lane_pump(l, netem_now_ns());
}

/* ---- connections -------------------------------------------------------- */

static void set_nodelay(int fd)
{
  int one = 1;

  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void finish_connect(conn *c)
{
  int err = 0;
  socklen_t len = sizeof err;

  if (getsockopt(c->side[1].fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    err = errno;
  if (err != 0) {
    char why[96];

    snprintf(why, sizeof why, "connecting to the target: %s",
             strerror(err));
    c->relay->st.connect_failed++;
    conn_abort(c, why);
    return;
  }
  c->connecting = false;
  set_nodelay(c->side[1].fd);
  lane_pump(&c->lane[NETEM_UP], netem_now_ns());
}

static void on_side(conn *c, int s, uint32_t ev)
{
  lane *in = &c->lane[s], *out = &c->lane[1 - s];

  if (s == 1 && c->connecting) {
    finish_connect(c);
    return;
  }
  if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && out->want_write) {
    out->want_write = false;
    lane_pump(out, netem_now_ns());
    if (c->closed)
      return;
  }
  if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !in->src_eof)
    lane_read(in);
  conn_settle(c);
}

static void on_side0(netem_io *io, uint32_t ev)
{
  on_side(NETEM_CONTAINER(io, conn, side[0]), 0, ev);
}

static void on_side1(netem_io *io, uint32_t ev)
{
  on_side(NETEM_CONTAINER(io, conn, side[1]), 1, ev);
}

static void on_reset_timer(netem_timer *t, int64_t now)
{
  conn *c = NETEM_CONTAINER(t, conn, reset_timer);

  plog_info(c->id, "tcp%d: reset-after: resetting both sides",
            c->relay->index);
  c->relay->st.resets++;
  conn_close(c, true);
}

/* Starts the connection to the target for c. Returns 0, or -1 when it
 * failed at once (errno set). */
static int conn_connect(conn *c)
{
  const netem_addr *to = &c->relay->target;

  c->side[1].fd = socket(to->sa.ss_family,
                         SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->side[1].fd < 0)
    return -1;
  if (connect(c->side[1].fd, (const struct sockaddr *)&to->sa, to->len) ==
      0) {
    set_nodelay(c->side[1].fd);
    return 0;
  }
  if (errno != EINPROGRESS)
    return -1;
  c->connecting = true;
  return 0;
}

/* Lane d of c, with its generators: streams of the seed numbered by
 * relay, connection and direction, so the same seed draws the same
 * delays for the same reads. */
static void lane_init(conn *c, int d)
{
  lane *l = &c->lane[d];
  uint64_t stream = ((uint64_t)(c->relay->index + 1) << 40) |
                    (c->id << 2) | ((uint64_t)d << 1);

  l->conn = c;
  l->d = d;
  l->timer.on_fire = on_lane_timer;
  netem_rng_seed(&l->rng, c->relay->ctx->seed, stream);
  netem_rng_seed(&l->slice_rng, c->relay->ctx->seed, stream | 1);
}

static void conn_open(netem_tcp *t, int fd, int64_t now)
{
  conn *c = calloc(1, sizeof *c);

  if (c == NULL) {
    close(fd);
    return;
  }
  c->relay = t;
  c->id = ++t->next_id;
  c->side[0].fd = fd;
  c->side[0].on_event = on_side0;
  c->side[1].fd = -1;
  c->side[1].on_event = on_side1;
  c->reset_timer.on_fire = on_reset_timer;
  for (int d = 0; d < 2; d++)
    lane_init(c, d);
  c->next = t->conns;
  if (t->conns != NULL)
    t->conns->prev = c;
  t->conns = c;
  t->n_conns++;
  t->st.accepted++;
  set_nodelay(fd);
  plog_debug(c->id, "tcp%d: accepted", t->index);
  if (t->ctx->faults.reset_after_ns > 0)
    netem_timer_arm(&c->reset_timer, now + t->ctx->faults.reset_after_ns);
  if (conn_connect(c) != 0) {
    char why[96];

    snprintf(why, sizeof why, "connecting to the target: %s",
             strerror(errno));
    t->st.connect_failed++;
    conn_abort(c, why);
    return;
  }
  conn_settle(c);
}

static void on_accept(netem_io *io, uint32_t ev)
{
  netem_tcp *t = NETEM_CONTAINER(io, netem_tcp, io);

  for (;;) {
    int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
          errno != ECONNABORTED)
        plog_warn(0, "tcp%d: accept: %s", t->index, strerror(errno));
      return;
    }
    if (t->n_conns >= CONNS_MAX) {
      struct linger lg = {1, 0};

      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      close(fd);
      t->st.refused++;
      continue;
    }
    conn_open(t, fd, netem_now_ns());
  }
}

/* ---- the relay ---------------------------------------------------------- */

netem_tcp *netem_tcp_open(netem_ctx *ctx, int index, const netem_addr *listen,
                          const netem_addr *target, char *err,
                          size_t err_len)
{
  netem_tcp *t = calloc(1, sizeof *t);
  char where[64];

  if (t == NULL) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  t->ctx = ctx;
  t->index = index;
  t->target = *target;
  t->io.on_event = on_accept;
  t->io.fd = netem_socket_bind(listen, SOCK_STREAM, true);
  if (t->io.fd < 0 || netem_addr_local(t->io.fd, &t->listen) != 0 ||
      netem_io_watch(&t->io, EPOLLIN) != 0) {
    netem_addr_format(listen, where, sizeof where);
    snprintf(err, err_len, "cannot listen on %s: %s", where,
             strerror(errno));
    netem_tcp_close(t);
    return NULL;
  }
  return t;
}

void netem_tcp_close(netem_tcp *t)
{
  if (t == NULL)
    return;
  while (t->conns != NULL)
    conn_close(t->conns, false);
  if (t->io.fd >= 0)
    netem_io_close(&t->io);
  free(t);
}

void netem_tcp_describe(const netem_tcp *t, netem_buf *out)
{
  char a[64], b[64];

  netem_addr_format(&t->listen, a, sizeof a);
  netem_addr_format(&t->target, b, sizeof b);
  netem_buf_printf(out, "tcp %s -> %s", a, b);
}

void netem_tcp_kick(netem_tcp *t)
{
  int64_t now = netem_now_ns();
  conn *c = t->conns;

  while (c != NULL) {
    conn *next = c->next;

    for (int d = 0; d < 2 && !c->closed; d++)
      lane_pump(&c->lane[d], now);
    c = next;
  }
}

int netem_tcp_reset_all(netem_tcp *t)
{
  int n = 0;

  while (t->conns != NULL) {
    plog_info(t->conns->id, "tcp%d: rst: resetting both sides", t->index);
    conn_close(t->conns, true);
    t->st.resets++;
    n++;
  }
  return n;
}

void netem_tcp_stats(const netem_tcp *t, netem_buf *out)
{
  const tcp_stats *s = &t->st;
  int i = t->index;

  netem_buf_printf(out,
                   "tcp%d.accepted %llu\ntcp%d.open %d\ntcp%d.refused %llu\n"
                   "tcp%d.connect-failed %llu\ntcp%d.resets %llu\n"
                   "tcp%d.aborted %llu\ntcp%d.closed %llu\n",
                   i, (unsigned long long)s->accepted, i, t->n_conns, i,
                   (unsigned long long)s->refused, i,
                   (unsigned long long)s->connect_failed, i,
                   (unsigned long long)s->resets, i,
                   (unsigned long long)s->aborted, i,
                   (unsigned long long)s->closed);
  for (int d = 0; d < 2; d++) {
    uint64_t queued = 0;

    for (const conn *c = t->conns; c != NULL; c = c->next)
      queued += c->lane[d].queued;
    netem_buf_printf(out,
                     "tcp%d.%s.bytes-in %llu\ntcp%d.%s.bytes-out %llu\n"
                     "tcp%d.%s.bytes-dropped %llu\ntcp%d.%s.bytes-queued "
                     "%llu\n",
                     i, lane_name[d], (unsigned long long)s->bytes_in[d], i,
                     lane_name[d], (unsigned long long)s->bytes_out[d], i,
                     lane_name[d], (unsigned long long)s->bytes_dropped[d],
                     i, lane_name[d], (unsigned long long)queued);
  }
}
