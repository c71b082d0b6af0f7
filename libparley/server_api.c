/* Conversations (spec section 12.2), typing and presence (section 9).
 *
 * A conversation created through the API is registered at once, so its
 * id is taken and a second request for the same direct pair finds it,
 * but it counts as existing (for SEND, conv_info, ...) only once the
 * store says the insert is durable; the API reply waits for that. Typing
 * is relayed and never stored; presence is kept per user, with an
 * optional ttl after which (or after the user's last READY session
 * closes) the server relays `offline` (PRES-1). Both reach only sessions
 * that negotiated the capability. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

/* ---- conversations ---- */

void conv_free(conv *c)
{
  free(c->members);
  free(c);
}

/* Registers a conversation from `info` (members must be valid user
 * names, at least one; a repeated name counts once). Returns it, or NULL
 * for a bad description or when memory runs out. */
conv *conv_new(parley_server *s, const parley_conv_info *info,
               bool durable)
{
  size_t id_len = strnlen(info->id, sizeof info->id);
  if (!srv_id_valid(info->id, id_len) || info->member_count == 0 ||
      info->member_count > PARLEY_MEMBERS_MAX)
    return NULL;
  conv *c = calloc(1, sizeof *c);
  member *ms = calloc(info->member_count, sizeof *ms);
  if (c == NULL || ms == NULL)
    goto fail_alloc;
  size_t n = 0;
  for (size_t i = 0; i < info->member_count; i++) {
    const char *name = info->members[i];
    user *u = NULL;
    if (!srv_user_valid(name, strnlen(name, PARLEY_USER_MAX + 1)) ||
        (u = user_get(s, name)) == NULL)
      goto fail_alloc;
    bool repeat = false;
    for (size_t k = 0; k < n && !repeat; k++)
      repeat = ms[k].u == u;
    if (!repeat)
      ms[n++].u = u;
  }
  memcpy(c->id, info->id, id_len + 1);
  c->kind = info->kind;
  srv_copy(c->title, sizeof c->title, info->title,
           strnlen(info->title, sizeof info->title));
  c->created_ms = info->created_ms;
  c->last_seq = c->durable_seq = info->last_seq;
  c->members = ms;
  c->member_count = n;
  c->durable = durable;
  if (!pmap_put(&s->convs, c->id, id_len, c))
    goto fail_alloc;
  return c;

fail_alloc:
  free(ms);
  free(c);
  return NULL;
}

/* The key of a direct conversation: the two names in order. */
static size_t direct_key(const char *a, const char *b, char *out)
{
  if (strcmp(a, b) > 0) {
    const char *t = a;
    a = b;
    b = t;
  }
  size_t la = strlen(a), lb = strlen(b);
  memcpy(out, a, la);
  out[la] = '\0';
  memcpy(out + la + 1, b, lb);
  return la + 1 + lb;
}

void conv_made_durable(parley_server *s, conv *c)
{
  c->durable = true;
  for (size_t i = 0; i < c->member_count; i++)
    pvec_push(&c->members[i].u->convs, c);
  if (c->kind == PARLEY_CONV_DIRECT && c->member_count == 2) {
    char key[2 * PARLEY_USER_MAX + 2];
    size_t len = direct_key(c->members[0].u->name, c->members[1].u->name,
                            key);
    if (pmap_get(&s->directs, key, len) == NULL)
      pmap_put(&s->directs, key, len, c);
  }
}

void conv_fill_info(const conv *c, parley_conv_info *out)
{
  memset(out, 0, sizeof *out);
  memcpy(out->id, c->id, sizeof out->id);
  out->kind = c->kind;
  memcpy(out->title, c->title, sizeof out->title);
  out->last_seq = c->durable_seq;
  out->created_ms = c->created_ms;
  out->member_count = c->member_count;
  for (size_t i = 0; i < c->member_count; i++)
    memcpy(out->members[i], c->members[i].u->name, PARLEY_USER_MAX + 1);
}

void api_reply_conv(parley_server *s, uint64_t api_id, const conv *c,
                    bool created)
{
  api_box *box = calloc(1, sizeof *box);
  if (box == NULL)
    return;
  box->reply.api_id = api_id;
  box->conv = malloc(sizeof *box->conv);
  if (box->conv == NULL) {
    box->reply.err = PARLEY_E_INTERNAL;
  } else {
    conv_fill_info(c, box->conv);
    box->reply.conv = box->conv;
    box->reply.created = created;
  }
  act_api(s, box);
}

parley_err parley_server_conv_info(const parley_server *s, const char *name,
                                   const char *conv_id,
                                   parley_conv_info *out)
{
  if (name == NULL || conv_id == NULL || out == NULL)
    return PARLEY_E_NOT_FOUND;
  const user *u = pmap_get(&s->users, name, strlen(name));
  const conv *c = conv_for_member(s, conv_id, strlen(conv_id), u, NULL);
  if (c == NULL)
    return PARLEY_E_NOT_FOUND;
  conv_fill_info(c, out);
  return PARLEY_OK;
}

parley_err parley_server_list_convs(const parley_server *s, const char *name,
                                    void (*fn)(void *ud,
                                               const parley_conv_info *info),
                                    void *ud)
{
  if (name == NULL || fn == NULL)
    return PARLEY_OK;
  const user *u = pmap_get(&s->users, name, strlen(name));
  if (u == NULL)
    return PARLEY_OK;
  parley_conv_info *info = malloc(sizeof *info); /* about 9 KB */
  if (info == NULL)
    return PARLEY_E_INTERNAL;
  for (size_t i = 0; i < u->convs.len; i++) {
    const conv *c = u->convs.items[i];
    if (!c->durable)
      continue;
    conv_fill_info(c, info);
    fn(ud, info);
  }
  free(info);
  return PARLEY_OK;
}

/* Fills info's members with `creator` and `members`, without repeats.
 * Returns false for a bad user name or too many members. */
static bool members_collect(parley_conv_info *info, const char *creator,
                            const char *const *members, size_t count)
{
  info->member_count = 0;
  for (size_t i = 0; i <= count; i++) {
    const char *name = i == 0 ? creator : members[i - 1];
    size_t len = name ? strnlen(name, PARLEY_USER_MAX + 1) : 0;
    if (!srv_user_valid(name, len))
      return false;
    bool seen = false;
    for (size_t k = 0; k < info->member_count && !seen; k++)
      seen = strcmp(info->members[k], name) == 0;
    if (seen)
      continue;
    if (info->member_count == PARLEY_MEMBERS_MAX)
      return false;
    memcpy(info->members[info->member_count++], name, len + 1);
  }
  return true;
}

/* Picks a fresh conversation id "c" + 16 hex digits from the seeded
 * generator. */
static void conv_pick_id(parley_server *s, char *out)
{
  do {
    snprintf(out, PARLEY_ID_MAX + 1, "c%016llx",
             (unsigned long long)srv_rand(s));
  } while (pmap_get(&s->convs, out, strlen(out)) != NULL);
}

/* A direct conversation for the pair in `info` that exists or is being
 * created: answers the request and returns true. */
static bool direct_existing(parley_server *s, uint64_t api_id,
                            const parley_conv_info *info)
{
  char key[2 * PARLEY_USER_MAX + 2];
  size_t len = direct_key(info->members[0], info->members[1], key);
  conv *c = pmap_get(&s->directs, key, len);
  if (c == NULL)
    return false;
  if (c->durable) {
    api_reply_conv(s, api_id, c, false);
    return true;
  }
  waiter *w = calloc(1, sizeof *w);
  if (w == NULL) {
    act_api_error(s, api_id, PARLEY_E_INTERNAL);
    return true;
  }
  w->is_api = true;
  w->api_id = api_id;
  *c->create->waiters_tail = w;
  c->create->waiters_tail = &w->next;
  return true;
}

/* Registers the conversation and issues its durable insert; the reply
 * waits for it. */
static void conv_create(parley_server *s, uint64_t api_id,
                        parley_conv_info *info)
{
  pending *p = pending_new(s, PEND_CONV, PARLEY_STORE_CREATE_CONV);
  conv *c = p ? conv_new(s, info, false) : NULL;
  waiter *w = calloc(1, sizeof *w);
  if (p == NULL || c == NULL || w == NULL) {
    if (c != NULL)
      conv_free(pmap_del(&s->convs, c->id, strlen(c->id)));
    free(w);
    free(p);
    free(info);
    act_api_error(s, api_id, PARLEY_E_INTERNAL);
    return;
  }
  if (c->kind == PARLEY_CONV_DIRECT) {
    char key[2 * PARLEY_USER_MAX + 2];
    size_t len = direct_key(info->members[0], info->members[1], key);
    pmap_put(&s->directs, key, len, c);
  }
  w->is_api = true;
  w->api_id = api_id;
  w->created = true;
  p->waiters = w;
  p->waiters_tail = &w->next;
  p->info = info;
  p->req.conv = info;
  p->c = c;
  c->create = p;
  pending_issue(s, p);
}

void parley_server_api_create_conv(parley_server *s, uint64_t api_id,
                                   const char *name, parley_conv_kind kind,
                                   const char *title,
                                   const char *const *members,
                                   size_t member_count, uint64_t now_ms)
{
  if (!server_enter(s, now_ms))
    return;
  parley_conv_info *info = calloc(1, sizeof *info);
  size_t title_len = title ? strlen(title) : 0;
  bool ok = info != NULL &&
            (kind == PARLEY_CONV_DIRECT || kind == PARLEY_CONV_GROUP) &&
            title_len <= PARLEY_TITLE_MAX &&
            parley_utf8_valid(title ? title : "", title_len, NULL) &&
            member_count >= 1 && member_count < PARLEY_MEMBERS_MAX &&
            members != NULL &&
            members_collect(info, name, members, member_count) &&
            (kind != PARLEY_CONV_DIRECT || info->member_count == 2);
  if (!ok) {
    free(info);
    act_api_error(s, api_id, PARLEY_E_BAD_VALUE);
  } else if (kind == PARLEY_CONV_DIRECT && direct_existing(s, api_id, info)) {
    free(info);
  } else {
    info->kind = kind;
    if (title_len)
      memcpy(info->title, title, title_len + 1);
    info->created_ms = s->now;
    conv_pick_id(s, info->id);
    conv_create(s, api_id, info);
  }
  server_leave(s);
}

/* ---- typing ---- */

void on_typing(parley_server *s, session *ss, const parley_frame *f,
               const reqid *req)
{
  char conv_id[PARLEY_ID_MAX + 1];
  fbuild fb;

  if (!hdr_id(s, ss, f, req, "conv", conv_id))
    return;
  const parley_str *state = parley_frame_get(f, "state");
  if (state == NULL) {
    send_error(s, ss, PARLEY_E_MISSING_HEADER, req, "missing header: state");
    return;
  }
  if (!parley_str_eq(*state, "on") && !parley_str_eq(*state, "off")) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: state");
    return;
  }
  conv *c = conv_for_member(s, conv_id, strlen(conv_id), ss->user, NULL);
  if (c == NULL) {
    send_not_found(s, ss, conv_id, req);
    return;
  }
  fb_begin(&fb, "TYPING");
  fb_hdr(&fb, "conv", c->id);
  fb_hdr(&fb, "user", ss->user->name);
  fb_hdr_n(&fb, "state", state->ptr, state->len);
  fb_u64(&fb, "ttl", s->cfg.typing_ttl_ms);
  blob *b = fb_finish(&fb, NULL, 0, false);
  for (size_t i = 0; i < c->member_count && b != NULL; i++) {
    user *u = c->members[i].u;
    if (u == ss->user && !PARLEY_FAULT(&s->cfg, TYPING_ECHOED_TO_SENDER))
      continue; /* the other members only */
    for (size_t k = 0; k < u->sessions.len; k++) {
      session *to = u->sessions.items[k];
      if ((to->caps & CAP_TYPING) ||
          PARLEY_FAULT(&s->cfg, TYPING_IGNORES_CAPABILITY))
        act_send(s, to->conn, b);
    }
  }
  blob_unref(b);
}

/* ---- presence ---- */

static const char *presence_word(presence_status p)
{
  return p == PRES_ONLINE ? "online" : p == PRES_AWAY ? "away" : "offline";
}

/* Relays u's presence to the READY sessions, with the presence
 * capability, of the other users who share a conversation with u. */
void presence_relay(parley_server *s, user *u)
{
  fbuild fb;
  fb_begin(&fb, "PRESENCE");
  fb_hdr(&fb, "user", u->name);
  fb_hdr(&fb, "status", presence_word(u->presence));
  if (u->presence != PRES_OFFLINE && u->presence_at > s->now)
    fb_u64(&fb, "ttl", u->presence_at - s->now);
  blob *b = fb_finish(&fb, NULL, 0, false);
  if (b == NULL)
    return;
  uint64_t mark = ++s->mark;
  u->mark = mark;
  for (size_t i = 0; i < u->convs.len; i++) {
    conv *c = u->convs.items[i];
    for (size_t k = 0; k < c->member_count; k++) {
      user *peer = c->members[k].u;
      if (peer->mark == mark)
        continue;
      peer->mark = mark;
      for (size_t j = 0; j < peer->sessions.len; j++) {
        session *to = peer->sessions.items[j];
        if (to->caps & CAP_PRESENCE)
          act_send(s, to->conn, b);
      }
    }
  }
  blob_unref(b);
}

/* PRESENCE: status online or away, optional ttl (1 ms to 24 hours). */
void on_presence(parley_server *s, session *ss, const parley_frame *f,
                 const reqid *req)
{
  uint64_t ttl = 0;
  bool has_ttl = false;
  presence_status st;

  const parley_str *status = parley_frame_get(f, "status");
  if (status == NULL) {
    send_error(s, ss, PARLEY_E_MISSING_HEADER, req, "missing header: status");
    return;
  }
  if (parley_str_eq(*status, "online"))
    st = PRES_ONLINE;
  else if (parley_str_eq(*status, "away"))
    st = PRES_AWAY;
  else {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: status");
    return;
  }
  if (!hdr_u64(s, ss, f, req, "ttl", false, &ttl, &has_ttl))
    return;
  if (has_ttl && (ttl < 1 || ttl > SRV_PRESENCE_TTL_MAX)) {
    send_error(s, ss, PARLEY_E_BAD_VALUE, req, "bad value in header: ttl");
    return;
  }
  user *u = ss->user;
  u->presence = st;
  u->presence_at = has_ttl ? s->now + ttl : 0;
  presence_sched(s, u);
  presence_relay(s, u);
}

void presence_expire(parley_server *s, user *u)
{
  u->presence_at = 0;
  if (u->presence == PRES_OFFLINE)
    return;
  u->presence = PRES_OFFLINE;
  presence_relay(s, u);
}

void presence_last_session_gone(parley_server *s, user *u)
{
  presence_expire(s, u);
}
