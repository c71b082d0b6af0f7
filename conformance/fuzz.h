/* parley-conform --fuzz: what the black-box fuzzer's files share.
 *
 * fuzz_gen.c knows the grammar (the verbs of spec sections 10 and 19.2,
 * the header values of section 2.9) and turns a seeded random source
 * into WebSocket messages: well-formed frames, then mutations of them.
 * fuzz.c runs sessions against a target, checks every reply against the
 * spec (the oracles), and writes and replays findings. */
#ifndef PARLEY_CONFORM_FUZZ_H
#define PARLEY_CONFORM_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tool.h"

/* ---- the random source: splitmix64, one stream per session -------- */

typedef struct fz_rng {
  uint64_t s;
} fz_rng;

/* Seeds r for stream `stream` (a session's number) of run seed `seed`:
 * the same pair always gives the same numbers. */
void fz_rng_seed(fz_rng *r, uint64_t seed, uint64_t stream);
uint64_t fz_rand(fz_rng *r);
/* A number from 0 to n - 1 (n > 0). */
size_t fz_below(fz_rng *r, size_t n);
/* True with the given chance in percent. */
bool fz_chance(fz_rng *r, unsigned percent);

/* ---- the grammar --------------------------------------------------- */

/* One verb as the spec's tables give it: `headers` is the table's cell
 * as written ("conv, temp-id; content-type": required before the
 * semicolon, optional after), so a test can hold the table against the
 * spec. */
typedef struct fz_verb {
  const char *verb;
  const char *from;     /* "client", "both" or "server" */
  const char *headers;
  char body;            /* 't' text, 's' SDP, 0 none */
} fz_verb;

extern const fz_verb fz_verbs[];
extern const size_t fz_verb_count;

/* --fuzz-grammar: prints the table, one verb a line, as
 * "VERB<TAB>from<TAB>headers". */
void fz_grammar_print(FILE *f);

/* What generation may name: the session's account and what the run
 * and the session learned from the target. Strings belong to the
 * caller and outlive the call. */
typedef struct fz_world {
  const char *user, *token, *device;
  const char *users[PC_SELFSERVE_ACCOUNTS];
  size_t user_count;
  const char *convs[2];
  size_t conv_count;
  char calls[4][72];    /* call ids the session saw in OK */
  size_t call_count;
  char peer_device[72]; /* a device a RING or JOINED named */
  bool call_bias;       /* in a call with a peer: mostly call verbs */
} fz_world;

/* How a message goes over WebSocket. */
typedef enum fz_kind {
  FZ_TEXT,      /* one text message */
  FZ_FRAGMENTS, /* one text message in `pieces` fragments */
  FZ_BINARY,    /* one binary message */
  FZ_RAW        /* octets written past the WebSocket framing */
} fz_kind;

/* One message of a session. `await_req`: after sending it, wait for the
 * reply that carries this req (the handshake and the liveness probe);
 * "" for none. */
typedef struct fz_msg {
  unsigned conn;        /* 0, or 1: the second connection of a session */
  fz_kind kind;
  unsigned pieces;
  char *data;           /* owned */
  size_t len;
  char await_req[24];
} fz_msg;

void fz_msg_free(fz_msg *m);

/* Builds a well-formed frame of `verb` with the given header lines
 * ("name", "value" pairs, NULL-ended) and body into m as one text
 * message. */
void fz_msg_frame(fz_msg *m, const char *verb, const char *body,
                  size_t body_len, ...);

/* Generates the next fuzzing message: a frame of a verb of the table
 * with values of its headers, mutated most of the time. *what gets a
 * static name of what was done ("dup-header", "number-2^64", ...). */
void fz_generate(fz_rng *r, const fz_world *w, fz_msg *out,
                 const char **what);

/* ---- fuzz.c -------------------------------------------------------- */

/* The --fuzz and --fuzz-replay modes of parley-conform: the whole
 * program from the command line on. Returns the exit code. */
int fz_main(int argc, char **argv);

/* True when argv asks for --fuzz, --fuzz-replay or --fuzz-grammar. */
bool fz_wanted(int argc, char **argv);

#endif
