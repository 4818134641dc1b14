"""What a request allows the response cache: whose answers it may see, and Cache-Control."""

from __future__ import annotations

from fastapi import Request

from gateway.cache import CacheDirective


def cache_directive(request: Request, client: str) -> CacheDirective:
    """`no-cache` (or `max-age=0`): don't answer from the cache; `no-store`: don't keep this one.

    The tenant is the API key (or the client IP when the gateway runs without keys), so with
    `scope: per-key` one client's answers are never served to another.
    """
    tokens = {
        token.strip().lower().replace(" ", "")
        for token in request.headers.get("cache-control", "").split(",")
    }
    return CacheDirective(
        tenant=client,
        read=not tokens & {"no-cache", "max-age=0"},
        write="no-store" not in tokens,
    )
