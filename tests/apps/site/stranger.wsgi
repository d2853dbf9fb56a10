"""Not configured for any group: importing it would leave a mark."""

import os

with open(os.path.join(os.path.dirname(__file__), "effects", f"stranger-{os.getpid()}"), "w"):
    pass


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"should never run\n"]
