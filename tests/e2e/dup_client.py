#!/usr/bin/env python3
"""A deliberately broken client for parley-conform's client mode: it runs
the real client given as its arguments and passes the test-driver
interface (spec section 18) through unchanged, except that every
`message` event is written twice, as a client that shows each message
twice would report it (DELIV-4 broken, the wire untouched).

    dup_client.py PATH/TO/parley-client driver
"""

import os
import subprocess
import sys
import threading


def pump_in(child):
    """Standard input to the child as it comes, then its end."""
    while True:
        data = os.read(0, 65536)
        if not data:
            break
        child.stdin.write(data)
        child.stdin.flush()
    child.stdin.close()


def main():
    child = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
    threading.Thread(target=pump_in, args=(child,), daemon=True).start()
    out = sys.stdout.buffer
    for line in child.stdout:
        out.write(line)
        if line.startswith(b'{"event":"message"'):
            out.write(line)
        out.flush()
    return child.wait()


if __name__ == "__main__":
    # os._exit: the input thread may still wait on standard input
    os._exit(main())
