"""The path every chat door shares once it has built its ChatCall, read as a sentence:
lease the live engine → prepare the call → admit the client → run → answer as one JSON body
or as a stream, with the outcome's headers."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from gateway.doors.common.admission import (
    Meter,
    admit,
    allowed_models,
    check_request_size,
    client_identity,
    metered,
)
from gateway.doors.common.caching import cache_directive
from gateway.doors.common.encoder_base import StreamEncoder
from gateway.doors.common.streaming import stream_response
from gateway.engine import ChatCall, Engine
from gateway.events import Event
from gateway.limits.spend_estimate import chat_cost
from gateway.settings import Settings

Collector = Callable[[str, AsyncIterator[Event]], Awaitable[dict[str, Any]]]
# Turns the run's events into the response, when a door does more than stream or collect them.
Responder = Callable[[AsyncIterator[Event]], Awaitable[Response]]


async def answer(
    request: Request,
    call: ChatCall,
    *,
    protocol: str,
    collector: Collector,
    encoder: StreamEncoder | None,
    respond: Responder | None = None,
) -> Response:
    """Answer `call` as a stream with `encoder`, or (encoder None) as `collector`'s JSON;
    or hand the events to `respond`."""
    # One engine per request, held from this line on: a reload swaps app.state.engine but
    # closes the old one only when no request holds it.
    engine: Engine = request.app.state.engine
    lease = engine.lease()
    try:
        settings: Settings = request.app.state.settings
        outcome = call.outcome
        request.state.outcome = outcome
        outcome.protocol = protocol
        outcome.model_id = call.model_id
        outcome.stream = encoder is not None
        check_request_size(call.messages, settings)
        client = client_identity(request)
        prepared = engine.prepare(
            replace(call, allowed_models=allowed_models(request)), cache_directive(request, client)
        )
        outcome.model_known = True
        if settings.log_content:
            outcome.messages = call.messages
        meter = Meter(request, client, call.model_id, engine.prices)
        cost = functools.partial(
            chat_cost,
            engine.prices,
            call.model_id,
            prepared.messages,
            prepared.specs,
            call.params,
            engine.config.options.budget_answer_tokens,
        )
        standing = await admit(request, client, call.model_id, meter, cost)
        events = metered(meter, engine.run(prepared, lease))
        if respond is not None:
            response: Response = await respond(events)
        elif encoder is None:
            response = JSONResponse(await collector(call.model_id, events))
        else:
            response = await stream_response(events, encoder, request.app.state.drain)
    except BaseException:
        lease.release()  # the run may never have started (a refusal): let go here too
        raise
    response.headers.update(standing)
    response.headers.update(outcome.headers())
    return response
