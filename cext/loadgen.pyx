# The built-in load generator of `fastwsgi bench`: the loop each worker
# process runs (fastwsgi/loadgen.py forks them and merges their counts).
#
# Theory of operation:
#  1. One worker = one level-triggered epoll set over its connections, run
#     without the GIL until the deadline. A connection is a small state
#     machine: IDLE (closed; reconnect at t_retry) -> CONNECTING -> WRITING ->
#     READING -> READY -> WRITING (keep-alive) or IDLE (closed, reconnect now).
#  2. The request is built once by the caller (method, target, Host, headers,
#     Content-Length, body) and written as is. No pipelining: a keep-alive
#     connection whose response is complete waits in READY until the batch
#     of events is handled, then all of them write their next request
#     together (like wrk, whose writes wait for the next turn of its loop;
#     the server then finds several requests per wake-up). A keep-alive
#     request costs one send() and one recv(), and no epoll_ctl().
#  3. A response counts only when it is complete (loadgen_response.pyx
#     parses it: Content-Length, chunked, or up to the server's close).
#  4. Errors by kind: `connect` (connect() failed or did not finish within
#     the timeout), `timeout` (no complete response within the timeout of the
#     first byte written), `truncated` (closed or reset after some bytes of
#     the response), `read` (closed or reset before any byte of it, another
#     recv() error, or a malformed response), `write` (send() failed). Each
#     closes the connection; consecutive errors on one connection back off
#     (0, 1, 2, 4 ... 100 ms) so that a dead server does not spin the CPU.
#  5. Latency runs from the first byte written to the last byte read, in
#     CLOCK_MONOTONIC nanoseconds, into the fixed-size log-linear histogram
#     of latency_hist.pyx, which merges across processes by adding counters.
#  6. The window is exact: the loop stops at deadline_ns, a response
#     completed after it is not counted, and the requests still open then
#     (written but not completely answered) are reported as in flight.


DEF LG_BUF = 16384            # per connection; a response head must fit in it
DEF LG_TICK_NS = 10000000     # how often timeouts and reconnects are looked at
DEF LG_BACKOFF_MAX_NS = 100000000
DEF LG_EVENTS = 256

cdef enum:
    LG_IDLE = 0
    LG_CONNECTING = 1
    LG_WRITING = 2
    LG_READING = 3
    LG_READY = 4              # keep-alive, the next request goes at the end of the batch

cdef enum:
    E_CONNECT = 0
    E_TIMEOUT = 1
    E_TRUNCATED = 2
    E_READ = 3
    E_WRITE = 4
    E_KINDS = 5

LOADGEN_ERROR_KINDS = ("connect", "timeout", "truncated", "read", "write")

cdef struct lg_conn:
    int fd
    unsigned int index
    unsigned int gen          # of the socket: events of a closed one are stale
    unsigned int events       # what epoll watches for
    int state
    bint got_any              # some byte of the current response arrived
    Py_ssize_t sent
    Py_ssize_t buflen
    long long t_start         # first byte of the request written
    long long t_deadline      # of the current connect or request
    long long t_retry         # IDLE: reconnect from then on
    long long backoff
    lg_resp rs
    char *buf

cdef struct lg_stats:
    unsigned long long requests
    unsigned long long bytes_read
    unsigned long long in_flight
    unsigned long long errors[E_KINDS]
    unsigned long long status[600]
    unsigned long long lat_max
    unsigned long long lat_sum
    unsigned long long hist[H_SIZE]

cdef struct lg_run:
    int epfd
    int family
    const sockaddr *addr
    socklen_t addrlen
    const char *req
    Py_ssize_t reqlen
    bint close_each
    bint is_head
    long long timeout_ns
    long long deadline_ns
    lg_stats *st
    lg_conn **ready           # keep-alive connections whose next request waits
    int nready                # for the end of the current batch of events


# -- connections -----------------------------------------------------------------

cdef inline unsigned long long _lg_data(lg_conn *c) noexcept nogil:
    return c.index | ((<unsigned long long>c.gen) << 32)


cdef void _lg_close(lg_conn *c) noexcept nogil:
    if c.fd >= 0:
        close(c.fd)  # which also takes it out of the epoll set
        c.fd = -1
    c.state = LG_IDLE
    c.buflen = 0


cdef void _lg_fail(lg_run *r, lg_conn *c, int kind, long long now) noexcept nogil:
    """Count an error, close, and let the next connect wait for the back-off."""
    r.st.errors[kind] += 1
    _lg_close(c)
    c.t_retry = now + c.backoff
    if c.backoff == 0:
        c.backoff = 1000000
    elif c.backoff < LG_BACKOFF_MAX_NS:
        c.backoff = c.backoff * 2 if c.backoff * 2 < LG_BACKOFF_MAX_NS else LG_BACKOFF_MAX_NS


cdef bint _lg_watch(lg_run *r, lg_conn *c, unsigned int events) noexcept nogil:
    cdef epoll_event ev
    if c.events == events:
        return True
    ev.events = events
    ev.data.u64 = _lg_data(c)
    if epoll_ctl(r.epfd, EPOLL_CTL_MOD, c.fd, &ev) < 0:
        return False
    c.events = events
    return True


cdef void _lg_write(lg_run *r, lg_conn *c, long long now) noexcept nogil:
    """Write (the rest of) the request; then wait for the response."""
    cdef ssize_t n
    while c.sent < r.reqlen:
        n = send(c.fd, r.req + c.sent, r.reqlen - c.sent, MSG_NOSIGNAL)
        if n > 0:
            c.sent += n
        elif n < 0 and errno == EINTR:
            continue
        elif n < 0 and errno == EAGAIN:
            if not _lg_watch(r, c, EPOLLOUT):
                _lg_fail(r, c, E_WRITE, now)
            return
        else:
            _lg_fail(r, c, E_WRITE, now)
            return
    c.state = LG_READING
    if not _lg_watch(r, c, EPOLLIN):
        _lg_fail(r, c, E_READ, now)


cdef void _lg_start(lg_run *r, lg_conn *c, long long now) noexcept nogil:
    c.state = LG_WRITING
    c.sent = 0
    c.buflen = 0
    resp_reset(&c.rs)
    c.got_any = False
    c.t_start = now
    c.t_deadline = now + r.timeout_ns
    _lg_write(r, c, now)


cdef void _lg_connect(lg_run *r, lg_conn *c, long long now) noexcept nogil:
    cdef epoll_event ev
    cdef int one = 1, rc, fd
    fd = socket(r.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
    if fd < 0:
        _lg_fail(r, c, E_CONNECT, now)
        return
    c.fd = fd
    c.gen += 1
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))
    rc = connect(fd, r.addr, r.addrlen)
    if rc < 0 and errno != EINPROGRESS:
        _lg_fail(r, c, E_CONNECT, now)
        return
    # A connect that completed at once writes the request straight away;
    # otherwise (EINPROGRESS, the usual case even over loopback) epoll says
    # when the socket is writable.
    c.events = EPOLLIN if rc == 0 else EPOLLOUT
    ev.events = c.events
    ev.data.u64 = _lg_data(c)
    if epoll_ctl(r.epfd, EPOLL_CTL_ADD, fd, &ev) < 0:
        _lg_fail(r, c, E_CONNECT, now)
        return
    if rc == 0:
        _lg_start(r, c, now)
    else:
        c.state = LG_CONNECTING
        c.t_deadline = now + r.timeout_ns


cdef void _lg_connected(lg_run *r, lg_conn *c) noexcept nogil:
    cdef int err = 0
    cdef socklen_t len_ = sizeof(err)
    cdef long long now = monotonic_ns()
    if getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len_) < 0 or err != 0:
        _lg_fail(r, c, E_CONNECT, now)
        return
    _lg_start(r, c, now)


cdef void _lg_complete(lg_run *r, lg_conn *c) noexcept nogil:
    """A complete response: count it (inside the window), then the next request."""
    cdef long long now = monotonic_ns()
    cdef unsigned long long lat
    cdef lg_stats *st = r.st
    if now > r.deadline_ns:
        st.in_flight += 1
        _lg_close(c)
        return
    lat = <unsigned long long>(now - c.t_start)
    st.requests += 1
    st.status[c.rs.status] += 1
    st.hist[hist_index(lat)] += 1
    st.lat_sum += lat
    if lat > st.lat_max:
        st.lat_max = lat
    c.backoff = 0
    if r.close_each or not c.rs.keep_alive:
        _lg_close(c)
        _lg_connect(r, c, now)
    else:
        c.state = LG_READY
        r.ready[r.nready] = c
        r.nready += 1


cdef void _lg_read(lg_run *r, lg_conn *c) noexcept nogil:
    cdef ssize_t n
    cdef Py_ssize_t space, used
    while True:
        space = LG_BUF - c.buflen
        if space == 0:  # a head larger than the buffer
            _lg_fail(r, c, E_READ, monotonic_ns())
            return
        n = recv(c.fd, c.buf + c.buflen, space, 0)
        if n > 0:
            r.st.bytes_read += n
            c.got_any = True
            c.buflen += n
            used = resp_feed(&c.rs, r.is_head, c.buf, c.buflen)
            if used:
                memmove(c.buf, c.buf + used, c.buflen - used)
                c.buflen -= used
            if c.rs.state == RS_DONE:
                _lg_complete(r, c)
                return
            if c.rs.state == RS_BAD:
                _lg_fail(r, c, E_READ, monotonic_ns())
                return
            if n < space:
                return  # drained for now; level-triggered epoll says when there is more
        elif n == 0:
            if c.rs.state == RS_EOF:
                c.rs.keep_alive = False
                _lg_complete(r, c)
            else:
                _lg_fail(r, c, E_TRUNCATED if c.got_any else E_READ, monotonic_ns())
            return
        elif errno == EINTR:
            continue
        elif errno == EAGAIN:
            return
        else:
            _lg_fail(r, c, E_TRUNCATED if c.got_any else E_READ, monotonic_ns())
            return


cdef void _lg_sweep(lg_run *r, lg_conn *conns, int nconns, long long now) noexcept nogil:
    """Time out connects and requests; reconnect closed connections whose back-off ended."""
    cdef lg_conn *c
    cdef int i
    for i in range(nconns):
        c = &conns[i]
        if c.state == LG_IDLE:
            if now >= c.t_retry:
                _lg_connect(r, c, now)
        elif c.state != LG_READY and now >= c.t_deadline:
            _lg_fail(r, c, E_CONNECT if c.state == LG_CONNECTING else E_TIMEOUT, now)


cdef int _lg_loop(lg_run *r, lg_conn *conns, int nconns) noexcept nogil:
    """Run until the deadline; 0, or the errno of a failed epoll_wait()."""
    cdef epoll_event events[LG_EVENTS]
    cdef long long now, next_tick = 0, until
    cdef unsigned long long data
    cdef lg_conn *c
    cdef int i, n, wait_ms
    while True:
        now = monotonic_ns()
        if now >= r.deadline_ns:
            break
        if now >= next_tick:
            _lg_sweep(r, conns, nconns, now)
            next_tick = now + LG_TICK_NS
        until = next_tick if next_tick < r.deadline_ns else r.deadline_ns
        wait_ms = <int>((until - now + 999999) // 1000000)
        n = epoll_wait(r.epfd, events, LG_EVENTS, wait_ms)
        if n < 0:
            if errno == EINTR:
                continue
            return errno
        r.nready = 0
        for i in range(n):
            data = events[i].data.u64
            c = &conns[<unsigned int>(data & 0xFFFFFFFFULL)]
            if c.fd < 0 or c.gen != <unsigned int>(data >> 32):
                continue  # for a socket closed earlier in this batch
            if c.state == LG_READING:
                _lg_read(r, c)
            elif c.state == LG_WRITING:
                _lg_write(r, c, monotonic_ns())
            elif c.state == LG_CONNECTING:
                _lg_connected(r, c)
        # The next requests go out together after the batch, as wrk's do:
        # the server then finds several requests per wake-up.
        if r.nready:
            now = monotonic_ns()
            for i in range(r.nready):
                if r.ready[i].state == LG_READY:
                    _lg_start(r, r.ready[i], now)
    for i in range(nconns):
        if conns[i].state == LG_WRITING or conns[i].state == LG_READING:
            r.st.in_flight += 1
        _lg_close(&conns[i])
    return 0


def loadgen_run(bytes address not None, int family, bytes request not None, int connections,
                long long deadline_ns, double timeout, bint close_each=False,
                bint is_head=False):
    """Drive `connections` connections until deadline_ns (CLOCK_MONOTONIC); return the counts."""
    cdef lg_run r
    cdef lg_conn *conns = NULL
    cdef char *bufs = NULL
    cdef lg_stats *st = NULL
    cdef lg_conn **ready = NULL
    cdef int i, rc
    if connections < 1 or connections > 1000000:
        raise ValueError("connections must be between 1 and 1000000")
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    memset(&r, 0, sizeof(r))
    r.family = family
    r.addr = <const sockaddr *>PyBytes_AS_STRING(address)
    r.addrlen = <socklen_t>len(address)
    r.req = PyBytes_AS_STRING(request)
    r.reqlen = len(request)
    r.close_each = close_each
    r.is_head = is_head
    r.timeout_ns = <long long>(timeout * 1e9)
    r.deadline_ns = deadline_ns
    r.epfd = -1
    try:
        conns = <lg_conn *>calloc(connections, sizeof(lg_conn))
        bufs = <char *>malloc(<size_t>connections * LG_BUF)
        st = <lg_stats *>calloc(1, sizeof(lg_stats))
        ready = <lg_conn **>calloc(connections, sizeof(lg_conn *))
        if conns is NULL or bufs is NULL or st is NULL or ready is NULL:
            raise MemoryError()
        r.st = st
        r.ready = ready
        for i in range(connections):
            conns[i].fd = -1
            conns[i].index = i
            conns[i].buf = bufs + <size_t>i * LG_BUF
        r.epfd = epoll_create1(EPOLL_CLOEXEC)
        if r.epfd < 0:
            raise_errno(errno, "epoll_create1")
        with nogil:
            rc = _lg_loop(&r, conns, connections)
        if rc:
            raise_errno(rc, "epoll_wait")
        return {
            "requests": st.requests,
            "bytes_read": st.bytes_read,
            "in_flight": st.in_flight,
            "errors": {LOADGEN_ERROR_KINDS[i]: st.errors[i] for i in range(E_KINDS)},
            "status": {i: st.status[i] for i in range(100, 600) if st.status[i]},
            "latency_max_ns": st.lat_max,
            "latency_sum_ns": st.lat_sum,
            "histogram": (<char *>st.hist)[:sizeof(st.hist)],
        }
    finally:
        if conns is not NULL:
            for i in range(connections):
                _lg_close(&conns[i])
        if r.epfd >= 0:
            close(r.epfd)
        free(conns)
        free(bufs)
        free(st)
        free(ready)
