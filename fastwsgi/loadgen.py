"""The built-in HTTP/1.1 load generator: what `fastwsgi bench` uses when wrk is missing.

run_load() forks `processes` workers; each runs the Cython event loop
(cext/loadgen.pyx) over its share of the connections without the GIL until
a deadline common to all of them, then sends its counts and its latency
histogram back through a pipe. The parent adds them up: counts and
histogram counters add exactly, so percentiles of the merged histogram are
those of every request of every worker. Warm-up is the caller's business.
"""

from __future__ import annotations

import os
import pickle
import resource
import select
import signal
import socket
import struct
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

from fastwsgi import _cext

ERROR_KINDS: tuple[str, ...] = tuple(_cext.LOADGEN_ERROR_KINDS)
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))
# Forking every worker takes a few milliseconds: they all start at start_ns.
START_DELAY = 0.05
# How long the address probe of resolve() waits for one connect.
PROBE_TIMEOUT = 2.0
# How long past the deadline the parent waits for a worker's counts.
COLLECT_GRACE = 30.0


@dataclass
class LoadSpec:
    host: str
    port: int
    method: str = "GET"
    path: str = "/"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    connections: int = 64
    duration: float = 10.0
    processes: int = 2
    timeout: float = 5.0


@dataclass
class LoadResult:
    requests: int                  # complete responses received
    status: dict[int, int]         # count per status code
    errors: dict[str, int]         # keys: connect, timeout, truncated, read, write
    latency_us: dict[str, float]   # p50, p90, p99, max (microseconds)
    duration: float
    bytes_read: int
    # Requests written but not completely answered when the window closed:
    # not counted in `requests`, and not errors.
    in_flight: int = 0
    latency_mean_us: float = 0.0
    # The latency histogram's nonzero counters as (bucket, count): plain data
    # (asdict() and JSON work), and runs merge exactly by adding counts.
    histogram: list[tuple[int, int]] = field(default_factory=list, repr=False)

    @property
    def rps(self) -> float:
        """Complete responses per second of the window."""
        return self.requests / self.duration if self.duration > 0 else 0.0


class LoadError(RuntimeError):
    """A worker of the load generator failed (not the server: its errors are counted)."""


def wants_close(headers: list[tuple[str, str]]) -> bool:
    """Whether the caller asked for a new connection per request (Connection: close)."""
    return any(name.lower() == "connection" and "close" in value.lower()
               for name, value in headers)


def build_request(spec: LoadSpec) -> bytes:
    """The request every connection sends, built once: request line, Host, headers, body."""
    names = {name.lower() for name, _ in spec.headers}
    host = f"[{spec.host}]" if ":" in spec.host else spec.host
    lines = [f"{spec.method} {spec.path} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {host}:{spec.port}")
    lines += [f"{name}: {value}" for name, value in spec.headers]
    if "content-length" not in names and "transfer-encoding" not in names \
            and (spec.body or spec.method in ("POST", "PUT", "PATCH")):
        lines.append(f"Content-Length: {len(spec.body)}")
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("latin-1") + spec.body


def resolve(host: str, port: int) -> tuple[int, bytes]:
    """The address to load: the first of host's addresses that accepts a connection
    (as wrk picks it: `localhost` may be ::1 and 127.0.0.1), else the first one."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    chosen = infos[0]
    for info in infos if len(infos) > 1 else ():
        try:
            with socket.socket(info[0], socket.SOCK_STREAM) as probe:
                probe.settimeout(PROBE_TIMEOUT)
                probe.connect(info[4])
        except OSError:
            continue
        chosen = info
        break
    return family_and_sockaddr(chosen[0], chosen[4], port)


def family_and_sockaddr(family: int, addr: tuple, port: int) -> tuple[int, bytes]:
    """Pack a socket module address as the C struct sockaddr_in / sockaddr_in6."""
    if family == socket.AF_INET:
        return family, (struct.pack("=H", family) + struct.pack("!H", port)
                        + socket.inet_pton(family, addr[0]) + bytes(8))
    if family == socket.AF_INET6:
        return family, (struct.pack("=H", family) + struct.pack("!HI", port, addr[2])
                        + socket.inet_pton(family, addr[0]) + struct.pack("=I", addr[3]))
    raise ValueError(f"cannot load {addr!r}: address family {family} is not TCP/IP")


def split(total: int, parts: int) -> list[int]:
    """total connections over parts workers, as evenly as possible, none empty."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def raise_fd_limit(wanted: int) -> None:
    """Lift the soft limit on open files toward wanted (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def _worker(wfd: int, spec: LoadSpec, family: int, address: bytes, request: bytes,
            connections: int, start_ns: int, deadline_ns: int) -> None:
    """The forked child: wait for the common start, run the loop, send the counts."""
    status = 1
    try:
        # The loop runs without the GIL, so Python-level handlers inherited
        # from the caller would never run: let the signals act directly.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise_fd_limit(connections + 64)
        delay = (start_ns - time.monotonic_ns()) / 1e9
        if delay > 0:
            time.sleep(delay)
        try:
            out: Any = _cext.loadgen_run(address, family, request, connections, deadline_ns,
                                         spec.timeout, wants_close(spec.headers),
                                         spec.method.upper() == "HEAD")
            status = 0
        except Exception as exc:  # reported by the parent as LoadError
            out = f"{type(exc).__name__}: {exc}"
        data = pickle.dumps(out)
        view = memoryview(data)
        while view:
            view = view[os.write(wfd, view):]
    finally:
        os._exit(status)


def _collect(rfds: dict[int, int], deadline: float) -> dict[int, bytes]:
    """Read every worker's pipe to its end (pid -> bytes), or give up at deadline."""
    chunks: dict[int, list[bytes]] = {fd: [] for fd in rfds}
    open_fds = set(rfds)
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            raise LoadError("a load generator worker did not report in time")
        ready, _, _ = select.select(list(open_fds), [], [], left)
        for fd in ready:
            data = os.read(fd, 1 << 16)
            if data:
                chunks[fd].append(data)
            else:
                open_fds.discard(fd)
    return {rfds[fd]: b"".join(parts) for fd, parts in chunks.items()}


def _merge(outs: list[dict[str, Any]], duration: float) -> LoadResult:
    hist = array("Q", bytes(8 * _cext.LOADGEN_HISTOGRAM_SIZE))
    status: dict[int, int] = {}
    errors = dict.fromkeys(ERROR_KINDS, 0)
    requests = bytes_read = in_flight = lat_max = lat_sum = 0
    for out in outs:
        requests += out["requests"]
        bytes_read += out["bytes_read"]
        in_flight += out["in_flight"]
        lat_max = max(lat_max, out["latency_max_ns"])
        lat_sum += out["latency_sum_ns"]
        for code, count in out["status"].items():
            status[code] = status.get(code, 0) + count
        for kind, count in out["errors"].items():
            errors[kind] += count
        part = array("Q")
        part.frombytes(out["histogram"])
        hist = array("Q", map(int.__add__, hist, part))
    values = _cext.histogram_percentiles(hist, [q for _, q in PERCENTILES])
    latency = {name: value / 1000.0 for (name, _), value in zip(PERCENTILES, values, strict=True)}
    latency["max"] = lat_max / 1000.0
    return LoadResult(requests=requests, status=dict(sorted(status.items())), errors=errors,
                      latency_us=latency, duration=duration, bytes_read=bytes_read,
                      in_flight=in_flight,
                      latency_mean_us=lat_sum / requests / 1000.0 if requests else 0.0,
                      histogram=[(i, n) for i, n in enumerate(hist) if n])


def run_load(spec: LoadSpec) -> LoadResult:
    """Load spec.host:spec.port for spec.duration seconds; the merged counts of all workers."""
    if spec.connections < 1 or spec.processes < 1:
        raise ValueError("connections and processes must be at least 1")
    if spec.duration <= 0 or spec.timeout <= 0:
        raise ValueError("duration and timeout must be positive")
    family, address = resolve(spec.host, spec.port)
    request = build_request(spec)
    start_ns = time.monotonic_ns() + int(START_DELAY * 1e9)
    deadline_ns = start_ns + int(spec.duration * 1e9)
    rfds: dict[int, int] = {}
    try:
        for share in split(spec.connections, spec.processes):
            rfd, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(rfd)
                _worker(wfd, spec, family, address, request, share, start_ns, deadline_ns)
            os.close(wfd)
            rfds[rfd] = pid
        reports = _collect(rfds, deadline_ns / 1e9 + COLLECT_GRACE)
    finally:
        for rfd, pid in rfds.items():
            os.close(rfd)
            try:
                os.kill(pid, signal.SIGKILL)  # only a worker still running: on an error
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
    outs = []
    for pid, data in reports.items():
        out = pickle.loads(data) if data else "exited without a report"
        if not isinstance(out, dict):
            raise LoadError(f"load generator worker {pid}: {out}")
        outs.append(out)
    return _merge(outs, (deadline_ns - start_ns) / 1e9)
