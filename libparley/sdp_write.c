/* Writers of SDP bodies and candidate-attributes; first cut. */
#include "parley/sdp.h"

size_t parley_candidate_write(const parley_candidate *c, char *out,
                              size_t cap)
{
  (void)c;
  if (cap > 0)
    out[0] = '\0';
  return 0;
}

size_t parley_sdp_write(const parley_sdp *s, char *out, size_t cap)
{
  (void)s;
  if (cap > 0)
    out[0] = '\0';
  return 0;
}
