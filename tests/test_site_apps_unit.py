"""Which applications a Site daemon may load: the pure decisions of fastwsgi/apps.py."""

from __future__ import annotations

import os

import pytest

from fastwsgi.apps import Applications, module_name, normal_path

pytestmark = pytest.mark.timeout(10)

APPS = Applications("g", [("/srv/a.wsgi", "", "application"),
                          ("/srv/a.wsgi", "x|/a", "application"),
                          ("/srv/match/$1.wsgi", "m", "application"),
                          ("/srv/match2/\\1/app.py", "m", "app"),
                          ("/srv/dir/", "d", "application")],
                    [("/srv/boot.wsgi", "boot")])


@pytest.mark.parametrize("key", [
    ("/srv/a.wsgi", "", "application"),
    ("/srv/a.wsgi", "x|/a", "application"),
    ("/srv/boot.wsgi", "boot", "application"),  # a WSGIImportScript
    ("/srv/match/one.wsgi", "anything", "application"),
    ("/srv/match/sub/two.wsgi", "m", "application"),
    ("/srv/match2/v1/app.py", "m", "app"),
    ("/srv/dir/thing.wsgi", "d", "application"),
])
def test_configured_applications_are_allowed(key):
    assert APPS.allowed(key)


@pytest.mark.parametrize("key", [
    ("/srv/a.wsgi", "other", "application"),       # an application group not configured
    ("/srv/a.wsgi", "", "other"),                  # another callable
    ("/srv/b.wsgi", "", "application"),            # another file
    ("/srv/boot.wsgi", "", "application"),         # imported into another group
    ("/srv/match/../a.wsgi", "m", "application"),  # a back-reference climbing out
    ("/srv/match//x.wsgi", "m", "application"),
    ("/srv/match/one.wsgi", "m", "app"),
    ("/srv/dir/sub/x.wsgi", "d", "application"),   # a directory alias: one level only
    ("/srv/dir/..", "d", "application"),
    ("", "", "application"),
])
def test_anything_else_is_refused(key):
    assert not APPS.allowed(key)


def test_each_application_group_gets_its_own_module_name():
    assert module_name("/srv/a.wsgi", "") != module_name("/srv/a.wsgi", "x")
    assert module_name("/srv/a.wsgi", "x") == module_name("/srv/a.wsgi", "x")


def test_normal_path():
    assert normal_path("/srv/a.wsgi")
    assert not normal_path("srv/a.wsgi")
    assert not normal_path("/srv/./a.wsgi")
    assert not normal_path("/srv/a.wsgi/")


def call(apps: Applications, environ: dict) -> tuple[str, bytes]:
    status = []
    body = b"".join(apps(environ, lambda s, h, exc_info=None: status.append(s)))
    return status[0], body


def test_in_process_choice_load_and_retry(tmp_path):
    script = tmp_path / "app.wsgi"
    script.write_text("import os\n"
                      "if os.environ.get('FW_BREAK'): raise ValueError('broken')\n"
                      "def application(environ, start_response):\n"
                      "    start_response('200 OK', [])\n"
                      "    return [environ['mod_wsgi.application_group'].encode()]\n")
    apps = Applications("g", [(str(script), "", "application")], [])
    # No application group in the frame: '' (and the environ says so).
    assert call(apps, {"SCRIPT_FILENAME": str(script)}) == ("200 OK", b"")
    assert call(apps, {"SCRIPT_FILENAME": str(script),
                       "mod_wsgi.application_group": "x"})[0] == "404 Not Found"
    broken = Applications("g", [(str(script), "", "application")], [])
    os.environ["FW_BREAK"] = "1"
    try:
        assert call(broken, {"SCRIPT_FILENAME": str(script)})[0] == "500 Internal Server Error"
    finally:
        del os.environ["FW_BREAK"]
    assert call(broken, {"SCRIPT_FILENAME": str(script)}) == ("200 OK", b"")
