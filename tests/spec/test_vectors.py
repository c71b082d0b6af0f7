#!/usr/bin/env python3
"""Checks the frame test vectors of conformance/vectors/ (their README.md
defines the format) and the reference decoder against them.

- every file has the documented form, every id is unique, every
  requirement id a vector names is one of the spec;
- parley_frame.py decodes every vector as it says, and, as the C test
  does for libparley, reads every message vector as a byte stream too
  where the spec says what a stream makes of it;
- every worked example of spec section 15 is among the vectors, with the
  same octets and the same verdict, and no vector names an example the
  spec does not have;
- the limits of section 2.3 are each covered at the boundary and one past,
  and every error the frame parser gives is expected somewhere;
- the committed files are what gen_vectors.py writes.

Standard library only. Run by ctest as `spec_vectors`.
"""

import base64
import binascii
import contextlib
import copy
import io
import json
import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VECTORS = os.path.join(ROOT, "conformance", "vectors")
sys.path.insert(0, HERE)
sys.path.insert(0, VECTORS)

import gen_vectors  # noqa: E402
import parley_frame  # noqa: E402
import specdoc  # noqa: E402

FORMAT = "parley-vectors 1"
LIMIT_KEYS = ("frame_size", "header_count", "header_line", "verb")
VECTOR_KEYS = {"id", "title", "reqs", "mode", "spec_example", "hex",
               "base64", "text", "expect"}
MESSAGE_ONLY = {"truncated-frame", "extra-data", "length-required"}
# Which "where" of section 2.8 each reason may have.
WHERE_OF = {
    "bad-start-line": {"start line"},
    "bad-header-name": {"header name"},
    "duplicate-header": {"header name"},
    "bad-header-value": {"header value"},
    "bad-utf8": {"start line", "header value", "body"},
    "header-too-long": {"header line"},
    "too-many-headers": {"header lines"},
    "bad-length": {"content-length"},
    "frame-too-large": {"content-length", "WebSocket message"},
    "truncated-frame": {"WebSocket message"},
    "extra-data": {"WebSocket message"},
    "length-required": {"WebSocket message"},
}
# The reference decoder's rule for bad-utf8, as a "where".
UTF8_WHERE = {"verb": "start line", "header-value": "header value",
              "body": "body"}
ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*\.[a-z0-9][a-z0-9-]*$")
HEX_RE = re.compile(r"^(?:[0-9a-f]{2})*$")


def load_files(directory=VECTORS):
    """{file name: parsed JSON} of every .json file in `directory`."""
    out = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                out[name] = json.load(f)
    return out


def octets_of(v):
    """The input octets of a vector, or None when they cannot be read."""
    try:
        if "hex" in v:
            if not HEX_RE.match(v["hex"]):
                return None
            return bytes.fromhex(v["hex"])
        return base64.b64decode(v["base64"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None


class Checker:
    """Collects problems as "where: message" strings."""

    def __init__(self, root=ROOT):
        text = specdoc.read_spec(root)
        reqs, _ = specdoc.requirements(text)
        self.req_ids = {r.id for r in reqs}
        self.codes = {reason: code for code, reason, _, _ in
                      specdoc.registry_rows(text)}
        self.examples = gen_vectors.spec_examples(root)
        self.problems = []

    def add(self, where, message):
        self.problems.append(f"{where}: {message}")

    # ---- form ---------------------------------------------------------

    def check_file(self, name, doc, ids):
        keys = {"format", "spec_version", "title", "limits", "vectors"}
        if not isinstance(doc, dict) or set(doc) != keys:
            self.add(name, f"top-level keys must be {sorted(keys)}")
            return
        if doc["format"] != FORMAT or doc["spec_version"] != "1":
            self.add(name, "unknown format or spec_version")
        lim = doc["limits"]
        if (not isinstance(lim, dict) or set(lim) != set(LIMIT_KEYS) or
                not all(isinstance(lim[k], int) and 0 < lim[k] for k in lim)
                or lim["verb"] != 32
                or any(lim[k] > gen_vectors.DEFAULT_LIMITS[k] for k in lim)):
            self.add(name, "limits must be the four limits, positive and "
                           "at most those of section 2.3, verb 32")
        if not isinstance(doc["vectors"], list) or not doc["vectors"]:
            self.add(name, "no vectors")
            return
        stem = name[:-len(".json")]
        for v in doc["vectors"]:
            self.check_vector(stem, v, ids)

    def check_vector(self, stem, v, ids):
        vid = v.get("id") if isinstance(v, dict) else None
        if not isinstance(vid, str) or not ID_RE.match(vid) or \
                not vid.startswith(stem + "."):
            self.add(stem, f"bad vector id {vid!r}")
            return
        if vid in ids:
            self.add(vid, "id given twice")
        ids.add(vid)
        extra = set(v) - VECTOR_KEYS
        missing = {"id", "title", "reqs", "mode", "expect"} - set(v)
        if extra or missing:
            self.add(vid, f"unknown keys {sorted(extra)}, missing "
                          f"{sorted(missing)}")
            return
        self.check_reqs(vid, v["reqs"])
        self.check_input(vid, v)
        if v["mode"] not in ("message", "stream"):
            self.add(vid, f"unknown mode {v['mode']!r}")
        elif not self.check_expect(vid, v["mode"], v["expect"]):
            self.add(vid, "malformed expect")

    def check_reqs(self, vid, reqs):
        if not isinstance(reqs, list) or not reqs:
            self.add(vid, "reqs must be a non-empty list")
            return
        for rid in reqs:
            if rid not in self.req_ids:
                self.add(vid, f"requirement {rid} is not in the spec")

    def check_input(self, vid, v):
        if ("hex" in v) == ("base64" in v):
            self.add(vid, "needs exactly one of hex and base64")
            return
        data = octets_of(v)
        if data is None:
            self.add(vid, "input octets do not decode")
            return
        if ("hex" in v) != (len(data) <= gen_vectors.HEX_MAX):
            self.add(vid, "hex up to 4,096 octets, base64 beyond")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        want_text = text if "hex" in v else None
        if v.get("text") != want_text:
            self.add(vid, "text must be the octets as UTF-8, present "
                          "exactly when hex is and they are UTF-8")

    def check_expect(self, vid, mode, e):
        """True when `e` has the form of its mode; adds error problems."""
        if not isinstance(e, dict):
            return False
        if mode == "message":
            if set(e) == {"frame"}:
                return self.is_frame(e["frame"])
            return set(e) == {"error"} and self.check_error(vid, e["error"],
                                                            False)
        frames = e.get("frames")
        if not isinstance(frames, list) or not all(map(self.is_frame,
                                                       frames)):
            return False
        if set(e) == {"frames", "pending"}:
            return isinstance(e["pending"], int) and e["pending"] >= 0
        return set(e) == {"frames", "error"} and self.check_error(
            vid, e["error"], True)

    @staticmethod
    def is_frame(f):
        return (isinstance(f, dict) and set(f) == {"verb", "headers", "body"}
                and isinstance(f["verb"], str) and isinstance(f["body"], str)
                and isinstance(f["headers"], list)
                and all(isinstance(h, list) and len(h) == 2 and
                        all(isinstance(x, str) for x in h)
                        for h in f["headers"]))

    def check_error(self, vid, err, stream):
        keys = {"reason", "code", "offset"} | ({"frame_start"} if stream
                                               else set())
        if not isinstance(err, dict) or not keys <= set(err) or \
                not set(err) <= keys | {"where"}:
            return False
        reason = err["reason"]
        if self.codes.get(reason) != err["code"]:
            self.add(vid, f"{reason} is not code {err['code']}")
        if stream and reason in MESSAGE_ONLY:
            self.add(vid, f"{reason} does not occur on a stream")
        where = err.get("where")
        if where is not None and where not in WHERE_OF.get(reason, ()):
            self.add(vid, f"{reason} cannot be in the {where!r} of 2.8")
        return isinstance(err["offset"], int) and err["offset"] >= 0

    # ---- the reference decoder ----------------------------------------

    def check_decoder(self, doc):
        lim = doc["limits"]
        lim = parley_frame.Limits(lim["frame_size"], lim["header_count"],
                                  lim["header_line"])
        for v in doc["vectors"]:
            data = octets_of(v)
            if v["mode"] == "message":
                self.compare(v["id"], decode(data, lim, self.codes),
                             v["expect"])
                view = stream_view(v["expect"], len(data))
                if view is not None:
                    self.compare(v["id"] + " (as a stream)",
                                 decode_stream(data, lim, self.codes), view)
            else:
                self.compare(v["id"], decode_stream(data, lim, self.codes),
                             v["expect"])

    def compare(self, vid, got, want):
        want = copy.deepcopy(want)
        err = want.get("error")
        if err is not None and "where" in err and \
                err["reason"] != "bad-utf8":
            del err["where"]
        if got != want:
            self.add(vid, f"the reference decoder gives {_short(got)}, the "
                          f"vector says {_short(want)}")

    # ---- section 15 and coverage -------------------------------------

    def check_spec_examples(self, files):
        by_name = {}
        for doc in files.values():
            for v in doc["vectors"]:
                if "spec_example" in v:
                    by_name.setdefault(v["spec_example"], []).append(v)
        names = set()
        for name, _, invalid, wire, want in self.examples:
            names.add(name)
            found = by_name.get(name, [])
            if len(found) != 1:
                self.add(f"example {name}", f"{len(found)} vectors "
                                            "reproduce it, not 1")
                continue
            v = found[0]
            if v["mode"] != "message" or octets_of(v) != wire:
                self.add(v["id"], f"octets differ from example {name}")
            if invalid:
                same = v["expect"].get("error", {}).get("reason") == \
                    want["error"]
            else:
                same = v["expect"].get("frame") == want
            if not same:
                self.add(v["id"], f"verdict differs from example {name}: "
                                  f"{_short(v['expect'])}, spec "
                                  f"{_short(want)}")
        for name in sorted(set(by_name) - names):
            self.add(f"example {name}", "named by a vector but not in the "
                                        "spec")

    def check_coverage(self, files):
        seen = set()
        for doc in files.values():
            for v in doc["vectors"]:
                e = v["expect"]
                if "error" in e:
                    seen.add(e["error"]["reason"])
        for code in range(400, 412):
            reason = next(r for r, c in self.codes.items() if c == code)
            if reason not in seen:
                self.add("coverage", f"no vector expects {reason}")
        for problem in limit_gaps(files):
            self.add("coverage", problem)


def decode(data, lim, codes):
    """The reference decoder's verdict on a message, as an expect."""
    try:
        return {"frame": parley_frame.decode_message(data, lim)}
    except parley_frame.FrameError as err:
        return {"error": _error(err, codes)}


def decode_stream(data, lim, codes):
    """The reference decoder's verdict on a stream, as an expect."""
    r = parley_frame.decode_stream(data, lim)
    if r.error is None:
        return {"frames": r.frames, "pending": r.pending}
    e = _error(r.error, codes)
    e["frame_start"] = r.frame_start
    return {"frames": r.frames, "error": e}


def _error(err, codes):
    e = {"reason": err.reason, "code": codes[err.reason],
         "offset": err.offset}
    if err.reason == "bad-utf8":
        e["where"] = UTF8_WHERE.get(err.rule, err.rule)
    return e


def stream_view(expect, length):
    """What a byte stream makes of a message vector's octets, or None
    where the spec leaves it open (see tests/unit/test_vectors.c)."""
    if "frame" in expect:
        return {"frames": [expect["frame"]], "pending": 0}
    err = dict(expect["error"])
    if err["reason"] == "truncated-frame":
        return {"frames": [], "pending": length}
    if err["reason"] in MESSAGE_ONLY or \
            err.get("where") == "WebSocket message":
        return None
    err["frame_start"] = 0
    return {"frames": [], "error": err}


def limit_gaps(files):
    """What section 2.3's limits lack: a vector at each limit and one
    just past it, in the files that use those limits."""
    at = {"verb": False, "headers": False, "line": False, "frame": False}
    past = dict(at)
    for doc in files.values():
        if doc["limits"] != gen_vectors.DEFAULT_LIMITS:
            continue
        for v in doc["vectors"]:
            if v["mode"] == "message":
                _limit_marks(octets_of(v), v["expect"], at, past)
    gaps = [f"no valid frame at the {k} limit" for k in at if not at[k]]
    return gaps + [f"no vector one past the {k} limit" for k in past
                   if not past[k]]


def _limit_marks(data, expect, at, past):
    lim = gen_vectors.DEFAULT_LIMITS
    if "frame" in expect:
        f = expect["frame"]
        at["verb"] |= len(f["verb"]) == lim["verb"]
        at["headers"] |= len(f["headers"]) == lim["header_count"]
        at["line"] |= any(len(n.encode()) + 2 + len(x.encode()) ==
                          lim["header_line"] for n, x in f["headers"])
        at["frame"] |= len(data) == lim["frame_size"]
        return
    e = expect["error"]
    past["verb"] |= (e["reason"], e["offset"]) == ("bad-start-line",
                                                   lim["verb"])
    past["headers"] |= e["reason"] == "too-many-headers"
    past["line"] |= e["reason"] == "header-too-long"
    past["frame"] |= e["reason"] == "frame-too-large" and \
        len(data) == lim["frame_size"] + 1


def _short(x):
    text = json.dumps(x)
    return text if len(text) < 300 else text[:300] + "..."


def check_all(files, root=ROOT):
    """Every check over `files` ({name: document}); returns problems."""
    c = Checker(root)
    ids = set()
    for name, doc in files.items():
        c.check_file(name, doc, ids)
    if c.problems:
        return c.problems
    for doc in files.values():
        c.check_decoder(doc)
    c.check_spec_examples(files)
    c.check_coverage(files)
    return c.problems


class VectorsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.files = load_files()

    def problems_of(self, files):
        return "\n".join(check_all(files))

    # spec: FRAME-1 FRAME-2 FRAME-4 FRAME-5 FRAME-6 FRAME-10 WS-1 WS-2
    # spec: WS-7 STREAM-1 EXT-1 SEC-18
    def test_reference_decoder_and_spec_agree_with_every_vector(self):
        self.assertGreater(len(self.files), 0)
        self.assertEqual(self.problems_of(self.files), "")

    def test_files_are_what_the_generator_writes(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = gen_vectors.main(["--check", ROOT])
        self.assertEqual(rc, 0, out.getvalue())

    def doctored(self, vid, change):
        files = copy.deepcopy(self.files)
        for doc in files.values():
            for v in doc["vectors"]:
                if v["id"] == vid:
                    change(v)
                    return files
        self.fail(f"no vector {vid}")

    def test_a_wrong_offset_is_caught(self):
        files = self.doctored("utf8.body-overlong-2", lambda v: v["expect"][
            "error"].update(offset=v["expect"]["error"]["offset"] + 1))
        self.assertIn("utf8.body-overlong-2: the reference decoder gives",
                      self.problems_of(files))

    def test_a_wrong_frame_is_caught(self):
        def change(v):
            v["expect"]["frames"][1]["body"] = "hellO"
        files = self.doctored("stream.several", change)
        self.assertIn("stream.several: the reference decoder",
                      self.problems_of(files))

    def test_an_unknown_requirement_is_caught(self):
        files = self.doctored("grammar.verb-only",
                              lambda v: v["reqs"].append("FRAME-99"))
        self.assertIn("requirement FRAME-99 is not in the spec",
                      self.problems_of(files))

    def test_text_that_differs_from_the_octets_is_caught(self):
        files = self.doctored("grammar.verb-only",
                              lambda v: v.update(text="PONG\r\n\r\n"))
        self.assertIn("grammar.verb-only: text must be",
                      self.problems_of(files))

    def test_a_spec_example_that_drifts_is_caught(self):
        def change(v):
            v["expect"]["error"]["reason"] = "bad-header-name"
            v["expect"]["error"]["code"] = 401
            v["expect"]["error"]["where"] = "header name"
        files = self.doctored("spec.bad-start-line", change)
        self.assertIn("verdict differs from example bad-start-line",
                      self.problems_of(files))

    def test_a_missing_spec_example_is_caught(self):
        files = copy.deepcopy(self.files)
        files["spec.json"]["vectors"] = [
            v for v in files["spec.json"]["vectors"]
            if v.get("spec_example") != "ping"]
        self.assertIn("example ping: 0 vectors reproduce it",
                      self.problems_of(files))

    def test_a_missing_limit_is_caught(self):
        files = copy.deepcopy(self.files)
        files["limits.json"]["vectors"] = [
            v for v in files["limits.json"]["vectors"]
            if v["id"] not in ("limits.verb-32", "limits.all-limits")]
        self.assertIn("no valid frame at the verb limit",
                      self.problems_of(files))

    def test_a_message_error_on_a_stream_is_caught(self):
        def change(v):
            v["expect"]["error"].update(reason="extra-data", code=410)
            del v["expect"]["error"]["where"]
        files = self.doctored("stream.error-first", change)
        self.assertIn("extra-data does not occur on a stream",
                      self.problems_of(files))


if __name__ == "__main__":
    unittest.main(verbosity=2)
