#!/usr/bin/env python3
"""End-to-end tests of parley-client against the real parley-server.

chat_crash: parley-server runs on 127.0.0.1 on a free port, with its
database in a fresh temporary directory. alice's `parley-client send`
gets 200 lines on standard input; bob's `parley-client listen --output
FILE` writes what it shows. The kills depend on progress, never on
sleeps: when bob has shown about 50 messages the server is killed with
SIGKILL and restarted on the same database and port; at about 90 bob's
listen is killed with SIGKILL and restarted on the same local store; at
about 120 the server is killed and restarted once more. Then bob's file
must hold all 200 messages, each once and in sequence order, alice's
send must have exited 0 (every message acknowledged), and the server's
database must hold exactly 200 messages: none lost, none stored twice
although alice re-sent her outbox after each crash.

send_resume: alice's send is killed with SIGKILL in the middle and run
again with the same input and local store; it resumes its outbox and the
server ends with exactly 200 messages.

subprotocol: against a stand-in server that upgrades the WebSocket
without selecting `parley.1`, the client closes without sending a frame.

cli: the message for an unreachable server, exit status 2 naming a bad
flag or a bad message, --help and --version.

password: a cached token is used only with the password it was got with.
store_files: the local store is private (0600) and used by one process.
first_run: a first run that never signed in leaves no store behind.
server_url: spellings of one server URL share a store.
reconnect: listen outlives an outage after its first session.
unreachable: an unreachable server is reported at once.
pipe: listen stops quietly when the reader of its output goes away.
bulk: 2,000 messages in one send, paced to the server's rate.
conversations: the list of conversations; listen on a wrong one.
early_signal: listen sent SIGTERM the moment it starts exits 0.

Run one with --test NAME. Every wait polls a condition; HANG_S only bounds
how long a broken run can hold a test up and is never a pass/fail
criterion.
"""

import argparse
import base64
import hashlib
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parley_e2e  # noqa: E402
from parley_e2e import answer_json  # noqa: E402

HANG_S = 120
N = 200
POLL_S = 0.002
STARTED = []  # every process started, killed at the end if still running


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, what, must_run=()):
    """parley_e2e.wait_for with this file's longer HANG_S and poll."""
    return parley_e2e.wait_for(cond, what, must_run, HANG_S, POLL_S)


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

    def argv(self, *cmd, opts=()):
        """The command line; `opts` come after the defaults, so they
        override them."""
        return [self.binary, "--server", self.server.url(), "--user",
                self.user, "--password-file", self.pwfile, "--db", self.db,
                "--backoff-base-ms", "50", "--backoff-cap-ms", "500",
                "--connect-timeout-ms", str(HANG_S * 1000), *opts, *cmd]

    def popen(self, *cmd, stdin=None, stdout=subprocess.DEVNULL, opts=()):
        """Starts a command with its standard error in a log file, whose
        path is p.log."""
        self.runs += 1
        path = os.path.join(self.workdir,
                            f"{self.user}-{cmd[0]}-{self.runs}.log")
        log = open(path, "w")
        p = subprocess.Popen(self.argv(*cmd, opts=opts), stdin=stdin,
                             stdout=stdout, stderr=log)
        log.close()
        p.label = f"{self.user}'s {cmd[0]}"
        p.log = path
        STARTED.append(p)
        return p

    def run(self, *cmd, opts=(), stdin=None, **kw):
        """Runs a command to its end; returns the CompletedProcess."""
        return subprocess.run(self.argv(*cmd, opts=opts), input=stdin,
                              capture_output=True, timeout=HANG_S, **kw)


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


def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def print_logs(workdir):
    """Prints the last 3000 characters of every .log file in workdir."""
    for name in sorted(os.listdir(workdir)):
        if name.endswith(".log"):
            print(f"--- {name} ---\n"
                  f"{read_text(os.path.join(workdir, name))[-3000:]}")


def finish(workdir, keep_files):
    """Kills every started process still running and forgets them all;
    then removes workdir, or, with keep_files, says where it is kept."""
    for p in STARTED:
        if p.poll() is None:
            p.kill()
            p.wait()
    STARTED.clear()
    if keep_files:
        print(f"files kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def start_chat(server_bin, client_bin, workdir):
    """A running server, alice and bob, and their direct conversation."""
    server = Server(server_bin, workdir)
    alice = Client(client_bin, workdir, server, "alice")
    bob = Client(client_bin, workdir, server, "bob")
    server.adduser("alice", alice.pwfile)
    server.adduser("bob", bob.pwfile)
    server.start()
    r = alice.run("create", "--with", "bob", text=True)
    assert r.returncode == 0, r.stderr
    conv = r.stdout.strip()
    assert conv, "create printed no conversation id"
    return server, alice, bob, conv


def store_files(db):
    """The files of a local store that exist: the database, its -wal and
    -shm, and its lock file."""
    return [db + s for s in ("", "-wal", "-shm", "-journal", ".lock")
            if os.path.exists(db + s)]


def mode_of(path):
    return os.stat(path).st_mode & 0o777


# spec: SEND-3 SEND-5 DELIV-2 DELIV-4 SYNC-1 SYNC-2 DUR-1
def test_chat_survives_crashes(server_bin, client_bin, workdir):
    server, alice, bob, conv = start_chat(server_bin, client_bin, workdir)

    out = os.path.join(workdir, "bob.out")
    listen = bob.popen("listen", "--conv", conv, "--output", out)
    texts = [f"message {i:03d} from alice" for i in range(1, N + 1)]
    send = alice.popen("send", "--conv", conv, "--send-window", "1",
                       stdin=subprocess.PIPE)
    send.stdin.write("".join(t + "\n" for t in texts).encode())
    send.stdin.close()

    for at, victim in ((50, "server"), (90, "bob"), (120, "server")):
        wait_for(lambda: count_lines(out) >= at, f"bob to show {at}",
                 (listen, send))
        print(f"at {count_lines(out)} shown: kill {victim}"
              f" (alice still sending: {send.poll() is None})")
        if victim == "server":
            server.kill()
            server.start()
        else:
            kill_proc(listen)
            listen = bob.popen("listen", "--conv", conv, "--output", out)

    wait_for(lambda: send.poll() is not None, "alice's send to finish",
             (listen,))
    assert send.returncode == 0, "send did not get every message acknowledged"
    wait_for(lambda: count_lines(out) >= N, f"bob to show {N}", (listen,))
    listen.terminate()
    assert listen.wait(timeout=HANG_S) == 0, "listen did not stop cleanly"
    server.stop()

    shown = read_output(out, conv)
    seqs = [s for s, _ in shown]
    assert seqs == list(range(1, N + 1)), f"seqs shown: {seqs}"
    assert sorted(t for _, t in shown) == texts, "texts differ from sent"
    total, distinct = count_stored_messages(server.db)
    assert (total, distinct) == (N, N), f"server stored {total} ({distinct})"


# spec: SEND-3 SEND-5 SEND-8
def test_send_killed_and_restarted(server_bin, client_bin, workdir):
    """A send killed in the middle and run again with the same local store
    and the same input resumes its outbox: no message is made twice."""
    server, alice, bob, conv = start_chat(server_bin, client_bin, workdir)
    out = os.path.join(workdir, "bob.out")
    listen = bob.popen("listen", "--conv", conv, "--output", out)
    texts = [f"resumed {i:03d}" for i in range(1, N + 1)]
    data = "".join(t + "\n" for t in texts).encode()
    # bob is in session before alice sends: else all of it can reach him
    # in one SYNC answer after alice's send has finished, and there is no
    # send left to kill in the middle.
    log = os.path.join(workdir, f"server-{server.runs}.log")
    wait_for(lambda: "ready: user bob" in open(log).read(),
             "bob's session", (listen,))

    send = alice.popen("send", "--conv", conv, "--send-window", "1",
                       stdin=subprocess.PIPE)
    send.stdin.write(data)
    send.stdin.close()
    wait_for(lambda: count_lines(out) >= 60, "bob to show 60",
             (listen, send))
    print(f"at {count_lines(out)} shown: kill alice's send"
          f" (still sending: {send.poll() is None})")
    kill_proc(send)
    again = alice.popen("send", "--conv", conv, stdin=subprocess.PIPE)
    again.stdin.write(data)
    again.stdin.close()
    wait_for(lambda: again.poll() is not None, "the second send",
             (listen,))
    assert again.returncode == 0, "the resumed send failed"
    wait_for(lambda: count_lines(out) >= N, f"bob to show {N}", (listen,))
    listen.terminate()
    assert listen.wait(timeout=HANG_S) == 0, "listen did not stop cleanly"
    server.stop()
    shown = read_output(out, conv)
    assert [s for s, _ in shown] == list(range(1, N + 1)), "seqs shown"
    assert sorted(t for _, t in shown) == texts, "texts differ from sent"
    assert count_stored_messages(server.db) == (N, N), "stored twice"


class MockServer:
    """Answers the HTTP API the client needs before it connects, and
    upgrades /v1/ws without selecting a subprotocol; records the opcodes
    of the WebSocket frames the client sends after that."""

    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.upgrades = 0
        self.opcodes = []
        self.closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,),
                             daemon=True).start()

    def _handle(self, conn):
        with conn:
            req = b""
            while b"\r\n\r\n" not in req:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                req += chunk
            head = req.split(b"\r\n\r\n")[0].decode()
            line = head.split("\r\n")[0]
            headers = {h.split(":")[0].lower(): h.split(":", 1)[1].strip()
                       for h in head.split("\r\n")[1:] if ":" in h}
            if line.startswith("POST /v1/auth/token"):
                answer_json(conn, 200, {"token": "pt1.mock", "user": "alice",
                                        "expires_ms": 2 ** 52})
            elif " /v1/ws " in line:
                self._upgrade(conn, headers)
            else:
                answer_json(conn, 200, {"id": "c1", "kind": "direct",
                                        "members": ["alice", "bob"]})

    def _upgrade(self, conn, headers):
        key = headers.get("sec-websocket-key", "")
        accept = base64.b64encode(hashlib.sha1(
            (key + self.GUID).encode()).digest()).decode()
        self.upgrades += 1
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade:"
                      " websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        data = b""
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        while len(data) >= 2:  # client frames: masked, short here
            self.opcodes.append(data[0] & 0x0F)
            n = data[1] & 0x7F
            ext = {126: 2, 127: 8}.get(n, 0)
            if ext:
                n = int.from_bytes(data[2:2 + ext], "big")
            data = data[2 + ext + 4 + n:]

    def close(self):
        self.closed = True
        self.sock.close()


# spec: CLI-1
def test_refuses_a_websocket_without_the_subprotocol(server_bin, client_bin,
                                                     workdir):
    mock = MockServer()
    pw = os.path.join(workdir, "pw")
    with open(pw, "w") as f:
        f.write("secret\n")
    try:
        r = subprocess.run(
            [client_bin, "--server", f"http://127.0.0.1:{mock.port}",
             "--user", "alice", "--password-file", pw, "--db",
             os.path.join(workdir, "a.db"), "--backoff-base-ms", "20",
             "--backoff-cap-ms", "100", "--connect-timeout-ms", "1500",
             "send", "--conv", "c1", "hello"],
            capture_output=True, text=True, timeout=HANG_S)
    finally:
        mock.close()
    assert mock.upgrades >= 1, "the client never tried the WebSocket"
    assert 1 not in mock.opcodes, "the client sent a text frame"
    assert r.returncode == 1, f"exit {r.returncode}: {r.stderr}"
    assert "subprotocol" in r.stderr, r.stderr


def test_unreachable_server_and_bad_flags(server_bin, client_bin, workdir):
    """Command-line behaviour: a clear message naming the server after
    --connect-timeout-ms, and exit status 2 naming a bad flag."""
    pw = os.path.join(workdir, "pw")
    with open(pw, "w") as f:
        f.write("secret\n")
    url = f"http://127.0.0.1:{free_port()}"
    base = [client_bin, "--server", url, "--user", "alice",
            "--password-file", pw, "--db", os.path.join(workdir, "a.db")]
    r = subprocess.run(base + ["--connect-timeout-ms", "700", "listen"],
                       capture_output=True, text=True, timeout=HANG_S)
    assert r.returncode == 1, r.stderr
    assert f"parley-client: cannot reach {url}: " in r.stderr, r.stderr
    assert "(gave up after 0.7 s)" in r.stderr, r.stderr
    for bad, named in ((["listen", "--frobnicate"], "--frobnicate"),
                       (["listen", "--count", "many"], "--count"),
                       (["send", "--output", "f"], "--output"),
                       (["send"], "--conv"),
                       (["history", "--conv"], "--conv")):
        r = subprocess.run(base + bad, capture_output=True, text=True,
                           timeout=HANG_S)
        assert r.returncode == 2, f"{bad}: exit {r.returncode}"
        assert named in r.stderr, f"{bad}: {r.stderr}"
    for bad, said in (
            (["create", "--group", "T", "--with", "bob"],
             "they exclude each other"),
            (["create", "--with", "bob", "--members", "carol"],
             "--members goes with --group"),
            (["send", "--conv", "c1", ""], "empty TEXT"),
            (["send", "--conv", "c1", "hi", ""], "empty TEXT")):
        r = subprocess.run(base + bad, capture_output=True, text=True,
                           timeout=HANG_S)
        assert r.returncode == 2, f"{bad}: exit {r.returncode}"
        assert said in r.stderr, f"{bad}: {r.stderr}"
    for data, said in ((b"ok\n" + b"x" * 64513 + b"\n",
                        "message 2 is 64513 bytes long; a message may have"
                        " at most 64512 bytes"),
                       (b"ok\nbad \xff octet\n",
                        "message 2 is not valid UTF-8")):
        r = subprocess.run(base + ["send", "--conv", "c1"], input=data,
                           capture_output=True, timeout=HANG_S)
        err = r.stderr.decode()
        assert r.returncode == 2, f"exit {r.returncode}: {err}"
        assert said in err, err
        assert "cannot reach" not in err, "checked only after connecting"
    for flag in ("--help", "-h"):
        r = subprocess.run([client_bin, flag], capture_output=True,
                           text=True, timeout=HANG_S)
        assert r.returncode == 0 and "standard output" in r.stdout
    help_text = " ".join(r.stdout.split())
    for said in ("(0, the default: no limit)", "--version",
                 "running the same send again resumes it, never sending a"
                 " message twice", "running it again sends its messages"
                 " again, as new ones"):
        assert said in help_text, f"--help does not say {said!r}"
    assert "never sends a message twice" not in help_text
    r = subprocess.run([client_bin, "--version"], capture_output=True,
                       text=True, timeout=HANG_S)
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"parley-client \d+\.\d+\.\d+\n", r.stdout), r.stdout


def test_a_wrong_password_is_refused_with_a_cached_token(
        server_bin, client_bin, workdir):
    """The store caches the token with a hash of the password it was got
    with; another password signs in again, and a wrong one is refused."""
    server, alice, _, conv = start_chat(server_bin, client_bin, workdir)
    wrong = os.path.join(workdir, "wrong.pw")
    with open(wrong, "w") as f:
        f.write("not-alice's-password\n")
    r = alice.run("history", "--conv", conv, opts=["--password-file", wrong],
                  text=True)
    assert r.returncode == 1, f"exit {r.returncode}: {r.stderr}"
    assert "sign-in refused" in r.stderr, r.stderr
    r = alice.run("history", "--conv", conv, text=True)
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(alice.db) as con:
        keys = {k for (k,) in con.execute("SELECT key FROM meta")}
        stored = con.execute("SELECT value FROM meta WHERE key ="
                             " 'password_hash'").fetchone()[0]
    assert "token" in keys and "password" not in keys, keys
    assert stored.startswith("$argon2id$"), "not an Argon2id hash"
    assert "pw-alice" not in stored
    server.stop()


def test_store_is_private_and_used_by_one_process(server_bin, client_bin,
                                                  workdir):
    """The store (and its -wal, -shm and lock files) is created 0600
    whatever the umask, an existing one readable by others is tightened,
    and a second process on the same store is refused."""
    server, alice, bob, conv = start_chat(server_bin, client_bin, workdir)
    old = os.umask(0o022)
    try:
        listen = bob.popen("listen", "--conv", conv)
        r = alice.run("send", "--conv", conv, "hello", text=True)
        assert r.returncode == 0, r.stderr
        wait_for(lambda: os.path.exists(bob.db + "-wal"), "bob's store",
                 (listen,))
        for path in store_files(alice.db) + store_files(bob.db):
            assert mode_of(path) == 0o600, f"{path}: {mode_of(path):o}"
        r = bob.run("listen", "--conv", conv, opts=["--verbose"],
                    text=True)
        assert r.returncode == 1, f"second listen: exit {r.returncode}"
        assert (f"the local store {bob.db} is in use by another"
                " parley-client") in r.stderr, r.stderr
        assert "connect" not in r.stderr, "it went on to the network"
        listen.terminate()
        assert listen.wait(timeout=HANG_S) == 0, read_text(listen.log)
        os.chmod(bob.db, 0o644)
        r = bob.run("history", "--conv", conv, text=True)
        assert r.returncode == 0, r.stderr
        assert mode_of(bob.db) == 0o600, f"not tightened: {mode_of(bob.db):o}"
    finally:
        os.umask(old)
    server.stop()


def test_a_failed_first_run_leaves_no_store(server_bin, client_bin,
                                            workdir):
    """A store is kept only once it signed in: a refused password or an
    unreachable server on the first run leaves no file behind."""
    server, alice, _, _ = start_chat(server_bin, client_bin, workdir)
    wrong = os.path.join(workdir, "wrong.pw")
    with open(wrong, "w") as f:
        f.write("wrong\n")
    fresh = os.path.join(workdir, "fresh.db")
    r = alice.run("history", "--conv", "c1", opts=["--db", fresh,
                                                   "--password-file", wrong],
                  text=True)
    assert r.returncode == 1 and "sign-in refused" in r.stderr, r.stderr
    assert store_files(fresh) == [], store_files(fresh)
    server.stop()
    r = alice.run("listen", opts=["--db", fresh, "--connect-timeout-ms",
                                  "300"], text=True)
    assert r.returncode == 1, r.stderr
    assert store_files(fresh) == [], store_files(fresh)
    assert store_files(alice.db), "a store that signed in was removed"


def test_server_url_spellings_share_a_store(server_bin, client_bin,
                                            workdir):
    """The store remembers its server in one spelling: a trailing slash
    or an upper-case scheme is the same server; another server is refused
    with a hint."""
    server, alice, _, conv = start_chat(server_bin, client_bin, workdir)
    for url in (server.url() + "/", server.url() + "//",
                server.url().replace("http://", "HTTP://")):
        r = alice.run("history", "--conv", conv, opts=["--server", url],
                      text=True)
        assert r.returncode == 0, f"{url}: {r.stderr}"
    other = f"http://localhost:{server.port}"
    r = alice.run("history", "--conv", conv, opts=["--server", other],
                  text=True)
    assert r.returncode == 2, r.stderr
    assert f"belongs to the server {server.url()}, not {other}" in r.stderr
    assert "--db" in r.stderr, r.stderr
    server.stop()


# spec: CLI-2 HB-5
def test_listen_reconnects_for_as_long_as_it_runs(server_bin, client_bin,
                                                  workdir):
    """After its first session listen outlives --connect-timeout-ms while
    the server is down, says so in one warn line, and one more when the
    connection is back."""
    server, alice, bob, conv = start_chat(server_bin, client_bin, workdir)
    out = os.path.join(workdir, "bob.out")
    listen = bob.popen("listen", "--conv", conv, "--output", out,
                       opts=["--connect-timeout-ms", "300"])
    assert alice.run("send", "--conv", conv, "one").returncode == 0
    wait_for(lambda: count_lines(out) >= 1, "bob to show 1", (listen,))
    server.kill()
    wait_for(lambda: "reconnecting" in read_text(listen.log),
             "the warn line of the lost connection", (listen,))
    # The outage lasts ten times --connect-timeout-ms; listen must live.
    end = time.monotonic() + 3
    while time.monotonic() < end:
        assert listen.poll() is None, read_text(listen.log)
        time.sleep(0.05)
    server.start()
    assert alice.run("send", "--conv", conv, "two").returncode == 0
    wait_for(lambda: count_lines(out) >= 2, "bob to show 2", (listen,))
    wait_for(lambda: "again" in read_text(listen.log),
             "the line of the connection back", (listen,))
    listen.terminate()
    assert listen.wait(timeout=HANG_S) == 0, read_text(listen.log)
    lines = read_text(listen.log).splitlines()
    assert len(lines) == 2, lines
    assert f"connection to {server.url()} lost; reconnecting" in lines[0]
    assert f"connected to {server.url()} again" in lines[1]
    server.stop()


def test_an_unreachable_server_is_reported_at_once(server_bin, client_bin,
                                                   workdir):
    pw = os.path.join(workdir, "pw")
    with open(pw, "w") as f:
        f.write("secret\n")
    url = f"http://127.0.0.1:{free_port()}"
    base = [client_bin, "--server", url, "--user", "alice",
            "--password-file", pw, "--db", os.path.join(workdir, "a.db")]
    p = subprocess.Popen(base + ["--connect-timeout-ms", "60000", "listen"],
                         stderr=subprocess.PIPE, text=True)
    STARTED.append(p)
    ready, _, _ = select.select([p.stderr], [], [], HANG_S)
    line = p.stderr.readline() if ready else ""
    assert f"warn  cannot reach {url}: " in line, line
    assert line.rstrip().endswith("; retrying for up to 60 s"), line
    assert p.poll() is None, "it gave up at once"
    p.terminate()
    p.wait(timeout=HANG_S)
    p.stderr.close()
    r = subprocess.run(base + ["--connect-timeout-ms", "0", "--help"],
                       capture_output=True, text=True, timeout=HANG_S)
    assert "0: wait forever" in r.stdout, r.stdout


def test_listen_stops_quietly_when_its_reader_goes_away(
        server_bin, client_bin, workdir):
    """`listen | head -2`: once the reader is gone, listen ends with
    status 1 and nothing on standard error."""
    server, alice, bob, conv = start_chat(server_bin, client_bin, workdir)
    r = alice.run("send", "--conv", conv, stdin=b"one\ntwo\nthree\n")
    assert r.returncode == 0, r.stderr
    listen = bob.popen("listen", "--conv", conv, stdout=subprocess.PIPE)
    got = [listen.stdout.readline() for _ in range(2)]
    assert got[1].endswith(b"two\n"), got
    listen.stdout.close()
    r = alice.run("send", "--conv", conv, "four")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: listen.poll() is not None, "listen to stop")
    assert listen.returncode == 1, f"exit {listen.returncode}"
    assert read_text(listen.log) == "", read_text(listen.log)
    server.stop()


def test_listen_stopped_at_once_ends_cleanly(server_bin, client_bin,
                                            workdir):
    """SIGTERM sent the moment listen is spawned ends it with status 0,
    20 times out of 20. A process cannot catch a signal before its main()
    runs (the dynamic loader maps its libraries first), so listen is
    started the way a supervisor starts it: with SIGTERM and SIGINT
    blocked across the spawn. Its main() installs the handler first thing
    and then unblocks them; the pending SIGTERM must reach the handler and
    end the command cleanly, never kill the process (-15) or be lost (a
    listen that never stops)."""
    server, alice, bob, conv = start_chat(server_bin, client_bin, workdir)
    stops = {signal.SIGTERM, signal.SIGINT}
    codes = []
    for _ in range(20):
        old = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
        try:
            listen = bob.popen("listen", "--conv", conv)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        listen.terminate()
        try:
            codes.append(listen.wait(timeout=30))
        except subprocess.TimeoutExpired:
            codes.append("still running")
    server.stop()
    assert codes == [0] * 20, f"exit statuses: {codes}"


# spec: RATE-3 RATE-4 RATE-2
def test_a_bulk_send_is_paced_without_refusals(server_bin, client_bin,
                                               workdir):
    """2,000 lines through one send: the client paces its frames to the
    rate WELCOME states, so every message is acknowledged with nothing
    on standard error (a refusal would be retried quietly, but pacing
    should leave none to retry)."""
    server, alice, _, conv = start_chat(server_bin, client_bin, workdir)
    data = "".join(f"bulk line {i:04d}\n" for i in range(2000)).encode()
    t0 = time.monotonic()
    r = alice.run("send", "--conv", conv, stdin=data)
    took = time.monotonic() - t0
    print(f"2000 lines sent in {took:.2f} s")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stderr == b"", r.stderr.decode()[-2000:]
    server.stop()
    assert count_stored_messages(server.db) == (2000, 2000)


def test_conversations_and_listen_on_a_wrong_one(server_bin, client_bin,
                                                 workdir):
    """`conversations` lists what the user is in; `listen --conv` on one
    that does not exist, or that the user is not in, fails at once with
    the not-found message, as `send` does."""
    server, alice, bob, conv = start_chat(server_bin, client_bin, workdir)
    carol = Client(client_bin, workdir, server, "carol")
    server.adduser("carol", carol.pwfile)
    r = alice.run("create", "--group", "Weekend plans", "--members",
                  "bob,carol", text=True)
    assert r.returncode == 0, r.stderr
    group = r.stdout.strip()
    r = bob.run("conversations", text=True)
    assert r.returncode == 0, r.stderr
    lines = {line.split(" ")[0]: line for line in r.stdout.splitlines()}
    assert set(lines) == {conv, group}, r.stdout
    kind, members = lines[conv].split(" ")[1:]
    assert kind == "direct" and sorted(members.split(",")) == ["alice",
                                                               "bob"]
    head, title = lines[group].split(": ", 1)
    kind, members = head.split(" ")[1:]
    assert kind == "group" and title == "Weekend plans", lines[group]
    assert sorted(members.split(",")) == ["alice", "bob", "carol"]
    r = carol.run("conversations", text=True)
    assert r.returncode == 0 and r.stdout.split(" ")[0] == group, r.stdout
    for who, wrong in ((bob, "cnosuchconversation"), (carol, conv)):
        r = who.run("listen", "--conv", wrong, "--timeout-ms", "60000",
                    text=True)
        assert r.returncode == 1, f"{wrong}: exit {r.returncode}"
        assert "no such conversation (or not a member)" in r.stderr, \
            r.stderr
    server.stop()


TESTS = {
    "chat_crash": test_chat_survives_crashes,
    "send_resume": test_send_killed_and_restarted,
    "subprotocol": test_refuses_a_websocket_without_the_subprotocol,
    "cli": test_unreachable_server_and_bad_flags,
    "password": test_a_wrong_password_is_refused_with_a_cached_token,
    "store_files": test_store_is_private_and_used_by_one_process,
    "first_run": test_a_failed_first_run_leaves_no_store,
    "server_url": test_server_url_spellings_share_a_store,
    "reconnect": test_listen_reconnects_for_as_long_as_it_runs,
    "unreachable": test_an_unreachable_server_is_reported_at_once,
    "pipe": test_listen_stops_quietly_when_its_reader_goes_away,
    "bulk": test_a_bulk_send_is_paced_without_refusals,
    "conversations": test_conversations_and_listen_on_a_wrong_one,
    "early_signal": test_listen_stopped_at_once_ends_cleanly,
}


def run_one(name, args):
    workdir = tempfile.mkdtemp(prefix=f"parley-client-{name}-")
    ok = False
    try:
        TESTS[name](args.server_bin, args.client_bin, workdir)
        ok = True
        print(f"PASS {name}")
    except AssertionError as e:
        print(f"FAIL {name}: {e}")
        print_logs(workdir)
    finally:
        finish(workdir, not ok or args.keep)
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--client-bin", required=True)
    ap.add_argument("--test", action="append", choices=sorted(TESTS),
                    help="run only this test (may be repeated)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directories")
    args = ap.parse_args()
    names = args.test or list(TESTS)
    results = [run_one(name, args) for name in names]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
