/* The error registry's lookups, generated from PARLEY_ERROR_MAP. */
#include <string.h>

#include "parley/error.h"

const char *parley_err_reason(parley_err err)
{
  switch (err) {
#define PARLEY_ERR_REASON_(name, code, reason, fatal, msg)                    \
  case PARLEY_E_##name:                                                       \
    return reason;
    PARLEY_ERROR_MAP(PARLEY_ERR_REASON_)
#undef PARLEY_ERR_REASON_
  case PARLEY_OK:
    return "ok";
  }
  return NULL;
}

const char *parley_err_message(parley_err err)
{
  switch (err) {
#define PARLEY_ERR_MESSAGE_(name, code, reason, fatal, msg)                   \
  case PARLEY_E_##name:                                                       \
    return msg;
    PARLEY_ERROR_MAP(PARLEY_ERR_MESSAGE_)
#undef PARLEY_ERR_MESSAGE_
  case PARLEY_OK:
    return "no error";
  }
  return NULL;
}

bool parley_err_fatal(parley_err err)
{
  switch (err) {
#define PARLEY_ERR_FATAL_(name, code, reason, fatal, msg)                     \
  case PARLEY_E_##name:                                                       \
    return fatal;
    PARLEY_ERROR_MAP(PARLEY_ERR_FATAL_)
#undef PARLEY_ERR_FATAL_
  case PARLEY_OK:
    return false;
  }
  return false;
}

parley_err parley_err_from_reason(const char *reason)
{
#define PARLEY_ERR_FROM_(name, code, r, fatal, msg)                           \
  if (strcmp(reason, r) == 0)                                                 \
    return PARLEY_E_##name;
  PARLEY_ERROR_MAP(PARLEY_ERR_FROM_)
#undef PARLEY_ERR_FROM_
  return PARLEY_OK;
}
