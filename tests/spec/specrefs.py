"""Cross references of spec/parley-1.md and the anchors they point to.

Shared by spec_lint.py (every reference resolves) and spec_render.py
(every reference becomes a link), so that the two agree on what a
reference is:

- a section reference: "section 4.2", "sections 5 to 9", "Section 14.3";
  one that names a section of another document ("RFC 9110, section
  11.6.1", "its sections 5.6.2 to 5.6.4") is not the spec's;
- a requirement reference: an id such as "AUTH-1" whose family is one
  the spec's requirements use (so "UTF-8" and "SHA-256" are not);
- an RFC citation: "RFC 9110";
- a markdown link `[text](target)`.

Anchors of the rendering: `section-N.M` for a numbered heading, the
parent's anchor and a slug for an unnumbered one, the id itself for a
requirement (`CALL-3`), `example-NAME` for a worked example, `error-NNN`
for a registry code, `ref-rfcNNNN` for an entry of the references.
"""

import re

import specdoc

SECTION_REF_RE = re.compile(
    r"\b[Ss]ections?\s+(\d+(?:\.\d+)*)"
    r"((?:\s*(?:,|,?\s+and|,?\s+or|\s+to)\s+\d+(?:\.\d+)*)*)")
NUMBER_RE = re.compile(r"\d+(?:\.\d+)*")
# What before a section reference makes it another document's.
FOREIGN_BEFORE_RE = re.compile(
    r"(?:(?:\bRFC\s+\d+|\b[A-Z]+-\d{4})\s*[,(]?|\bits)\s*$")
FOREIGN_AFTER_RE = re.compile(r"^\s+of\s+(?:RFC|BCP|the\s+RFC)\b")
ID_MENTION_RE = re.compile(r"\b([A-Z][A-Z0-9]*)-([0-9]+)\b(?![-.][0-9A-Za-z])")
RFC_RE = re.compile(r"\bRFC\s+(\d{3,5})\b")
LINK_RE = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
REFERENCES_TITLE = "References"


class Ref:
    """One reference found in a text: kind ("section", "id", "rfc",
    "link"), where it is (start, end), and its target (a section
    number, an id, an RFC number, a link target)."""

    def __init__(self, kind, start, end, target):
        self.kind = kind
        self.start = start
        self.end = end
        self.target = target


def section_refs(text, foreign=False):
    """Section references of `text`, one Ref per number (the first one
    spans "section" too); references to other documents' sections are
    left out unless `foreign`."""
    out = []
    for m in SECTION_REF_RE.finditer(text):
        before = text[max(0, m.start() - 40):m.start()]
        after = text[m.end():m.end() + 20]
        if not foreign and (FOREIGN_BEFORE_RE.search(before)
                            or FOREIGN_AFTER_RE.match(after)):
            continue
        for k, n in enumerate(NUMBER_RE.finditer(m.group(0))):
            # the first reference takes the word "section" with it
            start = m.start() + (0 if k == 0 else n.start())
            out.append(Ref("section", start, m.start() + n.end(),
                           n.group(0)))
    return out


def id_refs(text, families):
    """Mentions of requirement ids whose family is in `families`."""
    return [Ref("id", m.start(), m.end(), m.group(0))
            for m in ID_MENTION_RE.finditer(text)
            if m.group(1) in families]


def rfc_refs(text):
    return [Ref("rfc", m.start(), m.end(), m.group(1))
            for m in RFC_RE.finditer(text)]


def link_refs(text):
    return [Ref("link", m.start(), m.end(), m.group(2))
            for m in LINK_RE.finditer(text)]


def families(ids):
    """The families ("SEND") of requirement ids ("SEND-3")."""
    return {rid.rsplit("-", 1)[0] for rid in ids}


def slug(title):
    """Lower-case words of a title joined by '-'."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    return "-".join(words) or "x"


def heading_anchors(text):
    """[(line index, level, anchor, number, title)] of every heading
    outside code blocks, in order; every anchor is unique."""
    out, used, parent = [], set(), "top"
    clean = specdoc.prose(text).split("\n")
    raw = text.split("\n")
    for k, line in enumerate(clean):
        m = specdoc.HEADING_RE.match(line)
        if not m:
            continue
        title = specdoc.HEADING_RE.match(raw[k]).group(2)
        n = specdoc.SECTION_NUM_RE.match(title)
        if n:
            anchor = parent = f"section-{n.group(1)}"
        else:
            anchor = f"{parent}-{slug(title)}"
        base, i = anchor, 2
        while anchor in used:
            anchor, i = f"{base}-{i}", i + 1
        used.add(anchor)
        out.append((k, len(m.group(1)), anchor, n.group(1) if n else "",
                    title))
    return out


def references_span(text):
    """(start, end) of the references section, or None."""
    for start, number, title in specdoc.sections(text):
        if title.endswith(" " + REFERENCES_TITLE):
            return specdoc.section_span(text, number)
    return None


def all_anchors(text):
    """Every anchor the rendering of `text` holds."""
    anchors = {a for _, _, a, _, _ in heading_anchors(text)}
    reqs, _ = specdoc.requirements(text)
    anchors |= {r.id for r in reqs}
    for f in specdoc.fences(text):
        m = re.match(r"parley-frame example=([a-z0-9-]+)", f.info)
        if m:
            anchors.add(f"example-{m.group(1)}")
    anchors |= {f"error-{code}" for code, _, _, _ in
                specdoc.registry_rows(text)}
    span = references_span(text)
    if span:
        anchors |= {f"ref-rfc{r.target}" for r in
                    rfc_refs(text[span[0]:span[1]])}
    return anchors
