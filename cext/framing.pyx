# The uwsgi packet codec (format: fastwsgi/protocol.py). Sans-IO: it sees
# bytes only, never a socket, a thread or a clock.
#
# Theory of operation:
# 1. A frame is a 4-byte header then `datasize` bytes of variables; nothing
#    after the variables belongs to the frame (it is the body).
# 2. modifier1/modifier2 are checked as soon as their byte arrives, so a
#    foreign protocol is refused without waiting for more input.
# 3. Variables are decoded by one C loop straight into the environ dict
#    (latin-1 str keys and values); no Python-level loop per variable.
# 4. Any inconsistency raises a FramingError subclass; the caller answers 400
#    and closes: nothing after a bad frame is ever interpreted.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.object cimport PyObject
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.string cimport memcmp, memcpy

cdef bytes _CONTENT_LENGTH_B = b"CONTENT_LENGTH"
cdef bytes _STREAM_VAR_B = STREAM_VAR.encode("latin-1")


cdef inline Py_ssize_t _u16(const unsigned char *p) noexcept nogil:
    return <Py_ssize_t>p[0] | (<Py_ssize_t>p[1] << 8)


cdef inline bint _is_framing_key(const unsigned char *p, Py_ssize_t n) noexcept:
    if n == 14 and memcmp(p, PyBytes_AS_STRING(_CONTENT_LENGTH_B), 14) == 0:
        return True
    return (n == len(_STREAM_VAR_B)
            and memcmp(p, PyBytes_AS_STRING(_STREAM_VAR_B), n) == 0)


cdef int check_modifiers(const unsigned char *p, Py_ssize_t n) except -1:
    """Refuse anything but a WSGI request as soon as the bytes are there."""
    if n >= 1 and p[0] != C_MODIFIER1_WSGI:
        raise UnsupportedModifier(f"uwsgi modifier1 {p[0]} is not a WSGI request (0)")
    if n >= 4 and p[3] != C_MODIFIER2_WSGI:
        raise UnsupportedModifier(f"uwsgi modifier2 {p[3]} is not supported (0)")
    return 0


cdef int decode_vars_into(dict env, const unsigned char *p, Py_ssize_t n) except -1:
    """Decode a variable block of n bytes at p into env."""
    cdef Py_ssize_t i = 0, klen, vlen, kpos
    cdef object key, value
    cdef PyObject *old_ptr
    while i < n:
        if n - i < 2:
            raise TruncatedVariable(f"key length at offset {i} is cut off")
        klen = _u16(p + i)
        i += 2
        if klen == 0:
            raise InvalidVariable(f"empty key at offset {i - 2}")
        if n - i < klen:
            raise TruncatedVariable(
                f"key of {klen} bytes at offset {i} overruns the block of {n}")
        kpos = i
        key = PyUnicode_DecodeLatin1(<const char *>p + i, klen, NULL)
        i += klen
        if n - i < 2:
            raise TruncatedVariable(f"value length of {key!r} is cut off")
        vlen = _u16(p + i)
        i += 2
        if n - i < vlen:
            raise TruncatedVariable(
                f"value of {key!r} ({vlen} bytes) overruns the block of {n}")
        value = PyUnicode_DecodeLatin1(<const char *>p + i, vlen, NULL)
        i += vlen
        if _is_framing_key(p + kpos, klen):
            old_ptr = PyDict_GetItem(env, key)
            if old_ptr is not NULL and <object>old_ptr != value:
                raise InvalidVariable(f"conflicting duplicates of {key}")
        PyDict_SetItem(env, key, value)
    return 0


def decode_vars(data, dict env=None):
    """Decode a whole variable block into a dict (or into env if given)."""
    cdef const unsigned char[::1] view = data
    if env is None:
        env = {}
    if view.shape[0]:
        decode_vars_into(env, &view[0], view.shape[0])
    return env


def decode_frame(data):
    """Decode one frame at the start of data.

    Returns (environ, consumed) once the whole frame is there, None while it
    is incomplete; bytes after `consumed` are the body.
    """
    cdef const unsigned char[::1] view = data
    cdef Py_ssize_t n = view.shape[0], size
    if n == 0:
        return None
    check_modifiers(&view[0], n)
    if n < C_HEADER_SIZE:
        return None
    size = _u16(&view[1])
    if n < C_HEADER_SIZE + size:
        return None
    cdef dict env = {}
    if size:
        decode_vars_into(env, &view[C_HEADER_SIZE], size)
    return env, C_HEADER_SIZE + size


cdef class FrameDecoder:
    """Incremental decoder: feed() bytes as they arrive, get the environ once.

    After the frame is complete, `trailing` holds the bytes that followed it
    (the start of the body) and feed() keeps appending to it.
    """
    cdef bytearray _buf
    cdef object _environ
    cdef bint _done

    def __cinit__(self):
        self._buf = bytearray()
        self._environ = None
        self._done = False

    def feed(self, data):
        """Add bytes; return the environ when the frame completes, else None."""
        self._buf += data
        if self._done:
            return None
        result = decode_frame(self._buf)
        if result is None:
            return None
        self._environ, consumed = result
        del self._buf[:consumed]
        self._done = True
        return self._environ

    @property
    def done(self):
        return self._done

    @property
    def environ(self):
        return self._environ

    @property
    def trailing(self):
        return bytes(self._buf) if self._done else b""


cdef bytes _as_bytes(object s, str what):
    if isinstance(s, bytes):
        return <bytes>s
    if isinstance(s, str):
        try:
            return (<str>s).encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidVariable(f"{what} {s!r} is not latin-1") from None
    raise InvalidVariable(f"{what} must be str or bytes, not {type(s).__name__}")


cdef extern from "Python.h":
    int PyUnicode_READY(object o) except -1
    int PyUnicode_KIND(object o)
    void *PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    enum:
        PyUnicode_1BYTE_KIND
    bint PyDict_Next(object p, Py_ssize_t *pos, PyObject **key, PyObject **value)


cdef inline const char *_latin1_view(object s, Py_ssize_t *n) except? NULL:
    """The latin-1 bytes of an exact str (one byte per character: the str's
    own storage, no copy) or of exact bytes; NULL when another path must
    convert or refuse it."""
    if type(s) is str:
        PyUnicode_READY(s)
        if PyUnicode_KIND(s) == PyUnicode_1BYTE_KIND:
            n[0] = PyUnicode_GET_LENGTH(s)
            return <const char *>PyUnicode_DATA(s)
        return NULL
    if type(s) is bytes:
        n[0] = len(<bytes>s)
        return PyBytes_AS_STRING(s)
    return NULL


cdef bytes _new_frame(Py_ssize_t total, int modifier1, int modifier2, unsigned char **w):
    """A frame of total variable bytes with its header; w: where they go."""
    cdef bytes out = PyBytes_FromStringAndSize(NULL, C_HEADER_SIZE + total)
    cdef unsigned char *p = <unsigned char *>PyBytes_AS_STRING(out)
    p[0] = modifier1
    p[1] = total & 0xFF
    p[2] = (total >> 8) & 0xFF
    p[3] = modifier2
    w[0] = p + C_HEADER_SIZE
    return out


cdef inline unsigned char *_put_field(unsigned char *w, const char *p, Py_ssize_t n) noexcept:
    """One length-prefixed (little-endian u16) key or value; where the next goes."""
    w[0] = n & 0xFF
    w[1] = (n >> 8) & 0xFF
    memcpy(w + 2, p, n)
    return w + 2 + n


cdef object _encode_dict(dict env, int modifier1, int modifier2):
    """encode_frame for a dict of plain latin-1 strs (the router's environ),
    read in place, with no conversion; None when anything in it needs the
    general path (which converts, or raises the precise error)."""
    cdef Py_ssize_t pos = 0, total = 0, kn = 0, vn = 0
    cdef PyObject *k
    cdef PyObject *v
    cdef bytes out
    cdef unsigned char *w
    while PyDict_Next(env, &pos, &k, &v):
        if _latin1_view(<object>k, &kn) is NULL or _latin1_view(<object>v, &vn) is NULL:
            return None
        if kn == 0 or kn > C_MAX_FIELD_SIZE or vn > C_MAX_FIELD_SIZE:
            return None
        total += 4 + kn + vn
    if total > C_MAX_VARS_SIZE:
        return None
    out = _new_frame(total, modifier1, modifier2, &w)
    pos = 0
    while PyDict_Next(env, &pos, &k, &v):
        w = _put_field(w, _latin1_view(<object>k, &kn), kn)
        w = _put_field(w, _latin1_view(<object>v, &vn), vn)
    return out


def encode_frame(variables, int modifier1=MODIFIER1_WSGI, int modifier2=MODIFIER2_WSGI):
    """Encode variables (a mapping or (key, value) pairs) as one uwsgi packet."""
    if not 0 <= modifier1 <= 255 or not 0 <= modifier2 <= 255:
        raise FrameTooLarge("modifiers are single bytes (0..255)")
    if type(variables) is dict:
        frame = _encode_dict(<dict>variables, modifier1, modifier2)
        if frame is not None:
            return frame
    items = variables.items() if hasattr(variables, "items") else variables
    cdef list fields = []
    cdef bytes k, v, out
    cdef Py_ssize_t total = 0
    cdef unsigned char *w
    for key, value in items:
        k = _as_bytes(key, "key")
        v = _as_bytes(value, "value")
        if not k:
            raise InvalidVariable("empty key")
        if len(k) > C_MAX_FIELD_SIZE or len(v) > C_MAX_FIELD_SIZE:
            raise FrameTooLarge(f"variable {k[:40]!r} is longer than 65535 bytes")
        fields.append(k)
        fields.append(v)
        total += 4 + len(k) + len(v)
    if total > C_MAX_VARS_SIZE:
        raise FrameTooLarge(f"variables take {total} bytes, more than {MAX_VARS_SIZE}")
    out = _new_frame(total, modifier1, modifier2, &w)
    for k in fields:
        w = _put_field(w, PyBytes_AS_STRING(k), len(k))
    return out


def body_length(dict env):
    """The body's length from a decoded frame: -1 means 'until half-close'.

    CONTENT_LENGTH must be digits only (no sign, no spaces) and is exclusive
    with the streamed-body variable.
    """
    stream = env.get(STREAM_VAR)
    cl = env.get("CONTENT_LENGTH")
    if stream is not None:
        if stream != "1":
            raise InvalidVariable(f"{STREAM_VAR} must be '1', not {stream!r}")
        if cl:
            raise InvalidVariable(f"CONTENT_LENGTH together with {STREAM_VAR}")
        return -1
    if not cl:
        return 0
    if not (<str>cl).isascii() or not (<str>cl).isdigit() or len(<str>cl) > 19:
        raise InvalidVariable(f"CONTENT_LENGTH {cl[:40]!r} is not a decimal byte count")
    n = int(cl)
    if n > MAX_CONTENT_LENGTH:
        raise InvalidVariable(f"CONTENT_LENGTH {cl} is over the limit of {MAX_CONTENT_LENGTH}")
    return n
