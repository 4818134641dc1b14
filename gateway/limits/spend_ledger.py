"""What a key has spent against its money budget: reserved before a call, settled after it.

Checked before a call and counted after it, a budget lets every request that arrives while
the others are still running pass the check: 50 concurrent requests once spent twelve times a
$0.05 budget. Here the check and the reservation of the call's estimated cost are one atomic
step in the store, so a request sees the reservations of every call in flight; when its call
ends, its real cost replaces its reservation (what was reserved and not spent is refunded).

The count is one integer per key and window (nano-dollars), kept where the rate limits are:
in Redis (one Lua script per step, on one key, so a Cluster is fine) or in process memory.
A window starts with the first reservation that opens it and lasts `seconds`; a count that
settles back to nothing (every call in it failed) is dropped, so the next reservation opens
a new one, as if nothing had happened.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

# KEYS[1]: the count. ARGV: the budget, the units to reserve, the window in seconds.
# Returns {spent before this reservation, seconds left in the window (-2: none)}; reserves
# only when what was spent (reservations included) is below the budget.
_RESERVE = """
local current = redis.call('get', KEYS[1])
local spent = tonumber(current or '0')
local units = tonumber(ARGV[2])
if spent < tonumber(ARGV[1]) and units > 0 then
  if current then
    redis.call('incrby', KEYS[1], units)
  else
    redis.call('set', KEYS[1], units, 'EX', ARGV[3])
  end
end
return {spent, redis.call('ttl', KEYS[1])}
"""

# KEYS[1]: the count. ARGV: the units reserved, the units the call cost, the window in seconds.
_SETTLE = """
local reserved, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
if redis.call('exists', KEYS[1]) == 0 then
  if cost > 0 then
    redis.call('set', KEYS[1], cost, 'EX', ARGV[3])
  end
elseif redis.call('incrby', KEYS[1], cost - reserved) <= 0 then
  redis.call('del', KEYS[1])
end
return 0
"""


class SpendLedger(Protocol):
    def reserve(self, key: str, budget: int, units: int, seconds: int) -> tuple[int, float | None]:
        """Reserve `units` if what `key` has spent is below `budget`: (spent before, window end).

        The reservation is made only when the spend was below the budget; the caller admits
        the request on the same condition."""
        ...

    def settle(self, key: str, reserved: int, cost: int, seconds: int) -> None:
        """Replace a reservation of `reserved` units by the call's `cost`.

        If the window the reservation was made in has ended, the cost opens the next one."""
        ...


class RedisLedger:
    """The ledger in Redis, on the rate limits' own connection (and key prefix)."""

    def __init__(self, storage: Any) -> None:
        # `limits`' RedisStorage (plain, Sentinel or Cluster): its connection to the master.
        connection = storage.get_connection()
        self._prefixed = storage.prefixed_key
        self._reserve = connection.register_script(_RESERVE)
        self._settle = connection.register_script(_SETTLE)

    def reserve(self, key: str, budget: int, units: int, seconds: int) -> tuple[int, float | None]:
        spent, ttl = self._reserve([self._prefixed(key)], [budget, units, seconds])
        return int(spent), time.time() + int(ttl) if int(ttl) > 0 else None

    def settle(self, key: str, reserved: int, cost: int, seconds: int) -> None:
        self._settle([self._prefixed(key)], [reserved, cost, seconds])


class MemoryLedger:
    """The ledger in process memory: the same steps under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}  # key: (units, when the window ends)

    def _live(self, key: str) -> tuple[int, float] | None:
        found = self._counts.get(key)
        if found is not None and found[1] <= time.time():
            del self._counts[key]
            return None
        return found

    def reserve(self, key: str, budget: int, units: int, seconds: int) -> tuple[int, float | None]:
        with self._lock:
            found = self._live(key)
            spent, ends = found if found is not None else (0, None)
            if spent < budget and units > 0:
                ends = ends if ends is not None else time.time() + seconds
                self._counts[key] = (spent + units, ends)
            return spent, ends

    def settle(self, key: str, reserved: int, cost: int, seconds: int) -> None:
        with self._lock:
            found = self._live(key)
            if found is None:
                if cost > 0:
                    self._counts[key] = (cost, time.time() + seconds)
                return
            spent, ends = found
            if spent + cost - reserved <= 0:
                del self._counts[key]
            else:
                self._counts[key] = (spent + cost - reserved, ends)
