/* The reference server's durable store (spec section 11).
 *
 * Design. One SQLite database in WAL mode with synchronous=FULL, so a
 * COMMIT that returned is on stable storage. One writer thread owns the
 * main connection and serves a FIFO queue of jobs: it takes everything
 * queued at once, puts each run of consecutive writes (message appends,
 * receipt appends, conversation inserts) into ONE transaction (group
 * commit), and reports each write done only after COMMIT returned. Reads
 * run on the same thread in queue order, so a read sees every write
 * queued before it, and results come back in submission order, which the
 * core relies on. A second thread with its own read connection checks
 * passwords (Argon2id is slow on purpose and must not hold up commits).
 * Its queue is bounded (STORE_PW_QUEUE_MAX): each job holds a password
 * copy and costs about a tenth of a second, so a backlog only grows
 * memory and delay. A job whose requester went away is taken out
 * (store_cancel_password), and a stop abandons the queued ones: the
 * writer queue is drained on stop (its writes were promised), the
 * password queue is not.
 *
 * Finished jobs go to a mutex-protected list; `notify` tells the serving
 * thread to take them. A failed commit fails every write it carried; the
 * core then stops (PARLEY_ACT_FATAL).
 *
 * Schema: versioned with PRAGMA user_version and the migration list
 * below; each migration runs in its own transaction. Events (messages and
 * receipts) share one table keyed by pos, so a user's stream of events
 * reads in pos order with one query.
 *
 * Calls (schema 3): one row per call in `calls`, its joins, leaves and
 * rejoins in `call_events`. The core sends them as CALL_EVENT writes in
 * order, without waiting for them, so they share the group commits of
 * messages; the HTTP reads of them are jobs on the same queue, so a read
 * sees every event queued before it, which includes every event whose
 * frames went out. A call the store holds as not ended when the server
 * starts was cut short by a stop or crash: store_end_open_calls ends it
 * with `server-restart`.
 *
 * The temp-id index is unique per dedup window, not forever: a message
 * row carries dedup_epoch = ts_ms / window, and (from_user, device,
 * temp_id, dedup_epoch) is unique. The core remembers temp-ids for the
 * window only (SEND-3 asks no more), so a device that reuses a temp-id
 * later, or retries a message more than a window after it was stored,
 * makes a new message; two rows with one temp-id are then more than a
 * window apart, hence in different epochs, and the index lets them be.
 * A repeat inside one epoch can only come from a dedup failure in the
 * core, and the index refuses it (the commit fails, which is fatal). */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <sqlite3.h>

#include "log.h"
#include "store.h"

#define STORE_BATCH_MAX 4096 /* writes per transaction at most */
#define STORE_BUSY_MS 5000

enum { EV_MSG = 1, EV_RECEIPT = 2 };

typedef struct store_job {
  struct store_job *next;
  store_job_kind kind;
  uint64_t tag;
  parley_store_req req; /* CORE: a copy; pointers below are its own */
  char *body;
  parley_conv_info *conv;
  char (*names)[PARLEY_USER_MAX + 1];
  size_t name_count;
  char user[PARLEY_USER_MAX + 1];
  char *password;
  char call_id[PARLEY_ID_MAX + 1]; /* CALL_GET */
  char conv_id[PARLEY_ID_MAX + 1]; /* CALL_LIST */
  size_t limit;                    /* CALL_LIST */
} store_job;

typedef struct job_queue {
  store_job *head, *tail;
} job_queue;

enum {
  STMT_INSERT_MSG,
  STMT_INSERT_RECEIPT_EVENT,
  STMT_UPSERT_RECEIPT,
  STMT_INSERT_CONV,
  STMT_INSERT_MEMBER,
  STMT_READ_EVENTS,
  STMT_HISTORY_NEWEST,
  STMT_HISTORY_BEFORE,
  STMT_HISTORY_AFTER,
  STMT_USER_EXISTS,
  STMT_CALL_INSERT,
  STMT_CALL_EVENT,
  STMT_CALL_ANSWERED,
  STMT_CALL_ENDED,
  STMT_CALL_GET,
  STMT_CALL_EVENTS,
  STMT_CALL_LIST,
  STMT_COUNT
};

#define CALL_COLUMNS                                                         \
  "id, conv, caller, caller_device, media, started_ms, answered_ms, "       \
  "ended_ms, end_reason"


#define EVENT_COLUMNS                                                        \
  "pos, type, conv, seq, from_user, device, temp_id, msg_id, "              \
  "content_type, body, receipt_kind, ts_ms"

static const char *const stmt_sql[STMT_COUNT] = {
    "INSERT INTO events (" EVENT_COLUMNS ", dedup_epoch) "
    "VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?10, ?11)",
    "INSERT INTO events (pos, type, conv, seq, from_user, receipt_kind, "
    "ts_ms) VALUES (?1, 2, ?2, ?3, ?4, ?5, ?6)",
    "INSERT INTO receipts (conv, user, kind, seq, pos, ts_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (conv, user, kind) "
    "DO UPDATE SET seq = excluded.seq, pos = excluded.pos, "
    "ts_ms = excluded.ts_ms WHERE excluded.seq > receipts.seq",
    "INSERT INTO conversations (id, kind, title, created_ms) "
    "VALUES (?1, ?2, ?3, ?4)",
    "INSERT INTO members (conv, user) VALUES (?1, ?2)",
    "SELECT " EVENT_COLUMNS " FROM events WHERE pos > ?1 AND pos <= ?2 "
    "AND conv IN (SELECT conv FROM members WHERE user = ?3) "
    "ORDER BY pos LIMIT ?4",
    "SELECT " EVENT_COLUMNS " FROM events WHERE type = 1 AND conv = ?1 "
    "ORDER BY seq DESC LIMIT ?2",
    "SELECT " EVENT_COLUMNS " FROM events WHERE type = 1 AND conv = ?1 "
    "AND seq < ?3 ORDER BY seq DESC LIMIT ?2",
    "SELECT " EVENT_COLUMNS " FROM events WHERE type = 1 AND conv = ?1 "
    "AND seq > ?3 ORDER BY seq ASC LIMIT ?2",
    "SELECT 1 FROM users WHERE name = ?1",
    "INSERT INTO calls (id, conv, caller, caller_device, media, started_ms)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    "INSERT INTO call_events (call, seq, ts_ms, user, device, kind, reason)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    "UPDATE calls SET answered_ms = ?2 WHERE id = ?1 AND answered_ms IS NULL",
    "UPDATE calls SET ended_ms = ?2, end_reason = ?3 WHERE id = ?1 "
    "AND ended_ms IS NULL",
    "SELECT " CALL_COLUMNS " FROM calls WHERE id = ?1 "
    "AND conv IN (SELECT conv FROM members WHERE user = ?2)",
    "SELECT ts_ms, user, device, kind, reason FROM call_events "
    "WHERE call = ?1 ORDER BY seq",
    "SELECT " CALL_COLUMNS " FROM calls WHERE conv = ?1 "
    "ORDER BY started_ms DESC, id DESC LIMIT ?2",
};

/* Migration i takes the schema from version i to i + 1. */
static const char *const migrations[] = {
    "CREATE TABLE users ("
    "  name TEXT PRIMARY KEY, hash TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE server_keys ("
    "  name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE conversations ("
    "  id TEXT PRIMARY KEY, kind INTEGER NOT NULL, title TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE members ("
    "  conv TEXT NOT NULL REFERENCES conversations (id),"
    "  user TEXT NOT NULL, PRIMARY KEY (conv, user)) WITHOUT ROWID;"
    "CREATE INDEX members_by_user ON members (user, conv);"
    "CREATE TABLE events ("
    "  pos INTEGER PRIMARY KEY,"
    "  type INTEGER NOT NULL,"     /* 1 message, 2 receipt */
    "  conv TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  from_user TEXT NOT NULL,"   /* sender, or the receipt's user */
    "  device TEXT, temp_id TEXT, msg_id TEXT, content_type TEXT,"
    "  body BLOB, receipt_kind INTEGER,"
    "  ts_ms INTEGER NOT NULL,"
    "  dedup_epoch INTEGER);"      /* messages: ts_ms / dedup window */
    "CREATE UNIQUE INDEX events_temp_id ON events (from_user, device,"
    "  temp_id, dedup_epoch) WHERE type = 1;"
    "CREATE UNIQUE INDEX events_conv_seq ON events (conv, seq)"
    "  WHERE type = 1;"
    "CREATE INDEX events_ts ON events (ts_ms) WHERE type = 1;"
    "CREATE TABLE receipts ("
    "  conv TEXT NOT NULL, user TEXT NOT NULL, kind INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL, pos INTEGER NOT NULL, ts_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (conv, user, kind)) WITHOUT ROWID;",
    /* 2: names of deleted users, never given to a new account. */
    "CREATE TABLE deleted_users ("
    "  name TEXT PRIMARY KEY, deleted_ms INTEGER NOT NULL) WITHOUT ROWID;",
    /* 3: call records (spec section 19). */
    "CREATE TABLE IF NOT EXISTS calls ("
    "  id TEXT PRIMARY KEY, conv TEXT NOT NULL, caller TEXT NOT NULL,"
    "  caller_device TEXT NOT NULL, media TEXT NOT NULL,"
    "  started_ms INTEGER NOT NULL, answered_ms INTEGER,"
    "  ended_ms INTEGER, end_reason TEXT) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS calls_by_conv ON calls (conv, started_ms);"
    "CREATE INDEX IF NOT EXISTS calls_open ON calls (id)"
    "  WHERE ended_ms IS NULL;"
    "CREATE TABLE IF NOT EXISTS call_events ("
    "  call TEXT NOT NULL, seq INTEGER NOT NULL, ts_ms INTEGER NOT NULL,"
    "  user TEXT NOT NULL, device TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"       /* joined, left, rejoined */
    "  reason TEXT, PRIMARY KEY (call, seq)) WITHOUT ROWID;",
};

_Static_assert(sizeof migrations / sizeof migrations[0] ==
                   STORE_SCHEMA_VERSION,
               "one migration per schema version");

struct store {
  sqlite3 *db;     /* writer thread's connection (main thread before) */
  sqlite3 *pw_db;  /* password thread's connection */
  char *path;
  sqlite3_stmt *stmt[STMT_COUNT];

  pthread_mutex_t mu;
  pthread_cond_t writer_cv, pw_cv;
  job_queue writer_q, pw_q;
  size_t pw_queued; /* jobs on pw_q */
  store_done *done_head, *done_tail;
  size_t in_flight;
  bool running, stopping;
  pthread_t writer, pw_thread;
  void (*notify)(void *ctx);
  void *notify_ctx;
  store_stats stats;
  char *dummy_hash; /* password thread: verified for unknown users */
  uint64_t dedup_window_ms;
};

/* ---- helpers ---------------------------------------------------------- */

/* Copies src into a char array of `size` bytes, truncating. */
static void copy_str(char *dst, size_t size, const char *src)
{
  size_t n = src ? strlen(src) : 0;

  if (n >= size)
    n = size - 1;
  if (n)
    memcpy(dst, src, n);
  dst[n] = '\0';
}

static const char *col_text(sqlite3_stmt *s, int col)
{
  const unsigned char *t = sqlite3_column_text(s, col);
  return t ? (const char *)t : "";
}

static uint64_t col_u64(sqlite3_stmt *s, int col)
{
  return (uint64_t)sqlite3_column_int64(s, col);
}

static void bind_text(sqlite3_stmt *s, int i, const char *t)
{
  sqlite3_bind_text(s, i, t, -1, SQLITE_TRANSIENT);
}

/* Binds an unsigned number. SQLite integers are signed: a value past
 * INT64_MAX is bound as INT64_MAX, which no stored pos, seq or time
 * reaches, so a bound compares as it should (after it: nothing; before
 * it: everything; a LIMIT: no limit) instead of wrapping negative. */
static void bind_u64(sqlite3_stmt *s, int i, uint64_t v)
{
  sqlite3_bind_int64(s, i, v > INT64_MAX ? INT64_MAX : (sqlite3_int64)v);
}

/* Runs a statement that returns no rows, then resets it. Returns 0 or
 * -1, logging the SQLite message. */
static int step_done(sqlite3 *db, sqlite3_stmt *s)
{
  int rc = sqlite3_step(s);

  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  if (rc == SQLITE_DONE)
    return 0;
  plog_error(0, "store: %s", sqlite3_errmsg(db));
  return -1;
}

/* Runs SQL text without results. Returns 0 or -1. */
static int exec_sql(sqlite3 *db, const char *sql)
{
  char *msg = NULL;

  if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
    return 0;
  plog_error(0, "store: %s", msg ? msg : sqlite3_errmsg(db));
  sqlite3_free(msg);
  return -1;
}

/* ---- opening and migrations ------------------------------------------ */

/* Opens a connection with the pragmas every connection needs. Returns
 * the handle or NULL (message in err). */
static sqlite3 *open_db(const char *path, char *err, size_t err_size)
{
  sqlite3 *db = NULL;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
              SQLITE_OPEN_NOMUTEX;

  if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
    snprintf(err, err_size, "cannot open %s: %s", path,
             db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_busy_timeout(db, STORE_BUSY_MS);
  if (exec_sql(db, "PRAGMA journal_mode = WAL;"
                   "PRAGMA synchronous = FULL;"
                   "PRAGMA foreign_keys = ON;") != 0) {
    snprintf(err, err_size, "cannot set up %s: %s", path,
             sqlite3_errmsg(db));
    sqlite3_close(db);
    return NULL;
  }
  return db;
}

void store_set_dedup_window(store *st, uint64_t window_ms)
{
  st->dedup_window_ms = window_ms ? window_ms : STORE_DEDUP_WINDOW_MS;
}

int store_schema_version(store *st)
{
  sqlite3_stmt *s = NULL;
  int v = -1;

  if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) !=
      SQLITE_OK)
    return -1;
  if (sqlite3_step(s) == SQLITE_ROW)
    v = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  return v;
}

/* Brings the schema up to STORE_SCHEMA_VERSION. Returns 0 or -1. */
static int migrate(store *st, char *err, size_t err_size)
{
  int v = store_schema_version(st);
  char sql[64];

  if (v < 0 || v > STORE_SCHEMA_VERSION) {
    snprintf(err, err_size, "schema version %d is not one this server "
             "knows (up to %d)", v, STORE_SCHEMA_VERSION);
    return -1;
  }
  for (; v < STORE_SCHEMA_VERSION; v++) {
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d;", v + 1);
    if (exec_sql(st->db, "BEGIN IMMEDIATE;") != 0)
      goto fail;
    if (exec_sql(st->db, migrations[v]) != 0 ||
        exec_sql(st->db, sql) != 0 || exec_sql(st->db, "COMMIT;") != 0) {
      exec_sql(st->db, "ROLLBACK;");
      goto fail;
    }
    plog_info(0, "store: migrated schema to version %d", v + 1);
  }
  return 0;

fail:
  snprintf(err, err_size, "migration to version %d failed: %s", v + 1,
           sqlite3_errmsg(st->db));
  return -1;
}

store *store_open(const char *path, char *err, size_t err_size)
{
  store *st = calloc(1, sizeof *st);

  if (sodium_init() < 0) {
    snprintf(err, err_size, "libsodium failed to start");
    free(st);
    return NULL;
  }
  if (!st || !(st->path = strdup(path))) {
    snprintf(err, err_size, "out of memory");
    goto undo_alloc;
  }
  if (!(st->db = open_db(path, err, err_size)))
    goto undo_alloc;
  if (migrate(st, err, err_size) != 0)
    goto undo_db;
  for (int i = 0; i < STMT_COUNT; i++) {
    if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1,
                           SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                           NULL) != SQLITE_OK) {
      snprintf(err, err_size, "prepare: %s", sqlite3_errmsg(st->db));
      goto undo_stmts;
    }
  }
  st->dedup_window_ms = STORE_DEDUP_WINDOW_MS;
  pthread_mutex_init(&st->mu, NULL);
  pthread_cond_init(&st->writer_cv, NULL);
  pthread_cond_init(&st->pw_cv, NULL);
  return st;

undo_stmts:
  for (int i = 0; i < STMT_COUNT; i++)
    sqlite3_finalize(st->stmt[i]);
undo_db:
  sqlite3_close(st->db);
undo_alloc:
  if (st)
    free(st->path);
  free(st);
  return NULL;
}

/* ---- keys and users (synchronous, before the threads start) ---------- */

/* Reads key `name` into out (len bytes). Returns 1 found, 0 missing,
 * -1 on error or a wrong length. */
static int key_read(store *st, const char *name, uint8_t *out, size_t len)
{
  sqlite3_stmt *s = NULL;
  int rc, found = -1;

  if (sqlite3_prepare_v2(st->db, "SELECT value FROM server_keys "
                         "WHERE name = ?1", -1, &s, NULL) != SQLITE_OK)
    return -1;
  bind_text(s, 1, name);
  rc = sqlite3_step(s);
  if (rc == SQLITE_DONE)
    found = 0;
  else if (rc == SQLITE_ROW &&
           (size_t)sqlite3_column_bytes(s, 0) == len) {
    memcpy(out, sqlite3_column_blob(s, 0), len);
    found = 1;
  }
  sqlite3_finalize(s);
  return found;
}

static int key_write(store *st, const char *name, const uint8_t *v,
                     size_t len)
{
  sqlite3_stmt *s = NULL;
  int rc;

  if (sqlite3_prepare_v2(st->db, "INSERT INTO server_keys (name, value) "
                         "VALUES (?1, ?2)", -1, &s, NULL) != SQLITE_OK)
    return -1;
  bind_text(s, 1, name);
  sqlite3_bind_blob(s, 2, v, (int)len, SQLITE_TRANSIENT);
  rc = sqlite3_step(s);
  sqlite3_finalize(s);
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_keys(store *st, uint8_t token_sk[64], uint8_t token_pk[32],
               uint8_t cursor_key[32])
{
  int have_sk, have_ck;

  if (exec_sql(st->db, "BEGIN IMMEDIATE;") != 0)
    return -1;
  have_sk = key_read(st, "token-sk", token_sk, 64);
  have_ck = key_read(st, "cursor-key", cursor_key, 32);
  if (have_sk < 0 || have_ck < 0)
    goto rollback;
  if (!have_sk) {
    crypto_sign_keypair(token_pk, token_sk);
    if (key_write(st, "token-sk", token_sk, 64) != 0)
      goto rollback;
    plog_info(0, "store: created the token signing key");
  }
  if (!have_ck) {
    randombytes_buf(cursor_key, 32);
    if (key_write(st, "cursor-key", cursor_key, 32) != 0)
      goto rollback;
  }
  if (exec_sql(st->db, "COMMIT;") != 0)
    goto rollback;
  crypto_sign_ed25519_sk_to_pk(token_pk, token_sk);
  return 0;

rollback:
  plog_error(0, "store: server keys: %s", sqlite3_errmsg(st->db));
  exec_sql(st->db, "ROLLBACK;");
  return -1;
}

/* Runs a one-row-changing user statement. Returns 0, 1 when nothing
 * matched or the row exists (constraint), -1 on error. */
static int user_change(store *st, const char *sql, const char *name,
                       const char *hash, uint64_t now_ms)
{
  sqlite3_stmt *s = NULL;
  int rc;

  if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
    return -1;
  bind_text(s, 1, name);
  if (hash) {
    bind_text(s, 2, hash);
    bind_u64(s, 3, now_ms);
  }
  rc = sqlite3_step(s);
  sqlite3_finalize(s);
  if (rc == SQLITE_CONSTRAINT)
    return 1;
  if (rc != SQLITE_DONE) {
    plog_error(0, "store: %s", sqlite3_errmsg(st->db));
    return -1;
  }
  return sqlite3_changes(st->db) == 0 ? 1 : 0;
}

static uint64_t wall_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether `name` belonged to a deleted user: 1 yes, 0 no, -1 error. */
static int name_deleted(store *st, const char *name)
{
  sqlite3_stmt *s = NULL;
  int rc;

  if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM deleted_users WHERE "
                         "name = ?1", -1, &s, NULL) != SQLITE_OK)
    return -1;
  bind_text(s, 1, name);
  rc = sqlite3_step(s);
  sqlite3_finalize(s);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_add_user(store *st, const char *name, const char *hash)
{
  int deleted = name_deleted(st, name);

  if (deleted != 0)
    return deleted < 0 ? -1 : 2;
  return user_change(st, "INSERT INTO users (name, hash, created_ms) "
                     "VALUES (?1, ?2, ?3)", name, hash, wall_ms());
}

int store_del_user(store *st, const char *name)
{
  int rc;

  if (exec_sql(st->db, "BEGIN IMMEDIATE") != 0)
    return -1;
  rc = user_change(st, "DELETE FROM users WHERE name = ?1", name, NULL, 0);
  if (rc == 0 && user_change(st, "INSERT INTO deleted_users (name, "
                             "deleted_ms) VALUES (?1, ?3)", name, "",
                             wall_ms()) != 0)
    rc = -1;
  if (exec_sql(st->db, rc == 0 ? "COMMIT" : "ROLLBACK") != 0)
    return -1;
  return rc;
}

int store_each_user(store *st, void (*fn)(void *ctx, const char *name),
                    void *ctx)
{
  sqlite3_stmt *s = NULL;
  int rc;

  if (sqlite3_prepare_v2(st->db, "SELECT name FROM users ORDER BY name",
                         -1, &s, NULL) != SQLITE_OK)
    return -1;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW)
    fn(ctx, col_text(s, 0));
  sqlite3_finalize(s);
  return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- events: rows to structs ----------------------------------------- */

/* Fills ev from a row of EVENT_COLUMNS; the body is malloc'ed (NUL
 * terminated) and owned by the caller. Returns 0 or -1 (no memory). */
static int row_to_event(sqlite3_stmt *s, parley_event *ev)
{
  memset(ev, 0, sizeof *ev);
  if (sqlite3_column_int(s, 1) == EV_RECEIPT) {
    parley_receipt *r = &ev->receipt;
    ev->type = PARLEY_EVENT_RECEIPT;
    r->pos = col_u64(s, 0);
    copy_str(r->conv, sizeof r->conv, col_text(s, 2));
    r->seq = col_u64(s, 3);
    copy_str(r->user, sizeof r->user, col_text(s, 4));
    r->kind = (parley_receipt_kind)sqlite3_column_int(s, 10);
    r->ts_ms = col_u64(s, 11);
    return 0;
  }
  parley_msg *m = &ev->msg;
  size_t len = (size_t)sqlite3_column_bytes(s, 9);
  char *body = malloc(len + 1);
  if (!body)
    return -1;
  if (len)
    memcpy(body, sqlite3_column_blob(s, 9), len);
  body[len] = '\0';
  ev->type = PARLEY_EVENT_MSG;
  m->pos = col_u64(s, 0);
  copy_str(m->conv, sizeof m->conv, col_text(s, 2));
  m->seq = col_u64(s, 3);
  copy_str(m->from, sizeof m->from, col_text(s, 4));
  copy_str(m->device, sizeof m->device, col_text(s, 5));
  copy_str(m->temp_id, sizeof m->temp_id, col_text(s, 6));
  copy_str(m->msg_id, sizeof m->msg_id, col_text(s, 7));
  copy_str(m->content_type, sizeof m->content_type, col_text(s, 8));
  m->ts_ms = col_u64(s, 11);
  m->body = body;
  m->body_len = len;
  return 0;
}

static void events_free(parley_event *evs, size_t n)
{
  for (size_t i = 0; evs && i < n; i++)
    if (evs[i].type == PARLEY_EVENT_MSG)
      free((char *)evs[i].msg.body);
  free(evs);
}

/* Steps a bound query with LIMIT limit + 1 into d: up to `limit` events
 * and d->result.more. Reverses them when `reverse`. Resets s. Returns 0
 * or -1. */
static int collect_events(sqlite3_stmt *s, size_t limit, bool reverse,
                          store_done *d)
{
  size_t n = 0;
  int rc;

  d->events = calloc(limit ? limit : 1, sizeof *d->events);
  if (!d->events)
    goto fail;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (n == limit) {
      d->result.more = true;
      break;
    }
    if (row_to_event(s, &d->events[n]) != 0)
      goto fail;
    n++;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    goto fail;
  for (size_t i = 0; reverse && i < n / 2; i++) {
    parley_event t = d->events[i];
    d->events[i] = d->events[n - 1 - i];
    d->events[n - 1 - i] = t;
  }
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  d->result.events = d->events;
  d->result.event_count = n;
  return 0;

fail:
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  events_free(d->events, n);
  d->events = NULL;
  d->result.more = false;
  return -1;
}

/* ---- store_load --------------------------------------------------------- */

/* Loads conversations and their members. Returns 0, -1, or the
 * loader's answer. */
static int load_convs(store *st, const store_loader *ld)
{
  sqlite3_stmt *c = NULL, *m = NULL;
  parley_conv_info *info = malloc(sizeof *info);
  int rc = -1, step;

  if (!info)
    return -1;
  if (sqlite3_prepare_v2(st->db, "SELECT id, kind, title, created_ms, "
                         "(SELECT MAX(seq) FROM events WHERE type = 1 "
                         "AND conv = c.id) FROM conversations c ORDER BY "
                         "created_ms, id", -1, &c, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(st->db, "SELECT user FROM members WHERE conv = ?1 "
                         "ORDER BY user", -1, &m, NULL) != SQLITE_OK)
    goto done;
  while ((step = sqlite3_step(c)) == SQLITE_ROW) {
    memset(info, 0, sizeof *info);
    copy_str(info->id, sizeof info->id, col_text(c, 0));
    info->kind = (parley_conv_kind)sqlite3_column_int(c, 1);
    copy_str(info->title, sizeof info->title, col_text(c, 2));
    info->created_ms = col_u64(c, 3);
    info->last_seq = col_u64(c, 4);
    bind_text(m, 1, info->id);
    while (sqlite3_step(m) == SQLITE_ROW &&
           info->member_count < PARLEY_MEMBERS_MAX)
      copy_str(info->members[info->member_count++], PARLEY_USER_MAX + 1,
               col_text(m, 0));
    sqlite3_reset(m);
    if ((rc = ld->conv(ld->ctx, info)) != 0)
      goto done;
  }
  rc = step == SQLITE_DONE ? 0 : -1;

done:
  sqlite3_finalize(c);
  sqlite3_finalize(m);
  free(info);
  return rc;
}

/* Loads every kept receipt value. Returns 0, -1, or the loader's answer. */
static int load_receipts(store *st, const store_loader *ld)
{
  sqlite3_stmt *s = NULL;
  parley_receipt r;
  int rc = 0, step;

  if (sqlite3_prepare_v2(st->db, "SELECT conv, user, kind, seq, pos, ts_ms "
                         "FROM receipts ORDER BY pos", -1, &s,
                         NULL) != SQLITE_OK)
    return -1;
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    memset(&r, 0, sizeof r);
    copy_str(r.conv, sizeof r.conv, col_text(s, 0));
    copy_str(r.user, sizeof r.user, col_text(s, 1));
    r.kind = (parley_receipt_kind)sqlite3_column_int(s, 2);
    r.seq = col_u64(s, 3);
    r.pos = col_u64(s, 4);
    r.ts_ms = col_u64(s, 5);
    if ((rc = ld->receipt(ld->ctx, &r)) != 0)
      break;
  }
  sqlite3_finalize(s);
  if (rc == 0 && step != SQLITE_DONE)
    rc = -1;
  return rc;
}

/* Loads the messages sent at or after since_ms, in pos order. */
static int load_sent(store *st, const store_loader *ld, uint64_t since_ms)
{
  sqlite3_stmt *s = NULL;
  parley_event ev;
  int rc = 0, step;

  if (sqlite3_prepare_v2(st->db, "SELECT " EVENT_COLUMNS " FROM events "
                         "WHERE type = 1 AND ts_ms >= ?1 ORDER BY pos",
                         -1, &s, NULL) != SQLITE_OK)
    return -1;
  bind_u64(s, 1, since_ms);
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    if (row_to_event(s, &ev) != 0) {
      rc = -1;
      break;
    }
    rc = ld->sent(ld->ctx, &ev.msg);
    free((char *)ev.msg.body);
    if (rc != 0)
      break;
  }
  sqlite3_finalize(s);
  if (rc == 0 && step != SQLITE_DONE)
    rc = -1;
  return rc;
}

int store_load(store *st, const store_loader *ld, uint64_t since_ms)
{
  sqlite3_stmt *s = NULL;
  uint64_t last_pos = 0;
  int rc;

  if ((rc = load_convs(st, ld)) != 0 || (rc = load_receipts(st, ld)) != 0 ||
      (rc = load_sent(st, ld, since_ms)) != 0)
    return rc;
  if (sqlite3_prepare_v2(st->db, "SELECT COALESCE(MAX(pos), 0) FROM events",
                         -1, &s, NULL) != SQLITE_OK)
    return -1;
  if (sqlite3_step(s) == SQLITE_ROW)
    last_pos = col_u64(s, 0);
  sqlite3_finalize(s);
  ld->pos(ld->ctx, last_pos);
  return 0;
}

/* ---- calls cut short by a stop ------------------------------------------ */

static int write_call_event(store *st, const parley_call_event *e);

typedef struct name_pair {
  char a[PARLEY_ID_MAX + 1];
  char b[PARLEY_ID_MAX + 1];
} name_pair;

/* Runs a query with one text parameter and collects the first one or
 * two text columns of each row. Returns the rows (free them), or NULL
 * with *n 0 when none; *err set on failure. */
static name_pair *collect_pairs(store *st, const char *sql, const char *arg,
                                size_t *n, bool *err)
{
  sqlite3_stmt *s = NULL;
  name_pair *out = NULL;
  size_t cap = 0;
  int rc;

  *n = 0;
  if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
    *err = true;
    return NULL;
  }
  if (arg)
    bind_text(s, 1, arg);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (*n == cap) {
      size_t c = cap ? cap * 2 : 8;
      name_pair *p = realloc(out, c * sizeof *p);
      if (!p) {
        *err = true;
        break;
      }
      out = p;
      cap = c;
    }
    copy_str(out[*n].a, sizeof out[*n].a, col_text(s, 0));
    copy_str(out[*n].b, sizeof out[*n].b,
             sqlite3_column_count(s) > 1 ? col_text(s, 1) : "");
    (*n)++;
  }
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    *err = true;
  sqlite3_finalize(s);
  return out;
}

/* Ends open call `id`: a left row for each participant still in (whose
 * last row is not a leave), then the call's end. Returns 0 or -1. */
static int end_open_call(store *st, const char *id, uint64_t now_ms)
{
  parley_call_event e;
  size_t n = 0, rows = 0;
  bool err = false;
  name_pair *in = collect_pairs(
      st, "SELECT e.user, e.device FROM call_events e WHERE e.call = ?1 "
          "AND e.kind != 'left' AND e.seq = (SELECT MAX(f.seq) FROM "
          "call_events f WHERE f.call = e.call AND f.user = e.user AND "
          "f.device = e.device) ORDER BY e.seq", id, &n, &err);
  name_pair *last = collect_pairs(st, "SELECT COALESCE(MAX(seq), 0) FROM "
                                  "call_events WHERE call = ?1", id, &rows,
                                  &err);
  int rc = err || rows != 1 ? -1 : 0;

  memset(&e, 0, sizeof e);
  copy_str(e.call, sizeof e.call, id);
  e.seq = rc == 0 ? strtoull(last[0].a, NULL, 10) : 0;
  e.ts_ms = now_ms;
  copy_str(e.reason, sizeof e.reason, "server-restart");
  e.kind = PARLEY_CALL_REC_LEFT;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    e.seq++;
    copy_str(e.user, sizeof e.user, in[i].a);
    copy_str(e.device, sizeof e.device, in[i].b);
    rc = write_call_event(st, &e);
  }
  e.kind = PARLEY_CALL_REC_ENDED;
  if (rc == 0)
    rc = write_call_event(st, &e);
  free(in);
  free(last);
  return rc;
}

int store_end_open_calls(store *st, uint64_t now_ms, size_t *count)
{
  size_t n = 0;
  bool err = false;
  int rc;

  *count = 0;
  if (exec_sql(st->db, "BEGIN IMMEDIATE;") != 0)
    return -1;
  name_pair *open = collect_pairs(st, "SELECT id FROM calls WHERE "
                                  "ended_ms IS NULL ORDER BY started_ms",
                                  NULL, &n, &err);
  rc = err ? -1 : 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = end_open_call(st, open[i].a, now_ms);
  free(open);
  if (rc == 0 && exec_sql(st->db, "COMMIT;") == 0) {
    *count = n;
    return 0;
  }
  plog_error(0, "store: ending the calls of the last run: %s",
             sqlite3_errmsg(st->db));
  exec_sql(st->db, "ROLLBACK;");
  return -1;
}

/* ---- writer thread: writes ------------------------------------------ */

static bool job_is_write(const store_job *j)
{
  return j->kind == STORE_JOB_CORE &&
         (j->req.op == PARLEY_STORE_APPEND_MSG ||
          j->req.op == PARLEY_STORE_APPEND_RECEIPT ||
          j->req.op == PARLEY_STORE_CREATE_CONV ||
          j->req.op == PARLEY_STORE_CALL_EVENT);
}

static int write_msg(store *st, const parley_msg *m)
{
  sqlite3_stmt *s = st->stmt[STMT_INSERT_MSG];

  bind_u64(s, 1, m->pos);
  bind_text(s, 2, m->conv);
  bind_u64(s, 3, m->seq);
  bind_text(s, 4, m->from);
  bind_text(s, 5, m->device);
  bind_text(s, 6, m->temp_id);
  bind_text(s, 7, m->msg_id);
  bind_text(s, 8, m->content_type);
  sqlite3_bind_blob(s, 9, m->body ? m->body : "", (int)m->body_len,
                    SQLITE_STATIC);
  bind_u64(s, 10, m->ts_ms);
  bind_u64(s, 11, m->ts_ms / st->dedup_window_ms);
  return step_done(st->db, s);
}

static int write_receipt(store *st, const parley_receipt *r)
{
  sqlite3_stmt *e = st->stmt[STMT_INSERT_RECEIPT_EVENT];
  sqlite3_stmt *u = st->stmt[STMT_UPSERT_RECEIPT];

  bind_u64(e, 1, r->pos);
  bind_text(e, 2, r->conv);
  bind_u64(e, 3, r->seq);
  bind_text(e, 4, r->user);
  sqlite3_bind_int(e, 5, (int)r->kind);
  bind_u64(e, 6, r->ts_ms);
  if (step_done(st->db, e) != 0)
    return -1;
  bind_text(u, 1, r->conv);
  bind_text(u, 2, r->user);
  sqlite3_bind_int(u, 3, (int)r->kind);
  bind_u64(u, 4, r->seq);
  bind_u64(u, 5, r->pos);
  bind_u64(u, 6, r->ts_ms);
  return step_done(st->db, u);
}

static int write_conv(store *st, const parley_conv_info *c)
{
  sqlite3_stmt *s = st->stmt[STMT_INSERT_CONV];
  sqlite3_stmt *m = st->stmt[STMT_INSERT_MEMBER];

  bind_text(s, 1, c->id);
  sqlite3_bind_int(s, 2, (int)c->kind);
  bind_text(s, 3, c->title);
  bind_u64(s, 4, c->created_ms);
  if (step_done(st->db, s) != 0)
    return -1;
  for (size_t i = 0; i < c->member_count && i < PARLEY_MEMBERS_MAX; i++) {
    bind_text(m, 1, c->id);
    bind_text(m, 2, c->members[i]);
    if (step_done(st->db, m) != 0)
      return -1;
  }
  return 0;
}

static const char *call_event_word(parley_call_event_kind kind)
{
  switch (kind) {
  case PARLEY_CALL_REC_JOINED:
    return "joined";
  case PARLEY_CALL_REC_LEFT:
    return "left";
  case PARLEY_CALL_REC_REJOINED:
    return "rejoined";
  default:
    return NULL;
  }
}

/* Binds text, or NULL for an empty string. */
static void bind_text_or_null(sqlite3_stmt *s, int i, const char *t)
{
  if (t[0])
    bind_text(s, i, t);
  else
    sqlite3_bind_null(s, i);
}

/* One call record event: the call's row for CREATED and ENDED, a row of
 * call_events for the others (and answered_ms for the join that
 * answered). */
static int write_call_event(store *st, const parley_call_event *e)
{
  sqlite3_stmt *s;

  if (e->kind == PARLEY_CALL_REC_CREATED) {
    s = st->stmt[STMT_CALL_INSERT];
    bind_text(s, 1, e->call);
    bind_text(s, 2, e->conv);
    bind_text(s, 3, e->user);
    bind_text(s, 4, e->device);
    bind_text(s, 5, e->media);
    bind_u64(s, 6, e->ts_ms);
    return step_done(st->db, s);
  }
  if (e->kind == PARLEY_CALL_REC_ENDED) {
    s = st->stmt[STMT_CALL_ENDED];
    bind_text(s, 1, e->call);
    bind_u64(s, 2, e->ts_ms);
    bind_text(s, 3, e->reason);
    return step_done(st->db, s);
  }
  if (!call_event_word(e->kind))
    return -1;
  s = st->stmt[STMT_CALL_EVENT];
  bind_text(s, 1, e->call);
  bind_u64(s, 2, e->seq);
  bind_u64(s, 3, e->ts_ms);
  bind_text(s, 4, e->user);
  bind_text(s, 5, e->device);
  bind_text(s, 6, call_event_word(e->kind));
  bind_text_or_null(s, 7, e->reason);
  if (step_done(st->db, s) != 0)
    return -1;
  if (!e->answered)
    return 0;
  s = st->stmt[STMT_CALL_ANSWERED];
  bind_text(s, 1, e->call);
  bind_u64(s, 2, e->ts_ms);
  return step_done(st->db, s);
}

static int write_job(store *st, const store_job *j)
{
  switch (j->req.op) {
  case PARLEY_STORE_APPEND_MSG:
    return write_msg(st, &j->req.msg);
  case PARLEY_STORE_APPEND_RECEIPT:
    return write_receipt(st, &j->req.receipt);
  case PARLEY_STORE_CREATE_CONV:
    return j->conv ? write_conv(st, j->conv) : -1;
  case PARLEY_STORE_CALL_EVENT:
    return write_call_event(st, &j->req.call_event);
  default:
    return -1;
  }
}

/* Commits the `count` write jobs starting at `first` in one transaction.
 * Returns true when COMMIT returned (every write is durable). */
static bool commit_writes(store *st, store_job *first, size_t count)
{
  store_job *j = first;
  bool began = exec_sql(st->db, "BEGIN IMMEDIATE;") == 0, ok = began;

  for (size_t i = 0; ok && i < count; i++, j = j->next)
    ok = write_job(st, j) == 0;
  if (ok)
    ok = exec_sql(st->db, "COMMIT;") == 0;
  if (!ok) {
    if (began && !sqlite3_get_autocommit(st->db))
      exec_sql(st->db, "ROLLBACK;");
    plog_error(0, "store: a commit of %zu writes failed", count);
    return false;
  }
  pthread_mutex_lock(&st->mu);
  st->stats.commits++;
  st->stats.writes += count;
  if (count > st->stats.max_batch)
    st->stats.max_batch = count;
  pthread_mutex_unlock(&st->mu);
  plog_debug(0, "store: commit carried %zu writes", count);
  return true;
}

/* ---- writer thread: reads ------------------------------------------- */

static int read_events(store *st, const store_job *j, store_done *d)
{
  sqlite3_stmt *s = st->stmt[STMT_READ_EVENTS];
  size_t limit = j->req.read_events.limit;

  bind_u64(s, 1, j->req.read_events.after_pos);
  bind_u64(s, 2, j->req.read_events.upto_pos);
  bind_text(s, 3, j->req.read_events.user);
  bind_u64(s, 4, (uint64_t)limit + 1);
  return collect_events(s, limit, false, d);
}

/* One page of a conversation's messages: walking back from the newest
 * or from before_seq, or forward from after_seq; ascending seq order. */
static int read_history(store *st, const store_job *j, store_done *d)
{
  uint64_t before = j->req.read_history.before_seq;
  size_t limit = j->req.read_history.limit;
  sqlite3_stmt *s;
  bool reverse = true;

  if (before == 0 && j->req.read_history.forward) {
    s = st->stmt[STMT_HISTORY_AFTER];
    bind_u64(s, 3, j->req.read_history.after_seq);
    reverse = false;
  } else if (before == 0) {
    s = st->stmt[STMT_HISTORY_NEWEST];
  } else {
    s = st->stmt[STMT_HISTORY_BEFORE];
    bind_u64(s, 3, before);
  }
  bind_text(s, 1, j->req.read_history.conv);
  bind_u64(s, 2, (uint64_t)limit + 1);
  return collect_events(s, limit, reverse, d);
}

/* ---- writer thread: call reads ------------------------------------- */

/* Fills c from a row of CALL_COLUMNS. */
static void row_to_call(sqlite3_stmt *s, store_call *c)
{
  memset(c, 0, sizeof *c);
  copy_str(c->id, sizeof c->id, col_text(s, 0));
  copy_str(c->conv, sizeof c->conv, col_text(s, 1));
  copy_str(c->caller, sizeof c->caller, col_text(s, 2));
  copy_str(c->caller_device, sizeof c->caller_device, col_text(s, 3));
  copy_str(c->media, sizeof c->media, col_text(s, 4));
  c->started_ms = col_u64(s, 5);
  c->answered = sqlite3_column_type(s, 6) != SQLITE_NULL;
  c->answered_ms = col_u64(s, 6);
  c->ended = sqlite3_column_type(s, 7) != SQLITE_NULL;
  c->ended_ms = col_u64(s, 7);
  copy_str(c->end_reason, sizeof c->end_reason, col_text(s, 8));
}

/* Reads call c's event rows into c->events. Returns 0 or -1. */
static int read_call_events(store *st, store_call *c)
{
  sqlite3_stmt *s = st->stmt[STMT_CALL_EVENTS];
  size_t cap = 0;
  int rc;

  bind_text(s, 1, c->id);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (c->event_count == cap) {
      size_t n = cap ? cap * 2 : 8;
      store_call_event *e = realloc(c->events, n * sizeof *e);
      if (!e)
        break;
      c->events = e;
      cap = n;
    }
    store_call_event *e = &c->events[c->event_count++];
    memset(e, 0, sizeof *e);
    e->ts_ms = col_u64(s, 0);
    copy_str(e->user, sizeof e->user, col_text(s, 1));
    copy_str(e->device, sizeof e->device, col_text(s, 2));
    copy_str(e->event, sizeof e->event, col_text(s, 3));
    copy_str(e->reason, sizeof e->reason, col_text(s, 4));
  }
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return rc == SQLITE_DONE ? 0 : -1;
}

/* CALL_GET: the call when the user is a member of its conversation.
 * Returns 0 (d->call_count 0 or 1) or -1. */
static int read_call_get(store *st, const store_job *j, store_done *d)
{
  sqlite3_stmt *s = st->stmt[STMT_CALL_GET];
  int rc;

  bind_text(s, 1, j->call_id);
  bind_text(s, 2, j->user);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW && (d->calls = calloc(1, sizeof *d->calls))) {
    row_to_call(s, d->calls);
    d->call_count = 1;
  }
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  if (rc == SQLITE_ROW && !d->calls)
    return -1;
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return -1;
  return d->call_count ? read_call_events(st, d->calls) : 0;
}

/* CALL_LIST: a conversation's newest calls. Returns 0 or -1. */
static int read_call_list(store *st, const store_job *j, store_done *d)
{
  sqlite3_stmt *s = st->stmt[STMT_CALL_LIST];
  int rc;

  d->calls = calloc(j->limit ? j->limit : 1, sizeof *d->calls);
  if (!d->calls)
    return -1;
  bind_text(s, 1, j->conv_id);
  bind_u64(s, 2, j->limit);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW && d->call_count < j->limit)
    row_to_call(s, &d->calls[d->call_count++]);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* Sets d->ok and d->missing for a USERS_EXIST job. */
static void check_users(store *st, const store_job *j, store_done *d)
{
  sqlite3_stmt *s = st->stmt[STMT_USER_EXISTS];

  d->ok = true;
  for (size_t i = 0; i < j->name_count; i++) {
    bind_text(s, 1, j->names[i]);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_DONE) {
      d->ok = false;
      copy_str(d->missing, sizeof d->missing, j->names[i]);
      return;
    }
    if (rc != SQLITE_ROW) {
      d->ok = false;
      d->failed = true;
      plog_error(0, "store: %s", sqlite3_errmsg(st->db));
      return;
    }
  }
}

/* ---- job and done records --------------------------------------------- */

static void job_free(store_job *j)
{
  if (!j)
    return;
  free(j->body);
  free(j->conv);
  free(j->names);
  if (j->password) {
    sodium_memzero(j->password, strlen(j->password));
    free(j->password);
  }
  free(j);
}

/* Frees a chain of jobs. */
static void jobs_free(store_job *head)
{
  while (head) {
    store_job *next = head->next;
    job_free(head);
    head = next;
  }
}

static store_done *done_new(const store_job *j)
{
  store_done *d = calloc(1, sizeof *d);

  if (!d)
    return NULL;
  d->kind = j->kind;
  d->tag = j->tag;
  d->result.id = j->req.id;
  return d;
}

void store_done_free(store_done *d)
{
  if (!d)
    return;
  for (size_t i = 0; i < d->call_count; i++)
    free(d->calls[i].events);
  free(d->calls);
  events_free(d->events, d->result.event_count);
  free(d);
}

/* Appends a chain of done records and wakes the taker. */
static void post_done(store *st, store_done *head, store_done *tail)
{
  if (!head)
    return;
  pthread_mutex_lock(&st->mu);
  if (st->done_tail)
    st->done_tail->next = head;
  else
    st->done_head = head;
  st->done_tail = tail;
  pthread_mutex_unlock(&st->mu);
  if (st->notify)
    st->notify(st->notify_ctx);
}

/* Adds a done record to a local chain. Out of memory here leaves the
 * core waiting forever, so it is treated as fatal. */
static void chain_add(store_done **head, store_done **tail, store_done *d)
{
  if (!d) {
    plog_error(0, "store: out of memory reporting a finished job");
    abort();
  }
  if (*tail)
    (*tail)->next = d;
  else
    *head = d;
  *tail = d;
}

/* ---- writer thread loop ----------------------------------------------- */

/* Serves one read or check job; returns its done record. */
static store_done *serve_read(store *st, const store_job *j)
{
  store_done *d = done_new(j);

  if (!d)
    return NULL;
  if (j->kind == STORE_JOB_USERS_EXIST) {
    check_users(st, j, d);
    return d;
  }
  if (j->kind == STORE_JOB_CALL_GET || j->kind == STORE_JOB_CALL_LIST) {
    int rc = j->kind == STORE_JOB_CALL_GET ? read_call_get(st, j, d)
                                           : read_call_list(st, j, d);
    d->ok = rc == 0;
    d->failed = rc != 0;
    if (rc != 0)
      plog_error(0, "store: call read failed: %s", sqlite3_errmsg(st->db));
    return d;
  }
  if (j->req.op == PARLEY_STORE_READ_EVENTS)
    d->ok = read_events(st, j, d) == 0;
  else if (j->req.op == PARLEY_STORE_READ_HISTORY)
    d->ok = read_history(st, j, d) == 0;
  d->result.ok = d->ok;
  if (!d->ok)
    plog_error(0, "store: read %u failed: %s", (unsigned)j->req.op,
               sqlite3_errmsg(st->db));
  return d;
}

/* Serves a list of jobs taken from the queue, in order, posting each
 * commit's or read's results as soon as they are known. Frees the jobs. */
static void serve_jobs(store *st, store_job *list)
{
  while (list) {
    store_done *head = NULL, *tail = NULL;
    store_job *j = list;

    if (!job_is_write(j)) {
      chain_add(&head, &tail, serve_read(st, j));
      list = j->next;
      job_free(j);
      post_done(st, head, tail);
      continue;
    }
    size_t n = 0;
    for (store_job *k = j; k && job_is_write(k) && n < STORE_BATCH_MAX;
         k = k->next)
      n++;
    bool ok = commit_writes(st, j, n);
    for (size_t i = 0; i < n; i++) {
      store_done *d = done_new(list);
      if (d)
        d->ok = d->result.ok = ok;
      chain_add(&head, &tail, d);
      store_job *next = list->next;
      job_free(list);
      list = next;
    }
    post_done(st, head, tail);
  }
}

static void *writer_main(void *arg)
{
  store *st = arg;

  pthread_mutex_lock(&st->mu);
  for (;;) {
    while (!st->writer_q.head && !st->stopping)
      pthread_cond_wait(&st->writer_cv, &st->mu);
    store_job *list = st->writer_q.head;
    if (!list)
      break; /* stopping with nothing left */
    st->writer_q.head = st->writer_q.tail = NULL;
    pthread_mutex_unlock(&st->mu);
    serve_jobs(st, list);
    pthread_mutex_lock(&st->mu);
  }
  pthread_mutex_unlock(&st->mu);
  return NULL;
}

/* ---- password thread ------------------------------------------------- */

/* Makes the hash verified for names that do not exist: a random
 * password, hashed with the same cost as real ones. */
static void make_dummy_hash(store *st)
{
  char pw[32];

  randombytes_buf(pw, sizeof pw);
  st->dummy_hash = malloc(crypto_pwhash_STRBYTES);
  if (st->dummy_hash &&
      crypto_pwhash_str(st->dummy_hash, pw, sizeof pw,
                        crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    free(st->dummy_hash);
    st->dummy_hash = NULL;
  }
}

/* Sets d->ok when user exists and password matches its hash. A user that
 * does not exist costs one Argon2id verification too, so the answer's
 * timing does not tell whether the name exists. */
static void check_password(store *st, sqlite3_stmt *s, const store_job *j,
                           store_done *d)
{
  char hash[crypto_pwhash_STRBYTES];
  int rc;

  bind_text(s, 1, j->user);
  rc = sqlite3_step(s);
  hash[0] = '\0';
  if (rc == SQLITE_ROW)
    copy_str(hash, sizeof hash, col_text(s, 0));
  else if (rc != SQLITE_DONE)
    d->failed = true;
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  if (d->failed) {
    plog_error(0, "store: %s", sqlite3_errmsg(st->pw_db));
    return;
  }
  if (!hash[0] && !st->dummy_hash)
    make_dummy_hash(st);
  const char *verify = hash[0] ? hash : st->dummy_hash;
  d->ok = verify &&
          crypto_pwhash_str_verify(verify, j->password,
                                   strlen(j->password)) == 0 &&
          hash[0] != '\0';
}

static void *pw_main(void *arg)
{
  store *st = arg;
  sqlite3_stmt *s = NULL;

  if (sqlite3_prepare_v2(st->pw_db, "SELECT hash FROM users WHERE name = ?1",
                         -1, &s, NULL) != SQLITE_OK)
    plog_error(0, "store: %s", sqlite3_errmsg(st->pw_db));
  pthread_mutex_lock(&st->mu);
  for (;;) {
    while (!st->pw_q.head && !st->stopping)
      pthread_cond_wait(&st->pw_cv, &st->mu);
    store_job *j = st->pw_q.head;
    if (!j || st->stopping)
      break; /* a stop abandons the queue (store_stop frees it) */
    st->pw_q.head = j->next;
    if (!st->pw_q.head)
      st->pw_q.tail = NULL;
    st->pw_queued--;
    pthread_mutex_unlock(&st->mu);

    store_done *head = NULL, *tail = NULL;
    chain_add(&head, &tail, done_new(j));
    if (s)
      check_password(st, s, j, head);
    else
      head->failed = true;
    job_free(j);
    post_done(st, head, tail);
    pthread_mutex_lock(&st->mu);
  }
  pthread_mutex_unlock(&st->mu);
  sqlite3_finalize(s);
  return NULL;
}

/* ---- threads, queueing, taking ------------------------------------- */

int store_start(store *st, void (*notify)(void *ctx), void *ctx)
{
  char err[256];

  st->notify = notify;
  st->notify_ctx = ctx;
  if (!(st->pw_db = open_db(st->path, err, sizeof err))) {
    plog_error(0, "store: %s", err);
    return -1;
  }
  if (pthread_create(&st->writer, NULL, writer_main, st) != 0)
    goto undo_db;
  if (pthread_create(&st->pw_thread, NULL, pw_main, st) != 0) {
    pthread_mutex_lock(&st->mu);
    st->stopping = true;
    pthread_cond_signal(&st->writer_cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->writer, NULL);
    goto undo_db;
  }
  st->running = true;
  return 0;

undo_db:
  sqlite3_close(st->pw_db);
  st->pw_db = NULL;
  return -1;
}

static void queue_push(job_queue *q, store_job *head, store_job *tail)
{
  if (q->tail)
    q->tail->next = head;
  else
    q->head = head;
  q->tail = tail;
}

/* Puts a chain of `count` jobs on a queue and wakes its thread. Returns
 * 0, or -1 (jobs freed) when the store is not taking jobs. */
static int enqueue(store *st, job_queue *q, pthread_cond_t *cv,
                   store_job *head, store_job *tail, size_t count)
{
  pthread_mutex_lock(&st->mu);
  if (!st->running || st->stopping) {
    pthread_mutex_unlock(&st->mu);
    jobs_free(head);
    return -1;
  }
  queue_push(q, head, tail);
  st->in_flight += count;
  pthread_cond_signal(cv);
  pthread_mutex_unlock(&st->mu);
  return 0;
}

/* Copies a core request into a new job. Returns NULL when out of memory. */
static store_job *job_from_req(const parley_store_req *r)
{
  store_job *j = calloc(1, sizeof *j);

  if (!j)
    return NULL;
  j->kind = STORE_JOB_CORE;
  j->req = *r;
  j->req.conv = NULL;
  if (r->op == PARLEY_STORE_APPEND_MSG) {
    j->body = malloc(r->msg.body_len + 1);
    if (!j->body)
      goto fail;
    if (r->msg.body_len)
      memcpy(j->body, r->msg.body, r->msg.body_len);
    j->body[r->msg.body_len] = '\0';
    j->req.msg.body = j->body;
  } else if (r->op == PARLEY_STORE_CREATE_CONV && r->conv) {
    if (!(j->conv = malloc(sizeof *j->conv)))
      goto fail;
    *j->conv = *r->conv;
    j->req.conv = j->conv;
  }
  return j;

fail:
  job_free(j);
  return NULL;
}

int store_batch_add(store_batch *b, const parley_store_req *req)
{
  store_job *j = job_from_req(req);

  if (!j)
    return -1;
  if (b->tail)
    b->tail->next = j;
  else
    b->head = j;
  b->tail = j;
  b->count++;
  return 0;
}

int store_batch_submit(store *st, store_batch *b)
{
  int rc = 0;

  if (b->head)
    rc = enqueue(st, &st->writer_q, &st->writer_cv, b->head, b->tail,
                 b->count);
  memset(b, 0, sizeof *b);
  return rc;
}

void store_batch_discard(store_batch *b)
{
  jobs_free(b->head);
  memset(b, 0, sizeof *b);
}

store_done *store_batch_run(store *st, store_batch *b)
{
  store_job *list = b->head;

  assert(!st->running); /* the writer thread would race this one */
  if (!list)
    return NULL;
  pthread_mutex_lock(&st->mu);
  st->in_flight += b->count; /* store_take_done counts them out again */
  pthread_mutex_unlock(&st->mu);
  memset(b, 0, sizeof *b);
  serve_jobs(st, list);
  return store_take_done(st);
}

int store_submit_users_exist(store *st, uint64_t tag,
                             const char *const *names, size_t count)
{
  store_job *j = calloc(1, sizeof *j);

  if (!j || !(j->names = calloc(count ? count : 1, sizeof *j->names))) {
    job_free(j);
    return -1;
  }
  j->kind = STORE_JOB_USERS_EXIST;
  j->tag = tag;
  j->name_count = count;
  for (size_t i = 0; i < count; i++)
    copy_str(j->names[i], sizeof j->names[i], names[i]);
  return enqueue(st, &st->writer_q, &st->writer_cv, j, j, 1);
}

int store_submit_call_get(store *st, uint64_t tag, const char *user,
                          const char *call_id)
{
  store_job *j = calloc(1, sizeof *j);

  if (!j)
    return -1;
  j->kind = STORE_JOB_CALL_GET;
  j->tag = tag;
  copy_str(j->user, sizeof j->user, user);
  copy_str(j->call_id, sizeof j->call_id, call_id);
  return enqueue(st, &st->writer_q, &st->writer_cv, j, j, 1);
}

int store_submit_call_list(store *st, uint64_t tag, const char *conv,
                           size_t limit)
{
  store_job *j = calloc(1, sizeof *j);

  if (!j)
    return -1;
  j->kind = STORE_JOB_CALL_LIST;
  j->tag = tag;
  copy_str(j->conv_id, sizeof j->conv_id, conv);
  j->limit = limit;
  return enqueue(st, &st->writer_q, &st->writer_cv, j, j, 1);
}

int store_submit_password(store *st, uint64_t tag, const char *user,
                          const char *password)
{
  store_job *j = calloc(1, sizeof *j);

  if (!j || !(j->password = strdup(password))) {
    job_free(j);
    return -1;
  }
  j->kind = STORE_JOB_PASSWORD;
  j->tag = tag;
  copy_str(j->user, sizeof j->user, user);
  pthread_mutex_lock(&st->mu);
  bool full = st->pw_queued >= STORE_PW_QUEUE_MAX;
  if (!full)
    st->pw_queued++;
  pthread_mutex_unlock(&st->mu);
  if (full) {
    job_free(j);
    return 1;
  }
  if (enqueue(st, &st->pw_q, &st->pw_cv, j, j, 1) == 0)
    return 0;
  pthread_mutex_lock(&st->mu);
  st->pw_queued--;
  pthread_mutex_unlock(&st->mu);
  return -1;
}

/* Unlinks the queued password job that `pick` accepts (tag, or any when
 * all), with st->mu held. Returns it, or NULL. */
static store_job *pw_unlink(store *st, uint64_t tag, bool all)
{
  store_job *prev = NULL;

  for (store_job *j = st->pw_q.head; j; prev = j, j = j->next) {
    if (!all && j->tag != tag)
      continue;
    if (prev)
      prev->next = j->next;
    else
      st->pw_q.head = j->next;
    if (st->pw_q.tail == j)
      st->pw_q.tail = prev;
    j->next = NULL;
    st->pw_queued--;
    st->in_flight--;
    return j;
  }
  return NULL;
}

bool store_cancel_password(store *st, uint64_t tag)
{
  store_job *j;

  pthread_mutex_lock(&st->mu);
  j = pw_unlink(st, tag, false);
  pthread_mutex_unlock(&st->mu);
  job_free(j); /* wipes the password */
  return j != NULL;
}

void store_drop_passwords(store *st)
{
  store_done *head = NULL, *tail = NULL;
  store_job *j;

  for (;;) {
    pthread_mutex_lock(&st->mu);
    j = pw_unlink(st, 0, true);
    if (j)
      st->in_flight++; /* its done record is still to be taken */
    pthread_mutex_unlock(&st->mu);
    if (!j)
      break;
    store_done *d = done_new(j);
    if (d)
      d->failed = d->dropped = true;
    job_free(j);
    chain_add(&head, &tail, d);
  }
  post_done(st, head, tail);
}

store_done *store_take_done(store *st)
{
  store_done *list;
  size_t n = 0;

  pthread_mutex_lock(&st->mu);
  list = st->done_head;
  st->done_head = st->done_tail = NULL;
  for (store_done *d = list; d; d = d->next)
    n++;
  st->in_flight -= n;
  pthread_mutex_unlock(&st->mu);
  return list;
}

size_t store_in_flight(store *st)
{
  size_t n;

  pthread_mutex_lock(&st->mu);
  n = st->in_flight;
  pthread_mutex_unlock(&st->mu);
  return n;
}

void store_get_stats(store *st, store_stats *out)
{
  pthread_mutex_lock(&st->mu);
  *out = st->stats;
  pthread_mutex_unlock(&st->mu);
}

void store_stop(store *st)
{
  if (!st || !st->running)
    return;
  pthread_mutex_lock(&st->mu);
  st->stopping = true;
  pthread_cond_broadcast(&st->writer_cv);
  pthread_cond_broadcast(&st->pw_cv);
  pthread_mutex_unlock(&st->mu);
  pthread_join(st->writer, NULL);
  pthread_join(st->pw_thread, NULL);
  st->running = false;
  pthread_mutex_lock(&st->mu);
  for (store_job *j; (j = pw_unlink(st, 0, true));)
    job_free(j);
  pthread_mutex_unlock(&st->mu);
}

void store_close(store *st)
{
  if (!st)
    return;
  store_stop(st);
  while (st->done_head) {
    store_done *next = st->done_head->next;
    store_done_free(st->done_head);
    st->done_head = next;
  }
  for (int i = 0; i < STMT_COUNT; i++)
    sqlite3_finalize(st->stmt[i]);
  sqlite3_close(st->db);
  sqlite3_close(st->pw_db);
  pthread_cond_destroy(&st->writer_cv);
  pthread_cond_destroy(&st->pw_cv);
  pthread_mutex_destroy(&st->mu);
  free(st->dummy_hash);
  free(st->path);
  free(st);
}
