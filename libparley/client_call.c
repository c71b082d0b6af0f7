/* Call signaling in the client core (spec section 19).
 *
 * The core is a courier here: it keeps no call state. The host's call
 * layer (parley/call.h) asks for call frames to be sent; the core gives
 * each a req "c-N", sends it while the session is READY and keeps a copy
 * until the OK or ERROR that names the req arrives. The answer goes to
 * the host as EV_CALL together with the verb and the call of the request
 * it answers, so the call layer needs no table of its own. Relayed call
 * frames (RING ... CALL-END) go to the host as EV_CALL as well.
 *
 * Rate limits (RATE-2): during a hold, call requests wait with the other
 * held frames; a call request refused with rate-limited is sent again,
 * with the same req, when the hold ends. A session that ends forgets its
 * requests: their answers can no longer come, and a call layer rejoins
 * on the next READY (EV_READY with `reconnected`).
 *
 * Invariant: callreqs[] is in the order the requests were made, which is
 * the order they are (re)sent in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

/* Verbs a client sends (the request side of section 19). */
static const char *const request_verbs[] = {
  "CALL", "JOIN", "OFFER", "ANSWER", "CANDIDATE", "END-OF-CANDIDATES",
  "MEDIA-STATE", "LEAVE", "HANGUP"
};

/* Verbs the server sends that the core hands to the call layer. */
static const char *const event_verbs[] = {
  "RING", "PARTICIPANTS", "JOINED", "LEFT", "OFFER", "ANSWER", "CANDIDATE",
  "END-OF-CANDIDATES", "MEDIA-STATE", "RING-STOP", "CALL-END"
};

static bool in_list(const char *const *list, size_t n, const char *verb)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (strcmp(list[i], verb) == 0)
      return true;
  return false;
}

static bool reserved_name(const char *name)
{
  return strcmp(name, "req") == 0 || strcmp(name, "content-type") == 0 ||
         strcmp(name, "content-length") == 0;
}

/* Queues a copy of `len` octets as one SEND. */
static void send_copy(parley_client *c, const char *data, size_t len)
{
  parley_buf b = {0};

  if (!parley_buf_append(&b, data, len)) {
    c->oom = true;
    return;
  }
  cl_send_frame(c, &b);
  parley_buf_free(&b);
}

/* Writes the frame of a call request into b. Returns PARLEY_OK or the
 * serializer's error. */
static parley_err build_request(parley_buf *b, const char *verb,
                                const parley_call_header *headers,
                                size_t header_count, const char *req,
                                const char *content_type, const char *body,
                                size_t body_len)
{
  parley_err err = parley_frame_begin(b, verb);
  size_t i;

  for (i = 0; i < header_count && err == PARLEY_OK; i++)
    err = parley_frame_header_str(b, headers[i].name, headers[i].value);
  if (err == PARLEY_OK)
    err = parley_frame_header_str(b, "req", req);
  if (err == PARLEY_OK && content_type != NULL)
    err = parley_frame_header_str(b, "content-type", content_type);
  if (err == PARLEY_OK)
    err = parley_frame_end(b, content_type ? body : NULL,
                           content_type ? body_len : 0, false);
  return err;
}

/* Checks what parley_client_call_send was given. */
static parley_err check_request(const char *verb,
                                const parley_call_header *headers,
                                size_t header_count)
{
  size_t i;

  if (verb == NULL ||
      !in_list(request_verbs, sizeof request_verbs / sizeof *request_verbs,
               verb) ||
      header_count > PARLEY_CALL_HEADERS_MAX ||
      (header_count > 0 && headers == NULL))
    return PARLEY_E_BAD_VALUE;
  for (i = 0; i < header_count; i++)
    if (headers[i].name == NULL || headers[i].value == NULL ||
        reserved_name(headers[i].name))
      return PARLEY_E_BAD_VALUE;
  return PARLEY_OK;
}

/* Keeps the request (frame octets in b, taken over) for its answer. */
static cl_callreq *keep_request(parley_client *c, uint64_t n,
                                const char *verb,
                                const parley_call_header *headers,
                                size_t header_count, parley_buf *b)
{
  cl_callreq *r;
  size_t i;

  if (!cl_grow((void **)&c->callreqs, &c->callreq_cap,
               c->callreq_count + 1, sizeof *c->callreqs))
    return NULL;
  r = &c->callreqs[c->callreq_count++];
  memset(r, 0, sizeof *r);
  r->n = n;
  snprintf(r->verb, sizeof r->verb, "%s", verb);
  for (i = 0; i < header_count; i++)
    if (strcmp(headers[i].name, "call") == 0)
      snprintf(r->call, sizeof r->call, "%s", headers[i].value);
  r->frame = b->data;
  r->len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return r;
}

parley_err parley_client_call_send(parley_client *c, const char *verb,
                                   const parley_call_header *headers,
                                   size_t header_count,
                                   const char *content_type,
                                   const char *body, size_t body_len,
                                   uint64_t now_ms,
                                   char req_out[PARLEY_ID_MAX + 1])
{
  parley_buf b = {0};
  char req[PARLEY_ID_MAX + 1];
  parley_err err = check_request(verb, headers, header_count);
  cl_callreq *r;
  uint64_t n;

  if (err != PARLEY_OK)
    return err;
  if (c->state != CL_READY)
    return PARLEY_E_BAD_STATE;
  if (content_type != NULL && body_len > c->max_body)
    return PARLEY_E_FRAME_TOO_LARGE;
  cl_enter(c);
  n = cl_next_req(c, req, sizeof req, 'c');
  err = build_request(&b, verb, headers, header_count, req, content_type,
                      body ? body : "", body_len);
  if (err == PARLEY_OK && b.len > c->max_frame)
    err = PARLEY_E_FRAME_TOO_LARGE;
  if (err != PARLEY_OK) {
    parley_buf_free(&b);
    return err;
  }
  r = keep_request(c, n, verb, headers, header_count, &b);
  parley_buf_free(&b);
  if (r == NULL)
    return PARLEY_E_INTERNAL;
  if (c->hold_until == 0) {
    r->sent = true;
    send_copy(c, r->frame, r->len);
  }
  if (req_out != NULL)
    snprintf(req_out, PARLEY_ID_MAX + 1, "%s", req);
  err = c->oom ? PARLEY_E_INTERNAL : PARLEY_OK;
  cl_leave(c, now_ms);
  return err;
}

/* Copies header `name` into a field of the event (left empty when it is
 * absent or too long). */
#define COPY_(f, name, field) cl_hdr_copy(f, name, field, sizeof field)

/* Queues an EV_CALL with the frame's known headers and a copy of its
 * body. Returns the event's frame, or NULL when memory ran out. */
static parley_call_frame *push_event(parley_client *c, const parley_frame *f)
{
  cl_item *it = cl_push(c, PARLEY_CLIENT_EV_CALL);
  parley_call_frame *cf;
  const parley_str *v;
  char *body;

  if (it == NULL)
    return NULL;
  it->owned = calloc(1, sizeof *cf + f->body.len + 1);
  if (it->owned == NULL) {
    c->oom = true;
    it->a.kind = PARLEY_CLIENT_EV_ERROR; /* an empty, harmless event */
    return NULL;
  }
  cf = (parley_call_frame *)(void *)it->owned;
  body = it->owned + sizeof *cf;
  snprintf(cf->verb, sizeof cf->verb, "%.*s", (int)f->verb.len, f->verb.ptr);
  COPY_(f, "req", cf->req);
  COPY_(f, "call", cf->call);
  COPY_(f, "conv", cf->conv);
  COPY_(f, "from", cf->from);
  COPY_(f, "device", cf->device);
  COPY_(f, "user", cf->user);
  COPY_(f, "media", cf->media);
  COPY_(f, "state", cf->state);
  COPY_(f, "reason", cf->reason);
  COPY_(f, "candidate", cf->candidate);
  COPY_(f, "mid", cf->mid);
  COPY_(f, "audio", cf->audio);
  COPY_(f, "video", cf->video);
  COPY_(f, "screen", cf->screen);
  COPY_(f, "content-type", cf->content_type);
  cl_hdr_u64(f, "count", &cf->count);
  cl_hdr_u64(f, "ts", &cf->ts);
  v = parley_frame_get(f, "rejoin");
  cf->rejoin = v != NULL && parley_str_eq(*v, "yes");
  v = parley_frame_get(f, "ice-restart");
  cf->ice_restart = v != NULL && parley_str_eq(*v, "yes");
  if (f->body.len > 0)
    memcpy(body, f->body.ptr, f->body.len);
  cf->body = body;
  cf->body_len = f->body.len;
  it->a.call = cf;
  return cf;
}
#undef COPY_

/* A relayed call frame or a server event. Returns false when `f` is not
 * a call frame. A frame without `call` is reported as an EV_ERROR and
 * dropped. Frames reach the host only when it runs a call layer. */
bool cl_call_on_frame(parley_client *c, const parley_frame *f)
{
  char verb[PARLEY_VERB_MAX + 1];

  if (f->verb.len >= sizeof verb)
    return false;
  memcpy(verb, f->verb.ptr, f->verb.len);
  verb[f->verb.len] = '\0';
  if (!in_list(event_verbs, sizeof event_verbs / sizeof *event_verbs, verb))
    return false;
  if (!c->cfg.calls)
    return true; /* a server relaying without the capability: ignored */
  if (parley_frame_get(f, "call") == NULL) {
    cl_event_error(c, PARLEY_E_MISSING_HEADER, false, verb, strlen(verb));
    return true;
  }
  push_event(c, f);
  return true;
}

static cl_callreq *find_request(parley_client *c, uint64_t n, size_t *idx)
{
  size_t i;

  for (i = 0; i < c->callreq_count; i++)
    if (c->callreqs[i].n == n) {
      *idx = i;
      return &c->callreqs[i];
    }
  return NULL;
}

static void drop_request(parley_client *c, size_t idx)
{
  free(c->callreqs[idx].frame);
  memmove(c->callreqs + idx, c->callreqs + idx + 1,
          (c->callreq_count - idx - 1) * sizeof *c->callreqs);
  c->callreq_count--;
}

/* Reads the number of a req "c-N"; 0 when it is not of that form. */
static uint64_t call_req_number(const parley_frame *f)
{
  char req[PARLEY_ID_MAX + 1];

  if (!cl_hdr_copy(f, "req", req, sizeof req) || req[0] != 'c' ||
      req[1] != '-')
    return 0;
  return strtoull(req + 2, NULL, 10);
}

/* Hands an answer (OK or ERROR) to request r over as EV_CALL. */
static parley_call_frame *push_answer(parley_client *c,
                                      const parley_frame *f,
                                      const cl_callreq *r)
{
  parley_call_frame *cf = push_event(c, f);

  if (cf == NULL)
    return NULL;
  snprintf(cf->request, sizeof cf->request, "%s", r->verb);
  snprintf(cf->request_call, sizeof cf->request_call, "%s", r->call);
  if (cf->call[0] == '\0')
    memcpy(cf->call, cf->request_call, sizeof cf->call);
  return cf;
}

/* OK: the answer to a call request (a req "c-N" the core still holds).
 * Other OKs mean nothing to the core. */
void cl_call_on_ok(parley_client *c, const parley_frame *f)
{
  uint64_t n = call_req_number(f);
  cl_callreq *r;
  size_t idx;

  if (n == 0 || (r = find_request(c, n, &idx)) == NULL)
    return;
  push_answer(c, f, r);
  drop_request(c, idx);
}

/* An ERROR naming a call request `req`. A rate-limited one waits for the
 * end of the hold and goes again (RATE-2); any other is handed over as
 * EV_CALL. Returns false when the core holds no such request. */
bool cl_call_on_error(parley_client *c, uint64_t req, parley_err err,
                      const parley_frame *f)
{
  parley_call_frame *cf;
  cl_callreq *r;
  size_t idx;

  if ((r = find_request(c, req, &idx)) == NULL)
    return false;
  if (err == PARLEY_E_RATE_LIMITED) {
    r->sent = false;
    return true;
  }
  cf = push_answer(c, f, r);
  if (cf != NULL)
    cf->err = err;
  drop_request(c, idx);
  return true;
}

/* The hold is over: the call requests it kept go out, in order. */
void cl_call_resend(parley_client *c)
{
  size_t i;

  for (i = 0; i < c->callreq_count; i++)
    if (!c->callreqs[i].sent) {
      c->callreqs[i].sent = true;
      send_copy(c, c->callreqs[i].frame, c->callreqs[i].len);
    }
}

/* The session ended: no answer to what it sent can come any more. */
void cl_call_reset_session(parley_client *c)
{
  while (c->callreq_count > 0)
    drop_request(c, c->callreq_count - 1);
}

bool parley_client_has_cap(const parley_client *c, const char *cap)
{
  size_t n = strlen(cap);
  const char *p = c->welcome_caps;

  while (n > 0 && *p != '\0') {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    while (len > 0 && *p == ' ') {
      p++;
      len--;
    }
    while (len > 0 && p[len - 1] == ' ')
      len--;
    if (len == n && memcmp(p, cap, n) == 0)
      return true;
    if (end == NULL)
      break;
    p = end + 1;
  }
  return false;
}
