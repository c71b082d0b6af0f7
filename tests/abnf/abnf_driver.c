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

/* True when `msg` is one of the messages of a grammar fault of the SDP
 * and candidate parsers (sdp.rl and candidate.rl write them). */
static bool grammar_fault(const char *msg)
{
  static const char *const PREFIX[] = {
    "unexpected ", "the line ends inside ", "a CR not followed by LF",
    "the candidate ends early",
  };

  for (size_t i = 0; i < sizeof PREFIX / sizeof PREFIX[0]; i++)
    if (strncmp(msg, PREFIX[i], strlen(PREFIX[i])) == 0)
      return true;
  return false;
}

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
  return grammar_fault(err.message) ? '0' : '-';
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
