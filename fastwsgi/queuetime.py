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

A value that does not parse, is not finite, or gives a time outside
``EARLIEST_START``..``LATEST_START`` is garbage or a broken clock, not a
queue: it counts as absent, and the request runs.

Such a request is answered 504 without running the application, as
mod_wsgi does: the client has most likely given up already.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from fastwsgi.protocol import QUEUE_START_VAR

REQUEST_START_HEADER = "HTTP_X_REQUEST_START"
#: The plausible start times, in seconds since the epoch (2000-01-01 and
#: 2100-01-01 UTC); anything else counts as absent.
EARLIEST_START = 946684800.0
LATEST_START = 4102444800.0


def _plausible(seconds: float) -> float | None:
    """seconds if it is a finite time within the plausible range, else None."""
    if math.isfinite(seconds) and EARLIEST_START <= seconds <= LATEST_START:
        return seconds
    return None


def parse_request_start(value: str) -> float | None:
    """Seconds since the epoch from an X-Request-Start value, or None."""
    value = value.strip()
    if value.startswith("t="):
        value = value[2:]
    try:
        number = float(value)
    except ValueError:
        return None
    if "." in value:
        return _plausible(number)
    # A present-day time is about 1.7e9 s: the magnitude tells the unit.
    for threshold, per_second in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):
        if number >= threshold:
            return _plausible(number / per_second)
    return _plausible(number)


def queue_start(environ: Mapping[str, Any]) -> float | None:
    """When the front-end received the request (epoch seconds), if it says."""
    raw = environ.get(QUEUE_START_VAR)
    if raw:
        try:
            start = _plausible(int(raw) / 1e6)
        except (ValueError, OverflowError):  # not an integer; too large for a float
            start = None
        if start is not None:
            return start
    raw = environ.get(REQUEST_START_HEADER)
    return parse_request_start(raw) if raw else None


def waited(environ: Mapping[str, Any], accepted_at: float) -> float:
    """Seconds the request waited; accepted_at is time.time() at accept()."""
    start = queue_start(environ)
    return time.time() - (accepted_at if start is None else min(start, accepted_at))
