/* Helpers of the planted faults of the server core (parley/faults.h)
 * that are more than a line. Compiled only into the test build,
 * parley_server_core_faults; the normal core never calls them, since
 * PARLEY_FAULT is constant false there. */
#include <string.h>

#include <sodium.h>

#include "server_internal.h"

/* True when every header name of f is one the spec defines (section
 * 2.9); unknown-header-rejected refuses a frame that has another.
 * The spec has unknown headers ignored (EXT-1). */
bool fault_headers_all_defined(const parley_frame *f)
{
  static const char *const defined[] = {
      "after", "caps", "code", "content-length", "content-type", "conv",
      "count", "cursor", "dedup-window", "device", "expires", "fatal",
      "from", "heartbeat", "kind", "limit", "max-frame", "max-headers",
      "max-header-line", "max-body", "more", "msg-id", "nonce", "pos",
      "rate", "rate-burst", "reason", "req", "seq", "since", "state",
      "status", "temp-id", "token", "ts", "ttl", "typing-ttl", "user",
      "version", "versions"};
  for (size_t i = 0; i < f->header_count; i++) {
    bool known = false;
    for (size_t k = 0; k < sizeof defined / sizeof defined[0]; k++)
      known = known || parley_str_eq(f->headers[i].name, defined[k]);
    if (!known)
      return false;
  }
  return true;
}

/* Reads a token's payload without checking its signature, as a server
 * that forgot the check would (token-signature-unchecked). Returns
 * PARLEY_OK with the user (user_out, PARLEY_USER_MAX + 1 octets) and the
 * expiry, PARLEY_E_TOKEN_EXPIRED, or PARLEY_E_AUTH_FAILED when the
 * payload cannot be read. */
parley_err fault_token_payload_trusted(const char *token, size_t len,
                                       uint64_t now, char *user_out,
                                       uint64_t *expires)
{
  char payload[80];
  size_t plen = 0;

  if (len <= 4 || memcmp(token, "pt1.", 4) != 0)
    return PARLEY_E_AUTH_FAILED;
  const char *dot = memchr(token + 4, '.', len - 4);
  if (dot == NULL ||
      sodium_base642bin((unsigned char *)payload, sizeof payload - 1,
                        token + 4, (size_t)(dot - token - 4), NULL, &plen,
                        NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return PARLEY_E_AUTH_FAILED;
  payload[plen] = '\0';
  const char *bar1 = strchr(payload, '|');
  const char *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
  if (bar2 == NULL || !srv_user_valid(payload, (size_t)(bar1 - payload)) ||
      !parley_parse_u64(bar2 + 1, strlen(bar2 + 1), expires))
    return PARLEY_E_AUTH_FAILED;
  if (now >= *expires)
    return PARLEY_E_TOKEN_EXPIRED;
  srv_copy(user_out, PARLEY_USER_MAX + 1, payload, (size_t)(bar1 - payload));
  return PARLEY_OK;
}
