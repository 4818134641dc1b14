"""What the Redis topology tests (Cluster, Sentinel, TLS) send through a gateway: a config that
uses every Redis-backed feature, and the requests that exercise them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.configs import config_for
from tests.support.fake_upstream import FakeUpstream

UI = "?protocol=ui-message-stream"


def everything(upstream: FakeUpstream) -> dict[str, Any]:
    """Rate limits (title-model: 2/minute), the response cache (chat-model), and chats."""
    return config_for(
        upstream,
        gateway={
            "rate_limit": {"default": "1000/minute", "models": {"title-model": "2/minute"}},
            "cache": {"ttl": 60, "models": ["chat-model"]},
        },
    )


def post(client: httpx.Client, headers: dict[str, str], model: str, text: str) -> httpx.Response:
    """POST /api/chat, streamed in the line format (its default), read to the end."""
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    return client.post("/api/chat", json=body, headers=headers)


def send_to_chat(
    client: httpx.Client, headers: dict[str, str], chat_id: str, text: str
) -> httpx.Response:
    """One new user message to the chat `chat_id`, as the ai-chatbot template sends it."""
    message = {"id": uuid.uuid4().hex, "role": "user", "parts": [{"type": "text", "text": text}]}
    body = {"id": chat_id, "message": message, "selectedChatModel": "chat-model"}
    return client.post("/api/chat" + UI, json=body, headers=headers)
