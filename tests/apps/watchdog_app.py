"""Apps that misbehave for the watchdog: hold the GIL, spin, block.

/pid          the pid
/hold?S       holds the GIL for S seconds: libc sleep() called through
              ctypes.PyDLL, which does not release the GIL (a C extension
              that forgot Py_BEGIN_ALLOW_THREADS)
/spin?S       runs Python code for up to S seconds (interruptible)
/block?S      time.sleep(S): blocked in C without the GIL (not interruptible)
"""

import ctypes
import os
import time


def hold_the_gil(seconds: int) -> None:
    ctypes.PyDLL(None).sleep(seconds)


def spin(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass


def application(environ, start_response):
    path, query = environ["PATH_INFO"], environ["QUERY_STRING"]
    if path == "/hold":
        hold_the_gil(int(query or 30))
    elif path == "/spin":
        spin(float(query or 30))
    elif path == "/block":
        time.sleep(float(query or 30))
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
