"""What a chat request does to the stored history, as the AI SDK's chat client means it.

- `{id, messages}`: the client sent the whole conversation; it replaces what is stored.
- `{id, message}`: the newest message. A message whose id is already stored replaces it and
  everything after it (the client edited it); any other is appended.
- `trigger: regenerate-message` (with `messageId`): the named assistant message, and everything
  after it, is dropped and answered again.

The result must end with a user message (there is nothing to answer otherwise), or with an
answer paused for approvals whose decided calls are in (a tool part `approval-responded`: the
answer goes on), and stay within the chat's caps; any refusal leaves the stored chat as it was.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gateway.chats.store import Chat
from gateway.config import ChatOptions
from gateway.errors import ChatNotFound, InvalidRequest, RequestTooLarge


def owned(chat: Chat | None, owner: str) -> Chat | None:
    """`chat` if `owner` may change it; another client's chat is a 404, as a regenerate of an
    unknown id is (an id already taken cannot be given to a second client)."""
    if chat is not None and chat.owner != owner:
        raise ChatNotFound("no chat with this id")
    return chat


def visible(chat: Chat | None, owner: str) -> Chat | None:
    """`chat` if `owner` may see it, else None: to another client it reads as no chat at all,
    so no route answers it differently from an unknown id (204 from …/stream, a no-op stop)."""
    return chat if chat is not None and chat.owner == owner else None


def next_history(
    stored: Sequence[dict[str, Any]],
    *,
    replace_with: list[dict[str, Any]] | None,
    message: dict[str, Any] | None,
    regenerate: str | bool,
) -> list[dict[str, Any]]:
    """The history to answer. `regenerate`: False, True (the last answer) or a message id."""
    if replace_with is not None:
        history = list(replace_with)
    else:
        history = list(stored)
        if regenerate:
            history = _drop_answer(history, regenerate)
        if message is not None:
            history = _upsert(history, message)
    if not history or not (history[-1].get("role") == "user" or _decided(history[-1])):
        raise InvalidRequest(
            "messages: the conversation must end with a user message to be answered"
        )
    return history


def _decided(message: dict[str, Any]) -> bool:
    """An assistant message with a call a person has just approved or denied."""
    return message.get("role") == "assistant" and any(
        isinstance(part, dict) and part.get("state") == "approval-responded"
        for part in message.get("parts") or ()
    )


def _drop_answer(history: list[dict[str, Any]], regenerate: str | bool) -> list[dict[str, Any]]:
    if isinstance(regenerate, str):
        for index, stored in enumerate(history):
            if stored.get("id") == regenerate:
                if stored.get("role") != "assistant":
                    raise InvalidRequest("messageId: names a message that is not an answer")
                return history[:index]
    # No id, or one never stored (an answer that failed before it began): drop the last answer.
    while history and history[-1].get("role") == "assistant":
        history.pop()
    return history


def _upsert(history: list[dict[str, Any]], message: dict[str, Any]) -> list[dict[str, Any]]:
    for index, stored in enumerate(history):
        if stored.get("id") == message.get("id"):
            return [*history[:index], message]
    return [*history, message]


def check_caps(history: list[dict[str, Any]], options: ChatOptions) -> None:
    """Refuse a history that, with its answer, would not fit the chat's caps."""
    if len(history) + 1 > options.max_messages:
        raise RequestTooLarge(
            f"messages: this chat would hold {len(history) + 1} messages with its answer, "
            f"over the limit of {options.max_messages} (gateway.chats.max_messages)"
        )
    size = len(json.dumps(history, ensure_ascii=False, separators=(",", ":")).encode())
    if size > options.max_bytes:
        raise RequestTooLarge(
            f"messages: this chat would hold {size} bytes, over the limit of "
            f"{options.max_bytes} (gateway.chats.max_bytes)"
        )
