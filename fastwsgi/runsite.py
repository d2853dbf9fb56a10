"""``fastwsgi run -f site.conf``: a whole Site under one supervisor.

The configuration is read and checked completely before anything starts
(fastwsgi.apacheconf.load_site; any error exits 2 naming file and line).
Then one supervisor runs:

- one daemon process group per WSGIDaemonProcess (Site.groups), each
  serving the applications routed to it (fastwsgi/apps.py), writing its log
  to its virtual host's ErrorLog, with WSGIPythonPath after its own
  python-path, on a socket only the routers' user and the group can reach;
- the router processes (RouterConfig(site=...)): HTTP on every Listen
  address, each request relayed to its group, or run in the router itself
  when the application is not delegated (embedded).

SIGTERM/SIGINT stop everything gracefully, SIGHUP reloads the groups (and
the routers when they hold embedded applications), SIGUSR1 reopens logs.
SIGHUP reloads the applications, not the configuration file: a changed file
needs a restart. After rotating a virtual host's ErrorLog that a group
writes, send SIGHUP rather than SIGUSR1 (as Apache's graceful restart,
which restarts mod_wsgi's daemons): the group's processes no longer run as
root and may not create the new file, while new processes open it before
dropping privileges.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from fastwsgi import log as logmod
from fastwsgi import privileges
from fastwsgi.apps import GroupApps
from fastwsgi.config import GroupConfig, RouterConfig, convert
from fastwsgi.errors import ConfigError
from fastwsgi.site import Site
from fastwsgi.supervisor import Supervisor


def add_run_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``run`` subcommand's arguments."""
    run = sub.add_parser(
        "run", help="run a whole site from an Apache-style configuration file",
        description="Read FILE (Apache syntax: VirtualHost, WSGIDaemonProcess, "
                    "WSGIScriptAlias, ...), refuse to start on any error, then run its daemon "
                    "process groups and the router processes that serve its Listen addresses.")
    run.add_argument("-f", "--file", required=True, metavar="FILE",
                     help="the configuration file (Include'd files are read too)")
    run.add_argument("--router-processes", type=int, default=os.cpu_count() or 1, metavar="N",
                     help="router processes serving HTTP (default: the CPU count, "
                          f"{os.cpu_count() or 1} here)")
    run.add_argument("--router-threads", type=int, default=16, metavar="N",
                     help="threads of each router process (default: 16)")
    run.add_argument("--log-level", choices=sorted(logmod.LEVELS), default=None,
                     help="least severe level logged (default: the file's LogLevel)")
    run.add_argument("--error-log", metavar="FILE", default=None,
                     help="the server's error log (default: the file's ErrorLog, else "
                          "standard error); groups inside a VirtualHost use its ErrorLog")


def run_command(args: argparse.Namespace) -> int:
    """``fastwsgi run``: load and check the file, then serve it; the exit code."""
    if args.router_processes < 1 or args.router_threads < 1:
        print("fastwsgi: --router-processes and --router-threads must be >= 1", file=sys.stderr)
        return 2
    from fastwsgi.apacheconf import load_site_for_command
    site = load_site_for_command(args.file)
    if site is None:
        return 2
    return run_site(site, router_processes=args.router_processes,
                    router_threads=args.router_threads, error_log=args.error_log,
                    log_level=args.log_level)


def run_site(site: Site, *, router_processes: int, router_threads: int = 16,
             error_log: str | None = None, log_level: str | None = None) -> int:
    """Serve a resolved Site until stopped; the exit code (2: refused to start).

    router_processes=0 starts no router (the groups are reached on their
    sockets only); the command line never asks for that.
    """
    try:
        logmod.setup(error_log or site.error_log, log_level or site.log_level)
        supervisor = site_supervisor(site, router_processes, router_threads)
        return supervisor.run()
    except (ConfigError, ValueError, OSError) as exc:
        logmod.log.critical("%s", exc)
        print(f"fastwsgi: {exc}", file=sys.stderr)
        return 2


def site_supervisor(site: Site, router_processes: int, router_threads: int) -> Supervisor:
    """The Supervisor of a Site: its groups, their applications, the routers."""
    check_logs(site)
    if site.python_home and os.path.realpath(site.python_home) != os.path.realpath(sys.prefix):
        logmod.log.warning("WSGIPythonHome %s is not the prefix of this interpreter (%s): "
                           "fastwsgi cannot switch interpreters; start it with that "
                           "environment's python instead.", site.python_home, sys.prefix)
    for g in site.groups:
        apply_server_identity(g.config, site)
    apps = {g.config.name: GroupApps(apps=tuple(g.apps), imports=tuple(g.imports),
                                     error_log=g.error_log, python_path=tuple(site.python_path),
                                     source=g.source)
            for g in site.groups}
    routers = []
    if router_processes > 0 and site.listens:
        http = dataclasses.replace(site.http, binds=list(site.listens))
        routers.append(RouterConfig(group=None, http=http, threads=router_threads,
                                    processes=router_processes, site=site))
    # The groups' GroupConfig objects are the Site's own: the supervisor sets
    # their socket_path before forking, and the routers read it from the Site.
    return Supervisor([g.config for g in site.groups], routers=routers, apps=apps,
                      socket_prefix=site.socket_prefix, socket_user=site.user)


def apply_server_identity(cfg: GroupConfig, site: Site) -> None:
    """A group without user= runs as the server's User (and Group), as in mod_wsgi.

    With user= but no group=, the user's primary group (privileges.resolve).
    Only applied when started as root, like every identity option.
    """
    if not privileges.applies():
        return
    if cfg.values.get("user") is None and site.user is not None:
        # Validated as user= is: a daemon group never runs as root.
        cfg.values["user"] = convert("user", site.user, f"User (default of group '{cfg.name}')")
        if cfg.values.get("group") is None and site.group is not None:
            cfg.values["group"] = convert("group", site.group, "Group")


def check_logs(site: Site) -> None:
    """Every error log can be opened for appending (as Apache opens them, before any fork)."""
    paths = {site.error_log} | {g.error_log for g in site.groups}
    for path in sorted(p for p in paths if p):
        try:
            with open(path, "a"):
                pass
        except OSError as exc:
            raise ConfigError(f"cannot open error log {path}: {exc.strerror}") from None
