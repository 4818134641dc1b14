"""Fixtures only: the fake upstream(s), in-process gateways on real sockets, a private
redis-server. What they are built from lives in tests/support/, where test modules import it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import gateway  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm is imported)
from tests.support import configs
from tests.support.configs import UPSTREAM_KEY, config_for
from tests.support.fake_upstream import FakeUpstream
from tests.support.fake_weather import FakeWeather
from tests.support.gateways import Gateway
from tests.support.redis_server import RedisServer
from tests.support.serving import BackgroundLoop


@pytest.fixture(params=["lean", "litellm"])
def stream_reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test once per stream reader: modules opt in with
    `pytestmark = pytest.mark.usefixtures("stream_reader")`, so either path breaking fails CI."""
    monkeypatch.setattr(configs, "STREAM_READER", request.param)
    return str(request.param)


@pytest.fixture(scope="session")
def background_loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def _upstream_a(background_loop: BackgroundLoop) -> Iterator[FakeUpstream]:
    fake = FakeUpstream(background_loop, "upstream-a").start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def _upstream_b(background_loop: BackgroundLoop) -> Iterator[FakeUpstream]:
    fake = FakeUpstream(background_loop, "upstream-b").start()
    yield fake
    fake.stop()


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


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
