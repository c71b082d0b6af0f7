/* `send`: puts messages in the outbox and runs the core until the server
 * acknowledged all of them (spec section 5).
 *
 * The messages one run was given form a job, named by a digest of the
 * conversation and the texts. The job and all its outbox entries are
 * written in one transaction before anything is sent, so a run killed at
 * any instant either left no trace or left the whole job. A later run
 * given the same job while it is still in the outbox sends nothing new:
 * it resumes the outbox, whose entries keep their temp-ids, and the
 * server answers repeated temp-ids with the first ACK (SEND-3). Once a
 * job is fully acknowledged, the same texts again are a new job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "log.h"

typedef struct text_list {
  char **items;
  size_t *lens;
  size_t count, cap;
} text_list;

static bool add_text(text_list *t, const char *s, size_t len)
{
  if (t->count == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    char **items = realloc(t->items, cap * sizeof *items);
    size_t *lens;
    if (items == NULL)
      return false;
    t->items = items;
    lens = realloc(t->lens, cap * sizeof *lens);
    if (lens == NULL)
      return false;
    t->lens = lens;
    t->cap = cap;
  }
  if ((t->items[t->count] = malloc(len + 1)) == NULL)
    return false;
  memcpy(t->items[t->count], s, len);
  t->items[t->count][len] = '\0';
  t->lens[t->count++] = len;
  return true;
}

static void free_texts(text_list *t)
{
  size_t i;

  for (i = 0; i < t->count; i++)
    free(t->items[i]);
  free(t->items);
  free(t->lens);
}

/* The texts: the words after the options joined by spaces as one
 * message, or else every non-empty line of standard input. */
static bool gather(const cli *c, text_list *t)
{
  char *line = NULL, *joined;
  size_t cap = 0, len = 0;
  ssize_t n;
  int i;
  bool ok = true;

  if (c->text_count > 0) {
    for (i = 0; i < c->text_count; i++)
      len += strlen(c->texts[i]) + 1;
    if ((joined = calloc(1, len + 1)) == NULL)
      return false;
    for (i = 0; i < c->text_count; i++) {
      if (i > 0)
        strcat(joined, " ");
      strcat(joined, c->texts[i]);
    }
    ok = add_text(t, joined, strlen(joined));
    free(joined);
    return ok;
  }
  while (ok && (n = getline(&line, &cap, stdin)) >= 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      n--;
    if (n > 0)
      ok = add_text(t, line, (size_t)n);
  }
  free(line);
  return ok;
}

/* Writes the hex BLAKE2b digest of the conversation and the texts. */
static void job_digest(const char *conv, const text_list *t, char out[65])
{
  crypto_generichash_state st;
  unsigned char h[32];
  uint64_t n;
  size_t i;

  crypto_generichash_init(&st, NULL, 0, sizeof h);
  crypto_generichash_update(&st, (const unsigned char *)conv,
                            strlen(conv) + 1);
  for (i = 0; i < t->count; i++) {
    n = t->lens[i];
    crypto_generichash_update(&st, (const unsigned char *)&n, sizeof n);
    crypto_generichash_update(&st, (const unsigned char *)t->items[i],
                              t->lens[i]);
  }
  crypto_generichash_final(&st, h, sizeof h);
  sodium_bin2hex(out, 65, h, sizeof h);
}

/* Checks every text before anything touches the store or the network:
 * each must be UTF-8 and fit in a SEND (SEND-10). Returns an exit code
 * after saying which message is wrong. */
static int check_texts(const text_list *t)
{
  size_t i;

  for (i = 0; i < t->count; i++) {
    if (!parley_utf8_valid(t->items[i], t->lens[i], NULL)) {
      fprintf(stderr, "parley-client: message %zu is not valid UTF-8;"
                      " messages are UTF-8 text\n", i + 1);
      return EXIT_USAGE;
    }
    if (t->lens[i] > PARLEY_BODY_MAX) {
      fprintf(stderr, "parley-client: message %zu is %zu bytes long; a"
                      " message may have at most %u bytes\n", i + 1,
              t->lens[i], (unsigned)PARLEY_BODY_MAX);
      return EXIT_USAGE;
    }
  }
  return EXIT_OK;
}

/* Puts the job in the outbox in one transaction, unless it is there
 * already. Returns an exit code. */
static int enqueue(app *a, const char *conv, const text_list *t,
                   const char *digest)
{
  int state;
  size_t i;
  parley_err err;

  if (!store_job_state(a->store, digest, &state))
    return EXIT_FAIL;
  if (state == 0) {
    plog_info(0, "resuming the same send from the outbox");
    return EXIT_OK;
  }
  a->job = digest;
  if (!store_begin(a->store) ||
      !store_job_start(a->store, digest, net_now_ms()))
    return EXIT_FAIL;
  for (i = 0; i < t->count; i++) {
    err = parley_client_send(a->core, conv, "text/plain", t->items[i],
                             t->lens[i], net_now_ms(), NULL);
    if (err != PARLEY_OK) {
      store_rollback(a->store);
      fprintf(stderr, "parley-client: message %zu: %s\n", i + 1,
              parley_err_message(err));
      return EXIT_USAGE;
    }
    if (!app_core_actions(a)) {
      store_rollback(a->store);
      return EXIT_FAIL;
    }
  }
  return store_commit(a->store) ? EXIT_OK : EXIT_FAIL;
}

typedef struct send_state {
  size_t failed;
} send_state;

static void send_event(void *ud, app *a, const parley_client_action *act)
{
  send_state *st = ud;

  if (act->kind == PARLEY_CLIENT_EV_STATUS &&
      act->status == PARLEY_STATUS_SENT)
    plog_info(0, "acknowledged %s as %s seq %llu", act->outbox.temp_id,
              act->conv, (unsigned long long)act->seq);
  if (act->kind == PARLEY_CLIENT_EV_SEND_FAILED &&
      act->err == PARLEY_E_FRAME_TOO_LARGE) {
    st->failed++;
    fprintf(stderr, "parley-client: a message for %s was not sent: the"
                    " server takes at most %zu bytes\n", act->outbox.conv,
            parley_client_max_body(a->core));
  } else if (act->kind == PARLEY_CLIENT_EV_SEND_FAILED) {
    st->failed++;
    fprintf(stderr, "parley-client: the server refused a message for %s:"
                    " %s\n", act->outbox.conv,
            parley_err_reason(act->err) ? parley_err_reason(act->err)
                                        : "error");
  }
}

static bool send_done(void *ud, app *a)
{
  (void)ud;
  return parley_client_outbox_count(a->core) == 0;
}

int cmd_send(const cli *c, volatile int *stop)
{
  app a;
  text_list t = {0};
  char digest[65];
  send_state st = {0};
  app_hooks hooks = {&st, NULL, send_event, send_done};
  int rc;

  if (sodium_init() < 0 || !gather(c, &t)) {
    free_texts(&t);
    return EXIT_FAIL;
  }
  if ((rc = check_texts(&t)) != EXIT_OK) {
    free_texts(&t);
    return rc;
  }
  if ((rc = app_open(&a, &c->app, stop)) != EXIT_OK ||
      (rc = app_core_open(&a)) != EXIT_OK ||
      (rc = app_check_conv(&a, c->conv)) != EXIT_OK)
    goto done_app;
  job_digest(c->conv, &t, digest);
  if (t.count > 0 && (rc = enqueue(&a, c->conv, &t, digest)) != EXIT_OK) {
    if (rc == EXIT_FAIL)
      fprintf(stderr, "parley-client: local store: %s\n",
              store_error(a.store));
    goto done_app;
  }
  a.job = NULL;
  if (parley_client_outbox_count(a.core) > 0)
    rc = app_core_run(&a, &hooks);
  if (rc == EXIT_OK && st.failed > 0)
    rc = EXIT_FAIL;

done_app:
  app_close(&a);
  free_texts(&t);
  return rc;
}
