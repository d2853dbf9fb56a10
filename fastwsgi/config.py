"""The settings of a daemon process group, as one declarative table.

Each row gives the option's name (as in a WSGIDaemonProcess line and as a
``fastwsgi serve --flag``), its type, default, validation and help text. The
CLI flags, the ``name=value`` parser and the error messages all come from this
table, so they cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastwsgi.errors import ConfigError

Validator = Callable[[Any], str | None]


@dataclass(frozen=True)
class Setting:
    name: str
    kind: type
    default: Any
    help: str
    check: Validator | None = None
    valid: str = ""

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")


def _at_least(n: int | float) -> Validator:
    return lambda v: None if v >= n else f"must be >= {n}"


def _buffer_size(v: int) -> str | None:
    return None if v == 0 or v >= 512 else "must be >= 512 bytes, or 0 for the system default"


def _group_name(v: str) -> str | None:
    if not v or not re.fullmatch(r"[A-Za-z0-9_.@:-]+", v):
        return "must be non-empty letters, digits and . _ - @ :"
    return None


SETTINGS: tuple[Setting, ...] = (
    Setting("processes", int, None,
            "daemon processes in the group (default 1); giving it at all, even =1, "
            "makes wsgi.multiprocess True", _at_least(1), "an integer >= 1"),
    Setting("threads", int, 15,
            "worker threads per process; wsgi.multithread is True unless 1",
            lambda v: None if 1 <= v < 65534 else "must be from 1 to 65533",
            "an integer from 1 to 65533"),
    Setting("maximum-requests", int, 0,
            "requests a process serves before it is replaced (0 = never)",
            _at_least(0), "an integer >= 0"),
    Setting("listen-backlog", int, 100,
            "listen() backlog of the group socket", _at_least(0), "an integer >= 0"),
    Setting("socket-timeout", float, 60.0,
            "seconds a read or write on a request's socket may wait (0 = forever)",
            _at_least(0), "seconds >= 0"),
    Setting("graceful-timeout", float, 15.0,
            "seconds a stopping process waits for in-flight requests to finish",
            _at_least(0), "seconds >= 0"),
    Setting("shutdown-timeout", float, 5.0,
            "seconds after the graceful drain before a stopping process is forced out",
            _at_least(0), "seconds >= 0"),
    Setting("receive-buffer-size", int, 0,
            "SO_RCVBUF of the group socket (0 = OS default)", _buffer_size,
            "0 or bytes >= 512"),
    Setting("send-buffer-size", int, 0,
            "SO_SNDBUF of the group socket (0 = OS default)", _buffer_size,
            "0 or bytes >= 512"),
    Setting("socket-user", str, None,
            "user the group socket is chowned to when started as root (the front-end's "
            "user, e.g. www-data for Apache)", None, "a user name or #uid"),
)

BY_NAME = {s.name: s for s in SETTINGS}


@dataclass
class HttpConfig:
    """The HTTP side of a group that accepts HTTP itself (one hop)."""

    binds: list[str] = field(default_factory=list)
    header_timeout: float = 20.0
    keepalive_timeout: float = 75.0
    limit_request_body: int = 0


@dataclass
class GroupConfig:
    """A daemon process group: its name, application and settings."""

    name: str
    app: str
    application_group: str = ""
    socket_path: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    http: HttpConfig | None = None

    def __getattr__(self, attr: str) -> Any:
        # Only called for names that are not fields: settings by attribute.
        key = attr.replace("_", "-")
        if key in BY_NAME:
            return self.values.get(key, BY_NAME[key].default)
        raise AttributeError(attr)

    @property
    def process_count(self) -> int:
        return self.values.get("processes") or 1

    @property
    def multiprocess(self) -> bool:
        """The spec's rule: True whenever processes= was given, even =1."""
        return self.values.get("processes") is not None

    @property
    def multithread(self) -> bool:
        return self.threads != 1

    @property
    def run_once(self) -> bool:
        return self.threads == 1 and self.maximum_requests == 1


def convert(name: str, raw: Any, where: str = "") -> Any:
    """Convert and validate one option value; ConfigError names what is valid."""
    setting = BY_NAME.get(name)
    if setting is None:
        raise ConfigError(f"unknown option {name!r}; valid: {', '.join(sorted(BY_NAME))}",
                          source=where or None)
    try:
        value = setting.kind(raw) if not isinstance(raw, setting.kind) else raw
    except (TypeError, ValueError):
        raise ConfigError(f"invalid value {raw!r} for {name}: expected {setting.valid}",
                          source=where or None) from None
    if setting.check is not None:
        problem = setting.check(value)
        if problem:
            raise ConfigError(f"invalid value {raw!r} for {name}: {problem}",
                              source=where or None)
    return value


def parse_options(words: Iterable[str], where: str = "") -> dict[str, Any]:
    """Parse ``name=value`` words of a WSGIDaemonProcess line."""
    values: dict[str, Any] = {}
    for word in words:
        name, sep, raw = word.partition("=")
        if not sep:
            raise ConfigError(f"option {word!r} is not of the form name=value",
                              source=where or None)
        values[name] = convert(name, raw, where)
    return values


def validate_group_name(name: str) -> str:
    problem = _group_name(name)
    if problem:
        raise ConfigError(f"invalid process group name {name!r}: {problem}")
    return name
