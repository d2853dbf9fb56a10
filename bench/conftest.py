"""Micro-benchmarks (pytest-benchmark): `make bench` runs them with --benchmark-only.

Files named bench_*.py are collected here as well as test_*.py, so a
benchmark never looks like a correctness test. They measure this checkout's
fastwsgi (built in place by `make compile`), never an installed copy.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import fastwsgi  # noqa: E402
from bench.scenarios import HELLO  # noqa: E402
from bench.servers import APP_FILE, python_env  # noqa: E402
from fastwsgi.benchtool.process import Proc, StartError, wait_until  # noqa: E402

if not Path(fastwsgi.__file__).resolve().is_relative_to(ROOT):
    raise RuntimeError(f"bench would measure {fastwsgi.__file__}, not this checkout ({ROOT}); "
                       "run it from the top of the checkout")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None



@pytest.fixture(scope="module")
def uwsgi_daemon() -> Iterator[str]:
    """`fastwsgi serve` on a uwsgi socket in a short temp dir; yields the socket path."""
    from fastwsgi.client import can_connect, request

    tmp = tempfile.mkdtemp(prefix="fwb", dir="/tmp")
    sock = os.path.join(tmp, "g.sock")
    proc = Proc([sys.executable, "-m", "fastwsgi", "serve", str(APP_FILE),
                 "--uwsgi-socket", sock, "--processes", "1", "--threads", "15",
                 "--error-log", os.path.join(tmp, "error.log"), "--log-level", "warn"],
                cwd=tmp, env=python_env(), log_path=os.path.join(tmp, "stderr.log"))
    proc.start()

    def ready() -> bool:
        if proc.exited():
            raise StartError(f"fastwsgi exited with {proc.returncode()}:\n{proc.log_tail()}")
        return can_connect(sock) and request("/", socket_path=sock, timeout=5).body == HELLO

    try:
        wait_until(ready, 30, f"fastwsgi on {sock}")
        yield sock
    finally:
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
