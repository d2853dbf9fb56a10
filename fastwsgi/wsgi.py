"""PEP 3333: the environ, start_response, write() and the response iterable.

This module never sees a socket: it writes through a connection object from
fastwsgi._cext (sendall, sendfile) and reads through the InputStream that the
caller puts into the environ. The rules it enforces:

1. start_response validates status and headers at once (in C), so a CR, LF,
   NUL or non-latin-1 text raises inside the application and becomes a 500;
   nothing invalid ever reaches the wire.
2. The head is sent with the first non-empty body bytes (or at the end), in
   the same send when possible; exc_info replaces a head not yet sent and
   re-raises once it has been.
3. The iterable's close() is always called: after success, after an error,
   and when the peer went away.
4. An application error before the head was sent gives a plain 500; after it,
   the connection is closed early so the response is visibly truncated. The
   traceback goes to the error log, never to the client.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from fastwsgi import __version__
from fastwsgi._cext import encode_head
from fastwsgi.errors import ClientDisconnected, RequestTimeout, ResponseError
from fastwsgi.log import ErrorStream, log

ERROR_500 = (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
             b"Content-Length: 22\r\n\r\nInternal Server Error\n")
ERROR_504 = (b"HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain\r\n"
             b"Content-Length: 16\r\n\r\nGateway Timeout\n")


class FileWrapper:
    """environ['wsgi.file_wrapper']: a file sent with sendfile() when possible."""

    __slots__ = ("filelike", "blksize")

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> FileWrapper:
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()

    def sendfile_fd(self) -> int:
        """The fd to sendfile() from, or -1 when it must be iterated."""
        try:
            fd = self.filelike.fileno()
            import stat
            if stat.S_ISREG(os.fstat(fd).st_mode):
                return int(fd)
        except (AttributeError, OSError, ValueError):
            pass
        return -1


def base_environ(*, process_group: str, application_group: str, multiprocess: bool,
                 multithread: bool, run_once: bool) -> dict[str, Any]:
    """The per-process part of every environ."""
    return {
        "wsgi.version": (1, 0),
        "wsgi.multithread": multithread,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": run_once,
        "wsgi.file_wrapper": FileWrapper,
        "mod_wsgi.process_group": process_group,
        "mod_wsgi.application_group": application_group,
        "fastwsgi.version": __version__,
    }


def complete_environ(env: dict[str, Any], base: dict[str, Any], wsgi_input: Any,
                     terminated: bool) -> dict[str, Any]:
    """Turn decoded CGI variables into a PEP 3333 environ, in place."""
    env.update(base)
    # httpoxy: a client's Proxy header must never look like a proxy setting;
    # and like mod_wsgi, the front-end's PATH is not the application's.
    env.pop("HTTP_PROXY", None)
    env.pop("PATH", None)
    https = env.pop("HTTPS", "")
    if https.lower() in ("1", "on") or env.get("UWSGI_SCHEME") == "https" \
            or env.get("REQUEST_SCHEME") == "https":
        env["wsgi.url_scheme"] = "https"
    else:
        env["wsgi.url_scheme"] = "http"
    if "SCRIPT_NAME" not in env:
        env["SCRIPT_NAME"] = ""
    if "PATH_INFO" not in env:
        env["PATH_INFO"] = ""
    env["wsgi.input"] = wsgi_input
    env["wsgi.input_terminated"] = terminated
    env["wsgi.errors"] = ErrorStream()
    return env


class Response:
    """start_response(), write() and the sending of one response."""

    __slots__ = ("conn", "prefix", "head", "code", "clen", "head_sent", "body_sent",
                 "head_only", "status")

    def __init__(self, conn: Any, prefix: bytes, head_only: bool) -> None:
        self.conn = conn
        self.prefix = prefix
        self.head: bytes | None = None
        self.code = 0
        self.clen = -1
        self.head_sent = False
        self.body_sent = 0
        self.head_only = head_only
        self.status = ""

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
        self.code, self.head, self.clen = encode_head(self.prefix, status, headers)
        self.status = status
        return self.write

    def _send(self, data: bytes) -> None:
        try:
            self.conn.sendall(data)
        except OSError as exc:
            raise ClientDisconnected(f"peer went away while sending the response: {exc}") from exc

    def write(self, data: bytes) -> None:
        """The write() callable, and the sink for the iterable's items."""
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
        if self.head_only:
            data = b""
        if not self.head_sent:
            self.head_sent = True
            self._send(self.head + b"\r\n" + data)
        elif data:
            self._send(data)

    def finish(self) -> None:
        """Send the head if nothing did yet (an empty body)."""
        if self.head is None:
            raise ResponseError("application returned without calling start_response()")
        if not self.head_sent:
            self.head_sent = True
            self._send(self.head + b"\r\n")
        if 0 <= self.clen != self.body_sent and not self.head_only:
            log.error("Application returned %d bytes but declared Content-Length %d; "
                      "the response is truncated.", self.body_sent, self.clen)

    def send_file(self, wrapper: FileWrapper, fd: int) -> None:
        """Send a file_wrapper's file from its current position with sendfile()."""
        if self.head is None:
            raise ResponseError("file_wrapper returned before start_response()")
        try:
            offset = wrapper.filelike.tell()
        except (AttributeError, OSError):
            offset = os.lseek(fd, 0, os.SEEK_CUR)
        size = os.fstat(fd).st_size
        count = max(size - offset, 0)
        if self.clen >= 0:
            count = min(count, self.clen)
        if not self.head_sent:
            self.head_sent = True
            self._send(self.head + b"\r\n")
        if not self.head_only and count:
            try:
                self.body_sent += self.conn.sendfile(fd, offset, count)
            except OSError as exc:
                raise ClientDisconnected(f"peer went away during sendfile: {exc}") from exc


def run_app(app: Callable[..., Iterable[bytes]], environ: dict[str, Any],
            response: Response) -> bool:
    """Run the application for one request; True if the response is complete."""
    result: Any = None
    try:
        result = app(environ, response.start_response)
        if type(result) is FileWrapper and response.head is not None \
                and (fd := result.sendfile_fd()) >= 0:
            response.send_file(result, fd)
        else:
            for data in result:
                if data:
                    response.write(data)
        response.finish()
        return True
    except ClientDisconnected as exc:
        log.info("Client went away during %s %s: %s", environ.get("REQUEST_METHOD"),
                 environ.get("PATH_INFO"), exc)
        return False
    except (Exception, RequestTimeout) as exc:
        timed_out = isinstance(exc, RequestTimeout)
        if timed_out:  # raised in this thread by the watchdog (request-timeout)
            log.error("Request %s %s stopped by request-timeout%s.",
                      environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"),
                      "; answered 504" if not response.head_sent else
                      " after its response had started; the response is truncated")
        else:
            log.exception("Exception in WSGI application (%s %s):",
                          environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
        if not response.head_sent:
            response.head_sent = True
            try:
                response.conn.sendall(ERROR_504 if timed_out else ERROR_500)
            except OSError:
                pass
        return False
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                log.exception("Exception in close() of the WSGI response iterable:")
