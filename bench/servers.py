"""The servers under test, each one started the same way: fresh, on a free port.

A Server knows whether it can run here (and if not, why and how to install
it), the command that serves bench/apps/benchapp.py with 2 processes x 15
threads on 127.0.0.1:PORT, and its version. `start()` gives a Running server
that has answered GET / correctly; `Running.stop()` ends its process group and
removes its temp dir.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.process import Proc, StartError, free_port, wait_http
from bench.scenarios import HELLO

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "bench" / "apps"
APP_MODULE = "benchapp"
APP_FILE = APPS / f"{APP_MODULE}.py"
PROCESSES = 2
THREADS = 15
#: Error-log phrases that mean "the port was taken between probe and bind".
BIND_ERRORS = ("Address already in use", "could not bind", "address in use")
START_ATTEMPTS = 3


def python_env() -> dict[str, str]:
    """The environment for Python servers: this checkout first on sys.path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def first_line(argv: list[str], env: dict[str, str] | None = None) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (out.stdout + out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


class Running:
    """A started server: its port, process group and temp dir."""

    def __init__(self, server: Server, port: int, proc: Proc, workdir: str) -> None:
        self.server = server
        self.port = port
        self.proc = proc
        self.workdir = workdir

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        try:
            self.proc.stop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


class Server:
    """Base class: a WSGI server run as a subprocess on 127.0.0.1:PORT."""

    name = ""
    #: "fastwsgi" rows are compared against "peer" rows.
    role = "peer"
    install_hint = ""
    start_timeout = 30.0

    def unavailable(self) -> str | None:
        """Why this server cannot run here, or None when it can."""
        return None

    def version(self) -> str:
        return "unknown"

    def command(self, port: int, workdir: str) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return python_env()

    def prepare(self, port: int, workdir: str) -> None:
        """Write whatever files the command needs (configuration)."""

    def describe(self) -> str:
        """The command line, for the report (with placeholders)."""
        words = ["$PORT" if w == "0" else w.replace("127.0.0.1:0", "127.0.0.1:$PORT")
                 for w in self.command(0, "$TMP")]
        return " ".join(words)

    def start(self) -> Running:
        """Start fresh on a free port; retry if another process took the port."""
        for attempt in range(START_ATTEMPTS):
            workdir = tempfile.mkdtemp(prefix=f"fwb-{self.name}-", dir="/tmp")
            port = free_port()
            self.prepare(port, workdir)
            proc = Proc(self.command(port, workdir), cwd=workdir, env=self.env(),
                        log_path=os.path.join(workdir, "server.log"))
            running = Running(self, port, proc, workdir)
            proc.start()
            try:
                wait_http(proc, port, "/", HELLO, self.start_timeout)
                return running
            except StartError as exc:
                extra = self.extra_log(workdir)
                log = proc.log_tail(50) + extra
                running.stop()
                if attempt + 1 < START_ATTEMPTS and any(e in log for e in BIND_ERRORS):
                    continue
                raise StartError(f"{exc}" + (f"\n{extra}" if extra else "")) from None
        raise AssertionError("unreachable")

    def extra_log(self, workdir: str) -> str:
        return ""


class FastWSGI(Server):
    """`fastwsgi serve APP --bind 127.0.0.1:PORT` (one hop: the daemons speak HTTP)."""

    name = "fastwsgi"
    role = "fastwsgi"
    install_hint = "make compile (the HTTP engine: `fastwsgi serve --bind`)"
    #: Flags that must appear in `fastwsgi serve --help` before this row can run.
    required_flags = ("--bind",)
    extra_flags: tuple[str, ...] = ()

    def unavailable(self) -> str | None:
        argv = [sys.executable, "-m", "fastwsgi", "serve", "--help"]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                                 env=python_env(), cwd=str(ROOT))
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"`fastwsgi serve --help` failed: {exc}"
        if out.returncode != 0:
            tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"`fastwsgi serve --help` exited {out.returncode}: {tail[0]}"
        missing = [f for f in self.required_flags if f not in out.stdout]
        if missing:
            return (f"`fastwsgi serve` lacks {', '.join(missing)} "
                    "(HTTP engine not merged yet)")
        return None

    def version(self) -> str:
        return first_line([sys.executable, "-m", "fastwsgi", "--version"], python_env())

    def command(self, port: int, workdir: str) -> list[str]:
        return [sys.executable, "-m", "fastwsgi", "serve", str(APP_FILE),
                "--bind", f"127.0.0.1:{port}", *self.extra_flags,
                "--processes", str(PROCESSES), "--threads", str(THREADS),
                "--log-level", "warn"]


class FastWSGIRouter(FastWSGI):
    """`fastwsgi serve --router`: HTTP front-end relaying to the group's UNIX socket."""

    name = "fastwsgi-router"
    install_hint = "make compile (the router: `fastwsgi serve --router`)"
    required_flags = ("--bind", "--router")
    extra_flags = ("--router",)


class Gunicorn(Server):
    """gunicorn's gthread worker: 2 workers x 15 threads, default keep-alive."""

    name = "gunicorn"
    install_hint = "python3 -m pip install gunicorn"

    def unavailable(self) -> str | None:
        return None if has_module("gunicorn") else "gunicorn is not installed"

    def version(self) -> str:
        return first_line([sys.executable, "-m", "gunicorn", "--version"])

    def command(self, port: int, workdir: str) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "--worker-class", "gthread",
                "--workers", str(PROCESSES), "--threads", str(THREADS),
                "--bind", f"127.0.0.1:{port}", "--chdir", str(APPS),
                "--log-level", "warning", f"{APP_MODULE}:application"]


class Granian(Server):
    """granian's WSGI interface: 2 workers, 15 blocking threads each (like for like).

    granian's README advises leaving --blocking-threads alone (threads are
    spawned on demand up to it) and says few threads often do better for fast
    apps; `--granian-blocking-threads 0` in bench/e2e.py runs its default.
    """

    name = "granian"
    install_hint = "python3 -m pip install granian"

    def __init__(self, blocking_threads: int = THREADS) -> None:
        self.blocking_threads = blocking_threads

    def unavailable(self) -> str | None:
        return None if has_module("granian") else "granian is not installed"

    def version(self) -> str:
        return first_line([sys.executable, "-m", "granian", "--version"])

    def command(self, port: int, workdir: str) -> list[str]:
        cmd = [sys.executable, "-m", "granian", "--interface", "wsgi",
               "--workers", str(PROCESSES), "--host", "127.0.0.1", "--port", str(port),
               "--working-dir", str(APPS), "--no-ws", "--log-level", "warning"]
        if self.blocking_threads:
            cmd += ["--blocking-threads", str(self.blocking_threads)]
        return cmd + [f"{APP_MODULE}:application"]
