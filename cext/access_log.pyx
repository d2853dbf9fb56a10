# The access log, in Apache's combined (or common) format:
#   %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"
# written without a Python call per request: the line is formatted in C from
# the environ's strings (latin-1, one byte per character), escaped as Apache
# escapes (\" \\ and \xhh for control and non-ASCII bytes, so a client cannot
# forge log lines), appended to one per-process buffer under a mutex, and
# written out when the buffer fills or when a worker thread is about to wait
# for work (access_log_flush), so lines show up promptly without a write()
# per request under load.

DEF ALOG_BUF = 65536
DEF ALOG_LINE = 12288
DEF ALOG_FIELD = 4096        # longest field kept (the rest is cut)
DEF ALOG_SINKS = 64          # log files of one process (sink 0: the default one)
DEF ALOG_SETS = 64           # sets of sinks a request can log to (virtual hosts)
DEF ALOG_PER_SET = 4

# A sink is one destination with its own buffer and lock. A request logs to
# the sinks of its thread's current set (access_log_use_set, set by the
# site router per virtual host); set 0 is sink 0 alone, which is all that
# `serve` and the daemons ever use.
cdef struct alog_sink:
    int fd
    bint common              # Apache's common format: combined without the last two
    char *buf
    Py_ssize_t len
    pthread_mutex_t lock

cdef extern from *:
    """
    static __thread int fw_alog_set = 0;
    """
    int fw_alog_set

cdef char g_alog_buf0[ALOG_BUF]
cdef alog_sink g_sinks[ALOG_SINKS]
cdef int g_nsinks = 1
cdef int g_sets[ALOG_SETS][ALOG_PER_SET + 1]   # [0] = count
cdef int g_nsets = 1
cdef pthread_mutex_t g_alog_time_lock
cdef long g_alog_second = 0
cdef char g_alog_time[40]
g_sinks[0].fd = -1
g_sinks[0].buf = g_alog_buf0
g_sinks[0].len = 0
g_sinks[0].common = False
pthread_mutex_init(&g_sinks[0].lock, NULL)
pthread_mutex_init(&g_alog_time_lock, NULL)
g_sets[0][0] = 1
g_sets[0][1] = 0


cdef Py_ssize_t _esc(char *out, Py_ssize_t room, object s) noexcept:
    """Append s escaped (or '-' when absent); returns the bytes written."""
    cdef const unsigned char *p
    cdef Py_ssize_t i, n, k = 0
    cdef unsigned char c
    # A str of one byte per character, read in place (framing.pyx); no bytes.
    p = <const unsigned char *>_latin1_view(s, &n) if type(s) is str else NULL
    if p is NULL:
        if room > 0:
            out[0] = b'-'
            return 1
        return 0
    n = min(n, ALOG_FIELD)
    for i in range(n):
        c = p[i]
        if k + 4 >= room:
            break
        if c == b'"' or c == b'\\':
            out[k] = b'\\'
            out[k + 1] = c
            k += 2
        elif c < 32 or c >= 127:
            out[k] = b'\\'
            out[k + 1] = b'x'
            out[k + 2] = b"0123456789abcdef"[c >> 4]
            out[k + 3] = b"0123456789abcdef"[c & 15]
            k += 4
        else:
            out[k] = c
            k += 1
    return k


cdef void _alog_write_locked(alog_sink *s) noexcept nogil:
    cdef Py_ssize_t off = 0
    cdef ssize_t w
    while off < s.len:
        w = write(s.fd, s.buf + off, s.len - off)
        if w < 0:
            if errno == EINTR:
                continue
            break  # a full disk must not stop the server: drop the lines
        off += w
    s.len = 0


cdef void access_log_flush() noexcept nogil:
    """Write out buffered lines (called before a worker thread waits)."""
    cdef int i
    for i in range(g_nsinks):
        if g_sinks[i].len == 0:
            continue
        pthread_mutex_lock(&g_sinks[i].lock)
        if g_sinks[i].fd >= 0:
            _alog_write_locked(&g_sinks[i])
        pthread_mutex_unlock(&g_sinks[i].lock)


cdef inline void access_log_use_set(int index) noexcept nogil:
    """The set of sinks this thread's next requests log to (0: the default)."""
    global fw_alog_set
    fw_alog_set = index


cdef inline int access_log_current_set() noexcept nogil:
    return fw_alog_set


cdef void _alog_append(alog_sink *s, const char *line, Py_ssize_t k) noexcept nogil:
    pthread_mutex_lock(&s.lock)
    if s.fd >= 0:
        if s.len + k > ALOG_BUF:
            _alog_write_locked(s)
        memcpy(s.buf + s.len, line, k)
        s.len += k
    pthread_mutex_unlock(&s.lock)


cdef void access_log_request(dict env, int status, long long sent) noexcept:
    """One combined- (or common-) format line for a finished (or refused) request."""
    global g_alog_second
    cdef char line[ALOG_LINE]
    cdef Py_ssize_t k = 0, common_len
    cdef time_t secs
    cdef tm local
    cdef int i, sink
    cdef int *lset = g_sets[fw_alog_set]
    if lset[0] == 1 and g_sinks[lset[1]].fd < 0:
        return
    secs = time(NULL)
    if secs != g_alog_second:
        with nogil:
            pthread_mutex_lock(&g_alog_time_lock)
            if secs != g_alog_second:
                localtime_r(&secs, &local)
                strftime(g_alog_time, sizeof(g_alog_time), "[%d/%b/%Y:%H:%M:%S %z]", &local)
                g_alog_second = secs
            pthread_mutex_unlock(&g_alog_time_lock)
    k += _esc(line + k, ALOG_LINE - k, env.get("REMOTE_ADDR"))
    k += snprintf(line + k, ALOG_LINE - k, " - - %s \"", g_alog_time)
    k += _esc(line + k, ALOG_LINE - k - 600, env.get("REQUEST_METHOD"))
    line[k] = b' '
    k += 1
    k += _esc(line + k, ALOG_LINE - k - 600, env.get("REQUEST_URI"))
    line[k] = b' '
    k += 1
    k += _esc(line + k, ALOG_LINE - k - 600, env.get("SERVER_PROTOCOL"))
    if sent > 0:
        k += snprintf(line + k, ALOG_LINE - k, "\" %d %lld", status, sent)
    else:
        k += snprintf(line + k, ALOG_LINE - k, "\" %d -", status)
    common_len = k
    line[k] = b' '
    line[k + 1] = b'"'
    k += 2
    k += _esc(line + k, ALOG_LINE - k - 300, env.get("HTTP_REFERER"))
    line[k] = b'"'
    line[k + 1] = b' '
    line[k + 2] = b'"'
    k += 3
    k += _esc(line + k, ALOG_LINE - k - 4, env.get("HTTP_USER_AGENT"))
    line[k] = b'"'
    line[k + 1] = b'\n'
    k += 2
    with nogil:
        for i in range(lset[0]):
            sink = lset[1 + i]
            if g_sinks[sink].common:
                # the common line: up to the byte count, then its own newline
                line[common_len] = b'\n'
                _alog_append(&g_sinks[sink], line, common_len + 1)
                line[common_len] = b' '
            else:
                _alog_append(&g_sinks[sink], line, k)


def access_log_add_sink(int fd, bint common=False):
    """One more log file (its fd; common or combined format); returns its index."""
    global g_nsinks
    cdef int i = g_nsinks
    if i >= ALOG_SINKS:
        raise ValueError(f"at most {ALOG_SINKS} access log files per process")
    g_sinks[i].buf = <char *>malloc(ALOG_BUF)
    if g_sinks[i].buf is NULL:
        raise MemoryError()
    g_sinks[i].len = 0
    g_sinks[i].fd = fd
    g_sinks[i].common = common
    pthread_mutex_init(&g_sinks[i].lock, NULL)
    g_nsinks = i + 1
    return i


def access_log_define_set(sinks):
    """A set of sink indexes a request can log to (access_log_use_set); returns its index.

    An empty set logs nothing. Sets are defined before the worker threads start.
    """
    global g_nsets
    cdef int i, n = len(sinks)
    if n > ALOG_PER_SET:
        raise ValueError(f"at most {ALOG_PER_SET} access logs per virtual host")
    if g_nsets >= ALOG_SETS:
        raise ValueError(f"at most {ALOG_SETS} access log sets per process")
    for i in range(n):
        if not 0 <= sinks[i] < g_nsinks:
            raise ValueError(f"no access log sink {sinks[i]}")
    if n == 0:
        # no file: an unused sink whose fd stays -1
        g_sets[g_nsets][0] = 1
        g_sets[g_nsets][1] = access_log_add_sink(-1)
    else:
        g_sets[g_nsets][0] = n
        for i in range(n):
            g_sets[g_nsets][1 + i] = sinks[i]
    g_nsets += 1
    return g_nsets - 1


def access_log_sink_fd(int index, int fd):
    """Point a sink at a new fd (log rotation); buffered lines go to the old one first.

    Returns the previous fd (-1 if none), for the caller to close.
    """
    cdef int old
    if not 0 <= index < g_nsinks:
        raise ValueError(f"no access log sink {index}")
    with nogil:
        pthread_mutex_lock(&g_sinks[index].lock)
        if g_sinks[index].fd >= 0:
            _alog_write_locked(&g_sinks[index])
        old = g_sinks[index].fd
        g_sinks[index].fd = fd
        pthread_mutex_unlock(&g_sinks[index].lock)
    return old


def access_log_open(int fd):
    """Send this process's access log to fd (-1: none); buffered lines go first.

    Returns the previous fd (-1 if none), for the caller to close.
    """
    return access_log_sink_fd(0, fd)


def access_log_flush_now():
    """Write out buffered access-log lines (at shutdown, and for tests)."""
    with nogil:
        access_log_flush()
