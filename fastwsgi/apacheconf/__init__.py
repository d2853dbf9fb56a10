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
"""

from __future__ import annotations

import os

from fastwsgi.apacheconf.build import Builder
from fastwsgi.apacheconf.contexts import Collector
from fastwsgi.apacheconf.lexer import ReadState, read_file
from fastwsgi.log import log
from fastwsgi.site import Site

__all__ = ["load_site"]


def load_site(path: str) -> Site:
    """Read, check and resolve the configuration file at path."""
    path = os.path.abspath(path)
    warnings: list[str] = []

    def warn(text: str) -> None:
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
