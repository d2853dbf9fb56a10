"""The GIL admission gate (cext/gil_gate.pyx): one idle thread waits for work
while requests keep finishing, and slow requests still get every thread.

The unit tests drive the gate's decisions from real threads (GilGateProbe);
the end-to-end tests prove, with a threading.Barrier inside the application,
that a daemon serving HTTP itself still runs N blocked requests at once on N
threads (the uwsgi side has the same proof in test_daemon_environ.py).
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from fastwsgi._cext import GilGateProbe
from tests.support.http_server import HttpServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

# (pollers, busy, sleeping, watching)
IDLE_POLLER = (1, 0, 0, 0)


class Waiter:
    """A thread blocked in gate.wait_turn() until the gate lets it poll."""

    def __init__(self, gate: GilGateProbe, was_busy: bool = False) -> None:
        self.returned = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(gate, was_busy), daemon=True)
        self.thread.start()

    def _run(self, gate: GilGateProbe, was_busy: bool) -> None:
        gate.wait_turn(was_busy)
        self.returned.set()


def wait_state(gate: GilGateProbe, check: Callable[[tuple[int, int, int, int]], bool],
               what: str) -> tuple[int, int, int, int]:
    wait_for(lambda: check(gate.state()), 10, what)
    return gate.state()


@pytest.fixture
def gate() -> Iterator[GilGateProbe]:
    g = GilGateProbe()
    yield g
    g.open()  # releases any thread a failed test left waiting


def test_first_idle_thread_polls_and_the_others_sleep(gate: GilGateProbe) -> None:
    gate.wait_turn()
    assert gate.state() == IDLE_POLLER
    b, c = Waiter(gate), Waiter(gate)
    assert wait_state(gate, lambda s: s[2] == 2, "two sleepers") == (1, 0, 2, 0)
    assert not b.returned.is_set() and not c.returned.is_set()
    # The poller stops without work: exactly one sleeper takes its place.
    gate.no_work()
    wait_for(lambda: b.returned.is_set() or c.returned.is_set(), 10, "a sleeper polls")
    assert wait_state(gate, lambda s: s[2] == 1, "one left asleep") == (1, 0, 1, 0)
    assert not (b.returned.is_set() and c.returned.is_set())


def test_a_thread_that_finishes_polls_again_at_once(gate: GilGateProbe) -> None:
    gate.wait_turn()
    gate.got_work()
    assert gate.state() == (0, 1, 0, 0)
    gate.progress()
    # It found nothing more ready: it becomes the poller itself, no hand-off.
    gate.wait_turn(True)
    assert gate.state() == IDLE_POLLER


def test_a_poller_taking_work_makes_a_sleeper_the_watcher(gate: GilGateProbe) -> None:
    gate.wait_turn()
    b = Waiter(gate)
    assert wait_state(gate, lambda s: s[2] == 1, "a sleeper") == (1, 0, 1, 0)
    gate.got_work()
    # Nobody polls while the request runs; the sleeper watches it (and is
    # admitted once a slice passes without progress, since none comes here).
    wait_for(lambda: gate.state()[3] == 1 or b.returned.is_set(), 10, "a watcher")
    wait_for(b.returned.is_set, 10, "admitted after a slice without progress")
    assert gate.state() == (1, 1, 0, 0)


def test_a_stalled_request_lets_a_sleeper_poll(gate: GilGateProbe) -> None:
    gate.wait_turn()
    gate.got_work()  # busy, and it never finishes
    b = Waiter(gate)
    wait_for(b.returned.is_set, 10, "the sleeper admitted after a slice without progress")
    assert gate.state() == (1, 1, 0, 0)


def test_open_lets_every_thread_poll(gate: GilGateProbe) -> None:
    gate.wait_turn()
    waiters = [Waiter(gate) for _ in range(3)]
    wait_state(gate, lambda s: s[2] == 3, "three sleepers")
    gate.open()
    for w in waiters:
        wait_for(w.returned.is_set, 10, "released by open()")
    assert gate.state()[2] == 0


def test_a_disabled_gate_lets_every_thread_poll() -> None:
    gate = GilGateProbe(False)
    waiters = [Waiter(gate) for _ in range(3)]
    for w in waiters:
        wait_for(w.returned.is_set, 10, "not gated")


def test_a_busy_thread_that_leaves_wakes_a_sleeper(gate: GilGateProbe) -> None:
    gate.wait_turn()
    gate.got_work()
    b = Waiter(gate)
    # On a loaded machine the sleeper may already have been admitted (a
    # slice passed without progress) before the state is read: either way,
    # done() must leave one idle poller.
    wait_for(lambda: gate.state()[2] == 1 or b.returned.is_set(), 10, "a sleeper")
    gate.done()  # the busy thread's loop ended with an exception
    wait_for(b.returned.is_set, 10, "the sleeper polls")
    assert gate.state() == IDLE_POLLER


# -- end to end: blocked requests still get every thread ---------------------

def _barrier(address: tuple[str, int], n: int, conn: http.client.HTTPConnection | None = None
             ) -> tuple[int, bytes]:
    conn = conn or http.client.HTTPConnection(*address, timeout=30)
    conn.request("GET", f"/barrier?n={n}")
    r = conn.getresponse()
    return r.status, r.read()


@pytest.mark.parametrize("threads", [2, 6])
def test_http_daemon_runs_blocked_requests_on_every_thread(threads: int) -> None:
    with HttpServer("wsgi_env:application", "--processes", "1", "--threads",
                    str(threads)) as server:
        address = server.addresses[0][1]
        conns = [http.client.HTTPConnection(*address, timeout=30) for _ in range(threads)]
        try:
            with ThreadPoolExecutor(threads) as pool:
                for _ in range(2):  # the second round on the same keep-alive connections
                    results = list(pool.map(lambda c: _barrier(address, threads, c), conns))
                    assert results == [(200, b"passed")] * threads
        finally:
            for c in conns:
                c.close()
