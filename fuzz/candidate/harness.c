/* Fuzz harness: ICE candidate lines (RFC 8839 candidate-attribute,
 * libparley/candidate*.rl) and their writer.
 *
 * The input is a candidate-attribute value ("candidate:..."). Oracles: a
 * refusal is bad-candidate with a rule named; an accepted candidate is
 * written, the written line parses to the same candidate and writes to
 * the same octets. Any disagreement aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "../common/sdp_equal.h"
#include "parley/sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  parley_candidate first, second;
  parley_sdp_error err;
  char out1[2048], out2[2048];
  parley_err e;

  memset(&first, 0, sizeof first);
  memset(&err, 0, sizeof err);
  e = parley_candidate_parse((const char *)data, size, &first, &err);
  if (e != PARLEY_OK) {
    check(e == PARLEY_E_BAD_CANDIDATE);
    check(err.rule[0] != '\0' && memchr(err.rule, '\0', sizeof err.rule));
    check(memchr(err.message, '\0', sizeof err.message) != NULL);
    check(err.column <= size + 1);
    return 0;
  }
  check(first.component >= 1 && first.component <= 256);
  check(first.priority >= 1 && first.priority <= 0x7fffffffu);

  size_t n1 = parley_candidate_write(&first, out1, sizeof out1);
  check(n1 > 0 && n1 < sizeof out1 && out1[n1] == '\0');
  memset(&second, 0, sizeof second);
  check(parley_candidate_parse(out1, n1, &second, &err) == PARLEY_OK);
  check(fuzz_candidate_equal(&first, &second));
  size_t n2 = parley_candidate_write(&second, out2, sizeof out2);
  check(n2 == n1 && memcmp(out1, out2, n1) == 0);
  return 0;
}
