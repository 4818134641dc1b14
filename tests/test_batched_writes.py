"""The streamed response writes every part made since its last write in one body message, and
never lets a client that stops reading make it buffer without bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.doors.common.streaming import MAX_UNSENT_BYTES, BatchedStreamingResponse


async def _serve(body: AsyncIterator[bytes], send: Any) -> None:
    response = BatchedStreamingResponse(body, media_type="text/plain")
    await response.stream_response(send)


def test_parts_made_together_go_out_in_one_write_and_an_idle_stream_writes_each_at_once() -> None:
    sent: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message["body"]:
            sent.append(message["body"])
        await asyncio.sleep(0)  # a real write lets the loop run

    async def body() -> AsyncIterator[bytes]:
        for part in (b"a", b"b", b"c"):  # one provider read: made without waiting
            yield part
        await asyncio.sleep(0.05)  # the provider is slow: the next part stands alone
        yield b"d"
        await asyncio.sleep(0.05)
        yield b"e"

    asyncio.run(_serve(body(), send))
    assert sent == [b"a", b"bc", b"d", b"e"] or sent == [b"abc", b"d", b"e"]


def test_a_client_that_stops_reading_holds_the_answer_back() -> None:
    read_ahead: list[int] = []
    blocked = asyncio.Event

    async def scenario() -> None:
        stalled = blocked()

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and message["body"]:
                await stalled.wait()  # the client's window is full: the write never ends

        async def body() -> AsyncIterator[bytes]:
            for index in range(1000):
                read_ahead.append(index)
                yield b"x" * 1024

        task = asyncio.create_task(_serve(body(), send))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    # One write in flight plus at most MAX_UNSENT_BYTES waiting: the rest was never read.
    assert len(read_ahead) <= 2 * MAX_UNSENT_BYTES // 1024 + 2


def test_a_failed_write_stops_the_stream() -> None:
    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message["body"]:
            raise OSError("the client went away")

    async def body() -> AsyncIterator[bytes]:
        while True:
            yield b"part"
            await asyncio.sleep(0)

    with pytest.raises(OSError):
        asyncio.run(_serve(body(), send))
