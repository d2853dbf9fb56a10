"""The environ as JSON, plus helpers for concurrency tests.

anything else             JSON of the environ: str/bool/int/tuple values as-is,
                          other values by type name; plus "pid"
/barrier?n=N              wait on a module-wide threading.Barrier(N) (10 s):
                          "passed" only when N requests are inside the app at once
/hold?dir=D&n=N           note this request in D (one file named after the pid and a
                          unique id), then wait (10 s) until D holds N notes;
                          answers the JSON list of pids seen
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from urllib.parse import parse_qs

_barriers: dict[int, threading.Barrier] = {}
_lock = threading.Lock()


def _jsonable(value: object) -> object:
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, tuple):
        return list(value)
    return f"<{type(value).__name__}>"


def _barrier(n: int) -> bytes:
    with _lock:
        barrier = _barriers.setdefault(n, threading.Barrier(n, timeout=10))
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        return b"broken"
    return b"passed"


def _hold(directory: str, n: int) -> bytes:
    with open(os.path.join(directory, f"{os.getpid()}-{uuid.uuid4().hex}"), "w"):
        pass
    deadline = time.monotonic() + 10
    while len(os.listdir(directory)) < n and time.monotonic() < deadline:
        time.sleep(0.01)  # the app waits for its peers; the test itself never sleeps
    return json.dumps(sorted({name.split("-")[0] for name in os.listdir(directory)})).encode()


def application(environ, start_response):
    qs = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    path = environ.get("PATH_INFO", "")
    if path == "/barrier":
        body = _barrier(int(qs["n"]))
    elif path == "/hold":
        body = _hold(qs["dir"], int(qs["n"]))
    else:
        env = {k: _jsonable(v) for k, v in environ.items()}
        env["pid"] = os.getpid()
        body = json.dumps(env).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
