#!/usr/bin/env python3
"""End-to-end tests of parley-client against a scripted stand-in server.

The stand-in (MockParley) listens on 127.0.0.1, answers the HTTP API the
client needs (a token, a conversation), upgrades /v1/ws selecting
`parley.1`, and plays one script per WebSocket connection: a normal
session, or one that breaks the protocol in a chosen way. It records
every HTTP request line and every WebSocket frame the client sends,
with its opcode and, for a close, its status.

    test_client_mock.py PATH/TO/parley-client

Every wait polls a condition or reads a socket; HANG_S only bounds how
long a broken client can hold a test up.
"""

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parley_e2e import answer_json, frame  # noqa: E402

HANG_S = 60
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PASSWORD = "mock-secret-pw"


def parse_frame(text):
    """(verb, headers, body) of a frame; no checks, the client's frames
    are checked by the scripts that need them."""
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        name, _, value = line.partition(": ")
        hdrs[name] = value
    return lines[0], hdrs, body


class Conn:
    """One WebSocket connection the client opened."""

    def __init__(self, sock, index):
        self.sock = sock
        self.index = index
        self.buf = b""
        self.opcodes = []      # of every frame the client sent
        self.frames = []       # (verb, headers, body) of its text messages
        self.close_code = None  # the status of the client's close, if any

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def _frame(self):
        while len(self.buf) < 2:
            self._more()
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n >= 126:
            off = 4 if n == 126 else 10
            while len(self.buf) < off:
                self._more()
            n = int.from_bytes(self.buf[2:off], "big")
        assert b1 & 0x80, "an unmasked frame from the client"
        while len(self.buf) < off + 4 + n:
            self._more()
        mask = self.buf[off:off + 4]
        data = bytes(x ^ mask[i % 4] for i, x in
                     enumerate(self.buf[off + 4:off + 4 + n]))
        self.buf = self.buf[off + 4 + n:]
        return bool(b0 & 0x80), b0 & 0x0F, data

    def recv(self):
        """The next client text message as a frame, or None once the
        client closed (its close status is kept)."""
        parts, first = [], None
        while True:
            try:
                fin, opcode, data = self._frame()
            except (EOFError, OSError):
                return None
            self.opcodes.append(opcode)
            if opcode == 0x8:
                if len(data) >= 2:
                    self.close_code = int.from_bytes(data[:2], "big")
                self.send_raw(0x8, data[:2])
                return None
            if opcode == 0x9:
                self.send_raw(0xA, data)
                continue
            if opcode == 0xA:
                continue
            first = first if first is not None else opcode
            parts.append(data)
            if fin:
                break
        assert first == 0x1, f"a client message with opcode {first:#x}"
        got = parse_frame(b"".join(parts).decode("utf-8"))
        self.frames.append(got)
        return got

    def send_raw(self, opcode, payload):
        n = len(payload)
        if n < 126:
            head = bytes([0x80 | opcode, n])
        elif n < 65536:
            head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
        try:
            self.sock.sendall(head + payload)
        except OSError:
            pass

    def send(self, text):
        self.send_raw(0x1, text.encode() if isinstance(text, str) else text)

    def close(self, code):
        self.send_raw(0x8, code.to_bytes(2, "big"))
        self.sock.close()


class MockParley:
    """The stand-in server. `scripts` names the script of each WebSocket
    connection in turn ("ok" once they run out); `token_statuses` the
    status of each token request in turn (200 once they run out)."""

    def __init__(self, scripts=(), token_statuses=()):
        self.scripts = list(scripts)
        self.token_statuses = list(token_statuses)
        self.requests = []  # (request line, headers, body)
        self.conns = []
        self.tokens = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        self.errors = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(HANG_S)
            threading.Thread(target=self._handle, args=(conn,),
                             daemon=True).start()

    def _handle(self, conn):
        try:
            self._handle_request(conn)
        except Exception:  # noqa: BLE001 - reported by the test
            self.errors.append(traceback.format_exc())
        finally:
            conn.close()

    def _handle_request(self, conn):
        req = b""
        while b"\r\n\r\n" not in req:
            chunk = conn.recv(4096)
            if not chunk:
                return
            req += chunk
        head, _, body = req.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {h.split(":")[0].lower(): h.split(":", 1)[1].strip()
                   for h in lines[1:] if ":" in h}
        want = int(headers.get("content-length", "0"))
        while len(body) < want:
            body += conn.recv(4096)
        with self.lock:
            self.requests.append((lines[0], headers, body.decode()))
        line = lines[0]
        if line.startswith("POST /v1/auth/token "):
            with self.lock:
                status = (self.token_statuses.pop(0) if self.token_statuses
                          else 200)
                token = f"pt1.mock{len(self.tokens)}.sig"
                self.tokens.append(token)
            if status == 200:
                answer_json(conn, 200, {"token": token, "user": "alice",
                                        "expires_ms": 2 ** 52})
            else:
                answer_json(conn, status, {"error": {
                    "code": 424, "reason": "auth-failed",
                    "message": "wrong user or password"}})
        elif line.startswith("GET /v1/ws "):
            self._upgrade(conn, headers)
        elif line.startswith("GET /v1/conversations/"):
            answer_json(conn, 200, {"id": "c1", "kind": "direct",
                                    "title": "", "members": ["alice", "bob"],
                                    "last_seq": 0, "created_ms": 1})
        else:
            answer_json(conn, 404, {"error": {"code": 404, "reason":
                                              "no-such-path",
                                              "message": "no such path"}})

    def _upgrade(self, conn, headers):
        key = headers.get("sec-websocket-key", "")
        accept = base64.b64encode(hashlib.sha1(
            (key + GUID).encode()).digest()).decode()
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade:"
                      " websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n"
                      "Sec-WebSocket-Protocol: parley.1\r\n\r\n").encode())
        with self.lock:
            c = Conn(conn, len(self.conns))
            self.conns.append(c)
            script = self.scripts.pop(0) if self.scripts else "ok"
        play(c, script)

    def close(self):
        self.closed = True
        self.sock.close()


def play(c, script):
    """Answers the client's frames as `script` says:
    ok           a well-behaved server;
    close1007    closes with status 1007 right after READY;
    malformed    sends a MSG with a header given twice after READY;
    bad-utf8     sends a text message that is not UTF-8 after READY;
    version2     answers HELLO with a WELCOME naming version 2;
    auth-failed  answers AUTH with auth-failed (fatal) and closes."""
    seq = 0
    while True:
        got = c.recv()
        if got is None:
            return
        verb, h, body = got
        req = [("req", h["req"])] if "req" in h else []
        if verb == "HELLO":
            version = "2" if script == "version2" else "1"
            c.send(frame("WELCOME", [("version", version),
                                     ("caps", "receipts"),
                                     ("heartbeat", "30000"),
                                     ("max-frame", "65536"),
                                     ("max-body", "64512")] + req))
        elif verb == "AUTH" and script == "auth-failed":
            c.send(frame("ERROR", [("code", "424"), ("reason", "auth-failed"),
                                   ("fatal", "yes")] + req))
            c.close(1008)
            return
        elif verb == "AUTH":
            c.send(frame("READY", [("user", "alice"),
                                   ("device", h.get("device", "")),
                                   ("expires", str(2 ** 52))] + req))
            if script == "close1007":
                c.close(1007)
                return
            if script == "malformed":
                c.send("MSG\r\nconv: c1\r\nconv: c1\r\nseq: 1\r\n"
                       "from: bob\r\npos: 9\r\n\r\n")
            if script == "bad-utf8":
                c.send(b"MSG\r\nconv: c1\r\nseq: 1\r\nfrom: bob\r\n"
                       b"pos: 9\r\ncontent-length: 3\r\n\r\na\xc0\xaf")
        elif verb == "SYNC":
            c.send(frame("SYNCED", [("pos", "1")] + req))
        elif verb == "SEND":
            seq += 1
            c.send(frame("ACK", [("conv", h["conv"]),
                                 ("temp-id", h["temp-id"]),
                                 ("msg-id", f"m{seq}"), ("seq", str(seq)),
                                 ("ts", "1764864000000")] + req))
        elif verb == "PING":
            c.send(frame("PONG", req))
        elif verb == "RECEIPT":
            c.send(frame("OK", req))
        elif verb == "BYE":
            c.send(frame("BYE", req))
            c.close(1000)
            return


class Env:
    def __init__(self, client_bin, workdir):
        self.bin = client_bin
        self.workdir = workdir
        self.pw = os.path.join(workdir, "pw")
        with open(self.pw, "w") as f:
            f.write(PASSWORD + "\n")
        self.runs = 0

    def run(self, url, *cmd, extra=()):
        self.runs += 1
        return subprocess.run(
            [self.bin, "--server", url, "--user", "alice",
             "--password-file", self.pw, "--db",
             os.path.join(self.workdir, f"alice-{self.runs}.db"),
             "--backoff-base-ms", "20", "--backoff-cap-ms", "100",
             "--connect-timeout-ms", "20000", *extra, *cmd],
            capture_output=True, text=True, timeout=HANG_S)

    def send(self, mock, text="hello", extra=()):
        return self.run(f"http://127.0.0.1:{mock.port}", "send", "--conv",
                        "c1", text, extra=extra)


def check_common(mock, r):
    """What holds for every run: text messages only (WS-6), no
    credential in any URL (SEC-4), no error in the stand-in."""
    assert not mock.errors, "".join(mock.errors)
    for c in mock.conns:
        assert 0x2 not in c.opcodes, f"a binary message on {c.index}"
        assert set(c.opcodes) <= {0x0, 0x1, 0x8, 0x9, 0xA}, c.opcodes
    for line, headers, body in mock.requests:
        url = line.split(" ")[1]
        assert PASSWORD not in url and "pt1." not in url, line
        for token in mock.tokens:
            assert token not in url, line
    return r


# spec: WS-6 SEC-4
def test_text_messages_and_credentials_off_urls(env):
    mock = MockParley()
    try:
        r = check_common(mock, env.send(mock))
    finally:
        mock.close()
    assert r.returncode == 0, r.stderr
    verbs = [v for v, _, _ in mock.conns[0].frames]
    assert verbs[:2] == ["HELLO", "AUTH"] and "SEND" in verbs, verbs
    token_posts = [b for line, _, b in mock.requests
                   if line.startswith("POST /v1/auth/token")]
    assert token_posts and PASSWORD in token_posts[0]
    auth = [h for v, h, _ in mock.conns[0].frames if v == "AUTH"][0]
    assert auth["token"] == mock.tokens[0]


# spec: WS-9
def test_a_1007_close_is_a_lost_connection(env):
    mock = MockParley(scripts=["close1007"])
    try:
        r = check_common(mock, env.send(mock, "after-1007"))
    finally:
        mock.close()
    assert r.returncode == 0, r.stderr
    assert len(mock.conns) >= 2, "the client did not connect again"
    sends = [h for v, h, b in mock.conns[-1].frames if v == "SEND"]
    assert sends, "the message went out on the next session"


# spec: FRAME-8 FRAME-9
def test_malformed_frames_close_with_1002_and_reconnect(env):
    for script in ("malformed", "bad-utf8"):
        mock = MockParley(scripts=[script])
        try:
            r = check_common(mock, env.send(mock, f"after-{script}"))
        finally:
            mock.close()
        assert r.returncode == 0, r.stderr
        assert len(mock.conns) >= 2, f"{script}: no new session"
        first = mock.conns[0]
        assert first.close_code == 1002, (script, first.close_code)
        assert not [v for v, _, _ in first.frames if v == "RECEIPT"], \
            f"{script}: the client acted on the malformed MSG"


# spec: VER-3
def test_welcome_with_another_version_is_left(env):
    mock = MockParley(scripts=["version2"])
    try:
        r = check_common(mock, env.send(mock, "v1-only"))
    finally:
        mock.close()
    assert r.returncode == 0, r.stderr
    first = mock.conns[0]
    assert [v for v, _, _ in first.frames] == ["HELLO", "AUTH"], \
        f"the client spoke on after WELCOME 2: {first.frames}"
    assert first.close_code == 1002, first.close_code
    assert len(mock.conns) >= 2


# spec: CLI-3
def test_refused_sign_in_is_not_retried(env):
    mock = MockParley(scripts=["auth-failed"], token_statuses=[200, 401])
    try:
        r = check_common(mock, env.send(mock, "never"))
    finally:
        mock.close()
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert len(mock.conns) == 1, f"{len(mock.conns)} sessions after 401"
    posts = [line for line, _, _ in mock.requests
             if line.startswith("POST /v1/auth/token")]
    assert len(posts) == 2, posts
    assert "refused" in r.stderr, r.stderr


# spec: SEC-17 SEC-16
def test_no_credentials_over_plain_text_off_loopback(env):
    mock = MockParley()
    try:
        # 0.0.0.0 is not a loopback address; a client that went ahead
        # would reach this stand-in, which listens on 127.0.0.1.
        url = f"http://0.0.0.0:{mock.port}"
        r = env.run(url, "send", "--conv", "c1", "x")
        assert r.returncode == 2, (r.returncode, r.stderr)
        assert "TLS" in r.stderr and "--allow-plaintext" in r.stderr
        assert not mock.requests and not mock.conns, mock.requests
        # The user may allow it explicitly.
        r = check_common(mock, env.run(url, "send", "--conv", "c1", "x",
                                       extra=["--allow-plaintext"]))
        assert r.returncode == 0, r.stderr
        assert mock.requests
    finally:
        mock.close()


TESTS = [test_text_messages_and_credentials_off_urls,
         test_a_1007_close_is_a_lost_connection,
         test_malformed_frames_close_with_1002_and_reconnect,
         test_welcome_with_another_version_is_left,
         test_refused_sign_in_is_not_retried,
         test_no_credentials_over_plain_text_off_loopback]


def main():
    workdir = tempfile.mkdtemp(prefix="parley-client-mock-")
    env = Env(sys.argv[1], workdir)
    failed = 0
    for test in TESTS:
        try:
            test(env)
            print(f"PASS {test.__name__}")
        except Exception:  # noqa: BLE001 - report every failure
            failed += 1
            print(f"FAIL {test.__name__}")
            traceback.print_exc()
        sys.stdout.flush()
    if failed:
        print(f"{failed} of {len(TESTS)} tests failed; files in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"all {len(TESTS)} tests passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
