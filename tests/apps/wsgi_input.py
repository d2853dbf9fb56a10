"""wsgi.input behaviour: run a script of read calls and report what each returned.

GET/POST /ops?script=read:3,readline,read  -> JSON list, one entry per call:
    read[:n] / readnone / readline[:n] -> the bytes as a latin-1 string,
    readlines[:hint] / iter            -> a list of latin-1 strings.
POST /echo?chunk=N                      -> the body, read N bytes at a time
    (X-Reads: number of read calls, X-Terminated: wsgi.input_terminated,
    X-Content-Length: CONTENT_LENGTH as seen, '-' when absent).
POST /record?path=P                     -> reads the whole body and writes what
    the read did to the file P: "complete N" (N bytes) or "error ExcName".
POST /noread                            -> answers at once, body left unread.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs


def _run(stream, step: str) -> object:
    name, _, arg = step.partition(":")
    n = int(arg) if arg else None
    if name == "read":
        data = stream.read() if n is None else stream.read(n)
    elif name == "readnone":
        data = stream.read(None)
    elif name == "readline":
        data = stream.readline() if n is None else stream.readline(n)
    elif name == "readlines":
        return [line.decode("latin-1")
                for line in (stream.readlines() if n is None else stream.readlines(n))]
    elif name == "iter":
        return [line.decode("latin-1") for line in stream]
    else:
        raise ValueError(f"unknown step {step!r}")
    if not isinstance(data, bytes):
        raise TypeError(f"{step} returned {type(data).__name__}, not bytes")
    return data.decode("latin-1")


def application(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    stream = environ["wsgi.input"]
    path = environ.get("PATH_INFO", "")
    if path == "/ops":
        steps = qs["script"][0].split(",")
        body = json.dumps([_run(stream, step) for step in steps]).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/echo":
        chunk = int(qs.get("chunk", ["65536"])[0])
        parts, reads = [], 0
        while True:
            data = stream.read(chunk)
            reads += 1
            if not data:
                break
            if len(data) > chunk:
                raise AssertionError(f"read({chunk}) returned {len(data)} bytes")
            parts.append(data)
        body = b"".join(parts)
        start_response("200 OK", [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(len(body))),
            ("X-Reads", str(reads)),
            ("X-Terminated", repr(environ.get("wsgi.input_terminated"))),
            ("X-Content-Length", environ.get("CONTENT_LENGTH") or "-"),
        ])
        return [body]
    if path == "/record":
        try:
            outcome = f"complete {len(stream.read())}"
        except Exception as exc:
            outcome = f"error {type(exc).__name__}"
        with open(qs["path"][0], "w") as f:
            f.write(outcome)
        body = outcome.encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/noread":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "7")])
        return [b"unread\n"]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such path\n"]
