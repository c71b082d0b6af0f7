/* Unit tests of what parley-conform's reports share (conformance/report.c):
 * making octets visible, markup escaping, UTF-8 checks, times, and which
 * results fail a run. */
#include <criterion/criterion.h>
#include <string.h>

#include "../../conformance/tool.h"

/* The visible form of data[0..len). The caller frees it. */
static char *visible(const char *data, size_t len, bool multiline)
{
  pc_buf b = {0};

  pc_escape_visible(&b, data, len, multiline);
  return b.p;
}

static void expect_visible(const char *data, size_t len, bool multiline,
                           const char *want)
{
  char *got = visible(data, len, multiline);

  cr_expect_str_eq(got, want);
  free(got);
}

Test(visible, frame_lines)
{
  static const char f[] = "HELLO\r\nversions: 1\r\n\r\n";

  expect_visible(f, sizeof f - 1, true,
                 "HELLO\\r\\n\nversions: 1\\r\\n\n\\r\\n");
  expect_visible(f, sizeof f - 1, false,
                 "HELLO\\r\\nversions: 1\\r\\n\\r\\n");
}

Test(visible, control_octets_and_backslash)
{
  static const char s[] = "a\x00\x01\t\x1b\x7f\\b";

  expect_visible(s, sizeof s - 1, false, "a\\x00\\x01\\t\\x1b\\x7f\\\\b");
}

Test(visible, invalid_utf8_octet_by_octet)
{
  expect_visible("\xff", 1, false, "\\xff");
  expect_visible("\xc3\x28", 2, false, "\\xc3(");
  expect_visible("\xc0\xaf", 2, false, "\\xc0\\xaf");         /* overlong */
  expect_visible("\xe0\x80\xaf", 3, false, "\\xe0\\x80\\xaf"); /* overlong */
  expect_visible("\xed\xa0\x80", 3, false, "\\xed\\xa0\\x80"); /* surrogate */
  expect_visible("\xf4\x90\x80\x80", 4, false,
                 "\\xf4\\x90\\x80\\x80");                      /* > U+10FFFF */
  expect_visible("\xe2\x82", 2, false, "\\xe2\\x82");          /* cut short */
}

Test(visible, valid_text_unchanged)
{
  static const char s[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e";

  expect_visible(s, sizeof s - 1, false, s);
}

Test(visible, hidden_characters_named)
{
  expect_visible("\xe2\x80\xae", 3, false, "\\u{202E}");  /* RLO */
  expect_visible("\xef\xbb\xbf", 3, false, "\\u{FEFF}");  /* BOM */
  expect_visible("\xc2\x85", 2, false, "\\u{0085}");      /* NEL */
  expect_visible("\xe2\x80\x8b", 3, false, "\\u{200B}");  /* ZWSP */
  expect_visible("\xef\xbf\xbe", 3, false, "\\u{FFFE}");
  expect_visible("\xf4\x8f\xbf\xbf", 4, false, "\\u{10FFFF}");
}

Test(markup, five_characters)
{
  pc_buf b = {0};
  static const char s[] = "<a href=\"x\">&'</a>";

  pc_escape_markup(&b, s, sizeof s - 1);
  cr_expect_str_eq(pc_buf_str(&b), "&lt;a href=&quot;x&quot;&gt;&amp;"
                                   "&#39;&lt;/a&gt;");
  pc_buf_free(&b);
}

Test(utf8, valid_and_lossy)
{
  pc_buf b = {0};

  cr_expect(pc_utf8_valid("", 0));
  cr_expect(pc_utf8_valid("a\x00" "b", 3));
  cr_expect(pc_utf8_valid("\xf0\x9d\x84\x9e", 4));
  cr_expect_not(pc_utf8_valid("\xed\xbf\xbf", 3));
  cr_expect_not(pc_utf8_valid("\xc1\xbf", 2));
  pc_utf8_lossy(&b, "a\xff" "b\xe2\x82", 5);
  cr_expect_str_eq(pc_buf_str(&b), "a\xef\xbf\xbd" "b\xef\xbf\xbd"
                                   "\xef\xbf\xbd");
  pc_buf_free(&b);
}

Test(buf, grows_and_formats)
{
  pc_buf b = {0};
  size_t i;

  cr_expect_str_eq(pc_buf_str(&b), "");
  for (i = 0; i < 1000; i++)
    pc_buf_addf(&b, "%zu,", i);
  cr_expect_eq(strncmp(b.p, "0,1,2,", 6), 0);
  cr_expect_eq(b.len, strlen(b.p));
  pc_buf_free(&b);
}

Test(names, iso_time)
{
  char out[40];

  pc_iso_time(0, out, sizeof out);
  cr_expect_str_eq(out, "1970-01-01T00:00:00.000Z");
  pc_iso_time(1234567890123u, out, sizeof out);
  cr_expect_str_eq(out, "2009-02-13T23:31:30.123Z");
}

Test(names, verdicts_and_levels)
{
  cr_expect_str_eq(pc_verdict_name(PC_NON_STRICT), "non-strict");
  cr_expect_str_eq(pc_verdict_name(PC_INFO), "informational");
  cr_expect_str_eq(pc_verdict_name(PC_SKIP), "skipped");
  cr_expect_str_eq(pc_level_name(PC_SHOULD), "SHOULD");
}

Test(verdicts, which_fail_the_run)
{
  pc_item it = {.ran = true};

  it.res.verdict = PC_FAIL;
  cr_expect(pc_item_fails_run(&it, false));
  it.res.expected_fail = true;
  cr_expect_not(pc_item_fails_run(&it, true));
  it.res.expected_fail = false;
  it.res.verdict = PC_NON_STRICT;
  cr_expect_not(pc_item_fails_run(&it, false));
  cr_expect(pc_item_fails_run(&it, true));
  it.res.verdict = PC_INFO;
  cr_expect_not(pc_item_fails_run(&it, true));
  it.res.verdict = PC_SKIP;
  cr_expect_not(pc_item_fails_run(&it, true));
  it.res.verdict = PC_FAIL;
  it.ran = false;
  cr_expect_not(pc_item_fails_run(&it, true));
}
