# The chunked transfer coding of request bodies (RFC 9112 7.1). Sans-IO:
# chunk_ctrl() consumes the control parts (size lines, the CRLF after each
# chunk's data, the trailer section) from a buffer; the caller copies chunk
# data itself, chunk_state.remaining bytes at a time.
#
# Strict: sizes are hex digits only with overflow checked, extensions must be
# `;name[=token|"quoted"]`, the CRLF after the data is required, and trailer
# fields are validated and then discarded: a trailer can never change how
# the message was framed or add a variable the application trusts.

DEF MAX_CHUNK_LINE = 4096
DEF MAX_TRAILER = 65536
DEF MAX_TRAILER_FIELDS = 100

cdef enum:
    CH_SIZE = 0
    CH_DATA = 1
    CH_DATA_CRLF = 2
    CH_TRAILER = 3
    CH_DONE = 4

cdef struct chunk_state:
    int state
    long long remaining
    Py_ssize_t trailer_bytes
    int trailer_fields
    const char *why


cdef inline Py_ssize_t _chunk_fail(chunk_state *s, const char *why) noexcept nogil:
    s.why = why
    return -1


cdef Py_ssize_t _chunk_ext(const char *p, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
    """Validate chunk extensions in p[i:end]; returns end, or -1."""
    cdef Py_ssize_t a
    while i < end:
        while i < end and (p[i] == b' ' or p[i] == b'\t'):
            i += 1
        if i == end or p[i] != b';':  # whitespace is allowed only before ';'
            return -1
        i += 1
        while i < end and (p[i] == b' ' or p[i] == b'\t'):
            i += 1
        a = i
        while i < end and _HTOKEN[<unsigned char>p[i]]:
            i += 1
        if i == a:
            return -1
        while i < end and (p[i] == b' ' or p[i] == b'\t'):
            i += 1
        if i < end and p[i] == b'=':
            i += 1
            while i < end and (p[i] == b' ' or p[i] == b'\t'):
                i += 1
            if i < end and p[i] == b'"':
                i += 1
                while i < end and p[i] != b'"':
                    if p[i] == b'\\':
                        i += 1
                        if i >= end or not _HFIELD[<unsigned char>p[i]]:
                            return -1
                    elif not _HFIELD[<unsigned char>p[i]]:
                        return -1
                    i += 1
                if i >= end:
                    return -1
                i += 1
            else:
                a = i
                while i < end and _HTOKEN[<unsigned char>p[i]]:
                    i += 1
                if i == a:
                    return -1
    return end


cdef Py_ssize_t chunk_ctrl(chunk_state *s, const char *p, Py_ssize_t n) noexcept nogil:
    """Consume one control line from p[:n]: bytes consumed, 0 = need more, -1 = error."""
    cdef const char *lf
    cdef Py_ssize_t eol, i, line_end
    cdef long long size
    cdef int d
    if s.state == CH_DATA_CRLF:
        if n < 2:
            return 0
        if p[0] != b'\r' or p[1] != b'\n':
            return _chunk_fail(s, "chunk data not followed by CRLF")
        s.state = CH_SIZE
        return 2
    lf = <const char *>memchr(p, b'\n', n)
    if lf is NULL:
        if n > MAX_CHUNK_LINE:
            return _chunk_fail(s, "chunk size line or trailer field too long")
        return 0
    eol = lf - p
    if eol > MAX_CHUNK_LINE:
        return _chunk_fail(s, "chunk size line or trailer field too long")
    if eol == 0 or p[eol - 1] != b'\r':
        return _chunk_fail(s, "bare LF in chunked framing")
    line_end = eol - 1
    if s.state == CH_SIZE:
        size = 0
        i = 0
        while i < line_end and _HEX[<unsigned char>p[i]] >= 0:
            d = _HEX[<unsigned char>p[i]]
            if size > (MAX_CONTENT_LENGTH_C - d) // 16:
                return _chunk_fail(s, "chunk size overflows")
            size = size * 16 + d
            i += 1
        if i == 0:
            return _chunk_fail(s, "chunk size is not hexadecimal")
        if _chunk_ext(p, i, line_end) < 0:
            return _chunk_fail(s, "malformed chunk extension")
        if size == 0:
            s.state = CH_TRAILER
        else:
            s.state = CH_DATA
            s.remaining = size
        return eol + 1
    if s.state == CH_TRAILER:
        if line_end == 0:
            s.state = CH_DONE
            return eol + 1
        s.trailer_bytes += eol + 1
        s.trailer_fields += 1
        if s.trailer_bytes > MAX_TRAILER or s.trailer_fields > MAX_TRAILER_FIELDS:
            return _chunk_fail(s, "trailer section too large")
        if p[0] == b' ' or p[0] == b'\t':
            return _chunk_fail(s, "obsolete line folding in a trailer")
        i = 0
        while i < line_end and _HTOKEN[<unsigned char>p[i]]:
            i += 1
        if i == 0 or i == line_end or p[i] != b':':
            return _chunk_fail(s, "malformed trailer field")
        if _ieq(p, i, b"content-length", 14) or _ieq(p, i, b"transfer-encoding", 17) \
                or _ieq(p, i, b"host", 4):
            return _chunk_fail(s, "framing field in a trailer")
        for i in range(i + 1, line_end):
            if not _HFIELD[<unsigned char>p[i]]:
                return _chunk_fail(s, "control character in a trailer field")
        return eol + 1
    return _chunk_fail(s, "chunked body already complete")


class ChunkedError(ValueError):
    """A malformed chunked body: answered 400, and the connection closed."""


cdef Py_ssize_t chunk_skip(chunk_state *s, const char *p, Py_ssize_t n) noexcept nogil:
    """Pass over framing and data in p[:n] without delivering the data, up to
    the body's end (s.state CH_DONE) or the end of p: bytes consumed, or -1
    (malformed; s.why says why)."""
    cdef Py_ssize_t pos = 0, k
    while s.state != CH_DONE:
        if s.state == CH_DATA:
            k = n - pos if n - pos < s.remaining else <Py_ssize_t>s.remaining
            if k == 0:
                break
            s.remaining -= k
            if s.remaining == 0:
                s.state = CH_DATA_CRLF
        else:
            k = chunk_ctrl(s, p + pos, n - pos)
            if k < 0:
                return -1
            if k == 0:
                break
        pos += k
    return pos


cdef class ChunkedDecoder:
    """Sans-IO wrapper of the decoder, for tests and tools.

    feed(data) returns the body bytes decoded so far from data; `done` is True
    after the last chunk and its trailers, and `trailing` then holds whatever
    followed (the next request on a keep-alive connection).
    """
    cdef chunk_state s
    cdef bytearray pending

    def __cinit__(self):
        self.s.state = CH_SIZE
        self.s.remaining = 0
        self.s.trailer_bytes = 0
        self.s.trailer_fields = 0
        self.pending = bytearray()

    @property
    def done(self):
        return self.s.state == CH_DONE

    @property
    def trailing(self):
        return bytes(self.pending) if self.s.state == CH_DONE else b""

    def feed(self, data):
        cdef Py_ssize_t pos = 0, r, take
        cdef const char *p
        out = bytearray()
        self.pending += data
        while self.s.state != CH_DONE:
            p = self.pending
            if self.s.state == CH_DATA:
                take = min(self.s.remaining, len(self.pending) - pos)
                if take == 0:
                    break
                out += self.pending[pos:pos + take]
                pos += take
                self.s.remaining -= take
                if self.s.remaining == 0:
                    self.s.state = CH_DATA_CRLF
                continue
            r = chunk_ctrl(&self.s, p + pos, len(self.pending) - pos)
            if r < 0:
                raise ChunkedError(self.s.why.decode("ascii"))
            if r == 0:
                break
            pos += r
        del self.pending[:pos]
        return bytes(out)
