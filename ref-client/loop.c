/* The loop that runs the client core over the network layer and the
 * local store.
 *
 * Network events are queued and fed to the core one at a time; after each
 * one every action the core queued is carried out, in order, before the
 * next event: store writes are committed before anything that depends on
 * them (a POS after its MSGs, a SEND after its OUTBOX_ADD). An event that
 * libwebsockets raises while an action runs (a connect failing at once)
 * waits in the queue, so the core is never entered twice. A store write
 * that fails ends the command: the core would otherwise believe something
 * is stored that is not.
 *
 * Outages: a command gives up when it has not been connected for
 * --connect-timeout-ms (0: never); `listen` gives up only before its
 * first session and afterwards reconnects for as long as it runs. Without
 * --verbose an outage shows as one warn line when it starts (the
 * connection lost, or the server not reached at all) and one when the
 * connection is back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "app.h"
#include "log.h"

#define STOP_GRACE_MS 1000

typedef struct queued {
  struct queued *next;
  net_event_kind kind;
  uint64_t id;
  size_t len;
  char data[];
} queued;

static queued *q_head, *q_tail;

static void pump(app *a);
static void run_actions(app *a);

/* The network layer's handler: queues the event and feeds the core when
 * it is not already being fed. */
void app_net_event(void *ud, net_event_kind kind, uint64_t id,
                   const char *data, size_t len)
{
  app *a = ud;
  queued *q = malloc(sizeof *q + len + 1);

  if (q == NULL) {
    plog_error(0, "out of memory");
    a->exit_code = EXIT_FAIL;
    a->finished = true;
    return;
  }
  q->next = NULL;
  q->kind = kind;
  q->id = id;
  q->len = len;
  if (len > 0)
    memcpy(q->data, data, len);
  q->data[len] = '\0';
  if (q_tail != NULL)
    q_tail->next = q;
  else
    q_head = q;
  q_tail = q;
  if (a->core != NULL)
    pump(a);
}

void app_queue_clear(void)
{
  queued *q;

  while ((q = q_head) != NULL) {
    q_head = q->next;
    free(q);
  }
  q_tail = NULL;
}

static void broken_store(app *a)
{
  plog_error(0, "local store %s: %s", a->db_path, store_error(a->store));
  a->exit_code = EXIT_FAIL;
  a->finished = true;
}

/* The time the command gives up when not connected by then; 0: never. */
static uint64_t give_up_at(const app *a)
{
  if (a->ready || a->persist || a->opts.connect_timeout_ms == 0)
    return 0;
  return a->unready_since + a->opts.connect_timeout_ms;
}

/* The connect deadline (and the run deadline) wake the host timer. */
static void arm_host_timer(app *a, uint64_t now)
{
  uint64_t at = give_up_at(a);

  if (a->run_deadline_ms != 0 && (at == 0 || a->run_deadline_ms < at))
    at = a->run_deadline_ms;
  if (at != 0)
    net_timer(a->net, NET_TIMER_HOST, at > now ? at - now : 0);
}

/* Why the last attempt failed, for people. */
static const char *failure_text(const app *a)
{
  if (a->net_err[0] != '\0')
    return a->net_err;
  if (a->last_err != PARLEY_OK && parley_err_reason(a->last_err) != NULL)
    return parley_err_reason(a->last_err);
  return "no answer";
}

/* READY: the end of an outage is worth one line (warn, so it shows
 * without --verbose) when its start was shown. */
static void on_ready(app *a, const parley_client_action *act, uint64_t now)
{
  app_note_reachable(a);
  a->ready = true;
  a->had_session = true;
  a->persist = a->reconnect_forever;
  a->net_err[0] = '\0';
  arm_host_timer(a, now);
  plog_info(0, "ready as %s on device %s", act->user, a->device);
}

/* A session ended or an attempt failed: the first of an outage is
 * shown at warn level. */
static void on_disconnected(app *a, const parley_client_action *act,
                            uint64_t now)
{
  if (act->err != PARLEY_OK)
    a->last_err = act->err;
  if (a->ready) {
    a->ready = false;
    a->unready_since = now;
    arm_host_timer(a, now);
    if (!a->warned_unreachable)
      plog_warn(0, "connection to %s lost; reconnecting", a->server);
    a->warned_unreachable = true;
  } else {
    app_warn_unreachable(a, failure_text(a));
  }
  plog_info(0, "disconnected (%s); next attempt in %u ms",
            act->err ? parley_err_reason(act->err) : failure_text(a),
            act->delay_ms);
}

static void on_core_event(app *a, const parley_client_action *act,
                          uint64_t now)
{
  switch (act->kind) {
  case PARLEY_CLIENT_EV_READY:
    on_ready(a, act, now);
    break;
  case PARLEY_CLIENT_EV_DISCONNECTED:
    on_disconnected(a, act, now);
    break;
  case PARLEY_CLIENT_EV_NEED_TOKEN:
    a->need_token = true;
    break;
  case PARLEY_CLIENT_EV_TOKEN_EXPIRING:
    plog_info(0, "the token expires soon; getting a new one");
    a->refresh_token = true;
    break;
  case PARLEY_CLIENT_EV_ERROR:
    /* rate-limited is routine: the core waits and sends again (RATE-2);
     * going-away is followed by the warn line of the lost connection */
    plog(act->err == PARLEY_E_RATE_LIMITED ? PARLEY_LOG_DEBUG
         : act->err == PARLEY_E_GOING_AWAY ? PARLEY_LOG_INFO
                                           : PARLEY_LOG_WARN, 0,
         "server error %d %s%s%.*s", (int)act->err,
         parley_err_reason(act->err) ? parley_err_reason(act->err) : "",
         act->len ? ": " : "", (int)act->len, act->data ? act->data : "");
    break;
  default:
    break;
  }
  if (a->hooks.on_event != NULL)
    a->hooks.on_event(a->hooks.ud, a, act);
}

/* Store writes of one batch of actions share a transaction (DELIV-6: a
 * pos is stored with the events it follows); it is committed before
 * anything goes out on the network, so what is sent is always stored
 * first (an OUTBOX_ADD before its SEND). */
static bool txn_open(app *a)
{
  if (a->txn)
    return true;
  a->txn = store_begin(a->store);
  return a->txn;
}

static bool txn_close(app *a)
{
  if (!a->txn)
    return true;
  a->txn = false;
  return store_commit(a->store);
}

static bool is_store_write(parley_client_action_kind kind)
{
  return kind == PARLEY_CLIENT_OUTBOX_ADD ||
         kind == PARLEY_CLIENT_OUTBOX_REMOVE || kind == PARLEY_CLIENT_MSG ||
         kind == PARLEY_CLIENT_POS || kind == PARLEY_CLIENT_RECEIPT_STATE;
}

/* Carries out one action. Returns false when the store failed. */
static bool run_action(app *a, const parley_client_action *act, uint64_t now)
{
  if (is_store_write(act->kind) ? !txn_open(a)
                                : (act->kind == PARLEY_CLIENT_CONNECT ||
                                   act->kind == PARLEY_CLIENT_SEND ||
                                   act->kind == PARLEY_CLIENT_CLOSE) &&
                                      !txn_close(a))
    return false;
  switch (act->kind) {
  case PARLEY_CLIENT_CONNECT:
    plog_debug(0, "connecting (connection %llu)",
                  (unsigned long long)act->conn);
    net_ws_connect(a->net, act->conn);
    return true;
  case PARLEY_CLIENT_SEND:
    net_ws_send(a->net, act->conn, act->data, act->len);
    return true;
  case PARLEY_CLIENT_CLOSE:
    net_ws_close(a->net, act->conn, act->ws_code);
    return true;
  case PARLEY_CLIENT_TIMER:
    plog_debug(0, "timer in %lld ms", (long long)(act->at_ms - now));
    net_timer(a->net, NET_TIMER_CORE, act->at_ms > now ? act->at_ms - now : 0);
    return true;
  case PARLEY_CLIENT_OUTBOX_ADD:
    return store_outbox_add(a->store, &act->outbox, a->job);
  case PARLEY_CLIENT_OUTBOX_REMOVE:
    return store_outbox_remove(a->store, act->outbox.temp_id);
  case PARLEY_CLIENT_MSG:
    if (!store_msg(a->store, &act->msg))
      return false;
    return a->hooks.on_msg == NULL || a->hooks.on_msg(a->hooks.ud, a,
                                                      &act->msg);
  case PARLEY_CLIENT_POS:
    return store_pos(a->store, act->pos);
  case PARLEY_CLIENT_RECEIPT_STATE:
    return store_receipt(a->store, &act->receipt);
  default:
    on_core_event(a, act, now);
    return true;
  }
}

bool app_core_actions(app *a)
{
  run_actions(a);
  return !a->finished;
}

/* Drains the core's actions. */
static void run_actions(app *a)
{
  parley_client_action act;
  uint64_t now = net_now_ms();

  while (!a->finished && parley_client_next_action(a->core, &act)) {
    if (!run_action(a, &act, now)) {
      if (store_error(a->store)[0] != '\0') {
        broken_store(a);
      } else {
        a->exit_code = EXIT_FAIL; /* the hook failed and said why */
        a->finished = true;
      }
    }
  }
  if (a->finished) {
    if (a->txn)
      store_rollback(a->store);
    a->txn = false;
  } else if (!txn_close(a)) {
    broken_store(a);
  }
}

static void feed(app *a, const queued *q)
{
  uint64_t now = net_now_ms();

  switch (q->kind) {
  case NET_EV_CONNECTED:
    a->net_err[0] = '\0';
    parley_client_on_connected(a->core, q->id, now);
    break;
  case NET_EV_MESSAGE:
    parley_client_on_message(a->core, q->id, q->data, q->len, now);
    break;
  case NET_EV_DISCONNECTED:
    if (q->len > 0)
      snprintf(a->net_err, sizeof a->net_err, "%s", q->data);
    parley_client_on_disconnected(a->core, q->id, now);
    break;
  case NET_EV_TIMER:
    if (q->id == NET_TIMER_CORE)
      parley_client_on_time(a->core, now);
    else
      a->host_due = true; /* a deadline for housekeeping */
    break;
  }
}

/* lws_service may go on waiting after it ran callbacks; when the main
 * loop has work (a token to get, a deadline, the end), it is woken. */
static void wake_main(app *a)
{
  net_wake(a->net);
}

static void pump(app *a)
{
  queued *q;

  if (a->busy)
    return;
  a->busy = true;
  while ((q = q_head) != NULL) {
    q_head = q->next;
    if (q_head == NULL)
      q_tail = NULL;
    if (!a->finished) {
      feed(a, q);
      run_actions(a);
    }
    free(q);
  }
  a->busy = false;
  if (!a->finished && a->hooks.done != NULL &&
      a->hooks.done(a->hooks.ud, a))
    a->finished = true;
  if (a->finished || a->need_token || a->refresh_token || a->host_due)
    wake_main(a);
}

int app_core_open(app *a)
{
  parley_client_config cfg;
  uint64_t seed = 0;

  memset(&cfg, 0, sizeof cfg);
  if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
    seed = net_now_ms();
  cfg.user = a->opts.user;
  cfg.device = a->device;
  cfg.heartbeat_ms = a->opts.heartbeat_ms;
  cfg.backoff_base_ms = a->opts.backoff_base_ms;
  cfg.backoff_cap_ms = a->opts.backoff_cap_ms;
  cfg.send_window = a->opts.send_window;
  cfg.calls = a->opts.calls;
  cfg.seed = seed;
  a->core = parley_client_new(&cfg);
  if (a->core == NULL) {
    fprintf(stderr, "parley-client: bad --user or --device\n");
    return EXIT_USAGE;
  }
  if (!store_load(a->store, a->core)) {
    fprintf(stderr, "parley-client: local store %s: %s\n", a->db_path,
            store_error(a->store));
    return EXIT_FAIL;
  }
  return EXIT_OK;
}

/* Gets a token for the core (a new one when `force`). */
static bool hand_token(app *a, bool force)
{
  int rc = app_token(a, force);

  if (rc != EXIT_OK) {
    a->exit_code = rc;
    a->finished = true;
    return false;
  }
  parley_client_set_token(a->core, a->token, a->token_expires_ms,
                          net_now_ms());
  run_actions(a);
  return true;
}

/* Says BYE and gives the close a moment to reach the server. */
static void stop_core(app *a)
{
  uint64_t until = net_now_ms() + STOP_GRACE_MS;

  parley_client_stop(a->core, net_now_ms());
  a->finished = false;
  a->hooks.done = NULL;
  run_actions(a);
  while (net_ws_busy(a->net) && net_now_ms() < until)
    net_sleep(a->net, 20);
}

/* One round of the main loop's own work: signals, tokens, deadlines. */
static void housekeeping(app *a)
{
  uint64_t now = net_now_ms();

  a->host_due = false;
  if (a->stop_flag != NULL && *a->stop_flag) {
    a->finished = true;
    return;
  }
  if (a->run_deadline_ms != 0 && now >= a->run_deadline_ms) {
    a->timed_out = true;
    a->finished = true;
    return;
  }
  if (a->need_token) {
    a->need_token = false;
    plog_info(0, "the server refused the token; signing in again");
    hand_token(a, true);
  } else if (a->refresh_token) {
    a->refresh_token = false;
    hand_token(a, true);
  }
  if (!a->finished && give_up_at(a) != 0 && now >= give_up_at(a)) {
    app_gave_up(a, failure_text(a));
    a->exit_code = EXIT_FAIL;
    a->finished = true;
  }
}

int app_core_run(app *a, const app_hooks *hooks)
{
  a->hooks = *hooks;
  a->exit_code = EXIT_OK;
  if (!hand_token(a, false))
    return a->exit_code;
  a->unready_since = net_now_ms();
  arm_host_timer(a, a->unready_since);
  parley_client_start(a->core, net_now_ms());
  run_actions(a);
  pump(a);
  while (!a->finished) {
    net_service(a->net);
    pump(a);
    if (!a->finished && a->service != NULL) {
      a->busy = true; /* events raised meanwhile queue for the pump */
      a->service(a->hooks.ud, a);
      a->busy = false;
      pump(a);
    }
    if (!a->finished)
      housekeeping(a);
  }
  stop_core(a);
  return a->exit_code;
}
