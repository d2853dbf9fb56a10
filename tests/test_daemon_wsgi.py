"""PEP 3333 behaviour of a daemon: wsgi.input, start_response, close(),
wsgi.file_wrapper, wsgi.errors, application errors and wsgiref.validate.

Every test talks uwsgi to a real `fastwsgi serve` subprocess; the apps live in
tests/apps/wsgi_*.py, one per behaviour. Servers are shared per app within
this module (each test uses its own paths, tags and markers); tests that wait
for something in the error log poll it against a deadline.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from wsgi_start_response import BAD

from fastwsgi._cext import encode_frame
from fastwsgi.client import request_environ
from fastwsgi.protocol import STREAM_VAR
from tests.support.server import FastWSGI
from tests.support.uwsgi_client import Response, parse_response, request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

MiB = 1 << 20


# -- helpers -----------------------------------------------------------------

def _server(app: str) -> Iterator[FastWSGI]:
    with FastWSGI(app) as server:
        yield server


@pytest.fixture(scope="module")
def input_server() -> Iterator[FastWSGI]:
    yield from _server("wsgi_input:application")


@pytest.fixture(scope="module")
def sr_server() -> Iterator[FastWSGI]:
    yield from _server("wsgi_start_response:application")


@pytest.fixture(scope="module")
def closing_server() -> Iterator[FastWSGI]:
    yield from _server("wsgi_closing:application")


@pytest.fixture(scope="module")
def file_server() -> Iterator[FastWSGI]:
    yield from _server("wsgi_filewrapper:application")


@pytest.fixture(scope="module")
def errors_server() -> Iterator[FastWSGI]:
    yield from _server("wsgi_errors:application")


def base_env(path: str, query: str = "", method: str = "GET") -> dict[str, str]:
    return {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
        "SCRIPT_NAME": "", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "5555",
        "HTTP_HOST": "localhost",
    }


def raw_exchange(socket_path: str, data: bytes, timeout: float = 30.0) -> bytes:
    """Send data, read until the daemon closes.

    A UNIX stream socket reports ECONNRESET after the queued data when the peer
    closed with unread bytes (which a test sending more than CONTENT_LENGTH
    provokes on purpose); everything before it is the response.
    """
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    chunks = []
    try:
        s.connect(socket_path)
        s.sendall(data)
        while True:
            try:
                chunk = s.recv(1 << 16)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        s.close()
    return b"".join(chunks)


def ops(server: FastWSGI, script: str, body: bytes, stream: bool = False) -> list[object]:
    resp = request("/ops", method="POST", body=body, query=urlencode({"script": script}),
                   socket_path=server.socket_path, stream=stream)
    assert resp.status == 200, (resp.status, resp.body[:500], server.log()[-2000:])
    return json.loads(resp.body)


def log_growth(server: FastWSGI, before: int, pattern: str, what: str) -> str:
    """Wait until text appended to the error log after offset before matches pattern."""
    regex = re.compile(pattern)
    return wait_for(lambda: regex.search(server.log()[before:]) and server.log()[before:],
                    15, f"{what} in the error log (pattern {pattern!r})")


TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
STATUS_LINE = re.compile(rb"HTTP/1\.[01] [1-5][0-9][0-9](?: [\t\x20-\x7e\x80-\xff]*)?")
HEADER_LINE = re.compile(TOKEN + rb":[\t ]*[\t\x20-\x7e\x80-\xff]*")


def assert_clean_head(raw: bytes) -> Response:
    """The response head is well formed: a status line and token: value lines only."""
    head, sep, _ = raw.partition(b"\r\n\r\n")
    assert sep, f"no complete head in {raw[:300]!r}"
    lines = head.split(b"\r\n")
    assert STATUS_LINE.fullmatch(lines[0]), f"bad status line {lines[0]!r}"
    for line in lines[1:]:
        assert HEADER_LINE.fullmatch(line), f"bad header line {line!r} in {head!r}"
    return parse_response(raw)


# -- wsgi.input --------------------------------------------------------------

BODY = b"line one\nline two\nthree"


def test_input_read_n(input_server: FastWSGI) -> None:
    assert ops(input_server, "read:4,read:1,read:0,read:100,read:5", BODY) == [
        "line", " ", "", "one\nline two\nthree", ""]


@pytest.mark.parametrize("step", ["read", "readnone", "read:-1"])
def test_input_read_all(input_server: FastWSGI, step: str) -> None:
    assert ops(input_server, f"read:5,{step}", BODY) == ["line ", "one\nline two\nthree"]


def test_input_read_after_exhaustion_returns_empty(input_server: FastWSGI) -> None:
    got = ops(input_server, "read,read,read:10,readnone,readline,readlines,iter", BODY)
    assert got == [BODY.decode(), "", "", "", "", [], []]


def test_input_readline(input_server: FastWSGI) -> None:
    got = ops(input_server, "readline,readline:3,readline:100,readline,readline", BODY)
    assert got == ["line one\n", "lin", "e two\n", "three", ""]


def test_input_readline_without_newline_in_body(input_server: FastWSGI) -> None:
    body = b"x" * 100_000
    assert ops(input_server, "readline,readline", body) == [body.decode(), ""]


def test_input_readlines(input_server: FastWSGI) -> None:
    assert ops(input_server, "readline:2,readlines", BODY) == [
        "li", ["ne one\n", "line two\n", "three"]]


def test_input_readlines_hint(input_server: FastWSGI) -> None:
    # PEP 3333 lets a server ignore the hint, so assert only what it must keep:
    # whole lines, in order, none lost between the two calls.
    body = b"a\nbb\nccc\ndddd\n"
    first, rest = ops(input_server, "readlines:3,readlines", body)
    lines = ["a\n", "bb\n", "ccc\n", "dddd\n"]
    assert first, "readlines(3) returned nothing"
    assert first + rest == lines
    assert first == lines[:len(first)]


def test_input_iteration(input_server: FastWSGI) -> None:
    assert ops(input_server, "read:2,iter", BODY) == [
        "li", ["ne one\n", "line two\n", "three"]]


def test_input_empty_body(input_server: FastWSGI) -> None:
    assert ops(input_server, "read,readline,readlines,iter,read:5", b"") == [
        "", "", [], [], ""]


@pytest.mark.parametrize(("script", "expected"), [
    ("read,read:10,readline", ["abc\ndefg", "", ""]),
    ("read:100", ["abc\ndefg"]),
    ("readline,readline,readline", ["abc\n", "defg", ""]),
    ("readlines", [["abc\n", "defg"]]),
    ("iter", [["abc\n", "defg"]]),
])
def test_input_never_reads_past_content_length(
        input_server: FastWSGI, script: str, expected: list[object]) -> None:
    # CONTENT_LENGTH is 8 but the client sends more: the app must not see it.
    query = urlencode({"script": script})
    env = base_env("/ops", query, "POST") | {"CONTENT_LENGTH": "8"}
    raw = raw_exchange(input_server.socket_path,
                       encode_frame(env) + b"abc\ndefgh-PAST-THE-END\nmore\n" * 50)
    resp = parse_response(raw)
    assert resp.status == 200, raw[:500]
    assert json.loads(resp.body) == expected
    assert b"PAST" not in raw


def test_input_streamed_body(input_server: FastWSGI) -> None:
    body = b"streamed\nbody\x00with\xffbinary" * 1000
    resp = request("/echo", method="POST", body=body, query="chunk=333",
                   socket_path=input_server.socket_path, stream=True)
    assert resp.status == 200, resp.body[:500]
    assert resp.header("X-Terminated") == "True"
    assert resp.header("X-Content-Length") == "-"
    assert resp.body == body


def test_input_streamed_read_all_and_lines(input_server: FastWSGI) -> None:
    assert ops(input_server, "readline,read", BODY, stream=True) == [
        "line one\n", "line two\nthree"]
    assert ops(input_server, "readlines,read", BODY, stream=True) == [
        ["line one\n", "line two\n", "three"], ""]


def test_input_with_content_length(input_server: FastWSGI) -> None:
    # wsgi.input_terminated may be True here too (the stream ends at
    # CONTENT_LENGTH, as mod_wsgi and gunicorn say), so only the length is checked.
    resp = request("/echo", method="POST", body=b"abc", socket_path=input_server.socket_path)
    assert resp.body == b"abc"
    assert resp.header("X-Content-Length") == "3"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("stream", [False, True], ids=["content-length", "streamed"])
@pytest.mark.parametrize("chunk", [1, 8191, 65537, MiB + 3])
def test_input_large_body_odd_chunks(input_server: FastWSGI, chunk: int, stream: bool) -> None:
    size = 8 * MiB if chunk > 1 else 10_007
    body = os.urandom(size)
    resp = request("/echo", method="POST", body=body, query=f"chunk={chunk}",
                   socket_path=input_server.socket_path, stream=stream, timeout=60)
    assert resp.status == 200, resp.body[:500]
    assert len(resp.body) == size
    assert resp.body == body
    # read(n) fills n bytes as a file does, except for the last read(s).
    assert int(resp.header("X-Reads") or 0) == math.ceil(size / chunk) + 1


def _connect(server: FastWSGI) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(server.socket_path)
    return s


def _read_to_eof(s: socket.socket) -> bytes:
    chunks = []
    while chunk := s.recv(1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _streamed_frame(path: str, query: str = "") -> bytes:
    return encode_frame(base_env(path, query, "POST") | {STREAM_VAR: "1"})


@pytest.mark.parametrize("end", ["close", "half-close"])
def test_input_streamed_body_ends_only_at_a_half_close(
        input_server: FastWSGI, tmp_path: Path, end: str) -> None:
    # A streamed body ends at the front-end's shutdown(SHUT_WR); a full close
    # (the front-end's client went away, the front-end died) cuts it short,
    # and the application must see an error, not a complete body.
    record = tmp_path / "record"
    body = b"streamed body cut short? " * 4000
    s = _connect(input_server)
    try:
        s.sendall(_streamed_frame("/record", urlencode({"path": str(record)})) + body)
        if end == "close":
            s.close()
        else:
            s.shutdown(socket.SHUT_WR)
            resp = parse_response(_read_to_eof(s))
            assert resp.body == f"complete {len(body)}".encode()
    finally:
        s.close()
    outcome = wait_for(lambda: record.exists() and record.read_text(), 15,
                       "the application's read of the streamed body")
    assert outcome == ("error ClientDisconnected" if end == "close"
                       else f"complete {len(body)}")


def test_unread_streamed_body_is_drained_not_reset(input_server: FastWSGI) -> None:
    # The application answers without reading a streamed body; the front-end
    # goes on sending it (the relay is full duplex) and half-closes at its
    # end. The daemon must drop that rest, not close on it: a close with
    # unread data fails the front-end's sends with EPIPE / ECONNRESET.
    s = _connect(input_server)
    try:
        s.sendall(_streamed_frame("/noread") + b"x" * 1000)
        resp = parse_response(_read_to_eof(s))  # the daemon's half-close ends it
        assert (resp.status, resp.body) == (200, b"unread\n")
        for _ in range(64):  # 4 MiB, far more than the socket buffers hold
            s.sendall(b"y" * 65536)
        s.shutdown(socket.SHUT_WR)
        assert s.recv(1) == b""
    except (BrokenPipeError, ConnectionResetError) as exc:
        pytest.fail(f"the daemon closed on the unread streamed body: {exc!r}")
    finally:
        s.close()


# -- start_response ----------------------------------------------------------

def test_write_callable_output_comes_first(sr_server: FastWSGI) -> None:
    resp = request("/write", socket_path=sr_server.socket_path)
    assert resp.status == 200
    assert resp.body == b"first-second-third"


def test_stalled_body_is_408_with_one_line_not_an_application_error() -> None:
    # The front-end sends 10 of 100 announced body bytes, then nothing: the
    # app's read gives up after socket-timeout. That is the peer's stall, not
    # an application failure: 408 and one line, no traceback, no 500.
    with FastWSGI("wsgi_input:application", "--socket-timeout", "1") as server:
        env = request_environ("/echo", "POST")
        env["CONTENT_LENGTH"] = "100"
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(20)
            sock.connect(server.socket_path)
            sock.sendall(encode_frame(env) + b"0123456789")
            raw = b""
            while data := sock.recv(65536):
                raw += data
        assert parse_response(raw).status == 408, raw
        lines = wait_for(lambda: [x for x in server.log().splitlines() if "[error]" in x],
                         10, "the error line")
        assert len(lines) == 1 and "Refused the body of POST /echo with 408" in lines[0], lines
        assert "Traceback" not in server.log()


def test_kept_wsgi_input_and_write_expire_with_their_request() -> None:
    # Kept past their request, they must raise, not touch the closed
    # connection (its buffer is freed: that was a SIGSEGV of the daemon).
    with FastWSGI("http_misuse:application", "--threads", "1") as server:
        assert request("/stash", "POST", b"hello", socket_path=server.socket_path).body \
            == b"stashed"
        r = request("/use-stash", socket_path=server.socket_path, timeout=10)
        assert r.body == b"read:RuntimeError write:RuntimeError", r


def test_head_request_gets_no_body(sr_server: FastWSGI) -> None:
    resp = request("/write", method="HEAD", socket_path=sr_server.socket_path)
    assert resp.status == 200
    assert resp.body == b""


def test_exc_info_before_body_replaces_head(sr_server: FastWSGI) -> None:
    resp = request("/exc-before", socket_path=sr_server.socket_path)
    assert (resp.status, resp.reason) == (503, "Replaced")
    assert resp.header("X-Replaced") == "1"
    assert resp.header("X-Original") is None
    assert resp.body == b"replaced"


def test_start_response_twice_without_exc_info_is_500(sr_server: FastWSGI) -> None:
    before = len(sr_server.log())
    resp = request("/twice", socket_path=sr_server.socket_path)
    assert resp.status == 500
    assert resp.header("X-Original") is None
    assert b"twice-body" not in resp.raw
    log_growth(sr_server, before, r"\S", "an error for the second start_response")


def test_exc_info_after_head_reraises_and_truncates(sr_server: FastWSGI) -> None:
    before = len(sr_server.log())
    resp = request("/exc-after", socket_path=sr_server.socket_path)
    assert resp.status == 200
    assert resp.header("Content-Length") == "100"
    # Truncated: the connection closed short of Content-Length, nothing after.
    assert resp.body == b"partial-"
    assert b"Too Late" not in resp.raw
    log_growth(sr_server, before, "exc-after-marker", "the re-raised error")


@pytest.mark.parametrize("case", sorted(BAD))
def test_invalid_status_or_header_is_500(sr_server: FastWSGI, case: str) -> None:
    before = len(sr_server.log())
    raw = raw_exchange(sr_server.socket_path, encode_frame(base_env(f"/bad/{case}")))
    resp = assert_clean_head(raw)
    assert resp.status == 500
    assert b"Injected" not in raw
    assert b"\x00" not in raw
    assert b"bad-head-body" not in raw
    log_growth(sr_server, before, r"\S", f"an error for {case}")


def test_str_body_before_anything_sent_is_500(sr_server: FastWSGI) -> None:
    before = len(sr_server.log())
    resp = request("/str-first", socket_path=sr_server.socket_path)
    assert resp.status == 500
    assert b"a str, not bytes" not in resp.raw
    log_growth(sr_server, before, r"(?i)typeerror|bytes|\bstr\b", "a str body error")


def test_str_body_after_bytes_truncates_and_logs(sr_server: FastWSGI) -> None:
    before = len(sr_server.log())
    resp = request("/str-later", socket_path=sr_server.socket_path)
    assert resp.status == 200
    assert resp.body == b"bytes-first-"
    log_growth(sr_server, before, r"(?i)typeerror|bytes|\bstr\b", "a str body error")


# -- close() -----------------------------------------------------------------

def _closing_query(record: Path, tag: str, mode: str) -> str:
    return urlencode({"record": str(record), "tag": tag, "mode": mode})


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_close_called_after_normal_response(closing_server: FastWSGI, tmp_path: Path) -> None:
    record = tmp_path / "record"
    resp = request("/", query=_closing_query(record, "normal", "normal"),
                   socket_path=closing_server.socket_path)
    assert resp.body == b"chunk1;chunk2;chunk3;"
    wait_for(lambda: "closed normal" in _lines(record), 15, "close() after a normal response")
    assert _lines(record) == ["started normal", "closed normal"]


def test_close_called_for_head(closing_server: FastWSGI, tmp_path: Path) -> None:
    record = tmp_path / "record"
    resp = request("/", method="HEAD", query=_closing_query(record, "head", "normal"),
                   socket_path=closing_server.socket_path)
    assert resp.status == 200
    assert resp.body == b""
    wait_for(lambda: "closed head" in _lines(record), 15, "close() after HEAD")
    assert _lines(record).count("closed head") == 1


def test_close_called_after_exception_in_iteration(
        closing_server: FastWSGI, tmp_path: Path) -> None:
    record = tmp_path / "record"
    before = len(closing_server.log())
    resp = request("/", query=_closing_query(record, "raise", "raise"),
                   socket_path=closing_server.socket_path)
    assert resp.status == 200
    assert resp.body == b"before-raise;"
    wait_for(lambda: "closed raise" in _lines(record), 15, "close() after an exception")
    assert _lines(record).count("closed raise") == 1
    log_growth(closing_server, before, "closing-raise-marker", "the iteration error")


def test_close_called_after_exception_before_first_chunk(
        closing_server: FastWSGI, tmp_path: Path) -> None:
    record = tmp_path / "record"
    resp = request("/", query=_closing_query(record, "first", "raise-first"),
                   socket_path=closing_server.socket_path)
    assert resp.status == 500
    assert b"closing-raise-first-marker" not in resp.raw
    wait_for(lambda: "closed first" in _lines(record), 15, "close() after an exception")
    assert _lines(record).count("closed first") == 1


def test_close_called_when_client_goes_away(closing_server: FastWSGI, tmp_path: Path) -> None:
    record = tmp_path / "record"
    env = base_env("/", _closing_query(record, "gone", "endless"))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.connect(closing_server.socket_path)
        s.sendall(encode_frame(env))
        first = s.recv(200)
        assert first.startswith(b"HTTP/1.")
    finally:
        s.close()
    wait_for(lambda: "closed gone" in _lines(record), 20,
             "close() after the client went away mid-response")
    # The daemon is still serving.
    again = tmp_path / "again"
    resp = request("/", query=_closing_query(again, "again", "normal"),
                   socket_path=closing_server.socket_path)
    assert resp.body == b"chunk1;chunk2;chunk3;"


# -- wsgi.file_wrapper -------------------------------------------------------

def test_file_wrapper_exists(file_server: FastWSGI) -> None:
    assert request("/exists", socket_path=file_server.socket_path).body == b"yes"


@pytest.mark.parametrize(("size", "blksize"), [
    (0, 8192), (100, 8192), (5 * MiB, 65536), (5 * MiB + 17, 8191), (70_000, 1),
])
def test_file_wrapper_sends_file_exactly(
        file_server: FastWSGI, tmp_path: Path, size: int, blksize: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    resp = request("/file", query=urlencode({"path": str(path), "blksize": blksize}),
                   socket_path=file_server.socket_path)
    assert resp.status == 200
    assert resp.header("Content-Length") == str(size)
    assert len(resp.body) == size
    assert resp.body == data


def test_file_wrapper_head_sends_no_body(file_server: FastWSGI, tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"z" * 10_000)
    resp = request("/file", method="HEAD", query=urlencode({"path": str(path)}),
                   socket_path=file_server.socket_path)
    assert resp.status == 200
    assert resp.header("Content-Length") == "10000"
    assert resp.body == b""


@pytest.mark.parametrize("size", [10, MiB + 7])
def test_file_wrapper_object_without_fileno(
        file_server: FastWSGI, tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path, record = tmp_path / "data.bin", tmp_path / "record"
    path.write_bytes(data)
    resp = request("/filelike", query=urlencode({"path": str(path), "record": str(record),
                                                 "blksize": 4099}),
                   socket_path=file_server.socket_path)
    assert resp.status == 200
    assert resp.body == data
    # PEP 3333: the wrapper's close() calls the file-like object's close().
    wait_for(lambda: _lines(record) == ["closed"], 15, "the file-like object's close()")


# -- wsgi.errors and application exceptions ----------------------------------

def test_wsgi_errors_reach_the_error_log(errors_server: FastWSGI) -> None:
    marker = f"errmark-{uuid.uuid4().hex}"
    resp = request("/log", query=f"marker={marker}", socket_path=errors_server.socket_path)
    assert resp.body == b"logged"
    for suffix in ("write", "lines1", "lines2", "print"):
        wait_for(lambda s=suffix: f"{marker}-{s}" in errors_server.log(), 15,
                 f"{marker}-{suffix} in the error log")


@pytest.mark.parametrize("path", ["/raise", "/raise-late"])
def test_app_exception_is_500_without_details(errors_server: FastWSGI, path: str) -> None:
    marker = f"boom-{uuid.uuid4().hex}"
    resp = request(path, query=f"marker={marker}", socket_path=errors_server.socket_path)
    assert resp.status == 500
    assert marker.encode() not in resp.raw
    assert b"Traceback" not in resp.raw
    assert b"RuntimeError" not in resp.raw
    log = wait_for(lambda: marker in errors_server.log() and errors_server.log(), 15,
                   "the exception in the error log")
    assert "RuntimeError" in log
    assert "Traceback" in log


def test_daemon_survives_app_exceptions(errors_server: FastWSGI) -> None:
    for _ in range(20):
        assert request("/raise", socket_path=errors_server.socket_path).status == 500
    assert request("/log", socket_path=errors_server.socket_path).body == b"logged"


# -- wsgiref.validate --------------------------------------------------------

def test_wsgiref_validator_finds_nothing(fastwsgi_server) -> None:
    server = fastwsgi_server("wsgi_validate:application")
    get = request("/", query="a=1", socket_path=server.socket_path)
    assert (get.status, get.body) == (200, b"hello from GET"), get.raw[:500]
    payload = b"payload \x00\xff" * 1000
    post = request("/submit", method="POST", body=payload, socket_path=server.socket_path,
                   extra={"CONTENT_TYPE": "application/octet-stream"})
    assert (post.status, post.body) == (200, b"got " + payload), post.raw[:500]
    head = request("/", method="HEAD", socket_path=server.socket_path)
    assert (head.status, head.body) == (200, b""), head.raw[:500]
    assert head.header("Content-Length") == str(len(b"hello from HEAD"))
    # One more round trip, so that anything the validator reports while the
    # previous iterables are collected has been written.
    assert request("/", socket_path=server.socket_path).status == 200
    for text in (server.log(), server.stderr()):
        assert "AssertionError" not in text
        assert "WSGIWarning" not in text
