"""Differential test: the Ragel parsers against the spec's ABNF.

Inputs are random derivations of a start rule of the spec's ABNF (bounded
depth), most of them then mutated: octets changed or dropped, octets at
the edges of the grammar's character ranges put in, lines duplicated or
dropped, the input cut short. Each input goes to two recognizers: the
one apg-js generates from the ABNF (recognize.js) and libparley's Ragel
parser (parley-abnf-driver, which reports the grammar's verdict alone).
They must agree on accept or reject for every input that the parser did
not refuse for a rule that is not syntax (README.md says where the line
is).

    difftest.py --grammar frame|sdp|candidate --count N --seed S
                --driver PATH [--plant] [--order] [--keep DIR]

--plant runs the recognizer on a copy of the grammar with one rule
changed (PLANTS below) and succeeds only when disagreements are found.
--order also runs a backtracking recognizer (full.py) on every input
and requires apg-js to agree with it: apg's prioritized choice and
greedy repetition then did not change the language on these inputs.
"""

import argparse
import ast
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

import abnf
import full

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

START = {"frame": "frame", "sdp": "session-description",
         "candidate": "candidate-attribute"}

# One test-only change per grammar: (text in the spec's ABNF, its
# replacement). Each narrows a rule the parser implements.
PLANTS = {
    "frame": ("header-char     = %x20-7E", "header-char     = %x21-7E"),
    "sdp": ("sess-id             = 1*DIGIT", "sess-id             = 2*DIGIT"),
    "candidate": ("foundation          = 1*32ice-char",
                  "foundation          = 2*32ice-char"),
}

DEPTH = 12

# A body of the SDP profile (spec section 19.6), mutated like the
# derivations so that the parser's profile code is reached too.
PROFILE_SDP = (
    b"v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\n"
    b"t=0 0\r\na=group:BUNDLE 0\r\na=ice-options:trickle\r\n"
    b"m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\n"
    b"a=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"
    b"a=fingerprint:sha-256 " + b":".join([b"AB"] * 32) + b"\r\n"
    b"a=setup:actpass\r\na=rtcp-mux\r\na=sendrecv\r\n"
    b"a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host\r\n"
    b"a=candidate:2 1 udp 1694498815 198.51.100.7 50001 typ srflx "
    b"raddr 192.0.2.1 rport 50000\r\n"
    b"a=end-of-candidates\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\n")


class Generator:
    """Random derivations of the rules; limits keep frames within the
    sizes of spec section 2.3."""

    def __init__(self, rules, rng, grammar):
        self.rules, self.rng, self.grammar = rules, rng, grammar
        self.core = {}
        for name, text in abnf.CORE.items():
            parsed, _ = abnf.parse(f"{name} = {text}")
            self.core[name.lower()] = parsed[name.lower()].node
        self.bounds = sorted(self.edges())
        self.min_depth = {}
        self.compute_min_depth()

    def node_of(self, name):
        key = name.lower()
        return self.rules[key].node if key in self.rules else self.core[key]

    def edges(self):
        """Octets at the edges of every character range of the grammar."""
        out = set()
        for node in [r.node for r in self.rules.values()] + \
                list(self.core.values()):
            stack = [node]
            while stack:
                n = stack.pop()
                if n[0] == "range":
                    out.update(v for v in (n[1] - 1, n[1], n[2], n[2] + 1)
                               if 0 <= v <= 255)
                elif n[0] in ("alt", "cat"):
                    stack.extend(n[1])
                elif n[0] == "rep":
                    stack.append(n[3])
                elif n[0] == "str":
                    out.update(n[1])
        return out

    def depth_of(self, node):
        kind = node[0]
        if kind == "ref":
            return self.min_depth.get(node[1].lower(), 10 ** 6)
        if kind == "alt":
            return min(self.depth_of(n) for n in node[1])
        if kind == "cat":
            return max(self.depth_of(n) for n in node[1])
        if kind == "rep":
            return 0 if node[1] == 0 else self.depth_of(node[3])
        return 0

    def compute_min_depth(self):
        names = list(self.rules) + list(self.core)
        changed = True
        while changed:
            changed = False
            for name in names:
                d = 1 + self.depth_of(self.node_of(name))
                if d < self.min_depth.get(name, 10 ** 6):
                    self.min_depth[name] = d
                    changed = True

    def count(self, lo, hi, deep):
        extra = 0
        if not deep:
            r = self.rng.random()
            extra = (0 if r < 0.3 else 1 if r < 0.55 else
                     self.rng.randint(2, 4) if r < 0.85 else
                     self.rng.randint(5, 12))
        n = lo + extra
        return n if hi is None else min(n, hi)

    def gen(self, node, depth):
        kind, rng = node[0], self.rng
        deep = depth > DEPTH
        if kind == "ref":
            key = node[1].lower()
            hook = getattr(self, "rule_" + key.replace("-", "_"), None)
            if hook is not None:
                return hook(depth)
            return self.gen(self.node_of(key), depth + 1)
        if kind == "alt":
            alts = node[1]
            if deep:
                best = min(self.depth_of(a) for a in alts)
                alts = [a for a in alts if self.depth_of(a) == best]
            return self.gen(rng.choice(alts), depth)
        if kind == "cat":
            return b"".join(self.gen(n, depth) for n in node[1])
        if kind == "rep":
            n = self.count(node[1], node[2], deep)
            return b"".join(self.gen(node[3], depth) for _ in range(n))
        if kind == "str":
            if node[2]:
                return node[1]
            return bytes(c ^ 0x20 if chr(c).isalpha() and rng.random() < 0.2
                         else c for c in node[1])
        lo, hi = node[1], node[2]
        r = rng.random()
        return bytes([lo if r < 0.2 else hi if r < 0.4 else
                      rng.randint(lo, hi)])

    # Frames: a body only with its content-length (the parser counts it),
    # names unique, verb and lines within the limits.
    def rule_verb(self, depth):
        out = self.gen(self.node_of("verb"), depth + 1)
        return out[:32]

    def rule_body(self, depth):
        return b""

    def frame(self):
        for _ in range(100):
            out = self.gen(("ref", "frame"), 0)
            names = [line.split(b":")[0] for line in out.split(b"\r\n")[1:]
                     if b":" in line]
            if len(set(names)) == len(names) and \
                    b"content-length" not in names and len(names) <= 30:
                break
        if self.rng.random() < 0.5:
            text = "".join(self.rng.choice(["a", " ", "\u00e9", "\u20ac",
                                            "\U0001f600", "\n", "Z"])
                           for _ in range(self.rng.randint(1, 20)))
            body = text.encode()
            out = (out[:-2] + b"content-length: %d\r\n\r\n" % len(body)
                   + body)
        return out

    # Values within the parsers' limits (parley/sdp.h), so that most
    # verdicts are the grammar's.
    def bounded(self, rule, depth, most):
        for _ in range(10):
            out = self.gen(self.node_of(rule), depth + 1)
            if len(out) <= most:
                return out
        return out[:most]

    def number(self, lo, hi):
        r = self.rng.random()
        return str(lo if r < 0.1 else hi if r < 0.2 else
                   self.rng.randint(lo, hi)).encode()

    def rule_port(self, depth):
        return self.number(0, 65535)

    def rule_component_id(self, depth):
        return self.number(1, 256)

    def rule_priority(self, depth):
        return self.number(1, 2 ** 31 - 1)

    def rule_proto(self, depth):
        return self.bounded("proto", depth, 31)

    def rule_media(self, depth):
        return self.bounded("media", depth, 15)

    def rule_transport(self, depth):
        return self.bounded("transport", depth, 15)

    def rule_candidate_types(self, depth):
        return self.bounded("candidate-types", depth, 15)

    def rule_username(self, depth):
        return self.bounded("username", depth, 64)

    # The spec writes unicast-address as extn-addr and the candidate's
    # related parts as extensions, the same languages; derive their
    # sub-forms too, so that the parsers' address and related-part
    # machines are reached.
    def rule_unicast_address(self, depth):
        rule = self.rng.choice(["IPv6address", "IPv4address", "cand-fqdn",
                                "extn-addr"])
        return self.bounded(rule, depth, 255)

    def rule_cand_extension(self, depth):
        r = self.rng.random()
        if r < 0.25:
            return self.gen(("ref", "rel-addr"), depth + 1)
        if r < 0.45:
            return self.gen(("ref", "rel-port"), depth + 1)
        if r < 0.55:
            return b"tcptype " + self.rng.choice([b"active", b"passive",
                                                  b"so", b"SO"])
        return self.gen(self.node_of("cand-extension"), depth + 1)

    # The attributes the profile reads are generic attributes too (the
    # same language); derive them by their own rules as well.
    PROFILE_ATTRS = ("rtpmap-attribute", "fmtp-attribute", "ice-ufrag-att",
                     "ice-pwd-att", "ice-options", "fingerprint-attribute",
                     "setup-attr", "mid-attribute", "group-attribute",
                     "rtcp-mux-attr", "direction-attribute",
                     "candidate-attribute", "end-of-candidates-att")

    def rule_attribute(self, depth):
        if self.rng.random() < 0.4:
            rule = self.rng.choice(self.PROFILE_ATTRS)
            return self.gen(("ref", rule), depth + 1)
        return self.gen(self.node_of("attribute"), depth + 1)

    def input(self):
        if self.grammar == "frame":
            return self.frame()
        if self.grammar == "sdp" and self.rng.random() < 0.3:
            return PROFILE_SDP
        return self.gen(("ref", START[self.grammar]), 0)


def mutate(data, rng, bounds):
    """One to three random changes of `data`."""
    for _ in range(rng.randint(1, 3)):
        lines = data.split(b"\n")
        op = rng.randrange(8)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data = data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1:]
        elif op == 1 and data:
            pos = min(pos, len(data) - 1)
            data = data[:pos] + bytes([data[pos] ^ (1 << rng.randrange(8))]) \
                + data[pos + 1:]
        elif op == 2 and data:
            data = data[:pos] + bytes([rng.choice(bounds)]) + data[pos + 1:]
        elif op == 3:
            data = data[:pos] + bytes([rng.choice(bounds)]) + data[pos:]
        elif op == 4:
            data = data[:pos]
        elif op == 5 and len(lines) > 1:
            k = rng.randrange(len(lines) - 1)
            data = b"\n".join(lines[:k + 1] + lines[k:])
        elif op == 6 and len(lines) > 1:
            k = rng.randrange(len(lines) - 1)
            data = b"\n".join(lines[:k] + lines[k + 1:])
        elif op == 7 and data:
            data = data[:pos] + data[pos + 1:]
    return data


def inputs(grammar, count, seed):
    """`count` inputs: a fifth as derived, the rest mutated."""
    rules, problems = abnf.spec_rules(ROOT)
    assert not problems, problems
    rng = random.Random(seed)
    gen = Generator(rules, rng, grammar)
    out = []
    for _ in range(count):
        data = gen.input()
        if rng.random() < 0.8:
            data = mutate(data, rng, gen.bounds)
        out.append(data)
    return out, rules


def vectors(grammar):
    """[(input, verdict)] of vectors.txt for `grammar`."""
    out = []
    with open(os.path.join(HERE, "vectors.txt"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            g, verdict, lit = line.rstrip("\n").split(" ", 2)
            if g == grammar:
                out.append((ast.literal_eval(lit), verdict))
    return out


def pack(items):
    return b"".join(struct.pack(">I", len(i)) + i for i in items)


def run_apg(grammar_text, start, items):
    with tempfile.NamedTemporaryFile("w", suffix=".abnf",
                                     encoding="latin-1") as f:
        f.write(grammar_text)
        f.flush()
        res = subprocess.run(["node", os.path.join(HERE, "recognize.js"),
                              f.name, start], input=pack(items),
                             capture_output=True, check=True)
    out = res.stdout.decode().split()
    assert len(out) == len(items), (len(out), len(items))
    return out


def run_driver(driver, grammar, items):
    res = subprocess.run([driver, grammar], input=pack(items),
                         capture_output=True, check=True)
    out = res.stdout.decode("latin-1").rstrip("\n").split("\n")
    assert len(out) == len(items), (len(out), len(items))
    return [line.split(" ", 1) for line in out]


def compare(items, apg, ragel):
    """Returns (agree, skipped, [(index, apg, ragel verdict, detail)])."""
    agree, skipped, diffs = 0, 0, []
    for i, (a, (r, why)) in enumerate(zip(apg, ragel)):
        if r == "-":
            skipped += 1
        elif a == r:
            agree += 1
        else:
            diffs.append((i, a, r, why))
    return agree, skipped, diffs


def batches(n, size=5000):
    while n > 0:
        yield min(n, size)
        n -= size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--grammar", choices=START, required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--driver", required=True)
    ap.add_argument("--plant", action="store_true")
    ap.add_argument("--order", action="store_true")
    ap.add_argument("--keep", help="write disagreeing inputs here")
    ap.add_argument("--progress", action="store_true",
                    help="a line of figures after every batch")
    args = ap.parse_args()

    text = abnf.grammar_text(ROOT)
    if args.plant:
        old, new = PLANTS[args.grammar]
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    start = START[args.grammar]
    t0 = time.time()
    totals = [0, 0, 0]
    diffs_all = []
    order_bad = []
    accepted = 0
    for k, n in enumerate(batches(args.count)):
        items, rules = inputs(args.grammar, n, args.seed * 1000003 + k)
        if k == 0:
            vecs = vectors(args.grammar)
            items = [v for v, _ in vecs] + items
        apg = run_apg(text, start, items)
        ragel = run_driver(args.driver, args.grammar, items)
        agree, skipped, diffs = compare(items, apg, ragel)
        if k == 0 and not args.plant:
            for j, (v, want) in enumerate(vecs):
                if apg[j] != want or ragel[j][0] != want:
                    print(f"vector {v!r}: want {want}, apg {apg[j]}, "
                          f"ragel {ragel[j][0]}")
                    order_bad.append((v, apg[j]))
        accepted += apg.count("1")
        totals[0] += agree
        totals[1] += skipped
        totals[2] += len(items)
        diffs_all += [(items[i], a, r, why) for i, a, r, why in diffs]
        if args.progress:
            print(f"after {totals[2]} inputs: {totals[0]} agree, "
                  f"{totals[1]} skipped, {len(diffs_all)} disagree, "
                  f"{time.time() - t0:.0f} s", flush=True)
        if args.order:
            rec = full.Recognizer(rules)
            for item, a in zip(items, apg):
                if rec.matches(start, item) != (a == "1"):
                    order_bad.append((item, a))
    secs = time.time() - t0
    print(f"{args.grammar}: {totals[2]} inputs (seed {args.seed}), "
          f"{accepted} in the language by apg-js, {totals[0]} verdicts "
          f"agree, {totals[1]} skipped (not syntax), {len(diffs_all)} "
          f"disagree, {secs:.1f} s")
    for item, a, r, why in diffs_all[:20]:
        print(f"  apg {a} ragel {r} ({why}): {item!r}")
    if args.keep and diffs_all:
        os.makedirs(args.keep, exist_ok=True)
        for j, (item, a, r, why) in enumerate(diffs_all):
            with open(os.path.join(args.keep, f"{args.grammar}-{j}.bin"),
                      "wb") as f:
                f.write(item)
    if args.order:
        print(f"order: apg-js and the backtracking recognizer differ on "
              f"{len(order_bad)} of {totals[2]} inputs")
        for item, a in order_bad[:10]:
            print(f"  apg {a}: {item!r}")
    if args.plant:
        ok = len(diffs_all) > 0
        print("planted change", "caught" if ok else "NOT caught")
        return 0 if ok else 1
    return 1 if diffs_all or order_bad else 0


if __name__ == "__main__":
    sys.exit(main())
