# What HttpLoop.serve() drives once per request: a RequestHandler. HttpApp
# (wsgi_response.pyx) runs the application in this process; RelayApp
# (relay.pyx) relays the request to a daemon group's socket.


cdef inline bint asks_head(dict env) noexcept:
    """A HEAD request: its answers, errors too, carry no body."""
    return env is not None and env.get("REQUEST_METHOD") == "HEAD"


cdef class RequestHandler:
    """Base of the per-request handlers the HTTP event loop calls."""
    cdef list server_addresses       # per listener: (SERVER_NAME, SERVER_PORT)
    cdef long long limit_request_body
    cdef long long drain_limit       # unread body drained to keep a connection

    cdef bint handle(self, Conn conn, dict env, http_head *h, hconn *c,
                     int slot) except? True:
        """Serve one request whose head is parsed; True keeps the connection alive."""
        raise NotImplementedError

    def on_error(self, Conn conn, int status, str why):
        """Answer a request the parser refused (status 400..505)."""
        refuse_request(conn, status, why)  # wsgi_response.pyx

    cdef int answer(self, Conn conn, hconn *c, int status, bint body_read,
                    dict env) except -1:
        """An error response (and its access-log line), then a lingering close
        if the body was not read, so the close cannot reset the answer away."""
        access_log_request(env, status, 0)
        try:
            conn.sendall(error_response(status, head_only=asks_head(env)))  # wsgi_response.pyx
        except OSError:
            return 0
        if not body_read and c.fd >= 0:
            with nogil:
                linger_close_prepare(c.fd)
        return 0

    cdef bint admit(self, Conn conn, dict env, http_head *h, hconn *c) except? False:
        """Connection variables, and limit-request-body: False = refused (413 sent)."""
        add_connection_vars(env, c, self.server_addresses)
        if self.limit_request_body and h.content_length > self.limit_request_body:
            _log.error("Request body of %d bytes is over limit-request-body (%d): 413 for %s %s.",
                       h.content_length, self.limit_request_body, env["REQUEST_METHOD"],
                       env["PATH_INFO"])
            self.answer(conn, c, 413, False, env)
            return False
        return True


cdef int add_connection_vars(dict env, hconn *c, list server_addresses) except -1:
    """REMOTE_ADDR/PORT and SERVER_NAME/PORT (from Host, else the listener's address)."""
    cdef str host, name, port
    env["REMOTE_ADDR"] = c.peer_host.decode("latin-1")
    env["REMOTE_PORT"] = str(c.peer_port)
    host = env.get("HTTP_HOST")
    if host:
        name, sep, port = host.rpartition(":")
        if sep and port.isdigit() and (not name.startswith("[") or name.endswith("]")):
            env["SERVER_NAME"] = name
            env["SERVER_PORT"] = port
        else:
            env["SERVER_NAME"] = host
            env["SERVER_PORT"] = server_addresses[c.lindex][1]
    else:
        env["SERVER_NAME"], env["SERVER_PORT"] = server_addresses[c.lindex]
    return 0
