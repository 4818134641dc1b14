"""Request bodies of /api/chat, validated before anything reaches a provider."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def to_litellm(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ChatRequest(BaseModel):
    # Clients such as the AI SDK add fields of their own (id, trigger, messageId): ignore them.
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = True
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = Field(default=None)
    seed: int | None = None
    # Names of server-side tools to offer; narrows what the YAML enables for the model.
    tools: list[str] | None = Field(default=None, max_length=64)

    def sampling_params(self) -> dict[str, Any]:
        return self.model_dump(
            include={"temperature", "top_p", "max_tokens", "stop", "seed"}, exclude_none=True
        )
