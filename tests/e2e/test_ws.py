#!/usr/bin/env python3
"""End-to-end tests of parley-server's WebSocket endpoint: hand-written
frames following the spec's examples, the errors the spec promises for
broken ones, a second server on a port in use, and a drain on SIGTERM.

    test_ws.py PATH/TO/parley-server
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parley_e2e import (HANG_S, Server, connect, expect,  # noqa: E402
                        expect_closed, expect_error, frame, get_token, hello,
                        new_conv, ping, raw_http, read_head, ready, recv,
                        request, run_tests, server_with_users,
                        split_response, stop_clean, stop_if_running,
                        tokens_of, upgrade_octets)

import websockets  # noqa: E402

PASSWORDS = {"alice": "a-secret", "bob": "b-secret", "carol": "c-secret"}


def setup(workdir):
    server = server_with_users(sys.argv[1], workdir, PASSWORDS).start()
    tokens = tokens_of(server, PASSWORDS)
    conv = new_conv(server, tokens["alice"], "direct", ["bob"])
    return {"server": server, "tokens": tokens, "conv": conv,
            "workdir": workdir}


async def send_msg(ws, conv, temp_id, body, req=None):
    headers = [("conv", conv), ("temp-id", temp_id)]
    if req:
        headers.append(("req", req))
    await ws.send(frame("SEND", headers, body))


# spec: WS-5
def test_upgrade_needs_the_subprotocol(ctx):
    port = ctx["server"].port
    for protocols in (None, "chat", "parley.2"):
        status, _, body = split_response(raw_http(port, upgrade_octets(
            port, protocols)))
        assert status == 400, (protocols, status, body)
        assert "parley.1" in body, body
    with socket.create_connection(("127.0.0.1", port),
                                  timeout=HANG_S) as s:
        s.sendall(upgrade_octets(port, "chat, parley.1"))
        raw = read_head(s)
    assert raw.startswith(b"HTTP/1.1 101"), raw
    assert b"Sec-WebSocket-Protocol: parley.1" in raw, raw


# spec: LIFE-2 EXT-2 AUTH-1 HB-1 RATE-3
async def test_handshake(ctx):
    ws = await connect(ctx["server"])
    await ws.send(frame("HELLO", [("versions", "1"), ("heartbeat", "50"),
                                  ("caps", "receipts,x-teleport"),
                                  ("req", "h1")]))
    welcome = await expect(ws, "WELCOME", version=1, req="h1",
                           caps="receipts", max_frame=65536, max_headers=32,
                           max_header_line=1024, max_body=64512,
                           rate=200, rate_burst=400)
    assert int(welcome["heartbeat"]) >= 200, welcome
    assert int(welcome["dedup-window"]) >= 86400000, welcome
    await ws.send(frame("AUTH", [("token", ctx["tokens"]["alice"]),
                                 ("device", "phone"), ("req", "a1")]))
    ready_hdrs = await expect(ws, "READY", user="alice", device="phone",
                              req="a1")
    assert int(ready_hdrs["expires"]) > 0
    await ws.close()


# spec: LIFE-2
async def test_unsupported_version(ctx):
    ws = await connect(ctx["server"])
    await ws.send(frame("HELLO", [("versions", "7,9"), ("heartbeat",
                                                         "30000")]))
    await expect_error(ws, 422, "unsupported-version", fatal="yes")
    await expect_closed(ws, code=1002)


# spec: LIFE-1 LIFE-7
async def test_first_frame_must_be_hello(ctx):
    ws = await connect(ctx["server"])
    await ws.send(frame("PING", [("nonce", "early")]))
    await expect_error(ws, 421, "bad-state", fatal="yes")
    await expect_closed(ws, code=1002)


# spec: AUTH-2 HB-3
async def test_before_ready(ctx):
    ws = await connect(ctx["server"])
    await hello(ws)
    await send_msg(ws, ctx["conv"], "early-1", "hi", req="s0")
    await expect_error(ws, 423, "auth-required", req="s0")
    await ws.send(frame("SYNC", [("since", "0")]))
    await expect_error(ws, 423, "auth-required")
    await ping(ws, "still-here")
    await ws.close()


# spec: AUTH-1 LIFE-7
async def test_wrong_and_expired_tokens(ctx):
    token = ctx["tokens"]["alice"]
    head, payload, sig = token.split(".")
    forged = ".".join([head, payload, ("A" if sig[0] != "A" else "B")
                       + sig[1:]])
    ws = await connect(ctx["server"])
    await hello(ws)
    await ws.send(frame("AUTH", [("token", forged), ("device", "phone")]))
    await expect_error(ws, 424, "auth-failed", fatal="yes")
    await expect_closed(ws, code=1008)

    # A token this server signed that has expired: from a second server
    # on the same database (the same key) that issues 1 ms tokens.
    short = Server(sys.argv[1], ctx["workdir"], extra=["--token-ttl-ms", "1"])
    short.start()
    try:
        expired = get_token(short.port, "alice", PASSWORDS["alice"])
    finally:
        stop_clean(short)
    ws = await connect(ctx["server"])
    await hello(ws)
    await ws.send(frame("AUTH", [("token", expired), ("device", "phone")]))
    await expect_error(ws, 425, "token-expired", fatal="yes")
    await expect_closed(ws, code=1008)


# spec: HB-3 REQ-1
async def test_ping(ctx):
    ws = await ready(ctx["server"], ctx["tokens"]["alice"])
    await ws.send(frame("PING", [("nonce", "xyz-1"), ("req", "p1")]))
    await expect(ws, "PONG", nonce="xyz-1", req="p1")
    await ws.close()


# spec: SEND-1 SEND-2 DELIV-1 DELIV-2 REQ-1
async def test_send_ack_and_delivery(ctx):
    conv = ctx["conv"]
    alice = await ready(ctx["server"], ctx["tokens"]["alice"])
    bob = await ready(ctx["server"], ctx["tokens"]["bob"], device="tablet")
    await alice.send(frame("SEND", [("conv", conv), ("temp-id", "t-0001"),
                                    ("req", "r5"),
                                    ("content-type", "text/plain")],
                           "hello"))
    acks, msgs = [], []
    while not acks or not msgs:
        verb, hdrs, body = await recv(alice)
        (acks if verb == "ACK" else msgs).append((verb, hdrs, body))
    ack = acks[0][1]
    assert ack["conv"] == conv and ack["temp-id"] == "t-0001", ack
    assert ack["req"] == "r5" and ack["msg-id"] and int(ack["ts"]) > 0, ack
    seq = int(ack["seq"])
    ctx["first_seq"] = seq
    for ws, got in ((alice, msgs[0]), (bob, await recv(bob))):
        verb, hdrs, body = got
        assert verb == "MSG" and body == "hello", got
        assert hdrs["msg-id"] == ack["msg-id"] and hdrs["seq"] == str(seq)
        assert hdrs["from"] == "alice" and hdrs["device"] == "phone", hdrs
        assert hdrs["temp-id"] == "t-0001" and "pos" in hdrs, hdrs
    ctx["ack1"] = ack

    await send_msg(alice, conv, "t-0002", "second")
    ack2 = None
    while ack2 is None:
        verb, hdrs, _ = await recv(alice)
        if verb == "ACK":
            ack2 = hdrs
    assert int(ack2["seq"]) == seq + 1, (ack, ack2)
    await expect(bob, "MSG", seq=seq + 1)
    await alice.close()
    await bob.close()


# spec: SEND-3 SEND-4
async def test_send_retry_and_conflict(ctx):
    conv, first = ctx["conv"], ctx["ack1"]
    ws = await ready(ctx["server"], ctx["tokens"]["alice"])
    await send_msg(ws, conv, "t-0001", "hello", req="again")
    ack = await expect(ws, "ACK", req="again")
    for key in ("conv", "temp-id", "msg-id", "seq", "ts"):
        assert ack[key] == first[key], (key, ack, first)
    await ping(ws, "no-second-msg")

    await send_msg(ws, conv, "t-0001", "another body", req="c1")
    await expect_error(ws, 441, "temp-id-conflict", req="c1")
    await ws.close()
    # Another device of the same user has its own temp-ids.
    ws = await ready(ctx["server"], ctx["tokens"]["alice"], device="laptop")
    await send_msg(ws, conv, "t-0001", "from the laptop", req="l1")
    verb, hdrs, _ = await recv(ws)
    while verb != "ACK":
        verb, hdrs, _ = await recv(ws)
    assert hdrs["msg-id"] != first["msg-id"], hdrs
    await ws.close()


# spec: SEND-6
async def test_send_not_member(ctx):
    ws = await ready(ctx["server"], ctx["tokens"]["carol"])
    await send_msg(ws, ctx["conv"], "c-1", "let me in", req="x")
    _, not_member, _ = await recv(ws)
    await send_msg(ws, "c-does-not-exist", "c-2", "anyone?", req="x")
    _, missing, _ = await recv(ws)
    assert not_member == missing, (not_member, missing)
    assert missing["code"] == "440" and missing["reason"] == "not-found"
    await ping(ws)
    await ws.close()


# spec: FRAME-1 FRAME-4 FRAME-6 EXT-1
async def test_malformed_frames(ctx):
    ws = await ready(ctx["server"], ctx["tokens"]["alice"])
    cases = [("send\r\n\r\n", 400, "bad-start-line"),
             ("PING\r\nNonce: x\r\n\r\n", 401, "bad-header-name"),
             ("PING\nnonce: x\n\n", 400, "bad-start-line"),
             ("SEND\r\nconv: c\r\ncontent-length: 05\r\n\r\nhello", 405,
              "bad-length"),
             ("PING\r\nnonce: a\r\nnonce: b\r\n\r\n", 411,
              "duplicate-header")]
    for text, code, reason in cases:
        await ws.send(text)
        await expect_error(ws, code, reason)
    await ws.send(frame("PING", [("nonce", "n9"), ("x-private", "ignored")]))
    await expect(ws, "PONG", nonce="n9")
    await ws.close()


# spec: FRAME-5 WS-8
async def test_fragments_and_utf8(ctx):
    """Messages in several WebSocket fragments are put together, a code
    point split between fragments included; invalid UTF-8 inside a text
    message is the frame's error (bad-utf8), not the transport's."""
    ws = await ready(ctx["server"], ctx["tokens"]["alice"])
    text = frame("PING", [("nonce", "frag-\u00e9t\u00e9")]).encode()
    cut = text.index(b"\xc3") + 1  # inside the first two-octet character
    await ws.write_frame(False, websockets.frames.Opcode.TEXT, text[:5])
    await ws.write_frame(False, websockets.frames.Opcode.CONT, text[5:cut])
    await ws.write_frame(True, websockets.frames.Opcode.CONT, text[cut:])
    await expect(ws, "PONG", nonce="frag-\u00e9t\u00e9")
    await ws.write_frame(True, websockets.frames.Opcode.TEXT,
                         b"PING\r\nnonce: \xff\r\n\r\n")
    await expect_error(ws, 403, "bad-utf8")
    await ping(ws)
    await ws.close()


# spec: WS-1 WS-2
async def test_one_frame_per_message(ctx):
    conv = ctx["conv"]
    ws = await ready(ctx["server"], ctx["tokens"]["alice"])
    whole = frame("SEND", [("conv", conv), ("temp-id", "split-1")], "abc")
    await ws.send(whole[:len(whole) // 2])
    await expect_error(ws, 409, "truncated-frame")
    await ws.send(whole[len(whole) // 2:])
    got = await recv(ws)
    assert got[0] == "ERROR" and got[1]["fatal"] == "no", got

    second = frame("SEND", [("conv", conv), ("temp-id", "double-2")], "def")
    doubled = frame("SEND", [("conv", conv), ("temp-id", "double-1")], "abc")
    await ws.send(doubled + second)
    await expect_error(ws, 410, "extra-data")
    await ws.send(frame("PING", [("nonce", "a")]) + "trailing")
    await expect_error(ws, 404, "length-required")
    await ws.send("")
    await expect_error(ws, 409, "truncated-frame")

    # None of those frames was acted on: the temp-ids are still free.
    for temp_id in ("split-1", "double-1", "double-2"):
        await send_msg(ws, conv, temp_id, "now whole", req=temp_id)
        verb, hdrs, _ = await recv(ws)
        while verb != "ACK":
            assert verb == "MSG", (verb, hdrs)
            verb, hdrs, _ = await recv(ws)
        assert hdrs["req"] == temp_id, hdrs
    await ws.close()


# spec: EXT-3 WS-3 FRAME-2 WS-7
async def test_unknown_verb_binary_and_too_large(ctx):
    ws = await ready(ctx["server"], ctx["tokens"]["alice"])
    await ws.send(frame("TELEPORT", [("to", "mars"), ("req", "u1")]))
    await expect_error(ws, 420, "unknown-verb", req="u1")
    await ws.send(b"PING\r\n\r\n")
    await expect_error(ws, 412, "binary-message")
    big = frame("SEND", [("conv", ctx["conv"]), ("temp-id", "big")],
                "x" * 70000)
    await ws.send(big)
    await expect_error(ws, 406, "frame-too-large")
    # A message longer than the limit is refused for its length, whatever
    # else is wrong with it (WS-7): here a frame within the limit followed
    # by more octets than the limit, and a bad start line.
    head = f"SEND\r\nconv: {ctx['conv']}\r\ntemp-id: cut\r\n"
    await ws.send(head + "content-length: 65530\r\n\r\n" + "x" * 65530)
    await expect_error(ws, 406, "frame-too-large")
    await ws.send(head + "content-length: 60000\r\n\r\n" + "x" * 90000)
    await expect_error(ws, 406, "frame-too-large")
    await ws.send("send\r\n" + "x" * 70000)
    await expect_error(ws, 406, "frame-too-large")
    # A message exactly at the limit is within it; one octet more is not.
    for total, ok in ((65536, True), (65537, False)):
        head = f"PING\r\nnonce: at-{total}\r\n"
        size = total - len(head) - len("content-length: NNNNN\r\n\r\n")
        text = head + f"content-length: {size}\r\n\r\n" + "y" * size
        assert len(text.encode()) == total
        await ws.send(text)
        if ok:
            await expect(ws, "PONG", nonce=f"at-{total}")
        else:
            await expect_error(ws, 406, "frame-too-large")
    await ping(ws)
    await ws.close()


# spec: SYNC-1 DELIV-3
async def test_sync(ctx):
    ws = await ready(ctx["server"], ctx["tokens"]["bob"])
    await ws.send(frame("SYNC", [("since", "0")]))
    positions = []
    verb, hdrs, _ = await recv(ws)
    while verb != "SYNCED":
        assert verb in ("MSG", "RECEIPT"), verb
        positions.append(int(hdrs["pos"]))
        verb, hdrs, _ = await recv(ws)
    assert positions and positions == sorted(positions), positions
    assert int(hdrs["pos"]) >= positions[-1]
    last = hdrs["pos"]
    await ws.send(frame("SYNC", [("since", last)]))
    await expect(ws, "SYNCED", pos=last)
    await ws.send(frame("SYNC", []))
    await expect(ws, "SYNCED", pos=last)
    await ws.close()


# spec: HIST-1 HIST-2
async def test_history(ctx):
    ws = await ready(ctx["server"], ctx["tokens"]["bob"])
    seen, cursor = [], None
    while True:
        headers = [("conv", ctx["conv"]), ("limit", "2"), ("req", "h")]
        if cursor:
            headers.append(("cursor", cursor))
        await ws.send(frame("HISTORY", headers))
        page = []
        verb, hdrs, _ = await recv(ws)
        while verb == "MSG":
            assert hdrs["req"] == "h" and "pos" not in hdrs, hdrs
            page.append(int(hdrs["seq"]))
            verb, hdrs, _ = await recv(ws)
        assert verb == "PAGE" and hdrs["count"] == str(len(page)), hdrs
        assert page == sorted(page)
        seen = page + seen
        if hdrs["more"] == "no":
            assert "cursor" not in hdrs
            break
        assert hdrs["more"] == "yes"
        cursor = hdrs["cursor"]
    assert seen == list(range(1, len(seen) + 1)), seen
    await ws.send(frame("HISTORY", [("conv", ctx["conv"]),
                                    ("cursor", "bogus"), ("req", "b")]))
    await expect_error(ws, 442, "bad-cursor", req="b")
    ctx["last_seq"] = seen[-1]
    await ws.close()


# spec: RCPT-1 RCPT-2 RCPT-3
async def test_receipts(ctx):
    conv, last = ctx["conv"], ctx["last_seq"]
    alice = await ready(ctx["server"], ctx["tokens"]["alice"])
    bob = await ready(ctx["server"], ctx["tokens"]["bob"])
    await bob.send(frame("RECEIPT", [("conv", conv), ("kind", "read"),
                                     ("seq", str(last)), ("req", "k1")]))
    await expect(bob, "OK", req="k1")
    for ws in (alice, bob):
        hdrs = await expect(ws, "RECEIPT", conv=conv, user="bob", kind="read",
                            seq=last)
        assert int(hdrs["pos"]) > 0
    await bob.send(frame("RECEIPT", [("conv", conv), ("kind", "read"),
                                     ("seq", "1"), ("req", "k2")]))
    await expect(bob, "OK", req="k2")
    await ping(alice, "no-lowering-receipt")
    await bob.send(frame("RECEIPT", [("conv", conv), ("kind", "read"),
                                     ("seq", str(last + 1)), ("req", "k3")]))
    await expect_error(bob, 427, "bad-value", req="k3")
    await alice.close()
    await bob.close()


# spec: HB-4 HB-1 LIFE-7
async def test_heartbeat_timeout(ctx):
    """The server's timer fires: a READY session that stays silent for
    two intervals (200 ms, the lowest a server may choose) is closed."""
    ws = await connect(ctx["server"])
    welcome = await hello(ws, heartbeat=1)
    assert welcome["heartbeat"] == "200", welcome
    await ws.send(frame("AUTH", [("token", ctx["tokens"]["bob"]),
                                 ("device", "quiet")]))
    await expect(ws, "READY")
    await expect_error(ws, 428, "timeout", fatal="yes")
    await expect_closed(ws, code=1008)


# spec: LIFE-6 LIFE-7
async def test_bye(ctx):
    ws = await ready(ctx["server"], ctx["tokens"]["alice"])
    await ws.send(frame("BYE"))
    await expect(ws, "BYE")
    await expect_closed(ws, code=1000)


# spec: WS-4
async def test_too_many_errors(ctx):
    ws = await ready(ctx["server"], ctx["tokens"]["alice"])
    for _ in range(16):
        await ws.send("not a frame")
    got = None
    while got is None or got[1]["reason"] != "too-many-errors":
        got = await recv(ws)
        assert got[0] == "ERROR", got
    assert got[1]["code"] == "413" and got[1]["fatal"] == "yes", got
    await expect_closed(ws, code=1002)


async def test_still_serving_after_abuse(ctx):
    ws = await ready(ctx["server"], ctx["tokens"]["carol"])
    await ping(ws, "alive")
    await ws.close()
    status, _, _ = request(ctx["server"].port, "GET", "/v1/config")
    assert status == 200
    log = ctx["server"].log()
    assert "session open" in log and "session closed user=alice" in log


def test_port_in_use(ctx):
    """A second server on the first one's address and port says why it
    cannot listen, in words, and exits non-zero; the first keeps serving."""
    server = ctx["server"]
    addr = f"127.0.0.1:{server.port}"
    r = subprocess.run(
        [sys.argv[1], "--listen", addr, "--db",
         os.path.join(ctx["workdir"], "second.db")],
        capture_output=True, text=True, timeout=HANG_S)
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert (f"cannot listen on {addr}: address already in use"
            in r.stderr.lower()), r.stderr[-2000:]
    assert "ERROR on binding" not in r.stderr, r.stderr[-2000:]
    assert "listening on" not in r.stdout, r.stdout
    assert server.proc.poll() is None, "the first server stopped"


# spec: LIFE-7 SEC-5
async def test_sigterm_drains(ctx):
    server = ctx["server"]
    ws = await ready(server, ctx["tokens"]["alice"])
    server.proc.send_signal(signal.SIGTERM)
    await expect_error(ws, 503, "going-away", fatal="yes")
    await expect_closed(ws, code=1001)
    rc = await asyncio.get_running_loop().run_in_executor(
        None, server.proc.wait)
    server.proc.stdout.close()
    server.proc = None
    assert rc == 0, server.log()[-3000:]
    log = server.log()
    assert "AddressSanitizer" not in log and "runtime error" not in log
    for secret in list(ctx["tokens"].values()) + list(PASSWORDS.values()):
        assert secret not in log, "a token or password reached the log"


if __name__ == "__main__":
    run_tests([test_upgrade_needs_the_subprotocol, test_handshake,
               test_unsupported_version, test_first_frame_must_be_hello,
               test_before_ready, test_wrong_and_expired_tokens, test_ping,
               test_send_ack_and_delivery, test_send_retry_and_conflict,
               test_send_not_member, test_malformed_frames,
               test_fragments_and_utf8,
               test_one_frame_per_message,
               test_unknown_verb_binary_and_too_large, test_sync,
               test_history, test_receipts, test_heartbeat_timeout,
               test_bye, test_too_many_errors,
               test_still_serving_after_abuse, test_port_in_use,
               test_sigterm_drains],
              setup, stop_if_running)
