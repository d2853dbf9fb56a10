"""Applications that misuse the server's objects, for the tests of its guards.

/write-then-read   Content-Length 10: writes 5 bytes, then reads the body
                   (an Expect: 100-continue client must get no 100 inside
                   the response), then returns the other 5.
/stash             keeps its wsgi.input and write() for a later request.
/use-stash         uses the kept ones: "read:<error> write:<error>" names
                   what each raised ("none" if nothing was raised).
/swallow           declares 16 MiB and write()s it in 64 KiB pieces,
                   swallowing every error; notes "swallowed N" in FW_RECORD.
"""

from __future__ import annotations

import os

_kept: dict[str, object] = {}
MiB = 1 << 20


def _error_of(call) -> str:  # type: ignore[no-untyped-def]
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the name of any error is the answer
        return type(exc).__name__
    return "none"


def application(environ, start_response):  # type: ignore[no-untyped-def]
    path = environ["PATH_INFO"]
    if path == "/write-then-read":
        write = start_response("200 OK", [("Content-Length", "10")])
        write(b"01234")
        environ["wsgi.input"].read()
        return [b"56789"]
    if path == "/stash":
        _kept["input"] = environ["wsgi.input"]
        _kept["write"] = start_response("200 OK", [("Content-Length", "7")])
        return [b"stashed"]
    if path == "/use-stash":
        stream, write = _kept["input"], _kept["write"]
        body = (f"read:{_error_of(lambda: stream.read(10))} "  # type: ignore[attr-defined]
                f"write:{_error_of(lambda: write(b'leak'))}").encode()  # type: ignore[operator]
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/swallow":
        write = start_response("200 OK", [("Content-Length", str(16 * MiB))])
        failed = 0
        for _ in range(256):
            try:
                write(b"x" * 65536)
            except OSError:
                failed += 1
        with open(os.environ["FW_RECORD"], "a") as f:
            f.write(f"swallowed {failed}\n")
        return []
    start_response("404 Not Found", [("Content-Length", "0")])
    return []
