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
} cli;

int cmd_create(const cli *c, volatile int *stop);
int cmd_conversations(const cli *c, volatile int *stop);
int cmd_history(const cli *c, volatile int *stop);
int cmd_send(const cli *c, volatile int *stop);
int cmd_listen(const cli *c, volatile int *stop);
int cmd_driver(const cli *c, volatile int *stop);

/* True when the URL's host is a loopback one (SEC-17). */
bool cli_url_is_loopback(const net_url *u);

#endif
