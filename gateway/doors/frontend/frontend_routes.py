"""POST /api/chat: the frontend's door, in whichever stream protocol the client reads."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response

from gateway.doors.common.admission import authenticate
from gateway.doors.common.answering import answer
from gateway.doors.common.door_routes import door_router
from gateway.doors.frontend.frontend_chats import answer_in_chat, chats_apply
from gateway.doors.frontend.frontend_collect import collect
from gateway.doors.frontend.frontend_schemas import ChatRequest
from gateway.doors.frontend.protocol_choice import choose_encoder
from gateway.engine import ChatCall
from gateway.errors import InvalidRequest

router = door_router("gateway", dependencies=[Depends(authenticate)])


@router.post("/api/chat", response_model=None)
async def chat(body: ChatRequest, request: Request) -> Response:
    protocol, encoder = choose_encoder(request)
    if body.id is not None and chats_apply(request, body):
        return await answer_in_chat(request, body, protocol)
    if body.messages is None:
        raise InvalidRequest(
            "messages: Field required (gateway.chats is off, so every request sends them)",
            param="messages",
        )
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
