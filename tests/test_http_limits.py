"""HTTP limits over real sockets: refused heads, body limits, timeouts, scale and
recycling.

Every refusal must end in the precise status, one error-log line, a closed
connection, and an application that was never called (http_echo records its
calls). Timeouts are short (1 s) and tests wait for the server's action with a
bounded socket timeout, never with a sleep.
"""

from __future__ import annotations

import json
import re
import resource
import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.http_server import HttpServer, Reader, exchange, get, no_date, post, tag
from tests.support.procs import proc_status
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

# The parser's limits (cext/http_parser.pyx MAX_LINE, MAX_FIELDS).
MAX_LINE = 8190
MAX_FIELDS = 100
LIMIT = 1000


@pytest.fixture(scope="module")
def limits() -> Iterator[HttpServer]:
    with HttpServer("http_echo:application", "--threads", "2", "--header-timeout", "1",
                    "--keep-alive-timeout", "1", "--limit-request-body", str(LIMIT)) as server:
        yield server


def refusal(status: int, reason: str) -> bytes:
    body = f"{reason}\n".encode()
    return (f"HTTP/1.1 {status} {reason}\r\nDate: *\r\nServer: fastwsgi\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


# -- refused heads ---------------------------------------------------------------

HEADS = {
    "missing-host": (b"GET /{t} HTTP/1.1\r\n\r\n", 400, "Bad Request",
                     "missing Host header in an HTTP/1.1 request"),
    "http2": (b"GET /{t} HTTP/2.0\r\nHost: t\r\n\r\n", 505, "HTTP Version Not Supported",
              "HTTP version not supported"),
    "long-line": (b"GET /{t}/" + b"a" * MAX_LINE + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414,
                  "URI Too Long", "request line too long"),
    "many-fields": (b"GET /{t} HTTP/1.1\r\nHost: t\r\n"
                    + b"".join(b"X-F%d: v\r\n" % i for i in range(MAX_FIELDS)) + b"\r\n", 431,
                    "Request Header Fields Too Large", "too many header fields"),
    "long-field": (b"GET /{t} HTTP/1.1\r\nHost: t\r\nX-Long: " + b"v" * MAX_LINE + b"\r\n\r\n",
                   431, "Request Header Fields Too Large", "header field too long"),
    "gzip": (b"POST /{t} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
             "Not Implemented", "unsupported transfer coding"),
    "expect": (b"GET /{t} HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\n\r\n", 417,
               "Expectation Failed", "unsupported expectation"),
    "folding": (b"GET /{t} HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n folded\r\n\r\n", 400,
                "Bad Request", "obsolete line folding"),
    "te-http10": (b"POST /{t} HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
                  "Bad Request", "Transfer-Encoding in an HTTP/1.0 request"),
}


@pytest.mark.parametrize("name", list(HEADS))
def test_refused_head(limits: HttpServer, name: str) -> None:
    template, status, reason, why = HEADS[name]
    t = tag()
    before = len(limits.refused())
    with limits.connect() as sock:
        sock.sendall(template.replace(b"{t}", t.encode()) + get(f"/{t}/next"))
        reader = Reader(sock)
        assert no_date(reader.response().raw) == refusal(status, reason)
        assert reader.closed()
    new = wait_for(lambda: limits.refused()[before:], 5, "the refusal logged")
    assert len(new) == 1
    assert new[0].endswith(f"Refused a request with {status} {reason}: {why}.")
    assert not [c for c in limits.calls() if t in c]


def test_at_most_max_fields_is_accepted(limits: HttpServer) -> None:
    fields = "".join(f"X-F{i}: v\r\n" for i in range(MAX_FIELDS - 1))
    r = exchange(limits, get("/fields", fields))
    assert (r.status, r.header("X-Path")) == (200, "/fields?")


# -- --limit-request-body ------------------------------------------------------------

@pytest.mark.parametrize("expect", ["", "Expect: 100-continue\r\n"])
def test_body_over_the_limit_is_413_before_it_is_sent(limits: HttpServer, expect: str) -> None:
    t = tag()
    with limits.connect() as sock:
        sock.sendall(f"POST /{t} HTTP/1.1\r\nHost: t\r\nContent-Length: {LIMIT + 1}\r\n"
                     f"{expect}\r\n".encode())  # the head only: not one byte of body
        reader = Reader(sock)
        assert no_date(reader.response().raw) == refusal(413, "Content Too Large")
        assert reader.closed()
    wait_for(lambda: f"Request body of {LIMIT + 1} bytes is over limit-request-body "
                     f"({LIMIT}): 413 for POST /{t}." in limits.log(), 5, "the 413 logged")
    assert not [c for c in limits.calls() if t in c]


def test_body_at_the_limit_is_accepted(limits: HttpServer) -> None:
    body = b"b" * LIMIT
    r = exchange(limits, b"POST /at-limit HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
                 % LIMIT + body)
    assert (r.status, r.body) == (200, body)


def test_chunked_body_over_the_limit_is_413(limits: HttpServer) -> None:
    chunk = b"c" * 500
    body = b"".join(b"%x\r\n%b\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    with limits.connect() as sock:
        sock.sendall(b"POST /chunked-over HTTP/1.1\r\nHost: t\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" + body + get("/after-413"))
        reader = Reader(sock)
        assert no_date(reader.response().raw) == refusal(413, "Content Too Large")
        assert reader.closed()
    wait_for(lambda: "chunked request body is over limit-request-body (1000 bytes)"
             in limits.log(), 5, "the 413 logged")
    assert not [c for c in limits.calls() if "/after-413" in c]


def test_chunked_body_at_the_limit_is_accepted(limits: HttpServer) -> None:
    chunk = b"c" * 500
    body = b"".join(b"%x\r\n%b\r\n" % (len(chunk), chunk) for _ in range(2)) + b"0\r\n\r\n"
    r = exchange(limits, b"POST /chunked-at HTTP/1.1\r\nHost: t\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n" + body)
    assert (r.status, r.body) == (200, chunk * 2)


# -- timeouts ----------------------------------------------------------------------

def test_stalled_head_gets_408_and_close(limits: HttpServer) -> None:
    before = len(limits.refused())
    with limits.connect(timeout=5) as sock:
        sock.sendall(b"GET /stalled HTTP/1.1\r\nHost: t\r\n")
        started = time.monotonic()
        reader = Reader(sock)
        r = reader.response()
        assert reader.closed()
        assert time.monotonic() - started < 4
        port = sock.getsockname()[1]
    assert no_date(r.raw) == refusal(408, "Request Timeout")
    assert r.header("Date") is not None
    new = wait_for(lambda: limits.refused()[before:], 5, "the 408 logged")
    assert len(new) == 1
    assert new[0].endswith(f"Refused a request with 408 Request Timeout: the head from "
                           f"127.0.0.1:{port} was not complete within header-timeout.")
    assert not [c for c in limits.calls() if "/stalled" in c]


def test_trickled_head_does_not_extend_the_deadline(limits: HttpServer) -> None:
    """One byte per 200 ms: the header timeout counts from the first byte."""
    data = b"GET /trickle HTTP/1.1\r\nHost: t\r\n" + b"X-Slow: " + b"s" * 100
    with limits.connect() as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(0.2)  # the pace: wait this long for the server's answer per byte
        started = time.monotonic()
        got = b""
        for i in range(len(data)):
            try:
                sock.sendall(data[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                got = sock.recv(65536)
                break
            except TimeoutError:
                continue
        elapsed = time.monotonic() - started
        sock.settimeout(5)
        try:
            got += Reader(sock).rest()
        except ConnectionResetError:
            pass  # a byte we sent after the server closed: it answers with RST
    assert no_date(got) == refusal(408, "Request Timeout")
    assert elapsed < 4


def test_silent_connection_is_closed(limits: HttpServer) -> None:
    with limits.connect(timeout=5) as sock:
        started = time.monotonic()
        assert Reader(sock).closed()
        assert time.monotonic() - started < 4


def test_idle_keep_alive_connection_is_closed(limits: HttpServer) -> None:
    with limits.connect(timeout=5) as sock:
        reader = Reader(sock)
        for i in range(2):
            sock.sendall(get(f"/idle/{i}"))
            assert reader.response().header("X-Path") == f"/idle/{i}?"
        started = time.monotonic()
        assert reader.closed()
        assert time.monotonic() - started < 4
    assert exchange(limits, get("/idle/after")).header("X-Path") == "/idle/after?"


# -- scale: idle connections cost no thread -----------------------------------------------

IDLE = 1000


@pytest.fixture(scope="module")
def scale() -> Iterator[HttpServer]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * IDLE + 200
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # inherited by the server
    try:
        with HttpServer("http_echo:application", "--threads", "2") as server:
            yield server
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_thousand_idle_connections_do_not_block_a_new_one(scale: HttpServer) -> None:
    idle: list[socket.socket] = []
    try:
        for i in range(IDLE):
            sock = scale.connect()
            idle.append(sock)
            if i % 2:  # half have had a request: parked keep-alive connections
                sock.sendall(get(f"/idle/{i}"))
                assert Reader(sock).response().status == 200
        with scale.connect(timeout=5) as sock:
            started = time.monotonic()
            sock.sendall(get("/fresh"))
            r = Reader(sock).response()
            assert time.monotonic() - started < 2
        assert (r.status, r.header("X-Path")) == (200, "/fresh?")
        for sock in idle[1::2][:10]:  # parked ones are still served
            sock.sendall(get("/again"))
            assert Reader(sock).response().header("X-Path") == "/again?"
    finally:
        for sock in idle:
            sock.close()
    assert exchange(scale, get("/after-close")).status == 200


LEAN_IDLE = 300
FILL = b"f" * 61440  # fills most of a connection's 64 KiB buffer
DAEMON_PID = re.compile(r"Starting daemon process '[^']*' \(pid=(\d+)\)")


def rss_kib(pid: int) -> int:
    return int(proc_status(pid, "VmRSS"))


def test_idle_keep_alive_connections_give_their_buffer_pages_back() -> None:
    with HttpServer("http_echo:application", "--processes", "1", "--threads", "2") as server:
        m = DAEMON_PID.search(server.log())
        assert m, server.log()
        pid = int(m.group(1))
        assert exchange(server, post("/warm", FILL), "POST").body == FILL
        base = rss_kib(pid)
        socks: list[socket.socket] = []
        try:
            for i in range(LEAN_IDLE):  # each buffer's pages are touched by an upload
                sock = server.connect()
                socks.append(sock)
                sock.sendall(post(f"/fill/{i}", FILL))
                assert Reader(sock).response().body == FILL
            # Parked and idle, a connection keeps about a page of its buffer
            # (64 KiB each before: about 19 MiB for these 300).
            wait_for(lambda: rss_kib(pid) - base < LEAN_IDLE * 16, 20,
                     f"the idle connections' pages given back (RSS {rss_kib(pid) - base} KiB "
                     f"over {base} KiB for {LEAN_IDLE} connections)")
            for sock in socks[::30]:  # and the buffers work as before
                sock.sendall(post("/again", FILL))
                assert Reader(sock).response().body == FILL
        finally:
            for sock in socks:
                sock.close()


# -- maximum-requests ------------------------------------------------------------------

def test_maximum_requests_recycles_without_losing_requests() -> None:
    with HttpServer("wsgi_env:application", "--maximum-requests", "5", "--processes", "1",
                    "--threads", "2") as server:
        pids = []
        for i in range(20):
            r = exchange(server, get(f"/recycle/{i}", "Connection: close\r\n"))
            assert r.status == 200, server.log()
            pids.append(json.loads(r.body)["pid"])
    assert len(set(pids)) >= 3, pids


@pytest.mark.parametrize("sent", [b"", b"GET /a HTTP/1.1\r\n"], ids=["nothing", "partial-head"])
def test_connection_accepted_before_a_recycle_is_served(sent: bytes) -> None:
    with HttpServer("wsgi_env:application", "--maximum-requests", "2", "--processes", "1",
                    "--threads", "2") as server:
        with server.connect() as early:
            early.sendall(sent)
            # Accepted before these (one listen queue, FIFO), so by the daemon that recycles.
            pids = {json.loads(exchange(server, get(f"/b{i}")).body)["pid"] for i in range(2)}
            wait_for(lambda: "Maximum requests (2) reached" in server.log(), 5, "the recycle")
            early.sendall(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n"[len(sent):])
            r = Reader(early).response()
        assert (r.status, json.loads(r.body)["PATH_INFO"]) == (200, "/a")
        assert len(pids) == 1
