#!/usr/bin/env python3
"""A call that survives the loss of the caller's signaling connection.

parley-server runs on 127.0.0.1 with alice and bob. alice reaches it
through a parley-netem TCP relay, bob directly. bob runs `parley-client
answer`, alice `parley-client call bob` with a sentence of speech and
--duration-ms long enough to outlast the cut. Once alice's call is
connected (her --verbose log says so), the relay resets her WebSocket
(netem control `rst`). Her client reconnects, and its call layer must
rejoin (spec section 19): JOIN with rejoin: yes, then OFFER with
ice-restart: yes and new ICE credentials, which bob answers. The media
path (host candidates on loopback) does not cross the relay, so the
audio goes on.

Checks: both exit 0 with a completed report; alice's log shows the lost
and regained connection, one JOIN (the caller joined by CALL, so this is
the rejoin) and an OFFER after it; bob sent one OFFER (the first
negotiation: the joiner offers) and one ANSWER (to the restart); and bob
heard alice's sentence (segment correlation above
CORR_MIN, as in test_call_media.py). Every wait is bounded and waits for
a condition or a process.

Usage: test_call_rejoin.py --server-bin S --client-bin C --netem-bin N
           --compare-bin A [--keep]
"""

import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_chat_crash as chat  # noqa: E402
import test_call_media as media  # noqa: E402
from netem_relay import Netem  # noqa: E402

HANG_S = media.HANG_S
CORR_MIN = media.CORR_MIN


def alice_via(alice, relay_port, workdir, *cmd):
    """alice's argv with the relay as her server and a store of her own
    (a store belongs to one server URL)."""
    argv = alice.argv(*cmd, opts=("--verbose",))
    argv[argv.index("--server") + 1] = f"http://127.0.0.1:{relay_port}"
    argv[argv.index("--db") + 1] = os.path.join(workdir, "alice-relay.db")
    return argv


def count(text, needle):
    return text.count(needle)


def run(args, workdir):
    sp = {n: media.make_speech(workdir, n) for n in ("A", "B")}
    server, alice, bob, _ = chat.start_chat(args.server_bin, args.client_bin,
                                            workdir)
    relay = Netem(args.netem_bin,
                  ["--tcp", f"127.0.0.1:0=127.0.0.1:{server.port}"],
                  log_path=os.path.join(workdir, "netem.log"))
    chat.STARTED.append(relay.proc)
    files = {u: {k: os.path.join(workdir, f"{u}.{k}") for k in ("wav",
                                                               "json")}
             for u in ("alice", "bob")}
    pb = bob.popen("answer", "--from", "alice", "--input", sp["B"],
                   "--output", files["bob"]["wav"], "--report",
                   files["bob"]["json"], opts=("--verbose",))
    alog_path = os.path.join(workdir, "alice-call.log")
    with open(alog_path, "w") as alog:
        pa = subprocess.Popen(
            alice_via(alice, relay.ports["tcp"][0], workdir, "call", "bob",
                      "--input", sp["A"], "--output", files["alice"]["wav"],
                      "--report", files["alice"]["json"], "--duration-ms",
                      "7000"),
            stdout=subprocess.DEVNULL, stderr=alog)
    pa.label, pa.log = "alice's call", alog_path
    chat.STARTED.append(pa)
    chat.wait_for(lambda: "connected with bob" in chat.read_text(alog_path),
                  "alice's call to connect", (pa, pb))
    assert relay.command("rst") == ["reset 1"], "the relay reset nothing"
    rcs = {}
    for user, p in (("alice", pa), ("bob", pb)):
        try:
            rcs[user] = p.wait(timeout=HANG_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{p.label} still running after {HANG_S} s")
    alog, blog = chat.read_text(alog_path), chat.read_text(pb.log)
    logs = f"--- alice ---\n{alog[-4000:]}\n--- bob ---\n{blog[-3000:]}"
    assert rcs == {"alice": 0, "bob": 0}, f"exit {rcs}\n{logs}"
    assert "connected to" in alog and "again" in alog, \
        f"alice's connection was not lost and found again\n{logs}"
    # The caller joined by CALL; its one JOIN is the rejoin.
    assert count(alog, "sent JOIN") == 1, f"alice's JOINs\n{logs}"
    last_join = alog.rfind("sent JOIN")
    assert last_join >= 0 and alog.find("sent OFFER", last_join) > 0, \
        f"alice did not offer after rejoining\n{logs}"
    assert count(blog, "sent ANSWER") == 1 and count(blog, "sent OFFER") == 1,\
        f"bob: one OFFER (the first negotiation), one ANSWER (the " \
        f"restart)\n{logs}"
    for user in ("alice", "bob"):
        with open(files[user]["json"], encoding="utf-8") as f:
            rep = f.read()
        assert '"completed": true' in rep, f"{user}'s report: {rep}"
    res = media.compare(args.compare_bin, sp["A"], files["bob"]["wav"])
    print(f"rejoin: alice -> bob correlation "
          f"{res['segment_correlation']:.3f} (> {CORR_MIN}), lag "
          f"{res['lag_ms']:.1f} ms")
    assert res["segment_correlation"] > CORR_MIN, f"bob heard: {res}"
    relay.stop()
    server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--client-bin", required=True)
    ap.add_argument("--netem-bin", required=True)
    ap.add_argument("--compare-bin", required=True)
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="parley-call-rejoin-")
    ok = False
    try:
        run(args, workdir)
        ok = True
        print("PASS call_rejoin")
    except AssertionError as e:
        print(f"FAIL call_rejoin: {e}")
    finally:
        chat.finish(workdir, not ok or args.keep)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
