/* parley-conform: helpers for headers a server may leave out (pc.h,
 * "headers that may be missing").
 *
 * The suite runs against servers nobody here has seen, and a server that
 * leaves out a header the spec requires must fail the case that needs
 * it, never crash the runner. pc_hdr returns NULL for a missing header;
 * these helpers turn that NULL into a false comparison, a failed case
 * naming the header, or "(none)" in a message. */
#include <string.h>

#include "pc.h"

bool pc_hdr_is(const pc_frame *f, const char *name, const char *value)
{
  const char *v = pc_hdr(f, name);

  return v != NULL && value != NULL && strcmp(v, value) == 0;
}

const char *pc_hdr_need(pc_ctx *t, const pc_frame *f, const char *name)
{
  const char *v = pc_hdr(f, name);

  if (v == NULL)
    pc_fail(t, "%s without the header \"%s\", which the spec requires "
            "there", f->verb, name);
  return v;
}

const char *pc_hdr_show(const pc_frame *f, const char *name)
{
  return pc_show(pc_hdr(f, name));
}

const char *pc_show(const char *s)
{
  return s != NULL ? s : "(none)";
}
