"""Every program and module under bench/ still imports (they are not collected as tests)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize("name", sorted(p.stem for p in BENCH.glob("*.py")
                                        if p.stem not in ("__init__", "conftest")))
def test_bench_module_imports(name: str) -> None:
    importlib.import_module(f"bench.{name}")
