"""Where chats live: Redis when REDIS_URL is set, else bounded process memory (as the cache).

A chat is one document: its owner, its UI messages and the answer in progress (the active
stream), changed only through `change`, an atomic read-modify-write (a WATCH transaction in
Redis). Beside it, per answer: the event log readers replay (a Redis Stream), and short-lived
flags (the answer is alive, someone is reading it, it was asked to stop). Stop requests are
also published, so the process running the answer hears at once (Redis pub/sub). And the
approval requests the gateway issued, per client (gateway/approvals/ledgers.py).

Stored responses (/v1/responses) are documents of the same shape in a namespace of their own
(`kind="response"`): no chat id can name one, however it is spelled.

Every Redis key of a chat carries the chat id as a hash tag, so no command crosses slots on a
Redis Cluster. Any failure is a StoreFailed; the caller decides what a client sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from gateway.approvals.issued import ApprovalLedger
from gateway.approvals.ledgers import MemoryApprovalLedger, RedisApprovalLedger
from gateway.cache.stores import StoreFailed
from gateway.errors import GatewayError
from gateway.limits.fair_share import FairShareLRU
from gateway.redis_client import connect, describe

STOP_CHANNEL = "gateway:chat-stop"

# The namespaces of documents: chats by chat id, stored responses by response id.
Kind = Literal["chat", "response"]


@dataclass(frozen=True)
class ActiveStream:
    """The answer a chat is producing: readers find its events by `stream_id`."""

    stream_id: str
    message_id: str
    # What the stream's `start` part carries (createdAt, model), for every reader.
    metadata: dict[str, Any] = field(default_factory=dict)


def same_stream(active: ActiveStream | None, other: ActiveStream) -> bool:
    return active is not None and active.stream_id == other.stream_id


@dataclass(frozen=True)
class Chat:
    owner: str
    messages: list[dict[str, Any]]
    active: ActiveStream | None = None


def dump_chat(chat: Chat) -> bytes:
    active = chat.active
    document = {
        "owner": chat.owner,
        "messages": chat.messages,
        "active": None
        if active is None
        else [active.stream_id, active.message_id, active.metadata],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def load_chat(data: bytes | str) -> Chat:
    try:
        document = json.loads(data)
        active = document["active"]
        return Chat(
            owner=str(document["owner"]),
            messages=list(document["messages"]),
            active=None if active is None else ActiveStream(active[0], active[1], active[2]),
        )
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise StoreFailed(f"a stored chat is unreadable ({exc.__class__.__name__})") from None


Edit = Callable[[Chat | None], Chat | None]


class ChatStore(Protocol):
    name: str
    # The approval requests the gateway issued (gateway/approvals/), beside the chats.
    approvals: ApprovalLedger

    async def load(self, chat_id: str, kind: Kind = "chat") -> Chat | None: ...

    async def change(self, chat_id: str, edit: Edit, ttl: int, kind: Kind = "chat") -> Chat | None:
        """Apply `edit` to the stored chat atomically; None from it deletes the chat.

        An exception from `edit` leaves the chat as it was."""
        ...

    async def append_events(
        self, chat_id: str, stream_id: str, lines: list[str], ttl: int
    ) -> None: ...

    async def read_events(
        self, chat_id: str, stream_id: str, after: str, wait: float
    ) -> tuple[str, list[str]]:
        """Event lines logged after cursor `after` ("0": from the start), waiting up to
        `wait` seconds for some; and the cursor to pass next time."""
        ...

    async def set_flag(self, chat_id: str, name: str, ttl: float) -> None: ...

    async def has_flag(self, chat_id: str, name: str) -> bool: ...

    async def publish_stop(self, stream_id: str) -> None: ...

    def stop_requests(self) -> AsyncIterator[str]:
        """Stream ids whose stop was published, from any process, until closed."""
        ...

    async def aclose(self) -> None: ...


class MemoryChatStore:
    """Chats of one process, each dropped `ttl` seconds after a change: at most `max_chats`
    chats and stored responses, shared fairly by their owners (gateway/limits/fair_share.py), so
    one client's new chats never evict another client's."""

    name = "memory"

    def __init__(self, max_chats: int, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._chats: FairShareLRU[tuple[Kind, str], tuple[float, Chat]] = FairShareLRU(max_chats)
        self._logs: dict[tuple[str, str], tuple[float, list[str]]] = {}
        self._flags: dict[tuple[str, str], float] = {}
        self._log_changed = asyncio.Event()
        self._stops: asyncio.Queue[str | None] = asyncio.Queue()
        self.approvals = MemoryApprovalLedger(now=now)

    async def load(self, chat_id: str, kind: Kind = "chat") -> Chat | None:
        entry = self._chats.get((kind, chat_id))
        if entry is None:
            return None
        if entry[0] <= self._now():
            self._chats.pop((kind, chat_id))
            return None
        return entry[1]

    async def change(self, chat_id: str, edit: Edit, ttl: int, kind: Kind = "chat") -> Chat | None:
        # No await between the read and the write: atomic on the event loop.
        entry = self._chats.get((kind, chat_id))
        current = entry[1] if entry is not None and entry[0] > self._now() else None
        changed = edit(current)
        if changed is None:
            self._chats.pop((kind, chat_id))
            return None
        self._chats.put(changed.owner, (kind, chat_id), (self._now() + ttl, changed))
        return changed

    async def append_events(self, chat_id: str, stream_id: str, lines: list[str], ttl: int) -> None:
        now = self._now()
        for key in [k for k, (expires, _) in self._logs.items() if expires <= now]:
            del self._logs[key]
        _, log = self._logs.get((chat_id, stream_id), (0.0, []))
        log.extend(lines)
        self._logs[(chat_id, stream_id)] = (now + ttl, log)
        self._log_changed.set()
        self._log_changed = asyncio.Event()

    async def read_events(
        self, chat_id: str, stream_id: str, after: str, wait: float
    ) -> tuple[str, list[str]]:
        start = int(after)
        if len(self._log(chat_id, stream_id)) <= start:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._log_changed.wait()
        log = self._log(chat_id, stream_id)
        return str(len(log)), log[start:]

    def _log(self, chat_id: str, stream_id: str) -> list[str]:
        return self._logs.get((chat_id, stream_id), (0.0, []))[1]

    async def set_flag(self, chat_id: str, name: str, ttl: float) -> None:
        self._flags[(chat_id, name)] = self._now() + ttl

    async def has_flag(self, chat_id: str, name: str) -> bool:
        expires = self._flags.get((chat_id, name))
        if expires is None:
            return False
        if expires <= self._now():
            del self._flags[(chat_id, name)]
            return False
        return True

    async def publish_stop(self, stream_id: str) -> None:
        self._stops.put_nowait(stream_id)

    async def stop_requests(self) -> AsyncIterator[str]:
        while (stream_id := await self._stops.get()) is not None:
            yield stream_id

    async def aclose(self) -> None:
        self._stops.put_nowait(None)
        self._chats.clear()
        self._logs.clear()


class RedisChatStore:
    """Chats in Redis, shared by every replica. Calls are bounded by `timeout_seconds`."""

    name = "redis"

    def __init__(self, url: str, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds
        self._client = connect(url, timeout_seconds)
        # XREAD BLOCK and pub/sub wait on purpose; their waits are bounded here instead.
        self._blocking = connect(url, None)
        self.approvals = RedisApprovalLedger(self._client, self._call)

    async def _call(self, awaitable: Any, extra_wait: float = 0.0) -> Any:
        # asyncio.timeout, never wait_for: on Python 3.11 wait_for runs the call in a task of
        # its own and, when the caller is cancelled just as that call completes, returns the
        # result and drops the cancel (gh-86296): a heartbeat cancelled so lived on forever.
        try:
            async with asyncio.timeout(self._timeout + extra_wait):
                return await awaitable
        except (StoreFailed, GatewayError):
            raise  # GatewayError: an edit refused the change
        except Exception as exc:
            raise StoreFailed(describe(exc)) from None

    async def load(self, chat_id: str, kind: Kind = "chat") -> Chat | None:
        data = await self._call(self._client.get(_document_key(kind, chat_id)))
        return None if data is None else load_chat(data)

    async def change(self, chat_id: str, edit: Edit, ttl: int, kind: Kind = "chat") -> Chat | None:
        return await self._call(self._change(chat_id, edit, ttl, kind))  # type: ignore[no-any-return]

    async def _change(self, chat_id: str, edit: Edit, ttl: int, kind: Kind) -> Chat | None:
        from redis.exceptions import WatchError

        key = _document_key(kind, chat_id)
        for _ in range(8):
            async with self._client.pipeline(transaction=True) as pipe:
                await pipe.watch(key)
                data = await pipe.get(key)
                changed = edit(None if data is None else load_chat(data))
                pipe.multi()
                if changed is None:
                    pipe.delete(key)
                else:
                    pipe.set(key, dump_chat(changed), ex=ttl)
                try:
                    await pipe.execute()
                except WatchError:
                    continue  # another replica changed the chat meanwhile: read it again
                return changed
        raise StoreFailed("the chat kept changing under this request")

    async def append_events(self, chat_id: str, stream_id: str, lines: list[str], ttl: int) -> None:
        key = _log_key(chat_id, stream_id)
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.xadd(key, {"e": "\n".join(lines)})
            pipe.expire(key, ttl)
            await self._call(pipe.execute())

    async def read_events(
        self, chat_id: str, stream_id: str, after: str, wait: float
    ) -> tuple[str, list[str]]:
        key = _log_key(chat_id, stream_id)
        block = max(1, int(wait * 1000))
        found = await self._call(self._blocking.xread({key: after}, block=block), wait)
        lines: list[str] = []
        cursor = after
        for _, entries in found or ():
            for entry_id, fields in entries:
                cursor = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                batch = fields.get(b"e", fields.get("e", b""))
                text = batch.decode() if isinstance(batch, bytes) else str(batch)
                lines.extend(text.split("\n") if text else ())
        return cursor, lines

    async def set_flag(self, chat_id: str, name: str, ttl: float) -> None:
        await self._call(self._client.set(_flag_key(chat_id, name), b"1", px=int(ttl * 1000)))

    async def has_flag(self, chat_id: str, name: str) -> bool:
        return bool(await self._call(self._client.exists(_flag_key(chat_id, name))))

    async def publish_stop(self, stream_id: str) -> None:
        await self._call(self._client.publish(STOP_CHANNEL, stream_id))

    async def stop_requests(self) -> AsyncIterator[str]:
        """Listens until cancelled; a lost connection is re-established after a pause."""
        while True:
            pubsub = self._blocking.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(STOP_CHANNEL)
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is not None and message.get("type") == "message":
                        data = message["data"]
                        yield data.decode() if isinstance(data, bytes) else str(data)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(1.0)  # Redis away: the stop flag still reaches the answer
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()
        await self._blocking.aclose()


def _document_key(kind: Kind, document_id: str) -> str:
    """`gateway:chat:{<chat id>}` or `gateway:response:{<response id>}`: the id is the hash
    tag, so a chat's own keys (below) share its slot on a Redis Cluster."""
    return f"gateway:{kind}:{{{document_id}}}"


def _log_key(chat_id: str, stream_id: str) -> str:
    return f"gateway:chat:{{{chat_id}}}:events:{stream_id}"


def _flag_key(chat_id: str, name: str) -> str:
    return f"gateway:chat:{{{chat_id}}}:flag:{name}"
