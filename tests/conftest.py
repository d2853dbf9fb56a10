"""Shared fixtures: real fastwsgi subprocesses, torn down by process group."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "apps"))

from tests.support.server import FastWSGI  # noqa: E402


@pytest.fixture
def fastwsgi_server() -> Iterator[Callable[..., FastWSGI]]:
    """Factory: fastwsgi_server(app, *flags) starts a server; all are stopped after."""
    started: list[FastWSGI] = []

    def start(app: str | Path, *args: str, wait: bool = True, **kw: object) -> FastWSGI:
        server = FastWSGI(app, *args, **kw)  # type: ignore[arg-type]
        started.append(server)
        return server.start(wait=wait)

    yield start
    for server in started:
        server.stop()
