#!/usr/bin/env python3
"""Renders spec/parley-1.md as one HTML page a reviewer can link into.

    spec_render.py [--out PATH] [ROOT]

Writes PATH (default ROOT/build/spec/parley-1.html); the build writes it
into its own tree. Standard library only, no network: the style sheet is
inline.

What the page holds:
- a table of contents, then the spec in order;
- an anchor on every heading: `#section-19.6` for a numbered one, the
  enclosing section's anchor and a slug of the title for the others
  (`#section-15.31-invalid-a-lower-case-verb`);
- an anchor on every requirement: the element wrapping its bracket,
  so `parley-1.html#CALL-3` lands on it and highlights it; on every
  worked example
  (`#example-offer`); on every code of the error registry
  (`#error-445`); on every RFC of the references (`#ref-rfc8866`);
- cross references as links: "section 4.2", requirement ids named in the
  prose ("AUTH-1"), RFC citations (to the references), markdown links;
- code blocks and code spans escaped as written; octets that are not
  UTF-8 (the spec holds some on purpose) and control characters are
  shown as `\\xNN` in a marked box, never dropped;
- tables as tables, lists as lists, `**bold**` and `*italic*`.

Which text is a reference, and the anchors' names, come from specrefs.py,
which the lint uses too, so every link the page holds is one the lint
has checked.
"""

import html
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import specdoc  # noqa: E402
import specrefs  # noqa: E402

OUT_DEFAULT = "build/spec/parley-1.html"
REQ_OPEN_RE = re.compile(r"\[([A-Z][A-Z0-9]*-[0-9]+):")
BOLD_RE = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", re.S)
ITALIC_RE = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*]+?)(?<=\S)\*(?![\w*])")
CODE_SPAN_RE = re.compile(r"`([^`]*)`")
SPECIAL_RE = re.compile(r"[&<>\"\x00-\x08\x0b-\x1f\x7f\udc80-\udcff]")
ITEM_RE = re.compile(r"^(?:(-)|(\d+)\.)\s+(.*)$")
INLINE_TAG_RE = re.compile(r"<(/?)(span|a|strong|em|code)\b[^>]*>")
ROW_SEP_RE = re.compile(r"^\|(?:\s*:?-+:?\s*\|)+\s*$")

STYLE = """
body { font: 16px/1.5 Georgia, serif; max-width: 50em; margin: 2em auto;
       padding: 0 1em; color: #222; }
pre, code { font: 14px/1.4 "DejaVu Sans Mono", monospace; }
pre { background: #f6f6f4; padding: .6em; overflow-x: auto; }
figure { margin: 1em 0; }
figcaption { font-size: 13px; color: #666; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: .2em .5em; vertical-align: top; }
a.self { color: #aaa; text-decoration: none; margin-right: .3em; }
.req-id { font-weight: bold; }
.req:target { background: #fff3b0; }
.octet { border: 1px solid #c33; color: #c33; font-size: 85%; }
:target { background: #fff3b0; }
nav ul { list-style: none; padding-left: 1.2em; }
"""


def esc(text):
    """`text` escaped for HTML; an octet that is not UTF-8 (decoded as a
    lone surrogate) or a control character becomes a visible \\xNN."""
    def one(m):
        c = m.group(0)
        code = ord(c)
        if code >= 0xDC80:
            return (f'<span class="octet" title="octet not UTF-8">\\x'
                    f'{code - 0xDC00:02X}</span>')
        if c in "&<>\"":
            return html.escape(c)
        return f'<span class="octet" title="control">\\x{code:02X}</span>'
    return SPECIAL_RE.sub(one, text)


class Context:
    """What inline rendering needs to know of the whole spec."""

    def __init__(self, text):
        reqs, _ = specdoc.requirements(text)
        self.ids = {r.id for r in reqs}
        self.families = specrefs.families(self.ids)
        self.numbers = {num for _, num, _ in specdoc.sections(text)}
        span = specrefs.references_span(text)
        self.listed = ({r.target for r in
                        specrefs.rfc_refs(text[span[0]:span[1]])}
                       if span else set())
        self.in_references = False
        self.rfc_anchored = set()
        self.section = ""


def _link(href, inner):
    return f'<a href="{html.escape(href)}">{inner}</a>'


def _ref_spans(piece, ctx, opens, closes):
    """[(start, end, html)] of the references and marks in `piece`.
    `opens` holds the offsets of the requirement brackets that close
    later in the block, `closes` the offsets of the `]` closing them: a
    bracket that closes is wrapped whole in its anchor's span."""
    spans = []
    for m in REQ_OPEN_RE.finditer(piece):
        rid = m.group(1)
        tail = "" if m.start() in opens else "</span>"
        spans.append((m.start(), m.end(),
                      f'<span class="req" id="{rid}">[<a class="req-id" '
                      f'href="#{rid}">{rid}</a>:{tail}'))
    for at in closes:
        spans.append((at, at + 1, "]</span>"))
    for m in specrefs.LINK_RE.finditer(piece):
        spans.append((m.start(), m.end(),
                      _link(m.group(2), inline(m.group(1), ctx))))
    if not ctx.in_references:
        for r in specrefs.section_refs(piece):
            if r.target in ctx.numbers:
                spans.append((r.start, r.end, _link(
                    f"#section-{r.target}", esc(piece[r.start:r.end]))))
    for r in specrefs.id_refs(piece, ctx.families):
        if r.target in ctx.ids:
            spans.append((r.start, r.end, _link(f"#{r.target}", r.target)))
    for r in specrefs.rfc_refs(piece):
        words = esc(piece[r.start:r.end])
        if ctx.in_references and r.target not in ctx.rfc_anchored:
            ctx.rfc_anchored.add(r.target)
            spans.append((r.start, r.end,
                           f'<span id="ref-rfc{r.target}">{words}</span>'))
        elif not ctx.in_references and r.target in ctx.listed:
            spans.append((r.start, r.end, _link(f"#ref-rfc{r.target}",
                                                words)))
    for regex, tag in ((BOLD_RE, "strong"), (ITALIC_RE, "em")):
        for m in regex.finditer(piece):
            mark = (len(m.group(0)) - len(m.group(1))) // 2
            spans.append((m.start(), m.start() + mark, f"<{tag}>"))
            spans.append((m.end() - mark, m.end(), f"</{tag}>"))
    return spans


def _prose(piece, ctx, opens=(), closes=()):
    """A piece of prose (no code span) as HTML."""
    spans = sorted(_ref_spans(piece, ctx, opens, closes),
                   key=lambda s: (s[0], -s[1]))
    out, at = [], 0
    for start, end, markup in spans:
        if start < at:
            continue   # overlaps one already taken
        out.append(esc(piece[at:start]))
        out.append(markup)
        at = end
    out.append(esc(piece[at:]))
    return "".join(out)


def _bracket_closes(text):
    """{offset of `[ID-N:` -> offset of its closing `]`} for the
    requirement brackets that close within `text` (code spans, whose
    brackets do not count, blanked)."""
    blank = CODE_SPAN_RE.sub(lambda m: " " * len(m.group(0)), text)
    out = {}
    for m in REQ_OPEN_RE.finditer(blank):
        end = specdoc.bracket_end(blank, m.start())
        if end > 0:
            out[m.start()] = end - 1
    return out


def _piece(text, start, end, ctx, brackets):
    """_prose of text[start:end]; `brackets` maps the block's offsets
    of requirement brackets to those of their closing `]`."""
    opens = {o - start for o in brackets if start <= o < end}
    closes = {c - start for c in brackets.values() if start <= c < end}
    return _prose(text[start:end], ctx, opens, closes)


def balance(markup):
    """`markup` with its inline elements properly nested: an end tag
    that closes nothing open is dropped, one that closes an element
    below others closes those first, and what stays open is closed at
    the end. The spec's own text never needs it (check_spec_html.py
    would say); it keeps odd input (a `**` that pairs across a link)
    from breaking the page."""
    out, stack, at = [], [], 0
    for m in INLINE_TAG_RE.finditer(markup):
        out.append(markup[at:m.start()])
        at = m.end()
        closing, tag = m.group(1) == "/", m.group(2)
        if not closing:
            stack.append(tag)
            out.append(m.group(0))
        elif tag in stack:
            while stack[-1] != tag:
                out.append(f"</{stack.pop()}>")
            stack.pop()
            out.append(m.group(0))
    out.append(markup[at:])
    out += [f"</{t}>" for t in reversed(stack)]
    return "".join(out)


def inline(text, ctx):
    """Inline markdown of one block (its lines joined) as HTML."""
    brackets = _bracket_closes(text)
    out, at = [], 0
    for m in CODE_SPAN_RE.finditer(text):
        out.append(_piece(text, at, m.start(), ctx, brackets))
        out.append(f"<code>{esc(m.group(1))}</code>")
        at = m.end()
    out.append(_piece(text, at, len(text), ctx, brackets))
    return balance("".join(out))


def split_row(line):
    """The cells of a table row; a `|` inside a code span is no border."""
    cells, cell, in_code = [], [], False
    for c in line.strip()[1:]:
        if c == "`":
            in_code = not in_code
        if c == "|" and not in_code:
            cells.append("".join(cell).strip())
            cell = []
        else:
            cell.append(c)
    return cells


def render_fence(fence, ctx):
    body = esc("\n".join(fence.lines))
    kind = re.sub(r"[^a-z0-9-]", "", fence.info.split(" ")[0]) or "text"
    pre = f'<pre class="{kind}"><code>{body}</code></pre>'
    m = re.match(r"parley-frame example=([a-z0-9-]+)( invalid)?$",
                 fence.info)
    if m:
        what = "invalid example" if m.group(2) else "example"
        return (f'<figure id="example-{m.group(1)}"><figcaption>'
                f'<a class="self" href="#example-{m.group(1)}">#</a>{what} '
                f'{m.group(1)}</figcaption>{pre}</figure>')
    return pre


def render_table(rows, ctx):
    head = split_row(rows[0])
    out = ["<table>", "<thead><tr>"]
    out += [f"<th>{inline(c, ctx)}</th>" for c in head]
    out.append("</tr></thead>")
    out.append("<tbody>")
    for line in rows[2:]:
        cells = split_row(line)
        rid = ""
        if ctx.section == "13" and cells and re.fullmatch(r"\d{3}",
                                                         cells[0]):
            rid = f' id="error-{cells[0]}"'
        out.append(f"<tr{rid}>" + "".join(
            f"<td>{inline(c, ctx)}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def render_list(items, ordered, ctx):
    tag = "ol" if ordered else "ul"
    body = "".join(f"<li>{inline(item, ctx)}</li>\n" for item in items)
    return f"<{tag}>\n{body}</{tag}>"


class Renderer:
    """Turns the spec's lines into HTML blocks, in order."""

    def __init__(self, text):
        self.text = text
        self.lines = text.split("\n")
        self.ctx = Context(text)
        self.headings = {k: (level, anchor, number, title) for
                         k, level, anchor, number, title in
                         specrefs.heading_anchors(text)}
        self.fences = {f.start - 1: f for f in specdoc.fences(text)}
        self.refs_title = next((num for _, num, title in
                                specdoc.sections(text) if
                                title.endswith(" " + specrefs.
                                               REFERENCES_TITLE)), None)

    def heading(self, k):
        level, anchor, number, title = self.headings[k]
        if number:
            self.ctx.section = number
            self.ctx.in_references = number == self.refs_title
        return (f'<h{level} id="{anchor}"><a class="self" href="#{anchor}">'
                f'&#167;</a>{inline(title, self.ctx)}</h{level}>')

    def starts_block(self, k):
        line = self.lines[k]
        return (not line.strip() or k in self.headings or k in self.fences
                or line.startswith("|") or ITEM_RE.match(line) is not None)

    def take_list(self, k):
        """(html, next line) of the list starting at line k."""
        ordered = ITEM_RE.match(self.lines[k]).group(2) is not None
        items = []
        while k < len(self.lines):
            m = ITEM_RE.match(self.lines[k])
            if m and (m.group(2) is not None) == ordered:
                items.append(m.group(3))
            elif (self.lines[k].startswith(" ") and self.lines[k].strip()
                  and items):
                items[-1] += "\n" + self.lines[k].strip()
            else:
                break
            k += 1
        return render_list(items, ordered, self.ctx), k

    def block(self, k):
        """(html, next line) of the block starting at line k."""
        line = self.lines[k]
        if k in self.fences:
            fence = self.fences[k]
            return render_fence(fence, self.ctx), fence.end
        if k in self.headings:
            return self.heading(k), k + 1
        if (line.startswith("|") and k + 1 < len(self.lines)
                and ROW_SEP_RE.match(self.lines[k + 1])):
            j = k + 2
            while j < len(self.lines) and self.lines[j].startswith("|"):
                j += 1
            return render_table(self.lines[k:j], self.ctx), j
        if ITEM_RE.match(line):
            return self.take_list(k)
        j = k + 1
        while j < len(self.lines) and not self.starts_block(j):
            j += 1
        para = "\n".join(x.strip() for x in self.lines[k:j])
        return f"<p>{inline(para, self.ctx)}</p>", j

    def body(self):
        out, k = [], 0
        while k < len(self.lines):
            if not self.lines[k].strip():
                k += 1
                continue
            markup, k = self.block(k)
            out.append(markup)
        return out

    def toc(self):
        """The contents: numbered headings of levels 2 and 3, nested."""
        entries = [(level, anchor, title) for level, anchor, number, title
                   in (self.headings[k] for k in sorted(self.headings))
                   if number and level in (2, 3)]
        out, open_sub = ['<nav id="contents"><h2>Contents</h2>', "<ul>"], False
        for level, anchor, title in entries:
            link = f'<a href="#{anchor}">{esc(title)}</a>'
            if level == 2:
                out.append("</ul></li>" if open_sub else "")
                out.append(f"<li>{link}<ul>")
                open_sub = True
            elif open_sub:
                out.append(f"<li>{link}</li>")
        if open_sub:
            out.append("</ul></li>")
        out += ["</ul>", "</nav>"]
        return "\n".join(x for x in out if x)


def render(text):
    """The whole page for the spec `text`."""
    r = Renderer(text)
    blocks = r.body()
    title = next((t for _, (lv, _, _, t) in sorted(r.headings.items())
                  if lv == 1), "Parley/1")
    # the contents go after the title and the status line
    at = 2 if len(blocks) > 1 and blocks[1].startswith("<p>") else 1
    blocks[at:at] = [r.toc()]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
            "<meta charset=\"utf-8\">\n"
            f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n"
            "</head>\n<body>\n" + "\n".join(blocks) + "\n</body>\n</html>\n")


def main(argv):
    out, rest, k = None, [], 0
    while k < len(argv):
        if argv[k] == "--out" and k + 1 < len(argv):
            out = argv[k + 1]
            k += 2
            continue
        rest.append(argv[k])
        k += 1
    root = rest[0] if rest else os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))
    out = out or os.path.join(root, OUT_DEFAULT)
    page = render(specdoc.read_spec(root))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        f.write(page)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
