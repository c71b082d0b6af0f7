/* parley-sim: one seeded, deterministic run.
 *
 * Design. Everything happens on one thread as events taken off one
 * queue, ordered by (virtual time in ms, insertion counter): ties go in
 * the order they were scheduled, so a run depends on nothing but its
 * seed. One xoshiro256** generator (sim_rng.c) draws the world, the
 * workload, the faults and the seeds handed to the cores. The cores are
 * the real ones (libparley); the server's store is the reference
 * server's SQLite code, run synchronously at the virtual time a commit
 * ends (sim_server.c); the network is a set of ordered, reliable pipes
 * whose faults are the ones a TCP stream shows (sim_net.c).
 *
 * Every event taken off the queue, and every note the modules make
 * about what the cores did (frames delivered, messages shown, ACKs,
 * commits, faults), is hashed with 64-bit FNV-1a. The same seed gives
 * the same hash, whatever the build; --trace prints the notes; the last
 * N are kept in a ring and printed when an invariant fails.
 *
 * A run: draw the world (sim_work.c), start the server, create the
 * conversations, start the devices, run the workload with the faults
 * for --time, then heal (faults off, crashed parts restarted, no new
 * sends) until everything settles, and check the end state
 * (sim_check.c). Invariants are also checked all along; the first that
 * fails stops the run. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sim.h"

#define SIM_EPOCH_MS 1700000000000ull /* virtual time starts here */
#define SIM_EVENTS_MAX 50000000ull    /* a run past this is runaway */
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

/* ---- small helpers ------------------------------------------------ */

void sim_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
  size_t n = *cap ? *cap : 8;
  void *p;

  if (need <= *cap)
    return;
  while (n < need)
    n *= 2;
  p = realloc(*arr, n * elem);
  if (p == NULL) {
    fprintf(stderr, "parley-sim: out of memory\n");
    abort();
  }
  *arr = p;
  *cap = n;
}

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
  const unsigned char *p = data;

  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= FNV_PRIME;
  }
  return h;
}

/* Hashes v as 8 octets, least significant first, whatever the host. */
static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
  unsigned char b[8];

  for (int i = 0; i < 8; i++)
    b[i] = (unsigned char)(v >> (8 * i));
  return fnv(h, b, sizeof b);
}

/* ---- the queue: a binary min-heap on (at, ctr) -------------------- */

static bool ev_before(const sim_event *x, const sim_event *y)
{
  return x->at < y->at || (x->at == y->at && x->ctr < y->ctr);
}

void sim_at(sim *s, uint64_t at, uint32_t kind, uint32_t a, uint64_t b,
            uint64_t c)
{
  sim_heap *h = &s->heap;
  size_t i;

  if (at < s->now)
    at = s->now;
  sim_grow((void **)&h->ev, &h->cap, h->n + 1, sizeof *h->ev);
  i = h->n++;
  h->ev[i] = (sim_event){at, s->ctr++, b, c, kind, a};
  while (i > 0 && ev_before(&h->ev[i], &h->ev[(i - 1) / 2])) {
    sim_event t = h->ev[i];
    h->ev[i] = h->ev[(i - 1) / 2];
    h->ev[(i - 1) / 2] = t;
    i = (i - 1) / 2;
  }
}

/* Takes the earliest event into *out; false when the queue is empty. */
static bool heap_pop(sim_heap *h, sim_event *out)
{
  size_t i = 0;

  if (h->n == 0)
    return false;
  *out = h->ev[0];
  h->ev[0] = h->ev[--h->n];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->n && ev_before(&h->ev[l], &h->ev[m]))
      m = l;
    if (r < h->n && ev_before(&h->ev[r], &h->ev[m]))
      m = r;
    if (m == i)
      return true;
    sim_event t = h->ev[m];
    h->ev[m] = h->ev[i];
    h->ev[i] = t;
    i = m;
  }
}

/* ---- the trace ------------------------------------------------------ */

/* Copies a frame's first octets into text, line ends shown as " | ". */
static void excerpt(char *text, const char *data, size_t len)
{
  size_t n = 0;

  for (size_t i = 0; i < len && n + 4 < SIM_NOTE_TEXT; i++) {
    unsigned char ch = (unsigned char)data[i];
    if (ch == '\r')
      continue;
    if (ch == '\n') {
      memcpy(text + n, " | ", 3);
      n += 3;
    } else {
      text[n++] = (ch < 0x20 || ch == 0x7f) ? '.' : (char)ch;
    }
  }
  text[n] = '\0';
}

static void note_print(const sim *s, const sim_note *n, FILE *f)
{
  char dev[16] = "-", conn[24] = "-";

  if (n->dev != SIM_NONE)
    snprintf(dev, sizeof dev, "%s", s->devs[n->dev].name);
  if (n->conn != 0)
    snprintf(conn, sizeof conn, "c%llu", (unsigned long long)n->conn);
  fprintf(f, "%10.3f %-12s %-8s %-6s %s\n",
          (double)(n->at - s->start_ms) / 1000.0, n->what, dev, conn,
          n->text);
}

void sim_note_add(sim *s, const char *what, uint32_t dev, uint64_t conn,
                  const char *data, size_t len)
{
  sim_note *n = &s->ring[s->ring_next];

  s->hash = fnv(s->hash, what, strlen(what) + 1);
  s->hash = fnv_u64(s->hash, dev);
  s->hash = fnv_u64(s->hash, conn);
  s->hash = fnv_u64(s->hash, len);
  if (data != NULL)
    s->hash = fnv(s->hash, data, len);
  n->at = s->now;
  n->what = what;
  n->dev = dev;
  n->conn = conn;
  if (data != NULL)
    excerpt(n->text, data, len);
  else
    n->text[0] = '\0';
  s->ring_next = (s->ring_next + 1) % s->ring_len;
  if (s->ring_count < s->ring_len)
    s->ring_count++;
  if (s->opts->trace)
    note_print(s, n, stdout);
}

/* Prints the kept notes, oldest first. */
static void ring_print(const sim *s, FILE *f)
{
  size_t first = (s->ring_next + s->ring_len - s->ring_count) % s->ring_len;

  fprintf(f, "last %zu events before it (seconds, what, device, "
          "connection, detail):\n", s->ring_count);
  for (size_t i = 0; i < s->ring_count; i++)
    note_print(s, &s->ring[(first + i) % s->ring_len], f);
}

void sim_fail(sim *s, const char *invariant, const char *fmt, ...)
{
  char text[SIM_NOTE_TEXT];
  va_list ap;

  if (s->failed)
    return;
  s->failed = true;
  snprintf(s->res->invariant, sizeof s->res->invariant, "%s", invariant);
  va_start(ap, fmt);
  vsnprintf(s->fail_msg, sizeof s->fail_msg, fmt, ap);
  va_end(ap);
  snprintf(text, sizeof text, "%s: %.100s", invariant, s->fail_msg);
  sim_note_add(s, "FAILED", SIM_NONE, 0, text, strlen(text));
}

/* ---- the run -------------------------------------------------------- */

static void dispatch(sim *s, const sim_event *ev)
{
  switch (ev->kind) {
  case EV_SRV_TIMER:
  case EV_SRV_COMMIT:
  case EV_SRV_NOTIFY:
  case EV_SRV_RESTART:
    sim_srv_event(s, ev);
    break;
  case EV_CONN_ACCEPT:
  case EV_PIPE:
  case EV_LOST_SRV:
  case EV_LOST_CLI:
    sim_net_event(s, ev);
    break;
  case EV_CLI_START:
  case EV_CLI_TIMER:
    sim_cli_event(s, ev);
    break;
  default:
    sim_work_event(s, ev);
  }
}

/* Takes events off the queue until the run is over or failed. */
static void run_loop(sim *s)
{
  sim_event ev;

  while (!s->failed && !s->done && heap_pop(&s->heap, &ev)) {
    s->now = ev.at;
    s->events++;
    s->hash = fnv_u64(s->hash, ev.at);
    s->hash = fnv_u64(s->hash, ev.kind);
    s->hash = fnv_u64(s->hash, ev.a);
    s->hash = fnv_u64(s->hash, ev.b);
    s->hash = fnv_u64(s->hash, ev.c);
    dispatch(s, &ev);
    if (s->events >= SIM_EVENTS_MAX)
      sim_fail(s, "runaway", "more than %llu events",
               (unsigned long long)SIM_EVENTS_MAX);
  }
  if (!s->failed && !s->done)
    sim_fail(s, "stalled", "the event queue ran dry before the end");
}

static void report_failure(const sim *s)
{
  fprintf(stderr, "\nFAILED seed %llu: invariant %s: %s\n",
          (unsigned long long)s->seed, s->res->invariant, s->fail_msg);
  ring_print(s, stderr);
  fprintf(stderr, "trace hash %016llx at the failure\n",
          (unsigned long long)s->hash);
  fprintf(stderr, "replay: %s --seed %llu\n",
          s->opts->replay ? s->opts->replay : "parley-sim",
          (unsigned long long)s->seed);
}

static void sim_free(sim *s)
{
  sim_cli_free(s);
  sim_net_free(s);
  sim_check_close(s);
  sim_srv_free(s);
  free(s->intents);
  free(s->heap.ev);
  free(s->ring);
  free(s->devs);
  free(s);
}

int sim_run(const sim_opts *o, uint64_t seed, sim_result *res)
{
  sim *s = calloc(1, sizeof *s);
  int rc = 0;

  memset(res, 0, sizeof *res);
  if (s == NULL || !(s->ring = calloc(o->last_n ? o->last_n : 1,
                                      sizeof *s->ring))) {
    free(s);
    fprintf(stderr, "parley-sim: out of memory\n");
    return -1;
  }
  s->opts = o;
  s->seed = seed;
  s->res = res;
  s->ring_len = o->last_n ? o->last_n : 1;
  s->hash = FNV_OFFSET;
  s->now = s->start_ms = SIM_EPOCH_MS;
  sim_rng_seed(&s->rng, seed);
  sim_world_draw(s);
  if (sim_srv_start(s) != 0 || sim_check_open(s) != 0) {
    rc = -1;
    goto done;
  }
  run_loop(s);
  res->ok = !s->failed;
  res->hash = s->hash;
  res->events = s->events;
  res->sim_ms = s->now - s->start_ms;
  res->msgs = s->intent_count;
  res->faults = s->p.on;
  res->n = s->n;
  if (s->failed)
    report_failure(s);

done:
  sim_free(s);
  return rc;
}
