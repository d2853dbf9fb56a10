"""Answers 'UID PID' using only modules the router already imported.

(The identity-drop test runs it as 'nobody', who may not be able to read
the Python installation to import anything new.)
"""

import os


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%d %d" % (os.getuid(), os.getpid())).encode()]
