"""Echoes the routing part of its environ as JSON (tests/test_routing.py)."""

import json
import os

KEYS = ("SCRIPT_NAME", "PATH_INFO", "SCRIPT_FILENAME", "QUERY_STRING", "HTTP_HOST",
        "SERVER_NAME", "SERVER_PORT", "mod_wsgi.process_group",
        "mod_wsgi.application_group", "mod_wsgi.callable_object")


def application(environ, start_response):
    body = dict((k, environ.get(k)) for k in KEYS)
    body.update(pid=os.getpid(), uid=os.getuid(), app=os.path.basename(__file__))
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(data)))])
    return [data]


def other(environ, start_response):
    return application(dict(environ, **{"mod_wsgi.callable_object": "other-called"}),
                       start_response)
