"""End-to-end test: parley-conform against a server that leaves headers
out never crashes; it fails the cases and writes its reports.

The suite runs against servers nobody here has seen, and a server that
leaves out a header the spec requires (an ERROR without `fatal` or
`code`, an ACK without `seq`, a MSG without `from`) must make the cases
that need the header fail, not make the runner crash. This file holds:

- a stand-in server (SloppyServer) that speaks enough of Parley/1 for
  the cases to get far: the HTTP API of setup, HELLO, AUTH, PING, SEND
  with ACK and MSG to every member's sessions, SYNC, HISTORY, RECEIPT,
  TYPING, PRESENCE, BYE, a rate bucket and the count of malformed
  messages. Its frames leave headers out, by the mode it runs in:
  `bare` keeps only what a case needs to match an answer (`req`, and
  `conv` on events) in every frame but WELCOME, READY and PONG, and gives
  ERROR only a `reason`; `events` answers requests in full and strips
  the events and pages (MSG, RECEIPT, TYPING, PRESENCE, PAGE) the same
  way, so that cases get past their requests to the checks of events;
- the test `run`: the whole server suite against each mode; the run
  must end with exit 1 (MUST cases fail), not a signal or a sanitizer
  report, and its JSON and JUnit reports must be valid and give every
  case a verdict;
- the test `static`: conform_nullsafe.py over conformance/*.c finds no
  value that may be NULL handed to strcmp, printf and the like.

usage: test_conform_sloppy.py --test run|static --conform-bin PATH
"""

import argparse
import glob
import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time

import jsonschema

import conform_nullsafe
from conform_standin import (CONFIG, StandinServer, answer_json,
                             switching_protocols, ws_frame)
from parley_e2e import HANG_S, run_tests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
SCHEMA_DIR = os.path.join(ROOT, "conformance", "schema")
RUN_S = 600  # guards a whole run against hangs; never a pass condition
ACCOUNTS = 8

# Headers a frame keeps in every mode: what matches an answer to its
# request or an event to its conversation.
KEEP = {b"req", b"conv"}
# The frames each mode strips.
STRIPPED = {"bare": None,  # all but WELCOME, READY and PONG
            "events": {b"MSG", b"RECEIPT", b"TYPING", b"PRESENCE",
                       b"PAGE"}}
WHOLE_IN_BARE = {b"WELCOME", b"READY", b"PONG"}
# The registry's codes (spec 13) of the errors the stand-in sends.
CODES = {"bad-start-line": 400, "frame-too-large": 406,
         "binary-message": 412, "too-many-errors": 413,
         "unknown-verb": 420, "bad-state": 421, "auth-required": 423,
         "auth-failed": 424, "bad-value": 427, "rate-limited": 429,
         "not-found": 440}

ARGS = None


# ---- frames ----------------------------------------------------------------

def frame_bytes(verb, headers, body=None):
    """A frame's octets; headers is a list of (name, value) bytes."""
    out = verb + b"\r\n"
    for name, value in headers:
        out += name + b": " + value + b"\r\n"
    if body is not None:
        out += b"content-length: " + str(len(body)).encode() + b"\r\n"
    return out + b"\r\n" + (body or b"")


def parse_frame(data):
    """(verb, {name: value}, body) or None for anything malformed."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.split(b"\r\n")
    verb = lines[0]
    if not re.fullmatch(rb"[A-Z][A-Z0-9-]{0,31}", verb):
        return None
    headers = {}
    for line in lines[1:]:
        m = re.fullmatch(rb"([a-z][a-z0-9-]*): ([\x20-\x7e\x80-\xff]*)",
                         line)
        if not m or m.group(1) in headers:
            return None
        headers[m.group(1)] = m.group(2)
    want = headers.get(b"content-length")
    if want is None:
        return (verb, headers, b"") if not body else None
    if not want.isdigit() or int(want) != len(body):
        return None
    return verb, headers, body


# ---- the server ------------------------------------------------------------

class Session:
    """One WebSocket session: its socket, a writer thread and state."""

    def __init__(self, server, conn):
        self.server = server
        self.conn = conn
        self.out = queue.Queue()
        self.user = None
        self.device = None
        self.state = "open"
        self.malformed = 0
        self.tokens = float(CONFIG["rate_burst"])
        self.filled = time.monotonic()
        self.closed = False
        threading.Thread(target=self._write, daemon=True).start()

    def _write(self):
        while True:
            data = self.out.get()
            if data is None:
                break
            try:
                self.conn.sendall(data)
            except OSError:
                break
        self.closed = True
        try:
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send_ws(self, opcode, payload):
        """Queues one unmasked WebSocket frame; a reader that stops
        reading is dropped once much is queued (bounded memory)."""
        if self.closed:
            return
        if self.out.qsize() > 2000:
            self.close()
            return
        self.out.put(ws_frame(opcode, payload))

    def send(self, verb, headers, body=None):
        """Sends a frame with the headers the server's mode leaves."""
        headers = self.server.strip(verb, headers)
        self.send_ws(1, frame_bytes(verb, headers, body))

    def close(self):
        if not self.closed:
            self.closed = True
            self.out.put(None)

    def error(self, reason, req=None, fatal=False):
        headers = [(b"reason", reason.encode()),
                   (b"code", str(CODES[reason]).encode()),
                   (b"fatal", b"yes" if fatal else b"no")]
        if req is not None:
            headers.append((b"req", req))
        self.send(b"ERROR", headers)
        if fatal:
            self.close()

    def take_token(self):
        now = time.monotonic()
        self.tokens = min(CONFIG["rate_burst"], self.tokens + (
            now - self.filled) * CONFIG["rate_per_s"])
        self.filled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class SloppyServer(StandinServer):
    """The stand-in: HTTP API for setup, WebSocket sessions whose frames
    leave headers out as `mode` says."""

    def __init__(self, mode):
        self.mode = mode
        self.lock = threading.RLock()
        self.convs = {}       # id -> {"members": [...], "msgs": [...]}
        self.events = []      # (conv, verb, headers, body)
        self.sessions = []
        self.msg_ids = 0
        super().__init__(backlog=256)

    def strip(self, verb, headers):
        """The headers of a frame as this mode sends them."""
        only = STRIPPED[self.mode]
        if verb in WHOLE_IN_BARE or (only is not None and verb not in only):
            return headers
        return [(n, v) for n, v in headers if n in KEEP or
                (verb == b"SYNCED" and n == b"pos") or
                (verb == b"ERROR" and n == b"reason")]

    # -- HTTP --

    @staticmethod
    def _caller(head):
        m = re.search(r"(?im)^authorization:\s*bearer\s+tok-(\S+)", head)
        return m.group(1) if m else None

    def _answer(self, conn, head, body):
        method, path = head.split(" ")[:2]
        now = int(time.time() * 1000)
        caller = self._caller(head)
        if path.startswith("/v1/ws"):
            self._websocket(conn, head)
        elif method == "GET" and path == "/v1/config":
            answer_json(conn, 200, CONFIG)
        elif method == "POST" and path == "/v1/auth/token":
            user = json.loads(body or b"{}").get("user", "?")
            answer_json(conn, 200, {"token": f"tok-{user}", "user": user,
                                    "expires_ms": now + 3600000})
        elif method == "POST" and path == "/v1/conversations" and caller:
            req = json.loads(body or b"{}")
            members = sorted(set(req.get("members", [])) | {caller})
            with self.lock:
                cid = f"c{len(self.convs) + 1}"
                self.convs[cid] = {"members": members, "msgs": []}
            answer_json(conn, 201, {"id": cid, "kind": req.get("kind"),
                                    "title": req.get("title", ""),
                                    "members": members, "last_seq": 0,
                                    "created_ms": now})
        elif method == "GET" and path == "/v1/conversations" and caller:
            with self.lock:
                mine = [{"id": c, "kind": "group", "title": "",
                         "members": v["members"], "last_seq":
                         len(v["msgs"]), "created_ms": now}
                        for c, v in self.convs.items()
                        if caller in v["members"]]
            answer_json(conn, 200, mine)
        else:
            answer_json(conn, 404, {"error": {"code": 440, "reason":
                                              "not-found", "message":
                                              "no such thing"}})

    def _websocket(self, conn, head):
        conn.sendall(switching_protocols(head))
        conn.settimeout(None)
        s = Session(self, conn)
        with self.lock:
            self.sessions.append(s)
        try:
            self._read_messages(conn, s)
        finally:
            with self.lock:
                self.sessions.remove(s)
            s.close()

    # -- WebSocket --

    @staticmethod
    def _read_exact(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise OSError("closed")
            buf += chunk
        return buf

    def _read_messages(self, conn, s):
        parts, kind = [], None
        while not s.closed:
            b0, b1 = self._read_exact(conn, 2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._read_exact(conn, 2), "big")
            elif n == 127:
                n = int.from_bytes(self._read_exact(conn, 8), "big")
            mask = self._read_exact(conn, 4) if b1 & 0x80 else b"\0" * 4
            data = bytearray(self._read_exact(conn, n))
            for i in range(n):
                data[i] ^= mask[i % 4]
            op = b0 & 0x0F
            if op == 8:
                s.send_ws(8, bytes(data[:2]))
                s.close()
                return
            if op == 9:
                s.send_ws(10, bytes(data))
                continue
            if op in (1, 2):
                parts, kind = [], op
            if op in (0, 1, 2):
                parts.append(bytes(data))
                if b0 & 0x80:
                    self._message(s, kind, b"".join(parts))
                    parts = []

    def _malformed(self, s, reason):
        s.malformed += 1
        if s.malformed >= 16:
            s.error("too-many-errors", fatal=True)
        else:
            s.error(reason)

    def _message(self, s, kind, data):
        if not s.take_token():
            parsed = parse_frame(data) if kind == 1 else None
            s.error("rate-limited", parsed[1].get(b"req") if parsed
                    else None)
            return
        if kind == 2:
            self._malformed(s, "binary-message")
            return
        if len(data) > CONFIG["max_frame"]:
            self._malformed(s, "frame-too-large")
            return
        parsed = parse_frame(data)
        if parsed is None:
            self._malformed(s, "bad-start-line")
            return
        with self.lock:
            self._frame(s, *parsed)

    # -- frames --

    def _frame(self, s, verb, h, body):
        req = h.get(b"req")
        rq = [(b"req", req)] if req is not None else []
        if verb == b"HELLO" and s.state == "open":
            s.state = "negotiated"
            s.send(b"WELCOME", [(b"version", b"1"),
                                (b"caps", b"receipts,typing,presence"),
                                (b"heartbeat", h.get(b"heartbeat", b"60000")),
                                (b"max-frame", b"65536"),
                                (b"max-headers", b"32"),
                                (b"max-header-line", b"1024"),
                                (b"max-body", b"64512"),
                                (b"dedup-window", b"86400000"),
                                (b"typing-ttl", b"6000"), (b"rate", b"200"),
                                (b"rate-burst", b"400")] + rq)
        elif s.state == "open":
            s.error("bad-state", req, fatal=True)
        elif verb == b"PING":
            nonce = h.get(b"nonce")
            s.send(b"PONG", ([(b"nonce", nonce)] if nonce else []) + rq)
        elif verb == b"BYE":
            s.send(b"BYE", [])
            s.close()
        elif verb == b"AUTH":
            tok = h.get(b"token", b"")
            if not tok.startswith(b"tok-"):
                s.error("auth-failed", req, fatal=True)
                return
            s.user = tok[4:].decode("latin-1")
            s.device = h.get(b"device", b"d")
            s.state = "ready"
            s.send(b"READY", [(b"user", s.user.encode()),
                              (b"device", s.device),
                              (b"expires", str(int(time.time() * 1000) +
                                               3600000).encode())] + rq)
        elif s.state != "ready":
            s.error("auth-required", req)
        else:
            self._ready_frame(s, verb, h, body, rq)

    def _members(self, conv):
        c = self.convs.get(conv.decode("latin-1"))
        return c["members"] if c else None

    def _fan(self, conv, verb, headers, body=None, skip_user=None):
        members = self._members(conv) or []
        for x in list(self.sessions):
            if x.user in members and x.user != skip_user and \
                    x.state == "ready":
                x.send(verb, headers, body)

    def _ready_frame(self, s, verb, h, body, rq):
        conv = h.get(b"conv", b"")
        members = self._members(conv)
        mine = members is not None and s.user in members
        if verb in (b"SEND", b"RECEIPT", b"HISTORY", b"TYPING") and not mine:
            s.error("not-found", h.get(b"req"))
        elif verb == b"SEND":
            c = self.convs[conv.decode("latin-1")]
            c["msgs"].append(body)
            seq = str(len(c["msgs"])).encode()
            self.msg_ids += 1
            mid = f"m{self.msg_ids}".encode()
            ts = str(int(time.time() * 1000)).encode()
            temp = h.get(b"temp-id", b"t")
            s.send(b"ACK", [(b"conv", conv), (b"temp-id", temp),
                            (b"msg-id", mid), (b"seq", seq),
                            (b"ts", ts)] + rq)
            msg = [(b"conv", conv), (b"msg-id", mid), (b"seq", seq),
                   (b"from", s.user.encode()), (b"device", s.device),
                   (b"temp-id", temp), (b"ts", ts)]
            self.events.append((conv, b"MSG", msg, body))
            pos = str(len(self.events)).encode()
            self._fan(conv, b"MSG", msg + [(b"pos", pos),
                                           (b"content-type",
                                            b"text/plain")], body)
        elif verb == b"RECEIPT":
            s.send(b"OK", rq)
            ev = [(b"conv", conv), (b"user", s.user.encode()),
                  (b"kind", h.get(b"kind", b"read")),
                  (b"seq", h.get(b"seq", b"1"))]
            self.events.append((conv, b"RECEIPT", ev, None))
            self._fan(conv, b"RECEIPT",
                      ev + [(b"pos", str(len(self.events)).encode())])
        elif verb == b"SYNC":
            self._sync(s, h.get(b"since"), rq)
        elif verb == b"HISTORY":
            msgs = self.convs[conv.decode("latin-1")]["msgs"]
            for i, b in enumerate(msgs[-50:]):
                s.send(b"MSG", [(b"conv", conv), (b"seq", str(
                    len(msgs) - min(50, len(msgs)) + i + 1).encode()),
                    (b"content-type", b"text/plain")] + rq, b)
            s.send(b"PAGE", [(b"conv", conv), (b"count", str(min(
                50, len(msgs))).encode()), (b"more", b"no")] + rq)
        elif verb == b"TYPING":
            self._fan(conv, b"TYPING", [(b"conv", conv),
                                        (b"user", s.user.encode()),
                                        (b"state", h.get(b"state", b"on")),
                                        (b"ttl", b"6000")],
                      skip_user=s.user)
        elif verb == b"PRESENCE":
            for c, v in self.convs.items():
                if s.user in v["members"]:
                    self._fan(c.encode(), b"PRESENCE",
                              [(b"user", s.user.encode()),
                               (b"status", h.get(b"status", b"online"))],
                              skip_user=s.user)
        else:
            s.error("unknown-verb", h.get(b"req"))

    def _sync(self, s, since, rq):
        if since is not None:
            if not since.isdigit() or int(since) > len(self.events):
                s.error("bad-value", rq[0][1] if rq else None)
                return
            for i in range(int(since), len(self.events)):
                conv, verb, headers, body = self.events[i]
                if s.user in (self._members(conv) or []):
                    s.send(verb, headers + [(b"pos", str(i + 1).encode())],
                           body)
        s.send(b"SYNCED", [(b"pos", str(len(self.events)).encode())] + rq)


# ---- the tests -------------------------------------------------------------

def conform(*args, timeout=RUN_S):
    return subprocess.run([ARGS.conform_bin, *args], capture_output=True,
                          text=True, timeout=timeout)


def where(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout[-6000:]}\n" \
           f"stderr:\n{r.stderr[-6000:]}"


def accounts_file(workdir):
    path = os.path.join(workdir, "accounts.json")
    with open(path, "w") as f:
        json.dump({"accounts": [{"user": f"user{i}", "password": "pw"}
                                for i in range(ACCOUNTS)]}, f)
    return path


def check_reports(result, junit, ids):
    """The JSON report validates against its schema and gives each case
    of `ids` a verdict; the JUnit report validates with xmllint."""
    with open(result, encoding="utf-8") as f:
        doc = json.load(f)
    with open(os.path.join(SCHEMA_DIR, "parley-conform-result.schema.json"),
              encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator(schema).validate(doc)
    got = {c["id"]: c["verdict"] for c in doc["cases"]}
    assert sorted(got) == sorted(ids), set(got) ^ set(ids)
    assert "not-run" not in got.values(), doc["run"]["counts"]
    r = subprocess.run(["xmllint", "--noout", "--schema",
                        os.path.join(SCHEMA_DIR, "junit.xsd"), junit],
                       capture_output=True, text=True, timeout=HANG_S)
    assert r.returncode == 0, r.stderr[-4000:]
    return doc


def server_ids():
    r = conform("--list", "--json", "-")
    assert r.returncode == 0, where(r)
    return [c["id"] for c in json.loads(r.stdout)["cases"]
            if c["mode"] == "server"]


def sloppy_run(ctx, mode):
    """The whole server suite against the stand-in in `mode`."""
    server = SloppyServer(mode)
    d = ctx["workdir"]
    result = os.path.join(d, f"{mode}.json")
    junit = os.path.join(d, f"{mode}.xml")
    try:
        r = conform(server.url(), "--accounts", ctx["accounts"],
                    "--timeout", "1000", "--json", result, "--junit", junit)
    finally:
        server.close()
    assert r.returncode == 1, where(r)
    for word in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert word not in r.stderr, where(r)
    doc = check_reports(result, junit, ctx["ids"])
    # glibc prints a NULL handed to %s as "(null)": a missing header
    # printed without pc_hdr_show, undefined behaviour elsewhere
    nulls = [c["id"] for c in doc["cases"]
             if "(null)" in (c["message"] or "")]
    assert not nulls, nulls
    counts = doc["run"]["counts"]
    assert doc["run"]["result"] == "fail" and counts["failing"] > 0, counts
    print(f"  {mode}: {counts['pass']} pass, {counts['fail']} fail, "
          f"{counts['skipped']} skipped in "
          f"{doc['run']['duration_ms'] / 1000:.1f} s")


def test_bare(ctx):
    """ERROR with only reason, ACK/MSG/PAGE/RECEIPT/... with only req and
    conv: every case ends with a verdict, the run exits 1."""
    sloppy_run(ctx, "bare")


def test_events(ctx):
    """Answers in full; MSG, RECEIPT, TYPING, PRESENCE and PAGE with only
    req and conv: every case ends with a verdict, the run exits 1."""
    sloppy_run(ctx, "events")


# What conform_nullsafe.py must find, and what it must let pass: one
# expression a line, in a function of C.
NULLSAFE_BAD = [
    'strcmp(pc_hdr(f, "code"), "429") == 0;',
    'pc_fail(t, "got %s", pc_hdr(f, "seq"));',
    'x = n ? pc_hdr(f, "seq") : "(none)";',
    'pc_expect(c, "MSG", "msg-id", pc_hdr(ack, "msg-id"), PC_WAIT);',
    'c = pc_hdr(f, "caps")[0];',
    'ok = pc_hdr(f, "a") && pc_hdr(f, "b")[0] == 0;',
    'n = strlen(pc_http_field(t, r, "Date"));',
]
NULLSAFE_GOOD = [
    'const char *v = pc_hdr(f, "seq");',
    'if (pc_hdr(f, "req") == NULL) return;',
    'PC_CHECK(t, !pc_hdr(f, "req"), "a req");',
    'PC_CHECK(t, pc_hdr(f, "ttl"), "no ttl");',
    'x = pc_hdr(f, "kind") ? pc_hdr(f, "kind") : "";',
    'ok = pc_hdr(w, "caps") && pc_hdr(w, "caps")[0] == 0;',
    'ok = !pc_hdr(w, "caps") || pc_hdr(w, "caps")[0] == 0;',
    'ok = mu_is_id(pc_hdr(f, "pos"));',
]


def test_nullsafe_finds(ctx):
    """The static check finds each unsafe use and passes each safe one."""
    path = os.path.join(ctx["workdir"], "sample.c")
    for lines, want in ((NULLSAFE_BAD, True), (NULLSAFE_GOOD, False)):
        with open(path, "w", encoding="utf-8") as f:
            f.write("static void f(void)\n{\n")
            f.write("".join(f"  {line}\n" for line in lines))
            f.write("}\n")
        found = {line - 3 for line, _, _ in
                 conform_nullsafe.check_file(path)}
        for i, text in enumerate(lines):
            assert (i in found) == want, (text, found)


def test_static(ctx):
    """No value that may be NULL reaches strcmp, printf and the like."""
    del ctx
    paths = sorted(glob.glob(os.path.join(ROOT, "conformance", "*.c")))
    assert paths
    found = [f"{os.path.basename(p)}:{line}: {call}() {how}"
             for p in paths
             for line, call, how in conform_nullsafe.check_file(p)]
    assert not found, "\n".join(found)


TESTS = {
    "run": [test_bare, test_events],
    "static": [test_nullsafe_finds, test_static],
}


def setup(workdir):
    ctx = {"workdir": workdir}
    if ARGS.test == "run":
        ctx["accounts"] = accounts_file(workdir)
        ctx["ids"] = server_ids()
    return ctx


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--test", required=True, choices=sorted(TESTS))
    p.add_argument("--conform-bin")
    ARGS = p.parse_args()
    if ARGS.test == "run" and not ARGS.conform_bin:
        p.error("--test run needs --conform-bin")
    run_tests(TESTS[ARGS.test], setup, lambda ctx: None)


if __name__ == "__main__":
    sys.exit(main())
