"""Every problem of a parsed YAML file, with its line, the entry and the field.

The validator reads the whole file before it refuses it, so one run of `gateway check-config`
lists every problem. Names only the running gateway knows (providers, tools, callback objects)
are checked against the Catalog it is handed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.config.callbacks import is_object_reference
from gateway.config.catalog import Catalog
from gateway.config.environment import resolve_env
from gateway.config.litellm_facts import known_callback_names, placeholder_names, router_parameters
from gateway.config.mcp_servers import parse_mcp_servers
from gateway.config.model import (
    FALLBACK_KINDS,
    MODEL_MODES,
    PRICE_FIELDS,
    Deployment,
    GatewayConfig,
    ModelMode,
    entry_label,
)
from gateway.config.options import GatewayOptions, StreamReader
from gateway.config.problems import ConfigError, ConfigProblem, did_you_mean
from gateway.config.tool_checks import check_tool_names
from gateway.config.yaml_source import YamlDocument
from gateway.validation_problems import Wording, field_problems

# An operator reads the YAML's words: a field is missing or unknown, a validator says why.
_OPERATOR_WORDS = Wording(
    by_type={"missing": "missing", "extra_forbidden": "unknown field"}, validator_reason=True
)

TOP_LEVEL_KEYS = ("model_list", "router_settings", "litellm_settings", "gateway", "mcp_servers")
# LiteLLM module settings the YAML may set (the rest of LiteLLM Proxy's litellm_settings concern
# its own proxy features, not this gateway).
LITELLM_SETTINGS: dict[str, type] = {
    "drop_params": bool,
    "modify_params": bool,
    # Logging callbacks: lists of LiteLLM integration names or module.attribute CustomLogger
    # instances (gateway/upstream/litellm_callbacks.py says how each reaches LiteLLM).
    "success_callback": list,
    "failure_callback": list,
    "callbacks": list,
}
# Router arguments that the YAML must not set: the gateway owns them.
ROUTER_OWNED_KEYS = {"model_list", "redis_url", "redis_host", "redis_port", "redis_password"}


class _EntrySchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_name: str = Field(min_length=1)
    litellm_params: dict[str, Any]
    model_info: dict[str, Any] = Field(default_factory=dict)
    # The gateway's own extensions: which tools this model is offered (overrides gateway.tools),
    # and how its streams are read (overrides gateway.stream_reader).
    tools: list[str] | None = None
    stream_reader: StreamReader | None = None


class Validator:
    """Turns a parsed document into a GatewayConfig, or a ConfigError listing every problem."""

    def __init__(self, document: YamlDocument, path: Path, catalog: Catalog) -> None:
        self.doc = document
        self.path = path
        self.catalog = catalog
        self.problems: list[ConfigProblem] = []

    def problem(self, at: tuple[str | int, ...], where: str, message: str) -> None:
        self.problems.append(ConfigProblem(line=self.doc.line_of(at), where=where, message=message))

    def validate(self) -> GatewayConfig:
        data = self.doc.data
        if not isinstance(data, dict):
            self.problem((), "", "the file must be a mapping with a `model_list` key")
            raise ConfigError(self.path, self.problems)
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                self.problem(
                    (str(key),),
                    str(key),
                    f"unknown top-level key; expected one of {', '.join(TOP_LEVEL_KEYS)}",
                )
        deployments = self._deployments(data.get("model_list"))
        modes = self._modes(deployments)
        model_ids = set(modes)
        router_settings = self._router_settings(data.get("router_settings") or {}, modes)
        litellm_settings = self._litellm_settings(data.get("litellm_settings") or {})
        options = self._options(data.get("gateway") or {})
        mcp_servers = parse_mcp_servers(data.get("mcp_servers"), self.problem)
        check_tool_names(options, deployments, mcp_servers, self.catalog, self.problem)
        for model_id in [*options.rate_limit.models, *options.rate_limit.model_tokens_per_minute]:
            if model_id not in model_ids:
                where = f"gateway.rate_limit.models.{model_id}"
                self.problem(
                    ("gateway", "rate_limit", "models", model_id), where, "unknown model ID"
                )
        for position, model_id in enumerate(options.cache.models):
            if model_id not in model_ids:
                where = f"gateway.cache.models[{position}]"
                self.problem(("gateway", "cache", "models", position), where, "unknown model ID")
        if self.problems:
            raise ConfigError(self.path, self.problems)
        return GatewayConfig(
            path=self.path,
            deployments=tuple(deployments),
            router_settings=router_settings,
            litellm_settings=litellm_settings,
            options=options,
            mcp_servers=tuple(mcp_servers),
        )

    def _deployments(self, raw: object) -> list[Deployment]:
        if raw is None:
            self.problem((), "model_list", "missing: list at least one model")
            return []
        if not isinstance(raw, list) or not raw:
            self.problem(("model_list",), "model_list", "must be a non-empty list of entries")
            return []
        deployments = []
        for index, entry in enumerate(raw):
            deployment = self._deployment(index, entry)
            if deployment is not None:
                deployments.append(deployment)
        return deployments

    def _deployment(self, index: int, entry: object) -> Deployment | None:
        at: tuple[str | int, ...] = ("model_list", index)
        name = entry.get("model_name") if isinstance(entry, dict) else None
        label = entry_label(index, name if isinstance(name, str) else None)
        try:
            schema = _EntrySchema.model_validate(entry)
        except ValidationError as exc:
            for problem in field_problems(exc, _OPERATOR_WORDS):
                self.problem(
                    (*at, *problem.loc), f"{label}: {problem.dotted('entry')}", problem.message
                )
            return None
        params = schema.litellm_params
        model = params.get("model")
        if not isinstance(model, str) or not model.strip():
            self.problem(
                (*at, "litellm_params"),
                f"{label}: litellm_params.model",
                "missing: set it to provider/model, e.g. openai/gpt-4o-mini",
            )
            return None
        provider_problem = _provider_problem(
            model, params.get("custom_llm_provider"), self.catalog.provider_names()
        )
        if provider_problem:
            self.problem(
                (*at, "litellm_params", "model"), f"{label}: litellm_params.model", provider_problem
            )
            return None
        mode = schema.model_info.get("mode", "chat")
        if mode not in MODEL_MODES:
            self.problem(
                (*at, "model_info", "mode"),
                f"{label}: model_info.mode",
                f"{mode!r} is not served by this gateway; use one of {', '.join(MODEL_MODES)}",
            )
            return None
        for section, values in (("litellm_params", params), ("model_info", schema.model_info)):
            for price_field in PRICE_FIELDS:
                price = values.get(price_field)
                if price_field in values and not _is_price(price):
                    self.problem(
                        (*at, section, price_field),
                        f"{label}: {section}.{price_field}",
                        f"{price!r} is not a price: US dollars per token, a number >= 0",
                    )
                    return None
        resolved, missing, secrets = resolve_env(params)
        return Deployment(
            model_id=schema.model_name,
            index=index,
            params=resolved,
            model_info=schema.model_info,
            missing_env=tuple(missing),
            tools=tuple(schema.tools) if schema.tools is not None else None,
            secret_values=tuple(secrets),
            stream_reader=schema.stream_reader,
        )

    def _modes(self, deployments: list[Deployment]) -> dict[str, ModelMode]:
        """Each model ID's mode; entries of one ID that disagree are a problem (a request for
        the ID could land on either)."""
        modes: dict[str, ModelMode] = {}
        first: dict[str, int] = {}
        for d in deployments:
            if d.model_id not in modes:
                modes[d.model_id], first[d.model_id] = d.mode, d.index
            elif d.mode != modes[d.model_id]:
                self.problem(
                    ("model_list", d.index, "model_info"),
                    f"{entry_label(d.index, d.model_id)}: model_info.mode",
                    f"{d.mode!r} differs from {modes[d.model_id]!r} in "
                    f"model_list[{first[d.model_id]}]: every entry of one model ID has one mode",
                )
        return modes

    def _router_settings(self, raw: object, modes: dict[str, ModelMode]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.problem(("router_settings",), "router_settings", "must be a mapping")
            return {}
        accepted = router_parameters()
        for key, value in raw.items():
            where = f"router_settings.{key}"
            if key in ROUTER_OWNED_KEYS:
                self.problem(("router_settings", key), where, "is set by the gateway, not the YAML")
            elif key not in accepted:
                hint = did_you_mean(str(key), accepted)
                self.problem(("router_settings", key), where, f"unknown Router setting{hint}")
            elif key in FALLBACK_KINDS:
                self._check_fallbacks(key, value, modes)
        return dict(raw)

    def _check_fallbacks(self, key: str, value: object, modes: dict[str, ModelMode]) -> None:
        where = f"router_settings.{key}"
        if not isinstance(value, list):
            self.problem(
                ("router_settings", key),
                where,
                "must be a list like [{chat-model: [backup-model]}]",
            )
            return
        for position, rule in enumerate(value):
            at = ("router_settings", key, position)
            if not isinstance(rule, dict) or len(rule) != 1:
                self.problem(
                    at, f"{where}[{position}]", "each rule maps one model ID to a list of model IDs"
                )
                continue
            ((source, targets),) = rule.items()
            targets = targets if isinstance(targets, list) else [targets]
            for name in [source, *targets]:
                if name not in modes:
                    self.problem(at, f"{where}[{position}]", f"unknown model ID {name!r}")
                elif source in modes and modes[name] != modes[source]:
                    # An embedding request answered by a chat model (or back) is no fallback.
                    self.problem(
                        at,
                        f"{where}[{position}]",
                        f"{name!r} answers {modes[name]} requests and {source!r} "
                        f"{modes[source]} requests: a fallback must answer the same kind",
                    )

    def _litellm_settings(self, raw: object) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.problem(("litellm_settings",), "litellm_settings", "must be a mapping")
            return {}
        for key, value in raw.items():
            expected = LITELLM_SETTINGS.get(key)
            if expected is None:
                self.problem(
                    ("litellm_settings", key),
                    f"litellm_settings.{key}",
                    f"not supported{did_you_mean(str(key), LITELLM_SETTINGS)}; "
                    f"supported: {', '.join(LITELLM_SETTINGS)}",
                )
            elif expected is list:
                self._check_callbacks(key, value)
            elif not isinstance(value, expected):
                self.problem(
                    ("litellm_settings", key),
                    f"litellm_settings.{key}",
                    f"must be {expected.__name__}",
                )
        return dict(raw)

    def _check_callbacks(self, key: str, value: object) -> None:
        """Each callback names one of LiteLLM's integrations or a CustomLogger instance."""
        if not isinstance(value, list):
            self.problem(
                ("litellm_settings", key),
                f"litellm_settings.{key}",
                "must be a list of callback names, e.g. [langfuse]",
            )
            return
        known = known_callback_names()
        for position, name in enumerate(value):
            at = ("litellm_settings", key, position)
            where = f"litellm_settings.{key}[{position}]"
            if not isinstance(name, str) or not name:
                self.problem(at, where, "must be a callback name (a string)")
            elif is_object_reference(name):
                problem = self.catalog.callback_problem(name)
                if problem:
                    self.problem(at, where, problem)
            elif name not in known:
                hint = did_you_mean(name, sorted(known))
                self.problem(
                    at,
                    where,
                    f"unknown LiteLLM callback {name!r}{hint} (a name from LiteLLM's "
                    "integrations, or module.attribute naming a CustomLogger instance)",
                )
            elif name in placeholder_names():
                self.problem(
                    at,
                    where,
                    f"LiteLLM's {name!r} callback needs the litellm-enterprise package, which "
                    "is not installed (LiteLLM would run a logger that does nothing)",
                )

    def _options(self, raw: object) -> GatewayOptions:
        try:
            return GatewayOptions.model_validate(raw)
        except ValidationError as exc:
            for problem in field_problems(exc, _OPERATOR_WORDS):
                self.problem(
                    ("gateway", *problem.loc), f"gateway.{problem.dotted('')}", problem.message
                )
            return GatewayOptions()


def _is_price(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _provider_problem(
    model: str, explicit_provider: object, providers: frozenset[str]
) -> str | None:
    if isinstance(explicit_provider, str):
        if explicit_provider not in providers:
            hint = did_you_mean(explicit_provider, providers)
            return f"unknown custom_llm_provider {explicit_provider!r}{hint}"
        return None
    if "/" not in model:
        return f"{model!r} names no provider; write provider/model, e.g. openai/{model}"
    provider = model.split("/", 1)[0]
    if provider not in providers:
        return f"unknown provider {provider!r} in {model!r}{did_you_mean(provider, providers)}"
    return None
