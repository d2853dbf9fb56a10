"""Fails to import until the file effects/fixed exists."""

import os

if not os.path.exists(os.path.join(os.path.dirname(__file__), "effects", "fixed")):
    raise RuntimeError("broken on purpose")


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"fixed\n"]
