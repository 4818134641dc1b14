"""A lean fake OpenAI upstream for bench/proxy_compare.py and bench/profile.py.

Why not bench/_fake_server.py: that one runs the tests' fake (tests/support/fake_upstream.py) under
uvicorn and renders every chunk with json.dumps per request, about 0.02 ms of CPU per chunk
here, and its answer length is fixed per process. The side-by-side bench puts several servers
behind ONE upstream and switches between 20- and 200-chunk answers, and the upstream shares the
machine's two cores with the server being measured, so this one is a bare asyncio protocol
(httptools parses the request) that writes chunk bytes rendered once per answer shape.

What it answers is what the tests' fake answers, byte for byte apart from ids and times: for
`stream: true` a role chunk, one `chat.completion.chunk` per text piece ("word0 ", "word1 ",
...), a finish chunk, a usage chunk when `stream_options.include_usage` is set, then `[DONE]`,
each SSE event written as an HTTP chunk of its own (one send each, as a real server does); for
`stream: false` one `chat.completion` JSON body. The number of text pieces is chosen per request:
a message whose content is `chunks=N` asks for N; otherwise --chunks.

    .venv/bin/python bench/_lean_upstream.py [--chunks 20] [--chunk-delay-ms 0]

Prints its base URL (ending in /v1) on one line, then serves until stdin closes, so it dies with
the process that started it. Each `count` line read on stdin is answered with one line on
stdout: how many chat requests it has received so far (as bench/_fake_server.py does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import sys
import threading
import time
from typing import Any, cast

import httptools

HOST = "127.0.0.1"
CHUNKS_ASKED = re.compile(r"chunks=(\d+)")
MAX_CHUNKS = 100_000
PROMPT_TOKENS = 11


def reply_text(chunks: int) -> list[str]:
    """The answer's text pieces: the same words as bench/_fake_server.py's."""
    return [f"word{i} " for i in range(chunks)]


def _sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


class Answers:
    """Response bytes, rendered once per (model, chunks, include_usage) and kept."""

    def __init__(self) -> None:
        self._streams: dict[tuple[str, int, bool], list[bytes]] = {}
        self._bodies: dict[tuple[str, int], bytes] = {}
        self._created = int(time.time())

    def stream(self, model: str, chunks: int, include_usage: bool) -> list[bytes]:
        key = (model, chunks, include_usage)
        found = self._streams.get(key)
        if found is None:
            found = self._streams[key] = self._render_stream(*key)
        return found

    def body(self, model: str, chunks: int) -> bytes:
        key = (model, chunks)
        found = self._bodies.get(key)
        if found is None:
            found = self._bodies[key] = self._render_body(*key)
        return found

    def _render_stream(self, model: str, chunks: int, include_usage: bool) -> list[bytes]:
        common = {
            "id": f"chatcmpl-lean{chunks:08d}",
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": model,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return _sse({**common, "choices": [choice]})

        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in reply_text(chunks)]
        events.append(chunk({}, "stop"))
        if include_usage:
            events.append(_sse({**common, "choices": [], "usage": _usage(chunks)}))
        events.append(_sse("[DONE]"))
        head = (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        frames = [_http_chunk(event) for event in events]
        frames[0] = head + frames[0]
        frames[-1] += b"0\r\n\r\n"
        return frames

    def _render_body(self, model: str, chunks: int) -> bytes:
        answer = {
            "id": f"chatcmpl-lean{chunks:08d}",
            "object": "chat.completion",
            "created": self._created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(reply_text(chunks))},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(chunks),
        }
        return _plain(200, json.dumps(answer).encode())


def _usage(chunks: int) -> dict[str, int]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": chunks,
        "total_tokens": PROMPT_TOKENS + chunks,
    }


def _plain(status: int, body: bytes) -> bytes:
    reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}.get(status, b"Error")
    head = b"HTTP/1.1 %d %b\r\ncontent-type: application/json\r\n" % (status, reason)
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


def _error(status: int, message: str) -> bytes:
    return _plain(status, json.dumps({"error": {"message": message}}).encode())


class Server:
    def __init__(self, default_chunks: int, chunk_delay: float) -> None:
        self.default_chunks = default_chunks
        self.chunk_delay = chunk_delay
        self.answers = Answers()
        self.requests = 0  # written by the loop thread only

    def answer(self, path: bytes, body: bytes) -> list[bytes]:
        """The frames to write for one request."""
        if not path.split(b"?", 1)[0].endswith(b"/chat/completions"):
            return [_error(404, "not found")]
        try:
            request = json.loads(body)
            chunks = self._chunks_asked(request)
        except (ValueError, TypeError, AttributeError) as exc:
            return [_error(400, f"bad request: {exc}")]
        self.requests += 1
        model = str(request.get("model", "fake-model"))
        if request.get("stream"):
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            return self.answers.stream(model, chunks, include_usage)
        return [self.answers.body(model, chunks)]

    def _chunks_asked(self, request: dict[str, Any]) -> int:
        for message in request["messages"]:
            content = message.get("content")
            if isinstance(content, str) and (found := CHUNKS_ASKED.fullmatch(content.strip())):
                return min(int(found.group(1)), MAX_CHUNKS)
        return self.default_chunks


class Connection(asyncio.Protocol):
    """One client connection: parse requests with httptools, write the prepared frames."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.sending: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        if self.sending is not None:
            self.sending.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(_error(400, "unparsable request"))
                self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        frames = self.server.answer(self.url, b"".join(self.body))
        keep_alive = self.parser.should_keep_alive()
        if self.server.chunk_delay and len(frames) > 1:
            self.sending = asyncio.ensure_future(self._send_slowly(frames, keep_alive))
            return
        transport = self.transport
        if transport is None:
            return
        for frame in frames:
            transport.write(frame)
        if not keep_alive:
            transport.close()

    async def _send_slowly(self, frames: list[bytes], keep_alive: bool) -> None:
        for frame in frames:
            if self.transport is None:
                return
            self.transport.write(frame)
            await asyncio.sleep(self.server.chunk_delay)
        if not keep_alive and self.transport is not None:
            self.transport.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--chunks", type=int, default=20, help="text chunks when a request asks for none"
    )
    parser.add_argument(
        "--chunk-delay-ms", type=float, default=0.0, help="wait after each chunk (default 0)"
    )
    args = parser.parse_args()
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    server = Server(args.chunks, args.chunk_delay_ms / 1000)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    listener = loop.run_until_complete(
        loop.create_server(lambda: Connection(server), sock=sock, backlog=1024)
    )
    print(f"http://{HOST}:{sock.getsockname()[1]}/v1", flush=True)

    def read_commands() -> None:
        for line in sys.stdin:  # ends when the parent closes the pipe or exits
            if line.strip() == "count":
                print(server.requests, flush=True)
        loop.call_soon_threadsafe(loop.stop)

    threading.Thread(target=read_commands, name="commands", daemon=True).start()
    try:
        loop.run_forever()
    finally:
        listener.close()
        loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
