#!/usr/bin/env python3
"""Writes spec/traceability.md: every requirement id of spec/parley-1.md,
in spec order, with its level, its section, the tests that check it and
the conformance cases that check it.

A test says what it checks with a tag on the line right before it:
a C comment `/* spec: ID ID */` or a Python comment `# spec: ID ID`.
The files scanned are the C and Python files under tests/. The
conformance cases are those of conformance/catalogue.json, the case
catalogue of parley-conform that conform_trace.py writes and checks.

    traceability.py [--write] [--head] [ROOT]

Without --write it compares the file with what it would write now,
prints a diff and exits 1 when they differ. With --head the spec and the
tests are read from the git commit HEAD instead of the working tree, so
uncommitted work in a shared tree does not leak into the table. ROOT
defaults to the repository holding this script.
"""

import difflib
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reqids  # noqa: E402
import specdoc  # noqa: E402

OUT_PATH = "spec/traceability.md"
CATALOGUE_PATH = "conformance/catalogue.json"
SCAN_DIR = "tests"
SCAN_EXT = (".c", ".h", ".py")
TAG_RE = re.compile(r"^\s*(?:/\*\s*spec:(?P<c>[^*]*)\*/|#\s*spec:(?P<py>.*))"
                    r"\s*$")
ID_RE = re.compile(r"^[A-Z][A-Z0-9]*-[0-9]+$")

C_TEST_RES = (
    re.compile(r"^\s*Test\s*\(\s*(\w+)\s*,\s*(\w+)"),
    re.compile(r"^\s*ParameterizedTest\s*\([^,]*,\s*(\w+)\s*,\s*(\w+)"),
    re.compile(r"^\s*Theory\s*\(\s*\(.*?\)\s*,\s*(\w+)\s*,\s*(\w+)"),
)
C_FUNC_RE = re.compile(r"^\s*(?:static\s+)?(?:[\w\*]+\s+)+\**(\w+)\s*\(")
PY_DEF_RE = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)")
PY_CLASS_RE = re.compile(r"^(\s*)class\s+(\w+)")


def default_root():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.dirname(os.path.dirname(here))


class WorkTree:
    """Reads files from the working tree under `root`."""

    def __init__(self, root):
        self.root = root

    def files(self):
        return source_files(self.root)

    def read(self, rel):
        with open(os.path.join(self.root, rel), "rb") as f:
            return f.read()

    def exists(self, rel):
        return os.path.exists(os.path.join(self.root, rel))


class GitHead:
    """Reads files as committed in HEAD of the repository at `root`."""

    def __init__(self, root):
        self.root = root

    def _git(self, *args):
        return subprocess.run(("git", "-C", self.root) + args, check=True,
                              stdout=subprocess.PIPE).stdout

    def files(self):
        names = self._git("ls-tree", "-r", "--name-only", "HEAD", "--",
                          SCAN_DIR).decode("utf-8").split("\n")
        return sorted(n for n in names
                      if n.endswith(SCAN_EXT) and "/__pycache__/" not in n)

    def read(self, rel):
        return self._git("show", f"HEAD:{rel}")

    def exists(self, rel):
        return subprocess.run(("git", "-C", self.root, "cat-file", "-e",
                               f"HEAD:{rel}"), stderr=subprocess.DEVNULL
                              ).returncode == 0


def source_files(root):
    """Relative paths of the files to scan, sorted."""
    out = []
    for base, dirs, files in os.walk(os.path.join(root, SCAN_DIR)):
        dirs[:] = sorted(d for d in dirs
                         if d != "__pycache__" and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(SCAN_EXT):
                path = os.path.join(base, name)
                out.append(os.path.relpath(path, root).replace(os.sep, "/"))
    return sorted(out)


def _python_class(lines, k, indent):
    """The class whose body holds the def at line k, or None."""
    for j in range(k - 1, -1, -1):
        stripped = lines[j].strip()
        if not stripped or stripped.startswith("#"):
            continue
        if len(lines[j]) - len(lines[j].lstrip()) < len(indent):
            m = PY_CLASS_RE.match(lines[j])
            return m.group(2) if m else None
    return None


def test_name(path, lines, k):
    """Names the test that starts after the tag at line k (0-based)."""
    j = k + 1
    while j < len(lines):
        s = lines[j].strip()
        if s and not s.startswith("@") and not TAG_RE.match(lines[j]):
            break
        j += 1
    if j >= len(lines):
        return f"line {k + 1}"
    line = lines[j]
    if path.endswith(".py"):
        m = PY_DEF_RE.match(line)
        if m:
            cls = _python_class(lines, j, m.group(1)) if m.group(1) else None
            return f"{cls}.{m.group(2)}" if cls else m.group(2)
        m = PY_CLASS_RE.match(line)
        return m.group(2) if m else f"line {k + 1}"
    for regex in C_TEST_RES:
        m = regex.match(line)
        if m:
            return f"{m.group(1)}/{m.group(2)}"
    m = C_FUNC_RE.match(line)
    return m.group(1) if m else f"line {k + 1}"


def collect_tags(src):
    """Returns {id: [(path, test name)]} from every tag under tests/."""
    tags = {}
    for path in src.files():
        lines = src.read(path).decode("utf-8", "replace").split("\n")
        for k, line in enumerate(lines):
            m = TAG_RE.match(line)
            if not m:
                continue
            ids = (m.group("c") if m.group("c") is not None
                   else m.group("py"))
            name = test_name(path, lines, k)
            for rid in re.split(r"[\s,]+", ids.strip()):
                if rid:
                    tags.setdefault(rid, []).append((path, name))
    return tags


def _cell(text):
    return text.replace("|", "\\|")


def catalogue_cases(src):
    """{requirement id: [case id]} from the case catalogue, or None when
    there is none (or it does not parse)."""
    if not src.exists(CATALOGUE_PATH):
        return None
    try:
        doc = json.loads(src.read(CATALOGUE_PATH).decode("utf-8"))
        out = {}
        for case in doc["cases"]:
            for rid in case["reqs"]:
                out.setdefault(rid, []).append(case["id"])
        return out
    except (ValueError, KeyError, TypeError):
        return None


def _case_cell(rid, level, cases, exempt):
    """The conformance column of one requirement."""
    if rid in exempt:
        return "not observable (section 1.5)"
    found = sorted(set((cases or {}).get(rid, [])))
    if found:
        return "<br>".join(f"`{c}`" for c in found)
    return "**none**" if specdoc.strongest(level) == "MUST" else "none"


def generate(root, head=False):
    """The text spec/traceability.md should hold now."""
    src = GitHead(root) if head else WorkTree(root)
    spec = src.read(specdoc.SPEC_PATH).decode("utf-8", "surrogateescape")
    reqs, _ = specdoc.requirements(spec)
    tags = collect_tags(src)
    cases = catalogue_cases(src)
    exempt = {row[0] for row in specdoc.unobservable(spec) or ()}
    known = {r.id for r in reqs}
    tested = sum(1 for r in reqs if r.id in tags)
    out = [
        "# Parley/1 requirement traceability",
        "",
        "Generated from `spec/parley-1.md`, the `spec:` tags of the tests",
        "under `tests/` and the conformance case catalogue",
        f"`{CATALOGUE_PATH}` by `python3 tests/spec/traceability.py",
        "--write`; do not edit it by hand. `spec_lint` fails when it is out",
        "of date; `conform_trace` fails when a MUST has no conformance case",
        "and section 1.5 does not list it.",
        "",
        f"{len(reqs)} requirements; {tested} checked by at least one test,"
        f" {len(reqs) - tested} not yet tested.",
        "",
        _case_summary(reqs, cases, exempt),
        "",
        "| id | level | section | tests | conformance cases |",
        "|---|---|---|---|---|",
    ]
    for r in reqs:
        found = sorted(set(tags.get(r.id, [])))
        cell = "<br>".join(f"`{p}`: {_cell(n)}" for p, n in found)
        out.append(f"| {r.id} | {r.level} | {r.section} | "
                   f"{cell or 'not yet tested'} | "
                   f"{_case_cell(r.id, r.level, cases, exempt)} |")
    unknown = sorted(rid for rid in tags if rid not in known)
    if unknown:
        out += ["", "## Tags that name no requirement", ""]
        for rid in unknown:
            for p, n in sorted(set(tags[rid])):
                bad = "" if ID_RE.match(rid) else " (not an id)"
                out.append(f"- `{_cell(rid)}`{bad}: `{p}`: {_cell(n)}")
    return "\n".join(out) + "\n"


def _case_summary(reqs, cases, exempt):
    """One sentence on the MUSTs and their conformance cases."""
    if cases is None:
        return f"No conformance case catalogue (`{CATALOGUE_PATH}`)."
    musts = [r for r in reqs if specdoc.strongest(r.level) == "MUST"]
    covered = sum(1 for r in musts if r.id in cases)
    skipped = sum(1 for r in musts if r.id in exempt and r.id not in cases)
    return (f"{len(musts)} MUST requirements: {covered} with a conformance "
            f"case, {skipped} that the suite cannot observe (section 1.5),"
            f" {len(musts) - covered - skipped} without a case.")


def stale_diff(root, head=False):
    """A unified diff from the file to what it should be; "" if none."""
    want = generate(root, head)
    path = os.path.join(root, OUT_PATH)
    have = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            have = f.read()
    if have == want:
        return ""
    return "".join(difflib.unified_diff(
        have.splitlines(True), want.splitlines(True),
        f"{OUT_PATH} (committed)", f"{OUT_PATH} (generated now)"))


def _record_ids(root, head):
    """Appends the spec's new requirement ids to spec/requirement-ids.txt
    (reqids.py), so that ids stay stable."""
    src = GitHead(root) if head else WorkTree(root)
    spec = src.read(specdoc.SPEC_PATH).decode("utf-8", "surrogateescape")
    new = reqids.record(root, spec)
    if new:
        print(f"recorded {len(new)} new ids in {reqids.IDS_PATH}: "
              f"{' '.join(new)} (commit it with the spec)")


def main(argv):
    if "-h" in argv or "--help" in argv:
        print(__doc__.strip())
        return 0
    unknown = [a for a in argv if a.startswith("-")
               and a not in ("--write", "--head")]
    if unknown:
        print(f"traceability.py: unknown option {unknown[0]}; see --help",
              file=sys.stderr)
        return 2
    args = [a for a in argv if a not in ("--write", "--head")]
    root = args[0] if args else default_root()
    if "--write" in argv:
        text = generate(root, head="--head" in argv)
        with open(os.path.join(root, OUT_PATH), "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {OUT_PATH}")
        _record_ids(root, "--head" in argv)
        return 0
    diff = stale_diff(root, "--head" in argv)
    if diff:
        sys.stdout.write(diff)
        print(f"{OUT_PATH} is out of date; run: "
              "python3 tests/spec/traceability.py --write")
        return 1
    print(f"{OUT_PATH} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
