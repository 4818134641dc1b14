"""/v1/responses (OpenAI's Responses API), driven by its real clients: the official `openai`
Python SDK and the AI SDK's OpenAI provider (`@ai-sdk/openai` under Node), against the fake
upstream. Every streamed event and every response object is also held to the SDK's own typed
models, strictly."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai.types.responses import Response

from tests.support.ai_sdk import run_openai_provider_client
from tests.support.configs import config_for
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Reply
from tests.support.gateways import Gateway
from tests.support.processes import free_port
from tests.support.redis_server import RedisServer

# Every test here runs on both stream readers (tests/conftest.py, stream_reader).
pytestmark = pytest.mark.usefixtures("stream_reader")

KEY_A = "sk-resp-alice-0123456789abcdef"
KEY_B = "sk-resp-bob-0123456789abcdefgh"

ORDER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "lookup_order",
    "description": "Find an order",
    "parameters": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    },
}


def sdk(gateway: Gateway, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


@pytest.fixture
def client(gateway_for: Gateway) -> openai.OpenAI:
    return sdk(gateway_for)


def strict(event: Any) -> None:
    """The event (or response) validates against its own SDK model: every required field."""
    assert type(event).__module__.startswith("openai.types.responses"), type(event)
    type(event).model_validate(event.to_dict())
    response = getattr(event, "response", None)
    if response is not None:
        Response.model_validate(response.to_dict())


def streamed(client: openai.OpenAI, **request: Any) -> list[Any]:
    events = list(client.responses.create(model="chat-model", stream=True, **request))
    for event in events:
        strict(event)
    assert [event.sequence_number for event in events] == list(range(len(events)))
    return events


def kinds(events: list[Any]) -> list[str]:
    return [event.type for event in events]


def text_of(events: list[Any]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


# --- text -----------------------------------------------------------------------------------------


def test_a_streamed_answer_is_openais_event_sequence(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.script(Reply(chunks=["你好", "，", "world"], prompt_tokens=9, completion_tokens=3))

    events = streamed(client, input="hi", instructions="Be brief.", temperature=0.3)

    assert kinds(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert text_of(events) == "你好，world"
    assert events[0].response.status == "in_progress"
    done = events[-1].response
    assert done.id == events[0].response.id and done.id.startswith("resp_")
    assert (done.status, done.output_text, done.model) == ("completed", "你好，world", "chat-model")
    assert done.usage is not None
    usage = done.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (9, 3, 12)
    assert (done.instructions, done.temperature) == ("Be brief.", 0.3)
    sent = upstream.requests[-1]
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert sent["temperature"] == 0.3


def test_a_non_streamed_answer_is_the_response_object(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.script(Reply(chunks=["Hello", " there"], prompt_tokens=4, completion_tokens=2))

    response = client.responses.create(
        model="chat-model",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        max_output_tokens=50,
        top_p=0.5,
        metadata={"ticket": "T-1"},
        reasoning={"effort": "low"},
    )

    strict(response)
    Response.model_validate(response.to_dict())
    assert (response.object, response.status, response.output_text) == (
        "response",
        "completed",
        "Hello there",
    )
    message = response.output[0]
    assert message.type == "message" and message.status == "completed"
    assert response.usage is not None and response.usage.total_tokens == 6
    assert response.metadata == {"ticket": "T-1"} and response.store is True
    sent = upstream.requests[-1]
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert (sent["max_tokens"], sent["top_p"], sent["reasoning_effort"]) == (50, 0.5, "low")
    assert "metadata" not in sent  # kept by the gateway, never sent on


def test_the_sdks_stream_helper_accumulates_the_same_response(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    """`responses.stream()` rebuilds the response from the events and checks their indexes."""
    upstream.script(Reply(chunks=["Let me check. "], tool_calls=[FakeToolCall(
        "lookup_order", '{"order_id": "A-17"}')]))  # fmt: skip

    with client.responses.stream(model="chat-model", input="where?", tools=[ORDER_TOOL]) as stream:
        texts = [event.snapshot for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()

    assert texts == ["Let me check. "]
    assert [item.type for item in final.output] == ["message", "function_call"]
    assert final.output_text == "Let me check. "
    call = final.output[1]
    assert call.type == "function_call" and json.loads(call.arguments) == {"order_id": "A-17"}


def test_a_cut_answer_is_incomplete_with_max_output_tokens(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.script(Reply(chunks=["Once upon"], finish_reason="length"))
    events = streamed(client, input="tell a story", max_output_tokens=2)
    assert events[-1].type == "response.incomplete"
    response = events[-1].response
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output[0].status == "incomplete"

    upstream.script(Reply(chunks=["Once upon"], finish_reason="length"))
    response = client.responses.create(model="chat-model", input="again", max_output_tokens=2)
    assert response.status == "incomplete" and response.output_text == "Once upon"


# --- tools ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_a_function_tool_round_trip(
    client: openai.OpenAI, upstream: FakeUpstream, stream: bool
) -> None:
    call = FakeToolCall("lookup_order", '{"order_id": "A-17"}', pieces=3)
    upstream.script(Reply(chunks=[], tool_calls=[call]))
    question = {"role": "user", "content": "where is my order A-17?"}

    if stream:
        events = streamed(client, input=[question], tools=[ORDER_TOOL], tool_choice="auto")
        assert kinds(events)[2:] == [
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
        first = events[-1].response
    else:
        first = client.responses.create(
            model="chat-model", input=[question], tools=[ORDER_TOOL], tool_choice="auto"
        )
        strict(first)
    [item] = first.output
    assert item.type == "function_call" and item.status == "completed"
    assert (item.call_id, item.name) == (call.id, "lookup_order")
    assert json.loads(item.arguments) == {"order_id": "A-17"}
    assert len(upstream.requests) == 1  # nothing was executed here
    sent = upstream.requests[0]
    assert sent["tools"] == [{"type": "function", "function": {
        k: v for k, v in ORDER_TOOL.items() if k != "type"}}]  # fmt: skip
    assert sent["tool_choice"] == "auto"

    # The client ran the tool and sends the whole conversation back, with the output.
    upstream.script(Reply(chunks=["It ships today."]))
    second = client.responses.create(
        model="chat-model",
        input=[
            question,
            item.to_dict(),  # type: ignore[list-item]
            {"type": "function_call_output", "call_id": call.id, "output": '{"eta": "today"}'},
        ],
        tools=[ORDER_TOOL],
        store=False,
    )
    assert second.output_text == "It ships today." and second.store is False
    assert upstream.requests[-1]["messages"][1:] == [
        {
            "role": "assistant",
            "content": "",  # OpenAI-shaped deployments get "" for a turn that only calls tools
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": "lookup_order", "arguments": item.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": '{"eta": "today"}'},
    ]


def test_a_tool_output_continues_a_stored_response(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    """OpenAI's own pattern: only the function_call_output, after previous_response_id."""
    call = FakeToolCall("lookup_order", '{"order_id": "A-17"}')
    upstream.script(Reply(chunks=[], tool_calls=[call]), Reply(chunks=["Today."]))
    first = client.responses.create(model="chat-model", input="where?", tools=[ORDER_TOOL])

    second = client.responses.create(
        model="chat-model",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.id, "output": "today"}],
        tools=[ORDER_TOOL],
    )

    assert second.output_text == "Today." and second.previous_response_id == first.id
    messages = upstream.requests[-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["tool_calls"][0]["id"] == call.id
    assert messages[2] == {"role": "tool", "tool_call_id": call.id, "content": "today"}


# --- stored conversations -------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, redis_server: RedisServer) -> dict[str, str]:
    return {"redis_url": redis_server.url} if request.param == "redis" else {}


@pytest.fixture
def keyed(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, store: dict[str, str]
) -> Gateway:
    return start_gateway(config_for(upstream), api_keys=f"alice:{KEY_A},bob:{KEY_B}", **store)


def test_previous_response_id_continues_a_stored_conversation_of_its_owner_only(
    keyed: Gateway, upstream: FakeUpstream
) -> None:
    alice, bob = sdk(keyed, KEY_A), sdk(keyed, KEY_B)
    upstream.script(Reply(chunks=["Hi Ada."]), Reply(chunks=["You are Ada."]))
    first = alice.responses.create(model="chat-model", input="I am Ada.", instructions="Be kind.")
    second = alice.responses.create(
        model="chat-model", input="Who am I?", previous_response_id=first.id, stream=True
    )
    assert [e.type for e in second][-1] == "response.completed"

    # Instructions are not carried over (OpenAI's rule); input and output are.
    assert upstream.requests[-1]["messages"] == [
        {"role": "user", "content": "I am Ada."},
        {"role": "assistant", "content": "Hi Ada."},
        {"role": "user", "content": "Who am I?"},
    ]

    calls = len(upstream.requests)
    for attempt in (
        {"previous_response_id": first.id, "input": "Who is Ada?"},
        {"input": [{"type": "item_reference", "id": first.output[0].id}]},
        {"previous_response_id": "resp_nope", "input": "x"},
    ):
        with pytest.raises(openai.NotFoundError) as missing:
            bob.responses.create(model="chat-model", **attempt)  # type: ignore[arg-type]
        assert missing.value.code == "previous_response_not_found"
        assert isinstance(missing.value.body, dict)
        assert missing.value.body["type"] == "invalid_request_error"
    assert len(upstream.requests) == calls  # refused before any provider call


def test_an_item_reference_names_a_stored_item(keyed: Gateway, upstream: FakeUpstream) -> None:
    alice = sdk(keyed, KEY_A)
    upstream.script(Reply(chunks=["Paris."]), Reply(chunks=["About 2 million."]))
    first = alice.responses.create(model="chat-model", input="Capital of France?")

    alice.responses.create(
        model="chat-model",
        input=[
            {"role": "user", "content": "Capital of France?"},
            {"type": "item_reference", "id": first.output[0].id},
            {"role": "user", "content": "Its population?"},
        ],
    )

    assert upstream.requests[-1]["messages"][1] == {"role": "assistant", "content": "Paris."}


def test_store_false_keeps_nothing(client: openai.OpenAI, upstream: FakeUpstream) -> None:
    first = client.responses.create(model="chat-model", input="hi", store=False)
    assert first.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="chat-model", input="again", previous_response_id=first.id)


# --- stored responses: retrieve, list input items, delete ----------------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_a_stored_response_is_retrieved_as_it_was_sent(
    keyed: Gateway, upstream: FakeUpstream, stream: bool
) -> None:
    alice = sdk(keyed, KEY_A)
    call = FakeToolCall("lookup_order", '{"order_id": "A-17"}')
    upstream.script(Reply(chunks=["Looking", " it up."], tool_calls=[call]))
    request: dict[str, Any] = {
        "input": "Where is A-17?",
        "instructions": "Be brief.",
        "tools": [ORDER_TOOL],
        "metadata": {"ticket": "42"},
    }
    if stream:
        created = streamed(alice, **request)[-1].response
    else:
        created = alice.responses.create(model="chat-model", **request)

    retrieved = alice.responses.retrieve(created.id)

    strict(retrieved)
    assert isinstance(retrieved, Response)
    assert retrieved.to_dict() == created.to_dict()
    assert retrieved.output_text == "Looking it up."
    assert [item.type for item in retrieved.output] == ["message", "function_call"]
    assert (retrieved.status, retrieved.store, retrieved.metadata) == (
        "completed",
        True,
        {"ticket": "42"},
    )


def test_input_items_are_the_requests_own_input(keyed: Gateway, upstream: FakeUpstream) -> None:
    alice = sdk(keyed, KEY_A)
    call = FakeToolCall("lookup_order", '{"order_id": "A-17"}')
    upstream.script(Reply(chunks=[], tool_calls=[call]), Reply(chunks=["Today."]))
    first = alice.responses.create(model="chat-model", input="Where is A-17?", tools=[ORDER_TOOL])
    second = alice.responses.create(
        model="chat-model",
        previous_response_id=first.id,
        input=[
            {"type": "function_call_output", "call_id": call.id, "output": "today"},
            {"role": "user", "content": [{"type": "input_text", "text": "When exactly?"}]},
        ],
        tools=[ORDER_TOOL],
    )

    page = alice.responses.input_items.list(second.id, order="asc")
    newest_first = alice.responses.input_items.list(second.id)

    for item in page.data:
        type(item).model_validate(item.to_dict())  # the SDK's own item models, strictly
    assert [item.type for item in page.data] == ["function_call_output", "message"]
    assert [item.type for item in newest_first.data] == ["message", "function_call_output"]
    output, message = page.data
    assert output.type == "function_call_output" and message.type == "message"
    assert (output.call_id, output.output) == (call.id, "today")
    assert message.role == "user" and message.content[0].type == "input_text"
    assert message.content[0].text == "When exactly?"
    assert all(item.id for item in page.data) and len({item.id for item in page.data}) == 2
    assert page.has_more is False
    (only,) = alice.responses.input_items.list(first.id).data
    assert only.type == "message" and only.role == "user"
    assert only.content[0].type == "input_text" and only.content[0].text == "Where is A-17?"

    # One at a time, the SDK's pager follows `after` to the end.
    one_by_one = alice.responses.input_items.list(second.id, order="asc", limit=1)
    assert one_by_one.has_more is True and len(one_by_one.data) == 1
    assert [item.id for item in one_by_one] == [item.id for item in page.data]

    # An input item's id names it for a later item_reference, as an output item's does.
    upstream.script(Reply(chunks=["Noon."]))
    alice.responses.create(model="chat-model", input=[{"type": "item_reference", "id": message.id}])
    assert upstream.requests[-1]["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "When exactly?"}]}
    ]


def test_a_deleted_response_is_gone(keyed: Gateway, upstream: FakeUpstream) -> None:
    alice = sdk(keyed, KEY_A)
    upstream.script(Reply(chunks=["Hi Ada."]), Reply(chunks=["You are Ada."]))
    first = alice.responses.create(model="chat-model", input="I am Ada.")
    second = alice.responses.create(
        model="chat-model", input="Who am I?", previous_response_id=first.id
    )

    deleted = alice.responses.with_raw_response.delete(first.id)

    assert deleted.status_code == 200
    assert json.loads(deleted.text) == {"id": first.id, "object": "response", "deleted": True}
    with pytest.raises(openai.NotFoundError) as gone:
        alice.responses.retrieve(first.id)
    assert gone.value.code == "response_not_found"
    with pytest.raises(openai.NotFoundError):
        alice.responses.input_items.list(first.id)
    with pytest.raises(openai.NotFoundError) as deleted_again:
        alice.responses.delete(first.id)
    assert deleted_again.value.code == "response_not_found"
    calls = len(upstream.requests)
    for attempt in (
        {"previous_response_id": first.id, "input": "again"},
        {"input": [{"type": "item_reference", "id": first.output[0].id}]},
    ):
        with pytest.raises(openai.NotFoundError) as missing:
            alice.responses.create(model="chat-model", **attempt)  # type: ignore[arg-type]
        assert missing.value.code == "previous_response_not_found"
    assert len(upstream.requests) == calls
    # What was continued from it keeps its own conversation.
    assert alice.responses.retrieve(second.id).output_text == "You are Ada."


def test_a_stored_response_is_its_owners_only(keyed: Gateway, upstream: FakeUpstream) -> None:
    alice, bob = sdk(keyed, KEY_A), sdk(keyed, KEY_B)
    first = alice.responses.create(model="chat-model", input="secret")

    for attempt in (
        lambda: bob.responses.retrieve(first.id),
        lambda: bob.responses.input_items.list(first.id),
        lambda: bob.responses.delete(first.id),
    ):
        with pytest.raises(openai.NotFoundError) as missing:
            attempt()
        assert missing.value.code == "response_not_found"
        assert isinstance(missing.value.body, dict)
        assert missing.value.body["type"] == "invalid_request_error"
        assert "secret" not in str(missing.value.body)

    assert alice.responses.retrieve(first.id).output_text == "Hello from upstream-a"


@pytest.mark.parametrize(
    "response_id",
    ["resp_nope", "nope", "resp_" + "x" * 5000, "resp_%00", "msg_1_0", "%F0%9F%98%80"],
)
def test_an_unknown_or_malformed_id_is_a_404(client: openai.OpenAI, response_id: str) -> None:
    for attempt in (
        lambda: client.get(f"/responses/{response_id}", cast_to=object),
        lambda: client.get(f"/responses/{response_id}/input_items", cast_to=object),
        lambda: client.delete(f"/responses/{response_id}", cast_to=object),
    ):
        with pytest.raises(openai.NotFoundError) as missing:
            attempt()
        assert missing.value.code == "response_not_found"


def test_bad_input_items_parameters_are_a_400_naming_them(client: openai.OpenAI) -> None:
    first = client.responses.create(model="chat-model", input="hi")
    for params, field in (
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"order": "up"}, "order"),
    ):
        with pytest.raises(openai.BadRequestError) as bad:
            client.responses.input_items.list(first.id, **params)  # type: ignore[arg-type]
        assert field in bad.value.message
    with pytest.raises(openai.BadRequestError) as streamed_again:
        client.get(f"/responses/{first.id}?stream=true", cast_to=object)
    assert "stream" in streamed_again.value.message


def test_store_false_is_not_retrievable(client: openai.OpenAI, upstream: FakeUpstream) -> None:
    unstored = client.responses.create(model="chat-model", input="hi", store=False)
    for attempt in (
        lambda: client.responses.retrieve(unstored.id),
        lambda: client.responses.input_items.list(unstored.id),
        lambda: client.responses.delete(unstored.id),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()


def test_with_chats_disabled_nothing_is_retrievable(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    client = sdk(start_gateway(config_for(upstream, gateway={"chats": {"enabled": False}})))
    created = client.responses.create(model="chat-model", input="hi")
    assert created.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


@pytest.mark.parametrize("policy", ["refuse", "answer"])
def test_an_unreachable_chat_store(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, policy: str
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    config = config_for(upstream, gateway={"chats": {"on_store_failure": policy}})
    client = sdk(start_gateway(config, redis_url=dead))

    with pytest.raises(openai.APIStatusError) as down:
        client.responses.create(model="chat-model", input="x", previous_response_id="resp_1")
    assert down.value.status_code == 503 and down.value.code == "chat_store_unavailable"
    assert "redis://" not in down.value.message
    assert upstream.requests == []

    # The answer is given, and cannot be kept: refused (after the fact) or kept unstored.
    unstored = client.responses.create(model="chat-model", input="x", store=False)
    assert unstored.output_text == "Hello from upstream-a"
    if policy == "refuse":
        with pytest.raises(openai.APIStatusError) as refused:
            client.responses.create(model="chat-model", input="x")
        assert refused.value.status_code == 503
        events = streamed(client, input="x")
        assert kinds(events)[-2:] == ["error", "response.failed"]
        assert events[-2].code == "chat_store_unavailable"
    else:
        assert client.responses.create(model="chat-model", input="x").status == "completed"
        assert kinds(streamed(client, input="x"))[-1] == "response.completed"


# --- structured output and reasoning --------------------------------------------------------------


def test_text_format_becomes_response_format(client: openai.OpenAI, upstream: FakeUpstream) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    upstream.script(Reply(chunks=['{"city": "Paris"}']), Reply(chunks=["{}"]))

    response = client.responses.create(
        model="chat-model",
        input="Where is the Louvre?",
        text={"format": {"type": "json_schema", "name": "place", "schema": schema, "strict": True}},
    )
    assert json.loads(response.output_text) == {"city": "Paris"}
    assert response.text is not None and response.text.format is not None
    assert response.text.format.type == "json_schema"
    assert upstream.requests[-1]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "place", "schema": schema, "strict": True},
    }

    client.responses.create(
        model="chat-model", input="{}", text={"format": {"type": "json_object"}}
    )
    assert upstream.requests[-1]["response_format"] == {"type": "json_object"}


def test_reasoning_arrives_as_a_reasoning_summary(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.script(
        Reply(chunks=["42"], reasoning=["Think", "ing..."]),
        Reply(chunks=["42"], reasoning=["Thinking..."]),
    )

    events = streamed(client, input="6 x 7?")
    assert kinds(events)[2:9] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    assert [e.delta for e in events if e.type == "response.reasoning_summary_text.delta"] == [
        "Think",
        "ing...",
    ]
    response = client.responses.create(model="chat-model", input="6 x 7?")
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Thinking..."
    assert message.type == "message" and response.output_text == "42"


# --- failures -------------------------------------------------------------------------------------


def test_an_upstream_failure_after_the_first_byte_is_response_failed(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.script(Reply(chunks=["a", "b", "c", "d"], cut_after=3))

    events = streamed(client, input="x")

    assert kinds(events)[-2:] == ["error", "response.failed"]
    assert text_of(events) == "ab"
    error = events[-2]
    assert error.code == "upstream_error" and error.message
    failed = events[-1].response
    assert failed.status == "failed" and failed.error is not None
    assert (failed.error.code, failed.error.message) == ("server_error", error.message)
    assert failed.output[0].status == "incomplete"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]},
         "input[0].content[0].text: field required"),
        ({"input": [{"role": "robot", "content": "hi"}]}, "input[0].role"),
        ({"input": [{"type": "web_search_call", "id": "x"}]},
         "input[0]: Input should be an input item"),
        ({"input": "hi", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"input": "hi", "temperature": 3}, "temperature"),
        ({"input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}},
         "text.format.schema: field required"),
        ({"input": "hi", "tool_choice": {"type": "file_search"}}, "tool_choice.type"),
        ({"input": "hi", "reasoning": {"effort": "extreme"}}, "reasoning.effort"),
        ({}, "input: field required"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_field(
    client: openai.OpenAI, upstream: FakeUpstream, body: dict[str, Any], named: str
) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(model="chat-model", **body)
    assert bad.value.code == "invalid_request"
    assert named in bad.value.message
    assert upstream.requests == []


def test_an_unknown_model_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model="nope", input="x")
    assert missing.value.code == "unknown_model"


# --- the AI SDK's OpenAI provider -----------------------------------------------------------------


def test_ai_sdk_stream_text(gateway_for: Gateway, upstream: FakeUpstream) -> None:
    upstream.script(Reply(chunks=["Hello", " from", " Node"], reasoning=["hm"]))

    result = run_openai_provider_client(
        f"{gateway_for.url}/v1", {"mode": "streamText", "prompt": "hi", "system": "Be brief."}
    )

    assert result["thrown"] is None and result["errors"] == []
    assert result["paths"] == ["/v1/responses"]
    assert result["text"] == "Hello from Node" and result["reasoningText"] == "hm"
    assert result["finishReason"] == "stop"
    assert result["usage"]["inputTokens"] == 11 and result["usage"]["outputTokens"] == 7
    assert result["responseId"].startswith("resp_")
    types = [part["type"] for part in result["parts"]]
    assert types.index("reasoning-start") < types.index("text-start") < types.index("finish")
    assert upstream.requests[-1]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_ai_sdk_stream_text_sees_an_upstream_failure(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    upstream.script(Reply(chunks=["a", "b", "c", "d"], cut_after=3))
    result = run_openai_provider_client(
        f"{gateway_for.url}/v1", {"mode": "streamText", "prompt": "x"}
    )
    assert result["finishReason"] == "error"
    assert result["errors"] and "error" in [part["type"] for part in result["parts"]]


def test_ai_sdk_generate_text(gateway_for: Gateway, upstream: FakeUpstream) -> None:
    upstream.script(Reply(chunks=["A title"]))
    result = run_openai_provider_client(
        f"{gateway_for.url}/v1", {"mode": "generateText", "prompt": "Name this chat"}
    )
    assert result["thrown"] is None, result
    assert (result["text"], result["finishReason"]) == ("A title", "stop")
    assert result["paths"] == ["/v1/responses"]


def test_ai_sdk_generate_object(gateway_for: Gateway, upstream: FakeUpstream) -> None:
    upstream.script(Reply(chunks=['{"name": "Ada",', ' "age": 36}']))
    result = run_openai_provider_client(
        f"{gateway_for.url}/v1",
        {"mode": "generateObject", "prompt": "Who wrote the first program?"},
    )
    assert result["thrown"] is None, result
    assert result["object"] == {"name": "Ada", "age": 36}
    response_format = upstream.requests[-1]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["schema"]["required"] == ["name", "age"]


def test_ai_sdk_conversation_names_its_stored_answer_by_reference(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    upstream.script(Reply(chunks=["First answer."]), Reply(chunks=["Second answer."]))
    result = run_openai_provider_client(
        f"{gateway_for.url}/v1", {"mode": "conversation", "prompt": "Hello?"}
    )
    assert result["thrown"] is None, result
    assert result["texts"] == ["First answer.", "Second answer."]
    assert upstream.requests[-1]["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hello?"}]},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": [{"type": "text", "text": "And again?"}]},
    ]


def test_ai_sdk_runs_its_own_tool_and_sends_the_result_back(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    call = FakeToolCall("weather", '{"city": "Paris"}')
    upstream.script(Reply(chunks=[], tool_calls=[call]), Reply(chunks=["Sunny in Paris."]))

    result = run_openai_provider_client(
        f"{gateway_for.url}/v1", {"mode": "tools", "prompt": "Weather in Paris?"}
    )

    assert result["thrown"] is None, result
    assert result["steps"] == [
        {"finishReason": "tool-calls", "toolCalls": [
            {"toolName": "weather", "input": {"city": "Paris"}}]},
        {"finishReason": "stop", "toolCalls": []},
    ]  # fmt: skip
    assert result["text"] == "Sunny in Paris."
    assert upstream.requests[0]["tools"][0]["function"]["name"] == "weather"
    assistant, tool_message = upstream.requests[-1]["messages"][1:]
    assert assistant["tool_calls"][0]["id"] == call.id
    assert tool_message["tool_call_id"] == call.id
    assert json.loads(tool_message["content"]) == {"city": "Paris", "sky": "sunny"}
