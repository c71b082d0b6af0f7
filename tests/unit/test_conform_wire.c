/* Unit tests of parley-conform's wire layer (conformance/wire.c): the
 * WebSocket framing of RFC 6455 on both sides, the handshakes, and the
 * HTTP/1.1 answer reader. Connections are socketpairs; the peer's octets
 * are written by hand so that every byte on the wire is known. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wire.h"

/* A connected pair: `c` is a pw_conn in `role`, `peer` a raw socket. */
typedef struct pair {
  pw_conn *c;
  int peer;
} pair;

static pair make_pair(pw_role role) {
  int sv[2];
  pair p;

  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  p.c = pw_from_fd(sv[0]);
  p.peer = sv[1];
  cr_assert_not_null(p.c);
  pw_ws_set_role(p.c, role);
  return p;
}

static void free_pair(pair *p) {
  pw_free(p->c);
  close(p->peer);
}

static void put(int fd, const void *data, size_t len) {
  cr_assert_eq(write(fd, data, len), (ssize_t)len);
}

/* Writes one frame as a peer would: masked when mask is not NULL. */
static void put_frame(int fd, bool fin, int opcode, const uint8_t *mask,
                      const char *payload, size_t len) {
  uint8_t head[14], *buf = malloc(len + 1);
  size_t hl = pw_ws_encode_header(head, fin, opcode, mask, len);

  memcpy(buf, payload, len);
  if (mask)
    pw_ws_mask(buf, len, mask, 0);
  put(fd, head, hl);
  put(fd, buf, len);
  free(buf);
}

static const uint8_t key4[4] = {0x11, 0x22, 0x33, 0x44};

Test(conform_wire, header_lengths) {
  uint8_t h[14];

  cr_assert_eq(pw_ws_encode_header(h, true, PW_OP_TEXT, NULL, 0), 2);
  cr_assert_eq(h[0], 0x81);
  cr_assert_eq(h[1], 0x00);
  cr_assert_eq(pw_ws_encode_header(h, false, PW_OP_CONT, NULL, 125), 2);
  cr_assert_eq(h[0], 0x00);
  cr_assert_eq(h[1], 125);
  cr_assert_eq(pw_ws_encode_header(h, true, PW_OP_BINARY, NULL, 126), 4);
  cr_assert_eq(h[1], 126);
  cr_assert_eq(h[2], 0);
  cr_assert_eq(h[3], 126);
  cr_assert_eq(pw_ws_encode_header(h, true, PW_OP_TEXT, NULL, 65535), 4);
  cr_assert_eq(h[2], 0xff);
  cr_assert_eq(h[3], 0xff);
  cr_assert_eq(pw_ws_encode_header(h, true, PW_OP_TEXT, key4, 65536), 14);
  cr_assert_eq(h[1], 0x80 | 127);
  cr_assert_eq(h[7], 1);
  cr_assert_eq(h[8], 0);
  cr_assert_eq(h[9], 0);
  cr_assert_eq(memcmp(h + 10, key4, 4), 0);
}

Test(conform_wire, mask_round_trip) {
  uint8_t d[7] = "abcdefg";

  pw_ws_mask(d, 7, key4, 0);
  cr_assert_eq(d[0], 'a' ^ 0x11);
  cr_assert_eq(d[5], 'f' ^ 0x22);
  pw_ws_mask(d, 3, key4, 0);
  pw_ws_mask(d + 3, 4, key4, 3);
  cr_assert_eq(memcmp(d, "abcdefg", 7), 0);
}

Test(conform_wire, accept_key_rfc_example) {
  char out[29];

  pw_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
  cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

Test(conform_wire, client_reads_unmasked_text) {
  pair p = make_pair(PW_ROLE_CLIENT);
  pw_ws_msg m;

  put_frame(p.peer, true, PW_OP_TEXT, NULL, "PING\r\n\r\n", 8);
  cr_assert_eq(pw_ws_read(p.c, 1000, &m, NULL, 0), PW_OK);
  cr_assert_eq(m.opcode, PW_OP_TEXT);
  cr_assert_eq(m.len, 8);
  cr_assert_str_eq((char *)m.data, "PING\r\n\r\n");
  pw_ws_msg_free(&m);
  free_pair(&p);
}

Test(conform_wire, fragments_reassembled_around_a_ping) {
  pair p = make_pair(PW_ROLE_CLIENT);
  uint8_t pong[16];
  pw_ws_msg m;

  put_frame(p.peer, false, PW_OP_TEXT, NULL, "HEL", 3);
  put_frame(p.peer, false, PW_OP_CONT, NULL, "LO", 2);
  put_frame(p.peer, true, PW_OP_PING, NULL, "n1", 2);
  put_frame(p.peer, true, PW_OP_CONT, NULL, "\r\n\r\n", 4);
  cr_assert_eq(pw_ws_read(p.c, 1000, &m, NULL, 0), PW_OK);
  cr_assert_eq(m.opcode, PW_OP_PING);
  cr_assert_str_eq((char *)m.data, "n1");
  pw_ws_msg_free(&m);
  /* The pong went out masked, as a client's frames are. */
  cr_assert_eq(read(p.peer, pong, sizeof pong), 8);
  cr_assert_eq(pong[0], 0x80 | PW_OP_PONG);
  cr_assert_eq(pong[1], 0x80 | 2);
  pw_ws_mask(pong + 6, 2, pong + 2, 0);
  cr_assert_eq(memcmp(pong + 6, "n1", 2), 0);
  cr_assert_eq(pw_ws_read(p.c, 1000, &m, NULL, 0), PW_OK);
  cr_assert_eq(m.opcode, PW_OP_TEXT);
  cr_assert_str_eq((char *)m.data, "HELLO\r\n\r\n");
  pw_ws_msg_free(&m);
  free_pair(&p);
}

Test(conform_wire, timeout_inside_a_frame_loses_nothing) {
  pair p = make_pair(PW_ROLE_CLIENT);
  uint8_t head[14];
  size_t hl = pw_ws_encode_header(head, true, PW_OP_TEXT, NULL, 6);
  pw_ws_msg m;

  put(p.peer, head, hl);
  put(p.peer, "BY", 2);
  cr_assert_eq(pw_ws_read(p.c, 20, &m, NULL, 0), PW_TIMEOUT);
  put(p.peer, "E\r\n\r", 4);
  cr_assert_eq(pw_ws_read(p.c, 1000, &m, NULL, 0), PW_OK);
  cr_assert_eq(m.len, 6);
  cr_assert_eq(memcmp(m.data, "BYE\r\n\r", 6), 0);
  pw_ws_msg_free(&m);
  free_pair(&p);
}

Test(conform_wire, close_codes) {
  pair p = make_pair(PW_ROLE_CLIENT);
  pw_ws_msg m;

  put_frame(p.peer, true, PW_OP_CLOSE, NULL, "\x03\xf0going", 7);
  cr_assert_eq(pw_ws_read(p.c, 1000, &m, NULL, 0), PW_OK);
  cr_assert_eq(m.opcode, PW_OP_CLOSE);
  cr_assert_eq(m.close_code, 1008);
  cr_assert_str_eq((char *)m.data, "going");
  pw_ws_msg_free(&m);
  cr_assert_eq(pw_ws_read(p.c, 100, &m, NULL, 0), PW_CLOSED);
  free_pair(&p);

  p = make_pair(PW_ROLE_CLIENT);
  put_frame(p.peer, true, PW_OP_CLOSE, NULL, "", 0);
  cr_assert_eq(pw_ws_read(p.c, 1000, &m, NULL, 0), PW_OK);
  cr_assert_eq(m.close_code, 1005);
  pw_ws_msg_free(&m);
  free_pair(&p);
}

Test(conform_wire, write_close_and_message_in_pieces) {
  pair p = make_pair(PW_ROLE_SERVER);
  uint8_t buf[64];

  cr_assert_eq(pw_ws_write_close(p.c, 1002, "x", 1000), PW_OK);
  cr_assert_eq(read(p.peer, buf, sizeof buf), 5);
  cr_assert_eq(buf[0], 0x88);
  cr_assert_eq(buf[1], 3);
  cr_assert_eq(buf[2], 0x03);
  cr_assert_eq(buf[3], 0xea);
  cr_assert_eq(buf[4], 'x');
  cr_assert_eq(pw_ws_write_message(p.c, PW_OP_TEXT, "abcde", 5, 2, 1000),
               PW_OK);
  cr_assert_eq(read(p.peer, buf, sizeof buf), 9);
  cr_assert_eq(buf[0], 0x01);
  cr_assert_eq(buf[1], 3);
  cr_assert_eq(memcmp(buf + 2, "abc", 3), 0);
  cr_assert_eq(buf[5], 0x80);
  cr_assert_eq(buf[6], 2);
  cr_assert_eq(memcmp(buf + 7, "de", 2), 0);
  free_pair(&p);
}

/* Reads one frame that must be refused with `want`. */
static void expect_refused(pw_role role, const uint8_t *head, size_t hl,
                           pw_status want, const char *why) {
  pair p = make_pair(role);
  char err[256] = "";
  pw_ws_msg m;

  put(p.peer, head, hl);
  cr_assert_eq(pw_ws_read(p.c, 1000, &m, err, sizeof err), want,
               "%s: %s", why, err);
  cr_assert(strstr(err, why) != NULL, "err \"%s\" lacks \"%s\"", err, why);
  free_pair(&p);
}

Test(conform_wire, protocol_errors) {
  uint8_t h[14];
  size_t hl;

  hl = pw_ws_encode_header(h, true, PW_OP_TEXT, key4, 0);
  expect_refused(PW_ROLE_CLIENT, h, hl, PW_PROTOCOL, "masked frame");
  hl = pw_ws_encode_header(h, true, PW_OP_TEXT, NULL, 0);
  expect_refused(PW_ROLE_SERVER, h, hl, PW_PROTOCOL, "unmasked frame");
  hl = pw_ws_encode_header(h, true, 0x3, NULL, 0);
  expect_refused(PW_ROLE_CLIENT, h, hl, PW_PROTOCOL, "reserved opcode");
  hl = pw_ws_encode_header(h, true, PW_OP_TEXT, NULL, 0);
  h[0] |= 0x40;
  expect_refused(PW_ROLE_CLIENT, h, hl, PW_PROTOCOL, "reserved bits");
  hl = pw_ws_encode_header(h, false, PW_OP_PING, NULL, 0);
  expect_refused(PW_ROLE_CLIENT, h, hl, PW_PROTOCOL, "fragmented");
  hl = pw_ws_encode_header(h, true, PW_OP_CONT, NULL, 0);
  expect_refused(PW_ROLE_CLIENT, h, hl, PW_PROTOCOL, "continuation");
  hl = pw_ws_encode_header(h, true, PW_OP_TEXT, NULL, PW_MESSAGE_MAX + 1);
  expect_refused(PW_ROLE_CLIENT, h, hl, PW_TOO_BIG, "message past");
  hl = pw_ws_encode_header(h, true, PW_OP_CLOSE, NULL, 2);
  memcpy(h + hl, "\x03\xed", 2); /* 1005 may not be sent */
  expect_refused(PW_ROLE_CLIENT, h, hl + 2, PW_PROTOCOL, "invalid code");
}

Test(conform_wire, eof_without_close) {
  pair p = make_pair(PW_ROLE_CLIENT);
  pw_ws_msg m;

  put(p.peer, "\x81\x05" "ab", 4);
  close(p.peer);
  cr_assert_eq(pw_ws_read(p.c, 1000, &m, NULL, 0), PW_CLOSED);
  pw_free(p.c);
}

Test(conform_wire, http_content_length) {
  const char *a = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  "content-length: 7\r\n\r\n{\"a\":1}trailing";
  pw_http_msg m = {0};

  cr_assert_eq(pw_http_parse_answer(a, strlen(a), false, false, &m, NULL, 0),
               PW_OK);
  cr_assert_eq(m.status, 200);
  cr_assert_eq(m.body_len, 7);
  cr_assert_str_eq(m.body, "{\"a\":1}");
  cr_assert_str_eq(pw_http_field(&m, "CONTENT-TYPE"), "application/json");
  cr_assert_eq(m.head_len, strlen(a) - strlen("{\"a\":1}trailing"));
  pw_http_msg_free(&m);
  cr_assert_eq(pw_http_parse_answer(a, 60, false, false, &m, NULL, 0),
               PW_TIMEOUT);
  pw_http_msg_free(&m);
}

Test(conform_wire, http_chunked) {
  const char *a = "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: gzip, "
                  "Chunked\r\n\r\n4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\n"
                  "X-Trailer: 1\r\n\r\n";
  pw_http_msg m = {0};

  cr_assert_eq(pw_http_parse_answer(a, strlen(a), false, false, &m, NULL, 0),
               PW_OK);
  cr_assert_eq(m.status, 404);
  cr_assert_eq(m.body_len, 7);
  cr_assert_str_eq(m.body, "abcdefg");
  pw_http_msg_free(&m);
  cr_assert_eq(pw_http_parse_answer(a, strlen(a) - 2, false, false, &m, NULL,
                                    0), PW_TIMEOUT);
  pw_http_msg_free(&m);
}

Test(conform_wire, http_close_delimited_and_bodiless) {
  const char *a = "HTTP/1.0 200 OK\nServer: x\n\nall of it";
  const char *b = "HTTP/1.1 204 No Content\r\n\r\n";
  pw_http_msg m = {0};

  cr_assert_eq(pw_http_parse_answer(a, strlen(a), false, false, &m, NULL, 0),
               PW_TIMEOUT);
  cr_assert_eq(pw_http_parse_answer(a, strlen(a), false, true, &m, NULL, 0),
               PW_OK);
  cr_assert_str_eq(m.body, "all of it");
  cr_assert_str_eq(pw_http_field(&m, "server"), "x");
  cr_assert_eq(pw_http_parse_answer(b, strlen(b), false, false, &m, NULL, 0),
               PW_OK);
  cr_assert_eq(m.body_len, 0);
  cr_assert_eq(pw_http_parse_answer(a, strlen(a), true, false, &m, NULL, 0),
               PW_OK);
  cr_assert_eq(m.body_len, 0);
  pw_http_msg_free(&m);
}

Test(conform_wire, http_malformed) {
  const char *bad[] = {
      "HTTP/2 200 OK\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  };
  char err[256];
  pw_http_msg m = {0};
  size_t i;

  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_eq(pw_http_parse_answer(bad[i], strlen(bad[i]), false, true, &m,
                                      err, sizeof err), PW_PROTOCOL,
                 "%s", bad[i]);
    pw_http_msg_free(&m);
  }
}

Test(conform_wire, http_tokens) {
  const char *a = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n"
                  "Connection: keep-alive, Upgrade\r\n\r\n";
  pw_http_msg m = {0};

  cr_assert_eq(pw_http_parse_answer(a, strlen(a), false, false, &m, NULL, 0),
               PW_OK);
  cr_assert(pw_http_has_token(&m, "upgrade", "websocket"));
  cr_assert(pw_http_has_token(&m, "connection", "upgrade"));
  cr_assert_not(pw_http_has_token(&m, "connection", "close"));
  pw_http_msg_free(&m);
}

Test(conform_wire, http_read_answer_from_a_socket) {
  pair p = make_pair(PW_ROLE_NONE);
  pw_http_msg m = {0};

  put(p.peer, "HTTP/1.1 200 OK\r\nContent-Len", 28);
  put(p.peer, "gth: 2\r\n\r\nok", 12);
  cr_assert_eq(pw_http_read_answer(p.c, false, 1000, &m, NULL, 0), PW_OK);
  cr_assert_str_eq(m.body, "ok");
  pw_http_msg_free(&m);
  free_pair(&p);
}

/* The client side of the handshake test. */
static void *handshake_client(void *arg) {
  pw_conn *c = arg;
  pw_ws_client_opts o = {"127.0.0.1", 8080, "/v1/ws", "parley.1", NULL};
  pw_ws_handshake h;
  pw_status st = pw_ws_client_handshake(c, &o, 2000, &h, NULL, 0);

  if (st == PW_OK)
    st = pw_ws_write_message(c, PW_OP_TEXT, "HI", 2, 1, 1000);
  pw_ws_handshake_free(&h);
  return (void *)(intptr_t)st;
}

Test(conform_wire, handshake_both_sides) {
  int sv[2];
  pw_conn *client, *server;
  pw_http_msg req = {0};
  pthread_t th;
  pw_ws_msg m;
  void *st;

  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  client = pw_from_fd(sv[0]);
  server = pw_from_fd(sv[1]);
  pthread_create(&th, NULL, handshake_client, client);
  cr_assert_eq(pw_ws_server_handshake(server, "parley.1", 2000, &req, NULL,
                                      0), PW_OK);
  cr_assert_str_eq(req.target, "/v1/ws");
  cr_assert_str_eq(pw_http_field(&req, "Host"), "127.0.0.1:8080");
  cr_assert_eq(pw_ws_read(server, 2000, &m, NULL, 0), PW_OK);
  cr_assert_str_eq((char *)m.data, "HI");
  pthread_join(th, &st);
  cr_assert_eq((intptr_t)st, PW_OK);
  cr_assert_eq(pw_ws_role(client), PW_ROLE_CLIENT);
  pw_ws_msg_free(&m);
  pw_http_msg_free(&req);
  pw_free(client);
  pw_free(server);
}

Test(conform_wire, plain_request_left_to_the_caller) {
  pair p = make_pair(PW_ROLE_NONE);
  const char *r = "POST /v1/auth/token HTTP/1.1\r\nHost: x\r\n"
                  "Content-Length: 2\r\n\r\n{}";
  pw_http_msg req = {0};
  char *sent = NULL;
  size_t n = 0;
  char buf[256];

  put(p.peer, r, strlen(r));
  cr_assert_eq(pw_ws_server_handshake(p.c, "parley.1", 1000, &req, NULL, 0),
               PW_PLAIN);
  cr_assert_str_eq(req.method, "POST");
  cr_assert_str_eq(req.body, "{}");
  cr_assert_eq(pw_http_respond(p.c, 200, "Content-Type: application/json\r\n",
                               "{}", 2, 1000, &sent, &n), PW_OK);
  cr_assert_eq(read(p.peer, buf, sizeof buf), (ssize_t)n);
  cr_assert(strncmp(sent, "HTTP/1.1 200 OK\r\n", 17) == 0);
  free(sent);
  pw_http_msg_free(&req);
  free_pair(&p);
}
