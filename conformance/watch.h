/* parley-conform: helpers for cases that watch what a server relays
 * (typing, presence, authorization, abuse).
 *
 * A case that checks that a frame did NOT reach a session cannot wait
 * for it for ever. These helpers use a barrier instead of a sleep: a
 * PING with a fresh nonce on the watched session, whose PONG the server
 * sends after everything it queued for that session before handling the
 * PING. Frames that came before the PONG are collected and can then be
 * searched. Everything returned belongs to the case's context. */
#ifndef PARLEY_CONFORM_WATCH_H
#define PARLEY_CONFORM_WATCH_H

#include "pc.h"

/* True when the session's WELCOME lists capability `cap`. */
bool pcw_has_cap(const pc_conn *c, const char *cap);
/* Skips the case (spec 4.3: the capability is optional) when the
 * session's WELCOME does not list `cap`. */
void pcw_need_cap(pc_ctx *t, const pc_conn *c, const char *cap);

/* The frames received on `c` up to the PONG of a fresh PING, frames set
 * aside earlier included, in order; the PONG itself is not among them.
 * Sets *n. Fails the case when the PONG does not come. */
pc_frame **pcw_collect(pc_ctx *t, pc_conn *c, size_t *n);
/* The first of `n` frames with `verb` (NULL: any) whose header `name`
 * (NULL: no header test) equals `value`, or NULL. */
pc_frame *pcw_find(pc_frame **frames, size_t n, const char *verb,
                   const char *name, const char *value);
/* Collects as pcw_collect does and fails the case, saying `why`, when one
 * of the frames has `verb` and header `name` equal to `value`. */
void pcw_none(pc_ctx *t, pc_conn *c, const char *verb, const char *name,
              const char *value, const char *why);

/* Fails the case unless `a` and `b` are the same frame apart from `req`:
 * the same verb, the same other headers with the same values in the same
 * order, and the same body (spec SEC-1). `what` names the pair. */
void pcw_same_but_req(pc_ctx *t, const pc_frame *a, const pc_frame *b,
                      const char *what);

/* A model of the server's rate bucket (spec 17.2) on the client's side,
 * so that a case sending many frames stays under the stated rate
 * (RATE-4) and only the frames it means to be refused are refused. */
typedef struct pcw_pace {
  double tokens;
  double rate_per_ms;
  double burst;
  uint64_t at_ms;
} pcw_pace;

/* Starts a model for a session that has sent `used` messages since its
 * transport opened (a pc_session: 2, or 3 with sync). */
void pcw_pace_init(pc_ctx *t, pcw_pace *p, unsigned used);
/* Waits, when needed, until the bucket holds a token, and takes it. */
void pcw_pace_take(pcw_pace *p);

/* Runs the rest of the case while no other case of this process that
 * called it with the same `key` runs: for cases that change state every
 * session of a user shares (presence). Released when the case ends. */
void pcw_exclusive(pc_ctx *t, int key);

/* The number value of header `name` of `f` when it is present and a
 * number; sets *present. Fails the case for a malformed value. */
uint64_t pcw_hdr_opt_u64(pc_ctx *t, const pc_frame *f, const char *name,
                         bool *present);

#endif
