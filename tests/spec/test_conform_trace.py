#!/usr/bin/env python3
"""Checks that conform_trace.py catches what it claims to, and that
spec/traceability.md shows the conformance cases.

Each test copies the spec into a temporary tree, writes a case catalogue
that covers every MUST requirement the spec does not exempt, and a
stand-in for parley-conform that prints it; then breaks one thing and
expects the check to name it. Standard library only.
"""

import contextlib
import io
import json
import os
import shutil
import stat
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import conform_trace  # noqa: E402
import specdoc  # noqa: E402
import traceability  # noqa: E402

SPEC = "spec/parley-1.md"


class Tree:
    """A temporary repository holding the spec, a catalogue, and a fake
    parley-conform that prints the catalogue (or fails)."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="conform-trace-")
        os.makedirs(os.path.join(self.root, "spec"))
        os.makedirs(os.path.join(self.root, "conformance"))
        shutil.copyfile(os.path.join(ROOT, SPEC), self.path(SPEC))
        self.binary = self.path("parley-conform")
        with open(self.binary, "w", encoding="utf-8") as f:
            f.write(f"#!{sys.executable}\n"
                    "import sys, os\n"
                    "here = os.path.dirname(os.path.abspath(__file__))\n"
                    "assert sys.argv[1:] == ['--list', '--json', '-']\n"
                    "if os.path.exists(os.path.join(here, 'fail')):\n"
                    "    print('cannot list', file=sys.stderr)\n"
                    "    sys.exit(2)\n"
                    "sys.stdout.write(open(os.path.join(here, "
                    "'listed.json')).read())\n")
        os.chmod(self.binary, os.stat(self.binary).st_mode | stat.S_IXUSR)
        text = self.spec()
        reqs, _ = specdoc.requirements(text)
        self.exempt = specdoc.unobservable(text)[0][0]
        self.should = next(r.id for r in reqs
                           if specdoc.strongest(r.level) == "SHOULD")
        self.section = {r.id: r.section for r in reqs}
        self.catalogue = self.full_catalogue()
        self.publish()
        self.snapshot()

    def path(self, rel):
        return os.path.join(self.root, rel)

    def spec(self):
        return specdoc.read_spec(self.root)

    def full_catalogue(self):
        """One case per MUST requirement that section 1.5 does not list,
        and one SHOULD case."""
        text = self.spec()
        reqs, _ = specdoc.requirements(text)
        exempt = {row[0] for row in specdoc.unobservable(text)}
        cases = []
        for r in reqs:
            if specdoc.strongest(r.level) == "MUST" and r.id not in exempt:
                cases.append(case(f"t.{r.id.lower()}", [r.id], "MUST"))
        cases.append(case("t.hb-five", ["HB-5"], "SHOULD"))
        return {"spec_version": "1", "cases": cases}

    def publish(self):
        """What the fake binary prints from now on."""
        with open(self.path("listed.json"), "w", encoding="utf-8") as f:
            json.dump(self.catalogue, f)

    def snapshot(self):
        with contextlib.redirect_stdout(io.StringIO()):
            rc = conform_trace.main(["--write", self.binary, self.root])
        assert rc == 0

    def edit_spec(self, old, new):
        text = self.spec()
        assert old in text, old
        with open(self.path(SPEC), "wb") as f:
            f.write(text.replace(old, new, 1).encode("utf-8",
                                                     "surrogateescape"))

    def run(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = conform_trace.main([self.binary, self.root])
        return rc, out.getvalue()

    def remove(self):
        shutil.rmtree(self.root)


def case(cid, reqs, level, **over):
    c = {"id": cid, "suite": cid.split(".")[0], "title": "a case",
         "reqs": reqs, "level": level, "cap": None, "version": "1",
         "mode": "server"}
    c.update(over)
    return c


class ConformTraceTest(unittest.TestCase):

    def setUp(self):
        self.tree = Tree()

    def tearDown(self):
        self.tree.remove()

    def change(self, fn, snapshot=True):
        fn(self.tree.catalogue["cases"])
        self.tree.publish()
        if snapshot:
            self.tree.snapshot()

    def expect_problem(self, words):
        rc, out = self.tree.run()
        self.assertEqual(rc, 1, out)
        self.assertIn(words, out)
        return out

    def test_full_coverage_passes(self):
        rc, out = self.tree.run()
        self.assertEqual(rc, 0, out)
        self.assertIn("0 without a case, 0 problems", out)

    def test_a_must_without_a_case(self):
        self.change(lambda cases: cases.remove(
            next(c for c in cases if c["reqs"] == ["SEND-4"])))
        out = self.expect_problem("SEND-4 (MUST, section 5.1) has no "
                                  "conformance case")
        self.assertIn("1 without a case (SEND-4)", out)

    def test_a_should_without_a_case_is_fine(self):
        self.change(lambda cases: cases.remove(
            next(c for c in cases if c["reqs"] == ["HB-5"])))
        rc, out = self.tree.run()
        self.assertEqual(rc, 0, out)

    def test_an_unknown_requirement(self):
        self.change(lambda cases: cases[0]["reqs"].append("SEND-99"))
        self.expect_problem(f"case {self.tree.catalogue['cases'][0]['id']}"
                            ": SEND-99 is not a requirement of the spec")

    def test_a_level_weaker_than_its_requirements(self):
        self.change(lambda cases: cases.append(
            case("t.mixed", ["HB-5", "HB-3"], "SHOULD")))
        self.expect_problem("case t.mixed: level SHOULD, but the strongest "
                            "of its requirements is MUST")

    def test_a_level_stronger_than_its_requirements(self):
        self.change(lambda cases: cases.append(
            case("t.strict", ["HB-5"], "MUST")))
        self.expect_problem("case t.strict: level MUST, but the strongest")

    def test_an_exempt_requirement_with_a_case_is_stale(self):
        rid = self.tree.exempt
        self.change(lambda cases: cases.append(case("t.exempt", [rid],
                                                    "MUST")))
        self.expect_problem(f"{rid} is listed as not observable but has a "
                            "conformance case: a stale entry")

    def test_an_exemption_naming_no_requirement(self):
        rid = self.tree.exempt
        self.tree.edit_spec(f"| {rid} |", "| SEC-99 |")
        out = self.expect_problem("SEC-99 is listed as not observable but "
                                  "is not a requirement of the spec")
        self.assertIn(f"{rid} (MUST, section {self.tree.section[rid]}) has "
                      "no conformance case", out)

    def test_an_exemption_of_a_should(self):
        should = self.tree.should
        self.tree.edit_spec(f"| {self.tree.exempt} |", f"| {should} |")
        self.expect_problem(f"{should} is listed as not observable but is "
                            "not a MUST")

    def test_a_spec_without_the_list(self):
        rid = self.tree.exempt
        self.tree.edit_spec(specdoc.UNOBSERVABLE_TITLE, "Other things")
        out = self.expect_problem("no section titled")
        self.assertIn(f"{rid} (MUST, section {self.tree.section[rid]}) has "
                      "no conformance case", out)

    def test_malformed_cases(self):
        for bad, words in (
                ({"level": "MUSTN'T"}, "is not MUST, SHOULD or MAY"),
                ({"id": "Send.Retry"}, "id is not <suite>.<name>"),
                ({"suite": "other"}, "id is not <suite>.<name>"),
                ({"reqs": []}, "reqs must be a non-empty list"),
                ({"version": "2"}, "is not the spec's"),
                ({"mode": "both"}, "is not server or client")):
            with self.subTest(bad=bad):
                self.tree.catalogue = self.tree.full_catalogue()
                self.change(lambda cases, b=bad: cases[0].update(b),
                            snapshot=False)
                self.expect_problem(words)

    def test_a_repeated_id(self):
        self.change(lambda cases: cases.append(dict(cases[0])),
                    snapshot=False)
        self.expect_problem(f"case {self.tree.catalogue['cases'][0]['id']}"
                            ": id given twice")

    def test_a_stale_snapshot(self):
        self.change(lambda cases: cases.append(
            case("t.extra", ["HB-5"], "SHOULD")), snapshot=False)
        self.expect_problem("conformance/catalogue.json is out of date")

    def test_a_binary_that_fails(self):
        with open(self.tree.path("fail"), "w", encoding="utf-8"):
            pass
        self.expect_problem("exited with 2: cannot list")


class TraceabilityColumnTest(unittest.TestCase):
    """spec/traceability.md shows each requirement's cases."""

    def setUp(self):
        self.tree = Tree()
        self.text = traceability.generate(self.tree.root)

    def tearDown(self):
        self.tree.remove()

    def row(self, rid):
        for line in self.text.split("\n"):
            if line.startswith(f"| {rid} |"):
                return line
        self.fail(f"no row for {rid}")

    def test_cases_and_exemptions(self):
        self.assertTrue(self.row("SEND-4").endswith("| `t.send-4` |"))
        self.assertTrue(self.row("HB-5").endswith("| `t.hb-five` |"))
        self.assertTrue(self.row(self.tree.exempt).endswith(
            "| not observable (section 1.5) |"))

    def test_missing_cases(self):
        cases = self.tree.catalogue["cases"]
        cases[:] = [c for c in cases if c["reqs"] not in (["SEND-4"],
                                                          ["HB-5"])]
        self.tree.publish()
        self.tree.snapshot()
        text = traceability.generate(self.tree.root)
        self.assertIn("| **none** |", next(
            line for line in text.split("\n") if line.startswith("| SEND-4")))
        self.assertTrue(next(line for line in text.split("\n")
                             if line.startswith("| HB-5")).endswith(
            "| none |"))
        self.assertIn("MUST requirements: ", text)
        self.assertIn(" 1 without a case.", text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
