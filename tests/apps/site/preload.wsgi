"""A WSGIImportScript: leaves a mark when imported."""

import os

TOKEN = os.urandom(16).hex()
with open(os.path.join(os.path.dirname(__file__), "effects", f"preload-{os.getpid()}"), "w") as f:
    f.write(TOKEN)


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [TOKEN.encode()]
