#!/usr/bin/env python3
"""flood.py — connections that never authenticate, as an attacker without a
key makes them: raw TCP connections that stay idle, and "half greetings"
that send the start of a ZMTP greeting and stall. Opens them all at once
from a chosen source address, holds them, and reports as one JSON line how
many the server closed and how long the longest stayed open.

With --reopen every connection the server closes is made again at once,
for the whole hold: the pressure stays on.

usage: flood.py HOST PORT --count N [--half M] [--source ADDR] [--hold S] [--reopen]
"""
import argparse
import errno
import json
import selectors
import socket
import time

# ZMTP 3 signature (10 bytes) and the major version: a greeting cut short.
HALF_GREETING = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--count", type=int, required=True, help="connections in all")
    ap.add_argument("--half", type=int, default=0, help="of which send a half greeting")
    ap.add_argument("--source", default=None, help="source address to bind")
    ap.add_argument("--hold", type=float, default=10.0, help="seconds to hold and watch")
    ap.add_argument("--reopen", action="store_true", help="make each closed connection again")
    a = ap.parse_args()

    sel = selectors.DefaultSelector()
    start = time.monotonic()
    opened = failed = 0
    socks = []

    def connect(half):
        nonlocal opened, failed
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if a.source:
            s.bind((a.source, 0))
        s.setblocking(False)
        rc = s.connect_ex((a.host, a.port))
        if rc not in (0, errno.EINPROGRESS):
            failed += 1
            s.close()
            return 0
        socks.append({"sock": s, "half": half, "sent": False,
                      "opened": time.monotonic(), "closed": None})
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, len(socks) - 1)
        opened += 1
        return 1

    open_now = 0
    for i in range(a.count):
        open_now += connect(i < a.half)

    def gone(c):
        """c is closed (the connect failed, or the server closed it): it
        counts as closed by the server, and is made again with --reopen"""
        nonlocal open_now
        c["closed"] = time.monotonic()
        sel.unregister(c["sock"])
        c["sock"].close()
        open_now -= 1
        if a.reopen:
            open_now += connect(c["half"])

    deadline = start + a.hold
    while time.monotonic() < deadline and open_now:
        for key, ev in sel.select(timeout=0.1):
            c = socks[key.data]
            s = c["sock"]
            if ev & selectors.EVENT_WRITE and not c["sent"]:
                c["sent"] = True
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err == 0 and c["half"]:
                    try:
                        s.send(HALF_GREETING)
                    except OSError:
                        pass
                sel.modify(s, selectors.EVENT_READ, key.data)
                if err:
                    gone(c)
                continue
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:           # EOF or reset: the server closed it
                    gone(c)
    closed = [c for c in socks if c["closed"] is not None]
    end = time.monotonic()
    longest = max(((c["closed"] or end) - c["opened"] for c in socks), default=0.0)
    print(json.dumps({"opened": opened, "connect_failed": failed,
                      "closed_by_server": len(closed), "still_open": open_now,
                      "longest_open_s": round(longest, 3),
                      "watched_s": round(end - start, 3)}), flush=True)
    for c in socks:
        if c["closed"] is None:
            c["sock"].close()


if __name__ == "__main__":
    main()
