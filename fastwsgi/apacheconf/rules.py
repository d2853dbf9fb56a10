"""mod_wsgi's rules, checked once everything is read.

1. A daemon group name is unique server-wide (mod_wsgi: "Name duplicates
   previous WSGI daemon definition"); the error names both lines.
2. A group defined inside a <VirtualHost> serves only applications of
   virtual hosts with the same ServerName; one outside all of them serves
   any (mod_wsgi refuses the request with "process group not accessible";
   fastwsgi refuses the configuration, which is kinder).
3. WSGIProcessGroup / process-group= must name a defined group or %{GLOBAL}.
4. WSGIRestrictProcess lists the groups a context may select.
5. The WSGI script must exist and be readable: Apache would answer 404 at
   request time; saying so at check time is kinder.
6. WSGIImportScript needs both process-group= and application-group=, and
   the group defined above it and reachable from where the line is.
"""

from __future__ import annotations

import grp
import os
import pwd
import sys

from fastwsgi.apacheconf.contexts import DaemonDef
from fastwsgi.apacheconf.lexer import Node
from fastwsgi.site import DaemonGroup


def unique_group(daemon: DaemonDef, seen: dict[str, DaemonDef]) -> None:
    first = seen.get(daemon.name)
    if first is not None:
        raise daemon.node.error(f"process group {daemon.name!r} is already defined at "
                                f"{first.node.where}; valid: a name used once in the whole "
                                f"server (both definitions: {first.node.where} and "
                                f"{daemon.node.where})")
    seen[daemon.name] = daemon


def group_reachable(group: DaemonGroup, server_name: str, node: Node, what: str) -> None:
    """Rule 2: refuse a group of another virtual host."""
    if group.server_name is not None and group.server_name != server_name:
        raise node.error(f"{what} uses process group {group.config.name!r} defined at "
                         f"{group.source} inside the virtual host {group.server_name!r}; only "
                         f"applications of virtual hosts named {group.server_name!r} may use it "
                         f"(this one is {server_name!r}); valid: a group defined in this "
                         f"virtual host or outside all virtual hosts")


def find_group(groups: dict[str, DaemonGroup], name: str, node: Node, what: str,
               server_name: str) -> DaemonGroup:
    """Rule 3."""
    group = groups.get(name)
    if group is None:
        usable = sorted(n for n, g in groups.items()
                        if g.server_name is None or g.server_name == server_name)
        raise node.error(f"{what} uses process group {name!r}, which no WSGIDaemonProcess "
                         f"defines; valid: {', '.join(usable + ['%{GLOBAL}'])}")
    return group


def restricted(allowed: list[str] | None, restrict_node: Node | None, group: str,
               node: Node, what: str) -> None:
    """Rule 4."""
    if allowed is not None and group not in allowed and restrict_node is not None:
        shown = ", ".join("%{GLOBAL}" if n == "" else n for n in allowed)
        raise node.error(f"{what} selects process group {group or '%{GLOBAL}'!r}, which "
                         f"WSGIRestrictProcess at {restrict_node.where} does not allow; "
                         f"valid: {shown}")


def script_exists(script: str, node: Node) -> None:
    """Rule 5 (pattern routes with back-references are checked per request)."""
    if any(f"${i}" in script or f"\\{i}" in script for i in range(10)):
        return
    if script.endswith("/"):
        if not os.path.isdir(script):
            raise node.error(f"directory {script} does not exist; valid: an existing directory "
                             f"of WSGI scripts")
        return
    if not os.path.isfile(script):
        raise node.error(f"WSGI script {script} does not exist or is not a file; valid: an "
                         f"existing file (relative paths start at ServerRoot)")
    if not os.access(script, os.R_OK):
        raise node.error(f"WSGI script {script} is not readable; valid: a file the server "
                         f"can read")


def router_identity(kind: str, value: str, node: Node) -> None:
    """User/Group: must exist; User may not be root (Apache refuses it too)."""
    numeric = value.startswith("#") and value[1:].isdigit()
    try:
        if kind == "user":
            uid = pwd.getpwuid(int(value[1:])).pw_uid if numeric else pwd.getpwnam(value).pw_uid
            if uid == 0:
                raise node.error("the router processes may not run as root; valid: an "
                                 "unprivileged user such as www-data")
        elif not numeric:
            grp.getgrnam(value)
    except KeyError:
        raise node.error(f"no such {kind} {value!r}; valid: an existing {kind} name or "
                         f"#{'uid' if kind == 'user' else 'gid'}") from None


def python_home(home: str, node: Node) -> None:
    """WSGIPythonHome must be the running interpreter's prefix.

    fastwsgi does not embed an interpreter: applications run in the Python
    that runs fastwsgi, so another home would silently be ignored.
    """
    if os.path.realpath(home) != os.path.realpath(sys.prefix):
        raise node.error(f"{home} is not the prefix of the Python running fastwsgi "
                         f"({sys.prefix}); valid: {sys.prefix}, or start fastwsgi with "
                         f"{os.path.join(home, 'bin', 'python')} -m fastwsgi")
