"""The watchdog in real daemons: deadlock, request, inactivity, restart and
queue timeouts, the forced end of a shutdown, and recycling under load."""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest

from fastwsgi.queuetime import parse_request_start, queue_start, waited
from tests.support.uwsgi_client import request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)


def pid_of(server, path: str = "/pid", **kw) -> int:
    response = request(path, socket_path=server.socket_path, **kw)
    assert response.status == 200, response.raw
    return int(response.body)


def in_background(fn):
    """Run fn in a thread; the returned list gets its result or exception."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as exc:  # recorded, asserted by the caller
            out.append(exc)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_gil_deadlock_is_detected_dumped_and_replaced(fastwsgi_server):
    server = fastwsgi_server("watchdog_app:application", "--deadlock-timeout", "2",
                             "--threads", "2")
    first = pid_of(server)
    t, out = in_background(lambda: request("/hold", query="30", socket_path=server.socket_path))
    wait_for(lambda: "deadlock timer expired" in server.log(), 15, "deadlock detected")
    wait_for(lambda: "deadlock-timeout (exit code 66)" in server.log(), 10, "exit logged")
    t.join(10)
    # The client of the stuck request sees the connection closed without a response.
    assert isinstance(out[0], ValueError) and "no complete response head" in str(out[0])
    log = server.log()
    assert "the Python GIL has not been available" in log
    assert re.search(r"Thread 0x[0-9a-f]+ \(most recent call first\)", log)
    assert 'in hold_the_gil' in log  # the stack of the thread that holds the GIL
    second = pid_of(server)
    assert second != first


def test_request_timeout_interrupts_python_code_with_504(fastwsgi_server):
    server = fastwsgi_server("watchdog_app:application", "--request-timeout", "1",
                             "--threads", "2")
    first = pid_of(server)
    started = time.monotonic()
    response = request("/spin", query="30", socket_path=server.socket_path)
    assert response.status == 504
    assert time.monotonic() - started < 10
    assert pid_of(server) == first  # the process survived
    log = server.log()
    assert "raising RequestTimeout in it" in log and "in spin" in log
    assert "stopped by request-timeout; answered 504" in log


def test_request_timeout_replaces_process_when_thread_is_blocked_in_c(fastwsgi_server):
    server = fastwsgi_server("watchdog_app:application", "--request-timeout", "1",
                             "--graceful-timeout", "0.5", "--shutdown-timeout", "0.5")
    first = pid_of(server)
    t, out = in_background(lambda: request("/block", query="30",
                                           socket_path=server.socket_path))
    wait_for(lambda: "request time limit exceeded" in server.log(), 15, "escalation")
    wait_for(lambda: "request-timeout (exit code 67)" in server.log(), 10, "exit logged")
    t.join(10)
    assert isinstance(out[0], ValueError)  # cut off: the process was forced out
    assert pid_of(server) != first


def test_inactivity_timeout_replaces_an_idle_process_only_after_a_request(fastwsgi_server):
    server = fastwsgi_server("watchdog_app:application", "--inactivity-timeout", "1")
    first = pid_of(server)
    wait_for(lambda: "inactivity-timeout (exit code 65)" in server.log(), 10, "idle exit")
    assert "idle inactivity timer expired" in server.log()
    wait_for(lambda: server.log().count("Starting daemon process") == 2, 10, "replacement")
    wait_for(lambda: server.log().count("accepting requests") == 2, 10, "replacement ready")
    # Observation window, not synchronisation: a process that never had a
    # request must outlive several inactivity periods.
    time.sleep(2.5)
    assert server.log().count("idle inactivity timer expired") == 1
    assert pid_of(server) != first


def test_restart_interval_replaces_the_process(fastwsgi_server):
    server = fastwsgi_server("watchdog_app:application", "--restart-interval", "1")
    first = pid_of(server)
    wait_for(lambda: "restart-interval (exit code 68)" in server.log(), 10, "restart")
    wait_for(lambda: pid_of(server) != first, 10, "a new process")


def test_shutdown_timeout_forces_out_a_stuck_request(fastwsgi_server):
    server = fastwsgi_server("lifecycle_app:application", "--graceful-timeout", "0.5",
                             "--shutdown-timeout", "0.5")
    release = os.path.join(server.tmpdir, "release")  # never created
    t, out = in_background(lambda: request("/wait", query=release,
                                           socket_path=server.socket_path))
    wait_for(lambda: any(n.startswith("release.started") for n in os.listdir(server.tmpdir)),
             10, "request in flight")
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    assert server.wait_exit(20) == 0
    assert time.monotonic() - started < 8
    assert "forced out after shutdown-timeout (exit code 69)" in server.log()
    t.join(10)
    assert isinstance(out[0], ValueError)


def test_queue_timeout_answers_504_without_running_the_app(fastwsgi_server):
    server = fastwsgi_server("lifecycle_app:application", "--queue-timeout", "1")
    old_us = str(int((time.time() - 5) * 1e6))
    response = request("/pid", socket_path=server.socket_path,
                       extra={"FASTWSGI_QUEUE_START": old_us})
    assert response.status == 504
    response = request("/pid", socket_path=server.socket_path,
                       headers={"X-Request-Start": f"t={time.time() - 5:.3f}"})
    assert response.status == 504
    response = request("/pid", socket_path=server.socket_path,
                       headers={"X-Request-Start": f"t={int(time.time() * 1e6)}"})
    assert response.status == 200
    assert pid_of(server) > 0
    assert server.log().count("more than queue-timeout") == 2


def test_queue_timeout_ignores_unusable_start_times(fastwsgi_server):
    # An unparsable, non-finite or absurd start time counts as absent: the
    # request runs (no traceback, no bare close, no "waited nans" 504).
    server = fastwsgi_server("lifecycle_app:application", "--queue-timeout", "1")
    for kw in ({"extra": {"FASTWSGI_QUEUE_START": "9" * 400}},
               {"headers": {"X-Request-Start": "nan"}},
               {"headers": {"X-Request-Start": "t=inf"}},
               {"headers": {"X-Request-Start": "t=1e300"}}):
        response = request("/pid", socket_path=server.socket_path, **kw)
        assert response.status == 200, (kw, response.raw, server.log()[-2000:])
        assert int(response.body) > 0
    log = server.log()
    assert "Traceback" not in log
    assert "queue-timeout" not in log.replace("--queue-timeout", "")


@pytest.mark.parametrize("value, seconds", [
    ("t=1700000000.123", 1700000000.123),      # nginx t=${msec}
    ("1700000000123", 1700000000.123),         # Heroku: milliseconds
    ("t=1700000000123456", 1700000000.123456),  # microseconds
    ("1700000000123456789", 1700000000.123456789),  # nanoseconds
    ("1700000000", 1700000000.0),
])
def test_request_start_formats(value, seconds):
    assert parse_request_start(value) == pytest.approx(seconds, abs=1e-6)


def test_request_start_garbage_is_ignored():
    assert parse_request_start("t=soon") is None
    assert queue_start({"HTTP_X_REQUEST_START": "x"}) is None
    assert queue_start({"FASTWSGI_QUEUE_START": "1700000000000000"}) == 1700000000.0


UNUSABLE_STARTS = ["nan", "t=nan", "inf", "t=-inf", "1e400", "1e300", "t=5", "0.5",
                   "-1700000000", "99999999999.5"]


@pytest.mark.parametrize("value", UNUSABLE_STARTS)
def test_request_start_unusable_values_are_absent(value):
    assert parse_request_start(value) is None
    assert queue_start({"HTTP_X_REQUEST_START": value}) is None
    assert waited({"HTTP_X_REQUEST_START": value}, time.time()) < 60


@pytest.mark.parametrize("raw", [
    pytest.param("9" * 400, id="400-nines"), pytest.param("9" * 5000, id="5000-nines"),
    "-5", "0", "12x", "1e6", "nan",
])
def test_queue_start_variable_unusable_values_are_absent(raw):
    assert queue_start({"FASTWSGI_QUEUE_START": raw}) is None
    assert waited({"FASTWSGI_QUEUE_START": raw}, time.time()) < 60
    # ... and the next source is still consulted.
    assert queue_start({"FASTWSGI_QUEUE_START": raw,
                        "HTTP_X_REQUEST_START": "t=1700000000.5"}) == 1700000000.5


@pytest.mark.timeout(90)
def test_maximum_requests_recycles_under_load_without_a_failed_request(fastwsgi_server):
    server = fastwsgi_server("lifecycle_app:application", "--processes", "2", "--threads", "3",
                             "--maximum-requests", "25", "--maximum-requests-jitter", "10")
    results: list[object] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 40

    def client() -> None:
        for _ in range(50):  # bounded by count and by time
            if time.monotonic() > deadline:
                return
            try:
                r: object = request("/pid", socket_path=server.socket_path, timeout=20)
            except Exception as exc:
                r = exc
            with lock:
                results.append(r)

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    failures = [r for r in results if getattr(r, "status", None) != 200]
    assert not failures
    assert len(results) == 300
    pids = {int(r.body) for r in results}  # type: ignore[union-attr]
    assert len(pids) >= 4  # every process was replaced at least once
    assert "maximum-requests reached (exit code 64)" in server.log()
