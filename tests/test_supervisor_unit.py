"""The supervisor's decisions without processes: fake fork/waitpid/kill, fake clock."""

from __future__ import annotations

import signal
from collections import deque

import pytest

from fastwsgi import exitcodes
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
