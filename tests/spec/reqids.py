#!/usr/bin/env python3
"""Keeps spec/requirement-ids.txt, the list of every requirement id
spec/parley-1.md has ever issued, so that ids stay stable (section 1.1):
an id never disappears and is never given twice.

The file holds one id a line, in the order the ids were issued; an id
whose requirement was dropped is followed by the word `retired`. Lines
that start with `#` are comments.

    reqids.py [--write] [ROOT]

Without --write it checks the spec against the list and exits 1 when an
id is in the spec but not listed, listed but gone from the spec without
being marked retired, marked retired and in the spec again, or when
the numbers of a family skip one (an id is the next number of its
family: section 1.2). With
--write it appends the spec's new ids to the list; it never removes a
line and never retires an id: dropping a requirement means marking its
id `retired` by hand. `traceability.py --write` records new ids too.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import specdoc  # noqa: E402

IDS_PATH = "spec/requirement-ids.txt"
LINE_RE = re.compile(r"^([A-Z][A-Z0-9]*-[0-9]+)(?:\s+(retired))?\s*$")
HEADER = """\
# Every requirement id spec/parley-1.md has issued, in the order issued.
# An id whose requirement was dropped stays here, marked `retired`, and
# is never given again (spec section 1.1). spec_lint fails when an id of
# the spec is missing here, when an id here is gone from the spec without
# the mark, and when a retired id is back in the spec. New ids are
# appended by `python3 tests/spec/traceability.py --write` (or
# `reqids.py --write`); retiring one is done by hand.
"""


def read_list(root):
    """Returns ([(id, retired, line)], [(line, problem)]), or None when
    the file does not exist."""
    path = os.path.join(root, IDS_PATH)
    if not os.path.exists(path):
        return None
    entries, problems = [], []
    with open(path, encoding="utf-8") as f:
        for k, line in enumerate(f.read().split("\n"), 1):
            if not line.strip() or line.startswith("#"):
                continue
            m = LINE_RE.match(line)
            if m:
                entries.append((m.group(1), bool(m.group(2)), k))
            else:
                problems.append((k, f"malformed line {line!r}"))
    return entries, problems


def check(root, spec_ids):
    """Problems [(line, message)] of the spec's ids (in spec order)
    against the list; line is the list's line, 0 for none."""
    got = read_list(root)
    if got is None:
        return [(0, "missing; run: python3 tests/spec/reqids.py --write")]
    entries, problems = got
    seen = {}
    for rid, retired, line in entries:
        if rid in seen:
            problems.append((line, f"{rid} listed twice (first on line "
                                   f"{seen[rid]})"))
        seen.setdefault(rid, line)
    retired = {rid for rid, r, _ in entries if r}
    listed = {rid for rid, _, _ in entries}
    present = set(spec_ids)
    for rid, is_retired, line in entries:
        if is_retired and rid in present:
            problems.append((line, f"{rid} is retired but the spec gives "
                                   "it again; a new requirement takes a "
                                   "new number"))
        elif not is_retired and rid not in present and rid not in retired:
            problems.append((line, f"{rid} is gone from the spec; an id "
                                   "never disappears: mark it retired"))
    problems += _gaps(entries)
    for rid in spec_ids:
        if rid not in listed:
            problems.append((0, f"{rid} is not listed; run: python3 "
                                "tests/spec/traceability.py --write"))
    return problems


def _gaps(entries):
    """Problems of families whose numbers skip one: the number of an id
    grows by one within its family (spec section 1.2)."""
    numbers = {}
    for rid, _, line in entries:
        family, n = rid.rsplit("-", 1)
        numbers.setdefault(family, {})[int(n)] = line
    problems = []
    for family, given in numbers.items():
        for n in sorted(given):
            if n > 1 and n - 1 not in given:
                problems.append((given[n], f"{family}-{n} skips "
                                 f"{family}-{n - 1}: ids of a family are "
                                 "numbered 1, 2, 3 and on"))
    return problems


def record(root, spec_text):
    """Appends the ids of `spec_text` that the list lacks; returns them."""
    reqs, _ = specdoc.requirements(spec_text)
    got = read_list(root)
    listed = {rid for rid, _, _ in got[0]} if got else set()
    new = []
    for r in reqs:
        if r.id not in listed and r.id not in new:
            new.append(r.id)
    path = os.path.join(root, IDS_PATH)
    if got is None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(HEADER)
    if new:
        with open(path, "a", encoding="utf-8") as f:
            f.write("".join(rid + "\n" for rid in new))
    return new


def main(argv):
    args = [a for a in argv if a != "--write"]
    root = args[0] if args else os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))
    text = specdoc.read_spec(root)
    if "--write" in argv:
        new = record(root, text)
        print(f"{IDS_PATH}: {len(new)} new ids recorded")
        return 0
    reqs, _ = specdoc.requirements(text)
    problems = check(root, [r.id for r in reqs])
    for line, message in problems:
        print(f"{IDS_PATH}:{line}: {message}" if line else
              f"{IDS_PATH}: {message}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
