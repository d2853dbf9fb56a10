"""Dropping root: the user= and group= options of a daemon process group.

Rules (the spec's, and mod_wsgi's code):

1. Only a process started as root changes identity; otherwise the options
   are ignored (the supervisor says so once, at start).
2. A group never runs its application as root: user=root or #0 is refused
   when the options are parsed (fastwsgi/config.py).
3. Order: supplementary groups (initgroups() for the user), setgid(),
   setuid(): once the uid is dropped, the groups can no longer be changed.
4. Any failure is fatal for the process: it must never run the application
   with privileges it was told to drop. Afterwards, regaining root must fail;
   if setuid(0) succeeds, something is badly wrong and the process stops.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass

from fastwsgi.errors import StartupError


@dataclass(frozen=True)
class Identity:
    """Who the processes of a group become: uid None keeps root's uid."""

    uid: int | None
    gid: int
    name: str | None
    home: str | None


def _uid_entry(user: str) -> pwd.struct_passwd:
    if user.startswith("#"):
        return pwd.getpwuid(int(user[1:]))
    return pwd.getpwnam(user)


def _gid(group: str) -> int:
    if group.startswith("#"):
        return int(group[1:])
    return grp.getgrnam(group).gr_gid


def resolve(user: str | None, group: str | None) -> Identity | None:
    """The identity that user=/group= ask for; None when neither is given."""
    if user is None and group is None:
        return None
    try:
        entry = _uid_entry(user) if user is not None else None
        gid = _gid(group) if group is not None else (entry.pw_gid if entry else os.getgid())
    except (KeyError, ValueError) as exc:
        raise StartupError(f"cannot resolve user={user} group={group}: {exc}") from None
    if entry is None:
        return Identity(None, gid, None, None)
    return Identity(entry.pw_uid, gid, entry.pw_name, entry.pw_dir)


def applies() -> bool:
    """Identity options are applied only in a process started as root."""
    return os.geteuid() == 0


def supplementary_groups(ident: Identity) -> list[int]:
    if ident.name is None:
        return [ident.gid]
    return os.getgrouplist(ident.name, ident.gid)


def drop(ident: Identity) -> None:
    """Become ident for good, or raise StartupError."""
    try:
        if ident.name is not None:
            os.initgroups(ident.name, ident.gid)
        else:
            os.setgroups([ident.gid])
        os.setgid(ident.gid)
        if ident.uid is not None:
            os.setuid(ident.uid)
    except OSError as exc:
        raise StartupError(f"could not change to uid={ident.uid} gid={ident.gid}: {exc}") from None
    if os.getresgid() != (ident.gid,) * 3 or (
            ident.uid is not None and os.getresuid() != (ident.uid,) * 3):
        raise StartupError(f"identity change incomplete: uids {os.getresuid()}, "
                           f"gids {os.getresgid()}")
    if ident.uid is not None:
        try:
            os.setuid(0)
        except PermissionError:
            return
        raise StartupError("root could be regained after dropping privileges; refusing to run")


def writable_by(path: str, ident: Identity | None) -> bool:
    """Whether the processes' user will be able to write into path.

    For the supervisor's early check, before any fork; the daemon checks again
    with access() once it has become that user.
    """
    if ident is None or ident.uid is None or not applies():
        return os.access(path, os.W_OK)
    st = os.stat(path)
    if st.st_uid == ident.uid:
        return bool(st.st_mode & stat.S_IWUSR)
    if st.st_gid in supplementary_groups(ident):
        return bool(st.st_mode & stat.S_IWGRP)
    return bool(st.st_mode & stat.S_IWOTH)
