"""Example checks of spec_lint.py beyond section 15's frame/JSON pairs:
every example of the spec is parsed by something.

- every fenced block says what it holds: `abnf`, `parley-frame
  example=...`, `json example=...`, `driver-transcript` or `text` (a
  diagram, not an example); ABNF blocks are the grammar tests' to parse;
- a `driver-transcript` block (section 18) holds `> ` command and `< `
  event lines, each a JSON object naming a command or event of the
  tables of sections 18.2 and 18.3 with every required member;
- a JSON code span in prose (`{"token": "...", "expires_ms": N}`)
  parses as JSON once its placeholders are filled: a lone capital
  letter stands for a value, `...` for more elements of an array,
  `"a" | "b"` for either string; a span without `:` is a list of field
  names, not JSON;
- the SDP body of every valid example frame with `content-type:
  application/sdp` passes parley_sdp_parse, with `a=setup:actpass` in an
  `OFFER` and `a=setup:active` in an `ANSWER` (CALLCLI-4), and every
  `candidate` header value passes parley_candidate_parse; both through
  the spec_sdp_check program.
"""

import json
import re
import subprocess

import parley_frame
import specdoc

KINDS = ("abnf", "driver-transcript", "text")
PLACEHOLDER_RE = re.compile(r"(?<![\w.])[A-Z](?![\w.])")
# "..." standing for more elements: `[...]`, `, ...]`
ELLIPSIS_RE = re.compile(r"(?:,\s*)?\.\.\.(?=\s*[\]}])")
STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"')
ALTERNATIVE_RE = re.compile(r'("(?:[^"\\]|\\.)*")(?:\s*\|\s*"(?:[^"\\]|'
                            r'\\.)*")+')


def check_kinds(text, report):
    """Every fenced block has an info string the lint knows."""
    for f in specdoc.fences(text):
        if f.info in KINDS or f.info.startswith(("parley-frame ",
                                                  "json example=")):
            continue
        report.add(f.start, f"code block with info string {f.info!r}: "
                            f"use one of {', '.join(KINDS)} or an example")


def _members_table(text, number):
    """{name: required members} of the tables of section `number` whose
    first column is a code span (a command or an event)."""
    span = specdoc.section_span(text, number)
    out = {}
    if span is None:
        return out
    lines = text[span[0]:span[1]].split("\n")
    for k, line in enumerate(lines):
        cells = line.split("|")
        if len(cells) < 4 or not cells[1].strip().startswith("`"):
            continue
        if k + 1 < len(lines) and lines[k + 1].startswith("|---"):
            continue   # the header row
        name = cells[1].strip().strip("`")
        required = cells[2].split(";")[0]
        out[name] = set(re.findall(r"`([a-z][a-z_]*)`", required))
    return out


def check_transcripts(text, report):
    """`driver-transcript` blocks against the tables of section 18."""
    cmds = _members_table(text, "18.2")
    events = _members_table(text, "18.3")
    for f in specdoc.fences(text):
        if f.info != "driver-transcript":
            continue
        for k, line in enumerate(f.lines, f.start + 1):
            if not line.strip():
                continue
            mark, _, rest = line.partition(" ")
            table, key = {">": (cmds, "cmd"), "<": (events, "event")}.get(
                mark, (None, None))
            if table is None:
                report.add(k, "transcript line without a > or < mark")
                continue
            try:
                obj = json.loads(rest)
            except ValueError as err:
                report.add(k, f"transcript line is not JSON: {err}")
                continue
            name = obj.get(key) if isinstance(obj, dict) else None
            if not isinstance(name, str) or name not in table:
                report.add(k, f"transcript {key} {name!r} is not in the "
                              "table of section 18")
            elif table[name] - set(obj):
                report.add(k, f"transcript {key} {name} lacks "
                              f"{', '.join(sorted(table[name] - set(obj)))}")


def fill_placeholders(span):
    """A JSON code span with its placeholders filled (see above)."""
    def fill(outside):
        outside = ELLIPSIS_RE.sub("", outside)
        return PLACEHOLDER_RE.sub("0", outside)

    span = ALTERNATIVE_RE.sub(r"\1", span)
    parts, last = [], 0
    for m in STRING_RE.finditer(span):
        parts += [fill(span[last:m.start()]), m.group(0)]
        last = m.end()
    parts.append(fill(span[last:]))
    return "".join(parts)


def check_json_spans(text, report):
    """JSON code spans in prose parse once filled."""
    lines = text.split("\n")
    for f in specdoc.fences(text):
        for k in range(f.start - 1, min(f.end, len(lines))):
            lines[k] = " " * len(lines[k])
    prose = "\n".join(lines)
    count = 0
    for m in re.finditer(r"`([^`]*)`", prose):
        span = m.group(1).strip()
        if not span.startswith(("{", "[")) or '"' not in span:
            continue
        if ":" not in STRING_RE.sub("", span):
            continue   # a list of field names
        count += 1
        try:
            json.loads(fill_placeholders(span))
        except ValueError as err:
            report.add(specdoc.line_of(text, m.start()),
                       f"JSON example does not parse: {err}: {span[:60]!r}")
    return count


def run_checker(checker, mode, data):
    """(ok, output line) of spec_sdp_check for `data` (bytes)."""
    done = subprocess.run([checker, mode], input=data,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=30)
    out = done.stdout.decode("utf-8", "replace").strip()
    return done.returncode == 0, out


def _sdp_frames(text):
    """(name, line, decoded frame) of every valid frame example."""
    blocks = specdoc.fences(text)
    for f in blocks:
        m = re.match(r"parley-frame example=([a-z0-9-]+)$", f.info)
        if not m:
            continue
        try:
            frame = parley_frame.decode_message(
                parley_frame.example_wire(f.lines))
        except parley_frame.FrameError:
            continue
        yield m.group(1), f.start, frame


def check_sdp(text, checker, report):
    """SDP bodies and candidates of the frame examples; returns the
    number checked."""
    want_setup = {"OFFER": "actpass", "ANSWER": "active"}
    count = 0
    for name, line, frame in _sdp_frames(text):
        headers = dict(frame["headers"])
        ctype = headers.get("content-type", "").split(";")[0].strip()
        if ctype.lower() == "application/sdp":
            count += 1
            body = frame["body"].encode("utf-8", "surrogateescape")
            ok, out = run_checker(checker, "sdp", body)
            setup = want_setup.get(frame["verb"])
            if not ok:
                report.add(line, f"example {name}: SDP body refused: {out}")
            elif setup and set(re.search(r"setup=(\S*)", out).group(1)
                               .split(",")) != {setup}:
                report.add(line, f"example {name}: an {frame['verb']} "
                                 f"needs a=setup:{setup} ({out})")
        for hname, value in frame["headers"]:
            if hname == "candidate":
                count += 1
                ok, out = run_checker(checker, "candidate",
                                      value.encode("utf-8"))
                if not ok:
                    report.add(line, f"example {name}: candidate refused:"
                                     f" {out}")
    return count


def check_all(text, checker, report):
    """Runs the checks above; returns a summary for the last line."""
    check_kinds(text, report)
    check_transcripts(text, report)
    spans = check_json_spans(text, report)
    if checker:
        sdp = f"{check_sdp(text, checker, report)} SDP bodies and candidates"
    else:
        sdp = "SDP not checked (no --sdp-check)"
    return f"{spans} JSON spans, {sdp}"
