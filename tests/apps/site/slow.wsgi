"""Slow to import and counts its imports: concurrent first requests must load it once."""

import os
import time

with open(os.path.join(os.path.dirname(__file__), "effects", "slow-loads"), "a") as f:
    f.write(f"{os.getpid()}\n")
time.sleep(0.5)  # widen the window in which concurrent first requests arrive


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"slow\n"]
