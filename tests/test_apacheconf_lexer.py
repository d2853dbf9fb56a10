"""The Apache configuration lexer fed tricky input: comments, continuations,
quotes, sections, variables, Include, <IfModule>/<IfDefine>."""

from __future__ import annotations

import pytest

from fastwsgi.apacheconf.lexer import (
    ReadState,
    logical_lines,
    module_base,
    read_file,
    split_words,
)
from fastwsgi.errors import ConfigError

pytestmark = pytest.mark.timeout(10)


def read(tmp_path, text, **files):
    for name, content in files.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    main = tmp_path / "main.conf"
    main.write_text(text)
    warnings = []
    state = ReadState(server_root=str(tmp_path), warn=warnings.append)
    return read_file(str(main), state), state, warnings


def test_split_words_plain_and_blanks():
    assert split_words("  a\tb   c ") == ["a", "b", "c"]
    assert split_words("") == []


def test_split_words_quotes_and_escapes():
    assert split_words('"a b" \'c d\' e') == ["a b", "c d", "e"]
    assert split_words(r'"say \"hi\"" x') == ['say "hi"', "x"]
    assert split_words(r'"back\\slash" "keep\n"') == ["back\\slash", "keep\\n"]
    assert split_words('""') == [""]


def test_split_words_quote_only_at_word_start():
    # Apache: a quote inside a word is an ordinary character.
    assert split_words('a"b c"d') == ['a"b', 'c"d']


def test_split_words_unterminated_quote_is_an_error():
    with pytest.raises(ConfigError) as info:
        split_words('"open', "f.conf", 3, "LogFormat")
    assert str(info.value) == ('f.conf:3: LogFormat: unterminated " quote in: "open; valid: a '
                               'matching closing " on the same (logical) line')


def test_comments_only_at_line_start():
    lines = logical_lines("# c\n  # indented comment\nServerName a # not a comment\n\n")
    assert lines == [(3, "ServerName a # not a comment")]


def test_continuation_keeps_the_first_line_number():
    text = "A one \\\n  two \\   \n three\nB\n"
    assert logical_lines(text) == [(1, "A one two three"), (4, "B")]


def test_continuation_at_end_of_file():
    assert logical_lines("A x \\") == [(1, "A x")]


def test_sections_nest_and_names_are_case_insensitive(tmp_path):
    nodes, _, _ = read(tmp_path, "<VirtualHost *:80>\n<location /a>\nX 1\n</LOCATION>\n"
                                 "</virtualhost>\nY 2\n")
    assert [n.name for n in nodes] == ["VirtualHost", "Y"]
    vhost = nodes[0]
    assert vhost.args == ["*:80"] and vhost.line == 1
    loc = vhost.children[0]
    assert (loc.key, loc.args, loc.line) == ("location", ["/a"], 2)
    assert [(c.name, c.args, c.line) for c in loc.children] == [("X", ["1"], 3)]


def test_section_closed_by_the_wrong_name(tmp_path):
    with pytest.raises(ConfigError) as info:
        read(tmp_path, "<VirtualHost *:80>\n<Location />\n</VirtualHost>\n")
    main = tmp_path / "main.conf"
    assert str(info.value) == (f"{main}:3: </VirtualHost> does not close <Location> opened at "
                               f"{main}:2; valid: </Location>")


def test_section_not_closed(tmp_path):
    with pytest.raises(ConfigError) as info:
        read(tmp_path, "<VirtualHost *:80>\nServerName a\n")
    main = tmp_path / "main.conf"
    assert str(info.value) == (f"{main}:1: <VirtualHost>: section is not closed by "
                               f"</VirtualHost> before the end of {main}")


def test_close_without_open(tmp_path):
    with pytest.raises(ConfigError) as info:
        read(tmp_path, "X\n</Location>\n")
    assert str(info.value) == f"{tmp_path / 'main.conf'}:2: </Location> closes no open section"


def test_section_header_without_bracket(tmp_path):
    with pytest.raises(ConfigError) as info:
        read(tmp_path, "<Location /\n")
    assert "a section header must end with '>'" in str(info.value)


def test_define_and_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("FW_TEST_DIR", "/from/env")
    nodes, _, _ = read(tmp_path, "Define LOGS /var/log/x\nErrorLog ${LOGS}/e.log\n"
                                 "CustomLog ${FW_TEST_DIR}/a.log combined\n"
                                 "UnDefine LOGS\n")
    assert nodes[0].args == ["/var/log/x/e.log"]
    assert nodes[1].args == ["/from/env/a.log", "combined"]


def test_undefined_variable_is_an_error_when_the_directive_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("FW_NOT_SET", raising=False)
    message = (f"{tmp_path / 'main.conf'}:2: ErrorLog: variable ${{FW_NOT_SET}} is not defined; "
               f"valid: define it with 'Define FW_NOT_SET VALUE' before this line, or set it in "
               f"the environment (Debian: run '. /etc/apache2/envvars' first)")
    nodes, _, _ = read(tmp_path, "\nErrorLog ${FW_NOT_SET}/e.log\nPidFile ${FW_NOT_SET}/pid\n")
    assert str(nodes[0].pending_error) == message
    from tests.confs.support import error, load
    assert error(tmp_path, "Listen 80\nErrorLog ${FW_NOT_SET}/e.log\n", name="main.conf") == message
    # A directive fastwsgi skips does not need its value.
    site = load(tmp_path, "Listen 80\nPidFile ${FW_NOT_SET}/pid\n")
    assert site.warnings == [f"{tmp_path / 'site.conf'}:2: PidFile: not used by fastwsgi; skipped"]


def test_undefined_variable_in_a_section_or_include_is_an_error(tmp_path, monkeypatch):
    monkeypatch.delenv("FW_NOT_SET", raising=False)
    with pytest.raises(ConfigError) as info:
        read(tmp_path, "<VirtualHost ${FW_NOT_SET}:80>\n</VirtualHost>\n")
    assert str(info.value).startswith(f"{tmp_path / 'main.conf'}:1: <VirtualHost>: variable "
                                      f"${{FW_NOT_SET}} is not defined")
    with pytest.raises(ConfigError) as info:
        read(tmp_path, "Include ${FW_NOT_SET}/x.conf\n")
    assert str(info.value).startswith(f"{tmp_path / 'main.conf'}:1: Include: variable")


def test_ifdefine(tmp_path):
    nodes, _, _ = read(tmp_path, "Define ON\n<IfDefine ON>\nA\n</IfDefine>\n"
                                 "<IfDefine !ON>\nB\n</IfDefine>\n<IfDefine OFF>\nC\n"
                                 "<Location />\nD\n</Location>\n</IfDefine>\nE\n")
    assert [n.name for n in nodes] == ["A", "E"]


def test_ifmodule_present_absent_and_negated(tmp_path):
    nodes, _, warnings = read(
        tmp_path,
        "<IfModule mod_wsgi.c>\nA\n</IfModule>\n<IfModule ssl_module>\nListen 443\n"
        "</IfModule>\n<IfModule !mod_ssl.c>\nB\n</IfModule>\n<IfModule !alias_module>\nC\n"
        "</IfModule>\n")
    assert [n.name for n in nodes] == ["A", "B"]
    assert warnings == [f"{tmp_path / 'main.conf'}:4: <IfModule ssl_module>: ssl_module is "
                        f"not part of fastwsgi; the section is skipped"]


def test_ifmodule_content_joins_the_enclosing_section(tmp_path):
    nodes, _, _ = read(tmp_path, "<VirtualHost *:80>\n<IfModule mod_wsgi.c>\nA\n</IfModule>\n"
                                 "B\n</VirtualHost>\n")
    assert [c.name for c in nodes[0].children] == ["A", "B"]


def test_module_names():
    assert {module_base(n) for n in ("mod_ssl.c", "ssl_module", "mod_ssl", "SSL_MODULE")} == {"ssl"}


def test_include_glob_relative_to_server_root_sorted(tmp_path):
    nodes, state, _ = read(
        tmp_path, "Include conf.d/*.conf\nIncludeOptional none/*.conf\nZ\n",
        **{"conf.d__b.conf": "B\n", "conf.d__a.conf": "A\n", "conf.d__skip.txt": "S\n"})
    assert [n.name for n in nodes] == ["A", "B", "Z"]
    assert [n.file for n in nodes] == [str(tmp_path / "conf.d/a.conf"),
                                       str(tmp_path / "conf.d/b.conf"), str(tmp_path / "main.conf")]
    assert state.files == [str(tmp_path / p) for p in ("main.conf", "conf.d/a.conf",
                                                        "conf.d/b.conf")]


def test_include_follows_serverroot_and_directories(tmp_path):
    nodes, _, _ = read(tmp_path, "ServerRoot sub\nInclude inc\n",
                       **{"sub__inc__one.conf": "One\n", "sub__inc__two.conf": "Two\n"})
    assert [n.name for n in nodes] == ["ServerRoot", "One", "Two"]


def test_include_missing_file_and_empty_glob(tmp_path):
    with pytest.raises(ConfigError) as info:
        read(tmp_path, "Include missing.conf\n")
    assert str(info.value) == (f"{tmp_path / 'main.conf'}:1: Include: {tmp_path / 'missing.conf'} "
                               f"does not exist; valid: an existing file or directory (relative "
                               f"to ServerRoot {tmp_path}), or IncludeOptional")
    with pytest.raises(ConfigError) as info:
        read(tmp_path, "\nInclude nothing/*.conf\n")
    assert str(info.value) == (
        f"{tmp_path / 'main.conf'}:2: Include: no file matches {tmp_path / 'nothing/*.conf'}; "
        f"valid: an existing file, or IncludeOptional for a pattern that may match nothing")
    nodes, _, _ = read(tmp_path, "IncludeOptional missing.conf\nA\n")
    assert [n.name for n in nodes] == ["A"]


def test_include_loop_is_an_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        read(tmp_path, "Include main.conf\n")
    assert "includes nest more than 32 deep (an Include loop?)" in str(info.value)


def test_section_left_open_in_an_included_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        read(tmp_path, "Include part.conf\n", **{"part.conf": "\n<Location />\n"})
    part = tmp_path / "part.conf"
    assert str(info.value) == (f"{part}:2: <Location>: section is not closed by </Location> "
                               f"before the end of {part}")


def test_split_options_quoted_values_as_mod_wsgi():
    from fastwsgi.apacheconf.lexer import split_options
    text = ('"my group" display-name=\'(wsgi) my app\' lang="en_US.UTF-8" '
            'home=/srv  threads=5 bare empty=')
    assert split_options(text, 1) == ["my group", "display-name=(wsgi) my app",
                                      "lang=en_US.UTF-8", "home=/srv", "threads=5", "bare",
                                      "empty="]
    assert split_options('/x "/srv/my app.wsgi" process-group=g', 2) == [
        "/x", "/srv/my app.wsgi", "process-group=g"]


def test_fuzz_any_text_gives_a_site_or_a_config_error(tmp_path):
    """Invariant: whatever the file holds, loading returns a Site or raises
    ConfigError; never another exception."""
    import random

    from fastwsgi.apacheconf import load_site
    (tmp_path / "app.wsgi").write_text("application = None\n")
    (tmp_path / "logs").mkdir()
    pieces = ["Listen", "80", "127.0.0.1:8080", "[::1]:81", "<VirtualHost", "*:80>",
              "</VirtualHost>", "<Location", "/a>", "</Location>", "<Directory", ".>",
              "</Directory>", "<IfModule", "mod_wsgi.c>", "</IfModule>", "WSGIDaemonProcess",
              "g", "threads=2", "processes=", "=", "WSGIProcessGroup", "%{GLOBAL}",
              "%{ENV:X}", "%{SERVER}", "WSGIScriptAlias", "/", "/x", "app.wsgi",
              "WSGIScriptAliasMatch", "^/(.*)", "process-group=g", "application-group=",
              "WSGIImportScript", "ServerName", "a.example", "ServerAlias", "*", "ErrorLog",
              "logs/e.log", "CustomLog", "combined", '"', "'", "\\", "#", "${X}", "Define",
              "X", "Include", "*.conf", "LogLevel", "warn", "Timeout", "-1", "User",
              "nobody", "WSGIRestrictProcess", "SetEnv", "<", ">", "</", "<Files", "x>",
              "LimitRequestBody", "10", "WSGIPythonPath", ":", "WSGICallableObject", "app"]
    rng = random.Random(1234)
    conf = tmp_path / "fuzz.conf"
    for _ in range(400):
        lines = [" ".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))
                 for _ in range(rng.randint(1, 8))]
        conf.write_text("\n".join(lines) + "\n")
        try:
            load_site(str(conf))
        except ConfigError:
            pass
