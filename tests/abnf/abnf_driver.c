/* The Ragel side of the differential test: runs one of libparley's
 * parsers over many inputs and prints, for each, the verdict of the
 * grammar alone.
 *
 * Usage: parley-abnf-driver frame|sdp|candidate < inputs > verdicts
 *
 * Inputs are length-prefixed (a 4-octet big-endian length, then the
 * octets). For each input one line is printed: a verdict, a space and
 * what the parser said (an error reason and rule, or "ok"). The verdict
 * is "1" when the input is in the language of the grammar, "0" when it
 * is not, and "-" when the parser refused it for a rule that is not
 * syntax (a limit, a duplicate header, a content-length value, an SDP
 * profile rule) before the grammar's verdict was known: the comparison
 * skips those and counts them.
 *
 * Where the line between syntax and the other checks falls is the
 * parser's error table (spec section 2.8); README.md states it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/frame.h"
#include "parley/sdp.h"

/* The grammar verdict of a frame given as one WebSocket message. The
 * ABNF's body is *OCTET: once the header section parsed, what the parser
 * says about the body (its length against content-length, its UTF-8) is
 * not syntax, so the frame is in the language. */
static char frame_verdict(parley_parser *parser, const char *in, size_t len,
                          char *why, size_t why_cap)
{
  parley_frame frame;
  parley_parse_error err;
  parley_err code = parley_parse_message(parser, in, len, &frame, &err);

  if (code == PARLEY_OK) {
    snprintf(why, why_cap, "ok");
    return '1';
  }
  snprintf(why, why_cap, "%s@%zu:%s", parley_err_reason(code), err.offset,
           err.rule);
  switch (code) {
  case PARLEY_E_BAD_HEADER_NAME:
  case PARLEY_E_BAD_HEADER_VALUE:
    return '0';
  case PARLEY_E_BAD_START_LINE:
    /* a verb octet past the 32-octet limit is the limit, not syntax */
    return err.offset >= PARLEY_VERB_MAX ? '-' : '0';
  case PARLEY_E_BAD_UTF8:
  case PARLEY_E_TRUNCATED_FRAME:
    return strcmp(err.rule, "body") == 0 ? '1' : '0';
  case PARLEY_E_EXTRA_DATA:
  case PARLEY_E_LENGTH_REQUIRED:
    return '1';
  default: /* limits, duplicate header, content-length value */
    return '-';
  }
}

/* True when `msg` starts with one of the NULL-ended `prefixes`. */
static bool starts_any(const char *msg, const char *const *prefixes)
{
  for (; *prefixes != NULL; prefixes++)
    if (strncmp(msg, *prefixes, strlen(*prefixes)) == 0)
      return true;
  return false;
}

/* Messages of faults of the grammar (sdp.rl, candidate.rl): an octet no
 * rule takes, and the lines of session-description out of its order. */
static const char *const GRAMMAR_FAULT[] = {
  "unexpected ", "the line ends inside ", "a CR not followed by LF",
  "the candidate ends early", "the line is incomplete", "an empty line",
  "the first line must be v=0", "unknown type letter",
  "the body is empty", "the last line has no line end", "SDP version ",
  "digits and dots that are not an IPv4 address", NULL,
};

/* True for the messages of a line missing, repeated or out of the order
 * of session-description: "the o= line is missing", "a second s= line",
 * "a c= line out of order", "a k= line inside a media section". */
static bool order_fault(const char *msg)
{
  if (strncmp(msg, "the ", 4) == 0 && msg[4] != '\0' && msg[5] == '=')
    return strcmp(msg + 6, " line is missing") == 0;
  if (strncmp(msg, "a second ", 9) == 0 && msg[9] != '\0' && msg[10] == '=')
    return strcmp(msg + 11, " line") == 0;
  return strncmp(msg, "a ", 2) == 0 && msg[2] != '\0' && msg[3] == '=' &&
         strncmp(msg + 4, " line ", 6) == 0;
}

/* Messages of the profile checks that run after the last line, when the
 * whole body matched the grammar. */
static const char *const PROFILE_AFTER[] = {
  "no m= section", "no m=audio", "media section ", NULL,
};

/* Attributes the profile reads with a rule of their own (spec 19.6); the
 * grammar's session-description takes them as a generic attribute. */
static const char *const PROFILE_ATTR[] = {
  "rtpmap", "fmtp", "ice-ufrag", "ice-pwd", "ice-options", "fingerprint",
  "setup", "mid", "group", "rtcp-mux", "sendrecv", "sendonly", "recvonly",
  "inactive", "candidate", "end-of-candidates", NULL,
};

/* True when line `no` (1-based) of the SDP text is an a= line of one of
 * the attributes of PROFILE_ATTR. */
static bool profile_attr_line(const char *in, size_t len, uint32_t no)
{
  const char *line = in, *end = in + len;

  for (uint32_t i = 1; i < no && line < end; i++) {
    const char *lf = memchr(line, '\n', (size_t)(end - line));
    line = lf != NULL ? lf + 1 : end;
  }
  if (no == 0 || end - line < 2 || line[0] != 'a' || line[1] != '=')
    return false;
  line += 2;
  size_t n = 0;
  while (line + n < end && strchr(":\r\n", line[n]) == NULL)
    n++;
  for (const char *const *a = PROFILE_ATTR; *a != NULL; a++)
    if (strlen(*a) == n && memcmp(line, *a, n) == 0)
      return true;
  return false;
}

/* The grammar verdict of an SDP body or a candidate-attribute: a grammar
 * fault is "0"; a profile fault found after the last line is "1"; any
 * other fault (a limit, a value, a line of an attribute the profile
 * reads with its own rule) is "-". */
static char sdp_verdict(const char *in, size_t len, bool candidate,
                        char *why, size_t why_cap)
{
  static parley_sdp sdp;
  parley_candidate cand;
  parley_sdp_error err;
  parley_err code = candidate ? parley_candidate_parse(in, len, &cand, &err)
                              : parley_sdp_parse(in, len, &sdp, &err);

  if (code == PARLEY_OK) {
    snprintf(why, why_cap, "ok");
    return '1';
  }
  snprintf(why, why_cap, "%u:%u:%s:%s", err.line, err.column, err.rule,
           err.message);
  for (char *c = why; *c != '\0'; c++)
    if (*c == '\n' || *c == '\r')
      *c = ' ';
  if (!candidate && profile_attr_line(in, len, err.line))
    return '-';
  if (starts_any(err.message, GRAMMAR_FAULT) || order_fault(err.message))
    return '0';
  if (!candidate && starts_any(err.message, PROFILE_AFTER))
    return '1';
  return '-';
}

/* Reads one length-prefixed input into *buf (grown as needed). Returns
 * its length, or -1 at the end of the inputs. */
static long read_input(char **buf, size_t *cap)
{
  unsigned char pre[4];
  size_t len;

  if (fread(pre, 1, 4, stdin) != 4)
    return -1;
  len = (size_t)pre[0] << 24 | (size_t)pre[1] << 16 | (size_t)pre[2] << 8
        | pre[3];
  if (len + 1 > *cap) {
    char *grown = realloc(*buf, len + 1);
    if (grown == NULL)
      return -1;
    *buf = grown;
    *cap = len + 1;
  }
  if (len > 0 && fread(*buf, 1, len, stdin) != len)
    return -1;
  return (long)len;
}

int main(int argc, char **argv)
{
  parley_parser parser;
  char *buf = NULL, why[256];
  size_t cap = 0;
  long len;

  if (argc != 2 || (strcmp(argv[1], "frame") != 0 &&
                    strcmp(argv[1], "sdp") != 0 &&
                    strcmp(argv[1], "candidate") != 0)) {
    fprintf(stderr, "usage: parley-abnf-driver frame|sdp|candidate\n");
    return 2;
  }
  parley_parser_init(&parser, NULL);
  while ((len = read_input(&buf, &cap)) >= 0) {
    char v;
    if (argv[1][0] == 'f')
      v = frame_verdict(&parser, buf, (size_t)len, why, sizeof why);
    else
      v = sdp_verdict(buf, (size_t)len, argv[1][0] == 'c', why, sizeof why);
    printf("%c %s\n", v, why);
  }
  parley_parser_free(&parser);
  free(buf);
  return 0;
}
