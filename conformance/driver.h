/* parley-conform client mode: the client under test as a child process
 * spoken to through the test-driver interface of spec section 18.
 *
 * pd_start runs the run's --exec command with /bin/sh -c in a process
 * group of its own, its standard input, output and error on pipes. Each
 * command written and each line read goes into the case's wire log
 * (connection "driver", or the label pd_start is given; the client's
 * standard error as "stderr" notes).
 * Lines are read only when the owner calls pd_read, typically after a
 * poll on the fds pd_fds gives, so the owner's wait loop serves the
 * client's WebSocket connections and its events together. A line that
 * is not a JSON object with a string `event` fails the case (DRV-1), and
 * so does a first line that is not `driver` with version 1 (DRV-3).
 *
 * The handle belongs to the case context: when the case ends, however it
 * ends, the client's standard input is closed, and the process group is
 * killed when it has not exited at once, then reaped. */
#ifndef PARLEY_CONFORM_DRIVER_H
#define PARLEY_CONFORM_DRIVER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "pc.h"

typedef struct pd pd;

/* One event line as read. */
typedef struct pd_event {
  json_t *js;          /* the object; the handle keeps it */
  const char *event;   /* its `event` member */
  uint64_t mono_ms;    /* when it was read (pw_mono_ms) */
} pd_event;

/* Starts the run's --exec command; `label` names it in the wire log
 * (NULL: "driver"). Fails the case when it cannot. */
pd *pd_start(pc_ctx *t, const char *label);

/* Writes one command line, built by json_pack from `fmt` (the object's
 * format, "{s:s, ...}"). Fails the case when the format does not pack
 * or the client no longer reads. */
void pd_cmd(pd *d, const char *fmt, ...);

/* Fills out[0..2) with the descriptors worth polling (POLLIN) and
 * returns how many. */
size_t pd_fds(const pd *d, struct pollfd *out);
/* Reads whatever the client has written so far, without waiting. */
void pd_read(pd *d);
/* True once the client closed its standard output (it is ending). */
bool pd_eof(const pd *d);
/* Waits for the process to end (after pd_eof) for up to timeout_ms.
 * Returns true with *status as waitpid gives it, or false. */
bool pd_reap(pd *d, unsigned timeout_ms, int *status);
/* Fails the case because the client ended (closed its standard output,
 * or no longer reads its input) while the case waited for `what`: the
 * message gives its exit status, once it has one within a moment, and
 * the end of its standard error. */
PC_NORETURN void pd_fail_ended(pd *d, const char *what);

/* The check before a client-mode run: starts `cmd` as pd_start does and
 * waits up to wait_ms for its first line. Returns 0 when a line came
 * (whatever it holds: the cases judge it), or -1 with why in err: the
 * command exited first (its status and the end of its standard error)
 * or stayed silent. Ends the process either way. */
int pd_probe(const char *cmd, unsigned wait_ms, char *err, size_t errlen);

/* The events read so far, in order. */
size_t pd_count(const pd *d);
const pd_event *pd_get(const pd *d, size_t i);

/* Members of an event: NULL or 0 when absent or of another type. */
const char *pd_str(const pd_event *e, const char *name);
uint64_t pd_u64(const pd_event *e, const char *name);

/* The first event named `event` at or after index `from` whose string
 * member `name` equals `value` (name NULL: any), or NULL. *at gets its
 * index when at is not NULL. */
const pd_event *pd_find(const pd *d, size_t from, const char *event,
                        const char *name, const char *value, size_t *at);
/* How many `message` events show `conv` and `seq`. */
size_t pd_shown(const pd *d, const char *conv, uint64_t seq);
/* How many `message` events carry `body`. */
size_t pd_shown_body(const pd *d, const char *body);

#endif
