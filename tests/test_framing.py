"""The uwsgi codec of fastwsgi._cext, fed every way: whole, byte by byte,
random splits and with trailing body data. Invariant: any input yields an
environ, "need more bytes", or a specific FramingError - nothing else."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastwsgi import _cext, errors, protocol
from fastwsgi.errors import (
    FrameTooLarge,
    FramingError,
    InvalidVariable,
    TruncatedVariable,
    UnsupportedModifier,
)
from tests.vectors.uwsgi_golden import BAD, GOOD, POST_BODY, Vector

FrameDecoder = _cext.FrameDecoder
body_length = _cext.body_length
decode_frame = _cext.decode_frame
decode_vars = _cext.decode_vars
encode_frame = _cext.encode_frame

BODY = b"\x00\x00\x00\x00 body bytes that look like a frame \xff\r\n"
SEEDS = range(150)
CANONICAL = [v for v in GOOD if v.canonical]
BAD_VARS = [v for v in BAD if v.raise_at is None]  # errors in the variable block


def ids(vectors: list[Vector]) -> list[str]:
    return [v.name for v in vectors]


def random_chunks(data: bytes, rng: random.Random) -> list[bytes]:
    """Split data at random points (empty chunks included)."""
    cuts = sorted(rng.randint(0, len(data)) for _ in range(rng.randint(0, 8)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def feed_all(chunks: list[bytes]) -> tuple[FrameDecoder, list[int]]:
    """Feed chunks; return the decoder and the indexes of feeds that returned an environ."""
    dec = FrameDecoder()
    hits = []
    for i, chunk in enumerate(chunks):
        if dec.feed(chunk) is not None:
            hits.append(i)
    return dec, hits


def error_offset(v: Vector) -> int:
    return len(v.frame) - 1 if v.raise_at is None else v.raise_at


# --- the vectors themselves ---------------------------------------------------

@pytest.mark.parametrize("v", GOOD, ids=ids(GOOD))
def test_good_vector_datasize_matches_block(v: Vector) -> None:
    assert v.frame[0] == 0 and v.frame[3] == 0
    assert int.from_bytes(v.frame[1:3], "little") == len(v.frame) - protocol.HEADER_SIZE


@pytest.mark.parametrize("v", CANONICAL, ids=ids(CANONICAL))
def test_encode_reproduces_golden_bytes(v: Vector) -> None:
    assert encode_frame(v.expected) == v.frame


# --- good vectors, every way ----------------------------------------------------

@pytest.mark.parametrize("v", GOOD, ids=ids(GOOD))
def test_good_decode_whole(v: Vector) -> None:
    env, consumed = decode_frame(v.frame)
    assert env == v.expected
    assert list(env) == list(v.expected)  # variable order is kept
    assert all(type(k) is str and type(x) is str for k, x in env.items())
    assert consumed == len(v.frame)


@pytest.mark.parametrize("v", GOOD, ids=ids(GOOD))
def test_good_decode_with_trailing_body(v: Vector) -> None:
    data = v.frame + BODY
    env, consumed = decode_frame(data)
    assert env == v.expected
    assert consumed == len(v.frame)
    assert data[consumed:] == BODY


@pytest.mark.parametrize("v", GOOD, ids=ids(GOOD))
def test_good_every_proper_prefix_is_incomplete(v: Vector) -> None:
    for n in range(len(v.frame)):
        assert decode_frame(v.frame[:n]) is None, n
        assert decode_frame(bytearray(v.frame[:n])) is None, n


@pytest.mark.parametrize("v", GOOD, ids=ids(GOOD))
def test_good_decode_vars_of_block(v: Vector) -> None:
    assert decode_vars(v.frame[4:]) == v.expected


@pytest.mark.parametrize("v", GOOD, ids=ids(GOOD))
def test_good_decoder_whole(v: Vector) -> None:
    dec = FrameDecoder()
    assert not dec.done and dec.environ is None and dec.trailing == b""
    assert dec.feed(v.frame) == v.expected
    assert dec.done
    assert dec.environ == v.expected
    assert dec.trailing == b""


@pytest.mark.parametrize("body", [b"", BODY], ids=["no_body", "body"])
@pytest.mark.parametrize("v", GOOD, ids=ids(GOOD))
def test_good_decoder_byte_by_byte(v: Vector, body: bytes) -> None:
    data = v.frame + body
    dec, hits = feed_all([data[i:i + 1] for i in range(len(data))])
    assert hits == [len(v.frame) - 1]  # exactly when the last frame byte arrives
    assert dec.environ == v.expected
    assert dec.trailing == body


@pytest.mark.parametrize("v", GOOD, ids=ids(GOOD))
def test_good_decoder_random_splits(v: Vector) -> None:
    for seed in SEEDS:
        rng = random.Random(seed)
        body = BODY[: rng.randint(0, len(BODY))]
        chunks = random_chunks(v.frame + body, rng)
        dec, hits = feed_all(chunks)
        assert len(hits) == 1, seed
        assert dec.done and dec.environ == v.expected, seed
        assert dec.trailing == body, seed
        # The completing chunk is the one holding the frame's last byte.
        before = sum(map(len, chunks[: hits[0]]))
        assert before < len(v.frame) <= before + len(chunks[hits[0]]), seed


@pytest.mark.parametrize("v", GOOD, ids=ids(GOOD))
def test_good_decoder_whole_with_body_then_more(v: Vector) -> None:
    dec = FrameDecoder()
    assert dec.feed(v.frame + BODY[:5]) == v.expected
    assert dec.trailing == BODY[:5]
    assert dec.feed(BODY[5:]) is None  # the environ is reported once
    assert dec.trailing == BODY
    assert dec.environ == v.expected


def test_post_body_follows_frame() -> None:
    post = next(v for v in GOOD if v.name == "nginx_post")
    env, consumed = decode_frame(post.frame + POST_BODY)
    assert body_length(env) == len(POST_BODY)
    assert (post.frame + POST_BODY)[consumed:consumed + body_length(env)] == POST_BODY


# --- bad vectors, every way -----------------------------------------------------

@pytest.mark.parametrize("body", [b"", BODY], ids=["no_body", "body"])
@pytest.mark.parametrize("v", BAD, ids=ids(BAD))
def test_bad_decode_whole(v: Vector, body: bytes) -> None:
    with pytest.raises(v.expected):
        decode_frame(v.frame + body)
    with pytest.raises(v.expected):
        FrameDecoder().feed(v.frame + body)


@pytest.mark.parametrize("v", BAD, ids=ids(BAD))
def test_bad_decode_raises_as_soon_as_possible(v: Vector) -> None:
    at = error_offset(v)
    for n in range(at + 1):  # everything before the offending byte is "need more"
        assert decode_frame(v.frame[:n]) is None, n
    with pytest.raises(v.expected):
        decode_frame(v.frame[: at + 1])


@pytest.mark.parametrize("body", [b"", BODY], ids=["no_body", "body"])
@pytest.mark.parametrize("v", BAD, ids=ids(BAD))
def test_bad_decoder_byte_by_byte(v: Vector, body: bytes) -> None:
    data = v.frame + body
    dec = FrameDecoder()
    for i in range(len(data)):
        if i == error_offset(v):
            with pytest.raises(v.expected):
                dec.feed(data[i:i + 1])
            break
        assert dec.feed(data[i:i + 1]) is None, i
    else:
        pytest.fail("no error raised")
    assert not dec.done and dec.environ is None


@pytest.mark.parametrize("v", BAD, ids=ids(BAD))
def test_bad_decoder_random_splits(v: Vector) -> None:
    at = error_offset(v)
    for seed in SEEDS:
        rng = random.Random(seed)
        chunks = random_chunks(v.frame + BODY[: rng.randint(0, len(BODY))], rng)
        dec, fed = FrameDecoder(), 0
        for chunk in chunks:
            fed += len(chunk)
            if fed > at:  # this chunk carries the offending byte
                with pytest.raises(v.expected):
                    dec.feed(chunk)
                break
            assert dec.feed(chunk) is None, seed
        else:
            pytest.fail(f"seed {seed}: no error raised")


@pytest.mark.parametrize("v", BAD, ids=ids(BAD))
def test_bad_decoder_stays_poisoned(v: Vector) -> None:
    dec = FrameDecoder()
    with pytest.raises(v.expected):
        dec.feed(v.frame)
    with pytest.raises(v.expected):
        dec.feed(b"\x00\x00\x00\x00")
    assert not dec.done and dec.environ is None and dec.trailing == b""


@pytest.mark.parametrize("v", BAD_VARS, ids=ids(BAD_VARS))
def test_bad_decode_vars_of_block(v: Vector) -> None:
    with pytest.raises(v.expected):
        decode_vars(v.frame[4:])


def test_error_hierarchy() -> None:
    for cls in (UnsupportedModifier, TruncatedVariable, InvalidVariable, FrameTooLarge):
        assert issubclass(cls, FramingError)
    assert issubclass(FramingError, ValueError)
    assert issubclass(FramingError, errors.FastWSGIError)


# --- encoder and round trips ------------------------------------------------------

ROUND_TRIPS = {
    "empty": {},
    "empty_values": {"SCRIPT_NAME": "", "QUERY_STRING": "", "A": ""},
    "latin1": {"HTTP_X_NAME": "caf\xe9 \xff\x80", "PATH_INFO": "/\xe4\xf6\xfc", "K\xe9": "v"},
    "all_latin1_chars": {"ALL": "".join(map(chr, range(256)))},
    "framing_vars": {"CONTENT_LENGTH": "12", protocol.STREAM_VAR: "1"},
    "long_value": {"HTTP_COOKIE": "c" * 65000},
}


@pytest.mark.parametrize("env", ROUND_TRIPS.values(), ids=list(ROUND_TRIPS))
def test_round_trip(env: dict[str, str]) -> None:
    frame = encode_frame(env)
    assert frame[0] == 0 and frame[3] == 0
    assert decode_frame(frame) == (env, len(frame))
    dec = FrameDecoder()
    assert dec.feed(frame + BODY) == env and dec.trailing == BODY


def test_encode_accepts_bytes_and_pairs() -> None:
    frame = encode_frame([(b"A", b"\xe9"), ("A", "x"), ("B", b"")])
    assert frame == b"\x00\x11\x00\x00\x01\x00A\x01\x00\xe9\x01\x00A\x01\x00x\x01\x00B\x00\x00"
    assert decode_frame(frame) == ({"A": "x", "B": ""}, len(frame))


def test_encode_modifiers_and_decoder_refuses_them() -> None:
    frame = encode_frame({"A": "b"}, 5, 7)
    assert frame[:4] == b"\x05\x06\x00\x07"
    with pytest.raises(UnsupportedModifier):
        decode_frame(frame)
    with pytest.raises(UnsupportedModifier):
        decode_frame(encode_frame({}, 0, 1))
    assert encode_frame({}, modifier1=0, modifier2=0) == b"\x00\x00\x00\x00"


@pytest.mark.parametrize("mods", [(256, 0), (0, 256), (-1, 0)])
def test_encode_modifier_out_of_range(mods: tuple[int, int]) -> None:
    with pytest.raises(FramingError):
        encode_frame({}, *mods)


def test_max_block_exactly() -> None:
    env = {"K": "v" * (protocol.MAX_VARS_SIZE - 5)}
    frame = encode_frame(env)
    assert len(frame) == protocol.HEADER_SIZE + protocol.MAX_VARS_SIZE
    assert frame[:6] == b"\x00\xff\xff\x00\x01\x00"
    assert decode_frame(frame) == (env, len(frame))
    assert decode_frame(frame[:-1]) is None
    dec = FrameDecoder()
    assert dec.feed(frame + BODY) == env and dec.trailing == BODY


@pytest.mark.parametrize(
    "env",
    [
        {"K": "v" * (protocol.MAX_VARS_SIZE - 4)},  # block one byte over
        {"K": "v" * 40000, "L": "w" * 25531},  # over only in total
        {"K": "v" * 65536},  # value over u16
        {"K" * 65536: ""},  # key over u16
        {"K": "v" * 65535},  # value fits u16, block does not
    ],
    ids=["block_plus_one", "total", "value", "key", "value_max"],
)
def test_encode_too_large(env: dict[str, str]) -> None:
    with pytest.raises(FrameTooLarge):
        encode_frame(env)


@pytest.mark.parametrize(
    "env",
    [{"": "x"}, {b"": "x"}, {"A": "\u20ac"}, {"\u0100": "x"}, {"A": 1}, {1: "x"}, {"A": None}],
)
def test_encode_invalid_variables(env: dict[object, object]) -> None:
    with pytest.raises(InvalidVariable):
        encode_frame(env)


def test_decode_vars_into_given_env() -> None:
    env = {"wsgi.version": (1, 0), "A": "old"}
    out = decode_vars(b"\x01\x00A\x01\x00b\x01\x00C\x00\x00", env)
    assert out is env
    assert env == {"wsgi.version": (1, 0), "A": "b", "C": ""}
    assert decode_vars(b"") == {}
    with pytest.raises(InvalidVariable):
        decode_vars(b"\x0e\x00CONTENT_LENGTH\x01\x006", {"CONTENT_LENGTH": "5"})


def test_decode_short_data_with_large_datasize() -> None:
    assert decode_frame(b"") is None
    assert decode_frame(b"\x00") is None
    assert decode_frame(b"\x00\xff\xff") is None
    assert decode_frame(b"\x00\xff\xff\x00" + b"\x01\x00A\x00\x00" * 100) is None


# --- body_length ------------------------------------------------------------------

S = protocol.STREAM_VAR


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, 0),
        ({"CONTENT_LENGTH": ""}, 0),
        ({"CONTENT_LENGTH": "0"}, 0),
        ({"CONTENT_LENGTH": "11"}, 11),
        ({"CONTENT_LENGTH": "007"}, 7),
        ({"CONTENT_LENGTH": "9" * 18}, 10**18 - 1),
        ({S: "1"}, -1),
        ({S: "1", "CONTENT_LENGTH": ""}, -1),
    ],
)
def test_body_length(env: dict[str, str], expected: int) -> None:
    assert body_length(env) == expected


@pytest.mark.parametrize(
    "env",
    [{"CONTENT_LENGTH": cl} for cl in (
        "-1", "+1", " 1", "1 ", "1\t", "1.0", "0x10", "1e3", "1_000", "abc",
        "\uff11", "\xb2", "\u0663", "9" * 19, "1" * 40, str(protocol.MAX_CONTENT_LENGTH + 1),
    )]
    + [{S: v} for v in ("0", "", "true", "11", " 1")]
    + [{S: "1", "CONTENT_LENGTH": "5"}, {S: "1", "CONTENT_LENGTH": "0"}],
)
def test_body_length_invalid(env: dict[str, str]) -> None:
    with pytest.raises(InvalidVariable):
        body_length(env)


def test_body_length_accepts_max_content_length() -> None:
    top = protocol.MAX_CONTENT_LENGTH
    assert body_length({"CONTENT_LENGTH": str(top)}) == top
    with pytest.raises(InvalidVariable):
        body_length({"CONTENT_LENGTH": str(top + 1)})


# --- properties -------------------------------------------------------------------

@st.composite
def frame_like(draw: st.DrawFn) -> bytes:
    """Bytes that mostly pass the header check, so the variable parser is exercised."""
    rest = draw(st.binary(max_size=200))
    size = draw(st.integers(0, len(rest) + 3))
    mods = draw(st.sampled_from([(0, 0)] * 8 + [(0, 1), (1, 0)]))
    return bytes([mods[0], size & 0xFF, size >> 8, mods[1]]) + rest


@settings(deadline=None, max_examples=300)
@given(st.one_of(st.binary(max_size=300), frame_like()))
def test_property_decode_any_bytes(data: bytes) -> None:
    try:
        result = decode_frame(data)
    except FramingError as exc:
        with pytest.raises(type(exc)):  # the incremental decoder agrees
            feed_all([data[i:i + 1] for i in range(len(data))])
        return
    dec, hits = feed_all([data[i:i + 1] for i in range(len(data))])
    if result is None:
        assert not hits and not dec.done
        return
    env, consumed = result
    assert type(env) is dict and type(consumed) is int
    assert 4 <= consumed <= len(data)
    assert consumed == 4 + int.from_bytes(data[1:3], "little")
    assert all(type(k) is str and k and type(v) is str for k, v in env.items())
    assert dec.environ == env and dec.trailing == data[consumed:]


latin1_text = st.text(alphabet=st.characters(max_codepoint=255))


@settings(deadline=None, max_examples=300)
@given(st.dictionaries(latin1_text.filter(bool), latin1_text, max_size=20), st.integers(0, 2**32))
def test_property_round_trip(env: dict[str, str], seed: int) -> None:
    frame = encode_frame(env)
    assert decode_frame(frame) == (env, len(frame))
    dec, hits = feed_all(random_chunks(frame + BODY, random.Random(seed)))
    assert len(hits) == 1 and dec.environ == env and dec.trailing == BODY


_latin1 = st.text(st.characters(max_codepoint=255), max_size=40)
_any_text = st.text(max_size=20)  # may leave latin-1: the error must not change


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_latin1, st.one_of(_latin1, st.binary(max_size=40), _any_text),
                       max_size=12))
def test_dict_fast_path_encodes_as_the_general_path(env: dict) -> None:
    # encode_frame writes a dict of plain strs in one sized pass; pairs take
    # the general path. Same bytes, or the same error, for any content.
    def outcome(variables: object) -> object:
        try:
            return _cext.encode_frame(variables)
        except (errors.InvalidVariable, errors.FrameTooLarge) as exc:
            return type(exc), str(exc)
    assert outcome(env) == outcome(list(env.items()))
