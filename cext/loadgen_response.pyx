# The responses the load generator (loadgen.pyx) reads, parsed in C without
# the GIL, one connection at a time, whatever the pieces they arrive in.
#
# resp_feed() consumes what the bytes received so far complete: the head
# (status line of HTTP/1.0 or 1.1, Content-Length, Transfer-Encoding,
# Connection), then the body by its framing: Content-Length; chunked,
# through chunk_ctrl() of chunked.pyx (sizes, extensions, the CRLF after
# the data, the trailer section); or, with neither, everything up to the
# server's close (RS_EOF: the caller completes it on EOF). A HEAD request and
# 204/304 have no body; interim 1xx heads are skipped; 101 is an error (no
# Upgrade is ever sent). The caller keeps the unconsumed rest (part of a line
# or of the head) and calls again with more bytes after it.

from cpython.bytearray cimport PyByteArray_AS_STRING

cdef enum:
    RS_HEAD = 0
    RS_LENGTH = 1
    RS_CHUNKED = 2
    RS_EOF = 3
    RS_DONE = 4
    RS_BAD = 5

cdef struct lg_resp:
    int state
    int status
    bint keep_alive           # the response lets the connection be reused
    long long remaining       # of a Content-Length body
    chunk_state ch


cdef inline void resp_reset(lg_resp *c) noexcept nogil:
    c.state = RS_HEAD
    c.status = 0
    c.keep_alive = False
    c.remaining = 0


cdef Py_ssize_t _resp_head(lg_resp *c, bint is_head, const char *p, Py_ssize_t n) noexcept nogil:
    """Parse one response head in p[:n]: its length, 0 while incomplete, -1 if malformed."""
    cdef const char *lf
    cdef Py_ssize_t pos, eol, end, i, vs, ve
    cdef long long clen = -1
    cdef int code, minor, close_ = 0, keep = 0
    cdef bint chunked = False, other_coding = False
    lf = <const char *>memchr(p, b'\n', n)
    if lf is NULL:
        return 0
    eol = lf - p
    end = eol - 1 if eol > 0 and p[eol - 1] == b'\r' else eol
    if not status_line_ok(p, end) or not 48 <= <unsigned char>p[7] <= 57:
        return -1
    minor = p[7] - 48
    code = (p[9] - 48) * 100 + (p[10] - 48) * 10 + (p[11] - 48)
    if code < 100 or code > 599 or code == 101:
        return -1  # 101 only answers an Upgrade, which is never sent
    pos = eol + 1
    while True:
        lf = <const char *>memchr(p + pos, b'\n', n - pos)
        if lf is NULL:
            return 0
        eol = lf - p
        end = eol - 1 if eol > pos and p[eol - 1] == b'\r' else eol
        if end == pos:
            break
        if not header_line(p, pos, end, &i, &vs, &ve):
            return -1
        if _ieq(p + pos, i - pos, b"content-length", 14):
            clen = content_length_value(p, vs, ve)
            if clen < 0:
                return -1
        elif _ieq(p + pos, i - pos, b"transfer-encoding", 17):
            # chunked last frames the body; any other final coding runs to the close
            chunked = ve - vs >= 7 and _ieq(p + ve - 7, 7, b"chunked", 7)
            other_coding = not chunked
        elif _ieq(p + pos, i - pos, b"connection", 10):
            _connection_tokens(p + vs, ve - vs, &close_, &keep)
        pos = eol + 1
    if code < 200:
        return eol + 1  # an interim response (100, 103): the final one follows
    c.status = code
    c.keep_alive = not close_ and (minor >= 1 or keep)
    if is_head or code == 204 or code == 304:
        c.state = RS_DONE
    elif chunked:
        c.state = RS_CHUNKED
        c.ch.state = CH_SIZE
        c.ch.remaining = 0
        c.ch.trailer_bytes = 0
        c.ch.trailer_fields = 0
    elif other_coding or clen < 0:
        c.state = RS_EOF
        c.keep_alive = False
    elif clen == 0:
        c.state = RS_DONE
    else:
        c.state = RS_LENGTH
        c.remaining = clen
    return eol + 1


cdef Py_ssize_t resp_feed(lg_resp *c, bint is_head, const char *buf,
                          Py_ssize_t buflen) noexcept nogil:
    """Consume what buf[:buflen] completes; what is left (part of a line or of
    the head) is for the next call, with more bytes after it."""
    cdef Py_ssize_t pos = 0, n, avail
    while c.state != RS_DONE:
        avail = buflen - pos
        if c.state == RS_HEAD:
            n = _resp_head(c, is_head, buf + pos, avail)
            if n == 0:
                break
            if n < 0:
                c.state = RS_BAD
                return pos
            pos += n
        elif c.state == RS_LENGTH:
            n = <Py_ssize_t>c.remaining if c.remaining < avail else avail
            c.remaining -= n
            pos += n
            if c.remaining != 0:
                break
            c.state = RS_DONE
        elif c.state == RS_CHUNKED:
            if c.ch.state == CH_DATA:
                if avail == 0:
                    break
                n = <Py_ssize_t>c.ch.remaining if c.ch.remaining < avail else avail
                c.ch.remaining -= n
                pos += n
                if c.ch.remaining == 0:
                    c.ch.state = CH_DATA_CRLF
            elif c.ch.state == CH_DONE:
                c.state = RS_DONE
            else:
                n = chunk_ctrl(&c.ch, buf + pos, avail)
                if n == 0:
                    break
                if n < 0:
                    c.state = RS_BAD
                    return pos
                pos += n
        else:  # RS_EOF: everything up to the close is body
            pos = buflen
            break
    if c.state == RS_DONE and pos != buflen:
        c.state = RS_BAD  # bytes nobody asked for: there is no pipelining
    return pos


def loadgen_parse_response(pieces, bint is_head=False):
    """Feed the pieces of a response in turn as the load generator does (for tests):
    (state, status, keep_alive, bytes left over), state one of "head", "body",
    "eof" (complete at the close), "done", "bad"."""
    cdef lg_resp rs
    cdef bytearray held = bytearray()
    cdef Py_ssize_t used
    cdef const char *p
    resp_reset(&rs)
    for piece in pieces:
        held += piece
        if rs.state == RS_DONE or rs.state == RS_BAD or not held:
            continue
        p = <const char *>PyByteArray_AS_STRING(held)
        used = resp_feed(&rs, is_head, p, len(held))
        del held[:used]
    names = {RS_HEAD: "head", RS_LENGTH: "body", RS_CHUNKED: "body", RS_EOF: "eof",
             RS_DONE: "done", RS_BAD: "bad"}
    return names[rs.state], rs.status, bool(rs.keep_alive), len(held)
