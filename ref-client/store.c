/* SQLite local store of the reference client.
 *
 * WAL mode with synchronous=NORMAL: a committed transaction survives the
 * process being killed at any instant (the file system keeps what was
 * written); after a power loss the store still holds a consistent prefix
 * of its transactions. Each action of the core is one transaction (or
 * part of the caller's), applied in the order the core queued them, so
 * the stored pos never gets ahead of the stored messages.
 *
 * The store holds the bearer token and the messages, so its files are
 * its user's alone: created under umask 077 (SQLite gives the -wal and
 * -shm files the database file's mode), and existing ones readable by
 * others are tightened to 0600 on open.
 *
 * Tables: meta (named values), outbox (ordered by an autoincrement key),
 * messages (conv, seq), convs (highest seq stored, members), receipts
 * (conv, user, kind), jobs (send jobs by digest), shown and outputs
 * (how far each listen output got). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "store.h"

struct store {
  sqlite3 *db;
  int depth; /* nesting of store_begin; the outermost one is real */
  char err[256];
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta ("
    "  key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS outbox ("
    "  n INTEGER PRIMARY KEY AUTOINCREMENT, temp_id TEXT NOT NULL UNIQUE,"
    "  conv TEXT NOT NULL, content_type TEXT NOT NULL, body BLOB NOT NULL,"
    "  created_ms INTEGER NOT NULL, job TEXT);"
    "CREATE TABLE IF NOT EXISTS messages ("
    "  conv TEXT NOT NULL, seq INTEGER NOT NULL, msg_id TEXT NOT NULL,"
    "  from_user TEXT NOT NULL, device TEXT NOT NULL, temp_id TEXT NOT NULL,"
    "  ts_ms INTEGER NOT NULL, content_type TEXT NOT NULL,"
    "  body BLOB NOT NULL, PRIMARY KEY (conv, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS convs ("
    "  conv TEXT PRIMARY KEY, stored_seq INTEGER NOT NULL DEFAULT 0,"
    "  members TEXT) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS receipts ("
    "  conv TEXT NOT NULL, user TEXT NOT NULL, kind INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL, PRIMARY KEY (conv, user, kind)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS jobs ("
    "  digest TEXT PRIMARY KEY, done INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS shown ("
    "  target TEXT NOT NULL, conv TEXT NOT NULL, seq INTEGER NOT NULL,"
    "  PRIMARY KEY (target, conv)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS outputs ("
    "  target TEXT PRIMARY KEY, length INTEGER NOT NULL) WITHOUT ROWID;";

static bool fail(store *s)
{
  snprintf(s->err, sizeof s->err, "%s", sqlite3_errmsg(s->db));
  return false;
}

const char *store_error(store *s)
{
  return s->err;
}

/* Takes away group and other access from the store's files that exist.
 * Returns false (with err filled) when one cannot be changed. */
static bool tighten(const char *path, char *err, size_t err_size)
{
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  char name[4200];
  struct stat sb;
  size_t i;

  for (i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
    if (stat(name, &sb) != 0 || (sb.st_mode & 077) == 0)
      continue;
    if (chmod(name, sb.st_mode & 0700) != 0) {
      snprintf(err, err_size, "%s is readable by others and cannot be"
               " made private: %s", name, strerror(errno));
      return false;
    }
  }
  return true;
}

store *store_open(const char *path, char *err, size_t err_size)
{
  store *s = calloc(1, sizeof *s);
  char *msg = NULL;
  mode_t mask;

  if (s == NULL) {
    snprintf(err, err_size, "out of memory");
    return NULL;
  }
  if (!tighten(path, err, err_size)) {
    free(s);
    return NULL;
  }
  mask = umask(077); /* files created from here on are private */
  if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
                      SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
    goto fail_db;
  sqlite3_busy_timeout(s->db, 5000);
  if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL;"
                   "PRAGMA synchronous=NORMAL;", NULL, NULL, &msg) !=
          SQLITE_OK ||
      sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK)
    goto fail_db;
  umask(mask);
  return s;

fail_db:
  umask(mask);
  snprintf(err, err_size, "%s: %s", path,
           msg ? msg : (s->db ? sqlite3_errmsg(s->db) : "cannot open"));
  sqlite3_free(msg);
  sqlite3_close(s->db);
  free(s);
  return NULL;
}

void store_close(store *s)
{
  if (s == NULL)
    return;
  sqlite3_close(s->db);
  free(s);
}

static bool exec(store *s, const char *sql)
{
  return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK || fail(s);
}

/* Transactions nest: only the outermost begin and commit reach SQLite,
 * so a write that is one transaction on its own joins the caller's when
 * there is one. A rollback undoes the whole outermost transaction. */
bool store_begin(store *s)
{
  if (s->depth++ > 0)
    return true;
  if (exec(s, "BEGIN IMMEDIATE"))
    return true;
  s->depth = 0;
  return false;
}

bool store_commit(store *s)
{
  if (s->depth == 0 || --s->depth > 0)
    return true;
  return exec(s, "COMMIT");
}

void store_rollback(store *s)
{
  if (s->depth == 0)
    return;
  s->depth = 0;
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

bool store_in_txn(const store *s)
{
  return s->depth > 0;
}

/* Prepares sql, binding the texts in `args` (NULL binds NULL) to ?1..?n.
 * Returns NULL on failure. */
static sqlite3_stmt *prep(store *s, const char *sql, int n,
                          const char *const *args)
{
  sqlite3_stmt *st = NULL;
  int i;

  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
    fail(s);
    return NULL;
  }
  for (i = 0; i < n; i++)
    sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_TRANSIENT);
  return st;
}

/* Runs a statement that returns no rows and finalizes it. */
static bool run(store *s, sqlite3_stmt *st)
{
  int rc;

  if (st == NULL)
    return false;
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE || fail(s);
}

bool store_meta_get(store *s, const char *key, char *out, size_t out_size)
{
  const char *args[] = {key};
  sqlite3_stmt *st = prep(s, "SELECT value FROM meta WHERE key = ?1", 1,
                          args);
  bool found = false;

  out[0] = '\0';
  if (st == NULL)
    return false;
  if (sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char *v = sqlite3_column_text(st, 0);
    if (v != NULL && strlen((const char *)v) < out_size) {
      strcpy(out, (const char *)v);
      found = true;
    }
  }
  sqlite3_finalize(st);
  return found;
}

bool store_meta_set(store *s, const char *key, const char *value)
{
  const char *args[] = {key, value};

  return run(s, prep(s, "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                        "ON CONFLICT (key) DO UPDATE SET value = ?2",
                     2, args));
}

bool store_meta_del(store *s, const char *key)
{
  const char *args[] = {key};

  return run(s, prep(s, "DELETE FROM meta WHERE key = ?1", 1, args));
}

/* Loads stored seqs and members. */
static bool load_convs(store *s, parley_client *c)
{
  sqlite3_stmt *st = prep(s, "SELECT conv, stored_seq, members FROM convs",
                          0, NULL);

  if (st == NULL)
    return false;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *conv = (const char *)sqlite3_column_text(st, 0);
    const char *members = (const char *)sqlite3_column_text(st, 2);
    parley_client_load_conv(c, conv, (uint64_t)sqlite3_column_int64(st, 1));
    if (members != NULL) {
      char copy[PARLEY_MEMBERS_MAX * (PARLEY_USER_MAX + 1)];
      const char *list[PARLEY_MEMBERS_MAX];
      size_t n = 0;
      char *save = NULL, *tok;
      snprintf(copy, sizeof copy, "%s", members);
      for (tok = strtok_r(copy, ",", &save);
           tok != NULL && n < PARLEY_MEMBERS_MAX;
           tok = strtok_r(NULL, ",", &save))
        list[n++] = tok;
      parley_client_set_members(c, conv, list, n);
    }
  }
  sqlite3_finalize(st);
  return true;
}

static bool load_receipts(store *s, parley_client *c)
{
  sqlite3_stmt *st = prep(s, "SELECT conv, user, kind, seq FROM receipts",
                          0, NULL);
  parley_receipt r;

  if (st == NULL)
    return false;
  while (sqlite3_step(st) == SQLITE_ROW) {
    memset(&r, 0, sizeof r);
    snprintf(r.conv, sizeof r.conv, "%s", sqlite3_column_text(st, 0));
    snprintf(r.user, sizeof r.user, "%s", sqlite3_column_text(st, 1));
    r.kind = (parley_receipt_kind)sqlite3_column_int(st, 2);
    r.seq = (uint64_t)sqlite3_column_int64(st, 3);
    parley_client_load_receipt(c, &r);
  }
  sqlite3_finalize(st);
  return true;
}

static bool load_outbox(store *s, parley_client *c)
{
  sqlite3_stmt *st = prep(s, "SELECT temp_id, conv, content_type, body,"
                             " created_ms FROM outbox ORDER BY n", 0, NULL);
  parley_outbox_entry e;
  bool ok = true;

  if (st == NULL)
    return false;
  while (ok && sqlite3_step(st) == SQLITE_ROW) {
    memset(&e, 0, sizeof e);
    snprintf(e.temp_id, sizeof e.temp_id, "%s", sqlite3_column_text(st, 0));
    snprintf(e.conv, sizeof e.conv, "%s", sqlite3_column_text(st, 1));
    snprintf(e.content_type, sizeof e.content_type, "%s",
             sqlite3_column_text(st, 2));
    e.body = sqlite3_column_blob(st, 3);
    e.body_len = (size_t)sqlite3_column_bytes(st, 3);
    e.created_ms = (uint64_t)sqlite3_column_int64(st, 4);
    ok = parley_client_load_outbox(c, &e) == PARLEY_OK;
  }
  sqlite3_finalize(st);
  if (!ok)
    snprintf(s->err, sizeof s->err, "a malformed outbox entry");
  return ok;
}

bool store_load(store *s, parley_client *c)
{
  char pos[PARLEY_POS_MAX + 1];

  if (store_meta_get(s, "pos", pos, sizeof pos) &&
      parley_client_load_pos(c, pos) != PARLEY_OK) {
    snprintf(s->err, sizeof s->err, "a malformed stored pos");
    return false;
  }
  return load_convs(s, c) && load_receipts(s, c) && load_outbox(s, c);
}

bool store_outbox_add(store *s, const parley_outbox_entry *e,
                      const char *job)
{
  const char *args[] = {e->temp_id, e->conv, e->content_type, job};
  sqlite3_stmt *st = prep(s, "INSERT OR IGNORE INTO outbox (temp_id, conv,"
                             " content_type, job, body, created_ms)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", 4, args);

  if (st == NULL)
    return false;
  sqlite3_bind_blob(st, 5, e->body_len ? e->body : "", (int)e->body_len,
                    SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 6, (sqlite3_int64)e->created_ms);
  return run(s, st);
}

bool store_outbox_remove(store *s, const char *temp_id)
{
  const char *args[] = {temp_id};

  if (!store_begin(s))
    return false;
  if (!run(s, prep(s, "UPDATE jobs SET done = 1 WHERE digest = (SELECT job"
                      " FROM outbox WHERE temp_id = ?1) AND (SELECT count(*)"
                      " FROM outbox WHERE job = jobs.digest) = 1", 1,
                   args)) ||
      !run(s, prep(s, "DELETE FROM outbox WHERE temp_id = ?1", 1, args))) {
    store_rollback(s);
    return false;
  }
  return store_commit(s);
}

bool store_msg(store *s, const parley_msg *m)
{
  const char *args[] = {m->conv, m->msg_id, m->from, m->device, m->temp_id,
                        m->content_type};
  sqlite3_stmt *st;

  if (!store_begin(s))
    return false;
  st = prep(s, "INSERT OR IGNORE INTO messages (conv, msg_id, from_user,"
               " device, temp_id, content_type, seq, ts_ms, body)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", 6, args);
  if (st != NULL) {
    sqlite3_bind_int64(st, 7, (sqlite3_int64)m->seq);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)m->ts_ms);
    sqlite3_bind_blob(st, 9, m->body_len ? m->body : "", (int)m->body_len,
                      SQLITE_TRANSIENT);
  }
  if (!run(s, st))
    goto fail_txn;
  st = prep(s, "INSERT INTO convs (conv, stored_seq) VALUES (?1, ?2)"
               " ON CONFLICT (conv) DO UPDATE SET stored_seq ="
               " max(stored_seq, ?2)", 1, args);
  if (st != NULL)
    sqlite3_bind_int64(st, 2, (sqlite3_int64)m->seq);
  if (!run(s, st))
    goto fail_txn;
  return store_commit(s);

fail_txn:
  store_rollback(s);
  return false;
}

bool store_pos(store *s, const char *pos)
{
  return store_meta_set(s, "pos", pos);
}

bool store_receipt(store *s, const parley_receipt *r)
{
  const char *args[] = {r->conv, r->user};
  sqlite3_stmt *st = prep(s, "INSERT INTO receipts (conv, user, kind, seq)"
                             " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (conv,"
                             " user, kind) DO UPDATE SET seq = max(seq, ?4)",
                          2, args);

  if (st == NULL)
    return false;
  sqlite3_bind_int(st, 3, (int)r->kind);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)r->seq);
  return run(s, st);
}

bool store_members(store *s, const char *conv, const char *const *members,
                   size_t count)
{
  char list[PARLEY_MEMBERS_MAX * (PARLEY_USER_MAX + 1)] = "";
  size_t i, n = 0;
  const char *args[2];

  for (i = 0; i < count && i < PARLEY_MEMBERS_MAX; i++)
    n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? "," : "",
                          members[i]);
  args[0] = conv;
  args[1] = list;
  return run(s, prep(s, "INSERT INTO convs (conv, members) VALUES (?1, ?2)"
                        " ON CONFLICT (conv) DO UPDATE SET members = ?2", 2,
                     args));
}

/* Reads the integer column of the one row `sql` finds for `key` into *out,
 * or `absent` when it finds none. Returns false on a database error. */
static bool one_int(store *s, const char *sql, const char *key,
                    sqlite3_int64 absent, sqlite3_int64 *out)
{
  const char *args[] = {key};
  sqlite3_stmt *st = prep(s, sql, 1, args);
  int rc;

  *out = absent;
  if (st == NULL)
    return false;
  rc = sqlite3_step(st);
  *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : absent;
  sqlite3_finalize(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE || fail(s);
}

bool store_job_state(store *s, const char *digest, int *state)
{
  sqlite3_int64 v;
  bool ok = one_int(s, "SELECT done FROM jobs WHERE digest = ?1", digest,
                    -1, &v);

  *state = (int)v;
  return ok;
}

bool store_job_start(store *s, const char *digest, uint64_t now_ms)
{
  const char *args[] = {digest};
  sqlite3_stmt *st = prep(s, "INSERT INTO jobs (digest, done, created_ms)"
                             " VALUES (?1, 0, ?2) ON CONFLICT (digest) DO"
                             " UPDATE SET done = 0, created_ms = ?2", 1,
                          args);

  if (st == NULL)
    return false;
  sqlite3_bind_int64(st, 2, (sqlite3_int64)now_ms);
  return run(s, st);
}

bool store_job_pending(store *s, const char *job, size_t *count)
{
  sqlite3_int64 v;
  bool ok = one_int(s, "SELECT count(*) FROM outbox WHERE job = ?1", job,
                    0, &v);

  *count = ok ? (size_t)v : 0;
  return ok;
}

bool store_output_len(store *s, const char *target, uint64_t *len)
{
  sqlite3_int64 v;
  bool ok = one_int(s, "SELECT length FROM outputs WHERE target = ?1",
                    target, 0, &v);

  *len = ok ? (uint64_t)v : 0;
  return ok;
}

bool store_shown(store *s, const char *target, const char *conv,
                 uint64_t seq, uint64_t len)
{
  const char *args[] = {target, conv};
  sqlite3_stmt *st;

  if (!store_begin(s))
    return false;
  st = prep(s, "INSERT INTO shown (target, conv, seq) VALUES (?1, ?2, ?3)"
               " ON CONFLICT (target, conv) DO UPDATE SET seq = ?3", 2,
            args);
  if (st != NULL)
    sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
  if (!run(s, st))
    goto fail_txn;
  st = prep(s, "INSERT INTO outputs (target, length) VALUES (?1, ?2)"
               " ON CONFLICT (target) DO UPDATE SET length = ?2", 1, args);
  if (st != NULL)
    sqlite3_bind_int64(st, 2, (sqlite3_int64)len);
  if (!run(s, st))
    goto fail_txn;
  return store_commit(s);

fail_txn:
  store_rollback(s);
  return false;
}

/* Copies the current row of the unshown query into *l. */
static bool read_line(sqlite3_stmt *st, store_line *l)
{
  size_t n = (size_t)sqlite3_column_bytes(st, 4);

  memset(l, 0, sizeof *l);
  snprintf(l->msg.conv, sizeof l->msg.conv, "%s",
           sqlite3_column_text(st, 0));
  l->msg.seq = (uint64_t)sqlite3_column_int64(st, 1);
  snprintf(l->msg.from, sizeof l->msg.from, "%s",
           sqlite3_column_text(st, 2));
  snprintf(l->msg.msg_id, sizeof l->msg.msg_id, "%s",
           sqlite3_column_text(st, 3));
  l->body = malloc(n + 1);
  if (l->body == NULL)
    return false;
  if (n > 0)
    memcpy(l->body, sqlite3_column_blob(st, 4), n);
  l->body[n] = '\0';
  l->msg.body = l->body;
  l->msg.body_len = n;
  return true;
}

bool store_unshown(store *s, const char *target, const char *conv,
                   store_line **out, size_t *count)
{
  const char *args[] = {target, conv};
  sqlite3_stmt *st = prep(s, "SELECT m.conv, m.seq, m.from_user, m.msg_id,"
                             " m.body FROM messages m LEFT JOIN shown s ON"
                             " s.target = ?1 AND s.conv = m.conv WHERE"
                             " m.seq > coalesce(s.seq, 0) AND (?2 IS NULL"
                             " OR m.conv = ?2) ORDER BY m.conv, m.seq", 2,
                          args);
  size_t cap = 0;
  bool ok = true;
  void *p;

  *out = NULL;
  *count = 0;
  if (st == NULL)
    return false;
  while (ok && sqlite3_step(st) == SQLITE_ROW) {
    if (*count == cap) {
      cap = cap ? cap * 2 : 64;
      if ((p = realloc(*out, cap * sizeof **out)) == NULL) {
        ok = false;
        break;
      }
      *out = p;
    }
    ok = read_line(st, &(*out)[*count]);
    if (ok)
      (*count)++;
  }
  sqlite3_finalize(st);
  if (!ok)
    snprintf(s->err, sizeof s->err, "out of memory");
  return ok;
}

void store_lines_free(store_line *lines, size_t count)
{
  size_t i;

  for (i = 0; i < count; i++)
    free(lines[i].body);
  free(lines);
}
