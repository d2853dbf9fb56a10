"""Pure decisions of the Site router: route tables, host choice, address tiers, formats.

The same tables the router processes use (fastwsgi/routing.py builds them,
cext/dispatch.pyx applies them); tests/test_routing.py runs them for real.
"""

from __future__ import annotations

import re

import pytest

from fastwsgi._cext import (
    HTTPParseError,  # type: ignore[attr-defined]
    SiteHost,
    SiteRoute,
    parse_request_head,
)
from fastwsgi.access_log import format_kind
from fastwsgi.config import HttpConfig
from fastwsgi.routing import _chooser, candidates, normal_address, script_parts, wildcard_regex
from fastwsgi.site import Site, VirtualHost

pytestmark = pytest.mark.timeout(30)


def r(prefix: str, mount: str | None, script: str, pattern: str | None = None) -> SiteRoute:
    return SiteRoute(prefix, mount, script, "g", "", "application", "t:1",
                     re.compile(pattern) if pattern else None,
                     script_parts(script) if pattern else None)


HOST = SiteHost("h", [
    r("/app/admin", "/app", "/s/app.wsgi"),
    r("/app", "/app", "/s/app.wsgi"),
    r("/a/b/c", "/a/b/c", "/s/abc.wsgi"),
    r("/dir", "/dir", "/d/"),
    r("/", "", "/s/root.wsgi"),
], 0)
PATTERNS = SiteHost("p", [
    r("", None, "/s/\\1.wsgi", r"^/x/([a-z]+)"),
    r("", None, "/t/$1/$2.wsgi", r"^/y/([a-z]+)/([a-z]+)"),
    r("", None, "/u/", r"^/dir/"),
    r("", None, "/v/slash.wsgi", r"^/slash/"),
], 0)


@pytest.mark.parametrize("path,prefix,script_name,path_info,script", [
    ("/app", "/app", "/app", "", "/s/app.wsgi"),
    ("/app/", "/app", "/app", "/", "/s/app.wsgi"),
    ("/app/x", "/app", "/app", "/x", "/s/app.wsgi"),
    ("/application", "/", "", "/application", "/s/root.wsgi"),
    ("/app/admin", "/app/admin", "/app", "/admin", "/s/app.wsgi"),
    ("/app/admins", "/app", "/app", "/admins", "/s/app.wsgi"),
    ("/a/b/c/d/e/f/g/h", "/a/b/c", "/a/b/c", "/d/e/f/g/h", "/s/abc.wsgi"),
    ("/a/b", "/", "", "/a/b", "/s/root.wsgi"),
    ("/", "/", "", "/", "/s/root.wsgi"),
    ("/dir/x.wsgi", "/dir", "/dir/x.wsgi", "", "/d/x.wsgi"),
    ("/dir/x.wsgi/more/", "/dir", "/dir/x.wsgi", "/more/", "/d/x.wsgi"),
])
def test_prefix_routes(path: str, prefix: str, script_name: str, path_info: str,
                       script: str) -> None:
    route, sn, pi, filename = HOST.route(path)
    assert (route.prefix, sn, pi, filename) == (prefix, script_name, path_info, script)
    assert sn + pi == path


@pytest.mark.parametrize("path", ["/dir", "/dir/", "*"])
def test_no_route(path: str) -> None:
    assert HOST.route(path) is None


@pytest.mark.parametrize("path,split", [
    ("/x/abc", ("/x/abc", "", "/s/abc.wsgi")),
    ("/x/abc/", ("/x/abc", "/", "/s/abc.wsgi")),
    ("/x/abc/def", ("/x/abc", "/def", "/s/abc.wsgi")),
    ("/x/abc9", None),
    ("/y/one/two/z", ("/y/one/two", "/z", "/t/one/two.wsgi")),
    ("/dir/f.wsgi/p", ("/dir/f.wsgi", "/p", "/u/f.wsgi")),
    ("/dir/", None),
    ("/z", None),
    ("/slash/", ("/slash/", "", "/v/slash.wsgi")),
    ("/slash/x", None),  # mod_wsgi: the file /v/slash.wsgix, which does not exist
])
def test_pattern_routes(path: str, split: tuple[str, str, str] | None) -> None:
    found = PATTERNS.route(path)
    assert (found[1:] if found else None) == split


def test_script_parts() -> None:
    assert script_parts("/a/\\1/$2.wsgi") == ["/a/", 1, "/", 2, ".wsgi"]
    assert script_parts("/plain.wsgi") == ["/plain.wsgi"]


def vhost(name: str, addresses: list[tuple[str, int | None]], aliases: tuple[str, ...] = ()
          ) -> VirtualHost:
    return VirtualHost(addresses, name, None, list(aliases), source=name)


def site(*vhosts: VirtualHost) -> Site:
    return Site(listens=[], main=VirtualHost([], "main", None, [], source="main"),
                vhosts=list(vhosts), groups=[], http=HttpConfig())


def test_address_tiers() -> None:
    a = vhost("a", [("*", 80)])
    b = vhost("b", [("127.0.0.1", 80)])
    c = vhost("c", [("_default_", None)])
    d = vhost("d", [("*", None)])
    s = site(a, b, c, d)
    assert candidates(s, "127.0.0.1", 80) == [b]          # a specific address first
    assert candidates(s, "127.0.0.2", 80) == [a, d]       # then '*' (any port: None)
    assert candidates(s, "127.0.0.2", 81) == [d]
    assert candidates(site(c), "10.0.0.1", 8080) == [c]   # then _default_
    lone = site(b)
    assert candidates(lone, "127.0.0.2", 80) == [lone.main]  # nothing listens: main server
    assert candidates(site(vhost("v6", [("::1", None)])), "::1", 80)[0].server_name == "v6"
    assert normal_address("::ffff:127.0.0.1") == "127.0.0.1"
    assert normal_address("0:0:0:0:0:0:0:1") == "::1"


def test_host_choice() -> None:
    a = vhost("www.a.test", [("*", None)], ("a.test", "*.wild.test"))
    b = vhost("b.test", [("*", None)], ("www.a.test", "x?.test"))
    c = vhost("c.test", [("*", None)], ("*.test",))
    hosts = {id(v): SiteHost(v.server_name or "", [], 0) for v in (a, b, c)}
    chooser = _chooser([a, b, c], hosts)

    def pick(host: str | None) -> str:
        return chooser.pick(host).name

    assert pick("www.a.test") == "www.a.test"          # the first vhost naming it
    assert pick("A.TEST:8080") == "www.a.test"
    assert pick("deep.sub.wild.test") == "www.a.test"
    assert pick("b.test.") == "b.test"
    assert pick("xy.test") == "b.test"
    assert pick("xyz.test") == "c.test"               # '?' is one character; '*.test' next
    assert pick("nothing.example") == "www.a.test"    # default: the first
    assert pick(None) == "www.a.test"
    assert pick("[::1]:80") == "www.a.test"
    assert wildcard_regex("*.a.b").fullmatch("x.a.b") and not wildcard_regex("*.a.b").fullmatch(
        "xa.b")


@pytest.mark.parametrize("fmt,kind", [
    ("combined", "combined"),
    ('%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"', "combined"),
    ('%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\"', "combined"),
    ('%h %l %u %t "%r" %>s %b', "common"),
    ('%h %l %u %t "%r" %s %b', "common"),
    ("common", "common"),
    ('%v %h %l %u %t "%r" %>s %b', None),
    ("%h %D", None),
])
def test_access_log_formats(fmt: str, kind: str | None) -> None:
    assert format_kind(fmt) == kind


def test_parser_limits_are_arguments() -> None:
    head = b"GET /" + b"a" * 99 + b" HTTP/1.1\r\nHost: x\r\nA: " + b"v" * 50 + b"\r\n\r\n"
    assert parse_request_head(head) is not None  # Apache's defaults
    with pytest.raises(HTTPParseError) as e:
        parse_request_head(head, limit_request_line=100)
    assert e.value.status == 414
    with pytest.raises(HTTPParseError) as e:
        parse_request_head(head, limit_request_field_size=40)
    assert e.value.status == 431
    with pytest.raises(HTTPParseError) as e:
        parse_request_head(head, limit_request_fields=1)
    assert e.value.status == 431
    assert parse_request_head(head, limit_request_fields=2) is not None
    many = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"F%d: v\r\n" % i for i in range(500))
    assert len(parse_request_head(many + b"\r\n", limit_request_fields=0)[0]) > 500
    long_name = b"GET / HTTP/1.1\r\nHost: x\r\nX-" + b"n" * 9000 + b": v\r\n\r\n"
    env, _, _ = parse_request_head(long_name, limit_request_field_size=20000)
    assert env["HTTP_X_" + "N" * 9000] == "v"


def test_route_to_an_unknown_group_is_a_startup_error() -> None:
    from fastwsgi.errors import StartupError
    from fastwsgi.routing import SiteHandlers
    from fastwsgi.site import Route
    handlers = SiteHandlers(site(), HttpConfig(), [], False, True)
    with pytest.raises(StartupError, match="f.conf:3: no daemon process group named 'nope'"):
        handlers.for_route(Route("/a", "/a", "/x.wsgi", "nope", "", "f.conf:3"))
