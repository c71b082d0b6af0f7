/* Fuzz harness: the HTTP API's request checks (spec section 12) that
 * the reference server runs before any handler: routing of the path, the
 * `limit` argument of the query, Content-Length and Content-Type, and the
 * JSON bodies of the token and conversation requests
 * (ref-server/http_check.c).
 *
 * The input is a request in a shape close to HTTP/1.1's:
 *   METHOD SP PATH ["?" QUERY] LF *(NAME ":" SP VALUE LF) LF BODY
 * (the header section may be missing). The query is split into
 * arguments at '&' here, as libwebsockets does for the server. Oracles:
 * a refusal has a status of 400 and a reason and message; a route's id
 * is a valid id or empty; a read conversation request names each member
 * once, never the caller except for a group of one, and a direct one
 * exactly one other member; the limit is within its bounds. */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/check.h"
#include "http_check.h"

#define CALLER "alice"

static void check_problem(const http_problem *p)
{
  check(p->status == 400 && p->reason != NULL && p->message[0] != '\0');
  check(memchr(p->message, '\0', sizeof p->message) != NULL);
}

/* Runs every `limit=` argument of the query through the limit rule. */
static void check_query(const char *q)
{
  /* Both list requests (messages, calls) take 1 to 100. */
  const size_t max = 100;

  while (q && *q) {
    const char *amp = strchr(q, '&');
    size_t n = amp ? (size_t)(amp - q) : strlen(q);
    if (n >= 6 && memcmp(q, "limit=", 6) == 0) {
      char arg[4097];
      size_t len = n - 6 < sizeof arg - 1 ? n - 6 : sizeof arg - 1;
      size_t limit = 50;
      http_problem p;
      memcpy(arg, q + 6, len);
      arg[len] = '\0';
      if (http_limit_arg(arg, max, &limit, &p))
        check(limit >= 1 && limit <= max);
      else
        check_problem(&p);
    }
    q = amp ? amp + 1 : NULL;
  }
}

static void check_create(json_t *root)
{
  static char members[PARLEY_MEMBERS_MAX][PARLEY_USER_MAX + 1];
  http_create_ask ask = {.members = members};
  http_problem p;

  if (!http_create_ask_read(root, CALLER, &ask, &p)) {
    check_problem(&p);
    return;
  }
  check(ask.member_count >= 1 && ask.member_count < PARLEY_MEMBERS_MAX);
  check(ask.kind != PARLEY_CONV_DIRECT || ask.member_count == 1);
  for (size_t i = 0; i < ask.member_count; i++) {
    check(http_user_name_valid(members[i]));
    check(strcmp(members[i], CALLER) != 0 ||
          (ask.kind == PARLEY_CONV_GROUP && ask.member_count == 1));
    for (size_t j = 0; j < i; j++)
      check(strcmp(members[i], members[j]) != 0);
  }
  check(strlen(ask.title) <= PARLEY_TITLE_MAX);
}

static void check_body(http_route route, const char *body, size_t len)
{
  http_problem p;
  json_t *root = http_body_object(body, len, &p);

  if (!root) {
    check_problem(&p);
    return;
  }
  if (route == ROUTE_TOKEN) {
    char user[PARLEY_USER_MAX + 1];
    uint64_t ttl = 0;
    if (http_token_ask(root, user, &ttl, &p))
      check((user[0] == '\0' || http_user_name_valid(user)) &&
            (ttl == 0 || ttl >= 1000));
    else
      check_problem(&p);
  } else {
    check_create(root);
  }
  json_decref(root);
}

/* One header line "name: value": the body rules of HTTP-1. */
static void check_header(const char *line)
{
  size_t n;

  if (strncasecmp(line, "content-length: ", 16) == 0) {
    int rc = http_content_length(line + 16, &n);
    check(rc >= -1 && rc <= 1);
    if (rc == 0)
      check(n <= HTTP_BODY_MAX);
  } else if (strncasecmp(line, "content-type: ", 14) == 0) {
    (void)http_content_type_is_json(line + 14);
  }
}

/* The request line; returns the route and sets *method. */
static http_route check_request_line(char *line, http_method *method)
{
  char conv[PARLEY_ID_MAX + 1] = "", call[PARLEY_ID_MAX + 1] = "";
  char *sp = strchr(line, ' '), *path = sp ? sp + 1 : line, *query;

  *method = METHOD_OTHER;
  if (sp && (size_t)(sp - line) == 3 && memcmp(line, "GET", 3) == 0)
    *method = METHOD_GET;
  if (sp && (size_t)(sp - line) == 4 && memcmp(line, "POST", 4) == 0)
    *method = METHOD_POST;
  query = strchr(path, '?');
  if (query)
    *query++ = '\0';
  http_route route = http_route_of(path, conv, call);
  check(http_route_name(route) != NULL);
  check(http_allowed_method(route) != NULL);
  check(conv[0] == '\0' || http_id_valid(conv, strlen(conv)));
  check(call[0] == '\0' || http_id_valid(call, strlen(call)));
  check(route != ROUTE_NONE || (!conv[0] && !call[0]));
  check_query(query);
  return route;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size + 1);
  http_method method;

  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  /* The head (request line, headers) ends at the first blank line. */
  char *sep = memmem(text, size, "\n\n", 2);
  char *body = sep ? sep + 2 : NULL;
  size_t head_len = sep ? (size_t)(sep - text) : size;
  char *head = strndup(text, head_len);
  char *next = strchr(head, '\n');
  if (next)
    *next++ = '\0';
  http_route route = check_request_line(head, &method);
  while (next) {
    char *line = next;
    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    check_header(line);
  }
  free(head);
  if (body && (route == ROUTE_TOKEN ||
               (route == ROUTE_CONVS && method == METHOD_POST)))
    check_body(route, body, (size_t)(text + size - body));
  free(text);
  return 0;
}
