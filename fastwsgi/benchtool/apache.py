"""mod_wsgi daemon mode inside Debian's Apache, with a private configuration.

Everything lives in a temp dir (ServerRoot, logs, pid file, mutexes, the
daemon sockets, a copy of the app); only the apache2 binary and the modules
come from the system. Pitfalls this config handles:

- mod_wsgi embeds Debian's *system* Python (not the benchmark's): the app is
  copied next to the config and must import only what that Python has, and
  Apache gets a clean environment so no PYTHONPATH/PYTHONHOME leaks in. A
  `module:callable` application gets a generated script and python-path=its
  directory.
- Started as root, Apache's children and the daemons run as www-data: the
  temp dir must be traversable, the app readable, and the runtime dir (where
  WSGISocketPrefix puts the daemon sockets) writable by that user.
- MaxKeepAliveRequests defaults to 100, which would make Apache close a
  keep-alive connection every 100 requests; 0 = unlimited, like the peers.
- The event MPM needs enough threads for every wrk connection plus spares,
  or requests queue in Apache before they ever reach the daemons.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

from fastwsgi.appload import is_script
from fastwsgi.benchtool.peers import Server

APACHE_BIN = "/usr/sbin/apache2"
MODULES_DIR = "/usr/lib/apache2/modules"
MODULES = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("wsgi_module", "mod_wsgi.so"),
]
RUN_USER = "www-data"
GROUP = "bench"
APP_NAME = "app.wsgi"


def running_as_root() -> bool:
    return os.geteuid() == 0


class ModWSGI(Server):
    """Apache (event MPM) + mod_wsgi daemon mode: WSGIDaemonProcess bench processes=P threads=T."""

    name = "mod_wsgi"
    install_hint = "apt-get install apache2 libapache2-mod-wsgi-py3"
    has_buffer_options = True
    #: Apache's Timeout: how long a stalled read or write between the Apache
    #: child and the daemon may wait (the buffers scenario lowers it).
    io_timeout = 60

    def unavailable(self) -> str | None:
        if not os.access(APACHE_BIN, os.X_OK):
            return f"{APACHE_BIN} is not installed"
        if not os.path.exists(os.path.join(MODULES_DIR, "mod_wsgi.so")):
            return f"{MODULES_DIR}/mod_wsgi.so is not installed"
        return None

    def version(self) -> str:
        apache = "apache2 unknown"
        try:
            out = subprocess.run([APACHE_BIN, "-v"], capture_output=True, text=True, timeout=10)
            apache = out.stdout.splitlines()[0].split(":", 1)[-1].strip()
            pkg = subprocess.run(["dpkg-query", "-W", "-f", "${Version}",
                                  "libapache2-mod-wsgi-py3"],
                                 capture_output=True, text=True, timeout=10)
            return f"{apache}, mod_wsgi {pkg.stdout.strip() or 'unknown'} (Debian)"
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return apache

    def env(self) -> dict[str, str] | None:
        # A clean environment: the embedded system Python must not see the
        # benchmark interpreter's PYTHONPATH, PYTHONHOME or virtualenv.
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}

    def command(self, port: int, workdir: str) -> list[str]:
        return [APACHE_BIN, "-f", os.path.join(workdir, "httpd.conf"), "-DFOREGROUND"]

    def config_text(self, port: int, root: str) -> str:
        lines = [f'LoadModule {name} "{MODULES_DIR}/{so}"' for name, so in MODULES]
        lines += [
            f'ServerRoot "{root}"',
            f'PidFile "{root}/httpd.pid"',
            f'DefaultRuntimeDir "{root}/run"',
            f"Mutex file:{root}/run default",
            f'ErrorLog "{root}/error.log"',
            "LogLevel warn",
            "ServerName localhost",
            f"Listen 127.0.0.1:{port}",
            # event MPM: 2 x 64 threads serve every wrk connection with spares.
            "StartServers 2",
            "ServerLimit 4",
            "ThreadLimit 64",
            "ThreadsPerChild 64",
            "MaxRequestWorkers 256",
            "MinSpareThreads 64",
            "MaxSpareThreads 256",
            "MaxConnectionsPerChild 0",
            "KeepAlive On",
            "MaxKeepAliveRequests 0",
            "KeepAliveTimeout 30",
            f"Timeout {self.io_timeout}",
        ]
        if running_as_root():
            lines += [f"User {RUN_USER}", f"Group {RUN_USER}"]
        lines += [
            f'WSGISocketPrefix "{root}/run/wsgi"',
            "WSGIRestrictEmbedded On",
            f"WSGIDaemonProcess {GROUP} {self.daemon_options(root)}",
            f"WSGIProcessGroup {GROUP}",
            "WSGIApplicationGroup %{GLOBAL}",
            f'WSGIScriptAlias / "{root}/app/{APP_NAME}"',
            *self.callable_lines(),
            f'<Directory "{root}/app">',
            "    Require all granted",
            "</Directory>",
            "",
        ]
        return "\n".join(lines)

    def daemon_options(self, root: str) -> str:
        """The WSGIDaemonProcess options of the target."""
        t = self.target
        opts = [f"processes={t.processes}", f"threads={t.threads}", "display-name=%{GROUP}"]
        if t.receive_buffer_size:
            opts.append(f"receive-buffer-size={t.receive_buffer_size}")
        if t.send_buffer_size:
            opts.append(f"send-buffer-size={t.send_buffer_size}")
        if not is_script(t.app):
            opts.append(f"python-path={t.cwd}")
        return " ".join(opts)

    def callable_lines(self) -> list[str]:
        name = self.target.app.partition("::")[2] if is_script(self.target.app) else ""
        return [f"WSGICallableObject {name}"] if name else []

    def app_source(self) -> str:
        """The script mod_wsgi runs: the application's own, or one importing its module."""
        app = self.target.app
        if is_script(app):
            return Path(self.target.cwd, app.partition("::")[0]).read_text()
        module, _, name = app.partition(":")
        return (f"import importlib\napplication = getattr(importlib.import_module({module!r}), "
                f"{name or 'application'!r})\n")

    def prepare(self, port: int, workdir: str) -> None:
        app_dir = os.path.join(workdir, "app")
        run_dir = os.path.join(workdir, "run")
        os.makedirs(app_dir, exist_ok=True)
        os.makedirs(run_dir, exist_ok=True)
        Path(app_dir, APP_NAME).write_text(self.app_source())
        Path(workdir, "httpd.conf").write_text(self.config_text(port, workdir))
        if running_as_root():
            os.chmod(workdir, 0o711)
            os.chmod(app_dir, 0o755)
            os.chmod(os.path.join(app_dir, APP_NAME), 0o644)
            os.chown(run_dir, pwd.getpwnam(RUN_USER).pw_uid, -1)

    def extra_log(self, workdir: str) -> str:
        try:
            return Path(workdir, "error.log").read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return ""
