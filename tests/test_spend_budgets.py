"""Spend budgets in money per API key (`max_budget` per `budget_duration` in the keys file).

Answers are priced per deployment: by the model_list entry's own `input_cost_per_token` /
`output_cost_per_token`, or by LiteLLM's local cost map for its provider model. The fake
upstream reports 11 prompt and 7 completion tokens per answer unless told otherwise.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.auth import KeyConfigError, KeyStore
from gateway.catalog import GATEWAY_CATALOG
from gateway.cli import main
from gateway.config import ConfigError, parse_config
from tests.support.configs import config_for, model_entry
from tests.support.crowd import post_at_once
from tests.support.fake_upstream import FakeUpstream, Fault, Reply
from tests.support.gateways import Gateway
from tests.support.redis_server import RedisServer
from tests.support.wire import parse_lines

KEY = "spender-0123456789abcdef"
HEADERS = {"authorization": f"Bearer {KEY}"}
# 11 prompt tokens at $0.001 and 7 completion tokens at $0.002: $0.025 an answer.
ENTRY_PRICE = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}
ANSWER_COST = 0.025


def keys_file(
    tmp_path: Path, max_budget: float, duration: str = "30d", name: str = "spender"
) -> str:
    path = tmp_path / "keys.yaml"
    path.write_text(
        f"- name: {name}\n  key: {KEY}\n  max_budget: {max_budget}\n"
        f"  budget_duration: {duration}\n"
        "- name: unlimited\n  key: unlimited-0123456789abcdef\n"
    )
    return str(path)


def priced_config(upstream: FakeUpstream, **extra: Any) -> dict[str, Any]:
    config = config_for(upstream, **extra)
    config["model_list"] = [
        model_entry("chat-model", upstream, **ENTRY_PRICE),
        # Priced by LiteLLM's cost map: gpt-4o-mini is $0.15 / $0.60 per million tokens.
        model_entry("title-model", upstream, model="openai/gpt-4o-mini"),
    ]
    return config


def ask(gateway: Gateway, text: str = "hi", **body: Any) -> httpx.Response:
    payload = {
        "model": "chat-model",
        "messages": [{"role": "user", "content": text}],
        "stream": False,
        **body,
    }
    return gateway.client.post("/api/chat", json=payload, headers=HEADERS)


def remaining(response: httpx.Response) -> float:
    return float(response.headers["x-budget-remaining"])


def test_a_key_over_its_money_budget_gets_429_on_every_door(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, tmp_path: Path
) -> None:
    # Room for two answers, not three.
    gateway = start_gateway(priced_config(upstream), api_keys_file=keys_file(tmp_path, 0.04))
    first, second = ask(gateway), ask(gateway, stream=True)
    assert (first.status_code, second.status_code) == (200, 200)
    # Each response says where the key stood when it was admitted.
    assert first.headers["x-budget-limit"] == "0.040000"
    assert remaining(first) == pytest.approx(0.04)
    assert remaining(second) == pytest.approx(0.04 - ANSWER_COST)
    assert "x-budget-reset" in second.headers

    calls = len(upstream.requests)
    refused = ask(gateway)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "budget_exceeded"
    assert "0.040000 USD per 30d" in refused.json()["error"]["message"]
    assert remaining(refused) == 0
    assert int(refused.headers["retry-after"]) > 29 * 86400  # the window is 30 days

    base_url = f"{gateway.url}/v1"
    with pytest.raises(openai.RateLimitError) as by_openai:
        openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0).chat.completions.create(
            model="chat-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert by_openai.value.code == "budget_exceeded"
    assert by_openai.value.response.headers["x-budget-remaining"] == "0.000000"
    with pytest.raises(anthropic.RateLimitError):
        anthropic.Anthropic(base_url=gateway.url, api_key=KEY, max_retries=0).messages.create(
            model="chat-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert len(upstream.requests) == calls, "a refused request reached the provider"

    # Another key is not affected.
    other = gateway.client.post(
        "/api/chat",
        json={"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": "Bearer unlimited-0123456789abcdef"},
    )
    assert other.status_code == 200 and "x-budget-remaining" not in other.headers


def spent_dollars(gateway: Gateway, model_id: str = "chat-model") -> float:
    """gateway_spend_dollars_total for `model_id`: what answers cost, as the gateway counted."""
    exposition = gateway.client.get("/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        if family.name == "gateway_spend_dollars"
        for sample in family.samples
        if sample.name == "gateway_spend_dollars_total" and sample.labels["model"] == model_id
    )


# With max_tokens 10, a call is reserved for its prompt ("hi": 8 tokens by LiteLLM's counter)
# at $0.001 and 10 answer tokens at $0.002: $0.028, a little more than it costs ($0.025).
RESERVATION = 8 * 0.001 + 10 * 0.002


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_a_crowd_spends_at_most_its_budget_and_one_reservation(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    tmp_path: Path,
    redis_server: RedisServer,
    store: str,
) -> None:
    budget = 0.05
    name = f"crowd-{uuid.uuid4().hex[:12]}"  # the session's redis-server keeps other counts
    gateway = start_gateway(
        priced_config(upstream),
        api_keys_file=keys_file(tmp_path, budget, name=name),
        redis_url=redis_server.url if store == "redis" else None,
    )
    before = spent_dollars(gateway)
    body = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}
    responses = post_at_once(gateway.url, "/api/chat", 50, {**body, "max_tokens": 10}, HEADERS)

    answered = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert answered and refused
    assert {r.status_code for r in refused} == {429}
    assert {r.json()["error"]["type"] for r in refused} == {"budget_exceeded"}
    assert len(upstream.requests) == len(answered), "a refused request reached the provider"
    # The README's bound: what is in flight past the budget is at most one reservation.
    spent = spent_dollars(gateway) - before
    assert spent == pytest.approx(len(answered) * ANSWER_COST)
    assert spent <= budget + RESERVATION
    if store == "redis":
        # What the store holds is what the answers cost: every reservation was settled.
        counted = redis.Redis.from_url(redis_server.url).get(f"LIMITS:gateway/spend/key:{name}/30d")
        assert counted is not None and int(counted) == round(spent * 1e9)


@pytest.mark.parametrize("door", ["chat", "chat-stream", "openai", "embeddings"])
def test_a_failed_call_refunds_its_reservation(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, tmp_path: Path, door: str
) -> None:
    # No max_tokens: the reservation is the answer ceiling, more than the whole budget.
    config = priced_config(upstream)
    config["model_list"].append(model_entry("embed-model", upstream, **ENTRY_PRICE))
    config["model_list"][-1]["model_info"] = {"mode": "embedding"}
    gateway = start_gateway(config, api_keys_file=keys_file(tmp_path, 0.04))
    upstream.script(Fault(500, "the provider fell over"))
    if door == "embeddings":
        failed = gateway.client.post(
            "/v1/embeddings", json={"model": "embed-model", "input": "hi"}, headers=HEADERS
        )
    elif door == "openai":
        body = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}
        failed = gateway.client.post("/v1/chat/completions", json=body, headers=HEADERS)
    else:
        failed = ask(gateway, stream=door == "chat-stream")
    assert failed.status_code == 502, failed.text
    after = ask(gateway)
    assert after.status_code == 200
    assert remaining(after) == pytest.approx(0.04)  # nothing of the failed call's reservation


def test_prices_come_from_litellms_cost_map_and_are_exported(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, tmp_path: Path
) -> None:
    gateway = start_gateway(priced_config(upstream), api_keys_file=keys_file(tmp_path, 1.0))
    cost = 11 * 0.15e-6 + 7 * 0.60e-6  # gpt-4o-mini in LiteLLM's local map
    first = ask(gateway, model="title-model")
    second = ask(gateway, model="title-model")
    assert first.status_code == second.status_code == 200
    assert remaining(first) - remaining(second) == pytest.approx(cost, abs=1e-6)

    exposition = gateway.client.get("/metrics").text
    spend = {
        sample.labels["model"]: sample.value
        for family in text_string_to_metric_families(exposition)
        if family.name == "gateway_spend_dollars"
        for sample in family.samples
        if sample.name == "gateway_spend_dollars_total"
    }
    assert spend["title-model"] == pytest.approx(2 * cost)


def test_a_tool_loop_pays_for_every_model_call(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, tmp_path: Path
) -> None:
    from tests.support.fake_upstream import FakeToolCall

    config = priced_config(upstream)
    config["gateway"] = {"tools": ["add"], "tool_modules": ["tests.support.tools_for_tests"]}
    gateway = start_gateway(config, api_keys_file=keys_file(tmp_path, 1.0))
    upstream.script(
        Reply(chunks=[], tool_calls=[FakeToolCall("add", '{"a": 1, "b": 2}')]),
        Reply(chunks=["3"]),
    )
    looped = ask(gateway, stream=True)
    assert looped.status_code == 200
    assert [code for code, _ in parse_lines(looped.text)].count("9") == 1
    after = ask(gateway)
    assert remaining(looped) - remaining(after) == pytest.approx(2 * ANSWER_COST)


def test_cached_answers_cost_nothing(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, tmp_path: Path
) -> None:
    config = priced_config(upstream, gateway={"cache": {"ttl": 60, "models": ["chat-model"]}})
    gateway = start_gateway(config, api_keys_file=keys_file(tmp_path, 1.0))
    miss, hit, after = ask(gateway, "same"), ask(gateway, "same"), ask(gateway, "other")
    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("miss", "hit")
    assert remaining(miss) - remaining(hit) == pytest.approx(ANSWER_COST)
    assert remaining(hit) == pytest.approx(remaining(after))


def test_an_unpriced_deployment_is_free_and_says_so(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.pricing")
    gateway = start_gateway(config_for(upstream), api_keys_file=keys_file(tmp_path, 0.01))
    answers = [ask(gateway) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert remaining(answers[-1]) == pytest.approx(0.01)
    warnings = [r.getMessage() for r in caplog.records if r.name == "gateway.pricing"]
    assert len(warnings) == 1 and "chat-model#0 has no price" in warnings[0]


def test_the_budget_starts_again_after_its_window(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, tmp_path: Path
) -> None:
    gateway = start_gateway(
        priced_config(upstream), api_keys_file=keys_file(tmp_path, 0.01, duration="2s")
    )
    assert ask(gateway).status_code == 200
    refused = ask(gateway)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) <= 2
    deadline = time.monotonic() + 10
    while (again := ask(gateway)).status_code == 429:
        assert time.monotonic() < deadline, "the budget window never ended"
        time.sleep(0.2)
    assert again.status_code == 200


def test_two_gateways_sharing_redis_share_one_budget(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    tmp_path: Path,
    redis_server: RedisServer,
) -> None:
    keys = keys_file(tmp_path, 0.02)  # one answer uses it up
    first, second = (
        start_gateway(priced_config(upstream), api_keys_file=keys, redis_url=redis_server.url)
        for _ in range(2)
    )
    assert ask(first).status_code == 200
    refused = ask(second)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["type"] == "budget_exceeded"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("  max_budget: 10\n", "max_budget and budget_duration go together"),
        ("  budget_duration: 30d\n", "max_budget and budget_duration go together"),
        ("  max_budget: -1\n  budget_duration: 1d\n", "max_budget: Input should be greater"),
        ("  max_budget: .inf\n  budget_duration: 1d\n", "max_budget: Input should be a finite"),
        ("  max_budget: 5\n  budget_duration: 1w\n", "'1w' is not a duration like '1d'"),
        ("  max_budget: 5\n  budget_duration: 0d\n", "'0d' is not a duration"),
    ],
)
def test_a_budget_that_cannot_work_stops_the_keys_file(
    tmp_path: Path, entry: str, problem: str
) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f"- name: spender\n  key: {KEY}\n{entry}")
    with pytest.raises(KeyConfigError, match=problem) as refused:
        KeyStore.load(None, path)
    assert KEY not in str(refused.value)


@pytest.mark.parametrize(
    ("where", "value"),
    [("litellm_params", "'cheap'"), ("model_info", "-0.1"), ("litellm_params", "true")],
)
def test_a_price_that_is_not_a_price_is_refused_with_its_line(where: str, value: str) -> None:
    info = "    model_info:\n      mode: chat\n"
    text = (
        "model_list:\n"
        "  - model_name: chat-model\n"
        f"{info if where == 'model_info' else ''}"
        "    litellm_params:\n"
        "      model: openai/gpt-4o-mini\n"
        f"{info if where == 'litellm_params' else ''}"
    ).replace(f"    {where}:\n", f"    {where}:\n      input_cost_per_token: {value}\n")
    line = text.splitlines().index(f"      input_cost_per_token: {value}") + 1
    with pytest.raises(ConfigError) as refused:
        parse_config(text, Path("models.yaml"), GATEWAY_CATALOG)
    problem = str(refused.value)
    assert f"models.yaml:{line}:" in problem
    assert f"{where}.input_cost_per_token" in problem and "is not a price" in problem


def test_check_config_shows_each_deployments_price(
    upstream: FakeUpstream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = priced_config(upstream)
    config["model_list"].append(model_entry("free-model", upstream))
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "chat-model#0 price: $1000 / $2000 per million tokens in / out (model_list entry)" in (
        printed
    )
    assert "title-model#1 price: $0.15 / $0.6 per million tokens in / out (LiteLLM cost map)" in (
        printed
    )
    assert "free-model#2 price: none (spend budgets count it as free)" in printed
