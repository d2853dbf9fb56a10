"""The settings table, the CLI flags, parse_options and the README agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fastwsgi import cli, optionsdoc
from fastwsgi.config import SETTINGS, GroupConfig, convert, parse_options
from fastwsgi.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(10)


def serve_help() -> str:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices["serve"].format_help()  # type: ignore[union-attr]


def sample(s) -> str:
    """A valid textual value for each setting."""
    return {"user": "nobody", "group": "nogroup" if _has_group("nogroup") else "#65534",
            "umask": "0022", "home": "/", "python-path": "/tmp", "python-eggs": "/tmp",
            "display-name": "%{GROUP}", "socket-user": "nobody", "stack-size": "65536",
            "processes": "2"}.get(s.name, "1000" if s.name.endswith("size") else "3")


def _has_group(name: str) -> bool:
    import grp
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def test_every_setting_is_a_flag_in_help():
    text = serve_help()
    flags = set(re.findall(r"--([a-z][a-z-]+)", text))
    for s in SETTINGS:
        assert s.name in flags, s.name


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_flag_and_option_word_give_the_same_value(setting):
    raw = sample(setting)
    from_words = parse_options([f"{setting.name}={raw}"])
    args = cli.build_parser().parse_args(["serve", "app.py", "--uwsgi-socket", "/tmp/s.sock",
                                          f"--{setting.name}", raw])
    from_flags = cli.group_from_args(args).values
    assert from_words == from_flags == {setting.name: convert(setting.name, raw)}
    # ...and it is what the group reports by attribute.
    cfg = GroupConfig(name="g", app="a:b", values=from_words)
    assert getattr(cfg, setting.attr) == from_words[setting.name]


def test_defaults_are_valid_values():
    for s in SETTINGS:
        if s.default is not None and s.check is not None:
            assert s.check(s.default) is None, s.name


def test_unknown_option_and_missing_equals_are_refused():
    with pytest.raises(ConfigError, match="unknown option 'procesess'"):
        parse_options(["procesess=2"])
    with pytest.raises(ConfigError, match="not of the form name=value"):
        parse_options(["threads"])


def test_readme_option_table_is_generated_from_settings():
    readme = (ROOT / "README.md").read_text()
    assert optionsdoc.update(readme) == readme, \
        "README.md is out of date: run python -m fastwsgi.optionsdoc README.md"
    for s in SETTINGS:
        assert f"`--{s.name} " in readme
