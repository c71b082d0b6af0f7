#!/usr/bin/env python3
"""model_replay_sim: a trail of the model, replayed against the real core.

For each planted fault that the model and the server core both have
(ack-before-commit, dedup-off): the model with the fault gives a trail
(spec/model/check.py planted), trail2scenario.py turns it into a
scenario, and parley-sim-faults with the same fault planted in the real
server core must fail that scenario with the invariant the fault breaks,
on every seed tried; parley-sim, the correct core, must pass the same
scenario on the same seeds.

    test_replay.py --sim BIN --sim-faults BIN --work-dir DIR
"""

import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CHECK = os.path.join(ROOT, "spec", "model", "check.py")
CONVERT = os.path.join(ROOT, "spec", "model", "trail2scenario.py")
CASES = {"ack-before-commit": "ack-durable", "dedup-off": "no-duplicate"}
SEEDS = (1, 2, 3)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300)
    return p.returncode, p.stdout


def scenario_of(plant, work):
    """The scenario file made from the model's trail for plant."""
    wd = os.path.join(work, plant)
    rc, out = run([sys.executable, CHECK, "planted", plant, "--work-dir", wd])
    if rc != 0:
        raise AssertionError("the model gave no trail:\n" + out)
    rc, scn = run([sys.executable, CONVERT,
                   os.path.join(wd, plant + ".trail.txt")])
    if rc != 0 or "\nat " not in scn:
        raise AssertionError("no scenario from the trail:\n" + scn)
    path = os.path.join(wd, plant + ".scn")
    with open(path, "w") as f:
        f.write(scn)
    print("%s: scenario from the trail:\n%s" % (plant, scn))
    return path


def replay(a, plant, path):
    """Both cores on the scenario; returns the problems found."""
    bad = []
    for seed in SEEDS:
        common = ["--scenario", path, "--time", "2s", "--seed", str(seed),
                  "--last", "5"]
        rc, out = run([a.sim_faults, "--fault", plant] + common)
        want = "invariant " + CASES[plant]
        print("  planted core, seed %d: exit %d, %s" %
              (seed, rc, "caught as " + CASES[plant] if want in out
               else "NOT caught"))
        if rc != 1 or want not in out:
            bad.append("%s seed %d: the planted core passed or failed "
                       "otherwise:\n%s" % (plant, seed, out))
        rc, out = run([a.sim] + common)
        print("  correct core, seed %d: exit %d" % (seed, rc))
        if rc != 0:
            bad.append("%s seed %d: the correct core failed:\n%s" %
                       (plant, seed, out))
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim", required=True)
    ap.add_argument("--sim-faults", required=True)
    ap.add_argument("--work-dir", required=True)
    a = ap.parse_args()
    os.makedirs(a.work_dir, exist_ok=True)
    bad = []
    for plant in CASES:
        bad += replay(a, plant, scenario_of(plant, a.work_dir))
    for b in bad:
        print("FAIL: " + b)
    print("FAIL" if bad else "PASS")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
