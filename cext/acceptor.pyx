# Leader/follower accept for a daemon's worker threads.
#
# Idle worker threads wait in epoll_wait() on one per-process epoll set that
# holds the group's listening sockets and an eventfd; the gate (gil_gate.pyx)
# lets one of them wait there while requests keep finishing, and a thread
# that just served takes a connection already in the backlog itself. Only
# idle threads wait, so a process accepts only while it has a free thread; the kernel wakes
# one waiter per ready listener (EPOLLEXCLUSIVE across the group's processes),
# and a thread that loses the race to accept() just waits again. stop() makes
# the eventfd readable for good, which wakes every waiter and makes accept()
# return -1: the way worker threads learn that the process is shutting down.
# The kernel does not promise to wake *every* waiter for one level-triggered
# event (seen: an idle thread left asleep after stop()), so waits are bounded
# by STOP_CHECK_MS and the stopping flag is checked after each one.

# receive-buffer-size / send-buffer-size: Linux does not copy a listening
# AF_UNIX socket's SO_RCVBUF/SO_SNDBUF to the sockets accept() returns, so they
# are set on every accepted connection too (two cheap calls, without the GIL).

DEF STOP_CHECK_MS = 500

cdef unsigned long long ACCEPTOR_WAKE = 0xFFFFFFFFFFFFFFFFull

cdef class Acceptor:
    """Hands accepted connections (non-blocking fds) to worker threads."""
    cdef int epfd
    cdef int wakefd
    cdef list listen_fds
    cdef int rcvbuf
    cdef int sndbuf
    # Set by stop() before the eventfd is written, so a thread that epoll
    # hands a ready listener after stop() still returns -1 (exactly N
    # requests for maximum-requests=N).
    cdef volatile int stopping
    # Threads that took a connection without the GIL and now wait for it.
    cdef int gil_waiters
    cdef gil_gate gate            # which idle thread may wait (gil_gate.pyx)

    def __cinit__(self, fds, int rcvbuf=0, int sndbuf=0, bint gate=True):
        cdef int fd
        gate_init(&self.gate, gate)
        self.rcvbuf = rcvbuf
        self.sndbuf = sndbuf
        self.epfd = -1
        self.wakefd = -1
        self.listen_fds = [int(f) for f in fds]
        open_event_set(&self.epfd, &self.wakefd, ACCEPTOR_WAKE)
        for fd in self.listen_fds:
            add_listener(self.epfd, fd, <unsigned long long>fd)

    def __dealloc__(self):
        if self.epfd >= 0:
            close(self.epfd)
        if self.wakefd >= 0:
            close(self.wakefd)
        gate_destroy(&self.gate)

    cdef int _accept_now(self, int lfd) noexcept nogil:
        """accept4() on a (non-blocking) listener; the fd with its buffer sizes, or -1."""
        cdef int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)
        if fd >= 0:
            if self.rcvbuf:
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &self.rcvbuf, sizeof(int))
            if self.sndbuf:
                setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &self.sndbuf, sizeof(int))
        return fd

    def accept(self, bint served=False):
        """Wait for a connection; its fd (non-blocking), or -1 once stopped.

        served: this thread took a connection with its previous call (and is
        done with it); the gate counts it busy until it waits again.
        """
        cdef epoll_event ev
        cdef int rc, fd = -1, err = 0, lfd
        if served:
            gate_progress(&self.gate)
        if self.stopping:
            if served:
                gate_done(&self.gate)
            return -1
        # The fast path, with the GIL still held from the last request: a
        # connection already in the backlog is taken without a GIL round
        # trip (a waiting thread would otherwise grab the GIL in between),
        # unless other threads hold connections and wait for the GIL: then
        # this one lets go, as the HTTP loop does (http_loop.pyx, rule 2).
        if served and fw_load_int(&self.gil_waiters) == 0:
            for lfd in self.listen_fds:
                fd = self._accept_now(lfd)
                if fd >= 0:
                    return fd
        with nogil:
            gate_wait_turn(&self.gate, served)
            while True:
                rc = epoll_wait(self.epfd, &ev, 1, STOP_CHECK_MS)
                if rc < 0:
                    if errno == EINTR:
                        continue
                    err = errno
                    break
                if rc == 0:
                    if self.stopping:
                        fd = -1
                        break
                    continue
                if ev.data.u64 == ACCEPTOR_WAKE or self.stopping:
                    fd = -1
                    break
                # A failure to set the buffer sizes was already reported for the listener.
                fd = self._accept_now(<int>ev.data.u64)
                if fd >= 0:
                    fw_add_int(&self.gil_waiters, 1)
                    break
                # Lost the race to another thread or process, or the client
                # gave up in the backlog: wait again. Out of fds: back off a
                # little instead of spinning on a listener that stays ready.
                if errno == EMFILE or errno == ENFILE or errno == ENOBUFS or errno == ENOMEM:
                    poll(NULL, 0, 10)
            if fd >= 0:
                gate_got_work(&self.gate)
            else:
                gate_no_work(&self.gate)
        if fd >= 0:
            fw_add_int(&self.gil_waiters, -1)
        if err:
            raise_errno(err, "epoll_wait")
        return fd

    def stop(self):
        """Wake every waiting thread; accept() returns -1 from now on."""
        cdef unsigned long long one = 1
        self.stopping = 1
        gate_open(&self.gate)
        if self.wakefd >= 0:
            write(self.wakefd, &one, 8)

    @property
    def stopped(self):
        return self.stopping != 0
