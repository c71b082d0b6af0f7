"""The mutation test: parley-conform must fail against every planted fault.

parley-server-faults is the reference server built with its planted
protocol faults (parley/faults.h), one switched on by `--fault NAME`. For
each fault this test starts it on 127.0.0.1 port 0, with a temporary
database and four accounts, and runs

    parley-conform ws://127.0.0.1:PORT --accounts FILE --fail-fast \
        --case GLOB...

with the cases conformance/mutants.json tags for that fault. The run must
exit 1, and the case that failed must be one of those selected. A control
run on the same server with no fault, over every selected case, must exit
0, so a failure is the fault's doing and not the cases'. The table must
name every fault the binary has, conformance/MUTANTS.md document each
and conformance/README.md list each.

A fault whose selection fails nothing is reported as NOT CAUGHT and fails
this test: the suite lacks a case for the requirement the fault breaks.
The cure is a case written from the spec, never a selection or a fault
bent to meet.

usage: test_conform_mutants.py --server-bin PATH --conform-bin PATH
                               [--mutants FILE] [--doc FILE]
                               [--jobs N] [--only NAME]... [--timeout MS]
"""

import argparse
import concurrent.futures
import fnmatch
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

from parley_e2e import HANG_S, Server, run_tests

HERE = os.path.dirname(os.path.abspath(__file__))
CONFORMANCE = os.path.join(HERE, "..", "..", "conformance")
RUN_S = 600  # guards one parley-conform run against hangs only
ACCOUNTS = ("mutant1", "mutant2", "mutant3", "mutant4")
# As parley-conform starts the reference server itself: a 200 ms
# heartbeat floor, and session and token limits far above what the
# cases reach.
SERVER_ARGS = ["--heartbeat-min-ms", "200",
               "--token-rate-address", "100000",
               "--token-rate-user", "100000",
               "--max-sessions-address", "100000",
               "--max-sessions-user", "100000"]

ARGS = None


# ---- the pieces -------------------------------------------------------------

def fault_names():
    """The faults the binary plants, from `--fault list`, in its order."""
    r = subprocess.run([ARGS.server_bin, "--fault", "list"],
                       capture_output=True, text=True, timeout=HANG_S)
    assert r.returncode == 0, r.stderr
    names = [line.split()[0] for line in r.stdout.splitlines() if line]
    assert names, "--fault list named no fault"
    return names


def load_table():
    with open(ARGS.mutants, encoding="utf-8") as f:
        return json.load(f)["faults"]


def case_ids():
    """Every server case of parley-conform, from its catalogue."""
    r = subprocess.run([ARGS.conform_bin, "--list", "--json", "-"],
                       capture_output=True, text=True, timeout=HANG_S)
    assert r.returncode == 0, r.stderr
    return [c["id"] for c in json.loads(r.stdout)["cases"]
            if c["mode"] == "server"]


def selection(globs, ids):
    """The globs that match at least one case (parley-conform refuses a
    pattern matching none), and the cases they select."""
    live = [g for g in globs if any(fnmatch.fnmatchcase(i, g) for i in ids)]
    cases = [i for i in ids if any(fnmatch.fnmatchcase(i, g) for g in live)]
    return live, cases


def make_template(workdir):
    """A database with the four accounts (adduser --password-file), and
    the accounts file parley-conform reads. Each run gets a copy of the
    database, so the Argon2id hashing of adduser happens once."""
    db = os.path.join(workdir, "template.db")
    accounts = []
    for name in ACCOUNTS:
        password = secrets.token_urlsafe(18)
        pwfile = os.path.join(workdir, f"password-{name}")
        with open(pwfile, "w", encoding="utf-8") as f:
            f.write(password + "\n")
        r = subprocess.run([ARGS.server_bin, "adduser", name,
                            "--password-file", pwfile, "--db", db],
                           capture_output=True, text=True, timeout=HANG_S)
        assert r.returncode == 0, r.stderr
        accounts.append({"user": name, "password": password})
    path = os.path.join(workdir, "accounts.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"accounts": accounts}, f)
    return db, path


def server_on_copy(ctx, label, extra=()):
    """A started parley-server-faults on a copy of the template
    database, in a directory of its own."""
    d = tempfile.mkdtemp(prefix=f"{label}-", dir=ctx["workdir"])
    base = os.path.basename(ctx["template"])
    for name in os.listdir(ctx["workdir"]):
        if name.startswith(base):  # the database and any -wal, -shm
            shutil.copy(os.path.join(ctx["workdir"], name),
                        os.path.join(d, name.replace(base, "parley.db")))
    return Server(ARGS.server_bin, d, extra=SERVER_ARGS + list(extra)).start()


def stop_checked(server):
    """Stops the server; returns why it did not stop cleanly, or None."""
    rc = server.stop()
    log = server.log()
    for bad in ("ERROR: AddressSanitizer", "runtime error",
                "ERROR: LeakSanitizer"):
        if bad in log:
            return f"{bad} in the server's log:\n{log[-4000:]}"
    if rc != 0:
        return f"the server exited {rc}:\n{log[-4000:]}"
    return None


def conform(ctx, server, globs, out):
    """Runs parley-conform against server on the cases `globs` select;
    returns (exit code, the --json report or None, output tail)."""
    cmd = [ARGS.conform_bin, f"ws://127.0.0.1:{server.port}",
           "--accounts", ctx["accounts"], "--fail-fast", "--quiet",
           "--json", out]
    if ARGS.timeout:
        cmd += ["--timeout", str(ARGS.timeout)]
    for g in globs:
        cmd += ["--case", g]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_S)
    doc = None
    try:
        with open(out, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        pass  # no report: the exit code and the output say why
    tail = f"exit {r.returncode}\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
    return r.returncode, doc, tail


def run_one(ctx, row):
    """One fault: returns a dict with its outcome."""
    name = row["name"]
    globs, cases = selection(row["cases"], ctx["ids"])
    out = {"name": name, "globs": globs, "failed": [], "seconds": 0.0}
    if not cases:
        out["outcome"] = "no case selected"
        return out
    t0 = time.monotonic()
    server = server_on_copy(ctx, name, ["--fault", name])
    try:
        rc, doc, tail = conform(ctx, server, globs,
                                os.path.join(server.workdir, "result.json"))
    finally:
        unclean = stop_checked(server)
    out["seconds"] = time.monotonic() - t0
    failed = [c for c in (doc or {}).get("cases", [])
              if c["verdict"] == "fail"]
    out["failed"] = [(c["id"], c["message"] or "") for c in failed]
    if unclean:
        out["outcome"] = "server not clean"
        out["detail"] = unclean
    elif rc == 1 and failed and all(c["id"] in cases for c in failed):
        out["outcome"] = "caught"
    elif rc == 0:
        out["outcome"] = "NOT CAUGHT"
    else:
        out["outcome"] = "bad run"
        out["detail"] = tail
    return out


def report(results, wall):
    """Prints one line per fault and the score."""
    caught = sum(1 for r in results if r["outcome"] == "caught")
    for r in results:
        by = r["failed"][0][0] if r["failed"] else "-"
        print(f"  {r['name']:32} {r['outcome']:18} {r['seconds']:6.2f}s "
              f"{by}")
        if r.get("detail"):
            print("    " + r["detail"].replace("\n", "\n    ")[:3000])
    print(f"mutation score: {caught} of {len(results)} faults caught, "
          f"wall time {wall:.1f}s")
    sys.stdout.flush()


# ---- the tests --------------------------------------------------------------

def test_table_names_every_fault(ctx):
    """mutants.json has one row per fault of `--fault list`, each with
    spec ids and case globs; MUTANTS.md has a row for each, and the
    README beside it names each."""
    names = fault_names()
    rows = [r["name"] for r in ctx["table"]]
    assert len(rows) == len(set(rows)), "a fault listed twice"
    assert sorted(rows) == sorted(names), (
        f"only in the binary: {sorted(set(names) - set(rows))}; "
        f"only in the table: {sorted(set(rows) - set(names))}")
    assert len(names) >= 15, "the issue asks for at least 15 faults"
    spec_id = re.compile(r"^[A-Z][A-Z0-9]*-[0-9]+$")
    for r in ctx["table"]:
        assert r["cases"] and r["spec"], r
        assert all(spec_id.match(s) for s in r["spec"]), r
    with open(ARGS.doc, encoding="utf-8") as f:
        doc = f.read()
    for n in names:
        assert re.search(rf"^\| `{re.escape(n)}` \|", doc, re.M), (
            f"{n} has no row in {ARGS.doc}")
    readme = os.path.join(os.path.dirname(ARGS.doc), "README.md")
    with open(readme, encoding="utf-8") as f:
        listed = f.read()
    for n in names:
        assert f"`{n}`" in listed, f"{n} is not listed in {readme}"


def test_control_passes(ctx):
    """With no fault, the same server passes every selected case."""
    globs = sorted({g for r in ctx["rows"] for g in r["cases"]})
    globs, cases = selection(globs, ctx["ids"])
    assert cases, "no case selected at all"
    server = server_on_copy(ctx, "control")
    try:
        rc, doc, tail = conform(ctx, server, globs,
                                os.path.join(server.workdir, "result.json"))
    finally:
        unclean = stop_checked(server)
    assert unclean is None, unclean
    assert rc == 0, tail
    assert doc["run"]["counts"]["ran"] == len(cases), doc["run"]["counts"]
    print(f"  control: {len(cases)} cases pass without a fault")


def test_every_fault_caught(ctx):
    """Each fault, alone, makes one of its selected cases fail."""
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(ARGS.jobs) as pool:
        results = list(pool.map(lambda r: run_one(ctx, r), ctx["rows"]))
    report(results, time.monotonic() - t0)
    missed = [r["name"] for r in results if r["outcome"] != "caught"]
    assert not missed, f"not caught: {', '.join(missed)}"


TESTS = [test_table_names_every_fault, test_control_passes,
         test_every_fault_caught]


def setup(workdir):
    table = load_table()
    rows = [r for r in table if not ARGS.only or r["name"] in ARGS.only]
    assert rows, f"--only names no fault of the table: {ARGS.only}"
    template, accounts = make_template(workdir)
    return {"workdir": workdir, "table": table, "rows": rows,
            "template": template, "accounts": accounts, "ids": case_ids()}


def teardown(ctx):
    pass


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--server-bin", required=True,
                   help="parley-server-faults")
    p.add_argument("--conform-bin", required=True)
    p.add_argument("--mutants",
                   default=os.path.join(CONFORMANCE, "mutants.json"))
    p.add_argument("--doc", default=os.path.join(CONFORMANCE, "MUTANTS.md"))
    p.add_argument("--jobs", type=int,
                   default=max(1, min(4, os.cpu_count() or 1)),
                   help="faults checked at once (default: the CPUs, at "
                        "most 4; every run hashes four passwords)")
    p.add_argument("--only", action="append", default=[],
                   help="check only this fault (repeatable)")
    # The reference server hashes passwords (Argon2id) on one thread, and
    # under ctest -j with sanitizers a token answer can take seconds; a
    # planted fault is caught by what a case sees, not by how fast.
    p.add_argument("--timeout", type=int, default=15000,
                   help="parley-conform --timeout in ms (default 15000)")
    ARGS = p.parse_args()
    run_tests(TESTS, setup, teardown)


if __name__ == "__main__":
    sys.exit(main())
