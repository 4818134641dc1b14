"""The response cache as one config uses it for chat model calls: which model IDs are cached, and
each call's key (the deployments behind the ID, the conversation, parameters and tools, the
tenant when the cache is per key)."""

from __future__ import annotations

from typing import Any

from gateway.cache.answers import CachedAnswer
from gateway.cache.keys import cache_key, deployment_identities
from gateway.cache.response_cache import CacheDirective, Lookup, ResponseCache
from gateway.config import GatewayConfig
from gateway.observability import metrics


class ChatCallCache:
    def __init__(self, cache: ResponseCache, config: GatewayConfig) -> None:
        self._cache = cache
        self._policy = config.options.cache
        self._models = frozenset(self._policy.models)
        self._deployments = deployment_identities(config)

    async def lookup(
        self,
        model_id: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        tools: list[dict[str, Any]],
        directive: CacheDirective,
    ) -> Lookup | None:
        """The cache's answer for this model call; None when the model ID is not cached."""
        if model_id not in self._models:
            return None
        key = cache_key(
            deployment=self._deployments.get(model_id, ""),
            model_id=model_id,
            messages=messages,
            params=params,
            tools=tools,
            tenant=directive.tenant if self._policy.scope == "per-key" else None,
        )
        lookup = await self._cache.lookup(key, directive)
        metrics.CACHE_LOOKUPS.labels(model_id, lookup.result).inc()
        return lookup

    async def save(self, lookup: Lookup, answer: CachedAnswer) -> None:
        await self._cache.save(lookup, answer, self._policy.ttl or 0)
