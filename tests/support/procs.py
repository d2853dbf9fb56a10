"""A test's server subprocesses: their logs, whether they died, and how they end."""

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


class ServerProcess:
    """What every server subprocess of the tests shares: its logs, death, end.

    Subclasses set proc, tmpdir (standard error goes to tmpdir/stderr.log)
    and log_path (the server's error log) and start the process themselves.
    """

    proc: subprocess.Popen[bytes] | None = None
    tmpdir: str
    log_path: str
    #: How the failure message names the process.
    what = "fastwsgi"
    #: Seconds a SIGTERM gets before the process group is killed.
    stop_timeout = 15.0

    def log(self) -> str:
        return read_text(self.log_path)

    def stderr(self) -> str:
        return read_text(os.path.join(self.tmpdir, "stderr.log"))

    def _died(self) -> bool:
        """False while the process runs; raises with its logs once it has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"{self.what} exited with {self.proc.returncode}:\n"
                                 f"{self.log()}\n{self.stderr()}")
        return False

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the whole process group if it lingers."""
        stop_process_group(self.proc, self.stop_timeout)

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_text(path: str) -> str:
    """The file's text ('' while it does not exist)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def proc_status(pid: int, field: str) -> str:
    """The first word of a field of /proc/PID/status ('Uid', 'VmRSS', ...)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name == field:
                return rest.split()[0]
    raise AssertionError(f"no {field} line for pid {pid}")
