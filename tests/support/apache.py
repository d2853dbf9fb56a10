"""Run a real Apache httpd (Debian's apache2) with a private config, for tests.

The server lives entirely in a temp dir (ServerRoot, logs, pid file, mutexes,
runtime dir); only the binary and the modules come from the system. It listens
on 127.0.0.1 at a port found by binding port 0, and the start is retried with a
new port if another process took that port in between.

When the tests run as root, Apache's children run as www-data: anything they
must reach (a fastwsgi socket and every directory above it) has to be
traversable and connectable by that user; see `prepare_socket_dir`.
"""

from __future__ import annotations

import http.client
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fastwsgi.benchtool.apache import APACHE_BIN, MODULES_DIR, RUN_USER, running_as_root
from fastwsgi.benchtool.process import free_port
from tests.support.procs import stop_process_group
from tests.support.waiting import wait_for

#: Loaded in this order; everything else Apache needs here is compiled in
#: (core, http_core, so, unixd, log_config, logio, watchdog, version).
MODULES = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_uwsgi_module", "mod_proxy_uwsgi.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
]
#: Path Apache serves itself (a static file) to prove a child is accepting.
READY_PATH = "/__apache_ready__.txt"
#: Error-log phrases that mean "the port was taken between probe and bind".
BIND_ERRORS = ("Address already in use", "could not bind")


def apache_available() -> bool:
    return os.access(APACHE_BIN, os.X_OK)


def prepare_socket_dir(path: str) -> None:
    """Let Apache's www-data children traverse a temp dir to reach a socket in it."""
    if running_as_root():
        os.chmod(path, 0o711)


class Apache:
    """An `apache2 -DFOREGROUND` subprocess in its own session, with a private config."""

    def __init__(self, extra_config: str = "", *, loglevel: str = "info proxy:debug",
                 start_retries: int = 5) -> None:
        self.root = tempfile.mkdtemp(prefix="ap", dir="/tmp")
        self.extra_config = extra_config
        self.loglevel = loglevel
        self.start_retries = start_retries
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf_path = os.path.join(self.root, "httpd.conf")
        self.error_log_path = os.path.join(self.root, "error.log")
        self.access_log_path = os.path.join(self.root, "access.log")
        self.stderr_path = os.path.join(self.root, "stderr.log")
        self.htdocs = os.path.join(self.root, "htdocs")

    # -- configuration -------------------------------------------------------

    def config_text(self) -> str:
        root = self.root
        lines = [f'ServerRoot "{root}"',
                 f'PidFile "{root}/httpd.pid"',
                 f'DefaultRuntimeDir "{root}/run"',
                 f"Mutex file:{root}/run default",
                 f'ErrorLog "{root}/error.log"',
                 f"LogLevel {self.loglevel}",
                 'LogFormat "%h \\"%r\\" %>s %b %D us pid=%P" e2e',
                 f'CustomLog "{root}/access.log" e2e',
                 "ServerName localhost",
                 f"Listen 127.0.0.1:{self.port}",
                 f'DocumentRoot "{self.htdocs}"',
                 # Few processes: a test server, not a production one.
                 "StartServers 1",
                 "ServerLimit 2",
                 "ThreadsPerChild 16",
                 "MaxRequestWorkers 32",
                 "MinSpareThreads 8",
                 "MaxSpareThreads 32",
                 "Timeout 60",
                 "KeepAliveTimeout 30"]
        lines[0:0] = [f'LoadModule {name} "{MODULES_DIR}/{so}"' for name, so in MODULES]
        if running_as_root():
            lines += [f"User {RUN_USER}", f"Group {RUN_USER}"]
        # The readiness probe is served by Apache itself, never proxied; this
        # exclusion must precede any ProxyPass the extra config adds.
        lines += [f"ProxyPass {READY_PATH} !", "", self.extra_config, ""]
        return "\n".join(lines)

    def _write_files(self) -> None:
        os.makedirs(os.path.join(self.root, "run"), exist_ok=True)
        os.makedirs(self.htdocs, exist_ok=True)
        Path(self.htdocs, READY_PATH.lstrip("/")).write_text("ready\n")
        Path(self.conf_path).write_text(self.config_text())
        if running_as_root():
            # Children (www-data) read htdocs; the parent (root) owns the rest.
            os.chmod(self.root, 0o711)
            os.chmod(self.htdocs, 0o755)
            uid = pwd.getpwnam(RUN_USER).pw_uid
            os.chown(os.path.join(self.root, "run"), uid, -1)

    # -- lifecycle -------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> Apache:
        """Start and wait until a child answers HTTP; retry on a lost port race."""
        for attempt in range(self.start_retries):
            self.port = free_port()
            self._write_files()
            for path in (self.error_log_path, self.stderr_path):
                if os.path.exists(path):
                    os.unlink(path)
            self._spawn()
            try:
                self.wait_ready(timeout)
                return self
            except ApacheExited:
                logs = self.error_log() + self.stderr()
                if attempt + 1 < self.start_retries and any(e in logs for e in BIND_ERRORS):
                    self.stop()
                    continue
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [APACHE_BIN, "-f", self.conf_path, "-DFOREGROUND"],
                cwd=self.root, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                start_new_session=True)

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Poll until Apache serves READY_PATH; fail at once if the parent exits."""
        # The predicate never raises for a dead server (wait_for would keep
        # polling); it reports "done" and the check afterwards says why.
        wait_for(lambda: self._exited() or self._answers(), timeout,
                 f"apache on 127.0.0.1:{self.port}")
        self._check_alive()

    def _exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", READY_PATH)
            resp = conn.getresponse()
            body = resp.read()
        except OSError:
            return False
        finally:
            conn.close()
        if resp.status == 200 and body == b"ready\n":
            return True
        raise AssertionError(f"apache readiness probe got {resp.status} {body[:200]!r}")

    def _check_alive(self) -> None:
        if self._exited():
            assert self.proc is not None
            raise ApacheExited(f"apache exited with {self.proc.returncode}\n"
                               f"--- error.log ---\n{self.error_log()}"
                               f"--- stderr ---\n{self.stderr()}"
                               f"--- config ---\n{self.config_text()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the process group; SIGKILL the group if it outlives timeout."""
        stop_process_group(self.proc, timeout, term_group=True)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- inspection --------------------------------------------------------------

    def error_log(self) -> str:
        return _read(self.error_log_path)

    def access_log(self) -> str:
        return _read(self.access_log_path)

    def stderr(self) -> str:
        return _read(self.stderr_path)

    def connection(self, timeout: float = 30.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def __enter__(self) -> Apache:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ApacheExited(AssertionError):
    """Apache's parent process exited while it was expected to serve."""


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def require_apache() -> None:
    if not apache_available():
        pytest.skip(f"{APACHE_BIN} not installed (Debian package apache2)")


@pytest.fixture(scope="module")
def apache_factory() -> Iterator[Callable[..., Apache]]:
    """Factory: apache_factory(extra_config) starts an Apache; all stop after the module."""
    require_apache()
    started: list[Apache] = []

    def start(extra_config: str = "", **kw: object) -> Apache:
        server = Apache(extra_config, **kw)  # type: ignore[arg-type]
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.cleanup()
