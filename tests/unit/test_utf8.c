/* Unit tests for parley_utf8_valid: the boundary cases of RFC 3629 and an
 * exhaustive comparison with a decoder written differently (by code
 * point arithmetic instead of the lead-octet table). */
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "parley/frame.h"

/* A reference decoder: decodes each sequence to its code point and
 * rejects overlong forms, surrogates and code points past U+10FFFF. */
static bool ref_valid(const unsigned char *s, size_t len)
{
  size_t i = 0;

  while (i < len) {
    unsigned c = s[i];
    size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2
                        : (c & 0xF0) == 0xE0 ? 3
                        : (c & 0xF8) == 0xF0 ? 4 : 0;
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    uint32_t cp = n == 1 ? c : c & (0x7Fu >> n);
    if (n == 0 || i + n > len)
      return false;
    for (size_t k = 1; k < n; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

typedef struct utf8_case {
  const char *what;
  const char *s;
  size_t len;
  bool valid;
  size_t bad; /* where the first invalid sequence starts */
} utf8_case;

#define U(s) s, sizeof(s) - 1

static const utf8_case cases[] = {
  {"empty", U(""), true, 0},
  {"U+0000", U("\x00"), true, 0},
  {"U+007F", U("\x7f"), true, 0},
  {"U+0080", U("\xc2\x80"), true, 0},
  {"U+07FF", U("\xdf\xbf"), true, 0},
  {"U+0800", U("\xe0\xa0\x80"), true, 0},
  {"U+0FFF", U("\xe0\xbf\xbf"), true, 0},
  {"U+1000", U("\xe1\x80\x80"), true, 0},
  {"U+CFFF", U("\xec\xbf\xbf"), true, 0},
  {"U+D000", U("\xed\x80\x80"), true, 0},
  {"U+D7FF", U("\xed\x9f\xbf"), true, 0},
  {"U+E000", U("\xee\x80\x80"), true, 0},
  {"U+FFFD", U("\xef\xbf\xbd"), true, 0},
  {"U+FFFF", U("\xef\xbf\xbf"), true, 0},
  {"U+10000", U("\xf0\x90\x80\x80"), true, 0},
  {"U+3FFFF", U("\xf0\xbf\xbf\xbf"), true, 0},
  {"U+40000", U("\xf1\x80\x80\x80"), true, 0},
  {"U+FFFFF", U("\xf3\xbf\xbf\xbf"), true, 0},
  {"U+100000", U("\xf4\x80\x80\x80"), true, 0},
  {"U+10FFFF", U("\xf4\x8f\xbf\xbf"), true, 0},
  {"mixed", U("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"), true, 0},
  {"overlong NUL C0 80", U("\xc0\x80"), false, 0},
  {"overlong C1 BF", U("\xc1\xbf"), false, 0},
  {"overlong E0 80 80", U("\xe0\x80\x80"), false, 0},
  {"overlong E0 9F BF", U("\xe0\x9f\xbf"), false, 0},
  {"overlong F0 80 80 80", U("\xf0\x80\x80\x80"), false, 0},
  {"overlong F0 8F BF BF", U("\xf0\x8f\xbf\xbf"), false, 0},
  {"surrogate U+D800", U("\xed\xa0\x80"), false, 0},
  {"surrogate U+DBFF", U("\xed\xaf\xbf"), false, 0},
  {"surrogate U+DC00", U("\xed\xb0\x80"), false, 0},
  {"surrogate U+DFFF", U("\xed\xbf\xbf"), false, 0},
  {"surrogate pair as CESU-8", U("\xed\xa0\xbd\xed\xb8\x80"), false, 0},
  {"U+110000", U("\xf4\x90\x80\x80"), false, 0},
  {"F4 BF", U("\xf4\xbf\xbf\xbf"), false, 0},
  {"F5 lead", U("\xf5\x80\x80\x80"), false, 0},
  {"F7 lead", U("\xf7\xbf\xbf\xbf"), false, 0},
  {"F8 five-octet lead", U("\xf8\x88\x80\x80\x80"), false, 0},
  {"FC six-octet lead", U("\xfc\x84\x80\x80\x80\x80"), false, 0},
  {"FE", U("\xfe"), false, 0},
  {"FF", U("\xff"), false, 0},
  {"lone continuation 80", U("\x80"), false, 0},
  {"lone continuation BF", U("\xbf"), false, 0},
  {"continuation after char", U("\xc3\xa9\xa9"), false, 2},
  {"truncated 2 at end", U("ab\xc3"), false, 2},
  {"truncated 3 at end", U("\xe2\x82"), false, 0},
  {"truncated 4 at end", U("\xf0\x9f\x98"), false, 0},
  {"truncated 2 then ASCII", U("\xc3" "A"), false, 0},
  {"truncated 3 then ASCII", U("\xe2\x82" "A"), false, 0},
  {"truncated 4 then lead", U("\xf0\x9f\xc3\xa9"), false, 0},
  {"bad after good", U("ok \xe2\x82\xac \xc0"), false, 7},
  {"cut after good", U("ok \xe2\x82\xac \xf0\x9f"), false, 7},
  {"broken after good", U("\xc3\xa9\xe2\x82\x41"), false, 2},
};

/* spec: FRAME-5 */
Test(utf8, rfc3629_boundaries)
{
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const utf8_case *c = &cases[i];
    size_t bad = 9999;
    bool ok = parley_utf8_valid(c->s, c->len, &bad);
    cr_expect_eq(ok, c->valid, "%s: valid %d, want %d", c->what, ok,
                 c->valid);
    if (!c->valid)
      cr_expect_eq(bad, c->bad, "%s: bad offset %zu, want %zu", c->what,
                   bad, c->bad);
    else
      cr_expect_eq(bad, 9999, "%s: offset written for valid input",
                   c->what);
    cr_expect_eq(ref_valid((const unsigned char *)c->s, c->len), c->valid,
                 "%s: the reference decoder disagrees with the table",
                 c->what);
  }
}

/* spec: FRAME-5 */
Test(utf8, null_offset_pointer_and_null_empty)
{
  cr_assert(parley_utf8_valid(NULL, 0, NULL));
  cr_assert(!parley_utf8_valid("\xc0\x80", 2, NULL));
  cr_assert(parley_utf8_valid("abc", 3, NULL));
}

/* Every string of one and two octets, and every string of three. */
/* spec: FRAME-5 */
Test(utf8, exhaustive_up_to_three_octets)
{
  unsigned char s[3];
  size_t valid3 = 0;

  for (unsigned a = 0; a < 256; a++) {
    s[0] = (unsigned char)a;
    cr_assert_eq(parley_utf8_valid((char *)s, 1, NULL), ref_valid(s, 1),
                 "%02x", a);
    for (unsigned b = 0; b < 256; b++) {
      s[1] = (unsigned char)b;
      cr_assert_eq(parley_utf8_valid((char *)s, 2, NULL), ref_valid(s, 2),
                   "%02x %02x", a, b);
      for (unsigned c = 0; c < 256; c++) {
        s[2] = (unsigned char)c;
        bool want = ref_valid(s, 3);
        valid3 += want;
        if (parley_utf8_valid((char *)s, 3, NULL) != want)
          cr_assert_fail("%02x %02x %02x: want %d", a, b, c, want);
      }
    }
  }
  cr_assert_gt(valid3, 0);
}

/* Four octets: every lead and second octet, with the third and fourth
 * drawn from the values at the edges of the ranges. */
/* spec: FRAME-5 */
Test(utf8, four_octets_all_leads_and_seconds)
{
  static const unsigned char edge[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90,
                                       0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0,
                                       0xF0, 0xF4, 0xFF};
  size_t n = sizeof edge;
  unsigned char s[4];

  for (unsigned a = 0; a < 256; a++)
    for (unsigned b = 0; b < 256; b++)
      for (size_t c = 0; c < n; c++)
        for (size_t d = 0; d < n; d++) {
          s[0] = (unsigned char)a;
          s[1] = (unsigned char)b;
          s[2] = edge[c];
          s[3] = edge[d];
          bool want = ref_valid(s, 4);
          if (parley_utf8_valid((char *)s, 4, NULL) != want)
            cr_assert_fail("%02x %02x %02x %02x: want %d", a, b, s[2],
                           s[3], want);
        }
}

/* Every code point encodes to a valid sequence, and every proper prefix
 * of a multi-octet sequence is invalid from its lead octet. */
/* spec: FRAME-5 */
Test(utf8, every_code_point_and_its_prefixes)
{
  unsigned char s[4];

  for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (n == 1)
      s[0] = (unsigned char)cp;
    else {
      static const unsigned char mark[] = {0, 0, 0xC0, 0xE0, 0xF0};
      for (size_t k = n - 1; k > 0; k--)
        s[k] = (unsigned char)(0x80 | ((cp >> (6 * (n - 1 - k))) & 0x3F));
      s[0] = (unsigned char)(mark[n] | (cp >> (6 * (n - 1))));
    }
    bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    if (parley_utf8_valid((char *)s, n, NULL) == surrogate)
      cr_assert_fail("U+%04X: valid must be %d", cp, !surrogate);
    for (size_t k = 1; k < n && !surrogate; k++) {
      size_t bad = 0;
      if (parley_utf8_valid((char *)s, k, &bad) || bad != 0)
        cr_assert_fail("U+%04X cut to %zu octets: bad %zu", cp, k, bad);
    }
  }
}
