# Validation and serialisation of the status and headers an application gives
# start_response(). Nothing invalid may reach the wire: a status or header
# with CR, LF, NUL or another control character, a non-token header name or a
# non-latin-1 string raises ResponseError, which the runner turns into a 500.

cdef unsigned char _TOKEN[256]
cdef unsigned char _FIELD[256]


cdef void _init_tables() noexcept:
    cdef int c
    cdef bytes extra = b"!#$%&'*+-.^_`|~"
    for c in range(256):
        _TOKEN[c] = (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122)
        # field-content: HTAB, SP, VCHAR and obs-text; never CTL or DEL.
        _FIELD[c] = c == 9 or (32 <= c <= 126) or c >= 128
    for c in extra:
        _TOKEN[c] = 1


_init_tables()


cdef bytes _latin1(object s, str what):
    if type(s) is not str:
        raise ResponseError(f"{what} must be str, not {type(s).__name__}: {s!r:.60}")
    try:
        return (<str>s).encode("latin-1")
    except UnicodeEncodeError:
        raise ResponseError(f"{what} is not latin-1 encodable: {s!r:.60}") from None


cdef int _check_field(bytes b, object name) except -1:
    """Refuse control characters in a status (name None) or a header value."""
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(b)
    cdef Py_ssize_t i, n = len(b)
    for i in range(n):
        if not _FIELD[p[i]]:
            # The message is built only here: this runs for every header.
            what = "status" if name is None else f"header {name.decode('latin-1')!r} value"
            raise ResponseError(f"{what} contains the control character 0x{p[i]:02x}")
    return 0


cpdef int parse_status(object status) except -1:
    """The status code of a PEP 3333 status string such as '200 OK'."""
    cdef bytes b = _latin1(status, "status")
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(b)
    cdef Py_ssize_t n = len(b)
    if n < 4 or not (48 <= p[0] <= 57 and 48 <= p[1] <= 57 and 48 <= p[2] <= 57) \
            or p[3] != 32:
        raise ResponseError(f"status {status!r:.60} is not '<3 digits> <reason>'")
    _check_field(b, None)
    cdef int code = (p[0] - 48) * 100 + (p[1] - 48) * 10 + (p[2] - 48)
    if code < 100 or code > 599:
        raise ResponseError(f"status code {code} is out of range (100-599)")
    return code


def encode_head(bytes prefix, object status, object headers):
    """Validate and serialise a response head.

    Returns (code, head, content_length): head is prefix + status + CRLF +
    one 'Name: value' CRLF per header, without the blank line that ends the
    head, so the caller can append headers of its own; content_length is -1
    when the application gave none.
    """
    code, head, clen, _ = _encode(prefix, status, headers, False)
    return code, head, clen


# Hop-by-hop headers an application must not send (PEP 3333); on the HTTP
# side the server owns the connection and the framing, so they are dropped.
# _encode's flags tell whether the application gave its own Date (1) and
# Server (2).
cdef frozenset _HOP_BY_HOP = frozenset([
    b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te",
    b"trailer", b"upgrade"])

cdef tuple _encode(bytes prefix, object status, object headers, bint http):
    cdef int code = parse_status(status)
    cdef int flags = 0
    cdef bytes lname
    cdef long long clen = -1
    if code < 200:
        # A 1xx is interim: sent as the response, a client would wait for
        # the final one, or take the next request's for it.
        raise ResponseError(f"status {status!r:.60} is interim (1xx): an application's "
                            "response must have a final status (200-599)")
    if type(headers) is not list:
        raise ResponseError(f"headers must be a list, not {type(headers).__name__}")
    cdef bytearray out = bytearray(prefix)
    out += (<str>status).encode("latin-1")
    out += b"\r\n"
    cdef bytes name, value
    cdef const unsigned char *p
    cdef Py_ssize_t i, n
    for item in <list>headers:
        if type(item) is not tuple or len(<tuple>item) != 2:
            raise ResponseError(f"header {item!r:.60} is not a (name, value) tuple")
        name = _latin1((<tuple>item)[0], "header name")
        value = _latin1((<tuple>item)[1], "header value")
        n = len(name)
        p = <const unsigned char *>PyBytes_AS_STRING(name)
        if n == 0:
            raise ResponseError("empty header name")
        for i in range(n):
            if not _TOKEN[p[i]]:
                raise ResponseError(
                    f"header name {name!r:.60} has the invalid character 0x{p[i]:02x}")
        _check_field(value, name)
        # Lower-case only names as long as one looked at below (hop-by-hop,
        # Date, Server, Content-Length): most headers need no copy.
        lname = name.lower() if n in (2, 4, 6, 7, 10, 14, 16, 17) else b""
        if http and lname:
            if lname in _HOP_BY_HOP:
                continue
            if lname == b"date":
                flags |= 1
            elif lname == b"server":
                flags |= 2
        if lname == b"content-length":
            if not value.isdigit() or len(value) > 18:
                raise ResponseError(f"Content-Length {value!r:.60} is not a byte count")
            if clen >= 0:
                if clen != int(value):
                    raise ResponseError("conflicting Content-Length headers")
                continue  # the same again: sent once
            if code == 204:
                continue  # a 204 has no content and must not say a length (RFC 9110 8.6)
            clen = int(value)
        out += name
        out += b": "
        out += value
        out += b"\r\n"
    return code, bytes(out), clen, flags
