"""A small uwsgi client: one request to a group socket, for people and tests.

``fastwsgi get SOCKET [PATH]`` uses it to let an operator talk to a group
without a front-end.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from fastwsgi._cext import encode_frame
from fastwsgi.protocol import STREAM_VAR


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    raw: bytes = b""

    def header(self, name: str) -> str | None:
        """The first header of that name (case-insensitive), or None."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def can_connect(path: str, timeout: float = 1.0) -> bool:
    """True if something accepts connections on the UNIX socket at path."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def parse_response(raw: bytes) -> Response:
    """Split a daemon's answer into status, headers and body."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError(f"no complete response head in {raw[:200]!r}")
    lines = head.split(b"\r\n")
    version, code, *reason = lines[0].split(b" ", 2)
    if version not in (b"HTTP/1.0", b"HTTP/1.1"):
        raise ValueError(f"not an HTTP status line: {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
    return Response(int(code), (reason[0] if reason else b"").decode("latin-1"),
                    headers, body, raw)


def request_environ(path: str, method: str = "GET", query: str = "",
                    headers: dict[str, str] | None = None) -> dict[str, str]:
    """The CGI variables a front-end would send for a simple request."""
    env = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
        "SCRIPT_NAME": "", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "0",
        "HTTP_HOST": "localhost",
    }
    for k, v in (headers or {}).items():
        env["HTTP_" + k.upper().replace("-", "_")] = v
    return env


def request(path: str, method: str = "GET", body: bytes = b"", query: str = "",
            headers: dict[str, str] | None = None, extra: dict[str, str] | None = None,
            timeout: float = 30.0, socket_path: str = "", stream: bool = False) -> Response:
    """One request over a uwsgi socket; the response ends when the daemon closes.

    stream=True sends the body without CONTENT_LENGTH, ended by a half-close.
    """
    env = request_environ(path, method, query, headers)
    if stream:
        env[STREAM_VAR] = "1"
    elif body or method in ("POST", "PUT", "PATCH"):
        env["CONTENT_LENGTH"] = str(len(body))
    env.update(extra or {})
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(socket_path)
        s.sendall(encode_frame(env) + body)
        if stream:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            data = s.recv(1 << 16)
            if not data:
                break
            chunks.append(data)
    finally:
        s.close()
    return parse_response(b"".join(chunks))
