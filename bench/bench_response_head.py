"""Response head encoding: start_response's validation and serialisation in C."""

from __future__ import annotations

from fastwsgi._cext import encode_head

PREFIX = b"HTTP/1.1 "
HELLO_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "13")]
#: What a typical framework response carries.
TYPICAL_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "5120"),
    ("Cache-Control", "private, max-age=0"), ("Vary", "Cookie, Accept-Encoding"),
    ("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Set-Cookie", "csrftoken=abcdefABCDEF0123456789; Path=/; SameSite=Lax; Secure"),
]


def test_encode_head_hello(benchmark):
    code, _, clen = benchmark(encode_head, PREFIX, "200 OK", HELLO_HEADERS)
    assert (code, clen) == (200, 13)


def test_encode_head_typical(benchmark):
    code, _, clen = benchmark(encode_head, PREFIX, "200 OK", TYPICAL_HEADERS)
    assert (code, clen) == (200, 5120)
