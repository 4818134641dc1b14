"""The YAML's `mcp_servers:` section: LiteLLM Proxy's shape, checked with file:line like the rest,
secrets resolved from the environment and kept out of sight; tool names and patterns that name
a configured server are accepted, others are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.catalog import GATEWAY_CATALOG
from gateway.config import ConfigError, GatewayConfig, parse_config
from gateway.config.tool_names import select
from gateway.mcp.naming import offered_names

MODELS = "model_list:\n  - model_name: chat-model\n    litellm_params: {model: demo/echo}\n"


def parsed(text: str) -> GatewayConfig:
    return parse_config(MODELS + text, Path("models.yaml"), GATEWAY_CATALOG)


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parsed(text)
    return [problem.render(Path("models.yaml")) for problem in caught.value.problems]


def test_litellm_proxys_shape_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCS_TOKEN", "tok-abcdefghijklmnop")
    config = parsed(
        "mcp_servers:\n"
        "  time:\n"
        "    command: mcp-server-time\n"
        "    args: [--local-timezone, UTC]\n"
        "    allowed_tools: [get_current_time]\n"
        "  docs:\n"
        "    url: https://docs.example.com/mcp\n"
        "    auth_type: bearer_token\n"
        "    auth_value: os.environ/DOCS_TOKEN\n"
        "    static_headers: {X-Team: search}\n"
        "    call_timeout: 20\n"
        "  old:\n"
        "    url: https://old.example.com/sse\n"
        "    transport: sse\n"
        "gateway:\n"
        "  tools: [mcp__time__get_current_time, 'mcp__docs__*']\n"
    )
    time, docs, old = config.mcp_servers
    assert (time.transport, time.command, time.args) == (
        "stdio",
        "mcp-server-time",
        ("--local-timezone", "UTC"),
    )
    assert time.offers("get_current_time") and not time.offers("convert_time")
    assert docs.transport == "http" and docs.call_timeout == 20
    assert docs.headers == {"X-Team": "search", "Authorization": "Bearer tok-abcdefghijklmnop"}
    assert old.transport == "sse"
    # The token is scrubbed like a model's key, and never in a repr.
    assert "tok-abcdefghijklmnop" in config.secrets()
    assert "tok-abcdefghijklmnop" not in repr(config)
    assert docs.describe() == "https://docs.example.com/mcp"


def test_an_unset_variable_keeps_the_server_but_does_not_start_it() -> None:
    config = parsed(
        "mcp_servers:\n  docs:\n    url: https://x.example/mcp\n"
        "    auth_type: api_key\n    auth_value: os.environ/NOT_SET_ANYWHERE\n"
    )
    (docs,) = config.mcp_servers
    assert docs.missing_env == ("NOT_SET_ANYWHERE",)
    assert [p.message for p in config.env_problems()] == [
        "environment variable NOT_SET_ANYWHERE is not set"
    ]


def test_mistakes_are_named_with_their_line() -> None:
    found = problems_of(
        "mcp_servers:\n"
        "  bad__name: {command: x}\n"
        "  nothing: {}\n"
        "  both: {command: x, url: 'https://x.example'}\n"
        "  typo: {command: x, alowed_tools: [a]}\n"
        "  web: {url: 'ftp://x.example'}\n"
        "  token: {url: 'https://x.example', auth_type: bearer_token}\n"
        "gateway:\n"
        "  tools: [mcp__nope__x]\n"
    )
    assert found == [
        "models.yaml:5: mcp_servers.bad__name: a server name is 1-32 letters, digits, '-' or "
        "single '_' (its tools are named mcp__<server>__<tool>)",
        "models.yaml:6: mcp_servers.nothing: set `command` (a stdio server) or `url` "
        "(a remote one)",
        "models.yaml:7: mcp_servers.both: a stdio server has a `command` (and no `url`)",
        "models.yaml:8: mcp_servers.typo.alowed_tools: unknown field",
        "models.yaml:9: mcp_servers.web.url: must be an http:// or https:// URL",
        "models.yaml:10: mcp_servers.token.auth_value: missing for bearer_token",
        "models.yaml:12: gateway.tools[0]: no MCP server 'nope' in mcp_servers",
    ]


def test_a_pattern_must_match_something() -> None:
    assert problems_of("gateway:\n  tools: ['nothing_like_*']\n") == [
        "models.yaml:5: gateway.tools[0]: the pattern 'nothing_like_*' matches no tool"
    ]
    assert parsed("gateway:\n  tools: ['get_*']\n").options.tools == ["get_*"]


def test_names_and_patterns_select_in_the_yamls_order() -> None:
    available = ["get_weather", "current_time", "mcp__a__x", "mcp__a__y", "mcp__b__x"]
    assert select(["mcp__a__*", "current_time", "mcp__a__x"], available) == [
        "mcp__a__x",
        "mcp__a__y",
        "current_time",
    ]
    assert select(["missing", "mcp__*__x"], available) == ["mcp__a__x", "mcp__b__x"]


def test_offered_names_fit_every_provider_and_never_collide() -> None:
    names = offered_names("srv", ["plain", "with.dot", "with_dot", "x" * 80])
    assert names["mcp__srv__plain"] == "plain"
    assert set(names.values()) == {"plain", "with.dot", "with_dot", "x" * 80}
    assert len(names) == 4
    for name in names:
        assert len(name) <= 64
        assert all(c.isalnum() or c in "_-" for c in name)
