"""Which applications a Site daemon may load: the pure decisions of fastwsgi/apps.py."""

from __future__ import annotations

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
