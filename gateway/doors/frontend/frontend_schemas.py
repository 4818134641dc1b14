"""Request bodies of /api/chat, validated before anything reaches a provider.

Messages come in two shapes: OpenAI's (typed as on /v1, by openai_schemas) and AI SDK 5+ UI
messages. A mistake in either is a 422 naming the field, never a provider failure.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from gateway.doors.common.chat_messages import (
    AssistantMessage,
    SystemMessage,
    ToolMessage,
    UserMessage,
    by_role,
)
from gateway.doors.common.request_models import (
    UNION_TAGS,
    MaxTokens,
    RequestModel,
    Seed,
    Temperature,
    TopP,
    one_of,
    stop_sequences,
    tagged_by,
)
from gateway.doors.frontend.ui_messages import ui_message_to_litellm

ChatMessage = by_role(
    {
        "system": SystemMessage,
        "user": UserMessage,
        "assistant": AssistantMessage,
        "tool": ToolMessage,
    }
)

# No cap on the count here, unlike /v1: providers differ (OpenAI takes 4, Anthropic more).
Stop = stop_sequences(None)


# --- AI SDK 5+ UI message parts -------------------------------------------------------------------


class UITextPart(TypedDict):
    type: Literal["text"]
    text: str


class UIFilePart(TypedDict):
    type: Literal["file"]
    url: Annotated[str, Field(min_length=1)]
    mediaType: str
    filename: NotRequired[str | None]


class UIApproval(TypedDict):
    """A tool part's approval (AI SDK 6+): the request's id, and once a person has answered,
    whether they approved and why."""

    id: Annotated[str, Field(min_length=1, max_length=256)]
    approved: NotRequired[bool | None]
    reason: NotRequired[str | None]


class UIToolPart(TypedDict):
    """`tool-<name>`: a call of a static tool, with its result once state is output-*."""

    type: Annotated[str, Field(pattern="^tool-.")]
    toolCallId: Annotated[str, Field(min_length=1)]
    state: str
    input: NotRequired[Any]
    output: NotRequired[Any]
    errorText: NotRequired[str | None]
    approval: NotRequired[UIApproval]


class UIDynamicToolPart(TypedDict):
    type: Literal["dynamic-tool"]
    toolName: Annotated[str, Field(min_length=1)]
    toolCallId: Annotated[str, Field(min_length=1)]
    state: str
    input: NotRequired[Any]
    output: NotRequired[Any]
    errorText: NotRequired[str | None]
    approval: NotRequired[UIApproval]


class UIOtherPart(TypedDict):
    """step-start, reasoning, source-*, data-*, AI SDK 4's: nothing in them reaches the model."""

    type: Annotated[str, Field(min_length=1)]


def _ui_part_kind(value: Any) -> str | None:
    kind = tagged_by("type", "part")(value)
    if kind is None:
        return None
    # AI SDK 4 sends its own part shapes (file parts with `data`, `tool-invocation`); they were
    # never sent on, and are still accepted and dropped.
    if kind == "<file part>" and "url" not in value:
        return "<other part>"
    if kind in ("<text part>", "<file part>", "<dynamic-tool part>"):
        return kind
    if kind.startswith("<tool-") and kind != "<tool-invocation part>":
        return "<tool part>"
    return "<other part>"


UIPart = one_of(
    _ui_part_kind,
    "Input should be a UI message part: an object with a type",
    {
        "<text part>": UITextPart,
        "<file part>": UIFilePart,
        "<tool part>": UIToolPart,
        "<dynamic-tool part>": UIDynamicToolPart,
        "<other part>": UIOtherPart,
    },
)


class UIMessage(RequestModel):
    """An AI SDK 5+ UI message, as its useChat sends it."""

    model_config = ConfigDict(
        extra="ignore",
        # The spec says what _has_content checks, so a fuzzer's valid message is valid here.
        json_schema_extra={
            "anyOf": [
                {"properties": {"role": {"const": "assistant"}}},
                {
                    "properties": {
                        "parts": {
                            "contains": {
                                "anyOf": [
                                    {"properties": {"type": {"const": "text"}}},
                                    {
                                        "properties": {"type": {"const": "file"}},
                                        "required": ["url"],
                                    },
                                ],
                                "required": ["type"],
                            }
                        }
                    }
                },
            ]
        },
    )

    id: str | None = Field(default=None, max_length=256)
    role: Literal["system", "user", "assistant"]
    parts: list[UIPart]
    # The client's own data about the message (the AI SDK's messageMetadata): stored with it.
    metadata: dict[str, Any] | None = None

    @field_validator("parts")
    @classmethod
    def _has_content(cls, parts: list[dict[str, Any]], info: ValidationInfo) -> Any:
        # An assistant turn may be empty (a stopped answer); a user or system turn may not.
        said = any(part["type"] == "text" or "url" in part for part in parts)
        if info.data.get("role") in ("user", "system") and not said:
            raise PydanticCustomError(
                "content_required", "Field required: a text or file part for this role"
            )
        return parts

    def to_litellm(self, *, deciding: bool = False) -> list[dict[str, Any]]:
        return ui_message_to_litellm(self.role, list(self.parts), deciding=deciding)


def _message_shape(value: Any) -> str:
    if isinstance(value, BaseModel):  # serializing a validated body
        return "ui" if isinstance(value, UIMessage) else "chat"
    return "ui" if isinstance(value, dict) and "parts" in value else "chat"


# Either shape is accepted in one request.
UNION_TAGS.update(("chat", "ui"))
AnyMessage = Annotated[
    Annotated[ChatMessage, Tag("chat")] | Annotated[UIMessage, Tag("ui")],
    Discriminator(_message_shape),
]


# Chat ids as the AI SDK makes them (`generateId`: 16 of [0-9A-Za-z]; with a prefix, joined by
# `-`) and the ai-chatbot template does (UUIDs). Nothing else: no `:` or `.`, no separators.
CHAT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
ChatId = Annotated[str, Field(pattern=CHAT_ID_PATTERN)]


class ChatRequest(RequestModel):
    # Clients such as the AI SDK add fields of their own: ignore them.
    model_config = ConfigDict(extra="ignore")

    # The ai-chatbot template sends the model as `selectedChatModel`.
    model: str = Field(
        min_length=1,
        max_length=200,
        validation_alias=AliasChoices("model", "selectedChatModel"),
    )
    # A chat id: the gateway keeps the chat's history (gateway.chats), so a request may send
    # only its newest `message` instead of every `messages`.
    id: ChatId | None = None
    message: UIMessage | None = None
    trigger: Literal["submit-message", "regenerate-message"] | None = None
    # With regenerate-message: the assistant message to answer again.
    message_id: str | None = Field(
        default=None, max_length=256, validation_alias=AliasChoices("messageId", "message_id")
    )
    # Validated even when absent: whether it may be depends on the fields above.
    messages: list[AnyMessage] | None = Field(default=None, min_length=1, validate_default=True)
    stream: bool = True
    temperature: Temperature | None = None
    top_p: TopP | None = None
    max_tokens: MaxTokens | None = None
    stop: Stop | None = None
    seed: Seed | None = None
    # Names of server-side tools to offer; narrows what the YAML enables for the model.
    tools: list[str] | None = Field(default=None, max_length=64)

    @field_validator("message")
    @classmethod
    def _message_needs_id(cls, message: UIMessage | None, info: ValidationInfo) -> Any:
        if message is not None and info.data.get("id") is None:
            raise PydanticCustomError("id_required", "`id` is required with `message`")
        return message

    @field_validator("messages")
    @classmethod
    def _one_conversation(cls, messages: list[Any] | None, info: ValidationInfo) -> Any:
        has_message = info.data.get("message") is not None
        if messages is not None and has_message:
            raise PydanticCustomError(
                "message_and_messages", "send either `message` or `messages`, not both"
            )
        regenerating = (
            info.data.get("trigger") == "regenerate-message" and info.data.get("id") is not None
        )
        if messages is None and not has_message and not regenerating:
            raise PydanticCustomError("missing", "Field required")
        return messages

    def ui_messages(self) -> list[UIMessage] | None:
        """The conversation as UI messages, or None when any message is OpenAI-shaped."""
        if self.message is not None:
            return [self.message]
        if self.messages is not None and all(isinstance(m, UIMessage) for m in self.messages):
            return [m for m in self.messages if isinstance(m, UIMessage)]
        return None

    def litellm_messages(self) -> list[dict[str, Any]]:
        conversation = self._conversation()
        last = len(conversation) - 1
        return [
            converted
            for index, message in enumerate(conversation)
            for converted in (
                message.to_litellm(deciding=index == last)
                if isinstance(message, UIMessage)
                else [message.model_dump(exclude_none=True)]
            )
        ]

    def last_ui_message(self) -> dict[str, Any] | None:
        """The conversation's last message, if it is a UI message: {id, role, parts}."""
        conversation = self._conversation()
        last = conversation[-1] if conversation else None
        if not isinstance(last, UIMessage):
            return None
        return {"id": last.id, "role": last.role, "parts": list(last.parts)}

    def _conversation(self) -> list[ChatMessage | UIMessage]:
        if self.messages is not None:
            return list(self.messages)
        return [self.message] if self.message is not None else []

    def sampling_params(self) -> dict[str, Any]:
        return self.model_dump(
            include={"temperature", "top_p", "max_tokens", "stop", "seed"}, exclude_none=True
        )
