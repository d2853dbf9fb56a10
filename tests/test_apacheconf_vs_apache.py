"""The reader agrees with real Apache + mod_wsgi (Debian's apache2 -t) on which
configurations are valid, for the rules both check when reading.

Not compared, on purpose: rules mod_wsgi applies per request (a group of
another virtual host, an undefined group, a missing script: fastwsgi refuses
them at check time) and limits fastwsgi sets itself (threads from 1, a
wildcard and a specific Listen on one port).
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from fastwsgi.apacheconf import load_site
from fastwsgi.errors import ConfigError
from tests.confs.support import APP, HERE

APACHE = "/usr/sbin/apache2"
MODULES_DIR = Path("/usr/lib/apache2/modules")
MODULES = [("mpm_event_module", "mod_mpm_event.so"), ("authz_core_module", "mod_authz_core.so"),
           ("alias_module", "mod_alias.so"), ("rewrite_module", "mod_rewrite.so"),
           ("headers_module", "mod_headers.so"), ("wsgi_module", "mod_wsgi.so")]

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not (os.access(APACHE, os.X_OK) and (MODULES_DIR / "mod_wsgi.so").exists()),
                       reason="needs Debian's apache2 and libapache2-mod-wsgi-py3"),
]


def both(tmp_path: Path, body: str) -> tuple[str, str | None]:
    """(apache2 -t's last line, fastwsgi's error or None) for the same file."""
    (tmp_path / "run").mkdir(exist_ok=True)
    (tmp_path / "logs").mkdir(exist_ok=True)
    (tmp_path / "app.wsgi").write_text(APP)
    prelude = [f"LoadModule {name} {MODULES_DIR / so}" for name, so in MODULES] + [
        f"ServerRoot {tmp_path}", f"PidFile {tmp_path}/run/pid",
        f"DefaultRuntimeDir {tmp_path}/run", f"Mutex file:{tmp_path}/run default",
        f"ErrorLog {tmp_path}/logs/error.log", "ServerName localhost"]
    conf = tmp_path / "site.conf"
    conf.write_text("\n".join(prelude) + "\n" + textwrap.dedent(body).lstrip("\n"))
    result = subprocess.run([APACHE, "-t", "-f", str(conf)], capture_output=True, text=True,
                            timeout=30, start_new_session=True)
    apache = (result.stdout + result.stderr).strip().splitlines()[-1]
    try:
        load_site(str(conf))
        ours = None
    except ConfigError as exc:
        ours = str(exc)
    return apache, ours


ACCEPTED = {
    "spec_example": (HERE / "spec/site.conf").read_text(),
    "debian_site": (HERE / "debian/sites-enabled/example.conf").read_text()
    .replace("${APACHE_LOG_DIR}", "logs").replace("<VirtualHost *:8080>", "<VirtualHost *:80>"),
    "everything": """
        Listen 127.0.0.1:18080
        WSGISocketPrefix run/wsgi
        WSGIDaemonProcess g processes=2 threads=3 display-name='(wsgi) g' lang=C.UTF-8
        WSGIImportScript app.wsgi process-group=g application-group=%{GLOBAL}
        WSGIRestrictProcess g %{GLOBAL}
        <VirtualHost 127.0.0.1:18080>
        ServerName a.example
        ServerAlias *.a.example
        WSGIProcessGroup g
        WSGIApplicationGroup %{GLOBAL}
        WSGIScriptAlias /app app.wsgi process-group=g application-group=x callable-object=application
        WSGIScriptAliasMatch ^/m/([a-z]+) app.wsgi
        <Location /app/admin>
        WSGIProcessGroup %{GLOBAL}
        </Location>
        </VirtualHost>
    """,
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_both_accept(tmp_path, name):
    apache, ours = both(tmp_path, ACCEPTED[name])
    assert apache == "Syntax OK"
    assert ours is None


REFUSED = [
    ("WSGIDaemonProcess g\n<VirtualHost *:80>\nWSGIDaemonProcess g\n</VirtualHost>\n",
     "Name duplicates previous WSGI daemon definition.", "is already defined at"),
    ("WSGIDaemonProcess g proceses=2\n",
     "Invalid option to WSGI daemon process definition.", "unknown option 'proceses'"),
    ("WSGIDaemonProcess g user=root\n",
     "WSGI process blocked from running as root.", "may not run as root"),
    ("WSGIImportScript app.wsgi process-group=g application-group=%{GLOBAL}\n"
     "WSGIDaemonProcess g\n",
     "WSGI process group not yet configured.", "below this line"),
    ("WSGIImportScript app.wsgi process-group=%{GLOBAL}\n",
     "Name of WSGI application group required.", "application-group= is required"),
    ("WSGIScriptAlias / app.wsgi processgroup=g\n",
     "Invalid option to WSGI script alias definition.", "invalid option 'processgroup=g'"),
    ("<Location />\nWSGIScriptAlias / app.wsgi\n</Location>\n",
     "WSGIScriptAlias not allowed in <Location> context", "not allowed in <Location>"),
    ("ServerAlias x\n", "ServerAlias only used in <VirtualHost>", "not allowed outside all"),
    ("WSGIFooBar on\n", "Invalid command 'WSGIFooBar'", "unknown mod_wsgi directive"),
    ("<Location />\n</VirtualHost>\n", "Expected </Location> but saw </VirtualHost>",
     "does not close <Location>"),
    ("<Location />\n", "<Location> was not closed.", "section is not closed"),
    ("Listen 127.0.0.1:18080\n", "Cannot define multiple Listeners on the same IP:port",
     "is already listened on"),
]


@pytest.mark.parametrize("body, apache_says, we_say", REFUSED,
                         ids=[r[1].split(".")[0][:40] for r in REFUSED])
def test_both_refuse(tmp_path, body, apache_says, we_say):
    apache, ours = both(tmp_path, "Listen 127.0.0.1:18080\n" + body)
    assert apache_says in apache
    assert ours is not None and we_say in ours
