"""One function per directive: check its arguments and record them.

Each handler gets the directive's node (arguments split, name canonical),
the server or virtual host it is in, and the <Location>/<Directory>/<Files>
section if any. Arguments counts and contexts were checked by the caller.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable

from fastwsgi.apacheconf.contexts import (
    Collector,
    DaemonDef,
    DirSection,
    ScriptAlias,
    ServerContext,
    Setting,
    WsgiSettings,
)
from fastwsgi.apacheconf.directives import LOG_LEVELS
from fastwsgi.apacheconf.lexer import Node

Handler = Callable[[Collector, Node, ServerContext, DirSection | None], None]
HANDLERS: dict[str, Handler] = {}

_HOST = re.compile(r"^[A-Za-z0-9*?_]([A-Za-z0-9*?_.-]*[A-Za-z0-9*?_])?$")


def handles(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            HANDLERS[name.lower()] = fn
        return fn
    return register


def _wsgi(server: ServerContext, section: DirSection | None) -> WsgiSettings:
    return section.wsgi if section is not None else server.wsgi


def _number(node: Node, kind: type, minimum: float = 0) -> int | float:
    text = node.args[0]
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum:
        what = "an integer" if kind is int else "a number of seconds"
        raise node.error(f"invalid value {text!r}; valid: {what} >= {minimum}")
    return value


@handles("Listen")
def listen(c: Collector, node: Node, server: ServerContext, section: DirSection | None) -> None:
    if len(node.args) == 2 and node.args[1].lower() != "http":
        raise node.error(f"protocol {node.args[1]!r} is not served by fastwsgi (no TLS); "
                         f"valid: http, or no protocol argument")
    text = node.args[0]
    m = re.match(r"^(?:(\[[0-9A-Fa-f:.]+\])|([0-9.]+|\*)):(\d+)$|^(\d+)$", text)
    port = m and (m.group(3) or m.group(4))
    if not m or not port or not 0 < int(port) < 65536:
        raise node.error(f"invalid address {text!r}; valid: 80, 127.0.0.1:8080, [::1]:8080")
    host = m.group(1) or m.group(2)
    if host not in (None, "*"):
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            raise node.error(f"invalid IP address in {text!r}; valid: 80, 127.0.0.1:8080, "
                             f"[::1]:8080") from None
    # A bare port (and '*:port') listens on every IPv4 address: fastwsgi
    # binds IPv6 sockets v6-only, so '[::]:port' has to be asked for.
    if host in (None, "*"):
        host = "0.0.0.0"
    spec = f"{host}:{int(port)}"
    for other, where in c.out.listens:
        if other == spec:
            raise node.error(f"{text} is already listened on (Listen at {where.where}); "
                             f"valid: each address and port once")
        other_host, _, other_port = other.rpartition(":")
        if other_port == port and "0.0.0.0" in (host, other_host) and ":" not in host + other_host:
            # Linux refuses to bind a wildcard and a specific IPv4 address on one port.
            raise node.error(f"{text} overlaps Listen {where.args[0]} at {where.where}, which "
                             f"already covers every IPv4 address on port {port}; valid: one of "
                             f"the two")
    c.out.listens.append((spec, node))


@handles("ServerName")
def server_name(c: Collector, node: Node, server: ServerContext, section: DirSection | None) -> None:
    text = node.args[0]
    if "://" in text:
        text = text.split("://", 1)[1]
    name, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if not _HOST.match(name) or "*" in name or "?" in name or (port and not port.isdigit()):
        raise node.error(f"invalid server name {node.args[0]!r}; valid: a host name "
                         f"(www.example.com) with an optional :PORT")
    server.server_name = name.lower()
    server.server_port = int(port) if port else None


@handles("ServerAlias")
def server_alias(c: Collector, node: Node, server: ServerContext, section: DirSection | None) -> None:
    for name in node.args:
        if not _HOST.match(name):
            raise node.error(f"invalid host name {name!r}; valid: host names, with * and ? "
                             f"as wildcards (*.example.com)")
        server.aliases.append(name.lower())


@handles("User", "Group")
def identity(c: Collector, node: Node, server: ServerContext, section: DirSection | None) -> None:
    setattr(c.out, node.key, Setting(node.args[0], node))


def _log_target(c: Collector, node: Node, text: str) -> str | None:
    if text.startswith("|") or text.startswith("syslog"):
        c.warn(f"{node.where}: {node.name}: piped and syslog logs are not supported by "
               f"fastwsgi; using the server's log instead")
        return None
    path = c.path(text)
    if not os.path.isdir(os.path.dirname(path)):
        # Apache would refuse to start; fastwsgi would fail at the first fork.
        raise node.error(f"directory {os.path.dirname(path)} does not exist; valid: a file in "
                         f"an existing directory (relative paths start at ServerRoot "
                         f"{c.out.server_root})")
    return path


@handles("ErrorLog")
def error_log(c: Collector, node: Node, server: ServerContext, section: DirSection | None) -> None:
    server.error_log = Setting(_log_target(c, node, node.args[0]), node)


@handles("CustomLog", "TransferLog")
def custom_log(c: Collector, node: Node, server: ServerContext, section: DirSection | None) -> None:
    target = _log_target(c, node, node.args[0])
    if len(node.args) == 3 and not node.args[2].startswith("env="):
        raise node.error(f"invalid third argument {node.args[2]!r}; valid: env=[!]VARIABLE")
    if len(node.args) == 3:
        c.warn(f"{node.where}: {node.name}: the condition {node.args[2]} is not supported; "
               f"every request is logged")
    if target is not None:
        fmt = node.args[1] if len(node.args) > 1 else "common"
        server.access_logs.append((target, fmt, node))


@handles("LogFormat")
def log_format(c: Collector, node: Node, server: ServerContext, section: DirSection | None) -> None:
    nickname = node.args[1] if len(node.args) == 2 else "common"
    c.out.log_formats[nickname] = node.args[0]


@handles("LogLevel")
def log_level(c: Collector, node: Node, server: ServerContext, section: DirSection | None) -> None:
    for word in node.args:
        if ":" in word:
            c.warn(f"{node.where}: LogLevel: per-module level {word!r} is not supported; ignored")
            continue
        level = LOG_LEVELS.get(word.lower())
        if level is None:
            raise node.error(f"invalid level {word!r}; valid: {', '.join(LOG_LEVELS)}")
        if server.node is not None or section is not None:
            c.warn(f"{node.where}: LogLevel: fastwsgi has one log level for the whole server; "
                   f"this one is ignored")
        else:
            c.out.log_level = level


@handles("KeepAliveTimeout", "Timeout")
def timeouts(c: Collector, node: Node, server: ServerContext, section: DirSection | None) -> None:
    value = float(_number(node, float))
    if node.key == "timeout":
        # In a virtual host it is the socket-timeout default of its groups.
        server.timeout = value
    elif server.node is not None:
        c.warn(f"{node.where}: KeepAliveTimeout: fastwsgi applies the main server's to every "
               f"virtual host; ignored")
    else:
        server.keepalive_timeout = value


@handles("LimitRequestBody")
def limit_body(c: Collector, node: Node, server: ServerContext, section: DirSection | None) -> None:
    value = int(_number(node, int))
    if section is not None:
        # One limit for all: a per-directory one would apply to other URLs too.
        c.warn(f"{node.where}: LimitRequestBody: fastwsgi applies the limit per server, "
               f"not per <{section.node.name}>; ignored")
        return
    server.limit_request_body = Setting(value, node)


@handles("LimitRequestLine", "LimitRequestFields", "LimitRequestFieldSize")
def limits(c: Collector, node: Node, server: ServerContext, section: DirSection | None) -> None:
    value = int(_number(node, int, 1))
    if server.node is not None:
        c.warn(f"{node.where}: {node.name}: fastwsgi applies the main server's to every "
               f"virtual host; ignored")
        return
    c.out.limits[node.key] = value


@handles("SetEnv")
def set_env(c: Collector, node: Node, server: ServerContext, section: DirSection | None) -> None:
    # Read for %{ENV:NAME}; mod_wsgi also passes it in the environ, which the
    # router does not do (yet): say so.
    _wsgi(server, section).env[node.args[0]] = node.args[1] if len(node.args) > 1 else ""
    c.warn(f"{node.where}: SetEnv: used for %{{ENV:{node.args[0]}}} only; the variable is "
           f"not added to the applications' environ")


@handles("WSGIDaemonProcess")
def daemon_process(c: Collector, node: Node, server: ServerContext,
                   section: DirSection | None) -> None:
    c.out.daemons.append(DaemonDef(node.args[0], node.args[1:], node, server))


@handles("WSGIProcessGroup")
def process_group(c: Collector, node: Node, server: ServerContext,
                  section: DirSection | None) -> None:
    value = node.args[0]
    if value == "%{HOST}":
        raise node.error("%{HOST} selects a group per request from the Host header, which "
                         "fastwsgi cannot check in advance; valid: a group name, %{GLOBAL}, "
                         "%{SERVER}, %{RESOURCE}, %{ENV:NAME}")
    _wsgi(server, section).process_group = Setting(value, node)


@handles("WSGIApplicationGroup")
def application_group(c: Collector, node: Node, server: ServerContext,
                      section: DirSection | None) -> None:
    if node.args[0] == "%{HOST}":
        raise node.error("%{HOST} depends on each request's Host header and is not supported; "
                         "valid: a name, %{GLOBAL}, %{SERVER}, %{RESOURCE}, %{ENV:NAME}")
    _wsgi(server, section).application_group = Setting(node.args[0], node)


@handles("WSGICallableObject")
def callable_object(c: Collector, node: Node, server: ServerContext,
                    section: DirSection | None) -> None:
    if not node.args[0].isidentifier() and not node.args[0].startswith("%{ENV:"):
        raise node.error(f"invalid name {node.args[0]!r}; valid: a Python identifier")
    _wsgi(server, section).callable_object = Setting(node.args[0], node)


@handles("WSGIRestrictProcess")
def restrict_process(c: Collector, node: Node, server: ServerContext,
                     section: DirSection | None) -> None:
    names = ["" if n == "%{GLOBAL}" else n for n in node.args]
    _wsgi(server, section).restrict = Setting(names, node)


ALIAS_OPTIONS = ("process-group", "application-group", "callable-object", "pass-authorization")


@handles("WSGIScriptAlias", "WSGIScriptAliasMatch")
def script_alias(c: Collector, node: Node, server: ServerContext,
                 section: DirSection | None) -> None:
    url, script, *words = node.args
    options: dict[str, str] = {}
    for word in words:
        name, sep, value = word.partition("=")
        # mod_wsgi compares these names case-sensitively.
        if not sep or name not in ALIAS_OPTIONS:
            raise node.error(f"invalid option {word!r}; valid: "
                             f"{', '.join(o + '=...' for o in ALIAS_OPTIONS)}")
        if not value:
            raise node.error(f"{name}= needs a value")
        if name == "pass-authorization":
            if value.lower() not in ("on", "off"):
                raise node.error(f"invalid value {value!r} for pass-authorization; valid: On, Off")
            c.warn(f"{node.where}: {node.name}: pass-authorization is not implemented; the "
                   f"Authorization header is never passed")
        options[name] = "" if value == "%{GLOBAL}" and name != "callable-object" else value
    pattern = node.key == "wsgiscriptaliasmatch"
    if pattern:
        try:
            re.compile(url)
        except re.error as exc:
            raise node.error(f"invalid regular expression {url!r}: {exc}; valid: a Python "
                             f"regular expression") from None
    elif not url.startswith("/"):
        raise node.error(f"invalid URL path {url!r}; valid: a path starting with '/'")
    path = c.path(script)
    if script.endswith("/") or os.path.isdir(path):
        # A directory: the next URL segment names the script (Route.script).
        path = path.rstrip("/") + "/"
    server.script_aliases.append(ScriptAlias(url, path, options, node, pattern))


@handles("WSGISocketPrefix")
def socket_prefix(c: Collector, node: Node, server: ServerContext,
                  section: DirSection | None) -> None:
    prefix = c.path(node.args[0])
    if not os.path.isdir(os.path.dirname(prefix)):
        raise node.error(f"directory {os.path.dirname(prefix)} does not exist; valid: a path "
                         f"prefix in an existing directory, such as /var/run/wsgi")
    c.out.socket_prefix = prefix


@handles("WSGIImportScript")
def import_script(c: Collector, node: Node, server: ServerContext,
                  section: DirSection | None) -> None:
    # mod_wsgi wants the group defined above the line: remember how many are.
    c.out.imports.append((node, server, len(c.out.daemons)))


@handles("WSGIPythonPath")
def python_path(c: Collector, node: Node, server: ServerContext,
                section: DirSection | None) -> None:
    parts = [p for p in node.args[0].split(":") if p]
    if not parts:
        raise node.error("valid: directories separated by ':'")
    c.out.python_path = [c.path(p) for p in parts]


@handles("WSGIPythonHome")
def python_home(c: Collector, node: Node, server: ServerContext,
                section: DirSection | None) -> None:
    c.out.python_home = Setting(c.path(node.args[0]), node)
