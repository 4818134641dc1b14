"""POST /v1/embeddings, driven by the official openai SDK against a served gateway whose
embedding model is the fake upstream's OpenAI-shaped /v1/embeddings (nothing mocked in LiteLLM).

Inputs that reach the cache carry a fresh word (`fresh`) so answers cached by one test, in the
session's shared Redis, can never satisfy another.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway.cache.answers import CorruptAnswer
from gateway.cache.embeddings import CachedEmbeddings, decode_embeddings, encode_embeddings
from gateway.catalog import GATEWAY_CATALOG
from gateway.config import ConfigError, parse_config
from tests.support.configs import EMBEDDING_PROVIDER_MODEL as PROVIDER_MODEL
from tests.support.configs import UPSTREAM_KEY, embedding_config, model_entry
from tests.support.fake_upstream import EmbeddingReply, FakeUpstream, Fault, fake_vector
from tests.support.gateways import Gateway
from tests.support.redis_server import RedisServer

KEY_A = "key-a-0123456789abcdef"
KEY_B = "key-b-fedcba9876543210"


def sdk(gateway: Gateway, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


def fresh(text: str = "a question") -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.name == "gateway.request"]  # type: ignore[attr-defined]


def embeddings_sent(upstream: FakeUpstream) -> list[dict[str, Any]]:
    return [request for request in upstream.requests if "input" in request]


@pytest.fixture
def gateway(start_gateway: Callable[..., Gateway], upstream: FakeUpstream) -> Gateway:
    return start_gateway(embedding_config(upstream))


# --- the answer --------------------------------------------------------------------------------


def test_string_and_list_inputs_get_the_providers_vectors_in_openai_shape(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    client = sdk(gateway)
    one = client.embeddings.create(model="embed-model", input="你好 world", encoding_format="float")
    many = client.embeddings.create(
        model="embed-model", input=["first text", "second", "third one here"]
    )

    assert one.object == "list"
    assert one.model == "embed-model"  # the gateway's ID, not the provider's
    assert [(d.object, d.index) for d in one.data] == [("embedding", 0)]
    assert one.data[0].embedding == fake_vector("你好 world")
    assert (one.usage.prompt_tokens, one.usage.total_tokens) == (2, 2)
    assert [d.embedding for d in many.data] == [
        fake_vector(text) for text in ["first text", "second", "third one here"]
    ]
    assert [d.index for d in many.data] == [0, 1, 2] and many.usage.prompt_tokens == 6
    # The provider got its own model name and the input as sent; never an encoding_format (it
    # sends floats; the gateway makes base64 itself).
    assert embeddings_sent(upstream) == [
        {"model": PROVIDER_MODEL, "input": "你好 world"},
        {"model": PROVIDER_MODEL, "input": ["first text", "second", "third one here"]},
    ]


def test_dimensions_reach_the_provider(gateway: Gateway, upstream: FakeUpstream) -> None:
    answer = sdk(gateway).embeddings.create(model="embed-model", input="short", dimensions=4)
    assert answer.data[0].embedding == fake_vector("short", 4)
    assert embeddings_sent(upstream)[-1]["dimensions"] == 4


def test_base64_is_what_the_sdk_decodes(gateway: Gateway) -> None:
    client = sdk(gateway)
    # Without encoding_format the SDK asks for base64 and decodes it to floats itself.
    decoded = client.embeddings.create(model="embed-model", input=["a b", "c"])
    assert [d.embedding for d in decoded.data] == [fake_vector("a b"), fake_vector("c")]
    # Asked for explicitly, the SDK hands over the string: little-endian float32.
    raw = client.embeddings.create(model="embed-model", input="a b", encoding_format="base64")
    text = raw.data[0].embedding
    assert isinstance(text, str)
    packed = base64.b64decode(text)
    assert list(struct.unpack(f"<{len(packed) // 4}f", packed)) == fake_vector("a b")


def test_token_arrays_are_passed_on(gateway: Gateway, upstream: FakeUpstream) -> None:
    client = sdk(gateway)
    one = client.embeddings.create(model="embed-model", input=[5, 6, 7], encoding_format="float")
    many = client.embeddings.create(
        model="embed-model", input=[[1, 2], [3]], encoding_format="float"
    )
    assert one.data[0].embedding == fake_vector([5, 6, 7]) and one.usage.prompt_tokens == 3
    assert [d.embedding for d in many.data] == [fake_vector([1, 2]), fake_vector([3])]
    assert [r["input"] for r in embeddings_sent(upstream)] == [[5, 6, 7], [[1, 2], [3]]]


def test_the_models_list_says_which_ids_are_chat_and_which_embedding(gateway: Gateway) -> None:
    listed = sdk(gateway).models.list()
    assert {(m.id, m.model_extra["mode"]) for m in listed.data} == {  # type: ignore[index]
        ("chat-model", "chat"),
        ("title-model", "chat"),
        ("embed-model", "embedding"),
    }
    assert all(m.object == "model" for m in listed.data)


# --- the wrong model ---------------------------------------------------------------------------


def test_a_chat_model_is_refused_on_the_embeddings_door(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        sdk(gateway).embeddings.create(model="chat-model", input="hi")
    error = refused.value.body
    assert isinstance(error, dict) and error["code"] == "wrong_model_mode"
    assert "'chat-model' is a chat model" in error["message"]
    assert "embedding models: embed-model" in error["message"]
    # Unknown IDs answer as on /v1/chat/completions (OpenAI's 404).
    with pytest.raises(openai.NotFoundError) as unknown:
        sdk(gateway).embeddings.create(model="no-such-model", input="hi")
    assert isinstance(unknown.value.body, dict) and unknown.value.body["code"] == "unknown_model"
    assert upstream.requests == []


def test_an_embedding_model_is_refused_on_the_chat_doors(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    frontend = gateway.chat(model="embed-model")
    assert frontend.status_code == 400
    assert frontend.json()["error"]["type"] == "wrong_model_mode"
    assert "'embed-model' is an embedding model" in frontend.json()["error"]["message"]
    with pytest.raises(openai.BadRequestError) as refused:
        sdk(gateway).chat.completions.create(
            model="embed-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert isinstance(refused.value.body, dict)
    assert refused.value.body["code"] == "wrong_model_mode"
    assert upstream.requests == []


# --- keys, limits, budgets ---------------------------------------------------------------------


def test_keys_are_required_when_configured(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(embedding_config(upstream), api_keys=f"a:{KEY_A}")
    with pytest.raises(openai.AuthenticationError):
        sdk(gateway, "not-a-key").embeddings.create(model="embed-model", input="hi")
    bare = gateway.client.post("/v1/embeddings", json={"model": "embed-model", "input": "hi"})
    assert bare.status_code == 401 and bare.json()["error"]["code"] == "unauthorized"
    assert sdk(gateway, KEY_A).embeddings.create(model="embed-model", input="hi").data
    assert len(upstream.requests) == 1


def test_rate_limits_count_embedding_requests(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    config = embedding_config(upstream, rate_limit={"models": {"embed-model": "2/minute"}})
    gateway = start_gateway(config)
    client = sdk(gateway)
    first = client.embeddings.with_raw_response.create(model="embed-model", input="x")
    assert first.headers["x-ratelimit-limit"] == "2"
    assert first.headers["x-ratelimit-remaining"] == "1"
    client.embeddings.create(model="embed-model", input="x")
    with pytest.raises(openai.RateLimitError) as refused:
        client.embeddings.create(model="embed-model", input="x")
    assert isinstance(refused.value.body, dict) and refused.value.body["code"] == "rate_limited"
    assert 1 <= int(refused.value.response.headers["retry-after"]) <= 60
    assert len(upstream.requests) == 2


def test_prompt_tokens_are_spent_from_the_token_budget(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, redis_server: RedisServer
) -> None:
    gateway = start_gateway(
        embedding_config(upstream, rate_limit={"tokens_per_minute": 10}),
        redis_url=redis_server.url,
        api_keys=f"a:{KEY_A},b:{KEY_B}",
    )
    a, b = sdk(gateway, KEY_A), sdk(gateway, KEY_B)
    upstream.script(EmbeddingReply(prompt_tokens=6), EmbeddingReply(prompt_tokens=6))
    a.embeddings.create(model="embed-model", input="six tokens")  # 6 of 10
    a.embeddings.create(model="embed-model", input="six tokens")  # 12: this one crosses it
    with pytest.raises(openai.RateLimitError) as refused:
        a.embeddings.create(model="embed-model", input="six tokens")
    assert isinstance(refused.value.body, dict)
    assert refused.value.body["code"] == "token_budget_exceeded"
    assert len(upstream.requests) == 2
    assert b.embeddings.create(model="embed-model", input="its own budget").data  # key B


# --- the response cache ------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, redis_server: RedisServer) -> dict[str, str]:
    return {"redis_url": redis_server.url} if request.param == "redis" else {}


def test_a_repeated_embedding_is_answered_from_the_cache_per_key(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, store: dict[str, str]
) -> None:
    config = embedding_config(upstream, cache={"ttl": 60, "models": ["embed-model"]})
    gateway = start_gateway(config, api_keys=f"a:{KEY_A},b:{KEY_B}", **store)
    a, b = sdk(gateway, KEY_A), sdk(gateway, KEY_B)
    texts = [fresh("first"), fresh("second")]

    def ask(client: openai.OpenAI, **options: Any) -> Any:
        options = {"dimensions": 4, **options}
        return client.embeddings.with_raw_response.create(
            model="embed-model", input=texts, **options
        )

    miss, hit = ask(a, encoding_format="float"), ask(a, encoding_format="float")
    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("miss", "hit")
    assert len(upstream.requests) == 1  # the hit never reached the provider
    expected = [fake_vector(text, 4) for text in texts]
    assert [d.embedding for d in hit.parse().data] == expected
    assert hit.parse().usage.prompt_tokens == miss.parse().usage.prompt_tokens == 4
    # One stored answer makes either format: the SDK's default base64 is a hit too.
    as_base64 = ask(a)
    assert as_base64.headers["x-cache"] == "hit"
    assert [d.embedding for d in as_base64.parse().data] == expected
    # Other dimensions are another answer; under per-key scope, so is another key.
    assert ask(a, dimensions=8).headers["x-cache"] == "miss"
    assert ask(b).headers["x-cache"] == "miss"
    assert ask(b).headers["x-cache"] == "hit"
    assert len(upstream.requests) == 3
    # Cache-Control: no-cache skips reading, as on the chat doors.
    skipped = a.embeddings.with_raw_response.create(
        model="embed-model", input=texts, dimensions=4, extra_headers={"cache-control": "no-cache"}
    )
    assert skipped.headers["x-cache"] == "bypass" and len(upstream.requests) == 4


def test_cached_embeddings_spend_no_token_budget(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    config = embedding_config(
        upstream,
        cache={"ttl": 60, "models": ["embed-model"]},
        rate_limit={"tokens_per_minute": 10},
    )
    client = sdk(start_gateway(config))
    text = fresh("eight tokens")
    upstream.script(EmbeddingReply(prompt_tokens=8))
    for _ in range(3):  # 8 of 10 on the miss; the hits cost nothing
        client.embeddings.create(model="embed-model", input=text)
    upstream.script(EmbeddingReply(prompt_tokens=8))
    client.embeddings.create(model="embed-model", input=fresh())  # 16: crosses it
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model="embed-model", input=fresh())


def test_a_model_not_listed_under_the_cache_gets_no_cache_header(gateway: Gateway) -> None:
    answer = sdk(gateway).embeddings.with_raw_response.create(model="embed-model", input="x")
    assert "x-cache" not in answer.headers
    assert answer.headers["x-gateway-deployment"] == "embed-model#2"


# --- provider failures -------------------------------------------------------------------------


def test_a_provider_error_is_mapped_and_scrubbed(gateway: Gateway, upstream: FakeUpstream) -> None:
    upstream.script(Fault(500, f"embedding backend down (key {UPSTREAM_KEY})"))
    with pytest.raises(openai.APIStatusError) as failed:
        sdk(gateway).embeddings.create(model="embed-model", input="hi")
    assert failed.value.status_code == 502
    body = failed.value.body
    assert isinstance(body, dict) and body["code"] == "upstream_error"
    assert "embedding backend down" in body["message"]
    assert UPSTREAM_KEY not in body["message"] and UPSTREAM_KEY[3:] not in body["message"]
    # Asked once: num_retries is 0, and LiteLLM's OpenAI SDK client does not retry unseen.
    assert len(upstream.requests) == 1


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Fault(400, "dimensions not supported"), 400, "upstream_bad_request"),
        (Fault(429, "slow down", headers={"retry-after": "7"}), 429, "upstream_rate_limited"),
    ],
)
def test_provider_refusals_keep_their_kind(
    gateway: Gateway, upstream: FakeUpstream, fault: Fault, status: int, code: str
) -> None:
    upstream.script(fault)
    with pytest.raises(openai.APIStatusError) as failed:
        sdk(gateway).embeddings.create(model="embed-model", input="hi")
    assert failed.value.status_code == status
    assert isinstance(failed.value.body, dict) and failed.value.body["code"] == code
    assert fault.message in failed.value.body["message"]
    assert len(upstream.requests) == 1
    if status == 429:  # the provider's Retry-After is passed on
        assert failed.value.response.headers["retry-after"] == "7"


def test_a_failed_embedding_model_falls_back_to_its_backup(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    config = embedding_config(upstream)
    backup = model_entry("embed-backup", upstream_b, model=f"openai/{PROVIDER_MODEL}")
    backup["model_info"] = {"mode": "embedding"}
    config["model_list"].append(backup)
    config["router_settings"]["fallbacks"] = [{"embed-model": ["embed-backup"]}]
    gateway = start_gateway(config)
    upstream.script(Fault(500, "primary down"))
    answer = sdk(gateway).embeddings.with_raw_response.create(model="embed-model", input="hi")
    assert answer.headers["x-gateway-deployment"] == "embed-backup#3"
    assert answer.parse().model == "embed-model"
    assert len(upstream.requests) == len(upstream_b.requests) == 1


def test_a_slow_provider_is_a_504(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    config = embedding_config(upstream)
    config["router_settings"]["timeout"] = 0.5
    gateway = start_gateway(config)
    upstream.script(EmbeddingReply(delay=5))
    with pytest.raises(openai.APIStatusError) as failed:
        sdk(gateway).embeddings.create(model="embed-model", input="hi")
    assert failed.value.status_code == 504
    assert isinstance(failed.value.body, dict)
    assert failed.value.body["code"] == "upstream_timeout"


def test_an_answer_with_the_wrong_number_of_vectors_is_upstream_incomplete(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    upstream.script(EmbeddingReply(vectors=[[0.5, 0.25]]))
    with pytest.raises(openai.APIStatusError) as failed:
        sdk(gateway).embeddings.create(model="embed-model", input=["one", "two"])
    assert failed.value.status_code == 502
    body = failed.value.body
    assert isinstance(body, dict) and body["code"] == "upstream_incomplete"
    assert "1 vectors for 2 inputs" in body["message"]


def test_a_client_that_hangs_up_cancels_the_provider_call_and_is_logged_499(
    gateway: Gateway, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.request")
    upstream.script(EmbeddingReply(delay=10))
    host, port = gateway.url.removeprefix("http://").split(":")
    body = b'{"model": "embed-model", "input": "x"}'
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /v1/embeddings HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        assert _wait_for(lambda: len(embeddings_sent(upstream)) == 1)  # the provider is asked
    # The socket is closed: the gateway hangs up on the provider at once, not 10 s later.
    assert upstream.wait_for_disconnect(timeout=3), "the gateway kept waiting on the provider"
    assert _wait_for(lambda: 499 in [line["status"] for line in request_lines(caplog)])


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"model": "embed-model"}, "input: field required"),
        ({"model": "embed-model", "input": ""}, "input: must not be an empty string"),
        ({"model": "embed-model", "input": []}, "input: must not be an empty list"),
        ({"model": "embed-model", "input": ["a", ""]}, "input[1]: must not be an empty string"),
        ({"model": "embed-model", "input": ["a", 1]}, "input[1]: Input should be a string"),
        ({"model": "embed-model", "input": [1, -2]}, "input[1]: Input should be a token ID"),
        ({"model": "embed-model", "input": [2**31]}, "input[0]: Input should be a token ID"),
        ({"model": "embed-model", "input": [True]}, "input[0]: Input should be a string"),
        ({"model": "embed-model", "input": [[1], []]}, "input[1]: a token array must not be"),
        ({"model": "embed-model", "input": [[1], ["a"]]}, "input[1][0]: Input should be a token"),
        ({"model": "embed-model", "input": {"text": "a"}}, "input: Input should be a string"),
        ({"model": "embed-model", "input": ["a"] * 2049}, "input: 2049 inputs is over the limit"),
        ({"model": "embed-model", "input": "a", "dimensions": 0}, "dimensions: Input should be"),
        ({"model": "embed-model", "input": "a", "dimensions": "4"}, "dimensions: Input should"),
        ({"model": "embed-model", "input": "a", "dimensions": 10**6}, "dimensions: Input should"),
        ({"model": "embed-model", "input": "a", "dimensions": 1.5}, "dimensions: Input should"),
        ({"model": "embed-model", "input": "a", "encoding_format": "hex"}, "encoding_format:"),
        ({"model": "embed-model", "input": "\ud800"}, "input: Input should be valid Unicode"),
        ({"input": "a"}, "model: field required"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    gateway: Gateway, upstream: FakeUpstream, body: dict[str, Any], names: str
) -> None:
    # ASCII-escaped, so a lone surrogate is sent as JSON's own "\ud800".
    response = gateway.client.post(
        "/v1/embeddings", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_request"
    assert names in error["message"]
    assert upstream.requests == []


@pytest.mark.parametrize(
    "raw",
    [
        '{"model": "embed-model", "input": "a", "dimensions": 1e400}',
        '{"model": "embed-model", "input": "a", "dimensions": ' + "9" * 4000 + "}",
        '{"model": "embed-model", "input": [' + "9" * 4000 + "]}",
        '{"model": "embed-model", "input": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"model": "embed-model", "input": [[[[[1]]]]]}',
        '{"model": "embed-model", "input": ["a", NaN]}',
        "null",
        "[]",
    ],
)
def test_hostile_bodies_are_refused_not_failed(
    gateway: Gateway, upstream: FakeUpstream, raw: str
) -> None:
    response = gateway.client.post(
        "/v1/embeddings", content=raw.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert upstream.requests == []


def test_input_over_the_character_cap_is_413(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(embedding_config(upstream), max_total_chars=10)
    response = gateway.client.post(
        "/v1/embeddings", json={"model": "embed-model", "input": ["12345", "123456"]}
    )
    assert response.status_code == 413
    assert "input holds 11 characters" in response.json()["error"]["message"]


# --- what the operator sees --------------------------------------------------------------------


def test_the_request_log_and_metrics_name_the_embeddings_door(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = embedding_config(upstream, cache={"ttl": 60, "models": ["embed-model"]})
    gateway = start_gateway(config)
    caplog.set_level(logging.INFO, logger="gateway.request")
    text = fresh("logged")
    for _ in range(2):
        sdk(gateway).embeddings.create(model="embed-model", input=text)
    upstream.script(Fault(500, "boom"))
    with pytest.raises(openai.APIStatusError):
        sdk(gateway).embeddings.create(model="embed-model", input=fresh())

    miss, hit, failed = request_lines(caplog)
    assert miss["protocol"] == "embeddings" and miss["model"] == "embed-model"
    assert miss["stream"] is False and miss["deployment"] == "embed-model#2"
    assert (miss["cache"], miss["prompt_tokens"], miss["completion_tokens"]) == ("miss", 2, 0)
    assert (hit["cache"], hit["status"]) == ("hit", 200)
    assert failed["status"] == 502 and failed["error_type"] == "upstream_error"
    assert "boom" in failed["error"]
    metrics = gateway.client.get("/metrics").text
    assert (
        'gateway_requests_total{model="embed-model",protocol="embeddings",'
        'route="/v1/embeddings",status="200"}'
    ) in metrics


# --- the YAML ----------------------------------------------------------------------------------


def problems_of(config: dict[str, Any], tmp_path: Path) -> str:
    import yaml

    path = tmp_path / "litellm_config.yaml"
    with pytest.raises(ConfigError) as error:
        parse_config(yaml.safe_dump(config), path, GATEWAY_CATALOG)
    return str(error.value)


def test_the_yaml_refuses_modes_it_cannot_serve(upstream: FakeUpstream, tmp_path: Path) -> None:
    config = embedding_config(upstream)
    config["model_list"][2]["model_info"] = {"mode": "image_generation"}
    assert (
        "model_list[2] (embed-model): model_info.mode: 'image_generation' is not served by "
        "this gateway; use one of chat, embedding"
    ) in problems_of(config, tmp_path)


def test_one_model_id_has_one_mode(upstream: FakeUpstream, tmp_path: Path) -> None:
    config = embedding_config(upstream)
    config["model_list"].append(model_entry("embed-model", upstream))  # unmarked: chat
    assert (
        "model_list[3] (embed-model): model_info.mode: 'chat' differs from 'embedding' in "
        "model_list[2]"
    ) in problems_of(config, tmp_path)


def test_a_fallback_must_answer_the_same_kind_of_request(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    config = embedding_config(upstream)
    config["router_settings"]["fallbacks"] = [{"chat-model": ["embed-model"]}]
    assert (
        "'embed-model' answers embedding requests and 'chat-model' chat requests"
    ) in problems_of(config, tmp_path)


def _wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_check_config_shows_each_models_mode(upstream: FakeUpstream, tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "litellm_config.yaml"
    path.write_text(yaml.safe_dump(embedding_config(upstream)))
    checked = subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "FAKE_UPSTREAM_KEY": UPSTREAM_KEY},
    )
    assert checked.returncode == 0, checked.stderr
    assert f"embed-model -> openai/{PROVIDER_MODEL}  [embedding]" in checked.stdout
    assert "chat-model -> openai/fake-model\n" in checked.stdout
    assert "embed-model#2 streams" not in checked.stdout  # nothing of it is streamed


# --- the stored format -------------------------------------------------------------------------


def test_a_stored_embedding_gives_back_the_very_numbers() -> None:
    vectors = [[0.1, -1e-30, 3.4e38, 0.0], [1 / 3, 2.0, -0.5, 7e-7]]
    answer = decode_embeddings(encode_embeddings(CachedEmbeddings(vectors, 12)))
    assert answer == CachedEmbeddings(vectors, 12)
    for damaged in [b"{}", b'{"v": 1, "e": ["AAA"], "u": 1}', b'{"v": 99, "e": [], "u": 1}']:
        with pytest.raises(CorruptAnswer):
            decode_embeddings(damaged)
