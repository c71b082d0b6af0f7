#!/usr/bin/env python3
"""End-to-end tests of parley-conform's client mode: the reference client
passes every client case through its test-driver interface (spec section
18), and a client that breaks the spec makes the run fail.

    test_conform_client.py --test NAME --conform-bin PATH --client-bin PATH

The broken client is dup_client.py: the reference client with each
`message` event written twice, which is what a client that shows each
message twice reports. Waits are bounded only to catch a hang; no timing
decides a test.
"""

import argparse
import json
import os
import subprocess
import sys

from parley_e2e import run_tests

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_S = 600  # guards a whole run against hangs; never a pass condition
ARGS = None


def conform_client(ctx, command, *args):
    """Runs parley-conform --client --exec COMMAND and returns the
    CompletedProcess and the parsed JSON report."""
    report = os.path.join(ctx["workdir"], "client.json")
    r = subprocess.run([ARGS.conform_bin, "--client", "--exec", command,
                        "--json", report, *args], capture_output=True,
                       text=True, timeout=RUN_S)
    with open(report, encoding="utf-8") as f:
        return r, json.load(f)


def where(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout[-6000:]}\n" \
           f"stderr:\n{r.stderr[-6000:]}"


def verdicts(doc):
    return {c["id"]: c for c in doc["cases"]}


# spec: DRV-1 DRV-2 DRV-3 DRV-4 DRV-5 DRV-6 DRV-7 DRV-8 DRV-9 DRV-10
# spec: DRV-11 DRV-12 DRV-13 DRV-15 LIFE-1 WS-6 SEC-4 CLI-1 VER-3 DELIV-4
# spec: DELIV-5 DELIV-7 DELIV-8 SEND-5 SEND-8 SEND-10 FRAME-3 RATE-2 RATE-4
# spec: CLI-2 HB-2 HB-5 HB-6 CLI-3 CLI-4 CLI-5 CLI-6 ERR-3 ERR-5 WS-9
# spec: FRAME-8 FRAME-9 EXT-1 EXT-4 EXT-5 LIFE-6 SEC-18 TYPE-1 PRES-2
# spec: RCPT-4
def test_reference_client_passes(ctx):
    """Every client case, SHOULD cases included (--strict), passes."""
    command = f"'{ARGS.client_bin}' driver"
    r, doc = conform_client(ctx, command, "--strict")
    bad = {i: c["message"] for i, c in verdicts(doc).items()
           if c["verdict"] != "pass"}
    assert r.returncode == 0 and not bad, f"{bad}\n{where(r)}"
    assert len(doc["cases"]) >= 30, f"only {len(doc['cases'])} cases"
    assert all(c["id"].startswith("client.") for c in doc["cases"])


# spec: DELIV-4 DRV-11
def test_duplicating_client_fails(ctx):
    """A client that shows each message twice fails the run (exit 1),
    and the case that checks DELIV-4 says so."""
    command = f"'{sys.executable}' '{os.path.join(HERE, 'dup_client.py')}'" \
              f" '{ARGS.client_bin}' driver"
    r, doc = conform_client(ctx, command)
    cases = verdicts(doc)
    dedup = cases["client.shows-each-message-once"]
    assert r.returncode == 1, where(r)
    assert dedup["verdict"] == "fail", dedup
    assert "DELIV-4" in dedup["message"], dedup
    assert cases["client.driver-interface"]["verdict"] == "pass", \
        cases["client.driver-interface"]


TESTS = {
    "reference": [test_reference_client_passes],
    "duplicates": [test_duplicating_client_fails],
}


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--test", required=True, choices=sorted(TESTS))
    p.add_argument("--conform-bin", required=True)
    p.add_argument("--client-bin", required=True)
    ARGS = p.parse_args()
    run_tests(TESTS[ARGS.test], lambda workdir: {"workdir": workdir},
              lambda ctx: None)


if __name__ == "__main__":
    sys.exit(main())
