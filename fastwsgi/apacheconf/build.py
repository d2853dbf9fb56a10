"""Collected contexts -> one validated, resolved Site.

How a route's settings are found, as Apache + mod_wsgi merge them:
1. the main server's WSGIProcessGroup/ApplicationGroup/CallableObject, then
   the virtual host's (a virtual host inherits the main server's
   WSGIScriptAlias lines too, after its own: mod_wsgi appends the parent's
   alias list to the child's);
2. then the sections that match the request, in Apache's merge order:
   <Directory> by the script's path (fewest path components first),
   <DirectoryMatch>, <Files>/<FilesMatch> by the script's file name, then
   <Location> by URL prefix in file order (a later one wins);
3. then the process-group=/application-group=/callable-object= options of
   the WSGIScriptAlias line itself, which beat everything (mod_wsgi puts
   them in the request notes that override the per-directory settings).
A <Location> strictly inside an alias' URL space that changes any of these
becomes its own Route (see fastwsgi.site.Route).
"""

from __future__ import annotations

import fnmatch
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

from fastwsgi.apacheconf import rules
from fastwsgi.apacheconf.contexts import (
    Collected,
    DirSection,
    ScriptAlias,
    ServerContext,
    Setting,
    WsgiSettings,
)
from fastwsgi.apacheconf.daemons import build_groups, build_imports
from fastwsgi.apacheconf.directives import DEFAULT_LOG_FORMATS
from fastwsgi.apacheconf.lexer import Node
from fastwsgi.config import HttpConfig
from fastwsgi.site import AccessLog, DaemonGroup, Route, Site, VirtualHost

#: Apache's default KeepAliveTimeout and Timeout, seconds.
KEEPALIVE_TIMEOUT = 5.0
TIMEOUT = 60.0


@dataclass
class Effective:
    """A route's merged mod_wsgi settings (the last layer that set each wins)."""

    process_group: Setting | None = None
    application_group: Setting | None = None
    callable_object: Setting | None = None
    restrict: Setting | None = None
    env: dict[str, str] | None = None

    def add(self, w: WsgiSettings) -> None:
        for attr in ("process_group", "application_group", "callable_object", "restrict"):
            if getattr(w, attr) is not None:
                setattr(self, attr, getattr(w, attr))
        self.env = {**(self.env or {}), **w.env}


def _under(path: str, prefix: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix.rstrip("/") + "/")


def _dir_matches(d: DirSection, script: str) -> bool:
    if d.kind in ("files", "filesmatch"):
        base = os.path.basename(script.rstrip("/"))
        ok = bool(d.regex.search(base)) if d.regex else fnmatch.fnmatchcase(base, d.arg)
        return ok and (d.parent is None or _dir_matches(d.parent, script))
    if d.regex is not None:
        # As Apache's directory walk: the pattern is tried on each directory
        # that leads to the script.
        parent = os.path.dirname(script.rstrip("/"))
        while True:
            if d.regex.search(parent):
                return True
            if parent == "/":
                return False
            parent = os.path.dirname(parent)
    if any(c in d.arg for c in "*?["):
        parts = d.arg.rstrip("/").count("/")
        return fnmatch.fnmatchcase("/".join(script.split("/")[:parts + 1]), d.arg.rstrip("/"))
    return _under(script, d.arg)


class Builder:
    """Turns a Collected into a Site; one instance per load."""

    def __init__(self, c: Collected, warn: Callable[[str], None], main_file: str) -> None:
        self.c = c
        self.warn = warn
        self.main_file = main_file
        self.embedded_imports: list[tuple[str, str]] = []
        self.main_name = c.main.server_name or socket.gethostname().lower()

    # -- names and ports -------------------------------------------------
    def server_name(self, server: ServerContext) -> str:
        return server.server_name or self.main_name

    def server_port(self, server: ServerContext) -> int:
        """The port %{SERVER}/%{RESOURCE} show (Apache: the request's port).

        Statically: ServerName's :port, else the virtual host's one port,
        else the only Listen port, else 80.
        """
        if server.server_port:
            return server.server_port
        ports = {p for _, p in server.addresses if p}
        if len(ports) == 1:
            return ports.pop()
        listen_ports = {int(spec.rpartition(":")[2]) for spec, _ in self.c.listens}
        if len(listen_ports) == 1:
            return listen_ports.pop()
        if self.c.main.server_port and server is not self.c.main:
            return self.c.main.server_port
        return 80

    def server_id(self, server: ServerContext) -> str:
        port = self.server_port(server)
        name = self.server_name(server)
        return name if port in (80, 443) else f"{name}:{port}"

    # -- %{...} expansion --------------------------------------------------
    def expand(self, value: str | None, kind: str, server: ServerContext, mount: str | None,
               env: dict[str, str], node: Node | None, what: str) -> str:
        """mod_wsgi's wsgi_process_group / wsgi_application_group, statically."""
        if value is None:
            if kind == "callable":
                return "application"
            value = "%{RESOURCE}" if kind == "application" else ""
        if not value.startswith("%"):
            return value
        if value == "%{GLOBAL}":
            return "" if kind != "callable" else "application"
        if value == "%{SERVER}" and kind != "callable":
            return self.server_id(server)
        if value == "%{RESOURCE}" and kind != "callable":
            # Pattern routes: SCRIPT_NAME is known per request only; the
            # router expands it (see the report of issue 5).
            return f"{self.server_id(server)}|{mount if mount is not None else '%{SCRIPT_NAME}'}"
        if value.startswith("%{ENV:") and value.endswith("}"):
            name = value[6:-1]
            found = env.get(name, os.environ.get(name))
            if found is None and kind == "callable":
                return "application"  # mod_wsgi's fallback for the callable only
            if found is None:
                assert node is not None
                raise node.error(f"{value}: {name} is not set by SetEnv in any context of "
                                 f"{what}, nor in fastwsgi's environment, so the "
                                 f"{kind} group cannot be chosen; valid: 'SetEnv {name} VALUE' "
                                 f"in the virtual host or a <Location>/<Directory> of the "
                                 f"application")
            if found.startswith("%") and not found.startswith("%{ENV:"):
                return self.expand(found, kind, server, mount, env, node, what)
            return found
        return value

    # -- sections ----------------------------------------------------------
    def sections(self, server: ServerContext) -> list[DirSection]:
        own = self.c.main.dirs + (server.dirs if server is not self.c.main else [])
        for d in own:
            if d.kind == "locationmatch" and (d.wsgi.routes_differ or d.wsgi.restrict):
                raise d.node.error("WSGI settings in <LocationMatch> are not supported (routes "
                                   "are URL prefixes); valid: <Location /prefix>")
        dirs = sorted((d for d in own if d.kind == "directory"),
                      key=lambda d: d.arg.rstrip("/").count("/"))
        return (dirs + [d for d in own if d.kind == "directorymatch"]
                + [d for d in own if d.kind in ("files", "filesmatch")]
                + [d for d in own if d.kind == "location"])

    def effective(self, server: ServerContext, script: str, url: str | None,
                  sections: list[DirSection]) -> Effective:
        eff = Effective()
        eff.add(self.c.main.wsgi)
        if server is not self.c.main:
            eff.add(server.wsgi)
        for d in sections:
            if d.kind == "location":
                if url is not None and _under(url, d.arg):
                    eff.add(d.wsgi)
            elif d.kind != "locationmatch" and _dir_matches(d, script):
                eff.add(d.wsgi)
        return eff

    # -- routes --------------------------------------------------------------
    def routes(self, server: ServerContext, groups: dict[str, DaemonGroup]) -> list[Route]:
        aliases = list(server.script_aliases)
        if server is not self.c.main:
            aliases += self.c.main.script_aliases
        sections = self.sections(server)
        prefix_routes: list[Route] = []
        pattern_routes: list[Route] = []
        seen: dict[str, ScriptAlias] = {}
        for alias in aliases:
            rules.script_exists(alias.script, alias.node)
            if alias.pattern:
                pattern_routes.append(self.route(server, alias, None, alias.node, sections, groups))
                continue
            prefix = alias.url.rstrip("/") or "/"
            if prefix in seen:
                self.warn(f"{alias.node.where}: {alias.node.name}: {alias.url} is already mapped "
                          f"at {seen[prefix].node.where}; the first one wins, as in mod_wsgi")
                continue
            for earlier in seen.values():
                if not earlier.pattern and _under(prefix, earlier.url.rstrip("/") or "/"):
                    self.warn(f"{alias.node.where}: {alias.node.name}: mod_wsgi would never "
                              f"reach {alias.url} because {earlier.url} at {earlier.node.where} "
                              f"comes first; fastwsgi routes the longest prefix first")
            seen[prefix] = alias
            base = self.route(server, alias, prefix, alias.node, sections, groups)
            prefix_routes.append(base)
            inner: set[str] = set()
            for d in reversed(sections):  # the last <Location> of a path names the route
                if (d.kind == "location" and d.arg != prefix and _under(d.arg, prefix)
                        and d.arg not in inner
                        and (d.wsgi.routes_differ or d.wsgi.restrict or d.wsgi.env)):
                    inner.add(d.arg)
                    extra = self.route(server, alias, d.arg, d.node, sections, groups)
                    if (extra.process_group, extra.application_group, extra.callable_object) != (
                            base.process_group, base.application_group, base.callable_object):
                        prefix_routes.append(extra)
        # Longest first; equal lengths keep the order they were met in.
        prefix_routes.sort(key=lambda r: -len(r.prefix))
        return prefix_routes + pattern_routes

    def route(self, server: ServerContext, alias: ScriptAlias, prefix: str | None,
              source: Node, sections: list[DirSection], groups: dict[str, DaemonGroup]) -> Route:
        mount = None if alias.pattern else alias.url.rstrip("/")
        eff = self.effective(server, alias.script, prefix, sections)
        env = eff.env or {}

        def what(node: Node) -> str:
            """How a message names the application: its line only if elsewhere."""
            here = f"the application at {alias.url}"
            return here if node is alias.node else f"{here} ({alias.node.name} at {alias.node.where})"
        pg_set = alias.options.get("process-group")
        pg_node = alias.node if pg_set is not None else (
            eff.process_group.node if eff.process_group else alias.node)
        pg_value = pg_set if pg_set is not None else (
            eff.process_group.value if eff.process_group else None)
        ag_value = alias.options.get("application-group",
                                     eff.application_group.value if eff.application_group else None)
        ag_node = alias.node if "application-group" in alias.options or not eff.application_group \
            else eff.application_group.node
        co_value = alias.options.get("callable-object",
                                     eff.callable_object.value if eff.callable_object else None)
        co_node = alias.node if eff.callable_object is None else eff.callable_object.node
        group = self.expand(pg_value, "process", server, mount, env, pg_node, what(pg_node))
        app_group = self.expand(ag_value, "application", server, mount, env, ag_node,
                                what(ag_node))
        callable_object = self.expand(co_value, "callable", server, mount, env, co_node,
                                      what(co_node))
        name = self.server_name(server)
        preload = ("process-group" in alias.options and "application-group" in alias.options
                   and "%{" not in alias.options["process-group"] + alias.options["application-group"]
                   and not (alias.pattern and "$" in alias.script))
        # mod_wsgi preloads the script of an alias that names both groups, as
        # WSGIImportScript would (embedded too, when the group is %{GLOBAL}).
        imports = self.embedded_imports
        if group:
            daemon = rules.find_group(groups, group, pg_node, what(pg_node), name)
            rules.group_reachable(daemon, name, pg_node, what(pg_node))
            app = (alias.script, app_group, callable_object)
            if app not in daemon.apps:
                daemon.apps.append(app)
            imports = daemon.imports
        if preload and source is alias.node and (alias.script, app_group) not in imports:
            imports.append((alias.script, app_group))
        if eff.restrict is not None:
            rules.restricted(eff.restrict.value, eff.restrict.node, group, source, what(source))
        return Route(prefix=prefix if prefix is not None else "", mount=mount,
                     script=alias.script, process_group=group, application_group=app_group,
                     source=source.where, pattern=alias.url if alias.pattern else None,
                     callable_object=callable_object)

    # -- logs --------------------------------------------------------------
    def access_logs(self, server: ServerContext) -> list[AccessLog]:
        logs = []
        for path, fmt, node in server.access_logs:
            resolved = self.c.log_formats.get(fmt, DEFAULT_LOG_FORMATS.get(fmt))
            if resolved is None:
                resolved = fmt
                if "%" not in fmt:
                    self.warn(f"{node.where}: {node.name}: {fmt!r} is no LogFormat nickname; "
                              f"it is used as a literal format, as Apache does")
            logs.append(AccessLog(path, resolved, node.where))
        return logs

    def vhost(self, server: ServerContext, groups: dict[str, DaemonGroup]) -> VirtualHost:
        main = self.c.main
        name = server.server_name or (main.server_name if server is not main else None)
        port = server.server_port if server.server_name else None
        return VirtualHost(
            addresses=list(server.addresses), server_name=name, server_port=port,
            aliases=list(server.aliases), routes=self.routes(server, groups),
            error_log=server.error_log.value if server.error_log and server is not main else None,
            access_logs=self.access_logs(server) or (self.access_logs(main) if server is not main
                                                       else []),
            source=server.source)

    # -- the whole site ----------------------------------------------------
    def listens(self) -> list[str]:
        if self.c.listens:
            return [spec for spec, _ in self.c.listens]
        ports = sorted({p for v in self.c.vhosts for _, p in v.addresses if p}) or [80]
        specs = [f"0.0.0.0:{p}" for p in ports]
        self.warn(f"{self.main_file}: Listen: no Listen directive; "
                  f"listening on {', '.join(specs)} (the ports of the <VirtualHost> lines, "
                  f"else Apache's usual 80)")
        return specs

    def site(self) -> Site:
        c = self.c
        main = c.main
        if c.user is not None:
            rules.router_identity("user", c.user.value, c.user.node)
        if c.group is not None:
            rules.router_identity("group", c.group.value, c.group.node)
        if c.python_home is not None:
            rules.python_home(c.python_home.value, c.python_home.node)
        listens = self.listens()
        self.unreachable_vhosts(listens)
        groups = build_groups(self, c)
        self.embedded_imports = build_imports(self, c, groups)
        vhosts = [self.vhost(v, groups) for v in c.vhosts]
        main_vhost = self.vhost(main, groups)
        body_limits = [s.limit_request_body for s in [main, *c.vhosts] if s.limit_request_body]
        limit = 0
        if body_limits:
            values = [s.value for s in body_limits if s.value]
            limit = min(values) if values else 0
            if len({s.value for s in body_limits}) > 1:
                self.warn(f"{body_limits[-1].node.where}: LimitRequestBody: fastwsgi has one "
                          f"limit for the whole server; using the smallest, {limit}")
        http = HttpConfig(binds=listens, keepalive_timeout=main.keepalive_timeout
                          if main.keepalive_timeout is not None else KEEPALIVE_TIMEOUT,
                          limit_request_body=limit)
        return Site(
            listens=listens, main=main_vhost, vhosts=vhosts, groups=list(groups.values()),
            http=http,
            limit_request_line=c.limits.get("limitrequestline", 8190),
            limit_request_fields=c.limits.get("limitrequestfields", 100),
            limit_request_field_size=c.limits.get("limitrequestfieldsize", 8190),
            timeout=main.timeout if main.timeout is not None else TIMEOUT,
            user=c.user.value if c.user else None, group=c.group.value if c.group else None,
            error_log=main.error_log.value if main.error_log else None,
            log_level=c.log_level, socket_prefix=c.socket_prefix, python_path=c.python_path,
            python_home=c.python_home.value if c.python_home else None,
            restrict_process=self.restrictions(), embedded_imports=self.embedded_imports)

    def unreachable_vhosts(self, listens: list[str]) -> None:
        """Apache ignores a virtual host on a port nothing listens on: say so."""
        ports = {int(spec.rpartition(":")[2]) for spec in listens}
        for v in self.c.vhosts:
            missing = sorted({p for _, p in v.addresses if p is not None and p not in ports})
            if missing:
                self.warn(f"{v.source}: <VirtualHost>: no Listen on port "
                          f"{', '.join(map(str, missing))}; requests cannot reach it there")

    def restrictions(self) -> list[tuple[str, list[str]]]:
        out = []
        for server in [self.c.main, *self.c.vhosts]:
            for w in [server.wsgi, *(d.wsgi for d in server.dirs)]:
                if w.restrict is not None:
                    out.append((w.restrict.node.where, list(w.restrict.value)))
        return out
