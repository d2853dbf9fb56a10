"""Drive wrk and read its numbers back from the lua done() hook (lua/report.lua)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPORT_LUA = Path(__file__).with_name("lua") / "report.lua"
JSON_PREFIX = "WRK_JSON "
INSTALL_HINT = "apt-get install wrk"


class WrkError(RuntimeError):
    """wrk failed, or printed no JSON line."""


@dataclass(frozen=True)
class WrkSettings:
    threads: int = 2
    connections: int = 64
    duration: float = 5.0      # seconds
    timeout: float = 10.0      # seconds before wrk counts a request as timed out


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str:
    path = wrk_path()
    if path is None:
        return "not installed"
    out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10)
    return (out.stdout + out.stderr).splitlines()[0].strip()


def lua_setup(method: str, body: bytes, body_file: str) -> str:
    """Lua lines run before wrk starts: the request method and body (read from a file)."""
    lines = []
    if method != "GET":
        lines.append(f"wrk.method = {json.dumps(method)}")
    if body:
        # A file, so any bytes of any size reach wrk unchanged.
        lines.append(f'local f = assert(io.open({json.dumps(body_file)}, "rb"))')
        lines.append('wrk.body = f:read("*a")')
        lines.append("f:close()")
    return "".join(line + "\n" for line in lines)


def command(url: str, headers: dict[str, str], settings: WrkSettings, script: str,
            duration: float | None = None) -> list[str]:
    seconds = max(1, round(duration or settings.duration))
    threads = max(1, min(settings.threads, settings.connections))
    cmd = [wrk_path() or "wrk", "-t", str(threads), "-c", str(settings.connections),
           "-d", f"{seconds}s", "--timeout", f"{max(1, round(settings.timeout))}s",
           "-s", script]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    return cmd + [url]


def run(url: str, settings: WrkSettings, method: str = "GET", body: bytes = b"",
        headers: dict[str, str] | None = None, duration: float | None = None,
        name: str = "request") -> dict[str, Any]:
    """One wrk run; the JSON of report.lua plus requests_per_s and the command.

    wrk takes whole seconds: a duration below 1 s runs for 1 s.
    """
    headers = dict(headers or {})
    with tempfile.TemporaryDirectory(prefix="wrk") as tmp:
        script = os.path.join(tmp, f"{name}.lua")
        body_file = os.path.join(tmp, "body")
        Path(body_file).write_bytes(body)
        Path(script).write_text(lua_setup(method, body, body_file) + REPORT_LUA.read_text())
        cmd = command(url, headers, settings, script, duration)
        seconds = float(cmd[cmd.index("-d") + 1].rstrip("s"))
        try:
            out = subprocess.run(cmd, capture_output=True, text=True,
                                 timeout=seconds + settings.timeout + 30)
        except subprocess.TimeoutExpired as exc:
            raise WrkError(f"wrk did not finish: {' '.join(cmd)}") from exc
    for line in out.stdout.splitlines():
        if line.startswith(JSON_PREFIX):
            result: dict[str, Any] = json.loads(line[len(JSON_PREFIX):])
            break
    else:
        raise WrkError(f"wrk exited {out.returncode} without a report:\n"
                       f"{out.stdout[-2000:]}{out.stderr[-2000:]}")
    secs = result["duration_us"] / 1e6
    result["requests_per_s"] = result["requests"] / secs if secs > 0 else 0.0
    result["errors_total"] = sum(result["errors"].values())
    result["command"] = [c if c != script else f"<{name}.lua>" for c in cmd]
    return result
