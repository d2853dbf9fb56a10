"""Reports how the daemon process was set up, as a Python literal.

Only os and sys at import time: a daemon that dropped root may not be able to
read the Python installation (in CI it lives under /root), so everything else
is imported lazily, by the queries that need it.

Queries (any combination, joined with &): create=PATH (a file, to show the
umask), stack (this worker thread's stack size), bufs (SO_RCVBUF/SO_SNDBUF of
the listening and of the accepted socket), regain (try setuid(0)), malloc
(whether a 2 MiB malloc() gets its own mmap()).

send=N alone: N bytes of b"." in 64 KiB pieces without a Content-Length,
then the report of bufs taken once they were sent.
"""

import os
import sys


def _status() -> dict:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                out[key] = [int(v) for v in value.split()]
    return out


def _stack_size() -> int:
    import ctypes
    libc = ctypes.CDLL(None)
    libc.pthread_self.restype = ctypes.c_ulong
    attr = ctypes.create_string_buffer(256)
    assert libc.pthread_getattr_np(ctypes.c_ulong(libc.pthread_self()), attr) == 0
    size = ctypes.c_size_t()
    libc.pthread_attr_getstacksize(attr, ctypes.byref(size))
    libc.pthread_attr_destroy(attr)
    return size.value


def _buffers() -> dict:
    import socket

    from own_sockets import unix_sockets
    return {"listener" if listening else "conn": (
        s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
        s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)) for s, listening in unix_sockets()}


def _malloc_mmapped() -> bool:
    # glibc marks a block that has its own mapping with bit 1 (IS_MMAPPED)
    # of the size word just before the pointer it returns (64-bit layout).
    import ctypes
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    block = libc.malloc(2 << 20)
    assert block, "malloc(2 MiB) failed"
    try:
        return bool(ctypes.c_size_t.from_address(block - ctypes.sizeof(ctypes.c_size_t)).value & 2)
    finally:
        libc.free(block)


def _send_then_report(n: int):
    for done in range(0, n, 65536):
        yield b"." * min(65536, n - done)
    yield repr({"bufs": _buffers()}).encode()


def application(environ, start_response):
    name, _, value = environ["QUERY_STRING"].partition("=")
    if name == "send":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _send_then_report(int(value))
    report = {
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "sys_path": sys.path[:6],
        "env": {k: os.environ.get(k) for k in ("HOME", "USER", "LOGNAME", "PYTHON_EGG_CACHE")},
        "status": _status(),
        "switch_interval": sys.getswitchinterval(),
    }
    with open(f"/proc/{os.getpid()}/cmdline", "rb") as f:
        report["cmdline"] = f.read().decode(errors="replace")
    for query in filter(None, environ["QUERY_STRING"].split("&")):
        name, _, value = query.partition("=")
        if name == "create":
            with open(value, "w"):
                pass
            report["mode"] = os.stat(value).st_mode & 0o777
        elif name == "stack":
            report["stack"] = _stack_size()
        elif name == "bufs":
            report["bufs"] = _buffers()
        elif name == "malloc":
            report["malloc_mmapped"] = _malloc_mmapped()
        elif name == "regain":
            try:
                os.setuid(0)
                report["regain"] = "became root"
            except PermissionError:
                report["regain"] = "refused"
    body = repr(report).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
