/* Fuzz harness: the frame parser (spec section 2, libparley/frame_*.rl).
 *
 * The input is a byte stream as a stream transport would carry it. The
 * harness checks, besides the sanitizers' findings:
 * - round trip: every frame the parser accepts serializes, and the
 *   serialized form parses again to the same frame, which serializes to
 *   the same octets;
 * - split invariance: feeding the stream in pieces cut at offsets drawn
 *   from the input itself gives the same frames and the same final
 *   error (code, offset, rule) as feeding it at once;
 * - message mode (one frame per WebSocket message) agrees with the
 *   stream: a message is accepted exactly when the stream yields one
 *   frame that uses every octet;
 * the same again under small limits, so the limit errors are reached.
 * Any disagreement aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "parley/frame.h"

/* What feeding a stream produced: the frames, serialized one after the
 * other, and how it ended. */
typedef struct outcome {
  parley_buf frames;
  size_t frame_count;
  parley_parse_status last; /* PARTIAL or ERROR */
  parley_parse_error err;
  size_t used; /* octets used by complete frames */
} outcome;

static bool frames_equal(const parley_frame *a, const parley_frame *b)
{
  if (a->verb.len != b->verb.len || a->header_count != b->header_count ||
      a->has_length != b->has_length || a->body.len != b->body.len)
    return false;
  if (memcmp(a->verb.ptr, b->verb.ptr, a->verb.len) != 0 ||
      (a->body.len && memcmp(a->body.ptr, b->body.ptr, a->body.len) != 0))
    return false;
  for (size_t i = 0; i < a->header_count; i++) {
    const parley_header *x = &a->headers[i], *y = &b->headers[i];
    if (x->name.len != y->name.len || x->value.len != y->value.len ||
        memcmp(x->name.ptr, y->name.ptr, x->name.len) != 0 ||
        memcmp(x->value.ptr, y->value.ptr, x->value.len) != 0)
      return false;
  }
  return true;
}

/* The round-trip oracle for one accepted frame; appends its serialized
 * form to `out`. */
static void round_trip(const parley_frame *f, const parley_limits *lim,
                       parley_buf *out)
{
  parley_buf once = {0}, twice = {0};
  parley_parser p;
  parley_frame again;
  parley_parse_error err;

  check(parley_frame_serialize(f, &once) == PARLEY_OK);
  parley_parser_init(&p, lim);
  check(parley_parse_message(&p, once.data, once.len, &again, &err) ==
        PARLEY_OK);
  check(frames_equal(f, &again));
  check(parley_frame_serialize(&again, &twice) == PARLEY_OK);
  check(once.len == twice.len && memcmp(once.data, twice.data, once.len) == 0);
  check(parley_buf_append(out, once.data, once.len));
  parley_parser_free(&p);
  parley_buf_free(&once);
  parley_buf_free(&twice);
}

/* A small generator for the cut offsets, seeded from the input so a
 * replay cuts the same way. */
static uint64_t next_rand(uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static uint64_t hash_input(const uint8_t *d, size_t n)
{
  uint64_t h = 1469598103934665603ull;

  for (size_t i = 0; i < n; i++)
    h = (h ^ d[i]) * 1099511628211ull;
  return h | 1;
}

/* Feeds d[0, n) in pieces (each at most `piece_max` octets, 0 meaning
 * all at once) and records what came out. The round-trip oracle runs on
 * the frames of the one-shot feed; the split feeds only serialize, since
 * they must give the very same frames. */
static void feed(const uint8_t *d, size_t n, const parley_limits *lim,
                 uint64_t seed, size_t piece_max, outcome *o)
{
  parley_parser p;
  size_t off = 0, piece_end = 0;

  memset(o, 0, sizeof *o);
  o->last = PARLEY_PARSE_PARTIAL;
  parley_parser_init(&p, lim);
  while (off < n) {
    if (off >= piece_end)
      piece_end = piece_max ? off + 1 + next_rand(&seed) % piece_max : n;
    if (piece_end > n)
      piece_end = n;
    size_t used = 0;
    parley_frame f;
    parley_parse_error err;
    parley_parse_status st = parley_parser_feed(
        &p, (const char *)d + off, piece_end - off, &used, &f, &err);
    check(used <= piece_end - off);
    off += used;
    if (st == PARLEY_PARSE_ERROR) {
      o->last = st;
      o->err = err;
      break;
    }
    if (st == PARLEY_PARSE_FRAME) {
      if (piece_max == 0)
        round_trip(&f, lim, &o->frames);
      else
        check(parley_frame_serialize(&f, &o->frames) == PARLEY_OK);
      o->frame_count++;
      o->used = off;
    } else {
      check(off == piece_end);
    }
  }
  parley_parser_free(&p);
}

static void check_same(const outcome *a, const outcome *b)
{
  check(a->frame_count == b->frame_count && a->used == b->used);
  check(a->frames.len == b->frames.len &&
        (a->frames.len == 0 ||
         memcmp(a->frames.data, b->frames.data, a->frames.len) == 0));
  check(a->last == b->last);
  if (a->last == PARLEY_PARSE_ERROR)
    check(a->err.code == b->err.code && a->err.offset == b->err.offset &&
          strcmp(a->err.rule, b->err.rule) == 0);
}

/* Message mode must accept exactly a stream of one frame using it all. */
static void check_message(const uint8_t *d, size_t n,
                          const parley_limits *lim, const outcome *whole)
{
  parley_parser p;
  parley_frame f;
  parley_parse_error err;

  parley_parser_init(&p, lim);
  parley_err e = parley_parse_message(&p, (const char *)d, n, &f, &err);
  bool one = whole->frame_count == 1 && whole->used == n;
  check((e == PARLEY_OK) == one);
  if (e == PARLEY_OK) {
    parley_buf b = {0};
    check(parley_frame_serialize(&f, &b) == PARLEY_OK);
    check(b.len == whole->frames.len &&
          memcmp(b.data, whole->frames.data, b.len) == 0);
    parley_buf_free(&b);
  }
  parley_parser_free(&p);
}

static void run_with(const uint8_t *d, size_t n, const parley_limits *lim)
{
  uint64_t seed = hash_input(d, n);
  outcome whole, bytes, pieces;

  feed(d, n, lim, seed, 0, &whole);
  feed(d, n, lim, seed, 1, &bytes);
  feed(d, n, lim, seed, 64, &pieces);
  check_same(&whole, &bytes);
  check_same(&whole, &pieces);
  check_message(d, n, lim, &whole);
  parley_buf_free(&whole.frames);
  parley_buf_free(&bytes.frames);
  parley_buf_free(&pieces.frames);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const parley_limits defaults = {0, 0, 0};
  static const parley_limits small = {200, 4, 48};

  run_with(data, size, &defaults);
  run_with(data, size, &small);
  return 0;
}
