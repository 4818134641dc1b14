"""The stored assistant message is the one the AI SDK itself would have built from the stream.

Unit cases spell out the expected UI message; the cross-check encodes the same events with
UIMessageStreamEncoder, pipes the bytes to the real `ai` package (parseJsonEventStream +
uiMessageChunkSchema + readUIMessageStream, under Node, no sockets) and requires the builder's
message to equal the SDK's last one, field for field. No field is dropped before comparing:
every key the SDK leaves on a part (even rawInput on a tool input cut short) is one a resumed
or reloaded page may read.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.chats.assembly import INVALID_INPUT_TEXT, AssistantMessageBuilder
from gateway.doors.frontend.ui_message_stream_encoder import UIMessageStreamEncoder
from gateway.events import (
    ErrorEvent,
    Event,
    Finish,
    ReasoningDelta,
    StepFinish,
    StepStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolResult,
    Usage,
)
from tests.support.ai_sdk import read_ui_message_stream_bytes

MESSAGE_ID = "msg-0001"
START = {"createdAt": 1_700_000_000_000, "model": "chat-model"}


def build(events: list[Event], metadata: dict[str, Any] | None = START) -> AssistantMessageBuilder:
    builder = AssistantMessageBuilder(MESSAGE_ID, metadata)
    for event in events:
        builder.add(event)
    return builder


ANSWER_USAGE = Usage(9, 4)


def answer(*middle: Event, usage: Usage = ANSWER_USAGE) -> list[Event]:
    """One step around `middle`, finished normally."""
    return [StepStart(0, MESSAGE_ID), *middle, StepFinish("stop", usage), Finish("stop", usage)]


TEXT_ONLY = answer(TextDelta("Hello"), TextDelta(", 世界 😀"), TextDelta("\nbye"))

REASONING_THEN_TEXT = answer(
    ReasoningDelta("Let me "), ReasoningDelta("think."), TextDelta("It is "), TextDelta("42.")
)

TOOL_ROUND = [
    StepStart(0, MESSAGE_ID),
    TextDelta("Let me add. "),
    ToolCallStart("call_1", "add"),
    ToolCallDelta("call_1", '{"a": 2, '),
    ToolCallDelta("call_1", '"b": 40}'),
    ToolCall("call_1", "add", {"a": 2, "b": 40}, '{"a": 2, "b": 40}'),
    StepFinish("tool-calls", Usage(10, 5), is_continued=True),
    ToolResult("call_1", "add", {"sum": 42, "steps": [{"op": "+", "ok": True}], "note": None}),
    StepStart(1, "msg-0002"),
    TextDelta("2+40 is 42."),
    StepFinish("stop", Usage(30, 6)),
    Finish("stop", Usage(40, 11)),
]

TOOL_ERROR = [
    StepStart(0, MESSAGE_ID),
    ToolCallStart("call_w", "get-weather"),
    ToolCallDelta("call_w", '{"city": "Zürich"}'),
    ToolCall("call_w", "get-weather", {"city": "Zürich"}, '{"city": "Zürich"}'),
    StepFinish("tool-calls", Usage(10, 5), is_continued=True),
    ToolResult("call_w", "get-weather", {"error": "the tool failed (Timeout)"}, is_error=True),
    StepStart(1, "msg-0002"),
    TextDelta("The weather service is down."),
    StepFinish("stop", Usage(20, 6)),
    Finish("stop", Usage(30, 11)),
]

ERROR_MID_ANSWER = [
    StepStart(0, MESSAGE_ID),
    TextDelta("The answer is"),
    ErrorEvent("the upstream failed", "upstream_error"),
    Finish("error"),
]

STOPPED_IN_TEXT = [StepStart(0, MESSAGE_ID), ReasoningDelta("Hmm."), TextDelta("Once upon a ")]


def test_text_only() -> None:
    builder = build(TEXT_ONLY)
    assert builder.has_content
    assert builder.message() == {
        "id": MESSAGE_ID,
        "role": "assistant",
        "parts": [
            {"type": "step-start"},
            {"type": "text", "text": "Hello, 世界 😀\nbye", "state": "done"},
        ],
        "metadata": {**START, "usage": {"promptTokens": 9, "completionTokens": 4}},
    }


def test_reasoning_then_text() -> None:
    assert build(REASONING_THEN_TEXT).message()["parts"] == [
        {"type": "step-start"},
        # The SDK keeps the chunk id on reasoning parts only; the encoder numbers blocks.
        {"type": "reasoning", "id": "reasoning-1", "text": "Let me think.", "state": "done"},
        {"type": "text", "text": "It is 42.", "state": "done"},
    ]


def test_a_tool_round_then_a_second_step() -> None:
    message = build(TOOL_ROUND).message()
    assert message["parts"] == [
        {"type": "step-start"},
        {"type": "text", "text": "Let me add. ", "state": "done"},
        {
            "type": "tool-add",
            "toolCallId": "call_1",
            "state": "output-available",
            "input": {"a": 2, "b": 40},
            "output": {"sum": 42, "steps": [{"op": "+", "ok": True}], "note": None},
        },
        {"type": "step-start"},
        {"type": "text", "text": "2+40 is 42.", "state": "done"},
    ]
    # The id is the builder's, not the second step's; usage is the Finish's total.
    assert message["id"] == MESSAGE_ID
    assert message["metadata"]["usage"] == {"promptTokens": 40, "completionTokens": 11}


def test_a_tool_error_result() -> None:
    parts = build(TOOL_ERROR).message()["parts"]
    assert parts[1] == {
        "type": "tool-get-weather",
        "toolCallId": "call_w",
        "state": "output-error",
        "input": {"city": "Zürich"},
        "errorText": "the tool failed (Timeout)",
    }


def test_an_error_mid_answer_closes_the_text_and_adds_no_part() -> None:
    message = build(ERROR_MID_ANSWER).message()
    assert message["parts"] == [
        {"type": "step-start"},
        {"type": "text", "text": "The answer is", "state": "done"},
    ]
    assert message["metadata"]["usage"] == {"promptTokens": 0, "completionTokens": 0}


def test_a_stopped_answer_keeps_its_open_block_streaming() -> None:
    builder = build(STOPPED_IN_TEXT)
    assert builder.message() == {
        "id": MESSAGE_ID,
        "role": "assistant",
        "parts": [
            {"type": "step-start"},
            {"type": "reasoning", "id": "reasoning-1", "text": "Hmm.", "state": "done"},
            {"type": "text", "text": "Once upon a ", "state": "streaming"},
        ],
        "metadata": START,  # no Finish, so no usage
    }
    # Reading the message does not close the block: more text still lands in it.
    builder.add(TextDelta("time."))
    assert builder.message()["parts"][2]["text"] == "Once upon a time."


def test_arguments_that_are_not_json() -> None:
    events = [
        StepStart(0, MESSAGE_ID),
        ToolCallStart("call_x", "add"),
        ToolCallDelta("call_x", "{oops"),
        ToolCall("call_x", "add", None, "{oops"),
        StepFinish("tool-calls", Usage(), is_continued=True),
        ToolResult("call_x", "add", {"error": "the arguments are not valid JSON"}, is_error=True),
    ]
    assert build(events).message()["parts"][1] == {
        "type": "tool-add",
        "toolCallId": "call_x",
        "state": "output-error",
        "input": "{oops",
        "errorText": "the arguments are not valid JSON",
    }
    assert build(events[:4]).message()["parts"][1]["errorText"] == INVALID_INPUT_TEXT


def test_metadata_merges_deeply_like_message_metadata() -> None:
    builder = build(TEXT_ONLY, {"model": "chat-model", "usage": {"budget": 100}, "tags": [1]})
    builder.add_metadata({"tags": [2], "stoppedBy": None, "usage": {"promptTokens": 1}})
    assert builder.message()["metadata"] == {
        "model": "chat-model",
        "usage": {"budget": 100, "promptTokens": 1, "completionTokens": 4},
        "tags": [2],  # arrays replace, objects merge
        "stoppedBy": None,
    }


def test_no_metadata_and_no_content() -> None:
    builder = AssistantMessageBuilder(MESSAGE_ID)
    assert not builder.has_content
    assert builder.message() == {"id": MESSAGE_ID, "role": "assistant", "parts": []}
    builder.add(StepStart(0, MESSAGE_ID))
    builder.add(StepFinish("stop", Usage()))
    assert not builder.has_content  # a step-start alone is no answer


def test_the_message_is_a_copy() -> None:
    builder = build(TOOL_ROUND)
    message = builder.message()
    message["parts"][2]["output"]["sum"] = 0
    message["metadata"]["usage"]["promptTokens"] = 0
    assert builder.message()["parts"][2]["output"]["sum"] == 42
    assert builder.message()["metadata"]["usage"]["promptTokens"] == 40


# Cut-off argument texts: the SDK shows each as a partial input, repaired by its fixJson.
PARTIAL_INPUTS = [
    "",
    " ",
    "{",
    '{"ci',
    '{"city": "Zü',
    '{"city": "a\\',
    '{"city": "a\\u00',
    '{"n": -',
    '{"n": 1.5e',
    '{"n": 12, "m": [1, 2',
    '{"ok": tr',
    '{"ok": fals',
    '{"v": nul',
    '{"v": nulx',
    '{"deep": {"a": [{"b": [',
    '{"a": 1}',
    "[1, 2, ",
    '"just a str',
    '{"__proto__": {"x": 1}}',
    '{"constructor": {"prototype": {}}}',
    '{"x": NaN}',
]

SDK_CASES: dict[str, tuple[list[Event], dict[str, Any] | None]] = {
    "text only": (TEXT_ONLY, START),
    "reasoning then text": (REASONING_THEN_TEXT, START),
    "tool round, then a second step": (TOOL_ROUND, START),
    "tool error result": (TOOL_ERROR, START),
    "error mid-answer": (ERROR_MID_ANSWER, START),
    "stopped in an open text block": (STOPPED_IN_TEXT, START),
    "no start metadata": (TEXT_ONLY, None),
    "stopped, no metadata at all": (STOPPED_IN_TEXT, None),
    "stopped, empty start metadata": (STOPPED_IN_TEXT, {}),
    "start metadata merged with the finish usage": (
        answer(TextDelta("hi"), usage=Usage(3, 1, cached=True)),
        {"usage": {"note": "start"}, "model": "m", "list": [1, {"a": 1}]},
    ),
    "reasoning, text, reasoning, text": (
        answer(ReasoningDelta("a"), TextDelta("b"), ReasoningDelta("c"), TextDelta("d")),
        START,
    ),
    "arguments that are not JSON": (
        [
            StepStart(0, MESSAGE_ID),
            ToolCallStart("call_x", "add"),
            ToolCallDelta("call_x", "{oops"),
            ToolCall("call_x", "add", None, "{oops"),
            StepFinish("tool-calls", Usage(), is_continued=True),
            ToolResult("call_x", "add", {"error": "not valid JSON"}, is_error=True),
            StepStart(1, "m2"),
            TextDelta("Sorry."),
            StepFinish("stop", Usage()),
            Finish("stop", Usage()),
        ],
        START,
    ),
    "arguments that are not JSON, no result yet": (
        [StepStart(0, MESSAGE_ID), ToolCall("call_x", "add", None, "[1]")],
        START,
    ),
    "calls that arrived whole, two in a step, odd results": (
        [
            StepStart(0, MESSAGE_ID),
            ToolCall("c1", "echo", {"q": "ä"}, '{"q":"ä"}'),
            ToolCall("c2", "multi-word-name", {}, ""),
            StepFinish("tool-calls", Usage(1, 1), is_continued=True),
            ToolResult("c2", "multi-word-name", "plain text"),
            ToolResult("c1", "echo", [1, None, {"x": []}]),
            StepStart(1, "m2"),
            ToolCall("c3", "echo", {}, "{}"),
            StepFinish("tool-calls", Usage(1, 1), is_continued=True),
            ToolResult("c3", "echo", "not a dict", is_error=True),
            ToolResult("c1", "echo", None),  # a call of an earlier step: found all the same
            Finish("tool-calls", Usage(2, 2)),
        ],
        START,
    ),
    "stopped inside tool inputs": (
        [
            StepStart(0, MESSAGE_ID),
            TextDelta("Calling."),
            *[
                event
                for index, text in enumerate(PARTIAL_INPUTS)
                for event in (ToolCallStart(f"p{index}", "probe"), ToolCallDelta(f"p{index}", text))
            ],
            ToolCallStart("bare", "probe"),  # started, no argument text yet
        ],
        START,
    ),
    "an error result for a call still streaming its input": (
        [
            StepStart(0, MESSAGE_ID),
            ToolCallStart("c1", "probe"),
            ToolCallDelta("c1", '{"a": [1'),
            ToolResult("c1", "probe", {"error": {"code": 7}}, is_error=True),
        ],
        START,
    ),
    "stopped right after a new step began": (TOOL_ROUND[:9], START),
    "an error right after the first step began": (
        [StepStart(0, MESSAGE_ID), ErrorEvent("refused"), StepFinish("error", Usage())],
        START,
    ),
    "a result for a call never announced stops the reader": (
        [
            StepStart(0, MESSAGE_ID),
            TextDelta("a"),
            StepFinish("tool-calls", Usage(), is_continued=True),
            ToolResult("ghost", "add", 1),
            StepStart(1, "m2"),
            TextDelta("never shown"),
            Finish("stop", Usage(1, 1)),
        ],
        START,
    ),
    "argument text for a call never started stops the reader": (
        [StepStart(0, MESSAGE_ID), ToolCallDelta("ghost", "{}"), TextDelta("never shown")],
        START,
    ),
    "empty text deltas": (answer(TextDelta(""), ReasoningDelta(""), TextDelta("")), START),
    "nothing but finish": ([StepStart(0, MESSAGE_ID), Finish("stop", Usage(1, 0))], None),
}


def sdk_read(events: list[Event], start_metadata: dict[str, Any] | None) -> dict[str, Any]:
    """What the real SDK rebuilds from the encoder's bytes for `events`."""
    encoder = UIMessageStreamEncoder()
    sse = b"".join(encoder.encode(event) for event in events) + encoder.close()
    if start_metadata:  # the encoder sends no messageMetadata for empty start metadata
        sse = with_start_metadata(sse, start_metadata)
    result = read_ui_message_stream_bytes(sse)
    assert result["thrown"] is None
    assert result["invalidChunks"] == []
    return result


def with_start_metadata(sse: bytes, metadata: dict[str, Any]) -> bytes:
    """The stream with `messageMetadata` on its start chunk, as the SDK's servers send it.

    The builder's constructor metadata stands for exactly that chunk field.
    """
    blocks = []
    for block in sse.split(b"\n\n"):
        if block.startswith(b"data: {"):
            chunk = json.loads(block.removeprefix(b"data: "))
            if chunk["type"] == "start":
                chunk["messageMetadata"] = metadata
                block = b"data: " + json.dumps(chunk, ensure_ascii=False).encode()
        blocks.append(block)
    return b"\n\n".join(blocks)


@pytest.mark.parametrize("case", list(SDK_CASES))
def test_the_message_equals_what_the_ai_sdk_builds(case: str) -> None:
    events, metadata = SDK_CASES[case]
    result = sdk_read(events, metadata)
    assert result["message"] is not None, result["errors"]
    ours = build(events, metadata).message()
    # Through JSON, as it is stored: the SDK's undefined fields are absent on both sides.
    assert json.loads(json.dumps(ours, ensure_ascii=False)) == result["message"]


def test_the_sdk_saw_what_the_cases_claim() -> None:
    """The cases that stop the reader or carry an error really do, in the SDK too."""
    halted = sdk_read(*SDK_CASES["a result for a call never announced stops the reader"])
    assert any('"ghost"' in error for error in halted["errors"])
    assert halted["message"]["parts"][-1]["text"] == "a"
    errored = sdk_read(*SDK_CASES["error mid-answer"])
    assert errored["errors"] == ["the upstream failed"]
    partial = sdk_read(*SDK_CASES["stopped inside tool inputs"])["message"]["parts"]
    assert {"type": "tool-probe", "toolCallId": "bare", "state": "input-streaming"} in partial
    inputs = {part["toolCallId"]: part.get("input") for part in partial if "toolCallId" in part}
    assert inputs["p4"] == {"city": "Zü"}  # '{"city": "Zü' repaired by fixJson
    assert inputs["p18"] is None  # a __proto__ key: secureJsonParse refuses it, no input


def test_an_answer_with_no_events_yields_no_sdk_message() -> None:
    """readUIMessageStream yields nothing for an empty stream; the builder gives an empty one."""
    result = sdk_read([], None)
    assert result["messages"] == 0
    assert result["message"] is None
    assert not build([], None).has_content
