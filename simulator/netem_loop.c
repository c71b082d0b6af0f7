/* The event loop of parley-netem: one epoll set, one timerfd armed
 * (absolute, CLOCK_MONOTONIC, nanosecond precision) for the earliest of
 * a binary heap of timers, and a signalfd for SIGINT and SIGTERM.
 *
 * A turn waits for events, dispatches them, fires every timer that is
 * due, then runs the deferred frees. Objects closed during a turn are
 * freed only after it, so a later event of the same turn never touches
 * freed memory; events of a closed netem_io (fd -1) are skipped.
 *
 * Invariant: heap[i]->slot == i + 1 and heap[(i - 1) / 2]->due_ns <=
 * heap[i]->due_ns for every i > 0. */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "netem.h"

#define EVENTS_MAX 64

typedef struct deferred {
  struct deferred *next;
  void (*fn)(void *);
  void *arg;
} deferred;

static int epfd = -1;
static netem_io timer_io = {-1, 0, NULL};
static netem_io signal_io = {-1, 0, NULL};
static netem_timer **heap;
static size_t heap_n, heap_cap;
static int64_t timerfd_due = -1;
static deferred *deferred_head;
static bool stopping;
static sigset_t old_mask;

static void on_timerfd(netem_io *io, uint32_t ev)
{
  uint64_t expirations;

  if (read(io->fd, &expirations, sizeof expirations) < 0) {
    /* EAGAIN: it was re-armed after it fired; nothing to do. */
  }
  timerfd_due = -1;
}

static void on_signal(netem_io *io, uint32_t ev)
{
  struct signalfd_siginfo si;

  while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si)
    stopping = true;
}

int netem_loop_init(void)
{
  sigset_t mask;

  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &mask, &old_mask) != 0)
    return -1;
  signal(SIGPIPE, SIG_IGN);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  timer_io.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  signal_io.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  timer_io.on_event = on_timerfd;
  signal_io.on_event = on_signal;
  if (epfd < 0 || timer_io.fd < 0 || signal_io.fd < 0 ||
      netem_io_watch(&timer_io, EPOLLIN) != 0 ||
      netem_io_watch(&signal_io, EPOLLIN) != 0) {
    netem_loop_free();
    return -1;
  }
  return 0;
}

static void run_deferred(void)
{
  deferred *d;

  while ((d = deferred_head) != NULL) {
    deferred_head = d->next;
    d->fn(d->arg);
    free(d);
  }
}

void netem_loop_free(void)
{
  run_deferred();
  if (timer_io.fd >= 0)
    netem_io_close(&timer_io);
  if (signal_io.fd >= 0)
    netem_io_close(&signal_io);
  if (epfd >= 0)
    close(epfd);
  epfd = -1;
  free(heap);
  heap = NULL;
  heap_n = heap_cap = 0;
  sigprocmask(SIG_SETMASK, &old_mask, NULL);
}

int netem_io_watch(netem_io *io, uint32_t events)
{
  struct epoll_event ev;
  int op;

  assert(io->fd >= 0);
  if (events == io->events)
    return 0;
  memset(&ev, 0, sizeof ev);
  ev.events = events;
  ev.data.ptr = io;
  if (events == 0)
    op = EPOLL_CTL_DEL;
  else
    op = io->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (epoll_ctl(epfd, op, io->fd, &ev) != 0)
    return -1;
  io->events = events;
  return 0;
}

void netem_io_close(netem_io *io)
{
  if (io->fd < 0)
    return;
  if (io->events != 0)
    epoll_ctl(epfd, EPOLL_CTL_DEL, io->fd, NULL);
  close(io->fd);
  io->fd = -1;
  io->events = 0;
}

/* ---- the timer heap ---------------------------------------------------- */

static void heap_place(size_t i, netem_timer *t)
{
  heap[i] = t;
  t->slot = i + 1;
}

static void sift_up(size_t i)
{
  netem_timer *t = heap[i];

  while (i > 0 && heap[(i - 1) / 2]->due_ns > t->due_ns) {
    heap_place(i, heap[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
  heap_place(i, t);
}

static void sift_down(size_t i)
{
  netem_timer *t = heap[i];

  for (;;) {
    size_t c = 2 * i + 1;

    if (c >= heap_n)
      break;
    if (c + 1 < heap_n && heap[c + 1]->due_ns < heap[c]->due_ns)
      c++;
    if (heap[c]->due_ns >= t->due_ns)
      break;
    heap_place(i, heap[c]);
    i = c;
  }
  heap_place(i, t);
}

void netem_timer_cancel(netem_timer *t)
{
  size_t i;

  if (t->slot == 0)
    return;
  i = t->slot - 1;
  assert(heap[i] == t);
  t->slot = 0;
  heap_n--;
  if (i == heap_n)
    return;
  heap_place(i, heap[heap_n]);
  if (i > 0 && heap[(i - 1) / 2]->due_ns > heap[i]->due_ns)
    sift_up(i);
  else
    sift_down(i);
}

void netem_timer_arm(netem_timer *t, int64_t due_ns)
{
  if (t->slot != 0 && t->due_ns == due_ns)
    return;
  netem_timer_cancel(t);
  if (heap_n == heap_cap) {
    size_t cap = heap_cap ? 2 * heap_cap : 64;
    netem_timer **p = realloc(heap, cap * sizeof *p);

    /* Without memory the loop cannot keep its promises. */
    if (p == NULL)
      abort();
    heap = p;
    heap_cap = cap;
  }
  t->due_ns = due_ns;
  heap_place(heap_n++, t);
  sift_up(heap_n - 1);
}

/* Points the timerfd at the earliest timer (or disarms it). */
static void arm_timerfd(void)
{
  struct itimerspec its;
  int64_t due = heap_n > 0 ? heap[0]->due_ns : -1;

  if (due == timerfd_due)
    return;
  memset(&its, 0, sizeof its);
  if (due >= 0) {
    if (due < 1)
      due = 1; /* 0 would disarm */
    its.it_value.tv_sec = due / NETEM_NS_PER_S;
    its.it_value.tv_nsec = due % NETEM_NS_PER_S;
  }
  timerfd_settime(timer_io.fd, TFD_TIMER_ABSTIME, &its, NULL);
  timerfd_due = due;
}

static void fire_due_timers(void)
{
  int64_t now = netem_now_ns();

  while (heap_n > 0 && heap[0]->due_ns <= now) {
    netem_timer *t = heap[0];

    netem_timer_cancel(t);
    t->on_fire(t, now);
  }
}

int netem_loop_defer(void (*fn)(void *), void *arg)
{
  deferred *d = malloc(sizeof *d);

  if (d == NULL) {
    fn(arg);
    return -1;
  }
  d->fn = fn;
  d->arg = arg;
  d->next = deferred_head;
  deferred_head = d;
  return 0;
}

void netem_loop_stop(void)
{
  stopping = true;
}

int netem_loop_run(void)
{
  struct epoll_event evs[EVENTS_MAX];

  while (!stopping) {
    int n;

    arm_timerfd();
    n = epoll_wait(epfd, evs, EVENTS_MAX, -1);
    if (n < 0 && errno != EINTR)
      return -1;
    for (int i = 0; i < n; i++) {
      netem_io *io = evs[i].data.ptr;

      if (io->fd >= 0)
        io->on_event(io, evs[i].events);
    }
    fire_due_timers();
    run_deferred();
  }
  return 0;
}
