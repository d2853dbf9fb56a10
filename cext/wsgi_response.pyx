# The response side of PEP 3333, for both ways a daemon listens:
# start_response(), write(), the iteration of the result, close(), and the
# framing of what goes on the wire. It is on every request's path, so it
# lives here rather than in Python.
#
# Theory of operation:
# 1. start_response validates status and headers at once (encode_head, in C):
#    a CR, LF, NUL or non-latin-1 text raises inside the application and
#    becomes a 500; nothing invalid reaches the wire.
# 2. The head goes out with the first non-empty body bytes (or at the end).
#    A list or tuple result is joined and sent with its head in one send,
#    and on the HTTP side its length becomes the Content-Length.
# 3. HTTP framing (mode HTTP): the application's Content-Length is kept,
#    else chunked on HTTP/1.1, else close-delimited; HEAD, 1xx, 204 and 304
#    carry no body; hop-by-hop headers are dropped; Date and Server added.
#    uwsgi framing (mode UWSGI): the head as given, the body raw, the end of
#    the response is the close (the front-end frames for its client).
# 4. An error after the head was sent leaves the response visibly truncated:
#    the connection closes without a final chunk / before Content-Length.
# 5. The result's close() is always called, also when the peer went away.

import stat as _stat
import time as _time
from email.utils import formatdate as _formatdate


cdef enum:
    MODE_UWSGI = 0
    MODE_HTTP = 1

cdef bytes _SERVER_LINE = b"Server: fastwsgi\r\n"
cdef bytes _CRLF = b"\r\n"

_REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large",
            414: "URI Too Long", 417: "Expectation Failed",
            431: "Request Header Fields Too Large", 500: "Internal Server Error",
            501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout", 505: "HTTP Version Not Supported"}

#: Unread request body drained after a response to keep the connection alive;
#: a larger rest closes it.
DEF DRAIN_LIMIT = 65536
#: Bodies larger than this are sent apart from their head instead of copied.
DEF BIG_BODY = 65536

cdef long _date_second = 0
cdef bytes _date_line = b""


cpdef bytes date_header():
    """The Date header line, formatted once per second."""
    global _date_second, _date_line
    cdef long now = <long>_time.time()
    if now != _date_second:
        _date_line = b"Date: " + _formatdate(now, usegmt=True).encode() + _CRLF
        _date_second = now
    return _date_line


def refuse_request(Conn conn, int status, str why):
    """A request the parser refused: one log line, an access-log line, the status."""
    _log.error("Refused a request with %d %s: %s.", status, _REASONS.get(status, ""), why)
    access_log_request({"REMOTE_ADDR": conn.c.peer_host.decode("latin-1")}, status, 0)
    try:
        conn.sendall(error_response(status))
    except OSError:
        pass


def error_response(int status, bint keep_alive=False, int minor=1, bint head_only=False):
    """A complete plain-text error response for the HTTP side (minor: the client's
    HTTP/1.x, which says whether keeping the connection must be announced;
    head_only: the answer to a HEAD, its Content-Length without the body)."""
    reason = _REASONS.get(status, "Error")
    body = f"{reason}\n".encode()
    if not keep_alive:
        connection = b"Connection: close\r\n"
    elif minor == 0:
        connection = b"Connection: keep-alive\r\n"
    else:
        connection = b""
    return (f"HTTP/1.1 {status} {reason}\r\n".encode() + date_header() + _SERVER_LINE
            + b"Content-Type: text/plain\r\nContent-Length: " + str(len(body)).encode()
            + _CRLF + connection + _CRLF + (b"" if head_only else body))


cpdef bytes uwsgi_error_response(int status):
    """A plain error response to the front-end (it adds Date and Server)."""
    reason = _REASONS.get(status, "Error")
    body = f"{reason}\n".encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


cdef class FileWrapper:
    """environ['wsgi.file_wrapper']: a file sent with sendfile() when possible."""
    cdef readonly object filelike
    cdef readonly Py_ssize_t blksize

    def __init__(self, filelike, Py_ssize_t blksize=8192):
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    def close(self):
        close_ = getattr(self.filelike, "close", None)
        if close_ is not None:
            close_()

    cpdef int sendfile_fd(self):
        """The fd to sendfile() from, or -1 when the file must be iterated."""
        try:
            fd = self.filelike.fileno()
            if _stat.S_ISREG(os.fstat(fd).st_mode):
                return fd
        except (AttributeError, OSError, ValueError):
            pass
        return -1


cdef class Response:
    """One response: start_response and write are handed to the application."""
    cdef Conn conn
    cdef int mode
    cdef int minor
    cdef readonly int code
    cdef int flags
    cdef bytes head             # status line + header lines, no blank line
    cdef readonly long long clen
    cdef readonly long long body_sent
    cdef readonly bint head_sent
    cdef bint head_only
    cdef bint bodyless
    cdef bint chunked
    cdef public bint keep_alive
    cdef readonly bint truncated
    cdef readonly str status
    cdef InputStream stream     # HTTP: to see whether a 100-continue body is still unsent
    cdef bint broken            # a send failed: nothing more goes out
    cdef bint expired           # the request is over (expire())

    def __cinit__(self, Conn conn, int mode, bint head_only, int minor=1,
                  bint keep_alive=False):
        self.conn = conn
        self.mode = mode
        self.minor = minor
        self.head_only = head_only
        self.bodyless = head_only
        self.keep_alive = keep_alive
        self.clen = -1

    cdef void expire(self) noexcept:
        """The request is over: its connection may already serve another."""
        self.expired = True

    def start_response(self, status, headers, exc_info=None):
        if self.expired:
            raise RuntimeError("start_response() was called after its request ended")
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.head is not None:
            raise ResponseError("start_response() called again without exc_info")
        if self.mode == MODE_HTTP:
            self.code, self.head, self.clen, self.flags = _encode(
                b"HTTP/1.1 ", status, headers, True)
            self.bodyless = self.head_only or self.code < 200 or self.code == 204 \
                or self.code == 304
        else:
            self.code, self.head, self.clen, self.flags = _encode(
                b"HTTP/1.1 ", status, headers, False)
        self.status = status
        return self.write

    cdef bytes _complete_head(self, long long total):
        """The head with its framing, once known; total = whole body size or -1."""
        if self.mode == MODE_UWSGI:
            return self.head + _CRLF
        cdef list parts = [self.head]
        if not self.flags & 1:
            parts.append(date_header())
        if not self.flags & 2:
            parts.append(_SERVER_LINE)
        if self.clen < 0:
            # A HEAD answered with an empty body says nothing of GET's length.
            if total >= 0 and self.code >= 200 and self.code != 204 and self.code != 304 \
                    and not (self.head_only and total == 0):
                self.clen = total
                parts.append(b"Content-Length: %d\r\n" % total)
            elif self.bodyless:
                pass
            elif self.minor == 1:
                self.chunked = True
                parts.append(b"Transfer-Encoding: chunked\r\n")
            else:
                self.keep_alive = False
        if self.stream is not None and (self.stream.pending_continue
                                        or self.stream.remaining > DRAIN_LIMIT
                                        or not self.stream.ends_in_buffer()):
            # The client still waits for permission to send its body, or more
            # of it is unread than is worth draining, or a chunked body is
            # unread past what is buffered and its size unknown (a drain that
            # gave up after the head promised keep-alive would close without
            # saying so): this connection ends with this response, and says so.
            self.keep_alive = False
        if not self.keep_alive:
            parts.append(b"Connection: close\r\n")
        elif self.minor == 0:
            parts.append(b"Connection: keep-alive\r\n")
        parts.append(_CRLF)
        return b"".join(parts)

    cdef int _send(self, bytes data) except -1:
        if self.broken:
            # An application that caught the first failure must not go on as
            # if the client had the bytes: the response is cut short for good
            # (never kept alive with part of it missing).
            raise ClientDisconnected("an earlier send of this response failed")
        if self.stream is not None:
            self.stream.no_continue = True
        try:
            self.conn._send(PyBytes_AS_STRING(data), len(data))
        except OSError as exc:
            self.broken = self.truncated = True
            raise ClientDisconnected(
                f"peer went away while sending the response: {exc}") from exc
        return 0

    cdef bytes _fit(self, bytes data):
        """Drop what goes past the declared Content-Length (with a warning)."""
        if self.clen >= 0 and self.body_sent + len(data) > self.clen:
            _log.warning("Application sent more than its Content-Length of %d; "
                         "the excess is dropped.", self.clen)
            data = data[:self.clen - self.body_sent]
        self.body_sent += len(data)
        return data

    def write(self, data):
        """The write() callable, and the sink for the iterable's items."""
        if self.expired:
            raise RuntimeError("write() was called after its request ended")
        if type(data) is not bytes:
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)
            else:
                raise ResponseError(f"response data must be bytes, not {type(data).__name__}")
        self._write(<bytes>data)

    cdef int _write(self, bytes data) except -1:
        cdef bytes out = b""
        if self.head is None:
            raise ResponseError("write() or response data before start_response()")
        data = self._fit(data)
        if not self.head_sent:
            out = self._complete_head(-1)  # decides the framing
            self.head_sent = True
        if data and not self.bodyless:
            if self.chunked:
                data = b"%x\r\n%b\r\n" % (len(data), data)
            if out and len(data) > BIG_BODY:
                self._send(out)
                out = b""
            out = out + data if out else data
        if out:
            self._send(out)
        return 0

    cdef int write_all(self, object items) except -1:
        """A list or tuple result: joined, and on its way in one send."""
        cdef bytes body
        if self.head_sent or self.head is None:
            for data in items:
                if data:
                    self.write(data)
            return 0
        for data in items:
            if type(data) is not bytes:
                if isinstance(data, (bytearray, memoryview)):
                    continue
                raise ResponseError(f"response data must be bytes, not {type(data).__name__}")
        body = b"".join(items)
        return self._send_whole(body)

    cdef int _send_whole(self, bytes body) except -1:
        cdef bytes head
        body = self._fit(body)
        head = self._complete_head(len(body))
        self.head_sent = True
        if self.bodyless or not body:
            return self._send(head)
        if len(body) > BIG_BODY:
            self._send(head)  # no copy of a big body just to prepend the head
            return self._send(body)
        return self._send(head + body)

    cdef int finish(self) except -1:
        if self.head is None:
            raise ResponseError("application returned without calling start_response()")
        if not self.head_sent:
            return self._send_whole(b"")
        if self.chunked and not self.bodyless:
            self._send(b"0\r\n\r\n")
        elif 0 <= self.clen != self.body_sent and not self.bodyless:
            _log.error("Application returned %d bytes but declared Content-Length %d; "
                       "the response is truncated.", self.body_sent, self.clen)
            self.truncated = True
        return 0

    cdef int send_file(self, FileWrapper wrapper, int fd) except -1:
        """Send a file_wrapper's file from its current position with sendfile()."""
        cdef long long offset, count, size
        if self.head is None:
            raise ResponseError("file_wrapper returned before start_response()")
        try:
            offset = wrapper.filelike.tell()
        except (AttributeError, OSError):
            offset = os.lseek(fd, 0, os.SEEK_CUR)
        size = os.fstat(fd).st_size
        count = max(size - offset, 0)
        if self.clen >= 0:
            count = min(count, self.clen)
        if not self.head_sent:
            self.head_sent = True
            if self.clen < 0 and self.mode == MODE_HTTP:
                self._send(self._complete_head(count))
            else:
                self._send(self._complete_head(-1))
        if self.bodyless or not count:
            return 0
        try:
            self.body_sent += self.conn.sendfile(fd, offset, count)
        except OSError as exc:
            raise ClientDisconnected(f"peer went away during sendfile: {exc}") from exc
        return 0

    cdef int fail(self, exc) except -1:
        """Answer an application error: a plain error response if nothing was sent."""
        self.keep_alive = False
        if self.head_sent:
            return 0
        self.head_sent = True
        if isinstance(exc, RequestTimeout):
            self.code = 504
        elif isinstance(exc, InvalidRequestBody):
            self.code = exc.status
        else:
            self.code = 500
        data = error_response(self.code, head_only=self.head_only) if self.mode == MODE_HTTP \
            else uwsgi_error_response(self.code)
        try:
            self.conn.sendall(data)
        except OSError:
            pass
        return 0


cpdef bint run_app(object app, dict environ, Response response) except? False:
    """Run the application for one request; True if the response is complete."""
    cdef object result = None
    try:
        result = app(environ, response.start_response)
        if type(result) is FileWrapper and response.head is not None \
                and (<FileWrapper>result).sendfile_fd() >= 0:
            response.send_file(<FileWrapper>result, (<FileWrapper>result).sendfile_fd())
        elif type(result) is list or type(result) is tuple:
            response.write_all(result)
        else:
            for data in result:
                if data:
                    response.write(data)
        response.finish()
        return True
    except InvalidRequestBody as exc:  # the client's fault, not a gone client
        _log.error("Refused the body of %s %s with %d: %s", environ.get("REQUEST_METHOD"),
                   environ.get("PATH_INFO"), exc.status, exc)
        response.fail(exc)
        return False
    except ClientDisconnected as exc:
        _log.info("Client went away during %s %s: %s", environ.get("REQUEST_METHOD"),
                  environ.get("PATH_INFO"), exc)
        return False
    except RequestTimeout as exc:  # raised in this thread by the watchdog
        _log.error("Request %s %s stopped by request-timeout%s.",
                   environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"),
                   "; answered 504" if not response.head_sent else
                   " after its response had started; the response is truncated")
        response.fail(exc)
        return False
    except Exception as exc:
        _log.exception("Exception in WSGI application (%s %s):",
                       environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
        response.fail(exc)
        return False
    finally:
        close_ = getattr(result, "close", None)
        if close_ is not None:
            try:
                close_()
            except Exception:
                _log.exception("Exception in close() of the WSGI response iterable:")


cdef class HttpApp(RequestHandler):
    """The application as the HTTP event loop calls it, once per request."""
    cdef object app
    cdef dict base
    cdef object after_request        # called after every request (counting)
    cdef double queue_timeout        # queue-timeout; > 0 checks X-Request-Start
    cdef object queue_waited         # fastwsgi.queuetime.waited

    def __init__(self, app, dict base, list server_addresses,
                 long long limit_request_body=0, after_request=None,
                 long long drain_limit=DRAIN_LIMIT, double queue_timeout=0, queue_waited=None):
        self.queue_timeout = queue_timeout
        self.queue_waited = queue_waited
        self.app = app
        self.base = base
        self.server_addresses = server_addresses
        self.limit_request_body = limit_request_body
        self.after_request = after_request
        self.drain_limit = drain_limit

    cdef bint handle(self, Conn conn, dict env, http_head *h, hconn *c,
                     int slot) except? True:
        """Run one request; True keeps the connection alive."""
        slot_begin(slot)  # the watchdog's view of this thread (request-timeout)
        try:
            return self._handle(conn, env, h, c)
        finally:
            slot_end(slot)
            if self.after_request is not None:
                self.after_request()

    cdef bint _handle(self, Conn conn, dict env, http_head *h, hconn *c) except? True:
        cdef InputStream stream
        cdef Response response
        cdef bint keep
        if not self.admit(conn, env, h, c):
            return False
        if self.queue_timeout > 0 and self._queue_expired(conn, env):
            return False
        stream = InputStream(conn, -2 if h.chunked else max(h.content_length, 0),
                             h.expect_continue)
        stream.limit = self.limit_request_body
        env.update(self.base)
        env["wsgi.url_scheme"] = "http"
        env["wsgi.input"] = stream
        env["wsgi.input_terminated"] = True
        response = Response(conn, MODE_HTTP, asks_head(env), h.minor,
                            h.keep_alive)
        response.stream = stream
        try:
            complete = run_app(self.app, env, response)
            access_log_request(env, response.code, response.body_sent)
            if not complete or response.truncated or stream.bad:
                return False
            keep = response.keep_alive
            if keep:
                try:
                    keep = stream.drain(self.drain_limit)
                except OSError:  # a client gone or stalled while we drained
                    return False
            if not keep and not stream.done and not stream.pending_continue and c.fd >= 0:
                # The body is still coming and the connection closes: a plain
                # close would answer it with a reset that can destroy the end of
                # the response in flight (the client's kernel drops what it had
                # not delivered yet). Half-close and drop the rest for a moment.
                with nogil:
                    linger_close_prepare(c.fd)
            return keep
        finally:
            # This thread's Conn serves the next connection: an application
            # that kept wsgi.input or write() must not reach that one.
            stream.expire()
            response.expire()

    cdef bint _queue_expired(self, Conn conn, dict env) except? True:
        """queue-timeout on the HTTP side: only an upstream's X-Request-Start can
        show a wait, since the thread that read the head runs the request."""
        cdef double wait = self.queue_waited(env, _time.time())
        if wait <= self.queue_timeout:
            return False
        _log.error("Request %s %s waited %.1fs before a daemon thread took it, more than "
                   "queue-timeout (%gs); answered 504 without running the application.",
                   env["REQUEST_METHOD"], env["PATH_INFO"], wait, self.queue_timeout)
        try:
            conn.sendall(error_response(504, head_only=asks_head(env)))
        except OSError:
            pass
        access_log_request(env, 504, 0)
        return True


cdef bytes _ERROR_400_FRAME = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                               b"Content-Length: 12\r\n\r\nBad Request\n")
cdef str _FRAMED_VAR = FRAMED_RESPONSE_VAR


# Without send-buffer-size, a response over RESPONSE_SNDBUF_AFTER bytes goes
# on through a SO_SNDBUF of RESPONSE_SNDBUF (capped at net.core.wmem_max, then
# doubled; never lowered), as the router does for a big upload (relay.pyx,
# BODY_SNDBUF): with the default (about 200 KiB) the daemon stops every 200
# KiB until the router has read, a wakeup on each side each time. A 1 MiB
# POST echo through the router, wrk -c64, 2 x 15, eight runs each: median
# 1,254 -> 1,443 req/s, the router's CPU per request 660 -> 470 us. The memory
# is taken only while the front-end has not read it: each response it has not
# read yet (one per front-end connection, not per daemon thread: the thread
# moves on once its response is queued) can hold up to 2 MiB.
DEF RESPONSE_SNDBUF = 1048576
DEF RESPONSE_SNDBUF_AFTER = 131072


cdef class UwsgiApp:
    """A daemon's side of the uwsgi protocol, once per accepted connection:
    read the frame, build the environ, run the application, frame the
    response (HTTP framing when the router asks for it with
    FRAMED_RESPONSE_VAR, else raw), half-close, drain an unread body, close.
    Daemon.handle_uwsgi (fastwsgi/daemon.py) calls it; in C because it runs
    once per request."""
    cdef object app
    cdef dict base
    cdef double socket_timeout
    cdef double queue_timeout
    cdef object queue_waited
    cdef double linger
    cdef int grow_sndbuf

    def __init__(self, app, dict base, double socket_timeout, double queue_timeout=0,
                 queue_waited=None, double linger=5.0, int send_buffer_size=0):
        self.app = app
        self.grow_sndbuf = 0 if send_buffer_size else RESPONSE_SNDBUF
        self.base = base
        self.socket_timeout = socket_timeout
        self.queue_timeout = queue_timeout
        self.queue_waited = queue_waited
        self.linger = linger

    def handle(self, int fd):
        """One request over the uwsgi protocol on fd (closed here); False if none arrived."""
        cdef double accepted_at = _time.time()
        cdef Conn conn = Conn(fd, self.socket_timeout)
        cdef InputStream stream = None
        cdef Response response = None
        cdef dict env
        cdef long long length, left
        cdef bint head_only
        if self.grow_sndbuf:
            conn.grow_sndbuf_after(self.grow_sndbuf, RESPONSE_SNDBUF_AFTER)
        try:
            try:
                env = conn.read_frame()
                length = body_length(env)
                if not env.get("REQUEST_METHOD"):
                    raise InvalidVariable("the frame has no REQUEST_METHOD")
            except EOFError:
                return False  # a probe, or a front-end that gave up
            except FramingError as exc:
                _log.error("Bad request frame from the front-end, answered 400: %s", exc)
                try:
                    conn.sendall(_ERROR_400_FRAME)
                except OSError:
                    pass
                # A body may follow, of unknown length; a front-end that
                # writes it all before reading (mod_proxy_uwsgi) must not
                # have its sends fail before it reads the 400.
                with nogil:
                    linger_close_prepare(fd)
                return True
            except OSError as exc:
                _log.error("Could not read the request frame from the front-end: %s", exc)
                return False
            stream = InputStream(conn, length)
            if self.queue_timeout and self._queue_expired(env, accepted_at, conn):
                return True
            head_only = asks_head(env)
            if env.pop(_FRAMED_VAR, None) == "1":
                # fastwsgi's router: frame the body as HTTP does, so that a
                # daemon dying mid-body is visible (fastwsgi/protocol.py).
                response = Response(conn, MODE_HTTP, head_only,
                                    0 if env.get("SERVER_PROTOCOL") == "HTTP/1.0" else 1, False)
            else:
                response = Response(conn, MODE_UWSGI, head_only)
            complete_uwsgi_environ(env, self.base, stream)
            run_app(self.app, env, response)
            return True
        finally:
            conn.shutdown_write()
            # The property (-1: a streamed body not yet ended), not the C
            # field, which is 0 for every streamed body.
            left = (<object>stream).remaining if stream is not None else 0
            if left:
                conn.discard(left if left > 0 else 1 << 62, self.linger)
            conn.close()
            # An application that kept wsgi.input or write() gets an error
            # from them now, not a closed connection's freed buffer.
            if stream is not None:
                stream.expire()
            if response is not None:
                response.expire()

    cdef bint _queue_expired(self, dict env, double accepted_at, Conn conn) except? True:
        """queue-timeout: answer 504 to a request that waited too long."""
        cdef double wait = self.queue_waited(env, accepted_at)
        if wait <= self.queue_timeout:
            return False
        _log.error("Request %s %s waited %.1fs before a daemon thread took it, more than "
                   "queue-timeout (%gs); answered 504 without running the application.",
                   env.get("REQUEST_METHOD"), env.get("PATH_INFO"), wait, self.queue_timeout)
        try:
            conn.sendall(uwsgi_error_response(504))
        except OSError:
            pass
        return True


cpdef int complete_uwsgi_environ(dict env, dict base, object stream) except -1:
    """Turn CGI variables decoded from a uwsgi frame into a PEP 3333 environ."""
    env.update(base)
    # httpoxy: a client's Proxy header must never look like a proxy setting;
    # and like mod_wsgi, the front-end's PATH is not the application's.
    env.pop("HTTP_PROXY", None)
    env.pop("PATH", None)
    https = env.pop("HTTPS", "")
    if https.lower() in ("1", "on") or env.get("UWSGI_SCHEME") == "https" \
            or env.get("REQUEST_SCHEME") == "https":
        env["wsgi.url_scheme"] = "https"
    else:
        env["wsgi.url_scheme"] = "http"
    if "SCRIPT_NAME" not in env:
        env["SCRIPT_NAME"] = ""
    if "PATH_INFO" not in env:
        env["PATH_INFO"] = ""
    env["wsgi.input"] = stream
    env["wsgi.input_terminated"] = True
    return 0
