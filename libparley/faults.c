/* The names of the planted faults (parley/faults.h). Compiled only into
 * the test builds: parley_server_core_faults and parley-server-faults. */
#include <stddef.h>
#include <string.h>

#include "parley/faults.h"

static const struct {
  const char *name;
  const char *what;
} faults[PARLEY_FAULT_COUNT] = {
    [PARLEY_FAULT_NONE] = {NULL, NULL},
#define PARLEY_FAULT_ROW_(id, n, w) [PARLEY_FAULT_##id] = {n, w},
    PARLEY_FAULT_LIST(PARLEY_FAULT_ROW_)
#undef PARLEY_FAULT_ROW_
};

parley_fault parley_fault_by_name(const char *name)
{
  if (name == NULL)
    return PARLEY_FAULT_NONE;
  for (int f = PARLEY_FAULT_NONE + 1; f < PARLEY_FAULT_COUNT; f++)
    if (strcmp(faults[f].name, name) == 0)
      return (parley_fault)f;
  return PARLEY_FAULT_NONE;
}

const char *parley_fault_name(parley_fault f)
{
  return (f > PARLEY_FAULT_NONE && f < PARLEY_FAULT_COUNT) ? faults[f].name
                                                          : NULL;
}

const char *parley_fault_what(parley_fault f)
{
  return (f > PARLEY_FAULT_NONE && f < PARLEY_FAULT_COUNT) ? faults[f].what
                                                          : NULL;
}
