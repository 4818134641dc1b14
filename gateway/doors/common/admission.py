"""Admission for the chat routes: who the client is, and whether the request is within limits.

Plain functions of what they are given; the dependencies that give it are in dependencies.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from fastapi import Request

from gateway.auth import ApiKey, KeyStore
from gateway.errors import (
    BudgetExceeded,
    InvalidRequest,
    RateLimited,
    RequestTooLarge,
    TokenBudgetExceeded,
    Unauthorized,
)
from gateway.events import Event, Finish, StepFinish, Usage
from gateway.limits.budgets import BudgetState, to_units
from gateway.limits.rate_limits import ChatRateLimiter
from gateway.observability import metrics
from gateway.settings import Settings
from gateway.upstream.pricing import PriceList


def authenticate(request: Request, keys: KeyStore) -> ApiKey | None:
    """The request's API key (None when the gateway has none), or 401. Left in
    request.state.api_key too, where the request log finds it."""
    request.state.api_key = None
    if keys.is_open:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    # Anthropic's SDKs (and the tools built on them) send the key as `x-api-key`.
    token = token or request.headers.get("x-api-key", "").strip()
    if not token:
        raise Unauthorized(
            "an API key is required: send the header 'Authorization: Bearer <key>' "
            "(or 'x-api-key: <key>')"
        )
    key = keys.authenticate(token)
    if key is None:
        raise Unauthorized("the API key is not valid")
    request.state.api_key = key
    return key


async def admit(
    limiter: ChatRateLimiter,
    key: ApiKey | None,
    client: str,
    model_id: str,
    meter: Meter,
    cost: Callable[[], float],
) -> dict[str, str]:
    """Count this request against the client's limits; 429 with the limit named when over.

    A key with a spend budget has `cost()` (what the call may cost) reserved on `meter`, which
    settles it when the call has run. Returns the headers that say where the client stands
    (rate limit, spend budget).
    """
    override = key.rate_limit if key is not None else None
    decision = await limiter.check(client, model_id, override)
    if not decision.allowed:
        metrics.RATE_LIMIT_REFUSALS.labels(model_id, "requests").inc()
        headers = decision.headers()
        scope = f" for model '{model_id}'" if decision.scope.startswith("model:") else ""
        raise RateLimited(
            f"rate limit exceeded: {decision.limit}{scope}; retry after {headers['Retry-After']} s",
            headers=headers,
        )
    budget = await limiter.check_budget(client, model_id, _key_tokens(key))
    if not budget.allowed:
        metrics.RATE_LIMIT_REFUSALS.labels(model_id, "tokens").inc()
        headers = budget.headers()
        raise TokenBudgetExceeded(
            f"token budget used up: {budget.limit} tokens; retry after {headers['Retry-After']} s",
            headers=headers,
        )
    headers = decision.headers()
    spend = await meter.reserve(cost)
    if spend is not None:
        if not spend.allowed:
            metrics.RATE_LIMIT_REFUSALS.labels(model_id, "budget").inc()
            raise BudgetExceeded(spend.refusal(), headers=spend.headers())
        headers.update(spend.headers())
    return headers


def _key_tokens(key: ApiKey | None) -> int | None:
    return key.tokens_per_minute if key is not None else None


class Meter:
    """What a request's model calls cost and is not yet counted: tokens for the token budgets,
    US dollars for the spend metric and the key's money budget. Cache hits cost nothing.

    For a key with a money budget, what the call may cost is reserved before it runs (see
    gateway/limits/spend_ledger.py); the first settle replaces the reservation by the real cost."""

    def __init__(
        self,
        limiter: ChatRateLimiter,
        key: ApiKey | None,
        client: str,
        model_id: str,
        prices: PriceList,
    ) -> None:
        self._limiter = limiter
        self._key_tokens = _key_tokens(key)
        self._budget = key.budget if key is not None else None
        self._client = client
        self._model_id = model_id
        self._prices = prices
        self.tokens = 0
        self.dollars = 0.0
        self._reserved = 0  # nano-dollars

    async def reserve(self, cost: Callable[[], float]) -> BudgetState | None:
        """Where the key stands against its money budget (None: it has none); while within it,
        `cost()` is reserved, at most the whole budget."""
        if self._budget is None:
            return None
        # Counting a long prompt's tokens is CPU work: off the event loop.
        units = min(to_units(await anyio.to_thread.run_sync(cost)), self._budget.units)
        state = await self._limiter.reserve_money(self._client, self._budget, units)
        if state.allowed:
            self._reserved = units
        return state

    def add(self, usage: Usage, deployment: str | None = None) -> None:
        if usage.cached:
            return
        self.tokens += usage.total_tokens
        self.dollars += self._prices.cost(self._model_id, deployment, usage)

    @property
    def pending(self) -> bool:
        return bool(self.tokens or self.dollars or self._reserved)

    async def settle(self) -> None:
        """Count what was added since the last settle (and refund what was reserved)."""
        tokens, dollars, reserved = self.tokens, self.dollars, self._reserved
        self.tokens, self.dollars, self._reserved = 0, 0.0, 0
        if dollars:
            metrics.SPEND.labels(self._model_id).inc(dollars)
        if tokens:
            await self._limiter.spend_tokens(self._client, self._model_id, tokens, self._key_tokens)
        if self._budget is not None:
            await self._limiter.settle_money(
                self._client, self._budget, reserved, to_units(dollars)
            )


async def metered(meter: Meter, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """Pass events through; count what every finished model call cost.

    Counted before the answer's Finish goes out, so a client that has read the finish and asks
    again is already counted; and however else the answer ends (an error after finished tool
    steps, a client gone mid-answer), in the end: a call that failed refunds its reservation.
    """
    try:
        async for event in events:
            if isinstance(event, StepFinish):
                meter.add(event.usage, event.deployment)
            elif isinstance(event, Finish) and meter.pending:
                await meter.settle()
            yield event
    finally:
        await events.aclose()
        if meter.pending:
            # A client that hung up cancels this task; the spend must still happen.
            with anyio.CancelScope(shield=True):
                await meter.settle()


def allowed_models(key: ApiKey | None) -> frozenset[str] | None:
    """The model IDs `key` may use; None when any (or when auth is off)."""
    return key.models if key is not None else None


def allowed_tools(key: ApiKey | None) -> tuple[str, ...] | None:
    """The tools (names, patterns) `key` may be offered and run; None when any."""
    return key.tools if key is not None else None


def client_identity(request: Request, key: ApiKey | None, trusts: Callable[[str], bool]) -> str:
    """The API key when auth is on; else the client IP, via X-Forwarded-For from the proxies
    `trusts` names (the request's config's `rate_limit.trusted_proxies`)."""
    if key is not None:
        return str(key.tenant)
    return f"ip:{client_address(request, trusts)}"


def client_address(request: Request, trusts: Callable[[str], bool]) -> str:
    """The client's IP: the peer's, or behind a trusted proxy the one X-Forwarded-For names."""
    peer = request.client.host if request.client else "unknown"
    if trusts(peer):
        forwarded = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",")]
        # The rightmost address a trusted proxy did not add is the client.
        for hop in reversed([hop for hop in forwarded if hop]):
            if not trusts(hop):
                return hop
    return peer


def check_request_size(messages: list[dict[str, Any]], settings: Settings) -> None:
    """Refuse conversations over the configured message count or total characters.

    `messages` is everything the call sends the model, history from a chat or a stored
    response included, so a conversation cannot grow past the cap a turn at a time."""
    if len(messages) > settings.max_messages:
        raise InvalidRequest(
            f"messages: {len(messages)} messages is over the limit of {settings.max_messages}"
        )
    total = _characters(messages)
    if total > settings.max_total_chars:
        raise RequestTooLarge(
            f"messages hold {total} characters, over the limit of {settings.max_total_chars} "
            "(GATEWAY_MAX_TOTAL_CHARS)"
        )


# Keys whose values name the message's structure (`role: user`, `type: image_url`).
_STRUCTURE_KEYS = frozenset({"role", "type"})


def _characters(value: Any) -> int:
    """Characters of every string in `value`: text, tool-call names and arguments, tool
    results, image URLs, file data, ids; not the structure's names (`role`, `type`)."""
    total = 0
    pending = [value]  # a list, not recursion: a deeply nested value cannot overflow the stack
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            pending.extend(v for k, v in item.items() if k not in _STRUCTURE_KEYS)
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return total
