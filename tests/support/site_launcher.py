"""Run a Site built in Python, as ``fastwsgi run -f`` runs a parsed one.

Tests describe a site in JSON (no configuration parser involved) and start
``python -m tests.support.site_launcher SPEC.json``; the launcher builds the
fastwsgi.site.Site and calls fastwsgi.runsite.run_site, the very function
``fastwsgi run`` calls after load_site(). SiteServer runs it as a subprocess
in its own session and tears it down by process group.

Spec keys: groups: [{name, options: {name: value}, error_log, apps:
[[script, application group, callable]], imports: [[script, group]]}],
user, socket_prefix, python_path, error_log, log_level, listens,
router_processes (default 0: the groups are reached on their sockets).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from fastwsgi.config import GroupConfig, HttpConfig, parse_options
from fastwsgi.site import DaemonGroup, Site, VirtualHost
from tests.support.procs import ServerProcess
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def build_site(spec: dict[str, Any]) -> Site:
    """A Site from the JSON spec described above."""
    groups = []
    for g in spec.get("groups", []):
        values = parse_options(f"{k}={v}" for k, v in g.get("options", {}).items())
        groups.append(DaemonGroup(
            config=GroupConfig(name=g["name"], app="", values=values),
            server_name=g.get("server_name"), error_log=g.get("error_log"),
            source="test:1", apps=[tuple(a) for a in g.get("apps", [])],
            imports=[tuple(i) for i in g.get("imports", [])]))
    return Site(listens=list(spec.get("listens", [])),
                main=VirtualHost(addresses=[], server_name=None, server_port=None, aliases=[]),
                vhosts=[], groups=groups, http=HttpConfig(), user=spec.get("user"),
                error_log=spec.get("error_log"), log_level=spec.get("log_level", "info"),
                socket_prefix=spec.get("socket_prefix", ""),
                python_path=list(spec.get("python_path", [])))


def main(argv: list[str]) -> int:
    from fastwsgi.runsite import run_site
    spec = json.loads(Path(argv[0]).read_text())
    return run_site(build_site(spec), router_processes=spec.get("router_processes", 0))


class SiteServer(ServerProcess):
    """The launcher as a subprocess; log() is the server's error log."""

    what = "launcher"

    def __init__(self, spec: dict[str, Any], tmpdir: str) -> None:
        self.spec = dict(spec)
        self.tmpdir = tmpdir
        self.log_path = self.spec.setdefault("error_log", os.path.join(tmpdir, "server.log"))
        self.spec_path = os.path.join(tmpdir, "site.json")
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        Path(self.spec_path).write_text(json.dumps(self.spec))
        return [sys.executable, "-m", "tests.support.site_launcher", self.spec_path]

    def run_to_end(self, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run the launcher expecting it to exit by itself (a refusal to start)."""
        return subprocess.run(self.command(), cwd=self.tmpdir, capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=timeout,
                              start_new_session=True)

    def start(self) -> SiteServer:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            self.command(), cwd=self.tmpdir, env=env, stdin=subprocess.DEVNULL,
            stdout=open(os.path.join(self.tmpdir, "stdout.log"), "wb"),
            stderr=open(os.path.join(self.tmpdir, "stderr.log"), "wb"),
            start_new_session=True)
        for g in self.spec.get("groups", []):
            self.wait_log(f"Daemon group '{g['name']}' is ready")
        return self

    def wait_log(self, text: str, timeout: float = 20.0) -> None:
        wait_for(lambda: text in self.log() or self._died(), timeout, repr(text))

    def socket_path(self, group: str) -> str:
        """The group's socket, as the supervisor logged it."""
        found = re.findall(rf"Daemon group '{re.escape(group)}' listening on unix:(\S+)\.$",
                           self.log(), re.M)
        assert found, f"no socket logged for {group}:\n{self.log()}"
        return found[-1]

    def pids(self, group: str) -> list[int]:
        """Pids of the group's daemon processes that are alive now."""
        started = re.findall(rf"Starting daemon process '{re.escape(group)}' \(pid=(\d+)\)",
                             self.log())
        return [int(p) for p in started if Path(f"/proc/{p}").exists()
                and _ppid(int(p)) == self.pid]

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid



def _ppid(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return -1
    return int(re.search(r"^PPid:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
