/* Reading back what the server core sent, for the core's unit tests
 * (test_server, test_server_call). Failures are Criterion assertions. */
#include "server_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

tframe tf_scratch;

void tframe_parse(const char *data, size_t len, tframe *tf)
{
  parley_parser p;
  parley_frame f;
  parley_parse_error err;
  parley_parser_init(&p, NULL);
  cr_assert_eq(parley_parse_message(&p, data, len, &f, &err), PARLEY_OK,
               "core sent a bad frame: %.*s", (int)len, data);
  memset(tf, 0, offsetof(tframe, body));
  snprintf(tf->verb, sizeof tf->verb, "%.*s", (int)f.verb.len, f.verb.ptr);
  tf->n = f.header_count;
  for (size_t i = 0; i < f.header_count; i++) {
    snprintf(tf->name[i], sizeof tf->name[i], "%.*s",
             (int)f.headers[i].name.len, f.headers[i].name.ptr);
    snprintf(tf->value[i], sizeof tf->value[i], "%.*s",
             (int)f.headers[i].value.len, f.headers[i].value.ptr);
  }
  memcpy(tf->body, f.body.ptr, f.body.len);
  tf->body[f.body.len] = '\0';
  tf->body_len = f.body.len;
  memcpy(tf->raw, data, len);
  tf->raw[len] = '\0';
  parley_parser_free(&p);
}

const char *hget(const tframe *tf, const char *name)
{
  for (size_t i = 0; i < tf->n; i++)
    if (strcmp(tf->name[i], name) == 0)
      return tf->value[i];
  return NULL;
}

uint64_t hnum(const tframe *tf, const char *name)
{
  const char *v = hget(tf, name);
  cr_assert_not_null(v, "no header %s in %s", name, tf->verb);
  return strtoull(v, NULL, 10);
}

void hexpect(const tframe *tf, const char *name, const char *want)
{
  const char *v = hget(tf, name);
  cr_assert_not_null(v, "%s: no header %s", tf->verb, name);
  cr_assert_str_eq(v, want, "%s: %s is %s, want %s", tf->verb, name, v,
                   want);
}

void fx_keys(unsigned char seed_byte, uint8_t pk[32], uint8_t sk[64])
{
  unsigned char seed[32];
  cr_assert(sodium_init() >= 0);
  memset(seed, seed_byte, sizeof seed);
  crypto_sign_seed_keypair(pk, sk, seed);
}

void fx_keep_sent(out_frame *out, size_t *n, size_t max,
                  const parley_action *a)
{
  cr_assert_lt(*n, max);
  out[*n].conn = a->conn;
  out[*n].data = malloc(a->len + 1);
  memcpy(out[*n].data, a->data, a->len);
  out[*n].data[a->len] = '\0';
  out[*n].len = a->len;
  out[(*n)++].taken = false;
}

void fx_free_out(out_frame *out, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(out[i].data);
}

out_frame *fx_next_out(out_frame *out, size_t n, parley_conn_id conn)
{
  for (size_t i = 0; i < n; i++)
    if (out[i].conn == conn && !out[i].taken)
      return &out[i];
  return NULL;
}

tframe *fx_expect(out_frame *out, size_t n, parley_conn_id conn,
                  const char *verb)
{
  out_frame *o = fx_next_out(out, n, conn);
  cr_assert_not_null(o, "conn %llu: expected %s, got nothing",
                     (unsigned long long)conn, verb);
  o->taken = true;
  tframe_parse(o->data, o->len, &tf_scratch);
  cr_assert_str_eq(tf_scratch.verb, verb, "conn %llu: expected %s: %s",
                   (unsigned long long)conn, verb, o->data);
  return &tf_scratch;
}

tframe *fx_expect_error(out_frame *out, size_t n, parley_conn_id conn,
                        int code)
{
  tframe *tf = fx_expect(out, n, conn, "ERROR");
  cr_assert_eq(hnum(tf, "code"), (uint64_t)code, "code %s, want %d",
               hget(tf, "code"), code);
  cr_assert_str_eq(hget(tf, "reason"), parley_err_reason((parley_err)code));
  cr_assert_str_eq(hget(tf, "fatal"),
                   parley_err_fatal((parley_err)code) ? "yes" : "no");
  return tf;
}

void fx_expect_nothing(out_frame *out, size_t n, parley_conn_id conn)
{
  out_frame *o = fx_next_out(out, n, conn);
  cr_assert_null(o, "conn %llu: unexpected %s", (unsigned long long)conn,
                 o ? o->data : "");
}
