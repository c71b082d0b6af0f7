/* parley-conform --junit: the JUnit XML that CI systems read, valid
 * against schema/junit.xsd.
 *
 * One <testsuite> per suite of cases, one <testcase> per case (name: the
 * case id, classname: the suite). How verdicts map, so that a CI system's
 * red and green agree with the exit code:
 *   fail (a MUST)         <failure type="MUST">
 *   non-strict (SHOULD)   <system-out> note; with --strict <failure>
 *   informational (MAY)   <system-out> note
 *   skipped               <skipped type="capability">
 *   expected failure      <skipped type="expected-failure">
 *   not run               <skipped type="not-run"> (--fail-fast, ^C)
 * Every case that did not pass carries in <system-out> the sentences of
 * its requirements (spec_reqs.c) and its wire log;
 * a stale --expect-fail entry is a passing case with a note there. XML
 * cannot hold most control characters even as references, so every
 * string from a case goes through pc_escape_visible first. */
#include <string.h>

#include "tool.h"

/* Appends the markup-escaped visible form of data. */
static void add_text(pc_buf *b, const char *data, size_t len,
                     bool multiline)
{
  pc_buf vis = {0};

  pc_escape_visible(&vis, data, len, multiline);
  pc_escape_markup(b, pc_buf_str(&vis), vis.len);
  pc_buf_free(&vis);
}

static void add_attr(pc_buf *b, const char *name, const char *value)
{
  pc_buf_addf(b, " %s=\"", name);
  add_text(b, value, strlen(value), false);
  pc_buf_adds(b, "\"");
}

/* The element that says why a case did not pass, or nothing. */
static void add_outcome(pc_buf *b, const pc_item *it, bool strict)
{
  const char *msg = it->res.message ? it->res.message : "";
  pc_buf why = {0};

  if (!it->ran) {
    pc_buf_adds(b, "      <skipped type=\"not-run\" message=\"not run: the "
                   "run stopped before this case\"/>\n");
    return;
  }
  if (it->res.expected_fail) {
    pc_buf_addf(&why, "expected failure (%s): %s",
                pc_verdict_name(it->res.verdict), msg);
    pc_buf_adds(b, "      <skipped type=\"expected-failure\"");
  } else if (it->res.verdict == PC_FAIL ||
             (strict && it->res.verdict == PC_NON_STRICT)) {
    pc_buf_adds(&why, msg);
    pc_buf_addf(b, "      <failure type=\"%s\"",
                pc_level_name(it->c->level));
  } else if (it->res.verdict == PC_SKIP) {
    pc_buf_addf(&why, "skipped: %s", msg);
    pc_buf_adds(b, "      <skipped type=\"capability\"");
  } else {
    return;
  }
  add_attr(b, "message", pc_buf_str(&why));
  pc_buf_adds(b, "/>\n");
  pc_buf_free(&why);
}

/* A line of <system-out> quoting one requirement the case checks. */
static void req_line(void *ud, const char *id, size_t len, const pc_req *r)
{
  pc_buf *out = ud;

  pc_buf_adds(out, "  ");
  pc_escape_visible(out, id, len, false);
  if (!r) {
    pc_buf_adds(out, " (not in this version of the spec)\n");
    return;
  }
  pc_buf_addf(out, " (section %s, %s): ", r->section, r->level);
  pc_escape_visible(out, r->text, strlen(r->text), false);
  pc_buf_adds(out, "\n");
}

/* <system-out>: notes and, for a case that did not pass, the sentences
 * of its requirements and its wire log. */
static void add_system_out(pc_buf *b, const pc_item *it)
{
  const pc_result *r = &it->res;
  const char *msg = r->message ? r->message : "";
  pc_buf out = {0};
  size_t i;
  const pc_log_entry *e;

  if (!it->ran || (r->verdict == PC_PASS && !r->stale))
    return;
  if (r->stale) {
    pc_buf_addf(&out, "STALE: listed on line %u of the expect-fail file "
                "but passes; delete that line.\n", it->xfail_line);
  } else {
    pc_buf_addf(&out, "%s: ", pc_verdict_name(r->verdict));
    pc_escape_visible(&out, msg, strlen(msg), false);
    pc_buf_addf(&out, "\nrequirements (spec Parley/%s):\n",
                PC_SPEC_VERSION);
    pc_reqs_each(it->c->reqs, req_line, &out);
  }
  for (i = 0; r->verdict != PC_PASS && i < r->log_count; i++) {
    e = &r->log[i];
    pc_log_head(&out, e);
    pc_buf_adds(&out, "\n");
    pc_escape_visible(&out, e->data, e->len, true);
    pc_buf_adds(&out, "\n");
  }
  pc_buf_adds(b, "      <system-out>");
  pc_escape_markup(b, pc_buf_str(&out), out.len);
  pc_buf_adds(b, "</system-out>\n");
  pc_buf_free(&out);
}

static void add_testcase(pc_buf *b, const pc_item *it, bool strict)
{
  pc_buf_adds(b, "    <testcase");
  add_attr(b, "name", it->c->id);
  add_attr(b, "classname", it->suite->name);
  pc_buf_addf(b, " time=\"%.3f\">\n",
              it->ran ? (double)it->res.duration_us / 1e6 : 0.0);
  pc_buf_adds(b, "      <properties>\n");
  pc_buf_adds(b, "        <property name=\"reqs\"");
  add_attr(b, "value", it->c->reqs);
  pc_buf_addf(b, "/>\n        <property name=\"level\" value=\"%s\"/>\n",
              pc_level_name(it->c->level));
  pc_buf_addf(b, "        <property name=\"verdict\" value=\"%s\"/>\n",
              it->ran ? pc_verdict_name(it->res.verdict) : "not-run");
  pc_buf_adds(b, "      </properties>\n");
  add_outcome(b, it, strict);
  add_system_out(b, it);
  pc_buf_adds(b, "    </testcase>\n");
}

/* Counts of the <testcase> elements of items[from..to). */
typedef struct junit_counts {
  size_t tests, failures, skipped;
  double time_s;
} junit_counts;

static void count_range(const pc_outcome *o, size_t from, size_t to,
                        junit_counts *c)
{
  size_t i;
  const pc_item *it;

  memset(c, 0, sizeof *c);
  for (i = from; i < to; i++) {
    it = &o->items[i];
    c->tests++;
    if (!it->ran || it->res.expected_fail || it->res.verdict == PC_SKIP)
      c->skipped++;
    else if (pc_item_fails_run(it, o->opts->strict))
      c->failures++;
    if (it->ran)
      c->time_s += (double)it->res.duration_us / 1e6;
  }
}

/* Writes what b holds to f and empties b; sets *rc to -1 on failure. */
static void flush_to(pc_buf *b, FILE *f, int *rc)
{
  if (b->len && fwrite(b->p, 1, b->len, f) != b->len)
    *rc = -1;
  b->len = 0;
}

/* One <testsuite> for items[from..to), which share a suite, written to f
 * one <testcase> at a time. */
static void add_testsuite(pc_buf *b, FILE *f, int *rc, const pc_outcome *o,
                          size_t from, size_t to, const char *stamp)
{
  junit_counts c;
  size_t i;

  count_range(o, from, to, &c);
  pc_buf_adds(b, "  <testsuite");
  add_attr(b, "name", o->items[from].suite->name);
  pc_buf_addf(b, " tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
              "skipped=\"%zu\" time=\"%.3f\" timestamp=\"%s\">\n",
              c.tests, c.failures, c.skipped, c.time_s, stamp);
  pc_buf_adds(b, "    <properties>\n      <property name=\"target\"");
  add_attr(b, "value", o->target);
  pc_buf_addf(b, "/>\n      <property name=\"spec_version\" value=\"%s\"/>"
              "\n      <property name=\"mode\" value=\"%s\"/>\n"
              "    </properties>\n", PC_SPEC_VERSION, o->mode);
  for (i = from; i < to; i++) {
    add_testcase(b, &o->items[i], o->opts->strict);
    flush_to(b, f, rc);
  }
  pc_buf_adds(b, "  </testsuite>\n");
}

int pc_report_junit(const pc_outcome *o, FILE *f)
{
  pc_buf b = {0};
  junit_counts all;
  char stamp[40];
  size_t from, to;
  int rc = 0;

  pc_iso_time(o->started_ms, stamp, sizeof stamp);
  stamp[19] = '\0';            /* no fraction, no zone: UTC */
  count_range(o, 0, o->count, &all);
  pc_buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  pc_buf_addf(&b, "<testsuites name=\"parley-conform\" tests=\"%zu\" "
              "failures=\"%zu\" errors=\"0\" skipped=\"%zu\" "
              "time=\"%.3f\" timestamp=\"%s\">\n", all.tests, all.failures,
              all.skipped, (double)o->wall_us / 1e6, stamp);
  for (from = 0; from < o->count; from = to) {
    for (to = from; to < o->count; to++)
      if (o->items[to].suite != o->items[from].suite)
        break;
    add_testsuite(&b, f, &rc, o, from, to, stamp);
  }
  pc_buf_adds(&b, "</testsuites>\n");
  flush_to(&b, f, &rc);
  pc_buf_free(&b);
  return rc;
}
