"""Line coverage of the generated Ragel parsers by the differential test.

    coverage.py BUILD-DIR [--count N] [--seed S]

For each grammar: clears the driver's gcov counters, runs difftest.py
with N inputs, and prints what gcov says of the parser's translation
unit: the lines of the generated .c (the state machine) and the lines
Ragel maps back to the .rl files (actions and host code). Needs a GCC
build (the driver is instrumented there) and NODE_PATH set as for the
tests.
"""

import argparse
import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
UNIT = {"frame": "frame_parser.c", "sdp": "sdp.c",
        "candidate": "candidate.c"}


def gcov_lines(objdir, unit):
    """[(file, percent, lines)] of gcov's report on one unit."""
    res = subprocess.run(["gcov", "-n", "-o", objdir, unit + ".gcda"],
                         cwd=objdir, capture_output=True, text=True,
                         check=True)
    out, name = [], None
    for line in res.stdout.splitlines():
        m = re.match(r"File '(.*)'", line)
        if m:
            name = os.path.basename(m.group(1))
            continue
        m = re.match(r"Lines executed:([\d.]+)% of (\d+)", line)
        if m:
            out.append((name or "total", float(m.group(1)),
                        int(m.group(2))))
            name = None
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    here = os.path.join(os.path.abspath(args.build), "tests", "abnf")
    objdir = os.path.join(here, "CMakeFiles", "parley-abnf-driver.dir")
    driver = os.path.join(here, "parley-abnf-driver")
    for grammar, unit in UNIT.items():
        for f in glob.glob(os.path.join(objdir, "*.gcda")):
            os.remove(f)
        subprocess.run([sys.executable, os.path.join(HERE, "difftest.py"),
                        "--grammar", grammar, "--count", str(args.count),
                        "--seed", str(args.seed), "--driver", driver],
                       check=False, stdout=subprocess.DEVNULL)
        for name, pct, lines in gcov_lines(objdir, unit):
            print(f"{grammar}: {name}: {pct:.1f}% of {lines} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
