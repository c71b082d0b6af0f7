/* parley-conform --json: the run as one JSON document, valid against
 * schema/parley-conform-result.schema.json (which documents every
 * member).
 *
 * Wire log data is kept exactly: as a string when it is valid UTF-8
 * (NUL and control characters included, as JSON escapes), otherwise as a
 * readable string with U+FFFD for each bad octet plus `data_base64`, the
 * octets themselves. Only cases that did not pass carry their wire log. */
#include <string.h>

#include "tool.h"

#ifndef PARLEY_VERSION
#define PARLEY_VERSION "0"
#endif

/* A JSON string of data[0..len): exact when valid UTF-8, else lossy. */
static json_t *text_of(const char *data, size_t len)
{
  pc_buf b = {0};
  json_t *s;

  if (pc_utf8_valid(data, len))
    return json_stringn(data ? data : "", len);
  pc_utf8_lossy(&b, data, len);
  s = json_stringn(pc_buf_str(&b), b.len);
  pc_buf_free(&b);
  return s;
}

static const char b64_set[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 (RFC 4648, section 4, with padding) of data[0..len). */
static json_t *base64_of(const unsigned char *data, size_t len)
{
  pc_buf b = {0};
  size_t i;
  uint32_t v;
  char q[4];
  json_t *s;

  pc_buf_add(&b, "", 0);
  for (i = 0; i < len; i += 3) {
    v = (uint32_t)data[i] << 16;
    if (i + 1 < len)
      v |= (uint32_t)data[i + 1] << 8;
    if (i + 2 < len)
      v |= data[i + 2];
    q[0] = b64_set[(v >> 18) & 63];
    q[1] = b64_set[(v >> 12) & 63];
    q[2] = i + 1 < len ? b64_set[(v >> 6) & 63] : '=';
    q[3] = i + 2 < len ? b64_set[v & 63] : '=';
    pc_buf_add(&b, q, 4);
  }
  s = json_stringn(pc_buf_str(&b), b.len);
  pc_buf_free(&b);
  return s;
}

static json_t *log_entry(const pc_log_entry *e)
{
  json_t *o = json_pack("{s:I, s:I, s:s, s:o, s:o, s:I, s:o}", "t_us",
                        (json_int_t)e->t_us, "wall_ms",
                        (json_int_t)e->wall_ms, "dir", pc_dir_name(e->dir),
                        "conn", text_of(e->conn, e->conn ? strlen(e->conn)
                                                         : 0),
                        "kind", text_of(e->kind, e->kind ? strlen(e->kind)
                                                         : 0),
                        "len", (json_int_t)e->len, "data",
                        text_of(e->data, e->len));

  if (!pc_utf8_valid(e->data, e->len))
    json_object_set_new(o, "data_base64",
                        base64_of((const unsigned char *)e->data, e->len));
  return o;
}

/* The requirement ids of a case as an array. */
static json_t *reqs_of(const char *reqs)
{
  json_t *a = json_array();
  const char *p = reqs, *end;

  while (p && *p) {
    p += strspn(p, " ");
    end = p + strcspn(p, " ");
    if (end > p)
      json_array_append_new(a, json_stringn(p, (size_t)(end - p)));
    p = end;
  }
  return a;
}

static json_t *case_of(const pc_item *it)
{
  const pc_result *r = &it->res;
  json_t *log = json_array();
  size_t i;
  bool passed = it->ran && r->verdict == PC_PASS;

  for (i = 0; it->ran && !passed && i < r->log_count; i++)
    json_array_append_new(log, log_entry(&r->log[i]));
  return json_pack(
    "{s:s, s:s, s:s, s:o, s:s, s:o, s:s, s:b, s:b, s:o, s:o, s:o, s:o,"
    " s:o}",
    "id", it->c->id, "suite", it->suite->name, "title", it->c->title,
    "reqs", reqs_of(it->c->reqs), "level", pc_level_name(it->c->level),
    "cap", it->c->cap ? json_string(it->c->cap) : json_null(),
    "verdict", it->ran ? pc_verdict_name(r->verdict) : "not-run",
    "expected_fail", it->ran && r->expected_fail,
    "stale", it->ran && r->stale,
    "expect_fail_reason",
    it->xfail_line && it->xfail_reason ? json_string(it->xfail_reason)
                                       : json_null(),
    "message", r->message ? text_of(r->message, strlen(r->message))
                          : json_null(),
    "started_ms", it->ran ? json_integer((json_int_t)r->started_ms)
                          : json_null(),
    "duration_ms", json_real(it->ran ? (double)r->duration_us / 1000.0
                                     : 0.0),
    "wire_log", log);
}

static json_t *counts_of(const pc_outcome *o)
{
  pc_tally t;

  pc_tally_of(o, &t);
  return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                   "s:I}",
                   "total", (json_int_t)o->count, "ran", (json_int_t)t.ran,
                   "not_run", (json_int_t)t.not_run,
                   "pass", (json_int_t)t.verdict[PC_PASS],
                   "fail", (json_int_t)t.verdict[PC_FAIL],
                   "non_strict", (json_int_t)t.verdict[PC_NON_STRICT],
                   "informational", (json_int_t)t.verdict[PC_INFO],
                   "skipped", (json_int_t)t.verdict[PC_SKIP],
                   "expected_fail", (json_int_t)t.expected_fail,
                   "stale", (json_int_t)t.stale,
                   "failing", (json_int_t)t.failing);
}

static json_t *run_of(const pc_outcome *o)
{
  char started[40];
  pc_tally t;

  pc_tally_of(o, &t);
  pc_iso_time(o->started_ms, started, sizeof started);
  return json_pack(
    "{s:s, s:s, s:s, s:s, s:o, s:b, s:s, s:I, s:f, s:b, s:b, s:b, s:s, "
    "s:o}",
    "tool", "parley-conform", "tool_version", PARLEY_VERSION,
    "spec_version", PC_SPEC_VERSION, "mode", o->mode,
    "target", text_of(o->target, strlen(o->target)),
    "self_started", o->self_started, "started", started,
    "started_ms", (json_int_t)o->started_ms,
    "duration_ms", (double)o->wall_us / 1000.0,
    "strict", o->opts->strict, "interrupted", o->interrupted,
    "stopped_early", o->stopped_early,
    "result", t.failing ? "fail" : o->interrupted ? "interrupted" : "pass",
    "counts", counts_of(o));
}

/* Dumps one value to f, then decrefs it. Returns 0 or -1. */
static int dump_one(json_t *v, FILE *f)
{
  int rc = v && json_dumpf(v, f, JSON_INDENT(2)) == 0 ? 0 : -1;

  json_decref(v);
  return rc;
}

/* The document is written one case at a time (each case's value is
 * built, written and freed before the next), so memory holds one wire
 * log's JSON at most. */
int pc_report_json(const pc_outcome *o, FILE *f)
{
  size_t i;
  int rc = 0;

  if (fputs("{\"run\": ", f) == EOF || dump_one(run_of(o), f) != 0 ||
      fputs(",\n\"cases\": [", f) == EOF)
    return -1;
  for (i = 0; i < o->count && rc == 0; i++) {
    if (fputs(i ? ",\n" : "\n", f) == EOF ||
        dump_one(case_of(&o->items[i]), f) != 0)
      rc = -1;
  }
  if (fputs("\n]}\n", f) == EOF || ferror(f))
    rc = -1;
  return rc;
}
