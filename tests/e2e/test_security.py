#!/usr/bin/env python3
"""End-to-end tests of parley-server against spec section 14 (security):
credentials never in URLs, what the log may hold, where the signing key
lives, password hashes, the cost of a token request for an unknown
user, request and session limits, token lifetime, and plain text only
on loopback.

    test_security.py PATH/TO/parley-server

Every server here runs on 127.0.0.1 (or 127.0.0.2, also loopback) with
its own database in the test's temporary directory.
"""

import asyncio
import base64
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parley_e2e import (HANG_S, Server, connect, error_of,  # noqa: E402
                        expect, expect_error, frame, get_token, hello, ping,
                        read_head, ready, request, run_tests,
                        server_with_users, split_response, stop_clean,
                        upgrade_octets, wait_for)

PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-2", "carol": "carol-pw-3"}
MIB = 1024 * 1024


def setup(workdir):
    return {"bin": sys.argv[1], "workdir": workdir, "n": 0}


def teardown(ctx):
    pass


def new_server(ctx, extra=(), users=PASSWORDS):
    """A server on a fresh database of its own, with `users` added."""
    ctx["n"] += 1
    d = os.path.join(ctx["workdir"], f"s{ctx['n']}")
    os.mkdir(d)
    return server_with_users(ctx["bin"], d, users, extra)


class QuietServer(Server):
    """A server started without --log-level: its default level."""

    def start(self):
        self.runs += 1
        self.log_path = os.path.join(self.workdir, f"server-{self.runs}.log")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--listen", "127.0.0.1:0", "--db", self.db]
                + self.extra, stdout=subprocess.PIPE, stderr=log, text=True)
        line = self._read_line()
        prefix = "parley-server listening on 127.0.0.1:"
        assert line.startswith(prefix), (line, self.log())
        self.port = int(line[len(prefix):])
        return self


def token_request(port, user, password):
    return request(port, "POST", "/v1/auth/token",
                   {"user": user, "password": password})


def upgrade_status(port):
    """Sends a WebSocket upgrade offering parley.1; returns (status,
    headers, body, socket), the socket still open after a 101."""
    s = socket.create_connection(("127.0.0.1", port), timeout=HANG_S)
    s.sendall(upgrade_octets(port))
    raw = read_head(s)
    status = int(raw.split(b" ", 2)[1])
    if status != 101:
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                raw += chunk
        except socket.timeout:
            pass
        s.close()
        s = None
    st, hdrs, body = split_response(raw)
    return st, hdrs, body, s


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


# spec: SEC-4 HTTP-3
def test_no_credentials_taken_from_urls(ctx):
    server = new_server(ctx).start()
    port = server.port
    token = get_token(port, "alice", PASSWORDS["alice"])
    status, _, conv = request(port, "POST", "/v1/conversations",
                              {"kind": "direct", "members": ["bob"]}, token)
    assert status == 201, conv
    for query in ("access_token", "token", "bearer"):
        path = f"/v1/conversations/{conv['id']}?{query}={token}"
        status, _, body = request(port, "GET", path)
        assert status == 401, (path, body)
        assert error_of(body) == (401, "unauthorized"), body
    # A password in the query string signs nobody in.
    qs = f"user=alice&password={PASSWORDS['alice']}"
    status, _, body = request(port, "POST", f"/v1/auth/token?{qs}", {})
    assert status == 400 and "token" not in body, body
    status, _, body = request(port, "GET", f"/v1/auth/token?{qs}")
    assert status == 405, body
    # Nothing the server answers names a URL that carries the token.
    status, _, page = request(port, "GET",
                              f"/v1/conversations/{conv['id']}/messages",
                              None, token)
    assert status == 200 and token not in str(page), page
    log = stop_clean(server)
    assert token not in log and PASSWORDS["alice"] not in log


# spec: SEC-6 SEC-5
def test_no_message_bodies_in_the_default_log(ctx):
    d = os.path.join(ctx["workdir"], "quiet")
    os.mkdir(d)
    server = QuietServer(ctx["bin"], d)
    for name, pw in PASSWORDS.items():
        server.adduser(name, pw)
    server.start()
    token = get_token(server.port, "alice", PASSWORDS["alice"])
    status, _, conv = request(server.port, "POST", "/v1/conversations",
                              {"kind": "direct", "members": ["bob"]}, token)
    assert status == 201, conv
    secrets = [f"body-{os.urandom(6).hex()}" for _ in range(5)]

    async def session():
        ws = await ready(server, token)
        await ws.send(frame("SEND", [("conv", conv["id"]), ("temp-id", "t1"),
                                     ("req", "s1")], secrets[0]))
        await expect(ws, "ACK", req="s1")
        await expect(ws, "MSG")
        await ws.send(frame("SEND", [("conv", "c-none"), ("temp-id", "t2"),
                                     ("req", "s2")], secrets[1]))
        await expect_error(ws, 440, "not-found", req="s2")
        await ws.send(frame("SEND", [("conv", conv["id"]),
                                     ("temp-id", "t 3")], secrets[2]))
        await expect_error(ws, 427, "bad-value")
        await ws.send(frame("SEND", [("conv", conv["id"]), ("temp-id", "t4"),
                                     ("content-length", "999")])
                      + secrets[3])
        await expect_error(ws, 409, "truncated-frame")
        await ws.send(frame("HISTORY", [("conv", conv["id"]), ("req", "h")]))
        await expect(ws, "MSG")
        await expect(ws, "PAGE", req="h")
        await ws.close()

    asyncio.run(session())
    status, _, page = request(server.port, "GET",
                              f"/v1/conversations/{conv['id']}/messages",
                              None, token)
    assert status == 200 and page["messages"][0]["body"] == secrets[0]
    log = stop_clean(server)
    assert "session open" in log, "the default level logs sessions"
    for secret in secrets:
        assert secret not in log, f"a message body reached the log:\n{log}"
    assert token not in log


# spec: SEC-8
def test_signing_key_stays_private(ctx):
    servers = [new_server(ctx).start() for _ in range(2)]
    for server in servers:
        port = server.port
        token = get_token(port, "alice", PASSWORDS["alice"])
        token_request(port, "alice", "wrong")
        request(port, "GET", "/v1/conversations/x", None, token + "x")

        head, payload, sig = token.split(".")
        forged = ".".join([head, payload,
                           ("A" if sig[0] != "A" else "B") + sig[1:]])

        async def session(srv=server, tok=token, bad=forged):
            ws = await ready(srv, tok)
            await ws.send(frame("AUTH", [("token", bad),
                                         ("device", "phone")]))
            await expect_error(ws, 424, "auth-failed", fatal="yes")

        asyncio.run(session())
    keys = []
    for server in servers:
        log = stop_clean(server).encode()
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = server.db + suffix
            if os.path.exists(path):
                mode = os.stat(path).st_mode & 0o777
                assert mode == 0o600, f"{path}: {oct(mode)}"
        con = sqlite3.connect(server.db)
        rows = dict(con.execute("SELECT name, value FROM server_keys"))
        con.close()
        sk, cursor_key = bytes(rows["token-sk"]), bytes(rows["cursor-key"])
        assert len(sk) == 64 and len(cursor_key) == 32
        keys.append(sk)
        for secret in (sk, sk[:32], cursor_key):
            forms = [secret, secret.hex().encode(),
                     secret.hex().upper().encode(),
                     base64.b64encode(secret).rstrip(b"="),
                     base64.urlsafe_b64encode(secret).rstrip(b"=")]
            for form in forms:
                assert form not in log, "key material in the log"
            assert secret[:12].hex().encode() not in log
    # The key is made by each server, not shipped with the code.
    assert keys[0] != keys[1], "two fresh servers share a signing key"


# spec: SEC-10
def test_passwords_are_salted_argon2id(ctx):
    same = "one-password-for-two"
    server = new_server(ctx, users={"u1": same, "u2": same, "u3": "other"})
    con = sqlite3.connect(server.db)
    rows = dict(con.execute("SELECT name, hash FROM users"))
    con.close()
    pattern = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)"
                         r"\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$")
    salts = set()
    for name, stored in rows.items():
        m = pattern.match(stored)
        assert m, f"{name}: not an Argon2id hash: {stored}"
        memory_kib, passes = int(m.group(1)), int(m.group(2))
        assert memory_kib >= 64 * 1024, f"{name}: m={memory_kib} KiB"
        assert passes >= 2, f"{name}: t={passes}"
        salt = base64.b64decode(m.group(4) + "=" * (-len(m.group(4)) % 4))
        assert len(salt) >= 16, f"{name}: a salt of {len(salt)} octets"
        salts.add(salt)
    assert len(salts) == 3, "each hash has a salt of its own"
    assert rows["u1"] != rows["u2"]
    with open(server.db, "rb") as f:
        data = f.read()
    assert same.encode() not in data and b"other" not in data


# spec: SEC-11 HTTP-10
def test_unknown_users_cost_a_hash_too(ctx):
    server = new_server(ctx).start()
    pid, port = server.proc.pid, server.port
    clear_refs = f"/proc/{pid}/clear_refs"
    assert os.access(clear_refs, os.W_OK), \
        "this test needs /proc/PID/clear_refs to measure peak memory"
    # Warm up: the first unknown name makes the dummy hash it checks.
    token_request(port, "nobody", "x")
    token_request(port, "alice", "wrong")
    answers = {}
    for user in ("alice", "nobody", "Not A Name!", "alice"):
        with open(clear_refs, "w") as f:
            f.write("5")  # the peak RSS starts again from the current RSS
        before = proc_status(pid, "VmRSS")
        status, _, body = token_request(port, user, "not-the-password")
        peak = proc_status(pid, "VmHWM")
        answers.setdefault((status, str(body)), []).append(user)
        # Argon2id as configured fills 64 MiB: the peak shows the work.
        assert peak - before >= 48 * MIB, \
            f"{user}: peak grew {(peak - before) // MIB} MiB, no hash run"
    assert len(answers) == 1, answers
    stop_clean(server)


# spec: SEC-13 HTTP-2
def test_token_requests_are_limited(ctx):
    server = new_server(ctx, extra=["--token-rate-user", "2",
                                    "--token-rate-address", "4"]).start()
    port = server.port
    assert token_request(port, "alice", PASSWORDS["alice"])[0] == 200
    assert token_request(port, "alice", "wrong")[0] == 401
    status, hdrs, body = token_request(port, "alice", PASSWORDS["alice"])
    assert status == 429, body
    assert error_of(body) == (429, "rate-limited"), body
    retry = int(hdrs["retry-after"])
    assert 1 <= retry <= 30, hdrs  # two a minute: one each 30 s
    # Another name has its own bucket, but the address's is shared.
    assert token_request(port, "bob", PASSWORDS["bob"])[0] == 200
    for user in ("carol", "nobody"):
        status, hdrs, body = token_request(port, user, "x")
        assert status == 429 and "retry-after" in hdrs, (user, body)
        assert error_of(body) == (429, "rate-limited"), body
    log = stop_clean(server)
    assert log.count("refused by the rate limit") == 3, log


# spec: SEC-14
def test_sessions_per_address_are_limited(ctx):
    server = new_server(ctx, extra=["--max-sessions-address", "2"]).start()
    port = server.port
    open_ = []
    for _ in range(2):
        status, _, _, s = upgrade_status(port)
        assert status == 101
        open_.append(s)
    status, hdrs, body, _ = upgrade_status(port)
    assert status == 429, body
    assert '"reason":"rate-limited"' in body.replace(" ", ""), body
    open_.pop().close()

    def upgrade_again():
        st, _, _, s = upgrade_status(port)
        if st == 101:
            return s
        assert st == 429
        return None

    open_.append(wait_for(upgrade_again, "a session slot to free up"))
    for s in open_:
        s.close()
    stop_clean(server)


async def sessions_per_user(server, token_a, token_b):
    """alice may hold one READY session: a second AUTH is refused with
    rate-limited, not fatal, until her first session is gone."""
    ws1 = await ready(server, token_a, "phone")
    ws2 = await connect(server)
    await hello(ws2)
    await ws2.send(frame("AUTH", [("token", token_a), ("device", "laptop"),
                                  ("req", "a2")]))
    await expect_error(ws2, 429, "rate-limited", req="a2")
    await ping(ws2, "still-open")
    ws3 = await ready(server, token_b, "phone")  # bob is not counted
    await ws1.close()
    end = time.monotonic() + HANG_S
    while True:
        assert time.monotonic() < end, "the second session never got READY"
        await ws2.send(frame("AUTH", [("token", token_a),
                                      ("device", "laptop")]))
        msg = await asyncio.wait_for(ws2.recv(), HANG_S)
        if msg.startswith("READY"):
            break
        assert "rate-limited" in msg, msg
        await asyncio.sleep(0.01)
    await ws2.close()
    await ws3.close()


# spec: SEC-14
def test_sessions_per_user_are_limited(ctx):
    server = new_server(ctx, extra=["--max-sessions-user", "1"]).start()
    tok_a = get_token(server.port, "alice", PASSWORDS["alice"])
    tok_b = get_token(server.port, "bob", PASSWORDS["bob"])
    asyncio.run(sessions_per_user(server, tok_a, tok_b))
    stop_clean(server)


def token_life(token):
    payload = token.split(".")[1]
    text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    user, issued, expires = text.decode().split("|")
    return user, int(expires) - int(issued)


# spec: SEC-9
def test_tokens_live_at_most_a_day(ctx):
    server = new_server(ctx).start()
    status, _, config = request(server.port, "GET", "/v1/config")
    assert status == 200 and config["token_ttl_ms"] <= 86400000, config
    before = int(time.time() * 1000)
    status, _, body = token_request(server.port, "alice", PASSWORDS["alice"])
    assert status == 200, body
    assert body["expires_ms"] - before <= 86400000, body
    assert token_life(body["token"]) == ("alice", config["token_ttl_ms"])
    stop_clean(server)
    for ttl in ("86400001", "100000000", "4294967295000"):
        r = subprocess.run([ctx["bin"], "--listen", "127.0.0.1:0", "--db",
                            server.db, "--token-ttl-ms", ttl],
                           capture_output=True, text=True, timeout=HANG_S)
        assert r.returncode == 2, (ttl, r.returncode, r.stderr)
        assert "--token-ttl-ms" in r.stderr, r.stderr
    day = Server(ctx["bin"], server.workdir,
                 extra=["--token-ttl-ms", "86400000"]).start()
    status, _, body = token_request(day.port, "bob", PASSWORDS["bob"])
    assert status == 200 and token_life(body["token"])[1] == 86400000
    stop_clean(day)


def start_on(binary, workdir, listen, extra=()):
    """Starts parley-server on `listen`; returns (process, port) or
    (exit code, stderr) when it did not start."""
    log = open(os.path.join(workdir, f"listen-{listen}.log"), "w")
    proc = subprocess.Popen([binary, "--listen", listen, "--db",
                             os.path.join(workdir, "listen.db"), *extra],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    log.close()
    line = proc.stdout.readline()
    if "listening on" not in line:
        rc = proc.wait(timeout=HANG_S)
        with open(os.path.join(workdir, f"listen-{listen}.log")) as f:
            return rc, f.read()
    return proc, int(line.rsplit(":", 1)[1])


# spec: SEC-16
def test_plain_text_only_on_loopback(ctx):
    d = os.path.join(ctx["workdir"], "listen")
    os.mkdir(d)
    # 192.0.2.1 (TEST-NET-1) is refused before any socket is made.
    for listen in ("192.0.2.1:0", "0.0.0.0:0", "[::]:0"):
        rc, err = start_on(ctx["bin"], d, listen)
        assert rc == 2, (listen, rc, err)
        assert "TLS" in err and "--allow-plaintext" in err, err
    # Any loopback address needs no flag.
    proc, port = start_on(ctx["bin"], d, "127.0.0.2:0")
    assert not isinstance(proc, int), port
    try:
        conn = socket.create_connection(("127.0.0.2", port), timeout=HANG_S)
        conn.sendall(b"GET /v1/config HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n")
        raw = b""
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                break
            raw += chunk
        conn.close()
        assert raw.startswith(b"HTTP/1.1 200"), raw
    finally:
        proc.terminate()
        assert proc.wait(timeout=HANG_S) == 0
        proc.stdout.close()


def test_an_address_the_machine_lacks_is_fatal(ctx):
    """An address no interface has (TEST-NET-1) ends the server with exit
    1 and a message naming the address and the error; nothing is sent
    anywhere, since the bind fails locally. The database is new, which
    the log says at warn level."""
    db = os.path.join(ctx["workdir"], "lacking.db")
    r = subprocess.run([ctx["bin"], "--listen", "192.0.2.1:0",
                        "--allow-plaintext", "--db", db],
                       capture_output=True, text=True, timeout=HANG_S)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "cannot listen on 192.0.2.1:0: " in r.stderr, r.stderr
    assert re.search(r"warn +store: no database at .*lacking\.db; created "
                     r"a new one", r.stderr), r.stderr


# spec: SEC-5
def test_tokens_in_paths_never_reach_the_debug_log(ctx):
    server = new_server(ctx).start()  # Server logs at debug level
    port = server.port
    token = get_token(port, "alice", PASSWORDS["alice"])
    for path in (f"/v1/{token}", f"/{token}", f"/v1/conversations/{token}",
                 f"/v1/conversations/x/{token}"):
        status, _, _ = request(port, "GET", path, None, token)
        assert status in (401, 404), path
    log = stop_clean(server)
    assert "debug" in log, log[-2000:]
    assert token not in log and token[4:40] not in log, log[-2000:]
    assert "pt1." not in log, log[-2000:]


# spec: HTTP-3 HTTP-6
def test_malformed_tokens_of_any_length_are_auth_failed(ctx):
    server = new_server(ctx).start()
    for n in (1, 530, 600, 3000):
        status, hdrs, body = request(
            server.port, "GET", "/v1/conversations/c1", None, None,
            headers={"Authorization": "Bearer pt1." + "A" * n})
        assert status == 401 and hdrs["www-authenticate"] == "Bearer", n
        assert error_of(body) == (424, "auth-failed"), (n, body)
    stop_clean(server)


# spec: HTTP-10 SEC-11
def test_user_names_with_nul_are_unknown_users(ctx):
    server = new_server(ctx).start()
    for user in ("alice\\u0000junk", "alice\\u0000", "Alice", "a" * 33):
        body = ('{"user": "%s", "password": "%s"}'
                % (user, PASSWORDS["alice"])).encode()
        status, _, answer = request(server.port, "POST", "/v1/auth/token",
                                    body)
        assert status == 401, (user, answer)
        assert error_of(answer) == (424, "auth-failed"), answer
    stop_clean(server)
def open_token_requests(port, count):
    """Sends `count` token requests on sockets of their own, unread."""
    body = b'{"user": "alice", "password": "not-her-password"}'
    head = (f"POST /v1/auth/token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=HANG_S)
        s.sendall(head + body)
        socks.append(s)
    return socks


def answers_of(socks, bufs):
    """The (status, reason) of each socket's complete answer so far,
    reading what has come without waiting; bufs keeps partial ones."""
    out = []
    for s in socks:
        s.setblocking(False)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                bufs[s] = bufs.get(s, b"") + chunk
        except (BlockingIOError, ConnectionError):
            pass
        raw = bufs.get(s, b"")
        head, sep, body = raw.partition(b"\r\n\r\n")
        if not sep:
            continue
        st, hdrs, _ = split_response(raw)
        if len(body) >= int(hdrs.get("content-length", "0")):
            out.append((st, error_of(json.loads(body))[1]))
    return out


# spec: SEC-13 SEC-5
def test_password_checks_waiting_are_bounded(ctx):
    server = new_server(ctx, extra=["--token-rate-user", "0",
                                    "--token-rate-address", "0"]).start()
    socks, bufs = open_token_requests(server.port, 300), {}
    # Past the bound, a request is refused at once with 429.
    got = wait_for(lambda: [a for a in answers_of(socks, bufs)
                            if a == (429, "rate-limited")] or None,
                   "a 429 for a token request past the queue bound")
    assert got
    for s in socks:  # the clients go away: their checks are not run
        s.close()
    wait_for(lambda: "token request dropped: the client went away"
             in server.log(), "a dropped token request in the log")
    socks, bufs = open_token_requests(server.port, 300), {}
    wait_for(lambda: [a for a in answers_of(socks, bufs)
                      if a == (429, "rate-limited")] or None,
             "the queue full again")
    # A stop abandons the queue: the server exits at once, and the
    # requests still waiting get 503 going-away.
    stop_clean(server)
    answers = answers_of(socks, bufs)
    for s in socks:
        s.close()
    assert (503, "going-away") in answers, answers
    assert not [a for a in answers if a[0] not in (401, 429, 503)], answers


if __name__ == "__main__":
    run_tests([test_no_credentials_taken_from_urls,
               test_no_message_bodies_in_the_default_log,
               test_signing_key_stays_private,
               test_passwords_are_salted_argon2id,
               test_unknown_users_cost_a_hash_too,
               test_token_requests_are_limited,
               test_password_checks_waiting_are_bounded,
               test_tokens_in_paths_never_reach_the_debug_log,
               test_malformed_tokens_of_any_length_are_auth_failed,
               test_user_names_with_nul_are_unknown_users,
               test_sessions_per_address_are_limited,
               test_sessions_per_user_are_limited,
               test_tokens_live_at_most_a_day,
               test_plain_text_only_on_loopback,
               test_an_address_the_machine_lacks_is_fatal],
              setup, teardown)
