"""The built-in load generator against a real server that counts its responses.

The counting server (tests/support/counting_server.py) runs in its own
process; with a budget it answers exactly N requests and then holds the
rest, so the client's total must equal N exactly, whatever the number of
processes and connections and however the window ends. Budgets are sized
to be spent in about a tenth of the 0.6 s window at this server's speed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fastwsgi import _cext
from fastwsgi.loadgen import LoadResult, LoadSpec, build_request, run_load, split

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(20)


class CountingServer:
    def __init__(self, budget: int | None) -> None:
        args = [sys.executable, "-m", "tests.support.counting_server"]
        if budget is not None:
            args += ["--budget", str(budget)]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 10.0)
        line = self.proc.stdout.readline().decode() if ready else ""
        assert line.startswith("PORT "), f"counting server did not start: {line!r}"
        self.port = int(line.split()[1])

    def counts(self) -> dict:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"GET /__count HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        out = json.loads(data.partition(b"\r\n\r\n")[2])
        out["status"] = {int(k): v for k, v in out["status"].items()}
        return out

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def counting_server() -> Iterator[Callable[..., CountingServer]]:
    started: list[CountingServer] = []

    def start(budget: int | None = None) -> CountingServer:
        started.append(CountingServer(budget))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def load(port: int, path: str = "/hello", **kw: object) -> LoadResult:
    opts: dict = {"connections": 8, "duration": 0.6, "processes": 2, "timeout": 10.0}
    opts.update(kw)
    return run_load(LoadSpec("127.0.0.1", port, path=path, **opts))  # type: ignore[arg-type]


def no_errors(result: LoadResult) -> bool:
    return not any(result.errors.values())


@pytest.mark.parametrize("processes,connections", [(1, 1), (2, 8), (3, 10)])
def test_keep_alive_count_is_exact(counting_server, processes: int, connections: int) -> None:
    server = counting_server(budget=600)
    result = load(server.port, processes=processes, connections=connections)
    assert server.counts()["responses"] == 600
    assert result.requests == 600
    assert result.status == {200: 600}
    assert no_errors(result), result.errors
    # every connection ends waiting for an answer that never comes
    assert result.in_flight == connections
    assert result.bytes_read > 600 * len(b"hello, counted\n")


def test_connection_close_count_is_exact(counting_server) -> None:
    server = counting_server(budget=200)
    result = load(server.port, processes=2, connections=6,
                  headers=[("Connection", "close")])
    assert server.counts()["responses"] == 200
    assert result.requests == 200
    assert no_errors(result), result.errors


def test_window_without_budget_counts_only_complete_responses(counting_server) -> None:
    server = counting_server()
    result = load(server.port, processes=2, connections=8, duration=0.5)
    served = server.counts()["responses"]
    assert result.requests > 0
    # The server may have answered requests the client had not read at the
    # deadline: those are in flight, not counted.
    assert result.requests <= served <= result.requests + result.in_flight
    assert result.duration == pytest.approx(0.5)
    assert result.rps == pytest.approx(result.requests / 0.5)


@pytest.mark.parametrize("path", ["/http10", "/eof"])
def test_responses_that_end_the_connection(counting_server, path: str) -> None:
    server = counting_server(budget=100)
    result = load(server.port, path=path, processes=2, connections=4)
    assert result.requests == server.counts()["responses"] == 100
    assert no_errors(result), result.errors


def test_post_body_is_sent_whole(counting_server) -> None:
    server = counting_server(budget=300)
    body = bytes(range(256)) * 40
    result = load(server.port, path="/echo", method="POST", body=body,
                  headers=[("X-Expect-Length", str(len(body)))])
    assert result.status == {200: 300}
    assert server.counts()["status"] == {200: 300}


def test_request_is_built_once_with_host_and_length() -> None:
    spec = LoadSpec("::1", 8080, method="POST", path="/p?q=1", body=b"abc",
                    headers=[("X-A", "1")])
    assert build_request(spec) == (b"POST /p?q=1 HTTP/1.1\r\nHost: [::1]:8080\r\nX-A: 1\r\n"
                                   b"Content-Length: 3\r\n\r\nabc")
    assert split(64, 2) == [32, 32] and split(10, 3) == [4, 3, 3] and split(2, 4) == [1, 1]


@pytest.mark.parametrize("path,budget", [("/chunked", 300), ("/dribble", 8)])
def test_chunked_responses(counting_server, path: str, budget: int) -> None:
    server = counting_server(budget=budget)
    result = load(server.port, path=path, processes=2, connections=4)
    assert result.requests == server.counts()["responses"] == budget
    assert no_errors(result), result.errors
    if path == "/chunked":
        assert result.bytes_read > budget * 2800 * len(b"hello, counted\n")


def test_head_response_has_no_body(counting_server) -> None:
    server = counting_server(budget=300)
    result = load(server.port, method="HEAD", connections=4)
    assert result.requests == server.counts()["responses"] == 300
    assert no_errors(result), result.errors


def test_statuses_are_counted_per_code(counting_server) -> None:
    server = counting_server(budget=600)
    result = load(server.port, path="/rotate", connections=6)
    assert result.status == server.counts()["status"] == {200: 200, 404: 200, 503: 200}
    result = load(server.port, path="/status/500", connections=2, duration=0.3)
    assert result.status == {} and result.requests == 0  # the budget is spent


def test_truncated_response(counting_server) -> None:
    server = counting_server()
    result = load(server.port, path="/truncate", connections=4, duration=0.5)
    assert result.requests == 0
    assert result.errors["truncated"] > 0
    assert sum(result.errors.values()) == result.errors["truncated"]


def test_closed_port_counts_connect_errors_and_backs_off() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # bound, never listening: refused
    began = time.monotonic()
    result = load(port, connections=4, duration=0.8)
    elapsed = time.monotonic() - began
    assert result.requests == 0
    assert result.errors["connect"] > 0
    # 4 connections retrying with a back-off of up to 100 ms: a few dozen
    # attempts each in a second, not a spin of thousands
    assert result.errors["connect"] < 400
    assert elapsed < 2.0


def test_silent_server_gives_timeouts(counting_server) -> None:
    server = counting_server()
    result = load(server.port, path="/silent", connections=4, duration=0.7, timeout=0.2)
    assert result.requests == 0
    assert result.errors["timeout"] >= 4
    assert sum(result.errors.values()) == result.errors["timeout"]


def test_latency_percentiles(counting_server) -> None:
    server = counting_server(budget=400)
    result = load(server.port, connections=2)
    lat = result.latency_us
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"] * 1.01
    assert sum(n for _, n in result.histogram) == result.requests == 400
    json.dumps(dataclasses.asdict(result))  # plain data for reports


def test_histogram_precision_and_merge() -> None:
    values = [37, 255, 256, 1000, 12_345, 999_999, 5_000_000, 3_000_000_000]
    for v in values:
        hist = array("Q", bytes(8 * _cext.LOADGEN_HISTOGRAM_SIZE))
        _cext.histogram_record(hist, v)
        (got,) = _cext.histogram_percentiles(hist, [0.5])
        assert abs(got - v) <= 0.01 * v, (v, got)
    a = array("Q", bytes(8 * _cext.LOADGEN_HISTOGRAM_SIZE))
    b = array("Q", bytes(8 * _cext.LOADGEN_HISTOGRAM_SIZE))
    for v in range(1, 1001):
        _cext.histogram_record(a if v % 2 else b, v * 1000)
    merged = array("Q", map(int.__add__, a, b))
    p50, p90, p99 = _cext.histogram_percentiles(merged, [0.5, 0.9, 0.99])
    assert p50 == pytest.approx(500_000, rel=0.01)
    assert p90 == pytest.approx(900_000, rel=0.01)
    assert p99 == pytest.approx(990_000, rel=0.01)


def test_localhost_finds_the_address_that_listens(counting_server) -> None:
    server = counting_server(budget=100)  # listens on 127.0.0.1 only
    result = run_load(LoadSpec("localhost", server.port, connections=2, duration=0.5,
                               processes=1, timeout=10.0))
    assert result.requests == 100
    assert no_errors(result), result.errors


def test_reset_mid_response_is_truncated(counting_server) -> None:
    server = counting_server()
    result = load(server.port, path="/reset", connections=2, duration=0.5)
    assert result.requests == 0
    assert result.errors["truncated"] > 0
    assert result.errors["connect"] == result.errors["timeout"] == result.errors["write"] == 0


def test_reset_while_writing_a_large_body_is_a_write_error(counting_server) -> None:
    server = counting_server()
    result = load(server.port, path="/reject", method="POST", body=b"x" * (16 << 20),
                  connections=2, processes=1, duration=0.5)
    assert result.requests == 0
    assert result.errors["write"] > 0
    assert result.errors["truncated"] == result.errors["timeout"] == 0


def test_run_from_a_thread(counting_server) -> None:
    server = counting_server(budget=100)
    results: list[LoadResult] = []
    thread = threading.Thread(target=lambda: results.append(load(server.port, duration=0.5)))
    thread.start()
    thread.join(timeout=10)
    assert results and results[0].requests == 100
