# The per-process HTTP event loop: leader/follower threads over one epoll set.
#
# Theory of operation:
# 1. Idle worker threads wait in epoll_wait() on the same set, which holds
#    the listening sockets, an eventfd for stop(), a timerfd for deadlines
#    of suspended exchanges that come before the next regular sweep, and
#    every parked connection (EPOLLONESHOT: an event goes to exactly one
#    thread). In a daemon or router, the gate (gil_gate.pyx) lets only one
#    idle thread wait there while requests keep finishing (gate=False: all
#    of them).
# 2. The thread that gets an event does the work itself: it accepts, reads,
#    parses the head without the GIL, then takes the GIL once to run the
#    application, and writes the response. No request is handed between
#    threads. Then it parses any pipelined bytes, or parks the connection
#    back in the set and waits again. An idle keep-alive connection costs an
#    entry in the set, never a thread. A thread that just answered still
#    holds the GIL, so it first looks for more ready work without waiting
#    (no GIL round trip), unless other threads already hold a request and
#    wait for the GIL (gil_waiters): then it lets go, so that their clients
#    do not wait a switch interval each (the p99 of a CPU-bound app with
#    15 threads fell about 3x with this, throughput unchanged). Such a
#    thread also sweeps deadlines and flushes the access log once a second,
#    as it may be the only one awake.
#    A relayed request (the router) does not keep its thread while the
#    daemon works: the handler leaves its exchange on the connection
#    (c.pending) and the connection is SUSPENDED in the set, its client and
#    daemon sockets both tagged as the connection; the thread that gets
#    either event (or the sweeper, when the exchange's wait expires) goes on
#    with it (resume_exchange).
# 3. Connections are C structs (hconn) in a table indexed by fd. epoll data is
#    (generation << 32 | fd): a stale event for a closed connection whose fd
#    number was reused is recognised and ignored. Park/take/close change the
#    table under one mutex; a connection is PARKED or SUSPENDED (owned by
#    the set) or TAKEN (owned by exactly one thread, or by the sweeper).
# 4. Deadlines: a parked connection with part of a head is closed (408) when
#    header-timeout has passed since its first byte; an idle one after
#    keep-alive-timeout (header-timeout before its first request). One thread
#    at a time sweeps the table about once a second. The sweep also gives
#    the buffer pages of connections parked empty for a second or more back
#    to the kernel: thousands of idle clients cost no threads and little
#    memory.
# 5. stop(): listeners leave the set and idle keep-alive connections are
#    closed (a client retries those). A connection accepted before the stop
#    whose first request has not fully arrived is still served (with
#    Connection: close), within STOP_GRACE_NS or its header deadline: nothing
#    the daemon accepted is dropped unanswered. Threads return once no
#    connection is left.

DEF WAIT_MS = 500

cdef unsigned int LISTENER_GEN = 0xFFFFFFFFu
cdef unsigned long long WAKE_TAG = 0xFFFFFFFEFFFFFFFFull
cdef unsigned long long TIMER_TAG = 0xFFFFFFFDFFFFFFFFull
cdef long long SWEEP_NS = 1000000000
cdef long long STOP_GRACE_NS = 2000000000
cdef long long NO_DEADLINE = 1LL << 62
# A parked connection idle this long gives its buffer's pages back (rule 4);
# at most LEAN_PER_SWEEP per sweep: each is a madvise() of 7-15 us under the
# lock (about 1 ms in all; 10,000 idle clients are done in under 3 minutes).
cdef long long LEAN_AFTER_NS = 1000000000
cdef int LEAN_PER_SWEEP = 64

cdef enum:
    C_PARKED = 1
    C_TAKEN = 2
    C_SUSPENDED = 3   # a relayed exchange waits for its sockets (c.pending)

cdef void _answer_408(hconn *c) noexcept nogil:
    """The sweeper's 408 (no GIL): with Date and Server, and one log line."""
    cdef char buf[320]
    cdef char date[64]
    cdef char text[200]
    cdef tm g
    cdef time_t secs = time(NULL)
    cdef int n
    gmtime_r(&secs, &g)
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &g)
    n = snprintf(buf, sizeof(buf),
                 "HTTP/1.1 408 Request Timeout\r\nDate: %s\r\nServer: fastwsgi\r\n"
                 "Content-Type: text/plain\r\nContent-Length: 16\r\nConnection: close\r\n"
                 "\r\nRequest Timeout\n", date)
    send(c.fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT)
    snprintf(text, sizeof(text), "Refused a request with 408 Request Timeout: the head from "
             "%s:%d was not complete within header-timeout.", c.peer_host, c.peer_port)
    wd_log("error", text)


cdef inline unsigned long long _tag(hconn *c) noexcept nogil:
    """A connection's epoll data: a stale event for a reused fd has another gen."""
    return (<unsigned long long>c.gen << 32) | <unsigned int>c.fd


cdef inline int _arm(int epfd, int fd, unsigned int events, unsigned long long tag,
                     int *added) noexcept nogil:
    """Arm fd for one event (EPOLLONESHOT) with tag: added to the set the
    first time (*added then set), re-armed after."""
    cdef epoll_event ev
    cdef int rc
    ev.events = events | EPOLLONESHOT
    ev.data.u64 = tag
    rc = epoll_ctl(epfd, EPOLL_CTL_MOD if added[0] else EPOLL_CTL_ADD, fd, &ev)
    if rc == 0:
        added[0] = 1
    return rc


cdef class HttpLoop:
    """Accepts and multiplexes HTTP connections for a daemon's worker threads."""
    cdef int epfd
    cdef int wakefd
    cdef int timerfd              # fires when a suspended exchange's wait ends before the
    cdef int nlisten              # next regular sweep (a connect retry, a short timeout)
    cdef int *lfds
    cdef pthread_mutex_t lock
    cdef hconn **slots
    cdef int nslots
    cdef int nconns               # open connections (parked or taken)
    cdef unsigned int gen
    cdef volatile int stopping
    cdef long long header_timeout_ns
    cdef long long keepalive_timeout_ns
    cdef int io_timeout_ms
    cdef long long next_sweep_ns
    cdef int rcvbuf               # receive-/send-buffer-size for accepted
    cdef int sndbuf               # connections (UNIX sockets do not inherit them)
    cdef int limit_line           # LimitRequestLine / LimitRequestFields /
    cdef int limit_fields         # LimitRequestFieldSize (http_parser.pyx)
    cdef int limit_field
    cdef int gil_waiters          # threads holding a request, waiting for the GIL
    cdef hconn *expired           # suspended exchanges past their wait, to resume
    cdef gil_gate gate            # which idle thread may wait for work (gil_gate.pyx)

    def __cinit__(self, fds, double header_timeout=20.0, double keepalive_timeout=75.0,
                  double io_timeout=60.0, int rcvbuf=0, int sndbuf=0,
                  int limit_request_line=DEFAULT_LINE, int limit_request_fields=DEFAULT_FIELDS,
                  int limit_request_field_size=DEFAULT_LINE, bint gate=True):
        cdef int i
        gate_init(&self.gate, gate)
        self.epfd = -1
        self.wakefd = -1
        self.timerfd = -1
        self.lfds = NULL
        self.slots = NULL
        pthread_mutex_init(&self.lock, NULL)
        fds = [int(f) for f in fds]
        self.nlisten = len(fds)
        self.lfds = <int *>calloc(max(self.nlisten, 1), sizeof(int))
        self.nslots = 1024
        self.slots = <hconn **>calloc(self.nslots, sizeof(hconn *))
        if self.lfds is NULL or self.slots is NULL:
            raise MemoryError()
        self.header_timeout_ns = <long long>(header_timeout * 1e9)
        self.keepalive_timeout_ns = <long long>(keepalive_timeout * 1e9)
        self.io_timeout_ms = timeout_to_ms(io_timeout)
        self.rcvbuf = rcvbuf
        self.sndbuf = sndbuf
        if limit_request_line < 1 or limit_request_fields < 0 or limit_request_field_size < 1:
            raise ValueError("HTTP limits must be positive")
        self.limit_line = limit_request_line
        self.limit_fields = limit_request_fields
        self.limit_field = limit_request_field_size
        open_event_set(&self.epfd, &self.wakefd, WAKE_TAG)
        self.timerfd = add_timer(self.epfd, TIMER_TAG)
        for i in range(self.nlisten):
            self.lfds[i] = fds[i]
            add_listener(self.epfd, fds[i],
                         (<unsigned long long>LISTENER_GEN << 32) | <unsigned int>i)

    def __dealloc__(self):
        cdef int i
        if self.slots is not NULL:
            for i in range(self.nslots):
                if self.slots[i] is not NULL:
                    hconn_free(self.slots[i])
            free(self.slots)
        free(self.lfds)
        if self.epfd >= 0:
            close(self.epfd)
        if self.wakefd >= 0:
            close(self.wakefd)
        if self.timerfd >= 0:
            close(self.timerfd)
        pthread_mutex_destroy(&self.lock)
        gate_destroy(&self.gate)

    # -- the connection table ------------------------------------------------

    cdef int _register(self, hconn *c) noexcept nogil:
        cdef hconn **bigger
        cdef int n
        pthread_mutex_lock(&self.lock)
        if c.fd >= self.nslots:
            n = self.nslots
            while n <= c.fd:
                n *= 2
            bigger = <hconn **>realloc(self.slots, n * sizeof(hconn *))
            if bigger is NULL:
                pthread_mutex_unlock(&self.lock)
                return -1
            memset(bigger + self.nslots, 0, (n - self.nslots) * sizeof(hconn *))
            self.slots = bigger
            self.nslots = n
        self.gen += 1
        if self.gen == LISTENER_GEN:
            self.gen = 1
        c.gen = self.gen
        c.state = C_TAKEN
        self.slots[c.fd] = c
        self.nconns += 1
        pthread_mutex_unlock(&self.lock)
        return 0

    cdef hconn *_take(self, unsigned long long data) noexcept nogil:
        cdef int fd = <int>(data & 0xFFFFFFFFull)
        cdef unsigned int gen = <unsigned int>(data >> 32)
        cdef hconn *c = NULL
        pthread_mutex_lock(&self.lock)
        if fd < self.nslots:
            c = self.slots[fd]
            if c is not NULL and (c.gen != gen or (c.state != C_PARKED
                                                   and c.state != C_SUSPENDED)):
                c = NULL
            if c is not NULL:
                if c.state == C_SUSPENDED:
                    c.resume = RESUME_EVENT
                c.state = C_TAKEN
        pthread_mutex_unlock(&self.lock)
        return c

    cdef void _park(self, hconn *c) noexcept nogil:
        """Give the connection back to the set until its next event or deadline."""
        cdef long long now = monotonic_ns()
        if c.rend > c.rpos and c.head_started_ns:
            c.deadline_ns = c.head_started_ns + self.header_timeout_ns
        elif c.requests == 0:
            c.deadline_ns = c.accepted_ns + self.header_timeout_ns
        else:
            c.deadline_ns = now + self.keepalive_timeout_ns
        # Armed under the lock: an event still armed from a relayed exchange
        # (its client socket) may hand the connection to another thread as
        # soon as it is PARKED, and that thread may close it.
        c.parked_ns = now
        pthread_mutex_lock(&self.lock)
        c.state = C_PARKED
        _arm(self.epfd, c.fd, EPOLLIN | EPOLLRDHUP, _tag(c), &c.in_epoll)
        pthread_mutex_unlock(&self.lock)

    cdef void _suspend(self, hconn *c) noexcept nogil:
        """Give a connection whose exchange waits (c.pending) to the set: its
        daemon socket and, if wanted, its client socket carry the same tag, so
        whichever is ready first hands the exchange to one thread. Under the
        lock, so that no thread takes it before both are armed."""
        cdef unsigned long long tag = _tag(c)
        cdef int rc = 0
        c.deadline_ns = monotonic_ns() + c.wait_ms * 1000000LL if c.wait_ms >= 0 \
            else NO_DEADLINE
        pthread_mutex_lock(&self.lock)
        c.state = C_SUSPENDED
        if c.want_up:
            rc = _arm(self.epfd, c.ufd, c.want_up, tag, &c.ufd_added)
        if c.want_c and rc == 0:
            rc = _arm(self.epfd, c.fd, c.want_c, tag, &c.in_epoll)
        if rc != 0:
            # No event will come (ENOMEM, or max_user_watches): let the
            # sweeper hand it back at once; it ends as a timeout does.
            c.deadline_ns = 0
            wd_log("error", "Could not add a relayed request's socket to the event set; "
                   "the request ends as if socket-timeout had passed.")
        if c.deadline_ns < self.next_sweep_ns:
            # A connect retry, or a short socket-timeout: the thread waiting
            # in epoll_wait (maybe the only one, with the gate) must not
            # sleep past it.
            self._sweep_at(c.deadline_ns)
        pthread_mutex_unlock(&self.lock)

    cdef void _sweep_at(self, long long when) noexcept nogil:
        """Bring the next sweep forward to when (monotonic ns); under the lock."""
        cdef itimerspec t
        memset(&t, 0, sizeof(t))
        if when <= 0:
            when = 1  # "now"; 0 would disarm the timer
        t.it_value.tv_sec = when // 1000000000
        t.it_value.tv_nsec = when % 1000000000
        self.next_sweep_ns = when
        timerfd_settime(self.timerfd, TFD_TIMER_ABSTIME, &t, NULL)

    cdef void close_conn(self, hconn *c) noexcept nogil:
        """Forget a taken connection and close it (closing leaves the epoll set)."""
        pthread_mutex_lock(&self.lock)
        if c.fd >= 0 and c.fd < self.nslots and self.slots[c.fd] == c:
            self.slots[c.fd] = NULL
            self.nconns -= 1
        pthread_mutex_unlock(&self.lock)
        hconn_free(c)

    cdef bint _drained(self) noexcept nogil:
        cdef int n
        pthread_mutex_lock(&self.lock)
        n = self.nconns
        pthread_mutex_unlock(&self.lock)
        return n == 0

    cdef bint _sweep(self, long long now, bint everything) noexcept nogil:
        """Close parked connections past their deadline; False if not due yet.

        everything (stop): close idle keep-alive connections at once; give
        the others at most STOP_GRACE_NS to send their request.
        """
        cdef int i, n = 0, lean = 0
        cdef hconn *c
        cdef hconn **expired = NULL
        cdef long long soonest = NO_DEADLINE
        if not everything and now < self.next_sweep_ns:
            return False  # the common case, without the lock (re-checked under it)
        pthread_mutex_lock(&self.lock)
        if not everything and now < self.next_sweep_ns:
            pthread_mutex_unlock(&self.lock)
            return False
        self.next_sweep_ns = now + SWEEP_NS
        for i in range(self.nslots):
            c = self.slots[i]
            if c is not NULL and c.state == C_SUSPENDED:
                if c.deadline_ns <= now:  # a thread resumes it (RESUME_EXPIRED)
                    c.state = C_TAKEN
                    c.resume = RESUME_EXPIRED
                    c.next_ready = self.expired
                    self.expired = c
                elif c.deadline_ns < soonest:
                    soonest = c.deadline_ns
                continue
            if c is not NULL and c.state == C_PARKED and everything \
                    and not (c.requests > 0 and c.rend == c.rpos):
                if c.deadline_ns > now + STOP_GRACE_NS:
                    c.deadline_ns = now + STOP_GRACE_NS
                continue
            if c is not NULL and c.state == C_PARKED and (everything or c.deadline_ns <= now):
                c.state = C_TAKEN
                c.deadline_ns = <long long>(<size_t>expired)  # thread a list through
                expired = <hconn **>c
                n += 1
            elif c is not NULL and c.state == C_PARKED and c.rend == c.rpos \
                    and now - c.parked_ns >= LEAN_AFTER_NS and lean < LEAN_PER_SWEEP:
                # Idle since the last sweep or longer: under the lock, as no
                # thread may take it (and recv into the buffer) meanwhile.
                hconn_give_back_pages(c)
                c.parked_ns = NO_DEADLINE  # done until it is parked again
                lean += 1
        if soonest < self.next_sweep_ns:
            self._sweep_at(soonest)
        pthread_mutex_unlock(&self.lock)
        while expired is not NULL:
            c = <hconn *>expired
            expired = <hconn **>(<size_t>c.deadline_ns)
            if c.rend > c.rpos:
                _answer_408(c)
            self.close_conn(c)
        return True

    # -- reading -------------------------------------------------------------

    cdef int _recv_more(self, hconn *c) noexcept nogil:
        """Non-blocking read into the buffer: >0 bytes, 0 EOF, -1 nothing now, -2 error."""
        cdef ssize_t got
        if hconn_make_room(c, 4096, True) < 0:
            return -2
        while True:
            got = recv(c.fd, c.buf + c.rend, c.cap - c.rend, 0)
            if got > 0:
                if c.rend == c.rpos:
                    c.head_started_ns = monotonic_ns()
                c.rend += got
                note_activity()
                return 1
            if got == 0:
                c.eof = True
                return 0
            if errno == EINTR:
                continue
            return -1 if errno == EAGAIN else -2

    cdef hconn *_next(self, hconn *c, http_head *h, bint block) noexcept nogil:
        """The next connection with a complete head (or a head error).

        block=False is the fast path, called with the GIL held: it only does
        non-blocking calls and returns NULL as soon as nothing is ready, so a
        busy thread serves the next request without a GIL round trip.
        block=True waits (without the GIL); NULL then means stop.
        """
        cdef epoll_event ev
        cdef int rc, fd, r
        cdef unsigned int idx
        cdef Py_ssize_t got
        cdef sockaddr_storage addr
        cdef socklen_t alen
        cdef unsigned long long ticks
        while True:
            if c is not NULL:
                # A connection this thread owns: parse what is buffered, read
                # more while the peer has sent more, park when it has not.
                while True:
                    if c.rend > c.rpos:
                        got = scan_head(c.buf + c.rpos, c.rend - c.rpos, h)
                        if got != 0:
                            return c
                    r = self._recv_more(c)
                    if r > 0:
                        continue
                    if r == -1 and not (self.stopping and c.requests > 0):
                        self._park(c)
                    else:
                        self.close_conn(c)
                    c = NULL
                    break
            if self.expired is not NULL:
                pthread_mutex_lock(&self.lock)
                c = self.expired
                if c is not NULL:
                    self.expired = c.next_ready
                pthread_mutex_unlock(&self.lock)
                if c is not NULL:
                    return c
            if self.stopping and self._drained():
                return NULL
            if not block:
                if fw_load_int(&self.gil_waiters) > 0:
                    # Other threads hold requests and wait for the GIL this
                    # thread holds: taking more work now would keep them (and
                    # their clients) waiting a switch interval each. Let go.
                    return NULL
                # A thread that keeps finding work never blocks, and with
                # the gate it may be the only one awake: deadlines and the
                # access log are its job too, once a second.
                if self._sweep(monotonic_ns(), False):
                    access_log_flush()
            rc = epoll_wait(self.epfd, &ev, 1, WAIT_MS if block else 0)
            if rc < 0 and errno != EINTR:
                return NULL
            if block:
                self._sweep(monotonic_ns(), False)
                access_log_flush()
            if rc <= 0:
                if not block and self.expired is NULL:
                    return NULL
                continue  # (the sweep may have expired exchanges to resume)
            if ev.data.u64 == TIMER_TAG:
                read(self.timerfd, &ticks, 8)  # level-triggered: clear it
                self._sweep(monotonic_ns(), False)
                continue
            if ev.data.u64 == WAKE_TAG:
                # Stopping. The eventfd stays readable (it woke every thread);
                # take it out of the set so the threads still serving the
                # last connections do not spin on it.
                epoll_ctl(self.epfd, EPOLL_CTL_DEL, self.wakefd, NULL)
                continue
            if (ev.data.u64 >> 32) == LISTENER_GEN:
                idx = <unsigned int>(ev.data.u64 & 0xFFFFFFFFull)
                alen = sizeof(addr)
                fd = accept4(self.lfds[idx], <sockaddr *>&addr, &alen,
                             SOCK_NONBLOCK | SOCK_CLOEXEC)
                if fd < 0:
                    if errno == EMFILE or errno == ENFILE or errno == ENOBUFS or errno == ENOMEM:
                        poll(NULL, 0, 10)
                    continue
                c = hconn_new(fd, self.io_timeout_ms)
                if c is NULL:
                    close(fd)
                    continue
                if self.rcvbuf:
                    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &self.rcvbuf, sizeof(int))
                if self.sndbuf:
                    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &self.sndbuf, sizeof(int))
                c.lindex = idx
                # Under the lock: stop() takes the listeners out of the set
                # for good, and a rotation must not put one back.
                pthread_mutex_lock(&self.lock)
                if not self.stopping and rotate_listener(self.epfd, self.lfds[idx],
                                                         ev.data.u64) < 0:
                    wd_log("error", "Could not re-add a listener to the epoll set after an "
                           "accept; this process takes no more connections from it.")
                pthread_mutex_unlock(&self.lock)
                c.accepted_ns = monotonic_ns()
                _peer_name(c, &addr)
                if self._register(c) < 0:
                    hconn_free(c)
                    c = NULL
                continue
            c = self._take(ev.data.u64)
            if c is not NULL and c.resume:
                return c

    # -- the worker thread's body -------------------------------------------

    def serve(self, RequestHandler handler, Conn conn, int slot=-1):
        """Run a worker thread until stop(): handler.handle() once per request.

        slot is the thread's index for the watchdog (request-timeout).
        """
        cdef hconn *c = NULL
        cdef http_head h
        cdef dict env
        cdef bint busy = False  # served a request since this thread last waited
        init_head_limits(&h, self.limit_line, self.limit_fields, self.limit_field)
        try:
            while True:
                if busy:
                    gate_progress(&self.gate)
                    c = self._next(c, &h, False)
                if c is NULL:
                    with nogil:
                        access_log_flush()  # lines reach the file before we wait
                        gate_wait_turn(&self.gate, busy)
                        c = self._next(NULL, &h, True)
                        if c is not NULL:
                            gate_got_work(&self.gate)
                            fw_add_int(&self.gil_waiters, 1)
                        else:
                            gate_no_work(&self.gate)
                    if c is not NULL:
                        fw_add_int(&self.gil_waiters, -1)
                    busy = c is not NULL
                if c is NULL:
                    return
                if not c.resume:  # (else: a relayed exchange this thread goes on with)
                    if h.error:
                        conn.attach(c)
                        try:
                            handler.on_error(conn, h.error, h.why.decode("ascii"))
                        finally:
                            conn.detach()
                            self.close_conn(c)
                            c = NULL
                        continue
                    env = head_environ(c.buf + c.rpos, &h)
                    c.rpos += h.length  # _next scanned and validated it
                    c.head_started_ns = 0
                    c.requests += 1
                    if self.stopping:
                        h.keep_alive = False  # the response says Connection: close
                conn.attach(c)
                keep = False
                try:
                    if c.resume:
                        keep = resume_exchange(conn, c, self.stopping)  # relay_app.pyx
                    else:
                        keep = handler.handle(conn, env, &h, c, slot)
                finally:
                    conn.detach()
                    c = self._after(c, keep)
        finally:
            if busy:
                gate_done(&self.gate)
            free_head_limits(&h)

    cdef hconn *_after(self, hconn *c, bint keep) noexcept nogil:
        """Where a connection goes after its request: the set while its exchange
        waits, closed, parked, or (pipelined bytes) kept by this thread."""
        if c.pending is not NULL:
            self._suspend(c)
        elif not keep or self.stopping or c.fd < 0:
            self.close_conn(c)
        elif c.rend == c.rpos:
            # Nothing pipelined: the client is reading our response, so a
            # recv now would only say EAGAIN. Park at once.
            c.rpos = c.rend = 0
            self._park(c)
        else:
            return c
        return NULL

    def stop(self):
        """Stop accepting, close idle connections, wake every waiting thread."""
        cdef unsigned long long one = 1
        cdef int i
        pthread_mutex_lock(&self.lock)
        self.stopping = 1
        for i in range(self.nlisten):
            epoll_ctl(self.epfd, EPOLL_CTL_DEL, self.lfds[i], NULL)
        pthread_mutex_unlock(&self.lock)
        gate_open(&self.gate)
        self._sweep(monotonic_ns(), True)
        write(self.wakefd, &one, 8)

    @property
    def stopped(self):
        return self.stopping != 0

    def connections(self):
        """How many connections are open (parked or in use)."""
        cdef int i, n = 0
        pthread_mutex_lock(&self.lock)
        for i in range(self.nslots):
            if self.slots[i] is not NULL:
                n += 1
        pthread_mutex_unlock(&self.lock)
        return n


cdef void _peer_name(hconn *c, sockaddr_storage *addr) noexcept nogil:
    c.family = addr.ss_family
    c.peer_host[0] = 0
    c.peer_port = 0
    if addr.ss_family == AF_INET:
        inet_ntop(AF_INET, fw_sin_addr(addr), c.peer_host, sizeof(c.peer_host))
        c.peer_port = ntohs((<sockaddr_in *>addr).sin_port)
    elif addr.ss_family == AF_INET6:
        inet_ntop(AF_INET6, fw_sin6_addr(addr), c.peer_host, sizeof(c.peer_host))
        c.peer_port = ntohs((<sockaddr_in6 *>addr).sin6_port)
