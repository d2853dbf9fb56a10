# The HTTP/1.1 request-head parser (RFC 9112), strict by default. Sans-IO.
#
# Theory of operation:
# 1. scan_head() runs without the GIL over the bytes received so far. It
#    returns 0 while the head is incomplete, the head's length once it is
#    complete and valid, or -1 with h.error set to the status to answer
#    (400, 414, 431, 501, 505, 417). It records spans (offsets) only.
# 2. Limits are enforced while the head is still incomplete, so a client
#    cannot make us buffer more than MAX_HEAD bytes: a request line over
#    h.max_line -> 414; a field line over h.max_field, more than
#    h.max_fields fields or a head over MAX_HEAD -> 431. The three are
#    Apache's LimitRequestLine / LimitRequestFieldSize / LimitRequestFields
#    (defaults DEFAULT_LINE / DEFAULT_FIELDS), per HTTP loop; the caller
#    sets them and gives names/values room for max_fields (init_head_limits).
# 3. Everything that decides where the body ends is checked here, once:
#    Content-Length digits only and given once; Transfer-Encoding a single
#    final `chunked`; never both; no chunked on HTTP/1.0. Bare CR or LF,
#    obsolete line folding, whitespace before the colon and control
#    characters in values are refused, so no two parsers (ours and a proxy's
#    in front) can disagree about the message: no request smuggling.
#    Host, which names the virtual host and so the routing, is given once
#    and is a uri-host [":" port]; an absolute-form target's authority
#    (valid, without userinfo) takes its place (RFC 9112 3.2, 3.2.2).
# 4. head_environ() (with the GIL) turns the spans into CGI variables; only it
#    allocates Python objects. Header names with '_' are dropped (they would
#    be indistinguishable from '-' ones), and `Proxy` never becomes
#    HTTP_PROXY (httpoxy).
# 5. After an error the caller answers and closes: nothing after a bad head is
#    ever parsed on that connection.

from cpython.unicode cimport PyUnicode_DecodeLatin1

DEF DEFAULT_LINE = 8190
DEF DEFAULT_FIELDS = 100
DEF MAX_NAME = 8190          # longest field name turned into a CGI key on the stack
DEF MAX_HEAD = 65536
DEF MAX_CL_DIGITS = 19

cdef struct span:
    Py_ssize_t off
    Py_ssize_t len

cdef struct http_head:
    int error                 # 0, or the HTTP status to answer
    const char *why           # static text for the log line
    Py_ssize_t start          # offset of the request line (after empty lines)
    span method
    span target
    span path                 # origin path within target (absolute-form stripped)
    span query                # after '?', len -1 when there is no '?'
    int minor                 # HTTP/1.<minor>
    int nfields
    int max_line              # LimitRequestLine
    int max_fields            # LimitRequestFields (names/values hold as many)
    int max_field             # LimitRequestFieldSize
    span *names
    span *values
    long long content_length  # -1 when absent
    bint chunked
    bint keep_alive
    bint expect_continue
    int host_index            # field index of Host, -1 when absent
    Py_ssize_t length         # of the whole head, once complete


cdef unsigned char _HTOKEN[256]
cdef unsigned char _HFIELD[256]
cdef unsigned char _HTARGET[256]
cdef unsigned char _HREGNAME[256]  # reg-name: unreserved, sub-delims, '%'
cdef signed char _HEX[256]


cdef void _init_http_tables() noexcept:
    cdef int c
    for c in range(256):
        _HTOKEN[c] = (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122)
        _HFIELD[c] = c == 9 or (32 <= c <= 126) or c >= 128
        _HTARGET[c] = 33 <= c <= 126 and c != 35  # visible ASCII, no '#'
        _HREGNAME[c] = _HTOKEN[c]  # alphanumerics; the rest below
        _HEX[c] = -1
    for c in b"!#$%&'*+-.^_`|~":
        _HTOKEN[c] = 1
    for c in b"-._~!$&'()*+,;=%":
        _HREGNAME[c] = 1
    for c in range(10):
        _HEX[48 + c] = c
    for c in range(6):
        _HEX[65 + c] = 10 + c
        _HEX[97 + c] = 10 + c


_init_http_tables()


cdef inline int _lower(int c) noexcept nogil:
    return c + 32 if 65 <= c <= 90 else c


cdef bint _ieq(const char *p, Py_ssize_t n, const char *lit, Py_ssize_t m) noexcept nogil:
    """Case-insensitive equality of p[:n] with a lower-case literal."""
    cdef Py_ssize_t i
    if n != m:
        return False
    for i in range(n):
        if _lower(<unsigned char>p[i]) != <unsigned char>lit[i]:
            return False
    return True


cdef inline Py_ssize_t _fail(http_head *h, int status, const char *why) noexcept nogil:
    h.error = status
    h.why = why
    return -1


cdef inline void trim_ows(const char *p, Py_ssize_t *a, Py_ssize_t *b) noexcept nogil:
    """Shrink p[a:b] past optional whitespace (SP, HTAB) at both ends."""
    while a[0] < b[0] and (p[a[0]] == b' ' or p[a[0]] == b'\t'):
        a[0] += 1
    while b[0] > a[0] and (p[b[0] - 1] == b' ' or p[b[0] - 1] == b'\t'):
        b[0] -= 1


cdef bint _list_item(const char *p, Py_ssize_t n, Py_ssize_t *i, Py_ssize_t *a,
                     Py_ssize_t *b) noexcept nogil:
    """Next element of a comma-separated header list, OWS trimmed, as p[a:b]."""
    if i[0] > n:
        return False
    a[0] = i[0]
    while i[0] < n and p[i[0]] != b',':
        i[0] += 1
    b[0] = i[0]
    i[0] += 1
    trim_ows(p, a, b)
    return True


cdef int _te_tokens(const char *p, Py_ssize_t n, int *state) noexcept nogil:
    """Fold one Transfer-Encoding value into state; returns an error status or 0.

    state: bit 1 = chunked seen (and so far last), bit 2 = another coding seen.
    """
    cdef Py_ssize_t i = 0, a, b
    while _list_item(p, n, &i, &a, &b):
        if a == b:
            continue  # empty list elements are allowed by the list syntax
        if state[0] & 1:
            return 400  # chunked must be the final coding, and only once
        if _ieq(p + a, b - a, b"chunked", 7):
            state[0] |= 1
        else:
            state[0] |= 2
    return 0


cdef void _connection_tokens(const char *p, Py_ssize_t n, int *close_, int *keep) noexcept nogil:
    cdef Py_ssize_t i = 0, a, b
    while _list_item(p, n, &i, &a, &b):
        if _ieq(p + a, b - a, b"close", 5):
            close_[0] = 1
        elif _ieq(p + a, b - a, b"keep-alive", 10):
            keep[0] = 1


cdef bint _valid_host(const char *p, Py_ssize_t n) noexcept nogil:
    """Host's value (or an absolute-form authority): uri-host [":" port]
    (RFC 9112 3.2, RFC 3986 3.2.2): an IP literal in brackets or a reg-name
    (an IPv4 address is one), then digits after a colon. Empty is valid for
    Host; the caller refuses an empty authority."""
    cdef Py_ssize_t i = 0
    if n and p[0] == b'[':
        i = 1
        while i < n and p[i] != b']':
            if not (_HEX[<unsigned char>p[i]] >= 0 or p[i] == b':' or p[i] == b'.'):
                return False
            i += 1
        if i == n or i == 1:
            return False
        i += 1
    else:
        while i < n and _HREGNAME[<unsigned char>p[i]]:
            i += 1
    if i < n and p[i] == b':':
        i += 1
        while i < n and 48 <= <unsigned char>p[i] <= 57:
            i += 1
    return i == n


cdef int _target_path(const char *p, http_head *h) noexcept nogil:
    """Find the path and query in the request target (origin or absolute form)."""
    cdef Py_ssize_t off = h.target.off, n = h.target.len, i, end = h.target.off + h.target.len
    if h.method.len == 7 and memcmp(p + h.method.off, b"CONNECT", 7) == 0:
        _fail(h, 501, "CONNECT is not supported")
        return -1
    if p[off] == b'/':
        pass
    elif n == 1 and p[off] == b'*':
        if not _ieq(p + h.method.off, h.method.len, b"options", 7) \
                or memcmp(p + h.method.off, b"OPTIONS", 7) != 0:
            _fail(h, 400, "asterisk-form target for a method other than OPTIONS")
            return -1
    elif (n > 7 and _ieq(p + off, 7, b"http://", 7)) \
            or (n > 8 and _ieq(p + off, 8, b"https://", 8)):
        i = off + (7 if p[off + 4] == b':' else 8)
        off = i
        while i < end and p[i] != b'/' and p[i] != b'?':
            i += 1
        # RFC 9112 3.2.2: the target's authority, not Host, names the host
        # (userinfo is refused, RFC 9110 4.2.4): it takes Host's place.
        if i == off or not _valid_host(p + off, i - off):
            _fail(h, 400, "invalid authority in an absolute-form target")
            return -1
        if h.host_index >= 0:
            h.values[h.host_index].off = off
            h.values[h.host_index].len = i - off
        off = i
    else:
        _fail(h, 400, "malformed request target")
        return -1
    h.path.off = off
    i = off
    while i < end and p[i] != b'?':
        i += 1
    h.path.len = i - off
    if i < end:
        h.query.off = i + 1
        h.query.len = end - i - 1
    return 0


cdef Py_ssize_t scan_head(const char *p, Py_ssize_t n, http_head *h) noexcept nogil:
    """Validate a request head in p[:n]; see the theory of operation."""
    cdef Py_ssize_t pos = 0, eol, i, line_end, colon, vs, ve
    cdef const char *lf
    cdef int te_state = 0, te_seen = 0, status, conn_close = 0, conn_keep = 0
    cdef int content_types = 0
    cdef unsigned char c
    h.error = 0
    h.nfields = 0
    h.content_length = -1
    h.chunked = False
    h.expect_continue = False
    h.host_index = -1
    h.query.len = -1
    # RFC 9112 2.2: ignore empty lines (CRLF) before the request line.
    while pos + 1 < n and p[pos] == b'\r' and p[pos + 1] == b'\n':
        pos += 2
    if pos < n and p[pos] == b'\n':
        return _fail(h, 400, "bare LF before the request line")
    if pos > h.max_line:
        return _fail(h, 400, "too many empty lines before the request line")
    h.start = pos
    # -- request line ------------------------------------------------------
    lf = <const char *>memchr(p + pos, b'\n', n - pos)
    if lf is NULL:
        if n - pos > h.max_line + 1:  # + 1: the CR of a maximal line may be here
            return _fail(h, 414, "request line too long")
        return 0
    eol = lf - p
    if eol == pos or p[eol - 1] != b'\r':
        return _fail(h, 400, "bare LF in the request line")
    line_end = eol - 1
    if line_end - pos > h.max_line:
        return _fail(h, 414, "request line too long")
    i = pos
    while i < line_end and _HTOKEN[<unsigned char>p[i]]:
        i += 1
    if i == pos or i >= line_end or p[i] != b' ':
        return _fail(h, 400, "malformed method in the request line")
    h.method.off = pos
    h.method.len = i - pos
    i += 1
    vs = i
    while i < line_end and _HTARGET[<unsigned char>p[i]]:
        i += 1
    if i == vs or i >= line_end or p[i] != b' ':
        return _fail(h, 400, "malformed request target")
    h.target.off = vs
    h.target.len = i - vs
    i += 1
    if line_end - i != 8 or memcmp(p + i, b"HTTP/", 5) != 0 \
            or not (48 <= <unsigned char>p[i + 5] <= 57) or p[i + 6] != b'.' \
            or not (48 <= <unsigned char>p[i + 7] <= 57):
        return _fail(h, 400, "malformed HTTP version")
    if p[i + 5] != b'1' or (p[i + 7] != b'0' and p[i + 7] != b'1'):
        return _fail(h, 505, "HTTP version not supported")
    h.minor = p[i + 7] - 48
    # -- header fields -------------------------------------------------------
    pos = eol + 1
    while True:
        if n - pos < 2:
            if pos < n and p[pos] == b'\n':
                return _fail(h, 400, "bare LF ending the head")
            if pos < n and (p[pos] == b' ' or p[pos] == b'\t'):
                return _fail(h, 400, "obsolete line folding")
            if n > MAX_HEAD:
                return _fail(h, 431, "request head too large")
            return 0
        if p[pos] == b'\r':
            if p[pos + 1] != b'\n':
                return _fail(h, 400, "bare CR in the head")
            pos += 2
            if pos > MAX_HEAD:
                return _fail(h, 431, "request head too large")
            break
        if p[pos] == b'\n':
            return _fail(h, 400, "bare LF in the head")
        if p[pos] == b' ' or p[pos] == b'\t':
            return _fail(h, 400, "obsolete line folding")
        lf = <const char *>memchr(p + pos, b'\n', n - pos)
        if lf is NULL:
            if n - pos > h.max_field + 1:
                return _fail(h, 431, "header field too long")
            if n > MAX_HEAD:
                return _fail(h, 431, "request head too large")
            return 0
        eol = lf - p
        if p[eol - 1] != b'\r':
            return _fail(h, 400, "bare LF in a header field")
        line_end = eol - 1
        if line_end - pos > h.max_field:
            return _fail(h, 431, "header field too long")
        if h.nfields >= h.max_fields:
            return _fail(h, 431, "too many header fields")
        if eol + 1 > MAX_HEAD:
            return _fail(h, 431, "request head too large")
        i = pos
        while i < line_end and _HTOKEN[<unsigned char>p[i]]:
            i += 1
        if i == line_end or p[i] != b':':
            if i < line_end and (p[i] == b' ' or p[i] == b'\t'):
                return _fail(h, 400, "whitespace before the colon of a header field")
            return _fail(h, 400, "malformed header field name")
        if i == pos:
            return _fail(h, 400, "empty header field name")
        colon = i
        vs = colon + 1
        ve = line_end
        trim_ows(p, &vs, &ve)
        for i in range(vs, ve):
            c = <unsigned char>p[i]
            if not _HFIELD[c]:
                return _fail(h, 400, "control character in a header value")
        h.names[h.nfields].off = pos
        h.names[h.nfields].len = colon - pos
        h.values[h.nfields].off = vs
        h.values[h.nfields].len = ve - vs
        # Framing and connection-level fields.
        if _ieq(p + pos, colon - pos, b"content-length", 14):
            if h.content_length >= 0:
                return _fail(h, 400, "more than one Content-Length")
            if ve == vs or ve - vs > MAX_CL_DIGITS:
                return _fail(h, 400, "invalid Content-Length")
            h.content_length = 0
            for i in range(vs, ve):
                c = <unsigned char>p[i]
                if not 48 <= c <= 57:
                    return _fail(h, 400, "invalid Content-Length")
                if h.content_length > (MAX_CONTENT_LENGTH_C - (c - 48)) // 10:
                    return _fail(h, 400, "Content-Length too large")
                h.content_length = h.content_length * 10 + (c - 48)
        elif _ieq(p + pos, colon - pos, b"transfer-encoding", 17):
            te_seen = 1
            if ve == vs:
                return _fail(h, 400, "empty Transfer-Encoding")
            status = _te_tokens(p + vs, ve - vs, &te_state)
            if status:
                return _fail(h, status, "chunked is not the final transfer coding")
        elif _ieq(p + pos, colon - pos, b"content-type", 12):
            if content_types:
                return _fail(h, 400, "more than one Content-Type")
            content_types = 1
        elif _ieq(p + pos, colon - pos, b"host", 4):
            if h.host_index >= 0:
                return _fail(h, 400, "more than one Host")
            if not _valid_host(p + vs, ve - vs):
                return _fail(h, 400, "invalid Host")
            h.host_index = h.nfields
        elif _ieq(p + pos, colon - pos, b"connection", 10):
            _connection_tokens(p + vs, ve - vs, &conn_close, &conn_keep)
        elif _ieq(p + pos, colon - pos, b"expect", 6) and h.minor == 1:
            # RFC 9110 10.1.1: an HTTP/1.0 request's Expect is ignored.
            if _ieq(p + vs, ve - vs, b"100-continue", 12):
                h.expect_continue = True
            else:
                return _fail(h, 417, "unsupported expectation")
        h.nfields += 1
        pos = eol + 1
    # -- whole-message rules -------------------------------------------------
    if te_seen:
        if h.minor == 0:
            return _fail(h, 400, "Transfer-Encoding in an HTTP/1.0 request")
        if h.content_length >= 0:
            return _fail(h, 400, "both Transfer-Encoding and Content-Length")
        if te_state & 2:
            return _fail(h, 501, "unsupported transfer coding")
        if not te_state & 1:
            return _fail(h, 400, "Transfer-Encoding without a coding")
        h.chunked = True
    if h.minor == 1 and h.host_index < 0:
        return _fail(h, 400, "missing Host header in an HTTP/1.1 request")
    if h.minor == 1:
        h.keep_alive = not conn_close
    else:
        h.keep_alive = conn_keep and not conn_close
    if _target_path(p, h) < 0:
        return -1
    h.length = pos
    return pos


# -- environ ------------------------------------------------------------------

cdef str _S_GET = "GET", _S_POST = "POST", _S_HEAD = "HEAD"
cdef str _S_HTTP11 = "HTTP/1.1", _S_HTTP10 = "HTTP/1.0"


cdef str _span_str(const char *p, Py_ssize_t n):
    return PyUnicode_DecodeLatin1(p, n, NULL)


cdef str _unquote_path(const char *p, Py_ssize_t n):
    """Percent-decode a path as CGI's PATH_INFO wants (invalid escapes kept)."""
    cdef const char *pct = <const char *>memchr(p, b'%', n)
    if pct is NULL:
        return PyUnicode_DecodeLatin1(p, n, NULL)
    cdef bytearray out = bytearray(n)
    cdef char *o = out
    cdef Py_ssize_t i = 0, k = 0
    cdef int hi, lo
    while i < n:
        if p[i] == b'%' and i + 2 < n:
            hi = _HEX[<unsigned char>p[i + 1]]
            lo = _HEX[<unsigned char>p[i + 2]]
            if hi >= 0 and lo >= 0:
                o[k] = <char>(hi * 16 + lo)
                k += 1
                i += 3
                continue
        o[k] = p[i]
        k += 1
        i += 1
    return PyUnicode_DecodeLatin1(o, k, NULL)


cdef str _method_str(const char *p, Py_ssize_t n):
    if n == 3 and memcmp(p, b"GET", 3) == 0:
        return _S_GET
    if n == 4 and memcmp(p, b"POST", 4) == 0:
        return _S_POST
    if n == 4 and memcmp(p, b"HEAD", 4) == 0:
        return _S_HEAD
    return PyUnicode_DecodeLatin1(p, n, NULL)


cdef object _cgi_key(const char *p, Py_ssize_t n):
    """'User-Agent' -> 'HTTP_USER_AGENT'; None for names to drop."""
    cdef char buf[MAX_NAME + 8]
    cdef Py_ssize_t i
    cdef int c
    cdef str name
    if _ieq(p, n, b"content-type", 12):
        return "CONTENT_TYPE"
    if _ieq(p, n, b"content-length", 14):
        return "CONTENT_LENGTH"
    if _ieq(p, n, b"proxy", 5):
        return None
    if n > MAX_NAME:  # only with a LimitRequestFieldSize above the default
        name = PyUnicode_DecodeLatin1(p, n, NULL)
        return None if "_" in name else "HTTP_" + name.upper().replace("-", "_")
    memcpy(buf, b"HTTP_", 5)
    for i in range(n):
        c = <unsigned char>p[i]
        if c == b'_':
            return None
        buf[5 + i] = b'_' if c == b'-' else (c - 32 if 97 <= c <= 122 else c)
    return PyUnicode_DecodeLatin1(buf, n + 5, NULL)


cdef dict head_environ(const char *p, http_head *h):
    """CGI variables of a validated head (see scan_head)."""
    cdef dict env = {}
    cdef int i
    cdef object key
    cdef str value, old
    env["REQUEST_METHOD"] = _method_str(p + h.method.off, h.method.len)
    env["SCRIPT_NAME"] = ""
    env["PATH_INFO"] = _unquote_path(p + h.path.off, h.path.len)
    env["QUERY_STRING"] = _span_str(p + h.query.off, h.query.len) if h.query.len >= 0 else ""
    env["REQUEST_URI"] = _span_str(p + h.target.off, h.target.len)
    env["SERVER_PROTOCOL"] = _S_HTTP11 if h.minor == 1 else _S_HTTP10
    for i in range(h.nfields):
        key = _cgi_key(p + h.names[i].off, h.names[i].len)
        if key is None:
            continue
        value = PyUnicode_DecodeLatin1(p + h.values[i].off, h.values[i].len, NULL)
        old = env.get(key)
        if old is not None:
            value = old + ("; " if key == "HTTP_COOKIE" else ", ") + value
        env[key] = value
    return env


cdef int init_head_limits(http_head *h, int max_line, int max_fields,
                          int max_field) except -1:
    """Set the limits and allocate names/values for max_fields (free_head_limits).

    max_fields 0 is unlimited (Apache's rule): as many as MAX_HEAD can hold.
    """
    if max_fields == 0 or max_fields > MAX_HEAD // 4:  # 'a:' CR LF: 4 bytes a field
        max_fields = MAX_HEAD // 4
    h.max_line = max_line
    h.max_fields = max_fields
    h.max_field = max_field
    h.names = <span *>malloc(max(max_fields, 1) * sizeof(span))
    h.values = <span *>malloc(max(max_fields, 1) * sizeof(span))
    if h.names is NULL or h.values is NULL:
        free_head_limits(h)
        raise MemoryError()
    return 0


cdef void free_head_limits(http_head *h) noexcept:
    free(h.names)
    free(h.values)
    h.names = NULL
    h.values = NULL


class HTTPParseError(ValueError):
    """A request head refused by the parser; .status is the answer to give."""

    def __init__(self, status, reason):
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def parse_request_head(data, int limit_request_line=DEFAULT_LINE,
                       int limit_request_fields=DEFAULT_FIELDS,
                       int limit_request_field_size=DEFAULT_LINE):
    """Parse a request head from bytes (for tests and tools).

    Returns None while incomplete, else (environ, head_length, info) where info
    is a dict with content_length (-1 absent), chunked, keep_alive,
    expect_continue; raises HTTPParseError with the status to answer.
    """
    cdef const unsigned char[::1] view = data
    cdef http_head h
    cdef Py_ssize_t n = view.shape[0], r
    if n == 0:
        return None
    init_head_limits(&h, limit_request_line, limit_request_fields, limit_request_field_size)
    try:
        r = scan_head(<const char *>&view[0], n, &h)
        if r == 0:
            return None
        if r < 0:
            raise HTTPParseError(h.error, h.why.decode("ascii"))
        env = head_environ(<const char *>&view[0], &h)
    finally:
        free_head_limits(&h)
    return env, r, {"content_length": h.content_length, "chunked": bool(h.chunked),
                    "keep_alive": bool(h.keep_alive),
                    "expect_continue": bool(h.expect_continue), "minor": h.minor}
