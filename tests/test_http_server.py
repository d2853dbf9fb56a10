"""HTTP/1.1 served by the daemons themselves (--bind), over real sockets.

Keep-alive, pipelining, 100-continue, request bodies, response framing,
application errors, client disconnects, listeners and the environ. Every test
talks to a real `fastwsgi serve APP --bind 127.0.0.1:0` subprocess; the apps
are tests/apps/http_*.py (one per behaviour) and a few shared wsgi_* ones.
Servers are shared per app within this module; each test uses its own paths
so that the call record of http_echo tells requests apart.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.http_server import HttpServer, Reader, Response, exchange, get, no_date, tag
from tests.support.server import short_tmpdir
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

SPLITS = ["whole", "bytewise", "random"]


# -- helpers -----------------------------------------------------------------

def send_split(sock: socket.socket, data: bytes, split: str) -> None:
    """Send data whole, one byte per send, or in random pieces."""
    if split == "whole":
        sock.sendall(data)
        return
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rng = random.Random(len(data))
    pos = 0
    while pos < len(data):
        n = 1 if split == "bytewise" else rng.randint(1, 17)
        sock.sendall(data[pos:pos + n])
        pos += n


def _serve(server: HttpServer) -> Iterator[HttpServer]:
    with server:
        yield server


@pytest.fixture(scope="module")
def echo() -> Iterator[HttpServer]:
    yield from _serve(HttpServer("http_echo:application", "--threads", "4"))


@pytest.fixture(scope="module")
def framing() -> Iterator[HttpServer]:
    yield from _serve(HttpServer("http_framing:application", "--threads", "2"))


@pytest.fixture(scope="module")
def failing() -> Iterator[HttpServer]:
    yield from _serve(HttpServer("http_errors:application", "--threads", "2"))


@pytest.fixture(scope="module")
def env_server() -> Iterator[HttpServer]:
    yield from _serve(HttpServer("wsgi_env:application", "--threads", "2"))


# -- keep-alive ----------------------------------------------------------------

def test_http11_keeps_the_connection_for_several_requests(echo: HttpServer) -> None:
    t = tag()
    with echo.connect() as sock:
        reader = Reader(sock)
        for i in range(4):
            sock.sendall(get(f"/{t}/{i}"))
            r = reader.response()
            assert (r.status, r.header("X-Path"), r.header("Connection")) == (200, f"/{t}/{i}?", None)
        sock.sendall(get(f"/{t}/last", "Connection: close\r\n"))
        r = reader.response()
        assert r.header("Connection") == "close"
        assert reader.closed()
    assert echo.calls()[-5:] == [f"GET /{t}/{i}?" for i in (0, 1, 2, 3, "last")]


def test_http10_keep_alive_is_answered_in_kind(echo: HttpServer) -> None:
    with echo.connect() as sock:
        reader = Reader(sock)
        for i in range(2):
            sock.sendall(get(f"/ka10/{i}", "Connection: keep-alive\r\n", "1.0"))
            r = reader.response()
            assert r.version == "HTTP/1.1"
            assert (r.status, r.header("Connection"), r.header("X-Path")) == \
                (200, "keep-alive", f"/ka10/{i}?")


def test_http10_without_keep_alive_is_closed_after_the_response(echo: HttpServer) -> None:
    with echo.connect() as sock:
        sock.sendall(get("/plain10", version="1.0"))
        reader = Reader(sock)
        r = reader.response()
        assert (r.status, r.header("Connection"), r.header("Content-Length")) == (200, "close", "0")
        assert reader.closed()


def test_connection_close_is_honoured(echo: HttpServer) -> None:
    with echo.connect() as sock:
        sock.sendall(b"POST /cc HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     b"Content-Length: 3\r\n\r\nabc")
        reader = Reader(sock)
        r = reader.response()
        assert (r.status, r.body, r.header("Connection")) == (200, b"abc", "close")
        assert reader.closed()


# -- pipelining ------------------------------------------------------------------

@pytest.mark.parametrize("split", SPLITS)
def test_pipelined_requests_are_answered_in_order(echo: HttpServer, split: str) -> None:
    t = tag()
    data = (get(f"/{t}/1") + f"POST /{t}/2 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n"
            "hello".encode() + get(f"/{t}/3?q=1") + get(f"/{t}/4", "Connection: close\r\n"))
    with echo.connect() as sock:
        send_split(sock, data, split)
        reader = Reader(sock)
        got = [reader.response() for _ in range(4)]
        assert reader.closed()
    assert [(r.status, r.header("X-Path"), r.body) for r in got] == [
        (200, f"/{t}/1?", b""), (200, f"/{t}/2?", b"hello"), (200, f"/{t}/3?q=1", b""),
        (200, f"/{t}/4?", b"")]
    assert [r.header("Connection") for r in got] == [None, None, None, "close"]


@pytest.mark.parametrize("bad", [
    (b"Content-Length: 1x\r\n", "invalid Content-Length"),
    (b"Content-Length: 5\r\nContent-Length: 6\r\n", "more than one Content-Length"),
    (b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
     "both Transfer-Encoding and Content-Length"),
    (b"Transfer-Encoding: chunked, chunked\r\n", "chunked is not the final transfer coding"),
], ids=["bad-length", "two-lengths", "te-and-cl", "double-chunked"])
def test_framing_error_answers_the_good_then_400_and_never_the_smuggled(
        echo: HttpServer, bad: tuple[bytes, str]) -> None:
    t = tag()
    fields, why = bad
    data = (get(f"/{t}/good") + f"POST /{t}/bad HTTP/1.1\r\nHost: t\r\n".encode() + fields
            + b"\r\n" + b"hello" + get(f"/{t}/smuggled"))
    before = len(echo.refused())
    with echo.connect() as sock:
        sock.sendall(data)
        reader = Reader(sock)
        first = reader.response()
        assert (first.status, first.header("X-Path")) == (200, f"/{t}/good?")
        second = reader.response()
        assert no_date(second.raw) == (
            b"HTTP/1.1 400 Bad Request\r\nDate: *\r\nServer: fastwsgi\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"
            b"Bad Request\n")
        assert reader.closed()
    new = wait_for(lambda: echo.refused()[before:], 5, "the refusal logged")
    assert len(new) == 1
    assert new[0].endswith(f"Refused a request with 400 Bad Request: {why}.")
    assert [c for c in echo.calls() if t in c] == [f"GET /{t}/good?"]


# -- 100-continue --------------------------------------------------------------

def test_100_continue_only_when_the_app_reads(echo: HttpServer) -> None:
    with echo.connect() as sock:
        sock.sendall(b"POST /cont HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        reader = Reader(sock)
        assert reader.until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"world")
        r = reader.response()
        assert (r.status, r.body, r.header("Connection")) == (200, b"world", None)
        sock.sendall(get("/after-continue"))
        assert reader.response().header("X-Path") == "/after-continue?"


def test_no_100_continue_when_the_app_does_not_read(echo: HttpServer) -> None:
    with echo.connect() as sock:
        sock.sendall(b"POST /cont?noread HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        reader = Reader(sock)
        r = reader.response()
        assert (r.status, r.body, r.header("X-Path")) == (200, b"", "/cont?noread")
        assert r.header("Connection") == "close"  # the unsent body is never read
        assert reader.closed()


def test_unread_small_body_is_drained_and_the_connection_kept(echo: HttpServer) -> None:
    with echo.connect() as sock:
        sock.sendall(b"POST /unread?noread HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n"
                     b"hello" + get("/after-unread"))
        reader = Reader(sock)
        first, second = reader.response(), reader.response()
    assert (first.body, first.header("Connection")) == (b"", None)
    assert second.header("X-Path") == "/after-unread?"


def test_unread_big_body_closes_after_a_complete_response(echo: HttpServer) -> None:
    body = b"x" * (4 << 20)  # far over what the server drains to keep the connection
    with echo.connect() as sock:
        try:
            sock.sendall(b"POST /unread-big?noread HTTP/1.1\r\nHost: t\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
        except ConnectionResetError:
            pass  # the server stopped reading and closed: expected
        r = Reader(sock).response()
    assert (r.status, r.header("X-Path"), r.body) == (200, "/unread-big?noread", b"")


def test_unread_chunked_body_says_connection_close(echo: HttpServer) -> None:
    # A chunked body's size is unknown until its end: unread, the response
    # must announce the close it ends with, never promise keep-alive and then
    # close because the drain gave up.
    chunk = b"%x\r\n%s\r\n" % (1 << 16, b"y" * (1 << 16))
    with echo.connect() as sock:
        sock.sendall(b"POST /unread-chunked?noread HTTP/1.1\r\nHost: t\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 3)
        reader = Reader(sock)
        r = reader.response()
        assert (r.status, r.header("X-Path"), r.header("Connection")) == \
            (200, "/unread-chunked?noread", "close")
        assert reader.closed()


@pytest.mark.parametrize("chunks", [b"0\r\n\r\n", b"5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n"],
                         ids=["empty", "small"])
def test_unread_chunked_body_sent_whole_keeps_the_connection(echo: HttpServer,
                                                             chunks: bytes) -> None:
    with echo.connect() as sock:
        sock.sendall(b"POST /unread-small-chunked?noread HTTP/1.1\r\nHost: t\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" + chunks + get("/after"))
        reader = Reader(sock)
        first, second = reader.response(), reader.response()
    assert (first.status, first.header("Connection")) == (200, None)
    assert second.header("X-Path") == "/after?"


BIG_CHUNKS = b"%x\r\n%s\r\n" % (1 << 16, b"z" * (1 << 16)) * 3 + b"0\r\n\r\n"


@pytest.mark.parametrize("chunks, body", [
    (b"5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n", b"helloabc"),
    (BIG_CHUNKS, b"z" * (3 << 16)),
], ids=["whole", "partly-buffered"])
def test_chunked_body_read_after_the_response_began_arrives_whole(echo: HttpServer, chunks: bytes,
                                                                  body: bytes) -> None:
    # Deciding the response's Connection header looks at the buffered body;
    # it must not consume it: the application reads it after its first write.
    # Only a body whose end was buffered then keeps the connection.
    with echo.connect() as sock:
        sock.sendall(b"POST /late-read?writefirst HTTP/1.1\r\nHost: t\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" + chunks + get("/after"))
        reader = Reader(sock)
        first = reader.response()
        whole = len(chunks) < 100
        assert (first.status, first.body) == (200, b"<" + body)
        assert first.header("Connection") == (None if whole else "close")
        if whole:
            assert reader.response().header("X-Path") == "/after?"


# -- request bodies --------------------------------------------------------------

def test_content_length_body_is_echoed(echo: HttpServer) -> None:
    body = bytes(random.Random(1).getrandbits(8) for _ in range(300_000))
    with echo.connect() as sock:
        sock.sendall(b"PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
                     + body)
        r = Reader(sock).response()
    assert (r.status, r.header("X-Content-Length"), r.header("Content-Length")) == \
        (200, "300000", "300000")
    assert r.body == body


@pytest.mark.parametrize("split", SPLITS)
def test_chunked_upload_is_dechunked(echo: HttpServer, split: str) -> None:
    chunked = (b"5;name=value\r\nhello\r\n6;quoted=\"a b\";x\r\n world\r\n"
               b"1\r\n\n\r\n0\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n")
    data = (b"POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunked + get("/after-chunked"))
    with echo.connect() as sock:
        send_split(sock, data, split)
        reader = Reader(sock)
        r = reader.response()
        after = reader.response()
    assert (r.status, r.body) == (200, b"hello world\n")
    assert (r.header("X-Content-Length"), r.header("X-Input-Terminated")) == ("-", "True")
    assert (after.status, after.header("X-Path")) == (200, "/after-chunked?")


MALFORMED_CHUNKED = pytest.mark.parametrize(
    "chunked", [b"zz\r\nhello\r\n0\r\n\r\n", b"5\r\nhelloXX0\r\n\r\n", b"5\nhello\r\n0\r\n\r\n"],
    ids=["bad-size", "no-crlf-after-data", "bare-lf"])


@MALFORMED_CHUNKED
def test_malformed_chunked_body_closes_and_nothing_after_runs(echo: HttpServer,
                                                               chunked: bytes) -> None:
    t = tag()
    with echo.connect() as sock:
        sock.sendall(f"POST /{t} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     .encode() + chunked + get(f"/{t}/smuggled"))
        raw = Reader(sock).rest()
    assert b"200 OK" not in raw and b"/smuggled" not in raw
    assert [c for c in echo.calls() if t in c] == [f"POST /{t}?"]


@MALFORMED_CHUNKED
def test_malformed_chunked_body_is_answered_400(echo: HttpServer, chunked: bytes) -> None:
    t = tag()
    with echo.connect() as sock:
        sock.sendall(f"POST /{t} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     .encode() + chunked)
        reader = Reader(sock)
        assert no_date(reader.response().raw) == (
            b"HTTP/1.1 400 Bad Request\r\nDate: *\r\nServer: fastwsgi\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"
            b"Bad Request\n")
        assert reader.closed()
    lines = wait_for(lambda: [x for x in echo.log().splitlines() if f"/{t}" in x], 5,
                     "the refusal logged")
    assert len(lines) == 1
    assert f"Refused the body of POST /{t} with 400: malformed chunked request body" in lines[0]


# -- response framing ------------------------------------------------------------

def test_list_result_gets_a_content_length(framing: HttpServer) -> None:
    r = exchange(framing, get("/list"))
    assert no_date(r.raw) == (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\n"
                              b"Server: fastwsgi\r\nContent-Length: 17\r\n\r\nalpha;beta;gamma;")


def test_generator_is_chunked_on_http11(framing: HttpServer) -> None:
    with framing.connect() as sock:
        sock.sendall(get("/gen") + get("/list"))
        reader = Reader(sock)
        r = reader.response()
        assert no_date(r.raw) == (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\nServer: fastwsgi\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            b"6\r\nalpha;\r\n5\r\nbeta;\r\n6\r\ngamma;\r\n0\r\n\r\n")
        assert r.body == b"alpha;beta;gamma;"
        assert reader.response().body == b"alpha;beta;gamma;"  # still usable


@pytest.mark.parametrize("extra", ["", "Connection: keep-alive\r\n"])
def test_generator_is_close_delimited_on_http10(framing: HttpServer, extra: str) -> None:
    with framing.connect() as sock:
        sock.sendall(get("/gen", extra, "1.0"))
        raw = Reader(sock).rest()
    assert no_date(raw) == (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\n"
                            b"Server: fastwsgi\r\nConnection: close\r\n\r\nalpha;beta;gamma;")


def test_head_has_no_body_but_the_get_length(framing: HttpServer) -> None:
    with framing.connect() as sock:
        sock.sendall(get("/list").replace(b"GET", b"HEAD", 1) + get("/list"))
        reader = Reader(sock)
        head = reader.response("HEAD")
        full = reader.response()
    assert head.raw.endswith(b"\r\n\r\n") and head.body == b""
    assert head.header("Content-Length") == full.header("Content-Length") == "17"
    assert full.body == b"alpha;beta;gamma;"


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses_keep_the_connection(framing: HttpServer, code: int) -> None:
    with framing.connect() as sock:
        sock.sendall(get(f"/status?code={code}") + get(f"/status?code={code}") + get("/list"))
        reader = Reader(sock)
        for _ in range(2):
            r = reader.response()
            assert no_date(r.raw) == (f"HTTP/1.1 {code} Whatever\r\nX-Code: {code}\r\nDate: *\r\n"
                                      "Server: fastwsgi\r\n\r\n").encode()
        assert reader.response().body == b"alpha;beta;gamma;"


def test_a_204_never_says_a_length_and_a_repeated_length_goes_once(framing: HttpServer) -> None:
    with framing.connect() as sock:
        sock.sendall(get("/status?code=204&cl=5") + get("/cl-twice"))
        reader = Reader(sock)
        no_content, twice = reader.response(), reader.response()
    assert (no_content.status, no_content.header("Content-Length")) == (204, None)
    assert (twice.all("Content-Length"), twice.body) == (["5"], b"hello")


@pytest.mark.parametrize("code", [100, 101, 103])
def test_an_interim_status_from_the_app_is_a_500(framing: HttpServer, code: int) -> None:
    # Sent as the response, a 1xx would leave the client waiting for the
    # final one, or taking the next request's response for it.
    r = exchange(framing, get(f"/status?code={code}"))
    assert (r.status, r.header("Connection")) == (500, "close")


def test_head_answered_empty_gets_no_invented_length(framing: HttpServer) -> None:
    with framing.connect() as sock:
        sock.sendall(get("/empty-head").replace(b"GET", b"HEAD", 1) + get("/empty-head"))
        reader = Reader(sock)
        head, full = reader.response("HEAD"), reader.response()
    assert (head.status, head.header("Content-Length"), head.body) == (200, None, b"")
    assert (full.header("Content-Length"), full.body) == ("5", b"hello")


def test_date_and_server_are_added(framing: HttpServer) -> None:
    r = exchange(framing, get("/list"))
    date = r.header("Date")
    assert date is not None
    assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug"
                        r"|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT", date), date
    assert email.utils.parsedate_to_datetime(date).tzinfo is not None
    assert r.header("Server") == "fastwsgi"


def test_application_server_header_is_kept(framing: HttpServer) -> None:
    r = exchange(framing, get("/server"))
    assert r.all("Server") == ["custom/1.0"]
    assert r.header("Date") is not None


def test_hop_by_hop_headers_from_the_app_are_dropped(framing: HttpServer) -> None:
    with framing.connect() as sock:
        sock.sendall(get("/hop") + get("/list"))
        reader = Reader(sock)
        r = reader.response()
        assert reader.response().body == b"alpha;beta;gamma;"
    names = {k.lower() for k, _ in r.headers}
    assert not names & {"connection", "transfer-encoding", "upgrade", "keep-alive"}
    assert (r.header("X-Kept"), r.header("Content-Length"), r.body) == ("yes", "3", b"hop")


# -- application errors ------------------------------------------------------------

def test_exception_before_start_response_is_500_without_traceback(failing: HttpServer) -> None:
    with failing.connect() as sock:
        sock.sendall(get("/raise-before"))
        reader = Reader(sock)
        r = reader.response()
        assert no_date(r.raw) == (
            b"HTTP/1.1 500 Internal Server Error\r\nDate: *\r\nServer: fastwsgi\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 22\r\nConnection: close\r\n\r\n"
            b"Internal Server Error\n")
        assert reader.closed()
    wait_for(lambda: "raise-before-marker" in failing.log(), 5, "the traceback in the log")


def test_an_error_answer_to_head_has_no_body(failing: HttpServer) -> None:
    with failing.connect() as sock:
        sock.sendall(get("/raise-before").replace(b"GET", b"HEAD", 1))
        reader = Reader(sock)
        r = reader.response("HEAD")
        assert (r.status, r.header("Content-Length"), r.body) == (500, "22", b"")
        assert reader.closed()  # nothing followed the head


def test_exception_after_the_head_truncates_the_chunked_response(failing: HttpServer) -> None:
    with failing.connect() as sock:
        sock.sendall(get("/raise-after"))
        raw = Reader(sock).rest()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head.split(b"\r\n")
    assert body == b"b\r\nfirst-chunk\r\n"  # and no terminating 0-chunk
    with failing.connect() as sock:
        sock.sendall(get("/raise-after"))
        with pytest.raises(EOFError):
            Reader(sock).response()
    wait_for(lambda: "raise-after-marker" in failing.log(), 5, "the traceback in the log")


def test_short_content_length_closes_after_the_bytes_sent(failing: HttpServer) -> None:
    with failing.connect() as sock:
        sock.sendall(get("/short") + get("/ok"))
        raw = Reader(sock).rest()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Content-Length: 100" in head.split(b"\r\n")
    assert body == b"0123456789"


# -- client disconnect -----------------------------------------------------------

def test_client_disconnect_closes_the_iterable_and_the_server_goes_on() -> None:
    tmp = short_tmpdir()
    record = os.path.join(tmp, "closing.rec")
    with HttpServer("wsgi_closing:application", "--threads", "2", tmpdir=tmp) as server:
        with server.connect() as sock:
            sock.sendall(get(f"/?record={record}&tag=gone&mode=endless"))
            reader = Reader(sock)
            head = reader.until(b"\r\n\r\n")
            assert b"Transfer-Encoding: chunked" in head
            reader.exact(1 << 20)
        wait_for(lambda: "closed gone" in Path(record).read_text(), 15, "close() of the iterable")
        r = exchange(server, get(f"/?record={record}&tag=after&mode=normal"))
        assert (r.status, r.body) == (200, b"chunk1;chunk2;chunk3;")
        wait_for(lambda: Path(record).read_text().splitlines()[-2:] == ["started after",
                                                                       "closed after"],
                 5, "the next request's iterable closed")


# -- listening -----------------------------------------------------------------

def test_repeated_bind_and_unix_socket_all_answer() -> None:
    tmp = short_tmpdir()
    path = os.path.join(tmp, "h.sock")
    server = HttpServer("wsgi_env:application", tmpdir=tmp,
                        binds=("127.0.0.1:0", "127.0.0.1:0", f"unix:{path}"))
    with server:
        assert [f for f, _ in server.addresses] == [socket.AF_INET, socket.AF_INET, socket.AF_UNIX]
        ports = [server.addresses[i][1][1] for i in (0, 1)]  # type: ignore[index]
        assert ports[0] != ports[1]
        for index, port in ((0, ports[0]), (1, ports[1])):
            env = json.loads(exchange(server, get("/", version="1.0"), index=index).body)
            assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", str(port))
        r = exchange(server, get("/over-unix"), index=2)
        assert (r.status, json.loads(r.body)["PATH_INFO"]) == (200, "/over-unix")
        assert os.path.exists(path)
    assert not os.path.exists(path)


def test_ipv6_loopback() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("IPv6 loopback unavailable")
    with HttpServer("wsgi_env:application", binds=("[::1]:0",)) as server:
        assert server.addresses[0][0] == socket.AF_INET6
        with server.connect() as sock:
            sock.sendall(get("/v6", version="1.0"))
            env = json.loads(Reader(sock).response().body)
            assert env["REMOTE_ADDR"] == "::1"
            assert env["REMOTE_PORT"] == str(sock.getsockname()[1])
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("::1", str(server.port))
        env = json.loads(exchange(server, get("/v6", "Host: [::1]:8080\r\n", "1.0")).body)
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("[::1]", "8080")


# -- the environ -----------------------------------------------------------------

def test_environ_through_http(env_server: HttpServer) -> None:
    request = (b"GET /a%20b/%C3%A9%2F?x=%20&y=1+2 HTTP/1.1\r\nHost: example.com:8080\r\n"
               b"X-Custom: one\r\nX_Under: dropped\r\nProxy: http://evil\r\n"
               b"Accept: a\r\nAccept: b\r\n\r\n")
    with env_server.connect() as sock:
        sock.sendall(request)
        env = json.loads(Reader(sock).response().body)
        assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("127.0.0.1", str(sock.getsockname()[1]))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "8080")
    assert env["PATH_INFO"] == "/a b/\xc3\xa9/"  # latin-1 of the decoded bytes (PEP 3333)
    assert env["QUERY_STRING"] == "x=%20&y=1+2"
    assert (env["REQUEST_METHOD"], env["SERVER_PROTOCOL"], env["SCRIPT_NAME"]) == \
        ("GET", "HTTP/1.1", "")
    assert env["HTTP_X_CUSTOM"] == "one"
    assert env["HTTP_ACCEPT"] == "a, b"
    assert "HTTP_X_UNDER" not in env and "HTTP_PROXY" not in env
    assert (env["wsgi.url_scheme"], env["wsgi.input_terminated"]) == ("http", True)


def test_server_name_without_a_host_port(env_server: HttpServer) -> None:
    env = json.loads(exchange(env_server, get("/", "", "1.1").replace(b"Host: t",
                                                                   b"Host: example.org")).body)
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.org", str(env_server.port))


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
def test_wsgiref_validate_passes(method: str, request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue("validate_server")
    body = b"payload" if method == "POST" else b""
    data = (f"{method} /v HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body)
    r: Response = exchange(server, data, method)
    expected = b"got payload" if method == "POST" else f"hello from {method}".encode()
    assert r.status == 200, server.log()
    assert r.header("Content-Length") == str(len(expected))
    assert r.body == (b"" if method == "HEAD" else expected)
    assert "Traceback" not in server.log()


@pytest.fixture(scope="module")
def validate_server() -> Iterator[HttpServer]:
    yield from _serve(HttpServer("wsgi_validate:application", "--threads", "2"))
