"""The chat answers this process runs (Generations): by stream id and by client, the stop
requests that reach them from any replica, the cap on answers nobody reads, and their end at
shutdown."""

from __future__ import annotations

import asyncio
import math
import time

from gateway import tasks
from gateway.chats.generation import Generation
from gateway.chats.store import ChatStore
from gateway.config import ChatOptions
from gateway.errors import TooManyUnreadAnswers


class Generations:
    """The answers running in this process, by stream id and by client; hears stop requests
    for them, and keeps each client within `max_unread_answers` answers nobody reads."""

    def __init__(self) -> None:
        self._running: dict[str, Generation] = {}
        self._by_owner: dict[str, set[Generation]] = {}
        self._listener: asyncio.Task[None] | None = None

    def add(self, generation: Generation) -> None:
        self._running[generation.stream_id] = generation
        self._by_owner.setdefault(generation.owner, set()).add(generation)

    def discard(self, generation: Generation) -> None:
        if self._running.get(generation.stream_id) is generation:
            del self._running[generation.stream_id]
        owned = self._by_owner.get(generation.owner)
        if owned is not None:
            owned.discard(generation)
            if not owned:
                del self._by_owner[generation.owner]

    def get(self, stream_id: str) -> Generation | None:
        return self._running.get(stream_id)

    def __len__(self) -> int:
        return len(self._running)

    def unread(self, owner: str) -> list[Generation]:
        """`owner`'s answers running here that nobody reads."""
        return [g for g in self._by_owner.get(owner, ()) if g.unread]

    def check_unread_cap(self, owner: str, options: ChatOptions) -> None:
        """TooManyUnreadAnswers (429) if `owner` already has the most unread answers allowed."""
        unread = self.unread(owner)
        cap = options.max_unread_answers
        if len(unread) < cap:
            return
        soonest = min(g.unread_until for g in unread) - time.monotonic()
        raise TooManyUnreadAnswers(
            f"this client has {len(unread)} chat answers running that nobody reads, the most "
            f"allowed (gateway.chats.max_unread_answers: {cap}): read or stop one of them, "
            "or wait until they end",
            headers={"Retry-After": str(max(1, math.ceil(soonest)))},
        )

    def left_unread(self, generation: Generation) -> None:
        """Nobody reads `generation` now: stop it if that puts its client over the cap (answers
        admitted together can each be left unread afterwards)."""
        if len(self.unread(generation.owner)) > generation.options.max_unread_answers:
            generation.stop("over_cap")

    def listen(self, store: ChatStore) -> None:
        """Stop the local answer named by any stop request published to `store`."""
        if self._listener is None:
            self._listener = tasks.spawn(self._listen(store), "chat_stop_listener")

    async def _listen(self, store: ChatStore) -> None:
        async for stream_id in store.stop_requests():
            generation = self._running.get(stream_id)
            if generation is not None:
                generation.stop("requested")

    async def aclose(self, grace_seconds: float) -> None:
        """Stop listening; let running answers end within `grace_seconds`, then stop them, and
        end what is left of their tasks (one still storing its message is cut)."""
        if self._listener is not None:
            await tasks.end(self._listener)
        running = list(self._running.values())
        if not running:
            return
        if not await _all_ended(running, grace_seconds):
            for generation in running:
                generation.stop("requested")
            await _all_ended(running, tasks.END_WAIT_SECONDS)
        await asyncio.gather(*(generation.end() for generation in running))


async def _all_ended(generations: list[Generation], seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await asyncio.gather(*(generation.wait() for generation in generations))
    except TimeoutError:
        return False
    return True
