"""Per-request cost of a daemon thread end to end, over a UNIX socket.

One `fastwsgi serve` (1 process x 15 threads) on a uwsgi socket; each round is
one request from fastwsgi.client.request: connect, frame, app, response, close.
Sequential, so this is latency (the cost of one request), not throughput.
"""

from __future__ import annotations

from bench.scenarios import BODY_64K, HELLO
from fastwsgi.client import request

ECHO_BODY = b"y" * 4096


def test_daemon_hello(benchmark, uwsgi_daemon):
    resp = benchmark(request, "/", socket_path=uwsgi_daemon)
    assert (resp.status, resp.body) == (200, HELLO)


def test_daemon_64k(benchmark, uwsgi_daemon):
    resp = benchmark(request, "/64k", socket_path=uwsgi_daemon)
    assert (resp.status, resp.body) == (200, BODY_64K)


def test_daemon_echo_4k(benchmark, uwsgi_daemon):
    resp = benchmark(request, "/echo", method="POST", body=ECHO_BODY, socket_path=uwsgi_daemon)
    assert (resp.status, resp.body) == (200, ECHO_BODY)
