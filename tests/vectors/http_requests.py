"""Golden HTTP/1.x request heads for fastwsgi._cext.parse_request_head.

GOOD: a head, the full environ and info it must give, and the body bytes that
follow it (Content-Length or chunked). BAD: bytes the parser must refuse with
``status``; ``by`` is the length of the shortest prefix that must already
raise (the end of the offending line, or just past a limit), so every shorter
prefix may only be "incomplete" or that same error. ``bug`` names a known
parser defect: the vector is kept and expected to fail until it is fixed.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_LINE = 8190
MAX_FIELDS = 100
MAX_HEAD = 65536

#: A complete, valid request to append as "the next pipelined request".
NEXT = b"GET /next HTTP/1.1\r\nHost: next.example\r\n\r\n"


class Good(NamedTuple):
    name: str
    head: bytes
    environ: dict[str, str]
    info: dict[str, object]
    body: bytes = b""
    bug_bytewise: str | None = None


class Bad(NamedTuple):
    name: str
    data: bytes
    status: int
    by: int
    bug: str | None = None


def info(cl: int = -1, chunked: bool = False, keep_alive: bool = True,
         expect: bool = False, minor: int = 1) -> dict[str, object]:
    return {"content_length": cl, "chunked": chunked, "keep_alive": keep_alive,
            "expect_continue": expect, "minor": minor}


def env(method: str = "GET", path: str = "/", query: str = "", uri: str | None = None,
        proto: str = "HTTP/1.1", **http: str) -> dict[str, str]:
    return {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path,
            "QUERY_STRING": query, "REQUEST_URI": path if uri is None else uri,
            "SERVER_PROTOCOL": proto, **http}


# -- golden requests -----------------------------------------------------------

_LONG_PATH = "/" + "a" * (MAX_LINE - len("GET / HTTP/1.1"))
_LONG_VALUE = "v" * (MAX_LINE - len("X-Long: "))
_MANY = [f"X-F{i}: value {i}" for i in range(MAX_FIELDS - 1)]


def _head_of(size: int) -> bytes:
    """A valid GET head of exactly `size` bytes, padded with 1000-byte fields."""
    head = b"GET /big HTTP/1.1\r\nHost: h\r\n"
    while size - len(head) - 2 > 1100:
        head += b"X-Pad: " + b"p" * 991 + b"\r\n"
    rest = size - len(head) - 2 - len(b"X-Last: \r\n")
    return head + b"X-Last: " + b"l" * rest + b"\r\n\r\n"


HEAD_64K = _head_of(MAX_HEAD)

GOOD: list[Good] = [
    Good("get-query",
         b"GET /search/caf%C3%A9?q=caf%C3%A9&x=1 HTTP/1.1\r\nHost: www.example.com\r\n"
         b"User-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
         env(path="/search/caf\xc3\xa9", query="q=caf%C3%A9&x=1",
             uri="/search/caf%C3%A9?q=caf%C3%A9&x=1", HTTP_HOST="www.example.com",
             HTTP_USER_AGENT="curl/8.5.0", HTTP_ACCEPT="*/*"),
         info()),
    Good("post-content-length",
         b"POST /submit HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded"
         b"\r\nContent-Length: 11\r\n\r\n",
         env("POST", "/submit", HTTP_HOST="h", CONTENT_TYPE="application/x-www-form-urlencoded",
             CONTENT_LENGTH="11"),
         info(cl=11), b"a=1&b=GET /"),
    Good("post-chunked",
         b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
         b"Expect: 100-continue\r\n\r\n",
         env("POST", "/upload", HTTP_HOST="h", HTTP_TRANSFER_ENCODING="chunked",
             HTTP_EXPECT="100-continue"),
         info(chunked=True, expect=True), b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n"),
    Good("http10-keep-alive",
         b"GET /old HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
         env(path="/old", proto="HTTP/1.0", HTTP_CONNECTION="Keep-Alive"),
         info(keep_alive=True, minor=0)),
    Good("http10-default-close",
         b"HEAD / HTTP/1.0\r\n\r\n", env("HEAD", proto="HTTP/1.0"), info(keep_alive=False, minor=0)),
    Good("http11-connection-close-list",
         b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade , CLOSE\r\n\r\n",
         env(HTTP_HOST="h", HTTP_CONNECTION="Upgrade , CLOSE"), info(keep_alive=False)),
    Good("http10-keep-alive-and-close",
         b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
         env(proto="HTTP/1.0", HTTP_CONNECTION="keep-alive, close"),
         info(keep_alive=False, minor=0)),
    Good("absolute-form",
         b"GET http://example.com:8080/a%2Fb/c?x=%20 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
         env(path="/a/b/c", query="x=%20", uri="http://example.com:8080/a%2Fb/c?x=%20",
             HTTP_HOST="example.com:8080"),
         info()),
    Good("absolute-form-authority-wins-over-host",  # RFC 9112 3.2.2
         b"GET http://a.example:81/x HTTP/1.1\r\nHost: b.example\r\n\r\n",
         env(path="/x", uri="http://a.example:81/x", HTTP_HOST="a.example:81"), info()),
    Good("host-ip-literal-and-port",
         b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", env(HTTP_HOST="[::1]:8080"), info()),
    Good("host-ipv4-sub-delims-pct",
         b"GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\nX: y\r\n\r\n",
         env(HTTP_HOST="127.0.0.1:80", HTTP_X="y"), info()),
    Good("absolute-form-https-upper",
         b"DELETE HTTPS://h/x HTTP/1.1\r\nHost: h\r\n\r\n",
         env("DELETE", "/x", uri="HTTPS://h/x", HTTP_HOST="h"), info()),
    Good("options-asterisk",
         b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
         env("OPTIONS", "*", HTTP_HOST="h"), info()),
    Good("leading-empty-lines",
         b"\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n", env(path="/x", HTTP_HOST="h"), info()),
    Good("lowercase-method-not-casefolded",
         b"get /x HTTP/1.1\r\nHost: h\r\n\r\n", env("get", "/x", HTTP_HOST="h"), info()),
    Good("token-method",
         b"M-SEARCH! /x HTTP/1.1\r\nHost: h\r\n\r\n", env("M-SEARCH!", "/x", HTTP_HOST="h"), info()),
    Good("ows-values-cl-leading-zeros",
         b"PUT /p HTTP/1.1\r\nHost:h\r\nContent-Length:  00005 \t\r\nX-Empty:\r\n"
         b"X-Tab:\tin\tside\t\r\n\r\n",
         env("PUT", "/p", HTTP_HOST="h", CONTENT_LENGTH="00005", HTTP_X_EMPTY="",
             HTTP_X_TAB="in\tside"),
         info(cl=5), b"12345"),
    Good("content-length-zero",
         b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
         env("POST", HTTP_HOST="h", CONTENT_LENGTH="0"), info(cl=0)),
    Good("content-length-max",
         b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4611686018427387904\r\n\r\n",
         env("POST", HTTP_HOST="h", CONTENT_LENGTH="4611686018427387904"), info(cl=1 << 62)),
    Good("transfer-encoding-ows-and-case",
         b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked \r\n\r\n",
         env("POST", HTTP_HOST="h", HTTP_TRANSFER_ENCODING="Chunked"), info(chunked=True),
         b"0\r\n\r\n"),
    Good("repeated-headers-and-cookies",
         b"GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nCookie: a=1\r\nACCEPT: b\r\n"
         b"cookie: b=2\r\n\r\n",
         env(HTTP_HOST="h", HTTP_ACCEPT="a, b", HTTP_COOKIE="a=1; b=2"), info()),
    Good("underscore-and-proxy-dropped",
         b"GET / HTTP/1.1\r\nHost: h\r\nX_Forwarded_For: evil\r\nX-Forwarded-For: 1.2.3.4\r\n"
         b"Proxy: http://evil:8080\r\nContent_Length: 9\r\nProxy-Authorization: b\r\n\r\n",
         env(HTTP_HOST="h", HTTP_X_FORWARDED_FOR="1.2.3.4", HTTP_PROXY_AUTHORIZATION="b"),
         info()),
    Good("obs-text-value-latin1",
         b"GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9 \xff\x80\r\n\r\n",
         env(HTTP_HOST="h", HTTP_X_NAME="caf\xc3\xa9 \xff\x80"), info()),
    Good("path-invalid-escapes-kept",
         b"GET /%zz/%4/%%41/%41%42%2 HTTP/1.1\r\nHost: h\r\n\r\n",
         env(path="/%zz/%4/%A/AB%2", uri="/%zz/%4/%%41/%41%42%2", HTTP_HOST="h"), info()),
    Good("double-slash-kept",
         b"GET //double//slash?a?b HTTP/1.1\r\nHost: h\r\n\r\n",
         env(path="//double//slash", query="a?b", uri="//double//slash?a?b", HTTP_HOST="h"),
         info()),
    Good("http10-expect-ignored-host-optional",
         b"GET / HTTP/1.0\r\nUser-Agent: x\r\n\r\n",
         env(proto="HTTP/1.0", HTTP_USER_AGENT="x"), info(keep_alive=False, minor=0)),
    Good("fields-exactly-100",
         b"GET /many HTTP/1.1\r\nHost: h\r\n" + "".join(f + "\r\n" for f in _MANY).encode() + b"\r\n",
         env(path="/many", HTTP_HOST="h", **{f"HTTP_X_F{i}": f"value {i}" for i in range(99)}),
         info()),
    Good("request-line-exactly-8190",
         f"GET {_LONG_PATH} HTTP/1.1\r\nHost: h\r\n\r\n".encode(),
         env(path=_LONG_PATH, HTTP_HOST="h"), info()),
    Good("field-exactly-8190",
         f"GET / HTTP/1.1\r\nHost: h\r\nX-Long: {_LONG_VALUE}\r\n\r\n".encode(),
         env(HTTP_HOST="h", HTTP_X_LONG=_LONG_VALUE), info()),
    Good("head-exactly-64k",
         HEAD_64K,
         env(path="/big", HTTP_HOST="h",
             HTTP_X_PAD=", ".join(["p" * 991] * HEAD_64K.count(b"X-Pad: ")),
             HTTP_X_LAST="l" * HEAD_64K.split(b"X-Last: ")[1].index(b"\r")),
         info()),
]


# -- requests to refuse --------------------------------------------------------

REQ = b"GET / HTTP/1.1\r\n"
HOST = b"Host: h\r\n"
END = HOST + b"\r\n"


def bad(name: str, data: bytes, status: int, upto: bytes | None = None,
        by: int | None = None, bug: str | None = None) -> Bad:
    """upto: the error is due once data through the first `upto` is present."""
    if by is None:
        by = len(data) if upto is None else data.index(upto) + len(upto)
    return Bad(name, data, status, by, bug)


def field(name: str, line: bytes, status: int, bug: str | None = None) -> Bad:
    """A request whose offending header field is `line` (without CRLF)."""
    data = REQ + line + b"\r\n" + END
    return bad(name, data, status, by=len(REQ) + len(line) + 2, bug=bug)


def post(name: str, fields: bytes, status: int, minor: int = 1, bug: str | None = None) -> Bad:
    """A POST with the given framing fields; the error is due at the end of the head."""
    return bad(name, f"POST / HTTP/1.{minor}\r\n".encode() + HOST + fields + b"\r\n", status, bug=bug)


_CONTROLS = [c for c in range(32) if c not in (9, 10, 13)] + [127]
_LINE_9000 = b"GET /" + b"a" * 9000
_FIELD_9000 = REQ + b"X-A: " + b"a" * 9000
_HEADERS_70000 = REQ + HOST + b"".join(b"X-Pad: " + b"p" * 991 + b"\r\n" for _ in range(70))
_FIELDS_101 = REQ + HOST + b"".join(f"X-F{i}: v\r\n".encode() for i in range(MAX_FIELDS))

BAD: list[Bad] = [
    # request line
    bad("method-non-token", b"G@T / HTTP/1.1\r\n" + END, 400, b"\r\n"),
    bad("method-empty", b" / HTTP/1.1\r\n" + END, 400, b"\r\n"),
    bad("method-nul", b"GE\x00T / HTTP/1.1\r\n" + END, 400, b"\r\n"),
    bad("two-spaces", b"GET  / HTTP/1.1\r\n" + END, 400, b"\r\n"),
    bad("htab-separator", b"GET\t/ HTTP/1.1\r\n" + END, 400, b"\r\n"),
    bad("no-version", b"GET /\r\n" + END, 400, b"\r\n"),
    bad("target-space", b"GET /a b HTTP/1.1\r\n" + END, 400, b"\r\n"),
    bad("target-fragment", b"GET /a#frag HTTP/1.1\r\n" + END, 400, b"\r\n"),
    bad("target-control", b"GET /a\x01b HTTP/1.1\r\n" + END, 400, b"\r\n"),
    bad("target-del", b"GET /a\x7fb HTTP/1.1\r\n" + END, 400, b"\r\n"),
    bad("target-nul", b"GET /a\x00b HTTP/1.1\r\n" + END, 400, b"\r\n"),
    bad("target-relative", b"GET a/b HTTP/1.1\r\n" + END, 400),
    bad("target-other-scheme", b"GET ftp://h/x HTTP/1.1\r\n" + END, 400),
    bad("target-authority-not-connect", b"GET h:443 HTTP/1.1\r\n" + END, 400),
    bad("asterisk-not-options", b"GET * HTTP/1.1\r\n" + END, 400),
    bad("asterisk-lowercase-options", b"options * HTTP/1.1\r\n" + END, 400),
    bad("connect-authority", b"CONNECT h:443 HTTP/1.1\r\n" + END, 501),
    bad("connect-origin-form", b"CONNECT / HTTP/1.1\r\n" + END, 501),
    bad("version-lowercase", b"GET / http/1.1\r\n" + END, 400, b"\r\n"),
    bad("version-1.10", b"GET / HTTP/1.10\r\n" + END, 400, b"\r\n"),
    bad("version-1.1x", b"GET / HTTP/1.1x\r\n" + END, 400, b"\r\n"),
    bad("version-trailing-space", b"GET / HTTP/1.1 \r\n" + END, 400, b"\r\n"),
    bad("version-short", b"GET / HTTP/1\r\n" + END, 400, b"\r\n"),
    bad("version-letters", b"GET / HTTP/a.b\r\n" + END, 400, b"\r\n"),
    bad("version-other-protocol", b"GET / FOO/1.1\r\n" + END, 400, b"\r\n"),
    bad("version-2.0", b"GET / HTTP/2.0\r\n" + END, 505, b"\r\n"),
    bad("version-0.9", b"GET / HTTP/0.9\r\n" + END, 505, b"\r\n"),
    bad("version-1.2", b"GET / HTTP/1.2\r\n" + END, 505, b"\r\n"),
    bad("version-3.0", b"GET / HTTP/3.0\r\n" + END, 505, b"\r\n"),
    # line endings, folding, field syntax
    bad("bare-lf-request-line", b"GET / HTTP/1.1\n" + END, 400, b"\n"),
    bad("bare-lf-before-request-line", b"\nGET / HTTP/1.1\r\n" + END, 400, b"\n"),
    bad("bare-cr-empty-line-before", b"\r\rGET / HTTP/1.1\r\n" + END, 400, b"\r\n"),
    bad("bare-cr-request-line", b"GET /\r HTTP/1.1\r\n" + END, 400, b"\r\n"),
    bad("bare-lf-header", REQ + b"Host: h\nX: y\r\n\r\n", 400, b"h\n"),
    bad("bare-lf-smuggle-cl", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n"
        b"X-Header: x\nContent-Length: 0\r\n\r\n", 400, b"x\n"),
    bad("bare-lf-end-of-head", REQ + HOST + b"\n", 400),
    bad("bare-lf-end-of-head-then-more", REQ + HOST + b"\nGET", 400, HOST + b"\n"),
    bad("bare-cr-in-value", REQ + b"Host: h\rX: y\r\n\r\n", 400, b"y\r\n"),
    bad("bare-cr-blank-line", REQ + HOST + b"\rX", 400, HOST + b"\rX"),
    bad("obs-fold-space", REQ + b"Host: h\r\nX-A: a\r\n b\r\n\r\n", 400, b"\r\n b"),
    bad("obs-fold-tab", REQ + b"Host: h\r\nX-A: a\r\n\tb\r\n\r\n", 400, b"\r\n\tb"),
    bad("obs-fold-first-line", REQ + b" Host: h\r\n\r\n", 400, REQ + b" H"),
    field("space-before-colon", b"Transfer-Encoding : chunked", 400),
    field("tab-before-colon", b"Host\t: h", 400),
    field("empty-name", b": value", 400),
    field("no-colon", b"Host h", 400),
    field("name-nul", b"X-A\x00B: v", 400),
    field("name-nul-content-length", b"Content-Length\x00: 5", 400),
    field("name-non-token", b"X(A): v", 400),
    field("name-obs-text", b"X-\xe9: v", 400),
    field("value-cr-inside", b"X-A: a\rb", 400),
    *[field(f"value-ctl-{c:#04x}", b"X-A: a" + bytes([c]) + b"b", 400) for c in _CONTROLS],
    field("value-ctl-at-end-of-long-value", b"Bad-header: " + b"x" * 8000 + b"\x10", 400),
    # Host
    bad("missing-host-11", b"GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
    bad("two-hosts", REQ + b"Host: a\r\nHost: b\r\n\r\n", 400, b"Host: b\r\n"),
    bad("two-hosts-same-case-insensitive", REQ + b"Host: a\r\nhOST: a\r\n\r\n", 400, b"hOST: a\r\n"),
    # RFC 9112 3.2: a Host that is not uri-host [":" port] is 400.
    *[field(f"host-invalid-{tag}", b"Host: " + v, 400) for tag, v in [
        ("space", b"a b"), ("slash", b"a/b"), ("userinfo", b"u@h"), ("port-letters", b"h:80x"),
        ("two-colons", b"h:8:0"), ("unclosed-bracket", b"[::1"), ("empty-brackets", b"[]"),
        ("after-bracket", b"[::1]x"), ("obs-text", b"h\xe9"), ("comma-list", b"a, b")]],
    bad("absolute-form-empty-authority", b"GET http:///x HTTP/1.1\r\n" + END, 400),
    bad("absolute-form-userinfo", b"GET http://u@h/x HTTP/1.1\r\n" + END, 400),
    bad("absolute-form-bad-port", b"GET http://h:x/ HTTP/1.1\r\n" + END, 400),
    # Content-Length
    *[post(f"cl-{tag}", b"Content-Length: " + v + b"\r\n", 400) for tag, v in [
        ("plus", b"+5"), ("minus", b"-1"), ("hex", b"0x5"), ("inner-space", b"5 5"),
        ("list", b"5, 5"), ("list-nospace", b"5,5"), ("empty", b""), ("decimal", b"1.0"),
        ("arabic-digits", "\u0661\u0660".encode()), ("superscript", "\u00b2".encode()),
        ("fullwidth", "\uff15".encode()), ("letters", b"five"),
        ("huge", b"99999999999999999999"), ("over-2**62", b"4611686018427387905"),
        ("19-nines", b"9999999999999999999"), ("vtab", b"\x0b5"),
    ]],
    post("cl-duplicate-equal", b"Content-Length: 5\r\nContent-Length: 5\r\n", 400),
    post("cl-duplicate-different", b"Content-Length: 5\r\ncontent-length: 0\r\n", 400),
    # Transfer-Encoding
    post("te-and-cl", b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400),
    post("cl-and-te", b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400),
    post("te-gzip", b"Transfer-Encoding: gzip\r\n", 501),
    post("te-gzip-chunked", b"Transfer-Encoding: gzip, chunked\r\n", 501),
    post("te-gzip-then-chunked-headers", b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
         501),
    post("te-identity", b"Transfer-Encoding: identity\r\n", 501),
    post("te-xchunked", b"Transfer-Encoding: xchunked\r\n", 501),
    post("te-chunked-obs-text", b"Transfer-Encoding: chunked\x85\r\n", 501),
    post("te-quoted", b'Transfer-Encoding: "chunked"\r\n', 501),
    post("te-chunked-gzip", b"Transfer-Encoding: chunked, gzip\r\n", 400),
    post("te-chunked-chunked", b"Transfer-Encoding: chunked, chunked\r\n", 400),
    post("te-two-chunked-headers", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
         400),
    post("te-chunked-then-x", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n", 400),
    post("te-empty", b"Transfer-Encoding:\r\n", 400),
    post("te-empty-ows", b"Transfer-Encoding:  \t \r\n", 400),
    post("te-only-empty-elements", b"Transfer-Encoding: ,\r\n", 400),
    post("te-vtab", b"Transfer-Encoding:\x0bchunked\r\n", 400),
    post("te-formfeed", b"Transfer-Encoding: chunked\x0c\r\n", 400),
    post("te-nul", b"Transfer-Encoding: chunked\x00\r\n", 400),
    post("te-folded", b"Transfer-Encoding:\r\n\tchunked\r\n", 400),
    post("te-chunked-http10", b"Transfer-Encoding: chunked\r\n", 400, minor=0),
    post("te-gzip-http10", b"Transfer-Encoding: gzip\r\n", 400, minor=0),
    # Expect
    post("expect-other", b"Expect: 100-continue-please\r\n", 417),
    post("expect-token", b"Expect: foo\r\n", 417),
    post("expect-list", b"Expect: 100-continue, foo\r\n", 417),
    # limits
    bad("request-line-8191", b"GET /" + b"a" * (MAX_LINE - 13) + b" HTTP/1.1\r\n" + END, 414,
        by=MAX_LINE + 2),
    bad("request-line-9000-no-lf", _LINE_9000, 414, by=MAX_LINE + 2),
    bad("request-line-after-empty-lines", b"\r\n" + _LINE_9000, 414, by=2 + MAX_LINE + 2),
    bad("field-8191", REQ + b"X-A: " + b"a" * (MAX_LINE - 4) + b"\r\n" + END, 431,
        by=len(REQ) + MAX_LINE + 2),
    bad("field-9000-no-lf", _FIELD_9000, 431, by=len(REQ) + MAX_LINE + 2),
    bad("fields-101", _FIELDS_101 + b"\r\n", 431, by=len(_FIELDS_101)),
    bad("head-70000-no-blank-line", _HEADERS_70000, 431, by=MAX_HEAD + 1),
    bad("head-over-64k-complete", _head_of(MAX_HEAD + 1200), 431, by=MAX_HEAD + 1),
    bad("too-many-empty-lines", b"\r\n" * 4200 + END, 400, by=2 * 4096 + 2),
]
