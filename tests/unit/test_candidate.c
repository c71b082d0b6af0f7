/* Unit tests for the candidate-attribute parser and writer (RFC 8839
 * section 5.1, RFC 6544 tcptype; spec section 19).
 *
 * Every input reaches the parser through parley_guard_place()
 * (guard_page.h), so it ends right before an unreadable page: a parser
 * that reads past `len` crashes. Every accepted input is written back and
 * parsed again, which must give the same candidate (the round trip the
 * server and client rely on). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "guard_page.h"
#include "parley/sdp.h"

TestSuite(candidate, .init = parley_guard_setup,
          .fini = parley_guard_teardown);

/* Parses text[0, len) placed before the guard page. */
static parley_err parse_n(const char *text, size_t len, parley_candidate *c,
                          parley_sdp_error *e)
{
  char *g = parley_guard_place(text, len);
  parley_err r = parley_candidate_parse(g, len, c, e);

  parley_guard_scribble(len);
  return r;
}

static parley_err parse(const char *text, parley_candidate *c,
                        parley_sdp_error *e)
{
  return parse_n(text, strlen(text), c, e);
}

/* write(c) parses back to c. */
static void expect_round_trip(const parley_candidate *c)
{
  char buf[1024];
  parley_candidate back;
  parley_sdp_error e;
  size_t n = parley_candidate_write(c, buf, sizeof buf);

  cr_assert_gt(n, 0, "the writer failed");
  cr_assert_eq(strlen(buf), n);
  cr_assert_eq(parse_n(buf, n, &back, &e), PARLEY_OK,
               "written %s does not parse: %s (%s, col %u)", buf,
               e.message, e.rule, e.column);
  cr_assert_eq(memcmp(&back, c, sizeof back), 0,
               "round trip changed the candidate: %s", buf);
}

/* Parses `text`, which must be accepted, and checks the round trip. */
static void expect_ok(const char *text, parley_candidate *c)
{
  parley_sdp_error e;

  cr_assert_eq(parse(text, c, &e), PARLEY_OK, "%s: %s (%s, column %u)",
               text, e.message, e.rule, e.column);
  expect_round_trip(c);
}

/* ---- accepted candidates of every type --------------------------------- */

Test(candidate, host_ipv4_udp_with_extensions)
{
  parley_candidate c;

  expect_ok("candidate:3171457340 1 udp 2122260223 192.0.2.17 53791 typ "
            "host generation 0 network-id 1 network-cost 10", &c);
  cr_assert_str_eq(c.foundation, "3171457340");
  cr_assert_eq(c.component, 1);
  cr_assert_str_eq(c.transport, "udp");
  cr_assert_eq(c.priority, 2122260223u);
  cr_assert_str_eq(c.address, "192.0.2.17");
  cr_assert_eq(c.port, 53791);
  cr_assert_str_eq(c.type, "host");
  cr_assert_not(c.has_related);
  cr_assert_str_eq(c.tcptype, "");
}

Test(candidate, srflx_with_related_address)
{
  parley_candidate c;

  expect_ok("candidate:842163049 1 udp 1686052607 203.0.113.5 61200 typ "
            "srflx raddr 192.0.2.17 rport 53791 generation 0", &c);
  cr_assert_str_eq(c.type, "srflx");
  cr_assert(c.has_related);
  cr_assert_str_eq(c.raddr, "192.0.2.17");
  cr_assert_eq(c.rport, 53791);
}

Test(candidate, prflx_and_relay)
{
  parley_candidate c;

  expect_ok("candidate:a+/B 2 UDP 1845501695 198.51.100.9 40000 typ prflx "
            "raddr 0.0.0.0 rport 0", &c);
  cr_assert_str_eq(c.foundation, "a+/B");
  cr_assert_eq(c.component, 2);
  cr_assert_str_eq(c.transport, "udp");
  cr_assert_str_eq(c.type, "prflx");
  cr_assert(c.has_related);
  cr_assert_str_eq(c.raddr, "0.0.0.0");
  expect_ok("candidate:9 1 udp 41885439 198.51.100.200 3478 typ relay "
            "raddr 203.0.113.5 rport 61200", &c);
  cr_assert_str_eq(c.type, "relay");
  cr_assert_eq(c.rport, 61200);
}

Test(candidate, ipv6_addresses)
{
  static const char *const addrs[] = {
    "2001:db8::1", "::1", "::", "fe80::1:2:3:4",
    "2001:db8:0:0:1:0:0:1", "::ffff:192.0.2.1",
    "2001:DB8:85A3:8D3:1319:8A2E:370:7348",
  };
  char text[256];
  parley_candidate c;

  for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
    snprintf(text, sizeof text, "candidate:1 1 udp 2122262783 %s 50000 "
             "typ host raddr %s rport 1", addrs[i], addrs[i]);
    expect_ok(text, &c);
    cr_assert_str_eq(c.address, addrs[i]);
    cr_assert_str_eq(c.raddr, addrs[i]);
  }
}

Test(candidate, fqdn_address)
{
  parley_candidate c;

  expect_ok("candidate:2 1 udp 2122194687 "
            "4b7c9a2e-1f3d-4c5e-9a8b-0c1d2e3f4a5b.local 60000 typ host", &c);
  cr_assert_str_eq(c.address, "4b7c9a2e-1f3d-4c5e-9a8b-0c1d2e3f4a5b.local");
  expect_ok("candidate:2 1 udp 1 turn.example.org 3478 typ relay raddr "
            "a.io rport 9", &c);
  cr_assert_str_eq(c.raddr, "a.io");
}

Test(candidate, tcp_with_tcptype)
{
  static const char *const types[] = { "active", "passive", "so" };
  char text[256];
  parley_candidate c;

  for (size_t i = 0; i < 3; i++) {
    snprintf(text, sizeof text, "candidate:1052353102 1 TCP 1518280447 "
             "192.0.2.17 9 typ host tcptype %s generation 0", types[i]);
    expect_ok(text, &c);
    cr_assert_str_eq(c.transport, "tcp");
    cr_assert_str_eq(c.tcptype, types[i]);
  }
  expect_ok("candidate:1 1 tcp 1 192.0.2.17 9 typ host TCPTYPE PASSIVE", &c);
  cr_assert_str_eq(c.tcptype, "passive");
}

/* RFC 5234: quoted strings of the ABNF are case-insensitive. */
Test(candidate, literals_in_any_case)
{
  parley_candidate c;

  expect_ok("CANDIDATE:1 1 Udp 7 192.0.2.1 9 TYP SrFlX RADDR 192.0.2.2 "
            "RPORT 10", &c);
  cr_assert_str_eq(c.transport, "udp");
  cr_assert_str_eq(c.type, "srflx");
  cr_assert_eq(c.rport, 10);
}

/* Transport and candidate type extensions (token) are taken. */
Test(candidate, extension_tokens)
{
  parley_candidate c;

  expect_ok("candidate:1 1 dccp 7 192.0.2.1 9 typ future-type x y", &c);
  cr_assert_str_eq(c.transport, "dccp");
  cr_assert_str_eq(c.type, "future-type");
}

/* An extension value may be empty: "name" SP "" SP "name" SP "value". */
Test(candidate, empty_extension_values)
{
  parley_candidate c;

  expect_ok("candidate:1 1 udp 7 192.0.2.1 9 typ host a  b c", &c);
  expect_ok("candidate:1 1 udp 7 192.0.2.1 9 typ host a ", &c);
}

/* raddr and rport past their places, and tcptype with another value,
 * are extensions (RFC 8839 extension-att-name is token): read, dropped. */
Test(candidate, extensions_named_like_known_parts)
{
  parley_candidate c;

  expect_ok("candidate:1 1 udp 7 192.0.2.1 9 typ srflx raddr 10.0.0.1 "
            "rport 5 raddr x! rport y", &c);
  cr_assert_str_eq(c.raddr, "10.0.0.1");
  cr_assert_eq(c.rport, 5);
  expect_ok("candidate:1 1 udp 7 192.0.2.1 9 typ host raddr 1::z", &c);
  cr_assert_not(c.has_related);
  /* not a cand-address, so an extension named raddr (spec 19.6) */
  expect_ok("candidate:1 1 udp 7 192.0.2.1 9 typ srflx raddr 300.1.1.1 "
            "rport 1", &c);
  cr_assert_not(c.has_related);
  expect_ok("candidate:1 1 tcp 7 192.0.2.1 9 typ host tcptype sometimes",
            &c);
  cr_assert_str_eq(c.tcptype, "");
  expect_ok("candidate:1 1 udp 1 192.0.2.1 9 typ srflx rport 1 raddr 1.2.3.4",
            &c);
  cr_assert_not(c.has_related);
}

/* rport without raddr, raddr without rport. */
Test(candidate, related_parts_alone)
{
  parley_candidate c;

  expect_ok("candidate:1 1 udp 7 192.0.2.1 9 typ srflx rport 5", &c);
  cr_assert_not(c.has_related);
  cr_assert_eq(c.rport, 5);
  expect_ok("candidate:1 1 udp 7 192.0.2.1 9 typ srflx raddr 10.0.0.1", &c);
  cr_assert(c.has_related);
  cr_assert_eq(c.rport, 0);
}

Test(candidate, limits_at_the_edge)
{
  char text[512];
  parley_candidate c;

  expect_ok("candidate:abcdefghijklmnopqrstuvwxyz012345 256 udp 2147483647 "
            "192.0.2.1 65535 typ host raddr 255.255.255.255 rport 65535",
            &c);
  cr_assert_eq(strlen(c.foundation), 32);
  cr_assert_eq(c.component, 256);
  cr_assert_eq(c.priority, 2147483647u);
  cr_assert_eq(c.port, 65535);
  expect_ok("candidate:1 1 udp 1 0.0.0.0 0 typ host", &c);
  cr_assert_eq(c.priority, 1);

  /* a 255-octet FQDN and a 15-octet type are the longest taken */
  char name[256];
  memset(name, 'a', 255);
  name[255] = '\0';
  snprintf(text, sizeof text, "candidate:1 1 udp 1 %s 9 typ "
           "abcdefghijklmno", name);
  expect_ok(text, &c);
  cr_assert_eq(strlen(c.address), 255);
  cr_assert_str_eq(c.type, "abcdefghijklmno");
}

/* ---- refused candidates ------------------------------------------------- */

struct bad_case {
  const char *text;
  const char *rule;
  uint32_t column;  /* 0: not checked */
};

static const struct bad_case BAD[] = {
  { "", "candidate-attribute", 1 },
  { "candidate", "candidate-attribute", 10 },
  { "candidate:", "foundation", 11 },
  { "candidates:1 1 udp 1 192.0.2.1 9 typ host", "candidate-attribute",
    10 },
  { "a=candidate:1 1 udp 1 192.0.2.1 9 typ host", "candidate-attribute",
    1 },
  { "candidate:abcdefghijklmnopqrstuvwxyz0123456 1 udp 1 192.0.2.1 9 typ "
    "host", "foundation", 43 },
  { "candidate:fo-o 1 udp 1 192.0.2.1 9 typ host", "foundation", 13 },
  { "candidate:1 0 udp 1 192.0.2.1 9 typ host", "component-id", 13 },
  { "candidate:1 257 udp 1 192.0.2.1 9 typ host", "component-id", 13 },
  { "candidate:1 1000 udp 1 192.0.2.1 9 typ host", "component-id", 16 },
  { "candidate:1 x udp 1 192.0.2.1 9 typ host", "component-id", 13 },
  { "candidate:1 1 u:p 1 192.0.2.1 9 typ host", "transport", 16 },
  { "candidate:1 1 udp 0 192.0.2.1 9 typ host", "priority", 19 },
  { "candidate:1 1 udp 2147483648 192.0.2.1 9 typ host", "priority", 19 },
  { "candidate:1 1 udp 12345678901 192.0.2.1 9 typ host", "priority", 29 },
  { "candidate:1 1 udp -1 192.0.2.1 9 typ host", "priority", 19 },
  { "candidate:1 1 udp 1 999.0.2.1 9 typ host", "connection-address", 21 },
  { "candidate:1 1 udp 1 1.2.3 9 typ host", "connection-address", 21 },
  { "candidate:1 1 udp 1 300.1.1.1 9 typ host", "connection-address", 21 },
  { "candidate:1 1 udp 1 .... 9 typ host", "connection-address", 21 },
  { "candidate:1 1 udp 1 1.2.3", "connection-address", 0 },
  { "candidate:1 1 udp 1 01.2.3.4 9 typ host", "connection-address", 21 },
  { "candidate:1 1 udp 1 abc 9 typ host", "connection-address", 24 },
  { "candidate:1 1 udp 1 2001:db8::g 9 typ host", "connection-address",
    0 },
  { "candidate:1 1 udp 1 a_b.example 9 typ host", "connection-address",
    22 },
  { "candidate:1 1 udp 1 192.0.2.1 65536 typ host", "port", 31 },
  { "candidate:1 1 udp 1 192.0.2.1 x typ host", "port", 31 },
  { "candidate:1 1 udp 1 192.0.2.1 9", "port", 32 },
  { "candidate:1 1 udp 1 192.0.2.1 9 type host", "cand-type", 36 },
  { "candidate:1 1 udp 1 192.0.2.1 9 typ", "cand-type", 0 },
  { "candidate:1 1 udp 1 192.0.2.1 9 typ abcdefghijklmnop", "cand-type",
    37 },
  /* "rport" is an FQDN, so "1" starts an extension without a value */
  { "candidate:1 1 udp 1 192.0.2.1 9 typ srflx raddr rport 1",
    "cand-extension", 56 },
  { "candidate:1 1 udp 1 192.0.2.1 9 typ srflx raddr 1.2.3.4 rport 70000",
    "rel-port", 63 },
  { "candidate:1 1 tcp 1 192.0.2.1 9 typ host tcptype so tcptype so",
    "tcp-type-ext", 0 },
  { "candidate:1 1 udp 1 192.0.2.1 9 typ host generation", "cand-extension",
    0 },
  { "candidate:1 1 udp 1 192.0.2.1 9 typ host x\x01", "cand-extension", 0 },
  { "candidate:1 1 udp 1 192.0.2.1 9 typ host x \xC3\xA9", "cand-extension",
    0 },
  { "candidate:1 1 udp 1 192.0.2.1 9 typ host\r\n", "cand-type", 0 },
  { "candidate:1  1 udp 1 192.0.2.1 9 typ host", "component-id", 0 },
  { " candidate:1 1 udp 1 192.0.2.1 9 typ host", "candidate-attribute",
    1 },
};

Test(candidate, refused_with_rule_and_column)
{
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
    parley_candidate c;
    parley_sdp_error e;
    const struct bad_case *b = &BAD[i];

    memset(&c, 0x5A, sizeof c);
    cr_assert_eq(parse(b->text, &c, &e), PARLEY_E_BAD_CANDIDATE,
                 "accepted: %s", b->text);
    cr_expect_str_eq(e.rule, b->rule, "%s: rule %s (%s), want %s", b->text,
                     e.rule, e.message, b->rule);
    if (b->column != 0)
      cr_expect_eq(e.column, b->column, "%s: column %u, want %u (%s)",
                   b->text, e.column, b->column, e.message);
    cr_expect_eq(e.line, 1);
    cr_expect_neq(e.message[0], '\0');
    cr_expect_eq(c.foundation[0], '\0', "a refused candidate is cleared");
  }
}

/* A NUL inside the text is an octet like any other, not an end. */
Test(candidate, nul_octet_refused)
{
  static const char text[] = "candidate:1 1 udp 1 192.0.2.1 9 typ host\0x";
  parley_candidate c;
  parley_sdp_error e;

  cr_assert_eq(parse_n(text, sizeof text - 1, &c, &e),
               PARLEY_E_BAD_CANDIDATE);
  cr_assert_eq(e.column, 41);
}

Test(candidate, err_may_be_null)
{
  parley_candidate c;

  cr_assert_eq(parse("candidate:", &c, NULL), PARLEY_E_BAD_CANDIDATE);
  cr_assert_eq(parse("candidate:1 1 udp 1 192.0.2.1 9 typ host", &c, NULL),
               PARLEY_OK);
}

/* ---- truncation, garbage, writer --------------------------------------- */

static const char *const GOOD[] = {
  "candidate:3171457340 1 udp 2122260223 192.0.2.17 53791 typ host "
  "generation 0 network-id 1",
  "candidate:842163049 1 udp 1686052607 203.0.113.5 61200 typ srflx raddr "
  "192.0.2.17 rport 53791",
  "candidate:1 1 udp 2122262783 2001:db8::1 50000 typ host",
  "candidate:2 1 udp 2122194687 4b7c9a2e.local 60000 typ host",
  "candidate:1052353102 1 tcp 1518280447 192.0.2.17 9 typ host tcptype "
  "active",
  "candidate:9 1 udp 41885439 198.51.100.200 3478 typ relay raddr "
  "2001:db8::5 rport 61200",
};

/* Every prefix of every good candidate: no crash, and an accepted prefix
 * round-trips. */
Test(candidate, truncation_at_every_offset)
{
  for (size_t i = 0; i < sizeof GOOD / sizeof GOOD[0]; i++) {
    size_t len = strlen(GOOD[i]);
    for (size_t n = 0; n <= len; n++) {
      parley_candidate c;
      parley_sdp_error e;
      parley_err r = parse_n(GOOD[i], n, &c, &e);
      if (r == PARLEY_OK)
        expect_round_trip(&c);
      else
        cr_assert_leq(e.column, n + 1, "column past the end");
    }
  }
}

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
  rng_state = rng_state * 1103515245u + 12345u;
  return rng_state >> 8;
}

/* Good candidates with random octets changed, and random octets: never a
 * crash, and what is accepted round-trips. */
Test(candidate, mutations_and_garbage)
{
  char buf[256];
  size_t accepted = 0;

  for (int round = 0; round < 20000; round++) {
    const char *g = GOOD[rng() % (sizeof GOOD / sizeof GOOD[0])];
    size_t len = strlen(g);
    memcpy(buf, g, len);
    for (int k = 1 + (int)(rng() % 3); k > 0; k--)
      buf[rng() % len] = round % 2 ? (char)(rng() % 256)
                                   : " .:0aZ"[rng() % 6];
    if (round % 10 == 0) {
      len = rng() % sizeof buf;
      for (size_t j = 0; j < len; j++)
        buf[j] = (char)rng();
    }
    parley_candidate c;
    parley_sdp_error e;
    if (parse_n(buf, len, &c, &e) == PARLEY_OK) {
      accepted++;
      expect_round_trip(&c);
    }
  }
  cr_assert_gt(accepted, 0);
}

Test(candidate, writer_exact_form)
{
  parley_candidate c;
  char buf[512];

  cr_assert_eq(parse("CANDIDATE:f 1 UDP 5 192.0.2.1 9 TYP SRFLX RADDR "
                     "10.0.0.1 RPORT 7 x y", &c, NULL), PARLEY_OK);
  size_t n = parley_candidate_write(&c, buf, sizeof buf);
  cr_assert_str_eq(buf, "candidate:f 1 udp 5 192.0.2.1 9 typ srflx raddr "
                        "10.0.0.1 rport 7");
  cr_assert_eq(n, strlen(buf));
  cr_assert_eq(parse("candidate:f 1 tcp 5 192.0.2.1 9 typ host tcptype so",
                     &c, NULL), PARLEY_OK);
  parley_candidate_write(&c, buf, sizeof buf);
  cr_assert_str_eq(buf, "candidate:f 1 tcp 5 192.0.2.1 9 typ host tcptype "
                        "so");
}

Test(candidate, writer_capacity)
{
  parley_candidate c;
  char buf[512];

  cr_assert_eq(parse(GOOD[1], &c, NULL), PARLEY_OK);
  size_t full = parley_candidate_write(&c, buf, sizeof buf);
  cr_assert_gt(full, 0);
  for (size_t cap = 1; cap <= full; cap++) {
    cr_assert_eq(parley_candidate_write(&c, buf, cap), 0, "cap %zu", cap);
    cr_assert_eq(buf[0], '\0');
  }
  cr_assert_eq(parley_candidate_write(&c, buf, full + 1), full);
  cr_assert_eq(parley_candidate_write(&c, buf, 0), 0);
}
