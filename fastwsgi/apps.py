"""The applications of a Site's daemon group, chosen per request as mod_wsgi does.

A daemon of a group defined by WSGIDaemonProcess serves every WSGI script the
configuration routes to that group (DaemonGroup.apps) and preloads its
WSGIImportScript ones (DaemonGroup.imports). The router names the
application in each uwsgi frame: SCRIPT_FILENAME, mod_wsgi.application_group
and mod_wsgi.callable_object. Rules:

1. Only a configured application is ever loaded. A frame naming anything
   else is answered 404 with one error-log line; the file it names is never
   touched. WSGIScriptAliasMatch scripts (with back-references) and
   directory aliases (script ending in '/') match by pattern: a
   back-reference stands for any text, a directory for one file name in it,
   and the path must be normal (no '.', '..' or '//' segments).
2. Lazily, like mod_wsgi: a script is executed on the first request that
   needs it, under one lock (mod_wsgi's module lock), so that concurrent
   first requests load it once. Requests for a loaded application take no
   lock. WSGIImportScript entries are executed at process start, before the
   daemon reports ready; a failure there is logged and the script is tried
   again on its first request (mod_wsgi also keeps the process).
3. A script that raises while executing answers 500. Its traceback is
   logged the first time, and again only when the error changes; the same
   error again is one line. It is retried on every later request (as
   mod_wsgi does), so a fixed file is picked up without a restart. A script
   whose target file does not exist answers 404 (mod_wsgi's "Target WSGI
   script not found").
4. Each (script, application group) pair is its own module instance
   (``_fastwsgi_<md5>`` in sys.modules), so two application groups never
   share the script's module globals. Unlike mod_wsgi's sub-interpreters,
   they do share everything else in the process: sys.modules (imported
   packages and their globals), sys.path, os.environ, the working directory.
   Applications that must not see each other's imports belong in separate
   daemon groups.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from fastwsgi.appload import WSGIApp, app_of, exec_script
from fastwsgi.log import log

#: \1..\9 or $1..$9 in a WSGIScriptAliasMatch target.
BACKREF = re.compile(r"\\[0-9]|\$[0-9]")

StartResponse = Callable[..., Any]
Key = tuple[str, str, str]  # (script, application group, callable)


@dataclass(frozen=True)
class GroupApps:
    """What the daemons of one Site group serve; built from a DaemonGroup."""

    apps: tuple[Key, ...] = ()
    imports: tuple[tuple[str, str], ...] = ()
    #: The group's error log (the virtual host's ErrorLog); None = the server's.
    error_log: str | None = None
    #: WSGIPythonPath: added after the group's own python-path.
    python_path: tuple[str, ...] = ()
    #: Where the group was defined ("file:line"), for error messages.
    source: str = ""


def module_name(script: str, application_group: str) -> str:
    """sys.modules name of a script's instance in one application group."""
    digest = hashlib.md5(f"{application_group}\0{script}".encode(), usedforsecurity=False)
    return "_fastwsgi_" + digest.hexdigest()


def script_pattern(script: str) -> re.Pattern[str] | None:
    """The regular expression a template script matches; None for a plain file."""
    if script.endswith("/"):
        return re.compile(re.escape(script) + r"[^/]+")
    parts = BACKREF.split(script)
    if len(parts) == 1:
        return None
    return re.compile(".+".join(re.escape(p) for p in parts))


def normal_path(path: str) -> bool:
    """Absolute, and no '.', '..' or empty segment: nothing can escape a template."""
    return path.startswith("/") and os.path.normpath(path) == path and "\0" not in path


def _answer(start_response: StartResponse, status: str) -> list[bytes]:
    body = status.split(" ", 1)[1].encode() + b"\n"
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class Applications:
    """The WSGI callable of a multi-application daemon: picks, loads, calls."""

    def __init__(self, group: str, apps: Iterable[Key], imports: Iterable[tuple[str, str]],
                 where: str = "") -> None:
        self.group = group
        #: Who runs them, as log lines name it.
        self.where = where or f"daemon process '{group}'"
        self.imports = list(imports)
        self.exact: set[Key] = set()
        self.templates: list[tuple[re.Pattern[str], str]] = []  # (script pattern, callable)
        for script, app_group, name in apps:
            pattern = script_pattern(script)
            if pattern is None:
                self.exact.add((script, app_group, name))
            else:
                self.templates.append((pattern, name))
        # An imported script may be asked for with the default callable.
        for script, app_group in self.imports:
            if script_pattern(script) is None:
                self.exact.add((script, app_group, "application"))
        self.loaded: dict[Key, WSGIApp] = {}
        self.modules: dict[tuple[str, str], ModuleType] = {}
        self.logged: dict[tuple[str, str], str] = {}  # last error logged with a traceback
        self.lock = threading.Lock()

    def allowed(self, key: Key) -> bool:
        """Whether the frame names an application configured for this group."""
        if key in self.exact:
            return True
        script, _, name = key
        # A pattern route's application group can depend on the request
        # (%{RESOURCE} of the matched part); the router chose it.
        return normal_path(script) and any(
            name == n and p.fullmatch(script) for p, n in self.templates)

    def preload(self) -> None:
        """Execute the WSGIImportScript scripts (before the daemon reports ready)."""
        for script, app_group in self.imports:
            with self.lock:
                try:
                    self._module(script, app_group)
                    self._note_loaded(script, app_group, True)
                except BaseException:
                    self._log_failure(script, app_group, "import")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        app_group = environ.get("mod_wsgi.application_group")
        if app_group is None:
            environ["mod_wsgi.application_group"] = app_group = ""
        key = (environ.get("SCRIPT_FILENAME", ""), app_group,
               environ.get("mod_wsgi.callable_object") or "application")
        app = self.loaded.get(key)
        if app is None:
            if not self.allowed(key):
                log.error("Daemon process '%s' refused a request for script %r, application "
                          "group %r, callable %r: not an application of this group; answered "
                          "404.", self.group, *key)
                return _answer(start_response, "404 Not Found")
            if not os.path.isfile(key[0]):
                log.error("Target WSGI script %r not found or unable to stat; answered 404.",
                          key[0])
                return _answer(start_response, "404 Not Found")
            app = self._load(key)
            if app is None:
                return _answer(start_response, "500 Internal Server Error")
        return app(environ, start_response)

    def _load(self, key: Key) -> WSGIApp | None:
        script, app_group, name = key
        with self.lock:
            app = self.loaded.get(key)
            if app is not None:
                return app  # another thread loaded it while this one waited
            try:
                app = app_of(self._module(script, app_group), script, name)
            except BaseException:
                self._log_failure(script, app_group, "load")
                return None
            self.loaded[key] = app
            self._note_loaded(script, app_group, False)
            return app

    def _note_loaded(self, script: str, app_group: str, imported: bool) -> None:
        """The log line of a script executed (imported: by WSGIImportScript)."""
        if imported:
            log.info("Daemon process '%s' (pid=%d) imported %s into application group %r.",
                     self.group, os.getpid(), script, app_group)
        else:
            log.info("Daemon process '%s' (pid=%d) loaded %s (application group %r).",
                     self.group, os.getpid(), script, app_group)

    def _module(self, script: str, app_group: str) -> ModuleType:
        """The script's module in that application group; executed once (lock held)."""
        module = self.modules.get((script, app_group))
        if module is None:
            module = exec_script(script, module_name(script, app_group))
            self.modules[(script, app_group)] = module
            self.logged.pop((script, app_group), None)
        return module

    def _log_failure(self, script: str, app_group: str, what: str) -> None:
        text = traceback.format_exc().rstrip()
        last = text.rsplit("\n", 1)[-1]
        if self.logged.get((script, app_group)) == last:
            log.error("Failed again to %s WSGI script %s for %s (application group %r): %s",
                      what, script, self.where, app_group, last)
            return
        self.logged[(script, app_group)] = last
        then = ("answered 500; tried again on the next request" if what == "load"
                else "tried again on its first request")
        log.error("Failed to %s WSGI script %s for %s (application group %r); %s:\n%s",
                  what, script, self.where, app_group, then, text)
