"""Chats by id: /api/chat with a chat id, and the routes of a stored chat.

POST /api/chat {id, message | messages}     answer from the stored history (see chats/history.py)
GET  /api/chat/{id}/stream                  the answer in progress, from its start, live (204: none)
POST /api/chat/{id}/stop                    stop it wherever it runs; always {"success": true}
GET  /api/chat/{id}/messages                the stored UI messages
DELETE /api/chat/{id}                       forget the chat

A chat belongs to the client that created it (its API key; its IP without keys): to any other
client it does not exist (404).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import Body, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ConfigDict, Field

from gateway.chat_call import ChatCall
from gateway.chats.history import check_caps, next_history
from gateway.chats.service import Chats
from gateway.chats.store import ActiveStream
from gateway.config import ChatOptions
from gateway.doors.common.answering import answer
from gateway.doors.common.dependencies import (
    DOOR_DEPENDENCIES,
    Admission,
    ChatOptionsDep,
    ClientIdentity,
    DrainDep,
    RuntimeDep,
)
from gateway.doors.common.door_routes import door_router
from gateway.doors.common.request_models import RequestModel
from gateway.doors.common.streaming import stream_response
from gateway.doors.frontend.frontend_approvals import approval_fields, with_stored_parts
from gateway.doors.frontend.frontend_collect import collect
from gateway.doors.frontend.frontend_schemas import CHAT_ID_PATTERN, ChatRequest, UIMessage
from gateway.doors.frontend.protocol_choice import choose_protocol, make_encoder
from gateway.doors.frontend.ui_messages import ui_message_to_litellm
from gateway.errors import ChatBusy, ChatNotFound, ChatStoreUnavailable
from gateway.events import Event
from gateway.ids import new_id

router = door_router("gateway", dependencies=DOOR_DEPENDENCIES)

ChatIdPath = Annotated[str, Path(pattern=CHAT_ID_PATTERN)]


async def _chats(runtime: RuntimeDep) -> Chats:
    return runtime.chats


# The chat service: stored chats, and the answers that run apart from their connection.
ChatsDep = Annotated[Chats, Depends(_chats)]


def chat_input(options: ChatOptions, body: ChatRequest) -> list[UIMessage] | None:
    """The UI messages a request with an id adds to its stored chat (maybe none); None when it
    does not use the chat store: chats are off, or the conversation is in OpenAI's message
    shape (an AI SDK 4 client), and those answer as before."""
    if not options.enabled:
        return None
    incoming = body.ui_messages()
    if body.messages is not None and incoming is None:
        return None
    return incoming or []


def _stored(message: UIMessage) -> dict[str, Any]:
    stored: dict[str, Any] = {
        "id": message.id or new_id("msg"),
        "role": message.role,
        "parts": [dict(part) for part in message.parts],
    }
    if message.metadata is not None:
        stored["metadata"] = message.metadata
    return stored


def _call(
    body: ChatRequest,
    history: list[dict[str, Any]],
    approvals: dict[str, Any],
    message_id: str | None = None,
) -> ChatCall:
    """The engine's call for `history` (stored UI messages) with the request's parameters."""
    last = len(history) - 1
    return ChatCall(
        model_id=body.model,
        messages=[
            converted
            for index, message in enumerate(history)
            for converted in ui_message_to_litellm(
                message["role"], list(message["parts"]), deciding=index == last
            )
        ],
        params=body.sampling_params(),
        stream=body.stream,
        tool_names=body.tools,
        **{**approvals, "message_id": message_id or approvals.get("message_id")},
    )


async def answer_in_chat(
    request: Request,
    admission: Admission,
    chats: Chats,
    options: ChatOptions,
    body: ChatRequest,
    given: list[UIMessage],
    protocol: str,
) -> Response:
    """Answer from the chat's stored history and `given` (chat_input), as body.id's owner."""
    assert body.id is not None
    chat_id = body.id
    owner = admission.client
    incoming = [_stored(m) for m in given]
    try:
        chat = await chats.load(chat_id, owner)
    except ChatStoreUnavailable:
        if options.on_store_failure == "answer" and incoming:
            return await _answer_alone(request, admission, body, protocol, incoming)
        raise
    regenerating = body.trigger == "regenerate-message"
    if regenerating and chat is None:
        raise ChatNotFound("no chat with this id to regenerate an answer in")
    stale = None
    if chat is not None and chat.active is not None:
        if await chats.is_running(chat_id, chat.active):
            raise ChatBusy("this chat is still answering; stop it before sending more")
        stale = chat.active.stream_id
    chats.check_unread_cap(owner, options)
    history = next_history(
        chat.messages if chat is not None else [],
        replace_with=incoming if body.messages is not None else None,
        message=incoming[0] if body.message is not None else None,
        regenerate=(body.message_id or True) if regenerating else False,
    )
    if history[-1].get("role") == "assistant" and chat is not None:
        history[-1] = with_stored_parts(history[-1], chat.messages)
    check_caps(history, options)
    approvals = approval_fields(protocol, body.stream, history[-1])
    # Decided calls continue the answer that paused for them, in its message.
    continued = history[-1] if approvals.get("decisions") else None
    metadata = {"createdAt": int(time.time() * 1000), "model": body.model}
    message_id = str(continued["id"]) if continued is not None else new_id("msg")
    active = ActiveStream(new_id("stream"), message_id, metadata)
    call = _call(body, history, approvals, active.message_id)
    encoder = make_encoder(protocol, metadata) if body.stream else None

    async def respond(events: AsyncIterator[Event]) -> Response:
        await chats.reserve(chat_id, owner, history, active, stale, options)
        generation = chats.begin(chat_id, owner, active, events, options, continued)
        try:
            await generation.first_event()
        except asyncio.CancelledError:
            generation.requester_left()
            raise
        if encoder is None:
            async with aclosing(generation.follow(requester=True)) as followed:
                return JSONResponse(await collect(body.model, followed))
        return await stream_response(generation.follow(requester=True), encoder, admission.drain)

    return await answer(
        request,
        admission,
        call,
        protocol=protocol if body.stream else "json",
        collector=collect,
        encoder=encoder,
        respond=respond,
    )


async def _answer_alone(
    request: Request,
    admission: Admission,
    body: ChatRequest,
    protocol: str,
    incoming: list[dict[str, Any]],
) -> Response:
    """The chat store is down and the YAML says answer anyway: from the request alone."""
    call = _call(body, incoming, approval_fields(protocol, body.stream, incoming[-1]))
    encoder = make_encoder(protocol, None) if body.stream else None
    return await answer(
        request,
        admission,
        call,
        protocol=protocol if body.stream else "json",
        collector=collect,
        encoder=encoder,
    )


@router.get("/api/chat/{chat_id}/stream", response_model=None)
async def resume_stream(
    chat_id: ChatIdPath,
    request: Request,
    chats: ChatsDep,
    options: ChatOptionsDep,
    owner: ClientIdentity,
    drain: DrainDep,
) -> Response:
    """The answer in progress, from its first part, following it live; 204 when none runs."""
    protocol = choose_protocol(request, "ui-message-stream")
    chat = await chats.load(chat_id, owner)
    active = await chats.running_answer(chat_id, chat, options) if chat is not None else None
    if active is None:
        return Response(status_code=204)
    events = chats.follow(chat_id, active, options)
    if events is None:
        return Response(status_code=204)
    encoder = make_encoder(protocol, active.metadata)
    try:
        return await stream_response(events, encoder, drain)
    except StopAsyncIteration:
        return Response(status_code=204)  # it ended, having said nothing, as we looked


class StopRequest(RequestModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    # The client's copy of the answer so far: stored only if no replica runs the answer any more.
    assistant_message: UIMessage | None = Field(default=None, alias="assistantMessage")
    # Stop only this stream (a stop for an answer that already ended is a no-op).
    active_stream_id: str | None = Field(default=None, alias="activeStreamId", max_length=256)


@router.post("/api/chat/{chat_id}/stop")
async def stop_chat(
    chat_id: ChatIdPath,
    chats: ChatsDep,
    options: ChatOptionsDep,
    owner: ClientIdentity,
    body: Annotated[StopRequest | None, Body()] = None,
) -> dict[str, bool]:
    chat = await chats.load(chat_id, owner)
    body = body or StopRequest()
    if chat is None or chat.active is None:
        return {"success": True}
    if body.active_stream_id is not None and body.active_stream_id != chat.active.stream_id:
        return {"success": True}  # a stale stop: that answer is over
    partial = _stored(body.assistant_message) if body.assistant_message is not None else None
    await chats.stop(chat_id, chat.active, partial, options)
    return {"success": True}


@router.get("/api/chat/{chat_id}/messages")
async def chat_messages(
    chat_id: ChatIdPath, chats: ChatsDep, options: ChatOptionsDep, owner: ClientIdentity
) -> dict[str, Any]:
    chat = await chats.load(chat_id, owner)
    if chat is None:
        raise ChatNotFound("no chat with this id")
    active = await chats.running_answer(chat_id, chat, options)
    return {
        "id": chat_id,
        "messages": chat.messages,
        "activeStreamId": active.stream_id if active is not None else None,
    }


@router.delete("/api/chat/{chat_id}")
async def delete_chat(
    chat_id: ChatIdPath, chats: ChatsDep, owner: ClientIdentity
) -> dict[str, bool]:
    await chats.delete(chat_id, owner)
    return {"success": True}
