"""Gateway configs (the YAML's mapping) pointed at the fake upstreams and the fake weather API."""

from __future__ import annotations

from typing import Any

from tests.support.fake_upstream import FakeUpstream
from tests.support.fake_weather import FakeWeather

UPSTREAM_KEY = "sk-fake-upstream-key-0123456789"
# The reader model_entry() asks for (None: the YAML's default). Set per test by the
# `stream_reader` fixture (tests/conftest.py), which patches this module's global.
STREAM_READER: str | None = None


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


def tool_config(upstream: FakeUpstream, weather: FakeWeather, **options: Any) -> dict[str, Any]:
    """config_for() plus tools: built-ins against the fake weather API, and test-only tools."""
    config = config_for(upstream)
    config["model_list"][1]["tools"] = []  # title-model is offered no tools
    config["gateway"] = {
        "tools": ["get_weather", "current_time", "add", "explode", "slow"],
        "tool_modules": ["tests.support.tools_for_tests"],
        "tool_options": {
            "get_weather": {"geocoding_url": weather.url, "forecast_url": weather.url}
        },
        "tool_timeout": 0.5,
        **options,
    }
    return config


EMBEDDING_PROVIDER_MODEL = "text-embedding-3-small"


def embedding_config(upstream: FakeUpstream, **gateway: Any) -> dict[str, Any]:
    """config_for() (chat-model, title-model) plus embed-model, marked as LiteLLM Proxy does."""
    config = config_for(upstream)
    entry = model_entry("embed-model", upstream, model=f"openai/{EMBEDDING_PROVIDER_MODEL}")
    entry["model_info"] = {"mode": "embedding"}
    config["model_list"].append(entry)
    if gateway:
        config["gateway"] = gateway
    return config
