"""uwsgi frame encode/decode (fastwsgi._cext), without a connection."""

from __future__ import annotations

from fastwsgi._cext import FrameDecoder, decode_frame, encode_frame

#: What a front-end sends for a browser's GET: CGI variables plus ~10 headers.
BROWSER_ENV = {
    "REQUEST_METHOD": "GET", "REQUEST_URI": "/articles/2024/fastwsgi?page=2&sort=new",
    "PATH_INFO": "/articles/2024/fastwsgi", "QUERY_STRING": "page=2&sort=new",
    "SCRIPT_NAME": "", "SERVER_NAME": "www.example.org", "SERVER_PORT": "443",
    "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_SCHEME": "https", "HTTPS": "on",
    "REMOTE_ADDR": "203.0.113.7", "REMOTE_PORT": "51234",
    "HTTP_HOST": "www.example.org",
    "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "HTTP_ACCEPT": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.7,fr;q=0.3",
    "HTTP_ACCEPT_ENCODING": "gzip, deflate, br, zstd",
    "HTTP_REFERER": "https://www.example.org/articles/2024",
    "HTTP_COOKIE": "sessionid=0123456789abcdef0123456789abcdef; csrftoken=abcdefABCDEF0123456789",
    "HTTP_CONNECTION": "keep-alive", "HTTP_UPGRADE_INSECURE_REQUESTS": "1",
    "HTTP_SEC_FETCH_DEST": "document", "HTTP_SEC_FETCH_MODE": "navigate",
}
#: The smallest useful frame (what `fastwsgi get` sends).
SMALL_ENV = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": "",
             "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
             "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost"}
BROWSER_FRAME = encode_frame(BROWSER_ENV)
SMALL_FRAME = encode_frame(SMALL_ENV)


def test_encode_frame_browser(benchmark):
    benchmark(encode_frame, BROWSER_ENV)


def test_encode_frame_small(benchmark):
    benchmark(encode_frame, SMALL_ENV)


def test_decode_frame_browser(benchmark):
    env, _ = benchmark(decode_frame, BROWSER_FRAME)
    assert env == BROWSER_ENV


def test_decode_frame_small(benchmark):
    env, _ = benchmark(decode_frame, SMALL_FRAME)
    assert env == SMALL_ENV


def test_frame_decoder_feed_whole(benchmark):
    """The incremental decoder the daemon uses, fed the frame in one piece."""
    def feed() -> dict[str, str] | None:
        return FrameDecoder().feed(BROWSER_FRAME)

    assert benchmark(feed) == BROWSER_ENV
