#!/usr/bin/env python3
"""parley-netem's UDP path, measured at the endpoints.

A sender (this process) sends sequence-numbered, timestamped datagrams
through a parley-netem UDP relay to a receiver (a child process running
this file with --receiver). Each datagram holds a magic, its sequence
number, its send time (CLOCK_REALTIME, taken right before sendto) and a
CRC-32 of the rest. The receiver takes the kernel's arrival timestamp
(SO_TIMESTAMPNS, the same clock) of each one, so its own scheduling does
not count. Everything below is computed from what the receiver got; the
relay's counters are read only to know when every datagram has left it.

One relay per phase, each with its own fixed seed:

  delay     --delay 40ms --jitter 10ms (uniform): one-way delay, its
            spread, RFC 3550 interarrival jitter, reordering by jitter
  normal    --delay 30ms --jitter 5ms --distribution normal
  loss      --delay 10ms --loss 5% --reorder 10% --reorder-hold 15ms
  dupcor    --duplicate 3% --corrupt 2%
  gemodel   --loss-gemodel 1%,20%,100%,0%: bursty loss
  rate      --rate 8mbit --queue-limit 30k, offered twice the rate
  partition --partition 200ms:200ms
  seed      --loss 10% with seed 21 twice and seed 22: the same datagrams
            lost with the same seed, others with another
  kernel    --loss 5% beside loss made in the kernel: a tc eBPF
            classifier (simulator/netem_kernel_loss.bpf.c) dropping 5% on
            `lo` of a network namespace made for it, the probe sent
            straight from sender to receiver there. Needs root, ip, tc
            and clang; without them the phase says why and is skipped.

Tolerances. Counts (loss, reorder, duplicates, corruption) are checked
against a bound of Z = 4 standard errors of the configured probability:
binomial for independent events, widened by (1 + l) / (1 - l) for the
Gilbert-Elliott chain (l = 1 - P - R, the chain's memory). The seeds are
fixed, so these counts repeat run after run; the bounds catch a relay
that does not do what it was told. Timing is never a pass/fail
condition, since a busy machine delays everything: the shape of the delay
distribution (quartiles, spread, RFC 3550 jitter) is checked on the
delays the relay drew, which it reports in `stats` (udpN.DIR.delay-*),
each within its sampling error of the model. The wall clock only bounds
from below, which load cannot break: a relay never sends early, so no
datagram arrives sooner than the smallest delay the model allows, and
each quartile of the one-way delays is at least the drawn one. Upward,
wall-clock delays and jitter are printed as information. A relay with
no delay, or one that draws a wrong spread, fails. The rate check is
the token bucket's own guarantee: delivered bytes <= burst + rate *
elapsed.

Usage: test_netem_udp.py --netem PATH [--phase NAME]...
(--receiver and --probe are the child processes' own modes.)
"""

import argparse
import json
import math
import os
import random
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parley_e2e  # noqa: E402
from netem_relay import Netem  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HANG_S = 60  # only a guard against hangs, never a pass/fail condition
Z = 4.0
MAGIC = b"PNT1"
HEADER = struct.Struct("!4sIQ")
SO_TIMESTAMPNS = 35  # Linux, all architectures this runs on
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32
BIG_BUFFER = 8 * 1024 * 1024


# ---- the receiver (a child process) ----------------------------------------

def big_buffers(sock):
    for force, plain in ((SO_RCVBUFFORCE, socket.SO_RCVBUF),
                         (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, BIG_BUFFER)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, plain, BIG_BUFFER)


def decode(data):
    """(seq, send_ns) of an intact datagram, or None."""
    if len(data) < HEADER.size + 4:
        return None
    body, crc = data[:-4], struct.unpack("!I", data[-4:])[0]
    if zlib.crc32(body) != crc:
        return None
    magic, seq, send_ns = HEADER.unpack_from(body)
    return (seq, send_ns) if magic == MAGIC else None


def receiver_main():
    """Prints its port, records every datagram with its kernel arrival
    time until standard input closes, then drains the socket and prints
    the records as JSON: [seq, send_ns, recv_ns] for intact ones,
    ["bad", hex, recv_ns] for the others."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    big_buffers(sock)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    records = []

    def take():
        data, anc, _, _ = sock.recvmsg(65536, 64)
        recv_ns = time.time_ns()
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", payload[:16])
                recv_ns = sec * 1_000_000_000 + nsec
        got = decode(data)
        records.append([got[0], got[1], recv_ns] if got
                       else ["bad", data.hex(), recv_ns])

    stdin = sys.stdin.buffer
    while True:
        ready, _, _ = select.select([sock, stdin], [], [])
        if sock in ready:
            take()
        elif stdin in ready and not os.read(stdin.fileno(), 4096):
            break
    sock.setblocking(False)
    try:
        while True:
            take()
    except BlockingIOError:
        pass
    json.dump(records, sys.stdout)
    sys.stdout.flush()


class Receiver:
    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--receiver"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], HANG_S)
        assert ready, "the receiver did not start"
        self.port = int(self.proc.stdout.readline())

    def finish(self):
        self.proc.stdin.close()
        out = self.proc.stdout.read()
        assert self.proc.wait(timeout=HANG_S) == 0, "the receiver failed"
        return json.loads(out)


# ---- sending ---------------------------------------------------------------

def datagram(seq, send_ns, size):
    """The datagram of `seq`: header, a filler that depends on seq, and
    the CRC-32 of both."""
    filler = bytes((seq + i) & 0xFF for i in range(size - HEADER.size - 4))
    body = HEADER.pack(MAGIC, seq, send_ns) + filler
    return body + struct.pack("!I", zlib.crc32(body))


def send_all(port, n, interval_s, size):
    """Sends n datagrams, one every interval_s (busy-waiting for the
    time, so pacing is even). Returns the datagrams sent."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    big_buffers(sock)
    sock.connect(("127.0.0.1", port))
    sent = []
    start = time.perf_counter()
    for seq in range(n):
        due = start + seq * interval_s
        while time.perf_counter() < due:
            pass
        data = datagram(seq, time.time_ns(), size)
        sock.send(data)
        sent.append(data)
    sock.close()
    return sent


class Phase:
    """What one run through the relay gave."""

    def __init__(self, name, sent, records):
        self.name = name
        self.n = len(sent)
        self.sent = sent
        self.good = [r for r in records if r[0] != "bad"]
        self.bad = [r for r in records if r[0] == "bad"]
        self.total = len(records)
        first = {}
        for seq, send_ns, recv_ns in self.good:
            first.setdefault(seq, (send_ns, recv_ns))
        self.first = first  # seq -> (send_ns, recv_ns) of its first copy
        self.arrivals = []  # first copies in arrival order
        seen = set()
        for seq, send_ns, recv_ns in sorted(self.good, key=lambda r: r[2]):
            if seq not in seen:
                seen.add(seq)
                self.arrivals.append((seq, send_ns, recv_ns))

    def delays_ms(self):
        return [(r - s) / 1e6 for s, r in self.first.values()]

    def missing(self):
        return sorted(set(range(self.n)) - set(self.first))


def probe_main(n, interval_s, size):
    """Inside the cross-check's namespace: n datagrams straight to a
    receiver, no relay. Each sendto has put its datagram in the
    receiver's queue (or the kernel dropped it) by the time it returns,
    so the receiver can stop after the last one. Prints the records."""
    rx = Receiver()
    send_all(rx.port, n, interval_s, size)
    json.dump(rx.finish(), sys.stdout)


def run_phase(netem, name, seed, flags, n, interval_s, size=100):
    rx = Receiver()
    relay = Netem(netem, ["--udp", f"127.0.0.1:0=127.0.0.1:{rx.port}",
                          "--seed", str(seed), "--log-level", "warn",
                          *flags])
    try:
        sent = send_all(relay.ports["udp"][0], n, interval_s, size)
        # Every datagram has reached the relay and left it (or been
        # dropped): from here on they all sit in the receiver's socket.
        parley_e2e.wait_for(
            lambda: (lambda s: s["udp0.up.in"] == n and
                     s["udp0.in-flight"] == 0)(relay.stats()),
            f"the relay to pass {n} datagrams on", timeout=HANG_S)
        stats = relay.stats()
    finally:
        relay.stop()
    ph = Phase(name, sent, rx.finish())
    ph.stats = stats  # the relay's counters, its record of drawn delays
    return ph


# ---- statistics ------------------------------------------------------------

class Report:
    def __init__(self):
        self.rows = []
        self.failures = []

    def check(self, phase, measure, configured, observed, ok, bound):
        self.rows.append((phase, measure, configured, observed, bound,
                          "ok" if ok else "FAIL"))
        if not ok:
            self.failures.append(f"{phase}: {measure}: configured "
                                 f"{configured}, observed {observed}, "
                                 f"bound {bound}")

    def info(self, phase, measure, configured, observed):
        self.rows.append((phase, measure, configured, observed, "-", ""))

    def print(self):
        head = ("phase", "measure", "configured", "observed", "bound", "")
        widths = [max(len(str(r[i])) for r in self.rows + [head])
                  for i in range(6)]
        for row in [head] + self.rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths))
                  .rstrip())


def binomial_check(report, phase, measure, p, hits, trials, widen=1.0):
    """hits out of trials against probability p, within Z standard
    errors (times sqrt(widen) for correlated trials)."""
    se = math.sqrt(p * (1 - p) / trials * widen)
    observed = hits / trials
    report.check(phase, measure, f"{100 * p:.2f}%",
                 f"{100 * observed:.2f}% ({hits}/{trials})",
                 abs(observed - p) <= Z * se,
                 f"+/- {100 * Z * se:.2f}%")


def quantile(sorted_values, q):
    k = (len(sorted_values) - 1) * q
    lo = math.floor(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    v = sorted_values
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def rfc3550_jitter(arrivals):
    """The RFC 3550 (6.4.1) interarrival jitter over arrivals (send_ns,
    recv_ns in arrival order): its final value and its mean over the run
    after the first 16 packets, in ms."""
    j, trace = 0.0, []
    for (s0, r0), (s1, r1) in zip(arrivals, arrivals[1:]):
        d = (r1 - r0) - (s1 - s0)
        j += (abs(d) - j) / 16
        trace.append(j)
    tail = trace[16:] or trace
    return j / 1e6, statistics.fmean(tail) / 1e6


def model_jitter(send_ns, draw, runs=5, seed=1):
    """The mean RFC 3550 jitter (ms) a relay following the model would
    give for these send times: transit times drawn by draw(rng),
    arrivals sorted by time, as the receiver sees them."""
    rng = random.Random(seed)
    means = []
    for _ in range(runs):
        arr = sorted((s + draw(rng) * 1e6, s) for s in send_ns)
        means.append(rfc3550_jitter([(s, r) for r, s in arr])[1])
    return statistics.fmean(means)


def reordered(arrivals):
    """Sequence numbers of the first copies that arrived after one with a
    higher number (RFC 4737's reordered packets)."""
    top, late = -1, []
    for seq, _, _ in arrivals:
        if seq < top:
            late.append(seq)
        top = max(top, seq)
    return late


def loss_runs(missing):
    """Lengths of the runs of consecutive missing sequence numbers."""
    runs, prev = [], None
    for seq in missing:
        if prev is not None and seq == prev + 1:
            runs[-1] += 1
        else:
            runs.append(1)
        prev = seq
    return runs


# ---- the phases ------------------------------------------------------------

def drawn_ms(ph, key):
    """A value of the relay's record of the delays it drew (up), in ms."""
    return ph.stats[f"udp0.up.delay-{key}-us"] / 1000


def check_delay_spread(report, ph, delay, low, iqr_model, sd_model):
    """Delay measures. The distribution's shape is checked on the delays
    the relay says it drew (`stats`), which no load on the machine can
    move: each quartile within its sampling error of the model's, and the
    smallest draw no lower than the model allows. The wall clock only
    bounds from below: a timer never fires early, so every datagram's
    one-way delay is at least the delay drawn for it, and each quartile
    of the one-way delays at least the drawn one. Load only makes
    datagrams later, so upward the wall clock is information."""
    d = sorted(ph.delays_ms())
    report.check(ph.name, "lost (none configured)", 0, ph.n - len(d),
                 len(d) == ph.n, "== 0")
    report.check(ph.name, "delays drawn", ph.n, ph.stats["udp0.up.delay-drawn"],
                 ph.stats["udp0.up.delay-drawn"] == ph.n, "== sent")
    report.check(ph.name, "min drawn delay ms", f">= {low:.1f}",
                 f"{drawn_ms(ph, 'min'):.2f}",
                 drawn_ms(ph, "min") >= low - 0.05, "hard")
    report.check(ph.name, "min one-way delay ms", f">= {low:.1f}",
                 f"{d[0]:.2f}", d[0] >= low, "hard")
    se_q = 0.05 * iqr_model + 0.3  # well over 4 SE of a sample quartile
    model = [delay - iqr_model / 2, delay, delay + iqr_model / 2]
    drawn = [drawn_ms(ph, k) for k in ("p25", "p50", "p75")]
    report.check(ph.name, "drawn delay quartiles ms",
                 " / ".join(f"{m:.1f}" for m in model),
                 " / ".join(f"{x:.2f}" for x in drawn),
                 all(abs(x - m) <= se_q for m, x in zip(model, drawn)),
                 f"+/- {se_q:.1f}")
    iqr = drawn[2] - drawn[0]
    report.check(ph.name, "drawn delay IQR ms", f"{iqr_model:.2f}",
                 f"{iqr:.2f}", abs(iqr - iqr_model) <= 2 * se_q,
                 f"+/- {2 * se_q:.1f}")
    q = [quantile(d, p) for p in (0.25, 0.5, 0.75)]
    # 0.1 ms: the drawn quartiles are histogram bin middles (+/- 0.05).
    report.check(ph.name, "one-way quartiles >= drawn ms",
                 " / ".join(f"{x:.2f}" for x in drawn),
                 " / ".join(f"{x:.2f}" for x in q),
                 all(x >= m - 0.1 for m, x in zip(drawn, q)), "hard")
    report.info(ph.name, "one-way delay sd / mean / p99 / max ms",
                f"sd {sd_model:.2f}",
                f"{statistics.pstdev(d):.2f} / {statistics.fmean(d):.2f} / "
                f"{quantile(d, 0.99):.2f} / {d[-1]:.2f}")


def check_jitter(report, ph, draw, seq_model):
    """RFC 3550 jitter of the delays the relay drew (in the order the
    datagrams reached it), against the model: the mean |change| of
    consecutive draws, which is the expected J, and the mean of J over
    the run. The same measures on wall-clock arrivals are information:
    load on the machine moves them either way."""
    step = drawn_ms(ph, "step-mean")
    mean_j = drawn_ms(ph, "jitter-mean")
    bound = 0.1 * seq_model + 0.2  # over 5 SE at these sample sizes
    report.check(ph.name, "mean |change| of drawn delays ms",
                 f"{seq_model:.2f}", f"{step:.2f}",
                 abs(step - seq_model) <= bound, f"+/- {bound:.2f}")
    report.check(ph.name, "RFC 3550 jitter of draws ms (mean)",
                 f"{seq_model:.2f}",
                 f"{mean_j:.2f} (last {drawn_ms(ph, 'jitter'):.2f})",
                 abs(mean_j - seq_model) <= 2 * bound,
                 f"+/- {2 * bound:.2f}")
    final, mean = rfc3550_jitter([(s, r) for _, s, r in ph.arrivals])
    model = model_jitter([s for _, s, _ in ph.arrivals], draw)
    report.info(ph.name, "RFC 3550 jitter ms (mean), wall clock",
                f"{model:.2f}", f"{mean:.2f} (last {final:.2f})")
    by_seq = sorted(ph.first.items())
    diffs = [abs((r1 - s1) - (r0 - s0)) / 1e6 for (q0, (s0, r0)), (q1, (
        s1, r1)) in zip(by_seq, by_seq[1:]) if q1 == q0 + 1]
    report.info(ph.name, "mean |transit change| ms, seq order, wall clock",
                f"{seq_model:.2f}", f"{statistics.fmean(diffs):.2f}")
    late = len(reordered(ph.arrivals))
    report.info(ph.name, "reordered by jitter", "-",
                f"{100 * late / len(ph.arrivals):.1f}%")


def phase_delay(netem, report):
    ph = run_phase(netem, "delay", 11, ["--delay", "40ms", "--jitter", "10ms"],
                   2000, 0.0005)
    check_delay_spread(report, ph, 40.0, 30.0, 10.0, 10 / math.sqrt(3))
    check_jitter(report, ph, lambda r: r.uniform(30, 50), 20 / 3)


def phase_normal(netem, report):
    ph = run_phase(netem, "normal", 12, ["--delay", "30ms", "--jitter", "5ms",
                                         "--distribution", "normal"],
                   1500, 0.0005)
    check_delay_spread(report, ph, 30.0, 0.0, 1.349 * 5, 5.0)
    check_jitter(report, ph, lambda r: max(0.0, r.gauss(30, 5)),
                 2 * 5 / math.sqrt(math.pi))


def phase_loss(netem, report):
    n = 4000
    ph = run_phase(netem, "loss", 13, ["--delay", "10ms", "--loss", "5%",
                                       "--reorder", "10%",
                                       "--reorder-hold", "15ms"],
                   n, 0.00025)
    lost = len(ph.missing())
    binomial_check(report, ph.name, "loss", 0.05, lost, n)
    late = reordered(ph.arrivals)
    binomial_check(report, ph.name, "reordered (of received)", 0.10,
                   len(late), len(ph.arrivals))
    held = sorted((ph.first[q][1] - ph.first[q][0]) / 1e6 for q in late)
    base = quantile(sorted(ph.delays_ms()), 0.5)
    report.check(ph.name, "min delay of reordered ms", ">= 25 (10 + 15)",
                 f"{held[0]:.2f}" if held else "-",
                 bool(held) and held[0] >= 25.0, "hard")
    report.info(ph.name, "held back extra (mean, over median) ms", "15",
                f"{statistics.fmean(held) - base:.2f}" if held else "-")
    report.check(ph.name, "duplicates / corrupt (none configured)", "0 / 0",
                 f"{len(ph.good) - len(ph.first)} / {len(ph.bad)}",
                 len(ph.good) == len(ph.first) and not ph.bad, "== 0")


def one_bit_apart(bad_hex, sent):
    """True when the datagram differs in exactly one bit from one that
    was sent (its own, or, when the flipped bit is in the sequence
    number, the one whose number is one bit away)."""
    bad = bytes.fromhex(bad_hex)
    seq = HEADER.unpack_from(bad)[1]
    for cand in [seq] + [seq ^ (1 << b) for b in range(32)]:
        if cand < len(sent) and len(sent[cand]) == len(bad):
            bits = sum(bin(x ^ y).count("1") for x, y in zip(bad, sent[cand]))
            if bits == 1:
                return True
    return False


def phase_dupcor(netem, report):
    n = 3000
    ph = run_phase(netem, "dupcor", 14, ["--duplicate", "3%",
                                         "--corrupt", "2%"], n, 0.00025)
    binomial_check(report, ph.name, "duplicated (extra datagrams)", 0.03,
                   ph.total - n, n)
    binomial_check(report, ph.name, "corrupted (of received)", 0.02,
                   len(ph.bad), ph.total)
    flips = sum(one_bit_apart(h, ph.sent) for _, h, _ in ph.bad)
    report.check(ph.name, "corrupted ones one bit off a sent one",
                 len(ph.bad), flips, flips == len(ph.bad), "all")
    missing = len(ph.missing())
    report.check(ph.name, "missing (only all copies corrupted)",
                 f"<= {len(ph.bad)}", missing, missing <= len(ph.bad),
                 "<= corrupted")


def phase_gemodel(netem, report):
    n, p, r = 5000, 0.01, 0.20
    ph = run_phase(netem, "gemodel", 15, ["--loss-gemodel", "1%,20%,100%,0%"],
                   n, 0.0002)
    missing = ph.missing()
    pi_bad, memory = p / (p + r), 1 - p - r
    binomial_check(report, ph.name, "loss (stationary P/(P+R))", pi_bad,
                   len(missing), n, widen=(1 + memory) / (1 - memory))
    runs = loss_runs(missing)
    mean_run = statistics.fmean(runs) if runs else 0.0
    se = math.sqrt((1 - r) / r ** 2 / max(1, len(runs)))
    report.check(ph.name, "mean loss burst (1/R)", f"{1 / r:.2f}",
                 f"{mean_run:.2f} ({len(runs)} bursts)",
                 abs(mean_run - 1 / r) <= Z * se, f"+/- {Z * se:.2f}")


def phase_rate(netem, report):
    n, size, rate, burst = 1500, 1000, 1_000_000.0, 10_240
    ph = run_phase(netem, "rate", 16, ["--rate", "8mbit", "--burst", "10k",
                                       "--queue-limit", "30k"],
                   n, 0.0005, size=size)
    recv = sorted(r for _, r in ph.first.values())
    first_send = min(s for s, _ in ph.first.values())
    got = len(ph.first) * size
    bound = burst + rate * (recv[-1] - first_send) / 1e9
    report.check(ph.name, "bytes delivered <= burst + rate * t",
                 f"{bound:.0f}", got, got <= bound + size, "token bucket")
    tput = (len(recv) - 1) * size / ((recv[-1] - recv[0]) / 1e9)
    report.check(ph.name, "throughput bytes/s", f"{rate:.0f}", f"{tput:.0f}",
                 0.7 * rate <= tput <= 1.1 * rate, "x0.7 .. x1.1")
    d = sorted(ph.delays_ms())
    report.info(ph.name, "queueing delay p50 / max ms",
                f"<= {30_720 / rate * 1e3:.0f} + load",
                f"{quantile(d, 0.5):.1f} / {d[-1]:.1f}")
    report.info(ph.name, "dropped at the queue limit", "offered 2x rate",
                f"{100 * (n - len(ph.first)) / n:.1f}%")


def phase_partition(netem, report):
    n, interval = 1200, 0.0005
    ph = run_phase(netem, "partition", 17, ["--partition", "200ms:200ms"],
                   n, interval)
    runs = loss_runs(ph.missing())
    report.check(ph.name, "runs of lost datagrams", 1, len(runs),
                 len(runs) == 1, "== 1")
    if runs:
        missing = ph.missing()
        t = [HEADER.unpack_from(ph.sent[q])[2] for q in (missing[0],
                                                         missing[-1])]
        span = (t[1] - t[0]) / 1e6
        report.check(ph.name, "span of the lost run ms", 200, f"{span:.1f}",
                     abs(span - 200) <= 60, "+/- 60")


def kernel_loss_records(netem, n, interval_s, p):
    """Runs the probe in a network namespace of its own whose `lo` drops
    each packet with probability p in a tc eBPF classifier. Returns the
    receiver's records, or a reason why it cannot run here."""
    missing = [t for t in ("ip", "tc", "clang") if not shutil.which(t)]
    if os.geteuid() != 0 or missing:
        return f"needs root and {', '.join(missing) or 'ip, tc, clang'}"
    src = os.path.join(ROOT, "simulator", "netem_kernel_loss.bpf.c")
    work = tempfile.mkdtemp(prefix="parley-netem-kernel-")
    obj = os.path.join(work, "loss.o")
    ns = f"parley-netem-xcheck-{os.getpid()}"
    threshold = round(p * 2 ** 32)
    try:
        r = subprocess.run(["clang", "-O2", "-target", "bpf",
                            f"-DTHRESHOLD={threshold}u", "-c", src, "-o",
                            obj], capture_output=True, text=True)
        if r.returncode != 0:
            return "clang cannot build the eBPF program: " + r.stderr[-300:]
        if subprocess.run(["ip", "netns", "add", ns],
                          capture_output=True).returncode != 0:
            return "no network namespace can be made here"
        try:
            for cmd in (["ip", "-n", ns, "link", "set", "lo", "up"],
                        ["tc", "-n", ns, "qdisc", "add", "dev", "lo",
                         "clsact"],
                        ["tc", "-n", ns, "filter", "add", "dev", "lo",
                         "egress", "bpf", "da", "obj", obj, "sec",
                         "classifier"]):
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    return f"{' '.join(cmd[:4])}: {r.stderr.strip()}"
            r = subprocess.run(
                ["ip", "netns", "exec", ns, sys.executable,
                 os.path.abspath(__file__), "--probe", str(n),
                 str(interval_s)], capture_output=True, text=True,
                timeout=HANG_S)
            assert r.returncode == 0, r.stderr[-2000:]
            return json.loads(r.stdout)
        finally:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def phase_kernel(netem, report):
    """Random loss made in the kernel (tc eBPF) and by the relay, side by
    side, each against the configured 5% and against each other."""
    n, interval, p = 4000, 0.00025, 0.05
    kernel = kernel_loss_records(netem, n, interval, p)
    if isinstance(kernel, str):
        report.info("kernel", "cross-check skipped", "-", kernel)
        return
    k_lost = n - len({r[0] for r in kernel if r[0] != "bad"})
    ph = run_phase(netem, "kernel", 18, ["--loss", "5%"], n, interval)
    r_lost = len(ph.missing())
    binomial_check(report, "kernel", "loss made by tc eBPF", p, k_lost, n)
    binomial_check(report, "kernel", "loss made by parley-netem", p, r_lost,
                   n)
    diff = (r_lost - k_lost) / n
    se = math.sqrt(2 * p * (1 - p) / n)
    report.check("kernel", "parley-netem minus kernel", "0.00%",
                 f"{100 * diff:+.2f}%", abs(diff) <= Z * se,
                 f"+/- {100 * Z * se:.2f}%")


def phase_seed(netem, report):
    """The same seed drops the same datagrams; another seed others."""
    n, flags = 1000, ["--loss", "10%"]
    lost = [set(run_phase(netem, "seed", seed, flags, n, 0.00025).missing())
            for seed in (21, 21, 22)]
    report.check("seed", "lost datagrams, seed 21 twice", "the same",
                 f"{len(lost[0] ^ lost[1])} differ of {len(lost[0])}",
                 lost[0] == lost[1], "== 0")
    report.check("seed", "lost datagrams, seed 21 and 22", "others",
                 f"{len(lost[0] & lost[2])} shared of {len(lost[0])}",
                 lost[0] != lost[2], "!= all")


PHASES = {
    "delay": phase_delay,
    "normal": phase_normal,
    "loss": phase_loss,
    "dupcor": phase_dupcor,
    "gemodel": phase_gemodel,
    "rate": phase_rate,
    "partition": phase_partition,
    "seed": phase_seed,
    "kernel": phase_kernel,
}


def main():
    if sys.argv[1:] == ["--receiver"]:
        receiver_main()
        return 0
    if sys.argv[1:2] == ["--probe"]:
        probe_main(int(sys.argv[2]), float(sys.argv[3]), 100)
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--netem", required=True)
    ap.add_argument("--phase", action="append", choices=sorted(PHASES))
    args = ap.parse_args()
    report = Report()
    t0 = time.monotonic()
    for name in args.phase or list(PHASES):
        t1 = time.monotonic()
        PHASES[name](args.netem, report)
        print(f"phase {name}: {time.monotonic() - t1:.1f} s")
    report.print()
    print(f"{len(report.rows)} figures in {time.monotonic() - t0:.1f} s")
    for f in report.failures:
        print("FAIL " + f)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
