# wsgi.input: the request body as PEP 3333 wants it, over a Conn.
#
# The stream never reads past the body: with a CONTENT_LENGTH it serves
# exactly that many bytes and then b""; a streamed body (length -1) ends at
# the peer's half-close; a chunked body (length -2, HTTP) is de-chunked and
# ends after its last chunk and trailers, leaving the next pipelined request
# untouched in the buffer. A body cut short by the peer (for a streamed body:
# a full close instead of the half-close, see _peer_hung_up) raises
# ClientDisconnected instead of looking complete; malformed chunking raises
# InvalidRequestBody (400). Reads wait without the GIL. With
# `Expect: 100-continue`, the interim 100 response goes out on the first read,
# so a client is never asked for a body the application does not want.

DEF DEFAULT_READ = 65536
DEF MAX_ONE_READ = 1 << 26   # larger reads are gathered in pieces

cdef bytes _CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


cdef bint _peer_hung_up(int fd) noexcept nogil:
    """At EOF: whether the peer closed fully rather than half-closed.

    On AF_UNIX, poll() reports POLLHUP once both directions are shut down
    (Linux unix_poll: sk_shutdown == SHUTDOWN_MASK). A peer's close sets both,
    its shutdown(SHUT_WR) only our receive side; our own half-close, which
    would set the other, comes only after the application is done.
    """
    cdef pollfd p
    p.fd = fd
    p.events = POLLIN
    p.revents = 0
    return fd >= 0 and poll(&p, 1, 0) > 0 and (p.revents & POLLHUP) != 0


cdef object _body_error(object exc):
    """A socket error met while reading a request body, as the error it is for
    the request: the client's stall past socket-timeout (408), or a client
    gone; never an OSError that would pass for the application's own."""
    if isinstance(exc, ClientDisconnected):
        return exc
    if isinstance(exc, TimeoutError):
        err = RequestBodyTimeout(f"no request body bytes within socket-timeout ({exc})")
    else:
        err = ClientDisconnected(f"the request body could not be read ({exc})")
    err.__cause__ = exc
    return err


cdef class InputStream:
    """The object an application gets as environ['wsgi.input']."""
    cdef Conn conn
    cdef long long remaining
    cdef bint stream
    cdef bint chunked
    cdef bint done
    cdef bint pending_continue
    cdef public bint no_continue  # the response has begun: too late for a 100
    cdef bint expired             # its request is over (expire())
    cdef public int bad          # 400 once the body was found malformed
    cdef public long long limit  # limit-request-body for chunked bodies (0 = none)
    cdef long long total         # de-chunked bytes so far
    cdef chunk_state cs

    def __cinit__(self, Conn conn, long long length, bint expect_continue=False):
        self.conn = conn
        self.chunked = length == -2
        self.stream = length < 0
        self.remaining = 0 if self.stream else length
        self.done = length == 0
        self.pending_continue = expect_continue and not self.done
        self.bad = 0
        self.cs.state = CH_SIZE

    @property
    def expecting_continue(self):
        """True while a 100-continue client still waits for permission to send."""
        return self.pending_continue

    cdef int _continue(self) except -1:
        if self.pending_continue:
            self.pending_continue = False
            # Never once the response has begun: the 100 would land inside it.
            if not self.no_continue and self.conn.c.rend == self.conn.c.rpos:
                self.conn.sendall(_CONTINUE)
        return 0

    cdef void expire(self) noexcept:
        """The request is over: its connection may already serve another."""
        self.expired = True
        self.done = True

    cdef bint ends_in_buffer(self) noexcept:
        """Whether what is left of the body is in the connection's buffer
        already: a chunked body's end (found on a copy of its chunk state:
        the application may still read it all); any other body: True, its
        drain is sized by remaining. A small chunked body sent whole with its
        head thus still keeps the connection."""
        cdef hconn *c = self.conn.c
        cdef chunk_state probe
        if not self.chunked or self.done:
            return True
        probe = self.cs
        return chunk_skip(&probe, c.buf + c.rpos, c.rend - c.rpos) >= 0 \
            and probe.state == CH_DONE

    cdef bint _chunk_ready(self) except -1:
        """Advance over chunk control lines; True when chunk data is next."""
        cdef Py_ssize_t r
        cdef hconn *c = self.conn.c
        while self.cs.state != CH_DATA:
            if self.cs.state == CH_DONE:
                self.done = True
                return False
            r = chunk_ctrl(&self.cs, c.buf + c.rpos, c.rend - c.rpos)
            if r > 0:
                c.rpos += r
                continue
            if r < 0:
                self.bad = 400
                self.done = True
                raise InvalidRequestBody(f"malformed chunked request body: {self.cs.why.decode()}")
            if self.conn.fill(65536) == 0:
                self.done = True
                raise ClientDisconnected("chunked request body truncated by the client")
        return True

    cdef bytes _read_chunk(self, Py_ssize_t size, bint line):
        cdef bytes data
        if not self._chunk_ready():
            return b""
        if size > self.cs.remaining:
            size = <Py_ssize_t>self.cs.remaining
        data = self.conn.take_line(size) if line else self.conn.take(size)
        if not data:
            self.done = True
            raise ClientDisconnected("chunked request body truncated by the client")
        self.total += len(data)
        if self.limit and self.total > self.limit:
            self.bad = 413
            self.done = True
            raise RequestBodyTooLarge(
                f"chunked request body is over limit-request-body ({self.limit} bytes)")
        self.cs.remaining -= len(data)
        if self.cs.remaining == 0:
            self.cs.state = CH_DATA_CRLF
        return data

    @property
    def remaining(self):
        """Bytes still expected, or -1 for a streamed body not yet ended."""
        if self.stream:
            return 0 if self.done else -1
        return self.remaining

    cdef inline Py_ssize_t _cap(self, Py_ssize_t size):
        if self.stream or size < self.remaining:
            return size
        return <Py_ssize_t>self.remaining

    cdef bytes _got(self, bytes data, Py_ssize_t asked):
        cdef Py_ssize_t n = len(data)
        if n == 0 and asked > 0:
            if not self.stream:
                raise ClientDisconnected(
                    f"request body truncated: {self.remaining} bytes never arrived")
            if _peer_hung_up(self.conn.c.fd):
                raise ClientDisconnected("streamed request body cut short: the peer "
                                         "closed the connection instead of half-closing it")
            self.done = True
        if not self.stream:
            self.remaining -= n
            if self.remaining == 0:
                self.done = True
        return data

    cdef bytes _read_some(self, Py_ssize_t size):
        if self.done:
            return b""
        self._continue()
        if self.chunked:
            return self._read_chunk(size, False)
        size = self._cap(size)
        return self._got(self.conn.take(size), size)

    cdef object _for_app(self, bint line, size):
        """One read for the application: refused once the request is over,
        and a socket error comes out as the request-body error it is."""
        if self.expired:
            raise RuntimeError("wsgi.input was used after its request ended")
        try:
            return self._readline(size) if line else self._read(size)
        except OSError as exc:
            raise _body_error(exc)

    def read(self, size=-1):
        """Read up to size bytes (all of the rest when size is -1 or None)."""
        return self._for_app(False, size)

    cdef object _read(self, size):
        cdef Py_ssize_t n
        cdef bytes chunk
        if not self.stream and not self.done:
            # A known length: read it into one buffer (file.read(n) semantics).
            n = self.remaining if (size is None or size < 0) else min(size, self.remaining)
            if n > 8192 and n <= MAX_ONE_READ:
                self._continue()
                return self._got(self.conn.take_exactly(n), n)
        if size is None or size < 0:
            parts = []
            while not self.done:
                chunk = self._read_some(DEFAULT_READ if self.stream else
                                        min(self.remaining, 1 << 24))
                if chunk:
                    parts.append(chunk)
            return b"".join(parts)
        n = size
        if n == 0 or self.done:
            return b""
        # Gather until size bytes or the end, as file.read(n) does.
        chunk = self._read_some(n)
        if len(chunk) == n or self.done:
            return chunk
        parts = [chunk]
        n -= len(chunk)
        while n > 0 and not self.done:
            chunk = self._read_some(n)
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    def readline(self, size=-1):
        """Read one line, LF included; at most size bytes when size >= 0."""
        return self._for_app(True, size)

    cdef object _readline(self, size):
        cdef Py_ssize_t limit
        if self.done:
            return b""
        limit = 1 << 30 if (size is None or size < 0) else size
        if limit == 0:
            return b""
        self._continue()
        if self.chunked:
            # A line may span chunks: gather pieces until LF or the limit.
            parts = []
            while limit > 0 and not self.done:
                piece = self._read_chunk(limit, True)
                if not piece:
                    break
                parts.append(piece)
                limit -= len(piece)
                if piece[len(piece) - 1] == 10:
                    break
            return b"".join(parts)
        limit = self._cap(limit)
        return self._got(self.conn.take_line(limit), limit)

    def drain(self, long long limit):
        """Read and drop the rest of the body, up to limit bytes; True if it
        ended. A socket error comes out as it is: the caller closes."""
        cdef long long dropped = 0
        cdef bytes chunk
        if self.pending_continue:
            return False  # the client has not sent it: the connection must close
        while not self.done and dropped <= limit:
            chunk = self._read_some(DEFAULT_READ)
            dropped += len(chunk)
        return self.done

    def readlines(self, hint=-1):
        """All lines; stops once the total passes hint when hint > 0."""
        lines = []
        cdef Py_ssize_t total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line
