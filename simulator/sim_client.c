/* The simulated devices: one real client core each, run the way
 * ref-client/loop.c runs it, with a local store in memory.
 *
 * After every call into a core its actions are carried out in order:
 * connections go to sim_net.c, the one timer becomes an event (a new
 * TIMER replaces the old), and the store writes (OUTBOX_ADD and _REMOVE,
 * MSG, POS, RECEIPT_STATE) go to the device's local store at once. A
 * crash strikes between events, so every write the core asked for
 * survives it, and nothing else does: the core, its timer, its sessions,
 * what it held back. A new start loads the core from the local store as
 * ref-client/store.c does (pos, per conversation the stored seq, the
 * members and the receipts, then the outbox in order), with a fresh
 * seed, the token, and start.
 *
 * Every MSG, ACK, receipt state and status the core hands over passes
 * through the checks of sim_check.c first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define TOKEN_LIFE_MS (30ull * 24 * 3600 * 1000)
#define BODY_FILL_MAX 160

uint32_t sim_conv_index(const sim *s, const char *id)
{
  for (size_t i = 0; i < s->conv_count; i++)
    if (s->convs[i].created && strcmp(s->convs[i].id, id) == 0)
      return (uint32_t)i;
  return SIM_NONE;
}

/* ---- the local store ------------------------------------------------ */

static void outbox_add(sim_device *d, const parley_outbox_entry *e)
{
  sim_out *o;

  sim_grow((void **)&d->outbox, &d->out_cap, d->out_count + 1,
           sizeof *d->outbox);
  o = &d->outbox[d->out_count++];
  memset(o, 0, sizeof *o);
  snprintf(o->temp_id, sizeof o->temp_id, "%s", e->temp_id);
  snprintf(o->conv, sizeof o->conv, "%s", e->conv);
  o->body = malloc(e->body_len + 1);
  if (o->body == NULL)
    abort();
  memcpy(o->body, e->body, e->body_len);
  o->body[e->body_len] = '\0';
  o->body_len = e->body_len;
  o->created_ms = e->created_ms;
}

/* Removes the entry `temp_id` (keeping the order of the others) and
 * notes the intent it was, for the EV_STATUS that follows. */
static void outbox_remove(sim *s, sim_device *d, const char *temp_id)
{
  d->removed_intent = SIM_NONE;
  for (size_t i = 0; i < d->out_count; i++) {
    sim_out *o = &d->outbox[i];
    if (strcmp(o->temp_id, temp_id) != 0)
      continue;
    d->removed_intent = sim_body_intent(s, o->body, o->body_len);
    free(o->body);
    memmove(o, o + 1, (d->out_count - i - 1) * sizeof *o);
    d->out_count--;
    return;
  }
}

static void store_msg(sim *s, sim_device *d, const parley_msg *m)
{
  uint32_t k = sim_conv_index(s, m->conv);
  sim_dconv *dc;
  sim_shown *sh;

  if (k == SIM_NONE)
    return; /* the check failed the run already */
  dc = &d->convs[k];
  sim_grow((void **)&dc->shown, &dc->shown_cap, dc->shown_count + 1,
           sizeof *dc->shown);
  sh = &dc->shown[dc->shown_count++];
  sh->seq = m->seq;
  sh->intent = sim_body_intent(s, m->body, m->body_len);
  snprintf(sh->msg_id, sizeof sh->msg_id, "%s", m->msg_id);
  if (m->seq > dc->stored_seq)
    dc->stored_seq = m->seq;
  s->res->deliveries++;
}

static void store_receipt(sim *s, sim_device *d, const parley_receipt *r)
{
  uint32_t k = sim_conv_index(s, r->conv);

  for (uint32_t u = 0; k != SIM_NONE && u < s->user_count; u++) {
    uint64_t *v = &d->convs[k].rcpt[u][r->kind - 1];
    if (strcmp(s->users[u].name, r->user) == 0 && r->seq > *v)
      *v = r->seq;
  }
}

/* ---- actions ---------------------------------------------------------- */

static void act_net(sim *s, sim_device *d, const parley_client_action *a)
{
  sim_conn *c;

  if (a->kind == PARLEY_CLIENT_CONNECT) {
    sim_net_connect(s, d->idx, a->conn);
    return;
  }
  c = sim_net_find_cli(s, d->idx, a->conn);
  if (c == NULL || !c->cli_open)
    return;
  if (a->kind == PARLEY_CLIENT_SEND)
    sim_net_send(s, c, SIM_UP, a->data, a->len);
  else
    sim_net_close(s, c, SIM_UP);
}

static void act_event(sim *s, sim_device *d, const parley_client_action *a)
{
  const char *why = parley_err_reason(a->err) ? parley_err_reason(a->err)
                                              : "";

  switch (a->kind) {
  case PARLEY_CLIENT_EV_READY:
    sim_note_add(s, "ready", d->idx, d->last_conn, NULL, 0);
    break;
  case PARLEY_CLIENT_EV_SYNCED:
    d->synced = true;
    break;
  case PARLEY_CLIENT_EV_DISCONNECTED:
    d->synced = false;
    sim_note_add(s, "disconnected", d->idx, 0, why, strlen(why));
    break;
  case PARLEY_CLIENT_EV_STATUS:
    if (a->status == PARLEY_STATUS_SENT)
      sim_check_ack(s, d, d->removed_intent, a);
    else
      sim_check_status(s, d, a);
    break;
  case PARLEY_CLIENT_EV_SEND_FAILED:
    sim_fail(s, "send-failed", "%s: the server refused temp-id %s for "
             "good: %s", d->name, a->outbox.temp_id, why);
    break;
  case PARLEY_CLIENT_EV_ERROR:
    sim_note_add(s, "cli-error", d->idx, 0, why, strlen(why));
    if (a->err == PARLEY_E_RATE_LIMITED)
      s->n.rate_limited++;
    break;
  case PARLEY_CLIENT_EV_NEED_TOKEN:
    sim_fail(s, "token", "%s: the server refused a valid token: %s",
             d->name, why);
    break;
  default:
    break; /* typing, presence, token refresh: nothing to keep */
  }
}

static void act(sim *s, sim_device *d, const parley_client_action *a)
{
  switch (a->kind) {
  case PARLEY_CLIENT_CONNECT:
  case PARLEY_CLIENT_SEND:
  case PARLEY_CLIENT_CLOSE:
    act_net(s, d, a);
    break;
  case PARLEY_CLIENT_TIMER:
    sim_at(s, a->at_ms, EV_CLI_TIMER, d->idx, d->inc, ++d->timer_token);
    break;
  case PARLEY_CLIENT_OUTBOX_ADD:
    outbox_add(d, &a->outbox);
    break;
  case PARLEY_CLIENT_OUTBOX_REMOVE:
    outbox_remove(s, d, a->outbox.temp_id);
    break;
  case PARLEY_CLIENT_MSG:
    sim_check_msg(s, d, &a->msg);
    store_msg(s, d, &a->msg);
    break;
  case PARLEY_CLIENT_POS:
    snprintf(d->pos, sizeof d->pos, "%s", a->pos);
    break;
  case PARLEY_CLIENT_RECEIPT_STATE:
    sim_check_receipt(s, d, &a->receipt);
    store_receipt(s, d, &a->receipt);
    break;
  default:
    act_event(s, d, a);
  }
}

static void pump(sim *s, sim_device *d)
{
  parley_client_action a;

  while (d->core && !s->failed && parley_client_next_action(d->core, &a))
    act(s, d, &a);
}

/* ---- start, crash, quit --------------------------------------------- */

/* Loads one conversation of the local store into the core. */
static void load_conv(sim *s, sim_device *d, uint32_t k)
{
  const sim_conv *cv = &s->convs[k];
  const char *members[SIM_USERS_MAX];
  parley_receipt r;

  parley_client_load_conv(d->core, cv->id, d->convs[k].stored_seq);
  for (size_t i = 0; i < cv->member_count; i++)
    members[i] = s->users[cv->members[i]].name;
  parley_client_set_members(d->core, cv->id, members, cv->member_count);
  for (uint32_t u = 0; u < s->user_count; u++) {
    for (int kind = 1; kind <= 2; kind++) {
      if (d->convs[k].rcpt[u][kind - 1] == 0)
        continue;
      memset(&r, 0, sizeof r);
      snprintf(r.conv, sizeof r.conv, "%s", cv->id);
      snprintf(r.user, sizeof r.user, "%s", s->users[u].name);
      r.kind = (parley_receipt_kind)kind;
      r.seq = d->convs[k].rcpt[u][kind - 1];
      parley_client_load_receipt(d->core, &r);
    }
  }
}

static void load_store(sim *s, sim_device *d)
{
  parley_outbox_entry e;

  if (d->pos[0] != '\0')
    parley_client_load_pos(d->core, d->pos);
  for (uint32_t k = 0; k < s->conv_count; k++)
    if (d->convs[k].known)
      load_conv(s, d, k);
  for (size_t i = 0; i < d->out_count; i++) {
    memset(&e, 0, sizeof e);
    snprintf(e.temp_id, sizeof e.temp_id, "%s", d->outbox[i].temp_id);
    snprintf(e.conv, sizeof e.conv, "%s", d->outbox[i].conv);
    snprintf(e.content_type, sizeof e.content_type, "text/plain");
    e.body = d->outbox[i].body;
    e.body_len = d->outbox[i].body_len;
    e.created_ms = d->outbox[i].created_ms;
    if (parley_client_load_outbox(d->core, &e) != PARLEY_OK)
      sim_fail(s, "local-store", "%s: the core refused its own outbox",
               d->name);
  }
}

void sim_cli_start(sim *s, uint32_t dev)
{
  sim_device *d = &s->devs[dev];
  const sim_user *u = &s->users[d->user];
  parley_client_config cfg;

  if (d->core != NULL)
    return;
  memset(&cfg, 0, sizeof cfg);
  cfg.user = u->name;
  cfg.device = d->name;
  cfg.heartbeat_ms = d->heartbeat_ms;
  cfg.handshake_timeout_ms = d->handshake_ms;
  cfg.backoff_cap_ms = d->backoff_cap_ms;
  cfg.seed = sim_rng_next(&s->rng);
  if (!(d->core = parley_client_new(&cfg)))
    abort();
  d->inc++;
  d->host_down = d->stopping = d->synced = false;
  d->removed_intent = SIM_NONE;
  sim_note_add(s, "cli-start", dev, 0, NULL, 0);
  load_store(s, d);
  parley_client_set_token(d->core, u->token, s->now + TOKEN_LIFE_MS, s->now);
  parley_client_start(d->core, s->now);
  pump(s, d);
}

/* The app's process ends: its sockets close, the core is gone. */
static void app_exit(sim *s, sim_device *d, bool host)
{
  sim_net_device_crashed(s, d->idx, host);
  parley_client_free(d->core);
  d->core = NULL;
  d->synced = false;
}

void sim_cli_crash(sim *s, uint32_t dev, bool host)
{
  sim_device *d = &s->devs[dev];
  /* Mostly back within seconds; now and then off for a minute, so it
   * comes back to a long backlog to sync. */
  uint64_t down = sim_rng_chance(&s->rng, 0.2)
                      ? sim_rng_range(&s->rng, 20000, 60000)
                      : sim_rng_range(&s->rng, 200, 8000);

  if (d->core == NULL)
    return;
  sim_note_add(s, "cli-crash", dev, 0, host ? "device" : "app",
               host ? 6 : 3);
  s->n.cli_crashes++;
  app_exit(s, d, host);
  d->host_down = host;
  sim_at(s, s->now + down, EV_CLI_START, dev, d->inc, 0);
}

void sim_cli_quit(sim *s, uint32_t dev)
{
  sim_device *d = &s->devs[dev];

  if (d->core == NULL || d->stopping)
    return;
  sim_note_add(s, "cli-quit", dev, 0, NULL, 0);
  s->n.quits++;
  d->stopping = true;
  parley_client_stop(d->core, s->now);
  pump(s, d);
  sim_at(s, s->now + sim_rng_range(&s->rng, 3000, 8000), EV_CLI_START, dev,
         d->inc, 0);
}

void sim_cli_event(sim *s, const sim_event *ev)
{
  sim_device *d = &s->devs[ev->a];

  if (ev->kind == EV_CLI_START) {
    if (ev->b != d->inc)
      return;
    if (d->core != NULL && d->stopping)
      app_exit(s, d, false); /* the app the user quit has ended */
    sim_cli_start(s, ev->a);
    return;
  }
  if (d->core == NULL || ev->b != d->inc || ev->c != d->timer_token)
    return;
  parley_client_on_time(d->core, s->now);
  pump(s, d);
}

/* ---- the network's events -------------------------------------------- */

void sim_cli_on_open(sim *s, sim_conn *c)
{
  sim_device *d = &s->devs[c->dev];

  sim_note_add(s, "open>cli", c->dev, c->id, NULL, 0);
  parley_client_on_connected(d->core, c->cli_conn, s->now);
  pump(s, d);
}

void sim_cli_on_frame(sim *s, sim_conn *c, const char *data, size_t len)
{
  sim_device *d = &s->devs[c->dev];

  parley_client_on_message(d->core, c->cli_conn, data, len, s->now);
  pump(s, d);
}

void sim_cli_on_close(sim *s, sim_conn *c)
{
  sim_device *d = &s->devs[c->dev];

  c->cli_open = false;
  parley_client_on_disconnected(d->core, c->cli_conn, s->now);
  pump(s, d);
}

/* ---- the user's intents ---------------------------------------------- */

/* A conversation of the device's user, picked at random, or SIM_NONE. */
static uint32_t pick_conv(sim *s, const sim_device *d)
{
  uint32_t mine[SIM_CONVS_MAX];
  size_t n = 0;

  for (uint32_t k = 0; k < s->conv_count; k++)
    if (d->convs[k].known)
      mine[n++] = k;
  return n ? mine[sim_rng_range(&s->rng, 0, n - 1)] : SIM_NONE;
}

/* Writes the body of intent i: "m<i> <device> " and a filler. */
static size_t make_body(sim *s, const sim_device *d, uint32_t i, char *out,
                        size_t cap)
{
  size_t n = (size_t)snprintf(out, cap, "m%u %s ", (unsigned)i, d->name);
  size_t fill = sim_rng_range(&s->rng, 0, BODY_FILL_MAX);

  for (size_t k = 0; k < fill && n + 1 < cap; k++)
    out[n++] = (char)('a' + sim_rng_range(&s->rng, 0, 25));
  out[n] = '\0';
  return n;
}

void sim_cli_send(sim *s, uint32_t dev)
{
  sim_device *d = &s->devs[dev];
  char body[BODY_FILL_MAX + 64], temp_id[PARLEY_ID_MAX + 1];
  uint32_t k = pick_conv(s, d);
  sim_intent *in;
  size_t len;

  if (d->core == NULL || d->stopping || k == SIM_NONE)
    return; /* the app is not running */
  sim_grow((void **)&s->intents, &s->intent_cap, s->intent_count + 1,
           sizeof *s->intents);
  in = &s->intents[s->intent_count];
  memset(in, 0, sizeof *in);
  in->dev = dev;
  in->conv = k;
  len = make_body(s, d, (uint32_t)s->intent_count++, body, sizeof body);
  sim_note_add(s, "send", dev, 0, body, len);
  if (sim_rng_chance(&s->rng, 0.3))
    parley_client_typing(d->core, s->convs[k].id, true, s->now);
  if (parley_client_send(d->core, s->convs[k].id, "text/plain", body, len,
                         s->now, temp_id) != PARLEY_OK)
    sim_fail(s, "send-refused", "%s: the core refused a valid message",
             d->name);
  pump(s, d);
}

void sim_cli_read(sim *s, uint32_t dev)
{
  sim_device *d = &s->devs[dev];
  uint32_t k = pick_conv(s, d);
  uint64_t seq;
  char text[96]; /* a conversation id (at most 64 octets) and a number */

  if (d->core == NULL || d->stopping || k == SIM_NONE)
    return;
  seq = d->convs[k].stored_seq;
  if (seq > 0 && sim_rng_chance(&s->rng, 0.3))
    seq = sim_rng_range(&s->rng, 1, seq); /* an older message, again */
  if (seq == 0)
    return;
  snprintf(text, sizeof text, "%s up to %llu", s->convs[k].id,
           (unsigned long long)seq);
  sim_note_add(s, "read", dev, 0, text, strlen(text));
  parley_client_mark_read(d->core, s->convs[k].id, seq, s->now);
  pump(s, d);
}

/* ---- the end ---------------------------------------------------------- */

bool sim_cli_settled(sim *s, uint32_t dev, char *why, size_t why_size)
{
  sim_device *d = &s->devs[dev];
  const sim_conn *c;

  if (d->core == NULL || !parley_client_is_ready(d->core) || !d->synced) {
    snprintf(why, why_size, "%s is not connected and synced", d->name);
    return false;
  }
  c = sim_net_find(s, d->last_conn);
  if (c == NULL || c->dead || !c->cli_open || !c->srv_open ||
      c->srv_inc != s->srv.inc) {
    snprintf(why, why_size, "the session of %s is gone; it does not know "
             "yet", d->name);
    return false;
  }
  if (d->out_count > 0) {
    snprintf(why, why_size, "%s still has %zu messages in its outbox",
             d->name, d->out_count);
    return false;
  }
  for (uint32_t k = 0; k < s->conv_count; k++) {
    uint64_t last = d->convs[k].known ? sim_check_db_last_seq(s, k) : 0;
    if (d->convs[k].stored_seq != last) {
      snprintf(why, why_size, "%s shows %s up to seq %llu of %llu", d->name,
               s->convs[k].id, (unsigned long long)d->convs[k].stored_seq,
               (unsigned long long)last);
      return false;
    }
  }
  return true;
}

void sim_cli_free(sim *s)
{
  for (size_t i = 0; i < s->dev_count; i++) {
    sim_device *d = &s->devs[i];
    parley_client_free(d->core);
    d->core = NULL;
    for (size_t k = 0; k < d->out_count; k++)
      free(d->outbox[k].body);
    free(d->outbox);
    for (size_t k = 0; k < SIM_CONVS_MAX; k++)
      free(d->convs[k].shown);
  }
}
