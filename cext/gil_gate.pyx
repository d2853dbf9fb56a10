# The admission gate of a daemon's worker threads: who may wait for new work.
#
# Why: the application runs under the GIL, so in one process only one thread
# at a time makes progress in Python. With N threads all waiting for work, a
# request that arrives while one thread runs the application wakes a second
# thread, which reads the request and then sleeps on the GIL; every hand-off
# of the GIL between the two is a futex wake and a context switch. For a
# short CPU-bound application that overhead is most of the cost (hello world,
# 2 processes: about 45k req/s with 15 threads against 58k with 1).
#
# Theory of operation:
# 1. At most one thread of the process waits in epoll_wait() for new work:
#    the poller. Idle threads beyond it sleep on a condition variable.
# 2. A thread that finishes a request looks for more ready work without
#    blocking (the loops' fast paths, GIL still held). Only when none is ready
#    does it leave the busy set and ask the gate to wait.
# 3. A thread may become the poller when nobody polls and no thread is busy:
#    while a request runs, nobody takes the next one from the kernel, and the
#    busy thread takes it itself when it is done (no GIL hand-off at all).
# 4. Threads are for requests that wait (on a database, a slow client, a
#    sleep). If the busy threads finish no request for SLICE_NS, one sleeping
#    thread (the only one with a timed wait) becomes the poller, takes the
#    next request and runs it beside them; so a process with N threads still
#    serves up to N slow requests at once, each new one admitted within a
#    slice. While requests keep finishing, no second thread is admitted.
# 5. open() (stopping) lifts the gate: every thread may poll, as the stop
#    logic of the loops expects.
#
# All state changes under one mutex; the hot case (a busy thread that keeps
# finding work in its fast path) touches only the progress counter.

cdef extern from "pthread.h" nogil:
    ctypedef struct pthread_cond_t:
        pass
    ctypedef struct pthread_condattr_t:
        pass
    int pthread_condattr_init(pthread_condattr_t *a)
    int pthread_condattr_setclock(pthread_condattr_t *a, int clock_id)
    int pthread_condattr_destroy(pthread_condattr_t *a)
    int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *a)
    int pthread_cond_destroy(pthread_cond_t *c)
    int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
    int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const timespec *t)
    int pthread_cond_signal(pthread_cond_t *c)
    int pthread_cond_broadcast(pthread_cond_t *c)

# How long busy threads may go without finishing a request before another
# thread is admitted. Short enough that a request arriving behind a blocked
# one waits little; long enough that hello-world-sized requests (tens of µs)
# never trigger it.
cdef long long GATE_SLICE_NS = 1000000

cdef struct gil_gate:
    pthread_mutex_t m
    pthread_cond_t cv
    int enabled          # 0: every thread polls (routers, or after open())
    int npoll            # threads in a blocking wait for work (0 or 1 when enabled)
    int nbusy            # threads serving a request
    int nsleep           # threads sleeping on cv
    int ntimed           # of those, the one watching the busy threads
    int progress         # requests finished, mod 2**32 (atomic increments)


cdef void gate_init(gil_gate *g, bint enabled) noexcept nogil:
    cdef pthread_condattr_t a
    memset(g, 0, sizeof(gil_gate))
    pthread_mutex_init(&g.m, NULL)
    pthread_condattr_init(&a)
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC)
    pthread_cond_init(&g.cv, &a)
    pthread_condattr_destroy(&a)
    g.enabled = enabled


cdef void gate_destroy(gil_gate *g) noexcept nogil:
    pthread_cond_destroy(&g.cv)
    pthread_mutex_destroy(&g.m)


cdef inline void gate_progress(gil_gate *g) noexcept nogil:
    """A request finished (the thread stays busy: it looks for more)."""
    fw_add_int(&g.progress, 1)


cdef inline int _progress(gil_gate *g) noexcept nogil:
    return fw_load_int(&g.progress)


cdef void gate_wait_turn(gil_gate *g, bint was_busy) noexcept nogil:
    """Block until this thread may wait for new work (it then is the poller).

    was_busy: the thread served requests since it last polled.
    """
    cdef timespec ts
    cdef int seen
    cdef bint stalled = False
    pthread_mutex_lock(&g.m)
    if was_busy:
        g.nbusy -= 1
    while g.enabled and not (g.npoll == 0 and (g.nbusy == 0 or stalled)):
        g.nsleep += 1
        if g.npoll == 0 and g.ntimed == 0:
            # Nobody polls and requests run: watch them for a slice.
            g.ntimed = 1
            seen = _progress(g)
            clock_gettime(CLOCK_MONOTONIC, &ts)
            ts.tv_sec += GATE_SLICE_NS // 1000000000
            ts.tv_nsec += GATE_SLICE_NS % 1000000000
            if ts.tv_nsec >= 1000000000:
                ts.tv_sec += 1
                ts.tv_nsec -= 1000000000
            pthread_cond_timedwait(&g.cv, &g.m, &ts)
            g.ntimed = 0
            stalled = _progress(g) == seen
        else:
            pthread_cond_wait(&g.cv, &g.m)
            stalled = False
        g.nsleep -= 1
    if g.enabled:
        g.npoll += 1
    pthread_mutex_unlock(&g.m)


cdef void gate_got_work(gil_gate *g) noexcept nogil:
    """The poller took a request: it is busy now, and nobody polls."""
    pthread_mutex_lock(&g.m)
    if g.enabled:
        g.npoll -= 1
    g.nbusy += 1
    if g.enabled and g.nsleep > 0 and g.ntimed == 0:
        # Make one sleeper the watcher (rule 4).
        pthread_cond_signal(&g.cv)
    pthread_mutex_unlock(&g.m)


cdef void gate_no_work(gil_gate *g) noexcept nogil:
    """The poller stops polling without a request (stopping, or an error)."""
    pthread_mutex_lock(&g.m)
    if g.enabled:
        g.npoll -= 1
        if g.nsleep > 0:
            pthread_cond_signal(&g.cv)
    pthread_mutex_unlock(&g.m)


cdef void gate_done(gil_gate *g) noexcept nogil:
    """A busy thread leaves without waiting for work (an exception ends its loop)."""
    pthread_mutex_lock(&g.m)
    g.nbusy -= 1
    if g.enabled and g.npoll == 0 and g.nsleep > 0:
        pthread_cond_signal(&g.cv)
    pthread_mutex_unlock(&g.m)


cdef void gate_open(gil_gate *g) noexcept nogil:
    """Lift the gate for good: every thread may poll (stop())."""
    pthread_mutex_lock(&g.m)
    g.enabled = 0
    pthread_cond_broadcast(&g.cv)
    pthread_mutex_unlock(&g.m)


cdef class GilGateProbe:
    """The gate alone, for tests: each call is what a worker thread does."""
    cdef gil_gate g

    def __cinit__(self, bint enabled=True):
        gate_init(&self.g, enabled)

    def __dealloc__(self):
        gate_destroy(&self.g)

    def wait_turn(self, bint was_busy=False):
        with nogil:
            gate_wait_turn(&self.g, was_busy)

    def got_work(self):
        gate_got_work(&self.g)

    def no_work(self):
        gate_no_work(&self.g)

    def progress(self):
        gate_progress(&self.g)

    def done(self):
        gate_done(&self.g)

    def open(self):
        gate_open(&self.g)

    def state(self):
        """(pollers, busy, sleeping, watching), read under the gate's lock."""
        pthread_mutex_lock(&self.g.m)
        try:
            return self.g.npoll, self.g.nbusy, self.g.nsleep, self.g.ntimed
        finally:
            pthread_mutex_unlock(&self.g.m)
