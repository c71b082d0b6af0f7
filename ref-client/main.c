/* parley-client: the reference client's command line.
 *
 * Options are checked before anything touches the network or the store:
 * an unknown option, a missing value, a bad number or an option that does
 * not apply to the command gets a message naming it and exit status 2. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"

static volatile int stop_flag;

static const char usage[] =
"usage: parley-client --server URL --user NAME [options] COMMAND ...\n"
"       parley-client [options] driver\n"
"       parley-client --help | -h | --version\n"
"\n"
"Commands:\n"
"  create --with USER            open (or find) the direct conversation\n"
"                                with USER; prints its id\n"
"  create --group TITLE --members A,B\n"
"                                create a group; prints its id\n"
"                                (--with and --group exclude each other)\n"
"  conversations                 list the conversations you are in, one a\n"
"                                line: `ID KIND MEMBERS` and, for a group\n"
"                                with a title, `: TITLE`\n"
"  send --conv ID [--send-window N] [TEXT...]\n"
"                                send TEXT (the words joined by spaces,\n"
"                                none of them empty) as one message, or\n"
"                                with no TEXT each line of standard input\n"
"                                as a message (empty lines are skipped).\n"
"                                Exits 0 once the server acknowledged\n"
"                                every message. Messages wait in the local\n"
"                                outbox until acknowledged, are retried\n"
"                                across reconnects, and are paced to the\n"
"                                rate the server announces.\n"
"                                A run that did not finish (killed, or the\n"
"                                server out of reach) left its messages in\n"
"                                the outbox: the next send with the same\n"
"                                --db sends them first, and running the\n"
"                                same send again resumes it, never sending\n"
"                                a message twice. A run that finished is\n"
"                                done: running it again sends its messages\n"
"                                again, as new ones.\n"
"                                --send-window: messages awaiting their\n"
"                                acknowledgement at once (default 64).\n"
"  listen [--conv ID] [--output FILE] [--count N] [--timeout-ms T]\n"
"                                print each delivered message once, as\n"
"                                `CONV SEQ FROM: TEXT`; stop after N\n"
"                                messages shown by this run (0, the\n"
"                                default: no limit), or after T ms (0, the\n"
"                                default: no limit). Once it had a\n"
"                                session, a lost connection is retried for\n"
"                                as long as it runs.\n"
"  history --conv ID             print the stored history of ID\n"
"  call PEER --input FILE.wav [--output FILE.wav] [--duration-ms N]\n"
"       [--report FILE.json] [media options]\n"
"                                an audio call to PEER in your direct\n"
"                                conversation (found or created as by\n"
"                                create --with): rings PEER, plays the\n"
"                                input once connected and hangs up 1 s\n"
"                                after it was played (or N ms after the\n"
"                                call connected); --output records what\n"
"                                was heard. Prints the quality report\n"
"  answer [--from PEER] [--input FILE.wav] [--output FILE.wav]\n"
"       [--duration-ms N] [--report FILE.json] [media options]\n"
"                                wait for a call (from PEER only, with\n"
"                                --from), answer it, play the input\n"
"                                (silence without one), record, and end\n"
"                                when the caller hangs up (or N ms after\n"
"                                the call connected; 0, the default: no\n"
"                                such limit). Prints the quality report\n"
"  call and answer both: --mute-after-ms N mutes N ms after the call\n"
"                                connected (silence goes out, the report\n"
"                                counts it; the peer gets MEDIA-STATE\n"
"                                audio: off and prints 'USER muted').\n"
"                                Calls are 1:1 audio: a call that a third\n"
"                                participant joins fails (exit 1)\n"
"  driver                        the test-driver interface (spec section\n"
"                                18): JSON commands on standard input\n"
"                                (connect, send, read, disconnect, quit),\n"
"                                one JSON event a line on standard output\n"
"                                (messages shown, acknowledgements, the\n"
"                                connection state). --server and --user\n"
"                                come with `connect`; the local store is a\n"
"                                new temporary one, removed at the end\n"
"\n"
"Options:\n"
"  --server URL                  http://HOST[:PORT] of the server\n"
"  --user NAME                   the account to sign in as\n"
"  --password-file FILE          read the password from FILE's first line\n"
"                                (else from $PARLEY_PASSWORD)\n"
"  --device ID                   device id (default: one generated once\n"
"                                and kept in the local store)\n"
"  --db PATH                     local store (default:\n"
"                                $XDG_DATA_HOME/parley/NAME.db or\n"
"                                ~/.local/share/parley/NAME.db); one\n"
"                                process at a time uses a store\n"
"  --connect-timeout-ms T        give up when the server cannot be reached\n"
"                                for T ms (default 30000; 0: wait forever).\n"
"                                For listen it bounds only the time until\n"
"                                the first session\n"
"  --heartbeat-ms T              heartbeat interval to ask for (15000)\n"
"  --backoff-base-ms T           reconnect backoff base (250)\n"
"  --backoff-cap-ms T            reconnect backoff cap (10000)\n"
"  --allow-plaintext             allow http:// to a host other than\n"
"                                localhost or 127.x.x.x: without TLS the\n"
"                                password, token and messages cross the\n"
"                                network readable by anyone on the path\n"
"  --verbose                     log connections and retries\n"
"\n"
"Media options (call and answer):\n"
"  --stun HOST:PORT              a STUN server for reflexive candidates\n"
"  --turn HOST:PORT              a TURN server (UDP) for relayed ones;\n"
"                                needs --turn-user and --turn-password\n"
"  --turn-user U, --turn-password P\n"
"                                the TURN server's long-term credentials\n"
"  --relay-only                  use relayed candidates only (with --turn)\n"
"  --no-fec                      no Opus in-band FEC (default: on)\n"
"  --loss-hint PCT               expected packet loss, 0 to 100, that the\n"
"                                Opus encoder plans FEC for (default 0)\n"
"  --answer-timeout-ms N         call: hang up when PEER has not answered\n"
"                                after N ms (default 30000; 0: ring as\n"
"                                long as it runs); answer: give up when\n"
"                                no call came within N ms (default and 0:\n"
"                                wait as long as it runs)\n"
"  --advertise-fingerprint HEX   a test aid: put HEX (sha-256, AA:BB:...)\n"
"                                in the SDP instead of the certificate's\n"
"                                fingerprint; the peer must refuse the\n"
"                                call\n"
"  --report FILE.json            write the quality report as JSON too\n"
"  --help, -h                    this text\n"
"  --version                     the version of parley-client\n"
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
"Exit status: 0 done, 1 the server refused or could not be reached, or\n"
"the reader of standard output went away (a closed pipe: the command\n"
"stops quietly), 2 a bad command line. call and answer exit 0 for a\n"
"call that connected and ended by a hang-up, 1 with `call failed: WHY`\n"
"for any other end (declined, no answer, ICE or DTLS failure, ...).\n";

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
  {"--allow-plaintext", OPT_FLAG, NULL, OFF_(app.allow_plaintext)},
  {"--conv", OPT_STR, "send listen history", OFF_(conv)},
  {"--send-window", OPT_U32, "send", OFF_(app.send_window)},
  {"--with", OPT_STR, "create", OFF_(with)},
  {"--group", OPT_STR, "create", OFF_(group)},
  {"--members", OPT_STR, "create", OFF_(members)},
  {"--output", OPT_STR, "listen call answer", OFF_(output)},
  {"--input", OPT_STR, "call answer", OFF_(input)},
  {"--report", OPT_STR, "call answer", OFF_(report)},
  {"--duration-ms", OPT_U64, "call answer", OFF_(duration_ms)},
  {"--mute-after-ms", OPT_U64, "call answer", OFF_(mute_after_ms)},
  {"--stun", OPT_STR, "call answer", OFF_(stun)},
  {"--turn", OPT_STR, "call answer", OFF_(turn)},
  {"--turn-user", OPT_STR, "call answer", OFF_(turn_user)},
  {"--turn-password", OPT_STR, "call answer", OFF_(turn_password)},
  {"--relay-only", OPT_FLAG, "call answer", OFF_(relay_only)},
  {"--no-fec", OPT_FLAG, "call answer", OFF_(no_fec)},
  {"--loss-hint", OPT_U32, "call answer", OFF_(loss_hint)},
  {"--answer-timeout-ms", OPT_U64, "call answer", OFF_(answer_timeout_ms)},
  {"--advertise-fingerprint", OPT_STR, "call answer",
   OFF_(advertise_fingerprint)},
  {"--from", OPT_STR, "answer", OFF_(from)},
  {"--count", OPT_U64, "listen", OFF_(count)},
  {"--timeout-ms", OPT_U64, "listen", OFF_(timeout_ms)},
};
#undef OFF_

static const char *const commands[] = {"create", "conversations", "send",
                                       "listen", "history", "driver",
                                       "call", "answer"};

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
  if (strcmp(d->name, "--loss-hint") == 0)
    c->loss_hint_set = true;
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

#define SHOW_HELP (-1)
#define SHOW_VERSION (-2)

/* Parses the whole command line into *c. Returns an exit code, or
 * SHOW_HELP or SHOW_VERSION. */
static int parse(cli *c, int argc, char **argv)
{
  int i, rc;
  size_t k;
  bool no_more_opts = false;

  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!no_more_opts && (strcmp(arg, "--help") == 0 ||
                          strcmp(arg, "-h") == 0))
      return SHOW_HELP;
    if (!no_more_opts && strcmp(arg, "--version") == 0)
      return SHOW_VERSION;
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
    } else if (strcmp(c->command, "call") == 0 && c->peer == NULL) {
      c->peer = argv[i];
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

/* Checks the options of `create`. Returns an exit code. */
static int check_create(const cli *c)
{
  if (c->with != NULL && c->group != NULL)
    return bad("'create' takes --with USER or --group TITLE, not both:"
               " they exclude each other%s%s", "", "");
  if (c->with == NULL && c->group == NULL)
    return bad("'create' needs --with USER or --group TITLE%s%s", "", "");
  if (c->group != NULL && c->members == NULL)
    return bad("'create --group' needs --members A,B%s%s", "", "");
  if (c->with != NULL && c->members != NULL)
    return bad("--members goes with --group, not with --with%s%s", "", "");
  return EXIT_OK;
}

/* A TEXT argument of `send` may not be empty: an empty message is
 * almost always a mistake (an unset shell variable), and standard input
 * skips empty lines likewise. Returns an exit code. */
static int check_texts(const cli *c)
{
  int i;

  for (i = 0; i < c->text_count; i++)
    if (c->texts[i][0] == '\0')
      return bad("'send' got an empty TEXT argument; an empty message is"
                 " not sent%s%s", "", "");
  return EXIT_OK;
}

/* True when the URL's host is a loopback one: localhost, 127.0.0.0/8 or
 * ::1. Other names count as remote, whatever they resolve to. */
bool cli_url_is_loopback(const net_url *u)
{
  struct in_addr a4;

  if (strcmp(u->host, "localhost") == 0 || strcmp(u->host, "[::1]") == 0 ||
      strcmp(u->host, "::1") == 0)
    return true;
  return inet_pton(AF_INET, u->host, &a4) == 1 &&
         (ntohl(a4.s_addr) >> 24) == 127;
}

/* Checks what every command needs. Returns an exit code. */
static int check(cli *c)
{
  if (c->command == NULL)
    return bad("no command given%s%s", "", "");
  if (strcmp(c->command, "driver") == 0)
    return EXIT_OK; /* the server and the user come with `connect` */
  if (c->app.server == NULL)
    return bad("--server URL is required%s%s", "", "");
  if (!net_url_parse(c->app.server, &c->app.url))
    return bad("option '--server' wants http://HOST:PORT, not '%s'%s",
               c->app.server, "");
  /* SEC-17: no password or token in plain text off loopback unless the
   * user says so. */
  if (!c->app.url.tls && !c->app.allow_plaintext &&
      !cli_url_is_loopback(&c->app.url))
    return bad("--server %s is plain http to a host that is not loopback:"
               " use https:// (TLS), or give --allow-plaintext to send the"
               " password and token unencrypted%s", c->app.server, "");
  if (c->app.user == NULL)
    return bad("--user NAME is required%s%s", "", "");
  if (c->conv != NULL && !valid_id(c->conv))
    return bad("option '--conv' wants a conversation id, not '%s'%s",
               c->conv, "");
  if (c->conv == NULL && (strcmp(c->command, "send") == 0 ||
                          strcmp(c->command, "history") == 0))
    return bad("'%s' needs --conv ID%s", c->command, "");
  if (c->app.backoff_base_ms == 0)
    c->app.backoff_base_ms = 250;
  if (c->app.backoff_cap_ms == 0)
    c->app.backoff_cap_ms = 10000;
  if (strcmp(c->command, "create") == 0)
    return check_create(c);
  if (strcmp(c->command, "send") == 0)
    return check_texts(c);
  if (strcmp(c->command, "call") == 0 || strcmp(c->command, "answer") == 0)
    return cli_check_call(c);
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

/* Installs the SIGINT/SIGTERM handler, which asks the command to stop
 * (the command then ends with its normal exit status), and ignores
 * SIGPIPE. Called first thing in main, so that a signal arriving at any
 * moment of the run, even while the options are still being read, ends
 * the command cleanly instead of killing the process. The two signals
 * are then unblocked: one sent before this point to a process started
 * with them blocked is delivered to the handler now. */
static void catch_signals(void)
{
  struct sigaction sa;
  sigset_t set;

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  /* A closed pipe is seen as EPIPE where the output is written. */
  signal(SIGPIPE, SIG_IGN);
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/* Runs the command. Returns its exit code. */
static int run_command(const cli *c)
{
  if (strcmp(c->command, "create") == 0)
    return cmd_create(c, &stop_flag);
  if (strcmp(c->command, "conversations") == 0)
    return cmd_conversations(c, &stop_flag);
  if (strcmp(c->command, "history") == 0)
    return cmd_history(c, &stop_flag);
  if (strcmp(c->command, "send") == 0)
    return cmd_send(c, &stop_flag);
  if (strcmp(c->command, "driver") == 0)
    return cmd_driver(c, &stop_flag);
  if (strcmp(c->command, "call") == 0)
    return cmd_call(c, &stop_flag);
  if (strcmp(c->command, "answer") == 0)
    return cmd_answer(c, &stop_flag);
  return cmd_listen(c, &stop_flag);
}

/* Flushes standard output. A reader that went away (EPIPE) ends the
 * output quietly with status 1; any other write error is reported.
 * Returns the exit code to use. */
static int finish_stdout(int rc)
{
  if (fflush(stdout) == 0 && !ferror(stdout))
    return rc;
  if (errno != EPIPE)
    fprintf(stderr, "parley-client: writing standard output: %s\n",
            strerror(errno));
  return rc == EXIT_OK ? EXIT_FAIL : rc;
}

int main(int argc, char **argv)
{
  cli c;
  int rc;

  catch_signals();
  memset(&c, 0, sizeof c);
  c.app.connect_timeout_ms = 30000; /* 0 given: wait forever */
  c.texts = calloc((size_t)argc + 1, sizeof *c.texts);
  if (c.texts == NULL)
    return EXIT_FAIL;
  rc = parse(&c, argc, argv);
  if (rc == SHOW_HELP || rc == SHOW_VERSION) {
    free(c.texts);
    if (rc == SHOW_HELP)
      fputs(usage, stdout);
    else
      printf("parley-client %s\n", PARLEY_VERSION);
    return finish_stdout(EXIT_OK);
  }
  if (rc == EXIT_OK)
    rc = check(&c);
  if (rc != EXIT_OK) {
    free(c.texts);
    return rc;
  }
  plog_setup(c.app.verbose ? PARLEY_LOG_DEBUG : PARLEY_LOG_WARN, false);
  rc = finish_stdout(run_command(&c));
  free(c.texts);
  return rc;
}
