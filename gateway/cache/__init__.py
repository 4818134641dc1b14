"""Exact-match response cache: keys, stored answers, stores, and the policy that joins them."""

from gateway.cache.answers import CachedAnswer
from gateway.cache.embeddings import CachedEmbeddings
from gateway.cache.response_cache import (
    CacheDirective,
    CacheResult,
    EmbeddingLookup,
    Lookup,
    ResponseCache,
)
from gateway.cache.stores import CacheStore, MemoryStore, RedisStore, StoreFailed

__all__ = [
    "CacheDirective",
    "CacheResult",
    "CacheStore",
    "CachedAnswer",
    "CachedEmbeddings",
    "EmbeddingLookup",
    "Lookup",
    "MemoryStore",
    "RedisStore",
    "ResponseCache",
    "StoreFailed",
]
