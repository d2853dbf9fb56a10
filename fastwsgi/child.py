"""What every process the supervisor forks does first and last.

Daemons and routers alike: never outlive the supervisor (the kernel sends
SIGTERM when it dies), drop the supervisor's signal handlers, and block the
control signals in every thread so that the main thread alone takes them
with sigwait(). At the end, flush the log and leave with os._exit(): a forked
child must not run the supervisor's cleanup.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import NoReturn

from fastwsgi import exitcodes
from fastwsgi._cext import set_parent_death_signal
from fastwsgi.log import log

CONTROL_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1}


def enter_child(supervisor_pid: int) -> bool:
    """Set up signals after fork; False if the supervisor is already gone."""
    set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != supervisor_pid:
        return False  # the supervisor died while we forked
    signal.set_wakeup_fd(-1)
    for sig in CONTROL_SIGNALS | {signal.SIGCHLD}:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_BLOCK, CONTROL_SIGNALS)
    return True


def run_child(what: str, body: Callable[[], int]) -> NoReturn:
    """Run body() in a forked child and exit with its code, whatever happens."""
    code = exitcodes.BOOT_FAILED
    try:
        code = body()
    except BaseException:
        log.critical("%s failed:\n%s", what, traceback.format_exc())
    finally:
        for h in log.handlers:
            h.flush()
    os._exit(code)


def join_all(threads: Iterable[threading.Thread], seconds: float) -> int:
    """Wait up to seconds in all for the threads; how many are still running."""
    threads = list(threads)
    deadline = time.monotonic() + seconds
    for t in threads:
        t.join(max(deadline - time.monotonic(), 0))
    return sum(t.is_alive() for t in threads)
