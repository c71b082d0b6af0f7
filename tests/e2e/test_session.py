#!/usr/bin/env python3
"""End-to-end tests of parley-server sessions over a raw socket and
across restarts: frames sent in one burst are answered in order, every
frame is a text message, history cursors survive a restart, bodies with
NUL come back whole from the database, and the limits /v1/config states
are those of WELCOME and never past the table.

    test_session.py PATH/TO/parley-server
"""

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parley_e2e import (RawWebSocket, connect, expect,  # noqa: E402
                        frame, hello, new_conv, ready, recv, request,
                        run_tests, server_with_users, stop_clean,
                        stop_if_running, tokens_of)

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw"}


def setup(workdir):
    server = server_with_users(sys.argv[1], workdir, PASSWORDS).start()
    tokens = tokens_of(server, PASSWORDS)
    conv = new_conv(server, tokens["alice"], "direct", ["bob"])
    return {"server": server, "tokens": tokens, "conv": conv}


def restart(ctx):
    stop_clean(ctx["server"])
    ctx["server"].start()


# spec: LIFE-5 REQ-1
def test_burst_answered_in_order(ctx):
    ws = RawWebSocket(ctx["server"].port)
    conv, token = ctx["conv"], ctx["tokens"]["alice"]
    burst = [
        frame("HELLO", [("versions", "1"), ("heartbeat", "30000"),
                        ("req", "h")]),
        frame("AUTH", [("token", token), ("device", "burst"), ("req", "a")]),
        frame("PING", [("nonce", "p1")]),
        frame("SEND", [("conv", conv), ("temp-id", "b1"), ("req", "s1")],
              "one"),
        frame("PING", [("nonce", "p2")]),
        frame("SEND", [("conv", conv), ("temp-id", "b2"), ("req", "s2")],
              "two"),
        frame("HISTORY", [("conv", conv), ("limit", "100"), ("req", "q")]),
        frame("PING", [("nonce", "p3")]),
    ]
    ws.send(*[RawWebSocket.message(f) for f in burst])
    answers = []
    while not {("ACK", "s2"), ("PAGE", "q"), ("PONG", "p3")} <= \
            {(v, r) for v, r, _, _ in answers}:
        verb, hdrs, body = ws.recv_frame()
        answers.append((verb, hdrs.get("req") or hdrs.get("nonce"), hdrs,
                        body))
    ws.close()
    order = [(v, r) for v, r, _, _ in answers if v != "MSG"]
    # WELCOME, READY and the PONGs wait for nothing: they come in the
    # order of their requests. ACKs wait for storage but keep theirs.
    assert order[:2] == [("WELCOME", "h"), ("READY", "a")], order
    pongs = [r for v, r in order if v == "PONG"]
    assert pongs == ["p1", "p2", "p3"], order
    acks = [(r, h) for v, r, h, _ in answers if v == "ACK"]
    assert [r for r, _ in acks] == ["s1", "s2"], order
    assert int(acks[1][1]["seq"]) == int(acks[0][1]["seq"]) + 1
    assert order.index(("ACK", "s2")) < order.index(("PAGE", "q")), order
    # HISTORY came after both SENDs, so its page holds them.
    shown = [b for v, r, h, b in answers if v == "MSG" and r == "q"]
    assert shown[-2:] == ["one", "two"], shown


# spec: WS-6
def test_every_server_frame_is_a_text_message(ctx):
    ws = RawWebSocket(ctx["server"].port)
    conv, token = ctx["conv"], ctx["tokens"]["alice"]
    steps = [
        (frame("HELLO", [("versions", "1"), ("heartbeat", "30000")]), 1),
        (frame("AUTH", [("token", token), ("device", "ws6")]), 1),
        (frame("SEND", [("conv", conv), ("temp-id", "w1"), ("req", "s")],
               "ünïcødé\r\nbody"), 2),  # ACK and the live MSG
        (frame("HISTORY", [("conv", conv), ("limit", "1"), ("req", "h")]),
         2),
        (frame("SYNC", [("since", "0")]), None),
        ("send\r\n\r\n", 1),  # malformed: ERROR
        (frame("SEND", [("conv", "nope"), ("temp-id", "w2")], "x"), 1),
    ]
    verbs = []
    for text, count in steps:
        ws.send(RawWebSocket.message(text))
        if count is None:
            while True:
                verb, _, _ = ws.recv_frame()
                verbs.append(verb)
                if verb == "SYNCED":
                    break
            continue
        for _ in range(count):
            verbs.append(ws.recv_frame()[0])
    ws.send(RawWebSocket.message(b"\x00\x01", opcode=0x2))
    verb, hdrs, _ = ws.recv_frame()
    assert (verb, hdrs.get("reason")) == ("ERROR", "binary-message")
    ws.send(RawWebSocket.message(frame("BYE", [])))
    assert ws.recv_frame()[0] == "BYE"
    fin, opcode, payload = ws.recv()
    assert opcode == 0x8, f"after BYE a close, not {opcode:#x}"
    assert int.from_bytes(payload[:2], "big") == 1000
    ws.close()
    for want in ("WELCOME", "READY", "ACK", "MSG", "PAGE", "SYNCED",
                 "ERROR"):
        assert want in verbs, verbs


async def history(server, token, conv, cursor=None):
    """One HISTORY page of two over WebSocket: (seqs, cursor)."""
    ws = await ready(server, token)
    headers = [("conv", conv), ("limit", "2"), ("req", "h")]
    if cursor:
        headers.append(("cursor", cursor))
    await ws.send(frame("HISTORY", headers))
    seqs = []
    verb, hdrs, _ = await recv(ws)
    while verb == "MSG":
        seqs.append(int(hdrs["seq"]))
        verb, hdrs, _ = await recv(ws)
    assert verb == "PAGE", (verb, hdrs)
    await ws.close()
    return seqs, hdrs.get("cursor")


async def send_some(server, token, conv, texts, prefix):
    ws = await ready(server, token, "sender")
    for i, text in enumerate(texts):
        await ws.send(frame("SEND", [("conv", conv),
                                     ("temp-id", f"{prefix}{i}"),
                                     ("req", f"r{i}")], text))
        await expect(ws, "ACK", req=f"r{i}")
        await expect(ws, "MSG")
    await ws.close()


def http_page(ctx, cursor=None):
    path = f"/v1/conversations/{ctx['conv']}/messages?limit=2"
    if cursor:
        path += f"&cursor={cursor}"
    status, _, page = request(ctx["server"].port, "GET", path, None,
                              ctx["tokens"]["bob"])
    assert status == 200, page
    return [m["seq"] for m in page["messages"]], page.get("cursor")


# spec: HIST-4 HIST-2
def test_cursors_survive_a_restart(ctx):
    server, token, conv = ctx["server"], ctx["tokens"]["bob"], ctx["conv"]
    asyncio.run(send_some(server, ctx["tokens"]["alice"], conv,
                          [f"h{i}" for i in range(6)], "hist"))
    ws_first, ws_cursor = asyncio.run(history(server, token, conv))
    ws_next = asyncio.run(history(server, token, conv, ws_cursor))
    http_first, http_cursor = http_page(ctx)
    http_next = http_page(ctx, http_cursor)
    assert ws_cursor and http_cursor
    restart(ctx)
    assert asyncio.run(history(server, token, conv, ws_cursor)) == ws_next
    assert http_page(ctx, http_cursor) == http_next
    assert ws_next[0][-1] < ws_first[0], (ws_first, ws_next)
    assert http_next[0][-1] < http_first[0], (http_first, http_next)


# spec: SEC-18
def test_nul_in_bodies_survives_the_store(ctx):
    server, conv = ctx["server"], ctx["conv"]
    body = "a\x00b\x00\x00c"
    asyncio.run(send_some(server, ctx["tokens"]["alice"], conv, [body],
                          "nul"))
    restart(ctx)  # what follows is read back from the database

    async def replay():
        ws = await ready(server, ctx["tokens"]["bob"], "nul-reader")
        await ws.send(frame("SYNC", [("since", "0")]))
        bodies = []
        while True:
            verb, hdrs, got = await recv(ws)
            if verb == "SYNCED":
                break
            if verb == "MSG" and hdrs["temp-id"] == "nul0":
                assert hdrs["content-length"] == str(len(body.encode()))
                bodies.append(got)
        await ws.close()
        return bodies

    assert asyncio.run(replay()) == [body]
    status, _, page = request(server.port, "GET",
                              f"/v1/conversations/{conv}/messages?limit=100",
                              None, ctx["tokens"]["bob"])
    assert status == 200
    assert [m["body"] for m in page["messages"]
            if m["temp_id"] == "nul0"] == [body]


# spec: LIM-1
def test_stated_limits_are_the_tables(ctx):
    status, _, config = request(ctx["server"].port, "GET", "/v1/config")
    assert status == 200, config

    async def welcome():
        ws = await connect(ctx["server"])
        hdrs = await hello(ws)
        await ws.close()
        return hdrs

    hdrs = asyncio.run(welcome())
    table = {"max_frame": 65536, "max_headers": 32, "max_header_line": 1024,
             "max_body": 64512}
    for key, limit in table.items():
        assert config[key] <= limit, (key, config[key])
        assert int(hdrs[key.replace("_", "-")]) == config[key], (key, hdrs)


if __name__ == "__main__":
    run_tests([test_burst_answered_in_order,
               test_every_server_frame_is_a_text_message,
               test_cursors_survive_a_restart,
               test_nul_in_bodies_survives_the_store,
               test_stated_limits_are_the_tables],
              setup, stop_if_running)
