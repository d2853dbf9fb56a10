# The state of one connection as a plain C struct, so that the HTTP event loop
# can park, take and sweep connections without the GIL. A Python-level Conn
# (sockio.pyx) either owns one (uwsgi connections) or borrows the loop's.

DEF INITIAL_BUFFER = 65536 + 8

cdef struct hconn:
    int fd
    int timeout_ms          # per read/write wait; -1 = forever
    char *buf               # read buffer: [rpos, rend) is received, unconsumed
    Py_ssize_t cap
    Py_ssize_t rpos
    Py_ssize_t rend
    bint eof
    # uwsgi connections: the SO_SNDBUF set once more than grow_left bytes
    # were sent (0 = never; sockio.pyx, Conn.grow_sndbuf_after).
    int grow_sndbuf
    long long grow_left
    # Event-loop fields (http_loop.pyx); unused by uwsgi connections.
    unsigned int gen        # tells a reused fd number from the old connection
    int state               # PARKED or TAKEN, changed under the loop's lock
    long long deadline_ns   # when a parked connection is closed
    long long accepted_ns
    long long head_started_ns  # first byte of the head being read, 0 = none yet
    int in_epoll            # added to the epoll set already (ADD once, MOD after)
    int lindex              # which listener accepted it
    int requests            # served on this connection so far
    int family
    char peer_host[64]
    int peer_port
    # A relayed exchange waiting for its sockets (relay_app.pyx), owned by
    # the connection while it is SUSPENDED in the loop's set: the Exchange
    # (a strong reference), the daemon-side fd and what to wait for on each.
    void *pending
    int resume              # why it was taken: RESUME_EVENT or RESUME_EXPIRED
    int ufd
    int ufd_added
    unsigned int want_up
    unsigned int want_c
    int wait_ms
    hconn *next_ready       # the loop's list of expired exchanges
    # When it was last parked; NO_DEADLINE once its buffer's pages were
    # given back while parked (http_loop.pyx).
    long long parked_ns


cdef enum:
    RESUME_EVENT = 1        # one of its fds is ready
    RESUME_EXPIRED = 2      # its wait passed c.wait_ms


cdef hconn *hconn_new(int fd, int timeout_ms) noexcept nogil:
    cdef hconn *c = <hconn *>calloc(1, sizeof(hconn))
    if c is NULL:
        return NULL
    c.buf = <char *>malloc(INITIAL_BUFFER)
    if c.buf is NULL:
        free(c)
        return NULL
    c.fd = fd
    c.ufd = -1
    c.timeout_ms = timeout_ms
    c.cap = INITIAL_BUFFER
    return c


cdef void hconn_free(hconn *c) noexcept nogil:
    """Close the fd (if still open) and release the struct."""
    if c is NULL:
        return
    if c.fd >= 0:
        close(c.fd)
        c.fd = -1
    free(c.buf)
    free(c)


cdef size_t PAGE = <size_t>sysconf(_SC_PAGESIZE)


cdef void hconn_give_back_pages(hconn *c) noexcept nogil:
    """Return the pages of an empty buffer to the kernel, keeping the
    allocation: the next recv faults in zeroed pages. A parked keep-alive
    connection so costs a page instead of its whole 64 KiB buffer (a daemon
    that had just served 64 KiB bodies held 64 KiB of RSS per idle client)."""
    cdef size_t start = (<size_t>c.buf + PAGE - 1) & ~(PAGE - 1)
    cdef size_t end = (<size_t>c.buf + <size_t>c.cap) & ~(PAGE - 1)
    c.rpos = c.rend = 0
    if end > start:
        madvise(<void *>start, end - start, MADV_DONTNEED)


cdef inline int timeout_to_ms(double timeout) noexcept nogil:
    return -1 if timeout <= 0 else <int>(timeout * 1000)


cdef int hconn_make_room(hconn *c, Py_ssize_t want, bint grow) noexcept nogil:
    """At least `want` free bytes after rend: reset when empty, else slide the
    unread bytes to the front, else (grow) double the buffer. 0, or -1 when
    there is no room (no grow, or out of memory)."""
    cdef Py_ssize_t live
    cdef char *nbuf
    if c.rpos == c.rend:
        c.rpos = c.rend = 0
    elif c.cap - c.rend < want:
        live = c.rend - c.rpos
        memmove(c.buf, c.buf + c.rpos, live)
        c.rpos = 0
        c.rend = live
    if c.cap - c.rend >= want:
        return 0
    if not grow:
        return -1
    nbuf = <char *>realloc(c.buf, c.cap * 2)
    if nbuf is NULL:
        return -1
    c.buf = nbuf
    c.cap *= 2
    return 0
