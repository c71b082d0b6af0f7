/* The SDP parser of spec section 19: RFC 8866's grammar for the lines the
 * profile uses, then the profile.
 *
 * Reading. The body is cut into lines at LF; each line (with its CRLF or
 * lone LF) goes through three steps, and the first failure stops it:
 *   1. the limits: the body at most PARLEY_SDP_MAX octets (checked before
 *      anything else, PARLEY_E_SDP_TOO_LARGE), a line at most
 *      PARLEY_SDP_LINE_MAX octets without its line end, and every line
 *      ends with CRLF or LF, the last one too;
 *   2. the order of RFC 8866 section 9 (line_order): v= first, then o=,
 *      s=, [i=] [u=] *e= *p= [c=] *b=, one t= (the profile takes one
 *      time-description), *r= [z=] [k=] *a=, then m= sections of m=
 *      [i=] *c= *b= [k=] *a=;
 *   3. the Ragel machine `sdp_line` of sdp_grammar.rl over the line. Its
 *      actions hand each value to a helper below, which checks what the
 *      ABNF leaves to prose and stores it at the current level (the
 *      session before the first m=, then each media section).
 * After the last line, profile_finish() copies session-level values into
 * each media section that has none and checks the profile.
 *
 * The profile (spec section 19; limits in parley/sdp.h and below):
 * - v=0; o= username at most 64 octets, address at most 255, sess-id and
 *   sess-version at most 2^64 - 1;
 * - at most PARLEY_SDP_MEDIA_MAX m= sections and PARLEY_SDP_CANDIDATES_MAX
 *   a=candidate lines (all sections together); media at most 15 octets,
 *   port 0 to 65535, proto at most 31 octets, the fmt list at most 255;
 * - at least one m=audio section with a port other than 0; every m=audio
 *   section with a port other than 0 has proto UDP/TLS/RTP/SAVPF or
 *   UDP/TLS/RTP/SAVP and an a=rtpmap of opus/48000/2 (encoding name in any
 *   case) whose payload type is in its fmt list;
 * - every section with a port other than 0 has, at its own level or the
 *   session's, a=ice-ufrag (4 to 256 ice-char), a=ice-pwd (22 to 256),
 *   a=fingerprint and a=setup, and when its proto has an RTP part,
 *   a=rtcp-mux; a section with port 0 (refused) needs none of them;
 * - a=fingerprint: hash function sha-256 only (any case; others are
 *   refused with a message naming them), 32 octets of hex pairs;
 *   a=setup: actpass, active or passive (holdconn is refused);
 * - a=ice-ufrag, a=ice-pwd, a=fingerprint, a=setup, a=mid and a
 *   direction at most once per level; a=mid at most 32 octets and no two
 *   sections with the same mid; a=candidate only in media sections, its
 *   value a candidate-attribute (candidate.rl);
 * - rtcp-mux, the direction and end-of-candidates given at the session
 *   level hold for every section; a section without a direction is
 *   sendrecv;
 * - fec is set when an a=fmtp for the opus payload type lists
 *   useinbandfec=1.
 * Other attributes (msid, ssrc, extmap, rtcp-fb, ...) and k=, r=, z= are
 * checked against the grammar and ignored.
 *
 * Errors carry the 1-based line and column of the first fault and the
 * rule broken: an ABNF rule name, or for a profile rule the name of the
 * rule of the line it concerns. Faults of the body as a whole (no audio
 * section, lines missing at the end) have line 0. The parser reads
 * exactly `len` octets and keeps no pointer into the text. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "parley/sdp.h"
#include "sdp_internal.h"


/* What a level (the session, or one media section) has seen so far. */
typedef struct sdp_seen {
  bool ice_ufrag, ice_pwd, fingerprint, setup, mid, direction;
  bool rtcp_mux, end_of_candidates;
  uint32_t fec[4];        /* bit PT: an fmtp for PT has useinbandfec=1 */
  uint32_t line;          /* the m= line of a media section */
} sdp_seen;

typedef struct sdp_parse {
  parley_sdp *out;
  parley_sdp_error *err;
  const unsigned char *line;   /* first octet of the current line */
  const unsigned char *mark;   /* start of the value being read */
  uint32_t line_no;
  bool failed;
  int rank;                    /* order rank of the last line */
  bool in_media;
  parley_sdp_media session;    /* session-level values */
  sdp_seen session_seen;
  parley_sdp_media *level;     /* &session or the current section */
  sdp_seen *seen;
  sdp_seen media_seen[PARLEY_SDP_MEDIA_MAX];
} sdp_parse;

/* ---- failures ---------------------------------------------------------- */

/* Records the first failure: line `line`, the column of `at` in the
 * current line (0 when at is NULL). Returns false, for the actions that
 * stop the machine. */
static bool sdp_fail_at(sdp_parse *sp, uint32_t line,
                        const unsigned char *at, const char *rule,
                        const char *fmt, ...)
{
  va_list ap;

  if (sp->failed)
    return false;
  sp->failed = true;
  sp->err->line = line;
  sp->err->column = at != NULL ? (uint32_t)(at - sp->line) + 1 : 0;
  snprintf(sp->err->rule, sizeof sp->err->rule, "%s", rule);
  va_start(ap, fmt);
  vsnprintf(sp->err->message, sizeof sp->err->message, fmt, ap);
  va_end(ap);
  return false;
}

#define sdp_fail(sp, at, rule, ...) \
  sdp_fail_at(sp, (sp)->line_no, at, rule, __VA_ARGS__)

/* A grammar fault at octet `at` of the current line, in `rule`. */
static void sdp_fault(sdp_parse *sp, const unsigned char *at,
                      const char *rule)
{
  unsigned char c = *at;

  if (at > sp->line && at[-1] == '\r')
    sdp_fail(sp, at - 1, rule, "a CR not followed by LF in %s", rule);
  else if (c == '\n' || c == '\r')
    sdp_fail(sp, at, rule, "the line ends inside %s", rule);
  else if (c >= 0x21 && c <= 0x7E)
    sdp_fail(sp, at, rule, "unexpected '%c' in %s", c, rule);
  else
    sdp_fail(sp, at, rule, "unexpected octet 0x%02X in %s", c, rule);
}

/* ---- the order of the lines (RFC 8866 section 9) ----------------------- */

static const char SESSION_ORDER[] = "vosiuepcbtrzka";
static const char SESSION_REPEAT[] = "epbra";
static const char MEDIA_ORDER[] = "micbka";
static const char MEDIA_REPEAT[] = "cba";
#define RANK_T 9 /* index of 't' in SESSION_ORDER */

/* The ABNF rule of the line with type letter `c`. */
static const char *field_rule(char c)
{
  switch (c) {
  case 'v': return "version-field";
  case 'o': return "origin-field";
  case 's': return "session-name-field";
  case 'i': return "information-field";
  case 'u': return "uri-field";
  case 'e': return "email-field";
  case 'p': return "phone-field";
  case 'c': return "connection-field";
  case 'b': return "bandwidth-field";
  case 't': return "time-field";
  case 'r': return "repeat-field";
  case 'z': return "zone-field";
  case 'k': return "key-field";
  case 'a': return "attribute-field";
  default: return "media-field";
  }
}

/* Fails when a required session line (o=, s=, t=) ranked after `from`
 * and before `to` is missing. `line` 0 means the body ended. */
static bool session_required(sdp_parse *sp, int from, int to, uint32_t line)
{
  static const char REQUIRED[] = "ost";

  for (const char *q = REQUIRED; *q != '\0'; q++) {
    int r = (int)(strchr(SESSION_ORDER, *q) - SESSION_ORDER);
    if (r > from && r < to)
      return sdp_fail_at(sp, line, line != 0 ? sp->line : NULL,
                         field_rule(*q), "the %c= line is missing", *q);
  }
  return true;
}

/* Opens the next media section at its m= line. */
static bool media_begin(sdp_parse *sp)
{
  parley_sdp *s = sp->out;

  if (s->media_count == PARLEY_SDP_MEDIA_MAX)
    return sdp_fail(sp, sp->line, "media-description",
                    "more than %d m= sections", PARLEY_SDP_MEDIA_MAX);
  sp->level = &s->media[s->media_count];
  sp->seen = &sp->media_seen[s->media_count];
  sp->seen->line = sp->line_no;
  sp->level->opus_pt = -1;
  sp->level->candidate_first = s->candidate_count;
  s->media_count++;
  sp->in_media = true;
  sp->rank = 0;
  return true;
}

/* Checks that a line of type letter c may come here. */
static bool line_order(sdp_parse *sp, unsigned char c)
{
  const char *order = sp->in_media ? MEDIA_ORDER : SESSION_ORDER;
  const char *repeat = sp->in_media ? MEDIA_REPEAT : SESSION_REPEAT;
  const char *at = c != '\0' ? strchr(order, c) : NULL;

  if (c == '\r' || c == '\n')
    return sdp_fail(sp, sp->line, "session-description", "an empty line");
  if (sp->line_no == 1 && c != 'v')
    return sdp_fail(sp, sp->line, "version-field",
                    "the first line must be v=0");
  if (c == 'm')
    return session_required(sp, sp->in_media ? 99 : sp->rank, RANK_T + 1,
                            sp->line_no) && media_begin(sp);
  if (strchr("vosiuepcbtrzka", c) == NULL || c == '\0')
    return sdp_fail(sp, sp->line, "session-description",
                    "unknown type letter (0x%02X)", c);
  if (at == NULL)
    return sdp_fail(sp, sp->line, "media-description",
                    "a %c= line inside a media section", c);
  int rank = (int)(at - order);
  if (rank < sp->rank || (rank == sp->rank && sp->line_no > 1 &&
                          strchr(repeat, c) == NULL))
    return sdp_fail(sp, sp->line, field_rule((char)c),
                    rank == sp->rank ? "a second %c= line"
                                     : "a %c= line out of order", c);
  if (!sp->in_media && !session_required(sp, sp->rank, rank, sp->line_no))
    return false;
  sp->rank = rank;
  return true;
}

/* ---- helpers the grammar's actions call ---------------------------------
 * The value read is [sp->mark, p): `p` is the octet after it. Each
 * returns false after failing, and the action then stops the machine. */

static size_t value_len(const sdp_parse *sp, const unsigned char *p)
{
  return (size_t)(p - sp->mark);
}

/* Copies the value into dst (capacity cap) or fails naming `what`. */
static bool value_copy(sdp_parse *sp, const unsigned char *p, char *dst,
                       size_t cap, const char *rule, const char *what)
{
  if (parley_sdp_span_copy(dst, cap, sp->mark, value_len(sp, p), false))
    return true;
  return sdp_fail(sp, sp->mark, rule, "%s longer than %zu octets", what,
                  cap - 1);
}

/* Reads the value as a decimal number of at most `max`. */
static bool value_u64(sdp_parse *sp, const unsigned char *p, uint64_t max,
                      uint64_t *v, const char *rule, const char *what)
{
  if (parley_sdp_span_u64(sp->mark, value_len(sp, p), max, v))
    return true;
  return sdp_fail(sp, sp->mark, rule, "%s larger than %llu", what,
                  (unsigned long long)max);
}

/* The version is "0", one octet (spec 19.6 version-field): "00" is not. */
static bool on_version(sdp_parse *sp, const unsigned char *p)
{
  if (value_len(sp, p) == 1 && sp->mark[0] == '0')
    return true;
  return sdp_fail(sp, sp->mark, "version-field",
                  "SDP version %.*s; the profile takes 0",
                  (int)(value_len(sp, p) > 20 ? 20 : value_len(sp, p)),
                  (const char *)sp->mark);
}

static bool on_origin_user(sdp_parse *sp, const unsigned char *p)
{
  return value_copy(sp, p, sp->out->origin_user,
                    sizeof sp->out->origin_user, "username", "username");
}

static bool on_sess_id(sdp_parse *sp, const unsigned char *p)
{
  return value_u64(sp, p, UINT64_MAX, &sp->out->sess_id, "sess-id",
                   "sess-id");
}

static bool on_sess_version(sdp_parse *sp, const unsigned char *p)
{
  return value_u64(sp, p, UINT64_MAX, &sp->out->sess_version,
                   "sess-version", "sess-version");
}

static bool on_origin_addr(sdp_parse *sp, const unsigned char *p)
{
  return value_copy(sp, p, sp->out->origin_addr,
                    sizeof sp->out->origin_addr, "unicast-address",
                    "the origin address");
}

static bool on_media(sdp_parse *sp, const unsigned char *p)
{
  return value_copy(sp, p, sp->level->kind, sizeof sp->level->kind,
                    "media", "media");
}

static bool on_media_port(sdp_parse *sp, const unsigned char *p)
{
  uint64_t v;

  if (!value_u64(sp, p, 65535, &v, "port", "port"))
    return false;
  sp->level->port = (uint16_t)v;
  return true;
}

static bool on_proto(sdp_parse *sp, const unsigned char *p)
{
  return value_copy(sp, p, sp->level->proto, sizeof sp->level->proto,
                    "proto", "proto");
}

static bool on_formats(sdp_parse *sp, const unsigned char *p)
{
  return value_copy(sp, p, sp->level->formats, sizeof sp->level->formats,
                    "fmt", "the fmt list");
}

/* The next space-separated part of [*at, end); moves *at past it. */
static size_t next_part(const unsigned char **at, const unsigned char *end,
                        unsigned char sep, const unsigned char **part)
{
  const unsigned char *q = *at;

  *part = q;
  while (q < end && *q != sep)
    q++;
  *at = q < end ? q + 1 : q;
  return (size_t)(q - *part);
}

static bool span_is(const unsigned char *p, size_t n, const char *s,
                    bool any_case)
{
  size_t sn = strlen(s);

  if (n != sn)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = p[i];
    if (any_case && c >= 'A' && c <= 'Z')
      c = (unsigned char)(c + 32);
    if (c != (unsigned char)s[i])
      return false;
  }
  return true;
}

/* a=rtpmap:PT NAME/RATE[/PARAMS]: the first opus/48000/2 of a section
 * gives its opus_pt. */
static bool on_rtpmap(sdp_parse *sp, const unsigned char *p)
{
  const unsigned char *at = sp->mark, *pt, *name, *rate, *params;
  size_t pt_len = next_part(&at, p, ' ', &pt);
  size_t name_len = next_part(&at, p, '/', &name);
  size_t rate_len = next_part(&at, p, '/', &rate);
  size_t params_len = next_part(&at, p, '/', &params);
  uint64_t v;

  if (!parley_sdp_span_u64(pt, pt_len, 127, &v))
    return sdp_fail(sp, pt, "payload-type", "payload type above 127");
  if (span_is(name, name_len, "opus", true) &&
      span_is(rate, rate_len, "48000", false) &&
      span_is(params, params_len, "2", false) && sp->level->opus_pt < 0)
    sp->level->opus_pt = (int)v;
  return true;
}

/* a=fmtp:FMT PARAMS: notes useinbandfec=1 for a numeric FMT. */
static bool on_fmtp(sdp_parse *sp, const unsigned char *p)
{
  const unsigned char *at = sp->mark, *fmt, *param;
  size_t fmt_len = next_part(&at, p, ' ', &fmt);
  uint64_t v;

  if (!parley_sdp_span_u64(fmt, fmt_len, 127, &v))
    return true;
  while (at < p) {
    size_t n = next_part(&at, p, ';', &param);
    while (n > 0 && *param == ' ') {
      param++;
      n--;
    }
    if (span_is(param, n, "useinbandfec=1", false))
      sp->seen->fec[v / 32] |= 1u << (v % 32);
  }
  return true;
}

/* Fails when `flag` is already set at this level, then sets it. */
static bool once(sdp_parse *sp, bool *flag, const char *rule,
                 const char *what)
{
  if (*flag)
    return sdp_fail(sp, sp->line, rule, "a second a=%s in this %s", what,
                    sp->in_media ? "media section" : "session level");
  *flag = true;
  return true;
}

/* ice-ufrag or ice-pwd: ice-char of min to 256 octets. */
static bool on_ice_value(sdp_parse *sp, const unsigned char *p, char *dst,
                         bool *seen, size_t min, const char *rule)
{
  size_t n = value_len(sp, p);
  const char *what = rule[4] == 'u' ? "ice-ufrag" : "ice-pwd";

  if (!once(sp, seen, rule, what))
    return false;
  if (n < min || n > 256)
    return sdp_fail(sp, sp->mark, rule, "%s is %zu octets; it must be "
                    "%zu to 256", what, n, min);
  return parley_sdp_span_copy(dst, 257, sp->mark, n, false);
}

static bool on_ice_ufrag(sdp_parse *sp, const unsigned char *p)
{
  return on_ice_value(sp, p, sp->level->ice_ufrag, &sp->seen->ice_ufrag, 4,
                      "ice-ufrag-att");
}

static bool on_ice_pwd(sdp_parse *sp, const unsigned char *p)
{
  return on_ice_value(sp, p, sp->level->ice_pwd, &sp->seen->ice_pwd, 22,
                      "ice-pwd-att");
}

static bool on_ice_option_tag(sdp_parse *sp, const unsigned char *p)
{
  if (span_is(sp->mark, value_len(sp, p), "trickle", false))
    sp->out->ice_trickle = true;
  return true;
}

static bool on_hash_func(sdp_parse *sp, const unsigned char *p)
{
  size_t n = value_len(sp, p);

  if (!once(sp, &sp->seen->fingerprint, "fingerprint-attribute",
            "fingerprint"))
    return false;
  if (!span_is(sp->mark, n, "sha-256", true))
    return sdp_fail(sp, sp->mark, "hash-func", "hash function %.*s; the "
                    "profile takes sha-256 only", (int)(n > 32 ? 32 : n),
                    (const char *)sp->mark);
  return parley_sdp_span_copy(sp->level->fp_alg, sizeof sp->level->fp_alg,
                              sp->mark, n, true);
}

static bool on_fingerprint(sdp_parse *sp, const unsigned char *p)
{
  size_t n = value_len(sp, p);

  if (n != 32 * 3 - 1)
    return sdp_fail(sp, sp->mark, "fingerprint", "a sha-256 fingerprint "
                    "has 32 octets; this one has %zu", (n + 1) / 3);
  return value_copy(sp, p, sp->level->fingerprint,
                    sizeof sp->level->fingerprint, "fingerprint",
                    "fingerprint");
}

static bool on_setup(sdp_parse *sp, const unsigned char *p)
{
  static const char *const ROLES[] = { "", "actpass", "active", "passive" };
  size_t n = value_len(sp, p);

  if (!once(sp, &sp->seen->setup, "setup-attr", "setup"))
    return false;
  for (int r = PARLEY_SETUP_ACTPASS; r <= PARLEY_SETUP_PASSIVE; r++)
    if (span_is(sp->mark, n, ROLES[r], true)) {
      sp->level->setup = (parley_sdp_setup)r;
      return true;
    }
  return sdp_fail(sp, sp->mark, "role", "setup role holdconn; the profile "
                  "takes actpass, active or passive");
}

static bool on_mid(sdp_parse *sp, const unsigned char *p)
{
  parley_sdp *s = sp->out;

  if (!once(sp, &sp->seen->mid, "mid-attribute", "mid") ||
      !value_copy(sp, p, sp->level->mid, sizeof sp->level->mid,
                  "identification-tag", "mid"))
    return false;
  for (size_t i = 0; sp->in_media && i + 1 < s->media_count; i++)
    if (strcmp(s->media[i].mid, sp->level->mid) == 0)
      return sdp_fail(sp, sp->mark, "mid-attribute",
                      "mid %s is already the mid of media section %zu",
                      sp->level->mid, i + 1);
  return true;
}

static bool on_direction(sdp_parse *sp, const unsigned char *p)
{
  static const char *const DIRS[] = { "sendrecv", "sendonly", "recvonly",
                                      "inactive" };

  if (!once(sp, &sp->seen->direction, "attribute", "direction attribute"))
    return false;
  for (int d = PARLEY_DIR_SENDRECV; d <= PARLEY_DIR_INACTIVE; d++)
    if (span_is(sp->mark, value_len(sp, p), DIRS[d], false))
      sp->level->direction = (parley_sdp_direction)d;
  return true;
}

/* a=candidate: the value goes to the candidate parser; its error is
 * placed in this line. */
static bool on_candidate(sdp_parse *sp, const unsigned char *p)
{
  parley_sdp *s = sp->out;
  parley_sdp_error cerr;

  if (!sp->in_media)
    return sdp_fail(sp, sp->line, "candidate-attribute", "a=candidate at "
                    "the session level (RFC 8839: media level only)");
  if (s->candidate_count == PARLEY_SDP_CANDIDATES_MAX)
    return sdp_fail(sp, sp->line, "candidate-attribute",
                    "more than %d a=candidate lines",
                    PARLEY_SDP_CANDIDATES_MAX);
  if (parley_candidate_parse((const char *)sp->mark, value_len(sp, p),
                             &s->candidates[s->candidate_count], &cerr) !=
      PARLEY_OK)
    return sdp_fail(sp, sp->mark + cerr.column - 1, cerr.rule, "%s",
                    cerr.message);
  s->candidate_count++;
  sp->level->candidate_count++;
  return true;
}

#define SP_FAULT(rule) sdp_fault(sp, p, rule)

%%{
  machine sdp;

  action mark { sp->mark = p; }
  action version { if (!on_version(sp, p)) fbreak; }
  action origin_user { if (!on_origin_user(sp, p)) fbreak; }
  action sess_id { if (!on_sess_id(sp, p)) fbreak; }
  action sess_version { if (!on_sess_version(sp, p)) fbreak; }
  action origin_addr { if (!on_origin_addr(sp, p)) fbreak; }
  action media { if (!on_media(sp, p)) fbreak; }
  action media_port { if (!on_media_port(sp, p)) fbreak; }
  action proto { if (!on_proto(sp, p)) fbreak; }
  action formats { if (!on_formats(sp, p)) fbreak; }
  action rtpmap { if (!on_rtpmap(sp, p)) fbreak; }
  action fmtp { if (!on_fmtp(sp, p)) fbreak; }
  action ice_ufrag { if (!on_ice_ufrag(sp, p)) fbreak; }
  action ice_pwd { if (!on_ice_pwd(sp, p)) fbreak; }
  action ice_option_tag { on_ice_option_tag(sp, p); }
  action hash_func { if (!on_hash_func(sp, p)) fbreak; }
  action fingerprint { if (!on_fingerprint(sp, p)) fbreak; }
  action setup { if (!on_setup(sp, p)) fbreak; }
  action mid { if (!on_mid(sp, p)) fbreak; }
  action rtcp_mux { sp->seen->rtcp_mux = true; }
  action direction { if (!on_direction(sp, p)) fbreak; }
  action candidate { if (!on_candidate(sp, p)) fbreak; }
  action end_of_candidates { sp->seen->end_of_candidates = true; }

  action err_rtpmap_value { SP_FAULT("rtpmap-value"); }
  action err_fmtp_value { SP_FAULT("fmtp-value"); }
  action err_ice_ufrag_att { SP_FAULT("ice-ufrag-att"); }
  action err_ice_pwd_att { SP_FAULT("ice-pwd-att"); }
  action err_ice_options { SP_FAULT("ice-options"); }
  action err_fingerprint_attribute { SP_FAULT("fingerprint-attribute"); }
  action err_setup_attr { SP_FAULT("setup-attr"); }
  action err_mid_attribute { SP_FAULT("mid-attribute"); }
  action err_group_attribute { SP_FAULT("group-attribute"); }
  action err_version_field { SP_FAULT("version-field"); }
  action err_origin_field { SP_FAULT("origin-field"); }
  action err_session_name_field { SP_FAULT("session-name-field"); }
  action err_information_field { SP_FAULT("information-field"); }
  action err_uri_field { SP_FAULT("uri-field"); }
  action err_email_field { SP_FAULT("email-field"); }
  action err_phone_field { SP_FAULT("phone-field"); }
  action err_connection_field { SP_FAULT("connection-field"); }
  action err_bandwidth_field { SP_FAULT("bandwidth-field"); }
  action err_time_field { SP_FAULT("time-field"); }
  action err_repeat_field { SP_FAULT("repeat-field"); }
  action err_zone_field { SP_FAULT("zone-field"); }
  action err_key_field { SP_FAULT("key-field"); }
  action err_attribute_field { SP_FAULT("attribute-field"); }
  action err_media_field { SP_FAULT("media-field"); }

  include sdp_grammar "sdp_grammar.rl";

  main := sdp_line;
}%%

%% write data;

/* Runs `sdp_line` over [line, end), end one past the line's LF. */
static void line_exec(sdp_parse *sp, const unsigned char *line,
                      const unsigned char *end)
{
  const unsigned char *p = line;
  const unsigned char *pe = end;
  const unsigned char *eof = NULL; /* the machine ends at the LF */
  int cs;

  %% write init;
  %% write exec;
  if (!sp->failed && cs < sdp_first_final)
    sdp_fail(sp, end - 1, "sdp-line", "the line is incomplete");
}

#undef SP_FAULT

/* ---- the profile, after the last line ---------------------------------- */

/* Copies the session-level values into media section i where it has none,
 * and works out its fec. */
static void inherit(sdp_parse *sp, size_t i)
{
  parley_sdp_media *m = &sp->out->media[i];
  sdp_seen *ms = &sp->media_seen[i];
  const parley_sdp_media *s = &sp->session;
  const sdp_seen *ss = &sp->session_seen;

  if (!ms->ice_ufrag && ss->ice_ufrag)
    memcpy(m->ice_ufrag, s->ice_ufrag, sizeof m->ice_ufrag);
  if (!ms->ice_pwd && ss->ice_pwd)
    memcpy(m->ice_pwd, s->ice_pwd, sizeof m->ice_pwd);
  if (!ms->fingerprint && ss->fingerprint) {
    memcpy(m->fp_alg, s->fp_alg, sizeof m->fp_alg);
    memcpy(m->fingerprint, s->fingerprint, sizeof m->fingerprint);
  }
  if (!ms->setup && ss->setup)
    m->setup = s->setup;
  if (!ms->direction && ss->direction)
    m->direction = s->direction;
  m->rtcp_mux = ms->rtcp_mux || ss->rtcp_mux;
  m->end_of_candidates = ms->end_of_candidates || ss->end_of_candidates;
  if (m->opus_pt >= 0)
    m->fec = (ms->fec[m->opus_pt / 32] >> (m->opus_pt % 32)) & 1u;
}

/* True when the '/'-separated proto has a part equal to `part`. */
static bool proto_has(const char *proto, const char *part)
{
  const unsigned char *at = (const unsigned char *)proto, *q;
  const unsigned char *end = at + strlen(proto);

  while (at < end) {
    size_t n = next_part(&at, end, '/', &q);
    if (span_is(q, n, part, false))
      return true;
  }
  return false;
}

/* True when the fmt list of m lists payload type pt. */
static bool formats_have(const parley_sdp_media *m, int pt)
{
  const unsigned char *at = (const unsigned char *)m->formats, *q;
  const unsigned char *end = at + strlen(m->formats);
  char want[12]; /* any int, so the compiler sees no truncation */

  snprintf(want, sizeof want, "%d", pt);
  while (at < end) {
    size_t n = next_part(&at, end, ' ', &q);
    if (span_is(q, n, want, false))
      return true;
  }
  return false;
}

/* The profile of an audio section with a port other than 0. */
static bool audio_check(sdp_parse *sp, size_t i, uint32_t line)
{
  const parley_sdp_media *m = &sp->out->media[i];

  if (strcmp(m->proto, "UDP/TLS/RTP/SAVPF") != 0 &&
      strcmp(m->proto, "UDP/TLS/RTP/SAVP") != 0)
    return sdp_fail_at(sp, line, NULL, "proto", "media section %zu: proto "
                       "%s; the profile takes UDP/TLS/RTP/SAVPF or "
                       "UDP/TLS/RTP/SAVP", i + 1, m->proto);
  if (m->opus_pt < 0)
    return sdp_fail_at(sp, line, NULL, "rtpmap-value", "media section %zu "
                       "has no a=rtpmap of opus/48000/2", i + 1);
  if (!formats_have(m, m->opus_pt))
    return sdp_fail_at(sp, line, NULL, "fmt", "media section %zu: the "
                       "opus payload type %d is not in the m= line", i + 1,
                       m->opus_pt);
  return true;
}

/* The transport attributes every section with a port other than 0
 * needs, at its level or the session's. */
static bool transport_check(sdp_parse *sp, size_t i, uint32_t line)
{
  const parley_sdp_media *m = &sp->out->media[i];
  const char *missing = NULL, *rule = NULL;

  if (m->ice_ufrag[0] == '\0')
    missing = "ice-ufrag", rule = "ice-ufrag-att";
  else if (m->ice_pwd[0] == '\0')
    missing = "ice-pwd", rule = "ice-pwd-att";
  else if (m->fingerprint[0] == '\0')
    missing = "fingerprint", rule = "fingerprint-attribute";
  else if (m->setup == PARLEY_SETUP_NONE)
    missing = "setup", rule = "setup-attr";
  else if (!m->rtcp_mux && proto_has(m->proto, "RTP"))
    missing = "rtcp-mux", rule = "rtcp-mux";
  if (missing == NULL)
    return true;
  return sdp_fail_at(sp, line, NULL, rule, "media section %zu (m=%s) has "
                     "no a=%s at its level or the session's", i + 1,
                     m->kind, missing);
}

/* Inherits session-level values and checks the profile of the whole
 * body. Faults of one section are reported at its m= line. */
static bool profile_finish(sdp_parse *sp)
{
  parley_sdp *s = sp->out;
  size_t audio = 0;

  if (!sp->in_media)
    return session_required(sp, sp->rank, RANK_T + 1, 0) &&
           sdp_fail_at(sp, 0, NULL, "media-description",
                       "no m= section; the profile needs m=audio");
  for (size_t i = 0; i < s->media_count; i++) {
    const parley_sdp_media *m = &s->media[i];
    uint32_t line = sp->media_seen[i].line;

    inherit(sp, i);
    if (m->port == 0)
      continue;
    if (strcmp(m->kind, "audio") == 0) {
      if (!audio_check(sp, i, line))
        return false;
      audio++;
    }
    if (!transport_check(sp, i, line))
      return false;
  }
  if (audio == 0)
    return sdp_fail_at(sp, 0, NULL, "media-description", "no m=audio "
                       "section with a port other than 0");
  return true;
}

/* ---- the body ---------------------------------------------------------- */

/* Reads the line at `at` (limits, order, grammar). Returns one past its
 * LF, or NULL after failing. */
static const unsigned char *sdp_line_read(sdp_parse *sp,
                                          const unsigned char *at,
                                          const unsigned char *end)
{
  const unsigned char *lf = memchr(at, '\n', (size_t)(end - at));
  size_t content = (size_t)((lf != NULL ? lf : end) - at);

  sp->line = at;
  sp->line_no++;
  if (lf != NULL && content > 0 && lf[-1] == '\r')
    content--;
  if (content > PARLEY_SDP_LINE_MAX) {
    sdp_fail(sp, at + PARLEY_SDP_LINE_MAX, "sdp-line", "a line longer "
             "than %d octets", PARLEY_SDP_LINE_MAX);
    return NULL;
  }
  if (lf == NULL) {
    sdp_fail(sp, end, "sdp-line", "the last line has no line end (CRLF "
             "or LF)");
    return NULL;
  }
  if (!line_order(sp, *at))
    return NULL;
  line_exec(sp, at, lf + 1);
  return sp->failed ? NULL : lf + 1;
}

parley_err parley_sdp_parse(const char *text, size_t len, parley_sdp *out,
                            parley_sdp_error *err)
{
  static sdp_parse zero;
  parley_sdp_error scratch;
  sdp_parse sp_store = zero;
  sdp_parse *sp = &sp_store;
  const unsigned char *at = (const unsigned char *)text;
  const unsigned char *end = at + len;

  sp->out = out;
  sp->err = err != NULL ? err : &scratch;
  memset(sp->err, 0, sizeof *sp->err);
  memset(out, 0, sizeof *out);
  if (len > PARLEY_SDP_MAX) {
    sdp_fail_at(sp, 0, NULL, "sdp", "the body is %zu octets; the limit "
                "is %d", len, PARLEY_SDP_MAX);
    return PARLEY_E_SDP_TOO_LARGE;
  }
  sp->level = &sp->session;
  sp->seen = &sp->session_seen;
  if (len == 0)
    sdp_fail_at(sp, 1, NULL, "version-field", "the body is empty; it must "
                "start with v=0");
  while (at != NULL && at < end)
    at = sdp_line_read(sp, at, end);
  if (!sp->failed)
    profile_finish(sp);
  if (sp->failed) {
    memset(out, 0, sizeof *out);
    return PARLEY_E_BAD_SDP;
  }
  return PARLEY_OK;
}
