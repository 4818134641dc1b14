"""Cache keys: a hash over everything that can change an answer, and nothing that cannot."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gateway.cache.answers import FORMAT_VERSION
from gateway.cache.embeddings import EMBEDDING_FORMAT_VERSION
from gateway.config import GatewayConfig

# Request parameters that never change the answer's content. Everything else is in the key,
# so a parameter added later is safe by default.
NOT_OUTPUT_PARAMS = frozenset({"stream", "stream_options", "user", "metadata"})


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def deployment_identities(config: GatewayConfig) -> dict[str, str]:
    """Per model ID, the canonical description of what answers it (computed once per config).

    Swapping the model behind an ID in the YAML changes this, so old answers are never served.
    """
    by_model: dict[str, list[dict[str, Any]]] = {}
    for deployment in config.callable_deployments:
        by_model.setdefault(deployment.model_id, []).append(deployment.identity())
    return {model_id: _identity(identities, config) for model_id, identities in by_model.items()}


def deployment_identity(config: GatewayConfig, model_id: str) -> str:
    """deployment_identities(config)[model_id], for one model ID."""
    identities = [d.identity() for d in config.callable_deployments if d.model_id == model_id]
    return _identity(identities, config)


def _identity(identities: list[dict[str, Any]], config: GatewayConfig) -> str:
    settings = dict(config.litellm_settings)
    return canonical_json({"deployments": identities, "litellm_settings": settings})


def cache_key(
    *,
    deployment: str,
    model_id: str,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    tools: list[dict[str, Any]],
    tenant: str | None,
) -> str:
    material = canonical_json(
        {
            "version": FORMAT_VERSION,
            "deployment": deployment,
            "model": model_id,
            "messages": messages,
            "params": {k: v for k, v in params.items() if k not in NOT_OUTPUT_PARAMS},
            "tools": tools,
            "tenant": tenant,
        }
    )
    return "gateway:cache:" + hashlib.sha256(material.encode()).hexdigest()


def embedding_cache_key(
    *,
    deployment: str,
    model_id: str,
    inputs: list[str] | list[list[int]],
    dimensions: int | None,
    tenant: str | None,
) -> str:
    """The key of an embedding answer. `encoding_format` is not in it: the stored vectors make
    either format (cache/embeddings.py), so a float request and a base64 one share an entry."""
    material = canonical_json(
        {
            "version": EMBEDDING_FORMAT_VERSION,
            "deployment": deployment,
            "model": model_id,
            "inputs": inputs,
            "dimensions": dimensions,
            "tenant": tenant,
        }
    )
    return "gateway:cache:embedding:" + hashlib.sha256(material.encode()).hexdigest()
