"""Exact-match response cache: keys, stored answers, stores, and the policy that joins them."""

from gateway.cache.answers import CachedAnswer
from gateway.cache.response_cache import CacheDirective, CacheResult, Lookup, ResponseCache
from gateway.cache.stores import CacheStore, MemoryStore, RedisStore, StoreFailed

__all__ = [
    "CacheDirective",
    "CacheResult",
    "CacheStore",
    "CachedAnswer",
    "Lookup",
    "MemoryStore",
    "RedisStore",
    "ResponseCache",
    "StoreFailed",
]
