/* The reference client's local store: one SQLite database in WAL mode
 * holding what the client core needs across restarts (the outbox, the
 * sync pos, stored messages, receipts, members) and what the commands
 * need (the device id, the cached token, send jobs, and for each output
 * how far it was shown and how long it is). Every function returns false
 * when SQLite failed; store_error says why. */
#ifndef PARLEY_CLIENT_STORE_H
#define PARLEY_CLIENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/client.h"

typedef struct store store;

/* Opens (creating when needed) the store at `path`. Returns NULL and
 * writes the reason into err on failure. */
store *store_open(const char *path, char *err, size_t err_size);
void store_close(store *s);
const char *store_error(store *s);

/* Transactions nest; only the outermost pair reaches SQLite. */
bool store_begin(store *s);
bool store_commit(store *s);
void store_rollback(store *s);
bool store_in_txn(const store *s);

/* meta: small named values. store_meta_get returns false (and leaves
 * out empty) when the key is absent or on failure. */
bool store_meta_get(store *s, const char *key, char *out, size_t out_size);
bool store_meta_set(store *s, const char *key, const char *value);
bool store_meta_del(store *s, const char *key);

/* Feeds the core what it needs at start-up: pos, stored seqs, members,
 * receipts and the outbox (in the order it was added). */
bool store_load(store *s, parley_client *c);

/* Writes asked for by the core's actions. */
bool store_outbox_add(store *s, const parley_outbox_entry *e,
                      const char *job);
/* Removes the entry; marks its job done when it was the job's last. */
bool store_outbox_remove(store *s, const char *temp_id);
bool store_msg(store *s, const parley_msg *m);
bool store_pos(store *s, const char *pos);
bool store_receipt(store *s, const parley_receipt *r);
bool store_members(store *s, const char *conv, const char *const *members,
                   size_t count);

/* Send jobs: a job is the list of messages one `send` was given. State:
 * -1 unknown, 0 still in the outbox, 1 done. */
bool store_job_state(store *s, const char *digest, int *state);
bool store_job_start(store *s, const char *digest, uint64_t now_ms);
/* Entries of the outbox still belonging to `job`. */
bool store_job_pending(store *s, const char *job, size_t *count);

/* Outputs of `listen`: `target` names one output ("-" for standard
 * output, else the file's absolute path). */
bool store_output_len(store *s, const char *target, uint64_t *len);
/* Records, in one transaction, that `conv` was shown through `seq` on
 * `target` and that the output is now `len` octets long. */
bool store_shown(store *s, const char *target, const char *conv,
                 uint64_t seq, uint64_t len);

typedef struct store_line {
  parley_msg msg; /* body owned by the list */
  char *body;
} store_line;

/* Stored messages not yet shown on `target` (of `conv` only, when not
 * NULL), in (conv, seq) order. Free with store_lines_free. */
bool store_unshown(store *s, const char *target, const char *conv,
                   store_line **out, size_t *count);
void store_lines_free(store_line *lines, size_t count);

#endif
