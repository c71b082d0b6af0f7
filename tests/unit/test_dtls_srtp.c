/* Unit tests for the call media transport (ref-client/media: srtp.c,
 * dtls.c, ice.c, engine.c, media.c).
 *
 * The SRTP tests run libsrtp2 with fixed keys. The engine tests start two
 * media engines in this process, each on its own thread with its own
 * ICE agent on 127.0.0.1, and carry descriptions and candidates between
 * them the way signaling would. They run in real time, a few seconds at
 * most; no assertion depends on how long anything took. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "dtls.h"
#include "engine.h"
#include "media.h"
#include "srtp.h"

/* --- SRTP with fixed keys ---------------------------------------------- */

/* The master key and salt of RFC 3711 appendix B.3 as the client's, and
 * the same octets reversed as the server's. */
static void test_material(uint8_t out[MSRTP_MATERIAL_LEN]) {
  static const uint8_t key[16] = {
    0xE1, 0xF9, 0x7A, 0x0D, 0x3E, 0x01, 0x8B, 0xE0,
    0xD6, 0x4F, 0xA3, 0x2C, 0x06, 0xDE, 0x41, 0x39};
  static const uint8_t salt[14] = {
    0x0E, 0xC6, 0x75, 0xAD, 0x49, 0x8A, 0xFE, 0xEB,
    0xB6, 0x96, 0x0B, 0x3A, 0xAB, 0xE6};
  for (size_t i = 0; i < 16; i++) {
    out[i] = key[i];
    out[16 + i] = key[15 - i];
  }
  for (size_t i = 0; i < 14; i++) {
    out[32 + i] = salt[i];
    out[46 + i] = salt[13 - i];
  }
}

/* An RTP packet: version 2, PT 111, `seq`, and 40 octets of payload made
 * from seq. Returns its length. */
static size_t rtp_packet(uint8_t *buf, uint16_t seq, uint32_t ts) {
  memset(buf, 0, 12);
  buf[0] = 0x80;
  buf[1] = 111;
  buf[2] = (uint8_t)(seq >> 8);
  buf[3] = (uint8_t)seq;
  buf[4] = (uint8_t)(ts >> 24);
  buf[5] = (uint8_t)(ts >> 16);
  buf[6] = (uint8_t)(ts >> 8);
  buf[7] = (uint8_t)ts;
  buf[8] = 0xCA;
  buf[9] = 0xFE;
  buf[10] = 0x00;
  buf[11] = 0x01;
  for (size_t i = 0; i < 40; i++)
    buf[12 + i] = (uint8_t)(seq * 7 + i);
  return 52;
}

typedef struct pair {
  msrtp *client, *server;
} pair;

static pair pair_new(void) {
  uint8_t material[MSRTP_MATERIAL_LEN];
  char err[256] = "";
  pair p;
  test_material(material);
  p.client = msrtp_new(material, true, err, sizeof err);
  cr_assert_not_null(p.client, "%s", err);
  p.server = msrtp_new(material, false, err, sizeof err);
  cr_assert_not_null(p.server, "%s", err);
  return p;
}

static void pair_free(pair p) {
  msrtp_free(p.client);
  msrtp_free(p.server);
}

/* Seq 65530..65540 crosses the 16-bit rollover (RFC 3711 3.3.1): every
 * packet must come out as it went in, which needs the rollover counter
 * to move on both sides. */
Test(srtp, protect_unprotect_across_seq_rollover) {
  pair p = pair_new();
  for (uint32_t i = 65530; i <= 65540; i++) {
    uint8_t plain[128], wire[128];
    uint16_t seq = (uint16_t)i;
    size_t len = rtp_packet(plain, seq, i * 960);
    memcpy(wire, plain, len);
    size_t wlen = len;
    cr_assert_eq(msrtp_protect(p.client, wire, &wlen), MSRTP_OK);
    cr_assert_eq(wlen, len + 10, "an 80-bit tag follows the payload");
    cr_assert_neq(memcmp(wire + 12, plain + 12, 40), 0, "payload encrypted");
    cr_assert_eq(msrtp_unprotect(p.server, wire, &wlen), MSRTP_OK,
                 "seq %u", (unsigned)seq);
    cr_assert_eq(wlen, len);
    cr_assert_eq(memcmp(wire, plain, len), 0, "seq %u", (unsigned)seq);
  }
  msrtp_counts n;
  msrtp_get_counts(p.server, &n);
  cr_assert_eq(n.unprotected_rtp, 11);
  cr_assert_eq(n.auth_fail + n.replay + n.other_fail, 0);
  pair_free(p);
}

/* The same packet twice: the second is a replay, counted, not passed. A
 * packet from before the rollover sent again after it is refused too. */
Test(srtp, replay_rejected) {
  pair p = pair_new();
  uint8_t first[128], again[128], buf[128];
  size_t flen = rtp_packet(first, 65535, 0);
  cr_assert_eq(msrtp_protect(p.client, first, &flen), MSRTP_OK);
  memcpy(again, first, flen);
  size_t len = flen;
  cr_assert_eq(msrtp_unprotect(p.server, first, &len), MSRTP_OK);
  len = flen;
  memcpy(buf, again, flen);
  cr_assert_eq(msrtp_unprotect(p.server, buf, &len), MSRTP_REPLAY);

  for (uint16_t seq = 0; seq < 3; seq++) {
    len = rtp_packet(buf, seq, seq);
    cr_assert_eq(msrtp_protect(p.client, buf, &len), MSRTP_OK);
    cr_assert_eq(msrtp_unprotect(p.server, buf, &len), MSRTP_OK);
  }
  len = flen;
  memcpy(buf, again, flen);
  cr_assert_eq(msrtp_unprotect(p.server, buf, &len), MSRTP_REPLAY);

  msrtp_counts n;
  msrtp_get_counts(p.server, &n);
  cr_assert_eq(n.replay, 2);
  cr_assert_eq(n.unprotected_rtp, 4);
  pair_free(p);
}

/* A flipped payload bit fails authentication; so do the wrong keys (a
 * client reading what another client protected). */
Test(srtp, tampering_and_wrong_keys_fail_auth) {
  pair p = pair_new();
  uint8_t buf[128], copy[128];
  size_t len = rtp_packet(buf, 100, 0);
  cr_assert_eq(msrtp_protect(p.client, buf, &len), MSRTP_OK);
  memcpy(copy, buf, len);
  buf[20] ^= 1;
  size_t l2 = len;
  cr_assert_eq(msrtp_unprotect(p.server, buf, &l2), MSRTP_AUTH_FAIL);

  uint8_t material[MSRTP_MATERIAL_LEN];
  char err[256];
  test_material(material);
  msrtp *other_client = msrtp_new(material, true, err, sizeof err);
  cr_assert_not_null(other_client);
  l2 = len;
  cr_assert_eq(msrtp_unprotect(other_client, copy, &l2), MSRTP_AUTH_FAIL);
  msrtp_free(other_client);

  msrtp_counts n;
  msrtp_get_counts(p.server, &n);
  cr_assert_eq(n.auth_fail, 1);
  pair_free(p);
}

/* RTCP (told apart by its packet type) goes through SRTCP. */
Test(srtp, rtcp_round_trip) {
  pair p = pair_new();
  uint8_t rr[64] = {0x80, 201, 0x00, 0x01, 0xCA, 0xFE, 0x00, 0x01};
  uint8_t buf[64];
  memcpy(buf, rr, 8);
  size_t len = 8;
  cr_assert(msrtp_is_rtcp(buf, len));
  cr_assert_eq(msrtp_protect(p.server, buf, &len), MSRTP_OK);
  cr_assert_gt(len, 8);
  cr_assert_eq(msrtp_unprotect(p.client, buf, &len), MSRTP_OK);
  cr_assert_eq(len, 8);
  cr_assert_eq(memcmp(buf, rr, 8), 0);
  msrtp_counts n;
  msrtp_get_counts(p.client, &n);
  cr_assert_eq(n.unprotected_rtcp, 1);
  pair_free(p);
}

/* --- certificates -------------------------------------------------- */

Test(dtls, certificate_fingerprint_format) {
  char err[256] = "";
  mdtls_cert *a = mdtls_cert_new(err, sizeof err);
  mdtls_cert *b = mdtls_cert_new(err, sizeof err);
  cr_assert_not_null(a, "%s", err);
  cr_assert_not_null(b, "%s", err);
  const char *fa = mdtls_cert_fingerprint(a);
  cr_assert(mdtls_fingerprint_valid(fa), "%s", fa);
  cr_assert_eq(strlen(fa), 95);
  for (const char *c = fa; *c; c++)
    cr_assert(!(*c >= 'a' && *c <= 'f'), "upper case: %s", fa);
  cr_assert(!mdtls_fingerprint_equal(fa, mdtls_cert_fingerprint(b)),
            "each call has its own certificate");

  char lower[MDTLS_FP_LEN];
  for (size_t i = 0; i < sizeof lower; i++)
    lower[i] = (char)(fa[i] >= 'A' && fa[i] <= 'F' ? fa[i] + 32 : fa[i]);
  cr_assert(mdtls_fingerprint_equal(fa, lower));
  cr_assert(!mdtls_fingerprint_valid("AB:CD"));
  cr_assert(!mdtls_fingerprint_valid(""));
  mdtls_cert_free(a);
  mdtls_cert_free(b);
}

/* Two DTLS endpoints wired to each other in memory. The client's first
 * ClientHello is lost; its retransmission timer sends it again, the
 * handshake completes, each side sees the other's certificate and both
 * export the same SRTP keying material. */
typedef struct wire {
  uint8_t buf[32][1500];
  size_t len[32];
  size_t count;
  int drop;      /* datagrams still to lose */
  int sent;      /* datagrams written, lost ones too */
} wire;

static void wire_send(void *ud, const uint8_t *b, size_t len) {
  wire *w = ud;
  w->sent++;
  if (w->drop > 0) {
    w->drop--;
    return;
  }
  cr_assert_lt(w->count, 32);
  cr_assert_leq(len, sizeof w->buf[0]);
  memcpy(w->buf[w->count], b, len);
  w->len[w->count++] = len;
}

/* Feeds what `w` holds to `to`; returns true once `to` is done. */
static bool deliver(wire *w, mdtls *to, bool done) {
  char err[256] = "";
  for (size_t i = 0; i < w->count; i++) {
    mdtls_state st = mdtls_on_datagram(to, w->buf[i], w->len[i], err,
                                       sizeof err);
    cr_assert_neq(st, MDTLS_ERROR, "%s", err);
    done = done || st == MDTLS_DONE;
  }
  w->count = 0;
  return done;
}

/* A client and a server endpoint, each writing to the other's wire in
 * memory; the first `drop` datagrams to the server are lost. Fails the
 * test when either cannot be made. One pair at a time (static). */
typedef struct dtls_pair {
  mdtls_cert *cc, *sc;
  wire to_server, to_client;
  mdtls *client, *server;
} dtls_pair;

static dtls_pair *dtls_pair_new(int drop) {
  static dtls_pair p;
  char err[256] = "";
  memset(&p, 0, sizeof p);
  p.cc = mdtls_cert_new(err, sizeof err);
  p.sc = mdtls_cert_new(err, sizeof err);
  p.to_server.drop = drop;
  p.client = mdtls_new(p.cc, true, wire_send, &p.to_server, err, sizeof err);
  p.server = mdtls_new(p.sc, false, wire_send, &p.to_client, err,
                       sizeof err);
  cr_assert_not_null(p.client, "%s", err);
  cr_assert_not_null(p.server, "%s", err);
  return &p;
}

static void dtls_pair_free(dtls_pair *p) {
  mdtls_free(p->client);
  mdtls_free(p->server);
  mdtls_cert_free(p->cc);
  mdtls_cert_free(p->sc);
}

static void sleep_ms(long ms);
static uint64_t now_ms(void);

Test(dtls, handshake_survives_a_lost_client_hello) {
  char err[256] = "";
  dtls_pair *p = dtls_pair_new(1);
  mdtls *client = p->client, *server = p->server;
  wire *to_server = &p->to_server, *to_client = &p->to_client;
  mdtls_cert *cc = p->cc, *sc = p->sc;
  cr_assert_eq(mdtls_start(client, err, sizeof err), MDTLS_HANDSHAKING);
  cr_assert_eq(to_server->sent, 1);

  bool cdone = false, sdone = false;
  uint64_t end = now_ms() + 4000;
  while (!(cdone && sdone) && now_ms() < end) {
    sdone = deliver(to_server, server, sdone);
    cdone = deliver(to_client, client, cdone);
    uint32_t ms;
    if (mdtls_timeout_ms(client, &ms) && ms == 0)
      mdtls_on_timeout(client, err, sizeof err);
    sleep_ms(10);
  }
  cr_assert(cdone && sdone, "handshake incomplete");
  cr_assert_geq(to_server->sent, 3, "the ClientHello was sent again");

  char fp[MDTLS_FP_LEN];
  cr_assert_eq(mdtls_peer_fingerprint(client, fp), 0);
  cr_assert_str_eq(fp, mdtls_cert_fingerprint(sc));
  cr_assert_eq(mdtls_peer_fingerprint(server, fp), 0);
  cr_assert_str_eq(fp, mdtls_cert_fingerprint(cc));
  uint8_t km_c[MSRTP_MATERIAL_LEN], km_s[MSRTP_MATERIAL_LEN];
  cr_assert_eq(mdtls_export_srtp(client, km_c, err, sizeof err), 0, "%s",
               err);
  cr_assert_eq(mdtls_export_srtp(server, km_s, err, sizeof err), 0, "%s",
               err);
  cr_assert_eq(memcmp(km_c, km_s, sizeof km_c), 0);

  /* close_notify reaches the other side as CLOSED */
  mdtls_close(client);
  cr_assert_eq(to_server->count, 1);
  cr_assert_eq(mdtls_on_datagram(server, to_server->buf[0], to_server->len[0],
                                 err, sizeof err), MDTLS_CLOSED);
  dtls_pair_free(p);
}

/* The retransmission schedule starts at 100 ms (OpenSSL's own: 1 s) and
 * doubles up to 1600 ms. */
Test(dtls, retransmission_schedule) {
  const uint32_t want[] = {100, 200, 400, 800, 1600, 1600, 1600};
  uint32_t ms = 0;
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    ms = mdtls_rtx_next_ms(ms);
    cr_assert_eq(ms, want[i], "step %zu: %u ms", i, (unsigned)ms);
  }
}

/* The first ClientHello is lost. The timer the client reports after
 * sending it is the short one (at most 100 ms, not OpenSSL's 1 s), and
 * once it runs out a single retransmission, of the ClientHello, brings
 * the handshake through: each wait below is what the endpoint asked for,
 * so the test follows the endpoint's timer, not a clock of its own. */
Test(dtls, lost_client_hello_is_sent_again_on_the_short_timer) {
  char err[256] = "";
  dtls_pair *p = dtls_pair_new(1);
  mdtls *client = p->client, *server = p->server;
  wire *to_server = &p->to_server, *to_client = &p->to_client;
  cr_assert_eq(mdtls_start(client, err, sizeof err), MDTLS_HANDSHAKING);
  cr_assert_eq(to_server->sent, 1);
  cr_assert_eq(to_server->count, 0, "the ClientHello was lost");

  uint32_t ms = 0;
  cr_assert(mdtls_timeout_ms(client, &ms));
  cr_assert_leq(ms, 100, "first timeout %u ms", (unsigned)ms);
  cr_assert_eq(mdtls_retransmits(client), 0);

  /* Wait out the timer as the engine does; a timeout that finds the
   * timer still running retransmits nothing, so loop on it. */
  int polls = 0;
  while (mdtls_retransmits(client) == 0 && polls++ < 50) {
    sleep_ms(mdtls_timeout_ms(client, &ms) ? (long)ms : 10);
    cr_assert_eq(mdtls_on_timeout(client, err, sizeof err),
                 MDTLS_HANDSHAKING, "%s", err);
  }
  cr_assert_eq(mdtls_retransmits(client), 1);
  cr_assert_eq(to_server->sent, 2, "the ClientHello, and only it, again");
  cr_assert_eq(to_server->count, 1);
  /* The timer of the retransmitted flight doubled: 200 ms at most. */
  cr_assert(mdtls_timeout_ms(client, &ms));
  cr_assert_leq(ms, 200, "second timeout %u ms", (unsigned)ms);

  /* Nothing else is lost: the flights cross without another timeout. */
  bool cdone = false, sdone = false;
  for (int round = 0; round < 8 && !(cdone && sdone); round++) {
    sdone = deliver(to_server, server, sdone);
    cdone = deliver(to_client, client, cdone);
  }
  cr_assert(cdone && sdone, "handshake incomplete");
  cr_assert_eq(mdtls_retransmits(client), 1);
  cr_assert_eq(mdtls_retransmits(server), 0);
  cr_assert_not(mdtls_timeout_ms(client, &ms), "no timer after the end");

  dtls_pair_free(p);
}

/* Once the handshake is done, a datagram anyone can forge (a record of
 * the current epoch too short to be authentic, a fatal alert in the
 * clear, garbage) is dropped, as RFC 6347 section 4.1.2.7 says: it must
 * not end the association, and the peer's close_notify still does. */
Test(dtls, forged_records_after_the_handshake_are_dropped) {
  static const uint8_t forged[][16] = {
    {21, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 2, 2, 40},
    {21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 2, 40},
    {23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 7, 0, 3, 1, 2, 3},
    {22, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 8, 0, 3, 1, 0, 0},
    {20, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 6, 0, 1, 1},
  };
  static const size_t forged_len[] = {15, 15, 16, 16, 14};
  char err[256] = "";
  dtls_pair *p = dtls_pair_new(0);
  mdtls *client = p->client, *server = p->server;
  wire *to_server = &p->to_server, *to_client = &p->to_client;
  mdtls_start(client, err, sizeof err);
  bool cdone = false, sdone = false;
  for (int i = 0; i < 20 && !(cdone && sdone); i++) {
    /* a forged alert of the next epoch, ahead of each flight */
    mdtls_on_datagram(server, forged[0], forged_len[0], err, sizeof err);
    mdtls_on_datagram(client, forged[0], forged_len[0], err, sizeof err);
    sdone = deliver(to_server, server, sdone);
    cdone = deliver(to_client, client, cdone);
  }
  cr_assert(cdone && sdone, "handshake incomplete");

  to_server->count = to_client->count = 0;
  for (size_t i = 0; i < sizeof forged_len / sizeof forged_len[0]; i++) {
    mdtls *to[2] = {client, server};
    for (int k = 0; k < 2; k++) {
      mdtls_state st = mdtls_on_datagram(to[k], forged[i], forged_len[i],
                                         err, sizeof err);
      cr_assert(st != MDTLS_ERROR && st != MDTLS_CLOSED,
                "forged record %zu ended side %d: %s", i, k, err);
    }
  }
  /* and no alert went to the peer, which would end its association */
  for (size_t i = 0; i < to_server->count; i++)
    cr_assert_neq(to_server->buf[i][0], 21, "the client sent an alert");
  for (size_t i = 0; i < to_client->count; i++)
    cr_assert_neq(to_client->buf[i][0], 21, "the server sent an alert");
  dtls_pair_free(p);
}

/* --- two engines on loopback -------------------------------------- */

#define TONE_SAMPLES 48000 /* 1 s at 48 kHz */

static int16_t tone_a[TONE_SAMPLES], tone_b[TONE_SAMPLES];

static void make_tone(int16_t *pcm, double hz) {
  for (size_t i = 0; i < TONE_SAMPLES; i++)
    pcm[i] = (int16_t)(8000.0 * sin(2.0 * M_PI * hz * (double)i / 48000.0));
}

static void tones_setup(void) {
  make_tone(tone_a, 440.0);
  make_tone(tone_b, 660.0);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L};
  nanosleep(&ts, NULL);
}

/* What one side's owner saw. */
typedef struct side {
  media *m;
  bool connected, failed, first_audio, input_done, gathered;
  int candidates;
  char failure[600];
} side;

static void no_wake(void *ud) {
  (void)ud;
}

static media *engine_new_loop(bool controlling, const int16_t *input,
                              const char *advertise, bool loop) {
  media_opts o;
  char err[256] = "";
  memset(&o, 0, sizeof o);
  o.controlling = controlling;
  o.fec = true;
  o.input = input;
  o.input_samples = TONE_SAMPLES;
  o.loop_input = loop;
  o.fingerprint_override = advertise;
  o.ice_timeout_ms = 4000;
  media *m = media_new(&o, no_wake, NULL, err, sizeof err);
  cr_assert_not_null(m, "media_new: %s", err);
  return m;
}

static media *engine_new(bool controlling, const int16_t *input,
                         const char *advertise) {
  return engine_new_loop(controlling, input, advertise, false);
}

/* Hands `from`'s events to its owner; candidates go to `to`, as the
 * signaling server would relay them. */
static void pump(side *from, side *to) {
  media_event e;
  char err[256];
  while (media_next_event(from->m, &e)) {
    switch (e.kind) {
    case MEDIA_EV_CANDIDATE:
      from->candidates++;
      cr_assert_eq(strncmp(e.text, "candidate:", 10), 0, "%s", e.text);
      cr_assert_eq(media_add_remote_candidate(to->m, e.text, err,
                                              sizeof err), 0,
                   "%s: %s", e.text, err);
      break;
    case MEDIA_EV_GATHERING_DONE:
      from->gathered = true;
      media_remote_candidates_done(to->m);
      break;
    case MEDIA_EV_CONNECTED: from->connected = true; break;
    case MEDIA_EV_FIRST_AUDIO: from->first_audio = true; break;
    case MEDIA_EV_INPUT_DONE: from->input_done = true; break;
    case MEDIA_EV_FAILED:
      from->failed = true;
      snprintf(from->failure, sizeof from->failure, "%s", e.text);
      break;
    }
  }
}

/* Offer/answer: a offers (actpass), b answers (active: DTLS client). */
static void exchange_descs(side *a, side *b) {
  media_desc da, db;
  char err[256] = "";
  media_local_desc(a->m, &da);
  cr_assert_eq(da.setup, PARLEY_SETUP_ACTPASS);
  cr_assert_str_eq(da.fp_alg, "sha-256");
  cr_assert_eq(media_set_remote(b->m, &da, err, sizeof err), 0, "%s", err);
  media_local_desc(b->m, &db);
  cr_assert_eq(db.setup, PARLEY_SETUP_ACTIVE);
  cr_assert_eq(media_set_remote(a->m, &db, err, sizeof err), 0, "%s", err);
}

/* Runs both owners' loops until done(a, b) or `limit_ms` passed. */
static void run(side *a, side *b, bool (*done)(side *, side *),
                uint64_t limit_ms) {
  uint64_t end = now_ms() + limit_ms;
  while (now_ms() < end && !done(a, b)) {
    pump(a, b);
    pump(b, a);
    sleep_ms(5);
  }
}

static bool both_connected_or_failed(side *a, side *b) {
  return (a->connected || a->failed) && (b->connected || b->failed);
}

static bool both_heard_and_sent(side *a, side *b) {
  return a->input_done && b->input_done && a->first_audio
         && b->first_audio;
}

static bool both_failed(side *a, side *b) {
  return a->failed && b->failed;
}

TestSuite(engine, .init = tones_setup, .timeout = 30);

Test(engine, loopback_call_carries_audio_both_ways) {
  side a = {.m = engine_new(true, tone_a, NULL)};
  side b = {.m = engine_new(false, tone_b, NULL)};
  exchange_descs(&a, &b);
  run(&a, &b, both_connected_or_failed, 4000);
  cr_assert(!a.failed, "offerer failed: %s", a.failure);
  cr_assert(!b.failed, "answerer failed: %s", b.failure);
  cr_assert(a.connected && b.connected);
  cr_assert_gt(a.candidates, 0);
  cr_assert(a.gathered && b.gathered);

  /* the 1 s inputs are sent, then a little tail so the last arrive */
  run(&a, &b, both_heard_and_sent, 3000);
  sleep_ms(200);
  pump(&a, &b);
  pump(&b, &a);
  cr_assert(a.first_audio && b.first_audio);

  media_quality qa, qb;
  int16_t *ha = NULL, *hb = NULL;
  size_t na = 0, nb = 0;
  media_stop(a.m, &qa, &ha, &na);
  media_stop(b.m, &qb, &hb, &nb);
  media_transport_report ta, tb;
  media_transport(a.m, &ta);
  media_transport(b.m, &tb);
  cr_log_info("ICE %.1f/%.1f ms, connected %.1f/%.1f ms, setup %.0f/%.0f "
              "ms, sent %llu/%llu received %llu/%llu, pair %s %s -> %s %s",
              ta.ice_ms, tb.ice_ms, ta.connected_ms, tb.connected_ms,
              qa.setup_ms, qb.setup_ms,
              (unsigned long long)qa.packets_sent,
              (unsigned long long)qb.packets_sent,
              (unsigned long long)qa.packets_received,
              (unsigned long long)qb.packets_received,
              ta.local_type, ta.local_addr, ta.remote_type, ta.remote_addr);
  cr_assert_gt(qa.packets_sent, 0);
  cr_assert_gt(qb.packets_sent, 0);
  cr_assert_gt(qa.packets_received, 0);
  cr_assert_gt(qb.packets_received, 0);
  cr_assert_gt(na, 0);
  cr_assert_gt(nb, 0);
  cr_assert_eq(ta.srtp_auth_fail + ta.srtp_replay, 0);
  cr_assert_eq(tb.srtp_auth_fail + tb.srtp_replay, 0);
  cr_assert_str_eq(ta.local_type, "host");
  free(ha);
  free(hb);
  media_free(a.m);
  media_free(b.m);
}

/* A fingerprint that is not the certificate's: the side that checks it
 * fails naming both values, closes DTLS, and no audio goes anywhere. */
static void wrong_fingerprint(bool offerer_lies) {
  const char *lie = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
                    "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
  side a = {.m = engine_new(true, tone_a, offerer_lies ? lie : NULL)};
  side b = {.m = engine_new(false, tone_b, offerer_lies ? NULL : lie)};
  exchange_descs(&a, &b);
  run(&a, &b, both_failed, 4000);

  side *checker = offerer_lies ? &b : &a;
  side *liar = offerer_lies ? &a : &b;
  cr_assert(checker->failed, "the checking side did not fail");
  cr_assert_not_null(strstr(checker->failure, "DTLS fingerprint mismatch"),
                     "%s", checker->failure);
  cr_assert_not_null(strstr(checker->failure, lie), "%s", checker->failure);
  cr_assert(!checker->connected);
  cr_assert(liar->failed, "the lying side was not told");

  media_quality qa, qb;
  int16_t *ha = NULL, *hb = NULL;
  size_t na = 1, nb = 1;
  media_stop(a.m, &qa, &ha, &na);
  media_stop(b.m, &qb, &hb, &nb);
  cr_assert_eq(qa.packets_received, 0);
  cr_assert_eq(qb.packets_received, 0);
  cr_assert(na == 0 && nb == 0 && !ha && !hb, "nothing was played");
  media_quality *qc = offerer_lies ? &qb : &qa;
  cr_assert_eq(qc->packets_sent, 0, "no RTP from the side that checked");
  media_free(a.m);
  media_free(b.m);
}

Test(engine, wrong_fingerprint_of_offerer_fails) {
  wrong_fingerprint(true);
}

Test(engine, wrong_fingerprint_of_answerer_fails) {
  wrong_fingerprint(false);
}

static bool both_gathered(side *a, side *b) {
  return a->gathered && b->gathered;
}

/* A peer's candidates can come before its description: an engine reports
 * its host candidates as soon as it starts, and a client may relay them
 * before its ANSWER. They wait for the peer's credentials. */
Test(engine, candidates_before_the_description) {
  side a = {.m = engine_new(true, tone_a, NULL)};
  side b = {.m = engine_new(false, tone_b, NULL)};
  run(&a, &b, both_gathered, 2000);
  cr_assert(a.gathered && b.gathered);
  exchange_descs(&a, &b);
  run(&a, &b, both_connected_or_failed, 4000);
  cr_assert(a.connected && b.connected, "%s %s", a.failure, b.failure);
  media_free(a.m);
  media_free(b.m);
}

static bool never(side *a, side *b) {
  (void)a;
  (void)b;
  return false;
}

static bool restarted(side *a, side *b) {
  media_transport_report ta, tb;
  media_transport(a->m, &ta);
  media_transport(b->m, &tb);
  return ta.ice_connects >= 2 && tb.ice_connects >= 2;
}

/* ICE restart mid-call (a rejoin): both sides take new credentials, the
 * candidates are trickled again, ICE comes up a second time and audio
 * keeps flowing over the same DTLS-SRTP session. */
Test(engine, ice_restart_keeps_the_call) {
  side a = {.m = engine_new_loop(true, tone_a, NULL, true)};
  side b = {.m = engine_new_loop(false, tone_b, NULL, true)};
  exchange_descs(&a, &b);
  run(&a, &b, both_connected_or_failed, 4000);
  cr_assert(a.connected && b.connected, "%s %s", a.failure, b.failure);
  run(&a, &b, never, 200);

  media_desc old, da, db;
  char err[256] = "";
  media_local_desc(a.m, &old);
  cr_assert_eq(media_ice_restart(a.m), 0);
  media_local_desc(a.m, &da);
  cr_assert_str_neq(da.ufrag, old.ufrag);
  cr_assert_str_neq(da.pwd, old.pwd);
  cr_assert_str_eq(da.fingerprint, old.fingerprint);
  cr_assert_eq(da.setup, PARLEY_SETUP_PASSIVE, "the offerer stays server");
  cr_assert_eq(media_ice_restart(b.m), 0);
  cr_assert_eq(media_set_remote(b.m, &da, err, sizeof err), 0, "%s", err);
  media_local_desc(b.m, &db);
  cr_assert_eq(db.setup, PARLEY_SETUP_ACTIVE);
  cr_assert_eq(media_set_remote(a.m, &db, err, sizeof err), 0, "%s", err);
  run(&a, &b, restarted, 3000);

  /* once ICE is up again, packets still arrive on both sides */
  media_transport_report ta, tb, ta2, tb2;
  media_transport(a.m, &ta);
  media_transport(b.m, &tb);
  cr_assert_geq(ta.ice_connects, 2);
  cr_assert_geq(tb.ice_connects, 2);
  run(&a, &b, never, 300);
  media_transport(a.m, &ta2);
  media_transport(b.m, &tb2);
  cr_log_info("ICE restart: up %u/%u times; SRTP in %llu/%llu before the "
              "last 300 ms, %llu/%llu after", ta2.ice_connects,
              tb2.ice_connects, (unsigned long long)ta.srtp_in,
              (unsigned long long)tb.srtp_in,
              (unsigned long long)ta2.srtp_in,
              (unsigned long long)tb2.srtp_in);
  cr_assert(!a.failed && !b.failed, "%s %s", a.failure, b.failure);
  cr_assert_gt(ta2.srtp_in, ta.srtp_in);
  cr_assert_gt(tb2.srtp_in, tb.srtp_in);
  media_free(a.m);
  media_free(b.m);
}

/* No candidate ever comes: the connect deadline ends the leg. */
Test(engine, ice_timeout_fails_with_reason) {
  media_opts o;
  char err[256] = "";
  memset(&o, 0, sizeof o);
  o.ice_timeout_ms = 300;
  side a = {.m = media_new(&o, no_wake, NULL, err, sizeof err)};
  cr_assert_not_null(a.m, "%s", err);
  media_desc d;
  media_local_desc(a.m, &d);
  d.setup = PARLEY_SETUP_ACTIVE; /* a made-up peer */
  cr_assert_eq(media_set_remote(a.m, &d, err, sizeof err), 0, "%s", err);
  uint64_t end = now_ms() + 3000;
  media_event e;
  while (now_ms() < end && !a.failed) {
    while (media_next_event(a.m, &e)) {
      if (e.kind == MEDIA_EV_FAILED) {
        a.failed = true;
        snprintf(a.failure, sizeof a.failure, "%s", e.text);
      }
    }
    sleep_ms(10);
  }
  cr_assert(a.failed);
  cr_assert_not_null(strstr(a.failure, "ICE did not connect within 300 ms"),
                     "%s", a.failure);
  media_free(a.m);
}

/* What the owner hands in is checked before it reaches the agent. */
Test(engine, bad_inputs_refused) {
  media_opts o;
  char err[256] = "";
  memset(&o, 0, sizeof o);
  o.fingerprint_override = "not a fingerprint";
  cr_assert_null(media_new(&o, no_wake, NULL, err, sizeof err));
  o.fingerprint_override = NULL;
  o.stun = "no-port-here";
  cr_assert_null(media_new(&o, no_wake, NULL, err, sizeof err));
  cr_assert_not_null(strstr(err, "HOST:PORT"), "%s", err);
  o.stun = NULL;

  media *m = media_new(&o, no_wake, NULL, err, sizeof err);
  cr_assert_not_null(m, "%s", err);
  media_desc d;
  media_local_desc(m, &d);
  strcpy(d.fingerprint, "AB:CD");
  cr_assert_eq(media_set_remote(m, &d, err, sizeof err), -1);
  media_local_desc(m, &d);
  d.setup = PARLEY_SETUP_NONE;
  cr_assert_eq(media_set_remote(m, &d, err, sizeof err), -1);
  cr_assert_eq(media_add_remote_candidate(
                 m, "candidate:1 1 tcp 2130706431 127.0.0.1 9 typ host "
                 "tcptype passive", err, sizeof err), -1);
  cr_assert_eq(media_add_remote_candidate(m, "garbage", err, sizeof err),
               -1);
  media_free(m);
}

/* Datagrams that are neither DTLS nor RTP/RTCP by their first octet
 * (RFC 7983), and RTP-looking ones too large for any packet of a call,
 * are dropped and counted as dropped_other; an RTP-looking one before
 * SRTP is up counts as dropped_early. */
Test(engine, foreign_datagrams_are_counted) {
  static uint8_t big[4000];
  static const uint8_t other[][4] = {
    {0x40, 1, 2, 3}, {0xc5, 0, 0, 0}, {0xff, 1, 1, 1}, {0x10, 0, 0, 1},
  };
  media *m = engine_new(true, tone_a, NULL);
  for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
    engine_on_datagram(m, other[i], sizeof other[i]);
  big[0] = 0x80;
  engine_on_datagram(m, big, sizeof big);
  engine_on_datagram(m, big, 12);
  media_transport_report t;
  media_transport(m, &t);
  cr_assert_eq(t.dropped_other, 5);
  cr_assert_eq(t.dropped_early, 1);
  media_free(m);
}
