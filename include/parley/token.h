/* Bearer tokens of spec section 12.2: a payload naming the user and the
 * expiry, signed with Ed25519 (RFC 8032) through libsodium. Pure
 * functions: the caller passes the time. */
#ifndef PARLEY_TOKEN_H
#define PARLEY_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "parley/error.h"

#define PARLEY_TOKEN_MAX 512

/* Writes a NUL-terminated token for `user` into out (out_size bytes).
 * Returns PARLEY_OK, or PARLEY_E_BAD_VALUE for a bad user name or a
 * buffer too small. */
parley_err parley_token_issue(const uint8_t secret_key[64], const char *user,
                              uint64_t issued_ms, uint64_t expires_ms,
                              char *out, size_t out_size);

/* Checks a token. Returns PARLEY_OK and fills user_out (33 bytes) and
 * *expires_ms; PARLEY_E_AUTH_FAILED for a malformed or forged token;
 * PARLEY_E_TOKEN_EXPIRED when now_ms >= its expiry. */
parley_err parley_token_verify(const uint8_t public_key[32],
                               const char *token, size_t len,
                               uint64_t now_ms, char *user_out,
                               uint64_t *expires_ms);

#endif
