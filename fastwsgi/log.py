"""The error log: one line per event, with time, level and pid.

Lines look like Apache's: ``[2026-11-23 19:30:01.123456] [info] [pid 42] text``.
A daemon's wsgi.errors writes here too. The file is opened in append mode, so
every process of the server can share it; SIGUSR1 reopens it (log rotation).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import TextIO

LOGGER_NAME = "fastwsgi"
log = logging.getLogger(LOGGER_NAME)

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "warn": logging.WARNING, "error": logging.ERROR, "crit": logging.CRITICAL}


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        t = record.created
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
        level = record.levelname.lower()
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        # pid at format time: records are formatted in the process that logs.
        return f"[{stamp}.{int(t % 1 * 1e6):06d}] [{level}] [pid {os.getpid()}] {text}"


class _ReopenableHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to a path (reopenable) or to stderr."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        super().__init__(self._open())

    def _open(self) -> TextIO:
        if self.path is None:
            return sys.stderr
        return open(self.path, "a", encoding="utf-8", errors="backslashreplace", buffering=1)

    def reopen(self) -> None:
        if self.path is None:
            return
        self.acquire()
        try:
            old = self.stream
            try:
                self.stream = self._open()
            except OSError as exc:
                # A daemon that dropped privileges may not be allowed to create
                # the new file: keep writing to the old one rather than die.
                self.stream = old
                old.write(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] [warning] "
                          f"[pid {os.getpid()}] could not reopen {self.path}: {exc}\n")
                return
            old.close()
        finally:
            self.release()


_handler: _ReopenableHandler | None = None


def setup(path: str | None, level: str = "info") -> None:
    """Send fastwsgi's log to path (None = stderr) at the given level."""
    global _handler
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; valid: {', '.join(LEVELS)}")
    if _handler is not None:
        log.removeHandler(_handler)
    _handler = _ReopenableHandler(path)
    _handler.setFormatter(_Formatter())
    log.addHandler(_handler)
    log.setLevel(LEVELS[level])
    log.propagate = False


#: Apache's notice: between warning and info, and written whatever the level
#: (as Apache writes its start, reload and stop lines).
NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")


def notice(msg: str, *args: object) -> None:
    """Log a life-cycle line (ready, reloaded, stopped) whatever the log level."""
    if log.isEnabledFor(NOTICE) or _handler is None:
        log.log(NOTICE, msg, *args)
        return
    record = log.makeRecord(log.name, NOTICE, "(fastwsgi)", 0, msg, args, None)
    _handler.handle(record)


def reopen() -> None:
    """Reopen the log file (after rotation)."""
    if _handler is not None:
        _handler.reopen()


def stream_fileno() -> int:
    """The fd the log is written to (for writers that bypass logging)."""
    stream = _handler.stream if _handler is not None else sys.stderr
    try:
        return stream.fileno()
    except (AttributeError, ValueError, OSError):
        return 2


class ErrorStream:
    """environ['wsgi.errors']: text written by the application goes to the log.

    One instance serves a whole process: each thread keeps its own unfinished
    line, so lines of concurrent requests never interleave mid-line.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"wsgi.errors.write() takes str, not {type(s).__name__}")
        text = getattr(self._local, "pending", "") + s
        *lines, self._local.pending = text.split("\n")
        for line in lines:
            log.error("%s", line)
        return len(s)

    def writelines(self, seq: list[str]) -> None:
        for s in seq:
            self.write(s)

    def flush(self) -> None:
        pending = getattr(self._local, "pending", "")
        if pending:
            self._local.pending = ""
            log.error("%s", pending)
