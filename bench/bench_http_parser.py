"""HTTP request head parsing: fastwsgi._cext.parse_request_head over a corpus.

parse_request_head validates the head without the GIL and builds the CGI
environ; the event loop uses the same two C functions per request.
"""

from __future__ import annotations

import pytest

from fastwsgi._cext import parse_request_head

#: (id, request head) pairs to time, smallest first.
HEADS: list[tuple[str, bytes]] = [
    ("minimal", b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    ("wrk", b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"),
    ("post", b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
             b"Content-Length: 1048576\r\n\r\n"),
    ("browser",
     b"GET /articles/2024/fastwsgi?page=2&sort=new HTTP/1.1\r\n"
     b"Host: www.example.org\r\n"
     b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
     b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
     b"Accept-Language: en-GB,en;q=0.7,fr;q=0.3\r\n"
     b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
     b"Referer: https://www.example.org/articles/2024\r\n"
     b"Cookie: sessionid=0123456789abcdef0123456789abcdef; csrftoken=abcdefABCDEF0123456789\r\n"
     b"Connection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\n"
     b"Sec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n\r\n"),
    ("chunked", b"PUT /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                b"Expect: 100-continue\r\n\r\n"),
]


@pytest.mark.parametrize("head", [h for _, h in HEADS], ids=[i for i, _ in HEADS])
def test_parse_request_head(benchmark, head):
    env, length, _ = benchmark(parse_request_head, head)
    assert length == len(head) and env["REQUEST_METHOD"]
