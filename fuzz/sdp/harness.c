/* Fuzz harness: the SDP parser and profile check (spec section 19,
 * libparley/sdp*.rl) and the SDP writer.
 *
 * The input is an SDP body. Oracles: the error, when there is one, names
 * a line within the input and a rule; a body the parser accepts is
 * written back, and what the writer produced parses to the same
 * parley_sdp (the writer's promise in parley/sdp.h) and writes to the
 * same octets again. Any disagreement aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "../common/sdp_equal.h"
#include "parley/sdp.h"

/* Big enough for any body the writer makes from a parsed one. */
#define WRITE_CAP (4 * PARLEY_SDP_MAX)

static size_t count_lines(const uint8_t *d, size_t n)
{
  size_t lines = 1;

  for (size_t i = 0; i < n; i++)
    lines += d[i] == '\n';
  return lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static parley_sdp first, second;
  static char out1[WRITE_CAP], out2[WRITE_CAP];
  parley_sdp_error err;
  parley_err e;

  memset(&first, 0, sizeof first);
  memset(&err, 0, sizeof err);
  e = parley_sdp_parse((const char *)data, size, &first, &err);
  if (e != PARLEY_OK) {
    check(e == PARLEY_E_BAD_SDP || e == PARLEY_E_SDP_TOO_LARGE);
    check(e == PARLEY_E_SDP_TOO_LARGE || err.rule[0] != '\0');
    check(memchr(err.rule, '\0', sizeof err.rule) != NULL);
    check(memchr(err.message, '\0', sizeof err.message) != NULL);
    check(err.line <= count_lines(data, size));
    return 0;
  }
  check(first.media_count >= 1 && first.media_count <= PARLEY_SDP_MEDIA_MAX);
  check(first.candidate_count <= PARLEY_SDP_CANDIDATES_MAX);

  size_t n1 = parley_sdp_write(&first, out1, sizeof out1);
  check(n1 > 0 && n1 < sizeof out1 && out1[n1] == '\0');
  memset(&second, 0, sizeof second);
  e = parley_sdp_parse(out1, n1, &second, &err);
  check(e == PARLEY_OK);
  check(fuzz_sdp_equal(&first, &second));
  size_t n2 = parley_sdp_write(&second, out2, sizeof out2);
  check(n2 == n1 && memcmp(out1, out2, n1) == 0);
  return 0;
}
