/* The client side of one call (spec section 19), as a sans-I/O state
 * machine.
 *
 * The host feeds it user intents (place a call, accept, decline, hang
 * up, mute), the call frames the client core hands over (EV_CALL), the
 * core's session events (READY, disconnected), media events (the local
 * description, local candidates, gathering done, connected, failed) and
 * the time. It drains actions: call frames to send through
 * parley_client_call_send, commands for the media engine, a timer, and
 * events for the user. The machine touches no socket, clock or media
 * library; SDP bodies are written and read with parley/sdp.h.
 *
 *   caller: IDLE -place-> CALLING -OK(call)-> RINGING_OUT -JOINED->
 *           NEGOTIATING (the callee offers, the caller answers)
 *   callee: IDLE -RING-> RINGING_IN -accept-> JOINING -PARTICIPANTS->
 *           NEGOTIATING (the joiner offers to the caller)
 *   both:   NEGOTIATING -media connected-> CONNECTED
 *           any -CALL-END, hang up, decline, RING-STOP, a timeout, a
 *           refusal, media failure, bad remote SDP-> ENDED
 *
 * The offer carries one m=audio section (UDP/TLS/RTP/SAVPF, opus/48000/2
 * as payload type 111, rtcp-mux, mid 0, ice-options trickle) with the
 * media engine's ICE credentials and DTLS fingerprint; setup is actpass
 * in every OFFER and active in every ANSWER (CALLCLI-4; the DTLS
 * association of the first exchange stays through an ICE restart; an
 * offer that itself says active is answered passive). Candidates are
 * trickled as CANDIDATE frames after the side's own OFFER or ANSWER, then
 * END-OF-CANDIDATES.
 *
 * After a reconnect (EV_READY with `reconnected`) while the user is a
 * participant, the machine sends JOIN with rejoin: yes, then restarts
 * ICE and sends OFFER with ice-restart: yes and the new credentials to
 * the other participant. One remote participant is supported (1:1 media);
 * in a group call the first other participant listed is the peer. */
#ifndef PARLEY_CALL_H
#define PARLEY_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/client.h"
#include "parley/sdp.h"

/* The text of the failed end of a call that a second other participant
 * joined: the reference client does 1:1 media only. */
#define PARLEY_CALL_GROUP_UNSUPPORTED \
  "group calls with more than two participants are not supported by " \
  "parley-client"

typedef enum parley_call_state {
  PARLEY_CALL_IDLE = 0,
  PARLEY_CALL_CALLING,     /* CALL sent, no call id yet */
  PARLEY_CALL_RINGING_OUT, /* the call rings at the other members */
  PARLEY_CALL_RINGING_IN,  /* a RING came; the user may accept */
  PARLEY_CALL_JOINING,     /* JOIN sent, the participants not known */
  PARLEY_CALL_NEGOTIATING, /* offer/answer, ICE and DTLS under way */
  PARLEY_CALL_CONNECTED,   /* media flows */
  PARLEY_CALL_ENDED
} parley_call_state;

typedef enum parley_call_role {
  PARLEY_CALL_NO_ROLE = 0,
  PARLEY_CALL_CALLER = 1,
  PARLEY_CALL_CALLEE = 2
} parley_call_role;

/* ICE credentials and DTLS fingerprint of one side; `setup` is used only
 * for the remote side (what its SDP said). */
typedef struct parley_call_desc {
  char ufrag[257];
  char pwd[257];
  char fp_alg[16];       /* "sha-256" */
  char fingerprint[200]; /* "AB:CD:..." */
  parley_sdp_setup setup;
} parley_call_desc;

typedef enum parley_call_action_kind {
  PARLEY_CALL_SEND = 1,       /* parley_client_call_send(verb, headers,
                                 content_type, body) */
  PARLEY_CALL_TIMER,          /* call parley_call_on_time at `at_ms`;
                                 replaces the earlier TIMER; 0: none */
  PARLEY_CALL_MEDIA_START,    /* start the media engine, ICE
                                 `controlling` when this side sends the
                                 first OFFER (the callee, MEDIA-1); it
                                 comes when the engine is first needed:
                                 the callee's offer, the caller's answer;
                                 feed its events from now on */
  PARLEY_CALL_MEDIA_LOCAL_DESC, /* read the engine's local description
                                 and give it to parley_call_on_local_desc */
  PARLEY_CALL_MEDIA_REMOTE,   /* set the remote description `remote` */
  PARLEY_CALL_MEDIA_CANDIDATE, /* add the remote candidate `text` */
  PARLEY_CALL_MEDIA_CANDIDATES_DONE, /* the peer has no more candidates */
  PARLEY_CALL_MEDIA_ICE_RESTART, /* restart ICE (new local credentials) */
  PARLEY_CALL_MEDIA_STOP,     /* stop the media engine */
  PARLEY_CALL_EV_STATE,       /* the state is now `state` */
  PARLEY_CALL_EV_RINGING,     /* RINGING_IN: `peer` calls in `conv`;
                                 RINGING_OUT: the call rings */
  PARLEY_CALL_EV_CONNECTED,   /* media flows with `peer` */
  PARLEY_CALL_EV_PEER_MEDIA,  /* `peer` turned audio/video/screen */
  PARLEY_CALL_EV_PEER_LEFT,   /* `peer` left (`reason`) */
  PARLEY_CALL_EV_WARNING,     /* something went wrong, the call goes on:
                                 `text` */
  PARLEY_CALL_EV_ENDED        /* the call is over: `reason`, `failed`,
                                 `text`, `err` */
} parley_call_action_kind;

/* One action. Pointers in it stay valid until the next call into the
 * machine; the host copies what it keeps. */
typedef struct parley_call_action {
  parley_call_action_kind kind;
  /* SEND */
  const char *verb;
  parley_call_header headers[PARLEY_CALL_HEADERS_MAX];
  size_t header_count;
  const char *content_type; /* NULL: no body */
  const char *body;
  size_t body_len;
  /* TIMER */
  uint64_t at_ms;
  /* MEDIA_START */
  bool controlling;
  /* MEDIA_REMOTE */
  parley_call_desc remote;
  /* MEDIA_CANDIDATE: the candidate; EV_WARNING, EV_ENDED: for people */
  const char *text;
  /* EV_STATE */
  parley_call_state state;
  /* events */
  char call[PARLEY_ID_MAX + 1];
  char conv[PARLEY_ID_MAX + 1];
  char peer[PARLEY_USER_MAX + 1];
  char peer_device[PARLEY_ID_MAX + 1];
  char reason[64];  /* EV_ENDED: completed, hangup, declined, cancelled,
                       no-answer, disconnected, failed, answered-elsewhere,
                       ...; EV_PEER_LEFT: LEFT's reason */
  bool failed;      /* EV_ENDED: the call did not connect, or it ended
                       for another reason than a hang-up or completion */
  bool was_connected; /* EV_ENDED: media flowed at some point */
  parley_err err;   /* EV_ENDED: the server's refusal, if that ended it */
  bool audio, video, screen; /* EV_PEER_MEDIA */
} parley_call_action;

typedef struct parley_call_config {
  const char *user;    /* copied: this user */
  const char *device;  /* copied: this device */
  const char *ring_from; /* copied, may be NULL: RINGs from other users
                            are ignored */
  uint32_t answer_timeout_ms;  /* CALL to the callee's JOIN; 0: 30000 */
  uint32_t connect_timeout_ms; /* joined to media connected; 0: 20000 */
  bool fec;            /* a=fmtp useinbandfec=1 */
  uint64_t seed;       /* SDP session id */
} parley_call_config;

typedef struct parley_call parley_call;

/* Returns a machine in IDLE, or NULL for a bad user or device or when
 * memory runs out. */
parley_call *parley_call_new(const parley_call_config *cfg);
void parley_call_free(parley_call *call);

/* User intents. Each returns PARLEY_OK, or PARLEY_E_BAD_STATE when the
 * machine is not in a state that allows it (nothing happens then), or
 * PARLEY_E_BAD_VALUE for a bad argument. */
parley_err parley_call_place(parley_call *call, const char *conv,
                             uint64_t now_ms);  /* IDLE */
parley_err parley_call_accept(parley_call *call,
                              uint64_t now_ms); /* RINGING_IN */
parley_err parley_call_decline(parley_call *call,
                               uint64_t now_ms); /* RINGING_IN */
/* Any state but IDLE and ENDED; declines while RINGING_IN. */
parley_err parley_call_hangup(parley_call *call, uint64_t now_ms);
/* Sends MEDIA-STATE; a joined participant only. */
parley_err parley_call_media_state(parley_call *call, bool audio,
                                   bool video, bool screen,
                                   uint64_t now_ms);

/* The client core's events. */
void parley_call_on_frame(parley_call *call, const parley_call_frame *f,
                          uint64_t now_ms);
/* EV_READY (`reconnected` as it says) and EV_DISCONNECTED. */
void parley_call_on_ready(parley_call *call, bool reconnected,
                          uint64_t now_ms);
void parley_call_on_disconnected(parley_call *call, uint64_t now_ms);
/* A SEND action could not be sent (parley_client_call_send's error). */
void parley_call_on_send_failed(parley_call *call, parley_err err,
                                uint64_t now_ms);

/* Media events. */
void parley_call_on_local_desc(parley_call *call,
                               const parley_call_desc *local,
                               uint64_t now_ms);
/* text: the candidate-attribute ("candidate:..."). */
void parley_call_on_local_candidate(parley_call *call, const char *text,
                                    uint64_t now_ms);
void parley_call_on_gathering_done(parley_call *call, uint64_t now_ms);
void parley_call_on_media_connected(parley_call *call, uint64_t now_ms);
/* why: for people, e.g. "DTLS fingerprint mismatch: ...". */
void parley_call_on_media_failed(parley_call *call, const char *why,
                                 uint64_t now_ms);

void parley_call_on_time(parley_call *call, uint64_t now_ms);

/* Takes the next queued action; returns false when there is none. */
bool parley_call_next_action(parley_call *call, parley_call_action *out);

/* Queries. */
parley_call_state parley_call_get_state(const parley_call *call);
parley_call_role parley_call_get_role(const parley_call *call);
/* The call id ("" before the server named it). */
const char *parley_call_id(const parley_call *call);
/* "idle", "calling", ... for logs. */
const char *parley_call_state_name(parley_call_state state);

#endif
