"""A fake OpenAI-compatible upstream: a real HTTP server on a loopback port.

Tests script what it answers (streamed text, tool calls split over chunks, usage; embeddings:
deterministic vectors per input) and which faults it injects (an HTTP error, a slow first byte,
a stream cut mid-way). It records every
request body and notices when a client hangs up, so tests can check what the gateway sent and
that it cancelled. A raw ASGI app, so nothing in it hides how bytes leave.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.support.serving import BackgroundLoop, ServedApp, serve_lifespan


@dataclass
class FakeToolCall:
    name: str
    arguments: str  # JSON text, split into `pieces` chunks on the wire
    id: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:10]}")
    pieces: int = 3


@dataclass
class Reply:
    """One scripted answer. Streamed as SSE chunks, or one JSON body for stream=false."""

    chunks: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " fake"])
    tool_calls: list[FakeToolCall] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    prompt_tokens: int = 11
    completion_tokens: int = 7
    finish_reason: str | None = None
    first_byte_delay: float = 0.0  # before the status line: nothing at all arrives
    chunk_delay: float = 0.0
    # Before this chunk (by index, the role chunk being 0), wait `stall_seconds` once.
    stall_before: int | None = None
    stall_seconds: float = 0.0
    cut_after: int | None = None  # drop the connection after this many chunks
    # End the response cleanly after this many chunks: no finish chunk, no [DONE], no error.
    end_after: int | None = None

    @property
    def text(self) -> str:
        return "".join(self.chunks)


@dataclass
class Fault:
    """An HTTP error answer, such as a 500 or a 429 with Retry-After.

    `body` replaces the usual `{"error": {"message"}}` with raw bytes (an empty 200, an error
    body that echoes the request's headers, plain text).
    """

    status: int = 500
    message: str = "upstream exploded"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str = "application/json"


@dataclass
class EmbeddingReply:
    """One scripted answer of POST /v1/embeddings; unscripted requests get fake_vector()s."""

    delay: float = 0.0  # before the status line; a client hanging up meanwhile is recorded
    prompt_tokens: int | None = None  # None: one per word (text) or per token (token array)
    vectors: list[list[Any]] | None = None  # sent instead of the computed ones


DEFAULT_DIMENSIONS = 8


def fake_vector(item: str | list[int], dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The fake's embedding of one input: the same input always gets the same vector.

    Every value is a multiple of 1/128 in [-1, 1), exact in float32, so a vector sent as
    base64 (float32) compares equal to this one.
    """
    seed = json.dumps(item, ensure_ascii=False).encode()
    data = b""
    block = 0
    while len(data) < dimensions:
        data += hashlib.sha256(seed + block.to_bytes(4, "big")).digest()
        block += 1
    return [(byte - 128) / 128 for byte in data[:dimensions]]


class FakeUpstream:
    def __init__(self, loop: BackgroundLoop, name: str = "fake") -> None:
        self.name = name
        self._script: deque[Reply | Fault | EmbeddingReply] = deque()
        self.default = self._initial_default()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.disconnects: list[float] = []
        self.completed_streams = 0
        self._server = ServedApp(loop, self._app)

    @property
    def base_url(self) -> str:
        return f"{self._server.url}/v1"

    def start(self) -> FakeUpstream:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def script(self, *answers: Reply | Fault | EmbeddingReply) -> None:
        self._script.extend(answers)

    def _initial_default(self) -> Reply:
        return Reply(chunks=[f"Hello from {self.name}"])

    def reset(self) -> None:
        self.default = self._initial_default()
        self._script.clear()
        self.requests.clear()
        self.headers.clear()
        self.disconnects.clear()
        self.completed_streams = 0

    def wait_for_disconnect(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.disconnects:
                return True
            time.sleep(0.02)
        return False

    # --- the ASGI app -------------------------------------------------------------------------

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if not path.endswith(("/chat/completions", "/embeddings")):
            await _send_json(send, 404, {"error": {"message": "not found"}})
            return
        request = json.loads(body)
        self.requests.append(request)
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        answer = self._script.popleft() if self._script else None
        if path.endswith("/embeddings"):
            await self._embeddings(answer or EmbeddingReply(), request, receive, send)
            return
        answer = answer or self.default
        if isinstance(answer, EmbeddingReply):
            raise TypeError("an EmbeddingReply was scripted, and a chat request came")
        if isinstance(answer, Reply) and answer.first_byte_delay:
            await asyncio.sleep(answer.first_byte_delay)
        if isinstance(answer, Fault) and answer.body is not None:
            await _send_raw(send, answer.status, answer.body, answer.content_type, answer.headers)
            return
        if isinstance(answer, Fault):
            error = {"error": {"message": answer.message, "type": "server_error", "code": None}}
            await _send_json(send, answer.status, error, answer.headers)
            return
        if request.get("stream"):
            await self._stream(answer, request, receive, send)
        else:
            await _send_json(send, 200, _completion(answer, request))

    async def _stream(self, reply: Reply, request: dict[str, Any], receive: Any, send: Any) -> None:
        watcher = asyncio.create_task(self._watch_disconnect(receive))
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")],
                }
            )
            for index, chunk in enumerate(_stream_chunks(reply, request)):
                if reply.cut_after is not None and index >= reply.cut_after:
                    raise ConnectionAbortedError("fake upstream cuts the stream")
                if reply.end_after is not None and index >= reply.end_after:
                    break
                if watcher.done():
                    return
                if index == reply.stall_before:
                    await asyncio.sleep(reply.stall_seconds)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            self.completed_streams += 1
        finally:
            watcher.cancel()

    async def _embeddings(
        self,
        answer: Reply | Fault | EmbeddingReply,
        request: dict[str, Any],
        receive: Any,
        send: Any,
    ) -> None:
        if isinstance(answer, Reply):
            raise TypeError("a chat Reply was scripted, and an embeddings request came")
        if isinstance(answer, Fault):
            if answer.body is not None:
                await _send_raw(
                    send, answer.status, answer.body, answer.content_type, answer.headers
                )
            else:
                error = {"error": {"message": answer.message, "type": "server_error"}}
                await _send_json(send, answer.status, error, answer.headers)
            return
        if answer.delay:
            watcher = asyncio.create_task(self._watch_disconnect(receive))
            try:
                await asyncio.wait({watcher}, timeout=answer.delay)
                if watcher.done():
                    return  # the client hung up: nobody to answer
            finally:
                watcher.cancel()
        await _send_json(send, 200, _embedding_response(answer, request))

    async def _watch_disconnect(self, receive: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.disconnects.append(time.monotonic())


def _sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


def _stream_chunks(reply: Reply, request: dict[str, Any]) -> list[bytes]:
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"
    model = request.get("model", "fake-model")

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"reasoning_content": piece}) for piece in reply.reasoning]
    chunks += [chunk({"content": piece}) for piece in reply.chunks]
    for index, call in enumerate(reply.tool_calls):
        chunks.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        for piece in _split(call.arguments, call.pieces):
            chunks.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            )
    chunks.append(chunk({}, reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")))
    if (request.get("stream_options") or {}).get("include_usage"):
        chunks.append(
            _sse(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [],
                    "usage": _usage(reply),
                }
            )
        )
    chunks.append(_sse("[DONE]"))
    return chunks


def _completion(reply: Reply, request: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.reasoning:
        message["reasoning_content"] = "".join(reply.reasoning)
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fake-model"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": reply.finish_reason
                or ("tool_calls" if reply.tool_calls else "stop"),
            }
        ],
        "usage": _usage(reply),
    }


def _embedding_inputs(value: Any) -> list[str | list[int]]:
    """OpenAI's four input forms as a list of single inputs."""
    if isinstance(value, str):
        return [value]
    if value and all(isinstance(item, int) for item in value):
        return [list(value)]
    return list(value)


def _embedding_response(answer: EmbeddingReply, request: dict[str, Any]) -> dict[str, Any]:
    inputs = _embedding_inputs(request["input"])
    dimensions = request.get("dimensions") or DEFAULT_DIMENSIONS
    vectors = answer.vectors or [fake_vector(item, dimensions) for item in inputs]
    data = []
    for index, vector in enumerate(vectors):
        embedding: Any = vector
        if request.get("encoding_format") == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = answer.prompt_tokens
    if tokens is None:
        tokens = sum(len(i.split()) if isinstance(i, str) else len(i) for i in inputs)
    return {
        "object": "list",
        "data": data,
        "model": request.get("model", "fake-embedding"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def _split(text: str, pieces: int) -> list[str]:
    size = max(1, -(-len(text) // max(1, pieces)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


async def _send_json(
    send: Any, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    await _send_raw(send, status, json.dumps(body).encode(), "application/json", headers)


async def _send_raw(
    send: Any, status: int, raw: bytes, content_type: str, headers: dict[str, str] | None = None
) -> None:
    header_list = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(raw)).encode()),
    ]
    header_list += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": header_list})
    await send({"type": "http.response.body", "body": raw})
