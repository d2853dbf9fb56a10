"""Run `fastwsgi serve` as a real subprocess, in its own session, for tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from fastwsgi.client import can_connect
from tests.support.procs import ServerProcess
from tests.support.waiting import wait_for

__all__ = ["FastWSGI", "can_connect", "short_tmpdir"]

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "tests" / "apps"


def short_tmpdir() -> str:
    """A temp dir short enough for AF_UNIX paths (108 bytes)."""
    return tempfile.mkdtemp(prefix="fw", dir="/tmp")


class FastWSGI(ServerProcess):
    """A `fastwsgi serve APP` subprocess with a uwsgi socket in a temp dir."""

    def __init__(self, app: str | Path, *args: str, tmpdir: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.tmpdir = tmpdir or short_tmpdir()
        self.socket_path = os.path.join(self.tmpdir, "g.sock")
        self.log_path = os.path.join(self.tmpdir, "error.log")
        self.app = str(app)
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT), str(APPS)] + ([self.env["PYTHONPATH"]] if self.env.get("PYTHONPATH") else []))
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "fastwsgi", "serve", self.app,
               "--error-log", self.log_path]
        if "--uwsgi-socket" not in self.args:
            cmd += ["--uwsgi-socket", self.socket_path]
        return cmd + self.args

    def start(self, wait: bool = True) -> FastWSGI:
        self.proc = subprocess.Popen(self.command(), cwd=self.tmpdir, env=self.env,
                                     stdin=subprocess.DEVNULL,
                                     stdout=open(os.path.join(self.tmpdir, "stdout.log"), "wb"),
                                     stderr=open(os.path.join(self.tmpdir, "stderr.log"), "wb"),
                                     start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Ready = the socket exists and every daemon logged that it is ready."""
        wait_for(lambda: self.proc.poll() is None or self._died(), timeout, "supervisor")
        wait_for(lambda: can_connect(self.socket_path) or self._died(), timeout,
                 f"socket {self.socket_path}")
        wait_for(lambda: "ready" in self.log() or self._died(), timeout, "daemon ready")
        self._died()

    def wait_exit(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def __enter__(self) -> FastWSGI:
        # __exit__ does not run when __enter__ raises: a server that failed to
        # become ready must not outlive the test.
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise
