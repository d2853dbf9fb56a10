# The epoll set both ways of accepting use (acceptor.pyx for uwsgi sockets,
# http_loop.pyx for HTTP): an eventfd that stop() makes readable for good,
# a timerfd for the HTTP loop's early deadlines, and listening sockets made
# non-blocking, so that a thread that loses the race for a connection (to a
# sibling thread or process) gets EAGAIN instead of blocking in accept().


cdef int open_event_set(int *epfd, int *wakefd, unsigned long long wake_data) except -1:
    """Create the epoll set and its stop eventfd (registered with wake_data)."""
    cdef epoll_event ev
    epfd[0] = epoll_create1(EPOLL_CLOEXEC)
    if epfd[0] < 0:
        raise_errno(errno, "epoll_create1")
    wakefd[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
    if wakefd[0] < 0:
        raise_errno(errno, "eventfd")
    ev.events = EPOLLIN
    ev.data.u64 = wake_data
    if epoll_ctl(epfd[0], EPOLL_CTL_ADD, wakefd[0], &ev) < 0:
        raise_errno(errno, "epoll_ctl(eventfd)")
    return 0


cdef int add_timer(int epfd, unsigned long long data) except -1:
    """A timerfd (monotonic, non-blocking) in the set, registered with data;
    its fd. Disarmed until timerfd_settime()."""
    cdef epoll_event ev
    cdef int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
    if fd < 0:
        raise_errno(errno, "timerfd_create")
    ev.events = EPOLLIN
    ev.data.u64 = data
    if epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0:
        close(fd)
        raise_errno(errno, "epoll_ctl(timerfd)")
    return fd


cdef inline int _join_listener(int epfd, int fd, unsigned long long data) noexcept nogil:
    cdef epoll_event ev
    ev.events = EPOLLIN | EPOLLEXCLUSIVE
    ev.data.u64 = data
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)


cdef int add_listener(int epfd, int fd, unsigned long long data) except -1:
    """Add a listening socket, non-blocking, woken for one waiter per connection."""
    cdef int flags = fcntl(fd, F_GETFL)
    if flags < 0 or fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0:
        raise_errno(errno, "fcntl(O_NONBLOCK) on listener")
    if _join_listener(epfd, fd, data) < 0:
        raise_errno(errno, "epoll_ctl(listener)")
    return 0


cdef int rotate_listener(int epfd, int fd, unsigned long long data) noexcept nogil:
    """Send this epoll set to the back of the listener's queue of waiters.

    With EPOLLEXCLUSIVE the kernel wakes the first set in the listener's
    wait queue that has a thread waiting, so the process that registered
    first took every connection of a burst (seen: 64 of 64 keep-alive
    connections in one of two router processes, the other idle). Leaving
    and rejoining after each accept hands the next connection to the next
    process with an idle thread: round robin, at two epoll_ctl calls per
    connection. -1 (errno set) when it could not rejoin: the process then
    accepts no more from that listener."""
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL)
    return _join_listener(epfd, fd, data)
