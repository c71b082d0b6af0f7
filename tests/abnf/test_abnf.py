"""Self-test of abnf.py: doctored grammars must be refused."""

import sys

import abnf

GOOD = 'top = part SP DIGIT\npart = 1*( "a" / %x62-63 )\n'
CASES = [
    ("undefined rule", 'top = part SP\n', "not defined"),
    ("unused rule", GOOD + 'spare = "x"\n', "never used"),
    ("non-core rule", 'top = part OWS\npart = "a"\n', "ows, which is not"),
    ("core rule redefined", GOOD + 'DIGIT = %x30-39\n', "redefines"),
    ("rule twice", GOOD + 'part = "b"\n', "defined twice"),
    ("prose value", 'top = <anything>\n', "prose"),
    ("blank after a repeat", 'top = 1*2 "a"\n', "cannot read"),
]


def problems(text):
    rules, probs = abnf.parse(text)
    return probs + abnf.lint(rules, roots=("top",))


def main():
    failed = 0
    if problems(GOOD):
        print("good grammar refused:", problems(GOOD))
        failed += 1
    for what, text, expect in CASES:
        got = " | ".join(m for _, m in problems(text))
        if expect not in got:
            print(f"FAIL {what}: expected {expect!r}, got {got!r}")
            failed += 1
        else:
            print(f"ok   {what}: {got}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
