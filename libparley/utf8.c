/* UTF-8 validation exactly as RFC 3629 section 4 defines it (and as the
 * UTF8-* rules of spec/parley-1.md section 2.1 repeat it):
 *
 *   UTF8-1 = %x00-7F
 *   UTF8-2 = %xC2-DF UTF8-tail
 *   UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
 *            %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
 *   UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
 *            %xF4 %x80-8F 2( UTF8-tail )
 *
 * The only octet that varies its range is the second one, so the check
 * is a table lookup on the lead octet giving the sequence length and the
 * range of the second octet; the rest are plain tails (%x80-BF). That
 * excludes overlong forms (C0, C1, E0 80-9F, F0 80-8F), surrogates
 * (ED A0-BF) and everything past U+10FFFF (F4 90-BF, F5-FF). */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>

#include "parley/frame.h"

/* What a lead octet allows: the sequence length (0 for an octet that
 * cannot start a sequence) and the range of the second octet. */
typedef struct utf8_lead {
  unsigned char len;
  unsigned char lo;
  unsigned char hi;
} utf8_lead;

/* The rules above, for a lead octet of %x80 or more. */
static utf8_lead lead_rule(unsigned char c)
{
  utf8_lead r = {0, 0x80, 0xBF};

  if (c >= 0xC2 && c <= 0xDF)
    r.len = 2;
  else if (c >= 0xE0 && c <= 0xEF)
    r.len = 3;
  else if (c >= 0xF0 && c <= 0xF4)
    r.len = 4;
  if (c == 0xE0)
    r.lo = 0xA0;
  else if (c == 0xED)
    r.hi = 0x9F;
  else if (c == 0xF0)
    r.lo = 0x90;
  else if (c == 0xF4)
    r.hi = 0x8F;
  return r;
}

/* Checks the sequence starting at s[i] (a lead octet of %x80 or more).
 * Returns its length, or 0 when it is broken or cut short. */
static size_t check_sequence(const unsigned char *s, size_t len, size_t i)
{
  utf8_lead r = lead_rule(s[i]);

  if (r.len == 0)
    return 0;
  for (size_t k = 1; k < r.len; k++) {
    unsigned char lo = k == 1 ? r.lo : 0x80;
    unsigned char hi = k == 1 ? r.hi : 0xBF;
    if (i + k >= len || s[i + k] < lo || s[i + k] > hi)
      return 0;
  }
  return r.len;
}

/* See parley/frame.h: a failure is reported where its sequence starts. */
bool parley_utf8_valid(const char *str, size_t len, size_t *bad_offset)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;

  assert(s != NULL || len == 0);
  while (i < len) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    size_t n = check_sequence(s, len, i);
    if (n == 0) {
      if (bad_offset != NULL)
        *bad_offset = i;
      return false;
    }
    i += n;
    assert(i <= len);
  }
  return true;
}
