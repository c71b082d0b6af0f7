/* parley-sim: what the files of the deterministic simulator share.
 *
 * One process, one thread, one event queue ordered by (virtual time,
 * insertion counter), one seeded generator. The real server core, the
 * real SQLite store of the reference server (run synchronously at
 * virtual times) and many real client cores talk over a virtual network.
 * sim_run.c holds the design note; each file says what it models. */
#ifndef PARLEY_SIM_H
#define PARLEY_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "parley/client.h"
#include "parley/server.h"
#include "store.h"

#define SIM_USERS_MAX 8
#define SIM_DEVICES_PER_USER_MAX 3
#define SIM_CONVS_MAX 8
#define SIM_NOTE_TEXT 120
#define SIM_NONE UINT32_MAX

/* ---- fault kinds: X(ID, "name", "what it models") ----------------- */

#define SIM_FAULT_LIST(X)                                                  \
  X(DELAY, "delay", "per-connection delay with jitter (uniform, normal "  \
    "or pareto)")                                                          \
  X(LOSS, "loss", "random and bursty (Gilbert-Elliott) packet loss: TCP " \
    "retransmission stalls, a reset past the retry bound")                 \
  X(RESET, "reset", "connection resets, noticed by both ends, one or "    \
    "neither")                                                             \
  X(PARTITION, "partition", "a device cut off from the server, healed "   \
    "later")                                                               \
  X(SLOW, "slow", "slow consumers: a device that reads its frames late")  \
  X(REORDER, "reorder", "a device changes network: its new connection "  \
    "takes another path, and the old one's frames straggle in after "     \
    "the new one's")                                                       \
  X(DUP, "dup", "an ACK lost with its connection: the SEND goes again "   \
    "on a new one after the first copy was delivered")                    \
  X(CLIENT_CRASH, "client-crash", "an app or a device dies and starts "   \
    "again from its local store")                                          \
  X(SERVER_CRASH, "server-crash", "the server process or host dies and "  \
    "restarts from the database")                                          \
  X(DISK, "disk", "commit latency spikes (a slow fsync)")

typedef enum sim_fault_kind {
#define SIM_FAULT_ENUM_(id, name, what) SIM_F_##id,
  SIM_FAULT_LIST(SIM_FAULT_ENUM_)
#undef SIM_FAULT_ENUM_
  SIM_F_COUNT
} sim_fault_kind;

#define SIM_FAULT_ON(s, id) (((s)->p.on >> SIM_F_##id) & 1u)

const char *sim_fault_name(int kind);
const char *sim_fault_what(int kind);
/* The kind named `name`, or -1. */
int sim_fault_by_name(const char *name);

/* ---- options and results ------------------------------------------ */

typedef enum sim_fault_mode {
  SIM_MODE_SWARM = 0, /* each seed draws which kinds are on */
  SIM_MODE_MASK = 1   /* exactly the kinds in `mask` */
} sim_fault_mode;

typedef struct sim_opts {
  uint64_t time_ms;      /* the workload phase, in simulated time */
  sim_fault_mode mode;
  uint32_t mask;         /* SIM_MODE_MASK: the kinds that are on */
  bool trace;            /* print every event */
  size_t last_n;         /* events shown when an invariant fails */
  const char *db_prefix;  /* per-run database: db_prefix-SEED.db */
  const char *replay;    /* the command that replays a seed, for reports */
  int planted;           /* a planted server fault (faults build), or 0 */
  const struct sim_scenario *scenario; /* --scenario: steps, or NULL */
} sim_opts;

/* What a run exercised: X(field, "what it counts"). */
#define SIM_COUNT_LIST(X)                                                  \
  X(srv_crashes, "server crashes")                                         \
  X(cli_crashes, "client crashes")                                         \
  X(quits, "apps quit and started again")                                  \
  X(resets, "connection resets")                                           \
  X(partitions, "partitions")                                              \
  X(slow, "slow readers")                                                  \
  X(drops, "sessions dropped by the server's send queue cap")              \
  X(stalls, "disk stalls")                                                 \
  X(acks_lost, "ACKs lost with their connection")                          \
  X(straggles, "closed connections whose frames straggle in late")         \
  X(stale, "frames reaching the server on a connection older than one "   \
    "it accepted since")                                                   \
  X(resent, "SENDs of a message the server had received before")          \
  X(rate_limited, "requests refused as rate-limited")                     \
  X(commits, "commits")

typedef struct sim_counts {
#define SIM_COUNT_FIELD_(f, what) uint64_t f;
  SIM_COUNT_LIST(SIM_COUNT_FIELD_)
#undef SIM_COUNT_FIELD_
} sim_counts;

typedef struct sim_result {
  bool ok;
  uint64_t hash;       /* FNV-1a over every event of the trace */
  uint64_t events;     /* events taken off the queue */
  uint64_t msgs;       /* messages the workload sent */
  uint64_t deliveries; /* messages handed to devices */
  uint64_t sim_ms;     /* simulated time the run took */
  uint32_t faults;     /* the kinds that were on */
  sim_counts n;        /* what it exercised */
  char invariant[48];  /* when !ok: the invariant that failed */
} sim_result;

/* Runs one seed. Returns 0 when it ran (res->ok says whether every
 * invariant held), -1 when it could not run (printed). */
int sim_run(const sim_opts *o, uint64_t seed, sim_result *res);

/* ---- random numbers (sim_rng.c) ------------------------------------ */

typedef struct sim_rng {
  uint64_t s[4];
} sim_rng;

void sim_rng_seed(sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(sim_rng *r);
/* Uniform in [lo, hi]. */
uint64_t sim_rng_range(sim_rng *r, uint64_t lo, uint64_t hi);
/* Uniform in [0, 1). */
double sim_rng_unit(sim_rng *r);
bool sim_rng_chance(sim_rng *r, double p);
/* Exponential with the given mean, at least 1. */
uint64_t sim_rng_exp(sim_rng *r, uint64_t mean);
/* Standard normal (Irwin-Hall: twelve uniforms). */
double sim_rng_normal(sim_rng *r);
/* Pareto with minimum 1 and shape alpha. */
double sim_rng_pareto(sim_rng *r, double alpha);

/* ---- the event queue ------------------------------------------------ */

typedef enum sim_ev_kind {
  EV_SETUP = 1,    /* create the conversations */
  EV_SRV_TIMER,    /* b: server incarnation */
  EV_SRV_COMMIT,   /* b: incarnation: the writer's run is committed */
  EV_SRV_NOTIFY,   /* b: incarnation: committed results reach the core */
  EV_SRV_CRASH,    /* fault */
  EV_SRV_RESTART,  /* b: incarnation that crashed */
  EV_CONN_ACCEPT,  /* b: conn, c: token: the connect reaches the server */
  EV_PIPE,         /* a: direction, b: conn, c: token: the head arrives */
  EV_LOST_SRV,     /* b: conn: the server learns it is gone (RST) */
  EV_LOST_CLI,     /* b: conn: the client learns it is gone */
  EV_CLI_START,    /* a: device: the app starts */
  EV_CLI_TIMER,    /* a: device, b: incarnation, c: token */
  EV_CLI_CRASH,    /* fault */
  EV_CLI_STOP,     /* workload: the user quits the app, starts it later */
  EV_SEND,         /* a: device: the user sends a message */
  EV_READ,         /* a: device: the user reads a conversation */
  EV_RESET,        /* fault: a connection is reset */
  EV_PARTITION,    /* fault: a device is cut off */
  EV_HEAL_DEV,     /* a: device, b: token: its partition heals */
  EV_SLOW,         /* fault: a device reads late for a while */
  EV_PATH,         /* fault: a device changes network */
  EV_HEAL,         /* the workload phase ends: faults off */
  EV_QUIET,        /* healing: is everything settled? */
  EV_STEP,         /* a: index: a step of a scenario (sim_scenario.c) */
  EV_KIND_COUNT
} sim_ev_kind;

typedef struct sim_event {
  uint64_t at, ctr;
  uint64_t b, c;
  uint32_t kind, a;
} sim_event;

typedef struct sim_heap {
  sim_event *ev;
  size_t n, cap;
} sim_heap;

/* ---- the world ------------------------------------------------------ */

typedef struct sim_user {
  char name[8];
  char token[PARLEY_TOKEN_MAX + 1];
  uint32_t first_dev, dev_count;
} sim_user;

typedef struct sim_conv {
  char id[PARLEY_ID_MAX + 1];
  bool group, created;
  uint32_t members[SIM_USERS_MAX];
  size_t member_count;
} sim_conv;

/* A message as a device showed it. */
typedef struct sim_shown {
  uint64_t seq;
  uint32_t intent;
  char msg_id[PARLEY_ID_MAX + 1];
} sim_shown;

/* One conversation in a device's local store (and what the checks
 * remember about it). */
typedef struct sim_dconv {
  bool known;                      /* the members are stored */
  uint64_t stored_seq;
  sim_shown *shown;
  size_t shown_count, shown_cap;
  uint64_t rcpt[SIM_USERS_MAX][2]; /* kept receipts: [user][kind - 1] */
  uint64_t status[2];              /* highest DELIVERED, READ status */
} sim_dconv;

typedef struct sim_out {
  char temp_id[PARLEY_ID_MAX + 1];
  char conv[PARLEY_ID_MAX + 1];
  char *body;
  size_t body_len;
  uint64_t created_ms;
} sim_out;

typedef struct sim_device {
  uint32_t user, idx;
  char name[16];          /* the device id */
  parley_client *core;    /* NULL while the app is not running */
  uint32_t inc;           /* one per start of the app */
  uint64_t last_conn;     /* the sim conn of the core's latest CONNECT */
  uint64_t last_accepted; /* the latest of its conns the server took */
  bool host_down;         /* crashed with its host: silent until restart */
  bool stopping;          /* the user quit: restart pending */
  bool synced;
  uint64_t timer_token;
  /* The local store: what survives the app. */
  char pos[PARLEY_POS_MAX + 1];
  sim_dconv convs[SIM_CONVS_MAX];
  sim_out *outbox;
  size_t out_count, out_cap;
  /* The last OUTBOX_REMOVE, for the EV_STATUS right behind it. */
  uint32_t removed_intent;
  /* The network as this device sees it. */
  uint64_t owd_ms, jitter_ms;
  uint64_t partition_until, partition_token;
  uint64_t slow_until, read_delay_ms;
  /* Core configuration drawn for the device. */
  uint32_t heartbeat_ms, handshake_ms, backoff_cap_ms;
} sim_device;

/* One message the workload sent; its body names it ("m<index> ..."). */
typedef struct sim_intent {
  uint32_t dev, conv;
  bool known;      /* seq and msg_id observed (an ACK or a MSG) */
  bool acked;
  uint32_t srv_sends; /* SEND frames of it that reached the server */
  uint64_t seq;
  char msg_id[PARLEY_ID_MAX + 1];
} sim_intent;

/* ---- the network ---------------------------------------------------- */

enum { SIM_UP = 0, SIM_DOWN = 1 }; /* directions: to the server, back */

typedef enum sim_frame_kind {
  SIM_FR_DATA = 0, /* one WebSocket message */
  SIM_FR_FIN = 1,  /* the sender closed, after its data */
  SIM_FR_OPEN = 2  /* the upgrade answer: the client is connected */
} sim_frame_kind;

typedef struct sim_frame {
  struct sim_frame *next;
  uint64_t sent_ms, at_ms;
  uint8_t kind;
  bool doomed;       /* its retransmissions run out: the conn resets */
  bool read_delayed; /* a slow consumer already held it back */
  size_t len;
  char data[];
} sim_frame;

typedef struct sim_pipe {
  sim_frame *head, *tail;
  uint64_t last_at; /* arrival of the last frame queued: order is kept */
  uint64_t token;   /* the delivery event in force */
  size_t bytes;
  bool ge_bad;      /* Gilbert-Elliott state */
} sim_pipe;

typedef struct sim_conn {
  uint64_t id;       /* the server core's conn id too */
  uint32_t dev, cli_inc;
  uint64_t cli_conn; /* the client core's name for it */
  uint32_t srv_inc;  /* the server incarnation that accepted it */
  bool cli_open;     /* the client end is open */
  bool srv_open;     /* the server core holds the session */
  bool accepted;     /* the server end exists (or existed) */
  bool dead;         /* reset: nothing more goes through */
  bool cli_gone;     /* the client left this path: what reaches its end
                        vanishes, no RST comes back */
  uint64_t owd_ms, jitter_ms;
  uint64_t accept_token;
  sim_pipe pipe[2];
} sim_conn;

/* ---- the server host ------------------------------------------------ */

typedef enum sim_srv_state {
  SIM_SRV_UP = 0,
  SIM_SRV_DOWN_PROCESS = 1, /* the process died: its kernel answers RST */
  SIM_SRV_DOWN_HOST = 2     /* the host died: silence */
} sim_srv_state;

typedef struct sim_batches {
  store_batch *b;
  size_t n, cap;
} sim_batches;

typedef struct sim_server {
  parley_server *core;
  store *st;
  parley_server_config cfg;
  uint8_t token_sk[64];
  uint32_t inc;
  sim_srv_state state;
  store_batch cur;        /* requests of the current pump */
  sim_batches queue;      /* waiting for the writer */
  sim_batches run;        /* the writer's current run */
  bool running;
  int crash_at_commit;    /* a crash waits for the next commit: 1 right
                             before it, 2 right after it */
  bool crash_host;
  store_done *done_head;  /* committed, not yet told to the core */
  store_done *done_tail;
  uint64_t next_api;
  size_t api_waiting;
  uint64_t *kills;        /* sessions the host drops after this pump */
  size_t kill_count, kill_cap;
  char db_path[512];
  sqlite3 *check;         /* the checker's own read connection */
  sqlite3_stmt *q[8];     /* its prepared queries (sim_check.c) */
  uint64_t last_seq[SIM_CONVS_MAX];        /* cached per conversation */
  uint64_t last_seq_commit[SIM_CONVS_MAX]; /* commits + 1 when read */
  uint64_t commits;
} sim_server;

/* ---- parameters drawn per seed -------------------------------------- */

typedef enum sim_dist {
  SIM_DIST_UNIFORM = 0,
  SIM_DIST_NORMAL = 1,
  SIM_DIST_PARETO = 2
} sim_dist;

typedef struct sim_params {
  uint32_t on;                /* fault kinds on */
  sim_dist dist;
  double pareto_alpha;
  double ge_p, ge_r;          /* good->bad, bad->good per packet */
  double loss_good, loss_bad; /* loss in each state */
  uint64_t reset_every_ms, partition_every_ms, partition_max_ms;
  uint64_t path_every_ms;
  uint64_t slow_every_ms, ccrash_every_ms, scrash_every_ms;
  uint64_t quit_every_ms;
  double dup_p;
  uint64_t commit_ms, stall_max_ms;
  double stall_p;
  uint64_t send_every_ms, read_every_ms;
  double burst_p;             /* a send is a burst of messages */
  uint32_t rate_per_s, rate_burst; /* the server's per-session rate */
} sim_params;

/* ---- the simulation ------------------------------------------------- */

typedef struct sim_note {
  uint64_t at;
  const char *what;
  uint32_t dev;
  uint64_t conn;
  char text[SIM_NOTE_TEXT];
} sim_note;

typedef struct sim {
  const sim_opts *opts;
  uint64_t seed;
  sim_rng rng;
  uint64_t now, start_ms, heal_at, quiet_deadline;
  sim_heap heap;
  uint64_t ctr, hash, events;
  sim_note *ring;
  size_t ring_len, ring_next, ring_count;
  sim_params p;
  bool faults_live; /* false once healing began */
  sim_user users[SIM_USERS_MAX];
  size_t user_count;
  sim_device *devs;
  size_t dev_count;
  sim_conv convs[SIM_CONVS_MAX];
  size_t conv_count;
  sim_intent *intents;
  size_t intent_count, intent_cap;
  sim_conn **conns;
  size_t conn_count, conn_cap;
  sim_server srv;
  sim_counts n;
  bool failed, done;
  char fail_msg[256];
  sim_result *res;
} sim;

/* sim_run.c: the queue, the trace and failures. */
void sim_at(sim *s, uint64_t at, uint32_t kind, uint32_t a, uint64_t b,
            uint64_t c);
/* Records one trace entry: hashed, kept for a failure, printed with
 * --trace. `dev` SIM_NONE and `conn` 0 when none; data may be NULL. */
void sim_note_add(sim *s, const char *what, uint32_t dev, uint64_t conn,
                  const char *data, size_t len);
/* An invariant failed: records it (the first one only) and stops. */
void sim_fail(sim *s, const char *invariant, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Grows *arr to hold `need` items of `elem` octets; aborts on no memory
 * (a simulator without memory cannot go on). */
void sim_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* sim_net.c: the virtual network. */
sim_conn *sim_net_connect(sim *s, uint32_t dev, uint64_t cli_conn);
sim_conn *sim_net_find(const sim *s, uint64_t id);
sim_conn *sim_net_find_cli(const sim *s, uint32_t dev, uint64_t cli_conn);
void sim_net_send(sim *s, sim_conn *c, int dir, const char *data,
                  size_t len);
/* The end `dir` sends from closes: its data goes first, then the close. */
void sim_net_close(sim *s, sim_conn *c, int dir);
/* Resets c: what is in flight is lost; each end hears of it (after the
 * one-way delay) when told. */
void sim_net_reset(sim *s, sim_conn *c, bool tell_srv, bool tell_cli);
void sim_net_reset_random(sim *s);
/* A device changes network: it gives up a connection at once, and what
 * it had sent on it arrives late (the reorder fault). */
void sim_net_path_change(sim *s);
void sim_net_server_crashed(sim *s, bool host);
void sim_net_device_crashed(sim *s, uint32_t dev, bool host);
void sim_net_device_healed(sim *s, uint32_t dev);
void sim_net_event(sim *s, const sim_event *ev);
bool sim_net_idle(const sim *s);
/* Octets that reached the device on c and wait for its (slow) reader:
 * what the server host's send queue would hold. */
size_t sim_net_backlog(const sim *s, const sim_conn *c);
void sim_net_free(sim *s);

/* sim_server.c: the server host. */
int sim_srv_start(sim *s);
void sim_srv_crash(sim *s, bool host);
/* A crash now (0), right before (1) or right after (2) the next commit. */
void sim_srv_crash_when(sim *s, int when, bool host);
void sim_srv_event(sim *s, const sim_event *ev);
void sim_srv_on_open(sim *s, sim_conn *c);
void sim_srv_on_frame(sim *s, sim_conn *c, const char *data, size_t len);
void sim_srv_on_close(sim *s, sim_conn *c);
void sim_srv_create_conv(sim *s, uint32_t conv);
/* The healing phase: a crashed server restarts now. */
void sim_srv_heal(sim *s);
bool sim_srv_idle(const sim *s);
void sim_srv_free(sim *s);

/* sim_client.c: the devices. */
void sim_cli_start(sim *s, uint32_t dev);
void sim_cli_crash(sim *s, uint32_t dev, bool host);
void sim_cli_quit(sim *s, uint32_t dev);
void sim_cli_event(sim *s, const sim_event *ev);
void sim_cli_on_open(sim *s, sim_conn *c);
void sim_cli_on_frame(sim *s, sim_conn *c, const char *data, size_t len);
void sim_cli_on_close(sim *s, sim_conn *c);
void sim_cli_send(sim *s, uint32_t dev);
void sim_cli_read(sim *s, uint32_t dev);
/* The index of conversation `id` among s->convs, or SIM_NONE. */
uint32_t sim_conv_index(const sim *s, const char *id);
bool sim_cli_settled(sim *s, uint32_t dev, char *why, size_t why_size);
void sim_cli_free(sim *s);

/* sim_work.c: the world, the workload and the fault schedule. */
void sim_world_draw(sim *s);
void sim_work_event(sim *s, const sim_event *ev);
void sim_work_conv_created(sim *s, uint64_t api_id,
                           const parley_conv_info *info);
/* True when user `user` is a member of conversation `conv`. */
bool sim_member(const sim *s, uint32_t conv, uint32_t user);

/* sim_check.c: the invariants. */
int sim_check_open(sim *s);
void sim_check_close(sim *s);
/* A device showed message m (a MSG action). */
void sim_check_msg(sim *s, sim_device *d, const parley_msg *m);
/* A device saw the ACK of the intent (EV_STATUS sent). */
void sim_check_ack(sim *s, sim_device *d, uint32_t intent,
                   const parley_client_action *a);
/* A device stores a receipt state. */
void sim_check_receipt(sim *s, sim_device *d, const parley_receipt *r);
/* A device got an EV_STATUS delivered or read. */
void sim_check_status(sim *s, sim_device *d, const parley_client_action *a);
/* After a server restart: every acknowledged message is in the database. */
void sim_check_acked_durable(sim *s);
/* The end of a run, everything settled. */
void sim_check_final(sim *s);
/* The intent a message body names, or SIM_NONE. */
uint32_t sim_body_intent(const sim *s, const char *body, size_t len);
/* The highest seq the database holds for conversation `conv`. */
uint64_t sim_check_db_last_seq(sim *s, uint32_t conv);

/* sim_scenario.c: a world and steps read from a file (--scenario). */
typedef enum sim_step_kind {
  SIM_STEP_SEND = 0, /* arg: device */
  SIM_STEP_RESET,    /* arg: device: its connection is reset */
  SIM_STEP_QUIT,     /* arg: device: its app quits and starts again */
  SIM_STEP_CRASH     /* arg: 0 now, 1 before, 2 after the next commit */
} sim_step_kind;

typedef struct sim_step {
  uint64_t at_ms; /* after the conversation exists */
  uint32_t what, arg;
} sim_step;

typedef struct sim_scenario {
  sim_step *steps;
  size_t n;
} sim_scenario;

/* Reads a scenario file; 0, or -1 with the reason printed. */
int sim_scenario_load(const char *path, sim_scenario *scn);
void sim_scenario_free(sim_scenario *scn);
void sim_scenario_world(sim *s);
void sim_scenario_begin(sim *s);
void sim_scenario_step(sim *s, const sim_event *ev);

#endif
