#!/usr/bin/env python3
"""Writes the Parley/1 frame test vectors of this directory (README.md
says what they hold and how to load them).

    gen_vectors.py [--check] [ROOT]

Without --check it writes every vector file. With --check it writes
nothing: it exits 1, naming each file, when a committed file differs from
what it would write now or when a .json file here is not one it writes.
ROOT defaults to the repository holding this script.

Every expectation is stated here by construction, never by running a
decoder: a valid frame is built from its verb, headers and body, which
are then its expected values; an invalid input is built as the octets
before its fault and the octets from the fault on, so the offset of the
fault is the length of the first part. The worked examples of section 15
are copied from the spec with the values of their JSON blocks; only
their offsets are stated here. Standard library only.
"""

import base64
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                "tests", "spec"))
import specdoc  # noqa: E402

FORMAT = "parley-vectors 1"
DEFAULT_LIMITS = {"frame_size": 65536, "header_count": 32,
                  "header_line": 1024, "verb": 32}
# Inputs longer than this are given in base64 and without "text".
HEX_MAX = 4096

# The requirement each error illustrates.
REASON_REQS = {
    "bad-start-line": ["FRAME-1"],
    "bad-header-name": ["FRAME-1"],
    "bad-header-value": ["FRAME-1"],
    "bad-utf8": ["FRAME-5"],
    "length-required": ["FRAME-4", "WS-2"],
    "bad-length": ["FRAME-4"],
    "frame-too-large": ["FRAME-2", "FRAME-4"],
    "header-too-long": ["FRAME-2"],
    "too-many-headers": ["FRAME-2"],
    "truncated-frame": ["WS-2"],
    "extra-data": ["WS-2"],
    "duplicate-header": ["FRAME-6"],
}
# The "where" column of section 2.8's table.
WHERE = ("start line", "header name", "header value", "header line",
         "header lines", "content-length", "body", "WebSocket message")


def frame(verb, headers, body=None):
    """A valid frame: (octets, expected values).

    `headers` are (name, value) pairs of str or bytes; a content-length
    whose value is None gets the body's length in octets. Without
    content-length the body must be empty."""
    head = [_b(verb) + b"\r\n"]
    pairs = []
    body = _b(body or b"")
    for name, value in headers:
        value = str(len(body)) if value is None else value
        head.append(_b(name) + b": " + _b(value) + b"\r\n")
        pairs.append([_b(name).decode("utf-8"), _b(value).decode("utf-8")])
    if body and not any(n == "content-length" for n, _ in pairs):
        raise ValueError("a body needs content-length")
    octets = b"".join(head) + b"\r\n" + body
    return octets, {"verb": _b(verb).decode("ascii"), "headers": pairs,
                    "body": body.decode("utf-8")}


def _b(x):
    return x.encode("utf-8") if isinstance(x, str) else bytes(x)


class File:
    """One vector file: its vectors, in the order they are added."""

    def __init__(self, stem, title, limits=None, reqs=()):
        self.stem = stem
        self.title = title
        self.limits = dict(DEFAULT_LIMITS, **(limits or {}))
        self.reqs = list(reqs)   # added to every vector of the file
        self.vectors = []
        self.codes = {}

    def _add(self, name, title, reqs, mode, octets, expect, extra=None):
        vid = f"{self.stem}.{name}"
        if any(v["id"] == vid for v in self.vectors):
            raise ValueError(f"vector {vid} given twice")
        v = {"id": vid, "title": title,
             "reqs": sorted(set(list(reqs) + self.reqs +
                                (["WS-1"] if mode == "message"
                                 else ["STREAM-1"])), key=_req_key),
             "mode": mode}
        v.update(extra or {})
        v.update(_input(octets))
        v["expect"] = expect
        self.vectors.append(v)

    def error(self, reason, offset, where):
        if where is not None and where not in WHERE:
            raise ValueError(f"unknown where {where!r}")
        e = {"reason": reason, "code": self.codes[reason], "offset": offset}
        if where is not None:
            e["where"] = where
        return e

    def valid(self, name, title, reqs, built, extra=None):
        """A message holding the frame `built` (from frame())."""
        octets, values = built
        self._add(name, title, reqs, "message", octets, {"frame": values},
                  extra)

    def bad(self, name, title, reqs, before, rest, reason, where,
            extra=None):
        """A message whose first fault is the first octet of `rest`."""
        before, rest = _b(before), _b(rest)
        self.bad_at(name, title, reqs, before + rest, reason, len(before),
                    where, extra)

    def bad_at(self, name, title, reqs, octets, reason, offset, where,
               extra=None):
        reqs = list(reqs) + REASON_REQS[reason]
        self._add(name, title, reqs, "message", _b(octets),
                  {"error": self.error(reason, offset, where)}, extra)

    def stream(self, name, title, reqs, frames, tail=b"", error=None):
        """A stream of the frames `frames` (from frame()), then `tail`:
        the start of an unfinished frame, or, when `error` is (reason,
        offset in tail, where), a frame that fails there."""
        octets = b"".join(f[0] for f in frames) + _b(tail)
        expect = {"frames": [f[1] for f in frames]}
        if error is None:
            expect["pending"] = len(_b(tail))
        else:
            reason, offset, where = error
            reqs = list(reqs) + REASON_REQS[reason]
            e = self.error(reason, offset, where)
            e["frame_start"] = len(octets) - len(_b(tail))
            expect["error"] = e
        self._add(name, title, reqs, "stream", octets, expect)

    def document(self):
        return {"format": FORMAT, "spec_version": "1", "title": self.title,
                "limits": self.limits, "vectors": self.vectors}


def _req_key(rid):
    family, num = rid.rsplit("-", 1)
    return family, int(num)


def _input(octets):
    """The input fields of a vector: text when UTF-8, hex or base64."""
    out = {}
    if len(octets) > HEX_MAX:
        out["base64"] = base64.b64encode(octets).decode("ascii")
        return out
    try:
        out["text"] = octets.decode("utf-8")
    except UnicodeDecodeError:
        pass
    out["hex"] = octets.hex()
    return out


# ---- section 15 ---------------------------------------------------------

# Where each invalid example fails: (where, offset locator). The spec's
# JSON blocks name only the reason; a new invalid example needs a line
# here.
EXAMPLE_FAULTS = {
    "bad-start-line": ("start line", lambda w: 0),
    "verb-too-long": ("start line", lambda w: 32),
    "bad-header-name": ("header name", lambda w: w.index(b"Conv")),
    "bad-header-value": ("header value", lambda w: w.index(b"\t")),
    "bad-utf8": ("body", lambda w: w.index(b"\xc0")),
    "bad-length": ("content-length", lambda w: w.index(b"05\r\n")),
    "duplicate-header": ("header name", lambda w: w.index(b"conv: c9b10")),
    "length-required": ("WebSocket message",
                        lambda w: w.index(b"\r\n\r\n") + 4),
    "truncated": ("WebSocket message", len),
    "extra-data": ("WebSocket message", lambda w: w.index(b"llo")),
    "frame-too-large": ("content-length", lambda w: w.index(b"70000")),
}


def spec_examples(root):
    """[(name, title, invalid, wire octets, JSON value)] of section 15."""
    text = specdoc.read_spec(root)
    blocks = specdoc.fences(text)
    lines = text.split("\n")
    out = []
    for k, block in enumerate(blocks):
        words = block.info.split()
        if not words or words[0] != "parley-frame":
            continue
        name = words[1][len("example="):]
        js = blocks[k + 1]
        if js.info != f"json example={name}":
            raise ValueError(f"example {name}: no JSON block after it")
        title = ""
        for j in range(block.start - 1, -1, -1):
            if lines[j].startswith("#"):
                title = lines[j].lstrip("#").strip()
                break
        out.append((name, title, "invalid" in words[2:],
                    _example_wire(block.lines),
                    json.loads("\n".join(js.lines))))
    return out


def _example_wire(lines):
    """Section 15's rule: lines up to the first empty one end with CRLF;
    the rest are the body, joined with CRLF."""
    out, i = [], 0
    while i < len(lines):
        out.append(lines[i] + "\r\n")
        i += 1
        if out[-1] == "\r\n":
            break
    out.append("\r\n".join(lines[i:]))
    return "".join(out).encode("utf-8", "surrogateescape")


def build_spec(f, examples):
    for name, title, invalid, wire, want in examples:
        extra = {"spec_example": name}
        label = f"section 15 example {name}: {title}"
        if not invalid:
            reqs = ["FRAME-1", "FRAME-5"]
            names = [h[0] for h in want["headers"]]
            if "content-length" in names:
                reqs.append("FRAME-4")
            if any(n.startswith("x-") or n == "priority" for n in names):
                reqs.append("EXT-1")
            f.valid(name, label, reqs, (wire, want), extra)
            continue
        if name not in EXAMPLE_FAULTS:
            raise ValueError(f"invalid example {name}: add its offset to "
                             "EXAMPLE_FAULTS")
        where, locate = EXAMPLE_FAULTS[name]
        f.bad_at(name, label, [], wire, want["error"], locate(wire), where,
                 extra)


# ---- grammar, case and whitespace ---------------------------------------

def _grammar_valid(f):
    """Valid frames: verbs, names, values, bodies."""
    v = f.valid
    fr = frame
    v("verb-only", "a frame of a verb alone", ["FRAME-1"], fr("PING", []))
    v("verb-one-letter", "a verb of one letter", ["FRAME-1"], fr("A", []))
    v("verb-digits-dashes", "a verb with digits and dashes, ending in one",
      ["FRAME-1"], fr("X-1-2-", []))
    v("verb-unknown", "a verb no version defines is still a frame",
      ["FRAME-1"], fr("FROBNICATE", [("x", "1")]))
    v("name-one-letter", "a header name of one letter", ["FRAME-1"],
      fr("PING", [("n", "1")]))
    v("name-digits-dashes", "header names with digits and dashes, one "
      "ending in a dash", ["FRAME-1"],
      fr("A", [("x-9-a", "v"), ("b-", "w"), ("c0", "z")]))
    v("unknown-headers", "headers Parley/1 does not define are decoded "
      "like any other", ["FRAME-1", "EXT-1"],
      fr("PING", [("x-private", "1"), ("zz", "2"), ("nonce", "n1")]))
    v("empty-value", "an empty header value", ["FRAME-1"],
      fr("HELLO", [("caps", ""), ("versions", "1")]))
    v("value-leading-spaces", "spaces after the one that follows the colon "
      "belong to the value", ["FRAME-1"],
      fr("TYPING", [("x-note", "  a  b  ")]))
    v("value-only-spaces", "a value of spaces only", ["FRAME-1"],
      fr("TYPING", [("x-note", "   ")]))
    v("value-colons", "colons in a value", ["FRAME-1"],
      fr("X", [("x-url", "http://h:1/a::b:")]))
    v("value-printable-ascii", "every printable ASCII octet in a value",
      ["FRAME-1"],
      fr("X", [("x-a", bytes(range(0x20, 0x7F)))]))
    v("value-case-kept", "a value's case is kept as sent", ["FRAME-1"],
      fr("AUTH", [("device", "Phone-A"), ("token", "AbC.dEf")]))
    v("header-order-kept", "headers come out in the order of the frame",
      ["FRAME-1"],
      fr("SEND", [("z", "1"), ("a", "2"), ("m", "3"),
                  ("content-length", None)], "x"))
    v("length-first", "content-length before the other headers",
      ["FRAME-1", "FRAME-4"],
      fr("MSG", [("content-length", None), ("conv", "c1")], "hi"))
    v("length-zero", "content-length 0 and no body", ["FRAME-4"],
      fr("BYE", [("content-length", "0")]))
    v("length-zero-then-header", "content-length 0 followed by a header",
      ["FRAME-4"], fr("PING", [("content-length", "0"), ("nonce", "n")]))
    v("body-crlf", "a body holding CRLF, bare LF and bare CR",
      ["FRAME-4", "FRAME-5"],
      fr("SEND", [("content-length", None)], "l1\r\nl2\nl3\rl4\r\n"))
    v("body-starts-with-crlf", "a body that starts with CRLF after the "
      "blank line", ["FRAME-4"],
      fr("SEND", [("content-length", None)], "\r\n\r\nx"))
    v("body-controls", "a body holding NUL, tab, other controls and DEL",
      ["FRAME-4", "FRAME-5", "SEC-18"],
      fr("SEND", [("content-length", None)], "a\x00b\tc\x01\x1b\x7fz\x00"))
    v("body-looks-like-frame", "a body holding the octets of a frame",
      ["FRAME-4"],
      fr("SEND", [("content-length", None)], "PING\r\n\r\n"))
    v("body-spaces", "a body of spaces", ["FRAME-4"],
      fr("SEND", [("content-length", None)], "   "))


def _grammar_start_line(f):
    """Start lines that break the verb rule."""
    bad = f.bad
    S = ["FRAME-1"]
    bad("lower-case-verb", "a lower-case verb", S, "", "send\r\n\r\n",
        "bad-start-line", "start line")
    bad("mixed-case-verb", "a verb with a lower-case letter inside", S,
        "S", "eND\r\n\r\n", "bad-start-line", "start line")
    bad("verb-starts-with-digit", "a verb that starts with a digit", S, "",
        "1SEND\r\n\r\n", "bad-start-line", "start line")
    bad("verb-starts-with-dash", "a verb that starts with a dash", S, "",
        "-A\r\n\r\n", "bad-start-line", "start line")
    bad("empty-verb", "an empty start line", S, "", "\r\n\r\n",
        "bad-start-line", "start line")
    bad("leading-space", "a space before the verb", S, "", " SEND\r\n\r\n",
        "bad-start-line", "start line")
    bad("space-after-verb", "a space after the verb", S, "SEND",
        " \r\n\r\n", "bad-start-line", "start line")
    bad("space-in-verb", "a space inside the verb", S, "SE", " ND\r\n\r\n",
        "bad-start-line", "start line")
    bad("tab-after-verb", "a tab after the verb", S, "SEND", "\t\r\n\r\n",
        "bad-start-line", "start line")
    bad("underscore-in-verb", "an underscore in the verb", S, "SE",
        "_ND\r\n\r\n", "bad-start-line", "start line")
    bad("colon-after-verb", "a colon after the verb", S, "SEND",
        ":\r\n\r\n", "bad-start-line", "start line")
    bad("nul-in-verb", "a NUL octet in the verb", S, "S", "\x00ND\r\n\r\n",
        "bad-start-line", "start line")
    bad("non-ascii-letter-in-verb", "a valid non-ASCII letter in the verb",
        S, "S", "\u00c9ND\r\n\r\n", "bad-start-line", "start line")
    bad("verb-is-euro-sign", "a verb that is a non-ASCII character", S, "",
        "\u20ac\r\n\r\n", "bad-start-line", "start line")


def _grammar_line_ends(f):
    """Bare LF and CR where CRLF belongs."""
    bad = f.bad
    S = ["FRAME-1"]
    bad("lf-after-verb", "a bare LF ends the start line", S, "SEND",
        "\nconv: c\r\n\r\n", "bad-start-line", "start line")
    bad("lf-only-frame", "a frame whose lines all end with LF", S, "PING",
        "\nnonce: n1\n\n", "bad-start-line", "start line")
    bad("cr-after-verb", "a bare CR after the verb: the octet after it is "
        "the fault", S, "SEND\r", "conv: c\r\n\r\n", "bad-start-line",
        "start line")
    bad("cr-cr-lf-after-verb", "CR CR LF after the verb", S, "SEND\r",
        "\r\n\r\n", "bad-start-line", "start line")
    bad("lf-cr-after-verb", "LF CR after the verb", S, "SEND", "\n\r\n\r\n",
        "bad-start-line", "start line")
    bad("lf-ends-header-line", "a bare LF ends a header line",
        ["FRAME-1"], "PING\r\nnonce: n1", "\n\r\n", "bad-header-value",
        "header value")
    bad("lf-as-blank-line", "a bare LF as the blank line", S,
        "SEND\r\nconv: c\r\n", "\nhello", "bad-header-name", "header name")
    bad("cr-as-blank-line", "a bare CR as the blank line: the octet after "
        "it is the fault", S, "SEND\r\nconv: c\r\n\r", "hello",
        "bad-header-name", "header name")
    bad("cr-after-start-line", "a CR not followed by LF where a header "
        "line starts", S, "SEND\r\n\r", "conv: c\r\n\r\n", "bad-header-name",
        "header name")


def _grammar_names(f):
    """Header names that break the grammar."""
    bad = f.bad
    S = ["FRAME-1"]
    bad("upper-case-name", "a header name starting with an upper-case "
        "letter", S, "SEND\r\n", "Conv: c1\r\n\r\n", "bad-header-name",
        "header name")
    bad("upper-case-inside-name", "an upper-case letter inside a header "
        "name", S, "SEND\r\nco", "Nv: c1\r\n\r\n", "bad-header-name",
        "header name")
    bad("capitalized-content-length", "Content-Length is not content-length",
        S, "SEND\r\n", "Content-Length: 5\r\n\r\nhello", "bad-header-name",
        "header name")
    bad("name-starts-with-digit", "a header name starting with a digit", S,
        "SEND\r\n", "1conv: c1\r\n\r\n", "bad-header-name", "header name")
    bad("name-starts-with-dash", "a header name starting with a dash", S,
        "SEND\r\n", "-a: c1\r\n\r\n", "bad-header-name", "header name")
    bad("empty-name", "a header line starting with its colon", S,
        "SEND\r\n", ": c1\r\n\r\n", "bad-header-name", "header name")
    bad("space-before-colon", "a space between name and colon", S,
        "SEND\r\nconv", " : c1\r\n\r\n", "bad-header-name", "header name")
    bad("tab-before-colon", "a tab between name and colon", S,
        "SEND\r\nconv", "\t: c1\r\n\r\n", "bad-header-name", "header name")
    bad("folded-line", "a header line starting with a space (folding)", S,
        "SEND\r\nconv: a\r\n", " b\r\n\r\n", "bad-header-name",
        "header name")
    bad("no-colon", "a header line without a colon", S, "SEND\r\nconv",
        "\r\n\r\n", "bad-header-name", "header name")
    bad("underscore-in-name", "an underscore in a header name", S,
        "SEND\r\nte", "_mp: c\r\n\r\n", "bad-header-name", "header name")
    bad("dot-in-name", "a dot in a header name", S, "SEND\r\nx", ".y: c"
        "\r\n\r\n", "bad-header-name", "header name")
    bad("non-ascii-name", "a header name of non-ASCII letters", S,
        "SEND\r\n", "\u00e9t\u00e9: c\r\n\r\n", "bad-header-name",
        "header name")
    bad("invalid-utf8-name", "an octet that is not UTF-8 where a header "
        "name starts is bad-header-name, not bad-utf8", S, "SEND\r\n",
        b"\xff: c\r\n\r\n", "bad-header-name", "header name")
    bad("invalid-utf8-inside-name", "an octet that is not UTF-8 inside a "
        "header name", S, "SEND\r\nx", b"\xc0\xaf: c\r\n\r\n",
        "bad-header-name", "header name")
    bad("non-ascii-inside-name", "a valid non-ASCII letter inside a header "
        "name", S, "SEND\r\nna", "\u00efve: c\r\n\r\n",
        "bad-header-name", "header name")


def _grammar_values(f):
    """Header values that break the grammar."""
    bad = f.bad
    V = ["FRAME-1"]
    bad("no-space-after-colon", "no space after the colon", V,
        "SEND\r\nconv:", "c1\r\n\r\n", "bad-header-value", "header value")
    bad("tab-after-colon", "a tab instead of the space after the colon", V,
        "SEND\r\nconv:", "\tc1\r\n\r\n", "bad-header-value", "header value")
    bad("no-space-empty-value", "a colon right before CRLF", V,
        "SEND\r\nconv:", "\r\n\r\n", "bad-header-value", "header value")
    for octet, label in ((0x00, "NUL"), (0x01, "SOH"), (0x09, "tab"),
                         (0x1B, "ESC"), (0x1F, "US"), (0x7F, "DEL")):
        bad(f"value-{label.lower()}", f"{label} (0x{octet:02X}) in a header "
            "value", V, "SEND\r\nconv: a", bytes([octet]) + b"b\r\n\r\n",
            "bad-header-value", "header value")
    bad("value-bare-lf", "a bare LF inside a header value", V,
        "SEND\r\nconv: c1", "\nx: y\r\n\r\n", "bad-header-value",
        "header value")
    bad("value-bare-cr", "a bare CR inside a header value: the CR is the "
        "fault", V, "SEND\r\nconv: c1", "\rx\r\n\r\n", "bad-header-value",
        "header value")
    bad("value-cr-cr-lf", "CR CR LF after a header value", V,
        "SEND\r\nconv: c1", "\r\r\n\r\n", "bad-header-value",
        "header value")


def _grammar_duplicates(f):
    """Header names given twice."""
    v = f.valid
    bad = f.bad
    fr = frame
    D = ["FRAME-6"]
    bad("duplicate", "a header name given twice", D, "SEND\r\nconv: a\r\n",
        "conv: b\r\n\r\n", "duplicate-header", "header name")
    bad("duplicate-same-value", "a header given twice with the same value",
        D, "SEND\r\nconv: a\r\nx: 1\r\n", "conv: a\r\n\r\n",
        "duplicate-header", "header name")
    bad("duplicate-unknown", "an unknown header given twice", D + ["EXT-1"],
        "SEND\r\nx-a: 1\r\n", "x-a: 1\r\n\r\n", "duplicate-header",
        "header name")
    bad("duplicate-length", "content-length given twice with one value", D,
        "SEND\r\ncontent-length: 1\r\n", "content-length: 1\r\n\r\nx",
        "duplicate-header", "header name")
    bad("duplicate-before-bad-value", "a repeat is found at its colon, "
        "before its bad value", D + ["FRAME-10"], "SEND\r\nconv: a\r\n",
        "conv:\tb\r\n\r\n", "duplicate-header", "header name")
    v("names-differ-by-prefix", "names that share a prefix are different "
      "names", ["FRAME-6"],
      fr("SEND", [("con", "1"), ("conv", "2"), ("conv-x", "3")]))


def _grammar_first_fault(f):
    """Frames with several faults: the first met."""
    bad = f.bad
    F = ["FRAME-10"]
    bad("first-fault-verb", "a bad verb before a bad header name", F, "",
        "send\r\nConv: x\r\n\r\n", "bad-start-line", "start line")
    bad("first-fault-name", "a bad header name before bad UTF-8 in the "
        "body", F, "SEND\r\ncontent-length: 2\r\n", b"X: 1\r\n\r\n\xc3(",
        "bad-header-name", "header name")
    bad("first-fault-duplicate", "a repeat before a malformed "
        "content-length", F, "SEND\r\nconv: a\r\n",
        "conv: a\r\ncontent-length: 05\r\n\r\nhello", "duplicate-header",
        "header name")
    bad("first-fault-length", "a malformed content-length before bad UTF-8 "
        "in the body", F, "SEND\r\ncontent-length: ", b"05\r\n\r\n\xff\xff"
        b"\xff\xff\xff", "bad-length", "content-length")
    bad("first-fault-value-utf8", "bad UTF-8 in a value before a later bad "
        "header name", F, "SEND\r\nx: a", b"\xc0\xaf\r\nY: 1\r\n\r\n",
        "bad-utf8", "header value")


def build_grammar(f):
    """The frame grammar, case and whitespace (sections 2.1, 2.2, 2.4)."""
    _grammar_valid(f)
    _grammar_start_line(f)
    _grammar_line_ends(f)
    _grammar_names(f)
    _grammar_values(f)
    _grammar_duplicates(f)
    _grammar_first_fault(f)


# ---- UTF-8 --------------------------------------------------------------

# (name, octets, what) of sequences RFC 3629 forbids; the fault is at the
# first octet of each, unless `skip` says how many valid octets lead.
UTF8_BAD = [
    ("overlong-2", b"\xc0\xaf", "an overlong 2-octet form of '/'"),
    ("overlong-2-c1", b"\xc1\xbf", "an overlong 2-octet form (C1 BF)"),
    ("overlong-2-nul", b"\xc0\x80", "an overlong NUL (C0 80)"),
    ("overlong-3", b"\xe0\x80\xaf", "an overlong 3-octet form of '/'"),
    ("overlong-3-max", b"\xe0\x9f\xbf", "the largest overlong 3-octet form"),
    ("overlong-4", b"\xf0\x80\x80\xaf", "an overlong 4-octet form of '/'"),
    ("overlong-4-max", b"\xf0\x8f\xbf\xbf",
     "the largest overlong 4-octet form"),
    ("surrogate-high-first", b"\xed\xa0\x80", "the surrogate U+D800"),
    ("surrogate-high-last", b"\xed\xaf\xbf", "the surrogate U+DBFF"),
    ("surrogate-low-first", b"\xed\xb0\x80", "the surrogate U+DC00"),
    ("surrogate-low-last", b"\xed\xbf\xbf", "the surrogate U+DFFF"),
    ("surrogate-pair", b"\xed\xa0\xbd\xed\xb8\x80",
     "a surrogate pair encoded as two sequences (CESU-8)"),
    ("past-max", b"\xf4\x90\x80\x80", "U+110000, past U+10FFFF"),
    ("past-max-f4-top", b"\xf4\xbf\xbf\xbf", "F4 BF BF BF, past U+10FFFF"),
    ("lead-f5", b"\xf5\x80\x80\x80", "the lead octet F5"),
    ("lead-f7", b"\xf7\xbf\xbf\xbf", "the lead octet F7"),
    ("five-octets", b"\xf8\x88\x80\x80\x80", "a 5-octet form"),
    ("six-octets", b"\xfc\x84\x80\x80\x80\x80", "a 6-octet form"),
    ("octet-fe", b"\xfe", "the octet FE"),
    ("octet-ff", b"\xff", "the octet FF"),
    ("truncated-2", b"\xc3z", "a 2-octet sequence cut short by an ASCII "
     "octet"),
    ("truncated-3", b"\xe2\x82z", "a 3-octet sequence cut short after two"),
    ("truncated-4", b"\xf0\x9f\x98z", "a 4-octet sequence cut short after "
     "three"),
    ("truncated-by-lead", b"\xc3\xc3\xa9", "a lead octet followed by "
     "another lead"),
    ("control-inside", b"\xc3\x01", "a control octet inside a sequence"),
    ("stray-continuation", b"\x80", "a continuation octet with no lead"),
    ("stray-continuation-bf", b"\xbf", "the continuation octet BF alone"),
    ("two-continuations", b"\x80\x80", "two continuation octets"),
    ("continuation-after-sequence", b"\xc3\xa9\xa9",
     "a continuation octet after a complete sequence"),
    ("latin-1", b"\xe9t\xe9", "Latin-1 text, not UTF-8"),
]

# Valid characters at the edges of each UTF-8 length and range.
UTF8_EDGES = [
    ("u0080", "\u0080", "U+0080, the first 2-octet character"),
    ("u07ff", "\u07ff", "U+07FF, the last 2-octet character"),
    ("u0800", "\u0800", "U+0800, the first 3-octet character"),
    ("u0fff", "\u0fff", "U+0FFF, the last of the E0 lead"),
    ("u1000", "\u1000", "U+1000, the first of the E1 lead"),
    ("ucfff", "\ucfff", "U+CFFF, the last of the EC lead"),
    ("ud000", "\ud000", "U+D000, the first of the ED lead"),
    ("ud7ff", "\ud7ff", "U+D7FF, the last before the surrogates"),
    ("ue000", "\ue000", "U+E000, the first after the surrogates"),
    ("ufeff", "\ufeff", "U+FEFF, the byte order mark, kept as a character"),
    ("ufffd", "\ufffd", "U+FFFD, the replacement character"),
    ("ufffe", "\ufffe", "U+FFFE, a noncharacter that is valid UTF-8"),
    ("uffff", "\uffff", "U+FFFF, the last 3-octet character"),
    ("u10000", "\U00010000", "U+10000, the first 4-octet character"),
    ("u3ffff", "\U0003ffff", "U+3FFFF, the last of the F0 lead"),
    ("u40000", "\U00040000", "U+40000, the first of the F1 lead"),
    ("ufffff", "\U000fffff", "U+FFFFF, the last of the F3 lead"),
    ("u100000", "\U00100000", "U+100000, the first of the F4 lead"),
    ("u10ffff", "\U0010ffff", "U+10FFFF, the last character"),
]


def _bad_offset(name):
    """Offset of the fault inside a UTF8_BAD sequence."""
    return 2 if name == "continuation-after-sequence" else 0


def build_utf8(f):
    U = ["FRAME-5"]
    for name, octets, what in UTF8_BAD:
        k = _bad_offset(name)
        f.bad(f"value-{name}", f"{what} in a header value", U,
              b"SEND\r\nx-text: a" + octets[:k], octets[k:] + b"b\r\n\r\n",
              "bad-utf8", "header value")
        body = b"a" + octets + b"b"
        f.bad(f"body-{name}", f"{what} in the body", U,
              b"SEND\r\ncontent-length: %d\r\n\r\na" % len(body) + octets[:k],
              octets[k:] + b"b", "bad-utf8", "body")
        if k == 0:  # else a valid character before it is the verb's fault
            f.bad(f"verb-{name}", f"{what} in the verb", U, b"S",
                  octets + b"ND\r\n\r\n", "bad-utf8", "start line")
    for name, char, what in UTF8_EDGES:
        f.valid(f"value-{name}", f"{what}, in a header value", U,
                frame("MSG", [("x-text", f"<{char}>")]))
        f.valid(f"body-{name}", f"{what}, in the body", U,
                frame("MSG", [("content-length", None)], f"<{char}>"))
        f.bad(f"verb-{name}", f"{what}, in the verb: valid UTF-8 but not a "
              "verb character", ["FRAME-1"], "S", f"{char}\r\n\r\n",
              "bad-start-line", "start line")
    f.valid("all-lengths", "characters of 1, 2, 3 and 4 octets in a value "
            "and the body", U,
            frame("MSG", [("x-text", "a\u00e9\u20ac\U0001f600"),
                          ("content-length", None)],
                  "a\u00e9\u20ac\U0001f600"))
    f.valid("body-nul-character", "U+0000 is valid UTF-8 in a body; a body "
            "is read by its length, not up to a NUL", U + ["SEC-18"],
            frame("MSG", [("content-length", None)], "\x00\x00x\x00"))
    body = b"a\xc3"
    f.bad("body-cut-by-body-end", "a sequence cut short by the end of the "
          "body is bad-utf8", U,
          b"SEND\r\ncontent-length: %d\r\n\r\na" % len(body), b"\xc3",
          "bad-utf8", "body")
    body = b"a\xf0\x9f\x98"
    f.bad("body-cut-by-body-end-4", "a 4-octet sequence cut after three by "
          "the end of the body", U,
          b"SEND\r\ncontent-length: %d\r\n\r\na" % len(body),
          b"\xf0\x9f\x98", "bad-utf8", "body")
    f.bad("body-cut-by-message-end", "a sequence cut short by the end of "
          "the message, inside the body, is truncated-frame", U,
          b"SEND\r\ncontent-length: 4\r\n\r\na\xe2\x82", b"",
          "truncated-frame", "WebSocket message")
    f.bad("value-cut-by-message-end", "a sequence cut short by the end of "
          "the message, inside a header value", U,
          b"SEND\r\nx-text: \xe2\x82", b"", "truncated-frame",
          "WebSocket message")
    f.bad("value-cut-before-crlf", "a sequence cut short by the CRLF of "
          "its header line", U, b"SEND\r\nx-text: ", b"\xe2\x82\r\n\r\n",
          "bad-utf8", "header value")
    f.bad("length-value-not-utf8", "octets that are not UTF-8 in a "
          "content-length value are bad-utf8, met before the value is read "
          "as a number", U + ["FRAME-10"], b"SEND\r\ncontent-length: 1",
          b"\xff\r\n\r\nx", "bad-utf8", "header value")


# ---- content-length -----------------------------------------------------

def build_length(f):
    L = ["FRAME-4"]
    v = f.valid
    v("zero", "content-length 0", L, frame("BYE", [("content-length", "0")]))
    v("one", "a body of one octet", L,
      frame("SEND", [("content-length", None)], "x"))
    v("ten-with-crlf", "the CRLFs inside a body count", L,
      frame("SEND", [("content-length", None)], "ab\r\ncd\r\nef"))
    v("octets-not-characters", "content-length counts octets: 'e-acute' "
      "and the euro sign are 2 and 3", L,
      frame("SEND", [("content-length", None)], "\u00e9\u20acuro"))
    v("no-length-no-body", "a frame without content-length has an empty "
      "body", L, frame("SEND", [("conv", "c1"), ("temp-id", "t")]))
    v("large-within-limit", "a large body within the frame size limit", L,
      frame("SEND", [("content-length", None)], "z" * 3000))
    prefix = "SEND\r\ncontent-length: "
    for name, value, what in (
            ("leading-zero", "05", "a leading zero"),
            ("double-zero", "00", "two zeros"),
            ("zeros", "007", "leading zeros"),
            ("empty", "", "an empty value"),
            ("negative", "-5", "a minus sign"),
            ("plus", "+5", "a plus sign"),
            ("space-before", " 5", "a second space before the number"),
            ("space-after", "5 ", "a space after the number"),
            ("hex", "0x5", "a hexadecimal form"),
            ("letter", "5a", "a letter after the digits"),
            ("exponent", "5e0", "an exponent"),
            ("decimal-point", "5.0", "a decimal point"),
            ("thousands", "1,000", "a thousands separator"),
            ("arabic-indic-digit", "\u0665", "an Arabic-Indic digit five"),
            ("fullwidth-digit", "\uff15", "a fullwidth digit five"),
            ("leading-zero-huge", "0123456789012345678901234567890",
             "a leading zero on a huge number: the form is checked first"),
    ):
        f.bad(name, f"content-length with {what}", L, prefix,
              f"{value}\r\n\r\nhello", "bad-length", "content-length")
    T = ["FRAME-2", "FRAME-4"]
    for name, value, what in (
            ("past-limit", "65537", "one past the frame size limit"),
            ("spec-70000", "70000", "70,000 octets"),
            ("million", "1000000", "a million octets"),
            ("u64-max", "18446744073709551615", "2^64 - 1"),
            ("past-u64", "18446744073709551616", "2^64"),
            ("forty-digits", "1234567890" * 4, "40 digits"),
    ):
        f.bad(f"too-large-{name}", f"content-length of {what}: a well-formed "
              "number of any size past the limit is frame-too-large", T,
              prefix, f"{value}\r\n\r\n", "frame-too-large",
              "content-length")
    f.bad("too-large-no-body-needed", "a length past the limit is refused "
          "when its line ends; no blank line or body is needed", T, prefix,
          "100000\r\nconv: c1\r\n", "frame-too-large", "content-length")
    f.bad("duplicate-different", "content-length given twice with two "
          "values", ["FRAME-6"], "SEND\r\ncontent-length: 5\r\n",
          "content-length: 3\r\n\r\nhello", "duplicate-header",
          "header name")
    f.bad("tab-in-value", "a tab in a content-length value is a grammar "
          "fault before it is a length fault", ["FRAME-10"],
          prefix + "5", "\t\r\n\r\nhello", "bad-header-value",
          "header value")


# ---- messages (WebSocket) -----------------------------------------------

def build_message(f):
    W = ["WS-2"]
    trunc = [
        ("empty", "", "an empty message"),
        ("verb-no-crlf", "PING", "a verb without its CRLF"),
        ("verb-cr", "PING\r", "a verb and CR"),
        ("start-line-only", "PING\r\n", "a start line alone"),
        ("half-blank-line", "PING\r\n\r", "half a blank line"),
        ("in-name", "PING\r\nnon", "a message ending inside a header name"),
        ("after-colon", "PING\r\nnonce:", "a message ending after a colon"),
        ("after-space", "PING\r\nnonce: ", "a message ending after the "
         "space"),
        ("in-value", "PING\r\nnonce: n", "a message ending inside a value"),
        ("value-cr", "PING\r\nnonce: n\r", "a message ending between CR "
         "and LF"),
        ("no-blank-line", "SEND\r\nconv: c1\r\n", "headers without the "
         "blank line"),
        ("in-body", "SEND\r\ncontent-length: 5\r\n\r\nhel",
         "a body shorter than content-length"),
        ("no-body", "SEND\r\ncontent-length: 5\r\n\r\n",
         "content-length and no body"),
    ]
    for name, octets, what in trunc:
        f.bad(f"truncated-{name}", what, W, octets, "", "truncated-frame",
              "WebSocket message")
    f.bad("length-required", "octets after the blank line of a frame "
          "without content-length", W + ["FRAME-4"], "SEND\r\nconv: c1\r\n"
          "\r\n", "hello", "length-required", "WebSocket message")
    f.bad("length-required-two-frames", "two frames without content-length "
          "in one message", W, "PING\r\n\r\n", "PING\r\n\r\n",
          "length-required", "WebSocket message")
    f.bad("length-required-crlf", "a CRLF after a frame without "
          "content-length", W, "PING\r\n\r\n", "\r\n", "length-required",
          "WebSocket message")
    f.bad("extra-octet", "an octet after the body", W,
          "SEND\r\ncontent-length: 2\r\n\r\nhi", "!", "extra-data",
          "WebSocket message")
    f.bad("extra-frame", "a second frame after a frame with "
          "content-length", W, "BYE\r\ncontent-length: 0\r\n\r\n",
          "BYE\r\n\r\n", "extra-data", "WebSocket message")
    f.bad("extra-crlf", "a CRLF after the body", W,
          "SEND\r\ncontent-length: 1\r\n\r\nx", "\r\n", "extra-data",
          "WebSocket message")
    f.bad("extra-after-zero", "octets after content-length 0", W,
          "SEND\r\ncontent-length: 0\r\n\r\n", "hello", "extra-data",
          "WebSocket message")
    f.bad("fault-before-end", "a fault inside the frame comes before the "
          "message's end", W + ["FRAME-10"], "SEND\r\ncontent-length: 9\r\n"
          "\r\nab", b"\xff", "bad-utf8", "body")


# ---- limits at the boundary and one past --------------------------------

VERB32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ-01234"


def _send_hello():
    return frame("SEND", [("conv", "c1"), ("temp-id", "t-1"),
                          ("content-length", None)], "hello")


def _headers(n, width=1):
    """n header lines "hNN: v", all different."""
    return [(f"h{i:02d}", "v" * width) for i in range(n)]


def _long_line(name, line, tail=b""):
    """(name, value) making a header line of `line` octets ending in
    `tail`."""
    fill = line - len(name) - 2 - len(tail)
    return name, b"a" * fill + tail


def _sized(size, verb="SEND", headers=(), first="a"):
    """A valid frame of exactly `size` octets, most of them body: the
    headers, content-length, and letters from `first` on."""
    for digits in range(1, 7):
        head = frame(verb, list(headers) + [("content-length",
                                             "0" * digits)])[0]
        body_len = size - len(head)
        if len(str(body_len)) == digits:
            break
    body = bytes(ord(first) + i % 26 for i in range(body_len))
    built = frame(verb, list(headers) + [("content-length", None)], body)
    assert len(built[0]) == size, len(built[0])
    return built


def _head_len(headers, verb="SEND"):
    """Octets of a frame's start line and header lines, without the
    blank line: where its next header line would start."""
    return len(frame(verb, headers)[0]) - 2


def _largest_length(limit, head=b"SEND\r\ncontent-length: "):
    """The largest content-length a frame of `head`, the value and the
    blank line can carry within `limit`."""
    for digits in range(6, 0, -1):
        n = limit - len(head) - digits - 4
        if len(str(n)) == digits:
            return n
    raise ValueError(limit)


def _limits_verb(f):
    """The verb limit: 32 octets."""
    v = f.valid
    bad = f.bad
    L = ["FRAME-2"]
    verb32 = VERB32
    v("verb-32", "a verb of 32 octets, the limit", L, frame(verb32, []))
    bad("verb-33", "a verb of 33 octets", L + ["FRAME-1"], verb32,
        "5\r\n\r\n", "bad-start-line", "start line")
    bad("verb-40", "a verb of 40 octets fails at its 33rd", L, verb32,
        "56789ABC\r\n\r\n", "bad-start-line", "start line")
    bad("verb-33rd-space", "a space as the 33rd verb octet", L, verb32,
        " \r\n\r\n", "bad-start-line", "start line")
    bad("verb-33rd-non-ascii", "a valid non-ASCII character starting at "
        "the 33rd verb octet", L, verb32, "\u00e9\r\n\r\n",
        "bad-start-line", "start line")
    bad("verb-33rd-not-utf8", "an octet that is not UTF-8 as the 33rd verb "
        "octet: the limit is met first", L + ["FRAME-10"], verb32,
        b"\xff\r\n\r\n", "bad-start-line", "start line")
    bad("verb-33rd-cut-lead", "a lead octet as the 33rd verb octet and the "
        "message's end: the limit is met first", L + ["FRAME-10"], verb32,
        b"\xc3", "bad-start-line", "start line")
    bad("verb-32nd-non-ascii", "a non-ASCII character at the 32nd verb "
        "octet", L, verb32[:31], "\u00e9\r\n\r\n", "bad-start-line",
        "start line")


def _limits_headers(f):
    """The header count limit: 32 lines."""
    v = f.valid
    bad = f.bad
    L = ["FRAME-2"]
    v("headers-32", "32 header lines, the limit", L,
      frame("SEND", _headers(32)))
    v("headers-31-and-length", "31 header lines and content-length", L,
      frame("SEND", _headers(31) + [("content-length", None)], "body"))
    h33 = frame("SEND", _headers(33))[0]
    at33 = _head_len(_headers(32))
    bad("headers-33", "33 header lines: refused where the 33rd starts", L,
        h33[:at33], h33[at33:], "too-many-headers", "header lines")
    bad("headers-33rd-bad", "a 33rd header line that is also malformed: "
        "the count is met first", L + ["FRAME-10"], h33[:at33],
        b"H32: v\r\n\r\n", "too-many-headers", "header lines")
    bad("headers-33rd-length", "content-length as the 33rd header line", L,
        h33[:at33], b"content-length: 2\r\n\r\nhi", "too-many-headers",
        "header lines")
    bad("headers-32-then-end", "32 header lines and the message's end: "
        "cut short, not too many", ["WS-2"],
        h33[:at33], b"", "truncated-frame", "WebSocket message")


def _limits_line(f):
    """The header line limit: 1,024 octets."""
    v = f.valid
    bad = f.bad
    L = ["FRAME-2"]
    line = 1024
    v("line-1024", "a header line of 1,024 octets, the limit", L,
      frame("SEND", [_long_line("x-long", line)]))
    v("line-1024-third", "a third header line of 1,024 octets", L,
      frame("SEND", [("conv", "c1"), ("temp-id", "t"),
                     _long_line("x-long", line)]))
    v("line-1024-name-only", "a line of 1,024 octets: a 1,022-octet name, "
      "colon, space and an empty value", L,
      frame("SEND", [("n" * 1022, "")]))
    for k, char in ((2, "\u00e9"), (3, "\u20ac"), (4, "\U0001f600")):
        v(f"line-1024-ends-in-{k}-octets", f"a line of 1,024 octets whose "
          f"last character has {k} octets", L + ["FRAME-5"],
          frame("SEND", [_long_line("x-long", line, char.encode())]))
    start = len(b"SEND\r\n")
    l1025 = frame("SEND", [_long_line("x-long", line + 1)])[0]
    bad("line-1025", "a header line of 1,025 octets", L,
        l1025[:start + line], l1025[start + line:], "header-too-long",
        "header line")
    third = b"SEND\r\nconv: c1\r\ntemp-id: t\r\n"
    l3 = frame("SEND", [("conv", "c1"), ("temp-id", "t"),
                        _long_line("x-long", line + 1)])[0]
    bad("line-1025-third", "a third header line of 1,025 octets", L,
        l3[:len(third) + line], l3[len(third) + line:], "header-too-long",
        "header line")
    bad("line-1025-name", "a header name of 1,025 octets", L,
        b"SEND\r\n" + b"n" * line, b"n: v\r\n\r\n", "header-too-long",
        "header line")
    bad("line-1025-colon", "a 1,024-octet name whose colon is the 1,025th "
        "octet", L, b"SEND\r\n" + b"n" * line, b": v\r\n\r\n",
        "header-too-long", "header line")
    bad("line-1025-space", "a 1,023-octet name, colon, and the space as "
        "the 1,025th octet", L, b"SEND\r\n" + b"n" * 1023 + b":",
        b" v\r\n\r\n", "header-too-long", "header line")
    bad("line-1025-control", "a control octet as the 1,025th octet: the "
        "limit is met first", L + ["FRAME-10"],
        b"SEND\r\nx-long: " + b"a" * (line - 8), b"\x01\r\n\r\n",
        "header-too-long", "header line")
    bad("line-1025-not-utf8", "an octet that is not UTF-8 as the 1,025th "
        "octet: the limit is met first", L + ["FRAME-10"],
        b"SEND\r\nx-long: " + b"a" * (line - 8), b"\xff\r\n\r\n",
        "header-too-long", "header line")
    bad("line-char-across-limit", "a valid 2-octet character whose second "
        "octet is the 1,025th: refused at the character's first octet",
        L + ["FRAME-10"], b"SEND\r\nx-long: " + b"a" * (line - 9),
        "\u00e9\r\n\r\n", "header-too-long", "header line")
    bad("line-4-char-across-limit", "a 4-octet character starting at the "
        "1,022nd octet", L + ["FRAME-10"],
        b"SEND\r\nx-long: " + b"a" * (line - 11), "\U0001f600\r\n\r\n",
        "header-too-long", "header line")
    bad("line-bad-utf8-across-limit", "a broken sequence starting at the "
        "1,024th octet is bad-utf8 at its first octet: a sequence is read "
        "whole", ["FRAME-5", "FRAME-10"],
        b"SEND\r\nx-long: " + b"a" * (line - 9), b"\xe2\x82z\r\n\r\n",
        "bad-utf8", "header value")
    bad("line-1024-then-end", "a message ending right after the 1,024th "
        "octet of a header line is cut short", ["WS-2", "FRAME-10"],
        b"SEND\r\nx-long: " + b"a" * (line - 8), b"", "truncated-frame",
        "WebSocket message")


def _limits_length_line(f):
    """A content-length line at the line limit."""
    bad = f.bad
    line = 1024
    digits = b"1" + b"0" * (line - 17)
    v_len = b"SEND\r\ncontent-length: "
    bad("length-line-1024", "a content-length line of 1,024 octets: a "
        "well-formed number far past the limit", ["FRAME-2", "FRAME-4"],
        v_len, digits + b"\r\n\r\n", "frame-too-large", "content-length")
    bad("length-line-1025", "a content-length line of 1,025 octets: the "
        "line limit is met first", ["FRAME-2", "FRAME-10"],
        v_len + digits, b"0\r\n\r\n", "header-too-long", "header line")


def _limits_frame(f):
    """The frame size limit: 65,536 octets."""
    v = f.valid
    bad = f.bad
    L = ["FRAME-2"]
    verb32 = VERB32
    line = 1024
    size = 65536
    big = _sized(size)
    v("frame-65536", "a frame of 65,536 octets, the limit", L, big)
    f.bad_at("message-65537", "a message of 65,537 octets (a frame of "
             "65,536 and one more octet) is refused whole, before it is "
             "read", L + ["WS-7"], big[0] + b"z", "frame-too-large", size,
             "WebSocket message")
    head = b"SEND\r\ncontent-length: "
    fits = _largest_length(size)
    bad("length-one-past", f"content-length {fits + 1}: the frame would "
        "have 65,537 octets", L + ["FRAME-4"], head,
        b"%d\r\n\r\n" % (fits + 1), "frame-too-large", "content-length")
    after = b"SEND\r\ncontent-length: 65505\r\nconv: c1\r\n\r\n"
    bad("length-pushed-past", "a content-length that fits with its own "
        "line but not with the header lines after it: refused where the "
        "body would start", L + ["FRAME-4"], after, b"",
        "frame-too-large", "content-length")
    lines = [_long_line(f"h{i:02d}", line) for i in range(31)]
    v("all-limits", "a verb of 32 octets, 31 header lines of 1,024 octets "
      "and content-length, and a body making the frame 65,536 octets",
      L + ["FRAME-4"], _sized(size, verb32, lines, "A"))


def build_limits(f):
    """Each limit of section 2.3 at the boundary and one past."""
    _limits_verb(f)
    _limits_headers(f)
    _limits_line(f)
    _limits_length_line(f)
    _limits_frame(f)


# ---- streams ------------------------------------------------------------

def _stream_frames(f, examples):
    """Streams of whole frames."""
    S = ["STREAM-1"]
    ping = frame("PING", [("nonce", "n1")])
    send = _send_hello()
    nolen = frame("SYNC", [("since", "0")])
    fake = frame("MSG", [("content-length", None)], "PING\r\n\r\n")
    f.stream("empty", "an empty stream holds no frame", S, [])
    f.stream("one", "one frame", S, [send])
    f.stream("several", "several frames back to back in one read", S,
             [ping, send, nolen, fake, ping])
    f.stream("no-length-then-frame", "a frame without content-length ends "
             "at its blank line; the next frame follows at once", S,
             [nolen, nolen, send, nolen])
    f.stream("body-looks-like-frame", "a body holding a frame's octets is "
             "body, not a frame", S + ["FRAME-4"], [fake, fake])
    valid = [(w, j) for _, _, invalid, w, j in examples if not invalid]
    f.stream("spec-examples", "every valid example of section 15, in "
             "order, in one stream", S + ["FRAME-4", "FRAME-5"], valid)


def _stream_partial(f, examples):
    """Streams that end inside a frame, and the spec's examples that
    section 15.31 says what a stream makes of."""
    S = ["STREAM-1"]
    ping = frame("PING", [("nonce", "n1")])
    f.stream("frame-then-partial", "a frame and the start of the next",
             S, [ping], b"SEND\r\ncontent-length: 5\r\n\r\nhe")
    f.stream("partial-start-line", "the first octets of a verb", S, [],
             b"PI")
    f.stream("partial-utf8-body", "a stream ending inside a UTF-8 sequence "
             "of a body", S + ["FRAME-5"], [ping],
             b"SEND\r\ncontent-length: 4\r\n\r\na\xe2\x82")
    f.stream("partial-utf8-value", "a stream ending inside a UTF-8 sequence "
             "of a header value", S + ["FRAME-5"], [],
             b"SEND\r\nx-text: \xf0\x9f")
    f.stream("partial-verb-33-not-yet", "a verb of 32 octets with its CRLF "
             "still to come", S + ["FRAME-2"], [],
             b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-01234")
    f.stream("spec-truncated", "the section 15 example 'truncated' on a "
             "stream: a frame still arriving", S,
             [], [w for n, _, _, w, _ in examples if n == "truncated"][0])
    wire = [w for n, _, _, w, _ in examples if n == "length-required"][0]
    cut = wire.index(b"\r\n\r\n") + 4
    f.stream("spec-length-required", "the section 15 example "
             "'length-required' on a stream: the frame ends at its blank "
             "line and 'hello' fails as a start line (section 15.31)",
             S + ["FRAME-1", "FRAME-4"],
             [(wire[:cut], {"verb": "SEND", "headers": [["conv", "c7f3a"],
                                                       ["temp-id", "t-0010"]],
                            "body": ""})],
             wire[cut:], ("bad-start-line", 0, "start line"))
    wire = [w for n, _, _, w, _ in examples if n == "extra-data"][0]
    cut = wire.index(b"llo")
    f.stream("spec-extra-data", "the section 15 example 'extra-data' on a "
             "stream: 'llo' starts the next frame and fails as a start "
             "line", S + ["FRAME-1"],
             [(wire[:cut], {"verb": "SEND", "headers": [
                 ["conv", "c7f3a"], ["temp-id", "t-0012"],
                 ["content-length", "2"]], "body": "he"})],
             wire[cut:], ("bad-start-line", 0, "start line"))


def _stream_errors(f, examples):
    """Streams in which a frame fails."""
    S = ["STREAM-1"]
    ping = frame("PING", [("nonce", "n1")])
    send = _send_hello()
    f.stream("crlf-between-frames", "a CRLF between frames is an empty "
             "start line", S + ["FRAME-1"], [send], b"\r\nPING\r\n\r\n",
             ("bad-start-line", 0, "start line"))
    f.stream("error-in-third", "two frames, then a third with bad UTF-8 in "
             "its body", S, [ping, send],
             b"SEND\r\ncontent-length: 3\r\n\r\na\xff",
             ("bad-utf8", len(b"SEND\r\ncontent-length: 3\r\n\r\na"),
              "body"))
    f.stream("error-first", "a stream whose first frame is malformed", S,
             [], b"send\r\n\r\nPING\r\n\r\n", ("bad-start-line", 0,
                                                 "start line"))
    f.stream("body-cut-by-body-end", "a UTF-8 sequence cut by the body's "
             "end, a frame following", S + ["FRAME-5"], [ping],
             b"SEND\r\ncontent-length: 3\r\n\r\na\xe2\x82PING\r\n\r\n",
             ("bad-utf8", len(b"SEND\r\ncontent-length: 3\r\n\r\na"),
              "body"))
    f.stream("length-past-limit-early", "content-length past the limit is "
             "refused as soon as its line ends, before the rest arrives",
             S + ["FRAME-2", "FRAME-4"], [send],
             b"SEND\r\ncontent-length: 70000\r\n",
             ("frame-too-large", len(b"SEND\r\ncontent-length: "),
              "content-length"))
    f.stream("too-many-headers", "a 33rd header line on a stream", S,
             [ping], frame("SEND", _headers(33))[0],
             ("too-many-headers", _head_len(_headers(32)),
              "header lines"))
    f.stream("line-too-long", "a header line of 1,025 octets on a stream",
             S, [], frame("SEND", [_long_line("x-long", 1025)])[0],
             ("header-too-long", len(b"SEND\r\n") + 1024,
              "header line"))
    f.stream("duplicate-after-frames", "a repeated header in the second "
             "frame", S, [send], b"PING\r\nnonce: a\r\nnonce: b\r\n\r\n",
             ("duplicate-header", len(b"PING\r\nnonce: a\r\n"),
              "header name"))
    f.stream("max-frame-then-frame", "a frame of 65,536 octets and a "
             "frame after it", S + ["FRAME-2"], [_sized(65536), ping])


def build_stream(f, examples):
    """Frames on a byte stream (section 2.6, STREAM-1)."""
    _stream_frames(f, examples)
    _stream_partial(f, examples)
    _stream_errors(f, examples)


# ---- limits a receiver stated -------------------------------------------

STATED = {"frame_size": 1024, "header_count": 8, "header_line": 256}


def build_stated(f):
    L = ["FRAME-2"]
    v, bad = f.valid, f.bad
    size = STATED["frame_size"]
    v("frame-at-limit", "a frame of exactly the stated frame size", L,
      _sized(size))
    f.bad_at("message-past-limit", "a message one octet past the stated "
             "frame size is refused whole", L + ["WS-7"],
             _sized(size)[0] + b"z", "frame-too-large", size,
             "WebSocket message")
    unread = _sized(size + 3, "send")[0]
    f.bad_at("message-past-limit-unread", "a message past the limit is "
             "refused before it is read: its bad verb is not reported",
             L + ["WS-7", "FRAME-10"], unread, "frame-too-large", size,
             "WebSocket message")
    head = b"SEND\r\ncontent-length: "
    fits = _largest_length(size)
    bad("length-one-past", "content-length one past what the stated frame "
        "size leaves", L + ["FRAME-4"], head, b"%d\r\n\r\n" % (fits + 1),
        "frame-too-large", "content-length")
    bad("length-default-limit", "content-length within section 2.3's limit "
        "but past the stated one", L + ["FRAME-4"], head,
        b"65000\r\n\r\n", "frame-too-large", "content-length")
    count = STATED["header_count"]
    v("headers-at-limit", f"{count} header lines, the stated limit", L,
      frame("SEND", _headers(count)))
    more = frame("SEND", _headers(count + 1))[0]
    at = _head_len(_headers(count))
    bad("headers-past-limit", f"{count + 1} header lines", L, more[:at],
        more[at:], "too-many-headers", "header lines")
    line = STATED["header_line"]
    v("line-at-limit", f"a header line of {line} octets", L,
      frame("SEND", [_long_line("x-long", line)]))
    longer = frame("SEND", [_long_line("x-long", line + 1)])[0]
    bad("line-past-limit", f"a header line of {line + 1} octets", L,
        longer[:6 + line], longer[6 + line:], "header-too-long",
        "header line")
    lines = [_long_line(f"h{i}", line) for i in range(count)]
    long_head = frame("SEND", lines)[0]
    assert len(long_head) > size
    f.stream("header-section-past-limit", "header lines within their "
             "limits that take the frame past the stated size, on a "
             "stream: refused at the first octet past it",
             ["FRAME-2"], [], long_head, ("frame-too-large", size, None))
    f.bad_at("header-section-past-limit-message", "the same frame as one "
             "message is refused whole", L + ["WS-7"], long_head,
             "frame-too-large", size, "WebSocket message")
    f.stream("two-frames-at-limit", "two frames of the stated size back to "
             "back", ["FRAME-2"], [_sized(size), _sized(size, "MSG")])


# ---- files --------------------------------------------------------------

def files(root):
    """The vector files, as {file name: File}."""
    text = specdoc.read_spec(root)
    codes = {reason: code for code, reason, _, _ in
             specdoc.registry_rows(text)}
    examples = spec_examples(root)
    out = {}

    def add(stem, title, builder, *args, limits=None):
        f = File(stem, title, limits)
        f.codes = codes
        builder(f, *args)
        out[f"{stem}.json"] = f

    add("spec", "The worked examples of spec section 15, each as one "
        "WebSocket message", build_spec, examples)
    add("grammar", "The frame grammar: verbs, header names and values, "
        "case, whitespace, line ends, repeats", build_grammar)
    add("utf8", "UTF-8 in verbs, header values and bodies: every class of "
        "invalid sequence and the valid edge code points", build_utf8)
    add("length", "content-length: valid and malformed forms, values past "
        "the frame size limit", build_length)
    add("message", "One frame per WebSocket message: truncated frames, "
        "extra data, missing content-length", build_message)
    add("limits", "The limits of section 2.3 at the boundary and one past",
        build_limits)
    add("stream", "Frames on a byte stream: several frames, partial frames, "
        "errors after frames", build_stream, examples)
    add("stated-limits", "Limits lower than section 2.3's, as a receiver "
        "that stated them in WELCOME applies them", build_stated,
        limits=STATED)
    return out


def render(f):
    return json.dumps(f.document(), indent=1) + "\n"


def main(argv):
    if "-h" in argv or "--help" in argv:
        print(__doc__.strip())
        return 0
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    if any(a.startswith("-") for a in args):
        print(f"gen_vectors.py: unknown option {args[0]}", file=sys.stderr)
        return 2
    root = args[0] if args else os.path.dirname(os.path.dirname(HERE))
    outdir = os.path.join(root, "conformance", "vectors")
    problems, count = [], 0
    want = files(root)
    for name, f in want.items():
        text = render(f)
        count += len(f.vectors)
        path = os.path.join(outdir, name)
        if not check:
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
            continue
        have = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as inp:
                have = inp.read()
        if have != text:
            problems.append(f"conformance/vectors/{name} is out of date")
    for name in sorted(os.listdir(outdir)):
        if name.endswith(".json") and name not in want:
            problems.append(f"conformance/vectors/{name} is not a file "
                            "gen_vectors.py writes")
    for p in problems:
        print(p)
    if problems:
        print("run: python3 conformance/vectors/gen_vectors.py")
        return 1
    verb = "checked" if check else "wrote"
    print(f"gen_vectors: {verb} {count} vectors in {len(want)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
