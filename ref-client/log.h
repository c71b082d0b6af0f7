/* The reference client's leveled logger: one line per call on standard
 * error, `parley-client: LEVEL: text`, with control characters escaped so
 * that text from the server cannot forge lines. Callers never pass tokens
 * or passwords. */
#ifndef PARLEY_CLIENT_LOG_H
#define PARLEY_CLIENT_LOG_H

#include <stdbool.h>

#include "parley/server.h" /* parley_log_level */

void cli_log_setup(parley_log_level min_level);
bool cli_log_level_parse(const char *name, parley_log_level *out);
void cli_log(parley_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define cli_log_debug(...) cli_log(PARLEY_LOG_DEBUG, __VA_ARGS__)
#define cli_log_info(...) cli_log(PARLEY_LOG_INFO, __VA_ARGS__)
#define cli_log_warn(...) cli_log(PARLEY_LOG_WARN, __VA_ARGS__)
#define cli_log_error(...) cli_log(PARLEY_LOG_ERROR, __VA_ARGS__)

#endif
