"""The router (`fastwsgi serve APP --bind ... --router`), over real sockets.

A real supervisor with one daemon group behind router processes; the app is
tests/apps/router_app.py. Covers relaying of heads and bodies (Content-Length,
chunked uploads as streamed bodies, 16 MiB both ways with 4 KiB socket
buffers), client-side framing, keep-alive, and every failure: 503 (connect),
502 (daemon gone before the head), 504 (no head in time), and truncation made
visible when the daemon dies mid-body; each with its error-log line.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastwsgi._cext import ChunkedDecoder, parse_response_head
from tests.support.conn_owners import connections_by_pid, threads_waiting_in_epoll
from tests.support.http_server import HttpServer, Reader, Response, post
from tests.support.router_server import RouterServer
from tests.support.server import short_tmpdir
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

MiB = 1 << 20
SO_SNDBUFFORCE = 32  # Linux; not in the socket module


@pytest.fixture(scope="module")
def router() -> Iterator[RouterServer]:
    with RouterServer("router_app:application", "--threads", "4") as server:
        yield server


@pytest.fixture
def fresh() -> Iterator[list[RouterServer]]:
    """Servers a test may break (kill daemons, replace the group socket)."""
    started: list[RouterServer] = []
    yield started
    for server in started:
        server.stop()


def start(started: list[RouterServer], *args: str, **kw: object) -> RouterServer:
    server = RouterServer("router_app:application", "--threads", "2", *args, **kw)
    started.append(server)
    server.start()
    return server


def chunked(path: str, pieces: list[bytes]) -> bytes:
    out = f"POST {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    for p in pieces:
        out += b"%x\r\n%b\r\n" % (len(p), p)
    return out + b"0\r\n\r\n"


def fields(body: bytes) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in body.decode().split())


# -- the daemon's response head, parsed in C ----------------------------------

def test_response_head_parser() -> None:
    head = (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\nKeep-Alive: x\r\n"
            b"Transfer-Encoding: chunked\r\nX-A: b\r\n\r\n")
    with pytest.raises(ValueError, match="both Transfer-Encoding and Content-Length"):
        parse_response_head(head)
    n, code, lines, clen, is_chunked = parse_response_head(
        b"HTTP/1.0 404 Not Here\nX-A: b\nUpgrade: h2\nContent-Length: 7\n\nbody")
    assert (n, code, lines, clen, is_chunked) == (
        len(b"HTTP/1.0 404 Not Here\nX-A: b\nUpgrade: h2\nContent-Length: 7\n\n"), 404,
        [b"X-A: b", b"Content-Length: 7"], 7, False)
    assert parse_response_head(b"HTTP/1.1 200 OK\r\nX-A: b\r\n") is None
    for bad in (b"Status: 200 OK\r\n\r\n", b"HTTP/1.1 20 OK\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000):
        with pytest.raises(ValueError):
            parse_response_head(bad)


# -- relaying --------------------------------------------------------------------

def test_keep_alive_across_requests(router: RouterServer) -> None:
    with router.connect() as sock:
        reader = Reader(sock)
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: example.org:81\r\n\r\n")
        r = reader.response()
        assert r.status == 200 and r.header("X-Hop") == "kept"
        # The daemon's hop-by-hop fields never reach the client; Date/Server do.
        assert r.header("Connection") is None and r.header("Keep-Alive") is None
        assert r.header("Date") and r.header("Server") == "fastwsgi"
        f = fields(r.body)
        assert f["server"] == "example.org:81" and f["remote"] == "127.0.0.1"
        assert f["queue"] == "True" and f["framed"] == "False"
        sock.sendall(post("/echo", b"hello"))
        r = reader.response()
        assert fields(r.body)["len"] == "5" and fields(r.body)["cl"] == "5"
        sock.sendall(chunked("/echo", [b"ab", b"cde"]))
        assert fields(reader.response().body)["len"] == "5"
        sock.sendall(b"HEAD /big?n=1000 HTTP/1.1\r\nHost: t\r\n\r\n")
        r = reader.response("HEAD")
        assert r.status == 200 and r.body == b""
        sock.sendall(b"GET /nocontent HTTP/1.1\r\nHost: t\r\n\r\n")
        r = reader.response()
        assert r.status == 204 and r.header("Transfer-Encoding") is None
        # Pipelined: two requests in one send, answered in order.
        sock.sendall(post("/echo", b"12") + b"GET /big?n=70000 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert fields(reader.response().body)["len"] == "2"
        r = reader.response()
        assert r.header("Transfer-Encoding") == "chunked" and r.body == b"x" * 70000
    assert not router.errors(), router.errors()


def test_http10_is_close_delimited(router: RouterServer) -> None:
    with router.connect() as sock:
        sock.sendall(b"GET /big?n=100000 HTTP/1.0\r\n\r\n")
        r = Reader(sock).response()
        assert r.version == "HTTP/1.1" and r.status == 200
        assert r.header("Transfer-Encoding") is None and r.header("Content-Length") is None
        assert r.header("Connection") == "close" and r.body == b"x" * 100000


def test_chunked_upload_is_relayed_as_a_streamed_body(router: RouterServer) -> None:
    pieces = [os.urandom(n) for n in (1, 70000, 3, 200000)]
    whole = b"".join(pieces)
    with router.connect() as sock:
        sock.sendall(chunked("/echo", pieces))
        f = fields(Reader(sock).response().body)
    assert f["len"] == str(len(whole)) and f["sha"] == hashlib.sha256(whole).hexdigest()
    # No length, a half-close ends it; the app sees wsgi.input_terminated.
    assert (f["cl"], f["stream"], f["terminated"], f["te"]) == ("-", "1", "True", "-")


def _sysctl(name: str) -> int:
    with open(f"/proc/sys/net/core/{name}") as f:
        return int(f.read())


def _queued(server: RouterServer, n: int, seconds: float = 5) -> int:
    """Bytes of a 1 MiB body queued unread for the app once n were (or seconds passed)."""
    with server.connect() as sock:
        sock.sendall(post(f"/queued?n={n}&s={seconds}", os.urandom(MiB)))
        response = Reader(sock).response()
    assert response.status == 200
    return int(fields(response.body)["queued"])


def test_large_body_is_queued_for_the_app_without_waiting_for_it(router: RouterServer) -> None:
    # The router's socket to the daemon gets a 1 MiB SO_SNDBUF for a large
    # body: the body goes over in one go instead of stopping every ~200 KiB
    # (the OS default) until the application reads. The kernel caps the size
    # asked for at net.core.wmem_max, then doubles it.
    expected = min(MiB, 2 * _sysctl("wmem_max")) * 3 // 4
    if expected <= _sysctl("wmem_default"):
        pytest.skip("the OS default send buffer already holds that much")
    assert _queued(router, expected) >= expected


def test_receive_buffer_size_is_the_routers_send_buffer(fresh: list[RouterServer]) -> None:
    # receive-buffer-size is the direction into the daemon: on the router's
    # end that is SO_SNDBUF, the size that bounds an AF_UNIX stream (64 KiB
    # here once doubled). send-buffer-size is the other direction: even 1 MiB
    # of it lets no more of the body through.
    server = start(fresh, "--receive-buffer-size", "32768", "--send-buffer-size", str(MiB))
    assert _queued(server, MiB // 2, seconds=1) < 256 * 1024


def _upload_16mib(server: HttpServer, path: str) -> tuple[Response, bytes]:
    body = os.urandom(16 * MiB)
    sock = server.connect(timeout=30)
    errors: list[BaseException] = []

    def send() -> None:
        try:
            sock.sendall(post(path, body))
        except OSError as exc:  # the server may close once the response is out
            errors.append(exc)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        response = read_big(sock)
    finally:
        sender.join(30)
        sock.close()
    return response, body


def read_big(sock: socket.socket) -> Response:
    """One response with a large body, read in linear time (Reader copies)."""
    reader = Reader(sock)
    head = reader.until(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")
    headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    version, status, reason = lines[0].split(" ", 2)
    response = Response(version, int(status), reason, headers, b"", head)
    data = bytearray(reader.buf)
    length = response.header("Content-Length")
    while True:
        if length is not None and len(data) >= int(length):
            break
        if length is None and data.endswith(b"\r\n0\r\n\r\n"):
            break
        more = sock.recv(1 << 20)
        if not more:
            break
        data += more
    if length is None:
        decoder = ChunkedDecoder()
        response.body = decoder.feed(bytes(data))
        assert decoder.done
    else:
        response.body = bytes(data)
    return response


def test_16mib_answer_to_16mib_upload_unread_by_the_app(fresh: list[RouterServer]) -> None:
    server = start(fresh, "--receive-buffer-size", "4096", "--send-buffer-size", "4096")
    r, _ = _upload_16mib(server, f"/big?n={16 * MiB}")
    assert r.status == 200 and len(r.body) == 16 * MiB
    assert not server.errors(), server.errors()


# 106496 doubled is 212992, Linux's usual default: the router's end as it was
# before large bodies got a larger send buffer.
@pytest.mark.parametrize("buffers", [[], ["--receive-buffer-size", "106496"]],
                         ids=["defaults", "os-default-router-sndbuf"])
def test_unread_uploads_with_default_buffers_never_stall(fresh: list[RouterServer],
                                                         buffers: list[str]) -> None:
    # With the OS's buffer sizes, a client send could drain the router's
    # output buffer exactly while its daemon-side buffer was full; the relay
    # then slept until the daemon closed (its 5 s linger). socket-timeout 3 s
    # turns such a stall into a visible truncation and a logged timeout.
    server = start(fresh, "--socket-timeout", "3", *buffers)
    for _ in range(6):
        r, _ = _upload_16mib(server, f"/big?n={16 * MiB}")
        assert r.status == 200 and len(r.body) == 16 * MiB
    assert not server.errors(), server.errors()


def test_unread_uploads_answered_by_a_daemon_serving_http_itself() -> None:
    # One hop, no router: the daemon closes with the body still coming, so it
    # must half-close and drop the rest for a moment; a plain close resets
    # the connection and the client loses the end of the response.
    with HttpServer("router_app:application", "--threads", "2") as server:
        for _ in range(6):
            r, _ = _upload_16mib(server, f"/big?n={16 * MiB}")
            assert r.status == 200 and len(r.body) == 16 * MiB
        assert "[error]" not in server.log(), server.log()


def test_16mib_answer_to_16mib_upload_read_first(fresh: list[RouterServer]) -> None:
    server = start(fresh, "--receive-buffer-size", "4096", "--send-buffer-size", "4096")
    r, body = _upload_16mib(server, f"/big-read?n={16 * MiB}")
    assert r.status == 200 and len(r.body) == 16 * MiB
    assert r.header("X-Read") == str(16 * MiB)
    assert r.header("X-Sha") == hashlib.sha256(body).hexdigest()


def test_big_upload_ends_where_its_length_says_before_a_pipelined_request(
        router: RouterServer) -> None:
    # Past the client's buffer, a big Content-Length body is spliced through
    # a pipe: never more than the body, so the request behind it stays whole.
    body = os.urandom(3 * MiB + 7)
    with router.connect(timeout=30) as sock:
        sock.sendall(post("/big-read?n=5", body) + post("/echo", b"after"))
        reader = Reader(sock)
        first, second = reader.response(), reader.response()
    assert (first.status, first.body) == (200, b"xxxxx")
    assert first.header("X-Read") == str(len(body))
    assert first.header("X-Sha") == hashlib.sha256(body).hexdigest()
    assert fields(second.body)["sha"] == hashlib.sha256(b"after").hexdigest()


def test_urgent_byte_inside_a_big_upload_is_stepped_over(router: RouterServer) -> None:
    # splice(2) stops at TCP urgent data while poll says readable: relayed
    # by splice alone, the exchange would wake for ever and never finish.
    # As with recv, the urgent byte is not part of the stream.
    half = os.urandom(512 * 1024)
    with router.connect(timeout=20) as sock:
        sock.sendall(b"POST /big-read?n=2 HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
                     % (2 * len(half)) + half)
        sock.send(b"!", socket.MSG_OOB)
        sock.sendall(half)
        r = Reader(sock).response()
    assert (r.status, r.header("X-Read")) == (200, str(2 * len(half)))
    assert r.header("X-Sha") == hashlib.sha256(half + half).hexdigest()


@pytest.mark.parametrize("how", ["close", "reset"])
def test_client_gone_mid_upload_frees_the_daemon_thread(fresh: list[RouterServer],
                                                         how: str) -> None:
    # One daemon thread, reading a 16 MiB body of which 2 MiB came (most of
    # it through the splice pipe). The client goes: the router must end the
    # daemon's connection so the read fails, and the thread must take the
    # next request long before socket-timeout would have freed it.
    server = start(fresh, "--threads", "1", "--socket-timeout", "60")
    with server.connect() as sock:
        sock.sendall(b"POST /big-read?n=5 HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
                     % (16 * MiB) + os.urandom(2 * MiB))
        if how == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with server.connect(timeout=20) as sock:
        sock.sendall(post("/echo", b"next"))
        r = Reader(sock).response()
    assert fields(r.body)["len"] == "4"


# -- failures --------------------------------------------------------------------

def _get(server: RouterServer, path: str, timeout: float = 20.0,  # type: ignore[no-untyped-def]
         method: str = "GET"):
    with server.connect(timeout=timeout) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        reader = Reader(sock)
        response = reader.response(method)
        assert reader.closed()  # every error response closes the connection
        return response


def test_503_when_the_group_socket_refuses_until_connect_timeout(
        fresh: list[RouterServer]) -> None:
    server = start(fresh, "--connect-timeout", "0.6")
    os.unlink(server.group_socket)
    squatter = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    squatter.bind(server.group_socket)  # bound, never listening: ECONNREFUSED
    try:
        began = time.monotonic()
        r = _get(server, "/echo")
        waited = time.monotonic() - began
    finally:
        squatter.close()
    assert r.status == 503 and waited >= 0.6
    lines = server.errors()
    assert len(lines) == 1 and "Unable to connect to WSGI daemon process 'router_app' on " \
        f"'{server.group_socket}' after multiple attempts" in lines[0], lines
    assert "Connection refused" in lines[0] and "GET /echo" in lines[0]


def test_503_at_once_when_the_group_socket_is_missing(fresh: list[RouterServer]) -> None:
    server = start(fresh, "--connect-timeout", "30")
    os.unlink(server.group_socket)
    began = time.monotonic()
    r = _get(server, "/echo")
    assert r.status == 503 and time.monotonic() - began < 10
    head = _get(server, "/echo", method="HEAD")  # closed right after its head: no body
    assert (head.status, head.header("Content-Length"), head.body) == (503, "20", b"")
    lines = server.errors()
    assert len(lines) == 2 and "Unable to connect to WSGI daemon process 'router_app'" in lines[0]
    assert "No such file or directory" in lines[0], lines


def test_502_when_the_daemon_is_killed_before_answering(fresh: list[RouterServer]) -> None:
    server = start(fresh)
    with server.connect() as sock:
        sock.sendall(b"GET /hang?t=k502 HTTP/1.1\r\nHost: t\r\n\r\n")
        os.kill(server.daemon_pid("k502"), signal.SIGKILL)
        reader = Reader(sock)
        r = reader.response()
        assert r.status == 502 and reader.closed()
    lines = server.errors()
    assert len(lines) == 1 and "Daemon process 'router_app' closed connection before " \
        "sending complete response headers; answered 502 to GET /hang" in lines[0], lines
    # The supervisor replaces the daemon and the router relays to the new one.
    wait_for(lambda: _get_ok(server), 20, "a replacement daemon answering")


def _get_ok(server: RouterServer) -> bool:
    with server.connect() as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        return Reader(sock).response().status == 200


@pytest.mark.parametrize("path", ["/partial", "/partial-cl"])
def test_truncation_is_visible_when_the_daemon_dies_mid_body(
        fresh: list[RouterServer], path: str) -> None:
    server = start(fresh)
    with server.connect() as sock:
        sock.sendall(f"GET {path}?t=mid HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        reader = Reader(sock)
        head = reader.until(b"\r\n\r\n")
        if path == "/partial":
            assert b"Transfer-Encoding: chunked" in head
            assert reader.until(b"\r\n") == b"3e8\r\n"
        else:
            assert b"Content-Length: 1000000" in head
        reader.exact(1000)
        os.kill(server.daemon_pid("mid"), signal.SIGKILL)
        rest = reader.rest()  # ends with the close
        assert b"0\r\n\r\n" not in rest and len(rest) <= 2, rest
    lines = server.errors()
    assert len(lines) == 1 and "Daemon process 'router_app' closed connection after 1000 " \
        "bytes of the response body" in lines[0] and "truncation is visible" in lines[0], lines


def test_504_when_no_head_arrives_within_socket_timeout(fresh: list[RouterServer]) -> None:
    server = start(fresh, "--socket-timeout", "1", "--graceful-timeout", "0.5",
                   "--shutdown-timeout", "0.5")
    began = time.monotonic()
    r = _get(server, "/hang?t=slow")
    assert r.status == 504 and 1 <= time.monotonic() - began < 15
    lines = server.errors()
    assert len(lines) == 1 and "Timeout when reading response headers from daemon process " \
        "'router_app'; answered 504 to GET /hang" in lines[0], lines


class StandInDaemon:
    """Answers the next `count` requests on a group's socket in place of its
    daemons, each with the same bytes and then a close: a daemon that frames
    its body as it likes, whatever the router asked for."""

    def __init__(self, path: str, answer: bytes, count: int, sndbuf: int = 0,
                 reads: tuple[int, ...] = ()) -> None:
        os.unlink(path)
        self.sndbuf = sndbuf  # SO_SNDBUFFORCE: the whole answer queued before the close
        self.reads = reads  # body bytes read from request i before answering (else none)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(8)
        self.listener.settimeout(20)
        self.answer, self.count = answer, count
        self.frames: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for i in range(self.count):
            conn, _ = self.listener.accept()
            if self.sndbuf:
                conn.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, self.sndbuf)
            with conn:
                reader = Reader(conn)
                size = int.from_bytes(reader.exact(4)[1:3], "little")
                self.frames.append(reader.exact(size))
                if i < len(self.reads):  # exactly: the Reader reads ahead
                    left = self.reads[i] - len(reader.buf)
                    assert left >= 0
                    while left and (data := conn.recv(min(left, 65536))):
                        left -= len(data)
                conn.sendall(self.answer)

    def close(self) -> None:
        self.thread.join(20)
        self.listener.close()
        assert not self.thread.is_alive() and len(self.frames) == self.count


def test_daemon_closing_on_the_last_piped_bytes_keeps_the_connection(
        fresh: list[RouterServer]) -> None:
    # The whole body was taken from the client into the splice pipe when the
    # daemon answered and closed 16 KiB short of reading it: the body is
    # over all the same, so the connection stays and the next request is
    # relayed at once (not after socket-timeout, 30 s here).
    server = start(fresh, "--receive-buffer-size", "4096", "--socket-timeout", "30")
    body = os.urandom(256 * 1024)
    daemon = StandInDaemon(server.group_socket,
                           b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 2,
                           reads=(len(body) - 16384,))
    try:
        with server.connect() as sock:
            reader = Reader(sock)
            sock.sendall(post("/x", body))
            first = reader.response()
            sock.sendall(b"GET /y HTTP/1.1\r\nHost: t\r\n\r\n")
            second = reader.response()
        assert (first.body, first.header("Connection")) == (b"ok", None)
        assert second.body == b"ok"
    finally:
        daemon.close()
    assert b"GET /y " not in daemon.frames[0] and b"/y" in daemon.frames[1]


# A body the size of several relay buffers, so that it goes out in many sends.
STAND_IN_BODY = os.urandom(3 * MiB + 12345)


@pytest.mark.parametrize("version", ["1.1", "1.0"])
def test_unframed_daemon_body_gets_the_clients_framing(fresh: list[RouterServer],
                                                       version: str) -> None:
    server = start(fresh)
    daemon = StandInDaemon(server.group_socket, b"HTTP/1.1 200 OK\r\nX-T: 1\r\n\r\n"
                           + STAND_IN_BODY, 1)
    try:
        with server.connect() as sock:
            sock.sendall(f"GET /x HTTP/{version}\r\nHost: t\r\n\r\n".encode())
            reader = Reader(sock)
            r = reader.response()
            assert r.status == 200 and r.header("X-T") == "1"
            if version == "1.1":  # chunked by the router; the connection stays
                assert r.header("Transfer-Encoding") == "chunked"
            else:  # close-delimited
                assert r.header("Transfer-Encoding") is None and r.header("Connection") == "close"
                assert r.header("Content-Length") is None
            assert hashlib.sha256(r.body).digest() == hashlib.sha256(STAND_IN_BODY).digest()
            assert len(r.body) == len(STAND_IN_BODY)
    finally:
        daemon.close()
    assert not server.errors(), server.errors()


def test_content_length_body_is_relayed_to_its_end_only(fresh: list[RouterServer]) -> None:
    server = start(fresh)
    n = len(STAND_IN_BODY)
    daemon = StandInDaemon(server.group_socket, b"HTTP/1.1 200 OK\r\nContent-Length: "
                           + str(n).encode() + b"\r\n\r\n" + STAND_IN_BODY + b"extra bytes", 2)
    try:
        with server.connect() as sock:
            reader = Reader(sock)
            for _ in range(2):  # the connection is kept: the extra bytes were not relayed
                sock.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
                r = reader.response()
                assert r.status == 200 and r.header("Content-Length") == str(n)
                assert r.body == STAND_IN_BODY
            assert not reader.buf
    finally:
        daemon.close()
    assert not server.errors(), server.errors()


def _unfinished_upload(server: RouterServer, version: str) -> socket.socket:
    """A client that announces a 100,000-byte body and sends 10 bytes of it."""
    family, address = server.addresses[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(10)  # well under the server's socket-timeout
    sock.connect(address)  # type: ignore[arg-type]
    sock.sendall(f"POST /x HTTP/{version}\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"
                 .encode() + b"0123456789")
    return sock


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_answer_before_a_big_upload_says_connection_close(fresh: list[RouterServer],
                                                          framing: str) -> None:
    # The daemon answers without reading: the upload's rest (over
    # drain_limit, or chunked and unfinished) will not be drained, so the
    # answer must say that the connection ends with it.
    server = start(fresh, "--socket-timeout", "30")
    daemon = StandInDaemon(server.group_socket,
                           b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1)
    framing_field = "Content-Length: 5242880" if framing == "length" else \
        "Transfer-Encoding: chunked"
    try:
        with server.connect() as sock:
            sock.sendall(f"POST /x HTTP/1.1\r\nHost: t\r\n{framing_field}\r\n\r\n".encode()
                         + (b"0123456789" if framing == "length" else b"a\r\n0123456789\r\n"))
            r = Reader(sock).response()
        assert (r.status, r.body, r.header("Connection")) == (200, b"ok", "close")
    finally:
        daemon.close()


def test_chunked_upload_over_limit_request_body_is_413(fresh: list[RouterServer]) -> None:
    # A Content-Length is judged before the daemon is asked; a chunked body
    # only as its chunks come: the one that would pass the limit is refused.
    server = start(fresh, "--limit-request-body", "1000")
    with server.connect() as sock:
        sock.sendall(chunked("/echo", [b"a" * 600, b"b" * 300]))
        r = Reader(sock).response()
        assert fields(r.body)["len"] == "900"
        sock.sendall(chunked("/echo", [b"a" * 600, b"b" * 600]))
        reader = Reader(sock)
        r = reader.response()
        assert (r.status, r.header("Connection")) == (413, "close")
        assert reader.closed()
    lines = [line for line in server.errors() if "limit-request-body" in line]
    assert len(lines) == 1 and "(1000 bytes): 413 for POST /echo" in lines[0], server.errors()


def _read_to_close(sock: socket.socket) -> bytes:
    """Everything until the close; a close that waits for the server's
    socket-timeout fails here, on the client's shorter one."""
    out = bytearray()
    while data := sock.recv(1 << 20):
        out += data
    return bytes(out)


def test_daemon_gone_mid_body_closes_the_client_at_once_during_an_upload(
        fresh: list[RouterServer]) -> None:
    # The daemon's whole answer (4 MiB of a promised 16) and its close are
    # queued before the client reads, so the router learns of the close while
    # it still holds body bytes the client has no room for. The client is on
    # a UNIX socket: the router's send buffer there is fixed (TCP's grows to
    # take it all), so its sends stop short every time. The response must end
    # once those bytes are sent, not after a wait for more of the upload.
    tmp = short_tmpdir()
    server = start(fresh, "--socket-timeout", "30", tmpdir=tmp,
                   binds=(f"unix:{os.path.join(tmp, 'r.sock')}",))
    body = os.urandom(4 * MiB)
    daemon = StandInDaemon(server.group_socket, b"HTTP/1.1 200 OK\r\nContent-Length: "
                           + str(16 * MiB).encode() + b"\r\n\r\n" + body, 1, sndbuf=32 * MiB)
    try:
        with _unfinished_upload(server, "1.1") as sock:
            daemon.thread.join(20)  # the answer and the close are queued
            head, _, got = _read_to_close(sock).partition(b"\r\n\r\n")
        assert b"Content-Length: 16777216" in head and got == body
    finally:
        daemon.close()
    lines = server.errors()
    assert len(lines) == 1 and "closed connection after 4194304 bytes of the response body" \
        in lines[0], lines


@pytest.mark.parametrize("framing", ["none", "chunked"])
def test_close_delimited_answer_ends_without_waiting_for_the_upload(
        fresh: list[RouterServer], framing: str) -> None:
    # HTTP/1.0: an unframed body, or a chunked one de-chunked on the way, ends
    # with the close; the rest of the upload is not awaited first.
    server = start(fresh, "--socket-timeout", "30")
    answer = b"HTTP/1.1 200 OK\r\n\r\n" + STAND_IN_BODY if framing == "none" else \
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%b\r\n0\r\n\r\n" \
        % (len(STAND_IN_BODY), STAND_IN_BODY)
    daemon = StandInDaemon(server.group_socket, answer, 1)
    try:
        with _unfinished_upload(server, "1.0") as sock:
            head, _, got = _read_to_close(sock).partition(b"\r\n\r\n")
        assert b"Connection: close" in head and got == STAND_IN_BODY
    finally:
        daemon.close()
    assert not server.errors(), server.errors()


@pytest.mark.parametrize("cut", [b"5\r\nhel", b"5\r\nhello\r", b"5\r\nhello\r\n3",
                                 b"5\r\nhello\r\n0\r\n\r", b"5\r\nhello\r\n0\r\nX-T: 1"])
def test_chunked_answer_cut_anywhere_is_closed_at_once(fresh: list[RouterServer],
                                                        cut: bytes) -> None:
    # The daemon closes inside its chunked framing (data, a CRLF, a size line,
    # the trailer section): the client's connection is closed without a final
    # chunk, at once (it once spun a router thread for good), with one line.
    server = start(fresh, "--socket-timeout", "30")
    daemon = StandInDaemon(server.group_socket,
                           b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + cut, 1)
    try:
        with server.connect() as sock:
            sock.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
            head, _, got = _read_to_close(sock).partition(b"\r\n\r\n")
        assert b"Transfer-Encoding: chunked" in head and got.startswith(cut[:6])
        assert not got.endswith(b"\r\n\r\n"), got
    finally:
        daemon.close()
    lines = server.errors()
    assert len(lines) == 1 and "closed connection after" in lines[0] \
        and "truncation is visible" in lines[0], lines


def test_malformed_chunked_upload_is_answered_400(router: RouterServer) -> None:
    before = len(router.errors())
    with router.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"zz\r\nab\r\n0\r\n\r\n")
        reader = Reader(sock)
        assert reader.response().status == 400
        assert reader.closed()
    wait_for(lambda: len(router.errors()) > before, 10, "the 400's log line")
    assert "Refused a request with 400 Bad Request: chunk size is not hexadecimal" \
        in router.errors()[-1]


ROUTER_PID = re.compile(r"Router process for daemon group 'router_app' \(pid=(\d+)\)")


def router_pids(server: RouterServer, n: int) -> list[int]:
    """The pids of the n router processes, once each has logged its start."""
    wait_for(lambda: len(set(ROUTER_PID.findall(server.log()))) == n, 10,
             f"{n} router processes' lines")
    return sorted({int(p) for p in ROUTER_PID.findall(server.log())})


@pytest.mark.parametrize("n", [1, 3])
def test_router_processes_all_relay(fresh: list[RouterServer], n: int) -> None:
    server = start(fresh, "--router-processes", str(n))
    pids = router_pids(server, n)
    assert len(pids) == n
    for pid in pids:
        os.kill(pid, 0)  # alive
    assert all(_get_ok(server) for _ in range(20))


def test_one_router_thread_relays_many_requests_at_once(fresh: list[RouterServer]) -> None:
    # No router thread waits for a daemon: an exchange waiting for its
    # response is parked in the event set, so a single router thread keeps
    # six requests in the application at the same time (the app answers
    # "met" only when all six are in it together).
    server = start(fresh, "--threads", "8", "--router-processes", "1", "--router-threads", "1")
    socks = [server.connect() for _ in range(6)]
    try:
        for sock in socks:
            sock.sendall(b"GET /meet?n=6 HTTP/1.1\r\nHost: t\r\n\r\n")
        bodies = [Reader(sock).response() for sock in socks]
        assert [(r.status, r.body) for r in bodies] == [(200, b"met")] * 6
    finally:
        for sock in socks:
            sock.close()


def test_connect_retries_hold_no_thread(fresh: list[RouterServer]) -> None:
    # The daemon's one thread holds request A, and its backlog of 1 is full,
    # so the next requests' connects are refused with EAGAIN and retried.
    # When A is released, its 4 MiB answer must still be relayed (by the
    # router's only thread) while those retries wait: if a retry slept in
    # that thread, the daemon would block writing A, never accept again, and
    # the waiting requests would get 503 after connect-timeout.
    server = start(fresh, "--processes", "1", "--threads", "1", "--listen-backlog", "1",
                   "--connect-timeout", "8", "--router-processes", "1", "--router-threads", "1")
    a = server.connect()
    others = []
    try:
        a.sendall(f"GET /wait?t=a&n={4 * MiB} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        server.daemon_pid("a")
        for i in range(5):
            sock = server.connect()
            others.append(sock)
            sock.sendall(f"GET /wait?t=o{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        for i in range(5):
            Path(server.pids_dir, f"o{i}.go").touch()
        Path(server.pids_dir, "a.go").touch()
        ra = Reader(a).response()
        assert ra.status == 200 and len(ra.body) == 4 * MiB
        assert [Reader(s).response().status for s in others] == [200] * 5
        assert server.errors() == []
    finally:
        for sock in [a, *others]:
            sock.close()


def test_stop_lets_suspended_exchanges_finish(fresh: list[RouterServer]) -> None:
    # Relayed requests waiting for their daemon are held by the event set,
    # not by threads: SIGTERM must still let each of them finish (with
    # Connection: close) before the router exits.
    server = start(fresh, "--threads", "4", "--router-processes", "1", "--router-threads", "1")
    socks = [server.connect() for _ in range(3)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(f"GET /wait?t=w{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        for i in range(3):
            server.daemon_pid(f"w{i}")
        server.signal(signal.SIGTERM)
        wait_for(lambda: "Shutdown requested" in server.log(), 10, "the daemon told to stop")
        for i in range(3):
            Path(server.pids_dir, f"w{i}.go").touch()
        responses = [Reader(sock).response() for sock in socks]
        assert [(r.status, r.body, r.header("Connection")) for r in responses] == \
            [(200, b"released", "close")] * 3
        assert server.wait_exit(20) == 0
    finally:
        for sock in socks:
            sock.close()


def test_stop_past_graceful_timeout_counts_the_requests_left(fresh: list[RouterServer]) -> None:
    # One request never answered (the app sleeps): the router gives up after
    # graceful-timeout and names how many requests it leaves, not how many
    # threads it has (a waiting exchange holds none).
    server = start(fresh, "--graceful-timeout", "0.5", "--shutdown-timeout", "0.5",
                   "--router-processes", "1", "--router-threads", "3")
    with server.connect() as sock:
        sock.sendall(b"GET /hang?t=left HTTP/1.1\r\nHost: t\r\n\r\n")
        server.daemon_pid("left")
        server.signal(signal.SIGTERM)
        server.wait_exit(20)
    assert re.search(r"Router process for 'router_app' \(pid=\d+\) exiting with 1 requests "
                     r"still being served after graceful-timeout 0.5s", server.log()), server.log()


def test_router_processes_take_turns_at_the_listener(fresh: list[RouterServer]) -> None:
    # Each router process must take its turn at the listener: with
    # EPOLLEXCLUSIVE alone, the one that registered first took every
    # connection (20 and 0 here every time). Connections come one after
    # another, each answered before the next, so the turn order decides
    # alone; a burst queued before any accept can still be skewed by the
    # scheduler (one busy thread re-finds the listener ready).
    server = start(fresh, "--router-processes", "2")
    pids = router_pids(server, 2)
    wait_for(lambda: all(threads_waiting_in_epoll(p) >= 1 for p in pids), 10,
             "both routers' threads waiting for connections")
    socks = []
    try:
        for _ in range(20):
            sock = server.connect()
            socks.append(sock)
            sock.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
            assert Reader(sock).response().status == 200
        counts = connections_by_pid(pids, server.port)
        assert sum(counts.values()) == 20, counts
        assert min(counts.values()) >= 5, counts
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize("flag", ["--router-processes", "--router-threads"])
def test_router_counts_below_one_are_refused(tmp_path: Path, flag: str) -> None:
    r = subprocess.run([sys.executable, "-m", "fastwsgi", "serve", "router_app:application",
                        "--router", flag, "0"], capture_output=True, text=True, timeout=30,
                       cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert "--router-processes and --router-threads must be >= 1" in r.stderr
