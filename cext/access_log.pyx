# The access log, in Apache's combined format:
#   %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"
# written without a Python call per request: the line is formatted in C from
# the environ's strings (latin-1, one byte per character), escaped as Apache
# escapes (\" \\ and \xhh for control and non-ASCII bytes, so a client cannot
# forge log lines), appended to one per-process buffer under a mutex, and
# written out when the buffer fills or when a worker thread is about to wait
# for work (access_log_flush), so lines show up promptly without a write()
# per request under load.

cdef extern from "Python.h":
    int PyUnicode_KIND(object o)
    void *PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    enum:
        PyUnicode_1BYTE_KIND

DEF ALOG_BUF = 65536
DEF ALOG_LINE = 12288
DEF ALOG_FIELD = 4096        # longest field kept (the rest is cut)

cdef int g_alog_fd = -1
cdef pthread_mutex_t g_alog_lock
cdef char g_alog_buf[ALOG_BUF]
cdef Py_ssize_t g_alog_len = 0
cdef long g_alog_second = 0
cdef char g_alog_time[40]
pthread_mutex_init(&g_alog_lock, NULL)


cdef Py_ssize_t _esc(char *out, Py_ssize_t room, object s) noexcept:
    """Append s escaped (or '-' when absent); returns the bytes written."""
    cdef const unsigned char *p
    cdef Py_ssize_t i, n, k = 0
    cdef unsigned char c
    if s is None or type(s) is not str or PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND:
        if room > 0:
            out[0] = b'-'
            return 1
        return 0
    p = <const unsigned char *>PyUnicode_DATA(s)
    n = min(PyUnicode_GET_LENGTH(s), ALOG_FIELD)
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


cdef void _alog_write_locked() noexcept nogil:
    global g_alog_len
    cdef Py_ssize_t off = 0
    cdef ssize_t w
    while off < g_alog_len:
        w = write(g_alog_fd, g_alog_buf + off, g_alog_len - off)
        if w < 0:
            if errno == EINTR:
                continue
            break  # a full disk must not stop the server: drop the lines
        off += w
    g_alog_len = 0


cdef void access_log_flush() noexcept nogil:
    """Write out buffered lines (called before a worker thread waits)."""
    if g_alog_len == 0:
        return
    pthread_mutex_lock(&g_alog_lock)
    if g_alog_fd >= 0:
        _alog_write_locked()
    pthread_mutex_unlock(&g_alog_lock)


cdef void access_log_request(dict env, int status, long long sent) noexcept:
    """One combined-format line for a finished (or refused) request."""
    global g_alog_len, g_alog_second
    cdef char line[ALOG_LINE]
    cdef Py_ssize_t k = 0
    cdef time_t secs
    cdef tm local
    if g_alog_fd < 0:
        return
    secs = time(NULL)
    if secs != g_alog_second:
        localtime_r(&secs, &local)
        strftime(g_alog_time, sizeof(g_alog_time), "[%d/%b/%Y:%H:%M:%S %z]", &local)
        g_alog_second = secs
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
        k += snprintf(line + k, ALOG_LINE - k, "\" %d %lld \"", status, sent)
    else:
        k += snprintf(line + k, ALOG_LINE - k, "\" %d - \"", status)
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
        pthread_mutex_lock(&g_alog_lock)
        if g_alog_len + k > ALOG_BUF:
            _alog_write_locked()
        memcpy(g_alog_buf + g_alog_len, line, k)
        g_alog_len += k
        pthread_mutex_unlock(&g_alog_lock)


def access_log_open(int fd):
    """Send this process's access log to fd (-1: none); buffered lines go first.

    Returns the previous fd (-1 if none), for the caller to close.
    """
    global g_alog_fd
    cdef int old
    with nogil:
        pthread_mutex_lock(&g_alog_lock)
        if g_alog_fd >= 0:
            _alog_write_locked()
        old = g_alog_fd
        g_alog_fd = fd
        pthread_mutex_unlock(&g_alog_lock)
    return old


def access_log_flush_now():
    """Write out buffered access-log lines (at shutdown, and for tests)."""
    with nogil:
        access_log_flush()
