"""OpenAI's Responses API wire: the stream of typed SSE events and the `response` object.

One ResponseBuilder (responses_builder.py) turns an answer's events into OpenAI's stream
events; the stream encoder sends them numbered by `sequence_number`, the collector folds the
same events into the `response` object, so a streamed and a non-streamed answer cannot disagree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from gateway.doors.common.encoder_base import NO_BUFFERING, dumps
from gateway.doors.openai_responses.responses_builder import ResponseBuilder
from gateway.events import Event


class ResponsesEncoder:
    """`stream: true`: OpenAI's typed events as SSE, `event:` and `data:` lines per event."""

    media_type: ClassVar[str] = "text/event-stream"
    headers: ClassVar[dict[str, str]] = NO_BUFFERING

    def __init__(self, builder: ResponseBuilder) -> None:
        self._builder = builder
        self._sequence = 0

    def encode(self, event: Event) -> bytes:
        chunks = []
        for data in self._builder.feed(event):
            data["sequence_number"] = self._sequence
            self._sequence += 1
            chunks.append(f"event: {data['type']}\ndata: {dumps(data)}\n\n")
        return "".join(chunks).encode()

    def close(self) -> bytes:
        return b""  # OpenAI ends a Responses stream with its last event, no [DONE]


def fold_response(response: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The response object after stream event `data`, as a client reading the stream holds it:
    every `response.*` lifecycle event carries the whole object."""
    carried = data.get("response")
    return carried if carried is not None else response


class ResponseCollector:
    """`stream: false`: the `response` object folded from the stream's events (a collector
    for doors/common/answering.py)."""

    def __init__(self, builder: ResponseBuilder) -> None:
        self._builder = builder

    async def __call__(self, model_id: str, events: AsyncIterator[Event]) -> dict[str, Any]:
        response = self._builder.response()
        async for event in events:
            for data in self._builder.feed(event):
                response = fold_response(response, data)
        return response
