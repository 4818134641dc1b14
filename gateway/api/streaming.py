"""From engine events to a streamed HTTP response, with errors before the first byte kept as
HTTP statuses and errors after it sent as the protocol's error part plus a finish part."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from gateway.errors import GatewayError, InternalError, ShuttingDown
from gateway.events import ErrorEvent, Event, Finish
from gateway.lifecycle import SHUTDOWN_MESSAGE, Drain
from gateway.protocols.base import StreamEncoder

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
    return StreamingResponse(
        _encode(first, events, encoder, drain),
        media_type=encoder.media_type,
        headers=encoder.headers,
    )


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
        yield encoder.encode(ErrorEvent(exc.message, exc.error_type))
        yield encoder.encode(Finish("error"))
    except asyncio.CancelledError:
        if not drain.was_cut(task):
            raise  # the client went away: nobody to tell
        # The shutdown grace period is over: end the stream properly instead of just stopping.
        assert task is not None
        task.uncancel()
        yield encoder.encode(ErrorEvent(SHUTDOWN_MESSAGE, ShuttingDown.error_type))
        yield encoder.encode(Finish("error"))
    except Exception:
        log.exception("stream failed after the first byte")
        yield encoder.encode(
            ErrorEvent("the gateway failed while streaming", InternalError.error_type)
        )
        yield encoder.encode(Finish("error"))
    finally:
        drain.untrack(task)
        await events.aclose()
    tail = encoder.close()
    if tail:
        yield tail
