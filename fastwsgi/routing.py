"""The router's tables for a whole Site, built once per router process.

fastwsgi/site.py defines the rules; cext/dispatch.pyx applies them per
request from what is built here: per listener the candidate virtual hosts
in Apache's order (specific address, then '*', then '_default_', else the
main server), per virtual host its routes (prefix dict, compiled patterns)
and access-log set, per daemon group one RelayApp, per embedded application
group one HttpApp whose application loads scripts on first use.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from types import ModuleType

from fastwsgi._cext import (
    HostChooser,
    HttpApp,
    ListenerMap,
    RelayApp,
    RequestHandler,
    SiteApp,
    SiteHost,
    SiteRoute,
)
from fastwsgi.access_log import SiteAccessLogs
from fastwsgi.apps import Applications
from fastwsgi.config import GroupConfig, HttpConfig
from fastwsgi.errors import StartupError
from fastwsgi.log import log
from fastwsgi.site import Route, Site, VirtualHost
from fastwsgi.wsgi import base_environ

_WILDCARD_ADDRESSES = ("0.0.0.0", "::")
_BACKREF = re.compile(r"[\\$]([0-9])")


def normal_address(host: str) -> str:
    """'::FFFF:127.0.0.1' -> '127.0.0.1', IPv6 compressed; other text unchanged."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return ip.compressed


def _address_matches(vhost: VirtualHost, kinds: tuple[str, ...], ip: str | None,
                     port: int) -> bool:
    for host, vport in vhost.addresses:
        if vport is not None and vport != port:
            continue
        if host in kinds or (ip is not None and host not in ("*", "_default_")
                             and normal_address(host) == ip):
            return True
    return False


def candidates(site: Site, ip: str | None, port: int) -> list[VirtualHost]:
    """The virtual hosts a connection to ip:port may reach, in order (Apache's tiers)."""
    for kinds, addr in (((), ip), (("*",), None), (("_default_",), None)):
        found = [v for v in site.vhosts if _address_matches(v, kinds, addr, port)]
        if found:
            return found
    return [site.main]


def wildcard_regex(name: str) -> re.Pattern[str]:
    """A ServerAlias with * and ? as a regular expression (whole name)."""
    return re.compile("".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch)
                              for ch in name))


def script_parts(script: str) -> list[str | int]:
    """'/srv/\\1/$2.wsgi' -> ['/srv/', 1, '/', 2, '.wsgi'] (back-references as ints)."""
    parts: list[str | int] = []
    pos = 0
    for m in _BACKREF.finditer(script):
        if m.start() > pos:
            parts.append(script[pos:m.start()])
        parts.append(int(m.group(1)))
        pos = m.end()
    if pos < len(script):
        parts.append(script[pos:])
    return parts


class EmbeddedApps(Applications):
    """The applications run in the router process itself (mod_wsgi's embedded
    mode): chosen, loaded lazily and retried exactly as a daemon's (apps.py)."""

    def __init__(self, site: Site) -> None:
        keys = [(r.script, r.application_group, r.callable_object)
                for vhost in [site.main, *site.vhosts] for r in vhost.routes
                if not r.process_group]
        super().__init__("", keys, site.embedded_imports, where="the router process (embedded)")

    def _module(self, script: str, app_group: str) -> ModuleType:
        if (script, app_group) not in self.modules:
            log.info("Loading WSGI script '%s' (application group '%s') embedded in router "
                     "process (pid=%d).", script, app_group, os.getpid())
        return super()._module(script, app_group)

    def _note_loaded(self, script: str, app_group: str, imported: bool) -> None:
        pass  # _module said it before executing the script


class SiteHandlers:
    """The request handlers of one router process: per daemon group, per embedded group."""

    def __init__(self, site: Site, http: HttpConfig, server_addresses: list[tuple[str, str]],
                 multiprocess: bool, multithread: bool) -> None:
        self.site = site
        self.http = http
        self.server_addresses = server_addresses
        self.multiprocess = multiprocess
        self.multithread = multithread
        self.embedded = EmbeddedApps(site)
        self._relays: dict[str, RelayApp] = {}
        self._embedded: dict[str, HttpApp] = {}

    def for_route(self, route: Route) -> RequestHandler:
        """The handler of a route's process group ('' = embedded), built once."""
        if route.process_group:
            try:
                return self._relay(route.process_group)
            except KeyError:
                raise StartupError(f"{route.source}: no daemon process group named "
                                   f"{route.process_group!r}") from None
        app = self._embedded.get(route.application_group)
        if app is None:
            base = base_environ(process_group="", application_group=route.application_group,
                                multiprocess=self.multiprocess, multithread=self.multithread,
                                run_once=False)
            app = HttpApp(self.embedded, base,
                          self.server_addresses, self.http.limit_request_body)
            self._embedded[route.application_group] = app
        return app

    def _relay(self, name: str) -> RelayApp:
        relay = self._relays.get(name)
        if relay is None:
            relay = relay_to(self.site.daemon_group(name).config, self.server_addresses,
                             self.http.limit_request_body)
            self._relays[name] = relay
        return relay


def relay_to(group: GroupConfig, server_addresses: list[tuple[str, str]],
             limit_request_body: int) -> RelayApp:
    """The handler that relays requests to a group's socket, with the group's options."""
    return RelayApp(group.name, group.socket_path, server_addresses, group.connect_timeout,
                    group.socket_timeout, group.receive_buffer_size, group.send_buffer_size,
                    limit_request_body)


def _site_host(vhost: VirtualHost, handlers: SiteHandlers, log_set: int) -> SiteHost:
    routes = []
    for r in vhost.routes:
        route = SiteRoute(r.prefix, r.mount, r.script, r.process_group, r.application_group,
                          r.callable_object, r.source,
                          re.compile(r.pattern) if r.pattern is not None else None,
                          script_parts(r.script) if r.pattern is not None else None)
        route.handler = handlers.for_route(r)
        routes.append(route)
    return SiteHost(vhost.server_name or vhost.source or "(main server)", routes, log_set)


def _chooser(vhosts: list[VirtualHost], hosts: dict[int, SiteHost]) -> HostChooser:
    exact: dict[str, tuple[int, SiteHost]] = {}
    wild: list[tuple[int, re.Pattern[str], SiteHost]] = []
    for order, v in enumerate(vhosts):
        host = hosts[id(v)]
        for name in ([v.server_name] if v.server_name else []) + v.aliases:
            if "*" in name or "?" in name:
                wild.append((order, wildcard_regex(name), host))
            else:
                exact.setdefault(name, (order, host))
    return HostChooser(exact, wild, hosts[id(vhosts[0])])


def _listener_map(site: Site, sock: socket.socket, hosts: dict[int, SiteHost]) -> ListenerMap:
    addr = sock.getsockname()
    ip, port = normal_address(str(addr[0])), int(addr[1])
    if ip not in _WILDCARD_ADDRESSES:
        return ListenerMap(_chooser(candidates(site, ip, port), hosts))
    # A wildcard listener: which virtual hosts apply depends on the address
    # each connection came in on, when some virtual host names one.
    specific = {normal_address(h) for v in site.vhosts for h, p in v.addresses
                if h not in ("*", "_default_") and (p is None or p == port)}
    fallback = _chooser(candidates(site, None, port), hosts)
    if not specific:
        return ListenerMap(fallback)
    return ListenerMap(None, {a: _chooser(candidates(site, a, port), hosts) for a in specific},
                       fallback)


def build_site_app(site: Site, http: HttpConfig, listeners: list[socket.socket],
                   server_addresses: list[tuple[str, str]], logs: SiteAccessLogs,
                   multiprocess: bool, multithread: bool) -> tuple[SiteApp, SiteHandlers]:
    """The SiteApp a router process serves the site with (and its handlers)."""
    handlers = SiteHandlers(site, http, server_addresses, multiprocess, multithread)
    hosts: dict[int, SiteHost] = {}
    for v in [site.main, *site.vhosts]:
        entries = v.access_logs or site.main.access_logs
        hosts[id(v)] = _site_host(v, handlers, logs.log_set(entries))
    maps = [_listener_map(site, s, hosts) for s in listeners]
    return SiteApp(maps, server_addresses, http.limit_request_body), handlers
