/* Runs the server core's actions (include/parley/server.h) on the real
 * world: frames to WebSocket sessions, store requests to the store
 * thread, timers to one lws timer, API answers to pending HTTP requests,
 * log lines to the logger.
 *
 * Invariants: the core is called only on the lws service thread; every
 * call into it is followed by host_pump, which copies what an action
 * points to before the next call; store results are fed back in the
 * order the store finished them, which is submission order. The timer
 * keeps every time the core asked for in a min-heap and fires at the
 * earliest, so no request is lost whether or not a later TIMER action
 * supersedes an earlier one. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host.h"
#include "log.h"

#define TIMER_HEAP_MAX 65536
#define TIMER_OVERFLOW_TICK_MS 100

uint64_t host_now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- timers ----------------------------------------------------------- */

static void timer_sift_up(uint64_t *t, size_t i)
{
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (t[parent] <= t[i])
      break;
    uint64_t x = t[parent];
    t[parent] = t[i];
    t[i] = x;
    i = parent;
  }
}

static void timer_sift_down(uint64_t *t, size_t n, size_t i)
{
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && t[l] < t[m])
      m = l;
    if (r < n && t[r] < t[m])
      m = r;
    if (m == i)
      return;
    uint64_t x = t[m];
    t[m] = t[i];
    t[i] = x;
    i = m;
  }
}

static void timer_fired(lws_sorted_usec_list_t *sul);

/* Points the lws timer at the earliest requested time (or at a short
 * tick while requests were dropped for lack of room). */
static void timer_arm(host *h)
{
  uint64_t now = host_now_ms(), at;

  if (h->destroying)
    return;
  if (h->timer_count == 0 && !h->timer_overflow) {
    lws_sul_cancel(&h->sul);
    return;
  }
  at = h->timer_count ? h->timers[0] : now + TIMER_OVERFLOW_TICK_MS;
  if (h->timer_overflow && at > now + TIMER_OVERFLOW_TICK_MS)
    at = now + TIMER_OVERFLOW_TICK_MS;
  lws_sul_schedule(h->lws, 0, &h->sul, timer_fired,
                   at > now ? (lws_usec_t)(at - now) * 1000 : 0);
}

/* Records a time the core wants to be woken at. */
static void timer_add(host *h, uint64_t at_ms)
{
  if (h->timer_count && h->timers[0] == at_ms)
    return;
  if (h->timer_count == h->timer_cap) {
    size_t cap = h->timer_cap ? h->timer_cap * 2 : 64;
    uint64_t *t = NULL;
    if (cap <= TIMER_HEAP_MAX)
      t = realloc(h->timers, cap * sizeof *t);
    if (!t) {
      if (!h->timer_overflow)
        plog_warn(0, "timers: too many pending wake-ups; ticking instead");
      h->timer_overflow = true;
      timer_arm(h);
      return;
    }
    h->timers = t;
    h->timer_cap = cap;
  }
  h->timers[h->timer_count] = at_ms;
  timer_sift_up(h->timers, h->timer_count++);
  if (h->timers[0] == at_ms)
    timer_arm(h);
}

/* The lws timer fired: drop every due time, tell the core, re-arm. */
static void timer_fired(lws_sorted_usec_list_t *sul)
{
  host *h = lws_container_of(sul, host, sul);
  uint64_t now = host_now_ms();

  while (h->timer_count && h->timers[0] <= now) {
    h->timers[0] = h->timers[--h->timer_count];
    timer_sift_down(h->timers, h->timer_count, 0);
  }
  if (h->timer_overflow && h->timer_count < TIMER_HEAP_MAX / 2)
    h->timer_overflow = false;
  parley_server_on_time(h->core, now);
  host_pump(h);
  timer_arm(h);
}

/* ---- actions -------------------------------------------------------- */

/* Queues one store request of the core for this pump's batch. */
static void act_store(host *h, const parley_store_req *req)
{
  if (!req || store_batch_add(&h->batch, req) != 0) {
    plog_error(0, "store: cannot queue a request (out of memory)");
    h->fatal = true;
  }
}

static void dispatch(host *h, const parley_action *a)
{
  switch (a->kind) {
  case PARLEY_ACT_SEND:
    ws_send(h, a->conn, a->data, a->len);
    break;
  case PARLEY_ACT_CLOSE:
    ws_close(h, a->conn, a->ws_code);
    break;
  case PARLEY_ACT_STORE:
    act_store(h, a->store);
    break;
  case PARLEY_ACT_TIMER:
    timer_add(h, a->at_ms);
    break;
  case PARLEY_ACT_API_REPLY:
    if (a->api)
      http_api_on_reply(h, a->api);
    break;
  case PARLEY_ACT_LOG:
    plog(a->log_level, a->conn, "%s", a->data ? a->data : "");
    break;
  case PARLEY_ACT_FATAL:
    plog_error(a->conn, "core: fatal: %s",
               a->data ? a->data : "the store failed");
    h->fatal = true;
    break;
  default:
    plog_warn(a->conn, "core: unknown action %d", (int)a->kind);
  }
}

void host_pump(host *h)
{
  parley_action a;

  while (parley_server_next_action(h->core, &a))
    dispatch(h, &a);
  if (h->batch.count && !h->fatal &&
      store_batch_submit(h->st, &h->batch) != 0) {
    plog_error(0, "store: not taking requests");
    h->fatal = true;
  }
  if (h->fatal) {
    store_batch_discard(&h->batch);
    lws_cancel_service(h->lws);
  }
}

/* ---- drain and wake-ups ------------------------------------------------ */

static void drain_tick(lws_sorted_usec_list_t *sul)
{
  host *h = lws_container_of(sul, host, drain_sul);

  /* Nothing to do here: returning from lws_service lets the main loop
   * check whether the drain is over or past its deadline. */
  lws_sul_schedule(h->lws, 0, &h->drain_sul, drain_tick, 100 * 1000);
}

/* Starts a drain: new connections are refused (http_api.c drops them as
 * they are accepted, LWS_CALLBACK_FILTER_NETWORK_CONNECTION), every
 * session gets going-away, and the pending store requests still
 * complete. lws 4.1.6 has no working call that closes the listening
 * socket while the context keeps serving (lws_context_deprecate crashes
 * when called from a callback). */
static void begin_drain(host *h)
{
  uint64_t now = host_now_ms();

  h->draining = true;
  h->drain_deadline_ms = now + HOST_DRAIN_MAX_MS;
  plog_info(0, "draining: no new connections, closing sessions");
  parley_server_drain(h->core, now);
  host_pump(h);
  store_drop_passwords(h->st); /* queued token requests get 503 */
  lws_sul_schedule(h->lws, 0, &h->drain_sul, drain_tick, 100 * 1000);
}

void host_on_wakeup(host *h)
{
  store_done *list = store_take_done(h->st);

  while (list) {
    store_done *d = list;
    list = d->next;
    if (d->kind == STORE_JOB_CORE && !h->fatal) {
      parley_server_on_store_done(h->core, &d->result, host_now_ms());
      host_pump(h);
    } else if (d->kind != STORE_JOB_CORE) {
      http_api_on_done(h, d);
    }
    store_done_free(d);
  }
  if (atomic_load(&h->stop_requested) && !h->draining && !h->fatal)
    begin_drain(h);
}

bool host_drained(host *h)
{
  return h->draining && h->ws_count == 0 && h->http_busy == 0 &&
         store_in_flight(h->st) == 0;
}

void host_free(host *h)
{
  h->destroying = true;
  lws_sul_cancel(&h->sul);
  lws_sul_cancel(&h->drain_sul);
  store_batch_discard(&h->batch);
  free(h->timers);
  h->timers = NULL;
  h->timer_count = h->timer_cap = 0;
}
