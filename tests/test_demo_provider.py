"""The offline demo model: served through LiteLLM's custom-provider path, no key, no network."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from gateway.catalog import GATEWAY_CATALOG
from gateway.config import load_config
from gateway.upstream.router import build_router
from tests.support.ai_sdk import run_data_stream_client, run_ui_message_stream_client
from tests.support.gateways import Gateway
from tests.support.processes import GatewayProcess, clean_env
from tests.support.wire import parse_lines

REPO = Path(__file__).resolve().parent.parent


def test_shipped_config_streams_a_demo_answer(start_gateway: Callable[..., Gateway]) -> None:
    shipped = yaml.safe_load((REPO / "litellm_config.yaml").read_text())
    gateway = start_gateway(shipped)
    response = gateway.chat(messages=[{"role": "user", "content": "你好"}])
    parts = parse_lines(response.text)
    text = "".join(p["textDelta"] for code, p in parts if code == "0")
    assert text.startswith("You said: 你好")
    assert sum(1 for code, _ in parts if code == "0") > 5  # streamed word by word
    assert parts[-1][0] == "d" and parts[-1][1]["usage"]["completionTokens"] > 0


def test_demo_model_emits_a_tool_call_through_litellm() -> None:
    router = build_router(load_config(REPO / "litellm_config.yaml", GATEWAY_CATALOG))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
            },
        }
    ]

    async def call() -> tuple[list[str], str | None]:
        stream = await router.acompletion(
            model="chat-model",
            messages=[{"role": "user", "content": "weather in Paris?"}],
            tools=tools,
            stream=True,
        )
        arguments, finish = [], None
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.tool_calls:
                arguments += [c.function.arguments for c in chunk.choices[0].delta.tool_calls]
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
        return arguments, finish

    arguments, finish = asyncio.run(call())
    assert json.loads("".join(arguments)) == {"location": "Paris"}
    assert finish == "tool_calls"


def shipped(start_gateway: Callable[..., Gateway]) -> tuple[Gateway, httpx.Client]:
    """A gateway on the shipped config and default settings, and its client."""
    gateway = start_gateway(yaml.safe_load((REPO / "litellm_config.yaml").read_text()))
    return gateway, gateway.client


def test_default_cors_allows_the_dev_server_by_either_name(
    start_gateway: Callable[..., Gateway],
) -> None:
    # `next dev` is reached as localhost:3000 or 127.0.0.1:3000; a browser sees two origins.
    _, client = shipped(start_gateway)
    for origin in ("http://localhost:3000", "http://127.0.0.1:3000"):
        preflight = client.options(
            "/api/chat", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
        )
        assert preflight.status_code == 200, origin
        assert preflight.headers["access-control-allow-origin"] == origin


REASONING_QUESTION = [{"role": "user", "content": "你好 there"}]


def test_demo_reasoning_model_streams_its_reasoning_before_its_text(
    start_gateway: Callable[..., Gateway],
) -> None:
    _, client = shipped(start_gateway)
    body = {"model": "chat-model-reasoning", "messages": REASONING_QUESTION}

    data = client.post("/api/chat?protocol=data-stream", json=body)
    codes = [line.partition(":")[0] for line in data.text.splitlines()]
    reasoning = "".join(
        json.loads(line[2:]) for line in data.text.splitlines() if line.startswith("g:")
    )
    assert codes.count("g") > 3  # streamed piece by piece
    assert max(i for i, c in enumerate(codes) if c == "g") < codes.index("0")
    assert "你好 there" in reasoning

    ui = client.post("/api/chat?protocol=ui-message-stream", json=body)
    chunks = [json.loads(line[6:]) for line in ui.text.splitlines() if line.startswith("data: {")]
    types = [chunk["type"] for chunk in chunks]
    assert types.index("reasoning-start") < types.index("reasoning-delta")
    assert types.index("reasoning-end") < types.index("text-start")
    ui_reasoning = "".join(c["delta"] for c in chunks if c["type"] == "reasoning-delta")
    assert ui_reasoning == reasoning

    answer = client.post("/api/chat", json={**body, "stream": False}).json()
    assert answer["reasoning"] == reasoning and answer["text"].startswith("You said: 你好")
    plain = client.post("/api/chat", json={**body, "model": "chat-model", "stream": False}).json()
    assert "reasoning" not in plain  # only the reasoning model reasons


def test_demo_reasoning_through_litellm_streamed_and_not() -> None:
    router = build_router(load_config(REPO / "litellm_config.yaml", GATEWAY_CATALOG))

    async def call() -> tuple[str, str, str, str | None]:
        stream = await router.acompletion(
            model="chat-model-reasoning", messages=REASONING_QUESTION, stream=True
        )
        reasoning, text = "", ""
        async for chunk in stream:
            delta = chunk.choices[0].delta if chunk.choices else None
            if delta is not None:
                assert not (text and getattr(delta, "reasoning_content", None))  # reasoning first
                reasoning += getattr(delta, "reasoning_content", None) or ""
                text += delta.content or ""
        whole = await router.acompletion(model="chat-model-reasoning", messages=REASONING_QUESTION)
        message = whole.choices[0].message
        return reasoning, text, message.content, getattr(message, "reasoning_content", None)

    reasoning, text, whole_text, whole_reasoning = asyncio.run(call())
    assert reasoning and whole_reasoning == reasoning
    assert text.startswith("You said: 你好 there") and whole_text == text


def test_the_ai_sdk_reads_the_demo_reasoning(start_gateway: Callable[..., Gateway]) -> None:
    gateway, _ = shipped(start_gateway)
    ui = run_ui_message_stream_client(
        f"{gateway.url}/api/chat?protocol=ui-message-stream",
        {
            "id": "chat-1",
            "trigger": "submit-message",
            "model": "chat-model-reasoning",
            "messages": [
                {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "你好 there"}]}
            ],
        },
    )
    data = run_data_stream_client(
        f"{gateway.url}/api/chat?protocol=data-stream",
        {"model": "chat-model-reasoning", "messages": REASONING_QUESTION},
    )

    assert ui["thrown"] is None and ui["errors"] == [] and ui["invalidChunks"] == []
    kinds = [part["type"] for part in ui["message"]["parts"] if part["type"] != "step-start"]
    assert kinds == ["reasoning", "text"]
    (thought,) = [p["text"] for p in ui["message"]["parts"] if p["type"] == "reasoning"]
    assert "你好 there" in thought
    assert data["thrown"] is None
    assert "".join(p["value"] for p in data["parts"] if p["type"] == "reasoning") == thought


# --- demo/embed: the shipped embedding-model -----------------------------------------------------

CAT = "the cat sat on the mat"
SIMILAR = "a cat sat on a mat"
UNRELATED = "quarterly tax filing deadline"


def embeddings_sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.hypot(*a) / math.hypot(*b)


def test_demo_embeddings_are_deterministic_unit_vectors_that_place_similar_texts_closer(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway, _ = shipped(start_gateway)
    client = embeddings_sdk(gateway.url)

    answer = client.embeddings.create(
        model="embedding-model", input=[CAT, SIMILAR, UNRELATED], encoding_format="float"
    )
    cat, similar, unrelated = (d.embedding for d in answer.data)
    assert [d.index for d in answer.data] == [0, 1, 2]
    assert answer.model == "embedding-model"
    assert all(len(d.embedding) == 64 for d in answer.data)
    assert all(abs(math.hypot(*d.embedding) - 1) < 1e-9 for d in answer.data)
    assert cosine(cat, similar) > cosine(cat, unrelated)
    assert cosine(cat, similar) > 0.5 > cosine(cat, unrelated)
    # Whitespace words: 6 + 6 + 4.
    assert answer.usage.prompt_tokens == 16 and answer.usage.total_tokens == 16

    # The same text, alone and in another call, gets the very same vector.
    again = client.embeddings.create(model="embedding-model", input=CAT, encoding_format="float")
    assert len(again.data) == 1 and again.data[0].embedding == cat
    assert again.usage.prompt_tokens == 6

    # Token IDs are an input too: one vector for a list of ints, one each for a list of lists.
    tokens = client.embeddings.create(
        model="embedding-model", input=[[1, 2, 3], [4]], encoding_format="float"
    )
    assert [len(d.embedding) for d in tokens.data] == [64, 64]
    assert tokens.usage.prompt_tokens == 4


def test_demo_embeddings_in_base64_decode_to_the_same_floats(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway, _ = shipped(start_gateway)
    client = embeddings_sdk(gateway.url)
    floats = client.embeddings.create(
        model="embedding-model", input=[CAT, UNRELATED], encoding_format="float"
    )
    encoded = client.embeddings.create(
        model="embedding-model", input=[CAT, UNRELATED], encoding_format="base64"
    )
    # Asked for base64, the SDK hands over OpenAI's little-endian float32 as it came.
    as_float32 = [
        list(struct.unpack("<64f", struct.pack("<64f", *d.embedding))) for d in floats.data
    ]
    decoded = []
    for item in encoded.data:
        assert isinstance(item.embedding, str)
        decoded.append(list(struct.unpack("<64f", base64.b64decode(item.embedding))))
    assert decoded == as_float32
    # With no encoding_format the SDK asks for base64 itself and decodes it.
    default = client.embeddings.create(model="embedding-model", input=[CAT, UNRELATED])
    assert [d.embedding for d in default.data] == as_float32
    assert encoded.usage.prompt_tokens == default.usage.prompt_tokens == 10


def test_demo_embeddings_are_the_same_in_another_process_with_another_hash_seed(
    start_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    gateway, _ = shipped(start_gateway)
    here = embeddings_sdk(gateway.url).embeddings.create(
        model="embedding-model", input=CAT, encoding_format="float"
    )
    served = GatewayProcess(
        REPO / "litellm_config.yaml", tmp_path, env=clean_env(PYTHONHASHSEED="12345")
    )
    try:
        served.wait_ready()
        there = embeddings_sdk(served.url).embeddings.create(
            model="embedding-model", input=CAT, encoding_format="float"
        )
    finally:
        served.stop()
    assert there.data[0].embedding == here.data[0].embedding


def test_demo_embeddings_refuse_dimensions_clearly_and_keep_serving(
    start_gateway: Callable[..., Gateway],
) -> None:
    # LiteLLM 1.106 passes no `dimensions` to a custom provider: it refuses the request first.
    gateway, _ = shipped(start_gateway)
    client = embeddings_sdk(gateway.url)
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="embedding-model", input=CAT, dimensions=8)
    error = refused.value.body
    assert isinstance(error, dict) and error["code"] == "upstream_bad_request"
    assert "dimensions" in error["message"] and "embedding-model" in error["message"]
    # The refusal leaves the model serving (no cool-down).
    after = client.embeddings.create(model="embedding-model", input=CAT, encoding_format="float")
    assert len(after.data[0].embedding) == 64


def test_the_shipped_embedding_model_is_listed_as_one_and_refused_for_chat(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway, _ = shipped(start_gateway)
    client = embeddings_sdk(gateway.url)
    listed = {m.id: m.model_extra["mode"] for m in client.models.list().data}  # type: ignore[index]
    assert listed == {
        "chat-model": "chat",
        "chat-model-reasoning": "chat",
        "title-model": "chat",
        "artifact-model": "chat",
        "embedding-model": "embedding",
    }
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="embedding-model", messages=[{"role": "user", "content": "hi"}]
        )
    error = refused.value.body
    assert isinstance(error, dict) and error["code"] == "wrong_model_mode"
    assert "'embedding-model'" in error["message"]
    # And the chat IDs are refused on the embeddings door.
    with pytest.raises(openai.BadRequestError) as wrong_door:
        client.embeddings.create(model="chat-model", input=CAT)
    assert isinstance(wrong_door.value.body, dict)
    assert wrong_door.value.body["code"] == "wrong_model_mode"


def test_check_config_accepts_the_shipped_embedding_model() -> None:
    checked = subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", str(REPO / "litellm_config.yaml")],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env=clean_env(),
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr
    assert "embedding-model -> demo/embed  [embedding]" in checked.stdout
    assert "chat-model -> demo/chat\n" in checked.stdout
    config = load_config(REPO / "litellm_config.yaml", GATEWAY_CATALOG)
    assert config.model_ids_of("chat") == [
        "chat-model",
        "chat-model-reasoning",
        "title-model",
        "artifact-model",
    ]
    assert config.model_ids_of("embedding") == ["embedding-model"]
