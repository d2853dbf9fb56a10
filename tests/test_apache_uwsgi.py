"""End to end: a client -> real Apache httpd (mod_proxy_uwsgi) -> a fastwsgi group.

Apache talks to the group's UNIX socket directly with
`ProxyPass / unix:SOCK|uwsgi://localhost/`, as a user of option 3 in DESIGN.md
would configure it. One Apache and one fastwsgi group serve the whole module.

What mod_proxy_uwsgi does, and these tests pin down:
* it sends the CGI variables of ap_add_common_vars + ap_add_cgi_vars (so also
  PATH, DOCUMENT_ROOT, SCRIPT_FILENAME, REQUEST_URI, ...), PATH_INFO decoded
  from the URL after the ProxyPass prefix, SCRIPT_NAME = the prefix;
* repeated request headers arrive comma-joined, headers with `_` and `Proxy:`
  are dropped by Apache itself, Authorization is passed as HTTP_AUTHORIZATION;
* it refuses chunked request bodies with 411, but only after it has connected
  to the backend: the daemon sees a connection closed before any byte;
* it writes the whole request body before it reads any of the response, so a
  daemon that answers without reading a large body must still drain it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

import pytest
from apache_echo import COOKIES, TEXT, UNUSUAL_HEADERS, big_chunks

from tests.support.apache import (  # noqa: F401  (apache_factory is a fixture)
    RUN_USER,
    Apache,
    apache_factory,
    prepare_socket_dir,
    running_as_root,
)
from tests.support.server import FastWSGI, short_tmpdir
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

PROCESS_GROUP = "apache-e2e"
MIB = 1 << 20


@pytest.fixture(scope="module")
def group() -> Iterator[FastWSGI]:
    """One fastwsgi daemon group (2 processes x 4 threads) on a UNIX socket."""
    tmpdir = short_tmpdir()
    prepare_socket_dir(tmpdir)
    args = ["--processes", "2", "--threads", "4", "--process-group", PROCESS_GROUP]
    if running_as_root():
        args += ["--socket-user", RUN_USER]
    server = FastWSGI("apache_echo:application", *args, tmpdir=tmpdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmpdir, ignore_errors=True)


@pytest.fixture(scope="module")
def apache(apache_factory, group: FastWSGI) -> Apache:  # noqa: F811
    target = f'"unix:{group.socket_path}|uwsgi://localhost/"'
    return apache_factory(f"ProxyPass /mnt/ {target}\n"
                          f"ProxyPass / {target}\n")


@pytest.fixture(autouse=True)
def _logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print the log tails after each test; pytest shows them only on failure."""
    yield
    if "apache" in request.fixturenames:
        server: Apache = request.getfixturevalue("apache")
        fw: FastWSGI = request.getfixturevalue("group")
        for name, text in (("apache error.log", server.error_log()),
                           ("apache access.log", server.access_log()),
                           ("fastwsgi error log", fw.log()),
                           ("fastwsgi stderr", fw.stderr())):
            print(f"--- {name} (tail) ---\n" + "\n".join(text.splitlines()[-40:]))


# -- helpers -------------------------------------------------------------------

def fetch(apache: Apache, method: str, path: str, body: bytes | None = None,
          headers: list[tuple[str, str | bytes]] | None = None,
          conn: http.client.HTTPConnection | None = None,
          ) -> tuple[http.client.HTTPResponse, bytes]:
    """One request; headers may repeat and may hold raw bytes."""
    own = conn is None
    conn = conn or apache.connection()
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers or []:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        if own:
            conn.close()


def environ(apache: Apache, path: str = "/env", **kw: object) -> dict:
    resp, body = fetch(apache, kw.pop("method", "GET"), path, **kw)  # type: ignore[arg-type]
    assert resp.status == 200, body[:500]
    return json.loads(body)


def raw_exchange(apache: Apache, data: bytes, timeout: float = 30.0) -> bytes:
    """Send raw bytes, read until Apache closes (send Connection: close)."""
    with socket.create_connection(("127.0.0.1", apache.port), timeout=timeout) as s:
        s.sendall(data)
        parts = []
        while chunk := s.recv(65536):
            parts.append(chunk)
    return b"".join(parts)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- request line and CGI variables ----------------------------------------------

QUERIES = [
    "a=1&b=2",
    "a=1&a=2&a=3",
    "q=%E2%82%AC%20x%2B%26y%3D",
    "x=a+b%3Dc&plus=1+1",
    "empty=&flag&=v",
    "j=%7B%22k%22%3A%5B1%2C2%5D%7D",
    "tilde=~-._&slash=/a/b?c",
]


@pytest.mark.parametrize("query", QUERIES)
def test_query_string_arrives_intact(apache: Apache, query: str) -> None:
    env = environ(apache, "/env?" + query)
    assert env["QUERY_STRING"] == query
    assert env["REQUEST_URI"] == "/env?" + query
    assert env["PATH_INFO"] == "/env"


def test_repeated_query_params_parse(apache: Apache) -> None:
    env = environ(apache, "/env?a=1&a=%20two&b=x&a=3")
    assert parse_qs(env["QUERY_STRING"])["a"] == ["1", " two", "3"]


def test_cgi_variables(apache: Apache, group: FastWSGI) -> None:
    env = environ(apache, "/env/sub?k=v")
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/env/sub"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"].isdigit()
    assert env["SERVER_PORT"] == str(apache.port)
    assert env["HTTP_HOST"] == f"127.0.0.1:{apache.port}"
    assert env["wsgi.url_scheme"] == "http"
    assert env["mod_wsgi.process_group"] == PROCESS_GROUP
    assert env["wsgi.multiprocess"] is True
    assert env["wsgi.multithread"] is True
    assert "CONTENT_LENGTH" not in env or env["CONTENT_LENGTH"] in ("", "0")


def test_path_info_is_decoded_and_prefix_becomes_script_name(apache: Apache) -> None:
    env = environ(apache, "/mnt/env/a%20b/%C3%A9")
    assert env["SCRIPT_NAME"] == "/mnt"
    # PEP 3333: the decoded bytes, as latin-1 characters.
    assert env["PATH_INFO"] == "/env/a b/" + b"\xc3\xa9".decode("latin-1")
    assert env["REQUEST_URI"] == "/mnt/env/a%20b/%C3%A9"


def test_post_content_variables(apache: Apache) -> None:
    env = environ(apache, "/env", method="POST", body=b"hello",
                  headers=[("Content-Type", "text/plain; charset=utf-8")])
    assert env["REQUEST_METHOD"] == "POST"
    assert env["CONTENT_LENGTH"] == "5"
    assert env["CONTENT_TYPE"] == "text/plain; charset=utf-8"
    assert "HTTP_CONTENT_LENGTH" not in env
    assert "HTTP_CONTENT_TYPE" not in env


# -- request bodies --------------------------------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.parametrize("route", ["/echo", "/echo-pieces"])
@pytest.mark.parametrize("size", [0, 1, 64 * 1024, 10 * MIB],
                         ids=["0B", "1B", "64KiB", "10MiB"])
def test_post_body_echoed_byte_exact(apache: Apache, route: str, size: int) -> None:
    payload = os.urandom(size)
    resp, body = fetch(apache, "POST", route, body=payload,
                       headers=[("Content-Type", "application/octet-stream")])
    assert resp.status == 200
    assert resp.getheader("Content-Length") == str(size)
    assert len(body) == size
    assert sha(body) == sha(payload)
    assert body == payload


def test_chunked_upload_is_refused_by_apache(apache: Apache) -> None:
    """mod_proxy_uwsgi reads bodies with REQUEST_CHUNKED_ERROR: Apache answers 411.

    It has already connected to the daemon and closes that connection without
    sending a byte; the group must shrug that off and keep serving.
    """
    for _ in range(3):
        raw = raw_exchange(apache, b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                   b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        assert raw.split(b"\r\n", 1)[0] == b"HTTP/1.1 411 Length Required", raw[:300]
    resp, body = fetch(apache, "GET", "/text")
    assert (resp.status, body) == (200, TEXT)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("size", [100, 4 * MIB], ids=["100B", "4MiB"])
def test_unread_upload_still_gets_apps_response(apache: Apache, size: int) -> None:
    """The app answers without reading the body; Apache is still writing it.

    mod_proxy_uwsgi reads the response only after the whole body is sent; if
    the daemon closed with the body unread, Apache's write would fail and the
    client would get Apache's 503 instead of the app's answer.
    """
    resp, body = fetch(apache, "POST", "/status?code=413&reason=Too+Large",
                       body=os.urandom(size))
    assert (resp.status, resp.reason, body) == (413, "Too Large", b"status 413\n")


@pytest.mark.timeout(60)
def test_concurrent_echoes(apache: Apache) -> None:
    payloads = [os.urandom(64 * 1024 + i) for i in range(48)]

    def one(payload: bytes) -> bool:
        resp, body = fetch(apache, "POST", "/echo", body=payload)
        return resp.status == 200 and body == payload

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(one, payloads))
    assert all(results), f"{results.count(False)} of {len(results)} echoes differ"


# -- large response ----------------------------------------------------------------

@pytest.mark.timeout(120)
def test_100mib_streamed_response(apache: Apache) -> None:
    size = 100 * MIB + 12345  # not a whole number of chunks
    expected = hashlib.sha256()
    for piece in big_chunks(size):
        expected.update(piece)

    conn = apache.connection(timeout=60)
    try:
        conn.request("GET", f"/big?size={size}")
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Content-Length") == str(size)
        assert resp.getheader("Transfer-Encoding") is None
        got = hashlib.sha256()
        total = 0
        while piece := resp.read(MIB):
            got.update(piece)
            total += len(piece)
    finally:
        conn.close()
    assert total == size
    assert got.hexdigest() == expected.hexdigest()


# -- request headers -------------------------------------------------------------

def test_repeated_request_headers_are_comma_joined(apache: Apache) -> None:
    env = environ(apache, headers=[("X-Multi", "first"), ("X-Multi", "second")])
    assert env["HTTP_X_MULTI"] == "first, second"


def test_unusual_request_headers(apache: Apache) -> None:
    long_value = "v" * 4096
    env = environ(apache, headers=[
        ("X-Long", long_value),
        ("X-Latin1", b"caf\xe9 \xfcber \xff"),
        ("X-2nd-Try-42", "digits"),
        ("X-a-B-c", "case"),
        ("Authorization", "Bearer t0k3n"),
        ("Cookie", "a=1; b=2"),
        ("X-Spaces", "a  b"),
    ])
    assert env["HTTP_X_LONG"] == long_value
    assert env["HTTP_X_LATIN1"] == "caf\u00e9 \u00fcber \u00ff"
    assert env["HTTP_X_2ND_TRY_42"] == "digits"
    assert env["HTTP_X_A_B_C"] == "case"
    assert env["HTTP_AUTHORIZATION"] == "Bearer t0k3n"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["HTTP_X_SPACES"] == "a  b"


def test_dangerous_request_headers_are_dropped(apache: Apache) -> None:
    env = environ(apache, headers=[("Proxy", "http://evil.test/"), ("X_Under", "1"),
                                   ("X-Keep", "1")])
    assert "HTTP_PROXY" not in env
    assert not [k for k in env if k.startswith("HTTP_X_UNDER")]
    assert env["HTTP_X_KEEP"] == "1"


# -- response headers ------------------------------------------------------------

def test_repeated_set_cookie_stays_separate(apache: Apache) -> None:
    resp, body = fetch(apache, "GET", "/cookies")
    assert resp.status == 200
    assert body == b"cookies\n"
    assert resp.msg.get_all("Set-Cookie") == COOKIES


def test_unusual_response_headers_pass_unchanged(apache: Apache) -> None:
    resp, body = fetch(apache, "GET", "/headers")
    assert resp.status == 200
    assert body == b"headers\n"
    for name, value in UNUSUAL_HEADERS:
        assert resp.msg.get_all(name) == [value], name


# -- status codes ----------------------------------------------------------------

@pytest.mark.parametrize("code,reason", [
    (200, "OK"),
    (201, "Created"),
    (404, "Not Found"),
    (418, "I'm A Teapot, Really"),
    (503, "Come Back Later"),
])
def test_status_and_reason(apache: Apache, code: int, reason: str) -> None:
    resp, body = fetch(apache, "GET", f"/status?code={code}&reason={reason.replace(' ', '+')}")
    assert (resp.status, resp.reason) == (code, reason)
    assert body == f"status {code}\n".encode()


def test_unknown_route_is_apps_404(apache: Apache) -> None:
    resp, body = fetch(apache, "GET", "/no/such/thing")
    assert resp.status == 404
    assert body == b"no such route\n"


def test_204_has_no_body_and_connection_stays_usable(apache: Apache) -> None:
    conn = apache.connection()
    try:
        resp, body = fetch(apache, "GET", "/status?code=204&reason=No+Content", conn=conn)
        assert resp.status == 204
        assert body == b""
        assert resp.getheader("Content-Length") in (None, "0")
        # Stray body bytes would be parsed as the next response's status line.
        resp, body = fetch(apache, "GET", "/text", conn=conn)
        assert (resp.status, body) == (200, TEXT)
    finally:
        conn.close()


def test_301_with_location(apache: Apache) -> None:
    resp, _ = fetch(apache, "GET", "/status?code=301&reason=Moved+Permanently"
                                   "&location=http%3A%2F%2Fexample.test%2Fnew%3Fx%3D1")
    assert (resp.status, resp.reason) == (301, "Moved Permanently")
    assert resp.getheader("Location") == "http://example.test/new?x=1"


def test_app_exception_is_500_without_traceback(apache: Apache, group: FastWSGI) -> None:
    marker = "m" + os.urandom(6).hex()
    resp, body = fetch(apache, "GET", f"/error?id={marker}")
    assert resp.status == 500
    for leak in (b"Traceback", b"RuntimeError", marker.encode(), b"apache_echo"):
        assert leak not in body, body[:500]
    log = wait_for(lambda: marker in group.log() and group.log(), 10,
                   "the traceback in fastwsgi's error log")
    assert "Traceback" in log
    assert f"RuntimeError: apache-echo deliberate failure {marker}" in log


# -- HEAD ----------------------------------------------------------------------------

@pytest.mark.parametrize("path,length", [("/text", len(TEXT)), ("/big?size=3000000", 3000000)])
def test_head_keeps_headers_and_sends_no_body(apache: Apache, path: str, length: int) -> None:
    conn = apache.connection()
    try:
        resp, body = fetch(apache, "HEAD", path, conn=conn)
        assert resp.status == 200
        assert body == b""
        assert resp.getheader("Content-Length") == str(length)
        resp, body = fetch(apache, "GET", "/text", conn=conn)
        assert (resp.status, body) == (200, TEXT)
    finally:
        conn.close()


def test_head_raw_bytes_end_at_blank_line(apache: Apache) -> None:
    raw = raw_exchange(apache, b"HEAD /text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert sep and rest == b"", raw[-200:]
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"Content-Length: {len(TEXT)}".encode() in head.split(b"\r\n")
