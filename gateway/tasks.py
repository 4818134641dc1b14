"""Background tasks: each one started here, counted while it lives, and ended by its owner.

A task nobody ends is a leak nobody sees: it keeps its loop, its Redis calls and its memory
after whatever started it is gone. So every task the gateway starts in the background comes
from `spawn` (counted in `gateway_background_tasks{kind}` until it ends, whichever way), and
its owner ends it with `end`: cancel it, then wait until it has really ended.

Waiting matters because a cancel can be lost. Code that catches CancelledError does it on
purpose; Python 3.11's `asyncio.wait_for` does it by accident: a cancel that arrives just as
the awaited call completes is dropped and the call's result returned (CPython gh-86296), and
redis-py still uses `wait_for` for its socket writes. `end` cancels again while the task runs
on, for a bounded time, and says so in the log if the task outlived it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from gateway.observability import metrics

log = logging.getLogger("gateway.tasks")

T = TypeVar("T")

# How long `end` waits for a cancelled task, and how often it cancels it again meanwhile.
END_WAIT_SECONDS = 5.0
RECANCEL_SECONDS = 0.1


def spawn(work: Coroutine[Any, Any, T], kind: str, name: str | None = None) -> asyncio.Task[T]:
    """Run `work` in a task of its own, counted under `kind` until it ends."""
    alive = metrics.BACKGROUND_TASKS.labels(kind)
    task = asyncio.create_task(work, name=name or kind)
    alive.inc()
    task.add_done_callback(lambda _: alive.dec())
    return task


async def end(task: asyncio.Task[Any], within: float = END_WAIT_SECONDS) -> bool:
    """Cancel `task` and return once it has ended (True), cancelling again while it runs on.

    False, and an error logged, if it was still running after `within` seconds. A cancel of
    the caller meanwhile waits for the task too, then goes on. What the task raised is left on
    it for an owner that wants it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    owner_cancelled = False
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.error("background task %s did not end when cancelled", task.get_name())
            break
        task.cancel()
        try:
            await asyncio.wait((task,), timeout=min(RECANCEL_SECONDS, remaining))
        except asyncio.CancelledError:
            owner_cancelled = True  # first make sure the task ends, then end the owner
    if owner_cancelled:
        raise asyncio.CancelledError
    return task.done()


class OwnedTasks:
    """The background tasks of one owner, which it ends all together when it closes."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(
        self, work: Coroutine[Any, Any, T], kind: str, name: str | None = None
    ) -> asyncio.Task[T]:
        task = spawn(work, kind, name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        """The tasks still running."""
        return iter(list(self._tasks))

    async def end(self) -> None:
        """End every task still running (each leaves the set as it ends)."""
        await asyncio.gather(*(end(task) for task in list(self._tasks)))
