"""Request bodies of /v1/chat/completions: OpenAI's chat schema, typed wherever it goes upstream.

A client's mistake must be a 400 naming the field before any provider call, never a provider
failure blamed on the provider, so every message, content part, tool and parameter that reaches
LiteLLM is typed here. Unknown top-level fields (`store`, `metadata`, provider options) are
accepted and never sent on (only openai._PASSED_THROUGH is); unknown keys inside messages, parts
and tools are dropped. The /api/chat door reuses these messages and RequestModel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, NotRequired, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    create_model,
    field_validator,
    with_config,
)
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from gateway.doors.common.json_schemas import JsonSchemaObject

# --- the body as a whole -------------------------------------------------------------------------


class RequestModel(BaseModel):
    """A request body, or a part of one. JSON types are taken as they are (strict): `"yes"` is
    no boolean and `"5"` no number. json_body has already checked the body as a whole: unique
    keys, finite numbers, 64-bit integers, valid Unicode, bounded depth."""

    model_config = ConfigDict(strict=True)


def field_error(param: str, problem: str) -> PydanticCustomError:
    """An error raised by a check of the whole body that names the field it found wrong (the
    error handler takes `param` from its context)."""
    return PydanticCustomError("invalid_field", "{problem}", {"problem": problem, "param": param})


# --- tagged unions --------------------------------------------------------------------------------

# Every tag of every union of the doors' schemas. Pydantic puts a union's tag into error
# locations; the error handler drops these so a location names only the client's fields.
UNION_TAGS: set[str] = set()


def one_of(pick: Callable[[Any], str | None], expected: str, members: Mapping[str, Any]) -> Any:
    """A union whose member `pick` names from the input; anything else fails with `expected`."""
    UNION_TAGS.update(members)

    def choose(value: Any) -> str | None:
        tag = pick(value)
        return tag if tag in members else None

    choices = tuple(Annotated[member, Tag(tag)] for tag, member in members.items())
    return Annotated[
        Union[choices],  # noqa: UP007  (built from a tuple)
        Discriminator(choose, custom_error_type="invalid_choice", custom_error_message=expected),
    ]


def json_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "<string>"
    if isinstance(value, list):
        return "<list>"
    return "<object>" if isinstance(value, dict) else None


def tagged_by(field: str, suffix: str) -> Callable[[Any], str | None]:
    """Pick a member by one field of an object, e.g. `type` "text" -> "<text part>"."""

    def pick(value: Any) -> str | None:
        kind = value.get(field) if isinstance(value, dict) else None
        return f"<{kind} {suffix}>" if isinstance(kind, str) else None

    return pick


# --- numbers --------------------------------------------------------------------------------------

# json_body refuses NaN and Infinity first; allow_inf_nan keeps these types honest alone.
Temperature = Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)]
TopP = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Penalty = Annotated[float, Field(ge=-2, le=2, allow_inf_nan=False)]
# Token counts go on to providers that read them as 32-bit integers (Gemini's maxOutputTokens,
# topK): a bound of sanity, not any model's.
INT32_MAX = 2**31 - 1
MaxTokens = Annotated[int, Field(ge=1, le=INT32_MAX)]
Seed = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]  # providers take a signed 64-bit seed
TokenId = Annotated[str, Field(pattern=r"^[0-9]+$")]
Bias = Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]
LogitBias = Annotated[
    dict[TokenId, Bias],
    # What pydantic writes allows any other key; the spec says what validation does.
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": "^[0-9]+$"},
            "additionalProperties": {"type": "number", "minimum": -100, "maximum": 100},
        }
    ),
]

# OpenAI's rule for function and schema names.
Name64 = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]


def stop_sequences(max_items: int | None) -> Any:
    many = Annotated[list[str], Field(max_length=max_items)] if max_items else list[str]
    return one_of(
        json_kind,
        "Input should be a string or a list of strings",
        {"<string>": str, "<list>": many},
    )


Stop = stop_sequences(4)  # OpenAI takes up to four

# --- content parts --------------------------------------------------------------------------------


class CacheControl(TypedDict):
    """Prompt caching marks, which LiteLLM passes to providers that have it (Anthropic)."""

    type: Literal["ephemeral"]
    ttl: NotRequired[str]


class TextPart(TypedDict):
    type: Literal["text"]
    text: str
    cache_control: NotRequired[CacheControl]


class ImageURL(TypedDict):
    url: Annotated[str, Field(min_length=1)]
    detail: NotRequired[Literal["auto", "low", "high"]]


class ImagePart(TypedDict):
    type: Literal["image_url"]
    image_url: ImageURL
    cache_control: NotRequired[CacheControl]


class InputAudio(TypedDict):
    data: Annotated[str, Field(min_length=1)]
    format: Annotated[str, Field(min_length=1)]  # OpenAI: wav or mp3; other providers take more


class AudioPart(TypedDict):
    type: Literal["input_audio"]
    input_audio: InputAudio


@with_config(
    ConfigDict(
        strict=True,
        json_schema_extra={"anyOf": [{"required": ["file_data"]}, {"required": ["file_id"]}]},
    )
)
class FileData(TypedDict, total=False):
    file_data: Annotated[str, Field(min_length=1)]
    file_id: Annotated[str, Field(min_length=1)]
    filename: str
    format: str


def _has_file(file: FileData) -> FileData:
    if "file_data" not in file and "file_id" not in file:
        raise PydanticCustomError("file_missing", "Field required: file_data or file_id")
    return file


class FilePart(TypedDict):
    type: Literal["file"]
    file: Annotated[FileData, AfterValidator(_has_file)]
    cache_control: NotRequired[CacheControl]


class RefusalPart(TypedDict):
    type: Literal["refusal"]
    refusal: str


def content_union(kinds: str, tag: str = "part", **members: Any) -> Any:
    """A message's content: a string, or a non-empty list of parts of the `members` types
    (by their `type`); `tag` names the union's members in validation errors."""
    part = one_of(
        tagged_by("type", tag),
        f"Input should be a content part: an object whose type is {kinds}",
        {f"<{kind} {tag}>": member for kind, member in members.items()},
    )
    return one_of(
        json_kind,
        "Input should be a string or a list of content parts",
        {"<string>": str, "<list>": Annotated[list[part], Field(min_length=1)]},
    )


TextContent = content_union("'text'", text=TextPart)
UserContent = content_union(
    "'text', 'image_url', 'input_audio' or 'file'",
    text=TextPart,
    image_url=ImagePart,
    input_audio=AudioPart,
    file=FilePart,
)
AssistantContent = content_union("'text' or 'refusal'", text=TextPart, refusal=RefusalPart)


# --- messages -------------------------------------------------------------------------------------


class FunctionCall(TypedDict):
    name: str
    arguments: str  # JSON text, as the model wrote it


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class AssistantAudio(TypedDict):
    id: str


class Message(RequestModel):
    # Unknown keys (the OpenAI SDK's `annotations`, the AI SDK's provider metadata) are dropped.
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    cache_control: CacheControl | None = None


class SystemMessage(Message):
    role: Literal["system"]
    content: TextContent


class DeveloperMessage(Message):
    role: Literal["developer"]
    content: TextContent


class UserMessage(Message):
    role: Literal["user"]
    content: UserContent


class AssistantMessage(Message):
    # The spec says what _says_something checks, so a fuzzer's valid message is valid here.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["content"], "properties": {"content": {"not": {"type": "null"}}}},
                {"required": ["tool_calls"], "properties": {"tool_calls": {"minItems": 1}}},
                {
                    "required": ["function_call"],
                    "properties": {"function_call": {"type": "object"}},
                },
                {"required": ["audio"], "properties": {"audio": {"type": "object"}}},
            ]
        }
    )

    role: Literal["assistant"]
    # Before `content`, so its check can see them.
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None
    audio: AssistantAudio | None = None
    content: AssistantContent | None = Field(default=None, validate_default=True)
    refusal: str | None = None
    reasoning_content: str | None = None

    @field_validator("content")
    @classmethod
    def _says_something(cls, content: Any, info: ValidationInfo) -> Any:
        # A field that failed is missing from info.data: that failure is reported already.
        said = ("tool_calls", "function_call", "audio")
        known = all(name in info.data for name in said)
        if content is None and known and not any(info.data[name] for name in said):
            raise PydanticCustomError(
                "content_required",
                "Field required: an assistant message needs content or tool_calls",
            )
        return content


class ToolMessage(Message):
    role: Literal["tool"]
    tool_call_id: Annotated[str, Field(min_length=1)]
    content: TextContent


class FunctionMessage(Message):
    role: Literal["function"]
    name: str  # type: ignore[assignment]  (required here)
    content: str | None = None


def by_role(models: Mapping[str, type[Message]]) -> Any:
    """Messages told apart by `role`; a missing or unknown role is an error on `role` itself."""
    # Chosen only when the role is not one of `models`, so that validating it names `role`.
    unknown_role = create_model("Role", role=(Literal[tuple(models)], ...))

    def pick(value: Any) -> str | None:
        if isinstance(value, Message):  # serializing a validated body
            return f"<{getattr(value, 'role', None)} message>"
        if not isinstance(value, dict):
            return None
        role = value.get("role")
        known = isinstance(role, str) and role in models
        return f"<{role} message>" if known else "<unknown role>"

    members: dict[str, Any] = {f"<{role} message>": model for role, model in models.items()}
    # Left out of the OpenAPI spec: it describes no valid message.
    members["<unknown role>"] = SkipJsonSchema[unknown_role]
    return one_of(pick, "Input should be a message: an object with a role", members)


OpenAIMessage = by_role(
    {
        "system": SystemMessage,
        "developer": DeveloperMessage,
        "user": UserMessage,
        "assistant": AssistantMessage,
        "tool": ToolMessage,
        "function": FunctionMessage,
    }
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
