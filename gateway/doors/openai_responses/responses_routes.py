"""OpenAI's Responses API: POST /v1/responses, streamed and not, on the one engine.

Like /v1/chat/completions, the client owns its tools: function tools go to the model and
`function_call` items come back; nothing is executed here. What the Responses API adds is
state: with `store` (OpenAI's default) the conversation so far (input items and output) is kept
in the chat store, in a namespace of its own (no chat id names it), so a later request
continues it by `previous_response_id`, or names single items of it by `item_reference`. A
stored response belongs to the client that made it; to any other it does not exist. A record
is capped in bytes (gateway.chats.max_bytes, as a chat), and a continuation resends the whole
conversation, which counts against GATEWAY_MAX_TOTAL_CHARS: a chain cannot grow past either.

The stored record is the response object as the client was sent it, and the items before its
output (the earlier conversation, then this request's input, each with an id): GET
/v1/responses/{id} returns the one, GET .../input_items lists the request's own input, and
DELETE removes the record (what was continued from it keeps its own copy of the conversation).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from gateway.cache.stores import StoreFailed
from gateway.chats.store import Chat, ChatStore, dump_chat
from gateway.config import ChatOptions
from gateway.doors.common.admission import authenticate, client_identity
from gateway.doors.common.answering import answer
from gateway.doors.common.door_routes import door_router
from gateway.doors.common.streaming import stream_response
from gateway.doors.openai_responses.responses_builder import ResponseBuilder
from gateway.doors.openai_responses.responses_encoder import ResponseCollector, ResponsesEncoder
from gateway.doors.openai_responses.responses_items import (
    input_item_id,
    item_response_id,
    listed_item,
)
from gateway.doors.openai_responses.responses_schemas import (
    ItemReference,
    ResponsesRequest,
    StoredItems,
    chat_messages,
    chat_params,
    chat_tools,
    stored_form,
)
from gateway.engine import ChatCall, Engine
from gateway.errors import (
    ChatStoreUnavailable,
    GatewayError,
    InvalidRequest,
    PreviousResponseNotFound,
    RequestTooLarge,
    ResponseNotFound,
)
from gateway.events import Event, Finish

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
        raise InvalidRequest("input: field required", param="input")
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
    response_id = f"resp_{uuid.uuid4().hex}"
    builder = ResponseBuilder(_shell(body, response_id, keep))
    collector = ResponseCollector(builder)
    encoder = ResponsesEncoder(builder) if body.stream else None
    given = [stored_form(item) for item in conversation[len(earlier) :]]
    for position, item in enumerate(given):
        item.setdefault("id", input_item_id(item, response_id, position))
    context = [stored_form(item) for item in earlier] + given
    if keep:
        # Refused before the call when the record would be over the cap without its output.
        stored.check_size(StoredRecord(builder.response(), context, len(earlier)))

    async def save(response: dict[str, Any]) -> None:
        if not await stored.save(response_id, StoredRecord(response, context, len(earlier))):
            # The very object the client is sent next (ResponseBuilder.conclude) says so.
            response["store"] = False

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
    save: Callable[[dict[str, Any]], Awaitable[None]],
) -> AsyncIterator[Event]:
    """Pass events through, storing the answer before its Finish goes out, so a client that
    has read the end and continues at once finds it. A failed answer is not stored."""
    try:
        async for event in events:
            if isinstance(event, Finish) and event.finish_reason != "error":
                # The encoder (or collector) pulls one event at a time: the builder has seen
                # every event before this one, and sends the concluded response on Finish.
                await save(builder.conclude(event))
            yield event
    finally:
        aclose = getattr(events, "aclose", None)  # the engine's run is an async generator
        if aclose is not None:
            await aclose()


# A record is one entry in its Chat's messages, of this type.
_RECORD = "gateway.stored_response"


@dataclass(frozen=True)
class StoredRecord:
    """A stored response: the object itself, the items before its output (earlier
    conversation, then this request's input), and where the input starts."""

    response: dict[str, Any]
    context: list[dict[str, Any]]
    input_from: int

    def dump(self) -> list[dict[str, Any]]:
        entry = {"type": _RECORD, "response": self.response, "context": self.context}
        return [{**entry, "input_from": self.input_from}]

    @classmethod
    def load(cls, messages: list[Any]) -> StoredRecord:
        entry = messages[0] if len(messages) == 1 else None
        if not (isinstance(entry, dict) and entry.get("type") == _RECORD):
            raise TypeError("not a stored response")
        response, context = entry["response"], entry["context"]
        if not (isinstance(response, dict) and isinstance(context, list)):
            raise TypeError("not a stored response")
        return cls(response, context, int(entry["input_from"]))

    def conversation(self) -> list[dict[str, Any]]:
        """The items a later request continues from: the context, then the output."""
        return self.context + list(self.response["output"])


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

    async def record(
        self, response_id: str, missing: type[GatewayError] = ResponseNotFound
    ) -> StoredRecord:
        """This client's stored response, or `missing` (never telling apart why)."""
        not_found = missing(f"no stored response with id '{response_id}'")
        if not self.enabled or not response_id.startswith("resp_"):
            raise not_found
        try:
            chat = await self._store.load(response_id, kind="response")
        except StoreFailed as exc:
            raise ChatStoreUnavailable(f"the chat store is unavailable ({exc})") from None
        if chat is None or chat.owner != self._owner:
            raise not_found
        try:
            return StoredRecord.load(chat.messages)
        except (KeyError, TypeError, ValueError):
            raise ChatStoreUnavailable(
                f"the stored response '{response_id}' is unreadable"
            ) from None

    async def items(self, response_id: str) -> list[Any]:
        """The conversation a stored response ends, as typed input items."""
        if response_id in self._loaded:
            return self._loaded[response_id]
        record = await self.record(response_id, PreviousResponseNotFound)
        try:
            items = StoredItems.validate_python(record.conversation())
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

    def size(self, record: StoredRecord) -> int:
        """Bytes `record` takes in the store."""
        return len(dump_chat(Chat(self._owner, record.dump())))

    def check_size(self, record: StoredRecord) -> None:
        """RequestTooLarge when `record` is over the cap of a stored conversation."""
        size = self.size(record)
        if size > self._options.max_bytes:
            raise RequestTooLarge(
                f"this response would be stored in {size} bytes with the conversation it "
                f"continues, over the limit of {self._options.max_bytes} "
                "(gateway.chats.max_bytes); send it with store: false, or start a new "
                "conversation"
            )

    async def save(self, response_id: str, record: StoredRecord) -> bool:
        """Store `record`; False when it was not (its output took it over the cap, or the
        store failed and the YAML says answer anyway)."""
        if self.size(record) > self._options.max_bytes:
            log.warning(
                "response %s answered but not stored: over gateway.chats.max_bytes", response_id
            )
            return False

        def edit(_: Chat | None) -> Chat:
            return Chat(self._owner, record.dump())

        try:
            await self._store.change(response_id, edit, self._options.ttl, kind="response")
        except StoreFailed as exc:
            if self._options.on_store_failure == "refuse":
                raise ChatStoreUnavailable(f"the chat store is unavailable ({exc})") from None
            log.warning("response %s answered but not stored: %s", response_id, exc)
            return False
        return True

    async def delete(self, response_id: str) -> None:
        """Remove this client's stored response, or ResponseNotFound."""
        not_found = ResponseNotFound(f"no stored response with id '{response_id}'")
        if not self.enabled or not response_id.startswith("resp_"):
            raise not_found

        def edit(chat: Chat | None) -> None:
            if chat is None or chat.owner != self._owner:
                raise not_found  # the store leaves the chat as it was
            return None  # None from an edit deletes the chat

        try:
            await self._store.change(response_id, edit, self._options.ttl, kind="response")
        except StoreFailed as exc:
            raise ChatStoreUnavailable(f"the chat store is unavailable ({exc})") from None


def _stored(request: Request) -> StoredResponses:
    options = request.app.state.engine.config.options.chats
    return StoredResponses(request.app.state.chats.store, client_identity(request), options)


@router.get("/responses/{response_id}", response_model=None)
async def retrieve_response(
    response_id: str, request: Request, stream: bool = False
) -> JSONResponse:
    if stream:
        raise InvalidRequest(
            "stream: a stored response is returned whole, never streamed", param="stream"
        )
    record = await _stored(request).record(response_id)
    return JSONResponse(record.response)


@router.delete("/responses/{response_id}", response_model=None)
async def delete_response(response_id: str, request: Request) -> JSONResponse:
    await _stored(request).delete(response_id)
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})


@router.get("/responses/{response_id}/input_items", response_model=None)
async def list_input_items(
    response_id: str,
    request: Request,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    include: Annotated[list[str] | None, Query()] = None,  # accepted; nothing to add here
) -> JSONResponse:
    """The request's own input items (references resolved), as OpenAI lists them: newest
    first unless `order=asc`, `limit` at a time, after the item id `after`."""
    record = await _stored(request).record(response_id)
    items = [listed_item(item) for item in record.context[record.input_from :]]
    if order == "desc":
        items.reverse()
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[:limit]
    return JSONResponse(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > limit,
        }
    )


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
