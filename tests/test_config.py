"""The YAML model map: what loads, and how every broken edit is reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.catalog import GATEWAY_CATALOG
from gateway.config import ConfigError, load_config, parse_config
from gateway.settings import Settings

REPO = Path(__file__).resolve().parent.parent
GOOD = """\
model_list:
  - model_name: chat-model
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: os.environ/TEST_OPENAI_KEY
  - model_name: chat-model
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: os.environ/TEST_ANTHROPIC_KEY
  - model_name: title-model
    litellm_params:
      model: ollama_chat/llama3.2
      api_base: http://localhost:11434
router_settings:
  num_retries: 2
  timeout: 30
  fallbacks: [{chat-model: [title-model]}]
gateway: {}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("models.yaml"), GATEWAY_CATALOG)
    return [p.render(Path("models.yaml")) for p in caught.value.problems]


def test_shipped_config_maps_the_four_frontend_ids_and_an_embedding_model() -> None:
    config = load_config(REPO / "litellm_config.yaml", GATEWAY_CATALOG)
    assert config.model_ids == [
        "chat-model",
        "chat-model-reasoning",
        "title-model",
        "artifact-model",
        "embedding-model",
    ]
    assert [config.mode_of(model_id) for model_id in config.model_ids] == [
        *["chat"] * 4,
        "embedding",
    ]
    assert not config.env_problems()


def test_good_config_keeps_deployments_router_settings_and_resolves_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-openai-value-123456")
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-value-123456")
    config = parse_config(GOOD, Path("models.yaml"), GATEWAY_CATALOG)
    assert config.model_ids == ["chat-model", "title-model"]
    assert [d.provider_model for d in config.deployments] == [
        "openai/gpt-4o-mini",
        "anthropic/claude-sonnet-4-5",
        "ollama_chat/llama3.2",
    ]
    assert config.deployments[0].params["api_key"] == "sk-openai-value-123456"
    assert config.router_settings["fallbacks"] == [{"chat-model": ["title-model"]}]
    assert set(config.secrets()) == {"sk-openai-value-123456", "sk-ant-value-123456"}
    assert "sk-openai-value" not in repr(config)


def test_unset_env_variable_makes_only_that_model_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TEST_OPENAI_KEY", raising=False)
    monkeypatch.delenv("TEST_ANTHROPIC_KEY", raising=False)
    config = parse_config(GOOD, Path("models.yaml"), GATEWAY_CATALOG)
    assert config.missing_env_for("chat-model") == ["TEST_ANTHROPIC_KEY", "TEST_OPENAI_KEY"]
    assert config.missing_env_for("title-model") is None
    rendered = [p.render(config.path) for p in config.env_problems()]
    assert any("model_list[0] (chat-model)" in r and "TEST_OPENAI_KEY" in r for r in rendered)


def test_one_deployment_with_its_key_keeps_the_model_callable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-openai-value-123456")
    monkeypatch.delenv("TEST_ANTHROPIC_KEY", raising=False)
    config = parse_config(GOOD, Path("models.yaml"), GATEWAY_CATALOG)
    assert config.missing_env_for("chat-model") is None
    assert [d.index for d in config.callable_deployments] == [0, 2]


def test_invalid_yaml_names_the_line() -> None:
    assert problems_of("model_list:\n  - model_name: [oops\n") == [
        "models.yaml:3: invalid YAML: expected ',' or ']', but got '<stream end>'"
    ]


def test_missing_model_name_names_entry_and_field() -> None:
    text = (
        "model_list:\n  - model_name: a\n    litellm_params: {model: openai/x}\n"
        "  - litellm_params:\n      model: openai/y\n"
    )
    assert problems_of(text) == ["models.yaml:4: model_list[1]: model_name: missing"]


def test_unknown_provider_is_named_with_a_suggestion() -> None:
    text = (
        "model_list:\n  - model_name: chat-model\n    litellm_params:\n      model: opnai/gpt-4o\n"
    )
    [problem] = problems_of(text)
    assert problem.startswith("models.yaml:4: model_list[0] (chat-model): litellm_params.model:")
    assert "unknown provider 'opnai'" in problem
    assert "did you mean 'openai'" in problem


def test_model_without_provider_prefix_is_refused() -> None:
    [problem] = problems_of("model_list:\n  - model_name: m\n    litellm_params: {model: gpt-4o}\n")
    assert "names no provider" in problem and "openai/gpt-4o" in problem


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    text = (
        "model_list:\n  - model_name: m\n    litellm_params:\n"
        "      model: openai/a\n      model: openai/b\n"
    )
    assert problems_of(text) == ["models.yaml:5: duplicate key 'model' (first set on line 4)"]


def test_missing_litellm_params_model_and_unknown_fields() -> None:
    text = (
        "model_list:\n  - model_name: m\n    litellm_params: {api_base: http://x}\n"
        "  - model_name: n\n    litellm_params: {model: openai/x}\n    modle_info: {}\n"
        "colour: blue\n"
    )
    problems = problems_of(text)
    assert any("model_list[0] (m): litellm_params.model: missing" in p for p in problems)
    assert any("model_list[1] (n): modle_info: unknown field" in p for p in problems)
    assert any("colour: unknown top-level key" in p for p in problems)


def test_router_settings_are_checked_against_the_router() -> None:
    text = (
        "model_list:\n  - model_name: m\n    litellm_params: {model: openai/x}\n"
        "router_settings:\n  num_retrys: 3\n  fallbacks: [{m: [ghost]}]\n"
    )
    problems = problems_of(text)
    assert any(
        "router_settings.num_retrys: unknown Router setting; did you mean 'num_retries'" in p
        for p in problems
    )
    assert any("router_settings.fallbacks[0]: unknown model ID 'ghost'" in p for p in problems)


def test_empty_or_non_mapping_file() -> None:
    assert problems_of("") == ["models.yaml: the file must be a mapping with a `model_list` key"]
    assert "must be a non-empty list" in problems_of("model_list: []\n")[0]


def test_unknown_gateway_option_is_refused() -> None:
    text = (
        "model_list:\n  - model_name: m\n    litellm_params: {model: openai/x}\n"
        "gateway:\n  cahce: {}\n"
    )
    assert problems_of(text) == ["models.yaml:5: gateway.cahce: unknown field"]


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(Path("/nonexistent/models.yaml"), GATEWAY_CATALOG)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def test_check_config_cli_exit_codes(tmp_path: Path) -> None:
    good = run_cli("check-config", str(REPO / "litellm_config.yaml"))
    assert good.returncode == 0, good.stderr
    assert "chat-model -> demo/chat" in good.stdout

    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "model_list:\n  - model_name: chat-model\n    litellm_params: {model: nope/x}\n"
    )
    bad = run_cli("check-config", str(broken))
    assert bad.returncode == 1
    assert (
        f"{broken}:3: model_list[0] (chat-model): litellm_params.model: unknown provider 'nope'"
        in bad.stderr
    )

    unset = tmp_path / "unset.yaml"
    unset.write_text(
        "model_list:\n  - model_name: chat-model\n    litellm_params:\n"
        "      model: openai/x\n      api_key: os.environ/SURELY_UNSET_KEY_VAR\n"
    )
    missing = run_cli("check-config", str(unset))
    assert missing.returncode == 1
    assert "SURELY_UNSET_KEY_VAR is not set" in missing.stderr


def test_config_path_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    assert Settings(_env_file=None).config == Path("litellm_config.yaml")
    monkeypatch.setenv("GATEWAY_CONFIG", "/etc/gw.yaml")
    assert Settings(_env_file=None).config == Path("/etc/gw.yaml")
    # --config wins: the CLI turns it into GATEWAY_CONFIG before settings are read.
    assert (
        run_cli(
            "models",
            "--config",
            str(REPO / "litellm_config.yaml"),
            env={"GATEWAY_CONFIG": "/nonexistent.yaml"},
        ).returncode
        == 0
    )


def test_settings_from_environment_and_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("GATEWAY_PORT=9123\nREDIS_URL=redis://127.0.0.1:6390/0\n")
    monkeypatch.setenv("GATEWAY_CORS_ORIGINS", "http://localhost:3000, https://chat.example.com")
    settings = Settings()
    assert settings.port == 9123
    assert settings.redis_url == "redis://127.0.0.1:6390/0"
    assert settings.cors_origins == ["http://localhost:3000", "https://chat.example.com"]


def test_the_config_package_imports_none_of_the_runtime() -> None:
    """Config is data: what it cannot know by itself comes through a Catalog."""
    import ast

    # validation_problems is a leaf of plain data (tests/test_validation_problems.py checks it).
    allowed = ("gateway.config", "gateway.config.yaml_source", "gateway.validation_problems")
    reached = []
    for module in sorted((REPO / "gateway" / "config").glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            reached += [
                f"{module.name}: {name}"
                for name in names
                if name.startswith("gateway") and not name.startswith(allowed)
            ]
    assert reached == []


class _AcmeCatalog:
    """A runtime that knows one provider, one tool and no callback objects."""

    def __init__(self) -> None:
        self.imported: list[str] = []

    def provider_names(self) -> frozenset[str]:
        return frozenset({"acme"})

    def import_tool_module(self, module: str) -> None:
        self.imported.append(module)
        if module == "broken_tools":
            raise ImportError("No module named 'broken_tools'")

    def tool_names(self) -> frozenset[str]:
        return frozenset({"lookup"})

    def callback_problem(self, reference: str) -> str | None:
        return f"{reference!r} is not known here"


def test_names_only_the_runtime_knows_are_checked_against_the_catalog_handed_in() -> None:
    catalog = _AcmeCatalog()
    good = (
        "model_list:\n  - model_name: chat-model\n    litellm_params: {model: acme/one}\n"
        "gateway: {tools: [lookup], tool_modules: [acme_tools]}\n"
    )
    assert parse_config(good, Path("models.yaml"), catalog).tools_for("chat-model") == ["lookup"]
    assert catalog.imported == ["acme_tools"]

    bad = (
        "model_list:\n  - model_name: chat-model\n    litellm_params: {model: openai/x}\n"
        "litellm_settings: {callbacks: [my.handler]}\n"
        "gateway: {tools: [get_weather], tool_modules: [broken_tools]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(bad, Path("models.yaml"), catalog)
    assert [p.render(Path("models.yaml")) for p in caught.value.problems] == [
        "models.yaml:3: model_list[0] (chat-model): litellm_params.model: "
        "unknown provider 'openai' in 'openai/x'",
        "models.yaml:4: litellm_settings.callbacks[0]: 'my.handler' is not known here",
        "models.yaml:5: gateway.tool_modules[0]: cannot import 'broken_tools': "
        "No module named 'broken_tools'",
        "models.yaml:5: gateway.tools[0]: unknown tool 'get_weather'",
    ]
