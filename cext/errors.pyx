# errno -> the precise OSError subclass, in one place; and the logger every
# part of the extension writes to (fastwsgi/log.py configures it).

import logging

cdef object _log = logging.getLogger("fastwsgi")

# The raise_* helpers are called with the GIL after a nogil system call failed.

cdef object errno_error(int err, str what):
    """Return the OSError subclass Python itself would raise for err."""
    # OSError(errno, msg) picks the subclass (ConnectionResetError,
    # BlockingIOError, TimeoutError, ...) from the errno, as CPython does.
    return OSError(err, f"{what}: {os.strerror(err)}")


cdef int raise_errno(int err, str what) except -1:
    raise errno_error(err, what)


cdef int raise_timeout(str what) except -1:
    raise TimeoutError(ETIMEDOUT, f"{what}: timed out")


cdef int raise_io(int err, str what) except -1:
    """TimeoutError for ETIMEDOUT (a wait ran out), else the errno's OSError."""
    if err == ETIMEDOUT:
        return raise_timeout(what)
    return raise_errno(err, what)
