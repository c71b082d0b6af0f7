#!/usr/bin/env python3
"""Audio calls between two parley-client processes, end to end.

parley-server runs on 127.0.0.1 on a free port with its database in a
fresh temporary directory and the users alice and bob. bob runs
`parley-client answer`, alice `parley-client call bob`, each with a WAV
file of speech to play (--input), one to record what it heard
(--output) and a JSON quality report (--report). The speech is made by
the test with espeak-ng and sox (three sentences, four seconds each, 16
bit mono 48 kHz; nothing recorded is kept in the repository):

    A  played by alice        B  played by bob
    C  another sentence in another voice, played by nobody

tests/tools/audio_compare finds how late, and how alike, a heard file
is to a sent one: the normalised cross-correlation in the 8 kHz band at
the best lag within +-2 s. A receiver's jitter buffer may change its
delay during the call, and then no single lag fits all of the speech
(60 ms and 40 ms of silence put in at two points bring the correlation
of a file with itself down to 0.36), so the figure compared is the
segment correlation: each 500 ms of the sent speech matched at its own
lag within +-200 ms of the whole file's, weighted by energy.

Thresholds. Through Opus alone (tests/tools/opus_roundtrip, 32 kbit/s,
20 ms frames, no network), segment correlations of A, B and C with
themselves decoded are 0.91 to 0.92; 0.87 to 0.91 with 5% of the
packets lost (FEC or concealment); 0.82 to 0.85 with 10% lost and no
FEC. Any two different ones give 0.06 to 0.13. A heard file must
correlate above CORR_MIN (0.6) with what the other side played, above
CORR_MIN_LOSSY (0.5) through the lossy relay, and below CORR_MAX_OTHER
(0.3) with what it was not sent (C, and the hearer's own sentence).

direct: a call on loopback (host candidates). Both exit 0; each heard
    file carries the other's sentence and not C; both reports show
    packets received.
fingerprint: alice advertises a wrong DTLS fingerprint in her SDP
    (--advertise-fingerprint). Both exit 1, bob (who checks alice's
    certificate against it) says "fingerprint mismatch" and sent no
    packet, neither report counts a packet received and no heard file
    holds sound.
relay: coturn (Debian's turnserver) on 127.0.0.1, and between each
    client and coturn a parley-netem UDP relay that loses 5% of what
    the client sends and delays it by 40 ms +/- 30 ms; each client gets
    --turn (its relay's address) and --relay-only. The call runs twice
    with the same seed: with Opus in-band FEC and with --no-fec. A
    table puts the two reports side by side. Both calls complete, FEC
    recovers packets only when on, the heard speech still correlates,
    the relays' counters show the media went through them, coturn
    logged the allocations and each report's selected pair is relayed at
    both ends. MOS is printed, never asserted (it depends on timing).

Every wait is bounded (HANG_S) and waits for a condition or a process,
never a fixed time.

Usage: test_call_media.py --test NAME --server-bin S --client-bin C
           --netem-bin N --compare-bin A [--keep]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_chat_crash as chat  # noqa: E402
from netem_relay import Netem  # noqa: E402

HANG_S = 120
CORR_MIN = 0.6
CORR_MIN_LOSSY = 0.5
CORR_MAX_OTHER = 0.3
SECONDS = 4
SEGMENTS = ["--segment-ms", "500", "--segment-search-ms", "200"]

SENTENCES = {
    "A": ([], "The quick brown fox jumps over the lazy dog, "
              "and then it runs all the way home."),
    "B": (["-v", "en-us", "-p", "30"],
          "Please call me back before nine tonight; the number is "
          "four five six."),
    "C": (["-v", "en-gb-scotland", "-p", "75", "-s", "150"],
          "Seven green bottles were standing on a garden wall in the "
          "rain."),
}
WRONG_FP = ":".join(["AB"] * 32)
SKIP_EXIT = 77  # ctest's SKIP_RETURN_CODE for this test


class Skip(Exception):
    """The test cannot run here; the message says why."""


# ---- fixtures --------------------------------------------------------------

def make_speech(workdir, name):
    """speech-NAME.wav: the sentence spoken by espeak-ng, resampled to 16
    bit mono 48 kHz by sox, normalised to -3 dBFS and cut or padded with
    silence to SECONDS. Returns its path."""
    voice, text = SENTENCES[name]
    raw = os.path.join(workdir, f"espeak-{name}.wav")
    out = os.path.join(workdir, f"speech-{name}.wav")
    run_ok(["espeak-ng", *voice, "-w", raw, text])
    run_ok(["sox", "-D", raw, "-r", "48000", "-c", "1", "-b", "16",
            "-e", "signed-integer", out, "norm", "-3",
            "pad", "0", str(SECONDS), "trim", "0", str(SECONDS)])
    return out


def run_ok(argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=HANG_S)
    assert r.returncode == 0, f"{' '.join(argv)}: {r.stderr}"
    return r.stdout


def compare(compare_bin, sent, heard):
    """audio_compare's result for a sent and a heard file (a dict); the
    one compared with the thresholds is "segment_correlation" (see the
    module's note)."""
    return json.loads(run_ok([compare_bin, *SEGMENTS, sent, heard]))


# ---- processes -------------------------------------------------------------

class Call:
    """One call: bob's answer and alice's call, with their files."""

    def __init__(self, workdir, alice, bob, tag):
        self.workdir, self.alice, self.bob, self.tag = \
            workdir, alice, bob, tag
        self.files = {u: {k: os.path.join(workdir, f"{tag}-{u}.{k}")
                          for k in ("wav", "json", "out")}
                      for u in ("alice", "bob")}
        self.procs = {}

    def start(self, inputs, opts=None):
        """Starts bob's answer, then alice's call; inputs and opts are
        {user: ...}; opts are extra media options."""
        opts = opts or {}
        answer = ["answer", "--from", "alice", "--answer-timeout-ms",
                  str(HANG_S * 1000 // 2)]
        for user, client, cmd in (("bob", self.bob, answer),
                                  ("alice", self.alice, ["call", "bob"])):
            f = self.files[user]
            argv = [*cmd, "--input", inputs[user], "--output", f["wav"],
                    "--report", f["json"], *opts.get(user, [])]
            with open(f["out"], "w") as out:
                self.procs[user] = client.popen(*argv, stdout=out)
        return self

    def wait(self):
        """Waits for both to exit (bounded); returns {user: exit status}."""
        end = time.monotonic() + HANG_S
        rcs = {}
        for user, p in self.procs.items():
            try:
                rcs[user] = p.wait(timeout=max(1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                for q in self.procs.values():
                    if q.poll() is None:
                        q.kill()
                        q.wait()
                raise AssertionError(f"{p.label} still running after "
                                     f"{HANG_S} s\n{self.logs()}")
        return rcs

    def log(self, user):
        return chat.read_text(self.procs[user].log)

    def logs(self):
        return "".join(f"--- {u} ---\n{self.log(u)[-3000:]}"
                       for u in self.procs)

    def report(self, user):
        """The JSON report of `user`, which must exist."""
        path = self.files[user]["json"]
        assert os.path.exists(path), \
            f"{user} wrote no report\n{self.logs()}"
        with open(path, encoding="utf-8") as f:
            return json.load(f)


def quality(report, key):
    """A counter of a report, wherever the report nests it (the first
    object holding `key`, depth first); None when there is none."""
    if isinstance(report, dict):
        if key in report and not isinstance(report[key], (dict, list)):
            return report[key]
        for v in report.values():
            got = quality(v, key)
            if got is not None:
                return got
    elif isinstance(report, list):
        for v in report:
            got = quality(v, key)
            if got is not None:
                return got
    return None


def start_users(args, workdir):
    """A running server with alice and bob and their direct
    conversation; returns (server, alice, bob)."""
    server, alice, bob, _ = chat.start_chat(args.server_bin,
                                            args.client_bin, workdir)
    return server, alice, bob


def speech(workdir):
    return {n: make_speech(workdir, n) for n in SENTENCES}


def check_heard(args, call, sp, corr_min):
    """Each heard file against what the other side played (above
    corr_min) and against what it was not sent (below CORR_MAX_OTHER).
    Returns {hearer: result against the right sentence}."""
    played = {"alice": sp["A"], "bob": sp["B"]}
    results = {}
    for hearer, talker in (("bob", "alice"), ("alice", "bob")):
        heard = call.files[hearer]["wav"]
        assert os.path.exists(heard), f"{hearer} wrote no --output"
        right = compare(args.compare_bin, played[talker], heard)
        other = compare(args.compare_bin, sp["C"], heard)
        own = compare(args.compare_bin, played[hearer], heard)
        print(f"{call.tag}: {talker} -> {hearer}: lag "
              f"{right['lag_ms']:.1f} ms (segments "
              f"{right['lag_min_ms']:.1f} to {right['lag_max_ms']:.1f}), "
              f"correlation {right['segment_correlation']:.3f} "
              f"(> {corr_min}; one lag: {right['correlation']:.3f}); "
              f"sentence C {other['segment_correlation']:.3f}, "
              f"{hearer}'s own {own['segment_correlation']:.3f} "
              f"(< {CORR_MAX_OTHER}); heard {right['heard_s']:.2f} s")
        assert right["segment_correlation"] > corr_min, \
            f"{hearer} did not hear {talker}: {right}"
        for what, res in (("sentence C", other), ("its own", own)):
            assert res["segment_correlation"] < CORR_MAX_OTHER, \
                f"{hearer}'s recording matches {what}: {res}"
        results[hearer] = right
    return results


def print_reports(call):
    for user in ("alice", "bob"):
        print(f"{call.tag}: {user}'s report: "
              f"{json.dumps(call.report(user), sort_keys=True)}")


# ---- direct ----------------------------------------------------------------

# spec: MEDIA-1 MEDIA-4 QUAL-1
def test_direct(args, workdir):
    sp = speech(workdir)
    server, alice, bob = start_users(args, workdir)
    call = Call(workdir, alice, bob, "direct").start(
        {"alice": sp["A"], "bob": sp["B"]})
    rcs = call.wait()
    assert rcs == {"alice": 0, "bob": 0}, f"exit {rcs}\n{call.logs()}"
    print_reports(call)
    for user in ("alice", "bob"):
        got = quality(call.report(user), "packets_received")
        assert got and got > 0, f"{user}'s report: {got} packets received"
        pair = [quality(call.report(user), k)
                for k in ("local_type", "remote_type")]
        print(f"direct: {user}'s selected pair: {pair}")
    check_heard(args, call, sp, CORR_MIN)
    server.stop()


# ---- fingerprint -----------------------------------------------------------

def silent(path):
    """True when a heard file is missing, empty or holds only silence."""
    if not os.path.exists(path) or os.path.getsize(path) <= 44:
        return True
    return False


# spec: MEDIA-3
def test_fingerprint(args, workdir):
    sp = speech(workdir)
    server, alice, bob = start_users(args, workdir)
    call = Call(workdir, alice, bob, "fingerprint").start(
        {"alice": sp["A"], "bob": sp["B"]},
        {"alice": ["--advertise-fingerprint", WRONG_FP]})
    rcs = call.wait()
    print(call.logs())
    assert rcs == {"alice": 1, "bob": 1}, f"exit {rcs}"
    assert "fingerprint mismatch" in call.log("bob").lower(), \
        "bob's message does not name the fingerprint mismatch"
    print_reports(call)
    sent = quality(call.report("bob"), "packets_sent")
    assert sent == 0, f"bob refused alice's certificate, yet sent {sent}"
    for user in ("alice", "bob"):
        got = quality(call.report(user), "packets_received")
        assert got == 0, f"{user}'s report: {got} packets received"
        heard = call.files[user]["wav"]
        if not silent(heard):
            res = compare(args.compare_bin, sp["A"], heard)
            assert res["heard_rms"] == 0, f"{user} heard sound: {res}"


# ---- relay -----------------------------------------------------------------

def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_range(count=64):
    """A run of `count` UDP ports on 127.0.0.1 that are free now, below
    the usual ephemeral range (so the kernel is unlikely to hand them
    out meanwhile)."""
    for base in range(20000 + os.getpid() % 97 * 64, 32000, count):
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base, base + count - 1
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free UDP port range for coturn")


def stun_answers(port):
    """True when a STUN Binding request to 127.0.0.1:port gets a
    success response (RFC 8489: type 0x0101, same transaction id)."""
    tid = os.urandom(12)
    req = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + tid
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        s.sendto(req, ("127.0.0.1", port))
        try:
            data, _ = s.recvfrom(2048)
        except OSError:
            return False
    return data[:2] == b"\x01\x01" and data[8:20] == tid


class Coturn:
    """Debian's turnserver on 127.0.0.1 only: no configuration file, long
    term credentials for one user, loopback peers allowed, UDP only,
    relay ports from a free range, log to a file."""

    def __init__(self, workdir):
        self.port = free_udp_port()
        lo, hi = free_udp_range()
        self.user, self.password = "parley", os.urandom(8).hex()
        self.log_path = os.path.join(workdir, "turnserver.log")
        argv = ["turnserver", "-n", "--listening-ip", "127.0.0.1",
                "--relay-ip", "127.0.0.1", "--listening-port",
                str(self.port), "--lt-cred-mech", "--user",
                f"{self.user}:{self.password}", "--realm", "parley.test",
                "--allow-loopback-peers", "--no-tls", "--no-dtls",
                "--no-cli", "--no-tcp", "--no-tcp-relay", "--no-rfc5780",
                "--min-port", str(lo), "--max-port", str(hi),
                "--userdb", os.path.join(workdir, "turndb"),
                "--pidfile", os.path.join(workdir, "turnserver.pid"),
                "--log-file", self.log_path, "--simple-log",
                "--no-stdout-log", "--verbose"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.proc.label = "turnserver"
        chat.STARTED.append(self.proc)
        chat.wait_for(lambda: stun_answers(self.port),
                      "turnserver to answer STUN", (self.proc,))

    def log(self):
        return chat.read_text(self.log_path)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=HANG_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


RELAY_FAULTS = ["--seed", "5", "--dir", "up", "--loss", "5%",
                "--delay", "40ms", "--jitter", "30ms"]


def relayed_call(args, workdir, sp, users, turn, fec):
    """One call with each client behind its own UDP relay of one
    parley-netem to coturn; returns (call, relay counters)."""
    tag = "relay-fec" if fec else "relay-nofec"
    relay = Netem(args.netem_bin, [
        "--udp", f"127.0.0.1:0=127.0.0.1:{turn.port}",
        "--udp", f"127.0.0.1:0=127.0.0.1:{turn.port}", *RELAY_FAULTS],
        log_path=os.path.join(workdir, f"{tag}-netem.log"))
    chat.STARTED.append(relay.proc)
    opts = {}
    for n, user in enumerate(("alice", "bob")):
        opts[user] = ["--turn", f"127.0.0.1:{relay.ports['udp'][n]}",
                      "--turn-user", turn.user, "--turn-password",
                      turn.password, "--relay-only", "--loss-hint", "5"]
        if not fec:
            opts[user].append("--no-fec")
    _, alice, bob = users
    call = Call(workdir, alice, bob, tag).start(
        {"alice": sp["A"], "bob": sp["B"]}, opts)
    rcs = call.wait()
    stats = relay.stats()
    relay.stop()
    print(f"{tag}: exit {rcs}")
    assert rcs == {"alice": 0, "bob": 0}, f"exit {rcs}\n{call.logs()}"
    return call, stats


ROWS = [("packets sent", "packets_sent"),
        ("packets received", "packets_received"),
        ("packets lost", "packets_lost"),
        ("FEC-recovered", "packets_recovered_fec"),
        ("concealed", "packets_concealed"),
        ("late", "packets_late"),
        ("loss %", "loss_pct"),
        ("jitter ms", "jitter_ms"),
        ("RTT ms", "rtt_ms"),
        ("setup ms", "setup_ms"),
        ("MOS", "mos")]


def print_table(calls):
    """The reports side by side: one column per (run, user)."""
    cols = [(tag, user, call.report(user)) for tag, call in calls
            for user in ("alice", "bob")]
    head = f"{'':18}" + "".join(f"{t[6:] + ' ' + u:>16}" for t, u, _ in cols)
    print(head)
    for label, key in ROWS:
        cells = []
        for _, _, rep in cols:
            v = quality(rep, key)
            cells.append("-" if v is None else
                         f"{v:.2f}" if isinstance(v, float) else str(v))
        print(f"{label:18}" + "".join(f"{c:>16}" for c in cells))


def total(call, key):
    return sum(quality(call.report(u), key) or 0 for u in ("alice", "bob"))


def check_relayed(call, stats):
    """Media went through both relays both ways: at least 100 datagrams
    (two seconds of 20 ms packets) each way through each, and each
    report says the selected pair was relayed at both ends."""
    tag = call.tag
    for n, user in enumerate(("alice", "bob")):
        pair = [quality(call.report(user), k)
                for k in ("local_type", "remote_type")]
        assert pair == ["relay", "relay"], \
            f"{user}'s selected pair is {pair}, not relayed"
        up, down = stats[f"udp{n}.up.out"], stats[f"udp{n}.down.out"]
        lost = stats[f"udp{n}.up.loss"]
        print(f"{tag}: {user}'s relay: {up} datagrams to coturn "
              f"({lost} dropped), {down} back")
        assert up >= 100 and down >= 100, \
            f"{user}'s media did not go through its relay: {stats}"


# spec: MEDIA-1 MEDIA-5 QUAL-1
def test_relay(args, workdir):
    if shutil.which("turnserver") is None:
        raise Skip("turnserver (Debian package coturn) is not installed; "
                   "scripts/install-deps installs it")
    sp = speech(workdir)
    users = start_users(args, workdir)
    turn = Coturn(workdir)
    runs = []
    try:
        for fec in (True, False):
            call, stats = relayed_call(args, workdir, sp, users, turn, fec)
            check_relayed(call, stats)
            runs.append((call.tag, call))
    finally:
        turn.stop()
    allocs = turn.log().count("ALLOCATE processed, success")
    print(f"coturn: {allocs} successful allocations logged")
    assert allocs >= 4, "coturn logged fewer than two allocations a call"
    print_table(runs)
    for tag, call in runs:
        print_reports(call)
        check_heard(args, call, sp, CORR_MIN_LOSSY)
    fec_on, fec_off = runs[0][1], runs[1][1]
    rec_on = total(fec_on, "packets_recovered_fec")
    rec_off = total(fec_off, "packets_recovered_fec")
    assert rec_on > 0, "FEC on, yet no packet recovered by FEC"
    assert rec_off == 0, f"--no-fec, yet {rec_off} recovered by FEC"
    users[0].stop()


# ---- mute ------------------------------------------------------------------

# spec: CALLCLI-5 CALLCLI-6
def test_mute(args, workdir):
    """bob mutes 1 s into a 3 s call (--mute-after-ms): his engine sends
    silence from then on and counts it, and alice is told."""
    sp = speech(workdir)
    server, alice, bob = start_users(args, workdir)
    call = Call(workdir, alice, bob, "mute").start(
        {"alice": sp["A"], "bob": sp["B"]},
        {"alice": ["--duration-ms", "3000"],
         "bob": ["--mute-after-ms", "1000"]})
    rcs = call.wait()
    assert rcs == {"alice": 0, "bob": 0}, f"exit {rcs}\n{call.logs()}"
    print_reports(call)
    sent = quality(call.report("bob"), "packets_sent")
    muted = quality(call.report("bob"), "packets_muted")
    assert muted and 0 < muted <= sent, \
        f"bob muted, yet his report counts {muted} of {sent} packets muted"
    assert quality(call.report("alice"), "packets_muted") == 0, \
        "alice never muted, yet her report counts muted packets"
    with open(call.files["alice"]["out"], encoding="utf-8") as f:
        shown = f.read()
    assert "bob muted" in shown.splitlines(), \
        f"alice's terminal does not say 'bob muted':\n{shown}"
    server.stop()


TESTS = {"direct": test_direct, "fingerprint": test_fingerprint,
         "relay": test_relay, "mute": test_mute}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--test", required=True, choices=sorted(TESTS))
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--client-bin", required=True)
    ap.add_argument("--netem-bin", required=True)
    ap.add_argument("--compare-bin", required=True)
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix=f"parley-call-{args.test}-")
    ok = False
    try:
        TESTS[args.test](args, workdir)
        ok = True
        print(f"PASS call_media_{args.test}")
    except Skip as e:
        print(f"SKIP call_media_{args.test}: {e}")
        ok = SKIP_EXIT
    except AssertionError as e:
        print(f"FAIL call_media_{args.test}: {e}")
        chat.print_logs(workdir)
    finally:
        chat.finish(workdir, not ok or args.keep)
    return SKIP_EXIT if ok == SKIP_EXIT else 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
