"""Stored responses: one client's records of the Responses API in the chat store (a
namespace of its own), the conversation each ends, and item references resolved against them.

A record is capped in bytes (gateway.chats.max_bytes, as a chat); what the cap refuses before
the call and what it drops after is said at check_size and save.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gateway.cache.stores import StoreFailed
from gateway.chats.store import Chat, ChatStore, dump_chat
from gateway.config import ChatOptions
from gateway.doors.openai_responses.responses_items import item_response_id
from gateway.doors.openai_responses.responses_schemas import ItemReference, StoredItems
from gateway.errors import (
    ChatStoreUnavailable,
    GatewayError,
    PreviousResponseNotFound,
    RequestTooLarge,
    ResponseNotFound,
)

log = logging.getLogger("gateway.responses")


# A record is one entry in its Chat's messages, of this type.
_RECORD = "gateway.stored_response"


@dataclass(frozen=True)
class StoredRecord:
    """A stored response: the object itself, the items before its output (earlier
    conversation, then this request's input), and where the input starts."""

    response: dict[str, Any]
    context: list[dict[str, Any]]
    input_from: int

    def dump(self) -> list[dict[str, Any]]:
        entry = {"type": _RECORD, "response": self.response, "context": self.context}
        return [{**entry, "input_from": self.input_from}]

    @classmethod
    def load(cls, messages: list[Any]) -> StoredRecord:
        entry = messages[0] if len(messages) == 1 else None
        if not (isinstance(entry, dict) and entry.get("type") == _RECORD):
            raise TypeError("not a stored response")
        response, context = entry["response"], entry["context"]
        if not (isinstance(response, dict) and isinstance(context, list)):
            raise TypeError("not a stored response")
        return cls(response, context, int(entry["input_from"]))

    def conversation(self) -> list[dict[str, Any]]:
        """The items a later request continues from: the context, then the output."""
        return self.context + list(self.response["output"])


class StoredResponses:
    """One client's stored responses in the chat store: load, resolve references, save."""

    def __init__(self, store: ChatStore, owner: str, options: ChatOptions) -> None:
        self._store = store
        self._owner = owner
        self._options = options
        self._loaded: dict[str, list[Any]] = {}

    @property
    def enabled(self) -> bool:
        return self._options.enabled

    async def record(
        self, response_id: str, missing: type[GatewayError] = ResponseNotFound
    ) -> StoredRecord:
        """This client's stored response, or `missing` (never telling apart why)."""
        not_found = missing(f"no stored response with id '{response_id}'")
        if not self.enabled or not response_id.startswith("resp_"):
            raise not_found
        try:
            chat = await self._store.load(response_id, kind="response")
        except StoreFailed as exc:
            raise ChatStoreUnavailable(f"the chat store is unavailable ({exc})") from None
        if chat is None or chat.owner != self._owner:
            raise not_found
        try:
            return StoredRecord.load(chat.messages)
        except (KeyError, TypeError, ValueError):
            raise ChatStoreUnavailable(
                f"the stored response '{response_id}' is unreadable"
            ) from None

    async def items(self, response_id: str) -> list[Any]:
        """The conversation a stored response ends, as typed input items."""
        if response_id in self._loaded:
            return self._loaded[response_id]
        record = await self.record(response_id, PreviousResponseNotFound)
        try:
            items = StoredItems.validate_python(record.conversation())
        except ValidationError:
            raise ChatStoreUnavailable(
                f"the stored response '{response_id}' is unreadable"
            ) from None
        self._loaded[response_id] = items
        return items

    async def resolve(self, items: list[Any], earlier: list[Any]) -> list[Any]:
        """`items` with every item_reference replaced by the item it names."""
        known = {item.id: item for item in earlier if item.id}
        resolved = []
        for position, item in enumerate(items):
            if isinstance(item, ItemReference):
                found = known.get(item.id) or await self._find(item.id)
                if found is None:
                    raise PreviousResponseNotFound(
                        f"input[{position}]: no stored item with id '{item.id}'"
                    )
                item = found
            if item.id:
                known[item.id] = item
            resolved.append(item)
        return resolved

    async def _find(self, item_id: str) -> Any | None:
        response_id = item_response_id(item_id)
        if response_id is None:
            return None
        try:
            items = await self.items(response_id)
        except PreviousResponseNotFound:
            return None
        return next((item for item in items if item.id == item_id), None)

    def size(self, record: StoredRecord) -> int:
        """Bytes `record` takes in the store."""
        return len(dump_chat(Chat(self._owner, record.dump())))

    def check_size(self, record: StoredRecord) -> None:
        """RequestTooLarge when `record` is over the cap of a stored conversation."""
        size = self.size(record)
        if size > self._options.max_bytes:
            raise RequestTooLarge(
                f"this response would be stored in {size} bytes with the conversation it "
                f"continues, over the limit of {self._options.max_bytes} "
                "(gateway.chats.max_bytes); send it with store: false, or start a new "
                "conversation"
            )

    async def save(self, response_id: str, record: StoredRecord) -> bool:
        """Store `record`; False when it was not (its output took it over the cap, or the
        store failed and the YAML says answer anyway)."""
        if self.size(record) > self._options.max_bytes:
            log.warning(
                "response %s answered but not stored: over gateway.chats.max_bytes", response_id
            )
            return False

        def edit(_: Chat | None) -> Chat:
            return Chat(self._owner, record.dump())

        try:
            await self._store.change(response_id, edit, self._options.ttl, kind="response")
        except StoreFailed as exc:
            if self._options.on_store_failure == "refuse":
                raise ChatStoreUnavailable(f"the chat store is unavailable ({exc})") from None
            log.warning("response %s answered but not stored: %s", response_id, exc)
            return False
        return True

    async def delete(self, response_id: str) -> None:
        """Remove this client's stored response, or ResponseNotFound."""
        not_found = ResponseNotFound(f"no stored response with id '{response_id}'")
        if not self.enabled or not response_id.startswith("resp_"):
            raise not_found

        def edit(chat: Chat | None) -> None:
            if chat is None or chat.owner != self._owner:
                raise not_found  # the store leaves the chat as it was
            return None  # None from an edit deletes the chat

        try:
            await self._store.change(response_id, edit, self._options.ttl, kind="response")
        except StoreFailed as exc:
            raise ChatStoreUnavailable(f"the chat store is unavailable ({exc})") from None
