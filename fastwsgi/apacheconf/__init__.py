"""Apache-syntax configuration files -> a validated fastwsgi.site.Site.

The parts, in the order they run:
- lexer.py: text -> tree (comments, continuations, quotes, ${VAR}, Include,
  Define, <IfModule>/<IfDefine>);
- contexts.py + handlers.py: tree -> what each server / virtual host /
  section says, every directive's arguments checked (directives.py is the
  table of what is read, skipped or refused, and where);
- build.py + daemons.py: inheritance and merging as Apache and mod_wsgi do
  them, %{...} expansion, routes; rules.py: mod_wsgi's rules.

Errors are ConfigError "FILE:LINE: Directive: what is wrong; valid: ...".
Skipped directives give one warning each, logged and kept in Site.warnings.

Where fastwsgi had to decide (Apache or mod_wsgi would behave otherwise, or
the question has no Apache answer):
- ``Listen 80`` / ``Listen *:80`` bind every IPv4 address ('0.0.0.0:80');
  IPv6 needs its own ``Listen [::]:80`` (fastwsgi's IPv6 sockets are
  v6-only). A wildcard and a specific address on one port are refused, as
  Linux refuses to bind both. ``Listen 443 https`` is refused (no TLS).
  Without any Listen, the ports of the <VirtualHost> lines are used (else
  80), with a warning, so the spec's example loads as written.
- <IfModule>: modules whose work fastwsgi does are present, all others
  absent (see lexer.MODULES_PRESENT); <IfVersion> compares with 2.4.62.
- ``${VAR}`` that neither Define nor the environment sets is an error in a
  directive fastwsgi uses, a section header or an Include; in a directive
  it skips, it does not matter (Debian's PidFile ${APACHE_PID_FILE}).
- Piped and syslog logs: a warning, and the server's log is used. A log
  file in a directory that does not exist is an error (Apache refuses to
  start then too). ``CustomLog ... env=`` conditions: warning, every
  request is logged.
- LimitRequestBody: one limit for the whole server, the smallest nonzero
  value of the main server and virtual hosts (warning if they differ); in
  <Location>/<Directory> it is ignored with a warning. KeepAliveTimeout and
  LimitRequestLine/Fields/FieldSize in a virtual host: ignored, warning.
- Timeout is also the socket-timeout of groups that do not set it
  (mod_wsgi uses the server's Timeout when socket-timeout is 0); User and
  Group are the default user=/group= of daemon groups (mod_wsgi starts
  daemons as Apache's User/Group, the group even when user= is given).
- WSGIPythonHome (and python-home=) must be the running Python's prefix:
  fastwsgi embeds no interpreter, another home would be silently ignored.
- The WSGI script must exist and be readable at check time (Apache would
  answer 404 per request).
- %{ENV:NAME} is resolved statically: SetEnv in the contexts that apply to
  the application, then fastwsgi's own environment (mod_wsgi also reads the
  process environment); unset is an error (the callable falls back to
  'application' as in mod_wsgi). %{HOST} is refused (per request).
- %{SERVER}/%{RESOURCE} need a port: ServerName's, else the virtual host's
  only port, else the only Listen port, else 80 (Apache uses the request's
  port). A server without ServerName is named by socket.gethostname().
- Routes are longest prefix first (fastwsgi.site); mod_wsgi takes the first
  alias in file order, so an alias that mod_wsgi could never reach gets a
  warning. Pattern routes (WSGIScriptAliasMatch) have prefix '' and, for
  the default application group, '<server>|%{SCRIPT_NAME}': the router
  substitutes the request's SCRIPT_NAME.
- WSGI settings in <LocationMatch> are refused (routes are prefixes);
  <DirectoryMatch>/<FilesMatch> are evaluated against the script's path.
"""

from __future__ import annotations

import os
import sys

from fastwsgi import log as logmod
from fastwsgi.apacheconf.build import Builder
from fastwsgi.apacheconf.contexts import Collector
from fastwsgi.apacheconf.lexer import ReadState, read_file
from fastwsgi.errors import ConfigError
from fastwsgi.log import log
from fastwsgi.site import Site

__all__ = ["load_site", "load_site_for_command"]


def load_site(path: str) -> Site:
    """Read, check and resolve the configuration file at path."""
    path = os.path.abspath(path)
    warnings: list[str] = []

    def warn(text: str) -> None:
        # A main-server line is resolved once per virtual host: say it once.
        if text in warnings:
            return
        log.warning("%s", text)
        warnings.append(text)

    state = ReadState(server_root=os.path.dirname(path), warn=warn)
    nodes = read_file(path, state)
    collector = Collector(os.path.dirname(path), warn)
    collector.walk(nodes, collector.out.main, None)
    site = Builder(collector.out, warn, path).site()
    site.warnings = warnings
    site.files = state.files
    return site


def load_site_for_command(path: str) -> Site | None:
    """load_site for ``check`` and ``run``: warnings and the error on stderr; None on error."""
    # Reading warnings (a skipped directive each) go to standard error, as
    # Apache's start-up warnings do; a site's own log is set up after.
    logmod.setup(None, "warning")
    try:
        return load_site(path)
    except ConfigError as exc:
        print(f"fastwsgi: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"fastwsgi: {path}: {exc.strerror or exc}", file=sys.stderr)
    return None
