"""Request bodies of /v1/chat/completions: OpenAI's chat schema, typed wherever it goes upstream.

Unknown top-level fields (`store`, `metadata`, provider options) are accepted and never sent on
(only openai_chat_routes._PASSED_THROUGH is); unknown keys inside tools are dropped. The messages
are the shared ones (gateway/doors/common/chat_messages.py).
"""

from __future__ import annotations

from typing import Literal, NotRequired

from pydantic import (
    ConfigDict,
    Field,
)
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from gateway.doors.common.chat_messages import OpenAIMessage
from gateway.doors.common.json_schemas import JsonSchemaObject
from gateway.doors.common.request_models import (
    LogitBias,
    MaxTokens,
    Name64,
    Penalty,
    RequestModel,
    Seed,
    Stop,
    Temperature,
    TopP,
    json_kind,
    one_of,
    tagged_by,
)

# --- tools and parameters -------------------------------------------------------------------------


class FunctionDefinition(TypedDict):
    name: Name64
    description: NotRequired[str | None]
    parameters: NotRequired[JsonSchemaObject]
    strict: NotRequired[bool | None]


class FunctionTool(TypedDict):
    type: Literal["function"]
    function: FunctionDefinition


class TextFormat(TypedDict):
    type: Literal["text"]


class JsonObjectFormat(TypedDict):
    type: Literal["json_object"]


class JsonSchemaSpec(TypedDict):
    name: Name64
    schema: JsonSchemaObject
    description: NotRequired[str]
    strict: NotRequired[bool | None]


class JsonSchemaFormat(TypedDict):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = one_of(
    tagged_by("type", "format"),
    "Input should be an object whose type is 'text', 'json_object' or 'json_schema'",
    {"<text format>": TextFormat, "<json_object format>": JsonObjectFormat,
     "<json_schema format>": JsonSchemaFormat},
)  # fmt: skip


class ToolName(TypedDict):
    name: str


class NamedToolChoice(TypedDict):
    type: Literal["function"]
    function: ToolName


ToolChoice = one_of(
    json_kind,
    "Input should be 'none', 'auto', 'required' or a named function",
    {"<string>": Literal["none", "auto", "required"], "<object>": NamedToolChoice},
)


class StreamOptions(TypedDict, total=False):
    include_usage: bool | None


class ChatCompletionRequest(RequestModel):
    # Unknown fields are accepted and never sent on: the route passes only _PASSED_THROUGH.
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[FunctionTool] | None = Field(default=None, max_length=128)
    n: int = Field(default=1, ge=1, le=1)
    temperature: Temperature | None = None
    top_p: TopP | None = None
    max_tokens: MaxTokens | None = None
    max_completion_tokens: MaxTokens | None = None
    stop: Stop | None = None
    seed: Seed | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logit_bias: LogitBias | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    reasoning_effort: str | None = None
