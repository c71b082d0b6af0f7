/* ICE of a call leg over libnice: see engine.h.
 *
 * One agent in RFC 5245/8445 mode with trickle on, one stream with one
 * component (RTP and RTCP share it, RFC 5761). Host candidates come from
 * 127.0.0.1 always and, when media_opts.all_interfaces is set, from every
 * other address of the machine: the reference client is mostly run with
 * both ends on one machine, and offering addresses nobody asked for would
 * send checks out of interfaces a test never meant to use. STUN adds a
 * server-reflexive candidate and TURN (over UDP) a relayed one when
 * configured; relay_only sets libnice's force-relay. libnice takes
 * numeric addresses only, so STUN and TURN hosts are resolved here.
 *
 * The agent is made on the owner's thread before the media thread starts
 * (nothing is dispatched yet); from then on it is used on the media
 * thread only, where its signals arrive. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <nice/interfaces.h>
#include <openssl/rand.h>

#include "engine.h"
#include "parley/sdp.h"

#define COMPONENT 1

/* Splits "HOST:PORT" (or "[V6]:PORT") and resolves HOST to a numeric
 * address in `ip`. Returns 0 or -1 with a message. */
static int resolve(const char *what, const char *hostport, char ip[64],
                   guint *port, char *err, size_t cap) {
  char host[256];
  const char *colon = strrchr(hostport, ':');
  const char *h = hostport;
  size_t hlen = colon ? (size_t)(colon - hostport) : 0;
  if (hlen && h[0] == '[' && h[hlen - 1] == ']') {
    h++;
    hlen -= 2;
  }
  char *end = NULL;
  long p = colon ? strtol(colon + 1, &end, 10) : 0;
  if (!colon || hlen == 0 || hlen >= sizeof host || *end || p < 1
      || p > 65535) {
    snprintf(err, cap, "%s server must be HOST:PORT, got \"%s\"", what,
             hostport);
    return -1;
  }
  memcpy(host, h, hlen);
  host[hlen] = 0;

  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
  struct addrinfo *ai = NULL;
  int rc = getaddrinfo(host, NULL, &hints, &ai);
  if (rc != 0) {
    snprintf(err, cap, "%s server %s: %s", what, host, gai_strerror(rc));
    return -1;
  }
  const void *a = ai->ai_family == AF_INET
    ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
    : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
  inet_ntop(ai->ai_family, a, ip, 64);
  freeaddrinfo(ai);
  *port = (guint)p;
  return 0;
}

static const char *type_name(NiceCandidateType t) {
  switch (t) {
  case NICE_CANDIDATE_TYPE_HOST: return "host";
  case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE: return "srflx";
  case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE: return "prflx";
  case NICE_CANDIDATE_TYPE_RELAYED: return "relay";
  }
  return "host";
}

/* Writes `c` as an RFC 8839 candidate-attribute value. */
static void candidate_text(const NiceCandidate *c, char *out, size_t cap) {
  char addr[NICE_ADDRESS_STRING_LEN], raddr[NICE_ADDRESS_STRING_LEN];
  nice_address_to_string(&c->addr, addr);
  int n = snprintf(out, cap, "candidate:%s %u udp %u %s %u typ %s",
                   c->foundation, c->component_id, c->priority, addr,
                   nice_address_get_port(&c->addr), type_name(c->type));
  if (c->type != NICE_CANDIDATE_TYPE_HOST && n > 0 && (size_t)n < cap
      && nice_address_is_valid(&c->base_addr)) {
    nice_address_to_string(&c->base_addr, raddr);
    snprintf(out + n, cap - (size_t)n, " raddr %s rport %u", raddr,
             nice_address_get_port(&c->base_addr));
  }
}

static void on_candidate(NiceAgent *agent, NiceCandidate *c, gpointer ud) {
  media *m = ud;
  if (c->component_id != COMPONENT
      || c->transport != NICE_CANDIDATE_TRANSPORT_UDP)
    return;
  char text[400];
  candidate_text(c, text, sizeof text);
  m->local_cand_count++;
  engine_event(m, MEDIA_EV_CANDIDATE, "%s", text);
}

static void on_gathering_done(NiceAgent *agent, guint stream, gpointer ud) {
  engine_event(ud, MEDIA_EV_GATHERING_DONE, "%s", "");
}

static void on_state(NiceAgent *agent, guint stream, guint component,
                     guint state, gpointer ud) {
  media *m = ud;
  if (state == NICE_COMPONENT_STATE_CONNECTED
      || state == NICE_COMPONENT_STATE_READY)
    engine_ice_up(m);
  else if (state == NICE_COMPONENT_STATE_FAILED)
    engine_ice_failed(m);
}

static void on_pair(NiceAgent *agent, guint stream, guint component,
                    NiceCandidate *l, NiceCandidate *r, gpointer ud) {
  media *m = ud;
  char a[NICE_ADDRESS_STRING_LEN];
  g_mutex_lock(&m->lock);
  g_strlcpy(m->tr.local_type, type_name(l->type), sizeof m->tr.local_type);
  g_strlcpy(m->tr.remote_type, type_name(r->type), sizeof m->tr.remote_type);
  nice_address_to_string(&l->addr, a);
  snprintf(m->tr.local_addr, sizeof m->tr.local_addr, "%s:%u", a,
           nice_address_get_port(&l->addr));
  nice_address_to_string(&r->addr, a);
  snprintf(m->tr.remote_addr, sizeof m->tr.remote_addr, "%s:%u", a,
           nice_address_get_port(&r->addr));
  g_mutex_unlock(&m->lock);
}

static void on_recv(NiceAgent *agent, guint stream, guint component,
                    guint len, gchar *buf, gpointer ud) {
  engine_on_datagram(ud, (const uint8_t *)buf, len);
}

/* Host addresses: 127.0.0.1, plus the machine's others on request. */
static void add_host_addresses(media *m) {
  NiceAddress a;
  nice_address_init(&a);
  nice_address_set_from_string(&a, "127.0.0.1");
  nice_agent_add_local_address(m->agent, &a);
  if (!m->opts.all_interfaces)
    return;
  GList *ips = nice_interfaces_get_local_ips(FALSE);
  for (GList *i = ips; i; i = i->next) {
    if (nice_address_set_from_string(&a, i->data))
      nice_agent_add_local_address(m->agent, &a);
  }
  g_list_free_full(ips, g_free);
}

/* STUN and TURN servers from the options. Returns 0 or -1. */
static int add_servers(media *m, char *err, size_t cap) {
  char ip[64];
  guint port;
  if (m->stun) {
    if (resolve("STUN", m->stun, ip, &port, err, cap) != 0)
      return -1;
    g_object_set(m->agent, "stun-server", ip, "stun-server-port", port,
                 NULL);
  }
  if (m->turn) {
    if (resolve("TURN", m->turn, ip, &port, err, cap) != 0)
      return -1;
    if (!nice_agent_set_relay_info(m->agent, m->stream_id, COMPONENT, ip,
                                   port, m->turn_user ? m->turn_user : "",
                                   m->turn_pass ? m->turn_pass : "",
                                   NICE_RELAY_TYPE_TURN_UDP)) {
      snprintf(err, cap, "TURN server %s refused by libnice", m->turn);
      return -1;
    }
  }
  return 0;
}

int ice_agent_new(media *m, char *err, size_t cap) {
  m->agent = nice_agent_new_full(m->ctx, NICE_COMPATIBILITY_RFC5245,
                                 NICE_AGENT_OPTION_ICE_TRICKLE);
  if (!m->agent) {
    snprintf(err, cap, "cannot create the ICE agent");
    return -1;
  }
  g_object_set(m->agent, "upnp", FALSE,
               "controlling-mode", (gboolean)m->opts.controlling,
               "force-relay", (gboolean)m->opts.relay_only, NULL);
  add_host_addresses(m);
  m->stream_id = nice_agent_add_stream(m->agent, 1);
  if (m->stream_id == 0) {
    snprintf(err, cap, "cannot add the ICE stream");
    return -1;
  }
  if (add_servers(m, err, cap) != 0)
    return -1;
  nice_agent_set_local_credentials(m->agent, m->stream_id, m->ufrag,
                                   m->pwd);
  g_signal_connect(m->agent, "new-candidate-full",
                   G_CALLBACK(on_candidate), m);
  g_signal_connect(m->agent, "candidate-gathering-done",
                   G_CALLBACK(on_gathering_done), m);
  g_signal_connect(m->agent, "component-state-changed",
                   G_CALLBACK(on_state), m);
  g_signal_connect(m->agent, "new-selected-pair-full",
                   G_CALLBACK(on_pair), m);
  nice_agent_attach_recv(m->agent, m->stream_id, COMPONENT, m->ctx, on_recv,
                         m);
  return 0;
}

void ice_gather(media *m) {
  if (!nice_agent_gather_candidates(m->agent, m->stream_id))
    engine_fail(m, "ICE: gathering candidates failed");
}

void ice_report_local_candidates(media *m) {
  GSList *list = nice_agent_get_local_candidates(m->agent, m->stream_id,
                                                 COMPONENT);
  for (GSList *i = list; i; i = i->next)
    on_candidate(m->agent, i->data, m);
  g_slist_free_full(list, (GDestroyNotify)nice_candidate_free);
  engine_event(m, MEDIA_EV_GATHERING_DONE, "%s", "");
}

static NiceCandidateType type_from_name(const char *t, bool *ok) {
  *ok = true;
  if (strcmp(t, "host") == 0)
    return NICE_CANDIDATE_TYPE_HOST;
  if (strcmp(t, "srflx") == 0)
    return NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE;
  if (strcmp(t, "prflx") == 0)
    return NICE_CANDIDATE_TYPE_PEER_REFLEXIVE;
  if (strcmp(t, "relay") == 0)
    return NICE_CANDIDATE_TYPE_RELAYED;
  *ok = false;
  return NICE_CANDIDATE_TYPE_HOST;
}

/* Turns a parsed candidate into a NiceCandidate of m's stream. */
static NiceCandidate *to_nice(media *m, const parley_candidate *p, char *err,
                              size_t cap) {
  bool ok;
  NiceCandidateType type = type_from_name(p->type, &ok);
  if (!ok || strcmp(p->transport, "udp") != 0 || p->component != COMPONENT) {
    snprintf(err, cap, "only UDP candidates of component 1 are used "
             "(got %s component %u type %s)", p->transport, p->component,
             p->type);
    return NULL;
  }
  NiceCandidate *c = nice_candidate_new(type);
  c->stream_id = m->stream_id;
  c->component_id = COMPONENT;
  c->transport = NICE_CANDIDATE_TRANSPORT_UDP;
  c->priority = p->priority;
  g_strlcpy(c->foundation, p->foundation, sizeof c->foundation);
  if (!nice_address_set_from_string(&c->addr, p->address)) {
    snprintf(err, cap, "candidate address %s is not an IP address",
             p->address);
    nice_candidate_free(c);
    return NULL;
  }
  nice_address_set_port(&c->addr, p->port);
  if (p->has_related && nice_address_set_from_string(&c->base_addr,
                                                     p->raddr))
    nice_address_set_port(&c->base_addr, p->rport);
  return c;
}

NiceCandidate *ice_candidate_parse(media *m, const char *text, char *err,
                                   size_t cap) {
  if (strncmp(text, "a=", 2) == 0)
    text += 2;
  size_t len = strlen(text);
  while (len && (text[len - 1] == '\r' || text[len - 1] == '\n'))
    len--;
  parley_candidate p;
  parley_sdp_error perr;
  memset(&perr, 0, sizeof perr);
  if (parley_candidate_parse(text, len, &p, &perr) != PARLEY_OK) {
    snprintf(err, cap, "bad candidate (column %u, rule %s): %s",
             perr.column, perr.rule, perr.message);
    return NULL;
  }
  return to_nice(m, &p, err, cap);
}

void ice_send(media *m, const uint8_t *buf, size_t len) {
  nice_agent_send(m->agent, m->stream_id, COMPONENT, (guint)len,
                  (const gchar *)buf);
}

static void on_closed(GObject *agent, GAsyncResult *res, gpointer ud) {
  *(bool *)ud = true;
}

static gboolean close_timeout(gpointer ud) {
  *(bool *)ud = true;
  return G_SOURCE_REMOVE;
}

/* Releases what TURN servers hold for us (a refresh with lifetime 0) and
 * waits for that on this thread's context, CLOSE_WAIT_MS at most, so a
 * hung-up call leaves no allocation behind on the server. */
#define CLOSE_WAIT_MS 1000

void ice_agent_free(media *m) {
  if (!m->agent)
    return;
  if (m->turn && g_main_context_is_owner(m->ctx)) {
    bool closed = false, late = false;
    GSource *t = g_timeout_source_new(CLOSE_WAIT_MS);
    g_source_set_callback(t, close_timeout, &late, NULL);
    g_source_attach(t, m->ctx);
    nice_agent_close_async(m->agent, on_closed, &closed);
    while (!closed && !late)
      g_main_context_iteration(m->ctx, TRUE);
    g_source_destroy(t);
    g_source_unref(t);
  }
  if (m->stream_id)
    nice_agent_attach_recv(m->agent, m->stream_id, COMPONENT, m->ctx, NULL,
                           NULL);
  g_object_unref(m->agent);
  m->agent = NULL;
}

void ice_random_credentials(char ufrag[257], char pwd[257]) {
  static const char ice_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned char r[8 + 24];
  if (RAND_bytes(r, sizeof r) != 1) {
    for (size_t i = 0; i < sizeof r; i++)
      r[i] = (unsigned char)g_random_int();
  }
  for (size_t i = 0; i < 8; i++)
    ufrag[i] = ice_chars[r[i] % 64];
  ufrag[8] = 0;
  for (size_t i = 0; i < 24; i++)
    pwd[i] = ice_chars[r[8 + i] % 64];
  pwd[24] = 0;
}

const char *ice_state_name(media *m) {
  return nice_component_state_to_string(
    nice_agent_get_component_state(m->agent, m->stream_id, COMPONENT));
}
