# wsgi.input: the request body as PEP 3333 wants it, over a Conn.
#
# The stream never reads past the body: with a CONTENT_LENGTH it serves
# exactly that many bytes and then b""; a streamed body (length -1) ends at
# the peer's half-close. A body cut short by the peer raises
# ClientDisconnected instead of looking complete. Reads wait without the GIL.

DEF DEFAULT_READ = 65536


cdef class InputStream:
    """The object an application gets as environ['wsgi.input']."""
    cdef Conn conn
    cdef long long remaining
    cdef bint stream
    cdef bint done

    def __cinit__(self, Conn conn, long long length):
        self.conn = conn
        self.stream = length < 0
        self.remaining = 0 if self.stream else length
        self.done = length == 0

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
            self.done = True
        if not self.stream:
            self.remaining -= n
            if self.remaining == 0:
                self.done = True
        return data

    cdef bytes _read_some(self, Py_ssize_t size):
        if self.done:
            return b""
        size = self._cap(size)
        return self._got(self.conn.take(size), size)

    def read(self, size=-1):
        """Read up to size bytes (all of the rest when size is -1 or None)."""
        cdef Py_ssize_t n
        cdef bytes chunk
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
        cdef Py_ssize_t limit
        if self.done:
            return b""
        limit = 1 << 30 if (size is None or size < 0) else size
        if limit == 0:
            return b""
        limit = self._cap(limit)
        return self._got(self.conn.take_line(limit), limit)

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
