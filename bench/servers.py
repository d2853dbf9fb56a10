"""The e2e table's servers: fastwsgi and its peers from fastwsgi.benchtool, 2 x 15 each.

How each server is started (fresh, on a free port, in its own session) lives
in the installed harness (fastwsgi/benchtool/peers.py, apache.py); this
module only fixes what the project's table runs: bench/apps/benchapp.py with
2 processes x 15 threads.
"""

from __future__ import annotations

from pathlib import Path

from bench.scenarios import HELLO
from fastwsgi.benchtool.apache import ModWSGI
from fastwsgi.benchtool.peers import (
    FastWSGI,
    FastWSGIRouter,
    Granian,
    Gunicorn,
    Probe,
    Server,
    Target,
    python_env,
)

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "bench" / "apps"
APP_FILE = APPS / "benchapp.py"
PROCESSES = 2
THREADS = 15
#: What every server must answer before it is measured.
READY = Probe(path="/", expect=HELLO)

__all__ = ["APP_FILE", "PROCESSES", "READY", "THREADS", "Server", "build_servers", "python_env"]


def target(threads: int = THREADS) -> Target:
    return Target(app=str(APP_FILE), processes=PROCESSES, threads=threads, cwd=str(ROOT))


def build_servers(names: list[str], granian_threads: int) -> list[Server]:
    """The named rows, in order; granian_threads 0 runs granian's own default."""
    table: dict[str, Server] = {
        "fastwsgi": FastWSGI(target()), "fastwsgi-router": FastWSGIRouter(target()),
        "mod_wsgi": ModWSGI(target()), "gunicorn": Gunicorn(target()),
        "granian": Granian(target(granian_threads))}
    return [table[n] for n in names]
