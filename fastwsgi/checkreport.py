"""``fastwsgi check``'s output: a resolved Site as readable tables."""

from __future__ import annotations

import os
import pwd
from collections.abc import Sequence

from fastwsgi.config import SETTINGS
from fastwsgi.site import DaemonGroup, Site, VirtualHost


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Columns padded to their widest cell; the last column is not padded."""
    if not rows:
        return [indent + "(none)"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) for c, w in zip(cells[:-1], widths[:-1], strict=True)] + [cells[-1]]
        return (indent + "  ".join(padded)).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"#{os.geteuid()}"


def _identity(user: str | None, group: str | None) -> str:
    """Who processes run as: user= applies only when fastwsgi starts as root."""
    if user is None:
        return f"{_current_user()} (the user fastwsgi is started as)"
    text = user + (f", group {group}" if group else "")
    if os.geteuid() != 0:
        text += f" (when started as root; started as {_current_user()} now, it stays so)"
    return text


def _vhost_label(v: VirtualHost) -> str:
    if not v.addresses:
        return "(main)"
    return v.server_name or "(no ServerName)"


def _address(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port if port is not None else '*'}"


def vhost_lines(site: Site) -> list[str]:
    rows = []
    for v in [*site.vhosts, site.main]:
        if not v.addresses and not v.routes and site.vhosts:
            continue
        rows.append([
            " ".join(_address(h, p) for h, p in v.addresses) or "(all)",
            (v.server_name or "-") + (f":{v.server_port}" if v.server_port else ""),
            " ".join(v.aliases) or "-",
            v.error_log or "(server's)",
            "; ".join(f"{a.path} [{a.format}]" for a in v.access_logs) or "-",
            v.source or "-",
        ])
    return table(["addresses", "ServerName", "ServerAlias", "error log", "access logs",
                  "defined at"], rows)


def mount_lines(site: Site) -> list[str]:
    rows = []
    for v in [*site.vhosts, site.main]:
        for r in v.routes:
            url = r.pattern if r.pattern is not None else r.prefix
            rows.append([
                _vhost_label(v), url,
                "(matched part)" if r.mount is None else (r.mount or "''"),
                r.script, r.process_group or "embedded",
                repr(r.application_group), r.callable_object, r.source])
    return table(["virtual host", "URL", "SCRIPT_NAME", "script", "process group",
                  "application group", "callable", "defined at"], rows)


def group_lines(g: DaemonGroup) -> list[str]:
    cfg = g.config
    out = [f"  {cfg.name}  (defined at {g.source})",
           "    usable by:  " + (f"virtual hosts named {g.server_name}" if g.server_name
                                  else "any virtual host"),
           f"    runs as:    {_identity(cfg.values.get('user'), cfg.values.get('group'))}",
           f"    error log:  {g.error_log or 'standard error'}"]
    apps = [[script, repr(app_group), call] for script, app_group, call in g.apps]
    out.append("    applications:")
    out += table(["script", "application group", "callable"], apps, indent="      ")
    if g.imports:
        out.append("    preloaded (WSGIImportScript):")
        out += table(["script", "application group"],
                     [[s, repr(a)] for s, a in g.imports], indent="      ")
    rows = []
    for s in SETTINGS:
        value = cfg.values.get(s.name, s.default)
        shown = "-" if value is None else (f"{value:04o}" if s.name == "umask" else str(value))
        origin = g.inherited.get(s.name) or ("set" if s.name in cfg.values else "default")
        rows.append([s.name, shown, origin])
    out.append("    options:")
    out += table(["option", "value", "from"], rows, indent="      ")
    return out


def format_site(site: Site) -> str:
    """The whole report, as printed by ``fastwsgi check``."""
    out = [f"Configuration: {site.files[0] if site.files else '?'}"]
    for extra in site.files[1:]:
        out.append(f"  includes {extra}")
    out += ["", "Listen:", *(f"  {spec}" for spec in site.listens)]
    http = site.http
    out += ["", "Router processes:",
            f"  runs as:           {_identity(site.user, site.group)}",
            f"  error log:         {site.error_log or 'standard error'} "
            f"(level {site.log_level})",
            f"  Timeout:           {site.timeout:g} s",
            f"  KeepAliveTimeout:  {http.keepalive_timeout:g} s",
            f"  LimitRequestBody:  {http.limit_request_body or 'no limit'}",
            f"  LimitRequestLine:  {site.limit_request_line}",
            f"  LimitRequestFields: {site.limit_request_fields}",
            f"  LimitRequestFieldSize: {site.limit_request_field_size}",
            f"  WSGISocketPrefix:  {site.socket_prefix or '(fastwsgi default)'}",
            f"  WSGIPythonPath:    {':'.join(site.python_path) or '-'}"]
    if site.embedded_imports:
        out.append("  preloaded embedded (WSGIImportScript):")
        out += table(["script", "application group"],
                     [[s, repr(a)] for s, a in site.embedded_imports], indent="    ")
    out += ["", "Virtual hosts (the first of an address is its default):", *vhost_lines(site)]
    out += ["", "Mounts (longest prefix first, then patterns):", *mount_lines(site)]
    out += ["", "Daemon process groups:"]
    if not site.groups:
        out.append("  (none: every application runs embedded in the router processes)")
    for g in site.groups:
        out += group_lines(g)
    if site.restrict_process:
        out += ["", "WSGIRestrictProcess:"]
        out += table(["context", "allowed groups"],
                     [[where, " ".join(n or "%{GLOBAL}" for n in names)]
                      for where, names in site.restrict_process])
    out += ["", f"Warnings ({len(site.warnings)}):", *(f"  {w}" for w in site.warnings)]
    return "\n".join(out) + "\n"
