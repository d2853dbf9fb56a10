# The router's relay: one HTTP request from a client to a daemon group's UNIX
# socket and the response back, full duplex and without the GIL.
#
# Theory of operation:
# 1. With the GIL, the request head becomes a uwsgi frame (encode_frame): the
#    CGI variables of the head, the connection's addresses, CONTENT_LENGTH or
#    STREAM_VAR (a chunked upload, sent de-chunked and ended by our
#    half-close), FASTWSGI_QUEUE_START and FRAMED_RESPONSE_VAR. The pump runs
#    without the GIL wherever it moves bulk bytes.
# 2. Connect: a non-blocking AF_UNIX connect, a new socket per request. A
#    full backlog (EAGAIN) or a socket nobody listens on (ECONNREFUSED) is
#    retried as mod_wsgi does: after 0.125 s while less than 2 s was waited,
#    then after 1 s, until connect-timeout has passed since the first
#    attempt; then 503. Any other error (ENOENT, EACCES) is 503 at once. The
#    waits between attempts are timed suspensions in the event set, not
#    sleeping threads.
# 3. One pump serves both sockets. It writes the frame, then body
#    bytes, to the daemon whenever the daemon's socket is writable, and it
#    reads the daemon's socket whenever it is readable, whether or not the
#    body is all sent: the daemon's response never waits for the body and
#    the body never waits for the response, so no pair of socket buffer
#    sizes and no application (reading its body or not) can deadlock it.
#    Body bytes go from the client's buffer straight to the daemon; a chunked
#    body is de-chunked on the way (chunk_ctrl). Once the buffer is empty,
#    the rest of a big Content-Length body goes through a pipe, spliced from
#    socket to socket (splice.pyx), never more than the body. Bytes read from
#    the client past the body stay in its buffer: they are the next
#    pipelined request.
#    The pump never waits: where it would, it returns R_AGAIN with the
#    events it needs (ev_up, ev_c), the exchange is suspended in the event
#    loop's epoll set, and whichever thread gets one of those events (or
#    finds its socket-timeout passed) resumes it (relay_app.pyx). No thread
#    waits for a daemon, so a few threads keep every in-flight request going.
# 4. The daemon's head is parsed in C (relay_head.pyx); the client's head is
#    built with the GIL: hop-by-hop fields dropped, Date and Server added if
#    missing, then the client-side framing. The daemon frames its body as
#    FRAMED_RESPONSE_VAR asks: a Content-Length is kept and counted; a
#    chunked body is passed through to an HTTP/1.1 client (de-chunked for
#    1.0) and parsed to find its end; a body with neither (a daemon that did
#    not honour the variable) is chunked for an HTTP/1.1 client and
#    close-delimited for 1.0. HEAD, 1xx, 204 and 304 carry no body. A body
#    that goes as it is (Content-Length, close-delimited) is sent from the
#    daemon's buffer; only one that is framed on the way is copied into the
#    client's output buffer.
# 5. Failures, each with one error-log line: connect -> 503; the daemon gone
#    or its head invalid before the head is complete -> 502; no head within
#    socket-timeout -> 504. After the head, a daemon that stops short (its
#    Content-Length or final chunk missing) or a timeout closes the client
#    connection, so the truncation is visible: never a clean final chunk.
#    A chunked upload whose next chunk would take it past
#    limit-request-body -> 413 (a Content-Length one is refused before the
#    connect), or a close once the response has begun; the daemon's side is
#    closed, so its application sees a body cut short.
# 6. If the daemon stops reading the body (the application did not read it
#    and the daemon closed), the rest of the body is read from the client and
#    dropped, up to drain_limit; past it the client connection is closed
#    after the response instead of being kept alive. A close-delimited
#    response (HTTP/1.0) cannot keep the connection, so its rest is not
#    drained first: the client sees the close at once (a half-close, then
#    the usual linger before the full close).

from libc.string cimport strlen

DEF UPSTREAM_BUF = 65536 + MAX_RESPONSE_HEAD
DEF CLIENT_OUT_BUF = 262144
DEF CHUNK_OVERHEAD = 24     # "%x\r\n" + "\r\n" for one wrapped chunk
# A body larger than BIG_BODY (or chunked) is relayed through a socket whose
# SO_SNDBUF is BODY_SNDBUF, unless receive-buffer-size sets it: with the
# default (about 200 KiB) the router stops after each few 64 KiB steps until
# the application has read them, and each stop is a wakeup on both sides
# (1 MiB POST echo: 27 context switches per request against 17, median 693
# against 795 req/s). The kernel caps the request at net.core.wmem_max, then
# doubles it; a waiting upload may so hold up to 2 MiB of kernel memory.
DEF BIG_BODY = 131072
DEF BODY_SNDBUF = 1048576
# The rest of a Content-Length upload goes through a pipe (splice.pyx) once
# the client's buffer is empty, if it is at least this big.
DEF SPLICE_MIN = 131072

cdef extern from "sys/un.h" nogil:
    struct sockaddr_un:
        unsigned short sun_family
        char sun_path[108]

cdef extern from "sys/socket.h" nogil:
    int socket(int domain, int type, int protocol)
    int connect(int fd, const sockaddr *addr, socklen_t len)
    enum:
        SOCK_STREAM

cdef extern from "errno.h" nogil:
    enum:
        ECONNREFUSED

cdef enum:
    # Where the response is.
    P_HEAD = 0
    P_BODY = 1
    P_DONE = 2
    # How the daemon's body becomes the client's.
    M_NONE = 0       # no body for the client (HEAD, 1xx, 204, 304): dropped
    M_LENGTH = 1     # Content-Length: counted
    M_CHUNKED = 2    # chunked by the daemon: passed through (or de-chunked)
    M_WRAP = 3       # unframed, HTTP/1.1 client: chunked by us
    M_CLOSE = 4      # unframed, HTTP/1.0 client: ends with the close
    # The request body.
    B_NONE = 0
    B_LENGTH = 1
    B_CHUNKED = 2
    # What the pump returns.
    R_HEAD = 1           # the daemon's head is complete: build the client's
    R_DONE = 2           # the response is complete and sent
    R_TIMEOUT = 3        # socket-timeout passed
    R_UP_EOF = 4         # the daemon closed before its head was complete
    R_UP_ERROR = 5       # reading the daemon failed
    R_BAD_HEAD = 6       # the daemon's head is invalid
    R_TRUNCATED = 7      # the daemon stopped short of its framing
    R_CLIENT_GONE = 8
    R_BAD_BODY = 9       # the client's chunked body is malformed
    R_NOMEM = 10
    R_AGAIN = 11         # the pump would have to wait: ev_up / ev_c say for what
    R_TOO_LARGE = 12     # the client's chunked body is over limit-request-body


cdef struct relay:
    int cfd
    int ufd
    hconn *c
    int timeout_ms
    # request: frame then body, to the daemon
    const char *frame
    Py_ssize_t flen
    Py_ssize_t fpos
    int body_kind
    long long body_left
    chunk_state cs
    long long body_limit  # limit-request-body for a chunked body (0 = none)
    long long body_total  # de-chunked bytes of it taken so far
    bint need_client      # the body step needs more bytes from the client
    bint req_done         # the whole body was taken from the client
    bint up_wr_dead       # the daemon stopped reading: the body is dropped
    long long dropped
    long long drain_limit
    bint drain_gave_up
    body_pipe req_pipe    # open: the rest of the body goes client -> pipe -> daemon
    bint no_splice        # the buffered path only, from now on
    # response: daemon -> client
    char *ubuf
    Py_ssize_t upos
    Py_ssize_t uend
    bint up_eof
    char *obuf
    Py_ssize_t opos
    Py_ssize_t oend
    int phase
    int mode
    bint emit_ctrl
    long long resp_left
    chunk_state rcs
    long long resp_bytes
    int result_after_flush
    resp_head rh
    Py_ssize_t head_len
    int err
    # What a non-waiting pump that returned R_AGAIN waits for (poll events).
    short ev_up
    short ev_c
    long long moved       # bytes moved by any socket call: only ever grows


cdef int relay_connect(const char *path, int rcvbuf, int sndbuf, int grow_sndbuf,
                       int *err) noexcept nogil:
    """One non-blocking connect to the group socket: the fd, or -1 with err
    set (EAGAIN or ECONNREFUSED are retried by the caller: theory, rule 2).
    sndbuf is set as it is; grow_sndbuf (BODY_SNDBUF) only raises it."""
    cdef sockaddr_un addr
    cdef int fd, e
    cdef size_t n = strlen(path)
    memset(&addr, 0, sizeof(addr))
    addr.sun_family = AF_UNIX
    if n >= sizeof(addr.sun_path):
        err[0] = EINVAL
        return -1
    memcpy(addr.sun_path, path, n)
    while True:
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
        if fd < 0:
            err[0] = errno
            return -1
        if rcvbuf:
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(int))
        if sndbuf:
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(int))
        elif grow_sndbuf:
            sndbuf_at_least(fd, grow_sndbuf)
        if connect(fd, <sockaddr *>&addr, sizeof(addr)) == 0:
            return fd
        e = errno
        close(fd)
        if e != EINTR:
            err[0] = e
            return -1


cdef int _body_step(relay *r) noexcept nogil:
    """Move request body bytes from the client's buffer to the daemon (or drop
    them once the daemon stopped reading). 0 = nothing more now, -1 = bad body,
    -2 = a chunked body over body_limit."""
    cdef hconn *c = r.c
    cdef Py_ssize_t avail, n, k
    cdef ssize_t sent
    r.need_client = False
    if r.req_pipe.is_open:
        return _body_step_piped(r)
    while not r.req_done:
        if r.fpos < r.flen:
            return 0  # the frame goes first
        avail = c.rend - c.rpos
        if r.body_kind == B_LENGTH:
            if r.body_left == 0:  # (all of it went through the pipe)
                r.req_done = True
                return 0
            if avail == 0 and r.body_left >= SPLICE_MIN and not r.up_wr_dead \
                    and not r.no_splice:
                if pipe_open(&r.req_pipe):
                    r.need_client = True  # the rest comes through the pipe
                    return 0
                r.no_splice = True  # no pipe to be had (per-user limits, EMFILE)
            n = avail if avail < r.body_left else <Py_ssize_t>r.body_left
        else:
            while r.cs.state != CH_DATA:
                if r.cs.state == CH_DONE:
                    r.req_done = True
                    if not r.up_wr_dead:
                        shutdown(r.ufd, SHUT_WR)  # the end of a streamed body
                    return 0
                k = chunk_ctrl(&r.cs, c.buf + c.rpos, c.rend - c.rpos)
                if k < 0:
                    return -1
                if k == 0:
                    r.need_client = True
                    return 0
                c.rpos += k
                if r.cs.state == CH_DATA and r.body_limit \
                        and r.body_total + r.cs.remaining > r.body_limit:
                    return -2  # refused on the chunk's size, before its data
            avail = c.rend - c.rpos
            n = avail if avail < r.cs.remaining else <Py_ssize_t>r.cs.remaining
        if n == 0:
            r.need_client = True
            return 0
        if r.up_wr_dead:
            if r.dropped + n > r.drain_limit:
                r.drain_gave_up = True
                return 0
            r.dropped += n
            sent = n
        else:
            sent = send(r.ufd, c.buf + c.rpos, n, MSG_NOSIGNAL)
            if sent < 0:
                if errno == EINTR:
                    continue
                if errno == EAGAIN:
                    return 0
                r.up_wr_dead = True  # the daemon closed: drop the rest
                continue
        c.rpos += sent
        r.moved += sent
        if r.body_kind == B_LENGTH:
            r.body_left -= sent
            if r.body_left == 0:
                r.req_done = True
        else:
            r.cs.remaining -= sent
            r.body_total += sent
            if r.cs.remaining == 0:
                r.cs.state = CH_DATA_CRLF
    return 0


cdef int _body_step_piped(relay *r) noexcept nogil:
    """_body_step once the body goes through the pipe: empty the pipe into the
    daemon's socket (_recv_client fills it again only once it is empty)."""
    cdef ssize_t sent
    while r.req_pipe.held:
        sent = pipe_flush(&r.req_pipe, r.ufd)
        if sent > 0:
            r.moved += sent
        elif errno == EAGAIN:
            return 0
        else:
            # The daemon stopped reading: what the pipe holds is dropped.
            r.up_wr_dead = True
            r.dropped += r.req_pipe.held
            break
    if r.body_left and not r.up_wr_dead:
        r.need_client = True  # the pipe is empty: _recv_client fills it
        return 0
    # The body's end, or the rest dropped the buffered way (up to drain_limit).
    pipe_close(&r.req_pipe)
    return _body_step(r)


cdef int _send_frame(relay *r) noexcept nogil:
    cdef ssize_t sent
    while r.fpos < r.flen and not r.up_wr_dead:
        sent = send(r.ufd, r.frame + r.fpos, r.flen - r.fpos, MSG_NOSIGNAL)
        if sent >= 0:
            r.fpos += sent
            r.moved += sent
        elif errno == EAGAIN:
            return 0
        elif errno != EINTR:
            r.up_wr_dead = True
            r.fpos = r.flen
    return 0


cdef int _recv_client(relay *r) noexcept nogil:
    """Read more of the body; 1 read, 0 nothing now, -1 the client went away."""
    cdef hconn *c = r.c
    cdef ssize_t got
    if r.req_pipe.is_open:
        if r.req_pipe.held:
            return 0  # emptied into the daemon first (_body_step_piped)
        # Never more than the body: what follows is the next request.
        got = pipe_fill(&r.req_pipe, c.fd, r.body_left)
        if got > 0:
            r.body_left -= got
    else:
        if hconn_make_room(c, 4096, False) < 0:
            return 0  # a chunk line longer than the buffer: chunk_ctrl refuses it
        while True:
            got = recv(c.fd, c.buf + c.rend, c.cap - c.rend, 0)
            if got >= 0 or errno != EINTR:
                break
        if got > 0:
            c.rend += got
    if got > 0:
        r.moved += got
        note_activity()
        return 1
    if got == 0:
        c.eof = True
        return -1
    return 0 if errno == EAGAIN else -1


cdef inline void _compact_upstream(relay *r) noexcept nogil:
    """Make room at the end of the daemon's buffer by moving what is unread."""
    if r.upos == r.uend:
        r.upos = r.uend = 0
    elif r.upos and UPSTREAM_BUF - r.uend < 16384:
        memmove(r.ubuf, r.ubuf + r.upos, r.uend - r.upos)
        r.uend -= r.upos
        r.upos = 0


cdef int _recv_upstream(relay *r) noexcept nogil:
    """Read the daemon; 1 read, 0 nothing now or EOF (r.up_eof), -1 error (r.err)."""
    cdef ssize_t got
    _compact_upstream(r)
    if r.uend == UPSTREAM_BUF:
        return 0
    while True:
        got = recv(r.ufd, r.ubuf + r.uend, UPSTREAM_BUF - r.uend, 0)
        if got > 0:
            r.uend += got
            r.moved += got
            return 1
        if got == 0 or errno == ECONNRESET:
            # ECONNRESET: an AF_UNIX peer closed with our bytes unread; what
            # it sent before was all delivered first, so it is an end too.
            r.up_eof = True
            return 0
        if errno == EINTR:
            continue
        if errno == EAGAIN:
            return 0
        r.err = errno
        return -1


cdef inline void _out(relay *r, const char *p, Py_ssize_t n) noexcept nogil:
    memcpy(r.obuf + r.oend, p, n)
    r.oend += n


cdef int _transform(relay *r) noexcept nogil:
    """Move the daemon's body bytes into the client's output buffer, framed
    (a body that needs no framing stays where it is: _send_client).

    Returns 0, or R_TRUNCATED / R_BAD_HEAD-like codes through r.phase: sets
    r.phase = P_DONE when the response is complete (or cut short, with
    r.result_after_flush = R_TRUNCATED).
    """
    cdef Py_ssize_t avail, room, n, k
    cdef char line[24]
    cdef int m
    if r.opos == r.oend:
        r.opos = r.oend = 0
    elif r.opos and CLIENT_OUT_BUF - r.oend < 65536:
        memmove(r.obuf, r.obuf + r.opos, r.oend - r.opos)
        r.oend -= r.opos
        r.opos = 0
    while r.phase == P_BODY:
        avail = r.uend - r.upos
        room = CLIENT_OUT_BUF - r.oend
        if avail == 0:
            break
        if r.mode == M_NONE:
            r.upos = r.uend
        elif r.mode == M_LENGTH or r.mode == M_CLOSE:
            break  # sent from the daemon's buffer as it is (_send_client)
        elif r.mode == M_WRAP:
            n = avail if avail < room - CHUNK_OVERHEAD else room - CHUNK_OVERHEAD
            if n <= 0:
                break
            m = snprintf(line, sizeof(line), "%zx\r\n", <size_t>n)
            _out(r, line, m)
            _out(r, r.ubuf + r.upos, n)
            _out(r, "\r\n", 2)
            r.upos += n
            r.resp_bytes += n
        else:  # M_CHUNKED
            if r.rcs.state == CH_DATA:
                n = avail if avail < room else room
                if n > r.rcs.remaining:
                    n = <Py_ssize_t>r.rcs.remaining
                if n == 0:
                    break
                _out(r, r.ubuf + r.upos, n)
                r.upos += n
                r.resp_bytes += n
                r.rcs.remaining -= n
                if r.rcs.remaining == 0:
                    r.rcs.state = CH_DATA_CRLF
                continue
            if room < 4200:
                break  # a control line is at most 4096 bytes
            k = chunk_ctrl(&r.rcs, r.ubuf + r.upos, avail)
            if k == 0:
                if r.up_eof:  # the daemon closed inside a control line
                    r.phase = P_DONE
                    r.result_after_flush = R_TRUNCATED
                break
            if k < 0:
                r.phase = P_DONE
                r.result_after_flush = R_TRUNCATED
                break
            if r.emit_ctrl:
                _out(r, r.ubuf + r.upos, k)
            r.upos += k
            if r.rcs.state == CH_DONE:
                r.phase = P_DONE
    if r.phase == P_BODY and r.up_eof and r.upos == r.uend:
        if r.mode == M_WRAP:
            if CLIENT_OUT_BUF - r.oend < 5:
                return 0
            _out(r, "0\r\n\r\n", 5)
        elif r.mode == M_LENGTH or r.mode == M_CHUNKED:
            r.result_after_flush = R_TRUNCATED
        r.phase = P_DONE
    return 0


cdef inline bint _close_ends_body(relay *r) noexcept nogil:
    """The client's response ends with the close (HTTP/1.0): an unframed body,
    or a chunked one de-chunked on the way."""
    return r.mode == M_CLOSE or (r.mode == M_CHUNKED and not r.emit_ctrl)


cdef inline Py_ssize_t _as_is(relay *r) noexcept nogil:
    """How many of the daemon's buffered bytes go to the client unchanged: a
    Content-Length body (up to its end) or a close-delimited one. They are
    sent from the daemon's buffer, not copied into the output buffer first
    (router 64 KiB responses: about 15% less router CPU per request)."""
    cdef Py_ssize_t n
    if r.phase != P_BODY or (r.mode != M_LENGTH and r.mode != M_CLOSE):
        return 0
    n = r.uend - r.upos
    if r.mode == M_LENGTH and n > r.resp_left:
        n = <Py_ssize_t>r.resp_left
    return n


cdef ssize_t _send_client(relay *r) noexcept nogil:
    """One sendmsg of what the client is owed: the output buffer, then the
    body bytes that go as they are (_as_is). Bytes sent, or -1 (errno)."""
    cdef iovec iov[2]
    cdef msghdr msg
    cdef Py_ssize_t queued = r.oend - r.opos, body = _as_is(r), k
    cdef ssize_t sent
    memset(&msg, 0, sizeof(msg))
    msg.msg_iov = iov
    if queued:
        iov[0].iov_base = r.obuf + r.opos
        iov[0].iov_len = queued
        msg.msg_iovlen = 1
    if body:
        iov[msg.msg_iovlen].iov_base = r.ubuf + r.upos
        iov[msg.msg_iovlen].iov_len = body
        msg.msg_iovlen += 1
    sent = sendmsg(r.cfd, &msg, MSG_NOSIGNAL)
    if sent <= 0:
        return sent
    r.moved += sent
    note_activity()
    k = sent if sent < queued else queued
    r.opos += k
    k = sent - k
    if k:
        r.upos += k
        r.resp_bytes += k
        if r.mode == M_LENGTH:
            r.resp_left -= k
            if r.resp_left == 0:
                r.phase = P_DONE
    return sent


cdef int relay_pump(relay *r) noexcept nogil:
    """Run both directions, without waiting, until the daemon's head is
    complete (R_HEAD), the exchange ends, or it would have to wait: R_AGAIN,
    with the poll events it waits for in r.ev_up and r.ev_c (the theory of
    operation, rule 3). Only non-blocking calls: it may run with the GIL held."""
    cdef int k
    cdef short ev_up, ev_c
    cdef ssize_t sent
    cdef Py_ssize_t hl
    cdef bint want_up_in, want_up_out, want_c_in, want_c_out
    cdef bint tried_recv = False, tried_client = False
    while True:
        # -- progress without waiting ---------------------------------------
        _send_frame(r)
        k = _body_step(r)
        if k < 0:
            return R_TOO_LARGE if k == -2 else R_BAD_BODY
        if r.phase == P_HEAD and r.uend > r.upos:
            hl = scan_response_head(r.ubuf + r.upos, r.uend - r.upos, &r.rh)
            if hl < 0:
                return R_BAD_HEAD
            if hl > 0:
                r.head_len = hl
                return R_HEAD
        if r.phase == P_HEAD and r.up_eof:
            return R_UP_EOF
        if r.phase == P_BODY:
            _transform(r)
        if r.oend > r.opos or _as_is(r):
            sent = _send_client(r)
            if sent > 0:
                if r.phase == P_BODY and (r.uend > r.upos or r.up_eof):
                    # The send made room in the client's buffer: what waits
                    # in the daemon's buffer can move now. Waiting instead
                    # would sleep with both buffers stuck (a full daemon
                    # buffer is not waited on for input) until something
                    # else woke us: seen as 5 s stalls, the daemon's linger.
                    # And once the daemon has closed, the send that empties
                    # its buffer is where the body ends (or is found cut
                    # short): _transform must see it now, not after a wait
                    # for client input that may never come.
                    continue
            elif sent < 0 and errno != EAGAIN and errno != EINTR:
                return R_CLIENT_GONE
        if r.phase == P_DONE and r.oend == r.opos:
            if r.result_after_flush:
                return r.result_after_flush
            # A close-delimited response ends with the close: the rest of an
            # upload is not read first (the caller half-closes and lingers).
            if r.req_done or r.drain_gave_up or _close_ends_body(r):
                return R_DONE
        # -- what it would wait for -----------------------------------------
        _compact_upstream(r)
        want_up_out = not r.up_wr_dead and not r.req_done and (
            r.fpos < r.flen or not r.need_client)
        want_up_in = r.phase != P_DONE and not r.up_eof and r.uend < UPSTREAM_BUF
        want_c_out = r.oend > r.opos or _as_is(r) > 0
        want_c_in = not r.req_done and r.need_client and not r.drain_gave_up \
            and r.fpos == r.flen
        ev_up = (POLLIN if want_up_in else 0) | (POLLOUT if want_up_out else 0)
        ev_c = (POLLIN if want_c_in else 0) | (POLLOUT if want_c_out else 0)
        if ev_up == 0 and ev_c == 0:
            if r.phase != P_DONE:
                # Nothing to wait for and the response unfinished: the daemon
                # closed where _transform cannot end the body. Going round
                # again would spin; end it as cut short.
                return R_TRUNCATED
            # The response is out and the body is stuck behind a full buffer
            # it cannot use: give up on keep-alive.
            r.drain_gave_up = True
            continue
        # One speculative read of each side before giving up: the bytes are
        # often there already, and a wait costs an event round trip. Not for
        # the daemon's head: it has only just been sent the request.
        if want_up_in and r.phase == P_BODY and not tried_recv:
            tried_recv = True
            k = _recv_upstream(r)
            if k < 0:
                return R_UP_ERROR
            if k > 0 or r.up_eof:  # progress: go round again
                tried_recv = False
                continue
        if want_c_in and not tried_client:
            tried_client = True
            k = _recv_client(r)
            if k < 0:
                return R_CLIENT_GONE
            if k > 0:
                tried_client = False
                continue
        r.ev_up = ev_up
        r.ev_c = ev_c
        return R_AGAIN


cdef int relay_on_ready(relay *r) noexcept nogil:
    """After a wakeup for the events of the last R_AGAIN: do the reads they
    were for (non-blocking). 0, or the code that ends the exchange."""
    cdef int k
    if r.ev_up & POLLIN and r.phase != P_DONE and not r.up_eof:
        if _recv_upstream(r) < 0:
            return R_UP_ERROR
    if r.ev_c & POLLIN and not r.req_done and r.need_client and not r.drain_gave_up:
        k = _recv_client(r)
        if k < 0:
            return R_CLIENT_GONE
        if k == 0 and r.req_pipe.is_open and r.req_pipe.held == 0 \
                and sockatmark(r.cfd) == 1:
            # splice moved nothing because the stream is at TCP urgent data,
            # which splice never passes (recv steps over it), while poll says
            # readable: waiting again would wake at once, for ever. The rest
            # goes the buffered way. (Only then: a wakeup by the daemon's
            # socket or by socket-timeout also finds nothing to splice.)
            pipe_close(&r.req_pipe)
            r.no_splice = True
            if _recv_client(r) < 0:
                return R_CLIENT_GONE
    return 0


cdef int relay_expired(relay *r) noexcept nogil:
    """socket-timeout passed without an event since the last R_AGAIN: R_TIMEOUT,
    or 0 when the response is out and only the rest of the body was awaited
    (then keep-alive is given up and the pump can finish)."""
    if r.phase == P_DONE and r.oend == r.opos:
        r.drain_gave_up = True
        return 0
    return R_TIMEOUT


cdef bytes _R100 = b"HTTP/1.1 100 Continue\r\n\r\n"
cdef bytes _TE_CHUNKED = b"Transfer-Encoding: chunked\r\n"
cdef bytes _CONN_CLOSE = b"Connection: close\r\n"
cdef bytes _CONN_KEEP = b"Connection: keep-alive\r\n"
cdef bytes _EMPTY = b""
cdef str _FRAMED_RESPONSE_VAR = FRAMED_RESPONSE_VAR
cdef str _QUEUE_START_VAR = QUEUE_START_VAR
