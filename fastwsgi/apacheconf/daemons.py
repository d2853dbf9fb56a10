"""WSGIDaemonProcess and WSGIImportScript lines -> DaemonGroups.

Options go through fastwsgi.config's settings table (the same conversion
and messages as ``fastwsgi serve --flag``). Where mod_wsgi fills a default
from the server, so do we: user=/group= default to the User/Group of the
server (mod_wsgi starts daemons as Apache's User), and socket-timeout to
Timeout (mod_wsgi uses the server's Timeout when socket-timeout is 0).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from fastwsgi.apacheconf import rules
from fastwsgi.apacheconf.contexts import Collected, DaemonDef
from fastwsgi.apacheconf.directives import DAEMON_IGNORED
from fastwsgi.config import BY_NAME, GroupConfig, convert, validate_group_name
from fastwsgi.errors import ConfigError
from fastwsgi.site import DaemonGroup

if TYPE_CHECKING:
    from fastwsgi.apacheconf.build import Builder

VALID_OPTIONS = sorted(set(BY_NAME) | DAEMON_IGNORED)


def parse_daemon_options(daemon: DaemonDef, warn: Any) -> dict[str, Any]:
    """The name=value words of one WSGIDaemonProcess line, converted."""
    values: dict[str, Any] = {}
    node = daemon.node
    for word in daemon.words:
        name, sep, raw = word.partition("=")
        if not sep:
            raise node.error(f"option {word!r} is not of the form name=value; valid options: "
                             f"{', '.join(VALID_OPTIONS)}")
        if name == "python-home":
            # Not ignorable: applications would import another Python's packages.
            rules.python_home(raw, node)
            continue
        if name in DAEMON_IGNORED:
            warn(f"{node.where}: WSGIDaemonProcess: option {name} of group {daemon.name!r} is "
                 f"not implemented by fastwsgi; ignored")
            continue
        if name not in BY_NAME:
            raise node.error(f"unknown option {name!r}; valid: {', '.join(VALID_OPTIONS)}")
        if name in values:
            raise node.error(f"option {name} is given twice; valid: each option once")
        try:
            values[name] = convert(name, raw)
        except ConfigError as exc:
            raise node.error(str(exc)) from None
    return values


def build_groups(builder: Builder, c: Collected) -> dict[str, DaemonGroup]:
    """Every daemon group, by name, with the server's defaults applied."""
    seen: dict[str, DaemonDef] = {}
    groups: dict[str, DaemonGroup] = {}
    for daemon in c.daemons:
        try:
            validate_group_name(daemon.name)
        except ConfigError as exc:
            raise daemon.node.error(str(exc)) from None
        rules.unique_group(daemon, seen)
        values = parse_daemon_options(daemon, builder.warn)
        inherited: dict[str, str] = {}
        if "user" not in values and c.user is not None:
            values["user"] = convert("user", c.user.value)
            inherited["user"] = f"User ({c.user.node.where})"
        # mod_wsgi: the group defaults to Apache's Group even when user= is given.
        if "group" not in values and c.group is not None:
            values["group"] = convert("group", c.group.value)
            inherited["group"] = f"Group ({c.group.node.where})"
        if "socket-timeout" not in values:
            server_timeout = daemon.server.timeout
            if server_timeout is None:
                server_timeout = c.main.timeout
            values["socket-timeout"] = server_timeout if server_timeout is not None else 60.0
            inherited["socket-timeout"] = ("Timeout" if server_timeout is not None
                                           else "Timeout (Apache's default)")
        in_vhost = daemon.server is not c.main
        error_log = None
        if in_vhost and daemon.server.error_log is not None:
            error_log = daemon.server.error_log.value
        if error_log is None and c.main.error_log is not None:
            error_log = c.main.error_log.value
        groups[daemon.name] = DaemonGroup(
            config=GroupConfig(name=daemon.name, app="", values=values),
            server_name=builder.server_name(daemon.server) if in_vhost else None,
            error_log=error_log, source=daemon.node.where, inherited=inherited)
    return groups


def build_imports(builder: Builder, c: Collected,
                  groups: dict[str, DaemonGroup]) -> list[tuple[str, str]]:
    """WSGIImportScript lines onto their groups; returns the embedded ones."""
    embedded: list[tuple[str, str]] = []
    order = [d.name for d in c.daemons]
    for node, server, defined_before in c.imports:
        script, *words = node.args
        options: dict[str, str] = {}
        for word in words:
            name, sep, value = word.partition("=")
            if not sep or name not in ("process-group", "application-group") or not value:
                raise node.error(f"invalid option {word!r}; valid: process-group=NAME "
                                 f"application-group=NAME (both required)")
            options[name] = value
        for required in ("process-group", "application-group"):
            if required not in options:
                raise node.error(f"{required}= is required; valid: WSGIImportScript FILE "
                                 f"process-group=NAME application-group=NAME")
        path = os.path.normpath(os.path.join(c.server_root, script))
        rules.script_exists(path, node)
        app_group = builder.expand(options["application-group"], "application", server,
                                   None, {}, node, f"WSGIImportScript {script}")
        group = options["process-group"]
        if group == "%{GLOBAL}":
            embedded.append((path, app_group))
            continue
        if group not in groups:
            raise node.error(f"process group {group!r} is not defined; valid: "
                             f"{', '.join(order) or 'a WSGIDaemonProcess above this line'}")
        if group not in order[:defined_before]:
            raise node.error(f"process group {group!r} is defined at {groups[group].source}, "
                             f"below this line; valid: move WSGIImportScript after its "
                             f"WSGIDaemonProcess (mod_wsgi requires it)")
        daemon = groups[group]
        rules.group_reachable(daemon, builder.server_name(server), node,
                              f"WSGIImportScript {script}")
        if (path, app_group) not in daemon.imports:
            daemon.imports.append((path, app_group))
    return embedded
