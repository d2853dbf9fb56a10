"""Validation and serialisation of the status and headers given to start_response.

Invariant: whatever an application passes, either ResponseError is raised or
the head is well-formed lines - no CR, LF or NUL can reach the wire inside one.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastwsgi import _cext
from fastwsgi.errors import FastWSGIError, ResponseError

encode_head = _cext.encode_head
parse_status = _cext.parse_status

PREFIX = b"HTTP/1.1 "
CONTROLS = [chr(c) for c in range(32) if c != 9] + ["\x7f"]  # HTAB is allowed


def head(status: str, headers: list) -> bytes:
    return encode_head(PREFIX, status, headers)[1]


# --- valid heads ----------------------------------------------------------------

def test_simple_head_exact() -> None:
    assert encode_head(PREFIX, "200 OK", [("A", "b")]) == (200, b"HTTP/1.1 200 OK\r\nA: b\r\n", -1)


def test_no_headers_no_blank_line() -> None:
    assert encode_head(PREFIX, "404 Not Found", []) == (404, b"HTTP/1.1 404 Not Found\r\n", -1)
    assert encode_head(b"", "204 No Content", []) == (204, b"204 No Content\r\n", -1)


def test_headers_keep_order_and_duplicates() -> None:
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Set-Cookie", "a=1; Path=/"),
        ("Set-Cookie", "b=2"),
        ("X-Empty", ""),
    ]
    assert head("201 Created", headers) == (
        b"HTTP/1.1 201 Created\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Set-Cookie: a=1; Path=/\r\n"
        b"Set-Cookie: b=2\r\n"
        b"X-Empty: \r\n"
    )


def test_every_token_character_is_a_valid_name() -> None:
    name = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    assert head("200 OK", [(name, "v")]) == b"HTTP/1.1 200 OK\r\n" + name.encode() + b": v\r\n"


def test_latin1_and_tab_are_field_content() -> None:
    out = head("200 Tr\xe8s\tbien", [("X-Name", "caf\xe9\t\xff \x80")])
    assert out == b"HTTP/1.1 200 Tr\xe8s\tbien\r\nX-Name: caf\xe9\t\xff \x80\r\n"


@pytest.mark.parametrize(
    ("status", "code"),
    [("200 OK", 200), ("404 Not Found", 404), ("599 Custom", 599),
     ("301 ", 301), ("418 I'm a teapot", 418), ("500 Internal Server Error", 500)],
)
def test_parse_status(status: str, code: int) -> None:
    assert parse_status(status) == code
    assert encode_head(PREFIX, status, [])[0] == code


@pytest.mark.parametrize("status", ["100 Continue", "101 Switching Protocols", "103 Early Hints"])
def test_an_interim_status_is_no_response(status: str) -> None:
    assert parse_status(status) == int(status[:3])  # a valid status, but not a final one
    with pytest.raises(ResponseError, match="interim"):
        encode_head(PREFIX, status, [])


def test_content_length_repeated_goes_once_and_never_with_204() -> None:
    assert encode_head(PREFIX, "200 OK", [("Content-Length", "5"), ("content-length", "5")]) \
        == (200, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", 5)
    assert encode_head(PREFIX, "204 No Content", [("Content-Length", "5"), ("X", "y")]) \
        == (204, b"HTTP/1.1 204 No Content\r\nX: y\r\n", -1)


# --- invalid status ---------------------------------------------------------------

BAD_STATUS = [
    b"200 OK", bytearray(b"200 OK"), None, 200, ["200 OK"],
    "", "2", "20", "20 OK", "2000 OK", "200OK", "2 00 OK", " 200 OK", "OK 200", "abc OK",
    "20x OK", "200\tOK", "099 Low", "000 Zero", "050 X",
    "200 OK\r\n", "200 O\nK", "200 OK\r", "200 OK\x00", "200 OK\r\nSet-Cookie: x=1",
    "200 OK\u20ac", "\u0662\u0660\u0660 OK",
] + ["200 O" + c + "K" for c in CONTROLS]


@pytest.mark.parametrize("status", BAD_STATUS, ids=[repr(s) for s in BAD_STATUS])
def test_bad_status(status: object) -> None:
    with pytest.raises(ResponseError):
        parse_status(status)
    with pytest.raises(ResponseError):
        encode_head(PREFIX, status, [])


@pytest.mark.parametrize("status", ["600 Too High", "999 Max"])
def test_status_above_599(status: str) -> None:
    with pytest.raises(ResponseError):
        parse_status(status)


def test_response_error_is_a_fastwsgi_error() -> None:
    assert issubclass(ResponseError, FastWSGIError)


# --- invalid headers --------------------------------------------------------------

@pytest.mark.parametrize(
    "headers",
    [(("A", "b"),), {"A": "b"}, None, "A: b", iter([("A", "b")])],
    ids=["tuple", "dict", "none", "str", "iterator"],
)
def test_headers_must_be_a_list(headers: object) -> None:
    with pytest.raises(ResponseError):
        encode_head(PREFIX, "200 OK", headers)


@pytest.mark.parametrize(
    "item",
    ["A: b", ("A",), ("A", "b", "c"), ["A", "b"], None, ()],
    ids=["str", "1-tuple", "3-tuple", "list", "none", "empty"],
)
def test_header_items_must_be_pairs(item: object) -> None:
    with pytest.raises(ResponseError):
        encode_head(PREFIX, "200 OK", [("Ok", "1"), item])


BAD_NAMES = ["", "A B", "A:", "X-Foo:", ":A", " A", "A ", "A\t", "A\r\n", "A\r\nB", "\xe9",
             "A(b)", "A/B", "A@", 'A"', "A,B", "A;B", "A=B", "A[", "A{", "A\\", "A?", "\u0100"]
BAD_NAMES += ["A" + c for c in CONTROLS]


@pytest.mark.parametrize("name", BAD_NAMES, ids=[repr(n) for n in BAD_NAMES])
def test_bad_header_name(name: str) -> None:
    with pytest.raises(ResponseError):
        encode_head(PREFIX, "200 OK", [(name, "v")])


BAD_VALUES = ["a\r\nSet-Cookie: x=1", "a\rb", "a\nb", "a\x00", "\r\n",
              "\u20ac", "\u0100", "a\ud800"]
BAD_VALUES += ["a" + c + "b" for c in CONTROLS]


@pytest.mark.parametrize("value", BAD_VALUES, ids=[repr(v) for v in BAD_VALUES])
def test_bad_header_value(value: str) -> None:
    with pytest.raises(ResponseError):
        encode_head(PREFIX, "200 OK", [("X-Test", value)])


@pytest.mark.parametrize(
    "pair",
    [(b"A", "b"), ("A", b"b"), (1, "b"), ("A", 1), (None, "b"), ("A", None),
     ("A", bytearray(b"b"))],
    ids=["bytes-name", "bytes-value", "int-name", "int-value", "none-name", "none-value",
         "bytearray"],
)
def test_header_name_and_value_must_be_str(pair: tuple[object, object]) -> None:
    with pytest.raises(ResponseError):
        encode_head(PREFIX, "200 OK", [pair])


# --- Content-Length -----------------------------------------------------------------

@pytest.mark.parametrize(
    "name", ["Content-Length", "content-length", "CONTENT-LENGTH", "cOnTeNt-LeNgTh"]
)
def test_content_length_any_case(name: str) -> None:
    code, out, clen = encode_head(PREFIX, "200 OK", [(name, "11")])
    assert (code, clen) == (200, 11)
    assert out == b"HTTP/1.1 200 OK\r\n" + name.encode() + b": 11\r\n"


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("007", 7), ("9" * 18, 10**18 - 1)])
def test_content_length_values(value: str, expected: int) -> None:
    assert encode_head(PREFIX, "200 OK", [("Content-Length", value)])[2] == expected


def test_content_length_absent_and_lookalikes() -> None:
    headers = [("Content-Lengths", "x"), ("X-Content-Length", "y"), ("Content-Type", "z")]
    assert encode_head(PREFIX, "200 OK", headers)[2] == -1


def test_identical_content_length_duplicates_allowed() -> None:
    headers = [("Content-Length", "5"), ("X", "y"), ("content-length", "5")]
    assert encode_head(PREFIX, "200 OK", headers)[2] == 5


@pytest.mark.parametrize(
    "values", [("5", "6"), ("0", "1"), ("10", "1")], ids=lambda v: "-".join(v)
)
def test_conflicting_content_length(values: tuple[str, str]) -> None:
    headers = [("Content-Length", values[0]), ("Content-Length", values[1])]
    with pytest.raises(ResponseError):
        encode_head(PREFIX, "200 OK", headers)


BAD_CL = ["", " 11", "11 ", "1 1", "-1", "+1", "1.0", "0x1", "1e3", "1_0", "abc", "\xb2", "\xbd",
          "1" * 40, "11\t"]


@pytest.mark.parametrize("value", BAD_CL, ids=[repr(v) for v in BAD_CL])
def test_bad_content_length(value: str) -> None:
    with pytest.raises(ResponseError):
        encode_head(PREFIX, "200 OK", [("Content-Length", value)])


# --- property -----------------------------------------------------------------------

edgy_text = st.text(
    alphabet=st.one_of(st.characters(max_codepoint=0x130), st.sampled_from("\r\n\x00\t\x7f :")),
    max_size=24,
)
statuses = st.one_of(
    edgy_text,
    st.builds(lambda c, r: f"{c:03d} {r}", st.integers(0, 999), edgy_text),
)
names = st.one_of(edgy_text, st.from_regex(r"\A[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}\Z"),
                  st.sampled_from(["Content-Length", "content-length"]))
values = st.one_of(edgy_text, st.integers(0, 10**20).map(str))


@settings(deadline=None, max_examples=300)
@given(statuses, st.lists(st.tuples(names, values), max_size=6))
def test_property_head_is_clean_lines(status: str, headers: list[tuple[str, str]]) -> None:
    try:
        code, out, clen = encode_head(PREFIX, status, headers)
    except ResponseError:
        return
    assert type(out) is bytes and out.endswith(b"\r\n")
    assert b"\x00" not in out
    lines = out[:-2].split(b"\r\n")
    assert len(lines) == 1 + len(headers)
    for line in lines:
        assert b"\r" not in line and b"\n" not in line
    assert lines[0] == PREFIX + status.encode("latin-1")
    assert code == int(status[:3]) and code >= 100
    for line, (name, value) in zip(lines[1:], headers, strict=True):
        assert line == name.encode("latin-1") + b": " + value.encode("latin-1")
    lengths = {int(v) for n, v in headers if n.lower() == "content-length"}
    assert clen == (lengths.pop() if lengths else -1)
