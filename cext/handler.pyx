# What HttpLoop.serve() drives once per request: a RequestHandler. HttpApp
# (wsgi_response.pyx) runs the application in this process; RelayApp
# (relay.pyx) relays the request to a daemon group's socket.


cdef class RequestHandler:
    """Base of the per-request handlers the HTTP event loop calls."""

    cdef bint handle(self, Conn conn, dict env, http_head *h, hconn *c,
                     int slot) except? True:
        """Serve one request whose head is parsed; True keeps the connection alive."""
        raise NotImplementedError

    def on_error(self, Conn conn, int status, str why):
        """Answer a request the parser refused (status 400..505)."""
        refuse_request(conn, status, why)  # wsgi_response.pyx


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
