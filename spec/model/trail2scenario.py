#!/usr/bin/env python3
"""Turns a spin trail of the model of the delivery rules into a scenario
for the simulator (parley-sim --scenario, simulator/sim_scenario.c).

    trail2scenario.py TRAIL.txt [--gap-ms N] > NAME.scn

TRAIL.txt is what `spin -t -p` printed for a trail of parley.pml (check.py
planted writes it as NAME.trail.txt). Each step of the trail that the
simulator can make happen becomes a step of the scenario, in the same
order, N milliseconds apart (2 by default: long enough for a frame to
cross the simulator's 1 ms network, short enough to strike before the
answer to it):

    model (trail)                          scenario
    a client writes a message              at T send DEV
    DEV's connection resets (after a lost  at T reset DEV
    frame, or as a fault of its own)
    the server crashes                     at T crash before-commit, when
                                           writes were pending, else now

What the model does by itself, the real cores do by themselves too:
connecting, SYNC from the stored position, resending the outbox, the
server's commits, ACKs and fanout. A duplicated or overtaking frame has
no step of its own (the simulator's faults make them only by chance); it
is written as a comment. The model's client c is device c of the
scenario's world (u0-d0, u1-d0).

Exit status: 0, or 1 when the file holds no trail of the model.
"""

import argparse
import re
import sys

STEP_RE = re.compile(r"^\s*(\d+):\s+proc\s+(\d+)\s+\((\w+):\d+\)\s+"
                     r"\S+:\d+\s+\(state \d+\)\s+\[(.*)\]\s*$")
LOSS_RE = re.compile(r"nloss<\d+\)&&nempty\((c2s|s2c)\[(\d+)\]\)")
DUP_RE = re.compile(r"ndup<\d+\).*\((c2s|s2c)\[(\d+)\]")
REORDER_RE = re.compile(r"nreorder<\d+\).*\((c2s|s2c)\[(\d+)\]\)")
BROKEN_RE = re.compile(r"^\(broken\[(\d+)\]\)$")
RESET_RE = re.compile(r"nreset<\d+\)&&up\[(\d+)\]")
FIRST_CLIENT_PID = 3  # Server 0, Network 1, init 2, then Client(0), ...


def steps(lines):
    """The steps of the trail: (step number, pid, process, statement)."""
    for line in lines:
        m = STEP_RE.match(line)
        if m:
            yield int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)


def convert(lines):
    """The scenario steps (what, argument) and comments, in trail order."""
    out, pending, seen = [], 0, set()
    for no, pid, proc, stmt in steps(lines):
        key = (no, proc)
        if proc == "Server" and stmt == "npend = (npend+1)":
            pending += 1
        elif proc == "Server" and stmt == "npend = (npend-1)":
            pending -= 1
        elif proc == "Client" and stmt.startswith("composed[c] = "):
            out.append(("send", str(pid - FIRST_CLIENT_PID), no))
        elif proc == "Network" and key not in seen:
            step = network_step(stmt, pending)
            if step:
                seen.add(key)
                out.append(step + (no,))
                if step[0] == "crash":
                    pending = 0
    return out


def network_step(stmt, pending):
    """The scenario step of a fault's guard, or None."""
    m = LOSS_RE.search(stmt)
    if m:
        return ("# a frame on %s[%s] lost; its connection resets when the "
                "model closes it" % m.groups(), "")
    m = BROKEN_RE.match(stmt)
    if m:
        return ("reset", m.group(1))
    m = RESET_RE.search(stmt)
    if m:
        return ("reset", m.group(1))
    if "ncrash<" in stmt:
        return ("crash", "before-commit" if pending else "now")
    m = DUP_RE.search(stmt)
    if m:
        return ("# not replayed: a frame on %s[%s] twice" % m.groups(), "")
    m = REORDER_RE.search(stmt)
    if m:
        return ("# not replayed: a frame on %s[%s] overtaken" % m.groups(),
                "")
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trail", help="spin -t -p output of a parley.pml trail")
    ap.add_argument("--gap-ms", type=int, default=2)
    a = ap.parse_args()
    with open(a.trail, encoding="utf-8", errors="replace") as f:
        lines = f.readlines()
    out = convert(lines)
    if not any(True for _ in steps(lines)):
        print("trail2scenario: no trail of parley.pml in %s" % a.trail,
              file=sys.stderr)
        return 1
    violated = [ln.strip() for ln in lines if "text of failed" in ln
                or "acceptance cycle" in ln]
    print("# scenario from a spin trail of spec/model/parley.pml")
    if violated:
        print("# the model found: %s" % violated[0])
    t = 0
    for what, arg, no in out:
        if what.startswith("#"):
            print("%s (trail step %d)" % (what, no))
            continue
        print("at %d %s %s" % (t, what, arg))
        t += a.gap_ms
    return 0


if __name__ == "__main__":
    sys.exit(main())
