"""OpenAI's Responses API: POST /v1/responses, streamed and not, on the one engine.

Like /v1/chat/completions, the client owns its function tools: they go to the model and
`function_call` items come back, to be run by the client. A `{"type": "mcp"}` tool names an MCP
server of the YAML's: its tools (those the model is offered, responses_mcp.py) are run here, in
the engine's tool loop, and come back as `mcp_list_tools` and `mcp_call` items; a call of a tool
that asks first ends the answer with an `mcp_approval_request` item, decided by a later
request's `mcp_approval_response` (responses_approvals.py); a model step that calls a client's
function ends the answer there (the MCP calls of that step are run and answered first).

What the Responses API adds is state: with `store` (OpenAI's default) the conversation so far
(input items and output) is kept in the chat store, in a namespace of its own (no chat id names
it), so a later request continues it by `previous_response_id`, or names single items of it by
`item_reference`. A stored response belongs to the client that made it; to any other it does not
exist. A record is capped in bytes (gateway.chats.max_bytes, as a chat), and a continuation
resends the whole conversation, which counts against GATEWAY_MAX_TOTAL_CHARS: a chain cannot
grow past either.

The stored record is the response object as the client was sent it, and the items before its
output (the earlier conversation, then this request's input, each with an id): GET
/v1/responses/{id} returns the one, GET .../input_items lists the request's own input, and
DELETE removes the record (what was continued from it keeps its own copy of the conversation).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from gateway.chat_call import ChatCall
from gateway.doors.common.admission import allowed_models, allowed_tools
from gateway.doors.common.answering import answer
from gateway.doors.common.dependencies import (
    DOOR_DEPENDENCIES,
    AdmissionDep,
    ChatOptionsDep,
    ChatStoreDep,
    ClientIdentity,
)
from gateway.doors.common.door_routes import door_router
from gateway.doors.common.streaming import stream_response
from gateway.doors.openai_responses.responses_approvals import decisions_in
from gateway.doors.openai_responses.responses_builder import ResponseBuilder
from gateway.doors.openai_responses.responses_encoder import ResponseCollector, ResponsesEncoder
from gateway.doors.openai_responses.responses_items import (
    input_item_id,
    listed_item,
)
from gateway.doors.openai_responses.responses_mcp import mcp_offer
from gateway.doors.openai_responses.responses_mcp_schemas import McpListToolsItem, McpToolSpec
from gateway.doors.openai_responses.responses_output_items import McpOffer
from gateway.doors.openai_responses.responses_schemas import ResponsesRequest, stored_form
from gateway.doors.openai_responses.responses_store import StoredRecord, StoredResponses
from gateway.doors.openai_responses.responses_to_chat import (
    chat_messages,
    chat_params,
    chat_tools,
)
from gateway.errors import InvalidRequest
from gateway.events import Event, Finish

router = door_router("openai", prefix="/v1", dependencies=DOOR_DEPENDENCIES)


async def stored_responses(
    store: ChatStoreDep, owner: ClientIdentity, options: ChatOptionsDep
) -> StoredResponses:
    """The request's client's stored responses, under the leased config's chat options."""
    return StoredResponses(store, owner, options)


StoredResponsesDep = Annotated[StoredResponses, Depends(stored_responses)]


@router.post("/responses", response_model=None)
async def create_response(
    body: ResponsesRequest,
    request: Request,
    admission: AdmissionDep,
    stored: StoredResponsesDep,
) -> Response:
    earlier = await stored.items(body.previous_response_id) if body.previous_response_id else []
    conversation = earlier + await stored.resolve(body.items(), earlier)
    if not conversation:
        raise InvalidRequest("input: field required", param="input")
    tool_names, offer = _mcp_offer(body, admission, conversation)
    decided = decisions_in(conversation, len(earlier))
    messages = chat_messages(body.instructions, conversation, decided.deciding)
    offer = replace(offer, decided=decided.calls)
    call = ChatCall(
        model_id=body.model,
        messages=messages,
        params=chat_params(body),
        stream=body.stream,
        # The client declares and runs its function tools; the gateway runs only the MCP tools
        # the request's mcp tools name (none without one: not even the YAML's own tools).
        client_runs_tools=True,
        client_tools=chat_tools(body.function_tools()),
        tool_names=tool_names,
        # An answer here can carry approval requests (mcp_approval_request items), and the
        # request's mcp tools may ask for more than the YAML does.
        can_ask_approval=True,
        asks_first=offer.asking,
        decisions=decided.decisions,
    )
    keep = body.store and stored.enabled
    response_id = f"resp_{uuid.uuid4().hex}"
    builder = ResponseBuilder(_shell(body, response_id, keep), offer)
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
            return await stream_response(events, encoder, admission.drain)
        return JSONResponse(await collector(body.model, events))

    protocol = "responses-sse" if body.stream else "responses-json"
    return await answer(
        request,
        admission,
        call,
        protocol=protocol,
        collector=collector,
        encoder=encoder,
        respond=respond,
    )


def _mcp_offer(
    body: ResponsesRequest, admission: AdmissionDep, conversation: list[Any]
) -> tuple[list[str] | None, McpOffer]:
    """What the request's mcp tools offer the model; a client's function may not take the
    name of an MCP tool the gateway runs."""
    engine, mcp_tools = admission.engine, body.mcp_tools()
    if not mcp_tools:
        return None, McpOffer()
    engine.check_model(body.model, "chat", allowed_models(admission.key))  # its 404 first
    listed = {item.server_label for item in conversation if isinstance(item, McpListToolsItem)}
    key_tools = allowed_tools(admission.key)
    tool_names, offer = mcp_offer(engine, body.model, mcp_tools, listed, key_tools)
    for index, tool in enumerate(body.tools or []):
        if not isinstance(tool, McpToolSpec) and tool["name"] in offer.names:
            param = f"tools[{index}].name"
            raise InvalidRequest(f"{param}: '{tool['name']}' is an MCP tool's name", param=param)
    return tool_names, offer


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


@router.get("/responses/{response_id}", response_model=None)
async def retrieve_response(
    response_id: str, stored: StoredResponsesDep, stream: bool = False
) -> JSONResponse:
    if stream:
        raise InvalidRequest(
            "stream: a stored response is returned whole, never streamed", param="stream"
        )
    record = await stored.record(response_id)
    return JSONResponse(record.response)


@router.delete("/responses/{response_id}", response_model=None)
async def delete_response(response_id: str, stored: StoredResponsesDep) -> JSONResponse:
    await stored.delete(response_id)
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})


@router.get("/responses/{response_id}/input_items", response_model=None)
async def list_input_items(
    response_id: str,
    stored: StoredResponsesDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    include: Annotated[list[str] | None, Query()] = None,  # accepted; nothing to add here
) -> JSONResponse:
    """The request's own input items (references resolved), as OpenAI lists them: newest
    first unless `order=asc`, `limit` at a time, after the item id `after`."""
    record = await stored.record(response_id)
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
        "tools": [t.echoed() if isinstance(t, McpToolSpec) else t for t in body.tools or []],
        "top_p": body.top_p,
        "truncation": "disabled",
        "user": body.user,
    }
