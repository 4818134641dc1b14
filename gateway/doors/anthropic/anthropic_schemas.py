"""Request bodies of /v1/messages (Anthropic's Messages API), and their OpenAI-shaped form.

The engine speaks OpenAI-shaped messages (LiteLLM translates them per provider), so this module
validates Anthropic's request and converts it: text and image blocks become content parts,
`tool_use` becomes an assistant's `tool_calls`, `tool_result` a `tool` message. A client's mistake
is a 400 naming the field before any provider call.

Content blocks are flat models (one `type` field, the other fields checked per type) rather than
tagged unions, which keeps `messages[0].content[1]` readable. Unknown top-level fields
(`service_tier`, `container`, …) are accepted and never sent on; unknown keys inside blocks (the
SDK's `citations: null`, `caller`) are dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from gateway.doors.common.chat_messages import CacheControl
from gateway.doors.common.json_schemas import check_json_schema
from gateway.doors.common.request_models import (
    INT32_MAX,
    MaxTokens,
    RequestModel,
    field_error,
    json_kind,
    one_of,
)


def _require(value: Any, field: str, kind: str) -> None:
    """Refuse a block (or source, choice) of type `kind` that lacks `field`."""
    if value is None:
        raise PydanticCustomError(
            "field_missing_for_type",
            "Field required: {field} (for type '{kind}')",
            {"field": field, "kind": kind},
        )


class _Lenient(RequestModel):
    # Keys this door does not use (the SDK's `citations: null`, `caller`) are dropped.
    model_config = ConfigDict(extra="ignore")


# --- content blocks ------------------------------------------------------------------------------

ImageMediaType = Literal["image/jpeg", "image/png", "image/gif", "image/webp"]


class AnthropicImageSource(_Lenient):
    type: Literal["base64", "url"]
    media_type: ImageMediaType | None = None
    data: Annotated[str, Field(min_length=1)] | None = None
    url: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _complete(self) -> AnthropicImageSource:
        if self.type == "base64":
            _require(self.media_type, "media_type", self.type)
            _require(self.data, "data", self.type)
        else:
            _require(self.url, "url", self.type)
        return self

    def url_part(self) -> dict[str, Any]:
        url = self.url if self.type == "url" else f"data:{self.media_type};base64,{self.data}"
        return {"type": "image_url", "image_url": {"url": url}}


class AnthropicResultBlock(_Lenient):
    """A block inside a `tool_result`'s content."""

    type: Literal["text", "image"]
    text: str | None = None
    source: AnthropicImageSource | None = None

    @model_validator(mode="after")
    def _complete(self) -> AnthropicResultBlock:
        if self.type == "text":
            _require(self.text, "text", self.type)
        else:
            _require(self.source, "source", self.type)
        return self


ResultContent = one_of(
    json_kind,
    "Input should be a string or a list of text and image blocks",
    {"<string>": str, "<list>": list[AnthropicResultBlock]},
)

# Which blocks each role may send.
_USER_BLOCKS = ("text", "image", "tool_result")
_ASSISTANT_BLOCKS = ("text", "tool_use", "thinking", "redacted_thinking")


class AnthropicBlock(_Lenient):
    type: Literal["text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking"]
    cache_control: CacheControl | None = None
    text: str | None = None  # text
    source: AnthropicImageSource | None = None  # image
    id: Annotated[str, Field(min_length=1)] | None = None  # tool_use
    name: Annotated[str, Field(min_length=1)] | None = None  # tool_use
    input: dict[str, Any] | None = None  # tool_use
    tool_use_id: Annotated[str, Field(min_length=1)] | None = None  # tool_result
    content: ResultContent | None = None  # tool_result
    is_error: bool | None = None  # tool_result
    thinking: str | None = None  # thinking (history only: dropped, see to_openai)
    signature: str | None = None  # thinking
    data: str | None = None  # redacted_thinking

    @model_validator(mode="after")
    def _complete(self) -> AnthropicBlock:
        match self.type:
            case "text":
                _require(self.text, "text", self.type)
            case "image":
                _require(self.source, "source", self.type)
            case "tool_use":
                for name in ("id", "name", "input"):
                    _require(getattr(self, name), name, self.type)
            case "tool_result":
                _require(self.tool_use_id, "tool_use_id", self.type)
        return self

    def text_part(self) -> dict[str, Any]:
        part: dict[str, Any] = {"type": "text", "text": self.text or ""}
        if self.cache_control is not None:
            part["cache_control"] = self.cache_control
        return part


MessageContent = one_of(
    json_kind,
    "Input should be a string or a list of content blocks",
    {"<string>": str, "<list>": Annotated[list[AnthropicBlock], Field(min_length=1)]},
)


class AnthropicMessage(_Lenient):
    role: Literal["user", "assistant"]
    content: MessageContent

    @model_validator(mode="after")
    def _blocks_fit_role(self) -> AnthropicMessage:
        allowed = _USER_BLOCKS if self.role == "user" else _ASSISTANT_BLOCKS
        if isinstance(self.content, list):
            for block in self.content:
                if block.type not in allowed:
                    names = ", ".join(repr(name) for name in allowed)
                    raise PydanticCustomError(
                        "block_not_allowed",
                        "a {role} message cannot hold a '{kind}' block (only {names})",
                        {"role": self.role, "kind": block.type, "names": names},
                    )
        return self


class AnthropicSystemBlock(_Lenient):
    type: Literal["text"]
    text: str
    cache_control: CacheControl | None = None


SystemPrompt = one_of(
    json_kind,
    "Input should be a string or a list of text blocks",
    {"<string>": str, "<list>": list[AnthropicSystemBlock]},
)

# --- tools and the rest --------------------------------------------------------------------------


class AnthropicInputSchema(RequestModel):
    model_config = ConfigDict(extra="allow")  # the whole JSON schema goes to the model

    type: Literal["object"]

    @model_validator(mode="after")
    def _json_schema(self) -> AnthropicInputSchema:
        check_json_schema(self.model_dump())
        return self


class AnthropicTool(_Lenient):
    """A client tool: the model may call it, the client runs it. Server tools (web search,
    code execution: a `type` other than `custom`) run on Anthropic's side and are refused."""

    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,128}$")]
    description: str | None = None
    input_schema: AnthropicInputSchema
    type: Literal["custom"] | None = None

    def spec(self) -> dict[str, Any]:
        function: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            function["description"] = self.description
        function["parameters"] = self.input_schema.model_dump()
        return {"type": "function", "function": function}


class AnthropicToolChoice(_Lenient):
    type: Literal["auto", "any", "tool", "none"]
    name: Annotated[str, Field(min_length=1)] | None = None
    disable_parallel_tool_use: bool | None = None

    @model_validator(mode="after")
    def _named(self) -> AnthropicToolChoice:
        if self.type == "tool":
            _require(self.name, "name", self.type)
        return self

    def openai(self) -> str | dict[str, Any]:
        if self.type == "tool":
            return {"type": "function", "function": {"name": self.name}}
        return {"auto": "auto", "any": "required", "none": "none"}[self.type]


class AnthropicThinking(_Lenient):
    type: Literal["enabled", "disabled", "adaptive"]
    # Anthropic's floor; its "less than max_tokens" rule is left to the provider (betas lift it).
    budget_tokens: Annotated[int, Field(ge=1024, le=INT32_MAX)] | None = None

    @model_validator(mode="after")
    def _budget(self) -> AnthropicThinking:
        if self.type == "enabled":
            _require(self.budget_tokens, "budget_tokens", self.type)
        return self


class AnthropicMetadata(_Lenient):
    user_id: Annotated[str, Field(max_length=256)] | None = None


class MessagesRequest(RequestModel):
    # Unknown fields are accepted and never sent on (see the module docstring).
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    # Required, as Anthropic requires it: a missing one is a 400 naming it.
    max_tokens: MaxTokens
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: SystemPrompt | None = None
    tools: list[AnthropicTool] | None = Field(default=None, max_length=128)
    tool_choice: AnthropicToolChoice | None = None
    temperature: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    top_p: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    top_k: int | None = Field(default=None, ge=0, le=INT32_MAX)
    stop_sequences: list[str] | None = None
    stream: bool = False
    metadata: AnthropicMetadata | None = None
    thinking: AnthropicThinking | None = None

    @model_validator(mode="after")
    def _chosen_tool_offered(self) -> MessagesRequest:
        choice = self.tool_choice
        if choice is not None and choice.type == "tool":
            offered = [tool.name for tool in self.tools or []]
            if choice.name not in offered:
                offered_names = ", ".join(offered) or "none"
                raise field_error(
                    "tool_choice.name",
                    f"'{choice.name}' is not one of the request's tools ({offered_names})",
                )
        return self

    def to_openai(self, *, keep_thinking: bool) -> OpenAIForm:
        """This request as the engine takes it. `keep_thinking` False drops `thinking` (for a
        provider LiteLLM has no translation of it for, it would fail the request)."""
        messages: list[dict[str, Any]] = []
        if self.system is not None:
            messages.append(_system_message(self.system))
        for message in self.messages:
            messages.extend(_convert(message))
        return OpenAIForm(messages, self._params(keep_thinking), self._tool_specs())

    def _params(self, keep_thinking: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"max_tokens": self.max_tokens}
        for name in ("temperature", "top_p", "top_k"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        if self.stop_sequences:
            params["stop"] = self.stop_sequences
        if self.metadata is not None and self.metadata.user_id:
            params["user"] = self.metadata.user_id  # LiteLLM sends it as Anthropic's user_id
        if self.tool_choice is not None:
            params["tool_choice"] = self.tool_choice.openai()
            if self.tool_choice.disable_parallel_tool_use:
                params["parallel_tool_calls"] = False
        if self.thinking is not None and keep_thinking:
            params["thinking"] = self.thinking.model_dump(exclude_none=True)
        return params

    def _tool_specs(self) -> list[dict[str, Any]] | None:
        return [tool.spec() for tool in self.tools] if self.tools else None


@dataclass(frozen=True)
class OpenAIForm:
    """What a ChatCall needs: OpenAI-shaped messages, sampling parameters, client tools."""

    messages: list[dict[str, Any]]
    params: dict[str, Any]
    tools: list[dict[str, Any]] | None


# --- conversion ----------------------------------------------------------------------------------


def _system_message(system: str | list[AnthropicSystemBlock]) -> dict[str, Any]:
    if isinstance(system, str):
        return {"role": "system", "content": system}
    parts = []
    for block in system:
        part: dict[str, Any] = {"type": "text", "text": block.text}
        if block.cache_control is not None:
            part["cache_control"] = block.cache_control
        parts.append(part)
    return {"role": "system", "content": parts}


def _convert(message: AnthropicMessage) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"role": message.role, "content": message.content}]
    if message.role == "assistant":
        return [_assistant(message.content)]
    return _user(message.content)


def _assistant(blocks: list[AnthropicBlock]) -> dict[str, Any]:
    # Thinking blocks are dropped: the signatures this door hands out are not a provider's, and
    # LiteLLM drops `thinking` itself for a tool turn that has none (Anthropic requires them).
    text = "".join(block.text or "" for block in blocks if block.type == "text")
    calls = [
        {
            "id": block.id,
            "type": "function",
            "function": {"name": block.name, "arguments": json.dumps(block.input)},
        }
        for block in blocks
        if block.type == "tool_use"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    return message


def _user(blocks: list[AnthropicBlock]) -> list[dict[str, Any]]:
    """A user turn: its tool results first, as `tool` messages (they must follow the assistant's
    tool calls), then its text and images, with images from tool results among them."""
    tool_messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if block.type == "tool_result":
            text, images = _tool_result(block)
            tool_messages.append(
                {"role": "tool", "tool_call_id": block.tool_use_id, "content": text}
            )
            parts.extend(images)
        elif block.type == "image" and block.source is not None:
            parts.append(block.source.url_part())
        else:
            parts.append(block.text_part())
    if parts:
        tool_messages.append({"role": "user", "content": parts})
    return tool_messages


def _tool_result(block: AnthropicBlock) -> tuple[str, list[dict[str, Any]]]:
    """The text of a tool result, and its images as content parts (a tool message holds text)."""
    content = block.content
    images: list[dict[str, Any]] = []
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        text = "\n".join(part.text or "" for part in content if part.type == "text")
        images = [part.source.url_part() for part in content if part.source is not None]
    if block.is_error:
        # OpenAI-shaped tool messages have no error flag: say it in the text.
        text = f"Error: {text}" if text else "Error"
    return text, images
