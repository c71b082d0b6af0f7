"""End-to-end test: parley-conform against a hostile target never crashes,
hangs, runs out of memory or damages files.

The runner is pointed at servers nobody here controls, so whatever a
target does must end in a verdict or a clear exit 3, within the time
--timeout and the case cap allow. This file holds a small stand-in
server (Hostile) on 127.0.0.1 that answers the HTTP API and the
WebSocket protocol plausibly, except where a test tells it to attack:
at GET /v1/config, at POST /v1/auth/token, at POST /v1/conversations,
or after HELLO instead of WELCOME. Each test names what it guards.

usage: test_conform_hostile.py --conform-bin PATH [--test NAME]
"""

import argparse
import json
import os
import re
import signal
import stat
import struct
import subprocess
import sys
import threading
import time

from conform_standin import (CONFIG, StandinServer, accounts_setup,
                             switching_protocols, ws_frame)
from parley_e2e import run_tests

RUN_S = 40  # guards each run against hangs; never a pass condition
ARGS = None

WELCOME = {"version": "1", "caps": "receipts,typing,presence",
           "heartbeat": "60000", "max-frame": "65536",
           "max-headers": "32", "max-header-line": "1024",
           "max-body": "64512", "dedup-window": "86400000",
           "typing-ttl": "6000", "rate": "200", "rate-burst": "400"}


def send(conn, data):
    try:
        conn.sendall(data)
        return True
    except OSError:
        return False


def forever(conn, chunk, delay=0.0):
    """Sends chunk until the peer goes away."""
    while send(conn, chunk):
        if delay:
            time.sleep(delay)


def http_answer(conn, status, body, extra=b""):
    if isinstance(body, str):
        body = body.encode()
    send(conn, b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
         b"Content-Length: %d\r\nConnection: close\r\n%s\r\n"
         % (status, len(body), extra) + body)


def frame(verb, headers, body=None):
    out = verb + "\r\n"
    for name, value in headers:
        out += f"{name}: {value}\r\n"
    if body is not None:
        out += f"content-length: {len(body)}\r\n"
    out = (out + "\r\n").encode()
    return out + (body or b"")


class Hostile(StandinServer):
    """The stand-in server. `attacks` maps a stage (config, token, conv,
    hello) to a function(conn) that answers instead; `config`, `token`
    and `welcome` override the plausible answers. _answer gets the head
    and what came after it: a request's body, or a WebSocket's first
    octets."""

    conn_timeout_s = RUN_S
    quiet_errors = (OSError, ValueError, KeyError)

    def __init__(self, attacks=None, config=None, token=None, welcome=None,
                 limit_pings=False):
        self.limit_pings = limit_pings  # refuse every PING but the first
        self.attacks = attacks or {}
        self.config = dict(CONFIG, **(config or {}))
        self.token = token or (lambda user: "tok-" + user)
        self.welcome = dict(WELCOME, **(welcome or {}))
        super().__init__(backlog=256)

    def _answer(self, conn, head, rest):
        line = head.split("\r\n")[0]
        if line.startswith("GET /v1/config "):
            if "config" in self.attacks:
                return self.attacks["config"](conn)
            return http_answer(conn, 200, json.dumps(self.config))
        if line.startswith("POST /v1/auth/token "):
            user = json.loads(rest or b"{}")["user"]
            if "token" in self.attacks:
                return self.attacks["token"](conn)
            return http_answer(conn, 200, json.dumps(
                {"token": self.token(user),
                 "expires_ms": int(time.time() * 1000) + 3600000}))
        if line.startswith("POST /v1/conversations "):
            if "conv" in self.attacks:
                return self.attacks["conv"](conn)
            return http_answer(conn, 201, json.dumps(
                {"id": "c" + os.urandom(6).hex(), "kind": "group",
                 "title": "", "members": [], "last_seq": 0,
                 "created_ms": 1}))
        if "upgrade: websocket" in head.lower():
            return self._ws(conn, head, rest)
        return http_answer(conn, 404, '{"error": {"code": 404, "reason": '
                           '"not-found", "message": "no"}}')

    def _ws(self, conn, head, rest):
        send(conn, switching_protocols(head))
        buf, pings = rest, 0
        while True:
            got = self._ws_read(conn, buf)
            if got is None:
                return
            op, payload, buf = got
            if op == 8:
                send(conn, ws_frame(8, payload[:2]))
                return
            if op != 1:
                continue
            text = payload.decode("utf-8", "replace")
            verb = text.split("\r\n")[0]
            m = re.search(r"(?m)^req: (\S*)\r$", text)
            req = m.group(1) if m else ""
            if verb == "HELLO":
                if "hello" in self.attacks:
                    return self.attacks["hello"](conn)
                send(conn, ws_frame(1, frame("WELCOME", list(
                    self.welcome.items()) + [("req", req)])))
            elif verb == "AUTH":
                m = re.search(r"(?m)^token: tok-(\S*)\r$", text)
                user = m.group(1) if m else "x"
                m = re.search(r"(?m)^device: (\S*)\r$", text)
                send(conn, ws_frame(1, frame("READY", [
                    ("user", user), ("device", m.group(1) if m else "d"),
                    ("expires", str(int(time.time() * 1000) + 3600000)),
                    ("req", req)])))
            elif verb == "PING" and self.limit_pings and pings > 0:
                send(conn, ws_frame(1, frame("ERROR", [
                    ("code", "429"), ("reason", "rate-limited"),
                    ("fatal", "no"), ("req", req)])))
            elif verb == "PING":
                pings += 1
                send(conn, ws_frame(1, frame("PONG", [("req", req)])))
            else:
                send(conn, ws_frame(1, frame("ERROR", [
                    ("code", "420"), ("reason", "unknown-verb"),
                    ("fatal", "no"), ("req", req)])))

    @staticmethod
    def _ws_read(conn, buf):
        while True:
            if len(buf) >= 2:
                n, off = buf[1] & 0x7f, 2
                if n == 126 and len(buf) >= 4:
                    n, off = struct.unpack(">H", buf[2:4])[0], 4
                elif n == 127 and len(buf) >= 10:
                    n, off = struct.unpack(">Q", buf[2:10])[0], 10
                if n < 126 or off > 2:
                    mask = buf[off:off + 4]
                    end = off + 4 + n
                    if len(buf) >= end:
                        p = bytes(b ^ mask[i % 4]
                                  for i, b in enumerate(buf[off + 4:end]))
                        return buf[0] & 0x0f, p, buf[end:]
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf += chunk


# ---- running the runner ---------------------------------------------------

def conform(server, ctx, *args, timeout=RUN_S):
    """Runs parley-conform against server; returns (CompletedProcess,
    seconds)."""
    t0 = time.monotonic()
    r = subprocess.run([ARGS.conform_bin, "--accounts", ctx["accounts"],
                        "--timeout", "1000", *args, server.url()],
                       capture_output=True, timeout=timeout)
    return r, time.monotonic() - t0


def where(r):
    return (f"exit {r.returncode}\nstdout:\n"
            f"{r.stdout[-4000:].decode('utf-8', 'replace')}\nstderr:\n"
            f"{r.stderr[-4000:].decode('utf-8', 'replace')}")


def no_crash(r):
    """Exit 1 or 3 (never a signal, never a sanitizer report)."""
    assert r.returncode in (1, 3), where(r)
    for word in (b"Sanitizer", b"runtime error:"):
        assert word not in r.stderr, where(r)


def leftovers(d):
    return [n for n in os.listdir(d) if ".parley-tmp-" in n]


# ---- item: report destinations ---------------------------------------------

def refuse_token(conn):
    http_answer(conn, 401, '{"error": {"code": 401, "reason": '
                '"auth-failed", "message": "no"}}')


# spec: HTTP-2
def test_reports_never_damaged(ctx):
    """Exit 3 (a token refused) leaves every report destination as it
    was: a symbolic link and the file it names, a FIFO, a regular file;
    only our temporary files are removed."""
    d = os.path.join(ctx["workdir"], "reports3")
    os.mkdir(d)
    victim = os.path.join(d, "victim.txt")
    with open(victim, "w") as f:
        f.write("keep me\n")
    link = os.path.join(d, "junit.xml")
    os.symlink(victim, link)
    fifo = os.path.join(d, "fifo")
    os.mkfifo(fifo)
    old = os.path.join(d, "old.json")
    with open(old, "w") as f:
        f.write("old\n")
    server = Hostile(attacks={"token": refuse_token})
    try:
        r, _ = conform(server, ctx, "--junit", link, "--json", old,
                       "--html", os.path.join(d, "html"))
        assert r.returncode == 3, where(r)
        r, _ = conform(server, ctx, "--junit", fifo)
        assert r.returncode == 3, where(r)
    finally:
        server.close()
    assert os.path.islink(link) and os.readlink(link) == victim
    with open(victim) as f:
        assert f.read() == "keep me\n"
    with open(old) as f:
        assert f.read() == "old\n"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert not leftovers(d), leftovers(d)


def rate_zero_welcome(conn):
    send(conn, ws_frame(1, frame("WELCOME", list(dict(
        WELCOME, rate="0", **{"rate-burst": "0"}).items()))))
    time.sleep(1)


# spec: RATE-3
def test_reports_written_through(ctx):
    """A run that ends with reports writes a symbolic link's file (the
    link stays) and a FIFO directly, and leaves no temporary file."""
    d = os.path.join(ctx["workdir"], "reports1")
    os.mkdir(d)
    victim = os.path.join(d, "real.xml")
    with open(victim, "w") as f:
        f.write("old\n")
    link = os.path.join(d, "junit.xml")
    os.symlink(victim, link)
    fifo = os.path.join(d, "fifo")
    os.mkfifo(fifo)
    got = []

    def reader():
        with open(fifo, "rb") as f:
            got.append(f.read())
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    server = Hostile(attacks={"hello": rate_zero_welcome})
    try:
        r, _ = conform(server, ctx, "--case", "hello.welcome-headers",
                       "--junit", link, "--json", fifo)
    finally:
        server.close()
    no_crash(r)
    th.join(RUN_S)
    assert os.path.islink(link)
    with open(victim) as f:
        assert "<testsuites" in f.read()
    assert got and json.loads(got[0])["cases"], got
    assert not leftovers(d), leftovers(d)


# ---- item: target values that would divide by zero ------------------------

def json_report(path):
    with open(path, encoding="utf-8") as f:
        return {c["id"]: c for c in json.load(f)["cases"]}


# spec: RATE-3
def test_rate_zero(ctx):
    """rate_per_s 0 in GET /v1/config and rate: 0, rate-burst: 0 in
    WELCOME fail the rate cases with a message citing RATE-3, never a
    SIGFPE."""
    out = os.path.join(ctx["workdir"], "rate0.json")
    cases = ["error.rate-limited", "abuse.rate-flood",
             "abuse.rate-limited-not-malformed"]
    server = Hostile(config={"rate_per_s": 0, "rate_burst": 2},
                     welcome={"rate": "0", "rate-burst": "0"},
                     limit_pings=True)
    try:
        args = [a for c in cases for a in ("--case", c)]
        r, _ = conform(server, ctx, "--json", out, *args)
    finally:
        server.close()
    assert r.returncode == 1, where(r)
    no_crash(r)
    got = json_report(out)
    for c in cases:
        assert got[c]["verdict"] == "fail", got[c]
    for c in ("error.rate-limited", "abuse.rate-flood"):
        assert "RATE-3" in got[c]["message"], got[c]


# ---- item: reads that never end ---------------------------------------------

def head_then(head, chunk, delay=0.0):
    """An attack: an HTTP head, then chunk forever."""
    def attack(conn):
        send(conn, head)
        forever(conn, chunk, delay)
    return attack


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
HTTP_FLOODS = {
    "continue-flood": head_then(b"", b"HTTP/1.1 100 Continue\r\n\r\n" * 500),
    "chunk-ext": head_then(CHUNKED + b"5;", b"x" * 65536),
    "chunk-zeros": head_then(CHUNKED, b"0" * 65536),
    "endless-trailers": head_then(CHUNKED + b"0\r\n",
                                  b"X-T: " + b"b" * 1000 + b"\r\n"),
    "endless-chunks": head_then(CHUNKED, b"1\r\na\r\n" * 10000),
    "many-fields": lambda conn: send(
        conn, b"HTTP/1.1 200 OK\r\n" + b"A:b\r\n" * 20000 +
        b"Content-Length: 2\r\n\r\n{}"),
}
WS_FLOODS = {
    "ping-flood": head_then(b"", ws_frame(9, b"ping") * 4096),
    "pong-flood": head_then(b"", ws_frame(10, b"pong") * 4096),
    "fragments": head_then(ws_frame(1, b"W", fin=False),
                           ws_frame(0, b"", fin=False) * 4096),
    "slow-fragments": head_then(ws_frame(1, b"W", fin=False),
                                ws_frame(0, b"", fin=False), 0.05),
}


# spec: HTTP-1 WS-1
def test_floods_end(ctx):
    """Answers that never end (1xx heads, chunk-size lines, trailers,
    chunks, pings, pongs, fragments) end the set-up (exit 3) or the case
    (exit 1) within --timeout; the run guard only catches a hang."""
    for name, attack in HTTP_FLOODS.items():
        server = Hostile(attacks={"config": attack})
        try:
            r, _ = conform(server, ctx, "--case", "hello.welcome-headers",
                           timeout=30)
        finally:
            server.close()
        assert r.returncode == 3, (name, where(r))
        no_crash(r)
    for name, attack in WS_FLOODS.items():
        server = Hostile(attacks={"hello": attack})
        try:
            r, _ = conform(server, ctx, "--case", "hello.welcome-headers",
                           timeout=30)
        finally:
            server.close()
        assert r.returncode == 1, (name, where(r))
        no_crash(r)


# ---- item: memory a case holds ----------------------------------------------

def junk_messages(conn):
    """Endless MSG frames of 60,000 octets, none the case waits for."""
    fr = ws_frame(1, frame("MSG", [("conv", "x"), ("seq", "1")],
                           b"\x01" * 60000))
    forever(conn, fr * 16)


# spec: LIM-1
def test_log_capped(ctx):
    """A flood of big frames leaves a wire log of at most 20,000 entries
    and about 2 MiB of data: its first and last part with one entry
    saying what was left out; the failure is kept."""
    out = os.path.join(ctx["workdir"], "big.json")
    server = Hostile(attacks={"hello": junk_messages})
    try:
        r, _ = conform(server, ctx, "--json", out, "--case",
                       "hello.welcome-headers")
    finally:
        server.close()
    assert r.returncode == 1, where(r)
    log = json_report(out)["hello.welcome-headers"]["wire_log"]
    assert len(log) <= 20001, len(log)
    assert sum(e["len"] for e in log) <= 2 * 1024 * 1024 + 4096
    notes = [e for e in log if "left out here" in e["data"]]
    assert len(notes) == 1, [e["data"] for e in log if e["dir"] == "*"]
    assert [e for e in log if e["kind"] == "fail"], log[-5:]


# ---- item: the first interrupt ends waits -----------------------------------

def interrupted_run(ctx, stage, extra):
    """Starts a run whose target goes silent at `stage`, sends SIGTERM
    once the target saw the request, and returns the finished process."""
    seen = threading.Event()

    def silent(conn):
        seen.set()
        time.sleep(RUN_S)
    server = Hostile(attacks={stage: silent})
    try:
        p = subprocess.Popen([ARGS.conform_bin, "--accounts",
                              ctx["accounts"], "--timeout", "60000",
                              *extra, server.url()],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert seen.wait(RUN_S)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=RUN_S)
    finally:
        server.close()
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


# spec: LIFE-2
def test_first_signal_ends_waits(ctx):
    """One SIGTERM ends a case stuck in a 60 s wait and a stuck set-up:
    exit 130, reports written, the case reported as not run (the run
    guard only catches a hang)."""
    out = os.path.join(ctx["workdir"], "int.json")
    r = interrupted_run(ctx, "hello", ["--json", out, "--case",
                                       "hello.welcome-headers"])
    assert r.returncode == 130, where(r)
    doc = json_report(out)
    assert doc["hello.welcome-headers"]["verdict"] == "not-run", doc
    r = interrupted_run(ctx, "token", [])
    assert r.returncode == 130, where(r)


# ---- item: what the target sends is checked and escaped --------------------

# spec: AUTH-1 HTTP-3
def test_bad_token_refused(ctx):
    """A token with CRLF (or too long) from the target is the target's
    fault at set-up: exit 3 naming spec 2.9, and it is never sent in an
    Authorization field or an AUTH frame."""
    for tok in ("tok\r\nX-Injected: yes", "t" * 513):
        seen = []
        server = Hostile(token=lambda user, tok=tok: tok)
        orig = server._answer

        def spy(conn, head, rest, orig=orig):
            seen.append(head)
            return orig(conn, head, rest)
        server._answer = spy
        try:
            r, _ = conform(server, ctx)
        finally:
            server.close()
        assert r.returncode == 3, where(r)
        assert b"not a valid token (spec 2.9" in r.stderr, where(r)
        assert not [h for h in seen if "X-Injected" in h or
                    "Bearer t" in h], seen


def escape_body(conn):
    http_answer(conn, 500, b"\x1b]0;PWNED\x07\x1b[2J\x1b[31mred\r\n\x00")


def test_setup_errors_escaped(ctx):
    """What the target sent is escaped before it reaches the terminal:
    no escape sequence or control octet from a body is printed."""
    for stage in ("config", "token"):
        server = Hostile(attacks={stage: escape_body})
        try:
            r, _ = conform(server, ctx)
        finally:
            server.close()
        assert r.returncode == 3, where(r)
        assert b"\x1b" not in r.stderr and b"\x07" not in r.stderr, \
            r.stderr
        assert b"\\x1b]0;PWNED" in r.stderr, where(r)


TESTS = [test_reports_never_damaged, test_reports_written_through,
         test_rate_zero, test_floods_end, test_log_capped,
         test_first_signal_ends_waits, test_bad_token_refused,
         test_setup_errors_escaped]


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--conform-bin", required=True)
    p.add_argument("--test", action="append")
    ARGS = p.parse_args()
    tests = [t for t in TESTS if not ARGS.test or t.__name__ in ARGS.test]
    run_tests(tests, accounts_setup, lambda ctx: None)


if __name__ == "__main__":
    sys.exit(main())
