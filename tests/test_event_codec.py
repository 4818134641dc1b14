"""The event log's codec: every event, every field, survives a round trip; nothing else decodes.

Pure functions, no sockets: a resumable chat replays what these decode, so a field the codec
dropped would be a field a resumed stream silently lacks.
"""

from __future__ import annotations

import json

import pytest

from gateway.event_codec import CorruptEvent, decode_event, encode_event
from gateway.events import (
    AnswerContinues,
    ErrorEvent,
    Event,
    Finish,
    ReasoningDelta,
    StepFinish,
    StepStart,
    TextDelta,
    ToolApprovalRequest,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolResult,
    Usage,
)

TRICKY = 'ok 你好 😀 "quoted" \\ back\nnew line\t tab \u2028 sep \x00 nul'

EVERY_EVENT: list[Event] = [
    StepStart(0, "msg-abc"),
    StepStart(7, ""),
    TextDelta("hello"),
    TextDelta(""),
    TextDelta(TRICKY),
    ReasoningDelta("thinking… 🤔\n"),
    ToolCallStart("call_1", "get-weather"),
    ToolCallDelta("call_1", '{"city": "Zürich'),
    ToolCallDelta("call_1", ""),
    ToolCall("call_1", "get-weather", {"city": "Zürich", "days": [1, 2]}, '{"city":"Zürich"}'),
    ToolCall("call_2", "add", None, "{not json"),
    ToolCall("call_3", "noop", {}),
    ToolResult("call_1", "get-weather", {"temp": 21.5, "sky": ["☀️", None, True], "n": {"x": {}}}),
    ToolResult("call_2", "add", {"error": "the arguments are not valid JSON"}, is_error=True),
    ToolResult("call_4", "echo", "plain 文字"),
    ToolResult("call_5", "echo", None),
    ToolResult("call_6", "echo", [1, [2, [3, {"deep": [4]}]]]),
    ToolResult("call_7", "echo", 0),
    ToolResult("call_8", "echo", False),
    ToolResult("call_9", "delete", {"denied": True, "reason": "不要"}, denied=True),
    ToolApprovalRequest("approval-x", "call_9", "delete", {"path": "/tmp/a", "n": [1]}),
    AnswerContinues("msg-paused"),
    StepFinish("tool-calls", Usage(10, 5), is_continued=True),
    StepFinish("stop", Usage(0, 0, cached=True)),
    Finish("stop", Usage(30, 11)),
    Finish("error"),
    Finish("length", Usage(1, 2, cached=True)),
    ErrorEvent("the upstream failed: 上游"),
    ErrorEvent("too many requests", "rate_limited"),
    ErrorEvent("the chat store is unavailable", "chat_store_unavailable", 503),
]


@pytest.mark.parametrize("event", EVERY_EVENT, ids=lambda event: type(event).__name__)
def test_every_event_round_trips(event: Event) -> None:
    text = encode_event(event)
    assert isinstance(text, str)
    decoded = decode_event(text)
    assert decoded == event
    assert type(decoded) is type(event)
    assert decode_event(text.encode()) == event  # a Redis Stream hands back bytes


def test_every_event_type_is_covered() -> None:
    assert {type(event) for event in EVERY_EVENT} == set(Event.__args__)  # type: ignore[attr-defined]


def test_the_format_is_compact_tagged_arrays() -> None:
    assert encode_event(TextDelta("hello")) == '["t","hello"]'
    assert encode_event(TextDelta("你好\n")) == '["t","你好\\n"]'  # UTF-8 kept, not \u escaped
    assert encode_event(ReasoningDelta("hm")) == '["r","hm"]'
    assert encode_event(ToolCallDelta("c", '{"a":')) == '["a","c","{\\"a\\":"]'
    assert encode_event(StepStart(2, "m")) == '["b",2,"m"]'
    assert encode_event(ToolCallStart("c", "add")) == '["s","c","add"]'
    assert encode_event(ToolCall("c", "add", None, "x")) == '["c","c","add",null,"x"]'
    assert encode_event(ToolResult("c", "add", {"r": 1})) == '["o","c","add",{"r":1},false]'
    assert encode_event(StepFinish("stop", Usage(1, 2), True)) == '["e","stop",[1,2,false],true]'
    assert encode_event(Finish("stop", Usage(1, 2, True))) == '["f","stop",[1,2,true]]'
    assert encode_event(ErrorEvent("boom", "internal", 500)) == '["x","boom","internal",500]'


def test_an_error_stored_before_errors_carried_a_status_reads_as_502() -> None:
    assert decode_event('["x","boom","upstream_error"]') == ErrorEvent(
        "boom", "upstream_error", 502
    )
    with pytest.raises(CorruptEvent):
        decode_event('["x","boom","upstream_error",true]')  # a bool is no status


def test_text_fast_path_matches_the_json_encoder() -> None:
    for text in ["", "plain", TRICKY, "\x1f\x7f\u00e9", "a" * 10_000]:
        fast = encode_event(TextDelta(text))
        assert json.loads(fast) == ["t", text]
        assert fast == json.dumps(["t", text], ensure_ascii=False, separators=(",", ":"))


def test_a_tool_result_that_is_not_json_is_refused_when_written() -> None:
    with pytest.raises(TypeError):
        encode_event(ToolResult("c", "add", {1, 2}))


def test_not_an_event_is_refused_when_written() -> None:
    with pytest.raises(TypeError):
        encode_event(Usage(1, 2))  # type: ignore[arg-type]


CORRUPT: list[str | bytes] = [
    "",
    "   ",
    "not json",
    '["t","unterminated',
    b"\xff\xfe",  # not UTF-8
    "null",
    "42",
    '"t"',
    '{"t":"hello"}',
    "[]",
    '["t"]',  # too few fields
    '["t","a","b"]',  # too many
    '["z","hello"]',  # unknown tag
    '["T","hello"]',  # tags are case-sensitive
    "[1,2]",
    '["t",5]',  # text must be a string
    '["t",null]',
    '["r",["x"]]',
    '["a","c",1]',
    '["s","c"]',
    '["s",1,"name"]',
    '["b","0","m"]',  # step must be an integer
    '["b",true,"m"]',  # ... and not a bool
    '["b",1.5,"m"]',
    '["c","c","add",[1],"x"]',  # args: object or null
    '["c","c","add","{}","x"]',
    '["c","c","add",{},null]',  # args_text: a string
    '["c","c","add",{}]',
    '["o","c","add",{},0]',  # is_error: a bool
    '["o","c","add",{}]',
    '["e","stop",[1,2,false]]',  # is_continued missing
    '["e","stop",[1,2],false]',  # usage arity
    '["e","stop",{"p":1},false]',
    '["f","stop",[1,"2",false]]',
    '["f","stop",[true,2,false]]',  # a bool is no token count
    '["f","stop",[1,2,0]]',  # cached: a bool
    '["f","stop",[1.0,2,false]]',
    '["f",null,[1,2,false]]',
    '["x","boom"]',
    '["x","boom",null]',
    "[" * 100_000,  # deeper than the parser's recursion limit
]


@pytest.mark.parametrize("data", CORRUPT, ids=lambda data: repr(data)[:40])
def test_anything_else_is_corrupt(data: str | bytes) -> None:
    with pytest.raises(CorruptEvent):
        decode_event(data)


def test_corrupt_event_is_a_value_error_that_does_not_echo_the_data() -> None:
    secret = "s" * 5000
    with pytest.raises(ValueError) as caught:
        decode_event(json.dumps(["t", secret, secret]))
    assert isinstance(caught.value, CorruptEvent)
    assert len(str(caught.value)) < 100
