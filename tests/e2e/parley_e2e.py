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


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        """Starts the server and waits for its 'listening on' line."""
        for _ in range(5):
            self.port = free_port()
            self.runs += 1
            self.log_path = os.path.join(
                self.workdir, f"server-{self.port}-{self.runs}.log")
            log = open(self.log_path, "w")
            self.proc = subprocess.Popen(
                [self.binary, "--listen", f"127.0.0.1:{self.port}",
                 "--db", self.db, "--log-level", "debug"] + self.extra,
                stdout=subprocess.PIPE, stderr=log, text=True)
            log.close()
            line = self._read_line()
            if line and f"listening on 127.0.0.1:{self.port}" in line:
                return self
            self.proc.wait(timeout=HANG_S)
            if "cannot listen" not in self.log():
                break  # not a port race: fail below
        raise AssertionError("server did not start:\n" + self.log())

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
    return resp.status, dict(resp.getheaders()), parsed


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
