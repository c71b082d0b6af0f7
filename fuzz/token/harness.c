/* Fuzz harness: bearer tokens (spec section 12.2, libparley/token.c).
 *
 * The first input octet picks what the rest is:
 * - 0: a token as a client sends it, checked against a fixed key (the
 *   forged and malformed paths);
 * - 1: a payload; the harness signs it with the fixed key the way the
 *   issuer would, so the payload grammar behind the signature check is
 *   reached. Oracle: a token accepted names a user that starts the
 *   payload, followed by '|', and expires no earlier than now;
 * - 2: a user name; a token issued for it must verify to the same user
 *   and expiry, and issuing fails only for a name outside
 *   [a-z0-9_.-]{1,32}.
 * Any disagreement aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../common/check.h"
#include "parley/token.h"

#define NOW_MS 1764864000000ull

static uint8_t public_key[32];
static uint8_t secret_key[64];

static void keys_once(void)
{
  static bool done;
  uint8_t seed[32];

  if (done)
    return;
  check(sodium_init() >= 0);
  memset(seed, 7, sizeof seed);
  crypto_sign_seed_keypair(public_key, secret_key, seed);
  done = true;
}

static bool name_valid(const char *s, size_t n)
{
  if (n < 1 || n > 32)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
          s[i] == '_' || s[i] == '.' || s[i] == '-'))
      return false;
  return true;
}

/* Mode 1: "pt1." base64url(payload) "." base64url(signature). */
static void signed_payload(const uint8_t *p, size_t n)
{
  const int v = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  char token[2 * PARLEY_TOKEN_MAX], user[33];
  unsigned char sig[crypto_sign_BYTES];
  uint64_t expires = 0;

  if (sodium_base64_ENCODED_LEN(n, v) + 100 > PARLEY_TOKEN_MAX)
    return;
  memcpy(token, "pt1.", 4);
  sodium_bin2base64(token + 4, sizeof token - 4, p, n, v);
  size_t signed_len = strlen(token);
  crypto_sign_detached(sig, NULL, (unsigned char *)token, signed_len,
                       secret_key);
  token[signed_len] = '.';
  sodium_bin2base64(token + signed_len + 1, sizeof token - signed_len - 1,
                    sig, sizeof sig, v);
  parley_err e = parley_token_verify(public_key, token, strlen(token), NOW_MS,
                                     user, &expires);
  if (e != PARLEY_OK) {
    check(e == PARLEY_E_AUTH_FAILED || e == PARLEY_E_TOKEN_EXPIRED);
    return;
  }
  size_t ulen = strlen(user);
  check(name_valid(user, ulen) && ulen < n && p[ulen] == '|' &&
        memcmp(p, user, ulen) == 0);
  check(expires >= NOW_MS);
}

/* Mode 2: issue for a name, then verify. */
static void issued(const uint8_t *p, size_t n)
{
  char name[64], token[PARLEY_TOKEN_MAX + 1], user[33];
  uint64_t expires = 0, want = NOW_MS + 1000 + n;

  if (n >= sizeof name)
    n = sizeof name - 1;
  memcpy(name, p, n);
  name[n] = '\0';
  parley_err e = parley_token_issue(secret_key, name, NOW_MS, want, token,
                                    sizeof token);
  check((e == PARLEY_OK) == name_valid(name, strlen(name)));
  if (e != PARLEY_OK)
    return;
  check(parley_token_verify(public_key, token, strlen(token), NOW_MS, user,
                            &expires) == PARLEY_OK);
  check(strcmp(user, name) == 0 && expires == want);
  check(parley_token_verify(public_key, token, strlen(token), want + 1, user,
                            &expires) == PARLEY_E_TOKEN_EXPIRED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char user[33];
  uint64_t expires;

  keys_once();
  if (size == 0)
    return 0;
  switch (data[0] % 3) {
  case 0:
    if (parley_token_verify(public_key, (const char *)data + 1, size - 1,
                            NOW_MS, user, &expires) == PARLEY_OK)
      check(name_valid(user, strlen(user)) && expires >= NOW_MS);
    break;
  case 1:
    signed_payload(data + 1, size - 1);
    break;
  default:
    issued(data + 1, size - 1);
  }
  return 0;
}
