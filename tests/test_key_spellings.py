"""A provider key spelled out in any way worth catching never reaches a client or a log line.

An upstream error quoting the key as `s k - f a k e - …`, in hex, reversed, in full-width
letters or line-wrapped base64 is scrubbed on every door and stream variant, and in the log
lines the request wrote (text and JSON). What counts as a leak is judged independently of the
gateway's own spelling list: a long middle run of the spelled form's letters and digits, or of
its decoded text, surviving anywhere in what the client decoded.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from gateway.observability.logs import JsonFormatter, TextFormatter
from gateway.redaction import LOG_SECRETS, Redactor
from tests.support.configs import UPSTREAM_KEY, config_for, model_entry, tool_config
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Fault, Reply
from tests.support.fake_weather import FakeWeather
from tests.support.gateways import Gateway

KEY = UPSTREAM_KEY
CORE = KEY.removeprefix("sk-")


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in text)


SPELLINGS: dict[str, str] = {
    "spaced": " ".join(KEY),
    "spaced upper": " ".join(KEY.upper()),
    "dots": ".".join(KEY),
    "dashes around spaces": " - ".join(CORE),
    "zero-width joined": "\u200b".join(KEY),
    "bidi joined": "\u202e".join(CORE),
    "wrapped over lines": f"{KEY[:9]}\n    {KEY[9:20]}\n    {KEY[20:]}",
    "full-width": _full_width(KEY),
    "reversed": KEY[::-1],
    "reversed spaced": " ".join(KEY[::-1]),
    "hex": KEY.encode().hex(),
    "hex spaced": " ".join(f"{b:02x}" for b in KEY.encode()),
    "hex colons": ":".join(f"{b:02X}" for b in KEY.encode()),
    "backslash x": "".join(f"\\x{b:02x}" for b in KEY.encode()),
    "0x list": ", ".join(f"0x{b:02x}" for b in KEY.encode()),
    "percent every byte": "".join(f"%{b:02X}" for b in KEY.encode()),
    "unicode escapes": "".join(f"\\u{b:04x}" for b in KEY.encode()),
    "html entities": "".join(f"&#{b};" for b in KEY.encode()),
    "byte array": "[" + ", ".join(str(b) for b in KEY.encode()) + "]",
    "base64 wrapped": "\n".join(
        re.findall(".{1,12}", base64.b64encode(f"Bearer {KEY}".encode()).decode())
    ),
    "core only, spaced": " ".join(CORE),
}


def skeleton(text: str) -> str:
    """Letters and digits only, lower-cased, after compatibility decomposition (the test's own)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and c.isalnum())


def tell_tales(spelled: str) -> list[str]:
    """Runs that would give the key away: the middle of the spelled form, and the key's core."""
    letters = skeleton(spelled).lower()
    middle = letters[len(letters) // 4 : len(letters) // 4 + 16]
    return [middle, skeleton(CORE).lower()[4:16]]


def assert_no_leak(texts: list[str], spelled: str, where: str) -> None:
    joined = skeleton("\n".join(texts)).lower()
    for tale in tell_tales(spelled):
        assert tale not in joined, f"{where}: {tale!r} survived"


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def decoded(body: str) -> list[str]:
    """Every string a client decodes from a body: JSON, SSE `data:` lines, `CODE:JSON` lines."""
    texts = [body]
    for line in body.splitlines():
        payload = re.sub(r"^(data: |[0-9a-z]:)", "", line)
        try:
            texts.extend(strings_in(json.loads(payload)))
        except ValueError:
            continue
    return texts


def sdk_error_texts(call: Callable[[], Any]) -> list[str]:
    """What an SDK user sees of a failed call: the exception's text and its decoded body."""
    try:
        result = call()
        texts = []
        for event in result:  # a stream: the error arrives as an event or an exception
            texts.extend(strings_in(event.model_dump()))
        return texts
    except (openai.APIError, anthropic.APIError) as exc:
        return [str(exc), *strings_in(getattr(exc, "body", None))]


@pytest.fixture
def keyed_gateway(start_gateway: Callable[..., Gateway], upstream: FakeUpstream) -> Gateway:
    config = config_for(upstream)
    embed = model_entry("embed-model", upstream, model="openai/text-embedding-3-small")
    embed["model_info"] = {"mode": "embedding"}
    config["model_list"].append(embed)
    return start_gateway(config)


def _doors(gateway: Gateway) -> dict[str, Callable[[], list[str]]]:
    http = gateway.client
    chat = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}
    v1 = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)
    claude = anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0)
    claude_body: dict[str, Any] = {
        "model": "chat-model",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
    }

    def posted(path: str, body: dict[str, Any]) -> Callable[[], list[str]]:
        return lambda: decoded(http.post(path, json=body).text)

    return {
        "/api/chat lines": posted("/api/chat", chat),
        "/api/chat json": posted("/api/chat", {**chat, "stream": False}),
        "/api/chat data-stream": posted("/api/chat?protocol=data-stream", chat),
        "/api/chat ui-message-stream": posted("/api/chat?protocol=ui-message-stream", chat),
        "/api/chat by id": posted(
            "/api/chat?protocol=ui-message-stream",
            {
                "id": "spelled-chat",
                "message": {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]},
                "selectedChatModel": "chat-model",
            },
        ),
        "/v1/chat/completions": lambda: sdk_error_texts(lambda: v1.chat.completions.create(**chat)),
        "/v1/chat/completions stream": lambda: sdk_error_texts(
            lambda: v1.chat.completions.create(**chat, stream=True)
        ),
        "/v1/responses": lambda: sdk_error_texts(
            lambda: v1.responses.create(model="chat-model", input="hi")
        ),
        "/v1/responses stream": lambda: sdk_error_texts(
            lambda: v1.responses.create(model="chat-model", input="hi", stream=True)
        ),
        "/v1/messages": lambda: sdk_error_texts(lambda: claude.messages.create(**claude_body)),
        "/v1/messages stream": lambda: sdk_error_texts(
            lambda: claude.messages.create(**claude_body, stream=True)
        ),
        "/v1/embeddings": lambda: sdk_error_texts(
            lambda: v1.embeddings.create(model="embed-model", input="hi")
        ),
    }


def _log_lines(records: list[logging.LogRecord]) -> list[str]:
    lines = []
    for formatter in (TextFormatter(), JsonFormatter()):
        for record in records:
            line = formatter.format(record)
            lines.append(line)
            if isinstance(formatter, JsonFormatter):
                lines.extend(strings_in(json.loads(line)))
    return lines


# A few spellings per request: each group stays well inside the 500 characters a client is shown,
# so a spelling that slipped through could not hide behind the cut.
GROUPS = [["spaced", "hex spaced"], ["full-width", "reversed", "base64 wrapped"], ["html entities"]]


@pytest.mark.parametrize("group", GROUPS, ids=["+".join(g) for g in GROUPS])
def test_a_spelled_out_key_reaches_no_door_and_no_log_line(
    keyed_gateway: Gateway,
    upstream: FakeUpstream,
    group: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    said = " | ".join(f"{name}: {SPELLINGS[name]}" for name in group)
    caplog.set_level(logging.INFO)
    for door, call in _doors(keyed_gateway).items():
        caplog.clear()
        upstream.script(Fault(status=401, message=f"Incorrect API key provided: {said}."))
        texts = call()
        assert any("Incorrect API key provided" in text for text in texts), (door, texts[:3])
        for name in group:
            assert_no_leak(texts, SPELLINGS[name], f"{door}, {name}")
            assert_no_leak(_log_lines(caplog.records), SPELLINGS[name], f"{door} log, {name}")


@pytest.mark.parametrize("protocol", ["data-stream", "ui-message-stream", "lines"])
def test_a_spelled_out_key_in_an_error_after_the_first_step_is_scrubbed_mid_stream(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    weather: FakeWeather,
    protocol: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = start_gateway(tool_config(upstream, weather))
    spelled = SPELLINGS["zero-width joined"]
    upstream.script(
        Reply(chunks=["adding"], tool_calls=[FakeToolCall("add", '{"a": 1, "b": 2}')]),
        Fault(status=500, message=f"second step refused key {spelled}"),
    )
    query = "" if protocol == "lines" else f"?protocol={protocol}"
    body = {"model": "chat-model", "messages": [{"role": "user", "content": "add 1 and 2"}]}
    response = gateway.client.post(f"/api/chat{query}", json=body)
    assert response.status_code == 200
    texts = decoded(response.text)
    assert any("second step refused key" in text for text in texts)
    assert_no_leak(texts, spelled, protocol)
    assert_no_leak(_log_lines(caplog.records), spelled, f"{protocol} log")


@pytest.mark.parametrize("name", sorted(SPELLINGS))
def test_every_spelling_is_masked_and_the_words_around_it_kept(name: str) -> None:
    redactor = Redactor([KEY])
    text = f"upstream said: {SPELLINGS[name]} (that key is revoked)"
    cleaned = redactor.clean(text)
    assert_no_leak([cleaned], SPELLINGS[name], name)
    assert cleaned.startswith("upstream said:") and cleaned.endswith("(that key is revoked)")
    assert "***" in cleaned


def test_ordinary_text_is_left_alone() -> None:
    redactor = Redactor([KEY, "sk-proj-AnotherKey98765432100000", "http://10.0.0.7:9000/v1"])
    ordinary = [
        "The quick brown fox jumps over the lazy dog 0123 times; fake upstream keys are fun.",
        "POST /api/chat 200 request_id=3f2a9c1d model=chat-model latency_ms=12.5",
        "0 1 2 3 4 5 6 7 8 9 a b c d e f, upstream-key, key-0123",
        "こんにちは、世界。ｆｕｌｌ－ｗｉｄｔｈ　ｔｅｘｔ",
        json.dumps({"usage": {"prompt_tokens": 11, "completion_tokens": 7}}),
    ]
    for text in ordinary:
        assert redactor.scrub_secrets(text) == text


def test_letters_far_apart_are_not_a_spelling() -> None:
    """Some punctuation and space may sit between two letters (32 characters at most); a key's
    letters scattered over a page are not the key, and the text stays."""
    scattered = "  ...  ".join(KEY)  # 15 characters around the key's own dashes: a spelling
    apart = (" " * 40).join(KEY)
    redactor = Redactor([KEY])
    assert redactor.scrub_secrets(scattered) == "s  ...  k  ...  -  ...  ***"  # the core masked
    assert redactor.scrub_secrets(apart) == apart


def test_log_lines_are_scrubbed_in_message_fields_and_traceback_and_stay_valid_json() -> None:
    LOG_SECRETS.remember([KEY])
    try:
        raise RuntimeError(f"provider echoed {SPELLINGS['hex colons']}")
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            "gateway.test",
            logging.ERROR,
            __file__,
            1,
            "key %s",
            (SPELLINGS["spaced"],),
            sys.exc_info(),
        )
    record.fields = {"error": SPELLINGS["dots"], "status": 502, "note": 'a "quoted" value'}  # type: ignore[attr-defined]
    text_line = TextFormatter().format(record)
    json_line = JsonFormatter().format(record)
    document = json.loads(json_line)
    assert document["status"] == 502 and document["note"] == 'a "quoted" value'
    for name in ("hex colons", "spaced", "dots"):
        assert_no_leak([text_line], SPELLINGS[name], f"text line, {name}")
        assert_no_leak([json_line, *strings_in(document)], SPELLINGS[name], f"json, {name}")
    # What is masked is the key's core: its vendor prefix (`sk-`, here in hex) says nothing.
    assert "RuntimeError: provider echoed 73:6B:2D:***" in document["exception"]


def test_a_password_in_a_redis_url_is_masked_with_or_without_a_user() -> None:
    redactor = Redactor()
    said = "cannot reach redis://:hunter2pw@redis:6379/0 or rediss://app:hunter2pw@r:6380"
    scrubbed = redactor.scrub_secrets(said)
    assert "hunter2pw" not in scrubbed
    assert "redis:6379/0" in scrubbed


def test_a_huge_provider_text_is_looked_at_only_as_far_as_a_client_can_be_shown() -> None:
    """The per-character walk is bounded: a provider's megabyte of spaced text costs what its
    first few thousand characters cost, and the message is still cut to its limit."""
    redactor = Redactor([KEY])
    text = (" ".join(KEY) + " ") * 20_000
    cleaned = redactor.clean(text)
    assert len(cleaned) <= 500
    assert_no_leak([cleaned], SPELLINGS["spaced"], "huge")
    assert set(cleaned.replace(" ", "")) <= set("sk-*…")
