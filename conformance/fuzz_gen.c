/* parley-conform --fuzz: the frames the fuzzer sends.
 *
 * Generation works on a frame held as parts (verb, header lines in
 * order, body, line ending, the separator after each name) so that the
 * mutations of the grammar's own structure are one step each: a value
 * at the edge of its class (section 2.9), a number at 2^53 or 2^64 or
 * with a leading zero, content-length off by one, a header line
 * repeated or dropped, a verb in lower case, a header line or frame just
 * at or past its limit (section 2.3). The frame is then written out and
 * may be cut, bit-flipped, given invalid UTF-8 or bare line feeds, and
 * sent in fragments, as a binary message or past the WebSocket framing.
 *
 * The verbs and their headers are the spec's tables, written as the
 * spec writes them (section 10 for the chat verbs, 19.2 for the call
 * verbs); test_conform_fuzz.py holds this table against the spec so the
 * two cannot drift. Everything comes from one fz_rng, so a seed gives
 * the same frames again. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* ---- the random source --------------------------------------------- */

/* The splitmix64 output function: mixes every bit of x into every bit
 * of the result. */
static uint64_t mix64(uint64_t z)
{
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void fz_rng_seed(fz_rng *r, uint64_t seed, uint64_t stream)
{
  /* mixed twice, so that neighbouring streams share no pattern */
  r->s = mix64(mix64(seed) ^ mix64(stream + 0x9E3779B97F4A7C15ull));
}

uint64_t fz_rand(fz_rng *r)
{
  return mix64(r->s += 0x9E3779B97F4A7C15ull);
}

size_t fz_below(fz_rng *r, size_t n)
{
  return n ? (size_t)(fz_rand(r) % n) : 0;
}

bool fz_chance(fz_rng *r, unsigned percent)
{
  return fz_below(r, 100) < percent;
}

/* ---- the spec's tables --------------------------------------------- */

const fz_verb fz_verbs[] = {
  /* section 10 */
  {"HELLO", "client", "versions, heartbeat; caps", 0},
  {"AUTH", "client", "token, device", 0},
  {"PING", "client", "; nonce", 0},
  {"SEND", "client", "conv, temp-id; content-type", 't'},
  {"RECEIPT", "both", "conv, kind, seq", 0},
  {"SYNC", "client", "; since", 0},
  {"HISTORY", "client", "conv; cursor, after, limit", 0},
  {"TYPING", "both", "conv, state", 0},
  {"PRESENCE", "both", "status; ttl", 0},
  {"BYE", "both", "", 0},
  /* section 19.2 */
  {"CALL", "client", "conv; media", 0},
  {"JOIN", "client", "call; rejoin", 0},
  {"OFFER", "client", "call, to, to-device; ice-restart, content-type",
   's'},
  {"ANSWER", "client", "call, to, to-device; content-type", 's'},
  {"CANDIDATE", "client", "call, to, to-device, candidate; mid", 0},
  {"END-OF-CANDIDATES", "client", "call, to, to-device", 0},
  {"MEDIA-STATE", "client", "call; audio, video, screen (at least one)",
   0},
  {"LEAVE", "client", "call; reason", 0},
  {"HANGUP", "client", "call; reason", 0},
  /* verbs only a server sends (sections 10 and 19.2) */
  {"WELCOME", "server", "", 0}, {"READY", "server", "", 0},
  {"PONG", "server", "", 0}, {"ACK", "server", "", 0},
  {"OK", "server", "", 0}, {"MSG", "server", "", 0},
  {"SYNCED", "server", "", 0}, {"PAGE", "server", "", 0},
  {"ERROR", "server", "", 0}, {"RING", "server", "", 0},
  {"PARTICIPANTS", "server", "", 0}, {"JOINED", "server", "", 0},
  {"LEFT", "server", "", 0}, {"RING-STOP", "server", "", 0},
  {"CALL-END", "server", "", 0},
};
const size_t fz_verb_count = PC_COUNT(fz_verbs);

void fz_grammar_print(FILE *f)
{
  for (size_t i = 0; i < fz_verb_count; i++)
    fprintf(f, "%s\t%s\t%s\n", fz_verbs[i].verb, fz_verbs[i].from,
            fz_verbs[i].headers);
}

/* The value class of each header a client sends (section 2.9): 'n'
 * number, 'e' one of `choices`, 'i' id, 'u' cursor, 'c' cap-list, 'V'
 * version-list, 'm' media-type, 'o' nonce, 't' token, 'a' candidate,
 * 'd' mid, 's' since, 'l' limit, 'v' conv, 'C' call, 'U' user-name,
 * 'D' to-device, 'h' heartbeat. */
static const struct {
  const char *name;
  char cls;
  const char *choices;
} headers[] = {
  {"after", 'n', NULL}, {"audio", 'e', "on|off"},
  {"video", 'e', "on|off"}, {"screen", 'e', "on|off"},
  {"caps", 'c', NULL}, {"call", 'C', NULL}, {"candidate", 'a', NULL},
  {"content-type", 'm', NULL}, {"conv", 'v', NULL}, {"cursor", 'u', NULL},
  {"device", 'i', NULL}, {"heartbeat", 'h', NULL},
  {"ice-restart", 'e', "yes|no"}, {"kind", 'e', "delivered|read"},
  {"limit", 'l', NULL}, {"media", 'e', "audio|video"}, {"mid", 'd', NULL},
  {"nonce", 'o', NULL}, {"reason", 'e', "hangup|left|declined|busy|failed"},
  {"rejoin", 'e', "yes|no"}, {"req", 'i', NULL}, {"seq", 'n', NULL},
  {"since", 's', NULL}, {"state", 'e', "on|off"},
  {"status", 'e', "online|away"}, {"temp-id", 'i', NULL},
  {"to", 'U', NULL}, {"to-device", 'D', NULL}, {"token", 't', NULL},
  {"ttl", 'n', NULL}, {"versions", 'V', NULL},
};

/* The class of header `name` ('?' for a name the table lacks) and its
 * choices. */
static char class_of(const char *name, const char **choices)
{
  for (size_t i = 0; i < PC_COUNT(headers); i++)
    if (strcmp(headers[i].name, name) == 0) {
      *choices = headers[i].choices;
      return headers[i].cls;
    }
  *choices = NULL;
  return '?';
}

/* ---- a frame held as parts ----------------------------------------- */

#define LINES_MAX 256

typedef struct frame {
  pc_buf verb;
  size_t n;
  pc_buf names[LINES_MAX];
  pc_buf values[LINES_MAX];
  pc_buf body;
  bool has_body;
  const char *eol;      /* line ending */
  const char *sep;      /* after a header name */
  size_t frame_size;    /* pad the body to make the frame this long */
} frame;

static void frame_free(frame *f)
{
  pc_buf_free(&f->verb);
  for (size_t i = 0; i < f->n; i++) {
    pc_buf_free(&f->names[i]);
    pc_buf_free(&f->values[i]);
  }
  pc_buf_free(&f->body);
}

/* Appends a header line; the value "#" of content-length means "the
 * body's length", computed when the frame is written out. */
static void add_line(frame *f, const char *name, const void *value,
                     size_t len)
{
  if (f->n == LINES_MAX)
    return;
  pc_buf_adds(&f->names[f->n], name);
  pc_buf_add(&f->values[f->n], value, len);
  f->n++;
}

static void add_lines(frame *f, const char *name, const char *value)
{
  add_line(f, name, value, strlen(value));
}

/* Writes the frame out as it stands. */
static void frame_write(const frame *f, pc_buf *out, size_t body_len)
{
  pc_buf_add(out, pc_buf_str(&f->verb), f->verb.len);
  pc_buf_adds(out, f->eol);
  for (size_t i = 0; i < f->n; i++) {
    pc_buf_add(out, pc_buf_str(&f->names[i]), f->names[i].len);
    pc_buf_adds(out, f->sep);
    if (strcmp(pc_buf_str(&f->values[i]), "#") == 0)
      pc_buf_addf(out, "%zu", body_len);
    else
      pc_buf_add(out, pc_buf_str(&f->values[i]), f->values[i].len);
    pc_buf_adds(out, f->eol);
  }
  pc_buf_adds(out, f->eol);
}

/* Writes the frame into out; with frame_size set, first pads the body
 * so that the whole frame has that many octets (the length's digits
 * counted). */
static void frame_serialize(frame *f, pc_buf *out)
{
  if (f->frame_size) {
    pc_buf probe = {0};
    size_t body = 0, head;

    for (int round = 0; round < 3; round++) {
      probe.len = 0;
      frame_write(f, &probe, body);
      head = probe.len;
      body = f->frame_size > head ? f->frame_size - head : 0;
    }
    pc_buf_free(&probe);
    while (f->body.len < body)
      pc_buf_add(&f->body, "x", 1);
    f->body.len = body < f->body.len ? body : f->body.len;
  }
  frame_write(f, out, f->body.len);
  pc_buf_add(out, pc_buf_str(&f->body), f->body.len);
}

/* ---- well-formed values -------------------------------------------- */

static const char id_chars[] =
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";

static void random_id(fz_rng *r, pc_buf *v, size_t min, size_t max,
                      size_t alphabet)
{
  size_t n = min + fz_below(r, max - min + 1);

  for (size_t i = 0; i < n; i++)
    pc_buf_add(v, &id_chars[fz_below(r, alphabet)], 1);
}

/* One of the '|'-separated choices. */
static void pick_choice(fz_rng *r, const char *choices, pc_buf *v)
{
  size_t count = 1, k;
  const char *p = choices, *end;

  for (const char *q = choices; *q; q++)
    count += *q == '|';
  for (k = fz_below(r, count); k > 0; k--)
    p = strchr(p, '|') + 1;
  end = strchr(p, '|');
  pc_buf_add(v, p, end ? (size_t)(end - p) : strlen(p));
}

static const char *const caps_lists[] = {
  "", "receipts", "receipts,typing,presence",
  "receipts,typing,presence,calls", "calls", "typing,calls",
};

static const char *const candidates[] = {
  "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host",
  "candidate:2 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active",
  "candidate:3 1 udp 1694498815 192.0.2.1 40001 typ srflx raddr "
  "127.0.0.1 rport 40000",
};

/* Candidates of the wrong form (section 19.6), for 'a' values. */
static const char *const bad_candidates[] = {
  "candidate:1 1 udp 2130706431 127.0.0.1 70000 typ host",
  "candidate:1 1 udp 2130706431 127.0.0.1 40000", "candidate:",
  "candidate:1 1 udp 2130706431 ::1::1 40000 typ host",
  "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host raddr",
  "candidate:1 0 udp 1 127.0.0.1 1 typ host",
  "candidate:1 1 udp 99999999999 127.0.0.1 40000 typ host",
  "candidate:1 1 sctp 1 127.0.0.1 40000 typ host",
  "candidate:1 1 udp 1 127.0.0.1 40000 typ relay",
  "candidate:1 1 udp 1 127.0.0.1 40000 typ srflx raddr 1.2.3.4 rport",
  "candidate:1 1 tcp 1 127.0.0.1 9 typ host tcptype",
  "candidate:1 1 udp 1 256.0.0.1 40000 typ host",
  "candidate:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx 1 udp 1 h 1 typ host",
  "candidate:1 1 udp 1 a.local 40000 typ host generation 0 ufrag x",
  "a=candidate:1 1 udp 1 127.0.0.1 40000 typ host",
  "candidate:1 1 UDP 1 127.0.0.1 40000 typ host",
  "candidate:1  1 udp 1 127.0.0.1 40000 typ host",
};

/* A value of an id-like class: a name the world knows, or a new one.
 * The same draws are made whatever the world holds: call ids and a
 * peer's device come from replies that a 0 ms read may or may not have
 * taken yet, and the rest of the session's stream must not shift with
 * that timing. */
static void id_value(fz_rng *r, const fz_world *w, char cls, pc_buf *v)
{
  bool known = fz_chance(r, cls == 'D' ? 70 : 85);
  uint64_t pick = fz_rand(r);
  pc_buf fresh = {0};

  if (cls == 'U')
    random_id(r, &fresh, 1, 12, 26);
  else
    random_id(r, &fresh, 1, 20, sizeof id_chars - 1);
  if (known && cls == 'v' && w->conv_count)
    pc_buf_adds(v, w->convs[pick % w->conv_count]);
  else if (known && cls == 'C' && w->call_count)
    pc_buf_adds(v, w->calls[pick % w->call_count]);
  else if (known && cls == 'U' && w->user_count)
    pc_buf_adds(v, w->users[pick % w->user_count]);
  else if (known && cls == 'D' && w->peer_device[0])
    pc_buf_adds(v, w->peer_device);
  else
    pc_buf_add(v, fresh.p, fresh.len);
  pc_buf_free(&fresh);
}

/* A value of header `name` that fits its definition (most of the
 * time: a random id is rarely one the target knows). */
static void good_value(fz_rng *r, const fz_world *w, const char *name,
                       pc_buf *v)
{
  const char *choices;
  char cls = class_of(name, &choices);

  switch (cls) {
  case 'n': pc_buf_addf(v, "%u", (unsigned)fz_below(r, 50)); break;
  case 'h': pc_buf_adds(v, "60000"); break;
  case 'l': pc_buf_addf(v, "%u", 1 + (unsigned)fz_below(r, 100)); break;
  case 'e': pick_choice(r, choices, v); break;
  case 'c': pc_buf_adds(v, caps_lists[fz_below(r, PC_COUNT(caps_lists))]);
    break;
  case 'V': pc_buf_adds(v, fz_chance(r, 90) ? "1" : "1,2"); break;
  case 'm': pc_buf_adds(v, fz_chance(r, 50) ? "application/sdp"
                                            : "text/plain; charset=utf-8");
    break;
  case 'o': case 'u': random_id(r, v, 1, 64, sizeof id_chars - 1); break;
  case 't': pc_buf_adds(v, w->token ? w->token : "t"); break;
  case 'a':
    if (fz_chance(r, 30))
      pc_buf_adds(v, bad_candidates[fz_below(r, PC_COUNT(bad_candidates))]);
    else
      pc_buf_adds(v, candidates[fz_below(r, PC_COUNT(candidates))]);
    break;
  case 'd': pc_buf_adds(v, "0"); break;
  case 's': if (fz_chance(r, 50)) pc_buf_adds(v, "0");
    else random_id(r, v, 1, 20, sizeof id_chars - 1);
    break;
  default: id_value(r, w, cls, v); break;
  }
}

/* The SDP offer of the profile of section 19.6 (one audio section). */
static const char *const sdp_lines[] = {
  "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
  "a=group:BUNDLE 0", "m=audio 9 UDP/TLS/RTP/SAVPF 111",
  "c=IN IP4 0.0.0.0", "a=rtpmap:111 opus/48000/2",
  "a=fmtp:111 minptime=10;useinbandfec=1", "a=ice-ufrag:Fx7X",
  "a=ice-pwd:aR9s7YbQpT2wK4eZ1cV8nX",
  "a=fingerprint:sha-256 0B:5D:9E:22:41:C7:08:F3:6A:1E:94:B2:7C:D0:55:38:"
  "E1:AF:62:09:3B:CC:74:10:8D:F5:2E:97:46:B8:03:6F",
  "a=setup:actpass", "a=mid:0", "a=rtcp-mux", "a=sendrecv",
};

/* Broken SDP lines for the body mutations. */
static const char *const sdp_bad[] = {
  "m=audio 9 UDP/TLS/RTP/SAVPF", "m=video 70000 RTP/AVP 0", "a=ice-pwd:x",
  "a=fingerprint:sha-256 0B", "a=setup:maybe", "c=IN IP6 ::1::",
  "a=rtpmap:111 opus/0/2", "o=- 18446744073709551616 0 IN IP4 x", "v=1",
  "a=mid:", "a=candidate:1 1 udp 1 127.0.0.1 99999 typ host", "x", "",
  "a=group:BUNDLE 0 0 0 0 0 0 0 0", "t=9007199254740992 0",
};

/* Writes `line` with its first number replaced by one at an edge
 * (a port past 65535, a payload type past 127, 2^64), or, when it has
 * none, with its value made 1,100 octets long. */
static void sdp_edge_line(fz_rng *r, const char *line, pc_buf *b)
{
  static const char *const nums[] = {"0", "65535", "65536", "127", "128",
    "4294967296", "18446744073709551616", "-1", "00009"};
  size_t at = strcspn(line, "0123456789");

  if (!line[at] || line[0] == 'v') {
    pc_buf_adds(b, line);
    for (int k = 0; k < 1100; k++)
      pc_buf_add(b, "z", 1);
    return;
  }
  pc_buf_add(b, line, at);
  pc_buf_adds(b, nums[fz_below(r, PC_COUNT(nums))]);
  pc_buf_adds(b, line + at + strspn(line + at, "0123456789"));
}

/* An SDP body: the offer, perhaps with a line dropped, repeated or
 * replaced by a broken one, or grown to the size limit. */
static void sdp_body(fz_rng *r, pc_buf *b)
{
  size_t n = PC_COUNT(sdp_lines), skip = n, dup = n, bad = n;

  if (fz_chance(r, 40)) {
    size_t k = fz_below(r, n);
    switch (fz_below(r, 3)) {
    case 0: skip = k; break;
    case 1: dup = k; break;
    default: bad = k; break;
    }
  }
  size_t edge = fz_chance(r, 25) ? fz_below(r, n) : n;
  const char *eol = fz_chance(r, 5) ? "\n" : "\r\n";

  for (size_t i = 0; i < n; i++) {
    if (i == skip)
      continue;
    if (i == edge)
      sdp_edge_line(r, sdp_lines[i], b);
    else
      pc_buf_adds(b, i == bad ? sdp_bad[fz_below(r, PC_COUNT(sdp_bad))]
                              : sdp_lines[i]);
    pc_buf_adds(b, eol);
    if (i == dup)
      pc_buf_addf(b, "%s%s", sdp_lines[i], eol);
  }
  if (fz_chance(r, 5) && b->len) /* the last line ending cut */
    b->len -= strlen(eol);
  if (fz_chance(r, 5)) {
    size_t want = 16383 + fz_below(r, 3);
    while (b->len + 9 <= want)
      pc_buf_adds(b, "a=x-pad\r\n");
  }
}

/* A body for SEND: short UTF-8 text, now and then with line breaks. */
static void text_body(fz_rng *r, pc_buf *b)
{
  static const char *const words[] = {"hi", "héllo", "\r\n", "日本", "😀",
                                      "x", " ", "\t", "0"};
  size_t n = fz_below(r, 8);

  for (size_t i = 0; i < n; i++)
    pc_buf_adds(b, words[fz_below(r, PC_COUNT(words))]);
}

/* An SDP body goes with content-type application/sdp (section 19.5,
 * step 7): set on most OFFER and ANSWER frames, so that the body's
 * checks are reached. */
static void sdp_content_type(fz_rng *r, frame *f)
{
  size_t i = 0;

  if (!fz_chance(r, 90))
    return;
  while (i < f->n && strcmp(pc_buf_str(&f->names[i]), "content-type"))
    i++;
  if (i == f->n)
    add_lines(f, "content-type", "application/sdp");
  else {
    f->values[i].len = 0;
    pc_buf_adds(&f->values[i], "application/sdp");
  }
}

/* Fills f with a well-formed frame of verb v: its required headers,
 * each optional one half the time, a req most of the time. */
static void frame_of_verb(fz_rng *r, const fz_world *w, const fz_verb *v,
                          frame *f)
{
  const char *p = v->headers;
  bool optional = false;
  char name[32];

  pc_buf_adds(&f->verb, v->verb);
  while (*p) {
    size_t seg = strcspn(p, ",;"), len;
    while (*p == ' ' && seg)
      p++, seg--;
    /* the name alone: "screen (at least one)" names screen */
    len = strcspn(p, " ,;");
    len = len < seg ? len : seg;
    if (len && len < sizeof name) {
      memcpy(name, p, len);
      name[len] = '\0';
      if (!optional || fz_chance(r, 50)) {
        pc_buf val = {0};
        good_value(r, w, name, &val);
        add_line(f, name, pc_buf_str(&val), val.len);
        pc_buf_free(&val);
      }
    }
    p += seg;
    if (*p == ';')
      optional = true;
    if (*p)
      p++;
  }
  if (fz_chance(r, 80)) {
    pc_buf val = {0};
    random_id(r, &val, 1, 10, sizeof id_chars - 1);
    add_line(f, "req", pc_buf_str(&val), val.len);
    pc_buf_free(&val);
  }
  if (v->body == 't' || (v->body == 's' && fz_chance(r, 95))) {
    f->has_body = true;
    if (v->body == 's')
      sdp_content_type(r, f);
    if (v->body == 's')
      sdp_body(r, &f->body);
    else
      text_body(r, &f->body);
    add_lines(f, "content-length", "#");
  }
}

/* ---- mutations of the parts ---------------------------------------- */

/* Values at the edges of the classes of section 2.9 and past them. */
static const char *const edge_numbers[] = {
  "0", "1", "00", "01", "0001", "-1", "+1", "1.0", "1e3", "0x10", " 1",
  "9007199254740991", "9007199254740992", "9007199254740993",
  "18446744073709551615", "18446744073709551616",
  "99999999999999999999999999999999", "4294967296", "100", "101",
};

static const char *const edge_texts[] = {
  "", " ", "a b", "A", "é", "\xc3\xa9\xc3", "\xed\xa0\x80", "\xc0\xaf",
  "\xf4\x90\x80\x80", "\xff", "\t", "\x7f", "x\x01y", "yes ", "Yes", "no,",
  ",", "receipts,", ",receipts", "receipts,,typing", "text/plain;",
  "text/plain;;a=b", "text/plain ", "application/sdp; a=\"b",
};

/* Replaces v with a value of `len` octets of c. */
static void fill(pc_buf *v, char c, size_t len)
{
  v->len = 0;
  pc_buf_add(v, "", 0);
  for (size_t i = 0; i < len; i++)
    pc_buf_add(v, &c, 1);
}

/* A value at or past an edge of its class, or of a header line. */
static void edge_value(fz_rng *r, frame *f, size_t i)
{
  pc_buf *v = &f->values[i];
  static const size_t lens[] = {32, 33, 64, 65, 127, 128, 256, 257, 512,
                                513};
  size_t line = f->names[i].len + 2;

  switch (fz_below(r, 4)) {
  case 0:
    v->len = 0;
    pc_buf_adds(v, edge_numbers[fz_below(r, PC_COUNT(edge_numbers))]);
    break;
  case 1:
    v->len = 0;
    pc_buf_adds(v, edge_texts[fz_below(r, PC_COUNT(edge_texts))]);
    break;
  case 2: fill(v, "a_-Z9.!"[fz_below(r, 7)], lens[fz_below(r, 10)]); break;
  default: /* the header line at its limit, or one past */
    fill(v, 'a', 1024 - line + fz_below(r, 2));
    break;
  }
}

/* Picks a header line, preferring content-length now and then. */
static size_t pick_line(fz_rng *r, const frame *f)
{
  if (fz_chance(r, 20))
    for (size_t i = 0; i < f->n; i++)
      if (strcmp(pc_buf_str(&f->names[i]), "content-length") == 0)
        return i;
  return fz_below(r, f->n);
}

/* Gives the frame a body (empty so far) and its content-length. */
static void ensure_body(frame *f)
{
  if (!f->has_body) {
    f->has_body = true;
    add_lines(f, "content-length", "#");
  }
}

/* Each mutation of the parts: returns its name, or NULL when it does not
 * apply to this frame (a frame without header lines). Line i is the one
 * picked, when the frame has any. */
typedef const char *(*part_mutation)(fz_rng *r, frame *f, size_t i);

static const char *mut_edge(fz_rng *r, frame *f, size_t i)
{
  if (!f->n)
    return NULL;
  edge_value(r, f, i);
  return "edge-value";
}

static const char *mut_length(fz_rng *r, frame *f, size_t i)
{
  if (!f->n)
    return NULL;
  f->values[i].len = 0;
  pc_buf_addf(&f->values[i], "%zu",
              f->body.len + (fz_chance(r, 50) ? 1 : (size_t)-1));
  return "length-off-by-one";
}

static const char *mut_dup(fz_rng *r, frame *f, size_t i)
{
  (void)r;
  if (!f->n)
    return NULL;
  add_line(f, pc_buf_str(&f->names[i]), pc_buf_str(&f->values[i]),
           f->values[i].len);
  return "dup-header";
}

static const char *mut_drop(fz_rng *r, frame *f, size_t i)
{
  (void)r;
  if (!f->n)
    return NULL;
  pc_buf_free(&f->names[i]);
  pc_buf_free(&f->values[i]);
  memmove(&f->names[i], &f->names[i + 1], (f->n - i - 1) * sizeof(pc_buf));
  memmove(&f->values[i], &f->values[i + 1],
          (f->n - i - 1) * sizeof(pc_buf));
  f->n--;
  memset(&f->names[f->n], 0, sizeof(pc_buf));
  memset(&f->values[f->n], 0, sizeof(pc_buf));
  return "drop-header";
}

static const char *mut_verb(fz_rng *r, frame *f, size_t i)
{
  static const char *const verbs[] = {"send", "Send", "SEND ", "X",
    "UNKNOWN-VERB", "-", "9", "", "ÉCHO", "SEND\x01"};

  (void)i;
  f->verb.len = 0;
  if (fz_chance(r, 30))
    fill(&f->verb, 'A', 32 + fz_below(r, 2));
  else
    pc_buf_adds(&f->verb, verbs[fz_below(r, PC_COUNT(verbs))]);
  return "verb";
}

static const char *mut_name(fz_rng *r, frame *f, size_t i)
{
  static const char *const names[] = {"Conv", "x_y", "-x", "", "x y",
    "x-unknown", "ä", "content-length"};

  (void)i;
  add_lines(f, names[fz_below(r, PC_COUNT(names))],
            fz_chance(r, 50) ? "1" : "");
  return "odd-header-name";
}

static const char *mut_count(fz_rng *r, frame *f, size_t i)
{
  size_t want = 31 + fz_below(r, 3) + (fz_chance(r, 10) ? 200 : 0);
  char name[16];

  (void)i;
  for (size_t k = 0; f->n < want && f->n < LINES_MAX; k++) {
    snprintf(name, sizeof name, "x-pad%zu", k);
    add_lines(f, name, "1");
  }
  return "header-count";
}

static const char *mut_size(fz_rng *r, frame *f, size_t i)
{
  static const size_t sizes[] = {65535, 65536, 65537, 70000, 131072};

  (void)i;
  f->frame_size = sizes[fz_below(r, PC_COUNT(sizes))];
  ensure_body(f);
  return "frame-size";
}

static const char *mut_eol(fz_rng *r, frame *f, size_t i)
{
  static const char *const eols[] = {"\n", "\r", "\r\r\n", "\n\r"};

  (void)i;
  f->eol = eols[fz_below(r, PC_COUNT(eols))];
  return "line-ending";
}

static const char *mut_sep(fz_rng *r, frame *f, size_t i)
{
  static const char *const seps[] = {":", ":  ", " : ", ":\t", "="};

  (void)i;
  f->sep = seps[fz_below(r, PC_COUNT(seps))];
  return "separator";
}

static const char *mut_order(fz_rng *r, frame *f, size_t i)
{
  size_t j = fz_below(r, f->n);
  pc_buf tn, tv;

  if (f->n < 2)
    return NULL;
  tn = f->names[i];
  tv = f->values[i];
  f->names[i] = f->names[j];
  f->values[i] = f->values[j];
  f->names[j] = tn;
  f->values[j] = tv;
  return "reorder";
}

static const char *mut_body(fz_rng *r, frame *f, size_t i)
{
  (void)i;
  pc_buf_adds(&f->body, fz_chance(r, 50) ? "\xc0\xaf" : "\xe6\x97");
  ensure_body(f);
  return "body-utf8";
}

/* The mutations, a value at an edge three times as likely as another. */
static const part_mutation part_mutations[] = {
  mut_edge, mut_edge, mut_edge, mut_length, mut_dup, mut_drop, mut_verb,
  mut_name, mut_count, mut_size, mut_eol, mut_sep, mut_order, mut_body,
};

/* One mutation of the frame's parts; returns its name. */
static const char *mutate_parts(fz_rng *r, frame *f)
{
  size_t i = f->n ? pick_line(r, f) : 0;
  const char *name =
    part_mutations[fz_below(r, PC_COUNT(part_mutations))](r, f, i);

  return name ? name : "none";
}

/* ---- mutations of the octets --------------------------------------- */

/* One mutation of the written frame; returns its name. */
static const char *mutate_octets(fz_rng *r, pc_buf *b)
{
  size_t at = fz_below(r, b->len + 1);

  switch (fz_below(r, 6)) {
  case 0:
    b->len = at;
    pc_buf_add(b, "", 0);
    return "truncate";
  case 1:
    if (b->len)
      b->p[fz_below(r, b->len)] ^= (char)(1u << fz_below(r, 8));
    return "bit-flip";
  case 2: {
    pc_buf t = {0};
    size_t n = 1 + fz_below(r, 8);
    pc_buf_add(&t, b->p, at);
    for (size_t k = 0; k < n; k++) {
      char c = (char)fz_below(r, 256);
      pc_buf_add(&t, &c, 1);
    }
    pc_buf_add(&t, b->p + at, b->len - at);
    pc_buf_free(b);
    *b = t;
    return "insert-random";
  }
  case 3:
    pc_buf_adds(b, fz_chance(r, 50) ? "PING\r\n\r\n" : "\r\n");
    return "extra-data";
  case 4:
    b->len = 0;
    pc_buf_add(b, "", 0);
    return "empty";
  default:
    for (size_t k = 0; k < 1 + fz_below(r, 64); k++) {
      char c = (char)fz_below(r, 256);
      pc_buf_add(b, &c, 1);
    }
    return "append-random";
  }
}

/* ---- messages ------------------------------------------------------ */

void fz_msg_free(fz_msg *m)
{
  free(m->data);
  memset(m, 0, sizeof *m);
}

void fz_msg_frame(fz_msg *m, const char *verb, const char *body,
                  size_t body_len, ...)
{
  frame f = {.eol = "\r\n", .sep = ": "};
  pc_buf out = {0};
  va_list ap;
  const char *name;

  pc_buf_adds(&f.verb, verb);
  va_start(ap, body_len);
  while ((name = va_arg(ap, const char *)))
    add_lines(&f, name, va_arg(ap, const char *));
  va_end(ap);
  if (body) {
    pc_buf_add(&f.body, body, body_len);
    add_lines(&f, "content-length", "#");
  }
  frame_serialize(&f, &out);
  frame_free(&f);
  memset(m, 0, sizeof *m);
  m->kind = FZ_TEXT;
  m->data = out.p ? out.p : strdup("");
  m->len = out.len;
}

/* A verb to build: mostly one a client sends, now and then a server's. */
static const fz_verb *pick_verb(fz_rng *r, const fz_world *w)
{
  size_t clients = 0, call = 0;

  while (clients < fz_verb_count &&
         strcmp(fz_verbs[clients].from, "server") != 0)
    clients++;
  while (call < clients && strcmp(fz_verbs[call].verb, "JOIN") != 0)
    call++;
  if (fz_chance(r, 6))
    return &fz_verbs[clients + fz_below(r, fz_verb_count - clients)];
  if (w->call_bias && fz_chance(r, 80)) /* JOIN to HANGUP */
    return &fz_verbs[call + fz_below(r, clients - call)];
  return &fz_verbs[fz_below(r, clients)];
}

/* Chooses how the message goes over WebSocket. */
static void pick_transport(fz_rng *r, fz_msg *m, const char **what)
{
  unsigned roll = (unsigned)fz_below(r, 100);

  if (roll < 8 && m->len > 1) {
    m->kind = FZ_FRAGMENTS;
    m->pieces = 2 + (unsigned)fz_below(r, m->len < 16 ? m->len - 1 : 15);
    *what = "fragments";
  } else if (roll < 12) {
    m->kind = FZ_BINARY;
    *what = "binary";
  } else if (roll < 13) {
    m->kind = FZ_RAW;
    *what = "raw";
  }
}

void fz_generate(fz_rng *r, const fz_world *w, fz_msg *out,
                 const char **what)
{
  frame f = {.eol = "\r\n", .sep = ": "};
  pc_buf b = {0};
  unsigned muts = fz_chance(r, 15) ? 0 : 1 + (unsigned)fz_below(r, 3);

  if (w->call_bias && fz_chance(r, 50))
    muts = 0; /* in a call: reach the SDP and candidate checks */

  *what = "well-formed";
  frame_of_verb(r, w, pick_verb(r, w), &f);
  for (unsigned k = 0; k < muts; k++)
    if (fz_chance(r, 80))
      *what = mutate_parts(r, &f);
  frame_serialize(&f, &b);
  frame_free(&f);
  if (muts && fz_chance(r, 20))
    *what = mutate_octets(r, &b);
  memset(out, 0, sizeof *out);
  out->kind = FZ_TEXT;
  out->data = b.p ? b.p : strdup("");
  out->len = b.len;
  pick_transport(r, out, what);
}
