/* Unit tests for the frame parser and serializer (spec/parley-1.md
 * sections 2.1 to 2.7).
 *
 * Every input reaches the parser through parley_guard_place()
 * (guard_page.h): it is copied so that it ends right before a page that
 * cannot be read, and scribbled over once the call returns. A parser
 * that reads one octet too far crashes, and one that keeps a pointer into
 * its input decodes garbage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "guard_page.h"
#include "parley/frame.h"

#define W(s) s, sizeof(s) - 1

TestSuite(frame, .init = parley_guard_setup,
          .fini = parley_guard_teardown);
TestSuite(frame_write, .init = parley_guard_setup,
          .fini = parley_guard_teardown);

/* ---- decoded frames as JSON -------------------------------------------- */

/* The decoded frame in the form of the spec's examples:
 * {"verb": V, "headers": [[name, value], ...], "body": B}. */
static json_t *frame_json(const parley_frame *f)
{
  json_t *headers = json_array();

  for (size_t i = 0; i < f->header_count; i++) {
    const parley_header *h = &f->headers[i];
    json_t *pair = json_pack("[s#s#]", h->name.ptr, (int)h->name.len,
                             h->value.ptr, (int)h->value.len);
    cr_assert_not_null(pair, "header %zu is not UTF-8", i);
    json_array_append_new(headers, pair);
  }
  json_t *body = json_stringn(f->body.ptr, f->body.len);
  cr_assert_not_null(body, "body is not UTF-8");
  return json_pack("{s:s#,s:o,s:o}", "verb", f->verb.ptr, (int)f->verb.len,
                   "headers", headers, "body", body);
}

static char *json_text(const json_t *j)
{
  return json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
}

static void expect_json_eq(const json_t *got, const json_t *want,
                           const char *what)
{
  if (json_equal(got, want))
    return;
  char *g = json_text(got);
  char *w = json_text(want);
  cr_assert_fail("%s: got %s, want %s", what, g, w);
}

/* ---- feeding ----------------------------------------------------------- */

typedef struct stream_result {
  json_t *frames;          /* every frame decoded, in order */
  bool failed;
  parley_parse_error err;
  size_t pending;          /* octets of an unfinished frame at the end */
} stream_result;

/* Feeds one piece through the guard page; collects frames until the
 * piece is used up or the parser fails. */
static void feed_piece(parley_parser *p, const char *piece, size_t n,
                       stream_result *r)
{
  char *g = parley_guard_place(piece, n);
  size_t off = 0;

  for (;;) {
    parley_frame f;
    parley_parse_error e;
    size_t used = 0;
    parley_parse_status st = parley_parser_feed(p, g + off, n - off, &used,
                                                &f, &e);
    cr_assert_leq(used, n - off);
    off += used;
    if (st == PARLEY_PARSE_ERROR) {
      r->failed = true;
      r->err = e;
      break;
    }
    if (st == PARLEY_PARSE_PARTIAL) {
      cr_assert_eq(off, n, "partial before the end of the input");
      break;
    }
    json_array_append_new(r->frames, frame_json(&f));
  }
  parley_guard_scribble(n);
}

/* Feeds data[0, len) as pieces cut at the ascending offsets `cuts`. */
static stream_result run_cuts(const parley_limits *limits, const char *data,
                              size_t len, const size_t *cuts, size_t ncuts)
{
  stream_result r = {json_array(), false, {PARLEY_OK, 0, NULL}, 0};
  parley_parser p;
  size_t from = 0;

  parley_parser_init(&p, limits);
  for (size_t i = 0; i <= ncuts && !r.failed; i++) {
    size_t to = i < ncuts ? cuts[i] : len;
    cr_assert(from <= to && to <= len);
    feed_piece(&p, data + from, to - from, &r);
    from = to;
  }
  r.pending = p.frame_len;
  cr_assert_leq(p.buf_cap, PARLEY_FRAME_SIZE_MAX);
  parley_parser_free(&p);
  return r;
}

static stream_result run_whole(const char *data, size_t len)
{
  return run_cuts(NULL, data, len, NULL, 0);
}

static stream_result run_split(const char *data, size_t len, size_t cut)
{
  return run_cuts(NULL, data, len, &cut, 1);
}

static stream_result run_bytes(const char *data, size_t len)
{
  size_t *cuts = malloc(len * sizeof *cuts + 1);
  cr_assert_not_null(cuts);
  for (size_t i = 1; i < len; i++)
    cuts[i - 1] = i;
  stream_result r = run_cuts(NULL, data, len, cuts, len > 0 ? len - 1 : 0);
  free(cuts);
  return r;
}

/* Parses one WebSocket message through the guard page. */
static parley_err parse_guarded(parley_parser *p, const char *data,
                                size_t len, parley_frame *f,
                                parley_parse_error *e)
{
  char *g = parley_guard_place(data, len);
  parley_err code = parley_parse_message(p, g, len, f, e);
  parley_guard_scribble(len);
  return code;
}

/* The message `data` as JSON, or NULL with *e filled when it fails. */
static json_t *message_json(const char *data, size_t len,
                            parley_parse_error *e)
{
  parley_parser p = {0};
  parley_frame f;
  json_t *j = NULL;

  if (parse_guarded(&p, data, len, &f, e) == PARLEY_OK)
    j = frame_json(&f);
  parley_parser_free(&p);
  return j;
}

/* ---- checks shared by the tables and the spec examples ----------------- */

/* Offsets at which to cut `len` octets in two: all of them, except that
 * long inputs are cut everywhere in their first and last 2 KB and every
 * 97th octet in between (every cut of a 64 KB frame is 4 GB of copying). */
static bool cut_here(size_t cut, size_t len)
{
  return len <= 4096 || cut < 2048 || cut > len - 2048 || cut % 97 == 0;
}

/* A valid frame decodes to `want` whole, cut in two anywhere, and one
 * octet at a time. */
static void check_valid_everywhere(const char *name, const char *data,
                                   size_t len, const json_t *want)
{
  char what[160];

  for (size_t cut = 0; cut <= len + 1; cut++) {
    if (cut <= len && !cut_here(cut, len))
      continue;
    stream_result r = cut <= len ? run_split(data, len, cut)
                                 : run_bytes(data, len);
    snprintf(what, sizeof what, "%s cut at %zu%s", name, cut,
             cut > len ? " (octet by octet)" : "");
    cr_assert(!r.failed, "%s: failed with %d at %zu (%s)", what,
              r.err.code, r.err.offset, r.err.rule);
    cr_assert_eq(json_array_size(r.frames), 1, "%s: %zu frames", what,
                 json_array_size(r.frames));
    cr_assert_eq(r.pending, 0, "%s: octets left over", what);
    expect_json_eq(json_array_get(r.frames, 0), want, what);
    json_decref(r.frames);
  }
}

/* An invalid frame fails with `code` at `offset` however it is cut. */
static void check_invalid_everywhere(const char *name, const char *data,
                                     size_t len, parley_err code,
                                     size_t offset)
{
  for (size_t cut = 0; cut <= len + 1; cut++) {
    if (cut <= len && !cut_here(cut, len))
      continue;
    stream_result r = cut <= len ? run_split(data, len, cut)
                                 : run_bytes(data, len);
    cr_assert(r.failed, "%s cut at %zu: did not fail", name, cut);
    cr_assert_eq(r.err.code, code, "%s cut at %zu: code %d, want %d", name,
                 cut, r.err.code, code);
    cr_assert_eq(r.err.offset, offset, "%s cut at %zu: offset %zu, want %zu",
                 name, cut, r.err.offset, offset);
    cr_assert_not_null(r.err.rule);
    cr_assert_eq(json_array_size(r.frames), 0);
    json_decref(r.frames);
  }
}

/* ---- the frame tables -------------------------------------------------- */

typedef struct wire_case {
  const char *name;
  const char *data;
  size_t len;
  parley_err code; /* PARLEY_OK for a valid frame */
  size_t offset;   /* where an invalid frame fails */
  const char *rule;
} wire_case;

static const wire_case valid_table[] = {
  {"verb only", W("PING\r\n\r\n"), PARLEY_OK, 0, NULL},
  {"one header", W("PING\r\nnonce: n1\r\n\r\n"), PARLEY_OK, 0, NULL},
  {"send", W("SEND\r\nconv: c1\r\ntemp-id: t-0001\r\nreq: r5\r\n"
             "content-type: text/plain\r\ncontent-length: 5\r\n\r\nhello"),
   PARLEY_OK, 0, NULL},
  {"zero length", W("BYE\r\ncontent-length: 0\r\n\r\n"), PARLEY_OK, 0,
   NULL},
  {"length before others", W("MSG\r\ncontent-length: 2\r\nconv: c\r\n\r\nhi"),
   PARLEY_OK, 0, NULL},
  {"empty value", W("HELLO\r\ncaps: \r\nversions: 1\r\n\r\n"), PARLEY_OK, 0,
   NULL},
  {"spaces kept in value", W("TYPING\r\nx-note:  a  b \r\n\r\n"), PARLEY_OK, 0,
   NULL},
  {"colon in value", W("X\r\nx-url: http://h:1/a\r\n\r\n"), PARLEY_OK, 0,
   NULL},
  {"all printable ASCII", W("X\r\nx-a: !\"#$%&'()*+,-./0123456789:;<=>?@AZ"
                            "[\\]^_`az{|}~\r\n\r\n"),
   PARLEY_OK, 0, NULL},
  {"UTF-8 value", W("MSG\r\nfrom: \xc3\xa9l\xc3\xa8ve \xe2\x82\xac "
                    "\xf0\x9f\x98\x80\r\n\r\n"),
   PARLEY_OK, 0, NULL},
  {"UTF-8 edges in value", W("X\r\nx-e: \xc2\x80\xdf\xbf\xe0\xa0\x80"
                             "\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"
                             "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\r\n\r\n"),
   PARLEY_OK, 0, NULL},
  {"body with CRLF and UTF-8", W("SEND\r\ncontent-length: 11\r\n\r\n"
                                 "l1\r\n\r\nl2\xe2\x82\xac"),
   PARLEY_OK, 0, NULL},
  {"body looks like a frame", W("SEND\r\ncontent-length: 8\r\n\r\n"
                                "PING\r\n\r\n"),
   PARLEY_OK, 0, NULL},
  {"body with NUL", W("SEND\r\ncontent-length: 3\r\n\r\na\x00z"), PARLEY_OK,
   0, NULL},
  {"verb of 32 octets", W("ABCDEFGHIJKLMNOPQRSTUVWXYZ-01234\r\n\r\n"),
   PARLEY_OK, 0, NULL},
  {"verb with digit and dash", W("X-1\r\n\r\n"), PARLEY_OK, 0, NULL},
  {"name with digit and dash", W("A\r\nx-9-a: v\r\nb-: w\r\n\r\n"),
   PARLEY_OK, 0, NULL},
  {"unknown headers", W("PING\r\nx-private: 1\r\nzz: 2\r\n\r\n"), PARLEY_OK,
   0, NULL},
};

static const wire_case invalid_table[] = {
  /* bad-start-line */
  {"lower-case verb", W("send\r\n\r\n"), PARLEY_E_BAD_START_LINE, 0, "verb"},
  {"mixed-case verb", W("SeND\r\n\r\n"), PARLEY_E_BAD_START_LINE, 1, "verb"},
  {"verb starts with digit", W("1SEND\r\n\r\n"), PARLEY_E_BAD_START_LINE, 0,
   "verb"},
  {"verb starts with dash", W("-A\r\n\r\n"), PARLEY_E_BAD_START_LINE, 0,
   "verb"},
  {"empty start line", W("\r\n\r\n"), PARLEY_E_BAD_START_LINE, 0, "verb"},
  {"space after verb", W("SEND \r\n\r\n"), PARLEY_E_BAD_START_LINE, 4,
   "verb"},
  {"bare LF after verb", W("SEND\nconv: c\r\n\r\n"), PARLEY_E_BAD_START_LINE,
   4, "verb"},
  {"bare CR after verb", W("SEND\rconv: c\r\n\r\n"), PARLEY_E_BAD_START_LINE,
   5, "start-line"},
  {"CR CR LF", W("SEND\r\r\n\r\n"), PARLEY_E_BAD_START_LINE, 5,
   "start-line"},
  {"verb of 33 octets", W("ABCDEFGHIJKLMNOPQRSTUVWXYZ-012345\r\n\r\n"),
   PARLEY_E_BAD_START_LINE, 32, "verb"},
  {"non-ASCII letter in verb", W("S\xc3\x89ND\r\n\r\n"),
   PARLEY_E_BAD_START_LINE, 1, "verb"},
  {"verb is a euro sign", W("\xe2\x82\xac\r\n\r\n"), PARLEY_E_BAD_START_LINE,
   0, "verb"},
  {"bad UTF-8 in verb", W("S\xffND\r\n\r\n"), PARLEY_E_BAD_UTF8, 1, "verb"},
  {"cut UTF-8 in verb", W("S\xc3ND\r\n\r\n"), PARLEY_E_BAD_UTF8, 1, "verb"},
  {"surrogate in verb", W("SEND\xed\xa0\x80\r\n\r\n"), PARLEY_E_BAD_UTF8, 4,
   "verb"},
  {"non-ASCII 33rd verb octet", W("ABCDEFGHIJKLMNOPQRSTUVWXYZ-01234"
                                  "\xc3\xa9\r\n\r\n"),
   PARLEY_E_BAD_START_LINE, 32, "verb"},
  {"leading blank", W(" SEND\r\n\r\n"), PARLEY_E_BAD_START_LINE, 0, "verb"},
  /* bad-header-name */
  {"upper-case name", W("SEND\r\nConv: c1\r\n\r\n"), PARLEY_E_BAD_HEADER_NAME,
   6, "header-name"},
  {"upper-case inside name", W("SEND\r\ncoNv: c1\r\n\r\n"),
   PARLEY_E_BAD_HEADER_NAME, 8, "header-name"},
  {"name starts with digit", W("SEND\r\n1conv: c1\r\n\r\n"),
   PARLEY_E_BAD_HEADER_NAME, 6, "header-name"},
  {"name starts with dash", W("SEND\r\n-a: c1\r\n\r\n"),
   PARLEY_E_BAD_HEADER_NAME, 6, "header-name"},
  {"empty name", W("SEND\r\n: c1\r\n\r\n"), PARLEY_E_BAD_HEADER_NAME, 6,
   "header-name"},
  {"space before colon", W("SEND\r\nconv : c1\r\n\r\n"),
   PARLEY_E_BAD_HEADER_NAME, 10, "header-name"},
  {"no colon", W("SEND\r\nconv\r\n\r\n"), PARLEY_E_BAD_HEADER_NAME, 10,
   "header-name"},
  {"underscore in name", W("SEND\r\nte_mp: c\r\n\r\n"),
   PARLEY_E_BAD_HEADER_NAME, 8, "header-name"},
  {"folded line", W("SEND\r\nconv: a\r\n b\r\n\r\n"), PARLEY_E_BAD_HEADER_NAME,
   15, "header-name"},
  {"bare LF as blank line", W("SEND\r\nconv: c\r\n\nhello"),
   PARLEY_E_BAD_HEADER_NAME, 15, "header-name"},
  {"bare CR as blank line", W("SEND\r\nconv: c\r\n\rhello"),
   PARLEY_E_BAD_HEADER_NAME, 16, "header-name"},
  {"bare CR after start line", W("SEND\r\n\rconv: c\r\n\r\n"),
   PARLEY_E_BAD_HEADER_NAME, 7, "header-name"},
  {"non-ASCII name", W("SEND\r\n\xc3\xa9t\xc3\xa9: c\r\n\r\n"),
   PARLEY_E_BAD_HEADER_NAME, 6, "header-name"},
  /* bad-header-value */
  {"no space after colon", W("SEND\r\nconv:c1\r\n\r\n"),
   PARLEY_E_BAD_HEADER_VALUE, 11, "header-line"},
  {"tab after colon", W("SEND\r\nconv:\tc1\r\n\r\n"),
   PARLEY_E_BAD_HEADER_VALUE, 11, "header-line"},
  {"control octet", W("SEND\r\nconv: c\x01\r\n\r\n"),
   PARLEY_E_BAD_HEADER_VALUE, 13, "header-value"},
  {"tab in value", W("SEND\r\nconv: a\tb\r\n\r\n"), PARLEY_E_BAD_HEADER_VALUE,
   13, "header-value"},
  {"DEL in value", W("SEND\r\nconv: a\x7f\r\n\r\n"),
   PARLEY_E_BAD_HEADER_VALUE, 13, "header-value"},
  {"NUL in value", W("SEND\r\nconv: a\x00\r\n\r\n"),
   PARLEY_E_BAD_HEADER_VALUE, 13, "header-value"},
  {"bare LF in value", W("SEND\r\nconv: c1\nx: y\r\n\r\n"),
   PARLEY_E_BAD_HEADER_VALUE, 14, "header-value"},
  {"bare CR in value", W("SEND\r\nconv: c1\rx\r\n\r\n"),
   PARLEY_E_BAD_HEADER_VALUE, 14, "header-value"},
  {"CR CR LF after value", W("SEND\r\nconv: c1\r\r\n\r\n"),
   PARLEY_E_BAD_HEADER_VALUE, 14, "header-value"},
  /* bad-utf8 in a header value */
  {"overlong in value", W("SEND\r\nconv: \xc0\xaf\r\n\r\n"), PARLEY_E_BAD_UTF8,
   12, "header-value"},
  {"overlong 3 in value", W("SEND\r\nconv: \xe0\x80\xaf\r\n\r\n"),
   PARLEY_E_BAD_UTF8, 12, "header-value"},
  {"overlong 4 in value", W("SEND\r\nconv: \xf0\x80\x80\xaf\r\n\r\n"),
   PARLEY_E_BAD_UTF8, 12, "header-value"},
  {"surrogate in value", W("SEND\r\nconv: x\xed\xa0\x80\r\n\r\n"),
   PARLEY_E_BAD_UTF8, 13, "header-value"},
  {"past U+10FFFF in value", W("SEND\r\nconv: \xf4\x90\x80\x80\r\n\r\n"),
   PARLEY_E_BAD_UTF8, 12, "header-value"},
  {"F5 in value", W("SEND\r\nconv: a\xf5\x80\x80\x80\r\n\r\n"),
   PARLEY_E_BAD_UTF8, 13, "header-value"},
  {"FF in value", W("SEND\r\nconv: \xff\r\n\r\n"), PARLEY_E_BAD_UTF8, 12,
   "header-value"},
  {"lone continuation in value", W("SEND\r\nconv: \x80\r\n\r\n"),
   PARLEY_E_BAD_UTF8, 12, "header-value"},
  {"truncated before CRLF", W("SEND\r\nconv: \xe2\x82\r\n\r\n"),
   PARLEY_E_BAD_UTF8, 12, "header-value"},
  {"truncated before ASCII", W("SEND\r\nconv: \xc3" "A\r\n\r\n"),
   PARLEY_E_BAD_UTF8, 12, "header-value"},
  {"control inside a sequence", W("SEND\r\nconv: \xc3\x01\r\n\r\n"),
   PARLEY_E_BAD_UTF8, 12, "header-value"},
  /* bad-utf8 in the body */
  {"overlong in body", W("SEND\r\ncontent-length: 4\r\n\r\nab\xc0\x80"),
   PARLEY_E_BAD_UTF8, 29, "body"},
  {"surrogate in body", W("SEND\r\ncontent-length: 3\r\n\r\n\xed\xbf\xbf"),
   PARLEY_E_BAD_UTF8, 27, "body"},
  {"past U+10FFFF in body", W("SEND\r\ncontent-length: 4\r\n\r\n"
                              "\xf4\x90\x80\x80"),
   PARLEY_E_BAD_UTF8, 27, "body"},
  {"cut at body end", W("SEND\r\ncontent-length: 2\r\n\r\na\xc3"),
   PARLEY_E_BAD_UTF8, 28, "body"},
  {"cut at body end, frame follows", W("SEND\r\ncontent-length: 3\r\n\r\n"
                                       "a\xe2\x82PING\r\n\r\n"),
   PARLEY_E_BAD_UTF8, 28, "body"},
  {"Latin-1 body", W("SEND\r\ncontent-length: 3\r\n\r\nd\xe9j"),
   PARLEY_E_BAD_UTF8, 28, "body"},
  {"lone continuation in body", W("SEND\r\ncontent-length: 3\r\n\r\nab\x80"),
   PARLEY_E_BAD_UTF8, 29, "body"},
  /* bad-length: the value starts at offset 22 */
  {"length with letter", W("SEND\r\ncontent-length: 5a\r\n\r\nhello"),
   PARLEY_E_BAD_LENGTH, 22, "content-length"},
  {"length with leading zero", W("SEND\r\ncontent-length: 05\r\n\r\nhello"),
   PARLEY_E_BAD_LENGTH, 22, "content-length"},
  {"length 00", W("SEND\r\ncontent-length: 00\r\n\r\n"), PARLEY_E_BAD_LENGTH,
   22, "content-length"},
  {"empty length", W("SEND\r\ncontent-length: \r\n\r\n"), PARLEY_E_BAD_LENGTH,
   22, "content-length"},
  {"negative length", W("SEND\r\ncontent-length: -5\r\n\r\nhello"),
   PARLEY_E_BAD_LENGTH, 22, "content-length"},
  {"length with plus", W("SEND\r\ncontent-length: +5\r\n\r\nhello"),
   PARLEY_E_BAD_LENGTH, 22, "content-length"},
  {"length with space", W("SEND\r\ncontent-length: 5 \r\n\r\nhello"),
   PARLEY_E_BAD_LENGTH, 22, "content-length"},
  {"length in hex", W("SEND\r\ncontent-length: 0x5\r\n\r\nhello"),
   PARLEY_E_BAD_LENGTH, 22, "content-length"},
  {"length with UTF-8 digit", W("SEND\r\ncontent-length: \xd9\xa5\r\n\r\n"),
   PARLEY_E_BAD_LENGTH, 22, "content-length"},
  /* frame-too-large: a number of any size is a number (section 2.8) */
  {"length past 64 bits", W("SEND\r\ncontent-length: 18446744073709551616"
                            "\r\n\r\n"),
   PARLEY_E_FRAME_TOO_LARGE, 22, "content-length"},
  {"length of 400 digits", W("SEND\r\ncontent-length: "
   "1234567890123456789012345678901234567890123456789012345678901234567890"
   "1234567890123456789012345678901234567890123456789012345678901234567890"
   "1234567890123456789012345678901234567890123456789012345678901234567890"
   "1234567890123456789012345678901234567890123456789012345678901234567890"
   "1234567890123456789012345678901234567890123456789012345678901234567890"
   "12345678901234567890123456789012345678901234567890\r\n\r\n"),
   PARLEY_E_FRAME_TOO_LARGE, 22, "content-length"},
  /* frame-too-large from content-length, before any body octet; the
   * last one passes the limit only with the header line after it */
  {"length past the limit", W("SEND\r\ncontent-length: 65537\r\n\r\n"),
   PARLEY_E_FRAME_TOO_LARGE, 22, "content-length"},
  {"length at 64-bit max", W("SEND\r\ncontent-length: 18446744073709551615"
                             "\r\n\r\n"),
   PARLEY_E_FRAME_TOO_LARGE, 22, "content-length"},
  {"length past the limit, no blank line yet",
   W("SEND\r\ncontent-length: 65510\r\nconv: c1\r\n"),
   PARLEY_E_FRAME_TOO_LARGE, 22, "content-length"},
  {"length within the limit until more lines",
   W("SEND\r\ncontent-length: 65505\r\nconv: c1\r\n\r\n"),
   PARLEY_E_FRAME_TOO_LARGE, 41, "frame"},
  /* duplicate-header */
  {"duplicate header", W("SEND\r\nconv: a\r\nconv: b\r\n\r\n"),
   PARLEY_E_DUPLICATE_HEADER, 15, "header-name"},
  {"duplicate with same value", W("SEND\r\nconv: a\r\nx: 1\r\nconv: a\r\n\r\n"),
   PARLEY_E_DUPLICATE_HEADER, 21, "header-name"},
  {"duplicate content-length", W("SEND\r\ncontent-length: 1\r\n"
                                 "content-length: 1\r\n\r\nx"),
   PARLEY_E_DUPLICATE_HEADER, 25, "header-name"},
};

#define TABLE_LEN(t) (sizeof(t) / sizeof((t)[0]))

/* Frames built at run time: the limits of section 2.3 and one past. */
static char big_frame[PARLEY_FRAME_SIZE_MAX];
static char many_headers[6 + 33 * 8 + 2 + 1]; /* and sprintf's NUL */
static char long_line[6 + 1025 + 2 + 2];
static wire_case generated[12];

/* "SEND" and `n` header lines "hNN: v", then the blank line. */
static size_t build_headers(char *out, size_t n)
{
  size_t len = 0;

  len += (size_t)sprintf(out + len, "SEND\r\n");
  for (size_t i = 0; i < n; i++)
    len += (size_t)sprintf(out + len, "h%02zu: v\r\n", i);
  len += (size_t)sprintf(out + len, "\r\n");
  return len;
}

/* "SEND" and one header line of `line` octets (without CRLF) whose value
 * is 'a's and then `tail`. */
static size_t build_line_with(char *out, size_t line, const char *tail)
{
  size_t tail_len = strlen(tail);
  size_t len = (size_t)sprintf(out, "SEND\r\nx-long: ");

  memset(out + len, 'a', line - 8 - tail_len);
  len += line - 8 - tail_len;
  memcpy(out + len, tail, tail_len);
  len += tail_len;
  memcpy(out + len, "\r\n\r\n", 4);
  return len + 4;
}

static size_t build_long_line(char *out, size_t line)
{
  return build_line_with(out, line, "");
}

/* A frame of exactly `size` octets, most of them body. */
static size_t build_sized(char *out, size_t size)
{
  size_t body = size - 31; /* SEND, content-length of 5 digits, CRLFs */
  size_t len = (size_t)sprintf(out, "SEND\r\ncontent-length: %05zu\r\n\r\n",
                               body);
  cr_assert_eq(len, 31);
  for (size_t i = 0; i < body; i++)
    out[len + i] = (char)('a' + i % 26);
  return len + body;
}

static void add_generated(size_t *n, wire_case c)
{
  cr_assert_lt(*n, TABLE_LEN(generated));
  generated[(*n)++] = c;
}

/* Fills `generated` with the frames at and around the limits; returns
 * how many. Offsets: the header line starts at 6, its 1025th octet is at
 * 6 + 1024, the 33rd line of 8-octet lines at 6 + 32 * 8. */
static size_t build_generated(void)
{
  static char line_ok[6 + 1024 + 4], line_utf8[6 + 1025 + 4];
  static char line_bad_utf8[6 + 1026 + 4], line_ctl[6 + 1025 + 4];
  static char headers_ok[6 + 32 * 8 + 3], bad_33rd[6 + 33 * 8 + 3];
  size_t n = 0;

  add_generated(&n, (wire_case){"32 headers", headers_ok,
                build_headers(headers_ok, 32), PARLEY_OK, 0, NULL});
  add_generated(&n, (wire_case){"33 headers", many_headers,
                build_headers(many_headers, 33), PARLEY_E_TOO_MANY_HEADERS,
                6 + 32 * 8, "header-line"});
  size_t len = build_headers(bad_33rd, 33);
  bad_33rd[6 + 32 * 8] = 'H'; /* not a name, but the count comes first */
  add_generated(&n, (wire_case){"33rd line starts badly", bad_33rd, len,
                PARLEY_E_TOO_MANY_HEADERS, 6 + 32 * 8, "header-line"});
  add_generated(&n, (wire_case){"line of 1024", line_ok,
                build_long_line(line_ok, 1024), PARLEY_OK, 0, NULL});
  add_generated(&n, (wire_case){"line of 1025", long_line,
                build_long_line(long_line, 1025), PARLEY_E_HEADER_TOO_LONG,
                6 + 1024, "header-line"});
  add_generated(&n, (wire_case){"UTF-8 across the line limit", line_utf8,
                build_line_with(line_utf8, 1025, "\xc3\xa9"),
                PARLEY_E_HEADER_TOO_LONG, 6 + 1023, "header-line"});
  add_generated(&n, (wire_case){"bad UTF-8 across the line limit",
                line_bad_utf8,
                build_line_with(line_bad_utf8, 1026, "\xe2\x82" "A"),
                PARLEY_E_BAD_UTF8, 6 + 1023, "header-value"});
  add_generated(&n, (wire_case){"control octet past the line limit",
                line_ctl, build_line_with(line_ctl, 1025, "\x01"),
                PARLEY_E_HEADER_TOO_LONG, 6 + 1024, "header-line"});
  add_generated(&n, (wire_case){"frame of 65536", big_frame,
                build_sized(big_frame, sizeof big_frame), PARLEY_OK, 0,
                NULL});
  return n;
}

/* Calls `check` for every case of both tables and the generated ones
 * whose validity is `valid`. */
static void for_each_case(bool valid, void (*check)(const wire_case *))
{
  const wire_case *t = valid ? valid_table : invalid_table;
  size_t n = valid ? TABLE_LEN(valid_table) : TABLE_LEN(invalid_table);
  size_t g = build_generated();

  for (size_t i = 0; i < n; i++)
    check(&t[i]);
  for (size_t i = 0; i < g; i++)
    if ((generated[i].code == PARLEY_OK) == valid)
      check(&generated[i]);
}

/* ---- valid frames ------------------------------------------------------ */

/* spec: FRAME-1 EXT-1 */
Test(frame, decodes_fields)
{
  parley_parse_error e;
  json_t *got = message_json(W("SEND\r\nconv: c1\r\ntemp-id: t-1\r\n"
                               "content-length: 5\r\n\r\nhello"), &e);
  json_t *want = json_loads("{\"verb\": \"SEND\", \"headers\": [[\"conv\", "
                            "\"c1\"], [\"temp-id\", \"t-1\"], "
                            "[\"content-length\", \"5\"]], \"body\": "
                            "\"hello\"}", 0, NULL);
  cr_assert_not_null(got, "failed with %d at %zu", e.code, e.offset);
  expect_json_eq(got, want, "SEND");
  json_decref(got);
  json_decref(want);
}

/* spec: FRAME-4 */
Test(frame, get_and_length_flag)
{
  parley_parser p = {0};
  parley_frame f;
  parley_parse_error e;

  cr_assert_eq(parse_guarded(&p, W("ACK\r\nseq: 3\r\ncontent-length: 0\r\n"
                                   "\r\n"), &f, &e), PARLEY_OK);
  cr_assert(f.has_length);
  cr_assert_eq(f.body.len, 0);
  cr_assert(parley_str_eq(*parley_frame_get(&f, "seq"), "3"));
  cr_assert_null(parley_frame_get(&f, "se"));
  cr_assert_null(parley_frame_get(&f, "Seq"));
  cr_assert(parley_str_eq(f.verb, "ACK"));
  cr_assert(!parley_str_eq(f.verb, "AC"));
  cr_assert_eq(parse_guarded(&p, W("PING\r\n\r\n"), &f, &e), PARLEY_OK);
  cr_assert(!f.has_length);
  cr_assert_eq(f.header_count, 0);
  parley_parser_free(&p);
}

static void check_valid_case(const wire_case *c)
{
  parley_parse_error e;
  json_t *want = message_json(c->data, c->len, &e);

  cr_assert_not_null(want, "%s: failed with %d at %zu (%s)", c->name, e.code,
                     e.offset, e.rule);
  check_valid_everywhere(c->name, c->data, c->len, want);
  json_decref(want);
}

/* spec: FRAME-1 FRAME-2 FRAME-4 FRAME-5 WS-1 STREAM-1 */
Test(frame, valid_frames_at_every_split, .timeout = 240)
{
  for_each_case(true, check_valid_case);
}

/* All valid frames in one buffer, several times over, come out in order
 * whole, cut in two anywhere, and octet by octet. */
/* spec: FRAME-1 STREAM-1 */
Test(frame, concatenated_frames_in_order, .timeout = 120)
{
  size_t n = TABLE_LEN(valid_table);
  size_t len = 0;
  char *all = malloc(8192);
  json_t *want = json_array();
  parley_parse_error e;

  for (size_t round = 0; round < 2; round++)
    for (size_t i = 0; i < n; i++) {
      cr_assert_leq(len + valid_table[i].len, 8192);
      memcpy(all + len, valid_table[i].data, valid_table[i].len);
      len += valid_table[i].len;
      json_array_append_new(want, message_json(valid_table[i].data,
                                               valid_table[i].len, &e));
    }
  for (size_t cut = 0; cut <= len + 1; cut++) {
    stream_result r = cut <= len ? run_split(all, len, cut)
                                 : run_bytes(all, len);
    cr_assert(!r.failed, "cut at %zu: failed at %zu", cut, r.err.offset);
    cr_assert_eq(r.pending, 0);
    expect_json_eq(r.frames, want, "concatenated frames");
    json_decref(r.frames);
  }
  json_decref(want);
  free(all);
}

/* ---- invalid frames ---------------------------------------------------- */

static void check_invalid_case(const wire_case *c)
{
  parley_parser p = {0};
  parley_frame f;
  parley_parse_error e = {PARLEY_OK, 0, NULL};
  parley_err code = parse_guarded(&p, c->data, c->len, &f, &e);

  cr_assert_eq(code, c->code, "%s: code %d, want %d", c->name, code,
               c->code);
  cr_assert_eq(e.code, c->code, "%s: err.code %d", c->name, e.code);
  cr_assert_eq(e.offset, c->offset, "%s: offset %zu, want %zu", c->name,
               e.offset, c->offset);
  cr_assert_str_eq(e.rule, c->rule, "%s: rule %s, want %s", c->name, e.rule,
                   c->rule);
  parley_parser_free(&p);
  check_invalid_everywhere(c->name, c->data, c->len, c->code, c->offset);
}

/* spec: FRAME-1 FRAME-2 FRAME-4 FRAME-5 FRAME-6 FRAME-10 STREAM-1 */
Test(frame, invalid_frames_at_every_split, .timeout = 120)
{
  for_each_case(false, check_invalid_case);
}

/* Each malformed kind has its own code: the table holds them all. */
/* spec: FRAME-1 FRAME-2 FRAME-4 FRAME-5 FRAME-6 */
Test(frame, every_frame_error_code_is_covered)
{
  static const parley_err kinds[] = {
    PARLEY_E_BAD_START_LINE, PARLEY_E_BAD_HEADER_NAME,
    PARLEY_E_BAD_HEADER_VALUE, PARLEY_E_BAD_UTF8, PARLEY_E_BAD_LENGTH,
    PARLEY_E_FRAME_TOO_LARGE, PARLEY_E_HEADER_TOO_LONG,
    PARLEY_E_TOO_MANY_HEADERS, PARLEY_E_DUPLICATE_HEADER};
  size_t g = build_generated();

  for (size_t k = 0; k < TABLE_LEN(kinds); k++) {
    bool seen = false;
    for (size_t i = 0; i < TABLE_LEN(invalid_table); i++)
      seen = seen || invalid_table[i].code == kinds[k];
    for (size_t i = 0; i < g; i++)
      seen = seen || generated[i].code == kinds[k];
    cr_assert(seen, "no case for %s", parley_err_reason(kinds[k]));
  }
}

typedef struct message_case {
  const char *name;
  const char *data;
  size_t len;
  parley_err code;
  size_t offset;
} message_case;

static const message_case message_table[] = {
  {"empty message", W(""), PARLEY_E_TRUNCATED_FRAME, 0},
  {"verb only", W("PING"), PARLEY_E_TRUNCATED_FRAME, 4},
  {"no blank line", W("SEND\r\nconv: c1\r\n"), PARLEY_E_TRUNCATED_FRAME, 16},
  {"half a CRLF", W("PING\r\n\r"), PARLEY_E_TRUNCATED_FRAME, 7},
  {"truncated body", W("SEND\r\ncontent-length: 5\r\n\r\nhel"),
   PARLEY_E_TRUNCATED_FRAME, 30},
  {"body without length", W("SEND\r\nconv: c1\r\n\r\nhello"),
   PARLEY_E_LENGTH_REQUIRED, 18},
  {"two frames without length", W("PING\r\n\r\nPING\r\n\r\n"),
   PARLEY_E_LENGTH_REQUIRED, 8},
  {"octet after the body", W("SEND\r\ncontent-length: 2\r\n\r\nhi!"),
   PARLEY_E_EXTRA_DATA, 29},
  {"two frames", W("BYE\r\ncontent-length: 0\r\n\r\nBYE\r\n\r\n"),
   PARLEY_E_EXTRA_DATA, 26},
  {"CRLF after the frame", W("SEND\r\ncontent-length: 1\r\n\r\nx\r\n"),
   PARLEY_E_EXTRA_DATA, 28},
};

/* spec: WS-1 WS-2 */
Test(frame, message_mode_one_frame_per_message)
{
  parley_parser p = {0};

  for (size_t i = 0; i < TABLE_LEN(message_table); i++) {
    const message_case *c = &message_table[i];
    parley_frame f;
    parley_parse_error e = {PARLEY_OK, 0, NULL};
    parley_err code = parse_guarded(&p, c->data, c->len, &f, &e);
    cr_assert_eq(code, c->code, "%s: code %d, want %d", c->name, code,
                 c->code);
    cr_assert_eq(e.code, c->code, "%s", c->name);
    cr_assert_eq(e.offset, c->offset, "%s: offset %zu, want %zu", c->name,
                 e.offset, c->offset);
    cr_assert_not_null(e.rule);
    /* the next message parses: an error does not end the session */
    cr_assert_eq(parse_guarded(&p, W("PING\r\n\r\n"), &f, &e), PARLEY_OK);
  }
  parley_parser_free(&p);
}

/* A message that ends right at the 1,024th octet of a header line is cut
 * short, whether the line is all name, name and colon, or name, colon and
 * space; one octet more is the 1,025th and the line is too long. */
/* spec: FRAME-10 WS-2 */
Test(frame, message_ending_at_the_line_limit_is_truncated)
{
  static const char *const tails[] = {"x", ":", ": "};
  static char msg[6 + 1025];
  parley_parser p = {0};

  for (size_t i = 0; i < TABLE_LEN(tails); i++) {
    size_t tail = strlen(tails[i]);
    parley_frame f;
    parley_parse_error e = {PARLEY_OK, 0, NULL};
    memcpy(msg, "SYNC\r\n", 6);
    memset(msg + 6, 'x', 1024 - tail);
    memcpy(msg + 6 + 1024 - tail, tails[i], tail);
    cr_assert_eq(parse_guarded(&p, msg, 6 + 1024, &f, &e),
                 PARLEY_E_TRUNCATED_FRAME, "tail \"%s\"", tails[i]);
    cr_assert_eq(e.offset, 6 + 1024);
    msg[6 + 1024] = 'x';
    cr_assert_eq(parse_guarded(&p, msg, 6 + 1025, &f, &e),
                 PARLEY_E_HEADER_TOO_LONG, "tail \"%s\" and one", tails[i]);
    cr_assert_eq(e.offset, 6 + 1024);
  }
  parley_parser_free(&p);
}

/* On a stream the same octets are a partial frame or a frame followed by
 * the start of the next. */
/* spec: FRAME-1 STREAM-1 */
Test(frame, stream_mode_partial_and_following)
{
  stream_result r = run_cuts(NULL, W("SEND\r\ncontent-length: 5\r\n\r\nhel"),
                             NULL, 0);
  cr_assert(!r.failed);
  cr_assert_eq(json_array_size(r.frames), 0);
  cr_assert_eq(r.pending, 30);
  json_decref(r.frames);

  parley_parser p = {0};
  parley_frame f;
  parley_parse_error e;
  size_t used = 0;
  const char *two = "PING\r\n\r\nPI";
  cr_assert_eq(parley_parser_feed(&p, two, 10, &used, &f, &e),
               PARLEY_PARSE_FRAME);
  cr_assert_eq(used, 8);
  cr_assert_eq(parley_parser_feed(&p, two + 8, 2, &used, &f, &e),
               PARLEY_PARSE_PARTIAL);
  cr_assert_eq(used, 2);
  cr_assert_eq(parley_parser_feed(&p, "NG\r\n\r\n", 6, &used, &f, &e),
               PARLEY_PARSE_FRAME);
  cr_assert(parley_str_eq(f.verb, "PING"));
  parley_parser_free(&p);
}

/* A failure sticks until reset; after reset the parser works again. */
/* spec: FRAME-1 */
Test(frame, failure_sticks_until_reset)
{
  parley_parser p;
  parley_frame f;
  parley_parse_error e;
  size_t used = 0;

  parley_parser_init(&p, NULL);
  cr_assert_eq(parley_parser_feed(&p, "send\r\n", 6, &used, &f, &e),
               PARLEY_PARSE_ERROR);
  cr_assert_eq(parley_parser_feed(&p, "PING\r\n\r\n", 8, &used, &f, &e),
               PARLEY_PARSE_ERROR);
  cr_assert_eq(e.code, PARLEY_E_BAD_START_LINE);
  cr_assert_eq(e.offset, 0);
  parley_parser_reset(&p);
  cr_assert_eq(parley_parser_feed(&p, "PING\r\n\r\n", 8, &used, &f, &e),
               PARLEY_PARSE_FRAME);
  parley_parser_free(&p);
  cr_assert_null(p.buf);
}

/* ---- limits ------------------------------------------------------------ */

/* A header flood is refused at the first octet of the 33rd line, having
 * buffered little more than the 32 lines. */
/* spec: FRAME-2 */
Test(frame, header_flood_refused_at_33rd_line)
{
  size_t lines = 5000;
  char *flood = malloc(6 + lines * 9 + 1);
  size_t len = 0;
  parley_parser p = {0};
  parley_frame f;
  parley_parse_error e;
  size_t used = 0;

  len += (size_t)sprintf(flood, "SEND\r\n");
  for (size_t i = 0; i < lines; i++)
    len += (size_t)sprintf(flood + len, "x%03zu: v\r\n", i % 1000);
  char *g = parley_guard_place(flood, len);
  cr_assert_eq(parley_parser_feed(&p, g, len, &used, &f, &e),
               PARLEY_PARSE_ERROR);
  cr_assert_eq(e.code, PARLEY_E_TOO_MANY_HEADERS);
  cr_assert_eq(e.offset, 6 + 32 * 9);
  cr_assert_leq(p.buf_cap, 1024, "buffered %zu octets", p.buf_cap);
  parley_parser_free(&p);
  free(flood);
}

/* Parses `data` as one message with the limits `lim`; returns the code
 * and, through *offset, where it failed. */
static parley_err parse_with(parley_limits lim, const char *data, size_t len,
                             size_t *offset)
{
  parley_parser p;
  parley_frame f;
  parley_parse_error e = {PARLEY_OK, 0, NULL};

  parley_parser_init(&p, &lim);
  parley_err code = parse_guarded(&p, data, len, &f, &e);
  *offset = e.offset;
  cr_assert_leq(p.buf_cap, lim.frame_size_max ? lim.frame_size_max
                                              : PARLEY_FRAME_SIZE_MAX);
  parley_parser_free(&p);
  return code;
}

/* Lower stated limits apply; higher ones are capped at section 2.3. */
/* spec: FRAME-2 WS-7 */
Test(frame, stated_limits)
{
  parley_limits count = {.header_count_max = 2};
  parley_limits line = {.header_line_max = 10};
  parley_limits size = {.frame_size_max = 40};
  parley_limits above = {.frame_size_max = 1u << 20,
                         .header_count_max = 100,
                         .header_line_max = 5000};
  size_t off = 0;

  cr_assert_eq(parse_with(count, W("SEND\r\na: 1\r\nb: 2\r\n\r\n"), &off),
               PARLEY_OK);
  cr_assert_eq(parse_with(count, W("SEND\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n"),
                          &off), PARLEY_E_TOO_MANY_HEADERS);
  cr_assert_eq(off, 18);
  cr_assert_eq(parse_with(line, W("SEND\r\nabcd: 1234\r\n\r\n"), &off),
               PARLEY_OK);
  cr_assert_eq(parse_with(line, W("SEND\r\nabcd: 12345\r\n\r\n"), &off),
               PARLEY_E_HEADER_TOO_LONG);
  cr_assert_eq(off, 16);
  cr_assert_eq(parse_with(size, W("SEND\r\ncontent-length: 12\r\n\r\n"
                                  "hello world!"), &off), PARLEY_OK);
  cr_assert_eq(parse_with(size, W("SEND\r\ncontent-length: 13\r\n\r\n"
                                  "hello world!"), &off),
               PARLEY_E_FRAME_TOO_LARGE);
  cr_assert_eq(off, 22);
  /* a message past the limit is refused unread (WS-7) */
  cr_assert_eq(parse_with(size, W("SEND\r\ncontent-length: 13\r\n\r\n"
                                  "hello world!!"), &off),
               PARLEY_E_FRAME_TOO_LARGE);
  cr_assert_eq(off, 40);
  cr_assert_eq(parse_with(size, W("SEND\r\nab: 1\r\ncd: 1234567\r\nef: 1234567"
                                  "\r\n\r\n"), &off),
               PARLEY_E_FRAME_TOO_LARGE);
  cr_assert_eq(off, 40);
  cr_assert_eq(parse_with(above, W("SEND\r\ncontent-length: 65537\r\n\r\n"),
                          &off), PARLEY_E_FRAME_TOO_LARGE);
  cr_assert_eq(parse_with(above, many_headers,
                          build_headers(many_headers, 33), &off),
               PARLEY_E_TOO_MANY_HEADERS);
  cr_assert_eq(parse_with(above, long_line, build_long_line(long_line, 1025),
                          &off), PARLEY_E_HEADER_TOO_LONG);
}

/* The header section passing a stated limit fails at the first octet
 * past it, however it is cut. */
/* spec: FRAME-2 */
Test(frame, header_section_past_limit_at_every_split)
{
  parley_limits lim = {.frame_size_max = 30};
  const char *data = "SEND\r\nconv: c1\r\ntemp-id: t-0001\r\n\r\n";
  size_t len = strlen(data);

  for (size_t cut = 0; cut <= len; cut++) {
    stream_result r = run_cuts(&lim, data, len, &cut, 1);
    cr_assert(r.failed);
    cr_assert_eq(r.err.code, PARLEY_E_FRAME_TOO_LARGE, "cut %zu", cut);
    cr_assert_eq(r.err.offset, 30, "cut %zu", cut);
    json_decref(r.frames);
  }
}

/* content-length past the limit is refused when its line ends, before
 * the blank line or any body octet. */
/* spec: FRAME-2 FRAME-4 */
Test(frame, large_length_refused_before_body)
{
  parley_parser p = {0};
  parley_frame f;
  parley_parse_error e;
  size_t used = 0;
  const char *head = "SEND\r\ncontent-length: 100000\r\n";

  cr_assert_eq(parley_parser_feed(&p, head, strlen(head), &used, &f, &e),
               PARLEY_PARSE_ERROR);
  cr_assert_eq(e.code, PARLEY_E_FRAME_TOO_LARGE);
  cr_assert_eq(e.offset, 22);
  cr_assert_str_eq(e.rule, "content-length");
  cr_assert_leq(p.buf_cap, 1024);
  parley_parser_free(&p);
}

/* A zeroed parser has the default limits, and a frame of exactly the
 * frame limit is buffered in no more than the limit. A message one octet
 * longer is refused without being taken into memory. */
/* spec: FRAME-2 WS-7 */
Test(frame, zeroed_parser_and_buffer_bound)
{
  static char longer[PARLEY_FRAME_SIZE_MAX + 1];
  parley_parser p;
  parley_frame f;
  parley_parse_error e;
  size_t len = build_sized(big_frame, sizeof big_frame);

  memset(&p, 0, sizeof p);
  cr_assert_eq(parse_guarded(&p, big_frame, len, &f, &e), PARLEY_OK);
  cr_assert_eq(f.body.len, PARLEY_FRAME_SIZE_MAX - 31);
  cr_assert_eq(p.buf_cap, PARLEY_FRAME_SIZE_MAX);
  parley_parser_free(&p);

  memcpy(longer, big_frame, len);
  longer[len] = 'z';
  cr_assert_eq(parse_guarded(&p, longer, sizeof longer, &f, &e),
               PARLEY_E_FRAME_TOO_LARGE);
  cr_assert_eq(e.offset, PARLEY_FRAME_SIZE_MAX);
  cr_assert_eq(p.buf_cap, 0, "the message was buffered");
  parley_parser_free(&p);
}

/* ---- the spec's worked examples ---------------------------------------- */

typedef struct example {
  char name[64];
  bool invalid;
  char *wire;
  size_t wire_len;
  json_t *json;
} example;

typedef struct example_set {
  example items[128];
  size_t count;
} example_set;

/* The wire form of a parley-frame block: lines up to and including the
 * first empty one end with CRLF; the rest are the body, joined by CRLF. */
static void example_wire(example *ex, char **lines, size_t n)
{
  size_t cap = 2;
  size_t len = 0;
  bool in_body = false;

  for (size_t i = 0; i < n; i++)
    cap += strlen(lines[i]) + 2;
  ex->wire = malloc(cap);
  cr_assert_not_null(ex->wire);
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(lines[i]);
    memcpy(ex->wire + len, lines[i], l);
    len += l;
    if (!in_body || i + 1 < n) {
      memcpy(ex->wire + len, "\r\n", 2);
      len += 2;
    }
    if (!in_body && l == 0)
      in_body = true;
  }
  ex->wire_len = len;
}

/* Finds the example called `name`, adding it when new. */
static example *example_get(example_set *set, const char *name)
{
  for (size_t i = 0; i < set->count; i++)
    if (strcmp(set->items[i].name, name) == 0)
      return &set->items[i];
  cr_assert_lt(set->count, TABLE_LEN(set->items), "too many examples");
  example *ex = &set->items[set->count++];
  memset(ex, 0, sizeof *ex);
  snprintf(ex->name, sizeof ex->name, "%s", name);
  return ex;
}

/* Reads the lines of a fenced block after `*pos` up to its closing fence
 * into `lines`; returns their number. */
static size_t block_lines(char **cursor, char **lines, size_t max)
{
  size_t n = 0;

  for (;;) {
    char *line = *cursor;
    cr_assert_not_null(line, "unterminated code block");
    char *nl = strchr(line, '\n');
    if (nl != NULL)
      *nl = '\0';
    *cursor = nl != NULL ? nl + 1 : NULL;
    if (strncmp(line, "```", 3) == 0)
      return n;
    cr_assert_lt(n, max, "code block too long");
    lines[n++] = line;
  }
}

/* Handles one fenced block opened by `info`. */
static void example_block(example_set *set, const char *info, char **cursor)
{
  char *lines[512];
  char name[64] = "";
  bool frame = strncmp(info, "parley-frame example=", 21) == 0;
  size_t n = block_lines(cursor, lines, TABLE_LEN(lines));

  sscanf(strchr(info, '=') + 1, "%63s", name);
  example *ex = example_get(set, name);
  if (frame) {
    cr_assert_null(ex->wire, "example %s has two frames", name);
    ex->invalid = strlen(info) > 8 &&
                  strcmp(info + strlen(info) - 8, " invalid") == 0;
    example_wire(ex, lines, n);
    return;
  }
  size_t text_len = 0;
  char text[8192] = "";
  for (size_t i = 0; i < n; i++)
    text_len += (size_t)snprintf(text + text_len, sizeof text - text_len,
                                 "%s\n", lines[i]);
  json_error_t jerr;
  ex->json = json_loads(text, 0, &jerr);
  cr_assert_not_null(ex->json, "example %s: JSON: %s", name, jerr.text);
}

/* Reads every example of the Markdown file at `path`. */
static void examples_load(const char *path, example_set *set, char **text)
{
  FILE *fp = fopen(path, "rb");
  cr_assert_not_null(fp, "cannot open %s", path);
  fseek(fp, 0, SEEK_END);
  long size = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  *text = calloc((size_t)size + 1, 1);
  cr_assert_eq(fread(*text, 1, (size_t)size, fp), (size_t)size);
  fclose(fp);

  char *cursor = *text;
  set->count = 0;
  while (cursor != NULL) {
    char *line = cursor;
    char *nl = strchr(line, '\n');
    if (nl != NULL)
      *nl = '\0';
    cursor = nl != NULL ? nl + 1 : NULL;
    if (strncmp(line, "```parley-frame example=", 24) == 0 ||
        strncmp(line, "```json example=", 16) == 0)
      example_block(set, line + 3, &cursor);
  }
}

/* Checks one example whole, cut anywhere, and octet by octet. */
static void example_check(const example *ex)
{
  parley_parse_error e = {PARLEY_OK, 0, NULL};

  cr_assert_not_null(ex->wire, "example %s has no frame", ex->name);
  cr_assert_not_null(ex->json, "example %s has no JSON", ex->name);
  json_t *got = message_json(ex->wire, ex->wire_len, &e);
  if (!ex->invalid) {
    cr_assert_not_null(got, "example %s: %s at %zu (%s)", ex->name,
                       parley_err_reason(e.code), e.offset, e.rule);
    expect_json_eq(got, ex->json, ex->name);
    check_valid_everywhere(ex->name, ex->wire, ex->wire_len, ex->json);
    json_decref(got);
    return;
  }
  const char *reason = json_string_value(json_object_get(ex->json, "error"));
  cr_assert_not_null(reason, "example %s: no \"error\"", ex->name);
  parley_err want = parley_err_from_reason(reason);
  cr_assert_neq(want, PARLEY_OK, "example %s: unknown reason %s", ex->name,
                reason);
  cr_assert_null(got, "example %s parsed but must fail", ex->name);
  cr_assert_eq(e.code, want, "example %s: %s, want %s", ex->name,
               parley_err_reason(e.code), reason);
  json_t *off = json_object_get(ex->json, "offset");
  if (off != NULL)
    cr_assert_eq(e.offset, (size_t)json_integer_value(off),
                 "example %s: offset %zu, want %lld", ex->name, e.offset,
                 json_integer_value(off));
  if (want != PARLEY_E_TRUNCATED_FRAME && want != PARLEY_E_EXTRA_DATA &&
      want != PARLEY_E_LENGTH_REQUIRED)
    check_invalid_everywhere(ex->name, ex->wire, ex->wire_len, want,
                             e.offset);
}

/* Checks every example of `path`; returns how many there were. */
static size_t examples_check_file(const char *path)
{
  static example_set set;
  char *text = NULL;

  examples_load(path, &set, &text);
  for (size_t i = 0; i < set.count; i++)
    example_check(&set.items[i]);
  for (size_t i = 0; i < set.count; i++) {
    free(set.items[i].wire);
    json_decref(set.items[i].json);
  }
  free(text);
  return set.count;
}

/* spec: FRAME-1 FRAME-2 FRAME-4 FRAME-5 FRAME-6 FRAME-10 WS-1 WS-2 */
Test(frame, spec_examples, .timeout = 120)
{
  size_t n = examples_check_file(PARLEY_SOURCE_DIR "/spec/parley-1.md");

  cr_assert_gt(n, 0, "spec/parley-1.md holds no parley-frame examples");
  cr_log_info("%zu spec examples checked", n);
}

/* ---- the serializer ---------------------------------------------------- */

static void expect_bytes(const parley_buf *b, const char *want, size_t len)
{
  cr_assert_eq(b->len, len, "length %zu, want %zu", b->len, len);
  cr_assert(memcmp(b->data, want, len) == 0, "got \"%.*s\"", (int)b->len,
            b->data);
}

/* spec: FRAME-1 FRAME-4 */
Test(frame_write, builds_frames_in_one_buffer)
{
  static const char want[] =
    "SEND\r\nconv: c1\r\nseq: 18446744073709551615\r\ncontent-length: 5\r\n"
    "\r\nhelloPING\r\n\r\nBYE\r\ncontent-length: 0\r\n\r\n";
  parley_buf b = {0};

  cr_assert_eq(parley_frame_begin(&b, "SEND"), PARLEY_OK);
  cr_assert_eq(parley_frame_header_str(&b, "conv", "c1"), PARLEY_OK);
  cr_assert_eq(parley_frame_header_u64(&b, "seq", UINT64_MAX), PARLEY_OK);
  cr_assert_eq(parley_frame_end(&b, "hello", 5, false), PARLEY_OK);
  cr_assert_eq(parley_frame_begin(&b, "PING"), PARLEY_OK);
  cr_assert_eq(parley_frame_end(&b, NULL, 0, false), PARLEY_OK);
  cr_assert_eq(parley_frame_begin(&b, "BYE"), PARLEY_OK);
  cr_assert_eq(parley_frame_end(&b, "", 0, true), PARLEY_OK);
  expect_bytes(&b, want, sizeof want - 1);

  stream_result r = run_whole(b.data, b.len);
  cr_assert(!r.failed);
  cr_assert_eq(json_array_size(r.frames), 3);
  json_decref(r.frames);
  parley_buf_clear(&b);
  cr_assert_eq(b.len, 0);
  parley_buf_free(&b);
  cr_assert_null(b.data);
}

static void check_round_trip(const wire_case *c)
{
  parley_parser p = {0};
  parley_frame f;
  parley_parse_error e;
  parley_buf b = {0};

  cr_assert_eq(parse_guarded(&p, c->data, c->len, &f, &e), PARLEY_OK,
               "%s", c->name);
  cr_assert_eq(parley_frame_serialize(&f, &b), PARLEY_OK, "%s", c->name);
  cr_assert(b.len == c->len && memcmp(b.data, c->data, c->len) == 0,
            "%s: serialize(parse(x)) != x", c->name);
  parley_buf_free(&b);
  parley_parser_free(&p);
}

/* spec: FRAME-1 FRAME-3 FRAME-4 */
Test(frame_write, round_trip_of_valid_frames)
{
  for_each_case(true, check_round_trip);
}

typedef struct write_case {
  const char *name;
  const char *verb;
  const char *hname; /* NULL: no header line */
  const char *value;
  size_t value_len;
  const char *body;
  size_t body_len;
  parley_err code;
} write_case;

static char long_value[1100];
static char long_ctl[1100]; /* 'v's and a control octet at 1016 */
static char huge_body[PARLEY_FRAME_SIZE_MAX];

#define V(s) s, sizeof(s) - 1

static const write_case write_table[] = {
  {"lower-case verb", "send", NULL, V(""), V(""), PARLEY_E_BAD_START_LINE},
  {"empty verb", "", NULL, V(""), V(""), PARLEY_E_BAD_START_LINE},
  {"verb of 33", "ABCDEFGHIJKLMNOPQRSTUVWXYZ-012345", NULL, V(""), V(""),
   PARLEY_E_BAD_START_LINE},
  {"verb with space", "SE ND", NULL, V(""), V(""), PARLEY_E_BAD_START_LINE},
  {"non-ASCII verb", "\xc3\x89", NULL, V(""), V(""), PARLEY_E_BAD_START_LINE},
  {"upper-case name", "SEND", "Conv", V("c1"), V(""),
   PARLEY_E_BAD_HEADER_NAME},
  {"empty name", "SEND", "", V("c1"), V(""), PARLEY_E_BAD_HEADER_NAME},
  {"digit first", "SEND", "1a", V("c1"), V(""), PARLEY_E_BAD_HEADER_NAME},
  {"underscore", "SEND", "a_b", V("c1"), V(""), PARLEY_E_BAD_HEADER_NAME},
  {"space in name", "SEND", "a b", V("c1"), V(""), PARLEY_E_BAD_HEADER_NAME},
  {"CRLF in name", "SEND", "a\r\nb", V("c1"), V(""),
   PARLEY_E_BAD_HEADER_NAME},
  {"control in value", "SEND", "conv", V("\x01"), V(""),
   PARLEY_E_BAD_HEADER_VALUE},
  {"DEL in value", "SEND", "conv", V("a\x7f"), V(""),
   PARLEY_E_BAD_HEADER_VALUE},
  {"tab in value", "SEND", "conv", V("a\tb"), V(""),
   PARLEY_E_BAD_HEADER_VALUE},
  {"NUL in value", "SEND", "conv", V("a\x00z"), V(""),
   PARLEY_E_BAD_HEADER_VALUE},
  {"control before bad UTF-8", "SEND", "conv", V("\x01\xc0"), V(""),
   PARLEY_E_BAD_HEADER_VALUE},
  {"overlong value", "SEND", "conv", V("\xc0\x80"), V(""), PARLEY_E_BAD_UTF8},
  {"surrogate value", "SEND", "conv", V("\xed\xa0\x80"), V(""),
   PARLEY_E_BAD_UTF8},
  {"truncated value", "SEND", "conv", V("\xe2\x82"), V(""),
   PARLEY_E_BAD_UTF8},
  {"control inside a sequence", "SEND", "conv", V("\xc3\x01"), V(""),
   PARLEY_E_BAD_UTF8},
  {"line of 1025", "SEND", "x-long", long_value, 1017, V(""),
   PARLEY_E_HEADER_TOO_LONG},
  {"length with leading zero", "SEND", "content-length", V("05"), V(""),
   PARLEY_E_BAD_LENGTH},
  {"empty length", "SEND", "content-length", V(""), V(""),
   PARLEY_E_BAD_LENGTH},
  {"bad UTF-8 body", "SEND", "conv", V("c1"), V("a\xff"), PARLEY_E_BAD_UTF8},
  {"surrogate body", "SEND", NULL, V(""), V("\xed\xa0\x80"),
   PARLEY_E_BAD_UTF8},
  {"body past the limit", "SEND", NULL, V(""), huge_body,
   PARLEY_FRAME_SIZE_MAX - 31 + 1, PARLEY_E_FRAME_TOO_LARGE},
  {"line of 1024", "SEND", "x-long", long_value, 1016, V(""), PARLEY_OK},
  {"control octet as 1025th", "SEND", "x-long", long_ctl, 1017, V(""),
   PARLEY_E_HEADER_TOO_LONG},
  {"control octet as 1024th", "SEND", "x-long", long_ctl + 1, 1016, V(""),
   PARLEY_E_BAD_HEADER_VALUE},
  {"frame of 65536", "SEND", NULL, V(""), huge_body,
   PARLEY_FRAME_SIZE_MAX - 31, PARLEY_OK},
};

/* Fails unless `b` holds exactly what `copy` (len octets) held. */
static void expect_unchanged(const parley_buf *b, const char *copy,
                             size_t len, const char *name)
{
  cr_assert_eq(b->len, len, "%s: the buffer changed length", name);
  cr_assert(memcmp(b->data, copy, len) == 0, "%s: the buffer changed", name);
}

/* Builds the frame of `c` with the serializer; returns the first error.
 * A refused call must leave `b` as it was before that call. */
static parley_err write_with_api(const write_case *c, parley_buf *b)
{
  static char copy[PARLEY_FRAME_SIZE_MAX * 2];
  size_t len = b->len;
  parley_err e;

  memcpy(copy, b->data, b->len);
  e = parley_frame_begin(b, c->verb);
  if (e == PARLEY_OK && c->hname != NULL) {
    memcpy(copy, b->data, len = b->len);
    e = parley_frame_header(b, c->hname, c->value, c->value_len);
  }
  if (e == PARLEY_OK) {
    memcpy(copy, b->data, len = b->len);
    e = parley_frame_end(b, c->body, c->body_len, false);
  }
  if (e != PARLEY_OK)
    expect_unchanged(b, copy, len, c->name);
  return e;
}

/* Builds the frame of `c` without any check, as a careless peer would. */
static size_t write_raw(const write_case *c, char *out)
{
  size_t len = (size_t)sprintf(out, "%s\r\n", c->verb);

  if (c->hname != NULL) {
    len += (size_t)sprintf(out + len, "%s: ", c->hname);
    memcpy(out + len, c->value, c->value_len);
    len += c->value_len;
    len += (size_t)sprintf(out + len, "\r\n");
  }
  if (c->body_len > 0)
    len += (size_t)sprintf(out + len, "content-length: %zu\r\n", c->body_len);
  len += (size_t)sprintf(out + len, "\r\n");
  memcpy(out + len, c->body, c->body_len);
  return len + c->body_len;
}

/* The serializer refuses what a receiver refuses, with the receiver's
 * code, and leaves the buffer as it was. */
/* spec: FRAME-1 FRAME-3 FRAME-4 FRAME-5 */
Test(frame_write, refuses_what_a_receiver_refuses)
{
  static char raw[PARLEY_FRAME_SIZE_MAX + 2048];

  memset(long_value, 'v', sizeof long_value);
  memset(long_ctl, 'v', sizeof long_ctl);
  long_ctl[1016] = '\x01';
  memset(huge_body, 'b', sizeof huge_body);
  for (size_t i = 0; i < TABLE_LEN(write_table); i++) {
    const write_case *c = &write_table[i];
    parley_buf b = {0};
    parley_parser p = {0};
    parley_frame f;
    parley_parse_error e;
    cr_assert(parley_buf_append(&b, "PING\r\n\r\n", 8));
    parley_err got = write_with_api(c, &b);
    cr_assert_eq(got, c->code, "%s: serializer says %d, want %d", c->name,
                 got, c->code);
    size_t len = write_raw(c, raw);
    parley_err parsed = parse_guarded(&p, raw, len, &f, &e);
    cr_assert_eq(parsed, c->code, "%s: receiver says %d, want %d", c->name,
                 parsed, c->code);
    parley_parser_free(&p);
    parley_buf_free(&b);
  }
}

/* spec: FRAME-2 FRAME-3 FRAME-6 */
Test(frame_write, header_count_duplicates_and_length_mismatch)
{
  parley_buf b = {0};
  char name[8];

  cr_assert_eq(parley_frame_begin(&b, "SEND"), PARLEY_OK);
  for (int i = 0; i < PARLEY_HEADER_COUNT_MAX; i++) {
    snprintf(name, sizeof name, "h%02d", i);
    cr_assert_eq(parley_frame_header_str(&b, name, "v"), PARLEY_OK);
  }
  size_t len = b.len;
  cr_assert_eq(parley_frame_header_str(&b, "h99", "v"),
               PARLEY_E_TOO_MANY_HEADERS);
  cr_assert_eq(parley_frame_end(&b, "x", 1, false),
               PARLEY_E_TOO_MANY_HEADERS);
  cr_assert_eq(b.len, len);
  cr_assert_eq(parley_frame_end(&b, NULL, 0, false), PARLEY_OK);

  cr_assert_eq(parley_frame_begin(&b, "SEND"), PARLEY_OK);
  cr_assert_eq(parley_frame_header_str(&b, "h00", "v"), PARLEY_OK);
  cr_assert_eq(parley_frame_header_str(&b, "conv", "a"), PARLEY_OK);
  cr_assert_eq(parley_frame_header_str(&b, "conv", "a"),
               PARLEY_E_DUPLICATE_HEADER);
  cr_assert_eq(parley_frame_header_str(&b, "content-length", "3"), PARLEY_OK);
  cr_assert_eq(parley_frame_end(&b, "hello", 5, false), PARLEY_E_BAD_LENGTH);
  cr_assert_eq(parley_frame_end(&b, "hey", 3, false), PARLEY_OK);

  stream_result r = run_whole(b.data, b.len);
  cr_assert(!r.failed, "%d at %zu", r.err.code, r.err.offset);
  cr_assert_eq(json_array_size(r.frames), 2);
  json_decref(r.frames);
  parley_buf_free(&b);
}

/* CR and LF in a verb, name or value, or a colon in a name, would
 * smuggle another header in: unchecked, these are other valid frames. */
/* spec: FRAME-1 */
Test(frame_write, refuses_line_injection)
{
  parley_buf b = {0};

  cr_assert_eq(parley_frame_begin(&b, "SEND\r\nx: y"),
               PARLEY_E_BAD_START_LINE);
  cr_assert_eq(parley_frame_begin(&b, "SEND\n"), PARLEY_E_BAD_START_LINE);
  cr_assert_eq(b.len, 0);
  cr_assert_eq(parley_frame_begin(&b, "SEND"), PARLEY_OK);
  cr_assert_eq(parley_frame_header_str(&b, "conv", "a\r\nx: y"),
               PARLEY_E_BAD_HEADER_VALUE);
  cr_assert_eq(parley_frame_header_str(&b, "conv", "a\n"),
               PARLEY_E_BAD_HEADER_VALUE);
  cr_assert_eq(parley_frame_header_str(&b, "conv", "a\r"),
               PARLEY_E_BAD_HEADER_VALUE);
  cr_assert_eq(parley_frame_header_str(&b, "x: y\r\nconv", "a"),
               PARLEY_E_BAD_HEADER_NAME);
  cr_assert_eq(parley_frame_header_str(&b, "x: y", "a"),
               PARLEY_E_BAD_HEADER_NAME);
  expect_bytes(&b, "SEND\r\n", 6);
  parley_buf_free(&b);
}
