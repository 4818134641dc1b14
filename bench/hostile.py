"""A bounded hostile run against a real `gateway serve`: what an attacker and bad luck do to it.

    .venv/bin/python bench/hostile.py [--fuzz 2000] [--seed 1] [--wave 2000] [--answers 40]

Issue 21 found a leaking task, lost answers, one client locking everyone out and 5xx answers
to malformed bodies by probing the gateway by hand. This script repeats that ground in one
bounded run (about a minute on two busy cores; each part has a time limit) so every fix can
be shown to hold, and any regression seen, with numbers:

1. fuzz of every door: `--fuzz` seeded, reproducible hostile requests spread over every route
   (bodies truncated, nested deeply, with 5,000-digit numbers, wrong types, duplicate keys,
   bytes that are not UTF-8, strings at the caps, smuggled LiteLLM parameters, odd chat and
   response ids, bad keys). Check: no response >= 500 and none left unanswered, since a
   client's mistake is a 4xx, and no smuggled `mock_response` answered. (A connection reset
   while the client still sends a body over the cap is counted apart: a server may answer
   413 and close before reading it all.)
2. half-open wave: `--wave` connections from 127.0.0.1 that send half a request head and
   stall, while /health is probed from 127.0.0.2 every 0.2 s and a well-behaved client on
   127.0.0.3 asks for chat answers one after another. Check: at least 95 % of each succeed.
3. chat-failure loop: chat-by-id answers whose provider answers 500, 100 in a row then 300 at
   once; then the gateway's background tasks (`gateway_background_tasks`), its running
   answers (`gateway_chat_answers_running`) and the `…:flag:alive:…` keys Redis still sees
   refreshed. Check: back to the idle baseline, nothing running, nothing refreshed, and every
   client told its answer failed.
4. Redis pause at the end of answers: `--answers` slow chat-by-id answers at once, and
   `CLIENT PAUSE 2000 ALL` as they reach their last word. Check: every answer is either
   stored or said not to be, and no chat is left naming an active stream.

Everything is on loopback: the gateway (one worker, three API keys, chats on, a high rate limit),
its own redis-server on a free port (tests/support/redis_server.py), and fake upstreams in this
process (tests/support/fake_upstream.py). Every loop is bounded in count and each part in time.
One line per part, then a table; the exit code is 1 if any check failed, and then the
gateway's log is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.*; bench/ itself is on the path as the script's directory

import httpx  # noqa: E402
import redis  # noqa: E402
import yaml  # noqa: E402
from _fake_server import RecentRequests  # noqa: E402
from _targets import _clean_env, serve_process  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from tests.support.fake_upstream import FakeUpstream, Fault, Reply  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.serving import BackgroundLoop  # noqa: E402

HOST = "127.0.0.1"
WAVE_SOURCE, PROBE_SOURCE, CLIENT_SOURCE = "127.0.0.1", "127.0.0.2", "127.0.0.3"
TENANTS = {
    "alice": "sk-hostile-alice-0123456789",
    "bob": "sk-hostile-bob-0123456789ab",
    "carol": "sk-hostile-carol-0123456789",
}
ADMIN_KEY = "hostile-admin-key-0123456789"
UPSTREAM_KEY = "sk-hostile-upstream-0123456789"
UI = "?protocol=ui-message-stream"
# The gateway's caps at their defaults (gateway/settings.py): the fuzz puts strings right at them.
MAX_BODY_BYTES = 1024 * 1024
MAX_TOTAL_CHARS = 1_000_000
REQUEST_SECONDS = 30.0  # one fuzz request, to its last byte
SLOW_WORDS = [f"word{i} " for i in range(20)]
# The slow answer waits this long before its last word, so all answers can be near their end
# together however long the loaded gateway took to start them.
LAST_WORD_STALL = 1.5
PAUSE_MS = 2000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def headers_for(tenant: str) -> dict[str, str]:
    return {"authorization": f"Bearer {TENANTS[tenant]}"}


def user_message(text: str, message_id: str = "u1") -> dict[str, Any]:
    return {"id": message_id, "role": "user", "parts": [{"type": "text", "text": text}]}


def sdk_body(chat_id: str, model: str, text: str = "hi") -> dict[str, Any]:
    """The AI SDK's stock body for a chat by id (DefaultChatTransport), with the model."""
    messages = [user_message(text)]
    return {"id": chat_id, "messages": messages, "trigger": "submit-message", "model": model}


def stream_parts(body: str) -> list[dict[str, Any]]:
    """The UI message stream's parts (SSE `data: {…}` lines)."""
    parts = []
    for line in body.splitlines():
        if line.startswith("data: {"):
            parts.append(json.loads(line[6:]))
    return parts


# --- the system under test -----------------------------------------------------------------------


@dataclass
class System:
    url: str
    port: int
    redis: RedisServer
    workdir: Path


def bounded_fake(loop: BackgroundLoop, name: str, default: Reply | Fault) -> FakeUpstream:
    """A fake upstream that answers `default` and keeps only its last few requests (the fuzz
    sends it bodies of a megabyte)."""
    fake = FakeUpstream(loop, name)
    fake.requests = RecentRequests()  # type: ignore[assignment]
    fake.headers = deque(maxlen=16)  # type: ignore[assignment]
    fake.default = default
    return fake.start()


def gateway_config(ok: FakeUpstream, failing: FakeUpstream, slow: FakeUpstream) -> dict[str, Any]:
    def entry(name: str, fake: FakeUpstream, **info: Any) -> dict[str, Any]:
        params = {"model": "openai/fake", "api_base": fake.base_url, "api_key": UPSTREAM_KEY}
        return {"model_name": name, "litellm_params": params, "model_info": info}

    return {
        "model_list": [
            entry("chat-model", ok),
            entry("embed-model", ok, mode="embedding"),
            entry("failing-model", failing),
            entry("slow-model", slow),
        ],
        "router_settings": {"num_retries": 0, "timeout": 10},
        "gateway": {
            # Far above what this run sends: the fuzz must reach validation, not a 429.
            "rate_limit": {"default": "100000/minute"},
            # The failure loop runs 50 answers at once under one key.
            "chats": {"max_unread_answers": 1000},
        },
    }


@contextmanager
def system() -> Iterator[System]:
    """Redis, the fake upstreams and `gateway serve`, all on loopback; stopped on the way out.
    The work directory (config, gateway.log) is removed unless the caller keeps it."""
    workdir = Path(tempfile.mkdtemp(prefix="hostile-"))
    redis_server = RedisServer().start()
    loop = BackgroundLoop()
    fakes = [
        bounded_fake(loop, "ok", Reply(chunks=["Hello", " from", " the", " fake"])),
        bounded_fake(loop, "failing", Fault(500, "upstream exploded")),
        bounded_fake(
            loop,
            "slow",
            Reply(
                chunks=SLOW_WORDS,
                chunk_delay=0.05,
                stall_before=len(SLOW_WORDS),  # chunk 0 is the role: before the last word
                stall_seconds=LAST_WORD_STALL,
            ),
        ),
    ]
    try:
        config = workdir / "config.yaml"
        config.write_text(yaml.safe_dump(gateway_config(*fakes)), encoding="utf-8")
        env = _clean_env(
            GATEWAY_API_KEYS=",".join(f"{name}:{key}" for name, key in TENANTS.items()),
            GATEWAY_ADMIN_KEY=ADMIN_KEY,
            GATEWAY_CONFIG_POLL_SECONDS="0",
            REDIS_URL=redis_server.url,
            PYTHONPATH=str(ROOT),  # this checkout's gateway, whatever the venv installed
        )
        command = [sys.executable, "-m", "gateway", "serve", "--host", HOST, "--port", "{port}"]
        command += ["--config", str(config)]
        with serve_process("gateway", command, "/health", env, workdir) as (port, _):
            yield System(f"http://{HOST}:{port}", port, redis_server, workdir)
    finally:
        for fake in fakes:
            fake.stop()
        loop.close()
        redis_server.stop()


@dataclass
class Outcome:
    part: str
    measured: str
    check: str
    passed: bool
    details: list[str] = field(default_factory=list)


async def bounded(name: str, seconds: float, part: Awaitable[Outcome]) -> Outcome:
    """Run one part within `seconds`; a part that overruns fails."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(seconds):
            outcome = await part
    except TimeoutError:
        outcome = Outcome(name, "did not finish", f"finishes within {seconds:.0f} s", False)
    outcome.measured += f" ({time.monotonic() - started:.0f} s)"
    return outcome


# --- 1. fuzz of every door -----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # percent-encoded, with its query
    headers: dict[str, str]
    body: bytes | None
    how: str  # what was done to it, for the report


@dataclass
class Known:
    """Chats and stored responses each tenant made before the fuzz, for ids that exist."""

    chats: dict[str, list[str]]
    responses: dict[str, list[str]]

    def any_response(self, rng: random.Random) -> str:
        return rng.choice(self.responses[rng.choice(list(TENANTS))])


class RawTokens:
    """Stand-ins for JSON no encoder writes (deep nesting, 5,000-digit numbers, NaN): a value is
    a placeholder string until the body is serialized, then replaced by its raw text."""

    def __init__(self) -> None:
        self._raw: dict[str, bytes] = {}

    def token(self, raw: bytes) -> str:
        name = f"\x01raw{len(self._raw)}\x01"  # JSON always escapes \x01: no clash with text
        self._raw[name] = raw
        return name

    def render(self, text: bytes) -> bytes:
        for name, raw in self._raw.items():
            text = text.replace(json.dumps(name).encode(), raw)
        return text


# LiteLLM parameters a client must not be able to set: each would send the call elsewhere
# (a 5xx from port 9), fake the answer (SMUGGLED_ANSWER in a 2xx), or change what it costs.
SMUGGLED_ANSWER = "smuggled answer"
SMUGGLED: list[tuple[str, Any]] = [
    ("api_base", "http://127.0.0.1:9/v1"),
    ("base_url", "http://127.0.0.1:9/v1"),
    ("api_key", "sk-smuggled-0123456789"),
    ("mock_response", SMUGGLED_ANSWER),
    ("metadata", {"user_api_key": "x", "model_group": "failing-model"}),
    ("metadata", "not an object"),
    ("litellm_params", {"api_base": "http://127.0.0.1:9/v1"}),
    ("custom_llm_provider", "ollama"),
    ("extra_body", {"api_base": "http://127.0.0.1:9/v1"}),
    ("extra_headers", {"authorization": "Bearer sk-smuggled"}),
    ("headers", {"x-smuggled": "1"}),
    ("user_config", {"model_list": []}),
    ("model_list", [{"model_name": "chat-model", "litellm_params": {"model": "openai/x"}}]),
    ("fallbacks", ["failing-model"]),
    ("num_retries", 100),
    ("timeout", 0.0001),
    ("stream_timeout", 0.0001),
    ("caching", True),
    ("cache", {"no-store": True}),
    ("input_cost_per_token", 0),
    ("proxy_server_request", {"url": "http://127.0.0.1:9"}),
    ("litellm_logging_obj", {}),
    ("api_version", "1999-01-01"),
    ("organization", "org-smuggled"),
    ("azure_ad_token", "smuggled"),
    ("aws_secret_access_key", "smuggled"),
    ("vertex_credentials", "{}"),
]
ODD_CHAT_IDS = [
    "response:x",
    "../x",
    "..",
    "a" * 300,
    "a" * 129,
    "_" * 128,
    "",
    " ",
    "a b",
    "x.y",
    "x:y",
    "x/y",
    "\u00fc",
    "\u202eevil",
    "\x00",
    "%00",
    "-",
    "gateway:chat:{x}",
    "{x}",
    "*",
]
ODD_RESPONSE_IDS = ["resp_", "resp_" + "0" * 300, "../x", "response:x", "\x00", "%ff", "*", ""]
ODD_MODELS = [
    "",
    "unknown-model",
    "embed-model",
    "chat-model ",
    "Chat-Model",
    "openai/fake",
    "../chat-model",
    "chat-model\x00",
    "m" * 300,
    "*",
]
PROTOCOLS = ["ui-message-stream", "data-stream", "typed", "bogus", "", "UI-MESSAGE-STREAM "]
CONTENT_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/json; charset=utf-16",
    "application/vnd.api+json",
    "multipart/form-data; boundary=x",
    "",
]
WHOLE_BODIES = [
    b"",
    b"   ",
    b"null",
    b"[]",
    b"true",
    b"123",
    b'"text"',
    b"[" * 100_000,
    b'{"a":' * 5_000,
    b"{'model': 'chat-model'}",
    b'{"model": "chat-model"} trailing',
    b"\xff\xfe{\x00}\x00",
]


class Fuzzer:
    """Seeded hostile requests: the same seed makes the same requests (stored ids aside)."""

    def __init__(self, seed: int, known: Known) -> None:
        self.rng = random.Random(seed)
        self.known = known

    def cases(self, count: int) -> Iterator[Case]:
        """`count` cases, made one at a time as they are taken (a few are megabytes)."""
        doors: list[Callable[[int], Case]] = [
            self.chat_plain,
            self.chat_by_id,
            self.chat_route("GET", "/stream"),
            self.chat_route("GET", "/messages"),
            self.chat_route("POST", "/stop"),
            self.chat_route("DELETE", ""),
            self.openai_chat,
            self.responses,
            self.response_route("GET", ""),
            self.response_route("GET", "/input_items"),
            self.response_route("DELETE", ""),
            self.anthropic,
            self.embeddings,
            self.plain_get("/v1/models"),
            self.plain_get("/health"),
            self.plain_get("/health/ready"),
            self.admin_reload,
        ]
        for index in range(count):
            yield self.rng.choice(doors)(index)

    # --- who asks ---

    def tenant(self) -> str:
        return self.rng.choice(list(TENANTS))

    def auth(self, tenant: str) -> tuple[dict[str, str], str]:
        roll = self.rng.random()
        key = TENANTS[tenant]
        if roll < 0.75:
            return {"authorization": f"Bearer {key}"}, ""
        if roll < 0.85:
            return {"x-api-key": key}, "x-api-key"
        hostile = [
            ({}, "no key"),
            ({"authorization": "Bearer sk-wrong-0123456789abcdef"}, "wrong key"),
            ({"authorization": "Bearer"}, "bearer without a key"),
            ({"authorization": f"Basic {key}"}, "basic scheme"),
            ({"authorization": "Bearer " + "k" * 8000}, "8 kB key"),
            ({"authorization": f"Bearer {key[:-1]}"}, "key minus a char"),
            ({"x-api-key": f"{key}{key}"}, "key twice"),
            ({"authorization": f"Bearer {key.upper()}"}, "key in capitals"),
            ({"authorization": f"bearer {ADMIN_KEY}"}, "admin key as API key"),
        ]
        headers, how = self.rng.choice(hostile)
        return dict(headers), how

    # --- what it sends ---

    def chat_id(self, tenant: str) -> tuple[str, str]:
        roll = self.rng.random()
        if roll < 0.35:
            return self.rng.choice(self.known.chats[tenant]), "own chat"
        if roll < 0.5:
            other = self.rng.choice([t for t in TENANTS if t != tenant])
            return self.rng.choice(self.known.chats[other]), "another tenant's chat"
        if roll < 0.6:
            return f"response:{self.known.any_response(self.rng)}", "response: id"
        if roll < 0.75:
            return f"fz{self.rng.randrange(10**9)}", "new chat"
        odd = self.rng.choice(ODD_CHAT_IDS)
        return odd, f"odd id {odd[:20]!r}"

    def response_id(self, tenant: str) -> tuple[str, str]:
        roll = self.rng.random()
        if roll < 0.4:
            return self.rng.choice(self.known.responses[tenant]), "own response"
        if roll < 0.55:
            other = self.rng.choice([t for t in TENANTS if t != tenant])
            return self.rng.choice(self.known.responses[other]), "another tenant's response"
        if roll < 0.65:
            return self.rng.choice(self.known.chats[tenant]), "a chat id"
        odd = self.rng.choice(ODD_RESPONSE_IDS)
        return odd, f"odd id {odd[:20]!r}"

    def path_segment(self, value: str) -> str:
        # Mostly encoded as a client library would; sometimes sent as it is.
        if self.rng.random() < 0.8:
            return quote(value, safe="")
        return quote(value, safe="/:.{}*%")

    def query(self, base: dict[str, str] | None = None) -> tuple[str, str]:
        params = dict(base or {})
        how = ""
        if self.rng.random() < 0.25:
            choice = self.rng.randrange(5)
            if choice == 0:
                params["protocol"] = self.rng.choice(PROTOCOLS)
            elif choice == 1:
                params["order"] = self.rng.choice(["asc", "desc", "sideways"])
                params["limit"] = self.rng.choice(["0", "1", "100", "101", "-1", "abc", "9" * 30])
            elif choice == 2:
                params["stream"] = self.rng.choice(["true", "1", "yes"])
            elif choice == 3:
                params["after"] = self.rng.choice(["", "x" * 300, "msg_0", "\x00"])
            else:
                params.update({f"p{i}": "v" for i in range(200)})
            how = "query"
        text = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params.items())
        return ("?" + text if text else ""), how

    def messages(self) -> list[dict[str, Any]]:
        return [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": self.rng.choice(["hi", "你好", "hello there"])},
        ]

    def tool(self) -> dict[str, Any]:
        parameters = {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        }
        return {"name": "get_weather", "description": "the weather", "parameters": parameters}

    # --- the doors, each a valid body first ---

    def chat_plain(self, index: int) -> Case:
        body = {
            "model": "chat-model",
            "messages": self.messages(),
            "stream": self.rng.random() < 0.5,
            "temperature": 0.5,
            "max_tokens": 16,
        }
        query, how = self.query()
        return self.post(index, "/api/chat" + query, body, how)

    def chat_by_id(self, index: int) -> Case:
        tenant = self.tenant()
        chat_id, how = self.chat_id(tenant)
        message = user_message("hi", f"m{index}")
        body: dict[str, Any]
        if self.rng.random() < 0.5:
            body = {"id": chat_id, "message": message, "selectedChatModel": "chat-model"}
        else:
            body = sdk_body(chat_id, "chat-model")
        if self.rng.random() < 0.2:
            body = {"id": chat_id, "trigger": "regenerate-message", "messageId": f"m{index}"}
            body["model"] = "chat-model"
        body["stream"] = self.rng.random() < 0.7
        query, query_how = self.query({"protocol": "ui-message-stream"})
        return self.post(index, "/api/chat" + query, body, f"{how} {query_how}", tenant)

    def chat_route(self, method: str, tail: str) -> Callable[[int], Case]:
        def case(index: int) -> Case:
            tenant = self.tenant()
            chat_id, how = self.chat_id(tenant)
            path = f"/api/chat/{self.path_segment(chat_id)}{tail}"
            query, query_how = self.query()
            if tail == "/stop":
                body: dict[str, Any] = {
                    "assistantMessage": {
                        "id": "a1",
                        "role": "assistant",
                        "parts": [{"type": "text", "text": "so far"}],
                    },
                    "activeStreamId": f"stream-{index}",
                }
                return self.post(index, path + query, body, f"{how} {query_how}", tenant)
            return self.bodiless(index, method, path + query, f"{how} {query_how}", tenant)

        return case

    def openai_chat(self, index: int) -> Case:
        stream = self.rng.random() < 0.5
        body: dict[str, Any] = {
            "model": "chat-model",
            "messages": self.messages(),
            "stream": stream,
            "max_tokens": 16,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        if self.rng.random() < 0.4:
            body["tools"] = [{"type": "function", "function": self.tool()}]
            body["tool_choice"] = "auto"
        return self.post(index, "/v1/chat/completions", body, "")

    def responses(self, index: int) -> Case:
        tenant = self.tenant()
        body: dict[str, Any] = {
            "model": "chat-model",
            "input": self.rng.choice(
                [
                    "hi",
                    [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
                    [
                        {
                            "type": "function_call",
                            "call_id": "c1",
                            "name": "get_weather",
                            "arguments": '{"city": "Paris"}',
                        },
                        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
                    ],
                ]
            ),
            "stream": self.rng.random() < 0.5,
            "store": self.rng.random() < 0.7,
            "instructions": "be brief",
            "max_output_tokens": 16,
        }
        how = ""
        if self.rng.random() < 0.4:
            body["previous_response_id"], how = self.response_id(tenant)
        if self.rng.random() < 0.3:
            body["tools"] = [{"type": "function", **self.tool()}]
        return self.post(index, "/v1/responses", body, how, tenant)

    def response_route(self, method: str, tail: str) -> Callable[[int], Case]:
        def case(index: int) -> Case:
            tenant = self.tenant()
            response_id, how = self.response_id(tenant)
            query, query_how = self.query()
            path = f"/v1/responses/{self.path_segment(response_id)}{tail}{query}"
            return self.bodiless(index, method, path, f"{how} {query_how}", tenant)

        return case

    def anthropic(self, index: int) -> Case:
        body: dict[str, Any] = {
            "model": "chat-model",
            "max_tokens": 16,
            "system": "be brief",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": self.rng.random() < 0.5,
        }
        if self.rng.random() < 0.3:
            tool = self.tool()
            body["tools"] = [{**tool, "input_schema": tool.pop("parameters")}]
        return self.post(index, "/v1/messages", body, "")

    def embeddings(self, index: int) -> Case:
        body = {
            "model": "embed-model",
            "input": self.rng.choice(["hello", ["first", "second"], [1, 2, 3], [[1, 2], [3]]]),
            "encoding_format": self.rng.choice(["float", "base64"]),
        }
        return self.post(index, "/v1/embeddings", body, "")

    def plain_get(self, path: str) -> Callable[[int], Case]:
        def case(index: int) -> Case:
            query, how = self.query()
            return self.bodiless(index, "GET", path + query, how, self.tenant())

        return case

    def admin_reload(self, index: int) -> Case:
        headers, how = self.auth(self.tenant())
        if self.rng.random() < 0.5:
            headers, how = {"authorization": f"Bearer {ADMIN_KEY}"}, "admin key"
        body = self.rng.choice([{}, {"force": True}, {"config": "/etc/passwd"}])
        return self.finish(index, "POST", "/admin/reload", headers, body, how)

    # --- building and spoiling requests ---

    def post(
        self, index: int, path: str, body: dict[str, Any], how: str, tenant: str | None = None
    ) -> Case:
        headers, auth_how = self.auth(tenant or self.tenant())
        return self.finish(index, "POST", path, headers, body, f"{how} {auth_how}")

    def bodiless(self, index: int, method: str, path: str, how: str, tenant: str) -> Case:
        headers, auth_how = self.auth(tenant)
        body = None
        if self.rng.random() < 0.05:  # a body where none belongs
            body = self.rng.choice(WHOLE_BODIES[:7]) or b"{}"
            headers["content-type"] = "application/json"
            how += " unexpected body"
        return Case(method, path, headers, body, f"{how} {auth_how}".strip())

    def finish(
        self,
        index: int,
        method: str,
        path: str,
        headers: dict[str, str],
        body: dict[str, Any],
        how: str,
    ) -> Case:
        """Spoil a valid body 0 to 3 times, serialize it, and sometimes spoil the bytes too."""
        tokens = RawTokens()
        notes = [how.strip()] if how.strip() else []
        value: Any = body
        for _ in range(self.rng.choice([0, 1, 1, 1, 2, 2, 3])):
            value, note = self.spoil(value, tokens)
            notes.append(note)
        ascii_only = self.rng.random() < 0.5
        try:
            text = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
        except (ValueError, RecursionError):  # nothing spoilt that far is worth sending
            text = b"{}"
        raw = tokens.render(text)
        if self.rng.random() < 0.15:
            raw, note = self.spoil_bytes(raw, value)
            notes.append(note)
        if self.rng.random() < 0.03:
            raw, note = self.at_the_caps(value, tokens)
            notes.append(note)
        headers = dict(headers)
        if self.rng.random() < 0.06:
            content_type = self.rng.choice(CONTENT_TYPES)
            notes.append(f"content-type {content_type!r}")
            if content_type:
                headers["content-type"] = content_type
        else:
            headers["content-type"] = "application/json"
        if self.rng.random() < 0.04:
            headers["content-encoding"] = "gzip"  # it is not
            notes.append("claims gzip")
        if self.rng.random() < 0.05:
            headers["x-stream-protocol"] = self.rng.choice(PROTOCOLS).strip() or "none"
            notes.append("x-stream-protocol")
        if self.rng.random() < 0.05:
            headers["x-request-id"] = self.rng.choice(["r" * 500, "../../etc", "a b c", "%00"])
            notes.append("odd x-request-id")
        return Case(method, path, headers, raw, "; ".join(n for n in notes if n) or "valid")

    def spoil(self, value: Any, tokens: RawTokens) -> tuple[Any, str]:
        """One change to the body's structure: a hostile value somewhere, a key gone, a
        smuggled parameter, an odd model or a different top-level value."""
        roll = self.rng.random()
        if roll < 0.45:
            path = self.rng.choice(list(_paths(value)) or [()])
            new = self.hostile_value(tokens)
            return _replaced(value, path, new), f"{_shown(path)} = {_short(new)}"
        if roll < 0.6 and isinstance(value, dict):
            keyed = [p for p in _paths(value) if p and isinstance(p[-1], str)]
            if keyed:
                path = self.rng.choice(keyed)
                return _removed(value, path), f"without {_shown(path)}"
        if roll < 0.8 and isinstance(value, dict):
            name, smuggled = self.rng.choice(SMUGGLED)
            holders = [p for p in _paths(value) if isinstance(_at(value, p), dict)]
            path = self.rng.choice([(), *holders]) if self.rng.random() < 0.3 else ()
            spoilt = _replaced(value, (*path, name), smuggled)
            return spoilt, f"smuggled {name} at {_shown(path)}"
        if roll < 0.92 and isinstance(value, dict):
            model = self.rng.choice(ODD_MODELS)
            return {**value, "model": model}, f"model {model[:20]!r}"
        top = self.rng.choice([None, [value], 5, "text", [], True])
        return top, f"body = {_short(top)}"

    def hostile_value(self, tokens: RawTokens) -> Any:
        plain: list[Any] = [
            None,
            [],
            {},
            "",
            True,
            0,
            -1,
            2**63,
            2**64,
            -(2**63) - 1,
            1e308,
            "yes",
            "null",
            [None, None],
            {"$ref": "#"},
            {"type": "wizard"},
            "\u202e\u2066evil",
            "line\nbreak\x1b[31m",
            "\ud800",  # a lone surrogate: a valid JSON escape, not Unicode
            "x" * 100_000,
        ]
        raw: list[Callable[[], bytes]] = [
            lambda: self.digits(5000),
            lambda: b"-0." + self.digits(5000) + b"e-99999",
            lambda: b"1e99999",
            lambda: b"NaN",
            lambda: b"-Infinity",
            lambda: b"[" * 129 + b"]" * 129,
            lambda: b"[" * 128 + b"]" * 128,
            lambda: b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        ]
        pick = self.rng.randrange(len(plain) + len(raw))
        return plain[pick] if pick < len(plain) else tokens.token(raw[pick - len(plain)]())

    def digits(self, count: int) -> bytes:
        """A `count`-digit number (Python itself refuses to print ints over 4,300 digits)."""
        return ("1" + "".join(self.rng.choices("0123456789", k=count - 1))).encode()

    def spoil_bytes(self, raw: bytes, value: Any) -> tuple[bytes, str]:
        """One change to the serialized body: cut, duplicated key, bad UTF-8, NaN, BOM, or
        another body altogether."""
        choice = self.rng.randrange(7)
        if choice == 0 and raw:
            cut = self.rng.randrange(len(raw))
            return raw[:cut], f"cut at byte {cut}"
        if choice == 1 and raw.startswith(b"{") and isinstance(value, dict) and value:
            key = self.rng.choice(list(value))
            twin = json.dumps({key: "duplicate"})[1:-1].encode()
            return b"{" + twin + b"," + raw[1:], f"duplicate key {key!r}"
        if choice == 2 and b'"' in raw:
            quotes = [i for i, byte in enumerate(raw) if byte == ord('"')]
            at = self.rng.choice(quotes) + 1
            bad = self.rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80"])
            return raw[:at] + bad + raw[at:], f"invalid UTF-8 {bad!r}"
        if choice == 3 and raw.startswith(b"{"):
            literal = self.rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1" + b"0" * 5000])
            return b'{"temperature":' + literal + b"," + raw[1:], "temperature not a number"
        if choice == 4:
            return b"\xef\xbb\xbf" + raw, "BOM"
        if choice == 5:
            return raw.decode("utf-8", "surrogatepass").encode("utf-16"), "UTF-16"
        body = self.rng.choice(WHOLE_BODIES)
        return body, f"body {body[:16]!r}"

    def at_the_caps(self, value: Any, tokens: RawTokens) -> tuple[bytes, str]:
        """The body or one string right at (or just over) the gateway's caps."""
        side = self.rng.choice([-64, -1, 0, 1, 64])
        if not isinstance(value, dict):
            value = {"model": "chat-model"}
        if self.rng.random() < 0.5:
            shell = json.dumps({**value, "pad": ""}).encode("utf-8", "surrogatepass")
            padded = {**value, "pad": "x" * max(0, MAX_BODY_BYTES + side - len(shell))}
            raw = json.dumps(padded).encode("utf-8", "surrogatepass")
            return tokens.render(raw), f"body of {len(raw)} bytes (cap {MAX_BODY_BYTES})"
        strings = [p for p in _paths(value) if isinstance(_at(value, p), str)] or [("pad",)]
        path = self.rng.choice(strings)
        wide = self.rng.random() < 0.3  # 3 UTF-8 bytes a character: over the body cap first
        size = MAX_TOTAL_CHARS + side if not wide else MAX_TOTAL_CHARS // 3 + side
        text = ("你" if wide else "x") * size
        raw = json.dumps(_replaced(value, path, text), ensure_ascii=False).encode(
            "utf-8", "surrogatepass"
        )
        return tokens.render(raw), f"{_shown(path)} of {size} chars"


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value, depth first (the root not included)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield (*prefix, position)
            yield from _paths(item, (*prefix, position))


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of `value` with `new` at `path` (a missing last key is added)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value.get(head), rest, new)}
    if isinstance(value, list):
        copy = list(value)
        copy[head] = _replaced(copy[head], rest, new)
        return copy
    return {head: _replaced(None, rest, new)}


def _removed(value: Any, path: tuple[Any, ...]) -> Any:
    if len(path) == 1:
        return {k: v for k, v in value.items() if k != path[0]}
    head = path[0]
    if isinstance(value, dict):
        return {**value, head: _removed(value[head], path[1:])}
    copy = list(value)
    copy[head] = _removed(copy[head], path[1:])
    return copy


def _shown(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path) or "body"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


async def seed_known(client: httpx.AsyncClient) -> Known:
    """Two chats and two stored responses per tenant, so the fuzz can name ids that exist."""
    chats: dict[str, list[str]] = {}
    responses: dict[str, list[str]] = {}
    for tenant in TENANTS:
        chats[tenant], responses[tenant] = [], []
        for n in range(2):
            chat_id = f"seed-{tenant}-{n}"
            body = {**sdk_body(chat_id, "chat-model"), "stream": False}
            answer = await client.post("/api/chat", json=body, headers=headers_for(tenant))
            answer.raise_for_status()
            chats[tenant].append(chat_id)
            body = {"model": "chat-model", "input": "hi", "stream": False}
            answer = await client.post("/v1/responses", json=body, headers=headers_for(tenant))
            answer.raise_for_status()
            responses[tenant].append(answer.json()["id"])
    return Known(chats, responses)


async def fuzz(gateway: System, count: int, seed: int, concurrency: int) -> Outcome:
    check = "0 responses >= 500, 0 unanswered, 0 mock answers"
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=REQUEST_SECONDS, limits=limits) as c:
        known = await seed_known(c)
        cases = Fuzzer(seed, known).cases(count)
        classes: Counter[str] = Counter()
        statuses: Counter[int] = Counter()
        offenders: list[tuple[int, Case, str]] = []
        queue = iter(enumerate(cases))

        async def worker() -> None:
            for index, case in queue:  # one shared iterator: each case is sent once
                try:
                    answer = await c.request(
                        case.method, case.path, headers=case.headers, content=case.body
                    )
                except httpx.LocalProtocolError as exc:  # the fuzzer's own mistake
                    classes["not sent"] += 1
                    offenders.append((index, case, f"not sent: {exc}"))
                    continue
                except httpx.HTTPError as exc:
                    # A server may answer an oversized body 413 and close before reading it
                    # all; the client, still sending, then sees a reset instead of the 413.
                    oversized = len(case.body or b"") > MAX_BODY_BYTES
                    classes["cut while oversized" if oversized else "unanswered"] += 1
                    if not oversized:
                        offenders.append((index, case, f"{type(exc).__name__}: {exc}"))
                    continue
                statuses[answer.status_code] += 1
                classes[f"{answer.status_code // 100}xx"] += 1
                if sum(statuses.values()) % 500 == 0:
                    log(f"fuzz: {sum(statuses.values())} answered")
                if answer.status_code >= 500:
                    offenders.append((index, case, f"{answer.status_code} {answer.text[:200]!r}"))
                elif answer.status_code < 300 and SMUGGLED_ANSWER.encode() in answer.content:
                    classes["smuggled"] += 1
                    offenders.append(
                        (index, case, f"mock_response answered: {answer.text[:200]!r}")
                    )

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    bad = classes["5xx"] + classes["unanswered"] + classes["not sent"] + classes["smuggled"]
    kinds = ("2xx", "4xx", "5xx", "unanswered", "cut while oversized", "not sent", "smuggled")
    shown = ", ".join(f"{k} {classes[k]}" for k in kinds if classes[k] or k in kinds[:3])
    measured = f"{count} requests (seed {seed}): {shown}"
    details = ["statuses: " + " ".join(f"{s}x{n}" for s, n in sorted(statuses.items()))]
    for index, case, said in sorted(offenders, key=lambda found: found[0])[:5]:
        body = (case.body or b"")[:200]
        details.append(f"#{index} {case.method} {case.path[:120]} [{case.how}] body={body!r}")
        details.append(f"    -> {said}")
    return Outcome("1 fuzz of every door", measured, check, bad == 0, details)


# --- 2. half-open wave ---------------------------------------------------------------------------


def fd_budget(wanted: int) -> int:
    """Raise this process's open-file limit to its hard limit if `wanted` sockets need it;
    how many wave sockets fit, leaving room for everything else."""
    spare = 300
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted + spare:
        soft = hard if hard == resource.RLIM_INFINITY else min(hard, wanted + spare)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(0, min(wanted, soft - spare))


@dataclass
class HalfOpen:
    """One connection from WAVE_SOURCE that sends half a request head, then nothing."""

    opened: bool = False
    closed_by_gateway: bool = False

    async def hold(self, port: int, seconds: float) -> None:
        """Open, send half a head, and wait (at most `seconds`) for the gateway to close it."""
        try:
            async with asyncio.timeout(5):
                reader, writer = await asyncio.open_connection(
                    HOST, port, local_addr=(WAVE_SOURCE, 0)
                )
        except (OSError, TimeoutError):
            return
        self.opened = True
        try:
            writer.write(b"GET /health HTTP/1.1\r\nhost: gateway\r\nx-half-open: ")
            await writer.drain()
            async with asyncio.timeout(seconds):
                while await reader.read(65536):  # a 408, perhaps, then the end
                    pass
            self.closed_by_gateway = True
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()


async def half_open_wave(gateway: System, wanted: int, seconds: float) -> Outcome:
    check = ">= 95 % of /health probes and of client requests ok"
    size = fd_budget(wanted)
    wave = [HalfOpen() for _ in range(size)]
    holding: list[asyncio.Task[None]] = []
    for start in range(0, size, 200):  # in batches: the accept queue is 2048 deep
        batch = [
            asyncio.create_task(c.hold(gateway.port, seconds + 60))
            for c in wave[start : start + 200]
        ]
        holding += batch
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    log(f"wave: {sum(c.opened for c in wave)} of {size} half-open connections from {WAVE_SOURCE}")
    probes: Counter[str] = Counter()
    answers: Counter[str] = Counter()
    deadline = time.monotonic() + seconds

    async def probe() -> None:
        transport = httpx.AsyncHTTPTransport(local_address=PROBE_SOURCE)
        limits = httpx.Limits(max_keepalive_connections=0)  # a new connection each time
        async with httpx.AsyncClient(transport=transport, limits=limits, timeout=2.0) as client:
            for _ in range(int(seconds / 0.2) + 1):
                if time.monotonic() >= deadline:
                    break
                started = time.monotonic()
                try:
                    probes[str((await client.get(f"{gateway.url}/health")).status_code)] += 1
                except httpx.HTTPError as exc:
                    probes[type(exc).__name__] += 1
                await asyncio.sleep(max(0.0, 0.2 - (time.monotonic() - started)))

    async def well_behaved() -> None:
        transport = httpx.AsyncHTTPTransport(local_address=CLIENT_SOURCE)
        body: dict[str, Any] = {"model": "chat-model", "stream": False}
        body["messages"] = [{"role": "user", "content": "hi"}]
        async with httpx.AsyncClient(transport=transport, timeout=10.0) as client:
            for _ in range(10_000):  # bounded; the deadline ends it first
                if time.monotonic() >= deadline:
                    break
                try:
                    answer = await client.post(
                        f"{gateway.url}/api/chat", json=body, headers=headers_for("carol")
                    )
                    good = answer.status_code == 200 and bool(answer.json().get("text"))
                    answers["200" if good else str(answer.status_code)] += 1
                except (httpx.HTTPError, ValueError) as exc:
                    answers[type(exc).__name__] += 1
                    good = False
                if not good:
                    await asyncio.sleep(0.1)  # a refused client does not hammer

    try:
        await asyncio.gather(probe(), well_behaved())
        opened = sum(c.opened for c in wave)
        closed = sum(c.closed_by_gateway for c in wave)
    finally:
        for task in holding:
            task.cancel()  # closes its connection
        await asyncio.gather(*holding, return_exceptions=True)
    await wait_served(gateway)

    def ratio(counts: Counter[str]) -> tuple[int, int]:
        return counts["200"], sum(counts.values())

    (probes_ok, probed), (asked_ok, asked) = ratio(probes), ratio(answers)
    passed = probed > 0 and asked > 0 and probes_ok >= 0.95 * probed and asked_ok >= 0.95 * asked
    measured = (
        f"{opened} half-open ({closed} closed by the gateway meanwhile): "
        f"/health {probes_ok}/{probed} ok, client {asked_ok}/{asked} ok"
    )
    details = [f"probes: {dict(probes)}", f"client: {dict(answers)}"]
    return Outcome("2 half-open wave", measured, check, passed, details)


async def wait_served(gateway: System, seconds: float = 30.0) -> None:
    """Until /health answers again (the gateway notices the closed wave by itself)."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{gateway.url}/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)


# --- 3. chat-failure loop ------------------------------------------------------------------------


@dataclass(frozen=True)
class Gauges:
    tasks: dict[str, float]  # gateway_background_tasks by kind
    answers_running: float

    def shown(self) -> str:
        kinds = " ".join(f"{k}={v:g}" for k, v in sorted(self.tasks.items()) if v)
        return f"tasks [{kinds or 'none'}] answers running {self.answers_running:g}"


async def read_gauges(client: httpx.AsyncClient) -> Gauges:
    text = (await client.get("/metrics")).text
    tasks: dict[str, float] = {}
    running = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gateway_background_tasks":
                kind = sample.labels.get("kind", "")
                tasks[kind] = tasks.get(kind, 0.0) + sample.value
            elif sample.name == "gateway_chat_answers_running":
                running += sample.value
    return Gauges(tasks, running)


async def idle_gauges(client: httpx.AsyncClient, seconds: float = 10.0) -> Gauges:
    """The gauges once two reads a second apart agree (or after `seconds`)."""
    last = await read_gauges(client)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        now = await read_gauges(client)
        if now == last:
            return now
        last = now
    return last


def alive_flags(port: int) -> dict[bytes, int]:
    """Every `…:flag:alive:…` key and its TTL in ms."""
    client = redis.Redis(port=port, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match="*flag:alive*", count=1000))
        return {key: int(client.pttl(key)) for key in keys}
    finally:
        client.close()


async def refreshed_flags(port: int, apart: float = 3.0) -> tuple[int, int]:
    """How many `alive` flags exist, and how many of them are being refreshed: their TTL went
    up between two scans `apart` seconds apart (or they appeared meanwhile)."""
    first = await asyncio.to_thread(alive_flags, port)
    await asyncio.sleep(apart)
    second = await asyncio.to_thread(alive_flags, port)
    refreshed = sum(1 for key, ttl in second.items() if key not in first or ttl > first[key])
    return len(second), refreshed


async def failure_loop(gateway: System, in_a_row: int, at_once: int, concurrency: int) -> Outcome:
    check = "tasks at baseline, 0 answers running, 0 refreshed alive flags, every failure told"
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60.0, limits=limits) as client:
        baseline = await idle_gauges(client)
        statuses: Counter[str] = Counter()
        untold: list[str] = []
        tenants = list(TENANTS)
        gate = asyncio.Semaphore(concurrency)

        async def ask(n: int) -> None:
            chat_id = f"fail-{n}"
            async with gate:
                try:
                    answer = await client.post(
                        "/api/chat" + UI,
                        json=sdk_body(chat_id, "failing-model"),
                        headers=headers_for(tenants[n % len(tenants)]),
                    )
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1  # a dropped connection: told, rudely
                    return
            statuses[str(answer.status_code)] += 1
            if answer.status_code == 200:
                types = [p["type"] for p in stream_parts(answer.text)]
                if "error" not in types:
                    untold.append(f"{chat_id}: 200 ending {types[-3:]}")

        for n in range(in_a_row):
            await ask(n)
        await asyncio.gather(*(ask(n) for n in range(in_a_row, in_a_row + at_once)))
        await asyncio.sleep(8.0)  # every alive flag written before the end has expired by now
        after = await read_gauges(client)
    flags, refreshed = await refreshed_flags(gateway.redis.port)
    kinds = set(baseline.tasks) | set(after.tasks)
    leaked = {k: after.tasks.get(k, 0) - baseline.tasks.get(k, 0) for k in kinds}
    leaked = {k: v for k, v in leaked.items() if v}
    passed = not leaked and after.answers_running == 0 and refreshed == 0 and not untold
    shown = " ".join(f"{s}x{n}" for s, n in sorted(statuses.items()))
    measured = (
        f"{in_a_row}+{at_once} failed answers ({shown}), {len(untold)} told nothing: "
        f"tasks beyond baseline {leaked or 0}, answers running {after.answers_running:g}, "
        f"alive flags {flags} ({refreshed} refreshed)"
    )
    details = [f"baseline: {baseline.shown()}", f"after:    {after.shown()}", *untold[:5]]
    return Outcome("3 chat-failure loop", measured, check, passed, details)


# --- 4. Redis pause at the end of answers --------------------------------------------------------


@dataclass
class Asker:
    chat_id: str
    tenant: str
    status: int | None = None
    words: int = 0
    parts: list[dict[str, Any]] = field(default_factory=list)
    failure: str = ""
    done: bool = False
    last_word_at: float = 0.0  # time.monotonic() of its last text

    @property
    def errors(self) -> list[str]:
        return [str(p.get("errorText", "")) for p in self.parts if p["type"] == "error"]

    async def ask(self, client: httpx.AsyncClient) -> None:
        body = sdk_body(self.chat_id, "slow-model")
        try:
            async with client.stream(
                "POST", "/api/chat" + UI, json=body, headers=headers_for(self.tenant)
            ) as answer:
                self.status = answer.status_code
                async for line in answer.aiter_lines():
                    if line.startswith("data: {"):
                        self.parts.append(json.loads(line[6:]))
                        if self.parts[-1]["type"] == "text-delta":
                            self.words += 1
                            self.last_word_at = time.monotonic()
        except (httpx.HTTPError, ValueError) as exc:
            self.failure = f"{type(exc).__name__}: {exc}"
        finally:
            self.done = True


def pause_redis(port: int, milliseconds: int) -> None:
    client = redis.Redis(port=port, socket_timeout=5)
    try:
        client.execute_command("CLIENT", "PAUSE", milliseconds, "ALL")
    finally:
        client.close()


async def redis_pause(gateway: System, count: int) -> Outcome:
    check = "stored + said not stored == N, 0 dangling active streams"
    askers = [Asker(f"pause-{n}", list(TENANTS)[n % len(TENANTS)]) for n in range(count)]
    limits = httpx.Limits(max_connections=count + 10)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60.0, limits=limits) as client:
        running = [asyncio.create_task(a.ask(client)) for a in askers]
        last_word = len(SLOW_WORDS) - 1  # the words before the stall
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            if all(a.done or a.words >= last_word for a in askers):
                break
            await asyncio.sleep(0.05)
        near_end = sum(not a.done and a.words >= last_word for a in askers)
        paused_at = time.monotonic()
        await asyncio.to_thread(pause_redis, gateway.redis.port, PAUSE_MS)
        log(f"pause: Redis paused {PAUSE_MS} ms with {near_end} of {count} at their last word")
        await asyncio.wait(running, timeout=60.0)
        for task in running:
            task.cancel()  # none should be left: a hung answer counts as lost below
        await asyncio.sleep(5.0)
        stored = said_not_stored = complete = dangling = 0
        lost: list[str] = []
        errors: Counter[str] = Counter()
        for asker in askers:
            errors.update(e[:80] for e in asker.errors)
            found = await client.get(
                f"/api/chat/{asker.chat_id}/messages", headers=headers_for(asker.tenant)
            )
            chat = found.json() if found.status_code == 200 else {}
            assistant = [m for m in chat.get("messages", []) if m.get("role") == "assistant"]
            dangling += chat.get("activeStreamId") is not None
            if assistant:
                stored += 1
                text = "".join(p.get("text", "") for p in assistant[-1].get("parts", []))
                complete += text == "".join(SLOW_WORDS)
            elif asker.errors or (asker.status is not None and asker.status != 200):
                said_not_stored += 1
            else:
                lost.append(
                    f"{asker.chat_id}: status {asker.status}, {asker.words} words, "
                    f"messages {found.status_code}, {asker.failure or 'no error part'}"
                )
    passed = stored + said_not_stored == count and dangling == 0
    paused_until = paused_at + PAUSE_MS / 1000
    ended_paused = sum(paused_at <= a.last_word_at <= paused_until for a in askers)
    measured = (
        f"{count} answers, {near_end} near their end when paused, {ended_paused} ended "
        f"while paused: {stored} stored "
        f"({complete} complete), {said_not_stored} said not stored, {len(lost)} lost silently, "
        f"{dangling} dangling active streams"
    )
    details = [f"error parts: {dict(errors)}" if errors else "error parts: none", *lost[:5]]
    return Outcome("4 Redis pause at the end", measured, check, passed, details)


# --- the run -------------------------------------------------------------------------------------


def print_table(outcomes: list[Outcome]) -> None:
    rows = [("part", "measured", "check", "result")]
    rows += [(o.part, o.measured, o.check, "ok" if o.passed else "FAIL") for o in outcomes]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for number, row in enumerate(rows):
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if number == 0:
            print("-+-".join("-" * width for width in widths))


async def run(gateway: System, args: argparse.Namespace) -> list[Outcome]:
    # Each part's time limit, whatever the gateway does: several times what it takes.
    parts: list[tuple[str, float, Callable[[], Awaitable[Outcome]]]] = [
        (
            "1 fuzz of every door",
            180,
            lambda: fuzz(gateway, args.fuzz, args.seed, args.concurrency),
        ),
        ("2 half-open wave", 90, lambda: half_open_wave(gateway, args.wave, args.wave_seconds)),
        ("3 chat-failure loop", 120, lambda: failure_loop(gateway, 100, 300, 50)),
        ("4 Redis pause at the end", 120, lambda: redis_pause(gateway, args.answers)),
    ]
    outcomes = []
    for name, seconds, part in parts:
        if name[0] not in args.parts:
            continue
        log(f"--- {name}")
        outcome = await bounded(name, seconds, part())
        print(f"[{outcome.part}] {outcome.measured} -> {'ok' if outcome.passed else 'FAIL'}")
        for line in outcome.details:
            print(f"    {line}")
        sys.stdout.flush()
        outcomes.append(outcome)
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz", type=int, default=2000, help="fuzz requests (default 2000)")
    parser.add_argument("--seed", type=int, default=1, help="the fuzz's seed (default 1)")
    parser.add_argument("--concurrency", type=int, default=8, help="fuzz requests at once")
    parser.add_argument("--wave", type=int, default=2000, help="half-open connections")
    parser.add_argument("--wave-seconds", type=float, default=10.0, help="probing time")
    parser.add_argument("--answers", type=int, default=40, help="answers through the pause")
    parser.add_argument("--parts", default="1234", help="which parts to run (default 1234)")
    args = parser.parse_args()

    started = time.monotonic()
    with system() as gateway:
        outcomes = asyncio.run(run(gateway, args))
    print()
    print_table(outcomes)
    failed = [o for o in outcomes if not o.passed]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} checks passed in "
          f"{time.monotonic() - started:.0f} s")  # fmt: skip
    if failed:
        print(f"gateway log kept: {gateway.workdir / 'gateway.log'}")
    else:
        shutil.rmtree(gateway.workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
