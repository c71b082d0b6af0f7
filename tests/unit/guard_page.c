/* The guard page of the parser tests (guard_page.h): PARLEY_GUARD_SPAN
 * readable octets mapped right before one PROT_NONE page. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "guard_page.h"

static char *guard_map; /* the span, then a PROT_NONE page */
static size_t guard_map_len;

void parley_guard_setup(void)
{
  size_t page = (size_t)sysconf(_SC_PAGESIZE);

  cr_assert_eq(PARLEY_GUARD_SPAN % page, 0);
  guard_map_len = PARLEY_GUARD_SPAN + page;
  guard_map = mmap(NULL, guard_map_len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert_neq(guard_map, MAP_FAILED);
  cr_assert_eq(mprotect(guard_map + PARLEY_GUARD_SPAN, page, PROT_NONE),
               0);
}

void parley_guard_teardown(void)
{
  munmap(guard_map, guard_map_len);
}

char *parley_guard_place(const void *data, size_t len)
{
  cr_assert_leq(len, PARLEY_GUARD_SPAN);
  char *dst = guard_map + PARLEY_GUARD_SPAN - len;
  if (len > 0)
    memcpy(dst, data, len);
  return dst;
}

void parley_guard_scribble(size_t len)
{
  memset(guard_map + PARLEY_GUARD_SPAN - len, 0xAA, len);
}
