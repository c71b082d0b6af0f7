/* SDP bodies of the client call machine (spec section 19): what this side
 * offers or answers, and what it takes from the peer's.
 *
 * The offer has one audio section: m=audio 9 UDP/TLS/RTP/SAVPF 111,
 * opus/48000/2 with minptime=10 and useinbandfec as configured, the ICE
 * credentials and the DTLS fingerprint of the media engine, setup actpass
 * (an answer: active), mid 0, rtcp-mux and ice-options trickle. Candidates are not
 * in the body: they are trickled. An answer mirrors the offer's sections
 * in order; the first usable audio section gets this side's description
 * and every other section is refused with port 0.
 *
 * A remote body is parsed with parley_sdp_parse (grammar and profile),
 * then the machine's own needs are checked: an audio section with opus,
 * ICE credentials, a sha-256 fingerprint and a setup role. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_internal.h"

#define SDP_CAP 8192
#define OPUS_PT 111

static bool proto_ok(const char *proto)
{
  return strcmp(proto, "UDP/TLS/RTP/SAVPF") == 0 ||
         strcmp(proto, "UDP/TLS/RTP/SAVP") == 0;
}

/* Fills m with this side's audio section. */
static void local_audio(const parley_call *call, parley_sdp_media *m,
                        const char *mid)
{
  snprintf(m->kind, sizeof m->kind, "audio");
  m->port = 9; /* trickle ICE: the address comes with the candidates */
  snprintf(m->proto, sizeof m->proto, "UDP/TLS/RTP/SAVPF");
  m->opus_pt = OPUS_PT;
  m->fec = call->fec;
  snprintf(m->mid, sizeof m->mid, "%s", mid);
  m->rtcp_mux = true;
  m->direction = PARLEY_DIR_SENDRECV;
  snprintf(m->ice_ufrag, sizeof m->ice_ufrag, "%s", call->local.ufrag);
  snprintf(m->ice_pwd, sizeof m->ice_pwd, "%s", call->local.pwd);
  snprintf(m->fp_alg, sizeof m->fp_alg, "%s",
           call->local.fp_alg[0] ? call->local.fp_alg : "sha-256");
  snprintf(m->fingerprint, sizeof m->fingerprint, "%s",
           call->local.fingerprint);
  m->setup = call->my_setup;
}

/* A refused section of the answer: same kind, proto and mid, port 0. */
static void refused(const ca_section *s, parley_sdp_media *m)
{
  snprintf(m->kind, sizeof m->kind, "%s", s->kind);
  m->port = 0;
  snprintf(m->proto, sizeof m->proto, "%s", s->proto);
  m->opus_pt = -1;
  snprintf(m->mid, sizeof m->mid, "%s", s->mid);
  m->rtcp_mux = true;
  m->direction = PARLEY_DIR_INACTIVE;
}

const char *ca_audio_mid(const parley_call *call)
{
  if (call->section_count > 0 &&
      call->sections[call->audio_section].mid[0] != '\0')
    return call->sections[call->audio_section].mid;
  return "0";
}

char *ca_sdp_write(parley_call *call, bool offer, size_t *len)
{
  parley_sdp *s = calloc(1, sizeof *s);
  char *out = malloc(SDP_CAP);
  size_t i, n = 0;

  if (s != NULL && out != NULL) {
    snprintf(s->origin_user, sizeof s->origin_user, "-");
    s->sess_id = call->sess_id;
    s->sess_version = ++call->sess_version;
    snprintf(s->origin_addr, sizeof s->origin_addr, "127.0.0.1");
    s->ice_trickle = true;
    if (offer) {
      s->media_count = 1;
      local_audio(call, &s->media[0], ca_audio_mid(call));
    } else {
      s->media_count = call->section_count;
      for (i = 0; i < call->section_count; i++)
        if (i == call->audio_section)
          local_audio(call, &s->media[i], ca_audio_mid(call));
        else
          refused(&call->sections[i], &s->media[i]);
    }
    n = parley_sdp_write(s, out, SDP_CAP);
  }
  free(s);
  if (n == 0) {
    free(out);
    return NULL;
  }
  *len = n;
  return out;
}

/* The index of the first usable audio section, or media_count. */
static size_t find_audio(const parley_sdp *s)
{
  size_t i;

  for (i = 0; i < s->media_count; i++) {
    const parley_sdp_media *m = &s->media[i];
    if (strcmp(m->kind, "audio") == 0 && m->port != 0 && m->opus_pt >= 0 &&
        proto_ok(m->proto))
      return i;
  }
  return s->media_count;
}

/* Checks what the machine needs of the audio section m. Returns NULL or
 * what is missing. */
static const char *check_audio(const parley_sdp_media *m)
{
  if (m->ice_ufrag[0] == '\0' || m->ice_pwd[0] == '\0')
    return "no ICE credentials (a=ice-ufrag, a=ice-pwd)";
  if (strcmp(m->fp_alg, "sha-256") != 0 || m->fingerprint[0] == '\0')
    return "no sha-256 DTLS fingerprint (a=fingerprint)";
  if (m->setup == PARLEY_SETUP_NONE)
    return "no DTLS role (a=setup)";
  if (!m->rtcp_mux)
    return "no a=rtcp-mux";
  return NULL;
}

/* Parses the body; on failure says why in `why`. */
static parley_sdp *parse(const char *body, size_t len, char *why,
                         size_t cap)
{
  parley_sdp *s = calloc(1, sizeof *s);
  parley_sdp_error e;
  parley_err err;

  if (s == NULL) {
    snprintf(why, cap, "out of memory");
    return NULL;
  }
  memset(&e, 0, sizeof e);
  err = parley_sdp_parse(body, len, s, &e);
  if (err == PARLEY_OK)
    return s;
  if (e.line != 0)
    snprintf(why, cap, "%s: line %u: %s%s%s",
             parley_err_reason(err) ? parley_err_reason(err) : "bad-sdp",
             (unsigned)e.line, e.rule, e.rule[0] ? ": " : "", e.message);
  else
    snprintf(why, cap, "%s: %s",
             parley_err_reason(err) ? parley_err_reason(err) : "bad-sdp",
             e.message[0] ? e.message : e.rule);
  free(s);
  return NULL;
}

parley_sdp *ca_sdp_read(parley_call *call, const char *body, size_t len,
                        bool offer, parley_call_desc *remote,
                        size_t *audio_idx, char *why, size_t cap)
{
  parley_sdp *s = parse(body, len, why, cap);
  const parley_sdp_media *m;
  const char *missing;
  size_t i, a;

  if (s == NULL)
    return NULL;
  a = find_audio(s);
  if (a == s->media_count) {
    snprintf(why, cap, "no audio section with opus over UDP/TLS/RTP/SAVPF");
    free(s);
    return NULL;
  }
  m = &s->media[a];
  if ((missing = check_audio(m)) != NULL) {
    snprintf(why, cap, "audio section: %s", missing);
    free(s);
    return NULL;
  }
  memset(remote, 0, sizeof *remote);
  snprintf(remote->ufrag, sizeof remote->ufrag, "%s", m->ice_ufrag);
  snprintf(remote->pwd, sizeof remote->pwd, "%s", m->ice_pwd);
  snprintf(remote->fp_alg, sizeof remote->fp_alg, "%s", m->fp_alg);
  snprintf(remote->fingerprint, sizeof remote->fingerprint, "%s",
           m->fingerprint);
  remote->setup = m->setup;
  *audio_idx = a;
  if (offer) {
    call->section_count = s->media_count;
    call->audio_section = a;
    for (i = 0; i < s->media_count; i++) {
      ca_section *sec = &call->sections[i];
      snprintf(sec->kind, sizeof sec->kind, "%s", s->media[i].kind);
      snprintf(sec->proto, sizeof sec->proto, "%s", s->media[i].proto);
      snprintf(sec->mid, sizeof sec->mid, "%s", s->media[i].mid);
    }
  }
  return s;
}
