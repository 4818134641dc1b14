"""The chats of this process: the store, the answers running here, and what a door asks of them.

Every call takes the client (`owner`); to another client a chat reads as none at all, so no
read route can tell another tenant's chat from one that does not exist (a change to it is a
ChatNotFound, as for a regenerate of an unknown id). Store failures come out as
ChatStoreUnavailable (the door decides whether to answer without history instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from gateway.cache.stores import StoreFailed
from gateway.chats.generation import Generation, alive_ttl
from gateway.chats.history import owned, visible
from gateway.chats.running_answers import Generations
from gateway.chats.store import ActiveStream, Chat, ChatStore, same_stream
from gateway.config import ChatOptions
from gateway.errors import ChatBusy, ChatNotFound, ChatStoreUnavailable, UpstreamIncomplete
from gateway.event_codec import CorruptEvent, decode_event
from gateway.events import Event, Finish
from gateway.serving.lifecycle import Drain

log = logging.getLogger("gateway.chats")

# How long a stop waits to see the answer end (and its partial message stored).
STOP_WAIT_SECONDS = 5.0
# A logged stream that has been quiet this long is checked for a live producer.
QUIET_CHECK_SECONDS = 3.0

GONE_MESSAGE = "the replica producing this answer stopped before it finished"


class Chats:
    def __init__(self, store: ChatStore, *, shared: bool, drain: Drain) -> None:
        self.store = store
        # Shared: other processes read this store (Redis), so events are logged for them.
        self.shared = shared
        self.drain = drain
        self.running = Generations()

    def start(self) -> None:
        """Listen for stop requests (call once the event loop runs)."""
        self.running.listen(self.store)

    async def load(self, chat_id: str, owner: str) -> Chat | None:
        try:
            return visible(await self.store.load(chat_id), owner)
        except StoreFailed as exc:
            raise ChatStoreUnavailable(f"the chat store is unavailable ({exc})") from None

    async def change(self, chat_id: str, edit: Any, options: ChatOptions) -> Chat | None:
        try:
            return await self.store.change(chat_id, edit, options.ttl)
        except StoreFailed as exc:
            raise ChatStoreUnavailable(f"the chat store is unavailable ({exc})") from None

    async def is_running(self, chat_id: str, active: ActiveStream) -> bool:
        """Is the chat's active stream still being produced, here or on another replica?"""
        if self.running.get(active.stream_id) is not None:
            return True
        if not self.shared:
            return False
        try:
            return await self.store.has_flag(chat_id, f"alive:{active.stream_id}")
        except StoreFailed:
            return True  # cannot tell: do not take over a chat that may still be answering

    async def running_answer(
        self, chat_id: str, chat: Chat, options: ChatOptions
    ) -> ActiveStream | None:
        """The chat's active stream while an answer still produces it. One nobody produces
        (its replica died, or its end could not be stored) is cleared, and None returned."""
        if chat.active is None:
            return None
        if await self.is_running(chat_id, chat.active):
            return chat.active
        await self._clear_if_active(chat_id, chat.active, options)
        return None

    def check_unread_cap(self, owner: str, options: ChatOptions) -> None:
        """429 if `owner` has `max_unread_answers` answers running here that nobody reads."""
        if options.resumable:
            self.running.check_unread_cap(owner, options)

    async def reserve(
        self,
        chat_id: str,
        owner: str,
        history: list[dict[str, Any]],
        active: ActiveStream,
        stale: str | None,
        options: ChatOptions,
    ) -> None:
        """Store `history` with `active` as the chat's answer in progress, atomically.

        `stale` is the active stream the caller found dead (or None); any other one still
        active means a second answer raced this one in: ChatBusy."""

        def edit(chat: Chat | None) -> Chat:
            owned(chat, owner)
            if chat is not None and chat.active is not None and chat.active.stream_id != stale:
                raise ChatBusy("this chat is still answering; stop it before sending more")
            return Chat(owner, history, active)

        if self.shared:
            # Alive before any replica can see it active: one finding it before the answer's
            # first heartbeat must not take it for dead.
            try:
                await self.store.set_flag(chat_id, f"alive:{active.stream_id}", alive_ttl(options))
            except StoreFailed as exc:
                raise ChatStoreUnavailable(f"the chat store is unavailable ({exc})") from None
        await self.change(chat_id, edit, options)

    def begin(
        self,
        chat_id: str,
        owner: str,
        active: ActiveStream,
        events: AsyncIterator[Event],
        options: ChatOptions,
        continued: dict[str, Any] | None = None,
    ) -> Generation:
        """`continued`: the stored message this answer goes on in (paused for approvals)."""
        generation = Generation(
            chat_id=chat_id,
            owner=owner,
            active=active,
            store=self.store,
            shared_store=self.shared,
            options=options,
            drain=self.drain,
            registry=self.running,
            continued=continued,
        )
        generation.start(events)
        return generation

    def follow(
        self, chat_id: str, active: ActiveStream, options: ChatOptions
    ) -> AsyncIterator[Event] | None:
        """The active stream's events from its first, live to its end; None if unreadable."""
        local = self.running.get(active.stream_id)
        if local is not None:
            return local.follow()
        if self.shared:
            return self._follow_logged(chat_id, active, options)
        return None

    async def _follow_logged(
        self, chat_id: str, active: ActiveStream, options: ChatOptions
    ) -> AsyncIterator[Event]:
        """Read another replica's answer from its event log, saying we read it."""
        cursor = "0"
        quiet_since = time.monotonic()
        marked_at = 0.0
        try:
            while True:
                now = time.monotonic()
                if now - marked_at > 1.0:
                    marked_at = now
                    await self.store.set_flag(
                        chat_id, f"read:{active.stream_id}", options.unread_timeout
                    )
                cursor, lines = await self.store.read_events(
                    chat_id, active.stream_id, cursor, wait=1.0
                )
                for line in lines:
                    event = decode_event(line)
                    yield event
                    if isinstance(event, Finish):
                        return
                if lines:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > QUIET_CHECK_SECONDS:
                    quiet_since = time.monotonic()
                    if not await self._produced(chat_id, active):
                        await self._clear_if_active(chat_id, active, options)
                        yield UpstreamIncomplete(GONE_MESSAGE).as_event()
                        yield Finish("error")
                        return
        except (StoreFailed, CorruptEvent) as exc:
            yield ChatStoreUnavailable(f"the chat store is unavailable ({exc})").as_event()
            yield Finish("error")

    async def _produced(self, chat_id: str, active: ActiveStream) -> bool:
        """Is someone still producing `active` (alive, and still the chat's answer)?"""
        if not await self.store.has_flag(chat_id, f"alive:{active.stream_id}"):
            return False
        chat = await self.store.load(chat_id)
        return chat is not None and same_stream(chat.active, active)

    async def _clear_if_active(
        self, chat_id: str, active: ActiveStream, options: ChatOptions
    ) -> None:
        def edit(chat: Chat | None) -> Chat | None:
            if chat is None or not same_stream(chat.active, active):
                return chat
            return Chat(chat.owner, chat.messages, None)

        with contextlib.suppress(StoreFailed):
            await self.store.change(chat_id, edit, options.ttl)

    async def stop(
        self,
        chat_id: str,
        active: ActiveStream,
        partial: dict[str, Any] | None,
        options: ChatOptions,
    ) -> None:
        """Stop the answer wherever it runs; wait (bounded) until it has stored what it said.

        If no replica produces it any more, the client's `partial` message is stored instead."""
        local = self.running.get(active.stream_id)
        if local is not None:
            local.stop("requested")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_WAIT_SECONDS):  # not wait_for: see store._call
                    await local.wait()
            return
        try:
            await self.store.set_flag(chat_id, f"stop:{active.stream_id}", 60)
            await self.store.publish_stop(active.stream_id)
        except StoreFailed as exc:
            raise ChatStoreUnavailable(f"the chat store is unavailable ({exc})") from None
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        try:
            while time.monotonic() < deadline:
                chat = await self.store.load(chat_id)
                if chat is None or not same_stream(chat.active, active):
                    return  # it ended, and stored what it said
                if not await self.is_running(chat_id, active):
                    break
                await asyncio.sleep(0.1)
        except StoreFailed as exc:
            raise ChatStoreUnavailable(f"the chat store is unavailable ({exc})") from None
        await self._store_orphan(chat_id, active, partial, options)

    async def _store_orphan(
        self,
        chat_id: str,
        active: ActiveStream,
        partial: dict[str, Any] | None,
        options: ChatOptions,
    ) -> None:
        """Nobody produces this answer any more: clear it, keeping the client's copy."""

        def edit(chat: Chat | None) -> Chat | None:
            if chat is None or not same_stream(chat.active, active):
                return chat
            messages = list(chat.messages)
            if partial is not None:
                message = {**partial, "id": active.message_id, "role": "assistant"}
                message["metadata"] = {**(partial.get("metadata") or {}), "status": "stopped"}
                messages = [m for m in messages if m.get("id") != active.message_id]
                messages.append(message)
            return Chat(chat.owner, messages, None)

        await self.change(chat_id, edit, options)

    async def delete(self, chat_id: str, owner: str) -> None:
        chat = await self.load(chat_id, owner)
        if chat is None:
            raise ChatNotFound("no chat with this id")

        def edit(current: Chat | None) -> None:
            owned(current, owner)
            return None

        await self.change(chat_id, edit, ChatOptions())
        if chat.active is not None:
            local = self.running.get(chat.active.stream_id)
            if local is not None:
                local.stop("requested")
            elif self.shared:
                with contextlib.suppress(StoreFailed):
                    await self.store.set_flag(chat_id, f"stop:{chat.active.stream_id}", 60)
                    await self.store.publish_stop(chat.active.stream_id)

    async def aclose(self, grace_seconds: float) -> None:
        await self.running.aclose(grace_seconds)
        await self.store.aclose()
