"""The steps every chat route shares once it has built its ChatCall: checks, admission, the
engine, and the answer as one JSON body or a stream, with the outcome's headers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from gateway.api.admission import admit, check_request_size, metered
from gateway.api.streaming import stream_response
from gateway.engine import ChatCall, Engine
from gateway.events import Event
from gateway.protocols.base import StreamEncoder
from gateway.settings import Settings

Collector = Callable[[str, AsyncIterator[Event]], Awaitable[dict[str, Any]]]


async def answer(
    request: Request,
    call: ChatCall,
    *,
    protocol: str,
    collector: Collector,
    encoder: StreamEncoder | None,
) -> Response:
    """Answer `call` as a stream with `encoder`, or (encoder None) as `collector`'s JSON."""
    # One engine per request: a config reload swaps app.state.engine, never this one.
    engine: Engine = request.app.state.engine
    settings: Settings = request.app.state.settings
    outcome = call.outcome
    request.state.outcome = outcome
    outcome.protocol = protocol
    outcome.model_id = call.model_id
    outcome.stream = encoder is not None
    check_request_size(call.messages, settings)
    engine.check_model(call.model_id)
    outcome.model_known = True
    if settings.log_content:
        outcome.messages = call.messages
    engine.enabled_tools(call)
    decision = await admit(request, call.model_id)
    events = metered(request, call.model_id, engine.run(call))
    if encoder is None:
        response: Response = JSONResponse(await collector(call.model_id, events))
    else:
        response = await stream_response(events, encoder, request.app.state.drain)
    response.headers.update(decision.headers())
    response.headers.update(outcome.headers())
    return response
