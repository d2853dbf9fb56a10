# The response head a daemon sends back to the router (relay.pyx), parsed in
# C without the GIL, and rebuilt for the client with the GIL.
#
# A daemon answers with an HTTP/1.x status line and header lines (CRLF or
# bare LF), then a blank line. scan_response_head() finds the end of the
# head, the status code, the framing the daemon used (Content-Length,
# Transfer-Encoding: chunked, or none = close-delimited) and which lines to
# keep: hop-by-hop fields are the daemon's business with the router, never
# the client's, so they are dropped. A head larger than MAX_RESPONSE_HEAD,
# a bad status line, a line without a colon or a conflicting Content-Length
# is a daemon fault (502).

DEF MAX_RESPONSE_HEAD = 65536
DEF MAX_RESPONSE_LINES = 256

cdef struct resp_head:
    int code
    span status                 # "200 OK" (after "HTTP/1.x ")
    int nlines
    span lines[MAX_RESPONSE_LINES]  # kept header lines, without their EOL
    long long content_length    # -1 when absent
    bint chunked                # Transfer-Encoding with chunked last
    bint has_date
    bint has_server
    const char *why


cdef inline Py_ssize_t _rh_fail(resp_head *rh, const char *why) noexcept nogil:
    rh.why = why
    return -1


cdef bint _hop_by_hop(const char *p, Py_ssize_t n) noexcept nogil:
    return (_ieq(p, n, b"connection", 10) or _ieq(p, n, b"keep-alive", 10)
            or _ieq(p, n, b"proxy-connection", 16) or _ieq(p, n, b"te", 2)
            or _ieq(p, n, b"trailer", 7) or _ieq(p, n, b"upgrade", 7))


cdef bint status_line_ok(const char *p, Py_ssize_t end) noexcept nogil:
    """p[:end] is "HTTP/1.x DDD[ reason]" (the status line of a response head)."""
    return not (end < 12 or memcmp(p, b"HTTP/1.", 7) != 0 or p[8] != b' '
                or not (48 <= <unsigned char>p[9] <= 57 and 48 <= <unsigned char>p[10] <= 57
                        and 48 <= <unsigned char>p[11] <= 57)
                or (end > 12 and p[12] != b' '))


cdef bint header_line(const char *p, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t *name_end,
                      Py_ssize_t *vs, Py_ssize_t *ve) noexcept nogil:
    """Split the header line p[pos:end] into its name p[pos:name_end] and its value
    p[vs:ve] (OWS trimmed); False when it is not "token: value"."""
    cdef Py_ssize_t i = pos
    while i < end and _HTOKEN[<unsigned char>p[i]]:
        i += 1
    if i == pos or i == end or p[i] != b':':
        return False
    name_end[0] = i
    vs[0] = i + 1
    ve[0] = end
    trim_ows(p, vs, ve)
    return True


cdef long long content_length_value(const char *p, Py_ssize_t vs, Py_ssize_t ve) noexcept nogil:
    """A Content-Length value: 1 to 18 digits, else -1."""
    cdef long long clen = 0
    cdef Py_ssize_t i
    cdef int d
    if ve == vs or ve - vs > 18:
        return -1
    for i in range(vs, ve):
        d = <unsigned char>p[i] - 48
        if d < 0 or d > 9:
            return -1
        clen = clen * 10 + d
    return clen


cdef Py_ssize_t scan_response_head(const char *p, Py_ssize_t n, resp_head *rh) noexcept nogil:
    """0 while incomplete, the head's length when complete, -1 with rh.why on error."""
    cdef const char *lf
    cdef Py_ssize_t pos, eol, end, i, vs, ve
    cdef long long clen
    cdef bint chunked_last
    rh.nlines = 0
    rh.content_length = -1
    rh.chunked = False
    rh.has_date = False
    rh.has_server = False
    lf = <const char *>memchr(p, b'\n', n)
    if lf is NULL:
        return _rh_fail(rh, "response head too large") if n > MAX_RESPONSE_HEAD else 0
    eol = lf - p
    end = eol - 1 if eol > 0 and p[eol - 1] == b'\r' else eol
    if not status_line_ok(p, end):
        return _rh_fail(rh, "malformed status line")
    rh.code = (p[9] - 48) * 100 + (p[10] - 48) * 10 + (p[11] - 48)
    if rh.code < 100:
        return _rh_fail(rh, "malformed status line")
    rh.status.off = 9
    rh.status.len = end - 9
    pos = eol + 1
    while True:
        if pos >= MAX_RESPONSE_HEAD:
            return _rh_fail(rh, "response head too large")
        lf = <const char *>memchr(p + pos, b'\n', n - pos)
        if lf is NULL:
            return _rh_fail(rh, "response head too large") if n > MAX_RESPONSE_HEAD else 0
        eol = lf - p
        end = eol - 1 if eol > pos and p[eol - 1] == b'\r' else eol
        if end == pos:
            if rh.chunked and rh.content_length >= 0:
                return _rh_fail(rh, "both Transfer-Encoding and Content-Length")
            return eol + 1
        if not header_line(p, pos, end, &i, &vs, &ve):
            return _rh_fail(rh, "malformed header line")
        if _ieq(p + pos, i - pos, b"transfer-encoding", 17):
            chunked_last = ve - vs >= 7 and _ieq(p + ve - 7, 7, b"chunked", 7)
            if not chunked_last:
                return _rh_fail(rh, "unsupported Transfer-Encoding")
            rh.chunked = True
        elif not _hop_by_hop(p + pos, i - pos):
            if _ieq(p + pos, i - pos, b"content-length", 14):
                clen = content_length_value(p, vs, ve)
                if clen < 0:
                    return _rh_fail(rh, "invalid Content-Length")
                if rh.content_length >= 0 and rh.content_length != clen:
                    return _rh_fail(rh, "conflicting Content-Length")
                if rh.content_length >= 0:
                    pos = eol + 1
                    continue  # an identical duplicate: keep one
                rh.content_length = clen
            elif _ieq(p + pos, i - pos, b"date", 4):
                rh.has_date = True
            elif _ieq(p + pos, i - pos, b"server", 6):
                rh.has_server = True
            if rh.nlines >= MAX_RESPONSE_LINES:
                return _rh_fail(rh, "too many header lines")
            rh.lines[rh.nlines].off = pos
            rh.lines[rh.nlines].len = end - pos
            rh.nlines += 1
        pos = eol + 1


cdef bytes _NO_BYTES = b""


cdef inline char *_put(char *w, const char *p, Py_ssize_t n) noexcept:
    memcpy(w, p, n)
    return w + n


cdef Py_ssize_t write_client_head(char *out, Py_ssize_t room, const char *p, resp_head *rh,
                                  bytes framing, bytes connection) except -2:
    """The head for the client (status, kept lines, Date/Server if missing,
    framing), written straight into out: its length, or -1 if over room."""
    cdef bytes date = date_header() if not rh.has_date else _NO_BYTES
    cdef bytes server = _SERVER_LINE if not rh.has_server else _NO_BYTES
    cdef Py_ssize_t n = 9 + rh.status.len + 2 + len(date) + len(server) + len(framing) \
        + len(connection) + 2
    cdef char *w = out
    cdef int i
    for i in range(rh.nlines):
        n += rh.lines[i].len + 2
    if n > room:
        return -1
    w = _put(w, "HTTP/1.1 ", 9)
    w = _put(w, p + rh.status.off, rh.status.len)
    w = _put(w, "\r\n", 2)
    for i in range(rh.nlines):
        w = _put(w, p + rh.lines[i].off, rh.lines[i].len)
        w = _put(w, "\r\n", 2)
    w = _put(w, PyBytes_AS_STRING(date), len(date))
    w = _put(w, PyBytes_AS_STRING(server), len(server))
    w = _put(w, PyBytes_AS_STRING(framing), len(framing))
    w = _put(w, PyBytes_AS_STRING(connection), len(connection))
    _put(w, "\r\n", 2)
    return n


def parse_response_head(data):
    """Parse a daemon's response head (for tests): None while incomplete, else
    (length, code, kept lines, content_length, chunked); ValueError when invalid."""
    cdef const unsigned char[::1] view = data
    cdef resp_head rh
    cdef const char *p
    cdef Py_ssize_t r
    cdef int i
    if view.shape[0] == 0:
        return None
    p = <const char *>&view[0]
    r = scan_response_head(p, view.shape[0], &rh)
    if r == 0:
        return None
    if r < 0:
        raise ValueError(rh.why.decode("ascii"))
    lines = [bytes(p[rh.lines[i].off:rh.lines[i].off + rh.lines[i].len])
             for i in range(rh.nlines)]
    return r, rh.code, lines, rh.content_length, bool(rh.chunked)
