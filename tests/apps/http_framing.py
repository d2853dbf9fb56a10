"""Responses whose framing the server decides, one per path.

/list        a list of three parts, no Content-Length
/gen         a generator of three parts, no Content-Length
/status?code=N   status N, no body, no Content-Length
/server      an application-provided Server header
/hop         hop-by-hop headers the server must drop
"""

from __future__ import annotations

from urllib.parse import parse_qs

PARTS = [b"alpha;", b"beta;", b"gamma;"]


def _gen():
    yield from PARTS


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/gen":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _gen()
    if path == "/status":
        code = parse_qs(environ["QUERY_STRING"])["code"][0]
        start_response(f"{code} Whatever", [("X-Code", code)])
        return []
    if path == "/server":
        start_response("200 OK", [("Server", "custom/1.0"), ("Content-Type", "text/plain")])
        return [b"custom"]
    if path == "/hop":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "keep-alive"),
                                  ("Transfer-Encoding", "chunked"), ("Upgrade", "h2c"),
                                  ("Keep-Alive", "timeout=5"), ("X-Kept", "yes")])
        return [b"hop"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return list(PARTS)
