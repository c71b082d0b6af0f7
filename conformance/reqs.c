/* parley-conform: looking up the spec's requirements that the reports
 * quote (the table is spec_reqs.c, generated from the spec by
 * tests/spec/reqtable.py). */
#include <string.h>

#include "tool.h"

const pc_req *pc_req_find(const char *id, size_t len)
{
  size_t i;

  for (i = 0; i < pc_req_count; i++)
    if (strlen(pc_reqs[i].id) == len && memcmp(pc_reqs[i].id, id, len) == 0)
      return &pc_reqs[i];
  return NULL;
}

void pc_reqs_each(const char *reqs,
                  void (*fn)(void *ud, const char *id, size_t len,
                             const pc_req *r), void *ud)
{
  const char *p = reqs, *end;

  while (p && *p) {
    p += strspn(p, " ");
    end = p + strcspn(p, " ");
    if (end > p)
      fn(ud, p, (size_t)(end - p), pc_req_find(p, (size_t)(end - p)));
    p = end;
  }
}
