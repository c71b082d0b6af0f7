/* The incremental frame parser (spec/parley-1.md sections 2.1 to 2.8).
 *
 * State machine. A frame goes through three phases:
 *
 *   IDLE --first octet--> HEAD --blank line--> BODY --last octet--> DONE
 *                          |                    |
 *                          +------ error -------+----> FAILED (until reset)
 *
 * HEAD runs the Ragel machine `frame` of frame_grammar.rl over the start
 * line and the header lines; its actions check what the ABNF leaves to
 * prose (limits, duplicates, content-length). BODY counts content-length
 * octets and runs the machine `body` over them, so bad UTF-8 is found at
 * the octet where a left-to-right reading meets it (section 2.8). DONE
 * hands the frame out and goes back to IDLE on the next call.
 *
 * Buffering. Every octet the parser accepts is copied into parser->buf
 * before the machine reads it, so the decoded frame points into memory
 * the parser owns however the input was split. The header section is
 * copied in pieces of at most HEAD_PIECE octets; octets copied past the
 * end of the frame are dropped, so many small frames in one input cost
 * no more than HEAD_PIECE extra copying each. The buffer only grows
 * between runs of the machine, which holds pointers into it.
 *
 * Invariants: frame_len <= buf_cap <= the frame size limit, so no frame
 * ever buffers more than the limit (FRAME-2); every recorded offset is at
 * most frame_len; a failure is reported at the first octet that breaks a
 * rule, counted from the frame's first octet, whatever the split; the
 * first failure sticks until parley_parser_reset. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "parley/frame.h"

enum parser_phase {
  PHASE_IDLE = 0, /* between frames; a zeroed parser starts here */
  PHASE_HEAD,
  PHASE_BODY,
  PHASE_DONE,
  PHASE_FAILED
};

#define HEAD_PIECE 512
#define BUF_MIN 256

/* The limits in force: a stated limit, or the default when it is 0 or
 * above the default (a peer never states more than section 2.3). */
static size_t limit_or_default(size_t v, size_t dflt)
{
  return v == 0 || v > dflt ? dflt : v;
}

static size_t frame_limit(const parley_parser *parser)
{
  return limit_or_default(parser->limits.frame_size_max,
                          PARLEY_FRAME_SIZE_MAX);
}

static size_t count_limit(const parley_parser *parser)
{
  return limit_or_default(parser->limits.header_count_max,
                          PARLEY_HEADER_COUNT_MAX);
}

static size_t line_limit(const parley_parser *parser)
{
  return limit_or_default(parser->limits.header_line_max,
                          PARLEY_HEADER_LINE_MAX);
}

/* Records the first failure of the frame; later ones (outer rules failing
 * on the same octet) are ignored. Always returns false, for the helpers
 * whose false return stops the machine. */
static bool parser_fail(parley_parser *parser, parley_err code,
                        size_t offset, const char *rule)
{
  if (parser->phase == PHASE_FAILED)
    return false;
  parser->phase = PHASE_FAILED;
  parser->err.code = code;
  parser->err.offset = offset;
  parser->err.rule = rule;
  return false;
}

/* Grows the frame buffer to hold `want` octets, never past the frame
 * limit. Returns false (and fails the parser) when memory runs out. */
static bool buf_reserve(parley_parser *parser, size_t want)
{
  size_t limit = frame_limit(parser);
  size_t cap = parser->buf_cap;

  assert(want <= limit);
  if (want <= cap)
    return true;
  cap = cap < BUF_MIN ? BUF_MIN : cap * 2;
  if (cap < want)
    cap = want;
  if (cap > limit)
    cap = limit;
  char *grown = realloc(parser->buf, cap);
  if (grown == NULL)
    return parser_fail(parser, PARLEY_E_INTERNAL, parser->frame_len,
                       "frame");
  parser->buf = grown;
  parser->buf_cap = cap;
  return true;
}

/* ---- helpers the grammar's actions call ----------------------------------
 * Offsets count from the frame's first octet. Those returning bool return
 * false after failing, and the action then stops the machine. */

/* True while the machine reads header lines (the verb is behind it). */
static bool in_header_lines(const parley_parser *parser)
{
  return parser->phase == PHASE_HEAD && parser->verb_len > 0;
}

/* The verb failed at octet `c`. Returns true for an octet of %x80 or
 * more within the verb limit, which the machine then reads as a UTF-8
 * character to tell bad UTF-8 (403) from a character a verb may not hold
 * (400); otherwise fails with bad-start-line and returns false. A 33rd
 * octet breaks the limit whatever it is (section 2.8). */
static bool verb_fail(parley_parser *parser, unsigned char c, size_t off)
{
  if (c >= 0x80 && off < PARLEY_VERB_MAX)
    return true;
  parser_fail(parser, PARLEY_E_BAD_START_LINE, off, "verb");
  return false;
}

static bool verb_octet(parley_parser *parser, size_t off)
{
  if (off >= PARLEY_VERB_MAX)
    return parser_fail(parser, PARLEY_E_BAD_START_LINE, off, "verb");
  return true;
}

/* The verb ends at `off` (its CR); the first header line starts after
 * the CRLF. */
static void verb_end(parley_parser *parser, size_t off)
{
  parser->verb_len = off;
  parser->line_start = off + 2;
}

/* A header line starts at `off`: refuses a line past the count limit
 * there, before reading any of it (FRAME-2). */
static bool name_begin(parley_parser *parser, size_t off)
{
  assert(off == parser->line_start);
  if (parser->header_count >= count_limit(parser))
    return parser_fail(parser, PARLEY_E_TOO_MANY_HEADERS, off,
                       "header-line");
  return true;
}

/* Counts an octet of a header line against the line limit. Octets inside
 * a UTF-8 sequence (%x80-BF) are counted when the sequence ends, by
 * utf8_end, so a broken sequence is bad-utf8 wherever it ends. */
static bool line_octet(parley_parser *parser, unsigned char c, size_t off)
{
  assert(off >= parser->line_start);
  if (c >= 0x80 && c <= 0xBF)
    return true;
  if (off - parser->line_start >= line_limit(parser))
    return parser_fail(parser, PARLEY_E_HEADER_TOO_LONG, off,
                       "header-line");
  return true;
}

/* A fault in a header line at `off`: a line already past its limit there
 * is header-too-long, a 33rd line is too-many-headers, whatever the
 * octet (section 2.8 checks the limits first). Otherwise `code`. */
static void line_fail(parley_parser *parser, parley_err code, size_t off,
                      const char *rule)
{
  assert(off >= parser->line_start);
  if (off - parser->line_start >= line_limit(parser))
    parser_fail(parser, PARLEY_E_HEADER_TOO_LONG, off, "header-line");
  else if (off == parser->line_start &&
           parser->header_count >= count_limit(parser))
    parser_fail(parser, PARLEY_E_TOO_MANY_HEADERS, off, "header-line");
  else
    parser_fail(parser, code, off, rule);
}

/* A header value failed at octet `c`: an octet of %x80 or more cannot
 * start valid UTF-8 here, so it is bad-utf8; anything else (a control
 * octet, a bare LF) is bad-header-value. */
static void value_fail(parley_parser *parser, unsigned char c, size_t off)
{
  line_fail(parser, c >= 0x80 ? PARLEY_E_BAD_UTF8 : PARLEY_E_BAD_HEADER_VALUE,
            off, "header-value");
}

/* The rule a broken UTF-8 sequence belongs to. */
static const char *utf8_rule(const parley_parser *parser)
{
  if (parser->phase == PHASE_BODY)
    return "body";
  return parser->verb_len > 0 ? "header-value" : "verb";
}

/* A UTF-8 sequence in a header value ended at `off`: the whole sequence
 * must fit in the line limit, else header-too-long at its lead octet. */
static bool utf8_end(parley_parser *parser, size_t off)
{
  if (!in_header_lines(parser))
    return true;
  assert(parser->utf8_start >= parser->line_start);
  if (off - parser->line_start >= line_limit(parser))
    return parser_fail(parser, PARLEY_E_HEADER_TOO_LONG, parser->utf8_start,
                       "header-line");
  return true;
}

/* True when buf[a, a + len) equals buf[b, b + len). */
static bool buf_same(const parley_parser *parser, size_t a, size_t b,
                     size_t len)
{
  return memcmp(parser->buf + a, parser->buf + b, len) == 0;
}

/* The name ends at `off` (its colon). Refuses a name seen before in this
 * frame (FRAME-6), reported at the repeat's first octet. */
static bool name_end(parley_parser *parser, size_t off)
{
  size_t len = off - parser->line_start;

  assert(off < parser->buf_cap && len > 0);
  parser->name_end = off;
  for (size_t i = 0; i < parser->header_count; i++) {
    const size_t *h = parser->header_off[i];
    if (h[1] == len && buf_same(parser, h[0], parser->line_start, len))
      return parser_fail(parser, PARLEY_E_DUPLICATE_HEADER,
                         parser->line_start, "header-name");
  }
  return true;
}

/* Checks the content-length value against section 2.4: `"0" / %x31-39
 * *DIGIT` (else bad-length), and a frame of at least this line, the
 * blank line and the body within the limit (else frame-too-large). Both
 * are reported at the value. A number of any size is read: one past the
 * limit is frame-too-large, not bad-length. `lf` is the line's LF. */
static bool length_parse(parley_parser *parser, size_t lf)
{
  size_t start = parser->value_start;
  size_t len = parser->value_end - start;
  const char *v = parser->buf + start;
  size_t limit = frame_limit(parser);
  size_t n = 0;

  if (len == 0 || (len > 1 && v[0] == '0'))
    return parser_fail(parser, PARLEY_E_BAD_LENGTH, start, "content-length");
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9')
      return parser_fail(parser, PARLEY_E_BAD_LENGTH, start,
                         "content-length");
    n = n > limit ? n : n * 10 + (size_t)(v[i] - '0');
  }
  parser->has_length = true;
  parser->content_length = n;
  parser->length_off = start;

  size_t least = lf + 1 + 2; /* this line and the blank line */
  if (n > limit || least > limit - n)
    return parser_fail(parser, PARLEY_E_FRAME_TOO_LARGE, start,
                       "content-length");
  return true;
}

/* A header line is complete (its LF is at `off`): records it, reads
 * content-length, and starts the next line. */
static bool line_end(parley_parser *parser, size_t off)
{
  size_t *h = parser->header_off[parser->header_count];

  assert(parser->header_count < count_limit(parser));
  assert(parser->line_start < parser->name_end);
  assert(parser->name_end < parser->value_start);
  assert(parser->value_start <= parser->value_end);
  assert(parser->value_end < off && off < parser->buf_cap);
  h[0] = parser->line_start;
  h[1] = parser->name_end - parser->line_start;
  h[2] = parser->value_start;
  h[3] = parser->value_end - parser->value_start;
  parser->header_count++;
  parser->line_start = off + 1;
  if (h[1] == 14 && memcmp(parser->buf + h[0], "content-length", 14) == 0)
    return length_parse(parser, off);
  return true;
}

/* The blank line ended at `off`: the body starts after it. Refuses a
 * frame that later header lines took past the limit (FRAME-4), before
 * any body octet arrives. The machine stops here either way: the host
 * takes the body. */
static void head_done(parley_parser *parser, size_t off)
{
  size_t limit = frame_limit(parser);

  parser->body_start = off + 1;
  assert(parser->body_start <= limit);
  if (parser->content_length > limit - parser->body_start) {
    parser_fail(parser, PARLEY_E_FRAME_TOO_LARGE, parser->body_start,
                "frame");
    return;
  }
  parser->phase = PHASE_BODY;
}

%%{
  machine frame;

  action verb_octet { if (!verb_octet(parser, AT)) fbreak; }
  action verb_end { verb_end(parser, AT); }
  action name_begin { if (!name_begin(parser, AT)) fbreak; }
  action name_end { if (!name_end(parser, AT)) fbreak; }
  action value_begin { parser->value_start = AT + 1; }
  action value_end { parser->value_end = AT; }
  action line_octet { if (!line_octet(parser, fc, AT)) fbreak; }
  action line_end { if (!line_end(parser, AT)) fbreak; }
  action head_done { head_done(parser, AT); fbreak; }
  action utf8_begin { parser->utf8_start = AT; }
  action utf8_end { if (!utf8_end(parser, AT)) fbreak; }

  action err_verb { if (verb_fail(parser, fc, AT)) { fhold; fgoto verb_utf8; } }
  action err_verb_char { FAIL(BAD_START_LINE, START, "verb"); fbreak; }
  action err_verb_utf8 { FAIL(BAD_UTF8, AT, "verb"); }
  action err_start_line { FAIL(BAD_START_LINE, AT, "start-line"); }
  action err_header_name { LINE_FAIL(BAD_HEADER_NAME, "header-name"); }
  action err_header_value { value_fail(parser, fc, AT); }
  action err_header_line { LINE_FAIL(BAD_HEADER_VALUE, "header-line"); }
  action err_bare_cr { FAIL(BAD_HEADER_VALUE, AT - 1, "header-value"); }
  action err_blank_line { FAIL(BAD_HEADER_NAME, AT, "header-name"); }
  action err_utf8 { FAIL(BAD_UTF8, START, utf8_rule(parser)); }
  action err_body { FAIL(BAD_UTF8, AT, "body"); }

  include frame_grammar "frame_grammar.rl";

  main := frame;
  body_utf8 := body;
  verb_utf8 := verb_non_ascii;
}%%

%% write data;

/* Shorthands for the actions above. OFF: the frame offset of a pointer
 * into parser->buf; AT: the offset of the octet the machine is on (`p`
 * below, Ragel's fpc); START: where the current UTF-8 sequence began. */
#define OFF(x) ((size_t)((x) - (const unsigned char *)parser->buf))
#define AT OFF(p)
#define START (parser->utf8_start)
#define FAIL(code, off, rule) parser_fail(parser, PARLEY_E_##code, off, rule)
#define LINE_FAIL(code, rule) line_fail(parser, PARLEY_E_##code, AT, rule)

/* Runs the machine from state parser->cs over buf[from, to) and returns
 * the offset where it stopped: `to`, or past the octet that ended the
 * header section, or at or past the octet that failed. */
static size_t machine_exec(parley_parser *parser, size_t from, size_t to)
{
  const unsigned char *p = (const unsigned char *)parser->buf + from;
  const unsigned char *pe = (const unsigned char *)parser->buf + to;
  const unsigned char *eof = NULL; /* a stream has no end inside a frame */
  int cs = parser->cs;

  assert(from < to && to <= parser->buf_cap);
  %% write exec;
  parser->cs = cs;
  if (cs == frame_error && parser->phase != PHASE_FAILED)
    parser_fail(parser, PARLEY_E_INTERNAL, OFF(p), "frame");
  assert(OFF(p) <= to);
  return OFF(p);
}

#undef LINE_FAIL
#undef FAIL
#undef START
#undef AT
#undef OFF

/* Starts a new frame, keeping the buffer. */
static void frame_begin(parley_parser *parser)
{
  parley_limits limits = parser->limits;
  char *buf = parser->buf;
  size_t cap = parser->buf_cap;

  memset(parser, 0, sizeof *parser);
  parser->limits = limits;
  parser->buf = buf;
  parser->buf_cap = cap;
  parser->cs = frame_start;
  parser->phase = PHASE_HEAD;
}

/* Feeds the header section. Returns how many of the `len` octets belong
 * to it; stops early when the section ends or fails. Past the frame limit
 * the section fails with frame-too-large at the first octet beyond it. */
static size_t head_feed(parley_parser *parser, const char *data, size_t len)
{
  size_t limit = frame_limit(parser);
  size_t used = 0;

  while (parser->phase == PHASE_HEAD && used < len) {
    size_t room = limit - parser->frame_len;
    if (room == 0) {
      parser_fail(parser, PARLEY_E_FRAME_TOO_LARGE, limit, "frame");
      break;
    }
    size_t piece = len - used;
    piece = piece < HEAD_PIECE ? piece : HEAD_PIECE;
    piece = piece < room ? piece : room;
    if (!buf_reserve(parser, parser->frame_len + piece))
      break;
    memcpy(parser->buf + parser->frame_len, data + used, piece);
    size_t stop = machine_exec(parser, parser->frame_len,
                               parser->frame_len + piece);
    used += stop - parser->frame_len;
    parser->frame_len = stop;
  }
  if (parser->phase == PHASE_BODY)
    parser->cs = frame_en_body_utf8;
  assert(parser->frame_len <= limit && used <= len);
  return used;
}

/* Feeds the body. Returns how many of the `len` octets belong to it. The
 * buffer grows to the whole frame at once (head_done checked it against
 * the limit). A UTF-8 sequence left open at the end of the body is
 * bad-utf8 at its lead octet (FRAME-5). */
static size_t body_feed(parley_parser *parser, const char *data, size_t len)
{
  size_t have = parser->frame_len - parser->body_start;
  size_t want = (size_t)parser->content_length - have;
  size_t n = len < want ? len : want;

  assert(have <= parser->content_length);
  if (!buf_reserve(parser, parser->body_start + have + want))
    return 0;
  if (n > 0) {
    memcpy(parser->buf + parser->frame_len, data, n);
    size_t stop = machine_exec(parser, parser->frame_len,
                               parser->frame_len + n);
    assert(stop == parser->frame_len + n || parser->phase == PHASE_FAILED);
    parser->frame_len += n;
  }
  if (n < want || parser->phase == PHASE_FAILED)
    return n;
  if (parser->cs < frame_first_final)
    parser_fail(parser, PARLEY_E_BAD_UTF8, parser->utf8_start, "body");
  else
    parser->phase = PHASE_DONE;
  return n;
}

/* Fills *out with views into the parser's buffer. */
static void frame_out(const parley_parser *parser, parley_frame *out)
{
  assert(parser->verb_len > 0 && parser->verb_len <= parser->frame_len);
  out->verb.ptr = parser->buf;
  out->verb.len = parser->verb_len;
  out->header_count = parser->header_count;
  for (size_t i = 0; i < parser->header_count; i++) {
    const size_t *h = parser->header_off[i];
    assert(h[2] + h[3] <= parser->body_start);
    out->headers[i].name.ptr = parser->buf + h[0];
    out->headers[i].name.len = h[1];
    out->headers[i].value.ptr = parser->buf + h[2];
    out->headers[i].value.len = h[3];
  }
  out->has_length = parser->has_length;
  out->body.ptr = parser->buf + parser->body_start;
  out->body.len = (size_t)parser->content_length;
  assert(parser->body_start + out->body.len == parser->frame_len);
}

void parley_parser_init(parley_parser *p, const parley_limits *limits)
{
  memset(p, 0, sizeof *p);
  if (limits != NULL)
    p->limits = *limits;
}

/* Forgets the current frame and any failure; keeps limits and buffer. */
void parley_parser_reset(parley_parser *p)
{
  frame_begin(p);
  p->phase = PHASE_IDLE;
}

/* Releases the buffer; the parser stays usable, with the same limits. */
void parley_parser_free(parley_parser *p)
{
  free(p->buf);
  p->buf = NULL;
  p->buf_cap = 0;
  parley_parser_reset(p);
}

/* See parley/frame.h for the contract. */
parley_parse_status parley_parser_feed(parley_parser *p, const char *data,
                                       size_t len, size_t *consumed,
                                       parley_frame *out,
                                       parley_parse_error *err)
{
  size_t used = 0;

  assert(p != NULL && consumed != NULL && out != NULL && err != NULL);
  assert(data != NULL || len == 0);
  if (p->phase == PHASE_IDLE || p->phase == PHASE_DONE)
    frame_begin(p);
  if (p->phase == PHASE_HEAD && len > 0)
    used += head_feed(p, data, len);
  if (p->phase == PHASE_BODY)
    used += body_feed(p, len > used ? data + used : NULL, len - used);
  assert(used <= len);
  *consumed = used;
  if (p->phase == PHASE_FAILED) {
    *err = p->err;
    return PARLEY_PARSE_ERROR;
  }
  if (p->phase == PHASE_DONE) {
    frame_out(p, out);
    return PARLEY_PARSE_FRAME;
  }
  assert(used == len);
  return PARLEY_PARSE_PARTIAL;
}

/* Fails a WebSocket message (section 2.5) and reports it. */
static parley_err message_fail(parley_parser *p, parley_err code,
                               size_t offset, const char *rule,
                               parley_parse_error *err)
{
  parser_fail(p, code, offset, rule);
  *err = p->err;
  return err->code;
}

/* See parley/frame.h: exactly one frame per message (WS-1, WS-2). A
 * message longer than the frame limit is refused unread (WS-7). */
parley_err parley_parse_message(parley_parser *p, const char *data,
                                size_t len, parley_frame *out,
                                parley_parse_error *err)
{
  size_t used = 0;
  parley_parse_status st;

  parley_parser_reset(p);
  if (len > frame_limit(p))
    return message_fail(p, PARLEY_E_FRAME_TOO_LARGE, frame_limit(p),
                        "frame", err);
  st = parley_parser_feed(p, data, len, &used, out, err);
  if (st == PARLEY_PARSE_ERROR)
    return err->code;
  if (st == PARLEY_PARSE_PARTIAL)
    return message_fail(p, PARLEY_E_TRUNCATED_FRAME, len,
                        p->phase == PHASE_BODY ? "body" : "frame", err);
  assert(st == PARLEY_PARSE_FRAME && used <= len);
  if (used == len)
    return PARLEY_OK;
  if (!out->has_length)
    return message_fail(p, PARLEY_E_LENGTH_REQUIRED, used, "body", err);
  return message_fail(p, PARLEY_E_EXTRA_DATA, used, "frame", err);
}

/* The value of the first header called `name`, or NULL. */
const parley_str *parley_frame_get(const parley_frame *f, const char *name)
{
  assert(f->header_count <= PARLEY_HEADER_COUNT_MAX);
  for (size_t i = 0; i < f->header_count; i++)
    if (parley_str_eq(f->headers[i].name, name))
      return &f->headers[i].value;
  return NULL;
}

bool parley_str_eq(parley_str s, const char *lit)
{
  size_t n = strlen(lit);

  return s.len == n && (n == 0 || memcmp(s.ptr, lit, n) == 0);
}
