/* SRTP sessions of a call leg: see srtp.h.
 *
 * libsrtp2 must be initialised once per process before any session is
 * made; msrtp_global_init does it under pthread_once, so two engines in
 * one process (the tests) share it. The library is never shut down:
 * srtp_shutdown would pull the ground from under another engine still
 * running, and the process ends soon after the last call anyway. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <srtp2/srtp.h>

#include "srtp.h"

_Static_assert(MSRTP_TRAILER_MAX <= SRTP_MAX_TRAILER_LEN,
               "trailer room below libsrtp's own maximum");

struct msrtp {
  srtp_t tx;  /* protects what we send */
  srtp_t rx;  /* checks what we receive */
  msrtp_counts counts;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static srtp_err_status_t init_status = srtp_err_status_fail;

static void init_library(void) {
  init_status = srtp_init();
}

int msrtp_global_init(char *err, size_t cap) {
  pthread_once(&init_once, init_library);
  if (init_status != srtp_err_status_ok) {
    snprintf(err, cap, "srtp_init failed (libsrtp2 status %d)",
             (int)init_status);
    return -1;
  }
  return 0;
}

/* Makes one session for key||salt in `key30`, for SSRCs of `type`. */
static srtp_t session_new(const uint8_t *key30, srtp_ssrc_type_t type,
                          char *err, size_t cap) {
  srtp_policy_t policy;
  memset(&policy, 0, sizeof policy);
  srtp_crypto_policy_set_rtp_default(&policy.rtp);
  srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
  policy.ssrc.type = type;
  policy.key = (unsigned char *)key30;
  policy.window_size = 128;
  policy.allow_repeat_tx = 0;
  policy.next = NULL;

  srtp_t session = NULL;
  srtp_err_status_t st = srtp_create(&session, &policy);
  if (st != srtp_err_status_ok) {
    snprintf(err, cap, "srtp_create failed (libsrtp2 status %d)", (int)st);
    return NULL;
  }
  return session;
}

msrtp *msrtp_new(const uint8_t material[MSRTP_MATERIAL_LEN], bool is_client,
                 char *err, size_t cap) {
  if (msrtp_global_init(err, cap) != 0)
    return NULL;

  /* RFC 5764 4.2: client key | server key | client salt | server salt. */
  const uint8_t *client_key = material;
  const uint8_t *server_key = material + MSRTP_KEY_LEN;
  const uint8_t *client_salt = material + 2 * MSRTP_KEY_LEN;
  const uint8_t *server_salt = client_salt + MSRTP_SALT_LEN;
  uint8_t client[MSRTP_KEY_LEN + MSRTP_SALT_LEN];
  uint8_t server[MSRTP_KEY_LEN + MSRTP_SALT_LEN];
  memcpy(client, client_key, MSRTP_KEY_LEN);
  memcpy(client + MSRTP_KEY_LEN, client_salt, MSRTP_SALT_LEN);
  memcpy(server, server_key, MSRTP_KEY_LEN);
  memcpy(server + MSRTP_KEY_LEN, server_salt, MSRTP_SALT_LEN);

  msrtp *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, cap, "out of memory");
    return NULL;
  }
  s->tx = session_new(is_client ? client : server, ssrc_any_outbound,
                      err, cap);
  if (s->tx)
    s->rx = session_new(is_client ? server : client, ssrc_any_inbound,
                        err, cap);
  memset(client, 0, sizeof client);
  memset(server, 0, sizeof server);
  if (!s->tx || !s->rx) {
    msrtp_free(s);
    return NULL;
  }
  return s;
}

void msrtp_free(msrtp *s) {
  if (!s)
    return;
  if (s->tx)
    srtp_dealloc(s->tx);
  if (s->rx)
    srtp_dealloc(s->rx);
  free(s);
}

bool msrtp_is_rtcp(const uint8_t *buf, size_t len) {
  return len >= 2 && buf[1] >= 192 && buf[1] <= 223;
}

msrtp_result msrtp_protect(msrtp *s, uint8_t *buf, size_t *len) {
  if (*len < 8 || *len > 1400)
    return MSRTP_FAIL;
  int n = (int)*len;
  bool rtcp = msrtp_is_rtcp(buf, *len);
  srtp_err_status_t st = rtcp ? srtp_protect_rtcp(s->tx, buf, &n)
                              : srtp_protect(s->tx, buf, &n);
  if (st != srtp_err_status_ok)
    return MSRTP_FAIL;
  *len = (size_t)n;
  if (rtcp)
    s->counts.protected_rtcp++;
  else
    s->counts.protected_rtp++;
  return MSRTP_OK;
}

msrtp_result msrtp_unprotect(msrtp *s, uint8_t *buf, size_t *len) {
  if (*len < 12 || *len > 2048) {
    s->counts.other_fail++;
    return MSRTP_FAIL;
  }
  int n = (int)*len;
  bool rtcp = msrtp_is_rtcp(buf, *len);
  srtp_err_status_t st = rtcp ? srtp_unprotect_rtcp(s->rx, buf, &n)
                              : srtp_unprotect(s->rx, buf, &n);
  switch (st) {
  case srtp_err_status_ok:
    *len = (size_t)n;
    if (rtcp)
      s->counts.unprotected_rtcp++;
    else
      s->counts.unprotected_rtp++;
    return MSRTP_OK;
  case srtp_err_status_auth_fail:
    s->counts.auth_fail++;
    return MSRTP_AUTH_FAIL;
  case srtp_err_status_replay_fail:
  case srtp_err_status_replay_old:
    s->counts.replay++;
    return MSRTP_REPLAY;
  default:
    s->counts.other_fail++;
    return MSRTP_FAIL;
  }
}

void msrtp_get_counts(const msrtp *s, msrtp_counts *out) {
  *out = s->counts;
}
