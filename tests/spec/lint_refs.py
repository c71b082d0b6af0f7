"""Reference checks of spec_lint.py: every cross reference of the spec
resolves.

- "section N.M" names a numbered heading of the spec (references to
  another document's sections, "RFC 9110, section 11.6.1", are not
  checked, nor any in the references section itself);
- a requirement id mentioned in prose ("AUTH-1", "(HTTP-12)") is one the
  spec gives, and not a retired one;
- a markdown link to `#anchor` names an anchor of the rendering, and one
  to a relative path names a file of the repository;
- a repository path in a code span (`tests/unit/test_call.c`) exists;
- every RFC cited is listed in the references section, and every RFC
  listed there is cited.
"""

import os
import re

import reqids
import specdoc
import specrefs

# A code span that names a file or directory of the repository: a path
# under one of its top-level directories.
PATH_SPAN_RE = re.compile(r"`((?:spec|tests|conformance|libparley|include|"
                          r"ref-server|ref-client|hostlib|simulator|"
                          r"scripts)/[A-Za-z0-9_./-]*)`")


def without_fences(text):
    """`text` with the lines of fenced blocks blanked (offsets kept)."""
    lines = text.split("\n")
    for f in specdoc.fences(text):
        for k in range(f.start - 1, min(f.end, len(lines))):
            lines[k] = " " * len(lines[k])
    return "\n".join(lines)


def check_sections(clean, text, report):
    """Section references against the numbered headings."""
    numbers = {num for _, num, _ in specdoc.sections(text)}
    refs_span = specrefs.references_span(text) or (len(text), len(text))
    for ref in specrefs.section_refs(clean):
        if refs_span[0] <= ref.start < refs_span[1]:
            continue
        if ref.target not in numbers:
            report.add(specdoc.line_of(text, ref.start),
                       f"reference to section {ref.target}, which does "
                       "not exist")


def check_ids(clean, text, reqs, root, report):
    """Requirement ids named in prose exist and are not retired."""
    given = {r.id for r in reqs}
    listed = reqids.read_list(root)
    retired = {rid for rid, r, _ in listed[0] if r} if listed else set()
    fams = specrefs.families(given | retired)
    for ref in specrefs.id_refs(clean, fams):
        if any(r.start <= ref.start < r.start + len(r.id) + 1
               for r in reqs):
            continue   # the id that opens its own bracket
        line = specdoc.line_of(text, ref.start)
        if ref.target in retired:
            report.add(line, f"reference to {ref.target}, a retired "
                             "requirement")
        elif ref.target not in given:
            report.add(line, f"reference to requirement {ref.target}, "
                             "which does not exist")


def check_links(clean, text, root, report):
    """Markdown links and repository paths in code spans."""
    anchors = specrefs.all_anchors(text)
    spec_dir = os.path.dirname(os.path.join(root, specdoc.SPEC_PATH))
    for ref in specrefs.link_refs(clean):
        line = specdoc.line_of(text, ref.start)
        target = ref.target
        if target.startswith("#"):
            if target[1:] not in anchors:
                report.add(line, f"link to {target}: no such anchor")
        elif "://" not in target and not target.startswith("mailto:"):
            path = os.path.join(spec_dir, target.split("#")[0])
            if not os.path.exists(path):
                report.add(line, f"link to {target}: no such file")
    for m in PATH_SPAN_RE.finditer(without_fences(text)):
        if not os.path.exists(os.path.join(root, m.group(1))):
            report.add(specdoc.line_of(text, m.start()),
                       f"path {m.group(1)} does not exist")


def check_rfcs(text, report):
    """RFCs cited against the references section."""
    span = specrefs.references_span(text)
    if span is None:
        report.add(0, "no references section")
        return
    listed = {r.target for r in specrefs.rfc_refs(text[span[0]:span[1]])}
    cited = set()
    for ref in specrefs.rfc_refs(text[:span[0]] + " " * (span[1] - span[0])
                                 + text[span[1]:]):
        cited.add(ref.target)
        if ref.target not in listed:
            report.add(specdoc.line_of(text, ref.start),
                       f"RFC {ref.target} is cited but not listed in the "
                       "references")
    for rfc in sorted(listed - cited, key=int):
        report.add(0, f"RFC {rfc} is listed in the references but never "
                      "cited")


def check_references(root, text, reqs, report):
    clean = specdoc.prose(text)
    check_sections(clean, text, report)
    check_ids(clean, text, reqs, root, report)
    check_links(clean, text, root, report)
    check_rfcs(text, report)
