"""Which directives fastwsgi reads, which it skips, and where each may appear.

Contexts, as Apache names them: 'server' (outside every section), 'vhost'
(directly in <VirtualHost>), 'dir' (<Location>, <Directory>, <Files> and
their Match forms). A directive in a context it does not allow is an error,
as in Apache ("not allowed here").
"""

from __future__ import annotations

from dataclasses import dataclass

SERVER, VHOST, DIR = "server", "vhost", "dir"
ANY = frozenset({SERVER, VHOST, DIR})
RSRC = frozenset({SERVER, VHOST})
GLOBAL_ONLY = frozenset({SERVER})


@dataclass(frozen=True)
class Directive:
    name: str                  # canonical spelling, used in messages
    contexts: frozenset[str]
    min_args: int
    max_args: int | None       # None = any number
    usage: str                 # what valid arguments look like


_TABLE = (
    Directive("Listen", GLOBAL_ONLY, 1, 2, "[ADDRESS:]PORT [http]"),
    Directive("ServerName", RSRC, 1, 1, "HOSTNAME[:PORT]"),
    Directive("ServerAlias", frozenset({VHOST}), 1, None, "HOSTNAME [HOSTNAME ...]"),
    Directive("ServerRoot", GLOBAL_ONLY, 1, 1, "DIRECTORY"),
    Directive("User", GLOBAL_ONLY, 1, 1, "a user name or #uid"),
    Directive("Group", GLOBAL_ONLY, 1, 1, "a group name or #gid"),
    Directive("ErrorLog", RSRC, 1, 1, "FILE"),
    Directive("CustomLog", RSRC, 2, 3, "FILE FORMAT|NICKNAME [env=...]"),
    Directive("TransferLog", RSRC, 1, 1, "FILE"),
    Directive("LogFormat", RSRC, 1, 2, "FORMAT [NICKNAME]"),
    Directive("LogLevel", ANY, 1, None, "LEVEL [module:LEVEL ...]"),
    Directive("KeepAliveTimeout", RSRC, 1, 1, "SECONDS"),
    Directive("Timeout", RSRC, 1, 1, "SECONDS"),
    Directive("LimitRequestBody", ANY, 1, 1, "BYTES (0 = no limit)"),
    Directive("LimitRequestLine", RSRC, 1, 1, "BYTES"),
    Directive("LimitRequestFields", RSRC, 1, 1, "a count"),
    Directive("LimitRequestFieldSize", RSRC, 1, 1, "BYTES"),
    Directive("SetEnv", ANY, 1, 2, "NAME [VALUE]"),
    Directive("WSGIDaemonProcess", RSRC, 1, None, "NAME [option=value ...]"),
    Directive("WSGIProcessGroup", ANY, 1, 1, "NAME | %{GLOBAL} | %{ENV:VAR} | %{SERVER}"),
    Directive("WSGIApplicationGroup", ANY, 1, 1,
              "NAME | %{GLOBAL} | %{SERVER} | %{RESOURCE} | %{ENV:VAR}"),
    Directive("WSGICallableObject", ANY, 1, 1, "NAME"),
    Directive("WSGIScriptAlias", RSRC, 2, None,
              "URL-PATH FILE [process-group=G] [application-group=A] "
              "[callable-object=C] [pass-authorization=On|Off]"),
    Directive("WSGIScriptAliasMatch", RSRC, 2, None,
              "REGEX FILE [process-group=G] [application-group=A] "
              "[callable-object=C] [pass-authorization=On|Off]"),
    Directive("WSGISocketPrefix", GLOBAL_ONLY, 1, 1, "PATH-PREFIX"),
    Directive("WSGIImportScript", RSRC, 1, 3,
              "FILE process-group=G application-group=A"),
    Directive("WSGIPythonPath", GLOBAL_ONLY, 1, 1, "DIR[:DIR ...]"),
    Directive("WSGIPythonHome", GLOBAL_ONLY, 1, 1, "the prefix of the Python running fastwsgi"),
    Directive("WSGIRestrictProcess", ANY, 1, None, "GROUP [GROUP ...] (%{GLOBAL} = embedded)"),
)

HANDLED: dict[str, Directive] = {d.name.lower(): d for d in _TABLE}

#: mod_wsgi directives (6.x) that fastwsgi accepts without doing anything:
#: they tune Apache-embedded behaviour or features fastwsgi does not have.
WSGI_IGNORED = (
    "WSGISocketRotation", "WSGIAcceptMutex", "WSGIVerboseDebugging",
    "WSGIDontWriteBytecode", "WSGIPythonWarnings", "WSGIPythonOptimize", "WSGIPythonEggs",
    "WSGIPythonHashSeed", "WSGISwitchInterval", "WSGIDestroyInterpreter",
    "WSGIPerInterpreterGIL", "WSGIFreeThreading", "WSGIRestrictEmbedded",
    "WSGIRestrictStdin", "WSGIRestrictStdout", "WSGIRestrictSignal", "WSGICaseSensitivity",
    "WSGIDispatchScript", "WSGIPassApacheRequest", "WSGIPassAuthorization",
    "WSGIScriptReloading", "WSGIErrorOverride", "WSGIChunkedRequest", "WSGIMapHEADToGET",
    "WSGIIgnoreActivity", "WSGITrustedProxyHeaders", "WSGITrustedProxies",
    "WSGIEnableSendfile", "WSGIAccessScript", "WSGIAuthUserScript", "WSGIAuthGroupScript",
    "WSGIGroupAuthoritative", "WSGIHandlerScript", "WSGIServerMetrics",
    "WSGITelemetryService", "WSGISlowRequests", "WSGITelemetryOptions",
    "WSGILazyInitialization", "WSGIUserAuthoritative",
)
WSGI_IGNORED_BY_KEY = {n.lower(): n for n in WSGI_IGNORED}

#: Every WSGI directive name fastwsgi knows (for "valid: ..." lists).
WSGI_ALL = sorted([d.name for d in _TABLE if d.name.startswith("WSGI")] + list(WSGI_IGNORED))

#: Sections the reader understands; any other one is skipped with a warning.
SECTIONS = {"virtualhost": "VirtualHost", "location": "Location",
            "locationmatch": "LocationMatch", "directory": "Directory",
            "directorymatch": "DirectoryMatch", "files": "Files", "filesmatch": "FilesMatch"}

#: The words WSGIDaemonProcess of mod_wsgi 6 accepts that fastwsgi does not
#: implement: accepted with one warning. Anything neither here nor in
#: fastwsgi.config.SETTINGS is an error.
DAEMON_IGNORED = frozenset({
    "supplementary-groups", "chroot", "lang", "locale", "python-home", "startup-timeout",
    "interrupt-timeout", "eviction-timeout", "header-buffer-size", "response-buffer-size",
    "response-socket-timeout", "response-flush-delay", "script-user", "script-group",
    "cpu-time-limit", "cpu-priority", "memory-limit", "virtual-memory-limit",
    "server-metrics",
})

#: Apache log levels -> fastwsgi.log.LEVELS (notice is kept: it sits between
#: warn and info, and fastwsgi has no such level, so it logs a little more).
LOG_LEVELS = {"emerg": "crit", "alert": "crit", "crit": "crit", "error": "error",
              "warn": "warning", "notice": "info", "info": "info", "debug": "debug",
              **{f"trace{i}": "debug" for i in range(1, 9)}}

#: LogFormat nicknames that Debian's apache2.conf defines; vhost files use
#: them without defining them.
DEFAULT_LOG_FORMATS = {
    "vhost_combined": '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
    "combined": '%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
    "common": '%h %l %u %t "%r" %>s %O',
    "referer": "%{Referer}i -> %U",
    "agent": "%{User-agent}i",
}
