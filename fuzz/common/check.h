/* check(): the harnesses' oracle. A failed check names itself on
 * standard error and aborts, which every fuzzer and the replay driver
 * count as a crash. */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define check(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,  \
              #cond);                                                   \
      abort();                                                          \
    }                                                                   \
  } while (0)

#endif
