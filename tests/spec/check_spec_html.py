#!/usr/bin/env python3
"""Checks the HTML rendering of the spec (spec_render.py). Run by ctest as
`spec_html` on the page the build wrote:

    check_spec_html.py PAGE ROOT

It fails (exit 1, one line per problem) when the page
- is not UTF-8, or not well formed: an element that is not void and
  never closed, an end tag that closes nothing open, elements closed out
  of order;
- gives an id twice;
- lacks the anchor of a requirement id of spec/parley-1.md, or has it on
  more than one element, or lacks the anchor of a heading, a worked
  example, a registry code or an RFC of the references (specrefs.py
  names them);
- has an internal link (`href="#..."`) whose target is not on the page;
- shows fewer \\xNN boxes than the spec has octets that are not UTF-8.
"""

import html.parser
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import specdoc  # noqa: E402
import specrefs  # noqa: E402

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "source", "track", "wbr"}


class Page(html.parser.HTMLParser):
    """Collects what the checks need while parsing."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.problems = []
        self.ids = []
        self.req_ids = []
        self.links = []
        self.octets = 0

    def where(self):
        return f"line {self.getpos()[0]}"

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
            if "req" in (a.get("class") or "").split():
                self.req_ids.append(a["id"])
        if tag == "a" and (a.get("href") or "").startswith("#"):
            self.links.append((a["href"][1:], self.getpos()[0]))
        if "octet" in (a.get("class") or "").split():
            self.octets += 1
        if tag not in VOID:
            self.stack.append((tag, self.getpos()[0]))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack:
            self.problems.append(f"{self.where()}: </{tag}> closes nothing")
            return
        top, line = self.stack[-1]
        if top != tag:
            self.problems.append(f"{self.where()}: </{tag}> closes <{top}> "
                                 f"of line {line}")
            if tag in (t for t, _ in self.stack):
                while self.stack and self.stack[-1][0] != tag:
                    self.stack.pop()
                self.stack.pop()
            return
        self.stack.pop()


def check(page_bytes, spec_text):
    """Problems of the page (bytes) against the spec (text)."""
    try:
        page_text = page_bytes.decode("utf-8")
    except UnicodeDecodeError as err:
        return [f"page is not UTF-8: {err}"]
    page = Page()
    page.feed(page_text)
    page.close()
    problems = list(page.problems)
    for tag, line in page.stack:
        problems.append(f"<{tag}> of line {line} is never closed")
    seen = set()
    for i in page.ids:
        if i in seen:
            problems.append(f'id "{i}" given twice')
        seen.add(i)
    reqs, _ = specdoc.requirements(spec_text)
    for r in reqs:
        n = page.req_ids.count(r.id)
        if n != 1:
            problems.append(f"requirement {r.id} has {n} anchors, not 1")
    for anchor in sorted(specrefs.all_anchors(spec_text) - seen):
        problems.append(f'no anchor "{anchor}"')
    for target, line in page.links:
        if target not in seen:
            problems.append(f'line {line}: link to "#{target}", which is '
                            "not on the page")
    octets = sum(1 for c in spec_text if 0xDC80 <= ord(c) <= 0xDCFF)
    if page.octets < octets:
        problems.append(f"{page.octets} octet boxes for the spec's "
                        f"{octets} octets that are not UTF-8")
    return problems


def main(argv):
    if len(argv) != 2:
        print("usage: check_spec_html.py PAGE ROOT", file=sys.stderr)
        return 2
    with open(argv[0], "rb") as f:
        page = f.read()
    spec = specdoc.read_spec(argv[1])
    problems = check(page, spec)
    for p in problems:
        print(f"{argv[0]}: {p}")
    reqs, _ = specdoc.requirements(spec)
    print(f"check_spec_html: {len(reqs)} requirement anchors, "
          f"{len(specdoc.sections(spec))} sections, {len(problems)} "
          "problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
