"""One answer for a chat, run apart from the connection that asked for it.

A Generation owns the engine's event iterator once the first event is in: it keeps every event
for readers in this process, logs them in batches to the chat store for readers on other
replicas (Redis only), builds the assistant UI message as it goes, and at the end stores that
message (marked `stopped` or `failed` when it did not finish) and clears the chat's active
stream if it is still this one.

It stops when asked (a stop request from any replica, by pub/sub or the stop flag), when nobody
has read it for `unread_timeout` seconds, when its only reader leaves and the chat is not
resumable, when its client leaves more than `max_unread_answers` unread, or when a draining
process cuts it. Whatever ends it, readers get a finish part.

Storing the finished message is retried for `store_retry` seconds (Redis may be slow or failing
over just then); meanwhile the answer still says it is alive, so no other request takes the
chat over. If it still cannot be stored, readers get an error part saying so before the finish,
and the chat's active stream, left behind, is seen as dead (no `alive` flag) and cleared by the
next request that finds it.

Its heartbeat and event-log writes (gateway/chats/event_log_writer.py) are tasks of its own
(gateway/tasks.py), ended with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

from gateway import tasks
from gateway.cache.stores import StoreFailed
from gateway.chats.assembly import AssistantMessageBuilder
from gateway.chats.event_log_writer import EventLogWriter
from gateway.chats.store import ActiveStream, Chat, ChatStore, same_stream
from gateway.config import ChatOptions
from gateway.errors import (
    AnswerUnread,
    ChatStoreUnavailable,
    GatewayError,
    InternalError,
    ShuttingDown,
    TooManyUnreadAnswers,
)
from gateway.events import Event, Finish
from gateway.observability import metrics
from gateway.serving.lifecycle import SHUTDOWN_MESSAGE, Drain

if TYPE_CHECKING:  # the registry imports this module
    from gateway.chats.running_answers import Generations

log = logging.getLogger("gateway.chats")

StopReason = Literal["requested", "unread", "disconnected", "over_cap"]
State = Literal["running", "done", "stopped", "failed"]

UNREAD_MESSAGE = "nobody read this answer for too long; it was stopped"
OVER_CAP_MESSAGE = "this client left too many answers unread; this one was stopped"
NOT_STORED_MESSAGE = "this answer could not be stored in the chat: the chat store is unavailable"
# Pauses between tries to store a finished answer: doubling from the first to the longest.
FIRST_STORE_RETRY_SECONDS = 0.1
LONGEST_STORE_RETRY_SECONDS = 2.0


def heartbeat_seconds(options: ChatOptions) -> float:
    """How often a running answer says it is alive; its `alive` flag lasts three beats."""
    return max(0.05, min(2.0, options.unread_timeout / 4))


def alive_ttl(options: ChatOptions) -> float:
    return 3 * heartbeat_seconds(options)


class Generation:
    """The answer to one chat request, readable by any number of followers while it runs."""

    def __init__(
        self,
        *,
        chat_id: str,
        owner: str,
        active: ActiveStream,
        store: ChatStore,
        shared_store: bool,
        options: ChatOptions,
        drain: Drain,
        registry: Generations,
        continued: dict[str, Any] | None = None,
    ) -> None:
        self.chat_id = chat_id
        self.owner = owner
        self.active = active
        self.options = options
        self.state: State = "running"
        self.events: list[Event] = []
        self._store = store
        self._shared = shared_store
        self._drain = drain
        self._registry = registry
        self._builder = AssistantMessageBuilder(active.message_id, dict(active.metadata), continued)
        self._changed = asyncio.Event()
        self._ended = asyncio.Event()
        self._first = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None
        self._stop_reason: StopReason | None = None
        # The request that started the answer is its first reader, from the start: until it
        # follows (`follow(requester=True)`) or leaves (`requester_left`).
        self._readers = 1
        # A reader on another replica marked it read (shared stores, seen by the heartbeat).
        self._read_elsewhere = False
        self._last_read = time.monotonic()
        # Readers on other replicas follow the event log (shared stores only).
        self._event_log = (
            EventLogWriter(
                store, chat_id, active.stream_id, int(options.stream_ttl + options.unread_timeout)
            )
            if shared_store
            else None
        )
        self._final: Finish | None = None

    @property
    def stream_id(self) -> str:
        return self.active.stream_id

    def start(self, events: AsyncIterator[Event]) -> None:
        self._registry.add(self)
        metrics.CHAT_ANSWERS_RUNNING.inc()
        self._task = tasks.spawn(self._run(events), "chat_answer", f"chat-{self.stream_id}")

    async def first_event(self) -> None:
        """Return once the answer has begun; raise what refused it before its first event."""
        await asyncio.shield(self._first)

    def stop(self, reason: StopReason) -> None:
        """Cut the answer short where it is; nothing once it has stopped producing (it may
        still be storing what it said, which a stop must not cut)."""
        if (
            self.state == "running"
            and self._task is not None
            and not self._task.done()
            and self._stop_reason is None
        ):
            self._stop_reason = reason
            self._task.cancel()

    async def wait(self) -> None:
        await self._ended.wait()

    async def end(self) -> None:
        """End its task now, cancelled wherever it is (for a closing process)."""
        if self._task is not None:
            await tasks.end(self._task)

    @property
    def unread(self) -> bool:
        """Running with nobody reading it, here or on another replica."""
        return self.state == "running" and not self._readers and not self._read_elsewhere

    @property
    def unread_until(self) -> float:
        """When (time.monotonic) the heartbeat stops it if nobody comes to read it."""
        return self._last_read + self.options.unread_timeout

    def requester_left(self) -> None:
        """The request that started the answer left before following it."""
        self._reader_left(requester=True)

    async def follow(self, *, requester: bool = False) -> AsyncIterator[Event]:
        """Every event from the first, then each as it comes, to the end.

        `requester`: this reader is the request that started the answer (already counted as
        a reader); a non-resumable answer ends when it leaves."""
        if not requester:
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
            self._reader_left(requester)

    def _reader_left(self, requester: bool) -> None:
        self._readers -= 1
        self._last_read = time.monotonic()
        if self._ended.is_set():
            return
        if requester and not self.options.resumable:
            self.stop("disconnected")
        elif not self._readers:
            self._read_elsewhere = False  # until the heartbeat sees a reader's mark again
            self._registry.left_unread(self)

    # --- the run --------------------------------------------------------------------------

    async def _run(self, events: AsyncIterator[Event]) -> None:
        task = self._drain.track()
        heartbeat = tasks.spawn(self._heartbeat(), "chat_heartbeat", f"beat-{self.stream_id}")
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
            self._end_failed(exc)
        except Exception as exc:
            log.exception("a chat answer failed")
            error = InternalError("the gateway failed while answering")
            self._end_failed(error)
            del exc
        finally:
            await self._end(events, task, heartbeat)

    async def _end(
        self,
        events: AsyncIterator[Event],
        task: asyncio.Task[Any] | None,
        heartbeat: asyncio.Task[Any],
    ) -> None:
        """Close the provider stream, store what was said, end the heartbeat: each of them,
        even if this task is cancelled meanwhile (that cancel then goes on)."""
        try:
            with contextlib.suppress(Exception):
                await events.aclose()
        finally:
            self._drain.untrack(task)
            try:
                await self._finish()
            finally:
                # After the store: it says the answer is alive while it is being stored.
                await tasks.end(heartbeat)

    def _end_cut_short(self, task: asyncio.Task[Any] | None) -> None:
        if self._drain.was_cut(task):
            self._end_failed(ShuttingDown(SHUTDOWN_MESSAGE))
        elif self._stop_reason == "unread":
            self._end_failed(AnswerUnread(UNREAD_MESSAGE))
        elif self._stop_reason == "over_cap":
            self._end_failed(TooManyUnreadAnswers(OVER_CAP_MESSAGE))
        else:
            # Asked to stop (or its reader left): an answer that ends where it was stopped.
            self.state = "stopped"
            self._push(Finish("stop"))
            if not self._first.done():
                self._first.set_result(None)

    def _end_failed(self, error: GatewayError) -> None:
        self.state = "failed"
        if not self._first.done():
            # Before the first event: the request that started it answers with a status.
            self._first.set_exception(error)
            return
        self._push(error.as_event())
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
        if self._event_log is not None:
            self._event_log.add(event)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _flushed(self) -> None:
        if self._event_log is not None:
            await self._event_log.flushed()

    async def _heartbeat(self) -> None:
        """Say this answer is alive, hear a stop flag, and stop an answer nobody reads: until
        the answer has ended, whether or not the cancel that should end this arrives."""
        beat = heartbeat_seconds(self.options)
        while not self._ended.is_set():
            with contextlib.suppress(StoreFailed):  # the store is away: the next beat retries
                await self._beat()
            await asyncio.sleep(beat)

    async def _beat(self) -> None:
        if self._shared:
            await self._store.set_flag(
                self.chat_id, f"alive:{self.stream_id}", alive_ttl(self.options)
            )
        if self.state != "running":
            return  # storing what it said: still alive, with nothing left to stop
        if await self._store.has_flag(self.chat_id, f"stop:{self.stream_id}"):
            self.stop("requested")
            return
        if self._shared and not self._readers:
            self._read_elsewhere = await self._store.has_flag(
                self.chat_id, f"read:{self.stream_id}"
            )
        if self.unread and time.monotonic() > self.unread_until:
            self.stop("unread")

    async def _finish(self) -> None:
        """Store what was said, clear the active stream, wake every reader."""
        stored = False
        try:
            await self._flushed()
            stored = await self._store_outcome()
            if not stored and self._final is not None:
                self._publish(ChatStoreUnavailable(NOT_STORED_MESSAGE).as_event())
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
                        "stored": stored,
                    }
                },
            )

    async def _store_outcome(self) -> bool:
        """Store the message (or, for an answer refused before its first event, clear the
        active stream), trying again while the store fails, for `store_retry` seconds."""
        begun = self._first.done() and self._first.exception() is None
        save = self._store_message if begun else self._clear_active
        deadline = time.monotonic() + self.options.store_retry
        pause = FIRST_STORE_RETRY_SECONDS
        while True:
            try:
                await save()
                return True
            except StoreFailed as exc:
                failure = exc
            except Exception:
                log.exception("chat %s: the answer was not stored", self.chat_id)
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("chat %s: the answer was not stored (%s)", self.chat_id, failure)
                return False
            await asyncio.sleep(min(pause, left))
            pause = min(2 * pause, LONGEST_STORE_RETRY_SECONDS)

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
