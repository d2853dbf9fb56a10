"""End-to-end benchmark: wrk against fastwsgi and its peers, side by side.

    python -m bench.e2e [--quick] [--duration S] [--rounds N] [--servers ...]

Every cell (round x scenario x server) starts the server fresh on a free port,
checks that it answers the scenario's request correctly (status 200 and the
exact body), warms it up, measures it with wrk, and stops its process group.
Rounds alternate the server order (forward, then reversed) so drift on the
machine cancels out; the table reports the median of the rounds. Servers that
cannot run here are listed with the command that installs them; a server that
fails to start is reported, never fatal. JSON goes to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import report
from bench.scenarios import BY_NAME, Scenario
from bench.servers import PROCESSES, READY, THREADS, Server, build_servers
from fastwsgi.benchtool import wrk
from fastwsgi.benchtool.matrix import one_line
from fastwsgi.benchtool.process import StartError, http_request

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SERVER_NAMES = ["fastwsgi", "fastwsgi-router", "mod_wsgi", "gunicorn", "granian"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 2 s per cell, 2 rounds (unless given explicitly)")
    p.add_argument("--duration", type=int, help="seconds of wrk per cell (default 5; quick 2)")
    p.add_argument("--rounds", type=int, help="rounds, alternating server order (default 3; quick 2)")
    p.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each measure (0 = none)")
    p.add_argument("--connections", type=int, default=64, help="wrk -c (default 64)")
    p.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    p.add_argument("--servers", nargs="+", choices=SERVER_NAMES, default=SERVER_NAMES,
                   metavar="NAME", help=f"servers to run (default all: {' '.join(SERVER_NAMES)})")
    p.add_argument("--scenarios", nargs="+", choices=list(BY_NAME), default=list(BY_NAME),
                   metavar="NAME", help=f"scenarios (default all: {' '.join(BY_NAME)})")
    p.add_argument("--granian-blocking-threads", type=int, default=THREADS, metavar="N",
                   help=f"granian --blocking-threads (default {THREADS}; 0 = granian's own default)")
    p.add_argument("--json", metavar="PATH", help="where to write the JSON "
                   "(default bench/results/e2e-<timestamp>.json)")
    args = p.parse_args(argv)
    args.duration = args.duration or (2 if args.quick else 5)
    args.rounds = args.rounds or (2 if args.quick else 3)
    return args


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def check_answer(port: int, scenario: Scenario) -> str | None:
    """None if the server answers the scenario's request exactly right, else what it did."""
    try:
        status, body = http_request(port, scenario.method, scenario.path, scenario.body,
                                    scenario.headers, timeout=30)
    except OSError as exc:
        return f"check request failed: {type(exc).__name__}: {exc}"
    if status != 200 or body != scenario.expect:
        return (f"wrong answer: status {status}, {len(body)} bytes "
                f"(expected 200 and {len(scenario.expect)} exact bytes)")
    return None


def run_wrk(url: str, scenario: Scenario, settings: wrk.WrkSettings,
            duration: float | None = None) -> dict[str, Any]:
    return wrk.run(url, settings, scenario.method, scenario.body or b"", scenario.headers,
                   duration=duration, name=scenario.name)


def run_cell(server: Server, scenario: Scenario, settings: wrk.WrkSettings,
             warmup: int) -> dict[str, Any]:
    """Start, check, warm up, measure, stop: one server in one scenario."""
    cell: dict[str, Any] = {"scenario": scenario.name, "server": server.name}
    t0 = time.monotonic()
    running = server.start(READY)
    cell["start_s"] = round(time.monotonic() - t0, 3)
    try:
        wrong = check_answer(running.port, scenario)
        if wrong:
            cell["error"] = wrong
            return cell
        url = running.url + scenario.path
        if warmup:
            run_wrk(url, scenario, settings, duration=warmup)
        cell["wrk"] = run_wrk(url, scenario, settings)
        if running.proc.exited():
            cell["error"] = f"server exited during the run: {running.proc.log_tail(5)}"
    except wrk.WrkError as exc:
        cell["error"] = str(exc)
    finally:
        running.stop()
    return cell


def host_info() -> dict[str, Any]:
    # The load average tells whether something else shared the CPUs with the run.
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": sys.version.split()[0], "machine": platform.machine(),
            "loadavg": os.getloadavg()}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if wrk.wrk_path() is None:
        print(f"wrk is not installed; install it with: {wrk.INSTALL_HINT}", file=sys.stderr)
        return 1
    settings = wrk.WrkSettings(threads=args.threads, connections=args.connections,
                               duration=args.duration)
    scenarios = [BY_NAME[n] for n in args.scenarios]
    servers = build_servers(args.servers, args.granian_blocking_threads)

    unavailable: dict[str, str] = {}
    server_info: dict[str, Any] = {}
    for s in servers:
        why = s.unavailable()
        if why:
            unavailable[s.name] = why
        server_info[s.name] = {"role": s.role, "command": s.describe(),
                               "version": None if why else s.version(),
                               "available": why is None, "reason": why,
                               "install_hint": s.install_hint}
    runnable = [s for s in servers if s.name not in unavailable]
    cells_total = args.rounds * len(scenarios) * len(runnable)
    progress(f"e2e: {len(runnable)} servers x {len(scenarios)} scenarios x {args.rounds} rounds, "
             f"{args.warmup}+{args.duration} s of wrk per cell (-t{args.threads} "
             f"-c{args.connections}); about {cells_total * (args.duration + args.warmup + 1.5) / 60:.1f} min")
    for name, why in unavailable.items():
        progress(f"  {name}: unavailable: {why}")

    cells: list[dict[str, Any]] = []
    started = time.time()
    host_before = host_info()
    for rnd in range(args.rounds):
        order = runnable if rnd % 2 == 0 else runnable[::-1]
        for scenario in scenarios:
            for pos, server in enumerate(order):
                if server.name in unavailable:
                    continue
                try:
                    cell = run_cell(server, scenario, settings, args.warmup)
                except StartError as exc:
                    # A server that cannot start will not start next time either.
                    unavailable[server.name] = f"failed to start: {one_line(str(exc))}"
                    server_info[server.name]["start_error"] = str(exc)
                    progress(f"[round {rnd + 1}] {server.name}: {unavailable[server.name]}")
                    continue
                cell.update(round=rnd + 1, position=pos + 1)
                cells.append(cell)
                w = cell.get("wrk")
                progress(f"[round {rnd + 1}/{args.rounds}] {scenario.name:<11} {server.name:<15} "
                         + (f"{w['requests_per_s']:>10,.0f} req/s  errors {w['errors_total']}"
                            if w else f"error: {cell.get('error')}"))

    summary: dict[str, dict[str, Any]] = {}
    notes: dict[tuple[str, str], str] = {}
    for scenario in scenarios:
        for s in servers:
            mine = [c for c in cells if c["scenario"] == scenario.name and c["server"] == s.name]
            summ = report.summarize(mine)
            if summ is not None:
                summary.setdefault(scenario.name, {})[s.name] = summ
            failed = [c["error"] for c in mine if c.get("error")]
            if s.name in unavailable and summ is None:
                notes[(scenario.name, s.name)] = f"unavailable: {unavailable[s.name]}"
            elif failed:
                notes[(scenario.name, s.name)] = f"{len(failed)} failed: {failed[0][:80]}"

    names = [s.name for s in servers]
    subjects = [s.name for s in servers if s.role == "fastwsgi"]
    peers = [s.name for s in servers if s.role == "peer"]
    ratios = report.ratio_rows(summary, subjects, peers, [s.name for s in scenarios], unavailable)

    print()
    print(f"End to end: wrk -t{args.threads} -c{args.connections} -d{args.duration}s, "
          f"median of {args.rounds} rounds; every server {PROCESSES} processes x {THREADS} threads")
    load = host_before["loadavg"][0]
    if load > 0.5:
        print(f"note: load average was {load:.2f} before the run on {os.cpu_count()} CPUs; "
              "other work on this machine skews the numbers")
    print()
    print(report.results_table(summary, [s.name for s in scenarios], names, notes))
    if subjects and peers:
        print()
        print("Ratios fastwsgi / peer (req/s), with targets:")
        print(report.ratios_table(ratios, peers))
    skipped = [(n, why) for n, why in unavailable.items()]
    if skipped:
        print()
        print("Skipped servers:")
        for name, why in skipped:
            print(f"  {name}: {why}\n    install/enable: {server_info[name]['install_hint']}")

    out_path = Path(args.json) if args.json else (
        RESULTS_DIR / time.strftime("e2e-%Y%m%d-%H%M%S.json", time.localtime(started)))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "elapsed_s": round(time.time() - started, 1),
        "host": host_before,
        "loadavg_after": os.getloadavg(),
        "settings": {"wrk": vars(settings), "wrk_version": wrk.wrk_version(),
                     "rounds": args.rounds, "warmup_s": args.warmup,
                     "processes": PROCESSES, "threads": THREADS,
                     "server_start": "fresh per cell (round x scenario x server)",
                     "order": "forward on odd rounds, reversed on even rounds"},
        "scenarios": {s.name: {"title": s.title, "method": s.method, "path": s.path,
                               "headers": s.headers, "request_bytes": len(s.body or b""),
                               "response_bytes": len(s.expect)} for s in scenarios},
        "servers": server_info,
        "unavailable": unavailable,
        "summary": summary,
        "ratios": ratios,
        "targets": [vars(t) for t in report.TARGETS],
        "cells": cells,
    }
    out_path.write_text(json.dumps(doc, indent=2) + "\n")
    print()
    print(f"JSON: {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
