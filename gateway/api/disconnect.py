"""Work for one JSON answer, cancelled the moment its client hangs up.

A streamed answer learns of a disconnect when a write fails; a JSON answer writes nothing
until it is ready, so without a watch a client that gave up would still have the provider
called to the end (and paid for). The watch reads the ASGI channel, which after the body says
only one thing more: `http.disconnect`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from fastapi import Request

T = TypeVar("T")


class ClientGone(Exception):
    """The client hung up before its answer was ready; the work was cancelled."""


async def unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """`work`'s result; ClientGone (and `work` cancelled) if the client leaves first."""
    task = asyncio.create_task(work)
    watch = asyncio.create_task(_disconnected(request))
    try:
        await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        watch.cancel()
    if task.done():  # ready, even if the client left in the same instant: take the answer
        return task.result()
    task.cancel()
    # Wait for the cancelled work to unwind, so the provider's connection is closed now.
    await asyncio.gather(task, return_exceptions=True)
    raise ClientGone


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
