/* parley-conform --html DIR: a static report that needs no server and no
 * script. DIR/index.html lists every case with its verdict; each case
 * that did not pass has DIR/case-<id>.html with its message and its wire
 * log, one table row per entry: time since the case started, wall clock,
 * direction, connection, kind, length and the octets.
 *
 * Everything that came from a case or from the target is passed through
 * pc_escape_visible (control characters and invalid UTF-8 spelled out)
 * and then HTML-escaped, so the target cannot put markup in the report.
 * Every page carries this tool's generator mark; once the report is
 * whole, the case pages of earlier runs that this run did not write are
 * removed (only pages with the mark: nothing else in DIR is touched). */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"
#include "tool.h"

#ifndef PARLEY_VERSION
#define PARLEY_VERSION "0"
#endif

/* Marks the pages this tool writes, so that a later run removes its own
 * stale case pages and nothing else. */
#define GENERATOR "<meta name=\"generator\" content=\"parley-conform\">"

static const char style[] =
  "<style>\n"
  "body{font-family:sans-serif;margin:1.5em;color:#222}\n"
  "table{border-collapse:collapse}\n"
  "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;"
  "vertical-align:top}\n"
  "pre{margin:0;white-space:pre-wrap;word-break:break-all;"
  "font-size:90%}\n"
  ".pass{background:#dfd}.fail{background:#fbb}"
  ".non-strict{background:#fec}.informational{background:#def}"
  ".skipped,.not-run{background:#eee}.xfail{background:#fdf}\n"
  ".sent{color:#036}.received{color:#630}.event{color:#666}\n"
  ".stale{border:3px solid #c00;padding:.5em}\n"
  ".nw{white-space:nowrap}\n"
  "</style>\n";

/* Appends s, made visible and HTML-escaped. */
static void add_text(pc_buf *b, const char *s, size_t len, bool multiline)
{
  pc_buf vis = {0};

  pc_escape_visible(&vis, s, len, multiline);
  pc_escape_markup(b, pc_buf_str(&vis), vis.len);
  pc_buf_free(&vis);
}

static void add_str(pc_buf *b, const char *s)
{
  add_text(b, s ? s : "", s ? strlen(s) : 0, false);
}

/* The page name of a case: case-<id>.html, with any octet other than a
 * letter, digit, '.', '-' or '_' written as '_'. */
static void page_name(pc_buf *b, const char *id)
{
  pc_buf_adds(b, "case-");
  for (; *id; id++)
    pc_buf_addf(b, "%c", (strchr("._-", *id) ||
                          (*id >= 'a' && *id <= 'z') ||
                          (*id >= 'A' && *id <= 'Z') ||
                          (*id >= '0' && *id <= '9')) ? *id : '_');
  pc_buf_adds(b, ".html");
}

/* The CSS class and the words for an item's verdict. */
static const char *verdict_class(const pc_item *it)
{
  if (!it->ran)
    return "not-run";
  return it->res.expected_fail ? "xfail" : pc_verdict_name(it->res.verdict);
}

static void verdict_words(pc_buf *b, const pc_item *it)
{
  if (!it->ran) {
    pc_buf_adds(b, "not run");
    return;
  }
  pc_buf_adds(b, pc_verdict_name(it->res.verdict));
  if (it->res.expected_fail)
    pc_buf_adds(b, " (expected failure)");
  if (it->res.stale)
    pc_buf_adds(b, " (STALE expect-fail entry)");
}

/* Writes b to DIR/name. Returns 0, or -1 after printing. */
static int write_file(const char *dir, const char *name, const pc_buf *b)
{
  pc_buf path = {0};
  pc_outfile o;
  char err[256] = "cannot write";
  FILE *f;
  int rc = -1;

  pc_buf_addf(&path, "%s/%s", dir, name);
  if (pc_outfile_prepare(&o, path.p, err, sizeof err) == 0) {
    if ((f = pc_outfile_open(&o, err, sizeof err)) &&
        fwrite(pc_buf_str(b), 1, b->len, f) == b->len &&
        pc_outfile_commit(&o, err, sizeof err) == 0)
      rc = 0;
    if (rc == 0)
      pc_outfile_free(&o);
    else
      pc_outfile_discard(&o);
  }
  if (rc != 0)
    fprintf(stderr, "parley-conform: --html: cannot write %s: %s\n", path.p,
            err);
  pc_buf_free(&path);
  return rc;
}

static void page_start(pc_buf *b, const char *title)
{
  pc_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
                 "<meta charset=\"utf-8\">\n" GENERATOR "\n<title>");
  add_str(b, title);
  pc_buf_addf(b, "</title>\n%s</head>\n<body>\n", style);
}

/* ---- a case's page ------------------------------------------------- */

static void wire_row(pc_buf *b, size_t i, const pc_log_entry *e)
{
  char wall[40];

  pc_iso_time(e->wall_ms, wall, sizeof wall);
  pc_buf_addf(b, "<tr class=\"%s\"><td>%zu</td><td class=\"nw\">%.3f"
              "</td><td class=\"nw\" title=\"%s\">%.12s</td>"
              "<td class=\"nw\">%s</td><td>", pc_dir_name(e->dir), i + 1,
              (double)e->t_us / 1000.0, wall, wall + 11,
              e->dir == PC_SENT ? "&gt; sent" : e->dir == PC_RECEIVED
                                                    ? "&lt; received"
                                                    : "* event");
  add_str(b, e->conn && *e->conn ? e->conn : "-");
  pc_buf_adds(b, "</td><td>");
  add_str(b, e->kind);
  pc_buf_addf(b, "</td><td>%zu</td><td><pre>", e->len);
  add_text(b, e->data, e->len, true);
  pc_buf_adds(b, "</pre></td></tr>\n");
}

static void case_facts(pc_buf *b, const pc_item *it)
{
  pc_buf_adds(b, "<table>\n<tr><th>title</th><td>");
  add_str(b, it->c->title);
  pc_buf_adds(b, "</td></tr>\n<tr><th>suite</th><td>");
  add_str(b, it->suite->name);
  pc_buf_addf(b, "</td></tr>\n<tr><th>level</th><td>%s</td></tr>\n"
              "<tr><th>requirements</th><td>",
              pc_level_name(it->c->level));
  add_str(b, it->c->reqs);
  pc_buf_adds(b, "</td></tr>\n<tr><th>capability</th><td>");
  add_str(b, it->c->cap ? it->c->cap : "none");
  pc_buf_addf(b, "</td></tr>\n<tr><th>verdict</th><td class=\"%s\">",
              verdict_class(it));
  verdict_words(b, it);
  if (it->xfail_line) {
    pc_buf_addf(b, "; listed on line %u of the expect-fail file",
                it->xfail_line);
    if (it->xfail_reason) {
      pc_buf_adds(b, ": ");
      add_str(b, it->xfail_reason);
    }
  }
  pc_buf_adds(b, "</td></tr>\n<tr><th>message</th><td><pre>");
  add_str(b, it->res.message);
  pc_buf_addf(b, "</pre></td></tr>\n<tr><th>duration</th><td>%.3f ms</td>"
              "</tr>\n</table>\n", (double)it->res.duration_us / 1000.0);
}

/* One item of the list of requirements on a case's page. */
static void req_item(void *ud, const char *id, size_t len, const pc_req *r)
{
  pc_buf *b = ud;

  pc_buf_adds(b, "<li><b>");
  add_text(b, id, len, false);
  pc_buf_adds(b, "</b>");
  if (!r) {
    pc_buf_adds(b, " (not in this version of the spec)</li>\n");
    return;
  }
  pc_buf_addf(b, " (section %s, %s): ", r->section, r->level);
  add_str(b, r->text);
  pc_buf_adds(b, "</li>\n");
}

/* The sentence of every requirement the case checks, from the spec. */
static void case_reqs(pc_buf *b, const pc_item *it)
{
  pc_buf_addf(b, "<h2>Requirements</h2>\n<p>What the case checks, quoted "
              "from the spec (Parley/%s, spec/parley-1.md):</p>\n<ul>\n",
              PC_SPEC_VERSION);
  pc_reqs_each(it->c->reqs, req_item, b);
  pc_buf_adds(b, "</ul>\n");
}

static int case_page(const pc_item *it, const char *dir)
{
  pc_buf b = {0}, name = {0};
  size_t i;
  int rc;

  page_start(&b, it->c->id);
  pc_buf_adds(&b, "<p><a href=\"index.html\">all cases</a></p>\n<h1>");
  add_str(&b, it->c->id);
  pc_buf_adds(&b, "</h1>\n");
  case_facts(&b, it);
  case_reqs(&b, it);
  pc_buf_addf(&b, "<h2>Wire log</h2>\n<p>%zu entries. Octets are shown as "
              "they crossed the wire, sent and received alike: \\r \\n "
              "\\t and \\xNN for control octets and "
              "for octets that are not UTF-8, \\u{XXXX} for invisible "
              "characters, \\\\ for a backslash.</p>\n<table>\n<tr><th>#"
              "</th><th>ms</th><th>UTC</th><th>dir</th>"
              "<th>connection</th><th>kind</th><th>octets</th>"
              "<th>data</th></tr>\n", it->res.log_count);
  for (i = 0; i < it->res.log_count; i++)
    wire_row(&b, i, &it->res.log[i]);
  pc_buf_adds(&b, "</table>\n</body>\n</html>\n");
  page_name(&name, it->c->id);
  rc = write_file(dir, name.p, &b);
  pc_buf_free(&name);
  pc_buf_free(&b);
  return rc;
}

/* ---- the index ----------------------------------------------------- */

static void index_head(pc_buf *b, const pc_outcome *o, const pc_tally *t)
{
  char started[40];

  pc_iso_time(o->started_ms, started, sizeof started);
  page_start(b, "parley-conform report");
  pc_buf_addf(b, "<h1>parley-conform: <span class=\"%s\">%s</span></h1>\n"
              "<table>\n<tr><th>target</th><td>",
              t->failing ? "fail" : o->interrupted ? "not-run" : "pass",
              t->failing ? "FAILED" : o->interrupted ? "INTERRUPTED"
                                                     : "PASSED");
  add_str(b, o->target);
  pc_buf_addf(b, "%s</td></tr>\n<tr><th>mode</th><td>%s</td></tr>\n"
              "<tr><th>started</th><td>%s</td></tr>\n<tr><th>wall time"
              "</th><td>%.2f s</td></tr>\n<tr><th>tool</th><td>"
              "parley-conform %s, spec version %s%s</td></tr>\n",
              o->self_started ? " (reference server)" : "", o->mode,
              started, (double)o->wall_us / 1e6, PARLEY_VERSION,
              PC_SPEC_VERSION, o->opts->strict ? ", --strict" : "");
  pc_buf_addf(b, "<tr><th>cases</th><td>%zu ran: %zu pass, %zu fail, %zu "
              "non-strict, %zu informational, %zu skipped; %zu expected "
              "failures, %zu stale, %zu not run</td></tr>\n</table>\n",
              t->ran, t->verdict[PC_PASS], t->verdict[PC_FAIL],
              t->verdict[PC_NON_STRICT], t->verdict[PC_INFO],
              t->verdict[PC_SKIP], t->expected_fail, t->stale,
              t->not_run);
  if (t->stale)
    pc_buf_addf(b, "<p class=\"stale\">%zu case(s) listed in the "
                "expect-fail file pass now: delete their lines (marked "
                "STALE below).</p>\n", t->stale);
}

static void index_row(pc_buf *b, const pc_item *it)
{
  bool page = it->ran && it->res.verdict != PC_PASS;
  pc_buf name = {0};

  pc_buf_adds(b, "<tr><td>");
  if (page) {
    page_name(&name, it->c->id);
    pc_buf_addf(b, "<a href=\"%s\">", name.p);
  }
  add_str(b, it->c->id);
  pc_buf_addf(b, "%s</td><td>", page ? "</a>" : "");
  add_str(b, it->suite->name);
  pc_buf_addf(b, "</td><td>%s</td><td>", pc_level_name(it->c->level));
  add_str(b, it->c->reqs);
  pc_buf_addf(b, "</td><td class=\"%s\">", verdict_class(it));
  verdict_words(b, it);
  pc_buf_addf(b, "</td><td>%.1f</td><td>",
              it->ran ? (double)it->res.duration_us / 1000.0 : 0.0);
  add_str(b, it->ran ? it->res.message : NULL);
  pc_buf_adds(b, "</td></tr>\n");
  pc_buf_free(&name);
}

/* Whether `name` in dir is a page an earlier run of this tool wrote: a
 * regular file (not a link) whose head carries GENERATOR. */
static bool our_page(const char *dir, const char *name)
{
  pc_buf path = {0};
  char head[512];
  struct stat st;
  size_t n = 0;
  FILE *f;

  pc_buf_addf(&path, "%s/%s", dir, name);
  if (lstat(path.p, &st) == 0 && S_ISREG(st.st_mode) &&
      (f = fopen(path.p, "r"))) {
    n = fread(head, 1, sizeof head - 1, f);
    fclose(f);
  }
  pc_buf_free(&path);
  head[n] = '\0';
  return strstr(head, GENERATOR) != NULL;
}

/* Whether `name` is the page of a case of this run that did not pass. */
static bool page_of_run(const pc_outcome *o, const char *name)
{
  pc_buf page = {0};
  bool found = false;
  size_t i;

  for (i = 0; i < o->count && !found; i++) {
    if (!o->items[i].ran || o->items[i].res.verdict == PC_PASS)
      continue;
    page.len = 0;
    page_name(&page, o->items[i].c->id);
    found = strcmp(page.p, name) == 0;
  }
  pc_buf_free(&page);
  return found;
}

/* Removes the case pages of earlier runs in dir (ours by GENERATOR) that
 * this run did not write, so that none of them reads as this run's. */
static void remove_stale(const pc_outcome *o, const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  pc_buf path = {0};
  size_t n;

  if (!d)
    return;
  while ((e = readdir(d))) {
    n = strlen(e->d_name);
    if (strncmp(e->d_name, "case-", 5) != 0 || n < 11 ||
        strcmp(e->d_name + n - 5, ".html") != 0 ||
        page_of_run(o, e->d_name) || !our_page(dir, e->d_name))
      continue;
    path.len = 0;
    pc_buf_addf(&path, "%s/%s", dir, e->d_name);
    unlink(path.p);
  }
  closedir(d);
  pc_buf_free(&path);
}

int pc_report_html(const pc_outcome *o, const char *dir)
{
  pc_buf b = {0};
  pc_tally t;
  size_t i;
  int rc = 0;

  pc_tally_of(o, &t);
  index_head(&b, o, &t);
  pc_buf_adds(&b, "<table>\n<tr><th>case</th><th>suite</th><th>level</th>"
                  "<th>requirements</th><th>verdict</th><th>ms</th>"
                  "<th>message</th></tr>\n");
  for (i = 0; i < o->count; i++) {
    index_row(&b, &o->items[i]);
    if (o->items[i].ran && o->items[i].res.verdict != PC_PASS &&
        case_page(&o->items[i], dir) != 0)
      rc = -1;
  }
  pc_buf_adds(&b, "</table>\n</body>\n</html>\n");
  if (write_file(dir, "index.html", &b) != 0)
    rc = -1;
  pc_buf_free(&b);
  if (rc == 0)
    remove_stale(o, dir);
  return rc;
}

void pc_report_html_clear(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  char tag[64];
  pc_buf path = {0};

  if (!d)
    return;
  /* only the temporary files of this process: pages are renamed into
   * place whole, and nothing else in dir is ours to remove */
  snprintf(tag, sizeof tag, "%s%ld-", PC_OUTFILE_TMP_TAG, (long)getpid());
  while ((e = readdir(d))) {
    if (e->d_name[0] != '.' || !strstr(e->d_name, tag))
      continue;
    path.len = 0;
    pc_buf_addf(&path, "%s/%s", dir, e->d_name);
    unlink(path.p);
  }
  closedir(d);
  pc_buf_free(&path);
}
