"""The returned iterable's close() must always be called.

Query: record=<file>&tag=<name>&mode=<see below>. close() appends
"closed <tag>" to <file>; iteration appends "started <tag>" first.
    normal   three chunks, then the end
    raise    one chunk, then RuntimeError("closing-raise-marker")
    raise-first  RuntimeError("closing-raise-first-marker") before any chunk
    endless  64 KiB chunks for up to 4 GiB: only a client that goes away ends it
"""

from __future__ import annotations

from urllib.parse import parse_qs

CHUNK = b"x" * 65536


def _note(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")


class Body:
    """An iterable (not a generator) so that close() is ours alone."""

    def __init__(self, record: str, tag: str, mode: str) -> None:
        self.record, self.tag, self.mode = record, tag, mode
        self.sent = 0

    def __iter__(self):
        _note(self.record, f"started {self.tag}")
        return self

    def __next__(self) -> bytes:
        self.sent += 1
        if self.mode == "normal":
            if self.sent > 3:
                raise StopIteration
            return b"chunk%d;" % self.sent
        if self.mode == "raise-first":
            raise RuntimeError("closing-raise-first-marker")
        if self.mode == "raise":
            if self.sent > 1:
                raise RuntimeError("closing-raise-marker")
            return b"before-raise;"
        if self.sent > 65536:
            raise StopIteration
        return CHUNK

    def close(self) -> None:
        _note(self.record, f"closed {self.tag}")


def application(environ, start_response):
    qs = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return Body(qs["record"], qs["tag"], qs.get("mode", "normal"))
