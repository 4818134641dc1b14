"""Fixtures: the fake upstream(s), in-process gateways on real sockets, a private redis-server."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import gateway  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm is imported)
from gateway.app import create_app
from gateway.settings import Settings
from tests.fake_upstream import FakeUpstream
from tests.fake_weather import FakeWeather
from tests.redis_server import RedisServer
from tests.serving import BackgroundLoop, ServedApp

UPSTREAM_KEY = "sk-fake-upstream-key-0123456789"
# The reader model_entry() asks for (None: the YAML's default). Set per test by `stream_reader`.
STREAM_READER: str | None = None


@pytest.fixture(params=["lean", "litellm"])
def stream_reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test once per stream reader: modules opt in with
    `pytestmark = pytest.mark.usefixtures("stream_reader")`, so either path breaking fails CI."""
    monkeypatch.setattr(sys.modules[__name__], "STREAM_READER", request.param)
    return str(request.param)


@pytest.fixture(scope="session")
def background_loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


def _fake(loop: BackgroundLoop, name: str) -> Iterator[FakeUpstream]:
    fake = FakeUpstream(loop, name).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def _upstream_a(background_loop: BackgroundLoop) -> Iterator[FakeUpstream]:
    yield from _fake(background_loop, "upstream-a")


@pytest.fixture(scope="session")
def _upstream_b(background_loop: BackgroundLoop) -> Iterator[FakeUpstream]:
    yield from _fake(background_loop, "upstream-b")


@pytest.fixture
def upstream(_upstream_a: FakeUpstream) -> FakeUpstream:
    _upstream_a.reset()
    return _upstream_a


@pytest.fixture
def upstream_b(_upstream_b: FakeUpstream) -> FakeUpstream:
    _upstream_b.reset()
    return _upstream_b


@pytest.fixture(autouse=True)
def _upstream_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", UPSTREAM_KEY)


def model_entry(model_id: str, upstream: FakeUpstream, **params: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "model_name": model_id,
        "litellm_params": {
            "model": "openai/fake-model",
            "api_base": upstream.base_url,
            "api_key": "os.environ/FAKE_UPSTREAM_KEY",
            **params,
        },
    }
    if STREAM_READER is not None:
        entry["stream_reader"] = STREAM_READER
    return entry


def config_for(upstream: FakeUpstream, **extra: Any) -> dict[str, Any]:
    """A config mapping chat-model and title-model to `upstream`, no retries."""
    return {
        "model_list": [model_entry("chat-model", upstream), model_entry("title-model", upstream)],
        "router_settings": {"num_retries": 0, "timeout": 10},
        **extra,
    }


class Gateway:
    """A gateway app served on a real loopback port, with an httpx client pointed at it."""

    def __init__(self, loop: BackgroundLoop, config_path: Path, **settings: Any) -> None:
        self.config_path = config_path
        self.settings = Settings(config=config_path, _env_file=None, **settings)
        self._loop = loop
        self._served: ServedApp | None = None
        self.client: httpx.Client | None = None

    def start(self) -> Gateway:
        self.app = create_app(self.settings)
        self._served = ServedApp(self._loop, self.app)
        self._served.start()
        self.client = httpx.Client(base_url=self._served.url, timeout=15)
        return self

    @property
    def url(self) -> str:
        assert self._served is not None
        return self._served.url

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        if self._served is not None:
            self._served.stop()

    def chat(self, **body: Any) -> httpx.Response:
        assert self.client is not None
        payload = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}], **body}
        return self.client.post("/api/chat", json=payload)


@pytest.fixture
def start_gateway(
    background_loop: BackgroundLoop, tmp_path: Path
) -> Iterator[Callable[..., Gateway]]:
    started: list[Gateway] = []

    def start(config: dict[str, Any], **settings: Any) -> Gateway:
        path = tmp_path / "litellm_config.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        gw = Gateway(background_loop, path, **settings).start()
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


@pytest.fixture
def gateway_for(start_gateway: Callable[..., Gateway], upstream: FakeUpstream) -> Gateway:
    return start_gateway(config_for(upstream))


@pytest.fixture(scope="session")
def weather(background_loop: BackgroundLoop) -> Iterator[FakeWeather]:
    fake = FakeWeather(background_loop).start()
    yield fake
    fake.stop()


def tool_config(upstream: FakeUpstream, weather: FakeWeather, **options: Any) -> dict[str, Any]:
    """config_for() plus tools: built-ins against the fake weather API, and test-only tools."""
    config = config_for(upstream)
    config["model_list"][1]["tools"] = []  # title-model is offered no tools
    config["gateway"] = {
        "tools": ["get_weather", "current_time", "add", "explode", "slow"],
        "tool_modules": ["tests.tools_for_tests"],
        "tool_options": {
            "get_weather": {"geocoding_url": weather.url, "forecast_url": weather.url}
        },
        "tool_timeout": 0.5,
        **options,
    }
    return config


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def parse_lines(body: str) -> list[tuple[str, Any]]:
    """The frontend line format, `CODE:JSON` per line, parsed strictly."""
    import json

    parts = []
    for line in body.split("\n"):
        if not line:
            continue
        code, _, payload = line.partition(":")
        parts.append((code, json.loads(payload)))
    return parts


os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
