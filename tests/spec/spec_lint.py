#!/usr/bin/env python3
"""Checks spec/parley-1.md. Run by ctest as `spec_lint`:

    spec_lint.py [--sdp-check PATH] ROOT

PATH is the spec_sdp_check program the build makes (without it the SDP
bodies and candidates of the examples are not checked, and the last line
says so). It fails (exit 1, one line per problem) when:
- a requirement keyword in upper case (MUST, SHOULD, REQUIRED, SHALL and
  their NOT forms, RECOMMENDED) stands outside an `[ID-N: ...]` bracket,
  except in the boilerplate of section 1.1; code blocks and code spans
  are not prose and are skipped;
- a requirement id is given twice, a bracket never closes, or a bracket
  holds no keyword;
- the error registry of section 13 differs from PARLEY_ERROR_MAP in
  include/parley/error.h (code, reason, fatal, in order);
- a worked example of section 15 is malformed: its info string, a
  missing or extra JSON block, JSON that does not parse, a content-length
  that is not the body's octet count, or a frame that does not decode to
  what its JSON block says (parley_frame.py is the reference decoder);
- a verb of section 10 has no valid example, or one of the eight required
  kinds of invalid example is missing;
- spec/traceability.md is not what traceability.py would write now;
- a requirement id is not stable: an id of the spec is missing from
  spec/requirement-ids.txt, an id listed there is gone from the spec
  without being marked retired, a retired id is given again, or the
  numbers of a family skip one (reqids.py);
- a cross reference does not resolve: a section number, a requirement
  id, a markdown link or anchor, a repository path in a code span, an
  RFC missing from the references (lint_refs.py);
- an example elsewhere in the spec does not parse: a code block of an
  unknown kind, a test-driver transcript line, a JSON code span, an SDP
  body or a candidate of an example frame (lint_examples.py);
- the HTTP-only errors of section 12.1 and the registry's HTTP statuses
  differ from what ref-server/http_api.c answers (lint_http.py).
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lint_examples  # noqa: E402
import lint_http  # noqa: E402
import lint_refs  # noqa: E402
import parley_frame  # noqa: E402
import reqids  # noqa: E402
import specdoc  # noqa: E402
import traceability  # noqa: E402

ERROR_H = "include/parley/error.h"
X_ENTRY_RE = re.compile(r'X\(\s*(\w+)\s*,\s*(\d+)\s*,\s*"([^"]*)"\s*,\s*'
                        r'(true|false)\s*,')
FRAME_INFO_RE = re.compile(r"^parley-frame example=([a-z0-9][a-z0-9-]*)"
                           r"( invalid)?$")
JSON_INFO_RE = re.compile(r"^json example=([a-z0-9][a-z0-9-]*)$")
REQUIRED_INVALID = ("bad-start-line", "bad-header-name", "bad-header-value",
                    "bad-utf8", "bad-length", "duplicate-header",
                    "length-required", "truncated-frame")


class Report:
    """Collects problems as `path:line: message`."""

    def __init__(self):
        self.problems = []

    def add(self, line, message, path=specdoc.SPEC_PATH):
        where = f"{path}:{line}" if line else path
        self.problems.append(f"{where}: {message}")


def check_keywords(text, reqs, report):
    """Keywords outside brackets (section 1.1 exempt), empty brackets."""
    clean = specdoc.prose(text)
    covered = [(r.start, r.end) for r in reqs]
    exempt = specdoc.section_span(text, "1.1") or (0, 0)
    for m in specdoc.KEYWORD_RE.finditer(clean):
        at = m.start()
        if exempt[0] <= at < exempt[1]:
            continue
        if any(s <= at < e for s, e in covered):
            continue
        report.add(specdoc.line_of(text, at),
                   f'"{m.group(1)}" outside a requirement bracket')
    for r in reqs:
        if not r.level:
            report.add(r.line, f"{r.id} holds no requirement keyword")


def check_ids(reqs, problems, report):
    """Duplicate ids and unclosed brackets."""
    for line, message in problems:
        report.add(line, message)
    first = {}
    for r in reqs:
        if r.id in first:
            report.add(r.line, f"{r.id} given twice (first on line "
                               f"{first[r.id]})")
        else:
            first[r.id] = r.line


def header_registry(root):
    """Entries (code, reason, fatal) of PARLEY_ERROR_MAP."""
    with open(os.path.join(root, ERROR_H), encoding="utf-8") as f:
        text = f.read()
    start = text.find("#define PARLEY_ERROR_MAP")
    end = text.find("\n\n", start)
    block = text[start:end]
    return [(int(code), reason, fatal == "true")
            for _, code, reason, fatal in X_ENTRY_RE.findall(block)]


def check_registry(root, text, report):
    """Section 13 against include/parley/error.h."""
    spec = [(c, r, f) for c, r, f, _ in specdoc.registry_rows(text)]
    header = header_registry(root)
    if not spec:
        report.add(0, "no error registry table found in section 13")
    if not header:
        report.add(0, "no PARLEY_ERROR_MAP entries found", ERROR_H)
    if spec == header:
        return len(spec)
    spec_set, header_set = set(spec), set(header)
    for row in spec:
        if row not in header_set:
            report.add(0, f"registry row {row} is not in {ERROR_H}")
    for row in header:
        if row not in spec_set:
            report.add(0, f"{ERROR_H} entry {row} is not in section 13")
    if spec_set == header_set:
        report.add(0, f"registry order differs from {ERROR_H}")
    return len(spec)


def _pair_blocks(text, report):
    """Returns [(name, invalid, frame Fence, json Fence)]."""
    pairs, names = [], set()
    blocks = specdoc.fences(text)
    for k, block in enumerate(blocks):
        info = block.info
        if info.startswith("json example"):
            prev = blocks[k - 1] if k else None
            if not (prev and prev.info.startswith("parley-frame")):
                report.add(block.start, "json example without a frame")
            continue
        if not info.startswith("parley-frame"):
            continue
        m = FRAME_INFO_RE.match(info)
        if not m:
            report.add(block.start, f"malformed info string: {info!r}")
            continue
        name, invalid = m.group(1), bool(m.group(2))
        if name in names:
            report.add(block.start, f"example {name} given twice")
        names.add(name)
        nxt = blocks[k + 1] if k + 1 < len(blocks) else None
        jm = JSON_INFO_RE.match(nxt.info) if nxt else None
        if not jm or jm.group(1) != name or nxt.start != block.end + 1:
            report.add(block.start, f"example {name}: no `json "
                                    f"example={name}` block right after it")
            continue
        pairs.append((name, invalid, block, nxt))
    return pairs


def _body_length(lines):
    """The body octets of an example and its content-length, or None."""
    wire = parley_frame.example_wire(lines)
    head, _, body = wire.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        if line.startswith(b"content-length: "):
            return len(body), line[len(b"content-length: "):].decode(
                "utf-8", "replace")
    return len(body), None


def _decode(lines):
    try:
        return parley_frame.decode_message(parley_frame.example_wire(lines))
    except parley_frame.FrameError as err:
        return {"error": err.reason}


def check_example(name, invalid, frame, js, reasons, report):
    """One example; returns the decoded frame or None."""
    try:
        want = json.loads("\n".join(js.lines))
    except ValueError as err:
        report.add(js.start, f"example {name}: bad JSON: {err}")
        return None
    got = _decode(frame.lines)
    if invalid:
        if set(want) != {"error"} or want["error"] not in reasons:
            report.add(js.start, f"example {name}: JSON must be "
                                 '{"error": "<registry reason>"}')
        elif got != want:
            report.add(frame.start, f"example {name}: decodes to {got}, "
                                    f"not {want}")
        return None
    octets, stated = _body_length(frame.lines)
    if stated is not None and stated != str(octets):
        report.add(frame.start, f"example {name}: content-length {stated}"
                                f" but the body has {octets} octets")
    elif set(want) != {"verb", "headers", "body"}:
        report.add(js.start, f"example {name}: JSON needs exactly verb, "
                             "headers and body")
    elif got != want:
        report.add(frame.start, f"example {name}: decodes to {got}, "
                                f"not {want}")
    return got if got == want else None


def check_examples(text, report):
    """Section 15's examples; returns (valid count, invalid count)."""
    reasons = {r for _, r, _, _ in specdoc.registry_rows(text)}
    verbs, kinds, valid, bad = set(), set(), 0, 0
    for name, invalid, frame, js in _pair_blocks(text, report):
        got = check_example(name, invalid, frame, js, reasons, report)
        if invalid:
            bad += 1
            kinds.add(_decode(frame.lines).get("error"))
        else:
            valid += 1
            if got:
                verbs.add(got["verb"])
    for verb in specdoc.verbs_table(text):
        if verb not in verbs:
            report.add(0, f"verb {verb} has no valid example in section 15")
    for kind in REQUIRED_INVALID:
        if kind not in kinds:
            report.add(0, f"no invalid example gets {kind}")
    return valid, bad


def check_traceability(root, report):
    diff = traceability.stale_diff(root)
    if diff:
        sys.stdout.write(diff)
        report.add(0, "out of date; run: python3 tests/spec/"
                      "traceability.py --write", traceability.OUT_PATH)


def check_stable_ids(root, reqs, report):
    """The spec's ids against spec/requirement-ids.txt."""
    for line, message in reqids.check(root, [r.id for r in reqs]):
        report.add(line, message, reqids.IDS_PATH)


def parse_args(argv):
    """(root, sdp checker or None)."""
    checker, rest = None, []
    k = 0
    while k < len(argv):
        if argv[k] == "--sdp-check" and k + 1 < len(argv):
            checker = argv[k + 1]
            k += 2
            continue
        rest.append(argv[k])
        k += 1
    return (rest[0] if rest else traceability.default_root()), checker


def main(argv):
    root, checker = parse_args(argv)
    report = Report()
    text = specdoc.read_spec(root)
    reqs, problems = specdoc.requirements(text)
    check_ids(reqs, problems, report)
    check_stable_ids(root, reqs, report)
    check_keywords(text, reqs, report)
    codes = check_registry(root, text, report)
    with open(os.path.join(root, ERROR_H), encoding="utf-8") as f:
        http = lint_http.check_http_errors(root, text, f.read(), report)
    valid, bad = check_examples(text, report)
    more = lint_examples.check_all(text, checker, report)
    lint_refs.check_references(root, text, reqs, report)
    check_traceability(root, report)
    for p in report.problems:
        print(p)
    print(f"spec_lint: {len(reqs)} requirements, {valid} valid and {bad} "
          f"invalid examples, {more}, {codes} registry codes, {http} "
          f"HTTP-only errors, {len(report.problems)} problems")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
