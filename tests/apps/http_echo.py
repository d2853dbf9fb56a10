"""Echo the request body; record every call.

Every call appends "METHOD PATH?QUERY" to the file named by the FW_RECORD
environment variable (when set), so a test can prove the application was never
called for a request. The answer is a list (the server computes
Content-Length) holding the whole body, with the request as headers:
X-Method, X-Path, X-Content-Length (CONTENT_LENGTH or "-") and
X-Input-Terminated. Query "noread" answers without touching wsgi.input;
"writefirst" write()s b"<" before it reads the body, then answers the body
(no Content-Length: the server frames it).
"""

from __future__ import annotations

import os


def application(environ, start_response):
    record = os.environ.get("FW_RECORD")
    target = environ["PATH_INFO"] + "?" + environ.get("QUERY_STRING", "")
    if record:
        with open(record, "a") as f:
            f.write(f"{environ['REQUEST_METHOD']} {target}\n")
    query = environ.get("QUERY_STRING", "")
    headers = [
        ("Content-Type", "application/octet-stream"),
        ("X-Method", environ["REQUEST_METHOD"]),
        ("X-Path", target),
        ("X-Content-Length", environ.get("CONTENT_LENGTH") or "-"),
        ("X-Input-Terminated", str(environ.get("wsgi.input_terminated"))),
    ]
    if "writefirst" in query:
        start_response("200 OK", headers)(b"<")
        return [environ["wsgi.input"].read()]
    body = b"" if "noread" in query else environ["wsgi.input"].read()
    start_response("200 OK", headers)
    return [body]
