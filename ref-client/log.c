/* Leveled logger of the reference client. Each line is formatted whole,
 * escaped, and written with one write(2), so it is never interleaved with
 * the program's output on a shared terminal. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LOG_TEXT_MAX 1024

static parley_log_level log_min = PARLEY_LOG_WARN;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void cli_log_setup(parley_log_level min_level)
{
  log_min = min_level;
}

bool cli_log_level_parse(const char *name, parley_log_level *out)
{
  int i;

  for (i = 0; i < 4; i++) {
    if (strcmp(name, level_names[i]) == 0) {
      *out = (parley_log_level)i;
      return true;
    }
  }
  return false;
}

void cli_log(parley_log_level level, const char *fmt, ...)
{
  char text[LOG_TEXT_MAX], line[LOG_TEXT_MAX * 4 + 64];
  size_t n, i;
  va_list ap;
  ssize_t wr;

  if (level < log_min || (int)level > 3)
    return;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  n = (size_t)snprintf(line, sizeof line, "parley-client: %s: ",
                       level_names[level]);
  for (i = 0; text[i] != '\0' && n + 5 < sizeof line; i++) {
    unsigned char ch = (unsigned char)text[i];
    if (ch < 0x20 || ch == 0x7f)
      n += (size_t)snprintf(line + n, sizeof line - n, "\\x%02x", ch);
    else
      line[n++] = (char)ch;
  }
  line[n++] = '\n';
  wr = write(STDERR_FILENO, line, n);
  (void)wr;
}
