#!/usr/bin/env python3
"""Checks that the conformance suite covers the spec. Run by ctest as
`conform_trace`:

    conform_trace.py PARLEY_CONFORM [ROOT]
    conform_trace.py --write PARLEY_CONFORM [ROOT]

It asks PARLEY_CONFORM (the parley-conform binary) for its case catalogue
with `--list --json -` and fails (exit 1, one line per problem) when:
- the catalogue is malformed: a case without id, suite, title, reqs,
  level, cap, version or mode (other fields are ignored), an id given
  twice or not of the form `<suite>.<name>`, a version other than the
  spec's;
- a case names a requirement id that the spec does not have;
- a case's level is not the strongest keyword among its requirements
  (a case that checks a MUST requirement is a MUST case);
- a MUST requirement has no case and is not in the spec's list of
  requirements the suite cannot observe (section 1.5);
- that list names an id the spec does not have, a requirement that is
  not a MUST, or one that has a case after all (a stale entry);
- conformance/catalogue.json, from which spec/traceability.md shows the
  cases of each requirement, differs from the catalogue.
It prints the MUST requirements without a case either way.

With --write it writes conformance/catalogue.json from the catalogue and
checks nothing; then regenerate spec/traceability.md with
traceability.py --write. ROOT defaults to the repository holding this
script.
"""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import specdoc  # noqa: E402
import traceability  # noqa: E402

CASE_KEYS = ("id", "suite", "title", "reqs", "level", "cap", "version",
             "mode")
NAME = r"[a-z0-9]+(?:-[a-z0-9]+)*"
CASE_ID_RE = re.compile(rf"^({NAME})\.{NAME}$")
LIST_TIMEOUT_S = 60


class Problem(Exception):
    """The catalogue could not be had at all."""


def run_list(binary):
    """The parsed output of `binary --list --json -`; raises Problem."""
    try:
        done = subprocess.run([binary, "--list", "--json", "-"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=LIST_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise Problem(f"cannot run {binary}: {err}") from err
    if done.returncode != 0:
        raise Problem(f"{binary} --list --json - exited with "
                      f"{done.returncode}: "
                      f"{done.stderr.decode('utf-8', 'replace').strip()}")
    try:
        return json.loads(done.stdout.decode("utf-8"))
    except ValueError as err:
        raise Problem(f"{binary} --list --json - printed no JSON: {err}") \
            from err


def normalize(doc):
    """The catalogue as conformance/catalogue.json holds it: the spec
    version and the cases with their fields in a fixed order."""
    cases = [{k: case.get(k) for k in CASE_KEYS} for case in doc["cases"]]
    return {"spec_version": doc["spec_version"], "cases": cases}


def render(doc):
    """Text of conformance/catalogue.json: one case per line."""
    lines = [json.dumps(case, ensure_ascii=False) for case in doc["cases"]]
    return ("{\n \"spec_version\": " + json.dumps(doc["spec_version"]) +
            ",\n \"cases\": [\n  " + ",\n  ".join(lines) + "\n ]\n}\n")


def check_form(doc, problems):
    """Checks the catalogue's form; returns the well-formed cases."""
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
        problems.append("catalogue: no \"cases\" list")
        return []
    if doc.get("spec_version") != "1":
        problems.append(f"catalogue: spec_version "
                        f"{doc.get('spec_version')!r}, not \"1\"")
    good, seen = [], set()
    for k, case in enumerate(doc["cases"]):
        where = f"case {case.get('id', k) if isinstance(case, dict) else k}"
        bad = _case_form(case)
        if bad:
            problems.append(f"{where}: {bad}")
            continue
        if case["id"] in seen:
            problems.append(f"{where}: id given twice")
        seen.add(case["id"])
        good.append(case)
    return good


def _case_form(case):
    """What is wrong with one case's form, or ""."""
    if not isinstance(case, dict) or not set(CASE_KEYS) <= set(case):
        return f"needs the fields {', '.join(CASE_KEYS)}"
    m = CASE_ID_RE.match(case["id"]) if isinstance(case["id"], str) else None
    if not m or m.group(1) != case["suite"]:
        return "id is not <suite>.<name> in lower case with dashes"
    if not isinstance(case["title"], str) or not case["title"]:
        return "no title"
    if not isinstance(case["reqs"], list) or not case["reqs"] or \
            not all(isinstance(r, str) for r in case["reqs"]):
        return "reqs must be a non-empty list of requirement ids"
    if case["level"] not in specdoc.STRENGTH:
        return f"level {case['level']!r} is not MUST, SHOULD or MAY"
    if case["cap"] is not None and not isinstance(case["cap"], str):
        return "cap must be a string or null"
    if case["version"] != "1":
        return f"version {case['version']!r} is not the spec's (\"1\")"
    if case["mode"] not in ("server", "client"):
        return f"mode {case['mode']!r} is not server or client"
    return ""


def check_cases(cases, levels, problems):
    """Unknown requirement ids and levels that are not the strongest."""
    for case in cases:
        unknown = [r for r in case["reqs"] if r not in levels]
        for rid in unknown:
            problems.append(f"case {case['id']}: {rid} is not a "
                            "requirement of the spec")
        known = [levels[r] for r in case["reqs"] if r in levels]
        want = max(known, key=lambda k: specdoc.STRENGTH.get(k, 0),
                   default="")
        if known and case["level"] != want:
            problems.append(f"case {case['id']}: level {case['level']}, but "
                            f"the strongest of its requirements is {want}")


def check_coverage(reqs, cases, exempt, problems):
    """MUSTs without a case, and the section 1.5 list; returns the MUST
    requirements (in spec order) that have no case and no exemption."""
    covered = {r for case in cases for r in case["reqs"]}
    by_id = {r.id: r for r in reqs}
    for rid, _, line in exempt:
        where = f"{specdoc.SPEC_PATH}:{line}"
        if rid not in by_id:
            problems.append(f"{where}: {rid} is listed as not observable "
                            "but is not a requirement of the spec")
        elif specdoc.strongest(by_id[rid].level) != "MUST":
            problems.append(f"{where}: {rid} is listed as not observable "
                            "but is not a MUST; only a MUST needs a case")
        elif rid in covered:
            problems.append(f"{where}: {rid} is listed as not observable "
                            "but has a conformance case: a stale entry")
    listed = {rid for rid, _, _ in exempt}
    missing = [r for r in reqs if specdoc.strongest(r.level) == "MUST"
               and r.id not in covered and r.id not in listed]
    for r in missing:
        problems.append(f"{r.id} (MUST, section {r.section}) has no "
                        "conformance case")
    return missing


def check_snapshot(root, doc, problems):
    """conformance/catalogue.json against the catalogue."""
    path = os.path.join(root, traceability.CATALOGUE_PATH)
    have = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            have = f.read()
    if have != render(normalize(doc)):
        problems.append(f"{traceability.CATALOGUE_PATH} is out of date; "
                        "run: python3 tests/spec/conform_trace.py --write "
                        "PARLEY_CONFORM, then python3 tests/spec/"
                        "traceability.py --write")


def check(root, doc):
    """Every check over the catalogue `doc`; returns (problems, MUST
    requirements without a case, number of MUST requirements)."""
    text = specdoc.read_spec(root)
    reqs, _ = specdoc.requirements(text)
    levels = {r.id: specdoc.strongest(r.level) for r in reqs}
    exempt = specdoc.unobservable(text)
    problems = []
    if exempt is None:
        problems.append(f"{specdoc.SPEC_PATH}: no section titled "
                        f"\"{specdoc.UNOBSERVABLE_TITLE}\"")
        exempt = []
    before = len(problems)
    cases = check_form(doc, problems)
    form_ok = len(problems) == before
    check_cases(cases, levels, problems)
    missing = check_coverage(reqs, cases, exempt, problems)
    if form_ok:
        check_snapshot(root, doc, problems)
    musts = sum(1 for r in reqs if levels[r.id] == "MUST")
    return problems, missing, musts


def main(argv):
    if "-h" in argv or "--help" in argv:
        print(__doc__.strip())
        return 0
    write = "--write" in argv
    args = [a for a in argv if a != "--write"]
    if not args or len(args) > 2 or any(a.startswith("-") for a in args):
        print("usage: conform_trace.py [--write] PARLEY_CONFORM [ROOT]",
              file=sys.stderr)
        return 2
    root = args[1] if len(args) > 1 else traceability.default_root()
    try:
        doc = run_list(args[0])
    except Problem as err:
        print(f"conform_trace: {err}")
        return 1
    if write:
        problems = []
        if len(check_form(doc, problems)) != len(doc["cases"]) or problems:
            print("\n".join(problems))
            return 1
        with open(os.path.join(root, traceability.CATALOGUE_PATH), "w",
                  encoding="utf-8") as f:
            f.write(render(normalize(doc)))
        print(f"wrote {traceability.CATALOGUE_PATH}; now run: python3 "
              "tests/spec/traceability.py --write")
        return 0
    problems, missing, musts = check(root, doc)
    for p in problems:
        print(p)
    count = len(doc["cases"]) if isinstance(doc, dict) and \
        isinstance(doc.get("cases"), list) else 0
    print(f"conform_trace: {count} cases, {musts} MUST "
          f"requirements, {len(missing)} without a case"
          + (f" ({' '.join(r.id for r in missing)})" if missing else "")
          + f", {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
