"""Process hygiene of a daemon group: stop, orphans, sockets, start-up failures."""

from __future__ import annotations

import glob
import os
import re
import signal
import socket
import stat
import threading

import pytest

from fastwsgi._cext import encode_frame
from fastwsgi.client import request_environ
from tests.support.server import FastWSGI, can_connect
from tests.support.uwsgi_client import request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)


def pids_from_log(text: str) -> list[int]:
    return [int(p) for p in re.findall(r"Starting daemon process '[^']+' \(pid=(\d+)\)", text)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_lets_in_flight_requests_finish(fastwsgi_server, sig):
    server = fastwsgi_server("lifecycle_app:application", "--processes", "2", "--threads", "2")
    release = os.path.join(server.tmpdir, "release")
    results: list[object] = []

    def call() -> None:
        try:
            results.append(request("/wait", query=release, socket_path=server.socket_path))
        except Exception as exc:  # recorded, asserted below
            results.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    wait_for(lambda: len(glob.glob(release + ".started.*")) == 3, 10, "3 requests in flight")
    server.signal(sig)
    wait_for(lambda: server.log().count("Shutdown requested") == 2, 10, "daemons told to stop")
    open(release, "w").close()
    for t in threads:
        t.join(20)
    assert [getattr(r, "status", r) for r in results] == [200, 200, 200]
    assert server.wait_exit(20) == 0
    assert not os.path.exists(server.socket_path)
    log = server.log()
    assert log.count("exited after") == 2
    assert "stopped (exit code 0)" in log


def test_daemons_exit_when_supervisor_is_killed(fastwsgi_server):
    server = fastwsgi_server("lifecycle_app:application", "--processes", "2")
    daemons = pids_from_log(server.log())
    assert len(daemons) == 2 and all(alive(p) for p in daemons)
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)
    wait_for(lambda: not any(alive(p) for p in daemons), 10, "daemons to exit")


def test_killed_daemon_is_replaced_and_logged(fastwsgi_server):
    server = fastwsgi_server("lifecycle_app:application", "--threads", "1")
    first = int(request("/pid", socket_path=server.socket_path).body)
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: "signal 9 (SIGKILL)" in server.log(), 10, "exit logged")
    second = int(request("/pid", socket_path=server.socket_path).body)
    assert second != first
    assert len(pids_from_log(server.log())) == 2


def test_maximum_requests_replaces_process(fastwsgi_server):
    server = fastwsgi_server("lifecycle_app:application", "--maximum-requests", "3",
                             "--threads", "1")
    pids = [int(request("/pid", socket_path=server.socket_path).body) for _ in range(7)]
    assert len(set(pids[:3])) == 1 and len(set(pids[3:6])) == 1 and pids[2] != pids[3]
    assert pids[6] not in pids[:6]
    assert "maximum-requests reached (exit code 64)" in server.log()


def test_socket_file_mode_and_cleanup(fastwsgi_server):
    server = fastwsgi_server("lifecycle_app:application")
    st = os.stat(server.socket_path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()
    server.stop()
    assert not os.path.exists(server.socket_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to test another user")
def test_socket_refuses_other_users_and_is_chowned_to_socket_user(fastwsgi_server):
    import pwd
    nobody = pwd.getpwnam("nobody")
    server = fastwsgi_server("lifecycle_app:application")
    os.chmod(server.tmpdir, 0o711)

    def connect_as_nobody(path: str) -> str:
        """Fork, become nobody, connect; the child's exit code tells what happened."""
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(5)
                s.connect(path)
                code = 0
            except PermissionError:
                code = 13
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        return {0: "connected", 13: "EACCES"}.get(os.waitstatus_to_exitcode(status), "other")

    assert connect_as_nobody(server.socket_path) == "EACCES"
    server.stop()
    owned = fastwsgi_server("lifecycle_app:application", "--socket-user", "nobody")
    os.chmod(owned.tmpdir, 0o711)
    assert os.stat(owned.socket_path).st_uid == nobody.pw_uid
    assert connect_as_nobody(owned.socket_path) == "connected"


def test_stale_socket_file_is_replaced(fastwsgi_server, tmp_path):
    server = FastWSGI("lifecycle_app:application")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(server.socket_path)
    stale.close()  # a socket file nobody listens on, as a crashed server leaves
    server.start()
    try:
        assert request("/pid", socket_path=server.socket_path).status == 200
        assert "Removing stale socket file" in server.log()
    finally:
        server.stop()


def test_socket_in_use_is_refused(fastwsgi_server):
    first = fastwsgi_server("lifecycle_app:application")
    second = FastWSGI("lifecycle_app:application", "--uwsgi-socket", first.socket_path)
    second.start(wait=False)
    try:
        assert second.wait_exit(20) == 2
        assert "is in use by a running server" in second.stderr()
        assert can_connect(first.socket_path)
    finally:
        second.stop()


def test_broken_app_is_reported_once_and_supervisor_gives_up(fastwsgi_server):
    server = fastwsgi_server("broken_import:application", wait=False)
    assert server.wait_exit(40) == 3
    log = server.log()
    assert log.count("Traceback") == 1
    assert "this application is broken on purpose" in log
    assert log.count("Failed again to load") == 4
    assert "failed to start 5 times in a row" in log
    assert "retrying in 4.0s" in log  # exponential back-off
    assert not os.path.exists(server.socket_path)


def test_missing_callable_names_the_problem(fastwsgi_server):
    server = fastwsgi_server("lifecycle_app:nothing_here", wait=False)
    assert server.wait_exit(40) == 3
    assert "has no attribute 'nothing_here'" in server.log()


def test_script_file_app_and_group_name_derived(fastwsgi_server, tmp_path):
    script = tmp_path / "my-site.wsgi"
    script.write_text(
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [environ['mod_wsgi.process_group'].encode(), b' ', __name__.encode()]\n")
    server = fastwsgi_server(str(script))
    body = request("/", socket_path=server.socket_path).body.decode()
    group, module = body.split()
    assert group == "my-site"
    assert module.startswith("_fastwsgi_")


def test_bad_frame_gets_400_and_a_log_line(fastwsgi_server):
    server = fastwsgi_server("lifecycle_app:application")
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(server.socket_path)
    s.sendall(b"\x00\x05\x00\x00\x03\x00ABC")  # key length 3, then the value length is cut off
    data = s.makefile("rb").read()
    s.close()
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    wait_for(lambda: "Bad request frame" in server.log(), 5, "log line")
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(server.socket_path)
    s.sendall(b"\x05\x00\x00\x00")  # modifier1 5 is not a WSGI request
    assert s.makefile("rb").read().startswith(b"HTTP/1.1 400 ")
    s.close()
    assert "modifier1 5" in server.log()


def _exchange(server: FastWSGI, data: bytes) -> bytes:
    """Write all of data before reading (as mod_proxy_uwsgi does), then read to EOF."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    try:
        s.connect(server.socket_path)
        s.sendall(data)
        return s.makefile("rb").read()
    except (BrokenPipeError, ConnectionResetError) as exc:
        pytest.fail(f"the daemon closed before the peer could read its answer: {exc!r}")
    finally:
        s.close()


def _bad_frame_lines(server: FastWSGI, what: str, n: int) -> list[str]:
    """Wait for n 'Bad request frame' log lines that mention what; return them all."""
    def lines() -> list[str]:
        return [line for line in server.log().splitlines() if "Bad request frame" in line]
    wait_for(lambda: sum(what in line for line in lines()) >= n, 10, f"{n} log lines")
    return lines()


def test_bad_frame_with_a_large_body_still_gets_its_400(fastwsgi_server):
    # mod_proxy_uwsgi writes the whole body before it reads the answer: after
    # a 400 for a bad frame the daemon must drain that body, not close on it
    # (the peer's send fails with EPIPE and the 400 is never read).
    server = fastwsgi_server("lifecycle_app:application")
    env = request_environ("/pid", "POST") | {"CONTENT_LENGTH": "12x"}
    data = _exchange(server, encode_frame(env) + b"z" * (4 << 20))
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data[:200]
    assert len(_bad_frame_lines(server, "CONTENT_LENGTH '12x'", 1)) == 1


def test_frame_without_request_method_gets_400(fastwsgi_server):
    server = fastwsgi_server("lifecycle_app:application")
    frames = [b"\x00\x00\x00\x00",  # no variables at all
              encode_frame({"PATH_INFO": "/pid"}),
              encode_frame({"REQUEST_METHOD": "", "PATH_INFO": "/pid"})]
    for frame in frames:
        data = _exchange(server, frame)
        assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), (frame, data[:200])
    lines = _bad_frame_lines(server, "REQUEST_METHOD", len(frames))
    assert len(lines) == len(frames), lines
    assert request("/pid", socket_path=server.socket_path).status == 200
