/*
 * parley.pml: a Promela model of the delivery rules of Parley/1
 * (spec/parley-1.md sections 5, 6, 8.1 and 11; what it proves is
 * written in section 11.1 of the spec). Checked with spin; see README.md
 * and check.py.
 *
 * What is modelled, as the spec words it:
 * - Clients (NC devices, one conversation they are all members of) send
 *   NM messages in all, each with a temp-id of its own; a message is
 *   named here by its number m, which stands for (device, temp-id).
 *   A client keeps a message until its ACK (SEND-5) and, after every
 *   reconnect, sends SYNC from the last position it holds and then
 *   every unACKed message again with the same temp-id.
 * - The server dedups by (device, temp-id) (SEND-3, SEND-7): a repeat of
 *   a committed message gets the first ACK again; a repeat of a pending
 *   one gets its ACK once it commits. It appends a new SEND to its
 *   pending queue; a commit makes the oldest pending append durable and
 *   gives it the next seq (SEND-2, DUR-2: only a prefix is ever durable).
 *   After the commit, and only then, it sends the ACK and the live MSG
 *   to every connected session, in seq order (SEND-1, DUR-1, DELIV-1,
 *   DELIV-2). SYNC is answered from the durable log (SYNC-1).
 * - A client shows a MSG whose seq follows the last one it shows, drops
 *   a repeat (DELIV-4) and, on a gap, drops the MSG and sends SYNC again
 *   from its position once the previous SYNC is answered (DELIV-5,
 *   SYNC-4).
 * - Faults, each bounded: a frame lost (the connection it was on then
 *   resets, as TCP does when it gives up), a frame duplicated, a frame
 *   overtaking the one ahead of it, a connection reset (everything in
 *   flight on it is lost), and a crash of the server that keeps the
 *   durable log and loses the pending appends, the sessions and what
 *   was in flight.
 *
 * What is abstracted away: the bytes of frames, bodies and content
 * types (SEND-4's conflict check), authentication, heartbeats, rate
 * limits, receipts, typing, presence, HISTORY (a gap is filled with
 * SYNC), more than one conversation, ts and msg-id (a message's
 * identity is m; the seq is its place), the dedup window (it is taken as
 * longer than any run: the model never forgets a key), and positions,
 * which in a one-conversation stream of messages are the seq of the
 * last message held (the reference server's event count).
 *
 * Planted faults, for showing that the check can fail:
 *   -DPLANT_ACK_BEFORE_COMMIT  the server ACKs a new SEND on receipt
 *   -DPLANT_DEDUP_OFF          the server appends every SEND, repeat or not
 *   -DPLANT_NO_RETRY           a client never sends a message again
 *                              (breaks the liveness property only)
 */

#ifndef NC
#define NC 2            /* clients (devices), 2 or 3 */
#endif
#ifndef NM
#define NM 3            /* messages sent in all */
#endif
#ifndef MAX_CRASH
#define MAX_CRASH 1
#endif
#ifndef MAX_LOSS
#define MAX_LOSS 2
#endif
#ifndef MAX_DUP
#define MAX_DUP 1
#endif
#ifndef MAX_REORDER
#define MAX_REORDER 1
#endif
#ifndef MAX_RESET
#define MAX_RESET 1
#endif

#define LOGCAP (NM + 3) /* the log is longer than NM only with dedup off */
/* Frames in flight per direction and client. A session gets at most a
 * SYNC answer (NM MSGs and SYNCED), NM live MSGs and NM ACKs, one more
 * for a duplicate: the assertion in PUT checks that this is enough. */
#ifndef QS
#define QS (3 * NM + 2)
#endif

mtype = { SEND, SYNC, ACK, MSG, SYNCED };

/* c2s: SEND(m) or SYNC(since); s2c: ACK(m, seq), MSG(seq, m),
 * SYNCED(pos). */
chan c2s[NC] = [QS] of { mtype, byte, byte };
chan s2c[NC] = [QS] of { mtype, byte, byte };

/* ---- the server ---- */
byte lg[LOGCAP + 1];      /* durable: lg[s] is the message of seq s */
byte ncommit;             /* durable: the last seq committed */
byte pend[LOGCAP];        /* volatile: appends waiting for a commit */
byte npend;
byte announced;           /* volatile: seqs whose ACK and MSG went out */
bit ackowed[NM];          /* volatile: a live session waits for m's ACK */
bit up[NC];               /* a session of client c is open */

/* ---- the clients ---- */
byte shown[NC];           /* last seq shown in order: the position held */
bit isshown[NC * NM];     /* message m shown by client c (display dedup) */
byte composed[NC];        /* messages the user of c has written so far */
bit acked[NM];            /* the sender holds m's ACK */
byte nacked;

/* ---- the faults ---- */
byte ncrash, nloss, ndup, nreorder, nreset;
bit broken[NC];           /* a frame of c's connection was lost */

/* ---- scratch for d_steps, not part of the state ---- */
hidden byte h_i, h_m, h_s, h_t;

#define OWNER(m)    ((m) % NC)          /* message m is sent by OWNER(m) */
#define NOWN(c)     ((NM - (c) + NC - 1) / NC)
#define MSGNO(c, k) ((k) * NC + (c))    /* the k-th message of client c */
#define SHOWN(c, m) isshown[(c) * NM + (m)]
#define DONE \
  (nacked == NM && shown[0] == NM && shown[1] == NM && \
   (NC < 3 || shown[NC - 1] == NM))

/* Puts a frame on a queue; the bound QS must never be what stops it. */
#define PUT(q, t, a, b) assert(nfull(q)); q!t, a, b

/* Empties both queues of client c and closes its session. */
inline close_conn(c) {
  up[c] = 0;
  broken[c] = 0;
  do
  :: c2s[c]?_, _, _
  :: empty(c2s[c]) -> break
  od;
  do
  :: s2c[c]?_, _, _
  :: empty(s2c[c]) -> break
  od;
  h_m = c;
  do
  :: h_m < NM -> ackowed[h_m] = 0; h_m = h_m + NC
  :: else -> break
  od
}

/* The ACK of message m, whose seq is s, to its sender's open session. */
inline send_ack(m, s) {
  if
  :: up[OWNER(m)] -> PUT(s2c[OWNER(m)], ACK, m, s)
  :: else -> skip
  fi
}

/* SEND(m) from client c: dedup by (device, temp-id), then append. */
inline on_send(c, m) {
  assert(OWNER(m) == c);
  h_s = 0; h_i = 1;
#ifndef PLANT_DEDUP_OFF
  do                                     /* committed before? */
  :: h_i <= ncommit && lg[h_i] == m -> h_s = h_i; break
  :: h_i <= ncommit && lg[h_i] != m -> h_i++
  :: h_i > ncommit -> break
  od;
#endif
  if
  :: h_s > 0 -> PUT(s2c[c], ACK, m, h_s)          /* SEND-3 */
  :: else ->
    h_t = 0; h_i = 0;
#ifndef PLANT_DEDUP_OFF
    do                                   /* waiting for a commit? */
    :: h_i < npend && pend[h_i] == m -> h_t = 1; break
    :: h_i < npend && pend[h_i] != m -> h_i++
    :: h_i >= npend -> break
    od;
#endif
    if
    :: h_t -> ackowed[m] = 1                      /* SEND-7 */
    :: else ->
      assert(npend < LOGCAP);
      pend[npend] = m; npend++; ackowed[m] = 1;
#ifdef PLANT_ACK_BEFORE_COMMIT
      PUT(s2c[c], ACK, m, ncommit + npend)
#endif
    fi
  fi
}

/* SYNC(since) from client c: the durable messages after since, in seq
 * order, then SYNCED with the position reached (SYNC-1). */
inline on_sync(c, since) {
  h_i = since + 1;
  do
  :: h_i <= ncommit -> PUT(s2c[c], MSG, h_i, lg[h_i]); h_i++
  :: else -> break
  od;
  PUT(s2c[c], SYNCED, ncommit, 0)
}

/* Serves one frame from client c. */
inline serve(c) {
  c2s[c]?h_t, h_m, h_s;
  if
  :: h_t == SEND -> on_send(c, h_m)
  :: h_t == SYNC -> on_sync(c, h_m)
  fi
}

/* Makes the oldest pending append durable with the next seq (SEND-2). */
inline commit() {
  assert(ncommit < LOGCAP);
  ncommit++;
  lg[ncommit] = pend[0];
  h_i = 1;
  do
  :: h_i < npend -> pend[h_i - 1] = pend[h_i]; h_i++
  :: else -> break
  od;
  npend--;
  pend[npend] = 0
}

/* After the commit: the ACK and the live MSG of the next seq (DELIV-1). */
inline announce() {
  announced++;
  h_m = lg[announced];
  if
  :: ackowed[h_m] -> ackowed[h_m] = 0; send_ack(h_m, announced)
  :: else -> skip
  fi;
  h_i = 0;
  do
  :: h_i < NC && up[h_i] -> PUT(s2c[h_i], MSG, announced, h_m); h_i++
  :: h_i < NC && !up[h_i] -> h_i++
  :: h_i >= NC -> break
  od
}

active proctype Server() {
end:
  do
  :: d_step { nempty(c2s[0]) -> serve(0); skip }
  :: d_step { nempty(c2s[1]) -> serve(1); skip }
#if NC > 2
  :: d_step { nempty(c2s[2]) -> serve(2); skip }
#endif
  :: d_step { npend > 0 -> commit(); announce(); skip }
  od
}

/* ---- a client ---- */

/* Opens a session: SYNC from the position held, then every message
 * written and not yet ACKed, with its temp-id (SEND-5). */
inline connect(c) {
  up[c] = 1;
  synced = 0;
  needsync = 0;
  PUT(c2s[c], SYNC, shown[c], 0);
  h_i = 0;
  do
  :: h_i < composed[c] ->
    h_m = MSGNO(c, h_i);
    if
#ifndef PLANT_NO_RETRY
    :: !acked[h_m] -> PUT(c2s[c], SEND, h_m, 0)
#endif
    :: else -> skip
    fi;
    h_i++
  :: else -> break
  od
}

/* Shows MSG(seq s, message m) if it is the next one; drops a repeat;
 * asks for a SYNC on a gap. */
inline on_msg(c, s, m) {
  if
  :: s == shown[c] + 1 ->
    assert(lg[s] == m && s <= ncommit);   /* shown only when durable */
    assert(!SHOWN(c, m));                 /* no message shown twice */
    SHOWN(c, m) = 1;
    shown[c] = s
  :: s <= shown[c] -> skip                /* DELIV-4: a repeat */
  :: s > shown[c] + 1 -> needsync = 1     /* DELIV-5: a gap */
  fi
}

inline on_ack(c, m, s) {
  assert(OWNER(m) == c);
  assert(s <= ncommit && lg[s] == m);     /* ACK only when durable */
  if
  :: !acked[m] -> acked[m] = 1; nacked++
  :: else -> skip
  fi
}

proctype Client(byte c) {
  bit synced, needsync;
  byte t, a, b;
end:
  do
  :: d_step { !up[c] -> connect(c); skip }
  :: d_step {
       composed[c] < NOWN(c) ->
       h_m = MSGNO(c, composed[c]);
       composed[c]++;
       if
       :: up[c] -> PUT(c2s[c], SEND, h_m, 0)
       :: else -> skip
       fi
     }
  :: d_step {
       s2c[c]?t, a, b ->
       if
       :: t == ACK -> on_ack(c, a, b)
       :: t == MSG -> on_msg(c, a, b)
       :: t == SYNCED -> synced = 1
       fi;
       t = 0; a = 0; b = 0
     }
  :: d_step {
       up[c] && synced && needsync ->
       synced = 0; needsync = 0;
       PUT(c2s[c], SYNC, shown[c], 0)
     }
  od
}

/* ---- the network and the crashes ---- */

/* Drops a frame of q (a queue of client c); TCP then resets. */
inline lose(q, c) {
  nloss++; broken[c] = 1;
  q?_, _, _
}

/* Sends the first frame of q again, after the others. */
inline dup(q) {
  ndup++;
  q?<h_t, h_m, h_s>; q!h_t, h_m, h_s
}

/* The first frame of q arrives after the others. */
inline reorder(q) {
  nreorder++;
  q?h_t, h_m, h_s; q!h_t, h_m, h_s
}

/* The server stops and starts again from its durable log. */
inline crash() {
  ncrash++;
  npend = 0;
  h_i = 0;
  do
  :: h_i < LOGCAP -> pend[h_i] = 0; h_i++
  :: else -> break
  od;
  announced = ncommit;
  close_conn(0);
  close_conn(1);
#if NC > 2
  close_conn(2);
#endif
  /* no acknowledged message is lost */
  h_i = 0;
  do
  :: h_i < NM ->
    h_s = 1; h_t = 0;
    do
    :: h_s <= ncommit && lg[h_s] == h_i -> h_t = 1; break
    :: h_s <= ncommit && lg[h_s] != h_i -> h_s++
    :: h_s > ncommit -> break
    od;
    assert(!acked[h_i] || h_t);
    h_i++
  :: else -> break
  od
}

/* A duplicate is a SEND or a MSG that arrives twice: what a client's
 * retry on a new connection, or a straggler from an old one, looks like.
 * (A repeated SYNC would be a client breaking SYNC-4.) */
#define FAULTS_ON(q, c, t) \
  :: d_step { nloss < MAX_LOSS && nempty(q) -> lose(q, c) } \
  :: d_step { ndup < MAX_DUP && q?[t, _, _] && nfull(q) -> dup(q) } \
  :: d_step { nreorder < MAX_REORDER && len(q) > 1 -> reorder(q) }

active proctype Network() {
end:
  do
  FAULTS_ON(c2s[0], 0, SEND)
  FAULTS_ON(s2c[0], 0, MSG)
  FAULTS_ON(c2s[1], 1, SEND)
  FAULTS_ON(s2c[1], 1, MSG)
#if NC > 2
  FAULTS_ON(c2s[2], 2, SEND)
  FAULTS_ON(s2c[2], 2, MSG)
#endif
  :: d_step { broken[0] -> close_conn(0); skip }
  :: d_step { broken[1] -> close_conn(1); skip }
#if NC > 2
  :: d_step { broken[2] -> close_conn(2); skip }
#endif
  :: d_step { nreset < MAX_RESET && up[0] -> nreset++; close_conn(0); skip }
  :: d_step { nreset < MAX_RESET && up[1] -> nreset++; close_conn(1); skip }
#if NC > 2
  :: d_step { nreset < MAX_RESET && up[2] -> nreset++; close_conn(2); skip }
#endif
  :: d_step { ncrash < MAX_CRASH -> crash(); skip }
  od
}

init {
  atomic {
    run Client(0);
    run Client(1);
#if NC > 2
    run Client(2);
#endif
  }
}

/* Eventually every message is ACKed to its sender and every member
 * shows the whole conversation (checked with -a under weak fairness). */
ltl live { <> DONE }
