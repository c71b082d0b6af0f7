"""A static check of parley-conform's sources: a value that may be NULL
(a header the server left out, a field of an HTTP answer) is never handed
straight to strcmp, strlen, printf and the like, where a server that
leaves out a header would crash the runner instead of failing a case.
Values from jansson (json_string_value) are checked with json_is_string
before use; the check does not follow that and leaves them to review.

The check looks at each call of a function that may return NULL
(NULLABLE) and at what the call's value meets right away. Accepted:

- a test: `!f(...)`, `f(...) == NULL`, `f(...) != NULL`, `f(...) ? :`, an
  operand of `&&` or `||`, the condition of `if`, `while` or PC_CHECK;
- a use right after a test of the same call: `f(...) ? f(...) : x`,
  `f(...) && f(...)[0]`, `!f(...) || f(...)[0]`;
- a store: `x = f(...)`, `return f(...)` (the variable is the reader's to
  check, as a reviewer does);
- an argument of a function that takes NULL (NULL_OK).

Anything else (an argument of strcmp, of a printf-like function, of
pc_expect, `f(...)[i]`, `*f(...)`) is reported with its file and line.
Use pc_hdr_is, pc_hdr_need, pc_hdr_show or pc_show (conformance/pc.h)
instead.

usage: conform_nullsafe.py FILE.c...   (exit 1 when anything is found)
"""

import re
import sys

NULLABLE = ("pc_hdr", "pc_http_field")
# Functions (and macros) whose arguments may be NULL.
NULL_OK = {"mu_is_id", "ca_list_has", "list_has", "pc_show", "pc_hdr_is",
           "sizeof", "ps_error"}
# Where an argument is a condition: the macro and the argument's index.
CONDITION_ARG = {"PC_CHECK": 1, "if": 0, "while": 0, "assert": 0}

CALL = re.compile(r"\b(" + "|".join(NULLABLE) + r")\s*\(")
IDENT_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*$")


def strip(text):
    """The source with comments, string and character literals blanked
    (same length, newlines kept), so that offsets still give lines."""
    out, i, n = [], 0, len(text)
    while i < n:
        two = text[i:i + 2]
        if two == "/*":
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif two == "//":
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif text[i] in "\"'":
            q, j = text[i], i + 1
            while j < n and text[j] != q:
                j += 2 if text[j] == "\\" else 1
            j += 1
        else:
            out.append(text[i])
            i += 1
            continue
        out.append("".join(c if c == "\n" else " " for c in text[i:j]))
        i = j
    return "".join(out)


def close_paren(s, i):
    """Index just past the parenthesis that closes the one at s[i]."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "(":
            depth += 1
        elif s[j] == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(s)


def enclosing_call(s, i):
    """The name before the parenthesis that encloses offset i, and the
    index of the argument i is in; (None, 0) outside any call."""
    depth, arg = 0, 0
    for j in range(i - 1, -1, -1):
        c = s[j]
        if c in ")]}":
            depth += 1
        elif c in "([{":
            if depth == 0:
                if c != "(":
                    return None, 0
                m = IDENT_BEFORE.search(s[:j])
                return (m.group(1) if m else None), arg
            depth -= 1
        elif c == "," and depth == 0:
            arg += 1
        elif c == ";" and depth == 0:
            return None, 0
    return None, 0


def squeeze(text):
    """text without white space, for comparing two expressions."""
    return re.sub(r"\s+", "", text)


def guarded(before, call):
    """Whether `before` ends with a test of the same call: `call &&`,
    `call ?` or `!call ||`."""
    for op, test in (("&&", ""), ("?", ""), ("||", "!")):
        if before.endswith(op) and \
                squeeze(before[:-len(op)]).endswith(test + squeeze(call)):
            return True
    return False


def verdict(s, raw, start, end):
    """None when the value at s[start:end] is used safely, otherwise a
    word saying how it is used. `s` is the source without comments and
    literals, `raw` the source as written (to compare calls)."""
    before = s[:start].rstrip()
    after = s[end:].lstrip()
    call, raw_before = raw[start:end], raw[:start].rstrip()
    if after.startswith("[") or before.endswith("*"):
        return None if guarded(raw_before, call) else "dereferenced"
    if after.startswith(("?", "==", "!=", "&&", "||")):
        return None
    if before.endswith(("&&", "||", "return")):
        return None
    if before.endswith("?") and after.startswith(":") and \
            guarded(raw_before, call):
        return None  # the branch of its own test, `v ? v : "none"`
    if before.endswith("!") or (before.endswith("=") and not
                                before.endswith(("==", "!=", "<=", ">="))):
        return None
    name, arg = enclosing_call(s, start)
    if name is None:
        return "used where it may be NULL"
    if name in NULL_OK:
        return None
    if CONDITION_ARG.get(name) == arg and after.startswith((",", ")")):
        return None
    return f"passed to {name}()"


def check_file(path):
    """The findings of one file: (line, call, how) each."""
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    s = strip(raw)
    found = []
    for m in CALL.finditer(s):
        # a declaration or a definition of the function itself
        if re.search(r"\b(const\s+)?(char|json_t|pc_frame)\s*\*?\s*$",
                     s[:m.start()]):
            continue
        end = close_paren(s, m.end() - 1)
        how = verdict(s, raw, m.start(), end)
        if how:
            line = s.count("\n", 0, m.start()) + 1
            found.append((line, m.group(1), how))
    return found


def main(paths):
    bad = 0
    for path in paths:
        for line, call, how in check_file(path):
            print(f"{path}:{line}: the value of {call}() may be NULL and "
                  f"is {how}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
