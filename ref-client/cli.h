/* The parsed command line of parley-client and the commands. */
#ifndef PARLEY_CLIENT_CLI_H
#define PARLEY_CLIENT_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "app.h"

typedef struct cli {
  app_opts app;
  const char *command;
  const char *conv;
  const char *with;
  const char *group;
  const char *members;
  const char *output;
  uint64_t count;       /* 0: no --count */
  uint64_t timeout_ms;  /* 0: no --timeout-ms */
  char **texts;         /* send: the words after the options */
  int text_count;
  /* call and answer (spec section 19) */
  const char *peer;     /* call: the user called */
  const char *from;     /* answer --from: only RINGs from this user */
  const char *input;    /* WAV to play */
  const char *report;   /* JSON quality report */
  const char *stun, *turn, *turn_user, *turn_password;
  const char *advertise_fingerprint;
  uint64_t duration_ms; /* 0: input + 1 s tail (call), to the end (answer) */
  uint64_t answer_timeout_ms;
  uint64_t mute_after_ms; /* 0: never mute */
  uint32_t loss_hint;   /* percent */
  bool loss_hint_set;
  bool relay_only;
  bool no_fec;
} cli;

int cmd_create(const cli *c, volatile int *stop);
int cmd_conversations(const cli *c, volatile int *stop);
int cmd_history(const cli *c, volatile int *stop);
int cmd_send(const cli *c, volatile int *stop);
int cmd_listen(const cli *c, volatile int *stop);
int cmd_driver(const cli *c, volatile int *stop);
int cmd_call(const cli *c, volatile int *stop);
int cmd_answer(const cli *c, volatile int *stop);
/* Checks the options of call and answer. Returns an exit code. */
int cli_check_call(const cli *c);

/* True when the URL's host is a loopback one (SEC-17). */
bool cli_url_is_loopback(const net_url *u);

#endif
