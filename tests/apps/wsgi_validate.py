"""A well-behaved application behind wsgiref.validate.validator.

Any WSGI rule the server breaks raises AssertionError (or WSGIWarning, made an
error here) inside the request, which turns a 200 into a 500 and lands in the
error log.
"""

from __future__ import annotations

import warnings
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)


def _app(environ, start_response):
    method = environ["REQUEST_METHOD"]
    if method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = b"got " + environ["wsgi.input"].read(length)
    else:
        body = b"hello from " + method.encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


application = validator(_app)
