"""LiteLLM's Router for one config snapshot, and the process settings LiteLLM keeps globally."""

from __future__ import annotations

from typing import Any

import litellm

# LiteLLM imports its MCP handler (and with it `mcp` and httpx2) lazily, inside the first call
# with tools=, in the executor thread that runs it; calls running in other threads meanwhile
# saw a half-initialised httpx2 and failed (bench/hostile.py found it). Import it once, here.
import litellm.responses.mcp.chat_completions_handler
import litellm.responses.mcp.litellm_proxy_mcp_handler

from gateway.config import GatewayConfig
from gateway.observability.outcome import CallOutcome
from gateway.upstream import (
    httpx_cookies,  # noqa: F401  (installs the cookie step)
    openai_body,  # noqa: F401  (installs the chat body transform)
)
from gateway.upstream.litellm_callbacks import install_process_callbacks
from gateway.upstream.litellm_reach import GatewayRouter
from gateway.upstream.providers import register_providers


def build_router(config: GatewayConfig) -> GatewayRouter:
    register_providers()
    # modify_params has no per-call form in LiteLLM: it stays a process setting, reset to
    # LiteLLM's default when the file drops it. drop_params travels with each deployment.
    litellm.modify_params = bool(config.litellm_settings.get("modify_params", _MODIFY_PARAMS))
    # LiteLLM 1.106's OpenAI embedding call reads the Router's max_retries=0 as "unset" (`0 or
    # DEFAULT_MAX_RETRIES`): the OpenAI SDK would retry failed embeddings twice more, unseen,
    # whatever router_settings.num_retries says (and sleep out a provider's Retry-After). It is
    # only read there; a deployment's own litellm_params.max_retries still wins.
    litellm.DEFAULT_MAX_RETRIES = 0  # type: ignore[misc]
    router = GatewayRouter(
        lean_deployments=config.lean_deployment_ids(),
        model_list=config.router_model_list(),
        **config.router_settings,
    )
    # litellm_settings callbacks: names ride per call in router_model_list(); CustomLogger
    # instances can only be process-wide in LiteLLM, so each (re)load replaces the last load's
    # (gateway/upstream/litellm_callbacks.py). After the Router: one that fails to build changes
    # nothing.
    install_process_callbacks(config.callback_plan)
    return router


_MODIFY_PARAMS = litellm.modify_params  # LiteLLM's own default (LITELLM_MODIFY_PARAMS)


def note_deployment(outcome: CallOutcome, response: Any) -> str | None:
    """The model_list entry that answered (after any fallback); the first call's is the outcome."""
    hidden = getattr(response, "_hidden_params", None) or {}
    deployment = hidden.get("model_id")
    if not isinstance(deployment, str):
        return None
    if outcome.deployment is None:
        outcome.deployment = deployment
    return deployment
