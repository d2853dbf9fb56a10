# SiteApp: the router's handler when it serves a whole Site (fastwsgi/site.py
# defines the routing rules; fastwsgi/routing.py builds these tables once).
#
# Theory of operation:
# 1. The virtual host. Per listener (c.lindex) a ListenerMap holds the
#    candidate virtual hosts for that address, already in Apache's order.
#    Only when a wildcard listener (0.0.0.0, ::) is shared by virtual hosts
#    of specific addresses does the map ask the kernel for the connection's
#    local address (getsockname, one syscall). The Host header (port
#    stripped, lower-case, without a trailing dot) is looked up in a dict of
#    exact names; wildcard aliases (* and ?) are compiled regular
#    expressions tried only when a vhost earlier in file order has them.
#    Nothing matches: the first candidate (Apache's default virtual host).
# 2. The route: the longest prefix at a segment boundary, by dict lookups
#    while cutting the path back one segment at a time (never a regular
#    expression), then the WSGIScriptAliasMatch patterns in order.
# 3. SCRIPT_NAME / PATH_INFO as mod_wsgi splits them (its alias match, then
#    Apache's path_info, then duplicate slashes collapsed in each): the
#    path's repeated slashes are merged first; SCRIPT_NAME is the mount,
#    PATH_INFO the rest ('/app' -> '', '/app/' -> '/'). A pattern route's
#    SCRIPT_NAME is the matched part, PATH_INFO the rest, which must be
#    empty or start with '/': mod_wsgi appends it to the script's file name,
#    and Apache finds no such file (404). A script ending in '/' is a
#    directory: the next segment names the script and joins SCRIPT_NAME.
# 4. The route's handler (a RelayApp per daemon group, an HttpApp per
#    embedded application) serves the request; the virtual host's access
#    log set is this thread's for the time of the request.

cdef extern from "sys/socket.h" nogil:
    int getsockname(int fd, sockaddr *addr, socklen_t *addrlen)


cdef class SiteRoute:
    """One route: where its requests go and how their path is split."""
    cdef readonly str prefix
    cdef readonly str mount           # None for a pattern route
    cdef readonly str script
    cdef readonly str process_group
    cdef readonly str application_group
    cdef readonly str callable_object
    cdef readonly str source
    cdef readonly object regex        # compiled pattern, or None
    cdef list parts                   # script with back-references: str or int items
    cdef bint is_dir
    cdef public RequestHandler handler

    def __init__(self, str prefix, str mount, str script, str process_group,
                 str application_group, str callable_object, str source, regex=None,
                 list parts=None):
        self.prefix = prefix
        self.mount = mount
        self.script = script
        self.process_group = process_group
        self.application_group = application_group
        self.callable_object = callable_object
        self.source = source
        self.regex = regex
        self.parts = parts
        self.is_dir = script.endswith("/")

    cdef str _expand(self, object m):
        cdef list out = []
        for part in self.parts:
            if type(part) is int:
                out.append(m.group(part) or "")
            else:
                out.append(part)
        return "".join(out)


cdef class SiteHost:
    """A virtual host's route table and access log set."""
    cdef readonly str name
    cdef dict prefixes                # prefix -> SiteRoute (first configured wins)
    cdef SiteRoute root               # the route of prefix '/', if any
    cdef Py_ssize_t maxlen            # longest prefix
    cdef list patterns                # pattern routes, in order
    cdef readonly int log_set

    def __init__(self, str name, list routes, int log_set):
        cdef SiteRoute r
        self.name = name
        self.prefixes = {}
        self.patterns = []
        self.root = None
        self.maxlen = 0
        self.log_set = log_set
        for r in routes:
            if r.regex is not None:
                self.patterns.append(r)
            elif r.prefix == "/":
                if self.root is None:
                    self.root = r
            elif r.prefix not in self.prefixes:
                self.prefixes[r.prefix] = r
                self.maxlen = max(self.maxlen, len(r.prefix))

    def route(self, str path):
        """(route, SCRIPT_NAME, PATH_INFO, SCRIPT_FILENAME) or None (for tests)."""
        cdef dict env = {}
        cdef SiteRoute r = self._route(path, env)
        if r is None:
            return None
        return r, env["SCRIPT_NAME"], env["PATH_INFO"], env["SCRIPT_FILENAME"]

    cdef SiteRoute _route(self, str path, dict env):
        """The route of path (slashes merged), with env's split set; None: no route."""
        cdef str p = path
        cdef Py_ssize_t j
        cdef object r = None, m
        cdef SiteRoute route
        if self.prefixes:
            if len(p) > self.maxlen:
                j = p.rfind("/", 0, self.maxlen + 1)
                p = p[:j] if j > 0 else ""
            while p:
                r = self.prefixes.get(p)
                if r is not None:
                    break
                j = p.rfind("/")
                if j <= 0:
                    break
                p = p[:j]
        if r is None and self.root is not None and path.startswith("/"):
            r = self.root
        if r is not None:
            route = <SiteRoute>r
            if route.is_dir:
                return route if _split_dir(route, path, len(route.mount), env) else None
            env["SCRIPT_NAME"] = route.mount
            env["PATH_INFO"] = path[len(route.mount):]
            env["SCRIPT_FILENAME"] = route.script
            return route
        for r in self.patterns:
            route = <SiteRoute>r
            m = route.regex.search(path)
            if m is None:
                continue
            j = m.end()
            if route.is_dir:
                env["SCRIPT_FILENAME"] = route._expand(m)
                if _split_dir(route, path, j, env):
                    return route
                return None
            if j < len(path) and path[j] != "/":
                return None  # Apache would look for the file script + rest: none
            env["SCRIPT_NAME"] = path[:j]
            env["PATH_INFO"] = path[j:]
            env["SCRIPT_FILENAME"] = route._expand(m)
            return route
        return None


cdef bint _split_dir(SiteRoute route, str path, Py_ssize_t at, dict env) except? False:
    """A directory route: the segment after path[:at] names the script."""
    cdef Py_ssize_t i = at, n = len(path), j
    while i < n and path[i] == "/":
        i += 1
    if i == n:
        return False
    j = path.find("/", i)
    if j < 0:
        j = n
    base = env.get("SCRIPT_FILENAME") if route.regex is not None else route.script
    env["SCRIPT_NAME"] = path[:j]
    env["PATH_INFO"] = path[j:]
    env["SCRIPT_FILENAME"] = base + path[i:j]
    return True


cdef class HostChooser:
    """The candidate virtual hosts of one address, in order."""
    cdef dict exact                   # name -> (order, SiteHost)
    cdef list wild                    # (order, compiled pattern, SiteHost), by order
    cdef SiteHost default

    def __init__(self, dict exact, list wild, SiteHost default):
        self.exact = exact
        self.wild = wild
        self.default = default

    cdef SiteHost choose(self, object host):
        cdef tuple e = None
        cdef Py_ssize_t best
        if not host or not self.exact and not self.wild:
            return self.default
        e = self.exact.get(host)
        if e is None and host:
            host = _host_name(host)
            e = self.exact.get(host)
        best = e[0] if e is not None else 1 << 30
        for w in self.wild:
            if (<tuple>w)[0] >= best:
                break
            if (<tuple>w)[1].fullmatch(host) is not None:
                return (<tuple>w)[2]
        return (<SiteHost>e[1]) if e is not None else self.default

    def pick(self, host):
        """The virtual host for a Host header value (for tests)."""
        return self.choose(host)


cdef str _host_name(str host):
    """'Example.COM:8080' -> 'example.com'; '[::1]:80' -> '[::1]'."""
    cdef Py_ssize_t i
    if host.startswith("["):
        i = host.find("]")
        host = host[:i + 1] if i > 0 else host
    else:
        i = host.rfind(":")
        if i >= 0:
            host = host[:i]
    return host.lower().rstrip(".")


cdef class ListenerMap:
    """Which HostChooser serves a connection of one listener."""
    cdef HostChooser fixed            # the same for every connection, or None
    cdef dict by_address              # local address -> HostChooser
    cdef HostChooser fallback

    def __init__(self, HostChooser fixed, dict by_address=None, HostChooser fallback=None):
        self.fixed = fixed
        self.by_address = by_address or {}
        self.fallback = fallback

    cdef HostChooser chooser(self, int fd):
        cdef sockaddr_storage addr
        cdef socklen_t alen = sizeof(addr)
        cdef char text[64]
        cdef str local
        if self.fixed is not None:
            return self.fixed
        text[0] = 0
        if getsockname(fd, <sockaddr *>&addr, &alen) == 0:
            if addr.ss_family == AF_INET:
                inet_ntop(AF_INET, fw_sin_addr(&addr), text, sizeof(text))
            elif addr.ss_family == AF_INET6:
                inet_ntop(AF_INET6, fw_sin6_addr(&addr), text, sizeof(text))
        local = text.decode("ascii")
        if local.startswith("::ffff:") and "." in local:
            local = local[7:]
        return self.by_address.get(local, self.fallback)


cdef class SiteApp(RequestHandler):
    """Routes each request of a Site to its daemon group or embedded application."""
    cdef list maps                    # per listener index: ListenerMap

    def __init__(self, list maps, list server_addresses, long long limit_request_body=0,
                 long long drain_limit=1 << 20):
        self.maps = maps
        self.server_addresses = server_addresses
        self.limit_request_body = limit_request_body
        self.drain_limit = drain_limit

    cdef bint handle(self, Conn conn, dict env, http_head *h, hconn *c,
                     int slot) except? True:
        """Route one request and hand it to its handler; True keeps the connection."""
        cdef HostChooser chooser = (<ListenerMap>self.maps[c.lindex]).chooser(c.fd)
        cdef SiteHost vhost = chooser.choose(env.get("HTTP_HOST"))
        cdef str path = env["PATH_INFO"]
        cdef SiteRoute route
        if "//" in path:
            path = _merge_slashes(path)
        route = vhost._route(path, env)
        access_log_use_set(vhost.log_set)
        try:
            if route is None or route.handler is None:
                if not self.admit(conn, env, h, c):
                    return False
                _log.error("No WSGI application for %s %s on virtual host %s: answered 404.",
                           env["REQUEST_METHOD"], path, vhost.name)
                return self._not_found(conn, env, h, c)
            env["mod_wsgi.process_group"] = route.process_group
            env["mod_wsgi.application_group"] = route.application_group
            env["mod_wsgi.callable_object"] = route.callable_object
            return route.handler.handle(conn, env, h, c, slot)
        finally:
            access_log_use_set(0)

    cdef bint _not_found(self, Conn conn, dict env, http_head *h, hconn *c) except? True:
        """404; the connection stays open when there is no body to skip (as Apache)."""
        cdef bint no_body = not h.chunked and h.content_length <= 0
        cdef bint keep = h.keep_alive and no_body
        if not keep:
            self.answer(conn, c, 404, no_body, env)
            return False
        access_log_request(env, 404, 0)
        try:
            conn.sendall(error_response(404, True, h.minor, asks_head(env)))  # wsgi_response.pyx
        except OSError:
            return False
        return True


cdef str _merge_slashes(str path):
    while "//" in path:
        path = path.replace("//", "/")
    return path
