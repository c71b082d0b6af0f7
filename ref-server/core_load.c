/* Start-up of the server core from the store (core_load.h): store_load
 * walks the database and these callbacks hand each item to the core's
 * parley_server_load_* calls. It holds no state of its own, and it is
 * built apart from store.c so that a program picks the core it links
 * (the normal one or the test build with planted faults). */
#include "core_load.h"

static int load_conv(void *ctx, const parley_conv_info *c)
{
  return parley_server_load_conv(ctx, c) == PARLEY_OK ? 0 : 1;
}

static int load_receipt(void *ctx, const parley_receipt *r)
{
  return parley_server_load_receipt(ctx, r) == PARLEY_OK ? 0 : 1;
}

static int load_sent(void *ctx, const parley_msg *m)
{
  return parley_server_load_sent(ctx, m) == PARLEY_OK ? 0 : 1;
}

static void load_pos(void *ctx, uint64_t last_pos)
{
  parley_server_load_pos(ctx, last_pos);
}

int core_load(store *st, parley_server *core, uint64_t since_ms)
{
  store_loader ld = {0};

  ld.ctx = core;
  ld.conv = load_conv;
  ld.receipt = load_receipt;
  ld.sent = load_sent;
  ld.pos = load_pos;
  return store_load(st, &ld, since_ms);
}
