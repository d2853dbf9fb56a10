"""The configuration tree -> the server, its virtual hosts and their sections.

This pass only records what each context says, checking each directive's
arguments on its own (types, counts, contexts). Resolving who inherits what
and where each request goes is build.py's work, once everything is read.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastwsgi.apacheconf.directives import (
    DIR,
    HANDLED,
    SECTIONS,
    SERVER,
    VHOST,
    WSGI_ALL,
    WSGI_IGNORED_BY_KEY,
)
from fastwsgi.apacheconf.lexer import Node, split_options

#: mod_wsgi lines read with wsgi_parse_option: how many words precede the
#: name=value options (whose values may be quoted).
OPTION_DIRECTIVES = {"wsgidaemonprocess": 1, "wsgiscriptalias": 2, "wsgiscriptaliasmatch": 2,
                     "wsgiimportscript": 1}


@dataclass
class Setting:
    value: Any
    node: Node


@dataclass
class WsgiSettings:
    """The mod_wsgi per-context settings (unset = None, inherited)."""

    process_group: Setting | None = None
    application_group: Setting | None = None
    callable_object: Setting | None = None
    restrict: Setting | None = None          # value: list[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def routes_differ(self) -> bool:
        """True when this context changes where or how an application runs."""
        return any((self.process_group, self.application_group, self.callable_object))


@dataclass
class DirSection:
    kind: str                   # 'location', 'directorymatch', ... (lower-case)
    arg: str                    # path, pattern or file name
    node: Node
    wsgi: WsgiSettings = field(default_factory=WsgiSettings)
    parent: DirSection | None = None   # <Files> inside <Directory>
    regex: re.Pattern[str] | None = None


@dataclass
class ScriptAlias:
    url: str                    # URL path, or the regular expression
    script: str                 # absolute
    options: dict[str, str]
    node: Node
    pattern: bool


@dataclass
class ServerContext:
    """The main server (node None) or one <VirtualHost>."""

    node: Node | None
    addresses: list[tuple[str, int | None]] = field(default_factory=list)
    server_name: str | None = None
    server_port: int | None = None
    aliases: list[str] = field(default_factory=list)
    error_log: Setting | None = None
    access_logs: list[tuple[str, str, Node]] = field(default_factory=list)
    timeout: float | None = None
    keepalive_timeout: float | None = None
    limit_request_body: Setting | None = None
    wsgi: WsgiSettings = field(default_factory=WsgiSettings)
    dirs: list[DirSection] = field(default_factory=list)
    script_aliases: list[ScriptAlias] = field(default_factory=list)

    @property
    def source(self) -> str:
        return self.node.where if self.node else ""


@dataclass
class DaemonDef:
    name: str
    words: list[str]
    node: Node
    server: ServerContext


@dataclass
class Collected:
    """Everything the files said, per context, before resolution."""

    server_root: str
    main: ServerContext
    vhosts: list[ServerContext] = field(default_factory=list)
    listens: list[tuple[str, Node]] = field(default_factory=list)
    user: Setting | None = None
    group: Setting | None = None
    log_formats: dict[str, str] = field(default_factory=dict)
    log_level: str = "warning"
    limits: dict[str, int] = field(default_factory=dict)
    socket_prefix: str = ""
    python_path: list[str] = field(default_factory=list)
    python_home: Setting | None = None
    daemons: list[DaemonDef] = field(default_factory=list)
    imports: list[tuple[Node, ServerContext, int]] = field(default_factory=list)


class Collector:
    """Walks the tree once, filling a Collected."""

    def __init__(self, server_root: str, warn: Callable[[str], None]) -> None:
        self.out = Collected(server_root, ServerContext(None))
        self.warn = warn

    def path(self, value: str) -> str:
        """A path relative to ServerRoot made absolute (Apache's rule)."""
        return os.path.normpath(os.path.join(self.out.server_root, value))

    def walk(self, nodes: list[Node], server: ServerContext, section: DirSection | None) -> None:
        for node in nodes:
            if node.children is not None:
                self.section(node, server, section)
            else:
                self.directive(node, server, section)

    def section(self, node: Node, server: ServerContext, parent: DirSection | None) -> None:
        key = node.key
        if key not in SECTIONS:
            self.warn(f"{node.where}: <{node.name}>: section not used by fastwsgi; "
                      f"skipped with everything in it")
            return
        assert node.children is not None
        if key == "virtualhost":
            if server.node is not None or parent is not None:
                raise node.error("cannot occur within another section; valid: at the top level")
            vhost = ServerContext(node, addresses=[self.vhost_address(node, a)
                                                   for a in node.args])
            if not vhost.addresses:
                raise node.error("takes one or more ADDRESS[:PORT]; valid: *:80, 127.0.0.1:8080, "
                                 "[::1]:80, _default_:80")
            self.out.vhosts.append(vhost)
            self.walk(node.children, vhost, None)
            return
        if parent is not None and not (key in ("files", "filesmatch")
                                       and parent.kind in ("directory", "directorymatch")):
            raise node.error(f"cannot occur within <{parent.node.name}>; valid there: "
                             f"<Files>, <FilesMatch> (inside <Directory> only)")
        match = key.endswith("match")
        if len(node.args) != 1 and not (key in ("directory", "location", "files")
                                        and len(node.args) == 2 and node.args[0] == "~"):
            raise node.error("takes exactly one path or pattern")
        arg = node.args[-1]
        regex = None
        if match or node.args[0] == "~":
            try:
                regex = re.compile(arg)
            except re.error as exc:
                raise node.error(f"invalid regular expression {arg!r}: {exc}; valid: a Python "
                                 f"regular expression") from None
        if key.startswith("directory") and regex is None:
            arg = self.path(arg)
        elif key == "location" and regex is None and arg != "/":
            arg = arg.rstrip("/") or "/"
        dirsec = DirSection(key if regex is None else key.replace("match", "") + "match",
                            arg, node, parent=parent, regex=regex)
        server.dirs.append(dirsec)
        self.walk(node.children, server, dirsec)

    def vhost_address(self, node: Node, text: str) -> tuple[str, int | None]:
        host, port = parse_vhost_address(node, text)
        if host not in ("*", "_default_"):
            try:
                ipaddress.ip_address(host)
            except ValueError:
                # Apache resolves it once at start; fastwsgi does no DNS here.
                self.warn(f"{node.where}: <VirtualHost>: {host} is not an IP address; fastwsgi "
                          f"matches this virtual host on any address (*)")
                host = "*"
        return host, port

    def directive(self, node: Node, server: ServerContext, section: DirSection | None) -> None:
        key = node.key
        spec = HANDLED.get(key)
        if spec is None:
            if key in WSGI_IGNORED_BY_KEY:
                self.warn(f"{node.where}: {WSGI_IGNORED_BY_KEY[key]}: not implemented by "
                          f"fastwsgi; ignored")
            elif key.startswith("wsgi"):
                raise node.error(f"unknown mod_wsgi directive; valid: {', '.join(WSGI_ALL)}")
            elif key not in ("include", "includeoptional", "define", "undefine"):
                self.warn(f"{node.where}: {node.name}: not used by fastwsgi; skipped")
            return
        if node.pending_error is not None:
            raise node.pending_error
        if key == "serverroot":
            self.out.server_root = self.path(node.args[0])
            return
        context = DIR if section is not None else (VHOST if server.node is not None else SERVER)
        if context not in spec.contexts:
            where = {SERVER: "outside all sections", VHOST: "in <VirtualHost>",
                     DIR: f"in <{section.node.name if section else ''}>"}[context]
            allowed = {SERVER: "the main server", VHOST: "<VirtualHost>",
                       DIR: "<Location>/<Directory>/<Files>"}
            raise node.error(f"not allowed {where}; valid in: "
                             f"{', '.join(allowed[c] for c in (SERVER, VHOST, DIR) if c in spec.contexts)}")
        if key in OPTION_DIRECTIVES:
            node.args = split_options(node.raw, OPTION_DIRECTIVES[key], node.file, node.line,
                                      spec.name)
        if len(node.args) < spec.min_args or (spec.max_args is not None
                                              and len(node.args) > spec.max_args):
            raise node.error(f"wrong number of arguments ({len(node.args)}); valid: "
                             f"{spec.name} {spec.usage}")
        node.name = spec.name
        from fastwsgi.apacheconf import handlers  # it imports this module: import late
        handlers.HANDLERS[key](self, node, server, section)


_ADDR = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>\*|\d+))?$")


def parse_vhost_address(node: Node, text: str) -> tuple[str, int | None]:
    """'*:80' -> ('*', 80); '[::1]:8080' -> ('::1', 8080); '*' -> ('*', None)."""
    m = _ADDR.match(text)
    port = m.group("port") if m else None
    if m is None or (port is not None and port != "*" and not 0 < int(port) < 65536):
        raise node.error(f"invalid address {text!r}; valid: *:80, 127.0.0.1:8080, [::1]:80, "
                         f"_default_:80, *")
    host = m.group("v6") or m.group("host")
    return host.lower(), (None if port in (None, "*") else int(port))
