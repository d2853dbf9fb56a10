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

from cpython.bytes cimport PyBytes_AS_STRING
from cpython.object cimport PyObject
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.string cimport memcmp

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


cdef inline void _put_u16(bytearray out, Py_ssize_t v):
    out.append(v & 0xFF)
    out.append((v >> 8) & 0xFF)


cdef bytes _as_bytes(object s, str what):
    if isinstance(s, bytes):
        return <bytes>s
    if isinstance(s, str):
        try:
            return (<str>s).encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidVariable(f"{what} {s!r} is not latin-1") from None
    raise InvalidVariable(f"{what} must be str or bytes, not {type(s).__name__}")


def encode_frame(variables, int modifier1=MODIFIER1_WSGI, int modifier2=MODIFIER2_WSGI):
    """Encode variables (a mapping or (key, value) pairs) as one uwsgi packet."""
    if not 0 <= modifier1 <= 255 or not 0 <= modifier2 <= 255:
        raise FrameTooLarge("modifiers are single bytes (0..255)")
    items = variables.items() if hasattr(variables, "items") else variables
    cdef bytearray out = bytearray(b"\0\0\0\0")
    cdef bytes k, v
    for key, value in items:
        k = _as_bytes(key, "key")
        v = _as_bytes(value, "value")
        if not k:
            raise InvalidVariable("empty key")
        if len(k) > C_MAX_FIELD_SIZE or len(v) > C_MAX_FIELD_SIZE:
            raise FrameTooLarge(f"variable {k[:40]!r} is longer than 65535 bytes")
        _put_u16(out, len(k))
        out += k
        _put_u16(out, len(v))
        out += v
    cdef Py_ssize_t size = len(out) - C_HEADER_SIZE
    if size > C_MAX_VARS_SIZE:
        raise FrameTooLarge(f"variables take {size} bytes, more than {MAX_VARS_SIZE}")
    out[0] = modifier1
    out[1] = size & 0xFF
    out[2] = (size >> 8) & 0xFF
    out[3] = modifier2
    return bytes(out)


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
