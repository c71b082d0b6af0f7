/* The SDP parser of spec section 19 (first cut: grammar pending). */
#include <string.h>

#include "parley/sdp.h"

%%{
  machine sdp;
  include sdp_grammar "sdp_grammar.rl";
  main := sdp_line*;
}%%

%% write data;

parley_err parley_sdp_parse(const char *text, size_t len, parley_sdp *out,
                            parley_sdp_error *err)
{
  const unsigned char *p = (const unsigned char *)text, *pe = p + len;
  int cs;

  if (err != NULL)
    memset(err, 0, sizeof *err);
  if (len > PARLEY_SDP_MAX)
    return PARLEY_E_SDP_TOO_LARGE;
  memset(out, 0, sizeof *out);
  %% write init;
  %% write exec;
  return cs >= sdp_first_final ? PARLEY_OK : PARLEY_E_BAD_SDP;
}
