"""Each misconfiguration gives its precise message: FILE:LINE: Directive: what; valid: ..."""

from __future__ import annotations

import sys

import pytest

from fastwsgi.apacheconf.daemons import VALID_OPTIONS
from fastwsgi.apacheconf.directives import WSGI_ALL
from tests.confs.support import error

pytestmark = pytest.mark.timeout(10)

CASES = [
    pytest.param(
        'Timeout nan\n',
        "{root}/site.conf:1: Timeout: invalid value 'nan'; valid: a number of seconds >= 0",
        id='timeout_nan'),
    pytest.param(
        'Listen 999.1.1.1:80\n',
        "{root}/site.conf:1: Listen: invalid IP address in '999.1.1.1:80'; valid: 80, "
        "127.0.0.1:8080, [::1]:8080",
        id='listen_bad_ip'),
    pytest.param(
        'Listen 80\n'
        'WSGISocketPrefix nodir/wsgi\n',
        '{root}/site.conf:2: WSGISocketPrefix: directory {root}/nodir does not exist; valid: '
        'a path prefix in an existing directory, such as /var/run/wsgi',
        id='socket_prefix_dir'),
    pytest.param(
        'Listen 80\n'
        'Listen 127.0.0.1:80\n',
        '{root}/site.conf:2: Listen: 127.0.0.1:80 overlaps Listen 80 at {root}/site.conf:1, '
        'which already covers every IPv4 address on port 80; valid: one of the two',
        id='listen_overlap'),
    pytest.param(
        '<VirtualHost *:80>\n'
        'ServerRoot /\n'
        '</VirtualHost>\n',
        '{root}/site.conf:2: ServerRoot: not allowed inside a section; valid: outside all '
        'sections',
        id='serverroot_in_section'),
    pytest.param(
        '<IfVersion >> 2.4>\n'
        '</IfVersion>\n',
        "{root}/site.conf:1: <IfVersion>: invalid operator '>>'; valid: = == > >= < <= ~",
        id='ifversion_operator'),
    pytest.param(
        'Listen 80\n'
        'WSGIDaemonProcess g\n'
        '<VirtualHost *:80>\n'
        'WSGIDaemonProcess g\n'
        '</VirtualHost>\n',
        "{root}/site.conf:4: WSGIDaemonProcess: process group 'g' is already defined at "
        '{root}/site.conf:2; valid: a name used once in the whole server (both definitions: '
        '{root}/site.conf:2 and {root}/site.conf:4)',
        id='dup_group'),
    pytest.param(
        'Listen 80\n'
        '<VirtualHost *:80>\n'
        'ServerName a.org\n'
        'WSGIDaemonProcess ga\n'
        '</VirtualHost>\n'
        '<VirtualHost *:80>\n'
        'ServerName b.org\n'
        'WSGIScriptAlias / app.wsgi process-group=ga\n'
        '</VirtualHost>\n',
        "{root}/site.conf:8: WSGIScriptAlias: the application at / uses process group 'ga' "
        "defined at {root}/site.conf:4 inside the virtual host 'a.org'; only applications of "
        "virtual hosts named 'a.org' may use it (this one is 'b.org'); valid: a group defined"
        ' in this virtual host or outside all virtual hosts',
        id='other_vhost'),
    pytest.param(
        'Listen 80\n'
        'WSGIDaemonProcess g1\n'
        'WSGIProcessGroup nope\n'
        'WSGIScriptAlias / app.wsgi\n',
        '{root}/site.conf:3: WSGIProcessGroup: the application at / (WSGIScriptAlias at '
        "{root}/site.conf:4) uses process group 'nope', which no WSGIDaemonProcess defines; "
        'valid: g1, %{{GLOBAL}}',
        id='undefined'),
    pytest.param(
        'Listen 80\n'
        'WSGIDaemonProcess g threads=0\n',
        "{root}/site.conf:2: WSGIDaemonProcess: invalid value '0' for threads: must be from 1"
        ' to 65533',
        id='threads0'),
    pytest.param(
        'Listen 80\n'
        'Listen *:80\n',
        '{root}/site.conf:2: Listen: *:80 is already listened on (Listen at '
        '{root}/site.conf:1); valid: each address and port once',
        id='dup_listen'),
    pytest.param(
        'Listen 443 https\n',
        "{root}/site.conf:1: Listen: protocol 'https' is not served by fastwsgi (no TLS); "
        'valid: http, or no protocol argument',
        id='https'),
    pytest.param(
        'Listen localhost:80\n',
        "{root}/site.conf:1: Listen: invalid address 'localhost:80'; valid: 80, "
        '127.0.0.1:8080, [::1]:8080',
        id='badlisten'),
    pytest.param(
        'Listen 80\n'
        '<VirtualHost *:80>\n'
        'Listen 81\n'
        '</VirtualHost>\n',
        '{root}/site.conf:3: Listen: not allowed in <VirtualHost>; valid in: the main server',
        id='ctx'),
    pytest.param(
        'Listen 80\n'
        '<Location />\n'
        'WSGIScriptAlias / app.wsgi\n'
        '</Location>\n',
        '{root}/site.conf:3: WSGIScriptAlias: not allowed in <Location>; valid in: the main '
        'server, <VirtualHost>',
        id='ctx2'),
    pytest.param(
        'Listen 80\n'
        'ServerAlias foo\n',
        '{root}/site.conf:2: ServerAlias: not allowed outside all sections; valid in: '
        '<VirtualHost>',
        id='ctx3'),
    pytest.param(
        'Listen 80\n'
        'ServerName a b\n',
        '{root}/site.conf:2: ServerName: wrong number of arguments (2); valid: ServerName '
        'HOSTNAME[:PORT]',
        id='nargs'),
    pytest.param(
        'Listen 80\n'
        'WSGIScriptAlias /x missing.wsgi\n',
        '{root}/site.conf:2: WSGIScriptAlias: WSGI script {root}/missing.wsgi does not exist '
        'or is not a file; valid: an existing file (relative paths start at ServerRoot)',
        id='noscript'),
    pytest.param(
        'Listen 80\n'
        'WSGIDaemonProcess a\n'
        'WSGIDaemonProcess b\n'
        'WSGIRestrictProcess a\n'
        'WSGIScriptAlias / app.wsgi process-group=b\n',
        "{root}/site.conf:5: WSGIScriptAlias: the application at / selects process group 'b',"
        ' which WSGIRestrictProcess at {root}/site.conf:4 does not allow; valid: a',
        id='restrict'),
    pytest.param(
        'Listen 80\n'
        'WSGIProcessGroup %{ENV:FW_NOPE}\n'
        'WSGIScriptAlias / app.wsgi\n',
        '{root}/site.conf:2: WSGIProcessGroup: %{{ENV:FW_NOPE}}: FW_NOPE is not set by SetEnv'
        ' in any context of the application at / (WSGIScriptAlias at {root}/site.conf:3), nor'
        " in fastwsgi's environment, so the process group cannot be chosen; valid: 'SetEnv "
        "FW_NOPE VALUE' in the virtual host or a <Location>/<Directory> of the application",
        id='env'),
    pytest.param(
        'Listen 80\n'
        'WSGIProcessGroup %{HOST}\n',
        '{root}/site.conf:2: WSGIProcessGroup: %{{HOST}} selects a group per request from the'
        ' Host header, which fastwsgi cannot check in advance; valid: a group name, '
        '%{{GLOBAL}}, %{{SERVER}}, %{{RESOURCE}}, %{{ENV:NAME}}',
        id='host'),
    pytest.param(
        'Listen 80\n'
        'WSGIDaemonProcess g\n'
        'WSGIImportScript app.wsgi process-group=g x=y\n',
        "{root}/site.conf:3: WSGIImportScript: invalid option 'x=y'; valid: "
        'process-group=NAME application-group=NAME (both required)',
        id='imp_noag'),
    pytest.param(
        'Listen 80\n'
        'WSGIDaemonProcess g\n'
        'WSGIImportScript app.wsgi process-group=g\n',
        '{root}/site.conf:3: WSGIImportScript: application-group= is required; valid: '
        'WSGIImportScript FILE process-group=NAME application-group=NAME',
        id='imp_missing'),
    pytest.param(
        'Listen 80\n'
        'WSGIImportScript app.wsgi process-group=g application-group=%{GLOBAL}\n',
        "{root}/site.conf:2: WSGIImportScript: process group 'g' is not defined; valid: a "
        'WSGIDaemonProcess above this line',
        id='imp_undef'),
    pytest.param(
        'Listen 80\n'
        'WSGIImportScript app.wsgi process-group=g application-group=%{GLOBAL}\n'
        'WSGIDaemonProcess g\n',
        "{root}/site.conf:2: WSGIImportScript: process group 'g' is defined at "
        '{root}/site.conf:3, below this line; valid: move WSGIImportScript after its '
        'WSGIDaemonProcess (mod_wsgi requires it)',
        id='imp_below'),
    pytest.param(
        'Listen 80\n'
        'User no-such-user-x\n',
        "{root}/site.conf:2: User: no such user 'no-such-user-x'; valid: an existing user "
        'name or #uid',
        id='user'),
    pytest.param(
        'Listen 80\n'
        'User root\n',
        '{root}/site.conf:2: User: the router processes may not run as root; valid: an '
        'unprivileged user such as www-data',
        id='root'),
    pytest.param(
        'Listen 80\n'
        'ErrorLog nodir/error.log\n',
        '{root}/site.conf:2: ErrorLog: directory {root}/nodir does not exist; valid: a file '
        'in an existing directory (relative paths start at ServerRoot {root})',
        id='logdir'),
    pytest.param(
        'Listen 80\n'
        'LogLevel loud\n',
        "{root}/site.conf:2: LogLevel: invalid level 'loud'; valid: emerg, alert, crit, "
        'error, warn, notice, info, debug, trace1, trace2, trace3, trace4, trace5, trace6, '
        'trace7, trace8',
        id='loglevel'),
    pytest.param(
        'Listen 80\n'
        'Timeout soon\n',
        "{root}/site.conf:2: Timeout: invalid value 'soon'; valid: a number of seconds >= 0",
        id='timeout'),
    pytest.param(
        'Listen 80\n'
        'WSGIDaemonProcess bad/name\n',
        "{root}/site.conf:2: WSGIDaemonProcess: invalid process group name 'bad/name': must "
        'be non-empty letters, digits and . _ - @ :',
        id='gname'),
    pytest.param(
        'Listen 80\n'
        'WSGIScriptAlias / app.wsgi processgroup=g\n',
        "{root}/site.conf:2: WSGIScriptAlias: invalid option 'processgroup=g'; valid: "
        'process-group=..., application-group=..., callable-object=..., '
        'pass-authorization=...',
        id='aliasopt'),
    pytest.param(
        'Listen 80\n'
        'WSGIScriptAliasMatch ^/(x app.wsgi\n',
        "{root}/site.conf:2: WSGIScriptAliasMatch: invalid regular expression '^/(x': missing"
        ' ), unterminated subpattern at position 2; valid: a Python regular expression',
        id='aliasre'),
    pytest.param(
        'Listen 80\n'
        'WSGIScriptAlias app app.wsgi\n',
        "{root}/site.conf:2: WSGIScriptAlias: invalid URL path 'app'; valid: a path starting "
        "with '/'",
        id='aliasurl'),
    pytest.param(
        'Listen 80\n'
        '<Location /a>\n'
        '<Location /b>\n'
        '</Location>\n'
        '</Location>\n',
        '{root}/site.conf:3: <Location>: cannot occur within <Location>; valid there: '
        '<Files>, <FilesMatch> (inside <Directory> only)',
        id='nestloc'),
    pytest.param(
        'Listen 80\n'
        '<VirtualHost *:80>\n'
        '<VirtualHost *:81>\n'
        '</VirtualHost>\n'
        '</VirtualHost>\n',
        '{root}/site.conf:3: <VirtualHost>: cannot occur within another section; valid: at '
        'the top level',
        id='nestvh'),
    pytest.param(
        'Listen 80\n'
        'WSGIDaemonProcess g\n'
        'WSGIScriptAlias / app.wsgi\n'
        '<LocationMatch ^/a>\n'
        'WSGIProcessGroup g\n'
        '</LocationMatch>\n',
        '{root}/site.conf:4: <LocationMatch>: WSGI settings in <LocationMatch> are not '
        'supported (routes are URL prefixes); valid: <Location /prefix>',
        id='locmatch'),
    pytest.param(
        'Listen 80\n'
        '<VirtualHost *:99999>\n'
        '</VirtualHost>\n',
        "{root}/site.conf:2: <VirtualHost>: invalid address '*:99999'; valid: *:80, "
        '127.0.0.1:8080, [::1]:80, _default_:80, *',
        id='vhaddr'),
    pytest.param(
        'Listen 80\n'
        'ServerName bad_name!\n',
        "{root}/site.conf:2: ServerName: invalid server name 'bad_name!'; valid: a host name "
        '(www.example.com) with an optional :PORT',
        id='sname'),
    pytest.param(
        'Listen 80\n'
        '<VirtualHost *:80>\n'
        'ServerName a.org\n'
        'WSGIDaemonProcess ga\n'
        '</VirtualHost>\n'
        '<VirtualHost *:80>\n'
        'ServerName b.org\n'
        'WSGIScriptAlias /app app.wsgi\n'
        '<Location /app/admin>\n'
        'WSGIProcessGroup ga\n'
        '</Location>\n'
        '</VirtualHost>\n',
        '{root}/site.conf:10: WSGIProcessGroup: the application at /app (WSGIScriptAlias at '
        "{root}/site.conf:8) uses process group 'ga' defined at {root}/site.conf:4 inside the"
        " virtual host 'a.org'; only applications of virtual hosts named 'a.org' may use it "
        "(this one is 'b.org'); valid: a group defined in this virtual host or outside all "
        'virtual hosts',
        id='loc_other'),
    pytest.param(
        'Listen 80\n'
        'WSGIScriptAlias / app.wsgi\n'
        '<VirtualHost *:80>\n'
        'ServerName a.org\n'
        'WSGIDaemonProcess ga\n'
        '</VirtualHost>\n'
        '<VirtualHost *:80>\n'
        'ServerName b.org\n'
        'WSGIProcessGroup ga\n'
        '</VirtualHost>\n',
        '{root}/site.conf:9: WSGIProcessGroup: the application at / (WSGIScriptAlias at '
        "{root}/site.conf:2) uses process group 'ga' defined at {root}/site.conf:5 inside the"
        " virtual host 'a.org'; only applications of virtual hosts named 'a.org' may use it "
        "(this one is 'b.org'); valid: a group defined in this virtual host or outside all "
        'virtual hosts',
        id='main_inherit'),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_message(tmp_path, monkeypatch, text, expected):
    monkeypatch.delenv("FW_NOPE", raising=False)
    assert error(tmp_path, text) == expected.format(root=tmp_path)


def test_unknown_wsgi_directive_lists_the_valid_ones(tmp_path):
    assert error(tmp_path, "Listen 80\nwsgiFooBar on\n") == (
        f"{tmp_path}/site.conf:2: wsgiFooBar: unknown mod_wsgi directive; valid: "
        f"{', '.join(WSGI_ALL)}")
    assert "WSGIDaemonProcess" in WSGI_ALL and "WSGIRestrictEmbedded" in WSGI_ALL


def test_unknown_daemon_option_lists_the_valid_ones(tmp_path):
    assert error(tmp_path, "Listen 80\nWSGIDaemonProcess g proceses=2\n") == (
        f"{tmp_path}/site.conf:2: WSGIDaemonProcess: unknown option 'proceses'; valid: "
        f"{', '.join(VALID_OPTIONS)}")
    # fastwsgi's own settings and mod_wsgi's other words are all listed.
    assert {"processes", "maximum-requests-jitter", "lang", "memory-limit"} <= set(VALID_OPTIONS)


def test_daemon_option_without_value(tmp_path):
    assert error(tmp_path, "Listen 80\nWSGIDaemonProcess g processes\n") == (
        f"{tmp_path}/site.conf:2: WSGIDaemonProcess: option 'processes' is not of the form "
        f"name=value; valid options: {', '.join(VALID_OPTIONS)}")


@pytest.mark.parametrize("word, message", [
    ("threads=many", "invalid value 'many' for threads: expected an integer from 1 to 65533"),
    ("umask=999", "invalid value '999' for umask: expected an octal number such as 0022"),
    ("home=relative", "invalid value 'relative' for home: must be an absolute path"),
    ("user=root", "invalid value 'root' for user: a daemon process group may not run as root; "
                  "name an unprivileged user"),
    ("user=no-such-user-x", "invalid value 'no-such-user-x' for user: no such user"),
    ("processes=2 processes=3", "option processes is given twice; valid: each option once"),
])
def test_daemon_option_values_agree_with_serve(tmp_path, word, message):
    assert error(tmp_path, f"Listen 80\n\nWSGIDaemonProcess g {word}\n") == (
        f"{tmp_path}/site.conf:3: WSGIDaemonProcess: {message}")


def test_python_home_must_be_this_python(tmp_path):
    assert error(tmp_path, "Listen 80\nWSGIPythonHome /opt/other-python\n") == (
        f"{tmp_path}/site.conf:2: WSGIPythonHome: /opt/other-python is not the prefix of the "
        f"Python running fastwsgi ({sys.prefix}); valid: {sys.prefix}, or start fastwsgi with "
        f"/opt/other-python/bin/python -m fastwsgi")


def test_error_in_an_included_file_names_that_file(tmp_path):
    message = error(tmp_path, "Listen 80\nInclude sites/*.conf\n",
                    **{"sites__a.conf": "# a\nWSGIDaemonProcess g threads=0\n"})
    assert message == (f"{tmp_path}/sites/a.conf:2: WSGIDaemonProcess: invalid value '0' for "
                       f"threads: must be from 1 to 65533")


def test_daemon_python_home_must_be_this_python(tmp_path):
    assert error(tmp_path, "Listen 80\nWSGIDaemonProcess g python-home=/opt/elsewhere\n") == (
        f"{tmp_path}/site.conf:2: WSGIDaemonProcess: /opt/elsewhere is not the prefix of the "
        f"Python running fastwsgi ({sys.prefix}); valid: {sys.prefix}, or start fastwsgi with "
        f"/opt/elsewhere/bin/python -m fastwsgi")
