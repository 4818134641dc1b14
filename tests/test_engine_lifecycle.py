"""The engine's life across reloads, and one request's single pass through prepare → run."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import litellm
import pytest
import yaml

import gateway.doors.common.answering as answering
import gateway.doors.common.dependencies as dependencies
from gateway.app import create_app
from gateway.catalog import GATEWAY_CATALOG
from gateway.config import GatewayConfig, load_config
from gateway.doors.frontend.frontend_schemas import ChatRequest
from gateway.live_config import LiveConfig
from gateway.settings import Settings
from tests.support.configs import config_for, tool_config
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Reply
from tests.support.fake_weather import FakeWeather
from tests.support.gateways import Gateway
from tests.support.serving import BackgroundLoop, ServedApp
from tests.support.wire import parse_lines


def tool_results(response_text: str) -> list[dict[str, Any]]:
    return [part for code, part in parse_lines(response_text) if code == "a"]


def test_a_reload_never_closes_the_engine_under_a_request_that_holds_it(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    weather: FakeWeather,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tool_config(upstream, weather)
    gateway = start_gateway(config)
    weather_call = FakeToolCall("get_weather", '{"location": "Beijing"}')
    upstream.script(Reply(chunks=[], tool_calls=[weather_call]), Reply(chunks=["25 degrees"]))
    first = gateway.chat(messages=[{"role": "user", "content": "weather in Beijing?"}])
    assert tool_results(first.text)[0].get("isError") is not True  # the tool client now exists

    # The file changes, and its reload lands while the next request is being admitted: after
    # it read the live engine, before its answer starts.
    config["gateway"]["max_tool_steps"] = 4
    gateway.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    real_admit = answering.admit

    async def admit_during_a_reload(*args: Any, **kwargs: Any) -> Any:
        live = gateway.app.runtime.live
        assert (await live.reload("test")).status == "applied"
        retiring = list(live._retiring)
        if retiring:  # give the old engine every chance to be closed now, if it would be
            await asyncio.wait(retiring, timeout=0.5)
        return await real_admit(*args, **kwargs)

    monkeypatch.setattr(answering, "admit", admit_during_a_reload)
    upstream.script(Reply(chunks=[], tool_calls=[weather_call]), Reply(chunks=["25 degrees"]))
    second = gateway.chat(messages=[{"role": "user", "content": "weather in Beijing?"}])
    (result,) = tool_results(second.text)
    assert result.get("isError") is not True, result
    assert "25" in str(result["result"])


def test_a_closed_engine_lets_go_of_its_tool_client(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    weather: FakeWeather,
    background_loop: BackgroundLoop,
) -> None:
    from gateway.tools import REGISTRY

    gateway = start_gateway(tool_config(upstream, weather))
    engine = gateway.app.runtime.engine
    tool = REGISTRY.get("get_weather")
    assert tool is not None
    assert not engine.tool_context(tool).http.is_closed
    background_loop.run(engine.aclose())
    # A late user gets a fresh client, never the closed one.
    assert not engine.tool_context(tool).http.is_closed


def test_removing_drop_params_from_the_file_really_removes_it(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, background_loop: BackgroundLoop
) -> None:
    config = config_for(upstream, litellm_settings={"drop_params": True})
    gateway = start_gateway(config)
    old_engine = gateway.app.runtime.engine
    del config["litellm_settings"]
    gateway.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = background_loop.run(gateway.app.runtime.live.reload("test"))
    assert result.status == "applied"
    new_engine = gateway.app.runtime.engine
    assert litellm.drop_params is False
    assert all("drop_params" not in d["litellm_params"] for d in new_engine.router.model_list)
    # The old engine's calls (streams still running on it) keep the setting they started with.
    assert all(d["litellm_params"]["drop_params"] for d in old_engine.router.model_list)
    assert gateway.chat().status_code == 200
    assert "drop_params" not in upstream.requests[-1]


def test_an_edit_made_during_start_up_is_applied_by_the_next_reload(
    background_loop: BackgroundLoop, upstream: FakeUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "litellm_config.yaml"
    path.write_text(yaml.safe_dump(config_for(upstream)), encoding="utf-8")
    parsed: GatewayConfig = load_config(path, GATEWAY_CATALOG)  # start-up has read the file...
    edited = config_for(upstream)
    edited["model_list"][0]["model_name"] = "renamed-model"
    path.write_text(yaml.safe_dump(edited), encoding="utf-8")  # ...and now it changes
    app = create_app(Settings(config=path, _env_file=None, config_poll_seconds=0), parsed)
    served = ServedApp(background_loop, app)
    served.start()
    try:
        result = background_loop.run(app.runtime.live.reload("test"))
        assert result.status == "applied"
        assert "renamed-model" in app.runtime.engine.config.model_ids
    finally:
        served.stop()


def test_a_request_is_prepared_once(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    weather: FakeWeather,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On every chat door (a plain chat, a stored chat, a Responses request), the live engine
    is leased once, the client identified once, the tools chosen once, the UI messages read
    once. Each counter is patched where it is looked up: a name that moved fails here."""
    config = tool_config(upstream, weather)
    config["gateway"]["chats"] = {"enabled": True}
    gateway = start_gateway(config)
    assert gateway.client is not None
    counts: Counter[str] = Counter()

    def counted(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def count(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return real(*args, **kwargs)

        return count

    monkeypatch.setattr(GatewayConfig, "tools_for", counted("tools", GatewayConfig.tools_for))
    monkeypatch.setattr(LiveConfig, "lease", counted("lease", LiveConfig.lease))
    identity = counted("identity", dependencies.client_identity)
    monkeypatch.setattr(dependencies, "client_identity", identity)
    monkeypatch.setattr(ChatRequest, "ui_messages", counted("ui", ChatRequest.ui_messages))

    assert gateway.chat().status_code == 200
    assert counts == Counter(tools=1, lease=1, identity=1)  # no UI messages, none read

    counts.clear()
    message = {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}
    stored = gateway.chat(id="chat-prepared-once", message=message, messages=None)
    assert stored.status_code == 200, stored.text
    assert counts == Counter(tools=1, lease=1, identity=1, ui=1)

    counts.clear()
    responses = gateway.client.post(
        "/v1/responses", json={"model": "chat-model", "input": "hi", "store": True}
    )
    assert responses.status_code == 200, responses.text
    # The Responses door runs only the client's tools: the YAML's are not even looked up.
    assert counts == Counter(lease=1, identity=1)


def test_retired_engines_leave_no_litellm_callbacks_behind(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, background_loop: BackgroundLoop
) -> None:
    config = config_for(upstream)
    gateway = start_gateway(config)
    live = gateway.app.runtime.live

    def hooked() -> int:
        return sum(
            len(callbacks)
            for callbacks in (
                litellm._async_success_callback,
                litellm.success_callback,
                litellm._async_failure_callback,
                litellm.failure_callback,
            )
        )

    before = hooked()
    for steps in range(2, 7):
        config["gateway"] = {"max_tool_steps": steps}
        gateway.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        assert background_loop.run(live.reload("test")).status == "applied"

    async def retired() -> None:
        await asyncio.gather(*live._retiring)

    background_loop.run(retired())
    assert hooked() == before
    assert gateway.chat().status_code == 200


def test_a_started_gateway_has_frozen_its_start_up_objects(gateway_for: Gateway) -> None:
    import gc

    assert gateway_for.chat().status_code == 200
    assert gc.get_freeze_count() > 10_000  # LiteLLM alone is hundreds of thousands of objects
