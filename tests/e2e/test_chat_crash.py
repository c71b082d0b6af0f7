#!/usr/bin/env python3
"""End to end: 200 messages from alice to bob through crashes.

The real parley-server runs on 127.0.0.1 on a free port, with its database
in a fresh temporary directory. alice's `parley-client send` gets 200
lines on standard input; bob's `parley-client listen --output FILE` writes
what it shows. The kills depend on progress, never on sleeps: when bob has
shown about 50 messages the server is killed with SIGKILL and restarted on
the same database and port; at about 90 bob's listen is killed with
SIGKILL and restarted on the same local store; at about 120 the server is
killed and restarted once more.

Then bob's file must hold all 200 messages, each once and in sequence
order, alice's send must have exited 0 (every message acknowledged), and
the server's database must hold exactly 200 messages: no message lost and
none stored twice although alice re-sent her outbox after each crash.

Every wait polls a condition; HANG_S only bounds how long a broken run can
hold the test up and is never a pass/fail criterion.
"""

import argparse
import os
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

HANG_S = 120
N = 200
POLL_S = 0.002
STARTED = []  # every process started, killed at the end if still running


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, what, timeout=HANG_S):
    """Polls cond() until it is true; fails the test after timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(POLL_S)
    raise AssertionError(f"gave up waiting for {what}")


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


class Server:
    """parley-server on one database and one port across restarts."""

    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir
        self.db = os.path.join(workdir, "server.db")
        self.port = free_port()
        self.proc = None
        self.runs = 0

    def adduser(self, name, password_file):
        r = subprocess.run([self.binary, "adduser", name, "--password-file",
                            password_file, "--db", self.db],
                           capture_output=True, text=True, timeout=HANG_S)
        assert r.returncode == 0, r.stderr

    def _try_start(self):
        self.runs += 1
        log = open(os.path.join(self.workdir, f"server-{self.runs}.log"), "w")
        self.proc = subprocess.Popen(
            [self.binary, "--listen", f"127.0.0.1:{self.port}", "--db",
             self.db, "--log-level", "info"],
            stdout=subprocess.PIPE, stderr=log)
        log.close()
        STARTED.append(self.proc)
        ready, _, _ = select.select([self.proc.stdout], [], [], HANG_S)
        line = self.proc.stdout.readline().decode() if ready else ""
        return f"listening on 127.0.0.1:{self.port}" in line

    def start(self):
        """Starts the server on its port; the port of a killed run may take
        a moment to be free again, so a refused bind is retried."""
        end = time.monotonic() + HANG_S
        while not self._try_start():
            self.proc.kill()
            self.proc.wait()
            assert time.monotonic() < end, "server did not start"
            time.sleep(0.05)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=HANG_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def url(self):
        return f"http://127.0.0.1:{self.port}"


class Client:
    """Builds parley-client command lines for one user and local store."""

    def __init__(self, binary, workdir, server, user):
        self.binary = binary
        self.workdir = workdir
        self.user = user
        self.pwfile = os.path.join(workdir, f"{user}.pw")
        with open(self.pwfile, "w") as f:
            f.write(f"pw-{user}-secret\n")
        self.db = os.path.join(workdir, f"{user}.db")
        self.server = server
        self.runs = 0

    def argv(self, *cmd):
        return [self.binary, "--server", self.server.url(), "--user",
                self.user, "--password-file", self.pwfile, "--db", self.db,
                "--backoff-base-ms", "50", "--backoff-cap-ms", "500",
                "--connect-timeout-ms", str(HANG_S * 1000), *cmd]

    def popen(self, *cmd, stdin=None):
        self.runs += 1
        log = open(os.path.join(
            self.workdir, f"{self.user}-{cmd[0]}-{self.runs}.log"), "w")
        p = subprocess.Popen(self.argv(*cmd), stdin=stdin,
                             stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        STARTED.append(p)
        return p


def read_output(path, conv):
    """The (seq, text) pairs in bob's output, checking the line format."""
    shown = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            head, sep, text = line.rstrip("\n").partition(": ")
            assert sep, f"malformed line {line!r}"
            c, seq, sender = head.split(" ")
            assert c == conv and sender == "alice", f"unexpected {line!r}"
            shown.append((int(seq), text))
    return shown


def count_stored_messages(db):
    """Messages in the server's database (its events table holds messages
    and receipts; the type column tells them apart, 1 for a message)."""
    con = sqlite3.connect(db)
    try:
        cols = [r[1] for r in con.execute("PRAGMA table_info(events)")]
        col = "kind" if "kind" in cols else "type"
        total = con.execute(
            f"SELECT count(*) FROM events WHERE {col} = 1").fetchone()[0]
        distinct = con.execute(
            f"SELECT count(DISTINCT temp_id) FROM events WHERE {col} = 1"
        ).fetchone()[0]
        return total, distinct
    finally:
        con.close()


def kill_proc(p):
    p.send_signal(signal.SIGKILL)
    p.wait()


# spec: SEND-3 SEND-5 DELIV-2 DELIV-4 SYNC-1 SYNC-2 DUR-1
def test_chat_survives_crashes(server_bin, client_bin, workdir):
    server = Server(server_bin, workdir)
    alice = Client(client_bin, workdir, server, "alice")
    bob = Client(client_bin, workdir, server, "bob")
    server.adduser("alice", alice.pwfile)
    server.adduser("bob", bob.pwfile)
    server.start()

    r = subprocess.run(alice.argv("create", "--with", "bob"),
                       capture_output=True, text=True, timeout=HANG_S)
    assert r.returncode == 0, r.stderr
    conv = r.stdout.strip()
    assert conv, "create printed no conversation id"

    out = os.path.join(workdir, "bob.out")
    listen = bob.popen("listen", "--conv", conv, "--output", out)
    texts = [f"message {i:03d} from alice" for i in range(1, N + 1)]
    send = alice.popen("send", "--conv", conv, "--send-window", "1",
                       stdin=subprocess.PIPE)
    send.stdin.write("".join(t + "\n" for t in texts).encode())
    send.stdin.close()

    for at, victim in ((50, "server"), (90, "bob"), (120, "server")):
        wait_for(lambda: count_lines(out) >= at, f"bob to show {at}")
        print(f"at {count_lines(out)} shown: kill {victim}"
              f" (alice still sending: {send.poll() is None})")
        if victim == "server":
            server.kill()
            server.start()
        else:
            kill_proc(listen)
            listen = bob.popen("listen", "--conv", conv, "--output", out)

    wait_for(lambda: send.poll() is not None, "alice's send to finish")
    assert send.returncode == 0, "send did not get every message acknowledged"
    wait_for(lambda: count_lines(out) >= N, f"bob to show {N}")
    listen.terminate()
    listen.wait(timeout=HANG_S)
    server.stop()

    shown = read_output(out, conv)
    seqs = [s for s, _ in shown]
    assert seqs == list(range(1, N + 1)), f"seqs shown: {seqs}"
    assert sorted(t for _, t in shown) == texts, "texts differ from sent"
    total, distinct = count_stored_messages(server.db)
    assert (total, distinct) == (N, N), f"server stored {total} ({distinct})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--client-bin", required=True)
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="parley-chat-crash-")
    ok = False
    try:
        test_chat_survives_crashes(args.server_bin, args.client_bin, workdir)
        ok = True
        print("PASS test_chat_survives_crashes")
    except AssertionError as e:
        print(f"FAIL test_chat_survives_crashes: {e}")
        for name in sorted(os.listdir(workdir)):
            if name.endswith(".log"):
                with open(os.path.join(workdir, name), errors="replace") as f:
                    tail = f.read()[-3000:]
                print(f"--- {name} ---\n{tail}")
    finally:
        for p in STARTED:
            if p.poll() is None:
                p.kill()
                p.wait()
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"files kept in {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
