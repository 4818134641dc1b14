"""Every client mistake gets its status and a message naming the problem; never a 500."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import openai
import pytest

from gateway.observability import metrics
from tests.support.configs import config_for, embedding_config, model_entry
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateways import Gateway

OK_MESSAGES = [{"role": "user", "content": "hi"}]
SDK_KEY = "bad-input-sdk-key-0123456789"
LONE_SURROGATE = "\ud800x"  # valid JSON ("\\ud800x"), yet no UTF-8 encoder can send it on
NAN, INF = float("nan"), float("inf")  # Python's JSON parser reads NaN and Infinity
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": "chat-model"}, "messages: field required"),
        ({"messages": OK_MESSAGES}, "model: field required"),
        ({"model": "chat-model", "messages": []}, "messages: List should have at least 1 item"),
        (
            {"model": "chat-model", "messages": [{"role": "usr", "content": "x"}]},
            "messages[0].role",
        ),
        (
            {"model": "chat-model", "messages": [{"content": "x"}]},
            "messages[0].role: field required",
        ),
        ({"model": "chat-model", "messages": "hi"}, "messages: Input should be a valid list"),
        ({"model": "chat-model", "messages": OK_MESSAGES, "temperature": 5}, "temperature"),
        ({"model": "chat-model", "messages": OK_MESSAGES, "top_p": -1}, "top_p"),
        ({"model": "chat-model", "messages": OK_MESSAGES, "max_tokens": 0}, "max_tokens"),
        ({"model": "chat-model", "messages": OK_MESSAGES, "stream": "yes please"}, "stream"),
        ({"model": 42, "messages": OK_MESSAGES}, "model: Input should be a valid string"),
        ([1, 2, 3], "body: must be a JSON object, not an array"),
    ],
)
def test_malformed_bodies_get_422_naming_the_field(
    gateway_for: Gateway, upstream: FakeUpstream, body: Any, needle: str
) -> None:
    response = gateway_for.client.post("/api/chat", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert needle in error["message"]
    assert upstream.requests == []


@pytest.mark.parametrize(
    "raw", [b"{not json", b"", b"\xff\xfe", b'{"model": "chat-model", "messages": [}']
)
def test_invalid_json_gets_422(gateway_for: Gateway, raw: bytes) -> None:
    response = gateway_for.client.post(
        "/api/chat", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "invalid_request"


def test_unknown_model_is_404_listing_known_ids(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    response = gateway_for.chat(model="gpt-5-turbo-max")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "unknown_model"
    assert "'gpt-5-turbo-max'" in error["message"]
    assert "chat-model, title-model" in error["message"]
    assert upstream.requests == []


def test_oversized_body_is_413(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(config_for(upstream), max_body_bytes=4096)
    big = [{"role": "user", "content": "x" * 5000}]
    response = gateway.chat(messages=big)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["type"] == "request_too_large"
    assert "4096 bytes" in error["message"]
    assert upstream.requests == []


def test_oversized_chunked_body_without_length_is_413(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(config_for(upstream), max_body_bytes=4096)

    def chunks() -> Any:
        yield b'{"model": "chat-model", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}]}'

    response = gateway.client.post(
        "/api/chat", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"
    assert upstream.requests == []


def test_oversized_body_is_413_in_each_doors_shape(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(config_for(upstream), max_body_bytes=4096)
    big = {
        "model": "chat-model",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x" * 5000}],
    }
    openai_error = gateway.client.post("/v1/chat/completions", json=big).json()["error"]
    assert (openai_error["code"], openai_error["param"]) == ("request_too_large", "body")
    anthropic_error = gateway.client.post("/v1/messages", json=big).json()
    assert anthropic_error["type"] == "error"
    assert anthropic_error["error"]["type"] == "request_too_large"
    assert upstream.requests == []


def test_default_body_limit_is_one_mebibyte(gateway_for: Gateway) -> None:
    response = gateway_for.chat(messages=[{"role": "user", "content": "z" * (1024 * 1024)}])
    assert response.status_code == 413


def test_model_whose_key_is_unset_names_the_variable_not_a_value(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEVER_SET_PROVIDER_KEY", raising=False)
    config = config_for(upstream)
    config["model_list"].append(
        model_entry("chat-model-reasoning", upstream, api_key="os.environ/NEVER_SET_PROVIDER_KEY")
    )
    gateway = start_gateway(config)  # a missing key does not stop the server

    response = gateway.chat(model="chat-model-reasoning")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["type"] == "model_unavailable"
    assert "NEVER_SET_PROVIDER_KEY" in error["message"]
    assert gateway.chat().status_code == 200  # the other models still serve
    ready = gateway.client.get("/health/ready").json()
    assert "NEVER_SET_PROVIDER_KEY" in ready["config"]["unavailable_models"]["chat-model-reasoning"]


def test_unknown_route_and_wrong_method_are_json(gateway_for: Gateway) -> None:
    missing = gateway_for.client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found"
    wrong = gateway_for.client.get("/api/chat")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["type"] == "method_not_allowed"


def test_wrong_content_type_is_a_clear_error_not_500(gateway_for: Gateway) -> None:
    response = gateway_for.client.post(
        "/api/chat", content=b"model=chat-model", headers={"content-type": "text/plain"}
    )
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_half_sent_request_does_not_hurt_the_server(gateway_for: Gateway) -> None:
    host, port = gateway_for.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 500\r\n\r\n{"model": '
        )
    assert gateway_for.chat().status_code == 200


def upstream_errors_counted() -> float:
    return sum(
        sample.value
        for metric in metrics.UPSTREAM_ERRORS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


def post_raw(gateway: Gateway, path: str, body: dict[str, Any]) -> Any:
    """Send `body` as Python's json module writes it: surrogates escaped, NaN and Infinity bare."""
    raw = json.dumps(body).encode()
    return gateway.client.post(path, content=raw, headers={"content-type": "application/json"})


def with_messages(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "chat-model", "messages": list(messages), **extra}


USER = {"role": "user", "content": "hi"}
JUNK_PARTS = [{"foo": 1}, {"type": "text"}]
CLIENT_MISTAKES = [
    # Both doors.
    ("chat", with_messages({"role": "user", "content": LONE_SURROGATE}), "messages[0].content"),
    ("v1", with_messages({"role": "user", "content": LONE_SURROGATE}), "messages[0].content"),
    ("chat", with_messages({"role": "user", "content": JUNK_PARTS}), "messages[0].content"),
    ("v1", with_messages({"role": "user", "content": JUNK_PARTS}), "messages[0].content"),
    ("chat", with_messages({"role": "user"}), "messages[0].content"),
    ("v1", with_messages({"role": "user"}), "messages[0].content"),
    ("chat", with_messages({"role": "system"}, USER), "messages[0].content"),
    ("chat", with_messages(USER, stop=["ok", LONE_SURROGATE]), "stop"),
    ("v1", with_messages(USER, stop=LONE_SURROGATE), "stop"),
    ("chat", with_messages({"role": "user", "content": "x", "name": LONE_SURROGATE}), "name"),
    ("v1", with_messages({"role": "user", "content": "x", "name": LONE_SURROGATE}), "name"),
    (
        "chat",
        with_messages({"role": "user", "parts": [{"type": "text", "text": LONE_SURROGATE}]}),
        "messages[0].parts[0].text",
    ),
    # /v1 only: the frontend door takes none of these.
    ("v1", with_messages(USER, presence_penalty=NAN), "presence_penalty"),
    ("v1", with_messages(USER, frequency_penalty=-INF), "frequency_penalty"),
    ("v1", with_messages(USER, logit_bias={"1": NAN}), "logit_bias"),
    ("v1", with_messages(USER, presence_penalty=3), "presence_penalty"),
    ("v1", with_messages(USER, logit_bias={"not-a-token": 1}), "logit_bias"),
    ("v1", with_messages(USER, top_logprobs=50), "top_logprobs"),
    ("v1", with_messages(USER, response_format={"type": "yaml"}), "response_format"),
    ("v1", with_messages(USER, tool_choice="sometimes"), "tool_choice"),
    ("v1", with_messages(USER, tools=[{"type": "function"}]), "tools[0].function"),
    ("v1", with_messages(USER, tools=[{"type": "function", "function": {"name": "a b"}}]), "name"),
    ("v1", with_messages({"role": "user", "content": 5}), "messages[0].content"),
    ("v1", with_messages({"role": "developer"}, USER), "messages[0].content"),
    ("v1", with_messages({"role": "system", "content": [{"type": "image_url"}]}), "messages[0]"),
    ("v1", with_messages(USER, {"role": "assistant"}), "messages[1]"),
    ("v1", with_messages(USER, {"role": "tool", "content": "42"}), "messages[1].tool_call_id"),
    (
        "v1",
        with_messages(
            USER,
            {
                "role": "assistant",
                "tool_calls": [{**CALL, "function": {"name": "f", "arguments": LONE_SURROGATE}}],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        ),
        "messages[1].tool_calls[0].function.arguments",
    ),
]


@pytest.mark.parametrize(
    ("door", "body", "needle"),
    CLIENT_MISTAKES,
    ids=[f"{door}-{i}" for i, (door, _, _) in enumerate(CLIENT_MISTAKES)],
)
def test_client_mistakes_are_4xx_naming_the_field_before_any_provider_call(
    gateway_for: Gateway, upstream: FakeUpstream, door: str, body: dict[str, Any], needle: str
) -> None:
    before = upstream_errors_counted()

    response = post_raw(
        gateway_for, "/api/chat" if door == "chat" else "/v1/chat/completions", body
    )

    error = response.json()["error"]
    if door == "chat":
        assert response.status_code == 422, response.text
        assert error["type"] == "invalid_request"
    else:  # OpenAI's conventions: 400 with its error shape
        assert response.status_code == 400, response.text
        assert error["code"] == "invalid_request"
        assert error["type"] == "invalid_request_error"
    assert needle in error["message"], error["message"]
    assert upstream.requests == []
    assert upstream_errors_counted() == before


NOT_MISTAKES = {
    # AI SDK 4 useChat: its own part shapes, which carry nothing the model is sent.
    "ai sdk 4 parts": with_messages(
        {"role": "user", "content": "hi", "parts": [{"type": "text", "text": "hi"}]},
        {
            "role": "assistant",
            "content": "",
            "parts": [
                {"type": "step-start"},
                {"type": "tool-invocation", "toolInvocation": {"state": "result"}},
                {"type": "file", "mimeType": "image/png", "data": "iVBORw0KGgo="},
            ],
        },
        {"role": "user", "parts": [{"type": "text", "text": "and now?"}]},
    ),
    "tool round in OpenAI shape": with_messages(
        USER,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
    ),
    "message fields of the frontend's own": with_messages(
        {"id": "m1", "role": "user", "content": "hi", "createdAt": "2025-01-01T00:00:00Z"}
    ),
    "parts arrays": with_messages(
        {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
    ),
}


@pytest.mark.parametrize("body", NOT_MISTAKES.values(), ids=NOT_MISTAKES.keys())
def test_what_is_not_a_mistake_is_still_served(
    gateway_for: Gateway, upstream: FakeUpstream, body: dict[str, Any]
) -> None:
    response = gateway_for.client.post("/api/chat", json=body)
    assert response.status_code == 200, response.text
    assert len(upstream.requests) == 1


# --- every door reads its body the same strict way (gateway/doors/common/json_body.py) ---------

# Each door: its error shape and a body it would serve.
DOORS: dict[str, tuple[str, dict[str, Any]]] = {
    "/api/chat": ("gateway", {"model": "chat-model", "messages": OK_MESSAGES}),
    "/api/chat/chat-1/stop": ("gateway", {"activeStreamId": "s"}),
    "/v1/chat/completions": ("openai", {"model": "chat-model", "messages": OK_MESSAGES}),
    "/v1/responses": ("openai", {"model": "chat-model", "input": "hi"}),
    "/v1/messages": (
        "anthropic",
        {"model": "chat-model", "max_tokens": 5, "messages": OK_MESSAGES},
    ),
    "/v1/embeddings": ("openai", {"model": "embed-model", "input": "hi"}),
}
# A stop may be sent without a body; one that is sent is read as strictly.
OPTIONAL_BODY = {"/api/chat/chat-1/stop"}


def spliced(body: dict[str, Any], *fields: str) -> bytes:
    """`body` as JSON with `fields` ("name": raw JSON text) added as written, for what
    json.dumps cannot write: duplicate keys, 5,000 digits, bytes that are not UTF-8."""
    text = json.dumps(body)[:-1]
    for field in fields:
        text += (", " if text != "{" else "") + field
    return (text + "}").encode("utf-8", "surrogateescape")


NESTED_10000 = "[" * 10_000 + "]" * 10_000
NESTED_200 = "[" * 200 + "]" * 200
# (bytes from a valid body, content type, the field named, what the message says)
MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], bytes], str | None, str, str]] = {
    "empty body": (lambda b: b"", "application/json", "body", "field required"),
    "blank body": (lambda b: b" \n ", "application/json", "body", "field required"),
    "null body": (lambda b: b"null", "application/json", "body", "not null"),
    "array body": (lambda b: b"[1, 2]", "application/json", "body", "not an array"),
    "string body": (lambda b: b'"hi"', "application/json", "body", "not a string"),
    "number body": (lambda b: b"42", "application/json", "body", "not a number"),
    "not JSON": (lambda b: b"{nope", "application/json", "body", "not valid JSON"),
    "10,000 nested arrays": (lambda b: NESTED_10000.encode(), "application/json", "body", "array"),
    "10,000 nested arrays in a field": (
        lambda b: spliced(b, f'"x": {NESTED_10000}'),
        "application/json",
        "x[0]",
        "nested deeper than 128 levels",
    ),
    "200 nested arrays in a field": (
        lambda b: spliced(b, f'"x": {{"a": {NESTED_200}}}'),
        "application/json",
        "x.a[0]",
        "nested deeper than 128 levels",
    ),
    "5,000-digit number": (
        lambda b: spliced(b, '"x": ' + "9" * 5000),
        "application/json",
        "x",
        "fits in 64 bits",
    ),
    "2**64": (lambda b: spliced(b, f'"x": {2**64}'), "application/json", "x", "fits in 64 bits"),
    "-(2**63) - 1": (
        lambda b: spliced(b, f'"x": {-(2**63) - 1}'),
        "application/json",
        "x",
        "fits in 64 bits",
    ),
    "invalid UTF-8": (
        lambda b: spliced(b, '"x": "caf\udce9"'),  # a Latin-1 é: byte 0xe9 alone
        "application/json",
        "x",
        "not valid UTF-8 (byte 0xe9",
    ),
    "duplicate key": (
        lambda b: spliced(b, '"x": 1', '"x": 2'),
        "application/json",
        "x",
        "the key appears twice",
    ),
    "duplicate nested key": (
        lambda b: spliced(b, '"x": [{"k": 1, "a": {"k": 1, "k": 2}}]'),
        "application/json",
        "x[0].a.k",
        "the key appears twice",
    ),
    "lone surrogate": (
        lambda b: spliced(b, '"x": ["ok", "\\ud800"]'),
        "application/json",
        "x[1]",
        "lone surrogate",
    ),
    "NaN": (lambda b: spliced(b, '"x": {"y": NaN}'), "application/json", "x.y", "finite"),
    "text/plain": (lambda b: json.dumps(b).encode(), "text/plain", "body", "must be JSON"),
    "form encoded": (
        lambda b: b"model=chat-model",
        "application/x-www-form-urlencoded",
        "body",
        "must be JSON",
    ),
    "no content type": (lambda b: json.dumps(b).encode(), None, "body", "must be JSON"),
}


def field_named(shape: str, response: httpx.Response) -> tuple[str | None, str]:
    """The field a 4xx names, and its message, read from `shape`'s error body."""
    body = response.json()
    if shape == "anthropic":
        assert body["type"] == "error", body
        assert body["error"]["type"] == "invalid_request_error", body
        message = body["error"]["message"]
        return message.partition(":")[0], message
    error = body["error"]
    if shape == "openai":
        assert error["type"] == "invalid_request_error", body
        assert error["message"].startswith(f"{error['param']}:"), body
        return error["param"], error["message"]
    assert error["type"] in ("invalid_request", "unsupported_media_type"), body
    return error["message"].partition(":")[0], error["message"]


@pytest.mark.parametrize("path", DOORS)
def test_malformed_bytes_are_a_4xx_naming_the_field_on_every_door(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, path: str
) -> None:
    gateway = start_gateway(embedding_config(upstream))
    shape, valid = DOORS[path]
    wrong = []
    for case, (make, content_type, field, needle) in MALFORMED.items():
        if case == "empty body" and path in OPTIONAL_BODY:
            continue
        headers = {"content-type": content_type} if content_type else {}
        response = gateway.client.post(path, content=make(valid), headers=headers)
        expected = 415 if "must be JSON" in needle else (422 if shape == "gateway" else 400)
        named, message = field_named(shape, response) if response.is_error else (None, "")
        if (
            response.status_code != expected
            or named is None
            or not named.startswith(field)
            or needle not in message
        ):
            wrong.append(f"{case}: {response.status_code} {response.text[:200]}")
    assert wrong == []
    assert upstream.requests == []
    # A body that is well formed goes through (and so does no body where it may be left out).
    assert gateway.client.post(path, json=valid).status_code == 200
    if path in OPTIONAL_BODY:
        assert gateway.client.post(path).status_code == 200


def test_admin_routes_take_no_body_and_ignore_one(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(config_for(upstream), admin_key="admin-key-0123456789")
    headers = {"authorization": "Bearer admin-key-0123456789", "content-type": "application/json"}
    for raw in (NESTED_10000.encode(), b"9" * 5000, b'{"a": 1, "a": 2}', b"\xff", b"null"):
        response = gateway.client.post("/admin/reload", content=raw, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "unchanged"


# --- values the doors took although they are wrong, refused through the official SDKs -----------


def _function(parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": "f", "parameters": parameters}}


NOT_SCHEMAS = {
    "unknown type": {"type": "wizard"},
    "a $ref to itself": {"$ref": "#"},
    "a $ref loop through anyOf": {
        "$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}]}},
        "type": "object",
        "properties": {"x": {"$ref": "#/$defs/a"}},
    },
    "a $ref to nothing": {"type": "object", "properties": {"x": {"$ref": "#/$defs/none"}}},
    "a $ref to elsewhere": {"$ref": "https://example.com/schema.json"},
    "required not a list": {"type": "object", "required": "x"},
    "a property that is no schema": {"type": "object", "properties": {"x": 5}},
}
SCHEMA_CASES = [pytest.param(schema, id=name) for name, schema in NOT_SCHEMAS.items()]
# (create() arguments, the param named)
OPENAI_CHAT_WRONG = [
    ({"max_tokens": 2**64}, "max_tokens"),
    ({"max_tokens": 2**31}, "max_tokens"),
    ({"max_completion_tokens": 2**40}, "max_completion_tokens"),
    ({"seed": 2**63}, "seed"),
    ({"extra_body": {"stream": "yes"}}, "stream"),
    ({"extra_body": {"logprobs": 1}}, "logprobs"),
    ({"extra_body": {"max_tokens": "5"}}, "max_tokens"),
    ({"extra_body": {"temperature": "0.5"}}, "temperature"),
    ({"tools": [_function({"type": "wizard"})]}, "tools[0].function.parameters"),
    ({"tools": [_function({"$ref": "#"})]}, "tools[0].function.parameters"),
    (
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": {"type": "wizard"}},
            }
        },
        "response_format.json_schema.schema",
    ),
]


@pytest.mark.parametrize(("arguments", "param"), OPENAI_CHAT_WRONG)
def test_wrong_values_on_chat_completions_are_a_bad_request_naming_the_param(
    gateway_for: Gateway, upstream: FakeUpstream, arguments: dict[str, Any], param: str
) -> None:
    client = openai.OpenAI(base_url=f"{gateway_for.url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="chat-model", messages=OK_MESSAGES, **arguments)
    assert raised.value.param == param, raised.value.message
    assert raised.value.code == "invalid_request"
    assert upstream.requests == []


@pytest.mark.parametrize("schema", SCHEMA_CASES)
def test_tool_parameters_that_are_not_json_schema_are_refused_on_every_door(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, schema: dict[str, Any]
) -> None:
    gateway = start_gateway(config_for(upstream), api_keys=f"sdk:{SDK_KEY}")
    openai_client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=SDK_KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError) as chat:
        openai_client.chat.completions.create(
            model="chat-model", messages=OK_MESSAGES, tools=[_function(schema)]
        )
    assert chat.value.param == "tools[0].function.parameters"
    with pytest.raises(openai.BadRequestError) as responses:
        openai_client.responses.create(
            model="chat-model",
            input="hi",
            tools=[{"type": "function", "name": "f", "parameters": schema, "strict": False}],
        )
    assert responses.value.param == "tools[0].parameters"
    anthropic_client = anthropic.Anthropic(base_url=gateway.url, api_key=SDK_KEY, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as messages:
        anthropic_client.messages.create(
            model="chat-model",
            max_tokens=5,
            messages=OK_MESSAGES,
            tools=[{"name": "f", "input_schema": {"type": "object", **schema}}],
        )
    assert anthropic_message(messages.value).startswith("tools[0].input_schema")
    assert upstream.requests == []


def test_json_schemas_that_are_fine_are_sent_on(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    tree = {  # recursion through a property is a tree, not a loop
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {
            "name": {"type": ["string", "null"], "enum": ["a", None]},
            "children": {"type": "array", "items": {"$ref": "#"}},
            "node": {"$ref": "#/definitions/node"},
            "$ref": {"type": "string"},  # a property named $ref is a schema, not a reference
        },
        "definitions": {"node": {"anyOf": [{"type": "integer", "minimum": 0}, {"$ref": "#"}]}},
        "required": ["name"],
        "additionalProperties": False,
    }
    client = openai.OpenAI(base_url=f"{gateway_for.url}/v1", api_key="unused", max_retries=0)
    client.chat.completions.create(
        model="chat-model", messages=OK_MESSAGES, tools=[_function(tree)]
    )
    assert upstream.requests[-1]["tools"][0]["function"]["parameters"] == tree


RESPONSES_WRONG = [
    ({"max_output_tokens": 2**64}, "max_output_tokens"),
    ({"max_output_tokens": 2**31}, "max_output_tokens"),
    ({"extra_body": {"stream": "yes"}}, "stream"),
    ({"extra_body": {"store": "no"}}, "store"),
    (
        {"text": {"format": {"type": "json_schema", "name": "a", "schema": {"$ref": "#"}}}},
        "text.format.schema",
    ),
]


@pytest.mark.parametrize(("arguments", "param"), RESPONSES_WRONG)
def test_wrong_values_on_responses_are_a_bad_request_naming_the_param(
    gateway_for: Gateway, upstream: FakeUpstream, arguments: dict[str, Any], param: str
) -> None:
    client = openai.OpenAI(base_url=f"{gateway_for.url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="chat-model", input="hi", **arguments)
    assert raised.value.param == param, raised.value.message
    assert upstream.requests == []


def test_wrong_values_on_embeddings_are_a_bad_request_naming_the_param(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(embedding_config(upstream))
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)
    for arguments, param in [
        ({"dimensions": 2**64}, "dimensions"),
        ({"input": [[1, 2**64]]}, "input[0][1]"),
        ({"extra_body": {"dimensions": "4"}}, "dimensions"),
    ]:
        with pytest.raises(openai.BadRequestError) as raised:
            client.embeddings.create(model="embed-model", **{"input": "hi", **arguments})
        assert raised.value.param == param, raised.value.message
    assert upstream.requests == []


def anthropic_message(error: anthropic.APIStatusError) -> str:
    body = error.body
    assert isinstance(body, dict) and body["type"] == "error", body
    assert body["error"]["type"] == "invalid_request_error", body
    return str(body["error"]["message"])


ANTHROPIC_WRONG = [
    ({"max_tokens": 2**64}, "max_tokens"),
    ({"max_tokens": 2**31}, "max_tokens"),
    ({"extra_body": {"top_k": 2**40}}, "top_k"),
    ({"thinking": {"type": "enabled", "budget_tokens": 2**40}}, "thinking.budget_tokens"),
    ({"extra_body": {"stream": "yes"}}, "stream"),
    ({"extra_body": {"temperature": "0.5"}}, "temperature"),
]


@pytest.mark.parametrize(("arguments", "field"), ANTHROPIC_WRONG)
def test_wrong_values_on_messages_are_a_bad_request_naming_the_field(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    arguments: dict[str, Any],
    field: str,
) -> None:
    gateway = start_gateway(config_for(upstream), api_keys=f"sdk:{SDK_KEY}")
    client = anthropic.Anthropic(base_url=gateway.url, api_key=SDK_KEY, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(
            model="chat-model",
            messages=OK_MESSAGES,
            # A timeout of its own, or the SDK refuses a huge max_tokens before sending it.
            timeout=15,
            **{"max_tokens": 5, **arguments},
        )
    assert anthropic_message(raised.value).startswith(f"{field}: ")
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"max_tokens": 2**64}, "max_tokens"),
        ({"max_tokens": 2**31}, "max_tokens"),
        ({"seed": 2**63}, "seed"),
        ({"stream": "yes"}, "stream"),
        ({"stream": 1}, "stream"),
        ({"temperature": "0.5"}, "temperature"),
        ({"max_tokens": 5.0}, "max_tokens"),
    ],
)
def test_wrong_values_on_the_frontend_door_are_a_422_naming_the_field(
    gateway_for: Gateway, upstream: FakeUpstream, fields: dict[str, Any], field: str
) -> None:
    response = gateway_for.chat(**fields)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith(f"{field}: ")
    assert upstream.requests == []
