"""End-to-end tests of the parley-conform runner itself: its command line,
exit codes, --expect-fail, --fail-fast, --case and its reports.

Two kinds of target: the reference server that parley-conform starts on
its own (no URL), and a small stand-in written here that answers the HTTP
API well enough for the run to set up (config, tokens, conversations) and
then breaks the protocol on every WebSocket, so that real cases fail and
the verdict and exit-code plumbing can be seen working. No fake case is
compiled into the product.

usage: test_conform_runner.py --test NAME --conform-bin PATH
                              --server-bin PATH
"""

import argparse
import base64
import fnmatch
import html as htmllib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import xml.etree.ElementTree as ET

import jsonschema

from conform_standin import (CONFIG, StandinServer, answer_json,
                             switching_protocols, ws_frame)
from parley_e2e import HANG_S, run_tests

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_DIR = os.path.join(HERE, "..", "..", "conformance", "schema")
JUNIT_XSD = os.path.join(SCHEMA_DIR, "junit.xsd")
RESULT_SCHEMA = os.path.join(SCHEMA_DIR,
                             "parley-conform-result.schema.json")
ROOT = os.path.join(HERE, "..", "..")
# The documents whose case ids must name real cases.
DOCS = ("README.md", os.path.join("conformance", "README.md"))
RUN_S = 600  # guards a whole run against hangs; never a pass condition

ARGS = None


def conform(*args, timeout=RUN_S):
    """Runs parley-conform; returns the CompletedProcess (text)."""
    return subprocess.run([ARGS.conform_bin, *args], capture_output=True,
                          text=True, timeout=timeout)


def self_started(*args):
    """A run against the reference server parley-conform starts itself.
    Its token requests hash a password each (Argon2id, one at a time), so
    on a loaded machine eight cases asking for tokens at once can wait
    seconds: --timeout bounds the wait generously, it decides nothing."""
    return conform("--server-bin", ARGS.server_bin, "--timeout", "15000",
                   *args)


def where(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout[-6000:]}\n" \
           f"stderr:\n{r.stderr[-6000:]}"


def catalogue(*args):
    r = conform("--list", "--json", "-", *args)
    assert r.returncode == 0, where(r)
    return json.loads(r.stdout)


def server_ids(*args):
    return [c["id"] for c in catalogue(*args)["cases"]
            if c["mode"] == "server"]


def check_junit(path):
    """Validates path against the JUnit schema with xmllint."""
    r = subprocess.run(["xmllint", "--noout", "--schema", JUNIT_XSD, path],
                       capture_output=True, text=True, timeout=HANG_S)
    assert r.returncode == 0, r.stderr[-4000:]


def load_result(path):
    """Reads a --json report and validates it against its schema."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    with open(RESULT_SCHEMA, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(doc)
    return doc


def verdicts(doc):
    return {c["id"]: c["verdict"] for c in doc["cases"]}


# ---- a stand-in server that breaks the protocol --------------------------

# What the stand-in answers every WebSocket message with: not a frame (a
# header line without a colon), with markup and control octets that the
# reports must show escaped.
BROKEN = b"WELCOME\r\n<script>alert(1)</script>\x01\xff\r\n\r\n"


# What the noisy stand-in sends on every WebSocket instead of an answer:
# live MSG frames of a conversation no case created, as a server sends a
# user's other traffic to every session of the user.
NOISE = [("MSG\r\nconv: c-not-this-case\r\nmsg-id: m%d\r\nseq: %d\r\n"
          "from: someone\r\ndevice: d1\r\ntemp-id: t%d\r\nts: 1\r\n"
          "pos: p%d\r\ncontent-type: text/plain\r\ncontent-length: 2"
          "\r\n\r\nhi" % (i, i, i, i)).encode() for i in range(1, 4)]


class BrokenServer(StandinServer):
    """HTTP API good enough for setup; WebSocket sessions that break (or,
    with noise, that answer nothing and send other conversations' MSG)."""

    def __init__(self, noise=False):
        self.noise = noise
        self.convs = 0
        self.lock = threading.Lock()
        super().__init__()

    def _answer(self, conn, head, body):
        method, path = head.split(" ")[:2]
        now = int(time.time() * 1000)
        if path.startswith("/v1/ws"):
            self._websocket(conn, head)
        elif method == "GET" and path == "/v1/config":
            answer_json(conn, 200, CONFIG)
        elif method == "POST" and path == "/v1/auth/token":
            user = json.loads(body or b"{}").get("user", "?")
            answer_json(conn, 200, {"token": "pt1.stand-in", "user": user,
                                    "expires_ms": now + 3600000})
        elif method == "POST" and path == "/v1/conversations":
            with self.lock:
                self.convs += 1
                cid = f"c{self.convs}"
            req = json.loads(body or b"{}")
            answer_json(conn, 201, {"id": cid, "kind": req.get("kind"),
                                    "title": "", "members":
                                    req.get("members", []), "last_seq": 0,
                                    "created_ms": now})
        else:
            answer_json(conn, 404, {"error": {"code": 404, "reason":
                                              "no-such-path", "message":
                                              "no such path"}})

    def _websocket(self, conn, head):
        conn.sendall(switching_protocols(head))
        conn.recv(65536)  # the client's first message, unread
        if self.noise:
            conn.sendall(b"".join(ws_frame(1, f) for f in NOISE))
            while conn.recv(65536):  # answers nothing until the case ends
                pass
            return
        conn.sendall(ws_frame(1, BROKEN))


def accounts_file(workdir, n=4):
    path = os.path.join(workdir, f"accounts-{n}.json")
    with open(path, "w") as f:
        json.dump({"accounts": [{"user": f"user{i}", "password": "pw"}
                                for i in range(n)]}, f)
    return path


def against_broken(ctx, *args):
    return conform(ctx["broken"].url(), "--accounts", ctx["accounts"],
                   "--timeout", "500", *args)


# ---- the tests ------------------------------------------------------------

def test_full_suite(ctx):
    """Every server case against the self-started reference server exits
    0; its JUnit and JSON reports validate; the HTML index exists."""
    d = ctx["workdir"]
    junit, result = os.path.join(d, "full.xml"), os.path.join(d, "full.json")
    html = os.path.join(d, "full-html")
    r = self_started("--junit", junit, "--json", result, "--html", html)
    assert r.returncode == 0, where(r)
    check_junit(junit)
    doc = load_result(result)
    assert doc["run"]["result"] == "pass", doc["run"]
    assert doc["run"]["self_started"] is True
    assert sorted(verdicts(doc)) == sorted(server_ids())
    assert os.path.exists(os.path.join(html, "index.html"))
    assert "PASSED" in r.stdout, r.stdout[-2000:]


def test_list_json(ctx):
    """--list --json parses; ids are unique and are <suite>.<name>."""
    doc = catalogue()
    assert doc["spec_version"] == "1"
    ids = [c["id"] for c in doc["cases"]]
    assert len(ids) == len(set(ids)), "a case id is used twice"
    for c in doc["cases"]:
        assert set(c) == {"id", "suite", "title", "reqs", "level", "cap",
                          "version", "mode"}, c
        assert re.fullmatch(r"[a-z0-9-]+\.[a-z0-9-]+", c["id"]), c["id"]
        assert c["id"].startswith(c["suite"] + "."), c
        assert c["level"] in ("MUST", "SHOULD", "MAY"), c
        assert c["mode"] in ("server", "client"), c
        assert c["reqs"] and all(re.fullmatch(r"[A-Z]+-[0-9]+", q)
                                 for q in c["reqs"]), c
        # one sentence; server titles may open with a header name as the
        # spec writes it ("content-length 05 ..."), client ones never do
        assert c["title"].endswith("."), c
        assert c["mode"] == "server" or c["title"][0].isupper(), c
    r = conform("--list")
    assert r.returncode == 0, where(r)
    assert f"{len(ids)} case" in r.stdout, r.stdout[-500:]


def doc_case_ids(text, suites):
    """Every `<suite>.<name>` in text whose suite is one of `suites`: a
    word of its own, not part of a path, a file name, a glob ('send.*')
    or a call (frame.replace(...))."""
    rx = re.compile(r"(?<![\w/.-])(?:" + "|".join(map(re.escape, suites)) +
                    r")\.[a-z0-9]+(?:-[a-z0-9]+)*(?![\w*(/-]|\.\w)")
    return [m.group(0) for m in rx.finditer(text)]


def test_doc_case_ids(ctx):
    """Every case id the READMEs mention is a case of --list, so the
    examples a reader copies (--case, --expect-fail) work."""
    doc = catalogue()
    ids = {c["id"] for c in doc["cases"]}
    suites = sorted({c["suite"] for c in doc["cases"]})
    seen = 0
    for name in DOCS:
        with open(os.path.join(ROOT, name), encoding="utf-8") as f:
            found = doc_case_ids(f.read(), suites)
        missing = sorted(set(found) - ids)
        assert not missing, f"{name} names cases that do not exist: " \
            f"{missing}"
        seen += len(found)
    assert seen >= 3, "the READMEs name no case id: the pattern is wrong"
    assert doc_case_ids("see send.retry-x, `send.*`, cases_send.c, "
                        "frame.replace(x) and no-such.case", ["send"]) == \
        ["send.retry-x"]


def test_usage_errors(ctx):
    """Exit 2, with the flag or file named, for every kind of misuse."""
    d = ctx["workdir"]
    bad_xfail = os.path.join(d, "bad-xfail.txt")
    with open(bad_xfail, "w") as f:
        f.write("# a comment\nno-such.case  the reason\n")
    cases = [
        (["--no-such-flag"], "--no-such-flag"),
        (["-k"], "-k"),
        (["--jobs", "0"], "--jobs"),
        (["--jobs", "many"], "--jobs"),
        (["--timeout", "-5"], "--timeout"),
        (["--timeout"], "--timeout"),
        (["--case", "no-such-suite.*"], "no-such-suite.*"),
        (["--case", "*", "--case", "nothing.x"], "nothing.x"),
        (["--expect-fail", bad_xfail], "no-such.case"),
        (["--expect-fail", os.path.join(d, "missing.txt")], "missing.txt"),
        (["http://127.0.0.1:1", "--accounts", ctx["accounts"]],
         "http://127.0.0.1:1"),
        (["ws://127.0.0.1:1/v1/ws", "--accounts", ctx["accounts"]],
         "ws://127.0.0.1:1/v1/ws"),
        (["ws://127.0.0.1:1"], "--accounts"),
        (["ws://127.0.0.1:1", "--accounts", ctx["accounts3"]],
         "accounts-3.json"),
        (["ws://127.0.0.1:1", "--accounts", bad_xfail], "bad-xfail.txt"),
        (["ws://127.0.0.1:1", "ws://127.0.0.1:2"], "ws://127.0.0.1:2"),
        (["--client"], "--exec"),
        (["--exec", "true"], "--exec"),
        (["--junit", os.path.join(d, "no-dir", "x.xml")], "--junit"),
        (["--junit", "-", "--json", "-"], "--junit -"),
        (["--client", "--exec", "true", "ws://127.0.0.1:1"],
         "--client takes no URL"),
    ]
    for args, named in cases:
        r = conform(*args)
        assert r.returncode == 2, f"{args}: " + where(r)
        assert named in r.stderr, f"{args}: {named!r} not named:\n" + \
            r.stderr
    r = conform("--help")
    assert r.returncode == 0 and "--expect-fail" in r.stdout, where(r)
    r = conform("--version")
    assert r.returncode == 0 and "parley-conform" in r.stdout, where(r)


def test_unreachable(ctx):
    """Exit 3 for a closed loopback port and for a bogus --server-bin."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = conform(f"ws://127.0.0.1:{port}", "--accounts", ctx["accounts"])
    assert r.returncode == 3, where(r)
    assert str(port) in r.stderr, where(r)
    r = conform("--server-bin", os.path.join(ctx["workdir"], "nothing"))
    assert r.returncode == 3, where(r)
    r = conform("--server-bin", "/bin/true")
    assert r.returncode == 3, where(r)
    assert "did not start" in r.stderr, where(r)
    # A --timeout far below the time a token request takes (the server
    # hashes the password): set-up fails, and says so plainly.
    r = conform("--server-bin", ARGS.server_bin, "--timeout", "20")
    assert r.returncode == 3, where(r)
    assert "no HTTP answer within 20 ms (--timeout)" in r.stderr, where(r)


def test_client_cannot_start(ctx):
    """--client with a command that cannot start: exit 3 before any case,
    naming the shell's status and its standard error; a client that
    starts and exits: every case fails with its exit status, none waits
    for a timeout to say so."""
    r = conform("--client", "--exec", "no-such-command-xq", "-q")
    assert r.returncode == 3, where(r)
    assert "status 127" in r.stderr and "no-such-command-xq" in r.stderr, \
        where(r)
    r = conform("--client", "--exec", "true", "-q")
    assert r.returncode == 3 and "status 0" in r.stderr, where(r)
    result = os.path.join(ctx["workdir"], "client-exits.json")
    line = json.dumps({"event": "driver", "version": 1})
    r = conform("--client", "--exec",
                f"echo '{line}'; echo 'out of cheese' >&2; exit 4",
                "--json", result)
    assert r.returncode == 1, where(r)
    cases = load_result(result)["cases"]
    assert cases and all(c["verdict"] in ("fail", "non-strict")
                         for c in cases), verdicts({"cases": cases})
    for c in cases:
        assert "exited with status 4" in c["message"] and \
            "out of cheese" in c["message"], (c["id"], c["message"])


def test_interrupt(ctx):
    """One SIGINT: the running cases finish, the reports are written, the
    exit code is 130 and the JSON result says interrupted, not pass."""
    result = os.path.join(ctx["workdir"], "interrupted.json")
    p = subprocess.Popen([ARGS.conform_bin, "--server-bin", ARGS.server_bin,
                          "--timeout", "15000", "--json", result],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        header = p.stdout.readline()  # printed once the cases start
        assert "server cases against" in header, header
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=RUN_S)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, (p.returncode, out[-2000:], err[-2000:])
    doc = load_result(result)
    assert doc["run"]["interrupted"] is True, doc["run"]
    assert doc["run"]["result"] == "interrupted", doc["run"]
    assert "INTERRUPTED" in out, out[-2000:]


def test_second_interrupt(ctx):
    """A second SIGINT ends the run at once: exit 130, no report file
    left half written, and the self-started server's temporary directory
    (with the accounts' passwords) removed."""
    d = os.path.join(ctx["workdir"], "interrupt")
    tmp = os.path.join(d, "tmp")
    os.makedirs(tmp)
    junit, result = os.path.join(d, "r.xml"), os.path.join(d, "r.json")
    html = os.path.join(d, "html")
    p = subprocess.Popen([ARGS.conform_bin, "--server-bin", ARGS.server_bin,
                          "--timeout", "15000", "--junit", junit, "--json",
                          result, "--html", html],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=dict(os.environ, TMPDIR=tmp))
    try:
        header = p.stdout.readline()  # printed once the cases start
        assert "server cases against" in header, header
        assert os.listdir(tmp), "no temporary directory for the server"
        p.send_signal(signal.SIGINT)
        line = p.stderr.readline()
        while line and "stopping" not in line:
            line = p.stderr.readline()
        assert "stopping" in line, line
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=RUN_S)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, (p.returncode, err[-2000:])
    assert "ended at once" in err, err[-2000:]
    assert not os.path.exists(junit) and not os.path.exists(result)
    assert os.listdir(html) == [], os.listdir(html)
    assert os.listdir(tmp) == [], os.listdir(tmp)


def test_expect_fail_stale(ctx):
    """A listed case that passes is reported STALE; the run still
    passes, and the JSON marks it."""
    suite = server_ids()[0].split(".")[0]
    probe = os.path.join(ctx["workdir"], "probe.json")
    r = self_started("--case", f"{suite}.*", "--json", probe)
    passing = [c["id"] for c in load_result(probe)["cases"]
               if c["verdict"] == "pass"]
    assert passing, "no case passes against the reference server:\n" + \
        where(r)
    xfail = os.path.join(ctx["workdir"], "stale.txt")
    with open(xfail, "w") as f:
        f.write(f"# known failures\n{passing[0]}   thought to fail\n")
    result = os.path.join(ctx["workdir"], "stale.json")
    r = self_started("--case", passing[0], "--expect-fail", xfail,
                     "--json", result)
    assert r.returncode == 0, where(r)
    assert "STALE" in r.stdout and passing[0] in r.stdout, r.stdout
    assert "delete" in r.stdout.lower(), r.stdout
    doc = load_result(result)
    case = doc["cases"][0]
    assert case["verdict"] == "pass" and case["stale"], case
    assert doc["run"]["counts"]["stale"] == 1


def test_case_glob(ctx):
    """--case with a glob runs exactly the matching cases, whatever their
    verdicts (the stand-in server makes most of them fail)."""
    ids = server_ids()
    suite = ids[0].split(".")[0]
    want = [i for i in ids if i.startswith(suite + ".")]
    other = "*." + ids[-1].split(".", 1)[1]
    result = os.path.join(ctx["workdir"], "glob.json")
    r = against_broken(ctx, "--case", f"{suite}.*", "--case", other,
                       "--json", result)
    assert r.returncode in (0, 1), where(r)
    got = [c["id"] for c in load_result(result)["cases"]]
    assert got == [i for i in ids if i in want or
                   fnmatch.fnmatchcase(i, other)], got
    assert server_ids("--case", f"{suite}.*") == want


def broken_run(ctx, name, *args):
    """A run against the stand-in; returns (process, result, junit)."""
    result = os.path.join(ctx["workdir"], f"{name}.json")
    junit = os.path.join(ctx["workdir"], f"{name}.xml")
    r = against_broken(ctx, "--json", result, "--junit", junit, *args)
    doc = load_result(result)
    check_junit(junit)
    return r, doc, junit


def test_failing_target(ctx):
    """Against a server that breaks the protocol: exit 1, MUST cases
    fail with their wire logs, JUnit counts them, HTML escapes them."""
    html = os.path.join(ctx["workdir"], "broken-html")
    r, doc, junit = broken_run(ctx, "broken", "--html", html)
    assert r.returncode == 1, where(r)
    failed = [c for c in doc["cases"] if c["verdict"] == "fail"]
    assert failed, "no case failed against a broken server"
    assert doc["run"]["result"] == "fail"
    assert doc["run"]["counts"]["failing"] >= len(failed)
    users = {"user0", "user1", "user2", "user3"}
    for c in failed:
        assert c["message"] and c["level"] == "MUST", c
        assert c["wire_log"], c["id"]
        for e in c["wire_log"]:  # README, "Reading a wire log"
            m = re.fullmatch(r"([a-z0-9_.-]+?)-[1-9][0-9]*", e["conn"])
            assert e["conn"] == "" or (m and (m.group(1) in users or
                                              "-" not in m.group(1))), \
                (c["id"], e["conn"])
        assert "FAIL" in r.stdout and c["id"] in r.stdout, r.stdout[-3000:]
    with open(junit, encoding="utf-8") as f:
        xml = f.read()
    m = re.search(r'<testsuites [^>]*failures="(\d+)"', xml)
    assert m and int(m.group(1)) == len(failed), m
    broken = [c for c in failed if any(
        e["dir"] == "received" and "<script>" in e["data"]
        for e in c["wire_log"])]
    assert broken, "no wire log holds the stand-in's frame"
    entry = next(e for e in broken[0]["wire_log"]
                 if e["dir"] == "received" and "<script>" in e["data"])
    assert base64.b64decode(entry["data_base64"]) == BROKEN, entry
    page = os.path.join(html, f"case-{broken[0]['id']}.html")
    with open(page, encoding="utf-8") as f:
        text = f.read()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\x01\\xff" in text
    assert "<script>" not in text
    with open(os.path.join(html, "index.html"), encoding="utf-8") as f:
        assert f"case-{broken[0]['id']}.html" in f.read()
    check_quoted_reqs(broken[0], text, junit)


def spec_requirements():
    """{id: (section, text)} of the spec, read as the reports quote it."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "spec"))
    import specdoc  # pylint: disable=import-outside-toplevel
    reqs, _ = specdoc.requirements(specdoc.read_spec(ROOT))
    return {r.id: (r.section, r.text) for r in reqs}


def check_quoted_reqs(case, page, junit):
    """The case's HTML page and its JUnit <system-out> quote the sentence
    and section of every requirement the case checks."""
    spec = spec_requirements()
    tree = ET.parse(junit)
    out = next(tc.find("system-out").text for tc in tree.iter("testcase")
               if tc.get("name") == case["id"])
    plain = htmllib.unescape(re.sub(r"<[^>]+>", "", page))
    for rid in case["reqs"]:
        section, text = spec[rid]
        quoted = f"{rid} (section {section}, "
        assert quoted in plain and text in plain, (rid, plain[:3000])
        assert quoted in out and text in out, (rid, out[:3000])


def test_other_traffic(ctx):
    """A wait that fails names what it waited for, and counts the frames
    of conversations the case did not create instead of listing them as
    if the target had sent them to the case."""
    noisy = BrokenServer(noise=True)
    result = os.path.join(ctx["workdir"], "noise.json")
    try:
        r = conform(noisy.url(), "--accounts", ctx["accounts"], "--timeout",
                    "300", "--case", "hello.*", "--json", result)
    finally:
        noisy.close()
    assert r.returncode == 1, where(r)
    msgs = [c["message"] for c in load_result(result)["cases"]
            if c["verdict"] != "pass"]
    counted = [m for m in msgs if "3 frames of conversations this case "
               "did not create" in m]
    assert counted, msgs
    for m in msgs:
        assert "c-not-this-case" not in m, m
    assert any(re.search(r"waited \d+ ms for the answer to \"req: ", m)
               for m in counted), counted


def test_html_stale_pages(ctx):
    """--html into a directory of an earlier report: the pages of cases
    that this run did not fail are gone, a file the tool did not write
    stays; --junit - writes the report on standard output."""
    html = os.path.join(ctx["workdir"], "stale-html")
    r = against_broken(ctx, "--case", "hello.*", "--html", html)
    assert r.returncode == 1, where(r)
    before = {n for n in os.listdir(html) if n.startswith("case-hello.")}
    assert len(before) > 1, os.listdir(html)
    mine = os.path.join(html, "case-notes.html")
    with open(mine, "w") as f:
        f.write("<p>my own notes</p>\n")
    keep = sorted(before)[0][len("case-"):-len(".html")]
    r = against_broken(ctx, "--case", keep, "--html", html, "--junit", "-")
    assert r.returncode == 1, where(r)
    assert sorted(os.listdir(html)) == sorted(
        ["index.html", f"case-{keep}.html", "case-notes.html"]), \
        os.listdir(html)
    root = ET.fromstring(r.stdout)
    assert [tc.get("name") for tc in root.iter("testcase")] == [keep]
    assert "FAIL" in r.stderr, r.stderr[-2000:]


def test_expect_fail_excuses(ctx):
    """Listing every failing case makes the run pass; each is an
    expected failure, and none is stale."""
    _, doc, _ = broken_run(ctx, "before")
    failing = [c["id"] for c in doc["cases"] if c["verdict"] == "fail"]
    assert failing
    xfail = os.path.join(ctx["workdir"], "broken-xfail.txt")
    with open(xfail, "w") as f:
        f.write("# every case the stand-in fails\n\n")
        f.write("\n".join(f"{i}  the stand-in breaks it (#1)  # a note"
                          for i in failing))
    r, doc, _ = broken_run(ctx, "after", "--expect-fail", xfail)
    assert r.returncode == 0, where(r)
    assert "XFAIL" in r.stdout, r.stdout[-2000:]
    cases = {c["id"]: c for c in doc["cases"]}
    for i in failing:
        assert cases[i]["expected_fail"] and not cases[i]["stale"], i
        assert cases[i]["verdict"] == "fail", cases[i]
        assert cases[i]["expect_fail_reason"] == \
            "the stand-in breaks it (#1)", cases[i]
    assert doc["run"]["counts"]["failing"] == 0
    with open(os.path.join(ctx["workdir"], "after.xml")) as f:
        assert re.search(r'<testsuites [^>]*failures="0"', f.read())
    should = [c["id"] for c in doc["cases"] if c["verdict"] == "non-strict"]
    if should:
        # --strict: the SHOULD cases that fail now fail the run too.
        r, doc, junit = broken_run(ctx, "strict", "--expect-fail", xfail,
                                   "--strict")
        assert r.returncode == 1, where(r)
        n = len(should)
        assert f"{n} SHOULD case{'' if n == 1 else 's'} failed (--strict)" \
            in r.stdout, r.stdout[-2000:]
        assert doc["run"]["counts"]["failing"] == len(should), doc["run"]
        with open(junit, encoding="utf-8") as f:
            assert f.read().count('<failure type="SHOULD"') == len(should)


def test_fail_fast(ctx):
    """-x with one job: nothing starts after the first failing case."""
    r, doc, _ = broken_run(ctx, "fast", "--jobs", "1", "-x")
    assert r.returncode == 1, where(r)
    seen_fail = False
    for c in doc["cases"]:
        if seen_fail:
            assert c["verdict"] == "not-run", c
        elif c["verdict"] == "fail":
            seen_fail = True
    assert seen_fail
    assert doc["run"]["stopped_early"] is True
    counts = doc["run"]["counts"]
    assert counts["ran"] + counts["not_run"] == counts["total"]
    assert "--fail-fast" in r.stdout, r.stdout[-2000:]


def test_session_limits(ctx):
    """A target whose session limit refuses a case's set-up: the AUTH is
    tried again after a short wait, and when the refusals last the case
    fails with a message that blames the limit and --jobs, not the
    requirement (a case that needs two sessions of one account, against a
    server that allows one)."""
    result = os.path.join(ctx["workdir"], "limits.json")
    r = self_started("--server-arg", "--max-sessions-user",
                     "--server-arg", "1", "--case", "fanout.every-session",
                     "--jobs", "2", "--json", result)
    assert r.returncode == 1, where(r)
    case = load_result(result)["cases"][0]
    assert case["verdict"] == "fail", case
    for words in ("refused for rate", "sessions per user", "--jobs 2",
                  "no verdict on DELIV-1"):
        assert words in case["message"], case["message"]
    retries = [e for e in case["wire_log"] if e["kind"] == "note" and
               "tried again" in e["data"]]
    assert len(retries) >= 2, case["wire_log"][-10:]


TESTS = {
    "full": [test_full_suite],
    "list": [test_list_json, test_case_glob, test_doc_case_ids],
    "usage": [test_usage_errors, test_unreachable, test_client_cannot_start],
    "expect_fail": [test_expect_fail_stale, test_expect_fail_excuses],
    "failing": [test_failing_target, test_fail_fast, test_session_limits,
                test_interrupt, test_second_interrupt, test_other_traffic,
                test_html_stale_pages],
}


def setup(workdir):
    ctx = {"workdir": workdir, "accounts": accounts_file(workdir),
           "accounts3": accounts_file(workdir, 3)}
    ctx["broken"] = BrokenServer()
    return ctx


def teardown(ctx):
    ctx["broken"].close()


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--test", required=True, choices=sorted(TESTS))
    p.add_argument("--conform-bin", required=True)
    p.add_argument("--server-bin", required=True)
    ARGS = p.parse_args()
    run_tests(TESTS[ARGS.test], setup, teardown)


if __name__ == "__main__":
    sys.exit(main())
