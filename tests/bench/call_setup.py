#!/usr/bin/env python3
"""Call set-up time of the reference client on loopback (a benchmark).

Starts parley-server on 127.0.0.1 (free port, fresh temporary database,
users alice and bob) and places N calls (default 20) one after the
other: bob's `parley-client answer --from alice` and alice's
`parley-client call bob`, each playing one second of speech made with
espeak-ng and sox, and writing a JSON quality report.

The set-up time of a call is the report's `setup_ms` (spec section
19.8): from the OFFER sent, or received by the side that answers it, to
the first audio frame played out (ICE, DTLS, SRTP, and the first packet
through the jitter buffer). The side that sends the offer is the one
that joins (bob, who answered the ring), so bob's figure covers the
whole path and alice's starts when the OFFER reached her. The benchmark
prints each call, then p50 and p95 (nearest rank) of each side's
figures and writes them as JSON (--json) and as a line of Markdown for
the README (--markdown).

It measures, it does not judge: it is not a ctest and asserts nothing
about time. A call that fails is reported and counted, and the run goes
on.

Usage:
  tests/bench/call_setup.py --build BUILD_DIR [--calls 20]
      [--json FILE] [--markdown FILE] [--keep]
  (or --server-bin and --client-bin instead of --build)
"""

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import test_call_media as media  # noqa: E402
import test_chat_crash as chat  # noqa: E402


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    ranked = sorted(values)
    return ranked[max(0, math.ceil(p / 100 * len(ranked)) - 1)]


def one_second_of_speech(workdir):
    full = media.make_speech(workdir, "A")
    out = os.path.join(workdir, "speech-1s.wav")
    media.run_ok(["sox", "-D", full, out, "trim", "0", "1"])
    return out


def place_calls(args, workdir):
    """Runs the calls; returns a list of {n, rc, wall_s, alice, bob}."""
    speech = one_second_of_speech(workdir)
    server, alice, bob, _ = chat.start_chat(args.server_bin,
                                            args.client_bin, workdir)
    rows = []
    try:
        for n in range(1, args.calls + 1):
            t0 = time.monotonic()
            call = media.Call(workdir, alice, bob, f"call{n:02d}").start(
                {"alice": speech, "bob": speech})
            rcs = call.wait()
            row = {"n": n, "rc": rcs,
                   "wall_s": round(time.monotonic() - t0, 3)}
            for user in ("alice", "bob"):
                try:
                    row[user] = media.quality(call.report(user), "setup_ms")
                except AssertionError:
                    row[user] = None
            rows.append(row)
            print(f"call {n:2d}: exit {rcs}, setup_ms alice "
                  f"{row['alice']}, bob {row['bob']}, wall "
                  f"{row['wall_s']:.2f} s", flush=True)
    finally:
        server.stop()
        for p in chat.STARTED:
            if p.poll() is None:
                p.kill()
                p.wait()
    return rows


def summarise(rows):
    """p50 and p95 per side over the calls that completed and state a
    set-up time."""
    ok = [r for r in rows if r["rc"] == {"alice": 0, "bob": 0}]
    out = {"calls": len(rows), "completed": len(ok), "sides": {}}
    for user in ("alice", "bob"):
        vals = [r[user] for r in ok if isinstance(r[user], (int, float))
                and r[user] >= 0]
        if vals:
            out["sides"][user] = {
                "n": len(vals), "p50_ms": round(percentile(vals, 50), 1),
                "p95_ms": round(percentile(vals, 95), 1),
                "min_ms": round(min(vals), 1),
                "max_ms": round(max(vals), 1)}
    return out


def markdown(summary):
    parts = []
    for user, role in (("bob", "from OFFER sent (callee)"),
                       ("alice", "from OFFER received (caller)")):
        s = summary["sides"].get(user)
        if s:
            parts.append(f"{role}: p50 {s['p50_ms']:.0f} ms, p95 "
                         f"{s['p95_ms']:.0f} ms")
    return (f"Call set-up on loopback (to the first audio played; "
            f"{summary['completed']} of {summary['calls']} calls "
            f"completed, {platform.machine()}, {os.cpu_count()} cores): "
            + "; ".join(parts or ["no set-up time reported"]) + ".")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", help="a build directory")
    ap.add_argument("--server-bin")
    ap.add_argument("--client-bin")
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--json", help="write the samples and summary here")
    ap.add_argument("--markdown", help="write the README line here")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if args.build:
        args.server_bin = args.server_bin or os.path.join(
            args.build, "ref-server", "parley-server")
        args.client_bin = args.client_bin or os.path.join(
            args.build, "ref-client", "parley-client")
    if not args.server_bin or not args.client_bin or args.calls < 1:
        ap.error("give --build, or --server-bin and --client-bin")

    workdir = tempfile.mkdtemp(prefix="parley-bench-call-")
    rows = place_calls(args, workdir)
    summary = summarise(rows)
    line = markdown(summary)
    print(json.dumps(summary, indent=2))
    print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "calls": rows}, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(line + "\n")
    if args.keep:
        print(f"files kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if summary["completed"] else 1


if __name__ == "__main__":
    sys.exit(main())
