/* Parley error registry: one table generates the enum, the wire reason
 * and the message. It is the table of spec/parley-1.md section 13; a test
 * checks that the two agree. */
#ifndef PARLEY_ERROR_H
#define PARLEY_ERROR_H

#include <stdbool.h>

/* X(NAME, code, "reason", fatal on WebSocket, "message") */
#define PARLEY_ERROR_MAP(X)                                                   \
  X(BAD_START_LINE, 400, "bad-start-line", false,                             \
    "the start line breaks the grammar")                                      \
  X(BAD_HEADER_NAME, 401, "bad-header-name", false,                           \
    "a header name breaks the grammar")                                       \
  X(BAD_HEADER_VALUE, 402, "bad-header-value", false,                         \
    "a header value breaks the grammar")                                      \
  X(BAD_UTF8, 403, "bad-utf8", false,                                         \
    "invalid UTF-8 in a verb, header value or body")                          \
  X(LENGTH_REQUIRED, 404, "length-required", false,                           \
    "octets follow the headers without content-length")                       \
  X(BAD_LENGTH, 405, "bad-length", false,                                     \
    "content-length is not a number without leading zeros")                   \
  X(FRAME_TOO_LARGE, 406, "frame-too-large", false,                           \
    "the frame is past the frame size limit")                                 \
  X(HEADER_TOO_LONG, 407, "header-too-long", false,                           \
    "a header line is past its limit")                                        \
  X(TOO_MANY_HEADERS, 408, "too-many-headers", false,                         \
    "the frame has too many header lines")                                    \
  X(TRUNCATED_FRAME, 409, "truncated-frame", false,                           \
    "the message ends inside a frame")                                        \
  X(EXTRA_DATA, 410, "extra-data", false,                                     \
    "the message holds octets after a complete frame")                        \
  X(DUPLICATE_HEADER, 411, "duplicate-header", false,                         \
    "a header name appears twice")                                            \
  X(BINARY_MESSAGE, 412, "binary-message", false,                             \
    "a binary WebSocket message")                                             \
  X(TOO_MANY_ERRORS, 413, "too-many-errors", true,                            \
    "too many malformed messages")                                            \
  X(UNKNOWN_VERB, 420, "unknown-verb", false, "the verb is not known")        \
  X(BAD_STATE, 421, "bad-state", true,                                        \
    "the frame is not allowed in the session's state")                        \
  X(UNSUPPORTED_VERSION, 422, "unsupported-version", true,                    \
    "no common version")                                                      \
  X(AUTH_REQUIRED, 423, "auth-required", false, "the session is not READY")  \
  X(AUTH_FAILED, 424, "auth-failed", true, "the token is not valid")          \
  X(TOKEN_EXPIRED, 425, "token-expired", true, "the token has expired")       \
  X(MISSING_HEADER, 426, "missing-header", false,                             \
    "a required header is missing")                                           \
  X(BAD_VALUE, 427, "bad-value", false,                                       \
    "a header value is outside its definition")                               \
  X(TIMEOUT, 428, "timeout", true, "handshake or heartbeat timeout")          \
  X(RATE_LIMITED, 429, "rate-limited", false, "too many frames; retry later") \
  X(NOT_FOUND, 440, "not-found", false,                                       \
    "no such conversation for this user")                                     \
  X(TEMP_ID_CONFLICT, 441, "temp-id-conflict", false,                         \
    "temp-id reused for another message")                                     \
  X(BAD_CURSOR, 442, "bad-cursor", false,                                     \
    "the cursor is not one this server issued")                               \
  X(NO_SUCH_CALL, 443, "no-such-call", false,                                 \
    "no such call, or the sender is not in it")                               \
  X(BAD_CALL_STATE, 444, "bad-call-state", false,                             \
    "the frame is not allowed in the call's state")                           \
  X(BAD_SDP, 445, "bad-sdp", false,                                           \
    "the SDP body breaks the grammar or the profile")                         \
  X(BAD_CANDIDATE, 446, "bad-candidate", false,                               \
    "the ICE candidate breaks the grammar")                                   \
  X(SDP_TOO_LARGE, 447, "sdp-too-large", false,                               \
    "the SDP body is past its size limit")                                    \
  X(INTERNAL, 500, "internal", true, "the server failed")                     \
  X(GOING_AWAY, 503, "going-away", true, "the server is shutting down")

typedef enum parley_err {
  PARLEY_OK = 0,
#define PARLEY_ERR_ENUM_(name, code, reason, fatal, msg) PARLEY_E_##name = code,
  PARLEY_ERROR_MAP(PARLEY_ERR_ENUM_)
#undef PARLEY_ERR_ENUM_
} parley_err;

/* The wire reason ("not-found"), or NULL for a code not in the registry. */
const char *parley_err_reason(parley_err err);

/* A one-line English explanation, or NULL for an unknown code. */
const char *parley_err_message(parley_err err);

/* Whether the registry marks the error fatal on WebSocket. */
bool parley_err_fatal(parley_err err);

/* The error whose reason is `reason` (NUL-terminated), or PARLEY_OK. */
parley_err parley_err_from_reason(const char *reason);

#endif
