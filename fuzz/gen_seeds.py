#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets.

Usage: gen_seeds.py REPO_ROOT OUT_DIR

Seeds come from the spec's frame examples (section 15's `parley-frame`
blocks, their wire form as tests/spec/parley_frame.py builds it) and the
conformance vectors (conformance/vectors/*.json), so they follow both as
they change. SDP bodies and candidate lines are the ones inside the call
examples; RTP and RTCP packets are built here after RFC 3550's layouts.
The stateful targets (server, client) take a record format that
fuzz/common/records.h defines; the seeds are sessions made of the
examples in that format. OUT_DIR/<target>/ is recreated each run.
"""
import json
import os
import re
import shutil
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "spec"))
import parley_frame  # noqa: E402
import specdoc  # noqa: E402

# Record opcodes; keep in step with fuzz/common/records.h.
S_OPEN, S_CLOSE, S_MESSAGE, S_TIME, S_HOLD, S_COMPLETE, S_LOGIN, S_API = \
    range(8)
C_MESSAGE, C_CONNECTED, C_DISCONNECTED, C_TIME, C_SEND, C_READ, C_TYPING, \
    C_CALL = range(8)
CONV = "c7f3a"  # the direct conversation of the examples; harnesses load it


def examples(text):
    """(name, wire octets) of every parley-frame example, valid or not."""
    out = []
    for fence in specdoc.fences(text):
        m = re.match(r"parley-frame example=([a-z0-9-]+)", fence.info)
        if m:
            out.append((m.group(1), parley_frame.example_wire(
                [ln for ln in fence.lines])))
    return out


def vectors(root):
    """(id, octets) of every conformance vector with input octets."""
    out = []
    vdir = os.path.join(root, "conformance", "vectors")
    for name in sorted(os.listdir(vdir)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(vdir, name), encoding="utf-8") as f:
            doc = json.load(f)
        for v in doc.get("vectors", []) if isinstance(doc, dict) else []:
            if isinstance(v.get("hex"), str):
                out.append((v["id"], bytes.fromhex(v["hex"])))
            for i, piece in enumerate(v.get("pieces_hex", []) or []):
                if isinstance(piece, str):
                    out.append(("%s.%d" % (v["id"], i), bytes.fromhex(piece)))
    return out


def body_of(wire):
    head, sep, body = wire.partition(b"\r\n\r\n")
    return body if sep else b""


def header_of(wire, name):
    for line in wire.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        if line.startswith(name + b": "):
            return line[len(name) + 2:]
    return None


def rtp_packets():
    def rtp(pt, seq, ts, ssrc, payload, marker=0, csrc=(), ext=None,
            pad=0):
        b0 = 0x80 | (0x20 if pad else 0) | (0x10 if ext else 0) | len(csrc)
        out = struct.pack("!BBHII", b0, (marker << 7) | pt, seq, ts, ssrc)
        out += b"".join(struct.pack("!I", c) for c in csrc)
        if ext:
            out += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
        out += payload
        if pad:
            out += b"\0" * (pad - 1) + bytes([pad])
        return out
    return [
        rtp(111, 1, 960, 0x1234, b"\xfc\xff\xfe"),
        rtp(111, 65535, 0xfffffc40, 1, b"x" * 40, marker=1),
        rtp(96, 7, 3000, 9, b"vid", csrc=(1, 2, 3)),
        rtp(111, 2, 1920, 0x1234, b"opus", ext=b"\x10\xff\x00\x00"),
        rtp(111, 3, 2880, 0x1234, b"padded", pad=4),
    ]


def rtcp_packets():
    def hdr(count, pt, words):
        return struct.pack("!BBH", 0x80 | count, pt, words)

    block = struct.pack("!IIIIII", 0x5678, (3 << 24) | 12, 0x10020, 40,
                        0x11223344, 0x10000)
    sr = hdr(1, 200, 12) + struct.pack("!IIIIII", 0x1234, 0xe0000000, 1 << 31,
                                       960, 10, 1000) + block
    rr = hdr(1, 201, 7) + struct.pack("!I", 0x1234) + block
    cname = b"\x01\x05alice\x00\x00"
    sdes = hdr(1, 202, 3) + struct.pack("!I", 0x1234) + cname
    bye = hdr(1, 203, 3) + struct.pack("!I", 0x1234) + b"\x04gone\x00\x00\x00"
    return [sr, rr, sr + sdes, rr + sdes + bye, hdr(0, 201, 1) +
            struct.pack("!I", 7)]


def rec_message(op, conn, data):
    return bytes([op | (conn << 3)]) + struct.pack("!H", len(data)) + data


def server_seeds(exs):
    """Sessions: two users log in on two connections, then one example
    frame a client may send, on the first; a last one runs them all."""
    login = bytes([S_LOGIN | (0 << 3) | (0 << 5), S_LOGIN | (1 << 3) |
                   (1 << 5)])
    client_verbs = {"send", "send-utf8", "send-unknown-header", "sync",
                    "history", "receipt-client", "typing-client",
                    "presence-client", "ping", "bye-client", "call", "join",
                    "offer", "answer", "candidate", "end-of-candidates",
                    "media-state", "leave", "hangup", "hello", "auth"}
    seeds, everything = [], login
    for name, wire in exs:
        if name not in client_verbs:
            continue
        wire = re.sub(rb"\r\nconv: [^\r]*", b"\r\nconv: " + CONV.encode(),
                      wire)
        rec = rec_message(S_MESSAGE, 0, wire)
        seeds.append(("example-" + name, login + rec + bytes([S_TIME, 20])))
        everything += rec
    seeds.append(("all-examples", everything + bytes([S_TIME, 200, S_CLOSE,
                                                      S_CLOSE | 8])))
    seeds.append(("held-store", login + bytes([S_HOLD]) +
                  rec_message(S_MESSAGE, 0, dict(exs)["send"]) +
                  bytes([S_CLOSE, S_COMPLETE, S_COMPLETE])))
    seeds.append(("api", login + bytes([S_API, 0, 10, 0])))
    return seeds


def client_seeds(exs):
    """Sessions: connected, WELCOME, READY, then each server frame."""
    d = dict(exs)
    start = bytes([C_CONNECTED]) + rec_message(C_MESSAGE, 0, d["welcome"]) + \
        rec_message(C_MESSAGE, 0, d["ready"])
    server_verbs = {"ack", "msg-live", "msg-sync", "msg-history", "synced",
                    "page", "receipt-server", "typing-server",
                    "presence-server", "pong", "error-fatal",
                    "error-not-found", "error-rate-limited",
                    "error-missing-header", "bye-server", "ring", "ring-stop",
                    "participants", "joined", "left", "call-end",
                    "candidate-relayed", "media-state-relayed", "ok",
                    "ok-call"}
    seeds, everything = [], start + bytes([C_SEND, 0, 2]) + b"hi"
    for name, wire in exs:
        if name in server_verbs:
            rec = rec_message(C_MESSAGE, 0, wire)
            seeds.append(("example-" + name, start + rec + bytes([C_TIME, 40])))
            everything += rec
    seeds.append(("all-examples", everything + bytes([C_TIME, 250,
                                                      C_DISCONNECTED,
                                                      C_TIME, 250])))
    return seeds


def http_seeds():
    return [
        ("token", b'POST /v1/auth/token\ncontent-type: application/json\n'
                  b'content-length: 59\n\n{"user": "alice", '
                  b'"password": "secret", "ttl_ms": 60000}'),
        ("create-direct", b'POST /v1/conversations\n\n{"kind": "direct", '
                          b'"members": ["bob"]}'),
        ("create-group", b'POST /v1/conversations\n\n{"kind": "group", '
                         b'"title": "Team", "members": ["bob", "carol"]}'),
        ("list", b"GET /v1/conversations\n"),
        ("conv", b"GET /v1/conversations/c7f3a\n"),
        ("messages", b"GET /v1/conversations/c7f3a/messages?limit=20&"
                     b"cursor=abc\n"),
        ("calls", b"GET /v1/conversations/c7f3a/calls?limit=5\n"),
        ("call", b"GET /v1/call/kq7r2mzx4d6tbw3na5e7h\n"),
        ("recording", b"POST /v1/call/kq7r2mzx4d6tbw3na5e7h/recording/start\n"),
        ("config", b"GET /v1/config\n"),
        ("ws", b"GET /v1/ws\n"),
    ]


def write(out, target, seeds):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds:
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def main():
    root, out = sys.argv[1], sys.argv[2]
    if os.path.isdir(out):
        shutil.rmtree(out)
    text = specdoc.read_spec(root)
    exs = examples(text)
    write(out, "frame", [("example-" + n, w) for n, w in exs] +
          [("vector-" + n, w) for n, w in vectors(root)] +
          [("stream-all", b"".join(w for _, w in exs[:12]))])
    sdps = [(n, body_of(w)) for n, w in exs
            if header_of(w, b"content-type") == b"application/sdp"]
    sdps += [(n + "-lf", b.replace(b"\r\n", b"\n")) for n, b in sdps]
    write(out, "sdp", sdps)
    cands = [(n, header_of(w, b"candidate")) for n, w in exs
             if header_of(w, b"candidate")]
    for n, b in sdps:
        for i, line in enumerate(b.split(b"\n")):
            if line.startswith(b"a=candidate:"):
                cands.append(("%s-%d" % (n, i), line[2:].rstrip(b"\r")))
    write(out, "candidate", cands)
    write(out, "rtp", [("rtp-%d" % i, p) for i, p in enumerate(rtp_packets())])
    write(out, "rtcp", [("rtcp-%d" % i, p)
                        for i, p in enumerate(rtcp_packets())])
    tok = header_of(dict(exs)["auth"], b"token")
    write(out, "token", [("verify-example", b"\x00" + tok),
                         ("signed-payload", b"\x01alice|1764864000000|"
                                            b"1764950400000"),
                         ("issue-alice", b"\x02alice")])
    write(out, "http", http_seeds())
    write(out, "server", server_seeds(exs))
    write(out, "client", client_seeds(exs))


if __name__ == "__main__":
    main()
