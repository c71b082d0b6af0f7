/* The command-line loop of the Parley programs (flags.h).
 *
 * getopt_long runs with its own messages off (opterr 0) and ":" first in
 * the short set, so a missing value comes back as ':' and an unknown flag
 * as '?', and the message names the flag as the user wrote it. */
#include <stdio.h>

#include "flags.h"

int parley_flag_bad(const char *prog, const char *flag, const char *why)
{
  fprintf(stderr, "%s: %s: %s\ntry %s --help\n", prog, flag, why, prog);
  return 2;
}

int parley_flags_read(int argc, char **argv, const struct option *longs,
                      const char *prog, const char *usage,
                      parley_flag_fn *apply, void *ctx)
{
  int opt, idx, rc;
  char flag[64];

  opterr = 0;
  while ((idx = -1, opt = getopt_long(argc, argv, ":h", longs, &idx)) != -1) {
    /* The flag's own name: argv[optind - 1] may be its value. */
    snprintf(flag, sizeof flag, "%s%s", idx >= 0 ? "--" : "",
             idx >= 0 ? longs[idx].name : argv[optind - 1]);
    if (opt == 'h') {
      fputs(usage, stdout);
      return 0;
    }
    if (opt == ':')
      return parley_flag_bad(prog, flag, "needs a value");
    if (opt == '?')
      return parley_flag_bad(prog, flag, "unknown flag");
    if ((rc = apply(ctx, opt, flag, optarg)) >= 0)
      return rc;
  }
  return -1;
}
