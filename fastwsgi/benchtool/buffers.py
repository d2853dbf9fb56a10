"""`fastwsgi bench --scenario buffers`: the deadlock behind receive/send-buffer-size.

mod_wsgi's Apache child writes the whole request body to the daemon before it
reads the response. An application that answers a large upload with a large
response without reading the body then fills both directions' socket
buffers: the daemon blocks writing the response, the child blocks writing the
body, and the request stalls until a timeout. receive-buffer-size and
send-buffer-size push the problem away by making the buffers large enough.
fastwsgi's router relays full duplex, so it should complete at any size.

For each buffer size (0 = OS default, 512, 4 KiB, 64 KiB, 1 MiB) and each
application path (/noread answers without reading, /read reads first; see
apps/buffers.py) a server is started fresh with
`--receive-buffer-size N --send-buffer-size N`, and a few requests upload
SIZE bytes and expect SIZE bytes back. The client itself is full duplex (it
keeps reading while it writes, as wrk does) and gives up on a request after
the timeout: a stall is reported, never a hang.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastwsgi.benchtool.apps.buffers import BUFFER_SIZES, DEFAULT_SIZE
from fastwsgi.benchtool.matrix import one_line
from fastwsgi.benchtool.peers import Probe, Server, Target
from fastwsgi.benchtool.process import StartError

APP_FILE = str(Path(__file__).with_name("apps") / "buffers.py")
SIZES = BUFFER_SIZES
PATHS = ("/noread", "/read")
DEFAULT_BYTES = DEFAULT_SIZE
READY = Probe(path="/", expect=b"ok")
SEND_CHUNK = 256 * 1024


@dataclass(frozen=True)
class BufferSettings:
    size: int = DEFAULT_BYTES       # bytes uploaded and bytes answered, per request
    requests: int = 4               # per (server, buffer size, path)
    concurrency: int = 2
    timeout: float = 20.0           # per request: longer is a stall
    threads: int = 4                # daemon threads per process


def exchange(port: int, path: str, size: int, timeout: float) -> str:
    """One full-duplex request: "ok", "stall", "truncated", "status N" or "error: ..."."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {size}\r\n"
            f"X-Response-Size: {size}\r\nContent-Type: application/octet-stream\r\n"
            "Connection: close\r\n\r\n").encode()
    chunk = b"u" * SEND_CHUNK
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as exc:
        return f"error: connect: {exc.strerror or exc}"
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    out = head
    body_left = size
    received = bytearray()
    expected: int | None = None
    header_len = 0
    try:
        sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "stall"
            for _, events in sel.select(min(left, 1.0)):
                if events & selectors.EVENT_WRITE:
                    if not out and body_left:
                        out = chunk[:min(body_left, SEND_CHUNK)]
                        body_left -= len(out)
                    try:
                        sent = sock.send(out)
                        out = out[sent:]
                    except OSError as exc:
                        if exc.errno not in (errno.EPIPE, errno.ECONNRESET):
                            raise
                        # The server stopped reading (it answered already): keep reading.
                        out, body_left = b"", 0
                    if not out and not body_left:
                        sel.modify(sock, selectors.EVENT_READ)
                if events & selectors.EVENT_READ:
                    data = sock.recv(1 << 20)
                    if not data:
                        if expected is not None and len(received) - header_len >= expected:
                            return "ok"
                        return "truncated"
                    received += data
                    if expected is None and b"\r\n\r\n" in received:
                        header_len = received.index(b"\r\n\r\n") + 4
                        lines = bytes(received[:header_len]).decode("latin-1").split("\r\n")
                        status = int(lines[0].split()[1])
                        if status != 200:
                            return f"status {status}"
                        expected = next((int(ln.split(":", 1)[1]) for ln in lines
                                         if ln.lower().startswith("content-length:")), -1)
                    if expected is not None and expected >= 0 \
                            and len(received) - header_len >= expected:
                        return "ok"
    except OSError as exc:
        return "truncated" if exc.errno == errno.ECONNRESET else f"error: {exc}"
    finally:
        sel.close()
        sock.close()


def run_case(server: Server, path: str, settings: BufferSettings) -> dict[str, Any]:
    """Start the server fresh, send the requests, count the outcomes, stop it."""
    t = server.target
    case: dict[str, Any] = {"server": server.name, "buffer_size": t.receive_buffer_size,
                            "path": path, "requests": settings.requests}
    try:
        running = server.start(READY)
    except StartError as exc:
        case.update(completed=False, error=f"failed to start: {one_line(str(exc))}")
        return case
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(settings.concurrency) as pool:
            outcomes = list(pool.map(lambda _: exchange(running.port, path, settings.size,
                                                        settings.timeout),
                                     range(settings.requests)))
    finally:
        elapsed = time.monotonic() - started
        running.stop()
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o] = counts.get(o, 0) + 1
    ok = counts.get("ok", 0)
    case.update(completed=ok == settings.requests, outcomes=counts, elapsed_s=round(elapsed, 3),
                stalls=counts.get("stall", 0),
                requests_per_s=round(ok / elapsed, 2) if elapsed > 0 else None,
                mib_per_s=round(ok * 2 * settings.size / elapsed / (1 << 20), 1)
                if elapsed > 0 else None)
    return case


def servers_for(size: int, peers: Sequence[type[Server]], settings: BufferSettings,
                router: type[Server]) -> list[Server]:
    """fastwsgi's router and the peers, each with both buffer sizes set to size."""
    target = Target(app=APP_FILE, processes=1, threads=settings.threads,
                    receive_buffer_size=size, send_buffer_size=size)
    out = [router(target)]
    for cls in peers:
        peer = cls(target)
        if hasattr(peer, "io_timeout"):
            # Apache gives up on a stalled child <-> daemon copy after this.
            peer.io_timeout = max(1, int(settings.timeout) + 5)
        out.append(peer)
    return out


def cases_table(cases: Sequence[dict[str, Any]]) -> str:
    from fastwsgi.benchtool.report import format_table
    rows = []
    for c in cases:
        outcome = c.get("error") or ", ".join(f"{k}={v}" for k, v in c["outcomes"].items())
        rows.append([c["server"], str(c["buffer_size"] or "default"), c["path"],
                     "yes" if c["completed"] else "NO", str(c.get("stalls", "-")),
                     "-" if c.get("requests_per_s") is None else f"{c['requests_per_s']:.2f}",
                     "-" if c.get("mib_per_s") is None else f"{c['mib_per_s']:.1f}", outcome])
    return format_table(["server", "buffers", "path", "all completed", "stalls", "req/s",
                         "MiB/s", "outcomes"], rows, right=(4, 5, 6))
