/* parley-conform wire layer: TCP and TLS connections, the WebSocket
 * protocol (RFC 6455) on both sides, and a small HTTP/1.1 client and
 * server, all with bounded waits.
 *
 * Nothing here knows about cases or logs: a `pw_conn` is a socket (plain
 * or OpenSSL TLS) with a read buffer. Every call that waits takes a
 * timeout in milliseconds for the whole call (0 means do not wait beyond
 * what is already buffered for reads; writes always get at least one
 * poll). Calls return a pw_status; those that can fail in more than one
 * way also write a one-line reason into `err` (any of them may pass NULL
 * for err). SIGPIPE is never raised: writes use MSG_NOSIGNAL.
 *
 * The WebSocket reader keeps its reassembly state in the connection, so a
 * read that times out in the middle of a message loses nothing. */
#ifndef PARLEY_CONFORM_WIRE_H
#define PARLEY_CONFORM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum pw_status {
  PW_OK = 0,
  PW_TIMEOUT = -1,   /* nothing (complete) within the timeout */
  PW_CLOSED = -2,    /* the peer ended the TCP connection (EOF, reset) */
  PW_ERROR = -3,     /* system or TLS error; err says which */
  PW_PROTOCOL = -4,  /* the peer broke RFC 6455 / HTTP; err says how */
  PW_TOO_BIG = -5,   /* a message, head or body past the cap */
  PW_REFUSED = 1,    /* handshake: an HTTP answer other than the upgrade */
  PW_PLAIN = 2       /* server handshake: a request that is no upgrade */
} pw_status;

/* Ends every wait of this layer, now and later, as if its time were up
 * (a run being interrupted); async-signal-safe. */
void pw_cancel_all(void);
bool pw_cancelled(void);

/* The largest WebSocket message the reader reassembles. */
#define PW_MESSAGE_MAX (4u * 1024 * 1024)
/* The largest HTTP head (start line and fields) read. */
#define PW_HEAD_MAX (64u * 1024)
/* The largest HTTP body read. */
#define PW_BODY_MAX (4u * 1024 * 1024)
/* Caps on what a peer can make a reader hold or loop over: fields of
 * one HTTP head, the octets of a chunk-size line (with extensions),
 * interim 1xx answers before the answer, frames of one WebSocket
 * message. Past them the read fails (PW_TOO_BIG or PW_PROTOCOL). */
#define PW_FIELDS_MAX 1000u
#define PW_LINE_MAX 4096u
#define PW_INTERIM_MAX 16u
#define PW_FRAGMENTS_MAX 65536u

typedef struct pw_conn pw_conn;
typedef struct pw_listener pw_listener;

/* ---- connections --------------------------------------------------- */

/* Connects to host:port (name or address; each resolved address is tried
 * in turn) and, with tls, runs the TLS handshake with SNI = host,
 * checking the certificate and host name unless `insecure`. Returns the
 * connection (caller frees with pw_free), or NULL with err filled. */
pw_conn *pw_connect(const char *host, uint16_t port, bool tls,
                    bool insecure, unsigned timeout_ms, char *err,
                    size_t errlen);
/* Wraps a connected stream socket (a socketpair in tests). Takes the fd. */
pw_conn *pw_from_fd(int fd);

/* Listens on 127.0.0.1, port chosen by the kernel. NULL with err on
 * failure; free with pw_listener_free. */
pw_listener *pw_listen(char *err, size_t errlen);
uint16_t pw_listener_port(const pw_listener *l);
/* Waits for one connection: PW_OK and *out set, PW_TIMEOUT, PW_ERROR. */
pw_status pw_accept(pw_listener *l, unsigned timeout_ms, pw_conn **out,
                    char *err, size_t errlen);
void pw_listener_free(pw_listener *l);

/* Writes all `len` octets: PW_OK, PW_TIMEOUT (some may have gone out),
 * PW_CLOSED or PW_ERROR. */
pw_status pw_write(pw_conn *c, const void *data, size_t len,
                   unsigned timeout_ms);
/* Reads what is available (buffered octets first), at most `cap`:
 * returns the count > 0, or a pw_status (PW_TIMEOUT, PW_CLOSED on EOF,
 * PW_ERROR). */
ssize_t pw_read(pw_conn *c, void *buf, size_t cap, unsigned timeout_ms);
/* Octets read from the socket but not yet consumed by any pw_ call. */
size_t pw_buffered(const pw_conn *c);
/* The socket, for setsockopt (SO_RCVBUF for a slow reader) and poll. */
int pw_fd(const pw_conn *c);
bool pw_is_tls(const pw_conn *c);
/* Stops sending (TCP FIN after a TLS close_notify); reading still works. */
void pw_shutdown_write(pw_conn *c);
/* Closes the socket at once without any closing handshake (an abrupt
 * end); later calls on c return PW_CLOSED. The struct stays valid. */
void pw_drop(pw_conn *c);
/* Closes (if still open) and frees. NULL is fine. */
void pw_free(pw_conn *c);

/* ---- HTTP/1.1 ------------------------------------------------------ */

/* A request or an answer as read. Every string is owned and
 * NUL-terminated; lengths are exact. Free with pw_http_msg_free; a zeroed
 * struct is empty. */
typedef struct pw_http_msg {
  int status;          /* answers: the status code */
  char *method;        /* requests: "GET" */
  char *target;        /* requests: "/v1/ws" */
  char *head;          /* start line and fields through the blank line */
  size_t head_len;
  char *body;          /* de-chunked */
  size_t body_len;
  size_t field_count;
  char **names;        /* as received */
  char **values;       /* trimmed of surrounding blanks */
  char *raw;           /* the whole message as it came on the wire (a
                          chunked body still chunked), NUL-terminated;
                          set by the pw_http_read_* calls */
  size_t raw_len;
} pw_http_msg;

void pw_http_msg_free(pw_http_msg *m);
/* The first value of field `name` (case-insensitive), or NULL. */
const char *pw_http_field(const pw_http_msg *m, const char *name);
/* True when field `name` holds `token` in its comma-separated list
 * (case-insensitive): pw_http_has_token(m, "Connection", "upgrade"). */
bool pw_http_has_token(const pw_http_msg *m, const char *name,
                       const char *token);

/* Reads one HTTP answer: head, then a body by Content-Length, chunked
 * coding, or until the peer closes. `no_body`: the request was HEAD (1xx,
 * 204 and 304 never have one either). PW_OK and *out filled, PW_TIMEOUT,
 * PW_CLOSED (before a whole answer), PW_PROTOCOL (err: what is wrong),
 * PW_TOO_BIG, PW_ERROR. On failure *out holds what was read so far. */
pw_status pw_http_read_answer(pw_conn *c, bool no_body, unsigned timeout_ms,
                              pw_http_msg *out, char *err, size_t errlen);
/* Reads one HTTP request (body by Content-Length or chunked). Same
 * returns. */
pw_status pw_http_read_request(pw_conn *c, unsigned timeout_ms,
                               pw_http_msg *out, char *err, size_t errlen);
/* Parses a whole answer held in memory (eof_ends_body: `len` is where the
 * peer closed). PW_OK, PW_TIMEOUT when more octets are needed,
 * PW_PROTOCOL, PW_TOO_BIG. For tests and callers with their own I/O. */
pw_status pw_http_parse_answer(const char *data, size_t len, bool no_body,
                               bool eof_ends_body, pw_http_msg *out,
                               char *err, size_t errlen);
/* Builds a request: "METHOD target HTTP/1.1", Host, the given extra
 * fields (each "Name: value\r\n", may be NULL), Content-Length when body
 * is not NULL, Connection: close, then the body. Returns a malloc'd
 * buffer (NUL-terminated) and its length in *len. */
char *pw_http_build_request(const char *method, const char *target,
                            const char *host, uint16_t port,
                            const char *fields, const void *body,
                            size_t body_len, size_t *len);
/* Writes an answer with Content-Length and Connection: close (and the
 * fields given, each "Name: value\r\n", may be NULL). If `sent` is not
 * NULL, *sent gets a malloc'd copy of the octets written (NUL-terminated)
 * and *sent_len their count. */
pw_status pw_http_respond(pw_conn *c, int status, const char *fields,
                          const void *body, size_t body_len,
                          unsigned timeout_ms, char **sent,
                          size_t *sent_len);

/* ---- WebSocket handshakes ------------------------------------------ */

typedef struct pw_ws_client_opts {
  const char *host;        /* Host field; with port unless it is 80/443 */
  uint16_t port;
  const char *path;        /* "/v1/ws" */
  const char *subprotocol; /* Sec-WebSocket-Protocol offered; NULL or ""
                              offers none */
  const char *fields;      /* extra fields "Name: value\r\n", or NULL */
} pw_ws_client_opts;

typedef struct pw_ws_handshake {
  char *request;           /* the octets sent, NUL-terminated, owned */
  size_t request_len;
  pw_http_msg answer;      /* the answer as read */
} pw_ws_handshake;

void pw_ws_handshake_free(pw_ws_handshake *h);

/* Client side: sends the upgrade (Sec-WebSocket-Key of 16 random octets)
 * and reads the answer. PW_OK: 101 with Upgrade, Connection, the right
 * Sec-WebSocket-Accept and the offered subprotocol (or none offered and
 * none chosen); the connection is now a WebSocket client. PW_REFUSED: an
 * answer other than 101 (h->answer.status says which; the body is read).
 * PW_PROTOCOL: a 101 that is wrong (err: which field). Others as
 * pw_http_read_answer. Fill *h even on failure; free it either way. */
pw_status pw_ws_client_handshake(pw_conn *c, const pw_ws_client_opts *o,
                                 unsigned timeout_ms, pw_ws_handshake *h,
                                 char *err, size_t errlen);

/* Server side, step by step: read a request with pw_http_read_request,
 * look at it, then either answer it as plain HTTP (pw_http_respond) or
 * accept the upgrade with pw_ws_accept, which writes 101 with the
 * Sec-WebSocket-Accept for the request's key and `subprotocol` (NULL:
 * none) and makes c a WebSocket server. PW_PROTOCOL when the request is
 * no valid upgrade (no key, no Upgrade: websocket, version not 13).
 * `sent` as in pw_http_respond. */
pw_status pw_ws_accept(pw_conn *c, const pw_http_msg *req,
                       const char *subprotocol, unsigned timeout_ms,
                       char **sent, size_t *sent_len);
/* True when req asks for a WebSocket upgrade (GET, Upgrade: websocket,
 * Connection: upgrade, a key). */
bool pw_ws_is_upgrade(const pw_http_msg *req);
/* Both steps: reads a request; an upgrade is accepted with
 * `subprotocol` when the client offered it (when it offered other ones
 * or none, 101 is sent without one): PW_OK. A request that is no upgrade
 * is left unanswered in *req: PW_PLAIN (answer it with pw_http_respond).
 * Other returns as pw_http_read_request. */
pw_status pw_ws_server_handshake(pw_conn *c, const char *subprotocol,
                                 unsigned timeout_ms, pw_http_msg *req,
                                 char *err, size_t errlen);

/* The Sec-WebSocket-Accept value for `key` (RFC 6455 4.2.2) into out
 * (29 octets with the NUL). */
void pw_ws_accept_key(const char *key, char out[29]);

/* ---- WebSocket frames ---------------------------------------------- */

enum {
  PW_OP_CONT = 0x0,
  PW_OP_TEXT = 0x1,
  PW_OP_BINARY = 0x2,
  PW_OP_CLOSE = 0x8,
  PW_OP_PING = 0x9,
  PW_OP_PONG = 0xA
};

typedef enum pw_role { PW_ROLE_NONE, PW_ROLE_CLIENT, PW_ROLE_SERVER } pw_role;

/* The handshakes set the role; set it yourself after a handshake done by
 * hand. A client masks what it sends and wants unmasked frames; a server
 * the opposite. */
void pw_ws_set_role(pw_conn *c, pw_role role);
pw_role pw_ws_role(const pw_conn *c);

/* Encodes a frame header into out (at most 14 octets) and returns its
 * length: FIN, opcode, the MASK bit and key when mask is not NULL, and
 * the payload length in the shortest form. */
size_t pw_ws_encode_header(uint8_t out[14], bool fin, int opcode,
                           const uint8_t *mask, uint64_t payload_len);
/* XORs data with the mask, starting at mask octet `offset % 4`. */
void pw_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4],
                size_t offset);

/* Writes one frame (masked with a random key as a client). fin false and
 * PW_OP_CONT make fragments; any opcode value 0-15 is sent as given. */
pw_status pw_ws_write_frame(pw_conn *c, bool fin, int opcode,
                            const void *data, size_t len,
                            unsigned timeout_ms);
/* Writes one message (PW_OP_TEXT or PW_OP_BINARY) in `pieces` fragments
 * of near-equal size (0 or 1: one frame; never more pieces than octets,
 * but at least one frame). */
pw_status pw_ws_write_message(pw_conn *c, int opcode, const void *data,
                              size_t len, size_t pieces,
                              unsigned timeout_ms);
/* Writes a close frame: code 0 sends an empty payload, otherwise the
 * code and `reason` (NULL: none). */
pw_status pw_ws_write_close(pw_conn *c, int code, const char *reason,
                            unsigned timeout_ms);

/* One message or control frame as read. `data` is owned, NUL-terminated
 * (len is exact); free with pw_ws_msg_free. */
typedef struct pw_ws_msg {
  int opcode;          /* PW_OP_TEXT, _BINARY, _CLOSE, _PING or _PONG */
  uint8_t *data;       /* the payload; for a close, the reason */
  size_t len;
  int close_code;      /* PW_OP_CLOSE: the code, 1005 when none */
} pw_ws_msg;

void pw_ws_msg_free(pw_ws_msg *m);

/* Reads the next message, reassembling fragments. Control frames are
 * returned too, one per call (a ping is answered with a pong carrying its
 * payload before it is returned). A close is returned and not answered:
 * answer it with pw_ws_write_close if wanted; after it, reads return
 * PW_CLOSED.
 * Returns PW_OK with *m filled, PW_TIMEOUT (partial state kept),
 * PW_CLOSED (TCP ended without a close frame; also every read after a
 * close frame), PW_PROTOCOL (err: a
 * masked frame from a server, an unmasked one from a client, reserved
 * bits or opcode, a bad continuation, a fragmented or long control
 * frame, a close payload of one octet or a bad code), PW_TOO_BIG (past
 * PW_MESSAGE_MAX), PW_ERROR. *m holds nothing unless PW_OK. After a
 * PW_PROTOCOL or PW_TOO_BIG the stream is out of step: close the
 * connection. */
pw_status pw_ws_read(pw_conn *c, unsigned timeout_ms, pw_ws_msg *m,
                     char *err, size_t errlen);

/* Milliseconds on a monotonic clock (deadlines). */
uint64_t pw_mono_ms(void);

#endif
