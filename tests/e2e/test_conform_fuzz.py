"""End-to-end test: parley-conform --fuzz, the black-box fuzzing client.

- reference: a run of about 15 s against the reference server that
  parley-conform starts itself ends with exit 0 and no finding file.
- crash, hang, bad_error, no_req: against a stand-in server (Target,
  below) that goes away, stops answering, answers an ERROR the registry
  does not have, or leaves the req out of its answers when a frame holds
  a certain fault, the run ends with exit 1 and
  a finding file; --fuzz-replay of that file finds it again (exit 1)
  against a new stand-in with the same fault, and nothing (exit 0)
  against one without it.
- faults: against parley-server-faults, a PONG without its nonce and a
  relayed malformed SDP body (CALL-19) are found, and the latter's file
  replays against a new server with the fault.
- determinism: two runs with the same seed send the same messages; a
  run with another seed does not.
- grammar: the verbs and headers the frames are made from
  (--fuzz-grammar) are those of the spec's tables (sections 10, 19.2).
- usage: bad flags exit 2, an unreachable target exits 3.

usage: test_conform_fuzz.py --conform-bin PATH --server-bin PATH
       --faults-bin PATH [--test NAME]
"""

import argparse
import glob
import hashlib
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading

from conform_standin import (CONFIG, StandinServer, accounts_setup,
                             answer_json, switching_protocols, ws_frame)
from parley_e2e import run_tests

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "..", "..", "spec", "parley-1.md")
RUN_S = 300  # guards each run against hangs; never a pass condition
ARGS = None

WELCOME = [("version", "1"), ("caps", "receipts,typing,presence,calls"),
           ("heartbeat", "60000"), ("max-frame", "65536"),
           ("max-headers", "32"), ("max-header-line", "1024"),
           ("max-body", "64512"), ("dedup-window", "86400000"),
           ("typing-ttl", "6000"), ("rate", "200"), ("rate-burst", "400")]


def frame(verb, headers):
    return (verb + "\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
            + "\r\n").encode()


def header(text, name):
    m = re.search(r"(?m)^" + re.escape(name) + r": ([^\r\n]*)\r$", text)
    return m.group(1) if m else None


def read_message(conn, buf):
    """Reads one whole WebSocket message from a client (fragments
    joined); returns (opcode, payload, rest) or None when the peer
    goes or breaks the framing."""
    parts, first_op = [], None
    while True:
        while True:
            if len(buf) >= 2:
                n, off = buf[1] & 0x7f, 2
                if n == 126 and len(buf) >= 4:
                    n, off = struct.unpack(">H", buf[2:4])[0], 4
                elif n == 127 and len(buf) >= 10:
                    n, off = struct.unpack(">Q", buf[2:10])[0], 10
                if n > 1 << 24:
                    return None
                if (n < 126 or off > 2) and len(buf) >= off + 4 + n:
                    break
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf += chunk
        mask, end = buf[off:off + 4], off + 4 + n
        payload = bytes(b ^ mask[i % 4]
                        for i, b in enumerate(buf[off + 4:end]))
        fin, op, buf = buf[0] & 0x80, buf[0] & 0x0f, buf[end:]
        if op >= 8:
            return op, payload, buf
        first_op = op if first_op is None else first_op
        parts.append(payload)
        if fin:
            return first_op, b"".join(parts), buf


class Target(StandinServer):
    """A stand-in Parley server on 127.0.0.1: the HTTP API the fuzzer
    needs and a WebSocket that answers HELLO, AUTH and PING as the spec
    says and every other frame with a valid unknown-verb ERROR, except
    for its fault, which a message holding `trigger` sets off:
    'crash' (it stops listening and drops every connection), 'hang'
    (that connection answers nothing more), 'bad-error' (an ERROR with
    code 499, not in the registry), 'no-req' (that connection's answers
    leave out their req). It records every message, in order,
    for the determinism test."""

    def __init__(self, fault=None, trigger=b"\xc0\xaf"):
        self.fault, self.trigger = fault, trigger
        self.received, self.conns = [], []
        self.lock = threading.Lock()
        self.convs = 0
        super().__init__(backlog=256)

    def _answer(self, conn, head, body):
        line = head.split("\r\n")[0]
        if line.startswith("GET /v1/config "):
            return answer_json(conn, 200, CONFIG)
        if line.startswith("POST /v1/auth/token "):
            user = json.loads(body or b"{}").get("user", "x")
            return answer_json(conn, 200, {"token": "tok-" + user,
                                           "expires_ms": 4102444800000})
        if line.startswith("POST /v1/conversations "):
            with self.lock:
                self.convs += 1
                n = self.convs
            return answer_json(conn, 201, {
                "id": f"conv{n}", "kind": "group", "title": "",
                "members": [], "last_seq": 0, "created_ms": 1})
        if "upgrade: websocket" in head.lower():
            with self.lock:
                self.conns.append(conn)
            conn.sendall(switching_protocols(head))
            return self._ws(conn, body)
        return answer_json(conn, 404, {"error": {"code": 404}})

    def crash(self):
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _reply(self, conn, text, no_req=False):
        verb = text.split("\r\n")[0]
        req = header(text, "req")
        tail = [("req", req)] if req and re.fullmatch(r"[\w-]{1,64}", req) \
            and not no_req else []
        if verb == "HELLO":
            out = frame("WELCOME", WELCOME + tail)
        elif verb == "AUTH":
            out = frame("READY", [("user", "user0"), ("device", "d1"),
                                  ("expires", "4102444800000")] + tail)
        elif verb == "PING":
            nonce = header(text, "nonce")
            out = frame("PONG", ([("nonce", nonce)] if nonce else [])
                        + tail)
        else:
            out = frame("ERROR", [("code", "420"), ("reason",
                                  "unknown-verb"), ("fatal", "no")] + tail)
        conn.sendall(ws_frame(1, out))

    def _ws(self, conn, buf):
        hung = no_req = False
        while True:
            got = read_message(conn, buf)
            if got is None:
                return
            op, payload, buf = got
            if op == 8:
                return conn.sendall(ws_frame(8, payload[:2]))
            if op >= 8:
                continue
            with self.lock:
                self.received.append(bytes([op]) + payload)
            if self.fault and self.trigger in payload:
                if self.fault == "crash":
                    return self.crash()
                if self.fault == "hang":
                    hung = True
                no_req = self.fault == "no-req"
                if self.fault == "bad-error":
                    conn.sendall(ws_frame(1, frame("ERROR", [
                        ("code", "499"), ("reason", "strange"),
                        ("fatal", "no")])))
                    continue
            if hung:
                continue
            if op == 2:
                conn.sendall(ws_frame(1, frame("ERROR", [
                    ("code", "412"), ("reason", "binary-message"),
                    ("fatal", "no")])))
                continue
            self._reply(conn, payload.decode("utf-8", "replace"), no_req)


def conform(*args, timeout=RUN_S):
    return subprocess.run([ARGS.conform_bin, *args], capture_output=True,
                          text=True, timeout=timeout)


def where(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout[-3000:]}\n" \
           f"stderr:\n{r.stderr[-3000:]}"


def fuzz(ctx, target, *args):
    return conform("--fuzz", target.url(), "--accounts", ctx["accounts"],
                   "--hang-ms", "1000", *args)


# ---- the tests -------------------------------------------------------------

def test_reference(ctx):
    out = os.path.join(ctx["workdir"], "ref-out")
    r = conform("--fuzz", "--server-bin", ARGS.server_bin, "--seed", "7",
                "--time", "15", "--out", out)
    assert r.returncode == 0, where(r)
    assert re.search(r"findings: 0\b", r.stdout), where(r)
    m = re.search(r"sessions (\d+), messages sent (\d+)", r.stdout)
    assert m and int(m.group(1)) > 10 and int(m.group(2)) > 100, where(r)
    assert not os.path.exists(out), "no finding, no directory"


def found_and_replayed(ctx, fault, kind, trigger=b"\xc0\xaf"):
    """Runs the fuzzer against a Target with `fault`; checks the finding
    of `kind` and its replay against a new Target with and without the
    fault."""
    out = os.path.join(ctx["workdir"], "out-" + fault)
    t = Target(fault, trigger)
    try:
        r = fuzz(ctx, t, "--seed", "3", "--time", "60", "--fail-fast",
                 "--out", out)
    finally:
        t.close()
    assert r.returncode == 1, where(r)
    assert re.search(rf"findings: [1-9].*\b{kind} [1-9]", r.stdout), \
        where(r)
    files = sorted(glob.glob(os.path.join(out, f"finding-*-{kind}.txt")))
    assert files, where(r) + f"\nfiles: {os.listdir(out)}"
    with open(files[0], "rb") as f:
        text = f.read()
    assert b"# kind: " + kind.encode() in text
    assert trigger.hex().encode() in text, "the trigger is in the file"
    again = Target(fault, trigger)
    try:
        r2 = conform("--fuzz-replay", files[0], again.url(),
                     "--accounts", ctx["accounts"], "--hang-ms", "1000")
    finally:
        again.close()
    assert r2.returncode == 1, where(r2)
    assert f"FINDING {kind}" in r2.stderr, where(r2)
    good = Target()
    try:
        r3 = conform("--fuzz-replay", files[0], good.url(),
                     "--accounts", ctx["accounts"], "--hang-ms", "1000")
    finally:
        good.close()
    assert r3.returncode == 0, where(r3)


def test_crash(ctx):
    found_and_replayed(ctx, "crash", "crash")


def test_hang(ctx):
    found_and_replayed(ctx, "hang", "hang", trigger=b"x-pad")


def test_bad_error(ctx):
    found_and_replayed(ctx, "bad-error", "error-code",
                       trigger=b"UNKNOWN-VERB")


def test_no_req(ctx):
    found_and_replayed(ctx, "no-req", "no-req", trigger=b"x-pad")


def faulty(fault, *args):
    """parley-conform against parley-server-faults with `fault`."""
    return conform(*args, "--server-bin", ARGS.faults_bin, "--server-arg",
                   "--fault", "--server-arg", fault)


def test_faults(ctx):
    """Against the reference server with a planted fault: a PONG
    without the nonce, and an OFFER with a malformed SDP body relayed
    (CALL-19) are found; the relayed one's file replays against a new
    server with the fault (the pair's call id put in place), and finds
    nothing against the server without it."""
    for fault, kind in (("pong-without-nonce", "pong-nonce"),
                        ("relay-malformed-sdp", "relayed-malformed")):
        out = os.path.join(ctx["workdir"], "out-" + fault)
        r = faulty(fault, "--fuzz", "--seed", "9", "--time", "120",
                   "--fail-fast", "--out", out)
        assert r.returncode == 1, where(r)
        files = glob.glob(os.path.join(out, f"finding-*-{kind}.txt"))
        assert files, where(r)
    r = faulty("relay-malformed-sdp", "--fuzz-replay", files[0])
    assert r.returncode == 1 and "FINDING relayed-malformed" in r.stderr, \
        where(r)
    r = conform("--fuzz-replay", files[0], "--server-bin", ARGS.server_bin)
    assert r.returncode == 0, where(r)


def received_by(ctx, seed):
    t = Target()
    try:
        r = fuzz(ctx, t, "--seed", seed, "--iterations", "40", "--out",
                 os.path.join(ctx["workdir"], "out-determinism"))
    finally:
        t.close()
    assert r.returncode == 0, where(r)
    with t.lock:  # connections overlap a little: compare as a multiset
        return hashlib.sha256(b"\0".join(sorted(t.received))).hexdigest(), \
            len(t.received)


def test_determinism(ctx):
    a, n = received_by(ctx, "11")
    b, _ = received_by(ctx, "11")
    c, _ = received_by(ctx, "12")
    assert n > 40, n
    assert a == b, "the same seed sent other messages"
    assert a != c, "another seed sent the same messages"


def spec_text():
    with open(SPEC, "rb") as f:
        return f.read().decode("utf-8", "surrogateescape")


def section(text, head):
    start = text.index(head)
    return text[start:text.index("\n#", start + len(head))]


def spec_grammar():
    """{verb: (from, headers)} from the tables of sections 10 and 19.2,
    the call verbs from 19.2, and the set of verbs only servers send."""
    verbs, server = {}, set()
    s10, s19 = section(spec_text(), "## 10. Verbs"), \
        section(spec_text(), "### 19.2 Frames")
    for cells in (row.split("|")[1:-1] for row in s10.splitlines()
                  if row.startswith("| `")):
        names = re.findall(r"`([A-Z-]+)`", cells[0])
        if len(cells) == 4 and cells[1].strip() == "server":
            server.update(names)
        elif len(cells) == 4 and len(names) == 1:
            verbs[names[0]] = (cells[1].strip(), cells[2].strip())
    table = s19.split("\n\n")[2]  # the table of the frames a client sends
    for cells in (row.split("|")[1:-1] for row in table.splitlines()
                  if row.startswith("| `")):
        verbs[re.findall(r"`([A-Z-]+)`", cells[0])[0]] = (
            "client", cells[1].strip())
    server.update(re.findall(r"`([A-Z-]+)`",
                             s10[s10.index("| `RING`"):].split("|")[1]))
    return verbs, server


def test_grammar(ctx):
    r = conform("--fuzz-grammar")
    assert r.returncode == 0, where(r)
    mine, mine_server = {}, set()
    for line in r.stdout.splitlines():
        verb, frm, headers = line.split("\t")
        if frm == "server":
            mine_server.add(verb)
        else:
            mine[verb] = (frm, headers)
    verbs, server = spec_grammar()
    assert len(verbs) >= 19 and len(server) >= 15, (verbs, server)
    assert mine == verbs, f"fuzzer {mine}\nspec {verbs}"
    assert mine_server == server, f"fuzzer {mine_server}\nspec {server}"


def test_usage(ctx):
    for args in (["--fuzz", "--time", "0"], ["--fuzz", "--seed", "x"],
                 ["--fuzz", "--time", "5", "--iterations", "3"],
                 ["--fuzz", "ws://127.0.0.1:9"],
                 ["--fuzz", "--no-such-flag"],
                 ["--fuzz-replay", os.path.join(ctx["workdir"], "none")]):
        r = conform(*args)
        assert r.returncode == 2, f"{args}: " + where(r)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    r = conform("--fuzz", f"ws://127.0.0.1:{port}", "--accounts",
                ctx["accounts"], "--time", "5")
    assert r.returncode == 3, where(r)


TESTS = [test_reference, test_crash, test_hang, test_bad_error, test_no_req,
         test_faults,
         test_determinism, test_grammar, test_usage]


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--conform-bin", required=True)
    p.add_argument("--server-bin", required=True)
    p.add_argument("--faults-bin", required=True)
    p.add_argument("--test", action="append")
    ARGS = p.parse_args()
    tests = [t for t in TESTS if not ARGS.test or t.__name__ in
             [f"test_{n}" for n in ARGS.test]]
    run_tests(tests, accounts_setup, lambda ctx: None)


if __name__ == "__main__":
    sys.exit(main())
