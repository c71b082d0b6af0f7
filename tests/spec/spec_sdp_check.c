/* spec_sdp_check: runs the SDP bodies and ICE candidates of the spec's
 * worked examples through the parsers of libparley (parley/sdp.h), for
 * spec_lint.py.
 *
 *   spec_sdp_check sdp        < body
 *   spec_sdp_check candidate  < header value
 *
 * Standard input is the whole text, read as octets. On success it prints
 * one line "ok" followed by what the lint compares with the example's
 * frame (for a body: "setup=" the a=setup of each media section and
 * "candidates=" the a=candidate count; for a candidate: its type) and
 * exits 0. On a fault it prints "error REASON LINE:COLUMN RULE: MESSAGE"
 * and exits 1. A usage fault or input past the limit exits 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/sdp.h"

/* Twice the body limit, so that a body past it reaches the parser and
 * gets sdp-too-large from there. */
#define INPUT_MAX (2 * PARLEY_SDP_MAX)

static const char *setup_name(parley_sdp_setup s)
{
  switch (s) {
  case PARLEY_SETUP_ACTPASS: return "actpass";
  case PARLEY_SETUP_ACTIVE: return "active";
  case PARLEY_SETUP_PASSIVE: return "passive";
  default: return "none";
  }
}

static void print_error(parley_err code, const parley_sdp_error *err)
{
  printf("error %s %u:%u %s: %s\n", parley_err_reason(code),
         (unsigned)err->line, (unsigned)err->column, err->rule,
         err->message);
}

/* Parses a body; prints the setup of each media section and the number
 * of candidates. Returns the exit status. */
static int check_sdp(const char *text, size_t len)
{
  parley_sdp *sdp = calloc(1, sizeof *sdp);
  parley_sdp_error err = {0};
  int rc = 1;

  if (!sdp)
    return 2;
  parley_err code = parley_sdp_parse(text, len, sdp, &err);
  if (code != PARLEY_OK) {
    print_error(code, &err);
  } else {
    printf("ok setup=");
    for (size_t i = 0; i < sdp->media_count; i++)
      printf("%s%s", i ? "," : "", setup_name(sdp->media[i].setup));
    printf(" candidates=%zu\n", sdp->candidate_count);
    rc = 0;
  }
  free(sdp);
  return rc;
}

/* Parses one candidate-attribute; prints its type. */
static int check_candidate(const char *text, size_t len)
{
  parley_candidate cand;
  parley_sdp_error err = {0};
  parley_err code = parley_candidate_parse(text, len, &cand, &err);

  if (code != PARLEY_OK) {
    print_error(code, &err);
    return 1;
  }
  printf("ok type=%s\n", cand.type);
  return 0;
}

int main(int argc, char **argv)
{
  static char input[INPUT_MAX + 1];
  size_t len;

  if (argc != 2
      || (strcmp(argv[1], "sdp") && strcmp(argv[1], "candidate"))) {
    fprintf(stderr, "usage: spec_sdp_check sdp|candidate < text\n");
    return 2;
  }
  len = fread(input, 1, sizeof input, stdin);
  if (ferror(stdin) || len > INPUT_MAX) {
    fprintf(stderr, "spec_sdp_check: input unreadable or past %d octets\n",
            INPUT_MAX);
    return 2;
  }
  if (!strcmp(argv[1], "sdp"))
    return check_sdp(input, len);
  return check_candidate(input, len);
}
