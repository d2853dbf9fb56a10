"""A minimal uwsgi client for tests: send a frame and body, read the response."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from fastwsgi._cext import encode_frame


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    raw: bytes = b""

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def parse_response(raw: bytes) -> Response:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError(f"no complete response head in {raw[:200]!r}")
    lines = head.split(b"\r\n")
    version, code, *reason = lines[0].split(b" ", 2)
    assert version in (b"HTTP/1.0", b"HTTP/1.1"), lines[0]
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
    return Response(int(code), (reason[0] if reason else b"").decode("latin-1"),
                    headers, body, raw)


def request(path: str, method: str = "GET", body: bytes = b"", query: str = "",
            headers: dict[str, str] | None = None, extra: dict[str, str] | None = None,
            timeout: float = 30.0, socket_path: str = "", stream: bool = False) -> Response:
    """One request over a uwsgi socket; the response ends when the daemon closes."""
    env = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
        "SCRIPT_NAME": "", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "5555",
        "HTTP_HOST": "localhost",
    }
    if stream:
        env["FASTWSGI_STREAM_BODY"] = "1"
    elif body or method in ("POST", "PUT"):
        env["CONTENT_LENGTH"] = str(len(body))
    for k, v in (headers or {}).items():
        env["HTTP_" + k.upper().replace("-", "_")] = v
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
