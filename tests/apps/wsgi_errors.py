"""wsgi.errors and application exceptions.

/log?marker=M      write M to wsgi.errors (write, writelines and print), then 200
/raise?marker=M    raise RuntimeError(M) before start_response
/raise-late?marker=M  start_response, then raise RuntimeError(M) while iterating
                   before any body was sent
"""

from __future__ import annotations

from urllib.parse import parse_qs


def _late(start_response, marker: str):
    start_response("200 OK", [("Content-Type", "text/plain")])
    raise RuntimeError(marker)
    yield b"never"  # unreachable; makes this a generator


def application(environ, start_response):
    qs = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    path = environ.get("PATH_INFO", "")
    marker = qs.get("marker", "no-marker")
    if path == "/log":
        errors = environ["wsgi.errors"]
        errors.write(f"{marker}-write\n")
        errors.writelines([f"{marker}-lines1\n", f"{marker}-lines2\n"])
        print(f"{marker}-print", file=errors)
        errors.flush()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"logged"]
    if path == "/raise":
        raise RuntimeError(marker)
    if path == "/raise-late":
        return _late(start_response, marker)
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such path\n"]
