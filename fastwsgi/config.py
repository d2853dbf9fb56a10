"""The settings of a daemon process group, as one declarative table.

Each row gives the option's name (as in a WSGIDaemonProcess line and as a
``fastwsgi serve --flag``), its type, default, validation and help text. The
CLI flags, the ``name=value`` parser and the error messages all come from this
table, so they cannot drift apart.
"""

from __future__ import annotations

import grp
import os
import pwd
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
    #: Turns the text of a flag or name=value word into the value (default: kind).
    parse: Callable[[str], Any] | None = None
    metavar: str = ""

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")

    @property
    def flag_metavar(self) -> str:
        """What --help shows as the flag's argument."""
        return self.metavar or {int: "N", float: "SECONDS"}.get(self.kind, "NAME")


def _at_least(n: int | float) -> Validator:
    return lambda v: None if v >= n else f"must be >= {n}"


def _buffer_size(v: int) -> str | None:
    return None if v == 0 or v >= 512 else "must be >= 512 bytes, or 0 for the system default"


def _user(v: str) -> str | None:
    """user=name or user=#uid: must exist, and never be root (as mod_wsgi)."""
    if v.startswith("#"):
        if not v[1:].isdigit():
            return "must be a user name or #uid"
        uid = int(v[1:])
        try:
            pwd.getpwuid(uid)  # initgroups() needs the user's name
        except KeyError:
            return "no user has this uid (it needs an entry in the password database)"
    else:
        try:
            uid = pwd.getpwnam(v).pw_uid
        except KeyError:
            return "no such user"
    if uid == 0:
        return "a daemon process group may not run as root; name an unprivileged user"
    return None


def _group(v: str) -> str | None:
    if v.startswith("#"):
        return None if v[1:].isdigit() else "must be a group name or #gid"
    try:
        grp.getgrnam(v)
    except KeyError:
        return "no such group"
    return None


def _absolute(v: str) -> str | None:
    return None if os.path.isabs(v) else "must be an absolute path"


def _path_list(v: str) -> str | None:
    parts = v.split(":")
    if not all(parts):
        return "must be directories separated by ':' (no empty entry)"
    return None


def _umask(v: int) -> str | None:
    return None if 0 <= v <= 0o777 else "must be an octal number from 0000 to 0777"


def _stack_size(v: int) -> str | None:
    # threading.stack_size() refuses less than 32 KiB.
    return None if v == 0 or v >= 32768 else "must be >= 32768 bytes, or 0 for the OS default"


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
            "SO_RCVBUF of the group socket and of every connection it accepts (0 = OS "
            "default; a refusal by the OS is a warning)", _buffer_size,
            "0 or bytes >= 512"),
    Setting("send-buffer-size", int, 0,
            "SO_SNDBUF of the group socket and of every connection it accepts (0 = OS "
            "default, raised to 1 MiB, capped by net.core.wmem_max, once a response "
            "passes 128 KiB on a uwsgi connection; a refusal by the OS is a warning)",
            _buffer_size,
            "0 or bytes >= 512"),
    Setting("socket-user", str, None,
            "user the group socket is chowned to when started as root (the front-end's "
            "user, e.g. www-data for Apache)", None, "a user name or #uid"),
    # -- the process: identity and environment (applied after fork, before the
    #    application is imported; see fastwsgi/procsetup.py)
    Setting("user", str, None,
            "user the processes run as (name or #uid); applied only when started as root, "
            "ignored otherwise; root itself is refused", _user, "a user name or #uid",
            metavar="USER"),
    Setting("group", str, None,
            "primary group the processes run as (name or #gid; default: the user's); "
            "applied only when started as root", _group, "a group name or #gid",
            metavar="GROUP"),
    Setting("umask", int, None,
            "umask of the processes, in octal (default: inherited)", _umask,
            "an octal number such as 0022", parse=lambda s: int(s, 8), metavar="0NNN"),
    Setting("home", str, None,
            "working directory of the processes, also first on sys.path (default: the "
            "home directory of user= when it is applied, else inherited)", _absolute,
            "an absolute directory path", metavar="DIR"),
    Setting("python-path", str, None,
            "directories added with site.addsitedir() (.pth files processed), moved to "
            "the front of sys.path", _path_list, "directories separated by ':'",
            metavar="DIR[:DIR]"),
    Setting("python-eggs", str, None,
            "PYTHON_EGG_CACHE of the processes; must exist and be writable by their user",
            _absolute, "an absolute directory path", metavar="DIR"),
    Setting("stack-size", int, 0,
            "stack size in bytes of every worker thread (0 = OS default, 8 MiB on Linux)",
            _stack_size, "0 or bytes >= 32768"),
    Setting("display-name", str, None,
            "process title shown by ps; %{GROUP} becomes (wsgi:NAME)",
            lambda v: None if v else "must not be empty", "a non-empty name", metavar="NAME"),
    # -- recycling and timeouts (fastwsgi/watchdog.py and cext/watchdog.pyx)
    Setting("maximum-requests-jitter", int, 0,
            "each process adds a random 0..N to maximum-requests, so processes do not "
            "recycle together", _at_least(0), "an integer >= 0"),
    Setting("inactivity-timeout", float, 0.0,
            "seconds without a request, a body read or a response write after which a "
            "process is replaced (0 = never; a process that never had a request never "
            "idles out)", _at_least(0), "seconds >= 0"),
    Setting("deadlock-timeout", float, 300.0,
            "seconds the Python GIL may stay unavailable before the process dumps every "
            "thread's stack and is replaced (0 = off)", _at_least(0), "seconds >= 0"),
    Setting("request-timeout", float, 0.0,
            "seconds one request may run: then RequestTimeout is raised in its thread "
            "(504), and if it is still running after as long again the process is "
            "replaced (0 = no limit)", _at_least(0), "seconds >= 0"),
    Setting("restart-interval", float, 0.0,
            "seconds after which a process is replaced gracefully, busy or not (0 = never)",
            _at_least(0), "seconds >= 0"),
    Setting("queue-timeout", float, 0.0,
            "a request that waited longer than this since the front-end received it "
            "(FASTWSGI_QUEUE_START or X-Request-Start) gets 504 without running the "
            "application (0 = off)", _at_least(0), "seconds >= 0"),
    Setting("connect-timeout", float, 15.0,
            "seconds a front-end keeps retrying to connect to the group socket before 503",
            _at_least(0), "seconds >= 0"),
    Setting("switch-interval", float, None,
            "sys.setswitchinterval() of the processes: how long a busy thread keeps the GIL "
            "while others wait (default: Python's 0.005); smaller trades throughput for a "
            "shorter tail latency under load",
            lambda v: None if v > 0 else "must be > 0", "seconds > 0"),
)

BY_NAME = {s.name: s for s in SETTINGS}


@dataclass
class HttpConfig:
    """The HTTP side of a group that accepts HTTP itself (one hop)."""

    binds: list[str] = field(default_factory=list)
    header_timeout: float = 20.0
    keepalive_timeout: float = 75.0
    limit_request_body: int = 0
    access_log: str | None = None   # a file, '-' for standard output, None = off


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
        if isinstance(raw, setting.kind):
            value = raw
        elif setting.parse is not None:
            value = setting.parse(raw)
        else:
            value = setting.kind(raw)
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


@dataclass
class RouterConfig:
    """The router processes: HTTP in front, relayed to daemon groups' UNIX sockets.

    Two uses: ``serve --router`` puts them in front of one group (``group``),
    and ``run -f site.conf`` in front of a whole Site (``site``: virtual hosts,
    routes, several groups, embedded applications). They serve HTTP on
    ``binds``; group socket paths are set by the supervisor before the fork.
    """

    group: GroupConfig | None
    http: HttpConfig = field(default_factory=HttpConfig)
    threads: int = 16
    processes: int = 1
    site: Any = None  # fastwsgi.site.Site (that module imports this one)

    @property
    def binds(self) -> list[str]:
        return self.http.binds

    @property
    def name(self) -> str:
        return self.group.name if self.group is not None else "router"

    def process_config(self) -> GroupConfig:
        """A GroupConfig the supervisor can manage the router processes by."""
        values: dict[str, Any] = {"threads": self.threads, "processes": self.processes}
        if self.group is not None:
            g = self.group
            values.update({"graceful-timeout": g.graceful_timeout,
                           "shutdown-timeout": g.shutdown_timeout,
                           "listen-backlog": g.listen_backlog})
        return GroupConfig(name=self.name, app="", values=values)
