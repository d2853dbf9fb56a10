"""Every directive fastwsgi reads, in each of its accepted forms."""

from __future__ import annotations

import sys

import pytest

from fastwsgi.apacheconf.directives import DEFAULT_LOG_FORMATS
from fastwsgi.site import Route
from tests.confs.support import load

pytestmark = pytest.mark.timeout(10)


def routes(site, vhost=None):
    v = site.main if vhost is None else site.vhosts[vhost]
    return v.routes


@pytest.mark.parametrize("line, spec", [
    ("Listen 8080", "0.0.0.0:8080"),
    ("Listen *:8081", "0.0.0.0:8081"),
    ("Listen 127.0.0.1:8000", "127.0.0.1:8000"),
    ("Listen [::1]:8080", "[::1]:8080"),
    ("listen 127.0.0.1:8000 http", "127.0.0.1:8000"),
])
def test_listen_forms(tmp_path, line, spec):
    from fastwsgi.sockets import parse_bind
    site = load(tmp_path, line + "\n")
    assert site.listens == [spec] and site.http.binds == [spec]
    parse_bind(spec)  # the router's own parser accepts what we produce


def test_listen_several_in_order(tmp_path):
    site = load(tmp_path, "Listen 80\nListen 127.0.0.1:81\nListen [::1]:80\nListen [::]:81\n")
    assert site.listens == ["0.0.0.0:80", "127.0.0.1:81", "[::1]:80", "[::]:81"]
    assert site.warnings == []


def test_virtual_host_on_a_port_nobody_listens_on(tmp_path):
    site = load(tmp_path, "Listen 8080\n<VirtualHost *:80 *:8080>\n</VirtualHost>\n")
    assert site.warnings == [f"{tmp_path / 'site.conf'}:2: <VirtualHost>: no Listen on port 80; "
                             f"requests cannot reach it there"]


def test_ifversion_as_apache_2_4(tmp_path):
    site = load(tmp_path, """
        <IfVersion >= 2.4>
        Listen 81
        </IfVersion>
        <IfVersion < 2.4>
        Listen 82
        </IfVersion>
        <IfVersion !~ ^2\\.2>
        Listen 83
        </IfVersion>
        <IfVersion = 2.2>
        Listen 84
        </IfVersion>
    """)
    assert site.listens == ["0.0.0.0:81", "0.0.0.0:83"]


def test_byte_order_mark_and_crlf(tmp_path):
    conf = tmp_path / "site.conf"
    conf.write_bytes(b"\xef\xbb\xbfListen 80\r\nServerName a.example\r\n")
    from fastwsgi.apacheconf import load_site
    site = load_site(str(conf))
    assert site.listens == ["0.0.0.0:80"] and site.main.server_name == "a.example"


def test_directive_names_are_case_insensitive(tmp_path):
    site = load(tmp_path, "LISTEN 80\nservername A.Example\nwsgiscriptalias /x app.wsgi\n")
    assert site.main.server_name == "a.example" and site.main.routes[0].prefix == "/x"


def test_no_listen_takes_the_virtual_host_ports(tmp_path):
    site = load(tmp_path, "<VirtualHost *:8080>\n</VirtualHost>\n<VirtualHost 127.0.0.1:81>\n"
                          "</VirtualHost>\n")
    assert site.listens == ["0.0.0.0:81", "0.0.0.0:8080"]
    assert site.warnings == [f"{tmp_path / 'site.conf'}: Listen: no Listen directive; listening "
                             f"on 0.0.0.0:81, 0.0.0.0:8080 (the ports of the <VirtualHost> "
                             f"lines, else Apache's usual 80)"]


def test_virtualhost_addresses_server_name_and_aliases(tmp_path):
    site = load(tmp_path, """
        Listen 80
        ServerName Main.Example.COM
        <VirtualHost *:80 127.0.0.1:8080 [::1]:80 _default_:* *>
        ServerName WWW.Example.org:8080
        ServerAlias example.org *.Example.org www?.example.net
        ServerAlias more.example.org
        </VirtualHost>
        <VirtualHost *:80>
        </VirtualHost>
    """)
    v = site.vhosts[0]
    assert v.addresses == [("*", 80), ("127.0.0.1", 8080), ("::1", 80), ("_default_", None),
                           ("*", None)]
    assert (v.server_name, v.server_port) == ("www.example.org", 8080)
    assert v.aliases == ["example.org", "*.example.org", "www?.example.net", "more.example.org"]
    assert v.source == f"{tmp_path / 'site.conf'}:3"
    # A virtual host without ServerName has the main server's (Apache).
    assert site.vhosts[1].server_name == "main.example.com"
    assert site.main.server_name == "main.example.com" and site.main.addresses == []


def test_server_name_with_scheme(tmp_path):
    site = load(tmp_path, "Listen 80\nServerName https://secure.example.org:443\n")
    assert (site.main.server_name, site.main.server_port) == ("secure.example.org", 443)


def test_user_and_group_of_the_routers(tmp_path):
    site = load(tmp_path, "Listen 80\nUser nobody\nGroup nogroup\n")
    assert (site.user, site.group) == ("nobody", "nogroup")
    site = load(tmp_path, "Listen 80\nUser #1\nGroup #1\n")
    assert (site.user, site.group) == ("#1", "#1")


def test_logs(tmp_path, monkeypatch):
    monkeypatch.setenv("ABS", str(tmp_path / "logs"))  # an absolute path
    site = load(tmp_path, r"""
        Listen 80
        ErrorLog logs/error.log
        LogFormat "%h %>s \"%r\"" short
        LogFormat "%h only"
        CustomLog logs/a.log short
        CustomLog logs/b.log "%h %U"
        CustomLog logs/c.log combined env=!dontlog
        TransferLog logs/d.log
        <VirtualHost *:80>
        ServerName v
        ErrorLog ${ABS}/v-error.log
        CustomLog logs/v.log vhost_combined
        </VirtualHost>
        <VirtualHost *:80>
        ServerName w
        </VirtualHost>
    """)
    assert site.error_log == str(tmp_path / "logs/error.log")
    main = site.main.access_logs
    assert [(a.path, a.format) for a in main] == [
        (str(tmp_path / "logs/a.log"), '%h %>s "%r"'),
        (str(tmp_path / "logs/b.log"), "%h %U"),
        (str(tmp_path / "logs/c.log"), DEFAULT_LOG_FORMATS["combined"]),
        (str(tmp_path / "logs/d.log"), "%h only")]
    assert main[0].source == f"{tmp_path / 'site.conf'}:5"
    v, w = site.vhosts
    assert v.error_log == str(tmp_path / "logs/v-error.log")
    assert [(a.path, a.format) for a in v.access_logs] == [
        (str(tmp_path / "logs/v.log"), DEFAULT_LOG_FORMATS["vhost_combined"])]
    # No ErrorLog/CustomLog of its own: the main server's.
    assert w.error_log is None
    assert [a.path for a in w.access_logs] == [a.path for a in main]
    assert site.warnings == [f"{tmp_path / 'site.conf'}:7: CustomLog: the condition "
                             f"env=!dontlog is not supported; every request is logged"]


def test_piped_and_syslog_logs_fall_back_with_a_warning(tmp_path):
    site = load(tmp_path, """
        Listen 80
        ErrorLog "|/usr/bin/rotatelogs /var/log/e.%Y 86400"
        CustomLog "|/usr/bin/logger" combined
        <VirtualHost *:80>
        ErrorLog syslog:local1
        </VirtualHost>
    """)
    assert site.error_log is None and site.main.access_logs == []
    assert site.vhosts[0].error_log is None
    conf = tmp_path / "site.conf"
    assert site.warnings == [
        f"{conf}:{n}: {d}: piped and syslog logs are not supported by fastwsgi; using the "
        f"server's log instead" for n, d in ((2, "ErrorLog"), (3, "CustomLog"), (5, "ErrorLog"))]


def test_unknown_nickname_is_a_literal_format(tmp_path):
    site = load(tmp_path, "Listen 80\nCustomLog logs/a.log nosuchnick\n")
    assert site.main.access_logs[0].format == "nosuchnick"
    assert "'nosuchnick' is no LogFormat nickname" in site.warnings[0]


@pytest.mark.parametrize("apache, ours", [
    ("emerg", "crit"), ("alert", "crit"), ("crit", "crit"), ("error", "error"),
    ("warn", "warning"), ("notice", "info"), ("info", "info"), ("debug", "debug"),
    ("trace5", "debug"), ("WARN", "warning")])
def test_log_level(tmp_path, apache, ours):
    assert load(tmp_path, f"Listen 80\nLogLevel {apache}\n").log_level == ours


def test_log_level_per_module_is_ignored_with_a_warning(tmp_path):
    site = load(tmp_path, "Listen 80\nLogLevel info ssl:warn\n")
    assert site.log_level == "info"
    assert site.warnings == [f"{tmp_path / 'site.conf'}:2: LogLevel: per-module level "
                             f"'ssl:warn' is not supported; ignored"]


def test_timeouts_and_limits(tmp_path):
    site = load(tmp_path, """
        Listen 80
        Timeout 30
        KeepAliveTimeout 2.5
        LimitRequestBody 1048576
        LimitRequestLine 4000
        LimitRequestFields 50
        LimitRequestFieldSize 2000
    """)
    assert site.timeout == 30.0 and site.http.keepalive_timeout == 2.5
    assert site.http.limit_request_body == 1048576
    assert (site.limit_request_line, site.limit_request_fields,
            site.limit_request_field_size) == (4000, 50, 2000)
    assert site.warnings == []


def test_vhost_level_keepalive_and_request_limits_are_ignored(tmp_path):
    site = load(tmp_path, """
        Listen 80
        KeepAliveTimeout 3
        LimitRequestLine 5000
        <VirtualHost *:80>
        KeepAliveTimeout 30
        LimitRequestLine 100
        LimitRequestFields 10
        </VirtualHost>
    """)
    assert site.http.keepalive_timeout == 3.0
    assert (site.limit_request_line, site.limit_request_fields) == (5000, 100)
    conf = tmp_path / "site.conf"
    assert site.warnings == [
        f"{conf}:5: KeepAliveTimeout: fastwsgi applies the main server's to every virtual "
        f"host; ignored",
        f"{conf}:6: LimitRequestLine: fastwsgi applies the main server's to every virtual "
        f"host; ignored",
        f"{conf}:7: LimitRequestFields: fastwsgi applies the main server's to every virtual "
        f"host; ignored"]


def test_apache_defaults(tmp_path):
    site = load(tmp_path, "Listen 80\n")
    assert site.timeout == 60.0 and site.http.keepalive_timeout == 5.0
    assert site.http.limit_request_body == 0
    assert (site.limit_request_line, site.limit_request_fields,
            site.limit_request_field_size) == (8190, 100, 8190)
    assert site.log_level == "warning" and site.user is None and site.error_log is None


def test_limit_request_body_in_vhost_and_location(tmp_path):
    site = load(tmp_path, """
        Listen 80
        LimitRequestBody 5000
        <VirtualHost *:80>
        LimitRequestBody 1000
        <Location /upload>
        LimitRequestBody 99999999
        </Location>
        </VirtualHost>
    """)
    assert site.http.limit_request_body == 1000
    conf = tmp_path / "site.conf"
    assert site.warnings == [
        f"{conf}:6: LimitRequestBody: fastwsgi applies the limit per server, not per "
        f"<Location>; ignored",
        f"{conf}:4: LimitRequestBody: fastwsgi has one limit for the whole server; using the "
        f"smallest, 1000"]


def test_wsgi_daemon_process_options_go_through_the_settings_table(tmp_path):
    site = load(tmp_path, """
        Listen 80
        WSGIDaemonProcess g processes=3 threads=4 maximum-requests=100 umask=0027 \\
            home=/tmp socket-timeout=12 inactivity-timeout=7 display-name=%{GROUP} \\
            python-path=/a:/b request-timeout=9 stack-size=524288 user=nobody group=nogroup
    """)
    (g,) = site.groups
    assert g.config.name == "g" and g.server_name is None
    assert g.config.values == {
        "processes": 3, "threads": 4, "maximum-requests": 100, "umask": 0o027, "home": "/tmp",
        "socket-timeout": 12.0, "inactivity-timeout": 7.0, "display-name": "%{GROUP}",
        "python-path": "/a:/b", "request-timeout": 9.0, "stack-size": 524288,
        "user": "nobody", "group": "nogroup"}
    assert g.config.process_count == 3 and g.config.multiprocess
    assert g.source == f"{tmp_path / 'site.conf'}:2" and g.inherited == {}


def test_daemon_defaults_come_from_user_group_and_timeout(tmp_path):
    site = load(tmp_path, """
        Listen 80
        User daemon
        Group daemon
        Timeout 42
        WSGIDaemonProcess a
        WSGIDaemonProcess b user=nobody socket-timeout=5
        <VirtualHost *:80>
        Timeout 7
        WSGIDaemonProcess c
        </VirtualHost>
    """)
    a, b, c = site.groups
    assert a.config.values == {"user": "daemon", "group": "daemon", "socket-timeout": 42.0}
    assert a.inherited == {"user": f"User ({tmp_path / 'site.conf'}:2)",
                           "group": f"Group ({tmp_path / 'site.conf'}:3)",
                           "socket-timeout": "Timeout"}
    # mod_wsgi: group= defaults to Apache's Group even when user= is given.
    assert b.config.values == {"user": "nobody", "group": "daemon", "socket-timeout": 5.0}
    assert c.config.values["socket-timeout"] == 7.0
    assert not a.config.multiprocess and a.config.process_count == 1


def test_daemon_options_mod_wsgi_has_but_fastwsgi_does_not(tmp_path):
    site = load(tmp_path, "Listen 80\nWSGIDaemonProcess g lang=C locale=C.UTF-8 "
                          "cpu-time-limit=10 memory-limit=1000000 threads=2\n")
    assert site.groups[0].config.values["threads"] == 2
    assert "lang" not in site.groups[0].config.values
    conf = tmp_path / "site.conf"
    assert site.warnings == [f"{conf}:2: WSGIDaemonProcess: option {o} of group 'g' is not "
                             f"implemented by fastwsgi; ignored"
                             for o in ("lang", "locale", "cpu-time-limit", "memory-limit")]


def test_script_alias_forms(tmp_path):
    site = load(tmp_path, """
        Listen 80
        ServerName example.org
        WSGIDaemonProcess g
        WSGIScriptAlias /app app.wsgi
        WSGIScriptAlias /other/ app.wsgi process-group=g application-group=%{GLOBAL} callable-object=app
        WSGIScriptAlias / app.wsgi
        WSGIScriptAliasMatch ^/by-name/([^/]+) scripts/$1.wsgi process-group=g
    """, scripts=("app.wsgi",))
    conf = tmp_path / "site.conf"
    script = str(tmp_path / "app.wsgi")
    assert routes(site) == [
        Route("/other", "/other", script, "g", "", f"{conf}:5", None, "app"),
        Route("/app", "/app", script, "", "example.org|/app", f"{conf}:4"),
        Route("/", "", script, "", "example.org|", f"{conf}:6"),
        Route("", None, str(tmp_path / "scripts/$1.wsgi"), "g", "example.org|%{SCRIPT_NAME}",
              f"{conf}:7", "^/by-name/([^/]+)"),
    ]
    g = site.groups[0]
    assert g.apps == [(script, "", "app"),
                      (str(tmp_path / "scripts/$1.wsgi"), "example.org|%{SCRIPT_NAME}",
                       "application")]
    # mod_wsgi preloads an alias' script when both groups are named on the line.
    assert g.imports == [(script, "")]


def test_script_alias_pass_authorization_is_accepted_with_a_warning(tmp_path):
    site = load(tmp_path, "Listen 80\nWSGIScriptAlias / app.wsgi pass-authorization=On\n")
    assert len(routes(site)) == 1
    assert site.warnings == [f"{tmp_path / 'site.conf'}:2: WSGIScriptAlias: pass-authorization "
                             f"is not implemented; the Authorization header is never passed"]


def test_process_group_forms(tmp_path):
    site = load(tmp_path, """
        Listen 8080
        ServerName example.org
        WSGIDaemonProcess example.org:8080
        WSGIDaemonProcess named
        WSGIProcessGroup %{SERVER}
        WSGIScriptAlias /a app.wsgi
        WSGIScriptAlias /b app.wsgi process-group=named
        WSGIScriptAlias /c app.wsgi process-group=%{GLOBAL}
    """)
    assert {r.prefix: r.process_group for r in routes(site)} == {
        "/a": "example.org:8080", "/b": "named", "/c": ""}
    # The port is not 80/443: it is part of the names, as mod_wsgi does.
    assert {r.prefix: r.application_group for r in routes(site)} == {
        "/a": "example.org:8080|/a", "/b": "example.org:8080|/b", "/c": "example.org:8080|/c"}


def test_application_group_forms(tmp_path):
    site = load(tmp_path, """
        Listen 80
        ServerName example.org
        WSGIScriptAlias /default app.wsgi
        WSGIScriptAlias /global app.wsgi application-group=%{GLOBAL}
        WSGIScriptAlias /server app.wsgi application-group=%{SERVER}
        WSGIScriptAlias /resource app.wsgi application-group=%{RESOURCE}
        WSGIScriptAlias /named app.wsgi application-group=mine
    """)
    assert {r.prefix: r.application_group for r in routes(site)} == {
        "/default": "example.org|/default", "/global": "", "/server": "example.org",
        "/resource": "example.org|/resource", "/named": "mine"}


def test_env_expansion_from_setenv_and_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FW_TEST_APPGROUP", "from-env")
    site = load(tmp_path, """
        Listen 80
        ServerName s
        WSGIDaemonProcess default
        WSGIDaemonProcess special
        SetEnv PROCESS_GROUP default
        WSGIProcessGroup %{ENV:PROCESS_GROUP}
        WSGIApplicationGroup %{ENV:FW_TEST_APPGROUP}
        WSGIScriptAlias /a app.wsgi
        WSGIScriptAlias /b b.wsgi
        <Location /a/special>
        SetEnv PROCESS_GROUP special
        </Location>
        <Files b.wsgi>
        SetEnv PROCESS_GROUP %{GLOBAL}
        </Files>
    """, scripts=("app.wsgi", "b.wsgi"))
    assert [(r.prefix, r.mount, r.process_group, r.application_group) for r in routes(site)] == [
        ("/a/special", "/a", "special", "from-env"),
        ("/a", "/a", "default", "from-env"),
        ("/b", "/b", "", "from-env")]


def test_callable_object(tmp_path):
    site = load(tmp_path, """
        Listen 80
        WSGICallableObject app
        WSGIScriptAlias /a app.wsgi
        WSGIScriptAlias /b app.wsgi callable-object=other
    """)
    assert {r.prefix: r.callable_object for r in routes(site)} == {"/a": "app", "/b": "other"}


def test_socket_prefix_python_path_and_home(tmp_path):
    site = load(tmp_path, f"""
        Listen 80
        WSGISocketPrefix run/wsgi
        WSGIPythonPath /srv/lib:relative/lib
        WSGIPythonHome {sys.prefix}
    """, **{"run__.keep": ""})
    assert site.socket_prefix == str(tmp_path / "run/wsgi")
    assert site.python_path == ["/srv/lib", str(tmp_path / "relative/lib")]
    assert site.python_home == sys.prefix


def test_import_script(tmp_path):
    site = load(tmp_path, """
        Listen 80
        ServerName s
        WSGIDaemonProcess g
        WSGIImportScript app.wsgi process-group=g application-group=%{GLOBAL}
        WSGIImportScript app.wsgi process-group=%{GLOBAL} application-group=%{SERVER}
        WSGIImportScript app.wsgi application-group=named process-group=g
    """)
    script = str(tmp_path / "app.wsgi")
    assert site.groups[0].imports == [(script, ""), (script, "named")]
    assert site.embedded_imports == [(script, "s")]


def test_restrict_process_allows_listed_groups(tmp_path):
    site = load(tmp_path, """
        Listen 80
        WSGIDaemonProcess a
        WSGIDaemonProcess b
        WSGIRestrictProcess a %{GLOBAL}
        WSGIProcessGroup a
        WSGIScriptAlias /a app.wsgi
        WSGIScriptAlias /e app.wsgi process-group=%{GLOBAL}
        <Location /b>
        WSGIRestrictProcess b
        </Location>
        WSGIScriptAlias /b app.wsgi process-group=b
    """)
    assert {r.prefix: r.process_group for r in routes(site)} == {"/a": "a", "/e": "", "/b": "b"}
    conf = tmp_path / "site.conf"
    assert site.restrict_process == [(f"{conf}:4", ["a", ""]), (f"{conf}:9", ["b"])]


def test_unrelated_directives_one_warning_each(tmp_path):
    site = load(tmp_path, """
        Listen 80
        DocumentRoot /var/www
        Alias /static /var/www/static
        <Proxy *>
        Require all granted
        </Proxy>
        WSGIRestrictEmbedded On
    """)
    conf = tmp_path / "site.conf"
    assert site.warnings == [
        f"{conf}:2: DocumentRoot: not used by fastwsgi; skipped",
        f"{conf}:3: Alias: not used by fastwsgi; skipped",
        f"{conf}:4: <Proxy>: section not used by fastwsgi; skipped with everything in it",
        f"{conf}:7: WSGIRestrictEmbedded: not implemented by fastwsgi; ignored"]


def test_warnings_are_logged(tmp_path, caplog):
    import logging
    logger = logging.getLogger("fastwsgi")
    old = logger.propagate
    logger.propagate = True
    try:
        with caplog.at_level(logging.WARNING, logger="fastwsgi"):
            site = load(tmp_path, "Listen 80\nServerAdmin root@localhost\n")
    finally:
        logger.propagate = old
    assert [r.getMessage() for r in caplog.records] == site.warnings
    assert site.warnings == [f"{tmp_path / 'site.conf'}:2: ServerAdmin: not used by fastwsgi; "
                             f"skipped"]


def test_daemon_python_home_must_be_this_python_too(tmp_path):
    site = load(tmp_path, f"Listen 80\nWSGIDaemonProcess g python-home={sys.prefix}\n")
    assert "python-home" not in site.groups[0].config.values and site.warnings == []


def test_alias_naming_both_groups_is_preloaded_embedded_too(tmp_path):
    site = load(tmp_path, """
        Listen 80
        WSGIScriptAlias /a app.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}
        WSGIScriptAlias /b app.wsgi application-group=%{GLOBAL}
    """)
    assert site.embedded_imports == [(str(tmp_path / "app.wsgi"), "")]


def test_callable_from_unset_env_falls_back_like_mod_wsgi(tmp_path, monkeypatch):
    monkeypatch.delenv("FW_NOPE", raising=False)
    site = load(tmp_path, "Listen 80\nWSGICallableObject %{ENV:FW_NOPE}\n"
                          "WSGIScriptAlias / app.wsgi\n")
    assert site.main.routes[0].callable_object == "application"


def test_virtual_host_named_by_host_name_matches_any_address(tmp_path):
    site = load(tmp_path, "Listen 80\n<VirtualHost www.example.com:80>\n</VirtualHost>\n")
    assert site.vhosts[0].addresses == [("*", 80)]
    assert site.warnings == [f"{tmp_path / 'site.conf'}:2: <VirtualHost>: www.example.com is not "
                             f"an IP address; fastwsgi matches this virtual host on any address (*)"]


def test_quoted_option_values(tmp_path):
    site = load(tmp_path, """
        Listen 80
        WSGIDaemonProcess g display-name='(wsgi) my site' home="/tmp"
        WSGIScriptAlias /x "my app.wsgi" process-group=g application-group="a b"
    """, scripts=("my app.wsgi",))
    assert site.groups[0].config.values["display-name"] == "(wsgi) my site"
    assert site.groups[0].config.values["home"] == "/tmp"
    (r,) = site.main.routes
    assert (r.script, r.application_group) == (str(tmp_path / "my app.wsgi"), "a b")


def test_server_root_makes_later_relative_paths_absolute(tmp_path):
    (tmp_path / "srv/logs").mkdir(parents=True)
    site = load(tmp_path, """
        ServerRoot srv
        Listen 80
        ErrorLog logs/error.log
        WSGIScriptAlias / app.wsgi
    """, scripts=("srv/app.wsgi",))
    assert site.error_log == str(tmp_path / "srv/logs/error.log")
    assert site.main.routes[0].script == str(tmp_path / "srv/app.wsgi")


def test_script_alias_of_a_directory(tmp_path):
    site = load(tmp_path, """
        Listen 80
        WSGIScriptAlias /wsgi/ scripts/
        WSGIScriptAlias /other scripts
    """, scripts=("scripts/a.wsgi",))
    assert [(r.prefix, r.script) for r in site.main.routes] == [
        ("/other", str(tmp_path / "scripts") + "/"), ("/wsgi", str(tmp_path / "scripts") + "/")]
