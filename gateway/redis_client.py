"""The one way this gateway opens Redis: short timeouts, and one retry of a dead connection."""

from __future__ import annotations

from typing import Any


def connect(url: str, timeout_seconds: float | None) -> Any:
    """A redis.asyncio client; `timeout_seconds` None for connections that block on purpose
    (pub/sub listeners, XREAD BLOCK), which bound their own waits."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    return Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds or 5.0,
        # After a Redis restart every pooled connection is dead, and redis-py's RESP3 pool
        # hands them out unchecked: retry a closed connection once, on a new one, at once.
        # Timeouts are not retried, so a paused or unreachable Redis still fails fast.
        retry=Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
    )


def describe(exc: BaseException) -> str:
    """What went wrong, without the text: it may carry the URL (and a password in it)."""
    return "timed out" if isinstance(exc, TimeoutError) else exc.__class__.__name__
