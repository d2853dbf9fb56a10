"""Golden uwsgi packets, written out byte by byte (u16 lengths are little-endian).

Each vector is a frame and what decoding it must give: the environ dict, or
the FramingError subclass it must raise. ``raise_at`` is the offset of the
byte whose arrival must trigger the error (None: the frame's last byte).
``canonical`` frames are exactly what encode_frame(expected) produces.
"""

from __future__ import annotations

from typing import NamedTuple

from fastwsgi.errors import InvalidVariable, TruncatedVariable, UnsupportedModifier


class Vector(NamedTuple):
    name: str
    frame: bytes
    expected: dict[str, str] | type[Exception]
    raise_at: int | None = None
    canonical: bool = True


# What Apache's mod_proxy_uwsgi sends for `curl http://www.example.com/app/hello?q=café&x=1`
# (datasize 520 = 0x0208 exercises the high byte of the u16).
APACHE_GET = (
    b"\x00\x08\x02\x00"
    b"\x09\x00HTTP_HOST\x0f\x00www.example.com"
    b"\x0f\x00HTTP_USER_AGENT\x0a\x00curl/8.5.0"
    b"\x0b\x00HTTP_ACCEPT\x03\x00*/*"
    b"\x04\x00PATH\x1c\x00/usr/local/bin:/usr/bin:/bin"
    b"\x10\x00SERVER_SIGNATURE\x00\x00"
    b"\x0f\x00SERVER_SOFTWARE\x16\x00Apache/2.4.62 (Debian)"
    b"\x0b\x00SERVER_NAME\x0f\x00www.example.com"
    b"\x0b\x00SERVER_ADDR\x09\x00127.0.0.1"
    b"\x0b\x00SERVER_PORT\x02\x0080"
    b"\x0b\x00REMOTE_ADDR\x09\x00127.0.0.1"
    b"\x0d\x00DOCUMENT_ROOT\x0d\x00/var/www/html"
    b"\x0e\x00REQUEST_SCHEME\x04\x00http"
    b"\x11\x00GATEWAY_INTERFACE\x07\x00CGI/1.1"
    b"\x0f\x00SERVER_PROTOCOL\x08\x00HTTP/1.1"
    b"\x0e\x00REQUEST_METHOD\x03\x00GET"
    b"\x0c\x00QUERY_STRING\x0a\x00q=caf\xe9&x=1"
    b"\x0b\x00REQUEST_URI\x1a\x00/app/hello?q=caf%C3%A9&x=1"
    b"\x0b\x00SCRIPT_NAME\x04\x00/app"
    b"\x09\x00PATH_INFO\x06\x00/hello"
    b"\x0b\x00REMOTE_PORT\x05\x0051234"
)
APACHE_GET_ENV = {
    "HTTP_HOST": "www.example.com",
    "HTTP_USER_AGENT": "curl/8.5.0",
    "HTTP_ACCEPT": "*/*",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "SERVER_SIGNATURE": "",
    "SERVER_SOFTWARE": "Apache/2.4.62 (Debian)",
    "SERVER_NAME": "www.example.com",
    "SERVER_ADDR": "127.0.0.1",
    "SERVER_PORT": "80",
    "REMOTE_ADDR": "127.0.0.1",
    "DOCUMENT_ROOT": "/var/www/html",
    "REQUEST_SCHEME": "http",
    "GATEWAY_INTERFACE": "CGI/1.1",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REQUEST_METHOD": "GET",
    "QUERY_STRING": "q=caf\xe9&x=1",
    "REQUEST_URI": "/app/hello?q=caf%C3%A9&x=1",
    "SCRIPT_NAME": "/app",
    "PATH_INFO": "/hello",
    "REMOTE_PORT": "51234",
}

# nginx-style POST with an 11-byte body (`a=1&b=hello`) following the frame.
POST = (
    b"\x00\xef\x00\x00"
    b"\x0e\x00REQUEST_METHOD\x04\x00POST"
    b"\x0b\x00SCRIPT_NAME\x00\x00"
    b"\x09\x00PATH_INFO\x07\x00/upload"
    b"\x0c\x00QUERY_STRING\x00\x00"
    b"\x0b\x00SERVER_NAME\x09\x00localhost"
    b"\x0b\x00SERVER_PORT\x04\x008080"
    b"\x0f\x00SERVER_PROTOCOL\x08\x00HTTP/1.1"
    b"\x0c\x00CONTENT_TYPE\x21\x00application/x-www-form-urlencoded"
    b"\x0e\x00CONTENT_LENGTH\x02\x0011"
    b"\x09\x00HTTP_HOST\x0e\x00localhost:8080"
)
POST_ENV = {
    "REQUEST_METHOD": "POST",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/upload",
    "QUERY_STRING": "",
    "SERVER_NAME": "localhost",
    "SERVER_PORT": "8080",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "CONTENT_TYPE": "application/x-www-form-urlencoded",
    "CONTENT_LENGTH": "11",
    "HTTP_HOST": "localhost:8080",
}
POST_BODY = b"a=1&b=hello"

# A value longer than 255 bytes: vallen 300 = 0x012c, datasize 315 = 0x013b.
COOKIE_VALUE = "a=" + "x" * 298
COOKIE = b"\x00\x3b\x01\x00" b"\x0b\x00HTTP_COOKIE\x2c\x01" + COOKIE_VALUE.encode("ascii")

GOOD: list[Vector] = [
    Vector("empty_vars", b"\x00\x00\x00\x00", {}),
    Vector("apache_get", APACHE_GET, APACHE_GET_ENV),
    Vector("nginx_post", POST, POST_ENV),
    Vector("long_cookie", COOKIE, {"HTTP_COOKIE": COOKIE_VALUE}),
    Vector("empty_value", b"\x00\x05\x00\x00\x01\x00A\x00\x00", {"A": ""}),
    Vector(
        "latin1_key_and_value",
        b"\x00\x10\x00\x00\x08\x00HTTP_X_\xff\x04\x00\x80\xa0\xe9\xff",
        {"HTTP_X_\xff": "\x80\xa0\xe9\xff"},
    ),
    # The codec is byte-transparent: NUL/CR/LF in a value are data, not syntax.
    Vector("binary_value", b"\x00\x0a\x00\x00\x01\x00X\x05\x00a\x00\r\nb", {"X": "a\x00\r\nb"}),
    Vector(
        "streamed_put",
        b"\x00\x2e\x00\x00"
        b"\x0e\x00REQUEST_METHOD\x03\x00PUT"
        b"\x14\x00FASTWSGI_STREAM_BODY\x01\x001",
        {"REQUEST_METHOD": "PUT", "FASTWSGI_STREAM_BODY": "1"},
    ),
    Vector(
        "duplicate_other_key_last_wins",
        b"\x00\x16\x00\x00" b"\x06\x00HTTP_X\x01\x001" b"\x06\x00HTTP_X\x01\x002",
        {"HTTP_X": "2"},
        canonical=False,
    ),
    Vector(
        "identical_content_length_twice",
        b"\x00\x26\x00\x00"
        b"\x0e\x00CONTENT_LENGTH\x01\x005"
        b"\x0e\x00CONTENT_LENGTH\x01\x005",
        {"CONTENT_LENGTH": "5"},
        canonical=False,
    ),
    Vector(
        "identical_stream_var_twice",
        b"\x00\x32\x00\x00"
        b"\x14\x00FASTWSGI_STREAM_BODY\x01\x001"
        b"\x14\x00FASTWSGI_STREAM_BODY\x01\x001",
        {"FASTWSGI_STREAM_BODY": "1"},
        canonical=False,
    ),
]

BAD: list[Vector] = [
    # An HTTP client talking to the uwsgi socket: 'G' (0x47) is modifier1.
    Vector("http_request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", UnsupportedModifier, 0),
    Vector("modifier1_is_1", b"\x01\x00\x00\x00", UnsupportedModifier, 0),
    Vector("modifier1_is_ff", b"\xff\x05\x00\x00\x01\x00A\x00\x00", UnsupportedModifier, 0),
    Vector("modifier2_is_1", b"\x00\x00\x00\x01", UnsupportedModifier, 3),
    Vector("modifier2_with_vars", b"\x00\x05\x00\x11\x01\x00A\x00\x00", UnsupportedModifier, 3),
    # modifier2 is refused before the (truncated) variables are looked at.
    Vector("modifier2_and_truncated", b"\x00\x01\x00\x02\x05", UnsupportedModifier, 3),
    Vector("key_overruns_block", b"\x00\x05\x00\x00\x09\x00ABC", TruncatedVariable),
    Vector("value_overruns_block", b"\x00\x07\x00\x00\x01\x00A\x05\x00xy", TruncatedVariable),
    Vector("value_overruns_by_one", b"\x00\x08\x00\x00\x01\x00A\x04\x00xyz", TruncatedVariable),
    Vector("key_length_cut", b"\x00\x01\x00\x00\x05", TruncatedVariable),
    Vector("value_length_cut", b"\x00\x04\x00\x00\x01\x00A\x03", TruncatedVariable),
    Vector("value_length_missing", b"\x00\x03\x00\x00\x01\x00A", TruncatedVariable),
    Vector("stray_byte_after_var", b"\x00\x06\x00\x00\x01\x00A\x00\x00\x07", TruncatedVariable),
    Vector("empty_key", b"\x00\x04\x00\x00\x00\x00\x00\x00", InvalidVariable),
    Vector(
        "empty_key_after_var",
        b"\x00\x09\x00\x00\x01\x00A\x00\x00\x00\x00\x00\x00",
        InvalidVariable,
    ),
    Vector(
        "conflicting_content_length",
        b"\x00\x26\x00\x00"
        b"\x0e\x00CONTENT_LENGTH\x01\x005"
        b"\x0e\x00CONTENT_LENGTH\x01\x006",
        InvalidVariable,
    ),
    Vector(
        "content_length_then_empty",
        b"\x00\x25\x00\x00"
        b"\x0e\x00CONTENT_LENGTH\x01\x005"
        b"\x0e\x00CONTENT_LENGTH\x00\x00",
        InvalidVariable,
    ),
    Vector(
        "conflicting_stream_var",
        b"\x00\x32\x00\x00"
        b"\x14\x00FASTWSGI_STREAM_BODY\x01\x001"
        b"\x14\x00FASTWSGI_STREAM_BODY\x01\x000",
        InvalidVariable,
    ),
]

VECTORS: list[Vector] = GOOD + BAD
