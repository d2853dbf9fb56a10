"""One load run with wrk or the built-in generator, in the harness's own terms.

Both generators' numbers come back as one dict: requests, duration_s,
requests_per_s, latency_us (p50, p90, p99, max) and errors by kind:

    connect    the connection could not be made
    timeout    no complete answer within the request timeout
    non_2xx    an answer that is not 2xx (wrk: status >= 400, its own count;
               a per-response lua hook would cost wrk most of its speed)
    truncated  the connection closed before the answer was complete
               (wrk: its "read" errors)
    other      any other socket error (wrk: "write"; built-in: read, write)
"""

from __future__ import annotations

from typing import Any

from fastwsgi.benchtool import wrk
from fastwsgi.benchtool.peers import Probe

ERROR_KINDS = ("connect", "timeout", "non_2xx", "truncated", "other")
#: Threads of wrk / processes of the built-in generator (the machine's cores are
#: shared with the server; two is what a small machine can spare).
LOAD_WORKERS = 2


class LoadError(RuntimeError):
    """The load generator failed or is missing."""


def builtin_available() -> str | None:
    """None when the built-in generator can run, else why not."""
    try:
        import fastwsgi.loadgen  # noqa: F401
    except ImportError as exc:
        return f"the built-in load generator is not available ({exc})"
    return None


def choose(generator: str) -> str:
    """The generator `auto` means here: wrk when installed, else the built-in one."""
    if generator == "auto":
        return "wrk" if wrk.wrk_path() else "builtin"
    if generator == "wrk" and wrk.wrk_path() is None:
        raise LoadError(f"wrk is not installed; install it with: {wrk.INSTALL_HINT}")
    if generator == "builtin":
        why = builtin_available()
        if why:
            raise LoadError(why)
    return generator


def run(generator: str, port: int, probe: Probe, connections: int, duration: float,
        timeout: float = 10.0) -> dict[str, Any]:
    """Load 127.0.0.1:port with probe's request for duration seconds."""
    if generator == "wrk":
        return _run_wrk(port, probe, connections, duration, timeout)
    return _run_builtin(port, probe, connections, duration, timeout)


def _run_wrk(port: int, probe: Probe, connections: int, duration: float,
             timeout: float) -> dict[str, Any]:
    settings = wrk.WrkSettings(threads=LOAD_WORKERS, connections=connections,
                               duration=duration, timeout=timeout)
    try:
        w = wrk.run(f"http://127.0.0.1:{port}{probe.path}", settings, probe.method,
                    probe.body, probe.headers)
    except wrk.WrkError as exc:
        raise LoadError(str(exc)) from exc
    e = w["errors"]
    lat = w["latency_us"] or {}
    return {
        "generator": "wrk", "requests": w["requests"], "duration_s": w["duration_us"] / 1e6,
        "requests_per_s": w["requests_per_s"], "bytes": w["bytes"],
        "latency_us": {k: lat.get(k) for k in ("p50", "p90", "p99", "max")},
        "errors": {"connect": e["connect"], "timeout": e["timeout"], "non_2xx": e["status"],
                   "truncated": e["read"], "other": e["write"]},
        "command": w["command"],
    }


def _run_builtin(port: int, probe: Probe, connections: int, duration: float,
                 timeout: float) -> dict[str, Any]:
    from fastwsgi import loadgen
    spec = loadgen.LoadSpec(host="127.0.0.1", port=port, method=probe.method, path=probe.path,
                    headers=list(probe.headers.items()), body=probe.body,
                    connections=connections, duration=duration,
                    processes=min(LOAD_WORKERS, connections), timeout=timeout)
    try:
        r = loadgen.run_load(spec)
    except (loadgen.LoadError, OSError) as exc:
        raise LoadError(f"built-in load generator: {exc}") from exc
    e = r.errors
    non_2xx = sum(n for status, n in r.status.items() if not 200 <= status < 300)
    return {
        "generator": "builtin", "requests": r.requests, "duration_s": r.duration,
        "requests_per_s": r.rps, "bytes": r.bytes_read,
        "latency_us": {k: r.latency_us.get(k) for k in ("p50", "p90", "p99", "max")},
        "errors": {"connect": e.get("connect", 0), "timeout": e.get("timeout", 0),
                   "non_2xx": non_2xx, "truncated": e.get("truncated", 0),
                   "other": e.get("read", 0) + e.get("write", 0)},
        "status": {str(k): v for k, v in sorted(r.status.items())},
        # Written but not answered when the window closed: neither requests nor errors.
        "in_flight": getattr(r, "in_flight", 0),
    }
