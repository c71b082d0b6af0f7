/* What every command of parley-client shares: the options, the local
 * store, the network layer, the token, HTTP API calls with retries, and
 * the loop that runs the client core. */
#ifndef PARLEY_CLIENT_APP_H
#define PARLEY_CLIENT_APP_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "net.h"
#include "parley/client.h"
#include "store.h"

/* Exit codes. */
#define EXIT_OK 0
#define EXIT_FAIL 1  /* the server refused, could not be reached, ... */
#define EXIT_USAGE 2 /* bad command line */

typedef struct app_opts {
  const char *server;
  net_url url;
  const char *user;
  const char *password_file;
  const char *password; /* given directly (the driver); wins over the file */
  const char *device;  /* NULL: the store's own */
  const char *db;      /* NULL: the default path */
  uint32_t connect_timeout_ms; /* 0: wait forever */
  uint32_t heartbeat_ms;
  uint32_t backoff_base_ms;
  uint32_t backoff_cap_ms;
  uint32_t send_window;  /* SENDs awaiting ACK at once; 0: the core's */
  bool calls;            /* the command runs calls: capability `calls` */
  bool verbose;
  bool allow_plaintext; /* http:// to a host that is not loopback */
} app_opts;

typedef struct app app;

/* What a command plugs into the core loop. Every hook may be NULL. */
typedef struct app_hooks {
  void *ud;
  /* A message was stored; show it. Returns false on a fatal error. */
  bool (*on_msg)(void *ud, app *a, const parley_msg *m);
  /* Any application event of the core. */
  void (*on_event)(void *ud, app *a, const parley_client_action *act);
  /* After every batch of actions; returns true when the command is done. */
  bool (*done)(void *ud, app *a);
} app_hooks;

struct app {
  app_opts opts;
  char server[300];     /* --server in its one spelling (net_url_format) */
  char password[1024];
  char device[PARLEY_ID_MAX + 1];
  char db_path[4096];
  char lock_path[4096 + 8];
  int lock_fd;          /* holds the store's lock; -1 when none */
  bool store_created;   /* this run created the store file */
  bool signed_in;       /* a token was got or checked in this run */
  bool password_hashed; /* the store holds a hash of this password */
  char token[PARLEY_TOKEN_MAX + 1];
  uint64_t token_expires_ms;
  store *store;
  net *net;
  parley_client *core;
  const char *job;      /* OUTBOX_ADD rows belong to this send job */
  app_hooks hooks;
  bool busy;            /* inside the core pump */
  bool txn;             /* a store transaction of the action batch */
  bool need_token;
  bool refresh_token;
  bool host_due;        /* the host timer fired */
  bool ready;
  bool reconnect_forever; /* the command persists after a session */
  bool had_session;       /* READY at least once in this run */
  bool persist;           /* past the first session: never give up */
  bool warned_unreachable; /* the first failure was reported */
  uint64_t unready_since; /* when READY was last lost (or start) */
  parley_err last_err;
  char net_err[128];      /* why the last connection failed */
  int exit_code;
  bool finished;
  uint64_t run_deadline_ms; /* 0: none; app_core_run ends there */
  bool timed_out;           /* it ended because of run_deadline_ms */
  volatile int *stop_flag;
  /* Set by a command after app_open, may be NULL: called once per turn
   * of app_core_run's loop, outside any callback, with hooks.ud, for the
   * command's own input (the driver's commands). It may call into the
   * core and then app_core_actions; network events raised meanwhile wait
   * in the queue for their turn. */
  void (*service)(void *ud, app *a);
};

/* The network layer of the open app, for a signal handler to wake. */
extern net *volatile app_wake_net;

/* Reads the password, takes the store's lock, opens the store and the
 * network layer. Returns an exit code: EXIT_OK, or the failure after
 * printing why. app_close must follow either way. */
int app_open(app *a, const app_opts *o, volatile int *stop_flag);
/* Closes everything app_open opened. A store this run created is removed
 * again when the run never signed in, so a failed first run leaves no
 * files behind. */
void app_close(app *a);

/* Makes sure a token is at hand: the cached one while it is valid and
 * the store's hash of the password matches the password given, else a
 * new one from POST /v1/auth/token; `force` drops the cached one.
 * Retries an unreachable server until the connect timeout. Returns an
 * exit code after printing why on failure. */
int app_token(app *a, bool force);

/* Calls the HTTP API with the token; a 401 gets one new token and one
 * retry, an unreachable server is retried until the connect timeout.
 * On EXIT_OK, *status is the HTTP status and *out the JSON body (or
 * NULL). */
int app_api(app *a, const char *method, const char *path, json_t *body,
            int *status, json_t **out);

/* Prints the API error in a reply to standard error. */
void app_api_error(const char *what, int status, json_t *reply);

/* Looks up `conv` (GET /v1/conversations/ID) so a wrong id fails early
 * with the not-found message, and hands its members to the store and
 * the core (when it is open). Returns an exit code. */
int app_check_conv(app *a, const char *conv);

/* Reports, once per outage, that the server cannot be reached (warn),
 * with `why` and how long the command goes on trying. */
void app_warn_unreachable(app *a, const char *why);
/* Ends an outage that was reported: one warn line saying the server
 * answers again. */
void app_note_reachable(app *a);
/* The final message when the command gives up on the server. */
void app_gave_up(app *a, const char *why);

/* Creates the core and feeds it the store. Returns an exit code. */
int app_core_open(app *a);
/* Runs the core until hooks->done says so, a signal stops it, or the
 * server stays unreachable past the connect timeout. Returns an exit
 * code. */
int app_core_run(app *a, const app_hooks *hooks);

/* Carries out the actions the core has queued (for intents given before
 * app_core_run, such as parley_client_send). Returns false when a store
 * write failed (the reason was printed). */
bool app_core_actions(app *a);

/* The handler app_open gives the network layer (loop.c). */
void app_net_event(void *ud, net_event_kind kind, uint64_t id,
                   const char *data, size_t len);

/* Drops network events still queued for the core. */
void app_queue_clear(void);

/* Escapes text for one output line (backslash, control characters) into
 * a malloc'd string. */
char *app_escape(const char *text, size_t len);

#endif
