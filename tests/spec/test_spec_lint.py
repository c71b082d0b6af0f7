#!/usr/bin/env python3
"""Checks that spec_lint.py and traceability.py catch what they claim to.

Each test copies what the lint reads (the spec, the list of requirement
ids, the error header, the HTTP API's source) into a temporary tree,
breaks one thing, and expects the lint to fail with a message naming
it. The cases of SDP bodies and candidates need the spec_sdp_check
program the build makes, named by the environment variable
SPEC_SDP_CHECK (ctest sets it); without it they are skipped. Standard
library only.
"""

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import lint_refs  # noqa: E402
import parley_frame  # noqa: E402
import spec_lint  # noqa: E402
import specdoc  # noqa: E402
import traceability  # noqa: E402

SPEC = "spec/parley-1.md"
ERROR_H = "include/parley/error.h"
IDS = "spec/requirement-ids.txt"
CHECKER = os.environ.get("SPEC_SDP_CHECK")

# Test files for the scanner, written line by line so that this file holds
# no tag of its own.
C_TEST = "\n".join([
    "#include <criterion/criterion.h>",
    "/* spec: FRAME-1 FRAME-4 */",
    "Test(frame, rejects_lower_case_verb)",
    "{",
    "}",
    "/* spec: SEND-99 */",
    "static void helper_check(void)",
    "{",
    "}",
    "",
])
PY_TEST = "\n".join([
    "import unittest",
    "class TestLife(unittest.TestCase):",
    "    # spec: LIFE-1",
    "    def test_first_frame_is_hello(self):",
    "        pass",
    "# spec: SEND-3, SEND-4",
    "@some_decorator",
    "def test_dedup():",
    "    pass",
    "",
])


class Tree:
    """A temporary copy of what the lint reads."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="spec-lint-")
        http = [f"ref-server/{n}" for n in
                os.listdir(os.path.join(ROOT, "ref-server"))
                if n.startswith("http_") and n.endswith(".c")]
        for rel in [SPEC, ERROR_H, IDS] + http:
            os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
            shutil.copyfile(os.path.join(ROOT, rel), self.path(rel))
        os.makedirs(self.path("tests/unit"))
        self.write("tests/unit/test_x.c", C_TEST)
        self.write("tests/unit/test_y.py", PY_TEST)
        self.touch_named_paths()
        self.regenerate()

    def touch_named_paths(self):
        """Empty stand-ins for the repository paths the spec names."""
        text = lint_refs.without_fences(self.read(SPEC))
        for m in lint_refs.PATH_SPAN_RE.finditer(text):
            rel = m.group(1)
            if os.path.exists(self.path(rel)):
                continue
            if rel.endswith("/"):
                os.makedirs(self.path(rel), exist_ok=True)
            else:
                os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
                self.write(rel, "")

    def path(self, rel):
        return os.path.join(self.root, rel)

    def read(self, rel):
        with open(self.path(rel), "rb") as f:
            return f.read().decode("utf-8", "surrogateescape")

    def write(self, rel, text):
        with open(self.path(rel), "wb") as f:
            f.write(text.encode("utf-8", "surrogateescape"))

    def replace(self, rel, old, new):
        text = self.read(rel)
        if old not in text:
            raise AssertionError(f"{old!r} not in {rel}")
        self.write(rel, text.replace(old, new, 1))

    def replace_in_http(self, old, new):
        """Replaces `old` in the HTTP API source that holds it."""
        for name in sorted(os.listdir(self.path("ref-server"))):
            rel = f"ref-server/{name}"
            if old in self.read(rel):
                self.write(rel, self.read(rel).replace(old, new))
                return
        raise AssertionError(f"{old!r} not in ref-server/http_*.c")

    def regenerate(self):
        with contextlib.redirect_stdout(io.StringIO()):
            traceability.main(["--write", self.root])

    def lint(self):
        out = io.StringIO()
        args = ["--sdp-check", CHECKER] if CHECKER else []
        with contextlib.redirect_stdout(out):
            rc = spec_lint.main(args + [self.root])
        return rc, out.getvalue()

    def remove(self):
        shutil.rmtree(self.root)


class LintTest(unittest.TestCase):

    def setUp(self):
        self.tree = Tree()

    def tearDown(self):
        self.tree.remove()

    def expect_problem(self, words):
        rc, out = self.tree.lint()
        self.assertEqual(rc, 1, out)
        self.assertIn(words, out)

    def test_copy_of_the_spec_passes(self):
        rc, out = self.tree.lint()
        self.assertEqual(rc, 0, out)
        self.assertIn(", 0 problems", out)

    def test_keyword_outside_a_bracket(self):
        self.tree.replace(SPEC, "Typing is not stored.",
                          "Typing SHOULD NOT be stored.")
        self.expect_problem('"SHOULD NOT" outside a requirement bracket')

    def test_keyword_split_over_two_lines(self):
        self.tree.replace(SPEC, "Typing is not stored.",
                          "Typing MUST\nNOT be stored.")
        self.expect_problem("outside a requirement bracket")

    def test_keyword_in_boilerplate_and_code_is_allowed(self):
        self.tree.replace(SPEC, "Typing is not stored.",
                          "Typing is not stored (`MUST` in code).")
        rc, out = self.tree.lint()
        self.assertEqual(rc, 0, out)

    def test_duplicate_id(self):
        self.tree.replace(SPEC, "[HB-7: a server MUST count",
                          "[HB-6: a server MUST count")
        self.tree.regenerate()
        self.expect_problem("HB-6 given twice")

    def test_bracket_without_keyword(self):
        self.tree.replace(SPEC, "Typing is not stored.",
                          "[TYPE-9: typing is not stored.]")
        self.tree.regenerate()
        self.expect_problem("TYPE-9 holds no requirement keyword")

    def test_registry_fatal_differs(self):
        self.tree.replace(ERROR_H, 'X(RATE_LIMITED, 429, "rate-limited", '
                          'false,', 'X(RATE_LIMITED, 429, "rate-limited", '
                          'true,')
        self.expect_problem("(429, 'rate-limited', False)")

    def test_registry_reason_differs(self):
        self.tree.replace(SPEC, "| 442 | bad-cursor |",
                          "| 442 | bad-cursors |")
        self.expect_problem("bad-cursors")

    def test_wrong_content_length(self):
        self.tree.replace(SPEC, "content-length: 13\n\nYes, at noon.",
                          "content-length: 12\n\nYes, at noon.")
        self.expect_problem("content-length 12 but the body has 13 octets")

    def test_bad_json(self):
        self.tree.replace(SPEC, '{"verb": "PING", "headers": [["nonce", '
                          '"n-1"]], "body": ""}', '{"verb": "PING",')
        self.expect_problem("example ping: bad JSON")

    def test_json_that_does_not_match_the_frame(self):
        self.tree.replace(SPEC, '[["nonce", "n-1"]], "body": ""}',
                          '[["nonce", "n-2"]], "body": ""}')
        self.expect_problem("example ping: decodes to")

    def test_invalid_example_with_wrong_reason(self):
        self.tree.replace(SPEC, '{"error": "duplicate-header"}',
                          '{"error": "bad-header-name"}')
        self.expect_problem("example duplicate-header: decodes to")

    def test_malformed_info_string(self):
        self.tree.replace(SPEC, "```parley-frame example=ping\n",
                          "```parley-frame example=Ping\n")
        self.expect_problem("malformed info string")

    def test_missing_required_invalid_kind(self):
        text = self.tree.read(SPEC)
        start = text.index("```parley-frame example=truncated invalid")
        end = text.index('{"error": "truncated-frame"}\n```\n', start)
        end += len('{"error": "truncated-frame"}\n```\n')
        self.tree.write(SPEC, text[:start] + text[end:])
        self.expect_problem("no invalid example gets truncated-frame")

    def test_verb_without_example(self):
        text = self.tree.read(SPEC)
        # every example whose verb is OK: the one of section 15.14 and
        # the answer to CALL of section 15.32
        for name in ("ok", "ok-call"):
            start = text.index(f"```parley-frame example={name}\n")
            end = text.index("```\n", text.index(f"```json example={name}"
                                                 "\n", start) + 4) + 4
            text = text[:start] + text[end:]
        self.tree.write(SPEC, text)
        self.expect_problem("verb OK has no valid example")

    def test_stale_traceability(self):
        self.tree.write("tests/unit/test_z.py",
                        "\n".join(["# spec: PRES-1", "def test_p():",
                                   "    pass", ""]))
        self.expect_problem("traceability.md: out of date")
        self.tree.regenerate()
        rc, out = self.tree.lint()
        self.assertEqual(rc, 0, out)

    # The clauses of the spec lint, each shown failing on a doctored copy.

    def replace_in_example(self, name, old, new):
        """Replaces `old` in the frame of example `name` and its JSON."""
        text = self.tree.read(SPEC)
        start = text.index(f"```parley-frame example={name}\n")
        end = text.index("```\n", text.index(f"```json example={name}\n",
                                             start) + 4) + 4
        region = text[start:end]
        self.assertIn(old, region)
        self.tree.write(SPEC, text[:start] + region.replace(old, new)
                        + text[end:])

    def test_must_without_an_id(self):
        self.tree.replace(SPEC, "Typing is not stored.",
                          "A server MUST NOT store typing.")
        self.expect_problem('"MUST NOT" outside a requirement bracket')

    def test_code_missing_from_the_registry(self):
        self.tree.replace(SPEC, "| 446 | bad-candidate | no | the ICE "
                          "candidate breaks the grammar |\n", "")
        self.expect_problem("entry (446, 'bad-candidate', False) is not "
                            "in section 13")

    def test_broken_section_reference(self):
        self.tree.replace(SPEC, "SDP body of the profile (section 19.6)",
                          "SDP body of the profile (section 19.16)")
        self.expect_problem("reference to section 19.16, which does not "
                            "exist")

    def test_other_documents_sections_are_not_the_specs(self):
        self.tree.replace(SPEC, "SDP body of the profile (section 19.6)",
                          "SDP body of the profile (RFC 8866, section 9.9)")
        rc, out = self.tree.lint()
        self.assertEqual(rc, 0, out)

    def test_broken_requirement_reference(self):
        self.tree.replace(SPEC, "the same 404 `not-found` (CALL-22)",
                          "the same 404 `not-found` (CALL-222)")
        self.expect_problem("reference to requirement CALL-222, which does "
                            "not exist")

    def test_vanished_id(self):
        text = self.tree.read(SPEC)
        start = text.index("[WS-8:")
        end = specdoc.bracket_end(specdoc.prose(text), start)
        self.tree.write(SPEC, text[:start] + "A server leaves it to the "
                        "frame parser." + text[end:])
        self.tree.regenerate()
        self.expect_problem("WS-8 is gone from the spec; an id never "
                            "disappears: mark it retired")

    def test_retired_id_passes_and_cannot_be_named(self):
        text = self.tree.read(SPEC)
        start = text.index("[WS-8:")
        end = specdoc.bracket_end(specdoc.prose(text), start)
        self.tree.write(SPEC, text[:start] + "A server leaves it to the "
                        "frame parser." + text[end:])
        self.tree.replace(IDS, "\nWS-8\n", "\nWS-8 retired\n")
        self.tree.regenerate()
        rc, out = self.tree.lint()
        self.assertEqual(rc, 0, out)
        self.tree.replace(SPEC, "Typing is not stored.",
                          "Typing is not stored (WS-8).")
        self.expect_problem("reference to WS-8, a retired requirement")

    def test_reused_retired_id(self):
        self.tree.replace(IDS, "\nWS-8\n", "\nWS-8 retired\n")
        self.expect_problem("WS-8 is retired but the spec gives it again")

    def test_unlisted_id(self):
        self.tree.replace(SPEC, "Typing is not stored.",
                          "[TYPE-99: a server MUST NOT store typing.]")
        self.expect_problem("TYPE-99 is not listed")
        self.tree.regenerate()   # records TYPE-99
        self.assertIn("\nTYPE-99\n", self.tree.read(IDS))

    def test_id_skipping_a_number(self):
        self.tree.replace(SPEC, "Typing is not stored.",
                          "[TYPE-99: a server MUST NOT store typing.]")
        self.tree.regenerate()
        self.expect_problem("TYPE-99 skips TYPE-98")

    def test_malformed_sdp_example(self):
        if not CHECKER:
            self.skipTest("SPEC_SDP_CHECK not set")
        self.replace_in_example("offer", "a=setup:actpass",
                                "a=setup:actpasx")
        self.expect_problem("example offer: SDP body refused: error bad-sdp")

    def test_offer_with_the_answers_setup(self):
        if not CHECKER:
            self.skipTest("SPEC_SDP_CHECK not set")
        self.replace_in_example("offer", "a=setup:actpass",
                                "a=setup:passive")
        self.expect_problem("example offer: an OFFER needs a=setup:actpass")

    def test_malformed_candidate_example(self):
        if not CHECKER:
            self.skipTest("SPEC_SDP_CHECK not set")
        self.replace_in_example("candidate", "49170 typ host",
                                "49170 typ h@st")
        self.expect_problem("example candidate: candidate refused: "
                            "error bad-candidate")

    def test_bad_json_span(self):
        self.tree.replace(SPEC, '`{"user": "alice", "password": "..."}`',
                          '`{"user": "alice", "password": ...}`')
        self.expect_problem("JSON example does not parse")

    def test_bad_transcript_line(self):
        self.tree.replace(SPEC, '< {"event":"queued","conv":"c7f3a",',
                          '< {"event":"enqueued","conv":"c7f3a",')
        self.expect_problem("transcript event 'enqueued' is not in the "
                            "table of section 18")

    def test_transcript_line_lacking_a_member(self):
        self.tree.replace(SPEC, '> {"cmd":"send","conv":"c7f3a",',
                          '> {"cmd":"send",')
        self.expect_problem("transcript cmd send lacks conv")

    def test_code_block_of_unknown_kind(self):
        self.tree.replace(SPEC, "```driver-transcript\n", "```\n")
        self.expect_problem("code block with info string ''")

    def test_rfc_not_in_the_references(self):
        self.tree.replace(SPEC, "Typing is not stored.",
                          "Typing is not stored (RFC 9999).")
        self.expect_problem("RFC 9999 is cited but not listed")

    def test_broken_link_and_path(self):
        self.tree.replace(SPEC, "Typing is not stored.",
                          "Typing is not stored ([see](#section-99), "
                          "`tests/unit/test_nothing.c`).")
        rc, out = self.tree.lint()
        self.assertEqual(rc, 1, out)
        self.assertIn("link to #section-99: no such anchor", out)
        self.assertIn("path tests/unit/test_nothing.c does not exist", out)

    def test_link_to_a_requirement_resolves(self):
        self.tree.replace(SPEC, "Typing is not stored.",
                          "Typing is not stored ([HB-7](#HB-7), "
                          "[4.1](#section-4.1)).")
        rc, out = self.tree.lint()
        self.assertEqual(rc, 0, out)

    def test_http_only_error_missing_from_the_spec(self):
        self.tree.replace(SPEC, "415 `unsupported-media-type`, 501",
                          "501")
        self.expect_problem("answers 415 unsupported-media-type, which is "
                            "neither an HTTP-only error")

    def test_http_only_error_never_answered(self):
        self.tree.replace_in_http('"method-not-allowed"', '"bad-method"')
        rc, out = self.tree.lint()
        self.assertEqual(rc, 1, out)
        self.assertIn("405 method-not-allowed of section 12.1 is never "
                      "answered", out)
        self.assertIn("answers 405 bad-method", out)

    def test_registry_error_with_another_status(self):
        self.tree.replace_in_http("503, PARLEY_E_GOING_AWAY",
                                  "500, PARLEY_E_GOING_AWAY")
        self.expect_problem("going-away answered with status 500, section "
                            "12.1 says 503")


class TraceabilityTest(unittest.TestCase):

    def setUp(self):
        self.tree = Tree()
        self.text = self.tree.read("spec/traceability.md")

    def tearDown(self):
        self.tree.remove()

    def row(self, rid):
        for line in self.text.split("\n"):
            if line.startswith(f"| {rid} |"):
                return line
        self.fail(f"no row for {rid}")

    def test_c_test_names(self):
        self.assertIn("`tests/unit/test_x.c`: frame/rejects_lower_case_verb",
                      self.row("FRAME-1"))
        self.assertIn("frame/rejects_lower_case_verb", self.row("FRAME-4"))

    def test_python_test_names(self):
        self.assertIn("TestLife.test_first_frame_is_hello",
                      self.row("LIFE-1"))
        self.assertIn("`tests/unit/test_y.py`: test_dedup", self.row("SEND-4"))

    def test_level_and_section(self):
        self.assertTrue(self.row("HB-5").startswith("| HB-5 | SHOULD | 4.1 |"))
        self.assertTrue(self.row("ERR-1").startswith(
            "| ERR-1 | MUST, MUST NOT | 3 |"))

    def test_untested_and_unknown(self):
        self.assertIn("not yet tested", self.row("DUR-3"))
        self.assertIn("- `SEND-99`: `tests/unit/test_x.c`: helper_check",
                      self.text)

    def test_check_mode_exits_1_when_stale(self):
        self.tree.write("spec/traceability.md", "stale\n")
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(traceability.main([self.tree.root]), 1)
        self.tree.regenerate()
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(traceability.main([self.tree.root]), 0)


class HeadTest(unittest.TestCase):
    """--head reads the committed files, not the working tree."""

    def setUp(self):
        self.tree = Tree()
        self.git("init", "-q")
        self.git("add", "-A")
        self.git("-c", "user.name=t", "-c", "user.email=t@t", "commit",
                 "-q", "-m", "base")

    def tearDown(self):
        self.tree.remove()

    def git(self, *args):
        subprocess.run(("git", "-C", self.tree.root) + args, check=True,
                       stdout=subprocess.DEVNULL)

    def test_uncommitted_tags_are_left_out(self):
        name = "test_uncommitted_only"
        self.tree.write("tests/unit/test_z.py",
                        "\n".join(["# spec: DUR-3", f"def {name}():",
                                   "    pass", ""]))
        self.assertIn(name, traceability.generate(self.tree.root))
        self.assertNotIn(name,
                         traceability.generate(self.tree.root, head=True))
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(traceability.main(["--head", self.tree.root]),
                             0)


class DecoderTest(unittest.TestCase):

    def reason(self, data):
        with self.assertRaises(parley_frame.FrameError) as ctx:
            parley_frame.decode_message(data)
        return ctx.exception.reason

    def test_valid_frame(self):
        got = parley_frame.decode_message(
            b"SEND\r\nconv: c1\r\ncontent-length: 5\r\n\r\nhello")
        self.assertEqual(got, {"verb": "SEND", "body": "hello", "headers":
                               [["conv", "c1"], ["content-length", "5"]]})

    def test_limits_are_inclusive(self):
        parley_frame.decode_message(b"A" * 32 + b"\r\n\r\n")
        self.assertEqual(self.reason(b"A" * 33 + b"\r\n\r\n"),
                         "bad-start-line")
        line = b"x: " + b"a" * 1021
        parley_frame.decode_message(b"P\r\n" + line + b"\r\n\r\n")
        self.assertEqual(self.reason(b"P\r\n" + line + b"a\r\n\r\n"),
                         "header-too-long")

    # spec: FRAME-10
    def test_message_ending_at_the_line_limit_is_truncated(self):
        for line in (b"x" * 1024, b"x" * 1023 + b":", b"x" * 1022 + b": "):
            with self.assertRaises(parley_frame.FrameError) as ctx:
                parley_frame.decode_message(b"SYNC\r\n" + line)
            self.assertEqual((ctx.exception.reason, ctx.exception.offset),
                             ("truncated-frame", 1030), line[-4:])
            self.assertEqual(self.reason(b"SYNC\r\n" + line + b"x"),
                             "header-too-long")

    def test_utf8_faults(self):
        self.assertEqual(self.reason(b"P\r\nx: \xed\xa0\x80\r\n\r\n"),
                         "bad-utf8")
        self.assertEqual(self.reason(
            b"P\r\ncontent-length: 2\r\n\r\na\xc3"), "bad-utf8")
        self.assertEqual(self.reason(
            b"P\r\ncontent-length: 3\r\n\r\na\xc3"), "truncated-frame")

    def test_huge_length_is_too_large(self):
        self.assertEqual(self.reason(
            b"P\r\ncontent-length: 18446744073709551616\r\n\r\n"),
            "frame-too-large")

    def test_example_wire_form(self):
        wire = parley_frame.example_wire(["SEND", "conv: c1", "", "a", "b"])
        self.assertEqual(wire, b"SEND\r\nconv: c1\r\n\r\na\r\nb")
        self.assertEqual(parley_frame.example_wire(["PING", ""]),
                         b"PING\r\n\r\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
