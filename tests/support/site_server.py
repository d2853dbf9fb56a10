"""Run `fastwsgi run -f site.conf` as a real subprocess, for end-to-end tests.

The configuration lives in a short temp dir that is also its ServerRoot, so
relative paths in it (logs/..., run/wsgi) land there. The directory is made
world-traversable because the daemon groups of a site run as other users and
must read their WSGI scripts and write their logs there.
"""

from __future__ import annotations

import ast
import http.client
import os
import pwd
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.procs import ServerProcess, proc_status, read_text
from tests.support.server import ROOT, short_tmpdir
from tests.support.waiting import wait_for

#: A WSGI script that answers with what the tests check: who ran it and how.
#: It writes a marker line to wsgi.errors so that error logs can be checked.
#: It imports nothing new (its body is a dict's repr): daemons running as
#: another user may be unable to read this Python's library directory.
SITE_APP = '''\
import os


def application(environ, start_response):
    marker = environ.get("HTTP_X_MARKER")
    if marker:
        environ["wsgi.errors"].write("marker %s\\n" % marker)
        environ["wsgi.errors"].flush()
    body = repr({
        "site": SITE,
        "pid": os.getpid(),
        "uid": os.getuid(),
        "process_group": environ.get("mod_wsgi.process_group"),
        "application_group": environ.get("mod_wsgi.application_group"),
        "script_name": environ["SCRIPT_NAME"],
        "path_info": environ["PATH_INFO"],
        "query": environ.get("QUERY_STRING", ""),
        "host": environ.get("HTTP_HOST"),
        "multiprocess": environ["wsgi.multiprocess"],
        "multithread": environ["wsgi.multithread"],
        "module_id": id(os),
    }).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


def write_app(directory: str | Path, name: str, site: str) -> str:
    """A copy of SITE_APP answering with "site": site; returns its path."""
    path = Path(directory, name)
    path.write_text(f"SITE = {site!r}\n" + SITE_APP)
    path.chmod(0o644)
    return str(path)


class SiteServer(ServerProcess):
    """A `fastwsgi run -f CONF` subprocess in its own session."""

    what = "fastwsgi run"
    stop_timeout = 20.0

    def __init__(self, conf_text: str, *args: str, tmpdir: str | None = None) -> None:
        self.tmpdir = tmpdir or short_tmpdir()
        os.chmod(self.tmpdir, 0o755)
        for sub in ("logs", "run"):
            os.makedirs(os.path.join(self.tmpdir, sub), exist_ok=True)
            os.chmod(os.path.join(self.tmpdir, sub), 0o777)
        self.conf_path = os.path.join(self.tmpdir, "site.conf")
        Path(self.conf_path).write_text(conf_text)
        self.log_path = os.path.join(self.tmpdir, "fastwsgi.log")
        self.stderr_path = os.path.join(self.tmpdir, "stderr.log")
        self.args = list(args)
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT)] + ([self.env["PYTHONPATH"]] if self.env.get("PYTHONPATH") else []))
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "fastwsgi", "run", "-f", self.conf_path,
                "--error-log", self.log_path] + self.args

    def start(self) -> SiteServer:
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.command(), cwd=self.tmpdir, env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         start_new_session=True)
        return self

    def wait_answers(self, port: int, host: str, path: str = "/", timeout: float = 30.0) -> None:
        """Poll until a GET with this Host answers 200; fail at once if fastwsgi exited."""
        def ready() -> bool:
            self._died()
            try:
                status, _ = self.request(port, path, host=host, timeout=2)
            except OSError:
                return False
            return status == 200
        wait_for(ready, timeout, f"{host}{path} on port {port}")

    def request(self, port: int, path: str, *, host: str, headers: dict[str, str] | None = None,
                timeout: float = 10.0) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Host": host, **(headers or {})})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def get_info(self, port: int, path: str, *, host: str, **kw: Any) -> dict[str, Any]:
        status, body = self.request(port, path, host=host, **kw)
        assert status == 200, (status, body[:500], self.log()[-3000:])
        return ast.literal_eval(body.decode())

    def file(self, relative: str) -> str:
        return read_text(os.path.join(self.tmpdir, relative))

    def __enter__(self) -> SiteServer:
        return self.start()


def proc_uid(pid: int) -> int:
    """The real uid of a process, from /proc."""
    return int(proc_status(pid, "Uid"))


def user_uid(name: str) -> int:
    return pwd.getpwnam(name).pw_uid
