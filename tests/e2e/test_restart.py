#!/usr/bin/env python3
"""End-to-end durability tests of parley-server: SIGKILL, then a restart
on the same database keeps every acknowledged message, the temp-id dedup
and the positions.

    test_restart.py PATH/TO/parley-server
"""

import asyncio
import os
import signal
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parley_e2e import (HANG_S, expect, frame, new_conv,  # noqa: E402
                        ready, recv, request, run_tests, server_with_users,
                        stop_if_running, tokens_of)

import websockets  # noqa: E402

PASSWORDS = {"alice": "a-secret", "bob": "b-secret"}


def setup(workdir):
    server = server_with_users(sys.argv[1], workdir, PASSWORDS).start()
    return {"server": server, "tokens": tokens_of(server, PASSWORDS)}


def new_group(ctx):
    return new_conv(ctx["server"], ctx["tokens"]["alice"], "group", ["bob"])


def all_history(ctx, conv):
    """Every message of conv over HTTP, ascending, paging with cursors."""
    out, cursor = [], None
    while True:
        query = "?limit=100" + (f"&cursor={cursor}" if cursor else "")
        status, _, page = request(
            ctx["server"].port, "GET",
            f"/v1/conversations/{conv}/messages{query}", None,
            ctx["tokens"]["bob"])
        assert status == 200, page
        out = page["messages"] + out
        if not page["more"]:
            return out
        cursor = page["cursor"]


async def send_and_collect(ws, conv, temp_ids, stop_after=None):
    """Pipelines a SEND per temp-id, then reads until every one is
    acknowledged (or stop_after ACKs came). Returns {temp_id: ACK}."""
    for t in temp_ids:
        await ws.send(frame("SEND", [("conv", conv), ("temp-id", t)],
                            f"body of {t}"))
    acks = {}
    while len(acks) < (stop_after or len(temp_ids)):
        verb, hdrs, _ = await recv(ws)
        if verb == "ACK":
            assert hdrs["temp-id"] not in acks, hdrs
            acks[hdrs["temp-id"]] = hdrs
        else:
            assert verb == "MSG", (verb, hdrs)
    return acks


def kill_and_restart(ctx):
    server = ctx["server"]
    rc = server.stop(signal.SIGKILL)
    assert rc == -signal.SIGKILL, rc
    server.start()


# spec: DUR-1 SEND-1 SEND-2 SEND-3 SYNC-2
async def test_acknowledged_messages_survive_sigkill(ctx):
    conv = new_group(ctx)
    temp_ids = [f"k{i}" for i in range(20)]
    ws = await ready(ctx["server"], ctx["tokens"]["alice"])
    acks = await send_and_collect(ws, conv, temp_ids)
    await ws.send(frame("SYNC", [("since", "0")]))
    verb, hdrs, _ = await recv(ws)
    while verb != "SYNCED":
        verb, hdrs, _ = await recv(ws)
    pos_before = hdrs["pos"]
    kill_and_restart(ctx)
    await ws.close()

    stored = all_history(ctx, conv)
    assert [m["seq"] for m in stored] == list(range(1, 21)), stored
    for m in stored:
        ack = acks[m["temp_id"]]
        assert (m["msg_id"], str(m["seq"])) == (ack["msg-id"], ack["seq"])
        assert m["body"] == f"body of {m['temp_id']}", m

    ws = await ready(ctx["server"], ctx["tokens"]["alice"])
    for t in ("k0", "k7", "k19"):  # retries after the restart
        await ws.send(frame("SEND", [("conv", conv), ("temp-id", t),
                                     ("req", t)], f"body of {t}"))
        again = await expect(ws, "ACK", req=t)
        for key in ("msg-id", "seq", "ts"):
            assert again[key] == acks[t][key], (key, again, acks[t])
    fresh = await send_and_collect(ws, conv, ["k20"])
    assert fresh["k20"]["seq"] == "21", fresh
    await ws.send(frame("SYNC", [("since", pos_before)]))
    verb, hdrs, _ = await recv(ws)
    while verb != "SYNCED":
        assert verb in ("MSG", "RECEIPT") and int(hdrs["pos"]) > int(
            pos_before), (verb, hdrs)
        verb, hdrs, _ = await recv(ws)
    await ws.close()


# spec: DUR-1 SEND-2 SEND-3
async def test_kill_in_the_middle_of_a_burst(ctx):
    """SIGKILL while SENDs are still being committed: whatever was
    acknowledged is there after the restart, the sequence has no hole, and
    retrying every temp-id gives each message exactly once."""
    conv = new_group(ctx)
    temp_ids = [f"b{i}" for i in range(200)]
    ws = await ready(ctx["server"], ctx["tokens"]["alice"])
    acks = await send_and_collect(ws, conv, temp_ids, stop_after=30)
    kill_and_restart(ctx)
    await ws.close()

    stored = all_history(ctx, conv)
    print(f"  {len(acks)} SENDs acknowledged before SIGKILL, "
          f"{len(stored)} found stored after the restart")
    seqs = [m["seq"] for m in stored]
    assert seqs == list(range(1, len(stored) + 1)), seqs
    by_temp = {m["temp_id"]: m for m in stored}
    for t, ack in acks.items():
        assert t in by_temp, f"acknowledged {t} was lost"
        assert by_temp[t]["msg_id"] == ack["msg-id"]

    ws = await ready(ctx["server"], ctx["tokens"]["alice"])
    retried = await send_and_collect(ws, conv, temp_ids)
    for t, ack in retried.items():
        if t in by_temp:
            assert ack["msg-id"] == by_temp[t]["msg_id"], (t, ack)
    final = all_history(ctx, conv)
    assert [m["seq"] for m in final] == list(range(1, 201)), len(final)
    assert sorted(m["temp_id"] for m in final) == sorted(temp_ids)
    await ws.close()


# spec: DUR-1
async def test_store_failure_is_fatal(ctx):
    """A commit that cannot happen (another process holds the database's
    write lock past the busy timeout) stops the server with exit code 1,
    and the SEND it carried is never acknowledged."""
    server = ctx["server"]
    conv = new_group(ctx)
    ws = await ready(server, ctx["tokens"]["alice"])
    lock = sqlite3.connect(server.db, timeout=HANG_S, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        await ws.send(frame("SEND", [("conv", conv), ("temp-id", "doomed")],
                            "never acknowledged"))
        try:
            while True:
                verb, hdrs, _ = await recv(ws)
                assert verb != "ACK", hdrs
        except websockets.ConnectionClosed:
            pass
        rc = await asyncio.get_running_loop().run_in_executor(
            None, server.proc.wait)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    server.proc.stdout.close()
    server.proc = None
    assert rc == 1, (rc, server.log()[-3000:])
    assert "fatal" in server.log()

    server.start()
    assert all_history(ctx, conv) == []
    ws = await ready(server, ctx["tokens"]["alice"])
    acks = await send_and_collect(ws, conv, ["doomed"])
    assert acks["doomed"]["seq"] == "1", acks
    await ws.close()


if __name__ == "__main__":
    run_tests([test_acknowledged_messages_survive_sigkill,
               test_kill_in_the_middle_of_a_burst,
               test_store_failure_is_fatal], setup, stop_if_running)
