"""The bounded fuzz check: schemathesis over the gateway's own OpenAPI spec, no response a 5xx.

Every operation in /openapi.json is called with bodies generated from the request models, valid
and invalid ones, against a served gateway whose models point at the fake upstream, so a valid
body takes the real LiteLLM path. A client can make the gateway refuse, never fail: a status of
500 or more is a bug. Derandomized and bounded, so a run is reproducible and takes about half a
minute. Hand-written hostile bodies cover what a generator from the spec would not write.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from fastapi.openapi.utils import get_openapi
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from gateway.doors.door_list import DOORS, METRICS
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateways import Gateway

MAX_EXAMPLES = 50  # per operation, valid and invalid bodies together

# pytest parametrizes at collection, before any fixture serves a gateway, so the spec is built
# from the routers themselves, without an engine (whose Router would hook into LiteLLM for the
# rest of the session). test_the_served_spec_is_the_one_fuzzed checks it is the served one.
SPEC: dict[str, Any] = get_openapi(
    title="fuzzed",
    version="0",
    routes=[route for router in (*DOORS, METRICS) for route in router.routes],
)
# The coverage phase walks every boundary of every field: over 1,500 calls for the two chat
# operations, minutes on this machine. The fuzzing phase is the one bounded by MAX_EXAMPLES.
schema = schemathesis.openapi.from_dict(
    SPEC, config=SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
)


def test_the_served_spec_is_the_one_fuzzed(gateway_for: Gateway) -> None:
    served = gateway_for.client.get("/openapi.json").json()
    fuzzed = json.loads(json.dumps(SPEC))
    assert (served["paths"], served["components"]) == (fuzzed["paths"], fuzzed["components"])
    operations = {(method, path) for path, item in served["paths"].items() for method in item}
    assert {("post", "/api/chat"), ("post", "/v1/chat/completions")} <= operations


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # gateway_for is one served gateway for all of an operation's examples, on purpose.
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_makes_the_gateway_fail(
    case: schemathesis.Case, gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    # A random model ID stops every body at "unknown model"; a known one lets the valid bodies
    # through to LiteLLM and the fake upstream.
    if isinstance(case.body, dict) and isinstance(case.body.get("model"), str):
        case.body["model"] = "chat-model"
    case.call_and_validate(base_url=gateway_for.url, checks=[not_a_server_error])


def _body(raw_field: str = "", **fields: Any) -> str:
    """A chat body as Python's json module writes it: a lone surrogate as \\ud800, NaN bare.

    `raw_field` (name=text) is spliced in as written, for what json.dumps cannot produce.
    """
    body = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}], **fields}
    text = json.dumps(body)
    if raw_field:
        name, _, value = raw_field.partition("=")
        text = text[:-1] + f', "{name}": {value}}}'
    return text


def _tool(**function: Any) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": "f", **function}}]


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


SURROGATE = "\ud800"
_UI_TOOL_PART = {"type": "tool-add", "toolCallId": "c1", "state": "output-available", "input": {}}
# Each must be refused, never failed (a 5xx), on every door.
HOSTILE_BODIES = {
    "surrogate in a key": _body(**{"x" + SURROGATE: 1}),
    "surrogate in an ignored field": _body(id=SURROGATE),
    "surrogate in the model": _body(model=SURROGATE),
    "surrogate in a UI tool output": _body(
        messages=[
            {"role": "assistant", "parts": [{**_UI_TOOL_PART, "output": {SURROGATE: 1}}]},
            {"role": "user", "content": "x"},
        ]
    ),
    "NaN in tool parameters": _body(tools=_tool(parameters={"default": float("nan")})),
    "infinite float": _body("top_p=1e400"),
    "huge integer": _body("max_tokens=" + "9" * 4000),
    "too many digits to parse": _body("seed=" + "9" * 5000),
    "nested past the parser's limit": _body("x=" + _nested(5000)),
    "deep tool parameters": _body("tools=" + json.dumps(_tool(parameters={"a": "@"}))).replace(
        '"@"', _nested(900)
    ),
    "role is an object": _body(messages=[{"role": {}, "content": "x"}]),
    "content is an object": _body(messages=[{"role": "user", "content": {}}]),
    "parts is an object": _body(messages=[{"role": "user", "parts": {}}]),
    "part type is a list": _body(messages=[{"role": "user", "content": [{"type": []}]}]),
    "null body": "null",
    "string body": '"hi"',
    "list body": "[]",
    "10,000 nested arrays": _nested(10_000),
    "a duplicate key": _body('model="chat-model"'),
    "stream is a string": _body(stream="yes"),
    "tool parameters that are no JSON Schema": _body(tools=_tool(parameters={"$ref": "#"})),
}
# Bytes no str holds: not UTF-8.
HOSTILE_BYTES = {name: raw.encode() for name, raw in HOSTILE_BODIES.items()} | {
    "not UTF-8": _body().encode()[:-1] + b', "x": "\xff\xfe"}',
}
# Every door that reads a body.
BODY_DOORS = (
    "/api/chat",
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/messages",
    "/v1/embeddings",
)
# These take other bodies (a stop ignores a chat body's fields; a reload reads no body), so a
# chat body's mistake may be none there: they must only never fail.
OTHER_DOORS = ("/api/chat/chat-1/stop", "/admin/reload")


def test_hostile_bodies_are_refused_not_failed(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    # One gateway for all of them: a served gateway per case would double this file's time.
    wrong = []
    for name, raw in HOSTILE_BYTES.items():
        for path in (*BODY_DOORS, *OTHER_DOORS):
            response = gateway_for.client.post(
                path, content=raw, headers={"content-type": "application/json"}
            )
            if path in OTHER_DOORS:
                refused = response.status_code < 500
            else:
                refused = 400 <= response.status_code < 500 and "error" in response.json()
            if not refused:
                wrong.append(f"{name} on {path}: {response.status_code} {response.text[:300]}")
    assert wrong == []
    assert upstream.requests == []
