"""POST /api/chat: the frontend's door."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from gateway.api.schemas import ChatRequest
from gateway.api.streaming import stream_response
from gateway.engine import ChatCall, Engine
from gateway.protocols import DEFAULT_PROTOCOL, STREAM_PROTOCOLS
from gateway.protocols.collect import collect

router = APIRouter()


@router.post("/api/chat", response_model=None)
async def chat(body: ChatRequest, request: Request) -> Response:
    engine: Engine = request.app.state.engine
    call = ChatCall(
        model_id=body.model,
        messages=[message.to_litellm() for message in body.messages],
        params=body.sampling_params(),
        stream=body.stream,
        tool_names=body.tools,
    )
    engine.check_model(call.model_id)
    engine.enabled_tools(call)
    if not body.stream:
        return JSONResponse(await collect(call.model_id, engine.run(call)))
    return await stream_response(engine.run(call), STREAM_PROTOCOLS[DEFAULT_PROTOCOL]())
