"""The environ of a daemon's requests (PEP 3333 plus mod_wsgi's keys).

The response side (start_response, write, framing, close) and the
per-request completion of the environ (complete_uwsgi_environ) are in the
Cython core (cext/wsgi_response.pyx); this module builds the per-process part.
"""

from __future__ import annotations

from typing import Any

from fastwsgi import __version__
from fastwsgi._cext import FileWrapper
from fastwsgi.log import ErrorStream


def base_environ(*, process_group: str, application_group: str | None, multiprocess: bool,
                 multithread: bool, run_once: bool) -> dict[str, Any]:
    """The per-process part of every environ.

    complete_uwsgi_environ() lays it over the frame's variables, so a key here
    wins over the front-end's. application_group None leaves the key out: a
    Site daemon serves several application groups and takes the frame's.
    """
    env: dict[str, Any] = {
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
    if application_group is None:
        del env["mod_wsgi.application_group"]
    return env

