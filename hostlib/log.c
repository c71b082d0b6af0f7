/* The leveled logger of the Parley programs.
 *
 * Every line is built whole in a local buffer and written with one call,
 * so lines from several threads (the server's lws service thread and its
 * store threads) never mix.
 * Text lines read `TIME LEVEL conn=ID text`; JSON lines are objects with
 * "ts", "level", "conn" (when there is one) and "msg". Bytes that could
 * break a line (control characters, invalid UTF-8) are escaped as \xNN
 * in both forms, so a peer cannot forge log lines. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_TEXT_MAX 1536
#define LOG_LINE_MAX 4096

static parley_log_level log_min = PARLEY_LOG_INFO;
static bool log_json = false;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void plog_setup(parley_log_level min_level, bool json)
{
  log_min = min_level;
  log_json = json;
}

bool plog_enabled(parley_log_level level)
{
  return level >= log_min;
}

bool plog_level_parse(const char *name, parley_log_level *out)
{
  for (int i = 0; i < 4; i++) {
    if (strcmp(name, level_names[i]) == 0) {
      *out = (parley_log_level)i;
      return true;
    }
  }
  return false;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629), or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
  unsigned char c = s[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;

  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4;
  else
    return 0;
  if (n > avail)
    return 0;
  if (c == 0xE0)
    lo = 0xA0;
  else if (c == 0xED)
    hi = 0x9F;
  else if (c == 0xF0)
    lo = 0x90;
  else if (c == 0xF4)
    hi = 0x8F;
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xBF)
      return 0;
  return n;
}

/* Appends `text` to out (at *len, capacity cap) escaped for one line;
 * for JSON also escapes quote and backslash. Truncates when full. */
static void put_escaped(char *out, size_t *len, size_t cap, const char *text)
{
  const unsigned char *s = (const unsigned char *)text;
  size_t n = strlen(text);

  for (size_t i = 0; i < n && *len + 8 < cap;) {
    size_t seq = s[i] >= 0x80 ? utf8_seq_len(s + i, n - i) : 1;
    if (s[i] >= 0x80 && seq > 0) {
      memcpy(out + *len, s + i, seq);
      *len += seq;
      i += seq;
      continue;
    }
    if (s[i] < 0x20 || s[i] == 0x7F || s[i] >= 0x80)
      *len += (size_t)snprintf(out + *len, cap - *len, "%s%02X",
                               log_json ? "\\\\x" : "\\x", s[i]);
    else if (log_json && (s[i] == '"' || s[i] == '\\'))
      *len += (size_t)snprintf(out + *len, cap - *len, "\\%c", s[i]);
    else
      out[(*len)++] = (char)s[i];
    i++;
  }
}

/* Writes the current UTC time as 2024-01-02T03:04:05.678Z into buf. */
static void format_time(char *buf, size_t size)
{
  struct timespec ts;
  struct tm tm;
  char base[32];

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, size, "%s.%03ldZ", base, ts.tv_nsec / 1000000L);
}

void plog(parley_log_level level, uint64_t conn, const char *fmt, ...)
{
  char text[LOG_TEXT_MAX], line[LOG_LINE_MAX], when[48];
  size_t len;
  va_list ap;

  if (level < log_min || level > PARLEY_LOG_ERROR)
    return;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  format_time(when, sizeof when);

  if (log_json) {
    len = (size_t)snprintf(line, sizeof line,
                           "{\"ts\":\"%s\",\"level\":\"%s\",", when,
                           level_names[level]);
    if (conn)
      len += (size_t)snprintf(line + len, sizeof line - len,
                              "\"conn\":%llu,", (unsigned long long)conn);
    len += (size_t)snprintf(line + len, sizeof line - len, "\"msg\":\"");
    put_escaped(line, &len, sizeof line - 3, text);
    memcpy(line + len, "\"}\n", 3);
    len += 3;
  } else {
    len = (size_t)snprintf(line, sizeof line, "%s %-5s ", when,
                           level_names[level]);
    if (conn)
      len += (size_t)snprintf(line + len, sizeof line - len, "conn=%llu ",
                              (unsigned long long)conn);
    put_escaped(line, &len, sizeof line - 1, text);
    line[len++] = '\n';
  }
  /* One write per line keeps lines whole across threads. */
  if (write(STDERR_FILENO, line, len) < 0)
    return;
}
