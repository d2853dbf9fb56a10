"""A router process: HTTP from clients, relayed to a daemon group's UNIX socket.

Like a Daemon it is built before the fork and run after it, and it is
supervised the same way (replaced when it dies, with the same back-off). It
never imports the application: its `threads` threads run the same HTTP event
loop as an HTTP-listening daemon (cext/http_loop.pyx), with a RelayApp
(cext/relay.pyx) in place of the application. SIGTERM/SIGINT stop it:
listeners close, requests in flight finish within graceful-timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from typing import NoReturn

from fastwsgi import exitcodes
from fastwsgi._cext import (
    Conn,
    HttpLoop,
    RelayApp,
    watchdog_set_log_fd,
)
from fastwsgi.access_log import close_access_log, open_access_log, reopen_access_log
from fastwsgi.child import CONTROL_SIGNALS, enter_child, join_all, run_child
from fastwsgi.config import RouterConfig
from fastwsgi.log import log, reopen, stream_fileno
from fastwsgi.sockets import server_address


class Router:
    """The state of one router process; built before fork, run after it."""

    def __init__(self, cfg: RouterConfig, listeners: list[socket.socket], status_fd: int) -> None:
        self.cfg = cfg
        self.listeners = listeners
        self.status_fd = status_fd

    def run(self, supervisor_pid: int) -> NoReturn:
        """Entry point in the forked child; never returns."""
        run_child(f"Router process for '{self.cfg.name}'", lambda: self._run(supervisor_pid))

    def _run(self, supervisor_pid: int) -> int:
        if not enter_child(supervisor_pid):
            return exitcodes.STOPPED
        cfg, group = self.cfg, self.cfg.group
        # Lines the C code writes without the GIL (408s, relay warnings).
        watchdog_set_log_fd(stream_fileno())
        open_access_log(cfg.http.access_log)
        loop = HttpLoop([s.fileno() for s in self.listeners], cfg.http.header_timeout,
                        cfg.http.keepalive_timeout, group.socket_timeout)
        relay = RelayApp(group.name, group.socket_path,
                         [server_address(s) for s in self.listeners],
                         group.connect_timeout, group.socket_timeout,
                         group.receive_buffer_size, group.send_buffer_size,
                         cfg.http.limit_request_body)
        threads = [threading.Thread(target=self._worker, args=(loop, relay),
                                    name=f"router-{i}", daemon=True)
                   for i in range(cfg.threads)]
        for t in threads:
            t.start()
        log.info("Router process for daemon group '%s' (pid=%d) relaying to unix:%s with "
                 "%d threads.", group.name, os.getpid(), group.socket_path, cfg.threads)
        os.write(self.status_fd, b"R%d\n" % os.getpid())
        while True:
            sig = signal.sigwait(CONTROL_SIGNALS)
            if sig in (signal.SIGTERM, signal.SIGINT):
                break
            if sig == signal.SIGUSR1:
                reopen()
                watchdog_set_log_fd(stream_fileno())
                reopen_access_log(cfg.http.access_log)
        loop.stop()
        busy = join_all(threads, group.graceful_timeout)
        if busy:
            log.warning("Router process for '%s' (pid=%d) exiting with %d requests still "
                        "being relayed after graceful-timeout %gs.", group.name, os.getpid(),
                        busy, group.graceful_timeout)
        close_access_log()
        return exitcodes.STOPPED

    @staticmethod
    def _worker(loop: HttpLoop, relay: RelayApp) -> None:
        try:
            loop.serve(relay, Conn(), -1)
        except BaseException:
            log.exception("Router thread failed:")
