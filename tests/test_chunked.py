"""The chunked request-body decoder of fastwsgi._cext, fed every way: whole,
byte by byte, random splits and with trailing data. Invariant: any bytes yield
decoded data (and, once the trailer section ends, `done` and the bytes that
followed), or a ChunkedError - nothing else; trailers never become data."""

from __future__ import annotations

import random
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastwsgi import _cext

ChunkedDecoder = _cext.ChunkedDecoder
ChunkedError = _cext.ChunkedError

NEXT = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
SEEDS = range(30)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Body(NamedTuple):
    name: str
    wire: bytes
    data: bytes


class BadBody(NamedTuple):
    name: str
    wire: bytes
    by: int  # the shortest prefix length that must already raise
    bug: str | None = None


GOOD = [
    Body("single", b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
    Body("empty-body", b"0\r\n\r\n", b""),
    Body("several", b"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n", b"hello world"),
    Body("hex-cases", b"a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n",
         b"0123456789abcdefghij"),
    Body("leading-zeros", b"0005\r\nhello\r\n00000000000000000000\r\n\r\n", b"hello"),
    Body("data-looks-like-framing", b"c\r\n0\r\n\r\nGET /x \r\n0\r\n\r\n", b"0\r\n\r\nGET /x "),
    Body("binary-data", b"4\r\n\x00\xff\r\n\r\n0\r\n\r\n", b"\x00\xff\r\n"),
    Body("ext-token", b"5;name=value\r\nhello\r\n0;last\r\n\r\n", b"hello"),
    Body("ext-several", b"5;a;b=c;d=\"e\"\r\nhello\r\n0\r\n\r\n", b"hello"),
    Body("ext-quoted", b"5;q=\"a \\\"b\\\" \t\xe9;=,\"\r\nhello\r\n0\r\n\r\n", b"hello"),
    Body("ext-bws", b"5 \t; a = b ;c\r\nhello\r\n0\r\n\r\n", b"hello"),
    Body("ext-token-chars", b"5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\nhello\r\n0\r\n\r\n", b"hello"),
    Body("trailers", b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nExpires:\r\nX-T:\tv \xff\r\n\r\n",
         b"hello"),
    Body("trailers-exactly-100", b"1\r\nx\r\n0\r\n"
         + b"".join(f"T{i}: v\r\n".encode() for i in range(100)) + b"\r\n", b"x"),
    Body("big-chunk", b"1000\r\n" + b"z" * 4096 + b"\r\n0\r\n\r\n", b"z" * 4096),
]



def bad(name: str, wire: bytes, upto: bytes | None = None, bug: str | None = None,
        by: int | None = None) -> BadBody:
    """upto: the error is due once the wire through the first `upto` is present."""
    if by is None:
        by = len(wire) if upto is None else wire.index(upto) + len(upto)
    return BadBody(name, wire, by, bug)


BAD = [
    # sizes
    bad("size-0x", b"0x5\r\nhello\r\n0\r\n\r\n", b"0x5\r\n"),
    bad("size-plus", b"+5\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("size-minus", b"-5\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("size-underscore", b"1_0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n", b"\r\n"),
    bad("size-empty", b"\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("size-leading-space", b" 5\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("size-trailing-space", b"5 \r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("size-trailing-tab", b"5\t\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("size-not-hex", b"g\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("size-unicode-digit", "\u0665\r\nhello\r\n0\r\n\r\n".encode(), b"\r\n"),
    bad("size-over-2**62", b"4000000000000001\r\n", b"\r\n"),
    bad("size-17-digits", b"10000000000000000\r\n", b"\r\n"),
    bad("size-64-bit-wrap", b"ffffffffffffffff\r\n", b"\r\n"),
    bad("size-huge", b"1" + b"0" * 40 + b"\r\n", b"\r\n"),
    # line endings
    bad("size-bare-lf", b"5\nhello\r\n0\r\n\r\n", b"\n"),
    bad("size-bare-cr", b"5\rhello\r\n0\r\n\r\n", b"\r\n"),
    bad("data-no-crlf", b"5\r\nhelloX\r\n0\r\n\r\n", b"helloX\r"),
    bad("data-bare-lf", b"5\r\nhello\n0\r\n\r\n", b"hello\n0"),
    bad("data-bare-cr", b"5\r\nhello\r0\r\n\r\n", b"hello\r0"),
    bad("data-too-long", b"3\r\nhello\r\n0\r\n\r\n", b"hel" + b"lo"),
    bad("last-chunk-bare-lf", b"5\r\nhello\r\n0\n\r\n", b"0\n"),
    bad("end-bare-lf", b"5\r\nhello\r\n0\r\n\n", b"0\r\n\n"),
    bad("trailer-bare-lf", b"0\r\nX: y\n\r\n", b"y\n"),
    bad("trailer-bare-cr", b"0\r\nX: y\rZ\r\n\r\n", b"Z\r\n"),
    # extensions
    bad("ext-empty", b"5;\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-no-name", b"5;=x\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-no-value", b"5;a=\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-no-semicolon", b"5 a\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-space-in-value", b"5;a=b c\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-space-in-name", b"5;a b\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-bad-token", b"5;a=@\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-name-non-token", b"5;a(b)\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-unterminated-quote", b"5;a=\"b\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-after-quote", b"5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-quote-ctl", b"5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-quote-del", b"5;a=\"\x7f\"\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-quote-bare-cr", b"5;a=\"x\ry\"\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-bare-cr", b"5;a\rb\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-nul", b"5;a\x00\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-last-chunk", b"5\r\nhello\r\n0;=\r\n\r\n", b"0;=\r\n"),
    bad("ext-quoted-pair-cr", b"5;a=\"\\\ry\"\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    bad("ext-quoted-pair-nul", b"5;a=\"\\\x00\"\r\nhello\r\n0\r\n\r\n", b"\r\n"),
    # trailers
    # framing fields in trailers are refused (peers.md 4.3 #13)
    bad("trailer-content-length", b"3\r\nabc\r\n0\r\nContent-Length: 99\r\n\r\n",
        b"Content-Length: 99\r\n"),
    bad("trailer-transfer-encoding", b"0\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"Transfer-Encoding: gzip\r\n"),
    bad("trailer-host", b"0\r\nhost: evil\r\n\r\n", b"host: evil\r\n"),
    bad("trailer-folding", b"0\r\nX: a\r\n b\r\n\r\n", b" b\r\n"),
    bad("trailer-no-colon", b"0\r\nXy\r\n\r\n", b"Xy\r\n"),
    bad("trailer-space-before-colon", b"0\r\nX : y\r\n\r\n", b"y\r\n"),
    bad("trailer-empty-name", b"0\r\n: y\r\n\r\n", b"y\r\n"),
    bad("trailer-name-nul", b"0\r\nX\x00: y\r\n\r\n", b"y\r\n"),
    bad("trailer-value-nul", b"0\r\nX: a\x00b\r\n\r\n", b"b\r\n"),
    bad("trailer-value-ctl", b"0\r\nX: a\x1bb\r\n\r\n", b"b\r\n"),
    bad("trailer-value-del", b"0\r\nX: a\x7fb\r\n\r\n", b"b\r\n"),
    bad("trailer-value-vtab", b"0\r\nX:\x0bb\r\n\r\n", b"b\r\n"),
    bad("trailers-101", b"0\r\n" + b"".join(f"T{i}: v\r\n".encode() for i in range(101)) + b"\r\n",
        b"T100: v\r\n"),
    bad("trailers-over-64k",
        b"0\r\n" + b"".join(b"T: " + b"t" * 3000 + b"\r\n" for _ in range(22)) + b"\r\n",
        by=3 + 22 * 3005),
    bad("size-line-too-long-no-lf", b"5;a=" + b"b" * 5000, b"5;a=" + b"b" * 4093),
    bad("trailer-too-long-no-lf", b"0\r\nX: " + b"v" * 5000, b"0\r\nX: " + b"v" * 4094),
]


def bad_params() -> list[object]:
    return [pytest.param(v, id=v.name, marks=[pytest.mark.xfail(strict=True, reason=v.bug)]
                         if v.bug else []) for v in BAD]


def decode(chunks: list[bytes]) -> tuple[bytes, ChunkedDecoder]:
    dec = ChunkedDecoder()
    out = b""
    for chunk in chunks:
        got = dec.feed(chunk)
        assert type(got) is bytes
        out += got
    return out, dec


def random_chunks(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.randint(0, len(data)) for _ in range(rng.randint(1, 10)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


# --- golden bodies ------------------------------------------------------------

@pytest.mark.parametrize("v", GOOD, ids=[v.name for v in GOOD])
def test_good_whole(v: Body) -> None:
    out, dec = decode([v.wire])
    assert out == v.data and dec.done and dec.trailing == b""


@pytest.mark.parametrize("v", GOOD, ids=[v.name for v in GOOD])
def test_good_byte_by_byte(v: Body) -> None:
    dec = ChunkedDecoder()
    out = b""
    for i in range(len(v.wire)):
        assert not dec.done, i
        out += dec.feed(v.wire[i:i + 1])
        assert v.data.startswith(out)
    assert out == v.data and dec.done and dec.trailing == b""


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("v", GOOD, ids=[v.name for v in GOOD])
def test_good_random_splits_with_trailing(v: Body, seed: int) -> None:
    chunks = random_chunks(v.wire + NEXT, random.Random(seed))
    out, dec = decode(chunks)
    assert out == v.data and dec.done and dec.trailing == NEXT


@pytest.mark.parametrize("v", GOOD, ids=[v.name for v in GOOD])
def test_good_trailing_data(v: Body) -> None:
    out, dec = decode([v.wire + NEXT])
    assert out == v.data and dec.done and dec.trailing == NEXT
    assert dec.feed(b"more") == b"" and dec.trailing == NEXT + b"more"


def test_data_is_returned_as_it_arrives() -> None:
    dec = ChunkedDecoder()
    assert dec.feed(b"a\r\n01234") == b"01234"
    assert dec.feed(b"56789\r") == b"56789"
    assert dec.feed(b"\n") == b"" and not dec.done
    assert dec.feed(b"0\r\nX: y\r\n") == b"" and not dec.done
    assert dec.feed(b"\r\n") == b"" and dec.done


def test_truncated_body_is_never_done() -> None:
    """`0\\r\\n` then EOF is not a complete body (gunicorn 26.1, #3382)."""
    for wire in (b"0\r\n", b"5\r\nhello\r\n0\r\n", b"5\r\nhello\r\n0\r\nX: y\r\n", b"5\r\nhel"):
        out, dec = decode([wire])
        assert not dec.done and dec.trailing == b"", wire


def test_size_at_the_limit_is_accepted() -> None:
    dec = ChunkedDecoder()
    assert dec.feed(b"4000000000000000\r\nabc") == b"abc" and not dec.done


# --- malformed bodies ---------------------------------------------------------

@pytest.mark.parametrize("v", bad_params())
def test_bad_whole(v: BadBody) -> None:
    with pytest.raises(ChunkedError):
        decode([v.wire])


@pytest.mark.parametrize("v", [p for p in bad_params() if not p.id.endswith("no-lf")])
def test_bad_with_trailing_data(v: BadBody) -> None:
    with pytest.raises(ChunkedError):
        decode([v.wire + NEXT])


@pytest.mark.parametrize("v", bad_params())
def test_bad_byte_by_byte(v: BadBody) -> None:
    """Refused no later than when the offending bytes are present."""
    dec = ChunkedDecoder()
    for i in range(len(v.wire)):
        try:
            dec.feed(v.wire[i:i + 1])
        except ChunkedError as exc:
            assert isinstance(exc, ValueError)
            assert i < v.by
            return
        assert not dec.done
        assert i + 1 < v.by, "not refused by the time the offending bytes were present"
    pytest.fail("never refused")


@pytest.mark.parametrize("seed", SEEDS[:8])
@pytest.mark.parametrize("v", bad_params())
def test_bad_random_splits(v: BadBody, seed: int) -> None:
    with pytest.raises(ChunkedError):
        decode(random_chunks(v.wire, random.Random(seed)))


_LONG_EXT = b"5;a=" + b"b" * 5000 + b"\r\nhello\r\n0\r\n\r\n"
_LONG_TRAILER = b"0\r\nX: " + b"v" * 5000 + b"\r\n\r\n"


@pytest.mark.parametrize("wire", [_LONG_EXT, _LONG_TRAILER], ids=["size-line", "trailer"])
def test_long_line_same_verdict_whole_and_split(wire: bytes) -> None:
    def verdict(chunks: list[bytes]) -> object:
        try:
            return decode(chunks)[0]
        except ChunkedError:
            return "error"
    assert verdict([wire]) == verdict([wire[:4500], wire[4500:]])


# --- properties ---------------------------------------------------------------

TOKEN = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
QDTEXT = "\t !" + "".join(chr(c) for c in range(0x23, 0x7f) if c != 0x5c) \
    + "".join(chr(c) for c in range(0x80, 0x100))
VCHAR = "".join(chr(c) for c in range(0x21, 0x7f))
tokens = st.text(TOKEN, min_size=1, max_size=8)
quoted = st.lists(st.text(QDTEXT, min_size=1, max_size=4) | st.sampled_from(VCHAR + " \t").map(
    lambda c: "\\" + c), max_size=4).map(lambda parts: '"' + "".join(parts) + '"')
bws = st.sampled_from(["", " ", "\t", " \t "])
extension = st.builds(lambda b1, name, val: f"{b1};{name}{val}", bws, tokens,
                      st.none().map(lambda _: "") | tokens.map("=".__add__) | quoted.map("=".__add__))
extensions = st.lists(extension, max_size=3).map("".join)
trailer = st.builds(lambda n, v: f"{n}:{v}\r\n", tokens,
                    st.text("\t " + VCHAR + "".join(chr(c) for c in range(0x80, 0x100)), max_size=20))


@st.composite
def encoded(draw: st.DrawFn) -> tuple[bytes, bytes]:
    data = draw(st.binary(max_size=600))
    wire = b""
    pos = 0
    while pos < len(data):
        size = draw(st.integers(1, max(1, len(data) - pos)))
        digits = draw(st.sampled_from(["x", "X", "08x"]))
        wire += (format(size, digits) + draw(extensions) + "\r\n").encode("latin-1")
        wire += data[pos:pos + size] + b"\r\n"
        pos += size
    wire += ("0" + draw(extensions) + "\r\n" + "".join(draw(st.lists(trailer, max_size=4)))
             + "\r\n").encode("latin-1")
    return data, wire


@FUZZ
@given(encoded(), st.binary(max_size=30), st.randoms(use_true_random=False))
def test_property_encode_decode_round_trip(enc: tuple[bytes, bytes], tail: bytes,
                                           rng: random.Random) -> None:
    data, wire = enc
    out, dec = decode(random_chunks(wire + tail, rng))
    assert out == data and dec.done and dec.trailing == tail


INTERESTING = st.sampled_from([b"\r", b"\n", b"\r\n", b";", b"=", b'"', b"\\", b" ", b"0", b"f",
                               b"\x00", b"\x7f", b"\xff", b":", b"0\r\n\r\n"])
edits = st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 3),
                           INTERESTING | st.binary(max_size=3)), max_size=4)


def _mutate(wire: bytes, changes: list[tuple[int, int, bytes]]) -> bytes:
    for pos, cut, insert in changes:
        pos %= len(wire) + 1
        wire = wire[:pos] + insert + wire[pos + cut:]
    return wire


any_bytes = st.one_of(st.binary(max_size=300),
                      st.builds(lambda e, c: _mutate(e[1], c), encoded(), edits))


def _verdict(chunks: list[bytes]) -> object:
    try:
        out, dec = decode(chunks)
    except ChunkedError as exc:
        assert isinstance(exc, ValueError) and str(exc)
        return "error"
    return out, dec.done, dec.trailing


@FUZZ
@given(any_bytes, st.randoms(use_true_random=False))
def test_property_any_bytes_give_data_or_chunked_error(wire: bytes, rng: random.Random) -> None:
    """Any input yields data or a ChunkedError, nothing else, however it is split."""
    whole = _verdict([wire])
    if whole != "error":
        out, done, trailing = whole
        assert len(out) <= len(wire) and (done or trailing == b"")
        assert trailing == b"" or wire.endswith(trailing)
    assert _verdict(random_chunks(wire, rng)) == whole
    bytewise = _verdict([wire[i:i + 1] for i in range(len(wire))])
    assert bytewise == whole
