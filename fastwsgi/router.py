"""A router process: HTTP from clients, relayed to daemon groups' UNIX sockets.

Like a Daemon it is built before the fork and run after it, and it is
supervised the same way (replaced when it dies, with the same back-off). Its
`threads` threads run the same HTTP event loop as an HTTP-listening daemon
(cext/http_loop.pyx) with, in place of the application, either a RelayApp
(cext/relay_app.pyx) in front of one group (`serve --router`: it never
imports application code), or a SiteApp (cext/dispatch.pyx, tables from
fastwsgi/routing.py) in front of a whole Site: virtual hosts, routes, several
groups, and applications embedded in the router process itself. A Site's
router opens its logs, then drops to Site.user/Site.group (when started as
root), then loads embedded applications. SIGTERM/SIGINT stop it: listeners
close, requests in flight finish within graceful-timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

from fastwsgi import exitcodes, privileges
from fastwsgi._cext import (
    Conn,
    HttpLoop,
    RequestHandler,
    watchdog_set_log_fd,
)
from fastwsgi.access_log import (
    SiteAccessLogs,
    close_access_log,
    open_access_log,
    reopen_access_log,
)
from fastwsgi.child import CONTROL_SIGNALS, enter_child, join_all, run_child
from fastwsgi.config import BY_NAME, RouterConfig
from fastwsgi.errors import StartupError
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
        cfg = self.cfg
        # Lines the C code writes without the GIL (408s, relay warnings).
        watchdog_set_log_fd(stream_fileno())
        addresses = [server_address(s) for s in self.listeners]
        if cfg.site is None:
            built = self._group_router(addresses)
        else:
            try:
                built = self._site_router(addresses)
            except StartupError as exc:
                log.error("Router process (pid=%d) could not start: %s", os.getpid(), exc)
                return exitcodes.BOOT_FAILED
        loop, handler, graceful, reopen_logs = built
        threads = [threading.Thread(target=self._worker, args=(loop, handler),
                                    name=f"router-{i}", daemon=True)
                   for i in range(cfg.threads)]
        for t in threads:
            t.start()
        os.write(self.status_fd, b"R%d\n" % os.getpid())
        while True:
            sig = signal.sigwait(CONTROL_SIGNALS)
            if sig in (signal.SIGTERM, signal.SIGINT):
                break
            if sig == signal.SIGUSR1:
                reopen()
                watchdog_set_log_fd(stream_fileno())
                reopen_logs()
        loop.stop()
        if join_all(threads, graceful):
            # Requests are counted by connection: a relayed one waiting for
            # its daemon holds no thread.
            log.warning("Router process for '%s' (pid=%d) exiting with %d requests still "
                        "being served after graceful-timeout %gs.", cfg.name, os.getpid(),
                        loop.connections(), graceful)
        close_access_log()
        return exitcodes.STOPPED

    def _group_router(self, addresses: list[tuple[str, str]]
                      ) -> tuple[HttpLoop, RequestHandler, float, Callable[[], None]]:
        """`serve --router`: every request relayed to one group."""
        cfg, group = self.cfg, self.cfg.group
        assert group is not None
        open_access_log(cfg.http.access_log)
        # The gate, as in a daemon: a relayed exchange waits for its daemon
        # (and between connect attempts) in the event set, not in a thread,
        # so one thread waiting for work is enough while requests keep
        # finishing (more contend for the GIL: 12k against 17k req/s here);
        # a thread stuck on a slow client lets the next one in after 1 ms.
        loop = HttpLoop([s.fileno() for s in self.listeners], cfg.http.header_timeout,
                        cfg.http.keepalive_timeout, group.socket_timeout, gate=True)
        from fastwsgi.routing import relay_to  # imported by router processes only
        relay = relay_to(group, addresses, cfg.http.limit_request_body)
        log.info("Router process for daemon group '%s' (pid=%d) relaying to unix:%s with "
                 "%d threads.", group.name, os.getpid(), group.socket_path, cfg.threads)
        return loop, relay, group.graceful_timeout, lambda: reopen_access_log(
            cfg.http.access_log)

    def _site_router(self, addresses: list[tuple[str, str]]
                     ) -> tuple[HttpLoop, RequestHandler, float, Callable[[], None]]:
        """`run -f`: a whole Site; logs open as root, then the identity drop."""
        from fastwsgi.routing import build_site_app  # the Site's modules only here
        cfg, site = self.cfg, self.cfg.site
        logs = SiteAccessLogs()
        # Opened before the drop, as Apache opens its logs as root;
        # build_site_app finds them again (log_set is memoised).
        for v in [site.main, *site.vhosts]:
            logs.log_set(v.access_logs or site.main.access_logs)
        if privileges.applies() and (site.user is not None or site.group is not None):
            privileges.drop(privileges.resolve(site.user, site.group))
        if site.python_path:
            sys.path[:0] = [p for p in site.python_path if p not in sys.path]
        loop = HttpLoop([s.fileno() for s in self.listeners], cfg.http.header_timeout,
                        cfg.http.keepalive_timeout, site.timeout,
                        limit_request_line=site.limit_request_line,
                        limit_request_fields=site.limit_request_fields,
                        limit_request_field_size=site.limit_request_field_size, gate=True)
        app, handlers = build_site_app(site, cfg.http, self.listeners, addresses, logs,
                                       multiprocess=cfg.processes > 1,
                                       multithread=cfg.threads > 1)
        handlers.embedded.preload()
        log.info("Router process (pid=%d) serving %d virtual hosts and %d daemon groups "
                 "with %d threads.", os.getpid(), len(site.vhosts), len(site.groups),
                 cfg.threads)
        return loop, app, BY_NAME["graceful-timeout"].default, logs.reopen

    @staticmethod
    def _worker(loop: HttpLoop, handler: RequestHandler) -> None:
        try:
            loop.serve(handler, Conn(), -1)
        except BaseException:
            log.exception("Router thread failed:")
