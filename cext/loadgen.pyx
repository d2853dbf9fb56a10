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
#  3. A response counts only when it is complete: the head is parsed here
#     (status line, Content-Length, Transfer-Encoding: chunked, Connection,
#     HTTP/1.0), chunked bodies go through chunk_ctrl() (chunked.pyx), and a
#     body framed by neither runs to the server's close. Interim 1xx heads
#     are skipped. Bytes after a complete response (there is no pipelining)
#     make it a malformed response.
#  4. Errors by kind: `connect` (connect() failed or did not finish within
#     the timeout), `timeout` (no complete response within the timeout of the
#     first byte written), `truncated` (closed or reset after some bytes of
#     the response), `read` (closed or reset before any byte of it, another
#     recv() error, or a malformed response), `write` (send() failed). Each
#     closes the connection; consecutive errors on one connection back off
#     (0, 1, 2, 4 ... 100 ms) so that a dead server does not spin the CPU.
#  5. Latency runs from the first byte written to the last byte read, in
#     CLOCK_MONOTONIC nanoseconds, into a log-linear histogram: values below
#     256 ns exactly, above in 128 sub-buckets per power of two (a bucket is
#     less than 0.8% of its values wide), 4480 counters of fixed memory, so
#     histograms of several processes merge exactly by adding counters.
#  6. The window is exact: the loop stops at deadline_ns, a response
#     completed after it is not counted, and the requests still open then
#     (written but not completely answered) are reported as in flight.

DEF LG_BUF = 16384            # per connection; a response head must fit in it
DEF LG_TICK_NS = 10000000     # how often timeouts and reconnects are looked at
DEF LG_BACKOFF_MAX_NS = 100000000
DEF LG_EVENTS = 256
DEF H_SUB = 128               # sub-buckets per power of two
DEF H_LINEAR = 256            # values below are counted exactly
DEF H_SIZE = 4480             # H_LINEAR + 33 powers of two (2^8 .. 2^40) * H_SUB

cdef extern from *:
    int __builtin_clzll(unsigned long long) nogil

cdef enum:
    LG_IDLE = 0
    LG_CONNECTING = 1
    LG_WRITING = 2
    LG_READING = 3
    LG_READY = 4              # keep-alive, the next request goes at the end of the batch

cdef enum:
    RS_HEAD = 0
    RS_LENGTH = 1
    RS_CHUNKED = 2
    RS_EOF = 3
    RS_DONE = 4
    RS_BAD = 5

cdef enum:
    E_CONNECT = 0
    E_TIMEOUT = 1
    E_TRUNCATED = 2
    E_READ = 3
    E_WRITE = 4
    E_KINDS = 5

# Latencies above 2^41 - 1 ns (36 minutes) are counted as that.
cdef unsigned long long H_MAX_NS = (1ULL << 41) - 1

LOADGEN_ERROR_KINDS = ("connect", "timeout", "truncated", "read", "write")
LOADGEN_HISTOGRAM_SIZE = H_SIZE

cdef struct lg_conn:
    int fd
    unsigned int index
    unsigned int gen          # of the socket: events of a closed one are stale
    unsigned int events       # what epoll watches for
    int state
    int rstate
    int status
    bint keep_alive           # the response lets the connection be reused
    bint got_any              # some byte of the current response arrived
    Py_ssize_t sent
    Py_ssize_t buflen
    long long remaining       # of a Content-Length body
    long long t_start         # first byte of the request written
    long long t_deadline      # of the current connect or request
    long long t_retry         # IDLE: reconnect from then on
    long long backoff
    chunk_state ch
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


cdef inline int hist_index(unsigned long long v) noexcept nogil:
    cdef int e
    if v < H_LINEAR:
        return <int>v
    if v > H_MAX_NS:
        v = H_MAX_NS
    e = 63 - __builtin_clzll(v)
    return H_LINEAR + (e - 8) * H_SUB + <int>((v >> (e - 7)) - H_SUB)


cdef inline unsigned long long hist_low(int i) noexcept nogil:
    """The smallest value counted in bucket i."""
    cdef int k, e
    if i < H_LINEAR:
        return <unsigned long long>i
    k = i - H_LINEAR
    e = 8 + k // H_SUB
    return (<unsigned long long>(H_SUB + k % H_SUB)) << (e - 7)


cdef inline unsigned long long hist_width(int i) noexcept nogil:
    if i < H_LINEAR:
        return 1
    return (<unsigned long long>1) << ((i - H_LINEAR) // H_SUB + 1)


# -- the response parser -------------------------------------------------------

cdef Py_ssize_t _lg_head(lg_run *r, lg_conn *c, const char *p, Py_ssize_t n) noexcept nogil:
    """Parse one response head in p[:n]: its length, 0 while incomplete, -1 if malformed."""
    cdef const char *lf
    cdef Py_ssize_t pos, eol, end, i, vs, ve
    cdef long long clen = -1
    cdef int code, minor, d, close_ = 0, keep = 0
    cdef bint chunked = False, other_coding = False
    lf = <const char *>memchr(p, b'\n', n)
    if lf is NULL:
        return 0
    eol = lf - p
    end = eol - 1 if eol > 0 and p[eol - 1] == b'\r' else eol
    if end < 12 or memcmp(p, b"HTTP/1.", 7) != 0 or p[8] != b' ' \
            or not (48 <= <unsigned char>p[7] <= 57 and 48 <= <unsigned char>p[9] <= 57
                    and 48 <= <unsigned char>p[10] <= 57 and 48 <= <unsigned char>p[11] <= 57) \
            or (end > 12 and p[12] != b' '):
        return -1
    minor = p[7] - 48
    code = (p[9] - 48) * 100 + (p[10] - 48) * 10 + (p[11] - 48)
    if code < 100 or code > 599 or code == 101:
        return -1  # 101 only answers an Upgrade, which is never sent
    pos = eol + 1
    while True:
        lf = <const char *>memchr(p + pos, b'\n', n - pos)
        if lf is NULL:
            return 0
        eol = lf - p
        end = eol - 1 if eol > pos and p[eol - 1] == b'\r' else eol
        if end == pos:
            break
        i = pos
        while i < end and _HTOKEN[<unsigned char>p[i]]:
            i += 1
        if i == pos or i == end or p[i] != b':':
            return -1
        vs = i + 1
        ve = end
        trim_ows(p, &vs, &ve)
        if _ieq(p + pos, i - pos, b"content-length", 14):
            if ve == vs or ve - vs > 18:
                return -1
            clen = 0
            for i in range(vs, ve):
                d = <unsigned char>p[i] - 48
                if d < 0 or d > 9:
                    return -1
                clen = clen * 10 + d
        elif _ieq(p + pos, i - pos, b"transfer-encoding", 17):
            # chunked last frames the body; any other final coding runs to the close
            chunked = ve - vs >= 7 and _ieq(p + ve - 7, 7, b"chunked", 7)
            other_coding = not chunked
        elif _ieq(p + pos, i - pos, b"connection", 10):
            _connection_tokens(p + vs, ve - vs, &close_, &keep)
        pos = eol + 1
    if code < 200:
        return eol + 1  # an interim response (100, 103): the final one follows
    c.status = code
    c.keep_alive = not close_ and (minor >= 1 or keep)
    if r.is_head or code == 204 or code == 304:
        c.rstate = RS_DONE
    elif chunked:
        c.rstate = RS_CHUNKED
        c.ch.state = CH_SIZE
        c.ch.remaining = 0
        c.ch.trailer_bytes = 0
        c.ch.trailer_fields = 0
    elif other_coding or clen < 0:
        c.rstate = RS_EOF
        c.keep_alive = False
    elif clen == 0:
        c.rstate = RS_DONE
    else:
        c.rstate = RS_LENGTH
        c.remaining = clen
    return eol + 1


cdef void _lg_parse(lg_run *r, lg_conn *c) noexcept nogil:
    """Consume what c.buf holds; keep an incomplete line or head for the next read."""
    cdef Py_ssize_t pos = 0, n, avail
    while c.rstate != RS_DONE:
        avail = c.buflen - pos
        if c.rstate == RS_HEAD:
            n = _lg_head(r, c, c.buf + pos, avail)
            if n == 0:
                break
            if n < 0:
                c.rstate = RS_BAD
                return
            pos += n
        elif c.rstate == RS_LENGTH:
            n = <Py_ssize_t>c.remaining if c.remaining < avail else avail
            c.remaining -= n
            pos += n
            if c.remaining != 0:
                break
            c.rstate = RS_DONE
        elif c.rstate == RS_CHUNKED:
            if c.ch.state == CH_DATA:
                if avail == 0:
                    break
                n = <Py_ssize_t>c.ch.remaining if c.ch.remaining < avail else avail
                c.ch.remaining -= n
                pos += n
                if c.ch.remaining == 0:
                    c.ch.state = CH_DATA_CRLF
            elif c.ch.state == CH_DONE:
                c.rstate = RS_DONE
            else:
                n = chunk_ctrl(&c.ch, c.buf + pos, avail)
                if n == 0:
                    break
                if n < 0:
                    c.rstate = RS_BAD
                    return
                pos += n
        else:  # RS_EOF: everything up to the close is body
            pos = c.buflen
            break
    if c.rstate == RS_DONE and pos != c.buflen:
        c.rstate = RS_BAD  # bytes nobody asked for
        return
    if pos:
        memmove(c.buf, c.buf + pos, c.buflen - pos)
        c.buflen -= pos


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
    c.rstate = RS_HEAD
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
    st.status[c.status] += 1
    st.hist[hist_index(lat)] += 1
    st.lat_sum += lat
    if lat > st.lat_max:
        st.lat_max = lat
    c.backoff = 0
    if r.close_each or not c.keep_alive:
        _lg_close(c)
        _lg_connect(r, c, now)
    else:
        c.state = LG_READY
        r.ready[r.nready] = c
        r.nready += 1


cdef void _lg_read(lg_run *r, lg_conn *c) noexcept nogil:
    cdef ssize_t n
    cdef Py_ssize_t space
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
            _lg_parse(r, c)
            if c.rstate == RS_DONE:
                _lg_complete(r, c)
                return
            if c.rstate == RS_BAD:
                _lg_fail(r, c, E_READ, monotonic_ns())
                return
            if n < space:
                return  # drained for now; level-triggered epoll says when there is more
        elif n == 0:
            if c.rstate == RS_EOF:
                c.keep_alive = False
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


def histogram_record(unsigned long long[::1] hist, unsigned long long value_ns):
    """Count one value in a latency histogram (an array('Q') of LOADGEN_HISTOGRAM_SIZE)."""
    if hist.shape[0] != H_SIZE:
        raise ValueError(f"a latency histogram has {H_SIZE} counters")
    hist[hist_index(value_ns)] += 1


def histogram_percentiles(const unsigned long long[::1] hist, quantiles):
    """The value (ns) at each quantile (0..1) of a histogram; the middle of its bucket."""
    cdef unsigned long long total = 0, seen, target
    cdef int i
    cdef list out = []
    if hist.shape[0] != H_SIZE:
        raise ValueError(f"a latency histogram has {H_SIZE} counters")
    for i in range(H_SIZE):
        total += hist[i]
    for q in quantiles:
        if not 0.0 <= q <= 1.0:
            raise ValueError("a quantile is between 0 and 1")
        if total == 0:
            out.append(0.0)
            continue
        target = <unsigned long long>(q * total)
        if target < q * total or target == 0:
            target += 1  # the smallest value with at least q of all at or below it
        seen = 0
        for i in range(H_SIZE):
            seen += hist[i]
            if seen >= target:
                break
        out.append(hist_low(i) + (hist_width(i) - 1) / 2.0)
    return out
