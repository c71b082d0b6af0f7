#!/usr/bin/env python3
"""Two parley-client processes chat through parley-netem on TCP.

parley-server runs on 127.0.0.1 on a free port with its database in a
fresh temporary directory; parley-netem relays a second free port to it
with 50 ms +/- 30 ms delay (uniform) and a bandwidth limit of 256 kbit/s
each way, and every --server of the clients points at the relay. alice's
`send` gets 200 lines on standard input, bob's `listen --output FILE`
writes what it shows. Both ask for a heartbeat of 1 s, so a silent
connection is noticed within about 2 s.

Along the way, each fault switched through the control interface when
bob has shown a given number of messages (progress, never sleeps):

   20  stall 1500ms              nothing forwarded for 1.5 s
   60  rst                       every connection reset (RST both ways)
  100  blackhole on              nothing forwarded, connections kept
       ... until a byte was swallowed and a new connection came in
       (a client noticed the silence and reconnected), then
       blackhole off
  140  set rate 64kbit, set slice 64, set slice-gap 2ms
                                 writes cut into 64-byte pieces

Then bob's file must hold all 200 messages, each once and in sequence
order, alice's send must have exited 0 (every message acknowledged), and
the server's database must hold exactly 200 messages. The relay's
counters must show that each fault happened (a reset, bytes swallowed,
reconnections), and it must exit 0.

Usage: test_netem_chat.py --server-bin S --client-bin C --netem-bin N
"""

import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_chat_crash as chat  # noqa: E402
from netem_relay import Netem  # noqa: E402

N = 200
HEARTBEAT_OPTS = ["--heartbeat-ms", "1000"]


class ViaRelay:
    """What chat.Client needs of a server: its URL, here the relay's."""

    def __init__(self, port):
        self.port = port

    def url(self):
        return f"http://127.0.0.1:{self.port}"


def faults_along_the_way(relay, out, procs):
    """Switches the faults as bob's output grows; returns the counters
    read while the blackhole was on."""
    chat.wait_for(lambda: chat.count_lines(out) >= 20, "bob to show 20",
                  procs)
    relay.command("stall 1500ms")
    print(f"at {chat.count_lines(out)} shown: stall 1500ms")

    chat.wait_for(lambda: chat.count_lines(out) >= 60, "bob to show 60",
                  procs)
    reset = relay.command("rst")
    print(f"at {chat.count_lines(out)} shown: rst: {reset}")

    chat.wait_for(lambda: chat.count_lines(out) >= 100, "bob to show 100",
                  procs)
    before = relay.stats()
    relay.command("blackhole on")
    print(f"at {chat.count_lines(out)} shown: blackhole on")

    def swallowed_and_reconnected():
        s = relay.stats()
        dropped = s["tcp0.up.bytes-dropped"] + s["tcp0.down.bytes-dropped"]
        return s if dropped > 0 and s["tcp0.accepted"] > \
            before["tcp0.accepted"] else None

    during = chat.wait_for(swallowed_and_reconnected,
                           "a swallowed byte and a reconnection", procs)
    relay.command("blackhole off")
    print(f"at {chat.count_lines(out)} shown: blackhole off "
          f"(swallowed up {during['tcp0.up.bytes-dropped']} B, down "
          f"{during['tcp0.down.bytes-dropped']} B)")

    chat.wait_for(lambda: chat.count_lines(out) >= 140, "bob to show 140",
                  procs)
    for line in ("set rate 64kbit", "set slice 64", "set slice-gap 2ms"):
        relay.command(line)
    print(f"at {chat.count_lines(out)} shown: rate 64kbit, slices of 64 B")
    return during


# spec: SEND-3 SEND-5 DELIV-2 DELIV-4 SYNC-1 HB-5
def test_chat_through_netem(server_bin, client_bin, netem_bin, workdir):
    server = chat.Server(server_bin, workdir)
    server.start()
    relay = Netem(netem_bin, [
        "--tcp", f"127.0.0.1:0=127.0.0.1:{server.port}", "--seed", "4",
        "--delay", "50ms", "--jitter", "30ms", "--rate", "256kbit"],
        log_path=os.path.join(workdir, "netem.log"))
    chat.STARTED.append(relay.proc)
    via = ViaRelay(relay.ports["tcp"][0])
    alice = chat.Client(client_bin, workdir, via, "alice")
    bob = chat.Client(client_bin, workdir, via, "bob")
    server.adduser("alice", alice.pwfile)
    server.adduser("bob", bob.pwfile)
    r = alice.run("create", "--with", "bob", text=True)
    assert r.returncode == 0, r.stderr
    conv = r.stdout.strip()

    out = os.path.join(workdir, "bob.out")
    listen = bob.popen("listen", "--conv", conv, "--output", out,
                       opts=HEARTBEAT_OPTS)
    texts = [f"message {i:03d} through the relay" for i in range(1, N + 1)]
    send = alice.popen("send", "--conv", conv, "--send-window", "2",
                       stdin=subprocess.PIPE, opts=HEARTBEAT_OPTS)
    send.stdin.write("".join(t + "\n" for t in texts).encode())
    send.stdin.close()

    during = faults_along_the_way(relay, out, (listen, send))

    chat.wait_for(lambda: send.poll() is not None, "alice's send to finish",
                  (listen,))
    assert send.returncode == 0, "send did not get every message acknowledged"
    chat.wait_for(lambda: chat.count_lines(out) >= N, f"bob to show {N}",
                  (listen,))
    listen.terminate()
    assert listen.wait(timeout=chat.HANG_S) == 0, "listen did not stop"
    final = relay.stats()
    relay.stop()
    server.stop()

    shown = chat.read_output(out, conv)
    seqs = [s for s, _ in shown]
    assert seqs == list(range(1, N + 1)), f"seqs shown: {seqs}"
    assert sorted(t for _, t in shown) == texts, "texts differ from sent"
    total, distinct = chat.count_stored_messages(server.db)
    assert (total, distinct) == (N, N), f"server stored {total} ({distinct})"

    print("relay: " + ", ".join(f"{k} {final[k]}" for k in (
        "tcp0.accepted", "tcp0.resets", "tcp0.aborted", "tcp0.up.bytes-in",
        "tcp0.up.bytes-dropped", "tcp0.down.bytes-in",
        "tcp0.down.bytes-dropped")))
    assert final["tcp0.resets"] >= 1, "rst reset no connection"
    assert during["tcp0.up.bytes-dropped"] + \
        during["tcp0.down.bytes-dropped"] > 0, "the blackhole swallowed nothing"
    assert final["tcp0.accepted"] > during["tcp0.accepted"], \
        "no connection after the blackhole"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--client-bin", required=True)
    ap.add_argument("--netem-bin", required=True)
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="parley-netem-chat-")
    ok = False
    try:
        test_chat_through_netem(args.server_bin, args.client_bin,
                                args.netem_bin, workdir)
        ok = True
        print("PASS netem_chat")
    except AssertionError as e:
        print(f"FAIL netem_chat: {e}")
        chat.print_logs(workdir)
    finally:
        chat.finish(workdir, not ok or args.keep)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
