"""A parley-netem process for the end-to-end tests: started with the
given flags and a control interface on a free loopback port, its
listening ports read from what it prints on start, commands sent through
its control interface, stopped with SIGTERM (it must exit 0).

Nothing here waits a fixed time; HANG_S only bounds how long a broken
relay can hold a test up."""

import os
import select
import socket
import subprocess

HANG_S = 60


def read_start_lines(proc):
    """The lines parley-netem prints on start, up to `parley-netem
    ready` (read unbuffered, so select sees what is left)."""
    out, fd = b"", proc.stdout.fileno()
    while not out.endswith(b"parley-netem ready\n"):
        ready, _, _ = select.select([fd], [], [], HANG_S)
        chunk = os.read(fd, 4096) if ready else b""
        assert chunk, f"parley-netem did not start: {out!r}"
        out += chunk
    return out.decode().splitlines()


class Netem:
    """parley-netem with `flags` (its relays and faults) and a control
    interface. ports[kind] lists the listening ports of the relays of
    that kind (udp, tcp) in flag order."""

    def __init__(self, binary, flags, log_path=None):
        self.argv = [binary, "--control", "127.0.0.1:0", *flags]
        log = open(log_path, "w") if log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE,
                                     stderr=log)
        if log_path:
            log.close()
        self.label = "parley-netem"
        self.lines = read_start_lines(self.proc)
        self.ports = {"udp": [], "tcp": [], "control": []}
        for line in self.lines:
            words = line.split()
            if words[1] in self.ports:
                self.ports[words[1]].append(int(words[2].rsplit(":", 1)[1]))
        self.ctl = socket.create_connection(
            ("127.0.0.1", self.ports["control"][0]), timeout=HANG_S)
        self.ctl_file = self.ctl.makefile("rw")

    def command(self, line):
        """The data lines of a control command's reply (up to `ok`); an
        `error:` reply fails the test."""
        self.ctl_file.write(line + "\n")
        self.ctl_file.flush()
        out = []
        while True:
            reply = self.ctl_file.readline().rstrip("\n")
            assert reply and not reply.startswith("error"), (line, reply)
            if reply == "ok":
                return out
            out.append(reply)

    def stats(self):
        """The counters of `stats`, {name: int}."""
        return {k: int(v) for k, v in
                (line.split() for line in self.command("stats"))}

    def stop(self):
        """SIGTERM; the relay must exit 0 (under ASan: no leak, no error
        report)."""
        self.ctl_file.close()
        self.ctl.close()
        self.proc.terminate()
        rc = self.proc.wait(timeout=HANG_S)
        self.proc.stdout.close()
        assert rc == 0, f"parley-netem exited {rc}"
