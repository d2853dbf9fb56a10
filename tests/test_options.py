"""Each WSGIDaemonProcess option observed in a real daemon, as its app sees it."""

from __future__ import annotations

import array
import ast
import fcntl
import grp
import os
import pwd
import shutil
import socket
import subprocess
import termios
import uuid

import pytest

from fastwsgi import cli
from fastwsgi._cext import encode_frame
from fastwsgi.client import request_environ
from tests.support.server import short_tmpdir
from tests.support.uwsgi_client import parse_response, request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change identity")


def probe(server, query: str = "") -> dict:
    response = request("/", query=query, socket_path=server.socket_path)
    assert response.status == 200, response.raw
    return ast.literal_eval(response.body.decode())


@pytest.fixture
def test_user():
    """A throwaway user with its own home and one supplementary group.

    Request it before fastwsgi_server, so that the daemons are gone before
    userdel runs.
    """
    name = "fw" + uuid.uuid4().hex[:8]
    base = short_tmpdir()
    os.chmod(base, 0o755)  # pytest's tmp_path is 0700: the user could not enter it
    home = os.path.join(base, "home")
    os.mkdir(home)
    subprocess.run(["groupadd", name + "x"], check=True)
    subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/usr/sbin/nologin",
                    "-G", name + "x", name], check=True)
    entry = pwd.getpwnam(name)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    try:
        yield entry, grp.getgrnam(name + "x").gr_gid
    finally:
        subprocess.run(["userdel", name], check=False)
        subprocess.run(["groupdel", name + "x"], check=False)
        shutil.rmtree(base, ignore_errors=True)


@ROOT_ONLY
def test_user_option_drops_root_with_supplementary_groups(test_user, fastwsgi_server):
    user, extra_gid = test_user
    server = fastwsgi_server("options_app:application", "--user", user.pw_name)
    report = probe(server, "regain")
    assert report["status"]["Uid"] == [user.pw_uid] * 4
    assert report["status"]["Gid"] == [user.pw_gid] * 4
    assert sorted(report["status"]["Groups"]) == sorted({user.pw_gid, extra_gid})
    assert report["regain"] == "refused"
    # Without home=, the user's home directory, first on sys.path.
    assert report["cwd"] == user.pw_dir
    assert report["sys_path"][0] == user.pw_dir
    assert report["env"]["HOME"] == user.pw_dir
    assert report["env"]["USER"] == user.pw_name
    # The supervisor itself stays root (it must be able to fork more).
    with open(f"/proc/{server.proc.pid}/status") as f:
        assert "Uid:\t0\t" in f.read()


@ROOT_ONLY
def test_group_option_sets_the_primary_group(test_user, fastwsgi_server):
    user, extra_gid = test_user
    server = fastwsgi_server("options_app:application", "--user", f"#{user.pw_uid}",
                             "--group", f"#{extra_gid}")
    status = probe(server)["status"]
    assert status["Uid"] == [user.pw_uid] * 4
    assert status["Gid"] == [extra_gid] * 4


@ROOT_ONLY
def test_nobody_without_a_usable_home_runs_in_root_directory(fastwsgi_server):
    nobody = pwd.getpwnam("nobody")
    server = fastwsgi_server("options_app:application", "--user", "nobody")
    report = probe(server)
    assert report["status"]["Uid"] == [nobody.pw_uid] * 4
    assert report["cwd"] == "/"
    assert "unusable" in server.log()


def test_umask_home_python_path_and_eggs(fastwsgi_server, tmp_path):
    home, p1, p2, p3, eggs = (tmp_path / n for n in ("home", "p1", "p2", "p3", "eggs"))
    for d in (home, p1, p2, p3, eggs):
        d.mkdir()
    (p1 / "extra.pth").write_text(f"{p3}\n")  # addsitedir processes .pth files
    server = fastwsgi_server("options_app:application", "--umask", "0027", "--home", str(home),
                             "--python-path", f"{p1}:{p2}", "--python-eggs", str(eggs))
    created = tmp_path / "created"
    report = probe(server, f"create={created}")
    assert report["mode"] == 0o640
    assert report["cwd"] == str(home)
    assert report["sys_path"][:4] == [str(home), str(p1), str(p3), str(p2)]
    assert report["env"]["PYTHON_EGG_CACHE"] == str(eggs)


def test_stack_size_of_worker_threads(fastwsgi_server):
    small = fastwsgi_server("options_app:application", "--stack-size", "524288")
    assert probe(small, "stack")["stack"] == 524288
    default = fastwsgi_server("options_app:application")
    assert probe(default, "stack")["stack"] != 524288


def test_daemon_keeps_megabyte_blocks_in_malloc_heaps(fastwsgi_server, monkeypatch):
    # A 2 MiB block from the heap, not its own mapping: a request that reads
    # a large body does not fault its pages in afresh each time.
    from fastwsgi.procsetup import MALLOC_ENVIRONMENT
    for name in (*MALLOC_ENVIRONMENT, "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)  # as set for the test run
    assert probe(fastwsgi_server("options_app:application"), "malloc")["malloc_mmapped"] is False


def test_operator_malloc_environment_is_left_alone(fastwsgi_server):
    server = fastwsgi_server("options_app:application",
                             env={"MALLOC_MMAP_THRESHOLD_": str(128 << 10)})
    assert probe(server, "malloc")["malloc_mmapped"] is True


def test_display_name_is_the_process_title_not_truncated(fastwsgi_server):
    name = "a-group-name-much-longer-than-the-python-argv0-ever-is"
    server = fastwsgi_server("options_app:application", "--display-name", "%{GROUP}",
                             "--process-group", name)
    cmdline = probe(server)["cmdline"]
    assert cmdline.rstrip("\0 ") == f"(wsgi:{name})"


def test_buffer_sizes_on_listening_and_accepted_sockets(fastwsgi_server):
    server = fastwsgi_server("options_app:application", "--threads", "1",
                             "--receive-buffer-size", "65536", "--send-buffer-size", "98304")
    bufs = probe(server, "bufs")["bufs"]
    # Linux reports twice the size asked for (room for its bookkeeping).
    assert bufs["listener"] == (2 * 65536, 2 * 98304)
    assert bufs["conn"] == (2 * 65536, 2 * 98304)
    default = fastwsgi_server("options_app:application", "--threads", "1")
    assert probe(default, "bufs")["bufs"]["conn"][0] != 2 * 65536


def _bufs_after_sending(server, n: int) -> tuple[int, int]:
    response = request("/", query=f"send={n}", socket_path=server.socket_path)
    assert response.status == 200 and response.body[:n] == b"." * n, response.raw[:200]
    return ast.literal_eval(response.body[n:].decode())["bufs"]["conn"]


def test_a_big_response_raises_the_send_buffer_unless_send_buffer_size_is_set(fastwsgi_server):
    with open("/proc/sys/net/core/wmem_max") as f:
        grown = 2 * min(1 << 20, int(f.read()))  # the kernel caps, then doubles
    with open("/proc/sys/net/core/wmem_default") as f:
        default = int(f.read())
    server = fastwsgi_server("options_app:application", "--threads", "1")
    assert _bufs_after_sending(server, 65536)[1] == default  # 128 KiB or less
    assert _bufs_after_sending(server, 1 << 20)[1] == max(grown, default)  # never lowered
    fixed = fastwsgi_server("options_app:application", "--threads", "1",
                            "--send-buffer-size", "98304")
    assert _bufs_after_sending(fixed, 1 << 20)[1] == 2 * 98304


def test_a_big_response_is_handed_over_while_the_front_end_reads_nothing(fastwsgi_server):
    # The OS default SO_SNDBUF (wmem_default, about 208 KiB) would stop the
    # daemon at about 200 KiB until the front-end read; the grown one takes
    # more than 300 KiB even where wmem_max is that same default.
    server = fastwsgi_server("options_app:application", "--threads", "1")
    n = 1 << 20
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(server.socket_path)
        s.sendall(encode_frame(request_environ("/", query=f"send={n}")))
        wait_for(lambda: _unread(s) > 300 * 1024, 10, "the daemon to queue 300 KiB unread")
        data = b""
        while chunk := s.recv(1 << 16):
            data += chunk
    assert parse_response(data).body[:n] == b"." * n


def _unread(s: socket.socket) -> int:
    count = array.array("i", [0])
    fcntl.ioctl(s.fileno(), termios.FIONREAD, count)
    return count[0]


@pytest.mark.parametrize("flag, value, message", [
    ("--umask", "0999", "expected an octal number"),
    ("--umask", "1777", "from 0000 to 0777"),
    ("--stack-size", "1000", ">= 32768"),
    ("--send-buffer-size", "100", ">= 512"),
    ("--home", "relative/dir", "absolute path"),
    ("--user", "no-such-user-here", "no such user"),
    ("--user", "root", "may not run as root"),
    ("--user", "#0", "may not run as root"),
    ("--group", "no-such-group-here", "no such group"),
    ("--deadlock-timeout", "-1", ">= 0"),
    ("--queue-timeout", "soon", "expected seconds"),
])
def test_invalid_values_are_refused_with_a_clear_message(capsys, flag, value, message):
    assert cli.main(["serve", "app.py", "--uwsgi-socket", "/tmp/x.sock", flag, value]) == 2
    err = capsys.readouterr().err
    assert message in err and flag in err


def test_missing_directories_are_refused_at_start(fastwsgi_server, tmp_path):
    server = fastwsgi_server("options_app:application", "--home", str(tmp_path / "nope"),
                             wait=False)
    assert server.wait_exit(20) == 2
    assert "home directory" in server.stderr() and "does not exist" in server.stderr()
    server = fastwsgi_server("options_app:application", "--python-eggs",
                             str(tmp_path / "nope"), wait=False)
    assert server.wait_exit(20) == 2
    assert "python-eggs" in server.stderr()


@ROOT_ONLY
def test_python_eggs_must_be_writable_by_the_groups_user(fastwsgi_server, tmp_path):
    eggs = tmp_path / "eggs"
    eggs.mkdir(mode=0o755)  # root's, not nobody's
    server = fastwsgi_server("options_app:application", "--user", "nobody",
                             "--python-eggs", str(eggs), wait=False)
    assert server.wait_exit(20) == 2
    assert "not writable by nobody" in server.stderr()


def test_only_the_same_malloc_settings_count_as_the_operators_choice(monkeypatch):
    from fastwsgi import procsetup
    calls = []
    monkeypatch.setattr(procsetup, "set_malloc_thresholds", lambda *a: calls.append(a))
    tunables = "glibc.pthread.rseq=0:glibc.malloc.trim_threshold=131072"
    assert procsetup.tune_malloc({"GLIBC_TUNABLES": tunables}) is False
    assert procsetup.tune_malloc({"MALLOC_TOP_PAD_": "0"}) is False
    assert calls == []
    assert procsetup.tune_malloc({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}) is True
    assert procsetup.tune_malloc({"MALLOC_ARENA_MAX": "2"}) is True
    assert calls == [(4 << 20, 8 << 20)] * 2


def test_a_refused_malloc_setting_does_not_stop_the_daemon(monkeypatch):
    from fastwsgi import procsetup

    def refuse(*args):
        raise ValueError("mallopt(M_MMAP_THRESHOLD, 4194304) refused")
    monkeypatch.setattr(procsetup, "set_malloc_thresholds", refuse)
    assert procsetup.tune_malloc({}) is False
