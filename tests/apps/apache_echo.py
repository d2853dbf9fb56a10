"""Echo app for the end-to-end tests through Apache: one route per behaviour.

Routes (on the first PATH_INFO segment):
  /echo          the body, read with wsgi.input.read()
  /echo-pieces   the body, read in 64 KiB read(n) calls up to CONTENT_LENGTH
  /env           JSON: every str-valued environ entry, plus a few wsgi.* flags
  /big?size=N    N bytes of `big_chunks(N)`, streamed from a generator
  /status?code=C&reason=R[&location=URL]   that status, body unless 204/304
  /cookies       two Set-Cookie headers
  /headers       unusual response headers (see UNUSUAL_HEADERS)
  /error?id=X    raises RuntimeError naming X
  /text          a small fixed body with Content-Length (for HEAD)
anything else    404
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import parse_qs

CHUNK = 1 << 20
#: 251 is prime, so the pattern is not aligned with chunk or page boundaries.
_BASE = (bytes(range(251)) * (CHUNK // 251 + 1))[:CHUNK]
TEXT = b"hello through apache\n" * 10

#: Response headers a proxy must pass unchanged (values are latin-1 str).
UNUSUAL_HEADERS = [
    ("X-Digits-123", "4-5-6"),
    ("X-Long-Value", "L" * 4000),
    ("X-Latin1", "caf\u00e9 \u00fcber \u00ff"),
    ("X-Inner-Spaces", "a  b\tc"),
    ("X-Punct", "a=b; c=\"d,e\"; f/g?h"),
]
COOKIES = ["a=1; Path=/", "b=2; Path=/; HttpOnly"]

StartResponse = Callable[..., Callable[[bytes], object]]


def big_chunks(size: int) -> Iterator[bytes]:
    """Deterministic content: 1 MiB pieces of _BASE, each stamped with its index."""
    index = 0
    while size > 0:
        piece = bytearray(_BASE[:min(CHUNK, size)])
        stamp = index.to_bytes(8, "big")[:len(piece)]
        piece[:len(stamp)] = stamp
        size -= len(piece)
        index += 1
        yield bytes(piece)


def _query(environ: dict) -> dict[str, list[str]]:
    return parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)


def _read_pieces(environ: dict) -> bytes:
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    parts = []
    while remaining > 0:
        data = stream.read(min(remaining, 65536))
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)


def _reply(start_response: StartResponse, status: str, body: bytes,
           content_type: str = "application/octet-stream",
           headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(status, [("Content-Type", content_type),
                            ("Content-Length", str(len(body)))] + (headers or []))
    return [body]


def application(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
    route = "/" + environ.get("PATH_INFO", "").lstrip("/").split("/", 1)[0]
    query = _query(environ)

    if route == "/echo":
        return _reply(start_response, "200 OK", environ["wsgi.input"].read())
    if route == "/echo-pieces":
        return _reply(start_response, "200 OK", _read_pieces(environ))
    if route == "/env":
        env = {k: v for k, v in environ.items() if isinstance(v, str)}
        env["wsgi.multithread"] = environ.get("wsgi.multithread")
        env["wsgi.multiprocess"] = environ.get("wsgi.multiprocess")
        env["wsgi.input_terminated"] = environ.get("wsgi.input_terminated")
        body = json.dumps(env, sort_keys=True).encode("ascii")
        return _reply(start_response, "200 OK", body, "application/json")
    if route == "/big":
        size = int(query["size"][0])
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(size))])
        return big_chunks(size)
    if route == "/status":
        code = int(query["code"][0])
        reason = query.get("reason", ["Whatever"])[0]
        headers = [("Location", query["location"][0])] if "location" in query else []
        if code in (204, 304):
            start_response(f"{code} {reason}", headers)
            return []
        return _reply(start_response, f"{code} {reason}", f"status {code}\n".encode(),
                      "text/plain", headers)
    if route == "/cookies":
        return _reply(start_response, "200 OK", b"cookies\n", "text/plain",
                      [("Set-Cookie", c) for c in COOKIES])
    if route == "/headers":
        return _reply(start_response, "200 OK", b"headers\n", "text/plain",
                      list(UNUSUAL_HEADERS))
    if route == "/error":
        raise RuntimeError(f"apache-echo deliberate failure {query.get('id', ['?'])[0]}")
    if route == "/text":
        return _reply(start_response, "200 OK", TEXT, "text/plain")
    return _reply(start_response, "404 Not Found", b"no such route\n", "text/plain")
