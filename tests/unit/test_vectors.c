/* libparley against the language-neutral frame test vectors of
 * conformance/vectors/ (their README.md defines the format).
 *
 * A "message" vector goes through parley_parse_message and must give the
 * frame or the error (reason, code, offset) it states. It then goes
 * through parley_parser_feed as a byte stream too, when the spec says
 * what a stream makes of the same octets (STREAM-1): a valid frame is one
 * frame, a fault inside the frame is the same fault, and a message cut
 * short is a frame still arriving. A "stream" vector goes through
 * parley_parser_feed whole, cut in two at every offset, and one octet at
 * a time, and must give its frames in order and then its error or the
 * number of octets still pending.
 *
 * Every input is placed right before an unreadable page and scribbled
 * over once the parser returns, so reading one octet too far crashes and
 * keeping a pointer into the input decodes garbage. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "guard_page.h"
#include "parley/frame.h"

#define VECTORS_DIR PARLEY_SOURCE_DIR "/conformance/vectors"
#define FILES_MAX 64

TestSuite(vectors, .init = parley_guard_setup,
          .fini = parley_guard_teardown);

/* ---- loading ----------------------------------------------------------- */

typedef struct vec_file {
  char name[64];
  json_t *doc;           /* the whole file, owned */
  parley_limits limits;  /* its "limits" */
} vec_file;

typedef struct vec_set {
  vec_file files[FILES_MAX];
  size_t count;
} vec_set;

static int name_cmp(const void *a, const void *b)
{
  return strcmp(((const vec_file *)a)->name, ((const vec_file *)b)->name);
}

static size_t limit_of(const json_t *limits, const char *key)
{
  json_t *v = json_object_get(limits, key);
  cr_assert(json_is_integer(v) && json_integer_value(v) > 0,
            "limits.%s is not a positive integer", key);
  return (size_t)json_integer_value(v);
}

/* Loads one file; JSON_ALLOW_NUL because bodies may hold U+0000. */
static void file_load(vec_file *f, const char *name)
{
  char path[512];
  json_error_t jerr;

  snprintf(f->name, sizeof f->name, "%s", name);
  snprintf(path, sizeof path, "%s/%s", VECTORS_DIR, name);
  f->doc = json_load_file(path, JSON_ALLOW_NUL, &jerr);
  cr_assert_not_null(f->doc, "%s:%d: %s", name, jerr.line, jerr.text);
  cr_assert_str_eq(json_string_value(json_object_get(f->doc, "format")),
                   "parley-vectors 1", "%s: unknown format", name);
  json_t *limits = json_object_get(f->doc, "limits");
  f->limits.frame_size_max = limit_of(limits, "frame_size");
  f->limits.header_count_max = limit_of(limits, "header_count");
  f->limits.header_line_max = limit_of(limits, "header_line");
  cr_assert_eq(limit_of(limits, "verb"), PARLEY_VERB_MAX, "%s", name);
}

/* Loads every *.json file of the vectors directory, sorted by name. */
static void set_load(vec_set *set)
{
  DIR *dir = opendir(VECTORS_DIR);
  struct dirent *e;

  cr_assert_not_null(dir, "cannot open %s", VECTORS_DIR);
  set->count = 0;
  while ((e = readdir(dir)) != NULL) {
    size_t n = strlen(e->d_name);
    if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
      continue;
    cr_assert_lt(set->count, FILES_MAX, "too many vector files");
    file_load(&set->files[set->count++], e->d_name);
  }
  closedir(dir);
  cr_assert_gt(set->count, 0, "no vector files in %s", VECTORS_DIR);
  qsort(set->files, set->count, sizeof set->files[0], name_cmp);
}

static void set_free(vec_set *set)
{
  for (size_t i = 0; i < set->count; i++)
    json_decref(set->files[i].doc);
}

/* ---- input octets ------------------------------------------------------ */

static int hex_digit(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Decodes lower-case hex into a new buffer; returns it, *len its size. */
static unsigned char *hex_decode(const char *s, size_t *len)
{
  size_t n = strlen(s);
  unsigned char *out = malloc(n / 2 + 1);

  cr_assert(n % 2 == 0 && out != NULL, "odd hex length");
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hex_digit(s[2 * i]);
    int lo = hex_digit(s[2 * i + 1]);
    cr_assert(hi >= 0 && lo >= 0, "bad hex digit near %zu", 2 * i);
    out[i] = (unsigned char)(hi << 4 | lo);
  }
  *len = n / 2;
  return out;
}

static int b64_value(char c)
{
  static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const char *at = c != '\0' ? strchr(alphabet, c) : NULL;

  return at != NULL ? (int)(at - alphabet) : -1;
}

/* Decodes padded base64 (RFC 4648 section 4) into a new buffer. */
static unsigned char *base64_decode(const char *s, size_t *len)
{
  size_t n = strlen(s);
  unsigned char *out = malloc(n / 4 * 3 + 1);
  size_t o = 0;

  cr_assert(n % 4 == 0 && out != NULL, "base64 length not a multiple of 4");
  for (size_t i = 0; i < n; i += 4) {
    int v[4];
    for (size_t k = 0; k < 4; k++)
      v[k] = s[i + k] == '=' && i + 4 == n && k >= 2 ? 0 : b64_value(s[i + k]);
    cr_assert(v[0] >= 0 && v[1] >= 0 && v[2] >= 0 && v[3] >= 0,
              "bad base64 near %zu", i);
    unsigned triple = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out[o++] = (unsigned char)(triple >> 16);
    if (s[i + 2] != '=')
      out[o++] = (unsigned char)(triple >> 8);
    if (s[i + 3] != '=')
      out[o++] = (unsigned char)triple;
  }
  *len = o;
  return out;
}

/* The input octets of a vector, in a new buffer; checks that "text",
 * when present, holds the same octets. */
static unsigned char *vector_input(const json_t *v, const char *id,
                                   size_t *len)
{
  const char *hex = json_string_value(json_object_get(v, "hex"));
  const char *b64 = json_string_value(json_object_get(v, "base64"));
  json_t *text = json_object_get(v, "text");

  cr_assert((hex != NULL) != (b64 != NULL), "%s: needs hex or base64", id);
  unsigned char *data = hex != NULL ? hex_decode(hex, len)
                                    : base64_decode(b64, len);
  if (text != NULL)
    cr_assert(json_string_length(text) == *len &&
              memcmp(json_string_value(text), data, *len) == 0,
              "%s: text and octets differ", id);
  return data;
}

/* ---- decoded frames and errors ----------------------------------------- */

/* A decoded frame in the vectors' form {"verb", "headers", "body"}. */
static json_t *frame_json(const parley_frame *f)
{
  json_t *headers = json_array();

  for (size_t i = 0; i < f->header_count; i++) {
    const parley_header *h = &f->headers[i];
    json_t *pair = json_array();
    json_array_append_new(pair, json_stringn(h->name.ptr, h->name.len));
    json_array_append_new(pair, json_stringn(h->value.ptr, h->value.len));
    json_array_append_new(headers, pair);
  }
  return json_pack("{s:s%,s:o,s:o?}", "verb", f->verb.ptr, f->verb.len,
                   "headers", headers, "body",
                   json_stringn(f->body.ptr, f->body.len));
}

static void expect_json_eq(const json_t *got, const json_t *want,
                           const char *what)
{
  if (json_equal(got, want))
    return;
  char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
  char *w = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
  cr_assert_fail("%s:\n got  %.600s\n want %.600s", what, g, w);
}

/* Section 2.8's "where" for bad-utf8, from the rule libparley names. */
static const char *utf8_where(const char *rule)
{
  if (strcmp(rule, "verb") == 0)
    return "start line";
  if (strcmp(rule, "header-value") == 0)
    return "header value";
  return strcmp(rule, "body") == 0 ? "body" : "?";
}

/* Checks an error against a vector's error object: reason, code and
 * offset; for bad-utf8 also where it lies. */
static void expect_error(const parley_parse_error *e, const json_t *want,
                         const char *what)
{
  const char *reason = json_string_value(json_object_get(want, "reason"));
  json_int_t code = json_integer_value(json_object_get(want, "code"));
  json_int_t offset = json_integer_value(json_object_get(want, "offset"));
  const char *where = json_string_value(json_object_get(want, "where"));

  cr_assert_not_null(reason, "%s: error without reason", what);
  cr_assert_eq(parley_err_from_reason(reason), (parley_err)code,
               "%s: reason %s is not code %lld", what, reason, code);
  cr_assert_eq(e->code, (parley_err)code, "%s: %s (%d), want %s (%lld)",
               what, parley_err_reason(e->code), e->code, reason, code);
  cr_assert_eq(e->offset, (size_t)offset, "%s: %s at %zu, want %lld", what,
               reason, e->offset, offset);
  cr_assert_not_null(e->rule, "%s: no rule", what);
  if (e->code == PARLEY_E_BAD_UTF8 && where != NULL)
    cr_assert_str_eq(utf8_where(e->rule), where, "%s: rule %s", what,
                     e->rule);
}

/* ---- byte streams ------------------------------------------------------ */

typedef struct outcome {
  json_t *frames;           /* decoded frames, in order */
  bool failed;
  parley_parse_error err;
  size_t frame_start;       /* where the frame being read began */
  size_t fed;               /* octets fed so far */
} outcome;

/* Feeds one piece through the guard page, collecting frames until the
 * piece is used up or the parser fails. */
static void feed_piece(parley_parser *p, const unsigned char *piece,
                       size_t n, outcome *r)
{
  char *g = parley_guard_place(piece, n);
  size_t off = 0;

  while (!r->failed) {
    parley_frame f;
    parley_parse_error e = {PARLEY_OK, 0, NULL};
    size_t used = 0;
    parley_parse_status st = parley_parser_feed(p, g + off, n - off, &used,
                                                &f, &e);
    cr_assert_leq(used, n - off);
    off += used;
    if (st == PARLEY_PARSE_ERROR) {
      r->failed = true;
      r->err = e;
    } else if (st == PARLEY_PARSE_FRAME) {
      json_array_append_new(r->frames, frame_json(&f));
      r->frame_start = r->fed + off;
    } else {
      cr_assert_eq(off, n, "partial before the end of the piece");
      break;
    }
  }
  r->fed += n;
  parley_guard_scribble(n);
}

/* Feeds data[0, len) cut at the ascending offsets `cuts`. */
static outcome run_cuts(const parley_limits *limits, const unsigned char *data,
                        size_t len, const size_t *cuts, size_t ncuts)
{
  outcome r = {json_array(), false, {PARLEY_OK, 0, NULL}, 0, 0};
  parley_parser p;
  size_t from = 0;

  parley_parser_init(&p, limits);
  for (size_t i = 0; i <= ncuts && !r.failed; i++) {
    size_t to = i < ncuts ? cuts[i] : len;
    feed_piece(&p, data + from, to - from, &r);
    from = to;
  }
  cr_assert_leq(p.buf_cap, limits->frame_size_max, "buffered past the "
                "frame size limit");
  parley_parser_free(&p);
  return r;
}

/* Checks an outcome against a stream expectation {"frames", "pending" or
 * "error"}. `len` is the length of the whole input. */
static void expect_outcome(const outcome *r, size_t len, const json_t *want,
                           const char *what)
{
  json_t *error = json_object_get(want, "error");

  expect_json_eq(r->frames, json_object_get(want, "frames"), what);
  if (error == NULL) {
    cr_assert(!r->failed, "%s: failed with %s at %zu", what,
              parley_err_reason(r->err.code), r->err.offset);
    json_int_t pending = json_integer_value(json_object_get(want,
                                                            "pending"));
    cr_assert_eq(len - r->frame_start, (size_t)pending,
                 "%s: %zu octets pending, want %lld", what,
                 len - r->frame_start, pending);
    return;
  }
  cr_assert(r->failed, "%s: did not fail", what);
  expect_error(&r->err, error, what);
  json_int_t start = json_integer_value(json_object_get(error,
                                                        "frame_start"));
  cr_assert_eq(r->frame_start, (size_t)start,
               "%s: failing frame starts at %zu, want %lld", what,
               r->frame_start, start);
}

/* Offsets at which to cut an input in two: every one, except that inputs
 * over 16 KB are cut everywhere in their first and last 2 KB (where
 * their start line, headers and end are) and at every 127th offset in
 * between: every cut of a 64 KB input is 4 GB of copying and parsing. */
static bool cut_here(size_t cut, size_t len)
{
  return len <= 16384 || cut < 2048 || cut > len - 2048 || cut % 127 == 0;
}

/* Feeds `data` whole, cut in two at every offset, and octet by octet;
 * each time the outcome must be `want`. */
static void check_stream(const char *id, const parley_limits *limits,
                         const unsigned char *data, size_t len,
                         const json_t *want)
{
  char what[200];
  size_t *cuts = malloc((len + 1) * sizeof *cuts);

  cr_assert_not_null(cuts);
  for (size_t cut = 0; cut <= len; cut++) {
    if (!cut_here(cut, len))
      continue;
    outcome r = run_cuts(limits, data, len, &cut, 1);
    snprintf(what, sizeof what, "%s (stream cut at %zu)", id, cut);
    expect_outcome(&r, len, want, what);
    json_decref(r.frames);
  }
  for (size_t i = 1; i < len; i++)
    cuts[i - 1] = i;
  outcome r = run_cuts(limits, data, len, cuts, len > 0 ? len - 1 : 0);
  snprintf(what, sizeof what, "%s (stream, octet by octet)", id);
  expect_outcome(&r, len, want, what);
  json_decref(r.frames);
  free(cuts);
}

/* ---- messages ---------------------------------------------------------- */

/* Parses one message through the guard page and checks `expect`. */
static void check_message(const char *id, const parley_limits *limits,
                          const unsigned char *data, size_t len,
                          const json_t *expect)
{
  parley_parser p;
  parley_frame f;
  parley_parse_error e = {PARLEY_OK, 0, NULL};
  json_t *want_frame = json_object_get(expect, "frame");

  parley_parser_init(&p, limits);
  char *g = parley_guard_place(data, len);
  parley_err code = parley_parse_message(&p, g, len, &f, &e);
  if (want_frame != NULL) {
    cr_assert_eq(code, PARLEY_OK, "%s: %s at %zu (%s)", id,
                 parley_err_reason(code), e.offset, e.rule);
    json_t *got = frame_json(&f);
    expect_json_eq(got, want_frame, id);
    json_decref(got);
  } else {
    cr_assert_neq(code, PARLEY_OK, "%s: parsed, want an error", id);
    cr_assert_eq(code, e.code, "%s: returned %d, err.code %d", id, code,
                 e.code);
    expect_error(&e, json_object_get(expect, "error"), id);
  }
  parley_guard_scribble(len);
  cr_assert_leq(p.buf_cap, limits->frame_size_max);
  parley_parser_free(&p);
}

/* What a byte stream makes of a message vector's octets, as a stream
 * expectation (new reference), or NULL when the spec leaves it open: a
 * message with octets after its frame goes on to another frame, and a
 * message refused whole for its size (WS-7) is not read on a stream. */
static json_t *stream_view(const json_t *expect, size_t len)
{
  json_t *frame = json_object_get(expect, "frame");
  json_t *error = json_object_get(expect, "error");

  if (frame != NULL)
    return json_pack("{s:[O],s:i}", "frames", frame, "pending", 0);
  const char *reason = json_string_value(json_object_get(error, "reason"));
  const char *where = json_string_value(json_object_get(error, "where"));
  if (strcmp(reason, "truncated-frame") == 0)
    return json_pack("{s:[],s:I}", "frames", "pending", (json_int_t)len);
  if (strcmp(reason, "extra-data") == 0 ||
      strcmp(reason, "length-required") == 0 ||
      (where != NULL && strcmp(where, "WebSocket message") == 0))
    return NULL;
  json_t *e = json_deep_copy(error);
  json_object_set_new(e, "frame_start", json_integer(0));
  return json_pack("{s:[],s:o}", "frames", "error", e);
}

/* ---- running every vector ---------------------------------------------- */

typedef struct tally {
  size_t message, stream, derived;
  bool reason_seen[1000];    /* by code: errors expected and met */
} tally;

/* Checks one vector of `file` when its mode is `mode`. */
static void check_vector(const vec_file *file, const json_t *v,
                         const char *mode, tally *t)
{
  const char *id = json_string_value(json_object_get(v, "id"));
  const char *vmode = json_string_value(json_object_get(v, "mode"));
  const json_t *expect = json_object_get(v, "expect");
  size_t len = 0;

  cr_assert(id != NULL && vmode != NULL && expect != NULL,
            "%s: a vector without id, mode or expect", file->name);
  cr_assert(strcmp(vmode, "message") == 0 || strcmp(vmode, "stream") == 0,
            "%s: unknown mode %s", id, vmode);
  if (strcmp(vmode, mode) != 0)
    return;
  unsigned char *data = vector_input(v, id, &len);
  json_t *error = json_object_get(expect, "error");
  if (error != NULL) {
    json_int_t code = json_integer_value(json_object_get(error, "code"));
    cr_assert(code >= 400 && code < 1000, "%s: code %lld", id, code);
    t->reason_seen[code] = true;
  }
  if (strcmp(mode, "stream") == 0) {
    check_stream(id, &file->limits, data, len, expect);
    t->stream++;
  } else {
    check_message(id, &file->limits, data, len, expect);
    t->message++;
    json_t *view = stream_view(expect, len);
    if (view != NULL) {
      check_stream(id, &file->limits, data, len, view);
      t->derived++;
    }
    json_decref(view);
  }
  free(data);
}

/* Checks every vector of every file whose mode is `mode`. */
static void check_all(const char *mode, tally *t)
{
  static vec_set set;

  memset(t, 0, sizeof *t);
  set_load(&set);
  for (size_t i = 0; i < set.count; i++) {
    json_t *vectors = json_object_get(set.files[i].doc, "vectors");
    size_t k;
    json_t *v;
    cr_assert(json_array_size(vectors) > 0, "%s: no vectors",
              set.files[i].name);
    json_array_foreach(vectors, k, v)
      check_vector(&set.files[i], v, mode, t);
  }
  set_free(&set);
}

/* Every message vector, as a message and, where the spec says what a
 * stream makes of it, as a stream; the expectations include every error
 * the frame parser gives. */
/* spec: FRAME-1 FRAME-2 FRAME-4 FRAME-5 FRAME-6 FRAME-10 */
/* spec: WS-1 WS-2 WS-7 EXT-1 SEC-18 */
Test(vectors, message_vectors, .timeout = 280)
{
  tally t;

  check_all("message", &t);
  cr_assert_gt(t.message, 0, "no message vectors");
  for (int code = PARLEY_E_BAD_START_LINE; code <= PARLEY_E_DUPLICATE_HEADER;
       code++)
    cr_assert(t.reason_seen[code], "no vector expects %s",
              parley_err_reason((parley_err)code));
  cr_log_info("%zu message vectors, %zu of them also as streams",
              t.message, t.derived);
}

/* Every stream vector: whole, cut in two anywhere, octet by octet. */
/* spec: STREAM-1 FRAME-1 FRAME-2 FRAME-4 FRAME-5 FRAME-6 */
Test(vectors, stream_vectors, .timeout = 280)
{
  tally t;

  check_all("stream", &t);
  cr_assert_gt(t.stream, 0, "no stream vectors");
  cr_log_info("%zu stream vectors", t.stream);
}
