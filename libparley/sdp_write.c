/* Writers of SDP bodies and candidate-attributes (spec section 19).
 *
 * parley_sdp_write writes the profile's form of a parley_sdp: v=0, o=, s=-,
 * t=0 0, a=ice-options:trickle when set, then each media section with
 * c=IN IP4 0.0.0.0 and every value at the media level (session-level
 * values were copied into each section by the parser). Lines end with
 * CRLF. The candidate writer writes the fields of RFC 8839 5.1 in their
 * order, raddr/rport when known and tcptype when set.
 *
 * Contract: parley_sdp_parse(parley_sdp_write(x)) gives back x for every
 * x that parley_sdp_parse produced, and the same holds for candidates;
 * the unit tests check it. Both return 0 when `cap` is too small, and
 * always leave `out` NUL-terminated when cap > 0. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "parley/sdp.h"

typedef struct out_buf {
  char *p;
  size_t cap;
  size_t len;
  bool full;   /* something did not fit */
} out_buf;

/* Appends printf-style text; marks the buffer full when it does not
 * fit (the NUL included). */
static void put(out_buf *b, const char *fmt, ...)
{
  va_list ap;
  int n;

  if (b->full)
    return;
  va_start(ap, fmt);
  n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= b->cap - b->len) {
    b->full = true;
    return;
  }
  b->len += (size_t)n;
}

/* Ends the writing: the length, or 0 (and an empty string) when full. */
static size_t finish(out_buf *b)
{
  if (b->full) {
    b->p[0] = '\0';
    return 0;
  }
  return b->len;
}

static void put_candidate(out_buf *b, const parley_candidate *c)
{
  put(b, "candidate:%s %u %s %u %s %u typ %s", c->foundation,
      (unsigned)c->component, c->transport, (unsigned)c->priority,
      c->address, (unsigned)c->port, c->type);
  if (c->has_related)
    put(b, " raddr %s", c->raddr);
  if (c->has_related || c->rport != 0)
    put(b, " rport %u", (unsigned)c->rport);
  if (c->tcptype[0] != '\0')
    put(b, " tcptype %s", c->tcptype);
}

size_t parley_candidate_write(const parley_candidate *c, char *out,
                              size_t cap)
{
  out_buf b = { .p = out, .cap = cap };

  if (cap == 0)
    return 0;
  out[0] = '\0';
  put_candidate(&b, c);
  return finish(&b);
}

static const char *setup_name(parley_sdp_setup setup)
{
  switch (setup) {
  case PARLEY_SETUP_ACTPASS: return "actpass";
  case PARLEY_SETUP_ACTIVE: return "active";
  case PARLEY_SETUP_PASSIVE: return "passive";
  default: return NULL;
  }
}

static const char *direction_name(parley_sdp_direction d)
{
  switch (d) {
  case PARLEY_DIR_SENDONLY: return "sendonly";
  case PARLEY_DIR_RECVONLY: return "recvonly";
  case PARLEY_DIR_INACTIVE: return "inactive";
  default: return "sendrecv";
  }
}

/* The m= line and the attributes of one media section. */
static void put_media(out_buf *b, const parley_sdp *s,
                      const parley_sdp_media *m)
{
  const char *setup = setup_name(m->setup);

  if (m->formats[0] != '\0')
    put(b, "m=%s %u %s %s\r\n", m->kind, (unsigned)m->port, m->proto,
        m->formats);
  else
    put(b, "m=%s %u %s %d\r\n", m->kind, (unsigned)m->port, m->proto,
        m->opus_pt >= 0 ? m->opus_pt : 0);
  put(b, "c=IN IP4 0.0.0.0\r\n");
  if (m->mid[0] != '\0')
    put(b, "a=mid:%s\r\n", m->mid);
  if (m->ice_ufrag[0] != '\0')
    put(b, "a=ice-ufrag:%s\r\n", m->ice_ufrag);
  if (m->ice_pwd[0] != '\0')
    put(b, "a=ice-pwd:%s\r\n", m->ice_pwd);
  if (m->fingerprint[0] != '\0')
    put(b, "a=fingerprint:%s %s\r\n", m->fp_alg, m->fingerprint);
  if (setup != NULL)
    put(b, "a=setup:%s\r\n", setup);
  put(b, "a=%s\r\n", direction_name(m->direction));
  if (m->rtcp_mux)
    put(b, "a=rtcp-mux\r\n");
  if (m->opus_pt >= 0)
    put(b, "a=rtpmap:%d opus/48000/2\r\n", m->opus_pt);
  if (m->opus_pt >= 0 && m->fec)
    put(b, "a=fmtp:%d minptime=10;useinbandfec=1\r\n", m->opus_pt);
  for (size_t i = 0; i < m->candidate_count; i++) {
    size_t k = m->candidate_first + i;
    if (k >= s->candidate_count || k >= PARLEY_SDP_CANDIDATES_MAX)
      break;
    put(b, "a=");
    put_candidate(b, &s->candidates[k]);
    put(b, "\r\n");
  }
  if (m->end_of_candidates)
    put(b, "a=end-of-candidates\r\n");
}

size_t parley_sdp_write(const parley_sdp *s, char *out, size_t cap)
{
  out_buf b = { .p = out, .cap = cap };

  if (cap == 0)
    return 0;
  out[0] = '\0';
  put(&b, "v=0\r\no=%s %llu %llu IN %s %s\r\ns=-\r\nt=0 0\r\n",
      s->origin_user[0] != '\0' ? s->origin_user : "-",
      (unsigned long long)s->sess_id, (unsigned long long)s->sess_version,
      strchr(s->origin_addr, ':') != NULL ? "IP6" : "IP4",
      s->origin_addr[0] != '\0' ? s->origin_addr : "0.0.0.0");
  if (s->ice_trickle)
    put(&b, "a=ice-options:trickle\r\n");
  for (size_t i = 0; i < s->media_count && i < PARLEY_SDP_MEDIA_MAX; i++)
    put_media(&b, s, &s->media[i]);
  return finish(&b);
}
