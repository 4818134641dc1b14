"""The response cache: policy from the YAML, bytes in a store, bypass whenever the store fails.

The engine asks it once per model call. A hit replays a stored answer; a miss is stored only
when the model call finished cleanly (the engine decides that, and calls `save`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Literal

from gateway.cache.answers import CachedAnswer, CorruptAnswer, decode_answer, encode_answer
from gateway.cache.stores import CacheStore, StoreFailed

log = logging.getLogger("gateway.cache")

CacheResult = Literal["hit", "miss", "bypass"]
RETRY_AFTER_FAILURE = 2.0  # seconds the store is skipped after it failed


@dataclass(frozen=True)
class CacheDirective:
    """What one request allows: read (no `Cache-Control: no-cache`), write (no `no-store`)."""

    tenant: str | None = None
    read: bool = True
    write: bool = True


@dataclass(frozen=True)
class Lookup:
    key: str
    result: CacheResult
    answer: CachedAnswer | None = None
    may_store: bool = False


class ResponseCache:
    def __init__(self, store: CacheStore) -> None:
        self.store = store
        self._skip_until = 0.0

    async def lookup(self, key: str, directive: CacheDirective) -> Lookup:
        if not self._store_usable():
            return Lookup(key, "bypass")
        if not directive.read:
            return Lookup(key, "bypass", may_store=directive.write)
        try:
            data = await self.store.get(key)
        except StoreFailed as exc:
            self._failed("read", exc)
            return Lookup(key, "bypass")
        answer = self._decode(key, data) if data is not None else None
        if answer is None:
            return Lookup(key, "miss", may_store=directive.write)
        return Lookup(key, "hit", answer)

    async def save(self, key: str, answer: CachedAnswer, ttl_seconds: int) -> None:
        if not self._store_usable():
            return
        try:
            await self.store.set(key, encode_answer(answer), ttl_seconds)
        except StoreFailed as exc:
            self._failed("write", exc)
            return

    async def aclose(self) -> None:
        await self.store.aclose()

    def _decode(self, key: str, data: bytes) -> CachedAnswer | None:
        try:
            return decode_answer(data)
        except CorruptAnswer as exc:
            log.warning("cache entry %s… unreadable (%s); treated as a miss", key[:24], exc)
            return None

    def _store_usable(self) -> bool:
        return time.monotonic() >= self._skip_until

    def _failed(self, operation: str, exc: StoreFailed) -> None:
        self._skip_until = time.monotonic() + RETRY_AFTER_FAILURE
        log.warning(
            "response cache %s failed on %s store (%s); bypassing it for %.0f s",
            operation,
            self.store.name,
            exc,
            RETRY_AFTER_FAILURE,
        )
