/* parley-conform reports: what every writer shares, and the terminal.
 *
 * A wire log holds whatever the target sent, so nothing from it reaches a
 * terminal, an XML file or a web page as raw octets: pc_escape_visible
 * turns any octet string into valid UTF-8 in which every control
 * character, invalid octet and invisible format character is spelled out.
 * The markup writers escape that text once more for XML and HTML. JSON
 * keeps the data as it was (text when it is valid UTF-8, base64 beside a
 * lossy text otherwise). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tool.h"

/* ---- a growing string ---------------------------------------------- */

static void buf_grow(pc_buf *b, size_t more)
{
  size_t cap = b->cap ? b->cap : 256;

  if (b->len + more + 1 <= b->cap)
    return;
  while (cap < b->len + more + 1)
    cap *= 2;
  b->p = realloc(b->p, cap);
  if (!b->p) {
    fputs("parley-conform: out of memory\n", stderr);
    abort();
  }
  b->cap = cap;
}

void pc_buf_add(pc_buf *b, const void *data, size_t len)
{
  buf_grow(b, len);
  if (len)
    memcpy(b->p + b->len, data, len);
  b->len += len;
  b->p[b->len] = '\0';
}

void pc_buf_adds(pc_buf *b, const char *s)
{
  pc_buf_add(b, s, strlen(s));
}

void pc_buf_addf(pc_buf *b, const char *fmt, ...)
{
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n <= 0)
    return;
  buf_grow(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

const char *pc_buf_str(const pc_buf *b)
{
  return b->p ? b->p : "";
}

void pc_buf_free(pc_buf *b)
{
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* ---- UTF-8 and escaping -------------------------------------------- */

/* Decodes one UTF-8 character at s[0..n). Returns its length in octets
 * and sets *cp, or 0 when s does not start with a valid one. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
  size_t len, i;
  uint32_t c;

  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  }
  if (s[0] >= 0xc2 && s[0] <= 0xdf)
    len = 2, c = s[0] & 0x1fu;
  else if (s[0] >= 0xe0 && s[0] <= 0xef)
    len = 3, c = s[0] & 0x0fu;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4)
    len = 4, c = s[0] & 0x07u;
  else
    return 0;
  if (n < len)
    return 0;
  for (i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    c = (c << 6) | (s[i] & 0x3fu);
  }
  if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
      (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
    return 0;
  *cp = c;
  return len;
}

bool pc_utf8_valid(const void *data, size_t len)
{
  const unsigned char *s = data;
  size_t i = 0, n;
  uint32_t cp;

  while (i < len) {
    if (!(n = utf8_decode(s + i, len - i, &cp)))
      return false;
    i += n;
  }
  return true;
}

/* Whether a valid character would be invisible or confusing as is: C1
 * controls, zero-width and direction marks, bidi embeddings and
 * isolates, line and paragraph separators, the byte order mark and the
 * noncharacters (which XML also forbids). */
static bool cp_hidden(uint32_t cp)
{
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0xad ||
         (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
         (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff ||
         (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe;
}

/* Appends \xNN for one octet. */
static void add_hex(pc_buf *b, unsigned char c)
{
  static const char hex[] = "0123456789abcdef";
  char x[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};

  pc_buf_add(b, x, sizeof x);
}

/* Appends the escape for one ASCII octet, or the octet itself. */
static void escape_ascii(pc_buf *b, unsigned char c, bool multiline,
                         bool last)
{
  switch (c) {
  case '\\':
    pc_buf_adds(b, "\\\\");
    return;
  case '\r':
    pc_buf_adds(b, "\\r");
    return;
  case '\t':
    pc_buf_adds(b, "\\t");
    return;
  case '\n':
    pc_buf_adds(b, multiline && !last ? "\\n\n" : "\\n");
    return;
  default:
    if (c < 0x20 || c == 0x7f)
      add_hex(b, c);
    else
      pc_buf_add(b, &c, 1);
  }
}

void pc_escape_visible(pc_buf *b, const void *data, size_t len,
                       bool multiline)
{
  const unsigned char *s = data;
  size_t i = 0, n;
  uint32_t cp;

  size_t from;

  pc_buf_add(b, "", 0);
  while (i < len) {
    /* a run of printable ASCII other than the backslash goes at once */
    for (from = i; i < len && s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\';
         i++)
      ;
    if (i > from) {
      pc_buf_add(b, s + from, i - from);
      continue;
    }
    n = utf8_decode(s + i, len - i, &cp);
    if (n == 0)
      add_hex(b, s[i++]);
    else if (n == 1) {
      escape_ascii(b, s[i], multiline, i + 1 == len);
      i++;
    } else {
      if (cp_hidden(cp))
        pc_buf_addf(b, "\\u{%04X}", (unsigned)cp);
      else
        pc_buf_add(b, s + i, n);
      i += n;
    }
  }
}

void pc_utf8_lossy(pc_buf *b, const void *data, size_t len)
{
  const unsigned char *s = data;
  size_t i = 0, n;
  uint32_t cp;

  pc_buf_add(b, "", 0);
  while (i < len) {
    n = utf8_decode(s + i, len - i, &cp);
    if (n == 0) {
      pc_buf_adds(b, "\xef\xbf\xbd");
      i++;
    } else {
      pc_buf_add(b, s + i, n);
      i += n;
    }
  }
}

void pc_escape_markup(pc_buf *b, const char *s, size_t len)
{
  size_t i, from = 0;
  const char *rep;

  pc_buf_add(b, "", 0);
  for (i = 0; i < len; i++) {
    switch (s[i]) {
    case '&': rep = "&amp;"; break;
    case '<': rep = "&lt;"; break;
    case '>': rep = "&gt;"; break;
    case '"': rep = "&quot;"; break;
    case '\'': rep = "&#39;"; break;
    default: continue;
    }
    pc_buf_add(b, s + from, i - from);
    pc_buf_adds(b, rep);
    from = i + 1;
  }
  pc_buf_add(b, s + from, len - from);
}

/* ---- names and counts ---------------------------------------------- */

const char *pc_level_name(pc_level l)
{
  return l == PC_MUST ? "MUST" : l == PC_SHOULD ? "SHOULD" : "MAY";
}

const char *pc_verdict_name(pc_verdict v)
{
  static const char *const names[] = {"pass", "fail", "non-strict",
                                      "informational", "skipped"};

  return (unsigned)v <= PC_SKIP ? names[v] : "?";
}

const char *pc_dir_name(pc_dir d)
{
  return d == PC_SENT ? "sent" : d == PC_RECEIVED ? "received" : "event";
}

bool pc_item_fails_run(const pc_item *it, bool strict)
{
  if (!it->ran || it->res.expected_fail)
    return false;
  return it->res.verdict == PC_FAIL ||
         (strict && it->res.verdict == PC_NON_STRICT);
}

void pc_tally_of(const pc_outcome *o, pc_tally *t)
{
  size_t i;
  const pc_item *it;

  memset(t, 0, sizeof *t);
  for (i = 0; i < o->count; i++) {
    it = &o->items[i];
    if (!it->ran) {
      t->not_run++;
      continue;
    }
    t->ran++;
    t->verdict[it->res.verdict]++;
    t->expected_fail += it->res.expected_fail;
    t->stale += it->res.stale;
    if (pc_item_fails_run(it, o->opts->strict)) {
      t->failing++;
      if (it->res.verdict == PC_FAIL)
        t->must_failing++;
      else
        t->should_failing++;
    }
  }
}

void pc_iso_time(uint64_t ms, char *out, size_t size)
{
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  char day[32];

  gmtime_r(&secs, &tm);
  strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, size, "%s.%03uZ", day, (unsigned)(ms % 1000));
}

/* ---- the terminal -------------------------------------------------- */

/* "FAIL", "expected failure", ... : how a non-passing item is labelled
 * on its line. */
static const char *item_label(const pc_item *it, bool strict)
{
  if (it->res.expected_fail)
    return "XFAIL";
  switch (it->res.verdict) {
  case PC_FAIL: return "FAIL";
  case PC_NON_STRICT: return strict ? "FAIL" : "NON-STRICT";
  case PC_INFO: return "INFO";
  case PC_SKIP: return "SKIP";
  default: return "PASS";
  }
}

void pc_report_item_line(const pc_item *it, bool strict, bool wire,
                         FILE *f)
{
  pc_buf msg = {0};
  const char *m = it->res.message ? it->res.message : "";

  pc_escape_visible(&msg, m, strlen(m), false);
  fprintf(f, "%-10s %s [%s %s] %s\n", item_label(it, strict), it->c->id,
          pc_level_name(it->c->level), it->c->reqs, pc_buf_str(&msg));
  if (it->res.expected_fail && it->xfail_reason)
    fprintf(f, "           expected: %s\n", it->xfail_reason);
  if (wire)
    pc_report_wire_text(&it->res, f);
  pc_buf_free(&msg);
}

/* Writes text with `indent` before each of its lines. */
static void put_indented(FILE *f, const char *text, const char *indent)
{
  const char *nl;

  while (*text) {
    nl = strchr(text, '\n');
    if (!nl)
      nl = text + strlen(text);
    fprintf(f, "%s%.*s\n", indent, (int)(nl - text), text);
    text = *nl ? nl + 1 : nl;
  }
}

void pc_log_head(pc_buf *b, const pc_log_entry *e)
{
  const char *conn = e->conn && *e->conn ? e->conn : "-";
  const char *kind = e->kind ? e->kind : "?";

  pc_buf_addf(b, "%10.3f ms %c ", (double)e->t_us / 1000.0, (char)e->dir);
  pc_escape_visible(b, conn, strlen(conn), false);
  pc_buf_adds(b, " ");
  pc_escape_visible(b, kind, strlen(kind), false);
  pc_buf_addf(b, ", %zu octets", e->len);
}

void pc_report_wire_text(const pc_result *res, FILE *f)
{
  size_t i;
  const pc_log_entry *e;
  pc_buf data = {0};

  fprintf(f, "    wire log (%zu entries):\n", res->log_count);
  for (i = 0; i < res->log_count; i++) {
    e = &res->log[i];
    data.len = 0;
    pc_log_head(&data, e);
    fprintf(f, "    %s\n", pc_buf_str(&data));
    data.len = 0;
    pc_escape_visible(&data, e->data, e->len, true);
    put_indented(f, pc_buf_str(&data), "        | ");
  }
  pc_buf_free(&data);
}

/* The table of counts by suite. */
static void summary_suites(const pc_outcome *o, FILE *f)
{
  size_t i, n[PC_SKIP + 2];
  const pc_suite *s = NULL;

  fprintf(f, "\n%-12s %6s %6s %10s %6s %7s %7s\n", "suite", "pass", "fail",
          "non-strict", "info", "skipped", "not run");
  for (i = 0; i <= o->count; i++) {
    if (i == o->count || o->items[i].suite != s) {
      if (s)
        fprintf(f, "%-12s %6zu %6zu %10zu %6zu %7zu %7zu\n", s->name,
                n[PC_PASS], n[PC_FAIL], n[PC_NON_STRICT], n[PC_INFO],
                n[PC_SKIP], n[PC_SKIP + 1]);
      if (i == o->count)
        break;
      s = o->items[i].suite;
      memset(n, 0, sizeof n);
    }
    n[o->items[i].ran ? (size_t)o->items[i].res.verdict : PC_SKIP + 1]++;
  }
}

/* The stale --expect-fail entries, loudly. */
static void summary_stale(const pc_outcome *o, const pc_tally *t, FILE *f)
{
  size_t i;

  if (!t->stale)
    return;
  fprintf(f, "\nSTALE: %zu case%s listed in %s now pass%s:\n", t->stale,
          t->stale == 1 ? "" : "s", o->opts->expect_fail_file,
          t->stale == 1 ? "es" : "");
  for (i = 0; i < o->count; i++)
    if (o->items[i].ran && o->items[i].res.stale)
      fprintf(f, "  STALE %s (line %u)\n", o->items[i].c->id,
              o->items[i].xfail_line);
  fprintf(f, "Delete %s from %s so that the list only shrinks.\n",
          t->stale == 1 ? "its line" : "their lines",
          o->opts->expect_fail_file);
}

void pc_report_summary(const pc_outcome *o, FILE *f)
{
  pc_tally t;
  bool quiet = o->opts->verbosity < 0;

  pc_tally_of(o, &t);
  if (!quiet) {
    fprintf(f, "\n%-14s %6s\n", "verdict", "cases");
    fprintf(f, "%-14s %6zu\n", "pass", t.verdict[PC_PASS]);
    fprintf(f, "%-14s %6zu", "fail", t.verdict[PC_FAIL]);
    if (t.expected_fail)
      fprintf(f, "   (%zu of the non-passing expected by --expect-fail)",
              t.expected_fail);
    fprintf(f, "\n%-14s %6zu\n", "non-strict", t.verdict[PC_NON_STRICT]);
    fprintf(f, "%-14s %6zu\n", "informational", t.verdict[PC_INFO]);
    fprintf(f, "%-14s %6zu\n", "skipped", t.verdict[PC_SKIP]);
    if (t.not_run)
      fprintf(f, "%-14s %6zu\n", "not run", t.not_run);
    summary_suites(o, f);
  }
  summary_stale(o, &t, f);
  fprintf(f, "\n%s: %zu case%s ran against %s in %.2f s",
          t.failing ? "FAILED" : o->interrupted ? "INTERRUPTED" : "PASSED",
          t.ran, t.ran == 1 ? "" : "s",
          o->target, (double)o->wall_us / 1e6);
  if (t.failing && t.should_failing)
    fprintf(f, "; %zu MUST case%s and %zu SHOULD case%s failed (--strict)",
            t.must_failing, t.must_failing == 1 ? "" : "s",
            t.should_failing, t.should_failing == 1 ? "" : "s");
  else if (t.failing)
    fprintf(f, "; %zu MUST case%s failed", t.must_failing,
            t.must_failing == 1 ? "" : "s");
  if (o->interrupted)
    fprintf(f, "; interrupted, %zu not run", t.not_run);
  else if (o->stopped_early)
    fprintf(f, "; --fail-fast stopped it, %zu not run", t.not_run);
  else if (t.not_run)
    fprintf(f, "; the target died, %zu not run", t.not_run);
  fputc('\n', f);
  fflush(f);
}

/* ---- --list -------------------------------------------------------- */

/* The catalogue object of one case. */
static json_t *catalogue_case(const pc_item *it)
{
  json_t *reqs = json_array();
  const char *p = it->c->reqs, *end;

  while (p && *p) {
    p += strspn(p, " ");
    end = p + strcspn(p, " ");
    if (end > p)
      json_array_append_new(reqs, json_stringn(p, (size_t)(end - p)));
    p = end;
  }
  return json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:s, s:s}", "id",
                   it->c->id, "suite", it->suite->name, "title",
                   it->c->title, "reqs", reqs, "level",
                   pc_level_name(it->c->level), "cap",
                   it->c->cap ? json_string(it->c->cap) : json_null(),
                   "version", PC_SPEC_VERSION, "mode",
                   it->suite->client_mode ? "client" : "server");
}

/* Writes the JSON catalogue to path ("-": standard output). */
static int list_json(const pc_item *items, size_t count, const char *path)
{
  json_t *cases = json_array(), *doc;
  size_t i;
  int rc;
  FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");

  if (!f) {
    fprintf(stderr, "parley-conform: --json %s: cannot write: %m\n", path);
    json_decref(cases);
    return -1;
  }
  for (i = 0; i < count; i++)
    json_array_append_new(cases, catalogue_case(&items[i]));
  doc = json_pack("{s:s, s:o}", "spec_version", PC_SPEC_VERSION, "cases",
                  cases);
  rc = json_dumpf(doc, f, JSON_INDENT(2)) == 0 ? 0 : -1;
  fputc('\n', f);
  json_decref(doc);
  if (f != stdout ? fclose(f) != 0 : fflush(f) != 0)
    rc = -1;
  if (rc != 0)
    fprintf(stderr, "parley-conform: --json %s: cannot write\n", path);
  return rc;
}

int pc_report_list(const pc_item *items, size_t count,
                   const char *json_path)
{
  size_t i;
  const pc_case *c;

  if (json_path && list_json(items, count, json_path) != 0)
    return -1;
  if (json_path && strcmp(json_path, "-") == 0)
    return 0;
  for (i = 0; i < count; i++) {
    c = items[i].c;
    printf("%-40s %-6s %-7s %-24s %s", c->id, pc_level_name(c->level),
           items[i].suite->client_mode ? "client" : "server", c->reqs,
           c->title);
    if (c->cap)
      printf(" [needs %s]", c->cap);
    putchar('\n');
  }
  printf("%zu case%s\n", count, count == 1 ? "" : "s");
  return 0;
}
