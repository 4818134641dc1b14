"""POST /api/chat: the frontend's door, in whichever stream protocol the client reads."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from gateway.chat_call import ChatCall
from gateway.doors.common.answering import answer
from gateway.doors.common.dependencies import DOOR_DEPENDENCIES, AdmissionDep, ChatOptionsDep
from gateway.doors.common.door_routes import door_router
from gateway.doors.frontend.frontend_approvals import approval_fields
from gateway.doors.frontend.frontend_chats import ChatsDep, answer_in_chat, chat_input
from gateway.doors.frontend.frontend_collect import collect
from gateway.doors.frontend.frontend_schemas import ChatRequest
from gateway.doors.frontend.protocol_choice import choose_encoder
from gateway.errors import InvalidRequest

router = door_router("gateway", dependencies=DOOR_DEPENDENCIES)


@router.post("/api/chat", response_model=None)
async def chat(
    body: ChatRequest,
    request: Request,
    admission: AdmissionDep,
    chats: ChatsDep,
    options: ChatOptionsDep,
) -> Response:
    protocol, encoder = choose_encoder(request)
    if body.id is not None and (given := chat_input(options, body)) is not None:
        return await answer_in_chat(request, admission, chats, options, body, given, protocol)
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
        **approval_fields(protocol, body.stream, body.last_ui_message()),
    )
    if not body.stream:
        return await answer(
            request, admission, call, protocol="json", collector=collect, encoder=None
        )
    return await answer(
        request, admission, call, protocol=protocol, collector=collect, encoder=encoder
    )
