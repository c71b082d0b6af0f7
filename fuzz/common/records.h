/* The record format of the stateful harnesses (server, client): the
 * input is a sequence of records, each an opcode octet and its operands.
 * The low three bits of the opcode say what happens; the next two name
 * one of four connections (server) and the top three are an operand
 * (server: which user logs in). A MESSAGE record carries a big-endian
 * 16-bit length and that many octets (fewer when the input ends). The
 * seeds (fuzz/gen_seeds.py) write the same format. */
#ifndef FUZZ_RECORDS_H
#define FUZZ_RECORDS_H

#include <stddef.h>
#include <stdint.h>

enum {
  /* server: the host's events */
  S_OPEN = 0,     /* a connection opens */
  S_CLOSE = 1,    /* it closes */
  S_MESSAGE = 2,  /* a WebSocket text message arrives on it */
  S_TIME = 3,     /* operand octet: the clock moves on octet * 50 ms */
  S_HOLD = 4,     /* store requests wait from now on, or complete again */
  S_COMPLETE = 5, /* the oldest waiting store request completes */
  S_LOGIN = 6,    /* HELLO and AUTH with a valid token (opens if needed) */
  S_API = 7       /* operands: kind, limit, cursor length; cursor */
};

enum {
  /* client: the server's frames, the connection and the user */
  C_MESSAGE = 0,      /* a frame from the server */
  C_CONNECTED = 1,    /* the connection the core asked for is up */
  C_DISCONNECTED = 2, /* it went down */
  C_TIME = 3,         /* operand octet: the clock moves on octet * 50 ms */
  C_SEND = 4,         /* operands: conv index, body length; body */
  C_READ = 5,         /* operands: conv index, seq */
  C_TYPING = 6,       /* operand: conv index (its low bit: on or off) */
  C_CALL = 7          /* operands: verb index, conv index */
};

/* A cursor over the input. */
typedef struct rec_reader {
  const uint8_t *p;
  size_t left;
} rec_reader;

static inline int rec_byte(rec_reader *r)
{
  if (r->left == 0)
    return -1;
  r->left--;
  return *r->p++;
}

/* A length-prefixed octet string; *n is what the input still held. */
static inline const uint8_t *rec_blob(rec_reader *r, size_t *n)
{
  int hi = rec_byte(r), lo = rec_byte(r);
  size_t want = hi < 0 || lo < 0 ? 0 : (size_t)(hi << 8 | lo);
  const uint8_t *at = r->p;

  *n = want < r->left ? want : r->left;
  r->p += *n;
  r->left -= *n;
  return at;
}

#endif
