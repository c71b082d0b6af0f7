/* The media thread of a call leg: DTLS-SRTP over the ICE component and
 * the audio pipeline's clock (spec section 19; RFC 5763, 5764, 7983).
 *
 * States, in order: gathering (ICE agent made, candidates trickled as
 * events) -> remote known (credentials given to the agent; candidates
 * that came earlier are handed over now; the connect deadline runs) ->
 * ICE up (a pair works; DTLS starts, as client if the peer's setup was
 * actpass or passive) -> DTLS done (the peer certificate's SHA-256 must
 * equal the fingerprint of its description, else FAILED and close_notify,
 * and no SRTP is ever made) -> connected (SRTP sessions from the exported
 * keys; the pipeline ticks). Any failure is final: `failed` stops every
 * timer, nothing is sent and nothing received is played after it. Once
 * connected, ICE going down (a dead path, a restart under way) is not yet
 * a failure: it arms the connect deadline, which ICE coming back stops.
 *
 * Datagrams on the component are told apart by their first octet (RFC
 * 7983): 20-63 DTLS, 128-191 RTP or RTCP; STUN never reaches us (libnice
 * keeps it). DTLS datagrams that arrive before DTLS starts (the peer's
 * ICE may be up first) are kept, a few, and fed once it starts.
 *
 * The only clock read is g_get_monotonic_time, here; the pipeline and the
 * DTLS layer are told the time or asked for their next deadline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define TICK_MAX_MS 20  /* the pipeline is looked at at least this often */

static void timer_stop(GSource **slot) {
  if (*slot) {
    g_source_destroy(*slot);
    g_source_unref(*slot);
    *slot = NULL;
  }
}

/* (Re)arms the one-shot timer in *slot to call fn(m) in ms. */
static void timer_arm(media *m, GSource **slot, guint ms, GSourceFunc fn) {
  timer_stop(slot);
  *slot = g_timeout_source_new(ms);
  g_source_set_callback(*slot, fn, m, NULL);
  g_source_attach(*slot, m->ctx);
}

static double since_ms(int64_t from_us) {
  return (double)(g_get_monotonic_time() - from_us) / 1000.0;
}

void engine_fail(media *m, const char *fmt, ...) {
  if (m->failed || m->closing)
    return;
  m->failed = true;
  timer_stop(&m->tick);
  timer_stop(&m->dtls_timer);
  timer_stop(&m->deadline);
  media_event e;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e.text, sizeof e.text, fmt, ap);
  va_end(ap);
  engine_event(m, MEDIA_EV_FAILED, "%s", e.text);
}

/* --- the pipeline ------------------------------------------------------ */

/* media_send_fn: protects a plaintext RTP/RTCP packet and sends it. */
static void send_packet(void *ud, const uint8_t *pkt, size_t len) {
  media *m = ud;
  uint8_t buf[1400 + MSRTP_TRAILER_MAX];
  if (m->failed || !m->srtp || len > 1400)
    return;
  memcpy(buf, pkt, len);
  if (msrtp_protect(m->srtp, buf, &len) == MSRTP_OK)
    ice_send(m, buf, len);
}

static gboolean on_tick(gpointer ud);

static void tick_arm(media *m, uint64_t now_us) {
  uint64_t next = media_pipe_next_us(m->pipe);
  guint ms = next > now_us ? (guint)((next - now_us + 999) / 1000) : 1;
  if (ms > TICK_MAX_MS)
    ms = TICK_MAX_MS;
  timer_arm(m, &m->tick, ms, on_tick);
}

/* Runs the pipeline at the real time and reports its milestones. */
static gboolean on_tick(gpointer ud) {
  media *m = ud;
  uint64_t now = (uint64_t)g_get_monotonic_time();
  g_mutex_lock(&m->lock);
  bool muted = m->muted;
  g_mutex_unlock(&m->lock);
  media_pipe_set_muted(m->pipe, muted);
  media_pipe_tick(m->pipe, now, send_packet, m);
  if (!m->first_audio && media_pipe_first_audio(m->pipe, NULL)) {
    m->first_audio = true;
    engine_event(m, MEDIA_EV_FIRST_AUDIO, "%s", "");
  }
  if (!m->input_done && media_pipe_input_done(m->pipe)) {
    m->input_done = true;
    engine_event(m, MEDIA_EV_INPUT_DONE, "%s", "");
  }
  if (!m->failed)
    tick_arm(m, now);
  return G_SOURCE_REMOVE;
}

/* Makes the pipeline from the options. Returns 0 or -1 with err set. */
static int pipe_start(media *m, char *err, size_t cap) {
  media_pipe_opts po;
  memset(&po, 0, sizeof po);
  po.input = m->opts.input;
  po.input_samples = m->opts.input_samples;
  po.loop_input = m->opts.loop_input;
  po.fec = m->opts.fec;
  po.bitrate = m->opts.bitrate;
  po.loss_hint_pct = m->opts.loss_hint_pct;
  po.ssrc = g_random_int();
  po.first_seq = (uint16_t)g_random_int();
  po.first_ts = g_random_int();
  po.pt = m->opts.pt;
  po.jitter_min_ms = m->opts.jitter_min_ms;
  po.jitter_max_ms = m->opts.jitter_max_ms;
  m->pipe = media_pipe_new(&po, err, cap);
  if (!m->pipe)
    return -1;
  g_mutex_lock(&m->lock);
  int64_t offer = m->t_offer_us ? m->t_offer_us : m->t_new_us;
  g_mutex_unlock(&m->lock);
  media_pipe_mark_offer(m->pipe, (uint64_t)offer);
  timer_arm(m, &m->tick, 0, on_tick);
  return 0;
}

/* --- DTLS ----------------------------------------------------------- */

static void dtls_send(void *ud, const uint8_t *buf, size_t len) {
  ice_send(ud, buf, len);
}

static void dtls_timer_arm(media *m);

static gboolean on_dtls_timer(gpointer ud);

/* Compares fingerprints, then keys SRTP and starts the pipeline. */
static void handshake_done(media *m) {
  char peer[MDTLS_FP_LEN], sdp[200], err[256];
  g_mutex_lock(&m->lock);
  g_strlcpy(sdp, m->remote_fp, sizeof sdp);
  g_mutex_unlock(&m->lock);
  if (mdtls_peer_fingerprint(m->dtls, peer) != 0) {
    mdtls_close(m->dtls);
    engine_fail(m, "DTLS: the peer presented no certificate");
    return;
  }
  if (!mdtls_fingerprint_equal(peer, sdp)) {
    mdtls_close(m->dtls);
    engine_fail(m, "DTLS fingerprint mismatch: SDP says %s, peer "
                "presented %s", sdp, peer);
    return;
  }
  uint8_t material[MSRTP_MATERIAL_LEN];
  if (mdtls_export_srtp(m->dtls, material, err, sizeof err) != 0) {
    engine_fail(m, "%s", err);
    return;
  }
  m->srtp = msrtp_new(material, m->dtls_client, err, sizeof err);
  memset(material, 0, sizeof material);
  if (!m->srtp || pipe_start(m, err, sizeof err) != 0) {
    engine_fail(m, "%s", err);
    return;
  }
  m->connected = true;
  timer_stop(&m->deadline);
  g_mutex_lock(&m->lock);
  m->tr.connected_ms = (double)(g_get_monotonic_time() - m->t_remote_us)
                       / 1000.0;
  g_mutex_unlock(&m->lock);
  engine_event(m, MEDIA_EV_CONNECTED, "%s %s:%s", m->dtls_client
               ? "dtls-client" : "dtls-server", m->tr.local_type,
               m->tr.remote_type);
}

/* Acts on what a DTLS step returned. */
static void dtls_after(media *m, mdtls_state st, const char *err) {
  switch (st) {
  case MDTLS_DONE:
    handshake_done(m);
    break;
  case MDTLS_ERROR:
    engine_fail(m, "%s", err);
    break;
  case MDTLS_CLOSED:
    engine_fail(m, "the peer closed DTLS (it may have refused our "
                "certificate)");
    break;
  default:
    break;
  }
  if (!m->failed)
    dtls_timer_arm(m);
}

static void dtls_timer_arm(media *m) {
  uint32_t ms;
  if (mdtls_timeout_ms(m->dtls, &ms))
    timer_arm(m, &m->dtls_timer, ms, on_dtls_timer);
  else
    timer_stop(&m->dtls_timer);
}

static gboolean on_dtls_timer(gpointer ud) {
  media *m = ud;
  char err[256] = "";
  g_source_unref(m->dtls_timer);
  m->dtls_timer = NULL; /* this source ends when we return */
  dtls_after(m, mdtls_on_timeout(m->dtls, err, sizeof err), err);
  return G_SOURCE_REMOVE;
}

/* Starts DTLS in the role the descriptions gave, then feeds what came
 * early. */
static void dtls_start(media *m) {
  char err[256] = "";
  m->dtls = mdtls_new(m->cert, m->dtls_client, dtls_send, m, err,
                      sizeof err);
  if (!m->dtls) {
    engine_fail(m, "%s", err);
    return;
  }
  dtls_after(m, mdtls_start(m->dtls, err, sizeof err), err);
  for (size_t i = 0; i < m->early_count && !m->failed; i++) {
    mdtls_state st = mdtls_on_datagram(m->dtls, m->early[i].buf,
                                       m->early[i].len, err, sizeof err);
    dtls_after(m, st, err);
  }
  m->early_count = 0;
  g_free(m->early);
  m->early = NULL;
}

void engine_ice_up(media *m) {
  if (m->failed || m->closing || !m->remote_set)
    return;
  if (!m->ice_up) {
    m->ice_up = true;
    g_mutex_lock(&m->lock);
    if (m->tr.ice_connects++ == 0)
      m->tr.ice_ms = since_ms(m->t_remote_us);
    g_mutex_unlock(&m->lock);
  }
  if (m->connected)
    timer_stop(&m->deadline); /* back after a restart or a loss */
  if (!m->dtls)
    dtls_start(m);
}

static gboolean on_deadline(gpointer ud);

/* Before the first connection a failed check list is final (in trickle
 * mode libnice only gives up once the peer's candidates are all in).
 * Later it may be a path that died or an ICE restart under way (libnice
 * keeps the peer's end-of-candidates across a restart): the connect
 * deadline decides then, and new candidates may still bring ICE back. */
void engine_ice_failed(media *m) {
  if (m->failed || m->closing)
    return;
  if (!m->connected) {
    engine_fail(m, "ICE failed: no candidate pair worked (%u local, %u "
                "remote candidates)", m->local_cand_count,
                m->remote_cand_count);
    return;
  }
  m->ice_up = false;
  if (!m->deadline)
    timer_arm(m, &m->deadline, m->opts.ice_timeout_ms, on_deadline);
}

/* --- received datagrams -------------------------------------------- */

static void keep_early(media *m, const uint8_t *buf, size_t len) {
  if (len > sizeof m->early[0].buf || m->early_count >= MEDIA_EARLY_MAX)
    return;
  if (!m->early)
    m->early = g_new0(early_datagram, MEDIA_EARLY_MAX);
  m->early[m->early_count].len = len;
  memcpy(m->early[m->early_count].buf, buf, len);
  m->early_count++;
}

/* Copies the SRTP layer's counters into the transport report. */
static void srtp_counts_publish(media *m) {
  msrtp_counts n;
  msrtp_get_counts(m->srtp, &n);
  g_mutex_lock(&m->lock);
  m->tr.srtp_in = n.unprotected_rtp + n.unprotected_rtcp;
  m->tr.srtp_auth_fail = n.auth_fail;
  m->tr.srtp_replay = n.replay;
  m->tr.srtp_other_fail = n.other_fail;
  g_mutex_unlock(&m->lock);
}

/* Counts a datagram dropped before any layer looked at it. */
static void count_dropped(media *m, uint64_t *counter) {
  g_mutex_lock(&m->lock);
  (*counter)++;
  g_mutex_unlock(&m->lock);
}

static void on_srtp(media *m, const uint8_t *buf, size_t len) {
  uint8_t pkt[2048];
  if (len > sizeof pkt) {
    count_dropped(m, &m->tr.dropped_other);
    return;
  }
  if (!m->srtp || !m->pipe) {
    count_dropped(m, &m->tr.dropped_early);
    return;
  }
  memcpy(pkt, buf, len);
  msrtp_result r = msrtp_unprotect(m->srtp, pkt, &len);
  srtp_counts_publish(m);
  if (r == MSRTP_OK)
    media_pipe_on_packet(m->pipe, pkt, len,
                         (uint64_t)g_get_monotonic_time());
}

void engine_on_datagram(media *m, const uint8_t *buf, size_t len) {
  char err[256] = "";
  if (m->failed || m->closing || len == 0)
    return;
  if (buf[0] >= 20 && buf[0] <= 63) {
    if (!m->dtls)
      keep_early(m, buf, len);
    else
      dtls_after(m, mdtls_on_datagram(m->dtls, buf, len, err, sizeof err),
                 err);
  } else if (buf[0] >= 128 && buf[0] <= 191) {
    on_srtp(m, buf, len);
  } else {
    count_dropped(m, &m->tr.dropped_other); /* STUN went to libnice */
  }
}

/* --- commands from the owner's thread ------------------------------- */

static gboolean on_deadline(gpointer ud) {
  media *m = ud;
  g_source_unref(m->deadline);
  m->deadline = NULL;
  if (m->connected && m->ice_up)
    return G_SOURCE_REMOVE;
  if (m->connected)
    engine_fail(m, "ICE lost the connection and did not get it back "
                "within %u ms", m->opts.ice_timeout_ms);
  else if (m->ice_up)
    engine_fail(m, "DTLS handshake did not complete within %u ms",
                m->opts.ice_timeout_ms);
  else if (m->local_cand_count == 0 && m->turn)
    engine_fail(m, "ICE did not connect within %u ms: no local candidate "
                "(the TURN server %s did not answer or refused the "
                "credentials)", m->opts.ice_timeout_ms, m->turn);
  else
    engine_fail(m, "ICE did not connect within %u ms (state %s; %u local, "
                "%u remote candidates)", m->opts.ice_timeout_ms,
                ice_state_name(m), m->local_cand_count,
                m->remote_cand_count);
  return G_SOURCE_REMOVE;
}

static void add_candidate(media *m, NiceCandidate *c) {
  GSList one = {.data = c, .next = NULL};
  m->remote_cand_count++;
  nice_agent_set_remote_candidates(m->agent, m->stream_id, 1, &one);
  nice_candidate_free(c);
}

static void cmd_set_remote(media *m, const media_desc *d) {
  if (!m->t_remote_us) {
    m->t_remote_us = g_get_monotonic_time();
    m->dtls_client = d->setup != PARLEY_SETUP_ACTIVE;
  }
  nice_agent_set_remote_credentials(m->agent, m->stream_id, d->ufrag,
                                    d->pwd);
  m->remote_set = true;
  GSList *pending = g_slist_reverse(m->pending_cands);
  m->pending_cands = NULL;
  for (GSList *i = pending; i; i = i->next)
    add_candidate(m, i->data);
  g_slist_free(pending);
  if (!(m->connected && m->ice_up) && !m->deadline)
    timer_arm(m, &m->deadline, m->opts.ice_timeout_ms, on_deadline);
}

static void cmd_ice_restart(media *m, const engine_cmd *c) {
  nice_agent_restart_stream(m->agent, m->stream_id);
  nice_agent_set_local_credentials(m->agent, m->stream_id, c->ufrag,
                                   c->pwd);
  m->remote_set = false; /* the restart forgot the peer's credentials */
  m->ice_up = false;
  ice_report_local_candidates(m);
}

gboolean engine_run_cmd(gpointer ud) {
  engine_cmd *c = ud;
  media *m = c->m;
  if (m->failed || m->closing || !m->agent)
    return G_SOURCE_REMOVE;
  switch (c->kind) {
  case CMD_SET_REMOTE:
    cmd_set_remote(m, &c->desc);
    break;
  case CMD_CANDIDATE:
    if (m->remote_set)
      add_candidate(m, c->cand);
    else
      m->pending_cands = g_slist_prepend(m->pending_cands, c->cand);
    c->cand = NULL;
    break;
  case CMD_CANDIDATES_DONE:
    nice_agent_peer_candidate_gathering_done(m->agent, m->stream_id);
    break;
  case CMD_ICE_RESTART:
    cmd_ice_restart(m, c);
    break;
  }
  return G_SOURCE_REMOVE;
}

void engine_cmd_free(gpointer ud) {
  engine_cmd *c = ud;
  if (c->cand)
    nice_candidate_free(c->cand);
  g_free(c);
}

void engine_teardown(media *m) {
  m->closing = true; /* what still runs while TURN closes does nothing */
  timer_stop(&m->tick);
  timer_stop(&m->dtls_timer);
  timer_stop(&m->deadline);
  mdtls_free(m->dtls);
  m->dtls = NULL;
  msrtp_free(m->srtp);
  m->srtp = NULL;
  g_free(m->early);
  m->early = NULL;
  g_slist_free_full(m->pending_cands, (GDestroyNotify)nice_candidate_free);
  m->pending_cands = NULL;
  ice_agent_free(m);
}
