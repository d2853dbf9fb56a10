"""Setting up a daemon process after fork, before the application loads.

The order follows mod_wsgi's (wsgi_start_process, wsgi_setup_access and
wsgi_python_child_init), because each step depends on the previous one:

1. display-name: the title is set first, so even a process that fails to
   start is recognisable in ps.
2. Privileges (fastwsgi/privileges.py): initgroups, setgid, setuid.
3. home: chdir after the drop, so the directory is checked with the
   rights of the group's user. Without home=, a process whose user= was
   applied goes to that user's home directory (as mod_wsgi 2.0+); otherwise
   it keeps the working directory fastwsgi was started in.
4. umask, then HOME/USER/LOGNAME and PYTHON_EGG_CACHE in os.environ.
5. sys.path: the working directory first, then python-path entries through
   site.addsitedir() (.pth files are processed) moved to the front in order.
6. stack-size, for every thread created from now on (workers, probe).
7. glibc's malloc thresholds, fixed at MMAP_THRESHOLD / TRIM_THRESHOLD
   unless the environment sets one of those settings itself (see
   tune_malloc: why).

Every failure raises StartupError: the process exits with BOOT_FAILED and
the supervisor backs off. check_group() runs the checks that can be done
before any fork, so that a typo fails `fastwsgi serve` at once.
"""

from __future__ import annotations

import os
import site
import sys
import threading
from collections.abc import Mapping, Sequence

from fastwsgi import privileges
from fastwsgi._cext import set_malloc_thresholds
from fastwsgi.config import GroupConfig
from fastwsgi.errors import ConfigError, StartupError
from fastwsgi.log import log


def display_name(cfg: GroupConfig) -> str | None:
    """The process title display-name= asks for; %{GROUP} -> (wsgi:NAME)."""
    value = cfg.display_name
    if value is None:
        return None
    return value.replace("%{GROUP}", f"(wsgi:{cfg.name})")


def set_title(title: str) -> None:
    # setproctitle moves environ out of the way, so a long title is not cut
    # to the length of argv[0] as it is in mod_wsgi.
    import setproctitle
    setproctitle.setproctitle(title)


def setup_process(cfg: GroupConfig, site_path: Sequence[str] = ()) -> None:
    """Steps 1-7 above, in the forked daemon process.

    site_path is WSGIPythonPath of a Site: after the group's python-path, as
    mod_wsgi puts a group's python-path first.
    """
    title = display_name(cfg)
    if title is not None:
        set_title(title)
    ident = privileges.resolve(cfg.user, cfg.group) if privileges.applies() else None
    if ident is not None:
        privileges.drop(ident)
    _change_directory(cfg, ident)
    if cfg.umask is not None:
        os.umask(cfg.umask)
    if ident is not None and ident.uid is not None:
        os.environ["HOME"] = ident.home or "/"
        for var in ("USER", "LOGNAME") + (("USERNAME",) if "USERNAME" in os.environ else ()):
            os.environ[var] = ident.name or str(ident.uid)
    if cfg.python_eggs is not None:
        if not (os.path.isdir(cfg.python_eggs) and os.access(cfg.python_eggs, os.W_OK)):
            raise StartupError(f"python-eggs directory {cfg.python_eggs} does not exist or is "
                               f"not writable by uid {os.getuid()}")
        os.environ["PYTHON_EGG_CACHE"] = cfg.python_eggs
    _set_sys_path(os.getcwd(), ":".join([cfg.python_path or "", *site_path]).strip(":"))
    if cfg.stack_size:
        threading.stack_size(cfg.stack_size)
    if cfg.switch_interval is not None:
        sys.setswitchinterval(cfg.switch_interval)
    tune_malloc(os.environ)


#: Blocks up to this size come from malloc's heaps, not from their own mmap().
MMAP_THRESHOLD = 4 << 20
#: Free memory at the top of a heap is given back to the kernel past this
#: size: twice MMAP_THRESHOLD, the pair glibc's own adjustment would choose
#: after freeing a 4 MiB block.
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
#: The settings tune_malloc makes, as glibc's environment variables and as
#: its GLIBC_TUNABLES keys: an operator who sets one of them chose the policy.
MALLOC_ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                      "MALLOC_MMAP_MAX_")
MALLOC_TUNABLES = ("glibc.malloc.mmap_threshold", "glibc.malloc.trim_threshold",
                   "glibc.malloc.top_pad", "glibc.malloc.mmap_max")


def tune_malloc(environ: Mapping[str, str]) -> bool:
    """Fix glibc's malloc thresholds; False (and nothing changed) when the
    environment sets one of them itself, or glibc refuses.

    Why: glibc gives a freed block back to the kernel once more than its trim
    threshold (128 KiB, raised only after a large mmap()ed block is freed) is
    free at the top of a heap, and each thread allocates from its own heap.
    The worker threads of a busy process take turns, so a request that reads
    a 1 MiB body into bytes and joins them ends by trimming its thread's heap,
    and the next request on that heap faults every page in again: 500 page
    faults and 2 ms of extra CPU per 1 MiB POST relayed by the router. With
    fixed thresholds the pages stay, at the cost of keeping up to
    TRIM_THRESHOLD of free memory per heap.
    """
    tunables = {entry.partition("=")[0]
                for entry in environ.get("GLIBC_TUNABLES", "").split(":")}
    if any(name in environ for name in MALLOC_ENVIRONMENT) or \
            any(name in tunables for name in MALLOC_TUNABLES):
        return False
    try:
        set_malloc_thresholds(MMAP_THRESHOLD, TRIM_THRESHOLD)
    except ValueError as exc:  # a tuning step: never a reason not to start
        log.warning("Daemon process %d keeps glibc's malloc thresholds: %s.", os.getpid(), exc)
        return False
    return True


def _change_directory(cfg: GroupConfig, ident: privileges.Identity | None) -> None:
    if cfg.home is not None:
        try:
            os.chdir(cfg.home)
        except OSError as exc:
            raise StartupError(f"cannot change to home directory {cfg.home}: {exc}") from None
    elif ident is not None and ident.uid is not None and ident.home:
        try:
            os.chdir(ident.home)
        except OSError as exc:
            # nobody's home is /nonexistent: not worth refusing to start.
            log.info("Daemon process '%s': home directory %s of user %s is unusable (%s); "
                     "working directory is /.", cfg.name, ident.home, ident.name, exc.strerror)
            os.chdir("/")


def _set_sys_path(home: str, python_path: str | None) -> None:
    """home at sys.path[0]; python-path entries (and what their .pth add) next."""
    sys.path[:] = [home] + [p for p in sys.path if p not in ("", home)]
    if not python_path:
        return
    before = list(sys.path)
    for directory in python_path.split(":"):
        site.addsitedir(directory)
    added = [p for p in sys.path if p not in before]
    sys.path[:] = [home] + added + [p for p in before if p != home]


def check_group(cfg: GroupConfig) -> None:
    """Checks that can be made before forking; ConfigError names the option."""
    root = privileges.applies()
    if not root and (cfg.user is not None or cfg.group is not None):
        log.info("Daemon group '%s': user=/group= ignored, fastwsgi was not started as "
                 "root (processes run as uid %d).", cfg.name, os.getuid())
    elif root and cfg.user is None:
        log.warning("Daemon group '%s' runs its application as root: give it user= (for "
                    "example user=www-data).", cfg.name)
    try:
        ident = privileges.resolve(cfg.user, cfg.group) if root else None
    except StartupError as exc:
        raise ConfigError(str(exc), directive=cfg.name) from None
    if cfg.home is not None and not os.path.isdir(cfg.home):
        raise ConfigError(f"home directory {cfg.home} does not exist", source="home")
    if cfg.python_eggs is not None:
        if not os.path.isdir(cfg.python_eggs):
            raise ConfigError(f"directory {cfg.python_eggs} does not exist", source="python-eggs")
        if not privileges.writable_by(cfg.python_eggs, ident):
            who = ident.name if ident is not None and ident.name else f"uid {os.getuid()}"
            raise ConfigError(f"directory {cfg.python_eggs} is not writable by {who}",
                              source="python-eggs")
    for directory in (cfg.python_path or "").split(":"):
        if directory and not os.path.isdir(directory):
            log.warning("Daemon group '%s': python-path entry %s is not a directory.",
                        cfg.name, directory)
