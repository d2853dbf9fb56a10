"""wsgi.file_wrapper: send a file, or any object with read().

/exists                       "yes" when environ has a callable wsgi.file_wrapper
/file?path=P&blksize=N        wsgi.file_wrapper(open(P, 'rb'), N)
/filelike?path=P&record=R     wrapper over an object with read() and close() but no
                              fileno(); its close() appends "closed" to R
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs


class ReadOnly:
    """A file-like object without fileno(): the wrapper must fall back to read()."""

    def __init__(self, path: str, record: str) -> None:
        self._f = open(path, "rb")
        self._record = record

    def read(self, n: int = -1) -> bytes:
        return self._f.read(n)

    def close(self) -> None:
        self._f.close()
        with open(self._record, "a") as f:
            f.write("closed\n")


def application(environ, start_response):
    qs = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    path = environ.get("PATH_INFO", "")
    wrapper = environ.get("wsgi.file_wrapper")
    if path == "/exists":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"yes" if callable(wrapper) else b"no"]
    if path == "/file":
        size = os.path.getsize(qs["path"])
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(size))])
        return wrapper(open(qs["path"], "rb"), int(qs.get("blksize", "8192")))
    if path == "/filelike":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return wrapper(ReadOnly(qs["path"], qs["record"]), int(qs.get("blksize", "8192")))
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such path\n"]
