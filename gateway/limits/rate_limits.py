"""Rate limits for the chat routes, with slowapi's Limiter over Redis or process memory.

slowapi's own glue is not used: its decorator checks synchronously on the event loop (one Redis
round trip blocks every stream), its ASGI middleware breaks streaming, and its default limits
skip APIRouter routes. The gateway calls the Limiter's rate-limit backend itself, from a worker
thread, with short Redis timeouts, and applies the limits explicitly on every chat route.

When Redis fails, `on_store_error: allow` falls back to per-process memory (logged once, shown
in /health/ready) and probes Redis every few seconds to resume shared counting; `deny` refuses
with a 503.

The counts (RateLimitCounts) outlive every config; the limits (ChatRateLimiter) are one
config's and never change, so a request counted under one config is not judged by the next.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import anyio
from limits import RateLimitItem, RateLimitItemPerMinute, parse
from slowapi import Limiter

from gateway.config import RateLimitOptions
from gateway.errors import StoreUnavailable
from gateway.limits.budgets import BudgetState, SpendBudget
from gateway.limits.spend_ledger import MemoryLedger, RedisLedger, SpendLedger

log = logging.getLogger("gateway.ratelimit")

PROBE_INTERVAL = 2.0  # seconds between Redis probes while degraded


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: RateLimitItem | None = None
    remaining: int = 0
    reset_at: float = 0.0
    scope: str = ""

    def headers(self) -> dict[str, str]:
        if self.limit is None:
            return {}
        headers = {
            "X-RateLimit-Limit": str(self.limit.amount),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.reset_at - time.time())))
        return headers


# Per-key limits are few and fixed; parse each once.
_parse_limit = functools.lru_cache(maxsize=1024)(parse)


def _unused_key_func() -> str:  # slowapi requires one; the gateway passes identities itself
    return ""


class RateLimitCounts:
    """The counts every config's limits share: in Redis (or process memory while it is down,
    or without Redis). Lives as long as the process; a reload keeps every count made."""

    def __init__(self, redis_url: str | None, timeout_seconds: float = 0.25) -> None:
        self.shared = redis_url is not None
        self._storage_uri = redis_url or "memory://"
        self._storage_options = _redis_options(redis_url, timeout_seconds) if redis_url else {}
        # Made on first use: a Redis Cluster client connects as it is made, and an unreachable
        # cluster must not stop the gateway from starting (it counts per process meanwhile).
        self._primary_limiter: Limiter | None = None
        self._fallback = Limiter(key_func=_unused_key_func, storage_uri="memory://")
        # limits' MemoryStorage.incr reads the counter again after letting go of its lock, so
        # two threads counting at once can both get the later count: one action at a time.
        self._memory_lock = threading.Lock()
        self._memory_ledger = MemoryLedger()
        self._redis_ledger: RedisLedger | None = None
        self._lock = threading.Lock()
        self.degraded = False
        self._next_probe = 0.0
        self._latest: ChatRateLimiter | None = None

    def limiter(self, limits: RateLimitOptions) -> ChatRateLimiter:
        """`limits` (one config's) over these counts; the same object while the config serves."""
        latest = self._latest
        if latest is None or latest.options is not limits:
            latest = self._latest = ChatRateLimiter(limits, self)
        return latest

    def run(self, action: Any, on_store_error: str, *args: Any) -> Any:
        """Run `action(limiter, *args)` on Redis, or on process memory while Redis is down."""
        if self.shared:
            self._maybe_recover()
            if not self.degraded:
                try:
                    return action(self._primary(), *args)
                except Exception as exc:
                    self._storage_failed(exc, on_store_error)
        with self._memory_lock:
            return action(self._fallback, *args)

    def ledger(self, limiter: Limiter) -> SpendLedger:
        if limiter is self._fallback:
            return self._memory_ledger
        if self._redis_ledger is None:
            with self._lock:
                if self._redis_ledger is None:
                    self._redis_ledger = RedisLedger(limiter.limiter.storage)
        return self._redis_ledger

    def _primary(self) -> Limiter:
        if self._primary_limiter is None:
            with self._lock:
                if self._primary_limiter is None:
                    self._primary_limiter = Limiter(
                        key_func=_unused_key_func,
                        storage_uri=self._storage_uri,
                        storage_options=self._storage_options,
                    )
        return self._primary_limiter

    def _storage_failed(self, exc: Exception, on_store_error: str) -> None:
        if on_store_error == "deny":
            log.warning("rate-limit store unavailable (%s): refusing", exc.__class__.__name__)
            raise StoreUnavailable(
                "the rate-limit store is unavailable; try again shortly",
                headers={"Retry-After": "5"},
            ) from None
        with self._lock:
            if not self.degraded:
                log.error(
                    "rate-limit store unavailable (%s): counting per process until it is back",
                    exc.__class__.__name__,
                )
                self.degraded = True
                self._next_probe = time.monotonic() + PROBE_INTERVAL

    def _maybe_recover(self) -> None:
        if not self.degraded or time.monotonic() < self._next_probe:
            return
        with self._lock:
            self._next_probe = time.monotonic() + PROBE_INTERVAL
        try:
            healthy = bool(self._primary().limiter.storage.check())
        except Exception:
            healthy = False
        if healthy:
            log.warning("rate-limit store is back: shared counting resumes")
            self.degraded = False


class ChatRateLimiter:
    """One config's limits, counted in the counts every config shares. Never changed: a
    request keeps the limits of the config it arrived under, whatever a reload does meanwhile."""

    def __init__(self, limits: RateLimitOptions, counts: RateLimitCounts) -> None:
        self.options = limits
        self._counts = counts
        self._default = _parse_limit(limits.default) if limits.default else None
        self._per_model = {m: _parse_limit(text) for m, text in limits.models.items()}
        self._tokens = limits.tokens_per_minute
        self._model_tokens = dict(limits.model_tokens_per_minute)
        self._on_store_error = limits.on_store_error

    @property
    def enabled(self) -> bool:
        return any((self._default, self._per_model, self._tokens, self._model_tokens))

    @property
    def needs_store(self) -> bool:
        """Whether requests are refused (503) while Redis is down: limits on, shared, `deny`."""
        return self.enabled and self._counts.shared and self._on_store_error == "deny"

    @property
    def degraded(self) -> bool:
        """Counting per process because Redis is down."""
        return self._counts.degraded

    async def check(self, client: str, model_id: str, override: str | None = None) -> Decision:
        """Count one request of `client` for `model_id`; the most constraining limit decides.

        `override` (a key's own limit) replaces the default limit for this client.
        """
        limits = self._limits(model_id, override)
        if not limits:
            return Decision(allowed=True)
        # In a worker thread: the limits backend is synchronous, Redis must not stall the loop.
        return await anyio.to_thread.run_sync(self._with_backend, _hit_all, client, limits)

    def _limits(self, model_id: str, override: str | None) -> list[tuple[str, RateLimitItem]]:
        chosen = []
        default = _parse_limit(override) if override else self._default
        if default is not None:
            chosen.append(("all", default))
        if model_id in self._per_model:
            chosen.append((f"model:{model_id}", self._per_model[model_id]))
        return chosen

    def _budgets(self, model_id: str, override: int | None) -> list[tuple[str, RateLimitItem]]:
        chosen = []
        per_client = override or self._tokens
        if per_client:
            chosen.append(("tokens", RateLimitItemPerMinute(per_client)))
        per_model = self._model_tokens.get(model_id)
        if per_model:
            chosen.append((f"tokens:model:{model_id}", RateLimitItemPerMinute(per_model)))
        return chosen

    async def check_budget(
        self, client: str, model_id: str, override: int | None = None
    ) -> Decision:
        """Refuse a client whose earlier answers used up a token budget (checked, not spent)."""
        budgets = self._budgets(model_id, override)
        if not budgets:
            return Decision(allowed=True)
        return await anyio.to_thread.run_sync(self._with_backend, _test_all, client, budgets)

    async def spend_tokens(
        self, client: str, model_id: str, tokens: int, override: int | None = None
    ) -> None:
        """Count an answer's tokens; the request after the one that crossed a budget is refused."""
        budgets = self._budgets(model_id, override)
        if budgets and tokens > 0:
            await anyio.to_thread.run_sync(self._with_backend, _spend_all, client, budgets, tokens)

    async def reserve_money(self, client: str, budget: SpendBudget, units: int) -> BudgetState:
        """Where `client` stands against its money budget; while within it, `units`
        (nano-dollars: what the call may cost) are reserved in the same atomic step."""
        return await anyio.to_thread.run_sync(
            self._with_backend, self._reserve, client, budget, units
        )

    async def settle_money(
        self, client: str, budget: SpendBudget, reserved: int, cost: int
    ) -> None:
        """Replace a reservation of `reserved` units by what the call cost (`cost` units)."""
        if reserved or cost:
            await anyio.to_thread.run_sync(
                self._with_backend, self._settle, client, budget, reserved, cost
            )

    def _reserve(
        self, limiter: Limiter, client: str, budget: SpendBudget, units: int
    ) -> BudgetState:
        key = _spend_key(client, budget)
        ledger = self._counts.ledger(limiter)
        spent, reset_at = ledger.reserve(key, budget.units, units, budget.seconds)
        return BudgetState(budget, budget.units - spent, reset_at)

    def _settle(
        self, limiter: Limiter, client: str, budget: SpendBudget, reserved: int, cost: int
    ) -> None:
        key = _spend_key(client, budget)
        self._counts.ledger(limiter).settle(key, reserved, cost, budget.seconds)

    def _with_backend(self, action: Any, *args: Any) -> Any:
        return self._counts.run(action, self._on_store_error, *args)


def _redis_options(redis_url: str, timeout_seconds: float) -> dict[str, Any]:
    """redis-py client options: a bounded wait per call, one reconnect for a closed connection.

    After a Redis restart (or a Sentinel failover) pooled connections are dead; redis-py's pool
    usually notices before it hands one out, and the single retry on ConnectionError covers the
    rest on a new connection (one to the new master, which the Sentinels name). Timeouts are not
    retried, so a paused or unreachable Redis costs one timeout, not a loop.

    `limits` passes these to redis.Redis, redis.cluster.RedisCluster, or redis.sentinel.Sentinel
    (for the master's connections). Every key it counts is one key per command (fixed window),
    so nothing crosses slots on a Cluster.
    """
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.retry import Retry

    options: dict[str, Any] = {
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
        "retry": Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
    }
    if redis_url.lower().startswith("redis+sentinel://"):
        # Counts are read back right after they are written: from the master, not a lagging
        # replica; and asking the Sentinels where the master is is bounded like the rest.
        options["use_replicas"] = False
        options["sentinel_kwargs"] = {
            "socket_timeout": timeout_seconds,
            "socket_connect_timeout": timeout_seconds,
        }
    return options


def _test_all(limiter: Limiter, client: str, budgets: list[tuple[str, RateLimitItem]]) -> Decision:
    backend = limiter.limiter
    for scope, item in budgets:
        stats = backend.get_window_stats(item, "chat", scope, client)
        if stats.remaining <= 0:
            return Decision(False, item, 0, stats.reset_time, scope)
    return Decision(allowed=True)


def _spend_all(
    limiter: Limiter, client: str, budgets: list[tuple[str, RateLimitItem]], tokens: int
) -> None:
    for scope, item in budgets:
        limiter.limiter.hit(item, "chat", scope, client, cost=tokens)


def _spend_key(client: str, budget: SpendBudget) -> str:
    # Named by the window length, not the amount: raising a key's budget keeps what it spent.
    return f"gateway/spend/{client}/{budget.duration}"


def _hit_all(limiter: Limiter, client: str, limits: list[tuple[str, RateLimitItem]]) -> Decision:
    storage = limiter.limiter.storage
    tightest: Decision | None = None
    for scope, item in limits:
        # The fixed window's hit, keeping the count this hit made: reading the window again
        # (get_window_stats) would see the hits of every request counted meanwhile.
        key = item.key_for("chat", scope, client)
        count = storage.incr(key, item.get_expiry())
        allowed = count <= item.amount
        decision = Decision(allowed, item, item.amount - count, storage.get_expiry(key), scope)
        if not allowed:
            return decision
        if tightest is None or decision.remaining < tightest.remaining:
            tightest = decision
    return tightest or Decision(allowed=True)
