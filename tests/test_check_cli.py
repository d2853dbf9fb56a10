"""`fastwsgi check -f FILE` as a user runs it: a subprocess, its output and exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.confs.support import copy_fixture, write

pytestmark = pytest.mark.timeout(30)
ROOT = Path(__file__).resolve().parents[1]


def check(conf: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "fastwsgi", "check", "-f", str(conf)],
                          capture_output=True, text=True, env=env, timeout=20,
                          start_new_session=True)


def test_check_prints_the_resolved_site(tmp_path):
    root = copy_fixture("spec", tmp_path)
    result = check(root / "site.conf")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"Configuration: {root / 'site.conf'}\n")
    assert "\nListen:\n  0.0.0.0:80\n" in out
    lines = out.splitlines()
    # Virtual hosts, mounts and groups, one row each.
    vhost_rows = [ln for ln in lines if ln.startswith("  *:80")]
    assert [row.split()[1] for row in vhost_rows] == ["www.site1.com", "www.site2.com"]
    mount_rows = [ln.split() for ln in lines
                  if ln.startswith("  www.site") and ln.split()[1] == "/"]
    assert [(r[0], r[1], r[3], r[4]) for r in mount_rows] == [
        ("www.site1.com", "/", str(root / "app.wsgi"), "www.site1.com"),
        ("www.site2.com", "/", str(root / "app.wsgi"), "www.site2.com")]
    assert f"  www.site1.com  (defined at {root / 'site.conf'}:10)" in lines
    assert "    runs as:    nobody, group nogroup" in out
    assert "    runs as:    daemon, group daemon" in out
    # Every option of the settings table, with its value and origin.
    from fastwsgi.config import SETTINGS
    for s in SETTINGS:
        assert any(ln.split()[:1] == [s.name] for ln in lines), s.name
    assert any(ln.split() == ["threads", "25", "set"] for ln in lines)
    assert any(ln.split() == ["maximum-requests", "0", "default"] for ln in lines)
    assert any(ln.split()[:3] == ["socket-timeout", "60.0", "Timeout"] for ln in lines)
    assert "Warnings (1):" in out
    # The warning is also logged on standard error.
    assert "[warning]" in result.stderr and "no Listen directive" in result.stderr


def test_check_embedded_and_warnings(tmp_path):
    conf = write(tmp_path, """
        Listen 127.0.0.1:8000
        DocumentRoot /var/www
        WSGIScriptAlias /app app.wsgi
    """)
    result = check(conf)
    assert result.returncode == 0, result.stderr
    assert "(none: every application runs embedded in the router processes)" in result.stdout
    assert any(ln.split()[1:2] == ["/app"] and "embedded" in ln.split()
               for ln in result.stdout.splitlines())
    assert f"  {conf}:2: DocumentRoot: not used by fastwsgi; skipped" in result.stdout


def test_check_refuses_a_broken_file_with_exit_2(tmp_path):
    conf = write(tmp_path, """
        Listen 80
        <VirtualHost *:80>
        WSGIDaemonProcess g threads=zero
        </VirtualHost>
    """)
    result = check(conf)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (f"fastwsgi: {conf}:3: WSGIDaemonProcess: invalid value 'zero' for "
                             f"threads: expected an integer from 1 to 65533\n")


def test_check_missing_file(tmp_path):
    result = check(tmp_path / "nope.conf")
    assert result.returncode == 2
    assert result.stderr == (f"fastwsgi: {tmp_path / 'nope.conf'}: cannot read configuration "
                             f"file: No such file or directory\n")


def test_check_needs_a_file():
    result = subprocess.run([sys.executable, "-m", "fastwsgi", "check"], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=20)
    assert result.returncode == 2
    assert "the following arguments are required: -f" in result.stderr


@pytest.mark.skipif(not Path("/etc/apache2/apache2.conf").exists(),
                    reason="needs Debian's apache2 (make test-deps installs it)")
def test_check_reads_debians_own_apache_configuration_plus_a_wsgi_site(tmp_path):
    import shutil
    root = tmp_path / "apache2"
    shutil.copytree("/etc/apache2", root, symlinks=False)
    (tmp_path / "log").mkdir()
    (tmp_path / "app.wsgi").write_text((Path(__file__).parent / "confs/app.wsgi").read_text())
    (root / "sites-enabled/wsgi-site.conf").write_text(f"""\
<VirtualHost *:80>
    ServerName wsgi.example
    DocumentRoot /var/www/html
    WSGIDaemonProcess wsgi-site processes=2 threads=5 display-name=%{{GROUP}}
    WSGIProcessGroup wsgi-site
    WSGIApplicationGroup %{{GLOBAL}}
    WSGIScriptAlias /app {tmp_path / 'app.wsgi'}
    <Directory {tmp_path}>
        Require all granted
    </Directory>
    ErrorLog ${{APACHE_LOG_DIR}}/wsgi-error.log
    CustomLog ${{APACHE_LOG_DIR}}/wsgi-access.log combined
</VirtualHost>
""")
    # What Debian's envvars file sets, with the logs in the temporary directory.
    env_out = subprocess.run(["sh", "-c", f". {root}/envvars && env"], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    env = dict(line.split("=", 1) for line in env_out.splitlines() if "=" in line)
    env.update(APACHE_LOG_DIR=str(tmp_path / "log"), PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "fastwsgi", "check", "-f",
                             str(root / "apache2.conf")], capture_output=True, text=True,
                            env=env, timeout=20, start_new_session=True)
    assert result.returncode == 0, result.stderr
    rows = [ln.split() for ln in result.stdout.splitlines()]
    assert ["wsgi.example", "/app", "/app", str(tmp_path / "app.wsgi"), "wsgi-site", "''",
            "application", f"{root / 'sites-enabled/wsgi-site.conf'}:7"] in rows
    assert "  wsgi-site  (defined at " + f"{root / 'sites-enabled/wsgi-site.conf'}:4)" \
        in result.stdout
    assert "LoadModule: not used by fastwsgi; skipped" in result.stdout
