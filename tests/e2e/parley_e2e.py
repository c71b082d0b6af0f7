"""Shared pieces of the end-to-end tests of parley-server.

Each test file starts its own servers on 127.0.0.1 on a free port, with a
database in a fresh temporary directory, and stops them. Nothing here
waits a fixed time: every wait is for a condition, and HANG_S only bounds
how long a broken server can hold a test up.

Clients are independent of the C code: HTTP with http.client, WebSocket
with the websockets package (Debian's python3-websockets), frames written
by hand as the spec's examples are.
"""

import asyncio
import base64
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import websockets

HANG_S = 30  # only a guard against hangs, never a pass/fail condition
SUBPROTOCOL = "parley.1"


class Server:
    """One parley-server process on a database in `workdir`."""

    def __init__(self, binary, workdir, db_name="parley.db", extra=()):
        self.binary = binary
        self.workdir = workdir
        self.db = os.path.join(workdir, db_name)
        self.extra = list(extra)
        self.proc = None
        self.port = None
        self.log_path = None
        self.runs = 0

    def adduser(self, name, password):
        r = subprocess.run([self.binary, "adduser", name, "--db", self.db],
                           input=password + "\n", capture_output=True,
                           text=True, timeout=HANG_S)
        assert r.returncode == 0, r.stderr

    def start(self):
        """Starts the server on 127.0.0.1 port 0 (the kernel picks a free
        one) and reads the port from its 'listening on' line."""
        self.runs += 1
        self.log_path = os.path.join(self.workdir,
                                     f"server-{self.runs}.log")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--listen", "127.0.0.1:0", "--db", self.db,
                 "--log-level", "debug"] + self.extra,
                stdout=subprocess.PIPE, stderr=log, text=True)
        line = self._read_line()
        prefix = "parley-server listening on 127.0.0.1:"
        if not line.startswith(prefix):
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server did not start ({line!r}):\n"
                                 + self.log())
        self.port = int(line[len(prefix):])
        return self

    def _read_line(self):
        ready, _, _ = select.select([self.proc.stdout], [], [], HANG_S)
        return self.proc.stdout.readline() if ready else ""

    def stop(self, sig=signal.SIGTERM):
        """Sends `sig` and returns the exit code."""
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=HANG_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("server did not stop:\n" + self.log())
        finally:
            self.proc.stdout.close()
        self.proc = None
        return rc

    def log(self):
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def url(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"


# ---- HTTP -----------------------------------------------------------------

def request(port, method, path, body=None, token=None, headers=None):
    """One request on its own connection. Returns (status, headers,
    parsed JSON body or text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HANG_S)
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if token:
        hdrs["Authorization"] = "Bearer " + token
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw.decode("utf-8", "replace")
    hdrs = {k.lower(): v for k, v in resp.getheaders()}
    return resp.status, hdrs, parsed


def raw_http(port, octets):
    """Sends raw request octets; returns everything the server sends
    before it closes the connection (or HANG_S passes)."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_S) as s:
        s.sendall(octets)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
    return out


def split_response(raw):
    """(status, lower-cased headers, body text) of one raw response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body.decode("utf-8", "replace")


def error_of(body):
    """The (code, reason) of a spec 12.1 error body, checking its shape."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "reason", "message"}, err
    assert isinstance(err["message"], str) and err["message"], err
    return err["code"], err["reason"]


def get_token(port, user, password):
    status, _, body = request(port, "POST", "/v1/auth/token",
                           {"user": user, "password": password})
    assert status == 200, (status, body)
    return body["token"]


def upgrade_octets(port, protocols=SUBPROTOCOL):
    """A WebSocket upgrade request for /v1/ws with a fresh key, offering
    `protocols` (no Sec-WebSocket-Protocol header when empty)."""
    key = base64.b64encode(os.urandom(16)).decode()
    extra = f"Sec-WebSocket-Protocol: {protocols}\r\n" if protocols else ""
    return (f"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"{extra}\r\n").encode()


def read_head(sock):
    """Reads from sock up to the blank line that ends an HTTP head (or
    until the peer closes); returns every octet read."""
    out = b""
    while b"\r\n\r\n" not in out:
        chunk = sock.recv(4096)
        if not chunk:
            break
        out += chunk
    return out


class RawWebSocket:
    """A WebSocket client on a plain socket that reads only when asked
    (the peer that stops reading, which no library client will be) and
    writes frames it builds itself, so several can go in one write."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=HANG_S)
        self.sock.sendall(upgrade_octets(port))
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._more()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        return chunk

    @staticmethod
    def message(data, opcode=0x1):
        """One masked client message (FIN set) holding `data`."""
        if isinstance(data, str):
            data = data.encode()
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            head = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
        return head + mask + bytes(b ^ mask[i % 4] for i, b in
                                   enumerate(data))

    def send(self, *messages):
        """Writes the messages with one sendall."""
        self.sock.sendall(b"".join(messages))

    def send_text(self, text):
        self.send(self.message(text))

    def recv(self):
        """(fin, opcode, payload) of the next server frame."""
        while len(self.buf) < 2:
            self.buf += self._more()
        fin, opcode = self.buf[0] & 0x80, self.buf[0] & 0x0F
        assert not self.buf[1] & 0x80, "a masked frame from the server"
        n, off = self.buf[1] & 0x7F, 2
        if n >= 126:
            off = 4 if n == 126 else 10
            while len(self.buf) < off:
                self.buf += self._more()
            n = int.from_bytes(self.buf[2:off], "big")
        while len(self.buf) < off + n:
            self.buf += self._more()
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return bool(fin), opcode, payload

    def recv_text(self):
        """The payload of the next server frame, as text."""
        return self.recv()[2].decode()

    def recv_frame(self):
        """The next Parley frame; it must be a whole text message."""
        fin, opcode, payload = self.recv()
        assert opcode == 0x1, f"opcode {opcode:#x}: {payload[:80]!r}"
        assert fin, "a fragmented message"
        return parse(payload.decode("utf-8"))

    def read_until_closed(self):
        """Reads until the server closes; returns the last octets read."""
        tail = b""
        try:
            while True:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    break
                tail = (tail + chunk)[-64:]
        except ConnectionResetError:
            pass
        return tail

    def close(self):
        self.sock.close()


# ---- frames ---------------------------------------------------------------

def frame(verb, headers=(), body=None):
    """A frame as the spec writes it: start line, headers, blank line and
    the body, with content-length when there is a body."""
    out = verb + "\r\n"
    for name, value in headers:
        out += f"{name}: {value}\r\n"
    if body is not None:
        out += f"content-length: {len(body.encode())}\r\n"
    out += "\r\n"
    if body is not None:
        out += body
    return out


def parse(text):
    """(verb, {header: value}, body) of one frame the server sent."""
    head, sep, body = text.partition("\r\n\r\n")
    assert sep, f"no blank line in {text!r}"
    lines = head.split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        name, sep, value = line.partition(": ")
        assert sep and name not in hdrs, f"bad header line {line!r}"
        hdrs[name] = value
    if "content-length" in hdrs:
        assert len(body.encode()) == int(hdrs["content-length"]), text
    else:
        assert body == "", text
    return lines[0], hdrs, body


async def recv(ws):
    """The next frame from the server, parsed."""
    msg = await asyncio.wait_for(ws.recv(), HANG_S)
    assert isinstance(msg, str), f"binary message from the server: {msg!r}"
    return parse(msg)


async def expect(ws, verb, **want):
    """Receives a frame and checks its verb and the given headers (names
    with _ for -). Returns the headers."""
    got_verb, hdrs, body = await recv(ws)
    assert got_verb == verb, f"wanted {verb}, got {got_verb} {hdrs} {body!r}"
    for key, value in want.items():
        name = key.replace("_", "-")
        assert hdrs.get(name) == str(value), \
            f"{verb} {name}: wanted {value!r}, got {hdrs.get(name)!r}"
    return hdrs


async def expect_error(ws, code, reason, fatal="no", req=None):
    hdrs = await expect(ws, "ERROR", code=code, reason=reason, fatal=fatal)
    if req is not None:
        assert hdrs.get("req") == req, hdrs
    return hdrs


async def expect_closed(ws, code=None):
    """Waits until the server closes; checks the close code if given."""
    try:
        while True:
            msg = await asyncio.wait_for(ws.recv(), HANG_S)
            raise AssertionError(f"frame after a fatal error: {msg!r}")
    except websockets.ConnectionClosed:
        pass
    if code is not None:
        assert ws.close_code == code, (ws.close_code, ws.close_reason)


async def connect(server):
    return await websockets.connect(server.url("/v1/ws"),
                                    subprotocols=[SUBPROTOCOL],
                                    ping_interval=None, max_size=None,
                                    max_queue=None,
                                    open_timeout=HANG_S)


async def hello(ws, heartbeat=60000, caps="receipts,typing,presence"):
    await ws.send(frame("HELLO", [("versions", "1"), ("heartbeat",
                                                       str(heartbeat)),
                                  ("caps", caps)]))
    return await expect(ws, "WELCOME", version=1)


async def ready(server, token, device="phone"):
    """A session through HELLO and AUTH, READY."""
    ws = await connect(server)
    await hello(ws)
    await ws.send(frame("AUTH", [("token", token), ("device", device)]))
    await expect(ws, "READY", device=device)
    return ws


async def ping(ws, nonce="ping"):
    """PING, and the next frame must be its PONG."""
    await ws.send(frame("PING", [("nonce", nonce)]))
    await expect(ws, "PONG", nonce=nonce)


# ---- running ---------------------------------------------------------------

def run_tests(tests, setup, teardown):
    """Runs each test(ctx) in order (coroutines with asyncio.run), then
    teardown(ctx). Prints one line per test; exits 1 on any failure."""
    failed = 0
    ctx = None
    workdir = tempfile.mkdtemp(prefix="parley-e2e-")
    try:
        ctx = setup(workdir)
        for test in tests:
            t0 = time.monotonic()
            try:
                result = test(ctx)
                if asyncio.iscoroutine(result):
                    asyncio.run(result)
                print(f"PASS {test.__name__} ({time.monotonic() - t0:.2f}s)")
            except Exception:  # noqa: BLE001 - report every failure
                failed += 1
                print(f"FAIL {test.__name__}")
                traceback.print_exc()
            sys.stdout.flush()
    finally:
        try:
            if ctx is not None:
                teardown(ctx)
        except Exception:  # noqa: BLE001
            failed += 1
            print("FAIL teardown")
            traceback.print_exc()
        if failed:
            print(f"kept {workdir} for inspection")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if failed:
        print(f"{failed} of {len(tests)} tests failed")
    else:
        print(f"all {len(tests)} tests passed")
    sys.exit(1 if failed else 0)


def stop_clean(server):
    """Stops a server with SIGTERM and checks it drained and exited 0
    (under ASan this also means no leak and no error report)."""
    rc = server.stop(signal.SIGTERM)
    log = server.log()
    assert rc == 0, f"exit code {rc}\n{log[-4000:]}"
    assert "ERROR: AddressSanitizer" not in log, log[-4000:]
    assert "runtime error" not in log, log[-4000:]
    return log


# ---- setup -----------------------------------------------------------------

def server_with_users(binary, workdir, users, extra=()):
    """A server (not started yet) on a fresh database with `users`
    ({name: password}) added."""
    server = Server(binary, workdir, extra=extra)
    for name, pw in users.items():
        server.adduser(name, pw)
    return server


def tokens_of(server, users):
    """{name: token} for each of `users` ({name: password})."""
    return {n: get_token(server.port, n, pw) for n, pw in users.items()}


def new_conv(server, token, kind, members, **more):
    """Creates a conversation over HTTP; returns its id."""
    status, _, conv = request(server.port, "POST", "/v1/conversations",
                              {"kind": kind, "members": members, **more},
                              token)
    assert status == 201, conv
    return conv["id"]


def stop_if_running(ctx):
    """A teardown: stops ctx["server"] cleanly unless a test stopped it."""
    if ctx["server"].proc is not None:
        stop_clean(ctx["server"])


def wait_for(cond, what, must_run=(), timeout=HANG_S, poll_s=0.01):
    """Polls cond() until it returns something true and returns that;
    fails after `timeout`, or as soon as a process in must_run (with a
    .label) has exited with a failure."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        result = cond()
        if result:
            return result
        for p in must_run:
            rc = p.poll()
            assert rc is None or rc == 0, \
                f"{p.label} exited {rc} while waiting for {what}"
        time.sleep(poll_s)
    raise AssertionError(f"gave up waiting for {what}")


# ---- mock servers ----------------------------------------------------------

def answer_json(conn, status, body):
    """Writes one HTTP response with a JSON body and Connection: close."""
    data = json.dumps(body).encode()
    conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/"
                 f"json\r\nContent-Length: {len(data)}\r\nConnection:"
                 f" close\r\n\r\n".encode() + data)
