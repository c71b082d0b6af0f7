/* The reference server's store: SQLite in WAL mode with synchronous=FULL,
 * run by one writer thread with a FIFO queue (group commit) and one
 * password thread. Completions come back through store_take_done on the
 * thread that serves the core, after the `notify` callback said there is
 * something to take. See store.c for the design. */
#ifndef PARLEY_SERVER_STORE_H
#define PARLEY_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/server.h"

#define STORE_SCHEMA_VERSION 3
#define STORE_DEDUP_WINDOW_MS (24ull * 3600 * 1000)
#define STORE_PW_QUEUE_MAX 64 /* password checks waiting, at most */

typedef struct store store;

typedef enum store_job_kind {
  STORE_JOB_CORE = 1,        /* a parley_store_req of the core */
  STORE_JOB_USERS_EXIST = 2, /* do all the named users exist? */
  STORE_JOB_PASSWORD = 3,    /* does the password match the user's hash? */
  STORE_JOB_CALL_GET = 4,    /* one call's record, for a member */
  STORE_JOB_CALL_LIST = 5    /* a conversation's calls, newest first */
} store_job_kind;

/* One row of a call's event list. */
typedef struct store_call_event {
  uint64_t ts_ms;
  char user[PARLEY_USER_MAX + 1];
  char device[PARLEY_ID_MAX + 1];
  char event[16];  /* "joined", "left" or "rejoined" */
  char reason[PARLEY_REASON_MAX + 1]; /* empty when none */
} store_call_event;

/* A call's record (spec section 19). Times are 0 when not set. */
typedef struct store_call {
  char id[PARLEY_ID_MAX + 1];
  char conv[PARLEY_ID_MAX + 1];
  char caller[PARLEY_USER_MAX + 1];
  char caller_device[PARLEY_ID_MAX + 1];
  char media[PARLEY_MEDIA_MAX + 1];
  uint64_t started_ms;
  bool answered;
  uint64_t answered_ms;
  bool ended;
  uint64_t ended_ms;
  char end_reason[PARLEY_REASON_MAX + 1];
  store_call_event *events; /* CALL_GET only; owned by the done record */
  size_t event_count;
} store_call;

/* One finished job. The store allocates it; the taker frees it with
 * store_done_free. `result.events` points into this record. */
typedef struct store_done {
  struct store_done *next;
  store_job_kind kind;
  uint64_t tag;   /* the caller's tag (host jobs) */
  bool ok;        /* CORE: succeeded; USERS_EXIST: all exist;
                     PASSWORD: the user exists and the password matches */
  bool failed;    /* host jobs: the store failed (an answer is unknown) */
  bool dropped;   /* PASSWORD: dropped unchecked (store_drop_passwords) */
  char missing[PARLEY_USER_MAX + 1]; /* USERS_EXIST: first unknown name */
  parley_store_result result;        /* CORE */
  parley_event *events;              /* owned; bodies owned too */
  store_call *calls;   /* CALL_GET (none or one: not found), CALL_LIST */
  size_t call_count;
} store_done;

/* Group commit counters. */
typedef struct store_stats {
  uint64_t commits;     /* write transactions committed */
  uint64_t writes;      /* write jobs they carried */
  uint64_t max_batch;   /* most write jobs in one commit */
} store_stats;

/* What store_load reports to, one call per stored item. Each returns 0
 * to go on, non-zero to stop loading with an error. */
typedef struct store_loader {
  void *ctx;
  int (*conv)(void *ctx, const parley_conv_info *conv);
  int (*receipt)(void *ctx, const parley_receipt *r);
  int (*sent)(void *ctx, const parley_msg *m);
  void (*pos)(void *ctx, uint64_t last_pos);
} store_loader;

/* Opens (creating when missing) the database at `path`, sets WAL and
 * synchronous=FULL and migrates the schema to STORE_SCHEMA_VERSION.
 * Returns the store, or NULL with a message in err. No thread runs yet. */
store *store_open(const char *path, char *err, size_t err_size);

/* Stops the threads when running: the writer after it finished every
 * queued job, the password thread after the check it is running; queued
 * password checks are abandoned (wiped and freed). Idempotent; the store
 * takes no jobs afterwards. */
void store_stop(store *st);

/* Stops the store (store_stop), frees what was never taken and closes
 * the database. */
void store_close(store *st);

/* Sets the dedup window (0: STORE_DEDUP_WINDOW_MS) that scopes the
 * temp-id index; it must be at least the core's. Call before store_start. */
void store_set_dedup_window(store *st, uint64_t window_ms);

/* The schema version in the file (PRAGMA user_version). */
int store_schema_version(store *st);

/* Reads the server keys, creating them on first start: the Ed25519
 * secret key for tokens (its public half in token_pk) and the cursor
 * key. Returns 0, or -1 on a store error. Call before store_start. */
int store_keys(store *st, uint8_t token_sk[64], uint8_t token_pk[32],
               uint8_t cursor_key[32]);

/* Adds a user with an Argon2id hash string. Returns 0, 1 when the name
 * is taken, 2 when it belonged to a deleted user (names are never given
 * again, so nobody inherits another's conversations), -1 on a store
 * error. */
int store_add_user(store *st, const char *name, const char *hash);
/* Deletes a user and keeps the name as taken for good. Returns 0, 1 when
 * there is no such user, -1 on error. */
int store_del_user(store *st, const char *name);
/* Calls fn for each user name in order. Returns 0 or -1 on error. */
int store_each_user(store *st, void (*fn)(void *ctx, const char *name),
                    void *ctx);

/* Feeds the loader every conversation, every receipt state, each message
 * whose ts_ms is at or after since_ms, and the last pos. Returns 0, -1
 * on a store error, or the loader's non-zero answer. */
int store_load(store *st, const store_loader *ld, uint64_t since_ms);

/* Starts the threads. `notify` is called from a store thread each time
 * finished jobs are ready; it must be thread-safe and cheap. Returns 0
 * or -1. */
int store_start(store *st, void (*notify)(void *ctx), void *ctx);

/* Core requests gathered before they are queued together. A zeroed
 * struct is empty. */
typedef struct store_batch {
  struct store_job *head, *tail;
  size_t count;
} store_batch;

/* Copies a core request (its body and conversation too) into the batch.
 * Returns 0, or -1 when memory runs out. */
int store_batch_add(store_batch *b, const parley_store_req *req);

/* Queues the batch and empties it. The requests of one batch are never
 * split across two takes of the queue, so consecutive appends among them
 * share one commit. Returns 0, or -1 (the batch discarded) when the
 * store is not running. */
int store_batch_submit(store *st, store_batch *b);

/* Frees the requests of a batch that will not be submitted. */
void store_batch_discard(store_batch *b);

/* Runs the batch now, on the calling thread, the way the writer thread
 * runs what it takes off its queue: consecutive writes share one
 * transaction, each reported done only after COMMIT returned, and reads
 * see every write before them. For a host without the threads (the
 * simulator, which runs commits at a virtual time): call it on a store
 * that was never started. Empties the batch and returns its done
 * records in submission order, as store_take_done would (the caller
 * frees each with store_done_free), or NULL for an empty batch. */
store_done *store_batch_run(store *st, store_batch *b);

/* Queues a check that every user in names exists. Returns 0 or -1. */
int store_submit_users_exist(store *st, uint64_t tag,
                             const char *const *names, size_t count);

/* Queues a password check on the password thread. The password is
 * copied and wiped after use. Returns 0, 1 when STORE_PW_QUEUE_MAX
 * checks are waiting already (nothing queued), or -1. */
int store_submit_password(store *st, uint64_t tag, const char *user,
                          const char *password);

/* Takes the queued password check with `tag` off the queue, unrun and
 * wiped, if it has not started; its answer never comes. Returns true
 * when it was taken off. */
bool store_cancel_password(store *st, uint64_t tag);

/* Answers every queued password check at once as dropped (failed and
 * dropped set), unrun and wiped: for a server that is shutting down. */
void store_drop_passwords(store *st);

/* Queues a read of call `call_id` with its events, found only when
 * `user` is a member of its conversation (else no call comes back). It
 * runs on the writer's queue, so it sees every write queued before it.
 * Returns 0 or -1. */
int store_submit_call_get(store *st, uint64_t tag, const char *user,
                          const char *call_id);

/* Queues a read of the newest `limit` calls of conversation `conv`
 * (without their events), newest first. Returns 0 or -1. */
int store_submit_call_list(store *st, uint64_t tag, const char *conv,
                           size_t limit);

/* Start-up, before store_start: ends every call the store holds as not
 * ended (the server stopped under it) at now_ms with reason
 * `server-restart`, recording each participant still in as left with
 * that reason. Sets *count to the calls ended. Returns 0 or -1. */
int store_end_open_calls(store *st, uint64_t now_ms, size_t *count);

/* Takes every finished job, oldest first, as a list; NULL when none.
 * Core results come in the order their requests were submitted. */
store_done *store_take_done(store *st);
void store_done_free(store_done *d);

/* Jobs submitted and not yet taken with store_take_done. */
size_t store_in_flight(store *st);

void store_get_stats(store *st, store_stats *out);

#endif
