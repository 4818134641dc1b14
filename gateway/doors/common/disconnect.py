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

from gateway import tasks

T = TypeVar("T")


class ClientGone(Exception):
    """The client hung up before its answer was ready; the work was cancelled."""


async def unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """`work`'s result; ClientGone (and `work` cancelled) if the client leaves first."""
    task = tasks.spawn(work, "json_answer")
    watch = tasks.spawn(_disconnected(request), "disconnect_watch")
    try:
        await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
        # Ready, even if the client left in the same instant: take the answer.
        finished = task.done()
    finally:
        await tasks.end(watch)
        # The client left (or this request was cancelled): wait for the cancelled work to
        # unwind, so the provider's connection is closed now.
        await tasks.end(task)
    if not finished:
        if not task.cancelled():
            task.exception()  # what it raised as it was cancelled: nobody is left to tell
        raise ClientGone
    return task.result()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
