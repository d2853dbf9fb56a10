"""The resolved configuration of a whole site: what ``fastwsgi run -f`` serves.

A configuration file in Apache's syntax (fastwsgi/apacheconf/) is read into
one Site: listening addresses, virtual hosts with their routes, the daemon
process groups, the identity and logs of the router processes. Everything
here is already validated and resolved (paths absolute, defaults filled in,
%{GLOBAL} / %{ENV:..} expanded, Location/Directory contexts flattened into
routes), so the runtime (supervisor, router, daemons) and ``fastwsgi check``
never look at the configuration text again.

Routing, as the router does it per request:
1. the virtual host: among those whose addresses match the local address and
   port the request came in on, the first whose ServerName or ServerAlias
   (wildcards * and ?) matches the Host header (port stripped, lower-case);
   if none matches, the first of them (Apache's default virtual host); if no
   virtual host listens on that address, ``Site.main``;
2. the route: the one with the longest ``prefix`` that matches the URL path
   at a segment boundary (prefix '/app' matches '/app' and '/app/x', never
   '/application'); then the pattern routes (WSGIScriptAliasMatch) in file
   order; ``VirtualHost.routes`` is already in that order (see Route);
3. SCRIPT_NAME is the route's ``mount`` (''), PATH_INFO the rest of the path,
   as mod_wsgi splits them; the request goes to ``process_group`` (a daemon
   group's socket) or, when that is '', runs embedded in the router process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastwsgi.config import GroupConfig, HttpConfig


@dataclass(frozen=True)
class Route:
    """One URL space of a virtual host and where its requests go.

    A WSGIScriptAlias gives one Route (prefix == mount). A <Location> inside
    it that sets WSGIProcessGroup / WSGIApplicationGroup gives one more Route
    with the Location's path as ``prefix`` but the alias' ``mount`` (SCRIPT_NAME
    stays the alias URL). Routes are listed longest prefix first; pattern
    routes (WSGIScriptAliasMatch) follow the prefix routes in file order.
    """

    #: URL prefix without a trailing slash ('' would never occur: '/' for the root).
    prefix: str
    #: SCRIPT_NAME of requests on this route: the alias URL without a trailing
    #: slash ('' for an alias of '/'). None for pattern routes: there SCRIPT_NAME
    #: is the part of the path the pattern matched.
    mount: str | None
    #: Absolute path of the WSGI script. For pattern routes it may hold \\1..\\9
    #: or $1..$9 back-references (expanded per request); when it ends with '/'
    #: the alias maps a directory and the next path segment names the script.
    script: str
    #: Daemon process group the requests go to; '' = embedded (router process).
    process_group: str
    #: Resolved application group ('' for %{GLOBAL}; the default is
    #: '<server name>|<mount>' as mod_wsgi's %{RESOURCE}).
    application_group: str
    #: Where it was configured: "file:line".
    source: str
    #: WSGIScriptAliasMatch regular expression (Python re syntax), else None.
    pattern: str | None = None
    #: WSGICallableObject for this route (default 'application').
    callable_object: str = "application"


@dataclass
class AccessLog:
    """A CustomLog line: where, and the Apache log format string it uses."""

    path: str                 # absolute; '-' never occurs (Apache has no such thing)
    format: str               # the format string, nicknames already resolved
    source: str


@dataclass
class VirtualHost:
    """A <VirtualHost> section, or the main server (addresses == [])."""

    #: (host, port) of the section header: host is '*', '_default_', an IPv4
    #: address or an IPv6 address without brackets; port None = any.
    addresses: list[tuple[str, int | None]]
    server_name: str | None      # lower-case, without :port; None = not set
    server_port: int | None      # the :port of ServerName, if any
    aliases: list[str]           # lower-case, may contain * and ?
    routes: list[Route] = field(default_factory=list)
    error_log: str | None = None         # None = the server's ErrorLog
    access_logs: list[AccessLog] = field(default_factory=list)
    source: str = ""


@dataclass
class DaemonGroup:
    """A WSGIDaemonProcess line: a group and where it belongs."""

    config: GroupConfig          # name, options (defaults filled by GroupConfig)
    #: ServerName of the virtual host it was defined in; None = outside all
    #: virtual hosts (usable by any application).
    server_name: str | None
    #: The error log the group's processes write to: the virtual host's
    #: ErrorLog when defined inside one, else the server's (None = stderr).
    error_log: str | None
    source: str
    #: The WSGI scripts routed to this group: (script, application group,
    #: callable). A daemon loads only these (and its WSGIImportScript ones).
    apps: list[tuple[str, str, str]] = field(default_factory=list)
    #: WSGIImportScript: (script, application group) preloaded at start.
    imports: list[tuple[str, str]] = field(default_factory=list)
    #: Options filled from the server rather than the line itself, and from
    #: which directive: {'user': 'User', 'socket-timeout': 'Timeout'} (for
    #: ``fastwsgi check``'s output).
    inherited: dict[str, str] = field(default_factory=dict)


@dataclass
class Site:
    """Everything ``fastwsgi run -f`` needs, resolved and validated."""

    #: Listen directives as fastwsgi bind specs ('0.0.0.0:80', '[::1]:8080',
    #: '127.0.0.1:8000').
    listens: list[str]
    main: VirtualHost
    vhosts: list[VirtualHost]
    groups: list[DaemonGroup]
    #: HTTP side of the router processes (timeouts, body limit, access log unused
    #: here: access logs are per virtual host).
    http: HttpConfig
    #: LimitRequestLine / LimitRequestFields / LimitRequestFieldSize (Apache defaults).
    limit_request_line: int = 8190
    limit_request_fields: int = 100
    limit_request_field_size: int = 8190
    #: Timeout: Apache's default socket-timeout for daemon groups, seconds.
    timeout: float = 60.0
    #: User / Group of the router processes (applied when started as root).
    user: str | None = None
    group: str | None = None
    error_log: str | None = None         # None = standard error
    log_level: str = "warning"           # fastwsgi level name
    #: WSGISocketPrefix: group sockets are '<prefix>.<pid>.<n>.sock'.
    socket_prefix: str = ""
    python_path: list[str] = field(default_factory=list)
    python_home: str | None = None
    #: WSGIRestrictProcess: (context source, allowed group names); checked
    #: when resolving routes, kept for ``fastwsgi check``'s output.
    restrict_process: list[tuple[str, list[str]]] = field(default_factory=list)
    #: WSGIImportScript lines for embedded mode (process-group=%{GLOBAL}/'').
    embedded_imports: list[tuple[str, str]] = field(default_factory=list)
    #: Warnings met while reading (one per skipped directive), already logged.
    warnings: list[str] = field(default_factory=list)
    #: The files read, in order (the main file first, then Includes).
    files: list[str] = field(default_factory=list)

    def daemon_group(self, name: str) -> DaemonGroup:
        for g in self.groups:
            if g.config.name == name:
                return g
        raise KeyError(name)
