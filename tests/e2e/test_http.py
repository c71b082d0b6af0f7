#!/usr/bin/env python3
"""End-to-end tests of parley-server's HTTP API (spec section 12).

    test_http.py PATH/TO/parley-server
"""

import base64
import http.client
import json
import os
import pty
import re
import select
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parley_e2e import (HANG_S, Server, error_of, frame,  # noqa: E402
                        get_token, raw_http, ready, recv, request,
                        run_tests, server_with_users, split_response,
                        stop_clean, tokens_of)

PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-2", "carol": "carol-pw-3",
             "dave": "dave-pw-4"}


def setup(workdir):
    server = server_with_users(sys.argv[1], workdir, PASSWORDS,
                               ["--heartbeat-min-ms", "250"]).start()
    tokens = tokens_of(server, PASSWORDS)
    return {"server": server, "port": server.port, "tokens": tokens,
            "workdir": workdir}


def teardown(ctx):
    log = stop_clean(ctx["server"])
    for secret in list(ctx["tokens"].values()) + list(PASSWORDS.values()):
        assert secret not in log, "a token or password reached the log"


def test_listens_only_on_loopback(ctx):
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True,
                         check=True, timeout=HANG_S).stdout
    port = ctx["port"]
    mine = [line.split()[3] for line in out.splitlines()
            if line.split()[3].endswith(f":{port}")]
    assert mine == [f"127.0.0.1:{port}"], out


# spec: RATE-3
def test_config(ctx):
    status, hdrs, body = request(ctx["port"], "GET", "/v1/config")
    assert status == 200, body
    assert hdrs["content-type"] == "application/json"
    want = {"versions": [1], "subprotocol": "parley.1", "ws_path": "/v1/ws",
            "max_frame": 65536, "max_headers": 32, "max_header_line": 1024,
            "max_body": 64512,
            "heartbeat_min_ms": 250, "heartbeat_max_ms": 120000,
            "dedup_window_ms": 86400000, "typing_ttl_ms": 6000,
            "token_ttl_ms": 3600000, "rate_per_s": 200, "rate_burst": 400,
            "ring_timeout_ms": 30000, "call_grace_ms": 20000}
    assert body == want, body


def test_token_issued(ctx):
    status, _, body = request(ctx["port"], "POST", "/v1/auth/token",
                              {"user": "alice", "password": "alice-pw-1"})
    assert status == 200, body
    assert set(body) == {"token", "user", "expires_ms"}, body
    assert body["user"] == "alice"
    parts = body["token"].split(".")
    assert len(parts) == 3 and parts[0] == "pt1", body["token"]
    assert body["expires_ms"] > time.time() * 1000


# spec: HTTP-2 HTTP-5 HTTP-6 HTTP-10
def test_token_refusals(ctx):
    port = ctx["port"]
    wrong = request(port, "POST", "/v1/auth/token",
                    {"user": "alice", "password": "nope"})
    assert wrong[0] == 401 and error_of(wrong[2]) == (424, "auth-failed")
    assert wrong[1].get("www-authenticate") == "Bearer", wrong[1]
    for user, pw in (("nobody", "nope"), ("Not A Name", "nope"),
                     ("alice" + "x" * 40, "nope"), ("alice", "x\u0000y")):
        other = request(port, "POST", "/v1/auth/token",
                        {"user": user, "password": pw})
        assert other[0] == 401, other
        assert other[2] == wrong[2], "the same answer for every refusal"
        assert other[1].get("www-authenticate") == "Bearer", other[1]
    for bad in (b"{not json", b"[1, 2]", b'{"user": "alice"}',
                b'{"user": 5, "password": "x"}',
                b'{"user": "alice", "user": "bob", "password": "x"}'):
        status, _, body = request(port, "POST", "/v1/auth/token", bad)
        assert status == 400, (bad, body)
        assert error_of(body) == (400, "bad-request")


# spec: HTTP-1 HTTP-2 HTTP-4
def test_body_rules(ctx):
    port = ctx["port"]
    base = (b"POST /v1/auth/token HTTP/1.1\r\nHost: t\r\n"
            b"Content-Type: application/json\r\n")
    status, _, body = split_response(raw_http(port, base + b"\r\n"))
    assert status == 411, body
    assert error_of(json.loads(body)) == (411, "length-required")

    chunked = base + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    status, _, body = split_response(raw_http(port, chunked))
    assert status == 411, body

    status, _, body = split_response(
        raw_http(port, base + b"Content-Length: 70000\r\n\r\n"))
    assert status == 413, body
    assert error_of(json.loads(body)) == (413, "too-large")

    status, _, body = request(port, "POST", "/v1/auth/token", b"{}",
                              headers={"Content-Type": "text/plain"})
    assert status == 415, body
    assert error_of(body) == (415, "unsupported-media-type")
    status, _, body = split_response(raw_http(
        port, b"POST /v1/auth/token HTTP/1.1\r\nHost: t\r\n"
              b"Content-Length: 2\r\n\r\n{}"))
    assert status == 415, body
    status, _, body = request(
        port, "POST", "/v1/auth/token",
        b'{"user": "alice", "password": "nope"}',
        headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert status == 401, body

    # Exactly 65,536 octets is allowed; one more is not.
    pad = {"user": "alice", "password": "nope", "pad": ""}
    pad["pad"] = "x" * (65536 - len(json.dumps(pad)))
    status, _, body = request(port, "POST", "/v1/auth/token",
                              json.dumps(pad).encode())
    assert status == 401, body
    pad["pad"] += "x"
    status, _, body = request(port, "POST", "/v1/auth/token",
                              json.dumps(pad).encode())
    assert status == 413, body


# spec: HTTP-2 HTTP-7 WS-5
def test_paths_and_methods(ctx):
    port, tok = ctx["port"], ctx["tokens"]["alice"]
    status, _, body = request(port, "GET", "/v1/nope")
    assert status == 404 and error_of(body) == (404, "no-such-path"), body
    status, _, body = request(port, "GET", "/v1/conversations/c1/more", None,
                              tok)
    assert status == 404 and error_of(body) == (404, "no-such-path"), body
    cases = [("GET", "/v1/auth/token", "POST"), ("POST", "/v1/config", "GET"),
             ("DELETE", "/v1/conversations", "GET, POST"),
             ("PUT", "/v1/conversations/c1", "GET")]
    for method, path, allow in cases:
        body = {} if method in ("POST", "PUT") else None
        status, hdrs, got = request(port, method, path, body, tok)
        assert status == 405, (method, path, got)
        assert error_of(got) == (405, "method-not-allowed")
        assert hdrs.get("allow") == allow, hdrs
    status, _, body = request(port, "GET", "/v1/ws")
    assert status == 400 and error_of(body) == (400, "bad-request"), body
    assert "parley.1" in body["error"]["message"]


# spec: HTTP-3 HTTP-6 SEC-7
def test_bearer_tokens(ctx):
    port = ctx["port"]
    path = "/v1/conversations/c1"
    status, hdrs, body = request(port, "GET", path)
    assert status == 401 and error_of(body) == (401, "unauthorized"), body
    assert hdrs.get("www-authenticate") == "Bearer", hdrs
    status, _, body = request(port, "GET", path,
                              headers={"Authorization": "Basic YTpi"})
    assert status == 401 and error_of(body) == (401, "unauthorized"), body
    status, _, body = request(port, "POST", "/v1/conversations",
                              {"kind": "group", "members": ["bob"]})
    assert status == 401, body

    good = ctx["tokens"]["alice"]
    head, payload, sig = good.split(".")
    forged = ".".join([head, payload, ("A" if sig[0] != "A" else "B")
                       + sig[1:]])
    for bad in (forged, "pt1.x.y", "garbage", good + "x",
                "pt2" + good[3:]):
        status, hdrs, body = request(port, "GET", path, None, bad)
        assert status == 401, (bad, body)
        assert error_of(body) == (424, "auth-failed"), body
        assert hdrs.get("www-authenticate") == "Bearer", hdrs

    # A token this server signed, already expired: from a second server
    # on the same database (so the same key) issuing 1 ms tokens.
    # It logs JSON lines, which are checked on the way.
    short = Server(sys.argv[1], ctx["workdir"],
                   extra=["--token-ttl-ms", "1", "--log-json"])
    short.start()
    try:
        expired = get_token(short.port, "alice", PASSWORDS["alice"])
    finally:
        log = stop_clean(short)
    status, _, body = request(port, "GET", path, None, expired)
    assert status == 401, body
    assert error_of(body) == (425, "token-expired"), body
    lines = [json.loads(line) for line in log.splitlines()]
    assert lines and all({"ts", "level", "msg"} <= set(x) for x in lines)
    assert any("token issued for user=alice" in x["msg"] for x in lines)


# spec: HTTP-12
def test_token_lifetime_asked(ctx):
    port = ctx["port"]
    creds = {"user": "dave", "password": PASSWORDS["dave"]}
    for bad in (999, 0, -5, 1000.5, "5000", True, None, [5000]):
        status, _, body = request(port, "POST", "/v1/auth/token",
                                  {**creds, "ttl_ms": bad})
        assert status == 400, (bad, body)
        assert error_of(body) == (400, "bad-request"), (bad, body)

    def issue(ttl_ms):
        before = int(time.time() * 1000)
        status, _, body = request(port, "POST", "/v1/auth/token",
                                  {**creds, "ttl_ms": ttl_ms})
        assert status == 200, body
        return before, body, int(time.time() * 1000) + 1

    # Longer than the server's own lifetime: the server's wins.
    before, body, after = issue(10 ** 12)
    assert before + 3600000 <= body["expires_ms"] <= after + 3600000, body
    before, body, after = issue(1000)
    assert before + 1000 <= body["expires_ms"] <= after + 1000, body
    payload = body["token"].split(".")[1]
    fields = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    user, issued, expires = fields.decode().split("|")
    assert user == "dave" and int(expires) == body["expires_ms"], fields
    assert int(expires) - int(issued) == 1000, fields
    # The short token is refused once it has lapsed.
    deadline = time.monotonic() + HANG_S
    while True:
        status, _, answer = request(port, "GET", "/v1/conversations", None,
                                    body["token"])
        if status != 200:
            break
        assert time.monotonic() < deadline, "the token never lapsed"
        time.sleep(0.05)
    assert status == 401 and error_of(answer) == (425, "token-expired")


def run_cli(*args, stdin=""):
    return subprocess.run([sys.argv[1], *args], input=stdin,
                          capture_output=True, text=True, timeout=HANG_S)


def adduser_on_tty(db, name, answers):
    """Runs adduser with a terminal as stdin, stdout and stderr; waits
    for each prompt before typing the next of `answers`. Returns (exit
    code, everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.argv[1], [sys.argv[1], "adduser", name, "--db", db])
    shown = b""
    prompts = [b"password for %s: " % name.encode(),
               b"password for %s again: " % name.encode()]
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], HANG_S)
            assert ready, ("adduser hangs", shown)
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            while answers and prompts and shown.endswith(prompts[0]):
                prompts.pop(0)
                os.write(fd, answers.pop(0).encode() + b"\n")
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), shown


def test_adduser_asks_on_a_terminal(ctx):
    db = os.path.join(ctx["workdir"], "tty.db")
    rc, shown = adduser_on_tty(db, "hana", ["tty-secret-1", "tty-secret-1"])
    assert rc == 0, shown
    assert b"password for hana: " in shown and b"again: " in shown, shown
    assert b"tty-secret-1" not in shown, shown  # echo was off
    rc, shown = adduser_on_tty(db, "ivan", ["one-pw", "other-pw"])
    assert rc == 1 and b"differ" in shown, shown
    assert b"one-pw" not in shown and b"other-pw" not in shown, shown
    assert run_cli("users", "--db", db).stdout.split() == ["hana"]


def test_command_line(ctx):
    db = os.path.join(ctx["workdir"], "cli.db")
    for args, word in ((["--bogus"], "--bogus"),
                       (["--heartbeat-min-ms", "100"], "--heartbeat-min-ms"),
                       (["--heartbeat-min-ms", "15001"],
                        "--heartbeat-min-ms"),
                       (["--listen", "example.com:80"], "--listen"),
                       (["--listen", "localhost"], "--listen"),
                       (["--listen", "127.0.0.1:99999"], "--listen"),
                       (["--log-level", "loud"], "--log-level"),
                       (["--token-ttl-ms", "-5"], "--token-ttl-ms"),
                       (["--db"], "--db"),
                       (["users", "extra", "--db", db], "extra"),
                       (["frobnicate", "--db", db], "frobnicate"),
                       (["adduser", "Not Valid", "--db", db], "adduser")):
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert word in r.stderr, (args, r.stderr)
    for flag in ("--help", "-h"):
        r = run_cli(flag)
        assert r.returncode == 0 and "usage" in r.stdout, r
    r = run_cli("--version")
    assert r.returncode == 0, r
    assert re.fullmatch(r"parley-server \d+\.\d+\.\d+\n", r.stdout), r

    # Only adduser creates a database; a mistyped path is refused.
    missing = os.path.join(ctx["workdir"], "typo.db")
    for args in (["users"], ["deluser", "erin"]):
        r = run_cli(*args, "--db", missing)
        assert r.returncode == 1, (args, r)
        assert f"no database at {missing}" in r.stderr, r.stderr
        assert not os.path.exists(missing), args

    pw_file = os.path.join(ctx["workdir"], "pw.txt")
    with open(pw_file, "w") as f:
        f.write("from-a-file\n")
    assert run_cli("adduser", "erin", "--db", db, "--password-file",
                   pw_file).returncode == 0
    assert run_cli("adduser", "frank", "--db", db,
                   stdin="from-stdin\n").returncode == 0
    assert run_cli("adduser", "erin", "--db", db,
                   stdin="again\n").returncode == 1
    assert run_cli("adduser", "gina", "--db", db, stdin="").returncode == 1
    assert run_cli("users", "--db", db).stdout.split() == ["erin", "frank"]
    deleted = run_cli("deluser", "erin", "--db", db)
    assert deleted.returncode == 0
    assert "deleted user erin" in deleted.stdout, deleted.stdout
    again = run_cli("adduser", "erin", "--db", db, stdin="new\n")
    assert again.returncode == 1
    assert "never given again" in again.stderr, again.stderr
    assert run_cli("deluser", "erin", "--db", db).returncode == 1
    assert run_cli("users", "--db", db).stdout.split() == ["frank"]


# spec: HTTP-2 HTTP-5 HTTP-8 HTTP-13 DUR-3
def test_create_conversations(ctx):
    port, tok = ctx["port"], ctx["tokens"]
    status, _, conv = request(port, "POST", "/v1/conversations",
                              {"kind": "direct", "members": ["bob"]},
                              tok["alice"])
    assert status == 201, conv
    assert set(conv) == {"id", "kind", "title", "members", "last_seq",
                         "created_ms"}, conv
    assert conv["kind"] == "direct" and conv["last_seq"] == 0
    assert sorted(conv["members"]) == ["alice", "bob"]
    ctx["direct"] = conv["id"]

    status, _, again = request(port, "POST", "/v1/conversations",
                               {"kind": "direct", "members": ["bob"]},
                               tok["alice"])
    assert status == 200 and again["id"] == conv["id"], again
    status, _, other = request(port, "POST", "/v1/conversations",
                               {"kind": "direct", "members": ["alice"]},
                               tok["bob"])
    assert status == 200 and other["id"] == conv["id"], other

    status, _, group = request(port, "POST", "/v1/conversations",
                               {"kind": "group", "members": ["bob", "carol"],
                                "title": "Team ✓"}, tok["alice"])
    assert status == 201, group
    assert group["title"] == "Team ✓" and group["kind"] == "group"
    assert sorted(group["members"]) == ["alice", "bob", "carol"]
    ctx["group"] = group["id"]

    status, _, listed = request(port, "POST", "/v1/conversations",
                                {"kind": "group", "x-future": 1,
                                 "members": ["alice", "bob", "bob"]},
                                tok["alice"])
    assert status == 201, listed
    assert sorted(listed["members"]) == ["alice", "bob"], listed

    # A name listed twice counts once (spec 12.3), the caller included.
    status, _, same = request(port, "POST", "/v1/conversations",
                              {"kind": "direct",
                               "members": ["bob", "alice", "bob"]},
                              tok["alice"])
    assert status == 200 and same["id"] == conv["id"], same
    status, _, copies = request(port, "POST", "/v1/conversations",
                                {"kind": "group", "members": ["bob"] * 256},
                                tok["alice"])
    assert status == 201, copies
    assert sorted(copies["members"]) == ["alice", "bob"], copies

    many = [f"user{i}" for i in range(256)]
    direct = "members: a direct conversation has exactly one other member"
    bad = [({"kind": "group", "members": ["bob", "zed"]},
            'members: unknown user "zed"'),
           ({"kind": "direct", "members": ["bob", "carol"]}, direct),
           ({"kind": "direct", "members": ["alice"]}, direct),
           ({"kind": "direct", "members": ["alice", "alice"]}, direct),
           ({"kind": "group", "members": []},
            "members: must be an array of 1 to 255 user names"),
           ({"kind": "group", "members": many},
            "members: a conversation has at most 256 members, the caller "
            "included"),
           ({"kind": "group", "members": ["bob"], "title": "t" * 201},
            "title: must be a string of at most 200 octets of UTF-8"),
           ({"kind": "group", "members": ["bob\u0000x"]},
            "members[0]: not a user name"),
           ({"kind": "channel", "members": ["bob"]},
            'kind: must be "direct" or "group"'),
           ({"members": ["bob"]}, 'kind: must be "direct" or "group"'),
           ({"kind": "group", "members": "bob"},
            "members: must be an array of 1 to 255 user names"),
           ({"kind": "group"},
            "members: must be an array of 1 to 255 user names"),
           ({"kind": "group", "members": ["bob", 7]},
            "members[1]: not a user name"),
           ({"kind": "group", "members": ["bob"], "title": 3},
            "title: must be a string of at most 200 octets of UTF-8")]
    for body, message in bad:
        status, _, got = request(port, "POST", "/v1/conversations", body,
                                 tok["alice"])
        assert status == 400, (body, got)
        assert error_of(got) == (427, "bad-value"), got
        assert got["error"]["message"] == message, (body, got)


# spec: HTTP-11
def test_json_past_the_limits_is_bad_request(ctx):
    """Numbers past double or signed 64-bit range and nesting past 64
    levels are refused even in a member the server does not know."""
    port, tok = ctx["port"], ctx["tokens"]
    deep = b"[" * 3000 + b"]" * 3000
    for extra in (b"1e400", b"1" * 30, deep):
        body = (b'{"kind": "group", "members": ["bob"], "x-future": '
                + extra + b"}")
        status, _, got = request(port, "POST", "/v1/conversations", body,
                                 tok["alice"])
        assert status == 400, (extra[:40], got)
        assert error_of(got) == (400, "bad-request"), got
    # The same body with a value inside the limits is taken.
    body = b'{"kind": "group", "members": ["bob"], "x-future": 1e300}'
    status, _, got = request(port, "POST", "/v1/conversations", body,
                             tok["alice"])
    assert status == 201, got


# spec: HTTP-2 SEC-1
def test_get_conversation(ctx):
    port, tok = ctx["port"], ctx["tokens"]
    path = "/v1/conversations/" + ctx["direct"]
    status, _, conv = request(port, "GET", path, None, tok["bob"])
    assert status == 200 and conv["id"] == ctx["direct"], conv
    assert sorted(conv["members"]) == ["alice", "bob"]
    not_member = request(port, "GET", path, None, tok["carol"])
    missing = request(port, "GET", "/v1/conversations/c-nothing", None,
                      tok["carol"])
    assert not_member[0] == missing[0] == 404
    assert error_of(missing[2]) == (440, "not-found")
    assert not_member[2] == missing[2], "the same answer in both cases"
    assert not_member[1] == missing[1], (not_member[1], missing[1])


# spec: HTTP-3 HTTP-14 SEC-1
def test_list_conversations(ctx):
    """GET /v1/conversations: the caller's conversations, each as the
    conversation object GET /v1/conversations/{id} answers."""
    port, tok = ctx["port"], ctx["tokens"]
    status, hdrs, convs = request(port, "GET", "/v1/conversations", None,
                                  tok["carol"])
    assert status == 200, convs
    assert hdrs["content-type"] == "application/json"
    assert isinstance(convs, list), convs
    ids = [c["id"] for c in convs]
    assert ctx["group"] in ids and ctx["direct"] not in ids, ids
    assert len(set(ids)) == len(ids), ids
    for conv in convs:
        assert "carol" in conv["members"], conv
        one = request(port, "GET", "/v1/conversations/" + conv["id"], None,
                      tok["carol"])
        assert one[:1] == (200,) and one[2] == conv, (one, conv)
    status, _, convs = request(port, "GET", "/v1/conversations", None,
                               tok["bob"])
    assert status == 200
    assert {ctx["group"], ctx["direct"]} <= {c["id"] for c in convs}
    status, _, convs = request(port, "GET", "/v1/conversations", None,
                               tok["dave"])
    assert status == 200 and convs == [], convs
    status, hdrs, body = request(port, "GET", "/v1/conversations")
    assert status == 401 and error_of(body) == (401, "unauthorized"), body


def history(ctx, user, conv, query=""):
    return request(ctx["port"], "GET",
                   f"/v1/conversations/{conv}/messages{query}", None,
                   ctx["tokens"][user])


# spec: HIST-2 HTTP-2 HTTP-9 SEC-2
async def test_history_pages(ctx):
    conv = ctx["group"]
    status, _, page = history(ctx, "carol", conv)
    assert status == 200 and page == {"messages": [], "more": False}, page

    ws = await ready(ctx["server"], ctx["tokens"]["alice"])
    for i in range(7):
        await ws.send(frame("SEND", [("conv", conv), ("temp-id", f"h{i}")],
                            f"msg {i} ✓"))
        seen = None
        while seen != "ACK":
            seen = (await recv(ws))[0]
    await ws.close()

    got, cursor, pages = [], None, 0
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        status, _, page = history(ctx, "bob", conv, query)
        assert status == 200, page
        seqs = [m["seq"] for m in page["messages"]]
        assert seqs == sorted(seqs) and len(seqs) <= 3, page
        got = seqs + got
        pages += 1
        assert ("cursor" in page) == page["more"], page
        if not page["more"]:
            break
        cursor = page["cursor"]
    assert got == list(range(1, 8)) and pages == 3, got
    m = history(ctx, "bob", conv, "?limit=1")[2]["messages"][0]
    assert m == {"msg_id": m["msg_id"], "seq": 7, "from": "alice",
                 "device": "phone", "temp_id": "h6", "ts_ms": m["ts_ms"],
                 "content_type": "text/plain", "body": "msg 6 ✓"}, m

    status, _, page = history(ctx, "bob", conv, "?limit=&cursor=")
    assert status == 200 and len(page["messages"]) == 7, page
    for query in ("?limit=0", "?limit=101", "?limit=abc", "?limit=-1"):
        status, _, body = history(ctx, "bob", conv, query)
        assert status == 400, (query, body)
        assert error_of(body) == (427, "bad-value"), body
    for cursor in ("bogus", "A" * 300):
        status, _, body = history(ctx, "bob", conv, f"?cursor={cursor}")
        assert status == 400 and error_of(body) == (442, "bad-cursor"), body
    # Membership comes first: a non-member learns nothing from a cursor.
    for query in ("", "?cursor=bogus", "?cursor=" + "A" * 300,
                  f"?limit=1&cursor={cursor or 'x'}"):
        status, _, body = history(ctx, "dave", conv, query)
        assert status == 404 and error_of(body) == (440, "not-found"), body


# spec: HIST-2 HTTP-9
async def test_history_pages_are_bounded_in_size(ctx):
    """Bodies that grow six-fold in JSON (control characters): a page
    stays within 1 MiB, and walking the cursors gives every message
    once."""
    status, _, conv = request(ctx["port"], "POST", "/v1/conversations",
                              {"kind": "group", "members": ["bob"]},
                              ctx["tokens"]["alice"])
    assert status == 201, conv
    ws = await ready(ctx["server"], ctx["tokens"]["alice"])
    for i in range(12):
        await ws.send(frame("SEND", [("conv", conv["id"]),
                                     ("temp-id", f"big{i}")],
                            "\x01" * 60000))
        seen = None
        while seen != "ACK":
            seen = (await recv(ws))[0]
    await ws.close()
    got, cursor = [], None
    while True:
        query = "?limit=100" + (f"&cursor={cursor}" if cursor else "")
        conn = http.client.HTTPConnection("127.0.0.1", ctx["port"],
                                          timeout=HANG_S)
        conn.request("GET", f"/v1/conversations/{conv['id']}/messages"
                     + query, headers={"Authorization": "Bearer "
                                       + ctx["tokens"]["bob"]})
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        assert resp.status == 200, raw[:200]
        assert len(raw) <= 1024 * 1024, len(raw)
        page = json.loads(raw)
        assert page["messages"], page["more"]
        assert all(m["body"] == "\x01" * 60000 for m in page["messages"])
        got = [m["seq"] for m in page["messages"]] + got
        if not page["more"]:
            break
        cursor = page["cursor"]
    assert got == list(range(1, 13)), got

def test_client_leaves_before_the_answer(ctx):
    """Requests whose client hangs up while the answer is being worked
    out (a password check, a member check, a history read): the answers
    are dropped and the server goes on."""
    port = ctx["port"]
    bodies = [("/v1/auth/token", None,
               b'{"user": "alice", "password": "alice-pw-1"}'),
              ("/v1/conversations", ctx["tokens"]["alice"],
               b'{"kind": "group", "members": ["bob", "carol"]}')]
    for path, token, body in bodies * 5:
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        octets = (f"POST {path} HTTP/1.1\r\nHost: t\r\n{auth}"
                  "Content-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(octets)
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall((f"GET /v1/conversations/{ctx['group']}/messages "
                       f"HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "
                       f"{ctx['tokens']['bob']}\r\n\r\n").encode())
    get_token(port, "carol", PASSWORDS["carol"])
    status, _, _ = request(port, "GET", "/v1/config")
    assert status == 200


# spec: SEC-5
def test_no_secrets_in_log(ctx):
    log = ctx["server"].log()
    assert "token issued for user=alice" in log
    for secret in list(ctx["tokens"].values()) + list(PASSWORDS.values()):
        assert secret not in log, "a token or password reached the log"
    assert "$argon2id$" not in log


def test_db_is_private(ctx):
    mode = os.stat(ctx["server"].db).st_mode & 0o777
    assert mode == 0o600, oct(mode)


def test_keep_alive(ctx):
    conn = http.client.HTTPConnection("127.0.0.1", ctx["port"],
                                      timeout=HANG_S)
    for _ in range(3):
        conn.request("GET", "/v1/config")
        resp = conn.getresponse()
        assert resp.status == 200
        json.loads(resp.read())
    conn.close()


if __name__ == "__main__":
    run_tests([test_listens_only_on_loopback, test_config, test_token_issued,
               test_token_refusals, test_body_rules, test_paths_and_methods,
               test_bearer_tokens, test_token_lifetime_asked,
               test_create_conversations,
               test_get_conversation, test_list_conversations,
               test_json_past_the_limits_is_bad_request, test_history_pages,
               test_history_pages_are_bounded_in_size,
               test_client_leaves_before_the_answer, test_keep_alive,
               test_command_line, test_adduser_asks_on_a_terminal,
               test_db_is_private,
               test_no_secrets_in_log],
              setup, teardown)
