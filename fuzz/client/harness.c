/* Fuzz harness: the sans-I/O client core (parley/client.h), fed frames
 * as a server would send them, connection events, time and the user's
 * intents, in the record format of fuzz/common/records.h.
 *
 * Invariants checked after every step, besides the sanitizers' findings:
 * - every frame the core sends is one well-formed frame;
 * - messages are handed over once and in order: per conversation the
 *   seqs of MSG actions are stored + 1, + 2, ... (gapless, increasing;
 *   spec DELIV-4 and DELIV-5);
 * - a status never goes backwards, and SEND, CLOSE name the connection
 *   the core opened last;
 * - a call frame handed over (EV_CALL) has its strings terminated.
 * At the end the core stops and is freed, so a leak shows up under
 * LeakSanitizer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "../common/records.h"
#include "parley/client.h"

#define CONVS_MAX 64
#define START_MS 1764864000000ull

static const char *const conv_ids[] = {"c7f3a", "g1", "c9"};

typedef struct seen_conv {
  char id[PARLEY_ID_MAX + 1];
  uint64_t handed;  /* highest seq handed over */
  uint64_t status[4]; /* highest seq per status, for EV_STATUS */
} seen_conv;

typedef struct fake {
  parley_client *c;
  uint64_t now;
  uint64_t conn; /* the connection the core asked for last; 0: none */
  bool up;
  seen_conv convs[CONVS_MAX];
  size_t conv_count;
  parley_parser parser;
} fake;

/* The conversation's record; NULL past CONVS_MAX (then unchecked). */
static seen_conv *seen(fake *f, const char *id)
{
  for (size_t i = 0; i < f->conv_count; i++)
    if (strcmp(f->convs[i].id, id) == 0)
      return &f->convs[i];
  if (f->conv_count == CONVS_MAX)
    return NULL;
  seen_conv *s = &f->convs[f->conv_count++];
  memset(s, 0, sizeof s[0]);
  snprintf(s->id, sizeof s->id, "%s", id);
  return s;
}

static void check_sent(fake *f, const parley_client_action *a)
{
  parley_frame fr;
  parley_parse_error err;

  check(a->conn == f->conn);
  check(parley_parse_message(&f->parser, a->data, a->len, &fr, &err) ==
        PARLEY_OK);
}

static void check_msg(fake *f, const parley_msg *m)
{
  seen_conv *s = seen(f, m->conv);

  if (s == NULL)
    return;
  check(m->seq == s->handed + 1);
  s->handed = m->seq;
}

static void check_status(fake *f, const parley_client_action *a)
{
  if (a->status == PARLEY_STATUS_SENT)
    return;
  seen_conv *s = seen(f, a->conv);
  check(a->status == PARLEY_STATUS_DELIVERED ||
        a->status == PARLEY_STATUS_READ);
  if (s == NULL)
    return;
  check(a->seq >= s->status[a->status]);
  s->status[a->status] = a->seq;
}

static void check_call(const parley_call_frame *cf)
{
  check(cf != NULL && memchr(cf->verb, '\0', sizeof cf->verb) &&
        memchr(cf->call, '\0', sizeof cf->call) &&
        memchr(cf->candidate, '\0', sizeof cf->candidate));
  check(cf->body_len == 0 || cf->body[cf->body_len] == '\0');
}

static void take_action(fake *f, const parley_client_action *a)
{
  switch (a->kind) {
  case PARLEY_CLIENT_CONNECT:
    check(a->conn > f->conn);
    f->conn = a->conn;
    f->up = false;
    break;
  case PARLEY_CLIENT_SEND:
    check_sent(f, a);
    break;
  case PARLEY_CLIENT_CLOSE:
    check(a->conn == f->conn);
    break;
  case PARLEY_CLIENT_MSG:
    check_msg(f, &a->msg);
    break;
  case PARLEY_CLIENT_EV_STATUS:
    check_status(f, a);
    break;
  case PARLEY_CLIENT_EV_CALL:
    check_call(a->call);
    break;
  case PARLEY_CLIENT_EV_NEED_TOKEN:
    check(parley_client_set_token(f->c, "pt1.x.y", 0, f->now) == PARLEY_OK);
    break;
  default:
    break;
  }
}

static void pump(fake *f)
{
  parley_client_action a;

  while (parley_client_next_action(f->c, &a))
    take_action(f, &a);
}

static bool fake_init(fake *f)
{
  static const char *const members[] = {"alice", "bob"};
  parley_client_config cfg;

  memset(f, 0, sizeof *f);
  memset(&cfg, 0, sizeof cfg);
  cfg.user = "alice";
  cfg.device = "phone";
  cfg.calls = true;
  cfg.seed = 11;
  cfg.history_limit = 5;
  cfg.held_max = 8;
  f->now = START_MS;
  f->c = parley_client_new(&cfg);
  if (!f->c)
    return false;
  check(parley_client_load_conv(f->c, "c7f3a", 0) == PARLEY_OK);
  check(parley_client_set_members(f->c, "c7f3a", members, 2) == PARLEY_OK);
  check(parley_client_set_token(f->c, "pt1.x.y", START_MS + 3600000,
                                f->now) == PARLEY_OK);
  parley_client_start(f->c, f->now);
  pump(f);
  return true;
}

/* A call request from the user: one of the call verbs, in a conv. */
static void call(fake *f, int verb, int conv)
{
  static const char *const verbs[] = {"CALL", "JOIN", "HANGUP", "LEAVE",
                                      "MEDIA-STATE", "CANDIDATE"};
  parley_call_header h[3] = {{"conv", conv_ids[conv % 3]},
                             {"call", "kq7r2mzx4d6tbw3na5e7h"},
                             {"audio", "on"}};
  const char *v = verbs[verb % 6];

  (void)parley_client_call_send(f->c, v, strcmp(v, "CALL") == 0 ? h : h + 1,
                                strcmp(v, "MEDIA-STATE") == 0 ? 2 : 1, NULL,
                                NULL, 0, f->now, NULL);
}

/* Runs one record; returns false at the end of the input. */
static bool step(fake *f, rec_reader *r)
{
  int op = rec_byte(r), a, b;
  size_t n;
  const uint8_t *blob;

  if (op < 0)
    return false;
  switch (op & 7) {
  case C_MESSAGE:
    blob = rec_blob(r, &n);
    if (f->conn && f->up)
      parley_client_on_message(f->c, f->conn, (const char *)blob, n, f->now);
    break;
  case C_CONNECTED:
    if (f->conn && !f->up) {
      f->up = true;
      parley_client_on_connected(f->c, f->conn, f->now);
    }
    break;
  case C_DISCONNECTED:
    if (f->conn && f->up) {
      f->up = false;
      parley_client_on_disconnected(f->c, f->conn, f->now);
    }
    break;
  case C_TIME:
    a = rec_byte(r);
    f->now += (uint64_t)(a < 0 ? 1 : a) * 50;
    parley_client_on_time(f->c, f->now);
    break;
  case C_SEND:
    a = rec_byte(r);
    b = rec_byte(r);
    n = b < 0 ? 0 : (size_t)b < r->left ? (size_t)b : r->left;
    (void)parley_client_send(f->c, conv_ids[(a < 0 ? 0 : a) % 3],
                             "text/plain", (const char *)r->p, n, f->now,
                             NULL);
    r->p += n;
    r->left -= n;
    break;
  case C_READ:
    a = rec_byte(r);
    b = rec_byte(r);
    (void)parley_client_mark_read(f->c, conv_ids[(a < 0 ? 0 : a) % 3],
                                  (uint64_t)(b < 0 ? 0 : b), f->now);
    break;
  case C_TYPING:
    a = rec_byte(r);
    a = a < 0 ? 0 : a;
    (void)parley_client_typing(f->c, conv_ids[a % 3], a & 1, f->now);
    break;
  default:
    a = rec_byte(r);
    b = rec_byte(r);
    call(f, a < 0 ? 0 : a, b < 0 ? 0 : b);
  }
  pump(f);
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static fake f;
  rec_reader r = {data, size};

  if (!fake_init(&f))
    return 0;
  while (step(&f, &r))
    ;
  parley_client_stop(f.c, f.now);
  pump(&f);
  parley_client_free(f.c);
  parley_parser_free(&f.parser);
  return 0;
}
