"""One answer for a chat, run apart from the connection that asked for it.

A Generation owns the engine's event iterator once the first event is in: it keeps every event
for readers in this process, logs them in batches to the chat store for readers on other
replicas (Redis only), builds the assistant UI message as it goes, and at the end stores that
message (marked `stopped` or `failed` when it did not finish) and clears the chat's active
stream if it is still this one.

It stops when asked (a stop request from any replica, by pub/sub or the stop flag), when nobody
has read it for `unread_timeout` seconds, when its only reader leaves and the chat is not
resumable, or when a draining process cuts it. Whatever ends it, readers get a finish part.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from gateway import metrics
from gateway.chats.assembly import AssistantMessageBuilder
from gateway.chats.store import ActiveStream, Chat, ChatStore, same_stream
from gateway.config import ChatOptions
from gateway.errors import AnswerUnread, GatewayError, InternalError, ShuttingDown
from gateway.event_codec import encode_event
from gateway.events import ErrorEvent, Event, Finish
from gateway.lifecycle import SHUTDOWN_MESSAGE, Drain

log = logging.getLogger("gateway.chats")

StopReason = Literal["requested", "unread", "disconnected"]
State = Literal["running", "done", "stopped", "failed"]

UNREAD_MESSAGE = "nobody read this answer for too long; it was stopped"


class Generation:
    """The answer to one chat request, readable by any number of followers while it runs."""

    def __init__(
        self,
        *,
        chat_id: str,
        active: ActiveStream,
        store: ChatStore,
        shared_store: bool,
        options: ChatOptions,
        drain: Drain,
        registry: Generations,
    ) -> None:
        self.chat_id = chat_id
        self.active = active
        self.options = options
        self.state: State = "running"
        self.events: list[Event] = []
        self._store = store
        self._shared = shared_store
        self._drain = drain
        self._registry = registry
        self._builder = AssistantMessageBuilder(active.message_id, dict(active.metadata))
        self._changed = asyncio.Event()
        self._ended = asyncio.Event()
        self._first = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None
        self._stop_reason: StopReason | None = None
        self._readers = 0
        self._last_read = time.monotonic()
        self._pending: list[str] = []
        self._flushing: asyncio.Task[None] | None = None
        self._log_failed = False
        self._final: Finish | None = None

    @property
    def stream_id(self) -> str:
        return self.active.stream_id

    def start(self, events: AsyncIterator[Event]) -> None:
        self._registry.add(self)
        metrics.CHAT_ANSWERS_RUNNING.inc()
        self._task = asyncio.create_task(self._run(events), name=f"chat-{self.stream_id}")

    async def first_event(self) -> None:
        """Return once the answer has begun; raise what refused it before its first event."""
        await asyncio.shield(self._first)

    def stop(self, reason: StopReason) -> None:
        if self._task is not None and not self._task.done() and self._stop_reason is None:
            self._stop_reason = reason
            self._task.cancel()

    async def wait(self) -> None:
        await self._ended.wait()

    async def follow(self, *, attached: bool = False) -> AsyncIterator[Event]:
        """Every event from the first, then each as it comes, to the end.

        `attached`: this reader is the request that started a non-resumable answer, which
        ends when it leaves."""
        self._readers += 1
        index = 0
        try:
            while True:
                while index < len(self.events):
                    event = self.events[index]
                    index += 1
                    yield event
                if self._ended.is_set():
                    return
                changed = self._changed
                await changed.wait()
        finally:
            self._readers -= 1
            self._last_read = time.monotonic()
            if attached and not self._ended.is_set():
                self.stop("disconnected")

    # --- the run --------------------------------------------------------------------------

    async def _run(self, events: AsyncIterator[Event]) -> None:
        task = self._drain.track()
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            async for event in events:
                self._push(event)
                if not self._first.done():
                    self._first.set_result(None)
            self.state = "done"
        except asyncio.CancelledError:
            if task is not None:
                task.uncancel()
            self._end_cut_short(task)
        except GatewayError as exc:
            self._end_failed(exc, ErrorEvent(exc.message, exc.error_type))
        except Exception as exc:
            log.exception("a chat answer failed")
            error = InternalError("the gateway failed while answering")
            self._end_failed(error, ErrorEvent(error.message, error.error_type))
            del exc
        finally:
            heartbeat.cancel()
            with contextlib.suppress(BaseException):
                await events.aclose()
            self._drain.untrack(task)
            await self._finish()

    def _end_cut_short(self, task: asyncio.Task[Any] | None) -> None:
        if self._drain.was_cut(task):
            self._end_failed(
                ShuttingDown(SHUTDOWN_MESSAGE),
                ErrorEvent(SHUTDOWN_MESSAGE, ShuttingDown.error_type),
            )
        elif self._stop_reason == "unread":
            self._end_failed(
                AnswerUnread(UNREAD_MESSAGE), ErrorEvent(UNREAD_MESSAGE, AnswerUnread.error_type)
            )
        else:
            # Asked to stop (or its reader left): an answer that ends where it was stopped.
            self.state = "stopped"
            self._push(Finish("stop"))
            if not self._first.done():
                self._first.set_result(None)

    def _end_failed(self, error: GatewayError, part: ErrorEvent) -> None:
        self.state = "failed"
        if not self._first.done():
            # Before the first event: the request that started it answers with a status.
            self._first.set_exception(error)
            return
        self._push(part)
        self._push(Finish("error"))

    def _push(self, event: Event) -> None:
        self._builder.add(event)
        if isinstance(event, Finish):
            # Held back until the message is stored and the chat no longer names this answer:
            # a reader that has seen the finish and asks again then gets a 204, not a replay.
            self._final = event
            return
        self._publish(event)

    def _publish(self, event: Event) -> None:
        self.events.append(event)
        if self._shared:
            self._pending.append(encode_event(event))
            if self._flushing is None or self._flushing.done():
                self._flushing = asyncio.create_task(self._flush())
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _flush(self) -> None:
        """Log pending events, one batch per round trip: a busy loop batches more."""
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._store.append_events(
                    self.chat_id, self.stream_id, batch, self._log_ttl()
                )
            except Exception as exc:
                if not self._log_failed:
                    self._log_failed = True
                    log.warning("chat %s: events not logged (%s)", self.chat_id, exc)

    async def _flushed(self) -> None:
        if self._flushing is not None:
            with contextlib.suppress(Exception):
                await self._flushing

    def _log_ttl(self) -> int:
        return int(self.options.stream_ttl + self.options.unread_timeout)

    async def _heartbeat(self) -> None:
        """Say this answer is alive, hear a stop flag, and stop an answer nobody reads."""
        beat = max(0.05, min(2.0, self.options.unread_timeout / 4))
        while True:
            with contextlib.suppress(Exception):
                if self._shared:
                    await self._store.set_flag(self.chat_id, f"alive:{self.stream_id}", beat * 3)
                if await self._store.has_flag(self.chat_id, f"stop:{self.stream_id}"):
                    self.stop("requested")
                elif self._unread() and not (
                    self._shared
                    and await self._store.has_flag(self.chat_id, f"read:{self.stream_id}")
                ):
                    self.stop("unread")
            await asyncio.sleep(beat)

    def _unread(self) -> bool:
        if self._readers:
            return False
        return time.monotonic() - self._last_read > self.options.unread_timeout

    async def _finish(self) -> None:
        """Store what was said, clear the active stream, wake every reader."""
        try:
            await self._flushed()
            if self._first.done() and self._first.exception() is None:
                await self._store_message()
            else:
                await self._clear_active()
        except Exception as exc:
            log.warning("chat %s: the answer was not stored (%s)", self.chat_id, exc)
        finally:
            if self._final is not None:
                self._publish(self._final)
                await self._flushed()
            self._registry.discard(self)
            self._ended.set()
            self._changed.set()
            metrics.CHAT_ANSWERS_RUNNING.dec()
            metrics.CHAT_ANSWERS.labels(self.state).inc()
            log.info(
                "chat answer ended",
                extra={
                    "fields": {
                        "chat": self.chat_id,
                        "stream": self.stream_id,
                        "state": self.state,
                        "events": len(self.events),
                        "stop": self._stop_reason or "",
                    }
                },
            )

    async def _store_message(self) -> None:
        message = self._builder.message()
        if self.state != "done":
            message["metadata"] = {**(message.get("metadata") or {}), "status": self.state}

        def edit(chat: Chat | None) -> Chat | None:
            if chat is None:
                return None  # deleted while answering: stays deleted
            messages = [m for m in chat.messages if m.get("id") != message["id"]]
            messages.append(message)
            active = None if same_stream(chat.active, self.active) else chat.active
            return Chat(chat.owner, messages, active)

        await self._store.change(self.chat_id, edit, self.options.ttl)

    async def _clear_active(self) -> None:
        def edit(chat: Chat | None) -> Chat | None:
            if chat is None or not same_stream(chat.active, self.active):
                return chat
            return Chat(chat.owner, chat.messages, None)

        await self._store.change(self.chat_id, edit, self.options.ttl)


class Generations:
    """The answers running in this process, by stream id; hears stop requests for them."""

    def __init__(self) -> None:
        self._running: dict[str, Generation] = {}
        self._listener: asyncio.Task[None] | None = None

    def add(self, generation: Generation) -> None:
        self._running[generation.stream_id] = generation

    def discard(self, generation: Generation) -> None:
        if self._running.get(generation.stream_id) is generation:
            del self._running[generation.stream_id]

    def get(self, stream_id: str) -> Generation | None:
        return self._running.get(stream_id)

    def __len__(self) -> int:
        return len(self._running)

    def listen(self, store: ChatStore) -> None:
        """Stop the local answer named by any stop request published to `store`."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(store), name="chat-stop-listener")

    async def _listen(self, store: ChatStore) -> None:
        async for stream_id in store.stop_requests():
            generation = self._running.get(stream_id)
            if generation is not None:
                generation.stop("requested")

    async def aclose(self, grace_seconds: float) -> None:
        """Let running answers end within `grace_seconds`, then cut them; stop listening."""
        if self._listener is not None:
            self._listener.cancel()
        running = list(self._running.values())
        if running:
            done = asyncio.gather(*(g.wait() for g in running))
            try:
                await asyncio.wait_for(done, grace_seconds)
            except TimeoutError:
                for generation in running:
                    generation.stop("requested")
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.gather(*(g.wait() for g in running)), 5.0)
