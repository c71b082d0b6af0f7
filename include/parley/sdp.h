/* SDP bodies of call signaling (spec section 19) and ICE candidate lines.
 *
 * parley_sdp_parse checks a body against the grammar of RFC 8866 for the
 * lines the spec's SDP profile uses, then against the profile itself, and
 * fills a parley_sdp. parley_candidate_parse does the same for one
 * candidate-attribute of RFC 8839. Both are Ragel machines that take the
 * whole text at once (a body or a header value is never split); they
 * read exactly `len` octets and never past them, and need no NUL.
 *
 * On failure they return the spec's error code and fill *err with the
 * 1-based line and column of the first fault and the name of the ABNF
 * rule (or profile rule) it broke, for the ERROR body; *out is cleared.
 *
 * What the parsers take (libparley/sdp.rl and candidate.rl state it in
 * full):
 * - line ends: CRLF, or a lone LF (RFC 8866 section 5 allows it), decided
 *   line by line; the last line needs one too; a CR not followed by LF,
 *   an empty line and a NUL octet are faults;
 * - limits: the body at most PARLEY_SDP_MAX octets (checked first:
 *   PARLEY_E_SDP_TOO_LARGE, line 0), a line at most PARLEY_SDP_LINE_MAX
 *   octets without its line end, PARLEY_SDP_MEDIA_MAX m= sections,
 *   PARLEY_SDP_CANDIDATES_MAX a=candidate lines in all, and the field
 *   sizes below;
 * - the lines in RFC 8866 order with exactly one t=; at least one m=audio
 *   with a port other than 0; every such audio section has proto
 *   UDP/TLS/RTP/SAVPF or UDP/TLS/RTP/SAVP and an a=rtpmap of
 *   opus/48000/2 listed in its m= line; every section with a port other
 *   than 0 has ice-ufrag (4 to 256 ice-char), ice-pwd (22 to 256),
 *   fingerprint (sha-256 only, 32 hex pairs, upper or lower case), setup
 *   (actpass, active, passive) and, for an RTP proto, rtcp-mux, each from
 *   its own level or the session's;
 * - attribute names as written (lower case); attributes the profile does
 *   not read are checked against RFC 8866's generic form and ignored.
 * Candidates: "udp"/"tcp" or another transport token, any candidate type
 * token (at most 15 octets each, kept in lower case), IPv4, IPv6 or FQDN
 * addresses; extension pairs other than tcptype are checked and dropped.
 *
 * parley_sdp is large (about 48 KB): keep it off small stacks. */
#ifndef PARLEY_SDP_H
#define PARLEY_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/error.h"

#define PARLEY_SDP_MAX 16384        /* octets of one SDP body */
#define PARLEY_SDP_MEDIA_MAX 8      /* m= sections */
#define PARLEY_SDP_CANDIDATES_MAX 64 /* a=candidate lines in one body */
#define PARLEY_SDP_LINE_MAX 1024    /* octets of a line, without CRLF/LF */

typedef struct parley_candidate {
  char foundation[33];   /* 1*32 ice-char */
  uint32_t component;    /* 1..256 */
  char transport[16];    /* "udp", "tcp" or another token, lower case */
  uint32_t priority;     /* 1..2^31-1 */
  char address[256];     /* IPv4, IPv6 or FQDN, as written */
  uint16_t port;
  char type[16];         /* "host", "srflx", "prflx", "relay" or another
                          * token, lower case */
  bool has_related;
  char raddr[256];
  uint16_t rport;
  char tcptype[8];       /* "active", "passive", "so" or "" */
} parley_candidate;

typedef struct parley_sdp_error {
  uint32_t line;    /* 1-based; 0 when not about one line */
  uint32_t column;  /* 1-based octet in the line; 0 when unknown */
  char rule[48];    /* ABNF or profile rule broken, e.g. "ice-pwd-att" */
  char message[160];/* for people: what was wrong */
} parley_sdp_error;

typedef enum parley_sdp_setup {
  PARLEY_SETUP_NONE = 0,
  PARLEY_SETUP_ACTPASS = 1,
  PARLEY_SETUP_ACTIVE = 2,
  PARLEY_SETUP_PASSIVE = 3
} parley_sdp_setup;

typedef enum parley_sdp_direction {
  PARLEY_DIR_SENDRECV = 0, /* also the default when none is given */
  PARLEY_DIR_SENDONLY = 1,
  PARLEY_DIR_RECVONLY = 2,
  PARLEY_DIR_INACTIVE = 3
} parley_sdp_direction;

typedef struct parley_sdp_media {
  char kind[16];          /* "audio", "video", ... (the media token) */
  uint16_t port;          /* 0: the section is refused */
  char proto[32];         /* "UDP/TLS/RTP/SAVPF" ... */
  char formats[256];      /* the fmt list of the m= line, as written */
  int opus_pt;            /* payload type of opus/48000/2; -1 none */
  bool fec;               /* fmtp of opus has useinbandfec=1 */
  char mid[33];           /* "" when the section has none */
  bool rtcp_mux;
  parley_sdp_direction direction;
  /* Session-level values are copied here when the section has none. */
  char ice_ufrag[257];
  char ice_pwd[257];
  char fp_alg[16];        /* "sha-256", lower case */
  char fingerprint[200];  /* 32 hex pairs separated by ':' as written (any
                           * case: compare without regard to case) */
  parley_sdp_setup setup;
  size_t candidate_first; /* index into parley_sdp.candidates */
  size_t candidate_count;
  bool end_of_candidates;
} parley_sdp_media;

typedef struct parley_sdp {
  char origin_user[65];
  uint64_t sess_id;
  uint64_t sess_version;
  char origin_addr[256];
  bool ice_trickle;       /* a=ice-options lists "trickle" */
  size_t media_count;
  parley_sdp_media media[PARLEY_SDP_MEDIA_MAX];
  size_t candidate_count;
  parley_candidate candidates[PARLEY_SDP_CANDIDATES_MAX];
} parley_sdp;

/* Parses one candidate-attribute ("candidate:" foundation SP component
 * ...). Returns PARLEY_OK, or PARLEY_E_BAD_CANDIDATE with *err filled
 * (err may be NULL). */
parley_err parley_candidate_parse(const char *text, size_t len,
                                  parley_candidate *out,
                                  parley_sdp_error *err);

/* Writes `c` as a candidate-attribute, NUL-terminated. Returns the length
 * written (without the NUL), or 0 when `cap` is too small. */
size_t parley_candidate_write(const parley_candidate *c, char *out,
                              size_t cap);

/* Parses an SDP body and checks it against the profile. Returns
 * PARLEY_OK, PARLEY_E_SDP_TOO_LARGE (len > PARLEY_SDP_MAX, checked
 * first) or PARLEY_E_BAD_SDP, with *err filled (err may be NULL). */
parley_err parley_sdp_parse(const char *text, size_t len, parley_sdp *out,
                            parley_sdp_error *err);

/* Writes `s` as an SDP body of the profile with CRLF line ends,
 * NUL-terminated. Returns the length (without the NUL), or 0 when `cap`
 * is too small. What it writes parses back to the same parley_sdp. */
size_t parley_sdp_write(const parley_sdp *s, char *out, size_t cap);

#endif
