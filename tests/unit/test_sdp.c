/* Unit tests for the SDP parser and writer (RFC 8866 grammar and the
 * profile of spec section 19).
 *
 * Every input reaches the parser through parley_guard_place()
 * (guard_page.h): it ends right before an unreadable page, so a parser
 * that reads past `len` crashes. Every accepted body is written back with
 * parley_sdp_write and parsed again, which must give the same parley_sdp
 * (the round trip the server and the client rely on).
 *
 * The WebRTC offers below are written for these tests in the style of
 * what browsers send (BUNDLE, msid, extmap, rtcp-fb, ssrc lines, trickle
 * candidates); the addresses are documentation addresses. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "guard_page.h"
#include "parley/sdp.h"

TestSuite(sdp, .init = parley_guard_setup, .fini = parley_guard_teardown);

#define FP "4A:1F:9C:22:7B:E0:53:D8:61:0A:BC:3E:95:F7:48:2D:" \
           "C1:6E:08:A4:77:5B:D9:13:E2:4F:80:36:CA:59:1B:07"

/* A browser-style offer: audio and video, BUNDLE, values per section.
 * Lines end with "\n" here; crlf() turns them into CRLF. */
static const char CHROME_OFFER[] =
  "v=0\n"
  "o=- 7318265112073945211 2 IN IP4 127.0.0.1\n"
  "s=-\n"
  "t=0 0\n"
  "a=group:BUNDLE 0 1\n"
  "a=extmap-allow-mixed\n"
  "a=msid-semantic: WMS 3f1c2a9e\n"
  "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\n"
  "c=IN IP4 0.0.0.0\n"
  "a=rtcp:9 IN IP4 0.0.0.0\n"
  "a=candidate:3171457340 1 udp 2122260223 192.0.2.17 53791 typ host "
  "generation 0 network-id 1 network-cost 10\n"
  "a=candidate:842163049 1 udp 1686052607 203.0.113.5 61200 typ srflx "
  "raddr 192.0.2.17 rport 53791 generation 0 network-id 1\n"
  "a=candidate:1052353102 1 tcp 1518280447 192.0.2.17 9 typ host tcptype "
  "active generation 0 network-id 1\n"
  "a=ice-ufrag:Qx7v\n"
  "a=ice-pwd:4bT9kLmN2pQrStUvWxYz01+/\n"
  "a=ice-options:trickle\n"
  "a=fingerprint:sha-256 " FP "\n"
  "a=setup:actpass\n"
  "a=mid:0\n"
  "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\n"
  "a=sendrecv\n"
  "a=msid:3f1c2a9e 8d2b5c71-0e4a-4f63-9b1d-7c2e5a8f3b60\n"
  "a=rtcp-mux\n"
  "a=rtcp-rsize\n"
  "a=rtpmap:111 opus/48000/2\n"
  "a=rtcp-fb:111 transport-cc\n"
  "a=fmtp:111 minptime=10;useinbandfec=1\n"
  "a=rtpmap:63 red/48000/2\n"
  "a=fmtp:63 111/111\n"
  "a=rtpmap:9 G722/8000\n"
  "a=rtpmap:0 PCMU/8000\n"
  "a=rtpmap:8 PCMA/8000\n"
  "a=rtpmap:13 CN/8000\n"
  "a=rtpmap:110 telephone-event/48000\n"
  "a=rtpmap:126 telephone-event/8000\n"
  "a=ssrc:2938475610 cname:kL2mN8pQ4rS6tU0v\n"
  "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\n"
  "c=IN IP4 0.0.0.0\n"
  "a=rtcp:9 IN IP4 0.0.0.0\n"
  "a=ice-ufrag:Qx7v\n"
  "a=ice-pwd:4bT9kLmN2pQrStUvWxYz01+/\n"
  "a=ice-options:trickle\n"
  "a=fingerprint:sha-256 " FP "\n"
  "a=setup:actpass\n"
  "a=mid:1\n"
  "a=sendrecv\n"
  "a=rtcp-mux\n"
  "a=rtpmap:96 VP8/90000\n"
  "a=rtcp-fb:96 nack pli\n"
  "a=rtpmap:97 rtx/90000\n"
  "a=fmtp:97 apt=96\n"
  "a=rtpmap:102 H264/90000\n"
  "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;"
  "profile-level-id=42001f\n"
  "a=rtpmap:103 rtx/90000\n"
  "a=fmtp:103 apt=102\n";

/* An answer in the style of another browser: transport values at the
 * session level, video refused (port 0), IPv6 and FQDN candidates, the
 * end of candidates; kept with lone LF line ends. */
static const char FIREFOX_ANSWER[] =
  "v=0\n"
  "o=mozilla...THIS_IS_SDPARTA-115.0 5926011223405612810 0 IN IP4 0.0.0.0\n"
  "s=-\n"
  "t=0 0\n"
  "a=fingerprint:sha-256 " FP "\n"
  "a=group:BUNDLE 0\n"
  "a=ice-options:trickle\n"
  "a=msid-semantic:WMS *\n"
  "m=audio 9 UDP/TLS/RTP/SAVPF 109 101\n"
  "c=IN IP4 0.0.0.0\n"
  "a=candidate:0 1 UDP 2122252543 2001:db8::7 51000 typ host\n"
  "a=candidate:1 1 UDP 2122187007 a1b2c3d4-0000-4000-8000-000000000001.local"
  " 51001 typ host\n"
  "a=candidate:2 1 TCP 2105458943 192.0.2.44 9 typ host tcptype active\n"
  "a=candidate:3 1 UDP 8331263 198.51.100.200 3478 typ relay raddr "
  "198.51.100.200 rport 3478\n"
  "a=sendrecv\n"
  "a=end-of-candidates\n"
  "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\n"
  "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1\n"
  "a=fmtp:101 0-15\n"
  "a=ice-pwd:d3a1c5e7f9b2d4f6a8c0e2a4c6e8f0a2\n"
  "a=ice-ufrag:8f2b6d1a\n"
  "a=mid:0\n"
  "a=msid:{7e3a} {1c9d}\n"
  "a=rtcp-mux\n"
  "a=rtpmap:109 opus/48000/2\n"
  "a=rtpmap:101 telephone-event/8000\n"
  "a=setup:active\n"
  "a=ssrc:1357924680 cname:{4f2e}\n"
  "m=video 0 UDP/TLS/RTP/SAVPF 120\n"
  "c=IN IP4 0.0.0.0\n"
  "a=inactive\n"
  "a=mid:1\n"
  "a=rtpmap:120 VP8/90000\n";

/* The smallest body of the profile, "\n" line ends. */
static const char MINIMAL[] =
  "v=0\n"
  "o=- 1 1 IN IP4 192.0.2.1\n"
  "s=-\n"
  "t=0 0\n"
  "m=audio 9 UDP/TLS/RTP/SAVP 96\n"
  "a=ice-ufrag:abcd\n"
  "a=ice-pwd:abcdefghijklmnopqrstuv\n"
  "a=fingerprint:sha-256 " FP "\n"
  "a=setup:passive\n"
  "a=rtcp-mux\n"
  "a=rtpmap:96 OPUS/48000/2\n";

/* ---- text helpers ------------------------------------------------------ */

/* A malloc'd copy of s with each "\n" made "\r\n". */
static char *crlf(const char *s)
{
  size_t n = strlen(s), lines = 0;
  for (size_t i = 0; i < n; i++)
    lines += s[i] == '\n';
  char *out = malloc(n + lines + 1), *o = out;
  cr_assert_not_null(out);
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\n')
      *o++ = '\r';
    *o++ = s[i];
  }
  *o = '\0';
  return out;
}

/* A malloc'd copy of s with the first `from` replaced by `to`. */
static char *replace(const char *s, const char *from, const char *to)
{
  const char *at = strstr(s, from);
  cr_assert_not_null(at, "no \"%s\" in the body", from);
  size_t head = (size_t)(at - s), fl = strlen(from), tl = strlen(to);
  size_t n = strlen(s) - fl + tl;
  char *out = malloc(n + 1);
  cr_assert_not_null(out);
  memcpy(out, s, head);
  memcpy(out + head, to, tl);
  strcpy(out + head + tl, at + fl);
  return out;
}

/* A malloc'd printf. */
static char *fmt(const char *f, ...)
{
  va_list ap;
  va_start(ap, f);
  int n = vsnprintf(NULL, 0, f, ap);
  va_end(ap);
  char *out = malloc((size_t)n + 1);
  cr_assert_not_null(out);
  va_start(ap, f);
  vsnprintf(out, (size_t)n + 1, f, ap);
  va_end(ap);
  return out;
}

/* ---- parse helpers ----------------------------------------------------- */

/* parley_sdp is large: tests keep theirs static. */
static parley_sdp got, back;

static parley_err parse_n(const char *text, size_t len, parley_sdp *s,
                          parley_sdp_error *e)
{
  char *g = parley_guard_place(text, len);
  parley_err r = parley_sdp_parse(g, len, s, e);

  parley_guard_scribble(len);
  return r;
}

/* write(s) parses back to s. */
static void expect_round_trip(const parley_sdp *s)
{
  static char buf[PARLEY_SDP_MAX * 2];
  parley_sdp_error e;
  size_t n = parley_sdp_write(s, buf, sizeof buf);

  cr_assert_gt(n, 0, "the writer failed");
  cr_assert_eq(strlen(buf), n);
  cr_assert_eq(parse_n(buf, n, &back, &e), PARLEY_OK,
               "the written body does not parse: line %u col %u %s: %s\n%s",
               e.line, e.column, e.rule, e.message, buf);
  cr_assert_eq(memcmp(&back, s, sizeof back), 0,
               "the round trip changed the description:\n%s", buf);
}

/* `text` must be accepted (into `got`) and round-trip. */
static void expect_ok(const char *text)
{
  parley_sdp_error e;

  cr_assert_eq(parse_n(text, strlen(text), &got, &e), PARLEY_OK,
               "line %u column %u rule %s: %s", e.line, e.column, e.rule,
               e.message);
  expect_round_trip(&got);
}

static parley_sdp_error last_error; /* of the last expect_bad */

/* `text` must be refused as bad-sdp, at `line` (column when not 0), with
 * `rule`. Frees text. */
static void expect_bad(char *text, uint32_t line, uint32_t column,
                       const char *rule)
{
  parley_sdp_error e;
  parley_err r = parse_n(text, strlen(text), &got, &e);

  cr_assert_eq(r, PARLEY_E_BAD_SDP, "accepted or %d:\n%s", (int)r, text);
  cr_expect_str_eq(e.rule, rule, "rule %s (%s), want %s", e.rule,
                   e.message, rule);
  cr_expect_eq(e.line, line, "line %u, want %u (%s: %s)", e.line, line,
               e.rule, e.message);
  if (column != 0)
    cr_expect_eq(e.column, column, "column %u, want %u (%s: %s)", e.column,
                 column, e.rule, e.message);
  cr_expect_neq(e.message[0], '\0');
  cr_expect_eq(got.media_count, 0, "a refused body leaves out cleared");
  last_error = e;
  free(text);
}

/* ---- accepted bodies --------------------------------------------------- */

Test(sdp, browser_offer)
{
  char *text = crlf(CHROME_OFFER);

  expect_ok(text);
  cr_assert_str_eq(got.origin_user, "-");
  cr_assert_eq(got.sess_id, 7318265112073945211u);
  cr_assert_eq(got.sess_version, 2);
  cr_assert_str_eq(got.origin_addr, "127.0.0.1");
  cr_assert(got.ice_trickle);
  cr_assert_eq(got.media_count, 2);

  const parley_sdp_media *a = &got.media[0];
  cr_assert_str_eq(a->kind, "audio");
  cr_assert_eq(a->port, 9);
  cr_assert_str_eq(a->proto, "UDP/TLS/RTP/SAVPF");
  cr_assert_str_eq(a->formats, "111 63 9 0 8 13 110 126");
  cr_assert_eq(a->opus_pt, 111);
  cr_assert(a->fec);
  cr_assert_str_eq(a->mid, "0");
  cr_assert(a->rtcp_mux);
  cr_assert_eq(a->direction, PARLEY_DIR_SENDRECV);
  cr_assert_str_eq(a->ice_ufrag, "Qx7v");
  cr_assert_str_eq(a->ice_pwd, "4bT9kLmN2pQrStUvWxYz01+/");
  cr_assert_str_eq(a->fp_alg, "sha-256");
  cr_assert_str_eq(a->fingerprint, FP);
  cr_assert_eq(a->setup, PARLEY_SETUP_ACTPASS);
  cr_assert_eq(a->candidate_first, 0);
  cr_assert_eq(a->candidate_count, 3);
  cr_assert_not(a->end_of_candidates);
  cr_assert_eq(got.candidate_count, 3);
  cr_assert_str_eq(got.candidates[1].type, "srflx");
  cr_assert_str_eq(got.candidates[2].tcptype, "active");

  const parley_sdp_media *v = &got.media[1];
  cr_assert_str_eq(v->kind, "video");
  cr_assert_eq(v->opus_pt, -1);
  cr_assert_not(v->fec);
  cr_assert_str_eq(v->mid, "1");
  cr_assert_eq(v->candidate_first, 3);
  cr_assert_eq(v->candidate_count, 0);
  free(text);
}

Test(sdp, browser_answer_session_level_values_and_lf)
{
  expect_ok(FIREFOX_ANSWER);
  cr_assert_str_eq(got.origin_user, "mozilla...THIS_IS_SDPARTA-115.0");
  cr_assert_eq(got.sess_version, 0);
  cr_assert_eq(got.media_count, 2);

  const parley_sdp_media *a = &got.media[0];
  cr_assert_eq(a->opus_pt, 109);
  cr_assert(a->fec);
  cr_assert_str_eq(a->fingerprint, FP, "inherited from the session");
  cr_assert_eq(a->setup, PARLEY_SETUP_ACTIVE);
  cr_assert(a->end_of_candidates);
  cr_assert_eq(a->candidate_count, 4);
  cr_assert_str_eq(got.candidates[0].address, "2001:db8::7");
  cr_assert_str_eq(got.candidates[1].address,
                   "a1b2c3d4-0000-4000-8000-000000000001.local");
  cr_assert_str_eq(got.candidates[2].transport, "tcp");
  cr_assert_str_eq(got.candidates[3].type, "relay");

  const parley_sdp_media *v = &got.media[1];
  cr_assert_eq(v->port, 0);
  cr_assert_eq(v->direction, PARLEY_DIR_INACTIVE);
  cr_assert_str_eq(v->fingerprint, FP);
  cr_assert_str_eq(v->ice_ufrag, "", "no session-level ufrag to inherit");
}

Test(sdp, minimal_body_and_line_ends)
{
  expect_ok(MINIMAL);
  cr_assert_eq(got.media[0].opus_pt, 96, "encoding name in any case");
  cr_assert_not(got.media[0].fec);
  cr_assert_eq(got.media[0].direction, PARLEY_DIR_SENDRECV);
  cr_assert_not(got.ice_trickle);

  char *text = crlf(MINIMAL);
  expect_ok(text);
  free(text);

  /* CRLF and LF mixed line by line */
  text = replace(MINIMAL, "s=-\n", "s=-\r\n");
  expect_ok(text);
  free(text);
}

/* Session-level values hold for every section unless it has its own. */
Test(sdp, session_level_values_inherited)
{
  char *text = fmt(
    "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\n"
    "a=ice-ufrag:sess\na=ice-pwd:sessionpasswordsession\n"
    "a=fingerprint:SHA-256 %s\na=setup:actpass\na=rtcp-mux\na=recvonly\n"
    "a=end-of-candidates\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\na=rtpmap:111 opus/48000/2\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\na=rtpmap:111 opus/48000/2\n"
    "a=ice-ufrag:med1\na=ice-pwd:mediapasswordmediapass\na=setup:active\n"
    "a=sendonly\na=fingerprint:sha-256 %s\n",
    FP, "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:"
        "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99");

  expect_ok(text);
  cr_assert_str_eq(got.media[0].ice_ufrag, "sess");
  cr_assert_str_eq(got.media[0].fp_alg, "sha-256", "kept in lower case");
  cr_assert_eq(got.media[0].setup, PARLEY_SETUP_ACTPASS);
  cr_assert_eq(got.media[0].direction, PARLEY_DIR_RECVONLY);
  cr_assert(got.media[0].rtcp_mux);
  cr_assert(got.media[0].end_of_candidates);
  cr_assert_str_eq(got.media[1].ice_ufrag, "med1");
  cr_assert_str_eq(got.media[1].ice_pwd, "mediapasswordmediapass");
  cr_assert_eq(got.media[1].setup, PARLEY_SETUP_ACTIVE);
  cr_assert_eq(got.media[1].direction, PARLEY_DIR_SENDONLY);
  cr_assert_str_eq(got.media[1].fingerprint,
                   "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:"
                   "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99",
                   "lower-case hex is taken");
  free(text);
}

/* Every optional session line of RFC 8866, in order, and k=/r=/z=. */
Test(sdp, every_field_of_the_grammar)
{
  char *text = replace(MINIMAL, "t=0 0\n",
    "i=A call\n"
    "u=https://example.org/call?id=1%20x\n"
    "e=alice@example.org (Alice)\n"
    "e=Bob Smith <bob.smith@example.org>\n"
    "e=carol@example.org\n"
    "p=+1 617 555-6011\n"
    "p=Dave <+44 20 7946 0000>\n"
    "c=IN IP4 233.252.0.1/127/2\n"
    "b=AS:128\n"
    "b=TIAS:64000\n"
    "t=3034423619 3042462419\n"
    "r=604800 3600 0 90000\n"
    "r=7d 1h 0 25h\n"
    "z=2882844526 -1h 2898848070 0\n"
    "k=prompt\n"
    "a=tool:test\n"
    "a=rtcp-xr:\n");
  expect_ok(text);
  free(text);

  text = replace(MINIMAL, "a=ice-ufrag",
                 "i=audio\nc=IN IP6 2001:db8::1\nc=IN IP4 192.0.2.1\n"
                 "b=AS:64\nk=base64:YWJjZA==\na=ice-ufrag");
  expect_ok(text);
  free(text);
  static const char *const keys[] = { "k=clear:secret", "k=uri:x:y",
                                      "k=base64:YWI=", "k=base64:" };
  for (size_t i = 0; i < 4; i++) {
    char *with = fmt("%s\na=ice-ufrag", keys[i]);
    text = replace(MINIMAL, "a=ice-ufrag", with);
    expect_ok(text);
    free(text);
    free(with);
  }
}

/* ---- required lines missing -------------------------------------------- */

struct edit_case {
  const char *from, *to;
  uint32_t line, column;   /* column 0: not checked */
  const char *rule;
};

static void run_edits(const char *base, const struct edit_case *c, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    cr_log_info("edit %zu: \"%s\" -> \"%s\"", i, c[i].from, c[i].to);
    expect_bad(replace(base, c[i].from, c[i].to), c[i].line, c[i].column,
               c[i].rule);
  }
}

Test(sdp, required_line_missing)
{
  static const struct edit_case cases[] = {
    { "v=0\n", "", 1, 1, "version-field" },
    { "o=- 1 1 IN IP4 192.0.2.1\n", "", 2, 1, "origin-field" },
    { "s=-\n", "", 3, 1, "session-name-field" },
    { "t=0 0\n", "", 4, 1, "time-field" },
    /* without m=, its a= lines are session-level and no section is left */
    { "m=audio 9 UDP/TLS/RTP/SAVP 96\n", "", 0, 0, "media-description" },
    { "a=rtpmap:96 OPUS/48000/2\n", "", 5, 0, "rtpmap-value" },
    { "a=ice-ufrag:abcd\n", "", 5, 0, "ice-ufrag-att" },
    { "a=ice-pwd:abcdefghijklmnopqrstuv\n", "", 5, 0, "ice-pwd-att" },
    { "a=fingerprint:sha-256 " FP "\n", "", 5, 0, "fingerprint-attribute" },
    { "a=setup:passive\n", "", 5, 0, "setup-attr" },
    { "a=rtcp-mux\n", "", 5, 0, "rtcp-mux" },
  };

  run_edits(MINIMAL, cases, sizeof cases / sizeof cases[0]);

  /* the body ends before t= */
  expect_bad(fmt("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n"), 0, 0,
             "time-field");
  expect_bad(fmt("v=0\n"), 0, 0, "origin-field");
  expect_bad(fmt("%s", ""), 1, 0, "version-field");
}

Test(sdp, audio_section_needed)
{
  /* video only */
  expect_bad(replace(MINIMAL, "m=audio 9", "m=video 9"), 0, 0,
             "media-description");
  /* audio refused */
  expect_bad(replace(MINIMAL, "m=audio 9", "m=audio 0"), 0, 0,
             "media-description");
  /* a refused audio section needs nothing more */
  char *text = replace(MINIMAL, "m=audio 9 UDP/TLS/RTP/SAVP 96\n",
                       "m=audio 0 RTP/AVP 0\nm=audio 9 UDP/TLS/RTP/SAVP 96\n");
  expect_ok(text);
  cr_assert_eq(got.media_count, 2);
  cr_assert_eq(got.media[0].opus_pt, -1);
  free(text);
}

/* ---- bad values --------------------------------------------------------- */

/* One edit of MINIMAL each, and where the parser must place the fault. */
static const struct edit_case BAD_VALUES[] = {
  { "v=0", "v=1", 1, 3, "version-field" },
  { "v=0", "v=00", 1, 3, "version-field" },
  { "v=0", "v=", 1, 3, "version-field" },
  { "v=0", "v=0 ", 1, 4, "version-field" },
  { "v=0", "V=0", 1, 1, "version-field" },
  { "o=- 1 1 IN IP4 192.0.2.1", "o=- 1 1 IN IP4", 2, 15, "origin-field" },
  { "o=- 1 1", "o=- x 1", 2, 5, "origin-field" },
  { "o=- 1 1", "o=- 18446744073709551616 1", 2, 5, "sess-id" },
  { "o=- 1 1", "o=- 1 99999999999999999999", 2, 7, "sess-version" },
  { "o=- 1 1", "o=\x01 1 1", 2, 3, "origin-field" },
  { "s=-", "s=", 3, 3, "session-name-field" },
  { "s=-", "s=a\rb", 3, 4, "session-name-field" },
  { "t=0 0", "t=0", 4, 4, "time-field" },
  { "t=0 0", "t=123 0", 4, 6, "time-field" },
  { "t=0 0", "t=0 0 0", 4, 6, "time-field" },
  { "m=audio 9", "m=audio 65536", 5, 9, "port" },
  { "m=audio 9", "m=audio x", 5, 9, "media-field" },
  { "m=audio 9 UDP/TLS/RTP/SAVP 96", "m=audio 9 UDP/TLS/RTP/SAVP", 5, 0,
    "media-field" },
  { "m=audio 9 UDP/TLS/RTP/SAVP 96", "m=audio 9 RTP/AVP 96", 5, 0,
    "proto" },
  { "m=audio 9 UDP/TLS/RTP/SAVP 96", "m=audio 9 UDP/TLS/RTP/SAVP 97", 5,
    0, "fmt" },
  { "m=audio", "m=audioaudioaudioa", 5, 3, "media" },
  { "a=rtpmap:96 OPUS/48000/2", "a=rtpmap:128 opus/48000/2", 11, 10,
    "payload-type" },
  { "a=rtpmap:96 OPUS/48000/2", "a=rtpmap:96 opus/48000", 5, 0,
    "rtpmap-value" },
  { "a=rtpmap:96 OPUS/48000/2", "a=rtpmap:96 opus/44100/2", 5, 0,
    "rtpmap-value" },
  { "a=rtpmap:96 OPUS/48000/2", "a=rtpmap:96 opus", 11, 17,
    "rtpmap-value" },
  { "a=rtpmap:96 OPUS/48000/2", "a=rtpmap:96  opus/48000/2", 11, 13,
    "rtpmap-value" },
  { "a=ice-ufrag:abcd", "a=ice-ufrag:abc", 6, 13, "ice-ufrag-att" },
  { "a=ice-ufrag:abcd", "a=ice-ufrag:ab-cd", 6, 15, "ice-ufrag-att" },
  { "a=ice-ufrag:abcd", "a=ice-ufrag:", 6, 13, "ice-ufrag-att" },
  { "a=ice-pwd:abcdefghijklmnopqrstuv", "a=ice-pwd:abcdefghijklmnopqrstu",
    7, 11, "ice-pwd-att" },
  { "a=fingerprint:sha-256", "a=fingerprint:sha-1", 8, 15, "hash-func" },
  { "a=fingerprint:sha-256", "a=fingerprint:sha-512", 8, 15,
    "hash-func" },
  { "4A:1F", "4A:1G", 8, 27, "fingerprint-attribute" },
  { "4A:1F", "4A1F", 8, 25, "fingerprint-attribute" },
  { "4A:1F:", "", 8, 23, "fingerprint" },
  { ":1B:07", ":1B:07:AA", 8, 23, "fingerprint" },
  { "a=fingerprint:sha-256 ", "a=fingerprint:sha-256  ", 8, 23,
    "fingerprint-attribute" },
  { "a=setup:passive", "a=setup:holdconn", 9, 9, "role" },
  { "a=setup:passive", "a=setup:maybe", 9, 9, "setup-attr" },
  { "a=rtcp-mux", "a=rtcp-mux:yes", 10, 11, "attribute-field" },
  { "a=rtcp-mux", "a=mid:a b", 10, 8, "mid-attribute" },
  { "a=rtcp-mux", "a=mid:", 10, 7, "mid-attribute" },
  { "a=rtcp-mux", "a=mid:abcdefghijklmnopqrstuvwxyz0123456", 10, 7,
    "identification-tag" },
  { "a=rtcp-mux", "a=group:", 10, 9, "group-attribute" },
  { "a=rtcp-mux", "a=ice-options:", 10, 15, "ice-options" },
  { "a=rtcp-mux", "a=ice-options:trickle ", 10, 23, "ice-options" },
  { "a=rtcp-mux", "a=fmtp:96", 10, 10, "fmtp-value" },
  { "a=rtcp-mux", "a=", 10, 3, "attribute-field" },
  { "a=rtcp-mux", "a=:x", 10, 3, "attribute-field" },
  { "a=rtcp-mux", "a=x y", 10, 4, "attribute-field" },
  { "a=rtcp-mux", "a=sendrecv\na=inactive", 11, 1, "attribute" },
  { "a=rtcp-mux", "a=mid:a\na=mid:b", 11, 1, "mid-attribute" },
  { "a=ice-ufrag:abcd", "a=ice-ufrag:abcd\na=ice-ufrag:abcd", 7, 1,
    "ice-ufrag-att" },
  { "a=setup:passive", "a=setup:passive\na=setup:active", 10, 1,
    "setup-attr" },
  { "a=rtcp-mux", "a=fingerprint:sha-256 " FP, 10, 1,
    "fingerprint-attribute" },
  { "a=rtcp-mux", "a=candidate:1 1 udp 1 192.0.2.1 99999 typ host", 10,
    33, "port" },
  { "a=rtcp-mux", "a=candidate:", 10, 13, "foundation" },
  { "a=rtcp-mux", "a=candidate:1 1 udp 1 192.0.2.1 9 typ host\tx", 10, 43,
    "cand-type" },
};

Test(sdp, bad_values)
{
  run_edits(MINIMAL, BAD_VALUES, sizeof BAD_VALUES / sizeof BAD_VALUES[0]);
}

Test(sdp, duplicate_mid_across_sections)
{
  char *text = replace(CHROME_OFFER, "a=mid:1", "a=mid:0");
  char *both = crlf(text);

  free(text);
  expect_bad(both, 45, 7, "mid-attribute");
}

Test(sdp, candidate_at_session_level)
{
  expect_bad(replace(MINIMAL, "t=0 0\n",
                     "t=0 0\na=candidate:1 1 udp 1 192.0.2.1 9 typ host\n"),
             5, 1, "candidate-attribute");
}

/* A NUL octet is not a line end nor text (byte-string excludes it). */
Test(sdp, nul_octet_refused)
{
  static const char text[] = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=a\0b\n";
  parley_sdp_error e;

  cr_assert_eq(parse_n(text, sizeof text - 1, &got, &e), PARLEY_E_BAD_SDP);
  cr_assert_eq(e.line, 3);
  cr_assert_eq(e.column, 4);
  cr_assert_str_eq(e.rule, "session-name-field");
}

/* ---- order ------------------------------------------------------------- */

Test(sdp, line_order)
{
  static const struct edit_case cases[] = {
    { "o=- 1 1 IN IP4 192.0.2.1\ns=-\n", "s=-\no=- 1 1 IN IP4 192.0.2.1\n",
      2, 1, "origin-field" },
    { "t=0 0\n", "t=0 0\nt=0 0\n", 5, 1, "time-field" },
    { "t=0 0\n", "a=tool:x\nt=0 0\n", 4, 1, "time-field" },
    { "t=0 0\n", "t=0 0\nb=AS:1\n", 5, 1, "bandwidth-field" },
    { "t=0 0\n", "t=0 0\nk=prompt\nr=1 2 3\n", 6, 1, "repeat-field" },
    { "s=-\n", "s=-\ns=-\n", 4, 1, "session-name-field" },
    { "s=-\n", "s=-\nc=IN IP4 0.0.0.0\ni=x\n", 5, 1, "information-field" },
    { "v=0\n", "v=0\nv=0\n", 2, 1, "version-field" },
    { "a=rtcp-mux\n", "a=rtcp-mux\nt=0 0\n", 11, 1, "media-description" },
    { "a=rtcp-mux\n", "a=rtcp-mux\nc=IN IP4 0.0.0.0\n", 11, 1,
      "connection-field" },
    { "a=rtcp-mux\n", "a=rtcp-mux\ni=late\n", 11, 1, "information-field" },
    { "a=rtcp-mux\n", "a=rtcp-mux\nx=1\n", 11, 1, "session-description" },
    { "a=rtcp-mux\n", "a=rtcp-mux\n\n", 11, 1, "session-description" },
    { "a=rtcp-mux\n", "a=rtcp-mux\n\r\n", 11, 1, "session-description" },
    { "v=0\n", " v=0\n", 1, 1, "version-field" },
    { "v=0\n", "\xEF\xBB\xBFv=0\n", 1, 1, "version-field" },
  };

  run_edits(MINIMAL, cases, sizeof cases / sizeof cases[0]);
  /* an m= line before t= */
  expect_bad(replace(MINIMAL, "t=0 0\n", ""), 4, 1, "time-field");
}

/* ---- line ends --------------------------------------------------------- */

Test(sdp, line_ends)
{
  size_t n = strlen(MINIMAL);
  char *text = fmt("%.*s", (int)(n - 1), MINIMAL);   /* no last line end */

  expect_bad(text, 11, 25, "sdp-line");
  /* a lone CR is not a line end */
  expect_bad(replace(MINIMAL, "s=-\n", "s=-\r"), 3, 4, "session-name-field");
  cr_assert_str_eq(last_error.message,
                   "a CR not followed by LF in session-name-field");
  /* CR CR LF */
  expect_bad(replace(MINIMAL, "s=-\n", "s=-\r\r\n"), 3, 4,
             "session-name-field");
  /* LF CR: the CR starts the next line */
  expect_bad(replace(MINIMAL, "s=-\n", "s=-\n\r"), 4, 1,
             "session-description");
}

/* ---- limits, at and past each edge ------------------------------------- */

/* MINIMAL padded with a=x-pad lines (each at most 1024 octets) to exactly
 * `size` octets. */
static char *padded(size_t size)
{
  size_t base = strlen(MINIMAL);
  char *out = malloc(size + 1), *o = out;
  cr_assert_not_null(out);
  cr_assert_geq(size, base + 9);
  size_t head = (size_t)(strstr(MINIMAL, "m=") - MINIMAL);
  memcpy(o, MINIMAL, head);
  o += head;
  size_t left = size - base;
  while (left > 0) {
    size_t line = left > 1000 ? 1000 : left;
    if (left - line != 0 && left - line < 9)
      line = left - 9;
    cr_assert_geq(line, 9);
    memcpy(o, "a=x-pad:", 8);
    memset(o + 8, 'p', line - 9);
    o[line - 1] = '\n';
    o += line;
    left -= line;
  }
  strcpy(o, MINIMAL + head);
  cr_assert_eq(strlen(out), size);
  return out;
}

Test(sdp, body_size_limit)
{
  parley_sdp_error e;
  char *text = padded(PARLEY_SDP_MAX);

  expect_ok(text);
  free(text);
  text = padded(PARLEY_SDP_MAX + 1);
  cr_assert_eq(parse_n(text, strlen(text), &got, &e),
               PARLEY_E_SDP_TOO_LARGE);
  cr_assert_str_eq(e.rule, "sdp");
  cr_assert_eq(e.line, 0);
  free(text);

  /* the size is checked before anything else: garbage past it */
  static char junk[PARLEY_SDP_MAX + 1];
  memset(junk, 0xFF, sizeof junk);
  cr_assert_eq(parse_n(junk, sizeof junk, &got, &e),
               PARLEY_E_SDP_TOO_LARGE);
  cr_assert_eq(parse_n(junk, sizeof junk - 1, &got, &e), PARLEY_E_BAD_SDP);
}

/* A line of `n` octets without its line end. */
static char *long_line(size_t n, const char *prefix)
{
  char *line = malloc(n + 1);
  size_t pl = strlen(prefix);

  cr_assert_not_null(line);
  memcpy(line, prefix, pl);
  memset(line + pl, 'x', n - pl);
  line[n] = '\0';
  return line;
}

Test(sdp, line_length_limit)
{
  char *line = long_line(1024, "a=x-long:");
  char *text = replace(MINIMAL, "a=rtcp-mux", line);

  free(line);
  char *both = replace(text, "a=rtpmap", "a=rtcp-mux\na=rtpmap");
  expect_ok(both);
  free(both);
  /* the same with CRLF: the CR is not counted */
  char *wide = crlf(text);
  both = replace(wide, "a=rtpmap", "a=rtcp-mux\r\na=rtpmap");
  expect_ok(both);
  free(both);
  free(wide);
  free(text);

  line = long_line(1025, "a=x-long:");
  expect_bad(replace(MINIMAL, "a=rtcp-mux", line), 10, 1025, "sdp-line");
  free(line);
  /* a long line without any line end */
  line = long_line(2000, "a=x-long:");
  expect_bad(fmt("%s%s", MINIMAL, line), 12, 1025, "sdp-line");
  free(line);
}

/* MINIMAL plus `extra` refused video sections. */
static char *with_sections(size_t extra)
{
  char *text = fmt("%s", MINIMAL);

  for (size_t i = 0; i < extra; i++) {
    char *more = fmt("%sm=video 0 UDP/TLS/RTP/SAVPF 96\na=mid:v%zu\n", text,
                     i);
    free(text);
    text = more;
  }
  return text;
}

Test(sdp, media_section_limit)
{
  char *text = with_sections(PARLEY_SDP_MEDIA_MAX - 1);

  expect_ok(text);
  cr_assert_eq(got.media_count, PARLEY_SDP_MEDIA_MAX);
  free(text);
  expect_bad(with_sections(PARLEY_SDP_MEDIA_MAX), 12 + 2 * 7, 1,
             "media-description");
}

/* MINIMAL with n candidates in its audio section. */
static char *with_candidates(size_t n)
{
  char *text = fmt("%s", MINIMAL);

  for (size_t i = 0; i < n; i++) {
    char *more = fmt("%sa=candidate:%zu 1 udp %zu 192.0.2.%zu %zu typ host\n",
                     text, i, i + 1, i % 250 + 1, 40000 + i);
    free(text);
    text = more;
  }
  return text;
}

Test(sdp, candidate_limit)
{
  char *text = with_candidates(PARLEY_SDP_CANDIDATES_MAX);

  expect_ok(text);
  cr_assert_eq(got.candidate_count, PARLEY_SDP_CANDIDATES_MAX);
  cr_assert_eq(got.media[0].candidate_count, PARLEY_SDP_CANDIDATES_MAX);
  cr_assert_eq(got.candidates[63].port, 40063);
  free(text);
  expect_bad(with_candidates(PARLEY_SDP_CANDIDATES_MAX + 1), 12 + 64, 1,
             "candidate-attribute");
}

static char *repeat_char(char c, size_t n)
{
  char *s = malloc(n + 1);
  cr_assert_not_null(s);
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

/* ice-ufrag 4 to 256, ice-pwd 22 to 256, username 64, mid 32. */
Test(sdp, value_length_limits)
{
  static const struct { const char *from, *head; size_t lo, hi;
                        uint32_t line; const char *rule; } cases[] = {
    { "a=ice-ufrag:abcd", "a=ice-ufrag:", 4, 256, 6, "ice-ufrag-att" },
    { "a=ice-pwd:abcdefghijklmnopqrstuv", "a=ice-pwd:", 22, 256, 7,
      "ice-pwd-att" },
    { "a=rtcp-mux", "a=rtcp-mux\na=mid:", 1, 32, 11, "identification-tag" },
    { "o=- ", "o=", 1, 64, 2, "username" },
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t edges[] = { cases[i].lo, cases[i].hi, cases[i].lo - 1,
                       cases[i].hi + 1 };
    for (size_t k = 0; k < 4; k++) {
      char *v = repeat_char('a', edges[k]);
      char *to = fmt("%s%s%s", cases[i].head, v, i == 3 ? " " : "");
      char *text = replace(MINIMAL, cases[i].from, to);
      free(v);
      free(to);
      if (k < 2) {
        expect_ok(text);
        free(text);
      } else if (edges[k] > 0) {
        expect_bad(text, cases[i].line, 0, cases[i].rule);
      } else {
        free(text);
      }
    }
  }
}

/* ---- truncation, garbage, round trips, writer -------------------------- */

/* Every prefix of a body: never a crash; an accepted prefix round-trips;
 * an error is placed inside the prefix. */
static void truncate_everywhere(const char *body)
{
  size_t len = strlen(body);

  for (size_t n = 0; n <= len; n++) {
    parley_sdp_error e;
    if (parse_n(body, n, &got, &e) == PARLEY_OK)
      expect_round_trip(&got);
    else
      cr_assert_leq(e.line, 200);
  }
}

Test(sdp, truncation_at_every_offset)
{
  char *text = crlf(CHROME_OFFER);

  truncate_everywhere(text);
  truncate_everywhere(FIREFOX_ANSWER);
  truncate_everywhere(MINIMAL);
  free(text);
}

static uint32_t rng_state = 777;

static uint32_t rng(void)
{
  rng_state = rng_state * 1103515245u + 12345u;
  return rng_state >> 8;
}

/* The bodies with random octets changed, lines dropped or doubled: never
 * a crash, and what is accepted round-trips. */
Test(sdp, mutations_and_garbage)
{
  static char buf[PARLEY_SDP_MAX];
  const char *bodies[] = { CHROME_OFFER, FIREFOX_ANSWER, MINIMAL };
  size_t accepted = 0;

  for (int round = 0; round < 6000; round++) {
    const char *b = bodies[rng() % 3];
    size_t len = strlen(b);
    memcpy(buf, b, len);
    int kind = round % 4;
    for (int k = 1 + (int)(rng() % 4); k > 0; k--) {
      size_t at = rng() % len;
      if (kind == 0)
        buf[at] = (char)rng();
      else if (kind == 1)
        buf[at] = "\r\n :/=a0"[rng() % 8];
      else if (kind == 2 && len > 1) {
        memmove(buf + at, buf + at + 1, len - at - 1);
        len--;
      }
    }
    if (kind == 3) {
      len = rng() % 600;
      for (size_t j = 0; j < len; j++)
        buf[j] = round % 8 == 3 ? (char)rng() : "v=0\nam \r"[rng() % 8];
    }
    parley_sdp_error e;
    if (parse_n(buf, len, &got, &e) == PARLEY_OK) {
      accepted++;
      expect_round_trip(&got);
    }
  }
  cr_assert_gt(accepted, 0);
}

Test(sdp, writer_exact_form)
{
  static char buf[4096];

  expect_ok(MINIMAL);
  size_t n = parley_sdp_write(&got, buf, sizeof buf);
  cr_assert_eq(n, strlen(buf));
  cr_assert_str_eq(buf,
    "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVP 96\r\nc=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"
    "a=fingerprint:sha-256 " FP "\r\na=setup:passive\r\na=sendrecv\r\n"
    "a=rtcp-mux\r\na=rtpmap:96 opus/48000/2\r\n");
}

Test(sdp, writer_capacity)
{
  static char buf[8192];
  char *text = crlf(CHROME_OFFER);

  expect_ok(text);
  free(text);
  size_t full = parley_sdp_write(&got, buf, sizeof buf);
  cr_assert_gt(full, 0);
  for (size_t cap = 1; cap <= full; cap++) {
    cr_assert_eq(parley_sdp_write(&got, buf, cap), 0, "cap %zu", cap);
    cr_assert_eq(buf[0], '\0');
  }
  cr_assert_eq(parley_sdp_write(&got, buf, full + 1), full);
  cr_assert_eq(parley_sdp_write(&got, buf, 0), 0);
}

Test(sdp, err_may_be_null)
{
  cr_assert_eq(parley_sdp_parse(MINIMAL, strlen(MINIMAL), &got, NULL),
               PARLEY_OK);
  cr_assert_eq(parley_sdp_parse("v=0\n", 4, &got, NULL), PARLEY_E_BAD_SDP);
  cr_assert_eq(parley_sdp_parse(MINIMAL, PARLEY_SDP_MAX + 1, &got, NULL),
               PARLEY_E_SDP_TOO_LARGE);
}

/* A description built by hand, as a client builds its offer or answer
 * (no fmt list, no candidates, a refused section): the writer gives a
 * body of the profile, which parses to the same values, the fmt list
 * being the opus payload type ("0" for a section without one). */
Test(sdp, writer_of_a_built_description)
{
  static parley_sdp s;
  static char buf[4096];
  parley_sdp_error e;

  snprintf(s.origin_user, sizeof s.origin_user, "-");
  s.sess_id = 42;
  s.sess_version = 3;
  snprintf(s.origin_addr, sizeof s.origin_addr, "2001:db8::1");
  s.ice_trickle = true;
  s.media_count = 2;
  parley_sdp_media *a = &s.media[0], *v = &s.media[1];
  snprintf(a->kind, sizeof a->kind, "audio");
  a->port = 9;
  snprintf(a->proto, sizeof a->proto, "UDP/TLS/RTP/SAVPF");
  a->opus_pt = 111;
  a->fec = true;
  snprintf(a->mid, sizeof a->mid, "0");
  a->rtcp_mux = true;
  snprintf(a->ice_ufrag, sizeof a->ice_ufrag, "u1u1");
  snprintf(a->ice_pwd, sizeof a->ice_pwd, "pppppppppppppppppppppp");
  snprintf(a->fp_alg, sizeof a->fp_alg, "sha-256");
  snprintf(a->fingerprint, sizeof a->fingerprint, "%s", FP);
  a->setup = PARLEY_SETUP_ACTIVE;
  snprintf(v->kind, sizeof v->kind, "video");
  snprintf(v->proto, sizeof v->proto, "UDP/TLS/RTP/SAVPF");
  v->opus_pt = -1;
  snprintf(v->mid, sizeof v->mid, "1");
  v->direction = PARLEY_DIR_INACTIVE;

  size_t n = parley_sdp_write(&s, buf, sizeof buf);
  cr_assert_gt(n, 0);
  cr_assert_eq(parse_n(buf, n, &got, &e), PARLEY_OK, "%s: %s\n%s", e.rule,
               e.message, buf);
  cr_assert_str_eq(got.media[0].formats, "111");
  cr_assert_str_eq(got.media[1].formats, "0");
  snprintf(s.media[0].formats, sizeof s.media[0].formats, "111");
  snprintf(s.media[1].formats, sizeof s.media[1].formats, "0");
  s.media[1].candidate_first = 0;
  cr_assert_eq(memcmp(&got, &s, sizeof s), 0, "\n%s", buf);
}
