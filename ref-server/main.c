/* parley-server: the reference server of spec/parley-1.md.
 *
 *   parley-server [--listen HOST:PORT] [--db PATH] [--log-level L]
 *                 [--log-json] [--heartbeat-min-ms N] [--token-ttl-ms N]
 *                 [--token-rate-address N] [--token-rate-user N]
 *                 [--max-sessions-address N] [--max-sessions-user N]
 *                 [--ring-timeout-ms N] [--call-grace-ms N]
 *                 [--allow-plaintext]
 *   parley-server adduser NAME [--password-file FILE] [--db PATH]
 *   parley-server deluser NAME [--db PATH]
 *   parley-server users [--db PATH]
 *   parley-server --help | -h | --version
 *
 * Built as parley-server-faults (with PARLEY_FAULTS) it also takes
 * `--fault NAME`, which plants one protocol fault for the mutation test,
 * and `--fault list`, which names them (parley/faults.h).
 *
 * Start-up: open the store (migrating it), end the calls the last run
 * left open (reason server-restart), read or create the server keys,
 * build the core and load into it what the store holds, then serve
 * HTTP and WebSocket on one lws context until SIGTERM or SIGINT. Signals
 * are taken by a dedicated thread (sigwait) that wakes the service loop;
 * the drain then stops new connections, tells every session going-away
 * (WebSocket close 1001), lets the pending store requests commit and
 * exits 0. A store failure is fatal: exit 1. Bad flags: exit 2.
 *
 * The server has no TLS of its own: it serves plain HTTP and WebSocket
 * on loopback, and on any other address only with --allow-plaintext,
 * for a deployment that puts TLS in front of it (SEC-16). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "core_load.h"
#include "flags.h"
#include "host.h"
#include "log.h"
#include "store.h"

#define DEFAULT_LISTEN "127.0.0.1:7700"
#define DEFAULT_DB "./parley.db"
#define DEFAULT_TOKEN_TTL_MS 3600000ull
#define TOKEN_TTL_MAX_MS 86400000ull /* SEC-9: at most 24 hours */
#define DEFAULT_TOKEN_RATE_ADDRESS 60u /* token requests a minute */
#define DEFAULT_TOKEN_RATE_USER 20u
#define DEFAULT_SESSIONS_ADDRESS 256u
#define DEFAULT_SESSIONS_USER 64u
#define LIMITER_SLOTS 4096
#define HEARTBEAT_FLOOR_MS 200
#define HEARTBEAT_MIN_CAP_MS 15000 /* HB-1 */
#define DEFAULT_RING_TIMEOUT_MS 30000u
#define DEFAULT_CALL_GRACE_MS 20000u
#define CALL_TIMER_MAX_MS 3600000u /* ring timeout and grace: an hour */

typedef struct options {
  char host[64];
  int port;
  bool ipv6;
  const char *db;
  parley_log_level log_level;
  bool log_json;
  uint32_t heartbeat_min_ms;
  uint64_t token_ttl_ms;
  uint32_t token_rate_address;
  uint32_t token_rate_user;
  uint32_t max_sessions_address;
  uint32_t max_sessions_user;
  uint32_t ring_timeout_ms;
  uint32_t call_grace_ms;
  bool allow_plaintext;
  const char *password_file;
  const char *command; /* NULL: serve */
  const char *name;
#ifdef PARLEY_FAULTS
  parley_fault fault; /* --fault NAME */
  bool fault_list;    /* --fault list */
#endif
} options;

static const char usage_text[] =
    "usage: parley-server [flags]                 serve\n"
    "       parley-server adduser NAME [flags]    add a user (password on\n"
    "                                             stdin or --password-file)\n"
    "       parley-server deluser NAME [flags]    delete a user\n"
    "       parley-server users [flags]           list users\n"
    "flags:\n"
    "  --listen HOST:PORT      address to serve on (default " DEFAULT_LISTEN
    ")\n"
    "  --db PATH               SQLite database (default " DEFAULT_DB ")\n"
    "  --log-level LEVEL       debug, info, warn or error (default info)\n"
    "  --log-json              log JSON lines instead of text\n"
    "  --heartbeat-min-ms N    smallest heartbeat interval (200 to 15000)\n"
    "  --token-ttl-ms N        lifetime of issued tokens, at most 86400000\n"
    "                          (default 3600000)\n"
    "  --token-rate-address N  token requests a minute from one client\n"
    "                          address, in bursts of N (default 60; 0: no\n"
    "                          limit)\n"
    "  --token-rate-user N     the same for one user name (default 20)\n"
    "  --max-sessions-address N  WebSocket sessions open from one client\n"
    "                          address (default 256; 0: no limit)\n"
    "  --max-sessions-user N   READY sessions of one user (default 64)\n"
    "  --ring-timeout-ms N     a call nobody answers ends with no-answer\n"
    "                          after N ms, 1 to 3600000 (default 30000)\n"
    "  --call-grace-ms N       a call participant whose connection dropped\n"
    "                          may rejoin for N ms before it leaves with\n"
    "                          disconnected, 1 to 3600000 (default 20000)\n"
    "  --allow-plaintext       serve on an address other than loopback\n"
    "                          without TLS (put TLS in front of it)\n"
    "  --password-file FILE    adduser: read the password from FILE\n"
#ifdef PARLEY_FAULTS
    "  --fault NAME            plant protocol fault NAME (a test build);\n"
    "                          --fault list names them\n"
#endif
    "  -h, --help              show this text\n"
    "  --version               show the version\n";

/* ---- flags ------------------------------------------------------------ */

static int bad_flag(const char *flag, const char *why)
{
  return parley_flag_bad("parley-server", flag, why);
}

/* Parses a decimal number in [min, max]. */
static bool parse_u64(const char *s, uint64_t min, uint64_t max,
                      uint64_t *out)
{
  char *end;
  unsigned long long v;

  if (!*s || strspn(s, "0123456789") != strlen(s))
    return false;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || *end || v < min || v > max)
    return false;
  *out = v;
  return true;
}

/* Parses HOST:PORT, HOST an IPv4 address, `localhost` (127.0.0.1) or a
 * bracketed IPv6 address. */
static bool parse_listen(const char *s, options *o)
{
  const char *colon = strrchr(s, ':');
  size_t hlen;
  uint64_t port;
  char addr[16];

  if (!colon || !parse_u64(colon + 1, 0, 65535, &port))
    return false;
  hlen = (size_t)(colon - s);
  if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
    s++;
    hlen -= 2;
    o->ipv6 = true;
  }
  if (hlen == 0 || hlen >= sizeof o->host)
    return false;
  memcpy(o->host, s, hlen);
  o->host[hlen] = '\0';
  if (!o->ipv6 && strcmp(o->host, "localhost") == 0)
    strcpy(o->host, "127.0.0.1");
  o->port = (int)port;
  return inet_pton(o->ipv6 ? AF_INET6 : AF_INET, o->host, addr) == 1;
}

/* True when o's listen address is a loopback one (127.0.0.0/8, ::1). */
static bool listen_is_loopback(const options *o)
{
  struct in6_addr a6;
  struct in_addr a4;

  if (o->ipv6)
    return inet_pton(AF_INET6, o->host, &a6) == 1 &&
           IN6_IS_ADDR_LOOPBACK(&a6);
  return inet_pton(AF_INET, o->host, &a4) == 1 &&
         (ntohl(a4.s_addr) >> 24) == 127;
}

/* Applies one of the limit flags (a number, 0 for no limit). Returns 0,
 * or the exit code for a bad value. */
static int apply_limit(options *o, int opt, const char *flag, const char *v)
{
  uint64_t n;

  if (!parse_u64(v, 0, 1000000, &n))
    return bad_flag(flag, "expected a number from 0 to 1000000");
  if (opt == 'A')
    o->token_rate_address = (uint32_t)n;
  else if (opt == 'U')
    o->token_rate_user = (uint32_t)n;
  else if (opt == 'M')
    o->max_sessions_address = (uint32_t)n;
  else if (n == 0)
    o->max_sessions_user = UINT32_MAX;
  else
    o->max_sessions_user = (uint32_t)n;
  return 0;
}

#ifdef PARLEY_FAULTS
/* --fault NAME plants one protocol fault; --fault list asks for their
 * names. Returns 0, or the exit code for an unknown name. */
static int apply_fault(options *o, const char *flag, const char *v)
{
  if (strcmp(v, "list") == 0) {
    o->fault_list = true;
    return 0;
  }
  o->fault = parley_fault_by_name(v);
  if (o->fault == PARLEY_FAULT_NONE)
    return bad_flag(flag, "no such fault (--fault list names them)");
  return 0;
}

/* Prints every fault, one line each: its name and what it breaks. */
static void print_faults(void)
{
  for (int f = PARLEY_FAULT_NONE + 1; f < PARLEY_FAULT_COUNT; f++)
    printf("%-32s %s\n", parley_fault_name((parley_fault)f),
           parley_fault_what((parley_fault)f));
}
#endif

/* Applies one flag. Returns 0, or the exit code for a bad value. */
static int apply_flag(options *o, int opt, const char *flag, const char *v)
{
  uint64_t n;

  switch (opt) {
  case 'l':
    return parse_listen(v, o) ? 0
                              : bad_flag(flag, "expected IPv4:PORT, "
                                               "localhost:PORT or "
                                               "[IPv6]:PORT");
  case 'd':
    o->db = v;
    return 0;
  case 'L':
    return plog_level_parse(v, &o->log_level)
               ? 0
               : bad_flag(flag, "expected debug, info, warn or error");
  case 'j':
    o->log_json = true;
    return 0;
  case 'B':
    if (!parse_u64(v, HEARTBEAT_FLOOR_MS, HEARTBEAT_MIN_CAP_MS, &n))
      return bad_flag(flag, "expected a number from 200 to 15000");
    o->heartbeat_min_ms = (uint32_t)n;
    return 0;
  case 't':
    if (!parse_u64(v, 1, TOKEN_TTL_MAX_MS, &n))
      return bad_flag(flag, "expected a number of milliseconds from 1 to "
                            "86400000 (24 hours)");
    o->token_ttl_ms = n;
    return 0;
  case 'A':
  case 'U':
  case 'M':
  case 'S':
    return apply_limit(o, opt, flag, v);
  case 'R':
  case 'G':
    if (!parse_u64(v, 1, CALL_TIMER_MAX_MS, &n))
      return bad_flag(flag, "expected a number of milliseconds from 1 to "
                            "3600000 (an hour)");
    if (opt == 'R')
      o->ring_timeout_ms = (uint32_t)n;
    else
      o->call_grace_ms = (uint32_t)n;
    return 0;
  case 'P':
    o->allow_plaintext = true;
    return 0;
  case 'p':
    o->password_file = v;
    return 0;
#ifdef PARLEY_FAULTS
  case 'F':
    return apply_fault(o, flag, v);
#endif
  default:
    return bad_flag(flag, "unknown flag");
  }
}

/* Applies one flag for parley_flags_read; --version prints the version.
 * Returns -1 to go on, or an exit code. */
static int read_flag(void *ctx, int opt, const char *flag, const char *v)
{
  int rc;

  if (opt == 'V' + 256) {
    printf("parley-server %s\n", PARLEY_VERSION);
    return 0;
  }
  rc = apply_flag(ctx, opt, flag, v);
  return rc != 0 ? rc : -1;
}

/* Reads argv into o. Returns -1 to go on, or an exit code. */
static int parse_args(int argc, char **argv, options *o)
{
  static const struct option longs[] = {
      {"listen", required_argument, NULL, 'l'},
      {"db", required_argument, NULL, 'd'},
      {"log-level", required_argument, NULL, 'L'},
      {"log-json", no_argument, NULL, 'j'},
      {"heartbeat-min-ms", required_argument, NULL, 'B'},
      {"token-ttl-ms", required_argument, NULL, 't'},
      {"token-rate-address", required_argument, NULL, 'A'},
      {"token-rate-user", required_argument, NULL, 'U'},
      {"max-sessions-address", required_argument, NULL, 'M'},
      {"max-sessions-user", required_argument, NULL, 'S'},
      {"ring-timeout-ms", required_argument, NULL, 'R'},
      {"call-grace-ms", required_argument, NULL, 'G'},
      {"allow-plaintext", no_argument, NULL, 'P'},
      {"password-file", required_argument, NULL, 'p'},
#ifdef PARLEY_FAULTS
      {"fault", required_argument, NULL, 'F'},
#endif
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V' + 256},
      {NULL, 0, NULL, 0}};
  int rc = parley_flags_read(argc, argv, longs, "parley-server", usage_text,
                             read_flag, o);

  if (rc >= 0)
    return rc;
  if (optind < argc)
    o->command = argv[optind++];
  if (optind < argc)
    o->name = argv[optind++];
  if (optind < argc)
    return bad_flag(argv[optind], "unexpected argument");
  return -1;
}

/* ---- user commands ---------------------------------------------------- */

/* Reads the first line of f into buf (without the line end). Returns
 * its length, or -1 when there is none. */
static int read_password(FILE *f, char *buf, size_t size)
{
  size_t n;

  if (!fgets(buf, (int)size, f))
    return -1;
  n = strcspn(buf, "\r\n");
  buf[n] = '\0';
  return (int)n;
}

/* Asks for the password on the terminal at stdin: a prompt on stderr,
 * echo off, asked twice. Returns its length in buf, or -1 (reported)
 * when the two differ or there is none. */
static int ask_password(const char *name, char *buf, size_t size)
{
  struct termios old, quiet;
  char again[1024];
  int n = -1, m = -1;
  bool restore = tcgetattr(STDIN_FILENO, &old) == 0;

  if (restore) {
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  fprintf(stderr, "password for %s: ", name);
  n = read_password(stdin, buf, size);
  fputc('\n', stderr);
  if (n > 0) {
    fprintf(stderr, "password for %s again: ", name);
    m = read_password(stdin, again, sizeof again);
    fputc('\n', stderr);
  }
  if (restore)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
  if (n > 0 && (m != n || strcmp(buf, again) != 0)) {
    fprintf(stderr, "parley-server: the passwords differ\n");
    n = -2;
  }
  sodium_memzero(again, sizeof again);
  return n;
}

static int cmd_adduser(store *st, const options *o)
{
  char pw[1024], hash[crypto_pwhash_STRBYTES];
  FILE *f = o->password_file ? fopen(o->password_file, "r") : stdin;
  int n, rc;

  if (!f) {
    fprintf(stderr, "parley-server: cannot read %s: %s\n", o->password_file,
            strerror(errno));
    return 1;
  }
  if (f == stdin && isatty(STDIN_FILENO))
    n = ask_password(o->name, pw, sizeof pw);
  else
    n = read_password(f, pw, sizeof pw);
  if (f != stdin)
    fclose(f);
  if (n == -2) {
    sodium_memzero(pw, sizeof pw);
    return 1;
  }
  if (n <= 0) {
    fprintf(stderr, "parley-server: no password given\n");
    return 1;
  }
  rc = crypto_pwhash_str(hash, pw, (unsigned long long)n,
                         crypto_pwhash_OPSLIMIT_INTERACTIVE,
                         crypto_pwhash_MEMLIMIT_INTERACTIVE);
  sodium_memzero(pw, sizeof pw);
  if (rc != 0) {
    fprintf(stderr, "parley-server: hashing the password failed\n");
    return 1;
  }
  rc = store_add_user(st, o->name, hash);
  if (rc == 1)
    fprintf(stderr, "parley-server: user %s exists\n", o->name);
  else if (rc == 2)
    fprintf(stderr, "parley-server: %s belonged to a deleted user; names "
            "are never given again\n", o->name);
  else if (rc == 0)
    printf("added user %s\n", o->name);
  return rc == 0 ? 0 : 1;
}

static void print_user(void *ctx, const char *name)
{
  (void)ctx;
  printf("%s\n", name);
}

/* Checks a user name: [a-z0-9_.-]{1,32}. */
static bool user_name_ok(const char *s)
{
  size_t n = strlen(s);

  return n >= 1 && n <= PARLEY_USER_MAX &&
         strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* True when a file exists at path. */
static bool db_exists(const char *path)
{
  struct stat sb;

  return stat(path, &sb) == 0;
}

/* Runs adduser, deluser or users. Returns the exit code. Only adduser
 * creates a database; the others refuse a path that holds none. */
static int run_command(const options *o)
{
  char err[256];
  store *st;
  int rc;
  bool named = strcmp(o->command, "users") != 0;

  if (strcmp(o->command, "adduser") != 0 &&
      strcmp(o->command, "deluser") != 0 && named)
    return bad_flag(o->command, "unknown command");
  if (named && (!o->name || !user_name_ok(o->name)))
    return bad_flag(o->command, "needs a user name of 1 to 32 characters "
                                "from a-z 0-9 _ . -");
  if (!named && o->name)
    return bad_flag(o->name, "unexpected argument");
  if (strcmp(o->command, "adduser") != 0 && !db_exists(o->db)) {
    fprintf(stderr, "parley-server: no database at %s; start the server "
            "or run adduser to create one\n", o->db);
    return 1;
  }
  if (!(st = store_open(o->db, err, sizeof err))) {
    fprintf(stderr, "parley-server: %s\n", err);
    return 1;
  }
  if (strcmp(o->command, "adduser") == 0) {
    rc = cmd_adduser(st, o);
  } else if (strcmp(o->command, "deluser") == 0) {
    rc = store_del_user(st, o->name);
    if (rc == 1)
      fprintf(stderr, "parley-server: no user %s\n", o->name);
    else if (rc == 0)
      printf("deleted user %s; the name is not given again, and tokens "
             "already issued stay valid until they expire\n", o->name);
    rc = rc == 0 ? 0 : 1;
  } else {
    rc = store_each_user(st, print_user, NULL) == 0 ? 0 : 1;
  }
  store_close(st);
  return rc;
}

/* ---- start-up: core and load ------------------------------------------ */

/* Fills the core's configuration with every value spelled out, so the
 * values /v1/config reports are the ones the core uses. */
static void make_config(const options *o, parley_server_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->limits.frame_size_max = PARLEY_FRAME_SIZE_MAX;
  cfg->limits.header_count_max = PARLEY_HEADER_COUNT_MAX;
  cfg->limits.header_line_max = PARLEY_HEADER_LINE_MAX;
  cfg->heartbeat_min_ms = o->heartbeat_min_ms;
  cfg->heartbeat_max_ms = 120000;
  cfg->handshake_timeout_ms = 10000;
  cfg->dedup_window_ms = 24ull * 3600 * 1000;
  cfg->typing_ttl_ms = 6000;
  cfg->max_errors = 16;
  cfg->rate_per_s = 200;
  cfg->rate_burst = 400;
  cfg->max_sessions_per_user = o->max_sessions_user;
  cfg->ring_timeout_ms = o->ring_timeout_ms;
  cfg->call_grace_ms = o->call_grace_ms;
  randombytes_buf(&cfg->seed, sizeof cfg->seed);
#ifdef PARLEY_FAULTS
  cfg->fault = o->fault;
#endif
}

/* Opens the store, reads the keys, builds and loads the core. Returns 0
 * or 1 (logged). */
static int start_core(host *h, const options *o)
{
  char err[256];
  bool existed = db_exists(o->db);
  size_t open_calls = 0;

  if (!(h->st = store_open(o->db, err, sizeof err))) {
    plog_error(0, "store: %s", err);
    return 1;
  }
  if (!existed)
    plog_warn(0, "store: no database at %s; created a new one", o->db);
#ifdef PARLEY_FAULTS
  if (o->fault != PARLEY_FAULT_NONE)
    plog_warn(0, "planted fault %s: %s", parley_fault_name(o->fault),
              parley_fault_what(o->fault));
#endif
  make_config(o, &h->cfg);
  store_set_dedup_window(h->st, h->cfg.dedup_window_ms);
  if (store_end_open_calls(h->st, host_now_ms(), &open_calls) != 0)
    return 1;
  if (open_calls > 0)
    plog_info(0, "store: ended %zu calls the last run left open "
              "(server-restart)", open_calls);
  if (store_keys(h->st, h->token_sk, h->cfg.token_public_key,
                 h->cfg.cursor_key) != 0)
    return 1;
  if (!(h->core = parley_server_new(&h->cfg))) {
    plog_error(0, "out of memory creating the core");
    return 1;
  }
  if (core_load(h->st, h->core,
                host_now_ms() - h->cfg.dedup_window_ms) != 0) {
    plog_error(0, "store: loading the core failed");
    return 1;
  }
  return 0;
}

/* ---- the service loop ------------------------------------------------- */

static atomic_int signal_quit;

/* Takes SIGTERM and SIGINT (blocked in every thread) and asks the
 * service thread to drain. */
static void *signal_main(void *arg)
{
  host *h = arg;
  sigset_t set;
  int sig;

  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  for (;;) {
    if (sigwait(&set, &sig) != 0)
      continue;
    if (atomic_load(&signal_quit))
      break;
    plog_info(0, "signal %d: shutting down", sig);
    atomic_store(&h->stop_requested, 1);
    lws_cancel_service(h->lws);
  }
  return NULL;
}

static void notify_service(void *ctx)
{
  host *h = ctx;
  lws_cancel_service(h->lws);
}

static void lws_log(int level, const char *line)
{
  size_t n = strcspn(line, "\n");
  plog(level == LLL_ERR ? PARLEY_LOG_ERROR : PARLEY_LOG_WARN, 0, "lws: %.*s",
       (int)n, line);
}

static const struct lws_protocols protocols[] = {
    {"http", http_callback, sizeof(http_pss), 0, 0, NULL, 0},
    {HOST_SUBPROTOCOL, ws_callback, sizeof(ws_pss), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

/* Creates the lws context listening on o's address only. */
static struct lws_context *make_context(host *h, const options *o)
{
  struct lws_context_creation_info info;

  memset(&info, 0, sizeof info);
  info.port = o->port;
  info.iface = o->host;
  info.protocols = protocols;
  info.user = h;
  info.max_http_header_data = HOST_HEADER_DATA_MAX;
  info.timeout_secs = 10;
  /* With IPv6 on, lws binds an IPv4 iface to [::] (every interface). */
  if (!o->ipv6)
    info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  return lws_create_context(&info);
}

/* Checks that o's address and port can be listened on, by binding a
 * socket to them (with SO_REUSEADDR, as lws binds) and closing it before
 * lws binds: an address this machine lacks (lws would wait for it) or a
 * port in use (lws would only log "ERROR on binding fd") is reported as
 * "cannot listen on ADDR:PORT: " and strerror, e.g. "address already in
 * use". Returns 0, or 1 after logging the address and the error. */
static int check_listen_address(const options *o)
{
  struct sockaddr_storage ss;
  socklen_t len;
  int fd, rc, e, one = 1;

  memset(&ss, 0, sizeof ss);
  if (o->ipv6) {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)o->port);
    inet_pton(AF_INET6, o->host, &a6->sin6_addr);
    len = sizeof *a6;
  } else {
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)o->port);
    inet_pton(AF_INET, o->host, &a4->sin_addr);
    len = sizeof *a4;
  }
  if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0) {
    e = errno;
    rc = -1;
  } else {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    rc = bind(fd, (struct sockaddr *)&ss, len);
    e = errno;
    close(fd);
  }
  if (rc == 0)
    return 0;
  plog_error(0, "cannot listen on %s%s%s:%d: %s", o->ipv6 ? "[" : "",
             o->host, o->ipv6 ? "]" : "", o->port, strerror(e));
  return 1;
}

/* Serves until drained or fatal. Returns the exit code. */
static int serve(host *h, const options *o)
{
  struct lws_vhost *vh;
  int port;

  lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
  if (check_listen_address(o) != 0)
    return 1;
  if (!(h->lws = make_context(h, o))) {
    plog_error(0, "cannot listen on %s:%d", o->host, o->port);
    return 1;
  }
  vh = lws_get_vhost_by_name(h->lws, "default");
  port = vh ? lws_get_vhost_listen_port(vh) : o->port;
  if (store_start(h->st, notify_service, h) != 0)
    return 1;
  printf("parley-server listening on %s%s%s:%d\n", o->ipv6 ? "[" : "",
         o->host, o->ipv6 ? "]" : "", port);
  fflush(stdout);
  plog_info(0, "listening on %s%s%s:%d db=%s", o->ipv6 ? "[" : "", o->host,
            o->ipv6 ? "]" : "", port, o->db);

  while (!h->fatal) {
    if (lws_service(h->lws, 0) < 0) {
      plog_error(0, "lws: the service loop failed");
      return 1;
    }
    if (h->draining && host_drained(h))
      break;
    if (h->draining && host_now_ms() >= h->drain_deadline_ms) {
      plog_warn(0, "drain: gave up waiting after %d ms", HOST_DRAIN_MAX_MS);
      break;
    }
  }
  return h->fatal ? 1 : 0;
}

static void log_commit_stats(store *st)
{
  store_stats s;

  store_get_stats(st, &s);
  plog_info(0, "store: %llu commits carried %llu writes; per commit max "
            "%llu, mean %.2f",
            (unsigned long long)s.commits, (unsigned long long)s.writes,
            (unsigned long long)s.max_batch,
            s.commits ? (double)s.writes / (double)s.commits : 0.0);
}

/* Runs the server. Returns the exit code. */
static int run_server(const options *o)
{
  host h;
  pthread_t sig_thread;
  sigset_t set;
  int rc;

  memset(&h, 0, sizeof h);
  h.token_ttl_ms = o->token_ttl_ms;
  h.queue_max_bytes = HOST_QUEUE_MAX_BYTES;
  h.max_sessions_per_address = o->max_sessions_address;
  h.token_by_address = limiter_new(o->token_rate_address, LIMITER_SLOTS);
  h.token_by_user = limiter_new(o->token_rate_user, LIMITER_SLOTS);
  if (!h.token_by_address || !h.token_by_user) {
    plog_error(0, "out of memory creating the rate limits");
    limiter_free(h.token_by_address);
    limiter_free(h.token_by_user);
    return 1;
  }
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  rc = start_core(&h, o);
  if (rc == 0 && pthread_create(&sig_thread, NULL, signal_main, &h) != 0)
    rc = 1;
  if (rc == 0) {
    rc = serve(&h, o);
    atomic_store(&signal_quit, 1);
    pthread_kill(sig_thread, SIGTERM);
    pthread_join(sig_thread, NULL);
  }
  /* The store stops first: its threads wake the service loop through
   * the context, which must outlive them. Requests still queued are
   * committed; their answers are no longer delivered. */
  store_stop(h.st);
  if (h.st)
    log_commit_stats(h.st);
  if (h.lws) {
    host_free(&h);
    lws_context_destroy(h.lws);
  }
  store_close(h.st);
  parley_server_free(h.core);
  limiter_free(h.token_by_address);
  limiter_free(h.token_by_user);
  sodium_memzero(h.token_sk, sizeof h.token_sk);
  plog_info(0, "stopped (exit %d)", rc);
  return rc;
}

int main(int argc, char **argv)
{
  options o;
  int rc;

  memset(&o, 0, sizeof o);
  strcpy(o.host, "127.0.0.1");
  o.port = 7700;
  o.db = DEFAULT_DB;
  o.log_level = PARLEY_LOG_INFO;
  o.heartbeat_min_ms = HEARTBEAT_FLOOR_MS;
  o.token_ttl_ms = DEFAULT_TOKEN_TTL_MS;
  o.token_rate_address = DEFAULT_TOKEN_RATE_ADDRESS;
  o.token_rate_user = DEFAULT_TOKEN_RATE_USER;
  o.max_sessions_address = DEFAULT_SESSIONS_ADDRESS;
  o.max_sessions_user = DEFAULT_SESSIONS_USER;
  o.ring_timeout_ms = DEFAULT_RING_TIMEOUT_MS;
  o.call_grace_ms = DEFAULT_CALL_GRACE_MS;
  if ((rc = parse_args(argc, argv, &o)) >= 0)
    return rc;
#ifdef PARLEY_FAULTS
  if (o.fault_list) {
    print_faults();
    return 0;
  }
#endif
  if (!o.command && !o.allow_plaintext && !listen_is_loopback(&o))
    return bad_flag("--listen", "this server has no TLS: serve on a "
                                "loopback address, or give "
                                "--allow-plaintext and put TLS in front "
                                "of it");
  /* The database holds the token signing key and password hashes: files
   * this process creates are for its own user only (SEC-8). */
  umask(077);
  plog_setup(o.log_level, o.log_json);
  if (sodium_init() < 0) {
    fprintf(stderr, "parley-server: libsodium failed to start\n");
    return 1;
  }
  if (o.command)
    return run_command(&o);
  return run_server(&o);
}
