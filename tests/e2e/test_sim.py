#!/usr/bin/env python3
"""Tests of parley-sim, the deterministic simulator (simulator/README.md).

    test_sim.py --sim PATH --sim-faults PATH replay|sweep|planted

replay:  a seed replays to the same trace hash, with or without --trace;
         other seeds give other hashes.
sweep:   a short sweep with every fault kind on holds every invariant.
planted: parley-sim-faults with a planted server fault (acknowledging
         before the commit, no temp-id dedup) fails within a bounded seed
         range, prints the seed, and --seed replays it to the same
         failure with the same hash; the correct build passes that seed.
"""

import argparse
import re
import subprocess
import sys

SEED_LINE = re.compile(r"^seed (\d+): (ok|FAILED) hash ([0-9a-f]{16})$", re.M)
FAILED_LINE = re.compile(r"^FAILED seed (\d+): invariant ([a-z-]+): ", re.M)
FAILURE_HASH = re.compile(r"^trace hash ([0-9a-f]{16}) at the failure$",
                          re.M)
SWEEP_LINE = re.compile(r"^sweep \d+\.\.\d+: (\d+) runs, (\d+) failed;",
                        re.M)

SWEEP_SEEDS = "1..80"       # every fault kind on, 30 s of workload each
PLANTED_SEEDS = "1..50"     # where a planted fault must be caught
PLANTED = (("ack-before-commit", "ack-durable"),
           ("dedup-off", "no-duplicate"))


def run(cmd):
    """Runs cmd; returns (exit code, stdout, stderr)."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    return p.returncode, p.stdout, p.stderr


def one_seed(binary, seed, *flags):
    """Runs one seed; returns (exit code, verdict, hash, stdout+stderr)."""
    rc, out, err = run([binary, "--seed", str(seed), *flags])
    m = SEED_LINE.search(out)
    assert m, f"no result line for seed {seed}:\n{out}\n{err}"
    assert int(m.group(1)) == seed, out
    return rc, m.group(2), m.group(3), out + err


def test_replay(args):
    """Same seed, same hash (twice, and with --trace); other seeds, other
    hashes; swarm runs (the default) too."""
    hashes = {}
    for flags in (("--faults", "all"), ()):
        for seed in (7, 8, 9):
            rc, verdict, h1, _ = one_seed(args.sim, seed, *flags)
            assert rc == 0 and verdict == "ok", (seed, flags, verdict)
            _, _, h2, _ = one_seed(args.sim, seed, *flags)
            assert h1 == h2, f"seed {seed} {flags}: {h1} then {h2}"
            hashes[(seed, flags)] = h1
    _, _, traced, out = one_seed(args.sim, 8, "--faults", "all", "--trace")
    assert traced == hashes[(8, ("--faults", "all"))], "--trace changed it"
    assert out.count("\n") > 1000, "--trace printed no events"
    assert len(set(hashes.values())) == len(hashes), hashes
    print("hashes:", " ".join(f"{s}{''.join(f)}={h}"
                              for (s, f), h in sorted(hashes.items())))


# spec: DUR-1 DUR-2 SEND-3 SEND-5 DELIV-1 DELIV-4 DELIV-5 SYNC-2 RCPT-1
def test_sweep(args):
    """A short sweep, every fault kind on, holds every invariant."""
    rc, out, err = run([args.sim, "--seeds", SWEEP_SEEDS, "--faults", "all",
                        "--time", "30s"])
    m = SWEEP_LINE.search(out)
    assert m, out + err
    assert rc == 0 and m.group(2) == "0", out + err
    print(out.strip().splitlines()[-2])


def check_planted(args, fault, invariant):
    """The planted fault fails a seed of PLANTED_SEEDS with `invariant`;
    --seed replays that failure, hash and all."""
    rc, out, err = run([args.sim_faults, "--fault", fault, "--faults", "all",
                        "--seeds", PLANTED_SEEDS])
    m = FAILED_LINE.search(err)
    assert rc == 1 and m, f"{fault} was not caught:\n{out}\n{err}"
    seed, caught = int(m.group(1)), m.group(2)
    assert caught == invariant, f"{fault}: {caught}, not {invariant}"
    assert f"replay: parley-sim-faults --fault {fault} --faults all " \
           f"--seed {seed}" in err, err
    first = FAILURE_HASH.search(err).group(1)

    rc, verdict, again, text = one_seed(args.sim_faults, seed, "--fault",
                                        fault, "--faults", "all")
    m = FAILED_LINE.search(text)
    assert rc == 1 and verdict == "FAILED" and m, text
    assert m.group(2) == invariant and again == first, \
        f"{fault} seed {seed}: replay gave {m.group(2)} {again}, " \
        f"the sweep {invariant} {first}"
    rc, verdict, _, text = one_seed(args.sim, seed, "--faults", "all")
    assert rc == 0 and verdict == "ok", f"the correct core fails too:\n{text}"
    print(f"{fault}: caught at seed {seed} ({invariant}), replayed to "
          f"hash {again}")


# spec: DUR-1 SEND-1 SEND-3
def test_planted(args):
    for fault, invariant in PLANTED:
        check_planted(args, fault, invariant)


CASES = {"replay": test_replay, "sweep": test_sweep, "planted": test_planted}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", required=True)
    ap.add_argument("--sim-faults", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    args = ap.parse_args()
    try:
        CASES[args.case](args)
    except AssertionError as e:
        print(f"FAIL {args.case}: {e}", file=sys.stderr)
        return 1
    print(f"ok {args.case}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
