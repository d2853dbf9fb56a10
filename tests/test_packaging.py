"""What `pip install .` ships: every package of fastwsgi/, and the harness' data files."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]


def test_every_fastwsgi_package_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    shipped = set(find_packages(str(ROOT), include=config["packages"]["find"]["include"]))
    on_disk = {".".join(p.parent.relative_to(ROOT).parts)
               for p in (ROOT / "fastwsgi").rglob("__init__.py")}
    assert on_disk and on_disk <= shipped, on_disk - shipped
    assert "fastwsgi.apacheconf" in shipped and "fastwsgi.benchtool" in shipped


def test_package_data_covers_the_lua_report_hook() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["fastwsgi.benchtool"]
    base = ROOT / "fastwsgi" / "benchtool"
    assert any(base.glob(pattern) for pattern in patterns)
