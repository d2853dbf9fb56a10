"""Applications that fail, one way per path.

/raise-before   RuntimeError before start_response
/raise-after    a generator: one chunk, then RuntimeError (head already sent)
/short          declares Content-Length 100, sends 10 bytes
"""

from __future__ import annotations


def _after():
    yield b"first-chunk"
    raise RuntimeError("raise-after-marker")


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/raise-before":
        raise RuntimeError("raise-before-marker")
    if path == "/raise-after":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _after()
    if path == "/short":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "100")])
        return [b"0123456789"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
