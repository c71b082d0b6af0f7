#!/usr/bin/env python3
"""Writes AFL/libFuzzer dictionaries for the fuzz targets.

Usage: gen_dict.py REPO_ROOT OUT_DIR

The tokens come from the sources of truth, never from a hand-kept list:
the literals of the Ragel grammars (libparley/*_grammar.rl, sdp_core.rl),
the literals of the spec's ABNF blocks, the verbs of section 10's table
and the header names and values of the spec's frame examples, the HTTP
paths and JSON member names of the spec. Regenerated at every build, so
a token the grammar or the spec gains reaches the fuzzers with it.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "spec"))
import specdoc  # noqa: E402

LITERAL_RE = re.compile(r"\"((?:[^\"\\\n]|\\.)+)\"|'((?:[^'\\\n]|\\.)+)'")
ABNF_LITERAL_RE = re.compile(r"\"([^\"\n]+)\"")


def rl_literals(path):
    """Quoted literals of a Ragel file's grammar: its comments (Ragel '#'
    lines and C block comments) and its include lines are left out."""
    out, in_comment = set(), False
    with open(path, encoding="utf-8") as f:
        for line in f:
            s = line.strip()
            if in_comment:
                in_comment = "*/" not in s
                continue
            if s.startswith("/*"):
                in_comment = "*/" not in s
                continue
            if s.startswith("#") or s.startswith("include"):
                continue
            for m in LITERAL_RE.finditer(s.split(" # ")[0]):
                tok = m.group(1) or m.group(2)
                if "\\" not in tok:
                    out.add(tok)
    return out


def spec_tokens(text):
    """Tokens of the spec: ABNF literals, verbs, frame-example headers."""
    abnf, names, values = set(), set(), set()
    verbs = set(specdoc.verbs_table(text))
    for fence in specdoc.fences(text):
        if fence.info.startswith("abnf"):
            for line in fence.lines:
                abnf.update(ABNF_LITERAL_RE.findall(line.split(";")[0]))
        if fence.info.startswith("parley-frame") and fence.lines:
            verbs.add(fence.lines[0].strip())
            for line in fence.lines[1:]:
                if not line:
                    break
                name, sep, value = line.partition(": ")
                if sep:
                    names.add(name + ": ")
                    if len(value) <= 24:
                        values.add(value)
    return abnf, verbs, names, values


def http_tokens(text):
    paths = set(re.findall(r"/v1/[a-z/{}_-]+", text))
    paths = {p.replace("{id}", "c1") for p in paths}
    keys = {'"%s"' % k for k in re.findall(r'"([a-z_]+)":', text)}
    return paths | keys | {"?limit=", "&cursor=", "limit=", "cursor=",
                           "GET ", "POST ", "PUT ", "{", "}", "[", "]",
                           "true", "false", "null", "\\u0000"}


def write_dict(path, tokens):
    with open(path, "w", encoding="utf-8") as f:
        for i, tok in enumerate(sorted(t for t in tokens if t)):
            raw = tok.encode("utf-8")
            esc = "".join(chr(b) if 0x20 <= b < 0x7f and b not in b'"\\'
                          else "\\x%02x" % b for b in raw)
            f.write('t%d="%s"\n' % (i, esc))


def main():
    root, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    lib = os.path.join(root, "libparley")
    text = specdoc.read_spec(root)
    abnf, verbs, names, values = spec_tokens(text)
    frame_rl = rl_literals(os.path.join(lib, "frame_grammar.rl"))
    core = rl_literals(os.path.join(lib, "sdp_core.rl"))
    sdp = rl_literals(os.path.join(lib, "sdp_grammar.rl")) | core
    cand = rl_literals(os.path.join(lib, "candidate_grammar.rl")) | core
    frame = frame_rl | abnf | {v + "\r\n" for v in verbs} | names | values
    frame |= {"\r\n", "\r\n\r\n", "content-length: "}
    sdp |= {"\r\n", "a=candidate:", "UDP/TLS/RTP/SAVPF", "opus/48000/2",
            "useinbandfec=1", "sha-256", "IN IP4 ", "IN IP6 "}
    write_dict(os.path.join(out, "frame.dict"), frame)
    write_dict(os.path.join(out, "server.dict"), frame)
    write_dict(os.path.join(out, "client.dict"), frame)
    write_dict(os.path.join(out, "sdp.dict"), sdp)
    write_dict(os.path.join(out, "candidate.dict"), cand)
    write_dict(os.path.join(out, "http.dict"), http_tokens(text))
    write_dict(os.path.join(out, "token.dict"), {"pt1.", "."})


if __name__ == "__main__":
    main()
