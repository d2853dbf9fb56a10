"""An HTTP/1.1 server that counts every response it writes, for the load generator's tests.

Run as `python -m tests.support.counting_server [--budget N]`: it listens on
127.0.0.1 port 0, prints `PORT <n>`, and serves until killed. The path picks
the behaviour:

  /hello            200, Content-Length body (keep-alive unless asked to close)
  /status/NNN       status NNN with a small body
  /rotate           200, 404, 503 in turn
  /chunked          a chunked body of ~40 KiB with a chunk extension and a trailer
  /dribble          a chunked response written a few bytes at a time
  /eof              no Content-Length: the body ends with the close
  /http10           an HTTP/1.0 response (so the connection closes)
  /truncate         promises 100 bytes, sends 10, closes (never counted)
  /reset            promises 100 bytes, sends 10, resets the connection (RST)
  /reject           resets the connection as soon as the head is read (RST)
  /silent           never answers
  /echo             reads the body; 200 if its length is X-Expect-Length, else 400
  /__count          JSON counts (not itself counted)

With --budget N it answers N counted responses and then holds every further
request unanswered, so that a client's total can be compared exactly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import sys

BODY = b"hello, counted\n"


class Counter:
    def __init__(self, budget: int | None) -> None:
        self.budget = budget
        self.responses = 0
        self.status: dict[int, int] = {}
        self.rotate = 0

    def take(self, status: int) -> bool:
        """Reserve one counted response; False once the budget is spent."""
        if self.budget is not None and self.responses >= self.budget:
            return False
        self.responses += 1
        self.status[status] = self.status.get(status, 0) + 1
        return True


def head(status: int, fields: list[tuple[str, str]], close: bool, version: str = "1.1") -> bytes:
    lines = [f"HTTP/{version} {status} X"] + [f"{k}: {v}" for k, v in fields]
    if close and version == "1.1":
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(body: bytes, size: int) -> bytes:
    out = [b"%x;ext=1\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
           for i in range(0, len(body), size)]
    return b"".join(out) + b"0\r\nX-Trailer: yes\r\n\r\n"


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a RST instead of a FIN (SO_LINGER with a zero timeout)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def respond(counter: Counter, writer: asyncio.StreamWriter, method: str, path: str,
                  fields: dict[str, str], body: bytes, close: bool) -> bool:
    """Write one response; False when the connection must end after it."""
    if path == "/__count":
        data = json.dumps({"responses": counter.responses, "status": counter.status}).encode()
        writer.write(head(200, [("Content-Length", str(len(data)))], True) + data)
        return False
    if path == "/silent":
        await asyncio.Event().wait()
    if path.startswith("/status/"):
        status = int(path[8:])
    elif path == "/rotate":
        status = (200, 404, 503)[counter.rotate % 3]
    elif path == "/echo":
        status = 200 if len(body) == int(fields.get("x-expect-length", "-1")) else 400
    else:
        status = 200
    if path in ("/truncate", "/reset"):
        writer.write(head(200, [("Content-Length", "100")], False) + b"x" * 10)
        if path == "/reset":
            await writer.drain()
            await asyncio.sleep(0.01)  # so that the client reads the part before the RST
            reset(writer)
        return False
    if not counter.take(status):
        await asyncio.Event().wait()  # over budget: never answered
    if path == "/rotate":
        counter.rotate += 1
    no_body = method == "HEAD"
    if path == "/chunked":
        data = head(status, [("Transfer-Encoding", "chunked")], close) + chunked(BODY * 2800, 7001)
    elif path == "/dribble":
        data = head(status, [("Transfer-Encoding", "chunked")], close) + chunked(BODY * 3, 9)
        for i in range(0, len(data), 5):
            writer.write(data[i:i + 5])
            await writer.drain()
            await asyncio.sleep(0.0005)  # so the client reads the response in pieces
        return not close
    elif path == "/eof":
        writer.write(head(status, [], False) + BODY)
        return False
    elif path == "/http10":
        writer.write(head(status, [("Content-Length", str(len(BODY)))], False, "1.0") + BODY)
        return False
    else:
        data = head(status, [("Content-Length", str(len(BODY)))], close) + (b"" if no_body else BODY)
    writer.write(data)
    return not close


async def serve_connection(counter: Counter, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = raw.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            fields = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    fields[name.strip().lower()] = value.strip()
            if path == "/reject":
                reset(writer)
                return
            body = await reader.readexactly(int(fields.get("content-length", "0")))
            close = "close" in fields.get("connection", "").lower()
            if not await respond(counter, writer, method, path, fields, body, close):
                await writer.drain()
                return
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def main(budget: int | None) -> None:
    counter = Counter(budget)
    server = await asyncio.start_server(lambda r, w: serve_connection(counter, r, w),
                                        "127.0.0.1", 0, backlog=1024)
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=int, default=None)
    asyncio.run(main(parser.parse_args().budget))
    sys.exit(0)
