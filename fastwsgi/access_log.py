"""Where the access logs go: a file, standard output, or nowhere.

The lines themselves are formatted and buffered in C (cext/access_log.pyx);
this module only opens and reopens the destinations: the one log of a daemon
or of `serve --router`, or the per-virtual-host CustomLog files of a Site
(SiteAccessLogs), in Apache's combined or common format.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Protocol

from fastwsgi._cext import (
    access_log_add_sink,
    access_log_define_set,
    access_log_flush_now,
    access_log_open,
    access_log_sink_fd,
)
from fastwsgi.log import log

COMBINED = '%h %l %u %t "%r" %>s %b "%{referer}i" "%{user-agent}i"'
COMMON = '%h %l %u %t "%r" %>s %b'


def open_access_log(path: str | None) -> None:
    """Start logging requests to path ('-' = standard output, None = off)."""
    if not path:
        return
    if path == "-":
        fd = 1
    else:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            log.error("Cannot open the access log %s: %s; requests are not logged.", path, exc)
            return
    old = access_log_open(fd)
    if old > 2:
        os.close(old)


def reopen_access_log(path: str | None) -> None:
    """After a log rotation (SIGUSR1): the same path, a new file."""
    if path and path != "-":
        open_access_log(path)


def close_access_log() -> None:
    access_log_flush_now()


def _open(path: str) -> int | None:
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        log.error("Cannot open the access log %s: %s; requests are not logged there.",
                  path, exc)
        return None


def format_kind(fmt: str) -> str | None:
    """'combined' or 'common' for those formats (nickname or string), else None."""
    text = " ".join(fmt.replace('\\"', '"').split())
    text = re.sub(r"%\{([^}]*)\}i", lambda m: "%{" + m.group(1).lower() + "}i", text)
    text = text.replace("%s", "%>s")
    if text in ("combined", COMBINED):
        return "combined"
    if text in ("common", COMMON):
        return "common"
    return None


class LogEntry(Protocol):
    path: str
    format: str
    source: str


class SiteAccessLogs:
    """The CustomLog files of a Site in one router process: one sink per file."""

    def __init__(self) -> None:
        self.sinks: dict[tuple[str, bool], int] = {}   # (path, common) -> sink index
        self.sets: dict[tuple[int, ...], int] = {}
        self.warned: set[str] = set()

    def log_set(self, entries: Iterable[LogEntry]) -> int:
        """The log set (cext/access_log.pyx) for a virtual host's CustomLog lines."""
        sinks = []
        for e in entries:
            kind = format_kind(e.format)
            if kind is None and e.source not in self.warned:
                self.warned.add(e.source)
                log.warning("%s: CustomLog format %r is not supported by the router; "
                            "writing Apache's combined format to %s instead.", e.source,
                            e.format, e.path)
            key = (e.path, kind == "common")
            if key not in self.sinks:
                fd = _open(e.path)
                self.sinks[key] = access_log_add_sink(-1 if fd is None else fd, kind == "common")
            sinks.append(self.sinks[key])
        key_set = tuple(sinks)
        if key_set not in self.sets:
            self.sets[key_set] = access_log_define_set(list(key_set))
        return self.sets[key_set]

    def reopen(self) -> None:
        """After a log rotation (SIGUSR1): the same paths, new files."""
        for (path, _common), index in self.sinks.items():
            fd = _open(path)
            if fd is not None:
                old = access_log_sink_fd(index, fd)
                if old > 2:
                    os.close(old)
