"""HTTP/1.1 on the daemon side: response framing and the per-request handler.

The event loop (cext/http_loop.pyx) reads and validates the request head
without the GIL and calls HttpHandler once per request with the CGI variables
already built. Framing rules of a response, decided when its head is sent:

1. The application's Content-Length is kept (excess bytes are dropped, a
   short body closes the connection so the truncation shows).
2. Without one, a list or tuple result gets a Content-Length computed here:
   the whole response leaves in one send. Otherwise HTTP/1.1 is chunked and
   HTTP/1.0 is delimited by closing the connection.
3. HEAD, 1xx, 204 and 304 never carry a body; hop-by-hop headers from the
   application are dropped; Date and Server are added unless given.
4. An error after the head was sent closes the connection without the final
   chunk, so a truncated response never looks complete.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any

from fastwsgi._cext import HEAD_HAS_DATE, HEAD_HAS_SERVER, Conn, InputStream, encode_http_head
from fastwsgi.errors import ClientDisconnected, InvalidRequestBody, ResponseError
from fastwsgi.log import log
from fastwsgi.wsgi import Response, complete_environ, run_app

SERVER_HEADER = b"Server: fastwsgi\r\n"
REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large",
           414: "URI Too Long", 417: "Expectation Failed",
           431: "Request Header Fields Too Large", 500: "Internal Server Error",
           501: "Not Implemented", 503: "Service Unavailable", 505: "HTTP Version Not Supported"}
#: Unread request body drained to keep a connection alive; more closes it.
DRAIN_LIMIT = 1 << 16

_date_second = 0
_date_header = b""


def date_header() -> bytes:
    """The Date header line, formatted once per second."""
    global _date_second, _date_header
    now = int(time.time())
    if now != _date_second:
        _date_header = b"Date: " + email.utils.formatdate(now, usegmt=True).encode() + b"\r\n"
        _date_second = now
    return _date_header


def error_response(status: int, keep_alive: bool = False) -> bytes:
    """A complete plain-text error response."""
    reason = REASONS.get(status, "Error")
    body = f"{reason}\n".encode()
    return (f"HTTP/1.1 {status} {reason}\r\n".encode() + date_header() + SERVER_HEADER
            + b"Content-Type: text/plain\r\nContent-Length: " + str(len(body)).encode()
            + (b"\r\n" if keep_alive else b"\r\nConnection: close\r\n") + b"\r\n" + body)


class HttpResponse(Response):
    """Response with HTTP/1.1 framing (see the module docstring)."""

    __slots__ = ("minor", "keep_alive", "flags", "chunked", "bodyless", "truncated")

    def __init__(self, conn: Conn, minor: int, head_only: bool, keep_alive: bool) -> None:
        super().__init__(conn, b"HTTP/1.1 ", head_only)
        self.minor = minor
        self.keep_alive = keep_alive
        self.flags = 0
        self.chunked = False
        self.bodyless = head_only
        self.truncated = False

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.head is not None:
            raise ResponseError("start_response() called again without exc_info")
        self.code, self.head, self.clen, self.flags = encode_http_head(status, headers)
        self.status = status
        self.bodyless = self.head_only or self.code < 200 or self.code in (204, 304)
        return self.write

    def _head(self, total: int = -1) -> bytes:
        """Complete the head once the framing is known; total = known body size."""
        assert self.head is not None
        extra = b""
        if not self.flags & HEAD_HAS_DATE:
            extra += date_header()
        if not self.flags & HEAD_HAS_SERVER:
            extra += SERVER_HEADER
        if self.clen < 0:
            if total >= 0 and self.code not in (204, 304) and self.code >= 200:
                self.clen = total
                extra += b"Content-Length: %d\r\n" % total
            elif self.bodyless:
                pass
            elif self.minor == 1:
                self.chunked = True
                extra += b"Transfer-Encoding: chunked\r\n"
            else:
                self.keep_alive = False
        if not self.keep_alive:
            extra += b"Connection: close\r\n"
        elif self.minor == 0:
            extra += b"Connection: keep-alive\r\n"
        return self.head + extra + b"\r\n"

    def write(self, data: bytes) -> None:
        if type(data) is not bytes:
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)
            else:
                raise ResponseError(f"response data must be bytes, not {type(data).__name__}")
        if self.head is None:
            raise ResponseError("write() or response data before start_response()")
        if self.clen >= 0 and self.body_sent + len(data) > self.clen:
            log.warning("Application sent more than its Content-Length of %d; "
                        "the excess is dropped.", self.clen)
            data = data[:self.clen - self.body_sent]
        self.body_sent += len(data)
        out = self._head() if not self.head_sent else b""
        self.head_sent = True
        if data and not self.bodyless:
            out += (b"%x\r\n%b\r\n" % (len(data), data)) if self.chunked else data
        if out:
            self._send(out)

    def write_all(self, items: list[bytes] | tuple[bytes, ...]) -> None:
        if self.head_sent or self.head is None:
            return super().write_all(items)
        body = b"".join(items)
        self.write_known(body)

    def write_known(self, body: bytes) -> None:
        """Head and whole body in one send, with the length known."""
        if self.clen >= 0 and len(body) > self.clen:
            log.warning("Application sent more than its Content-Length of %d; "
                        "the excess is dropped.", self.clen)
            body = body[:self.clen]
        self.body_sent = len(body)
        head = self._head(len(body))
        self.head_sent = True
        self._send(head if self.bodyless else head + body)

    def finish(self) -> None:
        if self.head is None:
            raise ResponseError("application returned without calling start_response()")
        if not self.head_sent:
            self.write_known(b"")
            return
        if self.chunked and not self.bodyless:
            self._send(b"0\r\n\r\n")
        elif 0 <= self.clen != self.body_sent and not self.bodyless:
            log.error("Application returned %d bytes but declared Content-Length %d; "
                      "closing the connection so the client sees the truncation.",
                      self.body_sent, self.clen)
            self.truncated = True

    def fail(self, exc: BaseException) -> None:
        self.keep_alive = False
        if not self.head_sent:
            self.head_sent = True
            status = 400 if isinstance(exc, InvalidRequestBody) else 500
            try:
                self.conn.sendall(error_response(status))
            except OSError:
                pass


class HttpHandler:
    """Runs the application for one HTTP request; returns True to keep alive."""

    def __init__(self, app: Callable[..., Any], base: dict[str, Any],
                 server_addresses: list[tuple[str, str]], limit_request_body: int = 0,
                 after_request: Callable[[], None] | None = None) -> None:
        self.app = app
        self.base = base
        self.server_addresses = server_addresses
        self.limit_request_body = limit_request_body
        self.after_request = after_request or (lambda: None)

    def __call__(self, conn: Conn, env: dict[str, Any], info: tuple) -> bool:
        try:
            return self.handle(conn, env, info)
        finally:
            self.after_request()

    def handle(self, conn: Conn, env: dict[str, Any], info: tuple) -> bool:
        clen, chunked, keep_alive, expect, minor, peer_host, peer_port, lindex = info
        env["REMOTE_ADDR"] = peer_host
        env["REMOTE_PORT"] = str(peer_port)
        host = env.get("HTTP_HOST")
        server_name, server_port = self.server_addresses[lindex]
        if host:
            name, sep, port = host.rpartition(":")
            if sep and port.isdigit() and (not name.startswith("[") or name.endswith("]")):
                server_name, server_port = name, port
            else:
                server_name = host
        env["SERVER_NAME"] = server_name
        env["SERVER_PORT"] = server_port
        if self.limit_request_body and clen > self.limit_request_body:
            log.error("Request body of %d bytes is over limit-request-body (%d): 413 for %s %s.",
                      clen, self.limit_request_body, env["REQUEST_METHOD"], env["PATH_INFO"])
            conn.sendall(error_response(413))
            return False
        stream = InputStream(conn, -2 if chunked else max(clen, 0), expect)
        complete_environ(env, self.base, stream, True)
        response = HttpResponse(conn, minor, env["REQUEST_METHOD"] == "HEAD", keep_alive)
        if not run_app(self.app, env, response) or response.truncated or stream.bad:
            return False
        if not response.keep_alive:
            return False
        try:
            return bool(stream.drain(DRAIN_LIMIT))
        except ClientDisconnected:
            return False

    def on_error(self, conn: Conn, status: int, why: str) -> None:
        """A request the parser refused: one log line and the precise status."""
        log.error("Refused a request with %d %s: %s.", status, REASONS.get(status, ""), why)
        try:
            conn.sendall(error_response(status))
        except OSError:
            pass

