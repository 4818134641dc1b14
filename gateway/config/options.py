"""The `gateway:` section's schema: the options of this gateway, as pydantic models.

pydantic checks each field; the validator (validation.py) turns its errors into problems with
the file's line numbers.
"""

from __future__ import annotations

import ipaddress
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class RateLimitOptions(BaseModel):
    """`gateway.rate_limit`: limits like `60/minute`, per client on every chat route."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: str | None = None
    models: dict[str, str] = Field(default_factory=dict)
    # Token budgets per client per minute, counted from the usage each answer reports.
    tokens_per_minute: int | None = Field(default=None, ge=1)
    model_tokens_per_minute: dict[str, int] = Field(default_factory=dict)
    on_store_error: Literal["allow", "deny"] = "allow"
    # Proxies (addresses or networks like 172.16.0.0/12) whose X-Forwarded-For is believed when
    # the client is identified by IP.
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("default")
    @classmethod
    def _check_default(cls, value: str | None) -> str | None:
        return _valid_limit(value) if value is not None else None

    @field_validator("models")
    @classmethod
    def _check_models(cls, value: dict[str, str]) -> dict[str, str]:
        return {model_id: _valid_limit(text) for model_id, text in value.items()}

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for text in value:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(f"{text!r} is not an IP address or network") from None
        return value

    def trusts(self, address: str) -> bool:
        """Is `address` one of the trusted proxies?"""
        return _in_networks(address, tuple(self.trusted_proxies))


@cache
def _networks(texts: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(text, strict=False) for text in texts)


def _in_networks(address: str, texts: tuple[str, ...]) -> bool:
    if not texts:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(texts))


def _valid_limit(text: str) -> str:
    from limits import parse

    try:
        parse(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate limit like '60/minute' or '1000/day'") from None
    return text


class CacheOptions(BaseModel):
    """`gateway.cache`: exact-match answers for the listed model IDs, kept `ttl` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttl: int | None = Field(default=None, ge=1)
    models: list[str] = Field(default_factory=list)
    # per-key: one client's answers are never served to another; shared: any client may hit.
    scope: Literal["per-key", "shared"] = "per-key"
    # Bound of the in-process store (used when REDIS_URL is unset), in answers.
    max_entries: int = Field(default=1000, ge=1)

    @model_validator(mode="after")
    def _ttl_when_enabled(self) -> CacheOptions:
        if self.models and self.ttl is None:
            raise ValueError("ttl is required when models are listed (seconds, e.g. 3600)")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.models)


class ChatOptions(BaseModel):
    """`gateway.chats`: history kept by chat id, and answers that outlive their connection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Off: a request's `id` is ignored and every request carries its whole history, as before.
    enabled: bool = True
    # Seconds a chat is kept after its last change.
    ttl: int = Field(default=7 * 24 * 3600, ge=60)
    # Stored UI messages per chat; a request that would go over it is refused (413).
    max_messages: int = Field(default=200, ge=2, le=10_000)
    # Bytes of one chat's stored messages, or of one stored response (JSON); over it is 413.
    max_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # Resumable: an answer runs on when its client disconnects, its events are kept (in Redis
    # when REDIS_URL is set) and GET /api/chat/{id}/stream follows it from any replica. Off: a
    # disconnect cancels the provider call at once, as for requests without an id.
    resumable: bool = True
    # Seconds a resumable answer may run with nobody reading it before it is stopped.
    unread_timeout: float = Field(default=120.0, gt=0, le=3600)
    # Resumable answers one client (API key, or IP without keys) may have running with nobody
    # reading them, per process; a new answer beyond it is refused (429), and one left unread
    # beyond it is stopped. Each holds a provider stream open until `unread_timeout`.
    max_unread_answers: int = Field(default=32, ge=1, le=100_000)
    # Seconds an answer's events stay readable after it ends.
    stream_ttl: int = Field(default=600, ge=10)
    # Seconds a finished answer keeps trying to be stored while the chat store fails (a slow
    # or failing-over Redis); after that its readers are told it was not stored.
    store_retry: float = Field(default=30.0, ge=0, le=600)
    # Chats and stored responses kept in process memory when REDIS_URL is unset, shared fairly
    # by their clients: when full, the client holding the most loses its least recently used.
    max_chats_in_memory: int = Field(default=1000, ge=1)
    # When the chat store cannot be reached: `refuse` (503) or `answer` from the request alone,
    # storing nothing.
    on_store_failure: Literal["refuse", "answer"] = "refuse"


StreamReader = Literal["lean", "litellm"]


class GatewayOptions(BaseModel):
    """The `gateway:` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Tools offered to every model unless its entry says otherwise (`tools:` on the entry).
    tools: list[str] = Field(default_factory=list)
    # Modules to import so their @tool functions register (entry points load by themselves).
    tool_modules: list[str] = Field(default_factory=list)
    # Options handed to a tool as ToolContext.options, by tool name.
    tool_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    max_tool_steps: int = Field(default=5, ge=1, le=50)
    # Tools (names or patterns) whose every call waits for a person's approval, besides those
    # marked so by their code (`@tool(needs_approval=True)`) or server (`require_approval`).
    require_approval: list[str] = Field(default_factory=list)
    # Seconds an approval request stays answerable; approvals asked and not yet answered kept
    # per client (API key, or IP without keys): past it the oldest is forgotten.
    approval_ttl: int = Field(default=3600, ge=10, le=30 * 24 * 3600)
    max_pending_approvals: int = Field(default=100, ge=1, le=10_000)
    # The answer reserved against a key's spend budget when the request sets no max_tokens.
    budget_answer_tokens: int = Field(default=4096, ge=1, le=2**31 - 1)
    # How streams from OpenAI-shaped providers are read: `lean` reads the provider's own chunks
    # below LiteLLM's per-chunk wrapper (a fraction of its CPU); `litellm` keeps the wrapper (and
    # the stream callbacks it runs). An entry's own `stream_reader` wins.
    stream_reader: StreamReader = "lean"
    rate_limit: RateLimitOptions = Field(default_factory=RateLimitOptions)
    tool_timeout: float = Field(default=10.0, gt=0, le=600)
    cache: CacheOptions = Field(default_factory=CacheOptions)
    chats: ChatOptions = Field(default_factory=ChatOptions)
