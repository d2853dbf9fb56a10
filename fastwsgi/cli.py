"""The command line: ``fastwsgi serve APP ...``, ``fastwsgi run -f FILE``, ``fastwsgi get``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from fastwsgi import __version__
from fastwsgi import log as logmod
from fastwsgi.appload import default_group_name
from fastwsgi.config import (
    SETTINGS,
    GroupConfig,
    HttpConfig,
    RouterConfig,
    convert,
    validate_group_name,
)
from fastwsgi.errors import ConfigError
from fastwsgi.sockets import parse_bind


def _add_settings(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "daemon process group options (the WSGIDaemonProcess options of the same names)")
    for s in SETTINGS:
        default = "" if s.default is None else f" (default: {s.default})"
        # argparse %-formats help texts: display-name's %{GROUP} must be escaped.
        group.add_argument(f"--{s.name}", dest=s.attr, metavar=s.flag_metavar, default=None,
                           help=(s.help + default).replace("%", "%%"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastwsgi",
        description="mod_wsgi daemon mode as a standalone WSGI server.")
    parser.add_argument("--version", action="version", version=f"fastwsgi {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser(
        "serve", help="run one application in a daemon process group",
        description="Run APP in a daemon process group: N processes x M threads that "
                    "serve HTTP/1.1 themselves (--bind), or answer on a UNIX socket in the "
                    "uwsgi protocol that Apache's mod_proxy_uwsgi and nginx's uwsgi_pass "
                    "speak (--uwsgi-socket).")
    serve.add_argument("app", metavar="APP",
                       help="a WSGI script (/srv/site/app.wsgi, app.py; defines 'application', "
                            "or name it as script.py::name) or module:callable")
    serve.add_argument("--bind", metavar="ADDRESS", action="append", default=[],
                       help="serve HTTP on HOST:PORT, [IPV6]:PORT or unix:PATH (repeatable; "
                            "default 127.0.0.1:8000 unless --uwsgi-socket is given)")
    serve.add_argument("--uwsgi-socket", metavar="PATH",
                       help="instead of HTTP, listen on this UNIX socket in the uwsgi protocol "
                            "(for Apache mod_proxy_uwsgi / nginx uwsgi_pass); mode 0600, owned "
                            "by --socket-user when started as root; removed on exit")
    serve.add_argument("--router", action="store_true",
                       help="serve HTTP (--bind) from separate router processes that relay "
                            "each request to the group over a private UNIX socket (two hops, "
                            "like mod_wsgi's Apache child and daemon)")
    serve.add_argument("--router-processes", type=int, default=os.cpu_count() or 1, metavar="N",
                       help="router processes (with --router; default: the CPU count, "
                            f"{os.cpu_count() or 1} here, as `run -f`)")
    serve.add_argument("--router-threads", type=int, default=16, metavar="N",
                       help="threads of each router process (with --router; default: 16)")
    http = serve.add_argument_group("HTTP (with --bind)")
    http.add_argument("--header-timeout", type=float, default=20.0, metavar="S",
                      help="seconds a client has to send a whole request head; also the wait "
                           "for the first request on a new connection (default: 20)")
    http.add_argument("--keep-alive-timeout", type=float, default=75.0, metavar="S",
                      help="seconds an idle keep-alive connection is kept (default: 75, longer "
                           "than common load balancers' idle timeouts)")
    http.add_argument("--access-log", metavar="FILE",
                      help="log every request in Apache's combined format to FILE ('-' = "
                           "standard output); reopened on SIGUSR1")
    http.add_argument("--limit-request-body", type=int, default=0, metavar="BYTES",
                      help="refuse larger request bodies with 413 before reading them "
                           "(default: 0 = no limit)")
    serve.add_argument("--process-group", metavar="NAME",
                       help="name of the daemon process group, shown in logs and as "
                            "mod_wsgi.process_group (default: derived from APP)")
    serve.add_argument("--application-group", metavar="NAME", default="",
                       help="value of mod_wsgi.application_group (default: '')")
    serve.add_argument("--error-log", metavar="FILE",
                       help="append the error log to FILE (default: standard error)")
    serve.add_argument("--log-level", default="info", choices=sorted(logmod.LEVELS),
                       help="least severe level logged (default: info)")
    _add_settings(serve)
    get = sub.add_parser("get", help="send one GET request to a group socket and print the answer",
                         description="Talk to a daemon group without a front-end.")
    get.add_argument("socket", metavar="SOCKET", help="the group's UNIX socket path")
    get.add_argument("path", metavar="PATH", nargs="?", default="/", help="URL path and query")
    get.add_argument("--include", "-i", action="store_true", help="print the response head too")
    from fastwsgi.runsite import add_run_parser
    add_run_parser(sub)
    check = sub.add_parser("check", help="validate an Apache-syntax site configuration",
                           description="Read FILE as `run -f` would, start nothing, and print "
                                       "the resolved virtual hosts, mounts and daemon groups.")
    check.add_argument("-f", dest="file", metavar="FILE", required=True,
                       help="the configuration file (Apache syntax)")
    from fastwsgi.benchtool.cli import add_parser as add_bench_parser
    add_bench_parser(sub)
    return parser


def check_command(args: argparse.Namespace) -> int:
    """`fastwsgi check -f FILE`: 0 and the report, or 2 and the error."""
    from fastwsgi.apacheconf import load_site_for_command
    from fastwsgi.checkreport import format_site
    site = load_site_for_command(args.file)
    if site is None:
        return 2
    sys.stdout.write(format_site(site))
    return 0


def get_command(args: argparse.Namespace) -> int:
    """`fastwsgi get`: one request, the body (and head) on standard output."""
    from fastwsgi.client import request
    path, _, query = args.path.partition("?")
    try:
        response = request(path, query=query, socket_path=args.socket)
    except (OSError, ValueError) as exc:
        print(f"fastwsgi: {args.socket}: {exc}", file=sys.stderr)
        return 1
    if args.include:
        sys.stdout.buffer.write(response.raw[:len(response.raw) - len(response.body)])
    sys.stdout.buffer.write(response.body)
    return 0 if response.status < 400 else 1


def group_from_args(args: argparse.Namespace) -> GroupConfig:
    """The GroupConfig of `serve` flags, validated through the settings table."""
    values = {}
    for s in SETTINGS:
        raw = getattr(args, s.attr)
        if raw is not None:
            values[s.name] = convert(s.name, raw, f"--{s.name}")
    name = validate_group_name(args.process_group or default_group_name(args.app))
    http = None
    if args.uwsgi_socket and args.bind:
        raise ConfigError("--bind and --uwsgi-socket are exclusive: a group listens either "
                          "for HTTP or for the uwsgi protocol")
    if not args.uwsgi_socket:
        for option in ("header_timeout", "keep_alive_timeout", "limit_request_body"):
            if getattr(args, option) < 0:
                raise ConfigError(f"--{option.replace('_', '-')} must be >= 0")
        binds = args.bind or ["127.0.0.1:8000"]
        for spec in binds:
            parse_bind(spec)
        http = HttpConfig(binds=binds, header_timeout=args.header_timeout,
                          keepalive_timeout=args.keep_alive_timeout,
                          limit_request_body=args.limit_request_body,
                          access_log=os.path.abspath(args.access_log)
                          if args.access_log and args.access_log != "-" else args.access_log)
    elif getattr(args, "router", False):
        raise ConfigError("--router serves HTTP (--bind); it cannot be used with --uwsgi-socket")
    return GroupConfig(name=name, app=args.app, application_group=args.application_group,
                       socket_path=os.path.abspath(args.uwsgi_socket) if args.uwsgi_socket else "",
                       values=values, http=http)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "get":
        return get_command(args)
    if args.command == "run":
        from fastwsgi.runsite import run_command
        return run_command(args)
    if args.command == "check":
        return check_command(args)
    if args.command == "bench":
        from fastwsgi.benchtool.cli import run as run_bench
        return run_bench(args)
    try:
        logmod.setup(args.error_log, args.log_level)
        cfg = group_from_args(args)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"fastwsgi: {exc}", file=sys.stderr)
        return 2
    routers = []
    if args.router:
        if args.router_threads < 1 or args.router_processes < 1:
            print("fastwsgi: --router-processes and --router-threads must be >= 1",
                  file=sys.stderr)
            return 2
        # The HTTP side moves to the routers; the group listens on a private
        # uwsgi socket (set by the supervisor).
        routers.append(RouterConfig(cfg, cfg.http, args.router_threads, args.router_processes))
        cfg.http = None
    from fastwsgi.supervisor import Supervisor
    try:
        return Supervisor([cfg], routers=routers).run()
    except ConfigError as exc:
        logmod.log.critical("%s", exc)
        print(f"fastwsgi: {exc}", file=sys.stderr)
        return 2
