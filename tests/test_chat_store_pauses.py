"""Chat answers that finish while Redis is paused (`CLIENT PAUSE`): stored, or truthfully not.

A real redis-server is paused for a bounded time right as answers reach their end, so the
gateway's store calls time out (after `GATEWAY_REDIS_TIMEOUT`, 0.5 s). A pause shorter than
`gateway.chats.store_retry` must cost nothing: every answer stored, no chat left naming an
answer in progress. A longer one must be told to the reader, and still leave no chat with an
active stream whose answer is gone.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import redis

from tests.support.configs import config_for
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.gateways import Gateway
from tests.support.redis_server import RedisServer

UI = "?protocol=ui-message-stream"
WORDS = ["one ", "two ", "three"]
# Each answer stalls before its last word: Redis is paused meanwhile, and the answer ends
# (and is stored) while it still is.
STALL_SECONDS = 1.0
ANSWERS = 8


def user(text: str) -> dict[str, Any]:
    return {"id": "u1", "role": "user", "parts": [{"type": "text", "text": text}]}


def pause(server: RedisServer, seconds: float) -> None:
    """Every client's commands wait `seconds` (keys do not expire meanwhile either)."""
    client = redis.Redis(port=server.port)
    try:
        client.execute_command("CLIENT", "PAUSE", int(seconds * 1000), "ALL")
    finally:
        client.close()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.05)


class Asker(threading.Thread):
    """One chat-by-id request, streamed; notes when its first words arrived."""

    def __init__(self, gateway: Gateway, chat_id: str) -> None:
        super().__init__()
        self.url = gateway.url
        self.chat_id = chat_id
        self.talking = threading.Event()
        self.parts: list[dict[str, Any]] = []
        self.refusal = ""

    def run(self) -> None:
        body = {"id": self.chat_id, "message": user("hi"), "selectedChatModel": "chat-model"}
        with httpx.stream("POST", self.url + "/api/chat" + UI, json=body, timeout=30) as r:
            if r.status_code != 200:
                self.refusal = f"{r.status_code} {r.read().decode()}"
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    self.parts.append(json.loads(line[6:]))
                    if self.parts[-1]["type"] == "text-delta":
                        self.talking.set()

    @property
    def text(self) -> str:
        return "".join(p["delta"] for p in self.parts if p["type"] == "text-delta")


def ask_while_paused(
    gateway: Gateway, server: RedisServer, prefix: str, pause_seconds: float
) -> list[Asker]:
    """ANSWERS answers at once; Redis paused once all have begun, so all end while paused."""
    askers = [Asker(gateway, f"{prefix}-{n}") for n in range(ANSWERS)]
    for asker in askers:
        asker.start()
    for asker in askers:
        assert asker.talking.wait(10), f"an answer did not begin: {asker.refusal}"
    pause(server, pause_seconds)
    for asker in askers:
        asker.join(30)
        assert not asker.is_alive()
    client = redis.Redis(port=server.port, socket_timeout=pause_seconds + 5)
    try:
        client.ping()  # answered once the pause is over
    finally:
        client.close()
    return askers


def chat(gateway: Gateway, chat_id: str) -> dict[str, Any]:
    response = gateway.client.get(f"/api/chat/{chat_id}/messages")
    assert response.status_code == 200, response.text
    return dict(response.json())


def started(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    redis_server: RedisServer,
    **chats: Any,
) -> Gateway:
    upstream.default = Reply(
        chunks=WORDS, stall_before=len(WORDS), stall_seconds=STALL_SECONDS
    )  # chunk 0 is the role; the stall comes before the last word
    config = config_for(upstream, gateway={"chats": {"unread_timeout": 2, **chats}})
    return start_gateway(config, redis_url=redis_server.url)


def test_answers_that_end_while_redis_is_paused_are_all_stored_and_leave_no_active_stream(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, redis_server: RedisServer
) -> None:
    gateway = started(start_gateway, upstream, redis_server)  # store_retry: the default
    askers = ask_while_paused(gateway, redis_server, "paused-stored", STALL_SECONDS + 1.0)
    for asker in askers:
        assert asker.text == "".join(WORDS)
        assert [p["type"] for p in asker.parts][-1] == "finish"
        assert "error" not in [p["type"] for p in asker.parts]

    chats = [chat(gateway, asker.chat_id) for asker in askers]
    stored = [
        c
        for c in chats
        if [m["role"] for m in c["messages"]] == ["user", "assistant"]
        and c["messages"][1]["parts"][-1]["text"] == "".join(WORDS)
    ]
    assert len(stored) == ANSWERS
    assert [c["activeStreamId"] for c in chats] == [None] * ANSWERS
    for asker in askers:
        assert gateway.client.get(f"/api/chat/{asker.chat_id}/stream").status_code == 204


def test_an_answer_that_cannot_be_stored_says_so_and_leaves_no_dangling_active_stream(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, redis_server: RedisServer
) -> None:
    gateway = started(start_gateway, upstream, redis_server, store_retry=0.5)
    askers = ask_while_paused(gateway, redis_server, "paused-lost", STALL_SECONDS + 3.0)
    for asker in askers:
        types = [p["type"] for p in asker.parts]
        assert asker.text == "".join(WORDS)
        assert types[-2:] == ["error", "finish"], types
        assert "could not be stored" in asker.parts[-2]["errorText"]

    # Redis is back. Each chat still names its answer as the active stream until a request
    # sees that no replica says the answer is alive any more (its flag expires).
    plain = redis.Redis(port=redis_server.port)
    try:
        wait_until(
            lambda: not plain.keys("gateway:chat:{paused-lost-*}:flag:alive:*"),
            "the answers' alive flags to expire",
        )
    finally:
        plain.close()
    for asker in askers:
        # The first look already finds no answer in progress, and clears it.
        assert gateway.client.get(f"/api/chat/{asker.chat_id}/stream").status_code == 204
        found = chat(gateway, asker.chat_id)
        assert found["activeStreamId"] is None
        assert [m["role"] for m in found["messages"]] == ["user"]  # truthfully: not stored
