"""Where cached answers live: Redis when REDIS_URL is set, else a bounded in-process TTL LRU.

Both are byte stores with expiry behind the same two calls. A store raises StoreFailed for any
trouble; the cache turns that into a bypass, never a failed request.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from gateway.redis_client import connect, describe


class StoreFailed(Exception):
    """The store could not answer (down, timed out, refused)."""


class CacheStore(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None: ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """A per-process LRU of at most `max_entries` values, each dropped `ttl` seconds after set."""

    name = "memory"

    def __init__(self, max_entries: int, now: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._now = now

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= self._now():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        self._entries[key] = (self._now() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

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

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.set(key, value, ex=ttl_seconds)
        except Exception as exc:
            raise StoreFailed(describe(exc)) from None

    async def aclose(self) -> None:
        await self._client.aclose()
