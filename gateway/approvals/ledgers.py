"""Where issued approval requests are remembered: Redis when REDIS_URL is set (every replica
checks a decision against the same records), else this process's memory. Both are bounded per
client (`max_pending`: past it the oldest is forgotten, and a decision for it is refused as
unknown) and expire (`ttl`); a claimed record stays until then as used, so a second decision
for it is told so.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.approvals.issued import USED
from gateway.limits.fair_share import FairShareLRU

# Records of every client together, in one process's memory.
MEMORY_CAPACITY = 10_000


class MemoryApprovalLedger:
    def __init__(
        self, capacity: int = MEMORY_CAPACITY, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._now = now
        self._records: FairShareLRU[tuple[str, str], tuple[float, str]] = FairShareLRU(capacity)

    async def remember(
        self, tenant: str, approval_id: str, record: str, ttl: int, max_pending: int
    ) -> None:
        while self._records.held_by(tenant) >= max_pending:
            oldest = self._records.oldest_of(tenant)
            if oldest is None:
                break
            self._records.pop(oldest)
        self._records.put(tenant, (tenant, approval_id), (self._now() + ttl, record))

    async def claim(self, tenant: str, approval_id: str) -> str | None:
        # No await between the read and the write: atomic on the event loop.
        key = (tenant, approval_id)
        found = self._records.get(key)
        if found is None:
            return None
        expires, record = found
        if expires <= self._now():
            self._records.pop(key)
            return None
        if record != USED:
            self._records.put(tenant, key, (expires, USED))
        return record


# KEYS: the tenant's records (a hash) and their expiry times (a sorted set).
# ARGV: approval id, record, its expiry (ms), now (ms), max pending, the keys' TTL (ms).
_REMEMBER = """
local function forget(ids)
  for _, id in ipairs(ids) do redis.call('HDEL', KEYS[1], id) end
end
forget(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4]))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local over = redis.call('ZCARD', KEYS[2]) + 1 - tonumber(ARGV[5])
if over > 0 then
  forget(redis.call('ZRANGE', KEYS[2], 0, over - 1))
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
"""
# ARGV: approval id, now (ms). The record (marked used from now on), "" if used, nil if none.
_CLAIM = """
local expires = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not expires or tonumber(expires) <= tonumber(ARGV[2]) then return false end
local record = redis.call('HGET', KEYS[1], ARGV[1])
if not record then return false end
if record ~= '' then redis.call('HSET', KEYS[1], ARGV[1], '') end
return record
"""


class RedisApprovalLedger:
    """Records in Redis, two keys per client sharing one hash tag (one Cluster slot); each
    change is one Lua script, so replicas never interleave inside one. Expiry is judged by
    the replicas' clocks, which must roughly agree (as for every TTL a client sees)."""

    def __init__(self, client: Any, call: Callable[[Awaitable[Any]], Awaitable[Any]]) -> None:
        self._call = call  # the chat store's: bounded by its timeout, failures as StoreFailed
        self._remember = client.register_script(_REMEMBER)
        self._claim = client.register_script(_CLAIM)

    async def remember(
        self, tenant: str, approval_id: str, record: str, ttl: int, max_pending: int
    ) -> None:
        now = _now_ms()
        args = [approval_id, record, now + ttl * 1000, now, max_pending, ttl * 1000 + 60_000]
        await self._call(self._remember(keys=_keys(tenant), args=args))

    async def claim(self, tenant: str, approval_id: str) -> str | None:
        found = await self._call(self._claim(keys=_keys(tenant), args=[approval_id, _now_ms()]))
        if found is None:
            return None
        return found.decode() if isinstance(found, bytes) else str(found)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _keys(tenant: str) -> list[str]:
    # A digest: a tenant (an API key's name, an IP) never reaches a key name as it is spelled.
    tag = hashlib.sha256(tenant.encode()).hexdigest()[:32]
    return [f"gateway:approvals:{{{tag}}}", f"gateway:approvals:{{{tag}}}:expiry"]
