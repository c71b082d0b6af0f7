/* The frame serializer (spec/parley-1.md section 2) and the output buffer.
 *
 * A frame is built in steps: parley_frame_begin writes the start line,
 * parley_frame_header one header line each, parley_frame_end the
 * content-length (when needed), the blank line and the body. Each step
 * checks what it is asked to write against the grammar and the limits of
 * section 2 and refuses, leaving the buffer as it was, with the error a
 * receiver would report for that frame. The limits are the defaults of
 * section 2.3; a sender whose peer stated lower ones checks the finished
 * frame's size itself (FRAME-3).
 *
 * Several frames may follow each other in one buffer (a byte stream):
 * `frame_start` remembers where the frame being built began, so the
 * header count, duplicates and the frame size are counted for that frame
 * only. The header lines already written are read back from the buffer,
 * which only this file writes in frame form. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/frame.h"

#define CONTENT_LENGTH "content-length"
#define CONTENT_LENGTH_LEN 14

void parley_buf_free(parley_buf *b)
{
  free(b->data);
  memset(b, 0, sizeof *b);
}

void parley_buf_clear(parley_buf *b)
{
  b->len = 0;
  b->frame_start = 0;
}

/* Makes room for `more` octets after b->len. Returns false when the size
 * overflows or memory runs out. */
static bool buf_reserve(parley_buf *b, size_t more)
{
  size_t cap = b->cap;

  if (more > SIZE_MAX - b->len)
    return false;
  if (b->len + more <= cap)
    return true;
  cap = cap < 256 ? 256 : cap;
  while (cap < b->len + more)
    cap = cap > SIZE_MAX / 2 ? b->len + more : cap * 2;
  char *grown = realloc(b->data, cap);
  if (grown == NULL)
    return false;
  b->data = grown;
  b->cap = cap;
  return true;
}

bool parley_buf_append(parley_buf *b, const void *data, size_t len)
{
  if (len == 0)
    return true;
  if (!buf_reserve(b, len))
    return false;
  memcpy(b->data + b->len, data, len);
  b->len += len;
  assert(b->len <= b->cap);
  return true;
}

static bool is_upalpha(char c)
{
  return c >= 'A' && c <= 'Z';
}

static bool is_loalpha(char c)
{
  return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
  return c >= '0' && c <= '9';
}

/* verb = UPALPHA *( UPALPHA / DIGIT / "-" ), at most 32 octets. */
static bool verb_valid(const char *s, size_t len)
{
  if (len == 0 || len > PARLEY_VERB_MAX || !is_upalpha(s[0]))
    return false;
  for (size_t i = 1; i < len; i++)
    if (!is_upalpha(s[i]) && !is_digit(s[i]) && s[i] != '-')
      return false;
  return true;
}

/* header-name = LOALPHA *( LOALPHA / DIGIT / "-" ) */
static bool name_valid(const char *s, size_t len)
{
  if (len == 0 || !is_loalpha(s[0]))
    return false;
  for (size_t i = 1; i < len; i++)
    if (!is_loalpha(s[i]) && !is_digit(s[i]) && s[i] != '-')
      return false;
  return true;
}

/* header-value = *( %x20-7E / UTF8-tail-char ). Returns PARLEY_OK, or the
 * code a receiver reports for the first octet that breaks it, with its
 * index in *at: bad-utf8 when that octet is part of (or starts) a broken
 * UTF-8 sequence, bad-header-value for a control octet. */
static parley_err value_check(const char *s, size_t len, size_t *at)
{
  size_t ctl = len;
  size_t bad = len;

  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7F) {
      ctl = i;
      break;
    }
  }
  if (!parley_utf8_valid(s, len, &bad) && bad <= ctl) {
    *at = bad;
    return PARLEY_E_BAD_UTF8;
  }
  *at = ctl;
  return ctl < len ? PARLEY_E_BAD_HEADER_VALUE : PARLEY_OK;
}

/* See frame.h: the number form of spec section 2.9, within 64 bits. */
bool parley_parse_u64(const char *s, size_t len, uint64_t *out)
{
  uint64_t n = 0;

  if (len == 0 || (len > 1 && s[0] == '0'))
    return false;
  for (size_t i = 0; i < len; i++) {
    if (!is_digit(s[i]))
      return false;
    uint64_t d = (uint64_t)(s[i] - '0');
    if (n > (UINT64_MAX - d) / 10)
      return false;
    n = n * 10 + d;
  }
  *out = n;
  return true;
}

/* What the header lines of the frame being built hold so far. */
typedef struct frame_scan {
  size_t count;      /* header lines */
  bool found;        /* a line named as asked */
  const char *value; /* its value */
  size_t value_len;
} frame_scan;

/* Reads back the header lines written since frame_start and looks for
 * `name`. The lines were checked when written: each ends with CRLF, has
 * ": " after its name and no CR or LF inside. */
static frame_scan frame_scan_for(const parley_buf *b, const char *name,
                                 size_t name_len)
{
  frame_scan r = {0, false, NULL, 0};
  const char *end = b->data + b->len;
  const char *line;

  if (b->data == NULL || b->frame_start >= b->len)
    return r;
  line = memchr(b->data + b->frame_start, '\n', b->len - b->frame_start);
  while (line != NULL && line + 1 < end) {
    const char *start = line + 1;
    const char *eol = memchr(start, '\n', (size_t)(end - start));
    const char *colon = memchr(start, ':', (size_t)(end - start));
    if (eol == NULL || colon == NULL || colon + 2 > eol)
      break; /* not written by this file: nothing more to read */
    if ((size_t)(colon - start) == name_len &&
        memcmp(start, name, name_len) == 0) {
      r.found = true;
      r.value = colon + 2;
      r.value_len = (size_t)(eol - 1 - r.value);
    }
    r.count++;
    line = eol;
  }
  return r;
}

/* Appends the pieces in order, or nothing when memory runs out. */
static parley_err append_all(parley_buf *b, const char *const *parts,
                             const size_t *lens, size_t n)
{
  size_t total = 0;

  for (size_t i = 0; i < n; i++)
    total += lens[i];
  if (!buf_reserve(b, total))
    return PARLEY_E_INTERNAL;
  for (size_t i = 0; i < n; i++)
    parley_buf_append(b, parts[i], lens[i]);
  return PARLEY_OK;
}

/* True when `more` octets plus a blank line still fit in the frame. */
static bool frame_fits(const parley_buf *b, size_t more)
{
  size_t used = b->len - b->frame_start;

  assert(b->frame_start <= b->len);
  return used <= PARLEY_FRAME_SIZE_MAX &&
         more <= PARLEY_FRAME_SIZE_MAX - used &&
         PARLEY_FRAME_SIZE_MAX - used - more >= 2;
}

/* parley_frame_begin for a verb given by pointer and length. */
static parley_err begin_n(parley_buf *b, const char *verb, size_t len)
{
  const char *parts[] = {verb, "\r\n"};
  size_t lens[] = {len, 2};
  size_t start = b->len;

  if (!verb_valid(verb, len))
    return PARLEY_E_BAD_START_LINE;
  parley_err e = append_all(b, parts, lens, 2);
  if (e == PARLEY_OK)
    b->frame_start = start;
  return e;
}

/* Checks one header line against the grammar, the limits and the lines
 * already in the frame, in the order a receiver meets its octets: the
 * count at the line's first octet, the name, a repeat at the colon, then
 * the value octet by octet against the line limit, then the value of
 * content-length and the frame size. */
static parley_err header_check(const parley_buf *b, const char *name,
                               size_t name_len, const char *value,
                               size_t value_len)
{
  frame_scan s = frame_scan_for(b, name, name_len);
  size_t at = 0;
  uint64_t n = 0;

  if (s.count >= PARLEY_HEADER_COUNT_MAX)
    return PARLEY_E_TOO_MANY_HEADERS;
  if (!name_valid(name, name_len))
    return PARLEY_E_BAD_HEADER_NAME;
  if (s.found)
    return PARLEY_E_DUPLICATE_HEADER;
  parley_err e = value_check(value, value_len, &at);
  size_t read = e == PARLEY_OK ? value_len : at + 1; /* to decide */
  if (name_len + 2 + read > PARLEY_HEADER_LINE_MAX)
    return PARLEY_E_HEADER_TOO_LONG;
  if (e != PARLEY_OK)
    return e;
  if (name_len == CONTENT_LENGTH_LEN &&
      memcmp(name, CONTENT_LENGTH, CONTENT_LENGTH_LEN) == 0 &&
      !parley_parse_u64(value, value_len, &n))
    return PARLEY_E_BAD_LENGTH;
  if (!frame_fits(b, name_len + 2 + value_len + 2))
    return PARLEY_E_FRAME_TOO_LARGE;
  return PARLEY_OK;
}

/* parley_frame_header for a name given by pointer and length. */
static parley_err header_n(parley_buf *b, const char *name, size_t name_len,
                           const char *value, size_t value_len)
{
  const char *parts[] = {name, ": ", value, "\r\n"};
  size_t lens[] = {name_len, 2, value_len, 2};
  parley_err e;

  assert(value != NULL || value_len == 0);
  e = header_check(b, name, name_len, value == NULL ? "" : value, value_len);
  if (e != PARLEY_OK)
    return e;
  return append_all(b, parts, lens, 4);
}

parley_err parley_frame_begin(parley_buf *b, const char *verb)
{
  return begin_n(b, verb, strlen(verb));
}

parley_err parley_frame_header(parley_buf *b, const char *name,
                               const char *value, size_t value_len)
{
  return header_n(b, name, strlen(name), value, value_len);
}

parley_err parley_frame_header_str(parley_buf *b, const char *name,
                                   const char *value)
{
  return header_n(b, name, strlen(name), value, strlen(value));
}

parley_err parley_frame_header_u64(parley_buf *b, const char *name,
                                   uint64_t value)
{
  char digits[24];
  int n = snprintf(digits, sizeof digits, "%" PRIu64, value);

  assert(n > 0 && (size_t)n < sizeof digits);
  return header_n(b, name, strlen(name), digits, (size_t)n);
}

/* See parley/frame.h. A content-length header the caller wrote already
 * must match body_len (else bad-length); otherwise one is added when the
 * body is not empty or force_length is set. Then the frame size, then the
 * body's UTF-8, the order a receiver checks them in. */
parley_err parley_frame_end(parley_buf *b, const char *body, size_t body_len,
                            bool force_length)
{
  frame_scan s = frame_scan_for(b, CONTENT_LENGTH, CONTENT_LENGTH_LEN);
  size_t start = b->len;
  uint64_t given = 0;
  parley_err e = PARLEY_OK;

  assert(body != NULL || body_len == 0);
  if (s.found) {
    if (!parley_parse_u64(s.value, s.value_len, &given) || given != body_len)
      return PARLEY_E_BAD_LENGTH;
  } else if (body_len > 0 || force_length) {
    e = parley_frame_header_u64(b, CONTENT_LENGTH, body_len);
  }
  if (e == PARLEY_OK && !frame_fits(b, body_len))
    e = PARLEY_E_FRAME_TOO_LARGE;
  if (e == PARLEY_OK && !parley_utf8_valid(body, body_len, NULL))
    e = PARLEY_E_BAD_UTF8;
  if (e == PARLEY_OK) {
    const char *parts[] = {"\r\n", body == NULL ? "" : body};
    size_t lens[] = {2, body_len};
    e = append_all(b, parts, lens, 2);
  }
  if (e != PARLEY_OK)
    b->len = start;
  return e;
}

/* See parley/frame.h. Headers are written in their order and as given;
 * a content-length among them must match the body. */
parley_err parley_frame_serialize(const parley_frame *f, parley_buf *b)
{
  size_t start = b->len;
  size_t frame_start = b->frame_start;
  parley_err e;

  assert(f->header_count <= PARLEY_HEADER_COUNT_MAX);
  e = begin_n(b, f->verb.ptr, f->verb.len);
  for (size_t i = 0; e == PARLEY_OK && i < f->header_count; i++) {
    const parley_header *h = &f->headers[i];
    e = header_n(b, h->name.ptr, h->name.len, h->value.ptr, h->value.len);
  }
  if (e == PARLEY_OK)
    e = parley_frame_end(b, f->body.ptr, f->body.len, f->has_length);
  if (e != PARLEY_OK) {
    b->len = start;
    b->frame_start = frame_start;
  }
  return e;
}
