"""The load generator's response parser (cext/loadgen_response.pyx), without sockets.

Every response is fed whole, one byte at a time and in random splits: any
input ends as a complete response, an incomplete one, or "bad", the same
whichever way it arrives.
"""

from __future__ import annotations

import random

import pytest

from fastwsgi._cext import loadgen_parse_response

pytestmark = pytest.mark.timeout(10)

CASES = [
    # (response, is_head, (state, status, keep_alive, left over))
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", False, ("done", 200, True, 0)),
    (b"HTTP/1.1 404 Not Found\r\ncontent-length:0\r\n\r\n", False, ("done", 404, True, 0)),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", False,
     ("done", 200, False, 0)),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", False, ("done", 200, False, 0)),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive\r\n\r\nhi", False,
     ("done", 200, True, 0)),
    (b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", False, ("done", 200, True, 0)),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5;name=value\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: 1\r\n\r\n", False, ("done", 200, True, 0)),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", False,
     ("done", 200, True, 0)),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx", False,
     ("done", 201, True, 0)),
    (b"HTTP/1.1 204 No Content\r\n\r\n", False, ("done", 204, True, 0)),
    (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", False, ("done", 304, True, 0)),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", True, ("done", 200, True, 0)),
    # framed by the close: complete only at EOF, never reusable
    (b"HTTP/1.1 200 OK\r\n\r\nsome body", False, ("eof", 200, False, 0)),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", False, ("eof", 200, False, 0)),
    # incomplete
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", False, ("body", 200, True, 0)),
    (b"HTTP/1.1 200 OK\r\nContent-Len", False, ("head", 0, False, 28)),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", False,
     ("body", 200, True, 0)),
    # malformed
    (b"HTTP/2 200 OK\r\n\r\n", False, ("bad", 0, False, 17)),
    (b"HTTP/1.1 20x OK\r\n\r\n", False, ("bad", 0, False, 19)),
    (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", False, ("bad", 0, False, 36)),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", False, ("bad", 0, False, 39)),
    (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", False, ("bad", 0, False, 29)),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", False, ("bad", 200, True, 4)),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", False,
     ("bad", 200, True, 17)),
]


def splits(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 7)
        out.append(data[i:i + n])
        i += n
    return out


@pytest.mark.parametrize("data,is_head,expected", CASES)
def test_whole_bytewise_and_split(data: bytes, is_head: bool, expected: tuple) -> None:
    state, status, keep, left = expected
    whole = loadgen_parse_response([data], is_head)
    assert whole[:3] == (state, status, keep)
    if state != "bad":
        assert whole[3] == left
    for pieces in [[data[i:i + 1] for i in range(len(data))]] + [splits(data, s) for s in range(5)]:
        got = loadgen_parse_response(pieces, is_head)
        assert got[:3] == whole[:3], pieces


def test_bytes_after_a_complete_response_make_it_bad() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiEXTRA"
    assert loadgen_parse_response([data])[0] == "bad"
    # arriving later, they are never read: the response was already complete
    assert loadgen_parse_response([data[:-5], b"EXTRA"])[0] == "done"
