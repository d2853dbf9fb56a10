"""The C watchdog's primitives, each in a fresh interpreter (its state is per process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from fastwsgi import exitcodes
from tests.support.server import ROOT

pytestmark = pytest.mark.timeout(30)


def run(code: str) -> subprocess.CompletedProcess[str]:
    prelude = "import signal, time\nfrom fastwsgi import _cext\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=20)


def test_overdue_requests_are_reported_once_per_request():
    result = run("""
        _cext.watchdog_configure("unit", 2, 2, signal.SIGUSR2, request=0.05)
        assert _cext.overdue_requests() == []
        _cext.request_begin(1)
        assert _cext.busy_requests() == 1
        deadline = time.monotonic() + 5
        while not (over := _cext.overdue_requests()):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert [slot for slot, _ in over] == [1] and over[0][1] > 0.05
        assert _cext.overdue_requests() == []  # once
        _cext.request_end(1)
        assert _cext.busy_requests() == 0
        _cext.request_begin(1)  # the next request in that thread is watched again
        while not _cext.overdue_requests():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        _cext.request_begin(7)  # out of range: ignored, not a crash
        print("ok")
    """)
    assert result.stdout.strip() == "ok", result.stderr


def test_first_stop_cause_wins():
    result = run("""
        assert _cext.stop_reason() == 0
        assert _cext.claim_stop(64)
        assert not _cext.claim_stop(65)
        assert _cext.stop_reason() == 64
        print("ok")
    """)
    assert result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize("cause, code", [(None, exitcodes.SHUTDOWN_TIMEOUT),
                                         (exitcodes.INACTIVITY, exitcodes.INACTIVITY)])
def test_shutdown_deadline_forces_the_exit_with_the_stop_cause(cause, code):
    result = run(f"""
        _cext.watchdog_configure("unit", 1, 1, 0)
        _cext.watchdog_start()
        if {cause!r} is not None:
            _cext.claim_stop({cause!r})
        _cext.set_shutdown_deadline(0.2)
        while True:  # Python busy forever: only the C thread can end this
            pass
    """)
    assert result.returncode == code
    assert "Shutdown timeout expired; aborting daemon process 'unit'" in result.stdout


def test_inactivity_fires_only_after_some_activity():
    result = run("""
        import os
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        _cext.watchdog_configure("unit", 1, 1, 0, inactivity=0.2)
        _cext.watchdog_start()
        # No request yet: never idle, however long.
        assert signal.sigtimedwait({signal.SIGTERM}, 0.6) is None
        _cext.request_begin(0)
        _cext.request_end(0)
        assert signal.sigtimedwait({signal.SIGTERM}, 5) is not None
        assert _cext.stop_reason() == 65
        print("ok")
    """)
    assert result.stdout.strip().endswith("ok"), result.stderr
    assert "idle inactivity timer expired" in result.stdout
