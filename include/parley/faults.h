/* Planted protocol faults: the mutation test's switches.
 *
 * A test build of the server core (parley_server_core_faults) and of the
 * reference server (parley-server-faults) is compiled with PARLEY_FAULTS
 * defined. Such a build takes one fault at run time
 * (parley_server_config.fault, or `parley-server-faults --fault NAME`)
 * and then makes that one protocol mistake, the kind a real server could
 * make. The conformance suite must fail against each of them
 * (tests/e2e/test_conform_mutants.py, conformance/MUTANTS.md).
 *
 * In the code a fault is one marked branch, `if (PARLEY_FAULT(cfg, X))`
 * (parley/server.h); without PARLEY_FAULTS the macro is constant false,
 * so the normal builds hold no fault code and no fault name. This header
 * is for test builds only. */
#ifndef PARLEY_FAULTS_H
#define PARLEY_FAULTS_H

#ifndef PARLEY_FAULTS
#error "parley/faults.h belongs to the test builds (PARLEY_FAULTS) only"
#endif

/* X(ID, "name", "what it breaks"), in the order of the spec's sections. */
#define PARLEY_FAULT_LIST(X)                                                 \
  X(WS_FRAGMENTS_AS_MESSAGES, "ws-fragments-as-messages",                   \
    "each piece of a WebSocket message is parsed as a message of its own")  \
  X(UNKNOWN_HEADER_REJECTED, "unknown-header-rejected",                     \
    "a header the spec does not define gets bad-header-name")               \
  X(UNKNOWN_VERB_AS_BAD_START_LINE, "unknown-verb-as-bad-start-line",       \
    "an unknown verb in READY gets bad-start-line, not unknown-verb")       \
  X(MISSING_HEADER_AS_BAD_VALUE, "missing-header-as-bad-value",             \
    "a missing required header gets bad-value, not missing-header")         \
  X(ERROR_WITHOUT_REQ, "error-without-req",                                 \
    "ERROR never carries the req of the frame it answers")                  \
  X(SECOND_HELLO_WELCOMED, "second-hello-welcomed",                         \
    "a HELLO after WELCOME gets another WELCOME, not bad-state")            \
  X(WELCOME_WITHOUT_RATE_BURST, "welcome-without-rate-burst",               \
    "WELCOME leaves out rate-burst")                                        \
  X(EXPIRED_TOKEN_ACCEPTED, "expired-token-accepted",                       \
    "AUTH checks only the signature: an expired token gets READY")          \
  X(TOKEN_SIGNATURE_UNCHECKED, "token-signature-unchecked",                 \
    "AUTH trusts the token's payload without checking its signature")       \
  X(TOKEN_EXPIRY_NOT_ENFORCED, "token-expiry-not-enforced",                 \
    "a READY session outlives its token")                                   \
  X(PONG_WITHOUT_NONCE, "pong-without-nonce",                               \
    "PONG does not copy the nonce of the PING")                             \
  X(HEARTBEAT_NOT_ENFORCED, "heartbeat-not-enforced",                       \
    "a session silent for two heartbeat intervals stays open")              \
  X(ACK_BEFORE_COMMIT, "ack-before-commit",                                 \
    "ACK is sent before the message is durable")                            \
  X(DEDUP_OFF, "dedup-off",                                                 \
    "a SEND that repeats a temp-id is stored as a second message")          \
  X(DEDUP_KEY_NO_DEVICE, "dedup-key-no-device",                             \
    "temp-ids are remembered per user, not per user and device")            \
  X(DEDUP_KEY_TEMP_ID_ONLY, "dedup-key-temp-id-only",                       \
    "temp-ids are remembered server-wide, shared by every user")            \
  X(DEDUP_IGNORES_BODY, "dedup-ignores-body",                               \
    "a repeat with another body gets the first ACK, not temp-id-conflict")  \
  X(MAX_BODY_UNCHECKED, "max-body-unchecked",                               \
    "a SEND body longer than max-body is stored")                           \
  X(SEQ_REUSE, "seq-reuse",                                                 \
    "seq counts only durable messages: SENDs in flight share a number")     \
  X(SEQ_GAP, "seq-gap",                                                     \
    "a retried SEND takes a seq before the dedup check: a gap follows")     \
  X(FANOUT_SKIPS_SENDER_DEVICES, "fanout-skips-sender-devices",             \
    "a message never reaches the sender's other devices")                   \
  X(FANOUT_SKIPS_LAST_MEMBER, "fanout-skips-last-member",                   \
    "in a group of three or more, events never reach the last member")      \
  X(RECEIPT_BACKWARDS, "receipt-backwards",                                 \
    "a receipt at or below the kept value is stored and relayed again")     \
  X(RECEIPT_PAST_END, "receipt-past-end",                                   \
    "a receipt past the conversation's last seq is accepted")               \
  X(SYNC_SINCE_INCLUSIVE, "sync-since-inclusive",                           \
    "SYNC with since P sends the event at P again")                         \
  X(HISTORY_CURSOR_INCLUSIVE, "history-cursor-inclusive",                   \
    "the next history page repeats the message its cursor points past")     \
  X(HISTORY_MORE_WHEN_FULL, "history-more-when-full",                       \
    "PAGE says more: yes whenever the page is full, also at the end")       \
  X(TYPING_IGNORES_CAPABILITY, "typing-ignores-capability",                 \
    "TYPING is relayed to sessions that did not negotiate typing")          \
  X(TYPING_ECHOED_TO_SENDER, "typing-echoed-to-sender",                     \
    "TYPING is relayed to the sender's own sessions too")                   \
  X(PRESENCE_NEVER_EXPIRES, "presence-never-expires",                       \
    "a presence ttl lapses without offline being relayed")                  \
  X(NONMEMBER_LEAK, "nonmember-leak",                                       \
    "not-found for an existing conversation says the user is no member")    \
  X(RECEIPT_SEQ_BEFORE_MEMBERSHIP, "receipt-seq-before-membership",         \
    "a receipt's seq is checked before membership (bad-value leaks)")       \
  X(RATE_LIMIT_OFF, "rate-limit-off",                                       \
    "the per-session rate bucket never runs empty")                         \
  X(HTTP_TOKEN_EXPIRY_UNCHECKED, "http-token-expiry-unchecked",             \
    "the HTTP API accepts an expired bearer token")                         \
  X(RING_IGNORES_CAPABILITY, "ring-ignores-capability",                     \
    "RING reaches sessions that did not negotiate calls")                   \
  X(CALL_MEMBERSHIP_UNCHECKED, "call-membership-unchecked",                 \
    "call frames of a user who is no member of the call's conversation "    \
    "are taken")                                                            \
  X(TO_DEVICE_UNCHECKED, "to-device-unchecked",                             \
    "a relay goes to the addressee's device in the call, whatever "         \
    "to-device names")                                                      \
  X(ANSWER_WITHOUT_OFFER_ALLOWED, "answer-without-offer-allowed",           \
    "ANSWER is relayed with no OFFER pending from the participant it "      \
    "addresses")                                                            \
  X(RELAY_MALFORMED_CANDIDATE, "relay-malformed-candidate",                 \
    "CANDIDATE is relayed without checking the candidate grammar")          \
  X(RELAY_MALFORMED_SDP, "relay-malformed-sdp",                             \
    "an SDP body is relayed without checking the grammar and the profile")  \
  X(NO_CALL_END_ON_HANGUP, "no-call-end-on-hangup",                         \
    "HANGUP in an active call only takes the sender out: no CALL-END")

typedef enum parley_fault {
  PARLEY_FAULT_NONE = 0,
#define PARLEY_FAULT_ENUM_(id, name, what) PARLEY_FAULT_##id,
  PARLEY_FAULT_LIST(PARLEY_FAULT_ENUM_)
#undef PARLEY_FAULT_ENUM_
  PARLEY_FAULT_COUNT
} parley_fault;

/* The fault named `name` ("seq-reuse"), or PARLEY_FAULT_NONE when there
 * is none of that name. */
parley_fault parley_fault_by_name(const char *name);
/* The name and the one-line description of fault f (a static string),
 * or NULL for PARLEY_FAULT_NONE and values out of range. */
const char *parley_fault_name(parley_fault f);
const char *parley_fault_what(parley_fault f);

#endif
