"""Whole configurations: the spec's example, a Debian layout, and how Apache and
mod_wsgi merge contexts into routes."""

from __future__ import annotations

import pytest

from fastwsgi.apacheconf import load_site
from fastwsgi.site import Route
from tests.confs.support import copy_fixture, load

pytestmark = pytest.mark.timeout(10)


def test_spec_example_loads(tmp_path):
    root = copy_fixture("spec", tmp_path)
    site = load_site(str(root / "site.conf"))
    conf = root / "site.conf"
    script = str(root / "app.wsgi")
    one, two = site.vhosts
    assert (one.server_name, one.addresses) == ("www.site1.com", [("*", 80)])
    assert (two.server_name, two.addresses) == ("www.site2.com", [("*", 80)])
    assert one.error_log == str(root / "logs/ww.site1.com-error_log")
    assert two.error_log == str(root / "logs/www.site2.com-error_log")
    assert [a.path for a in one.access_logs] == [str(root / "logs/www.site1.com-access_log")]
    assert one.routes == [Route("/", "", script, "www.site1.com", "www.site1.com|", f"{conf}:13")]
    assert two.routes == [Route("/", "", script, "www.site2.com", "www.site2.com|", f"{conf}:24")]
    g1, g2 = site.groups
    for g, vhost, user, group in ((g1, one, "nobody", "nogroup"), (g2, two, "daemon", "daemon")):
        assert g.config.name == vhost.server_name == g.server_name
        assert g.config.values["processes"] == 2 and g.config.threads == 25
        assert (g.config.user, g.config.group) == (user, group)
        # A group inside a virtual host logs to that virtual host's ErrorLog.
        assert g.error_log == vhost.error_log
        assert g.apps == [(script, f"{vhost.server_name}|", "application")]
    # No Listen in the example: the <VirtualHost> port, with one warning.
    assert site.listens == ["0.0.0.0:80"]
    assert len(site.warnings) == 1 and "no Listen directive" in site.warnings[0]
    assert site.main.routes == [] and site.files == [str(conf)]


def test_debian_layout_loads_with_warnings_only(tmp_path):
    root = copy_fixture("debian", tmp_path)
    site = load_site(str(root / "apache2.conf"))
    site_conf = root / "sites-enabled/example.conf"
    # ports.conf's 'Listen 443' sits in <IfModule ssl_module>: skipped.
    assert site.listens == ["0.0.0.0:8080"]
    assert (site.user, site.group, site.timeout) == ("daemon", "daemon", 300.0)
    assert site.error_log == str(root / "logs/error.log")
    (v,) = site.vhosts
    assert (v.server_name, v.aliases) == ("example.org", ["www.example.org", "*.example.net"])
    assert v.error_log == str(root / "logs/example-error.log")
    assert [(a.path, a.format.split()[0]) for a in v.access_logs] == [
        (str(root / "logs/example-access.log"), "%h")]
    assert v.routes == [Route("/", "", str(root / "app.wsgi"), "example", "",
                              f"{site_conf}:37")]
    (g,) = site.groups
    assert g.config.values["user"] == "daemon" and g.config.socket_timeout == 300.0
    assert g.error_log == v.error_log and g.server_name == "example.org"
    skipped = sorted({w.split(": ")[1] for w in site.warnings})
    assert skipped == sorted({
        "<IfModule ssl_module>", "<IfModule mod_gnutls.c>", "<IfModule mod_ssl.c>",
        "KeepAlive", "MaxKeepAliveRequests", "HostnameLookups", "Options", "AllowOverride",
        "Require", "AccessFileName", "ServerTokens", "ServerSignature", "TraceEnable",
        "ServerAdmin", "DocumentRoot", "RewriteEngine", "RewriteRule", "Alias", "Header",
        "WSGIPassAuthorization", "WSGIDaemonProcess"})
    assert site.files == [str(root / p) for p in (
        "apache2.conf", "ports.conf", "conf.d/security.conf", "sites-enabled/example.conf")]


def test_main_server_aliases_and_settings_are_inherited_by_virtual_hosts(tmp_path):
    site = load(tmp_path, """
        Listen 80
        ServerName main.example
        WSGIDaemonProcess shared
        WSGIProcessGroup shared
        WSGIScriptAlias /common app.wsgi
        <VirtualHost *:80>
        ServerName a.example
        WSGIScriptAlias /own app.wsgi
        </VirtualHost>
        <VirtualHost *:80>
        ServerName b.example
        WSGIProcessGroup %{GLOBAL}
        </VirtualHost>
    """)
    a, b = site.vhosts
    assert [(r.prefix, r.process_group, r.application_group) for r in a.routes] == [
        ("/common", "shared", "a.example|/common"), ("/own", "shared", "a.example|/own")]
    # The virtual host's WSGIProcessGroup beats the main server's, even for
    # the inherited alias; the application group names the virtual host.
    assert [(r.prefix, r.process_group, r.application_group) for r in b.routes] == [
        ("/common", "", "b.example|/common")]
    assert site.main.routes == [Route("/common", "/common", str(tmp_path / "app.wsgi"), "shared",
                                      "main.example|/common", f"{tmp_path / 'site.conf'}:5")]
    assert site.groups[0].apps == [(str(tmp_path / "app.wsgi"), "a.example|/own", "application"),
                                   (str(tmp_path / "app.wsgi"), "a.example|/common", "application"),
                                   (str(tmp_path / "app.wsgi"), "main.example|/common",
                                    "application")]


def test_location_inside_an_alias_becomes_a_route(tmp_path):
    site = load(tmp_path, """
        Listen 80
        ServerName s
        WSGIDaemonProcess front
        WSGIDaemonProcess admin
        WSGIDaemonProcess api
        WSGIProcessGroup front
        WSGIScriptAlias /app app.wsgi
        <Location /app/admin>
        WSGIProcessGroup admin
        </Location>
        <Location /app/admin/reports>
        WSGIApplicationGroup reports
        </Location>
        <Location /app/api/>
        WSGIProcessGroup api
        WSGIProcessGroup admin
        </Location>
        <Location /elsewhere>
        WSGIProcessGroup api
        </Location>
        <Location /app/same>
        WSGIProcessGroup front
        </Location>
    """)
    conf = tmp_path / "site.conf"
    script = str(tmp_path / "app.wsgi")
    assert site.main.routes == [
        Route("/app/admin/reports", "/app", script, "admin", "reports", f"{conf}:11"),
        Route("/app/admin", "/app", script, "admin", "s|/app", f"{conf}:8"),
        Route("/app/api", "/app", script, "admin", "s|/app", f"{conf}:14"),
        Route("/app", "/app", script, "front", "s|/app", f"{conf}:7"),
    ]


def test_location_covering_an_alias_changes_the_alias_route(tmp_path):
    site = load(tmp_path, """
        Listen 80
        WSGIDaemonProcess g
        WSGIDaemonProcess h
        WSGIScriptAlias /app app.wsgi
        <Location />
        WSGIProcessGroup g
        </Location>
        <Location /app>
        WSGIProcessGroup h
        </Location>
        <Location /application>
        WSGIProcessGroup g
        </Location>
    """)
    assert [(r.prefix, r.process_group) for r in site.main.routes] == [("/app", "h")]


def test_directory_and_files_match_the_script_path(tmp_path):
    site = load(tmp_path, """
        Listen 80
        WSGIDaemonProcess by-dir
        WSGIDaemonProcess by-subdir
        WSGIDaemonProcess by-file
        WSGIDaemonProcess by-location
        <Directory apps>
        WSGIProcessGroup by-dir
        </Directory>
        <Directory apps/special>
        WSGIProcessGroup by-subdir
        </Directory>
        <DirectoryMatch "/other$">
        WSGIProcessGroup by-dir
        </DirectoryMatch>
        <Directory apps>
        <Files b.wsgi>
        WSGIProcessGroup by-file
        </Files>
        </Directory>
        <FilesMatch "^c\\.wsgi$">
        WSGIProcessGroup by-file
        </FilesMatch>
        WSGIScriptAlias /a apps/a.wsgi
        WSGIScriptAlias /b apps/b.wsgi
        WSGIScriptAlias /s apps/special/s.wsgi
        WSGIScriptAlias /c apps/special/c.wsgi
        WSGIScriptAlias /o other/o.wsgi
        WSGIScriptAlias /n app.wsgi
        WSGIScriptAlias /loc apps/special/s.wsgi
        <Location /loc>
        WSGIProcessGroup by-location
        </Location>
        WSGIScriptAlias /opt apps/special/s.wsgi process-group=%{GLOBAL}
        <Location /opt>
        WSGIProcessGroup by-location
        </Location>
    """, scripts=("app.wsgi", "apps/a.wsgi", "apps/b.wsgi", "apps/special/s.wsgi",
                  "apps/special/c.wsgi", "other/o.wsgi"))
    groups = {r.prefix: r.process_group for r in site.main.routes}
    assert groups == {"/a": "by-dir", "/b": "by-file", "/s": "by-subdir", "/c": "by-file",
                      "/o": "by-dir", "/n": "", "/loc": "by-location", "/opt": ""}


def test_route_order_and_mod_wsgi_order_warnings(tmp_path):
    site = load(tmp_path, """
        Listen 80
        WSGIScriptAlias / app.wsgi
        WSGIScriptAliasMatch ^/z/(.*) app.wsgi
        WSGIScriptAlias /a app.wsgi
        WSGIScriptAliasMatch ^/y app.wsgi
        WSGIScriptAlias /a/b/ app.wsgi
        WSGIScriptAlias /a app.wsgi
    """)
    assert [(r.prefix, r.pattern) for r in site.main.routes] == [
        ("/a/b", None), ("/a", None), ("/", None), ("", "^/z/(.*)"), ("", "^/y")]
    conf = tmp_path / "site.conf"
    assert site.warnings == [
        f"{conf}:4: WSGIScriptAlias: mod_wsgi would never reach /a because / at {conf}:2 comes "
        f"first; fastwsgi routes the longest prefix first",
        f"{conf}:6: WSGIScriptAlias: mod_wsgi would never reach /a/b/ because / at {conf}:2 "
        f"comes first; fastwsgi routes the longest prefix first",
        f"{conf}:6: WSGIScriptAlias: mod_wsgi would never reach /a/b/ because /a at {conf}:4 "
        f"comes first; fastwsgi routes the longest prefix first",
        f"{conf}:7: WSGIScriptAlias: /a is already mapped at {conf}:4; the first one wins, as "
        f"in mod_wsgi"]


def test_group_rules_between_virtual_hosts(tmp_path):
    site = load(tmp_path, """
        Listen 80
        Listen 8080
        ErrorLog logs/main.log
        WSGIDaemonProcess global
        <VirtualHost *:80>
        ServerName a.example
        ErrorLog logs/a.log
        WSGIDaemonProcess a-group
        WSGIScriptAlias / app.wsgi process-group=a-group
        </VirtualHost>
        <VirtualHost *:8080>
        ServerName a.example
        WSGIDaemonProcess a-second
        WSGIScriptAlias /x app.wsgi process-group=a-group
        WSGIScriptAlias /y app.wsgi process-group=global
        </VirtualHost>
    """)
    glob, a_group, a_second = site.groups
    # Same ServerName (another port): allowed, as mod_wsgi compares names only.
    assert [r.process_group for r in site.vhosts[1].routes] == ["a-group", "global"]
    assert (glob.server_name, glob.error_log) == (None, str(tmp_path / "logs/main.log"))
    assert (a_group.server_name, a_group.error_log) == ("a.example", str(tmp_path / "logs/a.log"))
    # Inside a virtual host without its own ErrorLog: the server's.
    assert (a_second.server_name, a_second.error_log) == ("a.example",
                                                          str(tmp_path / "logs/main.log"))
    assert a_group.apps == [(str(tmp_path / "app.wsgi"), "a.example|", "application"),
                            (str(tmp_path / "app.wsgi"), "a.example:8080|/x", "application")]
    assert a_second.apps == []


def test_include_with_relative_paths_and_globs(tmp_path):
    site = load(tmp_path, """
        Listen 80
        Include sites/*.conf
        IncludeOptional conf.d/*.conf
    """, scripts=("apps/one.wsgi", "apps/two.wsgi"),
        **{"sites__10-one.conf": """
            <VirtualHost *:80>
            ServerName one
            WSGIScriptAlias / apps/one.wsgi
            </VirtualHost>
        """, "sites__20-two.conf": """
            <VirtualHost *:80>
            ServerName two
            WSGIScriptAlias / apps/two.wsgi
            </VirtualHost>
        """})
    assert [(v.server_name, v.routes[0].script, v.routes[0].source) for v in site.vhosts] == [
        ("one", str(tmp_path / "apps/one.wsgi"), f"{tmp_path / 'sites/10-one.conf'}:3"),
        ("two", str(tmp_path / "apps/two.wsgi"), f"{tmp_path / 'sites/20-two.conf'}:3")]


def test_main_server_lines_warn_once_for_all_virtual_hosts(tmp_path):
    site = load(tmp_path, """
        Listen 80
        CustomLog logs/a.log nickname
        WSGIScriptAlias / app.wsgi
        WSGIScriptAlias /x app.wsgi
        <VirtualHost *:80>
        ServerName a
        </VirtualHost>
        <VirtualHost *:80>
        ServerName b
        </VirtualHost>
    """)
    conf = tmp_path / "site.conf"
    assert [r.prefix for v in site.vhosts for r in v.routes] == ["/x", "/", "/x", "/"]
    assert site.warnings == [
        f"{conf}:4: WSGIScriptAlias: mod_wsgi would never reach /x because / at {conf}:3 comes "
        f"first; fastwsgi routes the longest prefix first",
        f"{conf}:2: CustomLog: 'nickname' is no LogFormat nickname; it is used as a literal "
        f"format, as Apache does"]


def test_same_location_in_main_server_and_virtual_host_gives_one_route(tmp_path):
    site = load(tmp_path, """
        Listen 80
        WSGIDaemonProcess g
        WSGIDaemonProcess h
        <Location /app/x>
        WSGIProcessGroup g
        </Location>
        <VirtualHost *:80>
        ServerName v
        WSGIScriptAlias /app app.wsgi
        <Location /app/x>
        WSGIProcessGroup h
        </Location>
        </VirtualHost>
    """)
    conf = tmp_path / "site.conf"
    assert [(r.prefix, r.process_group, r.source) for r in site.vhosts[0].routes] == [
        ("/app/x", "h", f"{conf}:10"), ("/app", "", f"{conf}:9")]
