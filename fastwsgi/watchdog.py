"""The watchdog's Python half: the GIL probe and RequestTimeout injection.

The C half (cext/watchdog.pyx) is a thread that never takes the GIL; it
detects a stuck GIL, enforces inactivity-timeout, restart-interval, the
shutdown deadline and the escalation of request-timeout. What needs the GIL
happens here, in one probe thread that wakes every PROBE_PERIOD seconds:

1. It advances the heartbeat. It can only do so while it can get the GIL,
   so a frozen heartbeat is how the C half learns that the GIL is stuck.
2. For each request past request-timeout it logs that thread's stack and
   raises RequestTimeout in it (PyThreadState_SetAsyncExc), so the request
   is answered 504 and the process survives. An exception is only seen when
   the thread next runs Python code: a thread blocked in C (a long sleep, a
   read) is not interrupted, and the C half replaces the process when the
   request is still running after as long again (the grace period).

Signal DUMP_SIGNAL (SIGUSR2) dumps every thread's stack to the error log:
the C half raises it on a deadlock, and an operator can send it too.
"""

from __future__ import annotations

import faulthandler
import signal
import sys
import threading
import time
import traceback

from fastwsgi import _cext
from fastwsgi.config import GroupConfig
from fastwsgi.errors import RequestTimeout
from fastwsgi.log import log, stream_fileno

DUMP_SIGNAL = signal.SIGUSR2
PROBE_PERIOD = 1.0


class Watchdog:
    """Start once per daemon process, before the application is loaded."""

    def __init__(self, cfg: GroupConfig) -> None:
        self.cfg = cfg
        self.request_timeout: float = cfg.request_timeout
        # worker slot -> thread ident, for RequestTimeout injection
        self.threads: dict[int, int] = {}
        # Probe faster when request-timeout is short, so it fires on time.
        self.period = min(PROBE_PERIOD, self.request_timeout / 4) if self.request_timeout \
            else PROBE_PERIOD

    def start(self) -> None:
        cfg = self.cfg
        _cext.watchdog_configure(
            cfg.name, cfg.threads, stream_fileno(), DUMP_SIGNAL,
            deadlock=cfg.deadlock_timeout, inactivity=cfg.inactivity_timeout,
            request=self.request_timeout, request_grace=self.request_timeout,
            restart=cfg.restart_interval)
        faulthandler.register(DUMP_SIGNAL, file=_cext.watchdog_log_fd(), all_threads=True,
                              chain=False)
        _cext.watchdog_start()
        threading.Thread(target=self._probe, name="watchdog-probe", daemon=True).start()

    def register_worker(self, slot: int) -> None:
        """Called by worker thread `slot` itself, before its first request."""
        self.threads[slot] = threading.get_ident()

    def log_reopened(self) -> None:
        """The error log was reopened: the C half writes to the new file too."""
        _cext.watchdog_set_log_fd(stream_fileno())

    def _probe(self) -> None:
        beat = _cext.watchdog_beat
        while True:
            beat()
            if self.request_timeout:
                for slot, elapsed in _cext.overdue_requests():
                    self._interrupt(slot, elapsed)
            time.sleep(self.period)

    def _interrupt(self, slot: int, elapsed: float) -> None:
        ident = self.threads.get(slot)
        if ident is None:
            return
        frame = sys._current_frames().get(ident)
        stack = "".join(traceback.format_stack(frame)).rstrip() if frame else "(no frame)"
        log.error("Request in thread %d of daemon process '%s' has run %.1fs, more than "
                  "request-timeout (%gs); raising RequestTimeout in it. Its stack:\n%s",
                  slot, self.cfg.name, elapsed, self.request_timeout, stack)
        _cext.raise_in_thread(ident, RequestTimeout)
