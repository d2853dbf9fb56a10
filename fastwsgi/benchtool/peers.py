"""The servers the harness runs: fastwsgi itself and its peers, each started fresh.

A Server is built for one Target (the application and the processes x threads
and buffer sizes to run it with). It knows whether it can run here (and if
not, why and the command that installs it), the command line that serves the
target on 127.0.0.1:PORT, and its version. `start(probe)` gives a Running
server that has answered the probe request correctly; `Running.stop()` ends
its process group and removes its temp dir.

Peers other than mod_wsgi load the application through a small generated
module (fwb_app.py in the server's temp dir), so a `.wsgi` script or a
`module:callable` serves the same way under every server.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import fastwsgi
from fastwsgi.appload import is_script
from fastwsgi.benchtool.process import Proc, StartError, wait_http

#: The directory that holds the fastwsgi package the harness runs (a checkout
#: or site-packages): first on the servers' PYTHONPATH so they run the same code.
PACKAGE_PARENT = str(Path(fastwsgi.__file__).resolve().parents[1])
#: Error-log phrases that mean "the port was taken between probe and bind".
BIND_ERRORS = ("Address already in use", "could not bind", "address in use")
START_ATTEMPTS = 3
SHIM_MODULE = "fwb_app"


@dataclass(frozen=True)
class Probe:
    """The request measured, and what a correct answer is (expect None: any 2xx)."""

    method: str = "GET"
    path: str = "/"
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    expect: bytes | None = None


@dataclass(frozen=True)
class Target:
    """What to serve and how: the application, processes x threads, buffer sizes."""

    app: str
    processes: int
    threads: int
    receive_buffer_size: int = 0
    send_buffer_size: int = 0
    #: Where a `module:callable` application is imported from.
    cwd: str = field(default_factory=os.getcwd)
    #: Extra `fastwsgi serve` flags (e.g. ("--router",)).
    extra_flags: tuple[str, ...] = ()


def python_env(cwd: str | None = None) -> dict[str, str]:
    """The environment for Python servers: this fastwsgi, then the app's directory."""
    env = dict(os.environ)
    parts = [PACKAGE_PARENT] + ([cwd] if cwd else [])
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def first_line(argv: list[str], env: dict[str, str] | None = None) -> str:
    """The first line a command prints (a version), or why it could not run."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (out.stdout + out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


#: Applications written for mod_wsgi (and fastwsgi) may read these keys; the
#: other peers do not set them, so the shim does (two dict writes a request).
MOD_WSGI_KEYS = """
def application(environ, start_response):
    environ.setdefault("mod_wsgi.process_group", "")
    environ.setdefault("mod_wsgi.application_group", "")
    return _app(environ, start_response)
"""


def shim_source(app: str, cwd: str) -> str:
    """fwb_app.py: exposes `application` from a script path or a module:callable."""
    if is_script(app):
        path, _, name = app.partition("::")
        path = os.path.join(cwd, path)
        return ("import importlib.machinery, importlib.util\n"
                f"_loader = importlib.machinery.SourceFileLoader('fwb_target', {path!r})\n"
                "_spec = importlib.util.spec_from_loader('fwb_target', _loader)\n"
                "_mod = importlib.util.module_from_spec(_spec)\n"
                "_loader.exec_module(_mod)\n"
                f"_app = getattr(_mod, {name or 'application'!r})\n" + MOD_WSGI_KEYS)
    module, _, name = app.partition(":")
    return (f"import importlib\n_app = getattr(importlib.import_module({module!r}), "
            f"{name or 'application'!r})\n" + MOD_WSGI_KEYS)


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

    @property
    def pgid(self) -> int | None:
        """The process group of every process of the server (its session leader's pid)."""
        return self.proc.popen.pid if self.proc.popen is not None else None

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
    #: Whether the server takes receive/send buffer sizes like WSGIDaemonProcess.
    has_buffer_options = False

    def __init__(self, target: Target) -> None:
        self.target = target

    def unavailable(self) -> str | None:
        """Why this server cannot run here at all, or None when it can."""
        return None

    def unsupported(self) -> str | None:
        """Why this server cannot run this target's settings, or None."""
        return None

    def version(self) -> str:
        return "unknown"

    def command(self, port: int, workdir: str) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return python_env(self.target.cwd)

    def prepare(self, port: int, workdir: str) -> None:
        """Write whatever files the command needs (the app shim, a configuration)."""
        Path(workdir, f"{SHIM_MODULE}.py").write_text(shim_source(self.target.app,
                                                                  self.target.cwd))

    def describe(self) -> str:
        """The command line, for the report (with placeholders)."""
        words = ["$PORT" if w == "0" else w.replace("127.0.0.1:0", "127.0.0.1:$PORT")
                 for w in self.command(0, "$TMP")]
        return " ".join(words)

    def start(self, probe: Probe) -> Running:
        """Start fresh on a free port, answering probe; retry if the port was taken."""
        from fastwsgi.benchtool.process import free_port
        for attempt in range(START_ATTEMPTS):
            workdir = tempfile.mkdtemp(prefix=f"fwb-{self.name}-")
            port = free_port()
            self.prepare(port, workdir)
            proc = Proc(self.command(port, workdir), cwd=workdir, env=self.env(),
                        log_path=os.path.join(workdir, "server.log"))
            running = Running(self, port, proc, workdir)
            proc.start()
            try:
                wait_http(proc, port, probe.path, probe.expect, self.start_timeout,
                          probe.method, probe.body or None, probe.headers)
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
    install_hint = "pip install fastwsgi"
    has_buffer_options = True
    #: `fastwsgi serve` flags that make the variant (the router's --router).
    mode_flags: tuple[str, ...] = ()

    def version(self) -> str:
        return f"fastwsgi {fastwsgi.__version__}"

    def prepare(self, port: int, workdir: str) -> None:
        """Nothing to write: fastwsgi loads the application itself."""

    def serve_flags(self) -> list[str]:
        """The `fastwsgi serve` flags of this target (also the recommendation)."""
        t = self.target
        flags = ["--processes", str(t.processes), "--threads", str(t.threads)]
        if t.receive_buffer_size:
            flags += ["--receive-buffer-size", str(t.receive_buffer_size)]
        if t.send_buffer_size:
            flags += ["--send-buffer-size", str(t.send_buffer_size)]
        return flags

    def command(self, port: int, workdir: str) -> list[str]:
        app = self.target.app
        if is_script(app):
            path, sep, name = app.partition("::")
            app = os.path.join(self.target.cwd, path) + sep + name
        return [sys.executable, "-m", "fastwsgi", "serve", app,
                "--bind", f"127.0.0.1:{port}", *self.mode_flags, *self.target.extra_flags,
                *self.serve_flags(), "--log-level", "warn"]


class FastWSGIRouter(FastWSGI):
    """`fastwsgi serve --router`: HTTP front-end relaying to the group's UNIX socket."""

    name = "fastwsgi-router"

    mode_flags: tuple[str, ...] = ("--router",)


class Gunicorn(Server):
    """gunicorn's gthread worker: processes as workers, threads per worker."""

    name = "gunicorn"
    install_hint = "python3 -m pip install gunicorn"

    def unavailable(self) -> str | None:
        return None if has_module("gunicorn") else "gunicorn is not installed"

    def version(self) -> str:
        return first_line([sys.executable, "-m", "gunicorn", "--version"])

    def command(self, port: int, workdir: str) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "--worker-class", "gthread",
                "--workers", str(self.target.processes), "--threads", str(self.target.threads),
                "--bind", f"127.0.0.1:{port}", "--chdir", workdir,
                "--log-level", "warning", f"{SHIM_MODULE}:application"]


class Granian(Server):
    """granian's WSGI interface: processes as workers, threads as blocking threads.

    granian's README advises leaving --blocking-threads alone (threads are
    spawned on demand up to it); here it is set like for like with the others.
    """

    name = "granian"
    install_hint = "python3 -m pip install granian"

    def unavailable(self) -> str | None:
        return None if has_module("granian") else "granian is not installed"

    def version(self) -> str:
        return first_line([sys.executable, "-m", "granian", "--version"])

    def command(self, port: int, workdir: str) -> list[str]:
        return [sys.executable, "-m", "granian", "--interface", "wsgi",
                "--workers", str(self.target.processes), "--host", "127.0.0.1",
                "--port", str(port), "--working-dir", workdir, "--no-ws",
                "--log-level", "warning",
                # threads=0: granian's own default (the e2e table's option).
                *(["--blocking-threads", str(self.target.threads)] if self.target.threads
                  else []), f"{SHIM_MODULE}:application"]


class Waitress(Server):
    """waitress: one process, `threads` threads (it has no multi-process mode)."""

    name = "waitress"
    install_hint = "python3 -m pip install waitress"

    def unavailable(self) -> str | None:
        return None if has_module("waitress") else "waitress is not installed"

    def unsupported(self) -> str | None:
        if self.target.processes != 1:
            return "waitress serves from one process only"
        return None

    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version
        try:
            return f"waitress {version('waitress')}"
        except PackageNotFoundError:
            return "unknown"

    def command(self, port: int, workdir: str) -> list[str]:
        return [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}",
                f"--threads={self.target.threads}", f"{SHIM_MODULE}:application"]


class UWSGI(Server):
    """uWSGI with --http11-socket: the workers speak HTTP/1.1 with keep-alive (one hop)."""

    name = "uwsgi"
    install_hint = "python3 -m pip install uwsgi"

    def binary(self) -> str | None:
        return shutil.which("uwsgi")

    def unavailable(self) -> str | None:
        return None if self.binary() else "uwsgi is not installed (not on PATH)"

    def version(self) -> str:
        return "uwsgi " + first_line([self.binary() or "uwsgi", "--version"])

    def command(self, port: int, workdir: str) -> list[str]:
        cmd = [self.binary() or "uwsgi", "--http11-socket", f"127.0.0.1:{port}",
               "--master", "--processes", str(self.target.processes),
               "--threads", str(self.target.threads), "--enable-threads",
               "--chdir", workdir, "--wsgi-file", f"{workdir}/{SHIM_MODULE}.py",
               "--need-app", "--disable-logging", "--die-on-term"]
        return cmd


def peer_classes() -> dict[str, type[Server]]:
    """Every peer `--compare` knows, by name."""
    from fastwsgi.benchtool.apache import ModWSGI
    return {"gunicorn": Gunicorn, "uwsgi": UWSGI, "waitress": Waitress,
            "mod_wsgi": ModWSGI, "granian": Granian}
