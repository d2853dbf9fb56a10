"""Daemon groups of a Site (run -f), with real processes, users and sockets.

Two groups run as two system users created for the session. The tests talk
to each group's socket directly with the uwsgi client, sending the frame
variables the router sends (SCRIPT_FILENAME, mod_wsgi.application_group,
mod_wsgi.callable_object, SCRIPT_NAME, PATH_INFO).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import short_tmpdir
from tests.support.site_launcher import SiteServer
from tests.support.uwsgi_client import Response, request
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.timeout(90),
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (users, chown)")]

APPS = Path(__file__).resolve().parent / "apps" / "site"
USERS = ("fwsite-a", "fwsite-b")
ROUTER_USER = "www-data"


@pytest.fixture(scope="session")
def users() -> Iterator[dict[str, pwd.struct_passwd]]:
    """Two system users, created if missing and removed afterwards."""
    created = []
    for name in USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                            "/usr/sbin/nologin", name], check=True)
            created.append(name)
    yield {name: pwd.getpwnam(name) for name in USERS}
    for name in created:
        subprocess.run(["userdel", name], check=False)


@pytest.fixture(scope="module")
def appdir() -> Iterator[Path]:
    """The test applications in a temp dir the groups' users can read."""
    tmp = Path(short_tmpdir())
    tmp.chmod(0o755)
    shutil.copytree(APPS, tmp / "apps")
    (tmp / "apps").chmod(0o755)
    effects = tmp / "apps" / "effects"
    effects.mkdir()
    effects.chmod(0o777)  # the applications run as the groups' users
    for sub in ("lib", "blib"):
        (tmp / sub).mkdir()
        (tmp / sub).chmod(0o755)
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


def site_spec(root: Path) -> dict:
    apps = root / "apps"
    probe = str(apps / "probe.wsgi")
    return {
        "user": ROUTER_USER,
        "socket_prefix": str(root / "wsgi"),
        "python_path": [str(root / "lib")],
        "groups": [
            {"name": "alpha", "error_log": str(root / "alpha-vhost.log"),
             "options": {"user": USERS[0], "processes": 1, "threads": 4},
             "apps": [[probe, "", "application"], [probe, "second", "application"],
                      [probe, "", "other"], [str(apps / "broken.wsgi"), "", "application"],
                      [str(apps / "slow.wsgi"), "", "application"],
                      [str(apps / "tpl" / "$1.wsgi"), "tpl", "application"]],
             "imports": [[str(apps / "preload.wsgi"), ""]]},
            {"name": "beta",
             "options": {"user": USERS[1], "processes": 2, "threads": 2,
                         "python-path": str(root / "blib")},
             "apps": [[probe, "", "application"]]},
        ],
    }


@pytest.fixture(scope="module")
def site(users: dict, appdir: Path) -> Iterator[SiteServer]:
    server = SiteServer(site_spec(appdir), str(appdir))
    try:
        yield server.start()
    finally:
        server.stop()


def apps_of(server: SiteServer) -> Path:
    """The applications' directory of a site started from site_spec()."""
    return Path(server.spec["python_path"][0]).parent / "apps"


def ask(server: SiteServer, group: str, script: str, app_group: str = "",
        path: str = "/", callable_object: str | None = None,
        script_name: str = "/app") -> Response:
    extra = {"SCRIPT_FILENAME": script, "mod_wsgi.application_group": app_group,
             "SCRIPT_NAME": script_name, "mod_wsgi.process_group": "someone-else"}
    if callable_object is not None:
        extra["mod_wsgi.callable_object"] = callable_object
    return request(path, extra=extra, socket_path=server.socket_path(group), timeout=20)


def probe(server: SiteServer, group: str, app_group: str = "", path: str = "/") -> dict:
    r = ask(server, group, str(apps_of(server) / "probe.wsgi"), app_group, path)
    assert r.status == 200, r.raw
    return json.loads(r.body)


def uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]


def test_each_group_answers_from_its_own_processes_as_its_user(site, users):
    for group, user in (("alpha", USERS[0]), ("beta", USERS[1])):
        info = probe(site, group)
        assert info["pid"] in site.pids(group)
        assert uid_of(info["pid"]) == users[user].pw_uid
        assert info["uid"] == users[user].pw_uid
    assert set(site.pids("alpha")).isdisjoint(site.pids("beta"))
    assert len(site.pids("beta")) == 2


def test_environ_takes_the_frames_application_group_and_split(site):
    info = probe(site, "alpha", "second", "/x/y")
    assert info["application_group"] == "second"
    # The group is the daemon's own, whatever the frame claims.
    assert info["process_group"] == "alpha"
    assert (info["script_name"], info["path_info"]) == ("/app", "/x/y")


def test_application_groups_have_separate_module_globals(site):
    first = [probe(site, "alpha", "") for _ in range(3)]
    second = probe(site, "alpha", "second")
    assert len({i["pid"] for i in first + [second]}) == 1  # one process: same interpreter
    assert first[0]["token"] == first[2]["token"]
    assert first[2]["count"] == first[0]["count"] + 2
    assert second["token"] != first[0]["token"]
    assert second["module"] != first[0]["module"]


def test_callable_object_picks_another_callable(site):
    r = ask(site, "alpha", str(apps_of(site) / "probe.wsgi"),
            callable_object="other")
    assert (r.status, r.body) == (200, b"other callable\n")


def test_script_of_no_group_is_refused_and_never_imported(site):
    stranger = str(apps_of(site) / "stranger.wsgi")
    r = ask(site, "alpha", stranger)
    assert r.status == 404
    assert not list((apps_of(site) / "effects").glob("stranger-*"))
    wait_for(lambda: f"refused a request for script '{stranger}'" in
             (apps_of(site).parent / "alpha-vhost.log").read_text(), 10, "refusal logged")


def test_known_script_with_an_unconfigured_application_group_is_refused(site):
    probe_path = str(apps_of(site) / "probe.wsgi")
    assert ask(site, "beta", probe_path, "second").status == 404  # only alpha has 'second'
    assert ask(site, "alpha", probe_path, callable_object="missing").status == 404


def test_template_script_matches_only_files_inside_it(site):
    tpl = apps_of(site) / "tpl"
    r = ask(site, "alpha", str(tpl / "one.wsgi"), "tpl")
    assert (r.status, r.body) == (200, b"one\n")
    # A back-reference may not climb out of the template's directory.
    assert ask(site, "alpha", f"{tpl}/../stranger.wsgi", "tpl").status == 404
    assert ask(site, "alpha", str(tpl / "absent.wsgi"), "tpl").status == 404
    assert not list((apps_of(site) / "effects").glob("stranger-*"))


def test_import_script_ran_at_start_and_is_the_module_requests_use(site):
    effects = apps_of(site) / "effects"
    pid = site.pids("alpha")[0]
    mark = effects / f"preload-{pid}"
    assert mark.exists()  # before any request to it
    r = ask(site, "alpha", str(apps_of(site) / "preload.wsgi"))
    assert (r.status, r.body.decode()) == (200, mark.read_text())


def test_load_failure_answers_500_and_is_retried(site):
    broken = str(apps_of(site) / "broken.wsgi")
    assert ask(site, "alpha", broken).status == 500
    assert ask(site, "alpha", broken).status == 500
    log = apps_of(site).parent / "alpha-vhost.log"
    wait_for(lambda: "Failed again to load" in log.read_text(), 10, "second failure")
    # The traceback once (it shows the source line), then one line.
    assert log.read_text().count('raise RuntimeError("broken on purpose")') == 1
    (apps_of(site) / "effects" / "fixed").touch()
    r = ask(site, "alpha", broken)
    assert (r.status, r.body) == (200, b"fixed\n")


def test_concurrent_first_requests_load_once(site):
    slow = str(apps_of(site) / "slow.wsgi")
    results: list[int] = []

    def one() -> None:
        results.append(ask(site, "alpha", slow).status)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [200] * 4
    loads = (apps_of(site) / "effects" / "slow-loads").read_text().split()
    assert loads == [str(site.pids("alpha")[0])]


def test_group_logs_go_to_its_error_log(site):
    probe(site, "alpha", path="/errors")
    vhost = apps_of(site).parent / "alpha-vhost.log"
    wait_for(lambda: "probe writes to wsgi.errors" in vhost.read_text(), 10, "app line")
    accepting = r"Daemon process '{}' \(pid=\d+\) accepting requests"
    assert re.search(accepting.format("alpha"), vhost.read_text())
    assert not re.search(accepting.format("alpha"), site.log())
    assert "probe writes to wsgi.errors" not in site.log()
    # beta has no error log of its own: the server's.
    assert re.search(accepting.format("beta"), site.log())


def test_python_path_of_the_group_comes_before_the_sites(site):
    root = Path(site.tmpdir)
    beta = probe(site, "beta")["sys_path"]
    assert beta.index(str(root / "blib")) < beta.index(str(root / "lib"))
    assert str(root / "lib") in probe(site, "alpha")["sys_path"]


def test_socket_names_owner_and_mode(site, users):
    router = pwd.getpwnam(ROUTER_USER)
    for n, (group, user) in enumerate((("alpha", USERS[0]), ("beta", USERS[1]))):
        path = site.socket_path(group)
        assert path == f"{site.tmpdir}/wsgi.{site.pid}.{n}.sock"
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert (st.st_uid, st.st_gid) == (router.pw_uid, users[user].pw_gid)


def test_without_prefix_or_user_private_socket_and_the_servers_user(users, appdir):
    tmp = short_tmpdir()
    spec = site_spec(appdir)
    del spec["socket_prefix"]
    spec["groups"] = spec["groups"][1:]
    del spec["groups"][0]["options"]["user"]  # then it runs as the server's User
    spec["error_log"] = os.path.join(tmp, "server.log")
    server = SiteServer(spec, tmp)
    router = pwd.getpwnam(ROUTER_USER)
    try:
        server.start()
        path = server.socket_path("beta")
        assert Path(path).name == "0.sock"
        directory = os.path.dirname(path)
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o711
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert (st.st_uid, st.st_gid) == (router.pw_uid, router.pw_gid)
        info = probe(server, "beta")
        assert info["process_group"] == "beta"
        assert (info["uid"], info["gid"]) == (router.pw_uid, router.pw_gid)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    assert not os.path.exists(directory)


def test_reload_and_stop_of_a_multi_group_site(users, appdir):
    tmp = short_tmpdir()
    spec = site_spec(appdir)
    spec["socket_prefix"] = os.path.join(tmp, "wsgi")
    spec["error_log"] = os.path.join(tmp, "server.log")
    spec["groups"][0]["error_log"] = os.path.join(tmp, "alpha.log")
    server = SiteServer(spec, tmp)
    try:
        server.start()
        before = {g: set(server.pids(g)) for g in ("alpha", "beta")}
        tokens = {g: probe(server, g)["token"] for g in ("alpha", "beta")}
        server.signal(signal.SIGHUP)
        for g in ("alpha", "beta"):
            server.wait_log(f"Daemon group '{g}' reloaded")
            wait_for(lambda g=g: before[g].isdisjoint(server.pids(g)), 20, f"{g} replaced")
            info = probe(server, g)
            assert info["pid"] not in before[g]
            assert info["token"] != tokens[g]  # the application was imported afresh
        sockets = [server.socket_path(g) for g in ("alpha", "beta")]
        pids = server.pids("alpha") + server.pids("beta")
        server.signal(signal.SIGTERM)
        assert server.proc is not None
        assert server.proc.wait(timeout=30) == 0
        assert not any(os.path.exists(s) for s in sockets)
        assert not any(Path(f"/proc/{p}").exists() for p in pids)
        assert "stopped." in server.log()
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
