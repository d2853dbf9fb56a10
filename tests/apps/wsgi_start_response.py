"""start_response behaviour, one case per PATH_INFO.

/write          write() output, then the iterable's: "first-second-third"
/exc-before     start_response again with exc_info before any body: 503 replaces 200
/twice          start_response twice without exc_info: a server error
/exc-after      exc_info after the head and a body chunk were sent: re-raised
/bad/<case>     an invalid status or header (see BAD); every one must become a 500
/str-first      the first body item is a str, not bytes
/str-later      a str after a bytes item was sent
"""

from __future__ import annotations

import sys

OK = "200 OK"
PLAIN = ("Content-Type", "text/plain")

#: Invalid (status, headers) pairs; "Injected" must never reach the wire.
BAD = {
    "status-crlf": ("200 OK\r\nX-Injected: yes", [PLAIN]),
    "status-lf": ("200 OK\nX-Injected: yes", [PLAIN]),
    "status-nul": ("200 OK\x00Injected", [PLAIN]),
    "value-crlf": (OK, [PLAIN, ("X-A", "a\r\nX-Injected: yes")]),
    "value-lf": (OK, [PLAIN, ("X-A", "a\nX-Injected: yes")]),
    "value-cr": (OK, [PLAIN, ("X-A", "a\rX-Injected: yes")]),
    "value-nul": (OK, [PLAIN, ("X-A", "a\x00Injected")]),
    "name-space": (OK, [PLAIN, ("X Injected", "yes")]),
    "name-colon": (OK, [PLAIN, ("X-Injected:", "yes")]),
    "name-crlf": (OK, [PLAIN, ("X-A\r\nX-Injected", "yes")]),
    "value-int": (OK, [PLAIN, ("X-Injected", 12)]),
    "value-bytes": (OK, [PLAIN, ("X-Injected", b"yes")]),
    "name-bytes": (OK, [PLAIN, (b"X-Injected", "yes")]),
    "value-not-latin1": (OK, [PLAIN, ("X-Injected", "snow \u2603")]),
    "status-bytes": (b"200 OK", [PLAIN, ("X-Injected", "yes")]),
    "status-not-latin1": ("200 \u2603K", [PLAIN, ("X-Injected", "yes")]),
}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/write":
        write = start_response(OK, [PLAIN])
        if not callable(write):
            raise TypeError("start_response did not return a callable")
        write(b"first-")
        write(b"")
        return [b"second-", b"third"]
    if path == "/exc-before":
        start_response(OK, [PLAIN, ("X-Original", "1")])
        try:
            raise ValueError("exc-before-marker")
        except ValueError:
            start_response("503 Replaced", [PLAIN, ("X-Replaced", "1")], sys.exc_info())
        return [b"replaced"]
    if path == "/twice":
        start_response(OK, [PLAIN])
        start_response("201 Created", [PLAIN])
        return [b"twice-body-must-not-be-sent"]
    if path == "/exc-after":
        return _exc_after(start_response)
    if path.startswith("/bad/"):
        status, headers = BAD[path[len("/bad/"):]]
        start_response(status, headers)
        return [b"bad-head-body"]
    if path == "/str-first":
        start_response(OK, [PLAIN])
        return ["a str, not bytes"]
    if path == "/str-later":
        return _str_later(start_response)
    start_response("404 Not Found", [PLAIN])
    return [b"no such path\n"]


def _exc_after(start_response):
    start_response(OK, [PLAIN, ("Content-Length", "100")])
    yield b"partial-"
    try:
        raise RuntimeError("exc-after-marker")
    except RuntimeError:
        # The head is out: PEP 3333 says this must re-raise the error.
        start_response("500 Too Late", [PLAIN], sys.exc_info())
    yield b"never-sent"


def _str_later(start_response):
    start_response(OK, [PLAIN])
    yield b"bytes-first-"
    yield "str-later-marker"
    yield b"never-sent"
