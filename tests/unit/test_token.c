/* Unit tests for the bearer tokens of spec section 12.2. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "parley/token.h"

static uint8_t pk[crypto_sign_PUBLICKEYBYTES];
static uint8_t sk[crypto_sign_SECRETKEYBYTES];
static uint8_t other_pk[crypto_sign_PUBLICKEYBYTES];
static uint8_t other_sk[crypto_sign_SECRETKEYBYTES];

static void keys_setup(void)
{
  unsigned char seed[crypto_sign_SEEDBYTES];

  cr_assert(sodium_init() >= 0);
  memset(seed, 7, sizeof seed);
  crypto_sign_seed_keypair(pk, sk, seed);
  memset(seed, 9, sizeof seed);
  crypto_sign_seed_keypair(other_pk, other_sk, seed);
}

TestSuite(token, .init = keys_setup);

/* Issues a token for `user` valid from 1000 to 5000 into `out`. */
static void issue(const char *user, char out[PARLEY_TOKEN_MAX + 1])
{
  cr_assert_eq(parley_token_issue(sk, user, 1000, 5000, out,
                                  PARLEY_TOKEN_MAX + 1),
               PARLEY_OK);
}

static parley_err verify_at(const char *tok, uint64_t now)
{
  char user[33];
  uint64_t exp = 0;
  return parley_token_verify(pk, tok, strlen(tok), now, user, &exp);
}

/* spec: AUTH-1 */
Test(token, issue_then_verify)
{
  char tok[PARLEY_TOKEN_MAX + 1];
  char user[33] = "";
  uint64_t exp = 0;

  issue("alice", tok);
  cr_assert_eq(strncmp(tok, "pt1.", 4), 0);
  cr_assert_eq(parley_token_verify(pk, tok, strlen(tok), 1000, user, &exp),
               PARLEY_OK);
  cr_assert_str_eq(user, "alice");
  cr_assert_eq(exp, 5000);
}

/* spec: AUTH-1 */
Test(token, payload_is_the_documented_text)
{
  char tok[PARLEY_TOKEN_MAX + 1];
  unsigned char bin[128];
  size_t bin_len = 0;

  issue("bob.b-1_x", tok);
  const char *dot = strchr(tok + 4, '.');
  cr_assert_not_null(dot);
  cr_assert_eq(sodium_base642bin(bin, sizeof bin, tok + 4,
                                 (size_t)(dot - tok - 4), NULL, &bin_len,
                                 NULL,
                                 sodium_base64_VARIANT_URLSAFE_NO_PADDING),
               0);
  cr_assert_eq(bin_len, strlen("bob.b-1_x|1000|5000"));
  cr_assert_eq(memcmp(bin, "bob.b-1_x|1000|5000", bin_len), 0);
  cr_assert_null(strchr(tok, '='));
}

/* spec: AUTH-1 HTTP-3 SEC-7 */
Test(token, expiry_boundary)
{
  char tok[PARLEY_TOKEN_MAX + 1];

  issue("alice", tok);
  cr_assert_eq(verify_at(tok, 4999), PARLEY_OK);
  cr_assert_eq(verify_at(tok, 5000), PARLEY_E_TOKEN_EXPIRED);
  cr_assert_eq(verify_at(tok, 99999), PARLEY_E_TOKEN_EXPIRED);
}

/* spec: AUTH-1 HTTP-3 */
Test(token, wrong_key_fails)
{
  char tok[PARLEY_TOKEN_MAX + 1];
  char user[33];
  uint64_t exp;

  cr_assert_eq(parley_token_issue(other_sk, "alice", 1000, 5000, tok,
                                  sizeof tok),
               PARLEY_OK);
  cr_assert_eq(parley_token_verify(pk, tok, strlen(tok), 1000, user, &exp),
               PARLEY_E_AUTH_FAILED);
  cr_assert_eq(parley_token_verify(other_pk, tok, strlen(tok), 1000, user,
                                   &exp),
               PARLEY_OK);
}

/* spec: HTTP-3 SEC-7 */
Test(token, forged_payload_fails)
{
  char tok[PARLEY_TOKEN_MAX + 1];
  char forged[PARLEY_TOKEN_MAX + 1];
  char b64[128];
  const char *payload = "mallory|1000|5000";

  issue("alice", tok);
  const char *sig = strchr(tok + 4, '.');
  sodium_bin2base64(b64, sizeof b64, (const unsigned char *)payload,
                    strlen(payload),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  snprintf(forged, sizeof forged, "pt1.%s%s", b64, sig);
  cr_assert_eq(verify_at(forged, 1000), PARLEY_E_AUTH_FAILED);
}

/* spec: HTTP-3 */
Test(token, every_flipped_character_fails)
{
  char tok[PARLEY_TOKEN_MAX + 1];
  const char alphabet[] = "Aa0_-.|=";

  issue("alice", tok);
  size_t len = strlen(tok);
  for (size_t i = 0; i < len; i++) {
    for (size_t k = 0; k < sizeof alphabet - 1; k++) {
      char copy[PARLEY_TOKEN_MAX + 1];
      if (tok[i] == alphabet[k])
        continue;
      memcpy(copy, tok, len + 1);
      copy[i] = alphabet[k];
      cr_assert_eq(verify_at(copy, 1000), PARLEY_E_AUTH_FAILED,
                   "position %zu char %c", i, alphabet[k]);
    }
  }
}

/* spec: HTTP-3 */
Test(token, truncated_tokens_fail)
{
  char tok[PARLEY_TOKEN_MAX + 1];

  issue("alice", tok);
  size_t len = strlen(tok);
  for (size_t cut = 0; cut < len; cut++) {
    char user[33];
    uint64_t exp;
    cr_assert_eq(parley_token_verify(pk, tok, cut, 1000, user, &exp),
                 PARLEY_E_AUTH_FAILED, "cut at %zu", cut);
  }
}

/* spec: HTTP-3 SEC-7 */
Test(token, garbage_fails)
{
  const char *bad[] = {
    "", "pt1.", "pt1..", "pt2.abc.def", "PT1.abc.def", "pt1.abc",
    "pt1.abc.def.ghi", "pt1.===.===", "\xff\xfe\x00garbage",
    "pt1.YWxpY2V8MTAwMHw1MDAw.",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    cr_assert_eq(verify_at(bad[i], 1000), PARLEY_E_AUTH_FAILED, "case %zu",
                 i);

  char long_tok[PARLEY_TOKEN_MAX + 10];
  memset(long_tok, 'A', sizeof long_tok - 1);
  long_tok[sizeof long_tok - 1] = '\0';
  memcpy(long_tok, "pt1.", 4);
  cr_assert_eq(verify_at(long_tok, 1000), PARLEY_E_AUTH_FAILED);
}

/* Signs `payload` as a well-formed token would and writes the token. */
static void sign_payload(const char *payload, char *out, size_t cap)
{
  unsigned char sig[crypto_sign_BYTES];
  char b64[256];

  sodium_bin2base64(b64, sizeof b64, (const unsigned char *)payload,
                    strlen(payload),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  snprintf(out, cap, "pt1.%s", b64);
  crypto_sign_detached(sig, NULL, (const unsigned char *)out, strlen(out),
                       sk);
  size_t n = strlen(out);
  out[n] = '.';
  sodium_bin2base64(out + n + 1, cap - n - 1, sig, sizeof sig,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* spec: HTTP-3 */
Test(token, signed_but_malformed_payload_fails)
{
  const char *payloads[] = {
    "alice|1000",         "alice|1000|5000|1", "Alice|1000|5000",
    "|1000|5000",         "alice|01000|5000",  "alice|1000|+5000",
    "alice|1000|",        "alice||5000",       "alice|6000|5000",
    "alice|1|99999999999999999999",
    "a23456789012345678901234567890123|1|5",
  };
  for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
    char tok[PARLEY_TOKEN_MAX + 1];
    sign_payload(payloads[i], tok, sizeof tok);
    cr_assert_eq(verify_at(tok, 1000), PARLEY_E_AUTH_FAILED, "payload %s",
                 payloads[i]);
  }
  char ok[PARLEY_TOKEN_MAX + 1];
  sign_payload("alice|1000|5000", ok, sizeof ok);
  cr_assert_eq(verify_at(ok, 1000), PARLEY_OK);
}

/* spec: AUTH-1 */
Test(token, issue_rejects_bad_user_and_small_buffer)
{
  char tok[PARLEY_TOKEN_MAX + 1];
  char small[40];

  cr_assert_eq(parley_token_issue(sk, "", 1, 2, tok, sizeof tok),
               PARLEY_E_BAD_VALUE);
  cr_assert_eq(parley_token_issue(sk, "Alice", 1, 2, tok, sizeof tok),
               PARLEY_E_BAD_VALUE);
  cr_assert_eq(parley_token_issue(sk, "a b", 1, 2, tok, sizeof tok),
               PARLEY_E_BAD_VALUE);
  cr_assert_eq(parley_token_issue(sk, "a23456789012345678901234567890123",
                                  1, 2, tok, sizeof tok),
               PARLEY_E_BAD_VALUE);
  cr_assert_eq(parley_token_issue(sk, "alice", 1, 2, small, sizeof small),
               PARLEY_E_BAD_VALUE);
  cr_assert_eq(parley_token_issue(sk, "a2345678901234567890123456789012",
                                  UINT64_MAX - 1, UINT64_MAX, tok,
                                  sizeof tok),
               PARLEY_OK);
  cr_assert_eq(verify_at(tok, 1000), PARLEY_OK);
}
