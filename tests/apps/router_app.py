"""The application behind the router tests: one path per behaviour.

/echo          reads the body; answers its length, sha256 and framing variables
/big?n=N       answers N bytes (chunked) WITHOUT reading the body
/big-read?n=N  reads the whole body first, then answers N bytes with Content-Length
/hang?t=TAG    notes its pid in $FW_PIDS/TAG, then sleeps (at most 30 s)
/partial?t=TAG 1000 body bytes (chunked), notes its pid, then sleeps
/partial-cl?t= the same with Content-Length: 1000000
/nocontent     204
/queued?n=N    before reading its body, waits (at most 5 s, or s=SECONDS)
               until N bytes of it are queued unread in its connection:
               "queued=BYTES"
/wait?t=TAG    notes its pid in $FW_PIDS/TAG, answers "released" once the
               file $FW_PIDS/TAG.go exists (at most 10 s); with n=N, N bytes
/meet?n=N      waits (at most 10 s) until N requests are in the application at
               once: "met", or 500 "apart" when they never were
"""

import hashlib
import os
import threading
import time
from urllib.parse import parse_qs

BLOCK = b"x" * 65536
_barriers: dict[int, threading.Barrier] = {}
_barriers_lock = threading.Lock()


def _note_pid(environ):
    tag = parse_qs(environ["QUERY_STRING"]).get("t", ["pid"])[0]
    path = os.path.join(os.environ["FW_PIDS"], tag)
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(path + ".tmp", path)


def _sleep():
    for _ in range(300):  # bounded: the tests kill or time out long before
        time.sleep(0.1)


def _queued_unread():
    # The most bytes waiting unread in any connected AF_UNIX socket of this
    # process: the request's own connection, while nothing reads it.
    import array
    import fcntl
    import termios

    from own_sockets import unix_sockets
    most = 0
    for s, listening in unix_sockets():
        if not listening:
            count = array.array("i", [0])
            fcntl.ioctl(s.fileno(), termios.FIONREAD, count)
            most = max(most, count[0])
    return most


def _big(n):
    while n > 0:
        yield BLOCK[:min(n, len(BLOCK))]
        n -= len(BLOCK)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    n = int(parse_qs(environ["QUERY_STRING"]).get("n", ["0"])[0])
    if path == "/echo":
        body = environ["wsgi.input"].read()
        out = (f"len={len(body)} sha={hashlib.sha256(body).hexdigest()} "
               f"cl={environ.get('CONTENT_LENGTH', '-')} "
               f"stream={environ.get('FASTWSGI_STREAM_BODY', '-')} "
               f"terminated={environ['wsgi.input_terminated']} "
               f"te={environ.get('HTTP_TRANSFER_ENCODING', '-')} "
               f"remote={environ.get('REMOTE_ADDR')} server={environ.get('SERVER_NAME')}:"
               f"{environ.get('SERVER_PORT')} queue={'FASTWSGI_QUEUE_START' in environ} "
               f"framed={'FASTWSGI_FRAMED_RESPONSE' in environ}").encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Hop", "kept"),
                                  ("Connection", "close"), ("Keep-Alive", "timeout=5")])
        return [out]
    if path == "/big":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return _big(n)
    if path == "/big-read":
        h = hashlib.sha256()
        read = 0
        while True:
            data = environ["wsgi.input"].read(65536)
            if not data:
                break
            h.update(data)
            read += len(data)
        start_response("200 OK", [("Content-Length", str(n)), ("X-Read", str(read)),
                                  ("X-Sha", h.hexdigest())])
        return _big(n)
    if path == "/hang":
        _note_pid(environ)
        _sleep()
        start_response("200 OK", [])
        return [b"late\n"]
    if path in ("/partial", "/partial-cl"):
        headers = [("Content-Length", "1000000")] if path == "/partial-cl" else []
        start_response("200 OK", headers)

        def body():
            yield b"p" * 1000
            _note_pid(environ)
            _sleep()
            yield b"never"
        return body()
    if path == "/wait":
        _note_pid(environ)
        go = os.path.join(os.environ["FW_PIDS"],
                          parse_qs(environ["QUERY_STRING"])["t"][0] + ".go")
        for _ in range(100):  # bounded
            if os.path.exists(go):
                break
            time.sleep(0.1)
        start_response("200 OK", [("Content-Type", "text/plain")])
        if n:
            return _big(n)
        return [b"released" if os.path.exists(go) else b"never released"]
    if path == "/meet":
        with _barriers_lock:
            barrier = _barriers.setdefault(n, threading.Barrier(n))
        try:
            barrier.wait(timeout=10)
        except threading.BrokenBarrierError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"apart"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"met"]
    if path == "/queued":
        deadline = time.monotonic() + float(parse_qs(environ["QUERY_STRING"]).get("s", ["5"])[0])
        while (queued := _queued_unread()) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"queued=%d" % queued]
    if path == "/nocontent":
        start_response("204 No Content", [])
        return []
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such path\n"]
