"""Exit codes of a daemon process: the channel by which it tells the
supervisor why it ended, so every exit is logged with its cause."""

from __future__ import annotations

import os

STOPPED = 0           # asked to stop (SIGTERM/SIGINT from the supervisor)
BOOT_FAILED = 3       # could not set itself up (privileges, directories, ...)
APP_LOAD_FAILED = 4   # the WSGI application could not be imported
MAXIMUM_REQUESTS = 64
INACTIVITY = 65
DEADLOCK = 66
REQUEST_TIMEOUT = 67
RESTART_INTERVAL = 68
SHUTDOWN_TIMEOUT = 69

CAUSES = {
    STOPPED: "stopped",
    BOOT_FAILED: "start-up failure",
    APP_LOAD_FAILED: "application failed to load",
    MAXIMUM_REQUESTS: "maximum-requests reached",
    INACTIVITY: "inactivity-timeout",
    DEADLOCK: "deadlock-timeout",
    REQUEST_TIMEOUT: "request-timeout",
    RESTART_INTERVAL: "restart-interval",
    SHUTDOWN_TIMEOUT: "forced out after shutdown-timeout",
}

#: Exits that mean the process never got to serve: they count towards back-off.
STARTUP_FAILURES = (BOOT_FAILED, APP_LOAD_FAILED)


def describe(status: int) -> str:
    """The cause of an exit, from a waitpid() status."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            import signal
            name = signal.Signals(sig).name
        except ValueError:
            name = "?"
        return f"signal {sig} ({name})"
    code = os.WEXITSTATUS(status)
    cause = CAUSES.get(code)
    return f"{cause} (exit code {code})" if cause else f"exit code {code}"
