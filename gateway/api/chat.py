"""POST /api/chat: the frontend's door, in whichever stream protocol the client reads."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from gateway.api.admission import authenticate
from gateway.api.answering import answer
from gateway.api.schemas import ChatRequest
from gateway.engine import ChatCall
from gateway.errors import UnknownProtocol
from gateway.protocols import DEFAULT_PROTOCOL, STREAM_PROTOCOLS
from gateway.protocols.base import StreamEncoder
from gateway.protocols.collect import collect

router = APIRouter(dependencies=[Depends(authenticate)])


@router.post("/api/chat", response_model=None)
async def chat(body: ChatRequest, request: Request) -> Response:
    protocol, encoder = choose_encoder(request)
    call = ChatCall(
        model_id=body.model,
        messages=body.litellm_messages(),
        params=body.sampling_params(),
        stream=body.stream,
        tool_names=body.tools,
    )
    if not body.stream:
        return await answer(request, call, protocol="json", collector=collect, encoder=None)
    return await answer(request, call, protocol=protocol, collector=collect, encoder=encoder)


def choose_encoder(request: Request) -> tuple[str, StreamEncoder]:
    """`?protocol=` wins over the `x-stream-protocol` header; the line format is the default."""
    name = (
        request.query_params.get("protocol")
        or request.headers.get("x-stream-protocol")
        or DEFAULT_PROTOCOL
    )
    name = name.strip().lower()
    factory = STREAM_PROTOCOLS.get(name)
    if factory is None:
        raise UnknownProtocol(f"unknown protocol {name!r}; valid: {', '.join(STREAM_PROTOCOLS)}")
    return name, factory()
