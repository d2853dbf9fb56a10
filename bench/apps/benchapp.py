"""The benchmark application, served identically by every server under test.

It must stay self-contained (standard library only, Python >= 3.7): mod_wsgi
runs it in Debian's system Python, not in the interpreter that runs the
benchmark. Paths:

    /        "Hello, World!" (13 bytes)
    /64k     65536 bytes of b"x"
    /echo    the request body, read fully from wsgi.input (any method)
"""

HELLO = b"Hello, World!"
BODY_64K = b"x" * 65536
READ_CHUNK = 65536


def _read_body(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    chunks = []
    while length > 0:
        data = stream.read(min(length, READ_CHUNK))
        if not data:
            break
        chunks.append(data)
        length -= len(data)
    return b"".join(chunks)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/":
        body = HELLO
    elif path == "/64k":
        body = BODY_64K
    elif path == "/echo":
        body = _read_body(environ)
    else:
        body = b"not found\n"
        start_response("404 Not Found", [("Content-Type", "text/plain"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(body)))])
    return [body]
