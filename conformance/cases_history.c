/* Conformance cases: history (spec section 8.2, and the messages
 * endpoint of section 12.2).
 *
 * Each case fills a new conversation with a known number of messages and
 * walks its history, checking every page against what must be on it: the
 * seqs (newest page first walking back, ascending within a page), the
 * msg-ids the ACKs gave, `more` true exactly until the end, a cursor
 * exactly when `more` is true, and no message twice (HIST-2: cursors are
 * exclusive). The ends get their own cases: an empty conversation, one
 * message, exactly `limit` messages, exactly twice `limit`. */
#include <string.h>

#include "msg_util.h"

static const int other_member[] = {1};

/* A new conversation of accounts 0 and 1 with n messages sent by s. */
static mu_ack *filled(mu_sess *s, size_t n, const char **conv)
{
  *conv = mu_group(s->t, 0, other_member, 1);
  return mu_fill(s, *conv, n, "history");
}

/* Fails unless page p holds the messages seq lo..hi of k (lo > hi: none)
 * with `more` as want_more. */
static void page_is(mu_sess *s, const mu_page *p, const mu_ack *k,
                    size_t lo, size_t hi, bool want_more, const char *what)
{
  pc_ctx *t = s->t;
  size_t n = lo <= hi ? hi - lo + 1 : 0;

  mu_check_seqs(t, &p->msgs, lo, n, what);
  for (size_t i = 0; i < n; i++) {
    const mu_ack *a = &k[lo + i - 1];
    const char *body = pc_printf(t, "history %zu", lo + i);
    mu_msg_is(t, p->msgs.v[i], a, mu_user(s), pc_device(s->c), "text/plain",
              body, strlen(body), what);
  }
  if (p->more != want_more)
    pc_fail(t, "%s: PAGE more: %s, expected %s", what,
            p->more ? "yes" : "no", want_more ? "yes" : "no");
}

/* Walks conv's history back from the newest message with `limit` (its
 * value as text, NULL: absent, meaning `size`) and checks every page. */
static void walk_back(mu_sess *s, const char *conv, const mu_ack *k,
                      size_t n, const char *limit, size_t size)
{
  const char *cursor = NULL;
  size_t hi = n;
  int page = 1;

  for (;;) {
    mu_page *p = mu_history(s, conv, limit, cursor, NULL);
    size_t lo = hi > size ? hi - size + 1 : 1;
    const char *what = pc_printf(s->t, "walking back %zu messages with "
                                 "limit %s, page %d", n,
                                 limit ? limit : "(default)", page++);
    page_is(s, p, k, n == 0 ? 1 : lo, hi, lo > 1, what);
    if (!p->more)
      return;
    cursor = p->cursor;
    hi = lo - 1;
  }
}

/* Walks conv's history forward from after `after` with limit `size` and
 * checks every page. */
static void walk_forward(mu_sess *s, const char *conv, const mu_ack *k,
                         size_t n, size_t after, size_t size)
{
  const char *limit = pc_printf(s->t, "%zu", size);
  mu_page *p = mu_history(s, conv, limit, NULL,
                          pc_printf(s->t, "%zu", after));
  size_t lo = after + 1;
  int page = 1;

  for (;;) {
    size_t hi = lo + size - 1 < n ? lo + size - 1 : n;
    const char *what = pc_printf(s->t, "walking forward after %zu with "
                                 "limit %zu, page %d", after, size, page++);
    page_is(s, p, k, lo, hi, hi < n, what);
    if (!p->more)
      return;
    p = mu_history(s, conv, limit, p->cursor, NULL);
    lo = hi + 1;
  }
}

/* spec: HIST-1 HIST-2 */
static void newest_first(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv;
  mu_ack *k = filled(a, 5, &conv);

  walk_back(a, conv, k, 5, "2", 2);
}

/* spec: HIST-1 HIST-2 */
static void exact_multiple(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv;
  mu_ack *k = filled(a, 6, &conv);

  walk_back(a, conv, k, 6, "3", 3);
}

/* spec: HIST-1 HIST-2 */
static void exactly_limit(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv;
  mu_ack *k = filled(a, 3, &conv);

  walk_back(a, conv, k, 3, "3", 3);
}

/* spec: HIST-1 HIST-2 */
static void one_message(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv;
  mu_ack *k = filled(a, 1, &conv);

  walk_back(a, conv, k, 1, NULL, 50);
  walk_back(a, conv, k, 1, "1", 1);
  walk_forward(a, conv, k, 1, 0, 1);
}

/* spec: HIST-1 */
static void empty(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv;
  mu_ack *k = filled(a, 0, &conv);

  walk_back(a, conv, k, 0, NULL, 50);
  walk_back(a, conv, k, 0, "1", 1);
  page_is(a, mu_history(a, conv, NULL, NULL, "0"), k, 1, 0, false,
          "after 0 in an empty conversation");
}

/* spec: HIST-1 HIST-2 */
static void limit_one(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv;
  mu_ack *k = filled(a, 3, &conv);

  walk_back(a, conv, k, 3, "1", 1);
  walk_forward(a, conv, k, 3, 0, 1);
}

/* spec: HIST-1 HIST-2 */
static void default_and_max_limit(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv;
  mu_ack *k = filled(a, 101, &conv);

  walk_back(a, conv, k, 101, NULL, 50);
  walk_back(a, conv, k, 101, "100", 100);
}

/* spec: HIST-2 */
static void same_ts(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv;
  mu_ack *k = filled(a, 30, &conv);
  size_t ties = 0;

  for (size_t i = 1; i < 30; i++)
    ties += k[i].ts == k[i - 1].ts;
  pc_note(t, "%zu of 29 neighbouring messages share a ts", ties);
  walk_back(a, conv, k, 30, "4", 4);
  walk_forward(a, conv, k, 30, 0, 4);
}

/* spec: HIST-2 */
static void after_forward(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv;
  mu_ack *k = filled(a, 5, &conv);

  walk_forward(a, conv, k, 5, 2, 2);
  walk_forward(a, conv, k, 5, 0, 2);
  walk_forward(a, conv, k, 5, 4, 100);
  page_is(a, mu_history(a, conv, "2", NULL, "5"), k, 1, 0, false,
          "after the last seq");
  page_is(a, mu_history(a, conv, "2", NULL, "9"), k, 1, 0, false,
          "after a seq past the last");
}

/* spec: HIST-2 */
static void forward_end_moves(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv;
  mu_ack *k = pc_alloc(t, 5 * sizeof *k);
  mu_ack *first = filled(a, 3, &conv);

  memcpy(k, first, 3 * sizeof *k);
  mu_page *p = mu_history(a, conv, "2", NULL, "0");
  page_is(a, p, k, 1, 2, true, "after 0, the first page");
  page_is(a, mu_history(a, conv, "2", NULL, "3"), k, 1, 0, false,
          "after the newest seq");
  for (size_t i = 3; i < 5; i++) {
    const char *body = pc_printf(t, "history %zu", i + 1);
    k[i] = mu_post(a, conv, body);
  }
  page_is(a, mu_history(a, conv, "2", p->cursor, NULL), k, 3, 4, true,
          "a forward cursor read after two more messages came");
  page_is(a, mu_history(a, conv, "2", NULL, "3"), k, 4, 5, false,
          "after the seq that was the newest");
}

/* Sends HISTORY as the text `headers` (lines ending CRLF) and expects
 * ERROR `reason`, naming `header` when it is not NULL. */
static void refused(mu_sess *s, const char *headers, const char *reason,
                    const char *header)
{
  const char *req = mu_req(s);
  mu_text(s, pc_printf(s->t, "HISTORY\r\n%sreq: %s\r\n\r\n", headers, req));
  mu_expect_err(s, reason, req, header);
}

/* spec: FRAME-11 HIST-3 */
static void bad_values(pc_ctx *t)
{
  static const char *const limits[] = {"0", "101", "abc", "01", "", "-1",
                                       "100000000000000000000000"};
  static const char *const afters[] = {"x", "01", "", "-1"};
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv;
  mu_ack *k = filled(a, 3, &conv);
  const char *c = pc_printf(t, "conv: %s\r\n", conv);

  for (size_t i = 0; i < PC_COUNT(limits); i++)
    refused(a, pc_printf(t, "%slimit: %s\r\n", c, limits[i]), "bad-value",
            "limit");
  for (size_t i = 0; i < PC_COUNT(afters); i++)
    refused(a, pc_printf(t, "%safter: %s\r\n", c, afters[i]), "bad-value",
            "after");
  refused(a, "limit: 2\r\n", "missing-header", "conv");
  refused(a, "conv: c.1\r\n", "bad-value", "conv");
  mu_page *p = mu_history(a, conv, "2", NULL, NULL);
  refused(a, pc_printf(t, "%scursor: %s\r\nafter: 1\r\n", c, p->cursor),
          "bad-value", NULL);
  walk_back(a, conv, k, 3, "2", 2);
}

/* A copy of cursor with one character changed in its middle. */
static const char *flipped(pc_ctx *t, const char *cursor)
{
  char *c = pc_strdup(t, cursor);
  size_t mid = strlen(c) / 2;
  c[mid] = c[mid] == 'A' ? 'B' : 'A';
  return c;
}

/* spec: HIST-5 FRAME-11 HIST-2 */
static void bad_cursor(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv, *other;
  mu_ack *k = filled(a, 5, &conv);
  filled(a, 5, &other);
  const char *cursor = mu_history(a, conv, "2", NULL, NULL)->cursor;
  const char *foreign = mu_history(a, other, "2", NULL, NULL)->cursor;
  char *long_cursor = pc_alloc(t, 258);
  const char *c = pc_printf(t, "conv: %s\r\nlimit: 2\r\n", conv);

  memset(long_cursor, 'a', 257);
  const char *bad[] = {flipped(t, cursor), pc_printf(t, "%sA", cursor),
                       pc_printf(t, "%.*s", (int)strlen(cursor) - 1, cursor),
                       "zzz", "a+b", "a b", long_cursor, foreign};
  for (size_t i = 0; i < PC_COUNT(bad); i++) {
    pc_note(t, "cursor '%s' must get bad-cursor", bad[i]);
    refused(a, pc_printf(t, "%scursor: %s\r\n", c, bad[i]), "bad-cursor",
            NULL);
  }
  page_is(a, mu_history(a, conv, "2", cursor, NULL), k, 2, 3, true,
          "the untouched cursor after the refused ones");
}

/* spec: SEC-2 */
static void not_found(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  mu_sess *c = mu_open(t, 2, NULL, false);
  const char *missing = pc_uniq(t, "c");
  const char *conv;

  filled(a, 3, &conv);
  const char *cursor = mu_history(a, conv, "2", NULL, NULL)->cursor;
  const char *convs[2] = {missing, conv};
  for (size_t i = 0; i < 2; i++) {
    const char *h = pc_printf(t, "conv: %s\r\n", convs[i]);
    refused(c, h, "not-found", NULL);
    refused(c, pc_printf(t, "%scursor: zzz\r\n", h), "not-found", NULL);
    refused(c, pc_printf(t, "%scursor: %s\r\n", h, cursor), "not-found",
            NULL);
    refused(c, pc_printf(t, "%safter: 1\r\n", h), "not-found", NULL);
  }
}

/* ---- over HTTP (spec 12.2) ---- */

/* GET the messages of conv as account `user` with `query` (may be ""). */
static pc_http *http_page(pc_ctx *t, int user, const char *conv,
                          const char *query)
{
  const char *path = pc_printf(t, "/v1/conversations/%s/messages%s%s", conv,
                               *query ? "?" : "", query);
  return pc_http_request(t, "GET", path, pc_token(t, user), NULL, NULL, 0);
}

/* Fails unless the JSON string member `name` of o equals want. */
static void json_str_is(pc_ctx *t, json_t *o, const char *name,
                        const char *want, const char *what)
{
  const char *v = json_string_value(json_object_get(o, name));
  if (v == NULL || strcmp(v, want) != 0)
    pc_fail(t, "%s: \"%s\" is %s, expected \"%s\"", what, name,
            v ? v : "not a string", want);
}

/* Fails unless the JSON integer member `name` of o equals want. */
static void json_int_is(pc_ctx *t, json_t *o, const char *name,
                        uint64_t want, const char *what)
{
  json_t *v = json_object_get(o, name);
  if (!json_is_integer(v) || (uint64_t)json_integer_value(v) != want)
    pc_fail(t, "%s: \"%s\" is not the integer %llu", what, name,
            (unsigned long long)want);
}

/* Fails unless the 200 answer r holds the messages lo..hi of k, sent by
 * s, and `more` as want_more with a cursor exactly when it is true.
 * Returns the cursor or NULL. */
static const char *http_page_is(mu_sess *s, const pc_http *r,
                                const mu_ack *k, size_t lo, size_t hi,
                                bool want_more, const char *what)
{
  pc_ctx *t = s->t;
  pc_http_expect(t, r, 200, NULL);
  json_t *msgs = json_object_get(r->json, "messages");
  json_t *more = json_object_get(r->json, "more");
  json_t *cursor = json_object_get(r->json, "cursor");

  if (!json_is_array(msgs) || json_array_size(msgs) != hi + 1 - lo)
    pc_fail(t, "%s: \"messages\" is not an array of %zu", what, hi + 1 - lo);
  for (size_t i = 0; i < hi + 1 - lo; i++) {
    json_t *m = json_array_get(msgs, i);
    const mu_ack *a = &k[lo + i - 1];
    const char *w = pc_printf(t, "%s, message %zu", what, i + 1);
    json_int_is(t, m, "seq", a->seq, w);
    json_str_is(t, m, "msg_id", a->msg_id, w);
    json_str_is(t, m, "temp_id", a->temp_id, w);
    json_str_is(t, m, "from", mu_user(s), w);
    json_str_is(t, m, "device", pc_device(s->c), w);
    json_str_is(t, m, "content_type", "text/plain", w);
    json_str_is(t, m, "body", pc_printf(t, "history %zu", lo + i), w);
    json_int_is(t, m, "ts_ms", a->ts, w);
  }
  if (!json_is_boolean(more) || json_boolean_value(more) != want_more)
    pc_fail(t, "%s: \"more\" is not %s", what, want_more ? "true" : "false");
  if (want_more != (cursor != NULL))
    pc_fail(t, "%s: \"cursor\" is %s with \"more\": %s", what,
            cursor ? "present" : "absent", want_more ? "true" : "false");
  if (cursor != NULL && json_string_value(cursor) == NULL)
    pc_fail(t, "%s: \"cursor\" is not a string", what);
  return cursor ? json_string_value(cursor) : NULL;
}

/* Walks conv back over HTTP with `limit` (text, "" for none, meaning
 * `size`) and checks every page. */
static void http_walk(mu_sess *s, const char *conv, const mu_ack *k,
                      size_t n, const char *limit, size_t size)
{
  pc_ctx *t = s->t;
  const char *cursor = NULL;
  size_t hi = n;

  for (int page = 1;; page++) {
    const char *q = pc_printf(t, "%s%s%s%s", *limit ? "limit=" : "", limit,
                              cursor && *limit ? "&" : "",
                              cursor ? pc_printf(t, "cursor=%s", cursor) : "");
    size_t lo = hi > size ? hi - size + 1 : 1;
    cursor = http_page_is(s, http_page(t, s->user, conv, q), k, lo, hi,
                          lo > 1, pc_printf(t, "GET ?%s, page %d", q, page));
    if (cursor == NULL)
      return;
    hi = lo - 1;
  }
}

/* spec: HIST-1 HIST-2 */
static void http_pages(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv;
  mu_ack *k = filled(a, 5, &conv);

  http_walk(a, conv, k, 5, "2", 2);
  http_walk(a, conv, k, 5, "5", 5);
}

/* spec: HIST-1 HIST-2 */
static void http_exact_end(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv;
  mu_ack *k = filled(a, 4, &conv);

  http_walk(a, conv, k, 4, "2", 2);
  http_walk(a, conv, k, 4, "4", 4);
}

/* spec: HIST-1 HIST-2 */
static void http_default_limit(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv;
  mu_ack *k = filled(a, 51, &conv);

  http_walk(a, conv, k, 51, "", 50);
  http_page_is(a, http_page(t, 0, conv, "limit="), k, 2, 51, true,
               "GET ?limit= (empty: the default)");
  http_page_is(a, http_page(t, 0, conv, "limit=100"), k, 1, 51, false,
               "GET ?limit=100");
}

/* spec: HTTP-2 */
static void http_bad_limit(pc_ctx *t)
{
  static const char *const bad[] = {"0", "101", "abc", "-1", "1.5",
                                    "100000000000000000000000"};
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv;

  filled(a, 2, &conv);
  for (size_t i = 0; i < PC_COUNT(bad); i++) {
    pc_note(t, "limit=%s must get 400 bad-value", bad[i]);
    pc_http_expect(t, http_page(t, 0, conv, pc_printf(t, "limit=%s", bad[i])),
                   400, "bad-value");
  }
}

/* spec: HIST-5 HTTP-2 HTTP-9 */
static void http_bad_cursor(pc_ctx *t)
{
  mu_sess *a = mu_open(t, 0, NULL, false);
  const char *conv, *other;
  mu_ack *k = filled(a, 4, &conv);
  filled(a, 4, &other);
  pc_http *r = http_page(t, 0, conv, "limit=2");
  const char *cursor = http_page_is(a, r, k, 3, 4, true, "GET ?limit=2");
  pc_http *ro = http_page(t, 0, other, "limit=2");
  pc_http_expect(t, ro, 200, NULL);
  const char *foreign =
    json_string_value(json_object_get(ro->json, "cursor"));
  const char *missing = pc_uniq(t, "c");

  if (foreign == NULL)
    pc_fail(t, "a page of 2 of 4 messages has no cursor");
  const char *bad[] = {flipped(t, cursor), pc_printf(t, "%sA", cursor),
                       "zzz", foreign};
  for (size_t i = 0; i < PC_COUNT(bad); i++) {
    pc_note(t, "cursor=%s must get 400 bad-cursor", bad[i]);
    pc_http_expect(t, http_page(t, 0, conv,
                                pc_printf(t, "limit=2&cursor=%s", bad[i])),
                   400, "bad-cursor");
  }
  pc_http_expect(t, http_page(t, 0, missing, ""), 404, "not-found");
  pc_http_expect(t, http_page(t, 0, missing, "cursor=zzz"), 404,
                 "not-found");
  pc_http_expect(t, http_page(t, 2, conv, ""), 404, "not-found");
  pc_http_expect(t, http_page(t, 2, conv, "cursor=zzz"), 404, "not-found");
  pc_http_expect(t, http_page(t, 2, conv, pc_printf(t, "cursor=%s", cursor)),
                 404, "not-found");
}

static const pc_case cases[] = {
  {"history.newest-first",
   "HISTORY without cursor or after answers the newest page first, its "
   "MSG frames in ascending seq with req and no pos, then PAGE; cursors "
   "walk back to the first message, each once.", "HIST-1 HIST-2", PC_MUST,
   NULL, newest_first},
  {"history.exact-multiple",
   "With exactly twice limit messages, the second page is the last: "
   "more: no and no cursor.", "HIST-1 HIST-2", PC_MUST, NULL,
   exact_multiple},
  {"history.exactly-limit",
   "With exactly limit messages, the first page holds them all with more: "
   "no.", "HIST-1 HIST-2", PC_MUST, NULL, exactly_limit},
  {"history.one-message",
   "A conversation of one message gives one page of one, more: no, back "
   "and forward.", "HIST-1 HIST-2", PC_MUST, NULL, one_message},
  {"history.empty",
   "An empty conversation gives a PAGE with count 0, more: no and no "
   "cursor.", "HIST-1", PC_MUST, NULL, empty},
  {"history.limit-one",
   "Pages of one message walk the whole conversation back and forward.",
   "HIST-1 HIST-2", PC_MUST, NULL, limit_one},
  {"history.default-and-max-limit",
   "Without limit a page holds 50 messages; limit 100 gives 100.",
   "HIST-1 HIST-2", PC_MUST, NULL, default_and_max_limit},
  {"history.same-ts",
   "Messages sent in the same millisecond page by seq: none is skipped or "
   "repeated.", "HIST-2", PC_MUST, NULL, same_ts},
  {"history.after-forward",
   "after: N returns the messages after seq N in ascending order, and its "
   "cursors walk forward to the newest.", "HIST-2", PC_MUST, NULL,
   after_forward},
  {"history.forward-end-moves",
   "Walking forward, messages stored after a page was read are found by "
   "its cursor and by after set to the last seq held.", "HIST-2", PC_MUST,
   NULL, forward_end_moves},
  {"history.bad-values",
   "limit outside 1 to 100, a malformed after or conv, a missing conv, "
   "and cursor with after get bad-value or missing-header.",
   "FRAME-11 HIST-3", PC_MUST, NULL, bad_values},
  {"history.bad-cursor",
   "A tampered, truncated, malformed, too long or foreign cursor gets "
   "bad-cursor.", "HIST-5 FRAME-11 HIST-2", PC_MUST, NULL, bad_cursor},
  {"history.not-found",
   "HISTORY of a conversation that does not exist, or that the user is "
   "not in, gets not-found, whatever its cursor.", "SEC-2", PC_MUST, NULL,
   not_found},
  {"history.http-pages",
   "GET /v1/conversations/{id}/messages pages back like HISTORY: "
   "ascending messages, more, and a cursor exactly while more is true.",
   "HIST-1 HIST-2", PC_MUST, NULL, http_pages},
  {"history.http-exact-end",
   "Over HTTP, a page that reaches the first message says more: false and "
   "has no cursor.", "HIST-1 HIST-2", PC_MUST, NULL, http_exact_end},
  {"history.http-default-limit",
   "Over HTTP an absent or empty limit means 50.", "HIST-1 HIST-2",
   PC_MUST, NULL, http_default_limit},
  {"history.http-bad-limit",
   "Over HTTP a limit that is not a number from 1 to 100 gets 400 "
   "bad-value.", "HTTP-2", PC_MUST, NULL, http_bad_limit},
  {"history.http-bad-cursor",
   "Over HTTP a tampered or foreign cursor gets 400 bad-cursor, and a "
   "conversation that does not exist or the user is not in 404 not-found "
   "whatever the cursor.",
   "HIST-5 HTTP-2 HTTP-9", PC_MUST, NULL, http_bad_cursor},
};

const pc_suite pc_suite_history = {"history", false, cases,
                                   PC_COUNT(cases)};
