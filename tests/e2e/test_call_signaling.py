#!/usr/bin/env python3
"""End-to-end tests of call signaling in parley-server (spec section 19):
the call frames over a real WebSocket, the refused ones (nothing of them
reaches a peer), the call records over HTTP, and the end of the calls a
server restart cut short.

    test_call_signaling.py PATH/TO/parley-server
"""

import asyncio
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parley_e2e import (HANG_S, connect, error_of, expect,  # noqa: E402
                        expect_error, frame, new_conv, recv, request,
                        run_tests, server_with_users, stop_if_running,
                        tokens_of)

PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-2", "carol": "carol-pw-3",
             "dave": "dave-pw-4"}
RING_MS = 1500
GRACE_MS = 1500

# An offer of the spec's SDP profile: one audio section with Opus.
SDP = ("v=0\r\n"
       "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
       "s=-\r\n"
       "t=0 0\r\n"
       "a=group:BUNDLE 0\r\n"
       "a=ice-options:trickle\r\n"
       "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
       "c=IN IP4 0.0.0.0\r\n"
       "a=ice-ufrag:F7gI\r\n"
       "a=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\n"
       "a=fingerprint:sha-256 D1:2C:BE:AD:C4:F6:64:5C:25:16:11:9C:AF:E7:"
       "0F:73:79:36:4E:9C:1E:15:54:39:0C:06:8B:A0:86:DC:4A:66\r\n"
       "a=setup:actpass\r\n"
       "a=mid:0\r\n"
       "a=sendrecv\r\n"
       "a=rtcp-mux\r\n"
       "a=rtpmap:111 opus/48000/2\r\n"
       "a=fmtp:111 minptime=10;useinbandfec=1\r\n")
CANDIDATE = "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"


def setup(workdir):
    server = server_with_users(
        sys.argv[1], workdir, PASSWORDS,
        ["--ring-timeout-ms", str(RING_MS), "--call-grace-ms",
         str(GRACE_MS)]).start()
    ctx = {"server": server, "tokens": tokens_of(server, PASSWORDS)}
    tok = ctx["tokens"]
    ctx["direct"] = new_conv(server, tok["alice"], "direct", ["bob"])
    ctx["group"] = new_conv(server, tok["alice"], "group", ["bob", "carol"])
    return ctx


# ---- helpers -----------------------------------------------------------

async def session(ctx, user, device, caps="calls"):
    """A READY session of `user` on `device` that negotiated `caps`."""
    ws = await connect(ctx["server"])
    await ws.send(frame("HELLO", [("versions", "1"), ("heartbeat", "60000"),
                                  ("caps", caps)]))
    await expect(ws, "WELCOME", caps=caps)
    await ws.send(frame("AUTH", [("token", ctx["tokens"][user]),
                                 ("device", device)]))
    await expect(ws, "READY", user=user, device=device)
    return ws


async def quiet(ws, nonce="q"):
    """Proves nothing was sent to ws: a PING's PONG is the next frame."""
    await ws.send(frame("PING", [("nonce", nonce)]))
    await expect(ws, "PONG", nonce=nonce)


async def start_call(ws, conv, media=None):
    hdrs = [("conv", conv), ("req", "c1")]
    if media:
        hdrs.append(("media", media))
    await ws.send(frame("CALL", hdrs))
    ok = await expect(ws, "OK", req="c1")
    assert ok["call"].startswith("k") and len(ok["call"]) == 21, ok
    return ok["call"]


async def join(ws, call, rejoin=None):
    hdrs = [("call", call)] + ([("rejoin", rejoin)] if rejoin else [])
    await ws.send(frame("JOIN", hdrs))
    await expect(ws, "OK")
    return await recv(ws)


def sdp_frame(verb, call, to, device, body=SDP, ctype="application/sdp",
              extra=()):
    hdrs = [("call", call), ("to", to), ("to-device", device)] + list(extra)
    if ctype:
        hdrs.append(("content-type", ctype))
    return frame(verb, hdrs, body)


def get_call(ctx, user, call):
    return request(ctx["server"].port, "GET", f"/v1/call/{call}", None,
                   ctx["tokens"][user])


async def active_call(ctx):
    """alice (a1) calls bob (b1) in the direct conversation; bob joins.
    Returns (alice ws, bob ws, call id)."""
    a = await session(ctx, "alice", "a1")
    b = await session(ctx, "bob", "b1")
    call = await start_call(a, ctx["direct"])
    await expect(b, "RING", call=call, conv=ctx["direct"], device="a1")
    verb, hdrs, body = await join(b, call)
    assert verb == "PARTICIPANTS" and body == "alice a1\r\n", (verb, body)
    joined = await expect(a, "JOINED", call=call, user="bob", device="b1")
    assert "rejoin" not in joined, joined
    return a, b, call


# ---- tests -------------------------------------------------------------

# spec: CALL-3 CALL-4 CALL-5 CALL-12 CALL-21 CALL-22
async def test_call_flow_and_its_record(ctx):
    a, b, call = await active_call(ctx)
    await b.send(sdp_frame("OFFER", call, "alice", "a1",
                           extra=[("req", "o1")]))
    await expect(b, "OK", req="o1")
    verb, hdrs, body = await recv(a)
    assert verb == "OFFER" and body == SDP, (verb, hdrs)
    assert hdrs["from"] == "bob" and hdrs["device"] == "b1", hdrs
    assert "to" not in hdrs and "req" not in hdrs, hdrs
    await a.send(sdp_frame("ANSWER", call, "bob", "b1"))
    await expect(a, "OK")
    verb, hdrs, body = await recv(b)
    assert verb == "ANSWER" and body == SDP, verb
    await a.send(frame("CANDIDATE", [("call", call), ("to", "bob"),
                                     ("to-device", "b1"),
                                     ("candidate", CANDIDATE),
                                     ("mid", "0")]))
    await expect(a, "OK")
    await expect(b, "CANDIDATE", candidate=CANDIDATE, mid="0", device="a1")
    await a.send(frame("MEDIA-STATE", [("call", call), ("audio", "off")]))
    await expect(a, "OK")
    await expect(b, "MEDIA-STATE", audio="off", **{"from": "alice"})
    await b.send(frame("HANGUP", [("call", call)]))
    await expect(b, "OK")
    await expect(b, "CALL-END", call=call, reason="hangup")
    await expect(a, "CALL-END", call=call, reason="hangup")

    # The record, read right after the relay, already shows the end.
    status, _, rec = get_call(ctx, "alice", call)
    assert status == 200, rec
    assert rec["state"] == "ended" and rec["end_reason"] == "hangup", rec
    assert rec["caller"] == "alice" and rec["media"] == "audio", rec
    assert rec["conv"] == ctx["direct"], rec
    assert rec["answered_ms"] >= rec["started_ms"], rec
    assert rec["ended_ms"] >= rec["answered_ms"], rec
    kinds = [(e["user"], e["device"], e["event"], e["reason"])
             for e in rec["events"]]
    assert kinds == [("alice", "a1", "joined", None),
                     ("bob", "b1", "joined", None),
                     ("alice", "a1", "left", "hangup"),
                     ("bob", "b1", "left", "hangup")], kinds
    status, _, listed = request(
        ctx["server"].port, "GET",
        f"/v1/conversations/{ctx['direct']}/calls?limit=1", None,
        ctx["tokens"]["bob"])
    assert status == 200 and [c["id"] for c in listed["calls"]] == [call]
    assert listed["calls"][0]["state"] == "ended", listed
    await a.close()
    await b.close()


# spec: CALL-15 CALL-16 CALL-17 CALL-18 CALL-19
async def test_refused_frames_reach_nobody(ctx):
    a, b, call = await active_call(ctx)
    c = await session(ctx, "carol", "c1")   # not members of the call's
    d = await session(ctx, "dave", "d1")    # conversation
    tests = [
        # a non-member and an unknown call: the same 443
        (c, frame("CANDIDATE", [("call", call), ("to", "alice"),
                                ("to-device", "a1"),
                                ("candidate", CANDIDATE)]), 443),
        (d, frame("CANDIDATE", [("call", "kaaaaaaaaaaaaaaaaaaaa"),
                                ("to", "alice"), ("to-device", "a1"),
                                ("candidate", CANDIDATE)]), 443),
        (b, sdp_frame("ANSWER", call, "alice", "a1"), 444),
        (b, frame("CANDIDATE", [("call", call), ("to", "alice"),
                                ("to-device", "a1"),
                                ("candidate", "candidate:x 1 udp")]), 446),
        (b, sdp_frame("OFFER", call, "alice", "a1",
                      body="v=0\r\ns=-\r\n"), 445),
        (b, sdp_frame("OFFER", call, "alice", "a1", ctype="text/plain"),
         445),
        (b, sdp_frame("OFFER", call, "alice", "a1",
                      body="v=0\r\n" + "a=x\r\n" * 5000), 447),
        (b, sdp_frame("OFFER", call, "carol", "c1"), 443),
        (b, frame("JOIN", [("call", call)]), 444),
    ]
    for i, (ws, text, code) in enumerate(tests):
        await ws.send(text)
        hdrs = await expect(ws, "ERROR", code=code, fatal="no")
        assert hdrs["reason"] in ("no-such-call", "bad-call-state",
                                  "bad-candidate", "bad-sdp",
                                  "sdp-too-large"), (i, hdrs)
    # the three 443s of carol and dave are the same octets
    await c.send(tests[0][1])
    await d.send(tests[0][1])
    one, two = await c.recv(), await d.recv()
    assert one == two, (one, two)
    await quiet(a)
    await quiet(b)
    for ws in (a, b, c, d):
        await ws.close()


# spec: CALL-3 CALL-11
async def test_ring_timeout_and_late_ready(ctx):
    a = await session(ctx, "alice", "a1")
    call = await start_call(a, ctx["group"], media="video")
    # carol's session becomes READY while the call rings: RING after READY
    c = await session(ctx, "carol", "c1")
    await expect(c, "RING", call=call, media="video", **{"from": "alice"})
    await expect(a, "CALL-END", call=call, reason="no-answer")
    await expect(c, "CALL-END", call=call, reason="no-answer")
    status, _, rec = get_call(ctx, "carol", call)
    assert status == 200 and rec["end_reason"] == "no-answer", rec
    assert rec["answered_ms"] is None and rec["state"] == "ended", rec
    await a.close()
    await c.close()


# spec: CALL-13
async def test_rejoin_and_grace(ctx):
    a, b, call = await active_call(ctx)
    await b.close()                       # away, within the grace
    b2 = await session(ctx, "bob", "b1")
    verb, _, body = await join(b2, call, rejoin="yes")
    assert verb == "PARTICIPANTS" and body == "alice a1\r\n", verb
    await expect(a, "JOINED", user="bob", device="b1", rejoin="yes")
    await b2.send(sdp_frame("OFFER", call, "alice", "a1",
                            extra=[("ice-restart", "yes")]))
    await expect(b2, "OK")
    await expect(a, "OFFER", **{"ice-restart": "yes", "from": "bob"})
    # now bob goes for good: LEFT disconnected after the grace, then the end
    await b2.close()
    await expect(a, "LEFT", user="bob", reason="disconnected")
    await expect(a, "CALL-END", reason="disconnected")
    status, _, rec = get_call(ctx, "bob", call)
    events = [(e["user"], e["event"], e["reason"]) for e in rec["events"]]
    assert ("bob", "rejoined", None) in events, events
    assert ("bob", "left", "disconnected") in events, events
    await a.close()


# spec: CALL-9 CALL-10 CALL-12 CALL-16
async def test_group_decline_and_second_device(ctx):
    a = await session(ctx, "alice", "a1")
    b1 = await session(ctx, "bob", "b1")
    b2 = await session(ctx, "bob", "b2")
    c1 = await session(ctx, "carol", "c1")
    c2 = await session(ctx, "carol", "c2")
    call = await start_call(a, ctx["group"])
    for ws in (b1, b2, c1, c2):
        await expect(ws, "RING", call=call)
    await join(b1, call)
    await expect(b2, "RING-STOP", call=call, reason="answered-elsewhere")
    await expect(a, "JOINED", user="bob")
    await b2.send(frame("JOIN", [("call", call)]))
    await expect_error(b2, 444, "bad-call-state")
    await c1.send(frame("HANGUP", [("call", call)]))
    await expect(c1, "OK")
    await expect(c2, "RING-STOP", call=call, reason="declined-elsewhere")
    await a.send(frame("LEAVE", [("call", call)]))
    await expect(a, "OK")
    await expect(a, "CALL-END", reason="completed")  # its LEAVE ended it
    await expect(b1, "LEFT", user="alice", reason="left")
    await expect(b1, "CALL-END", reason="completed")
    # c1 declined and got no RING-STOP: the end reaches it (CALL-12)
    await expect(c1, "CALL-END", reason="completed")
    for ws in (a, b2, c1, c2):
        await quiet(ws)
    for ws in (a, b1, b2, c1, c2):
        await ws.close()


# spec: CALL-22 CALL-23
def test_http_rules(ctx):
    port, tok = ctx["server"].port, ctx["tokens"]

    async def one_call():
        a = await session(ctx, "alice", "a1")
        call = await start_call(a, ctx["direct"])
        await a.send(frame("HANGUP", [("call", call)]))
        await expect(a, "OK")
        await expect(a, "CALL-END", reason="cancelled")
        await a.close()
        return call
    call = asyncio.run(one_call())
    paths = [("GET", f"/v1/call/{call}"),
             ("POST", f"/v1/call/{call}/recording/start"),
             ("GET", f"/v1/conversations/{ctx['direct']}/calls")]
    for method, path in paths:                       # 401 before anything
        status, hdrs, body = request(port, method, path, b"" if
                                     method == "POST" else None)
        assert status == 401 and hdrs.get("www-authenticate") == "Bearer"
    status, _, body = request(port, "POST",
                              f"/v1/call/{call}/recording/start", b"",
                              tok["bob"])
    assert status == 501, (status, body)
    assert error_of(body) == (501, "not-supported"), body
    assert body["error"]["message"] == \
        "recording is not supported by this server", body
    for user, cid in (("carol", call), ("bob", "knotacallatallnotacal"),
                      ("bob", "bad!id")):
        for method, path in ((("GET", f"/v1/call/{cid}")),
                             ("POST", f"/v1/call/{cid}/recording/start")):
            status, _, body = request(port, method, path, b"" if
                                      method == "POST" else None, tok[user])
            assert status == 404 and error_of(body) == (440, "not-found"), \
                (user, cid, method, body)
    status, hdrs, body = request(port, "POST", f"/v1/call/{call}", b"{}",
                                 tok["bob"])
    assert status == 405 and hdrs.get("allow") == "GET", (status, hdrs)
    status, hdrs, body = request(port, "GET",
                                 f"/v1/call/{call}/recording/start", None,
                                 tok["bob"])
    assert status == 405 and hdrs.get("allow") == "POST", (status, hdrs)
    status, _, body = request(port, "GET", f"/v1/call/{call}/other", None,
                              tok["bob"])
    assert status == 404 and error_of(body)[1] == "no-such-path", body
    status, _, body = request(
        port, "GET", f"/v1/conversations/{ctx['direct']}/calls", None,
        tok["carol"])
    assert status == 404 and error_of(body)[1] == "not-found", body
    status, _, body = request(
        port, "GET", f"/v1/conversations/{ctx['direct']}/calls?limit=0",
        None, tok["bob"])
    assert status == 400 and error_of(body)[1] == "bad-value", body
    status, _, body = request(
        port, "GET", f"/v1/conversations/{ctx['direct']}/calls", None,
        tok["bob"])
    assert status == 200 and body["calls"][0]["id"] == call, body
    started = [c["started_ms"] for c in body["calls"]]
    assert started == sorted(started, reverse=True), started
    assert all("events" not in c for c in body["calls"]), body


# spec: CALL-21
async def test_restart_ends_open_calls(ctx):
    a, b, call = await active_call(ctx)
    # a read through the store's queue: every event before it is in
    status, _, rec = get_call(ctx, "alice", call)
    assert status == 200 and rec["state"] == "active", rec
    server = ctx["server"]
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    server.start()
    for ws in (a, b):
        await ws.close()
    assert "ended 1 calls the last run left open" in server.log(), \
        server.log()[-2000:]
    status, _, rec = get_call(ctx, "bob", call)
    assert status == 200, rec
    assert rec["state"] == "ended", rec
    assert rec["end_reason"] == "server-restart", rec
    left = [(e["user"], e["reason"]) for e in rec["events"]
            if e["event"] == "left"]
    assert left == [("alice", "server-restart"),
                    ("bob", "server-restart")], rec["events"]

    # the conversation may call again; the old call is gone
    a = await session(ctx, "alice", "a1")
    await a.send(frame("JOIN", [("call", call)]))
    await expect_error(a, 443, "no-such-call")
    new = await start_call(a, ctx["direct"])
    assert new != call
    await a.close()


def test_flags(ctx):
    binary = sys.argv[1]
    for args in (["--ring-timeout-ms", "0"], ["--call-grace-ms", "abc"],
                 ["--call-grace-ms", "3600001"]):
        r = subprocess.run([binary] + args, capture_output=True, text=True,
                           timeout=HANG_S)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert args[0] in r.stderr, r.stderr
    r = subprocess.run([binary, "--help"], capture_output=True, text=True,
                       timeout=HANG_S)
    assert r.returncode == 0
    assert "--ring-timeout-ms" in r.stdout and "--call-grace-ms" in r.stdout


if __name__ == "__main__":
    run_tests([test_call_flow_and_its_record,
               test_refused_frames_reach_nobody,
               test_ring_timeout_and_late_ready,
               test_rejoin_and_grace,
               test_group_decline_and_second_device,
               test_http_rules,
               test_restart_ends_open_calls,
               test_flags],
              setup, stop_if_running)
