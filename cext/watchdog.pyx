# The watchdog: one POSIX thread per daemon process that never takes the GIL.
#
# Theory of operation:
#
# 1. It is created with pthread_create and touches no Python object, so it
#    keeps running when Python is completely stuck: a C extension that holds
#    the GIL, a deadlock between Python locks, a process half torn down.
# 2. Python-side code feeds it through C globals and atomics (atomics.h):
#    - a heartbeat that a GIL-holding probe thread (fastwsgi/watchdog.py)
#      advances about every second: when it is older than deadlock-timeout,
#      the GIL has not been available that long;
#    - one request start time per worker thread (0 = idle), set around each
#      request, for request-timeout and to know whether the process is busy;
#    - g_last_activity_ns (sockio.pyx), for inactivity-timeout;
#    - a shutdown deadline, set when the process starts stopping.
# 3. Every TICK_MS it checks, in order: the shutdown deadline (then _exit),
#    the deadlock (log, dump every thread's stack, _exit: nothing graceful is
#    possible without the GIL), and, unless a stop is already under way,
#    request-timeout escalation, restart-interval and inactivity. Those last
#    three are graceful: the cause is recorded (claim_stop) and SIGTERM is sent
#    to the process, whose main thread drains the workers and exits with the
#    code of that cause, which the supervisor logs.
# 4. Its log lines are preformatted and write()n to a dup of the error log fd
#    that it owns (g_log_fd; same format as fastwsgi/log.py). The stack dump
#    is faulthandler's: faulthandler.register(DUMP_SIGNAL, file=g_log_fd,
#    all_threads=True) is done by the Python side, and raise() here runs that
#    handler in this thread, which reads the thread states without the GIL.
# 5. Injecting RequestTimeout needs the GIL, so the probe does it (it asks
#    overdue_requests() which threads to hit); if the thread is still busy
#    after the grace period, item 3 replaces the process.

from includes.threads cimport *

cdef extern from "atomics.h" nogil:
    long long fw_load_ll(const long long *p)
    void fw_store_ll(long long *p, long long v)
    int fw_load_int(const int *p)
    int fw_cas_int(int *p, int expected, int desired)
    int fw_add_int(int *p, int delta)

from libc.stdlib cimport calloc

from fastwsgi import exitcodes

DEF TICK_MS = 100
DEF LINE_MAX = 1024

cdef long long g_heartbeat_ns = 0
cdef long long g_deadlock_ns = 0
cdef long long g_inactivity_ns = 0
cdef long long g_request_ns = 0
cdef long long g_request_grace_ns = 0
cdef long long g_restart_ns = 0
cdef long long g_started_ns = 0
cdef long long g_shutdown_deadline_ns = 0
cdef long long *g_slot_start = NULL
cdef long long *g_slot_injected = NULL
cdef int g_nslots = 0
cdef int g_stop_reason = 0
cdef int g_log_fd = -1
cdef int g_dump_signal = 0
cdef bint g_running = False
cdef char g_group[256]

cdef int EXIT_DEADLOCK = exitcodes.DEADLOCK
cdef int EXIT_INACTIVITY = exitcodes.INACTIVITY
cdef int EXIT_REQUEST_TIMEOUT = exitcodes.REQUEST_TIMEOUT
cdef int EXIT_RESTART_INTERVAL = exitcodes.RESTART_INTERVAL
cdef int EXIT_SHUTDOWN_TIMEOUT = exitcodes.SHUTDOWN_TIMEOUT


cdef void wd_log(const char *level, const char *text) noexcept nogil:
    """One log line in fastwsgi/log.py's format, with one write()."""
    cdef char line[LINE_MAX]
    cdef char stamp[32]
    cdef timespec ts
    cdef tm local
    cdef time_t secs
    cdef int n
    if g_log_fd < 0:
        return
    clock_gettime(CLOCK_REALTIME, &ts)
    secs = ts.tv_sec
    localtime_r(&secs, &local)
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &local)
    n = snprintf(line, LINE_MAX, "[%s.%06ld] [%s] [pid %d] %s\n", stamp,
                 ts.tv_nsec // 1000, level, getpid(), text)
    if n > LINE_MAX - 1:
        n = LINE_MAX - 1
    if n > 0:
        write(g_log_fd, line, n)


cdef void stop_gracefully(int code, const char *text) noexcept nogil:
    """Record the cause, then let the main thread stop the process."""
    if not fw_cas_int(&g_stop_reason, 0, code):
        return  # another cause won the race; it is being handled
    wd_log("info", text)
    kill(getpid(), SIGTERM)


cdef void check(long long now) noexcept nogil:
    cdef char text[512]
    cdef long long deadline = fw_load_ll(&g_shutdown_deadline_ns)
    cdef long long start, last
    cdef int i, reason, active = 0
    if deadline and now >= deadline:
        snprintf(text, sizeof(text), "Shutdown timeout expired; aborting daemon process "
                 "'%s' (pid=%d).", g_group, getpid())
        wd_log("error", text)
        # The cause of the stop, if there was one, stays the exit's cause.
        reason = fw_load_int(&g_stop_reason)
        _exit(reason if reason > 0 else EXIT_SHUTDOWN_TIMEOUT)
    if g_deadlock_ns and now - fw_load_ll(&g_heartbeat_ns) > g_deadlock_ns:
        snprintf(text, sizeof(text), "Daemon process deadlock timer expired, stopping daemon "
                 "process '%s' (pid=%d): the Python GIL has not been available for %.1f "
                 "seconds (deadlock-timeout). Stacks of all threads follow.", g_group,
                 getpid(), (now - fw_load_ll(&g_heartbeat_ns)) / 1e9)
        wd_log("crit", text)
        if g_dump_signal:
            raise_signal(g_dump_signal)
        _exit(EXIT_DEADLOCK)
    if fw_load_int(&g_stop_reason):
        return
    for i in range(g_nslots):
        start = fw_load_ll(&g_slot_start[i])
        if not start:
            continue
        active += 1
        if g_request_ns and now - start > g_request_ns + g_request_grace_ns:
            snprintf(text, sizeof(text), "Daemon process request time limit exceeded: the "
                     "request in thread %d has run %.1f seconds (request-timeout %.1f); "
                     "stopping daemon process '%s' (pid=%d).", i, (now - start) / 1e9,
                     g_request_ns / 1e9, g_group, getpid())
            stop_gracefully(EXIT_REQUEST_TIMEOUT, text)
            return
    if g_restart_ns and now - g_started_ns > g_restart_ns:
        snprintf(text, sizeof(text), "Daemon process restart-interval of %.1f seconds "
                 "expired, stopping daemon process '%s' (pid=%d).", g_restart_ns / 1e9,
                 g_group, getpid())
        stop_gracefully(EXIT_RESTART_INTERVAL, text)
        return
    last = fw_load_ll(&g_last_activity_ns)
    if g_inactivity_ns and not active and last and now - last > g_inactivity_ns:
        snprintf(text, sizeof(text), "Daemon process idle inactivity timer expired (%.1f "
                 "seconds), stopping daemon process '%s' (pid=%d).", g_inactivity_ns / 1e9,
                 g_group, getpid())
        stop_gracefully(EXIT_INACTIVITY, text)


cdef void *watchdog_main(void *arg) noexcept nogil:
    cdef timespec tick
    tick.tv_sec = 0
    tick.tv_nsec = TICK_MS * 1000000
    while True:
        nanosleep(&tick, NULL)
        check(monotonic_ns())
    return NULL


def watchdog_configure(str group, int threads, int log_fd, int dump_signal, *,
                       double deadlock=0, double inactivity=0, double request=0,
                       double request_grace=0, double restart=0):
    """Set what the watchdog enforces (seconds; 0 = off). Once, before start."""
    global g_deadlock_ns, g_inactivity_ns, g_request_ns, g_request_grace_ns
    global g_restart_ns, g_slot_start, g_slot_injected, g_nslots, g_log_fd, g_dump_signal
    if g_running:
        raise RuntimeError("the watchdog is already running")
    encoded = group.encode()[:sizeof(g_group) - 1]
    memcpy(g_group, <const char *>encoded, len(encoded))
    g_group[len(encoded)] = 0
    g_deadlock_ns = <long long>(deadlock * 1e9)
    g_inactivity_ns = <long long>(inactivity * 1e9)
    g_request_ns = <long long>(request * 1e9)
    g_request_grace_ns = <long long>(request_grace * 1e9)
    g_restart_ns = <long long>(restart * 1e9)
    g_slot_start = <long long *>calloc(threads + 1, sizeof(long long))
    g_slot_injected = <long long *>calloc(threads + 1, sizeof(long long))
    if g_slot_start is NULL or g_slot_injected is NULL:
        raise MemoryError()
    g_nslots = threads
    # Our own fd, far from the low numbers, that set_log_fd() can repoint.
    g_log_fd = fcntl(log_fd, F_DUPFD_CLOEXEC, 100)
    if g_log_fd < 0:
        raise_errno(errno, "dup of the error log fd")
    g_dump_signal = dump_signal


def watchdog_start():
    """Start the watchdog thread (detached; it lives as long as the process)."""
    global g_running, g_started_ns
    cdef pthread_t tid
    cdef pthread_attr_t attr
    cdef int rc
    if g_running:
        return
    g_started_ns = monotonic_ns()
    fw_store_ll(&g_heartbeat_ns, g_started_ns)
    pthread_attr_init(&attr)
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED)
    pthread_attr_setstacksize(&attr, 256 * 1024)  # whatever stack-size says
    rc = pthread_create(&tid, &attr, watchdog_main, NULL)
    pthread_attr_destroy(&attr)
    if rc != 0:
        raise_errno(rc, "pthread_create(watchdog)")
    g_running = True


def watchdog_log_fd():
    """The watchdog's own fd of the error log (faulthandler writes there too)."""
    return g_log_fd


def watchdog_set_log_fd(int fd):
    """Point the watchdog's log fd at fd's file (after the log was reopened)."""
    if g_log_fd >= 0 and dup2(fd, g_log_fd) < 0:
        raise_errno(errno, "dup2 of the error log fd")


def watchdog_beat():
    """The probe's heartbeat: the GIL was available just now."""
    fw_store_ll(&g_heartbeat_ns, monotonic_ns())


cdef inline void slot_begin(int slot) noexcept nogil:
    cdef long long now = monotonic_ns()
    if 0 <= slot < g_nslots:
        fw_store_ll(&g_slot_start[slot], now)
    fw_store_ll(&g_last_activity_ns, now)


cdef inline void slot_end(int slot) noexcept nogil:
    cdef long long now = monotonic_ns()
    if 0 <= slot < g_nslots:
        fw_store_ll(&g_slot_start[slot], 0)
    fw_store_ll(&g_last_activity_ns, now)


def request_begin(int slot):
    """Worker thread `slot` started a request (and that is activity)."""
    slot_begin(slot)


def request_end(int slot):
    """Worker thread `slot` is idle again."""
    slot_end(slot)


def overdue_requests():
    """[(slot, seconds running)] past request-timeout and not interrupted yet.

    Each request is reported once: its slot is marked as interrupted.
    """
    cdef long long now = monotonic_ns()
    cdef long long start
    cdef int i
    out = []
    if not g_request_ns:
        return out
    for i in range(g_nslots):
        start = fw_load_ll(&g_slot_start[i])
        if start and now - start > g_request_ns and g_slot_injected[i] != start:
            g_slot_injected[i] = start
            out.append((i, (now - start) / 1e9))
    return out


def busy_requests():
    """How many worker threads are inside a request now."""
    cdef int i, n = 0
    for i in range(g_nslots):
        if fw_load_ll(&g_slot_start[i]):
            n += 1
    return n


def raise_in_thread(unsigned long thread_id, exc_type):
    """Raise exc_type in that thread when it next runs Python code; True if found."""
    return PyThreadState_SetAsyncExc(thread_id, exc_type) == 1


def claim_stop(int code):
    """Record why the process stops; False if another cause was recorded first."""
    return fw_cas_int(&g_stop_reason, 0, code) == 1


def stop_reason():
    """The exit code of the recorded stop cause, 0 if none."""
    return fw_load_int(&g_stop_reason)


def set_shutdown_deadline(double seconds):
    """_exit(SHUTDOWN_TIMEOUT) if the process is still alive after seconds."""
    fw_store_ll(&g_shutdown_deadline_ns, monotonic_ns() + <long long>(seconds * 1e9))
