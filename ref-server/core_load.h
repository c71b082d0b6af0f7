/* Start-up of the server core from the store: what the reference server
 * does once it opened the database, and what the simulator does each
 * time it restarts a crashed server. */
#ifndef PARLEY_SERVER_CORE_LOAD_H
#define PARLEY_SERVER_CORE_LOAD_H

#include <stdint.h>

#include "parley/server.h"
#include "store.h"

/* Feeds a new core (before any event) everything the store holds:
 * every conversation, every kept receipt, the messages sent at or after
 * since_ms (the temp-ids still inside the dedup window) and the last
 * pos. Returns 0, -1 on a store error, or 1 when the core refused an
 * item. */
int core_load(store *st, parley_server *core, uint64_t since_ms);

#endif
