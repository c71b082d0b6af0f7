/* The HTTP API's connection-free request checks (see http_check.h).
 *
 * These are the rules of spec section 12 that depend on the request's
 * text alone: which route a path names, what a number in a query or a
 * header may look like, and what the JSON bodies must hold (HTTP-5,
 * HTTP-10, section 12.3). They were part of http_api.c and moved here
 * unchanged so the fuzz harness can reach them without libwebsockets;
 * the messages are the ones clients have always seen. */
#include "http_check.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool problem(http_problem *p, unsigned status, int code,
                    const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Fills *p; returns false, for the callers' `return problem(...)`. */
static bool problem(http_problem *p, unsigned status, int code,
                    const char *reason, const char *fmt, ...)
{
  va_list ap;

  p->status = status;
  p->code = code;
  p->reason = reason;
  va_start(ap, fmt);
  vsnprintf(p->message, sizeof p->message, fmt, ap);
  va_end(ap);
  return false;
}

/* ---- routing ---------------------------------------------------------- */

/* Maps /v1/call/{id} and /v1/call/{id}/recording/start; fills call. */
static http_route call_route_of(const char *path,
                                char call[PARLEY_ID_MAX + 1])
{
  const char *id = path + strlen("/v1/call/");
  const char *slash = strchr(id, '/');
  size_t n = slash ? (size_t)(slash - id) : strlen(id);

  if (n == 0 || (slash && strcmp(slash, "/recording/start") != 0))
    return ROUTE_NONE;
  if (http_id_valid(id, n)) {
    memcpy(call, id, n);
    call[n] = '\0';
  }
  return slash ? ROUTE_RECORDING : ROUTE_CALL;
}

http_route http_route_of(const char *path, char conv[PARLEY_ID_MAX + 1],
                         char call[PARLEY_ID_MAX + 1])
{
  static const char prefix[] = "/v1/conversations/";
  const char *id, *slash;

  if (strcmp(path, "/v1/auth/token") == 0)
    return ROUTE_TOKEN;
  if (strcmp(path, "/v1/config") == 0)
    return ROUTE_CONFIG;
  if (strcmp(path, "/v1/conversations") == 0)
    return ROUTE_CONVS;
  if (strcmp(path, HTTP_WS_PATH) == 0)
    return ROUTE_WS;
  if (strncmp(path, "/v1/call/", 9) == 0)
    return call_route_of(path, call);
  if (strncmp(path, prefix, sizeof prefix - 1) != 0)
    return ROUTE_NONE;
  id = path + sizeof prefix - 1;
  slash = strchr(id, '/');
  if (slash && strcmp(slash, "/messages") != 0 &&
      strcmp(slash, "/calls") != 0)
    return ROUTE_NONE;
  size_t n = slash ? (size_t)(slash - id) : strlen(id);
  if (n == 0)
    return ROUTE_NONE;
  /* An id that cannot exist is kept empty: not-found, like a missing one. */
  if (http_id_valid(id, n)) {
    memcpy(conv, id, n);
    conv[n] = '\0';
  }
  if (!slash)
    return ROUTE_CONV;
  return strcmp(slash, "/calls") == 0 ? ROUTE_CONV_CALLS : ROUTE_MESSAGES;
}

const char *http_route_name(http_route route)
{
  static const char *const names[] = {
      [ROUTE_NONE] = "(unknown path)",
      [ROUTE_TOKEN] = "/v1/auth/token",
      [ROUTE_CONFIG] = "/v1/config",
      [ROUTE_CONVS] = "/v1/conversations",
      [ROUTE_CONV] = "/v1/conversations/{id}",
      [ROUTE_MESSAGES] = "/v1/conversations/{id}/messages",
      [ROUTE_WS] = HTTP_WS_PATH,
      [ROUTE_CALL] = "/v1/call/{id}",
      [ROUTE_RECORDING] = "/v1/call/{id}/recording/start",
      [ROUTE_CONV_CALLS] = "/v1/conversations/{id}/calls"};

  return names[route];
}

const char *http_allowed_method(http_route route)
{
  if (route == ROUTE_TOKEN || route == ROUTE_RECORDING)
    return "POST";
  return route == ROUTE_CONVS ? "GET, POST" : "GET";
}

bool http_method_allowed(http_route route, http_method method)
{
  if (method == METHOD_OTHER)
    return false;
  if (route == ROUTE_CONVS)
    return true;
  return (method == METHOD_POST) ==
         (route == ROUTE_TOKEN || route == ROUTE_RECORDING);
}

/* ---- values ----------------------------------------------------------- */

bool http_user_name_valid(const char *s)
{
  size_t n = strlen(s);

  if (n < 1 || n > PARLEY_USER_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
          s[i] == '_' || s[i] == '.' || s[i] == '-'))
      return false;
  return true;
}

bool http_id_valid(const char *s, size_t n)
{
  if (n < 1 || n > PARLEY_ID_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-'))
      return false;
  return true;
}

bool http_parse_size(const char *s, size_t max, size_t *out)
{
  size_t v = 0, n = strlen(s);

  if (n < 1 || n > 9 || (n > 1 && s[0] == '0'))
    return false;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i]))
      return false;
    v = v * 10 + (size_t)(s[i] - '0');
  }
  if (v > max)
    return false;
  *out = v;
  return true;
}

int http_content_length(const char *s, size_t *out)
{
  size_t n = strlen(s);

  if (n == 0 || strspn(s, "0123456789") != n)
    return -1;
  while (n > 1 && *s == '0') {
    s++;
    n--;
  }
  if (n > 9 || !http_parse_size(s, HTTP_BODY_MAX, out))
    return 1;
  return 0;
}

bool http_content_type_is_json(const char *ct)
{
  size_t n = strcspn(ct, ";");

  while (n > 0 && ct[n - 1] == ' ')
    n--;
  return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

bool http_limit_arg(const char *arg, size_t max, size_t *limit,
                    http_problem *p)
{
  if (arg && *arg && (!http_parse_size(arg, max, limit) || *limit == 0))
    return problem(p, 400, PARLEY_E_BAD_VALUE, "bad-value",
                   "\"limit\" must be a number from 1 to %zu", max);
  return true;
}

/* ---- bodies ----------------------------------------------------------- */

json_t *http_body_object(const char *body, size_t len, http_problem *p)
{
  json_error_t jerr;
  json_t *root = json_loadb(body ? body : "", len,
                            JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);

  if (!root || !json_is_object(root)) {
    json_decref(root);
    problem(p, 400, 400, "bad-request", "the body is not a valid JSON object");
    return NULL;
  }
  return root;
}

bool http_token_ask(json_t *root, char user_out[PARLEY_USER_MAX + 1],
                    uint64_t *ttl_ms, http_problem *p)
{
  json_t *user = json_object_get(root, "user");
  json_t *pw = json_object_get(root, "password");
  json_t *ttl = json_object_get(root, "ttl_ms");

  if (!json_is_string(user) || !json_is_string(pw))
    return problem(p, 400, 400, "bad-request",
                   "fields \"user\" and \"password\" must be strings");
  if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 1000))
    return problem(p, 400, 400, "bad-request",
                   "field \"ttl_ms\" must be an integer from 1000 up");
  *ttl_ms = ttl ? (uint64_t)json_integer_value(ttl) : 0;
  /* A name that cannot exist (or a password with a NUL in it) is checked
   * as the empty name, which is never found: the same answer after the
   * same work (HTTP-10). */
  const char *name = json_string_value(user);
  bool plain = strlen(json_string_value(pw)) == json_string_length(pw) &&
               strlen(name) == json_string_length(user);
  snprintf(user_out, PARLEY_USER_MAX + 1, "%s",
           plain && http_user_name_valid(name) ? name : "");
  return true;
}

/* Adds name to ask->members unless it is there already or is the caller
 * (the core adds the caller). Returns false when PARLEY_MEMBERS_MAX - 1
 * other members are held already. */
static bool member_add(http_create_ask *ask, const char *caller,
                       const char *name)
{
  if (strcmp(name, caller) == 0)
    return true;
  for (size_t i = 0; i < ask->member_count; i++)
    if (strcmp(ask->members[i], name) == 0)
      return true;
  if (ask->member_count >= PARLEY_MEMBERS_MAX - 1)
    return false;
  snprintf(ask->members[ask->member_count++], sizeof ask->members[0], "%s",
           name);
  return true;
}

/* Reads kind and title. Returns true, or false with *p filled. */
static bool take_kind_title(json_t *root, http_create_ask *ask,
                            http_problem *p)
{
  const char *kind = json_string_value(json_object_get(root, "kind"));
  json_t *title = json_object_get(root, "title");

  if (kind && strcmp(kind, "direct") == 0)
    ask->kind = PARLEY_CONV_DIRECT;
  else if (kind && strcmp(kind, "group") == 0)
    ask->kind = PARLEY_CONV_GROUP;
  else
    return problem(p, 400, PARLEY_E_BAD_VALUE, "bad-value",
                   "kind: must be \"direct\" or \"group\"");
  if (title && (!json_is_string(title) ||
                json_string_length(title) > PARLEY_TITLE_MAX ||
                strlen(json_string_value(title)) !=
                    json_string_length(title)))
    return problem(p, 400, PARLEY_E_BAD_VALUE, "bad-value",
                   "title: must be a string of at most %d octets of UTF-8",
                   PARLEY_TITLE_MAX);
  snprintf(ask->title, sizeof ask->title, "%s",
           title ? json_string_value(title) : "");
  return true;
}

/* Reads "members" into ask->members. Returns true, or false with *p. */
static bool take_members(json_t *members, const char *caller,
                         http_create_ask *ask, http_problem *p)
{
  size_t n = json_array_size(members);

  if (!json_is_array(members) || n == 0)
    return problem(p, 400, PARLEY_E_BAD_VALUE, "bad-value",
                   "members: must be an array of 1 to %d user names",
                   PARLEY_MEMBERS_MAX - 1);
  for (size_t i = 0; i < n; i++) {
    json_t *item = json_array_get(members, i);
    const char *name = json_string_value(item);
    if (!name || strlen(name) != json_string_length(item) ||
        !http_user_name_valid(name))
      return problem(p, 400, PARLEY_E_BAD_VALUE, "bad-value",
                     "members[%zu]: not a user name", i);
    if (!member_add(ask, caller, name))
      return problem(p, 400, PARLEY_E_BAD_VALUE, "bad-value",
                     "members: a conversation has at most %d members, the "
                     "caller included", PARLEY_MEMBERS_MAX);
  }
  if (ask->kind == PARLEY_CONV_DIRECT && ask->member_count != 1)
    return problem(p, 400, PARLEY_E_BAD_VALUE, "bad-value",
                   "members: a direct conversation has exactly one other "
                   "member");
  if (ask->member_count == 0) /* a group of the caller alone */
    snprintf(ask->members[ask->member_count++], sizeof ask->members[0], "%s",
             caller);
  return true;
}

bool http_create_ask_read(json_t *root, const char *caller,
                          http_create_ask *ask, http_problem *p)
{
  ask->member_count = 0;
  return take_kind_title(root, ask, p) &&
         take_members(json_object_get(root, "members"), caller, ask, p);
}
