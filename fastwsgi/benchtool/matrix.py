"""The matrix of configurations, and one measured cell: start, check, warm up, measure, stop.

Every cell starts its server fresh (a configuration never inherits the warm
caches or leaked state of the previous one), checks that it answers the
measured request correctly, warms it up, then measures it while reading its
CPU time and memory from /proc (see measure.py). A server that fails to start
or answers wrongly is reported in its cell; the run goes on.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastwsgi.benchtool import load
from fastwsgi.benchtool.measure import Meter
from fastwsgi.benchtool.peers import Probe, Server, Target
from fastwsgi.benchtool.process import StartError
from fastwsgi.benchtool.progress import Progress


@dataclass(frozen=True)
class Config:
    """One point of the matrix."""

    processes: int
    threads: int
    receive_buffer_size: int = 0
    send_buffer_size: int = 0

    @property
    def label(self) -> str:
        text = f"{self.processes}x{self.threads}"
        if self.receive_buffer_size or self.send_buffer_size:
            text += f" rcv={self.receive_buffer_size} snd={self.send_buffer_size}"
        return text

    def target(self, app: str, cwd: str) -> Target:
        return Target(app=app, processes=self.processes, threads=self.threads,
                      receive_buffer_size=self.receive_buffer_size,
                      send_buffer_size=self.send_buffer_size, cwd=cwd)


def configurations(processes: Sequence[int], threads: Sequence[int],
                   receive: Sequence[int] = (0,), send: Sequence[int] = (0,)) -> list[Config]:
    """Every combination, processes slowest-varying (the table reads in that order)."""
    return [Config(p, t, r, s) for p, t, r, s in itertools.product(processes, threads,
                                                                   receive, send)]


@dataclass(frozen=True)
class LoadSettings:
    generator: str          # "wrk" or "builtin" (already chosen)
    connections: int = 64
    duration: float = 5.0
    warmup: float = 1.0
    timeout: float = 10.0


def one_line(text: str) -> str:
    """First and last lines of a multi-line error: what happened, and the cause."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else "no detail"
    return f"{lines[0].rstrip(':')} ... {lines[-1]}"


def empty_cell(server: Server, config: Config) -> dict[str, Any]:
    return {"server": server.name, "role": server.role, "label": config.label,
            "processes": config.processes, "threads": config.threads,
            "receive_buffer_size": config.receive_buffer_size,
            "send_buffer_size": config.send_buffer_size, "status": "error", "error": None}


def run_cell(server: Server, config: Config, probe: Probe,
             settings: LoadSettings) -> dict[str, Any]:
    """Start, check, warm up, measure, stop: one server in one configuration."""
    cell = empty_cell(server, config)
    why = server.unsupported()
    if why:
        cell.update(status="unsupported", error=why)
        return cell
    t0 = time.monotonic()
    try:
        running = server.start(probe)
    except StartError as exc:
        cell.update(error=f"failed to start or to answer correctly: {one_line(str(exc))}",
                    error_detail=str(exc)[-3000:])
        return cell
    cell["start_s"] = round(time.monotonic() - t0, 3)
    try:
        if settings.warmup > 0:
            load.run(settings.generator, running.port, probe, settings.connections,
                     settings.warmup, settings.timeout)
        assert running.pgid is not None
        meter = Meter(running.pgid)
        meter.start()
        numbers = load.run(settings.generator, running.port, probe, settings.connections,
                           settings.duration, settings.timeout)
        usage = meter.stop()
        if running.proc.exited():
            cell["error"] = f"server exited during the run: {running.proc.log_tail(5)}"
            return cell
    except load.LoadError as exc:
        cell["error"] = f"load generator failed: {one_line(str(exc))}"
        return cell
    finally:
        running.stop()
    lat = numbers["latency_us"]
    cell.update(
        status="ok", requests=numbers["requests"], duration_s=round(numbers["duration_s"], 3),
        requests_per_s=round(numbers["requests_per_s"], 1),
        latency_ms={k: None if v is None else round(v / 1000, 3) for k, v in lat.items()},
        errors=numbers["errors"], errors_total=sum(numbers["errors"].values()),
        cpu_s=round(usage.cpu_s, 3), cpu_s_per_request=usage.per_request(numbers["requests"]),
        peak_rss_bytes=usage.peak_rss_bytes, server_processes=usage.processes,
        load=numbers)
    return cell


def run_matrix(servers_for: Callable[[Config], list[Server]], configs: Sequence[Config],
               probe: Probe, settings: LoadSettings,
               progress: Progress) -> list[dict[str, Any]]:
    """Every configuration on every server; the server order alternates per configuration.

    servers_for(config) gives the servers of one configuration, fastwsgi
    first: forward on even configurations, reversed on odd ones, so drift on
    the machine (heat, other work) falls on every server alike.
    """
    cells = []
    for i, config in enumerate(configs):
        servers = servers_for(config)
        order = servers if i % 2 == 0 else servers[::-1]
        for pos, server in enumerate(order):
            progress.show(f"{server.name} {config.label}")
            cell = run_cell(server, config, probe, settings)
            cell["order"] = pos + 1
            cells.append(cell)
            progress.step(summary_line(cell))
    return cells


def summary_line(cell: dict[str, Any]) -> str:
    head = f"{cell['server']:<15} {cell['label']:<8}"
    if cell["status"] != "ok":
        return f"{head} {cell['status']}: {cell['error']}"
    return (f"{head} {cell['requests_per_s']:>10,.0f} req/s  p99 "
            f"{cell['latency_ms']['p99'] or 0:.2f} ms  errors {cell['errors_total']}")
