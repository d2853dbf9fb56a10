"""Reports who and where it runs, and its module globals (tests/test_site_daemons.py)."""

import json
import os
import sys

TOKEN = os.urandom(16).hex()
COUNT = 0


def application(environ, start_response):
    global COUNT
    COUNT += 1
    if environ.get("PATH_INFO") == "/errors":
        print("probe writes to wsgi.errors", file=environ["wsgi.errors"])
    body = json.dumps({
        "pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid(), "token": TOKEN,
        "count": COUNT, "module": __name__,
        "process_group": environ.get("mod_wsgi.process_group"),
        "application_group": environ.get("mod_wsgi.application_group"),
        "script_name": environ["SCRIPT_NAME"], "path_info": environ["PATH_INFO"],
        "sys_path": sys.path,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def other(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"other callable\n"]
