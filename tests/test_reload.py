"""Signals to a running server: SIGHUP reload under load, SIGUSR1 log reopen,
SIGKILL of a daemon in the middle of a request."""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest

from tests.support.uwsgi_client import request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

APP = '''
import os
VERSION = {version!r}
def application(environ, start_response):
    body = ("%s %d" % (VERSION, os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


def write_app(path: str, version: str) -> None:
    # Another length each time: the .pyc check compares mtime (seconds) and size.
    with open(path + ".tmp", "w") as f:
        f.write(APP.format(version=version))
    os.replace(path + ".tmp", path)


class Load:
    """Client threads that send requests until stopped (bounded by count and time)."""

    def __init__(self, socket_path: str, clients: int = 6, limit: int = 3000) -> None:
        self.socket_path = socket_path
        self.results: list[object] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.limit = limit
        self.deadline = time.monotonic() + 40
        self.threads = [threading.Thread(target=self._client) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def _client(self) -> None:
        while not self.done.is_set() and time.monotonic() < self.deadline:
            try:
                r: object = request("/", socket_path=self.socket_path, timeout=20)
            except Exception as exc:
                r = exc
            with self.lock:
                self.results.append(r)
                if len(self.results) >= self.limit:
                    return

    def bodies(self) -> list[str]:
        with self.lock:
            return [r.body.decode() for r in self.results if getattr(r, "status", 0) == 200]

    def stop(self) -> list[object]:
        self.done.set()
        for t in self.threads:
            t.join(30)
        return [r for r in self.results if getattr(r, "status", None) != 200]


def test_sighup_reloads_under_load_without_a_failed_request(fastwsgi_server, tmp_path):
    script = str(tmp_path / "site.wsgi")
    write_app(script, "v1")
    server = fastwsgi_server(script, "--processes", "2", "--threads", "3")
    load = Load(server.socket_path)
    try:
        wait_for(lambda: len(load.bodies()) > 50, 10, "traffic before the reload")
        write_app(script, "version-two")
        server.signal(signal.SIGHUP)
        wait_for(lambda: "reloaded: 2 new processes ready" in server.log(), 20, "reload")
        wait_for(lambda: server.log().count("exited after") == 2, 20, "old processes gone")
        seen = len(load.bodies())
        wait_for(lambda: len(load.bodies()) > seen + 50, 10, "traffic after the reload")
    finally:
        failures = load.stop()
    assert not failures, failures[:3]
    bodies = load.bodies()
    assert bodies[0].startswith("v1 ") and bodies[-1].startswith("version-two ")
    assert all(b.startswith("version-two ") for b in bodies[seen + 10:])
    log = server.log()
    assert log.count("stopped (exit code 0)") == 2  # the old ones drained normally
    # The new processes started before the old ones were told to stop.
    assert log.index("accepting requests", log.index("SIGHUP")) < log.index("reloaded")


def test_sighup_with_broken_new_code_keeps_the_old_processes(fastwsgi_server, tmp_path):
    script = str(tmp_path / "site.wsgi")
    write_app(script, "v1")
    server = fastwsgi_server(script, "--processes", "2")
    first = request("/", socket_path=server.socket_path).body
    with open(script, "a") as f:
        f.write("raise RuntimeError('broken on purpose')\n")
    server.signal(signal.SIGHUP)
    wait_for(lambda: "Reload of daemon group" in server.log(), 20, "reload abandoned")
    assert "abandoned" in server.log()
    for _ in range(5):
        assert request("/", socket_path=server.socket_path).body.startswith(b"v1 ")
    assert server.proc.poll() is None
    assert first.startswith(b"v1 ")


def test_sigusr1_reopens_the_log_in_supervisor_and_daemons(fastwsgi_server):
    server = fastwsgi_server("lifecycle_app:application", "--processes", "2")
    daemons = [int(p) for p in re.findall(r"Starting daemon process '[^']+' \(pid=(\d+)\)",
                                          server.log())]
    os.rename(server.log_path, server.log_path + ".1")
    server.signal(signal.SIGUSR1)
    wait_for(lambda: os.path.exists(server.log_path), 10, "the log reopened")
    # The C watchdog's fd follows too: a stack dump (SIGUSR2) lands in the new file.
    wait_for(lambda: all(d in reopened_pids(server) for d in daemons), 10, "daemons reopened")
    os.kill(daemons[0], signal.SIGUSR2)
    wait_for(lambda: "most recent call first" in server.log(), 10, "stack dump in new log")
    server.stop()
    log = server.log()
    assert log.count("Exiting daemon process") == 2
    assert "fastwsgi (pid=" in log and "stopped." in log
    with open(server.log_path + ".1") as f:
        assert "Exiting daemon process" not in f.read()


def reopened_pids(server) -> set[int]:
    """Daemons whose error log fd points at the new file (same inode)."""
    inode = os.stat(server.log_path).st_ino
    pids = set()
    for pid in map(int, re.findall(r"\(pid=(\d+)\) with", server.log() + open(
            server.log_path + ".1").read())):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.stat(f"/proc/{pid}/fd/{fd}").st_ino == inode:
                        pids.add(pid)
                except OSError:
                    pass
        except OSError:
            pass
    return pids


def test_sigkill_mid_request_closes_the_connection_and_a_replacement_serves(fastwsgi_server):
    server = fastwsgi_server("lifecycle_app:application", "--threads", "2")
    release = os.path.join(server.tmpdir, "release")
    out: list[object] = []

    def call() -> None:
        try:
            out.append(request("/wait", query=release, socket_path=server.socket_path))
        except Exception as exc:
            out.append(exc)
    t = threading.Thread(target=call)
    t.start()
    marker = wait_for(lambda: [n for n in os.listdir(server.tmpdir)
                               if n.startswith("release.started.")], 10, "request in flight")
    pid = int(marker[0].split(".")[2])
    os.kill(pid, signal.SIGKILL)
    t.join(10)
    assert isinstance(out[0], ValueError) and "no complete response head" in str(out[0])
    wait_for(lambda: "signal 9 (SIGKILL)" in server.log(), 10, "exit logged")
    assert int(request("/pid", socket_path=server.socket_path).body) != pid
