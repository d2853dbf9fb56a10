"""`fastwsgi run -f site.conf` end to end: real routers, real daemon groups.

The first tests run the example at the end of the spec (two virtual hosts, two
daemon groups as two users, processes=2 threads=25) as it is written, with
the port, the users (created for the test) and the `...` (a WSGIScriptAlias)
filled in, plus two lines: a Listen on the test's free port and a
WSGISocketPrefix, so that the test can find the group sockets. The others check routing by Host and prefix,
embedded applications, a broken configuration, and real Apache in front
through mod_proxy_http.
"""

from __future__ import annotations

import ast
import errno
import grp
import http.client
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.apache import Apache, apache_available, free_port
from tests.support.site_server import SiteServer, proc_uid, user_uid, write_app
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

USERS = ("fwjoe", "fwbob")

SPEC_EXAMPLE = """\
Listen 127.0.0.1:{port}
WSGISocketPrefix run/wsgi

<VirtualHost *:{port}>
ServerName www.site1.com
CustomLog logs/www.site1.com-access_log common
ErrorLog logs/ww.site1.com-error_log

WSGIDaemonProcess www.site1.com user=fwjoe group=fwjoe processes=2 threads=25
WSGIProcessGroup www.site1.com

WSGIScriptAlias / {dir}/site1.wsgi
</VirtualHost>

<VirtualHost *:{port}>
ServerName www.site2.com
CustomLog logs/www.site2.com-access_log common
ErrorLog logs/www.site2.com-error_log

WSGIDaemonProcess www.site2.com user=fwbob group=fwbob processes=2 threads=25
WSGIProcessGroup www.site2.com

WSGIScriptAlias / {dir}/site2.wsgi
</VirtualHost>
"""


@pytest.fixture(scope="module")
def site_users() -> Iterator[tuple[str, str]]:
    """Two system users with their own groups, as the spec's joe and bob."""
    if os.geteuid() != 0:
        pytest.skip("running daemon groups as other users needs root")
    created = []
    for name in USERS:
        try:
            user_uid(name)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--user-group",
                            "--shell", "/usr/sbin/nologin", name], check=True)
            created.append(name)
    yield USERS
    for name in created:
        subprocess.run(["userdel", name], check=False)


@pytest.fixture(scope="module")
def spec_site(site_users: tuple[str, str]) -> Iterator[tuple[SiteServer, int]]:
    port = free_port()
    server = SiteServer("")
    write_app(server.tmpdir, "site1.wsgi", "site1")
    write_app(server.tmpdir, "site2.wsgi", "site2")
    Path(server.conf_path).write_text(SPEC_EXAMPLE.format(port=port, dir=server.tmpdir))
    with server:
        server.wait_answers(port, "www.site1.com")
        server.wait_answers(port, "www.site2.com")
        yield server, port


def processes_of(server: SiteServer, uid: int) -> set[int]:
    """The pids in the server's process group that run as uid."""
    assert server.proc is not None
    pgid = server.proc.pid
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) == pgid and proc_uid(int(entry)) == uid:
                found.add(int(entry))
        except (OSError, AssertionError):
            continue
    return found


def test_spec_example_each_site_answers_from_its_own_processes_as_its_own_user(spec_site):
    server, port = spec_site
    seen: dict[str, set[int]] = {"site1": set(), "site2": set()}
    for i in range(40):
        host = "www.site1.com" if i % 2 == 0 else "www.site2.com"
        data = server.get_info(port, f"/page/{i}", host=host)
        site = "site1" if host == "www.site1.com" else "site2"
        assert data["site"] == site
        assert data["process_group"] == host
        assert data["multiprocess"] is True and data["multithread"] is True
        assert data["uid"] == user_uid("fwjoe" if site == "site1" else "fwbob")
        assert proc_uid(data["pid"]) == data["uid"]
        seen[site].add(data["pid"])
    assert not seen["site1"] & seen["site2"]
    # processes=2: each group is exactly two processes of its user.
    site1_procs = processes_of(server, user_uid("fwjoe"))
    site2_procs = processes_of(server, user_uid("fwbob"))
    assert len(site1_procs) == 2, site1_procs
    assert len(site2_procs) == 2, site2_procs
    assert seen["site1"] <= site1_procs and seen["site2"] <= site2_procs


def test_spec_example_routes_by_host_header(spec_site):
    server, port = spec_site
    assert server.get_info(port, "/", host=f"www.site2.com:{port}")["site"] == "site2"
    assert server.get_info(port, "/", host="WWW.SITE2.COM")["site"] == "site2"
    # A Host no virtual host names goes to the first one, as in Apache.
    assert server.get_info(port, "/", host="unknown.example")["site"] == "site1"


def test_spec_example_splits_script_name_and_path_info(spec_site):
    server, port = spec_site
    data = server.get_info(port, "/a/b%20c?x=1", host="www.site1.com")
    assert (data["script_name"], data["path_info"], data["query"]) == ("", "/a/b c", "x=1")


def test_spec_example_error_logs_are_per_virtual_host(spec_site):
    server, port = spec_site
    server.get_info(port, "/", host="www.site1.com", headers={"X-Marker": "one-m1"})
    server.get_info(port, "/", host="www.site2.com", headers={"X-Marker": "two-m2"})
    wait_for(lambda: "marker one-m1" in server.file("logs/ww.site1.com-error_log"), 10,
             "site1's marker in its error log")
    wait_for(lambda: "marker two-m2" in server.file("logs/www.site2.com-error_log"), 10,
             "site2's marker in its error log")
    assert "one-m1" not in server.file("logs/www.site2.com-error_log")
    assert "two-m2" not in server.file("logs/ww.site1.com-error_log")


def test_spec_example_access_logs_are_per_virtual_host(spec_site):
    server, port = spec_site
    server.get_info(port, "/only-site1?q=1", host="www.site1.com")
    server.get_info(port, "/only-site2", host="www.site2.com")
    wait_for(lambda: '"GET /only-site1?q=1 HTTP/1.1" 200' in
             server.file("logs/www.site1.com-access_log"), 10, "site1 access log line")
    wait_for(lambda: '"GET /only-site2 HTTP/1.1" 200' in
             server.file("logs/www.site2.com-access_log"), 10, "site2 access log line")
    assert "/only-site2" not in server.file("logs/www.site1.com-access_log")
    assert "/only-site1" not in server.file("logs/www.site2.com-access_log")


def connect_as(uid: int, gid: int, path: str) -> int:
    """0 if a process with this uid/gid can connect to the UNIX socket, else the errno."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only connects and exits
        code = 0
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(path)
        except OSError as exc:
            code = exc.errno or 255
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_spec_example_group_sockets_refuse_other_users(spec_site):
    server, _ = spec_site
    run_dir = Path(server.tmpdir, "run")
    sockets = {}
    for path in run_dir.glob("wsgi.*.sock"):
        sockets[grp.getgrgid(path.stat().st_gid).gr_name] = str(path)
    assert set(sockets) >= {"fwjoe", "fwbob"}, sockets
    joe, bob = (user_uid(u) for u in USERS)
    joe_gid, bob_gid = (grp.getgrnam(u).gr_gid for u in USERS)
    assert connect_as(bob, bob_gid, sockets["fwjoe"]) == errno.EACCES
    assert connect_as(joe, joe_gid, sockets["fwbob"]) == errno.EACCES
    assert connect_as(joe, joe_gid, sockets["fwjoe"]) == 0
    assert os.stat(sockets["fwjoe"]).st_mode & 0o007 == 0


ROUTING = """\
Listen 127.0.0.1:{port}
ServerName main.example
# Directives of an Apache configuration that fastwsgi does not need: skipped
# with one warning each.
DocumentRoot {dir}
<Directory {dir}>
    Require all granted
    Options -Indexes
</Directory>
RewriteEngine On

WSGIDaemonProcess front processes=1 threads=4
WSGIDaemonProcess api processes=1 threads=4

<VirtualHost *:{port}>
    ServerName apps.example
    ServerAlias *.apps.example
    WSGIProcessGroup front
    WSGIScriptAlias /api {dir}/api.wsgi process-group=api application-group=%{{GLOBAL}}
    WSGIScriptAlias /embedded {dir}/embedded.wsgi process-group=%{{GLOBAL}}
    WSGIScriptAlias / {dir}/front.wsgi
</VirtualHost>
"""


@pytest.fixture(scope="module")
def routing_site() -> Iterator[tuple[SiteServer, int]]:
    port = free_port()
    server = SiteServer("")
    for name in ("front", "api", "embedded"):
        write_app(server.tmpdir, f"{name}.wsgi", name)
    Path(server.conf_path).write_text(ROUTING.format(port=port, dir=server.tmpdir))
    with server:
        server.wait_answers(port, "apps.example")
        yield server, port


@pytest.mark.parametrize("path, site, script_name, path_info", [
    ("/", "front", "", "/"),
    ("/x/y", "front", "", "/x/y"),
    ("/api", "api", "/api", ""),
    ("/api/", "api", "/api", "/"),
    ("/api/v1/users", "api", "/api", "/v1/users"),
    ("/apix", "front", "", "/apix"),          # a prefix matches at a segment boundary
    ("/embedded/e", "embedded", "/embedded", "/e"),
])
def test_longest_prefix_routing_and_split(routing_site, path, site, script_name, path_info):
    server, port = routing_site
    data = server.get_info(port, path, host="apps.example")
    assert (data["site"], data["script_name"], data["path_info"]) == (site, script_name, path_info)


def test_groups_and_application_groups_per_route(routing_site):
    server, port = routing_site
    front = server.get_info(port, "/", host="www.apps.example")  # the wildcard alias
    api = server.get_info(port, "/api/x", host="apps.example")
    embedded = server.get_info(port, "/embedded/", host="apps.example")
    assert front["process_group"] == "front"
    # mod_wsgi's default %{RESOURCE}: server name (and port unless 80/443) | SCRIPT_NAME.
    assert re.fullmatch(rf"apps\.example(:{port})?\|", front["application_group"])
    assert api["process_group"] == "api" and api["application_group"] == ""
    # Not delegated: runs in the router process itself.
    assert embedded["process_group"] == ""
    assert len({front["pid"], api["pid"], embedded["pid"]}) == 3


def test_unrelated_apache_directives_are_warnings(routing_site):
    server, _ = routing_site
    log = server.log() + server.stderr()
    for directive in ("DocumentRoot", "Require", "Options", "RewriteEngine"):
        assert directive in log, f"no warning naming {directive}:\n{log}"


def test_a_broken_configuration_starts_nothing():
    port = free_port()
    server = SiteServer("")
    Path(server.conf_path).write_text(
        f"Listen 127.0.0.1:{port}\n"
        "WSGIDaemonProcess g processes=2 threads=zero\n")
    with server:
        assert server.proc is not None
        assert server.proc.wait(timeout=30) == 2
    err = server.stderr()
    assert f"{server.conf_path}:2:" in err and "WSGIDaemonProcess" in err and "threads" in err
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.skipif(not apache_available(), reason="needs Debian's apache2")
def test_apache_in_front_through_mod_proxy_http(spec_site):
    server, port = spec_site
    apache = Apache(f"ProxyPreserveHost On\nProxyPass / http://127.0.0.1:{port}/\n")
    try:
        apache.start()
        for host, site in (("www.site1.com", "site1"), ("www.site2.com", "site2")):
            conn = http.client.HTTPConnection("127.0.0.1", apache.port, timeout=10)
            conn.request("GET", "/via/apache?z=1", headers={"Host": host})
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            assert resp.status == 200, (resp.status, body[:300], apache.error_log()[-2000:])
            data = ast.literal_eval(body.decode())
            assert data["site"] == site
            assert data["path_info"] == "/via/apache" and data["query"] == "z=1"
            assert data["uid"] == user_uid("fwjoe" if site == "site1" else "fwbob")
    finally:
        apache.stop()
