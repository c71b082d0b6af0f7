/* The candidate-attribute parser (RFC 8839 section 5.1; spec section 19).
 *
 * One Ragel machine, `candidate_attribute` of candidate_grammar.rl, runs
 * over the whole text at once; the text has no line end, so the machine
 * is given eof = pe and its leaving actions run at the end of the text.
 * Each action marks where a value starts or hands the value that just
 * ended to a helper below, which checks what the ABNF leaves to prose and
 * stores it in the parley_candidate:
 * - component-id 1 to 256, priority 1 to 2^31 - 1 (RFC 8445 5.1.2),
 *   ports 0 to 65535;
 * - transport and candidate type: any token of at most 15 octets, kept
 *   in lower case ("udp", "tcp", "host", "srflx", "prflx", "relay" are
 *   the ones RFC 8839 and RFC 6544 name; an agent ignores others);
 * - connection-address and raddr: at most 255 octets. The grammar takes
 *   no FQDN of digits and dots only (spec cand-fqdn), so "999.1.1.1"
 *   fails there; its error action names that case in its message;
 * - tcptype at most once.
 * Other extension pairs are checked against the grammar and dropped.
 *
 * Errors: the first failure sticks (the outer rules failing on the same
 * octet are ignored), with the 1-based column of the octet and the name
 * of the ABNF rule. The parser reads exactly `len` octets. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "parley/sdp.h"
#include "sdp_internal.h"

typedef struct cand_parse {
  const unsigned char *text;
  const unsigned char *mark;   /* start of the value being read */
  parley_candidate *out;
  parley_sdp_error *err;
  bool failed;
  bool has_tcptype;
} cand_parse;

/* Records the first failure at `at` (a pointer into the text, or one
 * past its end). Returns false, for the actions that stop the machine. */
static bool cand_fail(cand_parse *cp, const unsigned char *at,
                      const char *rule, const char *fmt, ...)
{
  va_list ap;

  if (cp->failed)
    return false;
  cp->failed = true;
  cp->err->line = 1;
  cp->err->column = (uint32_t)(at - cp->text) + 1;
  snprintf(cp->err->rule, sizeof cp->err->rule, "%s", rule);
  va_start(ap, fmt);
  vsnprintf(cp->err->message, sizeof cp->err->message, fmt, ap);
  va_end(ap);
  return false;
}

/* A grammar fault at octet `at` in `rule`, or the text ending early
 * when at == end. */
static void cand_fault(cand_parse *cp, const unsigned char *at,
                       const unsigned char *end, const char *rule)
{
  if (at == end)
    cand_fail(cp, at, rule, "the candidate ends early, in or after %s",
              rule);
  else if (*at >= 0x21 && *at <= 0x7E)
    cand_fail(cp, at, rule, "unexpected '%c' in %s", *at, rule);
  else
    cand_fail(cp, at, rule, "unexpected octet 0x%02X in %s", *at, rule);
}

bool parley_sdp_span_u64(const unsigned char *p, size_t n, uint64_t max,
                         uint64_t *v)
{
  uint64_t acc = 0;

  if (n == 0 || n > 20)
    return false;
  for (size_t i = 0; i < n; i++) {
    uint64_t d = (uint64_t)(p[i] - '0');
    if (acc > (UINT64_MAX - d) / 10)
      return false;
    acc = acc * 10 + d;
  }
  if (acc > max)
    return false;
  *v = acc;
  return true;
}

bool parley_sdp_span_copy(char *dst, size_t cap, const unsigned char *p,
                      size_t n, bool lower)
{
  if (n >= cap)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = p[i];
    dst[i] = (char)(lower && c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  dst[n] = '\0';
  return true;
}

/* ---- helpers the grammar's actions call --------------------------------
 * `p` is the octet after the value (or the end of the text). Each returns
 * false after failing, and the action then stops the machine. */

static bool cand_foundation(cand_parse *cp, const unsigned char *p)
{
  size_t n = (size_t)(p - cp->mark);
  return parley_sdp_span_copy(cp->out->foundation, sizeof cp->out->foundation,
                   cp->mark, n, false) ||
         cand_fail(cp, cp->mark, "foundation", "foundation too long");
}

static bool cand_component(cand_parse *cp, const unsigned char *p)
{
  uint64_t v;

  if (!parley_sdp_span_u64(cp->mark, (size_t)(p - cp->mark), 256, &v) ||
      v == 0)
    return cand_fail(cp, cp->mark, "component-id",
                     "component-id must be 1 to 256");
  cp->out->component = (uint32_t)v;
  return true;
}

static bool cand_priority(cand_parse *cp, const unsigned char *p)
{
  uint64_t v;

  if (!parley_sdp_span_u64(cp->mark, (size_t)(p - cp->mark), 0x7FFFFFFF,
                           &v) || v == 0)
    return cand_fail(cp, cp->mark, "priority",
                     "priority must be 1 to 2147483647");
  cp->out->priority = (uint32_t)v;
  return true;
}

/* A token kept in lower case: transport or candidate type. */
static bool cand_token(cand_parse *cp, const unsigned char *p, char *dst,
                       size_t cap, const char *rule)
{
  if (parley_sdp_span_copy(dst, cap, cp->mark, (size_t)(p - cp->mark), true))
    return true;
  return cand_fail(cp, cp->mark, rule, "%s longer than %zu octets", rule,
                   cap - 1);
}

/* connection-address or rel-addr into dst (256 octets). */
static bool cand_address(cand_parse *cp, const unsigned char *p, char *dst,
                         const char *rule)
{
  size_t n = (size_t)(p - cp->mark);

  if (!parley_sdp_span_copy(dst, 256, cp->mark, n, false))
    return cand_fail(cp, cp->mark, rule, "%s longer than 255 octets", rule);
  return true;
}

static bool cand_transport(cand_parse *cp, const unsigned char *p)
{
  return cand_token(cp, p, cp->out->transport, sizeof cp->out->transport,
                    "transport");
}

static bool cand_type(cand_parse *cp, const unsigned char *p)
{
  return cand_token(cp, p, cp->out->type, sizeof cp->out->type,
                    "cand-type");
}

/* The error action of connection-address and rel-addr. An address of
 * digits and dots only that ends where the address should end is no
 * IPv4 address and, by the grammar's cand-fqdn, no FQDN either: reported
 * at its first octet, with a message that says so. Any other fault is
 * reported as cand_fault does. */
static void cand_address_fault(cand_parse *cp, const unsigned char *p,
                               const unsigned char *end, const char *rule)
{
  const unsigned char *q = cp->mark;

  if (q != NULL && q < p && (p == end || *p == ' ')) {
    while (q < p && (*q == '.' || (*q >= '0' && *q <= '9')))
      q++;
    if (q == p) {
      cand_fail(cp, cp->mark, rule,
                "digits and dots that are not an IPv4 address, in %s", rule);
      return;
    }
  }
  cand_fault(cp, p, end, rule);
}

static bool cand_connection_address(cand_parse *cp, const unsigned char *p)
{
  return cand_address(cp, p, cp->out->address, "connection-address");
}

static bool cand_rel_addr(cand_parse *cp, const unsigned char *p)
{
  cp->out->has_related = true;
  return cand_address(cp, p, cp->out->raddr, "rel-addr");
}

static bool cand_port(cand_parse *cp, const unsigned char *p,
                      uint16_t *dst, const char *rule)
{
  uint64_t v;

  if (!parley_sdp_span_u64(cp->mark, (size_t)(p - cp->mark), 65535, &v))
    return cand_fail(cp, cp->mark, rule, "port must be 0 to 65535");
  *dst = (uint16_t)v;
  return true;
}

static bool cand_tcptype(cand_parse *cp, const unsigned char *p)
{
  if (cp->has_tcptype)
    return cand_fail(cp, cp->mark, "tcp-type-ext", "a second tcptype");
  cp->has_tcptype = true;
  return cand_token(cp, p, cp->out->tcptype, sizeof cp->out->tcptype,
                    "tcp-type");
}

#define CP (&cp)
#define CAND_FAULT(rule) cand_fault(CP, p, pe, rule)

%%{
  machine candidate;

  action mark { cp.mark = p; }
  action foundation { if (!cand_foundation(CP, p)) fbreak; }
  action component_id { if (!cand_component(CP, p)) fbreak; }
  action transport { if (!cand_transport(CP, p)) fbreak; }
  action priority { if (!cand_priority(CP, p)) fbreak; }
  action address { if (!cand_connection_address(CP, p)) fbreak; }
  action port { if (!cand_port(CP, p, &cp.out->port, "port")) fbreak; }
  action cand_type { if (!cand_type(CP, p)) fbreak; }
  action raddr { if (!cand_rel_addr(CP, p)) fbreak; }
  action rport { if (!cand_port(CP, p, &cp.out->rport, "rel-port")) fbreak; }
  action tcptype { if (!cand_tcptype(CP, p)) fbreak; }

  action err_foundation { CAND_FAULT("foundation"); }
  action err_component_id { CAND_FAULT("component-id"); }
  action err_transport { CAND_FAULT("transport"); }
  action err_priority { CAND_FAULT("priority"); }
  action err_connection_address {
    cand_address_fault(CP, p, pe, "connection-address");
  }
  action err_port { CAND_FAULT("port"); }
  action err_cand_type { CAND_FAULT("cand-type"); }
  action err_rel_addr { cand_address_fault(CP, p, pe, "rel-addr"); }
  action err_rel_port { CAND_FAULT("rel-port"); }
  action err_tcp_type_ext { CAND_FAULT("tcp-type-ext"); }
  action err_cand_extension { CAND_FAULT("cand-extension"); }
  action err_candidate_attribute { CAND_FAULT("candidate-attribute"); }

  include candidate_grammar "candidate_grammar.rl";

  main := candidate_attribute $!err_candidate_attribute;
}%%

%% write data;

parley_err parley_candidate_parse(const char *text, size_t len,
                                  parley_candidate *out,
                                  parley_sdp_error *err)
{
  parley_sdp_error scratch;
  cand_parse cp = { .out = out, .err = err != NULL ? err : &scratch };
  const unsigned char *p = (const unsigned char *)text;
  const unsigned char *pe = p + len;
  const unsigned char *eof = pe;
  int cs;

  memset(out, 0, sizeof *out);
  memset(cp.err, 0, sizeof *cp.err);
  cp.text = p;
  %% write init;
  %% write exec;
  if (!cp.failed && cs < candidate_first_final)
    cand_fault(CP, p, pe, "candidate-attribute");
  if (cp.failed) {
    memset(out, 0, sizeof *out);
    return PARLEY_E_BAD_CANDIDATE;
  }
  return PARLEY_OK;
}

#undef CAND_FAULT
#undef CP
