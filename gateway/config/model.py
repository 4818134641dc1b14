"""The snapshot the gateway serves from: deployments and settings, and how LiteLLM takes them.

Immutable: a reload builds a new GatewayConfig, and streams running on the old one keep theirs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gateway.config.callbacks import CallbackPlan, plan_of
from gateway.config.environment import without_secrets
from gateway.config.litellm_facts import openai_shaped_providers
from gateway.config.mcp_servers import McpServerSpec
from gateway.config.options import GatewayOptions, StreamReader
from gateway.config.problems import ConfigProblem

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
        return self.provider in openai_shaped_providers()

    def identity(self) -> dict[str, Any]:
        """What this deployment is, without its secrets: part of every cache key."""
        secrets = set(self.secret_values)
        return without_secrets(dict(self.params), secrets)

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
    mcp_servers: tuple[McpServerSpec, ...] = ()
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
        held = [value for d in self.deployments for value in d.secret_values]
        return held + [value for server in self.mcp_servers for value in server.secret_values]

    def env_problems(self) -> list[ConfigProblem]:
        return [
            ConfigProblem(
                line=None,
                where=entry_label(d.index, d.model_id),
                message=f"environment variable {var} is not set",
            )
            for d in self.deployments
            for var in d.missing_env
        ] + [
            ConfigProblem(
                line=None,
                where=f"mcp_servers.{server.name}",
                message=f"environment variable {var} is not set",
            )
            for server in self.mcp_servers
            for var in server.missing_env
        ]


def entry_label(index: int, model_id: str | None) -> str:
    """How a problem names a model_list entry: `model_list[2] (chat-model)`."""
    return f"model_list[{index}] ({model_id})" if model_id else f"model_list[{index}]"
