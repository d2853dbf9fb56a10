"""What a server costs while it is measured: CPU seconds and peak memory, from /proc.

The server runs in its own session, so its processes are exactly those whose
process group is the server's (supervisor, daemons, routers; Apache's children
and mod_wsgi's daemons). Two readings:

- CPU: utime + stime (/proc/PID/stat) summed over the group before and after
  the measured load; the difference divided by the requests served is the
  server's CPU seconds per request. A process that appears during the run
  counts from zero; one that exits during it loses its share (rare: the
  harness does not restart anything while it measures).
- Memory: the sum over the group of each process's VmHWM (its own peak resident
  set since it started, so warm-up included), read right after the load. It is
  deterministic, where sampling VmRSS could miss a peak; peaks of different
  processes need not coincide and pages shared after fork count once per
  process, so the sum is an upper bound of the group's real peak.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")


def group_pids(pgid: int) -> list[int]:
    """The pids of every live process in process group pgid."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None and int(fields[2]) == pgid:
            pids.append(int(entry))
    return pids


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name (field 3 onward), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The name is in parentheses and may itself contain spaces or ')'.
    return data[data.rindex(b")") + 2:].decode().split()


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """utime + stime of each pid, in seconds."""
    out = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            out[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def hwm_bytes(pid: int) -> int:
    """VmHWM of pid in bytes (0 if gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Usage:
    """The server's cost over one measured load."""

    processes: int
    cpu_s: float
    peak_rss_bytes: int

    def per_request(self, requests: int) -> float | None:
        return self.cpu_s / requests if requests else None


class Meter:
    """Reads the group's CPU time at start() and again, with peak RSS, at stop()."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self.before: dict[int, float] = {}

    def start(self) -> None:
        self.before = cpu_seconds(group_pids(self.pgid))

    def stop(self) -> Usage:
        pids = group_pids(self.pgid)
        after = cpu_seconds(pids)
        used = sum(t - self.before.get(pid, 0.0) for pid, t in after.items())
        return Usage(processes=len(pids), cpu_s=max(0.0, used),
                     peak_rss_bytes=sum(hwm_bytes(pid) for pid in pids))
