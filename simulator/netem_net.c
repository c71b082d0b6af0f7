/* Addresses, sockets and a growable text buffer for parley-netem.
 *
 * Addresses are numeric only (no name lookups): HOST:PORT for IPv4 and
 * [HOST]:PORT for IPv6. Sockets are non-blocking and close on exec. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netem.h"

#define BIG_BUFFER_BYTES (8 * 1024 * 1024)

void netem_buf_printf(netem_buf *b, const char *fmt, ...)
{
  va_list ap;
  int n;

  if (b->failed)
    return;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if (b->len + (size_t)n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    char *p;

    while (cap < b->len + (size_t)n + 1)
      cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL) {
      b->failed = true;
      return;
    }
    b->data = p;
    b->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void netem_buf_free(netem_buf *b)
{
  free(b->data);
  memset(b, 0, sizeof *b);
}

/* Splits HOST:PORT or [HOST]:PORT into host and port text. */
static int split_host_port(const char *text, char *host, size_t host_cap,
                           const char **port)
{
  const char *colon;
  size_t n;

  if (text[0] == '[') {
    const char *close = strchr(text, ']');

    if (close == NULL || close[1] != ':')
      return -1;
    n = (size_t)(close - text - 1);
    if (n >= host_cap)
      return -1;
    memcpy(host, text + 1, n);
    *port = close + 2;
  } else {
    colon = strrchr(text, ':');
    if (colon == NULL || strchr(text, ':') != colon)
      return -1;
    n = (size_t)(colon - text);
    if (n >= host_cap)
      return -1;
    memcpy(host, text, n);
    *port = colon + 1;
  }
  host[n] = '\0';
  return 0;
}

int netem_addr_parse(const char *text, netem_addr *out, char *err,
                     size_t err_len)
{
  char host[INET6_ADDRSTRLEN + 1];
  const char *port_text;
  uint64_t port;

  memset(out, 0, sizeof *out);
  if (split_host_port(text, host, sizeof host, &port_text) != 0 ||
      netem_parse_u64(port_text, &port) != 0 || port > 65535) {
    snprintf(err, err_len, "\"%s\" is not HOST:PORT (e.g. 127.0.0.1:9000,"
             " [::1]:9000)", text);
    return -1;
  }
  struct sockaddr_in *v4 = (struct sockaddr_in *)&out->sa;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->sa;

  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    out->len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    out->len = sizeof *v6;
  } else {
    snprintf(err, err_len, "\"%s\" is not a numeric IPv4 or IPv6 address",
             host);
    return -1;
  }
  return 0;
}

bool netem_addr_is_loopback(const netem_addr *a)
{
  if (a->sa.ss_family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->sa;

    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (a->sa.ss_family == AF_INET6) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->sa;

    return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
  }
  return false;
}

bool netem_addr_equal(const netem_addr *a, const netem_addr *b)
{
  if (a->sa.ss_family != b->sa.ss_family)
    return false;
  if (a->sa.ss_family == AF_INET) {
    const struct sockaddr_in *x = (const struct sockaddr_in *)&a->sa;
    const struct sockaddr_in *y = (const struct sockaddr_in *)&b->sa;

    return x->sin_port == y->sin_port &&
           x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->sa;
  const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->sa;

  return x->sin6_port == y->sin6_port &&
         memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

void netem_addr_format(const netem_addr *a, char *out, size_t cap)
{
  char host[INET6_ADDRSTRLEN];

  if (a->sa.ss_family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->sa;

    inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    snprintf(out, cap, "%s:%u", host, ntohs(v4->sin_port));
  } else if (a->sa.ss_family == AF_INET6) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->sa;

    inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    snprintf(out, cap, "[%s]:%u", host, ntohs(v6->sin6_port));
  } else {
    snprintf(out, cap, "?");
  }
}

int netem_addr_local(int fd, netem_addr *out)
{
  memset(out, 0, sizeof *out);
  out->len = sizeof out->sa;
  return getsockname(fd, (struct sockaddr *)&out->sa, &out->len);
}

int netem_socket_bind(const netem_addr *a, int type, bool listen_too)
{
  int one = 1, saved;
  int fd = socket(a->sa.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

  if (fd < 0)
    return -1;
  if (a->sa.ss_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (type == SOCK_STREAM)
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (const struct sockaddr *)&a->sa, a->len) != 0)
    goto fail_close;
  if (listen_too && listen(fd, 128) != 0)
    goto fail_close;
  return fd;

fail_close:
  saved = errno;
  close(fd);
  errno = saved;
  return -1;
}

void netem_socket_big_buffers(int fd)
{
  int size = BIG_BUFFER_BYTES;

  /* SO_*BUFFORCE passes the system limit when the process may; the
   * plain options are the fallback, capped by the system. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}
