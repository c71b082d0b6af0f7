"""The ABNF of spec/parley-1.md: extraction, a parser, the lint.

The grammar is the union of the ```abnf blocks of the spec, read with
tests/spec/specdoc.py, so the spec stays the only source. parse() turns
the text into rules (RFC 5234, with the %s/%i strings of RFC 7405);
lint() checks that every rule used is defined or is an RFC 5234 core
rule, that every rule defined is used or is one of the grammar's start
rules, that no rule is defined twice and no core rule is redefined.

Run as a program: `abnf.py lint ROOT` prints the problems (exit 1 when
there are any); `abnf.py extract ROOT` prints the grammar with the core
rules it uses appended, for apg-js.
"""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "spec"))
import specdoc  # noqa: E402

# RFC 5234 appendix B.1, as ABNF text (apg-js has no built-in rules).
CORE = {
    "ALPHA": "%x41-5A / %x61-7A",
    "BIT": "\"0\" / \"1\"",
    "CHAR": "%x01-7F",
    "CR": "%x0D",
    "CRLF": "CR LF",
    "CTL": "%x00-1F / %x7F",
    "DIGIT": "%x30-39",
    "DQUOTE": "%x22",
    "HEXDIG": "DIGIT / \"A\" / \"B\" / \"C\" / \"D\" / \"E\" / \"F\"",
    "HTAB": "%x09",
    "LF": "%x0A",
    "LWSP": "*(WSP / CRLF WSP)",
    "OCTET": "%x00-FF",
    "SP": "%x20",
    "VCHAR": "%x21-7E",
    "WSP": "SP / HTAB",
}

# The start rules: the whole frame, and each value or body that the
# spec's prose gives a rule of its own (sections 2.9, 19.1 and 19.6).
# Every other rule must be reachable from another rule.
ROOTS = ("frame", "number", "id", "user-name", "token-chars", "cursor",
         "cap-list", "version-list", "yes-no", "media-type",
         "call-value", "to-value", "to-device-value", "media-value",
         "switch-value", "call-state", "candidate-value", "mid-value",
         "end-reason", "left-reason", "ring-stop-reason", "participants",
         "session-description", "rel-addr", "rel-port",
         "ice-pwd-att", "ice-ufrag-att", "ice-options",
         "end-of-candidates-att", "fingerprint-attribute", "setup-attr",
         "rtcp-mux-attr", "mid-attribute", "group-attribute",
         "rtpmap-attribute", "fmtp-attribute", "direction-attribute")


class AbnfError(Exception):
    """A syntax error in the ABNF text: line number and message."""

    def __init__(self, line, msg):
        super().__init__(f"line {line}: {msg}")
        self.line = line


class Rule:
    """One rule: its name as written, the node, where it is defined."""

    def __init__(self, name, node, line):
        self.name = name
        self.node = node
        self.line = line


# Nodes are tuples:
#   ("alt", [node...])   ("cat", [node...])   ("rep", lo, hi|None, node)
#   ("ref", name)        ("str", bytes, case_sensitive)
#   ("range", lo, hi)

TOKEN_RE = re.compile(r"""
    (?P<ws>[ \t\n]+)
  | (?P<comment>;[^\n]*)
  | (?P<rep>(?:\d*\*\d*|\d+)(?=[A-Za-z(\["%]))
  | (?P<name>[A-Za-z][A-Za-z0-9-]*)
  | (?P<str>%[si]?"[^"]*"|"[^"]*")
  | (?P<num>%[xX][0-9A-Fa-f]+(?:-[0-9A-Fa-f]+|(?:\.[0-9A-Fa-f]+)+)?
            |%[dD][0-9]+(?:-[0-9]+|(?:\.[0-9]+)+)?
            |%[bB][01]+(?:-[01]+|(?:\.[01]+)+)?)
  | (?P<prose><[^>]*>)
  | (?P<punct>[()\[\]/])
""", re.X)


def statements(text):
    """Yields (line, text) for each rule: a line starting in column 0 and
    the indented lines that continue it."""
    cur, start = None, 0
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip() or line.lstrip().startswith(";"):
            if cur is not None and line.strip():
                continue
            if cur is not None and not line.strip():
                yield start, cur
                cur = None
            continue
        if line[0] in " \t":
            if cur is None:
                raise AbnfError(n, "continuation line without a rule")
            cur += "\n" + line
        else:
            if cur is not None:
                yield start, cur
            cur, start = line, n
    if cur is not None:
        yield start, cur


def tokens(text, line):
    """The tokens of one rule's elements, comments and blanks dropped."""
    out, pos = [], 0
    while pos < len(text):
        m = TOKEN_RE.match(text, pos)
        if not m:
            raise AbnfError(line, f"cannot read {text[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind in ("ws", "comment") or m.group(0) == "\n":
            continue
        out.append((kind, m.group(0)))
    return out


def num_node(tok):
    """The node of a num-val: a range or a string of octets."""
    base = {"x": 16, "d": 10, "b": 2}[tok[1].lower()]
    body = tok[2:]
    if "-" in body:
        lo, hi = (int(v, base) for v in body.split("-"))
        return ("range", lo, hi)
    return ("str", bytes(int(v, base) for v in body.split(".")), True)


class _Reader:
    """Recursive descent over one rule's tokens (RFC 5234 section 4)."""

    def __init__(self, toks, line):
        self.toks, self.pos, self.line = toks, 0, line

    def peek(self):
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self):
        tok = self.peek()
        self.pos += 1
        return tok

    def fail(self, msg):
        raise AbnfError(self.line, msg)

    def alternation(self):
        alts = [self.concatenation()]
        while self.peek() == ("punct", "/"):
            self.take()
            alts.append(self.concatenation())
        return alts[0] if len(alts) == 1 else ("alt", alts)

    def concatenation(self):
        items = []
        while self.peek() and self.peek() not in (("punct", "/"),
                                                  ("punct", ")"),
                                                  ("punct", "]")):
            items.append(self.repetition())
        if not items:
            self.fail("empty concatenation")
        return items[0] if len(items) == 1 else ("cat", items)

    def repetition(self):
        tok = self.peek()
        if tok[0] != "rep":
            return self.element()
        self.take()
        text = tok[1]
        if "*" in text:
            lo, hi = text.split("*")
            lo = int(lo) if lo else 0
            hi = int(hi) if hi else None
        else:
            lo = hi = int(text)
        return ("rep", lo, hi, self.element())

    def element(self):
        kind, text = self.take() or (None, None)
        if kind == "name":
            return ("ref", text)
        if kind == "str":
            sensitive = text.startswith("%s")
            raw = text[text.index('"') + 1:-1]
            if not raw:
                self.fail("empty string")
            return ("str", raw.encode("latin-1"), sensitive)
        if kind == "num":
            return num_node(text)
        if kind == "prose":
            self.fail(f"prose value {text} (not a grammar)")
        if (kind, text) in (("punct", "("), ("punct", "[")):
            inner = self.alternation()
            close = ")" if text == "(" else "]"
            if self.take() != ("punct", close):
                self.fail(f"missing {close!r}")
            return inner if text == "(" else ("rep", 0, 1, inner)
        self.fail(f"unexpected {text!r}")


DEF_RE = re.compile(r"\s*([A-Za-z][A-Za-z0-9-]*)\s*(=/|=)(.*)\Z", re.S)


def parse(text, first_line=1):
    """Returns ({lower-case name: Rule}, [problems]) for ABNF `text`.

    A problem is (line, message). `=/` adds alternatives to a rule.
    """
    rules, problems = {}, []
    for line, stmt in statements(text):
        line += first_line - 1
        m = DEF_RE.match(stmt)
        if not m:
            problems.append((line, f"not a rule: {stmt.split()[0]!r}"))
            continue
        name, op, body = m.groups()
        try:
            reader = _Reader(tokens(body, line), line)
            node = reader.alternation()
            if reader.peek() is not None:
                reader.fail(f"unexpected {reader.peek()[1]!r}")
        except AbnfError as e:
            problems.append((e.line, str(e).split(": ", 1)[1]))
            continue
        key = name.lower()
        if op == "=/":
            if key not in rules:
                problems.append((line, f"{name} =/ before {name} ="))
                continue
            old = rules[key].node
            alts = old[1] if old[0] == "alt" else [old]
            rules[key].node = ("alt", alts + [node])
        elif key in rules:
            problems.append((line, f"rule {name} defined twice (first on "
                                   f"line {rules[key].line})"))
        else:
            rules[key] = Rule(name, node, line)
    return rules, problems


def refs(node, out):
    """Adds the lower-case names `node` refers to to the set `out`."""
    kind = node[0]
    if kind == "ref":
        out.add(node[1].lower())
    elif kind in ("alt", "cat"):
        for n in node[1]:
            refs(n, out)
    elif kind == "rep":
        refs(node[3], out)
    return out


def lint(rules, roots=ROOTS):
    """Returns the problems of a parsed grammar as (line, message)."""
    problems = []
    core = {c.lower() for c in CORE}
    used = set()
    for rule in rules.values():
        for name in sorted(refs(rule.node, set())):
            used.add(name)
            if name not in rules and name not in core:
                problems.append((rule.line, f"{rule.name} uses {name}, "
                                            "which is not defined and not "
                                            "an RFC 5234 core rule"))
    for key, rule in rules.items():
        if key in core:
            problems.append((rule.line, f"{rule.name} redefines an "
                                        "RFC 5234 core rule"))
        elif key not in used and key not in {r.lower() for r in roots}:
            problems.append((rule.line, f"{rule.name} is defined but "
                                        "never used"))
    for r in roots:
        if r.lower() not in rules:
            problems.append((0, f"start rule {r} is not defined"))
    return sorted(problems)


def spec_abnf(root):
    """The ABNF of the spec: [(first line, text)] of its abnf blocks."""
    text = specdoc.read_spec(root)
    return [(f.start + 1, "\n".join(f.lines))
            for f in specdoc.fences(text) if f.info == "abnf"]


def spec_rules(root):
    """Parses every abnf block of the spec into one rule set.

    Returns (rules, problems)."""
    rules, problems = {}, []
    for first, text in spec_abnf(root):
        block, probs = parse(text, first)
        problems += probs
        for key, rule in block.items():
            if key in rules:
                problems.append((rule.line, f"rule {rule.name} defined "
                                            f"twice (first on line "
                                            f"{rules[key].line})"))
            else:
                rules[key] = rule
    return rules, problems


def core_closure(rules):
    """The core rules that `rules` use, directly or through core rules."""
    core = {c.lower(): c for c in CORE}
    need, todo = set(), set()
    for rule in rules.values():
        refs(rule.node, todo)
    while todo:
        name = todo.pop()
        if name in core and name not in rules and name not in need:
            need.add(name)
            _, probs = parse(f"x = {CORE[core[name]]}")
            refs(parse(f"x = {CORE[core[name]]}")[0]["x"].node, todo)
    return [core[n] for n in sorted(need)]


def grammar_text(root):
    """The spec's grammar plus the core rules it uses, as one text."""
    rules, _ = spec_rules(root)
    parts = [text for _, text in spec_abnf(root)]
    parts.append("; RFC 5234 appendix B.1")
    parts += [f"{c} = {CORE[c]}" for c in core_closure(rules)]
    return "\n".join(parts) + "\n"


def main(argv):
    if len(argv) != 3 or argv[1] not in ("lint", "extract"):
        print("usage: abnf.py lint|extract ROOT", file=sys.stderr)
        return 2
    root = argv[2]
    if argv[1] == "extract":
        sys.stdout.write(grammar_text(root))
        return 0
    rules, problems = spec_rules(root)
    problems += lint(rules)
    for line, msg in sorted(problems):
        print(f"{specdoc.SPEC_PATH}:{line}: {msg}")
    if not problems:
        print(f"abnf lint: {len(rules)} rules, no problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
