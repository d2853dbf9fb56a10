"""Where a daemon's access log goes: a file, standard output, or nowhere.

The lines themselves are formatted and buffered in C (cext/access_log.pyx);
this module only opens and reopens the destination.
"""

from __future__ import annotations

import os

from fastwsgi._cext import access_log_flush_now, access_log_open
from fastwsgi.log import log


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
