"""Shared pieces of the stand-in servers that the parley-conform tests
point the runner at (test_conform_runner.py, test_conform_sloppy.py,
test_conform_hostile.py).

StandinServer listens on 127.0.0.1 on a free port, serves every
connection on its own thread, reads one HTTP request and hands it to the
subclass's _answer(conn, head, body). The helpers below write the JSON
answers of the HTTP API, the 101 answer of a WebSocket upgrade and
unmasked WebSocket frames, as a server sends them.
"""

import base64
import hashlib
import json
import os
import re
import socket
import struct
import threading

from parley_e2e import HANG_S

# What every stand-in answers to GET /v1/config.
CONFIG = {"versions": [1], "subprotocol": "parley.1", "ws_path": "/v1/ws",
          "max_frame": 65536, "max_headers": 32, "max_header_line": 1024,
          "max_body": 64512, "heartbeat_min_ms": 200,
          "heartbeat_max_ms": 120000, "dedup_window_ms": 86400000,
          "typing_ttl_ms": 6000, "token_ttl_ms": 3600000,
          "rate_per_s": 200, "rate_burst": 400}

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_head(conn):
    """Reads up to the end of an HTTP head; returns (head as latin-1
    text, the octets read after it), or (None, b"") when the peer
    closes first."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


def read_body(conn, head, rest):
    """Reads the body that head's Content-Length announces, starting
    from rest; returns what came (less when the peer closes early)."""
    m = re.search(r"(?im)^content-length:\s*(\d+)", head)
    want = int(m.group(1)) if m else 0
    while len(rest) < want:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return rest


def answer_json(conn, status, obj):
    """Sends an HTTP answer with obj as its JSON body and closes the
    exchange (Connection: close)."""
    data = json.dumps(obj).encode()
    conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/"
                 f"json\r\nContent-Length: {len(data)}\r\nConnection: "
                 f"close\r\n\r\n".encode() + data)


def switching_protocols(head):
    """The octets of the 101 answer to the WebSocket upgrade in head,
    choosing the parley.1 subprotocol."""
    m = re.search(r"(?im)^sec-websocket-key:\s*(\S+)", head)
    key = m.group(1) if m else ""
    accept = base64.b64encode(hashlib.sha1(
        (key + GUID).encode()).digest()).decode()
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: "
            "websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n"
            "Sec-WebSocket-Protocol: parley.1\r\n\r\n").encode()


def ws_frame(op, payload, fin=True):
    """One unmasked WebSocket frame (server to client)."""
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        head = bytes([b0, n])
    elif n < 65536:
        head = bytes([b0, 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, 127]) + struct.pack(">Q", n)
    return head + payload


class StandinServer:
    """A listener on 127.0.0.1 port 0 with a thread a connection. A
    subclass sets up its own state before calling __init__ (the accept
    thread starts there) and defines _answer(conn, head, body)."""

    # How long a connection may stall a read: a guard, never a verdict.
    conn_timeout_s = HANG_S
    # What ends a connection quietly: cases send malformed requests on
    # purpose.
    quiet_errors = (OSError, ValueError, AttributeError, IndexError)

    def __init__(self, backlog=128):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self):
        return f"ws://127.0.0.1:{self.port}"

    def close(self):
        self.sock.close()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        """Reads one request with its whole body and answers it."""
        conn.settimeout(self.conn_timeout_s)
        try:
            head, rest = read_head(conn)
            if head is not None:
                self._answer(conn, head, read_body(conn, head, rest))
        except self.quiet_errors:
            pass
        finally:
            conn.close()

    def _answer(self, conn, head, body):
        raise NotImplementedError


def accounts_setup(workdir):
    """The context of a test run: `workdir` and an accounts file of four
    accounts, which stand-ins accept whatever their passwords."""
    path = os.path.join(workdir, "accounts.json")
    with open(path, "w") as f:
        json.dump({"accounts": [{"user": f"user{i}", "password": "pw"}
                                for i in range(4)]}, f)
    return {"workdir": workdir, "accounts": path}
