"""HTTP error check of spec_lint.py: the HTTP-only errors of section 12.1
and the registry's HTTP statuses against what the reference server's
HTTP API (ref-server/http_*.c) answers.

The server has no table of HTTP errors: each answer names its status,
code and reason where it is made (`answer_error(h, r, STATUS, CODE,
"reason", ...)`, `problem(p, STATUS, CODE, "reason", ...)`,
`write_now(wsi, STATUS, error_body(CODE, "reason", ...))`). The check
reads those calls in every ref-server/http_*.c file and fails when
- a literal code and reason are neither an HTTP-only error of section
  12.1 nor a row of the registry;
- a PARLEY_E_ code is answered with another reason than its registry
  row's, or with another HTTP status than section 12.1 maps it to;
- an HTTP-only error is answered with a status other than its code;
- an HTTP-only error of section 12.1 is never answered.
"""

import os
import re

import specdoc

HTTP_DIR = "ref-server"
HTTP_API = "ref-server/http_api.c"
ANSWER_RE = re.compile(r'(?:\banswer_error\(\s*\w+,\s*\w+|\bproblem\(\s*\w+),'
                       r'\s*(\d{3}),\s*(\w+),\s*"([a-z0-9-]+)"')
WRITE_RE = re.compile(r'write_now\(\s*\w+,\s*(\d{3}),\s*error_body\(\s*'
                      r'(\w+),\s*"([a-z0-9-]+)"')
BODY_RE = re.compile(r'error_body\(\s*(\w+),\s*"([a-z0-9-]+)"')
X_NAME_RE = re.compile(r'X\(\s*(\w+)\s*,\s*(\d+)\s*,\s*"([^"]*)"')


def spec_http_errors(text):
    """({(code, reason)} HTTP-only, {reason: status} of registry errors)
    from section 12.1."""
    span = specdoc.section_span(text, "12.1")
    part = " ".join(text[span[0]:span[1]].split()) if span else ""
    only, statuses = set(), {}
    m = re.search(r"HTTP-only use the HTTP status as `code`:(.*?)\.", part)
    if m:
        only = {(int(c), r) for c, r in
                re.findall(r"(\d{3}) `([a-z0-9-]+)`", m.group(1))}
    m = re.search(r"Registry errors map to HTTP statuses:(.*?)\.", part)
    if m:
        for names, status in re.findall(
                r"((?:`[a-z0-9-]+`(?:,? and |, )?)+) (\d{3})", m.group(1)):
            for name in re.findall(r"`([a-z0-9-]+)`", names):
                statuses[name] = int(status)
    return only, statuses


def http_sources(root):
    """The HTTP API's C files: ref-server/http_*.c, sorted."""
    folder = os.path.join(root, HTTP_DIR)
    if not os.path.isdir(folder):
        return []
    return sorted(f"{HTTP_DIR}/{n}" for n in os.listdir(folder)
                  if n.startswith("http_") and n.endswith(".c"))


def code_answers(root):
    """[(where, status or None, code token, reason)] of the HTTP API's
    C files; `where` is path:line."""
    out = []
    for rel in http_sources(root):
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            text = f.read()
        seen = set()
        for regex in (ANSWER_RE, WRITE_RE):
            for m in regex.finditer(text):
                if regex is WRITE_RE:
                    seen.add(text.index("error_body", m.start()))
                out.append((f"{rel}:{specdoc.line_of(text, m.start())}",
                            int(m.group(1)), m.group(2), m.group(3)))
        for m in BODY_RE.finditer(text):
            if m.start() not in seen:
                out.append((f"{rel}:{specdoc.line_of(text, m.start())}",
                            None, m.group(1), m.group(2)))
    return out


def _check_one(answer, only, statuses, registry, names, report):
    where, status, code, reason = answer
    if code.isdigit():
        pair = (int(code), reason)
        if pair in only:
            if status is not None and status != pair[0]:
                report.add(0, f"{where}: {reason} answered with status "
                              f"{status}, not {code}")
        elif pair not in registry:
            report.add(0, f"{where}: answers {code} {reason}, which is "
                          "neither an HTTP-only error of section 12.1 nor "
                          "in the registry")
        return
    if code not in names:
        return   # a computed code: not checked here
    if names[code][1] != reason:
        report.add(0, f"{where}: {code} answered with reason {reason}, "
                      f"the registry says {names[code][1]}")
    elif status is not None and statuses.get(reason, status) != status:
        report.add(0, f"{where}: {reason} answered with status {status}, "
                      f"section 12.1 says {statuses[reason]}")


def check_http_errors(root, text, header_text, report):
    """Returns the number of HTTP-only errors of the spec."""
    only, statuses = spec_http_errors(text)
    if not only:
        report.add(0, "section 12.1 lists no HTTP-only errors")
    if not statuses:
        report.add(0, "section 12.1 maps no registry error to a status")
    if not http_sources(root):
        report.add(0, "no HTTP API sources (ref-server/http_*.c)")
        return len(only)
    registry = {(c, r) for c, r, _, _ in specdoc.registry_rows(text)}
    names = {f"PARLEY_E_{n}": (int(c), r)
             for n, c, r in X_NAME_RE.findall(header_text)}
    answers = code_answers(root)
    for answer in answers:
        _check_one(answer, only, statuses, registry, names, report)
    answered = {(int(c), r) for _, _, c, r in answers if c.isdigit()}
    for code, reason in sorted(only - answered):
        report.add(0, f"HTTP-only error {code} {reason} of section 12.1 is "
                      f"never answered by {HTTP_DIR}/http_*.c")
    return len(only)
