"""A running answer's events, appended to the chat store's event log for readers on other
replicas (shared stores only): one batch per round trip, so a busy loop batches more.

A failed append is logged once and not retried: readers here still have every event, and the
stored message at the end is what counts."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gateway import tasks
from gateway.chats.store import ChatStore
from gateway.event_codec import encode_event
from gateway.events import Event

log = logging.getLogger("gateway.chats")


class EventLogWriter:
    def __init__(self, store: ChatStore, chat_id: str, stream_id: str, ttl_seconds: int) -> None:
        self._store = store
        self._chat_id = chat_id
        self._stream_id = stream_id
        self._ttl = ttl_seconds
        self._pending: list[str] = []
        self._flushing: asyncio.Task[None] | None = None
        self._failed = False

    def add(self, event: Event) -> None:
        self._pending.append(encode_event(event))
        if self._flushing is None or self._flushing.done():
            self._flushing = tasks.spawn(self._flush(), "chat_event_log")

    async def flushed(self) -> None:
        """Return once everything added so far was appended (or failed to be)."""
        if self._flushing is not None:
            with contextlib.suppress(Exception):
                await self._flushing

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._store.append_events(self._chat_id, self._stream_id, batch, self._ttl)
            except Exception as exc:
                if not self._failed:
                    self._failed = True
                    log.warning("chat %s: events not logged (%s)", self._chat_id, exc)
