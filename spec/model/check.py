#!/usr/bin/env python3
"""Checks the Promela model of the delivery rules (spec/model/parley.pml)
with spin, and says what the check found.

    check.py safety   [bounds]   exhaustive: every assertion, no deadlock
    check.py liveness [bounds]   <> DONE under weak fairness (-a -f)
    check.py planted NAME [bounds]
                                 the model with a planted fault
                                 (ack-before-commit, dedup-off, no-retry):
                                 passes only when spin finds a violation
                                 and writes a trail

Bounds: --clients N --messages N --crashes N --losses N --dups N
--reorders N --resets N. The verifier is generated (spin -a), compiled
with gcc (-DCOLLAPSE, and -DSAFETY for a safety check) and run in
--work-dir. The result line gives errors, states stored, transitions,
depth, memory and time; code of the model that the search never reached
is listed (beyond the end states of the processes), and fails the safety
check, since a bound too small to reach a rule proves nothing about it.
A planted check writes the trail, and `spin -t -p` of it, to the work
directory.

Exit status: 0 the check came out as it should, 1 it did not, 2 a tool
failed (spin, gcc, or a search that could not finish).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "parley.pml")

PLANTS = {
    "ack-before-commit": "PLANT_ACK_BEFORE_COMMIT",
    "dedup-off": "PLANT_DEDUP_OFF",
    "no-retry": "PLANT_NO_RETRY",
}

# What each planted fault is expected to break: the text of the failed
# assertion, or an acceptance cycle (liveness) for no-retry.
EXPECT = {
    "ack-before-commit": "lg[b]==a",
    "dedup-off": "isshown",
    "no-retry": "acceptance cycle",
}


def bounds_defs(a):
    """The -D definitions spin passes to its preprocessor for the bounds."""
    return ["-DNC=%d" % a.clients, "-DNM=%d" % a.messages,
            "-DMAX_CRASH=%d" % a.crashes, "-DMAX_LOSS=%d" % a.losses,
            "-DMAX_DUP=%d" % a.dups, "-DMAX_REORDER=%d" % a.reorders,
            "-DMAX_RESET=%d" % a.resets]


def run(cmd, cwd, timeout=None):
    """Runs cmd in cwd; returns (exit status, standard output and error)."""
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return p.returncode, p.stdout


def build(a, work, defs, liveness):
    """Generates and compiles the verifier in work; returns its path."""
    os.makedirs(work, exist_ok=True)
    shutil.copy(MODEL, os.path.join(work, "parley.pml"))
    for old in ("parley.pml.trail",):
        if os.path.exists(os.path.join(work, old)):
            os.remove(os.path.join(work, old))
    rc, out = run(["spin"] + defs + ["-a", "parley.pml"], work)
    if rc != 0:
        raise RuntimeError("spin -a failed:\n" + out)
    cflags = ["-O2", "-DCOLLAPSE", "-DMEMLIM=%d" % a.memlim]
    if liveness:
        cflags += ["-DNFAIR=3"]
    else:
        cflags += ["-DSAFETY", "-DNOCLAIM"]
    rc, out = run(["gcc"] + cflags + ["-o", "pan", "pan.c"], work)
    if rc != 0:
        raise RuntimeError("gcc failed:\n" + out)
    return " ".join(cflags)


def parse(out):
    """The figures of a pan run: a dict of what its report says."""
    r = {}
    pats = {
        "errors": r"errors: (\d+)",
        "states": r"(\d+) states, stored",
        "transitions": r"([\d.e+]+) transitions",
        "depth": r"depth reached (\d+)",
        "memory_mb": r"([\d.]+)\s+total actual memory usage",
        "time_s": r"pan: elapsed time ([\d.e+]+) seconds",
        "vector": r"State-vector (\d+) byte",
    }
    for k, p in pats.items():
        m = re.search(p, out)
        r[k] = m.group(1) if m else None
    r["complete"] = "Search not completed" not in out
    m = re.search(r"pan:\d+: (.*) \(at depth", out)
    r["violation"] = m.group(1) if m else None
    if "acceptance cycle" in out and not r["violation"]:
        r["violation"] = "acceptance cycle"
    r["unreached"] = unreached(out)
    return r


def unreached(out):
    """Lines of the model the search never reached, ends of processes and
    of the never claim left out."""
    lines = []
    for m in re.finditer(r"^\s+(parley\.pml:\d+), state \d+, \"(.*)\"$",
                         out, re.M):
        if m.group(2) != "-end-":
            lines.append("%s %s" % (m.group(1), m.group(2)))
    return lines


def report(kind, a, cflags, r, wall):
    print("model %s: clients %d, messages %d, crashes %d, losses %d, "
          "dups %d, reorders %d, resets %d" %
          (kind, a.clients, a.messages, a.crashes, a.losses, a.dups,
           a.reorders, a.resets))
    print("  gcc %s" % cflags)
    print("  errors %s, states stored %s, transitions %s, depth %s, "
          "state vector %s bytes" % (r["errors"], r["states"],
                                     r["transitions"], r["depth"],
                                     r["vector"]))
    print("  memory %s MB, search %s s, wall %.1f s, search %s" %
          (r["memory_mb"], r["time_s"], wall,
           "complete" if r["complete"] else "NOT complete"))
    for u in r["unreached"]:
        print("  unreached: %s" % u)


def search(a, work, pan_args):
    """Runs pan; returns (its output, wall seconds)."""
    t0 = time.monotonic()
    rc, out = run(["./pan", "-m%d" % a.depth, "-w%d" % a.hash] + pan_args,
                  work, timeout=a.timeout)
    with open(os.path.join(work, "pan.out"), "w") as f:
        f.write(out)
    return out, time.monotonic() - t0


def check_clean(kind, a, work, defs, pan_args):
    """A safety or liveness check: 0 errors over a complete search."""
    cflags = build(a, work, defs, kind == "liveness")
    out, wall = search(a, work, pan_args)
    r = parse(out)
    report(kind, a, cflags, r, wall)
    if r["errors"] is None:
        print("FAIL: pan gave no result:\n" + out[-2000:])
        return 2
    if r["errors"] != "0":
        print("FAIL: %s (trail in %s)" % (r["violation"], work))
        return 1
    if not r["complete"]:
        print("FAIL: the search did not complete (raise --memlim)")
        return 2
    if kind == "safety" and r["unreached"]:
        print("FAIL: code of the model was never reached at these bounds")
        return 1
    print("PASS")
    return 0


def trail_steps(txt):
    """The number of steps of a trail that spin -t -p printed."""
    steps = re.findall(r"^\s*(\d+):\s+proc", txt, re.M)
    return int(steps[-1]) if steps else 0


def check_planted(a, work, name):
    """A planted fault: a violation and a trail, or the check fails."""
    live = name == "no-retry"
    defs = bounds_defs(a) + ["-D" + PLANTS[name]]
    cflags = build(a, work, defs, live)
    # -i: search on for shorter trails, so the trail kept is a short one
    out, wall = search(a, work, ["-a", "-f"] if live else ["-i"])
    r = parse(out)
    report("planted " + name, a, cflags, r, wall)
    trail = os.path.join(work, "parley.pml.trail")
    if not r["errors"] or r["errors"] == "0" or not os.path.exists(trail):
        print("FAIL: no violation found, no trail: the check cannot fail")
        return 1
    print("  violation: %s" % r["violation"])
    if EXPECT[name] not in (r["violation"] or ""):
        print("FAIL: not the violation the fault should cause (%s)" %
              EXPECT[name])
        return 1
    rc, txt = run(["spin"] + defs + ["-t", "-p", "-g", "parley.pml"], work)
    path = os.path.join(work, "%s.trail.txt" % name)
    with open(path, "w") as f:
        f.write(txt)
    shutil.copy(trail, os.path.join(work, "%s.trail" % name))
    print("  trail: %s (%d steps); replayed by spin -t -p into %s" %
          (os.path.join(work, name + ".trail"), trail_steps(txt), path))
    print("PASS")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=["safety", "liveness", "planted"])
    ap.add_argument("plant", nargs="?", choices=sorted(PLANTS))
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--messages", type=int, default=3)
    ap.add_argument("--crashes", type=int, default=1)
    ap.add_argument("--losses", type=int, default=2)
    ap.add_argument("--dups", type=int, default=0)
    ap.add_argument("--reorders", type=int, default=0)
    ap.add_argument("--resets", type=int, default=0)
    ap.add_argument("--work-dir", default="model-check")
    ap.add_argument("--hash", type=int, default=24,
                    help="log2 of the hash table slots (pan -w)")
    ap.add_argument("--depth", type=int, default=100000,
                    help="the DFS stack (pan -m)")
    ap.add_argument("--memlim", type=int, default=4000,
                    help="MB pan may use (-DMEMLIM)")
    ap.add_argument("--timeout", type=int, default=3600,
                    help="seconds before the search is given up")
    a = ap.parse_args()
    if a.kind == "planted" and not a.plant:
        ap.error("planted needs a fault: " + ", ".join(sorted(PLANTS)))
    if a.clients not in (2, 3):
        ap.error("--clients is 2 or 3")
    work = os.path.abspath(a.work_dir)
    try:
        if a.kind == "planted":
            return check_planted(a, work, a.plant)
        pan_args = ["-a", "-f"] if a.kind == "liveness" else []
        return check_clean(a.kind, a, work, bounds_defs(a), pan_args)
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
        print("ERROR: %s" % e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
