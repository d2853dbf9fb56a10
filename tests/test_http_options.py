"""Lifecycle options on a group that serves HTTP itself (not only uwsgi groups)."""

from __future__ import annotations

import ast
import time

import pytest

from tests.support.http_server import HttpServer, exchange
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)


def test_request_timeout_answers_504_over_http():
    with HttpServer("watchdog_app:application", "--request-timeout", "1",
                    "--threads", "2") as server:
        started = time.monotonic()
        r = exchange(server, b"GET /spin?20 HTTP/1.1\r\nHost: h\r\n\r\n")
        assert r.status == 504
        assert time.monotonic() - started < 15
        wait_for(lambda: "stopped by request-timeout" in server.log(), 10, "log line")
        # the thread recovered: the process still answers
        assert exchange(server, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").status == 200


def test_queue_timeout_honours_x_request_start_over_http():
    with HttpServer("watchdog_app:application", "--queue-timeout", "5") as server:
        old = f"t={time.time() - 60:.3f}"
        r = exchange(server, f"GET / HTTP/1.1\r\nHost: h\r\nX-Request-Start: {old}\r\n\r\n".encode())
        assert r.status == 504
        fresh = f"t={time.time():.3f}"
        r = exchange(server, f"GET / HTTP/1.1\r\nHost: h\r\nX-Request-Start: {fresh}\r\n\r\n".encode())
        assert r.status == 200
        assert "more than queue-timeout" in server.log()


def test_deadlock_timeout_replaces_an_http_daemon():
    with HttpServer("watchdog_app:application", "--deadlock-timeout", "2",
                    "--threads", "2") as server:
        first = int(exchange(server, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").body)
        with server.connect() as sock:
            sock.sendall(b"GET /hold?30 HTTP/1.1\r\nHost: h\r\n\r\n")
            sock.settimeout(30)
            assert sock.recv(100) == b""  # the process ended: the connection closes
        wait_for(lambda: "deadlock-timeout" in server.log(), 20, "deadlock exit")
        second = int(exchange(server, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").body)
        assert second != first


def test_switch_interval_is_applied_in_the_daemon():
    # options_app answers with the repr() of a dict of what the daemon sees
    with HttpServer("options_app:application", "--switch-interval", "0.0015") as server:
        report = ast.literal_eval(exchange(server, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").body.decode())
        assert abs(report["switch_interval"] - 0.0015) < 1e-9
    with HttpServer("options_app:application") as server:
        report = ast.literal_eval(exchange(server, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").body.decode())
        assert abs(report["switch_interval"] - 0.005) < 1e-9
