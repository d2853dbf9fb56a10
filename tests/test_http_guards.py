"""The HTTP side against clients that stall or vanish and applications that
misuse its objects, over real sockets: none of them may cost a worker thread,
corrupt a response or reach another request's connection.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.http_server import HttpServer, Reader, get
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

MiB = 1 << 20


@pytest.fixture(scope="module")
def misuse() -> Iterator[HttpServer]:
    with HttpServer("http_misuse:application", "--threads", "1",
                    "--socket-timeout", "1") as server:
        yield server


def _worker_failures(server: HttpServer) -> list[str]:
    return [line for line in server.log().splitlines()
            if "worker thread" in line or "Traceback" in line]


@pytest.mark.parametrize("how", ["stall", "reset"])
def test_client_stalling_or_resetting_during_the_drain_costs_no_thread(how: str) -> None:
    # One thread: the app answers without reading a 10-byte body of which 5
    # came; the server drains the rest to keep the connection, and the client
    # stalls (socket-timeout) or resets. The thread must serve the next one.
    with HttpServer("http_echo:application", "--threads", "1",
                    "--socket-timeout", "1") as server:
        with server.connect() as sock:
            sock.sendall(b"POST /x?noread HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345")
            assert Reader(sock).response().status == 200
            if how == "stall":
                assert Reader(sock).closed()  # after socket-timeout
            else:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with server.connect() as sock:
            sock.sendall(get("/after"))
            assert Reader(sock).response().header("X-Path") == "/after?"
        assert not _worker_failures(server), server.log()


def test_no_100_continue_once_the_response_has_begun(misuse: HttpServer) -> None:
    with misuse.connect() as sock:
        sock.sendall(b"POST /write-then-read HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        reader = Reader(sock)
        head = reader.until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
        assert reader.exact(5) == b"01234"
        sock.sendall(b"abc")  # the app's read waits for it
        assert reader.exact(5) == b"56789"


def test_kept_wsgi_input_and_write_expire_with_their_request(misuse: HttpServer) -> None:
    # The same thread serves the second request: what the first kept must not
    # read the second's connection or write into its response.
    with misuse.connect() as sock:
        reader = Reader(sock)
        sock.sendall(b"POST /stash HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        assert reader.response().body == b"stashed"
        sock.sendall(get("/use-stash"))
        r = reader.response()
        assert r.body == b"read:RuntimeError write:RuntimeError", r
    assert not _worker_failures(misuse), misuse.log()


def test_swallowed_send_failure_ends_the_connection(misuse: HttpServer) -> None:
    # The app catches the error of a send that ran out of socket-timeout and
    # goes on writing: the response is cut short for good, and the connection
    # closes instead of being kept with bytes missing.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(misuse.addresses[0][1])  # type: ignore[arg-type]
        sock.sendall(get("/swallow"))
        line = wait_for(lambda: [x for x in Path(misuse.record).read_text().splitlines()
                                 if x.startswith("swallowed")]
                        if Path(misuse.record).exists() else None, 30, "the app's end")
        assert int(line[0].split()[1]) > 0
        got = 0
        while data := sock.recv(1 << 20):  # to the close: a kept connection times out
            got += len(data)
    assert got < 16 * MiB
