"""POST /api/chat: the frontend's door, in whichever stream protocol the client reads."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from gateway.api.admission import admit, authenticate, check_request_size, metered
from gateway.api.caching import cache_directive
from gateway.api.schemas import ChatRequest
from gateway.api.streaming import stream_response
from gateway.engine import ChatCall, Engine
from gateway.errors import GatewayError
from gateway.protocols import DEFAULT_PROTOCOL, STREAM_PROTOCOLS
from gateway.protocols.base import StreamEncoder
from gateway.protocols.collect import collect

router = APIRouter(dependencies=[Depends(authenticate)])


@router.post("/api/chat", response_model=None)
async def chat(body: ChatRequest, request: Request) -> Response:
    engine: Engine = request.app.state.engine
    encoder = choose_encoder(request)
    call = ChatCall(
        model_id=body.model,
        messages=body.litellm_messages(),
        params=body.sampling_params(),
        stream=body.stream,
        tool_names=body.tools,
        cache=cache_directive(request),
    )
    check_request_size(call.messages, request.app.state.settings)
    engine.check_model(call.model_id)
    engine.enabled_tools(call)
    decision = await admit(request, call.model_id)
    events = metered(request, call.model_id, engine.run(call))
    if not body.stream:
        response: Response = JSONResponse(await collect(call.model_id, events))
    else:
        response = await stream_response(events, encoder)
    response.headers.update(decision.headers())
    response.headers.update(call.outcome.headers())
    return response


def choose_encoder(request: Request) -> StreamEncoder:
    """`?protocol=` wins over the `x-stream-protocol` header; the line format is the default."""
    name = (
        request.query_params.get("protocol")
        or request.headers.get("x-stream-protocol")
        or DEFAULT_PROTOCOL
    )
    factory = STREAM_PROTOCOLS.get(name.strip().lower())
    if factory is None:
        raise GatewayError(
            f"unknown protocol {name!r}; valid: {', '.join(STREAM_PROTOCOLS)}",
            status=400,
            error_type="unknown_protocol",
        )
    return factory()
