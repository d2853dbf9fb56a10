"""The supervisor: forks daemon processes, watches them, replaces them.

State machine, in the gunicorn manner:

1. Every listening socket is created before any fork and stays open here, so
   while a daemon restarts its requests wait in the kernel backlog.
2. Signal handlers only enqueue; a wake-up fd breaks the select() of the main
   loop, which then handles signals, reaps children with waitpid(WNOHANG)
   and reads readiness lines ("R<pid>") that daemons write to a pipe.
3. A daemon that exits is logged with its cause and replaced. One that never
   got to serve (start-up or application-load failure, or death within a
   second) counts as a start-up failure: replacements back off
   exponentially, and after MAX_STARTUP_FAILURES in a row the supervisor
   stops the whole server with a clear message instead of fork-looping.
4. SIGTERM/SIGINT: graceful stop. Daemons get SIGTERM, finish in-flight
   requests, and are killed only after graceful + shutdown timeouts; then the
   sockets are closed and their files removed.
5. SIGHUP: graceful reload. Each group moves to a new generation: a full set
   of new processes (which import the application afresh: the supervisor
   never imports it) starts next to the old ones, which keep serving. Only
   when every new process has reported "R<pid>" do the old ones get SIGTERM
   and drain. The socket never closes, so no request is refused. If a new
   process fails at start-up, the reload is abandoned: the new processes are
   stopped and the old ones keep serving. Router processes hold no
   application code and simply stay, unless they serve a Site with embedded
   applications: then they get a new generation the same way.
6. A Site (``run -f``, fastwsgi/runsite.py): each group also has its
   applications (fastwsgi/apps.py) and error log. Its socket is named like
   mod_wsgi's, '<WSGISocketPrefix>.<supervisor pid>.<n>.sock' (n: the
   group's index), or lives in a private temp dir when there is no prefix.
   Started as root, the socket belongs to the router's user (socket-user=
   if the group sets it) and the group's gid, mode 0660; otherwise 0600.

The system calls go through a ProcessOps object, so that the decisions
(back-off, giving up, reload ordering) are unit-tested with fake processes
and a fake clock (tests/test_supervisor_unit.py).
"""

from __future__ import annotations

import errno
import os
import select
import shutil
import signal
import time
from collections import deque
from dataclasses import dataclass, field

from fastwsgi import exitcodes, privileges
from fastwsgi.apps import GroupApps
from fastwsgi.config import GroupConfig, RouterConfig
from fastwsgi.daemon import Daemon
from fastwsgi.errors import ConfigError
from fastwsgi.log import log, notice, reopen
from fastwsgi.procsetup import check_group
from fastwsgi.router import Router
from fastwsgi.sockets import (
    describe,
    http_listener,
    private_dir,
    remove_socket_file,
    site_socket_path,
    unix_listener,
)

MAX_STARTUP_FAILURES = 5
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 10.0
#: A daemon dying sooner than this after its fork is treated as a start-up failure.
MIN_LIFETIME = 1.0
#: Exit code of the supervisor when a group cannot start.
EXIT_GROUP_FAILED = 3


class ProcessOps:
    """The supervisor's system calls and clock; tests substitute a fake."""

    def now(self) -> float:
        return time.monotonic()

    def fork(self) -> int:
        return os.fork()

    def waitpid(self) -> tuple[int, int]:
        """(pid, status) of a child that exited, (0, 0) if none; ChildProcessError if no child."""
        return os.waitpid(-1, os.WNOHANG)

    def kill(self, pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


@dataclass
class Proc:
    group: Group
    slot: int
    started: float
    generation: int = 0
    ready: bool = False
    retiring: bool = False  # an old generation's process told to stop after a reload


@dataclass
class Group:
    cfg: GroupConfig
    listeners: list = field(default_factory=list)
    failures: int = 0
    announced: bool = False
    owned_files: list[str] = field(default_factory=list)  # socket files we created
    generation: int = 0  # of the processes that should be serving; SIGHUP adds one
    pending: dict[int, float] = field(default_factory=dict)  # slot -> spawn time
    router: RouterConfig | None = None  # the router processes in front of a group
    private_dir: str = ""  # temp dir of a routed group's socket, removed at exit
    apps: GroupApps | None = None  # a Site group's applications (run -f)

    @property
    def what(self) -> str:
        """How log lines name the group's processes."""
        return "Router process for" if self.router else "Daemon process"


class Supervisor:
    """Runs daemon groups until told to stop; run() returns the exit code."""

    def __init__(self, configs: list[GroupConfig], ops: ProcessOps | None = None,
                 routers: list[RouterConfig] | None = None,
                 apps: dict[str, GroupApps] | None = None, socket_prefix: str = "",
                 socket_user: str | None = None) -> None:
        """apps (by group name), socket_prefix and socket_user: a Site's groups."""
        apps = apps or {}
        self.groups = [Group(cfg, apps=apps.get(cfg.name)) for cfg in configs]
        self.groups += [Group(r.process_config(), router=r) for r in routers or []]
        self.procs: dict[int, Proc] = {}
        self.signals: deque[int] = deque()
        self.stopping = False
        self.exit_code = 0
        self.pid = os.getpid()
        self.ops = ops or ProcessOps()
        self.wake_r = self.wake_w = self.status_r = self.status_w = -1
        # Generation numbers only grow, so that processes of an abandoned
        # reload can never be mistaken for those of a later one.
        self.last_generation = 0
        self.socket_prefix = socket_prefix  # WSGISocketPrefix
        self.socket_user = socket_user      # the router's user (Site.user)

    # -- set-up -------------------------------------------------------------

    def _open_sockets(self) -> None:
        for g in self.groups:
            cfg = g.cfg
            if g.router is not None:
                self._open_router_sockets(g, g.router)
                continue
            try:
                check_group(cfg)
            except ConfigError as exc:
                if g.apps is None or not g.apps.source:
                    raise
                raise ConfigError(str(exc), source=g.apps.source,
                                  directive="WSGIDaemonProcess") from None
            if g.apps is not None:
                self._open_site_socket(g, self.groups.index(g))
                continue
            if cfg.http is None and not cfg.socket_path:
                # Reached only through the router: a private socket in a temp
                # dir only we can enter (mkdtemp makes it mode 0700).
                g.private_dir = private_dir()
                cfg.socket_path = os.path.join(g.private_dir, "group.sock")
            if cfg.http is not None:
                for spec in cfg.http.binds:
                    sock = http_listener(spec, cfg.listen_backlog, cfg.receive_buffer_size,
                                         cfg.send_buffer_size)
                    g.listeners.append(sock)
                    if spec.startswith("unix:"):
                        g.owned_files.append(spec[5:])
                    log.info("Daemon group '%s' serving HTTP on %s.", cfg.name, describe(sock))
                continue
            g.listeners.append(unix_listener(
                cfg.socket_path, cfg.listen_backlog, socket_user=cfg.socket_user,
                rcvbuf=cfg.receive_buffer_size, sndbuf=cfg.send_buffer_size))
            g.owned_files.append(cfg.socket_path)
            log.info("Daemon group '%s' listening on unix:%s.", cfg.name, cfg.socket_path)

    def _open_site_socket(self, g: Group, n: int) -> None:
        """A Site group's socket: mod_wsgi's name, reachable by the router and the group."""
        cfg = g.cfg
        cfg.socket_path, g.private_dir = site_socket_path(self.socket_prefix, self.pid, n)
        gid = None
        if privileges.applies():
            ident = privileges.resolve(cfg.user, cfg.group)
            gid = ident.gid if ident is not None else os.getgid()
            if g.private_dir:
                # The routers run as the router's user: they must reach the
                # file, whose own mode decides who may connect.
                os.chmod(g.private_dir, 0o711)
        g.listeners.append(unix_listener(
            cfg.socket_path, cfg.listen_backlog, socket_user=cfg.socket_user or self.socket_user,
            rcvbuf=cfg.receive_buffer_size, sndbuf=cfg.send_buffer_size, group_gid=gid))
        g.owned_files.append(cfg.socket_path)
        log.info("Daemon group '%s' listening on unix:%s.", cfg.name, cfg.socket_path)

    def _open_router_sockets(self, g: Group, router: RouterConfig) -> None:
        for spec in router.binds:
            sock = http_listener(spec, g.cfg.listen_backlog)
            g.listeners.append(sock)
            if spec.startswith("unix:"):
                g.owned_files.append(spec[5:])
            log.info("%s '%s' serving HTTP on %s.", _title(g), router.name, describe(sock))

    def _install_signals(self) -> None:
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.status_r, self.status_w = os.pipe2(os.O_NONBLOCK)
        os.set_inheritable(self.status_r, False)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGCHLD):
            signal.signal(sig, self._enqueue)

    def _enqueue(self, sig: int, frame: object) -> None:
        self.signals.append(sig)

    # -- main loop ----------------------------------------------------------

    def run(self) -> int:
        try:
            self._open_sockets()
            self._install_signals()
            for g in self.groups:
                for slot in range(g.cfg.process_count):
                    g.pending[slot] = 0.0
            while True:
                self._spawn_due()
                self._wait()
                self._handle_signals()
                self._reap()
                self._read_status()
                if self.stopping:
                    break
            self._stop_all()
        finally:
            self._close_sockets()
        notice("fastwsgi (pid=%d) stopped.", self.pid)
        return self.exit_code

    def _wait(self) -> None:
        due = [t for g in self.groups for t in g.pending.values()]
        timeout = max(min(due) - self.ops.now(), 0) if due else 5.0
        try:
            select.select([self.wake_r, self.status_r], [], [], min(timeout, 5.0))
        except InterruptedError:
            pass
        try:
            while os.read(self.wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _handle_signals(self) -> None:
        while self.signals:
            sig = self.signals.popleft()
            if sig in (signal.SIGTERM, signal.SIGINT):
                notice("Received %s; stopping gracefully.", signal.Signals(sig).name)
                self.stopping = True
            elif sig == signal.SIGUSR1:
                reopen()
                self._signal_all(signal.SIGUSR1)
            elif sig == signal.SIGHUP and not self.stopping:
                self.reload()

    def reload(self) -> None:
        """Start a new generation of every group; the old one stops once it is ready."""
        notice("SIGHUP received: graceful reload; starting new daemon processes.")
        now = self.ops.now()
        for g in self.groups:
            if g.router is not None and not _holds_applications(g.router):
                continue  # routers hold no application code: they simply stay
            self.last_generation += 1
            g.generation = self.last_generation
            g.failures = 0
            g.pending = {slot: now for slot in range(g.cfg.process_count)}

    def _spawn_due(self) -> None:
        now = self.ops.now()
        for g in self.groups:
            for slot, when in list(g.pending.items()):
                if when <= now and not self.stopping:
                    del g.pending[slot]
                    self._spawn(g, slot)

    def _spawn(self, g: Group, slot: int) -> None:
        child: Daemon | Router
        if g.router is not None:
            child = Router(g.router, g.listeners, self.status_w)
        else:
            child = Daemon(g.cfg, g.listeners, self.status_w, g.failures, g.apps)
        pid = self.ops.fork()
        if pid == 0:
            os.close(self.wake_r)
            os.close(self.status_r)
            child.run(self.pid)
        self.procs[pid] = Proc(g, slot, self.ops.now(), g.generation)
        log.info("Starting %s '%s' (pid=%d) with threads=%d.",
                 "router process for" if g.router else "daemon process",
                 g.cfg.name, pid, g.cfg.threads)

    def _read_status(self) -> None:
        try:
            data = os.read(self.status_r, 65536)
        except BlockingIOError:
            return
        for line in data.split(b"\n"):
            if line.startswith(b"R") and line[1:].isdigit():
                self._ready(int(line[1:]))

    def _ready(self, pid: int) -> None:
        """A daemon reported that it accepts requests."""
        proc = self.procs.get(pid)
        if proc is None:
            return
        proc.ready = True
        g = proc.group
        if proc.generation != g.generation:
            return  # from a generation an abandoned reload left behind
        g.failures = 0
        current = [p for p in self.procs.values() if p.group is g and p.generation == g.generation]
        if sum(p.ready for p in current) < g.cfg.process_count:
            return
        old = [(pid, p) for pid, p in self.procs.items()
               if p.group is g and p.generation < g.generation and not p.retiring]
        for old_pid, p in old:
            p.retiring = True
            self.ops.kill(old_pid, signal.SIGTERM)
        if old:
            notice("%s '%s' reloaded: %d new processes ready; stopping %d old ones "
                   "gracefully.", _title(g), g.cfg.name, len(current), len(old))
        if not g.announced:
            g.announced = True
            where = ", ".join(describe(s) for s in g.listeners)
            notice("%s '%s' is ready: %d process%s x %d threads on %s.",
                   _title(g), g.cfg.name, g.cfg.process_count,
                   "" if g.cfg.process_count == 1 else "es", g.cfg.threads, where)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = self.ops.waitpid()
            except ChildProcessError:
                return
            if pid == 0:
                return
            proc = self.procs.pop(pid, None)
            if proc is None:
                continue
            self._exited(pid, proc, status)

    def _exited(self, pid: int, proc: Proc, status: int) -> None:
        """Log an exit with its cause and decide what replaces the process."""
        g = proc.group
        lived = self.ops.now() - proc.started
        log.info("%s '%s' (pid=%d) exited after %.1fs: %s.", g.what,
                 g.cfg.name, pid, lived, exitcodes.describe(status))
        if self.stopping or proc.generation != g.generation:
            return  # stopping, or an old generation: the current one covers its slot
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        if code in exitcodes.STARTUP_FAILURES or (not proc.ready and lived < MIN_LIFETIME):
            if self._old_generation_serving(g):
                self._abandon_reload(g)
            else:
                self._startup_failed(g, proc.slot)
        else:
            g.pending[proc.slot] = self.ops.now()

    def _old_generation_serving(self, g: Group) -> bool:
        return any(p.group is g and p.generation < g.generation and not p.retiring
                   for p in self.procs.values())

    def _abandon_reload(self, g: Group) -> None:
        """A new process failed at start-up: the old generation keeps serving."""
        olds = [p.generation for p in self.procs.values()
                if p.group is g and p.generation < g.generation and not p.retiring]
        log.error("Reload of daemon group '%s' abandoned: a new process failed at start-up "
                  "(see above); the old processes keep serving the previous code.", g.cfg.name)
        for pid, p in list(self.procs.items()):
            if p.group is g and p.generation == g.generation:
                p.retiring = True
                self.ops.kill(pid, signal.SIGTERM)
        g.generation = max(olds)
        g.failures = 0
        covered = {p.slot for p in self.procs.values()
                   if p.group is g and p.generation == g.generation}
        now = self.ops.now()
        g.pending = {slot: now for slot in range(g.cfg.process_count) if slot not in covered}

    def _startup_failed(self, g: Group, slot: int) -> None:
        g.failures += 1
        if g.failures >= MAX_STARTUP_FAILURES:
            log.critical("%s '%s' failed to start %d times in a row (see the first error "
                         "above); giving up and stopping fastwsgi.", _title(g), g.cfg.name,
                         g.failures)
            self.exit_code = EXIT_GROUP_FAILED
            self.stopping = True
            return
        delay = min(BACKOFF_FIRST * 2 ** (g.failures - 1), BACKOFF_MAX)
        log.warning("%s '%s' failed at start-up (%d in a row); retrying in %.1fs.",
                    g.what, g.cfg.name, g.failures, delay)
        g.pending[slot] = self.ops.now() + delay

    # -- stopping -----------------------------------------------------------

    def _signal_all(self, sig: int) -> None:
        for pid in list(self.procs):
            self.ops.kill(pid, sig)

    def _stop_all(self) -> None:
        self._signal_all(signal.SIGTERM)
        limit = max((g.cfg.graceful_timeout + g.cfg.shutdown_timeout for g in self.groups),
                    default=0) + 2.0
        deadline = time.monotonic() + limit
        while self.procs and time.monotonic() < deadline:
            self._reap()
            if self.procs:
                self._wait_child(min(0.05, max(deadline - time.monotonic(), 0)))
        for pid, proc in list(self.procs.items()):
            log.error("Daemon process '%s' (pid=%d) did not stop in %.0fs; killing it.",
                      proc.group.cfg.name, pid, limit)
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            except ProcessLookupError:
                pass
            self.procs.pop(pid, None)

    def _wait_child(self, timeout: float) -> None:
        try:
            select.select([self.wake_r], [], [], timeout)
        except InterruptedError:
            pass
        try:
            while os.read(self.wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise

    def _close_sockets(self) -> None:
        for g in self.groups:
            for s in g.listeners:
                s.close()
            g.listeners.clear()
            for path in g.owned_files:  # never another server's live socket
                remove_socket_file(path)
            g.owned_files.clear()
            if g.private_dir:
                shutil.rmtree(g.private_dir, ignore_errors=True)
                g.private_dir = ""


def _title(g: Group) -> str:
    """How life-cycle lines name a group."""
    if g.router is None:
        return "Daemon group"
    return "Router for daemon group" if g.router.group is not None else "Router"


def _holds_applications(router: RouterConfig) -> bool:
    """Whether router processes run application code: a Site's embedded apps."""
    site = router.site
    if site is None:
        return False
    if site.embedded_imports:
        return True
    return any(route.process_group == "" for vhost in [site.main, *site.vhosts]
               for route in vhost.routes)
