/* parley-conform --fuzz: a black-box fuzzing client for any Parley/1
 * server, and --fuzz-replay, which sends a finding again.
 *
 * A run is a sequence of sessions, each on its own WebSocket connection
 * and each drawn from its own random stream (the run's seed and the
 * session's number), so a seed gives the same frames again, up to the
 * values the target hands out (tokens, conversation and call ids). A
 * session starts in OPEN, in NEGOTIATED (after HELLO) or, most of the
 * time, in READY (after AUTH), then sends batches of generated frames
 * (fuzz_gen.c), each batch followed by a PING that the server must
 * answer within the hang bound (the liveness probe). One session in
 * five is a call pair: a second connection joins a call the first
 * makes, so that the first's OFFER, ANSWER and CANDIDATE frames reach
 * the target's SDP and candidate checks.
 *
 * The oracles, applied to every reply: it is one frame that libparley's
 * parser takes, in a text message; an ERROR carries code, reason and
 * fatal, with a code and reason of the registry (section 13) that
 * belong together and `fatal` as the registry says; after `fatal: yes`
 * the server sends nothing more and closes (ERR-4); a PONG echoes the
 * probe's nonce; a relayed SDP body or candidate is one that
 * libparley's parsers take (CALL-19). After each session a new connection must still get a
 * WELCOME: a refused or reset connection is a crash, no answer a hang.
 * For a server this run started, its exit status and sanitizer reports
 * on its stderr count too.
 *
 * A finding is saved as a text file holding the exact messages of the
 * session (the one before too, for a crash), in hex, with the tokens
 * and conversation ids named so that a replay against a new server
 * can put that server's values in their place. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "parley/frame.h"
#include "parley/sdp.h"
#include "wire.h"

/* ---- kinds of finding ---------------------------------------------- */

#define FZ_KINDS(X)                                                       \
  X(CRASH, "crash", "the server went away: connection refused or reset, " \
                    "or its process ended")                                 \
  X(HANG, "hang", "no answer within the hang bound")                      \
  X(SANITIZER, "sanitizer", "a sanitizer report on the server's stderr")  \
  X(UNPARSABLE, "unparsable-reply", "a reply that is not one frame")      \
  X(BINARY, "binary-reply", "a binary WebSocket message from the server") \
  X(WEBSOCKET, "websocket", "the server broke RFC 6455")                  \
  X(ERROR_FIELDS, "error-fields", "an ERROR without code, reason or "     \
                                  "fatal, or with a malformed one")        \
  X(ERROR_CODE, "error-code", "an ERROR code not in the registry, or "    \
                              "with another code's reason")                \
  X(ERROR_FATAL, "error-fatal", "fatal not as the registry says")         \
  X(AFTER_FATAL, "frame-after-fatal", "a frame after fatal: yes")         \
  X(NO_CLOSE, "no-close-after-fatal", "the session stayed open after "    \
                                      "fatal: yes")                        \
  X(PONG, "pong-nonce", "a PONG without the probe's nonce")            \
  X(RELAYED_BAD, "relayed-malformed", "a relayed SDP body or candidate "  \
                                      "that libparley's parser refuses "  \
                                      "(CALL-19)")                        \
  X(NO_REQ, "no-req", "the answer to the frame awaited came without "    \
                      "its req")

typedef enum fz_kind_id {
#define FZ_KIND_ENUM_(id, name, what) FK_##id,
  FZ_KINDS(FZ_KIND_ENUM_)
#undef FZ_KIND_ENUM_
  FK_COUNT
} fz_kind_id;

static const char *const kind_names[] = {
#define FZ_KIND_NAME_(id, name, what) name,
  FZ_KINDS(FZ_KIND_NAME_)
#undef FZ_KIND_NAME_
};

/* ---- the run ------------------------------------------------------- */

typedef struct fz_opts {
  const char *target, *accounts_file, *out_dir, *replay_file, *server_bin;
  const char **server_args;
  size_t server_arg_count;
  uint64_t seed, iterations;
  unsigned time_s, hang_ms;
  bool grammar, insecure, fail_fast;
  int verbosity;
} fz_opts;

/* The messages of one session, in the order sent. */
typedef struct fz_log {
  fz_msg *v;
  size_t n, cap;
} fz_log;

#define KEYS_MAX 128
/* Conversations of accounts 2 and 3 that pair sessions call in, in
 * turn, so that a call left to its grace period blocks few of them. */
#define PAIR_CONVS 4
#define FILES_MAX 50

typedef struct fz {
  fz_opts o;
  const char *argv0;
  pc_run run;
  pc_selfserve *server;
  char *convs[2 + PAIR_CONVS]; /* two for any session, then those of
                                  the calls of pair sessions */
  size_t conv_count;
  uint64_t frames, sessions, replies, started_ms;
  uint64_t by_kind[FK_COUNT];
  char *keys[KEYS_MAX];        /* kind and detail of findings saved */
  size_t key_count;
  unsigned files;
  fz_log prev, cur;            /* the last two sessions */
  uint64_t session_no;
  long errlog_off;             /* how much of the server's stderr is read */
  bool target_gone;            /* a crash or hang of the whole server */
  bool replaying;              /* --fuzz-replay: print, save nothing */
  char pair_call[72];          /* the call of this pair session, or "" */
  char replay_call[72];        /* --fuzz-replay: that call's id now */
  char reply_kind[64][40];     /* replies by verb (ERROR by reason), for
                                  -v */
  uint64_t reply_count[64];
  size_t reply_kinds;
} fz;

/* One session as it runs. */
typedef struct fz_session {
  fz *F;
  pw_conn *c;
  unsigned conn_no;            /* 0, or 1 for the peer of a call */
  fz_world w;
  bool closed, fatal_seen;
  char probe_nonce[24];
  char probe_verb[24];
  char answer_call[72];        /* `call` of the awaited reply, or "" */
  const char *answer_verb;     /* the verb that answers the awaited
                                  frame: PONG for PING, ... */
  unsigned stray_answers;      /* replies of that verb without its req */
  unsigned stray_errors;       /* ERRORs without a req meanwhile */
} fz_session;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
  (void)sig;
  g_stop = 1;
  pw_cancel_all();
}

/* ---- findings ------------------------------------------------------ */

static void log_push(fz_log *l, const fz_msg *m)
{
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 32;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
    if (!l->v)
      abort();
  }
  l->v[l->n] = *m;
  l->v[l->n].data = malloc(m->len + 1);
  if (!l->v[l->n].data)
    abort();
  memcpy(l->v[l->n].data, m->data, m->len);
  l->n++;
}

static void log_clear(fz_log *l)
{
  for (size_t i = 0; i < l->n; i++)
    fz_msg_free(&l->v[i]);
  l->n = 0;
}

static const char *const msg_kinds[] = {"text", "fragments", "binary",
                                        "raw"};

/* Writes one session's messages: "session", then one line each. */
static void write_session(FILE *f, const fz_log *l)
{
  fputs("session\n", f);
  for (size_t i = 0; i < l->n; i++) {
    const fz_msg *m = &l->v[i];
    fprintf(f, "msg %u %s %u %s ", m->conn, msg_kinds[m->kind], m->pieces,
            m->await_req[0] ? m->await_req : "-");
    for (size_t k = 0; k < m->len; k++)
      fprintf(f, "%02x", (unsigned char)m->data[k]);
    fputc('\n', f);
  }
}

/* Whether this kind and detail was saved before; remembers it. */
static bool seen_before(fz *F, const char *key)
{
  for (size_t i = 0; i < F->key_count; i++)
    if (strcmp(F->keys[i], key) == 0)
      return true;
  if (F->key_count < KEYS_MAX)
    F->keys[F->key_count++] = strdup(key);
  return false;
}

/* Writes the finding file. Returns 0 or -1 after printing. */
static int save_finding(fz *F, fz_kind_id k, const char *detail,
                        char *path, size_t size)
{
  FILE *f;

  if (mkdir(F->o.out_dir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "parley-conform: --out %s: %s\n", F->o.out_dir,
            strerror(errno));
    return -1;
  }
  snprintf(path, size, "%s/finding-%u-%s.txt", F->o.out_dir, ++F->files,
           kind_names[k]);
  if (!(f = fopen(path, "w")))
    return -1;
  fprintf(f, "# parley-conform fuzz finding\n# kind: %s\n# detail: ",
          kind_names[k]);
  for (const char *p = detail; *p; p++)
    fputc(*p == '\n' || *p == '\r' ? ' ' : *p, f);
  fprintf(f, "\n# target: %s\n# seed: %llu, session: %llu\n"
          "# replay: parley-conform --fuzz-replay FILE [ws://... "
          "--accounts FILE]\n", F->run.url,
          (unsigned long long)F->o.seed, (unsigned long long)F->session_no);
  for (size_t i = 0; i < F->run.account_count; i++)
    if (F->run.accounts[i].token)
      fprintf(f, "subst token-%zu %s\n", i, F->run.accounts[i].token);
  for (size_t i = 0; i < F->conv_count; i++)
    fprintf(f, "subst conv-%zu %s\n", i, F->convs[i]);
  if (F->pair_call[0])
    fprintf(f, "subst call-0 %s\n", F->pair_call);
  if (k == FK_CRASH || k == FK_SANITIZER)
    if (F->prev.n)
      write_session(f, &F->prev);
  write_session(f, &F->cur);
  return fclose(f) == 0 ? 0 : -1;
}

/* Counts a finding, prints it and, the first time its kind and detail
 * are seen, saves the session's messages. */
static void finding(fz *F, fz_kind_id k, const char *fmt, ...)
{
  char detail[512], key[600], path[4096] = "";
  va_list ap;

  if (g_stop)
    return; /* ^C ends every wait: nothing the target did */
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  F->by_kind[k]++;
  snprintf(key, sizeof key, "%s %.80s", kind_names[k], detail);
  if (seen_before(F, key))
    return;
  if (F->replaying || F->files >= FILES_MAX) {
    fprintf(stderr, "FINDING %s: %s\n", kind_names[k], detail);
    return;
  }
  if (save_finding(F, k, detail, path, sizeof path) != 0)
    path[0] = '\0';
  fprintf(stderr, "FINDING %s: %s%s%s\n", kind_names[k], detail,
          path[0] ? "\n  saved: " : "", path);
}

/* ---- the oracles --------------------------------------------------- */

/* The value of header `name` as a NUL-terminated copy in out, or NULL. */
static const char *hdr(const parley_frame *f, const char *name, char *out,
                       size_t size)
{
  const parley_str *v = parley_frame_get(f, name);

  if (!v)
    return NULL;
  snprintf(out, size, "%.*s", (int)v->len, v->ptr);
  return out;
}

/* Checks an ERROR against the registry (ERR-1, ERR-2, section 13). */
static void check_error(fz_session *S, const parley_frame *f)
{
  char code[32], reason[64], fatal[16];
  parley_err want;
  unsigned long n;

  if (!hdr(f, "code", code, sizeof code) ||
      !hdr(f, "reason", reason, sizeof reason) ||
      !hdr(f, "fatal", fatal, sizeof fatal)) {
    finding(S->F, FK_ERROR_FIELDS, "ERROR without %s",
            !parley_frame_get(f, "code") ? "code"
            : !parley_frame_get(f, "reason") ? "reason" : "fatal");
    return;
  }
  if (strlen(code) != 3 || strspn(code, "0123456789") != 3 ||
      (strcmp(fatal, "yes") != 0 && strcmp(fatal, "no") != 0)) {
    finding(S->F, FK_ERROR_FIELDS, "ERROR with code '%s', fatal '%s'",
            code, fatal);
    return;
  }
  S->fatal_seen |= strcmp(fatal, "yes") == 0;
  n = strtoul(code, NULL, 10);
  if (n >= 900)
    return; /* private use (ERR-1) */
  want = parley_err_from_reason(reason);
  if (!parley_err_reason((parley_err)n) || want != (parley_err)n)
    finding(S->F, FK_ERROR_CODE, "ERROR code %s with reason %s (the "
            "registry: %s)", code, reason,
            parley_err_reason((parley_err)n) ? parley_err_reason(
                (parley_err)n) : "no such code");
  else if (parley_err_fatal(want) != (strcmp(fatal, "yes") == 0))
    finding(S->F, FK_ERROR_FATAL, "ERROR %s %s with fatal: %s", code,
            reason, fatal);
}

/* Takes what a reply teaches: a call id, a peer's device. */
static void learn(fz_session *S, const parley_frame *f)
{
  char v[72];
  fz_world *w = &S->w;

  if ((parley_str_eq(f->verb, "OK") || parley_str_eq(f->verb, "RING")) &&
      hdr(f, "call", v, sizeof v) && w->call_count < PC_COUNT(w->calls))
    snprintf(w->calls[w->call_count++], sizeof w->calls[0], "%s", v);
  if ((parley_str_eq(f->verb, "RING") || parley_str_eq(f->verb, "JOINED")) &&
      hdr(f, "device", v, sizeof v))
    snprintf(w->peer_device, sizeof w->peer_device, "%s", v);
}

/* CALL-19: a relayed OFFER or ANSWER holds an SDP body of the profile
 * and a relayed CANDIDATE a candidate-attribute, since the server
 * refuses malformed ones; held against libparley's parsers. A relayed
 * frame is one that carries `from`. */
static void check_relayed(fz_session *S, const parley_frame *f)
{
  const parley_str *cand = parley_frame_get(f, "candidate");
  parley_sdp_error se = {0};
  parley_err e = PARLEY_OK;
  parley_candidate c;
  parley_sdp *sdp;

  if (!parley_frame_get(f, "from"))
    return;
  if (parley_str_eq(f->verb, "CANDIDATE") && cand) {
    e = parley_candidate_parse(cand->ptr, cand->len, &c, &se);
  } else if (parley_str_eq(f->verb, "OFFER") ||
             parley_str_eq(f->verb, "ANSWER")) {
    if (!(sdp = malloc(sizeof *sdp)))
      abort();
    e = parley_sdp_parse(f->body.ptr, f->body.len, sdp, &se);
    free(sdp);
  }
  if (e != PARLEY_OK)
    finding(S->F, FK_RELAYED_BAD, "a relayed %.*s that libparley refuses "
            "(%s)", (int)f->verb.len, f->verb.ptr, parley_err_reason(e));
}

/* Counts a reply under its verb, or "ERROR reason". */
static void tally(fz *F, const parley_frame *f)
{
  char name[40], reason[24];
  size_t i;

  if (parley_str_eq(f->verb, "ERROR") && hdr(f, "reason", reason,
                                             sizeof reason))
    snprintf(name, sizeof name, "ERROR %s", reason);
  else
    snprintf(name, sizeof name, "%.*s", (int)f->verb.len, f->verb.ptr);
  for (i = 0; i < F->reply_kinds && strcmp(F->reply_kind[i], name); i++)
    ;
  if (i == F->reply_kinds && i < PC_COUNT(F->reply_kind))
    memcpy(F->reply_kind[F->reply_kinds++], name, sizeof name);
  if (i < PC_COUNT(F->reply_kind))
    F->reply_count[i]++;
}

/* Applies the oracles to one text message. Returns true when it
 * carries `await` as its req. */
static bool check_reply(fz_session *S, const char *data, size_t len,
                        const char *await)
{
  parley_parser p;
  parley_frame f;
  parley_parse_error pe;
  parley_err e;
  char req[72], nonce[80];
  bool match = false;

  S->F->replies++;
  parley_parser_init(&p, NULL);
  if ((e = parley_parse_message(&p, data, len, &f, &pe)) != PARLEY_OK) {
    finding(S->F, FK_UNPARSABLE, "%s at octet %zu (%s)",
            parley_err_reason(e) ? parley_err_reason(e) : "?", pe.offset,
            pe.rule ? pe.rule : "");
    parley_parser_free(&p);
    return false;
  }
  if (S->fatal_seen)
    finding(S->F, FK_AFTER_FATAL, "%.*s after an ERROR with fatal: yes",
            (int)f.verb.len, f.verb.ptr);
  if (parley_str_eq(f.verb, "ERROR"))
    check_error(S, &f);
  tally(S->F, &f);
  check_relayed(S, &f);
  learn(S, &f);
  match = await && hdr(&f, "req", req, sizeof req) && !strcmp(req, await);
  if (await && !match && S->answer_verb &&
      parley_str_eq(f.verb, S->answer_verb))
    S->stray_answers++;
  if (await && parley_str_eq(f.verb, "ERROR") && !parley_frame_get(&f, "req"))
    S->stray_errors++;
  if (match && !hdr(&f, "call", S->answer_call, sizeof S->answer_call))
    S->answer_call[0] = '\0';
  if (match && parley_str_eq(f.verb, "PONG") &&
      strcmp(S->probe_verb, "PING") == 0 && S->probe_nonce[0] &&
      (!hdr(&f, "nonce", nonce, sizeof nonce) ||
       strcmp(nonce, S->probe_nonce) != 0))
    finding(S->F, FK_PONG, "PONG without the nonce of the PING");
  parley_parser_free(&p);
  return match;
}

/* Reads replies until one carries `await` (1), the connection ends
 * (-1) or timeout_ms passes (0); 0 ms reads only what has come. */
static int read_replies(fz_session *S, const char *await,
                        unsigned timeout_ms)
{
  uint64_t end = pw_mono_ms() + timeout_ms;
  char err[256];
  pw_ws_msg m;

  while (!S->closed) {
    uint64_t now = pw_mono_ms();
    unsigned left = now < end ? (unsigned)(end - now) : 0;
    pw_status st = pw_ws_read(S->c, left, &m, err, sizeof err);
    bool hit = false;

    if (st == PW_TIMEOUT)
      return 0;
    if (st == PW_PROTOCOL || st == PW_TOO_BIG)
      finding(S->F, FK_WEBSOCKET, "%s", err);
    if (st != PW_OK) {
      S->closed = true;
      break;
    }
    if (m.opcode == PW_OP_TEXT)
      hit = check_reply(S, (const char *)m.data, m.len, await);
    else if (m.opcode == PW_OP_BINARY)
      finding(S->F, FK_BINARY, "a binary message of %zu octets", m.len);
    else if (m.opcode == PW_OP_CLOSE)
      S->closed = true;
    pw_ws_msg_free(&m);
    if (hit)
      return 1;
  }
  return -1;
}

/* After `fatal: yes`: the server must close, sending nothing more. */
static void expect_close(fz_session *S)
{
  if (read_replies(S, NULL, S->F->o.hang_ms) == 0)
    finding(S->F, FK_NO_CLOSE, "the connection stayed open %u ms after "
            "an ERROR with fatal: yes", S->F->o.hang_ms);
  S->closed = true;
}

/* ---- sending ------------------------------------------------------- */

/* The verb of a message, for messages about it ("?" when none). */
static void verb_of(const fz_msg *m, char *out, size_t size)
{
  size_t n = 0;

  while (n < m->len && n + 1 < size && m->data[n] >= 'A' &&
         m->data[n] <= 'Z')
    n++;
  while (n < m->len && n + 1 < size &&
         (m->data[n] == '-' || (m->data[n] >= 'A' && m->data[n] <= 'Z')))
    n++;
  memcpy(out, m->data, n);
  out[n] = '\0';
}

/* The verb that answers an accepted frame of `verb` (section 10). */
static const char *answer_verb_of(const char *verb)
{
  return !strcmp(verb, "PING") ? "PONG"
         : !strcmp(verb, "HELLO") ? "WELCOME"
         : !strcmp(verb, "AUTH") ? "READY" : "OK";
}

/* The nonce header of a message, or "". */
static void nonce_of(const fz_msg *m, char *out, size_t size)
{
  const char *p = m->kind == FZ_RAW ? NULL
                  : memmem(m->data, m->len, "\r\nnonce: ", 9);
  size_t n = 0;

  if (p) {
    p += 9;
    while (p + n < m->data + m->len && p[n] != '\r' && n + 1 < size)
      n++;
    memcpy(out, p, n);
  }
  out[n] = '\0';
}

/* Sends m (recording it), then waits for its awaited reply or takes the
 * replies that have come; a fatal ERROR must be followed by a close.
 * Returns false when the session is over. */
static bool step(fz_session *S, const fz_msg *m)
{
  fz *F = S->F;
  pw_status st;
  int got;

  log_push(&F->cur, m);
  F->cur.v[F->cur.n - 1].conn = S->conn_no;
  F->frames++;
  verb_of(m, S->probe_verb, sizeof S->probe_verb);
  nonce_of(m, S->probe_nonce, sizeof S->probe_nonce);
  if (m->kind == FZ_RAW)
    st = pw_write(S->c, m->data, m->len, F->o.hang_ms);
  else
    st = pw_ws_write_message(S->c, m->kind == FZ_BINARY ? PW_OP_BINARY
                                                        : PW_OP_TEXT,
                             m->data, m->len,
                             m->kind == FZ_FRAGMENTS ? m->pieces : 1,
                             F->o.hang_ms);
  if (st != PW_OK) {
    read_replies(S, NULL, 0);
    S->closed = true;
  }
  if (!S->closed && m->await_req[0]) {
    S->answer_verb = answer_verb_of(S->probe_verb);
    S->stray_answers = S->stray_errors = 0;
    got = read_replies(S, m->await_req, F->o.hang_ms);
    if (got == 0 && S->stray_answers)
      finding(F, FK_NO_REQ, "%s answered with %s without its req %s",
              S->probe_verb, S->answer_verb, m->await_req);
    else if (got == 0)
      finding(F, FK_HANG, "no answer to %s (req %s) within %u ms%s",
              S->probe_verb, m->await_req, F->o.hang_ms,
              S->stray_errors ? "; an ERROR without req came meanwhile"
                              : "");
  } else if (!S->closed) {
    read_replies(S, NULL, 0);
  }
  if (S->fatal_seen && !S->closed)
    expect_close(S);
  if (m->kind == FZ_RAW)
    S->closed = true; /* past the framing: the connection is done */
  return !S->closed;
}

/* Opens a WebSocket connection to the target. NULL with err filled. */
static pw_conn *ws_open(fz *F, char *err, size_t errlen, pw_status *why)
{
  pw_ws_client_opts wo = {.host = F->run.host, .port = F->run.port,
                          .path = F->run.config.ws_path,
                          .subprotocol = F->run.config.subprotocol};
  pw_ws_handshake h = {0};
  pw_conn *c = pw_connect(F->run.host, F->run.port, F->run.tls,
                          F->run.tls_insecure, F->o.hang_ms, err, errlen);

  *why = PW_CLOSED;
  if (!c)
    return NULL;
  *why = pw_ws_client_handshake(c, &wo, F->o.hang_ms, &h, err, errlen);
  pw_ws_handshake_free(&h);
  if (*why != PW_OK) {
    pw_free(c);
    return NULL;
  }
  return c;
}

/* ---- liveness of the whole server ---------------------------------- */

/* New octets of the server's stderr that a sanitizer wrote: a finding.
 * Only for a server this run started. */
static void scan_errlog(fz *F)
{
  const char *path = F->server ? pc_selfserve_errlog(F->server) : NULL;
  FILE *f = path ? fopen(path, "r") : NULL;
  char line[1024];

  if (!f)
    return;
  fseek(f, F->errlog_off, SEEK_SET);
  while (fgets(line, sizeof line, f))
    if (strstr(line, "Sanitizer") || strstr(line, "runtime error:")) {
      line[strcspn(line, "\n")] = '\0';
      finding(F, FK_SANITIZER, "%s", line);
    }
  F->errlog_off = ftell(f);
  fclose(f);
}

/* Whether the server still takes a connection and answers HELLO; a
 * finding and target_gone when not. */
static bool target_alive(fz *F)
{
  char err[256] = "";
  pw_status why;
  fz_session S = {.F = F};
  fz_msg hello;
  int got = -1;

  scan_errlog(F);
  if (F->server && !pc_selfserve_alive(F->server)) {
    finding(F, FK_CRASH, "the server process ended (%s)",
            pc_selfserve_exit_text(F->server, err, sizeof err));
    return !(F->target_gone = true);
  }
  if (!(S.c = ws_open(F, err, sizeof err, &why))) {
    if (why == PW_REFUSED)
      return true; /* an answer, if not an upgrade: alive */
    finding(F, why == PW_TIMEOUT ? FK_HANG : FK_CRASH, "a new connection "
            "failed: %s", err);
    return !(F->target_gone = true);
  }
  fz_msg_frame(&hello, "HELLO", NULL, 0, "versions", "1", "caps", "",
               "heartbeat", "60000", "req", "fz-alive", NULL);
  if (pw_ws_write_message(S.c, PW_OP_TEXT, hello.data, hello.len, 1,
                          F->o.hang_ms) == PW_OK)
    got = read_replies(&S, "fz-alive", F->o.hang_ms);
  fz_msg_free(&hello);
  pw_free(S.c);
  if (got != 1)
    finding(F, got == 0 ? FK_HANG : FK_CRASH, "a new connection got %s "
            "to HELLO", got == 0 ? "no answer" : "a close");
  return got == 1 || !(F->target_gone = true);
}

/* ---- a fuzzing session --------------------------------------------- */

/* A message that awaits its reply. */
static void awaiting(fz_msg *m, const char *req)
{
  snprintf(m->await_req, sizeof m->await_req, "%s", req);
}

/* Sends m through step() and frees it. */
static bool step_free(fz_session *S, fz_msg *m)
{
  bool go_on = step(S, m);

  fz_msg_free(m);
  return go_on && !g_stop;
}

/* The handshake a session starts with: none (OPEN), HELLO (NEGOTIATED)
 * or HELLO and AUTH (READY). Returns false when the session is over. */
static bool handshake(fz_session *S, unsigned mode, size_t account)
{
  fz_msg m;

  if (mode < 12)
    return true;
  fz_msg_frame(&m, "HELLO", NULL, 0, "versions", "1", "caps",
               "receipts,typing,presence,calls", "heartbeat", "60000",
               "req", "fz-hello", NULL);
  awaiting(&m, "fz-hello");
  if (!step_free(S, &m) || mode < 22)
    return !S->closed;
  fz_msg_frame(&m, "AUTH", NULL, 0, "token",
               S->F->run.accounts[account].token, "device", S->w.device,
               "req", "fz-auth", NULL);
  awaiting(&m, "fz-auth");
  return step_free(S, &m);
}

/* One batch: up to six generated messages, then the liveness probe. */
static bool batch(fz_session *S, fz_rng *r, unsigned no)
{
  size_t n = 1 + fz_below(r, 6);
  const char *what;
  char req[24], nonce[24];
  fz_msg m;

  for (size_t i = 0; i < n; i++) {
    fz_generate(r, &S->w, &m, &what);
    if (S->F->o.verbosity > 1)
      fprintf(stderr, "  session %llu: %s, %zu octets\n",
              (unsigned long long)S->F->session_no, what, m.len);
    if (!step_free(S, &m))
      return false;
  }
  snprintf(req, sizeof req, "fz-probe-%u", no);
  snprintf(nonce, sizeof nonce, "n%llu-%u",
           (unsigned long long)S->F->session_no, no);
  fz_msg_frame(&m, "PING", NULL, 0, "nonce", nonce, "req", req, NULL);
  awaiting(&m, req);
  return step_free(S, &m);
}

/* Fills the world of a session of `account` with device `device`. */
static void world_init(fz *F, fz_session *S, size_t account,
                       const char *device)
{
  S->w.user = F->run.accounts[account].user;
  S->w.token = F->run.accounts[account].token;
  S->w.device = device;
  for (size_t i = 0; i < F->run.account_count && i < PC_COUNT(S->w.users);
       i++)
    S->w.users[S->w.user_count++] = F->run.accounts[i].user;
  for (size_t i = 0; i < F->conv_count && i < PC_COUNT(S->w.convs); i++)
    S->w.convs[S->w.conv_count++] = F->convs[i];
}

/* A call of two sessions in a pair conversation (accounts 2 and 3),
 * convs[2 + no % PAIR_CONVS]: S calls, P
 * joins, and from then on S's frames lean on the call verbs with `to`
 * and `to-device` naming P, so that the target's checks of SDP bodies
 * and candidates (section 19.5, step 7) are reached. Returns false when
 * the call could not be set up. */
static bool call_pair(fz_session *S, fz_session *P, uint64_t no)
{
  char err[256];
  pw_status why;
  fz_msg m;

  if (S->F->conv_count < 2 + PAIR_CONVS ||
      !(P->c = ws_open(S->F, err, sizeof err, &why)))
    return false;
  if (!handshake(P, 100, 3))
    return false;
  fz_msg_frame(&m, "CALL", NULL, 0, "conv",
               S->F->convs[2 + no % PAIR_CONVS], "media", "audio", "req",
               "fz-call", NULL);
  awaiting(&m, "fz-call");
  if (!step_free(S, &m) || !S->w.call_count) {
    return false;
  }
  fz_msg_frame(&m, "JOIN", NULL, 0, "call", S->answer_call, "req",
               "fz-join", NULL);
  awaiting(&m, "fz-join");
  if (!step_free(P, &m))
    return false;
  S->w.users[0] = P->w.user;
  S->w.user_count = 1;
  snprintf(S->w.peer_device, sizeof S->w.peer_device, "%s", P->w.device);
  S->w.call_bias = true;
  return true;
}

/* Reads and drops what the target still sends on c until it closes the
 * connection or timeout_ms passes. */
static void drain(pw_conn *c, unsigned timeout_ms)
{
  uint64_t end = pw_mono_ms() + timeout_ms;
  char buf[4096];

  for (uint64_t now = pw_mono_ms(); now < end; now = pw_mono_ms())
    if (pw_read(c, buf, sizeof buf, (unsigned)(end - now)) <= 0)
      return;
}

/* Ends a connection of a session: a close (unless the server closed),
 * the write side shut, then what the target still sends read until it
 * closes (at most the hang bound). Closing a socket with replies unread
 * resets the connection, and the target could lose the messages it had
 * not read yet; how many would depend on timing, and a seed would not
 * reach the target with the same messages twice. */
static void session_end(fz_session *S)
{
  if (!S->c)
    return;
  if (!S->closed)
    pw_ws_write_close(S->c, 1000, NULL, S->F->o.hang_ms);
  pw_shutdown_write(S->c);
  drain(S->c, S->F->o.hang_ms);
  pw_free(S->c);
  S->c = NULL;
}

/* Runs session number `no` of the run: its connection (and, for one in
 * five, a second one that joins a call), handshake and batches; then
 * checks that the server still serves. */
static void fuzz_session(fz *F, uint64_t no)
{
  fz_session S = {.F = F}, P = {.F = F, .conn_no = 1};
  fz_rng r;
  size_t account;
  char err[256], device[32], peer_device[32], pair_call[72] = "";
  pw_status why;
  unsigned batches, mode;
  bool pair;

  fz_rng_seed(&r, F->o.seed, no);
  F->session_no = no;
  mode = (unsigned)fz_below(&r, 100);
  pair = mode >= 80;
  /* mostly one of the first four accounts: the members of convs[0] */
  account = pair ? 2 : fz_below(&r, fz_chance(&r, 80) &&
                                F->run.account_count > 4
                                ? 4 : F->run.account_count);
  snprintf(device, sizeof device, "fz%llu", (unsigned long long)no);
  snprintf(peer_device, sizeof peer_device, "fz%llup",
           (unsigned long long)no);
  world_init(F, &S, account, device);
  world_init(F, &P, 3, peer_device);
  log_clear(&F->prev);
  fz_log t = F->prev;
  F->prev = F->cur;
  F->cur = t;
  F->sessions++;
  if (!(S.c = ws_open(F, err, sizeof err, &why))) {
    target_alive(F);
    return;
  }
  batches = 1 + (unsigned)fz_below(&r, 4);
  F->pair_call[0] = '\0';
  if (handshake(&S, mode, account) && pair && call_pair(&S, &P, no)) {
    memcpy(pair_call, S.w.calls[0], sizeof pair_call);
    memcpy(F->pair_call, pair_call, sizeof pair_call);
  }
  if (!S.closed)
    for (unsigned b = 1; b <= batches && batch(&S, &r, b); b++)
      if (P.c && !P.closed)
        read_replies(&P, NULL, 0);
  if (pair && pair_call[0] && (!S.closed || (P.c && !P.closed))) {
    fz_msg m; /* ends the call, so the next pair can make one */
    fz_msg_frame(&m, "HANGUP", NULL, 0, "call", pair_call, "req",
                 "fz-hangup", NULL);
    awaiting(&m, "fz-hangup");
    step_free(!S.closed ? &S : &P, &m);
  }
  session_end(&S);
  session_end(&P);
  target_alive(F);
}

/* ---- set-up -------------------------------------------------------- */

static fz *g_setup_fz;

/* A pseudo case, run through the case context so that it can use the
 * API helpers: makes a group of the first four accounts, one of the
 * second account alone, and PAIR_CONVS of the third and fourth. */
static void make_convs(pc_ctx *t)
{
  static const int members[] = {1, 2, 3};
  fz *F = g_setup_fz;

  F->convs[F->conv_count++] = strdup(pc_conv_group(t, 0, members, 3));
  F->convs[F->conv_count++] = strdup(pc_conv_group(t, 1, NULL, 0));
  for (int i = 0; i < PAIR_CONVS; i++)
    F->convs[F->conv_count++] = strdup(pc_conv_group(t, 2, &members[2],
                                                     1));
}

static const pc_case setup_case = {"fuzz.setup", "conversations for the "
                                   "fuzzer", "", PC_MUST, NULL, make_convs};
static const pc_suite setup_suite = {"fuzz", false, &setup_case, 1};

/* Finds the target (the URL, or a reference server started now), reads
 * its config, fetches tokens and makes the conversations. Returns 0 or
 * an exit code. */
static int set_up(fz *F)
{
  pc_run *r = &F->run;
  char err[1024] = "";
  pc_result res = {0};

  r->timeout_ms = F->o.hang_ms;
  r->jobs = 1;
  r->tls_insecure = F->o.insecure;
  if (F->o.target) {
    if (pc_target_parse(F->o.target, r) != 0 ||
        pc_accounts_load(F->o.accounts_file, r) != 0)
      return PC_EXIT_USAGE;
  } else if (!(F->server = pc_selfserve_start(
                   F->argv0, F->o.server_bin, F->o.server_args,
                   F->o.server_arg_count, PC_SELFSERVE_ACCOUNTS, r))) {
    return PC_EXIT_SETUP;
  }
  if (pc_run_setup(r, err, sizeof err) != 0) {
    fprintf(stderr, "parley-conform: %s: cannot set the run up: %s\n",
            r->url, err);
    return PC_EXIT_SETUP;
  }
  g_setup_fz = F;
  pc_run_case(r, &setup_suite, &setup_case, &res);
  if (res.verdict != PC_PASS)
    fprintf(stderr, "parley-conform: warning: no conversations for the "
            "fuzzer: %s\n", res.message ? res.message : "?");
  pc_result_free(&res);
  return 0;
}

/* Releases what set_up made. Returns 0, or -1 when the self-started
 * server did not stop cleanly. */
static int tear_down(fz *F)
{
  pc_run *r = &F->run;
  int rc = 0;

  for (size_t i = 0; i < r->account_count; i++) {
    free(r->accounts[i].user);
    free(r->accounts[i].password);
    free(r->accounts[i].token);
    r->accounts[i].token = NULL;
  }
  free((char *)r->config.subprotocol);
  free((char *)r->config.ws_path);
  free(r->accounts);
  free(r->url);
  free(r->host);
  if (F->server)
    rc = pc_selfserve_stop(F->server);
  for (size_t i = 0; i < F->conv_count; i++)
    free(F->convs[i]);
  for (size_t i = 0; i < F->key_count; i++)
    free(F->keys[i]);
  log_clear(&F->prev);
  log_clear(&F->cur);
  free(F->prev.v);
  free(F->cur.v);
  return rc;
}

/* ---- the report ---------------------------------------------------- */

static uint64_t findings_total(const fz *F)
{
  uint64_t n = 0;

  for (int k = 0; k < FK_COUNT; k++)
    n += F->by_kind[k];
  return n;
}

static void summary(const fz *F, FILE *f)
{
  double secs = (double)(pc_now_ms() - F->started_ms) / 1000.0;
  uint64_t total = findings_total(F);

  if (F->replaying)
    fprintf(f, "parley-conform --fuzz-replay %s: ", F->o.replay_file);
  else
    fprintf(f, "parley-conform --fuzz: seed %llu, ",
            (unsigned long long)F->o.seed);
  fprintf(f, "%.1f s against %s%s\n", secs, F->run.url,
          F->server ? " (reference server started for this run)" : "");
  fprintf(f, "  sessions %llu, messages sent %llu (%.1f exec/s), replies "
          "checked %llu\n", (unsigned long long)F->sessions,
          (unsigned long long)F->frames,
          secs > 0 ? (double)F->frames / secs : 0.0,
          (unsigned long long)F->replies);
  fprintf(f, "  findings: %llu", (unsigned long long)total);
  for (int k = 0; k < FK_COUNT; k++)
    if (F->by_kind[k])
      fprintf(f, ", %s %llu", kind_names[k],
              (unsigned long long)F->by_kind[k]);
  if (F->files)
    fprintf(f, "; %u file%s in %s", F->files, F->files == 1 ? "" : "s",
            F->o.out_dir);
  fputc('\n', f);
  if (F->o.verbosity > 0)
    for (size_t i = 0; i < F->reply_kinds; i++)
      fprintf(f, "    %-28s %llu\n", F->reply_kind[i],
              (unsigned long long)F->reply_count[i]);
}

/* Runs sessions until the time or the count is up, ^C, or the server
 * is gone. */
static void fuzz_loop(fz *F)
{
  uint64_t until = F->started_ms + (uint64_t)F->o.time_s * 1000;

  for (uint64_t no = 1; !g_stop && !F->target_gone; no++) {
    if (F->o.fail_fast && findings_total(F))
      break;
    if (F->o.iterations ? no > F->o.iterations : pc_now_ms() >= until)
      break;
    fuzz_session(F, no);
    if (F->o.verbosity > 0 && no % 1000 == 0)
      fprintf(stderr, "  %llu sessions, %llu messages, %llu findings\n",
              (unsigned long long)no, (unsigned long long)F->frames,
              (unsigned long long)findings_total(F));
  }
}

/* ---- --fuzz-replay ------------------------------------------------- */

/* A finding file as read: substitutions and sessions of messages. */
typedef struct fz_replay {
  char *subst_name[2 * PC_SELFSERVE_ACCOUNTS], *subst_old[16];
  size_t subst_count;
  fz_log sessions[8];
  size_t session_count;
} fz_replay;

/* Decodes hex into m->data. Returns false on a bad digit. */
static bool unhex(const char *s, fz_msg *m)
{
  size_t n = strlen(s) / 2;

  m->data = malloc(n + 1);
  m->len = n;
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) {
      free(m->data);
      m->data = NULL;
      return false;
    }
    m->data[i] = (char)v;
  }
  return strlen(s) % 2 == 0;
}

/* Reads one "msg KIND PIECES AWAIT HEX" line into m. */
static bool parse_msg(char *line, fz_msg *m)
{
  char *conn = strtok(line, " "), *kind = strtok(NULL, " "),
       *pieces = strtok(NULL, " "),
       *await = strtok(NULL, " "), *hex = strtok(NULL, " \n");
  size_t k;

  memset(m, 0, sizeof *m);
  if (!conn || !kind || !pieces || !await || strlen(conn) != 1 ||
      (conn[0] != '0' && conn[0] != '1'))
    return false;
  m->conn = (unsigned)(conn[0] - '0');
  for (k = 0; k < PC_COUNT(msg_kinds) && strcmp(msg_kinds[k], kind); k++)
    ;
  if (k == PC_COUNT(msg_kinds))
    return false;
  m->kind = (fz_kind)k;
  m->pieces = (unsigned)strtoul(pieces, NULL, 10);
  if (strcmp(await, "-") != 0)
    awaiting(m, await);
  return unhex(hex ? hex : "", m);
}

/* Reads the file. Returns 0, or -1 after printing (exit 2). */
static int replay_load(const char *path, fz_replay *rp)
{
  FILE *f = fopen(path, "r");
  char *line = NULL, *name, *old;
  size_t cap = 0;
  int rc = 0;
  fz_msg m;

  if (!f) {
    fprintf(stderr, "parley-conform: --fuzz-replay %s: %s\n", path,
            strerror(errno));
    return -1;
  }
  while (rc == 0 && getline(&line, &cap, f) > 0) {
    if (line[0] == '#' || line[0] == '\n')
      continue;
    if (strncmp(line, "subst ", 6) == 0 && rp->subst_count < 16 &&
        (name = strtok(line + 6, " ")) && (old = strtok(NULL, " \n"))) {
      rp->subst_name[rp->subst_count] = strdup(name);
      rp->subst_old[rp->subst_count++] = strdup(old);
    } else if (strcmp(line, "session\n") == 0 && rp->session_count < 8) {
      rp->session_count++;
    } else if (strncmp(line, "msg ", 4) == 0 && rp->session_count &&
               parse_msg(line + 4, &m)) {
      log_push(&rp->sessions[rp->session_count - 1], &m);
      fz_msg_free(&m);
    } else {
      fprintf(stderr, "parley-conform: --fuzz-replay %s: a line it cannot "
              "read: %.60s\n", path, line);
      rc = -1;
    }
  }
  free(line);
  fclose(f);
  return rc;
}

/* Replaces every `old` in m by `new`. */
static void replace_in(fz_msg *m, const char *old, const char *new)
{
  size_t ol = strlen(old), nl = strlen(new);
  pc_buf b = {0};

  if (!ol || !strcmp(old, new))
    return;
  for (size_t i = 0; i < m->len;) {
    if (i + ol <= m->len && memcmp(m->data + i, old, ol) == 0) {
      pc_buf_add(&b, new, nl);
      i += ol;
    } else {
      pc_buf_add(&b, m->data + i++, 1);
    }
  }
  free(m->data);
  m->data = b.p ? b.p : strdup("");
  m->len = b.len;
}

/* This run's value for a substitution name ("token-1", "conv-0"). */
static const char *subst_new(const fz *F, const char *name)
{
  size_t i;

  if (sscanf(name, "token-%zu", &i) == 1 && i < F->run.account_count)
    return F->run.accounts[i].token;
  if (sscanf(name, "conv-%zu", &i) == 1 && i < F->conv_count)
    return F->convs[i];
  if (strcmp(name, "call-0") == 0 && F->replay_call[0])
    return F->replay_call;
  return NULL;
}

/* Opens connection `no` of a replayed session if it is not open.
 * Returns false when the server cannot be reached. */
static bool replay_conn(fz *F, fz_session *S)
{
  char err[256];
  pw_status why;

  if (S->c || S->closed)
    return S->c != NULL;
  if ((S->c = ws_open(F, err, sizeof err, &why)))
    return true;
  S->closed = true;
  target_alive(F);
  return false;
}

/* Ends a replayed connection with the liveness probe, so that the
 * replies to the file's last messages are read and checked (a file
 * saved when a finding showed ends with the message that showed it). */
static void replay_probe(fz_session *S)
{
  fz_msg m;

  if (!S->c || S->closed)
    return;
  fz_msg_frame(&m, "PING", NULL, 0, "nonce", "replay", "req",
               "fz-replay-end", NULL);
  awaiting(&m, "fz-replay-end");
  step(S, &m);
  fz_msg_free(&m);
}

/* Sends the file's sessions again, with the oracles on. */
static void replay_run(fz *F, fz_replay *rp)
{
  for (size_t s = 0; s < rp->session_count && !F->target_gone; s++) {
    fz_session S[2] = {{.F = F}, {.F = F, .conn_no = 1}};

    F->sessions++;
    for (size_t i = 0; i < rp->sessions[s].n && !g_stop; i++) {
      fz_msg *m = &rp->sessions[s].v[i];
      fz_session *to = &S[m->conn];
      for (size_t k = 0; k < rp->subst_count; k++)
        if (subst_new(F, rp->subst_name[k]))
          replace_in(m, rp->subst_old[k], subst_new(F, rp->subst_name[k]));
      if (!to->closed && replay_conn(F, to))
        step(to, m);
      if (!strcmp(m->await_req, "fz-call") && to->answer_call[0])
        memcpy(F->replay_call, to->answer_call, sizeof F->replay_call);
      if (S[1 - m->conn].c && !S[1 - m->conn].closed)
        read_replies(&S[1 - m->conn], NULL, 0);
    }
    for (int k = 0; k < 2; k++)
      replay_probe(&S[k]);
    session_end(&S[0]);
    session_end(&S[1]);
    target_alive(F);
  }
}

static void replay_free(fz_replay *rp)
{
  for (size_t i = 0; i < rp->subst_count; i++) {
    free(rp->subst_name[i]);
    free(rp->subst_old[i]);
  }
  for (size_t i = 0; i < rp->session_count; i++) {
    log_clear(&rp->sessions[i]);
    free(rp->sessions[i].v);
  }
}

/* ---- the command line ---------------------------------------------- */

static const char fuzz_usage[] =
  "usage: parley-conform --fuzz [ws://HOST:PORT --accounts FILE] [options]\n"
  "       parley-conform --fuzz-replay FILE [ws://HOST:PORT --accounts "
  "FILE]\n"
  "       parley-conform --fuzz-grammar\n"
  "\n"
  "Sends generated and mutated frames to a Parley/1 server and reports\n"
  "crashes, hangs and replies that break the spec; with no URL, to a\n"
  "reference server it starts on 127.0.0.1. Point it only at servers you\n"
  "run yourself.\n"
  "\n"
  "  --seed N             the random seed (default: from the clock,\n"
  "                       printed); the same seed sends the same frames\n"
  "  --time SECONDS       how long to run (default 60)\n"
  "  --iterations N       run N sessions instead\n"
  "  --out DIR            where findings are saved (default\n"
  "                       fuzz-findings), one replayable file each\n"
  "  --hang-ms MS         how long an answer may take (default 5000)\n"
  "  --accounts FILE      test accounts of the target (as for the cases)\n"
  "  --server-bin PATH, --server-arg ARG, --insecure   as for the cases\n"
  "  --fuzz-replay FILE   send a finding's messages again; exit 1 when a\n"
  "                       finding shows again\n"
  "  -x, --fail-fast      stop after the session of the first finding\n"
  "  --fuzz-grammar       print the verbs and headers the frames come from\n"
  "  -v, -q               more or less output\n"
  "\n"
  "exit status: 0 no finding; 1 findings; 2 bad usage; 3 the target could\n"
  "not be reached or set up; 130 interrupted.\n";

enum {
  FO_FUZZ = 300, FO_REPLAY, FO_GRAMMAR, FO_ACCOUNTS, FO_SEED, FO_TIME,
  FO_ITER, FO_OUT, FO_HANG, FO_BIN, FO_ARG, FO_INSECURE
};

static const struct option fuzz_opts[] = {
  {"fuzz", optional_argument, NULL, FO_FUZZ},
  {"fuzz-replay", required_argument, NULL, FO_REPLAY},
  {"fuzz-grammar", no_argument, NULL, FO_GRAMMAR},
  {"accounts", required_argument, NULL, FO_ACCOUNTS},
  {"seed", required_argument, NULL, FO_SEED},
  {"time", required_argument, NULL, FO_TIME},
  {"iterations", required_argument, NULL, FO_ITER},
  {"out", required_argument, NULL, FO_OUT},
  {"hang-ms", required_argument, NULL, FO_HANG},
  {"server-bin", required_argument, NULL, FO_BIN},
  {"server-arg", required_argument, NULL, FO_ARG},
  {"insecure", no_argument, NULL, FO_INSECURE},
  {"fail-fast", no_argument, NULL, 'x'},
  {"quiet", no_argument, NULL, 'q'},
  {"verbose", no_argument, NULL, 'v'},
  {"help", no_argument, NULL, 'h'},
  {NULL, 0, NULL, 0}};

bool fz_wanted(int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--fuzz") || !strncmp(argv[i], "--fuzz=", 7) ||
        !strcmp(argv[i], "--fuzz-replay") ||
        !strncmp(argv[i], "--fuzz-replay=", 14) ||
        !strcmp(argv[i], "--fuzz-grammar"))
      return true;
  return false;
}

static int usage_error(const char *flag, const char *what)
{
  fprintf(stderr, "parley-conform: %s: %s (see --fuzz --help)\n", flag,
          what);
  return PC_EXIT_USAGE;
}

/* A whole decimal number within max. */
static bool number(const char *v, uint64_t max, uint64_t *out)
{
  char *end;

  if (!v || *v < '0' || *v > '9')
    return false;
  errno = 0;
  *out = strtoull(v, &end, 10);
  return !errno && !*end && *out <= max;
}

/* Applies one flag. Returns -1 to go on, or an exit code. */
static int fuzz_flag(fz_opts *o, int opt, const char *v)
{
  uint64_t n;

  switch (opt) {
  case 'h': fputs(fuzz_usage, stdout); return PC_EXIT_PASS;
  case 'q': o->verbosity = -1; return -1;
  case 'x': o->fail_fast = true; return -1;
  case 'v': o->verbosity++; return -1;
  case FO_FUZZ: if (v) o->target = v; return -1;
  case FO_REPLAY: o->replay_file = v; return -1;
  case FO_GRAMMAR: o->grammar = true; return -1;
  case FO_ACCOUNTS: o->accounts_file = v; return -1;
  case FO_OUT: o->out_dir = v; return -1;
  case FO_BIN: o->server_bin = v; return -1;
  case FO_INSECURE: o->insecure = true; return -1;
  case FO_ARG:
    o->server_args = realloc(o->server_args, (o->server_arg_count + 1) *
                                                 sizeof *o->server_args);
    o->server_args[o->server_arg_count++] = v;
    return -1;
  case FO_SEED:
    return number(v, UINT64_MAX, &o->seed) ? -1
           : usage_error("--seed", "expected a number");
  case FO_TIME:
    if (!number(v, 30 * 86400, &n) || n == 0)
      return usage_error("--time", "expected seconds from 1 up");
    o->time_s = (unsigned)n;
    return -1;
  case FO_ITER:
    return number(v, UINT64_MAX, &o->iterations) && o->iterations
           ? -1 : usage_error("--iterations", "expected a number from 1 up");
  case FO_HANG:
    if (!number(v, 600000, &n) || n < 100)
      return usage_error("--hang-ms", "expected 100 to 600000 ms");
    o->hang_ms = (unsigned)n;
    return -1;
  default: return usage_error("flag", "unknown flag, or one that does not "
                              "go with --fuzz");
  }
}

/* Reads argv. Returns -1 to go on, or an exit code. */
static int fuzz_args(int argc, char **argv, fz_opts *o, bool *seeded)
{
  int opt, rc;

  opterr = 0;
  optind = 1;
  while ((opt = getopt_long(argc, argv, ":hqvx", fuzz_opts, NULL)) != -1) {
    if (opt == ':' || opt == '?')
      return usage_error(argv[optind - 1], opt == ':' ? "needs a value"
                         : "unknown flag, or one that does not go with "
                           "--fuzz");
    *seeded |= opt == FO_SEED;
    if ((rc = fuzz_flag(o, opt, optarg)) >= 0)
      return rc;
  }
  if (optind < argc && !o->target)
    o->target = argv[optind++];
  if (optind < argc)
    return usage_error(argv[optind], "one target only");
  if (o->target && !o->accounts_file)
    return usage_error(o->target, "a target URL needs --accounts FILE");
  if (o->accounts_file && !o->target)
    return usage_error("--accounts", "goes with a target URL");
  if ((o->server_bin || o->server_arg_count) && o->target)
    return usage_error("--server-bin", "only for the server started when "
                       "no URL is given");
  if (o->time_s && o->iterations)
    return usage_error("--iterations", "does not go with --time");
  return -1;
}

/* Runs the fuzzer or the replay once the run is set up. */
static int fuzz_run(fz *F)
{
  fz_replay rp = {0};

  F->started_ms = pc_now_ms();
  if (F->o.replay_file) {
    if (replay_load(F->o.replay_file, &rp) != 0) {
      replay_free(&rp);
      return PC_EXIT_USAGE;
    }
    F->replaying = true;
    replay_run(F, &rp);
    replay_free(&rp);
  } else {
    if (F->o.verbosity >= 0)
      fprintf(stderr, "parley-conform --fuzz: seed %llu against %s\n",
              (unsigned long long)F->o.seed, F->run.url);
    fuzz_loop(F);
  }
  if (F->o.verbosity >= 0 || findings_total(F))
    summary(F, stdout);
  return g_stop ? PC_EXIT_INTERRUPTED
         : findings_total(F) ? PC_EXIT_FAIL : PC_EXIT_PASS;
}

int fz_main(int argc, char **argv)
{
  fz F = {.o = {.hang_ms = 5000, .out_dir = "fuzz-findings"}};
  bool seeded = false;
  int rc = fuzz_args(argc, argv, &F.o, &seeded);

  if (rc >= 0)
    goto out;
  if (F.o.grammar) {
    fz_grammar_print(stdout);
    rc = PC_EXIT_PASS;
    goto out;
  }
  if (!seeded)
    F.o.seed = pc_now_ms() ^ (uint64_t)getpid() << 32;
  if (!F.o.time_s && !F.o.iterations)
    F.o.time_s = 60;
  F.argv0 = argv[0];
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  rc = set_up(&F);
  if (rc == 0)
    rc = fuzz_run(&F);
  if (F.run.url && tear_down(&F) != 0 && rc == PC_EXIT_PASS) {
    fprintf(stderr, "FINDING server-exit: the reference server did not "
            "stop cleanly (its stderr is above)\n");
    rc = PC_EXIT_FAIL;
  }
out:
  free(F.o.server_args);
  return rc;
}
