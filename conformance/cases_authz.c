/* Conformance cases: authorization (spec section 14.1).
 *
 * Whether a conversation exists, who is in it and how long it is are
 * secrets for anyone who is not a member. Every request about a
 * conversation the user is not in must get the answer a conversation
 * that does not exist gets, frame for frame apart from `req` (SEC-1),
 * with membership checked before anything that depends on the
 * conversation (SEC-2); events of the conversation never reach a
 * non-member, live or in a SYNC answer; frames name the user of the
 * session, never one a client claims (SEC-3).
 *
 * Accounts: 0 owns the conversation, 1 is the other member, 2 is the
 * outsider. The conversation that does not exist has a fresh id. */
#include <string.h>
#include <strings.h>

#include "watch.h"

#define OWNER 0
#define MEMBER 1
#define OUTSIDER 2

static const int member_1[] = {MEMBER};

/* Sends a SEND to `conv` from `c` and returns its ACK. */
static pc_frame *send_msg(pc_ctx *t, pc_conn *c, const char *conv,
                          const char *body)
{
  const char *req = pc_uniq(t, "s");
  pc_frame *f;

  pc_send(c, "SEND", body, "conv", conv, "temp-id", pc_uniq(t, "t"), "req",
          req, NULL);
  f = pc_expect_req(c, req, PC_WAIT);
  PC_CHECK(t, strcmp(f->verb, "ACK") == 0, "a member's SEND got %s %s",
           f->verb, pc_hdr_show(f, "reason"));
  return f;
}

/* Sends the request built by `build` for `conv` and for an id nobody
 * made, and checks that both get not-found with their req and are the
 * same frame apart from req. `build` sends one frame carrying `req`. */
typedef void (*build_fn)(pc_ctx *t, pc_conn *c, const char *conv,
                         const char *req, const void *arg);

static void same_not_found(pc_ctx *t, pc_conn *c, const char *conv,
                           build_fn build, const void *arg, const char *what)
{
  const char *nowhere = pc_uniq(t, "c");
  const char *r1 = pc_uniq(t, "nm");
  const char *r2 = pc_uniq(t, "ne");
  pc_frame *e1, *e2;

  build(t, c, conv, r1, arg);
  e1 = pc_expect_error(c, "not-found", 0, r1, PC_WAIT);
  build(t, c, nowhere, r2, arg);
  e2 = pc_expect_error(c, "not-found", 0, r2, PC_WAIT);
  pcw_same_but_req(t, e1, e2, what);
}

/* Fails when a frame with `verb` (NULL: any) about `conv` is among the
 * frames `c` got up to a barrier. */
static void nothing_about(pc_ctx *t, pc_conn *c, const char *verb,
                          const char *conv, const char *why)
{
  size_t n;
  pc_frame **got = pcw_collect(t, c, &n);
  pc_frame *f = pcw_find(got, n, verb, "conv", conv);

  if (f != NULL)
    pc_fail(t, "%s got %s about the conversation: %s", pc_conn_label(c),
            f->verb, why);
}

static void build_send(pc_ctx *t, pc_conn *c, const char *conv,
                       const char *req, const void *arg)
{
  (void)t;
  pc_send(c, "SEND", "secret?", "conv", conv, "temp-id", (const char *)arg,
          "req", req, NULL);
}

/* spec: SEND-6 SEC-1 */
static void send_not_member(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, OWNER, member_1, 1);
  pc_conn *a = pc_session(t, OWNER, NULL);
  pc_conn *m = pc_session(t, OUTSIDER, NULL);
  const char *req = pc_uniq(t, "h");
  pc_frame *page;

  same_not_found(t, m, conv, build_send, pc_uniq(t, "t"),
                 "SEND to a conversation of others and to none");
  nothing_about(t, a, NULL, conv, "an outsider's SEND was delivered (SEND-6)");
  pc_send(a, "HISTORY", NULL, "conv", conv, "req", req, NULL);
  page = pc_expect(a, "PAGE", "req", req, PC_WAIT);
  PC_CHECK(t, pc_hdr_is(page, "count", "0"),
           "the outsider's refused SEND was stored: the page holds %s "
           "messages", pc_hdr_show(page, "count"));
}

static void build_receipt(pc_ctx *t, pc_conn *c, const char *conv,
                          const char *req, const void *arg)
{
  (void)t;
  pc_send(c, "RECEIPT", NULL, "conv", conv, "kind", "read", "seq",
          (const char *)arg, "req", req, NULL);
}

/* spec: RCPT-2 SEC-1 SEC-2 */
static void receipt_not_member(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, OWNER, member_1, 1);
  pc_conn *a = pc_session(t, OWNER, NULL);
  pc_conn *m = pc_session(t, OUTSIDER, NULL);

  send_msg(t, a, conv, "one");
  same_not_found(t, m, conv, build_receipt, "1",
                 "RECEIPT for a message of others' conversation and of none");
  pc_note(t, "a seq past the end: membership is checked first (SEC-2)");
  same_not_found(t, m, conv, build_receipt, "7",
                 "RECEIPT past the end of others' conversation and of none");
  nothing_about(t, a, "RECEIPT", conv, "an outsider's RECEIPT was relayed");
}

/* HISTORY with the extra header of `arg` ("cursor=..." or "after=..." or
 * NULL for none). */
static void build_history(pc_ctx *t, pc_conn *c, const char *conv,
                          const char *req, const void *arg)
{
  const char *extra = arg;

  if (extra == NULL) {
    pc_send(c, "HISTORY", NULL, "conv", conv, "req", req, NULL);
  } else {
    const char *eq = strchr(extra, '=');
    char *name = pc_strdup(t, extra);
    name[eq - extra] = '\0';
    pc_send(c, "HISTORY", NULL, "conv", conv, name, eq + 1, "limit", "1",
            "req", req, NULL);
  }
}

/* A real cursor of `conv`: the first page of one message walking back. */
static const char *a_cursor(pc_ctx *t, pc_conn *a, const char *conv)
{
  const char *req = pc_uniq(t, "h");
  pc_frame *page;
  const char *cursor;

  pc_send(a, "HISTORY", NULL, "conv", conv, "limit", "1", "req", req, NULL);
  page = pc_expect(a, "PAGE", "req", req, PC_WAIT);
  cursor = pc_hdr(page, "cursor");
  PC_CHECK(t, cursor != NULL, "a page of 1 of 2 messages has no cursor");
  return cursor;
}

/* spec: SEC-1 SEC-2 */
static void history_not_member(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, OWNER, member_1, 1);
  pc_conn *a = pc_session(t, OWNER, NULL);
  pc_conn *m = pc_session(t, OUTSIDER, NULL);

  send_msg(t, a, conv, "one");
  send_msg(t, a, conv, "two");
  same_not_found(t, m, conv, build_history, NULL,
                 "HISTORY of others' conversation and of none");
  same_not_found(t, m, conv, build_history,
                 pc_printf(t, "cursor=%s", a_cursor(t, a, conv)),
                 "HISTORY with a real cursor of others' conversation and of "
                 "none");
  same_not_found(t, m, conv, build_history, "cursor=not.a.cursor",
                 "HISTORY with a foreign cursor (membership before the "
                 "cursor, SEC-2)");
  same_not_found(t, m, conv, build_history, "after=1",
                 "HISTORY after 1 of others' conversation and of none");
}

static void build_typing(pc_ctx *t, pc_conn *c, const char *conv,
                         const char *req, const void *arg)
{
  (void)t;
  (void)arg;
  pc_send(c, "TYPING", NULL, "conv", conv, "state", "on", "req", req, NULL);
}

/* spec: SEC-1 TYPE-2 */
static void typing_not_member(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, OWNER, member_1, 1);
  pc_conn *a = pc_session(t, OWNER, NULL);
  pc_conn *m = pc_session(t, OUTSIDER, NULL);

  pcw_need_cap(t, a, "typing");
  same_not_found(t, m, conv, build_typing, NULL,
                 "TYPING to others' conversation and to none");
  nothing_about(t, a, "TYPING", conv,
                "an outsider's TYPING was relayed (TYPE-2)");
}

/* spec: SEC-19 DELIV-1 RCPT-3 TYPE-2 */
static void live_not_member(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, OWNER, member_1, 1);
  pc_conn *m = pc_session(t, OUTSIDER, NULL);
  pc_conn *a = pc_session(t, OWNER, NULL);
  pc_conn *b = pc_session(t, MEMBER, NULL);
  const char *seq = pc_hdr_need(t, send_msg(t, a, conv, "members only"),
                                "seq");
  const char *req = pc_uniq(t, "r");

  pc_expect(b, "MSG", "conv", conv, PC_WAIT);
  pc_send(b, "RECEIPT", NULL, "conv", conv, "kind", "read", "seq", seq, "req",
          req, NULL);
  pc_expect(b, "OK", "req", req, PC_WAIT);
  pc_expect(a, "RECEIPT", "conv", conv, PC_WAIT);
  if (pcw_has_cap(a, "typing")) {
    pc_send(a, "TYPING", NULL, "conv", conv, "state", "on", NULL);
    pc_expect(b, "TYPING", "conv", conv, PC_WAIT);
  }
  pc_note(t, "the members got MSG, RECEIPT and TYPING; the outsider "
             "must have got none of them");
  nothing_about(t, m, NULL, conv, "a live event of a conversation reached a "
                            "session of a user who is not a member");
}

/* spec: SEC-19 SYNC-1 SEC-1 */
static void sync_not_member(pc_ctx *t)
{
  pc_session_opts o = {0};
  const char *conv = pc_conv_group(t, OWNER, member_1, 1);
  pc_conn *a = pc_session(t, OWNER, NULL);
  pc_conn *b = pc_session(t, MEMBER, NULL);
  pc_conn *m;
  const char *seq, *req = pc_uniq(t, "r"), *sreq = pc_uniq(t, "y");
  size_t n;
  pc_frame **got;

  o.sync = true;
  m = pc_session(t, OUTSIDER, &o);
  seq = pc_hdr_need(t, send_msg(t, a, conv, "members only"), "seq");
  pc_send(b, "RECEIPT", NULL, "conv", conv, "kind", "read", "seq", seq, "req",
          req, NULL);
  pc_expect(b, "OK", "req", req, PC_WAIT);
  pc_note(t, "the outsider syncs from the position it held before the "
             "message and the receipt");
  pc_send(m, "SYNC", NULL, "since", pc_pos(m), "req", sreq, NULL);
  pc_expect(m, "SYNCED", "req", sreq, PC_WAIT);
  got = pcw_collect(t, m, &n);
  PC_CHECK(t, pcw_find(got, n, NULL, "conv", conv) == NULL,
           "the outsider's SYNC answer (or its live events) held an event "
           "of a conversation it is not in");
}

/* Answer fields that may differ between two answers without telling
 * anything: those about the connection, and the time of the answer. */
static bool connection_field(const char *line)
{
  static const char *const skip[] = {"date:", "connection:", "keep-alive:"};

  for (size_t i = 0; i < PC_COUNT(skip); i++)
    if (strncasecmp(line, skip[i], strlen(skip[i])) == 0)
      return true;
  return false;
}

/* The status line and fields of `head` without the connection fields,
 * one per line, as a new string. */
static char *head_to_compare(pc_ctx *t, const char *head)
{
  char *out = pc_alloc(t, strlen(head) + 1), *o = out;
  const char *p = head;

  while (*p != '\0') {
    const char *eol = strstr(p, "\r\n");
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    if (!connection_field(p)) {
      memcpy(o, p, len);
      o += len;
      *o++ = '\n';
    }
    p += len + (eol ? 2 : 0);
  }
  *o = '\0';
  return out;
}

/* GETs `path_fmt` with `conv` and with an id nobody made, as the
 * outsider, and checks both are 404 not-found and the same answer. */
static void same_http_404(pc_ctx *t, const char *path_fmt, const char *conv,
                          const char *what)
{
  const char *tok = pc_token(t, OUTSIDER);
  pc_http *r1 = pc_http_request(t, "GET", pc_printf(t, path_fmt, conv), tok,
                                NULL, NULL, 0);
  pc_http *r2 = pc_http_request(
      t, "GET", pc_printf(t, path_fmt, pc_uniq(t, "c")), tok, NULL, NULL, 0);
  char *h1, *h2;

  pc_http_expect(t, r1, 404, "not-found");
  pc_http_expect(t, r2, 404, "not-found");
  h1 = head_to_compare(t, r1->head);
  h2 = head_to_compare(t, r2->head);
  PC_CHECK(t, strcmp(h1, h2) == 0, "%s: the header fields differ:\n%s--\n%s",
           what, h1, h2);
  PC_CHECK(t, r1->body_len == r2->body_len &&
                  memcmp(r1->body, r2->body, r1->body_len) == 0,
           "%s: the bodies differ: %s against %s", what, r1->body, r2->body);
}

/* spec: SEC-1 */
static void http_conversation(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, OWNER, member_1, 1);
  pc_http *r = pc_http_request(t, "GET",
                               pc_printf(t, "/v1/conversations/%s", conv),
                               pc_token(t, OWNER), NULL, NULL, 0);

  pc_http_expect(t, r, 200, NULL);
  same_http_404(t, "/v1/conversations/%s", conv,
                "GET of others' conversation and of none");
}

/* spec: HTTP-9 SEC-1 SEC-2 */
static void http_messages(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, OWNER, member_1, 1);
  pc_conn *a = pc_session(t, OWNER, NULL);
  pc_http *r;
  const char *cursor;

  send_msg(t, a, conv, "one");
  send_msg(t, a, conv, "two");
  r = pc_http_request(t, "GET",
                      pc_printf(t, "/v1/conversations/%s/messages?limit=1",
                                conv),
                      pc_token(t, OWNER), NULL, NULL, 0);
  pc_http_expect(t, r, 200, NULL);
  cursor = json_string_value(json_object_get(r->json, "cursor"));
  PC_CHECK(t, cursor != NULL, "a page of 1 of 2 messages has no cursor");
  same_http_404(t, "/v1/conversations/%s/messages", conv,
                "messages of others' conversation and of none");
  same_http_404(t, pc_printf(t, "/v1/conversations/%%s/messages?cursor=%s",
                             cursor),
                conv, "messages with a real cursor (HTTP-9)");
  same_http_404(t, "/v1/conversations/%s/messages?cursor=not.a.cursor",
                conv, "messages with a foreign cursor (HTTP-9)");
}

/* True when the conversation list `list` holds `conv`; fails when an
 * entry does not name `user` among its members. */
static bool list_holds(pc_ctx *t, json_t *list, const char *conv,
                       const char *user)
{
  size_t i, k, times = 0;
  json_t *c, *u;

  PC_CHECK(t, json_is_array(list), "GET /v1/conversations: not an array");
  json_array_foreach(list, i, c) {
    bool named = false;
    const char *id = json_string_value(json_object_get(c, "id"));
    json_array_foreach(json_object_get(c, "members"), k, u)
      named = named || (json_string_value(u) &&
                        strcmp(json_string_value(u), user) == 0);
    PC_CHECK(t, named, "GET /v1/conversations of %s lists %s, whose members "
             "do not include %s", user, id ? id : "(no id)", user);
    times += id != NULL && strcmp(id, conv) == 0;
  }
  PC_CHECK(t, times <= 1, "GET /v1/conversations lists %s %zu times", conv,
           times);
  return times == 1;
}

/* spec: HTTP-14 */
static void http_list_own(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, OWNER, member_1, 1);
  const int who[] = {OWNER, MEMBER, OUTSIDER};

  for (size_t i = 0; i < PC_COUNT(who); i++) {
    pc_http *r = pc_http_request(t, "GET", "/v1/conversations",
                                 pc_token(t, who[i]), NULL, NULL, 0);
    pc_http_expect(t, r, 200, NULL);
    PC_CHECK(t, list_holds(t, r->json, conv, pc_user(t, who[i])) ==
                    (who[i] != OUTSIDER),
             "GET /v1/conversations of %s %s %s",
             pc_user(t, who[i]), who[i] == OUTSIDER ? "lists" : "omits",
             conv);
  }
}

/* True when the JSON array `members` holds `user`. */
static bool has_member(json_t *members, const char *user)
{
  size_t i;
  json_t *u;

  json_array_foreach(members, i, u)
    if (json_string_value(u) && strcmp(json_string_value(u), user) == 0)
      return true;
  return false;
}

/* spec: HTTP-13 HTTP-5 */
static void create_includes_caller(pc_ctx *t)
{
  const char *tok = pc_token(t, OUTSIDER);
  const char *body = pc_printf(t,
      "{\"kind\": \"group\", \"members\": [\"%s\", \"%s\"]}",
      pc_user(t, OWNER), pc_user(t, MEMBER));
  pc_http *r = pc_http_request(t, "POST", "/v1/conversations", tok,
                               "application/json", body, strlen(body));
  json_t *members;
  const char *conv;
  pc_conn *m;

  pc_http_expect(t, r, 201, NULL);
  members = json_object_get(r->json, "members");
  conv = json_string_value(json_object_get(r->json, "id"));
  PC_CHECK(t, conv != NULL && has_member(members, pc_user(t, OUTSIDER)),
           "a group made without naming its caller does not list the "
           "caller as a member (HTTP-13)");
  m = pc_session(t, OUTSIDER, NULL);
  send_msg(t, m, conv, "I am in it");
  pc_note(t, "a direct conversation between two other users: the caller "
             "would make three members (section 12.3)");
  body = pc_printf(t, "{\"kind\": \"direct\", \"members\": [\"%s\", "
                   "\"%s\"]}", pc_user(t, OWNER), pc_user(t, MEMBER));
  r = pc_http_request(t, "POST", "/v1/conversations", tok,
                      "application/json", body, strlen(body));
  pc_http_expect(t, r, 400, NULL);
}

/* spec: SEC-3 EXT-5 */
static void sender_from_session(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, OWNER, member_1, 1);
  pc_conn *a = pc_session(t, OWNER, NULL);
  pc_conn *b = pc_session(t, MEMBER, NULL);
  const char *req = pc_uniq(t, "s"), *rreq = pc_uniq(t, "r");
  const char *other = pc_user(t, OUTSIDER);
  pc_frame *f;

  pc_note(t, "SEND and RECEIPT carrying from, device and user headers "
             "that name someone else");
  pc_send(a, "SEND", "who am I", "conv", conv, "temp-id", pc_uniq(t, "t"),
          "from", other, "device", "spoofed", "user", other, "req", req,
          NULL);
  pc_expect(a, "ACK", "req", req, PC_WAIT);
  f = pc_expect(b, "MSG", "conv", conv, PC_WAIT);
  PC_CHECK(t, pc_hdr_is(f, "from", pc_user(t, OWNER)) &&
                  pc_hdr_is(f, "device", pc_device(a)),
           "the MSG names from %s device %s, not the sending session's %s "
           "%s", pc_hdr_show(f, "from"), pc_hdr_show(f, "device"),
           pc_user(t, OWNER), pc_device(a));
  pc_send(a, "RECEIPT", NULL, "conv", conv, "kind", "read", "seq",
          pc_hdr_need(t, f, "seq"), "user", other, "req", rreq, NULL);
  pc_expect(a, "OK", "req", rreq, PC_WAIT);
  f = pc_expect(b, "RECEIPT", "conv", conv, PC_WAIT);
  PC_CHECK(t, pc_hdr_is(f, "user", pc_user(t, OWNER)),
           "the RECEIPT names user %s, not the sending session's %s",
           pc_hdr_show(f, "user"), pc_user(t, OWNER));
}

/* spec: SEC-3 AUTH-1 EXT-5 */
static void ready_user_from_token(pc_ctx *t)
{
  pc_conn *c = pc_ws_open(t, pc_user(t, MEMBER), NULL);
  const char *req = pc_uniq(t, "a");
  pc_frame *f;

  pc_send(c, "HELLO", NULL, "versions", "1", "heartbeat", "60000", NULL);
  pc_expect(c, "WELCOME", NULL, NULL, PC_WAIT);
  pc_note(t, "AUTH with account %d's token and a user header naming "
             "account %d", MEMBER, OWNER);
  pc_send(c, "AUTH", NULL, "token", pc_token(t, MEMBER), "device",
          pc_uniq(t, "d"), "user", pc_user(t, OWNER), "req", req, NULL);
  f = pc_expect_req(c, req, PC_WAIT);
  PC_CHECK(t, strcmp(f->verb, "READY") == 0, "AUTH got %s", f->verb);
  PC_CHECK(t, pc_hdr_is(f, "user", pc_user(t, MEMBER)),
           "READY names user %s, not the token's %s", pc_hdr_show(f, "user"),
           pc_user(t, MEMBER));
}

/* spec: AUTH-4 ERR-4 */
static void refresh_as_other_user(pc_ctx *t)
{
  const char *conv = pc_conv_group(t, OWNER, member_1, 1);
  pc_conn *a = pc_session(t, OWNER, NULL);
  pc_conn *b = pc_session(t, MEMBER, NULL);
  const char *req = pc_uniq(t, "a");

  pc_note(t, "a READY session of account %d sends a fresh AUTH with "
             "account %d's valid token (section 4.2: bad-state, fatal)",
          OWNER, MEMBER);
  pc_send(a, "AUTH", NULL, "token", pc_token(t, MEMBER), "device",
          pc_device(a), "req", req, NULL);
  pc_expect_error(a, "bad-state", 1, req, PC_WAIT);
  pc_expect_close(a, PC_WAIT);
  send_msg(t, b, conv, "still mine");
}

static const pc_case cases[] = {
  {"authz.send-not-member",
   "SEND to a conversation the user is not in gets not-found, the same "
   "frame as for one that does not exist, and stores nothing.",
   "SEND-6 SEC-1", PC_MUST, NULL, send_not_member},
  {"authz.receipt-not-member",
   "RECEIPT for a conversation the user is not in gets the not-found of "
   "one that does not exist, whatever its seq.",
   "RCPT-2 SEC-1 SEC-2", PC_MUST, NULL, receipt_not_member},
  {"authz.history-not-member",
   "HISTORY of a conversation the user is not in gets the not-found of "
   "one that does not exist, with or without a cursor or after.",
   "SEC-1 SEC-2", PC_MUST, NULL, history_not_member},
  {"authz.typing-not-member",
   "TYPING to a conversation the user is not in gets the not-found of one "
   "that does not exist and is not relayed.",
   "SEC-1 TYPE-2", PC_MUST, "typing", typing_not_member},
  {"authz.live-not-member",
   "Live MSG, RECEIPT and TYPING of a conversation reach its members' "
   "sessions and no session of a user who is not a member.",
   "SEC-19 DELIV-1 RCPT-3 TYPE-2", PC_MUST, NULL, live_not_member},
  {"authz.sync-not-member",
   "A SYNC answer never holds a message or receipt of a conversation the "
   "user is not in.",
   "SEC-19 SYNC-1 SEC-1", PC_MUST, NULL, sync_not_member},
  {"authz.http-conversation",
   "GET /v1/conversations/{id} gives a user who is not a member the same "
   "404 not-found as for a conversation that does not exist.",
   "SEC-1", PC_MUST, NULL, http_conversation},
  {"authz.http-messages",
   "GET /v1/conversations/{id}/messages gives a user who is not a member "
   "the same 404 as for no conversation, whatever the cursor.",
   "HTTP-9 SEC-1 SEC-2", PC_MUST, NULL, http_messages},
  {"authz.http-list-own",
   "GET /v1/conversations lists the caller's conversations only, each "
   "once.",
   "HTTP-14", PC_MUST, NULL, http_list_own},
  {"authz.create-includes-caller",
   "A conversation a user creates always has that user as a member; a "
   "direct conversation of two other users is refused.",
   "HTTP-13 HTTP-5", PC_MUST, NULL, create_includes_caller},
  {"authz.sender-from-session",
   "MSG and RECEIPT name the user and device of the sending session, "
   "never from, device or user headers the client sent.",
   "SEC-3 EXT-5", PC_MUST, NULL, sender_from_session},
  {"authz.ready-user-from-token",
   "READY names the user of the token, not a user header the AUTH "
   "carried.",
   "SEC-3 AUTH-1 EXT-5", PC_MUST, NULL, ready_user_from_token},
  {"authz.refresh-as-other-user",
   "A fresh AUTH in a READY session with another user's valid token gets "
   "bad-state, fatal, and the session ends.",
   "AUTH-4 ERR-4", PC_MUST, NULL, refresh_as_other_user},
};

const pc_suite pc_suite_authz = {"authz", false, cases, PC_COUNT(cases)};
