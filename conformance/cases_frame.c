/* Conformance cases: frame. Framing and limits as the server receives
 * them (spec sections 2.1 to 2.5 and 2.8): every fault of the table of
 * 2.8 gets the error the table names, the frame is not acted on, and the
 * session goes on (a PING sent afterwards is the very next thing
 * answered). The cases run on NEGOTIATED sessions, which no live event
 * reaches, so every frame received is an answer; a frame that passes the
 * framing checks gets `auth-required` there (AUTH-2), which shows it was
 * taken as a frame. Limits come from GET /v1/config, which the hello
 * suite checks against WELCOME: a server may state smaller ones.
 *
 * A malformed frame carries no promise of `req` in its ERROR; the cases
 * put a `req` before the fault and accept an ERROR with that `req` or
 * none, never another. */
#include <stdio.h>
#include <string.h>

#include "ca_util.h"

/* ---- building frames ----------------------------------------------------- */

/* "PING" with nonce, req and `extra` header lines ("name: value\r\n"
 * each), and no body. */
static char *ping_with(pc_ctx *t, const char *nonce, const char *req,
                       const char *extra)
{
  return pc_printf(t, "PING\r\nnonce: %s\r\nreq: %s\r\n%s\r\n", nonce, req,
                   extra);
}

/* A header line "x-pad: ..." of exactly n octets without its CRLF (n at
 * least 8), padded with `ch`. */
static char *pad_line(pc_ctx *t, size_t n, char ch)
{
  return pc_printf(t, "x-pad: %s\r\n", ca_fill(t, ch, n - 7));
}

/* n header lines "x-hK: v" (K from 1). */
static char *many_lines(pc_ctx *t, size_t n)
{
  char *s = pc_alloc(t, n * 16 + 1), *p = s;

  for (size_t i = 1; i <= n; i++)
    p += sprintf(p, "x-h%zu: v\r\n", i);
  return s;
}

static size_t digits(size_t n)
{
  size_t d = 1;

  while (n >= 10) {
    n /= 10;
    d++;
  }
  return d;
}

/* A frame of exactly `total` octets: verb, req, content-length and a body
 * of 'a' octets filling the rest. */
static char *sized_frame(pc_ctx *t, const char *verb, const char *req,
                         size_t total)
{
  size_t fixed = strlen(verb) + strlen(req) + 29, body = 0;

  for (size_t d = 1; d < 12; d++) {
    if (total > fixed + d && digits(total - fixed - d) == d) {
      body = total - fixed - d;
      break;
    }
  }
  char *s = pc_printf(t, "%s\r\nreq: %s\r\ncontent-length: %zu\r\n\r\n%s",
                      verb, req, body, ca_fill(t, 'a', body));
  PC_CHECK(t, strlen(s) == total, "internal: built %zu octets, not %zu",
           strlen(s), total);
  return s;
}

/* Sends `msg` and fails unless the very next frame is the PONG of the
 * PING with nonce and req that msg holds. */
static void expect_pong_of(pc_ctx *t, pc_conn *c, const char *msg,
                           const char *nonce, const char *req)
{
  const pc_frame *f;

  pc_send_text(c, msg, strlen(msg));
  f = pc_recv(c, PC_WAIT);
  PC_CHECK(t, f, "a well-formed PING within the limits got no answer");
  PC_CHECK(t, strcmp(f->verb, "PONG") == 0 && pc_hdr(f, "nonce") &&
              pc_hdr_is(f, "nonce", nonce),
           "a well-formed PING within the limits was answered with %s "
           "(%s), not its PONG", f->verb,
           pc_hdr_show(f, "reason"));
  PC_CHECK(t, pc_hdr_is(f, "req", req),
           "PONG does not carry the PING's req %s", req);
}

/* Sends `msg` (a frame of an unknown verb) on a NEGOTIATED session and
 * fails unless it gets auth-required with its req: it passed framing. */
static void expect_taken(pc_ctx *t, pc_conn *c, const char *msg,
                         size_t len, size_t pieces, const char *req)
{
  if (pieces > 1)
    pc_send_fragmented(c, msg, len, pieces);
  else
    pc_send_text(c, msg, len);
  pc_expect_error(c, "auth-required", 0, req, PC_WAIT);
  ca_pong_next(t, c);
}

/* ---- the start line ------------------------------------------------------ */

static const ca_sample lower_case_verbs[] = {
  CA_S("the spec's example: send", "send\r\nconv: c7f3a\r\ntemp-id: t-0004"
       "\r\ncontent-length: 5\r\n\r\nhello", "bad-start-line", NULL),
  CA_S("Ping", "Ping\r\n\r\n", "bad-start-line", NULL),
  CA_S("pING", "pING\r\n\r\n", "bad-start-line", NULL),
  CA_S("PINg", "PINg\r\nreq: v1\r\n\r\n", "bad-start-line", "v1"),
};

static void verb_lower_case(pc_ctx *t)
{
  ca_each_bad(t, "neg", lower_case_verbs, PC_COUNT(lower_case_verbs));
}

static const ca_sample bad_verbs[] = {
  CA_S("empty verb", "\r\nreq: v1\r\n\r\n", "bad-start-line", "v1"),
  CA_S("digit first", "1PING\r\n\r\n", "bad-start-line", NULL),
  CA_S("hyphen first", "-PING\r\n\r\n", "bad-start-line", NULL),
  CA_S("space inside", "PI NG\r\n\r\n", "bad-start-line", NULL),
  CA_S("space after", "PING \r\n\r\n", "bad-start-line", NULL),
  CA_S("underscore", "PI_NG\r\n\r\n", "bad-start-line", NULL),
  CA_S("colon", "PING:\r\n\r\n", "bad-start-line", NULL),
  CA_S("valid non-ASCII letter", "PING\xC3\x89\r\n\r\n", "bad-start-line",
       NULL),
  CA_S("non-ASCII first", "\xC3\x89PING\r\n\r\n", "bad-start-line", NULL),
  CA_S("CR without LF", "PING\rX\r\n\r\n", "bad-start-line", NULL),
  CA_S("bare LF line ends", "PING\nnonce: a\n\n", "bad-start-line", NULL),
  CA_S("NUL in verb", "PI\0NG\r\n\r\n", "bad-start-line", NULL),
  CA_S("tab after verb", "PING\t\r\n\r\n", "bad-start-line", NULL),
};

static void verb_grammar(pc_ctx *t)
{
  ca_each_bad(t, "neg", bad_verbs, PC_COUNT(bad_verbs));
}

static void verb_at_limit(pc_ctx *t)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *verbs[] = {"XVERB-OF-THIRTY-TWO-OCTETS-ABCDE",
                         "X0123456789-ABCDEFGHIJKLMNOPQRST"};

  for (size_t i = 0; i < PC_COUNT(verbs); i++) {
    const char *req = ca_req(t);
    const char *msg = pc_printf(t, "%s\r\nreq: %s\r\n\r\n", verbs[i], req);

    PC_CHECK(t, strlen(verbs[i]) == 32, "internal: verb length");
    pc_note(t, "a verb of 32 octets is within the limit");
    expect_taken(t, c, msg, strlen(msg), 1, req);
  }
}

static void verb_past_limit(pc_ctx *t)
{
  const char *long_verb = ca_fill(t, 'X', 200);
  const ca_sample s[] = {
    CA_S("the spec's example: 33 octets",
         "SENDSENDSENDSENDSENDSENDSENDSENDS\r\n\r\n", "bad-start-line",
         NULL),
    CA_S("33 octets of an unknown verb, with headers",
         "XVERB-OF-THIRTY-THREE-OCTETS-ABCD\r\nreq: v2\r\n\r\n",
         "bad-start-line", "v2"),
    {"200 octets", pc_printf(t, "%s\r\n\r\n", long_verb), 204,
     "bad-start-line", NULL},
  };

  ca_each_bad(t, "neg", s, PC_COUNT(s));
}

/* ---- header names and values --------------------------------------------- */

static const ca_sample bad_names[] = {
  CA_S("upper-case first", "PING\r\nreq: h1\r\nNonce: a\r\n\r\n",
       "bad-header-name", "h1"),
  CA_S("the spec's example: Conv", "SEND\r\nConv: c7f3a\r\ntemp-id: t-0005"
       "\r\ncontent-length: 5\r\n\r\nhello", "bad-header-name", NULL),
  CA_S("Content-Length", "PING\r\nreq: h3\r\nContent-Length: 0\r\n\r\n",
       "bad-header-name", "h3"),
  CA_S("space first", "PING\r\nreq: h4\r\n nonce: a\r\n\r\n",
       "bad-header-name", "h4"),
  CA_S("colon first", "PING\r\nreq: h5\r\n: a\r\n\r\n", "bad-header-name",
       "h5"),
  CA_S("space inside", "PING\r\nreq: h6\r\nno nce: a\r\n\r\n",
       "bad-header-name", "h6"),
  CA_S("underscore", "PING\r\nreq: h7\r\nx_a: a\r\n\r\n", "bad-header-name",
       "h7"),
  CA_S("digit first", "PING\r\nreq: h8\r\n9x: a\r\n\r\n", "bad-header-name",
       "h8"),
  CA_S("non-ASCII first", "PING\r\nreq: h9\r\n\xC3\xA9x: a\r\n\r\n",
       "bad-header-name", "h9"),
  CA_S("non-ASCII later", "PING\r\nreq: h10\r\nx\xC3\xA9: a\r\n\r\n",
       "bad-header-name", "h10"),
  CA_S("no colon", "PING\r\nreq: h11\r\nnonce a\r\n\r\n", "bad-header-name",
       "h11"),
  CA_S("CR without LF at a line start", "PING\r\nreq: h12\r\n\rX\r\n\r\n",
       "bad-header-name", "h12"),
  CA_S("upper-case later", "PING\r\nreq: h13\r\nx-Foo: a\r\n\r\n",
       "bad-header-name", "h13"),
};

static void header_name_grammar(pc_ctx *t)
{
  ca_each_bad(t, "neg", bad_names, PC_COUNT(bad_names));
}

static const ca_sample bad_values[] = {
  CA_S("no space after the colon", "PING\r\nreq: b1\r\nnonce:a\r\n\r\n",
       "bad-header-value", "b1"),
  CA_S("colon then CRLF", "PING\r\nreq: b2\r\nnonce:\r\n\r\n",
       "bad-header-value", "b2"),
  CA_S("the spec's example: a tab", "SEND\r\nconv: c7f3a\r\ntemp-id: t\t0006"
       "\r\ncontent-length: 5\r\n\r\nhello", "bad-header-value", NULL),
  CA_S("DEL", "PING\r\nreq: b4\r\nnonce: a\x7f\r\n\r\n", "bad-header-value",
       "b4"),
  CA_S("0x01", "PING\r\nreq: b5\r\nnonce: a\x01z\r\n\r\n",
       "bad-header-value", "b5"),
  CA_S("NUL", "PING\r\nreq: b6\r\nnonce: a\0z\r\n\r\n", "bad-header-value",
       "b6"),
  CA_S("bare CR", "PING\r\nreq: b7\r\nnonce: a\rz\r\n\r\n",
       "bad-header-value", "b7"),
  CA_S("bare LF", "PING\r\nreq: b8\r\nnonce: a\nz\r\n\r\n",
       "bad-header-value", "b8"),
  CA_S("bare LF ending the line", "PING\r\nreq: b9\r\nnonce: a\n\r\n",
       "bad-header-value", "b9"),
  CA_S("escape in an unknown header", "PING\r\nreq: b10\r\nx-a: \x1b[0m\r\n"
       "\r\n", "bad-header-value", "b10"),
};

static void header_value_grammar(pc_ctx *t)
{
  ca_each_bad(t, "neg", bad_values, PC_COUNT(bad_values));
}

/* ---- limits -------------------------------------------------------------- */

static void header_line_at_limit(pc_ctx *t)
{
  size_t max = pc_config_of(t)->max_header_line;
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *nonce = pc_uniq(t, "n"), *req = ca_req(t);
  /* The same length in octets, with two-octet characters. */
  size_t pairs = (max - 7) / 2;
  char *wide = pc_alloc(t, max + 3);

  pc_note(t, "a header line of %zu octets (max-header-line)", max);
  expect_pong_of(t, c, ping_with(t, nonce, req, pad_line(t, max, 'a')),
                 nonce, req);
  memcpy(wide, "x-pad: ", 7);
  for (size_t i = 0; i < pairs; i++)
    memcpy(wide + 7 + 2 * i, "\xC3\xA9", 2);
  if ((max - 7) % 2)
    wide[max - 1] = 'a';
  memcpy(wide + max, "\r\n", 3);
  nonce = pc_uniq(t, "n");
  req = ca_req(t);
  pc_note(t, "a header line of %zu octets, most of them two-octet "
          "characters", max);
  expect_pong_of(t, c, ping_with(t, nonce, req, wide), nonce, req);
}

static void header_line_past_limit(pc_ctx *t)
{
  size_t max = pc_config_of(t)->max_header_line;
  size_t pairs = (max + 1 - 7) / 2;
  char *wide = pc_alloc(t, max + 4);
  ca_sample s[3];

  memcpy(wide, "x-pad: ", 7);
  for (size_t i = 0; i < pairs; i++)
    memcpy(wide + 7 + 2 * i, "\xC3\xA9", 2);
  if ((max + 1 - 7) % 2)
    wide[max] = 'a';
  memcpy(wide + max + 1, "\r\n", 3);
  s[0] = (ca_sample){"a header line one octet past max-header-line", NULL,
                     0, "header-too-long", "l1"};
  s[0].octets = ping_with(t, "a", "l1", pad_line(t, max + 1, 'a'));
  s[1] = (ca_sample){"the same in two-octet characters (fewer characters "
                     "than the limit)", NULL, 0, "header-too-long", "l2"};
  s[1].octets = ping_with(t, "a", "l2", wide);
  s[2] = (ca_sample){"a header line of four times the limit", NULL, 0,
                     "header-too-long", "l3"};
  s[2].octets = ping_with(t, "a", "l3", pad_line(t, 4 * max, 'a'));
  for (size_t i = 0; i < PC_COUNT(s); i++)
    s[i].len = strlen(s[i].octets);
  ca_each_bad(t, "neg", s, PC_COUNT(s));
}

static void headers_at_limit(pc_ctx *t)
{
  size_t max = pc_config_of(t)->max_headers;
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *nonce = pc_uniq(t, "n"), *req = ca_req(t);

  PC_CHECK(t, max >= 3, "max_headers %zu leaves no room for a PING", max);
  pc_note(t, "a PING of %zu header lines (max-headers)", max);
  expect_pong_of(t, c, ping_with(t, nonce, req, many_lines(t, max - 2)),
                 nonce, req);
}

static void headers_past_limit(pc_ctx *t)
{
  size_t max = pc_config_of(t)->max_headers;
  ca_sample s[2] = {
    {"one header line past max-headers", NULL, 0, "too-many-headers", "m1"},
    {"200 header lines", NULL, 0, "too-many-headers", "m2"},
  };

  s[0].octets = ping_with(t, "a", "m1", many_lines(t, max - 1));
  s[1].octets = ping_with(t, "a", "m2", many_lines(t, 198));
  for (size_t i = 0; i < PC_COUNT(s); i++)
    s[i].len = strlen(s[i].octets);
  ca_each_bad(t, "neg", s, PC_COUNT(s));
}

static void frame_at_limit(pc_ctx *t)
{
  size_t max = pc_config_of(t)->max_frame;
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *req = ca_req(t);
  const char *msg = sized_frame(t, "XFILL", req, max);

  pc_note(t, "a frame of %zu octets (max-frame) with an unknown verb", max);
  expect_taken(t, c, msg, max, 1, req);
}

static void frame_past_limit(pc_ctx *t)
{
  size_t max = pc_config_of(t)->max_frame;
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *msg = sized_frame(t, "XFILL", "p1", max + 1);
  const char *huge = sized_frame(t, "XFILL", "p2", 4 * max);

  pc_note(t, "a frame of %zu octets, one past max-frame", max + 1);
  pc_send_text(c, msg, max + 1);
  ca_frame_error(t, c, "frame-too-large", "p1");
  ca_pong_next(t, c);
  pc_note(t, "a message of %zu octets", 4 * max);
  pc_send_text(c, huge, 4 * max);
  ca_frame_error(t, c, "frame-too-large", "p2");
  ca_pong_next(t, c);
  pc_note(t, "a message one past max-frame with a bad verb: refused whole");
  memcpy((char *)msg, "xfill", 5);
  pc_send_text(c, msg, max + 1);
  ca_frame_error(t, c, "frame-too-large", "p1");
  ca_pong_next(t, c);
}

/* Frames with two faults: the one met first in reading gets its error
 * (the table of 2.8). */
static void first_fault_reported(pc_ctx *t)
{
  size_t max = pc_config_of(t)->max_headers;
  ca_sample s[] = {
    CA_S("bad verb, then a bad header name", "ping\r\nNonce: a\r\n\r\n",
         "bad-start-line", NULL),
    CA_S("invalid UTF-8 in the verb, then a bad header name",
         "PI\xC0\xAF\r\nNonce: a\r\n\r\n", "bad-utf8", NULL),
    CA_S("bad header name, then a duplicate", "PING\r\nreq: f3\r\nNonce: "
         "a\r\nnonce: a\r\nnonce: b\r\n\r\n", "bad-header-name", "f3"),
    CA_S("duplicate name, then a bad value", "PING\r\nreq: f4\r\nnonce: a"
         "\r\nnonce: b\x01\r\n\r\n", "duplicate-header", "f4"),
    CA_S("no space after the colon, then a duplicate", "PING\r\nreq: f5\r\n"
         "nonce:a\r\nnonce: b\r\n\r\n", "bad-header-value", "f5"),
    CA_S("bad content-length, then the message ends", "PING\r\nreq: f6\r\n"
         "content-length: 05\r\n\r\nab", "bad-length", "f6"),
    CA_S("content-length past the limit, then a bad header name",
         "PING\r\nreq: f7\r\ncontent-length: 9999999\r\nNonce: a\r\n\r\n",
         "frame-too-large", "f7"),
    CA_S("invalid UTF-8 in the body, then extra data", "PING\r\nreq: f8\r\n"
         "content-length: 3\r\n\r\n\xC0\xAFxyz", "bad-utf8", "f8"),
    {"a header line past the limit, then the message ends", NULL, 0,
     "header-too-long", "f9"},
    {"one header line too many, with a bad name", NULL, 0,
     "too-many-headers", "f10"},
  };

  s[8].octets = pc_printf(t, "PING\r\nreq: f9\r\nx-pad: %s",
                          ca_fill(t, 'a', pc_config_of(t)->max_header_line));
  s[9].octets = pc_printf(t, "PING\r\nreq: f10\r\n%sBad: x\r\n\r\n",
                          many_lines(t, max - 1));
  for (size_t i = 8; i < PC_COUNT(s); i++)
    s[i].len = strlen(s[i].octets);
  ca_each_bad(t, "neg", s, PC_COUNT(s));
}

/* ---- content-length ------------------------------------------------------ */

static const ca_sample bad_lengths[] = {
  CA_S("the spec's example: 05", "SEND\r\nconv: c7f3a\r\ntemp-id: t-0008\r\n"
       "content-length: 05\r\n\r\nhello", "bad-length", NULL),
  CA_S("00", "PING\r\nreq: c2\r\ncontent-length: 00\r\n\r\n", "bad-length",
       "c2"),
  CA_S("+5", "PING\r\nreq: c3\r\ncontent-length: +5\r\n\r\nhello",
       "bad-length", "c3"),
  CA_S("-5", "PING\r\nreq: c4\r\ncontent-length: -5\r\n\r\nhello",
       "bad-length", "c4"),
  CA_S("a space after", "PING\r\nreq: c5\r\ncontent-length: 5 \r\n\r\nhello",
       "bad-length", "c5"),
  CA_S("a space before", "PING\r\nreq: c6\r\ncontent-length:  5\r\n\r\n"
       "hello", "bad-length", "c6"),
  CA_S("hexadecimal", "PING\r\nreq: c7\r\ncontent-length: 0x5\r\n\r\nhello",
       "bad-length", "c7"),
  CA_S("empty", "PING\r\nreq: c8\r\ncontent-length: \r\n\r\n", "bad-length",
       "c8"),
  CA_S("a letter after", "PING\r\nreq: c9\r\ncontent-length: 5a\r\n\r\n"
       "hello", "bad-length", "c9"),
  CA_S("an Arabic-Indic digit", "PING\r\nreq: c10\r\ncontent-length: "
       "\xD9\xA5\r\n\r\nhello", "bad-length", "c10"),
  CA_S("a decimal point", "PING\r\nreq: c11\r\ncontent-length: 5.0\r\n\r\n"
       "hello", "bad-length", "c11"),
};

static void content_length_malformed(pc_ctx *t)
{
  ca_each_bad(t, "neg", bad_lengths, PC_COUNT(bad_lengths));
}

static void content_length_past_limit(pc_ctx *t)
{
  size_t max = pc_config_of(t)->max_frame;
  ca_sample s[] = {
    {"one past max-frame, no body", NULL, 0, "frame-too-large", "c1"},
    CA_S("the spec's example: 70000", "SEND\r\nconv: c7f3a\r\ntemp-id: "
         "t-0013\r\ncontent-length: 70000\r\n\r\n", "frame-too-large",
         NULL),
    CA_S("2^64", "PING\r\nreq: c3\r\ncontent-length: 18446744073709551616"
         "\r\n\r\n", "frame-too-large", "c3"),
    CA_S("30 digits", "PING\r\nreq: c4\r\ncontent-length: "
         "999999999999999999999999999999\r\n\r\n", "frame-too-large", "c4"),
  };

  s[0].octets = pc_printf(t, "PING\r\nreq: c1\r\ncontent-length: %zu\r\n\r\n",
                          max + 1);
  s[0].len = strlen(s[0].octets);
  ca_each_bad(t, "neg", s, PC_COUNT(s));
}

/* The head (start line, header lines and blank line, no body) of a PING
 * whose frame would be max-frame + `over` octets: content-length first,
 * then req and three x-pK lines. The content-length fits max-frame with
 * the octets before its own line; only the lines after it push the frame
 * past the limit (spec 2.8). */
static char *head_of_size(pc_ctx *t, const char *req, size_t over)
{
  const pc_config *cfg = pc_config_of(t);
  size_t w = cfg->max_header_line < 200 ? cfg->max_header_line : 200;
  size_t total = cfg->max_frame + over, body = 0, fixed;
  char *pads = "", *head;

  for (int k = 1; k <= 3; k++)
    pads = pc_printf(t, "%sx-p%d: %s\r\n", pads, k, ca_fill(t, 'p', w - 6));
  fixed = strlen("PING\r\ncontent-length: \r\nreq: \r\n\r\n") +
          strlen(req) + strlen(pads);
  for (size_t d = 1; d < 12; d++) {
    if (total > fixed + d && digits(total - fixed - d) == d) {
      body = total - fixed - d;
      break;
    }
  }
  head = pc_printf(t, "PING\r\ncontent-length: %zu\r\nreq: %s\r\n%s\r\n",
                   body, req, pads);
  PC_CHECK(t, body > 0 && strlen(head) + body == total &&
              5 <= cfg->max_headers,
           "internal: a head of %zu octets and a body of %zu are not a "
           "frame of %zu", strlen(head), body, total);
  return head;
}

/* spec: FRAME-4 FRAME-2 WS-2 */
static void content_length_with_headers(pc_ctx *t)
{
  ca_sample s[] = {
    {"the head of a frame of exactly max-frame octets, without its body",
     NULL, 0, "truncated-frame", "w1"},
    {"the head of a frame one octet past max-frame, without its body: "
     "content-length fits the limit with its own line, not with the "
     "header lines after it", NULL, 0, "frame-too-large", "w2"},
  };

  s[0].octets = head_of_size(t, "w1", 0);
  s[1].octets = head_of_size(t, "w2", 1);
  for (size_t i = 0; i < PC_COUNT(s); i++)
    s[i].len = strlen(s[i].octets);
  ca_each_bad(t, "neg", s, PC_COUNT(s));
}

static void content_length_zero(pc_ctx *t)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *nonce = pc_uniq(t, "n"), *req = ca_req(t);

  expect_pong_of(t, c, ping_with(t, nonce, req, "content-length: 0\r\n"),
                 nonce, req);
}

static const ca_sample duplicates[] = {
  CA_S("the spec's example: conv twice", "SEND\r\nconv: c7f3a\r\nconv: c9b10"
       "\r\ntemp-id: t-0009\r\ncontent-length: 5\r\n\r\nhello",
       "duplicate-header", NULL),
  CA_S("nonce twice", "PING\r\nreq: d2\r\nnonce: a\r\nnonce: a\r\n\r\n",
       "duplicate-header", "d2"),
  CA_S("content-length twice", "PING\r\nreq: d3\r\ncontent-length: 2\r\n"
       "content-length: 2\r\n\r\nab", "duplicate-header", "d3"),
  CA_S("an unknown header twice", "PING\r\nreq: d4\r\nx-a: 1\r\nx-b: 2\r\n"
       "x-a: 3\r\n\r\n", "duplicate-header", "d4"),
  CA_S("req twice", "PING\r\nreq: d5\r\nreq: d5\r\n\r\n", "duplicate-header",
       "d5"),
};

static void duplicate_header(pc_ctx *t)
{
  ca_each_bad(t, "neg", duplicates, PC_COUNT(duplicates));
}

/* ---- one frame per message (WS-1, WS-2, WS-3) ---------------------------- */

static const ca_sample no_length[] = {
  CA_S("the spec's example", "SEND\r\nconv: c7f3a\r\ntemp-id: t-0010\r\n"
       "\r\nhello", "length-required", NULL),
  CA_S("a PING with a body", "PING\r\nreq: q2\r\n\r\nhello",
       "length-required", "q2"),
  CA_S("two PINGs without content-length", "PING\r\nreq: q3\r\nnonce: a\r\n"
       "\r\nPING\r\nnonce: b\r\n\r\n", "length-required", "q3"),
  CA_S("a PING and a CRLF", "PING\r\nreq: q4\r\n\r\n\r\n", "length-required",
       "q4"),
};

static void length_required(pc_ctx *t)
{
  ca_each_bad(t, "neg", no_length, PC_COUNT(no_length));
}

static const ca_sample truncated[] = {
  CA_S("an empty message", "", "truncated-frame", NULL),
  CA_S("half a verb", "PI", "truncated-frame", NULL),
  CA_S("a verb without CRLF", "PING", "truncated-frame", NULL),
  CA_S("a verb and CR", "PING\r", "truncated-frame", NULL),
  CA_S("no blank line", "PING\r\n", "truncated-frame", NULL),
  CA_S("half a header line", "PING\r\nreq: t6\r\nnonce: a",
       "truncated-frame", "t6"),
  CA_S("headers without the blank line", "PING\r\nreq: t7\r\n",
       "truncated-frame", "t7"),
  CA_S("the spec's example: half a body", "SEND\r\nconv: c7f3a\r\n"
       "temp-id: t-0011\r\ncontent-length: 10\r\n\r\nhello",
       "truncated-frame", NULL),
  CA_S("a UTF-8 sequence cut by the message's end, in the body",
       "PING\r\nreq: t9\r\ncontent-length: 4\r\n\r\nab\xE2",
       "truncated-frame", "t9"),
  CA_S("a UTF-8 sequence cut by the message's end, in a value",
       "PING\r\nreq: t10\r\nnonce: \xE2\x82", "truncated-frame", "t10"),
};

static void truncated_frame(pc_ctx *t)
{
  ca_each_bad(t, "neg", truncated, PC_COUNT(truncated));
}

static const ca_sample extras[] = {
  CA_S("two PINGs, the first with content-length: 0",
       "PING\r\nreq: e1\r\nnonce: a\r\ncontent-length: 0\r\n\r\n"
       "PING\r\nnonce: b\r\n\r\n", "extra-data", "e1"),
  CA_S("the spec's example", "SEND\r\nconv: c7f3a\r\ntemp-id: t-0012\r\n"
       "content-length: 2\r\n\r\nhello", "extra-data", NULL),
  CA_S("a CRLF after the body", "PING\r\nreq: e3\r\ncontent-length: 2\r\n"
       "\r\nab\r\n", "extra-data", "e3"),
};

static void extra_data(pc_ctx *t)
{
  ca_each_bad(t, "neg", extras, PC_COUNT(extras));
}

static void binary_message(pc_ctx *t)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *ping = "PING\r\nnonce: in-binary\r\nreq: bin1\r\n\r\n";

  pc_note(t, "a well-formed PING in a binary message");
  pc_send_binary(c, ping, strlen(ping));
  ca_frame_error(t, c, "binary-message", "bin1");
  ca_pong_next(t, c);
  pc_note(t, "an empty binary message");
  pc_send_binary(c, "", 0);
  ca_frame_error(t, c, "binary-message", NULL);
  ca_pong_next(t, c);
}

static void fragments_joined(pc_ctx *t)
{
  size_t max = pc_config_of(t)->max_frame;
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *nonce = pc_uniq(t, "n"), *req = ca_req(t);
  const char *ping = ping_with(t, nonce, req, "");
  const pc_frame *f;

  pc_note(t, "a PING in 3 WebSocket fragments");
  pc_send_fragmented(c, ping, strlen(ping), 3);
  f = pc_recv(c, PC_WAIT);
  PC_CHECK(t, f && strcmp(f->verb, "PONG") == 0 && pc_hdr(f, "nonce") &&
              pc_hdr_is(f, "nonce", nonce),
           "a PING in 3 fragments was not answered with its PONG (got %s)",
           f ? f->verb : "nothing");
  req = ca_req(t);
  pc_note(t, "a frame of max-frame (%zu) octets in 7 fragments", max);
  expect_taken(t, c, sized_frame(t, "XFILL", req, max), max, 7, req);
}

static void fragments_past_limit(pc_ctx *t)
{
  size_t max = pc_config_of(t)->max_frame;
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *msg = sized_frame(t, "XFILL", "g1", max + 1);

  pc_note(t, "a message of %zu octets (one past max-frame) in 64 small "
          "fragments", max + 1);
  pc_send_fragmented(c, msg, max + 1, 64);
  ca_frame_error(t, c, "frame-too-large", "g1");
  ca_pong_next(t, c);
}

/* ---- UTF-8 (FRAME-5, WS-8) ----------------------------------------------- */

static const ca_sample bad_utf8[] = {
  CA_S("verb: overlong", "PING\xC0\xAF\r\n\r\n", "bad-utf8", NULL),
  CA_S("verb: surrogate", "PING\xED\xA0\x80\r\n\r\n", "bad-utf8", NULL),
  CA_S("verb: a sequence cut short", "PING\xE2\x82\r\n\r\n", "bad-utf8",
       NULL),
  CA_S("verb: 0xFF", "PING\xFF\r\n\r\n", "bad-utf8", NULL),
  CA_S("value: overlong", "PING\r\nreq: u5\r\nnonce: \xC0\xAF\r\n\r\n",
       "bad-utf8", "u5"),
  CA_S("value: overlong, 3 octets", "PING\r\nreq: u6\r\nnonce: "
       "\xE0\x80\xAF\r\n\r\n", "bad-utf8", "u6"),
  CA_S("value: surrogate", "PING\r\nreq: u7\r\nnonce: \xED\xA0\x80\r\n\r\n",
       "bad-utf8", "u7"),
  CA_S("value: past U+10FFFF", "PING\r\nreq: u8\r\nnonce: "
       "\xF4\x90\x80\x80\r\n\r\n", "bad-utf8", "u8"),
  CA_S("value: a sequence cut short", "PING\r\nreq: u9\r\nnonce: "
       "a\xE2\x82\r\n\r\n", "bad-utf8", "u9"),
  CA_S("value: a lone continuation octet", "PING\r\nreq: u10\r\nx-a: "
       "\x80\r\n\r\n", "bad-utf8", "u10"),
  CA_S("body: the spec's example, overlong", "SEND\r\nconv: c7f3a\r\n"
       "temp-id: t-0007\r\ncontent-length: 6\r\n\r\na\xC0\xAF" "b/c",
       "bad-utf8", NULL),
  CA_S("body: surrogate", "PING\r\nreq: u12\r\ncontent-length: 3\r\n\r\n"
       "\xED\xA0\x80", "bad-utf8", "u12"),
  CA_S("body: a sequence cut by the body's end", "PING\r\nreq: u13\r\n"
       "content-length: 4\r\n\r\nab\xE2\x82", "bad-utf8", "u13"),
  CA_S("body: five-octet form", "PING\r\nreq: u14\r\ncontent-length: 5\r\n"
       "\r\n\xF8\x88\x80\x80\x80", "bad-utf8", "u14"),
};

/* FRAME-5 alone: whatever else it does, the server acts on none of a
 * frame with invalid UTF-8. RFC 6455 lets it fail the connection with
 * 1007 instead of answering bad-utf8 (that is WS-8's SHOULD, checked by
 * the next case). */
static void utf8_rejected(pc_ctx *t)
{
  pc_conn *c = NULL;
  unsigned sent = 0;

  for (size_t i = 0; i < PC_COUNT(bad_utf8); i++) {
    const pc_frame *f;

    if (!c || sent == CA_BAD_PER_CONN) {
      c = ca_negotiated(t, pc_printf(t, "neg-%zu", i), 0, NULL);
      sent = 0;
    }
    pc_note(t, "%s", bad_utf8[i].what);
    pc_send_text(c, bad_utf8[i].octets, bad_utf8[i].len);
    sent++;
    f = pc_recv(c, PC_WAIT);
    if (!f) {
      int code;

      PC_CHECK(t, pc_closed(c), "%s: no answer", bad_utf8[i].what);
      code = pc_expect_close(c, PC_WAIT);
      PC_CHECK(t, code == 1007, "%s: the server closed with %d, neither "
               "answering bad-utf8 nor failing with 1007", bad_utf8[i].what,
               code);
      c = NULL;
      continue;
    }
    ca_is_error(t, f, "bad-utf8", 0, NULL);
  }
}

static void utf8_session_goes_on(pc_ctx *t)
{
  ca_each_bad(t, "neg", bad_utf8, PC_COUNT(bad_utf8));
}

/* ---- acting on nothing, in READY (FRAME-7) ------------------------------- */

/* Malformed SEND frames of every kind for an empty conversation of the
 * user's own: none may be stored, so the first valid SEND gets seq 1. */
static void rejected_send_not_stored(pc_ctx *t)
{
  int u = ca_acct(t, 1);
  const char *conv = pc_conv_group(t, u, &u, 1);
  pc_conn *c = ca_ready(t, u, NULL, NULL, 0, NULL);
  size_t max = pc_config_of(t)->max_frame;
  const char *head = pc_printf(t, "SEND\r\nconv: %s\r\n", conv);
  struct { const char *what, *msg, *reason; } bad[] = {
    {"a bad header value", "temp-id: x1\r\nx-a: \x01\r\ncontent-length: 1"
     "\r\n\r\nx", "bad-header-value"},
    {"a bad header name", "temp-id: x2\r\nX-a: 1\r\ncontent-length: 1\r\n"
     "\r\nx", "bad-header-name"},
    {"a duplicate header", "temp-id: x3\r\nx-a: 1\r\nx-a: 2\r\n"
     "content-length: 1\r\n\r\nx", "duplicate-header"},
    {"extra data", "temp-id: x4\r\ncontent-length: 1\r\n\r\nxy",
     "extra-data"},
    {"a truncated body", "temp-id: x5\r\ncontent-length: 5\r\n\r\nx",
     "truncated-frame"},
    {"no content-length", "temp-id: x6\r\n\r\nx", "length-required"},
    {"a malformed content-length", "temp-id: x7\r\ncontent-length: 01\r\n"
     "\r\nx", "bad-length"},
  };
  const char *req = ca_req(t);
  const pc_frame *ack;

  for (size_t i = 0; i < PC_COUNT(bad); i++) {
    const char *msg = pc_printf(t, "%s%s", head, bad[i].msg);

    pc_note(t, "a SEND with %s", bad[i].what);
    pc_send_text(c, msg, strlen(msg));
    ca_frame_error(t, c, bad[i].reason, NULL);
  }
  pc_note(t, "a valid SEND in a binary message");
  {
    const char *msg = pc_printf(t, "%stemp-id: x8\r\ncontent-length: 1\r\n"
                                "\r\nx", head);
    pc_send_binary(c, msg, strlen(msg));
    ca_frame_error(t, c, "binary-message", NULL);
  }
  pc_note(t, "a SEND one octet past max-frame");
  {
    const char *big = sized_frame(t, pc_printf(t, "SEND\r\nconv: %s\r\n"
                                  "temp-id: x9", conv), "r9", max + 1);
    pc_send_text(c, big, max + 1);
    ca_frame_error(t, c, "frame-too-large", "r9");
  }
  pc_send(c, "SEND", "ok", "conv", conv, "temp-id", pc_uniq(t, "t"), "req",
          req, NULL);
  ack = pc_expect_req(c, req, PC_WAIT);
  PC_CHECK(t, strcmp(ack->verb, "ACK") == 0, "a valid SEND got %s, not ACK",
           ack->verb);
  PC_CHECK(t, pc_hdr_u64(t, ack, "seq") == 1,
           "the first valid SEND of a new conversation got seq %llu: a "
           "rejected frame was stored",
           (unsigned long long)pc_hdr_u64(t, ack, "seq"));
}

/* ---- values keep their spaces (section 2.2) ------------------------------ */

static void value_spaces_kept(pc_ctx *t)
{
  pc_conn *c = ca_negotiated(t, "neg", 0, NULL);
  const char *nonces[] = {" leading", "trailing ", "in  side", "  "};

  for (size_t i = 0; i < PC_COUNT(nonces); i++) {
    const char *req = ca_req(t);
    const char *msg = pc_printf(t, "PING\r\nreq: %s\r\nnonce: %s\r\n\r\n",
                                req, nonces[i]);

    pc_note(t, "nonce \"%s\": every space after the first belongs to the "
            "value", nonces[i]);
    expect_pong_of(t, c, msg, nonces[i], req);
  }
}

static const pc_case cases[] = {
  {"frame.verb-lower-case",
   "A lower-case or mixed-case verb gets bad-start-line and the session "
   "goes on.", "FRAME-1", PC_MUST, NULL, verb_lower_case},
  {"frame.verb-grammar",
   "A verb breaking the grammar (empty, digit or hyphen first, space, "
   "underscore, non-ASCII, bare CR or LF, NUL) gets bad-start-line.",
   "FRAME-1", PC_MUST, NULL, verb_grammar},
  {"frame.verb-at-limit",
   "A verb of exactly 32 octets is within the limit and is taken as a "
   "frame.", "FRAME-2 AUTH-2", PC_MUST, NULL, verb_at_limit},
  {"frame.verb-past-limit",
   "A verb of 33 octets or more gets bad-start-line.",
   "FRAME-1 FRAME-2", PC_MUST, NULL, verb_past_limit},
  {"frame.header-name-grammar",
   "A header name breaking the grammar (upper case, space, colon, digit "
   "or non-ASCII first, no colon, bare CR) gets bad-header-name.",
   "FRAME-1", PC_MUST, NULL, header_name_grammar},
  {"frame.header-value-grammar",
   "A header value without its space or holding a control octet gets "
   "bad-header-value.", "FRAME-1 ERR-1", PC_MUST, NULL,
   header_value_grammar},
  {"frame.header-line-at-limit",
   "A header line of exactly max-header-line octets, ASCII or not, is "
   "accepted.", "FRAME-2 EXT-1", PC_MUST, NULL, header_line_at_limit},
  {"frame.header-line-past-limit",
   "A header line one octet past max-header-line (counted in octets, not "
   "characters) gets header-too-long.", "FRAME-2", PC_MUST, NULL,
   header_line_past_limit},
  {"frame.headers-at-limit",
   "A frame of exactly max-headers header lines is accepted.",
   "FRAME-2 EXT-1", PC_MUST, NULL, headers_at_limit},
  {"frame.headers-past-limit",
   "A frame with one header line past max-headers gets too-many-headers.",
   "FRAME-2", PC_MUST, NULL, headers_past_limit},
  {"frame.frame-at-limit",
   "A frame of exactly max-frame octets is taken as a frame.",
   "FRAME-2 AUTH-2", PC_MUST, NULL, frame_at_limit},
  {"frame.frame-past-limit",
   "A message one octet past max-frame, or four times it, gets "
   "frame-too-large whatever else is wrong in it, and the session goes "
   "on.", "FRAME-2 WS-7", PC_MUST,
   NULL, frame_past_limit},
  {"frame.first-fault-reported",
   "Of two faults in a frame, the one met first in reading gets its "
   "error.", "FRAME-10", PC_SHOULD, NULL, first_fault_reported},
  {"frame.content-length-malformed",
   "A content-length that is not a number without leading zeros gets "
   "bad-length.", "FRAME-4", PC_MUST, NULL, content_length_malformed},
  {"frame.content-length-past-limit",
   "A content-length above max-frame, however many digits it has, gets "
   "frame-too-large.", "FRAME-4 FRAME-2", PC_MUST, NULL,
   content_length_past_limit},
  {"frame.content-length-with-headers",
   "A content-length that fits max-frame with its own line but not with "
   "the header lines after it gets frame-too-large where the body would "
   "start, not truncated-frame; one octet less is within the limit.",
   "FRAME-4 FRAME-2 WS-2", PC_MUST, NULL, content_length_with_headers},
  {"frame.content-length-zero",
   "A frame without a body may carry content-length: 0.", "FRAME-4",
   PC_MUST, NULL, content_length_zero},
  {"frame.duplicate-header",
   "A header name given twice, known or not, gets duplicate-header.",
   "FRAME-6", PC_MUST, NULL, duplicate_header},
  {"frame.length-required",
   "Octets after the blank line of a frame without content-length get "
   "length-required, and none of the message is acted on.", "WS-2 FRAME-4",
   PC_MUST, NULL, length_required},
  {"frame.truncated-frame",
   "A message holding part of a frame (an empty one included) gets "
   "truncated-frame.", "WS-2", PC_MUST, NULL, truncated_frame},
  {"frame.extra-data",
   "A message holding octets after a complete frame gets extra-data, and "
   "none of its frames is acted on.", "WS-2 WS-1 FRAME-7", PC_MUST, NULL,
   extra_data},
  {"frame.binary-message",
   "A binary message gets binary-message and is otherwise ignored.",
   "WS-3", PC_MUST, NULL, binary_message},
  {"frame.fragments-joined",
   "A text message sent in several WebSocket fragments is joined and "
   "taken as one frame.", "WS-1 FRAME-2", PC_MUST, NULL, fragments_joined},
  {"frame.fragments-past-limit",
   "Fragments joining to one octet past max-frame get frame-too-large.",
   "WS-7 FRAME-2", PC_MUST, NULL, fragments_past_limit},
  {"frame.bad-utf8-rejected",
   "Invalid UTF-8 in a verb, a header value or a body is never acted "
   "on: it gets bad-utf8 (or the connection fails with 1007).",
   "FRAME-5 FRAME-7", PC_MUST, NULL, utf8_rejected},
  {"frame.bad-utf8-session-goes-on",
   "Invalid UTF-8 is answered with bad-utf8 by the frame parser and the "
   "session goes on.", "WS-8", PC_SHOULD, NULL,
   utf8_session_goes_on},
  {"frame.rejected-send-not-stored",
   "A SEND rejected for its framing is not stored: the next valid SEND of "
   "a new conversation gets seq 1.", "FRAME-7 WS-2 WS-3 SEND-2", PC_MUST,
   NULL, rejected_send_not_stored},
  {"frame.value-spaces-kept",
   "Spaces after the one that follows the colon belong to the value and "
   "are echoed octet for octet.", "HB-3", PC_MUST, NULL,
   value_spaces_kept},
};

const pc_suite pc_suite_frame = {"frame", false, cases, PC_COUNT(cases)};
