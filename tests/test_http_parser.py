"""The front-end request-head parser of fastwsgi._cext, fed every way: whole,
byte by byte, random splits and with trailing data. Invariant: any bytes yield
"incomplete", a request (environ, head length, framing info), or an
HTTPParseError carrying the status to answer - nothing else."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastwsgi import _cext
from tests.vectors.http_requests import BAD, GOOD, MAX_LINE, NEXT, Bad, Good

parse = _cext.parse_request_head
HTTPParseError = _cext.HTTPParseError
ChunkedDecoder = _cext.ChunkedDecoder

STATUSES = {400, 414, 417, 431, 501, 505}
SEEDS = range(25)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(data: bytes) -> object:
    """parse() as a comparable value: None, the result tuple, or ("error", status)."""
    try:
        return parse(data)
    except HTTPParseError as exc:
        assert exc.status in STATUSES, exc
        assert isinstance(exc, ValueError) and exc.reason
        return ("error", exc.status)


def prefix_lengths(n: int, *focus: int) -> list[int]:
    """Every prefix length for short inputs; a stride plus windows around `focus` for long ones."""
    if n <= 4000:
        return list(range(1, n + 1))
    lengths = set(range(1, n + 1, 53)) | {n}
    for f in focus:
        lengths |= set(range(max(1, f - 40), min(n, f + 40) + 1))
    return sorted(lengths)


def random_chunks(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.randint(0, len(data)) for _ in range(rng.randint(1, 10)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def expected(v: Good) -> tuple[dict[str, str], int, dict[str, object]]:
    return v.environ, len(v.head), v.info


def good_params(bytewise: bool = False) -> list[object]:
    def marks(v: Good) -> list[pytest.MarkDecorator]:
        if bytewise and v.bug_bytewise:
            return [pytest.mark.xfail(strict=True, reason=v.bug_bytewise)]
        return []

    return [pytest.param(v, id=v.name, marks=marks(v)) for v in GOOD]


def bad_params() -> list[object]:
    return [pytest.param(v, id=v.name, marks=[pytest.mark.xfail(strict=True, reason=v.bug)]
                         if v.bug else []) for v in BAD]


# --- golden requests ----------------------------------------------------------

@pytest.mark.parametrize("v", good_params())
def test_good_whole(v: Good) -> None:
    assert parse(v.head) == expected(v)


@pytest.mark.parametrize("v", good_params(bytewise=True))
def test_good_byte_by_byte(v: Good) -> None:
    """Every proper prefix is incomplete; the full head gives the same result."""
    n = len(v.head)
    for k in prefix_lengths(n, n - 2, n - 1, MAX_LINE, MAX_LINE + 1, MAX_LINE + 2):
        got = outcome(v.head[:k])
        if k < n:
            assert got is None, (k, got)
        else:
            assert got == expected(v)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("v", good_params())
def test_good_random_splits(v: Good, seed: int) -> None:
    """A connection's read loop: append each read, parse, stop at the first result."""
    data = v.head + v.body + NEXT
    buf = b""
    for chunk in random_chunks(data, random.Random(seed)):
        buf += chunk
        got = parse(buf)
        if got is not None:
            break
    assert got == expected(v)
    assert buf[got[1]:] == data[len(v.head):len(buf)]


@pytest.mark.parametrize("v", good_params())
def test_good_trailing_data(v: Good) -> None:
    """head_length points exactly at the body; after the body comes the next request."""
    data = v.head + v.body + NEXT
    environ, head_length, info = parse(data)
    assert (environ, head_length, info) == expected(v)
    rest = data[head_length:]
    assert rest.startswith(v.body)
    if info["chunked"]:
        dec = ChunkedDecoder()
        dec.feed(rest)
        assert dec.done and dec.trailing == NEXT
    elif info["content_length"] == len(v.body) or (info["content_length"] == -1 and not v.body):
        assert rest[len(v.body):] == NEXT
    env2, len2, _ = parse(NEXT + b"GARBAGE\x00")
    assert (env2["PATH_INFO"], len2) == ("/next", len(NEXT))


def test_chunked_golden_body_decodes() -> None:
    v = next(g for g in GOOD if g.name == "post-chunked")
    dec = ChunkedDecoder()
    assert dec.feed(v.body + NEXT) == b"hello world"
    assert dec.done and dec.trailing == NEXT


def test_environ_types() -> None:
    for v in GOOD:
        environ, _, info = parse(v.head)
        assert all(type(k) is str and type(x) is str for k, x in environ.items())
        assert type(info["content_length"]) is int and type(info["minor"]) is int
        assert all(type(info[k]) is bool
                   for k in ("chunked", "keep_alive", "expect_continue"))


def test_empty_and_blank_inputs_are_incomplete() -> None:
    for data in (b"", b"\r", b"\r\n", b"\r\n\r\n", b"G", b"GET / HTTP/1.1\r\nHost: h\r\n\r"):
        assert parse(data) is None, data


def test_expect_100_continue_on_http11() -> None:
    _, _, info = parse(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
                       b"Content-Length: 3\r\n\r\n")
    assert info["expect_continue"] is True and info["content_length"] == 3


def test_expect_100_continue_ignored_on_http10() -> None:
    _, _, info = parse(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    assert info["expect_continue"] is False


def test_head_limit_counts_the_blank_line() -> None:
    head = b"GET / HTTP/1.1\r\nHost: h\r\n"
    while len(head) < 65536 - 1100:
        head += b"X-Pad: " + b"p" * 991 + b"\r\n"
    head += b"X-Last: " + b"l" * (65536 - len(head) - 10) + b"\r\n"
    assert len(head) == 65536
    assert outcome(head + b"\r") == ("error", 431)  # already refused incrementally
    assert outcome(head + b"\r\n") == ("error", 431)  # so it must be refused whole, too


def test_duplicate_content_type_refused() -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Type: text/html" \
           b"\r\nContent-Length: 0\r\n\r\n"
    assert outcome(data) == ("error", 400)


# --- requests to refuse -------------------------------------------------------

@pytest.mark.parametrize("v", bad_params())
def test_bad_whole(v: Bad) -> None:
    with pytest.raises(HTTPParseError) as info:
        parse(v.data)
    assert info.value.status == v.status, info.value


@pytest.mark.parametrize("v", bad_params())
def test_bad_with_trailing_data(v: Bad) -> None:
    """A pipelined request after a bad one changes nothing (it is never reached)."""
    assert outcome(v.data + NEXT) == ("error", v.status)


@pytest.mark.parametrize("v", bad_params())
def test_bad_incremental(v: Bad) -> None:
    """Shorter prefixes are incomplete (or the same error); from `by` bytes on it is refused."""
    for k in prefix_lengths(len(v.data), v.by - 1, v.by):
        got = outcome(v.data[:k])
        if k < v.by:
            assert got is None or got == ("error", v.status), (k, got)
        else:
            assert got == ("error", v.status), (k, got)


@pytest.mark.parametrize("seed", SEEDS[:8])
@pytest.mark.parametrize("v", bad_params())
def test_bad_random_splits(v: Bad, seed: int) -> None:
    buf = b""
    got = None
    for chunk in random_chunks(v.data, random.Random(seed)):
        buf += chunk
        got = outcome(buf)
        if got is not None:
            break
    assert got == ("error", v.status)
    assert len(buf) - len(chunk) < v.by  # refused no later than the read that brought byte `by`


def test_request_line_limit_while_incomplete() -> None:
    line = b"GET /" + b"a" * (MAX_LINE - 14) + b" HTTP/1.1"
    assert len(line) == MAX_LINE
    assert parse(line + b"\r") is None


def test_field_limit_while_incomplete() -> None:
    line = b"X-A: " + b"a" * (MAX_LINE - 5)
    assert parse(b"GET / HTTP/1.1\r\n" + line + b"\r") is None


def test_obs_fold_refused_at_its_first_byte() -> None:
    assert outcome(b"GET / HTTP/1.1\r\nHost: h\r\n ") == ("error", 400)


def test_error_is_a_value_error_with_reason() -> None:
    with pytest.raises(ValueError) as info:
        parse(b"GET / HTTP/2.0\r\n\r\n")
    assert isinstance(info.value, HTTPParseError)
    assert info.value.status == 505 and "version" in info.value.reason.lower()


# --- smuggling: what the body framing is taken to be --------------------------

@pytest.mark.parametrize(("value", "length"), [
    (b"5", 5), (b" 5 ", 5), (b"\t5\t", 5), (b"00005", 5), (b"0", 0),
])
def test_content_length_accepted(value: bytes, length: int) -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:" + value + b"\r\n\r\n"
    _, head_length, info = parse(data + b"x" * length)
    assert info["content_length"] == length and not info["chunked"]
    assert head_length == len(data)


@pytest.mark.parametrize("value", [b"chunked", b"chunked ", b" chunked", b"CHUNKED",
                                   b"chunked,", b", chunked", b"\tchunked\t"])
def test_transfer_encoding_chunked_accepted(value: bytes) -> None:
    _, _, info = parse(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:" + value + b"\r\n\r\n")
    assert info["chunked"] is True and info["content_length"] == -1


def test_no_framing_means_no_body() -> None:
    _, _, info = parse(b"POST / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert info["content_length"] == -1 and info["chunked"] is False


# --- properties ---------------------------------------------------------------

TOKEN = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
VCHAR = "".join(chr(c) for c in range(33, 127))
PCHAR = VCHAR.replace("#", "").replace("?", "")
QCHAR = VCHAR.replace("#", "")
FIELD_CHARS = "\t " + VCHAR + "".join(chr(c) for c in range(128, 256))
SPECIAL = {"content-length", "transfer-encoding", "host", "expect", "connection", "proxy"}

names = st.text(TOKEN, min_size=1, max_size=12).filter(lambda n: n.lower() not in SPECIAL)
values = st.text(FIELD_CHARS, max_size=30)
REG_NAME = "-._~!$&'()*+,;=%0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# uri-host [":" port]: a reg-name (IPv4 is one) or an IP literal, with OWS around.
hosts = st.builds(lambda ows, host, port: ows + host + port + ows,
                  st.sampled_from(["", " ", "\t"]),
                  st.text(REG_NAME, max_size=20)
                  | st.text("0123456789abcdefABCDEF:.", min_size=1, max_size=20).map(
                      lambda a: f"[{a}]"),
                  st.just("") | st.text("0123456789", max_size=5).map(lambda d: ":" + d))


def cgi_key(name: str) -> str | None:
    low = name.lower()
    if "_" in name or low == "proxy":
        return None
    if low in ("content-type", "content-length"):
        return low.upper().replace("-", "_")
    return "HTTP_" + name.upper().replace("-", "_")


def unquote(path: str) -> str:
    raw = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m[1], 16)]), path.encode("latin-1"))
    return raw.decode("latin-1")


@st.composite
def valid_requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str], int]:
    method = draw(st.text(TOKEN, min_size=1, max_size=10).filter(lambda m: m != "CONNECT"))
    path = "/" + draw(st.text(PCHAR, max_size=30))
    query = draw(st.none() | st.text(QCHAR, max_size=20))
    minor = draw(st.sampled_from([0, 1]))
    fields = draw(st.lists(st.tuples(names, values), max_size=15))
    if minor == 1:
        fields.insert(draw(st.integers(0, len(fields))), ("Host", draw(hosts)))
    target = path if query is None else f"{path}?{query}"
    lines = [f"{method} {target} HTTP/1.{minor}"] + [f"{n}:{v}" for n, v in fields]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    environ = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": unquote(path),
               "QUERY_STRING": query or "", "REQUEST_URI": target,
               "SERVER_PROTOCOL": f"HTTP/1.{minor}"}
    for name, value in fields:
        key = cgi_key(name)
        if key is None:
            continue
        value = value.strip(" \t")
        if key in environ:
            value = environ[key] + ("; " if key == "HTTP_COOKIE" else ", ") + value
        environ[key] = value
    return head, environ, minor


@FUZZ
@given(valid_requests(), st.binary(max_size=40))
def test_property_valid_requests_round_trip(req: tuple[bytes, dict[str, str], int],
                                            tail: bytes) -> None:
    head, environ, minor = req
    got_env, head_length, info = parse(head + tail)
    assert head_length == len(head)
    assert got_env == environ
    assert info["minor"] == minor and info["keep_alive"] is (minor == 1)
    assert info["content_length"] == -1 and not info["chunked"]


def _mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    for pos, cut, insert in edits:
        pos %= len(data) + 1
        data = data[:pos] + insert + data[pos + cut:]
    return data


INTERESTING = st.sampled_from([b"\r", b"\n", b"\r\n", b" ", b"\t", b":", b",", b"\x00", b"\x0b",
                               b"\x7f", b"\xff", b"Content-Length: 5\r\n", b"Host: x\r\n",
                               b"Transfer-Encoding: chunked\r\n", b"Expect: 100-continue\r\n",
                               b"HTTP/1.0", b"*", b"%", b"?", b"#", b"http://h"])
edits = st.lists(st.tuples(st.integers(0, 400), st.integers(0, 3), INTERESTING | st.binary(max_size=4)),
                 max_size=4)
any_request_bytes = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda r, e: _mutate(r[0], e), valid_requests(), edits),
)


def _check(data: bytes, got: object) -> None:
    if got is None or (isinstance(got, tuple) and got[0] == "error"):
        return
    environ, head_length, info = got
    assert 0 < head_length <= len(data)
    assert data[head_length - 4:head_length] == b"\r\n\r\n"
    assert all(type(k) is str and type(x) is str for k, x in environ.items())
    assert {"REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "SERVER_PROTOCOL"} <= environ.keys()
    assert info["minor"] in (0, 1) and type(info["content_length"]) is int
    assert not (info["chunked"] and info["content_length"] >= 0)


@FUZZ
@given(any_request_bytes)
def test_property_any_bytes_give_request_or_specific_error(data: bytes) -> None:
    """Any input yields None, a request, or an HTTPParseError with a known status - nothing else."""
    _check(data, outcome(data))


@FUZZ
@given(any_request_bytes)
def test_property_prefixes_agree_with_the_whole(data: bytes) -> None:
    """Fed byte by byte, the first decisive prefix decides as the whole input does."""
    whole = outcome(data)
    for k in range(1, len(data) + 1):
        got = outcome(data[:k])
        if got is None:
            continue
        if got[0] == "error":
            assert whole == got, (k, got, whole)
        else:
            assert whole == got and got[1] == k, (k, got, whole)
        return
    assert whole is None
