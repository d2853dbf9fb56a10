"""Ending a test's subprocess: the one way every support class does it."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_process_group(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0, *,
                       term_group: bool = False) -> None:
    """SIGTERM (to the leader, or the whole group), then SIGKILL the group if it lingers.

    The process was started with start_new_session=True, so its pid is its
    process group: the SIGKILL also reaches children it left behind.
    """
    if proc is None:
        return
    if proc.poll() is None or term_group:
        try:
            if term_group:
                os.killpg(proc.pid, signal.SIGTERM)
            else:
                os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(timeout=5)
