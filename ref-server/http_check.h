/* The HTTP API's request checks that need no connection (spec section
 * 12): routing a path, the numbers of a query string or a header, the
 * Content-Type test and the JSON bodies of the token and conversation
 * requests. http_api.c runs them on what libwebsockets hands it; the
 * fuzz harness fuzz/http runs them on its input. None of them logs,
 * answers or keeps state: a refusal comes back as an http_problem that
 * the caller turns into the error answer of HTTP-2. */
#ifndef PARLEY_HTTP_CHECK_H
#define PARLEY_HTTP_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "parley/server.h"

#define HTTP_WS_PATH "/v1/ws"
#define HTTP_BODY_MAX 65536 /* octets of a request body */

typedef enum http_route {
  ROUTE_NONE = 0,
  ROUTE_TOKEN,    /* POST /v1/auth/token */
  ROUTE_CONFIG,   /* GET /v1/config */
  ROUTE_CONVS,    /* GET and POST /v1/conversations */
  ROUTE_CONV,     /* GET /v1/conversations/{id} */
  ROUTE_MESSAGES, /* GET /v1/conversations/{id}/messages */
  ROUTE_WS,       /* GET /v1/ws without an upgrade */
  ROUTE_CALL,     /* GET /v1/call/{id} */
  ROUTE_RECORDING, /* POST /v1/call/{id}/recording/start */
  ROUTE_CONV_CALLS /* GET /v1/conversations/{id}/calls */
} http_route;

typedef enum http_method { METHOD_GET, METHOD_POST, METHOD_OTHER } http_method;

/* Why a request is refused: HTTP status, the error body's code and
 * reason (a static string) and its message. */
typedef struct http_problem {
  unsigned status;
  int code;
  const char *reason;
  char message[256];
} http_problem;

/* What a conversation request asks for (POST /v1/conversations). The
 * caller provides `members`, PARLEY_MEMBERS_MAX names long. */
typedef struct http_create_ask {
  parley_conv_kind kind;
  char title[PARLEY_TITLE_MAX + 1];
  char (*members)[PARLEY_USER_MAX + 1];
  size_t member_count;
} http_create_ask;

/* Maps a path to a route; fills conv (conversation routes) or call (call
 * routes) with the path's id when it is a valid id, else leaves it as
 * it was, so a caller that zeroed them sees "" for an id that cannot
 * exist. */
http_route http_route_of(const char *path, char conv[PARLEY_ID_MAX + 1],
                         char call[PARLEY_ID_MAX + 1]);
/* The route's name for the log (never the path, which may hold a token). */
const char *http_route_name(http_route route);
/* The methods a route serves, as a 405's Allow lists them (HTTP-7). */
const char *http_allowed_method(http_route route);
bool http_method_allowed(http_route route, http_method method);

/* A user name: [a-z0-9_.-]{1,32}. */
bool http_user_name_valid(const char *s);
/* An id of spec 2.7: 1 to 64 characters from [A-Za-z0-9_-]. */
bool http_id_valid(const char *s, size_t n);
/* Parses a decimal without sign or leading zeros, at most `max`. */
bool http_parse_size(const char *s, size_t max, size_t *out);
/* Reads a Content-Length value: 0 with *out set, -1 when it is not a
 * number, 1 when it is past HTTP_BODY_MAX. */
int http_content_length(const char *s, size_t *out);
/* True when a Content-Type value is application/json, parameters
 * allowed. */
bool http_content_type_is_json(const char *ct);

/* The `limit` argument of a list request: `arg` as the query string gave
 * it (NULL or "" when absent: *limit keeps its default). Returns true, or
 * false with *p filled (400 bad-value). */
bool http_limit_arg(const char *arg, size_t max, size_t *limit,
                    http_problem *p);

/* Parses a body that must be a JSON object. Returns it (the caller
 * decrefs), or NULL with *p filled (400 bad-request). */
json_t *http_body_object(const char *body, size_t len, http_problem *p);
/* Checks a token request's object. Returns true with user_out set to the
 * name asked for, or "" for a name that cannot exist (HTTP-10), and
 * *ttl_ms to the lifetime asked for (0: none); the password is the
 * object's "password" string. Returns false with *p filled. */
bool http_token_ask(json_t *root, char user_out[PARLEY_USER_MAX + 1],
                    uint64_t *ttl_ms, http_problem *p);
/* Checks a conversation request's object for `caller`: kind, title and
 * members, each member once, the caller left out (spec 12.3), or only the
 * caller for a group of one. Returns true with *ask filled, or false with
 * *p filled (400 bad-value). */
bool http_create_ask_read(json_t *root, const char *caller,
                          http_create_ask *ask, http_problem *p);

#endif
