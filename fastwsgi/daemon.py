"""One daemon process of a group: worker threads that run the application.

Life of a daemon (after the supervisor forked it):

1. It asks the kernel for SIGTERM when the supervisor dies, so it never
   outlives it, and blocks the control signals in every thread: the main
   thread alone takes them with sigwait().
2. It loads the application. A failure exits with APP_LOAD_FAILED; the full
   traceback is logged on the first attempt only, so a crash loop does not
   flood the log (the supervisor backs off and eventually gives up).
3. `threads` workers each loop: accept (leader/follower, see
   cext/acceptor.pyx), read the request, run the application, close.
4. SIGTERM/SIGINT, or maximum-requests: stop accepting, let in-flight
   requests finish within graceful-timeout, then exit; a reaper forces the
   exit after shutdown-timeout more, whatever is still running.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
import traceback
from typing import Any, NoReturn

from fastwsgi import exitcodes
from fastwsgi._cext import (
    RESPONSE_UWSGI,
    Acceptor,
    Conn,
    HttpApp,
    HttpLoop,
    InputStream,
    Response,
    body_length,
    run_app,
    set_parent_death_signal,
)
from fastwsgi.appload import load_application
from fastwsgi.config import GroupConfig
from fastwsgi.errors import FramingError
from fastwsgi.log import log, reopen
from fastwsgi.sockets import server_address
from fastwsgi.wsgi import base_environ, complete_environ

CONTROL_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1}
ERROR_400 = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
             b"Content-Length: 12\r\n\r\nBad Request\n")
#: How long unread request data is drained before close, so that the close
#: does not become a reset that destroys the response in flight.
LINGER_SECONDS = 5.0


class Daemon:
    """The state of one daemon process; built before fork, run after it."""

    def __init__(self, cfg: GroupConfig, listeners: list[socket.socket], status_fd: int,
                 attempt: int) -> None:
        self.cfg = cfg
        self.listeners = listeners
        self.status_fd = status_fd
        self.attempt = attempt
        self.app: Any = None
        self.base: dict[str, Any] = {}
        self.acceptor: Acceptor | HttpLoop | None = None
        self.lock = threading.Lock()
        self.served = 0
        self.exit_code = exitcodes.STOPPED
        self.stopping = False

    # -- after fork -------------------------------------------------------

    def run(self, supervisor_pid: int) -> NoReturn:
        """Entry point in the forked child; never returns."""
        code = exitcodes.BOOT_FAILED
        try:
            code = self._run(supervisor_pid)
        except BaseException:
            log.critical("Daemon process '%s' failed:\n%s", self.cfg.name, traceback.format_exc())
        finally:
            for h in log.handlers:
                h.flush()
        os._exit(code)

    def _run(self, supervisor_pid: int) -> int:
        set_parent_death_signal(signal.SIGTERM)
        if os.getppid() != supervisor_pid:
            return exitcodes.STOPPED  # the supervisor died while we forked
        signal.set_wakeup_fd(-1)
        for sig in CONTROL_SIGNALS | {signal.SIGCHLD}:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_BLOCK, CONTROL_SIGNALS)
        if not self._load():
            return exitcodes.APP_LOAD_FAILED
        cfg = self.cfg
        self.base = base_environ(process_group=cfg.name, application_group=cfg.application_group,
                                 multiprocess=cfg.multiprocess, multithread=cfg.multithread,
                                 run_once=cfg.run_once)
        fds = [s.fileno() for s in self.listeners]
        if cfg.http is not None:
            loop = HttpLoop(fds, cfg.http.header_timeout, cfg.http.keepalive_timeout,
                            cfg.socket_timeout)
            self.http = HttpApp(self.app, self.base, [server_address(s) for s in self.listeners],
                                cfg.http.limit_request_body, self._count_request)
            self.acceptor = loop
            target = self._http_worker
        else:
            self.acceptor = Acceptor(fds)
            target = self._worker
        workers = [threading.Thread(target=target, name=f"wsgi-{i}", daemon=True)
                   for i in range(cfg.threads)]
        for t in workers:
            t.start()
        log.info("Daemon process '%s' (pid=%d) accepting requests with %d threads.",
                 cfg.name, os.getpid(), cfg.threads)
        os.write(self.status_fd, b"R%d\n" % os.getpid())
        self._wait_for_stop()
        return self._shutdown(workers)

    def _load(self) -> bool:
        try:
            sys.path.insert(0, os.getcwd()) if "" not in sys.path else None
            self.app = load_application(self.cfg.app)
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
                if not self.stopping:
                    log.info("Shutdown requested for daemon process '%s' (pid=%d).",
                             self.cfg.name, os.getpid())
                return
            if sig == signal.SIGUSR1:
                reopen()

    def request_stop(self, code: int, why: str) -> None:
        """Called from a worker: stop accepting and let the main thread exit."""
        with self.lock:
            if self.stopping:
                return
            self.stopping = True
            self.exit_code = code
        log.info("%s; stopping daemon process '%s' (pid=%d).", why, self.cfg.name, os.getpid())
        assert self.acceptor is not None
        self.acceptor.stop()
        os.kill(os.getpid(), signal.SIGTERM)

    def _shutdown(self, workers: list[threading.Thread]) -> int:
        assert self.acceptor is not None
        self.acceptor.stop()
        cfg = self.cfg
        deadline = time.monotonic() + cfg.graceful_timeout
        for t in workers:
            t.join(max(deadline - time.monotonic(), 0))
        busy = sum(t.is_alive() for t in workers)
        if busy:
            log.warning("Daemon process '%s' (pid=%d): %d requests still running after "
                        "graceful-timeout %gs.", cfg.name, os.getpid(), busy, cfg.graceful_timeout)
            self._start_reaper()
            deadline = time.monotonic() + cfg.shutdown_timeout
            for t in workers:
                t.join(max(deadline - time.monotonic(), 0))
        log.info("Exiting daemon process '%s' (pid=%d) after %d requests.", cfg.name,
                 os.getpid(), self.served)
        return self.exit_code

    def _start_reaper(self) -> None:
        """Force the exit after shutdown-timeout, whatever still runs."""
        def reap() -> None:
            time.sleep(self.cfg.shutdown_timeout)
            log.error("Shutdown timeout expired; aborting daemon process '%s' (pid=%d).",
                      self.cfg.name, os.getpid())
            os._exit(exitcodes.SHUTDOWN_TIMEOUT)
        threading.Thread(target=reap, name="reaper", daemon=True).start()

    # -- worker threads ---------------------------------------------------

    def _http_worker(self) -> None:
        """An HTTP worker thread: the loop calls the handler once per request."""
        assert isinstance(self.acceptor, HttpLoop)
        try:
            self.acceptor.serve(self.http, Conn())
        except BaseException:
            log.exception("HTTP worker thread failed:")

    def _count_request(self) -> None:
        """After each request: count it, and recycle at maximum-requests."""
        limit = self.cfg.maximum_requests
        with self.lock:
            self.served += 1
            served = self.served
        if limit and served >= limit:
            self.request_stop(exitcodes.MAXIMUM_REQUESTS, f"Maximum requests ({limit}) reached")

    def _worker(self) -> None:
        accept = self.acceptor.accept  # type: ignore[union-attr]
        handle = self.handle_uwsgi
        while True:
            fd = accept()
            if fd < 0:
                return
            try:
                if not handle(fd):
                    continue  # a connection without a request does not count
            except BaseException:
                log.exception("Unexpected error while handling a request:")
            self._count_request()

    def handle_uwsgi(self, fd: int) -> bool:
        """One request over the uwsgi protocol; False if none arrived."""
        conn = Conn(fd, self.cfg.socket_timeout)
        stream: InputStream | None = None
        try:
            try:
                env = conn.read_frame()
                length = body_length(env)
            except EOFError:
                return False  # a probe, or a front-end that gave up
            except FramingError as exc:
                log.error("Bad request frame from the front-end, answered 400: %s", exc)
                try:
                    conn.sendall(ERROR_400)
                except OSError:
                    pass
                return True
            except OSError as exc:
                log.error("Could not read the request frame from the front-end: %s", exc)
                return False
            stream = InputStream(conn, length)
            environ = complete_environ(env, self.base, stream, True)
            response = Response(conn, RESPONSE_UWSGI, env.get("REQUEST_METHOD") == "HEAD")
            run_app(self.app, environ, response)
            return True
        finally:
            conn.shutdown_write()
            left = stream.remaining if stream is not None else 0
            if left:
                conn.discard(left if left > 0 else 1 << 62, LINGER_SECONDS)
            conn.close()
