"""A backtracking recognizer for the spec's ABNF: the reference for the
language of the grammar.

It tries every alternative and every repetition count (the set of
positions each rule can end at, memoized per rule and position), so its
verdict is the language of RFC 5234 whatever the order of alternatives.
apg-js reads with prioritized choice and greedy repetition; where the two
differ on an input the grammar relies on an order, and must be
rewritten (difftest.py --order).
"""

import abnf


class Recognizer:
    def __init__(self, rules):
        self.rules = dict((k, r.node) for k, r in rules.items())
        for name, text in abnf.CORE.items():
            if name.lower() not in self.rules:
                parsed, _ = abnf.parse(f"{name} = {text}")
                self.rules[name.lower()] = parsed[name.lower()].node

    def matches(self, start, data):
        """True when all of `data` is a `start`."""
        self.data, self.memo = data, {}
        return len(data) in self.ends(("ref", start), 0)

    def ends(self, node, pos):
        """The set of positions where `node` matching at `pos` can end."""
        kind, data = node[0], self.data
        if kind == "ref":
            key = (node[1].lower(), pos)
            if key not in self.memo:
                self.memo[key] = frozenset()  # no left recursion here
                self.memo[key] = self.ends(self.rules[key[0]], pos)
            return self.memo[key]
        if kind == "range":
            ok = pos < len(data) and node[1] <= data[pos] <= node[2]
            return frozenset([pos + 1]) if ok else frozenset()
        if kind == "str":
            s = node[1]
            got = data[pos:pos + len(s)]
            ok = got == s if node[2] else got.lower() == s.lower()
            return frozenset([pos + len(s)]) if ok else frozenset()
        if kind == "alt":
            out = set()
            for n in node[1]:
                out |= self.ends(n, pos)
            return frozenset(out)
        if kind == "cat":
            cur = {pos}
            for n in node[1]:
                nxt = set()
                for p in cur:
                    nxt |= self.ends(n, p)
                cur = nxt
                if not cur:
                    break
            return frozenset(cur)
        return self.rep(node, pos)

    def rep(self, node, pos):
        _, lo, hi, inner = node
        out = {pos} if lo == 0 else set()
        cur, seen, n = {pos}, set(), 0
        while cur and (hi is None or n < hi):
            nxt = set()
            for p in cur:
                nxt |= self.ends(inner, p)
            n += 1
            if hi is None:
                nxt -= seen  # positions only grow; stop at a fixed point
                seen |= nxt
            if n >= lo:
                out |= nxt
            cur = nxt
        return frozenset(out)
