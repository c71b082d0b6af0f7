#!/usr/bin/env python3
"""Hostile input on the call path (spec section 19).

Server part: parley-server on 127.0.0.1 with alice and bob in a call.
SDP bodies and candidates at and just past each limit of the profile
(16,384 octets, lines of 1,024 octets, 8 m= sections, 64 candidates,
ids of 64 octets), NULs, lone CRs, numbers past their range: the ones at
a limit are relayed octet for octet, the ones past it get the error the
spec names and reach nobody. A flood of CANDIDATE is answered OK or
rate-limited (429), never fatal, and only what was answered OK is
relayed. Hundreds of CALL/HANGUP cycles leave the server answering and,
stopped, exiting cleanly (no sanitizer report under the ASan build).

Client part: parley-client answer against a stand-in server
(test_client_mock.MockParley with call scripts): a RING that names no
caller is not answered; --answer-timeout-ms bounds the wait for a call,
not the call; a malformed ANSWER ends the call with a clear message.

    test_call_hostile.py PATH/TO/parley-server PATH/TO/parley-client
"""

import asyncio
import base64
import hashlib
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_client_mock as mock  # noqa: E402
from parley_e2e import (HANG_S, connect, expect, frame,  # noqa: E402
                        new_conv, recv, run_tests, server_with_users,
                        stop_if_running, tokens_of)

PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-2"}
SESSION = ("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
           "a=ice-ufrag:F7gI\r\na=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\n"
           "a=fingerprint:sha-256 D1:2C:BE:AD:C4:F6:64:5C:25:16:11:9C:"
           "AF:E7:0F:73:79:36:4E:9C:1E:15:54:39:0C:06:8B:A0:86:DC:4A:66"
           "\r\na=rtcp-mux\r\n")
SECTION = ("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:{}\r\n"
           "a=rtpmap:111 opus/48000/2\r\n")
CAND = "a=candidate:{0} 1 udp 2122260223 127.0.0.1 {1} typ host\r\n"
CANDIDATE = "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"


def offer_sdp(sections=1, cands=0, setup="actpass", extra=""):
    body = SESSION + f"a=setup:{setup}\r\n"
    body += "".join(SECTION.format(i) for i in range(sections))
    body += "".join(CAND.format(i, 40000 + i) for i in range(cands))
    return body + extra


def padded(n):
    """A body of the profile exactly n octets long (ignored attributes
    of at most 100 octets a line make up the length)."""
    body = offer_sdp()
    while len(body) < n - 120:
        body += "a=x-pad:" + "p" * 90 + "\r\n"
    return body + "a=x-end:" + "q" * (n - len(body) - 10) + "\r\n"


# ---- the server -------------------------------------------------------------

def setup(workdir):
    server = server_with_users(sys.argv[1], workdir, PASSWORDS).start()
    ctx = {"server": server, "tokens": tokens_of(server, PASSWORDS)}
    # one conversation a test: a call a failed test leaves live stays in
    # its own
    ctx["convs"] = [new_conv(server, ctx["tokens"]["alice"], "group",
                             ["bob"], title=f"t{i}") for i in range(3)]
    return ctx


async def session(ctx, user, device):
    ws = await connect(ctx["server"])
    await ws.send(frame("HELLO", [("versions", "1"), ("heartbeat", "60000"),
                                  ("caps", "calls")]))
    await expect(ws, "WELCOME")
    await ws.send(frame("AUTH", [("token", ctx["tokens"][user]),
                                 ("device", device)]))
    await expect(ws, "READY")
    return ws


async def in_call(ctx, conv):
    """alice (a1) calls bob (b1) in conv, and bob joins. Returns (a, b,
    call)."""
    a = await session(ctx, "alice", "a1")
    b = await session(ctx, "bob", "b1")
    await a.send(frame("CALL", [("conv", conv)]))
    call = (await expect(a, "OK"))["call"]
    await expect(b, "RING", call=call)
    await b.send(frame("JOIN", [("call", call)]))
    await expect(b, "OK")
    await expect(b, "PARTICIPANTS")
    await expect(a, "JOINED", user="bob")
    return a, b, call


async def quiet(ws, nonce="q"):
    """Nothing reached ws: a PING's PONG is the next frame."""
    await ws.send(frame("PING", [("nonce", nonce)]))
    await expect(ws, "PONG", nonce=nonce)


def sdp_frame(verb, call, body, to="alice", device="a1", extra=()):
    return frame(verb, [("call", call), ("to", to), ("to-device", device),
                        ("content-type", "application/sdp"), *extra], body)


def cand_frame(call, value, extra=()):
    return frame("CANDIDATE", [("call", call), ("to", "alice"),
                               ("to-device", "a1"), ("candidate", value),
                               *extra])


# spec: CALL-5 CALL-17 CALL-18 CALL-19
async def test_sdp_at_and_past_each_limit(ctx):
    a, b, call = await in_call(ctx, ctx["convs"][0])
    at_limit = [padded(16384), offer_sdp(sections=8),
                offer_sdp(cands=64),
                offer_sdp(extra="a=x:" + "v" * 1020 + "\r\n"),
                offer_sdp().replace("\r\n", "\n"),
                offer_sdp().replace("o=- 1 2", "o=- 18446744073709551615 2")]
    assert len(at_limit[0]) == 16384
    for i, body in enumerate(at_limit):
        await b.send(sdp_frame("OFFER", call, body, extra=[("req", f"o{i}")]))
        await expect(b, "OK", req=f"o{i}")
        verb, _, got = await recv(a)
        assert verb == "OFFER" and got == body, (i, verb, len(got))
        await a.send(sdp_frame("ANSWER", call, offer_sdp(setup="active"),
                               to="bob", device="b1"))
        await expect(a, "OK")
        await expect(b, "ANSWER")
    past = [(padded(16385), 447), (offer_sdp(sections=9), 445),
            (offer_sdp(cands=65), 445),
            (offer_sdp(extra="a=x:" + "v" * 1021 + "\r\n"), 445),
            (offer_sdp(extra="a=x:a\x00b\r\n"), 445),
            (offer_sdp().replace("a=rtcp-mux\r\n", "a=rtcp-mux\ra=y\r\n"),
             445),
            (offer_sdp().replace("o=- 1 2", "o=- 18446744073709551616 2"),
             445),
            (offer_sdp(cands=1).replace("2122260223", "2147483648"), 445),
            (offer_sdp(cands=1).replace("127.0.0.1", "fe80::1%eth0"), 445),
            (offer_sdp().replace(":4A:66\r\n", ":4A\r\n"), 445),
            (offer_sdp().replace("a=setup:actpass\r\n", "a=setup:actpass\r\n"
                                 "a=setup:active\r\n"), 445),
            ("", 445)]
    for i, (body, code) in enumerate(past):
        await b.send(sdp_frame("OFFER", call, body, extra=[("req", f"p{i}")]))
        await expect(b, "ERROR", code=code, fatal="no", req=f"p{i}")
    # ids: 64 octets are an id (of no call), 65 are no id at all
    for ident, code in (("k" * 64, 443), ("k" * 65, 427)):
        await b.send(sdp_frame("OFFER", ident, offer_sdp()))
        await expect(b, "ERROR", code=code, fatal="no")
        await b.send(sdp_frame("OFFER", call, offer_sdp(), device=ident))
        await expect(b, "ERROR", code=code, fatal="no")
    for value, code in (("candidate:" + "f" * 33 + " 1 udp 1 1.2.3.4 5 typ "
                         "host", 446),
                        ("candidate:1 1 udp 1 " + "h" * 256 + " 5 typ host",
                         446),
                        ("candidate:1 257 udp 1 1.2.3.4 5 typ host", 446),
                        ("candidate:1 1 udp 1 1:2:3:4:5:6:7:8:9 5 typ host",
                         446)):
        await b.send(cand_frame(call, value))
        await expect(b, "ERROR", code=code, fatal="no")
    await b.send(cand_frame(call, CANDIDATE, [("mid", "m" * 33)]))
    await expect(b, "ERROR", code=427, fatal="no")
    await quiet(a)
    await b.send(frame("HANGUP", [("call", call)]))
    await expect(a, "CALL-END")
    for ws in (a, b):
        await ws.close()


# spec: CALL-5 CALL-6
async def test_candidate_flood_is_rate_limited(ctx):
    a, b, call = await in_call(ctx, ctx["convs"][1])
    n = 1500
    for _ in range(n):
        await b.send(cand_frame(call, CANDIDATE))
    oks = limited = 0
    while oks + limited < n:
        verb, hdrs, _ = await recv(b)
        if verb == "OK":
            oks += 1
        else:
            assert verb == "ERROR" and hdrs["code"] == "429", (verb, hdrs)
            assert hdrs["fatal"] == "no", hdrs
            limited += 1
    assert oks > 0 and limited > 0, (oks, limited)
    for _ in range(oks):
        await expect(a, "CANDIDATE", candidate=CANDIDATE)
    await quiet(a)
    await b.send(frame("HANGUP", [("call", call)]))
    await expect(a, "CALL-END")
    for ws in (a, b):
        await ws.close()


# spec: CALL-2 CALL-8
async def test_call_hangup_cycles(ctx):
    a = await session(ctx, "alice", "a1")
    b = await session(ctx, "bob", "b1")
    ids = set()
    for i in range(300):
        await a.send(frame("CALL", [("conv", ctx["convs"][2])]))
        call = (await expect(a, "OK"))["call"]
        ids.add(call)
        await expect(b, "RING", call=call)
        await a.send(frame("HANGUP", [("call", call)]))
        await expect(a, "OK")
        await expect(a, "CALL-END", call=call, reason="cancelled")
        await expect(b, "CALL-END", call=call)
        await asyncio.sleep(0.012)  # two frames a cycle, within the rate
    assert len(ids) == 300, len(ids)
    await quiet(a)
    for ws in (a, b):
        await ws.close()


def stop_clean(ctx):
    log = ctx["server"].log()
    stop_if_running(ctx)
    assert "AddressSanitizer" not in log and "runtime error" not in log


# ---- the client -------------------------------------------------------------

CALL = "kmockcall000000000000"


class CallMock(mock.MockParley):
    """MockParley whose sessions follow `script(conn, verb, headers,
    body, req)` after the handshake (WELCOME with `calls`, READY)."""

    def __init__(self, script):
        self.call_script = script
        super().__init__()

    def _upgrade(self, conn, headers):
        key = headers.get("sec-websocket-key", "")
        accept = base64.b64encode(hashlib.sha1(
            (key + mock.GUID).encode()).digest()).decode()
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade:"
                      " websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n"
                      "Sec-WebSocket-Protocol: parley.1\r\n\r\n").encode())
        with self.lock:
            c = mock.Conn(conn, len(self.conns))
            self.conns.append(c)
        while (got := c.recv()) is not None:
            verb, h, body = got
            req = [("req", h["req"])] if "req" in h else []
            if verb == "HELLO":
                c.send(frame("WELCOME", [("version", "1"),
                                         ("caps", "receipts,calls"),
                                         ("heartbeat", "30000"),
                                         ("max-frame", "65536"),
                                         ("max-body", "64512")] + req))
            elif verb == "AUTH":
                c.send(frame("READY", [("user", "alice"),
                                       ("device", h.get("device", "")),
                                       ("expires", str(2 ** 52))] + req))
                self.call_script(c, "READY", h, body, req)
            elif verb == "PING":
                c.send(frame("PONG", req))
            elif verb == "SYNC":
                c.send(frame("SYNCED", [("pos", "1")] + req))
            elif verb == "BYE":
                c.send(frame("BYE", req))
                c.close(1000)
                return
            else:
                self.call_script(c, verb, h, body, req)


def ring(c, **over):
    hdrs = {"call": CALL, "conv": "c1", "from": "bob", "device": "b1",
            "media": "audio", "ts": "1"}
    hdrs.update(over)
    c.send(frame("RING", [(k, v) for k, v in hdrs.items() if v is not None]))


def callee(on_offer, rings=({},)):
    """A script ringing the client with `rings`, answering its JOIN and
    calling on_offer(conn) on its OFFER."""
    def script(c, verb, h, body, req):
        if verb == "READY":
            for over in rings:
                ring(c, **over)
        elif verb == "JOIN":
            c.send(frame("OK", req))
            c.send(frame("PARTICIPANTS", [("call", CALL), ("conv", "c1"),
                                          ("state", "active"),
                                          ("count", "1"),
                                          ("content-type", "text/plain")]
                         + req, "bob b1\r\n"))
        elif verb == "OFFER":
            c.send(frame("OK", req))
            on_offer(c)
        elif verb in ("HANGUP", "LEAVE"):
            c.send(frame("OK", req))
            c.send(frame("CALL-END", [("call", CALL), ("conv", "c1"),
                                      ("reason", "hangup")]))
        elif req:
            c.send(frame("OK", req))
    return script


def answer_run(script, *opts):
    m = CallMock(script)
    workdir = tempfile.mkdtemp(prefix="parley-call-hostile-")
    pw = os.path.join(workdir, "pw")
    with open(pw, "w") as f:
        f.write(mock.PASSWORD + "\n")
    try:
        r = subprocess.run(
            [sys.argv[2], "--server", f"http://127.0.0.1:{m.port}", "--user",
             "alice", "--password-file", pw, "--db",
             os.path.join(workdir, "alice.db"), "--connect-timeout-ms",
             "20000", "answer", *opts], capture_output=True, text=True,
            timeout=HANG_S)
    finally:
        m.close()
    assert not m.errors, "".join(m.errors)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, \
        r.stderr[-3000:]
    sent = [(v, h) for c in m.conns for v, h, _ in c.frames]
    return r, sent


# spec: CALL-3 CALLCLI-1
def test_client_ignores_a_ring_naming_nobody(ctx):
    r, sent = answer_run(callee(lambda c: None,
                                rings=({"from": None}, {"device": None},
                                       {"conv": None}, {"from": "x" * 40},
                                       {"call": "k" * 65})),
                         "--answer-timeout-ms", "1500")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "no call came" in r.stderr, r.stderr
    assert not [v for v, _ in sent if v in ("JOIN", "OFFER")], sent


# spec: CALLCLI-6
def test_client_answer_timeout_bounds_only_the_wait(ctx):
    def end_later(c):
        import threading
        threading.Timer(2.5, lambda: c.send(frame(
            "CALL-END", [("call", CALL), ("conv", "c1"),
                         ("reason", "hangup")]))).start()
    r, sent = answer_run(callee(end_later), "--answer-timeout-ms", "1000")
    assert "stopped before the call ended" not in r.stderr, r.stderr
    assert "ended before it connected (hangup)" in r.stderr, r.stderr
    assert ("JOIN", {"call": CALL, "req": sent[[v for v, _ in sent]
                                               .index("JOIN")][1]["req"]}) \
        in sent, sent


# spec: CALLCLI-4 CALL-19
def test_client_refuses_a_malformed_answer(ctx):
    bad = offer_sdp(sections=1, setup="active").replace(":4A:66\r\n",
                                                        ":4A\r\n")

    def bad_answer(c):
        c.send(frame("ANSWER", [("call", CALL), ("from", "bob"),
                                ("device", "b1"),
                                ("content-type", "application/sdp")], bad))
    r, sent = answer_run(callee(bad_answer), "--answer-timeout-ms", "20000")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "call failed: malformed remote SDP in ANSWER" in r.stderr, \
        r.stderr
    assert [h.get("reason") for v, h in sent if v == "HANGUP"] == \
        ["failed"], sent


if __name__ == "__main__":
    run_tests([test_sdp_at_and_past_each_limit,
               test_candidate_flood_is_rate_limited,
               test_call_hangup_cycles,
               test_client_ignores_a_ring_naming_nobody,
               test_client_answer_timeout_bounds_only_the_wait,
               test_client_refuses_a_malformed_answer],
              setup, stop_clean)
