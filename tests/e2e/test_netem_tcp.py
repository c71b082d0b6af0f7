#!/usr/bin/env python3
"""parley-netem's TCP path, checked at the endpoints: a client socket in
this process writes through the relay to a sink (a listening socket in
this process, read by a thread that timestamps every read).

  order      --delay 30ms --jitter 20ms: 300 chunks, each stamped with its
             number and send time, arrive whole and in order (a chunk
             never overtakes an earlier one), none earlier than delay -
             jitter after it was sent; the FIN passes after the data,
             and the answer comes back on the half-closed connection
  rate       --rate 800kbit --burst 10k: at every read, the bytes arrived
             are at most burst + rate * time since the first write
  stall      `stall 500ms` while a byte is written every 5 ms: no byte
             written after the `ok` arrives sooner than 500 ms after
             the command was sent; everything arrives, in order
  blackhole  `blackhole on` swallows what is written and keeps the
             connection open; after `blackhole off` that connection stays
             silent, a new one works
  rst        `rst` resets both peers (ECONNRESET on each side)
  reset      --reset-after 300ms: the RST comes no sooner than 300 ms
             after the connection opened
  slice      --slice 10 --slice-gap 5ms: 200 bytes take at least 19 gaps
  refused    a target nobody listens on: the peer gets an RST
  cli        bad flags named in one line, exit 2; --help, --version

Every bound on time is one the relay guarantees (it never forwards
early, never passes its bucket, never ends a stall early), so a loaded
machine can only widen the margins; waits poll conditions, HANG_S only
bounds a broken run.

Usage: test_netem_tcp.py --netem PATH [--test NAME]...
"""

import argparse
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netem_relay import Netem  # noqa: E402
import parley_e2e  # noqa: E402

HANG_S = 30
CHUNK = struct.Struct("!IQ")  # number, send time (ns, CLOCK_MONOTONIC)


class Sink:
    """A listening socket on a free port; each connection's reads are
    recorded as (monotonic ns, bytes), its end as 'eof' or the error."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []  # [{"sock", "reads", "end"}]
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            rec = {"sock": c, "reads": [], "end": None}
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self._read, args=(rec,),
                             daemon=True).start()

    def _read(self, rec):
        try:
            while True:
                data = rec["sock"].recv(65536)
                if not data:
                    rec["end"] = "eof"
                    return
                rec["reads"].append((time.monotonic_ns(), data))
        except OSError as e:
            rec["end"] = e

    def conn(self, i):
        parley_e2e.wait_for(lambda: len(self.conns) > i,
                            f"connection {i} at the sink", timeout=HANG_S)
        return self.conns[i]

    @staticmethod
    def data(rec):
        return b"".join(d for _, d in rec["reads"])

    def close(self):
        self.sock.close()
        for rec in self.conns:
            rec["sock"].close()


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=HANG_S)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def relay_to(netem, sink, *flags):
    return Netem(netem, ["--tcp", f"127.0.0.1:0=127.0.0.1:{sink.port}",
                         "--seed", "5", "--log-level", "warn", *flags])


def expect_reset(sock):
    """The next read on sock must fail with ECONNRESET."""
    try:
        data = sock.recv(100)
    except ConnectionResetError:
        return
    raise AssertionError(f"no reset: read {data!r}")


# ---- the tests -------------------------------------------------------------

def test_order(netem):
    sink = Sink()
    relay = relay_to(netem, sink, "--delay", "30ms", "--jitter", "20ms")
    c = connect(relay.ports["tcp"][0])
    n, size = 300, 500
    for i in range(n):
        c.sendall(CHUNK.pack(i, time.monotonic_ns()) +
                  bytes([i & 0xFF]) * (size - CHUNK.size))
        time.sleep(0.001)
    c.shutdown(socket.SHUT_WR)
    rec = sink.conn(0)
    parley_e2e.wait_for(lambda: rec["end"] is not None, "the FIN at the sink",
                        timeout=HANG_S)
    assert rec["end"] == "eof", rec["end"]
    data, at, t_read, early = Sink.data(rec), 0, [], []
    for t, d in rec["reads"]:
        at += len(d)
        t_read.append((at, t))
    assert len(data) == n * size, len(data)
    for i in range(n):
        num, sent = CHUNK.unpack_from(data, i * size)
        body = data[i * size + CHUNK.size:(i + 1) * size]
        assert num == i and body == bytes([i & 0xFF]) * len(body), \
            f"chunk {i} is chunk {num} or damaged"
        end = (i + 1) * size
        got = next(t for a, t in t_read if a >= end)
        if got - sent < 10_000_000:
            early.append((i, (got - sent) / 1e6))
    assert not early, f"chunks earlier than delay - jitter: {early[:5]}"
    rec["sock"].sendall(b"answer")
    rec["sock"].shutdown(socket.SHUT_WR)
    back = b""
    while True:
        d = c.recv(100)
        if not d:
            break
        back += d
    assert back == b"answer", back
    print(f"  {n} chunks in order, none early, FIN both ways")
    c.close()
    relay.stop()
    sink.close()


def test_rate(netem):
    sink = Sink()
    relay = relay_to(netem, sink, "--rate", "800kbit", "--burst", "10k")
    c = connect(relay.ports["tcp"][0])
    total, rate, burst = 200_000, 100_000.0, 10_240
    t0 = time.monotonic_ns()
    c.sendall(b"r" * total)
    rec = sink.conn(0)
    parley_e2e.wait_for(lambda: len(Sink.data(rec)) >= total,
                        "all bytes at the sink", timeout=HANG_S)
    got, closest = 0, float(burst)
    for t, d in rec["reads"]:
        got += len(d)
        allowed = burst + rate * (t - t0) / 1e9
        closest = min(closest, allowed - got)
        assert got <= allowed + 1, f"{got} bytes by {(t - t0) / 1e6:.0f} ms"
    took = (rec["reads"][-1][0] - t0) / 1e9
    print(f"  {total} bytes in {took:.2f} s ({total / took:.0f} B/s, "
          f"configured {rate:.0f}); closest to the bucket's bound: "
          f"{closest:.0f} B under")
    c.close()
    relay.stop()
    sink.close()


def test_stall(netem):
    """A byte written after the `ok` of `stall 500ms` (so after the stall
    began) cannot arrive before 500 ms after the command was sent (so
    after the stall could have ended). Read times are taken after recv
    returns, never before the bytes arrived, so a slow reader cannot
    fail this check."""
    sink = Sink()
    relay = relay_to(netem, sink)
    c = connect(relay.ports["tcp"][0])
    rec = sink.conn(0)
    stop, sent = threading.Event(), []

    def tick():
        while not stop.is_set():
            sent.append(time.monotonic_ns())
            c.sendall(bytes([(len(sent) - 1) & 0xFF]))
            time.sleep(0.005)

    writer = threading.Thread(target=tick)
    writer.start()
    parley_e2e.wait_for(lambda: len(rec["reads"]) >= 5, "bytes flowing",
                        timeout=HANG_S)
    t_cmd = time.monotonic_ns()
    relay.command("stall 500ms")
    t_ok = time.monotonic_ns()
    parley_e2e.wait_for(
        lambda: rec["reads"] and rec["reads"][-1][0] > t_cmd + 600_000_000,
        "bytes after the stall", timeout=HANG_S)
    stop.set()
    writer.join()
    parley_e2e.wait_for(lambda: len(Sink.data(rec)) >= len(sent),
                        "every byte", timeout=HANG_S)
    data = Sink.data(rec)
    assert all(b == i & 0xFF for i, b in enumerate(data)), "order broken"
    at, first = 0, None  # the first read holding a byte sent after ok
    for t, d in rec["reads"]:
        if any(sent[i] > t_ok for i in range(at, at + len(d))):
            first = t
            break
        at += len(d)
    assert first is not None, "no byte was written during the stall"
    held = (first - t_cmd) / 1e6
    assert held >= 500, f"a byte written in the stall arrived at {held} ms"
    print(f"  the first byte written in the stall arrived {held:.0f} ms "
          f"after the command (>= 500); {len(data)} bytes in order")
    c.close()
    relay.stop()
    sink.close()


def test_blackhole(netem):
    sink = Sink()
    relay = relay_to(netem, sink)
    a = connect(relay.ports["tcp"][0])
    a.sendall(b"before")
    rec_a = sink.conn(0)
    parley_e2e.wait_for(lambda: Sink.data(rec_a) == b"before", "before")
    relay.command("blackhole on")
    a.sendall(b"swallowed")
    parley_e2e.wait_for(lambda: relay.stats()["tcp0.up.bytes-dropped"] >= 9,
                        "the relay to swallow 9 bytes")
    relay.command("blackhole off")
    a.sendall(b"still silent")
    b = connect(relay.ports["tcp"][0])
    b.sendall(b"new")
    rec_b = sink.conn(1)
    parley_e2e.wait_for(lambda: Sink.data(rec_b) == b"new", "a new one")
    assert Sink.data(rec_a) == b"before", Sink.data(rec_a)
    assert rec_a["end"] is None, f"the sink's side ended: {rec_a['end']}"
    a.setblocking(False)
    try:
        a.recv(10)
        raise AssertionError("the peer's side ended or got data")
    except BlockingIOError:
        pass
    print("  swallowed, kept open, silent after; a new connection works")
    for s in (a, b):
        s.close()
    relay.stop()
    sink.close()


def test_rst(netem):
    sink = Sink()
    relay = relay_to(netem, sink)
    c = connect(relay.ports["tcp"][0])
    c.sendall(b"x")
    rec = sink.conn(0)
    parley_e2e.wait_for(lambda: rec["reads"], "a byte at the sink")
    assert relay.command("rst") == ["reset 1"]
    expect_reset(c)
    parley_e2e.wait_for(lambda: rec["end"] is not None, "the sink's end")
    assert isinstance(rec["end"], ConnectionResetError), rec["end"]
    print("  both peers got ECONNRESET")
    c.close()
    relay.stop()
    sink.close()


def test_reset_after(netem):
    sink = Sink()
    relay = relay_to(netem, sink, "--reset-after", "300ms")
    t0 = time.monotonic_ns()
    c = connect(relay.ports["tcp"][0])
    expect_reset(c)
    took = (time.monotonic_ns() - t0) / 1e6
    assert took >= 300, f"reset after {took:.0f} ms"
    print(f"  reset {took:.0f} ms after connecting (configured 300)")
    c.close()
    relay.stop()
    sink.close()


def test_slice(netem):
    sink = Sink()
    relay = relay_to(netem, sink, "--slice", "10", "--slice-gap", "5ms")
    c = connect(relay.ports["tcp"][0])
    payload = bytes(range(200))
    t0 = time.monotonic_ns()
    c.sendall(payload)
    rec = sink.conn(0)
    parley_e2e.wait_for(lambda: len(Sink.data(rec)) >= 200, "200 bytes")
    assert Sink.data(rec) == payload
    span = (rec["reads"][-1][0] - t0) / 1e6
    assert span >= 19 * 5, f"200 bytes in {span:.1f} ms"
    print(f"  200 bytes in {len(rec['reads'])} reads, the last {span:.0f} "
          f"ms after the write (at least 95)")
    c.close()
    relay.stop()
    sink.close()


def test_refused(netem):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    relay = Netem(netem, ["--tcp", f"127.0.0.1:0=127.0.0.1:{port}",
                          "--log-level", "error"])
    try:  # the RST may come before connect() has returned
        c = connect(relay.ports["tcp"][0])
        expect_reset(c)
        c.close()
    except ConnectionResetError:
        pass
    assert relay.stats()["tcp0.connect-failed"] == 1
    print("  the peer got an RST")
    relay.stop()


def test_cli(netem):
    """Bad flags are named in one line and exit 2; --help and --version
    exit 0; nothing listens off loopback without being told to."""
    cases = [
        (["--udp", "127.0.0.1:0=127.0.0.1:9", "--delay", "50"], "--delay",
         "not a duration with a unit"),
        (["--udp", "127.0.0.1:0=127.0.0.1:9", "--loss", "5"], "--loss",
         "percentage"),
        (["--tcp", "127.0.0.1:0=127.0.0.1:9", "--rate", "100"], "--rate",
         "rate with a unit"),
        (["--tcp", "127.0.0.1:0"], "--tcp", "LISTEN=TARGET"),
        (["--tcp", "127.0.0.1:0=localhost:9"], "--tcp", "numeric"),
        (["--tcp", "127.0.0.1:0=127.0.0.1:9", "--frobnicate", "1"],
         "--frobnicate", "unknown flag"),
        (["--tcp", "127.0.0.1:0=127.0.0.1:9", "--loss"], "--loss",
         "needs a value"),
        (["--delay", "5ms"], "--udp/--tcp", "at least one relay"),
        (["--tcp", "10.1.2.3:0=127.0.0.1:9"], "--tcp", "--allow-nonlocal"),
        (["--tcp", "127.0.0.1:0=127.0.0.1:9", "--control", "10.1.2.3:0"],
         "--control", "loopback only"),
        (["--tcp", "127.0.0.1:0=127.0.0.1:9", "--dir", "sideways"], "--dir",
         "up, down or both"),
        (["--tcp", "127.0.0.1:0=127.0.0.1:9", "--dir", "up",
          "--partition", "1s:1s"], "--partition", "both directions"),
    ]
    for argv, flag, why in cases:
        r = subprocess.run([netem, *argv], capture_output=True, text=True,
                           timeout=HANG_S)
        first = r.stderr.splitlines()[0] if r.stderr else ""
        assert r.returncode == 2, f"{argv}: exit {r.returncode} {r.stderr}"
        assert first.startswith(f"parley-netem: {flag}: ") and why in first, \
            f"{argv}: {r.stderr!r}"
    for argv, want in ((["--help"], "--loss-gemodel"),
                       (["--version"], "parley-netem ")):
        r = subprocess.run([netem, *argv], capture_output=True, text=True,
                           timeout=HANG_S)
        assert r.returncode == 0 and want in r.stdout, (argv, r)
    print(f"  {len(cases)} bad command lines named and refused with 2")


TESTS = {
    "order": test_order,
    "rate": test_rate,
    "stall": test_stall,
    "blackhole": test_blackhole,
    "rst": test_rst,
    "reset": test_reset_after,
    "slice": test_slice,
    "refused": test_refused,
    "cli": test_cli,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--netem", required=True)
    ap.add_argument("--test", action="append", choices=sorted(TESTS))
    args = ap.parse_args()
    failed = 0
    for name in args.test or list(TESTS):
        t0 = time.monotonic()
        try:
            TESTS[name](args.netem)
            print(f"PASS {name} ({time.monotonic() - t0:.2f}s)")
        except Exception:  # noqa: BLE001 - report every failure
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
