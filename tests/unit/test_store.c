/* Unit tests for the reference server's store (ref-server/store.c):
 * migrations, group commit, reloading after a reopen, the temp-id dedup
 * index, reads, users and keys. Each test works on its own database in a
 * fresh temporary directory. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>
#include <sqlite3.h>

#include "log.h"
#include "store.h"

static char dir[64];
static char db_path[128];

/* Completions arrive on store threads; the test thread waits for them. */
static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cv = PTHREAD_COND_INITIALIZER;
static unsigned wakeups;

static void notify(void *ctx)
{
  (void)ctx;
  pthread_mutex_lock(&wake_mu);
  wakeups++;
  pthread_cond_broadcast(&wake_cv);
  pthread_mutex_unlock(&wake_mu);
}

static void setup(void)
{
  plog_setup(PARLEY_LOG_ERROR, false);
  snprintf(dir, sizeof dir, "/tmp/parley-store-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(db_path, sizeof db_path, "%s/test.db", dir);
}

static void teardown(void)
{
  char path[160];
  const char *suffix[] = {"", "-wal", "-shm"};

  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s%s", db_path, suffix[i]);
    unlink(path);
  }
  rmdir(dir);
}

TestSuite(store, .init = setup, .fini = teardown);

static store *open_store(void)
{
  char err[256] = "";
  store *st = store_open(db_path, err, sizeof err);
  cr_assert_not_null(st, "store_open: %s", err);
  return st;
}

/* Waits until `count` jobs are done; returns them as one list in the
 * order the store finished them. */
static store_done *wait_done(store *st, size_t count)
{
  store_done *head = NULL, **tail = &head;
  size_t n = 0;

  while (n < count) {
    pthread_mutex_lock(&wake_mu);
    store_done *got = store_take_done(st);
    while (!got) {
      pthread_cond_wait(&wake_cv, &wake_mu);
      got = store_take_done(st);
    }
    pthread_mutex_unlock(&wake_mu);
    *tail = got;
    for (; *tail; tail = &(*tail)->next)
      n++;
  }
  return head;
}

static void done_list_free(store_done *d)
{
  while (d) {
    store_done *next = d->next;
    store_done_free(d);
    d = next;
  }
}

static parley_conv_info *make_conv(const char *id, const char *a,
                                   const char *b)
{
  parley_conv_info *c = calloc(1, sizeof *c);
  cr_assert_not_null(c);
  snprintf(c->id, sizeof c->id, "%s", id);
  c->kind = PARLEY_CONV_DIRECT;
  c->created_ms = 1000;
  c->member_count = 2;
  snprintf(c->members[0], sizeof c->members[0], "%s", a);
  snprintf(c->members[1], sizeof c->members[1], "%s", b);
  return c;
}

static parley_store_req conv_req(uint64_t id, const parley_conv_info *c)
{
  parley_store_req r;
  memset(&r, 0, sizeof r);
  r.id = id;
  r.op = PARLEY_STORE_CREATE_CONV;
  r.conv = c;
  return r;
}

static parley_store_req msg_req(uint64_t id, uint64_t pos, const char *conv,
                                uint64_t seq, const char *device,
                                const char *temp_id, uint64_t ts_ms)
{
  parley_store_req r;
  memset(&r, 0, sizeof r);
  r.id = id;
  r.op = PARLEY_STORE_APPEND_MSG;
  r.msg.pos = pos;
  snprintf(r.msg.conv, sizeof r.msg.conv, "%s", conv);
  r.msg.seq = seq;
  snprintf(r.msg.msg_id, sizeof r.msg.msg_id, "m%llu",
           (unsigned long long)pos);
  snprintf(r.msg.from, sizeof r.msg.from, "alice");
  snprintf(r.msg.device, sizeof r.msg.device, "%s", device);
  snprintf(r.msg.temp_id, sizeof r.msg.temp_id, "%s", temp_id);
  snprintf(r.msg.content_type, sizeof r.msg.content_type, "text/plain");
  r.msg.ts_ms = ts_ms;
  r.msg.body = "hello";
  r.msg.body_len = 5;
  return r;
}

static parley_store_req receipt_req(uint64_t id, uint64_t pos,
                                    const char *conv, const char *user,
                                    parley_receipt_kind kind, uint64_t seq)
{
  parley_store_req r;
  memset(&r, 0, sizeof r);
  r.id = id;
  r.op = PARLEY_STORE_APPEND_RECEIPT;
  r.receipt.pos = pos;
  snprintf(r.receipt.conv, sizeof r.receipt.conv, "%s", conv);
  snprintf(r.receipt.user, sizeof r.receipt.user, "%s", user);
  r.receipt.kind = kind;
  r.receipt.seq = seq;
  r.receipt.ts_ms = 5000;
  return r;
}

/* Submits reqs as one batch and waits for them; returns how many were
 * reported ok. */
static size_t run_batch(store *st, const parley_store_req *reqs, size_t n)
{
  store_batch b = {0};
  size_t ok = 0;

  for (size_t i = 0; i < n; i++)
    cr_assert_eq(store_batch_add(&b, &reqs[i]), 0);
  cr_assert_eq(store_batch_submit(st, &b), 0);
  store_done *list = wait_done(st, n), *d = list;
  for (size_t i = 0; i < n; i++, d = d->next) {
    cr_assert_eq(d->kind, STORE_JOB_CORE);
    cr_assert_eq(d->result.id, reqs[i].id, "results in submission order");
    cr_assert_eq(d->result.ok, d->ok);
    ok += d->ok;
  }
  done_list_free(list);
  return ok;
}

/* What a store_load reported. */
typedef struct loaded {
  size_t convs, receipts, sent;
  parley_conv_info conv;
  parley_receipt receipt[8];
  char sent_temp_ids[8][PARLEY_ID_MAX + 1];
  uint64_t last_pos;
} loaded;

static int on_conv(void *ctx, const parley_conv_info *c)
{
  loaded *l = ctx;
  l->conv = *c;
  l->convs++;
  return 0;
}

static int on_receipt(void *ctx, const parley_receipt *r)
{
  loaded *l = ctx;
  if (l->receipts < 8)
    l->receipt[l->receipts] = *r;
  l->receipts++;
  return 0;
}

static int on_sent(void *ctx, const parley_msg *m)
{
  loaded *l = ctx;
  cr_assert_eq(m->body_len, 5);
  cr_assert(memcmp(m->body, "hello", 5) == 0);
  if (l->sent < 8)
    snprintf(l->sent_temp_ids[l->sent], PARLEY_ID_MAX + 1, "%s",
             m->temp_id);
  l->sent++;
  return 0;
}

static void on_pos(void *ctx, uint64_t pos)
{
  ((loaded *)ctx)->last_pos = pos;
}

static void load(store *st, uint64_t since_ms, loaded *l)
{
  store_loader ld = {l, on_conv, on_receipt, on_sent, on_pos};
  memset(l, 0, sizeof *l);
  cr_assert_eq(store_load(st, &ld, since_ms), 0);
}

/* Counts the tables of the schema with an independent connection. */
static int count_tables(void)
{
  sqlite3 *db;
  sqlite3_stmt *s;
  int n = -1;

  cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master "
                                  "WHERE type = 'table'", -1, &s, NULL),
               SQLITE_OK);
  if (sqlite3_step(s) == SQLITE_ROW)
    n = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return n;
}

/* A database as version 1 of the schema left it, with user alice. */
static void make_version_1(void)
{
  sqlite3 *db;

  store_close(open_store());
  cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(db, "DROP TABLE deleted_users;"
                            "DROP TABLE calls; DROP TABLE call_events;"
                            "INSERT INTO users VALUES ('alice', 'h', 1);"
                            "PRAGMA user_version = 1;", NULL, NULL, NULL),
               SQLITE_OK);
  sqlite3_close(db);
}

/* spec: DUR-1 */
Test(store, migrates_version_1_keeping_its_rows)
{
  make_version_1();
  cr_assert_eq(count_tables(), 6);
  store *st = open_store();
  cr_assert_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
  cr_assert_eq(store_add_user(st, "alice", "hash"), 1, "alice kept");
  cr_assert_eq(store_del_user(st, "alice"), 0);
  cr_assert_eq(store_add_user(st, "alice", "hash"), 2);
  store_close(st);
  cr_assert_eq(count_tables(), 9); /* schema 3 adds calls, call_events */
}

/* spec: DUR-1 */
Test(store, migrates_an_empty_file_and_reopens_without_migrating)
{
  store *st = open_store();
  cr_assert_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
  cr_assert_eq(store_add_user(st, "alice", "hash"), 0);
  store_close(st);
  cr_assert_eq(count_tables(), 9);

  st = open_store();
  cr_assert_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
  cr_assert_eq(store_add_user(st, "alice", "hash"), 1, "user kept");
  store_close(st);
}

/* spec: DUR-1 SEND-1 */
Test(store, consecutive_appends_share_one_commit)
{
  parley_store_req reqs[101];
  char temp_id[16];
  parley_conv_info *c = make_conv("c1", "alice", "bob");
  store *st = open_store();
  store_stats stats;

  cr_assert_eq(store_start(st, notify, NULL), 0);
  reqs[0] = conv_req(1, c);
  for (int i = 1; i <= 100; i++) {
    snprintf(temp_id, sizeof temp_id, "t%d", i);
    reqs[i] = msg_req((uint64_t)i + 1, (uint64_t)i, "c1", (uint64_t)i,
                      "phone", temp_id, 1000 + (uint64_t)i);
  }
  cr_assert_eq(run_batch(st, reqs, 101), 101);
  store_get_stats(st, &stats);
  cr_assert_eq(stats.commits, 1);
  cr_assert_eq(stats.writes, 101);
  cr_assert_eq(stats.max_batch, 101);
  store_close(st);
  free(c);
}

/* store_batch_run: the same work on the calling thread, for the
 * simulator. A read after writes in one batch sees them; the results
 * come back in submission order; only what a run committed is found by
 * a reopened store, and a batch that never ran leaves nothing. */
/* spec: DUR-1 SEND-1 */
Test(store, batch_run_commits_on_the_calling_thread)
{
  parley_conv_info *c = make_conv("c1", "alice", "bob");
  parley_store_req reqs[4];
  store_batch b = {0}, never = {0};
  store *st = open_store();
  store_stats stats;
  loaded l;

  reqs[0] = conv_req(1, c);
  reqs[1] = msg_req(2, 1, "c1", 1, "phone", "t1", 1000);
  reqs[2] = msg_req(3, 2, "c1", 2, "phone", "t2", 1001);
  memset(&reqs[3], 0, sizeof reqs[3]);
  reqs[3].id = 4;
  reqs[3].op = PARLEY_STORE_READ_HISTORY;
  snprintf(reqs[3].read_history.conv, PARLEY_ID_MAX + 1, "c1");
  reqs[3].read_history.limit = 10;
  for (int i = 0; i < 4; i++)
    cr_assert_eq(store_batch_add(&b, &reqs[i]), 0);
  cr_assert_null(store_batch_run(st, &never), "an empty batch runs nothing");
  store_done *list = store_batch_run(st, &b), *d = list;
  cr_assert_eq(b.count, 0, "the batch is emptied");
  for (uint64_t id = 1; id <= 4; id++, d = d->next) {
    cr_assert_not_null(d);
    cr_assert_eq(d->result.id, id, "results in submission order");
    cr_assert(d->result.ok);
  }
  cr_assert_null(d);
  cr_assert_eq(list->next->next->next->result.event_count, 2,
               "the read sees the writes queued before it");
  done_list_free(list);
  cr_assert_eq(store_in_flight(st), 0);
  store_get_stats(st, &stats);
  cr_assert_eq(stats.commits, 1, "consecutive writes share one commit");

  reqs[0] = msg_req(5, 3, "c1", 3, "phone", "t3", 1002);
  cr_assert_eq(store_batch_add(&never, &reqs[0]), 0);
  store_batch_discard(&never); /* a crash before the commit */
  store_close(st);
  st = open_store();
  load(st, 0, &l);
  cr_assert_eq(l.sent, 2, "only the committed messages are there");
  cr_assert_eq(l.conv.last_seq, 2);
  store_close(st);
  free(c);
}

/* spec: SEND-3 SYNC-2 RCPT-1 DUR-1 */
Test(store, reload_after_reopen_gives_back_what_was_committed)
{
  parley_conv_info *c = make_conv("c1", "alice", "bob");
  parley_store_req reqs[6];
  store *st = open_store();
  loaded l;

  cr_assert_eq(store_start(st, notify, NULL), 0);
  reqs[0] = conv_req(1, c);
  reqs[1] = msg_req(2, 1, "c1", 1, "phone", "t1", 1000);
  reqs[2] = msg_req(3, 2, "c1", 2, "phone", "t2", 9000);
  reqs[3] = receipt_req(4, 3, "c1", "bob", PARLEY_RECEIPT_READ, 2);
  reqs[4] = receipt_req(5, 4, "c1", "bob", PARLEY_RECEIPT_DELIVERED, 2);
  /* A lower receipt is stored as an event but never lowers the value. */
  reqs[5] = receipt_req(6, 5, "c1", "bob", PARLEY_RECEIPT_READ, 1);
  cr_assert_eq(run_batch(st, reqs, 6), 6);
  store_close(st);

  st = open_store();
  load(st, 5000, &l);
  cr_assert_eq(l.convs, 1);
  cr_assert_str_eq(l.conv.id, "c1");
  cr_assert_eq(l.conv.kind, PARLEY_CONV_DIRECT);
  cr_assert_eq(l.conv.member_count, 2);
  cr_assert_str_eq(l.conv.members[0], "alice");
  cr_assert_str_eq(l.conv.members[1], "bob");
  cr_assert_eq(l.conv.last_seq, 2);
  cr_assert_eq(l.receipts, 2);
  for (size_t i = 0; i < 2; i++)
    cr_assert_eq(l.receipt[i].seq, 2, "kept values are not lowered");
  cr_assert_eq(l.sent, 1, "only messages inside the dedup window");
  cr_assert_str_eq(l.sent_temp_ids[0], "t2");
  cr_assert_eq(l.last_pos, 5);
  store_close(st);
  free(c);
}

#define WINDOW 10000 /* a short dedup window for the test */

/* spec: SEND-3 SEND-2 */
Test(store, dedup_index_refuses_a_second_message_for_one_temp_id)
{
  parley_conv_info *c = make_conv("c1", "alice", "bob");
  parley_store_req reqs[3];
  store *st = open_store();
  loaded l;

  store_set_dedup_window(st, WINDOW);
  cr_assert_eq(store_start(st, notify, NULL), 0);
  reqs[0] = conv_req(1, c);
  reqs[1] = msg_req(2, 1, "c1", 1, "phone", "t1", 1000);
  reqs[2] = msg_req(3, 2, "c1", 2, "laptop", "t1", 1000);
  cr_assert_eq(run_batch(st, reqs, 3), 3, "temp-ids are per device");

  /* The same device and temp-id again in the same window: the whole
   * commit fails. */
  reqs[0] = msg_req(4, 3, "c1", 3, "phone", "t9", 1000);
  reqs[1] = msg_req(5, 4, "c1", 4, "phone", "t1", 1500);
  cr_assert_eq(run_batch(st, reqs, 2), 0);
  /* A repeated seq in one conversation fails as well. */
  reqs[0] = msg_req(6, 3, "c1", 2, "phone", "t3", 1000);
  cr_assert_eq(run_batch(st, reqs, 1), 0);
  /* More than a window later the temp-id may name a new message. */
  reqs[0] = msg_req(7, 3, "c1", 3, "phone", "t1", 1000 + WINDOW + 1);
  cr_assert_eq(run_batch(st, reqs, 1), 1);
  store_close(st);

  st = open_store();
  load(st, 0, &l);
  cr_assert_eq(l.sent, 3, "nothing of the failed commits is stored");
  cr_assert_eq(l.last_pos, 3);
  store_close(st);
  free(c);
}

/* Runs one read request and returns its done record. */
static store_done *run_read(store *st, const parley_store_req *r)
{
  store_batch b = {0};

  cr_assert_eq(store_batch_add(&b, r), 0);
  cr_assert_eq(store_batch_submit(st, &b), 0);
  store_done *d = wait_done(st, 1);
  cr_assert(d->ok);
  return d;
}

/* spec: HIST-1 HIST-2 SYNC-1 */
Test(store, reads_history_pages_and_a_users_events)
{
  parley_conv_info *c1 = make_conv("c1", "alice", "bob");
  parley_conv_info *c2 = make_conv("c2", "carol", "dave");
  parley_store_req reqs[8], r;
  store *st = open_store();
  store_done *d;
  char temp_id[16];

  cr_assert_eq(store_start(st, notify, NULL), 0);
  reqs[0] = conv_req(1, c1);
  reqs[1] = conv_req(2, c2);
  for (int i = 1; i <= 5; i++) {
    snprintf(temp_id, sizeof temp_id, "t%d", i);
    reqs[i + 1] = msg_req((uint64_t)i + 2, (uint64_t)i, "c1", (uint64_t)i,
                          "phone", temp_id, 1000);
  }
  reqs[7] = msg_req(8, 6, "c2", 1, "phone", "x1", 1000);
  cr_assert_eq(run_batch(st, reqs, 8), 8);

  memset(&r, 0, sizeof r);
  r.op = PARLEY_STORE_READ_HISTORY;
  snprintf(r.read_history.conv, sizeof r.read_history.conv, "c1");
  r.read_history.limit = 2;
  d = run_read(st, &r); /* newest two, ascending */
  cr_assert_eq(d->result.event_count, 2);
  cr_assert_eq(d->result.events[0].msg.seq, 4);
  cr_assert_eq(d->result.events[1].msg.seq, 5);
  cr_assert(d->result.more);
  done_list_free(d);

  r.read_history.before_seq = 2;
  d = run_read(st, &r);
  cr_assert_eq(d->result.event_count, 1);
  cr_assert_eq(d->result.events[0].msg.seq, 1);
  cr_assert(!d->result.more);
  done_list_free(d);

  r.read_history.before_seq = 0;
  r.read_history.forward = true;
  r.read_history.after_seq = 3;
  r.read_history.limit = 5;
  d = run_read(st, &r);
  cr_assert_eq(d->result.event_count, 2);
  cr_assert_eq(d->result.events[0].msg.seq, 4);
  cr_assert(!d->result.more);
  done_list_free(d);

  memset(&r, 0, sizeof r);
  r.op = PARLEY_STORE_READ_EVENTS;
  snprintf(r.read_events.user, sizeof r.read_events.user, "bob");
  r.read_events.after_pos = 1;
  r.read_events.upto_pos = 6;
  r.read_events.limit = 3;
  d = run_read(st, &r); /* bob is not in c2: pos 6 is not his */
  cr_assert_eq(d->result.event_count, 3);
  cr_assert_eq(d->result.events[0].msg.pos, 2);
  cr_assert_eq(d->result.events[2].msg.pos, 4);
  cr_assert(d->result.more);
  done_list_free(d);
  r.read_events.after_pos = 4;
  d = run_read(st, &r);
  cr_assert_eq(d->result.event_count, 1);
  cr_assert(!d->result.more);
  done_list_free(d);

  store_close(st);
  free(c1);
  free(c2);
}

/* spec: HIST-1 SYNC-1 */
Test(store, numbers_past_int64_max_read_as_past_the_end)
{
  parley_conv_info *c1 = make_conv("c1", "alice", "bob");
  parley_store_req reqs[3], r;
  store *st = open_store();
  store_done *d;

  cr_assert_eq(store_start(st, notify, NULL), 0);
  reqs[0] = conv_req(1, c1);
  reqs[1] = msg_req(2, 1, "c1", 1, "phone", "t1", 1000);
  reqs[2] = msg_req(3, 2, "c1", 2, "phone", "t2", 1000);
  cr_assert_eq(run_batch(st, reqs, 3), 3);

  for (int i = 0; i < 3; i++) {
    uint64_t big[] = {1ull << 63, UINT64_MAX, (1ull << 63) + 5};
    memset(&r, 0, sizeof r);
    r.op = PARLEY_STORE_READ_HISTORY;
    snprintf(r.read_history.conv, sizeof r.read_history.conv, "c1");
    r.read_history.forward = true;
    r.read_history.after_seq = big[i];
    r.read_history.limit = 5;
    d = run_read(st, &r); /* after a seq past the end: nothing */
    cr_assert_eq(d->result.event_count, 0);
    cr_assert(!d->result.more);
    done_list_free(d);

    r.read_history.forward = false;
    r.read_history.before_seq = big[i];
    d = run_read(st, &r); /* before it: everything */
    cr_assert_eq(d->result.event_count, 2);
    cr_assert(!d->result.more);
    done_list_free(d);

    memset(&r, 0, sizeof r);
    r.op = PARLEY_STORE_READ_EVENTS;
    snprintf(r.read_events.user, sizeof r.read_events.user, "bob");
    r.read_events.after_pos = big[i];
    r.read_events.upto_pos = UINT64_MAX;
    r.read_events.limit = 3;
    d = run_read(st, &r);
    cr_assert_eq(d->result.event_count, 0);
    cr_assert(!d->result.more);
    done_list_free(d);
    r.read_events.after_pos = 0;
    d = run_read(st, &r);
    cr_assert_eq(d->result.event_count, 2);
    done_list_free(d);
  }
  store_close(st);
  free(c1);
}

Test(store, keys_are_created_once_and_kept)
{
  uint8_t sk[64], pk[32], ck[32], sk2[64], pk2[32], ck2[32];
  store *st = open_store();

  cr_assert_eq(store_keys(st, sk, pk, ck), 0);
  store_close(st);
  st = open_store();
  cr_assert_eq(store_keys(st, sk2, pk2, ck2), 0);
  cr_assert(memcmp(sk, sk2, 64) == 0);
  cr_assert(memcmp(pk, pk2, 32) == 0);
  cr_assert(memcmp(ck, ck2, 32) == 0);
  store_close(st);
}

Test(store, users_and_passwords)
{
  char hash[crypto_pwhash_STRBYTES];
  const char *names[] = {"alice", "bob"};
  store *st = open_store();
  store_done *d;

  cr_assert_eq(crypto_pwhash_str(hash, "pw", 2,
                                 crypto_pwhash_OPSLIMIT_MIN,
                                 crypto_pwhash_MEMLIMIT_MIN),
               0);
  cr_assert_eq(store_add_user(st, "alice", hash), 0);
  cr_assert_eq(store_add_user(st, "alice", hash), 1);
  cr_assert_eq(store_del_user(st, "nobody"), 1);
  cr_assert_eq(store_add_user(st, "dave", hash), 0);
  cr_assert_eq(store_del_user(st, "dave"), 0);
  cr_assert_eq(store_del_user(st, "dave"), 1, "deleted once");
  cr_assert_eq(store_add_user(st, "dave", hash), 2, "names never return");
  cr_assert_eq(store_start(st, notify, NULL), 0);

  cr_assert_eq(store_submit_users_exist(st, 7, names, 2), 0);
  d = wait_done(st, 1);
  cr_assert_eq(d->tag, 7);
  cr_assert(!d->ok);
  cr_assert_str_eq(d->missing, "bob");
  done_list_free(d);

  cr_assert_eq(store_submit_password(st, 8, "alice", "pw"), 0);
  cr_assert_eq(store_submit_password(st, 9, "alice", "wrong"), 0);
  cr_assert_eq(store_submit_password(st, 10, "nobody", "pw"), 0);
  d = wait_done(st, 3);
  cr_assert(d->ok && d->tag == 8);
  cr_assert(!d->next->ok && d->next->tag == 9);
  cr_assert(!d->next->next->ok && !d->next->next->failed);
  done_list_free(d);
  store_close(st);
}
