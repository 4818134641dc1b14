"""REDIS_URL=rediss://… (TLS) for every Redis user: the rate limiter (the `limits` library), the
response cache, the chat store and /health/ready, against a real TLS-only redis-server whose
certificate a throwaway CA signed. A URL that cannot verify that certificate (another CA, the
system's CAs) or that does not speak TLS is not used: the gateway says Redis is unreachable and
keeps answering, with no 500, and the password in the URL shows up in no log line or answer."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.gateways import Gateway
from tests.support.redis_server import RedisTlsServer, make_tls_files
from tests.support.redis_topology import everything, post, send_to_chat

# A password that cannot appear in a log line or an answer by accident.
PASSWORD = f"tls-pw-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def tls_redis() -> Iterator[RedisTlsServer]:
    server = RedisTlsServer(password=PASSWORD).start()
    yield server
    server.stop()


def fresh_key() -> tuple[str, str, dict[str, str]]:
    """A tenant of this test's own (counts in Redis outlive a test): its name, api_keys, headers."""
    tenant, key = f"t{uuid.uuid4().hex[:8]}", f"sk-{uuid.uuid4().hex}"
    return tenant, f"{tenant}:{key}", {"authorization": f"Bearer {key}"}


def assert_no_password(caplog: pytest.LogCaptureFixture, *answers: httpx.Response) -> None:
    # The gateway's own lines were captured (else this check would pass on nothing).
    assert any(record.name == "gateway.request" for record in caplog.records)
    for secret in {PASSWORD, quote(PASSWORD, safe="")}:
        assert secret not in caplog.text
        for record in caplog.records:
            assert secret not in record.getMessage()
            assert secret not in repr(getattr(record, "fields", ""))
        for answer in answers:
            assert secret not in answer.text
            assert secret not in str(answer.headers)


def test_limits_cache_and_chats_over_tls(
    tls_redis: RedisTlsServer,
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant, api_keys, headers = fresh_key()
    assert tls_redis.url.startswith("rediss://") and "ssl_ca_certs=" in tls_redis.url
    gateway = start_gateway(everything(upstream), redis_url=tls_redis.url, api_keys=api_keys)
    client = gateway.client
    redis_tls = tls_redis.client()  # verifies the server against the CA, as the gateway must

    first_ready = client.get("/health/ready")
    report = first_ready.json()
    assert report["redis"] == "ok" and report["rate_limit_store"] == "redis", report

    # The rate limit: 2/minute on title-model, the third is a 429, counted on the TLS server.
    answers = [post(client, headers, "title-model", f"title {n}") for n in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    counters = redis_tls.keys(f"LIMITS*model:title-model*{tenant}*")
    assert len(counters) == 1, counters
    assert int(redis_tls.get(counters[0]) or 0) >= 2

    # The response cache: the same question again is a hit, stored on the TLS server.
    cached_before = set(redis_tls.scan_iter("gateway:cache:*"))
    question = f"cache me {uuid.uuid4().hex}"
    calls = len(upstream.requests)
    miss, hit = (post(client, headers, "chat-model", question) for _ in range(2))
    assert miss.status_code == hit.status_code == 200
    assert miss.headers["x-cache"] == "miss" and hit.headers["x-cache"] == "hit"
    assert len(upstream.requests) == calls + 1
    assert len(set(redis_tls.scan_iter("gateway:cache:*")) - cached_before) == 1

    # A chat by id keeps its history on the TLS server.
    chat_id = f"chat-{uuid.uuid4().hex[:8]}"
    for text in ("hi", "and?"):
        answer = send_to_chat(client, headers, chat_id, text)
        assert answer.status_code == 200, answer.text
    stored = client.get(f"/api/chat/{chat_id}/messages", headers=headers)
    assert stored.status_code == 200, stored.text
    roles = [m["role"] for m in stored.json()["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert redis_tls.exists(f"gateway:chat:{{{chat_id}}}") == 1

    last_ready = client.get("/health/ready")
    report = last_ready.json()
    assert report["redis"] == "ok" and report["rate_limit_store"] == "redis", report
    assert report["degraded"] == []
    redis_tls.close()
    assert_no_password(caplog, first_ready, last_ready, *answers, miss, hit, stored)


def _wrong_ca_url(server: RedisTlsServer, tmp_path: Path) -> str:
    """The right server and password, but a CA that did not sign its certificate."""
    other = make_tls_files(str(tmp_path / "other-ca"), name="unrelated")
    url = server.url.replace(quote(server.tls.ca_cert, safe=""), quote(other.ca_cert, safe=""))
    assert url != server.url
    return url


def _system_cas_url(server: RedisTlsServer, tmp_path: Path) -> str:
    """Verification required, but against the system's CAs only: none signed the server."""
    url = server.url.split("&ssl_ca_certs=")[0]
    assert url.endswith("?ssl_cert_reqs=required")
    return url


def _plain_url(server: RedisTlsServer, tmp_path: Path) -> str:
    """redis:// (no TLS) to the TLS port."""
    return f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{server.port}/0"


@pytest.mark.parametrize(
    "bad_url",
    [_wrong_ca_url, _system_cas_url, _plain_url],
    ids=["unrelated-ca", "system-cas", "plain-redis"],
)
def test_an_unverified_or_plain_connection_is_not_used(
    bad_url: Callable[[RedisTlsServer, Path], str],
    tls_redis: RedisTlsServer,
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = bad_url(tls_redis, tmp_path)
    assert PASSWORD in url or quote(PASSWORD, safe="") in url
    tenant, api_keys, headers = fresh_key()
    redis_tls = tls_redis.client()
    cached_before = set(redis_tls.scan_iter("gateway:cache:*"))
    gateway = start_gateway(everything(upstream), redis_url=url, api_keys=api_keys)
    client = gateway.client

    first_ready = client.get("/health/ready")
    assert first_ready.status_code == 200  # on_store_error: allow keeps this process ready
    report = first_ready.json()
    assert report["redis"] == "unreachable", report
    assert set(report["degraded"]) == {"rate_limits", "response_cache"}, report

    # Chats still answer; the limit is counted per process (2/minute still gives a 429).
    answers = [post(client, headers, "title-model", f"title {n}") for n in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429], [a.text for a in answers]
    question = f"cache me {uuid.uuid4().hex}"
    calls = len(upstream.requests)
    again = [post(client, headers, "chat-model", question) for _ in range(2)]
    assert [a.status_code for a in again] == [200, 200], [a.text for a in again]
    assert [a.headers["x-cache"] for a in again] == ["bypass", "bypass"]
    assert len(upstream.requests) == calls + 2  # the cache is bypassed, not served from Redis
    # A chat by id needs its store: a plain 503 that names it, not a 500.
    by_id = send_to_chat(client, headers, f"chat-{uuid.uuid4().hex[:8]}", "hi")
    assert by_id.status_code == 503, by_id.text
    assert by_id.json()["error"]["type"] == "chat_store_unavailable", by_id.text

    last_ready = client.get("/health/ready")
    report = last_ready.json()
    assert report["redis"] == "unreachable", report
    assert report["rate_limit_store"] == "degraded: per-process memory", report

    # The failure is logged, by its class.
    assert "rate-limit store unavailable (ConnectionError)" in caplog.text

    # Nothing reached the TLS server through the unverified (or plain) connection.
    assert redis_tls.keys(f"LIMITS*{tenant}*") == []
    assert set(redis_tls.scan_iter("gateway:cache:*")) == cached_before
    redis_tls.close()
    assert_no_password(caplog, first_ready, last_ready, *answers, *again, by_id)
