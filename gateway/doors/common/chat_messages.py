"""The OpenAI-shaped chat messages LiteLLM takes, typed wherever they go upstream.

Every message and content part that reaches LiteLLM is typed here, whichever door it came in by
(/v1/chat/completions takes them as they are; /api/chat builds them from UI messages and checks
them again). Unknown keys inside messages and parts are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    with_config,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from gateway.doors.common.request_models import RequestModel, json_kind, one_of, tagged_by

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
