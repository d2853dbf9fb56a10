"""`fastwsgi bench APP`: the command line of the harness (the parser and the run)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import fastwsgi
from fastwsgi.appload import is_script
from fastwsgi.benchtool.apps.buffers import BUFFER_SIZES, DEFAULT_SIZE

if TYPE_CHECKING:
    from fastwsgi.benchtool import matrix
    from fastwsgi.benchtool.peers import Probe, Server

# The harness's modules are imported when `bench` runs, not when the parser is
# built: every `fastwsgi serve` builds this parser too.
GENERATORS = ("auto", "wrk", "builtin")

PEERS = ("gunicorn", "uwsgi", "waitress", "mod_wsgi", "granian")
#: Seconds a cell takes besides its load: start, check, stop.
CELL_OVERHEAD_S = 2.0

EPILOG = """\
Every configuration (processes x threads x buffer sizes) starts the server
fresh, checks that it answers the request with a 2xx, warms it up, then
measures it; with --compare, each installed peer runs the same configuration
right after or before it (the order alternates per configuration).

Output: a table on standard output, a JSON file and a PNG, then the best
configuration (the most req/s without errors) as a WSGIDaemonProcess line and
as `fastwsgi serve` flags.

JSON fields (top level): tool, fastwsgi_version, started, elapsed_s, app,
request {method, path, body_bytes, headers}, settings {load_generator,
connections, duration_s, warmup_s, timeout_s, processes, threads,
receive_buffer_sizes, send_buffer_sizes}, host {cpus, platform, python,
loadavg_before, loadavg_after}, servers {NAME: {role, command, version}},
skipped {NAME: {reason, install}}, results [one per configuration and server:
server, role, label, processes, threads, receive_buffer_size,
send_buffer_size, order, status (ok | error | unsupported), error, start_s
(seconds until it answered correctly), requests,
duration_s, requests_per_s, latency_ms {p50, p90, p99, max}, errors {connect,
timeout, non_2xx, truncated, other}, errors_total, cpu_s, cpu_s_per_request,
peak_rss_bytes, server_processes, load], ratios [label, peer, ratio
(fastwsgi req/s / peer req/s; label "all" = geometric mean)], recommendation
{label, processes, threads, receive_buffer_size, send_buffer_size,
requests_per_s, p99_ms, error_free, wsgi_daemon_process, serve_flags,
serve_command}, png.

CPU s/request: utime+stime of every process of the server's process group
(/proc/PID/stat) after the measured load minus before, over the requests.
Peak RSS: the sum of VmHWM (each process's own peak) over the group, read
after the load: an upper bound (shared pages count once per process).

PNG: requests/s as bars per configuration and server, p99 latency below.

--scenario buffers: uploads of 16 MiB answered with 16 MiB, by an app that
does not read the body (/noread) and one that does (/read), through
fastwsgi's router, for buffer sizes 0 (OS default), 512, 4 KiB, 64 KiB,
1 MiB; with --compare mod_wsgi, the same against mod_wsgi daemon mode. Its
JSON has scenario, settings and cases [server, buffer_size, path, requests,
completed, outcomes {ok, stall, truncated, ...}, stalls, elapsed_s,
requests_per_s, mib_per_s]. A request longer than --buffers-timeout is a
stall; nothing hangs. The exit status is 0 when every case ran (stalls
included), 1 when a server could not start.
"""


def int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected integers >= 0, got {text!r}")
    return values


def name_list(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown peer {', '.join(unknown)}; known: {','.join(PEERS)}")
    return names


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the `bench` subcommand to the subparsers of `fastwsgi`."""
    p = sub.add_parser(
        "bench", help="measure an application under a matrix of processes x threads",
        description="Run APP under every combination of the settings below, measure "
                    "requests/s, latency, errors, CPU per request and memory, and recommend "
                    "the best configuration.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("app", metavar="APP", nargs="?",
                   help="the application, as `fastwsgi serve` takes it (not needed by "
                        "--scenario buffers, which serves its own)")
    m = p.add_argument_group("the matrix (comma-separated lists)")
    m.add_argument("--processes", type=int_list, default=[1, 2, 4], metavar="N,N",
                   help="processes (default: 1,2,4)")
    m.add_argument("--threads", type=int_list, default=[1, 5, 15], metavar="N,N",
                   help="threads per process (default: 1,5,15)")
    m.add_argument("--receive-buffer-size", type=int_list, default=[0], metavar="N,N",
                   help="receive-buffer-size values (default: 0 = OS default)")
    m.add_argument("--send-buffer-size", type=int_list, default=[0], metavar="N,N",
                   help="send-buffer-size values (default: 0 = OS default)")
    r = p.add_argument_group("the load")
    r.add_argument("--connections", type=int, default=64, help="open connections (default: 64)")
    r.add_argument("--duration", type=float, default=5.0,
                   help="seconds measured per configuration (default: 5; wrk rounds to whole "
                        "seconds)")
    r.add_argument("--warmup", type=float, default=1.0,
                   help="seconds of load before measuring (default: 1; 0 = none)")
    r.add_argument("--timeout", type=float, default=10.0,
                   help="seconds before a request counts as timed out (default: 10)")
    r.add_argument("--path", default="/", help="URL path and query (default: /)")
    r.add_argument("--method", default="GET", help="request method (default: GET)")
    r.add_argument("--body-size", type=int, default=0, metavar="BYTES",
                   help="request body of this many bytes (default: 0)")
    r.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                   help="extra request header (repeatable)")
    r.add_argument("--load-generator", choices=GENERATORS, default="auto",
                   help="wrk, the built-in generator, or auto = wrk when installed")
    p.add_argument("--compare", type=name_list, default=[], metavar="PEER,PEER",
                   help=f"also run these peers the same way ({','.join(PEERS)})")
    p.add_argument("--scenario", choices=("matrix", "buffers"), default="matrix",
                   help="matrix (default) or buffers (the deadlock scenario)")
    p.add_argument("--buffers-timeout", type=float, default=20.0, metavar="S",
                   help="buffers scenario: seconds before a request counts as stalled")
    p.add_argument("--buffers-requests", type=int, default=4, metavar="N",
                   help="buffers scenario: requests per case (default: 4)")
    # Tests run the buffers scenario small; users keep 16 MiB.
    p.add_argument("--buffers-bytes", type=int, default=DEFAULT_SIZE,
                   help=argparse.SUPPRESS)
    p.add_argument("--buffers-sizes", type=int_list, default=list(BUFFER_SIZES),
                   help=argparse.SUPPRESS)
    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="PATH",
                   help="JSON file (default: fastwsgi-bench-<timestamp>.json)")
    o.add_argument("--png", metavar="PATH",
                   help="PNG file (default: the JSON path with .png)")
    o.add_argument("--no-png", action="store_true", help="do not draw the PNG")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def make_probe(args: argparse.Namespace) -> Probe:
    from fastwsgi.benchtool.peers import Probe
    headers = {}
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"--header {h!r}: expected 'Name: value'")
        headers[name.strip()] = value.strip()
    return Probe(method=args.method.upper(), path=args.path, body=b"x" * args.body_size,
                 headers=headers)


def host_info() -> dict[str, Any]:
    # The load average says whether something else shared the CPUs with the run.
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": sys.version.split()[0], "loadavg_before": os.getloadavg()}


def split_peers(names: Sequence[str], target: Any) -> tuple[list[str], dict[str, Any]]:
    """(installed peer names, {skipped name: {reason, install}})."""
    from fastwsgi.benchtool.peers import peer_classes
    classes = peer_classes()
    ready, skipped = [], {}
    for name in names:
        why = classes[name](target).unavailable()
        if why:
            skipped[name] = {"reason": why, "install": classes[name].install_hint}
        else:
            ready.append(name)
    return ready, skipped


def print_skipped(skipped: dict[str, Any]) -> None:
    for name, s in skipped.items():
        print(f"skipped {name}: {s['reason']}; install it with: {s['install']}")


def default_paths(args: argparse.Namespace, stem: str) -> tuple[str, str]:
    json_path = args.json or f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    png_path = args.png or os.path.splitext(json_path)[0] + ".png"
    return json_path, png_path


def run(args: argparse.Namespace) -> int:
    """Run `fastwsgi bench` with parsed arguments; the exit status."""
    from fastwsgi.benchtool import load
    if args.scenario == "matrix" and not args.app:
        print("fastwsgi bench: APP is required (except with --scenario buffers)",
              file=sys.stderr)
        return 2
    if args.scenario == "matrix" and is_script(args.app) \
            and not os.path.isfile(args.app.partition("::")[0]):
        print(f"fastwsgi bench: {args.app}: no such file", file=sys.stderr)
        return 2
    try:
        generator = load.choose(args.load_generator)
        probe = make_probe(args)
    except (load.LoadError, ValueError) as exc:
        print(f"fastwsgi bench: {exc}", file=sys.stderr)
        return 2
    if args.scenario == "buffers":
        return run_buffers(args)
    return run_matrix(args, generator, probe)


def run_matrix(args: argparse.Namespace, generator: str, probe: Probe) -> int:
    """The matrix, with the peers of --compare: table, ratios, best line, JSON, PNG."""
    from fastwsgi.benchtool import matrix, plot, report, wrk
    from fastwsgi.benchtool.peers import FastWSGI, peer_classes
    from fastwsgi.benchtool.progress import Progress
    configs = matrix.configurations(args.processes, args.threads, args.receive_buffer_size,
                                    args.send_buffer_size)
    if any(c.processes < 1 or c.threads < 1 for c in configs):
        print("fastwsgi bench: --processes and --threads must be >= 1", file=sys.stderr)
        return 2
    cwd = os.getcwd()
    first = configs[0].target(args.app, cwd)
    peers, skipped = split_peers(args.compare, first)
    classes = peer_classes()

    def servers_for(config: matrix.Config) -> list[Server]:
        target = config.target(args.app, cwd)
        return [FastWSGI(target), *(classes[n](target) for n in peers)]

    settings = matrix.LoadSettings(generator=generator, connections=args.connections,
                                   duration=args.duration, warmup=args.warmup,
                                   timeout=args.timeout)
    per_cell = args.duration + args.warmup + CELL_OVERHEAD_S
    total = len(configs) * (1 + len(peers))
    print(f"fastwsgi bench {args.app}: {len(configs)} configurations x {1 + len(peers)} "
          f"servers, load {generator} -c{args.connections} ({args.warmup:g} s warm-up + "
          f"{args.duration:g} s each), {probe.method} {probe.path}; "
          f"about {total * per_cell / 60:.1f} min", flush=True)
    print_skipped(skipped)
    started = time.time()
    host = host_info()
    progress = Progress(total, per_cell, enabled=not args.no_progress)
    cells = matrix.run_matrix(servers_for, configs, probe, settings, progress)
    host["loadavg_after"] = os.getloadavg()

    print()
    print(report.results_table(cells))
    ratio_rows = report.ratios(cells, peers) if peers else []
    if peers:
        print()
        print("Ratios (fastwsgi req/s / peer req/s, same configuration):")
        print(report.ratios_table(ratio_rows, peers))
    if skipped:
        print()
        print_skipped(skipped)
    rec = report.recommendation(args.app, cells)
    print()
    if rec is None:
        print("No configuration of fastwsgi completed a measurement: nothing to recommend.")
    else:
        note = "" if rec["error_free"] else " (every configuration had errors)"
        print(f"Best configuration: {rec['label']}, {rec['requests_per_s']:,.0f} req/s, "
              f"p99 {report.fmt(rec['p99_ms'], 2)} ms{note}")
        print(f"  Apache-style:  {rec['wsgi_daemon_process']}")
        print(f"  fastwsgi:      {rec['serve_command']}")
    json_path, png_path = default_paths(args, "fastwsgi-bench")
    png = None
    if not args.no_png:
        why = plot.available()
        if why:
            print(f"no PNG: {why}")
        else:
            plot.draw(cells, png_path, f"fastwsgi bench {os.path.basename(args.app)} "
                                       f"({generator}, {args.connections} connections)")
            png = png_path
    target = configs[0].target(args.app, cwd)
    doc = {
        "tool": "fastwsgi bench", "fastwsgi_version": fastwsgi.__version__,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "elapsed_s": round(time.time() - started, 1), "app": args.app,
        "request": {"method": probe.method, "path": probe.path, "body_bytes": len(probe.body),
                    "headers": probe.headers},
        "settings": {"load_generator": generator,
                     "load_generator_version": wrk.wrk_version() if generator == "wrk"
                     else "builtin", "connections": args.connections,
                     "duration_s": args.duration, "warmup_s": args.warmup,
                     "timeout_s": args.timeout, "processes": args.processes,
                     "threads": args.threads,
                     "receive_buffer_sizes": args.receive_buffer_size,
                     "send_buffer_sizes": args.send_buffer_size},
        "host": host,
        "servers": {s.name: {"role": s.role, "command": s.describe(), "version": s.version()}
                    for s in [FastWSGI(target), *(classes[n](target) for n in peers)]},
        "skipped": skipped, "results": cells, "ratios": ratio_rows,
        "recommendation": rec, "png": png,
    }
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(f"JSON: {json_path}" + (f"  PNG: {png}" if png else ""))
    return 0 if rec is not None else 1


def run_buffers(args: argparse.Namespace) -> int:
    """The buffers scenario (buffers.py): every size, both paths, fastwsgi's router first."""
    from fastwsgi.benchtool import buffers
    from fastwsgi.benchtool.peers import FastWSGIRouter, peer_classes
    from fastwsgi.benchtool.progress import Progress
    settings = buffers.BufferSettings(size=args.buffers_bytes, requests=args.buffers_requests,
                                      timeout=args.buffers_timeout)
    sample = buffers.servers_for(0, [], settings, FastWSGIRouter)[0].target
    wanted = [n for n in args.compare if n == "mod_wsgi"]
    ignored = {n: {"reason": "the buffers scenario compares against mod_wsgi only",
                   "install": peer_classes()[n].install_hint}
               for n in args.compare if n != "mod_wsgi"}
    peers, skipped = split_peers(wanted, sample)
    skipped.update(ignored)
    classes = [peer_classes()[n] for n in peers]
    cases_total = len(args.buffers_sizes) * len(buffers.PATHS) * (1 + len(classes))
    print(f"fastwsgi bench --scenario buffers: {settings.size:,} bytes up and down, "
          f"{settings.requests} requests per case, buffer sizes "
          f"{', '.join(str(s) for s in args.buffers_sizes)}; {cases_total} cases", flush=True)
    print_skipped(skipped)
    progress = Progress(cases_total, 3.0, enabled=not args.no_progress)
    started = time.time()
    cases = []
    for i, size in enumerate(args.buffers_sizes):
        servers = buffers.servers_for(size, classes, settings, FastWSGIRouter)
        for server in servers if i % 2 == 0 else servers[::-1]:
            for path in buffers.PATHS:
                progress.show(f"{server.name} buffers={size} {path}")
                case = buffers.run_case(server, path, settings)
                cases.append(case)
                progress.step(f"{server.name:<15} {size:>8} {path:<8} "
                              + ("completed" if case.get("completed") else
                                 f"NOT completed: {case.get('error') or case.get('outcomes')}"))
    print()
    print(buffers.cases_table(cases))
    json_path, _ = default_paths(args, "fastwsgi-bench-buffers")
    doc = {"tool": "fastwsgi bench", "scenario": "buffers",
           "fastwsgi_version": fastwsgi.__version__,
           "elapsed_s": round(time.time() - started, 1),
           "settings": {"bytes": settings.size, "requests": settings.requests,
                        "concurrency": settings.concurrency, "timeout_s": settings.timeout,
                        "threads": settings.threads, "buffer_sizes": args.buffers_sizes,
                        "paths": list(buffers.PATHS), "fastwsgi": "serve --router"},
           "skipped": skipped, "cases": cases}
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    if skipped:
        print_skipped(skipped)
    print(f"JSON: {json_path}")
    # A stall or a truncation is a result of the scenario, not a failure of the run.
    return 0 if cases and not any(c.get("error") for c in cases) else 1
