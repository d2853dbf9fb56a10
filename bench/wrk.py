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

from bench.scenarios import Scenario

REPORT_LUA = Path(__file__).with_name("lua") / "report.lua"
JSON_PREFIX = "WRK_JSON "
INSTALL_HINT = "apt-get install wrk"


class WrkError(RuntimeError):
    """wrk failed, or printed no JSON line."""


@dataclass(frozen=True)
class WrkSettings:
    threads: int = 2
    connections: int = 64
    duration: int = 5          # seconds
    timeout: int = 10          # seconds before wrk counts a request as timed out


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str:
    path = wrk_path()
    if path is None:
        return "not installed"
    out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10)
    return (out.stdout + out.stderr).splitlines()[0].strip()


def script_text(scenario: Scenario) -> str:
    return scenario.lua_setup() + REPORT_LUA.read_text()


def command(url: str, scenario: Scenario, settings: WrkSettings, script: str,
            duration: int | None = None) -> list[str]:
    cmd = [wrk_path() or "wrk", "-t", str(settings.threads), "-c", str(settings.connections),
           "-d", f"{duration or settings.duration}s", "--timeout", f"{settings.timeout}s",
           "-s", script]
    for name, value in scenario.headers.items():
        cmd += ["-H", f"{name}: {value}"]
    return cmd + [url]


def run(url: str, scenario: Scenario, settings: WrkSettings,
        duration: int | None = None) -> dict[str, Any]:
    """One wrk run; the JSON of report.lua plus requests_per_s and the command."""
    seconds = duration or settings.duration
    with tempfile.TemporaryDirectory(prefix="wrk") as tmp:
        script = os.path.join(tmp, f"{scenario.name}.lua")
        Path(script).write_text(script_text(scenario))
        cmd = command(url, scenario, settings, script, seconds)
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
    result["command"] = [c if c != script else f"<{scenario.name}.lua>" for c in cmd]
    return result
