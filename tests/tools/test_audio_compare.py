#!/usr/bin/env python3
"""Checks audio_compare on files whose answer is known.

Speech from espeak-ng, made 16 bit mono 48 kHz by sox (as the call
media test makes it), then:

- a file against itself: lag 0, correlation 1;
- against itself 123 ms later (sox pad): lag 123 ms (+-0.25 ms, two
  samples at 8 kHz), correlation above 0.99;
- against itself 250 ms earlier (the start cut off): lag -250 ms;
- against itself quieter by 12 dB plus white noise at -30 dBFS: still
  found, correlation above 0.8;
- against another sentence in another voice: correlation below 0.2;
- against silence: correlation 0, heard_rms 0;
- against itself with 60 ms and 40 ms of silence put in at 1.5 s and
  3 s (a jitter buffer that grew twice): one lag fits only part of it
  (correlation below 0.6), while 500 ms segments each find their own
  (segment correlation above 0.95, lags from 50 to 150 ms);
- with a window of 100 ms, the 123 ms delay is out of reach: low;
- bad input (stereo, 44.1 kHz, 8 bit, not a WAV, a missing file, a bad
  flag) exits 2 with a message naming the file or the flag.
Exit 77 (skipped) without espeak-ng or sox.

Usage: test_audio_compare.py --compare-bin PATH
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

SKIP_EXIT = 77


def run(argv, ok=True):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if ok:
        assert r.returncode == 0, f"{' '.join(argv)}: {r.stderr}"
    return r


def speech(workdir, name, voice, text):
    raw = os.path.join(workdir, name + "-raw.wav")
    out = os.path.join(workdir, name + ".wav")
    run(["espeak-ng", *voice, "-w", raw, text])
    run(["sox", "-D", raw, "-r", "48000", "-c", "1", "-b", "16",
         "-e", "signed-integer", out, "norm", "-3", "pad", "0", "4",
         "trim", "0", "4"])
    return out


def sox(workdir, name, *args):
    out = os.path.join(workdir, name + ".wav")
    run(["sox", "-D", *args[:-1], out, *args[-1]])
    return out


def check(results, cmp_bin, sent, heard, want, *flags):
    r = json.loads(run([cmp_bin, *flags, sent, heard]).stdout)
    ok = want(r)
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(heard)} "
          f"{' '.join(flags)}: {r}")


def bad_inputs(results, cmp_bin, workdir, good):
    cases = {
        "stereo": sox(workdir, "stereo", good, ["channels", "2"]),
        "rate": sox(workdir, "rate44", good, ["rate", "44100"]),
        "bits": sox(workdir, "bits8", good, "-b", "8", []),
    }
    text = os.path.join(workdir, "text.wav")
    with open(text, "w") as f:
        f.write("not audio\n")
    cases["not a wav"] = text
    cases["missing"] = os.path.join(workdir, "missing.wav")
    for what, path in cases.items():
        r = run([cmp_bin, good, path], ok=False)
        ok = r.returncode == 2 and os.path.basename(path) in r.stderr
        results.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {what}: exit {r.returncode}: "
              f"{r.stderr.strip()}")
    r = run([cmp_bin, "--window", "5", good, good], ok=False)
    ok = r.returncode == 2 and "--window" in r.stderr
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} bad flag: exit {r.returncode}: "
          f"{r.stderr.strip()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--compare-bin", required=True)
    args = ap.parse_args()
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"SKIP: {tool} is not installed (scripts/install-deps)")
            return SKIP_EXIT
    cmp_bin = args.compare_bin
    workdir = tempfile.mkdtemp(prefix="parley-audio-compare-")
    results = []
    try:
        a = speech(workdir, "a", [], "The quick brown fox jumps over the "
                   "lazy dog, and then it runs all the way home.")
        c = speech(workdir, "c", ["-v", "en-gb-scotland", "-p", "75"],
                   "Seven green bottles were standing on a garden wall.")
        late = sox(workdir, "late123", a, ["pad", "0.123", "0"])
        early = sox(workdir, "early250", a, ["trim", "0.25"])
        noisy = os.path.join(workdir, "noisy.wav")
        noise = sox(workdir, "noise", "-n", "-r", "48000", "-c", "1",
                    "-b", "16", ["synth", "4", "whitenoise", "vol", "0.03"])
        run(["sox", "-D", "-m", "-v", "0.25", a, noise, noisy])
        warped = sox(workdir, "warped", a,
                     ["pad", "0.05", "0.06@1.5", "0.04@3"])
        quiet = sox(workdir, "silence", "-n", "-r", "48000", "-c", "1",
                    "-b", "16", ["trim", "0", "4"])

        check(results, cmp_bin, a, a, lambda r: r["lag_ms"] == 0 and
              r["correlation"] > 0.999)
        check(results, cmp_bin, a, late, lambda r:
              abs(r["lag_ms"] - 123) <= 0.25 and r["correlation"] > 0.99)
        check(results, cmp_bin, a, early, lambda r:
              abs(r["lag_ms"] + 250) <= 0.25 and r["correlation"] > 0.9)
        check(results, cmp_bin, a, noisy, lambda r:
              abs(r["lag_ms"]) <= 0.25 and r["correlation"] > 0.8)
        check(results, cmp_bin, a, c, lambda r: r["correlation"] < 0.2)
        check(results, cmp_bin, a, quiet, lambda r:
              r["correlation"] == 0 and r["heard_rms"] == 0)
        check(results, cmp_bin, a, warped, lambda r:
              r["correlation"] < 0.6 and r["segment_correlation"] > 0.95
              and abs(r["lag_min_ms"] - 50) <= 0.25
              and abs(r["lag_max_ms"] - 150) <= 0.25,
              "--segment-ms", "500", "--segment-search-ms", "200")
        check(results, cmp_bin, c, warped, lambda r:
              r["segment_correlation"] < 0.2,
              "--segment-ms", "500", "--segment-search-ms", "200")
        check(results, cmp_bin, a, late, lambda r: r["correlation"] < 0.5,
              "--window-ms", "100")
        check(results, cmp_bin, a, late, lambda r:
              abs(r["lag_ms"] - 122.5) <= 2.5 and r["correlation"] > 0.99,
              "--mode", "envelope")
        bad_inputs(results, cmp_bin, workdir, a)
    finally:
        if all(results):
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"files kept in {workdir}")
    print(f"{sum(results)} of {len(results)} checks passed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
