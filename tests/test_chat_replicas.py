"""Chats by id across two real `gateway serve` processes sharing one redis-server, driven by the
AI SDK's own chat client (ai@6's DefaultChatTransport, as the resume-streams recipe sets it up).

Replica A and B share nothing but Redis: the chat, the answer's event log and stop requests must
all cross it. tests/test_chats.py holds the same behaviours within one gateway.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.ai_sdk import ChatTransportClient, run_chat_transport_client
from tests.support.configs import config_for
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.processes import GatewayProcess, serve_config
from tests.support.redis_server import RedisServer

KEY_ALICE = "sk-replica-alice-0123456789abcdef"
KEY_BOB = "sk-replica-bob-0123456789abcdefgh"
ALICE = {"Authorization": f"Bearer {KEY_ALICE}"}
BOB = {"Authorization": f"Bearer {KEY_BOB}"}
# A slow answer (WORDS, a chunk every SLOW seconds: 3 s in all): long enough for a new client
# process (~0.4 s to start) to resume it after its first client left, short enough to finish.
WORDS = [f"w{i} " for i in range(30)]
SLOW = 0.1
# An answer that would run far longer than any test: only a stop ends it early.
ENDLESS = [f"s{i} " for i in range(400)]
DEADLINE = 15.0


@pytest.fixture(scope="module")
def replicas(
    _upstream_a: FakeUpstream, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """Two gateways in front of the same upstream and Redis, each in its own home directory."""
    config = config_for(_upstream_a, gateway={"chats": {"resumable": True, "unread_timeout": 30}})
    env = {"REDIS_URL": redis_server.url, "GATEWAY_API_KEYS": f"alice:{KEY_ALICE},bob:{KEY_BOB}"}
    started: list[GatewayProcess] = []
    try:
        for name in ("replica-a", "replica-b"):
            started.append(serve_config(config, tmp_path_factory.mktemp(name), **env))
        yield started[0], started[1]
    finally:
        for process in started:
            process.stop()


@pytest.fixture
def a(replicas: tuple[GatewayProcess, GatewayProcess], upstream: FakeUpstream) -> GatewayProcess:
    return replicas[0]  # `upstream` resets the fake's script and records for each test


@pytest.fixture
def b(replicas: tuple[GatewayProcess, GatewayProcess]) -> GatewayProcess:
    return replicas[1]


@pytest.fixture
def follow(b: GatewayProcess) -> Iterator[Callable[[str], ChatTransportClient]]:
    """Start alice's reconnectToStream on B in the background, reporting each chunk it reads."""
    started: list[ChatTransportClient] = []

    def start(chat_id: str) -> ChatTransportClient:
        options = {"mode": "reconnect", "chatId": chat_id, "apiKey": KEY_ALICE, "progress": True}
        started.append(ChatTransportClient(b.url, options))
        return started[-1]

    yield start
    for client in started:
        client.close()


def new_chat_id() -> str:
    # Redis outlives this module (other tests use it too): every chat is new.
    return f"replicas-{uuid.uuid4().hex[:12]}"


def user(text: str) -> dict[str, Any]:
    return {
        "id": f"u-{uuid.uuid4().hex[:8]}",
        "role": "user",
        "parts": [{"type": "text", "text": text}],
    }


def send(
    gateway: GatewayProcess, chat_id: str, message: dict[str, Any], **options: Any
) -> dict[str, Any]:
    return run_chat_transport_client(
        gateway.url,
        {"mode": "send", "chatId": chat_id, "apiKey": KEY_ALICE, "message": message, **options},
    )


def reconnect(gateway: GatewayProcess, chat_id: str, key: str = KEY_ALICE) -> dict[str, Any]:
    return run_chat_transport_client(
        gateway.url, {"mode": "reconnect", "chatId": chat_id, "apiKey": key}
    )


def text_of(message: dict[str, Any] | None) -> str:
    assert message is not None
    return "".join(part["text"] for part in message["parts"] if part["type"] == "text")


def chunk_types(result: dict[str, Any]) -> list[str]:
    return [chunk["type"] for chunk in result["chunks"]]


def stored(
    gateway: GatewayProcess, chat_id: str, headers: dict[str, str] = ALICE
) -> dict[str, Any]:
    response = httpx.get(f"{gateway.url}/api/chat/{chat_id}/messages", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    chat: dict[str, Any] = response.json()
    return chat


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def test_the_stock_transport_is_answered_and_the_next_message_carries_the_history(
    a: GatewayProcess, b: GatewayProcess, upstream: FakeUpstream
) -> None:
    chat_id = new_chat_id()
    first_question = user("hi")
    first = send(a, chat_id, first_question)
    assert first["status"] == "finished", first
    assert first["errors"] == [] and first["thrown"] is None
    types = chunk_types(first)
    assert types[0] == "start" and types[-1] == "finish"
    assert "text-delta" in types
    assert text_of(first["message"]) == "Hello from upstream-a"
    assert upstream.requests[-1]["messages"] == [{"role": "user", "content": "hi"}]

    # The client holds the whole conversation, but only its newest message goes on the wire,
    # and to the other replica: the history comes from Redis.
    upstream.default = Reply(chunks=["Second ", "answer"])
    second_question = user("and then?")
    second = send(
        b,
        chat_id,
        second_question,
        messages=[first_question, first["message"], second_question],
    )
    assert second["status"] == "finished", second
    assert text_of(second["message"]) == "Second answer"
    assert upstream.requests[-1]["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello from upstream-a"},
        {"role": "user", "content": "and then?"},
    ]
    chat = stored(a, chat_id)
    assert [m["role"] for m in chat["messages"]] == ["user", "assistant", "user", "assistant"]
    assert [m["id"] for m in chat["messages"][::2]] == [first_question["id"], second_question["id"]]
    assert chat["messages"][1]["id"] == first["message"]["id"]
    assert chat["messages"][3]["id"] == second["message"]["id"]


def test_an_answer_abandoned_on_one_replica_is_resumed_whole_on_the_other(
    a: GatewayProcess, b: GatewayProcess, upstream: FakeUpstream
) -> None:
    # The same reply read without interruption: what the resumed reader must rebuild.
    upstream.default = Reply(chunks=WORDS)
    whole = send(a, new_chat_id(), user("go"))
    assert whole["status"] == "finished", whole
    assert text_of(whole["message"]) == "".join(WORDS)

    upstream.default = Reply(chunks=WORDS, chunk_delay=SLOW)
    chat_id = new_chat_id()
    left = send(a, chat_id, user("go"), abortAfterChunks=4)
    assert left["status"] == "aborted", left
    assert "finish" not in chunk_types(left)

    resumed = reconnect(b, chat_id)
    assert resumed["status"] == "finished", resumed
    assert resumed["errors"] == [] and resumed["thrown"] is None
    types = chunk_types(resumed)
    assert types[0] == "start" and types[-1] == "finish"
    assert resumed["chunks"][0]["messageId"] == left["chunks"][0]["messageId"]
    assert text_of(resumed["message"]) == text_of(whole["message"])
    assert resumed["message"]["id"] == left["message"]["id"]

    again = reconnect(b, chat_id)
    assert again["status"] == "null", again  # 204: nothing is answering any more
    for replica in (a, b):
        chat = stored(replica, chat_id)
        assert chat["activeStreamId"] is None
        answer = chat["messages"][-1]
        assert answer["id"] == resumed["message"]["id"]
        assert text_of(answer) == "".join(WORDS)
        assert "status" not in answer.get("metadata", {})
    assert upstream.completed_streams == 2  # the provider was never cut off


def test_a_stop_sent_to_one_replica_stops_the_answer_running_on_the_other(
    a: GatewayProcess,
    b: GatewayProcess,
    upstream: FakeUpstream,
    follow: Callable[[str], ChatTransportClient],
) -> None:
    upstream.default = Reply(chunks=ENDLESS, chunk_delay=0.02)
    chat_id = new_chat_id()
    left = send(a, chat_id, user("go"), abortAfterChunks=3)
    assert left["status"] == "aborted", left

    follower = follow(chat_id)
    follower.wait_for_chunks(5)  # B is relaying A's answer from the event log
    active = stored(b, chat_id)["activeStreamId"]
    assert active
    # B knows A is still answering (its alive flag in Redis): a new message waits for a stop.
    busy = send(b, chat_id, user("more"))
    assert busy["status"] == "thrown" and "chat_busy" in busy["thrown"], busy
    assert len(upstream.requests) == 1

    # As the recipe's stop button: the client's (older) copy of the answer comes along; the
    # replica still producing it stores its own, newer one instead.
    stop = httpx.post(
        f"{b.url}/api/chat/{chat_id}/stop",
        json={"assistantMessage": left["message"], "activeStreamId": active},
        headers=ALICE,
        timeout=DEADLINE,
    )
    assert stop.status_code == 200 and stop.json() == {"success": True}
    assert upstream.wait_for_disconnect()  # A cut the provider call
    followed = follower.result()
    assert followed["status"] == "finished", followed
    assert chunk_types(followed)[-1] == "finish"
    assert followed["errors"] == []

    wait_until(lambda: stored(a, chat_id)["activeStreamId"] is None, "the answer is stored")
    for replica in (a, b):
        answer = stored(replica, chat_id)["messages"][-1]
        assert answer["role"] == "assistant"
        assert answer["metadata"]["status"] == "stopped"
        partial = text_of(answer)
        assert partial and len(partial) < len("".join(ENDLESS))
        assert "".join(ENDLESS).startswith(partial)
        assert partial == text_of(followed["message"])
        assert len(partial) > len(text_of(left["message"]))
        assert answer["id"] == followed["message"]["id"] == left["message"]["id"]
    assert upstream.completed_streams == 0
    assert reconnect(b, chat_id)["status"] == "null"


def test_another_key_can_neither_read_resume_stop_nor_delete_a_chat(
    a: GatewayProcess,
    b: GatewayProcess,
    upstream: FakeUpstream,
    follow: Callable[[str], ChatTransportClient],
) -> None:
    upstream.default = Reply(chunks=WORDS, chunk_delay=SLOW)
    chat_id = new_chat_id()
    left = send(a, chat_id, user("a secret question"), abortAfterChunks=3)
    assert left["status"] == "aborted", left
    # Alice follows her answer on B first: had bob stopped it, she would see it cut short.
    follower = follow(chat_id)
    follower.wait_for_chunks(4)
    requests_before = len(upstream.requests)

    # While alice's answer runs on A, bob tries every door of the chat on both replicas.
    # To bob it reads as an id with no chat: 404 to read or delete, 204 to resume, a no-op stop.
    unknown_id = new_chat_id()
    for replica in (b, a):
        for method, route, body in [
            ("GET", "/api/chat/{}/messages", None),
            ("GET", "/api/chat/{}/stream", None),
            ("POST", "/api/chat/{}/stop", {}),
            ("DELETE", "/api/chat/{}", None),
        ]:
            response, unknown = (
                httpx.request(
                    method, replica.url + route.format(i), json=body, headers=BOB, timeout=DEADLINE
                )
                for i in (chat_id, unknown_id)
            )
            assert (response.status_code, response.content) == (
                unknown.status_code,
                unknown.content,
            ), (method, route)
            assert "secret" not in response.text
        taken = httpx.post(
            replica.url + "/api/chat?protocol=ui-message-stream",
            json={"id": chat_id, "message": user("mine now"), "selectedChatModel": "chat-model"},
            headers=BOB,
            timeout=DEADLINE,
        )
        assert taken.status_code == 404 and taken.json()["error"]["type"] == "chat_not_found"
        assert "secret" not in taken.text
    # The SDK's own reconnect, with bob's key, finds nothing to resume.
    refused = reconnect(b, chat_id, key=KEY_BOB)
    assert refused["status"] == "null", refused  # a 204, as for a chat that does not exist
    assert "secret" not in json.dumps(refused)
    assert len(upstream.requests) == requests_before  # bob's message reached no provider

    # Alice's chat is intact: her answer ran to its end, unstopped, on both replicas.
    followed = follower.result()
    assert followed["status"] == "finished", followed
    assert text_of(followed["message"]) == "".join(WORDS)
    wait_until(lambda: stored(a, chat_id)["activeStreamId"] is None, "the answer is stored")
    for replica in (a, b):
        chat = stored(replica, chat_id)
        assert [m["role"] for m in chat["messages"]] == ["user", "assistant"]
        assert text_of(chat["messages"][0]) == "a secret question"
        assert text_of(chat["messages"][1]) == "".join(WORDS)
        assert "status" not in chat["messages"][1].get("metadata", {})
    assert upstream.completed_streams == 1
    deleted = httpx.delete(f"{a.url}/api/chat/{chat_id}", headers=ALICE, timeout=DEADLINE)
    assert deleted.json() == {"success": True}
    gone = httpx.get(f"{b.url}/api/chat/{chat_id}/messages", headers=ALICE, timeout=DEADLINE)
    assert gone.status_code == 404
