"""Listening sockets, created by the supervisor before any fork."""

from __future__ import annotations

import contextlib
import os
import pwd
import socket
import tempfile

from fastwsgi.errors import ConfigError
from fastwsgi.log import log


def resolve_uid(user: str) -> int:
    """A user name or '#uid' to a uid."""
    if user.startswith("#"):
        return int(user[1:])
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise ConfigError(f"unknown user {user!r}") from None


def unix_listener(path: str, backlog: int, *, socket_user: str | None = None,
                  rcvbuf: int = 0, sndbuf: int = 0, group_gid: int | None = None) -> socket.socket:
    """Bind and listen on a UNIX socket that only its owner can connect to.

    The file is created mode 0600 (bound under umask 0177). Started as root,
    it is chowned to socket_user, the front-end's user; otherwise it belongs
    to whoever runs the server. With group_gid (a Site's group, started as
    root) its group becomes that gid and its mode 0660, so that the group's
    own user can connect too, as to mod_wsgi's sockets. A stale file from a
    dead server is replaced; a live one is an error.
    """
    if len(os.fsencode(path)) >= 108:
        raise ConfigError(f"socket path {path!r} is longer than the 107 bytes AF_UNIX allows")
    remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    set_buffer_sizes(sock, rcvbuf, sndbuf, path)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    if os.geteuid() == 0 and (socket_user or group_gid is not None):
        os.chown(path, resolve_uid(socket_user) if socket_user else -1,
                 -1 if group_gid is None else group_gid)
        if group_gid is not None:
            os.chmod(path, 0o660)
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def private_dir() -> str:
    """A new temp dir (mode 0700) with a path short enough for AF_UNIX sockets."""
    base = tempfile.gettempdir()
    if len(os.fsencode(base)) > 60:
        base = "/tmp"
    return tempfile.mkdtemp(prefix="fastwsgi-", dir=base)


def site_socket_path(prefix: str, supervisor_pid: int, n: int) -> tuple[str, str]:
    """(socket path, private dir or '') of a Site's n-th group, named as mod_wsgi names it.

    '<WSGISocketPrefix>.<pid>.<n>.sock'; without a prefix, in a new private dir.
    """
    if not prefix:
        directory = private_dir()
        return os.path.join(directory, f"{n}.sock"), directory
    directory = os.path.dirname(prefix) or "."
    if not os.path.isdir(directory):
        raise ConfigError(f"directory {directory} of the socket prefix {prefix} does not exist",
                          directive="WSGISocketPrefix")
    return f"{prefix}.{supervisor_pid}.{n}.sock", ""


def remove_stale_socket(path: str) -> None:
    """Remove a socket file a dead server left; refuse to touch a live one."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        log.warning("Removing stale socket file %s.", path)
        os.unlink(path)
    except OSError as exc:
        raise ConfigError(f"cannot use socket path {path!r}: {exc}") from None
    else:
        raise ConfigError(f"socket {path!r} is in use by a running server")
    finally:
        probe.close()


def remove_socket_file(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def parse_bind(spec: str) -> tuple[str, str, int]:
    """'host:port', '[v6]:port', ':port' or 'unix:/path' -> (kind, host_or_path, port)."""
    if spec.startswith("unix:"):
        path = spec[5:]
        if not path:
            raise ConfigError(f"--bind {spec!r}: a unix socket needs a path (unix:/run/app.sock)")
        return "unix", path, 0
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--bind {spec!r}: expected HOST:PORT, [IPV6]:PORT or unix:PATH")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"--bind {spec!r}: write IPv6 addresses in brackets, [::1]:8000")
    return ("tcp6" if ":" in host else "tcp"), host or "0.0.0.0", int(port)


def set_buffer_sizes(sock: socket.socket, rcvbuf: int, sndbuf: int, where: str) -> None:
    """receive-/send-buffer-size on a socket; a refusal is only a warning."""
    for opt, size, name in ((socket.SO_RCVBUF, rcvbuf, "receive"), (socket.SO_SNDBUF, sndbuf, "send")):
        if size:
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, size)
            except OSError as exc:
                log.warning("Could not set the %s buffer size of %s to %d: %s", name, where, size, exc)


def http_listener(spec: str, backlog: int, rcvbuf: int = 0, sndbuf: int = 0) -> socket.socket:
    """A listening socket for HTTP, bound as --bind spec says."""
    kind, host, port = parse_bind(spec)
    if kind == "unix":
        remove_stale_socket(host)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(host)
    else:
        family = socket.AF_INET6 if kind == "tcp6" else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"--bind {spec!r}: cannot bind: {exc.strerror}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    set_buffer_sizes(sock, rcvbuf, sndbuf, spec)  # TCP connections inherit them
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def server_address(sock: socket.socket) -> tuple[str, str]:
    """(SERVER_NAME, SERVER_PORT) of a listening socket, for requests without Host."""
    addr = sock.getsockname()
    if isinstance(addr, tuple):
        return str(addr[0]), str(addr[1])
    return "localhost", ""


def describe(sock: socket.socket) -> str:
    addr = sock.getsockname()
    if isinstance(addr, tuple):
        host = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
        return f"http://{host}:{addr[1]}"
    return f"unix:{addr}"
