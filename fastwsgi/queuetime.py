"""queue-timeout: how long a request waited before a daemon thread took it.

The wait is measured from the earliest start time known for the request:

- ``FASTWSGI_QUEUE_START``: microseconds since the epoch, a uwsgi variable
  that fastwsgi's own front-end sets when it has read the request head;
- ``HTTP_X_REQUEST_START`` (the ``X-Request-Start`` header that nginx,
  HAProxy and Heroku send): ``t=<number>`` or a bare number, in seconds with a
  fraction (nginx's ``t=${msec}``), or in whole milliseconds, microseconds or
  nanoseconds since the epoch, told apart by magnitude as APM agents do;
- otherwise the moment the daemon accepted the connection, which is all a
  daemon that accepts its own connections can know.

Such a request is answered 504 without running the application, as
mod_wsgi does: the client has most likely given up already.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from fastwsgi.protocol import QUEUE_START_VAR

REQUEST_START_HEADER = "HTTP_X_REQUEST_START"


def parse_request_start(value: str) -> float | None:
    """Seconds since the epoch from an X-Request-Start value, or None."""
    value = value.strip()
    if value.startswith("t="):
        value = value[2:]
    try:
        number = float(value)
    except ValueError:
        return None
    if number <= 0:
        return None
    if "." in value:
        return number
    # A present-day time is about 1.7e9 s: the magnitude tells the unit.
    for threshold, per_second in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):
        if number >= threshold:
            return number / per_second
    return number


def queue_start(environ: Mapping[str, Any]) -> float | None:
    """When the front-end received the request (epoch seconds), if it says."""
    raw = environ.get(QUEUE_START_VAR)
    if raw:
        try:
            return int(raw) / 1e6
        except ValueError:
            pass
    raw = environ.get(REQUEST_START_HEADER)
    return parse_request_start(raw) if raw else None


def waited(environ: Mapping[str, Any], accepted_at: float) -> float:
    """Seconds the request waited; accepted_at is time.time() at accept()."""
    start = queue_start(environ)
    return time.time() - (accepted_at if start is None else min(start, accepted_at))
