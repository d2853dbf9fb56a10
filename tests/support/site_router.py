"""Router processes for a Site built in a test, as a real subprocess (site_launch.py)."""

from __future__ import annotations

import os
import pickle
import re
import socket
import sys
from pathlib import Path

from fastwsgi.site import Site
from tests.support.server import FastWSGI
from tests.support.waiting import wait_for

SERVING = re.compile(r"Router(?: for daemon group)? '[^']*' serving HTTP on "
                     r"http://(?:\[([^\]]+)\]|([^:/]+)):(\d+)\.$", re.M)
SITE_APPS = Path(__file__).resolve().parent / "site_apps"


class SiteRouter(FastWSGI):
    """`python -m tests.support.site_launch` for one Site; addresses read from its log."""

    def __init__(self, site: Site, threads: int = 4, processes: int = 1,
                 tmpdir: str | None = None) -> None:
        super().__init__("-", tmpdir=tmpdir)
        self.site_file = os.path.join(self.tmpdir, "site.pickle")
        with open(self.site_file, "wb") as f:
            pickle.dump((site, threads, processes), f)
        self.processes = processes
        self.addresses: list[tuple[int, tuple[str, int]]] = []

    def command(self) -> list[str]:
        return [sys.executable, "-m", "tests.support.site_launch", self.site_file,
                self.log_path]

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Ready = every router process logged readiness; then the bound addresses."""
        assert self.proc is not None
        wait_for(lambda: " is ready" in self.log()
                 or self.proc.poll() is not None, timeout, "router processes ready")
        self._died()
        self.addresses = []
        for m in SERVING.finditer(self.log()):
            if m.group(1):
                self.addresses.append((socket.AF_INET6, (m.group(1), int(m.group(3)))))
            else:
                self.addresses.append((socket.AF_INET, (m.group(2), int(m.group(3)))))
        assert self.addresses, self.log()

    def router_pids(self) -> list[int]:
        """Pids of the router processes (children of the supervisor)."""
        assert self.proc is not None
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()]

    def errors(self) -> list[str]:
        return [line for line in self.log().splitlines() if "[error]" in line]

    def request(self, path: str, host: str | None = "", index: int = 0,
                extra: bytes = b"", timeout: float = 10.0) -> tuple[int, bytes]:
        """One HTTP/1.0-style request (Connection: close): (status, body)."""
        family, address = self.addresses[index]
        head = f"GET {path} HTTP/1.1\r\n".encode()
        if host is not None:
            head += f"Host: {host or f'{address[0]}:{address[1]}'}\r\n".encode()
        head += extra + b"Connection: close\r\n\r\n"
        with socket.create_connection(address, timeout=timeout) as s:
            s.sendall(head)
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        raw = b"".join(chunks)
        status_line, _, rest = raw.partition(b"\r\n")
        _, _, body = rest.partition(b"\r\n\r\n")
        return int(status_line.split()[1]), body
