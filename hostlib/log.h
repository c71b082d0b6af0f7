/* The leveled logger every Parley program uses (server, client): one line
 * per call on standard error, as text or as JSON, with the connection id
 * when the line has one. Safe to call from any thread. Callers never pass
 * tokens or passwords. */
#ifndef PARLEY_HOST_LOG_H
#define PARLEY_HOST_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "parley/server.h"

/* Sets the lowest level written and the output form. */
void plog_setup(parley_log_level min_level, bool json);

/* True when a line at `level` would be written. */
bool plog_enabled(parley_log_level level);

/* Parses "debug", "info", "warn" or "error". Returns false otherwise. */
bool plog_level_parse(const char *name, parley_log_level *out);

/* Writes one line. `conn` 0 means the line belongs to no connection.
 * Control characters in the text are escaped, so one call is one line. */
void plog(parley_log_level level, uint64_t conn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define plog_debug(conn, ...) plog(PARLEY_LOG_DEBUG, (conn), __VA_ARGS__)
#define plog_info(conn, ...) plog(PARLEY_LOG_INFO, (conn), __VA_ARGS__)
#define plog_warn(conn, ...) plog(PARLEY_LOG_WARN, (conn), __VA_ARGS__)
#define plog_error(conn, ...) plog(PARLEY_LOG_ERROR, (conn), __VA_ARGS__)

#endif
