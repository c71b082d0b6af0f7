/* parley-conform wire layer: connections, HTTP/1.1 and WebSocket.
 *
 * Design: every socket is non-blocking; each call turns its timeout into a
 * deadline on the monotonic clock and polls until then, so no wait is
 * unbounded. A connection owns one read buffer (`in`, octets from `in_off`
 * to `in_len` not consumed yet); the HTTP reader and the WebSocket reader
 * both parse out of it and consume exactly what they used, so octets that
 * follow an upgrade answer stay for the WebSocket reader.
 *
 * The WebSocket reader (RFC 6455 section 5) is a loop over whole frames
 * in the buffer: it waits until a frame's header and payload are buffered
 * (payloads are capped, so the buffer is too), checks it, and appends data
 * frames to the message being reassembled (`msg`), which lives in the
 * connection so a timeout loses nothing. Control frames are returned one
 * by one; a ping is answered first.
 *
 * TLS is OpenSSL over the same non-blocking socket. OpenSSL writes with
 * write(2), which raises SIGPIPE on a closed peer; every TLS call runs
 * with SIGPIPE blocked in the calling thread and a SIGPIPE it raised is
 * taken back before the mask is restored. Plain writes use MSG_NOSIGNAL. */
#define _GNU_SOURCE
#include "wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define READ_CHUNK 65536

struct pw_conn {
  int fd;               /* -1 after pw_drop */
  SSL *ssl;
  bool eof;             /* the peer ended the stream */
  bool got_close;       /* a WebSocket close frame came */
  bool wrote_shutdown;
  pw_role role;
  uint8_t *in;          /* read buffer */
  size_t in_off, in_len, in_cap;
  uint8_t *msg;         /* the WebSocket message being reassembled */
  size_t msg_len, msg_cap;
  int msg_opcode;       /* 0: no message in progress */
  size_t msg_frags;     /* frames of the message being reassembled */
};

struct pw_listener {
  int fd;
  uint16_t port;
};

/* ---- small helpers ------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;

  if (!err || !errlen)
    return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

uint64_t pw_mono_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Set once by pw_cancel_all: every wait ends as if its time were up. */
static atomic_bool g_cancelled;

void pw_cancel_all(void) { atomic_store(&g_cancelled, true); }
bool pw_cancelled(void) { return atomic_load(&g_cancelled); }

/* Milliseconds left until `deadline`, as a poll timeout (0 when past or
 * after pw_cancel_all). */
static int ms_left(uint64_t deadline) {
  uint64_t now = pw_mono_ms();

  if (now >= deadline || pw_cancelled())
    return 0;
  if (deadline - now > 1000000)
    return 1000000;
  return (int)(deadline - now);
}

/* Waits for `events` on fd until the deadline: 1 ready, 0 timeout,
 * -1 error (errno set). */
static int wait_fd(int fd, short events, uint64_t deadline) {
  struct pollfd p = {.fd = fd, .events = events};
  int rc;

  uint64_t now;
  int left;

  /* in slices, so that pw_cancel_all ends the wait promptly; a cancelled
   * wait still polls a few ms, so that loops around it do not spin */
  for (;;) {
    now = pw_mono_ms();
    left = now >= deadline ? 0 : deadline - now > 100 ? 100
                                                      : (int)(deadline - now);
    if (pw_cancelled() && left > 5)
      left = 5;
    rc = poll(&p, 1, left);
    if (rc > 0)
      return 1;
    if (rc < 0 && errno != EINTR)
      return rc;
    if (ms_left(deadline) == 0)
      return 0;
  }
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static SSL_CTX *g_tls_verify;
static SSL_CTX *g_tls_insecure;

/* One-time setup: libsodium (random keys) and the two TLS contexts. */
static void global_init(void) {
  if (sodium_init() < 0)
    abort();
  g_tls_verify = SSL_CTX_new(TLS_client_method());
  g_tls_insecure = SSL_CTX_new(TLS_client_method());
  if (!g_tls_verify || !g_tls_insecure)
    return;
  SSL_CTX_set_default_verify_paths(g_tls_verify);
  SSL_CTX_set_verify(g_tls_verify, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_verify(g_tls_insecure, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_mode(g_tls_verify, SSL_MODE_ENABLE_PARTIAL_WRITE |
                   SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_mode(g_tls_insecure, SSL_MODE_ENABLE_PARTIAL_WRITE |
                   SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

static void wire_init(void) { pthread_once(&g_once, global_init); }

/* SIGPIPE held back in this thread around a TLS call. */
typedef struct nosig {
  sigset_t old;
  bool was_pending;
} nosig;

static void nosig_begin(nosig *s) {
  sigset_t pipe, pending;

  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  sigpending(&pending);
  s->was_pending = sigismember(&pending, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, &s->old);
}

static void nosig_end(nosig *s) {
  sigset_t pipe, pending;
  struct timespec zero = {0, 0};

  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  sigpending(&pending);
  if (!s->was_pending && sigismember(&pending, SIGPIPE))
    while (sigtimedwait(&pipe, NULL, &zero) < 0 && errno == EINTR) {
    }
  pthread_sigmask(SIG_SETMASK, &s->old, NULL);
}

static void tls_err(char *err, size_t errlen, const char *what) {
  char buf[256];
  unsigned long e = ERR_get_error();

  if (e) {
    ERR_error_string_n(e, buf, sizeof buf);
    set_err(err, errlen, "%s: %s", what, buf);
  } else {
    set_err(err, errlen, "%s: %s", what, errno ? strerror(errno) : "failed");
  }
  ERR_clear_error();
}

/* ---- connections --------------------------------------------------- */

static pw_conn *conn_new(int fd) {
  pw_conn *c = calloc(1, sizeof *c);

  if (!c)
    return NULL;
  c->in = malloc(READ_CHUNK);
  if (!c->in) {
    free(c);
    return NULL;
  }
  c->in_cap = READ_CHUNK;
  c->fd = fd;
  return c;
}

pw_conn *pw_from_fd(int fd) {
  int fl = fcntl(fd, F_GETFL);
  pw_conn *c;

  if (fl >= 0)
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  c = conn_new(fd);
  if (!c)
    close(fd);
  return c;
}

/* Connects one address; returns the socket or -1 with err filled. */
static int connect_addr(const struct addrinfo *ai, uint64_t deadline,
                        char *err, size_t errlen) {
  int fd, rc, soerr = 0, one = 1;
  socklen_t sl = sizeof soerr;

  fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
              ai->ai_protocol);
  if (fd < 0) {
    set_err(err, errlen, "socket: %s", strerror(errno));
    return -1;
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
  if (rc < 0 && errno == EINPROGRESS) {
    rc = wait_fd(fd, POLLOUT, deadline);
    if (rc == 0) {
      set_err(err, errlen, "connect: timed out");
      goto close_fd;
    }
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    rc = soerr ? -1 : 0;
    errno = soerr;
  }
  if (rc < 0) {
    set_err(err, errlen, "connect: %s", strerror(errno));
    goto close_fd;
  }
  return fd;

close_fd:
  close(fd);
  return -1;
}

/* Runs the TLS client handshake on c. Returns 0, or -1 with err. */
static int tls_start(pw_conn *c, const char *host, bool insecure,
                     uint64_t deadline, char *err, size_t errlen) {
  struct in6_addr a6;
  nosig ns;
  int rc, e;

  c->ssl = SSL_new(insecure ? g_tls_insecure : g_tls_verify);
  if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
    tls_err(err, errlen, "TLS setup");
    return -1;
  }
  if (inet_pton(AF_INET, host, &a6) != 1 &&
      inet_pton(AF_INET6, host, &a6) != 1)
    SSL_set_tlsext_host_name(c->ssl, host);
  if (!insecure && !SSL_set1_host(c->ssl, host)) {
    tls_err(err, errlen, "TLS host check");
    return -1;
  }
  for (;;) {
    nosig_begin(&ns);
    rc = SSL_connect(c->ssl);
    e = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, rc);
    nosig_end(&ns);
    if (rc == 1)
      return 0;
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
      break;
    if (wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                deadline) <= 0) {
      set_err(err, errlen, "TLS handshake: timed out");
      return -1;
    }
  }
  if (SSL_get_verify_result(c->ssl) != X509_V_OK) {
    set_err(err, errlen, "TLS certificate: %s",
            X509_verify_cert_error_string(
                SSL_get_verify_result(c->ssl)));
    ERR_clear_error();
    return -1;
  }
  tls_err(err, errlen, "TLS handshake");
  return -1;
}

pw_conn *pw_connect(const char *host, uint16_t port, bool tls,
                    bool insecure, unsigned timeout_ms, char *err,
                    size_t errlen) {
  struct addrinfo hints = {0}, *res = NULL, *ai;
  uint64_t deadline = pw_mono_ms() + timeout_ms;
  char portstr[8];
  pw_conn *c;
  int fd = -1, rc;

  wire_init();
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
  rc = getaddrinfo(host, portstr, &hints, &res);
  if (rc != 0) {
    set_err(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
    return NULL;
  }
  for (ai = res; ai && fd < 0; ai = ai->ai_next)
    fd = connect_addr(ai, deadline, err, errlen);
  freeaddrinfo(res);
  if (fd < 0)
    return NULL;
  c = conn_new(fd);
  if (!c) {
    close(fd);
    set_err(err, errlen, "out of memory");
    return NULL;
  }
  if (tls && (!g_tls_verify || !g_tls_insecure ||
              tls_start(c, host, insecure, deadline, err, errlen) < 0)) {
    if (!g_tls_verify || !g_tls_insecure)
      set_err(err, errlen, "TLS: cannot make a context");
    pw_free(c);
    return NULL;
  }
  return c;
}

pw_listener *pw_listen(char *err, size_t errlen) {
  struct sockaddr_in sa = {0};
  socklen_t sl = sizeof sa;
  pw_listener *l;
  int fd, one = 1;

  wire_init();
  fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    set_err(err, errlen, "socket: %s", strerror(errno));
    return NULL;
  }
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
    set_err(err, errlen, "listen on 127.0.0.1: %s", strerror(errno));
    close(fd);
    return NULL;
  }
  l = calloc(1, sizeof *l);
  if (!l) {
    close(fd);
    return NULL;
  }
  l->fd = fd;
  l->port = ntohs(sa.sin_port);
  return l;
}

uint16_t pw_listener_port(const pw_listener *l) { return l->port; }

pw_status pw_accept(pw_listener *l, unsigned timeout_ms, pw_conn **out,
                    char *err, size_t errlen) {
  uint64_t deadline = pw_mono_ms() + timeout_ms;
  int fd, one = 1;

  *out = NULL;
  for (;;) {
    fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0)
      break;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
        errno != ECONNABORTED) {
      set_err(err, errlen, "accept: %s", strerror(errno));
      return PW_ERROR;
    }
    if (wait_fd(l->fd, POLLIN, deadline) <= 0 && ms_left(deadline) == 0)
      return PW_TIMEOUT;
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  *out = conn_new(fd);
  if (!*out) {
    close(fd);
    set_err(err, errlen, "out of memory");
    return PW_ERROR;
  }
  return PW_OK;
}

void pw_listener_free(pw_listener *l) {
  if (!l)
    return;
  close(l->fd);
  free(l);
}

int pw_fd(const pw_conn *c) { return c->fd; }
bool pw_is_tls(const pw_conn *c) { return c->ssl != NULL; }
size_t pw_buffered(const pw_conn *c) { return c->in_len - c->in_off; }

/* One write attempt: octets written (> 0), 0 to wait (*ev says for what),
 * or a negative pw_status. */
static ssize_t write_once(pw_conn *c, const void *data, size_t len,
                          short *ev) {
  ssize_t n;
  nosig ns;
  int e;

  *ev = POLLOUT;
  if (!c->ssl) {
    n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n >= 0)
      return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
      return 0;
    return errno == EPIPE || errno == ECONNRESET ? PW_CLOSED : PW_ERROR;
  }
  nosig_begin(&ns);
  n = SSL_write(c->ssl, data, len > INT32_MAX ? INT32_MAX : (int)len);
  e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, (int)n);
  nosig_end(&ns);
  if (n > 0)
    return n;
  ERR_clear_error();
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    *ev = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
    return 0;
  }
  return e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? PW_CLOSED
                                                              : PW_ERROR;
}

pw_status pw_write(pw_conn *c, const void *data, size_t len,
                   unsigned timeout_ms) {
  uint64_t deadline = pw_mono_ms() + timeout_ms;
  const uint8_t *p = data;
  ssize_t n;
  short ev;

  if (c->fd < 0 || c->wrote_shutdown)
    return PW_CLOSED;
  while (len > 0) {
    n = write_once(c, p, len, &ev);
    if (n < 0)
      return (pw_status)n;
    if (n == 0) {
      if (wait_fd(c->fd, ev, deadline) <= 0 && ms_left(deadline) == 0)
        return PW_TIMEOUT;
      continue;
    }
    p += n;
    len -= (size_t)n;
  }
  return PW_OK;
}

/* One read attempt into buf: octets read (> 0), 0 to wait (*ev), or a
 * negative pw_status (PW_CLOSED at the end of the stream). */
static ssize_t read_once(pw_conn *c, void *buf, size_t cap, short *ev) {
  ssize_t n;
  nosig ns;
  int e;

  *ev = POLLIN;
  if (!c->ssl) {
    n = recv(c->fd, buf, cap, 0);
    if (n > 0)
      return n;
    if (n == 0)
      return PW_CLOSED;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
      return 0;
    return errno == ECONNRESET ? PW_CLOSED : PW_ERROR;
  }
  nosig_begin(&ns);
  n = SSL_read(c->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
  e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, (int)n);
  nosig_end(&ns);
  if (n > 0)
    return n;
  ERR_clear_error();
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    *ev = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
    return 0;
  }
  return e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? PW_CLOSED
                                                              : PW_ERROR;
}

/* Reads from the socket into buf until something comes or the deadline.
 * Returns the count or a negative pw_status. */
static ssize_t sock_read(pw_conn *c, void *buf, size_t cap,
                         uint64_t deadline) {
  ssize_t n;
  short ev;

  if (c->fd < 0 || c->eof)
    return PW_CLOSED;
  for (;;) {
    n = read_once(c, buf, cap, &ev);
    if (n == PW_CLOSED)
      c->eof = true;
    if (n != 0)
      return n;
    if (wait_fd(c->fd, ev, deadline) <= 0 && ms_left(deadline) == 0)
      return PW_TIMEOUT;
  }
}

ssize_t pw_read(pw_conn *c, void *buf, size_t cap, unsigned timeout_ms) {
  size_t have = pw_buffered(c);

  if (cap == 0)
    return 0;
  if (have > 0) {
    if (have > cap)
      have = cap;
    memcpy(buf, c->in + c->in_off, have);
    c->in_off += have;
    return (ssize_t)have;
  }
  return sock_read(c, buf, cap, pw_mono_ms() + timeout_ms);
}

/* Makes room for at least `want` more octets in the read buffer (moving
 * what is unread to its start). Returns false when memory runs out. */
static bool in_reserve(pw_conn *c, size_t want) {
  size_t have = pw_buffered(c), cap;
  uint8_t *p;

  if (c->in_off > 0) {
    memmove(c->in, c->in + c->in_off, have);
    c->in_off = 0;
    c->in_len = have;
  }
  if (c->in_cap - c->in_len >= want)
    return true;
  cap = c->in_cap ? c->in_cap : READ_CHUNK;
  while (cap - c->in_len < want)
    cap *= 2;
  p = realloc(c->in, cap);
  if (!p)
    return false;
  c->in = p;
  c->in_cap = cap;
  return true;
}

/* Reads more octets into the buffer: PW_OK, or a negative pw_status. */
static pw_status fill(pw_conn *c, uint64_t deadline) {
  ssize_t n;

  if (!in_reserve(c, READ_CHUNK))
    return PW_ERROR;
  n = sock_read(c, c->in + c->in_len, c->in_cap - c->in_len, deadline);
  if (n < 0)
    return (pw_status)n;
  c->in_len += (size_t)n;
  return PW_OK;
}

void pw_shutdown_write(pw_conn *c) {
  nosig ns;

  if (c->fd < 0 || c->wrote_shutdown)
    return;
  c->wrote_shutdown = true;
  if (c->ssl) {
    nosig_begin(&ns);
    SSL_shutdown(c->ssl);
    nosig_end(&ns);
    ERR_clear_error();
  }
  shutdown(c->fd, SHUT_WR);
}

void pw_drop(pw_conn *c) {
  if (c->fd < 0)
    return;
  if (c->ssl) {
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  close(c->fd);
  c->fd = -1;
  c->eof = true;
}

void pw_free(pw_conn *c) {
  if (!c)
    return;
  pw_drop(c);
  free(c->in);
  free(c->msg);
  free(c);
}

/* ---- HTTP/1.1 ------------------------------------------------------ */

void pw_http_msg_free(pw_http_msg *m) {
  size_t i;

  if (!m)
    return;
  for (i = 0; i < m->field_count; i++) {
    free(m->names[i]);
    free(m->values[i]);
  }
  free(m->names);
  free(m->values);
  free(m->method);
  free(m->target);
  free(m->head);
  free(m->body);
  free(m->raw);
  memset(m, 0, sizeof *m);
}

const char *pw_http_field(const pw_http_msg *m, const char *name) {
  size_t i;

  for (i = 0; i < m->field_count; i++)
    if (strcasecmp(m->names[i], name) == 0)
      return m->values[i];
  return NULL;
}

/* True when the comma-separated list `list` holds `token` (case and
 * blanks ignored). */
static bool list_has(const char *list, const char *token) {
  size_t tl = strlen(token), n;
  const char *p = list;

  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    n = strcspn(p, ",");
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
      n--;
    if (n == tl && strncasecmp(p, token, tl) == 0)
      return true;
    p += strcspn(p, ",");
  }
  return false;
}

bool pw_http_has_token(const pw_http_msg *m, const char *name,
                       const char *token) {
  size_t i;

  for (i = 0; i < m->field_count; i++)
    if (strcasecmp(m->names[i], name) == 0 && list_has(m->values[i], token))
      return true;
  return false;
}

static char *dup_n(const char *s, size_t n) {
  char *p = malloc(n + 1);

  if (!p)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

/* The end of the head in data[0..len): the offset just past the blank
 * line (CRLF CRLF, or LF LF), or 0 when it is not there yet. */
static size_t head_end(const char *data, size_t len) {
  size_t i;

  for (i = 0; i + 1 < len; i++) {
    if (data[i] != '\n')
      continue;
    if (data[i + 1] == '\n')
      return i + 2;
    if (data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n')
      return i + 3;
  }
  return 0;
}

/* Writes the first octets of s[0..len) to out[0..n) with every octet
 * that is not printable ASCII as \xNN, so that a message can quote what
 * a peer sent (binary, NULs, escape sequences) safely. */
static void quote_octets(char *out, size_t n, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t i, o = 0;
  unsigned char ch;

  for (i = 0; i < len && o + 8 < n; i++) {
    ch = (unsigned char)s[i];
    if (ch >= 0x20 && ch < 0x7f) {
      out[o++] = (char)ch;
      continue;
    }
    out[o++] = '\\';
    out[o++] = 'x';
    out[o++] = hex[ch >> 4];
    out[o++] = hex[ch & 15];
  }
  if (i < len && o + 4 < n)
    memcpy(out + o, "...", 3), o += 3;
  out[n ? o : 0] = '\0';
}

/* Adds one "Name: value" line to m. Returns PW_OK or PW_PROTOCOL. */
static pw_status add_field(pw_http_msg *m, const char *line, size_t n,
                           char *err, size_t errlen) {
  const char *colon = memchr(line, ':', n);
  size_t nl, vs, ve;
  char **nn, **vv;

  if (m->field_count >= PW_FIELDS_MAX) {
    set_err(err, errlen, "HTTP head with more than %u fields",
            PW_FIELDS_MAX);
    return PW_TOO_BIG;
  }
  if (!colon || colon == line || line[0] == ' ' || line[0] == '\t') {
    char q[200];

    quote_octets(q, sizeof q, line, n > 80 ? 80 : n);
    set_err(err, errlen, "HTTP field line without a name: \"%s\"", q);
    return PW_PROTOCOL;
  }
  nl = (size_t)(colon - line);
  vs = nl + 1;
  ve = n;
  while (vs < ve && (line[vs] == ' ' || line[vs] == '\t'))
    vs++;
  while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t'))
    ve--;
  nn = realloc(m->names, (m->field_count + 1) * sizeof *nn);
  if (nn)
    m->names = nn;
  vv = realloc(m->values, (m->field_count + 1) * sizeof *vv);
  if (vv)
    m->values = vv;
  if (!nn || !vv)
    return PW_ERROR;
  m->names[m->field_count] = dup_n(line, nl);
  m->values[m->field_count] = dup_n(line + vs, ve - vs);
  m->field_count++;
  return PW_OK;
}

/* Parses the start line of an answer (status) or a request (method,
 * target). Returns PW_OK or PW_PROTOCOL. */
static pw_status parse_start(pw_http_msg *m, const char *line, size_t n,
                             bool request, char *err, size_t errlen) {
  const char *sp1, *sp2;
  int status = 0;
  size_t i;

  sp1 = memchr(line, ' ', n);
  if (!request) {
    if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || !sp1 ||
        sp1 - line != 8)
      goto bad;
    for (i = 9; i < 12; i++) {
      if (line[i] < '0' || line[i] > '9')
        goto bad;
      status = status * 10 + (line[i] - '0');
    }
    if (n > 12 && line[12] != ' ')
      goto bad;
    m->status = status;
    return PW_OK;
  }
  sp2 = sp1 ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - line)) : NULL;
  if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 ||
      n - (size_t)(sp2 + 1 - line) < 8 || memcmp(sp2 + 1, "HTTP/1.", 7))
    goto bad;
  m->method = dup_n(line, (size_t)(sp1 - line));
  m->target = dup_n(sp1 + 1, (size_t)(sp2 - sp1 - 1));
  return PW_OK;

bad: {
  char q[200];

  quote_octets(q, sizeof q, line, n > 80 ? 80 : n);
  set_err(err, errlen, "bad HTTP %s line (%zu octets): \"%s\"",
          request ? "request" : "status", n, q);
  return PW_PROTOCOL;
}
}

/* Parses the head data[0..end) into m (start line and fields). */
static pw_status parse_head(pw_http_msg *m, const char *data, size_t end,
                            bool request, char *err, size_t errlen) {
  size_t pos = 0, n, next;
  const char *nl;
  pw_status st;

  m->head = dup_n(data, end);
  m->head_len = end;
  while (pos < end) {
    nl = memchr(data + pos, '\n', end - pos);
    next = (size_t)(nl - data) + 1;
    n = (size_t)(nl - (data + pos));
    if (n > 0 && data[pos + n - 1] == '\r')
      n--;
    if (n == 0)
      break;
    st = pos == 0 ? parse_start(m, data, n, request, err, errlen)
                  : add_field(m, data + pos, n, err, errlen);
    if (st != PW_OK)
      return st;
    pos = next;
  }
  return PW_OK;
}

/* Reads a Content-Length value: PW_OK, PW_PROTOCOL or PW_TOO_BIG. */
static pw_status content_length(const pw_http_msg *m, size_t *out,
                                 char *err, size_t errlen) {
  const char *v = pw_http_field(m, "Content-Length");
  uint64_t n = 0;
  size_t i;

  if (!v[0])
    goto bad;
  for (i = 0; v[i]; i++) {
    if (v[i] < '0' || v[i] > '9')
      goto bad;
    n = n * 10 + (uint64_t)(v[i] - '0');
    if (n > PW_BODY_MAX) {
      set_err(err, errlen, "HTTP body of %s octets is past the cap", v);
      return PW_TOO_BIG;
    }
  }
  *out = (size_t)n;
  return PW_OK;

bad:
  set_err(err, errlen, "bad Content-Length \"%s\"", v);
  return PW_PROTOCOL;
}

/* Reads a chunk-size line at data[*pos..len) (hex digits, an optional
 * extension, the line end) and moves *pos past it. PW_OK with *size,
 * PW_TIMEOUT for more, PW_PROTOCOL, PW_TOO_BIG. */
static pw_status chunk_size(const char *data, size_t len, size_t *pos,
                            size_t *size) {
  const char *nl = memchr(data + *pos, '\n', len - *pos);
  size_t p = *pos, n = 0;
  char ch;

  /* the size, its extensions and the line end: bounded like a field */
  if (nl ? (size_t)(nl - data) - *pos > PW_LINE_MAX
         : len - *pos > PW_LINE_MAX)
    return PW_TOO_BIG;
  if (!nl)
    return PW_TIMEOUT;
  while (p < len && (ch = data[p]) != '\0' &&
         strchr("0123456789abcdefABCDEF", ch)) {
    n = n * 16 + (size_t)(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
    if (n > PW_BODY_MAX)
      return PW_TOO_BIG;
    p++;
  }
  /* nl is at or after p: a hex digit is never a line end. */
  if (p == *pos || (data[p] != ';' && data[p] != '\r' && data[p] != '\n'))
    return PW_PROTOCOL;
  *pos = (size_t)(nl - data) + 1;
  *size = n;
  return PW_OK;
}

/* Skips the trailer fields and the blank line after the last chunk.
 * PW_OK with *pos past them, or PW_TIMEOUT for more. */
static pw_status skip_trailers(const char *data, size_t len, size_t *pos) {
  const char *nl;
  size_t n, start = *pos;

  for (;;) {
    nl = memchr(data + *pos, '\n', len - *pos);
    if ((nl ? (size_t)(nl - data) : len) - start > PW_HEAD_MAX)
      return PW_TOO_BIG;
    if (!nl)
      return PW_TIMEOUT;
    n = (size_t)(nl - (data + *pos));
    *pos = (size_t)(nl - data) + 1;
    if (n == 0 || (n == 1 && data[*pos - 2] == '\r'))
      return PW_OK;
  }
}

/* Decodes a chunked body from data[0..len) into m->body. Returns PW_OK
 * with *used set, PW_TIMEOUT for more, PW_PROTOCOL or PW_TOO_BIG. */
static pw_status dechunk(pw_http_msg *m, const char *data, size_t len,
                         size_t *used, char *err, size_t errlen) {
  size_t pos = 0, total = 0, size, le;
  char *body = NULL, *nb;
  pw_status st;

  while ((st = chunk_size(data, len, &pos, &size)) == PW_OK && size > 0) {
    st = PW_TOO_BIG;
    if (total + size > PW_BODY_MAX)
      break;
    st = PW_TIMEOUT;
    if (len - pos < size + 1)
      break;
    nb = realloc(body, total + size + 1);
    if (!nb) {
      st = PW_ERROR;
      break;
    }
    body = nb;
    memcpy(body + total, data + pos, size);
    total += size;
    pos += size;
    le = data[pos] == '\r' ? 2 : 1;
    if (len - pos < le)
      break;
    st = PW_PROTOCOL;
    if (data[pos + le - 1] != '\n')
      break;
    pos += le;
  }
  if (st == PW_OK)
    st = skip_trailers(data, len, &pos);
  if (st != PW_OK) {
    free(body);
    if (st != PW_TIMEOUT)
      set_err(err, errlen, "%s", st == PW_TOO_BIG ? "chunked HTTP body, "
              "chunk-size line or trailers past the cap" : st == PW_ERROR ? "out of memory"
              : "bad chunk in a chunked HTTP body");
    return st;
  }
  m->body = body ? body : malloc(1);
  if (!m->body)
    return PW_ERROR;
  m->body[total] = '\0';
  m->body_len = total;
  *used = pos;
  return PW_OK;
}

/* Whether an answer to `m` carries a body at all. */
static bool answer_has_body(const pw_http_msg *m, bool no_body) {
  return !no_body && m->status >= 200 && m->status != 204 &&
         m->status != 304;
}

/* Parses one message out of data[0..len). `eof`: the peer closed at len.
 * PW_OK with *used octets consumed, PW_TIMEOUT (need more), PW_PROTOCOL,
 * PW_TOO_BIG. m is cleared on entry. */
static pw_status parse_msg(const char *data, size_t len, bool request,
                           bool no_body, bool eof, pw_http_msg *m,
                           size_t *used, char *err, size_t errlen) {
  size_t end = head_end(data, len), blen = 0, bused;
  pw_status st;

  pw_http_msg_free(m);
  if (end > PW_HEAD_MAX) {
    set_err(err, errlen, "HTTP head of %zu octets is past %u", end,
            PW_HEAD_MAX);
    return PW_TOO_BIG;
  }
  if (end == 0) {
    if (len > PW_HEAD_MAX) {
      set_err(err, errlen, "HTTP head past %u octets", PW_HEAD_MAX);
      return PW_TOO_BIG;
    }
    return PW_TIMEOUT;
  }
  st = parse_head(m, data, end, request, err, errlen);
  if (st != PW_OK)
    return st;
  if (request ? false : !answer_has_body(m, no_body)) {
    blen = 0;
  } else if (pw_http_has_token(m, "Transfer-Encoding", "chunked")) {
    st = dechunk(m, data + end, len - end, &bused, err, errlen);
    if (st == PW_OK)
      *used = end + bused;
    return st;
  } else if (pw_http_field(m, "Content-Length")) {
    st = content_length(m, &blen, err, errlen);
    if (st != PW_OK)
      return st;
  } else if (!request) { /* delimited by the end of the connection */
    if (len - end > PW_BODY_MAX) {
      set_err(err, errlen, "HTTP body past the cap");
      return PW_TOO_BIG;
    }
    if (!eof)
      return PW_TIMEOUT;
    blen = len - end;
  }
  if (len - end < blen)
    return PW_TIMEOUT;
  m->body = dup_n(data + end, blen);
  m->body_len = blen;
  *used = end + blen;
  return m->body ? PW_OK : PW_ERROR;
}

pw_status pw_http_parse_answer(const char *data, size_t len, bool no_body,
                               bool eof_ends_body, pw_http_msg *out,
                               char *err, size_t errlen) {
  size_t used;

  return parse_msg(data, len, false, no_body, eof_ends_body, out, &used,
                   err, errlen);
}

/* Reads one message from c (see parse_msg); interim 1xx answers other
 * than 101 are skipped. */
static pw_status read_msg(pw_conn *c, bool request, bool no_body,
                          unsigned timeout_ms, pw_http_msg *out, char *err,
                          size_t errlen) {
  uint64_t deadline = pw_mono_ms() + timeout_ms;
  size_t used = 0, interim = 0;
  bool read_some = false;
  pw_status st, rd;

  for (;;) {
    st = parse_msg((const char *)c->in + c->in_off, pw_buffered(c),
                   request, no_body, c->eof, out, &used, err, errlen);
    if (st == PW_OK) {
      out->raw = dup_n((const char *)c->in + c->in_off, used);
      out->raw_len = out->raw ? used : 0;
      c->in_off += used;
      if (request || out->status < 100 || out->status > 199 ||
          out->status == 101)
        return PW_OK;
      if (++interim > PW_INTERIM_MAX) {
        set_err(err, errlen, "more than %u interim 1xx HTTP answers",
                PW_INTERIM_MAX);
        return PW_PROTOCOL;
      }
      continue;
    }
    if (st != PW_TIMEOUT)
      return st;
    if (pw_buffered(c) > PW_HEAD_MAX + 2 * (size_t)PW_BODY_MAX) {
      set_err(err, errlen, "HTTP %s past %zu octets and not whole",
              request ? "request" : "answer", pw_buffered(c));
      return PW_TOO_BIG;
    }
    /* the deadline holds even while octets keep coming */
    if (read_some && !c->eof && ms_left(deadline) == 0) {
      set_err(err, errlen, "timed out after %zu octets of an HTTP %s",
              pw_buffered(c), request ? "request" : "answer");
      return PW_TIMEOUT;
    }
    if (c->eof) {
      char q[200];

      quote_octets(q, sizeof q, (const char *)c->in + c->in_off,
                   pw_buffered(c) > 60 ? 60 : pw_buffered(c));
      set_err(err, errlen, "the connection ended after %zu octets, not a "
              "whole HTTP %s%s%s%s", pw_buffered(c),
              request ? "request" : "answer", pw_buffered(c) ? ": \"" : "",
              q, pw_buffered(c) ? "\"" : "");
      return PW_CLOSED;
    }
    rd = fill(c, deadline);
    read_some = true;
    if (rd == PW_TIMEOUT || rd == PW_ERROR) {
      set_err(err, errlen, "%s after %zu octets of an HTTP %s",
              rd == PW_TIMEOUT ? "timed out" : "read error",
              pw_buffered(c), request ? "request" : "answer");
      return rd;
    }
  }
}

pw_status pw_http_read_answer(pw_conn *c, bool no_body, unsigned timeout_ms,
                              pw_http_msg *out, char *err, size_t errlen) {
  return read_msg(c, false, no_body, timeout_ms, out, err, errlen);
}

pw_status pw_http_read_request(pw_conn *c, unsigned timeout_ms,
                               pw_http_msg *out, char *err, size_t errlen) {
  return read_msg(c, true, false, timeout_ms, out, err, errlen);
}

/* The Host field value: host[:port], IPv6 literals in brackets, the port
 * left out when it is 80 or 443. */
static void host_value(char *out, size_t n, const char *host,
                       uint16_t port) {
  bool v6 = strchr(host, ':') != NULL;

  if (port == 80 || port == 443 || port == 0)
    snprintf(out, n, v6 ? "[%s]" : "%s", host);
  else
    snprintf(out, n, v6 ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
}

/* Builds a request (see pw_http_build_request); `close` adds
 * Connection: close. */
static char *build_request(const char *method, const char *target,
                           const char *host, uint16_t port,
                           const char *fields, const void *body,
                           size_t body_len, bool close, size_t *len) {
  const char *cc = close ? "Connection: close\r\n" : "";
  char hv[300], cl[48] = "";
  char *out;
  int n;

  host_value(hv, sizeof hv, host, port);
  if (body)
    snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", body_len);
  if (!fields)
    fields = "";
  n = snprintf(NULL, 0, "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n",
               method, target, hv, fields, cl, cc);
  out = malloc((size_t)n + body_len + 1);
  if (!out)
    return NULL;
  snprintf(out, (size_t)n + 1, "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n",
           method, target, hv, fields, cl, cc);
  if (body && body_len)
    memcpy(out + n, body, body_len);
  out[(size_t)n + body_len] = '\0';
  *len = (size_t)n + body_len;
  return out;
}

char *pw_http_build_request(const char *method, const char *target,
                            const char *host, uint16_t port,
                            const char *fields, const void *body,
                            size_t body_len, size_t *len) {
  return build_request(method, target, host, port, fields, body, body_len,
                       true, len);
}

static const char *status_reason(int status) {
  switch (status) {
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 201: return "Created";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 426: return "Upgrade Required";
  case 429: return "Too Many Requests";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  default: return "Status";
  }
}

/* Writes `data` and hands a copy to *sent when asked. */
static pw_status write_kept(pw_conn *c, char *data, size_t len,
                            unsigned timeout_ms, char **sent,
                            size_t *sent_len) {
  pw_status st = pw_write(c, data, len, timeout_ms);

  if (sent) {
    *sent = data;
    if (sent_len)
      *sent_len = len;
  } else {
    free(data);
  }
  return st;
}

pw_status pw_http_respond(pw_conn *c, int status, const char *fields,
                          const void *body, size_t body_len,
                          unsigned timeout_ms, char **sent,
                          size_t *sent_len) {
  const char *f = fields ? fields : "";
  char *out;
  int n;

  n = snprintf(NULL, 0, "HTTP/1.1 %d %s\r\n%sContent-Length: %zu\r\n"
               "Connection: close\r\n\r\n", status, status_reason(status), f,
               body_len);
  out = malloc((size_t)n + body_len + 1);
  if (!out)
    return PW_ERROR;
  snprintf(out, (size_t)n + 1, "HTTP/1.1 %d %s\r\n%sContent-Length: %zu\r\n"
           "Connection: close\r\n\r\n", status, status_reason(status), f,
           body_len);
  if (body_len)
    memcpy(out + n, body, body_len);
  out[(size_t)n + body_len] = '\0';
  return write_kept(c, out, (size_t)n + body_len, timeout_ms, sent,
                    sent_len);
}

/* ---- WebSocket handshakes ------------------------------------------ */

void pw_ws_accept_key(const char *key, char out[29]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  size_t kl = strlen(key);
  char *cat = malloc(kl + sizeof WS_GUID);

  out[0] = '\0';
  if (!cat)
    return;
  memcpy(cat, key, kl);
  memcpy(cat + kl, WS_GUID, sizeof WS_GUID);
  if (EVP_Digest(cat, kl + sizeof WS_GUID - 1, md, &mdlen, EVP_sha1(),
                 NULL) == 1 && mdlen == 20)
    sodium_bin2base64(out, 29, md, 20, sodium_base64_VARIANT_ORIGINAL);
  free(cat);
}

void pw_ws_handshake_free(pw_ws_handshake *h) {
  if (!h)
    return;
  free(h->request);
  pw_http_msg_free(&h->answer);
  h->request = NULL;
  h->request_len = 0;
}

/* Builds the client's upgrade request into h->request; *key gets the
 * Sec-WebSocket-Key. */
static bool build_upgrade(const pw_ws_client_opts *o, pw_ws_handshake *h,
                          char key[25]) {
  uint8_t raw[16];
  char fields[1024];
  size_t n;
  bool proto = o->subprotocol && o->subprotocol[0];

  randombytes_buf(raw, sizeof raw);
  sodium_bin2base64(key, 25, raw, sizeof raw,
                    sodium_base64_VARIANT_ORIGINAL);
  snprintf(fields, sizeof fields, "Upgrade: websocket\r\nConnection: "
           "Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: "
           "13\r\n%s%s%s%s", key, proto ? "Sec-WebSocket-Protocol: " : "",
           proto ? o->subprotocol : "", proto ? "\r\n" : "",
           o->fields ? o->fields : "");
  h->request = build_request("GET", o->path ? o->path : "/", o->host,
                             o->port, fields, NULL, 0, false, &n);
  if (!h->request)
    return false;
  h->request_len = n;
  return true;
}

/* Checks a 101 answer against the request. PW_OK or PW_PROTOCOL. */
static pw_status check_101(const pw_http_msg *a, const char *key,
                           const char *offered, char *err, size_t errlen) {
  const char *acc = pw_http_field(a, "Sec-WebSocket-Accept");
  const char *proto = pw_http_field(a, "Sec-WebSocket-Protocol");
  char want[29];

  pw_ws_accept_key(key, want);
  if (!pw_http_has_token(a, "Upgrade", "websocket")) {
    set_err(err, errlen, "101 answer without Upgrade: websocket");
    return PW_PROTOCOL;
  }
  if (!pw_http_has_token(a, "Connection", "upgrade")) {
    set_err(err, errlen, "101 answer without Connection: upgrade");
    return PW_PROTOCOL;
  }
  if (!acc || strcmp(acc, want) != 0) {
    set_err(err, errlen, "101 answer with Sec-WebSocket-Accept %s%s%s, "
            "expected %s", acc ? "\"" : "", acc ? acc : "missing",
            acc ? "\"" : "", want);
    return PW_PROTOCOL;
  }
  if (pw_http_field(a, "Sec-WebSocket-Extensions")) {
    set_err(err, errlen, "101 answer names an extension none was offered");
    return PW_PROTOCOL;
  }
  if (offered && offered[0] && (!proto || strchr(proto, ',') ||
                                !list_has(offered, proto))) {
    set_err(err, errlen, "101 answer with Sec-WebSocket-Protocol %s, "
            "offered \"%s\"", proto ? proto : "missing", offered);
    return PW_PROTOCOL;
  }
  if ((!offered || !offered[0]) && proto) {
    set_err(err, errlen, "101 answer chose subprotocol \"%s\" when none "
            "was offered", proto);
    return PW_PROTOCOL;
  }
  return PW_OK;
}

pw_status pw_ws_client_handshake(pw_conn *c, const pw_ws_client_opts *o,
                                 unsigned timeout_ms, pw_ws_handshake *h,
                                 char *err, size_t errlen) {
  uint64_t deadline = pw_mono_ms() + timeout_ms;
  char key[25];
  pw_status st;

  memset(h, 0, sizeof *h);
  wire_init();
  if (!build_upgrade(o, h, key)) {
    set_err(err, errlen, "out of memory");
    return PW_ERROR;
  }
  st = pw_write(c, h->request, h->request_len, timeout_ms);
  if (st != PW_OK) {
    set_err(err, errlen, "cannot send the upgrade request (%s)",
            st == PW_TIMEOUT ? "timed out" : "connection ended");
    return st;
  }
  st = pw_http_read_answer(c, false, (unsigned)ms_left(deadline),
                           &h->answer, err, errlen);
  if (st != PW_OK)
    return st;
  if (h->answer.status != 101) {
    set_err(err, errlen, "upgrade refused with HTTP %d", h->answer.status);
    return PW_REFUSED;
  }
  st = check_101(&h->answer, key, o->subprotocol, err, errlen);
  if (st == PW_OK)
    c->role = PW_ROLE_CLIENT;
  return st;
}

bool pw_ws_is_upgrade(const pw_http_msg *req) {
  return req->method && strcmp(req->method, "GET") == 0 &&
         pw_http_has_token(req, "Upgrade", "websocket") &&
         pw_http_has_token(req, "Connection", "upgrade") &&
         pw_http_field(req, "Sec-WebSocket-Key");
}

pw_status pw_ws_accept(pw_conn *c, const pw_http_msg *req,
                       const char *subprotocol, unsigned timeout_ms,
                       char **sent, size_t *sent_len) {
  const char *ver = pw_http_field(req, "Sec-WebSocket-Version");
  char acc[29], *out;
  int n;

  if (!pw_ws_is_upgrade(req) || !ver || strcmp(ver, "13") != 0)
    return PW_PROTOCOL;
  pw_ws_accept_key(pw_http_field(req, "Sec-WebSocket-Key"), acc);
  n = snprintf(NULL, 0, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: "
               "websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
               "%s\r\n%s%s%s\r\n", acc, subprotocol ?
               "Sec-WebSocket-Protocol: " : "",
               subprotocol ? subprotocol : "", subprotocol ? "\r\n" : "");
  out = malloc((size_t)n + 1);
  if (!out)
    return PW_ERROR;
  snprintf(out, (size_t)n + 1, "HTTP/1.1 101 Switching Protocols\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n", acc, subprotocol ?
           "Sec-WebSocket-Protocol: " : "",
           subprotocol ? subprotocol : "", subprotocol ? "\r\n" : "");
  c->role = PW_ROLE_SERVER;
  return write_kept(c, out, (size_t)n, timeout_ms, sent, sent_len);
}

pw_status pw_ws_server_handshake(pw_conn *c, const char *subprotocol,
                                 unsigned timeout_ms, pw_http_msg *req,
                                 char *err, size_t errlen) {
  uint64_t deadline = pw_mono_ms() + timeout_ms;
  const char *offered;
  pw_status st;

  st = pw_http_read_request(c, timeout_ms, req, err, errlen);
  if (st != PW_OK)
    return st;
  if (!pw_ws_is_upgrade(req))
    return PW_PLAIN;
  offered = pw_http_field(req, "Sec-WebSocket-Protocol");
  if (!subprotocol || !offered || !list_has(offered, subprotocol))
    subprotocol = NULL;
  st = pw_ws_accept(c, req, subprotocol, (unsigned)ms_left(deadline), NULL,
                    NULL);
  if (st == PW_PROTOCOL)
    set_err(err, errlen, "the upgrade request is not valid (version %s)",
            pw_http_field(req, "Sec-WebSocket-Version")
                ? pw_http_field(req, "Sec-WebSocket-Version") : "missing");
  return st;
}

/* ---- WebSocket frames ---------------------------------------------- */

void pw_ws_set_role(pw_conn *c, pw_role role) { c->role = role; }
pw_role pw_ws_role(const pw_conn *c) { return c->role; }

size_t pw_ws_encode_header(uint8_t out[14], bool fin, int opcode,
                           const uint8_t *mask, uint64_t payload_len) {
  size_t n = 2, i;

  out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
  if (payload_len < 126) {
    out[1] = (uint8_t)payload_len;
  } else if (payload_len <= 0xffff) {
    out[1] = 126;
    out[2] = (uint8_t)(payload_len >> 8);
    out[3] = (uint8_t)payload_len;
    n = 4;
  } else {
    out[1] = 127;
    for (i = 0; i < 8; i++)
      out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
    n = 10;
  }
  if (mask) {
    out[1] |= 0x80;
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

void pw_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4],
                size_t offset) {
  size_t i;

  for (i = 0; i < len; i++)
    data[i] ^= mask[(i + offset) & 3];
}

pw_status pw_ws_write_frame(pw_conn *c, bool fin, int opcode,
                            const void *data, size_t len,
                            unsigned timeout_ms) {
  uint8_t mask[4], *buf;
  bool masked = c->role != PW_ROLE_SERVER;
  size_t hl;
  pw_status st;

  wire_init();
  buf = malloc(14 + len);
  if (!buf)
    return PW_ERROR;
  if (masked)
    randombytes_buf(mask, sizeof mask);
  hl = pw_ws_encode_header(buf, fin, opcode, masked ? mask : NULL, len);
  if (len)
    memcpy(buf + hl, data, len);
  if (masked)
    pw_ws_mask(buf + hl, len, mask, 0);
  st = pw_write(c, buf, hl + len, timeout_ms);
  free(buf);
  return st;
}

pw_status pw_ws_write_message(pw_conn *c, int opcode, const void *data,
                              size_t len, size_t pieces,
                              unsigned timeout_ms) {
  uint64_t deadline = pw_mono_ms() + timeout_ms;
  const uint8_t *p = data;
  size_t i, off = 0, n;
  pw_status st;

  if (pieces > len)
    pieces = len;
  if (pieces < 1)
    pieces = 1;
  for (i = 0; i < pieces; i++) {
    n = len / pieces + (i < len % pieces ? 1 : 0);
    st = pw_ws_write_frame(c, i + 1 == pieces, i == 0 ? opcode : PW_OP_CONT,
                           p + off, n, (unsigned)ms_left(deadline));
    if (st != PW_OK)
      return st;
    off += n;
  }
  return PW_OK;
}

pw_status pw_ws_write_close(pw_conn *c, int code, const char *reason,
                            unsigned timeout_ms) {
  uint8_t payload[125];
  size_t n = 0, rl;

  if (code) {
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    n = 2;
    rl = reason ? strlen(reason) : 0;
    if (rl > sizeof payload - 2)
      rl = sizeof payload - 2;
    if (rl)
      memcpy(payload + 2, reason, rl);
    n += rl;
  }
  return pw_ws_write_frame(c, true, PW_OP_CLOSE, payload, n, timeout_ms);
}

void pw_ws_msg_free(pw_ws_msg *m) {
  if (!m)
    return;
  free(m->data);
  memset(m, 0, sizeof *m);
}

/* A decoded frame header. */
typedef struct ws_head {
  bool fin, masked;
  int rsv, opcode;
  uint8_t mask[4];
  uint64_t len;
  size_t size;    /* header octets */
} ws_head;

/* Decodes a frame header from p[0..n): 1 done, 0 need more. */
static int decode_head(const uint8_t *p, size_t n, ws_head *h) {
  size_t need = 2, i;

  if (n < 2)
    return 0;
  h->fin = p[0] & 0x80;
  h->rsv = (p[0] >> 4) & 7;
  h->opcode = p[0] & 0x0f;
  h->masked = p[1] & 0x80;
  h->len = p[1] & 0x7f;
  need += h->len == 126 ? 2 : h->len == 127 ? 8 : 0;
  need += h->masked ? 4 : 0;
  if (n < need)
    return 0;
  if (h->len == 126) {
    h->len = (uint64_t)p[2] << 8 | p[3];
  } else if (h->len == 127) {
    h->len = 0;
    for (i = 0; i < 8; i++)
      h->len = h->len << 8 | p[2 + i];
  }
  if (h->masked)
    memcpy(h->mask, p + need - 4, 4);
  h->size = need;
  return 1;
}

static bool close_code_ok(int code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

/* Checks a header against RFC 6455 5.2-5.5 and the message state.
 * Returns PW_OK, PW_PROTOCOL or PW_TOO_BIG with err. */
static pw_status check_head(const pw_conn *c, const ws_head *h, char *err,
                            size_t errlen) {
  bool control = h->opcode & 0x08;

  if (h->rsv) {
    set_err(err, errlen, "frame with reserved bits 0x%x set (no extension"
            " was negotiated)", h->rsv << 4);
    return PW_PROTOCOL;
  }
  if ((h->opcode > 2 && h->opcode < 8) || h->opcode > 10) {
    set_err(err, errlen, "frame with reserved opcode 0x%x", h->opcode);
    return PW_PROTOCOL;
  }
  if (c->role == PW_ROLE_CLIENT && h->masked) {
    set_err(err, errlen, "masked frame from a server (RFC 6455 5.1)");
    return PW_PROTOCOL;
  }
  if (c->role == PW_ROLE_SERVER && !h->masked) {
    set_err(err, errlen, "unmasked frame from a client (RFC 6455 5.1)");
    return PW_PROTOCOL;
  }
  if (control && (!h->fin || h->len > 125)) {
    set_err(err, errlen, "control frame 0x%x %s", h->opcode,
            h->fin ? "longer than 125 octets" : "fragmented");
    return PW_PROTOCOL;
  }
  if (h->len >> 63) {
    set_err(err, errlen, "frame length with the top bit set");
    return PW_PROTOCOL;
  }
  if (!control && h->opcode == PW_OP_CONT && !c->msg_opcode) {
    set_err(err, errlen, "continuation frame with no message to continue");
    return PW_PROTOCOL;
  }
  if (!control && h->opcode != PW_OP_CONT && c->msg_opcode) {
    set_err(err, errlen, "new data frame inside a fragmented message");
    return PW_PROTOCOL;
  }
  if (!control && h->len > PW_MESSAGE_MAX - c->msg_len) {
    set_err(err, errlen, "message past %u octets", PW_MESSAGE_MAX);
    return PW_TOO_BIG;
  }
  return PW_OK;
}

/* Appends a data frame's payload to the message being reassembled. */
static bool msg_append(pw_conn *c, const uint8_t *p, size_t n) {
  size_t cap = c->msg_cap ? c->msg_cap : 256;
  uint8_t *q;

  while (cap < c->msg_len + n + 1)
    cap *= 2;
  if (cap != c->msg_cap) {
    q = realloc(c->msg, cap);
    if (!q)
      return false;
    c->msg = q;
    c->msg_cap = cap;
  }
  memcpy(c->msg + c->msg_len, p, n);
  c->msg_len += n;
  c->msg[c->msg_len] = '\0';
  return true;
}

/* Fills *m with a control frame's payload p[0..n). */
static pw_status control_msg(pw_conn *c, const ws_head *h, const uint8_t *p,
                             size_t n, pw_ws_msg *m, char *err,
                             size_t errlen) {
  size_t off = 0;

  m->opcode = h->opcode;
  m->close_code = 0;
  if (h->opcode == PW_OP_CLOSE) {
    c->got_close = true;
    m->close_code = 1005;
    if (n == 1) {
      set_err(err, errlen, "close frame with a one-octet payload");
      return PW_PROTOCOL;
    }
    if (n >= 2) {
      m->close_code = p[0] << 8 | p[1];
      off = 2;
    }
  }
  m->data = malloc(n - off + 1);
  if (!m->data)
    return PW_ERROR;
  memcpy(m->data, p + off, n - off);
  m->data[n - off] = '\0';
  m->len = n - off;
  if (h->opcode == PW_OP_CLOSE && n >= 2 && !close_code_ok(m->close_code)) {
    set_err(err, errlen, "close frame with invalid code %d", m->close_code);
    pw_ws_msg_free(m);
    return PW_PROTOCOL;
  }
  return PW_OK;
}

/* Handles one whole frame at the buffer's start: PW_OK with *m set when
 * it completed a message or was a control frame; PW_TIMEOUT when it was a
 * fragment that does not end the message; otherwise an error. */
static pw_status take_frame(pw_conn *c, const ws_head *h, pw_ws_msg *m,
                            unsigned timeout_ms, char *err, size_t errlen) {
  uint8_t *p = c->in + c->in_off + h->size;
  size_t n = (size_t)h->len;
  pw_status st;

  if (h->masked)
    pw_ws_mask(p, n, h->mask, 0);
  c->in_off += h->size + n;
  if (h->opcode & 0x08) {
    st = control_msg(c, h, p, n, m, err, errlen);
    if (st == PW_OK && h->opcode == PW_OP_PING)
      pw_ws_write_frame(c, true, PW_OP_PONG, p, n, timeout_ms);
    return st;
  }
  if (h->opcode != PW_OP_CONT)
    c->msg_opcode = h->opcode;
  if (++c->msg_frags > PW_FRAGMENTS_MAX) {
    set_err(err, errlen, "message in more than %u fragments",
            PW_FRAGMENTS_MAX);
    return PW_TOO_BIG;
  }
  if (!msg_append(c, p, n))
    return PW_ERROR;
  if (!h->fin)
    return PW_TIMEOUT;
  m->opcode = c->msg_opcode;
  m->data = c->msg;
  m->len = c->msg_len;
  c->msg = NULL;
  c->msg_len = c->msg_cap = 0;
  c->msg_opcode = 0;
  c->msg_frags = 0;
  return PW_OK;
}

pw_status pw_ws_read(pw_conn *c, unsigned timeout_ms, pw_ws_msg *m,
                     char *err, size_t errlen) {
  uint64_t deadline = pw_mono_ms() + timeout_ms;
  ws_head h;
  pw_status st;
  bool filled = false;

  memset(m, 0, sizeof *m);
  if (c->got_close)
    return PW_CLOSED;
  for (;;) {
    /* the deadline holds even while fragments keep coming */
    if (filled && ms_left(deadline) == 0)
      return PW_TIMEOUT;
    if (decode_head(c->in + c->in_off, pw_buffered(c), &h)) {
      st = check_head(c, &h, err, errlen);
      if (st != PW_OK)
        return st;
      if (pw_buffered(c) - h.size >= h.len) {
        st = take_frame(c, &h, m, (unsigned)ms_left(deadline), err,
                        errlen);
        if (st != PW_TIMEOUT)
          return st;
        continue;
      }
      if (!in_reserve(c, h.size + (size_t)h.len - pw_buffered(c)))
        return PW_ERROR;
    }
    st = fill(c, deadline);
    filled = true;
    if (st == PW_CLOSED)
      set_err(err, errlen, "the connection ended without a close frame%s",
              pw_buffered(c) || c->msg_opcode ? ", inside a frame" : "");
    else if (st == PW_ERROR)
      set_err(err, errlen, "read error: %s", strerror(errno));
    if (st != PW_OK)
      return st;
  }
}
