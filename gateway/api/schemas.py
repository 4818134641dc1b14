"""Request bodies of /api/chat, validated before anything reaches a provider."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Discriminator, Field, Tag

from gateway.api.ui_messages import ui_message_to_litellm


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def to_litellm(self) -> list[dict[str, Any]]:
        return [self.model_dump(exclude_none=True)]


class UIPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1)


class UIMessage(BaseModel):
    """An AI SDK 5+ UI message, as its useChat sends it."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    role: Literal["system", "user", "assistant"]
    parts: list[UIPart]

    def to_litellm(self) -> list[dict[str, Any]]:
        return ui_message_to_litellm(self.role, [part.model_dump() for part in self.parts])


def _message_shape(value: Any) -> str:
    return "ui" if isinstance(value, dict) and "parts" in value else "chat"


# Either shape is accepted in one request; the tags never show in error locations.
AnyMessage = Annotated[
    Annotated[ChatMessage, Tag("chat")] | Annotated[UIMessage, Tag("ui")],
    Discriminator(_message_shape),
]
MESSAGE_SHAPE_TAGS = ("chat", "ui")


class ChatRequest(BaseModel):
    # Clients such as the AI SDK add fields of their own (id, trigger, messageId): ignore them.
    model_config = ConfigDict(extra="ignore")

    # The ai-chatbot template sends the model as `selectedChatModel`.
    model: str = Field(
        min_length=1,
        max_length=200,
        validation_alias=AliasChoices("model", "selectedChatModel"),
    )
    messages: list[AnyMessage] = Field(min_length=1)
    stream: bool = True
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = Field(default=None)
    seed: int | None = None
    # Names of server-side tools to offer; narrows what the YAML enables for the model.
    tools: list[str] | None = Field(default=None, max_length=64)

    def litellm_messages(self) -> list[dict[str, Any]]:
        return [converted for message in self.messages for converted in message.to_litellm()]

    def sampling_params(self) -> dict[str, Any]:
        return self.model_dump(
            include={"temperature", "top_p", "max_tokens", "stop", "seed"}, exclude_none=True
        )
