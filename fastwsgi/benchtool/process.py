"""Server subprocesses for the benchmark harness: spawn in a session, wait, stop by group.

Every server runs in its own session (start_new_session), so stopping it is a
signal to its process group: the parent and every worker it forked, nothing
else. Waits poll a predicate against a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class StartError(RuntimeError):
    """A server did not come up (exited, or never answered correctly in time)."""


def free_port() -> int:
    """A port that was free a moment ago (bind port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float, what: str,
               interval: float = 0.05) -> None:
    """Poll predicate until true; StartError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise StartError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


class Proc:
    """One server command in its own session, its output in a log file."""

    def __init__(self, argv: Sequence[str], *, cwd: str, log_path: str,
                 env: Mapping[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with open(self.log_path, "ab") as out:
            self.popen = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env,
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                          start_new_session=True)
        return self

    def exited(self) -> bool:
        return self.popen is not None and self.popen.poll() is not None

    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = Path(self.log_path).read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group; SIGKILL the group if it outlives timeout."""
        if self.popen is None:
            return
        pid = self.popen.pid
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        # Workers may outlive their parent for a moment; the group goes too.
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.popen.poll() is None:
            self.popen.wait(timeout=5)
        self.popen = None


def http_request(port: int, method: str, path: str, body: bytes | None = None,
                 headers: Mapping[str, str] | None = None,
                 timeout: float = 10.0) -> tuple[int, bytes]:
    """One HTTP/1.1 request to 127.0.0.1:port; (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def answer_problem(status: int, body: bytes, expect: bytes | None) -> str | None:
    """None when (status, body) is a correct answer, else what was wrong with it."""
    if expect is not None:
        if status == 200 and body == expect:
            return None
        return f"status {status}, {len(body)} bytes (expected 200 and {len(expect)} exact bytes)"
    if 200 <= status < 300:
        return None
    return f"status {status} (expected 2xx), body {body[:80]!r}"


def wait_http(proc: Proc, port: int, path: str, expect: bytes | None, timeout: float,
              method: str = "GET", body: bytes | None = None,
              headers: Mapping[str, str] | None = None) -> None:
    """Wait until the request answers correctly (answer_problem); fail fast if proc exits."""
    last: list[str] = ["no answer yet"]

    def ready() -> bool:
        if proc.exited():
            raise StartError(f"exited with status {proc.returncode()} before answering:\n"
                             f"{proc.log_tail()}")
        try:
            status, data = http_request(port, method, path, body, headers, timeout=5.0)
        except OSError as exc:
            last[0] = f"{type(exc).__name__}: {exc}"
            return False
        problem = answer_problem(status, data, expect)
        if problem is None:
            return True
        if status == 500 or 400 <= status < 500:
            # The application answered, wrongly: waiting longer will not help.
            raise StartError(f"wrong answer to {method} {path}: {problem}\n{proc.log_tail()}")
        last[0] = problem
        return False

    try:
        wait_until(ready, timeout, f"{method} {path} on 127.0.0.1:{port}")
    except StartError as exc:
        if proc.exited() or str(exc).startswith("wrong answer"):
            raise
        raise StartError(f"{exc} (last: {last[0]})\n{proc.log_tail()}") from None
