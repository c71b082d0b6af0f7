"""Reads spec/parley-1.md: requirements, sections, tables and examples.

Shared by spec_lint.py and traceability.py. The spec is read as octets
and decoded with surrogateescape, because one worked example holds
octets that are not UTF-8 on purpose.
"""

import re

SPEC_PATH = "spec/parley-1.md"

# Requirement keywords of BCP 14 that need an id (spec section 1.2).
# Longest first, so "MUST NOT" is taken before "MUST".
KEYWORDS = ("NOT RECOMMENDED", "MUST NOT", "SHALL NOT", "SHOULD NOT",
            "RECOMMENDED", "REQUIRED", "MUST", "SHALL", "SHOULD")
LEVEL_WORDS = KEYWORDS + ("MAY", "OPTIONAL")
KEYWORD_RE = re.compile(r"\b(" + "|".join(k.replace(" ", r"\s+")
                                           for k in KEYWORDS) + r")\b")
LEVEL_RE = re.compile(r"\b(" + "|".join(k.replace(" ", r"\s+")
                                         for k in LEVEL_WORDS) + r")\b")
REQ_START_RE = re.compile(r"\[([A-Z][A-Z0-9]*-[0-9]+):")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
SECTION_NUM_RE = re.compile(r"^(\d+(?:\.\d+)*)\.?\s")
FENCE_RE = re.compile(r"^(```+)(.*)$")


def read_spec(root):
    """Returns the spec's text (surrogateescape-decoded)."""
    with open(f"{root}/{SPEC_PATH}", "rb") as f:
        return f.read().decode("utf-8", "surrogateescape")


class Fence:
    """A fenced code block: its info string, content lines, line numbers."""

    def __init__(self, info, start, lines):
        self.info = info
        self.start = start          # 1-based line of the opening fence
        self.lines = lines          # content lines, without the fences
        self.end = start + len(lines) + 1


def fences(text):
    """Returns the fenced code blocks of `text`, in order."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info, start = m.group(1), m.group(2).strip(), i + 1
        j = i + 1
        while j < len(lines) and not lines[j].startswith(fence):
            j += 1
        out.append(Fence(info, start, lines[i + 1:j]))
        i = j + 1
    return out


def prose(text):
    """`text` with fenced blocks and inline code spans blanked out.

    Offsets and line numbers stay those of `text`: every blanked
    character becomes a space, line breaks are kept.
    """
    chars = list(text)
    lines = text.split("\n")
    offset = 0
    in_fence = None
    for line in lines:
        m = FENCE_RE.match(line)
        if in_fence is None and m:
            in_fence = m.group(1)
            blank = True
        elif in_fence is not None:
            blank = True
            if line.startswith(in_fence):
                in_fence = None
        else:
            blank = False
        if blank:
            for k in range(offset, offset + len(line)):
                chars[k] = " "
        offset += len(line) + 1
    return _blank_code_spans("".join(chars))


def _blank_code_spans(text):
    """Blanks `code spans` (single backticks, within one paragraph)."""
    def repl(m):
        return "".join(c if c == "\n" else " " for c in m.group(0))
    return re.sub(r"`[^`]*`", repl, text)


def line_of(text, offset):
    """1-based line number of `offset` in `text`."""
    return text.count("\n", 0, offset) + 1


def sections(text):
    """Returns [(offset, number, title)] for numbered headings."""
    out, offset = [], 0
    clean = prose(text)
    for line in clean.split("\n"):
        m = HEADING_RE.match(line)
        if m:
            title = m.group(2)
            n = SECTION_NUM_RE.match(title)
            if n:
                out.append((offset, n.group(1), title))
        offset += len(line) + 1
    return out


def section_at(secs, offset):
    """The number of the section that holds `offset`, or ""."""
    number = ""
    for start, num, _ in secs:
        if start > offset:
            break
        number = num
    return number


def bracket_end(clean, start):
    """Offset just past the `]` closing the bracket opened at `start`.

    `clean` is prose(text): code spans are blank there, so brackets
    inside them (character classes) do not count. Returns -1 when the
    bracket never closes.
    """
    depth = 0
    for i in range(start, len(clean)):
        c = clean[i]
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


class Requirement:
    """One `[ID-N: ...]` bracket of the spec."""

    def __init__(self, rid, start, end, line, section, text, level):
        self.id = rid
        self.start = start
        self.end = end
        self.line = line
        self.section = section
        self.text = text
        self.level = level


def level_of(clean_bracket):
    """The keywords in a bracket, in order of first appearance."""
    seen = []
    for m in LEVEL_RE.finditer(clean_bracket):
        word = " ".join(m.group(1).split())
        if word not in seen:
            seen.append(word)
    return ", ".join(seen)


def requirements(text):
    """Returns (requirements in spec order, problems).

    A problem is (line, message) for a bracket that never closes.
    """
    clean = prose(text)
    secs = sections(text)
    reqs, problems = [], []
    for m in REQ_START_RE.finditer(clean):
        end = bracket_end(clean, m.start())
        line = line_of(text, m.start())
        if end < 0:
            problems.append((line, f"requirement {m.group(1)} never closes"))
            continue
        body = " ".join(text[m.end():end - 1].split())
        level = level_of(clean[m.end():end - 1])
        reqs.append(Requirement(m.group(1), m.start(), end, line,
                                section_at(secs, m.start()), body, level))
    return reqs, problems


def section_span(text, number):
    """(start, end) offsets of the section numbered `number`."""
    secs = sections(text)
    for k, (start, num, _) in enumerate(secs):
        if num == number:
            end = len(text)
            for later_start, later_num, _ in secs[k + 1:]:
                if not later_num.startswith(number + "."):
                    end = later_start
                    break
            return start, end
    return None


def registry_rows(text):
    """Rows (code, reason, fatal bool, meaning) of section 13's table."""
    span = section_span(text, "13")
    if span is None:
        return []
    rows = []
    row_re = re.compile(r"^\|\s*(\d{3})\s*\|\s*([a-z0-9-]+)\s*\|"
                        r"\s*(yes|no)\s*\|\s*(.*?)\s*\|\s*$")
    for line in text[span[0]:span[1]].split("\n"):
        m = row_re.match(line)
        if m:
            rows.append((int(m.group(1)), m.group(2), m.group(3) == "yes",
                         m.group(4)))
    return rows


def verbs_table(text):
    """Verbs named in the first column of section 10's first table."""
    span = section_span(text, "10")
    if span is None:
        return []
    verbs = []
    for line in text[span[0]:span[1]].split("\n"):
        if not line.startswith("| `"):
            if verbs:
                break
            continue
        cell = line.split("|")[1]
        verbs += re.findall(r"`([A-Z][A-Z0-9-]*)`", cell)
    return verbs


# The heading of the section that lists the requirements the conformance
# suite cannot observe (section 1.5), found by its title so that a new
# section number does not lose it.
UNOBSERVABLE_TITLE = "Requirements the conformance suite cannot observe"
STRENGTH = {"MUST": 3, "SHOULD": 2, "MAY": 1}
# What each keyword of a requirement's level counts as.
KEYWORD_STRENGTH = {"MUST": "MUST", "MUST NOT": "MUST", "REQUIRED": "MUST",
                    "SHALL": "MUST", "SHALL NOT": "MUST",
                    "SHOULD": "SHOULD", "SHOULD NOT": "SHOULD",
                    "RECOMMENDED": "SHOULD", "NOT RECOMMENDED": "SHOULD",
                    "MAY": "MAY", "OPTIONAL": "MAY"}


def strongest(level):
    """"MUST", "SHOULD" or "MAY": the strongest keyword of a level as
    Requirement.level writes it ("MUST NOT, SHOULD"), or "" for none."""
    best = ""
    for word in level.split(", "):
        kind = KEYWORD_STRENGTH.get(word, "")
        if STRENGTH.get(kind, 0) > STRENGTH.get(best, 0):
            best = kind
    return best


def unobservable(text):
    """Rows (id, reason, line) of the table under the heading titled
    UNOBSERVABLE_TITLE, or None when there is no such heading."""
    lines = text.split("\n")
    start = None
    for k, line in enumerate(lines):
        m = HEADING_RE.match(line)
        if m and m.group(2).endswith(UNOBSERVABLE_TITLE):
            start = k + 1
            break
    if start is None:
        return None
    rows = []
    row_re = re.compile(r"^\|\s*([A-Z][A-Z0-9]*-[0-9]+)\s*\|\s*(.*?)\s*\|\s*$")
    for k in range(start, len(lines)):
        if HEADING_RE.match(lines[k]):
            break
        m = row_re.match(lines[k])
        if m:
            rows.append((m.group(1), m.group(2), k + 1))
    return rows
