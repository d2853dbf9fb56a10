# RelayApp: what the router's HTTP event loop runs per request (relay.pyx
# has the theory of operation). It builds the frame, connects, and pumps
# until the exchange would wait; then the Exchange (the relay state and its
# buffers) is left on the connection (c.pending) and the loop suspends it in
# its epoll set. resume_exchange() goes on with it on whichever thread gets
# the next event (or finds its socket-timeout expired). The client's head is
# built with the GIL in between, and every failure becomes its status (or a
# visible truncation) and one log line.

from cpython.ref cimport Py_DECREF, Py_INCREF


# Relay buffers are reused from one exchange to the next (all of them are
# taken and given back with the GIL held): no malloc of 300 KiB per request.
DEF POOL_MAX = 64

cdef struct buffer_pool:
    int n
    char *items[POOL_MAX]

cdef buffer_pool _ubufs
cdef buffer_pool _obufs


cdef char *_take_buffer(buffer_pool *pool, size_t size) noexcept:
    if pool.n:
        pool.n -= 1
        return pool.items[pool.n]
    return <char *>malloc(size)


cdef void _give_buffer(buffer_pool *pool, char *buf) noexcept:
    if buf is NULL:
        return
    if pool.n < POOL_MAX:
        pool.items[pool.n] = buf
        pool.n += 1
    else:
        free(buf)


cdef class Exchange:
    """One relayed request in flight: what outlives a wait in the loop's set."""
    cdef object app           # its RelayApp
    cdef dict env
    cdef bytes frame          # r.frame points into it
    cdef relay r
    cdef bint keep
    cdef bint started         # the client's head is queued
    cdef int minor
    cdef int log_set          # the access-log set of the request (a Site's vhost)
    cdef bint send_100        # answer Expect: 100-continue once connected
    cdef bint connecting      # suspended between two connect attempts
    cdef int attempts
    cdef double slept         # between connect attempts so far
    cdef long long started_ns


cdef void _suspend_exchange(hconn *c, Exchange ex, int ev_up, int ev_c, int wait_ms) noexcept:
    """Leave the exchange on the connection for the loop to suspend (c.pending
    holds a reference until _release)."""
    c.ufd = ex.r.ufd
    c.want_up = ev_up
    c.want_c = ev_c
    c.wait_ms = wait_ms
    if c.pending is NULL:
        Py_INCREF(ex)
        c.pending = <void *>ex


cdef int _pump(relay *r) noexcept:
    """relay_pump, without the GIL when it may move bulk bytes (a body either
    way) so that the process's other threads run meanwhile."""
    cdef int rc
    if r.phase == P_BODY or not r.req_done:
        with nogil:
            rc = relay_pump(r)
        return rc
    return relay_pump(r)


cdef class RelayApp(RequestHandler):
    """Relays each request to a daemon group's UNIX socket."""
    cdef readonly str group
    cdef readonly str socket_path
    cdef bytes path_b
    cdef double connect_timeout
    cdef double socket_timeout
    # The router's end of each connection: SO_RCVBUF from send-buffer-size
    # (the daemon -> router direction), SO_SNDBUF from receive-buffer-size
    # (router -> daemon). On Linux an AF_UNIX stream is limited by the
    # sender's SO_SNDBUF only, so the latter is the one that acts.
    cdef int rcvbuf
    cdef int sndbuf

    def __init__(self, str group, str socket_path, list server_addresses,
                 double connect_timeout=15.0, double socket_timeout=60.0,
                 int receive_buffer_size=0, int send_buffer_size=0,
                 long long limit_request_body=0, long long drain_limit=1 << 20):
        self.group = group
        self.socket_path = socket_path
        self.path_b = os.fsencode(socket_path)
        self.server_addresses = server_addresses
        self.connect_timeout = connect_timeout
        self.socket_timeout = socket_timeout
        self.rcvbuf = send_buffer_size
        self.sndbuf = receive_buffer_size
        self.limit_request_body = limit_request_body
        self.drain_limit = drain_limit

    cdef bint handle(self, Conn conn, dict env, http_head *h, hconn *c,
                     int slot) except? True:
        """Relay one request; True keeps the client connection alive."""
        cdef bytes frame
        cdef Exchange ex
        cdef relay *r
        if not self.admit(conn, env, h, c):
            return False
        if h.chunked:
            env.pop("HTTP_TRANSFER_ENCODING", None)
            env[STREAM_VAR] = "1"
        env[_QUEUE_START_VAR] = str(int(_time.time() * 1e6))
        env[_FRAMED_RESPONSE_VAR] = "1"
        try:
            frame = encode_frame(env)
        except (FrameTooLarge, InvalidVariable) as exc:
            _log.error("Refused a request with 431 Request Header Fields Too Large: %s.", exc)
            self.answer(conn, c, 431, False, env)
            return False
        ex = Exchange.__new__(Exchange)
        r = &ex.r
        ex.app = self
        ex.env = env
        ex.frame = frame
        ex.keep = h.keep_alive
        ex.minor = h.minor
        ex.log_set = access_log_current_set()
        ex.started_ns = monotonic_ns()
        r.ufd = -1
        r.cfd = c.fd
        r.c = c
        r.timeout_ms = timeout_to_ms(self.socket_timeout)
        r.frame = PyBytes_AS_STRING(frame)
        r.flen = len(frame)
        r.drain_limit = self.drain_limit
        r.cs.state = CH_SIZE
        if h.chunked:
            r.body_kind = B_CHUNKED
            r.body_limit = self.limit_request_body
        elif h.content_length > 0:
            r.body_kind = B_LENGTH
            r.body_left = h.content_length
        else:
            r.req_done = True
        ex.send_100 = h.expect_continue and not r.req_done and c.rend == c.rpos
        try:
            return self._connect(conn, c, ex)
        except BaseException:
            _release(c, ex)  # never leave a half-made exchange on the connection
            raise

    cdef bint _connect(self, Conn conn, hconn *c, Exchange ex) except? True:
        """One connect attempt; on a full backlog or a refusal the exchange
        waits for its next attempt suspended in the event set (theory, rule 2)."""
        cdef relay *r = &ex.r
        cdef int fd, err = 0, grow = 0
        cdef double left, step
        if self.sndbuf == 0 and (r.body_kind == B_CHUNKED or r.body_left > BIG_BODY):
            grow = BODY_SNDBUF
        fd = relay_connect(PyBytes_AS_STRING(self.path_b), self.rcvbuf, self.sndbuf, grow, &err)
        ex.attempts += 1
        if fd >= 0:
            ex.connecting = False
            r.ufd = fd
            # Buffers only once connected: requests queued for a full backlog
            # cost no 300 KiB each.
            r.ubuf = _take_buffer(&_ubufs, UPSTREAM_BUF)
            r.obuf = _take_buffer(&_obufs, CLIENT_OUT_BUF)
            if r.ubuf is NULL or r.obuf is NULL:
                raise MemoryError()  # the caller releases the exchange
            if ex.send_100:
                _out(r, PyBytes_AS_STRING(_R100), len(_R100))
            return self._advance(conn, c, ex, _pump(r))
        left = self.connect_timeout - (monotonic_ns() - ex.started_ns) / 1e9
        if (err == EAGAIN or err == ECONNREFUSED) and left > 0:
            step = 0.125 if ex.slept < 2.0 else 1.0
            if step > left:
                step = left
            ex.slept += step
            ex.connecting = True
            _suspend_exchange(c, ex, 0, 0, <int>(step * 1000) + 1)
            return True
        if err == EAGAIN or err == ECONNREFUSED:
            _log.error("Unable to connect to WSGI daemon process '%s' on '%s' after multiple "
                       "attempts as listener backlog limit was exceeded or the socket does "
                       "not exist (%d attempts in %.1fs, last: %s); answered 503 to %s %s.",
                       self.group, self.socket_path, ex.attempts,
                       (monotonic_ns() - ex.started_ns) / 1e9, os.strerror(err),
                       ex.env["REQUEST_METHOD"], ex.env["PATH_INFO"])
        else:
            _log.error("Unable to connect to WSGI daemon process '%s' on '%s' (%s); "
                       "answered 503 to %s %s.", self.group, self.socket_path,
                       os.strerror(err), ex.env["REQUEST_METHOD"], ex.env["PATH_INFO"])
        _release(c, ex)
        self.answer(conn, c, 503, r.body_kind == B_NONE, ex.env)  # nothing of a body read
        return False

    cdef bint _advance(self, Conn conn, hconn *c, Exchange ex, int rc) except? True:
        """Carry the exchange as far as it goes without waiting: either suspend
        it in the loop's set (c.pending; True) or finish it (True keeps the
        client connection). On an exception, handle() or resume_exchange()
        releases the exchange."""
        cdef bint keep
        if rc == R_HEAD:
            rc = self._client_head(ex)
        if rc == R_AGAIN:
            _suspend_exchange(c, ex, ex.r.ev_up, ex.r.ev_c, ex.r.timeout_ms)
            return True
        keep = self._outcome(conn, ex.env, c, &ex.r, rc, ex.started, ex.keep)
        _release(c, ex)
        return keep

    cdef int _client_head(self, Exchange ex) except -1:
        """The daemon's head is complete: queue the client's, then pump on."""
        cdef relay *r = &ex.r
        cdef int mode, code = r.rh.code
        cdef bytes framing = _EMPTY, connection
        cdef Py_ssize_t n
        cdef bint head_only = asks_head(ex.env)
        r.resp_left = r.rh.content_length
        if head_only or code < 200 or code == 204 or code == 304:
            mode = M_NONE
        elif r.rh.chunked:
            mode = M_CHUNKED
            r.emit_ctrl = ex.minor == 1
            if ex.minor == 1:
                framing = _TE_CHUNKED
            else:  # de-chunked: the close ends it
                ex.keep = False
        elif r.rh.content_length >= 0:
            mode = M_LENGTH
        elif ex.minor == 1:
            mode = M_WRAP
            framing = _TE_CHUNKED
        else:
            mode = M_CLOSE
            ex.keep = False
        if ex.keep and not r.req_done and (r.body_kind == B_CHUNKED
                                           or r.body_left > r.drain_limit):
            # Much of the upload (or a chunked one, of unknown size) is still
            # to come while the daemon answers: it may close without reading
            # it, and the rest is not drained past drain_limit. Say the close
            # now rather than promise keep-alive and then close, as the HTTP
            # side does (wsgi_response.pyx, _complete_head).
            ex.keep = False
        connection = (_EMPTY if ex.minor == 1 else _CONN_KEEP) if ex.keep else _CONN_CLOSE
        n = write_client_head(r.obuf + r.oend, CLIENT_OUT_BUF - r.oend, r.ubuf + r.upos, &r.rh,
                              framing, connection)
        if n < 0:
            r.rh.why = "response head too large"
            return R_BAD_HEAD
        r.oend += n
        r.upos += r.head_len
        r.mode = mode
        r.rcs.state = CH_SIZE
        r.phase = P_DONE if mode == M_LENGTH and r.resp_left == 0 else P_BODY
        ex.started = True
        return _pump(r)  # a small response is already here

    cdef bint _outcome(self, Conn conn, dict env, hconn *c, relay *r, int rc, bint started,
                       bint keep) except? True:
        """Log and answer how the exchange ended; True keeps the connection."""
        cdef str method = env["REQUEST_METHOD"], path = env["PATH_INFO"]
        if started:
            access_log_request(env, r.rh.code, r.resp_bytes)
        if rc == R_DONE:
            if keep and r.req_done and not r.drain_gave_up:
                return True
            if not r.req_done and c.fd >= 0:
                with nogil:
                    linger_close_prepare(c.fd)
            return False
        if rc == R_CLIENT_GONE:
            _log.info("Client went away during %s %s relayed to daemon process '%s'.",
                      method, path, self.group)
            return False
        if rc == R_BAD_BODY:
            _log.error("Refused a request with 400 Bad Request: %s.",
                       r.cs.why.decode("ascii") if r.cs.why is not NULL else "bad chunked body")
            if not started:
                self.answer(conn, c, 400, False, env)
            return False
        if rc == R_TOO_LARGE:
            # The daemon's side of the upload is closed, not half-closed: its
            # application sees a body cut short, never a complete one.
            _log.error("Chunked request body is over limit-request-body (%d bytes): %s for "
                       "%s %s.", r.body_limit, "the connection closed after the response began"
                       if started else "413", method, path)
            if not started:
                self.answer(conn, c, 413, False, env)
            return False
        if started:
            if rc == R_TIMEOUT:
                _log.error("Timeout when reading the response body from daemon process '%s' "
                           "after %d bytes (%s %s); the client connection is closed so the "
                           "truncation is visible. [relay: mode %d, upstream %d..%d, out "
                           "%d..%d, body %s, daemon %s]", self.group, r.resp_bytes, method, path,
                           r.mode, r.upos, r.uend, r.opos, r.oend,
                           "sent" if r.req_done else ("waiting for client" if r.need_client
                                                      else "waiting for daemon"),
                           "closed" if r.up_eof else "open")
            else:
                _log.error("Daemon process '%s' closed connection after %d bytes of the response "
                           "body (%s %s); the client connection is closed so the truncation is "
                           "visible.", self.group, r.resp_bytes, method, path)
            return False
        if rc == R_TIMEOUT:
            _log.error("Timeout when reading response headers from daemon process '%s'; "
                       "answered 504 to %s %s after %gs.", self.group, method, path,
                       self.socket_timeout)
            self.answer(conn, c, 504, r.req_done, env)
        elif rc == R_UP_EOF:
            _log.error("Daemon process '%s' closed connection before sending complete response "
                       "headers; answered 502 to %s %s.", self.group, method, path)
            self.answer(conn, c, 502, r.req_done, env)
        elif rc == R_UP_ERROR:
            _log.error("Error reading response headers from daemon process '%s' (%s); answered "
                       "502 to %s %s.", self.group, os.strerror(r.err), method, path)
            self.answer(conn, c, 502, r.req_done, env)
        else:
            _log.error("Invalid response headers from daemon process '%s' (%s); answered 502 "
                       "to %s %s.", self.group,
                       r.rh.why.decode("ascii") if r.rh.why is not NULL else "?", method, path)
            self.answer(conn, c, 502, r.req_done, env)
        return False


cdef void _release(hconn *c, Exchange ex) noexcept:
    """The exchange is over: close the daemon's socket, give the buffers back
    and drop the connection's reference (closing leaves the epoll set)."""
    if ex.r.ufd >= 0:
        close(ex.r.ufd)
        ex.r.ufd = -1
    pipe_close(&ex.r.req_pipe)
    _give_buffer(&_ubufs, ex.r.ubuf)
    _give_buffer(&_obufs, ex.r.obuf)
    ex.r.ubuf = ex.r.obuf = NULL
    c.ufd = -1
    c.ufd_added = 0
    if c.pending is not NULL:
        c.pending = NULL
        Py_DECREF(ex)


cdef bint resume_exchange(Conn conn, hconn *c, bint stopping) except? True:
    """Go on with the suspended exchange of a connection the loop handed back
    (an event on one of its fds, or its wait expired); as RequestHandler.handle.
    stopping: the loop is stopping, so a head not sent yet says Connection: close."""
    cdef Exchange ex = <Exchange>c.pending
    cdef relay *r = &ex.r
    cdef int rc, why = c.resume
    cdef long long moved = r.moved, left_ms
    c.resume = 0
    if stopping:
        ex.keep = False
    access_log_use_set(ex.log_set)
    try:
        if ex.connecting:
            if why != RESUME_EXPIRED:
                # An event still armed on the client socket by the previous
                # exchange: the next attempt keeps its time.
                left_ms = (c.deadline_ns - monotonic_ns()) // 1000000
                _suspend_exchange(c, ex, 0, 0, <int>left_ms + 1 if left_ms > 0 else 0)
                return True
            return (<RelayApp>ex.app)._connect(conn, c, ex)
        # On expiry too, one last look: what arrived after the deadline counts.
        rc = relay_on_ready(r)
        if rc == 0:
            rc = _pump(r)
        if why == RESUME_EXPIRED and rc == R_AGAIN and r.moved == moved:
            rc = relay_expired(r)
            if rc == 0:
                rc = _pump(r)
        return (<RelayApp>ex.app)._advance(conn, c, ex, rc)
    except BaseException:
        _release(c, ex)
        raise
    finally:
        access_log_use_set(0)
