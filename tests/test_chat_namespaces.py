"""Chat ids name chats only: a stored response (/v1/responses) lives in a namespace of its own,
and a chat id is what the AI SDK sends (`[A-Za-z0-9_-]{1,128}`) or a 422 naming the field, on
every /api/chat route. Against the in-process store and a real redis-server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import openai
import pytest
import redis

from tests.support.configs import config_for
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateways import Gateway
from tests.support.redis_server import RedisServer

UI = "?protocol=ui-message-stream"


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, redis_server: RedisServer) -> dict[str, str]:
    return {"redis_url": redis_server.url} if request.param == "redis" else {}


@pytest.fixture
def gateway(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, store: dict[str, str]
) -> Gateway:
    return start_gateway(config_for(upstream), **store)


def sdk(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)


def ask(chat_id: str, text: str = "hi", message_id: str = "u1") -> dict[str, Any]:
    message = {"id": message_id, "role": "user", "parts": [{"type": "text", "text": text}]}
    return {"id": chat_id, "message": message, "selectedChatModel": "chat-model"}


# The AI SDK's generateId (16 of [0-9A-Za-z]), a prefixed createIdGenerator id, a UUID (the
# ai-chatbot template), and the longest id accepted.
GOOD_IDS = ["aB3dE5fG7hJ9kL1m", "chat-Xy12Ab34Cd56Ef78", "0b6f7e0c-3f7a-4d2e-9c41-8e2b6a1d5f90"]


@pytest.mark.parametrize("chat_id", [*GOOD_IDS, "c" * 128, "under_score"])
def test_the_ids_the_ai_sdk_makes_are_chat_ids(
    gateway: Gateway, upstream: FakeUpstream, chat_id: str
) -> None:
    assert gateway.client.post("/api/chat" + UI, json=ask(chat_id)).status_code == 200
    stored = gateway.client.get(f"/api/chat/{chat_id}/messages")
    assert stored.status_code == 200 and len(stored.json()["messages"]) == 2


BAD_IDS = ["a:b", "a.b", "c" * 129, "a%20b", "%C3%A9t%C3%A9", "a%00b", "resp:{x}"]
ROUTES = [
    ("GET", "/api/chat/{}/messages"),
    ("GET", "/api/chat/{}/stream"),
    ("POST", "/api/chat/{}/stop"),
    ("DELETE", "/api/chat/{}"),
]


@pytest.mark.parametrize("chat_id", BAD_IDS)
def test_a_malformed_chat_id_is_a_422_naming_the_field_on_every_route(
    gateway: Gateway, upstream: FakeUpstream, chat_id: str
) -> None:
    for method, path in ROUTES:
        response = gateway.client.request(method, path.format(chat_id))
        assert response.status_code == 422, (method, path, response.text)
        assert response.json()["error"]["type"] == "invalid_request"
        assert "chat_id" in response.json()["error"]["message"], (method, path)
    posted = gateway.client.post("/api/chat" + UI, json=ask(unquote(chat_id)))
    assert posted.status_code == 422, posted.text
    assert posted.json()["error"]["message"].startswith("id: ")
    assert upstream.requests == []


def test_a_chat_id_cannot_reach_a_stored_response(gateway: Gateway, upstream: FakeUpstream) -> None:
    """The issue's probe: a 500 (KeyError 'role') on POST, and GET / DELETE reading and
    deleting the raw record, through the chat id `response:<id>`."""
    client = sdk(gateway)
    first = client.responses.create(model="chat-model", input="remember me")
    named = f"response:{first.id}"
    for method, path in ROUTES:
        response = gateway.client.request(method, path.format(named))
        assert response.status_code == 422, (method, path, response.text)
        assert "remember me" not in response.text
    posted = gateway.client.post("/api/chat" + UI, json=ask(named))
    assert posted.status_code == 422, posted.text
    assert "connection" not in posted.headers  # a client mistake keeps the connection
    assert gateway.client.get("/health").status_code == 200

    assert client.responses.retrieve(first.id).output_text == "Hello from upstream-a"
    second = client.responses.create(
        model="chat-model", input="and now?", previous_response_id=first.id
    )
    assert second.status == "completed"
    assert upstream.requests[-1]["messages"][0] == {"role": "user", "content": "remember me"}


def test_a_chat_and_a_stored_response_of_the_same_id_are_two_things(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    client = sdk(gateway)
    first = client.responses.create(model="chat-model", input="the response's words")
    assert gateway.client.post("/api/chat" + UI, json=ask(first.id, "the chat's words")).is_success
    messages = gateway.client.get(f"/api/chat/{first.id}/messages").json()["messages"]
    assert messages[0]["parts"] == [{"type": "text", "text": "the chat's words"}]

    assert gateway.client.delete(f"/api/chat/{first.id}").json() == {"success": True}
    assert client.responses.retrieve(first.id).output_text == "Hello from upstream-a"
    items = client.responses.input_items.list(first.id).data
    assert [item.content[0].text for item in items] == ["the response's words"]  # type: ignore[union-attr]
    client.responses.delete(first.id)
    assert gateway.client.post("/api/chat" + UI, json=ask(first.id, "again", "u2")).is_success
    assert len(gateway.client.get(f"/api/chat/{first.id}/messages").json()["messages"]) == 2


def test_in_redis_chats_and_stored_responses_have_their_own_key_prefixes(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, redis_server: RedisServer
) -> None:
    gateway = start_gateway(config_for(upstream), redis_url=redis_server.url)
    first = sdk(gateway).responses.create(model="chat-model", input="hi")
    assert gateway.client.post("/api/chat" + UI, json=ask("namespaced-chat")).is_success

    keys = redis.Redis(port=redis_server.port)
    # The id is the hash tag of each: one slot per document on a Redis Cluster.
    assert keys.exists(f"gateway:response:{{{first.id}}}")
    assert keys.exists("gateway:chat:{namespaced-chat}")
    assert not keys.exists(f"gateway:chat:{{response:{first.id}}}")
