/* Bearer tokens (spec section 12.2).
 *
 * A token is the text
 *
 *   pt1.<b64url(USER|ISSUED_MS|EXPIRES_MS)>.<b64url(signature)>
 *
 * where base64url has no padding and the Ed25519 signature (RFC 8032)
 * covers the octets `pt1.<payload-b64>`. Parsing is strict: one canonical
 * encoding per token (libsodium rejects non-zero trailing bits, and the
 * decoded parts are re-checked against the grammar), decimal numbers
 * without leading zeros, a user name from [a-z0-9_.-]{1,32}. Anything
 * else is auth-failed. The signature is checked before the payload is
 * trusted, so a forged token never reaches the expiry check. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "parley/frame.h"
#include "parley/token.h"

#define TOKEN_PREFIX "pt1."
#define TOKEN_PREFIX_LEN 4
#define TOKEN_USER_MAX 32
/* USER|ISSUED|EXPIRES: 32 + 1 + 20 + 1 + 20 octets at most. */
#define TOKEN_PAYLOAD_MAX 74
#define TOKEN_SIG_B64_LEN 86 /* 64 octets, base64url without padding */

static const int b64_variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

/* True when `c` may appear in a user name. */
static bool user_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

/* True when s[0..len) is a user name: [a-z0-9_.-]{1,32}. */
static bool user_valid(const char *s, size_t len)
{
  if (len < 1 || len > TOKEN_USER_MAX)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!user_char(s[i]))
      return false;
  return true;
}

/* True when s[0..len) holds only base64url characters. */
static bool b64url_chars(const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok)
      return false;
  }
  return true;
}

/* Decodes base64url s[0..len) into out (at most cap octets). Returns the
 * decoded length, or -1 when the text is not the one canonical encoding
 * of some octets. */
static long b64url_decode(const char *s, size_t len, unsigned char *out,
                          size_t cap)
{
  size_t bin_len = 0;
  const char *end = NULL;

  if (len == 0 || !b64url_chars(s, len))
    return -1;
  if (sodium_base642bin(out, cap, s, len, NULL, &bin_len, &end,
                        b64_variant) != 0)
    return -1;
  if (end != s + len)
    return -1;
  return (long)bin_len;
}

parley_err parley_token_issue(const uint8_t secret_key[64], const char *user,
                              uint64_t issued_ms, uint64_t expires_ms,
                              char *out, size_t out_size)
{
  char payload[TOKEN_PAYLOAD_MAX + 1];
  unsigned char sig[crypto_sign_BYTES];

  if (sodium_init() < 0 || secret_key == NULL || user == NULL || !out)
    return PARLEY_E_BAD_VALUE;
  size_t user_len = strnlen(user, TOKEN_USER_MAX + 1);
  if (!user_valid(user, user_len))
    return PARLEY_E_BAD_VALUE;
  int n = snprintf(payload, sizeof payload, "%s|%llu|%llu", user,
                   (unsigned long long)issued_ms,
                   (unsigned long long)expires_ms);
  if (n < 0 || (size_t)n >= sizeof payload)
    return PARLEY_E_BAD_VALUE;

  size_t payload_b64 = sodium_base64_ENCODED_LEN((size_t)n, b64_variant);
  size_t sig_b64 = sodium_base64_ENCODED_LEN(sizeof sig, b64_variant);
  /* The encoded lengths count their NUL; the token has two dots. */
  size_t need = TOKEN_PREFIX_LEN + payload_b64 + sig_b64;
  if (need > out_size || need > PARLEY_TOKEN_MAX + 1)
    return PARLEY_E_BAD_VALUE;

  memcpy(out, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
  sodium_bin2base64(out + TOKEN_PREFIX_LEN, payload_b64,
                    (const unsigned char *)payload, (size_t)n, b64_variant);
  size_t signed_len = strlen(out);
  crypto_sign_detached(sig, NULL, (const unsigned char *)out, signed_len,
                       secret_key);
  out[signed_len] = '.';
  sodium_bin2base64(out + signed_len + 1, sig_b64, sig, sizeof sig,
                    b64_variant);
  return PARLEY_OK;
}

/* Splits the decoded payload USER|ISSUED|EXPIRES and checks each part.
 * Returns false for any deviation from the grammar. */
static bool payload_parse(const char *p, size_t len, char *user_out,
                          uint64_t *issued, uint64_t *expires)
{
  const char *bar1 = memchr(p, '|', len);
  if (bar1 == NULL)
    return false;
  size_t user_len = (size_t)(bar1 - p);
  const char *rest = bar1 + 1;
  size_t rest_len = len - user_len - 1;
  const char *bar2 = memchr(rest, '|', rest_len);
  if (bar2 == NULL || !user_valid(p, user_len))
    return false;
  size_t issued_len = (size_t)(bar2 - rest);
  if (!parley_parse_u64(rest, issued_len, issued) ||
      !parley_parse_u64(bar2 + 1, rest_len - issued_len - 1, expires))
    return false;
  if (*issued > *expires)
    return false;
  memcpy(user_out, p, user_len);
  user_out[user_len] = '\0';
  return true;
}

parley_err parley_token_verify(const uint8_t public_key[32],
                               const char *token, size_t len,
                               uint64_t now_ms, char *user_out,
                               uint64_t *expires_ms)
{
  unsigned char sig[crypto_sign_BYTES + 1];
  char payload[TOKEN_PAYLOAD_MAX + 1];
  char user[TOKEN_USER_MAX + 1];
  uint64_t issued = 0, expires = 0;

  if (sodium_init() < 0 || public_key == NULL || token == NULL)
    return PARLEY_E_AUTH_FAILED;
  if (len <= TOKEN_PREFIX_LEN || len > PARLEY_TOKEN_MAX ||
      memcmp(token, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
    return PARLEY_E_AUTH_FAILED;
  const char *body = token + TOKEN_PREFIX_LEN;
  size_t body_len = len - TOKEN_PREFIX_LEN;
  const char *dot = memchr(body, '.', body_len);
  if (dot == NULL)
    return PARLEY_E_AUTH_FAILED;
  size_t payload_b64_len = (size_t)(dot - body);
  size_t sig_b64_len = body_len - payload_b64_len - 1;
  if (sig_b64_len != TOKEN_SIG_B64_LEN)
    return PARLEY_E_AUTH_FAILED;

  long sig_len = b64url_decode(dot + 1, sig_b64_len, sig, sizeof sig);
  if (sig_len != crypto_sign_BYTES)
    return PARLEY_E_AUTH_FAILED;
  size_t signed_len = TOKEN_PREFIX_LEN + payload_b64_len;
  if (crypto_sign_verify_detached(sig, (const unsigned char *)token,
                                  signed_len, public_key) != 0)
    return PARLEY_E_AUTH_FAILED;

  long plen = b64url_decode(body, payload_b64_len, (unsigned char *)payload,
                            TOKEN_PAYLOAD_MAX);
  if (plen < 0 || !payload_parse(payload, (size_t)plen, user, &issued,
                                 &expires))
    return PARLEY_E_AUTH_FAILED;
  if (now_ms >= expires)
    return PARLEY_E_TOKEN_EXPIRED;
  if (user_out != NULL)
    memcpy(user_out, user, strlen(user) + 1);
  if (expires_ms != NULL)
    *expires_ms = expires;
  return PARLEY_OK;
}
