"""Write a configuration (and its scripts) into a temporary ServerRoot, load it."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from fastwsgi.apacheconf import load_site
from fastwsgi.errors import ConfigError
from fastwsgi.site import Site

HERE = Path(__file__).resolve().parent
APP = (HERE / "app.wsgi").read_text()


def write(root: Path, text: str, name: str = "site.conf", scripts: tuple[str, ...] = ("app.wsgi",),
          **extra: str) -> Path:
    """root/name holds text (dedented); scripts exist; extra files too; logs/ exists."""
    (root / "logs").mkdir(exist_ok=True)
    for script in scripts:
        path = root / script
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(APP)
    for rel, content in extra.items():
        path = root / rel.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content).lstrip("\n"))
    conf = root / name
    conf.write_text(textwrap.dedent(text).lstrip("\n"))
    return conf


def load(root: Path, text: str, **kw: object) -> Site:
    return load_site(str(write(root, text, **kw)))  # type: ignore[arg-type]


def error(root: Path, text: str, **kw: object) -> str:
    """The message of the ConfigError loading text raises."""
    conf = write(root, text, **kw)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        load_site(str(conf))
    return str(info.value)


def copy_fixture(name: str, root: Path) -> Path:
    """A copy of tests/confs/<name>/ in root (with a logs/ directory)."""
    shutil.copytree(HERE / name, root, dirs_exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    return root
