"""The environ of a daemon's requests (PEP 3333 plus mod_wsgi's keys).

The response side (start_response, write, framing, close) is in the Cython
core (cext/wsgi_response.pyx), shared by both ways a daemon listens; this
module builds what the application receives.
"""

from __future__ import annotations

from typing import Any

from fastwsgi import __version__
from fastwsgi._cext import FileWrapper
from fastwsgi.log import ErrorStream


def base_environ(*, process_group: str, application_group: str, multiprocess: bool,
                 multithread: bool, run_once: bool) -> dict[str, Any]:
    """The per-process part of every environ."""
    return {
        "wsgi.version": (1, 0),
        "wsgi.multithread": multithread,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": run_once,
        "wsgi.file_wrapper": FileWrapper,
        "wsgi.errors": ErrorStream(),
        "mod_wsgi.process_group": process_group,
        "mod_wsgi.application_group": application_group,
        "fastwsgi.version": __version__,
    }


def complete_environ(env: dict[str, Any], base: dict[str, Any], wsgi_input: Any,
                     terminated: bool) -> dict[str, Any]:
    """Turn CGI variables decoded from a uwsgi frame into a PEP 3333 environ, in place."""
    env.update(base)
    # httpoxy: a client's Proxy header must never look like a proxy setting;
    # and like mod_wsgi, the front-end's PATH is not the application's.
    env.pop("HTTP_PROXY", None)
    env.pop("PATH", None)
    https = env.pop("HTTPS", "")
    if https.lower() in ("1", "on") or env.get("UWSGI_SCHEME") == "https" \
            or env.get("REQUEST_SCHEME") == "https":
        env["wsgi.url_scheme"] = "https"
    else:
        env["wsgi.url_scheme"] = "http"
    if "SCRIPT_NAME" not in env:
        env["SCRIPT_NAME"] = ""
    if "PATH_INFO" not in env:
        env["PATH_INFO"] = ""
    env["wsgi.input"] = wsgi_input
    env["wsgi.input_terminated"] = terminated
    return env
