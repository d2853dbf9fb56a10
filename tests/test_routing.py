"""Router processes serving a whole Site (fastwsgi/routing.py, cext/dispatch.pyx).

Real processes: two daemon groups started with `fastwsgi serve SCRIPT
--uwsgi-socket PATH`, and router processes for a Site built here
(tests/support/site_launch.py). The WSGI scripts in tests/support/site_apps
echo their environ as JSON, so each assertion reads what the application saw
(a daemon here runs the one script it was started with, so for daemon routes
the chosen script is read from SCRIPT_FILENAME in the frame):
virtual host by listener address and Host, longest-prefix and pattern
routes, mod_wsgi's SCRIPT_NAME / PATH_INFO split, embedded applications,
404 for no route, per-virtual-host access logs and the LimitRequest* limits.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastwsgi.config import GroupConfig, HttpConfig
from fastwsgi.site import AccessLog, DaemonGroup, Route, Site, VirtualHost
from tests.support.server import FastWSGI, short_tmpdir
from tests.support.site_router import SITE_APPS, SiteRouter
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(90)

ECHO = str(SITE_APPS / "echo.wsgi")
SECOND = str(SITE_APPS / "second.wsgi")
BROKEN = str(SITE_APPS / "broken.wsgi")
WHOAMI = str(SITE_APPS / "whoami.wsgi")
COUNTED = str(SITE_APPS / "counted.wsgi")
COMBINED = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'
COMMON = '%h %l %u %t "%r" %>s %b'


def route(prefix: str, mount: str | None, script: str, group: str, app_group: str = "",
          pattern: str | None = None, callable_object: str = "application") -> Route:
    return Route(prefix, mount, script, group, app_group, "test.conf:1", pattern,
                 callable_object)


def build_site(tmp: str, sockets: dict[str, str], **kw: object) -> Site:
    """Three listeners (127.0.0.1-3), three virtual hosts, the main server, two groups."""
    v1 = VirtualHost([("127.0.0.1", None)], "www.example.com", None,
                     ["example.com", "*.example.org", "h?st.test"], routes=[
                         route("/app/admin", "/app", ECHO, "beta", "example|/app"),
                         route("/app", "/app", ECHO, "alpha", "example|/app"),
                         route("/emb", "/emb", ECHO, "", "emb-group"),
                         route("/other", "/other", ECHO, "", "", callable_object="other"),
                         route("/broken", "/broken", BROKEN, "", ""),
                         route("/counted", "/counted", COUNTED, "", ""),
                         route("/dir", "/dir", str(SITE_APPS) + "/", "", ""),
                         route(r"^/m/([a-z]+)", None, str(SITE_APPS) + r"/\1.wsgi", "beta",
                               pattern=r"^/m/([a-z]+)"),
                         route(r"^/n/(\w+)/", None, str(SITE_APPS) + "/$1.wsgi", "alpha",
                               pattern=r"^/n/(\w+)/"),
                     ], source="test.conf:10")
    v2 = VirtualHost([("127.0.0.1", None)], "other.test", None, [],
                     routes=[route("/", "", SECOND, "beta", "other|")],
                     access_logs=[AccessLog(os.path.join(tmp, "other.log"), COMMON, "t:2")],
                     source="test.conf:20")
    v3 = VirtualHost([("127.0.0.2", None)], "two.test", None, [],
                     routes=[route("/", "", ECHO, "", "two|")], source="test.conf:30")
    main = VirtualHost([], "main.test", None, [],
                       routes=[route("/", "", ECHO, "", "main|")],
                       access_logs=[AccessLog(os.path.join(tmp, "main.log"), COMBINED, "t:1")])
    groups = [DaemonGroup(GroupConfig(name, "", socket_path=path), None, None, "test.conf:5")
              for name, path in sockets.items()]
    return Site(listens=["127.0.0.1:0", "127.0.0.2:0", "127.0.0.3:0"], main=main, vhosts=[v1, v2, v3],
                groups=groups, http=HttpConfig(header_timeout=5.0), **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def daemons() -> Iterator[dict[str, FastWSGI]]:
    servers = {name: FastWSGI(ECHO, "--process-group", name, "--threads", "4")
               for name in ("alpha", "beta")}
    try:
        for s in servers.values():
            s.start(wait=False)
        for s in servers.values():
            s.wait_ready()
        yield servers
    finally:
        for s in servers.values():
            s.stop()


@pytest.fixture(scope="module")
def site_router(daemons: dict[str, FastWSGI]) -> Iterator[SiteRouter]:
    tmp = short_tmpdir()
    site = build_site(tmp, {n: d.socket_path for n, d in daemons.items()},
                      limit_request_line=1000, limit_request_fields=20,
                      limit_request_field_size=500, embedded_imports=[(SECOND, "preloaded")])
    router = SiteRouter(site, threads=4, tmpdir=tmp)
    router.env["FW_IMPORT_LOG"] = os.path.join(tmp, "imports")
    with router:
        yield router


def get(router: SiteRouter, path: str, host: str | None = "www.example.com",
        index: int = 0, status: int = 200) -> dict[str, object]:
    code, body = router.request(path, host, index)
    assert code == status, (path, host, code, body, router.log()[-3000:])
    return json.loads(body) if status == 200 else {}


def test_virtual_host_by_host_header(site_router: SiteRouter) -> None:
    for host in ("www.example.com", "example.com", "WWW.Example.COM:8080", "a.b.example.org",
                 "host.test", "unknown.test", "example.com."):
        env = get(site_router, "/app/x", host)
        assert env["SCRIPT_FILENAME"] == ECHO and env["mod_wsgi.process_group"] == "alpha", host
        assert env["SCRIPT_NAME"] == "/app" and env["PATH_INFO"] == "/x", host
    for host in ("other.test", "OTHER.TEST:80"):
        env = get(site_router, "/app/x", host)
        assert env["SCRIPT_FILENAME"] == SECOND, host
        assert env["mod_wsgi.process_group"] == "beta"
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/app/x")
    # 'host.test' matched 'h?st.test', but '?' is one character only
    assert get(site_router, "/anything", "hooost.test", status=404) == {}


def test_virtual_host_by_listener_address(site_router: SiteRouter) -> None:
    for host in ("www.example.com", "other.test", "two.test"):
        env = get(site_router, "/app/x", host, index=1)
        assert env["mod_wsgi.process_group"] == "" and env["mod_wsgi.application_group"] == "two|"
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/app/x")


def test_main_server_where_no_virtual_host_listens(site_router: SiteRouter) -> None:
    for host in ("www.example.com", "main.test", "elsewhere.test"):
        env = get(site_router, "/x", host, index=2)
        assert env["mod_wsgi.application_group"] == "main|", host


@pytest.mark.parametrize("path,group,script_name,path_info", [
    ("/app", "alpha", "/app", ""),
    ("/app/", "alpha", "/app", "/"),
    ("/app/x/y", "alpha", "/app", "/x/y"),
    ("/app//x", "alpha", "/app", "/x"),
    ("//app///x//", "alpha", "/app", "/x/"),
    ("/app/%61dmin", "beta", "/app", "/admin"),
    ("/app/admin", "beta", "/app", "/admin"),
    ("/app/admin/z", "beta", "/app", "/admin/z"),
    ("/app/administrator", "alpha", "/app", "/administrator"),
    ("/app/x?q=1", "alpha", "/app", "/x"),
])
def test_prefix_routes_and_split(site_router: SiteRouter, path: str, group: str,
                                 script_name: str, path_info: str) -> None:
    env = get(site_router, path)
    assert env["mod_wsgi.process_group"] == group
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == (script_name, path_info)
    assert env["SCRIPT_FILENAME"] == ECHO
    assert env["mod_wsgi.callable_object"] == "application"
    assert env["QUERY_STRING"] == (path.partition("?")[2])


def test_segment_boundary_and_no_route(site_router: SiteRouter) -> None:
    before = len(site_router.errors())
    for path in ("/application", "/apps/x", "/", "/nothing/here", "/m/", "/m/Echo"):
        get(site_router, path, status=404)
    lines = wait_for(lambda: [x for x in site_router.errors()[before:]
                              if "No WSGI application" in x], 10, "404 log lines")
    assert len(lines) == 6, lines
    assert "GET /application on virtual host www.example.com: answered 404" in lines[0]


@pytest.mark.parametrize("path,script,script_name,path_info,group", [
    ("/m/echo", ECHO, "/m/echo", "", "beta"),
    ("/m/echo/rest/of", ECHO, "/m/echo", "/rest/of", "beta"),
    ("/m/second/", SECOND, "/m/second", "/", "beta"),
    ("/n/second/", SECOND, "/n/second/", "", "alpha"),
])
def test_pattern_routes(site_router: SiteRouter, path: str, script: str, script_name: str,
                        path_info: str, group: str) -> None:
    env = get(site_router, path)
    assert env["SCRIPT_FILENAME"] == script
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == (script_name, path_info)
    assert env["mod_wsgi.process_group"] == group


def test_pattern_matching_inside_a_segment_is_no_route(site_router: SiteRouter) -> None:
    get(site_router, "/m/echo1", status=404)  # ([a-z]+) stops inside 'echo1'
    get(site_router, "/n/second/x", status=404)  # mod_wsgi: script file '.../second.wsgix'


def test_embedded_applications(site_router: SiteRouter,
                               daemons: dict[str, FastWSGI]) -> None:
    routers = site_router.router_pids()
    env = get(site_router, "/emb/x")
    assert env["pid"] in routers
    assert env["mod_wsgi.process_group"] == ""
    assert env["mod_wsgi.application_group"] == "emb-group"
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/emb", "/x")
    env = get(site_router, "/other/y")
    assert env["mod_wsgi.callable_object"] == "other-called"  # WSGICallableObject 'other'
    env = get(site_router, "/dir/second.wsgi/p/q")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/dir/second.wsgi", "/p/q")
    assert env["SCRIPT_FILENAME"] == SECOND and env["app"] == "second.wsgi"
    assert env["pid"] in routers
    get(site_router, "/dir/missing.wsgi", status=404)
    get(site_router, "/dir", status=404)
    daemon_env = get(site_router, "/app/x")
    assert daemon_env["pid"] not in routers


def test_embedded_imports_are_preloaded_at_start(site_router: SiteRouter) -> None:
    # WSGIImportScript for embedded mode: loaded before the first request.
    first = site_router.log().split("is ready")[0]
    assert f"Loading WSGI script '{SECOND}' (application group 'preloaded') embedded" in first


def test_access_logs_reopen_on_sigusr1(site_router: SiteRouter) -> None:
    other = Path(site_router.tmpdir, "other.log")
    get(site_router, "/before-rotation", "other.test")
    wait_for(lambda: "before-rotation" in other.read_text(), 10, "line before the rotation")
    rotated = other.with_name("other.log.1")
    other.rename(rotated)
    site_router.signal(signal.SIGUSR1)
    wait_for(other.exists, 10, "the reopened log")
    get(site_router, "/after-rotation", "other.test")
    wait_for(lambda: "after-rotation" in other.read_text(), 10, "line after the rotation")
    assert "after-rotation" not in rotated.read_text()


def test_embedded_script_loads_once_under_concurrent_first_requests(
        site_router: SiteRouter) -> None:
    results: list[tuple[int, bytes]] = []
    threads = [threading.Thread(target=lambda: results.append(
        site_router.request("/counted", "www.example.com"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [(200, b"counted")] * 4
    assert len(Path(site_router.tmpdir, "imports").read_text().splitlines()) == 1


def test_keep_alive_connection_across_virtual_hosts(site_router: SiteRouter) -> None:
    family, address = site_router.addresses[0]
    with socket.create_connection(address, timeout=10) as s:
        s.sendall(b"GET /app/one HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
                  b"GET /two HTTP/1.1\r\nHost: other.test\r\n\r\n"
                  b"GET /nothing HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
                  b"GET /emb/three HTTP/1.1\r\nHost: www.example.com\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"200", b"200", b"404", b"200"], data
    bodies = [json.loads(m) for m in re.findall(rb"\{[^{}]*\}", data)]
    assert [b["SCRIPT_FILENAME"] for b in bodies] == [ECHO, SECOND, ECHO]
    assert [b["PATH_INFO"] for b in bodies] == ["/one", "/two", "/three"]
    other = Path(site_router.tmpdir, "other.log")
    wait_for(lambda: '"GET /two HTTP/1.1"' in other.read_text(), 10, "the vhost's line")
    assert '"GET /app/one' not in other.read_text() and '"GET /emb/three' not in other.read_text()


def test_embedded_import_failure_is_500_with_traceback_in_log(site_router: SiteRouter) -> None:
    code, body = site_router.request("/broken/x", "www.example.com")
    assert code == 500
    assert b"RuntimeError" not in body and b"Traceback" not in body
    wait_for(lambda: "broken.wsgi fails to import on purpose" in site_router.log(), 10,
             "the traceback in the error log")
    assert "Traceback" in site_router.log()
    # retried on the next request, as mod_wsgi does
    assert site_router.request("/broken/x", "www.example.com")[0] == 500


def test_access_logs_per_virtual_host(site_router: SiteRouter) -> None:
    get(site_router, "/app/logged-main", "www.example.com")
    get(site_router, "/logged-other", "other.test")
    get(site_router, "/logged-two", "two.test", index=1)
    main = Path(site_router.tmpdir, "main.log")
    other = Path(site_router.tmpdir, "other.log")
    wait_for(lambda: "logged-two" in main.read_text() and "logged-other" in other.read_text(),
             10, "access log lines")
    main_lines = main.read_text().splitlines()
    other_lines = other.read_text().splitlines()
    assert not any("logged-other" in x for x in main_lines)
    assert not any("logged-main" in x or "logged-two" in x for x in other_lines)
    line = next(x for x in main_lines if "logged-main" in x)
    assert re.fullmatch(r'127\.0\.0\.1 - - \[[^]]+\] "GET /app/logged-main HTTP/1\.1" 200 \d+ '
                        r'"-" "-"', line), line
    line = next(x for x in other_lines if "logged-other" in x)
    assert re.fullmatch(r'127\.0\.0\.1 - - \[[^]]+\] "GET /logged-other HTTP/1\.1" 200 \d+',
                        line), line
    get(site_router, "/no-such-route", "www.example.com", status=404)
    wait_for(lambda: '"GET /no-such-route HTTP/1.1" 404 ' in main.read_text(), 10,
             "the 404's access log line")


def test_limits_from_the_site(site_router: SiteRouter) -> None:
    assert site_router.request("/app/" + "a" * 900)[0] == 200
    assert site_router.request("/app/" + "a" * 1000)[0] == 414
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(18))  # + Host + Connection = 20
    assert site_router.request("/app/x", extra=fields)[0] == 200
    assert site_router.request("/app/x", extra=fields + b"X-More: 1\r\n")[0] == 431
    assert site_router.request("/app/x", extra=b"X-Long: " + b"v" * 480 + b"\r\n")[0] == 200
    assert site_router.request("/app/x", extra=b"X-Long: " + b"v" * 500 + b"\r\n")[0] == 431


@pytest.mark.skipif(os.geteuid() != 0, reason="the identity drop needs root")
def test_router_drops_to_site_user(daemons: dict[str, FastWSGI]) -> None:
    import pwd
    nobody = pwd.getpwnam("nobody")
    tmp = short_tmpdir()
    site = build_site(tmp, {n: d.socket_path for n, d in daemons.items()},
                      user="nobody", group=None)
    site.vhosts[0].routes.insert(0, route("/who", "/who", WHOAMI, "", ""))
    with SiteRouter(site, threads=2, tmpdir=tmp) as router:
        (pid,) = router.router_pids()
        status = Path(f"/proc/{pid}/status").read_text()
        uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()  # type: ignore[union-attr]
        gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()  # type: ignore[union-attr]
        assert uids == [str(nobody.pw_uid)] * 4
        assert gids == [str(nobody.pw_gid)] * 4
        code, body = router.request("/who", "www.example.com")  # loaded after the drop
        assert (code, body) == (200, b"%d %d" % (nobody.pw_uid, pid)), router.log()[-2000:]
        # the access log was opened as root, before the drop
        get(router, "/app/after-drop", status=get_status_for_nobody(daemons))
        wait_for(lambda: "after-drop" in Path(tmp, "main.log").read_text(), 10, "log line")


def get_status_for_nobody(daemons: dict[str, FastWSGI]) -> int:
    """200 when 'nobody' may connect to the daemon's socket, else the router's 503.

    (The daemons here run as root with their socket in a 0700 temp dir;
    making group sockets reachable by the router's user is the supervisor's.)
    """
    path = daemons["alpha"].socket_path
    reachable = (os.stat(os.path.dirname(path)).st_mode & 0o001
                 and os.stat(path).st_mode & 0o002)
    return 200 if reachable else 503
