/* The candidate-attribute parser (RFC 8839 section 5.1); first cut. */
#include <string.h>

#include "parley/sdp.h"

parley_err parley_candidate_parse(const char *text, size_t len,
                                  parley_candidate *out,
                                  parley_sdp_error *err)
{
  (void)text;
  (void)len;
  memset(out, 0, sizeof *out);
  if (err != NULL)
    memset(err, 0, sizeof *err);
  return PARLEY_E_BAD_CANDIDATE;
}
