"""Provider registry: LiteLLM's built-in providers plus the gateway's offline demo model.

The demo provider is registered through LiteLLM's own custom-provider mechanism, so a request to
`demo/...` still runs through `Router.acompletion` and LiteLLM's stream wrapper: the first run of
the gateway exercises the real path with no key and no network. `demo/reasoning` thinks aloud
first (LiteLLM's `reasoning_content`), so a reasoning UI can be tried offline too. `demo/embed`
answers embeddings (LiteLLM's `aembedding`): hashed bags of words and character trigrams, so the
same text always gets the same vector and texts sharing words lie closer than unrelated ones.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import litellm
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import (
    Choices,
    Delta,
    Embedding,
    EmbeddingResponse,
    GenericStreamingChunk,
    Message,
    ModelResponse,
    ModelResponseStream,
    StreamingChoices,
    Usage,
)

DEMO_PROVIDER = "demo"
# The demo model (`demo/<name>`) that reasons before it answers.
DEMO_REASONING_MODEL = "reasoning"

# The length of a `demo/embed` vector. A request's `dimensions` never reaches a LiteLLM custom
# provider (LiteLLM 1.106 refuses it first, a 400), so every vector has this length.
DEMO_EMBEDDING_DIMENSIONS = 64

_CJK_OR_WORD = re.compile(r"[\u3000-\u9fff\uff00-\uffef]|\s*[^\s\u3000-\u9fff\uff00-\uffef]+\s*")
_LOCATION = re.compile(r"\b(?:in|at|for)\s+([A-Za-z][A-Za-z .'-]{1,40})", re.IGNORECASE)


@dataclass(frozen=True)
class DemoTurn:
    text: str = ""
    tool_name: str | None = None
    tool_args: dict[str, Any] | None = None
    reasoning: str = ""


def demo_turn(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, *, reasons: bool = False
) -> DemoTurn:
    """What the demo model says: deterministic, able to call a tool when one fits, and (when
    `reasons`) with the reasoning that led to it."""
    last = messages[-1] if messages else {"role": "user", "content": ""}
    user_text = _text_of(last)
    offered = {t.get("function", {}).get("name") for t in tools or []}
    if last.get("role") == "tool":
        results = [str(m.get("content", "")) for m in _trailing_tool_messages(messages)]
        turn = DemoTurn(
            text="The tools returned: " + "; ".join(results),
            reasoning="The tools have answered, so I will pass on what they returned.",
        )
    elif (asked := _ASKED_CALL.search(user_text)) and asked.group(1) in offered:
        # "call <tool> with {json}": any offered tool, an MCP server's too, tried offline.
        turn = DemoTurn(
            tool_name=asked.group(1),
            tool_args=_arguments(asked.group(2)),
            reasoning=f"The user asks me to call {asked.group(1)}, so I will.",
        )
    elif "get_weather" in offered and "weather" in user_text.lower():
        match = _LOCATION.search(user_text)
        location = match.group(1).strip(" .") if match else "Berlin"
        turn = DemoTurn(
            tool_name="get_weather",
            tool_args={"location": location},
            reasoning=f"The user asks about the weather in {location}. I cannot know it "
            "myself, but the get_weather tool can look it up, so I will call it.",
        )
    elif "current_time" in offered and "time" in user_text.lower():
        turn = DemoTurn(
            tool_name="current_time",
            tool_args={},
            reasoning="The user asks for the time. I have no clock, but the current_time "
            "tool does, so I will call it.",
        )
    else:
        turn = DemoTurn(
            text=f"You said: {user_text}\n\nThis answer comes from the offline demo model. "
            "Map chat-model to a real provider in litellm_config.yaml to talk to an LLM.",
            reasoning=f"The user wrote: {user_text}\n\nI am the offline demo model and cannot "
            "really think about it, so I will say it back and explain how to reach a real model.",
        )
    return turn if reasons else replace(turn, reasoning="")


_ASKED_CALL = re.compile(r"\bcall ([A-Za-z0-9_-]+)(?: with (\{.*\}))?", re.DOTALL)


def _arguments(text: str | None) -> dict[str, Any]:
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _trailing_tool_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    trailing = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        trailing.append(message)
    return list(reversed(trailing))


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def _pieces(text: str) -> list[str]:
    """Text cut as the demo streams it: one CJK character or one word with its spaces."""
    return _CJK_OR_WORD.findall(text)


def _reasons(kwargs: dict[str, Any]) -> bool:
    return str(kwargs.get("model", "")).rpartition("/")[2] == DEMO_REASONING_MODEL


def _reasoning_chunks(reasoning: str) -> Iterator[ModelResponseStream]:
    # GenericStreamingChunk has no reasoning field; LiteLLM's stream wrapper passes a custom
    # provider's ModelResponseStream chunks through as they are, delta.reasoning_content included.
    for piece in _pieces(reasoning):
        yield ModelResponseStream(
            choices=[StreamingChoices(index=0, delta=Delta(reasoning_content=piece))]
        )


def _usage(messages: list[dict[str, Any]], completion_pieces: int) -> dict[str, int]:
    prompt = sum(len(_pieces(_text_of(m))) for m in messages)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_pieces,
        "total_tokens": prompt + completion_pieces,
    }


class DemoLLM(CustomLLM):
    """An offline, deterministic model that streams text word by word and can call tools;
    `demo/reasoning` streams its reasoning first; any `demo/...` answers embeddings too."""

    async def acompletion(self, *args: Any, **kwargs: Any) -> ModelResponse:  # type: ignore[override]
        messages, tools = kwargs["messages"], kwargs["optional_params"].get("tools")
        turn = demo_turn(messages, tools, reasons=_reasons(kwargs))
        reasoning = turn.reasoning or None
        message = Message(content=turn.text or None, role="assistant", reasoning_content=reasoning)
        finish_reason = "stop"
        if turn.tool_name:
            message = Message(
                content=None,
                role="assistant",
                reasoning_content=reasoning,
                tool_calls=[
                    {
                        "id": f"call_{uuid.uuid4().hex[:12]}",
                        "type": "function",
                        "function": {
                            "name": turn.tool_name,
                            "arguments": json.dumps(turn.tool_args),
                        },
                    }
                ],
            )
            finish_reason = "tool_calls"
        pieces = (len(_pieces(turn.text)) if turn.text else 1) + len(_pieces(turn.reasoning))
        return ModelResponse(
            model=kwargs.get("model", "demo"),
            created=int(time.time()),
            choices=[Choices(index=0, message=message, finish_reason=finish_reason)],
            usage=Usage(**_usage(messages, pieces)),
        )

    async def astreaming(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk | ModelResponseStream]:
        messages, tools = kwargs["messages"], kwargs["optional_params"].get("tools")
        turn = demo_turn(messages, tools, reasons=_reasons(kwargs))
        thought = len(_pieces(turn.reasoning))
        for chunk in _reasoning_chunks(turn.reasoning):
            yield chunk
        if turn.tool_name:
            yield {
                "text": "",
                "tool_use": {
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                    "type": "function",
                    "function": {"name": turn.tool_name, "arguments": json.dumps(turn.tool_args)},
                    "index": 0,
                },
                "is_finished": True,
                "finish_reason": "tool_calls",
                "usage": _usage(messages, thought + 1),  # type: ignore[typeddict-item]
                "index": 0,
            }
            return
        pieces = _pieces(turn.text)
        for piece in pieces:
            yield {
                "text": piece,
                "tool_use": None,
                "is_finished": False,
                "finish_reason": "",
                "usage": None,
                "index": 0,
            }
        yield {
            "text": "",
            "tool_use": None,
            "is_finished": True,
            "finish_reason": "stop",
            "usage": _usage(messages, thought + len(pieces)),  # type: ignore[typeddict-item]
            "index": 0,
        }

    async def aembedding(  # type: ignore[override]
        self,
        model: str,
        input: str | list[Any],
        model_response: EmbeddingResponse,
        *args: Any,
        optional_params: dict[str, Any],
        **kwargs: Any,
    ) -> EmbeddingResponse:
        return self.embedding(model, input, model_response, optional_params=optional_params)

    def embedding(  # type: ignore[override]
        self,
        model: str,
        input: str | list[Any],
        model_response: EmbeddingResponse,
        *args: Any,
        optional_params: dict[str, Any],
        **kwargs: Any,
    ) -> EmbeddingResponse:
        inputs = _embedding_inputs(input)
        model_response.data = [
            Embedding(embedding=demo_embedding(text), index=index, object="embedding")
            for index, text in enumerate(inputs)
        ]
        model_response.model = model
        tokens = sum(demo_prompt_tokens(text) for text in inputs)
        model_response.usage = Usage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens)
        return model_response


def demo_embedding(text: str | list[int]) -> list[float]:
    """The demo model's vector for one input: a signed, hashed bag of its words (weight 1) and
    their character trigrams (weight 0.5), L2-normalised, so texts sharing words and word
    parts have a higher cosine similarity. Token IDs are hashed as words. A text with no word
    gets a fixed unit vector."""
    vector = [0.0] * DEMO_EMBEDDING_DIMENSIONS
    for feature, weight in _features(text):
        # blake2b, not hash(): the same vector in every process, whatever PYTHONHASHSEED.
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
        bucket = int.from_bytes(digest[:4], "little") % DEMO_EMBEDDING_DIMENSIONS
        vector[bucket] += weight if digest[4] & 1 else -weight
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        return [1.0] + [0.0] * (DEMO_EMBEDDING_DIMENSIONS - 1)
    return [x / norm for x in vector]


def _features(text: str | list[int]) -> Iterator[tuple[str, float]]:
    if isinstance(text, list):
        for token in text:
            yield f"token:{token}", 1.0
        return
    for word in _WORD.findall(text.lower()):
        yield f"word:{word}", 1.0
        padded = f"<{word}>"
        for start in range(len(padded) - 2):
            yield f"tri:{padded[start : start + 3]}", 0.5


_WORD = re.compile(r"[\u3000-\u9fff\uff00-\uffef]|[^\W_]+")


def demo_prompt_tokens(text: str | list[int]) -> int:
    """Tokens as the demo counts them: whitespace-separated words, or the token IDs sent."""
    return len(text) if isinstance(text, list) else len(text.split())


def _embedding_inputs(input: str | list[Any]) -> list[str | list[int]]:
    """The request's inputs one by one: a list of ints is one input, as in OpenAI's API."""
    if isinstance(input, str):
        return [input]
    if input and all(isinstance(item, int) for item in input):
        return [list(input)]
    return [item if isinstance(item, list) else str(item) for item in input]


def register_providers() -> None:
    """Make the demo provider known to LiteLLM (idempotent)."""
    if not any(item["provider"] == DEMO_PROVIDER for item in litellm.custom_provider_map):
        litellm.custom_provider_map.append({"provider": DEMO_PROVIDER, "custom_handler": DemoLLM()})
    litellm.utils.custom_llm_setup()


@cache
def _builtin_providers() -> frozenset[str]:
    return frozenset(str(getattr(p, "value", p)) for p in litellm.provider_list)


def known_providers() -> frozenset[str]:
    return (
        _builtin_providers()
        | {item["provider"] for item in litellm.custom_provider_map}
        | {DEMO_PROVIDER}
    )
