/* What the server core's unit tests share: the frames the core sent,
 * captured as a list, and reading them back (verb, headers, body). */
#ifndef PARLEY_TEST_SERVER_FIXTURE_H
#define PARLEY_TEST_SERVER_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/server.h"

/* One frame the core sent on a connection; `taken` once a test read it. */
typedef struct out_frame {
  parley_conn_id conn;
  char *data;
  size_t len;
  bool taken;
} out_frame;

/* One parsed frame, headers, body and the raw text copied out. */
typedef struct tframe {
  char verb[40];
  size_t n;
  char name[40][64];
  char value[40][1100];
  char body[70000];
  size_t body_len;
  char raw[70000];
} tframe;

/* The scratch frame fx_expect returns; valid until the next call. */
extern tframe tf_scratch;

/* Parses a frame the core sent into tf; a bad frame fails the test. */
void tframe_parse(const char *data, size_t len, tframe *tf);

/* The value of header `name`, or NULL. */
const char *hget(const tframe *tf, const char *name);

/* Header `name` as a number; a missing header fails the test. */
uint64_t hnum(const tframe *tf, const char *name);

/* Checks header `name` is present and equal to `want`. */
void hexpect(const tframe *tf, const char *name, const char *want);

/* Fills the token key pair from a seed of 32 bytes `seed_byte`
 * (initialising libsodium). */
void fx_keys(unsigned char seed_byte, uint8_t pk[32], uint8_t sk[64]);

/* Appends a copy of a SEND action's frame to out (length *n, room for
 * max). */
void fx_keep_sent(out_frame *out, size_t *n, size_t max,
                  const parley_action *a);

/* Frees the frames of out[0..n). */
void fx_free_out(out_frame *out, size_t n);

/* The oldest frame of out[0..n) sent on conn not yet taken, or NULL. */
out_frame *fx_next_out(out_frame *out, size_t n, parley_conn_id conn);

/* Takes the next frame on conn, checks its verb, returns it parsed in
 * tf_scratch. */
tframe *fx_expect(out_frame *out, size_t n, parley_conn_id conn,
                  const char *verb);

/* Expects ERROR with `code`, its reason and its `fatal` value. */
tframe *fx_expect_error(out_frame *out, size_t n, parley_conn_id conn,
                        int code);

/* Checks nothing more was sent on conn. */
void fx_expect_nothing(out_frame *out, size_t n, parley_conn_id conn);

#endif
