"""The end-to-end scenarios: one request shape each, and its exact expected answer."""

from __future__ import annotations

from dataclasses import dataclass, field

HELLO = b"Hello, World!"
BODY_64K = b"x" * 65536
#: The 1 MiB POST body (wrk reads it from a file).
POST_UNIT = b"0123456789abcdef"
POST_REPEAT = 65536
POST_BODY = POST_UNIT * POST_REPEAT


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    method: str
    path: str
    expect: bytes
    body: bytes | None = None
    #: Extra request headers, given to wrk with -H and to the correctness check.
    headers: dict[str, str] = field(default_factory=dict)


SCENARIOS = [
    Scenario("hello", "hello world, keep-alive", "GET", "/", HELLO),
    Scenario("hello-close", "hello world, Connection: close", "GET", "/", HELLO,
             headers={"Connection": "close"}),
    Scenario("64k", "64 KiB response, keep-alive", "GET", "/64k", BODY_64K),
    Scenario("post-1m", "1 MiB POST echoed, keep-alive", "POST", "/echo", POST_BODY,
             body=POST_BODY, headers={"Content-Type": "application/octet-stream"}),
]
BY_NAME = {s.name: s for s in SCENARIOS}
