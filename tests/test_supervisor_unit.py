"""The supervisor's decisions without processes: fake fork/waitpid/kill, fake clock."""

from __future__ import annotations

import os
import signal
from collections import deque

import pytest

from fastwsgi import exitcodes
from fastwsgi.apps import GroupApps
from fastwsgi.config import GroupConfig
from fastwsgi.supervisor import (
    BACKOFF_FIRST,
    EXIT_GROUP_FAILED,
    MAX_STARTUP_FAILURES,
    ProcessOps,
    Supervisor,
)

pytestmark = pytest.mark.timeout(10)


class FakeOps(ProcessOps):
    def __init__(self) -> None:
        self.t = 1000.0
        self.last_pid = 100
        self.forked: list[int] = []
        self.killed: list[tuple[int, int]] = []
        self.exits: deque[tuple[int, int]] = deque()

    def now(self) -> float:
        return self.t

    def fork(self) -> int:
        self.last_pid += 1
        self.forked.append(self.last_pid)
        return self.last_pid

    def waitpid(self) -> tuple[int, int]:
        return self.exits.popleft() if self.exits else (0, 0)

    def kill(self, pid: int, sig: int) -> None:
        self.killed.append((pid, sig))


def exited(code: int) -> int:
    return code << 8  # a waitpid() status


def make(processes: int = 1) -> tuple[Supervisor, FakeOps]:
    ops = FakeOps()
    cfg = GroupConfig(name="g", app="app:application", socket_path="/nonexistent/g.sock",
                      values={"processes": processes})
    sup = Supervisor([cfg], ops)
    for slot in range(processes):
        sup.groups[0].pending[slot] = 0.0
    sup._spawn_due()
    return sup, ops


def die(sup: Supervisor, ops: FakeOps, pid: int, status: int, after: float = 5.0) -> None:
    ops.t += after
    ops.exits.append((pid, status))
    sup._reap()


def test_start_forks_one_process_per_slot():
    sup, ops = make(3)
    assert ops.forked == [101, 102, 103]
    assert sorted(p.slot for p in sup.procs.values()) == [0, 1, 2]


def test_crash_after_ready_is_replaced_at_once():
    sup, ops = make()
    sup._ready(101)
    die(sup, ops, 101, signal.SIGKILL)
    sup._spawn_due()
    assert ops.forked == [101, 102]
    assert sup.groups[0].failures == 0


def test_startup_failures_back_off_exponentially_then_give_up():
    sup, ops = make()
    delays = []
    for _ in range(MAX_STARTUP_FAILURES):
        pid = ops.forked[-1]
        die(sup, ops, pid, exited(exitcodes.APP_LOAD_FAILED), after=0.1)
        if sup.stopping:
            break
        due = sup.groups[0].pending[0]
        delays.append(due - ops.t)
        ops.t = due - 0.01
        sup._spawn_due()
        assert ops.forked[-1] == pid  # not before its time
        ops.t = due
        sup._spawn_due()
        assert ops.forked[-1] == pid + 1
    assert delays == [BACKOFF_FIRST * 2 ** i for i in range(MAX_STARTUP_FAILURES - 1)]
    assert sup.stopping and sup.exit_code == EXIT_GROUP_FAILED
    assert len(ops.forked) == MAX_STARTUP_FAILURES


def test_quick_death_before_ready_counts_as_startup_failure_and_ready_resets():
    sup, ops = make()
    die(sup, ops, 101, exited(1), after=0.2)
    assert sup.groups[0].failures == 1
    ops.t = sup.groups[0].pending[0]
    sup._spawn_due()
    sup._ready(102)
    assert sup.groups[0].failures == 0
    die(sup, ops, 102, exited(exitcodes.MAXIMUM_REQUESTS))
    assert sup.groups[0].pending[0] == ops.t  # replaced without delay


def test_reload_starts_new_processes_before_stopping_the_old():
    sup, ops = make(2)
    sup._ready(101)
    sup._ready(102)
    sup.signals.append(signal.SIGHUP)
    sup._handle_signals()
    sup._spawn_due()
    assert ops.forked == [101, 102, 103, 104]
    assert ops.killed == []  # the old ones serve until the new ones are ready
    sup._ready(103)
    assert ops.killed == []
    sup._ready(104)
    assert sorted(ops.killed) == [(101, signal.SIGTERM), (102, signal.SIGTERM)]
    die(sup, ops, 101, exited(exitcodes.STOPPED))
    die(sup, ops, 102, exited(exitcodes.STOPPED))
    sup._spawn_due()
    assert ops.forked == [101, 102, 103, 104]  # retired processes are not replaced
    die(sup, ops, 103, signal.SIGKILL)
    sup._spawn_due()
    assert ops.forked[-1] == 105  # the new generation is the one kept up


def test_reload_is_abandoned_when_a_new_process_fails_to_start():
    sup, ops = make(2)
    sup._ready(101)
    sup._ready(102)
    sup.reload()
    sup._spawn_due()
    sup._ready(103)
    die(sup, ops, 104, exited(exitcodes.APP_LOAD_FAILED), after=0.1)
    assert ops.killed == [(103, signal.SIGTERM)]  # the new one goes, the old ones stay
    assert not sup.stopping and sup.groups[0].pending == {}
    die(sup, ops, 103, exited(exitcodes.STOPPED))
    die(sup, ops, 101, signal.SIGSEGV)
    sup._spawn_due()
    assert ops.forked[-1] == 105  # the old generation is current again
    # A later reload gets a fresh generation: nothing left from the abandoned one counts.
    sup._ready(105)
    sup.reload()
    sup._spawn_due()
    sup._ready(106)
    sup._ready(107)
    assert {(102, signal.SIGTERM), (105, signal.SIGTERM)} <= set(ops.killed)


def test_old_process_dying_during_a_reload_is_not_replaced():
    sup, ops = make()
    sup._ready(101)
    sup.reload()
    sup._spawn_due()
    die(sup, ops, 101, signal.SIGKILL)
    sup._spawn_due()
    assert ops.forked == [101, 102]


def test_exits_while_stopping_are_not_replaced():
    sup, ops = make(2)
    sup.signals.append(signal.SIGTERM)
    sup._handle_signals()
    assert sup.stopping
    die(sup, ops, 101, exited(exitcodes.STOPPED))
    sup._spawn_due()
    assert ops.forked == [101, 102]
    sup.signals.append(signal.SIGHUP)  # no reload once stopping
    sup._handle_signals()
    sup._spawn_due()
    assert ops.forked == [101, 102]


# -- a Site (run -f): routers with embedded applications, group sockets ------

def make_site(embedded: bool, socket_prefix: str = ""):
    from fastwsgi.config import HttpConfig
    from fastwsgi.site import DaemonGroup, Route, Site, VirtualHost
    route = Route(prefix="/", mount="", script="/srv/a.wsgi",
                  process_group="" if embedded else "g", application_group="",
                  source="t:1")
    vhost = VirtualHost(addresses=[("*", 80)], server_name="a.example", server_port=None,
                        aliases=[], routes=[route])
    group = DaemonGroup(config=GroupConfig(name="g", app="", values={"processes": 1}),
                        server_name=None, error_log="/var/log/g.log", source="t:2",
                        apps=[("/srv/a.wsgi", "", "application")],
                        imports=[("/srv/i.wsgi", "")])
    return Site(listens=["127.0.0.1:0"],
                main=VirtualHost(addresses=[], server_name=None, server_port=None, aliases=[]),
                vhosts=[vhost], groups=[group], http=HttpConfig(binds=["ignored:1"]),
                user="www-data", socket_prefix=socket_prefix, python_path=["/srv/lib"])


def start_site(embedded: bool) -> tuple[Supervisor, FakeOps]:
    from fastwsgi.runsite import site_supervisor
    sup = site_supervisor(make_site(embedded), router_processes=2, router_threads=4)
    ops = FakeOps()
    sup.ops = ops
    for g in sup.groups:
        for slot in range(g.cfg.process_count):
            g.pending[slot] = 0.0
    sup._spawn_due()
    for pid in list(ops.forked):
        sup._ready(pid)
    return sup, ops


def test_site_supervisor_passes_the_site_to_groups_and_routers():
    site = make_site(False)
    from fastwsgi.runsite import site_supervisor
    sup = site_supervisor(site, router_processes=3, router_threads=5)
    group, router = sup.groups
    assert group.cfg is site.groups[0].config  # the router reads its socket_path there
    assert group.apps is not None and group.apps.apps == (("/srv/a.wsgi", "", "application"),)
    assert group.apps.imports == (("/srv/i.wsgi", ""),)
    assert group.apps.error_log == "/var/log/g.log"
    assert group.apps.python_path == ("/srv/lib",)
    assert router.router is not None and router.router.site is site
    assert router.router.group is None
    assert router.router.binds == ["127.0.0.1:0"]  # Listen, whatever site.http says
    assert (router.cfg.process_count, router.cfg.threads) == (3, 5)
    assert sup.socket_user == "www-data"
    # No user= in the group: it runs as the server's User, as in mod_wsgi.
    assert group.cfg.user == ("www-data" if os.geteuid() == 0 else None)


def test_site_routers_without_embedded_apps_stay_on_reload():
    sup, ops = start_site(embedded=False)
    assert len(ops.forked) == 3  # one daemon, two routers
    sup.reload()
    sup._spawn_due()
    assert len(ops.forked) == 4  # only the daemon group got a new generation


def test_site_routers_with_embedded_apps_are_reloaded_like_a_group():
    sup, ops = start_site(embedded=True)
    routers = [pid for pid, p in sup.procs.items() if p.group.router is not None]
    sup.reload()
    sup._spawn_due()
    assert len(ops.forked) == 6  # the routers hold application code: new ones too
    assert ops.killed == []
    for pid in ops.forked[3:]:
        sup._ready(pid)
    assert sorted(pid for pid, sig in ops.killed) == sorted([101] + routers)


def test_site_group_socket_is_named_like_mod_wsgi(tmp_path):
    import stat
    sup = Supervisor([GroupConfig(name="a", app=""), GroupConfig(name="b", app="")],
                     apps={"a": GroupApps(), "b": GroupApps()},
                     socket_prefix=str(tmp_path / "wsgi"))
    try:
        sup._open_sockets()
        paths = [g.cfg.socket_path for g in sup.groups]
        assert paths == [f"{tmp_path}/wsgi.{os.getpid()}.{n}.sock" for n in (0, 1)]
        mode = stat.S_IMODE(os.stat(paths[0]).st_mode)
        assert mode == (0o660 if os.geteuid() == 0 else 0o600)
    finally:
        sup._close_sockets()
    assert not any(os.path.exists(p) for p in paths)


def test_site_group_socket_without_prefix_is_private():
    sup = Supervisor([GroupConfig(name="a", app="")], apps={"a": GroupApps()})
    try:
        sup._open_sockets()
        g = sup.groups[0]
        assert g.private_dir and g.cfg.socket_path == os.path.join(g.private_dir, "0.sock")
    finally:
        sup._close_sockets()
    assert not os.path.exists(g.cfg.socket_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="changes the effective uid")
def test_site_group_socket_is_0600_when_not_started_as_root():
    import shutil
    import stat
    import tempfile
    from pathlib import Path
    tmp_path = Path(tempfile.mkdtemp(prefix="fw", dir="/tmp"))
    tmp_path.chmod(0o777)  # nobody binds there
    sup = Supervisor([GroupConfig(name="a", app="")], apps={"a": GroupApps()},
                     socket_prefix=str(tmp_path / "wsgi"), socket_user="www-data")
    os.seteuid(65534)  # nobody: as if fastwsgi had been started by an ordinary user
    try:
        sup._open_sockets()
        st = os.stat(sup.groups[0].cfg.socket_path)
        assert stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_uid == 65534  # no chown to the router's user either
    finally:
        os.seteuid(0)
        sup._close_sockets()
        shutil.rmtree(tmp_path)
