/* parley-client: the reference client's command line.
 *
 * Options are checked before anything touches the network or the store:
 * an unknown option, a missing value, a bad number or an option that does
 * not apply to the command gets a message naming it and exit status 2. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"

static volatile int stop_flag;

static const char usage[] =
"usage: parley-client --server URL --user NAME [options] COMMAND ...\n"
"\n"
"Commands:\n"
"  create --with USER            open (or find) the direct conversation\n"
"                                with USER; prints its id\n"
"  create --group TITLE --members A,B\n"
"                                create a group; prints its id\n"
"  send --conv ID [--send-window N] [TEXT...]\n"
"                                send TEXT as one message, or with no TEXT\n"
"                                each line of standard input as a message\n"
"                                (empty lines are skipped). Exits 0 once\n"
"                                the server acknowledged every message.\n"
"                                Messages wait in the local outbox and are\n"
"                                retried across reconnects; running the\n"
"                                same send again with the same --db resumes\n"
"                                it and never sends a message twice.\n"
"                                --send-window: messages awaiting their\n"
"                                acknowledgement at once (default 64).\n"
"  listen [--conv ID] [--output FILE] [--count N] [--timeout-ms T]\n"
"                                print each delivered message once, as\n"
"                                `CONV SEQ FROM: TEXT`; stop after N\n"
"                                messages shown by this run, or after T ms\n"
"  history --conv ID             print the stored history of ID\n"
"\n"
"Options:\n"
"  --server URL                  http://HOST:PORT of the server\n"
"  --user NAME                   the account to sign in as\n"
"  --password-file FILE          read the password from FILE's first line\n"
"                                (else from $PARLEY_PASSWORD)\n"
"  --device ID                   device id (default: one generated once\n"
"                                and kept in the local store)\n"
"  --db PATH                     local store (default:\n"
"                                $XDG_DATA_HOME/parley/NAME.db or\n"
"                                ~/.local/share/parley/NAME.db)\n"
"  --connect-timeout-ms T        give up when not connected for T ms\n"
"                                (default 30000)\n"
"  --heartbeat-ms T              heartbeat interval to ask for (15000)\n"
"  --backoff-base-ms T           reconnect backoff base (250)\n"
"  --backoff-cap-ms T            reconnect backoff cap (30000)\n"
"  --verbose                     log connections and retries\n"
"  --help                        this text\n"
"\n"
"Exactly-once output: with --output FILE, listen appends each line to\n"
"FILE and then records in the local store how far FILE got; on start it\n"
"cuts FILE back to the recorded length and shows again what was not\n"
"recorded. Killed at any instant, it neither repeats nor loses a line.\n"
"On standard output this cannot be exact: a line printed just before a\n"
"kill may be printed again by the next run.\n"
"\n"
"Text in output lines is escaped: a backslash as \\\\, a newline as \\n,\n"
"other control characters as \\xNN.\n"
"\n"
"Exit status: 0 done, 1 the server refused or could not be reached,\n"
"2 a bad command line.\n";

typedef enum opt_kind { OPT_STR, OPT_U32, OPT_U64, OPT_FLAG } opt_kind;

typedef struct opt_def {
  const char *name;
  opt_kind kind;
  const char *commands; /* NULL: any; else space-separated commands */
  size_t offset;
} opt_def;

#define OFF_(field) offsetof(cli, field)
static const opt_def opt_defs[] = {
  {"--server", OPT_STR, NULL, OFF_(app.server)},
  {"--user", OPT_STR, NULL, OFF_(app.user)},
  {"--password-file", OPT_STR, NULL, OFF_(app.password_file)},
  {"--device", OPT_STR, NULL, OFF_(app.device)},
  {"--db", OPT_STR, NULL, OFF_(app.db)},
  {"--connect-timeout-ms", OPT_U32, NULL, OFF_(app.connect_timeout_ms)},
  {"--heartbeat-ms", OPT_U32, NULL, OFF_(app.heartbeat_ms)},
  {"--backoff-base-ms", OPT_U32, NULL, OFF_(app.backoff_base_ms)},
  {"--backoff-cap-ms", OPT_U32, NULL, OFF_(app.backoff_cap_ms)},
  {"--verbose", OPT_FLAG, NULL, OFF_(app.verbose)},
  {"--conv", OPT_STR, "send listen history", OFF_(conv)},
  {"--send-window", OPT_U32, "send", OFF_(app.send_window)},
  {"--with", OPT_STR, "create", OFF_(with)},
  {"--group", OPT_STR, "create", OFF_(group)},
  {"--members", OPT_STR, "create", OFF_(members)},
  {"--output", OPT_STR, "listen", OFF_(output)},
  {"--count", OPT_U64, "listen", OFF_(count)},
  {"--timeout-ms", OPT_U64, "listen", OFF_(timeout_ms)},
};
#undef OFF_

static const char *const commands[] = {"create", "send", "listen",
                                       "history"};

static int bad(const char *fmt, const char *a, const char *b)
{
  fprintf(stderr, "parley-client: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n(see parley-client --help)\n");
  return EXIT_USAGE;
}

static bool applies(const opt_def *d, const char *command)
{
  const char *p;
  size_t n;

  if (d->commands == NULL)
    return true;
  if (command == NULL)
    return false;
  n = strlen(command);
  for (p = strstr(d->commands, command); p != NULL;
       p = strstr(p + 1, command))
    if ((p == d->commands || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
      return true;
  return false;
}

/* Stores `value` into the field of `d`. Returns an exit code. */
static int set_opt(cli *c, const opt_def *d, const char *value)
{
  char *field = (char *)c + d->offset, *end;
  unsigned long long v;

  if (d->kind == OPT_STR) {
    *(const char **)field = value;
    return EXIT_OK;
  }
  if (d->kind == OPT_FLAG) {
    *(bool *)field = true;
    return EXIT_OK;
  }
  v = strtoull(value, &end, 10);
  if (value[0] < '0' || value[0] > '9' || *end != '\0' ||
      (d->kind == OPT_U32 && v > UINT32_MAX))
    return bad("option '%s' wants a number, not '%s'", d->name, value);
  if (d->kind == OPT_U32)
    *(uint32_t *)field = (uint32_t)v;
  else
    *(uint64_t *)field = v;
  return EXIT_OK;
}

/* Handles argv[*i], an option. Returns an exit code. */
static int parse_opt(cli *c, int argc, char **argv, int *i)
{
  char name[64];
  const char *arg = argv[*i], *eq = strchr(arg, '='), *value = NULL;
  size_t n = eq ? (size_t)(eq - arg) : strlen(arg), k;

  if (n >= sizeof name)
    return bad("unknown option '%s'%s", arg, "");
  memcpy(name, arg, n);
  name[n] = '\0';
  for (k = 0; k < sizeof opt_defs / sizeof opt_defs[0]; k++)
    if (strcmp(opt_defs[k].name, name) == 0)
      break;
  if (k == sizeof opt_defs / sizeof opt_defs[0])
    return bad("unknown option '%s'%s", name, "");
  if (!applies(&opt_defs[k], c->command))
    return bad("option '%s' does not apply to '%s'", name,
               c->command ? c->command : "(no command)");
  if (opt_defs[k].kind == OPT_FLAG)
    return eq ? bad("option '%s' takes no value%s", name, "")
              : set_opt(c, &opt_defs[k], "");
  if (eq != NULL)
    value = eq + 1;
  else if (*i + 1 < argc)
    value = argv[++*i];
  else
    return bad("option '%s' needs a value%s", name, "");
  return set_opt(c, &opt_defs[k], value);
}

/* Parses the whole command line into *c. Returns an exit code; -1 for
 * --help. */
static int parse(cli *c, int argc, char **argv)
{
  int i, rc;
  size_t k;
  bool no_more_opts = false;

  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
      return -1;
    if (!no_more_opts && strcmp(arg, "--") == 0) {
      no_more_opts = true;
    } else if (!no_more_opts && arg[0] == '-' && arg[1] != '\0') {
      if ((rc = parse_opt(c, argc, argv, &i)) != EXIT_OK)
        return rc;
    } else if (c->command == NULL) {
      for (k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (strcmp(arg, commands[k]) == 0)
          c->command = commands[k];
      if (c->command == NULL)
        return bad("unknown command '%s'%s", arg, "");
    } else if (strcmp(c->command, "send") == 0) {
      c->texts[c->text_count++] = argv[i];
    } else {
      return bad("unexpected argument '%s' for '%s'", arg, c->command);
    }
  }
  return EXIT_OK;
}

static bool valid_id(const char *s)
{
  size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789_-");

  return n > 0 && n <= PARLEY_ID_MAX && s[n] == '\0';
}

/* Checks what every command needs. Returns an exit code. */
static int check(cli *c)
{
  if (c->command == NULL)
    return bad("no command given%s%s", "", "");
  if (c->app.server == NULL)
    return bad("--server URL is required%s%s", "", "");
  if (!net_url_parse(c->app.server, &c->app.url))
    return bad("option '--server' wants http://HOST:PORT, not '%s'%s",
               c->app.server, "");
  if (c->app.user == NULL)
    return bad("--user NAME is required%s%s", "", "");
  if (c->conv != NULL && !valid_id(c->conv))
    return bad("option '--conv' wants a conversation id, not '%s'%s",
               c->conv, "");
  if (c->conv == NULL && (strcmp(c->command, "send") == 0 ||
                          strcmp(c->command, "history") == 0))
    return bad("'%s' needs --conv ID%s", c->command, "");
  if (strcmp(c->command, "create") == 0 &&
      (c->with == NULL) == (c->group == NULL))
    return bad("'create' needs either --with USER or --group TITLE%s%s", "",
               "");
  if (c->group != NULL && c->members == NULL)
    return bad("'create --group' needs --members A,B%s%s", "", "");
  if (c->app.connect_timeout_ms == 0)
    c->app.connect_timeout_ms = 30000;
  if (c->app.backoff_base_ms == 0)
    c->app.backoff_base_ms = 250;
  if (c->app.backoff_cap_ms == 0)
    c->app.backoff_cap_ms = 30000;
  return EXIT_OK;
}

static void on_signal(int sig)
{
  net *n = app_wake_net;

  (void)sig;
  stop_flag = 1;
  if (n != NULL)
    net_wake(n);
}

int main(int argc, char **argv)
{
  cli c;
  int rc;
  struct sigaction sa;

  memset(&c, 0, sizeof c);
  c.texts = calloc((size_t)argc + 1, sizeof *c.texts);
  if (c.texts == NULL)
    return EXIT_FAIL;
  rc = parse(&c, argc, argv);
  if (rc == -1) {
    fputs(usage, stdout);
    free(c.texts);
    return EXIT_OK;
  }
  if (rc == EXIT_OK)
    rc = check(&c);
  if (rc != EXIT_OK) {
    free(c.texts);
    return rc;
  }
  plog_setup(c.app.verbose ? PARLEY_LOG_DEBUG : PARLEY_LOG_WARN, false);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (strcmp(c.command, "create") == 0)
    rc = cmd_create(&c, &stop_flag);
  else if (strcmp(c.command, "history") == 0)
    rc = cmd_history(&c, &stop_flag);
  else if (strcmp(c.command, "send") == 0)
    rc = cmd_send(&c, &stop_flag);
  else
    rc = cmd_listen(&c, &stop_flag);
  free(c.texts);
  return rc;
}
