"""``fastwsgi run``: refusing to start on errors, and a Site run to the end.

The configuration parser (fastwsgi.apacheconf) is tested by its own suite;
here a Site built in Python runs through the same run_site() the command
calls after load_site() (tests/support/site_launcher.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import short_tmpdir
from tests.support.site_launcher import SiteServer

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[1]


def fastwsgi(*args: str, cwd: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "fastwsgi", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=30, start_new_session=True)


@pytest.fixture
def tmp() -> Iterator[str]:
    path = short_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_help_shows_the_user_facing_options_only(tmp):
    out = fastwsgi("run", "--help", cwd=tmp).stdout
    for option in ("-f FILE", "--router-processes", "--router-threads", "--log-level",
                   "--error-log"):
        assert option in out
    assert "json" not in out.lower() and "launcher" not in out


def test_a_file_with_an_error_is_refused_with_exit_2(tmp):
    conf = Path(tmp, "site.conf")
    conf.write_text("WSGIDaemonProcess\n")  # a group needs a name
    result = fastwsgi("run", "-f", str(conf), cwd=tmp)
    assert result.returncode == 2
    assert result.stderr.startswith("fastwsgi: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"fastwsgi: {conf}:1: ")
    assert os.listdir(tmp) == ["site.conf"]  # nothing started, no socket, no log


def test_a_missing_file_is_refused(tmp):
    result = fastwsgi("run", "-f", os.path.join(tmp, "absent.conf"), cwd=tmp)
    assert result.returncode == 2 and result.stderr.startswith("fastwsgi: ")


def test_bad_router_counts_are_refused(tmp):
    conf = Path(tmp, "site.conf")
    conf.write_text("")
    for option in ("--router-processes", "--router-threads"):
        result = fastwsgi("run", "-f", str(conf), option, "0", cwd=tmp)
        assert result.returncode == 2
        assert "must be >= 1" in result.stderr


def test_an_unopenable_error_log_refuses_to_start_anything(tmp):
    apps = ROOT / "tests" / "apps" / "site"
    spec = {"socket_prefix": os.path.join(tmp, "wsgi"),
            "groups": [{"name": "g", "error_log": os.path.join(tmp, "no", "such", "dir.log"),
                        "apps": [[str(apps / "probe.wsgi"), "", "application"]]}]}
    server = SiteServer(spec, tmp)
    result = server.run_to_end()
    assert result.returncode == 2
    assert result.stderr == f"fastwsgi: cannot open error log {spec['groups'][0]['error_log']}: " \
                            "No such file or directory\n"
    assert "Starting daemon" not in server.log()
    assert not [f for f in os.listdir(tmp) if f.endswith(".sock")]
    assert not Path(tmp, "no").exists()


def test_a_site_runs_until_sigterm_and_cleans_up(tmp):
    apps = ROOT / "tests" / "apps" / "site"
    spec = {"socket_prefix": os.path.join(tmp, "wsgi"), "log_level": "info",
            "groups": [{"name": name, "options": {"processes": 1, "threads": 2},
                        "apps": [[str(apps / "probe.wsgi"), "", "application"]]}
                       for name in ("one", "two")]}
    server = SiteServer(spec, tmp)
    try:
        server.start()  # waits for one "is ready" line per group
        sockets = [server.socket_path(g) for g in ("one", "two")]
        assert all(os.path.exists(s) for s in sockets)
        server.signal(signal.SIGTERM)
        assert server.proc is not None and server.proc.wait(timeout=30) == 0
        assert not any(os.path.exists(s) for s in sockets)
        assert f"fastwsgi (pid={server.pid}) stopped." in server.log()
    finally:
        server.stop()


def test_a_group_check_failure_names_the_groups_definition(tmp):
    spec = {"socket_prefix": os.path.join(tmp, "wsgi"),
            "groups": [{"name": "g", "options": {"home": os.path.join(tmp, "absent")}}]}
    result = SiteServer(spec, tmp).run_to_end()
    assert result.returncode == 2
    assert result.stderr == (f"fastwsgi: test:1: WSGIDaemonProcess: home: home directory "
                             f"{tmp}/absent does not exist\n")
    assert not [f for f in os.listdir(tmp) if f.endswith(".sock")]


def test_a_socket_prefix_in_a_missing_directory_is_refused(tmp):
    prefix = os.path.join(tmp, "absent", "wsgi")
    spec = {"socket_prefix": prefix, "groups": [{"name": "g"}]}
    result = SiteServer(spec, tmp).run_to_end()
    assert result.returncode == 2
    assert result.stderr == (f"fastwsgi: WSGISocketPrefix: directory {tmp}/absent of the "
                             f"socket prefix {prefix} does not exist\n")
