/* parley-netem: what its files share.
 *
 * netem_rng.c   the clock, the seeded generator, the delay distributions
 * netem_conf.c  the fault settings: one table of keys for the flags and
 *               the control interface, value parsers, schedules
 * netem_loop.c  the event loop: epoll, one timerfd, a heap of timers
 * netem_net.c   addresses and sockets, a growable text buffer
 * netem_udp.c   the UDP relay (datagrams: loss, delay, rate, ...)
 * netem_tcp.c   the TCP relay (a byte stream: delay, stalls, resets, ...)
 * netem_ctl.c   the control interface (one command a line)
 * netem_main.c  flags, start-up, shutdown
 *
 * Every random decision comes from one 64-bit seed: each relay direction
 * and each TCP connection has its own generator derived from the seed and
 * its stream number, so the same seed makes the same decisions for the
 * same sequence of packets or reads. */
#ifndef PARLEY_NETEM_H
#define PARLEY_NETEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NETEM_NS_PER_US 1000LL
#define NETEM_NS_PER_MS 1000000LL
#define NETEM_NS_PER_S 1000000000LL
#define NETEM_NEVER INT64_MAX

/* The struct holding `member` at address p. */
#define NETEM_CONTAINER(p, type, member) \
  ((type *)(void *)((char *)(p) - offsetof(type, member)))

/* ---- clock and random numbers (netem_rng.c) ------------------------- */

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t netem_now_ns(void);

typedef struct netem_rng {
  uint64_t s[4];
} netem_rng;

/* Seeds `r` for stream `stream` of `seed`: distinct streams of one seed
 * give independent sequences. */
void netem_rng_seed(netem_rng *r, uint64_t seed, uint64_t stream);
uint64_t netem_rng_next(netem_rng *r);
/* A uniform double in [0, 1). */
double netem_rng_unit(netem_rng *r);
/* True with probability p (p <= 0: never draws, false). */
bool netem_rng_chance(netem_rng *r, double p);
/* A uniform integer in [lo, hi]. */
uint64_t netem_rng_range(netem_rng *r, uint64_t lo, uint64_t hi);

/* ---- fault settings (netem_conf.c) ---------------------------------- */

typedef enum netem_dist {
  NETEM_DIST_UNIFORM,
  NETEM_DIST_NORMAL,
  NETEM_DIST_PARETO,
  NETEM_DIST_PARETONORMAL
} netem_dist;

typedef enum netem_loss_model {
  NETEM_LOSS_NONE,
  NETEM_LOSS_RANDOM,
  NETEM_LOSS_GEMODEL
} netem_loss_model;

enum { NETEM_UP = 0, NETEM_DOWN = 1, NETEM_BOTH = 2 };

/* The faults of one direction. Probabilities are in [0, 1]. */
typedef struct netem_dir_faults {
  int64_t delay_ns;
  int64_t jitter_ns;
  netem_dist dist;
  netem_loss_model loss_model;
  double loss;
  double ge_p, ge_r, ge_1h, ge_1k; /* Gilbert-Elliott, as Linux netem */
  double reorder;
  int64_t reorder_hold_ns;
  double duplicate;
  double corrupt;
  double rate_bytes_s; /* 0: unlimited */
  uint64_t burst_bytes; /* 0: the default for the rate */
  uint64_t queue_limit_bytes;
  uint64_t slice_bytes; /* 0: writes are not sliced */
  uint64_t slice_variation_bytes;
  int64_t slice_gap_ns;
  bool blackhole;
} netem_dir_faults;

#define NETEM_WINDOWS_MAX 16

/* Windows of time in which a fault is on: a list (each START:LENGTH
 * after `list_base_ns`), a period (every PERIOD for LENGTH after
 * `every_base_ns`) and a switch from the control interface. */
typedef struct netem_schedule {
  int64_t list_base_ns;
  int n;
  int64_t start_ns[NETEM_WINDOWS_MAX];
  int64_t len_ns[NETEM_WINDOWS_MAX];
  int64_t every_base_ns;
  int64_t every_ns; /* 0: none */
  int64_t every_len_ns;
  int64_t manual_until_ns; /* 0: off; NETEM_NEVER: on until switched off */
} netem_schedule;

typedef struct netem_faults {
  netem_dir_faults dir[2];
  netem_schedule partition;
  netem_schedule stall;
  int64_t reset_after_ns; /* 0: connections are not reset by age */
} netem_faults;

/* All faults off. */
void netem_faults_init(netem_faults *f);

/* Sets fault `key` to `value` for direction `dir` (NETEM_UP, NETEM_DOWN
 * or NETEM_BOTH); schedules count from `now_ns`. Returns 0, or -1 with
 * a message (naming neither key nor value) in err. */
int netem_faults_set(netem_faults *f, int dir, const char *key,
                     const char *value, int64_t now_ns, char *err,
                     size_t err_len);

/* True when `key` names a fault (or an alias of one). */
bool netem_faults_known(const char *key);

/* True when the schedule has a window open at `now_ns`. */
bool netem_schedule_active(const netem_schedule *s, int64_t now_ns);

/* The end of the window open at `now_ns` (now_ns when none is open;
 * NETEM_NEVER for a switch without an end). */
int64_t netem_schedule_end(const netem_schedule *s, int64_t now_ns);

/* A delay drawn from the direction's delay, jitter and distribution,
 * never negative. Draws nothing when there is no jitter. */
int64_t netem_draw_delay(const netem_dir_faults *d, netem_rng *r);

/* The token bucket size of a direction: --burst, or 20 ms at the rate
 * and at least one full-size Ethernet frame. */
double netem_burst_bytes(const netem_dir_faults *d);

/* Parsers shared with the control interface. Each returns 0 or -1. */
int netem_parse_duration(const char *text, int64_t *out_ns);
int netem_parse_u64(const char *text, uint64_t *out);

typedef struct netem_buf netem_buf;

/* Appends the settings, one `[up|down] KEY VALUE` line each. */
void netem_faults_show(const netem_faults *f, netem_buf *out);

/* Appends the flag reference (for --help). */
void netem_faults_help(netem_buf *out);

/* ---- text buffer and addresses (netem_net.c) ------------------------ */

struct netem_buf {
  char *data;
  size_t len;
  size_t cap;
  bool failed; /* an allocation failed; the text is cut short */
};

void netem_buf_printf(netem_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void netem_buf_free(netem_buf *b);

typedef struct netem_addr {
  struct sockaddr_storage sa;
  socklen_t len;
} netem_addr;

/* Parses HOST:PORT or [HOST]:PORT with a numeric IPv4 or IPv6 host.
 * Returns 0, or -1 with a message in err. */
int netem_addr_parse(const char *text, netem_addr *out, char *err,
                     size_t err_len);
bool netem_addr_is_loopback(const netem_addr *a);
bool netem_addr_equal(const netem_addr *a, const netem_addr *b);
/* Writes HOST:PORT (IPv6 in brackets). */
void netem_addr_format(const netem_addr *a, char *out, size_t cap);
/* The address a socket is bound to. Returns 0 or -1. */
int netem_addr_local(int fd, netem_addr *out);

/* A non-blocking socket bound to `a` (listening when `listen_too`).
 * Returns the descriptor, or -1 with errno set. */
int netem_socket_bind(const netem_addr *a, int type, bool listen_too);

/* Asks for large socket buffers (UDP bursts must not overflow them). */
void netem_socket_big_buffers(int fd);

/* ---- event loop (netem_loop.c) -------------------------------------- */

typedef struct netem_io netem_io;
struct netem_io {
  int fd;           /* -1 once removed */
  uint32_t events;  /* what it is registered for; 0: not registered */
  void (*on_event)(netem_io *io, uint32_t events);
};

typedef struct netem_timer netem_timer;
struct netem_timer {
  int64_t due_ns;
  size_t slot; /* 1 + its index in the heap; 0: not armed */
  void (*on_fire)(netem_timer *t, int64_t now_ns);
};

/* Returns 0, or -1 with errno set. */
int netem_loop_init(void);
void netem_loop_free(void);

/* Registers, changes or removes what `io` waits for; events 0 removes
 * it from the loop without closing the descriptor. Returns 0 or -1. */
int netem_io_watch(netem_io *io, uint32_t events);

/* Removes io from the loop, closes its descriptor and sets fd to -1;
 * events of this loop turn for it are skipped. */
void netem_io_close(netem_io *io);

/* Arms (or moves) a timer; it fires once, from the loop. */
void netem_timer_arm(netem_timer *t, int64_t due_ns);
void netem_timer_cancel(netem_timer *t);

/* Runs fn(arg) after the current loop turn, when no event of the turn
 * can refer to arg any more. Returns 0, or -1 (then fn ran at once). */
int netem_loop_defer(void (*fn)(void *), void *arg);

/* Runs until SIGINT or SIGTERM, or until netem_loop_stop. Returns 0, or
 * -1 with errno set when the loop itself failed. */
int netem_loop_run(void);
void netem_loop_stop(void);

/* ---- the program's state -------------------------------------------- */

#define NETEM_RELAYS_MAX 16

typedef struct netem_udp netem_udp;
typedef struct netem_tcp netem_tcp;

typedef struct netem_ctx {
  netem_faults faults;
  uint64_t seed;
  int64_t start_ns;
  netem_udp *udp[NETEM_RELAYS_MAX];
  int n_udp;
  netem_tcp *tcp[NETEM_RELAYS_MAX];
  int n_tcp;
} netem_ctx;

/* Tells every relay the faults changed (a switch went off, a rate
 * changed): held data is looked at again. */
void netem_kick_all(netem_ctx *ctx);

/* ---- UDP relay (netem_udp.c) ---------------------------------------- */

/* Opens a relay listening on `listen` and forwarding to `target`.
 * Returns it, or NULL with a message in err. The relay belongs to the
 * caller, who frees it with netem_udp_close. */
netem_udp *netem_udp_open(netem_ctx *ctx, int index, const netem_addr *listen,
                          const netem_addr *target, char *err,
                          size_t err_len);
void netem_udp_close(netem_udp *u);
/* `udp LISTEN -> TARGET` with the address actually bound. */
void netem_udp_describe(const netem_udp *u, netem_buf *out);
void netem_udp_kick(netem_udp *u);
void netem_udp_stats(const netem_udp *u, netem_buf *out);

/* ---- TCP relay (netem_tcp.c) ---------------------------------------- */

netem_tcp *netem_tcp_open(netem_ctx *ctx, int index, const netem_addr *listen,
                          const netem_addr *target, char *err,
                          size_t err_len);
void netem_tcp_close(netem_tcp *t);
void netem_tcp_describe(const netem_tcp *t, netem_buf *out);
void netem_tcp_kick(netem_tcp *t);
void netem_tcp_stats(const netem_tcp *t, netem_buf *out);
/* Resets every open connection (RST to both peers). Returns how many. */
int netem_tcp_reset_all(netem_tcp *t);

/* ---- control interface (netem_ctl.c) -------------------------------- */

typedef struct netem_ctl netem_ctl;

/* Listens on a loopback HOST:PORT or on unix:PATH. Returns the control
 * interface, or NULL with a message in err. */
netem_ctl *netem_ctl_open(netem_ctx *ctx, const char *where, char *err,
                          size_t err_len);
void netem_ctl_close(netem_ctl *c);
void netem_ctl_describe(const netem_ctl *c, netem_buf *out);

/* Runs one command line; appends the reply lines, the last of them `ok`
 * or `error: ...`. */
void netem_ctl_exec(netem_ctx *ctx, const char *line, netem_buf *out);

#endif
