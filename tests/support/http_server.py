"""Run `fastwsgi serve APP --bind ...` as a real subprocess, for HTTP tests.

The supervisor binds the listeners itself (port 0 gets a free port), so the
real addresses are read back from its error log line
"Daemon group 'X' serving HTTP on http://HOST:PORT." (or unix:PATH).
"""

from __future__ import annotations

import os
import re
import socket
import sys
import uuid
from pathlib import Path

from tests.support.server import FastWSGI
from tests.support.waiting import wait_for

SERVING = re.compile(r"Daemon group '[^']*' serving HTTP on (http://(?:\[([^\]]+)\]|([^:/]+)):(\d+)"
                     r"|unix:(\S+?))\.$", re.M)
DATE_LINE = re.compile(rb"\r\nDate: [^\r]*\r\n")


class HttpServer(FastWSGI):
    """A FastWSGI subprocess that serves HTTP itself on one or more --bind addresses."""

    def __init__(self, app: str, *args: str, binds: tuple[str, ...] = ("127.0.0.1:0",),
                 **kw: object) -> None:
        flags: list[str] = []
        for spec in binds:
            flags += ["--bind", spec]
        super().__init__(app, *flags, *args, **kw)  # type: ignore[arg-type]
        #: tests/apps/http_echo.py notes every call here (FW_RECORD).
        self.record = os.path.join(self.tmpdir, "calls")
        self.env["FW_RECORD"] = self.record
        #: (family, address) per listener, in --bind order, once ready.
        self.addresses: list[tuple[int, object]] = []

    def command(self) -> list[str]:
        """As FastWSGI's, but never with an --uwsgi-socket (it excludes --bind)."""
        return [sys.executable, "-m", "fastwsgi", "serve", self.app,
                "--error-log", self.log_path] + self.args

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Ready = every daemon logged readiness; then read the bound addresses."""
        assert self.proc is not None
        wait_for(lambda: "is ready" in self.log() or self.proc.poll() is not None, timeout,
                 "daemon group ready")
        self._died()  # fail at once, with the log, if the supervisor exited
        self.addresses = []
        for m in SERVING.finditer(self.log()):
            if m.group(5):
                self.addresses.append((socket.AF_UNIX, m.group(5)))
            elif m.group(2):
                self.addresses.append((socket.AF_INET6, (m.group(2), int(m.group(4)))))
            else:
                self.addresses.append((socket.AF_INET, (m.group(3), int(m.group(4)))))
        assert self.addresses, f"no 'serving HTTP on' line in the log:\n{self.log()}"

    def calls(self) -> list[str]:
        """The requests http_echo was called for, as "METHOD PATH?QUERY"."""
        try:
            return Path(self.record).read_text().splitlines()
        except FileNotFoundError:
            return []

    def refused(self) -> list[str]:
        """The "Refused a request with ..." lines of the error log."""
        return [line for line in self.log().splitlines() if "Refused a request" in line]

    @property
    def port(self) -> int:
        """The TCP port of the first listener."""
        return self.addresses[0][1][1]  # type: ignore[index]

    def connect(self, index: int = 0, timeout: float = 10.0) -> socket.socket:
        """A connected client socket to listener `index`, with a read/write timeout."""
        family, address = self.addresses[index]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address)  # type: ignore[arg-type]
        except BaseException:
            sock.close()
            raise
        return sock

    def __enter__(self) -> HttpServer:
        super().__enter__()  # stops the server if it fails to become ready
        return self


class Response:
    """One parsed HTTP response: status, headers in order, the body and the raw bytes."""

    def __init__(self, version: str, status: int, reason: str,
                 headers: list[tuple[str, str]], body: bytes, raw: bytes) -> None:
        self.version, self.status, self.reason = version, status, reason
        self.headers, self.body, self.raw = headers, body, raw

    def all(self, name: str) -> list[str]:
        """Every value of a header (case-insensitive name)."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        """The value of a header given at most once (None when absent)."""
        values = self.all(name)
        assert len(values) <= 1, f"{name} given {len(values)} times: {self.headers}"
        return values[0] if values else None

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.raw[:300]!r}>"


class Reader:
    """Reads responses off a client socket, keeping bytes that belong to the next one."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError(f"connection closed; unread: {self.buf[:200]!r}")
        self.buf += data

    def until(self, sep: bytes) -> bytes:
        """Bytes up to and including sep."""
        while sep not in self.buf:
            self._fill()
        end = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self) -> bytes:
        """Everything until the server closes the connection."""
        while True:
            try:
                self._fill()
            except EOFError:
                out, self.buf = self.buf, b""
                return out

    def closed(self) -> bool:
        """True once the server closed (waits at most the socket timeout); data fails."""
        assert not self.buf, f"unexpected bytes before the close: {self.buf[:200]!r}"
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        assert not data, f"unexpected bytes instead of a close: {data[:200]!r}"
        return True

    def chunked_body(self) -> tuple[bytes, bytes]:
        """(de-chunked body, raw chunked bytes) of a complete chunked body."""
        raw = body = b""
        while True:
            line = self.until(b"\r\n")
            raw += line
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while True:
                    trailer = self.until(b"\r\n")
                    raw += trailer
                    if trailer == b"\r\n":
                        return body, raw
            data = self.exact(size + 2)
            assert data.endswith(b"\r\n"), data
            raw += data
            body += data[:-2]

    def response(self, method: str = "GET") -> Response:
        """The next response; 1xx interim responses are returned like any other."""
        head = self.until(b"\r\n\r\n")
        lines = head[:-4].decode("latin-1").split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name, value.strip()))
        code = int(status)
        response = Response(version, code, reason, headers, b"", head)
        if method == "HEAD" or code < 200 or code in (204, 304):
            return response
        te = response.header("Transfer-Encoding")
        length = response.header("Content-Length")
        if te is not None:
            assert te == "chunked", te
            response.body, raw = self.chunked_body()
        elif length is not None:
            response.body = raw = self.exact(int(length))
        else:
            response.body = raw = self.rest()
        response.raw += raw
        return response


def exchange(server: HttpServer, data: bytes, method: str = "GET", index: int = 0) -> Response:
    """Send data on a new connection and read one response."""
    with server.connect(index) as sock:
        sock.sendall(data)
        return Reader(sock).response(method)


def get(path: str, extra: str = "", version: str = "1.1") -> bytes:
    """A GET request head (with Host on HTTP/1.1) plus extra header lines."""
    host = "Host: t\r\n" if version == "1.1" else ""
    return f"GET {path} HTTP/{version}\r\n{host}{extra}\r\n".encode()


def post(path: str, body: bytes, extra: str = "") -> bytes:
    """A POST request with a Content-Length body, plus extra header lines."""
    return (f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
            .encode() + body)


def no_date(raw: bytes) -> bytes:
    """The raw response with its Date value blanked, for exact comparisons."""
    return DATE_LINE.sub(b"\r\nDate: *\r\n", raw)


def tag() -> str:
    """A unique path component, to find one test's calls in a shared record."""
    return uuid.uuid4().hex[:12]
