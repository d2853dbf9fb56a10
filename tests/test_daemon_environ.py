"""The environ a daemon builds: PEP 3333 keys, the uwsgi frame's CGI variables,
the mod_wsgi keys, and the process/thread flags that follow the group options
(DESIGN.md, "Environ rules that users rely on"; spec/WSGIDaemonProcess.txt).

The app is tests/apps/wsgi_env.py: it answers the environ as JSON, and has two
helpers that prove real concurrency (a threading.Barrier, and a directory that
requests in different processes meet in).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import FastWSGI
from tests.support.uwsgi_client import request

APP = "wsgi_env:application"
Start = Callable[..., FastWSGI]

pytestmark = pytest.mark.timeout(60)


def environ(server: FastWSGI, path: str = "/", **kw: Any) -> dict[str, Any]:
    resp = request(path, socket_path=server.socket_path, **kw)
    assert resp.status == 200, (resp.status, resp.body[:500], server.log()[-2000:])
    return json.loads(resp.body)


@pytest.fixture(scope="module")
def default_server() -> Iterator[FastWSGI]:
    with FastWSGI(APP) as server:
        yield server


def _serve_help() -> str:
    out = subprocess.run([sys.executable, "-m", "fastwsgi", "serve", "--help"],
                         capture_output=True, text=True, timeout=30)
    return out.stdout + out.stderr


# -- PEP 3333 keys -----------------------------------------------------------

def test_wsgi_version_and_default_scheme(default_server: FastWSGI) -> None:
    env = environ(default_server)
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    for key in ("wsgi.input", "wsgi.errors"):
        assert key in env
    for key in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once"):
        assert isinstance(env[key], bool), (key, env[key])


@pytest.mark.parametrize(("https", "scheme"), [
    ("on", "https"), ("On", "https"), ("1", "https"), ("off", "http"), ("", "http"),
])
def test_url_scheme_follows_https_variable(
        default_server: FastWSGI, https: str, scheme: str) -> None:
    assert environ(default_server, extra={"HTTPS": https})["wsgi.url_scheme"] == scheme


def test_cgi_variables_pass_through(default_server: FastWSGI) -> None:
    env = environ(default_server, "/some/caf\xe9/x y", method="DELETE", query="a=1&b=%20c",
                  extra={"SERVER_NAME": "example.org", "SERVER_PORT": "8443",
                         "REMOTE_ADDR": "192.0.2.7", "REMOTE_PORT": "40123",
                         "SERVER_PROTOCOL": "HTTP/1.0", "SCRIPT_NAME": "/mount"})
    assert env["REQUEST_METHOD"] == "DELETE"
    assert env["PATH_INFO"] == "/some/caf\xe9/x y"
    assert env["QUERY_STRING"] == "a=1&b=%20c"
    assert env["SCRIPT_NAME"] == "/mount"
    assert env["SERVER_NAME"] == "example.org"
    assert env["SERVER_PORT"] == "8443"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert env["REMOTE_ADDR"] == "192.0.2.7"
    assert env["REMOTE_PORT"] == "40123"


def test_http_headers_pass_through(default_server: FastWSGI) -> None:
    env = environ(default_server, headers={"X-Custom-Thing": "v1, v2", "Accept": "text/html",
                                           "Cookie": "a=b; c=d"})
    assert env["HTTP_X_CUSTOM_THING"] == "v1, v2"
    assert env["HTTP_ACCEPT"] == "text/html"
    assert env["HTTP_COOKIE"] == "a=b; c=d"
    assert env["HTTP_HOST"] == "localhost"


def test_content_type_and_length_pass_through(default_server: FastWSGI) -> None:
    env = environ(default_server, method="POST", body=b"0123456789",
                  extra={"CONTENT_TYPE": "text/plain; charset=utf-8"})
    assert env["CONTENT_LENGTH"] == "10"
    assert env["CONTENT_TYPE"] == "text/plain; charset=utf-8"


def test_non_dotted_keys_are_native_strings(default_server: FastWSGI) -> None:
    env = environ(default_server, headers={"X-Latin": "\xe9t\xe9"})
    assert env["HTTP_X_LATIN"] == "\xe9t\xe9"
    for key, value in env.items():
        if "." not in key and key != "pid":
            assert isinstance(value, str), (key, value)


# -- mod_wsgi and fastwsgi keys ------------------------------------------------

def test_mod_wsgi_groups_when_given(fastwsgi_server: Start) -> None:
    server = fastwsgi_server(APP, "--process-group", "shop-daemons",
                             "--application-group", "shop.example.org|/app")
    env = environ(server)
    assert env["mod_wsgi.process_group"] == "shop-daemons"
    assert env["mod_wsgi.application_group"] == "shop.example.org|/app"


def test_mod_wsgi_groups_by_default(default_server: FastWSGI) -> None:
    env = environ(default_server)
    assert isinstance(env["mod_wsgi.process_group"], str)
    assert env["mod_wsgi.process_group"], "a daemon's process group is never ''"
    assert isinstance(env["mod_wsgi.application_group"], str)


def test_fastwsgi_version_present(default_server: FastWSGI) -> None:
    env = environ(default_server)
    assert env.get("fastwsgi.version"), env.get("fastwsgi.version")


# -- process and thread flags --------------------------------------------------

@pytest.mark.parametrize(("flags", "expected"), [
    ((), True), (("--threads", "5"), True), (("--threads", "1"), False),
], ids=["default-15", "threads-5", "threads-1"])
def test_multithread(fastwsgi_server: Start, flags: tuple[str, ...], expected: bool) -> None:
    assert environ(fastwsgi_server(APP, *flags))["wsgi.multithread"] is expected


@pytest.mark.parametrize(("flags", "expected"), [
    ((), False), (("--processes", "1"), True), (("--processes", "2"), True),
], ids=["omitted", "processes-1", "processes-2"])
def test_multiprocess_follows_whether_processes_was_given(
        fastwsgi_server: Start, flags: tuple[str, ...], expected: bool) -> None:
    assert environ(fastwsgi_server(APP, *flags))["wsgi.multiprocess"] is expected


@pytest.mark.parametrize(("flags", "expected"), [
    (("--threads", "1", "--maximum-requests", "1"), True),
    (("--threads", "1"), False),
    (("--threads", "2", "--maximum-requests", "1"), False),
    (("--threads", "1", "--maximum-requests", "2"), False),
], ids=["threads-1-max-1", "threads-1", "threads-2-max-1", "threads-1-max-2"])
def test_run_once(fastwsgi_server: Start, flags: tuple[str, ...], expected: bool) -> None:
    if "--maximum-requests" in flags and "--maximum-requests" not in _serve_help():
        pytest.xfail("fastwsgi serve has no --maximum-requests option yet")
    assert environ(fastwsgi_server(APP, *flags))["wsgi.run_once"] is expected


def test_default_server_is_single_process_multithreaded(default_server: FastWSGI) -> None:
    env = environ(default_server)
    assert (env["wsgi.multiprocess"], env["wsgi.multithread"], env["wsgi.run_once"]) == (
        False, True, False)


def _concurrently(n: int, call: Callable[[], Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return [f.result() for f in [pool.submit(call) for _ in range(n)]]


@pytest.mark.parametrize(("flags", "n"), [(("--threads", "5"), 5), ((), 15)],
                         ids=["threads-5", "default-15"])
def test_threads_serve_concurrently(fastwsgi_server: Start, flags: tuple[str, ...],
                                    n: int) -> None:
    server = fastwsgi_server(APP, *flags)
    # Each request waits in the app until n requests are inside it at once.
    responses = _concurrently(n, lambda: request("/barrier", query=f"n={n}",
                                                 socket_path=server.socket_path))
    assert [(r.status, r.body) for r in responses] == [(200, b"passed")] * n


def test_requests_spread_over_processes(fastwsgi_server: Start, tmp_path: Path) -> None:
    server = fastwsgi_server(APP, "--processes", "2", "--threads", "1")
    # Each request notes its pid and waits until both are inside the app; with
    # one thread per process that is only possible in two different processes.
    responses = _concurrently(2, lambda: request("/hold", query=f"dir={tmp_path}&n=2",
                                                 socket_path=server.socket_path))
    pids = [json.loads(r.body) for r in responses]
    assert all(len(p) == 2 for p in pids), pids
    assert pids[0] == pids[1]
    assert environ(server)["wsgi.multiprocess"] is True
