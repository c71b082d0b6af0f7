/* The AFL++ persistent-mode driver: the same LLVMFuzzerTestOneInput the
 * libFuzzer build uses, called in a loop inside one process with the
 * input in AFL's shared memory (no file, no fork per input). Built only
 * with afl-clang-fast, which defines the __AFL_* macros. Run outside
 * afl-fuzz (afl-tmin, afl-cmin, by hand) it reads one input from
 * standard input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__AFL_FUZZ_INIT();

/* Copies the shared-memory input into a heap block of its exact size,
 * so the sanitizers see a read past the input's end. */
static void run_one(const uint8_t *data, size_t len)
{
  uint8_t *copy = malloc(len ? len : 1);

  if (!copy)
    abort();
  memcpy(copy, data, len);
  LLVMFuzzerTestOneInput(copy, len);
  free(copy);
}

int main(int argc, char **argv)
{
  (void)argc;
  (void)argv;
#ifdef __AFL_HAVE_MANUAL_CONTROL
  __AFL_INIT();
#endif
  const uint8_t *buf = __AFL_FUZZ_TESTCASE_BUF;

  while (__AFL_LOOP(100000)) {
    size_t len = (size_t)__AFL_FUZZ_TESTCASE_LEN;
    run_one(buf, len);
  }
  return 0;
}
