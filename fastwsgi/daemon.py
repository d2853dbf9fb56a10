"""One daemon process of a group: worker threads that run the application.

Life of a daemon (after the supervisor forked it):

1. It asks the kernel for SIGTERM when the supervisor dies, so it never
   outlives it, and blocks the control signals in every thread: the main
   thread alone takes them with sigwait().
2. It sets itself up (fastwsgi/procsetup.py: display-name, privileges, home,
   umask, sys.path, stack-size) and starts the watchdog (fastwsgi/watchdog.py,
   cext/watchdog.pyx). Then it loads the application. A failure exits with
   APP_LOAD_FAILED; the full traceback is logged on the first attempt only,
   so a crash loop does not flood the log (the supervisor backs off and
   eventually gives up). A daemon of a Site's group (run -f) instead gets
   the group's applications (fastwsgi/apps.py): loaded on their first
   request, its WSGIImportScript ones now; and it writes its log to the
   group's error log (the virtual host's ErrorLog).
3. `threads` workers each loop: accept (leader/follower, see
   cext/acceptor.pyx), read the request, run the application, close.
4. SIGTERM/SIGINT, maximum-requests, or a watchdog cause (inactivity,
   restart-interval, request-timeout): stop accepting, let in-flight requests
   finish within graceful-timeout, run the exit functions, and exit with the
   code of the cause. The watchdog forces the exit after shutdown-timeout
   more, whatever is still running, even if the GIL is stuck.
"""

from __future__ import annotations

import atexit
import os
import random
import signal
import socket
import threading
import traceback
from typing import Any, NoReturn

from fastwsgi import exitcodes
from fastwsgi import log as logmod
from fastwsgi._cext import (
    Acceptor,
    Conn,
    HttpApp,
    HttpLoop,
    UwsgiApp,
    claim_stop,
    request_begin,
    request_end,
    set_parent_death_signal,
    set_shutdown_deadline,
    stop_reason,
)
from fastwsgi.access_log import close_access_log, open_access_log, reopen_access_log
from fastwsgi.appload import is_script, load_application
from fastwsgi.apps import Applications, GroupApps
from fastwsgi.child import CONTROL_SIGNALS, enter_child, join_all, run_child
from fastwsgi.config import GroupConfig
from fastwsgi.errors import RequestTimeout, StartupError
from fastwsgi.log import log, reopen
from fastwsgi.procsetup import setup_process
from fastwsgi.queuetime import waited
from fastwsgi.sockets import server_address
from fastwsgi.watchdog import Watchdog
from fastwsgi.wsgi import base_environ

ERROR_504 = (b"HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain\r\n"
             b"Content-Length: 16\r\n\r\nGateway Timeout\n")
ERROR_400 = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
             b"Content-Length: 12\r\n\r\nBad Request\n")
#: The stop cause recorded when the supervisor (or a person) asked for the stop.
STOP_SIGNALLED = -1
#: How much later than the daemon's own shutdown-timeout the C watchdog
#: forces the exit (it only has to when the GIL is stuck).
FORCE_MARGIN = 0.5
#: How long unread request data is drained before close, so that the close
#: does not become a reset that destroys the response in flight.
LINGER_SECONDS = 5.0


class Daemon:
    """The state of one daemon process; built before fork, run after it."""

    def __init__(self, cfg: GroupConfig, listeners: list[socket.socket], status_fd: int,
                 attempt: int, apps: GroupApps | None = None) -> None:
        self.cfg = cfg
        self.apps = apps  # a Site group's applications; None = the one cfg.app
        self.listeners = listeners
        self.status_fd = status_fd
        self.attempt = attempt
        self.app: Any = None
        self.base: dict[str, Any] = {}
        self.acceptor: Acceptor | HttpLoop | None = None
        self.uwsgi: UwsgiApp | None = None
        self.lock = threading.Lock()
        self.served = 0
        self.exit_code = exitcodes.STOPPED
        self.stopping = False
        self.forced = False  # shutdown-timeout expired: exit at once
        self.limit = cfg.maximum_requests
        self.queue_timeout: float = cfg.queue_timeout  # read per request: no __getattr__
        self.watchdog = Watchdog(cfg)
        # A relative script path must survive the chdir to home=.
        path, sep, name = cfg.app.partition("::")
        self.app_spec = os.path.abspath(path) + sep + name if is_script(cfg.app) else cfg.app

    # -- after fork -------------------------------------------------------

    def run(self, supervisor_pid: int) -> NoReturn:
        """Entry point in the forked child; never returns."""
        def body() -> int:
            code = self._run(supervisor_pid)
            if not self.forced:
                atexit._run_exitfuncs()  # bounded by the watchdog's shutdown deadline
            return code
        run_child(f"Daemon process '{self.cfg.name}'", body)

    def _run(self, supervisor_pid: int) -> int:
        if not enter_child(supervisor_pid):
            return exitcodes.STOPPED
        # Opened before the privilege drop, as Apache opens its logs as root.
        self.access_log = self.cfg.http.access_log if self.cfg.http is not None else None
        open_access_log(self.access_log)
        if self.apps is not None and self.apps.error_log is not None:
            try:
                _log_to(self.apps.error_log)
            except OSError as exc:
                log.error("Daemon process '%s' (pid=%d) cannot open its error log: %s",
                          self.cfg.name, os.getpid(), exc)
                return exitcodes.BOOT_FAILED
        try:
            setup_process(self.cfg, self.apps.python_path if self.apps is not None else ())
        except StartupError as exc:
            log.error("Daemon process '%s' (pid=%d) could not start: %s", self.cfg.name,
                      os.getpid(), exc)
            return exitcodes.BOOT_FAILED
        # A change of credentials clears the parent-death signal: arm it again.
        set_parent_death_signal(signal.SIGTERM)
        if os.getppid() != supervisor_pid:
            return exitcodes.STOPPED
        self.watchdog.start()  # before the import, so a stuck import is caught too
        if not self._load():
            return exitcodes.APP_LOAD_FAILED
        cfg = self.cfg
        if self.limit and cfg.maximum_requests_jitter:
            self.limit += random.randint(0, cfg.maximum_requests_jitter)
        # A Site daemon takes mod_wsgi.application_group from each frame.
        app_group = None if self.apps is not None else cfg.application_group
        self.base = base_environ(process_group=cfg.name, application_group=app_group,
                                 multiprocess=cfg.multiprocess, multithread=cfg.multithread,
                                 run_once=cfg.run_once)
        fds = [s.fileno() for s in self.listeners]
        if cfg.http is not None:
            self.acceptor = HttpLoop(fds, cfg.http.header_timeout, cfg.http.keepalive_timeout,
                                     cfg.socket_timeout, cfg.receive_buffer_size,
                                     cfg.send_buffer_size)
            self.http = HttpApp(self.app, self.base, [server_address(s) for s in self.listeners],
                                cfg.http.limit_request_body, self._count_request,
                                queue_timeout=self.queue_timeout, queue_waited=waited)
            target = self._http_worker
        else:
            self.acceptor = Acceptor(fds, cfg.receive_buffer_size, cfg.send_buffer_size)
            self.uwsgi = UwsgiApp(self.app, self.base, cfg.socket_timeout, self.queue_timeout,
                                  waited, LINGER_SECONDS, cfg.send_buffer_size)
            target = self._worker
        workers = [threading.Thread(target=target, args=(i,), name=f"wsgi-{i}",
                                    daemon=True) for i in range(cfg.threads)]
        for t in workers:
            t.start()
        log.info("Daemon process '%s' (pid=%d) accepting requests with %d threads.",
                 cfg.name, os.getpid(), cfg.threads)
        os.write(self.status_fd, b"R%d\n" % os.getpid())
        self._wait_for_stop()
        return self._shutdown(workers)

    def _load(self) -> bool:
        if self.apps is not None:
            apps = Applications(self.cfg.name, self.apps.apps, self.apps.imports)
            apps.preload()
            self.app = apps
            return True
        try:
            self.app = load_application(self.app_spec)
            return True
        except BaseException as exc:
            if self.attempt == 0:
                log.error("Failed to load the WSGI application %r for daemon process '%s':\n%s",
                          self.cfg.app, self.cfg.name, traceback.format_exc().rstrip())
            else:
                log.error("Failed again to load the WSGI application %r for daemon process "
                          "'%s' (attempt %d): %s: %s", self.cfg.app, self.cfg.name,
                          self.attempt + 1, type(exc).__name__, exc)
            return False

    def _wait_for_stop(self) -> None:
        while True:
            sig = signal.sigwait(CONTROL_SIGNALS)
            if sig in (signal.SIGTERM, signal.SIGINT):
                if claim_stop(STOP_SIGNALLED):
                    log.info("Shutdown requested for daemon process '%s' (pid=%d).",
                             self.cfg.name, os.getpid())
                self.exit_code = max(stop_reason(), exitcodes.STOPPED)
                return
            if sig == signal.SIGUSR1:
                reopen()
                reopen_access_log(self.access_log)
                self.watchdog.log_reopened()

    def request_stop(self, code: int, why: str) -> None:
        """Called from a worker: stop accepting and let the main thread exit."""
        if not claim_stop(code):
            return  # already stopping, for this or another cause
        with self.lock:
            self.stopping = True
        log.info("%s; stopping daemon process '%s' (pid=%d).", why, self.cfg.name, os.getpid())
        assert self.acceptor is not None
        self.acceptor.stop()
        os.kill(os.getpid(), signal.SIGTERM)

    def _shutdown(self, workers: list[threading.Thread]) -> int:
        assert self.acceptor is not None
        self.acceptor.stop()
        cfg = self.cfg
        # The C watchdog enforces the end even if the GIL never comes back; its
        # margin lets this thread do it first, with the log lines, when it can.
        set_shutdown_deadline(cfg.graceful_timeout + cfg.shutdown_timeout + FORCE_MARGIN)
        busy = join_all(workers, cfg.graceful_timeout)
        if busy:
            log.warning("Daemon process '%s' (pid=%d): %d requests still running after "
                        "graceful-timeout %gs; shutdown-timeout %gs more before the exit is "
                        "forced.", cfg.name, os.getpid(), busy, cfg.graceful_timeout,
                        cfg.shutdown_timeout)
            busy = join_all(workers, cfg.shutdown_timeout)
            if busy:
                log.error("Shutdown timeout expired; aborting daemon process '%s' (pid=%d) "
                          "with %d requests still running.", cfg.name, os.getpid(), busy)
                self.forced = True
                if self.exit_code == exitcodes.STOPPED:
                    self.exit_code = exitcodes.SHUTDOWN_TIMEOUT
        close_access_log()
        log.info("Exiting daemon process '%s' (pid=%d) after %d requests.", cfg.name,
                 os.getpid(), self.served)
        return self.exit_code

    # -- worker threads ---------------------------------------------------

    def _http_worker(self, slot: int) -> None:
        """An HTTP worker thread: the loop runs the application once per request."""
        assert isinstance(self.acceptor, HttpLoop)
        self.watchdog.register_worker(slot)
        while True:
            try:
                self.acceptor.serve(self.http, Conn(), slot)
                return
            except RequestTimeout:
                # Delivered late, between two requests: nothing left to interrupt.
                request_end(slot)
            except Exception:
                # A failure while serving one connection (which serve() has
                # closed) must not cost the process one of its threads.
                log.exception("Unexpected error in HTTP worker thread %d; it goes on:", slot)
            except BaseException:
                log.exception("HTTP worker thread failed:")
                return

    def _worker(self, slot: int) -> None:
        accept = self.acceptor.accept  # type: ignore[union-attr]
        assert self.uwsgi is not None
        handle = self.uwsgi.handle  # handle_uwsgi without its Python frame
        self.watchdog.register_worker(slot)
        fd = -1
        while True:
            try:
                fd = accept(fd >= 0)  # the gate counts this thread busy until then
                if fd < 0:
                    return
                request_begin(slot)  # the watchdog's view: busy since accept()
                try:
                    if not handle(fd):
                        continue  # a connection without a request does not count
                except RequestTimeout:
                    log.warning("request-timeout reached thread %d after its response was "
                                "complete.", slot)
                except BaseException:
                    log.exception("Unexpected error while handling a request:")
                finally:
                    request_end(slot)
                self._count_request()
            except RequestTimeout:
                # Delivered late, between two requests: nothing left to interrupt.
                request_end(slot)

    def _count_request(self) -> None:
        with self.lock:
            self.served += 1
            served = self.served
        if self.limit and served >= self.limit:
            self.request_stop(exitcodes.MAXIMUM_REQUESTS,
                              f"Maximum requests ({self.limit}) reached")

    def handle_uwsgi(self, fd: int) -> bool:
        """One request over the uwsgi protocol; False if none arrived.

        The work is in C (cext/wsgi_response.pyx, UwsgiApp.handle): read the
        frame, run the application, framed response when the router asks
        for it (FRAMED_RESPONSE_VAR), half-close, drain an unread body, close.
        """
        assert self.uwsgi is not None
        return self.uwsgi.handle(fd)


def _log_to(path: str) -> None:
    """Send this process's log to path, at the level the supervisor's has."""
    names = {value: name for name, value in logmod.LEVELS.items()}
    logmod.setup(path, names.get(log.level, "info"))
