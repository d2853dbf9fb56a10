"""The buffers scenario's application: a large upload answered by a large response.

Standard library only (mod_wsgi runs it in the system Python). Paths:

    /noread   answers RESPONSE_SIZE bytes without reading the request body:
              the case that deadlocks a front-end which writes the whole body
              before it reads the response (mod_wsgi's Apache child)
    /read     reads the whole body first, then answers the same
    /         "ok" (the readiness check)

The response size comes from the X-Response-Size request header (default
16 MiB), so a test can run the scenario small.
"""

DEFAULT_SIZE = 16 * 1024 * 1024
#: The buffer sizes the scenario serves this app with (0 = the OS default).
BUFFER_SIZES = (0, 512, 4096, 65536, 1024 * 1024)
CHUNK = b"r" * 65536


def _read_all(environ):
    stream = environ["wsgi.input"]
    try:
        left = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        left = 0
    got = 0
    while left > 0:
        data = stream.read(min(left, 65536))
        if not data:
            break
        got += len(data)
        left -= len(data)
    return got


def _body(size):
    full, rest = divmod(size, len(CHUNK))
    for _ in range(full):
        yield CHUNK
    if rest:
        yield CHUNK[:rest]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path not in ("/noread", "/read"):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    if path == "/read":
        _read_all(environ)
    try:
        size = int(environ.get("HTTP_X_RESPONSE_SIZE") or DEFAULT_SIZE)
    except ValueError:
        size = DEFAULT_SIZE
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])
    return _body(size)
