/* DTLS-SRTP endpoint over OpenSSL: see dtls.h.
 *
 * One SSL_CTX per endpoint, since each call has its own certificate.
 * Reads come from a memory BIO holding at most the datagram just fed
 * (each is consumed before the next is written, so datagram bounds are
 * kept); writes go through a small BIO method whose every write is one
 * datagram handed to the caller. The link MTU is fixed at 1200 octets
 * (OpenSSL is told not to query it), which fits any path a call takes,
 * TURN framing included. States only move forward: HANDSHAKING -> DONE
 * (reported once) -> OPEN -> CLOSED, or ERROR from any of them.
 *
 * Retransmission (RFC 6347 4.2.4.1): a flight not answered is sent again
 * after 100 ms, then 200, 400, 800 and 1600 ms, staying there. OpenSSL's
 * own timer starts at a second, which a single lost flight on a relayed
 * path turned into a second or more of call set-up; the RFC's 1 s is a
 * default, and a call's handshake is a handful of small datagrams. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "dtls.h"

#define LINK_MTU 1200
#define SRTP_PROFILE "SRTP_AES128_CM_SHA1_80"
#define EXPORTER_LABEL "EXTRACTOR-dtls_srtp"
#define RECORD_ALERT 21 /* the content type of an alert record */
#define RTX_FIRST_MS 100  /* the first retransmission timeout */
#define RTX_MAX_MS 1600   /* where doubling stops */

struct mdtls_cert {
  EVP_PKEY *key;
  X509 *x509;
  char fingerprint[MDTLS_FP_LEN];
};

struct mdtls {
  SSL_CTX *ctx;
  SSL *ssl;
  BIO_METHOD *out_method;
  mdtls_send_fn send;
  void *ud;
  mdtls_state state;
  bool closed;
  unsigned retransmits; /* flights sent again on a timeout */
};

/* Puts OpenSSL's oldest queued error (or `what`) into err and clears the
 * queue, so one endpoint's error never shows up in another's. */
static void ssl_error(const char *what, char *err, size_t cap) {
  unsigned long e = ERR_get_error();
  char buf[256] = "no detail";
  if (e)
    ERR_error_string_n(e, buf, sizeof buf);
  snprintf(err, cap, "%s: %s", what, buf);
  ERR_clear_error();
}

/* Formats a SHA-256 digest of `x` as upper-case hex pairs with ':'. */
static int x509_fingerprint(X509 *x, char out[MDTLS_FP_LEN]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!X509_digest(x, EVP_sha256(), md, &n) || n != 32)
    return -1;
  for (unsigned i = 0; i < n; i++)
    snprintf(out + 3 * i, 4, i + 1 < n ? "%02X:" : "%02X", md[i]);
  return 0;
}

/* Builds the self-signed certificate for `key`: random serial, subject
 * CN=parley, valid from now for one day, signed with SHA-256. */
static X509 *self_signed(EVP_PKEY *key) {
  X509 *x = X509_new();
  if (!x)
    return NULL;
  unsigned char serial[8];
  BIGNUM *bn = NULL;
  bool ok = X509_set_version(x, 2) && RAND_bytes(serial, sizeof serial) == 1;
  serial[0] &= 0x7f;
  if (ok)
    bn = BN_bin2bn(serial, sizeof serial, NULL);
  ok = ok && bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -60)
       && X509_gmtime_adj(X509_getm_notAfter(x), 24L * 3600);
  X509_NAME *name = X509_get_subject_name(x);
  ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                        (const unsigned char *)"parley",
                                        -1, -1, 0)
       && X509_set_issuer_name(x, name) && X509_set_pubkey(x, key)
       && X509_sign(x, key, EVP_sha256()) > 0;
  if (!ok) {
    X509_free(x);
    return NULL;
  }
  return x;
}

mdtls_cert *mdtls_cert_new(char *err, size_t cap) {
  mdtls_cert *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(err, cap, "out of memory");
    return NULL;
  }
  c->key = EVP_EC_gen("P-256");
  if (!c->key) {
    ssl_error("cannot make an EC P-256 key", err, cap);
    goto fail;
  }
  c->x509 = self_signed(c->key);
  if (!c->x509) {
    ssl_error("cannot make the certificate", err, cap);
    goto fail;
  }
  if (x509_fingerprint(c->x509, c->fingerprint) != 0) {
    ssl_error("cannot hash the certificate", err, cap);
    goto fail;
  }
  return c;

fail:
  mdtls_cert_free(c);
  return NULL;
}

void mdtls_cert_free(mdtls_cert *c) {
  if (!c)
    return;
  X509_free(c->x509);
  EVP_PKEY_free(c->key);
  free(c);
}

const char *mdtls_cert_fingerprint(const mdtls_cert *c) {
  return c->fingerprint;
}

static bool is_hex(char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')
         || (ch >= 'A' && ch <= 'F');
}

bool mdtls_fingerprint_valid(const char *fp) {
  if (strlen(fp) != MDTLS_FP_LEN - 1)
    return false;
  for (size_t i = 0; i < MDTLS_FP_LEN - 1; i++) {
    bool colon = i % 3 == 2;
    if (colon ? fp[i] != ':' : !is_hex(fp[i]))
      return false;
  }
  return true;
}

bool mdtls_fingerprint_equal(const char *a, const char *b) {
  return strlen(a) == strlen(b) && strcasecmp(a, b) == 0;
}

/* The outgoing BIO: each write is one datagram for the caller. */
/* Hands each datagram OpenSSL writes to the caller. After the handshake
 * an alert goes out only as this side's close_notify (mdtls_close): one
 * OpenSSL sends because a forged datagram upset it would end the peer's
 * association (and the call) for nothing. */
static int out_write(BIO *b, const char *buf, int len) {
  mdtls *d = BIO_get_data(b);
  bool open = d->state == MDTLS_DONE || d->state == MDTLS_OPEN;
  if (len > 0 && !(open && !d->closed && buf[0] == RECORD_ALERT))
    d->send(d->ud, (const uint8_t *)buf, (size_t)len);
  return len;
}

static long out_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  switch (cmd) {
  case BIO_CTRL_FLUSH:
    return 1;
  default:
    return 0; /* no pending data, no MTU to query, no peer address */
  }
}

static int out_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

/* The engine checks the fingerprint after the handshake; a self-signed
 * certificate is all a WebRTC-style peer ever shows. */
static int accept_peer(int preverify_ok, X509_STORE_CTX *store) {
  (void)preverify_ok;
  (void)store;
  return 1;
}

static SSL_CTX *ctx_new(const mdtls_cert *cert, char *err, size_t cap) {
  SSL_CTX *ctx = SSL_CTX_new(DTLS_method());
  if (!ctx) {
    ssl_error("SSL_CTX_new", err, cap);
    return NULL;
  }
  bool ok = SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION)
            && SSL_CTX_use_certificate(ctx, cert->x509) == 1
            && SSL_CTX_use_PrivateKey(ctx, cert->key) == 1
            && SSL_CTX_check_private_key(ctx) == 1
            /* note: returns 0 on success */
            && SSL_CTX_set_tlsext_use_srtp(ctx, SRTP_PROFILE) == 0;
  if (!ok) {
    ssl_error("cannot set up DTLS", err, cap);
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     accept_peer);
  return ctx;
}

/* Wires the SSL to a memory BIO for reads and the datagram BIO for
 * writes. Returns 0 or -1. */
static int bios_attach(mdtls *d) {
  d->out_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                               "parley-dtls-out");
  if (!d->out_method)
    return -1;
  BIO_meth_set_write(d->out_method, out_write);
  BIO_meth_set_ctrl(d->out_method, out_ctrl);
  BIO_meth_set_create(d->out_method, out_create);
  BIO *rbio = BIO_new(BIO_s_mem());
  BIO *wbio = BIO_new(d->out_method);
  if (!rbio || !wbio) {
    BIO_free(rbio);
    BIO_free(wbio);
    return -1;
  }
  BIO_set_mem_eof_return(rbio, -1);
  BIO_set_data(wbio, d);
  SSL_set_bio(d->ssl, rbio, wbio);
  return 0;
}

uint32_t mdtls_rtx_next_ms(uint32_t prev_ms) {
  if (prev_ms == 0)
    return RTX_FIRST_MS;
  return prev_ms >= RTX_MAX_MS / 2 ? RTX_MAX_MS : prev_ms * 2;
}

/* DTLS_timer_cb: OpenSSL asks for the next timeout, in microseconds,
 * after `prev_us` (0 when a flight is first sent). */
static unsigned int rtx_timer(SSL *ssl, unsigned int prev_us) {
  (void)ssl;
  return mdtls_rtx_next_ms(prev_us / 1000) * 1000u;
}

mdtls *mdtls_new(const mdtls_cert *cert, bool is_client, mdtls_send_fn send,
                 void *ud, char *err, size_t cap) {
  mdtls *d = calloc(1, sizeof *d);
  if (!d) {
    snprintf(err, cap, "out of memory");
    return NULL;
  }
  d->send = send;
  d->ud = ud;
  d->ctx = ctx_new(cert, err, cap);
  if (!d->ctx)
    goto fail;
  d->ssl = SSL_new(d->ctx);
  if (!d->ssl || bios_attach(d) != 0) {
    ssl_error("cannot make the DTLS endpoint", err, cap);
    goto fail;
  }
  SSL_set_options(d->ssl, SSL_OP_NO_QUERY_MTU);
  DTLS_set_link_mtu(d->ssl, LINK_MTU);
  DTLS_set_timer_cb(d->ssl, rtx_timer);
  if (is_client)
    SSL_set_connect_state(d->ssl);
  else
    SSL_set_accept_state(d->ssl);
  return d;

fail:
  mdtls_free(d);
  return NULL;
}

void mdtls_free(mdtls *d) {
  if (!d)
    return;
  SSL_free(d->ssl); /* frees both BIOs */
  SSL_CTX_free(d->ctx);
  BIO_meth_free(d->out_method);
  free(d);
}

/* One handshake step; turns OpenSSL's answer into a state. */
static mdtls_state handshake(mdtls *d, char *err, size_t cap) {
  int rc = SSL_do_handshake(d->ssl);
  if (rc == 1) {
    d->state = MDTLS_DONE;
    return MDTLS_DONE;
  }
  int e = SSL_get_error(d->ssl, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
    return MDTLS_HANDSHAKING;
  ssl_error("DTLS handshake failed", err, cap);
  d->state = MDTLS_ERROR;
  return MDTLS_ERROR;
}

mdtls_state mdtls_start(mdtls *d, char *err, size_t cap) {
  if (d->state != MDTLS_HANDSHAKING)
    return d->state;
  return handshake(d, err, cap);
}

/* After the handshake: reads what the datagram held (alerts; any
 * application data is dropped) and notices close_notify. A datagram
 * OpenSSL refuses is dropped: after the handshake nothing but the
 * peer's close_notify ends the association. */
static mdtls_state read_open(mdtls *d, char *err, size_t cap) {
  uint8_t sink[2048];
  for (;;) {
    int n = SSL_read(d->ssl, sink, sizeof sink);
    if (n > 0)
      continue;
    int e = SSL_get_error(d->ssl, n);
    if (e == SSL_ERROR_WANT_READ)
      return MDTLS_OPEN;
    if (e == SSL_ERROR_ZERO_RETURN) {
      d->state = MDTLS_CLOSED;
      snprintf(err, cap, "the peer closed DTLS");
      return MDTLS_CLOSED;
    }
    /* Anything else is a record OpenSSL would not take: one anyone can
     * forge (a clear-text alert, a short or unauthentic record). RFC
     * 6347 section 4.1.2.7: drop it; the association stands. */
    ERR_clear_error();
    return MDTLS_OPEN;
  }
}

mdtls_state mdtls_on_datagram(mdtls *d, const uint8_t *buf, size_t len,
                              char *err, size_t cap) {
  if (d->state == MDTLS_ERROR || d->state == MDTLS_CLOSED || d->closed)
    return d->state;
  BIO *rbio = SSL_get_rbio(d->ssl);
  (void)BIO_reset(rbio); /* drop what an earlier datagram left */
  if (BIO_write(rbio, buf, (int)len) != (int)len) {
    snprintf(err, cap, "DTLS: cannot queue a datagram");
    return d->state;
  }
  if (d->state == MDTLS_HANDSHAKING)
    return handshake(d, err, cap);
  d->state = MDTLS_OPEN;
  return read_open(d, err, cap);
}

bool mdtls_timeout_ms(mdtls *d, uint32_t *ms) {
  struct timeval tv;
  if (d->state != MDTLS_HANDSHAKING || DTLSv1_get_timeout(d->ssl, &tv) != 1)
    return false;
  /* Rounded up: a timer that fires early finds nothing due. */
  *ms = (uint32_t)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
  return true;
}

mdtls_state mdtls_on_timeout(mdtls *d, char *err, size_t cap) {
  if (d->state != MDTLS_HANDSHAKING)
    return d->state;
  int rc = (int)DTLSv1_handle_timeout(d->ssl);
  if (rc < 0) {
    ssl_error("DTLS handshake timed out", err, cap);
    d->state = MDTLS_ERROR;
  } else if (rc > 0) {
    d->retransmits++;
  }
  return d->state;
}

unsigned mdtls_retransmits(const mdtls *d) {
  return d->retransmits;
}

int mdtls_peer_fingerprint(mdtls *d, char out[MDTLS_FP_LEN]) {
  X509 *peer = SSL_get1_peer_certificate(d->ssl);
  if (!peer)
    return -1;
  int rc = x509_fingerprint(peer, out);
  X509_free(peer);
  return rc;
}

int mdtls_export_srtp(mdtls *d, uint8_t out[MSRTP_MATERIAL_LEN], char *err,
                      size_t cap) {
  SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(d->ssl);
  if (!p || p->id != SRTP_AES128_CM_SHA1_80) {
    snprintf(err, cap, "DTLS: the peer agreed to no SRTP profile we offer "
             "(%s)", p ? p->name : "none");
    return -1;
  }
  if (SSL_export_keying_material(d->ssl, out, MSRTP_MATERIAL_LEN,
                                 EXPORTER_LABEL, strlen(EXPORTER_LABEL),
                                 NULL, 0, 0) != 1) {
    ssl_error("DTLS: cannot export the SRTP keys", err, cap);
    return -1;
  }
  return 0;
}

void mdtls_close(mdtls *d) {
  if (d->closed || !d->ssl)
    return;
  d->closed = true;
  if (d->state == MDTLS_DONE || d->state == MDTLS_OPEN)
    (void)SSL_shutdown(d->ssl);
  ERR_clear_error();
}
