# A connected, non-blocking socket with a read buffer and timeouts.
#
# Every system call runs without the GIL; a timeout is a poll() on the fd, so
# a stuck peer costs a sleeping thread, never the GIL. The read buffer lets
# the request head be read in large gulps: whatever follows the head (the
# start of the body) stays here and is served first by read()/readline().

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.object cimport PyObject
from cpython.ref cimport Py_XDECREF

cdef extern from "Python.h":
    # Raw-pointer forms, so a short read can shrink the bytes in place.
    PyObject *bytes_alloc "PyBytes_FromStringAndSize"(const char *, Py_ssize_t) except NULL
    int _PyBytes_Resize(PyObject **, Py_ssize_t) except -1
from libc.stdlib cimport realloc

DEF RECV_CHUNK = 65536

# Nanoseconds of CLOCK_MONOTONIC at the last socket activity of this process
# (a read of request data or a write of response data). The watchdog reads it
# for inactivity-timeout; an aligned 64-bit store is atomic on our targets.
cdef long long g_last_activity_ns = 0

DEF GIL_HELD_SEND = 262144


cdef inline long long monotonic_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <long long>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef inline void note_activity() noexcept nogil:
    global g_last_activity_ns
    g_last_activity_ns = monotonic_ns()


cdef int wait_fd(int fd, short events, int timeout_ms) noexcept nogil:
    """poll() one fd; 1 ready, 0 timed out, -1 error (errno set)."""
    cdef pollfd p
    cdef int rc
    p.fd = fd
    p.events = events
    while True:
        p.revents = 0
        rc = poll(&p, 1, timeout_ms)
        if rc < 0 and errno == EINTR:
            continue
        return rc


cdef int io_retry(int fd, int err, short events, int timeout_ms) noexcept nogil:
    """After a non-blocking call failed with err: 0 to try again (EINTR, or the
    fd became ready after EAGAIN), else the errno to give up with (ETIMEDOUT
    when the wait timed out)."""
    cdef int ready
    if err == EINTR:
        return 0
    if err != EAGAIN:
        return err
    ready = wait_fd(fd, events, timeout_ms)
    if ready > 0:
        return 0
    return ETIMEDOUT if ready == 0 else errno


cdef void sndbuf_at_least(int fd, int size) noexcept nogil:
    """Ask for SO_SNDBUF = size (the kernel caps it at net.core.wmem_max,
    then doubles it) unless the socket has that much already: a host whose
    wmem_default is larger keeps its own."""
    cdef int cur = 0
    cdef socklen_t n = sizeof(int)
    if getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cur, &n) == 0 and cur >= 2 * size:
        return
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(int))


DEF LINGER_MS = 2000        # drain unread request data before a close, at most
DEF LINGER_BYTES = 1 << 26


cdef void linger_close_prepare(int fd) noexcept nogil:
    """Before closing with request data unread: half-close, then drop what the
    client still sends for a moment, so the close does not become a reset that
    destroys the response in flight."""
    cdef char buf[16384]
    cdef long long deadline = monotonic_ns() + LINGER_MS * 1000000LL
    cdef long long total = 0, left
    cdef ssize_t got
    shutdown(fd, SHUT_WR)
    while total < LINGER_BYTES:
        got = recv(fd, buf, sizeof(buf), 0)
        if got > 0:
            total += got
            continue
        if got == 0 or (errno != EAGAIN and errno != EINTR):
            return
        left = (deadline - monotonic_ns()) // 1000000
        if left <= 0 or wait_fd(fd, POLLIN, <int>left) <= 0:
            return


cdef class Conn:
    """One connection, owning its hconn (and fd) or borrowing the loop's."""
    cdef hconn *c
    cdef bint owner

    def __cinit__(self, int fd=-1, double timeout=60.0):
        self.c = NULL
        self.owner = False
        if fd >= 0:
            self.c = hconn_new(fd, timeout_to_ms(timeout))
            if self.c is NULL:
                close(fd)
                raise MemoryError()
            self.owner = True

    def __dealloc__(self):
        if self.owner:
            hconn_free(self.c)
        self.c = NULL

    cdef void attach(self, hconn *c) noexcept:
        """Borrow a loop-owned connection for one request."""
        self.c = c
        self.owner = False

    cdef void detach(self) noexcept:
        self.c = NULL

    @property
    def fileno(self):
        return self.c.fd if self.c is not NULL else -1

    @property
    def buffered(self):
        """Bytes received but not consumed yet."""
        return self.c.rend - self.c.rpos

    cdef int _compact(self, Py_ssize_t need) except -1:
        """Make room for `need` more bytes after rend."""
        cdef Py_ssize_t live = self.c.rend - self.c.rpos
        cdef char *nbuf
        if self.c.rpos and (self.c.cap - self.c.rend < need):
            memmove(self.c.buf, self.c.buf + self.c.rpos, live)
            self.c.rpos = 0
            self.c.rend = live
        if self.c.cap - self.c.rend < need:
            nbuf = <char *>realloc(self.c.buf, self.c.rend + need)
            if nbuf is NULL:
                raise MemoryError()
            self.c.buf = nbuf
            self.c.cap = self.c.rend + need
        return 0

    cdef Py_ssize_t _recv(self, char *dst, Py_ssize_t n) except -2:
        """recv up to n bytes into dst; 0 at EOF. Waits up to the timeout."""
        cdef ssize_t got
        cdef int err = 0
        if self.c.fd < 0:
            raise OSError(EBADF, "connection is closed")
        # A first non-blocking attempt with the GIL held: when the data is
        # already there (usual for a request frame or a small body) it saves
        # a GIL round trip; only a wait goes without the GIL.
        got = recv(self.c.fd, dst, n, 0)
        if got > 0:
            note_activity()
            return got
        if got == 0:
            self.c.eof = True
            return 0
        cdef bint wait_first = errno == EAGAIN
        with nogil:
            while True:
                if wait_first:
                    wait_first = False
                    err = io_retry(self.c.fd, EAGAIN, POLLIN, self.c.timeout_ms)
                else:
                    got = recv(self.c.fd, dst, n, 0)
                    if got >= 0:
                        break
                    err = io_retry(self.c.fd, errno, POLLIN, self.c.timeout_ms)
                if err:
                    got = -1
                    break
            if got > 0:
                note_activity()
        if got < 0:
            raise_io(err, "reading from peer")
        if got == 0:
            self.c.eof = True
        return got

    cdef Py_ssize_t fill(self, Py_ssize_t want=RECV_CHUNK) except -1:
        """Read more into the buffer; returns the bytes added (0 at EOF)."""
        cdef Py_ssize_t got
        if self.c.eof:
            return 0
        self._compact(want)
        got = self._recv(self.c.buf + self.c.rend, self.c.cap - self.c.rend)
        self.c.rend += got
        return got

    cdef int require(self, Py_ssize_t n) except -1:
        """Have at least n buffered bytes; 1 if so, 0 if EOF came first."""
        while self.c.rend - self.c.rpos < n:
            if self.fill(max(n - (self.c.rend - self.c.rpos), RECV_CHUNK)) == 0:
                return 0
        return 1

    def read_frame(self):
        """Read one uwsgi request frame; returns its variables as a dict.

        Raises EOFError if the peer closed before a whole frame arrived and
        FramingError subclasses for bad frames.
        """
        cdef Py_ssize_t size
        if not self.require(1):
            raise EOFError("connection closed before a request frame")
        check_modifiers(<unsigned char *>self.c.buf + self.c.rpos, self.c.rend - self.c.rpos)
        if not self.require(C_HEADER_SIZE):
            raise EOFError("connection closed inside the frame header")
        check_modifiers(<unsigned char *>self.c.buf + self.c.rpos, self.c.rend - self.c.rpos)
        size = _u16(<unsigned char *>self.c.buf + self.c.rpos + 1)
        if not self.require(C_HEADER_SIZE + size):
            raise EOFError("connection closed inside the frame variables")
        cdef dict env = {}
        decode_vars_into(env, <unsigned char *>self.c.buf + self.c.rpos + C_HEADER_SIZE, size)
        self.c.rpos += C_HEADER_SIZE + size
        return env

    cdef bytes take(self, Py_ssize_t n):
        """Up to n bytes: buffered ones first, else one recv straight into the result."""
        cdef Py_ssize_t avail = self.c.rend - self.c.rpos
        cdef bytes out
        cdef PyObject *raw
        cdef Py_ssize_t got
        if n <= 0:
            return b""
        if avail:
            if n > avail:
                n = avail
            out = PyBytes_FromStringAndSize(self.c.buf + self.c.rpos, n)
            self.c.rpos += n
            return out
        if self.c.eof:
            return b""
        if n <= 8192:
            # Small reads go through the buffer to batch later ones.
            self.fill(RECV_CHUNK)
            return self.take(n)
        # Receive straight into a fresh bytes object, shrunk in place after a
        # short read: while `raw` is our only reference, resizing is legal.
        raw = bytes_alloc(NULL, n)
        try:
            got = self._recv(PyBytes_AS_STRING(<object>raw), n)
        except BaseException:
            Py_XDECREF(raw)
            raise
        if got != n:
            _PyBytes_Resize(&raw, got)
        out = <bytes>raw
        Py_XDECREF(raw)
        return out

    cdef bytes take_exactly(self, Py_ssize_t n):
        """n bytes, or fewer only at EOF: buffered ones, then recv straight into
        the result without the GIL until it is full (one allocation, no joins)."""
        cdef Py_ssize_t avail = self.c.rend - self.c.rpos, got = 0, r
        cdef PyObject *raw
        cdef bytes out
        cdef char *dst
        cdef int err = 0, fd = self.c.fd, timeout = self.c.timeout_ms
        if n <= 8192:
            return self.take(n)
        raw = bytes_alloc(NULL, n)
        dst = PyBytes_AS_STRING(<object>raw)
        if avail:
            got = min(avail, n)
            memcpy(dst, self.c.buf + self.c.rpos, got)
            self.c.rpos += got
        if got < n and not self.c.eof:
            with nogil:
                while got < n:
                    r = recv(fd, dst + got, n - got, 0)
                    if r > 0:
                        got += r
                        continue
                    if r == 0:
                        err = -1  # EOF
                        break
                    err = io_retry(fd, errno, POLLIN, timeout)
                    if err:
                        break
                note_activity()
            if err == -1:
                self.c.eof = True
            elif err:
                Py_XDECREF(raw)
                raise_io(err, "reading from peer")
        if got != n:
            _PyBytes_Resize(&raw, got)
        out = <bytes>raw
        Py_XDECREF(raw)
        return out

    cdef bytes take_line(self, Py_ssize_t limit):
        """Bytes up to and including the next LF, at most limit bytes, b'' at EOF."""
        cdef char *nl
        cdef Py_ssize_t scanned = 0, n
        cdef bytes out
        while True:
            n = self.c.rend - self.c.rpos
            if n > limit:
                n = limit
            nl = <char *>memchr(self.c.buf + self.c.rpos + scanned, b'\n', n - scanned)
            if nl is not NULL:
                n = nl - (self.c.buf + self.c.rpos) + 1
                break
            if n >= limit:
                break
            scanned = n
            if self.fill(RECV_CHUNK) == 0:
                n = self.c.rend - self.c.rpos
                break
        out = PyBytes_FromStringAndSize(self.c.buf + self.c.rpos, n)
        self.c.rpos += n
        return out

    def recv(self, Py_ssize_t n):
        """Up to n bytes (b'' at EOF); waits up to the timeout."""
        return self.take(n)

    cdef void grow_sndbuf_after(self, int size, long long after) noexcept:
        """Raise SO_SNDBUF to size once more than `after` bytes were sent:
        an AF_UNIX socket has no autotuning, so a big response would else go
        in steps of the default (about 200 KiB), each a wait for the reader."""
        self.c.grow_sndbuf = size
        self.c.grow_left = after

    cdef inline void _note_send(self, long long n) noexcept:
        if self.c.grow_sndbuf:
            if n < 0 or n > self.c.grow_left:
                sndbuf_at_least(self.c.fd, self.c.grow_sndbuf)
                self.c.grow_sndbuf = 0
            else:
                self.c.grow_left -= n

    def sendall(self, data):
        """Send every byte of data (bytes-like), waiting up to the timeout per stall."""
        cdef const unsigned char[::1] view = data
        if view.shape[0]:
            self._send(<const char *>&view[0], view.shape[0])

    cdef int _send(self, const char *p, Py_ssize_t n) except -1:
        cdef ssize_t sent
        cdef int err = 0
        if self.c.fd < 0:
            raise OSError(EBADF, "connection is closed")
        self._note_send(n)
        # Small sends first try without releasing the GIL: a non-blocking
        # send that fits the socket buffer is cheaper than a GIL round trip.
        if n <= GIL_HELD_SEND:
            sent = send(self.c.fd, p, n, MSG_NOSIGNAL)
            if sent == n:
                note_activity()
                return 0
            if sent > 0:
                p += sent
                n -= sent
        with nogil:
            while n > 0:
                sent = send(self.c.fd, p, n, MSG_NOSIGNAL)
                if sent >= 0:
                    p += sent
                    n -= sent
                    continue
                err = io_retry(self.c.fd, errno, POLLOUT, self.c.timeout_ms)
                if err:
                    break
            note_activity()
        if n > 0:
            raise_io(err, "writing to peer")
        return 0

    def sendfile(self, int in_fd, long long offset, long long count):
        """Send count bytes of in_fd from offset (count < 0: to EOF); returns bytes sent."""
        cdef off_t off = offset
        cdef ssize_t sent
        cdef long long total = 0
        cdef int err = 0
        cdef size_t step
        if self.c.fd < 0:
            raise OSError(EBADF, "connection is closed")
        self._note_send(count)  # count < 0 (to EOF): as big as it gets
        with nogil:
            while count < 0 or total < count:
                step = 1 << 30 if count < 0 else <size_t>min(count - total, 1 << 30)
                sent = sendfile(self.c.fd, in_fd, &off, step)
                if sent > 0:
                    total += sent
                    note_activity()
                    continue
                if sent == 0:
                    break
                err = io_retry(self.c.fd, errno, POLLOUT, self.c.timeout_ms)
                if err:
                    break
        if err:
            raise_io(err, "sendfile to peer")
        return total

    def shutdown_write(self):
        """Half-close: the peer reads EOF after what was sent."""
        if self.c.fd >= 0:
            shutdown(self.c.fd, SHUT_WR)

    def discard(self, long long limit, double timeout):
        """Read and drop up to limit bytes for at most timeout seconds.

        Used before close so that unread request data does not turn the close
        into a reset that could destroy the response in flight.
        """
        cdef long long dropped = self.c.rend - self.c.rpos
        cdef long long deadline = monotonic_ns() + <long long>(timeout * 1e9)
        cdef long long left
        cdef ssize_t got
        cdef int ready
        self.c.rpos = self.c.rend = 0
        if self.c.fd < 0 or self.c.eof:
            return dropped
        with nogil:
            while dropped < limit:
                got = recv(self.c.fd, self.c.buf, self.c.cap, 0)
                if got > 0:
                    dropped += got
                    continue
                if got == 0:
                    break
                if errno == EINTR:
                    continue
                if errno != EAGAIN:
                    break
                left = (deadline - monotonic_ns()) // 1000000
                if left <= 0:
                    break
                ready = wait_fd(self.c.fd, POLLIN, <int>left)
                if ready <= 0:
                    break
        return dropped

    def close(self):
        """Close the fd (idempotent)."""
        if self.c is not NULL and self.c.fd >= 0:
            close(self.c.fd)
            self.c.fd = -1
