"""The built-in load generator against wrk: same server, same load, side by side.

For each server (fastwsgi serving the hello-world benchapp, 2 processes x 15
threads; granian or gunicorn as a second, different server), after a
warm-up of both tools, the rounds alternate which tool goes first; each
round runs `wrk -tT -cC` and `run_load(processes=T, connections=C)` for the
same duration. It prints every round, the medians and the ratio
builtin / wrk of the medians, and writes JSON under bench/results/.

    python -m bench.loadgen_vs_wrk                       # fastwsgi and granian, 5 s x 5 rounds
    python -m bench.loadgen_vs_wrk --servers fastwsgi --rounds 3 --duration 10
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.servers import READY, build_servers
from fastwsgi.benchtool.peers import Running
from fastwsgi.loadgen import LoadSpec, run_load

RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: The servers it can measure against (bench/servers.py starts them, 2 x 15).
SERVERS = ("fastwsgi", "granian", "gunicorn")
WARMUP = 2.0


def children_cpu() -> float:
    """CPU seconds (user + system) of the children reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(port: int, threads: int, connections: int, duration: float) -> dict[str, Any]:
    """One wrk run: its request rate and error line, parsed from its summary."""
    cpu = children_cpu()
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections),
                          "-d", f"{duration:g}s", "--timeout", "5s",
                          f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, timeout=duration + 60, check=True)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out.stdout)
    errors = re.search(r"Socket errors: (.*)", out.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    if rate is None or total is None:
        raise RuntimeError(f"wrk printed no rate:\n{out.stdout}{out.stderr}")
    cpu = children_cpu() - cpu
    return {"rps": float(rate.group(1)), "requests": int(total.group(1)),
            "cpu_us_per_request": cpu * 1e6 / max(1, int(total.group(1))),
            "errors": errors.group(1) if errors else "",
            "non_2xx": int(non2xx.group(1)) if non2xx else 0}


def run_builtin(port: int, processes: int, connections: int, duration: float) -> dict[str, Any]:
    """One run of fastwsgi.loadgen with the same shape of load."""
    cpu = children_cpu()
    result = run_load(LoadSpec("127.0.0.1", port, connections=connections, duration=duration,
                               processes=processes, timeout=5.0))
    cpu = children_cpu() - cpu
    return {"rps": result.rps, "requests": result.requests,
            "cpu_us_per_request": cpu * 1e6 / max(1, result.requests),
            "errors": {k: v for k, v in result.errors.items() if v},
            "non_2xx": sum(n for code, n in result.status.items() if not 200 <= code < 400),
            "latency_us": result.latency_us}


def compare(running: Running, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, then alternate the two tools for args.rounds rounds."""
    port = running.port
    run_wrk(port, args.threads, args.connections, WARMUP)
    run_builtin(port, args.threads, args.connections, WARMUP)
    rounds = []
    for i in range(args.rounds):
        order = ("wrk", "builtin") if i % 2 == 0 else ("builtin", "wrk")
        row: dict[str, Any] = {}
        for tool in order:
            if tool == "wrk":
                row[tool] = run_wrk(port, args.threads, args.connections, args.duration)
            else:
                row[tool] = run_builtin(port, args.threads, args.connections, args.duration)
        row["ratio"] = row["builtin"]["rps"] / row["wrk"]["rps"]
        print(f"  round {i + 1} ({order[0]} first): wrk {row['wrk']['rps']:10.0f} req/s   "
              f"builtin {row['builtin']['rps']:10.0f} req/s   ratio {row['ratio']:.3f}"
              f"   CPU us/request wrk {row['wrk']['cpu_us_per_request']:.1f} "
              f"builtin {row['builtin']['cpu_us_per_request']:.1f}"
              f"   errors wrk [{row['wrk']['errors']}] builtin {row['builtin']['errors']}",
              flush=True)
        rounds.append(row)
    wrk_median = statistics.median(r["wrk"]["rps"] for r in rounds)
    builtin_median = statistics.median(r["builtin"]["rps"] for r in rounds)
    cpu = {tool: statistics.median(r[tool]["cpu_us_per_request"] for r in rounds)
           for tool in ("wrk", "builtin")}
    return {"rounds": rounds, "wrk_median_rps": wrk_median,
            "wrk_median_cpu_us_per_request": cpu["wrk"],
            "builtin_median_cpu_us_per_request": cpu["builtin"],
            "builtin_median_rps": builtin_median,
            "ratio_of_medians": builtin_median / wrk_median,
            "median_of_round_ratios": statistics.median(r["ratio"] for r in rounds)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", nargs="+", default=["fastwsgi", "granian"],
                        choices=sorted(SERVERS))
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2,
                        help="wrk -t, and the builtin's processes")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write the results (default bench/results/loadgen-<time>.json)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk): nothing to compare with",
              file=sys.stderr)
        return 2
    report: dict[str, Any] = {"settings": vars(args) | {"json": None}, "servers": {}}
    for name in args.servers:
        server = build_servers([name], 0)[0]
        why = server.unavailable()
        if why:
            print(f"{name}: unavailable: {why}")
            continue
        print(f"{name}: wrk -t{args.threads} -c{args.connections} vs builtin "
              f"processes={args.threads} connections={args.connections}, "
              f"{args.duration:g} s x {args.rounds} rounds", flush=True)
        running = server.start(READY)
        try:
            summary = compare(running, args)
        finally:
            running.stop()
        report["servers"][name] = summary
        print(f"{name}: median wrk {summary['wrk_median_rps']:.0f} req/s, builtin "
              f"{summary['builtin_median_rps']:.0f} req/s: builtin/wrk = "
              f"{summary['ratio_of_medians']:.3f} (median of round ratios "
              f"{summary['median_of_round_ratios']:.3f}); CPU us/request wrk "
              f"{summary['wrk_median_cpu_us_per_request']:.1f}, builtin "
              f"{summary['builtin_median_cpu_us_per_request']:.1f}", flush=True)
    path = args.json or RESULTS_DIR / f"loadgen-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
