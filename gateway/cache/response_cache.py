"""The response cache: policy from the YAML, bytes in a store, bypass whenever the store fails.

The engine asks it once per model call. A hit replays a stored answer; a miss is stored only
when the model call finished cleanly (the engine decides that, and calls `save`). Embedding
answers (POST /v1/embeddings) go through the same policy in their own stored format.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from gateway.cache.answers import CachedAnswer, CorruptAnswer, decode_answer, encode_answer
from gateway.cache.embeddings import CachedEmbeddings, decode_embeddings, encode_embeddings
from gateway.cache.stores import CacheStore, StoreFailed

log = logging.getLogger("gateway.cache")

CacheResult = Literal["hit", "miss", "bypass"]
RETRY_AFTER_FAILURE = 2.0  # seconds the store is skipped after it failed
T = TypeVar("T")


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
    # The client that asked: a stored answer counts against its share of process memory.
    owner: str = ""


@dataclass(frozen=True)
class EmbeddingLookup:
    key: str
    result: CacheResult
    answer: CachedEmbeddings | None = None
    may_store: bool = False
    owner: str = ""


class ResponseCache:
    def __init__(self, store: CacheStore) -> None:
        self.store = store
        self._skip_until = 0.0

    async def lookup(self, key: str, directive: CacheDirective) -> Lookup:
        result, answer, may_store = await self._read(key, directive, decode_answer)
        return Lookup(key, result, answer, may_store, directive.tenant or "")

    async def save(self, lookup: Lookup, answer: CachedAnswer, ttl_seconds: int) -> None:
        await self._write(lookup.key, encode_answer(answer), ttl_seconds, lookup.owner)

    async def lookup_embeddings(self, key: str, directive: CacheDirective) -> EmbeddingLookup:
        result, answer, may_store = await self._read(key, directive, decode_embeddings)
        return EmbeddingLookup(key, result, answer, may_store, directive.tenant or "")

    async def save_embeddings(
        self, lookup: EmbeddingLookup, answer: CachedEmbeddings, ttl_seconds: int
    ) -> None:
        await self._write(lookup.key, encode_embeddings(answer), ttl_seconds, lookup.owner)

    async def aclose(self) -> None:
        await self.store.aclose()

    async def _read(
        self, key: str, directive: CacheDirective, decode: Callable[[bytes], T]
    ) -> tuple[CacheResult, T | None, bool]:
        """The result, the decoded answer on a hit, and whether the answer may be stored."""
        if not self._store_usable():
            return "bypass", None, False
        if not directive.read:
            return "bypass", None, directive.write
        try:
            data = await self.store.get(key)
        except StoreFailed as exc:
            self._failed("read", exc)
            return "bypass", None, False
        answer = self._decode(key, data, decode) if data is not None else None
        if answer is None:
            return "miss", None, directive.write
        return "hit", answer, False

    async def _write(self, key: str, data: bytes, ttl_seconds: int, owner: str) -> None:
        if not self._store_usable():
            return
        try:
            await self.store.set(key, data, ttl_seconds, owner)
        except StoreFailed as exc:
            self._failed("write", exc)

    def _decode(self, key: str, data: bytes, decode: Callable[[bytes], T]) -> T | None:
        try:
            return decode(data)
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
