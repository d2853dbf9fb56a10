"""The access log: Apache's combined format, escaped, for every kind of answer."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from tests.support.http_server import HttpServer, exchange
from tests.support.router_server import RouterServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

LINE = re.compile(r'^(?P<host>\S+) - - \[(?P<time>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
                  r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
                  r'"(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)"$')


@pytest.fixture(scope="module")
def server():
    with HttpServer("http_echo:application", "--access-log", "ACCESS",
                    "--limit-request-body", "100") as srv:
        yield srv


def access_path(server: HttpServer) -> Path:
    return Path(server.tmpdir) / "ACCESS"


def lines_matching(server: HttpServer, needle: str, count: int = 1) -> list[re.Match[str]]:
    """Poll until `count` access-log lines contain needle; they must all parse."""
    def found() -> list[str]:
        try:
            text = access_path(server).read_text(encoding="latin-1")
        except FileNotFoundError:
            return []
        hits = [line for line in text.splitlines() if needle in line]
        return hits if len(hits) >= count else []
    hits = wait_for(found, 10, f"access log line with {needle!r}")
    matches = [LINE.match(line) for line in hits]
    assert all(matches), hits
    return matches  # type: ignore[return-value]


def test_get_is_logged_in_combined_format(server):
    r = exchange(server, b"GET /combined?x=1 HTTP/1.1\r\nHost: h\r\nReferer: http://ref/a\r\n"
                         b"User-Agent: probe/1.0\r\n\r\n")
    assert r.status == 200
    m, = lines_matching(server, "/combined?x=1")
    assert m["host"] == "127.0.0.1"
    assert m["request"] == "GET /combined?x=1 HTTP/1.1"
    assert m["status"] == "200" and m["bytes"] == "-"  # an empty echo: no body bytes
    assert m["referer"] == "http://ref/a" and m["agent"] == "probe/1.0"


def test_body_bytes_are_counted(server):
    r = exchange(server, b"POST /bytes HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\nabcdefg",
                 method="POST")
    assert r.body == b"abcdefg"
    m, = lines_matching(server, "POST /bytes")
    assert m["bytes"] == "7" and m["referer"] == "-" and m["agent"] == "-"


def test_quotes_controls_and_non_ascii_are_escaped(server):
    exchange(server, b'GET /esc?q="x" HTTP/1.1\r\nHost: h\r\n'
                     b'User-Agent: A "b" \\ \xe9\tz\r\n\r\n')
    m, = lines_matching(server, "/esc?q=")
    assert m["request"] == r'GET /esc?q=\"x\" HTTP/1.1'
    assert m["agent"] == r'A \"b\" \\ \xe9\x09z'


def test_refused_requests_are_logged_with_their_status(server):
    with server.connect() as sock:
        sock.sendall(b"GET /nohost HTTP/1.1\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400 ")
    m, = lines_matching(server, '"- - -" 400')
    assert m["status"] == "400"
    r = exchange(server, b"POST /toolarge HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n",
                 method="POST")
    assert r.status == 413
    m, = lines_matching(server, "POST /toolarge")
    assert m["status"] == "413"


def test_sigusr1_reopens_the_access_log(server):
    exchange(server, b"GET /before-rotation HTTP/1.1\r\nHost: h\r\n\r\n")
    lines_matching(server, "/before-rotation")
    rotated = access_path(server).with_suffix(".1")
    os.rename(access_path(server), rotated)
    server.signal(signal.SIGUSR1)
    wait_for(access_path(server).exists, 10, "a new access log after SIGUSR1")
    exchange(server, b"GET /after-rotation HTTP/1.1\r\nHost: h\r\n\r\n")
    lines_matching(server, "/after-rotation")
    assert "/after-rotation" not in rotated.read_text(encoding="latin-1")


def test_dash_logs_to_standard_output():
    with HttpServer("http_echo:application", "--access-log", "-") as srv:
        exchange(srv, b"GET /to-stdout HTTP/1.1\r\nHost: h\r\n\r\n")
        out = Path(srv.tmpdir) / "stdout.log"
        wait_for(lambda: out.exists() and "/to-stdout" in out.read_text(), 10, "stdout line")
        line = next(x for x in out.read_text().splitlines() if "/to-stdout" in x)
        assert LINE.match(line)


def test_router_logs_relayed_and_failed_requests():
    with RouterServer("http_echo:application", "--access-log", "ACCESS") as srv:
        r = exchange(srv, b"POST /via-router HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
                     method="POST")
        assert r.status == 200 and r.body == b"abc"
        m, = lines_matching(srv, "POST /via-router")
        assert m["status"] == "200" and m["bytes"] == "3"
