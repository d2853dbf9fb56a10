# Kernel-to-kernel upload relay for the router: the rest of a big
# Content-Length request body goes client socket -> pipe -> daemon socket with
# splice(2), never through the router's memory. A TCP receive queue gives its
# pages to a pipe by reference, and on Linux >= 6.5 an AF_UNIX socket takes
# pipe pages by reference too (MSG_SPLICE_PAGES): the router copies none of
# the body where recv + send copied it twice.
#
# Measured (1 MiB POST echo through the router, wrk -c64, 2 x 15): 1,040 ->
# 1,290 req/s; the router's CPU per request fell by a fifth and wrk's too.
# The response is not spliced: daemon -> pipe -> TCP cost the router less
# but doubled the client's CPU per request (its reads of the spliced pages),
# about 10% fewer req/s in all. The pipe keeps its default size: 256 KiB or
# 1 MiB measured no better, and pins more memory per upload.
#
# A pipe that cannot be made (the per-user pipe limits) leaves the exchange
# on the buffered path.


cdef struct body_pipe:
    bint is_open             # a zeroed struct is a closed pipe (fd 0 is a valid fd)
    int rfd
    int wfd
    Py_ssize_t held          # bytes in the pipe, not yet spliced out


cdef bint pipe_open(body_pipe *p) noexcept nogil:
    """A non-blocking pipe; False if none can be made."""
    cdef int fds[2]
    if pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0:
        return False
    p.rfd = fds[0]
    p.wfd = fds[1]
    p.held = 0
    p.is_open = True
    return True


cdef void pipe_close(body_pipe *p) noexcept nogil:
    """Close the pipe (what it still holds is dropped)."""
    if p.is_open:
        close(p.rfd)
        close(p.wfd)
    p.is_open = False
    p.held = 0


cdef ssize_t pipe_fill(body_pipe *p, int fd, Py_ssize_t most) noexcept nogil:
    """Move up to most bytes from socket fd into the pipe: bytes moved, 0 at
    the socket's EOF, -1 with errno (EAGAIN: nothing now, or the pipe is full)."""
    cdef ssize_t got
    while True:
        got = splice(fd, NULL, p.wfd, NULL, most, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
        if got > 0:
            p.held += got
        if got >= 0 or errno != EINTR:
            return got


cdef ssize_t pipe_flush(body_pipe *p, int fd) noexcept nogil:
    """Move what the pipe holds into socket fd: bytes moved, or -1 with errno
    (EAGAIN: the socket is full; EPIPE, ECONNRESET: its peer is gone). Python
    ignores SIGPIPE, which a splice into a closed socket raises."""
    cdef ssize_t sent
    while True:
        sent = splice(p.rfd, NULL, fd, NULL, p.held, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
        if sent > 0:
            p.held -= sent
        if sent >= 0 or errno != EINTR:
            return sent
