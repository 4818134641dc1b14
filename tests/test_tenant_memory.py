"""Without Redis, chats, stored responses and cached answers share process memory: one client
filling it evicts its own oldest entries, never another client's (gateway/limits/fair_share.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai

from gateway.chats.store import Chat, MemoryChatStore
from tests.support.configs import config_for
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateways import Gateway
from tests.support.serving import BackgroundLoop

KEY_A = "sk-tenant-alice-0123456789abcdef"
KEY_B = "sk-tenant-bob-0123456789abcdefgh"
UI = "?protocol=ui-message-stream"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ask(chat_id: str, text: str) -> dict[str, Any]:
    message = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": text}]}
    return {"id": chat_id, "message": message, "selectedChatModel": "chat-model"}


def test_one_client_making_1100_chats_leaves_anothers_chat_and_stored_response(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    background_loop: BackgroundLoop,
) -> None:
    gateway = start_gateway(config_for(upstream), api_keys=f"alice:{KEY_A},bob:{KEY_B}")
    made = gateway.client.post("/api/chat" + UI, json=ask("alice-1", "mine"), headers=bearer(KEY_A))
    assert made.status_code == 200
    alice = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY_A, max_retries=0)
    kept = alice.responses.create(model="chat-model", input="keep this")

    # Bob's chats, straight into the store on the gateway's loop (1,100 model calls would
    # only make this slow), then a few more through the route itself.
    store = gateway.app.runtime.chats.store
    assert isinstance(store, MemoryChatStore)
    ttl = gateway.app.runtime.engine.config.options.chats.ttl

    def bobs_chat(n: int) -> Callable[[Chat | None], Chat]:
        message = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": f"{n}"}]}
        return lambda _: Chat("key:bob", [message])

    async def bobs_chats() -> None:
        for n in range(1100):
            await store.change(f"bob-{n}", bobs_chat(n), ttl)

    background_loop.run(bobs_chats())
    for n in range(3):
        more = gateway.client.post(
            "/api/chat" + UI, json=ask(f"bob-route-{n}", "more"), headers=bearer(KEY_B)
        )
        assert more.status_code == 200

    mine = gateway.client.get("/api/chat/alice-1/messages", headers=bearer(KEY_A))
    assert mine.status_code == 200, mine.text
    assert [m["role"] for m in mine.json()["messages"]] == ["user", "assistant"]
    assert alice.responses.retrieve(kept.id).output_text == "Hello from upstream-a"
    continued = alice.responses.create(
        model="chat-model", input="and?", previous_response_id=kept.id
    )
    assert continued.status == "completed"

    # Bob's oldest went (the store holds 1,000: the default max_chats_in_memory), his newest
    # stayed.
    for chat_id, status in (
        ("bob-0", 404),
        ("bob-105", 404),
        ("bob-106", 200),
        ("bob-route-2", 200),
    ):
        bobs = gateway.client.get(f"/api/chat/{chat_id}/messages", headers=bearer(KEY_B))
        assert bobs.status_code == status, chat_id


def test_one_client_filling_the_answer_cache_leaves_anothers_cached_answers(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    config = config_for(
        upstream, gateway={"cache": {"ttl": 600, "models": ["chat-model"], "max_entries": 4}}
    )
    gateway = start_gateway(config, api_keys=f"alice:{KEY_A},bob:{KEY_B}")

    def ask_cached(key: str, text: str) -> str:
        body = {"model": "chat-model", "messages": [{"role": "user", "content": text}]}
        answered = gateway.client.post("/api/chat", json=body, headers=bearer(key))  # type: ignore[union-attr]
        assert answered.status_code == 200
        return answered.headers["x-cache"]

    assert ask_cached(KEY_A, "alice's question") == "miss"
    for n in range(10):
        assert ask_cached(KEY_B, f"bob's question {n}") == "miss"

    assert ask_cached(KEY_A, "alice's question") == "hit"
    assert ask_cached(KEY_B, "bob's question 9") == "hit"
    assert ask_cached(KEY_B, "bob's question 0") == "miss"  # his own oldest went
