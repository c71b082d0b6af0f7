/* Set-up shared by the commands: password, local store, device id,
 * network layer, token and HTTP API calls (spec section 12).
 *
 * An unreachable server is retried with the same full-jitter backoff the
 * core uses, until --connect-timeout-ms has passed since the first try;
 * then the command stops with a message naming the server. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

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

  if (a->opts.password_file != NULL) {
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

/* Checks that the store belongs to this user and server, and picks the
 * device id: --device, else the stored one, else a new random one. */
static int bind_store(app *a)
{
  char v[512];
  uint8_t rnd[8];

  if (store_meta_get(a->store, "user", v, sizeof v) &&
      strcmp(v, a->opts.user) != 0) {
    fprintf(stderr, "parley-client: --db %s belongs to user %s, not %s\n",
            a->db_path, v, a->opts.user);
    return EXIT_USAGE;
  }
  if (store_meta_get(a->store, "server", v, sizeof v) &&
      strcmp(v, a->opts.server) != 0) {
    fprintf(stderr, "parley-client: --db %s belongs to server %s\n",
            a->db_path, v);
    return EXIT_USAGE;
  }
  if (!store_meta_set(a->store, "user", a->opts.user) ||
      !store_meta_set(a->store, "server", a->opts.server))
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

net *volatile app_wake_net;

int app_open(app *a, const app_opts *o, volatile int *stop_flag)
{
  char err[512];
  int rc;

  memset(a, 0, sizeof *a);
  a->opts = *o;
  a->stop_flag = stop_flag;
  if ((rc = read_password(a)) != EXIT_OK || (rc = pick_db_path(a)) != EXIT_OK)
    return rc;
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
  memset(a->password, 0, sizeof a->password);
}

/* One HTTP call, retried while the server cannot be reached, until the
 * connect timeout. Returns 0 with *reply filled, or -1 after printing. */
static int http_retry(app *a, const char *method, const char *path,
                      const char *bearer, const char *body,
                      net_reply *reply)
{
  uint64_t start = net_now_ms(), now;
  uint64_t rng = start ^ (uint64_t)(uintptr_t)a;
  uint32_t attempt = 0, delay;

  for (;;) {
    if (net_http(a->net, method, path, bearer, body, HTTP_TRY_MS, reply) ==
        0)
      return 0;
    now = net_now_ms();
    if (now - start >= a->opts.connect_timeout_ms ||
        (a->stop_flag != NULL && *a->stop_flag)) {
      fprintf(stderr, "parley-client: cannot reach the server at %s"
                      " (gave up after %u ms)\n", a->opts.server,
              a->opts.connect_timeout_ms);
      return -1;
    }
    delay = parley_client_backoff_ms(&rng, attempt++, a->opts.backoff_base_ms,
                                     a->opts.backoff_cap_ms);
    if (now + delay > start + a->opts.connect_timeout_ms)
      delay = (uint32_t)(start + a->opts.connect_timeout_ms - now);
    plog_info(0, "server unreachable; retrying in %u ms", delay);
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

/* Fetches a new token with the password and caches it in the store. */
static int fetch_token(app *a)
{
  json_t *req = json_pack("{s:s, s:s}", "user", a->opts.user, "password",
                          a->password);
  char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
  net_reply reply;
  json_t *js = NULL;
  const char *tok;
  char exp[32];
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
  snprintf(exp, sizeof exp, "%llu", (unsigned long long)a->token_expires_ms);
  if (store_meta_set(a->store, "token", a->token) &&
      store_meta_set(a->store, "token_expires_ms", exp))
    rc = EXIT_OK;

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
  }
  if (a->token[0] != '\0' && a->token_expires_ms > now + TOKEN_SLACK_MS)
    return EXIT_OK;
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
