"""OpenAI's Responses API: POST /v1/responses, streamed and not, on the one engine.

Like /v1/chat/completions, the client owns its tools: function tools go to the model and
`function_call` items come back; nothing is executed here. What the Responses API adds is
state: with `store` (OpenAI's default) the conversation so far (input items and output) is kept
in the chat store under `response:<id>`, so a later request continues it by
`previous_response_id`, or names single items of it by `item_reference`. A stored response
belongs to the client that made it; to any other it does not exist.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from gateway.api.admission import authenticate, client_identity
from gateway.api.answering import answer
from gateway.api.doors import door_router
from gateway.api.responses_schemas import (
    ItemReference,
    ResponsesRequest,
    StoredItems,
    chat_messages,
    chat_params,
    chat_tools,
    stored_form,
)
from gateway.api.streaming import stream_response
from gateway.cache.stores import StoreFailed
from gateway.chats.store import Chat, ChatStore
from gateway.config import ChatOptions
from gateway.engine import ChatCall, Engine
from gateway.errors import ChatStoreUnavailable, InvalidRequest, PreviousResponseNotFound
from gateway.events import Event, Finish
from gateway.protocols.openai_responses import (
    ResponseBuilder,
    ResponseCollector,
    ResponsesEncoder,
    item_response_id,
)

log = logging.getLogger("gateway.responses")

router = door_router("openai", prefix="/v1", dependencies=[Depends(authenticate)])


@router.post("/responses", response_model=None)
async def create_response(body: ResponsesRequest, request: Request) -> Response:
    engine: Engine = request.app.state.engine
    owner = client_identity(request)
    stored = StoredResponses(request.app.state.chats.store, owner, engine.config.options.chats)
    earlier = await stored.items(body.previous_response_id) if body.previous_response_id else []
    conversation = earlier + await stored.resolve(body.items(), earlier)
    if not conversation:
        raise InvalidRequest("input: field required")
    messages = chat_messages(body.instructions, conversation)
    call = ChatCall(
        model_id=body.model,
        messages=messages,
        params=chat_params(body),
        stream=body.stream,
        # This door never runs the gateway's tools: the client declares and runs its own.
        client_runs_tools=True,
        client_tools=chat_tools(body.tools),
    )
    keep = body.store and stored.enabled
    builder = ResponseBuilder(_shell(body, f"resp_{uuid.uuid4().hex}", keep))
    collector = ResponseCollector(builder)
    encoder = ResponsesEncoder(builder) if body.stream else None

    async def save(output: list[dict[str, Any]]) -> None:
        items = [stored_form(item) for item in conversation] + output
        await stored.save(builder.shell["id"], items)

    async def respond(events: AsyncIterator[Event]) -> Response:
        if keep:
            events = _saved_before_finish(events, builder, save)
        if encoder is not None:
            return await stream_response(events, encoder, request.app.state.drain)
        return JSONResponse(await collector(body.model, events))

    protocol = "responses-sse" if body.stream else "responses-json"
    return await answer(
        request, call, protocol=protocol, collector=collector, encoder=encoder, respond=respond
    )


async def _saved_before_finish(
    events: AsyncIterator[Event],
    builder: ResponseBuilder,
    save: Callable[[list[dict[str, Any]]], Awaitable[None]],
) -> AsyncIterator[Event]:
    """Pass events through, storing the answer before its Finish goes out, so a client that
    has read the end and continues at once finds it. A failed answer is not stored."""
    try:
        async for event in events:
            if isinstance(event, Finish) and event.finish_reason != "error":
                # The encoder (or collector) pulls one event at a time: the builder has seen
                # every event before this one.
                await save(builder.stored_output())
            yield event
    finally:
        aclose = getattr(events, "aclose", None)  # the engine's run is an async generator
        if aclose is not None:
            await aclose()


class StoredResponses:
    """One client's stored responses in the chat store: load, resolve references, save."""

    def __init__(self, store: ChatStore, owner: str, options: ChatOptions) -> None:
        self._store = store
        self._owner = owner
        self._options = options
        self._loaded: dict[str, list[Any]] = {}

    @property
    def enabled(self) -> bool:
        return self._options.enabled

    async def items(self, response_id: str) -> list[Any]:
        """The conversation a stored response ends, as typed input items."""
        if response_id in self._loaded:
            return self._loaded[response_id]
        not_found = PreviousResponseNotFound(f"no stored response with id '{response_id}'")
        if not self.enabled:
            raise not_found
        try:
            chat = await self._store.load(_key(response_id))
        except StoreFailed as exc:
            raise ChatStoreUnavailable(f"the chat store is unavailable ({exc})") from None
        if chat is None or chat.owner != self._owner:
            raise not_found
        try:
            items = StoredItems.validate_python(chat.messages)
        except ValidationError:
            raise ChatStoreUnavailable(
                f"the stored response '{response_id}' is unreadable"
            ) from None
        self._loaded[response_id] = items
        return items

    async def resolve(self, items: list[Any], earlier: list[Any]) -> list[Any]:
        """`items` with every item_reference replaced by the item it names."""
        known = {item.id: item for item in earlier if item.id}
        resolved = []
        for position, item in enumerate(items):
            if isinstance(item, ItemReference):
                found = known.get(item.id) or await self._find(item.id)
                if found is None:
                    raise PreviousResponseNotFound(
                        f"input[{position}]: no stored item with id '{item.id}'"
                    )
                item = found
            if item.id:
                known[item.id] = item
            resolved.append(item)
        return resolved

    async def _find(self, item_id: str) -> Any | None:
        response_id = item_response_id(item_id)
        if response_id is None:
            return None
        try:
            items = await self.items(response_id)
        except PreviousResponseNotFound:
            return None
        return next((item for item in items if item.id == item_id), None)

    async def save(self, response_id: str, items: list[dict[str, Any]]) -> None:
        def edit(_: Chat | None) -> Chat:
            return Chat(self._owner, items)

        try:
            await self._store.change(_key(response_id), edit, self._options.ttl)
        except StoreFailed as exc:
            if self._options.on_store_failure == "refuse":
                raise ChatStoreUnavailable(f"the chat store is unavailable ({exc})") from None
            log.warning("response %s answered but not stored: %s", response_id, exc)


def _key(response_id: str) -> str:
    return f"response:{response_id}"


def _shell(body: ResponsesRequest, response_id: str, stored: bool) -> dict[str, Any]:
    """The response object without its outcome: ids and the request's own settings."""
    text = dict(body.text or {})
    text.setdefault("format", {"type": "text"})
    reasoning = body.reasoning or {}
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "metadata": body.metadata or {},
        "model": body.model,
        "parallel_tool_calls": body.parallel_tool_calls is not False,
        "previous_response_id": body.previous_response_id,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": stored,
        "temperature": body.temperature,
        "text": text,
        "tool_choice": body.tool_choice or "auto",
        "tools": list(body.tools or []),
        "top_p": body.top_p,
        "truncation": "disabled",
        "user": body.user,
    }
