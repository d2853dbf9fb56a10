"""The AF_UNIX sockets of the process an application runs in, for apps that
report on their daemon's connections (options_app, router_app).

Import it lazily, from inside a request: a daemon that dropped root may not
be able to read the checkout it lives in.
"""

import os
import socket
from collections.abc import Iterator


def unix_sockets() -> Iterator[tuple[socket.socket, bool]]:
    """(a duplicate of each AF_UNIX socket fd, whether it listens); each
    duplicate is closed once the caller moves on."""
    for fd in map(int, os.listdir("/proc/self/fd")):
        dup = -1
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            dup = os.dup(fd)
            s = socket.socket(fileno=dup)
        except OSError:
            if dup >= 0:
                os.close(dup)
            continue
        try:
            if s.family == socket.AF_UNIX:
                yield s, bool(s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
        finally:
            s.close()
