"""From engine events to a streamed HTTP response, with errors before the first byte kept as
HTTP statuses and errors after it sent as the protocol's error part plus a finish part."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse
from starlette.types import Send

from gateway import tasks
from gateway.doors.common.encoder_base import StreamEncoder
from gateway.errors import GatewayError, InternalError, ShuttingDown
from gateway.events import Event, Finish
from gateway.serving.lifecycle import SHUTDOWN_MESSAGE, Drain

log = logging.getLogger("gateway.stream")


async def stream_response(
    events: AsyncIterator[Event], encoder: StreamEncoder, drain: Drain
) -> StreamingResponse:
    """Wait for the first event (so a refusal becomes a status), then stream the rest."""
    try:
        first = await anext(events)
    except BaseException:
        await events.aclose()
        raise
    return BatchedStreamingResponse(
        _encode(first, events, encoder, drain),
        media_type=encoder.media_type,
        headers=encoder.headers,
    )


# Encoded and not yet written past this, the stream waits for the client (backpressure).
MAX_UNSENT_BYTES = 64 * 1024


class BatchedStreamingResponse(StreamingResponse):
    """A StreamingResponse that writes, in one body message, every part made since its last write.

    The answer is read in the response's own task as before; a second task writes. Under load
    one provider read carries several chunks, and one write (one h11 event, one syscall) per
    batch instead of per part is the largest per-chunk cost left. An idle stream still writes
    each part at once: nothing waits for a batch to fill.
    """

    async def stream_response(self, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        outbox = _Outbox()
        writer = tasks.spawn(outbox.write_to(send), "stream_writer")
        try:
            async for chunk in self.body_iterator:
                await outbox.put(chunk if isinstance(chunk, bytes) else bytes(chunk))
            outbox.close()
            await writer
        finally:
            await tasks.end(writer)
            if not writer.cancelled():
                writer.exception()  # raised here already (or none): retrieved
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _Outbox:
    """Bytes between the task reading the answer and the task writing them."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self._closed = False
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._failed: BaseException | None = None

    async def put(self, data: bytes) -> None:
        if not self._room.is_set():
            await self._room.wait()
        if self._failed is not None:
            raise self._failed
        self._parts.append(data)
        self._size += len(data)
        if self._size >= MAX_UNSENT_BYTES:
            self._room.clear()
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    async def write_to(self, send: Send) -> None:
        try:
            while True:
                if not self._parts:
                    if self._closed:
                        return
                    self._ready.clear()
                    await self._ready.wait()
                    continue
                body = b"".join(self._parts) if len(self._parts) > 1 else self._parts[0]
                self._parts.clear()
                self._size = 0
                self._room.set()
                await send({"type": "http.response.body", "body": body, "more_body": True})
        except BaseException as exc:
            self._failed = exc
            self._room.set()
            raise


async def _encode(
    first: Event, events: AsyncIterator[Event], encoder: StreamEncoder, drain: Drain
) -> AsyncIterator[bytes]:
    task = drain.track()
    try:
        yield encoder.encode(first)
        async for event in events:
            data = encoder.encode(event)
            if data:
                yield data
    except GatewayError as exc:
        yield encoder.encode(exc.as_event())
        yield encoder.encode(Finish("error"))
    except asyncio.CancelledError:
        if not drain.was_cut(task):
            raise  # the client went away: nobody to tell
        # The shutdown grace period is over: end the stream properly instead of just stopping.
        assert task is not None
        task.uncancel()
        yield encoder.encode(ShuttingDown(SHUTDOWN_MESSAGE).as_event())
        yield encoder.encode(Finish("error"))
    except Exception:
        log.exception("stream failed after the first byte")
        yield encoder.encode(InternalError("the gateway failed while streaming").as_event())
        yield encoder.encode(Finish("error"))
    finally:
        drain.untrack(task)
        await events.aclose()
    tail = encoder.close()
    if tail:
        yield tail
