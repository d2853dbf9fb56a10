"""Listening sockets, created by the supervisor before any fork."""

from __future__ import annotations

import contextlib
import os
import pwd
import socket

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
                  rcvbuf: int = 0, sndbuf: int = 0) -> socket.socket:
    """Bind and listen on a UNIX socket that only its owner can connect to.

    The file is created mode 0600 (bound under umask 0177). Started as root,
    it is chowned to socket_user, the front-end's user; otherwise it belongs
    to whoever runs the server. A stale file from a dead server is replaced;
    a live one is an error.
    """
    if len(os.fsencode(path)) >= 108:
        raise ConfigError(f"socket path {path!r} is longer than the 107 bytes AF_UNIX allows")
    if os.path.exists(path):
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
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for opt, size, name in ((socket.SO_RCVBUF, rcvbuf, "receive"), (socket.SO_SNDBUF, sndbuf, "send")):
        if size:
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, size)
            except OSError as exc:
                log.warning("Could not set the %s buffer size of %s to %d: %s", name, path, size, exc)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    if socket_user and os.geteuid() == 0:
        os.chown(path, resolve_uid(socket_user), -1)
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def remove_socket_file(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
