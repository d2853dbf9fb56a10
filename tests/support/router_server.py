"""Run `fastwsgi serve APP --bind 127.0.0.1:0 --router` as a real subprocess."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from tests.support.http_server import HttpServer
from tests.support.waiting import wait_for

ROUTER_SERVING = re.compile(r"Router for daemon group '[^']*' serving HTTP on "
                            r"(?:http://([^:/]+):(\d+)|unix:(\S+?))\.$", re.M)
GROUP_SOCKET = re.compile(r"Daemon group '[^']*' listening on unix:(\S+)\.$", re.M)


class RouterServer(HttpServer):
    """A group behind router processes; the group socket is private (a temp dir)."""

    def __init__(self, app: str, *args: str, **kw: object) -> None:
        super().__init__(app, "--router", *args, **kw)  # type: ignore[arg-type]
        self.pids_dir = os.path.join(self.tmpdir, "pids")
        os.mkdir(self.pids_dir)
        self.env["FW_PIDS"] = self.pids_dir
        self.group_socket = ""

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Ready = the daemons and the router logged readiness."""
        assert self.proc is not None
        wait_for(lambda: self.log().count(" is ready: ") >= 2 or self.proc.poll() is not None,
                 timeout, "the group's and the router's ready lines")
        self._died()
        m = ROUTER_SERVING.search(self.log())
        assert m, self.log()
        self.addresses = [(socket.AF_UNIX, m.group(3)) if m.group(3)
                          else (socket.AF_INET, (m.group(1), int(m.group(2))))]
        g = GROUP_SOCKET.search(self.log())
        assert g, self.log()
        self.group_socket = g.group(1)

    def daemon_pid(self, tag: str, timeout: float = 10.0) -> int:
        """The pid an app call noted under tag (router_app.py's /hang, /partial)."""
        path = Path(self.pids_dir, tag)
        wait_for(path.exists, timeout, f"pid file {tag}")
        return int(path.read_text())

    def errors(self) -> list[str]:
        return [line for line in self.log().splitlines() if "[error]" in line]
