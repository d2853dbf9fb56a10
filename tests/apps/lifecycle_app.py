"""Apps for lifecycle tests: report the pid, or wait for a release file."""

import os
import time


def application(environ, start_response):
    """/pid -> the daemon's pid; /wait?PATH -> waits (max 30 s) until PATH exists."""
    if environ["PATH_INFO"] == "/wait":
        release = environ["QUERY_STRING"]
        open(release + ".started." + str(os.getpid()) + "." + str(time.monotonic_ns()), "w").close()
        deadline = time.monotonic() + 30
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.01)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
