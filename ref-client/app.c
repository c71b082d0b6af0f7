/* Set-up shared by the commands: password, local store, device id,
 * network layer, token and HTTP API calls (spec section 12).
 *
 * The local store holds the bearer token and the messages, so it is
 * private to its user (0600, see store.c) and used by one process at a
 * time: app_open takes an exclusive lock on PATH.lock for the life of
 * the process, and a second parley-client on the same store stops at
 * once. A store created by a run that never signed in is removed again
 * by app_close, lock file included, so a mistyped password or server
 * leaves nothing behind.
 *
 * The cached token is used only by the password it was got with: the
 * store keeps an Argon2id hash of that password (crypto_pwhash_str,
 * interactive limits), and a password that does not match it signs in
 * again, which a wrong password fails.
 *
 * An unreachable server is reported at once (warn) and retried with the
 * same full-jitter backoff the core uses, until --connect-timeout-ms has
 * passed since the first try (0: for ever); then the command stops with
 * a message naming the server and the last error. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "app.h"
#include "log.h"

#define TOKEN_SLACK_MS 60000
#define HTTP_TRY_MS 10000

/* Reads the first line of the password file, or PARLEY_PASSWORD. */
static int read_password(app *a)
{
  const char *env = getenv("PARLEY_PASSWORD");
  FILE *f;
  size_t n;

  if (a->opts.password != NULL) {
    snprintf(a->password, sizeof a->password, "%s", a->opts.password);
  } else if (a->opts.password_file != NULL) {
    f = fopen(a->opts.password_file, "r");
    if (f == NULL) {
      fprintf(stderr, "parley-client: --password-file %s: %s\n",
              a->opts.password_file, strerror(errno));
      return EXIT_USAGE;
    }
    if (fgets(a->password, sizeof a->password, f) == NULL)
      a->password[0] = '\0';
    fclose(f);
  } else if (env != NULL) {
    snprintf(a->password, sizeof a->password, "%s", env);
  } else {
    fprintf(stderr, "parley-client: no password: give --password-file FILE"
                    " or set PARLEY_PASSWORD\n");
    return EXIT_USAGE;
  }
  n = strlen(a->password);
  while (n > 0 && (a->password[n - 1] == '\n' || a->password[n - 1] == '\r'))
    a->password[--n] = '\0';
  return EXIT_OK;
}

/* Creates every missing directory above `path`. */
static void make_parents(char *path)
{
  char *p;

  for (p = strchr(path + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
    *p = '\0';
    mkdir(path, 0700);
    *p = '/';
  }
}

static int pick_db_path(app *a)
{
  const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");

  if (a->opts.db != NULL) {
    snprintf(a->db_path, sizeof a->db_path, "%s", a->opts.db);
    return EXIT_OK;
  }
  if (xdg != NULL && xdg[0] == '/')
    snprintf(a->db_path, sizeof a->db_path, "%s/parley/%s.db", xdg,
             a->opts.user);
  else if (home != NULL && home[0] == '/')
    snprintf(a->db_path, sizeof a->db_path,
             "%s/.local/share/parley/%s.db", home, a->opts.user);
  else {
    fprintf(stderr, "parley-client: no HOME; give --db PATH\n");
    return EXIT_USAGE;
  }
  make_parents(a->db_path);
  return EXIT_OK;
}

/* True when the stored server URL names the server of this run: both
 * are compared in their one spelling (net_url_format), so a trailing
 * slash, an upper-case host or a default port written out differ in
 * nothing. */
static bool same_server(const app *a, const char *stored)
{
  net_url url;
  char norm[sizeof a->server];

  if (!net_url_parse(stored, &url))
    return strcmp(stored, a->server) == 0;
  net_url_format(&url, norm, sizeof norm);
  return strcmp(norm, a->server) == 0;
}

/* Checks that the store belongs to this user and server, and picks the
 * device id: --device, else the stored one, else a new random one. */
static int bind_store(app *a)
{
  char v[512];
  uint8_t rnd[8];

  if (store_meta_get(a->store, "user", v, sizeof v) &&
      strcmp(v, a->opts.user) != 0) {
    fprintf(stderr, "parley-client: the local store %s belongs to user %s,"
                    " not %s; give --db PATH to use another store\n",
            a->db_path, v, a->opts.user);
    return EXIT_USAGE;
  }
  if (store_meta_get(a->store, "server", v, sizeof v) &&
      !same_server(a, v)) {
    fprintf(stderr, "parley-client: the local store %s belongs to the"
                    " server %s, not %s; give --db PATH to use another"
                    " store for this server\n", a->db_path, v, a->server);
    return EXIT_USAGE;
  }
  if (!store_meta_set(a->store, "user", a->opts.user) ||
      !store_meta_set(a->store, "server", a->server))
    return EXIT_FAIL;
  if (a->opts.device != NULL) {
    snprintf(a->device, sizeof a->device, "%s", a->opts.device);
  } else if (!store_meta_get(a->store, "device", a->device,
                             sizeof a->device)) {
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
      return EXIT_FAIL;
    snprintf(a->device, sizeof a->device, "d%02x%02x%02x%02x%02x%02x%02x%02x",
             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    if (!store_meta_set(a->store, "device", a->device))
      return EXIT_FAIL;
  }
  return EXIT_OK;
}

/* Takes the exclusive lock of the store for the life of the process
 * (the kernel drops it when the process ends, however it ends). The lock
 * file is checked to still be the one at its path once locked: a failed
 * first run removes it (app_close) while holding the lock, and a run
 * that opened it just before must not keep a lock on a removed file.
 * Returns an exit code. */
static int lock_store(app *a)
{
  struct stat held, named;
  int fd;

  snprintf(a->lock_path, sizeof a->lock_path, "%s.lock", a->db_path);
  for (;;) {
    fd = open(a->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      fprintf(stderr, "parley-client: the local store's lock %s: %s\n",
              a->lock_path, strerror(errno));
      return EXIT_FAIL;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK)
        fprintf(stderr, "parley-client: the local store %s is in use by"
                        " another parley-client\n", a->db_path);
      else
        fprintf(stderr, "parley-client: locking %s: %s\n", a->lock_path,
                strerror(errno));
      close(fd);
      return EXIT_FAIL;
    }
    if (fstat(fd, &held) == 0 && stat(a->lock_path, &named) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
      a->lock_fd = fd;
      return EXIT_OK;
    }
    close(fd); /* removed or replaced meanwhile: lock the new one */
  }
}

net *volatile app_wake_net;

int app_open(app *a, const app_opts *o, volatile int *stop_flag)
{
  char err[512];
  struct stat sb;
  int rc;

  memset(a, 0, sizeof *a);
  a->opts = *o;
  a->stop_flag = stop_flag;
  a->lock_fd = -1;
  net_url_format(&o->url, a->server, sizeof a->server);
  if (sodium_init() < 0) {
    fprintf(stderr, "parley-client: libsodium did not start\n");
    return EXIT_FAIL;
  }
  if ((rc = read_password(a)) != EXIT_OK ||
      (rc = pick_db_path(a)) != EXIT_OK || (rc = lock_store(a)) != EXIT_OK)
    return rc;
  a->store_created = stat(a->db_path, &sb) != 0 && errno == ENOENT;
  a->store = store_open(a->db_path, err, sizeof err);
  if (a->store == NULL) {
    fprintf(stderr, "parley-client: local store %s\n", err);
    return EXIT_FAIL;
  }
  if ((rc = bind_store(a)) != EXIT_OK) {
    if (rc == EXIT_FAIL)
      fprintf(stderr, "parley-client: local store: %s\n",
              store_error(a->store));
    return rc;
  }
  a->net = net_new(&a->opts.url, app_net_event, a, a->opts.verbose);
  if (a->net == NULL) {
    fprintf(stderr, "parley-client: libwebsockets did not start\n");
    return EXIT_FAIL;
  }
  app_wake_net = a->net;
  return EXIT_OK;
}

/* Removes the files of a store this run created but never signed in
 * with, the lock file last (the lock is still held). */
static void remove_new_store(app *a)
{
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  char path[sizeof a->db_path + 16];
  size_t i;

  for (i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    snprintf(path, sizeof path, "%s%s", a->db_path, suffixes[i]);
    unlink(path);
  }
  unlink(a->lock_path);
}

void app_close(app *a)
{
  parley_client *core = a->core;

  app_wake_net = NULL;
  a->core = NULL; /* events raised while the network closes only queue */
  net_free(a->net);
  a->net = NULL;
  app_queue_clear();
  parley_client_free(core);
  store_close(a->store);
  a->store = NULL;
  if (a->lock_fd >= 0) {
    if (a->store_created && !a->signed_in)
      remove_new_store(a);
    close(a->lock_fd);
    a->lock_fd = -1;
  }
  sodium_memzero(a->password, sizeof a->password);
}

/* Writes a duration for people: "30 s", "1.5 s". */
static void format_seconds(uint32_t ms, char *out, size_t cap)
{
  if (ms % 1000 == 0)
    snprintf(out, cap, "%u s", (unsigned)(ms / 1000));
  else
    snprintf(out, cap, "%.1f s", ms / 1000.0);
}

/* The time an outage may last before the command gives up; 0: none. */
static uint32_t give_up_ms(const app *a)
{
  return a->persist ? 0 : a->opts.connect_timeout_ms;
}

void app_warn_unreachable(app *a, const char *why)
{
  char secs[32];

  if (a->warned_unreachable)
    return;
  a->warned_unreachable = true;
  format_seconds(give_up_ms(a), secs, sizeof secs);
  if (give_up_ms(a) == 0)
    plog_warn(0, "cannot reach %s: %s; retrying until it answers",
              a->server, why);
  else
    plog_warn(0, "cannot reach %s: %s; retrying for up to %s", a->server,
              why, secs);
}

void app_note_reachable(app *a)
{
  if (a->warned_unreachable)
    plog_warn(0, "connected to %s%s", a->server,
              a->had_session ? " again" : "");
  a->warned_unreachable = false;
}

void app_gave_up(app *a, const char *why)
{
  char secs[32];

  format_seconds(a->opts.connect_timeout_ms, secs, sizeof secs);
  fprintf(stderr, "parley-client: cannot reach %s: %s (gave up after %s)\n",
          a->server, why, secs);
}

/* One HTTP call, retried while the server cannot be reached, until the
 * connect timeout (never, when it is 0 or the command persists). Returns
 * 0 with *reply filled, or -1 after printing why (quietly when a signal
 * stopped it). */
static int http_retry(app *a, const char *method, const char *path,
                      const char *bearer, const char *body,
                      net_reply *reply)
{
  uint64_t start = net_now_ms(), now, limit = give_up_ms(a);
  uint64_t rng = start ^ (uint64_t)(uintptr_t)a;
  uint32_t attempt = 0, delay;

  for (;;) {
    if (net_http(a->net, method, path, bearer, body, HTTP_TRY_MS, reply) ==
        0) {
      app_note_reachable(a);
      return 0;
    }
    if (a->stop_flag != NULL && *a->stop_flag)
      return -1;
    app_warn_unreachable(a, reply->error);
    now = net_now_ms();
    if (limit != 0 && now - start >= limit) {
      app_gave_up(a, reply->error);
      return -1;
    }
    delay = parley_client_backoff_ms(&rng, attempt++, a->opts.backoff_base_ms,
                                     a->opts.backoff_cap_ms);
    if (limit != 0 && now + delay > start + limit)
      delay = (uint32_t)(start + limit - now);
    plog_info(0, "server unreachable (%s); retrying in %u ms", reply->error,
              delay);
    net_sleep(a->net, delay);
  }
}

void app_api_error(const char *what, int status, json_t *reply)
{
  json_t *err = reply ? json_object_get(reply, "error") : NULL;
  const char *reason = json_string_value(json_object_get(err, "reason"));
  const char *msg = json_string_value(json_object_get(err, "message"));

  fprintf(stderr, "parley-client: %s: HTTP %d%s%s%s%s\n", what, status,
          reason ? " " : "", reason ? reason : "", msg ? ": " : "",
          msg ? msg : "");
}

/* True when the store's hash of the password it signed in with matches
 * the password given. */
static bool password_matches(app *a)
{
  char hash[crypto_pwhash_STRBYTES];

  return store_meta_get(a->store, "password_hash", hash, sizeof hash) &&
         crypto_pwhash_str_verify(hash, a->password, strlen(a->password)) ==
             0;
}

/* Caches the token and, once per run, the hash of the password it was
 * got with, in one transaction. Returns false when the store failed. */
static bool keep_token(app *a)
{
  char exp[32], hash[crypto_pwhash_STRBYTES] = "";
  bool hashed = a->password_hashed;

  if (!hashed)
    hashed = crypto_pwhash_str(hash, a->password, strlen(a->password),
                               crypto_pwhash_OPSLIMIT_INTERACTIVE,
                               crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0;
  snprintf(exp, sizeof exp, "%llu", (unsigned long long)a->token_expires_ms);
  if (!store_begin(a->store))
    return false;
  if (!store_meta_set(a->store, "token", a->token) ||
      !store_meta_set(a->store, "token_expires_ms", exp) ||
      (!hashed && !store_meta_del(a->store, "password_hash")) ||
      (hash[0] != '\0' &&
       !store_meta_set(a->store, "password_hash", hash))) {
    store_rollback(a->store);
    return false;
  }
  if (!store_commit(a->store))
    return false;
  a->password_hashed = hashed;
  return true;
}

/* Fetches a new token with the password and caches it in the store. */
static int fetch_token(app *a)
{
  json_t *req = json_pack("{s:s, s:s}", "user", a->opts.user, "password",
                          a->password);
  char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
  net_reply reply;
  json_t *js = NULL;
  const char *tok;
  int rc = EXIT_FAIL;

  json_decref(req);
  if (body == NULL || http_retry(a, "POST", "/v1/auth/token", NULL, body,
                                 &reply) != 0)
    goto done_body;
  js = json_loads(reply.body, 0, NULL);
  tok = json_string_value(json_object_get(js, "token"));
  if (reply.status != 200 || tok == NULL ||
      strlen(tok) > PARLEY_TOKEN_MAX) {
    app_api_error(reply.status == 401 ? "sign-in refused (wrong user name or"
                                        " password)" : "sign-in",
                  reply.status, js);
    goto done_reply;
  }
  snprintf(a->token, sizeof a->token, "%s", tok);
  a->token_expires_ms =
      (uint64_t)json_integer_value(json_object_get(js, "expires_ms"));
  a->signed_in = true;
  if (keep_token(a))
    rc = EXIT_OK;
  else
    fprintf(stderr, "parley-client: local store %s: %s\n", a->db_path,
            store_error(a->store));

done_reply:
  json_decref(js);
  net_reply_free(&reply);
done_body:
  free(body);
  return rc;
}

int app_token(app *a, bool force)
{
  char exp[32];
  uint64_t now = net_now_ms();

  if (force) {
    store_meta_del(a->store, "token");
    a->token[0] = '\0';
  } else if (a->token[0] == '\0' &&
             store_meta_get(a->store, "token", a->token, sizeof a->token) &&
             store_meta_get(a->store, "token_expires_ms", exp, sizeof exp)) {
    a->token_expires_ms = strtoull(exp, NULL, 10);
    if (password_matches(a)) {
      a->password_hashed = true;
    } else {
      plog_info(0, "the password is not the one the stored token was got"
                   " with; signing in again");
      a->token[0] = '\0';
    }
  }
  if (a->token[0] != '\0' && a->token_expires_ms > now + TOKEN_SLACK_MS) {
    a->signed_in = true;
    return EXIT_OK;
  }
  return fetch_token(a);
}

int app_api(app *a, const char *method, const char *path, json_t *body,
            int *status, json_t **out)
{
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  net_reply reply;
  int rc, tries;

  *out = NULL;
  for (tries = 0; tries < 2; tries++) {
    if ((rc = app_token(a, tries > 0)) != EXIT_OK)
      break;
    rc = EXIT_FAIL;
    if (http_retry(a, method, path, a->token, text, &reply) != 0)
      break;
    *status = reply.status;
    if (reply.status == 401 && tries == 0) {
      net_reply_free(&reply);
      continue; /* the cached token was refused: one new one */
    }
    *out = reply.len ? json_loads(reply.body, 0, NULL) : NULL;
    net_reply_free(&reply);
    rc = EXIT_OK;
    break;
  }
  free(text);
  return rc;
}

int app_check_conv(app *a, const char *conv)
{
  char path[256];
  json_t *reply = NULL, *m;
  const char *names[PARLEY_MEMBERS_MAX];
  int status = 0, rc;
  size_t i, n = 0;

  snprintf(path, sizeof path, "/v1/conversations/%s", conv);
  if ((rc = app_api(a, "GET", path, NULL, &status, &reply)) != EXIT_OK)
    return rc;
  if (status != 200) {
    app_api_error(status == 404 ? "no such conversation (or not a member)"
                                : "conversation", status, reply);
    json_decref(reply);
    return EXIT_FAIL;
  }
  json_array_foreach(json_object_get(reply, "members"), i, m)
    if (json_is_string(m) && n < PARLEY_MEMBERS_MAX)
      names[n++] = json_string_value(m);
  if (n > 0 && (!store_members(a->store, conv, names, n) ||
                (a->core != NULL &&
                 parley_client_set_members(a->core, conv, names, n) !=
                     PARLEY_OK)))
    rc = EXIT_FAIL;
  json_decref(reply);
  return rc;
}

char *app_escape(const char *text, size_t len)
{
  char *out = malloc(len * 4 + 1);
  size_t i, n = 0;

  if (out == NULL)
    return NULL;
  for (i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)text[i];
    if (ch == '\\') {
      out[n++] = '\\';
      out[n++] = '\\';
    } else if (ch == '\n') {
      out[n++] = '\\';
      out[n++] = 'n';
    } else if (ch == '\r' || ch == '\t' || ch < 0x20 || ch == 0x7f) {
      n += (size_t)sprintf(out + n, "\\x%02x", ch);
    } else {
      out[n++] = (char)ch;
    }
  }
  out[n] = '\0';
  return out;
}
