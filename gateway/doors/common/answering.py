"""The path every chat door shares once it has built its ChatCall, read as a sentence:
on the request's leased engine (dependencies.py) → prepare the call → admit the client →
run → answer as one JSON body or as a stream, with the outcome's headers."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from gateway.chat_call import ChatCall
from gateway.doors.common.admission import (
    Meter,
    admit,
    allowed_models,
    allowed_tools,
    check_request_size,
    metered,
)
from gateway.doors.common.caching import cache_directive
from gateway.doors.common.dependencies import Admission
from gateway.doors.common.encoder_base import StreamEncoder
from gateway.doors.common.streaming import stream_response
from gateway.events import Event
from gateway.limits.spend_estimate import chat_cost

Collector = Callable[[str, AsyncIterator[Event]], Awaitable[dict[str, Any]]]
# Turns the run's events into the response, when a door does more than stream or collect them.
Responder = Callable[[AsyncIterator[Event]], Awaitable[Response]]


async def answer(
    request: Request,
    admission: Admission,
    call: ChatCall,
    *,
    protocol: str,
    collector: Collector,
    encoder: StreamEncoder | None,
    respond: Responder | None = None,
) -> Response:
    """Answer `call` as a stream with `encoder`, or (encoder None) as `collector`'s JSON;
    or hand the events to `respond`."""
    engine = admission.engine  # leased by the request (LeasedEngine): one engine throughout
    settings = admission.settings
    # The run's own hold on that engine, released when the run ends: a stored chat's answer
    # goes on after its request (and the request's lease) is over.
    lease = engine.lease()
    try:
        outcome = call.outcome
        request.state.outcome = outcome
        outcome.protocol = protocol
        outcome.model_id = call.model_id
        outcome.stream = encoder is not None
        check_request_size(call.messages, settings)
        client = admission.client
        prepared = engine.prepare(
            replace(
                call,
                allowed_models=allowed_models(admission.key),
                allowed_tools=allowed_tools(admission.key),
                tenant=client,
            ),
            cache_directive(request, client),
        )
        outcome.model_known = True
        if settings.log_content:
            outcome.messages = call.messages
        meter = Meter(admission.limiter, admission.key, client, call.model_id, engine.prices)
        cost = functools.partial(
            chat_cost,
            engine.prices,
            call.model_id,
            prepared.messages,
            prepared.specs,
            call.params,
            engine.config.options.budget_answer_tokens,
        )
        standing = await admit(admission.limiter, admission.key, client, call.model_id, meter, cost)
        events = metered(meter, engine.run(prepared, lease))
        if respond is not None:
            response: Response = await respond(events)
        elif encoder is None:
            response = JSONResponse(await collector(call.model_id, events))
        else:
            response = await stream_response(events, encoder, admission.drain)
    except BaseException:
        lease.release()  # the run may never have started (a refusal): let go here too
        raise
    response.headers.update(standing)
    response.headers.update(outcome.headers())
    return response
