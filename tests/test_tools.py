"""The server-side tool loop: parallel calls, several rounds, the step cap, failures as results."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support import tools_for_tests
from tests.support.configs import tool_config
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Reply
from tests.support.fake_weather import FakeWeather
from tests.support.gateways import Gateway
from tests.support.wire import parse_lines

# Every test here runs on both stream readers (tests/conftest.py, stream_reader).
pytestmark = pytest.mark.usefixtures("stream_reader")

QUESTION = [{"role": "user", "content": "Weather in Beijing and Berlin?"}]


@pytest.fixture
def tool_gateway(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, weather: FakeWeather
) -> Gateway:
    return start_gateway(tool_config(upstream, weather))


def weather_call(city: str, pieces: int = 4) -> FakeToolCall:
    return FakeToolCall("get_weather", json.dumps({"location": city}), pieces=pieces)


def test_two_parallel_calls_then_text(tool_gateway: Gateway, upstream: FakeUpstream) -> None:
    first, second = weather_call("Beijing"), weather_call("Berlin")
    upstream.script(
        Reply(
            chunks=["Let me check. "],
            tool_calls=[first, second],
            prompt_tokens=20,
            completion_tokens=9,
        ),
        Reply(
            chunks=["Beijing is sunny", ", Berlin rainy."], prompt_tokens=60, completion_tokens=8
        ),
    )

    parts = parse_lines(tool_gateway.chat(messages=QUESTION).text)

    assert [code for code, _ in parts] == ["0", "9", "9", "a", "a", "0", "0", "d"]
    assert parts[1][1] == {
        "type": "tool-call",
        "toolCallId": first.id,
        "toolName": "get_weather",
        "args": {"location": "Beijing"},
    }
    assert parts[2][1]["toolCallId"] == second.id
    results = {p["toolCallId"]: p for code, p in parts if code == "a"}
    assert results[first.id]["result"] == {
        "location": "Beijing, China",
        "temperature_c": 25.0,
        "conditions": "clear sky",
        "wind_speed_kmh": 5.2,
        "observed_at": "2026-11-24T09:00",
    }
    assert results[second.id]["result"]["conditions"] == "rain"
    assert "isError" not in results[first.id]
    assert parts[-1][1] == {
        "type": "finish",
        "finishReason": "stop",
        "usage": {"promptTokens": 80, "completionTokens": 17},
    }
    # The second upstream request carries the assistant tool calls and both results.
    assert len(upstream.requests) == 2
    followup = upstream.requests[1]["messages"]
    assert followup[0] == QUESTION[0]
    assistant = followup[1]
    assert assistant["role"] == "assistant"
    assert [c["id"] for c in assistant["tool_calls"]] == [first.id, second.id]
    assert json.loads(assistant["tool_calls"][1]["function"]["arguments"]) == {"location": "Berlin"}
    tool_messages = followup[2:]
    assert [m["role"] for m in tool_messages] == ["tool", "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == [first.id, second.id]
    assert json.loads(tool_messages[0]["content"])["location"] == "Beijing, China"
    offered = {t["function"]["name"] for t in upstream.requests[0]["tools"]}
    assert offered == {"get_weather", "current_time", "add", "explode", "slow"}


def test_three_rounds(tool_gateway: Gateway, upstream: FakeUpstream) -> None:
    upstream.script(
        Reply(chunks=[], tool_calls=[FakeToolCall("add", '{"a": 2, "b": 3}')]),
        Reply(chunks=[], tool_calls=[FakeToolCall("add", '{"a": 5, "b": 10}')]),
        Reply(chunks=["The answer is 15."]),
    )
    parts = parse_lines(tool_gateway.chat().text)
    assert [code for code, _ in parts] == ["9", "a", "9", "a", "0", "d"]
    assert [p["result"] for code, p in parts if code == "a"] == [5, 15]
    assert len(upstream.requests) == 3
    assert [m["role"] for m in upstream.requests[2]["messages"]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
    ]


def test_a_model_that_keeps_calling_tools_stops_at_max_tool_steps(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, weather: FakeWeather
) -> None:
    gateway = start_gateway(tool_config(upstream, weather, max_tool_steps=3))
    upstream.default = Reply(chunks=[], tool_calls=[FakeToolCall("add", '{"a": 1, "b": 1}')])

    parts = parse_lines(gateway.chat().text)

    assert len(upstream.requests) == 3
    assert [code for code, _ in parts] == ["9", "a"] * 3 + ["d"]
    assert parts[-1][1]["finishReason"] == "tool-calls"


@pytest.mark.parametrize(
    ("call", "message_part"),
    [
        (FakeToolCall("explode", "{}"), "the tool failed (RuntimeError)"),
        (FakeToolCall("slow", '{"seconds": 5}'), "did not finish within 0.5 seconds"),
        (FakeToolCall("get_weather", '{"location": "Beij'), "not valid JSON"),
        (
            FakeToolCall("get_weather", '{"city": "Beijing"}'),
            "invalid arguments: location: required",
        ),
        (FakeToolCall("add", '{"a": "two", "b": 3}'), "invalid arguments: a:"),
        (FakeToolCall("launch_missiles", "{}"), "tool 'launch_missiles' is not available"),
        (FakeToolCall("get_weather", '{"location": "Atlantis"}'), "no place called 'Atlantis'"),
    ],
)
def test_tool_failures_become_error_results_and_the_stream_goes_on(
    tool_gateway: Gateway, upstream: FakeUpstream, call: FakeToolCall, message_part: str
) -> None:
    upstream.script(Reply(chunks=[], tool_calls=[call]), Reply(chunks=["Sorry about that."]))

    response = tool_gateway.chat()
    parts = parse_lines(response.text)

    assert [code for code, _ in parts] == ["9", "a", "0", "d"]
    result = parts[1][1]
    assert result["isError"] is True
    assert message_part in result["result"]["error"]
    assert parts[-1][1]["finishReason"] == "stop"
    # The model was told too, and nothing from a traceback leaked anywhere.
    tool_message = upstream.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert message_part in json.loads(tool_message["content"])["error"]
    for leaked in ("hunter2", "secret-internal-detail", "Traceback", "/srv/app"):
        assert leaked not in response.text
        assert leaked not in tool_message["content"]


def test_a_tool_not_enabled_is_never_offered_nor_run(
    tool_gateway: Gateway, upstream: FakeUpstream
) -> None:
    before = tools_for_tests.CALLS["never_enabled"]
    # The request names it: refused before any upstream call.
    refused = tool_gateway.chat(tools=["get_weather", "never_enabled"])
    assert refused.status_code == 422
    assert "'never_enabled' not enabled" in refused.json()["error"]["message"]
    assert upstream.requests == []
    # The model invents a call to it: an error result, and the function never runs.
    upstream.script(Reply(chunks=[], tool_calls=[FakeToolCall("never_enabled", "{}")]), Reply())
    parts = parse_lines(tool_gateway.chat().text)
    assert parts[1][1]["isError"] is True
    assert tools_for_tests.CALLS["never_enabled"] == before
    offered = {t["function"]["name"] for t in upstream.requests[0]["tools"]}
    assert "never_enabled" not in offered


def test_a_request_can_narrow_the_tools(tool_gateway: Gateway, upstream: FakeUpstream) -> None:
    tool_gateway.chat(tools=["current_time"])
    assert [t["function"]["name"] for t in upstream.requests[0]["tools"]] == ["current_time"]
    tool_gateway.chat(tools=[])
    assert "tools" not in upstream.requests[1]


def test_a_model_entry_can_turn_tools_off(tool_gateway: Gateway, upstream: FakeUpstream) -> None:
    tool_gateway.chat(model="title-model")
    assert "tools" not in upstream.requests[0]


def test_tool_schema_comes_from_the_signature(
    tool_gateway: Gateway, upstream: FakeUpstream
) -> None:
    tool_gateway.chat()
    specs = {t["function"]["name"]: t["function"] for t in upstream.requests[0]["tools"]}
    weather_spec = specs["get_weather"]
    assert weather_spec["description"] == "Get the current weather for a location."
    assert weather_spec["parameters"]["required"] == ["location"]
    assert weather_spec["parameters"]["properties"]["location"]["type"] == "string"
    assert "context" not in weather_spec["parameters"]["properties"]
    assert specs["add"]["parameters"]["properties"] == {
        "a": {"type": "integer"},
        "b": {"type": "integer"},
    }


def test_non_streamed_answer_carries_tool_calls_and_results(
    tool_gateway: Gateway, upstream: FakeUpstream, stream_reader: str
) -> None:
    call = FakeToolCall("add", '{"a": 20, "b": 22}')
    upstream.script(Reply(chunks=[], tool_calls=[call]), Reply(chunks=["It is 42."]))

    body = tool_gateway.chat(stream=False).json()

    assert body["text"] == "It is 42."
    assert body["toolCalls"] == [
        {"toolCallId": call.id, "toolName": "add", "args": {"a": 20, "b": 22}}
    ]
    assert body["toolResults"] == [
        {"toolCallId": call.id, "toolName": "add", "result": 42, "isError": False}
    ]
    # The lean reader reads a JSON answer from the provider's stream too.
    assert all(bool(r.get("stream")) is (stream_reader == "lean") for r in upstream.requests)


def test_unknown_tool_names_in_the_yaml_are_config_errors(
    upstream: FakeUpstream, weather: FakeWeather, tmp_path: Any
) -> None:
    import yaml

    from gateway.catalog import GATEWAY_CATALOG
    from gateway.config import ConfigError, load_config

    config = tool_config(upstream, weather)
    config["gateway"]["tools"].append("get_wether")
    path = tmp_path / "tools.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(
        ConfigError,
        match=r"gateway.tools\[5\]: unknown tool 'get_wether'; did you mean 'get_weather'",
    ):
        load_config(path, GATEWAY_CATALOG)


def test_the_loop_works_through_a_non_openai_provider_path(
    start_gateway: Callable[..., Gateway], weather: FakeWeather
) -> None:
    """The demo provider streams LiteLLM's generic chunks, not OpenAI's: same loop, same parts."""
    config = {
        "model_list": [{"model_name": "chat-model", "litellm_params": {"model": "demo/chat"}}],
        "gateway": {
            "tools": ["get_weather"],
            "tool_options": {
                "get_weather": {"geocoding_url": weather.url, "forecast_url": weather.url}
            },
        },
    }
    gateway = start_gateway(config)
    parts = parse_lines(
        gateway.chat(messages=[{"role": "user", "content": "weather in Berlin?"}]).text
    )
    codes = [code for code, _ in parts]
    assert codes[:2] == ["9", "a"] and codes[-1] == "d"
    assert parts[0][1]["args"] == {"location": "Berlin"}
    assert parts[1][1]["result"]["location"] == "Berlin, Germany"
    text = "".join(p["textDelta"] for code, p in parts if code == "0")
    assert "Berlin, Germany" in text


def test_tools_are_loaded_by_load_tools_alone_and_once() -> None:
    """Importing the gateway registers no tool; load_tools(config) loads the built-ins and the
    config's tool_modules, and calling it again changes nothing."""
    import subprocess
    import sys
    from pathlib import Path

    script = """
import sys
from pathlib import Path
import gateway.app, gateway.engine, gateway.tools
from gateway.config import GatewayConfig, GatewayOptions
from gateway.tools import REGISTRY, load_tools
assert REGISTRY.names == [], REGISTRY.names
assert load_tools().names == ["current_time", "get_weather"]
assert "tests.support.tools_for_tests" not in sys.modules
options = GatewayOptions(tool_modules=["tests.support.tools_for_tests"])
config = GatewayConfig(Path("x"), (), options=options)
first = load_tools(config)
assert {"add", "current_time", "get_weather"} <= set(first.names), first.names
names = first.names
assert load_tools(config) is first and first.names == names
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.stdout.strip() == "ok", done.stderr
