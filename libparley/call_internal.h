/* Internal state of the client call machine, shared by call.c and
 * call_sdp.c. Not installed. */
#ifndef PARLEY_CALL_INTERNAL_H
#define PARLEY_CALL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/call.h"

/* Where the offer/answer exchange of the current negotiation stands. */
typedef enum ca_neg {
  CA_NEG_NONE = 0,
  CA_NEG_WANT_OFFER,  /* this side offers once it has its description */
  CA_NEG_OFFER_SENT,  /* waiting for the ANSWER */
  CA_NEG_WANT_ANSWER, /* an OFFER came; answer once the description is in */
  CA_NEG_DONE         /* both descriptions are set */
} ca_neg;

/* One m= section of the remote offer, mirrored in the answer. */
typedef struct ca_section {
  char kind[16];
  char proto[32];
  char mid[33];
} ca_section;

/* A queued action and the buffer its pointers point into. */
typedef struct ca_item {
  parley_call_action a;
  char *owned;
} ca_item;

/* A candidate-attribute kept as text. */
typedef char ca_cand[PARLEY_CANDIDATE_MAX + 1];

struct parley_call {
  char user[PARLEY_USER_MAX + 1];
  char device[PARLEY_ID_MAX + 1];
  char ring_from[PARLEY_USER_MAX + 1];
  uint32_t answer_timeout_ms;
  uint32_t connect_timeout_ms;
  bool fec;
  uint64_t sess_id;
  uint64_t sess_version;

  parley_call_state state;
  parley_call_role role;
  char call_id[PARLEY_ID_MAX + 1];
  char conv[PARLEY_ID_MAX + 1];
  char peer[PARLEY_USER_MAX + 1];
  char peer_device[PARLEY_ID_MAX + 1];
  bool have_peer;
  bool online;        /* the client core is READY */
  bool participant;   /* the server counts this device in the call */
  bool rejoining;     /* JOIN rejoin sent, PARTICIPANTS not yet in */
  bool cancel_on_ok;  /* hung up before the call had an id */

  bool media_started;
  bool media_up;      /* the engine said connected, and not failed */
  bool was_connected;
  bool local_ready;   /* `local` holds the engine's current description */
  bool desc_asked;    /* MEDIA_LOCAL_DESC issued, answer pending */
  parley_call_desc local;
  ca_cand *cands;     /* local candidates of the current ICE generation */
  size_t cand_count, cand_cap;
  size_t cand_sent;   /* how many went out since this side's SDP */
  bool gathering_done;
  bool eoc_sent;
  bool sdp_sent;      /* this side's OFFER/ANSWER of this negotiation */

  bool remote_set;
  char remote_ufrag[257];
  ca_cand *rcands;    /* remote candidates that came before the SDP */
  size_t rcand_count, rcand_cap;
  bool reoc_pending;  /* END-OF-CANDIDATES came before the SDP */
  size_t rcand_total; /* remote candidates taken for this description */
  bool rcand_warned;  /* the warning about dropped ones went out */

  ca_neg neg;
  bool restart_offer; /* the next OFFER carries ice-restart: yes */
  parley_sdp_setup my_setup;      /* NONE until this side's first SDP */
  parley_sdp_setup remote_setup;  /* the peer's first setup */
  parley_sdp_setup offer_setup;   /* the setup of the last remote offer */
  ca_section sections[PARLEY_SDP_MEDIA_MAX]; /* the remote offer's */
  size_t section_count;
  size_t audio_section;

  uint64_t answer_deadline;  /* 0: none */
  uint64_t connect_deadline; /* 0: none */
  uint64_t armed_at;
  bool oom;

  ca_item *items;
  size_t item_head, item_count, item_cap;
};

/* call_sdp.c. The mid of the audio section: the one a remote offer
 * gave it, else "0" (this side's own offer). */
const char *ca_audio_mid(const parley_call *call);

/* call_sdp.c. Writes this side's offer (or answer, mirroring the remote
 * offer's sections) into a malloc'd NUL-terminated string. Returns NULL
 * when memory runs out or the writer refuses. */
char *ca_sdp_write(parley_call *call, bool offer, size_t *len);

/* Reads a remote SDP body and picks its audio section into *remote and,
 * for an offer, call->sections. Returns the parsed SDP (malloc'd, the
 * caller frees) or NULL with a reason for people in why. */
parley_sdp *ca_sdp_read(parley_call *call, const char *body, size_t len,
                        bool offer, parley_call_desc *remote,
                        size_t *audio_idx, char *why, size_t cap);

#endif
