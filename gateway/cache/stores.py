"""Where cached answers live: Redis when REDIS_URL is set, else a bounded in-process TTL LRU.

Both are byte stores with expiry behind the same two calls. A store raises StoreFailed for any
trouble; the cache turns that into a bypass, never a failed request. In process memory each
answer counts against the share of the client whose request stored it
(gateway/limits/fair_share.py), so one client's answers cannot push every other client's out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from gateway.limits.fair_share import FairShareLRU
from gateway.redis_client import connect, describe


class StoreFailed(Exception):
    """The store could not answer (down, timed out, refused)."""


class CacheStore(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_seconds: int, owner: str = "") -> None:
        """Keep `value` for `ttl_seconds`; `owner`: the client whose answer it is."""
        ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """A per-process LRU of at most `max_entries` values, shared fairly by their owners, each
    dropped `ttl` seconds after set."""

    name = "memory"

    def __init__(self, max_entries: int, now: Callable[[], float] = time.monotonic) -> None:
        self._entries: FairShareLRU[str, tuple[float, bytes]] = FairShareLRU(max_entries)
        self._now = now

    @property
    def max_entries(self) -> int:
        return self._entries.capacity

    @max_entries.setter
    def max_entries(self, max_entries: int) -> None:
        self._entries.capacity = max_entries  # a reload's new bound

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= self._now():
            self._entries.pop(key)
            return None
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: int, owner: str = "") -> None:
        self._entries.put(owner, key, (self._now() + ttl_seconds, value))

    async def aclose(self) -> None:
        self._entries.clear()


class RedisStore:
    """redis.asyncio with short timeouts: a slow Redis costs one request a bounded wait."""

    name = "redis"

    def __init__(self, url: str, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds
        self._client = connect(url, timeout_seconds)

    async def get(self, key: str) -> bytes | None:
        try:
            # asyncio.timeout, not wait_for, which can drop a cancel on Python 3.11.
            async with asyncio.timeout(self._timeout):
                return await self._client.get(key)
        except Exception as exc:
            raise StoreFailed(describe(exc)) from None

    async def set(self, key: str, value: bytes, ttl_seconds: int, owner: str = "") -> None:
        # Redis bounds its own memory (maxmemory and its eviction policy), for all clients.
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.set(key, value, ex=ttl_seconds)
        except Exception as exc:
            raise StoreFailed(describe(exc)) from None

    async def aclose(self) -> None:
        await self._client.aclose()
