/* The command-line reading the Parley programs share (server, simulator):
 * long flags through getopt_long, -h and --help print the usage, and a
 * bad flag is named on standard error with exit code 2. */
#ifndef PARLEY_HOST_FLAGS_H
#define PARLEY_HOST_FLAGS_H

#include <getopt.h>

/* Applies one flag: opt is its getopt_long value, flag its name as
 * written ("--db"), value its argument or NULL. Returns -1 to go on, or
 * the exit code to end with. */
typedef int parley_flag_fn(void *ctx, int opt, const char *flag,
                           const char *value);

/* Writes "PROG: FLAG: WHY" and "try PROG --help" on standard error.
 * Returns 2, the exit code for bad flags. */
int parley_flag_bad(const char *prog, const char *flag, const char *why);

/* Reads the flags of argv by `longs` (whose only short flag is -h): -h
 * and --help print `usage` on standard output, a missing value or an
 * unknown flag is reported through parley_flag_bad, every other flag goes
 * to apply. Returns -1 when all flags are read (optind then indexes the
 * first operand), 0 after the usage, 2 for a bad flag, or the exit code
 * apply returned. */
int parley_flags_read(int argc, char **argv, const struct option *longs,
                      const char *prog, const char *usage,
                      parley_flag_fn *apply, void *ctx);

#endif
