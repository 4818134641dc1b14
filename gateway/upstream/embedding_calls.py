"""One embedding request in the gateway's terms: the response cache, LiteLLM's Router
`aembedding`, and the provider's answer checked and turned into plain vectors.

Kept apart from engine.py, whose job is a chat answer as a stream of events: an embedding is
one call and one answer. Like the engine it knows nothing of wire formats; the route makes
OpenAI's body (and its base64) from what this returns.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field
from typing import Any

from gateway.cache import CachedEmbeddings, CacheDirective, EmbeddingLookup
from gateway.cache.keys import deployment_identity, embedding_cache_key
from gateway.engine import Engine
from gateway.errors import UpstreamIncomplete
from gateway.events import Usage
from gateway.observability import metrics
from gateway.observability.outcome import CallOutcome
from gateway.upstream.upstream_errors import to_gateway_error

Input = str | list[str] | list[int] | list[list[int]]


@dataclass(frozen=True)
class EmbeddingCall:
    model_id: str
    # As the client sent it: the provider gets the same form.
    input: Input
    # The same as a list of single inputs, one vector each (the cache key, the answer's count).
    inputs: list[str] | list[list[int]]
    dimensions: int | None = None
    user: str | None = None
    outcome: CallOutcome = field(default_factory=CallOutcome, compare=False)


@dataclass(frozen=True)
class Embeddings:
    vectors: list[list[float]]
    # Prompt tokens only; `cached` when the answer came from the response cache.
    usage: Usage


async def embed(engine: Engine, call: EmbeddingCall, directive: CacheDirective) -> Embeddings:
    """The call's vectors, from the cache or the provider; a GatewayError when it fails.

    The caller has checked the model ID (Engine.check_model) and admitted the client.
    """
    outcome = call.outcome
    lookup = await _cache_lookup(engine, call, directive)
    if lookup is not None and lookup.answer is not None:
        outcome.usage = Usage(lookup.answer.prompt_tokens, cached=True)
        return Embeddings(lookup.answer.vectors, outcome.usage)
    kwargs: dict[str, Any] = {"model": call.model_id, "input": call.input}
    if call.dimensions is not None:
        kwargs["dimensions"] = call.dimensions
    if call.user is not None:
        kwargs["user"] = call.user
    # No encoding_format: the provider sends floats (every provider can), and the route
    # encodes base64 itself, the same for every provider and for cached answers.
    try:
        outcome.provider_call_sent()
        response = await engine.router.aembedding(**kwargs)
        outcome.provider_call_ended()
        answer = _read(response, len(call.inputs), call.model_id)
    except Exception as exc:
        error = to_gateway_error(exc, call.model_id, engine.redactor)
        outcome.error_type = error.error_type
        outcome.error_message = error.message
        metrics.UPSTREAM_ERRORS.labels(call.model_id, error.error_type).inc()
        raise error from None
    deployment = (getattr(response, "_hidden_params", None) or {}).get("model_id")
    if isinstance(deployment, str):
        outcome.deployment = deployment
    outcome.usage = Usage(answer.prompt_tokens)
    if engine.cache is not None and lookup is not None and lookup.may_store:
        ttl = engine.config.options.cache.ttl or 0
        await engine.cache.save_embeddings(lookup, answer, ttl)
    return Embeddings(answer.vectors, outcome.usage)


async def _cache_lookup(
    engine: Engine, call: EmbeddingCall, directive: CacheDirective
) -> EmbeddingLookup | None:
    """The cache's answer for this call; None when the model ID is not cached."""
    policy = engine.config.options.cache
    if engine.cache is None or call.model_id not in policy.models:
        return None
    key = embedding_cache_key(
        deployment=deployment_identity(engine.config, call.model_id),
        model_id=call.model_id,
        inputs=call.inputs,
        dimensions=call.dimensions,
        tenant=directive.tenant if policy.scope == "per-key" else None,
    )
    lookup = await engine.cache.lookup_embeddings(key, directive)
    metrics.CACHE_LOOKUPS.labels(call.model_id, lookup.result).inc()
    call.outcome.cache = lookup.result
    return lookup


def _read(response: Any, expected: int, model_id: str) -> CachedEmbeddings:
    """The vectors in input order and the prompt tokens, or UpstreamIncomplete saying why not."""
    items = [_as_dict(item) for item in getattr(response, "data", None) or []]
    if len(items) != expected:
        raise _unreadable(model_id, f"{len(items)} vectors for {expected} inputs")
    try:
        items.sort(key=lambda item: int(item.get("index", 0)))
        vectors = [_vector(item.get("embedding")) for item in items]
    except (TypeError, ValueError, struct.error) as exc:
        raise _unreadable(model_id, str(exc)) from None
    usage = getattr(response, "usage", None)
    prompt_tokens = getattr(usage, "prompt_tokens", None) or 0
    return CachedEmbeddings(vectors, int(prompt_tokens))


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    dump = getattr(item, "model_dump", None)
    return dump() if callable(dump) else {}


def _vector(value: Any) -> list[float]:
    if isinstance(value, str):  # a provider that answers base64 (float32) even when not asked
        raw = base64.b64decode(value, validate=True)
        value = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    if not isinstance(value, list) or not value:
        raise ValueError("a vector is missing or empty")
    if not all(_finite_number(number) for number in value):
        raise ValueError("a vector holds something other than finite numbers")
    return [float(number) for number in value]


def _finite_number(value: Any) -> bool:
    # Within float32's range (base64 answers carry float32); NaN and infinities fail it too.
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and abs(value) <= _FLOAT32_MAX
    )


_FLOAT32_MAX = 3.4028234663852886e38


def _unreadable(model_id: str, why: str) -> UpstreamIncomplete:
    return UpstreamIncomplete(
        f"the provider for model '{model_id}' sent an embedding answer the gateway cannot "
        f"read: {why}"
    )
