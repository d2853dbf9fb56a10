"""Responses whose framing the server decides, one per path.

/list        a list of three parts, no Content-Length
/gen         a generator of three parts, no Content-Length
/status?code=N   status N, no body, no Content-Length (&cl=L: Content-Length L)
/server      an application-provided Server header
/hop         hop-by-hop headers the server must drop
/cl-twice    Content-Length: 5 given twice, body "hello"
/empty-head  "hello" for GET, an empty list for HEAD (no Content-Length)
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
        query = parse_qs(environ["QUERY_STRING"])
        code = query["code"][0]
        start_response(f"{code} Whatever", [("X-Code", code)]
                       + [("Content-Length", cl) for cl in query.get("cl", [])])
        return []
    if path == "/cl-twice":
        start_response("200 OK", [("Content-Length", "5"), ("Content-Length", "5")])
        return [b"hello"]
    if path == "/empty-head":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [b"hello"]
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
