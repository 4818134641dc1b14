"""Many requests sent at once, each on its own connection, as a crowd of clients sends them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


def post_at_once(
    url: str, path: str, count: int, json: Any, headers: dict[str, str] | None = None
) -> list[httpx.Response]:
    """POST `json` to `path` `count` times concurrently; the responses, in the order sent."""

    async def crowd() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
            return list(
                await asyncio.gather(
                    *(client.post(path, json=json, headers=headers) for _ in range(count))
                )
            )

    return asyncio.run(crowd())
