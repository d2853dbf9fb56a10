"""Which process holds the server side of each established TCP connection (from /proc)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

ESTABLISHED = "01"


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of established TCP connections whose local port is port."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == ESTABLISHED and int(f[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f[9])
    return inodes


def connections_by_pid(pids: list[int], port: int) -> Counter[int]:
    """How many established connections on local port each of pids holds."""
    inodes = _established_inodes(port)
    counts: Counter[int] = Counter({pid: 0 for pid in pids})
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                link = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue  # closed meanwhile
            if link.startswith("socket:[") and link[8:-1] in inodes:
                counts[pid] += 1
    return counts


def threads_waiting_in_epoll(pid: int) -> int:
    """How many threads of pid sleep in epoll_wait() (from their wchan)."""
    n = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            wchan = Path(f"/proc/{pid}/task/{tid}/wchan").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        n += wchan in ("do_epoll_wait", "ep_poll")
    return n
