"""The YAML model map: loading, validation and the immutable snapshot the gateway serves from.

The file uses LiteLLM Proxy's `model_list` schema so operators can reuse what they know:

    model_list:
      - model_name: chat-model            # the frontend's model ID
        litellm_params:
          model: openai/gpt-4o-mini
          api_key: os.environ/OPENAI_API_KEY
    router_settings: {num_retries: 2, timeout: 60}
    gateway: {...}                        # options of this gateway

Every problem is reported with the file, the line, the entry and the field. A deployment whose
`os.environ/` variable is unset does not stop the server: it is left out of the router and a
request for its model ID gets an error naming the variable.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import inspect
import ipaddress
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.yaml_source import YamlDocument, YamlProblem, parse_yaml

if TYPE_CHECKING:
    from gateway.litellm_callbacks import CallbackPlan

ENV_PREFIX = "os.environ/"
TOP_LEVEL_KEYS = ("model_list", "router_settings", "litellm_settings", "gateway")
# LiteLLM module settings the YAML may set (the rest of LiteLLM Proxy's litellm_settings concern
# its own proxy features, not this gateway).
LITELLM_SETTINGS: dict[str, type] = {
    "drop_params": bool,
    "modify_params": bool,
    # Logging callbacks: lists of LiteLLM integration names or module.attribute CustomLogger
    # instances (gateway/litellm_callbacks.py says how each reaches LiteLLM).
    "success_callback": list,
    "failure_callback": list,
    "callbacks": list,
}
# Those LiteLLM also takes per call: they ride with each deployment, never set process-wide.
# (Callback names ride per call too, from GatewayConfig.callback_plan.)
CALL_SETTINGS = frozenset({"drop_params"})
FALLBACK_KINDS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")
# Routing strategies that steer by the usage LiteLLM's stream callbacks record (the lean reader
# does not run them).
CALLBACK_ROUTING = frozenset(
    {"usage-based-routing", "usage-based-routing-v2", "latency-based-routing", "cost-based-routing"}
)
# A lone deployment's own allowed_fails is what tells LiteLLM's Router not to cool it down.
LONE_DEPLOYMENT_ALLOWED_FAILS = 3
# What a model ID answers (`model_info.mode`, as LiteLLM Proxy marks it): chat doors take only
# chat models, POST /v1/embeddings only embedding models. Unmarked entries are chat models.
ModelMode = Literal["chat", "embedding"]
MODEL_MODES: tuple[ModelMode, ...] = ("chat", "embedding")
# A deployment's own price (as LiteLLM Proxy takes custom prices): spend budgets use it.
PRICE_FIELDS = ("input_cost_per_token", "output_cost_per_token")
# Router arguments that the YAML must not set: the gateway owns them.
ROUTER_OWNED_KEYS = {"model_list", "redis_url", "redis_host", "redis_port", "redis_password"}


class ConfigProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    line: int | None
    where: str
    message: str

    def render(self, path: Path) -> str:
        place = f"{path}:{self.line}" if self.line else str(path)
        return (
            f"{place}: {self.where}: {self.message}" if self.where else f"{place}: {self.message}"
        )


class ConfigError(Exception):
    """The file cannot be served; `problems` says where and why."""

    def __init__(self, path: Path, problems: list[ConfigProblem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(p.render(path) for p in problems))


class RateLimitOptions(BaseModel):
    """`gateway.rate_limit`: limits like `60/minute`, per client on every chat route."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: str | None = None
    models: dict[str, str] = Field(default_factory=dict)
    # Token budgets per client per minute, counted from the usage each answer reports.
    tokens_per_minute: int | None = Field(default=None, ge=1)
    model_tokens_per_minute: dict[str, int] = Field(default_factory=dict)
    on_store_error: Literal["allow", "deny"] = "allow"
    # Proxies (addresses or networks like 172.16.0.0/12) whose X-Forwarded-For is believed when
    # the client is identified by IP.
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("default")
    @classmethod
    def _check_default(cls, value: str | None) -> str | None:
        return _valid_limit(value) if value is not None else None

    @field_validator("models")
    @classmethod
    def _check_models(cls, value: dict[str, str]) -> dict[str, str]:
        return {model_id: _valid_limit(text) for model_id, text in value.items()}

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for text in value:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(f"{text!r} is not an IP address or network") from None
        return value

    def trusts(self, address: str) -> bool:
        """Is `address` one of the trusted proxies?"""
        return _in_networks(address, tuple(self.trusted_proxies))


@cache
def _networks(texts: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(text, strict=False) for text in texts)


def _in_networks(address: str, texts: tuple[str, ...]) -> bool:
    if not texts:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(texts))


def _is_price(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _valid_limit(text: str) -> str:
    from limits import parse

    try:
        parse(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate limit like '60/minute' or '1000/day'") from None
    return text


class CacheOptions(BaseModel):
    """`gateway.cache`: exact-match answers for the listed model IDs, kept `ttl` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttl: int | None = Field(default=None, ge=1)
    models: list[str] = Field(default_factory=list)
    # per-key: one client's answers are never served to another; shared: any client may hit.
    scope: Literal["per-key", "shared"] = "per-key"
    # Bound of the in-process store (used when REDIS_URL is unset), in answers.
    max_entries: int = Field(default=1000, ge=1)

    @model_validator(mode="after")
    def _ttl_when_enabled(self) -> CacheOptions:
        if self.models and self.ttl is None:
            raise ValueError("ttl is required when models are listed (seconds, e.g. 3600)")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.models)


class ChatOptions(BaseModel):
    """`gateway.chats`: history kept by chat id, and answers that outlive their connection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Off: a request's `id` is ignored and every request carries its whole history, as before.
    enabled: bool = True
    # Seconds a chat is kept after its last change.
    ttl: int = Field(default=7 * 24 * 3600, ge=60)
    # Stored UI messages per chat; a request that would go over it is refused (413).
    max_messages: int = Field(default=200, ge=2, le=10_000)
    # Bytes of one chat's stored messages, or of one stored response (JSON); over it is 413.
    max_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # Resumable: an answer runs on when its client disconnects, its events are kept (in Redis
    # when REDIS_URL is set) and GET /api/chat/{id}/stream follows it from any replica. Off: a
    # disconnect cancels the provider call at once, as for requests without an id.
    resumable: bool = True
    # Seconds a resumable answer may run with nobody reading it before it is stopped.
    unread_timeout: float = Field(default=120.0, gt=0, le=3600)
    # Resumable answers one client (API key, or IP without keys) may have running with nobody
    # reading them, per process; a new answer beyond it is refused (429), and one left unread
    # beyond it is stopped. Each holds a provider stream open until `unread_timeout`.
    max_unread_answers: int = Field(default=32, ge=1, le=100_000)
    # Seconds an answer's events stay readable after it ends.
    stream_ttl: int = Field(default=600, ge=10)
    # Seconds a finished answer keeps trying to be stored while the chat store fails (a slow
    # or failing-over Redis); after that its readers are told it was not stored.
    store_retry: float = Field(default=30.0, ge=0, le=600)
    # Chats and stored responses kept in process memory when REDIS_URL is unset, shared fairly
    # by their clients: when full, the client holding the most loses its least recently used.
    max_chats_in_memory: int = Field(default=1000, ge=1)
    # When the chat store cannot be reached: `refuse` (503) or `answer` from the request alone,
    # storing nothing.
    on_store_failure: Literal["refuse", "answer"] = "refuse"


StreamReader = Literal["lean", "litellm"]


class GatewayOptions(BaseModel):
    """The `gateway:` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Tools offered to every model unless its entry says otherwise (`tools:` on the entry).
    tools: list[str] = Field(default_factory=list)
    # Modules to import so their @tool functions register (entry points load by themselves).
    tool_modules: list[str] = Field(default_factory=list)
    # Options handed to a tool as ToolContext.options, by tool name.
    tool_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    max_tool_steps: int = Field(default=5, ge=1, le=50)
    # The answer reserved against a key's spend budget when the request sets no max_tokens.
    budget_answer_tokens: int = Field(default=4096, ge=1, le=2**31 - 1)
    # How streams from OpenAI-shaped providers are read: `lean` reads the provider's own chunks
    # below LiteLLM's per-chunk wrapper (a fraction of its CPU); `litellm` keeps the wrapper (and
    # the stream callbacks it runs). An entry's own `stream_reader` wins.
    stream_reader: StreamReader = "lean"
    rate_limit: RateLimitOptions = Field(default_factory=RateLimitOptions)
    tool_timeout: float = Field(default=10.0, gt=0, le=600)
    cache: CacheOptions = Field(default_factory=CacheOptions)
    chats: ChatOptions = Field(default_factory=ChatOptions)


class _EntrySchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_name: str = Field(min_length=1)
    litellm_params: dict[str, Any]
    model_info: dict[str, Any] = Field(default_factory=dict)
    # The gateway's own extensions: which tools this model is offered (overrides gateway.tools),
    # and how its streams are read (overrides gateway.stream_reader).
    tools: list[str] | None = None
    stream_reader: StreamReader | None = None


@dataclass(frozen=True)
class Deployment:
    """One `model_list` entry, its `os.environ/` references resolved."""

    model_id: str
    index: int
    # Holds resolved secrets (api_key): kept out of repr so a logged config never shows them.
    params: Mapping[str, Any] = field(repr=False)
    model_info: Mapping[str, Any]
    missing_env: tuple[str, ...] = ()
    tools: tuple[str, ...] | None = None
    secret_values: tuple[str, ...] = field(default=(), repr=False)
    stream_reader: StreamReader | None = None

    @property
    def provider_model(self) -> str:
        return str(self.params["model"])

    @property
    def mode(self) -> ModelMode:
        """What this entry answers; the validator has refused any other `model_info.mode`."""
        return "embedding" if self.model_info.get("mode") == "embedding" else "chat"

    @property
    def provider(self) -> str:
        explicit = self.params.get("custom_llm_provider")
        return explicit if isinstance(explicit, str) else self.provider_model.split("/", 1)[0]

    @property
    def openai_shaped(self) -> bool:
        """Does LiteLLM talk to this provider in OpenAI's chat-completions format?"""
        return self.provider in _openai_shaped_providers()

    def identity(self) -> dict[str, Any]:
        """What this deployment is, without its secrets: part of every cache key."""
        secrets = set(self.secret_values)
        return _without_secrets(dict(self.params), secrets)

    def router_entry(
        self, call_settings: Mapping[str, Any], only_deployment: bool
    ) -> dict[str, Any]:
        """This entry as LiteLLM's Router takes it.

        `call_settings` (litellm_settings such as drop_params) ride with every call of the
        deployment instead of being set on the litellm module, so a reload that drops one
        really drops it. A model ID's only deployment is never cooled down by default: with no
        other deployment to route to, a cooldown turns one provider error (a 401, say) into
        seconds of refusals. LiteLLM skips cooldowns for a lone deployment that has its own
        `allowed_fails`; an `allowed_fails_policy` in model_info opts back in.
        """
        info = {**self.model_info, "id": f"{self.model_id}#{self.index}"}
        if only_deployment and "allowed_fails" not in info and "allowed_fails_policy" not in info:
            info["allowed_fails"] = LONE_DEPLOYMENT_ALLOWED_FAILS
        return {
            "model_name": self.model_id,
            "litellm_params": {**call_settings, **self.params},
            "model_info": info,
        }


@dataclass(frozen=True)
class GatewayConfig:
    path: Path
    deployments: tuple[Deployment, ...]
    router_settings: Mapping[str, Any] = field(default_factory=dict)
    litellm_settings: Mapping[str, Any] = field(default_factory=dict)
    options: GatewayOptions = field(default_factory=GatewayOptions)
    # SHA-256 of the text this snapshot was parsed from: a reload compares the file against it.
    digest: bytes = b""

    @property
    def model_ids(self) -> list[str]:
        return list(dict.fromkeys(d.model_id for d in self.deployments))

    @property
    def callable_deployments(self) -> list[Deployment]:
        return [d for d in self.deployments if not d.missing_env]

    def router_model_list(self) -> list[dict[str, Any]]:
        """The Router's model_list: the callable deployments, with per-call LiteLLM settings."""
        callable_ = self.callable_deployments
        counts = Counter(d.model_id for d in callable_)
        call_settings = {
            name: value for name, value in self.litellm_settings.items() if name in CALL_SETTINGS
        }
        call_settings.update(self.callback_plan.call_settings())
        return [d.router_entry(call_settings, counts[d.model_id] == 1) for d in callable_]

    @property
    def callback_plan(self) -> CallbackPlan:
        """The LiteLLM logging callbacks litellm_settings lists, split by how they are passed."""
        from gateway.litellm_callbacks import plan_of

        return plan_of(self.litellm_settings)

    def stream_reader_of(self, deployment: Deployment) -> tuple[StreamReader, str]:
        """How `deployment`'s streams are read, and why (for check-config and /health/ready)."""
        chosen = deployment.stream_reader or self.options.stream_reader
        if chosen == "litellm":
            where = "its entry" if deployment.stream_reader else "gateway.stream_reader"
            return "litellm", f"set by {where}"
        if not deployment.openai_shaped:
            return "litellm", f"provider {deployment.provider!r} does not stream OpenAI chunks"
        if self.callback_plan.configured:
            # The lean reader never returns LiteLLM's stream wrapper, and the wrapper is what
            # runs success (and mid-stream failure) callbacks when a stream ends.
            return "litellm", "litellm_settings callbacks run in LiteLLM's stream wrapper"
        strategy = self.router_settings.get("routing_strategy")
        if strategy in CALLBACK_ROUTING:
            return "litellm", f"routing_strategy {strategy!r} needs LiteLLM's stream callbacks"
        return "lean", "OpenAI-shaped provider"

    def lean_deployment_ids(self) -> frozenset[str]:
        """The Router ids (`<model ID>#<index>`) of the deployments read lean."""
        return frozenset(
            f"{d.model_id}#{d.index}"
            for d in self.callable_deployments
            if self.stream_reader_of(d)[0] == "lean"
        )

    def lean_model_ids(self) -> frozenset[str]:
        """The model IDs whose every callable deployment is read lean."""
        lean = self.lean_deployment_ids()
        by_model: dict[str, list[str]] = {}
        for d in self.callable_deployments:
            by_model.setdefault(d.model_id, []).append(f"{d.model_id}#{d.index}")
        return frozenset(m for m, ids in by_model.items() if all(i in lean for i in ids))

    def openai_shaped(self, model_id: str) -> bool:
        """Is every deployment that may answer `model_id` (fallbacks too) OpenAI-shaped?"""
        targets: dict[str, list[str]] = {}
        for kind in FALLBACK_KINDS:
            for rule in self.router_settings.get(kind) or []:
                for source, backups in rule.items():
                    targets.setdefault(source, []).extend(
                        backups if isinstance(backups, list) else [backups]
                    )
        reachable, pending = {model_id}, [model_id]
        while pending:
            for target in targets.get(pending.pop(), []):
                if target not in reachable:
                    reachable.add(target)
                    pending.append(target)
        return all(d.openai_shaped for d in self.deployments if d.model_id in reachable)

    def mode_of(self, model_id: str) -> ModelMode | None:
        """What `model_id` answers (every entry of one ID agrees), or None for an unknown ID."""
        for deployment in self.deployments:
            if deployment.model_id == model_id:
                return deployment.mode
        return None

    def model_ids_of(self, mode: ModelMode) -> list[str]:
        return [model_id for model_id in self.model_ids if self.mode_of(model_id) == mode]

    def missing_env_for(self, model_id: str) -> list[str] | None:
        """The unset variables that keep `model_id` from being callable, or None if it is."""
        mine = [d for d in self.deployments if d.model_id == model_id]
        if any(not d.missing_env for d in mine):
            return None
        return sorted({var for d in mine for var in d.missing_env})

    def tools_for(self, model_id: str) -> list[str]:
        """The tool names `model_id` is offered: its entry's list, else gateway.tools."""
        for deployment in self.deployments:
            if deployment.model_id == model_id and deployment.tools is not None:
                return list(deployment.tools)
        return list(self.options.tools)

    def secrets(self) -> list[str]:
        """Key values this config holds, so error text and logs can be scrubbed of them."""
        return [value for d in self.deployments for value in d.secret_values]

    def env_problems(self) -> list[ConfigProblem]:
        return [
            ConfigProblem(
                line=None,
                where=_entry_label(d.index, d.model_id),
                message=f"environment variable {var} is not set",
            )
            for d in self.deployments
            for var in d.missing_env
        ]


def load_config(path: Path) -> GatewayConfig:
    """Read and validate `path`; raise ConfigError listing every problem found."""
    return parse_config(read_config_text(path), path)


def read_config_text(path: Path) -> str:
    """The file's text, or ConfigError saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            path, [ConfigProblem(line=None, where="", message="file not found")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        message = f"cannot read file: {exc.__class__.__name__}"
        raise ConfigError(path, [ConfigProblem(line=None, where="", message=message)]) from None


def parse_config(text: str, path: Path) -> GatewayConfig:
    try:
        document = parse_yaml(text)
    except YamlProblem as exc:
        raise ConfigError(
            path, [ConfigProblem(line=exc.line, where="", message=exc.message)]
        ) from None
    config = _Validator(document, path).validate()
    return dataclasses.replace(config, digest=text_digest(text))


def text_digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class _Validator:
    def __init__(self, document: YamlDocument, path: Path) -> None:
        self.doc = document
        self.path = path
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
        self._check_tools(options, deployments)
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
        label = _entry_label(index, name if isinstance(name, str) else None)
        try:
            schema = _EntrySchema.model_validate(entry)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                field_name = ".".join(str(part) for part in loc) or "entry"
                self.problem((*at, *loc), f"{label}: {field_name}", _pydantic_message(err))
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
        provider_problem = _provider_problem(model, params.get("custom_llm_provider"))
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
        resolved, missing, secrets = _resolve_env(params)
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
                    f"{_entry_label(d.index, d.model_id)}: model_info.mode",
                    f"{d.mode!r} differs from {modes[d.model_id]!r} in "
                    f"model_list[{first[d.model_id]}]: every entry of one model ID has one mode",
                )
        return modes

    def _router_settings(self, raw: object, modes: dict[str, ModelMode]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.problem(("router_settings",), "router_settings", "must be a mapping")
            return {}
        accepted = _router_parameters()
        for key, value in raw.items():
            where = f"router_settings.{key}"
            if key in ROUTER_OWNED_KEYS:
                self.problem(("router_settings", key), where, "is set by the gateway, not the YAML")
            elif key not in accepted:
                hint = _did_you_mean(str(key), accepted)
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
                    f"not supported{_did_you_mean(str(key), LITELLM_SETTINGS)}; "
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
        from gateway.litellm_callbacks import (
            is_object_reference,
            known_callback_names,
            placeholder_names,
            reference_problem,
        )

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
                problem = reference_problem(name)
                if problem:
                    self.problem(at, where, problem)
            elif name not in known:
                hint = _did_you_mean(name, sorted(known))
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

    def _check_tools(self, options: GatewayOptions, deployments: list[Deployment]) -> None:
        from gateway.tools import REGISTRY

        for position, module in enumerate(options.tool_modules):
            try:
                REGISTRY.load_modules([module])
            except Exception as exc:
                at = ("gateway", "tool_modules", position)
                self.problem(
                    at, f"gateway.tool_modules[{position}]", f"cannot import {module!r}: {exc}"
                )
        known = set(REGISTRY.names)
        for position, name in enumerate(options.tools):
            if name not in known:
                self.problem(
                    ("gateway", "tools", position),
                    f"gateway.tools[{position}]",
                    f"unknown tool {name!r}{_did_you_mean(name, known)}",
                )
        for name in options.tool_options:
            if name not in known:
                self.problem(
                    ("gateway", "tool_options", name),
                    f"gateway.tool_options.{name}",
                    f"unknown tool {name!r}{_did_you_mean(name, known)}",
                )
        for d in deployments:
            for position, name in enumerate(d.tools or ()):
                if name not in known:
                    self.problem(
                        ("model_list", d.index, "tools", position),
                        f"{_entry_label(d.index, d.model_id)}: tools[{position}]",
                        f"unknown tool {name!r}{_did_you_mean(name, known)}",
                    )

    def _options(self, raw: object) -> GatewayOptions:
        try:
            return GatewayOptions.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                self.problem(
                    ("gateway", *loc), "gateway." + ".".join(map(str, loc)), _pydantic_message(err)
                )
            return GatewayOptions()


def _without_secrets(value: Any, secrets: set[str]) -> Any:
    if isinstance(value, str) and value in secrets:
        return "<secret>"
    if isinstance(value, dict):
        return {k: _without_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v, secrets) for v in value]
    return value


def _entry_label(index: int, model_id: str | None) -> str:
    return f"model_list[{index}] ({model_id})" if model_id else f"model_list[{index}]"


def _pydantic_message(err: Any) -> str:
    if err["type"] == "missing":
        return "missing"
    if err["type"] == "extra_forbidden":
        return "unknown field"
    if err["type"] == "value_error" and "error" in err.get("ctx", {}):
        return str(err["ctx"]["error"])
    return str(err["msg"])


def _resolve_env(params: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[str]]:
    """Replace every `os.environ/NAME` string with the variable's value.

    Returns the resolved params, the names of unset variables, and the secret values used (the
    resolved variables plus any key written literally) so they can be scrubbed from error text.
    """
    missing: list[str] = []
    secrets: list[str] = []

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(ENV_PREFIX):
            name = value[len(ENV_PREFIX) :]
            resolved = os.environ.get(name)
            if not resolved:
                missing.append(name)
                return None
            secrets.append(resolved)
            return resolved
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    resolved_params = resolve(params)
    literal_key = params.get("api_key")
    if isinstance(literal_key, str) and not literal_key.startswith(ENV_PREFIX):
        secrets.append(literal_key)
    return resolved_params, missing, secrets


def _provider_problem(model: str, explicit_provider: object) -> str | None:
    from gateway.providers import known_providers

    providers = known_providers()
    if isinstance(explicit_provider, str):
        if explicit_provider not in providers:
            hint = _did_you_mean(explicit_provider, providers)
            return f"unknown custom_llm_provider {explicit_provider!r}{hint}"
        return None
    if "/" not in model:
        return f"{model!r} names no provider; write provider/model, e.g. openai/{model}"
    provider = model.split("/", 1)[0]
    if provider not in providers:
        return f"unknown provider {provider!r} in {model!r}{_did_you_mean(provider, providers)}"
    return None


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


@cache
def _openai_shaped_providers() -> frozenset[str]:
    import litellm

    return frozenset({"openai", "azure", "custom_openai", *litellm.openai_compatible_providers})


@cache
def _router_parameters() -> frozenset[str]:
    from litellm import Router

    return frozenset(inspect.signature(Router.__init__).parameters) - {"self"}
